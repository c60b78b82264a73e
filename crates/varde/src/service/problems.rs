//! Problem management as callers see it: the desk raises and investigates
//! problems; a problem manager publishes known errors, resolves and closes
//! problems and decides on the recurring-incident candidates.

use serde::Deserialize;
use varde_domain::access::Permission;
use varde_domain::error::Problems;
use varde_domain::problem::{check_priority, OnResolve, Patch, Problem, State};
use varde_domain::text;
use varde_store::idempotency::IdempotencyKey;
use varde_store::incidents::Cursor;
use varde_store::problems::{LinkedIncident, NewProblem, ProblemFilter};
use varde_store::recurring::Candidate;
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProblem {
    pub short_description: String,
    #[serde(default)]
    pub description: Option<String>,
    /// 1 (critical) to 5 (planning); default 3.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub assignment_group_id: Option<i64>,
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// The affected service. (Affected CIs are linked at `/problems/{id}/cis`.)
    #[serde(default)]
    pub service_id: Option<i64>,
    #[serde(default)]
    pub category_id: Option<i64>,
    /// Incidents (ids or numbers) to link at once.
    #[serde(default)]
    pub incidents: Vec<String>,
}

/// A JSON merge patch of a problem: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProblem {
    #[serde(default, deserialize_with = "super::not_null")]
    pub short_description: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub priority: Option<i64>,
    /// new, under_investigation, root_cause_known, known_error, resolved or closed.
    #[serde(default, deserialize_with = "super::not_null")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignment_group_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub root_cause: Option<Option<String>>,
    /// five_whys, ishikawa, fault_tree or other.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub rca_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub contributing_factors: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub workaround: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub permanent_fix: Option<Option<String>>,
    /// When resolving: what happens to the open linked incidents: `notify`
    /// (a journal line on each, the default) or `resolve` (resolve them
    /// with the permanent fix).
    #[serde(default, deserialize_with = "super::not_null")]
    pub linked_incidents: Option<String>,
}

impl UpdateProblem {
    fn into_patch(self) -> (Patch, Option<String>) {
        (
            Patch {
                short_description: self.short_description,
                description: self.description,
                priority: self.priority,
                state: self.state,
                assignment_group_id: self.assignment_group_id,
                assignee_id: self.assignee_id,
                service_id: self.service_id,
                category_id: self.category_id,
                root_cause: self.root_cause,
                rca_method: self.rca_method,
                contributing_factors: self.contributing_factors,
                workaround: self.workaround,
                permanent_fix: self.permanent_fix,
            },
            self.linked_incidents,
        )
    }
}

/// Problems are the desk's: a requester hears they do not exist.
fn require_desk(caller: &Caller) -> Result<(), AppError> {
    if caller.can(Permission::WorkRecords) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn get(store: &Store, caller: &Caller, key: &str) -> Result<Problem, AppError> {
    require_desk(caller)?;
    Ok(match key.parse::<i64>() {
        Ok(id) => store.problem(id).await?,
        Err(_) => store.problem_by_number(key).await?,
    })
}

async fn incident_id(store: &Store, key: &str) -> Result<i64, AppError> {
    let found = match key.parse::<i64>() {
        Ok(id) => store.incident(id).await,
        Err(_) => store.incident_by_number(key).await,
    };
    match found {
        Ok(i) => Ok(i.id),
        Err(varde_store::StoreError::NotFound) => Err(AppError::field("incident", "refers to no incident")),
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    input: CreateProblem,
    idem: Option<IdempotencyKey>,
) -> Result<(Problem, bool), AppError> {
    require_desk(caller)?;
    let mut p = Problems::new();
    let short = p.check(text::line("short_description", &input.short_description, text::SHORT_DESCRIPTION_MAX));
    let description =
        p.check(text::body("description", input.description.as_deref().unwrap_or(""), text::LONG_TEXT_MAX));
    let priority = p.check(check_priority("priority", input.priority.unwrap_or(3)));
    if input.assignee_id.is_some() && input.assignment_group_id.is_none() {
        p.push("assignee_id", "needs an assignment group: assign to a group first, then to a person in it");
    }
    let mut incidents = Vec::new();
    for k in &input.incidents {
        match incident_id(store, k).await {
            // One incident by its id and its number is still one link.
            Ok(id) if incidents.contains(&id) => p.push("incidents", format!("{k} names an incident already listed")),
            Ok(id) => incidents.push(id),
            Err(_) => p.push("incidents", format!("{k} is not an incident")),
        }
    }
    p.into_result()?;
    let (Some(short), Some(description), Some(priority)) = (short, description, priority) else { unreachable!() };
    let new = NewProblem {
        short_description: short,
        description,
        created_by: caller.id(),
        priority,
        assignment_group_id: input.assignment_group_id,
        assignee_id: input.assignee_id,
        service_id: input.service_id,
        category_id: input.category_id,
    };
    // The problem and its links are made in one write: all or nothing.
    Ok(store.create_problem_with_incidents(new, incidents, idem).await?)
}

/// Changes a problem. Publishing a known error, resolving and closing are
/// the problem manager's; resolving tells (or resolves) the open incidents.
pub async fn update(
    store: &Store,
    caller: &Caller,
    key: &str,
    expected_version: Option<i64>,
    change: UpdateProblem,
) -> Result<Problem, AppError> {
    let current = get(store, caller, key).await?;
    let (patch, linked) = change.into_patch();
    let on_resolve = linked.map(|l| OnResolve::parse("linked_incidents", &l)).transpose()?.unwrap_or_default();
    if patch.is_empty() {
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(AppError::Stale { current: current.version });
        }
        return Ok(current);
    }
    if let Some(s) = &patch.state {
        let to = State::parse("state", s)?;
        if to != current.state
            && matches!(to, State::KnownError | State::Resolved | State::Closed)
            && !caller.can(Permission::ManageProblems)
        {
            return Err(AppError::Forbidden);
        }
    }
    // The open linked incidents are told (or resolved) with the resolve
    // itself, in one transaction: see the store's `follow_up_in`.
    Ok(store.update_problem_with(current.id, expected_version, patch, on_resolve, caller.id()).await?)
}

pub async fn list(
    store: &Store,
    caller: &Caller,
    filter: &ProblemFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Problem>, AppError> {
    require_desk(caller)?;
    Ok(store.list_problems(filter, cursor, limit).await?)
}

pub async fn incidents(store: &Store, caller: &Caller, key: &str) -> Result<Vec<LinkedIncident>, AppError> {
    let p = get(store, caller, key).await?;
    Ok(store.problem_incidents(p.id).await?)
}

pub async fn link(
    store: &Store,
    caller: &Caller,
    key: &str,
    incident: &str,
) -> Result<varde_store::incidents::Link, AppError> {
    let p = get(store, caller, key).await?;
    let i = incident_id(store, incident).await?;
    Ok(store.link_incident_to_problem(p.id, i, caller.id()).await?)
}

pub async fn unlink(store: &Store, caller: &Caller, key: &str, incident: &str) -> Result<(), AppError> {
    let p = get(store, caller, key).await?;
    let i = match incident_id(store, incident).await {
        Ok(i) => i,
        Err(_) => return Err(AppError::NotFound),
    };
    Ok(store.unlink_incident_from_problem(p.id, i, caller.id()).await?)
}

/// Applies a known error's workaround to an incident.
pub async fn apply_workaround(
    store: &Store,
    caller: &Caller,
    incident: &str,
    problem: &str,
) -> Result<Problem, AppError> {
    caller.require(Permission::WorkRecords)?;
    let inc = crate::service::incidents::get(store, caller, incident).await?;
    if inc.lifecycle.state.is_final() {
        return Err(AppError::Transition(format!("a {} incident cannot be changed", inc.lifecycle.state.as_str())));
    }
    let p = get(store, caller, problem).await.map_err(|e| match e {
        AppError::NotFound => AppError::field("problem", "refers to no problem"),
        other => other,
    })?;
    Ok(store.apply_workaround(inc.id, p.id, caller.id()).await?)
}

// --- recurring-incident candidates ---

pub async fn candidates(store: &Store, caller: &Caller, state: Option<&str>) -> Result<Vec<Candidate>, AppError> {
    require_desk(caller)?;
    if let Some(s) = state {
        if !matches!(s, "proposed" | "accepted" | "rejected") {
            return Err(AppError::field("state", "must be proposed, accepted or rejected"));
        }
    }
    Ok(store.candidates(state, 100).await?)
}

/// How far back the job looks: the "last 30 days".
pub const DETECTION_DAYS: i64 = 30;

/// Runs the detection over the last 30 days and stores new candidates.
pub async fn detect(store: &Store) -> Result<usize, AppError> {
    let from = varde_store::now_micros() - DETECTION_DAYS * 86_400_000_000;
    let items = store.similarity_items(from).await?;
    let clusters = tokio::task::spawn_blocking(move || {
        varde_domain::recurring::clusters(&items, &varde_domain::recurring::Params::default())
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(store.save_candidates(clusters).await?)
}

/// Accepting makes a problem with the candidate's incidents linked.
pub async fn accept(store: &Store, caller: &Caller, id: i64) -> Result<Problem, AppError> {
    caller.require(Permission::ManageProblems)?;
    let c = store.candidate(id).await?;
    if c.state != "proposed" {
        return Err(AppError::Transition(format!("this candidate is already {}", c.state)));
    }
    let first =
        store.incident(*c.incidents.first().ok_or_else(|| AppError::Internal("empty candidate".into()))?).await?;
    let new = NewProblem {
        short_description: text::line(
            "short_description",
            &format!("Recurring: {}", first.short_description),
            text::SHORT_DESCRIPTION_MAX,
        )
        .unwrap_or_else(|_| "Recurring incidents".into()),
        description: format!(
            "Proposed by recurring-incident detection: {} similar incidents; shared words: {}.",
            c.incidents.len(),
            c.terms.join(", ")
        ),
        created_by: caller.id(),
        priority: 3,
        assignment_group_id: None,
        assignee_id: None,
        service_id: c.service_id,
        category_id: c.category_id,
    };
    Ok(store.accept_candidate(id, new, caller.id()).await?)
}

pub async fn reject(store: &Store, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageProblems)?;
    Ok(store.decide_candidate(id, false, None, caller.id()).await?)
}

/// The detection runs hourly from the durable job table: each run queues
/// the next. Every node queues the current hour's run when it starts; the
/// dedupe key keeps that to one queued run per hour.
const DETECTION_EVERY: i64 = 3_600_000_000;

pub async fn schedule_detection(store: &Store) {
    let slot = varde_store::now_micros() / DETECTION_EVERY;
    let key = format!("detect_recurring:{slot}");
    if let Err(e) = store.enqueue("detect_recurring".into(), String::new(), slot * DETECTION_EVERY, Some(key)).await {
        tracing::warn!(error = %e, "cannot schedule recurring-incident detection");
    }
}

pub async fn detection_job(store: &Store) -> Result<(), AppError> {
    let proposed = detect(store).await?;
    tracing::info!(proposed, "recurring-incident detection ran");
    let next = varde_store::now_micros() / DETECTION_EVERY + 1;
    store
        .enqueue(
            "detect_recurring".into(),
            String::new(),
            next * DETECTION_EVERY,
            Some(format!("detect_recurring:{next}")),
        )
        .await?;
    Ok(())
}
