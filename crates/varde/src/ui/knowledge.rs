//! Pages for problems, the known error database, knowledge articles, the
//! unified search, the incident's knowledge panel, portal suggestions and
//! the knowledge report. Rights are the service layer's; this presents.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use varde_domain::access::Permission;
use varde_domain::knowledge::DiffLine;
use varde_domain::problem::Problem;
use varde_store::knowledge::{Article, ArticleFilter, SearchHit};
use varde_store::problems::ProblemFilter;
use varde_store::recurring::Candidate;

use super::web::{is_htmx, render, render_status, see_other, when, Chrome, Errors, Form, Viewer};
use crate::api::knowledge::{report_period, report_view, ReportQuery, ReportView};
use crate::api::problems::{linked_view, LinkedIncidents};
use crate::error::AppError;
use crate::service::knowledge::{self as ksvc, render_markdown, CreateArticle, UpdateArticle};
use crate::service::problems::{self as psvc, CreateProblem, UpdateProblem};
use crate::state::AppState;

// --- search ---

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    /// `true`, `false` or empty (either).
    #[serde(default)]
    open: String,
    #[serde(default)]
    service_id: String,
}

#[derive(askama::Template)]
#[template(path = "kb_search.html")]
struct SearchPage {
    p: Chrome,
    q: String,
    kind: String,
    open: String,
    service_id: String,
    services: Vec<varde_store::catalog::Service>,
    hits: Vec<SearchHit>,
    errors: Errors,
    searched: bool,
}

impl SearchPage {
    fn href(&self, h: &SearchHit) -> String {
        hit_href(h, self.p.agent)
    }
    fn kinds(&self) -> [&'static str; 4] {
        ["incident", "problem", "known_error", "article"]
    }
}

fn hit_href(h: &SearchHit, agent: bool) -> String {
    match h.kind {
        "incident" if agent => format!("/incidents/{}", h.number),
        "incident" => format!("/portal/tickets/{}", h.number),
        "article" => format!("/kb/{}", h.number),
        _ => format!("/problems/{}", h.number),
    }
}

pub async fn search(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<SearchParams>,
) -> Result<Response, AppError> {
    let mut errors = Errors::none();
    let mut hits = Vec::new();
    let searched = !q.q.trim().is_empty();
    if searched {
        let some = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
        // The API's own reading of the filters, so both refuse alike.
        let query = crate::api::knowledge::SearchQuery {
            q: None,
            kind: None,
            limit: None,
            service_id: some(&q.service_id),
            updated_after: None,
            updated_before: None,
            open: some(&q.open),
        };
        let filter = crate::api::knowledge::search_filter(&query);
        let kinds = ksvc::kinds(Some(q.kind.as_str()).filter(|k| !k.is_empty()));
        match (kinds, filter) {
            (Ok(k), Ok(f)) => match ksvc::search(&st.store, &v.caller, &q.q, k, &f, 50).await {
                Ok(h) => hits = h,
                Err(e) => errors = Errors::from_app(e, &v.chrome.tr)?,
            },
            (Err(e), _) | (_, Err(e)) => errors = Errors::from_app(e, &v.chrome.tr)?,
        }
    }
    let services = st.store.services().await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = SearchPage {
        p: v.chrome("search"),
        q: q.q,
        kind: q.kind,
        open: q.open,
        service_id: q.service_id,
        services,
        hits,
        errors,
        searched,
    };
    render_status(status, &page)
}

// --- articles ---

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    version: String,
    /// `YYYY-MM-DD` from a date input; empty clears the date.
    #[serde(default)]
    review_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    /// Checkboxes `group_<id>` for a restricted audience (a form cannot
    /// carry a list in one field through serde_urlencoded).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

/// A date input's value as the instant the API takes: the start of that
/// day, UTC. Anything else is passed on for the service to refuse by name.
fn form_date(v: &Option<String>) -> Option<Option<String>> {
    let v = v.as_ref()?.trim();
    if v.is_empty() {
        return Some(None);
    }
    Some(Some(match v.parse::<jiff::civil::Date>() {
        Ok(d) => format!("{d}T00:00:00Z"),
        Err(_) => v.to_string(),
    }))
}

#[derive(askama::Template)]
#[template(path = "kb_list.html")]
struct ArticleList {
    p: Chrome,
    q: String,
    articles: Vec<Article>,
    f: ArticleForm,
    errors: Errors,
}

impl ArticleList {
    fn audiences(&self) -> [&'static str; 3] {
        ["internal", "public", "restricted"]
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
}

async fn list_page(
    st: &AppState,
    v: &Viewer,
    q: String,
    f: ArticleForm,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let filter = ArticleFilter { text: Some(q.clone()).filter(|t| !t.trim().is_empty()), ..ArticleFilter::default() };
    let articles = ksvc::list(&st.store, &v.caller, &filter, None, 100).await?;
    render_status(status, &ArticleList { p: v.chrome("kb"), q, articles, f, errors })
}

pub async fn articles(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ListParams>,
) -> Result<Response, AppError> {
    let f = ArticleForm { audience: "internal".into(), ..ArticleForm::default() };
    list_page(&st, &v, q.q, f, Errors::none(), StatusCode::OK).await
}

pub async fn create_article(State(st): State<AppState>, f: Form<ArticleForm>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let input = CreateArticle {
        title: f.value.title.clone(),
        body: f.value.body.clone(),
        audience: Some(f.value.audience.clone()),
        ..CreateArticle::default()
    };
    match ksvc::create(&st.store, &v.caller, input).await {
        Ok(a) => Ok(see_other(&format!("/kb/{}", a.number))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            list_page(&st, v, String::new(), f.value.clone(), errors, status).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "kb_article.html")]
struct ArticlePage {
    p: Chrome,
    a: Article,
    desk: bool,
    reviewer: bool,
    title: String,
    html: String,
    versions: Vec<i64>,
    attachments: Vec<super::incident::AttachmentRow>,
    /// Every assignment group, for the restricted audience (desk only).
    groups: Vec<varde_store::directory::Group>,
    errors: Errors,
    thanks: bool,
}

impl ArticlePage {
    /// A stored instant as a date input's value.
    fn date(&self, m: &Option<i64>) -> String {
        m.and_then(|m| jiff::Timestamp::from_microsecond(m).ok())
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_default()
    }
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
    fn audiences(&self) -> [&'static str; 3] {
        ["internal", "public", "restricted"]
    }
    /// The workflow steps offered to this person from this state.
    fn steps(&self) -> Vec<&'static str> {
        use varde_domain::knowledge::ArticleState::*;
        let mut s = Vec::new();
        match self.a.state {
            Draft => {
                s.push("review");
                if self.reviewer && !self.a.review_required {
                    s.push("published");
                }
            }
            Review => {
                s.push("draft");
                if self.reviewer {
                    s.push("published");
                }
            }
            Published => {
                if self.reviewer {
                    s.push("retired");
                }
            }
            Retired => s.push("draft"),
        }
        // A published text stays live while its next one is drafted or
        // reviewed; a reviewer may withdraw it then too (ADR 0008).
        if matches!(self.a.state, Draft | Review) && self.reviewer && self.a.readable() {
            s.push("retired");
        }
        s
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ArticleParams {
    #[serde(default)]
    thanks: Option<String>,
}

async fn article_page(
    st: &AppState,
    v: &Viewer,
    key: &str,
    errors: Errors,
    status: StatusCode,
    thanks: bool,
) -> Result<Response, AppError> {
    let a = if errors.is_empty() {
        ksvc::view(&st.store, &v.caller, key).await?
    } else {
        ksvc::get(&st.store, &v.caller, key).await?
    };
    let desk = v.agent();
    let (title, body) = if desk {
        (a.title.clone(), a.body.clone())
    } else {
        (a.published_title.clone().unwrap_or_default(), a.published_body.clone().unwrap_or_default())
    };
    let versions = if desk { (1..=a.current_version).collect() } else { Vec::new() };
    let attachments = st
        .store
        .attachments(a.id)
        .await?
        .into_iter()
        .map(|f| super::incident::AttachmentRow {
            id: f.id,
            filename: f.filename,
            size: f.size,
            at: when(f.created_at),
        })
        .collect();
    let groups = if desk { st.store.groups().await? } else { Vec::new() };
    let page = ArticlePage {
        attachments,
        groups,
        p: v.chrome("kb"),
        reviewer: v.caller.can(Permission::ReviewArticles),
        html: render_markdown(&body),
        title,
        a,
        desk,
        versions,
        errors,
        thanks,
    };
    render_status(status, &page)
}

pub async fn article(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
    Query(q): Query<ArticleParams>,
) -> Result<Response, AppError> {
    article_page(&st, &v, &number, Errors::none(), StatusCode::OK, q.thanks.is_some()).await
}

pub async fn update_article(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<ArticleForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let version = f.value.version.trim().parse::<i64>().ok();
    let change = UpdateArticle {
        title: Some(f.value.title.clone()),
        body: Some(f.value.body.clone()),
        audience: Some(f.value.audience.clone()).filter(|a| !a.is_empty()),
        review_at: form_date(&f.value.review_at),
        expires_at: form_date(&f.value.expires_at),
        // Only a form that offered the groups (it sends `groups_shown`) sets them.
        groups: f.value.rest.contains_key("groups_shown").then(|| {
            let mut g: Vec<i64> = f.value.rest.keys().filter_map(|k| k.strip_prefix("group_")?.parse().ok()).collect();
            g.sort_unstable();
            g
        }),
        ..UpdateArticle::default()
    };
    match ksvc::update(&st.store, &v.caller, &number, version, change).await {
        Ok(a) => Ok(see_other(&format!("/kb/{}", a.number))),
        Err(AppError::Stale { .. }) => {
            let mut errors = Errors::none();
            errors.general.push(v.chrome.tr.t("form.stale").to_string());
            article_page(&st, v, &number, errors, StatusCode::CONFLICT, false).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            article_page(&st, v, &number, errors, status, false).await
        }
    }
}

/// A file for the article, from its page (agents).
pub async fn upload(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
    headers: axum::http::HeaderMap,
    mp: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let mp = super::incident::csrf_checked(&v, &headers, mp).await?;
    let result = match crate::api::incidents::read_upload(mp).await {
        Ok((name, data)) => {
            ksvc::add_attachment(&st.store, &v.caller, &number, &name, data, st.config.max_attachment_bytes).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/kb/{number}#attachments"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            article_page(&st, &v, &number, errors, status, false).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StepForm {
    #[serde(default)]
    state: String,
}

pub async fn article_step(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<StepForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let change = UpdateArticle { state: Some(f.value.state.clone()), ..UpdateArticle::default() };
    match ksvc::update(&st.store, &v.caller, &number, None, change).await {
        Ok(a) => Ok(see_other(&format!("/kb/{}", a.number))),
        Err(e @ AppError::Forbidden) => Err(e),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            article_page(&st, v, &number, errors, status, false).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    helpful: String,
    #[serde(default)]
    comment: String,
}

pub async fn article_feedback(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<FeedbackForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let helpful = match f.value.helpful.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(AppError::field("helpful", "answer yes or no")),
    };
    let done = match helpful {
        Ok(h) => ksvc::feedback(&st.store, &v.caller, &number, h, &f.value.comment).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => Ok(see_other(&format!("/kb/{number}?thanks=1"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            article_page(&st, v, &number, errors, status, false).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "kb_diff.html")]
struct DiffPage {
    p: Chrome,
    number: String,
    from: i64,
    to: i64,
    lines: Vec<DiffLine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiffParams {
    from: Option<i64>,
    to: Option<i64>,
}

pub async fn article_diff(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
    Query(q): Query<DiffParams>,
) -> Result<Response, AppError> {
    let a = ksvc::get(&st.store, &v.caller, &number).await?;
    let to = q.to.unwrap_or(a.current_version);
    let from = q.from.unwrap_or((to - 1).max(1));
    let lines = ksvc::diff(&st.store, &v.caller, &number, from, to).await?;
    render(&DiffPage { p: v.chrome("kb"), number: a.number, from, to, lines })
}

// --- problems ---

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProblemForm {
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    priority: String,
}

#[derive(askama::Template)]
#[template(path = "problems.html")]
struct ProblemList {
    p: Chrome,
    problems: Vec<Problem>,
    candidates: Vec<Candidate>,
    known_only: bool,
    f: ProblemForm,
    errors: Errors,
    manager: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProblemParams {
    #[serde(default)]
    known_error: Option<String>,
}

async fn problems_page(
    st: &AppState,
    v: &Viewer,
    known_only: bool,
    f: ProblemForm,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let filter = ProblemFilter {
        states: if known_only { vec![varde_domain::problem::State::KnownError] } else { Vec::new() },
        ..ProblemFilter::default()
    };
    let problems = psvc::list(&st.store, &v.caller, &filter, None, 100).await?;
    let candidates = psvc::candidates(&st.store, &v.caller, Some("proposed")).await?;
    let manager = v.caller.can(Permission::ManageProblems);
    render_status(
        status,
        &ProblemList { p: v.chrome("problems"), problems, candidates, known_only, f, errors, manager },
    )
}

pub async fn problems(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ProblemParams>,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let f = ProblemForm { priority: "3".into(), ..ProblemForm::default() };
    problems_page(&st, &v, q.known_error.is_some(), f, Errors::none(), StatusCode::OK).await
}

pub async fn create_problem(State(st): State<AppState>, f: Form<ProblemForm>) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let input = CreateProblem {
        short_description: f.value.short_description.clone(),
        description: Some(f.value.description.clone()),
        priority: f.value.priority.trim().parse().ok().or(Some(0)),
        ..CreateProblem::default()
    };
    match psvc::create(&st.store, &v.caller, input, None).await {
        Ok((p, _)) => Ok(see_other(&format!("/problems/{}", p.number))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            problems_page(&st, v, false, f.value.clone(), errors, status).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CandidateForm {
    #[serde(default)]
    decision: String,
}

pub async fn decide_candidate(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<CandidateForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    match f.value.decision.as_str() {
        "accept" => {
            let p = psvc::accept(&st.store, &v.caller, id).await?;
            Ok(see_other(&format!("/problems/{}", p.number)))
        }
        "reject" => {
            psvc::reject(&st.store, &v.caller, id).await?;
            Ok(see_other("/problems"))
        }
        _ => Err(AppError::BadRequest("unknown decision".into())),
    }
}

pub async fn detect(State(st): State<AppState>, f: Form<CandidateForm>) -> Result<Response, AppError> {
    f.viewer.caller.require(Permission::ManageProblems)?;
    psvc::detect(&st.store).await?;
    Ok(see_other("/problems"))
}

#[derive(askama::Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    p: Chrome,
    pr: Problem,
    linked: LinkedIncidents,
    /// The affected CIs (changed on their own page, as an incident's are).
    cis: Vec<varde_store::cmdb::Ci>,
    errors: Errors,
    manager: bool,
}

impl ProblemPage {
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
    fn states(&self) -> Vec<&'static str> {
        let mut v = vec![self.pr.state.as_str()];
        v.extend(self.pr.state.next().iter().map(|s| s.as_str()));
        v
    }
    fn methods(&self) -> [&'static str; 4] {
        ["five_whys", "ishikawa", "fault_tree", "other"]
    }
    fn method(&self) -> &'static str {
        self.pr.rca_method.map(|m| m.as_str()).unwrap_or("")
    }
    fn hours(&self, secs: &i64) -> String {
        format!("{:.1}", *secs as f64 / 3600.0)
    }
    fn text<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

async fn problem_page(
    st: &AppState,
    v: &Viewer,
    key: &str,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let pr = psvc::get(&st.store, &v.caller, key).await?;
    let linked = linked_view(psvc::incidents(&st.store, &v.caller, key).await?);
    let (_, cis, _) =
        crate::service::cmdb::record_cis(&st.store, &v.caller, varde_domain::record::RecordKind::Problem, key).await?;
    let manager = v.caller.can(Permission::ManageProblems);
    render_status(status, &ProblemPage { p: v.chrome("problems"), pr, linked, cis, errors, manager })
}

pub async fn problem(State(st): State<AppState>, v: Viewer, Path(number): Path<String>) -> Result<Response, AppError> {
    problem_page(&st, &v, &number, Errors::none(), StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ProblemEdit {
    #[serde(default)]
    version: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    root_cause: String,
    #[serde(default)]
    rca_method: String,
    #[serde(default)]
    contributing_factors: String,
    #[serde(default)]
    workaround: String,
    #[serde(default)]
    permanent_fix: String,
    #[serde(default)]
    linked_incidents: String,
}

fn opt(s: &str) -> Option<Option<String>> {
    Some(Some(s.to_string()).filter(|v| !v.trim().is_empty()))
}

pub async fn update_problem(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<ProblemEdit>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let e = &f.value;
    let change = UpdateProblem {
        state: Some(e.state.clone()).filter(|s| !s.is_empty()),
        root_cause: opt(&e.root_cause),
        rca_method: opt(&e.rca_method),
        contributing_factors: opt(&e.contributing_factors),
        workaround: opt(&e.workaround),
        permanent_fix: opt(&e.permanent_fix),
        linked_incidents: Some(e.linked_incidents.clone()).filter(|s| !s.is_empty()),
        ..UpdateProblem::default()
    };
    match psvc::update(&st.store, &v.caller, &number, e.version.trim().parse().ok(), change).await {
        Ok(p) => Ok(see_other(&format!("/problems/{}", p.number))),
        Err(AppError::Stale { .. }) => {
            let mut errors = Errors::none();
            errors.general.push(v.chrome.tr.t("form.stale").to_string());
            problem_page(&st, v, &number, errors, StatusCode::CONFLICT).await
        }
        Err(err @ AppError::Forbidden) => Err(err),
        Err(err) => {
            let status = err.status();
            let errors = Errors::from_app(err, &v.chrome.tr)?;
            problem_page(&st, v, &number, errors, status).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    incident: String,
}

pub async fn link_incident(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<LinkForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    match psvc::link(&st.store, &v.caller, &number, f.value.incident.trim()).await {
        Ok(_) => Ok(see_other(&format!("/problems/{number}"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            problem_page(&st, v, &number, errors, status).await
        }
    }
}

// --- the incident's knowledge panel ---

#[derive(askama::Template)]
#[template(path = "kb_panel.html")]
struct Panel {
    p: Chrome,
    number: String,
    hits: Vec<SearchHit>,
    resolved: bool,
    fragment: bool,
}

/// The panel alone, for htmx to put into the incident page.
#[derive(askama::Template)]
#[template(path = "kb_panel_inner.html")]
struct PanelFragment {
    p: Chrome,
    number: String,
    hits: Vec<SearchHit>,
    resolved: bool,
    fragment: bool,
}

pub async fn incident_panel(
    State(st): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let hits = ksvc::for_incident(&st.store, &v.caller, &number).await?;
    let i = crate::service::incidents::get(&st.store, &v.caller, &number).await?;
    let resolved =
        matches!(i.lifecycle.state, varde_domain::incident::State::Resolved | varde_domain::incident::State::Closed);
    let p = v.chrome("queue");
    if is_htmx(&headers) {
        render(&PanelFragment { p, number: i.number, hits, resolved, fragment: true })
    } else {
        render(&Panel { p, number: i.number, hits, resolved, fragment: false })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    record: String,
    #[serde(default)]
    kind: String,
}

/// Applies a known error's workaround or records "resolved by article".
pub async fn incident_apply(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<ApplyForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    match f.value.kind.as_str() {
        "known_error" => {
            psvc::apply_workaround(&st.store, &v.caller, &number, &f.value.record).await?;
        }
        "article" => {
            ksvc::resolved_by(&st.store, &v.caller, &number, &f.value.record).await?;
        }
        _ => return Err(AppError::BadRequest("unknown kind".into())),
    }
    Ok(see_other(&format!("/incidents/{number}#journal")))
}

pub async fn incident_draft(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<ApplyForm>,
) -> Result<Response, AppError> {
    let a = ksvc::draft_from_incident(&st.store, &f.viewer.caller, &number).await?;
    Ok(see_other(&format!("/kb/{}", a.number)))
}

// --- portal: suggestions while typing, deflection ---

#[derive(askama::Template)]
#[template(path = "kb_suggestions.html")]
pub struct Suggestions {
    pub p: Chrome,
    pub hits: Vec<SearchHit>,
    pub subject: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SuggestParams {
    /// htmx sends the subject field as it is named in the form.
    #[serde(default, alias = "short_description")]
    q: String,
}

pub async fn portal_suggestions(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<SuggestParams>,
) -> Result<Response, AppError> {
    let hits =
        if q.q.trim().chars().count() >= 3 { ksvc::suggest(&st.store, &v.caller, &q.q, 5).await? } else { Vec::new() };
    render(&Suggestions { p: v.chrome("portal"), hits, subject: q.q })
}

/// The portal's suggestions for a subject (also used by the no-JS "check
/// for answers" button).
pub async fn suggestions_for(st: &AppState, v: &Viewer, subject: &str) -> Result<Vec<SearchHit>, AppError> {
    if subject.trim().chars().count() < 3 {
        return Ok(Vec::new());
    }
    ksvc::suggest(&st.store, &v.caller, subject, 5).await
}

#[derive(Debug, Default, Deserialize)]
pub struct DeflectForm {
    #[serde(default)]
    article: String,
    #[serde(default)]
    subject: String,
}

pub async fn portal_deflect(State(st): State<AppState>, f: Form<DeflectForm>) -> Result<Response, AppError> {
    ksvc::deflect(&st.store, &f.viewer.caller, &f.value.article, &f.value.subject).await?;
    Ok(see_other("/portal?deflected=1"))
}

// --- report ---

#[derive(askama::Template)]
#[template(path = "kb_report.html")]
struct ReportPage {
    p: Chrome,
    errors: Errors,
    /// The period as the form shows it: days, as on the SLA report.
    from: String,
    to: String,
    /// The CSV of the period shown.
    csv: String,
    /// None when the period was refused.
    r: Option<ReportView>,
}

impl ReportPage {
    fn pct(&self, v: &f64) -> String {
        format!("{:.1} %", v * 100.0)
    }
    /// An RFC 3339 instant of the report as the day it falls on (UTC).
    fn day<'a>(&self, instant: &'a str) -> &'a str {
        instant.get(..10).unwrap_or(instant)
    }
    fn hours(&self, secs: &i64) -> String {
        format!("{:.1}", *secs as f64 / 3600.0)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    from: Option<String>,
    to: Option<String>,
}

pub async fn report(State(st): State<AppState>, v: Viewer, Query(f): Query<ReportForm>) -> Result<Response, AppError> {
    v.require_agent()?;
    let day =
        |m: i64| jiff::Timestamp::from_microsecond(m).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default();
    let q = ReportQuery { from: f.from, to: f.to };
    let mut page = ReportPage {
        p: v.chrome("reports"),
        errors: Errors::none(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        csv: String::new(),
        r: None,
    };
    let (from, to) = match report_period(&q) {
        Ok(p) => p,
        Err(e) => {
            page.errors = Errors::from_app(e, &v.chrome.tr)?;
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if page.from.is_empty() {
        page.from = day(from);
    }
    if page.to.is_empty() {
        // The last day the period covers: a period ending at midnight shows
        // the day before, which the report reads back as through that day.
        page.to = day(to - 1);
    }
    // The exact instants, not the days the form shows: the default period
    // ends now, and the CSV must hold what the page does.
    let period = [("from", crate::api::instant(from)), ("to", crate::api::instant(to))];
    page.csv = format!("/api/v1/reports/knowledge.csv?{}", serde_urlencoded::to_string(period).unwrap_or_default());
    page.r = Some(report_view(&st, &v.caller, from, to).await?);
    render(&page)
}
