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
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = AgreementView), (status = 422, body = Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<AgreementSpec>,
) -> Result<Response, AppError> {
    let idem = super::idempotency_key(&headers, &caller, "/api/v1/slas", &body.raw)?;
    let (a, replayed) = svc::create_agreement(&st.store, &caller, body.value, idem).await?;
    let mut res = agreement_response(StatusCode::CREATED, a);
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/slas/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 200, body = AgreementView, headers(("ETag" = String))), (status = 304), (status = 404, body = Problem)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let a = svc::agreement(&st.store, &caller, id).await?;
    if let Some(res) = super::not_modified(&headers, a.version) {
        return Ok(res);
    }
    Ok(agreement_response(StatusCode::OK, a))
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
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = SupplierView), (status = 409, body = Problem)))]
pub async fn create_supplier(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<NewSupplier>,
) -> Result<Response, AppError> {
    let idem = super::idempotency_key(&headers, &caller, "/api/v1/suppliers", &body.raw)?;
    let (s, replayed) = svc::create_supplier(&st.store, &caller, body.value.name, idem).await?;
    let mut res = created(format!("/api/v1/suppliers/{}", s.id), SupplierView::from(s));
    super::mark_replayed(&mut res, replayed);
    Ok(res)
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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// A date (2026-11-01, UTC) or RFC 3339 instant; default 30 days ago. Clocks stopped from `from`
    /// up to (not including) `to` count.
    pub from: Option<String>,
    /// An RFC 3339 instant (not included), or a date, which includes that whole day (UTC); default now.
    pub to: Option<String>,
    /// agreement (default), service, organisation, group or month.
    pub group_by: Option<String>,
    /// sla (default), ola or uc.
    pub kind: Option<String>,
}

/// The SLA report: compliance per group, breaches with their OLA/UC chain.
/// Durations are seconds of business time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub from: String,
    pub to: String,
    pub group_by: String,
    pub rows: Vec<ReportRowView>,
    pub breaches: Vec<BreachView>,
    /// Which group (OLA) or supplier (UC) had the time of the breached SLA clocks.
    pub chain: Vec<ChainView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportRowView {
    pub key: String,
    pub label: String,
    pub total: i64,
    pub met: i64,
    pub breached: i64,
    pub compliance_percent: f64,
    pub avg_response_seconds: Option<i64>,
    pub avg_resolution_seconds: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreachView {
    pub record_id: i64,
    pub number: String,
    pub agreement_id: i64,
    pub target: String,
    pub target_seconds: i64,
    pub elapsed_seconds: i64,
    pub stopped_at: String,
    pub reassignment_count: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainView {
    pub kind: String,
    pub party_id: i64,
    pub label: String,
    pub records: i64,
    pub elapsed_seconds: i64,
}

fn report_view(r: varde_store::sla::reports::Report) -> ReportView {
    ReportView {
        from: instant(r.from),
        to: instant(r.to),
        group_by: r.group_by.into(),
        rows: r
            .rows
            .into_iter()
            .map(|x| ReportRowView {
                key: x.key,
                label: x.label,
                total: x.total,
                met: x.met,
                breached: x.breached,
                compliance_percent: x.compliance,
                avg_response_seconds: x.avg_response_us.map(secs),
                avg_resolution_seconds: x.avg_resolution_us.map(secs),
            })
            .collect(),
        breaches: r
            .breaches
            .into_iter()
            .map(|b| BreachView {
                record_id: b.record_id,
                number: b.number,
                agreement_id: b.agreement_id,
                target: b.target_name,
                target_seconds: secs(b.target_us),
                elapsed_seconds: secs(b.elapsed_us),
                stopped_at: instant(b.stopped_at),
                reassignment_count: b.reassignment_count,
            })
            .collect(),
        chain: r
            .chain
            .into_iter()
            .map(|c| ChainView {
                kind: c.kind,
                party_id: c.party_id,
                label: c.label,
                records: c.records,
                elapsed_seconds: secs(c.elapsed_us),
            })
            .collect(),
    }
}

fn csv_response(body: String) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"sla-report.csv\""));
    res
}

async fn run_report(
    st: &AppState,
    caller: &Caller,
    raw: Option<&str>,
) -> Result<varde_store::sla::reports::Report, AppError> {
    let q: ReportQuery = parse_query(raw)?;
    let p = svc::report_params(q.from.as_deref(), q.to.as_deref(), q.group_by.as_deref(), q.kind.as_deref())?;
    svc::report(&st.store, caller, &p).await
}

#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "sla", params(ReportQuery),
    responses((status = 200, body = ReportView, description = "JSON, or CSV with Accept: text/csv"), (status = 422, body = Problem)))]
pub async fn report(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let r = run_report(&st, &caller, raw.as_deref()).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with("text/csv")));
    if wants_csv {
        return Ok(csv_response(svc::report_csv(&r)));
    }
    Ok(Json(report_view(r)).into_response())
}

#[utoipa::path(get, path = "/api/v1/reports/sla.csv", tag = "sla", params(ReportQuery),
    responses((status = 200, content_type = "text/csv", description = "The compliance rows as CSV"), (status = 422, body = Problem)))]
pub async fn report_csv(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let r = run_report(&st, &caller, raw.as_deref()).await?;
    Ok(csv_response(svc::report_csv(&r)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// Date or RFC 3339 instant: SLA clocks stopped from `from` up to `to` are replayed (`to` as
    /// an instant is not included; as a date it includes that whole day, UTC).
    pub from: String,
    pub to: String,
    /// A calendar spec (as for /api/v1/calendars) to measure on instead.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub calendar: Option<varde_domain::sla::calendar::CalendarSpec>,
    /// Replace only this calendar; absent = every target's calendar.
    #[serde(default)]
    pub calendar_id: Option<i64>,
    #[serde(default)]
    pub targets: Vec<WhatIfTarget>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfTarget {
    pub agreement_id: i64,
    /// The target's name: response, resolution, ...
    pub name: String,
    /// Only records of this priority; absent = all.
    #[serde(default)]
    pub priority: Option<i64>,
    pub minutes: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhatIfView {
    pub clocks: i64,
    #[schema(value_type = Vec<Object>)]
    pub agreements: Vec<varde_store::sla::reports::WhatIfRow>,
    #[schema(value_type = Vec<Object>)]
    pub changed: Vec<varde_store::sla::reports::WhatIfChange>,
}

#[utoipa::path(post, path = "/api/v1/reports/sla/what-if", tag = "sla", request_body = WhatIfRequest,
    responses((status = 200, body = WhatIfView), (status = 422, body = Problem)))]
pub async fn what_if(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<WhatIfRequest>,
) -> Result<Json<WhatIfView>, AppError> {
    let b = body.value;
    let p = svc::report_params(Some(&b.from), Some(&b.to), None, None)?;
    if let Some(spec) = &b.calendar {
        varde_domain::sla::calendar::Calendar::compile(spec).map_err(|e| match e {
            varde_domain::DomainError::Invalid(f) => AppError::Invalid(
                f.into_iter()
                    .map(|x| varde_domain::FieldError::new(format!("calendar.{}", x.field), x.message))
                    .collect(),
            ),
            other => other.into(),
        })?;
    }
    let w = varde_store::sla::reports::WhatIf {
        from: p.from,
        to: p.to,
        calendar: b.calendar,
        calendar_id: b.calendar_id,
        targets: b
            .targets
            .into_iter()
            .map(|t| varde_store::sla::reports::TargetChange {
                agreement_id: t.agreement_id,
                name: t.name,
                priority: t.priority,
                minutes: t.minutes,
            })
            .collect(),
    };
    let r = svc::what_if(&st.store, &caller, w).await?;
    Ok(Json(WhatIfView { clocks: r.clocks, agreements: r.rows, changed: r.changed }))
}
