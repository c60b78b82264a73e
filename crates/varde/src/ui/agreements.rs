//! Administering service level agreements (SLAs, OLAs and underpinning contracts) in the web
//! UI: the list, a new agreement, and one agreement's form with its parties, conditions,
//! targets, warning thresholds and pause rules. The form carries every part of an agreement,
//! so saving it never drops what it does not show; every change goes through
//! `service::sla`, which checks the rights, and the store validates the whole agreement.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use varde_domain::access::Permission;
use varde_domain::incident::HoldReason;
use varde_domain::sla::agreement::{
    Action, Agreement, AgreementSpec, Conditions, Kind, Recipient, ReopenPolicy, ResponseOn, StopOn, Target, Threshold,
    RECORD_TYPES,
};

use super::web::{render_status, see_other, Chrome, Errors, Form, Viewer};
use crate::error::AppError;
use crate::service::sla as svc;
use crate::state::AppState;

/// Blank rows offered below an agreement's targets and thresholds, to add new ones.
const BLANK_TARGETS: usize = 3;
const BLANK_THRESHOLDS: usize = 2;

/// One option of a select.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One checkbox.
pub struct Check {
    pub name: String,
    pub label: String,
    pub checked: bool,
}

pub struct TargetRow {
    pub i: usize,
    pub name: String,
    pub minutes: String,
    pub priority: Vec<Opt>,
    pub calendar: Vec<Opt>,
    pub service: Vec<Opt>,
    pub category: Vec<Opt>,
    pub stop_on: Vec<Opt>,
}

pub struct ThresholdRow {
    pub i: usize,
    pub percent: String,
    pub actions: Vec<(usize, Vec<Opt>)>,
}

/// The form, ready to render: every choice with its options.
pub struct Draft {
    pub name: String,
    pub kind: Vec<Opt>,
    pub active: bool,
    pub customer: Vec<Opt>,
    pub group: Vec<Opt>,
    pub supplier: Vec<Opt>,
    pub services: Vec<Check>,
    pub cond_orgs: Vec<Check>,
    pub cond_services: Vec<Check>,
    pub cond_priorities: Vec<Check>,
    pub cond_types: Vec<Check>,
    pub pause_on: Vec<Check>,
    pub response_on: Vec<Opt>,
    pub reopen: Vec<Opt>,
    pub targets: Vec<TargetRow>,
    pub thresholds: Vec<ThresholdRow>,
}

/// What the form holds, as text: from a stored agreement or as typed.
#[derive(Default)]
struct Values {
    name: String,
    kind: String,
    active: bool,
    customer: String,
    group: String,
    supplier: String,
    services: Vec<String>,
    cond_orgs: Vec<String>,
    cond_services: Vec<String>,
    cond_priorities: Vec<String>,
    cond_types: Vec<String>,
    pause_on: Vec<String>,
    response_on: String,
    reopen: String,
    /// name, minutes, priority, calendar, service, category, stop_on
    targets: Vec<[String; 7]>,
    /// percent, first action, second action
    thresholds: Vec<[String; 3]>,
}

fn id_text(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn action_text(a: &Action) -> String {
    match a {
        Action::Notify { to: Recipient::Assignee } => "notify:assignee".into(),
        Action::Notify { to: Recipient::Group } => "notify:group".into(),
        Action::Notify { to: Recipient::Manager } => "notify:manager".into(),
        Action::Reassign { group_id } => format!("reassign:{group_id}"),
        Action::RaisePriority => "raise_priority".into(),
        Action::Escalate => "escalate".into(),
    }
}

fn stop_on_text(s: Option<StopOn>) -> String {
    match s {
        None => String::new(),
        Some(StopOn::Response) => "response".into(),
        Some(StopOn::InProgress) => "in_progress".into(),
        Some(StopOn::Resolution) => "resolution".into(),
    }
}

fn texts(v: &[i64]) -> Vec<String> {
    v.iter().map(i64::to_string).collect()
}

impl Values {
    /// A new agreement as the API would default it.
    fn blank() -> Values {
        let spec: AgreementSpec =
            serde_json::from_value(serde_json::json!({ "name": "", "kind": "sla", "targets": [] }))
                .expect("an agreement with defaults");
        Values { cond_types: vec!["incident".into()], ..Values::of(&spec) }
    }

    fn of(s: &AgreementSpec) -> Values {
        Values {
            name: s.name.clone(),
            kind: s.kind.as_str().into(),
            active: s.active,
            customer: id_text(s.customer_organisation_id),
            group: id_text(s.group_id),
            supplier: id_text(s.supplier_id),
            services: texts(&s.service_ids),
            cond_orgs: texts(&s.conditions.organisations),
            cond_services: texts(&s.conditions.services),
            cond_priorities: texts(&s.conditions.priorities),
            cond_types: s.conditions.types.clone(),
            pause_on: s.pause_on.iter().map(|r| r.as_str().to_string()).collect(),
            response_on: json_name(&s.response_on),
            reopen: json_name(&s.reopen),
            targets: s
                .targets
                .iter()
                .map(|t| {
                    [
                        t.name.clone(),
                        t.minutes.to_string(),
                        id_text(t.priority),
                        id_text(t.calendar_id),
                        id_text(t.service_id),
                        id_text(t.category_id),
                        stop_on_text(t.stop_on),
                    ]
                })
                .collect(),
            thresholds: s
                .thresholds
                .iter()
                .flat_map(|t| {
                    // Two actions per row; a threshold with more takes more rows.
                    let mut rows: Vec<[String; 3]> = t
                        .actions
                        .chunks(2)
                        .map(|a| {
                            [t.percent.to_string(), action_text(&a[0]), a.get(1).map(action_text).unwrap_or_default()]
                        })
                        .collect();
                    if rows.is_empty() {
                        rows.push([t.percent.to_string(), String::new(), String::new()]);
                    }
                    rows
                })
                .collect(),
        }
    }

    fn typed(f: &HashMap<String, String>) -> Values {
        let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        // Names as typed: the domain decides what a valid name is.
        let raw = |k: &str| f.get(k).cloned().unwrap_or_default();
        let checked = |prefix: &str| -> Vec<String> {
            let mut v: Vec<String> = f.keys().filter_map(|k| k.strip_prefix(prefix).map(str::to_string)).collect();
            v.sort();
            v
        };
        // Bounded only by the form's size limit (1 MB).
        let count = |k: &str| get(k).parse::<usize>().unwrap_or(0).min(100_000);
        Values {
            name: raw("name"),
            kind: get("kind"),
            active: f.contains_key("active"),
            customer: get("customer"),
            group: get("group"),
            supplier: get("supplier"),
            services: checked("svc_"),
            cond_orgs: checked("corg_"),
            cond_services: checked("csvc_"),
            cond_priorities: checked("cpri_"),
            cond_types: checked("ctype_"),
            pause_on: checked("pause_"),
            response_on: get("response_on"),
            reopen: get("reopen"),
            targets: (0..count("targets_shown"))
                .map(|i| {
                    let mut row = ["name", "minutes", "priority", "calendar", "service", "category", "stop_on"]
                        .map(|c| get(&format!("t{i}_{c}")));
                    row[0] = raw(&format!("t{i}_name"));
                    row
                })
                .collect(),
            thresholds: (0..count("thresholds_shown"))
                .map(|i| ["percent", "a0", "a1"].map(|c| get(&format!("h{i}_{c}"))))
                .collect(),
        }
    }

    /// The agreement the values describe; what cannot be read is put in `errors` by field.
    fn spec(&self, errors: &mut Errors, tr: &super::i18n::Tr) -> AgreementSpec {
        let mut id = |field: &str, v: &str| -> Option<i64> {
            if v.is_empty() {
                return None;
            }
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(field, tr.t("error.choose"));
                    None
                }
            }
        };
        let customer_organisation_id = id("customer", &self.customer);
        let group_id = id("group", &self.group);
        let supplier_id = id("supplier", &self.supplier);
        let mut ids = |field: &str, v: &[String]| -> Vec<i64> {
            v.iter()
                .filter_map(|s| match s.parse() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        errors.push(field, tr.t("error.choose"));
                        None
                    }
                })
                .collect()
        };
        let service_ids = ids("service_ids", &self.services);
        let conditions = Conditions {
            organisations: ids("conditions.organisations", &self.cond_orgs),
            services: ids("conditions.services", &self.cond_services),
            priorities: ids("conditions.priorities", &self.cond_priorities),
            types: self.cond_types.clone(),
        };
        let mut targets = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            if t[0].trim().is_empty() && t[1].is_empty() {
                continue;
            }
            let minutes = match t[1].parse::<i64>() {
                Ok(m) => m,
                Err(_) => {
                    errors.push(&format!("t{i}_minutes"), tr.t("error.number"));
                    0
                }
            };
            let stop_on = match t[6].as_str() {
                "" => None,
                "response" => Some(StopOn::Response),
                "in_progress" => Some(StopOn::InProgress),
                "resolution" => Some(StopOn::Resolution),
                _ => {
                    errors.push(&format!("t{i}_stop_on"), tr.t("error.choose"));
                    None
                }
            };
            let mut id = |c: &str, v: &str| -> Option<i64> {
                if v.is_empty() {
                    return None;
                }
                v.parse().map_err(|_| errors.push(&format!("t{i}_{c}"), tr.t("error.choose"))).ok()
            };
            targets.push(Target {
                name: t[0].clone(),
                stop_on,
                priority: id("priority", &t[2]),
                calendar_id: id("calendar", &t[3]),
                service_id: id("service", &t[4]),
                category_id: id("category", &t[5]),
                minutes,
            });
        }
        // Rows with the same percent are one threshold.
        let mut thresholds: Vec<Threshold> = Vec::new();
        for (i, h) in self.thresholds.iter().enumerate() {
            if h[0].is_empty() && h[1].is_empty() && h[2].is_empty() {
                continue;
            }
            let Ok(percent) = h[0].parse::<i64>() else {
                errors.push(&format!("h{i}_percent"), tr.t("error.number"));
                continue;
            };
            let mut actions = Vec::new();
            for (k, a) in [&h[1], &h[2]].into_iter().enumerate() {
                let action = match a.as_str() {
                    "" => continue,
                    "notify:assignee" => Action::Notify { to: Recipient::Assignee },
                    "notify:group" => Action::Notify { to: Recipient::Group },
                    "notify:manager" => Action::Notify { to: Recipient::Manager },
                    "raise_priority" => Action::RaisePriority,
                    "escalate" => Action::Escalate,
                    other => match other.strip_prefix("reassign:").and_then(|g| g.parse().ok()) {
                        Some(group_id) => Action::Reassign { group_id },
                        None => {
                            errors.push(&format!("h{i}_a{k}"), tr.t("error.choose"));
                            continue;
                        }
                    },
                };
                actions.push(action);
            }
            match thresholds.iter_mut().find(|t| t.percent == percent) {
                Some(t) => t.actions.extend(actions),
                None => thresholds.push(Threshold { percent, actions }),
            }
        }
        let mut pause_on = Vec::new();
        for r in &self.pause_on {
            match HoldReason::parse("pause_on", r) {
                Ok(r) => pause_on.push(r),
                Err(_) => errors.push("pause_on", tr.t("error.choose")),
            }
        }
        let kind = Kind::parse("kind", &self.kind).unwrap_or_else(|_| {
            errors.push("kind", tr.t("error.choose"));
            Kind::Sla
        });
        AgreementSpec {
            name: self.name.clone(),
            kind,
            active: self.active,
            customer_organisation_id,
            service_ids,
            group_id,
            supplier_id,
            conditions,
            targets,
            thresholds,
            pause_on,
            response_on: from_json_name(&self.response_on).unwrap_or_else(|| {
                errors.push("response_on", tr.t("error.choose"));
                ResponseOn::default()
            }),
            reopen: from_json_name(&self.reopen).unwrap_or_else(|| {
                errors.push("reopen", tr.t("error.choose"));
                ReopenPolicy::default()
            }),
        }
    }
}

/// A unit enum's name as the API spells it (`first_reply`).
fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn from_json_name<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// Everything an agreement may refer to, with names to show.
struct Lookups {
    organisations: Vec<(i64, String)>,
    groups: Vec<(i64, String)>,
    suppliers: Vec<(i64, String)>,
    services: Vec<(i64, String)>,
    categories: Vec<(i64, String)>,
    calendars: Vec<(i64, String)>,
}

impl Lookups {
    async fn load(st: &AppState, v: &Viewer) -> Result<Lookups, AppError> {
        let s = &st.store;
        Ok(Lookups {
            organisations: s.organisations().await?.into_iter().map(|o| (o.id, o.name)).collect(),
            groups: s.groups().await?.into_iter().map(|g| (g.id, g.name)).collect(),
            suppliers: svc::suppliers(s, &v.caller).await?.into_iter().map(|x| (x.id, x.name)).collect(),
            services: s.services().await?.into_iter().map(|x| (x.id, x.name)).collect(),
            categories: super::incident::category_paths(s.categories().await?),
            calendars: crate::service::calendars::list(s, &v.caller, 0, 100_000, None)
                .await?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect(),
        })
    }
}

/// A select's options with `value` chosen. A value not in the list (a
/// reference to something no longer offered) is kept as an option of its
/// own, so that saving the form does not quietly change it.
fn opts(none: Option<&str>, list: &[(String, String)], value: &str) -> Vec<Opt> {
    let mut out: Vec<Opt> = none
        .map(|n| Opt { value: String::new(), label: n.to_string(), selected: value.is_empty() })
        .into_iter()
        .chain(list.iter().map(|(v, l)| Opt { value: v.clone(), label: l.clone(), selected: v == value }))
        .collect();
    if !value.is_empty() && !out.iter().any(|o| o.selected) {
        out.push(Opt { value: value.to_string(), label: format!("#{value}"), selected: true });
    }
    out
}

fn named(list: &[(i64, String)]) -> Vec<(String, String)> {
    list.iter().map(|(i, n)| (i.to_string(), n.clone())).collect()
}

fn checks(prefix: &str, list: &[(String, String)], on: &[String]) -> Vec<Check> {
    list.iter()
        .map(|(v, l)| Check { name: format!("{prefix}{v}"), label: l.clone(), checked: on.contains(v) })
        .collect()
}

impl Draft {
    fn new(v: &Values, l: &Lookups, tr: &super::i18n::Tr) -> Draft {
        let t = |k: &str| tr.t(k).to_string();
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(a, b)| (a.to_string(), t(b))).collect()
        };
        let priorities: Vec<(String, String)> = (1..=5).map(|p| (p.to_string(), format!("P{p}"))).collect();
        let mut actions = pairs(&[
            ("notify:assignee", "sla.action.notify_assignee"),
            ("notify:group", "sla.action.notify_group"),
            ("notify:manager", "sla.action.notify_manager"),
            ("escalate", "sla.action.escalate"),
            ("raise_priority", "sla.action.raise_priority"),
        ]);
        actions.extend(
            l.groups.iter().map(|(id, n)| (format!("reassign:{id}"), format!("{} {n}", t("sla.action.reassign")))),
        );
        let mut targets = v.targets.clone();
        targets.extend(std::iter::repeat_with(Default::default).take(BLANK_TARGETS));
        let mut thresholds = v.thresholds.clone();
        thresholds.extend(std::iter::repeat_with(Default::default).take(BLANK_THRESHOLDS));
        Draft {
            name: v.name.clone(),
            kind: opts(
                None,
                &pairs(&[("sla", "sla.kind.sla"), ("ola", "sla.kind.ola"), ("uc", "sla.kind.uc")]),
                &v.kind,
            ),
            active: v.active,
            customer: opts(Some(tr.t("sla.any_customer")), &named(&l.organisations), &v.customer),
            group: opts(Some(tr.t("sla.no_group")), &named(&l.groups), &v.group),
            supplier: opts(Some(tr.t("sla.no_supplier")), &named(&l.suppliers), &v.supplier),
            services: checks("svc_", &named(&l.services), &v.services),
            cond_orgs: checks("corg_", &named(&l.organisations), &v.cond_orgs),
            cond_services: checks("csvc_", &named(&l.services), &v.cond_services),
            cond_priorities: checks("cpri_", &priorities, &v.cond_priorities),
            cond_types: checks(
                "ctype_",
                &RECORD_TYPES.iter().map(|r| (r.to_string(), t(&format!("sla.type.{r}")))).collect::<Vec<_>>(),
                &v.cond_types,
            ),
            pause_on: checks(
                "pause_",
                &HoldReason::ALL
                    .iter()
                    .map(|r| (r.as_str().to_string(), t(&format!("hold.{}", r.as_str()))))
                    .collect::<Vec<_>>(),
                &v.pause_on,
            ),
            response_on: opts(
                None,
                &pairs(&[
                    ("either", "sla.response_on.either"),
                    ("first_reply", "sla.response_on.first_reply"),
                    ("assignment", "sla.response_on.assignment"),
                ]),
                &v.response_on,
            ),
            reopen: opts(
                None,
                &pairs(&[("resume", "sla.reopen.resume"), ("restart", "sla.reopen.restart")]),
                &v.reopen,
            ),
            targets: targets
                .iter()
                .enumerate()
                .map(|(i, r)| TargetRow {
                    i,
                    name: r[0].clone(),
                    minutes: r[1].clone(),
                    priority: opts(Some(tr.t("sla.any_priority")), &priorities, &r[2]),
                    calendar: opts(Some(tr.t("sla.always")), &named(&l.calendars), &r[3]),
                    service: opts(Some(tr.t("sla.any_service")), &named(&l.services), &r[4]),
                    category: opts(Some(tr.t("sla.any_category")), &named(&l.categories), &r[5]),
                    stop_on: opts(
                        Some(tr.t("sla.stop_on.default")),
                        &pairs(&[
                            ("response", "sla.stop_on.response"),
                            ("in_progress", "sla.stop_on.in_progress"),
                            ("resolution", "sla.stop_on.resolution"),
                        ]),
                        &r[6],
                    ),
                })
                .collect(),
            thresholds: thresholds
                .iter()
                .enumerate()
                .map(|(i, r)| ThresholdRow {
                    i,
                    percent: r[0].clone(),
                    actions: (0..2).map(|k| (k, opts(Some(tr.t("sla.no_action")), &actions, &r[k + 1]))).collect(),
                })
                .collect(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "agreements.html")]
struct ListPage {
    p: Chrome,
    errors: Errors,
    agreements: Vec<Agreement>,
    draft: Draft,
}

#[derive(askama::Template)]
#[template(path = "agreement.html")]
struct EditPage {
    p: Chrome,
    errors: Errors,
    saved: bool,
    a: Agreement,
    draft: Draft,
}

fn require(v: &Viewer) -> Result<(), AppError> {
    v.caller.require(Permission::ManageConfiguration)
}

async fn list_page(
    st: &AppState,
    v: &Viewer,
    status: StatusCode,
    errors: Errors,
    values: Values,
) -> Result<Response, AppError> {
    require(v)?;
    let agreements = svc::agreements(&st.store, &v.caller, None, 0, 500).await?;
    let draft = Draft::new(&values, &Lookups::load(st, v).await?, &v.chrome.tr);
    render_status(status, &ListPage { p: v.chrome("admin"), errors, agreements, draft })
}

async fn edit_page(
    st: &AppState,
    v: &Viewer,
    id: i64,
    status: StatusCode,
    errors: Errors,
    typed: Option<Values>,
    saved: bool,
) -> Result<Response, AppError> {
    require(v)?;
    let a = svc::agreement(&st.store, &v.caller, id).await?;
    let values = typed.unwrap_or_else(|| Values::of(&a.spec));
    let draft = Draft::new(&values, &Lookups::load(st, v).await?, &v.chrome.tr);
    render_status(status, &EditPage { p: v.chrome("admin"), errors, saved, a, draft })
}

pub async fn list(State(st): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    list_page(&st, &v, StatusCode::OK, Errors::none(), Values::blank()).await
}

pub async fn page(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    q: axum::extract::Query<HashMap<String, String>>,
    v: Viewer,
) -> Result<Response, AppError> {
    edit_page(&st, &v, id, StatusCode::OK, Errors::none(), None, q.contains_key("saved")).await
}

pub async fn create(State(st): State<AppState>, f: Form<HashMap<String, String>>) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let values = Values::typed(&f.value);
    let mut errors = Errors::none();
    let spec = values.spec(&mut errors, &f.viewer.chrome.tr);
    if !errors.is_empty() {
        return list_page(&st, &f.viewer, StatusCode::UNPROCESSABLE_ENTITY, errors, values).await;
    }
    match svc::create_agreement(&st.store, &f.viewer.caller, spec, None).await.map(|(a, _)| a) {
        Ok(a) => Ok(see_other(&format!("/admin/slas/{}?saved=1", a.id))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &f.viewer.chrome.tr)?;
            list_page(&st, &f.viewer, status, errors, values).await
        }
    }
}

pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let values = Values::typed(&f.value);
    let mut errors = Errors::none();
    let spec = values.spec(&mut errors, &f.viewer.chrome.tr);
    // The version the form was read at: without it a save could overwrite
    // someone else's change unseen.
    let version = f.value.get("version").and_then(|v| v.trim().parse::<i64>().ok());
    if version.is_none() {
        errors.push("version", f.viewer.chrome.tr.t("error.number"));
    }
    if !errors.is_empty() {
        return edit_page(&st, &f.viewer, id, StatusCode::UNPROCESSABLE_ENTITY, errors, Some(values), false).await;
    }
    match svc::replace_agreement(&st.store, &f.viewer.caller, id, version, spec).await {
        Ok(_) => Ok(see_other(&format!("/admin/slas/{id}?saved=1"))),
        Err(AppError::Stale { .. }) => {
            // Someone saved it meanwhile: keep what was typed and say so.
            let mut errors = Errors::none();
            errors.general.push(f.viewer.chrome.tr.t("form.stale").to_string());
            edit_page(&st, &f.viewer, id, StatusCode::PRECONDITION_FAILED, errors, Some(values), false).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &f.viewer.chrome.tr)?;
            edit_page(&st, &f.viewer, id, status, errors, Some(values), false).await
        }
    }
}
