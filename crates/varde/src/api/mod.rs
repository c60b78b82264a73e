//! The REST API under `/api/v1`: JSON in and out, RFC 9457 problems on
//! errors, ETag/If-Match on records, Idempotency-Key on creates, keyset
//! pagination, and the OpenAPI document made from this code.

pub mod calendars;
pub mod cmdb;
mod directory;
pub mod incidents;
pub mod knowledge;
pub mod openapi;
pub mod problems;
pub mod sla;

use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderMap};
use axum::routing::{delete, get, post, put};
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use varde_store::incidents::Cursor;

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state.config.max_attachment_bytes + 256 * 1024;
    Router::new()
        .route("/incidents", get(incidents::list).post(incidents::create))
        .route("/incidents/{id}", get(incidents::read).patch(incidents::update))
        .route("/incidents/{id}/journal", get(incidents::journal).post(incidents::add_journal))
        .route(
            "/incidents/{id}/attachments",
            get(incidents::attachments).post(incidents::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/incidents/{id}/links", get(incidents::links).post(incidents::add_link))
        .route("/incidents/{id}/links/{link_id}", delete(incidents::remove_link))
        .route("/incidents/{id}/watchers", get(incidents::watchers))
        .route("/incidents/{id}/watchers/{user_id}", put(incidents::add_watcher).delete(incidents::remove_watcher))
        .route("/incidents/{id}/history", get(incidents::history))
        .route("/attachments/{id}", get(incidents::download))
        .route("/users", get(directory::list_users).post(directory::create_user))
        .route("/users/me", get(directory::me))
        .route("/users/me/password", post(directory::change_password))
        .route("/users/me/tokens", get(directory::tokens).post(directory::create_token))
        .route("/users/me/tokens/{id}", delete(directory::revoke_token))
        .route("/users/{id}", get(directory::read_user).patch(directory::update_user))
        .route("/groups", get(directory::groups).post(directory::create_group))
        .route("/groups/{id}", get(directory::read_group))
        .route("/groups/{id}/members", get(directory::members))
        .route("/groups/{id}/manager", put(directory::set_manager))
        .route("/groups/{id}/members/{user_id}", put(directory::add_member).delete(directory::remove_member))
        .route("/organisations", get(directory::organisations).post(directory::create_organisation))
        .route("/services", get(directory::services).post(directory::create_service))
        .route("/categories", get(directory::categories).post(directory::create_category))
        .route("/priority-matrix", get(directory::matrix).put(directory::set_matrix))
        .route("/settings/incidents", get(directory::incident_settings).put(directory::set_incident_settings))
        .route("/slas", get(sla::list).post(sla::create))
        .route("/slas/{id}", get(sla::read).patch(sla::update))
        .route("/suppliers", get(sla::suppliers).post(sla::create_supplier))
        .route("/incidents/{id}/sla", get(sla::record))
        .route("/incidents/{id}/supplier", put(sla::set_supplier))
        .route("/reports/sla", get(sla::report))
        .route("/reports/sla.csv", get(sla::report_csv))
        .route("/reports/sla/what-if", post(sla::what_if))
        .route("/notifications", get(sla::notifications))
        .route("/notifications/count", get(sla::notification_count))
        .route("/notifications/read", post(sla::read_all_notifications))
        .route("/notifications/{id}/read", post(sla::read_notification))
        .route("/calendars", get(calendars::list).post(calendars::create))
        .route("/calendars/{id}", get(calendars::read).patch(calendars::update).delete(calendars::remove))
        .route("/calendars/{id}/business-time", get(calendars::business_time))
        .route("/calendars/{id}/holidays/import", post(calendars::import_holidays))
        .merge(cmdb_routes())
        .merge(knowledge_routes(upload_limit))
        // Set after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .fallback(|| async { AppError::NotFound })
        .layer(DefaultBodyLimit::max(1024 * 1024))
}

/// The CMDB's routes (kept together so merges of other areas stay apart).
fn cmdb_routes() -> Router<AppState> {
    Router::new()
        .route("/ci-classes", get(cmdb::list_classes).post(cmdb::create_class))
        .route("/ci-classes/{id}", get(cmdb::read_class).patch(cmdb::update_class))
        .route("/cis", get(cmdb::list).post(cmdb::create))
        .route("/cis.csv", get(cmdb::list_csv))
        .route("/cis/import", post(cmdb::import).layer(DefaultBodyLimit::max(64 * 1024 * 1024)))
        .route("/cis/{id}", get(cmdb::read).patch(cmdb::update))
        .route("/cis/{id}/relations", get(cmdb::relations).post(cmdb::add_relation))
        .route("/cis/{id}/relations/{relation_id}", delete(cmdb::end_relation))
        .route("/cis/{id}/impact", get(cmdb::impact))
        .route("/cis/{id}/history", get(cmdb::history))
        .route("/cis/{id}/diff", get(cmdb::diff))
        .route("/cis/{id}/incidents", get(cmdb::open_records))
        .route("/incidents/{id}/cis", get(cmdb::incident_cis).post(cmdb::link_incident_ci))
        .route("/incidents/{id}/cis/{ci_id}", delete(cmdb::unlink_incident_ci))
        .route("/problems/{id}/cis", get(cmdb::problem_cis).post(cmdb::link_problem_ci))
        .route("/problems/{id}/cis/{ci_id}", delete(cmdb::unlink_problem_ci))
        .route("/users/{id}/assets", get(cmdb::assets))
        .route("/users/{id}/checklists", get(cmdb::checklists).post(cmdb::create_checklist))
        .route("/checklists/{id}/items/{item_id}/done", post(cmdb::complete_item))
        .route("/reports/assets", get(cmdb::asset_report))
}

/// Problems, known errors, articles, search and the knowledge report.
fn knowledge_routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/problems", get(problems::list).post(problems::create))
        .route("/problems/{id}", get(problems::read).patch(problems::update))
        .route("/problems/{id}/incidents", get(problems::incidents).post(problems::link))
        .route("/problems/{id}/incidents/{incident}", delete(problems::unlink))
        .route("/incidents/{id}/workaround", post(problems::apply_workaround))
        .route("/incidents/{id}/suggestions", get(knowledge::incident_suggestions))
        .route("/incidents/{id}/articles", post(knowledge::resolved_by))
        .route("/incidents/{id}/draft-article", post(knowledge::draft_article))
        .route("/problem-candidates", get(problems::candidates))
        .route("/problem-candidates/detect", post(problems::detect))
        .route("/problem-candidates/{id}/accept", post(problems::accept))
        .route("/problem-candidates/{id}/reject", post(problems::reject))
        .route("/articles", get(knowledge::list).post(knowledge::create))
        .route("/articles/suggestions", get(knowledge::suggestions))
        .route("/articles/{id}", get(knowledge::read).patch(knowledge::update))
        .route("/articles/{id}/versions", get(knowledge::versions))
        .route("/articles/{id}/diff", get(knowledge::diff))
        .route("/articles/{id}/feedback", post(knowledge::feedback))
        .route(
            "/articles/{id}/attachments",
            get(knowledge::attachments).post(knowledge::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/deflections", post(knowledge::deflect))
        .route("/search", get(knowledge::search))
        .route("/reports/knowledge", get(knowledge::report))
        .route("/reports/knowledge.csv", get(knowledge::report_csv))
}

/// Path parameters; one that does not parse (`/users/abc`) is a problem
/// response like every other client error, not axum's plain-text one.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| AppError::BadRequest(e.body_text()))
    }
}

/// A JSON request body, with the raw bytes kept for idempotency digests.
/// Every way a body can be wrong becomes a problem response: wrong content
/// type (415), too big (413), not JSON or not UTF-8 (400), and wrong or
/// unknown fields (422, naming the field).
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" && mime != "application/merge-patch+json" {
            return Err(AppError::UnsupportedMediaType("send the body as application/json".into()));
        }
        let ApiBytes(raw) = ApiBytes::from_request(req, state).await?;
        let value = parse_json(&raw)?;
        Ok(ApiJson { value, raw })
    }
}

/// A request body as bytes (imports of CSV or JSON files), whose rejections
/// are problem responses too: too big (413) or unreadable (400).
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        Bytes::from_request(req, state).await.map(ApiBytes).map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge("the request body is larger than this endpoint takes".into())
            } else {
                AppError::BadRequest(format!("cannot read the body: {e}"))
            }
        })
    }
}

pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, AppError> {
    // Syntax first, over the whole body: the typed pass below stops reading
    // once it has its value, so `{...} trailing` would otherwise pass.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
        return Err(AppError::BadRequest(format!("the body is not valid JSON: {e}")));
    }
    // serde lets a struct be read from an array of its fields in order, so
    // `["x"]` would pass as `{"short_description": "x"}`. Every body this API
    // takes is an object.
    if raw.trim_ascii_start().first() != Some(&b'{') {
        return Err(AppError::field("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let msg = inner.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            let field = if path == "." {
                // serde names an unknown field only in its message.
                msg.split('`').nth(1).unwrap_or("body").to_string()
            } else {
                path
            };
            AppError::field(&field, &msg)
        } else {
            AppError::BadRequest(format!("the body is not valid JSON: {inner}"))
        }
    })?;
    Ok(value)
}

/// The `Idempotency-Key` of a create at `path`, scoped to the caller and
/// bound to the request (path and body): the same key with another body, or
/// sent to another endpoint, is refused rather than answered with what the
/// first request made, which might be another kind of thing.
pub fn idempotency_key(
    headers: &HeaderMap,
    caller: &crate::auth::Caller,
    path: &str,
    raw: &[u8],
) -> Result<Option<varde_store::idempotency::IdempotencyKey>, AppError> {
    use sha2::Digest;
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| AppError::field("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
    let mut hash = sha2::Sha256::new();
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(raw);
    let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(varde_store::idempotency::IdempotencyKey {
        user_id: caller.id(),
        key: key.to_string(),
        request_hash: digest,
    }))
}

/// Says on a create's answer that it repeats an earlier request's result
/// (`Idempotency-Key`).
pub fn mark_replayed(res: &mut axum::response::Response, replayed: bool) {
    if replayed {
        res.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
}

/// `If-Match: "3"` as a version; absent means "whatever is current".
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().map_err(|_| AppError::BadRequest("If-Match is not readable".into()))?.trim();
    if s == "*" {
        return Ok(None);
    }
    let version = s
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map_err(|_| AppError::BadRequest("If-Match must be an ETag this server gave, like \"3\"".into()))?;
    // A weak tag counts as its version. RFC 9110 (13.1.1) would have
    // If-Match compare strongly, but proxies that compress answers (nginx
    // with gzip) weaken the ETags they pass on, and a client behind one
    // could then never write. The tag is the record's version, which is
    // what a write must match either way.
    Ok(Some(version))
}

/// A 201 Created answer with `Location` naming the new resource.
pub fn created<T: Serialize>(location: String, body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut res = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// RFC 7232 `If-None-Match` on a read: a 304 with the ETag when the caller
/// already holds this version (a list of tags, weak tags and `*` all count,
/// RFC 9110 section 13.1.2), so every resource answers it the same way.
pub fn not_modified(headers: &HeaderMap, version: i64) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let inm = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let tag = etag(version);
    inm.split(',')
        .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag)
        .then(|| (axum::http::StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response())
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub fn encode_cursor(c: Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", c.key, c.id))
}

pub fn decode_cursor(s: &str) -> Result<Cursor, AppError> {
    let bad = || AppError::field("cursor", "is not a cursor this server gave");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (k, i) = text.split_once(':').ok_or_else(bad)?;
    Ok(Cursor { key: k.parse().map_err(|_| bad())?, id: i.parse().map_err(|_| bad())? })
}

pub const MAX_LIMIT: i64 = 200;

pub fn limit(v: Option<&str>) -> Result<i64, AppError> {
    match v {
        None => Ok(50),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(AppError::field("limit", "must be a whole number from 1 to 200")),
        },
    }
}

/// A page of results and where the next one starts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T: utoipa::ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An RFC 3339 instant from stored microseconds.
pub fn instant(micros: i64) -> String {
    varde_store::rfc3339::text(micros)
}

pub fn parse_instant(field: &str, s: &str) -> Result<i64, AppError> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|_| AppError::field(field, "must be an RFC 3339 instant like 2026-11-23T08:00:00Z"))
}
