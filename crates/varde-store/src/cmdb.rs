//! Configuration management: CI classes, CIs, relations, their history and
//! the impact walk.
//!
//! History is kept as versions with validity intervals. A CI's current
//! version is its `cis` row, valid from its `updated_at` until further
//! notice; every change writes the version it ends into `ci_versions`
//! (valid_from = the old `updated_at`, valid_to = now), so a CI that never
//! changed has no history row (ADR 0007, "The current version is the row").
//! A relation is never deleted, its interval is closed. "As of T" is then
//! `valid_from <= T < valid_to` among the closed versions, else the row if
//! `updated_at <= T`: index lookups on both engines. The field-by-field
//! change log (`ci_changes`) says who changed what, from what to what, and
//! through which record.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{AnyConnection, FromRow};
use varde_domain::cmdb::class::{check_definitions, CheckedValue};
use varde_domain::cmdb::{AttrKind, AttributeDef, CiStatus, ClassSchema, RelationKind, Walk};
use varde_domain::record::RecordKind;
use varde_domain::{search, DomainError, FieldError};

use crate::sql::{engine_of, exists, found, json_param, json_rows, Arg, Sql};
use crate::{now_micros, Store, StoreError};

/// The end of an open interval: "still valid".
pub const FOREVER: i64 = i64::MAX;
/// The built-in classes the store finds by name: the services (and its
/// subclasses'), and what a CI's location and supplier must be. They keep
/// their names (`update_ci_class`).
const SERVICE_CLASS: &str = "Service";
const LOCATION_CLASS: &str = "Location";
const SUPPLIER_CLASS: &str = "Supplier";
/// The instant that selects the current versions: `valid_to > NOW_T` holds
/// only for open intervals.
const CURRENT: i64 = i64::MAX - 1;
/// Ids per `IN (...)` list in batched queries.
const CHUNK: usize = 500;

// AS_OF_ORDER: a read "as of T" asks the `cis` rows (the current versions)
// before `ci_versions` (the ended ones), in two statements that may see the
// database at two moments. A change committed between them moves a CI's
// version from the row into `ci_versions`, with the same interval up to
// now: read in this order, the CI is found once or twice, never lost;
// callers keep the first answer. The other order could miss it in both.

// ---------------------------------------------------------------- classes

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CiClass {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub description: String,
    /// The class's own attribute definitions (subclasses inherit them).
    #[schema(value_type = Vec<Object>)]
    pub attributes: Vec<AttributeDef>,
    /// Attribute names that identify a CI of this class on import; empty
    /// means its name.
    pub identify_by: Vec<String>,
    pub version: i64,
}

#[derive(Debug, FromRow)]
struct ClassRow {
    id: i64,
    name: String,
    parent_id: Option<i64>,
    description: String,
    attributes: String,
    identify_by: String,
    version: i64,
}

impl ClassRow {
    fn into_class(self) -> Result<CiClass, StoreError> {
        let attributes = serde_json::from_str(&self.attributes).map_err(|_| StoreError::corrupt("ci_classes"))?;
        let identify_by = self.identify_by.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Ok(CiClass {
            id: self.id,
            name: self.name,
            parent_id: self.parent_id,
            description: self.description,
            attributes,
            identify_by,
            version: self.version,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewClass {
    pub name: String,
    pub parent_id: Option<i64>,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
    pub identify_by: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClassChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub attributes: Option<Vec<AttributeDef>>,
    pub identify_by: Option<Vec<String>>,
}

/// Every class, with helpers over the tree. Classes are few (tens), so a
/// write loads them all rather than walking the tree in SQL. Each class's
/// schema (its attributes and its ancestors') is worked out once, on load:
/// an import asks for it several times per row.
#[derive(Debug, Clone)]
pub struct Classes(pub Vec<CiClass>, HashMap<i64, ClassSchema>);

/// The schema of a class that does not exist: no attributes.
static NO_SCHEMA: ClassSchema = ClassSchema { attributes: Vec::new() };

impl Classes {
    pub fn new(list: Vec<CiClass>) -> Self {
        let tree: Vec<_> = list.iter().map(|c| (c.id, c.parent_id, c.attributes.clone())).collect();
        let schemas = list.iter().map(|c| (c.id, ClassSchema::of(c.id, &tree))).collect();
        Classes(list, schemas)
    }
    pub fn get(&self, id: i64) -> Option<&CiClass> {
        self.0.iter().find(|c| c.id == id)
    }
    pub fn by_name(&self, name: &str) -> Option<&CiClass> {
        self.0.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
    /// Whether a class other than `id` has this name, ignoring case, as
    /// [`Classes::by_name`] finds classes.
    fn named_like(&self, id: i64, name: &str) -> bool {
        self.0.iter().any(|c| c.id != id && c.name.eq_ignore_ascii_case(name.trim()))
    }
    pub fn schema(&self, id: i64) -> &ClassSchema {
        self.1.get(&id).unwrap_or(&NO_SCHEMA)
    }
    /// `id` and every class below it.
    pub fn subtree(&self, id: i64) -> Vec<i64> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            let at = out[i];
            for c in &self.0 {
                if c.parent_id == Some(at) && !out.contains(&c.id) {
                    out.push(c.id);
                }
            }
            i += 1;
        }
        out
    }
    /// The classes of services: the default class `Service` and below.
    pub fn service_classes(&self) -> Vec<i64> {
        self.by_name(SERVICE_CLASS).map(|c| self.subtree(c.id)).unwrap_or_default()
    }
    /// The attributes that identify CIs of the class; empty for its name.
    pub fn identify_by(&self, id: i64) -> Vec<String> {
        self.get(id).map(|c| c.identify_by.clone()).unwrap_or_default()
    }
}

/// The advisory lock that keeps CI writes and class changes apart on
/// PostgreSQL (SQLite has one writer): a write that checks a CI against the
/// classes holds it shared until it commits, a class change exclusively. A
/// class change that makes an attribute unique, or recomputes identities,
/// must not miss a CI written meanwhile against the classes as they were.
pub const CLASSES_LOCK: i64 = 0x7661_7264_655f_6369; // "varde_ci"

/// The classes, for a write that checks CIs against them: on PostgreSQL the
/// class lock is held shared until the write commits.
pub(crate) async fn classes_in(conn: &mut AnyConnection) -> Result<Classes, StoreError> {
    if engine_of(conn) == crate::Engine::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)").bind(CLASSES_LOCK).execute(&mut *conn).await?;
    }
    load_classes_in(conn).await
}

/// Takes the class lock exclusively (PostgreSQL), before a class change
/// reads the classes: it waits for CI writes in flight, and holds off new ones.
async fn hold_classes_in(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if engine_of(conn) == crate::Engine::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CLASSES_LOCK).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A CI as a message names it: "db-01 (CI 12)".
async fn ci_called(conn: &mut AnyConnection, id: i64) -> Result<String, StoreError> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM cis WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    Ok(match name {
        Some(n) => format!("{n} (CI {id})"),
        None => format!("CI {id}"),
    })
}

/// Holds, until the write commits, the right to hand out values of the
/// unique attributes `keys` (defining class, attribute name) on PostgreSQL,
/// where writers run side by side. A unique attribute has no constraint in
/// the database (its values are rows of `ci_attr_values` like any other), so
/// two writers that each check before the other commits would both pass.
/// Taken before the check, in one order, so two writers cannot deadlock.
/// SQLite's single writer needs none.
pub(crate) async fn hold_unique_values_in(
    conn: &mut AnyConnection,
    mut keys: Vec<(i64, &str)>,
) -> Result<(), StoreError> {
    if engine_of(conn) != crate::Engine::Postgres {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    for (class_id, name) in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(CAST($1 AS INTEGER), hashtext($2))")
            .bind(class_id)
            .bind(name)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn load_classes_in(conn: &mut AnyConnection) -> Result<Classes, StoreError> {
    let rows: Vec<ClassRow> = sqlx::query_as(
        "SELECT id, name, parent_id, description, attributes, identify_by, version FROM ci_classes ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(Classes::new(rows.into_iter().map(ClassRow::into_class).collect::<Result<_, _>>()?))
}

fn check_class_text(name: &str, description: &str, identify_by: &[String], schema: &ClassSchema) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.trim().is_empty() || name.chars().count() > 100 {
        errs.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    if description.chars().count() > 2000 {
        errs.push(FieldError::new("description", "must be at most 2000 characters"));
    }
    for a in identify_by {
        match schema.get(a) {
            None => errs.push(FieldError::new("identify_by", format!("{a} is not an attribute of this class"))),
            Some(d) if d.kind == AttrKind::Json => {
                errs.push(FieldError::new("identify_by", format!("{a} is JSON and cannot identify a CI")))
            }
            Some(_) => {}
        }
    }
    errs
}

impl Store {
    pub async fn ci_classes(&self) -> Result<Classes, StoreError> {
        let mut conn = self.pool().acquire().await?;
        load_classes_in(&mut conn).await
    }

    pub async fn create_ci_class(&self, new: NewClass, actor: i64) -> Result<CiClass, StoreError> {
        self.write(move |conn| {
            async move {
                // Exclusively, as every class change: names are unique
                // ignoring case by this check alone, and two classes made at
                // once would each miss the other.
                hold_classes_in(conn).await?;
                let classes = load_classes_in(conn).await?;
                let inherited = match new.parent_id {
                    Some(p) if classes.get(p).is_none() => {
                        return Err(StoreError::UnknownReference { field: "parent_id" })
                    }
                    Some(p) => classes.schema(p).attributes.iter().map(|(_, a)| a.clone()).collect(),
                    None => Vec::new(),
                };
                let mut errs = match check_definitions(&new.attributes, &inherited) {
                    Ok(()) => Vec::new(),
                    Err(DomainError::Invalid(e)) => e,
                    Err(e) => return Err(e.into()),
                };
                let schema = ClassSchema {
                    attributes: inherited.iter().chain(&new.attributes).cloned().map(|a| (0, a)).collect(),
                };
                errs.extend(check_class_text(&new.name, &new.description, &new.identify_by, &schema));
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs).into());
                }
                if classes.named_like(0, &new.name) {
                    return Err(StoreError::Duplicate { field: "name" });
                }
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id",
                )
                .bind(new.name.trim())
                .bind(new.parent_id)
                .bind(&new.description)
                .bind(serde_json::to_string(&new.attributes).unwrap_or_else(|_| "[]".into()))
                .bind(new.identify_by.join(","))
                .bind(now)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                crate::audit::write(conn, crate::audit::Entity::Configuration, id, Some(actor), now, "ci_class", None, Some(&new.name)).await?;
                class_in(conn, id).await
            }
            .boxed()
        })
        .await
    }

    pub async fn ci_class(&self, id: i64) -> Result<CiClass, StoreError> {
        let mut conn = self.pool().acquire().await?;
        class_in(&mut conn, id).await
    }

    /// Changes a class. Attributes may be added (optional ones, when CIs of
    /// the class exist) and removed when no CI holds a value for them, so
    /// that no stored CI becomes invalid behind its owner's back.
    pub async fn update_ci_class(
        &self,
        id: i64,
        expected: Option<i64>,
        ch: ClassChanges,
        actor: i64,
    ) -> Result<CiClass, StoreError> {
        self.write(move |conn| {
            async move {
                hold_classes_in(conn).await?;
                let classes = classes_in(conn).await?;
                let cur = classes.get(id).cloned().ok_or(StoreError::NotFound)?;
                if let Some(v) = expected {
                    if v != cur.version {
                        return Err(StoreError::Conflict { current: cur.version });
                    }
                }
                let inherited: Vec<AttributeDef> = match cur.parent_id {
                    Some(p) => classes.schema(p).attributes.iter().map(|(_, a)| a.clone()).collect(),
                    None => Vec::new(),
                };
                let name = ch.name.clone().unwrap_or(cur.name.clone());
                let description = ch.description.clone().unwrap_or(cur.description.clone());
                let attributes = ch.attributes.clone().unwrap_or(cur.attributes.clone());
                let identify_by = ch.identify_by.clone().unwrap_or(cur.identify_by.clone());
                let mut errs = match check_definitions(&attributes, &inherited) {
                    Ok(()) => Vec::new(),
                    Err(DomainError::Invalid(e)) => e,
                    Err(e) => return Err(e.into()),
                };
                let schema =
                    ClassSchema { attributes: inherited.iter().chain(&attributes).cloned().map(|a| (0, a)).collect() };
                errs.extend(check_class_text(&name, &description, &identify_by, &schema));
                // Catalogue services are CIs of the class found by this name
                // (`service_classes`, `service_ci`): renamed, services would
                // silently stop being found and made; likewise the checks of
                // locations and suppliers (`place_errors`).
                if [SERVICE_CLASS, LOCATION_CLASS, SUPPLIER_CLASS].contains(&cur.name.as_str()) && name.trim() != cur.name {
                    errs.push(FieldError::new(
                        "name",
                        format!("the {} class is built in (Varde finds it by its name) and keeps its name", cur.name),
                    ));
                }
                // Subclasses must not already define a name this class now adds.
                let below = classes.subtree(id);
                for (i, a) in attributes.iter().enumerate() {
                    if cur.attributes.iter().any(|o| o.name == a.name) {
                        continue;
                    }
                    if below
                        .iter()
                        .skip(1)
                        .any(|c| classes.get(*c).is_some_and(|c| c.attributes.iter().any(|b| b.name == a.name)))
                    {
                        errs.push(FieldError::new(
                            format!("attributes[{i}].name"),
                            "a subclass defines this name already",
                        ));
                    }
                }
                // Subclasses identify their CIs by attributes they may
                // inherit from here: taken away (or made JSON), no CI of
                // theirs could be made or found by an import any more.
                let after = Classes::new(
                    classes
                        .0
                        .iter()
                        .map(|c| if c.id == id { CiClass { attributes: attributes.clone(), ..c.clone() } } else { c.clone() })
                        .collect(),
                );
                for sub in below.iter().skip(1).filter_map(|c| classes.get(*c)) {
                    for a in &sub.identify_by {
                        let why = match after.schema(sub.id).get(a) {
                            None => "it would no longer have",
                            Some(d) if d.kind == AttrKind::Json => "it cannot as JSON",
                            Some(_) => continue,
                        };
                        errs.push(FieldError::new(
                            "attributes",
                            format!("{} identifies its CIs by {a}, which {why}: change its rule first", sub.name),
                        ));
                    }
                }
                let mut sql = Sql::new("SELECT COUNT(*) FROM cis WHERE class_id IN ");
                sql.bind_list(below.iter().map(|c| Arg::Int(*c)));
                let cis: i64 = sql.query_as::<(i64,)>().fetch_one(&mut *conn).await?.0;
                if cis > 0 {
                    for (i, a) in attributes.iter().enumerate() {
                        let old = cur.attributes.iter().find(|o| o.name == a.name);
                        if a.required && !old.is_some_and(|o| o.required) {
                            let why = match old {
                                Some(_) => "CIs of this class exist and may lack it: it cannot become required",
                                None => "CIs of this class exist: a new attribute must be optional at first",
                            };
                            errs.push(FieldError::new(format!("attributes[{i}].required"), why));
                        }
                        if old.is_some_and(|o| o.kind != a.kind) {
                            errs.push(FieldError::new(
                                format!("attributes[{i}].kind"),
                                "the type of an attribute in use cannot change",
                            ));
                        }
                        if let Some(o) = old.filter(|o| o.kind == AttrKind::Enum && a.kind == AttrKind::Enum) {
                            // A value taken out of an enum while CIs hold it
                            // would leave them invalid: unfindable by their
                            // identity and refused at every edit.
                            let kept: HashSet<String> = a.values.iter().map(|v| v.to_lowercase()).collect();
                            let gone: Vec<String> =
                                o.values.iter().map(|v| v.to_lowercase()).filter(|v| !kept.contains(v)).collect();
                            if !gone.is_empty() {
                                let mut sql = Sql::new(
                                    "SELECT v.value, COUNT(*) FROM ci_attr_values v JOIN cis c ON c.id = v.ci_id WHERE v.name = ",
                                );
                                sql.bind(Arg::Text(a.name.clone())).push(" AND v.value IN ");
                                sql.bind_list(gone.into_iter().map(Arg::Text));
                                sql.push(" AND c.class_id IN ");
                                sql.bind_list(below.iter().map(|c| Arg::Int(*c)));
                                sql.push(" GROUP BY v.value ORDER BY v.value");
                                let held: Vec<(String, i64)> = sql.query_as().fetch_all(&mut *conn).await?;
                                if let Some((value, n)) = held.first() {
                                    errs.push(FieldError::new(
                                        format!("attributes[{i}].values"),
                                        format!("{n} CIs have the value {value}: change them before taking it out"),
                                    ));
                                }
                            }
                        }
                        if a.unique && !old.is_some_and(|o| o.unique) {
                            // Values CIs already share would leave each of
                            // them refused at its next edit.
                            let mut sql = Sql::new(
                                "SELECT v.value, COUNT(*) FROM ci_attr_values v JOIN cis c ON c.id = v.ci_id WHERE v.name = ",
                            );
                            sql.bind(Arg::Text(a.name.clone())).push(" AND c.class_id IN ");
                            sql.bind_list(below.iter().map(|c| Arg::Int(*c)));
                            sql.push(" GROUP BY v.value HAVING COUNT(*) > 1 ORDER BY v.value");
                            let shared: Vec<(String, i64)> = sql.query_as().fetch_all(&mut *conn).await?;
                            if let Some((value, n)) = shared.first() {
                                let more = match shared.len() - 1 {
                                    0 => String::new(),
                                    k => format!(" (and {k} more values are shared)"),
                                };
                                errs.push(FieldError::new(
                                    format!("attributes[{i}].unique"),
                                    format!("{n} CIs have the value {value}{more}: make them unique first"),
                                ));
                            }
                        }
                    }
                    for o in &cur.attributes {
                        if attributes.iter().any(|a| a.name == o.name) {
                            continue;
                        }
                        let mut sql = Sql::new("SELECT COUNT(*) FROM cis WHERE class_id IN ");
                        sql.bind_list(below.iter().map(|c| Arg::Int(*c)));
                        // JSON values are not in the attribute index: look at the document.
                        sql.push(" AND attributes LIKE ").bind(Arg::Text(format!("%\"{}\":%", o.name)));
                        let n: i64 = sql.query_as::<(i64,)>().fetch_one(&mut *conn).await?.0;
                        if n > 0 {
                            errs.push(FieldError::new(
                                "attributes",
                                format!("{} is set on {n} CIs and cannot be removed", o.name),
                            ));
                        }
                    }
                }
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs).into());
                }
                if classes.named_like(id, &name) {
                    return Err(StoreError::Duplicate { field: "name" });
                }
                let now = now_micros();
                sqlx::query(
                    "UPDATE ci_classes SET name = $1, description = $2, attributes = $3, identify_by = $4, \
                     version = version + 1, updated_at = $5 WHERE id = $6",
                )
                .bind(name.trim())
                .bind(&description)
                .bind(serde_json::to_string(&attributes).unwrap_or_else(|_| "[]".into()))
                .bind(identify_by.join(","))
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                if identify_by != cur.identify_by && cis > 0 {
                    reidentify_in(conn, id).await?;
                }
                let show =
                    |c: &CiClass| serde_json::to_string(&(&c.name, &c.attributes, &c.identify_by)).unwrap_or_default();
                let new = class_in(conn, id).await?;
                crate::audit::write(
                    conn,
                    crate::audit::Entity::Configuration,
                    id,
                    Some(actor),
                    now,
                    "ci_class",
                    Some(&show(&cur)),
                    Some(&show(&new)),
                )
                .await?;
                Ok(new)
            }
            .boxed()
        })
        .await
    }
}

/// Gives the CIs of class `id` the identities its (new) identification rule
/// makes, or re-imports would no longer find them and create duplicates. A
/// CI that lacks a value the rule needs has none, as when it was written.
/// Two CIs the rule would make one refuse the change.
async fn reidentify_in(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    let classes = load_classes_in(conn).await?;
    let schema = classes.schema(id);
    let rows: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, attributes, identity FROM cis WHERE class_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut changed: Vec<(i64, Option<String>)> = Vec::new();
    for (ci, name, attributes, old) in rows {
        let attributes: Map<String, Value> = serde_json::from_str(&attributes)
            .map_err(|e| StoreError::corrupt(format!("attributes of CI {ci}: {e}")))?;
        // Only what identifies counts here. A value the rule needs that the
        // class cannot read would have left the CI without an identity, so
        // unfindable by an import: the change is refused instead.
        let rule: Map<String, Value> =
            classes.identify_by(id).iter().filter_map(|a| attributes.get(a).map(|v| (a.clone(), v.clone()))).collect();
        let checked = match schema.validate_as(&rule, false) {
            Ok(c) => c,
            Err(DomainError::Invalid(errs)) => {
                let why = errs.first().map(|e| format!("{} {}", e.field, e.message)).unwrap_or_default();
                return Err(DomainError::field(
                    "identify_by",
                    format!("CI {ci} ({name}) could not be identified under this rule: its {why}"),
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        let key = identity_of(&classes, id, &name, &checked);
        if let Some(k) = &key {
            if let Some(first) = seen.insert(k.clone(), ci) {
                return Err(DomainError::field(
                    "identify_by",
                    format!("CIs {first} and {ci} would be the same CI under this rule"),
                )
                .into());
            }
        }
        if key != old {
            changed.push((ci, key));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    // Cleared first: two CIs may trade keys, and the identity is unique.
    let engine = engine_of(conn);
    let v = json_rows(engine, 1, &[("id", crate::sql::JsonCol::Int)]);
    let ids: Vec<(i64,)> = changed.iter().map(|(ci, _)| (*ci,)).collect();
    sqlx::query(&format!("UPDATE cis SET identity = NULL WHERE id IN (SELECT id FROM {v} AS v)"))
        .bind(json_param(&ids))
        .execute(&mut *conn)
        .await?;
    let v = json_rows(engine, 1, &[("id", crate::sql::JsonCol::Int), ("key", crate::sql::JsonCol::Text)]);
    sqlx::query(&format!("UPDATE cis SET identity = v.key FROM {v} AS v WHERE cis.id = v.id AND v.key IS NOT NULL"))
        .bind(json_param(&changed))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn class_in(conn: &mut AnyConnection, id: i64) -> Result<CiClass, StoreError> {
    let row: ClassRow = sqlx::query_as(
        "SELECT id, name, parent_id, description, attributes, identify_by, version FROM ci_classes WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    row.into_class()
}

// ---------------------------------------------------------------- CIs

/// A configuration item. Dates are `YYYY-MM-DD`; instants microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    pub id: i64,
    pub class_id: i64,
    pub name: String,
    pub status: CiStatus,
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
    pub attributes: Map<String, Value>,
    pub service_id: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a caller sets on a CI: everything but its id, version and times.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CiFields {
    pub class_id: i64,
    pub name: String,
    pub status: Option<CiStatus>,
    pub owner_id: Option<i64>,
    pub location_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub cost: Option<i64>,
    pub purchased_on: Option<String>,
    pub warranty_until: Option<String>,
    pub end_of_life: Option<String>,
    pub used_by_id: Option<i64>,
    pub organisation_id: Option<i64>,
    pub attributes: Map<String, Value>,
}

impl Ci {
    pub fn fields(&self) -> CiFields {
        CiFields {
            class_id: self.class_id,
            name: self.name.clone(),
            status: Some(self.status),
            owner_id: self.owner_id,
            location_id: self.location_id,
            supplier_id: self.supplier_id,
            cost: self.cost,
            purchased_on: self.purchased_on.clone(),
            warranty_until: self.warranty_until.clone(),
            end_of_life: self.end_of_life.clone(),
            used_by_id: self.used_by_id,
            organisation_id: self.organisation_id,
            attributes: self.attributes.clone(),
        }
    }

    /// The common fields as (name, text) pairs, for the change log and diffs.
    pub fn field_texts(&self) -> Vec<(String, Option<String>)> {
        let i = |v: Option<i64>| v.map(|v| v.to_string());
        let mut out = vec![
            ("name".to_string(), Some(self.name.clone())),
            ("status".into(), Some(self.status.as_str().into())),
            ("owner_id".into(), i(self.owner_id)),
            ("location_id".into(), i(self.location_id)),
            ("supplier_id".into(), i(self.supplier_id)),
            ("cost".into(), i(self.cost)),
            ("purchased_on".into(), self.purchased_on.clone()),
            ("warranty_until".into(), self.warranty_until.clone()),
            ("end_of_life".into(), self.end_of_life.clone()),
            ("used_by_id".into(), i(self.used_by_id)),
            ("organisation_id".into(), i(self.organisation_id)),
        ];
        for (k, v) in &self.attributes {
            out.push((format!("attributes.{k}"), Some(value_text(v))));
        }
        out
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) const CI_COLS: &str = "id, class_id, name, status, owner_id, location_id, supplier_id, cost, purchased_on, \
    warranty_until, end_of_life, used_by_id, organisation_id, attributes, service_id, version, created_at, updated_at";

#[derive(Debug, FromRow)]
pub(crate) struct CiRow {
    id: i64,
    class_id: i64,
    name: String,
    status: String,
    owner_id: Option<i64>,
    location_id: Option<i64>,
    supplier_id: Option<i64>,
    cost: Option<i64>,
    purchased_on: Option<String>,
    warranty_until: Option<String>,
    end_of_life: Option<String>,
    used_by_id: Option<i64>,
    organisation_id: Option<i64>,
    attributes: String,
    service_id: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl CiRow {
    pub(crate) fn into_ci(self) -> Result<Ci, StoreError> {
        let bad = || StoreError::corrupt(format!("cis {}", self.id));
        Ok(Ci {
            id: self.id,
            class_id: self.class_id,
            status: CiStatus::parse("status", &self.status).map_err(|_| bad())?,
            attributes: serde_json::from_str(&self.attributes).map_err(|_| bad())?,
            name: self.name,
            owner_id: self.owner_id,
            location_id: self.location_id,
            supplier_id: self.supplier_id,
            cost: self.cost,
            purchased_on: self.purchased_on,
            warranty_until: self.warranty_until,
            end_of_life: self.end_of_life,
            used_by_id: self.used_by_id,
            organisation_id: self.organisation_id,
            service_id: self.service_id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) async fn ci_in(conn: &mut AnyConnection, id: i64) -> Result<Ci, StoreError> {
    let row: CiRow = sqlx::query_as(&format!("SELECT {CI_COLS} FROM cis WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    row.into_ci()
}

/// Who made a change and through what.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeContext {
    pub actor: Option<i64>,
    /// The record (incident, change) the change was made under.
    pub record_id: Option<i64>,
    pub import_id: Option<i64>,
}

/// A CI's fields checked against its class and the database: what the
/// write needs, computed before anything is written.
pub(crate) struct Prepared {
    pub fields: CiFields,
    pub status: CiStatus,
    pub checked: BTreeMap<String, CheckedValue>,
    pub identity: Option<String>,
}

fn check_date(errs: &mut Vec<FieldError>, field: &str, v: &Option<String>) -> Option<String> {
    let s = v.as_ref()?;
    match s.parse::<jiff::civil::Date>() {
        Ok(d) => Some(d.to_string()),
        Err(_) => {
            errs.push(FieldError::new(field, "must be a date like 2026-11-23"));
            None
        }
    }
}

/// The identification key of a CI: its class and the values of the class's
/// identifying attributes (or its name), normalised; `None` when one of
/// them is missing, since then the CI cannot be recognised on re-import.
///
/// Values are joined by `|`. With two or more identifying attributes each
/// value's own `|` and `\` are escaped, or ("a|b", "c") and ("a", "b|c")
/// would be one CI; a single value needs no escaping, so its key is the
/// same as before escaping existed (migration 18 re-keys the others).
pub(crate) fn identity_of(
    classes: &Classes,
    class_id: i64,
    name: &str,
    checked: &BTreeMap<String, CheckedValue>,
) -> Option<String> {
    let rule = classes.identify_by(class_id);
    let mut key = class_id.to_string();
    if rule.is_empty() {
        key.push('|');
        key.push_str(&name.trim().to_lowercase());
        return Some(key);
    }
    for a in &rule {
        let value = checked.get(a)?.key.as_deref()?;
        key.push('|');
        if rule.len() == 1 || !value.contains(['|', '\\']) {
            key.push_str(value);
        } else {
            for c in value.chars() {
                if matches!(c, '|' | '\\') {
                    key.push('\\');
                }
                key.push(c);
            }
        }
    }
    Some(key)
}

/// The checks of [`prepare_as`] that need no database: name, cost, dates
/// and the class schema. Normalises `fields` (trimmed name, canonical dates
/// and attribute values) and returns the checked attributes.
fn check_own(
    classes: &Classes,
    fields: &mut CiFields,
    complete: bool,
    errs: &mut Vec<FieldError>,
) -> Result<BTreeMap<String, CheckedValue>, StoreError> {
    fields.name = fields.name.trim().to_string();
    if fields.name.is_empty() || fields.name.chars().count() > 200 {
        errs.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if fields.cost.is_some_and(|c| c < 0) {
        errs.push(FieldError::new("cost", "must not be negative"));
    }
    fields.purchased_on = check_date(errs, "purchased_on", &fields.purchased_on);
    fields.warranty_until = check_date(errs, "warranty_until", &fields.warranty_until);
    fields.end_of_life = check_date(errs, "end_of_life", &fields.end_of_life);
    let checked = match classes.schema(fields.class_id).validate_as(&fields.attributes, complete) {
        Ok(c) => c,
        Err(DomainError::Invalid(e)) => {
            errs.extend(e);
            BTreeMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    fields.attributes = checked.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
    Ok(checked)
}

/// What is wrong with `fields` that can be told without the database, for a
/// caller that found other faults first (a status that is no status) and
/// reports them all at once.
pub fn field_errors(classes: &Classes, mut fields: CiFields) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if classes.get(fields.class_id).is_some() {
        if let Err(StoreError::Domain(DomainError::Invalid(e))) = check_own(classes, &mut fields, true, &mut errs) {
            errs.extend(e);
        }
    }
    errs
}

/// What is wrong with where a CI says it is and who supplies it: itself, or
/// a CI of a class other than Location or Supplier (or below them), as the
/// default classes are meant. `class_of` gives an existing CI's class.
///
/// A value the CI has already (`before`) is not checked again: data from
/// before the rule must not make the CI uneditable.
pub(crate) fn place_errors(
    classes: &Classes,
    id: i64,
    fields: &CiFields,
    before: (Option<i64>, Option<i64>),
    class_of: impl Fn(i64) -> Option<i64>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, class, v, had) in [
        ("location_id", LOCATION_CLASS, fields.location_id, before.0),
        ("supplier_id", SUPPLIER_CLASS, fields.supplier_id, before.1),
    ] {
        let Some(v) = v.filter(|v| had != Some(*v)) else { continue };
        if v == id {
            errs.push(FieldError::new(field, "cannot be the CI itself"));
            continue;
        }
        let (Some(want), Some(is)) = (classes.by_name(class), class_of(v)) else { continue };
        if !classes.subtree(want.id).contains(&is) {
            errs.push(FieldError::new(field, format!("must be a CI of the {class} class")));
        }
    }
    errs
}

/// The classes of these CIs (those that exist).
pub(crate) async fn ci_classes_in(conn: &mut AnyConnection, ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new("SELECT id, class_id FROM cis WHERE id IN ");
        q.bind_list(chunk.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, i64)> = q.query_as().fetch_all(&mut *conn).await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Validates `fields` for CI `id` (0 for a new one): the class schema,
/// dates, references to people and other CIs, unique attributes and the
/// identification key. Every problem is reported at once.
pub(crate) async fn prepare(
    conn: &mut AnyConnection,
    classes: &Classes,
    id: i64,
    fields: CiFields,
    check_refs: bool,
) -> Result<Prepared, StoreError> {
    prepare_as(conn, classes, id, fields, check_refs, true).await
}

/// [`prepare`], checking required attributes only when `complete` (see
/// `ClassSchema::validate_as`).
pub(crate) async fn prepare_as(
    conn: &mut AnyConnection,
    classes: &Classes,
    id: i64,
    mut fields: CiFields,
    check_refs: bool,
    complete: bool,
) -> Result<Prepared, StoreError> {
    let mut errs = Vec::new();
    if classes.get(fields.class_id).is_none() {
        return Err(DomainError::field("class_id", "is not a CI class").into());
    }
    let checked = check_own(classes, &mut fields, complete, &mut errs)?;
    if fields.name.chars().any(char::is_control) {
        // A name is one line: the form's input field would drop a line
        // break at the next edit, and lists and paths show it on one line.
        // A name stored before this rule stays the CI's until it is renamed.
        let stored: Option<String> = if id == 0 {
            None
        } else {
            sqlx::query_scalar("SELECT name FROM cis WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?
        };
        if stored.as_deref() != Some(fields.name.as_str()) {
            errs.push(FieldError::new("name", "must be one line, without tabs or other control characters"));
        }
    }
    let schema = classes.schema(fields.class_id);
    if check_refs {
        let mut refs: Vec<(String, &str, i64)> = Vec::new();
        for (f, v) in [("owner_id", fields.owner_id), ("used_by_id", fields.used_by_id)] {
            if let Some(v) = v {
                refs.push((f.into(), "users", v));
            }
        }
        for (f, v) in [("location_id", fields.location_id), ("supplier_id", fields.supplier_id)] {
            if let Some(v) = v {
                refs.push((f.into(), "cis", v));
            }
        }
        if let Some(o) = fields.organisation_id {
            refs.push(("organisation_id".into(), "organisations", o));
        }
        for (_, def) in &schema.attributes {
            let Some(c) = checked.get(&def.name) else { continue };
            let id = c.value.as_i64().unwrap_or(0);
            match def.kind {
                AttrKind::CiRef => refs.push((format!("attributes.{}", def.name), "cis", id)),
                AttrKind::UserRef => refs.push((format!("attributes.{}", def.name), "users", id)),
                _ => {}
            }
        }
        for (field, table, rid) in refs {
            if !exists(conn, table, rid).await? {
                errs.push(FieldError::new(field, "refers to nothing that exists"));
            }
        }
        // Most CIs name neither: then there is nothing to look up.
        let places: Vec<i64> = fields.location_id.into_iter().chain(fields.supplier_id).collect();
        if !places.is_empty() {
            let class_of = ci_classes_in(conn, &places).await?;
            let before: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT location_id, supplier_id FROM cis WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let before = before.unwrap_or_default();
            errs.extend(place_errors(classes, id, &fields, before, |ci| class_of.get(&ci).copied()));
        }
        let unique: Vec<(i64, &str)> = schema
            .attributes
            .iter()
            .filter(|(_, def)| def.unique && checked.get(&def.name).is_some_and(|c| c.key.is_some()))
            .map(|(defined_by, def)| (*defined_by, def.name.as_str()))
            .collect();
        hold_unique_values_in(conn, unique).await?;
        for (defined_by, def) in &schema.attributes {
            if !def.unique {
                continue;
            }
            let Some(key) = checked.get(&def.name).and_then(|c| c.key.clone()) else { continue };
            let mut sql = Sql::new("SELECT v.ci_id FROM ci_attr_values v JOIN cis c ON c.id = v.ci_id WHERE v.name = ");
            sql.bind(Arg::Text(def.name.clone())).push(" AND v.value = ").bind(Arg::Text(key));
            sql.push(" AND v.ci_id <> ").bind(Arg::Int(id)).push(" AND c.class_id IN ");
            sql.bind_list(classes.subtree(*defined_by).into_iter().map(Arg::Int));
            if let Some((other,)) = sql.query_as::<(i64,)>().fetch_optional(&mut *conn).await? {
                let whom = ci_called(conn, other).await?;
                errs.push(FieldError::new(format!("attributes.{}", def.name), format!("is already used by {whom}")));
            }
        }
    }
    let identity = identity_of(classes, fields.class_id, &fields.name, &checked);
    if check_refs {
        if let Some(key) = &identity {
            let other: Option<i64> = sqlx::query_scalar("SELECT id FROM cis WHERE identity = $1 AND id <> $2")
                .bind(key)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            let rule = classes.identify_by(fields.class_id);
            let field = if rule.is_empty() { "name".to_string() } else { format!("attributes.{}", rule.join("+")) };
            // A unique attribute that is also the rule has said so already.
            if let Some(other) = other.filter(|_| !errs.iter().any(|e| e.field == field)) {
                let whom = ci_called(conn, other).await?;
                errs.push(FieldError::new(field, format!("identifies {whom} already")));
            }
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Invalid(errs).into());
    }
    let status = fields.status.unwrap_or(CiStatus::Deployed);
    Ok(Prepared { fields, status, checked, identity })
}

/// Writes the attribute index and the search words of a CI.
pub(crate) async fn index_ci(
    conn: &mut AnyConnection,
    id: i64,
    name: &str,
    checked: &BTreeMap<String, CheckedValue>,
    fresh: bool,
) -> Result<(), StoreError> {
    if !fresh {
        sqlx::query("DELETE FROM ci_attr_values WHERE ci_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM ci_terms WHERE ci_id = $1").bind(id).execute(&mut *conn).await?;
    }
    let (mut values, mut terms) = (Vec::new(), Vec::new());
    index_rows_of(id, name, checked, &mut values, &mut terms);
    insert_index_rows(conn, engine_of(conn), &values, &terms).await?;
    Ok(())
}

/// The search words of a CI that `ci_terms` holds: the words of its name
/// and attribute values, less those that are whole attribute values (an
/// attribute's index key, as `os` = `linux`). Those are found in
/// `ci_attr_values` by value, which a search asks as well (`list_cis`), so
/// that more than half of a typical CI's words are not written twice
/// (ADR 0007, "Search words that are attribute values").
pub(crate) fn terms_of(name: &str, checked: &BTreeMap<String, CheckedValue>) -> Vec<String> {
    let keys: HashSet<&str> = checked.values().filter_map(|c| c.key.as_deref()).collect();
    let mut words = words_of(name, checked);
    words.retain(|w| !keys.contains(w.as_str()));
    words
}

/// Every search word of a CI's name and attribute values, at most 200.
fn words_of(name: &str, checked: &BTreeMap<String, CheckedValue>) -> Vec<String> {
    let mut set: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        for t in search::tokens(s) {
            if !set.contains(&t) && set.len() < 200 {
                set.push(t);
            }
        }
    };
    add(name);
    for v in checked.values() {
        match &v.value {
            Value::String(s) => add(s),
            Value::Number(n) => add(&n.to_string()),
            _ => {}
        }
    }
    set
}

pub(crate) async fn log_change(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
    ctx: ChangeContext,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ci_changes (ci_id, at, actor_id, record_id, import_id, field, old_value, new_value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ci_id)
    .bind(at)
    .bind(ctx.actor)
    .bind(ctx.record_id)
    .bind(ctx.import_id)
    .bind(field)
    .bind(old)
    .bind(new)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts a prepared CI with its index; who made it and through what are
/// on its row (see [`Store::ci_changes`]).
pub(crate) async fn insert_ci(
    conn: &mut AnyConnection,
    p: Prepared,
    service_id: Option<i64>,
    ctx: ChangeContext,
    now: i64,
) -> Result<Ci, StoreError> {
    let f = &p.fields;
    let attrs = Value::Object(f.attributes.clone()).to_string();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cis (class_id, name, status, owner_id, location_id, supplier_id, cost, purchased_on, warranty_until, \
         end_of_life, used_by_id, organisation_id, attributes, identity, service_id, version, created_at, updated_at, \
         created_by, created_record_id, created_import_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $16, $17, $18, $19) RETURNING id",
    )
    .bind(f.class_id)
    .bind(&f.name)
    .bind(p.status.as_str())
    .bind(f.owner_id)
    .bind(f.location_id)
    .bind(f.supplier_id)
    .bind(f.cost)
    .bind(f.purchased_on.as_deref())
    .bind(f.warranty_until.as_deref())
    .bind(f.end_of_life.as_deref())
    .bind(f.used_by_id)
    .bind(f.organisation_id)
    .bind(attrs)
    .bind(p.identity.as_deref())
    .bind(service_id)
    .bind(now)
    .bind(ctx.actor)
    .bind(ctx.record_id)
    .bind(ctx.import_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::unique(e, "name"))?;
    index_ci(conn, id, &f.name, &p.checked, true).await?;
    ci_in(conn, id).await
}

/// The stored fields of a CI that the batch writers set, in the order of
/// [`field_values`], with their JSON types (see `sql::json_rows`).
const STORED_FIELDS: [(&str, crate::sql::JsonCol); 13] = {
    use crate::sql::JsonCol::{Int, Text};
    [
        ("name", Text),
        ("status", Text),
        ("owner_id", Int),
        ("location_id", Int),
        ("supplier_id", Int),
        ("cost", Int),
        ("purchased_on", Text),
        ("warranty_until", Text),
        ("end_of_life", Text),
        ("used_by_id", Int),
        ("organisation_id", Int),
        ("attributes", Text),
        ("identity", Text),
    ]
};

/// The fields a batch writer stores, borrowed from new fields or a CI.
struct FieldView<'a> {
    name: &'a str,
    status: CiStatus,
    owner_id: Option<i64>,
    location_id: Option<i64>,
    supplier_id: Option<i64>,
    cost: Option<i64>,
    purchased_on: Option<&'a str>,
    warranty_until: Option<&'a str>,
    end_of_life: Option<&'a str>,
    used_by_id: Option<i64>,
    organisation_id: Option<i64>,
    attributes: &'a Map<String, Value>,
}

impl<'a> FieldView<'a> {
    fn of_fields(f: &'a CiFields, status: CiStatus) -> Self {
        FieldView {
            name: &f.name,
            status,
            owner_id: f.owner_id,
            location_id: f.location_id,
            supplier_id: f.supplier_id,
            cost: f.cost,
            purchased_on: f.purchased_on.as_deref(),
            warranty_until: f.warranty_until.as_deref(),
            end_of_life: f.end_of_life.as_deref(),
            used_by_id: f.used_by_id,
            organisation_id: f.organisation_id,
            attributes: &f.attributes,
        }
    }
    fn of_ci(c: &'a Ci) -> Self {
        FieldView {
            name: &c.name,
            status: c.status,
            owner_id: c.owner_id,
            location_id: c.location_id,
            supplier_id: c.supplier_id,
            cost: c.cost,
            purchased_on: c.purchased_on.as_deref(),
            warranty_until: c.warranty_until.as_deref(),
            end_of_life: c.end_of_life.as_deref(),
            used_by_id: c.used_by_id,
            organisation_id: c.organisation_id,
            attributes: &c.attributes,
        }
    }
}

/// A CI's stored fields as JSON values, in the order of [`STORED_FIELDS`].
fn field_values(f: &FieldView, identity: Option<&str>) -> Vec<Value> {
    vec![
        f.name.into(),
        f.status.as_str().into(),
        f.owner_id.into(),
        f.location_id.into(),
        f.supplier_id.into(),
        f.cost.into(),
        f.purchased_on.into(),
        f.warranty_until.into(),
        f.end_of_life.into(),
        f.used_by_id.into(),
        f.organisation_id.into(),
        Value::Object(f.attributes.clone()).to_string().into(),
        identity.into(),
    ]
}

/// Inserts prepared new CIs, any number, `per_statement` at a time with one
/// statement per table (the CI rows, attribute index, search words), the
/// rows bound as one JSON parameter each (`sql::json_rows`), and returns
/// their ids in input order. The ids are taken first (`reserve_ci_ids`), so
/// no statement's rows wait for the database: a thread makes each batch's
/// parameters while the database writes the batch before. Made in turn, the
/// client's work and the server's each waited for the other (BENCHMARKS.md,
/// "Import, eleventh look").
pub(crate) async fn insert_new_cis(
    conn: &mut AnyConnection,
    news: Vec<Prepared>,
    per_statement: usize,
    ctx: ChangeContext,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    use crate::sql::JsonCol::Int;
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let engine = engine_of(conn);
    let ids = reserve_ci_ids(conn, news.len()).await?;
    let per_statement = per_statement.max(1);
    let mut batches_left = news.len().div_ceil(per_statement);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<NewBatch>(1);
    let given = ids.clone();
    std::thread::spawn(move || {
        for (batch, ids) in news.chunks(per_statement).zip(given.chunks(per_statement)) {
            // The writer stopped (an error): nothing more is wanted.
            if tx.blocking_send(NewBatch::of(batch, ids)).is_err() {
                return;
            }
        }
    });
    let mut cols = vec![("id", Int), ("class_id", Int)];
    cols.extend(STORED_FIELDS);
    let names = STORED_FIELDS.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    let insert_cis = format!(
        "INSERT INTO cis (id, class_id, {}, version, created_at, updated_at, created_by, created_record_id, created_import_id) \
         SELECT v.id, v.class_id, {}, 1, $2, $2, $3, $4, $5 FROM {} AS v",
        names.join(", "),
        names.iter().map(|n| format!("v.{n}")).collect::<Vec<_>>().join(", "),
        json_rows(engine, 1, &cols)
    );
    while let Some(batch) = rx.recv().await {
        batches_left -= 1;
        sqlx::query(&insert_cis)
            .bind(batch.cis)
            .bind(now)
            .bind(ctx.actor)
            .bind(ctx.record_id)
            .bind(ctx.import_id)
            .execute(&mut *conn)
            .await
            // Another import made the same CIs meanwhile (PostgreSQL; see
            // `Store::import_cis`).
            .map_err(|e| StoreError::unique(e, "identity"))?;
        // The new CIs' first versions are their rows (see the module's
        // head), and so is who made them (`Store::ci_changes`).
        insert_index_json(conn, engine, batch.values, batch.terms).await?;
    }
    // A thread that stopped early (it panicked) must not pass for done.
    if batches_left > 0 {
        return Err(StoreError::Database("the rows of new CIs were not all made".into()));
    }
    Ok(ids)
}

/// The parameters of one batch of [`insert_new_cis`]: its CI rows, and its
/// attribute index and search words if it has any.
struct NewBatch {
    cis: String,
    values: Option<String>,
    terms: Option<String>,
}

impl NewBatch {
    fn of(batch: &[Prepared], ids: &[i64]) -> Self {
        let mut cis: Vec<Vec<Value>> = Vec::with_capacity(batch.len());
        let mut values: Vec<(i64, &str, &str)> = Vec::new();
        let mut terms: Vec<(String, i64)> = Vec::new();
        for (p, id) in batch.iter().zip(ids) {
            let f = &p.fields;
            let mut row = vec![Value::from(*id), Value::from(f.class_id)];
            row.extend(field_values(&FieldView::of_fields(f, p.status), p.identity.as_deref()));
            cis.push(row);
            index_rows_of(*id, &f.name, &p.checked, &mut values, &mut terms);
        }
        NewBatch {
            cis: json_param(&cis),
            values: (!values.is_empty()).then(|| json_param(&values)),
            terms: (!terms.is_empty()).then(|| json_param(&terms)),
        }
    }
}

/// `n` ids for new CIs, taken before their rows are written. PostgreSQL
/// hands them out from the column's sequence, also to writers side by side;
/// on SQLite this transaction is the only writer, and the next ids are the
/// ones after the highest (as SQLite itself would choose: CIs are never
/// deleted).
async fn reserve_ci_ids(conn: &mut AnyConnection, n: usize) -> Result<Vec<i64>, StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::Database("too many CIs at once".into()))?;
    match engine_of(conn) {
        crate::Engine::Postgres => Ok(sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('cis', 'id')) FROM generate_series(1, CAST($1 AS BIGINT))",
        )
        .bind(n)
        .fetch_all(&mut *conn)
        .await?),
        crate::Engine::Sqlite => {
            let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM cis").fetch_one(&mut *conn).await?;
            Ok((last + 1..=last + n).collect())
        }
    }
}

/// Replaces a CI's fields with prepared ones: keeps the version it had as
/// an ended one, makes the row the next, logs each changed field. Nothing
/// changes (not even the version) when the fields are the same.
pub(crate) async fn replace_ci(
    conn: &mut AnyConnection,
    old: &Ci,
    p: Prepared,
    ctx: ChangeContext,
    now: i64,
) -> Result<Ci, StoreError> {
    let mut out = replace_rows_batch(conn, vec![(old, p)], ctx, now).await?;
    Ok(out.pop().expect("one CI in, one out"))
}

/// [`replace_ci`] for many CIs at once, with one statement per table for
/// the whole set (rows bound as JSON, see `sql::json_rows`): an import that
/// changes thousands of CIs must not pay a dozen round trips for each.
/// Returns the CIs as they now are, in input order. A CI changed by someone
/// else since it was read fails the whole set with a conflict.
pub(crate) async fn replace_rows_batch(
    conn: &mut AnyConnection,
    items: Vec<(&Ci, Prepared)>,
    ctx: ChangeContext,
    now: i64,
) -> Result<Vec<Ci>, StoreError> {
    use crate::sql::JsonCol::Int;
    let mut out: Vec<Ci> = Vec::with_capacity(items.len());
    // The CIs that change: where in `out`, what they were, their index
    // entries and identity.
    let mut moved: Vec<Moved> = Vec::new();
    for (old, p) in items {
        if p.fields.class_id != old.class_id {
            return Err(DomainError::field("class_id", "cannot change; create a CI of the other class").into());
        }
        if p.status != old.status {
            old.status.transition(p.status)?;
        }
        let mut next = old.clone();
        let f = p.fields;
        next.name = f.name;
        next.status = p.status;
        next.owner_id = f.owner_id;
        next.location_id = f.location_id;
        next.supplier_id = f.supplier_id;
        next.cost = f.cost;
        next.purchased_on = f.purchased_on;
        next.warranty_until = f.warranty_until;
        next.end_of_life = f.end_of_life;
        next.used_by_id = f.used_by_id;
        next.organisation_id = f.organisation_id;
        next.attributes = f.attributes;
        if next != *old {
            // Versions of one CI must not share an instant, or "as of" would
            // be ambiguous: a second change within the same microsecond
            // moves on by one.
            next.version = old.version + 1;
            next.updated_at = now.max(old.updated_at + 1);
            moved.push((out.len(), old, p.checked, p.identity));
        }
        out.push(next);
    }
    if moved.is_empty() {
        return Ok(out);
    }
    let engine = engine_of(conn);
    let rows: Vec<Vec<Value>> = moved
        .iter()
        .map(|(i, old, _, identity)| {
            let n = &out[*i];
            let mut row = vec![Value::from(n.id), Value::from(old.version)];
            row.extend(field_values(&FieldView::of_ci(n), identity.as_deref()));
            row.push(Value::from(n.updated_at));
            row
        })
        .collect();
    let mut cols = vec![("id", Int), ("old_version", Int)];
    cols.extend(STORED_FIELDS);
    cols.push(("at", Int));
    let v = json_rows(engine, 1, &cols);
    let set = STORED_FIELDS.iter().map(|(n, _)| format!("{n} = v.{n}")).collect::<Vec<_>>().join(", ");
    // The next version is always the one read plus one (see above).
    let n = sqlx::query(&format!(
        "UPDATE cis SET {set}, version = v.old_version + 1, updated_at = v.at \
         FROM {v} AS v WHERE cis.id = v.id AND cis.version = v.old_version"
    ))
    .bind(json_param(&rows))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::unique(e, "name"))?
    .rows_affected();
    if n != moved.len() as u64 {
        return Err(StoreError::Conflict { current: moved[0].1.version });
    }
    // A CI that stands for a catalogue service is where the service is
    // renamed (the catalogue has no rename): the two names stay one.
    for (i, old, ..) in &moved {
        let next = &out[*i];
        if let (Some(service), true) = (next.service_id, next.name != old.name) {
            sqlx::query("UPDATE services SET name = $1 WHERE id = $2")
                .bind(&next.name)
                .bind(service)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
            // In the configuration's audit, where the service was made.
            crate::audit::write(
                conn,
                crate::audit::Entity::Configuration,
                service,
                ctx.actor,
                now,
                "service",
                Some(&old.name),
                Some(&next.name),
            )
            .await?;
        }
    }
    // Index entries are rewritten whole; the version each CI had is kept,
    // closed at the instant the next one opens.
    let ids: Vec<(i64,)> = moved.iter().map(|(i, ..)| (out[*i].id,)).collect();
    let v = json_rows(engine, 1, &[("id", Int)]);
    for table in ["ci_attr_values", "ci_terms"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE ci_id IN (SELECT id FROM {v} AS v)"))
            .bind(json_param(&ids))
            .execute(&mut *conn)
            .await?;
    }
    let mut values: Vec<(i64, &str, &str)> = Vec::new();
    let mut terms: Vec<(String, i64)> = Vec::new();
    let mut versions: Vec<VersionRow> = Vec::with_capacity(moved.len());
    let mut changes: Vec<ChangeRow<String>> = Vec::new();
    for (i, old, checked, _) in &moved {
        let next = &out[*i];
        index_rows_of(next.id, &next.name, checked, &mut values, &mut terms);
        let data = serde_json::to_string(old).map_err(|e| StoreError::Database(e.to_string()))?;
        versions.push((old.id, old.version, old.class_id, old.name.as_str(), data, old.updated_at, next.updated_at));
        let before: HashMap<String, Option<String>> = old.field_texts().into_iter().collect();
        let after: HashMap<String, Option<String>> = next.field_texts().into_iter().collect();
        let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
        names.sort();
        names.dedup();
        for k in names {
            let (a, b) = (before.get(k).cloned().flatten(), after.get(k).cloned().flatten());
            if a != b {
                changes.push((next.id, next.updated_at, k.clone(), a, b));
            }
        }
    }
    insert_index_rows(conn, engine, &values, &terms).await?;
    insert_versions(conn, engine, &versions).await?;
    insert_changes(conn, engine, ctx, &changes).await?;
    Ok(out)
}

/// A change-log entry: `ci_id, at, field, old, new`.
type ChangeRow<S> = (i64, i64, S, Option<S>, Option<S>);

/// A CI that a batch replace changes: its place in the output, what it was,
/// its index entries and identity.
type Moved<'a> = (usize, &'a Ci, BTreeMap<String, CheckedValue>, Option<String>);

/// Adds a CI's attribute index rows (`ci_id, name, key`) and search words
/// (`term, ci_id`) to those of a batch.
fn index_rows_of<'a>(
    id: i64,
    name: &str,
    checked: &'a BTreeMap<String, CheckedValue>,
    values: &mut Vec<(i64, &'a str, &'a str)>,
    terms: &mut Vec<(String, i64)>,
) {
    values.extend(checked.iter().filter_map(|(k, c)| Some((id, k.as_str(), c.key.as_deref()?))));
    terms.extend(terms_of(name, checked).into_iter().map(|t| (t, id)));
}

/// Attribute index rows and search words of CIs ([`index_rows_of`]), one
/// statement each.
async fn insert_index_rows(
    conn: &mut AnyConnection,
    engine: crate::Engine,
    values: &[(i64, &str, &str)],
    terms: &[(String, i64)],
) -> Result<(), StoreError> {
    let values = (!values.is_empty()).then(|| json_param(values));
    let terms = (!terms.is_empty()).then(|| json_param(terms));
    insert_index_json(conn, engine, values, terms).await
}

/// [`insert_index_rows`] with the rows bound as JSON already
/// (`sql::json_param`), for a writer that makes them ahead of the database.
async fn insert_index_json(
    conn: &mut AnyConnection,
    engine: crate::Engine,
    values: Option<String>,
    terms: Option<String>,
) -> Result<(), StoreError> {
    use crate::sql::JsonCol::{Int, Text};
    if let Some(rows) = values {
        let v = json_rows(engine, 1, &[("ci_id", Int), ("name", Text), ("value", Text)]);
        sqlx::query(&format!(
            "INSERT INTO ci_attr_values (ci_id, name, value) SELECT v.ci_id, v.name, v.value FROM {v} AS v"
        ))
        .bind(rows)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(rows) = terms {
        let v = json_rows(engine, 1, &[("term", Text), ("ci_id", Int)]);
        sqlx::query(&format!("INSERT INTO ci_terms (term, ci_id) SELECT v.term, v.ci_id FROM {v} AS v"))
            .bind(rows)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A version a change ended: `ci_id, version, class_id, name, data,
/// valid_from, valid_to`.
type VersionRow<'a> = (i64, i64, i64, &'a str, String, i64, i64);

/// Ended versions of CIs, in one statement.
async fn insert_versions(
    conn: &mut AnyConnection,
    engine: crate::Engine,
    rows: &[VersionRow<'_>],
) -> Result<(), StoreError> {
    use crate::sql::JsonCol::{Int, Text};
    let v = json_rows(
        engine,
        1,
        &[
            ("ci_id", Int),
            ("version", Int),
            ("class_id", Int),
            ("name", Text),
            ("data", Text),
            ("valid_from", Int),
            ("valid_to", Int),
        ],
    );
    sqlx::query(&format!(
        "INSERT INTO ci_versions (ci_id, version, class_id, name, data, valid_from, valid_to) \
         SELECT v.ci_id, v.version, v.class_id, v.name, v.data, v.valid_from, v.valid_to FROM {v} AS v"
    ))
    .bind(json_param(rows))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Change-log entries (`ci_id, at, field, old, new`) made in one context, in
/// one statement.
async fn insert_changes<S: AsRef<str> + Serialize>(
    conn: &mut AnyConnection,
    engine: crate::Engine,
    ctx: ChangeContext,
    rows: &[ChangeRow<S>],
) -> Result<(), StoreError> {
    use crate::sql::JsonCol::{Int, Text};
    if rows.is_empty() {
        return Ok(());
    }
    let v = json_rows(engine, 1, &[("ci_id", Int), ("at", Int), ("field", Text), ("old", Text), ("new", Text)]);
    sqlx::query(&format!(
        "INSERT INTO ci_changes (ci_id, at, actor_id, record_id, import_id, field, old_value, new_value) \
         SELECT v.ci_id, v.at, $2, $3, $4, v.field, v.old, v.new FROM {v} AS v"
    ))
    .bind(json_param(rows))
    .bind(ctx.actor)
    .bind(ctx.record_id)
    .bind(ctx.import_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A service from the catalogue becomes a CI of the Service class, in the
/// transaction that made the service.
pub(crate) async fn service_ci(
    conn: &mut AnyConnection,
    service_id: i64,
    name: &str,
    actor: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let classes = classes_in(conn).await?;
    let Some(class) = classes.by_name(SERVICE_CLASS) else { return Ok(()) };
    let fields =
        CiFields { class_id: class.id, name: name.into(), status: Some(CiStatus::Deployed), ..Default::default() };
    let p = prepare(conn, &classes, 0, fields, false).await?;
    // A CI of the Service class may already carry this name (made in the
    // CMDB before the catalogue entry): link it rather than fail.
    if let Some(key) = &p.identity {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM cis WHERE identity = $1").bind(key).fetch_optional(&mut *conn).await?;
        if let Some(id) = existing {
            let n = sqlx::query("UPDATE cis SET service_id = $1 WHERE id = $2 AND service_id IS NULL")
                .bind(service_id)
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if n == 0 {
                // The CI stands for another service already, one whose name
                // differs only in case ("Mail", "mail"): this one would have
                // no CI, and impact analysis could never show it at risk.
                return Err(DomainError::field(
                    "name",
                    "another service has this name in other letters (CI names ignore case): choose a distinct name",
                )
                .into());
            }
            return Ok(());
        }
    }
    insert_ci(conn, p, Some(service_id), ChangeContext { actor, ..Default::default() }, now).await?;
    Ok(())
}

/// The first string after every string that begins with `word`, for a
/// prefix search by range: `word` with its last character one code point
/// on. None for a word of one character (too many words begin with it to
/// search by) or one that ends in the last code point.
fn prefix_end(word: &str) -> Option<String> {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return None;
    }
    let last = chars.pop()?;
    let next = match last as u32 + 1 {
        0xD800 => '\u{E000}',
        n => char::from_u32(n)?,
    };
    chars.push(next);
    Some(chars.into_iter().collect())
}

/// Filters over the CI list; every set field must hold.
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    /// Classes (already expanded to their subclasses).
    pub class_ids: Vec<i64>,
    pub statuses: Vec<CiStatus>,
    /// (attribute, normalised value) pairs.
    pub attributes: Vec<(String, String)>,
    /// Words that must all occur in the name or attribute values.
    pub terms: Vec<String>,
    /// Whether a word of two or more characters also finds the words it
    /// begins (what a person types into a search box), or only itself.
    pub term_prefixes: bool,
    /// CIs with a current relation (either way) to this CI.
    pub related_to: Option<i64>,
    pub used_by_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// With `as_of`, only the class filter applies (the other filters use
    /// indexes of the current state).
    pub as_of: Option<i64>,
}

impl CiFilter {
    pub fn only_class(&self) -> bool {
        self.statuses.is_empty()
            && self.attributes.is_empty()
            && self.terms.is_empty()
            && self.related_to.is_none()
            && self.used_by_id.is_none()
            && self.owner_id.is_none()
    }
}

impl Store {
    pub async fn create_ci(&self, fields: CiFields, ctx: ChangeContext) -> Result<Ci, StoreError> {
        self.write(move |conn| {
            async move {
                record_exists_in(conn, ctx).await?;
                let classes = classes_in(conn).await?;
                let p = prepare(conn, &classes, 0, fields, true).await?;
                insert_ci(conn, p, None, ctx, now_micros()).await
            }
            .boxed()
        })
        .await
    }

    /// As [`Store::create_ci`], honouring an `Idempotency-Key`: a retry with
    /// the same key and body returns the CI the first request made (and
    /// `true`), in the same transaction as the claim.
    pub async fn create_ci_once(
        &self,
        fields: CiFields,
        ctx: ChangeContext,
        key: crate::idempotency::IdempotencyKey,
    ) -> Result<(Ci, bool), StoreError> {
        self.write(move |conn| {
            async move {
                if let Some(id) = crate::idempotency::claim(conn, &key).await? {
                    return Ok((ci_in(conn, id).await?, true));
                }
                record_exists_in(conn, ctx).await?;
                let classes = classes_in(conn).await?;
                let p = prepare(conn, &classes, 0, fields, true).await?;
                let ci = insert_ci(conn, p, None, ctx, now_micros()).await?;
                crate::idempotency::remember(conn, &key, ci.id).await?;
                Ok((ci, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn ci(&self, id: i64) -> Result<Ci, StoreError> {
        let mut conn = self.pool().acquire().await?;
        ci_in(&mut conn, id).await
    }

    /// Replaces the settable fields of a CI (the caller merged its patch),
    /// if it is still at `expected`.
    pub async fn update_ci(
        &self,
        id: i64,
        expected: Option<i64>,
        fields: CiFields,
        ctx: ChangeContext,
    ) -> Result<Ci, StoreError> {
        self.write(move |conn| {
            async move {
                let old = ci_in(conn, id).await?;
                if let Some(v) = expected {
                    if v != old.version {
                        return Err(StoreError::Conflict { current: old.version });
                    }
                }
                record_exists_in(conn, ctx).await?;
                let classes = classes_in(conn).await?;
                let p = prepare(conn, &classes, id, fields, true).await?;
                replace_ci(conn, &old, p, ctx, now_micros()).await
            }
            .boxed()
        })
        .await
    }

    /// The CI as it was at `at`, or `NotFound` if it did not exist then.
    pub async fn ci_as_of(&self, id: i64, at: i64) -> Result<Ci, StoreError> {
        // The current version if it had begun, else the ended one: in that
        // order, as the two reads see the database at two moments. A change
        // between them ends a version that covers `at` too; it never takes
        // one away (see `AS_OF_ORDER`).
        let row: Option<CiRow> =
            sqlx::query_as(&format!("SELECT {CI_COLS} FROM cis WHERE id = $1 AND updated_at <= $2"))
                .bind(id)
                .bind(at)
                .fetch_optional(self.pool())
                .await?;
        if let Some(row) = row {
            return row.into_ci();
        }
        let data: String =
            sqlx::query_scalar("SELECT data FROM ci_versions WHERE ci_id = $1 AND valid_to > $2 AND valid_from <= $2")
                .bind(id)
                .bind(at)
                .fetch_optional(self.pool())
                .await?
                .ok_or(StoreError::NotFound)?;
        serde_json::from_str(&data).map_err(|_| StoreError::corrupt(format!("ci_versions {id}")))
    }

    /// A page of CIs matching the filter, by id, after `after`.
    pub async fn list_cis(&self, f: &CiFilter, after: Option<i64>, limit: i64) -> Result<Vec<Ci>, StoreError> {
        if let Some(at) = f.as_of {
            // A page of each kind of version, current first (`AS_OF_ORDER`),
            // merged by id: a CI changed between the two reads is in both.
            let mut q = Sql::new(&format!("SELECT {CI_COLS} FROM cis WHERE updated_at <= "));
            q.bind(Arg::Int(at));
            if !f.class_ids.is_empty() {
                q.push(" AND class_id IN ").bind_list(f.class_ids.iter().map(|c| Arg::Int(*c)));
            }
            if let Some(a) = after {
                q.push(" AND id > ").bind(Arg::Int(a));
            }
            q.push(" ORDER BY id LIMIT ").bind(Arg::Int(limit));
            let rows: Vec<CiRow> = q.query_as().fetch_all(self.pool()).await?;
            let mut out = rows.into_iter().map(CiRow::into_ci).collect::<Result<Vec<Ci>, _>>()?;
            let mut q = Sql::new("SELECT data FROM ci_versions WHERE valid_to > ");
            q.bind(Arg::Int(at)).push(" AND valid_from <= ").bind(Arg::Int(at));
            if !f.class_ids.is_empty() {
                q.push(" AND class_id IN ").bind_list(f.class_ids.iter().map(|c| Arg::Int(*c)));
            }
            if let Some(a) = after {
                q.push(" AND ci_id > ").bind(Arg::Int(a));
            }
            q.push(" ORDER BY ci_id LIMIT ").bind(Arg::Int(limit));
            let rows: Vec<(String,)> = q.query_as().fetch_all(self.pool()).await?;
            let current: HashSet<i64> = out.iter().map(|c| c.id).collect();
            for (d,) in rows {
                let ci: Ci = serde_json::from_str(&d).map_err(|_| StoreError::corrupt("ci_versions"))?;
                if !current.contains(&ci.id) {
                    out.push(ci);
                }
            }
            out.sort_unstable_by_key(|c| c.id);
            out.truncate(usize::try_from(limit).unwrap_or(0));
            return Ok(out);
        }
        // With an attribute filter, the attribute index drives the query in
        // CI-id order and each candidate is looked up by primary key until
        // the page is full. `CROSS JOIN` makes SQLite keep that join order
        // (it would otherwise read every CI of the classes and sort them);
        // PostgreSQL plans it as an ordinary join.
        let mut q = match f.attributes.first() {
            Some((name, value)) => {
                let cols = CI_COLS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
                let mut q =
                    Sql::new(&format!("SELECT {cols} FROM ci_attr_values v CROSS JOIN cis c WHERE c.id = v.ci_id"));
                q.push(" AND v.name = ").bind(Arg::Text(name.clone()));
                q.push(" AND v.value = ").bind(Arg::Text(value.clone()));
                if let Some(a) = after {
                    q.push(" AND v.ci_id > ").bind(Arg::Int(a));
                }
                q
            }
            None => Sql::new(&format!("SELECT {CI_COLS} FROM cis c WHERE 1 = 1")),
        };
        let driven = !f.attributes.is_empty();
        if !f.class_ids.is_empty() {
            q.push(" AND c.class_id IN ").bind_list(f.class_ids.iter().map(|c| Arg::Int(*c)));
        }
        if !f.statuses.is_empty() {
            q.push(" AND c.status IN ").bind_list(f.statuses.iter().map(|s| Arg::Text(s.as_str().into())));
        }
        for (name, value) in f.attributes.iter().skip(1) {
            q.push(" AND c.id IN (SELECT ci_id FROM ci_attr_values WHERE name = ").bind(Arg::Text(name.clone()));
            q.push(" AND value = ").bind(Arg::Text(value.clone()));
            if let Some(a) = after {
                q.push(" AND ci_id > ").bind(Arg::Int(a));
            }
            q.push(")");
        }
        for t in &f.terms {
            // A word is in `ci_terms` or, where it is a whole attribute
            // value, in `ci_attr_values` (see `terms_of`).
            let end = prefix_end(t).filter(|_| f.term_prefixes);
            for (i, (table, col)) in [("ci_terms", "term"), ("ci_attr_values", "value")].into_iter().enumerate() {
                q.push(if i == 0 { " AND c.id IN (SELECT ci_id FROM " } else { " UNION ALL SELECT ci_id FROM " });
                q.push(table).push(" WHERE ");
                match &end {
                    // The words from `t` up to the first that cannot begin
                    // with it: an index range on both engines, as the words
                    // and values compare by code point (bytes on SQLite,
                    // `COLLATE "C"` on PostgreSQL, migrations 22 and 24).
                    Some(end) => q
                        .push(col)
                        .push(" >= ")
                        .bind(Arg::Text(t.clone()))
                        .push(" AND ")
                        .push(col)
                        .push(" < ")
                        .bind(Arg::Text(end.clone())),
                    None => q.push(col).push(" = ").bind(Arg::Text(t.clone())),
                };
            }
            q.push(")");
        }
        if let Some(r) = f.related_to {
            q.push(" AND (c.id IN (SELECT from_id FROM ci_relations WHERE to_id = ").bind(Arg::Int(r));
            q.push(" AND valid_to = ").bind(Arg::Int(FOREVER));
            q.push(") OR c.id IN (SELECT to_id FROM ci_relations WHERE from_id = ").bind(Arg::Int(r));
            q.push(" AND valid_to = ").bind(Arg::Int(FOREVER)).push("))");
        }
        if let Some(u) = f.used_by_id {
            q.push(" AND c.used_by_id = ").bind(Arg::Int(u));
        }
        if let Some(u) = f.owner_id {
            q.push(" AND c.owner_id = ").bind(Arg::Int(u));
        }
        if let Some(a) = after {
            q.push(" AND c.id > ").bind(Arg::Int(a));
        }
        q.push(if driven { " ORDER BY v.ci_id LIMIT " } else { " ORDER BY c.id LIMIT " }).bind(Arg::Int(limit));
        let rows: Vec<CiRow> = q.query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(CiRow::into_ci).collect()
    }

    /// The change log of a CI, oldest first. Its first entry, "created"
    /// (id 0), is read from the CI's row, which keeps who made it and
    /// through what, and from its first version's name: an import of many
    /// CIs writes no log row for each (ADR 0007, "Who made a CI").
    pub async fn ci_changes(&self, id: i64) -> Result<Vec<CiChange>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let made: Option<Made> = sqlx::query_as(
            "SELECT COALESCE((SELECT name FROM ci_versions WHERE ci_id = $1 ORDER BY version LIMIT 1), name), \
             created_at, created_by, created_record_id, created_import_id FROM cis WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((name, at, actor_id, record_id, import_id)) = made else { return Ok(Vec::new()) };
        let mut log = vec![CiChange {
            id: 0,
            at,
            actor_id,
            record_id,
            import_id,
            field: "created".into(),
            old_value: None,
            new_value: Some(name),
        }];
        log.extend(
            sqlx::query_as::<_, CiChange>(
                "SELECT id, at, actor_id, record_id, import_id, field, old_value, new_value FROM ci_changes \
                 WHERE ci_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
        );
        Ok(log)
    }

    /// Names of CIs as of `at`, for showing ids.
    pub async fn ci_names(&self, ids: &[i64], at: Option<i64>) -> Result<HashMap<i64, String>, StoreError> {
        // Most pages ask with none (an incident that never named a CI).
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.pool().acquire().await?;
        names_in(&mut conn, ids, at.unwrap_or(CURRENT)).await
    }

    /// Rebuilds the index, search words and identity of CIs
    /// listed in `ci_reindex` (made by the migration from the services
    /// table, where only SQL ran). Idempotent; cheap when the list is empty.
    pub(crate) async fn cmdb_reindex(&self) -> Result<(), StoreError> {
        loop {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT ci_id FROM ci_reindex ORDER BY ci_id LIMIT 200")
                .fetch_all(self.pool())
                .await?;
            if ids.is_empty() {
                return Ok(());
            }
            self.write(move |conn| {
                async move {
                    let classes = classes_in(conn).await?;
                    for id in ids {
                        if let Ok(ci) = ci_in(conn, id).await {
                            let p = match prepare(conn, &classes, id, ci.fields(), false).await {
                                Ok(p) => p,
                                // Data the classes no longer read must not stop
                                // Varde from starting: the CI keeps what it has,
                                // and its next edit says what to mend.
                                Err(StoreError::Domain(e)) => {
                                    tracing::warn!(ci = id, error = %e, "a CI could not be re-indexed");
                                    sqlx::query("DELETE FROM ci_reindex WHERE ci_id = $1")
                                        .bind(id)
                                        .execute(&mut *conn)
                                        .await?;
                                    continue;
                                }
                                Err(e) => return Err(e),
                            };
                            sqlx::query("UPDATE cis SET identity = $1 WHERE id = $2")
                                .bind(p.identity.as_deref())
                                .bind(id)
                                .execute(&mut *conn)
                                .await?;
                            index_ci(conn, id, &ci.name, &p.checked, false).await?;
                        }
                        sqlx::query("DELETE FROM ci_reindex WHERE ci_id = $1").bind(id).execute(&mut *conn).await?;
                    }
                    Ok(())
                }
                .boxed()
            })
            .await?;
        }
    }
}

/// What a CI's row keeps of its making: its first name, when, who, and the
/// record and import it came through.
type Made = (String, i64, Option<i64>, Option<i64>, Option<i64>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct CiChange {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub record_id: Option<i64>,
    pub import_id: Option<i64>,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

async fn names_in(conn: &mut AnyConnection, ids: &[i64], at: i64) -> Result<HashMap<i64, String>, StoreError> {
    let mut out = HashMap::new();
    let mut ids: Vec<i64> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(CHUNK) {
        // Current versions first (`AS_OF_ORDER`).
        let mut q = Sql::new("SELECT id, name FROM cis WHERE updated_at <= ");
        q.bind(Arg::Int(at)).push(" AND id IN ").bind_list(chunk.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, String)> = q.query_as().fetch_all(&mut *conn).await?;
        out.extend(rows);
        // Ended versions end before now: the current names need only the rows.
        if at < CURRENT {
            let mut q = Sql::new("SELECT ci_id, name FROM ci_versions WHERE valid_to > ");
            q.bind(Arg::Int(at)).push(" AND valid_from <= ").bind(Arg::Int(at)).push(" AND ci_id IN ");
            q.bind_list(chunk.iter().map(|i| Arg::Int(*i)));
            let rows: Vec<(i64, String)> = q.query_as().fetch_all(&mut *conn).await?;
            for (id, name) in rows {
                out.entry(id).or_insert(name);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- relations

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct Relation {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    pub kind: String,
    pub attributes: String,
    pub valid_from: i64,
    pub valid_to: i64,
}

const REL_COLS: &str = "id, from_id, to_id, kind, attributes, valid_from, valid_to";

/// Ids of relations stored before a change, for the change log.
fn relation_text(kind: RelationKind, other: i64, name: &str) -> String {
    format!("{} {} ({})", kind.name(), name, other)
}

/// The change-log lines of a new relation, one at each end, each naming the
/// other: "runs on db-01 (7)" and "hosts app (3)".
fn relation_made_lines(from: (i64, &str), to: (i64, &str), kind: RelationKind, now: i64) -> [ChangeRow<String>; 2] {
    let back = format!("{} {} ({})", kind.reverse_name(), from.1, from.0);
    [
        (from.0, now, "relation".into(), None, Some(relation_text(kind, to.0, to.1))),
        (to.0, now, "relation".into(), None, Some(back)),
    ]
}

/// The record a change is made under, if it names one, must exist: a
/// change log entry pointing nowhere would be refused by the database as a
/// server error, where the caller deserves a field error.
async fn record_exists_in(conn: &mut AnyConnection, ctx: ChangeContext) -> Result<(), StoreError> {
    match ctx.record_id {
        Some(r) if r <= 0 || !exists(conn, "records", r).await? => {
            Err(StoreError::UnknownReference { field: "record_id" })
        }
        _ => Ok(()),
    }
}

/// The most a relation's attributes may take, as JSON text.
const MAX_RELATION_ATTRIBUTES: usize = 16 * 1024;

/// Whether `from` has the relation `kind` to `to` now.
/// Which of `wanted` (from, to, kind) are current relations, in one query
/// per thousand: a dry run of an import with thousands of relations must
/// not ask for each.
pub(crate) async fn current_relations(
    conn: &mut AnyConnection,
    wanted: &[(i64, i64, RelationKind)],
) -> Result<HashSet<(i64, i64, RelationKind)>, StoreError> {
    use crate::sql::JsonCol::{Int, Text};
    let engine = engine_of(conn);
    let mut out = HashSet::new();
    for chunk in wanted.chunks(1000) {
        let rows: Vec<(i64, i64, &str)> = chunk.iter().map(|(f, t, k)| (*f, *t, k.as_str())).collect();
        let v = json_rows(engine, 1, &[("from_id", Int), ("to_id", Int), ("kind", Text)]);
        let found: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
            "SELECT r.from_id, r.to_id, r.kind FROM {v} AS v JOIN ci_relations r \
             ON r.from_id = v.from_id AND r.valid_to = $2 AND r.kind = v.kind AND r.to_id = v.to_id"
        ))
        .bind(json_param(&rows))
        .bind(FOREVER)
        .fetch_all(&mut *conn)
        .await?;
        for (f, t, k) in found {
            let k = RelationKind::parse("kind", &k).map_err(|_| StoreError::corrupt("ci_relations"))?;
            out.insert((f, t, k));
        }
    }
    Ok(out)
}

pub(crate) async fn relation_is_current(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    kind: RelationKind,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ci_relations WHERE from_id = $1 AND valid_to = $2 AND kind = $3 AND to_id = $4",
    )
    .bind(from)
    .bind(FOREVER)
    .bind(kind.as_str())
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Locks a row of `table` (one of our own table names) until the write
/// commits, on PostgreSQL, where writers run side by side and a check that
/// counts rows cannot see another writer's uncommitted ones. SQLite's one
/// writer needs none.
async fn lock_row_in(conn: &mut AnyConnection, table: &str, id: i64) -> Result<(), StoreError> {
    if engine_of(conn) == crate::Engine::Postgres {
        sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1 FOR NO KEY UPDATE"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Closes a checklist whose items are all handed back, if it is open.
async fn close_if_done_in(conn: &mut AnyConnection, checklist_id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE ci_checklists SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM ci_checklist_items WHERE checklist_id = $2 AND done_at IS NULL)",
    )
    .bind(now)
    .bind(checklist_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn add_relation_in(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    kind: RelationKind,
    attributes: &Map<String, Value>,
    ctx: ChangeContext,
    now: i64,
) -> Result<Relation, StoreError> {
    if from == to {
        return Err(DomainError::field("to_id", "a CI cannot be related to itself").into());
    }
    // Kept with every version of the relation and shown with it: a note,
    // not a document store.
    if serde_json::to_string(attributes).map_or(0, |t| t.len()) > MAX_RELATION_ATTRIBUTES {
        return Err(DomainError::field("attributes", "must be at most 16 KiB of JSON").into());
    }
    let names = names_in(conn, &[from, to], CURRENT).await?;
    let (Some(from_name), Some(to_name)) = (names.get(&from).cloned(), names.get(&to).cloned()) else {
        return Err(StoreError::UnknownReference {
            field: if names.contains_key(&from) { "to_id" } else { "from_id" },
        });
    };
    // A disposed CI is gone (its life cycle's final step): it depends on
    // nothing and nothing runs on it any more.
    let disposed: Vec<i64> = sqlx::query_scalar("SELECT id FROM cis WHERE id IN ($1, $2) AND status = 'disposed'")
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
    if let Some(gone) = disposed.first() {
        let field = if *gone == to { "to_id" } else { "from_id" };
        let name = if *gone == to { &to_name } else { &from_name };
        return Err(DomainError::field(field, format!("{name} is disposed and can have no new relations")).into());
    }
    if relation_is_current(conn, from, to, kind).await? {
        return Err(StoreError::InUse(format!("this relation exists already: {from_name} {} {to_name}", kind.name())));
    }
    let rel: Relation = sqlx::query_as(&format!(
        "INSERT INTO ci_relations (from_id, to_id, kind, attributes, valid_from, valid_to, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {REL_COLS}"
    ))
    .bind(from)
    .bind(to)
    .bind(kind.as_str())
    .bind(Value::Object(attributes.clone()).to_string())
    .bind(now)
    .bind(FOREVER)
    .bind(ctx.actor)
    .fetch_one(&mut *conn)
    .await
    // Made by another writer since the check above (PostgreSQL): the
    // caller runs again and finds it (`ci_relations_current`).
    .map_err(|e| StoreError::unique(e, "relation"))?;
    let lines = relation_made_lines((from, &from_name), (to, &to_name), kind, now);
    insert_changes(conn, engine_of(conn), ctx, &lines).await?;
    Ok(rel)
}

/// New relations between CIs that exist and are not disposed, none of
/// them current (the caller has checked all three, as an import does), with
/// one statement per thousands of relations and one for their change-log
/// lines: an import of thousands of relations must not pay six round trips
/// for each (`add_relation_in`). A relation made meanwhile by another writer
/// fails the whole set as a duplicate, which an import runs again.
pub(crate) async fn add_relations_in(
    conn: &mut AnyConnection,
    rels: &[(i64, i64, RelationKind)],
    ctx: ChangeContext,
    now: i64,
) -> Result<(), StoreError> {
    use crate::sql::JsonCol::{Int, Text};
    if rels.is_empty() {
        return Ok(());
    }
    let engine = engine_of(conn);
    let ends: Vec<i64> = rels.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
    let names = names_in(conn, &ends, CURRENT).await?;
    let name = |id: &i64| names.get(id).map(String::as_str).unwrap_or_default();
    let v = json_rows(engine, 1, &[("from_id", Int), ("to_id", Int), ("kind", Text)]);
    let insert = format!(
        "INSERT INTO ci_relations (from_id, to_id, kind, attributes, valid_from, valid_to, created_by) \
         SELECT v.from_id, v.to_id, v.kind, '{{}}', $2, $3, $4 FROM {v} AS v"
    );
    for chunk in rels.chunks(5_000) {
        let rows: Vec<(i64, i64, &str)> = chunk.iter().map(|(a, b, k)| (*a, *b, k.as_str())).collect();
        sqlx::query(&insert)
            .bind(json_param(&rows))
            .bind(now)
            .bind(FOREVER)
            .bind(ctx.actor)
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::unique(e, "relation"))?;
    }
    let lines: Vec<ChangeRow<String>> = rels
        .iter()
        .flat_map(|(from, to, kind)| relation_made_lines((*from, name(from)), (*to, name(to)), *kind, now))
        .collect();
    for chunk in lines.chunks(5_000) {
        insert_changes(conn, engine, ctx, chunk).await?;
    }
    Ok(())
}

/// A relation seen from one of its CIs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RelationView {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    pub kind: String,
    /// How it reads from the CI asked about: "depends on", or "used by".
    pub label: String,
    /// `outgoing` when the CI asked about is `from_id`.
    pub direction: String,
    pub other_id: i64,
    pub other_name: String,
    pub other_class_id: i64,
    #[schema(value_type = Object)]
    pub attributes: Value,
    #[serde(serialize_with = "crate::rfc3339::instant")]
    #[schema(value_type = String)]
    pub valid_from: i64,
    #[serde(serialize_with = "crate::rfc3339::optional")]
    #[schema(value_type = Option<String>)]
    pub valid_to: Option<i64>,
}

impl Store {
    pub async fn add_ci_relation(
        &self,
        from: i64,
        to: i64,
        kind: RelationKind,
        attributes: Map<String, Value>,
        ctx: ChangeContext,
    ) -> Result<Relation, StoreError> {
        let write = || {
            let attributes = attributes.clone();
            self.write(move |conn| {
                async move {
                    record_exists_in(conn, ctx).await?;
                    add_relation_in(conn, from, to, kind, &attributes, ctx, now_micros()).await
                }
                .boxed()
            })
        };
        match write().await {
            // Another writer made it first: once more, to say so in words.
            Err(StoreError::Duplicate { field: "relation" }) => write().await,
            done => done,
        }
    }

    /// Ends a current relation (it stays in the history).
    pub async fn end_ci_relation(&self, ci_id: i64, relation_id: i64, ctx: ChangeContext) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                record_exists_in(conn, ctx).await?;
                let rel: Relation = sqlx::query_as(&format!(
                    "SELECT {REL_COLS} FROM ci_relations WHERE id = $1 AND valid_to = $2 AND (from_id = $3 OR to_id = $3)"
                ))
                .bind(relation_id)
                .bind(FOREVER)
                .bind(ci_id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
                let now = now_micros().max(rel.valid_from + 1);
                let n = sqlx::query("UPDATE ci_relations SET valid_to = $1, ended_by = $2 WHERE id = $3 AND valid_to = $4")
                    .bind(now)
                    .bind(ctx.actor)
                    .bind(relation_id)
                    .bind(FOREVER)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)?;
                let kind = RelationKind::parse("kind", &rel.kind).map_err(|_| StoreError::corrupt("ci_relations"))?;
                let names = names_in(conn, &[rel.from_id, rel.to_id], CURRENT).await?;
                let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
                log_change(conn, rel.from_id, now, ctx, "relation", Some(&relation_text(kind, rel.to_id, &name(rel.to_id))), None).await?;
                let back = format!("{} {} ({})", kind.reverse_name(), name(rel.from_id), rel.from_id);
                log_change(conn, rel.to_id, now, ctx, "relation", Some(&back), None).await
            }
            .boxed()
        })
        .await
    }

    /// When each of these relations ended, for those that have: the one
    /// thing an as-of view leaves out, which a comparison of two instants
    /// needs for the relations it shows as removed.
    pub async fn relation_ends(&self, ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Sql::new("SELECT id, valid_to FROM ci_relations WHERE valid_to < ");
        q.bind(Arg::Int(FOREVER)).push(" AND id IN ").bind_list(ids.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, i64)> = q.query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().collect())
    }

    /// The relations of a CI, both ways, current or as of `at`.
    pub async fn ci_relations(&self, id: i64, at: Option<i64>) -> Result<Vec<RelationView>, StoreError> {
        let t = at.unwrap_or(CURRENT);
        let mut out = Vec::new();
        for (mine, other, outgoing) in [("from_id", "to_id", true), ("to_id", "from_id", false)] {
            // The other end as of then: its ended version, else its row.
            let sql = format!(
                "SELECT r.id, r.from_id, r.to_id, r.kind, r.attributes, r.valid_from, r.valid_to, \
                 COALESCE(v.name, c.name), COALESCE(v.class_id, c.class_id) \
                 FROM ci_relations r \
                 LEFT JOIN ci_versions v ON v.ci_id = r.{other} AND v.valid_to > $2 AND v.valid_from <= $2 \
                 LEFT JOIN cis c ON c.id = r.{other} AND c.updated_at <= $2 \
                 WHERE r.{mine} = $1 AND r.valid_to > $2 AND r.valid_from <= $2 \
                 AND (v.ci_id IS NOT NULL OR c.id IS NOT NULL) ORDER BY r.id"
            );
            #[allow(clippy::type_complexity)]
            let rows: Vec<(i64, i64, i64, String, String, i64, i64, String, i64)> =
                sqlx::query_as(&sql).bind(id).bind(t).fetch_all(self.pool()).await?;
            for (rid, from_id, to_id, kind, attrs, vf, vt, name, class_id) in rows {
                let k = RelationKind::parse("kind", &kind).map_err(|_| StoreError::corrupt("ci_relations"))?;
                out.push(RelationView {
                    id: rid,
                    from_id,
                    to_id,
                    label: if outgoing { k.name() } else { k.reverse_name() }.into(),
                    kind,
                    direction: if outgoing { "outgoing" } else { "incoming" }.into(),
                    other_id: if outgoing { to_id } else { from_id },
                    other_name: name,
                    other_class_id: class_id,
                    attributes: serde_json::from_str(&attrs).unwrap_or(Value::Null),
                    valid_from: vf,
                    // As of an instant, a relation ended later was current
                    // then: the view does not tell what happened after.
                    valid_to: (vt != FOREVER && at.is_none()).then_some(vt),
                });
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- impact

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What depends on the CI: what stops if it fails.
    Up,
    /// What the CI depends on.
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PathStep {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AffectedService {
    pub id: i64,
    pub name: String,
    pub class_id: i64,
    pub depth: u32,
    /// From the service back to the CI asked about (up), or from the CI to
    /// the service (down).
    pub path: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImpactNode {
    pub id: i64,
    pub name: String,
    pub class_id: i64,
    pub depth: u32,
    /// The node it was reached from (on a shortest path).
    pub parent: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub ci_id: i64,
    pub direction: String,
    pub depth: u32,
    /// Every CI reached, not counting the start.
    pub reached: usize,
    /// The walk stopped at its node limit before its depth.
    pub truncated: bool,
    pub services: Vec<AffectedService>,
    /// The CIs reached, nearest first, at most [`MAX_NODES_SHOWN`].
    pub nodes: Vec<ImpactNode>,
    /// Organisations using an affected CI (up only).
    pub organisation_ids: Vec<i64>,
    /// People using an affected CI (up only).
    pub user_ids: Vec<i64>,
}

pub const MAX_NODES_SHOWN: usize = 200;
/// The walk's node limit: past it the answer says it is truncated.
pub const MAX_NODES_WALKED: usize = 100_000;

/// What the impact walk needs of a CI as it was at an instant, read from
/// its version of then.
#[derive(serde::Deserialize)]
struct Then {
    status: CiStatus,
    organisation_id: Option<i64>,
    used_by_id: Option<i64>,
}

/// These CIs as they were at `at` (those that existed then).
async fn then_in(
    conn: &mut AnyConnection,
    ids: impl Iterator<Item = i64>,
    at: i64,
) -> Result<HashMap<i64, Then>, StoreError> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        // The CIs whose current version had begun, then the ended versions
        // of the others (`AS_OF_ORDER`).
        let mut q = Sql::new("SELECT id, status, organisation_id, used_by_id FROM cis WHERE updated_at <= ");
        q.bind(Arg::Int(at)).push(" AND id IN ").bind_list(chunk.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = q.query_as().fetch_all(&mut *conn).await?;
        for (id, status, organisation_id, used_by_id) in rows {
            let status = CiStatus::parse("status", &status).map_err(|_| StoreError::corrupt(format!("cis {id}")))?;
            out.insert(id, Then { status, organisation_id, used_by_id });
        }
        let mut q = Sql::new("SELECT ci_id, data FROM ci_versions WHERE valid_to > ");
        q.bind(Arg::Int(at)).push(" AND valid_from <= ").bind(Arg::Int(at)).push(" AND ci_id IN ");
        q.bind_list(chunk.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, String)> = q.query_as().fetch_all(&mut *conn).await?;
        for (id, data) in rows {
            if out.contains_key(&id) {
                continue;
            }
            let then: Then =
                serde_json::from_str(&data).map_err(|e| StoreError::corrupt(format!("version of CI {id}: {e}")))?;
            out.insert(id, then);
        }
    }
    Ok(out)
}

impl Store {
    /// Walks dependency edges from `start` up (what depends on it) or down
    /// (what it depends on) to `depth`, current or as of `at`, one batched
    /// query per level and chunk of the frontier.
    pub async fn impact(&self, start: i64, dir: Direction, depth: u32, at: Option<i64>) -> Result<Impact, StoreError> {
        let t = at.unwrap_or(CURRENT);
        let mut conn = self.pool().acquire().await?;
        let names0 = names_in(&mut conn, &[start], t).await?;
        if names0.is_empty() {
            return Err(StoreError::NotFound);
        }
        let classes = load_classes_in(&mut conn).await?;
        let service_classes: HashSet<i64> = classes.service_classes().into_iter().collect();
        let kinds: Vec<Arg> = RelationKind::dependencies().map(|k| Arg::Text(k.as_str().into())).collect();
        let (near, far) = match dir {
            Direction::Up => ("to_id", "from_id"),
            Direction::Down => ("from_id", "to_id"),
        };
        let mut walk = Walk::with_limit(start, depth, MAX_NODES_WALKED);
        let mut class_of: HashMap<i64, i64> = HashMap::new();
        while !walk.is_done() {
            let mut steps = Vec::new();
            for chunk in walk.frontier().chunks(CHUNK) {
                let mut q = Sql::new(&format!(
                    "SELECT r.{near}, r.{far}, c.class_id FROM ci_relations r JOIN cis c ON c.id = r.{far} WHERE r.{near} IN "
                ));
                q.bind_list(chunk.iter().map(|i| Arg::Int(*i)));
                q.push(" AND r.valid_to > ").bind(Arg::Int(t)).push(" AND r.valid_from <= ").bind(Arg::Int(t));
                q.push(" AND r.kind IN ").bind_list(kinds.iter().cloned());
                if at.is_none() {
                    q.push(" AND c.status NOT IN ('retired', 'disposed')");
                }
                let rows: Vec<(i64, i64, i64)> = q.query_as().fetch_all(&mut *conn).await?;
                for (a, b, c) in rows {
                    class_of.insert(b, c);
                    steps.push((a, b));
                }
            }
            // Retired and disposed CIs are out of service: the walk neither
            // reaches nor passes through them (a service does not fail with
            // a server it no longer runs on); as of an instant, with their
            // status of then.
            if let Some(at) = at {
                let then = then_in(&mut conn, steps.iter().map(|s| s.1), at).await?;
                steps.retain(|s| then.get(&s.1).is_some_and(|t| t.status.is_active()));
            }
            walk.advance(steps);
        }
        let mut reached: Vec<(i64, u32)> = walk.reached().collect();
        reached.sort_unstable_by_key(|&(id, d)| (d, id));
        let services: Vec<(i64, u32)> = reached
            .iter()
            .copied()
            .filter(|(id, _)| class_of.get(id).is_some_and(|c| service_classes.contains(c)))
            .collect();
        let mut want: Vec<i64> = vec![start];
        for (id, _) in &services {
            want.extend(walk.path(*id).unwrap_or_default());
        }
        want.extend(reached.iter().take(MAX_NODES_SHOWN).map(|(id, _)| *id));
        let names = names_in(&mut conn, &want, t).await?;
        let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("CI {id}"));
        let services = services
            .into_iter()
            .map(|(id, d)| {
                let mut path: Vec<PathStep> =
                    walk.path(id).unwrap_or_default().into_iter().map(|p| PathStep { id: p, name: name(p) }).collect();
                if dir == Direction::Down {
                    path.reverse();
                }
                AffectedService {
                    id,
                    name: name(id),
                    class_id: class_of.get(&id).copied().unwrap_or(0),
                    depth: d,
                    path,
                }
            })
            .collect();
        let nodes = reached
            .iter()
            .take(MAX_NODES_SHOWN)
            .map(|&(id, d)| ImpactNode {
                id,
                name: name(id),
                class_id: class_of.get(&id).copied().unwrap_or(0),
                depth: d,
                parent: walk.path(id).and_then(|p| p.get(1).copied()),
            })
            .collect();
        let (mut orgs, mut users) = (Vec::new(), Vec::new());
        if dir == Direction::Up {
            let ids: Vec<i64> = std::iter::once(start).chain(reached.iter().map(|(id, _)| *id)).collect();
            // Who used them then, not who uses them now.
            if let Some(at) = at {
                for t in then_in(&mut conn, ids.iter().copied(), at).await?.into_values() {
                    orgs.extend(t.organisation_id);
                    users.extend(t.used_by_id);
                }
            }
            for chunk in ids.chunks(CHUNK).filter(|_| at.is_none()) {
                let mut q = Sql::new("SELECT organisation_id, used_by_id FROM cis WHERE id IN ");
                q.bind_list(chunk.iter().map(|i| Arg::Int(*i)));
                q.push(" AND (organisation_id IS NOT NULL OR used_by_id IS NOT NULL)");
                let rows: Vec<(Option<i64>, Option<i64>)> = q.query_as().fetch_all(&mut *conn).await?;
                for (o, u) in rows {
                    orgs.extend(o);
                    users.extend(u);
                }
            }
            orgs.sort_unstable();
            orgs.dedup();
            users.sort_unstable();
            users.dedup();
        }
        Ok(Impact {
            ci_id: start,
            direction: if dir == Direction::Up { "up" } else { "down" }.into(),
            depth,
            reached: reached.len(),
            truncated: walk.truncated(),
            services,
            nodes,
            organisation_ids: orgs,
            user_ids: users,
        })
    }
}

// ---------------------------------------------------------------- records and CIs

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
pub struct CiRecord {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub state: String,
    pub short_description: String,
    pub priority: i64,
}

/// A closed or cancelled record is history: what it affected is not
/// changed afterwards (as its other fields are not).
async fn refuse_closed_in(conn: &mut AnyConnection, record_id: i64) -> Result<(), StoreError> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT kind, state FROM records WHERE id = $1")
        .bind(record_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((kind, state)) = row else { return Ok(()) };
    // Each kind's life cycle says which of its states are final.
    let corrupt = |_| StoreError::corrupt(format!("record {record_id} is {kind} in state {state:?}"));
    let last = match RecordKind::parse(&kind) {
        Some(RecordKind::Incident) => {
            varde_domain::incident::State::parse("state", &state).map_err(corrupt)?.is_final()
        }
        Some(RecordKind::Problem) => varde_domain::problem::State::parse("state", &state).map_err(corrupt)?.is_final(),
        Some(RecordKind::Article) | None => false,
    };
    if last {
        return Err(DomainError::field("state", format!("a {state} record's affected CIs cannot be changed")).into());
    }
    Ok(())
}

impl Store {
    /// Marks a CI as affected by a record (an incident or a problem;
    /// changes later). Linking twice is a no-op.
    pub async fn link_record_ci(&self, record_id: i64, ci_id: i64, actor: i64) -> Result<bool, StoreError> {
        self.write(move |conn| {
            async move {
                // The record first, as every record write (`records::lock_in`):
                // two links of one CI at once would both find none and the
                // second insert would fail on the key (PostgreSQL).
                crate::records::lock_in(conn, record_id).await?;
                if !exists(conn, "cis", ci_id).await? {
                    return Err(StoreError::UnknownReference { field: "ci_id" });
                }
                refuse_closed_in(conn, record_id).await?;
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM record_cis WHERE record_id = $1 AND ci_id = $2")
                    .bind(record_id)
                    .bind(ci_id)
                    .fetch_one(&mut *conn)
                    .await?;
                if n > 0 {
                    return Ok(false);
                }
                let now = now_micros();
                sqlx::query(
                    "INSERT INTO record_cis (record_id, ci_id, created_by, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(record_id)
                .bind(ci_id)
                .bind(actor)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let number: String = sqlx::query_scalar("SELECT number FROM records WHERE id = $1")
                    .bind(record_id)
                    .fetch_one(&mut *conn)
                    .await?;
                let ctx = ChangeContext { actor: Some(actor), record_id: Some(record_id), import_id: None };
                log_change(conn, ci_id, now, ctx, "affected_by", None, Some(&number)).await?;
                crate::audit::write(
                    conn,
                    crate::audit::Entity::Record,
                    record_id,
                    Some(actor),
                    now,
                    "ci",
                    None,
                    Some(&ci_id.to_string()),
                )
                .await?;
                Ok(true)
            }
            .boxed()
        })
        .await
    }

    pub async fn unlink_record_ci(&self, record_id: i64, ci_id: i64, actor: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                refuse_closed_in(conn, record_id).await?;
                let n = sqlx::query("DELETE FROM record_cis WHERE record_id = $1 AND ci_id = $2")
                    .bind(record_id)
                    .bind(ci_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)?;
                let now = now_micros();
                // The CI's history shows the link ending as it showed it begin.
                let number: String = sqlx::query_scalar("SELECT number FROM records WHERE id = $1")
                    .bind(record_id)
                    .fetch_one(&mut *conn)
                    .await?;
                let ctx = ChangeContext { actor: Some(actor), record_id: Some(record_id), import_id: None };
                log_change(conn, ci_id, now, ctx, "affected_by", Some(&number), None).await?;
                crate::audit::write(
                    conn,
                    crate::audit::Entity::Record,
                    record_id,
                    Some(actor),
                    now,
                    "ci",
                    Some(&ci_id.to_string()),
                    None,
                )
                .await
            }
            .boxed()
        })
        .await
    }

    pub async fn cis_of_record(&self, record_id: i64) -> Result<Vec<Ci>, StoreError> {
        let rows: Vec<CiRow> = sqlx::query_as(&format!(
            "SELECT {CI_COLS} FROM cis WHERE id IN (SELECT ci_id FROM record_cis WHERE record_id = $1) ORDER BY id"
        ))
        .bind(record_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(CiRow::into_ci).collect()
    }

    /// Open records that name this CI as affected.
    pub async fn open_records_of_ci(&self, ci_id: i64) -> Result<Vec<CiRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.number, r.kind, r.state, r.short_description, r.priority FROM records r \
             JOIN record_cis rc ON rc.record_id = r.id WHERE rc.ci_id = $1 AND r.is_open = 1 ORDER BY r.priority, r.id",
        )
        .bind(ci_id)
        .fetch_all(self.pool())
        .await?)
    }
}

// ---------------------------------------------------------------- assets and people

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Checklist {
    pub id: i64,
    pub user_id: i64,
    pub created_by: i64,
    #[serde(serialize_with = "crate::rfc3339::instant")]
    #[schema(value_type = String)]
    pub created_at: i64,
    #[serde(serialize_with = "crate::rfc3339::optional")]
    #[schema(value_type = Option<String>)]
    pub closed_at: Option<i64>,
    pub items: Vec<ChecklistItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
pub struct ChecklistItem {
    pub id: i64,
    pub ci_id: i64,
    pub ci_name: String,
    #[serde(serialize_with = "crate::rfc3339::optional")]
    #[schema(value_type = Option<String>)]
    pub done_at: Option<i64>,
    pub done_by: Option<i64>,
    pub note: String,
}

/// One row of an asset report.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
pub struct AssetRow {
    pub id: i64,
    pub name: String,
    pub class_id: i64,
    pub status: String,
    pub used_by_id: Option<i64>,
    pub purchased_on: Option<String>,
    pub warranty_until: Option<String>,
    pub end_of_life: Option<String>,
}

const ACTIVE: &str = "status NOT IN ('retired', 'disposed')";

async fn checklist_in(conn: &mut AnyConnection, id: i64) -> Result<Checklist, StoreError> {
    let (user_id, created_by, created_at, closed_at): (i64, i64, i64, Option<i64>) =
        sqlx::query_as("SELECT user_id, created_by, created_at, closed_at FROM ci_checklists WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
    let items = sqlx::query_as(
        "SELECT i.id, i.ci_id, c.name AS ci_name, i.done_at, i.done_by, i.note FROM ci_checklist_items i \
         JOIN cis c ON c.id = i.ci_id WHERE i.checklist_id = $1 ORDER BY i.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Checklist { id, user_id, created_by, created_at, closed_at, items })
}

impl Store {
    /// What a person holds: active CIs they use.
    pub async fn assets_of(&self, user_id: i64) -> Result<Vec<Ci>, StoreError> {
        let rows: Vec<CiRow> =
            sqlx::query_as(&format!("SELECT {CI_COLS} FROM cis WHERE used_by_id = $1 AND {ACTIVE} ORDER BY id"))
                .bind(user_id)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(CiRow::into_ci).collect()
    }

    /// A leaver checklist: one item per asset the person holds now.
    pub async fn create_checklist(&self, user_id: i64, actor: i64) -> Result<Checklist, StoreError> {
        self.write(move |conn| {
            async move {
                if !exists(conn, "users", user_id).await? {
                    return Err(StoreError::NotFound);
                }
                // Two lists made at once for one person would both find none
                // open (PostgreSQL): the person's row is the place to queue.
                lock_row_in(conn, "users", user_id).await?;
                let open: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM ci_checklists WHERE user_id = $1 AND closed_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&mut *conn)
                        .await?;
                if open > 0 {
                    return Err(StoreError::InUse(
                        "this person has an open hand-back checklist already: work it or close it first".into(),
                    ));
                }
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO ci_checklists (user_id, created_by, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(user_id)
                .bind(actor)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO ci_checklist_items (checklist_id, ci_id) SELECT $1, id FROM cis WHERE used_by_id = $2 AND {ACTIVE} ORDER BY id"
                ))
                .bind(id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
                let list = checklist_in(conn, id).await?;
                if list.items.is_empty() {
                    // Nothing to hand back: the list is complete as made.
                    sqlx::query("UPDATE ci_checklists SET closed_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *conn).await?;
                    return checklist_in(conn, id).await;
                }
                Ok(list)
            }
            .boxed()
        })
        .await
    }

    pub async fn checklist(&self, id: i64) -> Result<Checklist, StoreError> {
        let mut conn = self.pool().acquire().await?;
        checklist_in(&mut conn, id).await
    }

    pub async fn checklists_of(&self, user_id: i64) -> Result<Vec<Checklist>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM ci_checklists WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::new();
        for id in ids {
            out.push(checklist_in(&mut conn, id).await?);
        }
        Ok(out)
    }

    /// Marks an item handed back; the list closes when every item is done.
    /// The asset is the leaver's no more: a CI still used by them is
    /// released (its user cleared, through the versioned path, so the
    /// history says who took it back and when). Its status is left to the
    /// asset manager: a returned laptop may go to stock, repair or disposal.
    pub async fn complete_checklist_item(
        &self,
        checklist_id: i64,
        item_id: i64,
        note: String,
        actor: i64,
    ) -> Result<Checklist, StoreError> {
        self.write(move |conn| {
            async move {
                // Items handed back at once each count the other as still
                // open (PostgreSQL), and the list would never close: one at
                // a time per list.
                lock_row_in(conn, "ci_checklists", checklist_id).await?;
                let now = now_micros();
                let n = sqlx::query(
                    "UPDATE ci_checklist_items SET done_at = $1, done_by = $2, note = $3 \
                     WHERE id = $4 AND checklist_id = $5 AND done_at IS NULL",
                )
                .bind(now)
                .bind(actor)
                .bind(&note)
                .bind(item_id)
                .bind(checklist_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if n == 0 {
                    // Handed back already (a second click, a retry): the list
                    // as it is; an item not on this list is not found.
                    let done: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM ci_checklist_items WHERE id = $1 AND checklist_id = $2",
                    )
                    .bind(item_id)
                    .bind(checklist_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    found(done as u64)?;
                    close_if_done_in(conn, checklist_id, now).await?;
                    return checklist_in(conn, checklist_id).await;
                }
                let (leaver, ci_id): (i64, i64) = sqlx::query_as(
                    "SELECT l.user_id, i.ci_id FROM ci_checklist_items i \
                     JOIN ci_checklists l ON l.id = i.checklist_id WHERE i.id = $1",
                )
                .bind(item_id)
                .fetch_one(&mut *conn)
                .await?;
                // The class lock before the CI's row, as every CI write takes
                // them (a class change holds the one and rewrites the other).
                // The CI may be edited meanwhile (PostgreSQL): locked before
                // it is read, the release below cannot meet a newer version.
                let classes = classes_in(conn).await?;
                lock_row_in(conn, "cis", ci_id).await?;
                let ci = ci_in(conn, ci_id).await?;
                let ctx = ChangeContext { actor: Some(actor), ..Default::default() };
                if ci.used_by_id == Some(leaver) {
                    let fields = CiFields { used_by_id: None, ..ci.fields() };
                    let p = prepare(conn, &classes, ci.id, fields, false).await?;
                    replace_ci(conn, &ci, p, ctx, now).await?;
                }
                // The CI's history tells where it went back, with the note.
                let said = match note.trim() {
                    "" => format!("checklist {checklist_id}"),
                    n => format!("checklist {checklist_id}: {n}"),
                };
                log_change(conn, ci.id, now, ctx, "handed_back", None, Some(&said)).await?;
                close_if_done_in(conn, checklist_id, now).await?;
                checklist_in(conn, checklist_id).await
            }
            .boxed()
        })
        .await
    }

    /// Active assets (of `class_ids`, if any) at or past end of life, or out
    /// of warranty, on `today` (YYYY-MM-DD), by that date and id, `limit` after `after` (the date
    /// and id of the last one of the page before).
    pub async fn assets_past(
        &self,
        class_ids: &[i64],
        today: &str,
        what: PastWhat,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> Result<Vec<AssetRow>, StoreError> {
        // A warranty covers its last day; end of life is reached on its day.
        let (col, op) = match what {
            PastWhat::EndOfLife => ("end_of_life", "<="),
            PastWhat::Warranty => ("warranty_until", "<"),
        };
        let mut q = Sql::new(&format!("SELECT {ASSET_COLUMNS} FROM cis WHERE {col} {op} "));
        q.bind(Arg::Text(today.into())).push(&format!(" AND {ACTIVE}"));
        if !class_ids.is_empty() {
            q.push(" AND class_id IN ").bind_list(class_ids.iter().map(|c| Arg::Int(*c)));
        }
        page_after(&mut q, col, after, limit);
        Ok(q.query_as().fetch_all(self.pool()).await?)
    }

    /// Active assets of the classes bought before `before` (YYYY-MM-DD), by
    /// purchase date and id, paged as [`Store::assets_past`].
    pub async fn assets_bought_before(
        &self,
        class_ids: &[i64],
        before: &str,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> Result<Vec<AssetRow>, StoreError> {
        let mut q = Sql::new(&format!("SELECT {ASSET_COLUMNS} FROM cis WHERE purchased_on < "));
        q.bind(Arg::Text(before.into())).push(&format!(" AND {ACTIVE}"));
        if !class_ids.is_empty() {
            q.push(" AND class_id IN ").bind_list(class_ids.iter().map(|c| Arg::Int(*c)));
        }
        page_after(&mut q, "purchased_on", after, limit);
        Ok(q.query_as().fetch_all(self.pool()).await?)
    }
}

const ASSET_COLUMNS: &str = "id, name, class_id, status, used_by_id, purchased_on, warranty_until, end_of_life";

/// Orders an asset report by the date column `col` and id, from after the
/// last row of the page before.
fn page_after(q: &mut Sql, col: &str, after: Option<(String, i64)>, limit: i64) {
    if let Some((date, id)) = after {
        q.push(&format!(" AND ({col} > ")).bind(Arg::Text(date.clone()));
        q.push(&format!(" OR ({col} = ")).bind(Arg::Text(date)).push(" AND id > ").bind(Arg::Int(id)).push("))");
    }
    q.push(&format!(" ORDER BY {col}, id LIMIT ")).bind(Arg::Int(limit));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastWhat {
    EndOfLife,
    Warranty,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::databases;

    /// New CIs written a few per statement, as an import of thousands is:
    /// every batch goes in, with the ids given back in input order, and each
    /// CI's attribute index and search words under its own id.
    #[tokio::test]
    async fn new_cis_go_in_batch_after_batch_under_the_ids_given_back() {
        for db in databases().await {
            let ids = db
                .store
                .write(|conn| {
                    async move {
                        let classes = classes_in(conn).await?;
                        let server = classes.by_name("Server").expect("a default class").id;
                        let mut news = Vec::new();
                        for i in 0..7 {
                            let mut attributes = Map::new();
                            attributes.insert("hostname".into(), Value::from(format!("node-{i}")));
                            attributes.insert("domain".into(), Value::from("corp"));
                            attributes.insert("os".into(), Value::from(if i % 2 == 0 { "Linux" } else { "BSD" }));
                            let fields = CiFields {
                                class_id: server,
                                name: format!("node-{i}"),
                                attributes,
                                ..Default::default()
                            };
                            news.push(prepare(conn, &classes, 0, fields, false).await?);
                        }
                        insert_new_cis(conn, news, 3, ChangeContext::default(), now_micros()).await
                    }
                    .boxed()
                })
                .await
                .unwrap();
            assert_eq!(ids.len(), 7, "{}", db.engine);
            for (i, id) in ids.iter().enumerate() {
                let ci = db.store.ci(*id).await.unwrap();
                assert_eq!(ci.name, format!("node-{i}"), "{}", db.engine);
                let f = CiFilter { terms: vec![i.to_string()], ..Default::default() };
                let found: Vec<i64> = db.store.list_cis(&f, None, 10).await.unwrap().iter().map(|c| c.id).collect();
                assert_eq!(found, [*id], "{}: its words", db.engine);
            }
            let f = CiFilter { attributes: vec![("os".into(), "bsd".into())], ..Default::default() };
            let bsd: Vec<i64> = db.store.list_cis(&f, None, 10).await.unwrap().iter().map(|c| c.id).collect();
            assert_eq!(bsd, [ids[1], ids[3], ids[5]], "{}: its attribute index", db.engine);
        }
    }
}
