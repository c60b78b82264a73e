//! `/api/v1/problems`, known errors, workarounds and recurring-incident
//! candidates, following the incident API's conventions (ETag/If-Match,
//! merge patch, keyset cursors, filters, `q=`).

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use varde_domain::problem::{Problem, State as ProblemState};
use varde_store::incidents::Cursor;
use varde_store::problems::{LinkedIncident, ProblemFilter};
use varde_store::recurring::Candidate;

use super::incidents::{parse_query, LinkView};
use super::{
    created, decode_cursor, encode_cursor, etag, idempotency_key, if_match, instant, limit, ApiJson, ApiPath, Page,
};
use crate::auth::Caller;
use crate::error::{AppError, Problem as ProblemDetails};
use crate::service::problems::{self as svc, CreateProblem, UpdateProblem};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemView {
    pub id: i64,
    pub number: String,
    pub version: i64,
    pub state: String,
    /// Published to the desk as a known error (state known_error).
    pub known_error: bool,
    pub short_description: String,
    pub description: String,
    pub created_by: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub priority: i64,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub root_cause: Option<String>,
    pub rca_method: Option<String>,
    pub contributing_factors: Option<String>,
    pub workaround: Option<String>,
    pub permanent_fix: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
}

impl From<&Problem> for ProblemView {
    fn from(p: &Problem) -> Self {
        ProblemView {
            id: p.id,
            number: p.number.clone(),
            version: p.version,
            state: p.state.as_str().into(),
            known_error: p.is_known_error(),
            short_description: p.short_description.clone(),
            description: p.description.clone(),
            created_by: p.created_by,
            assignment_group_id: p.assignment_group_id,
            assignee_id: p.assignee_id,
            priority: p.priority,
            service_id: p.service_id,
            category_id: p.category_id,
            root_cause: p.root_cause.clone(),
            rca_method: p.rca_method.map(|m| m.as_str().into()),
            contributing_factors: p.contributing_factors.clone(),
            workaround: p.workaround.clone(),
            permanent_fix: p.permanent_fix.clone(),
            created_at: instant(p.created_at),
            updated_at: instant(p.updated_at),
            resolved_at: p.resolved_at.map(instant),
            closed_at: p.closed_at.map(instant),
        }
    }
}

fn with_etag(status: StatusCode, p: &Problem) -> Response {
    let mut res = (status, Json(ProblemView::from(p))).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(p.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// States, e.g. `known_error,root_cause_known`.
    pub state: Option<String>,
    /// `true` for open problems (not resolved or closed).
    pub open: Option<String>,
    /// `true` for published known errors only (the known error database),
    /// `false` for the other problems.
    pub known_error: Option<String>,
    /// Priorities, e.g. `1,2`.
    pub priority: Option<String>,
    pub assignment_group_id: Option<String>,
    /// A user id, `me` or `none`.
    pub assignee_id: Option<String>,
    pub service_id: Option<String>,
    pub category_id: Option<String>,
    /// Words to find in the problem, its analysis and workaround.
    pub q: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn id_param(field: &str, v: &str) -> Result<i64, AppError> {
    v.parse().map_err(|_| AppError::field(field, "must be a numeric id"))
}

fn bool_param(field: &str, v: &str) -> Result<bool, AppError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(AppError::field(field, "must be true or false")),
    }
}

fn filter_from(q: &ListQuery, me: i64) -> Result<(ProblemFilter, Option<Cursor>, i64), AppError> {
    let mut f = ProblemFilter::default();
    let mut errs = Vec::new();
    let mut note = |r: Result<(), AppError>| {
        if let Err(AppError::Invalid(e)) = r {
            errs.extend(e);
        }
    };
    note((|| {
        for part in q.state.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
            f.states.push(ProblemState::parse("state", part)?);
        }
        Ok(())
    })());
    note((|| {
        // A filter of its own, not a replacement of `state`: filters combine.
        f.known_error = q.known_error.as_deref().map(|v| bool_param("known_error", v)).transpose()?;
        f.open = q.open.as_deref().map(|v| bool_param("open", v)).transpose()?;
        Ok(())
    })());
    note((|| {
        for part in q.priority.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
            match part.parse::<i64>() {
                Ok(p) if (1..=5).contains(&p) => f.priorities.push(p),
                _ => return Err(AppError::field("priority", "must be priorities from 1 to 5, like 1,2")),
            }
        }
        Ok(())
    })());
    note((|| {
        f.assignment_group_id =
            q.assignment_group_id.as_deref().map(|v| id_param("assignment_group_id", v)).transpose()?;
        f.assignee_id = match q.assignee_id.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some("me") => Some(Some(me)),
            Some(v) => Some(Some(id_param("assignee_id", v)?)),
        };
        Ok(())
    })());
    note((|| {
        f.service_id = q.service_id.as_deref().map(|v| id_param("service_id", v)).transpose()?;
        f.category_id = q.category_id.as_deref().map(|v| id_param("category_id", v)).transpose()?;
        Ok(())
    })());
    if let Some(text) = &q.q {
        if text.chars().count() > 200 {
            errs.push(varde_domain::FieldError::new("q", "must be at most 200 characters"));
        } else if !text.trim().is_empty() {
            f.text = Some(text.clone());
        }
    }
    let cursor = match q.cursor.as_deref().map(decode_cursor).transpose() {
        Ok(c) => c,
        Err(AppError::Invalid(e)) => {
            errs.extend(e);
            None
        }
        Err(_) => None,
    };
    let lim = match limit(q.limit.as_deref()) {
        Ok(l) => l,
        Err(AppError::Invalid(e)) => {
            errs.extend(e);
            50
        }
        Err(_) => 50,
    };
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    Ok((f, cursor, lim))
}

#[utoipa::path(get, path = "/api/v1/problems", tag = "problems", params(ListQuery),
    responses((status = 200, body = Page<ProblemView>), (status = 422, body = ProblemDetails)))]
pub async fn list(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q: ListQuery = parse_query(raw.as_deref())?;
    let (filter, cursor, lim) = filter_from(&q, caller.id())?;
    let items = svc::list(&st.store, &caller, &filter, cursor, lim).await?;
    let next = if items.len() as i64 == lim {
        items.last().map(|p| encode_cursor(Cursor { key: p.id, id: p.id }))
    } else {
        None
    };
    Ok(Json(Page { items: items.iter().map(ProblemView::from).collect(), next_cursor: next }).into_response())
}

#[utoipa::path(post, path = "/api/v1/problems", tag = "problems", request_body = CreateProblem,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = ProblemView), (status = 422, body = ProblemDetails)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CreateProblem>,
) -> Result<Response, AppError> {
    let idem = idempotency_key(&headers, &caller, "/api/v1/problems", &body.raw)?;
    let (p, replayed) = svc::create(&st.store, &caller, body.value, idem).await?;
    let mut res = with_etag(StatusCode::CREATED, &p);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/problems/{}", p.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/problems/{id}", tag = "problems",
    params(("id" = String, Path, description = "Id or number (PRB0000001)")),
    responses((status = 200, body = ProblemView, headers(("ETag" = String))), (status = 404, body = ProblemDetails)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = svc::get(&st.store, &caller, &id).await?;
    if let Some(res) = super::not_modified(&headers, p.version) {
        return Ok(res);
    }
    Ok(with_etag(StatusCode::OK, &p))
}

#[utoipa::path(patch, path = "/api/v1/problems/{id}", tag = "problems", request_body = UpdateProblem,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read; a stale one gets 412")),
    responses((status = 200, body = ProblemView), (status = 412, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateProblem>,
) -> Result<Response, AppError> {
    let expected = if_match(&headers)?;
    let p = svc::update(&st.store, &caller, &id, expected, body.value).await?;
    Ok(with_etag(StatusCode::OK, &p))
}

/// An incident linked to a problem, with the time it cost.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkedIncidentView {
    pub id: i64,
    pub number: String,
    pub short_description: String,
    pub state: String,
    pub open: bool,
    pub created_at: String,
    pub resolved_at: Option<String>,
    /// Seconds the incident was open (until now for open ones).
    pub time_spent_seconds: i64,
}

/// The incidents of a problem: how many, and how much time they cost.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkedIncidents {
    pub count: usize,
    pub open: usize,
    pub time_spent_seconds: i64,
    pub items: Vec<LinkedIncidentView>,
}

pub fn linked_view(list: Vec<LinkedIncident>) -> LinkedIncidents {
    let now = varde_store::now_micros();
    let items: Vec<LinkedIncidentView> = list
        .into_iter()
        .map(|i| LinkedIncidentView {
            time_spent_seconds: i.time_spent(now) / 1_000_000,
            id: i.id,
            number: i.number,
            short_description: i.short_description,
            state: i.state,
            open: i.is_open != 0,
            created_at: instant(i.created_at),
            resolved_at: i.resolved_at.map(instant),
        })
        .collect();
    LinkedIncidents {
        count: items.len(),
        open: items.iter().filter(|i| i.open).count(),
        time_spent_seconds: items.iter().map(|i| i.time_spent_seconds).sum(),
        items,
    }
}

#[utoipa::path(get, path = "/api/v1/problems/{id}/incidents", tag = "problems", params(("id" = String, Path)),
    responses((status = 200, body = LinkedIncidents)))]
pub async fn incidents(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LinkedIncidents>, AppError> {
    Ok(Json(linked_view(svc::incidents(&st.store, &caller, &id).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIncident {
    /// The incident, by id or number.
    pub incident: String,
}

#[utoipa::path(post, path = "/api/v1/problems/{id}/incidents", tag = "problems", params(("id" = String, Path)),
    request_body = LinkIncident, responses((status = 201, body = LinkView), (status = 409, body = ProblemDetails)))]
pub async fn link(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<LinkIncident>,
) -> Result<Response, AppError> {
    let l = svc::link(&st.store, &caller, &id, &body.value.incident).await?;
    Ok(created(format!("/api/v1/problems/{}/incidents/{}", l.to_id, l.from_id), LinkView::from(l)))
}

#[utoipa::path(delete, path = "/api/v1/problems/{id}/incidents/{incident}", tag = "problems",
    params(("id" = String, Path), ("incident" = String, Path)), responses((status = 204), (status = 404, body = ProblemDetails)))]
pub async fn unlink(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, incident)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    svc::unlink(&st.store, &caller, &id, &incident).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyWorkaround {
    /// The known error (problem id or number) whose workaround was applied.
    pub problem: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/workaround", tag = "problems", params(("id" = String, Path)),
    request_body = ApplyWorkaround,
    responses((status = 201, body = ProblemView, description = "Recorded: a journal line with the workaround and a workaround_from link"),
              (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn apply_workaround(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<ApplyWorkaround>,
) -> Result<Response, AppError> {
    let p = svc::apply_workaround(&st.store, &caller, &id, &body.value.problem).await?;
    Ok(created(format!("/api/v1/problems/{}", p.id), ProblemView::from(&p)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandidateView {
    pub id: i64,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    /// The words the incidents share: the evidence.
    pub terms: Vec<String>,
    /// Mean cosine similarity of the joined pairs, in percent.
    pub cohesion: i64,
    /// proposed, accepted or rejected.
    pub state: String,
    pub problem_id: Option<i64>,
    pub incidents: Vec<i64>,
    pub created_at: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<String>,
}

impl From<Candidate> for CandidateView {
    fn from(c: Candidate) -> Self {
        CandidateView {
            id: c.id,
            service_id: c.service_id,
            category_id: c.category_id,
            terms: c.terms,
            cohesion: c.cohesion,
            state: c.state,
            problem_id: c.problem_id,
            incidents: c.incidents,
            created_at: instant(c.created_at),
            decided_by: c.decided_by,
            decided_at: c.decided_at.map(instant),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CandidateQuery {
    /// proposed, accepted or rejected.
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/problem-candidates", tag = "problems", params(CandidateQuery),
    responses((status = 200, body = Vec<CandidateView>)))]
pub async fn candidates(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<CandidateView>>, AppError> {
    let q: CandidateQuery = parse_query(raw.as_deref())?;
    let list = svc::candidates(&st.store, &caller, q.state.as_deref()).await?;
    Ok(Json(list.into_iter().map(CandidateView::from).collect()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DetectionRun {
    /// New candidates proposed by this run.
    pub proposed: usize,
}

#[utoipa::path(post, path = "/api/v1/problem-candidates/detect", tag = "problems",
    responses((status = 200, body = DetectionRun), (status = 403, body = ProblemDetails)))]
pub async fn detect(State(st): State<AppState>, caller: Caller) -> Result<Json<DetectionRun>, AppError> {
    caller.require(varde_domain::access::Permission::ManageProblems)?;
    Ok(Json(DetectionRun { proposed: svc::detect(&st.store).await? }))
}

#[utoipa::path(post, path = "/api/v1/problem-candidates/{id}/accept", tag = "problems", params(("id" = i64, Path)),
    responses((status = 201, body = ProblemView), (status = 422, body = ProblemDetails)))]
pub async fn accept(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    let p = svc::accept(&st.store, &caller, id).await?;
    Ok(created(format!("/api/v1/problems/{}", p.id), ProblemView::from(&p)))
}

#[utoipa::path(post, path = "/api/v1/problem-candidates/{id}/reject", tag = "problems", params(("id" = i64, Path)),
    responses((status = 204), (status = 422, body = ProblemDetails)))]
pub async fn reject(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    svc::reject(&st.store, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
