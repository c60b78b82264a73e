//! Problems on the record kernel: the `records` row plus the `problems` row
//! with the analysis. Linked incidents are kernel links (incident
//! `caused_by` problem); a workaround applied to an incident is a
//! `workaround_from` link and a journal line.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::incident;
use varde_domain::problem::{self, OnResolve, Problem, RcaMethod, State};
use varde_domain::record::{LinkKind, RecordKind};
use varde_domain::DomainError;

use crate::audit::{self, Entity};
use crate::idempotency::{self, IdempotencyKey};
use crate::incidents::{ensure_member, next_number, Cursor};
use crate::records;
use crate::sql::{exists, Arg, Sql};
use crate::{now_micros, Engine, Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewProblem {
    pub short_description: String,
    pub description: String,
    pub created_by: i64,
    pub priority: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct ProblemFilter {
    pub states: Vec<State>,
    pub open: Option<bool>,
    /// Only published known errors (`true`) or only other problems
    /// (`false`); with `states`, both must hold.
    pub known_error: Option<bool>,
    pub priorities: Vec<i64>,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<Option<i64>>,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub text: Option<String>,
}

/// An incident linked to a problem, with what it cost: how long it was (or
/// has been) open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct LinkedIncident {
    pub id: i64,
    pub number: String,
    pub short_description: String,
    pub state: String,
    pub is_open: i64,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub link_id: i64,
}

impl LinkedIncident {
    /// Microseconds the incident was open, up to `now` for open ones.
    pub fn time_spent(&self, now: i64) -> i64 {
        (self.resolved_at.unwrap_or(now) - self.created_at).max(0)
    }
}

#[derive(FromRow)]
struct ProblemRow {
    id: i64,
    number: String,
    version: i64,
    state: String,
    short_description: String,
    description: String,
    created_by: i64,
    assignment_group_id: Option<i64>,
    assignee_id: Option<i64>,
    priority: i64,
    created_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    service_id: Option<i64>,
    category_id: Option<i64>,
    root_cause: Option<String>,
    rca_method: Option<String>,
    contributing_factors: Option<String>,
    workaround: Option<String>,
    permanent_fix: Option<String>,
}

const COLUMNS: &str = "r.id, r.number, r.version, r.state, r.short_description, r.description, r.created_by, \
    r.assignment_group_id, r.assignee_id, r.priority, r.created_at, r.updated_at, r.resolved_at, r.closed_at, \
    p.service_id, p.category_id, p.root_cause, p.rca_method, p.contributing_factors, p.workaround, p.permanent_fix";
const FROM: &str = "records r JOIN problems p ON p.record_id = r.id";

impl TryFrom<ProblemRow> for Problem {
    type Error = StoreError;
    fn try_from(r: ProblemRow) -> Result<Problem, StoreError> {
        let bad = |what: &str| StoreError::corrupt(format!("{what} of problem {}", r.id));
        Ok(Problem {
            state: State::parse("", &r.state).map_err(|_| bad("state"))?,
            rca_method: r
                .rca_method
                .as_deref()
                .map(|m| RcaMethod::parse("", m))
                .transpose()
                .map_err(|_| bad("rca_method"))?,
            id: r.id,
            number: r.number,
            version: r.version,
            short_description: r.short_description,
            description: r.description,
            created_by: r.created_by,
            assignment_group_id: r.assignment_group_id,
            assignee_id: r.assignee_id,
            priority: r.priority,
            service_id: r.service_id,
            category_id: r.category_id,
            root_cause: r.root_cause,
            contributing_factors: r.contributing_factors,
            workaround: r.workaround,
            permanent_fix: r.permanent_fix,
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
        })
    }
}

pub(crate) async fn problem_in(conn: &mut AnyConnection, id: i64) -> Result<Problem, StoreError> {
    sqlx::query_as::<_, ProblemRow>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1 AND r.kind = 'problem'"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// Inserts a problem inside the caller's transaction and returns its id.
pub(crate) async fn insert_problem(
    conn: &mut AnyConnection,
    engine: crate::Engine,
    new: &NewProblem,
) -> Result<i64, StoreError> {
    check_references(conn, new.assignment_group_id, new.assignee_id, new.service_id, new.category_id).await?;
    let number = next_number(conn, engine, RecordKind::Problem).await?;
    let now = now_micros();
    let id: i64 = sqlx::query_scalar(
            "INSERT INTO records (kind, number, version, state, is_open, short_description, description, requester_id, created_by,
                assignment_group_id, assignee_id, priority, created_at, updated_at)
             VALUES ('problem', $1, 1, 'new', 1, $2, $3, $4, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(&number)
        .bind(&new.short_description)
        .bind(&new.description)
        .bind(new.created_by)
        .bind(new.assignment_group_id)
        .bind(new.assignee_id)
        .bind(new.priority)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO problems (record_id, service_id, category_id) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(new.service_id)
        .bind(new.category_id)
        .execute(&mut *conn)
        .await?;
    audit::created(conn, Entity::Record, id, Some(new.created_by), now).await?;
    crate::knowledge::reindex(conn, engine, id, "problem").await?;
    Ok(id)
}

/// Refuses, inside the caller's transaction, a change to the incidents
/// linked to record `id` if it is a closed problem, with `why` as the
/// message. A closed problem's incidents are part of its record: none join, none
/// leave, whichever endpoint is asked (`id` may be any record; only a
/// closed problem refuses).
pub(crate) async fn refuse_if_closed_in(conn: &mut AnyConnection, id: i64, why: &str) -> Result<(), StoreError> {
    let closed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE id = $1 AND kind = 'problem' AND state = 'closed'")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if closed > 0 {
        return Err(DomainError::field("incident", why).into());
    }
    Ok(())
}

/// Links an incident to the problem that causes it, inside the caller's transaction.
pub(crate) async fn link_incident_in(
    conn: &mut AnyConnection,
    problem_id: i64,
    incident_id: i64,
    actor: i64,
) -> Result<crate::incidents::Link, StoreError> {
    let p = problem_in(conn, problem_id).await?;
    refuse_if_closed_in(conn, problem_id, "a closed problem takes no new incidents").await?;
    if kind_of(conn, incident_id).await?.as_deref() != Some("incident") {
        return Err(StoreError::UnknownReference { field: "incident" });
    }
    let now = now_micros();
    let id = crate::incidents::insert_link(conn, incident_id, problem_id, LinkKind::CausedBy, actor, now, "incident")
        .await?;
    desk_note(conn, incident_id, actor, now, &format!("Linked to problem {}: {}", p.number, p.short_description))
        .await?;
    Ok(crate::incidents::Link {
        id,
        from_id: incident_id,
        to_id: problem_id,
        kind: LinkKind::CausedBy.as_str().into(),
        created_by: actor,
        created_at: now,
    })
}

async fn check_references(
    conn: &mut AnyConnection,
    group: Option<i64>,
    assignee: Option<i64>,
    service: Option<i64>,
    category: Option<i64>,
) -> Result<(), StoreError> {
    for (table, field, v) in [
        ("assignment_groups", "assignment_group_id", group),
        ("services", "service_id", service),
        ("categories", "category_id", category),
    ] {
        if let Some(id) = v {
            if !exists(conn, table, id).await? {
                return Err(StoreError::UnknownReference { field });
            }
        }
    }
    if let Some(a) = assignee {
        let user = crate::directory::user_in(conn, a)
            .await
            .map_err(|_| StoreError::UnknownReference { field: "assignee_id" })?;
        if user.role == varde_domain::access::Role::Requester || !user.active {
            return Err(DomainError::field("assignee_id", "must be an active agent").into());
        }
        let g = group.ok_or_else(|| DomainError::field("assignee_id", "needs an assignment group"))?;
        ensure_member(conn, g, a).await?;
    }
    Ok(())
}

/// Is this record an incident? (Links to a problem must come from incidents.)
async fn kind_of(conn: &mut AnyConnection, id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT kind FROM records WHERE id = $1").bind(id).fetch_optional(conn).await?)
}

impl Store {
    pub async fn create_problem(
        &self,
        new: NewProblem,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Problem, bool), StoreError> {
        self.create_problem_with_incidents(new, Vec::new(), idem).await
    }

    /// Creates a problem with `incidents` linked to it (see
    /// [`Store::link_incident_to_problem`]), in one transaction: if one of
    /// them cannot be linked, there is no problem either, so a client told
    /// it failed does not find it made (nor replayed under its key).
    pub async fn create_problem_with_incidents(
        &self,
        new: NewProblem,
        incidents: Vec<i64>,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Problem, bool), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        return Ok((problem_in(conn, id).await?, true));
                    }
                }
                let id = insert_problem(conn, engine, &new).await?;
                for incident in incidents {
                    link_incident_in(conn, id, incident, new.created_by).await?;
                }
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                Ok((problem_in(conn, id).await?, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn problem(&self, id: i64) -> Result<Problem, StoreError> {
        let mut conn = self.pool().acquire().await?;
        problem_in(&mut conn, id).await
    }

    pub async fn problem_by_number(&self, number: &str) -> Result<Problem, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM records WHERE number = $1 AND kind = 'problem'")
            .bind(number.to_uppercase())
            .fetch_optional(self.pool())
            .await?;
        self.problem(id.ok_or(StoreError::NotFound)?).await
    }

    /// Applies `patch`; a stale `expected_version` is refused with
    /// [`StoreError::Conflict`] and nothing is written. A resolve notifies
    /// the open linked incidents (see [`Store::update_problem_with`]).
    pub async fn update_problem(
        &self,
        id: i64,
        expected_version: Option<i64>,
        patch: problem::Patch,
        actor: i64,
    ) -> Result<Problem, StoreError> {
        self.update_problem_with(id, expected_version, patch, OnResolve::default(), actor).await
    }

    /// Applies `patch`; when it resolves the problem, `on_resolve` says what
    /// happens to the open linked incidents, in the same transaction: the
    /// problem is resolved with all of them told (or resolved), or, if one
    /// of them cannot be, nothing is written and the error says why.
    pub async fn update_problem_with(
        &self,
        id: i64,
        expected_version: Option<i64>,
        patch: problem::Patch,
        on_resolve: OnResolve,
        actor: i64,
    ) -> Result<Problem, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let old = problem_in(conn, id).await?;
                if expected_version.is_some_and(|v| v != old.version) {
                    return Err(StoreError::Conflict { current: old.version });
                }
                let now = now_micros();
                let new = problem::apply_patch(&old, patch, now)?;
                let cs = problem::diff(&old, &new);
                if cs.is_empty() {
                    return Ok(old);
                }
                if cs.touches("assignment_group_id")
                    || cs.touches("assignee_id")
                    || cs.touches("service_id")
                    || cs.touches("category_id")
                {
                    check_references(conn, new.assignment_group_id, new.assignee_id, new.service_id, new.category_id)
                        .await?;
                }
                let kernel = records::Kernel {
                    state: new.state.as_str(),
                    is_open: new.state.is_open(),
                    short_description: &new.short_description,
                    description: &new.description,
                    assignment_group_id: new.assignment_group_id,
                    assignee_id: new.assignee_id,
                    priority: new.priority,
                    resolved_at: new.resolved_at,
                    closed_at: new.closed_at,
                };
                records::update_in(conn, id, old.version, &kernel, now).await?;
                sqlx::query(
                    "UPDATE problems SET service_id = $1, category_id = $2, root_cause = $3, rca_method = $4,
                        contributing_factors = $5, workaround = $6, permanent_fix = $7 WHERE record_id = $8",
                )
                .bind(new.service_id)
                .bind(new.category_id)
                .bind(new.root_cause.as_deref())
                .bind(new.rca_method.map(|m| m.as_str()))
                .bind(new.contributing_factors.as_deref())
                .bind(new.workaround.as_deref())
                .bind(new.permanent_fix.as_deref())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                audit::changes(conn, Entity::Record, id, Some(actor), now, &cs).await?;
                crate::knowledge::reindex(conn, engine, id, "problem").await?;
                if new.state == State::Resolved && old.state != State::Resolved {
                    follow_up_in(conn, engine, &new, on_resolve, actor, now).await?;
                }
                problem_in(conn, id).await
            }
            .boxed()
        })
        .await
    }

    /// A page of problems, newest first, after `cursor`.
    pub async fn list_problems(
        &self,
        filter: &ProblemFilter,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Problem>, StoreError> {
        // Problems are the desk's: never a requester's search.
        let scan = crate::knowledge::Scan::new(self.engine(), filter.text.is_some(), false);
        let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM {} WHERE r.kind = 'problem'", scan.from(FROM)));
        if !filter.states.is_empty() {
            q.push(" AND r.state IN ").bind_list(filter.states.iter().map(|s| Arg::Text(s.as_str().into())));
        }
        if let Some(o) = filter.open {
            q.push(" AND r.is_open = ").bind(Arg::Int(o as i64));
        }
        if let Some(k) = filter.known_error {
            q.push(if k { " AND r.state = " } else { " AND r.state <> " })
                .bind(Arg::Text(State::KnownError.as_str().into()));
        }
        if !filter.priorities.is_empty() {
            q.push(" AND r.priority IN ").bind_list(filter.priorities.iter().map(|p| Arg::Int(*p)));
        }
        if let Some(g) = filter.assignment_group_id {
            q.push(" AND r.assignment_group_id = ").bind(Arg::Int(g));
        }
        match filter.assignee_id {
            Some(Some(a)) => {
                q.push(" AND r.assignee_id = ").bind(Arg::Int(a));
            }
            Some(None) => {
                q.push(" AND r.assignee_id IS NULL");
            }
            None => {}
        }
        if let Some(s) = filter.service_id {
            q.push(" AND p.service_id = ").bind(Arg::Int(s));
        }
        if let Some(c) = filter.category_id {
            q.push(" AND p.category_id = ").bind(Arg::Int(c));
        }
        if let Some(text) = &filter.text {
            let terms = varde_domain::search::query(text);
            if terms.is_empty() {
                return Ok(Vec::new());
            }
            scan.push_text_match(&mut q, &terms, false);
        }
        if let Some(c) = cursor {
            scan.push_before(&mut q, c.id);
        }
        q.push(scan.order()).push(" LIMIT ").bind(Arg::Int(limit));
        let rows: Vec<ProblemRow> = q.query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Problem::try_from).collect()
    }

    /// Links an incident to a problem (incident `caused_by` problem) and
    /// notes it in the incident's journal.
    pub async fn link_incident_to_problem(
        &self,
        problem_id: i64,
        incident_id: i64,
        actor: i64,
    ) -> Result<crate::incidents::Link, StoreError> {
        self.write(move |conn| async move { link_incident_in(conn, problem_id, incident_id, actor).await }.boxed())
            .await
    }

    pub async fn unlink_incident_from_problem(
        &self,
        problem_id: i64,
        incident_id: i64,
        actor: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                refuse_if_closed_in(conn, problem_id, "a closed problem keeps its incidents").await?;
                let n =
                    sqlx::query("DELETE FROM record_links WHERE from_id = $1 AND to_id = $2 AND kind = 'caused_by'")
                        .bind(incident_id)
                        .bind(problem_id)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                crate::sql::found(n)?;
                audit::write(
                    conn,
                    Entity::Record,
                    incident_id,
                    Some(actor),
                    now_micros(),
                    "link",
                    Some(&format!("caused_by {problem_id}")),
                    None,
                )
                .await
            }
            .boxed()
        })
        .await
    }

    /// The incidents linked to a problem, newest first.
    pub async fn problem_incidents(&self, problem_id: i64) -> Result<Vec<LinkedIncident>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.number, r.short_description, r.state, r.is_open, r.created_at, r.resolved_at, l.id AS link_id
             FROM record_links l JOIN records r ON r.id = l.from_id
             WHERE l.to_id = $1 AND l.kind = 'caused_by' AND r.kind = 'incident' ORDER BY r.id DESC",
        )
        .bind(problem_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records that an incident was worked around with a known error's
    /// workaround: a `workaround_from` link and a journal line the requester
    /// sees with the workaround. Applying the same one twice is refused.
    pub async fn apply_workaround(&self, incident_id: i64, problem_id: i64, actor: i64) -> Result<Problem, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let p = problem_in(conn, problem_id).await?;
                if !p.is_known_error() {
                    return Err(DomainError::field("problem", "is not a published known error").into());
                }
                if kind_of(conn, incident_id).await?.as_deref() != Some("incident") {
                    return Err(StoreError::NotFound);
                }
                let now = now_micros();
                crate::incidents::insert_link(
                    conn,
                    incident_id,
                    problem_id,
                    LinkKind::WorkaroundFrom,
                    actor,
                    now,
                    "problem",
                )
                .await?;
                audit::write(conn, Entity::Record, incident_id, Some(actor), now, "workaround", None, Some(&p.number))
                    .await?;
                let body = format!(
                    "Workaround from known error {} ({}):\n{}",
                    p.number,
                    p.short_description,
                    p.workaround.as_deref().unwrap_or("")
                );
                crate::incidents::reply_in(conn, engine, incident_id, actor, &body, now).await?;
                Ok(p)
            }
            .boxed()
        })
        .await
    }

    /// Published known errors, for matching against an incident (few: the
    /// caller ranks them).
    pub async fn known_errors(&self) -> Result<Vec<Problem>, StoreError> {
        let rows: Vec<ProblemRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE r.kind = 'problem' AND r.state = 'known_error' ORDER BY r.id DESC LIMIT 1000"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Problem::try_from).collect()
    }
}

/// Tells each open incident linked to a just-resolved problem, or resolves
/// it with the permanent fix, in the problem's own transaction.
///
/// Why one transaction and not a job that runs after the save: the change
/// is small (a problem's open incidents, each a row or two and its SLA
/// clocks), the desk expects to see the incidents resolved when the
/// problem's page comes back, and all-or-nothing needs no record of which
/// incidents a half-done run reached (a re-run must not tell an incident
/// twice). The durable jobs are for what happens later (closing, timers).
async fn follow_up_in(
    conn: &mut AnyConnection,
    engine: Engine,
    p: &Problem,
    on_resolve: OnResolve,
    actor: i64,
    now: i64,
) -> Result<(), StoreError> {
    let line = problem::resolved_line(&p.number, p.permanent_fix.as_deref().unwrap_or(""));
    for (incident, number) in open_incidents_in(conn, engine, p.id).await? {
        match on_resolve {
            OnResolve::Notify => {
                sqlx::query("UPDATE records SET updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(incident)
                    .execute(&mut *conn)
                    .await?;
                desk_note(conn, incident, actor, now, &line).await?;
            }
            OnResolve::Resolve => {
                let patch = incident::Patch {
                    state: Some(incident::State::Resolved.as_str().into()),
                    resolution_code: Some("fixed".into()),
                    resolution_notes: Some(line.clone()),
                    ..incident::Patch::default()
                };
                crate::incidents::update_incident_in(conn, engine, incident, None, patch, actor)
                    .await
                    .map_err(|e| linked_error(&number, e))?;
            }
        }
    }
    Ok(())
}

/// The open incidents caused by a problem, (id, number), in id order. On
/// PostgreSQL they are locked, so that no desk write can slip in between
/// reading one and resolving it (SQLite's single writer has that already).
async fn open_incidents_in(
    conn: &mut AnyConnection,
    engine: Engine,
    problem_id: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    // The lock a record write's `UPDATE` takes (`records` module): it keeps
    // desk writes out, not rows that merely refer to these records.
    let lock = if engine == Engine::Postgres { " FOR NO KEY UPDATE OF r" } else { "" };
    Ok(sqlx::query_as(&format!(
        "SELECT r.id, r.number FROM record_links l JOIN records r ON r.id = l.from_id
         WHERE l.to_id = $1 AND l.kind = 'caused_by' AND r.kind = 'incident' AND r.is_open = 1 ORDER BY r.id{lock}"
    ))
    .bind(problem_id)
    .fetch_all(conn)
    .await?)
}

/// An incident's refusal, said as the problem's: the caller edited the
/// problem, so a conflict or a bad field of an incident must not read as
/// the problem's own (a stale problem version, a field it does not have).
fn linked_error(number: &str, e: StoreError) -> StoreError {
    let why = match e {
        StoreError::Conflict { .. } => "was changed meanwhile; resolve the problem again".to_string(),
        StoreError::Domain(varde_domain::DomainError::Invalid(errs)) => {
            errs.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
        }
        StoreError::Domain(t @ varde_domain::DomainError::Transition { .. }) => t.to_string(),
        other => return other,
    };
    DomainError::field("linked_incidents", format!("{number} cannot be resolved: {why}")).into()
}

/// A note for the desk in a record's journal, written as a work note:
/// what it names (a problem, its fix, a draft article) is the desk's, and
/// requesters see no work notes (ADR 0008). System lines are for everyone.
pub(crate) async fn desk_note(
    conn: &mut AnyConnection,
    record_id: i64,
    actor: i64,
    at: i64,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO journal (record_id, author_id, kind, body, created_at) VALUES ($1, $2, 'work_note', $3, $4)",
    )
    .bind(record_id)
    .bind(actor)
    .bind(body)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: StoreError) -> Vec<(String, String)> {
        match e {
            StoreError::Domain(DomainError::Invalid(errs)) => errs.into_iter().map(|f| (f.field, f.message)).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    /// An incident's refusal reaches the problem's editor as a field of
    /// the problem naming the incident, never as the problem's own stale
    /// version or fields; anything else (the database) passes unchanged.
    #[test]
    fn an_incidents_refusal_is_said_as_the_problems_linked_incidents() {
        let conflict = fields(linked_error("INC0000007", StoreError::Conflict { current: 3 }));
        assert_eq!(conflict.len(), 1);
        assert_eq!(conflict[0].0, "linked_incidents");
        assert!(conflict[0].1.starts_with("INC0000007 cannot be resolved: was changed"), "{conflict:?}");
        let bad = DomainError::field("resolution_notes", "is too long").into();
        let bad = fields(linked_error("INC0000008", bad));
        assert_eq!(bad[0].0, "linked_incidents");
        assert!(bad[0].1.contains("INC0000008") && bad[0].1.contains("resolution_notes: is too long"), "{bad:?}");
        let step = StoreError::Domain(DomainError::Transition { from: "closed", to: "resolved" });
        assert_eq!(fields(linked_error("INC0000009", step))[0].0, "linked_incidents");
        assert!(matches!(linked_error("INC0000010", StoreError::Database("gone".into())), StoreError::Database(_)));
    }

    /// While a problem's resolution holds its incidents' records, a row that
    /// only refers to one of them goes in at once. The case that matters is
    /// a clock another job inserts (ADR 0013); a watcher is the simplest row
    /// with the same foreign key. `FOR UPDATE` would hold that key check
    /// until the resolution commits.
    #[tokio::test]
    async fn a_resolution_on_postgresql_does_not_hold_rows_that_refer_to_its_incidents() {
        let Some(db) = crate::testing::postgres().await else { return };
        let s = &db.store;
        let who = crate::testing::agent(s).await;
        let (incident, _) = s.create_incident(crate::testing::incident(who), None).await.unwrap();
        let new = NewProblem {
            short_description: "Printers drop jobs".into(),
            description: String::new(),
            created_by: who,
            priority: 3,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            category_id: None,
        };
        let (problem, _) = s.create_problem(new, None).await.unwrap();
        s.link_incident_to_problem(problem.id, incident.id, who).await.unwrap();

        let mut resolving = s.pool().begin().await.unwrap();
        let held = open_incidents_in(&mut resolving, Engine::Postgres, problem.id).await.unwrap();
        assert_eq!(held.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![incident.id]);
        let mut other = s.pool().acquire().await.unwrap();
        sqlx::query("SET statement_timeout = '5s'").execute(&mut *other).await.unwrap();
        let watched = sqlx::query("INSERT INTO watchers (record_id, user_id) VALUES ($1, $2)")
            .bind(incident.id)
            .bind(who)
            .execute(&mut *other)
            .await;
        sqlx::query("RESET statement_timeout").execute(&mut *other).await.unwrap();
        resolving.rollback().await.unwrap();
        assert!(watched.is_ok(), "the insert waited for the resolution: {watched:?}");
    }
}
