//! Configuration management: the operations on classes, CIs, relations,
//! impact, history and assets, with their rights checks. Shared by the REST
//! API and the web UI.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use varde_domain::access::Permission;
use varde_domain::cmdb::class::filter_key;
use varde_domain::cmdb::{AttributeDef, CiStatus, RelationKind};
use varde_domain::record::RecordKind;
use varde_domain::{search, FieldError};
use varde_store::cmdb::{
    AffectedService, ChangeContext, Checklist, Ci, CiChange, CiClass, CiFields, CiFilter, CiRecord, ClassChanges,
    Classes, Direction, Impact, NewClass, Relation, RelationView,
};
use varde_store::{Store, StoreError};

use crate::auth::Caller;
use crate::error::AppError;

pub const MAX_DEPTH: u32 = 20;
pub const DEFAULT_DEPTH: u32 = 10;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClass {
    pub name: String,
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub description: String,
    /// Attribute definitions: `{name, label, kind, required, unique, values}`;
    /// kind is text, number, date, enum, ci_ref, user_ref, ip, mac or json.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attributes: Vec<AttributeDef>,
    /// Attribute names that identify a CI on import (default: its name).
    #[serde(default)]
    pub identify_by: Vec<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClass {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The class's own attributes, replaced as a whole.
    #[schema(value_type = Option<Vec<Object>>)]
    pub attributes: Option<Vec<AttributeDef>>,
    pub identify_by: Option<Vec<String>>,
}

pub async fn classes(store: &Store, caller: &Caller) -> Result<Classes, AppError> {
    caller.require(Permission::ReadCmdb)?;
    Ok(store.ci_classes().await?)
}

pub async fn create_class(store: &Store, caller: &Caller, c: CreateClass) -> Result<CiClass, AppError> {
    caller.require(Permission::ManageCiClasses)?;
    let new = NewClass {
        name: c.name,
        parent_id: c.parent_id,
        description: c.description,
        attributes: c.attributes,
        identify_by: c.identify_by,
    };
    Ok(store.create_ci_class(new, caller.id()).await?)
}

pub async fn update_class(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected: Option<i64>,
    u: UpdateClass,
) -> Result<CiClass, AppError> {
    caller.require(Permission::ManageCiClasses)?;
    let ch =
        ClassChanges { name: u.name, description: u.description, attributes: u.attributes, identify_by: u.identify_by };
    Ok(store.update_ci_class(id, expected, ch, caller.id()).await?)
}

/// A CI as a caller writes it (create) or as a merge patch leaves it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    /// The class id; or give `class` by name.
    pub class_id: Option<i64>,
    pub class: Option<String>,
    pub name: String,
    /// ordered, in_stock, deployed (default), in_repair, retired, disposed.
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub location_id: Option<i64>,
    pub supplier_id: Option<i64>,
    /// In minor units (cents).
    pub cost: Option<i64>,
    pub purchased_on: Option<String>,
    pub warranty_until: Option<String>,
    pub end_of_life: Option<String>,
    pub used_by_id: Option<i64>,
    pub organisation_id: Option<i64>,
    #[schema(value_type = Object)]
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// The record (an incident, a change) this change is made under; kept in the history.
    pub record_id: Option<i64>,
}

fn class_of(classes: &Classes, id: Option<i64>, name: Option<&str>) -> Result<i64, AppError> {
    match (id, name) {
        (Some(id), _) => classes.get(id).map(|c| c.id).ok_or_else(|| AppError::field("class_id", "is not a CI class")),
        (None, Some(n)) => {
            classes.by_name(n).map(|c| c.id).ok_or_else(|| AppError::field("class", "is not a CI class"))
        }
        (None, None) => Err(AppError::field("class_id", "is required")),
    }
}

pub fn fields_of(classes: &Classes, i: CiInput) -> Result<(CiFields, ChangeContext), AppError> {
    let class_id = class_of(classes, i.class_id, i.class.as_deref());
    let status = i.status.as_deref().map(|s| CiStatus::parse("status", s)).transpose();
    let fields = CiFields {
        class_id: *class_id.as_ref().unwrap_or(&0),
        name: i.name,
        status: status.as_ref().ok().copied().flatten(),
        owner_id: i.owner_id,
        location_id: i.location_id,
        supplier_id: i.supplier_id,
        cost: i.cost,
        purchased_on: i.purchased_on,
        warranty_until: i.warranty_until,
        end_of_life: i.end_of_life,
        used_by_id: i.used_by_id,
        organisation_id: i.organisation_id,
        attributes: i.attributes,
    };
    if class_id.is_err() || status.is_err() {
        // Every fault at once: the store would check the rest, but only
        // once class and status are sound.
        let mut errs = Vec::new();
        if let Err(AppError::Invalid(e)) = class_id {
            errs.extend(e);
        }
        if let Err(varde_domain::DomainError::Invalid(e)) = status {
            errs.extend(e);
        }
        errs.extend(varde_store::cmdb::field_errors(classes, fields));
        return Err(AppError::Invalid(errs));
    }
    Ok((fields, ChangeContext { actor: None, record_id: i.record_id, import_id: None }))
}

pub async fn create(store: &Store, caller: &Caller, input: CiInput) -> Result<Ci, AppError> {
    Ok(create_once(store, caller, input, None).await?.0)
}

/// Creates a CI; with an idempotency key, a retry returns the first result
/// (and `true`).
pub async fn create_once(
    store: &Store,
    caller: &Caller,
    input: CiInput,
    key: Option<varde_store::idempotency::IdempotencyKey>,
) -> Result<(Ci, bool), AppError> {
    caller.require(Permission::EditCis)?;
    let classes = store.ci_classes().await?;
    let (fields, mut ctx) = fields_of(&classes, input)?;
    ctx.actor = Some(caller.id());
    Ok(match key {
        Some(k) => store.create_ci_once(fields, ctx, k).await?,
        None => (store.create_ci(fields, ctx).await?, false),
    })
}

pub async fn get(store: &Store, caller: &Caller, id: i64, as_of: Option<i64>) -> Result<Ci, AppError> {
    caller.require(Permission::ReadCmdb)?;
    Ok(match as_of {
        Some(t) => store.ci_as_of(id, t).await?,
        None => store.ci(id).await?,
    })
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The CI as an input document, the thing a merge patch applies to.
pub fn input_doc(ci: &Ci) -> Value {
    let mut m = Map::new();
    m.insert("class_id".into(), ci.class_id.into());
    m.insert("name".into(), ci.name.clone().into());
    m.insert("status".into(), ci.status.as_str().into());
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    opt("owner_id", ci.owner_id.map(Value::from));
    opt("location_id", ci.location_id.map(Value::from));
    opt("supplier_id", ci.supplier_id.map(Value::from));
    opt("cost", ci.cost.map(Value::from));
    opt("purchased_on", ci.purchased_on.clone().map(Value::from));
    opt("warranty_until", ci.warranty_until.clone().map(Value::from));
    opt("end_of_life", ci.end_of_life.clone().map(Value::from));
    opt("used_by_id", ci.used_by_id.map(Value::from));
    opt("organisation_id", ci.organisation_id.map(Value::from));
    m.insert("attributes".into(), Value::Object(ci.attributes.clone()));
    Value::Object(m)
}

/// Applies a JSON merge patch to a CI, if it is still at `expected`.
/// Without `expected` the patch applies to the CI as it is when written:
/// the patch is merged into the version read, and written only if that is
/// still the current one; otherwise it is merged again into the newer one.
/// Writing the merged whole over a newer version would silently undo the
/// other writer's change, and log it as this caller's.
pub async fn update(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected: Option<i64>,
    patch: Map<String, Value>,
) -> Result<Ci, AppError> {
    caller.require(Permission::EditCis)?;
    let patch = Value::Object(patch);
    let mut attempts = 0;
    loop {
        let current = store.ci(id).await?;
        let mut doc = input_doc(&current);
        merge_patch(&mut doc, &patch);
        let input: CiInput = crate::api::parse_json(&serde_json::to_vec(&doc).unwrap_or_default())?;
        if input.class_id != Some(current.class_id) || input.class.is_some() {
            return Err(AppError::field("class_id", "cannot change; create a CI of the other class"));
        }
        // `null` removes a key in a merge patch; a CI always has a status, and
        // falling back to the default (deployed) would move it unasked.
        if input.status.is_none() {
            return Err(AppError::field("status", "cannot be removed; give the status the CI should have"));
        }
        let classes = store.ci_classes().await?;
        let (fields, mut ctx) = fields_of(&classes, input)?;
        ctx.actor = Some(caller.id());
        // The CI of a catalogue service carries the service's name: renaming
        // it renames the service, which is the catalogue's to change.
        if current.service_id.is_some() && fields.name.trim() != current.name {
            caller.require(Permission::ManageConfiguration)?;
        }
        match store.update_ci(id, expected.or(Some(current.version)), fields, ctx).await {
            // Each round one of the writers racing for the CI wins, so this
            // bounds how many may patch one CI at the same moment.
            Err(StoreError::Conflict { .. }) if expected.is_none() && attempts < 32 => attempts += 1,
            r => return Ok(r?),
        }
    }
}

/// Turns list parameters (`class`, `status`, `attr.<name>`, `q`,
/// `related_to`, `used_by_id`, `owner_id`, `as_of`) into a store filter.
/// Shared by the API and the UI's saved views (which are query strings).
pub fn filter_from(classes: &Classes, params: &[(String, String)]) -> Result<CiFilter, AppError> {
    let mut f = CiFilter::default();
    let mut errs: Vec<FieldError> = Vec::new();
    let mut attrs: Vec<(&str, &str, &str)> = Vec::new();
    for (k, v) in params {
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "class" | "class_id" => {
                for part in v.split(',').filter(|p| !p.is_empty()) {
                    let c = part.parse::<i64>().ok().and_then(|id| classes.get(id)).or_else(|| classes.by_name(part));
                    match c {
                        Some(c) => f.class_ids.extend(classes.subtree(c.id)),
                        None => errs.push(FieldError::new(k.as_str(), format!("{part} is not a CI class"))),
                    }
                }
            }
            "status" => {
                for part in v.split(',').filter(|p| !p.is_empty()) {
                    match CiStatus::parse("status", part) {
                        Ok(s) => f.statuses.push(s),
                        Err(_) => errs.push(FieldError::new("status", format!("{part} is not a CI status"))),
                    }
                }
            }
            "q" => {
                if v.chars().count() > 200 {
                    errs.push(FieldError::new("q", "must be at most 200 characters"));
                }
                f.terms = search::query_terms(v);
                f.term_prefixes = true;
            }
            "related_to" | "used_by_id" | "owner_id" => match v.parse::<i64>() {
                Ok(id) => match k.as_str() {
                    "related_to" => f.related_to = Some(id),
                    "used_by_id" => f.used_by_id = Some(id),
                    _ => f.owner_id = Some(id),
                },
                Err(_) => errs.push(FieldError::new(k.as_str(), "must be a numeric id")),
            },
            "as_of" => match crate::api::parse_instant("as_of", v) {
                Ok(t) => f.as_of = Some(t),
                Err(AppError::Invalid(e)) => errs.extend(e),
                Err(_) => {}
            },
            "limit" | "cursor" | "format" | "view" => {}
            other => match other.strip_prefix("attr.") {
                // After the classes, which decide the attribute's definition.
                Some(name) => attrs.push((other, name, v)),
                None => errs.push(FieldError::new(other, "is not a filter of the CI list")),
            },
        }
    }
    for (param, name, v) in attrs {
        // The definition decides how the value is normalised: the one of the
        // classes listed (names mean the same across a subtree), or without
        // a class, the first that takes the value. Two unrelated classes may
        // both define a name, as different kinds (a Phone's text `ram_gb`
        // beside a Computer's number).
        let defs: Vec<&AttributeDef> = if f.class_ids.is_empty() {
            classes.0.iter().flat_map(|c| c.attributes.iter()).filter(|a| a.name == name).collect()
        } else {
            f.class_ids.iter().filter_map(|id| classes.schema(*id).get(name)).collect()
        };
        match (defs.is_empty(), defs.iter().find_map(|d| filter_key(d, v))) {
            (_, Some(key)) => f.attributes.push((name.to_string(), key)),
            (false, None) => errs.push(FieldError::new(param, "is not a valid value for this attribute")),
            (true, None) if f.class_ids.is_empty() => errs.push(FieldError::new(param, "no class has this attribute")),
            (true, None) => errs.push(FieldError::new(param, "the classes listed have no such attribute")),
        }
    }
    if f.as_of.is_some() && !f.only_class() {
        errs.push(FieldError::new("as_of", "combines only with class; other filters apply to the current state"));
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    Ok(f)
}

pub async fn list(
    store: &Store,
    caller: &Caller,
    f: &CiFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Ci>, AppError> {
    caller.require(Permission::ReadCmdb)?;
    Ok(store.list_cis(f, after, limit).await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelation {
    /// depends_on, runs_on, installed_on, connects_to, member_of, located_in, provided_by, covered_by.
    pub kind: String,
    /// The CI at the other end.
    pub to_id: i64,
    /// `outgoing` (default): this CI `kind` the other ("app depends on db");
    /// `incoming`: the other `kind` this CI.
    pub direction: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub record_id: Option<i64>,
}

pub async fn add_relation(store: &Store, caller: &Caller, id: i64, r: NewRelation) -> Result<Relation, AppError> {
    caller.require(Permission::EditCis)?;
    let kind = RelationKind::parse("kind", &r.kind)?;
    let (from, to) = match r.direction.as_deref() {
        None | Some("outgoing") => (id, r.to_id),
        Some("incoming") => (r.to_id, id),
        Some(_) => return Err(AppError::field("direction", "must be outgoing or incoming")),
    };
    store.ci(id).await?;
    let ctx = ChangeContext { actor: Some(caller.id()), record_id: r.record_id, import_id: None };
    Ok(store.add_ci_relation(from, to, kind, r.attributes, ctx).await?)
}

pub async fn end_relation(store: &Store, caller: &Caller, id: i64, relation_id: i64) -> Result<(), AppError> {
    caller.require(Permission::EditCis)?;
    let ctx = ChangeContext { actor: Some(caller.id()), ..Default::default() };
    Ok(store.end_ci_relation(id, relation_id, ctx).await?)
}

pub async fn relations(
    store: &Store,
    caller: &Caller,
    id: i64,
    as_of: Option<i64>,
) -> Result<Vec<RelationView>, AppError> {
    caller.require(Permission::ReadCmdb)?;
    match as_of {
        Some(t) => store.ci_as_of(id, t).await?,
        None => store.ci(id).await?,
    };
    Ok(store.ci_relations(id, as_of).await?)
}

pub fn parse_direction(v: Option<&str>) -> Result<Direction, AppError> {
    match v {
        None | Some("up") => Ok(Direction::Up),
        Some("down") => Ok(Direction::Down),
        Some(_) => Err(AppError::field("direction", "must be up or down")),
    }
}

pub fn parse_depth(v: Option<&str>) -> Result<u32, AppError> {
    match v {
        None | Some("") => Ok(DEFAULT_DEPTH),
        Some(s) => match s.parse::<u32>() {
            Ok(d) if (1..=MAX_DEPTH).contains(&d) => Ok(d),
            _ => Err(AppError::field("depth", "must be a whole number from 1 to 20")),
        },
    }
}

pub async fn impact(
    store: &Store,
    caller: &Caller,
    id: i64,
    dir: Direction,
    depth: u32,
    as_of: Option<i64>,
) -> Result<Impact, AppError> {
    caller.require(Permission::ReadCmdb)?;
    Ok(store.impact(id, dir, depth, as_of).await?)
}

pub async fn history(store: &Store, caller: &Caller, id: i64) -> Result<Vec<CiChange>, AppError> {
    caller.require(Permission::ReadCmdb)?;
    store.ci(id).await?;
    Ok(store.ci_changes(id).await?)
}

/// What differs between two instants: fields, and relations that exist at
/// one but not the other.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: String,
    pub to: String,
    /// False when the CI did not exist at `from`.
    pub existed_at_from: bool,
    pub fields: Vec<FieldDiff>,
    pub relations_added: Vec<RelationView>,
    pub relations_removed: Vec<RelationView>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FieldDiff {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

pub async fn diff(store: &Store, caller: &Caller, id: i64, from: i64, to: i64) -> Result<Diff, AppError> {
    caller.require(Permission::ReadCmdb)?;
    let b = store.ci_as_of(id, to).await.map_err(|e| match e {
        varde_store::StoreError::NotFound => AppError::field("to", "the CI did not exist at this instant"),
        other => other.into(),
    })?;
    let a = match store.ci_as_of(id, from).await {
        Ok(a) => Some(a),
        Err(varde_store::StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let before: BTreeMap<String, Option<String>> =
        a.as_ref().map(|a| a.field_texts()).unwrap_or_default().into_iter().collect();
    let after: BTreeMap<String, Option<String>> = b.field_texts().into_iter().collect();
    let mut fields = Vec::new();
    for k in before.keys().chain(after.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (x, y) = (before.get(k).cloned().flatten(), after.get(k).cloned().flatten());
        if x != y {
            fields.push(FieldDiff { field: k.clone(), from: x, to: y });
        }
    }
    let ra = if a.is_some() { store.ci_relations(id, Some(from)).await? } else { Vec::new() };
    let rb = store.ci_relations(id, Some(to)).await?;
    let relations_added = rb.iter().filter(|r| !ra.iter().any(|o| o.id == r.id)).cloned().collect();
    let mut relations_removed: Vec<RelationView> =
        ra.iter().filter(|r| !rb.iter().any(|o| o.id == r.id)).cloned().collect();
    // Each ended between the two instants: say when.
    let ends = store.relation_ends(&relations_removed.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    for r in &mut relations_removed {
        r.valid_to = ends.get(&r.id).copied();
    }
    Ok(Diff {
        from: crate::api::instant(from),
        to: crate::api::instant(to),
        existed_at_from: a.is_some(),
        fields,
        relations_added,
        relations_removed,
    })
}

pub async fn open_records(store: &Store, caller: &Caller, id: i64) -> Result<Vec<CiRecord>, AppError> {
    caller.require(Permission::ReadCmdb)?;
    store.ci(id).await?;
    Ok(store.open_records_of_ci(id).await?)
}

/// The record a CI link hangs on, looked up by its own kind's rules: a
/// requester may find their incident, never a problem. Articles name no CIs.
async fn affected_record(store: &Store, caller: &Caller, kind: RecordKind, key: &str) -> Result<i64, AppError> {
    match kind {
        RecordKind::Incident => Ok(super::incidents::get(store, caller, key).await?.id),
        RecordKind::Problem => Ok(super::problems::get(store, caller, key).await?.id),
        RecordKind::Article => Err(AppError::NotFound),
    }
}

/// The CIs a record (an incident or a problem) affects and the services at
/// risk through them.
pub async fn record_cis(
    store: &Store,
    caller: &Caller,
    kind: RecordKind,
    key: &str,
) -> Result<(i64, Vec<Ci>, Vec<AffectedService>), AppError> {
    caller.require(Permission::ReadCmdb)?;
    let record = affected_record(store, caller, kind, key).await?;
    let cis = store.cis_of_record(record).await?;
    let services = services_at_risk(store, &cis).await?;
    Ok((record, cis, services))
}

/// The services at risk through `cis`, each once by its shortest path
/// (an impact walk up from each CI); a service among them is at risk
/// itself. One walk per CI: a caller that shows them on every page view
/// keeps `cis` short.
pub async fn services_at_risk(store: &Store, cis: &[Ci]) -> Result<Vec<AffectedService>, AppError> {
    let mut services: Vec<AffectedService> = Vec::new();
    let service_classes = store.ci_classes().await?.service_classes();
    for ci in cis {
        let impact = store.impact(ci.id, Direction::Up, DEFAULT_DEPTH, None).await?;
        // A service the record names directly is at risk too.
        if service_classes.contains(&ci.class_id) && !services.iter().any(|s| s.id == ci.id) {
            services.push(AffectedService {
                id: ci.id,
                name: ci.name.clone(),
                class_id: ci.class_id,
                depth: 0,
                path: vec![varde_store::cmdb::PathStep { id: ci.id, name: ci.name.clone() }],
            });
        }
        for s in impact.services {
            match services.iter_mut().find(|x| x.id == s.id) {
                Some(x) if x.depth > s.depth => *x = s,
                Some(_) => {}
                None => services.push(s),
            }
        }
    }
    services.sort_by_key(|s| (s.depth, s.id));
    Ok(services)
}

pub async fn link_record_ci(
    store: &Store,
    caller: &Caller,
    kind: RecordKind,
    key: &str,
    ci_id: i64,
) -> Result<bool, AppError> {
    caller.require(Permission::EditCis)?;
    caller.require(Permission::WorkRecords)?;
    let record = affected_record(store, caller, kind, key).await?;
    Ok(store.link_record_ci(record, ci_id, caller.id()).await?)
}

pub async fn unlink_record_ci(
    store: &Store,
    caller: &Caller,
    kind: RecordKind,
    key: &str,
    ci_id: i64,
) -> Result<(), AppError> {
    caller.require(Permission::EditCis)?;
    caller.require(Permission::WorkRecords)?;
    let record = affected_record(store, caller, kind, key).await?;
    Ok(store.unlink_record_ci(record, ci_id, caller.id()).await?)
}

pub async fn assets_of(store: &Store, caller: &Caller, user_id: i64) -> Result<Vec<Ci>, AppError> {
    if caller.id() != user_id {
        caller.require(Permission::ReadCmdb)?;
    }
    store.user(user_id).await?;
    Ok(store.assets_of(user_id).await?)
}

pub async fn create_checklist(store: &Store, caller: &Caller, user_id: i64) -> Result<Checklist, AppError> {
    caller.require(Permission::EditCis)?;
    Ok(store.create_checklist(user_id, caller.id()).await?)
}

pub async fn checklists_of(store: &Store, caller: &Caller, user_id: i64) -> Result<Vec<Checklist>, AppError> {
    caller.require(Permission::ReadCmdb)?;
    store.user(user_id).await?;
    Ok(store.checklists_of(user_id).await?)
}

pub async fn complete_item(
    store: &Store,
    caller: &Caller,
    checklist: i64,
    item: i64,
    note: String,
) -> Result<Checklist, AppError> {
    caller.require(Permission::EditCis)?;
    if note.chars().count() > 1000 {
        return Err(AppError::field("note", "must be at most 1000 characters"));
    }
    Ok(store.complete_checklist_item(checklist, item, note, caller.id()).await?)
}
