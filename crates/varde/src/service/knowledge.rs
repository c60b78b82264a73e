//! The knowledge base as callers see it: who may write, review and read
//! articles; search and suggestions; deflection; the report.

use serde::Deserialize;
use varde_domain::access::{Permission, Role};
use varde_domain::error::Problems;
use varde_domain::incident::State as IncidentState;
use varde_domain::knowledge::{ArticleState, Audience, DiffLine};
use varde_domain::text;
use varde_store::idempotency::IdempotencyKey;
use varde_store::incidents::Cursor;
use varde_store::knowledge::{
    Article, ArticleFilter, ArticlePatch, NewArticle, Report, SearchFilter, SearchHit, SearchKinds, Viewer,
};
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

pub const TITLE_MAX: usize = 200;

pub fn viewer(caller: &Caller) -> Viewer {
    Viewer { user_id: caller.id(), agent: caller.can(Permission::WorkRecords), admin: caller.role() == Role::Admin }
}

/// Markdown to HTML that is safe to show: rendered with pulldown-cmark,
/// then cleaned by ammonia (no scripts, no event handlers, no `javascript:`
/// links; links get `rel="noopener noreferrer"`).
pub fn render_markdown(md: &str) -> String {
    let mut html = String::new();
    let opts = pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new_ext(md, opts));
    ammonia::clean(&html)
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArticle {
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub category_id: Option<i64>,
    #[serde(default)]
    pub service_id: Option<i64>,
    /// public (requesters too), internal (the desk) or restricted (the groups); default internal.
    #[serde(default)]
    pub audience: Option<String>,
    /// Group ids for a restricted article.
    #[serde(default)]
    pub groups: Vec<i64>,
    /// Default true: a second person must publish it.
    #[serde(default)]
    pub review_required: Option<bool>,
    /// RFC 3339: when the owner should review it again.
    #[serde(default)]
    pub review_at: Option<String>,
    /// RFC 3339: after this, requesters no longer see it.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArticle {
    #[serde(default, deserialize_with = "super::not_null")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub audience: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub groups: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub review_required: Option<bool>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub review_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    /// draft, review, published or retired: a workflow step, checked
    /// against the caller's rights after the other fields are applied.
    #[serde(default, deserialize_with = "super::not_null")]
    pub state: Option<String>,
}

fn instant(p: &mut Problems, field: &str, v: &str) -> Option<i64> {
    match v.parse::<jiff::Timestamp>() {
        Ok(t) => Some(t.as_microsecond()),
        Err(_) => {
            p.push(field, "must be an RFC 3339 instant like 2026-11-23T08:00:00Z");
            None
        }
    }
}

pub async fn create(store: &Store, caller: &Caller, input: CreateArticle) -> Result<Article, AppError> {
    Ok(create_with_key(store, caller, input, None).await?.0)
}

/// Creates an article; a retry under the same idempotency key returns the
/// first one (and `true`).
pub async fn create_with_key(
    store: &Store,
    caller: &Caller,
    input: CreateArticle,
    idem: Option<IdempotencyKey>,
) -> Result<(Article, bool), AppError> {
    caller.require(Permission::WorkRecords)?;
    let mut p = Problems::new();
    let title = p.check(text::line("title", &input.title, TITLE_MAX));
    let body = p.check(text::body("body", &input.body, text::LONG_TEXT_MAX));
    let audience = p.check(Audience::parse("audience", input.audience.as_deref().unwrap_or("internal")));
    let review_at = input.review_at.as_deref().and_then(|v| instant(&mut p, "review_at", v));
    let expires_at = input.expires_at.as_deref().and_then(|v| instant(&mut p, "expires_at", v));
    p.into_result()?;
    let (Some(title), Some(body), Some(audience)) = (title, body, audience) else { unreachable!() };
    keeps_its_writer(store, caller, audience, &input.groups).await?;
    let new = NewArticle {
        title,
        body,
        author: caller.id(),
        category_id: input.category_id,
        service_id: input.service_id,
        audience,
        groups: input.groups,
        review_required: input.review_required.unwrap_or(true),
        review_at,
        expires_at,
        source_incident_id: None,
    };
    Ok(store.create_article_with_key(new, idem).await?)
}

/// Attaches a file to an article (agents who may work records). Served as a
/// download with a sandbox CSP whatever it is (see `attachment_response`),
/// so it is stored as `application/octet-stream`.
pub async fn add_attachment(
    store: &Store,
    caller: &Caller,
    key: &str,
    filename: &str,
    data: Vec<u8>,
    max_bytes: usize,
) -> Result<varde_store::incidents::AttachmentMeta, AppError> {
    caller.require(Permission::WorkRecords)?;
    let a = get(store, caller, key).await?;
    let name = super::incidents::upload_name(filename, &data, max_bytes)?;
    Ok(store.add_attachment(a.id, name, "application/octet-stream".into(), data, caller.id()).await?)
}

/// Reads an article. The desk reads the working copy of any article it may
/// read; others only the published text of one they may read. Anyone else
/// hears it does not exist.
pub async fn get(store: &Store, caller: &Caller, key: &str) -> Result<Article, AppError> {
    let a = match key.parse::<i64>() {
        Ok(id) => store.article(id).await?,
        Err(_) => store.article_by_number(key).await?,
    };
    if !may_read(store, caller, &a).await? {
        return Err(AppError::NotFound);
    }
    Ok(a)
}

/// A restricted article is read by its groups (and administrators): one
/// made or changed by someone outside them would be lost to them at once.
async fn keeps_its_writer(store: &Store, caller: &Caller, audience: Audience, groups: &[i64]) -> Result<(), AppError> {
    let v = viewer(caller);
    if audience != Audience::Restricted || v.admin || groups.is_empty() {
        return Ok(());
    }
    let mine = store.groups_of(v.user_id).await?;
    if groups.iter().any(|g| mine.contains(g)) {
        return Ok(());
    }
    Err(AppError::field("groups", "name a group you belong to: a restricted article is read by its groups only"))
}

/// May the caller read this article (audience, groups, publication)?
pub async fn may_read(store: &Store, caller: &Caller, a: &Article) -> Result<bool, AppError> {
    let v = viewer(caller);
    let reader = varde_domain::knowledge::Reader {
        user_id: v.user_id,
        agent: v.agent,
        admin: v.admin,
        groups: if a.audience == Audience::Restricted && !v.admin {
            store.groups_of(v.user_id).await?
        } else {
            Vec::new()
        },
    };
    if !varde_domain::knowledge::may_read(&reader, a.audience, &a.groups) {
        return Ok(false);
    }
    Ok(v.agent || store.may_read_article(&v, a.id).await?)
}

/// Reads an article for showing it, and counts the view.
pub async fn view(store: &Store, caller: &Caller, key: &str) -> Result<Article, AppError> {
    let mut a = get(store, caller, key).await?;
    store.count_article_view(a.id).await?;
    a.views += 1;
    Ok(a)
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    key: &str,
    expected_version: Option<i64>,
    change: UpdateArticle,
) -> Result<Article, AppError> {
    caller.require(Permission::WorkRecords)?;
    let current = get(store, caller, key).await?;
    let mut p = Problems::new();
    let title = change.title.as_deref().and_then(|t| p.check(text::line("title", t, TITLE_MAX)));
    let body = change.body.as_deref().and_then(|b| p.check(text::body("body", b, text::LONG_TEXT_MAX)));
    let audience = change.audience.as_deref().and_then(|a| p.check(Audience::parse("audience", a)));
    let review_at = change.review_at.map(|v| v.and_then(|s| instant(&mut p, "review_at", &s)));
    let expires_at = change.expires_at.map(|v| v.and_then(|s| instant(&mut p, "expires_at", &s)));
    let state = change.state.as_deref().and_then(|s| p.check(ArticleState::parse("state", s)));
    p.into_result()?;
    let patch = ArticlePatch {
        title,
        body,
        category_id: change.category_id,
        service_id: change.service_id,
        audience,
        groups: change.groups,
        review_required: change.review_required,
        review_at,
        expires_at,
    };
    if patch.audience.is_some() || patch.groups.is_some() {
        let audience = patch.audience.unwrap_or(current.audience);
        keeps_its_writer(store, caller, audience, patch.groups.as_ref().unwrap_or(&current.groups)).await?;
    }
    let reviewer = caller.can(Permission::ReviewArticles);
    if patch.review_required == Some(false) && current.review_required && !reviewer {
        // Otherwise an author could switch review off and publish alone.
        return Err(AppError::field("review_required", "only a reviewer may waive review"));
    }
    if let Some(to) = state {
        // Decided before anything is written: a refused request keeps
        // none of its edits either.
        let moves = to != current.state || new_text(&patch, &current);
        if moves && matches!(to, ArticleState::Published | ArticleState::Retired) && !reviewer {
            return Err(AppError::Forbidden);
        }
    }
    // The edit and the step are one write: a step its rules refuse
    // leaves the edit unsaved too.
    Ok(store.edit_article(current.id, expected_version, patch, state, caller.id(), reviewer).await?)
}

/// Does the patch give the article a new title or body (a new version, in
/// draft again)?
fn new_text(patch: &ArticlePatch, a: &Article) -> bool {
    patch.title.as_ref().is_some_and(|t| *t != a.title) || patch.body.as_ref().is_some_and(|b| *b != a.body)
}

pub async fn list(
    store: &Store,
    caller: &Caller,
    filter: &ArticleFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Article>, AppError> {
    Ok(store.list_articles(&viewer(caller), filter, cursor, limit).await?)
}

pub async fn versions(
    store: &Store,
    caller: &Caller,
    key: &str,
) -> Result<Vec<varde_store::knowledge::ArticleVersion>, AppError> {
    caller.require(Permission::WorkRecords)?;
    let a = get(store, caller, key).await?;
    Ok(store.article_versions(a.id).await?)
}

/// The line diff between two versions of an article.
pub async fn diff(store: &Store, caller: &Caller, key: &str, from: i64, to: i64) -> Result<Vec<DiffLine>, AppError> {
    let versions = versions(store, caller, key).await?;
    let find = |field: &str, n: i64| {
        versions
            .iter()
            .find(|v| v.version_no == n)
            .ok_or_else(|| AppError::field(field, "is not a version of this article"))
    };
    let (a, b) = (find("from", from)?, find("to", to)?);
    let old = format!("# {}\n\n{}\n", a.title, a.body);
    let new = format!("# {}\n\n{}\n", b.title, b.body);
    Ok(varde_domain::knowledge::diff_lines(&old, &new))
}

pub async fn feedback(store: &Store, caller: &Caller, key: &str, helpful: bool, comment: &str) -> Result<(), AppError> {
    let a = get(store, caller, key).await?;
    if !a.readable() {
        return Err(AppError::Transition("only a published article takes feedback".into()));
    }
    let comment = text::body("comment", comment, 2000)?;
    Ok(store.add_article_feedback(a.id, caller.id(), helpful, comment).await?)
}

/// A requester's report that an article solved it: they did not file.
pub async fn deflect(store: &Store, caller: &Caller, article: &str, subject: &str) -> Result<(), AppError> {
    caller.require(Permission::UsePortal)?;
    let a = get(store, caller, article).await.map_err(|e| match e {
        AppError::NotFound => AppError::field("article", "refers to no article you may read"),
        other => other,
    })?;
    let subject = text::body("subject", subject, text::SHORT_DESCRIPTION_MAX)?;
    Ok(store.record_deflection(caller.id(), a.id, subject).await?)
}

/// Parses `kind=incident,article`; none means all.
pub fn kinds(v: Option<&str>) -> Result<SearchKinds, AppError> {
    let Some(v) = v.filter(|s| !s.is_empty()) else { return Ok(SearchKinds::ALL) };
    let mut k = SearchKinds { incidents: false, problems: false, known_errors: false, articles: false };
    for part in v.split(',') {
        match part {
            "incident" => k.incidents = true,
            "problem" => k.problems = true,
            "known_error" => k.known_errors = true,
            "article" => k.articles = true,
            _ => {
                return Err(AppError::field(
                    "kind",
                    "must be incident, problem, known_error or article (comma-separated)",
                ))
            }
        }
    }
    Ok(k)
}

pub async fn search(
    store: &Store,
    caller: &Caller,
    q: &str,
    kinds: SearchKinds,
    filter: &SearchFilter,
    limit: usize,
) -> Result<Vec<SearchHit>, AppError> {
    if q.chars().count() > 200 {
        return Err(AppError::field("q", "must be at most 200 characters"));
    }
    Ok(store.search_all(&viewer(caller), q, kinds, filter, limit).await?)
}

/// Articles (and for the desk, known errors) that may help with a text.
pub async fn suggest(store: &Store, caller: &Caller, q: &str, limit: usize) -> Result<Vec<SearchHit>, AppError> {
    if q.chars().count() > 200 {
        return Err(AppError::field("q", "must be at most 200 characters"));
    }
    let v = viewer(caller);
    Ok(store.suggestions(&v, q, None, None, !v.agent, limit).await?)
}

/// What may help with an incident: known errors and articles matching its
/// text, those of the same service or category first.
pub async fn for_incident(store: &Store, caller: &Caller, key: &str) -> Result<Vec<SearchHit>, AppError> {
    caller.require(Permission::WorkRecords)?;
    let i = crate::service::incidents::get(store, caller, key).await?;
    let text = format!("{} {}", i.short_description, i.description.chars().take(500).collect::<String>());
    Ok(store.suggestions(&viewer(caller), &text, i.service_id, i.category_id, false, 8).await?)
}

/// Records that an article resolved (or helped resolve) an incident.
pub async fn resolved_by(store: &Store, caller: &Caller, incident: &str, article: &str) -> Result<Article, AppError> {
    caller.require(Permission::WorkRecords)?;
    let i = crate::service::incidents::get(store, caller, incident).await?;
    if i.lifecycle.state.is_final() {
        return Err(AppError::Transition(format!("a {} incident cannot be changed", i.lifecycle.state.as_str())));
    }
    let a = get(store, caller, article).await.map_err(|e| match e {
        AppError::NotFound => AppError::field("article", "refers to no article you may read"),
        other => other,
    })?;
    if !a.readable() {
        return Err(AppError::field("article", "is not published"));
    }
    store.resolve_with_article(i.id, a.id, caller.id()).await?;
    Ok(a)
}

/// Drafts an internal article from a resolved incident: its subject, what
/// was reported and how it was resolved.
pub async fn draft_from_incident(store: &Store, caller: &Caller, incident: &str) -> Result<Article, AppError> {
    Ok(draft_from_incident_with_key(store, caller, incident, None).await?.0)
}

/// Drafts an article from an incident; a retry under the same idempotency
/// key returns the first draft (and `true`).
pub async fn draft_from_incident_with_key(
    store: &Store,
    caller: &Caller,
    incident: &str,
    idem: Option<IdempotencyKey>,
) -> Result<(Article, bool), AppError> {
    caller.require(Permission::WorkRecords)?;
    let i = crate::service::incidents::get(store, caller, incident).await?;
    if !matches!(i.lifecycle.state, IncidentState::Resolved | IncidentState::Closed) {
        return Err(AppError::Transition("only a resolved or closed incident can become an article".into()));
    }
    let title: String = i.short_description.chars().take(TITLE_MAX).collect();
    let body = format!(
        "## Symptom\n\n{}\n\n## Resolution\n\n{}\n",
        if i.description.is_empty() { &i.short_description } else { &i.description },
        i.lifecycle.resolution_notes.as_deref().unwrap_or("")
    );
    let new = NewArticle {
        title,
        body,
        author: caller.id(),
        category_id: i.category_id,
        service_id: i.service_id,
        audience: Audience::Internal,
        groups: Vec::new(),
        review_required: true,
        review_at: None,
        expires_at: None,
        source_incident_id: Some(i.id),
    };
    Ok(store.create_article_with_key(new, idem).await?)
}

pub async fn report(store: &Store, caller: &Caller, from: i64, to: i64) -> Result<Report, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.knowledge_report(from, to).await?)
}
