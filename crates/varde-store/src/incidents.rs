//! Incidents on the record kernel: the `records` row every record type has,
//! plus the `incidents` row with what only incidents have. Journal,
//! attachments, links, watchers and search belong to the kernel and work for
//! any record.

use std::collections::HashSet;

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::incident::{self, Channel, HoldReason, Incident, Lifecycle, ResolutionCode, State};
use varde_domain::priority::Level;
use varde_domain::record::{ChangeSet, JournalKind, LinkKind, RecordKind};
use varde_domain::{search, DomainError};

use crate::audit::{self, Entity};
use crate::catalog::matrix_in;
use crate::idempotency::{self, IdempotencyKey};
use crate::jobs;
use crate::records;
use crate::sql::{exists, found, insert_pair, Arg, Sql};
use crate::{now_micros, Engine, Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub short_description: String,
    pub description: String,
    pub requester_id: i64,
    pub created_by: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub impact: Level,
    pub urgency: Level,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub channel: Channel,
    pub major: bool,
}

/// Who is looking: an agent sees every record, a requester only their own
/// and those shared with them (as a watcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Requester(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    Oldest,
    /// Most urgent first (P1 first), then oldest.
    Priority,
    /// Most recently updated first.
    Updated,
    /// What breaches next first: by the earliest due instant of the
    /// record's running SLA clocks; records with none running last.
    SlaDue,
}

impl Sort {
    pub fn parse(s: &str) -> Result<Sort, DomainError> {
        match s {
            "newest" | "-created" => Ok(Sort::Newest),
            "oldest" | "created" => Ok(Sort::Oldest),
            "priority" => Ok(Sort::Priority),
            "updated" | "-updated" => Ok(Sort::Updated),
            "sla_due" => Ok(Sort::SlaDue),
            _ => Err(DomainError::field("sort", "must be newest, oldest, priority, updated or sla_due")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::Priority => "priority",
            Sort::Updated => "updated",
            Sort::SlaDue => "sla_due",
        }
    }
}

/// A filter over incidents; every set field must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub states: Vec<State>,
    pub open: Option<bool>,
    pub priorities: Vec<i64>,
    /// `Some(None)` means no group.
    pub assignment_group_id: Option<Option<i64>>,
    /// Any of these groups (the "my groups" queue).
    pub assignment_groups_any: Vec<i64>,
    /// `Some(None)` means unassigned.
    pub assignee_id: Option<Option<i64>>,
    pub requester_id: Option<i64>,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub major: Option<bool>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    pub text: Option<String>,
}

/// Where a page starts: the sort key and id of the last row seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cursor {
    pub key: i64,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct JournalEntry {
    pub id: i64,
    pub record_id: i64,
    pub author_id: i64,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct AttachmentMeta {
    pub id: i64,
    pub record_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Link {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    pub kind: String,
    pub created_by: i64,
    pub created_at: i64,
}

#[derive(FromRow)]
struct IncidentRow {
    id: i64,
    number: String,
    version: i64,
    state: String,
    short_description: String,
    description: String,
    requester_id: i64,
    created_by: i64,
    assignment_group_id: Option<i64>,
    assignee_id: Option<i64>,
    priority: i64,
    created_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    impact: i64,
    urgency: i64,
    category_id: Option<i64>,
    service_id: Option<i64>,
    hold_reason: Option<String>,
    resolution_code: Option<String>,
    resolution_notes: Option<String>,
    reopen_count: i64,
    reassignment_count: i64,
    first_contact: i64,
    major: i64,
    channel: String,
}

const COLUMNS: &str = "r.id, r.number, r.version, r.state, r.short_description, r.description, r.requester_id, \
    r.created_by, r.assignment_group_id, r.assignee_id, r.priority, r.created_at, r.updated_at, r.resolved_at, \
    r.closed_at, i.impact, i.urgency, i.category_id, i.service_id, i.hold_reason, i.resolution_code, \
    i.resolution_notes, i.reopen_count, i.reassignment_count, i.first_contact, i.major, i.channel";
const FROM: &str = "records r JOIN incidents i ON i.record_id = r.id";

/// The "breaches next" sort key: no running clock sorts last on both engines.
pub const SLA_DUE_KEY: &str = "COALESCE(i.sla_due, 9223372036854775807)";

impl TryFrom<IncidentRow> for Incident {
    type Error = StoreError;
    fn try_from(r: IncidentRow) -> Result<Incident, StoreError> {
        let bad = |what: &str| StoreError::corrupt(format!("{what} of incident {}", r.id));
        Ok(Incident {
            lifecycle: Lifecycle {
                state: State::parse("state", &r.state).map_err(|_| bad("state"))?,
                hold_reason: r
                    .hold_reason
                    .as_deref()
                    .map(|h| HoldReason::parse("", h))
                    .transpose()
                    .map_err(|_| bad("hold_reason"))?,
                resolution_code: r
                    .resolution_code
                    .as_deref()
                    .map(|c| ResolutionCode::parse("", c))
                    .transpose()
                    .map_err(|_| bad("resolution_code"))?,
                resolution_notes: r.resolution_notes,
                reopen_count: r.reopen_count,
                first_contact: r.first_contact != 0,
            },
            impact: Level::new("", r.impact).map_err(|_| bad("impact"))?,
            urgency: Level::new("", r.urgency).map_err(|_| bad("urgency"))?,
            priority: varde_domain::priority::Priority::new("", r.priority).map_err(|_| bad("priority"))?,
            channel: Channel::parse("", &r.channel).map_err(|_| bad("channel"))?,
            id: r.id,
            number: r.number,
            version: r.version,
            short_description: r.short_description,
            description: r.description,
            requester_id: r.requester_id,
            created_by: r.created_by,
            assignment_group_id: r.assignment_group_id,
            assignee_id: r.assignee_id,
            category_id: r.category_id,
            service_id: r.service_id,
            reassignment_count: r.reassignment_count,
            major: r.major != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
        })
    }
}

pub(crate) async fn next_number(
    conn: &mut AnyConnection,
    engine: Engine,
    kind: RecordKind,
) -> Result<String, StoreError> {
    let n: i64 = match engine {
        Engine::Sqlite => {
            sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
                .bind(kind.as_str())
                .fetch_one(conn)
                .await?
        }
        Engine::Postgres => {
            sqlx::query_scalar(&format!("SELECT nextval('{}_number_seq')", kind.as_str())).fetch_one(conn).await?
        }
    };
    Ok(kind.number(n))
}

/// Checks that every reference names something that exists, and that an
/// assignee is a member of the assignment group.
async fn check_references(
    conn: &mut AnyConnection,
    group: Option<i64>,
    assignee: Option<i64>,
    category: Option<i64>,
    service: Option<i64>,
) -> Result<(), StoreError> {
    if let Some(g) = group {
        if !exists(conn, "assignment_groups", g).await? {
            return Err(StoreError::UnknownReference { field: "assignment_group_id" });
        }
    }
    if let Some(c) = category {
        if !exists(conn, "categories", c).await? {
            return Err(StoreError::UnknownReference { field: "category_id" });
        }
    }
    if let Some(s) = service {
        if !exists(conn, "services", s).await? {
            return Err(StoreError::UnknownReference { field: "service_id" });
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

/// An assignee must belong to the assignment group.
pub(crate) async fn ensure_member(conn: &mut AnyConnection, group: i64, assignee: i64) -> Result<(), StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group)
        .bind(assignee)
        .fetch_one(&mut *conn)
        .await?;
    if n == 0 {
        return Err(DomainError::field("assignee_id", "is not a member of the assignment group").into());
    }
    Ok(())
}

/// Rebuilds a record's search entry from its text and journal. Two
/// documents are kept: everything (for agents) and what the requester may
/// read, without work notes (for requesters), so that a search cannot tell
/// a requester what a work note says.
pub(crate) async fn reindex(conn: &mut AnyConnection, engine: Engine, id: i64) -> Result<(), StoreError> {
    let (kind, number, short, desc, requester): (String, String, String, String, i64) =
        sqlx::query_as("SELECT kind, number, short_description, description, requester_id FROM records WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    // Problems and articles index more than their text (see `knowledge`).
    if kind != RecordKind::Incident.as_str() {
        return crate::knowledge::reindex(conn, engine, id, &kind).await;
    }
    let mut readers: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM watchers WHERE record_id = $1").bind(id).fetch_all(&mut *conn).await?;
    readers.push(requester);
    // A requester may watch their own record too: one token each.
    readers.sort_unstable();
    readers.dedup();
    let entries: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, body FROM journal WHERE record_id = $1 AND kind <> 'system' ORDER BY id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let mut public: Vec<&str> = vec![&number, &short, &desc];
    let mut notes: Vec<&str> = Vec::new();
    for (kind, body) in &entries {
        if kind == JournalKind::WorkNote.as_str() {
            notes.push(body);
        } else {
            public.push(body);
        }
    }
    let doc = search::document(&public);
    index_document(conn, engine, id, &doc, &search::document(&notes), &readers, true).await
}

/// The reader tokens of a record's requester document (see
/// [`search::reader_token`]), space-separated: its requester's and its
/// watchers'.
pub(crate) fn reader_words(readers: &[i64]) -> String {
    readers.iter().map(|r| search::reader_token(*r)).collect::<Vec<_>>().join(" ")
}

/// Stores a record's search entry from the requester's document (`public`),
/// the words of work notes (`notes`) and the users who may read the
/// requester's document (`readers`: requester and watchers); `replace`
/// when one may exist already. SQLite keeps the whole document under the
/// record id and the requester's, with the reader tokens, under the negated
/// id; PostgreSQL keeps one tsvector in which the requester's words carry
/// weight A, work-note words weight D, and the reader tokens no position.
pub(crate) async fn index_document(
    conn: &mut AnyConnection,
    engine: Engine,
    id: i64,
    public: &str,
    notes: &str,
    readers: &[i64],
    replace: bool,
) -> Result<(), StoreError> {
    let readers = reader_words(readers);
    match engine {
        Engine::Sqlite => {
            if replace {
                sqlx::query("DELETE FROM record_search WHERE rowid = $1 OR rowid = $2")
                    .bind(id)
                    .bind(-id)
                    .execute(&mut *conn)
                    .await?;
            }
            let full = if notes.is_empty() { public.to_string() } else { format!("{public} {notes}") };
            // One statement for both rows: on SQLite every statement is a
            // round trip to the writer connection's thread.
            sqlx::query("INSERT INTO record_search (rowid, document) VALUES ($1, $2), ($3, $4)")
                .bind(id)
                .bind(full.as_str())
                .bind(-id)
                .bind(format!("{public} {readers}"))
                .execute(&mut *conn)
                .await?;
        }
        Engine::Postgres => {
            sqlx::query(
                "UPDATE records SET search = setweight(to_tsvector('simple', $1), 'A')
                    || array_to_tsvector(string_to_array($2, ' ')) || setweight(to_tsvector('simple', $3), 'D')
                 WHERE id = $4",
            )
            .bind(public)
            .bind(readers)
            .bind(notes)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// [`Store::update_incident`] in the caller's transaction: a change that
/// must commit with another (a problem's resolve) makes it here.
pub(crate) async fn update_incident_in(
    conn: &mut AnyConnection,
    engine: Engine,
    id: i64,
    expected_version: Option<i64>,
    patch: incident::Patch,
    actor: i64,
) -> Result<Incident, StoreError> {
    let old = incident_in(conn, id).await?;
    if let Some(v) = expected_version {
        if v != old.version {
            return Err(StoreError::Conflict { current: old.version });
        }
    }
    let matrix = matrix_in(conn).await?;
    let now = now_micros();
    let mut new = incident::apply_patch(&old, patch, &matrix, now)?;
    // An incident that went to problem management was not resolved at
    // first contact, whoever resolves it (a problem's resolve does).
    if new.lifecycle.first_contact && !old.lifecycle.first_contact {
        let problems: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM record_links l JOIN records p ON p.id = l.to_id AND p.kind = 'problem'
             WHERE l.from_id = $1 AND l.kind = 'caused_by'",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        new.lifecycle.first_contact = problems == 0;
    }
    let cs = diff(&old, &new);
    if cs.is_empty() {
        return Ok(old);
    }
    if cs.touches("assignment_group_id")
        || cs.touches("assignee_id")
        || cs.touches("category_id")
        || cs.touches("service_id")
    {
        check_references(conn, new.assignment_group_id, new.assignee_id, new.category_id, new.service_id).await?;
    }
    let kernel = records::Kernel {
        state: new.lifecycle.state.as_str(),
        is_open: new.lifecycle.state.is_open(),
        short_description: &new.short_description,
        description: &new.description,
        assignment_group_id: new.assignment_group_id,
        assignee_id: new.assignee_id,
        priority: new.priority.get(),
        resolved_at: new.resolved_at,
        closed_at: new.closed_at,
    };
    records::update_in(conn, id, old.version, &kernel, now).await?;
    sqlx::query(
        "UPDATE incidents SET impact = $1, urgency = $2, category_id = $3, service_id = $4, hold_reason = $5,
            resolution_code = $6, resolution_notes = $7, reopen_count = $8, reassignment_count = $9,
            first_contact = $10, major = $11
         WHERE record_id = $12",
    )
    .bind(new.impact.get())
    .bind(new.urgency.get())
    .bind(new.category_id)
    .bind(new.service_id)
    .bind(new.lifecycle.hold_reason.map(|h| h.as_str()))
    .bind(new.lifecycle.resolution_code.map(|c| c.as_str()))
    .bind(new.lifecycle.resolution_notes.as_deref())
    .bind(new.lifecycle.reopen_count)
    .bind(new.reassignment_count)
    .bind(new.lifecycle.first_contact as i64)
    .bind(new.major as i64)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    audit::changes(conn, Entity::Record, id, Some(actor), now, &cs).await?;
    if cs.touches("short_description") || cs.touches("description") {
        reindex(conn, engine, id).await?;
    }
    if new.lifecycle.state == State::Resolved && old.lifecycle.state != State::Resolved {
        // The durable timer that closes the incident unless the
        // requester reopens it first; queued with the resolve itself.
        let days: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'auto_close_days'")
            .fetch_optional(&mut *conn)
            .await?;
        let days = days.and_then(|d| d.parse::<i64>().ok()).unwrap_or(5);
        let key = format!("close_incident:{id}:{}", new.lifecycle.reopen_count);
        jobs::enqueue_in(conn, "close_incident", &id.to_string(), now + days * 86_400_000_000, Some(&key)).await?;
    }
    // SLA clocks follow the change, in the same transaction.
    crate::sla::clocks::evaluate_in(conn, id, now).await?;
    incident_in(conn, id).await
}

async fn incident_in(conn: &mut AnyConnection, id: i64) -> Result<Incident, StoreError> {
    sqlx::query_as::<_, IncidentRow>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1 AND r.kind = 'incident'"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// The fields the audit trail follows, old against new.
fn diff(old: &Incident, new: &Incident) -> ChangeSet {
    let mut cs = ChangeSet::default();
    let l = |x: &Incident| x.lifecycle.clone();
    cs.record("short_description", &Some(&old.short_description), &Some(&new.short_description));
    cs.record("description", &Some(&old.description), &Some(&new.description));
    cs.record("state", &Some(l(old).state.as_str()), &Some(l(new).state.as_str()));
    cs.record("hold_reason", &l(old).hold_reason.map(|h| h.as_str()), &l(new).hold_reason.map(|h| h.as_str()));
    cs.record(
        "resolution_code",
        &l(old).resolution_code.map(|c| c.as_str()),
        &l(new).resolution_code.map(|c| c.as_str()),
    );
    cs.record("resolution_notes", &l(old).resolution_notes, &l(new).resolution_notes);
    cs.record("reopen_count", &Some(l(old).reopen_count), &Some(l(new).reopen_count));
    cs.record("first_contact", &Some(l(old).first_contact), &Some(l(new).first_contact));
    cs.record("assignment_group_id", &old.assignment_group_id, &new.assignment_group_id);
    cs.record("assignee_id", &old.assignee_id, &new.assignee_id);
    cs.record("reassignment_count", &Some(old.reassignment_count), &Some(new.reassignment_count));
    cs.record("impact", &Some(old.impact.get()), &Some(new.impact.get()));
    cs.record("urgency", &Some(old.urgency.get()), &Some(new.urgency.get()));
    cs.record("priority", &Some(old.priority.get()), &Some(new.priority.get()));
    cs.record("category_id", &old.category_id, &new.category_id);
    cs.record("service_id", &old.service_id, &new.service_id);
    cs.record("major", &Some(old.major), &Some(new.major));
    cs
}

impl Store {
    /// Creates an incident. With an idempotency key that already made one,
    /// returns that one instead and `true` for "replayed".
    pub async fn create_incident(
        &self,
        new: NewIncident,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Incident, bool), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        return Ok((incident_in(conn, id).await?, true));
                    }
                }
                check_references(conn, new.assignment_group_id, new.assignee_id, new.category_id, new.service_id).await?;
                let number = next_number(conn, engine, RecordKind::Incident).await?;
                let now = now_micros();
                // The priority is the configured matrix's cell for impact and
                // urgency (see `PriorityMatrix`), looked up in the insert itself,
                // and the requester is checked by its foreign key (the other
                // references were checked above): on SQLite every statement is
                // a round trip to the single writer's thread.
                let (id, priority): (i64, i64) = sqlx::query_as(
                    "INSERT INTO records (kind, number, version, state, is_open, short_description, description, requester_id, created_by,
                        assignment_group_id, assignee_id, priority, created_at, updated_at)
                     SELECT 'incident', $1, 1, 'new', 1, $2, $3, $4, $5, $6, $7, m.priority, $8, $8
                     FROM priority_matrix m WHERE m.impact = $9 AND m.urgency = $10
                     RETURNING id, priority",
                )
                .bind(&number)
                .bind(&new.short_description)
                .bind(&new.description)
                .bind(new.requester_id)
                .bind(new.created_by)
                .bind(new.assignment_group_id)
                .bind(new.assignee_id)
                .bind(now)
                .bind(new.impact.get())
                .bind(new.urgency.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
                        StoreError::UnknownReference { field: "requester_id" }
                    }
                    _ => e.into(),
                })?
                .ok_or_else(|| StoreError::corrupt("priority_matrix"))?;
                let priority = varde_domain::priority::Priority::new("priority", priority)
                    .map_err(|_| StoreError::corrupt("priority_matrix"))?;
                sqlx::query(
                    "INSERT INTO incidents (record_id, impact, urgency, category_id, service_id, channel, major)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(new.impact.get())
                .bind(new.urgency.get())
                .bind(new.category_id)
                .bind(new.service_id)
                .bind(new.channel.as_str())
                .bind(new.major as i64)
                .execute(&mut *conn)
                .await?;
                audit::created(conn, Entity::Record, id, Some(new.created_by), now).await?;
                // A new record has no journal yet: its document is its own text.
                let doc = search::document(&[&number, &new.short_description, &new.description]);
                index_document(conn, engine, id, &doc, "", &[new.requester_id], false).await?;
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                // SLA clocks start with the record, in the same transaction.
                crate::sla::clocks::evaluate_in(conn, id, now).await?;
                // Everything is known here; reading it back would only cost a query.
                let incident = Incident {
                    id,
                    number,
                    version: 1,
                    short_description: new.short_description,
                    description: new.description,
                    requester_id: new.requester_id,
                    created_by: new.created_by,
                    assignment_group_id: new.assignment_group_id,
                    assignee_id: new.assignee_id,
                    impact: new.impact,
                    urgency: new.urgency,
                    priority,
                    category_id: new.category_id,
                    service_id: new.service_id,
                    lifecycle: Lifecycle::new(),
                    reassignment_count: 0,
                    major: new.major,
                    channel: new.channel,
                    created_at: now,
                    updated_at: now,
                    resolved_at: None,
                    closed_at: None,
                };
                Ok((incident, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn incident(&self, id: i64) -> Result<Incident, StoreError> {
        let mut conn = self.pool().acquire().await?;
        incident_in(&mut conn, id).await
    }

    pub async fn incident_by_number(&self, number: &str) -> Result<Incident, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM records WHERE number = $1 AND kind = 'incident'")
            .bind(number.to_uppercase())
            .fetch_optional(self.pool())
            .await?;
        self.incident(id.ok_or(StoreError::NotFound)?).await
    }

    /// Applies `patch` to the incident as it is now. With `expected_version`,
    /// a record changed since the caller read it is refused with
    /// [`StoreError::Conflict`] and nothing is written.
    pub async fn update_incident(
        &self,
        id: i64,
        expected_version: Option<i64>,
        patch: incident::Patch,
        actor: i64,
    ) -> Result<Incident, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move { update_incident_in(conn, engine, id, expected_version, patch, actor).await }.boxed()
        })
        .await
    }

    /// Rebuilds the search entries of records listed in `search_rebuild`
    /// (by a migration that changed what is indexed), in batches. Cheap
    /// when the list is empty, as it is on every start but the first after
    /// such an upgrade. Several nodes may do this at once: rebuilding is
    /// idempotent.
    pub(crate) async fn rebuild_search(&self) -> Result<(), StoreError> {
        let engine = self.engine();
        loop {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT record_id FROM search_rebuild ORDER BY record_id LIMIT 200")
                .fetch_all(self.pool())
                .await?;
            if ids.is_empty() {
                return Ok(());
            }
            tracing::info!(records = ids.len(), "rebuilding search entries");
            self.write(move |conn| {
                async move {
                    for id in ids {
                        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE id = $1")
                            .bind(id)
                            .fetch_one(&mut *conn)
                            .await?;
                        if exists > 0 {
                            reindex(conn, engine, id).await?;
                        }
                        sqlx::query("DELETE FROM search_rebuild WHERE record_id = $1")
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                }
                .boxed()
            })
            .await?;
        }
    }

    /// A page of incidents the scope may see, matching the filter, in `sort`
    /// order, after `cursor`. Keyset pagination: the cost of a page does not
    /// grow with how deep it is.
    pub async fn list_incidents(
        &self,
        scope: Scope,
        filter: &Filter,
        sort: Sort,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        // On SQLite a text search drives the query from the FTS5 table, in
        // its rowid (= record id) order: FTS5 then yields matches newest
        // first and the LIMIT stops it early. Written as `r.id IN (SELECT
        // rowid ... MATCH)`, SQLite instead collected every match (85,000
        // for "vpn" among a million incidents) and sorted them: seconds.
        // A requester's search reads the requester documents (rowid = -id,
        // so ascending rowid is newest first) and asks for the requester's
        // reader token with the words (ADR 0018): FTS5 intersects the
        // token's short list with the words' long ones, where matching the
        // words alone meant every record anyone had with those words.
        let sqlite_text = self.engine() == Engine::Sqlite && filter.text.as_deref().is_some_and(|t| !t.is_empty());
        let fts_requester =
            sqlite_text && matches!(scope, Scope::Requester(_)) && matches!(sort, Sort::Newest | Sort::Oldest);
        let fts = sqlite_text && scope == Scope::All;
        let (from, id_col) = if fts {
            ("record_search s JOIN records r ON r.id = s.rowid JOIN incidents i ON i.record_id = r.id", "s.rowid")
        } else if fts_requester {
            ("record_search s JOIN records r ON r.id = -s.rowid JOIN incidents i ON i.record_id = r.id", "s.rowid")
        } else {
            (FROM, "r.id")
        };
        let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM {from} WHERE r.kind = 'incident'"));
        if let Scope::Requester(uid) = scope {
            q.push(" AND (r.requester_id = ").bind(Arg::Int(uid));
            q.push(" OR r.id IN (SELECT record_id FROM watchers WHERE user_id = ").bind(Arg::Int(uid)).push("))");
        }
        if !filter.states.is_empty() {
            q.push(" AND r.state IN ").bind_list(filter.states.iter().map(|s| Arg::Text(s.as_str().into())));
        }
        if let Some(o) = filter.open {
            q.push(" AND r.is_open = ").bind(Arg::Int(o as i64));
        }
        if !filter.priorities.is_empty() {
            q.push(" AND r.priority IN ").bind_list(filter.priorities.iter().map(|p| Arg::Int(*p)));
        }
        match filter.assignment_group_id {
            Some(Some(g)) => {
                q.push(" AND r.assignment_group_id = ").bind(Arg::Int(g));
            }
            Some(None) => {
                q.push(" AND r.assignment_group_id IS NULL");
            }
            None => {}
        }
        if !filter.assignment_groups_any.is_empty() {
            q.push(" AND r.assignment_group_id IN ")
                .bind_list(filter.assignment_groups_any.iter().map(|g| Arg::Int(*g)));
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
        if let Some(v) = filter.requester_id {
            q.push(" AND r.requester_id = ").bind(Arg::Int(v));
        }
        if let Some(v) = filter.service_id {
            q.push(" AND i.service_id = ").bind(Arg::Int(v));
        }
        if let Some(v) = filter.category_id {
            q.push(" AND i.category_id = ").bind(Arg::Int(v));
        }
        if let Some(v) = filter.major {
            q.push(" AND i.major = ").bind(Arg::Int(v as i64));
        }
        for (col, bound, op) in [
            ("r.created_at", filter.created_from, ">="),
            ("r.created_at", filter.created_to, "<"),
            ("r.updated_at", filter.updated_from, ">="),
            ("r.updated_at", filter.updated_to, "<"),
        ] {
            if let Some(v) = bound {
                q.push(&format!(" AND {col} {op} ")).bind(Arg::Int(v));
            }
        }
        if let Some(text) = &filter.text {
            let terms = search::query_terms(text);
            if terms.is_empty() {
                // A query of punctuation only matches nothing, not everything.
                return Ok(Vec::new());
            }
            // A requester searches only what they may read (see `reindex`):
            // their documents on SQLite, the words of weight A on PostgreSQL.
            match (self.engine(), scope) {
                (Engine::Sqlite, Scope::All) => {
                    // Each word as a prefix or one of its stems (ADR 0012).
                    let m = search::fts5_match(&search::query(text));
                    q.push(" AND s.rowid > 0 AND record_search MATCH ").bind(Arg::Text(m));
                }
                (Engine::Sqlite, Scope::Requester(uid)) => {
                    let m =
                        format!("{} AND \"{}\"", search::fts5_match(&search::query(text)), search::reader_token(uid));
                    if fts_requester {
                        q.push(" AND s.rowid < 0 AND record_search MATCH ").bind(Arg::Text(m));
                    } else {
                        q.push(" AND r.id IN (SELECT -rowid FROM record_search WHERE record_search MATCH ")
                            .bind(Arg::Text(m))
                            .push(" AND rowid < 0)");
                    }
                }
                (Engine::Postgres, Scope::All) => {
                    let m = search::tsquery(&search::query(text), "");
                    q.push(" AND r.search @@ to_tsquery('simple', ").bind(Arg::Text(m)).push(")");
                }
                (Engine::Postgres, Scope::Requester(uid)) => {
                    // The token goes in as a tsquery literal: the parser
                    // behind `to_tsquery` would split it up.
                    let m = search::tsquery(&search::query(text), "A");
                    q.push(" AND r.search @@ (to_tsquery('simple', ")
                        .bind(Arg::Text(m))
                        .push(") && ")
                        .bind(Arg::Text(format!("'{}'", search::reader_token(uid))))
                        .push("::tsquery)");
                }
            }
        }
        let (key, dir) = match sort {
            Sort::Newest => ("r.id", "DESC"),
            Sort::Oldest => ("r.id", "ASC"),
            Sort::Priority => ("r.priority", "ASC"),
            Sort::Updated => ("r.updated_at", "DESC"),
            Sort::SlaDue => (SLA_DUE_KEY, "ASC"),
        };
        // The requester's documents sit at rowid = -id: their order is the
        // reverse of the records'.
        let (dir, cursor_id) = match (fts_requester, dir) {
            (true, "DESC") => ("ASC", cursor.map(|c| -c.id)),
            (true, _) => ("DESC", cursor.map(|c| -c.id)),
            (false, d) => (d, cursor.map(|c| c.id)),
        };
        if let (Some(c), Some(cid)) = (cursor, cursor_id) {
            let cmp = if dir == "DESC" { "<" } else { ">" };
            if key == "r.id" {
                q.push(&format!(" AND {id_col} {cmp} ")).bind(Arg::Int(cid));
            } else {
                // Row-value comparison spelled out: both engines use the key's
                // index where it has one (the breaches-next key, a COALESCE,
                // has none: the matching rows are sorted).
                q.push(&format!(" AND ({key} {cmp} ")).bind(Arg::Int(c.key));
                q.push(&format!(" OR ({key} = ")).bind(Arg::Int(c.key));
                q.push(&format!(" AND r.id {cmp} ")).bind(Arg::Int(c.id)).push("))");
            }
        }
        // On PostgreSQL a requester's text search matches at most their own
        // and watched records (the reader token): reading those from the
        // GIN index and sorting them beats walking the primary key backwards
        // until a page of theirs turns up, which the planner prefers. At a
        // million incidents that walk read 112,000 rows for one page (120 ms
        // against 27 ms). `+ 0` keeps the key's index out of the ORDER BY.
        let pg_requester_text = self.engine() == Engine::Postgres
            && matches!(scope, Scope::Requester(_))
            && filter.text.as_deref().is_some_and(|t| !t.is_empty());
        if key == "r.id" && pg_requester_text {
            q.push(&format!(" ORDER BY r.id + 0 {dir}"));
        } else if key == "r.id" {
            q.push(&format!(" ORDER BY {id_col} {dir}"));
        } else {
            q.push(&format!(" ORDER BY {key} {dir}, r.id {dir}"));
        }
        q.push(" LIMIT ").bind(Arg::Int(limit));
        let rows: Vec<IncidentRow> = q.query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Incident::try_from).collect()
    }

    /// May this scope see the record?
    pub async fn can_see(&self, scope: Scope, record_id: i64) -> Result<bool, StoreError> {
        match scope {
            Scope::All => Ok(true),
            Scope::Requester(uid) => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM records r WHERE r.id = $1 AND (r.requester_id = $2
                        OR EXISTS (SELECT 1 FROM watchers w WHERE w.record_id = r.id AND w.user_id = $2))",
                )
                .bind(record_id)
                .bind(uid)
                .fetch_one(self.pool())
                .await?;
                Ok(n > 0)
            }
        }
    }

    /// Which of these records are incidents the scope may read, in one query
    /// (problems and other kinds are never among them).
    pub async fn visible_incidents(&self, scope: Scope, ids: &[i64]) -> Result<HashSet<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let v = crate::sql::json_rows(self.engine(), 1, &[("id", crate::sql::JsonCol::Int)]);
        let ids = crate::sql::json_param(&ids.iter().map(|id| (*id,)).collect::<Vec<_>>());
        let found: Vec<i64> = match scope {
            Scope::All => {
                sqlx::query_scalar(&format!(
                    "SELECT record_id FROM incidents WHERE record_id IN (SELECT id FROM {v} AS v)"
                ))
                .bind(ids)
                .fetch_all(self.pool())
                .await?
            }
            Scope::Requester(uid) => {
                sqlx::query_scalar(&format!(
                    "SELECT r.id FROM records r JOIN incidents i ON i.record_id = r.id
                     WHERE r.id IN (SELECT id FROM {v} AS v) AND (r.requester_id = $2
                        OR EXISTS (SELECT 1 FROM watchers w WHERE w.record_id = r.id AND w.user_id = $2))"
                ))
                .bind(ids)
                .bind(uid)
                .fetch_all(self.pool())
                .await?
            }
        };
        Ok(found.into_iter().collect())
    }

    // --- journal ---

    pub async fn add_journal(
        &self,
        record_id: i64,
        author: i64,
        kind: JournalKind,
        body: String,
    ) -> Result<JournalEntry, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let now = now_micros();
                let n = sqlx::query("UPDATE records SET updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(record_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO journal (record_id, author_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(record_id)
                .bind(author)
                .bind(kind.as_str())
                .bind(&body)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                if kind != JournalKind::System {
                    reindex(conn, engine, record_id).await?;
                }
                if kind == JournalKind::Reply {
                    // An agent's first reply may be the response an SLA measures.
                    crate::sla::clocks::evaluate_in(conn, record_id, now).await?;
                }
                Ok(JournalEntry { id, record_id, author_id: author, kind: kind.as_str().into(), body, created_at: now })
            }
            .boxed()
        })
        .await
    }

    pub async fn journal(&self, record_id: i64, with_work_notes: bool) -> Result<Vec<JournalEntry>, StoreError> {
        let sql = if with_work_notes {
            "SELECT id, record_id, author_id, kind, body, created_at FROM journal WHERE record_id = $1 ORDER BY id"
        } else {
            "SELECT id, record_id, author_id, kind, body, created_at FROM journal WHERE record_id = $1 AND kind <> 'work_note' ORDER BY id"
        };
        Ok(sqlx::query_as(sql).bind(record_id).fetch_all(self.pool()).await?)
    }

    // --- attachments ---

    pub async fn add_attachment(
        &self,
        record_id: i64,
        filename: String,
        content_type: String,
        data: Vec<u8>,
        uploaded_by: i64,
    ) -> Result<AttachmentMeta, StoreError> {
        use sha2::Digest;
        let sha256 = sha2::Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect::<String>();
        self.write(move |conn| {
            async move {
                if !exists(conn, "records", record_id).await? {
                    return Err(StoreError::NotFound);
                }
                let now = now_micros();
                let size = data.len() as i64;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO attachments (record_id, filename, content_type, size, sha256, data, uploaded_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(record_id)
                .bind(&filename)
                .bind(&content_type)
                .bind(size)
                .bind(&sha256)
                .bind(data)
                .bind(uploaded_by)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                sqlx::query("UPDATE records SET updated_at = $1 WHERE id = $2").bind(now).bind(record_id).execute(&mut *conn).await?;
                audit::write(conn, Entity::Record, record_id, Some(uploaded_by), now, "attachment", None, Some(&filename)).await?;
                Ok(AttachmentMeta { id, record_id, filename, content_type, size, sha256, uploaded_by, created_at: now })
            }
            .boxed()
        })
        .await
    }

    pub async fn attachments(&self, record_id: i64) -> Result<Vec<AttachmentMeta>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, record_id, filename, content_type, size, sha256, uploaded_by, created_at FROM attachments WHERE record_id = $1 ORDER BY id",
        )
        .bind(record_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn attachment(&self, id: i64) -> Result<(AttachmentMeta, Vec<u8>), StoreError> {
        let meta: AttachmentMeta = sqlx::query_as(
            "SELECT id, record_id, filename, content_type, size, sha256, uploaded_by, created_at FROM attachments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        let data: Vec<u8> =
            sqlx::query_scalar("SELECT data FROM attachments WHERE id = $1").bind(id).fetch_one(self.pool()).await?;
        Ok((meta, data))
    }

    // --- links ---

    pub async fn add_link(&self, from_id: i64, to_id: i64, kind: LinkKind, actor: i64) -> Result<Link, StoreError> {
        self.write(move |conn| {
            async move {
                if from_id == to_id {
                    return Err(DomainError::field("to", "a record cannot link to itself").into());
                }
                if !exists(conn, "records", from_id).await? {
                    return Err(StoreError::NotFound);
                }
                if !exists(conn, "records", to_id).await? {
                    return Err(StoreError::UnknownReference { field: "to" });
                }
                let now = now_micros();
                let id = insert_link(conn, from_id, to_id, kind, actor, now, "to").await?;
                Ok(Link { id, from_id, to_id, kind: kind.as_str().into(), created_by: actor, created_at: now })
            }
            .boxed()
        })
        .await
    }

    /// Links from or to the record.
    pub async fn links(&self, record_id: i64) -> Result<Vec<Link>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, from_id, to_id, kind, created_by, created_at FROM record_links WHERE from_id = $1 OR to_id = $1 ORDER BY id",
        )
        .bind(record_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn remove_link(&self, record_id: i64, link_id: i64, actor: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let link: Option<(i64, i64, String)> = sqlx::query_as(
                    "SELECT from_id, to_id, kind FROM record_links WHERE id = $1 AND (from_id = $2 OR to_id = $2)",
                )
                .bind(link_id)
                .bind(record_id)
                .fetch_optional(&mut *conn)
                .await?;
                let (from, to, kind) = link.ok_or(StoreError::NotFound)?;
                if kind == LinkKind::CausedBy.as_str() {
                    crate::problems::refuse_if_closed_in(conn, to, "a closed problem keeps its incidents").await?;
                }
                sqlx::query("DELETE FROM record_links WHERE id = $1").bind(link_id).execute(&mut *conn).await?;
                audit::write(
                    conn,
                    Entity::Record,
                    from,
                    Some(actor),
                    now_micros(),
                    "link",
                    Some(&format!("{kind} {to}")),
                    None,
                )
                .await
            }
            .boxed()
        })
        .await
    }

    /// Numbers of records by id, for showing links.
    pub async fn record_numbers(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new("SELECT id, number, short_description FROM records WHERE id IN ");
        q.bind_list(ids.iter().map(|id| Arg::Int(*id)));
        Ok(q.query_as().fetch_all(self.pool()).await?)
    }

    // --- watchers ---

    /// A watcher reads the record as its requester does: its requester
    /// document is indexed again with the watcher's reader token, so their
    /// text search finds it (see `index_document`).
    pub async fn add_watcher(&self, record_id: i64, user_id: i64, actor: i64) -> Result<(), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                if !exists(conn, "records", record_id).await? {
                    return Err(StoreError::NotFound);
                }
                if !exists(conn, "users", user_id).await? {
                    return Err(StoreError::UnknownReference { field: "user_id" });
                }
                if insert_pair(conn, "watchers", ("record_id", "user_id"), record_id, user_id).await? {
                    reindex(conn, engine, record_id).await?;
                    audit::write(
                        conn,
                        Entity::Record,
                        record_id,
                        Some(actor),
                        now_micros(),
                        "watcher",
                        None,
                        Some(&user_id.to_string()),
                    )
                    .await?;
                }
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn remove_watcher(&self, record_id: i64, user_id: i64, actor: i64) -> Result<(), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let n = sqlx::query("DELETE FROM watchers WHERE record_id = $1 AND user_id = $2")
                    .bind(record_id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)?;
                reindex(conn, engine, record_id).await?;
                audit::write(
                    conn,
                    Entity::Record,
                    record_id,
                    Some(actor),
                    now_micros(),
                    "watcher",
                    Some(&user_id.to_string()),
                    None,
                )
                .await
            }
            .boxed()
        })
        .await
    }

    pub async fn watchers(&self, record_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT user_id FROM watchers WHERE record_id = $1 ORDER BY user_id")
            .bind(record_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Resolved incidents whose resolution is older than `before`: the ones
    /// to close automatically.
    pub async fn resolved_before(&self, before: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM records WHERE kind = 'incident' AND state = 'resolved' AND resolved_at < $1 ORDER BY id LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Writes one link between records; a second link of the same kind between
/// the same two is refused as a duplicate of `field`. Every kind of link
/// (problem, workaround, resolved-by-article) goes through here.
pub(crate) async fn insert_link(
    conn: &mut AnyConnection,
    from_id: i64,
    to_id: i64,
    kind: LinkKind,
    actor: i64,
    now: i64,
    field: &'static str,
) -> Result<i64, StoreError> {
    // Two records cannot each be the other's duplicate (nor caused by one
    // another): one of them is the original.
    if matches!(kind, LinkKind::DuplicateOf | LinkKind::CausedBy) {
        let back: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM record_links WHERE from_id = $1 AND to_id = $2 AND kind = $3")
                .bind(to_id)
                .bind(from_id)
                .bind(kind.as_str())
                .fetch_one(&mut *conn)
                .await?;
        if back > 0 {
            return Err(
                DomainError::field(field, format!("is linked the other way already ({})", kind.as_str())).into()
            );
        }
    }
    let id = sqlx::query_scalar(
        "INSERT INTO record_links (from_id, to_id, kind, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(from_id)
    .bind(to_id)
    .bind(kind.as_str())
    .bind(actor)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::unique(e, field))?;
    // Every link is in the history of the record it starts from.
    let what = format!("{} {to_id}", kind.as_str());
    audit::write(conn, Entity::Record, from_id, Some(actor), now, "link", None, Some(&what)).await?;
    Ok(id)
}

/// A reply on a record's journal written by the store itself (a workaround
/// applied, an article that resolved it): journal line, the record's
/// `updated_at`, and its search entry, which holds replies.
pub(crate) async fn reply_in(
    conn: &mut AnyConnection,
    engine: Engine,
    record_id: i64,
    actor: i64,
    body: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO journal (record_id, author_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(record_id)
        .bind(actor)
        .bind(JournalKind::Reply.as_str())
        .bind(body)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE records SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(record_id)
        .execute(&mut *conn)
        .await?;
    reindex(conn, engine, record_id).await
}
