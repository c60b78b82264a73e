//! `/api/v1/articles`, `/api/v1/search`, suggestions, deflections and the
//! knowledge report.

use axum::extract::{Multipart, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use varde_domain::access::Permission;
use varde_domain::knowledge::{ArticleState, Audience};
use varde_store::incidents::Cursor;
use varde_store::knowledge::{Article, ArticleFilter, ProblemFigure, SearchFilter, SearchHit};

use super::incidents::{parse_query, AttachmentView};
use super::{
    created, decode_cursor, encode_cursor, etag, idempotency_key, if_match, instant, limit, parse_instant, ApiJson,
    ApiPath, Page,
};
use crate::auth::Caller;
use crate::error::{AppError, Problem as ProblemDetails};
use crate::service::knowledge::{self as svc, render_markdown, CreateArticle, UpdateArticle};
use crate::service::sla::csv_cell;
use crate::state::AppState;

/// An article. The desk sees the working copy (`title`, `body`) beside the
/// published text; everyone else only the published text, as published
/// (its state, version number and author: not that a new text is pending).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArticleView {
    pub id: i64,
    pub number: String,
    pub version: i64,
    /// draft, review, published or retired.
    pub state: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// The body rendered to sanitised HTML.
    pub html: String,
    pub audience: String,
    pub groups: Vec<i64>,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub review_required: bool,
    pub current_version: i64,
    pub published_version: Option<i64>,
    pub published_title: Option<String>,
    pub published_at: Option<String>,
    pub review_at: Option<String>,
    pub expires_at: Option<String>,
    pub views: i64,
    pub helpful_yes: i64,
    pub helpful_no: i64,
    pub created_by: i64,
    pub current_author_id: i64,
    pub source_incident_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn article_view(a: &Article, desk: bool) -> ArticleView {
    // Readers get the published text only, never a draft's, nor a word of
    // one: what they read is the published version, whatever is pending.
    let (title, body, state, current_version, current_author_id) = if desk {
        (a.title.clone(), a.body.clone(), a.state, a.current_version, a.current_author_id)
    } else {
        (
            a.published_title.clone().unwrap_or_default(),
            a.published_body.clone().unwrap_or_default(),
            ArticleState::Published,
            a.published_version.unwrap_or(a.current_version),
            a.published_author_id.unwrap_or(a.current_author_id),
        )
    };
    ArticleView {
        id: a.id,
        number: a.number.clone(),
        version: a.version,
        state: state.as_str().into(),
        html: render_markdown(&body),
        title,
        body,
        audience: a.audience.as_str().into(),
        groups: if desk { a.groups.clone() } else { Vec::new() },
        category_id: a.category_id,
        service_id: a.service_id,
        review_required: a.review_required,
        current_version,
        published_version: a.published_version,
        published_title: a.published_title.clone(),
        published_at: a.published_at.map(instant),
        review_at: a.review_at.map(instant),
        expires_at: a.expires_at.map(instant),
        views: a.views,
        helpful_yes: a.helpful_yes,
        helpful_no: a.helpful_no,
        created_by: a.created_by,
        current_author_id,
        source_incident_id: a.source_incident_id,
        created_at: instant(a.created_at),
        updated_at: instant(a.updated_at),
    }
}

fn with_etag(status: StatusCode, a: &Article, caller: &Caller) -> Response {
    let mut res = (status, Json(article_view(a, caller.can(Permission::WorkRecords)))).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(a.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// States, e.g. `draft,review` (the desk only; readers see published articles).
    pub state: Option<String>,
    /// public, internal or restricted.
    pub audience: Option<String>,
    pub category_id: Option<String>,
    pub service_id: Option<String>,
    /// `true`: only articles whose review date has passed.
    pub review_due: Option<String>,
    pub q: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/articles", tag = "knowledge", params(ListQuery),
    responses((status = 200, body = Page<ArticleView>), (status = 422, body = ProblemDetails)))]
pub async fn list(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q: ListQuery = parse_query(raw.as_deref())?;
    let mut f = ArticleFilter::default();
    let mut errs = Vec::new();
    for part in q.state.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        match ArticleState::parse("state", part) {
            Ok(s) => f.states.push(s),
            Err(varde_domain::DomainError::Invalid(e)) => errs.extend(e),
            Err(_) => {}
        }
    }
    if let Some(a) = &q.audience {
        match Audience::parse("audience", a) {
            Ok(a) => f.audience = Some(a),
            Err(varde_domain::DomainError::Invalid(e)) => errs.extend(e),
            Err(_) => {}
        }
    }
    for (field, v, slot) in
        [("category_id", &q.category_id, &mut f.category_id), ("service_id", &q.service_id, &mut f.service_id)]
    {
        if let Some(v) = v {
            match v.parse() {
                Ok(n) => *slot = Some(n),
                Err(_) => errs.push(varde_domain::FieldError::new(field, "must be a numeric id")),
            }
        }
    }
    match q.review_due.as_deref() {
        None | Some("false") => {}
        Some("true") => f.review_due = true,
        Some(_) => errs.push(varde_domain::FieldError::new("review_due", "must be true or false")),
    }
    if let Some(t) = &q.q {
        if t.chars().count() > 200 {
            errs.push(varde_domain::FieldError::new("q", "must be at most 200 characters"));
        } else if !t.trim().is_empty() {
            f.text = Some(t.clone());
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
    let items = svc::list(&st.store, &caller, &f, cursor, lim).await?;
    let next = if items.len() as i64 == lim {
        items.last().map(|a| encode_cursor(Cursor { key: a.id, id: a.id }))
    } else {
        None
    };
    let desk = caller.can(Permission::WorkRecords);
    Ok(Json(Page { items: items.iter().map(|a| article_view(a, desk)).collect(), next_cursor: next }).into_response())
}

#[utoipa::path(post, path = "/api/v1/articles", tag = "knowledge", request_body = CreateArticle,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = ArticleView), (status = 422, body = ProblemDetails)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CreateArticle>,
) -> Result<Response, AppError> {
    let idem = idempotency_key(&headers, &caller, "/api/v1/articles", &body.raw)?;
    let (a, replayed) = svc::create_with_key(&st.store, &caller, body.value, idem).await?;
    let mut res = with_etag(StatusCode::CREATED, &a, &caller);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/articles/{}", a.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "Id or number (KB0000001)")),
    responses((status = 200, body = ArticleView, headers(("ETag" = String))), (status = 404, body = ProblemDetails)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    // No 304 here, unlike the other reads: the body carries view and
    // feedback counts that change without a new version, and readers and
    // the desk get different texts of one version. The ETag is for
    // If-Match on writes.
    let a = svc::view(&st.store, &caller, &id).await?;
    Ok(with_etag(StatusCode::OK, &a, &caller))
}

#[utoipa::path(patch, path = "/api/v1/articles/{id}", tag = "knowledge", request_body = UpdateArticle,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read; a stale one gets 412")),
    responses((status = 200, body = ArticleView), (status = 403, body = ProblemDetails), (status = 412, body = ProblemDetails),
              (status = 422, body = ProblemDetails)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateArticle>,
) -> Result<Response, AppError> {
    let expected = if_match(&headers)?;
    let a = svc::update(&st.store, &caller, &id, expected, body.value).await?;
    Ok(with_etag(StatusCode::OK, &a, &caller))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version_no: i64,
    pub title: String,
    pub body: String,
    pub author_id: i64,
    pub created_at: String,
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/versions", tag = "knowledge", params(("id" = String, Path)),
    responses((status = 200, body = Vec<VersionView>)))]
pub async fn versions(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<VersionView>>, AppError> {
    let list = svc::versions(&st.store, &caller, &id).await?;
    Ok(Json(
        list.into_iter()
            .map(|v| VersionView {
                version_no: v.version_no,
                title: v.title,
                body: v.body,
                author_id: v.author_id,
                created_at: instant(v.created_at),
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiffLineView {
    /// equal, insert or delete.
    pub tag: String,
    pub text: String,
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/diff", tag = "knowledge", params(("id" = String, Path), DiffQuery),
    responses((status = 200, body = Vec<DiffLineView>), (status = 422, body = ProblemDetails)))]
pub async fn diff(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<DiffLineView>>, AppError> {
    let q: DiffQuery = parse_query(raw.as_deref())?;
    let num = |field: &str, v: &Option<String>| {
        v.as_deref()
            .ok_or_else(|| AppError::field(field, "is required"))?
            .parse::<i64>()
            .map_err(|_| AppError::field(field, "must be a version number"))
    };
    let (from, to) = (num("from", &q.from)?, num("to", &q.to)?);
    let lines = svc::diff(&st.store, &caller, &id, from, to).await?;
    Ok(Json(lines.into_iter().map(|l| DiffLineView { tag: l.tag.into(), text: l.text }).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// Did this help?
    pub helpful: bool,
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/feedback", tag = "knowledge", params(("id" = String, Path)),
    request_body = Feedback, responses((status = 204), (status = 422, body = ProblemDetails)))]
pub async fn feedback(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<Feedback>,
) -> Result<StatusCode, AppError> {
    svc::feedback(&st.store, &caller, &id, body.value.helpful, &body.value.comment).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/attachments", tag = "knowledge", params(("id" = String, Path)),
    responses((status = 200, body = Vec<AttachmentView>)))]
pub async fn attachments(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<AttachmentView>>, AppError> {
    // Whoever may read the article may see its files.
    let a = svc::get(&st.store, &caller, &id).await?;
    Ok(Json(st.store.attachments(a.id).await?.into_iter().map(AttachmentView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/attachments", tag = "knowledge", params(("id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "The file in the field `file`"),
    responses((status = 201, body = AttachmentView), (status = 413, body = ProblemDetails)))]
pub async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    caller.require(Permission::WorkRecords)?;
    // An unknown article is answered before the file is read.
    svc::get(&st.store, &caller, &id).await?;
    let mp = mp.map_err(|e| AppError::UnsupportedMediaType(format!("send the file as multipart/form-data: {e}")))?;
    let (name, data) = super::incidents::read_upload(mp).await?;
    let meta = svc::add_attachment(&st.store, &caller, &id, &name, data, st.config.max_attachment_bytes).await?;
    let view = AttachmentView::from(meta);
    Ok(created(view.href.clone(), view))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHitView {
    /// incident, problem, known_error or article.
    pub kind: String,
    pub id: i64,
    pub number: String,
    pub title: String,
    pub state: String,
    /// HTML: escaped text with the matched words in `<mark>`.
    pub snippet: String,
    pub score: f64,
    pub href: String,
    pub updated_at: String,
}

impl From<SearchHit> for SearchHitView {
    fn from(h: SearchHit) -> Self {
        let collection = match h.kind {
            "incident" => "incidents",
            "article" => "articles",
            _ => "problems",
        };
        SearchHitView {
            href: format!("/api/v1/{collection}/{}", h.id),
            kind: h.kind.into(),
            id: h.id,
            number: h.number,
            title: h.title,
            state: h.state,
            snippet: h.snippet,
            score: h.score,
            updated_at: instant(h.updated_at),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words to find; each matches as a prefix or by its stem
    /// (English, Danish, Swedish, Dutch).
    pub q: Option<String>,
    /// incident, problem, known_error, article (comma-separated); default all.
    pub kind: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only records of this service (unified search only).
    pub service_id: Option<String>,
    /// Only records changed at or after this instant (RFC 3339).
    pub updated_after: Option<String>,
    /// Only records changed before this instant.
    pub updated_before: Option<String>,
    /// true: only open incidents and problems; false: only finished ones.
    /// Articles have neither state and are left out when it is given.
    pub open: Option<String>,
}

/// The unified search's filters from its query parameters; every bad one
/// is named in one answer.
pub fn search_filter(q: &SearchQuery) -> Result<SearchFilter, AppError> {
    use crate::api::incidents::{bool_param, id_param};
    let mut f = SearchFilter::default();
    let mut problems = Vec::new();
    let mut note = |r: Result<(), AppError>| {
        if let Err(AppError::Invalid(e)) = r {
            problems.extend(e);
        }
    };
    note(q.service_id.as_deref().map(|v| id_param("service_id", v)).transpose().map(|v| f.service_id = v));
    note(q.open.as_deref().map(|v| bool_param("open", v)).transpose().map(|v| f.open = v));
    note(q.updated_after.as_deref().map(|v| parse_instant("updated_after", v)).transpose().map(|v| f.updated_from = v));
    note(q.updated_before.as_deref().map(|v| parse_instant("updated_before", v)).transpose().map(|v| f.updated_to = v));
    if problems.is_empty() {
        Ok(f)
    } else {
        Err(AppError::Invalid(problems))
    }
}

fn search_limit(v: Option<&str>, default: usize) -> Result<usize, AppError> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(AppError::field("limit", "must be a whole number from 1 to 100")),
        },
    }
}

#[utoipa::path(get, path = "/api/v1/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, body = Vec<SearchHitView>), (status = 422, body = ProblemDetails)))]
pub async fn search(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SearchHitView>>, AppError> {
    let q: SearchQuery = parse_query(raw.as_deref())?;
    let kinds = svc::kinds(q.kind.as_deref())?;
    let filter = search_filter(&q)?;
    let lim = search_limit(q.limit.as_deref(), 20)?;
    let hits = svc::search(&st.store, &caller, q.q.as_deref().unwrap_or(""), kinds, &filter, lim).await?;
    Ok(Json(hits.into_iter().map(SearchHitView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/articles/suggestions", tag = "knowledge", params(SearchQuery),
    responses((status = 200, body = Vec<SearchHitView>)))]
pub async fn suggestions(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SearchHitView>>, AppError> {
    let q: SearchQuery = parse_query(raw.as_deref())?;
    let lim = search_limit(q.limit.as_deref(), 5)?;
    let hits = svc::suggest(&st.store, &caller, q.q.as_deref().unwrap_or(""), lim).await?;
    Ok(Json(hits.into_iter().map(SearchHitView::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deflection {
    /// The article that solved it (id or number).
    pub article: String,
    /// What the requester was about to report.
    #[serde(default)]
    pub subject: String,
}

#[utoipa::path(post, path = "/api/v1/deflections", tag = "knowledge", request_body = Deflection,
    responses((status = 204, description = "Counted"), (status = 422, body = ProblemDetails)))]
pub async fn deflect(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<Deflection>,
) -> Result<StatusCode, AppError> {
    svc::deflect(&st.store, &caller, &body.value.article, &body.value.subject).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/suggestions", tag = "knowledge", params(("id" = String, Path)),
    responses((status = 200, body = Vec<SearchHitView>)))]
pub async fn incident_suggestions(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<SearchHitView>>, AppError> {
    let hits = svc::for_incident(&st.store, &caller, &id).await?;
    Ok(Json(hits.into_iter().map(SearchHitView::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedBy {
    /// The article (id or number).
    pub article: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/articles", tag = "knowledge", params(("id" = String, Path)),
    request_body = ResolvedBy,
    responses((status = 201, body = ArticleView, description = "Recorded: a resolved_by link and a journal line"),
              (status = 409, body = ProblemDetails)))]
pub async fn resolved_by(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<ResolvedBy>,
) -> Result<Response, AppError> {
    let a = svc::resolved_by(&st.store, &caller, &id, &body.value.article).await?;
    Ok(created(format!("/api/v1/articles/{}", a.id), article_view(&a, true)))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/draft-article", tag = "knowledge",
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = ArticleView), (status = 422, body = ProblemDetails)))]
pub async fn draft_article(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // The key is for this incident's draft: the path names it.
    let idem = idempotency_key(&headers, &caller, &format!("/api/v1/incidents/{id}/draft-article"), &[])?;
    let (a, replayed) = svc::draft_from_incident_with_key(&st.store, &caller, &id, idem).await?;
    let mut res = created(format!("/api/v1/articles/{}", a.id), article_view(&a, true));
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemFigureView {
    pub id: i64,
    pub number: String,
    pub short_description: String,
    pub state: String,
    pub incidents: i64,
    pub time_spent_seconds: i64,
    pub incidents_before_resolution: i64,
    pub incidents_after_resolution: i64,
    pub resolved_at: Option<String>,
}

impl From<ProblemFigure> for ProblemFigureView {
    fn from(p: ProblemFigure) -> Self {
        ProblemFigureView {
            id: p.id,
            number: p.number,
            short_description: p.short_description,
            state: p.state,
            incidents: p.incidents,
            time_spent_seconds: p.time_spent / 1_000_000,
            incidents_before_resolution: p.incidents_before_resolution,
            incidents_after_resolution: p.incidents_after_resolution,
            resolved_at: p.resolved_at.map(instant),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub from: String,
    pub to: String,
    pub resolved_incidents: i64,
    pub first_contact_resolved: i64,
    /// Resolved at first contact, of resolved incidents (0 to 1).
    pub first_contact_rate: f64,
    pub resolved_with_knowledge: i64,
    /// Resolved with an article or a known error's workaround, of resolved incidents.
    pub knowledge_rate: f64,
    pub deflections: i64,
    pub portal_incidents: i64,
    /// Deflections of (deflections + incidents reported in the portal).
    pub deflection_rate: f64,
    pub top_problems_by_incidents: Vec<ProblemFigureView>,
    pub top_problems_by_time: Vec<ProblemFigureView>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// A date (2026-11-01, UTC) or RFC 3339 instant; default 30 days ago.
    /// Incidents created in [from, to) count.
    pub from: Option<String>,
    /// Default now.
    pub to: Option<String>,
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The report's period, read as the SLA report reads its own (a date or an
/// instant, at most three years), so both report pages share one date form
/// and the page's CSV link is understood here.
pub fn report_period(q: &ReportQuery) -> Result<(i64, i64), AppError> {
    let p = crate::service::sla::report_params(q.from.as_deref(), q.to.as_deref(), None, None)?;
    Ok((p.from, p.to))
}

pub async fn report_view(st: &AppState, caller: &Caller, from: i64, to: i64) -> Result<ReportView, AppError> {
    let r = svc::report(&st.store, caller, from, to).await?;
    Ok(ReportView {
        from: instant(from),
        to: instant(to),
        first_contact_rate: ratio(r.first_contact_resolved, r.resolved_incidents),
        knowledge_rate: ratio(r.resolved_with_knowledge, r.resolved_incidents),
        deflection_rate: ratio(r.deflections, r.deflections + r.portal_incidents),
        resolved_incidents: r.resolved_incidents,
        first_contact_resolved: r.first_contact_resolved,
        resolved_with_knowledge: r.resolved_with_knowledge,
        deflections: r.deflections,
        portal_incidents: r.portal_incidents,
        top_problems_by_incidents: r.top_problems.into_iter().map(ProblemFigureView::from).collect(),
        top_problems_by_time: r.top_problems_by_time.into_iter().map(ProblemFigureView::from).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/reports/knowledge", tag = "knowledge", params(ReportQuery),
    responses((status = 200, body = ReportView), (status = 403, body = ProblemDetails)))]
pub async fn report(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReportView>, AppError> {
    let q: ReportQuery = parse_query(raw.as_deref())?;
    let (from, to) = report_period(&q)?;
    Ok(Json(report_view(&st, &caller, from, to).await?))
}

/// The problems of both top lists, each once, most incidents first and then
/// most time spent: one table a spreadsheet can sort further. The headline
/// rates stay in the JSON report and the page.
fn problems_csv(r: &ReportView) -> String {
    let mut rows: Vec<&ProblemFigureView> = Vec::new();
    for p in r.top_problems_by_incidents.iter().chain(&r.top_problems_by_time) {
        if !rows.iter().any(|x| x.id == p.id) {
            rows.push(p);
        }
    }
    rows.sort_by_key(|p| std::cmp::Reverse((p.incidents, p.time_spent_seconds, p.id)));
    let mut out = String::from(
        "number,short_description,state,resolved_at,incidents,time_spent_hours,incidents_before_resolution,incidents_after_resolution\r\n",
    );
    for p in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{:.2},{},{}\r\n",
            csv_cell(&p.number),
            csv_cell(&p.short_description),
            csv_cell(&p.state),
            p.resolved_at.as_deref().unwrap_or(""),
            p.incidents,
            p.time_spent_seconds as f64 / 3600.0,
            p.incidents_before_resolution,
            p.incidents_after_resolution
        ));
    }
    out
}

#[utoipa::path(get, path = "/api/v1/reports/knowledge.csv", tag = "knowledge", params(ReportQuery),
    responses((status = 200, content_type = "text/csv", description = "The top problems of both lists as CSV"),
        (status = 403, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn report_csv(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q: ReportQuery = parse_query(raw.as_deref())?;
    let (from, to) = report_period(&q)?;
    let r = report_view(&st, &caller, from, to).await?;
    let mut res = problems_csv(&r).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"knowledge-report.csv\""));
    Ok(res)
}

/// The OpenAPI paths of problems and knowledge, merged into the main document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        super::problems::list, super::problems::create, super::problems::read, super::problems::update,
        super::problems::incidents, super::problems::link, super::problems::unlink, super::problems::apply_workaround,
        super::problems::candidates, super::problems::detect, super::problems::accept, super::problems::reject,
        list, create, read, update, versions, diff, feedback, attachments, upload, search, suggestions, deflect,
        incident_suggestions, resolved_by, draft_article, report, report_csv,
    ),
    tags((name = "problems", description = "Problem management and the known error database"),
         (name = "knowledge", description = "Knowledge articles, unified search, deflection and reports")),
)]
pub struct KnowledgeDoc;
