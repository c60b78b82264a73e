//! Business calendars: `/api/v1/calendars`, holiday import from iCalendar, and a
//! business-time helper that answers due-instant questions on a calendar.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use varde_domain::sla::calendar::{DateOverride, Exception, WeeklyHours};
use varde_store::calendars::CalendarRecord;

use super::incidents::parse_query;
use super::{etag, if_match, instant, limit, parse_json, ApiBytes, ApiJson, ApiPath, Page};
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::service::calendars::{self as svc, BusinessTime, BusinessTimeQuery, CalendarInput, ImportOutcome};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub weekly: WeeklyHours,
    #[schema(value_type = Vec<Object>)]
    pub exceptions: Vec<Exception>,
    #[schema(value_type = Vec<Object>)]
    pub overrides: Vec<DateOverride>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&CalendarRecord> for CalendarView {
    fn from(c: &CalendarRecord) -> Self {
        CalendarView {
            id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            time_zone: c.spec.time_zone.clone(),
            weekly: c.spec.weekly.clone(),
            exceptions: c.spec.exceptions.clone(),
            overrides: c.spec.overrides.clone(),
            version: c.version,
            created_at: instant(c.created_at),
            updated_at: instant(c.updated_at),
        }
    }
}

fn calendar_response(status: StatusCode, c: &CalendarRecord) -> Response {
    let mut res = (status, Json(CalendarView::from(c))).into_response();
    res.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag(c.version)).expect("ascii"));
    if status == StatusCode::CREATED {
        res.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_str(&format!("/api/v1/calendars/{}", c.id)).expect("ascii"));
    }
    res
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// Part of the name, any case.
    pub q: Option<String>,
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/calendars", tag = "calendars", params(CalendarQuery),
    responses((status = 200, body = Page<CalendarView>), (status = 403, body = Problem)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<CalendarView>>, AppError> {
    let q: CalendarQuery = parse_query(raw.as_deref())?;
    let lim = limit(q.limit.as_deref())?;
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c.parse().map_err(|_| AppError::field("cursor", "is not a cursor this server gave"))?,
    };
    let items = svc::list(&st.store, &caller, after, lim, q.q.as_deref().filter(|s| !s.trim().is_empty())).await?;
    let next = (items.len() as i64 == lim).then(|| items.last().map(|c| c.id.to_string())).flatten();
    Ok(Json(Page { items: items.iter().map(CalendarView::from).collect(), next_cursor: next }))
}

#[utoipa::path(post, path = "/api/v1/calendars", tag = "calendars", request_body = CalendarInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = CalendarView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CalendarInput>,
) -> Result<Response, AppError> {
    let idem = super::idempotency_key(&headers, &caller, "/api/v1/calendars", &body.raw)?;
    let (c, replayed) = svc::create(&st.store, &caller, body.value, idem).await?;
    let mut res = calendar_response(StatusCode::CREATED, &c);
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "calendars", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarView, headers(("ETag" = String))), (status = 304), (status = 404, body = Problem)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let c = svc::get(&st.store, &caller, id).await?;
    if let Some(res) = super::not_modified(&headers, c.version) {
        return Ok(res);
    }
    Ok(calendar_response(StatusCode::OK, &c))
}

#[utoipa::path(patch, path = "/api/v1/calendars/{id}", tag = "calendars", params(("id" = i64, Path)),
    request_body(content = Object, description = "JSON merge patch (RFC 7396) of the calendar's fields", content_type = "application/merge-patch+json"),
    responses((status = 200, body = CalendarView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: ApiJson<Value>,
) -> Result<Response, AppError> {
    if !body.value.is_object() {
        return Err(AppError::field("body", "must be a JSON object"));
    }
    let c = svc::update(&st.store, &caller, id, if_match(&headers)?, body.value).await?;
    Ok(calendar_response(StatusCode::OK, &c))
}

#[utoipa::path(delete, path = "/api/v1/calendars/{id}", tag = "calendars", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = Problem, description = "Still used by agreements"), (status = 412, body = Problem)))]
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    svc::delete(&st.store, &caller, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}/business-time", tag = "calendars",
    params(("id" = i64, Path), BusinessTimeQuery),
    responses((status = 200, body = BusinessTime), (status = 422, body = Problem)))]
pub async fn business_time(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<BusinessTime>, AppError> {
    let q: BusinessTimeQuery = parse_query(raw.as_deref())?;
    Ok(Json(svc::business_time(&st.store, &caller, id, &q).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: read and validate the file and report what would be added, changing nothing.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IcsBody {
    ics: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportView {
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    /// The calendar after the import (as it is, in a dry run).
    pub calendar: CalendarView,
}

#[utoipa::path(post, path = "/api/v1/calendars/{id}/holidays/import", tag = "calendars",
    params(("id" = i64, Path), ImportQuery),
    request_body(content = String, description = "An iCalendar file (text/calendar), or JSON {\"ics\": \"...\"}", content_type = "text/calendar"),
    responses((status = 200, body = ImportView), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn import_holidays(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, AppError> {
    let q: ImportQuery = parse_query(raw.as_deref())?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let text = match mime.as_str() {
        "text/calendar" | "text/plain" => String::from_utf8(body.to_vec())
            .map_err(|_| AppError::field("ics", "the file is not UTF-8 text (RFC 5545 files are UTF-8)"))?,
        "application/json" => parse_json::<IcsBody>(&body)?.ics,
        _ => {
            return Err(AppError::UnsupportedMediaType(
                "send the file as text/calendar, or JSON {\"ics\": \"...\"} as application/json".into(),
            ))
        }
    };
    let dry_run = q.dry_run.unwrap_or(false);
    let (outcome, calendar) = svc::import_holidays(&st.store, &caller, id, if_match(&headers)?, &text, dry_run).await?;
    let version = calendar.version;
    let mut res = Json(ImportView { outcome, calendar: CalendarView::from(&calendar) }).into_response();
    res.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag(version)).expect("ascii"));
    Ok(res)
}
