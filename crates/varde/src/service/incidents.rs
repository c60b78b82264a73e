//! Incident management as callers see it: who may create, read, change and
//! comment on which incident.

use serde::Deserialize;
use varde_domain::access::{Permission, Role};
use varde_domain::error::Problems;
use varde_domain::incident::{Channel, Incident, Patch, State};
use varde_domain::priority::Level;
use varde_domain::record::{JournalKind, LinkKind};
use varde_domain::text;
use varde_store::idempotency::IdempotencyKey;
use varde_store::incidents::{AttachmentMeta, Cursor, Filter, JournalEntry, Link, NewIncident, Scope, Sort};
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

/// What a caller sends to report an incident.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    pub short_description: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The person affected; agents may report on behalf of a caller. Defaults to the caller.
    #[serde(default)]
    pub requester_id: Option<i64>,
    /// 1 (high) to 3 (low); default 2. Agents only.
    #[serde(default)]
    pub impact: Option<i64>,
    /// 1 (high) to 3 (low); default 2.
    #[serde(default)]
    pub urgency: Option<i64>,
    #[serde(default)]
    pub category_id: Option<i64>,
    #[serde(default)]
    pub service_id: Option<i64>,
    #[serde(default)]
    pub assignment_group_id: Option<i64>,
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// portal, phone, email, walk_in or api.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub major: Option<bool>,
}

/// A JSON merge patch of an incident: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIncident {
    #[serde(default, deserialize_with = "super::not_null")]
    pub short_description: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub impact: Option<i64>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub urgency: Option<i64>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignment_group_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub major: Option<bool>,
    /// new, in_progress, on_hold, resolved, closed or cancelled.
    #[serde(default, deserialize_with = "super::not_null")]
    pub state: Option<String>,
    pub hold_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
}

impl From<UpdateIncident> for Patch {
    fn from(u: UpdateIncident) -> Patch {
        Patch {
            short_description: u.short_description,
            description: u.description,
            impact: u.impact,
            urgency: u.urgency,
            category_id: u.category_id,
            service_id: u.service_id,
            assignment_group_id: u.assignment_group_id,
            assignee_id: u.assignee_id,
            major: u.major,
            state: u.state,
            hold_reason: u.hold_reason,
            resolution_code: u.resolution_code,
            resolution_notes: u.resolution_notes,
        }
    }
}

pub fn scope(caller: &Caller) -> Scope {
    if caller.can(Permission::WorkRecords) {
        Scope::All
    } else {
        Scope::Requester(caller.id())
    }
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    input: CreateIncident,
    idem: Option<IdempotencyKey>,
    default_channel: Channel,
) -> Result<(Incident, bool), AppError> {
    caller.require(Permission::UsePortal)?;
    let agent = caller.can(Permission::WorkRecords);
    let mut p = Problems::new();
    let short = p.check(text::line("short_description", &input.short_description, text::SHORT_DESCRIPTION_MAX));
    let description =
        p.check(text::body("description", input.description.as_deref().unwrap_or(""), text::LONG_TEXT_MAX));
    let impact = p.check(Level::new("impact", input.impact.unwrap_or(2)));
    let urgency = p.check(Level::new("urgency", input.urgency.unwrap_or(2)));
    let channel = match &input.channel {
        Some(c) => p.check(Channel::parse("channel", c)),
        None => Some(default_channel),
    };
    if !agent {
        // Requesters report for themselves; the desk classifies and routes.
        for (field, set) in [
            ("requester_id", input.requester_id.is_some_and(|r| r != caller.id())),
            ("impact", input.impact.is_some()),
            ("assignment_group_id", input.assignment_group_id.is_some()),
            ("assignee_id", input.assignee_id.is_some()),
            ("major", input.major.is_some()),
        ] {
            if set {
                p.push(field, "may only be set by the service desk");
            }
        }
    }
    if input.assignee_id.is_some() && input.assignment_group_id.is_none() {
        p.push("assignee_id", "needs an assignment group: assign to a group first, then to a person in it");
    }
    p.into_result()?;
    let (Some(short), Some(description), Some(impact), Some(urgency), Some(channel)) =
        (short, description, impact, urgency, channel)
    else {
        unreachable!("problems were reported above")
    };
    let new = NewIncident {
        short_description: short,
        description,
        requester_id: input.requester_id.unwrap_or(caller.id()),
        created_by: caller.id(),
        assignment_group_id: input.assignment_group_id,
        assignee_id: input.assignee_id,
        impact,
        urgency,
        category_id: input.category_id,
        service_id: input.service_id,
        channel,
        major: input.major.unwrap_or(false),
    };
    Ok(store.create_incident(new, idem).await?)
}

/// Reads an incident by id or number (`INC0000042`). A requester who may
/// not see it is told it does not exist, so ids cannot be probed.
pub async fn get(store: &Store, caller: &Caller, key: &str) -> Result<Incident, AppError> {
    let incident = match key.parse::<i64>() {
        Ok(id) => store.incident(id).await?,
        Err(_) => store.incident_by_number(key).await?,
    };
    if !store.can_see(scope(caller), incident.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(incident)
}

/// Changes an incident. Agents may change anything the life cycle allows;
/// the requester may only confirm a resolution (close) or reopen it.
pub async fn update(
    store: &Store,
    caller: &Caller,
    key: &str,
    expected_version: Option<i64>,
    change: UpdateIncident,
) -> Result<Incident, AppError> {
    let current = get(store, caller, key).await?;
    let patch: Patch = change.into();
    if patch.is_empty() {
        // Nothing to write, but a stale version is still stale: answering 200
        // would tell the client its copy is current when it is not.
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(AppError::Stale { current: current.version });
        }
        return Ok(current);
    }
    if !caller.can(Permission::WorkRecords) {
        let only_state = Patch { state: None, ..patch.clone() }.is_empty();
        // Watchers see a shared incident, but confirming or disputing its
        // resolution is for the person it was reported for.
        let allowed = matches!(patch.state.as_deref(), Some("in_progress") | Some("closed"))
            && current.lifecycle.state == State::Resolved
            && current.requester_id == caller.id();
        if !(only_state && allowed) {
            return Err(AppError::Forbidden);
        }
    }
    Ok(store.update_incident(current.id, expected_version, patch, caller.id()).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJournalEntry {
    /// reply (seen by the requester) or work_note (agents only).
    #[serde(default = "reply")]
    pub kind: String,
    pub body: String,
}

fn reply() -> String {
    "reply".into()
}

pub async fn add_journal(
    store: &Store,
    caller: &Caller,
    key: &str,
    entry: NewJournalEntry,
) -> Result<JournalEntry, AppError> {
    let incident = get(store, caller, key).await?;
    let mut p = Problems::new();
    let kind = p.check(JournalKind::parse("kind", &entry.kind));
    let body = p.check(text::required_body("body", &entry.body, text::LONG_TEXT_MAX));
    if kind == Some(JournalKind::System) {
        p.push("kind", "must be reply or work_note");
    }
    p.into_result()?;
    let (Some(kind), Some(body)) = (kind, body) else { unreachable!() };
    let agent = caller.can(Permission::WorkRecords);
    if kind == JournalKind::WorkNote && !agent {
        return Err(AppError::Forbidden);
    }
    if incident.lifecycle.state.is_final() {
        return Err(AppError::Transition(format!(
            "a {} incident takes no new entries",
            incident.lifecycle.state.as_str()
        )));
    }
    let entry = store.add_journal(incident.id, caller.id(), kind, body).await?;
    // The caller answered: the incident no longer waits for them.
    if !agent
        && incident.lifecycle.state == State::OnHold
        && incident.lifecycle.hold_reason == Some(varde_domain::incident::HoldReason::AwaitingCaller)
    {
        let resume = Patch { state: Some("in_progress".into()), ..Patch::default() };
        store.update_incident(incident.id, None, resume, caller.id()).await?;
    }
    Ok(entry)
}

pub async fn journal(store: &Store, caller: &Caller, key: &str) -> Result<Vec<JournalEntry>, AppError> {
    let incident = get(store, caller, key).await?;
    Ok(store.journal(incident.id, caller.can(Permission::WorkRecords)).await?)
}

/// A page of incidents in the caller's scope.
pub async fn list(
    store: &Store,
    caller: &Caller,
    filter: &Filter,
    sort: Sort,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Incident>, AppError> {
    Ok(store.list_incidents(scope(caller), filter, sort, cursor, limit).await?)
}

/// Content types that are safe to offer for download as what they are.
/// Anything else is served as `application/octet-stream`.
fn sniff(data: &[u8], filename: &str) -> String {
    if let Some(kind) = infer::get(data) {
        use infer::MatcherType::*;
        // `infer` also recognises markup (HTML, XML): that must never be
        // offered as what it is, since a browser would run its scripts.
        let mime = kind.mime_type();
        let binary = matches!(kind.matcher_type(), Image | Audio | Video | Archive | Doc | Book | Font);
        if binary && !mime.contains("xml") && !mime.contains("html") && !mime.contains("svg") {
            return mime.to_string();
        }
    }
    if std::str::from_utf8(data).is_ok() {
        let lower = filename.to_lowercase();
        if lower.ends_with(".csv") {
            return "text/csv".into();
        }
        if lower.ends_with(".json") {
            return "application/json".into();
        }
        return "text/plain; charset=utf-8".into();
    }
    "application/octet-stream".into()
}

pub async fn add_attachment(
    store: &Store,
    caller: &Caller,
    key: &str,
    filename: &str,
    data: Vec<u8>,
    max_bytes: usize,
) -> Result<AttachmentMeta, AppError> {
    let incident = get(store, caller, key).await?;
    // Like the journal: a closed or cancelled record is frozen.
    if incident.lifecycle.state.is_final() {
        return Err(AppError::Transition(format!(
            "a {} incident takes no new attachments",
            incident.lifecycle.state.as_str()
        )));
    }
    let name = upload_name(filename, &data, max_bytes)?;
    let content_type = sniff(&data, &name);
    Ok(store.add_attachment(incident.id, name, content_type, data, caller.id()).await?)
}

/// Checks an uploaded file's size and returns the name to store it under:
/// the last path component only, without control characters.
pub fn upload_name(filename: &str, data: &[u8], max_bytes: usize) -> Result<String, AppError> {
    if data.len() > max_bytes {
        return Err(AppError::TooLarge(format!("attachments may be at most {max_bytes} bytes")));
    }
    if data.is_empty() {
        return Err(AppError::field("file", "is empty"));
    }
    let name: String =
        filename.rsplit(['/', '\\']).next().unwrap_or("").chars().filter(|c| !c.is_control()).take(200).collect();
    Ok(if name.trim().is_empty() { "attachment".to_string() } else { name })
}

pub async fn attachment(store: &Store, caller: &Caller, id: i64) -> Result<(AttachmentMeta, Vec<u8>), AppError> {
    let (meta, data) = store.attachment(id).await?;
    // An article's files are exactly as visible as the article (a requester
    // may fetch those of a published public one); a ticket's as the ticket.
    let visible = match store.article(meta.record_id).await {
        Ok(article) => crate::service::knowledge::may_read(store, caller, &article).await?,
        Err(varde_store::StoreError::NotFound) => store.can_see(scope(caller), meta.record_id).await?,
        Err(e) => return Err(e.into()),
    };
    if !visible {
        return Err(AppError::NotFound);
    }
    Ok((meta, data))
}

pub async fn attachments(store: &Store, caller: &Caller, key: &str) -> Result<Vec<AttachmentMeta>, AppError> {
    let incident = get(store, caller, key).await?;
    Ok(store.attachments(incident.id).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// The other record, by id or number.
    pub to: String,
    /// relates_to, duplicate_of or caused_by.
    pub kind: String,
}

pub async fn add_link(store: &Store, caller: &Caller, key: &str, link: NewLink) -> Result<Link, AppError> {
    caller.require(Permission::WorkRecords)?;
    let from = get(store, caller, key).await?;
    let kind = LinkKind::parse("kind", &link.kind)?;
    let to = match get(store, caller, &link.to).await {
        Ok(to) => to,
        // Ids are unique across record kinds (ADR 0004): the other record
        // may be a problem, linked as problems link their incidents (the
        // closed-problem rule, the desk note).
        Err(AppError::NotFound) => {
            return match crate::service::problems::get(store, caller, &link.to).await {
                Ok(p) if kind == LinkKind::CausedBy => {
                    crate::service::problems::link(store, caller, &p.number, &from.number).await
                }
                Ok(_) => Err(AppError::field("to", "an incident is linked to a problem as caused_by")),
                Err(AppError::NotFound) => Err(AppError::field("to", "refers to nothing that exists")),
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    Ok(store.add_link(from.id, to.id, kind, caller.id()).await?)
}

pub async fn links(store: &Store, caller: &Caller, key: &str) -> Result<Vec<Link>, AppError> {
    let incident = get(store, caller, key).await?;
    let links = store.links(incident.id).await?;
    if caller.can(Permission::WorkRecords) {
        return Ok(links);
    }
    // A requester sees the links to records they may read themselves: not
    // to problems (the desk's, ADR 0008), nor to other people's incidents.
    let other = |l: &Link| if l.from_id == incident.id { l.to_id } else { l.from_id };
    let others: Vec<i64> = links.iter().map(other).collect();
    let visible = store.visible_incidents(scope(caller), &others).await?;
    Ok(links.into_iter().filter(|l| visible.contains(&other(l))).collect())
}

pub async fn remove_link(store: &Store, caller: &Caller, key: &str, link_id: i64) -> Result<(), AppError> {
    caller.require(Permission::WorkRecords)?;
    let incident = get(store, caller, key).await?;
    Ok(store.remove_link(incident.id, link_id, caller.id()).await?)
}

/// Agents may add anyone; a requester may share their own incident.
pub async fn add_watcher(store: &Store, caller: &Caller, key: &str, user_id: i64) -> Result<(), AppError> {
    let incident = get(store, caller, key).await?;
    if !caller.can(Permission::WorkRecords) && incident.requester_id != caller.id() {
        return Err(AppError::Forbidden);
    }
    Ok(store.add_watcher(incident.id, user_id, caller.id()).await?)
}

pub async fn remove_watcher(store: &Store, caller: &Caller, key: &str, user_id: i64) -> Result<(), AppError> {
    let incident = get(store, caller, key).await?;
    if !caller.can(Permission::WorkRecords) && incident.requester_id != caller.id() && user_id != caller.id() {
        return Err(AppError::Forbidden);
    }
    Ok(store.remove_watcher(incident.id, user_id, caller.id()).await?)
}

pub async fn history(
    store: &Store,
    caller: &Caller,
    key: &str,
) -> Result<Vec<varde_store::audit::AuditEntry>, AppError> {
    caller.require(Permission::WorkRecords)?;
    let incident = get(store, caller, key).await?;
    Ok(store.audit_of(varde_store::audit::Entity::Record, incident.id).await?)
}

/// Closes an incident whose resolution the requester neither confirmed nor
/// disputed in time. Run by the job runner; a reopened incident is left alone.
pub async fn auto_close(store: &Store, id: i64) -> Result<(), AppError> {
    let incident = store.incident(id).await?;
    let days = super::directory::incident_settings(store).await?.auto_close_days;
    let due = incident.resolved_at.map(|r| r + days * 86_400_000_000);
    // A timer from an earlier resolution (before a reopen) finds a later
    // resolution that is not yet due, and leaves it to its own timer.
    if incident.lifecycle.state != State::Resolved || due.is_none_or(|d| d > varde_store::now_micros()) {
        return Ok(());
    }
    let system = system_user(store).await?;
    let close = Patch { state: Some("closed".into()), ..Patch::default() };
    store.update_incident(id, Some(incident.version), close, system).await?;
    store
        .add_journal(
            id,
            system,
            JournalKind::System,
            "Closed automatically: the resolution was not disputed in time.".into(),
        )
        .await?;
    Ok(())
}

/// The first administrator acts for the system in the audit trail.
async fn system_user(store: &Store) -> Result<i64, AppError> {
    let users = store.list_users(0, 50, None).await?;
    users
        .iter()
        .find(|u| u.role == Role::Admin)
        .map(|u| u.id)
        .ok_or_else(|| AppError::Internal("no administrator".into()))
}
