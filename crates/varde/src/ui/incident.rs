//! The agent's incident page (fields, edit form with optimistic locking,
//! state actions, journal, history, attachments, links) and the create form.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use varde_domain::access::Role;
use varde_domain::incident::{Channel, HoldReason, Incident, ResolutionCode, State as IncidentState};
use varde_store::catalog::{Category, Service};
use varde_store::directory::{Group, User};

use super::i18n::Tr;
use super::queue::{group_names, user_names};
use super::web::{check_csrf, opt_id, render_status, see_other, when, Chrome, Errors, Form, Viewer};
use crate::api::incidents::{attachment_response, read_upload};
use crate::error::AppError;
use crate::service::incidents::{self as svc, CreateIncident, NewJournalEntry, NewLink, UpdateIncident};
use crate::state::AppState;

/// The editable fields as the form holds them: text, so that what a person
/// typed survives a validation error unchanged.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct EditValues {
    #[serde(default)]
    pub short_description: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub impact: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub category_id: String,
    #[serde(default)]
    pub service_id: String,
    #[serde(default)]
    pub assignment_group_id: String,
    #[serde(default)]
    pub assignee_id: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub major: Option<String>,
}

impl EditValues {
    fn of(i: &Incident) -> EditValues {
        let id = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        EditValues {
            short_description: i.short_description.clone(),
            description: i.description.clone(),
            impact: i.impact.get().to_string(),
            urgency: i.urgency.get().to_string(),
            category_id: id(i.category_id),
            service_id: id(i.service_id),
            assignment_group_id: id(i.assignment_group_id),
            assignee_id: id(i.assignee_id),
            major: i.major.then(|| "on".into()),
        }
    }

    fn is_major(&self) -> bool {
        self.major.is_some()
    }

    /// (field, value) pairs, for telling which fields differ.
    fn pairs(&self) -> [(&'static str, String); 9] {
        [
            ("short_description", self.short_description.clone()),
            ("description", self.description.clone()),
            ("impact", self.impact.clone()),
            ("urgency", self.urgency.clone()),
            ("category_id", self.category_id.clone()),
            ("service_id", self.service_id.clone()),
            ("assignment_group_id", self.assignment_group_id.clone()),
            ("assignee_id", self.assignee_id.clone()),
            ("major", if self.is_major() { "yes".into() } else { "no".into() }),
        ]
    }
}

/// The lists the selects offer.
pub struct Options {
    pub categories: Vec<(i64, String)>,
    pub services: Vec<Service>,
    pub groups: Vec<Group>,
    pub agents: Vec<User>,
}

impl Options {
    async fn load(st: &AppState) -> Result<Options, AppError> {
        let categories = category_paths(st.store.categories().await?);
        let agents = st
            .store
            .list_users(0, 1000, None)
            .await?
            .into_iter()
            .filter(|u| u.active && u.role != Role::Requester)
            .collect();
        Ok(Options { categories, services: st.store.services().await?, groups: st.store.groups().await?, agents })
    }

    /// A person-readable value for a field's raw form value.
    fn label(&self, tr: &Tr, field: &str, v: &str) -> String {
        let id: i64 = v.parse().unwrap_or(0);
        let found = match field {
            "impact" | "urgency" => return tr.level(id).to_string(),
            "major" => return tr.t(if v == "yes" { "yes" } else { "no" }).to_string(),
            "category_id" => self.categories.iter().find(|c| c.0 == id).map(|c| c.1.clone()),
            "service_id" => self.services.iter().find(|s| s.id == id).map(|s| s.name.clone()),
            "assignment_group_id" => self.groups.iter().find(|g| g.id == id).map(|g| g.name.clone()),
            "assignee_id" => self.agents.iter().find(|u| u.id == id).map(|u| u.name.clone()),
            _ => return v.to_string(),
        };
        found.unwrap_or_else(|| tr.t("none").to_string())
    }
}

/// A history entry in words: the audit trail stores field names, codes and
/// ids, which mean nothing to the person reading the page.
struct Readable<'a> {
    tr: &'a Tr,
    opts: &'a Options,
    users: &'a std::collections::HashMap<i64, String>,
    cis: &'a std::collections::HashMap<i64, String>,
    suppliers: &'a std::collections::HashMap<i64, String>,
    /// Linked records: id, number, short description.
    numbers: &'a [(i64, String, String)],
}

impl Readable<'_> {
    fn field(&self, field: &str) -> String {
        // The CMDB's label of `supplier_id` speaks of CI ids; a record's
        // supplier is one of the SLA's suppliers.
        if field == "supplier_id" {
            return self.tr.t("history.supplier").to_string();
        }
        self.tr.words_or_stored("field.", field)
    }

    /// The stored value `v` of `field`; a code or id that no longer names
    /// anything is shown as stored rather than hidden.
    fn value(&self, field: &str, v: &str) -> String {
        let tr = self.tr;
        let id = || v.parse::<i64>().ok();
        // A name found, or the stored value when it names nothing any more.
        let name = |found: Option<&String>| found.cloned().unwrap_or_else(|| v.to_string());
        match field {
            "state" => tr.words_or_stored("state.", v),
            "hold_reason" => tr.words_or_stored("hold.", v),
            "resolution_code" => tr.words_or_stored("resolution.", v),
            "priority" => tr.words_or_stored("priority.", v),
            "major" | "first_contact" | "escalated" => tr.t(if v == "true" { "yes" } else { "no" }).to_string(),
            "impact" | "urgency" => self.opts.label(tr, field, v),
            "category_id" => name(self.opts.categories.iter().find(|c| id() == Some(c.0)).map(|c| &c.1)),
            "service_id" => name(self.opts.services.iter().find(|x| id() == Some(x.id)).map(|x| &x.name)),
            "assignment_group_id" => name(self.opts.groups.iter().find(|g| id() == Some(g.id)).map(|g| &g.name)),
            "assignee_id" | "watcher" => name(id().and_then(|u| self.users.get(&u))),
            "ci" => name(id().and_then(|c| self.cis.get(&c))),
            "supplier_id" => name(id().and_then(|x| self.suppliers.get(&x))),
            // "KIND RECORD_ID", as the store writes a link.
            "link" => match v.split_once(' ') {
                Some((kind, other)) => {
                    let number = other
                        .parse::<i64>()
                        .ok()
                        .and_then(|o| self.numbers.iter().find(|n| n.0 == o))
                        .map_or(other, |n| n.1.as_str());
                    format!("{} {number}", tr.words_or_stored("link.", kind))
                }
                None => v.to_string(),
            },
            _ => v.to_string(),
        }
    }
}

/// Categories as "Parent › Child" paths, in tree order.
pub fn category_paths(all: Vec<Category>) -> Vec<(i64, String)> {
    fn walk(all: &[Category], parent: i64, prefix: &str, depth: usize, out: &mut Vec<(i64, String)>) {
        // The depth bound guards against a cycle in stored data.
        if depth > 10 {
            return;
        }
        for c in all.iter().filter(|c| c.parent_id == parent) {
            let path = if prefix.is_empty() { c.name.clone() } else { format!("{prefix} › {}", c.name) };
            out.push((c.id, path.clone()));
            walk(all, c.id, &path, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(&all, 0, "", 0, &mut out);
    out
}

pub struct JournalRow {
    pub kind: String,
    pub author: String,
    pub body: String,
    pub at: String,
}

pub struct HistoryRow {
    pub at: String,
    pub who: String,
    pub field: String,
    pub old: String,
    pub new: String,
}

pub struct AttachmentRow {
    pub id: i64,
    pub filename: String,
    pub size: i64,
    pub at: String,
}

pub struct LinkRow {
    pub kind: String,
    pub number: String,
    pub short_description: String,
    /// True when this incident is the link's target: the kind reads backwards.
    pub incoming: bool,
}

pub struct ConflictRow {
    pub field: &'static str,
    pub yours: String,
    pub current: String,
}

#[derive(askama::Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    p: Chrome,
    i: Incident,
    requester: String,
    group: String,
    assignee: String,
    category: String,
    service: String,
    form: EditValues,
    typed: Typed,
    opts: Options,
    errors: Errors,
    conflict: Vec<ConflictRow>,
    notice: bool,
    journal: Vec<JournalRow>,
    history: Vec<HistoryRow>,
    attachments: Vec<AttachmentRow>,
    links: Vec<LinkRow>,
    sla: super::sla::SlaPanel,
    /// The CIs the incident affects (id, name), and the services at risk
    /// through them, each as its path ("Payroll ← Payroll app ← db-01").
    affected: Vec<(i64, String)>,
    at_risk: Vec<String>,
    /// Whether the viewer may read the CMDB (and follow its links).
    cmdb: bool,
}

/// Most affected CIs whose services at risk the incident page works out.
const MAX_WALKS_ON_PAGE: usize = 25;

impl IncidentPage {
    fn can(&self, to: &str) -> bool {
        self.i.lifecycle.state.next().iter().any(|s| s.as_str() == to)
    }
    fn state(&self) -> &'static str {
        self.i.lifecycle.state.as_str()
    }
    fn hold_reasons(&self) -> [&'static str; 3] {
        [
            HoldReason::AwaitingCaller.as_str(),
            HoldReason::AwaitingSupplier.as_str(),
            HoldReason::AwaitingChange.as_str(),
        ]
    }
    fn resolution_codes(&self) -> Vec<&'static str> {
        ResolutionCode::ALL.iter().map(|c| c.as_str()).collect()
    }
    fn levels(&self) -> [i64; 3] {
        [1, 2, 3]
    }
    fn link_kinds(&self) -> [&'static str; 3] {
        ["relates_to", "duplicate_of", "caused_by"]
    }
    fn is_final(&self) -> bool {
        self.i.lifecycle.state.is_final()
    }
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
}

/// What to show besides the record itself.
struct Extra {
    form: Option<EditValues>,
    errors: Errors,
    conflict: Vec<ConflictRow>,
    notice: bool,
    typed: Typed,
}

impl Extra {
    fn none() -> Extra {
        Extra { form: None, errors: Errors::none(), conflict: Vec::new(), notice: false, typed: Typed::default() }
    }
}

/// What was typed into the journal and state forms, shown again when the
/// request failed: a long reply or resolution is not the agent's to retype,
/// and a work note must not come back as a public reply.
#[derive(Default)]
struct Typed {
    kind: String,
    body: String,
    hold_reason: String,
    resolution_code: String,
    resolution_notes: String,
    link_to: String,
    link_kind: String,
}

async fn show(st: &AppState, v: &Viewer, number: &str, status: StatusCode, extra: Extra) -> Result<Response, AppError> {
    v.require_agent()?;
    let i = svc::get(&st.store, &v.caller, number).await?;
    let opts = Options::load(st).await?;
    let groups = group_names(&st.store).await?;
    let entries = svc::journal(&st.store, &v.caller, number).await?;
    let audit = svc::history(&st.store, &v.caller, number).await?;
    let files = svc::attachments(&st.store, &v.caller, number).await?;
    let links = svc::links(&st.store, &v.caller, number).await?;
    // History holds ids (people, CIs, linked records); each is looked up once.
    let in_history = |field: &str| -> Vec<i64> {
        audit
            .iter()
            .filter(|a| a.field == field)
            .flat_map(|a| [a.old_value.as_deref(), a.new_value.as_deref()])
            .flatten()
            .filter_map(|v| v.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let mut ids = vec![i.requester_id];
    ids.extend(i.assignee_id);
    ids.extend(entries.iter().map(|e| e.author_id));
    ids.extend(audit.iter().filter_map(|a| a.actor_id));
    ids.extend(in_history("assignee_id"));
    ids.extend(in_history("watcher"));
    let names = user_names(&st.store, ids).await?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
    let mut other_ids: Vec<i64> = links.iter().map(|l| if l.from_id == i.id { l.to_id } else { l.from_id }).collect();
    other_ids.extend(in_history("link"));
    other_ids.sort_unstable();
    other_ids.dedup();
    let numbers = st.store.record_numbers(&other_ids).await?;
    let cis = st.store.ci_names(&in_history("ci"), None).await?;
    let suppliers: std::collections::HashMap<i64, String> = if audit.iter().any(|a| a.field == "supplier_id") {
        st.store.suppliers().await?.into_iter().map(|s| (s.id, s.name)).collect()
    } else {
        Default::default()
    };
    let tr = v.chrome.tr;
    let sla = super::sla::panel(st, v, number).await?;
    // Shown on the incident itself: what it affects and what is at risk.
    // The walk is one per CI, so an incident linked to very many shows them
    // here and its risks on the CMDB's page for it. Someone who may not
    // read the CMDB sees neither.
    let cmdb = v.caller.can(varde_domain::access::Permission::ReadCmdb);
    let linked = if cmdb { st.store.cis_of_record(i.id).await? } else { Vec::new() };
    // The CIs read above serve the walks too (`services_at_risk`).
    let at_risk: Vec<String> = if cmdb && !linked.is_empty() && linked.len() <= MAX_WALKS_ON_PAGE {
        let services = crate::service::cmdb::services_at_risk(&st.store, &linked).await?;
        services.iter().map(|s| s.path.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ← ")).collect()
    } else {
        Vec::new()
    };
    let affected: Vec<(i64, String)> = linked.into_iter().map(|c| (c.id, c.name)).collect();
    let page = IncidentPage {
        affected,
        at_risk,
        cmdb,
        sla,
        requester: name(i.requester_id),
        group: i.assignment_group_id.and_then(|g| groups.get(&g).cloned()).unwrap_or_default(),
        assignee: i.assignee_id.map(name).unwrap_or_default(),
        category: i.category_id.map(|c| opts.label(&tr, "category_id", &c.to_string())).unwrap_or_default(),
        service: i.service_id.map(|s| opts.label(&tr, "service_id", &s.to_string())).unwrap_or_default(),
        form: extra.form.unwrap_or_else(|| EditValues::of(&i)),
        typed: extra.typed,
        errors: extra.errors,
        conflict: extra.conflict,
        notice: extra.notice,
        journal: entries
            .into_iter()
            .map(|e| JournalRow { author: name(e.author_id), kind: e.kind, body: e.body, at: when(e.created_at) })
            .collect(),
        history: audit
            .into_iter()
            .rev()
            .map(|a| {
                let readable = Readable {
                    tr: &tr,
                    opts: &opts,
                    users: &names,
                    cis: &cis,
                    suppliers: &suppliers,
                    numbers: &numbers,
                };
                HistoryRow {
                    at: when(a.at),
                    who: a.actor_id.map(name).unwrap_or_default(),
                    field: readable.field(&a.field),
                    old: a.old_value.map(|v| readable.value(&a.field, &v)).unwrap_or_default(),
                    new: a.new_value.map(|v| readable.value(&a.field, &v)).unwrap_or_default(),
                }
            })
            .collect(),
        attachments: files
            .into_iter()
            .map(|a| AttachmentRow { id: a.id, filename: a.filename, size: a.size, at: when(a.created_at) })
            .collect(),
        links: links
            .iter()
            .map(|l| {
                let incoming = l.to_id == i.id;
                let other = if incoming { l.from_id } else { l.to_id };
                let (number, short_description) =
                    numbers.iter().find(|n| n.0 == other).map(|n| (n.1.clone(), n.2.clone())).unwrap_or_default();
                LinkRow { kind: l.kind.clone(), number, short_description, incoming }
            })
            .collect(),
        opts,
        i,
        p: v.chrome("queue"),
    };
    render_status(status, &page)
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, AppError> {
    let extra = Extra { notice: q.saved.is_some(), ..Extra::none() };
    show(&st, &v, &number, StatusCode::OK, extra).await
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    version: String,
    #[serde(flatten)]
    values: EditValues,
}

/// Saves the edit form. Only fields that differ from the record are sent,
/// with the version the person read: if someone else saved in between,
/// the store refuses and the person sees both versions instead of
/// silently overwriting the other's work.
pub async fn update(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<EditForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let current = svc::get(&st.store, &v.caller, &number).await?;
    let mut errors = Errors::none();
    let version = super::web::num(&mut errors, &v.chrome.tr, "version", &f.value.version);
    let form = f.value.values;
    let before = EditValues::of(&current);
    let mut change = UpdateIncident::default();
    if form.short_description != before.short_description {
        change.short_description = Some(form.short_description.clone());
    }
    if form.description != before.description {
        change.description = Some(form.description.clone());
    }
    if form.impact != before.impact {
        change.impact = Some(super::web::num(&mut errors, &v.chrome.tr, "impact", &form.impact));
    }
    if form.urgency != before.urgency {
        change.urgency = Some(super::web::num(&mut errors, &v.chrome.tr, "urgency", &form.urgency));
    }
    if form.category_id != before.category_id {
        change.category_id = Some(opt_id(&mut errors, &v.chrome.tr, "category_id", &form.category_id));
    }
    if form.service_id != before.service_id {
        change.service_id = Some(opt_id(&mut errors, &v.chrome.tr, "service_id", &form.service_id));
    }
    if form.assignment_group_id != before.assignment_group_id {
        change.assignment_group_id =
            Some(opt_id(&mut errors, &v.chrome.tr, "assignment_group_id", &form.assignment_group_id));
    }
    if form.assignee_id != before.assignee_id {
        change.assignee_id = Some(opt_id(&mut errors, &v.chrome.tr, "assignee_id", &form.assignee_id));
    }
    if form.is_major() != before.is_major() {
        change.major = Some(form.is_major());
    }
    if !errors.is_empty() {
        let extra = Extra { form: Some(form), errors, ..Extra::none() };
        return show(&st, v, &number, StatusCode::UNPROCESSABLE_ENTITY, extra).await;
    }
    // A form read before the last save is stale even if this change alone
    // would not touch what changed: the person decided on old information.
    let result = if version != current.version {
        Err(AppError::Stale { current: current.version })
    } else {
        svc::update(&st.store, &v.caller, &number, Some(version), change).await
    };
    match result {
        Ok(i) => Ok(see_other(&format!("/incidents/{}?saved=1", i.number))),
        Err(AppError::Stale { .. }) => {
            let now = svc::get(&st.store, &v.caller, &number).await?;
            let opts = Options::load(&st).await?;
            let tr = v.chrome.tr;
            let conflict = form
                .pairs()
                .into_iter()
                .zip(EditValues::of(&now).pairs())
                .filter(|((_, mine), (_, theirs))| mine != theirs)
                .map(|((field, mine), (_, theirs))| ConflictRow {
                    field,
                    yours: opts.label(&tr, field, &mine),
                    current: opts.label(&tr, field, &theirs),
                })
                .collect::<Vec<_>>();
            let mut errors = Errors::none();
            errors.general.push(tr.t("incident.stale").to_string());
            let extra = Extra { form: None, errors, conflict, notice: false, typed: Typed::default() };
            show(&st, v, &number, StatusCode::CONFLICT, extra).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show(&st, v, &number, status, Extra { form: Some(form), errors, ..Extra::none() }).await
        }
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    hold_reason: String,
    #[serde(default)]
    resolution_code: String,
    #[serde(default)]
    resolution_notes: String,
}

/// The life-cycle buttons. Which steps are allowed, and what each needs,
/// is the domain's decision; this only names the step.
pub async fn change_state(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<StateForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let mut errors = Errors::none();
    let version = super::web::num(&mut errors, &v.chrome.tr, "version", &f.value.version);
    let target = match f.value.action.as_str() {
        "start" | "reopen" => IncidentState::InProgress,
        "hold" => IncidentState::OnHold,
        "resolve" => IncidentState::Resolved,
        "close" => IncidentState::Closed,
        "cancel" => IncidentState::Cancelled,
        _ => return Err(AppError::BadRequest("unknown action".into())),
    };
    let text = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
    let change = UpdateIncident {
        state: Some(target.as_str().into()),
        hold_reason: if target == IncidentState::OnHold { text(&f.value.hold_reason) } else { None },
        resolution_code: if target == IncidentState::Resolved { text(&f.value.resolution_code) } else { None },
        resolution_notes: if target == IncidentState::Resolved { text(&f.value.resolution_notes) } else { None },
        ..UpdateIncident::default()
    };
    let typed = || Typed {
        hold_reason: f.value.hold_reason.clone(),
        resolution_code: f.value.resolution_code.clone(),
        resolution_notes: f.value.resolution_notes.clone(),
        ..Typed::default()
    };
    if !errors.is_empty() {
        let extra = Extra { errors, typed: typed(), ..Extra::none() };
        return show(&st, v, &number, StatusCode::UNPROCESSABLE_ENTITY, extra).await;
    }
    match svc::update(&st.store, &v.caller, &number, Some(version), change).await {
        Ok(i) => Ok(see_other(&format!("/incidents/{}", i.number))),
        Err(AppError::Stale { .. }) => {
            let mut errors = Errors::none();
            errors.general.push(v.chrome.tr.t("incident.stale").to_string());
            show(&st, v, &number, StatusCode::CONFLICT, Extra { errors, typed: typed(), ..Extra::none() }).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show(&st, v, &number, status, Extra { errors, typed: typed(), ..Extra::none() }).await
        }
    }
}

#[derive(Deserialize)]
pub struct JournalForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    body: String,
}

pub async fn add_journal(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<JournalForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let typed = Typed { kind: f.value.kind.clone(), body: f.value.body.clone(), ..Typed::default() };
    let entry = NewJournalEntry { kind: f.value.kind, body: f.value.body };
    match svc::add_journal(&st.store, &v.caller, &number, entry).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{number}#journal"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show(&st, v, &number, status, Extra { errors, typed, ..Extra::none() }).await
        }
    }
}

/// A multipart upload's CSRF token, from the header or the `_csrf` field,
/// which must come before the file so the token is checked before the file
/// is read. Returns the rest of the upload.
pub async fn csrf_checked(
    v: &Viewer,
    headers: &axum::http::HeaderMap,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Multipart, AppError> {
    let mut mp =
        mp.map_err(|e| AppError::UnsupportedMediaType(format!("send the file as multipart/form-data: {e}")))?;
    let header_token = headers.get(crate::auth::CSRF_HEADER).and_then(|h| h.to_str().ok()).map(str::to_string);
    let sent = match header_token {
        Some(t) => t,
        None => {
            let field = mp.next_field().await.map_err(|e| AppError::BadRequest(e.body_text()))?;
            match field {
                Some(f) if f.name() == Some("_csrf") => {
                    f.text().await.map_err(|e| AppError::BadRequest(e.body_text()))?
                }
                _ => String::new(),
            }
        }
    };
    check_csrf(v, &sent)?;
    Ok(mp)
}

/// A file for the incident, from its page.
pub async fn upload(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
    headers: axum::http::HeaderMap,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let mp = csrf_checked(&v, &headers, mp).await?;
    let result = match read_upload(mp).await {
        Ok((name, data)) => {
            svc::add_attachment(&st.store, &v.caller, &number, &name, data, st.config.max_attachment_bytes).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/incidents/{number}#attachments"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show(&st, &v, &number, status, Extra { errors, ..Extra::none() }).await
        }
    }
}

/// Downloads go through the same visibility check as the record, so a
/// requester can fetch files of their own tickets only.
pub async fn download(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (meta, data) = svc::attachment(&st.store, &v.caller, id).await?;
    Ok(attachment_response(&meta, data))
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    kind: String,
}

pub async fn add_link(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<LinkForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let typed = Typed { link_to: f.value.to.clone(), link_kind: f.value.kind.clone(), ..Typed::default() };
    let link = NewLink { to: f.value.to.trim().to_uppercase(), kind: f.value.kind };
    match svc::add_link(&st.store, &v.caller, &number, link).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{number}#links"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show(&st, v, &number, status, Extra { errors, typed, ..Extra::none() }).await
        }
    }
}

// --- create ---

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    requester_email: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    category_id: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    assignment_group_id: String,
    #[serde(default)]
    channel: String,
}

#[derive(askama::Template)]
#[template(path = "incident_new.html")]
struct NewPage {
    p: Chrome,
    f: NewForm,
    opts: Options,
    errors: Errors,
}

impl NewPage {
    fn levels(&self) -> [i64; 3] {
        [1, 2, 3]
    }
    fn channels(&self) -> [&'static str; 4] {
        [Channel::Phone.as_str(), Channel::Email.as_str(), Channel::WalkIn.as_str(), Channel::Portal.as_str()]
    }
}

pub async fn new_page(State(st): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    v.require_agent()?;
    let f = NewForm { impact: "2".into(), urgency: "2".into(), channel: "phone".into(), ..NewForm::default() };
    let page = NewPage { p: v.chrome("new"), f, opts: Options::load(&st).await?, errors: Errors::none() };
    render_status(StatusCode::OK, &page)
}

pub async fn create(State(st): State<AppState>, f: Form<NewForm>) -> Result<Response, AppError> {
    let v = &f.viewer;
    v.require_agent()?;
    let form = f.value.clone();
    let mut errors = Errors::none();
    let email = form.requester_email.trim().to_lowercase();
    let requester_id = if email.is_empty() {
        None
    } else {
        match st.store.user_by_email(&email).await {
            Ok(u) => Some(u.id),
            Err(varde_store::StoreError::NotFound) => {
                errors.push("requester_email", v.chrome.tr.t("incident.unknown_requester"));
                None
            }
            Err(e) => return Err(e.into()),
        }
    };
    let input = CreateIncident {
        short_description: form.short_description.clone(),
        description: Some(form.description.clone()),
        requester_id,
        impact: Some(super::web::num(&mut errors, &v.chrome.tr, "impact", &form.impact)),
        urgency: Some(super::web::num(&mut errors, &v.chrome.tr, "urgency", &form.urgency)),
        category_id: opt_id(&mut errors, &v.chrome.tr, "category_id", &form.category_id),
        service_id: opt_id(&mut errors, &v.chrome.tr, "service_id", &form.service_id),
        assignment_group_id: opt_id(&mut errors, &v.chrome.tr, "assignment_group_id", &form.assignment_group_id),
        channel: (!form.channel.trim().is_empty()).then(|| form.channel.clone()),
        ..CreateIncident::default()
    };
    let result = if errors.is_empty() {
        svc::create(&st.store, &v.caller, input, None, Channel::Phone).await.map(|(i, _)| i)
    } else {
        Err(AppError::Invalid(Vec::new()))
    };
    match result {
        Ok(i) => Ok(see_other(&format!("/incidents/{}", i.number))),
        Err(e) => {
            let status = e.status();
            let more = Errors::from_app(e, &v.chrome.tr)?;
            for line in more.general.iter() {
                errors.general.push(line.clone());
            }
            let merged = merge(errors, more);
            let page = NewPage { p: v.chrome("new"), f: form, opts: Options::load(&st).await?, errors: merged };
            render_status(status, &page)
        }
    }
}

/// Field errors from the form's own checks and from the service, together.
fn merge(mut a: Errors, b: Errors) -> Errors {
    for (field, msg) in b.fields() {
        a.push(field, msg);
    }
    a
}
