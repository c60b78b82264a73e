//! The requester portal: report an incident, follow one's tickets, talk to
//! the desk, and confirm or dispute a resolution. What a requester may see
//! and do is enforced by the service layer; this only presents it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use varde_domain::incident::{Channel, Incident};
use varde_store::incidents::{Filter, Sort};

use super::queue::user_names;
use super::web::{num, render_status, see_other, when, Chrome, Errors, Form, Viewer};
use crate::error::AppError;
use crate::service::incidents::{self as svc, CreateIncident, NewJournalEntry, UpdateIncident};
use crate::state::AppState;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    urgency: String,
}

#[derive(askama::Template)]
#[template(path = "portal.html")]
struct PortalPage {
    p: Chrome,
    f: ReportForm,
    errors: Errors,
    tickets: Vec<Incident>,
    /// Public articles matching the subject (see `knowledge::portal_suggestions`).
    hits: Vec<varde_store::knowledge::SearchHit>,
    subject: String,
    deflected: bool,
}

impl PortalPage {
    fn levels(&self) -> [i64; 3] {
        [1, 2, 3]
    }
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
}

async fn home_page(
    st: &AppState,
    v: &Viewer,
    f: ReportForm,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    page_with(st, v, f, errors, status, Vec::new(), false).await
}

async fn page_with(
    st: &AppState,
    v: &Viewer,
    f: ReportForm,
    errors: Errors,
    status: StatusCode,
    hits: Vec<varde_store::knowledge::SearchHit>,
    deflected: bool,
) -> Result<Response, AppError> {
    // "My tickets" means the ones I reported, whatever my role.
    let filter = Filter { requester_id: Some(v.caller.id()), ..Filter::default() };
    let tickets = svc::list(&st.store, &v.caller, &filter, Sort::Updated, None, 100).await?;
    let subject = f.short_description.clone();
    render_status(status, &PortalPage { p: v.chrome("portal"), f, errors, tickets, hits, subject, deflected })
}

#[derive(Debug, Default, Deserialize)]
pub struct HomeParams {
    #[serde(default)]
    deflected: Option<String>,
}

pub async fn home(
    State(st): State<AppState>,
    v: Viewer,
    axum::extract::Query(q): axum::extract::Query<HomeParams>,
) -> Result<Response, AppError> {
    let f = ReportForm { urgency: "2".into(), ..ReportForm::default() };
    page_with(&st, &v, f, Errors::none(), StatusCode::OK, Vec::new(), q.deflected.is_some()).await
}

/// Without JavaScript: "check for answers first" shows the matching public
/// articles beside the form, which keeps what was typed.
pub async fn check(State(st): State<AppState>, f: Form<ReportForm>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let hits = super::knowledge::suggestions_for(&st, v, &f.value.short_description).await?;
    page_with(&st, v, f.value.clone(), Errors::none(), StatusCode::OK, hits, false).await
}

pub async fn create(State(st): State<AppState>, f: Form<ReportForm>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let form = f.value.clone();
    let mut errors = Errors::none();
    let urgency = num(&mut errors, &v.chrome.tr, "urgency", &form.urgency);
    let input = CreateIncident {
        short_description: form.short_description.clone(),
        description: Some(form.description.clone()),
        urgency: Some(urgency),
        ..CreateIncident::default()
    };
    let result = if errors.is_empty() {
        svc::create(&st.store, &v.caller, input, None, Channel::Portal).await.map(|(i, _)| i)
    } else {
        Err(AppError::Invalid(Vec::new()))
    };
    match result {
        Ok(i) => Ok(see_other(&format!("/portal/tickets/{}", i.number))),
        Err(e) => {
            let status = e.status();
            for (field, msg) in Errors::from_app(e, &v.chrome.tr)?.fields() {
                errors.push(field, msg);
            }
            home_page(&st, v, form, errors, status).await
        }
    }
}

pub struct Message {
    pub author: String,
    pub body: String,
    pub at: String,
    pub system: bool,
}

#[derive(askama::Template)]
#[template(path = "portal_ticket.html")]
struct TicketPage {
    p: Chrome,
    i: Incident,
    messages: Vec<Message>,
    /// The ticket's files, which its reader may download (`/attachments/{id}`).
    files: Vec<varde_store::incidents::AttachmentMeta>,
    errors: Errors,
}

impl TicketPage {
    fn state(&self) -> &'static str {
        self.i.lifecycle.state.as_str()
    }
    fn resolved(&self) -> bool {
        self.i.lifecycle.state == varde_domain::incident::State::Resolved
    }
    fn is_final(&self) -> bool {
        self.i.lifecycle.state.is_final()
    }
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
}

async fn ticket_page(
    st: &AppState,
    v: &Viewer,
    number: &str,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let i = svc::get(&st.store, &v.caller, number).await?;
    // Only what the requester may read: never work notes, whoever looks.
    let entries: Vec<_> = svc::journal(&st.store, &v.caller, number)
        .await?
        .into_iter()
        .filter(|e| {
            varde_domain::record::JournalKind::parse("kind", &e.kind).map(|k| k.visible_to_requester()).unwrap_or(false)
        })
        .collect();
    let ids: Vec<i64> = entries.iter().map(|e| e.author_id).collect();
    let names = user_names(&st.store, ids).await?;
    let messages = entries
        .into_iter()
        .map(|e| Message {
            author: names.get(&e.author_id).cloned().unwrap_or_default(),
            system: e.kind == "system",
            body: e.body,
            at: when(e.created_at),
        })
        .collect();
    let files = svc::attachments(&st.store, &v.caller, number).await?;
    render_status(status, &TicketPage { p: v.chrome("portal"), i, messages, files, errors })
}

pub async fn ticket(State(st): State<AppState>, v: Viewer, Path(number): Path<String>) -> Result<Response, AppError> {
    ticket_page(&st, &v, &number, Errors::none(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
}

pub async fn reply(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<ReplyForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let entry = NewJournalEntry { kind: "reply".into(), body: f.value.body };
    match svc::add_journal(&st.store, &v.caller, &number, entry).await {
        Ok(_) => Ok(see_other(&format!("/portal/tickets/{number}"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            ticket_page(&st, v, &number, errors, status).await
        }
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    version: String,
}

/// "Confirm resolution" closes; "Reopen" sends it back to the desk.
pub async fn decide(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<DecisionForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let state = match f.value.decision.as_str() {
        "confirm" => "closed",
        "reopen" => "in_progress",
        _ => return Err(AppError::BadRequest("unknown decision".into())),
    };
    let mut errors = Errors::none();
    let version = num(&mut errors, &v.chrome.tr, "version", &f.value.version);
    if !errors.is_empty() {
        return ticket_page(&st, v, &number, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let change = UpdateIncident { state: Some(state.into()), ..UpdateIncident::default() };
    match svc::update(&st.store, &v.caller, &number, Some(version), change).await {
        Ok(_) => Ok(see_other(&format!("/portal/tickets/{number}"))),
        Err(AppError::Stale { .. }) => {
            let mut errors = Errors::none();
            errors.general.push(v.chrome.tr.t("portal.stale").to_string());
            ticket_page(&st, v, &number, errors, StatusCode::CONFLICT).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            ticket_page(&st, v, &number, errors, status).await
        }
    }
}
