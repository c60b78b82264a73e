//! `/api/v1/incidents` and the record kernel's sub-resources.

use axum::extract::{Multipart, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use varde_domain::incident::{Channel, Incident, State as IncidentState};
use varde_store::audit::AuditEntry;
use varde_store::incidents::{AttachmentMeta, Cursor, Filter, JournalEntry, Link, Sort};

use super::{
    created, decode_cursor, encode_cursor, etag, if_match, instant, limit, parse_instant, ApiJson, ApiPath, Page,
};
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::service::incidents::{self as svc, CreateIncident, NewJournalEntry, NewLink, UpdateIncident};
use crate::state::AppState;

/// An incident as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub number: String,
    pub version: i64,
    pub state: String,
    pub hold_reason: Option<String>,
    pub short_description: String,
    pub description: String,
    pub requester_id: i64,
    pub created_by: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub reopen_count: i64,
    pub reassignment_count: i64,
    pub first_contact: bool,
    pub major: bool,
    pub channel: String,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
}

/// A queue row: the incident and when its next service level falls due.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueRow {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// RFC 3339: when the record's earliest running SLA clock falls due;
    /// null when none runs (none applies, all paused, met or breached).
    pub sla_due_at: Option<String>,
    /// Wall-clock seconds until `sla_due_at`, negative once it has passed
    /// (what `sort=sla_due` orders by).
    pub sla_due_in_seconds: Option<i64>,
}

impl From<&Incident> for IncidentView {
    fn from(i: &Incident) -> Self {
        IncidentView {
            id: i.id,
            number: i.number.clone(),
            version: i.version,
            state: i.lifecycle.state.as_str().into(),
            hold_reason: i.lifecycle.hold_reason.map(|h| h.as_str().into()),
            short_description: i.short_description.clone(),
            description: i.description.clone(),
            requester_id: i.requester_id,
            created_by: i.created_by,
            assignment_group_id: i.assignment_group_id,
            assignee_id: i.assignee_id,
            impact: i.impact.get(),
            urgency: i.urgency.get(),
            priority: i.priority.get(),
            category_id: i.category_id,
            service_id: i.service_id,
            resolution_code: i.lifecycle.resolution_code.map(|c| c.as_str().into()),
            resolution_notes: i.lifecycle.resolution_notes.clone(),
            reopen_count: i.lifecycle.reopen_count,
            reassignment_count: i.reassignment_count,
            first_contact: i.lifecycle.first_contact,
            major: i.major,
            channel: i.channel.as_str().into(),
            created_at: instant(i.created_at),
            updated_at: instant(i.updated_at),
            resolved_at: i.resolved_at.map(instant),
            closed_at: i.closed_at.map(instant),
        }
    }
}

fn with_etag(status: StatusCode, i: &Incident) -> Response {
    let mut res = (status, Json(IncidentView::from(i))).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(i.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// The query parameters of the incident list. Lists take comma-separated values.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// States, e.g. `new,in_progress`.
    pub state: Option<String>,
    /// `true` for open incidents (new, in progress, on hold), `false` for the rest.
    pub open: Option<String>,
    /// Priorities, e.g. `1,2`.
    pub priority: Option<String>,
    /// A group id, or `none`.
    pub assignment_group_id: Option<String>,
    /// A user id, `me`, or `none` (unassigned).
    pub assignee_id: Option<String>,
    pub requester_id: Option<String>,
    pub service_id: Option<String>,
    pub category_id: Option<String>,
    pub major: Option<String>,
    /// RFC 3339; created at or after.
    pub created_after: Option<String>,
    /// RFC 3339; created before.
    pub created_before: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
    /// Words to find in number, short description, description and journal.
    pub q: Option<String>,
    /// newest (default), oldest, priority, updated or sla_due (what breaches next first).
    pub sort: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub(crate) fn id_param(field: &str, v: &str) -> Result<i64, AppError> {
    v.parse().map_err(|_| AppError::field(field, "must be a numeric id"))
}

pub(crate) fn bool_param(field: &str, v: &str) -> Result<bool, AppError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(AppError::field(field, "must be true or false")),
    }
}

/// Turns list parameters into a store filter; shared with the UI's queues.
pub fn filter_from(q: &ListQuery, me: i64) -> Result<(Filter, Sort, Option<Cursor>, i64), AppError> {
    let mut f = Filter::default();
    let mut problems = Vec::new();
    let mut note = |r: Result<(), AppError>| {
        if let Err(AppError::Invalid(e)) = r {
            problems.extend(e);
        }
    };
    note((|| {
        if let Some(s) = &q.state {
            for part in s.split(',').filter(|p| !p.is_empty()) {
                f.states.push(IncidentState::parse("state", part)?);
            }
        }
        Ok(())
    })());
    note((|| {
        f.open = q.open.as_deref().map(|v| bool_param("open", v)).transpose()?;
        Ok(())
    })());
    note((|| {
        if let Some(s) = &q.priority {
            for part in s.split(',').filter(|p| !p.is_empty()) {
                match part.parse::<i64>() {
                    Ok(p) if (1..=5).contains(&p) => f.priorities.push(p),
                    _ => return Err(AppError::field("priority", "must be priorities from 1 to 5, like 1,2")),
                }
            }
        }
        Ok(())
    })());
    note((|| {
        f.assignment_group_id = match q.assignment_group_id.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(v) => Some(Some(id_param("assignment_group_id", v)?)),
        };
        f.assignee_id = match q.assignee_id.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some("me") => Some(Some(me)),
            Some(v) => Some(Some(id_param("assignee_id", v)?)),
        };
        Ok(())
    })());
    note((|| {
        f.requester_id = q.requester_id.as_deref().map(|v| id_param("requester_id", v)).transpose()?;
        Ok(())
    })());
    note((|| {
        f.service_id = q.service_id.as_deref().map(|v| id_param("service_id", v)).transpose()?;
        Ok(())
    })());
    note((|| {
        f.category_id = q.category_id.as_deref().map(|v| id_param("category_id", v)).transpose()?;
        Ok(())
    })());
    note((|| {
        f.major = q.major.as_deref().map(|v| bool_param("major", v)).transpose()?;
        Ok(())
    })());
    for (field, v, slot) in [
        ("created_after", &q.created_after, &mut f.created_from),
        ("created_before", &q.created_before, &mut f.created_to),
        ("updated_after", &q.updated_after, &mut f.updated_from),
        ("updated_before", &q.updated_before, &mut f.updated_to),
    ] {
        if let Some(v) = v {
            match parse_instant(field, v) {
                Ok(t) => *slot = Some(t),
                Err(AppError::Invalid(e)) => problems.extend(e),
                Err(_) => {}
            }
        }
    }
    if let Some(text) = &q.q {
        if text.chars().count() > 200 {
            problems.push(varde_domain::FieldError::new("q", "must be at most 200 characters"));
        } else if !text.trim().is_empty() {
            f.text = Some(text.clone());
        }
    }
    let sort = match q.sort.as_deref().map(Sort::parse).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(varde_domain::DomainError::Invalid(e)) => {
            problems.extend(e);
            Sort::default()
        }
        Err(_) => Sort::default(),
    };
    let cursor = match q.cursor.as_deref().map(decode_cursor).transpose() {
        Ok(c) => c,
        Err(AppError::Invalid(e)) => {
            problems.extend(e);
            None
        }
        Err(_) => None,
    };
    let lim = match limit(q.limit.as_deref()) {
        Ok(l) => l,
        Err(AppError::Invalid(e)) => {
            problems.extend(e);
            50
        }
        Err(_) => 50,
    };
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    Ok((f, sort, cursor, lim))
}

pub fn next_cursor(items: &[Incident], sort: Sort, limit: i64) -> Option<Cursor> {
    if (items.len() as i64) < limit {
        return None;
    }
    let last = items.last()?;
    let key = match sort {
        Sort::Priority => last.priority.get(),
        Sort::Updated => last.updated_at,
        Sort::Newest | Sort::Oldest => last.id,
        // Not on the incident itself: see `page_cursor`.
        Sort::SlaDue => return None,
    };
    Some(Cursor { key, id: last.id })
}

/// The cursor of the next page, for every sort (the SLA due instant is
/// looked up, as it lives with the clocks).
pub async fn page_cursor(
    store: &varde_store::Store,
    items: &[Incident],
    sort: Sort,
    limit: i64,
) -> Result<Option<Cursor>, AppError> {
    if sort != Sort::SlaDue {
        return Ok(next_cursor(items, sort, limit));
    }
    match items.last() {
        Some(last) if items.len() as i64 >= limit => {
            let due = store.sla_dues(&[last.id]).await?.get(&last.id).copied().flatten();
            Ok(Some(Cursor { key: due.unwrap_or(i64::MAX), id: last.id }))
        }
        _ => Ok(None),
    }
}

pub fn parse_query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, AppError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(s) => serde_urlencoded::from_str(s).map_err(|e| {
            let msg = e.to_string();
            let field = msg.split('`').nth(1).unwrap_or("query").to_string();
            AppError::field(&field, &msg)
        }),
    }
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, body = Page<QueueRow>), (status = 422, body = Problem)))]
pub async fn list(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q: ListQuery = parse_query(raw.as_deref())?;
    let (filter, sort, cursor, lim) = filter_from(&q, caller.id())?;
    let items = svc::list(&st.store, &caller, &filter, sort, cursor, lim).await?;
    let next = page_cursor(&st.store, &items, sort, lim).await?.map(encode_cursor);
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    let dues = st.store.sla_dues(&ids).await?;
    let now = varde_store::now_micros();
    let rows = items
        .iter()
        .map(|i| {
            let due = dues.get(&i.id).copied().flatten();
            QueueRow {
                incident: IncidentView::from(i),
                sla_due_at: due.map(super::instant),
                // Whole seconds towards zero, so "due in 0 s" lasts a second
                // either side of the instant.
                sla_due_in_seconds: due.map(|d| (d - now) / 1_000_000),
            }
        })
        .collect();
    Ok(Json(Page { items: rows, next_cursor: next }).into_response())
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = CreateIncident,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = IncidentView), (status = 422, body = Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CreateIncident>,
) -> Result<Response, AppError> {
    let idem = super::idempotency_key(&headers, &caller, "/api/v1/incidents", &body.raw)?;
    let (incident, replayed) = svc::create(&st.store, &caller, body.value, idem, Channel::Api).await?;
    let mut res = with_etag(StatusCode::CREATED, &incident);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/incidents/{}", incident.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Id or number (INC0000001)")),
    responses((status = 200, body = IncidentView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let incident = svc::get(&st.store, &caller, &id).await?;
    if let Some(res) = super::not_modified(&headers, incident.version) {
        return Ok(res);
    }
    Ok(with_etag(StatusCode::OK, &incident))
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = UpdateIncident,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read; a stale one gets 412")),
    responses((status = 200, body = IncidentView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateIncident>,
) -> Result<Response, AppError> {
    let expected = if_match(&headers)?;
    let incident = svc::update(&st.store, &caller, &id, expected, body.value).await?;
    Ok(with_etag(StatusCode::OK, &incident))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JournalView {
    pub id: i64,
    pub author_id: i64,
    pub kind: String,
    pub body: String,
    pub created_at: String,
}

impl From<JournalEntry> for JournalView {
    fn from(j: JournalEntry) -> Self {
        JournalView { id: j.id, author_id: j.author_id, kind: j.kind, body: j.body, created_at: instant(j.created_at) }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/journal", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<JournalView>)))]
pub async fn journal(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<JournalView>>, AppError> {
    Ok(Json(svc::journal(&st.store, &caller, &id).await?.into_iter().map(JournalView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/journal", tag = "incidents", params(("id" = String, Path)),
    request_body = NewJournalEntry, responses((status = 201, body = JournalView), (status = 422, body = Problem)))]
pub async fn add_journal(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<NewJournalEntry>,
) -> Result<(StatusCode, Json<JournalView>), AppError> {
    let e = svc::add_journal(&st.store, &caller, &id, body.value).await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: i64,
    pub created_at: String,
    pub href: String,
}

impl From<AttachmentMeta> for AttachmentView {
    fn from(a: AttachmentMeta) -> Self {
        AttachmentView {
            href: format!("/api/v1/attachments/{}", a.id),
            id: a.id,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
            uploaded_by: a.uploaded_by,
            created_at: instant(a.created_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/attachments", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<AttachmentView>)))]
pub async fn attachments(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<AttachmentView>>, AppError> {
    Ok(Json(svc::attachments(&st.store, &caller, &id).await?.into_iter().map(AttachmentView::from).collect()))
}

/// Reads the `file` part of a multipart upload.
pub async fn read_upload(mut mp: Multipart) -> Result<(String, Vec<u8>), AppError> {
    while let Some(field) = mp.next_field().await.map_err(upload_error)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("attachment").to_string();
            let data = field.bytes().await.map_err(upload_error)?;
            return Ok((name, data.to_vec()));
        }
    }
    Err(AppError::field("file", "is missing: send the file as the multipart field \"file\""))
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge("the attachment is too large".into())
    } else {
        AppError::BadRequest(format!("cannot read the upload: {}", e.body_text()))
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/attachments", tag = "incidents", params(("id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "The file in the field `file`"),
    responses((status = 201, body = AttachmentView), (status = 413, body = Problem)))]
pub async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let mp = mp.map_err(|e| AppError::UnsupportedMediaType(format!("send the file as multipart/form-data: {e}")))?;
    let (name, data) = read_upload(mp).await?;
    let meta = svc::add_attachment(&st.store, &caller, &id, &name, data, st.config.max_attachment_bytes).await?;
    let view = AttachmentView::from(meta);
    Ok(created(view.href.clone(), view))
}

/// Serves an attachment as a download that the browser will not render
/// inline or sniff into something executable.
pub fn attachment_response(meta: &AttachmentMeta, data: Vec<u8>) -> Response {
    let encoded = percent_encoding::utf8_percent_encode(&meta.filename, percent_encoding::NON_ALPHANUMERIC).to_string();
    let ascii: String =
        meta.filename.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut res = data.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("content-security-policy", HeaderValue::from_static("sandbox"));
    res
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = Problem)))]
pub async fn download(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    let (meta, data) = svc::attachment(&st.store, &caller, id).await?;
    Ok(attachment_response(&meta, data))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    /// relates_to, duplicate_of or caused_by, read from `from_id` to `to_id`.
    pub kind: String,
    pub created_by: i64,
    pub created_at: String,
}

impl From<Link> for LinkView {
    fn from(l: Link) -> Self {
        LinkView {
            id: l.id,
            from_id: l.from_id,
            to_id: l.to_id,
            kind: l.kind,
            created_by: l.created_by,
            created_at: instant(l.created_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/links", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<LinkView>)))]
pub async fn links(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<LinkView>>, AppError> {
    Ok(Json(svc::links(&st.store, &caller, &id).await?.into_iter().map(LinkView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/links", tag = "incidents", params(("id" = String, Path)),
    request_body = NewLink, responses((status = 201, body = LinkView), (status = 409, body = Problem)))]
pub async fn add_link(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<NewLink>,
) -> Result<Response, AppError> {
    let link = svc::add_link(&st.store, &caller, &id, body.value).await?;
    Ok(created(format!("/api/v1/incidents/{}/links/{}", link.from_id, link.id), LinkView::from(link)))
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/links/{link_id}", tag = "incidents",
    params(("id" = String, Path), ("link_id" = i64, Path)), responses((status = 204)))]
pub async fn remove_link(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, link)): ApiPath<(String, i64)>,
) -> Result<StatusCode, AppError> {
    svc::remove_link(&st.store, &caller, &id, link).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/watchers", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<i64>)))]
pub async fn watchers(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<i64>>, AppError> {
    let incident = svc::get(&st.store, &caller, &id).await?;
    Ok(Json(st.store.watchers(incident.id).await?))
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/watchers/{user_id}", tag = "incidents",
    params(("id" = String, Path), ("user_id" = i64, Path)), responses((status = 204)))]
pub async fn add_watcher(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, user)): ApiPath<(String, i64)>,
) -> Result<StatusCode, AppError> {
    svc::add_watcher(&st.store, &caller, &id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/watchers/{user_id}", tag = "incidents",
    params(("id" = String, Path), ("user_id" = i64, Path)), responses((status = 204)))]
pub async fn remove_watcher(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, user)): ApiPath<(String, i64)>,
) -> Result<StatusCode, AppError> {
    svc::remove_watcher(&st.store, &caller, &id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub actor_id: Option<i64>,
    pub at: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl From<AuditEntry> for HistoryView {
    fn from(a: AuditEntry) -> Self {
        HistoryView {
            actor_id: a.actor_id,
            at: instant(a.at),
            field: a.field,
            old_value: a.old_value,
            new_value: a.new_value,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/history", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<HistoryView>), (status = 403, body = Problem)))]
pub async fn history(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<HistoryView>>, AppError> {
    Ok(Json(svc::history(&st.store, &caller, &id).await?.into_iter().map(HistoryView::from).collect()))
}
