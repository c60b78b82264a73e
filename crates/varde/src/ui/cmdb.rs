//! The CMDB pages: the CI list (its query string is the saved view), a CI
//! with attributes, relations, open incidents, history, "as of" and
//! compare, and its impact graph; create/edit forms validated against the
//! class; class administration; the CIs of an incident or a problem; a person's assets
//! and leaver checklists; asset reports. Plain forms and links throughout,
//! so every page works without JavaScript.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use varde_domain::access::Permission;
use varde_domain::cmdb::{AttrKind, AttributeDef, CiStatus, ClassSchema, RelationKind};
use varde_domain::record::RecordKind;
use varde_store::cmdb::{AssetRow, Checklist, Ci, CiChange, CiClass, CiRecord, Classes, Direction, RelationView};

use super::cmdb_graph;
use super::web::{render_status, see_other, when, Chrome, Errors, Form, Viewer};
use crate::error::AppError;
use crate::service::cmdb::{self as svc, CiInput, CreateClass, NewRelation};
use crate::state::AppState;

type Pairs = Vec<(String, String)>;

fn get<'a>(q: &'a Pairs, k: &str) -> &'a str {
    q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn pairs(raw: Option<&str>) -> Result<Pairs, AppError> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(s) => serde_urlencoded::from_str(s).map_err(|e| AppError::BadRequest(format!("bad query: {e}"))),
    }
}

/// `2026-11-23T14:00` from a `datetime-local` input (read as UTC) or an
/// RFC 3339 instant.
fn parse_when(field: &str, s: &str) -> Result<Option<i64>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Some(t.as_microsecond()));
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| Some(z.timestamp().as_microsecond()))
        .ok_or_else(|| AppError::field(field, "must be a date and time like 2026-11-23T14:00 (UTC)"))
}

/// An instant as a `datetime-local` input's value, to the second (the inputs
/// take `step="1"`): cut to the minute, a page asked for 14:00:30 would
/// walk the impact at 14:00 the next time its form is sent.
fn local_input(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string()).unwrap_or_default()
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub class: String,
    pub status: String,
    pub summary: String,
}

/// A CI as a list row. Its summary is four of its attributes: what
/// identifies its class first, then in the order the class defines them
/// (not the alphabet, which put "code" and "colour" before a serial number),
/// each by its label and cut short.
fn row(ci: &Ci, classes: &Classes) -> Row {
    let schema = classes.schema(ci.class_id);
    let rule = classes.identify_by(ci.class_id);
    let mut order: Vec<&AttributeDef> = schema.attributes.iter().map(|(_, d)| d).collect();
    order.sort_by_key(|d| !rule.contains(&d.name));
    let summary = order
        .iter()
        .filter_map(|d| ci.attributes.get(&d.name).map(|v| (d, v)))
        .take(4)
        .map(|(d, v)| {
            let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let text = match text.char_indices().nth(40) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            };
            format!("{}: {text}", if d.label.is_empty() { &d.name } else { &d.label })
        })
        .collect::<Vec<_>>()
        .join(", ");
    Row {
        id: ci.id,
        name: ci.name.clone(),
        class: classes.get(ci.class_id).map(|c| c.name.clone()).unwrap_or_default(),
        status: ci.status.as_str().into(),
        summary,
    }
}

fn statuses() -> Vec<&'static str> {
    CiStatus::ALL.iter().map(|s| s.as_str()).collect()
}

// ---------------------------------------------------------------- list

#[derive(askama::Template)]
#[template(path = "cmdb_list.html")]
struct ListPage {
    p: Chrome,
    errors: Errors,
    classes: Vec<CiClass>,
    class: String,
    status: String,
    q: String,
    attr: String,
    value: String,
    as_of: String,
    rows: Vec<Row>,
    view: String,
    csv: String,
    next: Option<String>,
    /// Back to the first page, from any later one.
    first: Option<String>,
    /// The person's saved CMDB views.
    saved: Vec<varde_store::filters::SavedFilter>,
}

impl ListPage {
    fn statuses(&self) -> Vec<&'static str> {
        statuses()
    }
}

/// The class a `class` parameter names, as its select shows it: by name,
/// also when the link gave its id.
fn class_named(classes: &Classes, given: &str) -> String {
    given.parse::<i64>().ok().and_then(|id| classes.get(id)).map_or_else(|| given.to_string(), |c| c.name.clone())
}

pub async fn list(State(st): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q = pairs(raw.as_deref())?;
    let classes = svc::classes(&st.store, &v.caller).await?;
    // The page's own attr/value pair becomes an `attr.<name>` filter.
    let mut params: Pairs =
        q.iter().filter(|(k, _)| !matches!(k.as_str(), "attr" | "value" | "after")).cloned().collect();
    let (attr, value) = (get(&q, "attr").trim().to_string(), get(&q, "value").to_string());
    if !attr.is_empty() {
        params.push((format!("attr.{attr}"), value.clone()));
    }
    if let Some(t) = parse_when("as_of", get(&q, "as_of")).ok().flatten() {
        params.retain(|(k, _)| k != "as_of");
        params.push(("as_of".into(), crate::api::instant(t)));
    }
    let mut errors = Errors::none();
    let after = get(&q, "after").parse::<i64>().ok();
    let rows = match svc::filter_from(&classes, &params) {
        Ok(f) => svc::list(&st.store, &v.caller, &f, after, 50).await?,
        Err(e) => {
            errors = Errors::from_app(e, &v.chrome.tr)?;
            Vec::new()
        }
    };
    let view: Pairs = q.iter().filter(|(k, val)| k != "after" && !val.is_empty()).cloned().collect();
    let view = serde_urlencoded::to_string(&view).unwrap_or_default();
    let next = (rows.len() == 50).then(|| rows.last().map(|c| format!("/cmdb?{view}&after={}", c.id))).flatten();
    let csv = format!("/api/v1/cis.csv?{}", serde_urlencoded::to_string(&params).unwrap_or_default());
    let page = ListPage {
        p: v.chrome("cmdb"),
        class: class_named(&classes, get(&q, "class")),
        status: get(&q, "status").into(),
        q: get(&q, "q").into(),
        attr,
        value,
        as_of: get(&q, "as_of").into(),
        rows: rows.iter().map(|c| row(c, &classes)).collect(),
        classes: classes.0,
        first: after.filter(|a| *a > 0).map(|_| format!("/cmdb?{view}")),
        view: format!("/cmdb?{view}"),
        csv,
        next,
        errors,
        saved: st
            .store
            .saved_filters(v.caller.id())
            .await?
            .into_iter()
            .filter(|f| f.query.starts_with("/cmdb"))
            .collect(),
    };
    render_status(StatusCode::OK, &page)
}

// ---------------------------------------------------------------- one CI

pub struct FieldLine {
    pub label: String,
    pub value: String,
    /// Where the value's own page is, if it has one.
    pub href: Option<String>,
}

pub struct Rel {
    pub id: i64,
    pub label: String,
    pub other_id: i64,
    pub other_name: String,
    pub since: String,
    /// The relation's attributes as `name: value`, in name order.
    pub attributes: Vec<(String, String)>,
}

pub struct Hist {
    pub at: String,
    pub field: String,
    pub old: String,
    pub new: String,
    pub by: String,
}

#[derive(askama::Template)]
#[template(path = "cmdb_ci.html")]
struct CiPage {
    p: Chrome,
    errors: Errors,
    /// What the relation form was sent with, when it is shown again.
    typed_relation: Pairs,
    ci: Ci,
    class: String,
    fields: Vec<FieldLine>,
    relations: Vec<Rel>,
    incidents: Vec<CiRecord>,
    history: Vec<Hist>,
    as_of: String,
    /// The instant exactly, for the impact form to walk at the same one.
    as_of_exact: String,
    as_of_text: String,
    compare: String,
    diff: Option<svc::Diff>,
    /// The comparison's fields, as the history shows them.
    diff_rows: Vec<Hist>,
    diff_span: String,
    direction: String,
    depth: u32,
    graph: String,
    services: Vec<String>,
    reached: usize,
    can_edit: bool,
}

impl CiPage {
    fn kinds(&self) -> Vec<(&'static str, &'static str)> {
        RelationKind::ALL.iter().map(|k| (k.as_str(), k.name())).collect()
    }
    fn typed(&self, k: &str) -> &str {
        get(&self.typed_relation, k)
    }
}

/// The people, organisations and CIs a CI's fields and history name by id,
/// each read once for the page.
struct Named {
    users: HashMap<i64, String>,
    organisations: HashMap<i64, String>,
    cis: HashMap<i64, String>,
    /// The class's attributes that refer to a CI or a person, by name.
    refs: HashMap<String, AttrKind>,
}

/// The CI fields that hold a person's id, an organisation's or a CI's.
const USER_FIELDS: [&str; 2] = ["owner_id", "used_by_id"];
const CI_FIELDS: [&str; 2] = ["location_id", "supplier_id"];

impl Named {
    async fn load(st: &AppState, ci: &Ci, changes: &[CiChange], schema: &ClassSchema) -> Result<Named, AppError> {
        let refs: HashMap<String, AttrKind> = schema
            .attributes
            .iter()
            .filter(|(_, d)| matches!(d.kind, AttrKind::CiRef | AttrKind::UserRef))
            .map(|(_, d)| (d.name.clone(), d.kind))
            .collect();
        let fields_of = |kind: AttrKind| -> Vec<String> {
            refs.iter().filter(|(_, k)| **k == kind).map(|(n, _)| format!("attributes.{n}")).collect()
        };
        let (user_attrs, ci_attrs) = (fields_of(AttrKind::UserRef), fields_of(AttrKind::CiRef));
        let ids_in = |fields: &[&str], attrs: &[String]| -> Vec<i64> {
            let mut out: Vec<i64> = changes
                .iter()
                .filter(|c| fields.contains(&c.field.as_str()) || attrs.contains(&c.field))
                .flat_map(|c| [c.old_value.as_deref(), c.new_value.as_deref()])
                .flatten()
                .filter_map(|v| v.parse().ok())
                .collect();
            // The CI's own values of those attributes.
            out.extend(
                attrs
                    .iter()
                    .filter_map(|a| ci.attributes.get(a.trim_start_matches("attributes.")).and_then(Value::as_i64)),
            );
            out
        };
        let mut users = ids_in(&USER_FIELDS, &user_attrs);
        users.extend(ci.owner_id.into_iter().chain(ci.used_by_id));
        users.extend(changes.iter().filter_map(|c| c.actor_id));
        let mut cis = ids_in(&CI_FIELDS, &ci_attrs);
        cis.extend(ci.location_id.into_iter().chain(ci.supplier_id));
        let organisations = if ci.organisation_id.is_some() || changes.iter().any(|c| c.field == "organisation_id") {
            st.store.organisations().await?.into_iter().map(|o| (o.id, o.name)).collect()
        } else {
            HashMap::new()
        };
        Ok(Named {
            users: st.store.user_names(&users).await?,
            organisations,
            cis: st.store.ci_names(&cis, None).await?,
            refs,
        })
    }

    /// Where a reference attribute's value leads: the CI's page or the
    /// person's assets.
    fn href(&self, attr: &str, v: &Value) -> Option<String> {
        let id = v.as_i64()?;
        match self.refs.get(attr)? {
            AttrKind::CiRef => Some(format!("/cmdb/cis/{id}")),
            _ => Some(format!("/cmdb/people/{id}")),
        }
    }

    /// What field `field` holding `v` names; `v` itself when it names
    /// nothing (any more).
    fn value(&self, tr: &super::i18n::Tr, field: &str, v: &str) -> String {
        let by_id = |names: &HashMap<i64, String>| v.parse().ok().and_then(|id| names.get(&id).cloned());
        let attr = field.strip_prefix("attributes.").and_then(|a| self.refs.get(a));
        let found = match field {
            f if USER_FIELDS.contains(&f) || attr == Some(&AttrKind::UserRef) => by_id(&self.users),
            f if CI_FIELDS.contains(&f) || attr == Some(&AttrKind::CiRef) => by_id(&self.cis),
            "organisation_id" => by_id(&self.organisations),
            "status" => Some(tr.ci_status(v)).filter(|s| *s != "?").map(str::to_string),
            _ => None,
        };
        found.unwrap_or_else(|| v.to_string())
    }
}

/// A field's label on the CI page: the CI's own fields by their names
/// (without the "(user id)" hints the form needs), attributes by their
/// class's labels.
fn field_label(tr: &super::i18n::Tr, schema: &ClassSchema, field: &str) -> String {
    if let Some(attr) = field.strip_prefix("attributes.") {
        return schema
            .get(attr)
            .map(|d| if d.label.is_empty() { d.name.clone() } else { d.label.clone() })
            .unwrap_or_else(|| attr.to_string());
    }
    match tr.words_or_stored("cmdb.shown.", field) {
        same if same == field => tr.words_or_stored("field.", field),
        shown => shown,
    }
}

fn ci_fields(ci: &Ci, classes: &Classes, tr: &super::i18n::Tr, named: &Named) -> Vec<FieldLine> {
    let schema = classes.schema(ci.class_id);
    let mut out = Vec::new();
    let mut add = |field: &str, v: Option<String>, href: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push(FieldLine { label: field_label(tr, schema, field), value: v, href });
        }
    };
    let name = |field: &str, id: Option<i64>| id.map(|id| named.value(tr, field, &id.to_string()));
    add("owner_id", name("owner_id", ci.owner_id), None);
    add("used_by_id", name("used_by_id", ci.used_by_id), ci.used_by_id.map(|u| format!("/cmdb/people/{u}")));
    add("organisation_id", name("organisation_id", ci.organisation_id), None);
    add("location_id", name("location_id", ci.location_id), ci.location_id.map(|c| format!("/cmdb/cis/{c}")));
    add("supplier_id", name("supplier_id", ci.supplier_id), ci.supplier_id.map(|c| format!("/cmdb/cis/{c}")));
    add("cost", ci.cost.map(|c| format!("{}.{:02}", c / 100, c % 100)), None);
    add("purchased_on", ci.purchased_on.clone(), None);
    add("warranty_until", ci.warranty_until.clone(), None);
    add("end_of_life", ci.end_of_life.clone(), None);
    for (k, v) in &ci.attributes {
        let field = format!("attributes.{k}");
        let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        out.push(FieldLine {
            label: field_label(tr, schema, &field),
            value: named.value(tr, &field, &text),
            href: named.href(k, v),
        });
    }
    out
}

pub async fn ci_page(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = pairs(raw.as_deref())?;
    show_ci(&st, &v, id, &q, Errors::none(), StatusCode::OK).await
}

async fn show_ci(
    st: &AppState,
    v: &Viewer,
    id: i64,
    q: &Pairs,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, AppError> {
    show_ci_typed(st, v, id, q, errors, status, Vec::new()).await
}

async fn show_ci_typed(
    st: &AppState,
    v: &Viewer,
    id: i64,
    q: &Pairs,
    mut errors: Errors,
    status: StatusCode,
    typed_relation: Pairs,
) -> Result<Response, AppError> {
    let tr = v.chrome.tr;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let as_of = match parse_when("as_of", get(q, "as_of")) {
        Ok(t) => t,
        Err(e) => {
            errors = Errors::from_app(e, &tr)?;
            None
        }
    };
    // Before the CI existed there is nothing to show as of then: the CI as
    // it is, and why, rather than a page that says it does not exist.
    let (ci, as_of) = match svc::get(&st.store, &v.caller, id, as_of).await {
        Err(AppError::NotFound) if as_of.is_some() => {
            let now = svc::get(&st.store, &v.caller, id, None).await?;
            errors.push("as_of", &format!("{} did not exist yet; it was made {}", now.name, when(now.created_at)));
            (now, None)
        }
        found => (found?, as_of),
    };
    let rels: Vec<RelationView> = svc::relations(&st.store, &v.caller, id, as_of).await?;
    let direction = if get(q, "direction") == "down" { Direction::Down } else { Direction::Up };
    // A depth out of range walks at the default, and says so by the field.
    let depth = svc::parse_depth(Some(get(q, "depth"))).unwrap_or_else(|_| {
        errors.push("depth", &format!("must be a whole number from 1 to 20; shown at {}", svc::DEFAULT_DEPTH));
        svc::DEFAULT_DEPTH
    });
    let impact = svc::impact(&st.store, &v.caller, id, direction, depth, as_of).await?;
    let service_ids: Vec<i64> = impact.services.iter().map(|s| s.id).collect();
    let graph_label = tr.t("cmdb.graph_label");
    let graph = cmdb_graph::svg(&impact, &ci.name, &service_ids, graph_label);
    let services =
        impact.services.iter().map(|s| s.path.iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(" ← ")).collect();
    let changes: Vec<CiChange> = svc::history(&st.store, &v.caller, id).await?;
    let schema = classes.schema(ci.class_id);
    let named = Named::load(st, &ci, &changes, schema).await?;
    let history = changes
        .iter()
        .rev()
        .map(|c| Hist {
            at: when(c.at),
            field: field_label(&tr, schema, &c.field),
            old: c.old_value.as_deref().map(|v| named.value(&tr, &c.field, v)).unwrap_or_default(),
            new: c.new_value.as_deref().map(|v| named.value(&tr, &c.field, v)).unwrap_or_default(),
            by: c.actor_id.and_then(|a| named.users.get(&a).cloned()).unwrap_or_default(),
        })
        .collect();
    let compare = get(q, "compare").to_string();
    let diff = match parse_when("compare", &compare) {
        Ok(Some(other)) => {
            // Earlier to later, whichever of the two the form names first.
            let at = as_of.unwrap_or_else(varde_store::now_micros);
            Some(svc::diff(&st.store, &v.caller, id, other.min(at), other.max(at)).await?)
        }
        Ok(None) => None,
        Err(e) => {
            let more = Errors::from_app(e, &tr)?;
            for (f, m) in more.fields() {
                errors.push(f, m);
            }
            None
        }
    };
    // The comparison in the words of the history: labels, names, states.
    let diff_rows: Vec<Hist> = diff
        .iter()
        .flat_map(|d| &d.fields)
        .map(|f| Hist {
            at: String::new(),
            field: field_label(&tr, schema, &f.field),
            old: f.from.as_deref().map(|v| named.value(&tr, &f.field, v)).unwrap_or_default(),
            new: f.to.as_deref().map(|v| named.value(&tr, &f.field, v)).unwrap_or_default(),
            by: String::new(),
        })
        .collect();
    let diff_span = diff
        .as_ref()
        .map(|d| {
            let read = |s: &str| s.parse::<jiff::Timestamp>().map(|t| when(t.as_microsecond())).unwrap_or_default();
            format!("{} → {}", read(&d.from), read(&d.to))
        })
        .unwrap_or_default();
    let page = CiPage {
        typed_relation,
        diff_rows,
        diff_span,
        p: v.chrome("cmdb"),
        class: classes.get(ci.class_id).map(|c| c.name.clone()).unwrap_or_default(),
        fields: ci_fields(&ci, &classes, &tr, &named),
        relations: rels
            .iter()
            .map(|r| Rel {
                id: r.id,
                label: r.label.clone(),
                other_id: r.other_id,
                other_name: r.other_name.clone(),
                since: when(r.valid_from),
                attributes: r
                    .attributes
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        incidents: if as_of.is_none() { svc::open_records(&st.store, &v.caller, id).await? } else { Vec::new() },
        history,
        as_of: as_of.map(local_input).unwrap_or_default(),
        as_of_exact: as_of.map(crate::api::instant).unwrap_or_default(),
        as_of_text: as_of.map(when).unwrap_or_default(),
        compare,
        diff,
        direction: if direction == Direction::Down { "down" } else { "up" }.into(),
        depth,
        graph,
        services,
        reached: impact.reached,
        can_edit: v.caller.can(Permission::EditCis) && as_of.is_none(),
        ci,
        errors,
    };
    render_status(status, &page)
}

#[derive(serde::Deserialize)]
pub struct RelationForm {
    kind: String,
    #[serde(default)]
    other: String,
    #[serde(default)]
    direction: String,
    /// One `name=value` per line (or separated by `;`), e.g. `port=5432`.
    #[serde(default)]
    attributes: String,
}

/// `port=5432; protocol=tcp` into a JSON object of text values; a piece
/// without `=` or with an empty name is refused by name.
fn relation_attributes(text: &str) -> Result<Map<String, serde_json::Value>, AppError> {
    let mut out = Map::new();
    for piece in text.split(['\n', ';']).map(str::trim).filter(|p| !p.is_empty()) {
        match piece.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), serde_json::Value::String(v.trim().to_string()));
            }
            _ => return Err(AppError::field("attributes", &format!("'{piece}' is not name=value"))),
        }
    }
    Ok(out)
}

/// The other end of a relation, by id (`12` or `#12`) or exact name.
async fn find_ci(st: &AppState, v: &Viewer, s: &str) -> Result<i64, AppError> {
    let s = s.trim().trim_start_matches('#');
    if let Ok(id) = s.parse::<i64>() {
        return Ok(id);
    }
    let f = varde_store::cmdb::CiFilter { terms: varde_domain::search::query_terms(s), ..Default::default() };
    let found = svc::list(&st.store, &v.caller, &f, None, 50).await?;
    // A disposed CI is gone: its name is free for the one in use.
    let named: Vec<&Ci> =
        found.iter().filter(|c| c.status != CiStatus::Disposed && c.name.to_lowercase() == s.to_lowercase()).collect();
    match named.as_slice() {
        [one] => Ok(one.id),
        [] => Err(AppError::field("other", "no CI has this name or id")),
        // Names are not unique across classes (or for CIs made by hand):
        // picking one would relate the wrong CI without a word.
        many => {
            let ids: Vec<String> = many.iter().map(|c| format!("#{}", c.id)).collect();
            Err(AppError::field(
                "other",
                &format!("{} CIs have this name ({}): give the id", many.len(), ids.join(", ")),
            ))
        }
    }
}

pub async fn add_relation(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<RelationForm>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let result = async {
        let attributes = relation_attributes(&f.value.attributes)?;
        let other = find_ci(&st, v, &f.value.other).await?;
        let r = NewRelation {
            kind: f.value.kind.clone(),
            to_id: other,
            direction: Some(if f.value.direction == "incoming" { "incoming" } else { "outgoing" }.into()),
            attributes,
            record_id: None,
        };
        svc::add_relation(&st.store, &v.caller, id, r).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/cmdb/cis/{id}#relations"))),
        Err(e) => {
            let mut errors = Errors::from_app(e, &v.chrome.tr)?;
            // The store names the other end by its side; the form has one
            // field for it. (A relation to itself is refused as `to_id`
            // either way, and its fix is in that field too; other faults
            // name their CI in words.)
            if f.value.direction == "incoming" {
                errors.rename("from_id", "other");
            }
            errors.rename("to_id", "other");
            let typed = vec![
                ("direction".to_string(), f.value.direction.clone()),
                ("kind".to_string(), f.value.kind.clone()),
                ("other".to_string(), f.value.other.clone()),
                ("attributes".to_string(), f.value.attributes.clone()),
            ];
            show_ci_typed(&st, v, id, &Vec::new(), errors, StatusCode::UNPROCESSABLE_ENTITY, typed).await
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Empty {}

pub async fn end_relation(
    State(st): State<AppState>,
    Path((id, rel)): Path<(i64, i64)>,
    f: Form<Empty>,
) -> Result<Response, AppError> {
    svc::end_relation(&st.store, &f.viewer.caller, id, rel).await?;
    Ok(see_other(&format!("/cmdb/cis/{id}#relations")))
}

// ---------------------------------------------------------------- create / edit

pub struct AttrInput {
    pub name: String,
    pub label: String,
    pub kind: String,
    pub required: bool,
    pub value: String,
    pub values: Vec<String>,
    /// Text of several lines, edited in a text area: an input field would
    /// drop its line breaks.
    pub multiline: bool,
}

#[derive(askama::Template)]
#[template(path = "cmdb_form.html")]
struct FormPage {
    p: Chrome,
    errors: Errors,
    classes: Vec<CiClass>,
    /// 0 while the class is still to be chosen.
    class_id: i64,
    class: String,
    /// 0 for a new CI.
    id: i64,
    version: i64,
    values: Pairs,
    attrs: Vec<AttrInput>,
}

impl FormPage {
    fn statuses(&self) -> Vec<&'static str> {
        statuses()
    }
    fn val(&self, k: &str) -> String {
        get(&self.values, k).to_string()
    }
    fn attr_err(&self, name: &str) -> String {
        self.errors.get(&format!("attributes.{name}")).unwrap_or("").to_string()
    }
    fn optional_fields(&self) -> &'static [&'static str] {
        varde_store::cmdb_import::OPTIONAL_FIELDS
    }
}

/// The fields of the CI form: name, status and the optional fields, in the
/// order the import names them.
static COMMON: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut fields = vec!["name", "status"];
    fields.extend_from_slice(varde_store::cmdb_import::OPTIONAL_FIELDS);
    fields
});

fn attr_inputs(classes: &Classes, class_id: i64, values: &Pairs) -> Vec<AttrInput> {
    classes
        .schema(class_id)
        .attributes
        .iter()
        .map(|(_, d)| AttrInput {
            multiline: get(values, &format!("attr.{}", d.name)).contains('\n'),
            value: shown_value(d, get(values, &format!("attr.{}", d.name))),
            label: if d.label.is_empty() { d.name.clone() } else { d.label.clone() },
            kind: d.kind.as_str().into(),
            required: d.required,
            values: d.values.clone(),
            name: d.name.clone(),
        })
        .collect()
}

/// A value as its field shows it: an enum value as the class's list spells
/// it now (a list respelled "m" to "M" must still select the CI's value,
/// or the next save would clear it).
fn shown_value(d: &AttributeDef, v: &str) -> String {
    match d.kind {
        AttrKind::Enum => d.values.iter().find(|o| o.to_lowercase() == v.to_lowercase()).cloned(),
        _ => None,
    }
    .unwrap_or_else(|| v.to_string())
}

fn values_of(ci: &Ci, classes: &Classes) -> Pairs {
    let mut out: Pairs = Vec::new();
    let doc = svc::input_doc(ci);
    for k in COMMON.iter() {
        if let Some(v) = doc.get(*k) {
            out.push((k.to_string(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
        }
    }
    if let Some(c) = ci.cost {
        out.retain(|(k, _)| k != "cost");
        out.push(("cost".into(), format!("{}.{:02}", c / 100, c % 100)));
    }
    let schema = classes.schema(ci.class_id);
    for (k, v) in &ci.attributes {
        // JSON as JSON, a string quoted, so the form reads it back as it is
        // (`cmdb_import::typed`).
        let json = schema.get(k).is_some_and(|d| d.kind == AttrKind::Json);
        let text = match v.as_str() {
            Some(s) if !json => s.to_string(),
            _ => v.to_string(),
        };
        out.push((format!("attr.{k}"), text));
    }
    out
}

/// The form's values as a merge-patch document over the whole CI: an empty
/// field clears it.
fn form_doc(
    classes: &Classes,
    class_id: i64,
    f: &Pairs,
    errors: &mut Errors,
    tr: &super::i18n::Tr,
) -> Map<String, Value> {
    let mut m = Map::new();
    for k in COMMON.iter() {
        let v = get(f, k).trim();
        let val = if v.is_empty() {
            Value::Null
        } else if k.ends_with("_id") {
            match v.trim_start_matches('#').parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(k, tr.t("error.number"));
                    Value::Null
                }
            }
        } else if *k == "cost" {
            match v.parse::<f64>() {
                Ok(n) if n >= 0.0 => Value::from((n * 100.0).round() as i64),
                _ => {
                    errors.push(k, tr.t("error.number"));
                    Value::Null
                }
            }
        } else {
            Value::String(v.to_string())
        };
        m.insert(k.to_string(), val);
    }
    let mut attrs = Map::new();
    for (_, d) in &classes.schema(class_id).attributes {
        let v = get(f, &format!("attr.{}", d.name)).trim();
        let value = if v.is_empty() {
            Value::Null
        } else {
            match crate::service::cmdb_import::typed(Some(d.kind), v) {
                Ok(v) => v,
                Err(why) => {
                    errors.push(&format!("attributes.{}", d.name), why);
                    continue;
                }
            }
        };
        attrs.insert(d.name.clone(), value);
    }
    m.insert("attributes".into(), Value::Object(attrs));
    m
}

pub async fn new_page(State(st): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    v.caller.require(Permission::EditCis)?;
    let q = pairs(raw.as_deref())?;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let class = get(&q, "class");
    let class_id = class.parse::<i64>().ok().and_then(|id| classes.get(id)).or_else(|| classes.by_name(class));
    let class_id = class_id.map(|c| c.id).unwrap_or(0);
    let page = FormPage {
        p: v.chrome("cmdb"),
        errors: Errors::none(),
        class: classes.get(class_id).map(|c| c.name.clone()).unwrap_or_default(),
        attrs: attr_inputs(&classes, class_id, &q),
        classes: classes.0,
        class_id,
        id: 0,
        version: 0,
        values: vec![("status".into(), "deployed".into())],
    };
    render_status(StatusCode::OK, &page)
}

/// The form's values with a location or supplier given by name, and an
/// owner or user by e-mail, replaced by their ids (as `find_ci` finds a
/// relation's other end); what names nothing, or more than one CI, is a
/// fault of its field.
async fn with_ids(st: &AppState, v: &Viewer, form: &Pairs, errors: &mut Errors) -> Result<Pairs, AppError> {
    let mut out = form.clone();
    for (k, val) in out.iter_mut() {
        let given = val.trim().trim_start_matches('#').to_string();
        if given.is_empty() || given.parse::<i64>().is_ok() {
            continue;
        }
        match k.as_str() {
            "location_id" | "supplier_id" => match find_ci(st, v, &given).await {
                Ok(id) => *val = id.to_string(),
                Err(AppError::Invalid(errs)) => {
                    for e in errs {
                        errors.push(k, &e.message);
                    }
                    // Told once, here: not "must be a number" too.
                    val.clear();
                }
                Err(e) => return Err(e),
            },
            "owner_id" | "used_by_id" => match st.store.user_by_email(&given).await {
                Ok(u) => *val = u.id.to_string(),
                Err(varde_store::StoreError::NotFound) => {
                    errors.push(k, "no one has this e-mail address");
                    val.clear();
                }
                Err(e) => return Err(e.into()),
            },
            _ => {}
        }
    }
    Ok(out)
}

pub async fn create(State(st): State<AppState>, f: Form<Pairs>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let class_id = get(&f.value, "class_id").parse::<i64>().unwrap_or(0);
    let mut errors = Errors::none();
    let form = with_ids(&st, v, &f.value, &mut errors).await?;
    let doc = form_doc(&classes, class_id, &form, &mut errors, &v.chrome.tr);
    // Null means "not given" on create.
    let mut m = doc;
    m.retain(|_, v| !v.is_null());
    if let Some(Value::Object(a)) = m.get_mut("attributes") {
        a.retain(|_, v| !v.is_null());
    }
    m.insert("class_id".into(), Value::from(class_id));
    m.entry("name").or_insert(Value::String(String::new()));
    let raw = serde_json::to_vec(&m).unwrap_or_default();
    let input = crate::api::parse_json::<CiInput>(&raw);
    let result = match input {
        Ok(input) if errors.is_empty() => svc::create(&st.store, &v.caller, input).await,
        // A cost or id that is no number: the rest of the form is still
        // checked, as far as it can be without the database, so that every
        // fault is named at once.
        Ok(input) => match svc::fields_of(&classes, input) {
            Ok((fields, _)) => Err(AppError::Invalid(varde_store::cmdb::field_errors(&classes, fields))),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(ci) => Ok(see_other(&format!("/cmdb/cis/{}", ci.id))),
        Err(e) => {
            let more = Errors::from_app(e, &v.chrome.tr)?;
            for (k, m) in more.fields() {
                errors.push(k, m);
            }
            errors.general.extend(more.general);
            let page = FormPage {
                p: v.chrome("cmdb"),
                class: classes.get(class_id).map(|c| c.name.clone()).unwrap_or_default(),
                attrs: attr_inputs(&classes, class_id, &f.value),
                classes: classes.0,
                class_id,
                id: 0,
                version: 0,
                values: f.value.clone(),
                errors,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn edit_page(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Result<Response, AppError> {
    v.caller.require(Permission::EditCis)?;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let ci = svc::get(&st.store, &v.caller, id, None).await?;
    let values = values_of(&ci, &classes);
    let page = FormPage {
        p: v.chrome("cmdb"),
        errors: Errors::none(),
        class: classes.get(ci.class_id).map(|c| c.name.clone()).unwrap_or_default(),
        attrs: attr_inputs(&classes, ci.class_id, &values),
        classes: classes.0,
        class_id: ci.class_id,
        id,
        version: ci.version,
        values,
    };
    render_status(StatusCode::OK, &page)
}

pub async fn edit(State(st): State<AppState>, Path(id): Path<i64>, f: Form<Pairs>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let ci = svc::get(&st.store, &v.caller, id, None).await?;
    let mut errors = Errors::none();
    let form = with_ids(&st, v, &f.value, &mut errors).await?;
    let doc = form_doc(&classes, ci.class_id, &form, &mut errors, &v.chrome.tr);
    let version = get(&f.value, "version").parse::<i64>().ok();
    let result = if errors.is_empty() {
        svc::update(&st.store, &v.caller, id, version, doc).await
    } else {
        Err(AppError::Invalid(Vec::new()))
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/cmdb/cis/{id}"))),
        Err(e) => {
            let more = Errors::from_app(e, &v.chrome.tr);
            let more = match more {
                Ok(m) => m,
                Err(AppError::Stale { .. }) => {
                    let mut m = Errors::none();
                    m.general.push(v.chrome.tr.t("cmdb.stale").to_string());
                    m
                }
                Err(other) => return Err(other),
            };
            for (k, m) in more.fields() {
                errors.push(k, m);
            }
            errors.general.extend(more.general);
            let page = FormPage {
                p: v.chrome("cmdb"),
                class: classes.get(ci.class_id).map(|c| c.name.clone()).unwrap_or_default(),
                attrs: attr_inputs(&classes, ci.class_id, &f.value),
                classes: classes.0,
                class_id: ci.class_id,
                id,
                version: ci.version,
                values: f.value.clone(),
                errors,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

// ---------------------------------------------------------------- classes

pub struct ClassLine {
    pub id: i64,
    pub name: String,
    pub parent: String,
    pub own: String,
    pub inherited: String,
    pub identify_by: String,
}

#[derive(askama::Template)]
#[template(path = "cmdb_classes.html")]
struct ClassesPage {
    p: Chrome,
    errors: Errors,
    lines: Vec<ClassLine>,
    classes: Vec<CiClass>,
    can_edit: bool,
    values: Pairs,
}

impl ClassesPage {
    fn val(&self, k: &str) -> String {
        get(&self.values, k).to_string()
    }
    fn attr_errors(&self) -> String {
        attribute_faults(&self.errors)
    }
}

/// Every fault of a class's attribute definitions ("attributes[1].kind:
/// ..."), to show by the text area they were typed in.
fn attribute_faults(errors: &Errors) -> String {
    let faults: Vec<String> =
        errors.fields().filter(|(k, _)| k.starts_with("attributes[")).map(|(k, m)| format!("{k}: {m}")).collect();
    faults.join("; ")
}

/// The names of the attributes a class's parent gives it.
fn inherited_names(classes: &Classes, class: &CiClass) -> String {
    match class.parent_id {
        Some(p) => classes.schema(p).attributes.iter().map(|(_, a)| a.name.clone()).collect::<Vec<_>>().join(", "),
        None => String::new(),
    }
}

fn describe(a: &AttributeDef) -> String {
    let mut s = format!("{}:{}", a.name, a.kind.as_str());
    if a.required {
        s.push_str(":required");
    }
    if a.unique {
        s.push_str(":unique");
    }
    if !a.values.is_empty() {
        s.push_str(&format!(":values={}", a.values.join("|")));
    }
    // Last, as it may hold colons of its own.
    if !a.label.is_empty() {
        s.push_str(&format!(":label={}", a.label));
    }
    s
}

/// One attribute per line: `name:kind[:required][:unique][:values=a|b][:label=Text]`,
/// as `describe` writes it, so a class's attributes edit as they show.
fn parse_attr_lines(text: &str) -> Result<Vec<AttributeDef>, AppError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let (line, label) = match line.split_once(":label=") {
            Some((rest, label)) => (rest, label.trim().to_string()),
            None => (line, String::new()),
        };
        let mut parts = line.split(':');
        let name = parts.next().unwrap_or("").trim().to_string();
        let kind_s = parts.next().unwrap_or("text").trim();
        let kind = AttrKind::ALL.into_iter().find(|k| k.as_str() == kind_s).ok_or_else(|| {
            AppError::field("attributes", &format!("line {}: {kind_s} is not an attribute type", i + 1))
        })?;
        let mut a = AttributeDef { name, label, kind, required: false, unique: false, values: vec![] };
        for p in parts {
            match p.trim() {
                "required" => a.required = true,
                "unique" => a.unique = true,
                v if v.starts_with("values=") => {
                    a.values = v["values=".len()..]
                        .split('|')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                other => {
                    return Err(AppError::field("attributes", &format!("line {}: {other} is not understood", i + 1)))
                }
            }
        }
        out.push(a);
    }
    Ok(out)
}

async fn classes_page(
    st: &AppState,
    v: &Viewer,
    errors: Errors,
    values: Pairs,
    status: StatusCode,
) -> Result<Response, AppError> {
    let classes = svc::classes(&st.store, &v.caller).await?;
    let lines = classes
        .0
        .iter()
        .map(|c| {
            let inherited = inherited_names(&classes, c);
            ClassLine {
                id: c.id,
                name: c.name.clone(),
                parent: c.parent_id.and_then(|p| classes.get(p)).map(|p| p.name.clone()).unwrap_or_default(),
                own: c.attributes.iter().map(describe).collect::<Vec<_>>().join("\n"),
                inherited,
                identify_by: c.identify_by.join(", "),
            }
        })
        .collect();
    let page = ClassesPage {
        p: v.chrome("cmdb"),
        errors,
        lines,
        classes: classes.0,
        can_edit: v.caller.can(Permission::ManageCiClasses),
        values,
    };
    render_status(status, &page)
}

pub async fn classes(State(st): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    classes_page(&st, &v, Errors::none(), Vec::new(), StatusCode::OK).await
}

#[derive(askama::Template)]
#[template(path = "cmdb_class_edit.html")]
struct ClassEditPage {
    p: Chrome,
    errors: Errors,
    class: CiClass,
    /// What the parent gives the class, by name.
    inherited: String,
    values: Pairs,
}

impl ClassEditPage {
    fn val(&self, k: &str) -> String {
        get(&self.values, k).to_string()
    }
    fn attr_errors(&self) -> String {
        attribute_faults(&self.errors)
    }
}

async fn class_edit_page(
    st: &AppState,
    v: &Viewer,
    id: i64,
    errors: Errors,
    typed: Option<Pairs>,
    status: StatusCode,
) -> Result<Response, AppError> {
    v.caller.require(Permission::ManageCiClasses)?;
    let classes = svc::classes(&st.store, &v.caller).await?;
    let class = classes.get(id).cloned().ok_or(AppError::NotFound)?;
    let inherited = inherited_names(&classes, &class);
    let values = typed.unwrap_or_else(|| {
        vec![
            ("name".into(), class.name.clone()),
            ("description".into(), class.description.clone()),
            ("attributes".into(), class.attributes.iter().map(describe).collect::<Vec<_>>().join("\n")),
            ("attributes_shown".into(), class.attributes.iter().map(describe).collect::<Vec<_>>().join("\n")),
            ("identify_by".into(), class.identify_by.join(", ")),
            ("version".into(), class.version.to_string()),
        ]
    });
    let page = ClassEditPage { p: v.chrome("cmdb"), errors, class, inherited, values };
    render_status(status, &page)
}

pub async fn class_edit(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Result<Response, AppError> {
    class_edit_page(&st, &v, id, Errors::none(), None, StatusCode::OK).await
}

/// A class's name, description, own attributes (as on the classes page) and
/// identification, at the version the form was read at.
pub async fn update_class(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<Pairs>,
) -> Result<Response, AppError> {
    let v = &f.viewer;
    let result = async {
        // The attributes as shown are left alone: only a changed text is
        // read back, so a rename cannot rewrite definitions the text form
        // shows imperfectly.
        let typed = get(&f.value, "attributes");
        let shown = get(&f.value, "attributes_shown");
        let attributes = if typed.replace("\r\n", "\n").trim() == shown.replace("\r\n", "\n").trim() {
            None
        } else {
            Some(parse_attr_lines(typed)?)
        };
        let identify_by = get(&f.value, "identify_by")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let u = svc::UpdateClass {
            name: Some(get(&f.value, "name").to_string()),
            description: Some(get(&f.value, "description").to_string()),
            attributes,
            identify_by: Some(identify_by),
        };
        let version = get(&f.value, "version").parse::<i64>().ok();
        svc::update_class(&st.store, &v.caller, id, version, u).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/cmdb/classes")),
        Err(AppError::Stale { current }) => {
            // Someone saved the class meanwhile: what was typed stays, to
            // save over theirs once read (the form now holds their version).
            let mut errors = Errors::none();
            errors.general.push(v.chrome.tr.t("cmdb.class_stale").to_string());
            let mut typed = f.value.clone();
            typed.retain(|(k, _)| k != "version");
            typed.push(("version".into(), current.to_string()));
            class_edit_page(&st, v, id, errors, Some(typed), StatusCode::CONFLICT).await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            class_edit_page(&st, v, id, errors, Some(f.value.clone()), status).await
        }
    }
}

pub async fn create_class(State(st): State<AppState>, f: Form<Pairs>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let result = async {
        let attributes = parse_attr_lines(get(&f.value, "attributes"))?;
        let parent_id = get(&f.value, "parent_id").parse::<i64>().ok();
        let identify_by = get(&f.value, "identify_by")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let c = CreateClass {
            name: get(&f.value, "name").into(),
            parent_id,
            description: get(&f.value, "description").into(),
            attributes,
            identify_by,
        };
        svc::create_class(&st.store, &v.caller, c).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/cmdb/classes")),
        Err(e) => {
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            classes_page(&st, v, errors, f.value.clone(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

// ---------------------------------------------------------------- incidents and problems

/// The CIs an incident or a problem affects, with forms to link and unlink.
#[derive(askama::Template)]
#[template(path = "cmdb_incident.html")]
struct RecordCisPage {
    p: Chrome,
    errors: Errors,
    /// `incidents` or `problems`: where the record's own pages are.
    collection: &'static str,
    number: String,
    rows: Vec<Row>,
    services: Vec<String>,
    /// The CI typed into a refused link.
    typed: String,
}

/// The record kind's segment in the web UI's paths, and the menu section it
/// belongs to.
fn place(kind: RecordKind) -> (&'static str, &'static str) {
    match kind {
        RecordKind::Problem => ("problems", "problems"),
        _ => ("incidents", "queue"),
    }
}

async fn record_page(
    st: &AppState,
    v: &Viewer,
    kind: RecordKind,
    number: &str,
    errors: Errors,
    status: StatusCode,
    typed: String,
) -> Result<Response, AppError> {
    let (_, cis, services) = svc::record_cis(&st.store, &v.caller, kind, number).await?;
    let classes = st.store.ci_classes().await?;
    let (collection, section) = place(kind);
    let page = RecordCisPage {
        p: v.chrome(section),
        errors,
        collection,
        number: number.to_string(),
        rows: cis.iter().map(|c| row(c, &classes)).collect(),
        services: services
            .iter()
            .map(|s| s.path.iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(" ← "))
            .collect(),
        typed,
    };
    render_status(status, &page)
}

async fn link_record(st: &AppState, kind: RecordKind, number: &str, f: &Form<Pairs>) -> Result<Response, AppError> {
    let v = &f.viewer;
    let result = async {
        let id = find_ci(st, v, get(&f.value, "ci")).await?;
        svc::link_record_ci(&st.store, &v.caller, kind, number, id).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/cmdb/{}/{number}", place(kind).0))),
        Err(AppError::Invalid(e)) => {
            let errors = Errors::from_app(AppError::Invalid(e), &v.chrome.tr)?;
            let typed = get(&f.value, "ci").to_string();
            record_page(st, v, kind, number, errors, StatusCode::UNPROCESSABLE_ENTITY, typed).await
        }
        Err(e) => Err(e),
    }
}

async fn unlink_record(
    st: &AppState,
    v: &Viewer,
    kind: RecordKind,
    number: &str,
    ci: i64,
) -> Result<Response, AppError> {
    svc::unlink_record_ci(&st.store, &v.caller, kind, number, ci).await?;
    Ok(see_other(&format!("/cmdb/{}/{number}", place(kind).0)))
}

pub async fn incident_cis(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    record_page(&st, &v, RecordKind::Incident, &number, Errors::none(), StatusCode::OK, String::new()).await
}

pub async fn link_incident(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<Pairs>,
) -> Result<Response, AppError> {
    link_record(&st, RecordKind::Incident, &number, &f).await
}

pub async fn unlink_incident(
    State(st): State<AppState>,
    Path((number, ci)): Path<(String, i64)>,
    f: Form<Empty>,
) -> Result<Response, AppError> {
    unlink_record(&st, &f.viewer, RecordKind::Incident, &number, ci).await
}

pub async fn problem_cis(
    State(st): State<AppState>,
    v: Viewer,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    record_page(&st, &v, RecordKind::Problem, &number, Errors::none(), StatusCode::OK, String::new()).await
}

pub async fn link_problem(
    State(st): State<AppState>,
    Path(number): Path<String>,
    f: Form<Pairs>,
) -> Result<Response, AppError> {
    link_record(&st, RecordKind::Problem, &number, &f).await
}

pub async fn unlink_problem(
    State(st): State<AppState>,
    Path((number, ci)): Path<(String, i64)>,
    f: Form<Empty>,
) -> Result<Response, AppError> {
    unlink_record(&st, &f.viewer, RecordKind::Problem, &number, ci).await
}

// ---------------------------------------------------------------- people and reports

#[derive(askama::Template)]
#[template(path = "cmdb_person.html")]
struct PersonPage {
    p: Chrome,
    name: String,
    user_id: i64,
    assets: Vec<Row>,
    lists: Vec<Checklist>,
    can_edit: bool,
}

impl PersonPage {
    /// A person has one open checklist at a time: while one is open, the
    /// page offers no second.
    fn has_open_list(&self) -> bool {
        self.lists.iter().any(|l| l.closed_at.is_none())
    }
    fn when(&self, m: &i64) -> String {
        when(*m)
    }
}

pub async fn person(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Result<Response, AppError> {
    let assets = svc::assets_of(&st.store, &v.caller, id).await?;
    let lists = if v.caller.can(Permission::ReadCmdb) {
        svc::checklists_of(&st.store, &v.caller, id).await?
    } else {
        Vec::new()
    };
    let classes = st.store.ci_classes().await?;
    let page = PersonPage {
        p: v.chrome("cmdb"),
        name: st.store.user(id).await?.name,
        user_id: id,
        assets: assets.iter().map(|c| row(c, &classes)).collect(),
        lists,
        can_edit: v.caller.can(Permission::EditCis),
    };
    render_status(StatusCode::OK, &page)
}

pub async fn create_checklist(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<Empty>,
) -> Result<Response, AppError> {
    svc::create_checklist(&st.store, &f.viewer.caller, id).await?;
    Ok(see_other(&format!("/cmdb/people/{id}")))
}

pub async fn complete_item(
    State(st): State<AppState>,
    Path((list, item)): Path<(i64, i64)>,
    f: Form<Pairs>,
) -> Result<Response, AppError> {
    let c = svc::complete_item(&st.store, &f.viewer.caller, list, item, get(&f.value, "note").to_string()).await?;
    Ok(see_other(&format!("/cmdb/people/{}", c.user_id)))
}

#[derive(askama::Template)]
#[template(path = "cmdb_reports.html")]
struct ReportsPage {
    p: Chrome,
    errors: Errors,
    kind: String,
    years: String,
    class: String,
    rows: Vec<AssetRow>,
    /// The report's next page, when this one is full.
    next: Option<String>,
    classes: Vec<CiClass>,
}

impl ReportsPage {
    fn class_name(&self, id: &i64) -> &str {
        self.classes.iter().find(|c| c.id == *id).map(|c| c.name.as_str()).unwrap_or("")
    }
}

pub async fn reports(State(st): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let q = pairs(raw.as_deref())?;
    let kind = if get(&q, "kind").is_empty() { "end_of_life".to_string() } else { get(&q, "kind").to_string() };
    let rq = crate::api::cmdb::ReportQuery {
        kind: Some(kind.clone()),
        years: Some(get(&q, "years").to_string()).filter(|s| !s.is_empty()),
        class: Some(get(&q, "class").to_string()).filter(|s| !s.is_empty()),
        limit: None,
        cursor: Some(get(&q, "cursor").to_string()).filter(|s| !s.is_empty()),
    };
    let (rows, next, errors) = match crate::api::cmdb::report(&st, &v.caller, &rq).await {
        Ok((rows, next)) => (rows, next, Errors::none()),
        Err(e) => (Vec::new(), None, Errors::from_app(e, &v.chrome.tr)?),
    };
    // The next page keeps this one's question.
    let next = next.map(|c| {
        let mut view: Pairs = q.iter().filter(|(k, val)| k != "cursor" && !val.is_empty()).cloned().collect();
        view.push(("cursor".into(), c));
        format!("/cmdb/reports?{}", serde_urlencoded::to_string(&view).unwrap_or_default())
    });
    let classes = st.store.ci_classes().await?;
    let page = ReportsPage {
        p: v.chrome("cmdb"),
        errors,
        kind,
        years: get(&q, "years").into(),
        class: class_named(&classes, get(&q, "class")),
        rows,
        next,
        classes: classes.0,
    };
    render_status(StatusCode::OK, &page)
}

// ---------------------------------------------------------------- import

#[derive(askama::Template)]
#[template(path = "cmdb_import.html")]
struct ImportPage {
    p: Chrome,
    errors: Errors,
    report: Option<varde_store::cmdb_import::ImportReport>,
    source: String,
    dry_run: bool,
}

pub async fn import_page(v: Viewer) -> Result<Response, AppError> {
    v.caller.require(Permission::EditCis)?;
    let page =
        ImportPage { p: v.chrome("cmdb"), errors: Errors::none(), report: None, source: String::new(), dry_run: true };
    render_status(StatusCode::OK, &page)
}

/// The upload: `_csrf` first (checked before the file is read), then
/// `source`, `dry_run` and `file`. A file whose first character opens a
/// JSON object is read as JSON, any other as CSV (as the export writes it).
pub async fn import(
    State(st): State<AppState>,
    v: Viewer,
    headers: axum::http::HeaderMap,
    mp: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    use crate::service::cmdb_import::{self as imp, Format};
    v.caller.require(Permission::EditCis)?;
    let mut mp = super::incident::csrf_checked(&v, &headers, mp).await?;
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.body_text());
    let (mut source, mut dry_run, mut file) = (String::new(), false, None);
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "source" => source = field.text().await.map_err(bad)?,
            "dry_run" => dry_run = true,
            "file" => {
                let name = field.file_name().unwrap_or("").to_string();
                file = Some((name, field.bytes().await.map_err(bad)?));
            }
            _ => {}
        }
    }
    let source = source.trim().to_string();
    let result = match &file {
        Some((name, bytes)) if !bytes.is_empty() => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
            let json = name.to_ascii_lowercase().ends_with(".json")
                || text.trim_start_matches('\u{feff}').trim_start().starts_with('{');
            let format = if json { Format::Json } else { Format::Csv };
            // Unnamed, a CSV file is recorded by its file name; a JSON file
            // may name its own source.
            let from = Some(source.clone())
                .filter(|s| !s.is_empty())
                .or_else(|| (!json).then(|| name.chars().take(200).collect::<String>()).filter(|n| !n.is_empty()));
            imp::import(&st.store, &v.caller, format, bytes, from, dry_run).await
        }
        _ => Err(AppError::field("file", v.chrome.tr.t("cmdb.import_choose"))),
    };
    let (report, errors, status) = match result {
        Ok(r) if !r.problems.is_empty() && !r.dry_run => (Some(r), Errors::none(), StatusCode::UNPROCESSABLE_ENTITY),
        Ok(r) => (Some(r), Errors::none(), StatusCode::OK),
        Err(e) => {
            let status = e.status();
            (None, Errors::from_app(e, &v.chrome.tr)?, status)
        }
    };
    let page = ImportPage { p: v.chrome("cmdb"), errors, report, source, dry_run };
    render_status(status, &page)
}
