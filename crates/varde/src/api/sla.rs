//! `/api/v1/slas` (agreements: SLA, OLA, UC), `/api/v1/suppliers`, an
//! incident's clocks (`/api/v1/incidents/{id}/sla`) and supplier, and the
//! caller's notifications.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use varde_domain::sla::agreement::{Agreement, AgreementSpec, Kind};
use varde_store::sla::clocks::{ClockEventRow, SlaClock};
use varde_store::sla::notifications::Notification;
use varde_store::sla::Supplier;

use super::incidents::parse_query;
use super::{created, etag, if_match, instant, limit, ApiJson, ApiPath, Page};
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::service::sla as svc;
use crate::state::AppState;

/// An agreement: its id and version, and the spec fields (name, kind,
/// active, customer_organisation_id, service_ids, group_id, supplier_id,
/// conditions, targets, thresholds, pause_on, response_on, reopen).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementView {
    pub id: i64,
    pub version: i64,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub spec: AgreementSpec,
}

impl From<Agreement> for AgreementView {
    fn from(a: Agreement) -> Self {
        AgreementView { id: a.id, version: a.version, spec: a.spec }
    }
}

fn agreement_response(status: StatusCode, a: Agreement) -> Response {
    let tag = etag(a.version);
    let mut res = if status == StatusCode::CREATED {
        created(format!("/api/v1/slas/{}", a.id), AgreementView::from(a))
    } else {
        (status, Json(AgreementView::from(a))).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgreementQuery {
    /// sla, ola or uc.
    pub kind: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/slas", tag = "sla", params(AgreementQuery),
    responses((status = 200, body = Page<AgreementView>), (status = 422, body = Problem)))]
pub async fn list(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q: AgreementQuery = parse_query(raw.as_deref())?;
    let kind = q.kind.as_deref().map(|k| Kind::parse("kind", k)).transpose()?;
    let lim = limit(q.limit.as_deref())?;
    let after = match &q.cursor {
        Some(c) => c.parse::<i64>().map_err(|_| AppError::field("cursor", "is not a cursor this server gave"))?,
        None => 0,
    };
    let items = svc::agreements(&st.store, &caller, kind, after, lim).await?;
    let next = (items.len() as i64 == lim).then(|| items.last().map(|a| a.id.to_string())).flatten();
    Ok(Json(Page { items: items.into_iter().map(AgreementView::from).collect(), next_cursor: next }).into_response())
}

#[utoipa::path(post, path = "/api/v1/slas", tag = "sla", request_body(content = Object, description = "An agreement spec"),
    responses((status = 201, body = AgreementView), (status = 422, body = Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<AgreementSpec>,
) -> Result<Response, AppError> {
    let a = svc::create_agreement(&st.store, &caller, body.value).await?;
    Ok(agreement_response(StatusCode::CREATED, a))
}

#[utoipa::path(get, path = "/api/v1/slas/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 200, body = AgreementView), (status = 404, body = Problem)))]
pub async fn read(State(st): State<AppState>, caller: Caller, ApiPath(id): ApiPath<i64>) -> Result<Response, AppError> {
    Ok(agreement_response(StatusCode::OK, svc::agreement(&st.store, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/slas/{id}", tag = "sla", params(("id" = i64, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = Object, description = "A JSON merge patch of the agreement"),
    responses((status = 200, body = AgreementView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: ApiJson<serde_json::Value>,
) -> Result<Response, AppError> {
    let expected = if_match(&headers)?;
    let a = svc::update_agreement(&st.store, &caller, id, expected, body.value).await?;
    Ok(agreement_response(StatusCode::OK, a))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupplierView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<Supplier> for SupplierView {
    fn from(s: Supplier) -> Self {
        SupplierView { id: s.id, name: s.name, created_at: instant(s.created_at) }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSupplier {
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/suppliers", tag = "sla", responses((status = 200, body = Vec<SupplierView>)))]
pub async fn suppliers(State(st): State<AppState>, caller: Caller) -> Result<Json<Vec<SupplierView>>, AppError> {
    Ok(Json(svc::suppliers(&st.store, &caller).await?.into_iter().map(SupplierView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/suppliers", tag = "sla", request_body = NewSupplier,
    responses((status = 201, body = SupplierView), (status = 409, body = Problem)))]
pub async fn create_supplier(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<NewSupplier>,
) -> Result<Response, AppError> {
    let s = svc::create_supplier(&st.store, &caller, body.value.name).await?;
    Ok(created(format!("/api/v1/suppliers/{}", s.id), SupplierView::from(s)))
}

/// One clock: a target of an agreement on the record. Durations are in
/// seconds of business time on the target's calendar.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub id: i64,
    /// sla, ola or uc.
    pub kind: String,
    /// The group (OLA) or supplier (UC) the clock is with; 0 for an SLA.
    pub party_id: i64,
    pub target: String,
    pub agreement_id: i64,
    pub agreement_name: String,
    pub target_seconds: i64,
    pub calendar_id: Option<i64>,
    /// running, paused, met, breached or cancelled.
    pub state: String,
    pub running: bool,
    /// When the target is reached if the clock keeps running; absent while paused or stopped.
    pub due_at: Option<String>,
    pub elapsed_seconds: i64,
    /// Negative once breached.
    pub remaining_seconds: i64,
    pub started_at: String,
    pub stopped_at: Option<String>,
    /// Warning thresholds (percent of the target) already fired.
    pub fired: Vec<i64>,
}

fn secs(us: i64) -> i64 {
    us.div_euclid(1_000_000)
}

impl From<SlaClock> for ClockView {
    fn from(c: SlaClock) -> Self {
        ClockView {
            id: c.id,
            kind: c.kind,
            party_id: c.party_id,
            target: c.target_name,
            agreement_id: c.agreement_id,
            agreement_name: c.agreement_name,
            target_seconds: secs(c.target_us),
            calendar_id: c.calendar_id,
            state: c.state,
            running: c.running,
            due_at: c.due_at.map(instant),
            elapsed_seconds: secs(c.elapsed_us),
            remaining_seconds: secs(c.remaining_us),
            started_at: instant(c.started_at),
            stopped_at: c.stopped_at.map(instant),
            fired: c.fired,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockEventView {
    pub clock_id: i64,
    pub at: String,
    /// attach, start, pause, resume, stop, reopen, restart, cancel, revive, retarget or threshold.
    pub event: String,
    pub detail: String,
}

impl From<ClockEventRow> for ClockEventView {
    fn from(e: ClockEventRow) -> Self {
        ClockEventView { clock_id: e.clock_id, at: instant(e.at), event: e.event, detail: e.detail }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordSlaView {
    pub supplier_id: Option<i64>,
    pub escalated: bool,
    pub clocks: Vec<ClockView>,
    pub history: Vec<ClockEventView>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/sla", tag = "sla", params(("id" = String, Path)),
    responses((status = 200, body = RecordSlaView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn record(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RecordSlaView>, AppError> {
    let r = svc::record_sla(&st.store, &caller, &id).await?;
    Ok(Json(RecordSlaView {
        supplier_id: r.supplier_id,
        escalated: r.escalated,
        clocks: r.clocks.into_iter().map(ClockView::from).collect(),
        history: r.events.into_iter().map(ClockEventView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSupplier {
    /// The supplier the incident is with, or null.
    pub supplier_id: Option<i64>,
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/supplier", tag = "sla", params(("id" = String, Path)),
    request_body = SetSupplier, responses((status = 204), (status = 422, body = Problem)))]
pub async fn set_supplier(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<SetSupplier>,
) -> Result<StatusCode, AppError> {
    svc::set_supplier(&st.store, &caller, &id, body.value.supplier_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub record_id: Option<i64>,
    /// sla_warning or sla_breach.
    pub kind: String,
    pub body: String,
    pub created_at: String,
    pub read_at: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            id: n.id,
            record_id: n.record_id,
            kind: n.kind,
            body: n.body,
            created_at: instant(n.created_at),
            read_at: n.read_at.map(instant),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// `true` for unread only.
    pub unread: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "sla", params(NotificationQuery),
    responses((status = 200, body = Page<NotificationView>)))]
pub async fn notifications(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q: NotificationQuery = parse_query(raw.as_deref())?;
    let unread = match q.unread.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(AppError::field("unread", "must be true or false")),
    };
    let lim = limit(q.limit.as_deref())?;
    let before = match &q.cursor {
        Some(c) => Some(c.parse::<i64>().map_err(|_| AppError::field("cursor", "is not a cursor this server gave"))?),
        None => None,
    };
    let items = svc::notifications(&st.store, &caller, unread, before, lim).await?;
    let next = (items.len() as i64 == lim).then(|| items.last().map(|n| n.id.to_string())).flatten();
    Ok(Json(Page { items: items.into_iter().map(NotificationView::from).collect(), next_cursor: next }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

#[utoipa::path(get, path = "/api/v1/notifications/count", tag = "sla", responses((status = 200, body = UnreadCount)))]
pub async fn notification_count(State(st): State<AppState>, caller: Caller) -> Result<Json<UnreadCount>, AppError> {
    Ok(Json(UnreadCount { unread: svc::unread_count(&st.store, &caller).await? }))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "sla", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn read_notification(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    svc::mark_read(&st.store, &caller, Some(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "sla", responses((status = 204)))]
pub async fn read_all_notifications(State(st): State<AppState>, caller: Caller) -> Result<StatusCode, AppError> {
    svc::mark_read(&st.store, &caller, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
