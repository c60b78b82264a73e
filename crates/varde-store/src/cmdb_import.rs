//! Import and reconciliation of CIs and relations (the discovery feed).
//!
//! Each row is identified by its class's identification rule (serial
//! number, host name + domain, or the name), so a re-import updates the CI
//! it made before instead of duplicating it. Everything is checked before
//! anything is written, and the whole import is one write: a file with one
//! bad row writes nothing. New CIs go in with multi-row statements (the
//! shape `import.rs` uses for incidents); updates go through the ordinary
//! versioned path, so their history is the same as an edit's. An update
//! changes only what its row says: a feed that knows less than the CMDB
//! (a scanner knows host names, not owners or costs) keeps the rest.

use std::collections::{HashMap, HashSet};

use futures::FutureExt;
use serde::Serialize;
use sqlx::AnyConnection;
use varde_domain::cmdb::{CiStatus, RelationKind};
use varde_domain::DomainError;

use crate::cmdb::{
    classes_in, prepare, prepare_as, replace_rows_batch, ChangeContext, Ci, CiFields, CiRow, Prepared, CI_COLS,
};
use crate::sql::{engine_of, json_param, json_rows, JsonCol};
use crate::{now_micros, Store, StoreError};

/// New CIs per set of insert statements (each binds its rows as one JSON
/// parameter, so the count is bounded only to keep that text a few MB).
const ROWS_PER_STATEMENT: usize = 5_000;

/// Keys per reconciliation lookup (one JSON parameter each).
const LOOKUP_CHUNK: usize = 5_000;

/// Most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// One CI of an import, with where it came from in the file.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The CSV line or the 1-based position in the JSON list.
    pub line: usize,
    /// How relations in the same import name this row (default: its name).
    pub reference: String,
    pub fields: CiFields,
    /// The fields of [`OPTIONAL_FIELDS`] the file does not have (a CSV
    /// column or a JSON key it lacks). A CI the row updates keeps its values
    /// for them, as it keeps every attribute the row does not name: a
    /// discovery feed that knows a server's host name and OS must not wipe
    /// its owner, cost and serial number. A field or attribute the file has
    /// but leaves empty (or null) is cleared.
    pub omitted: Vec<&'static str>,
}

/// The fields besides class, name and status (which is kept when absent or
/// empty) that an import row may leave out, by column or key name.
pub const OPTIONAL_FIELDS: &[&str] = &[
    "owner_id",
    "used_by_id",
    "organisation_id",
    "location_id",
    "supplier_id",
    "cost",
    "purchased_on",
    "warranty_until",
    "end_of_life",
];

/// A relation between two rows of the import (by reference) or CIs that
/// exist (`#123`).
#[derive(Debug, Clone)]
pub struct ImportRelation {
    pub line: usize,
    pub from: String,
    pub to: String,
    pub kind: RelationKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportProblem {
    /// `line 3` for CSV, `cis[3]` or `relations[2]` for JSON.
    pub at: String,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    pub at: String,
    /// create, update or unchanged.
    pub action: String,
    /// The CI's id; absent for a create in a dry run.
    pub id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// The recorded import; absent for a dry run or a refused import.
    pub import_id: Option<i64>,
    pub dry_run: bool,
    pub source: String,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub relations_created: usize,
    pub relations_unchanged: usize,
    /// Conflicts and bad rows; when not empty nothing was written.
    pub problems: Vec<ImportProblem>,
    /// Per-row outcomes, at most the first 1,000.
    pub rows: Vec<ImportOutcome>,
}

#[derive(Clone)]
pub struct ImportRequest {
    pub source: String,
    pub format: String,
    pub actor: i64,
    pub dry_run: bool,
    /// How each row is named in problems: "line" or "cis".
    pub row_label: fn(usize) -> String,
    pub rows: Vec<ImportRow>,
    pub relations: Vec<ImportRelation>,
}

enum Plan {
    Create(Prepared),
    Update(Box<Ci>, Prepared),
    Unchanged(Ci),
}

impl Store {
    pub async fn import_cis(&self, req: ImportRequest) -> Result<ImportReport, StoreError> {
        if req.rows.len() > MAX_IMPORT_ROWS {
            return Err(DomainError::field("body", format!("at most {MAX_IMPORT_ROWS} CIs per import")).into());
        }
        // On PostgreSQL imports run side by side. The later of two imports
        // of the same new CIs (or relations) waits for the earlier one and
        // then finds those identities (or current relations) taken; of two
        // that update the same CIs, the later finds them at a newer version
        // (a conflict), or the two deadlock and one is stopped (busy). Run
        // again, it finds the CIs and updates them or leaves them be, as it
        // would have had it started later. SQLite's one writer runs imports
        // one after the other.
        if self.engine() == crate::Engine::Sqlite {
            return self.write(move |conn| async move { import_in(conn, req).await }.boxed()).await;
        }
        let mut tries = 0;
        loop {
            let this = req.clone();
            match self.write(move |conn| async move { import_in(conn, this).await }.boxed()).await {
                Err(
                    StoreError::Duplicate { field: "identity" | "relation" }
                    | StoreError::Conflict { .. }
                    | StoreError::Busy(_),
                ) if tries < 3 => tries += 1,
                done => return done,
            }
        }
    }
}

async fn import_in(conn: &mut AnyConnection, req: ImportRequest) -> Result<ImportReport, StoreError> {
    let label = req.row_label;
    let mut report = ImportReport {
        import_id: None,
        dry_run: req.dry_run,
        source: req.source.clone(),
        created: 0,
        updated: 0,
        unchanged: 0,
        relations_created: 0,
        relations_unchanged: 0,
        problems: Vec::new(),
        rows: Vec::new(),
    };
    let problem = |report: &mut ImportReport, at: String, field: &str, message: String| {
        report.problems.push(ImportProblem { at, field: field.into(), message });
    };
    let classes = classes_in(conn).await?;
    // The unique attributes of every class the file names, held before
    // anything is read: an import that waits here for another one then
    // finds that one's CIs by identity, as it would had it started later,
    // instead of meeting their values as conflicts (`hold_unique_values_in`).
    let mut row_classes: Vec<i64> = req.rows.iter().map(|r| r.fields.class_id).collect();
    row_classes.sort_unstable();
    row_classes.dedup();
    let unique: Vec<(i64, &str)> = row_classes
        .iter()
        .flat_map(|c| classes.schema(*c).attributes.iter())
        .filter(|(_, def)| def.unique)
        .map(|(defined_by, def)| (*defined_by, def.name.as_str()))
        .collect();
    // A dry run writes nothing and need not hold back other writers.
    if !req.dry_run {
        crate::cmdb::hold_unique_values_in(conn, unique).await?;
    }

    // 1. Each row on its own: schema, dates, identification key.
    // Every row's reference, kept or not: a relation may name a row that
    // has problems of its own, and should say so rather than "unknown".
    let given_refs: HashSet<String> = req.rows.iter().map(|r| r.reference.clone()).collect();
    let mut prepared: Vec<(usize, String, Prepared, Unnamed)> = Vec::with_capacity(req.rows.len());
    let mut seen_identity: HashMap<String, usize> = HashMap::new();
    let mut seen_ref: HashMap<String, usize> = HashMap::new();
    for row in req.rows {
        let at = label(row.line);
        // Checking drops null attributes; an update must know they were named.
        let unnamed = Unnamed {
            fields: row.omitted,
            // Null or blank text: either clears (`ClassSchema::validate_as`).
            cleared: row
                .fields
                .attributes
                .iter()
                .filter(|(_, v)| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        // Required attributes are checked once the row is known to be new,
        // or has what it leaves out taken from the CI it updates (step 4).
        match prepare_as(conn, &classes, 0, row.fields, false, false).await {
            Ok(p) => {
                // A row without what identifies its class may still update
                // a CI that lacks it too, found by name (step 2b): an export
                // of CIs made by hand reads back. It can make none.
                if let Some(first) = p.identity.clone().and_then(|i| seen_identity.insert(i, row.line)) {
                    problem(
                        &mut report,
                        at,
                        "identity",
                        format!("the same CI as {} (duplicate identifier in the file)", label(first)),
                    );
                    continue;
                }
                if let Some(first) = seen_ref.insert(row.reference.clone(), row.line) {
                    problem(&mut report, at, "ref", format!("{} is used by {} already", row.reference, label(first)));
                    continue;
                }
                prepared.push((row.line, row.reference, p, unnamed));
            }
            Err(StoreError::Domain(DomainError::Invalid(errs))) => {
                for e in errs {
                    problem(&mut report, at.clone(), &e.field, e.message);
                }
            }
            Err(e) => return Err(e),
        }
    }

    // 2. Reconcile: which rows name CIs that exist, in batches. On
    // PostgreSQL the CIs found are locked as they are read, in id order:
    // an edit of one of them meanwhile would otherwise make the import's
    // update fail on a newer version, or the two deadlock. A dry run locks
    // nothing.
    let lock = if engine_of(conn) == crate::Engine::Postgres && !req.dry_run { " FOR NO KEY UPDATE" } else { "" };
    let mut existing: HashMap<String, Ci> = HashMap::new();
    let identities: Vec<String> = prepared.iter().filter_map(|(_, _, p, _)| p.identity.clone()).collect();
    let engine = engine_of(conn);
    for chunk in identities.chunks(LOOKUP_CHUNK) {
        let keys: Vec<(&str,)> = chunk.iter().map(|i| (i.as_str(),)).collect();
        let v = json_rows(engine, 1, &[("key", JsonCol::Text)]);
        let fetched: Vec<CiRowWithIdentity> = sqlx::query_as(&format!(
            "SELECT {CI_COLS}, identity FROM cis WHERE identity IN (SELECT key FROM {v} AS v) ORDER BY id{lock}"
        ))
        .bind(json_param(&keys))
        .fetch_all(&mut *conn)
        .await?;
        for r in fetched {
            let identity = r.identity.clone();
            existing.insert(identity, r.row.into_ci()?);
        }
    }

    // 2b. A CI made by hand before its identifying attributes were known
    // has no identity. A row that finds no CI by identity takes the one CI
    // of its class with its name and no identity, which so gets its
    // identity, rather than make a second. Two such CIs: the row cannot
    // tell which, and says so. A row without an identity of its own finds
    // its CI the same way, by line (`by_line`).
    let mut ambiguous: HashSet<usize> = HashSet::new();
    let mut by_line: HashMap<usize, Ci> = HashMap::new();
    let any_unidentified: Option<i64> =
        sqlx::query_scalar("SELECT id FROM cis WHERE identity IS NULL LIMIT 1").fetch_optional(&mut *conn).await?;
    if any_unidentified.is_some() {
        let unmatched = |p: &Prepared| p.identity.as_ref().is_none_or(|i| !existing.contains_key(i));
        let mut classes_wanted: Vec<(i64,)> =
            prepared.iter().filter(|(_, _, p, _)| unmatched(p)).map(|(_, _, p, _)| (p.fields.class_id,)).collect();
        classes_wanted.sort_unstable();
        classes_wanted.dedup();
        // By name as a name identity matches (`cmdb::identity_of`): without
        // regard to case or surrounding space. Compared here rather than in
        // SQL, where SQLite's LOWER knows only ASCII; the unidentified CIs of
        // a class are few (the partial index holds only them).
        let by_name = |class_id: i64, name: &str| (class_id, name.trim().to_lowercase());
        let wanted: HashSet<(i64, String)> = prepared
            .iter()
            .filter(|(_, _, p, _)| unmatched(p))
            .map(|(_, _, p, _)| by_name(p.fields.class_id, &p.fields.name))
            .collect();
        // Names first, whole CIs only for those a row names.
        let mut candidates: Vec<(i64,)> = Vec::new();
        for chunk in classes_wanted.chunks(LOOKUP_CHUNK) {
            let v = json_rows(engine, 1, &[("class_id", JsonCol::Int)]);
            let names: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
                "SELECT id, class_id, name FROM cis WHERE identity IS NULL AND status <> 'disposed'
                 AND class_id IN (SELECT class_id FROM {v} AS v)"
            ))
            .bind(json_param(chunk))
            .fetch_all(&mut *conn)
            .await?;
            candidates.extend(names.iter().filter(|(_, c, n)| wanted.contains(&by_name(*c, n))).map(|(id, ..)| (*id,)));
        }
        let mut named: HashMap<(i64, String), Vec<Ci>> = HashMap::new();
        for chunk in candidates.chunks(LOOKUP_CHUNK) {
            let v = json_rows(engine, 1, &[("id", JsonCol::Int)]);
            let fetched: Vec<CiRow> = sqlx::query_as(&format!(
                "SELECT {CI_COLS} FROM cis WHERE id IN (SELECT id FROM {v} AS v) ORDER BY id{lock}"
            ))
            .bind(json_param(chunk))
            .fetch_all(&mut *conn)
            .await?;
            for r in fetched {
                let ci = r.into_ci()?;
                named.entry(by_name(ci.class_id, &ci.name)).or_default().push(ci);
            }
        }
        let mut taken: HashSet<i64> = HashSet::new();
        for (line, _, p, _) in &prepared {
            if p.identity.as_ref().is_some_and(|i| existing.contains_key(i)) {
                continue;
            }
            let Some(found) = named.get(&by_name(p.fields.class_id, &p.fields.name)) else { continue };
            match found.as_slice() {
                [ci] if taken.insert(ci.id) => match &p.identity {
                    Some(identity) => {
                        existing.insert(identity.clone(), ci.clone());
                    }
                    None => {
                        by_line.insert(*line, ci.clone());
                    }
                },
                // Taken by an earlier row of the file: this one is another.
                [_] => {}
                many => {
                    let ids: Vec<String> = many.iter().map(|c| format!("CI {}", c.id)).collect();
                    let rule = classes.get(p.fields.class_id).map(|c| c.identify_by.join(" + ")).unwrap_or_default();
                    problem(
                        &mut report,
                        label(*line),
                        "name",
                        format!(
                            "conflict: {} of this class are named {} and have no {rule}; give them theirs first",
                            ids.join(" and "),
                            p.fields.name
                        ),
                    );
                    ambiguous.insert(*line);
                }
            }
        }
    }

    // 3. References to people, organisations and CIs, checked in batches.
    let mut want: HashMap<&'static str, HashSet<i64>> = HashMap::new();
    for (_, _, p, _) in &prepared {
        let f = &p.fields;
        want.entry("users").or_default().extend(f.owner_id.iter().chain(f.used_by_id.iter()));
        want.entry("cis").or_default().extend(f.location_id.iter().chain(f.supplier_id.iter()));
        want.entry("organisations").or_default().extend(f.organisation_id.iter());
        for (name, c) in &p.checked {
            let def = classes.schema(f.class_id);
            match def.get(name).map(|d| d.kind) {
                Some(varde_domain::cmdb::AttrKind::CiRef) => want.entry("cis").or_default().extend(c.value.as_i64()),
                Some(varde_domain::cmdb::AttrKind::UserRef) => {
                    want.entry("users").or_default().extend(c.value.as_i64())
                }
                _ => {}
            }
        }
    }
    let mut known: HashMap<&'static str, HashSet<i64>> = HashMap::new();
    for (table, ids) in &want {
        let ids: Vec<i64> = ids.iter().copied().collect();
        known.insert(table, existing_ids(conn, table, &ids).await?);
    }
    let has = |table: &str, id: i64| known.get(table).is_some_and(|s| s.contains(&id));
    let places: Vec<i64> =
        prepared.iter().flat_map(|(_, _, p, _)| p.fields.location_id.into_iter().chain(p.fields.supplier_id)).collect();
    let place_class = crate::cmdb::ci_classes_in(conn, &places).await?;

    // 4. Unique attributes: against the database and within the file.
    let mut unique_keys: HashMap<(i64, String, String), (usize, Option<i64>)> = HashMap::new();
    let mut plans: Vec<(usize, String, Plan)> = Vec::with_capacity(prepared.len());
    for (line, reference, p, unnamed) in prepared {
        if ambiguous.contains(&line) {
            continue;
        }
        let at = label(line);
        let f = &p.fields;
        let mut bad = false;
        for (field, table, id) in [
            ("owner_id", "users", f.owner_id),
            ("used_by_id", "users", f.used_by_id),
            ("location_id", "cis", f.location_id),
            ("supplier_id", "cis", f.supplier_id),
            ("organisation_id", "organisations", f.organisation_id),
        ] {
            if let Some(id) = id {
                if !has(table, id) {
                    problem(&mut report, at.clone(), field, "refers to nothing that exists".into());
                    bad = true;
                }
            }
        }
        let schema = classes.schema(f.class_id);
        for (name, c) in &p.checked {
            let kind = schema.get(name).map(|d| d.kind);
            let missing = match kind {
                Some(varde_domain::cmdb::AttrKind::CiRef) => !has("cis", c.value.as_i64().unwrap_or(0)),
                Some(varde_domain::cmdb::AttrKind::UserRef) => !has("users", c.value.as_i64().unwrap_or(0)),
                _ => false,
            };
            if missing {
                problem(&mut report, at.clone(), &format!("attributes.{name}"), "refers to nothing that exists".into());
                bad = true;
            }
        }
        let current = match &p.identity {
            Some(i) => existing.remove(i),
            None => by_line.remove(&line),
        };
        if current.is_none() && p.identity.is_none() {
            let rule = classes.get(f.class_id).map(|c| c.identify_by.join(" + ")).unwrap_or_default();
            problem(&mut report, at, "attributes", format!("{rule} identifies CIs of this class and is missing"));
            continue;
        }
        // What the row does not say about a CI it updates stays as it is;
        // the whole is checked again, as an edit would be.
        let p = match current.as_ref().and_then(|ci| Some((ci, unnamed.kept(ci, &p.fields)?))) {
            None => p,
            Some((ci, fields)) => match prepare(conn, &classes, ci.id, fields, false).await {
                Ok(p) => p,
                Err(StoreError::Domain(DomainError::Invalid(errs))) => {
                    for e in errs {
                        problem(&mut report, at.clone(), &e.field, e.message);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let mut missing = schema.missing(&p.checked);
        let own = current.as_ref().map_or(0, |c| c.id);
        let before = current.as_ref().map_or((None, None), |c| (c.location_id, c.supplier_id));
        missing.extend(crate::cmdb::place_errors(&classes, own, &p.fields, before, |ci| place_class.get(&ci).copied()));
        if !missing.is_empty() {
            for e in missing {
                problem(&mut report, at.clone(), &e.field, e.message);
            }
            continue;
        }
        // Unique within the class that defines the attribute and its
        // subclasses, as an edit checks (`cmdb::prepare`): two unrelated
        // classes may both have a `serial` and share a value.
        for (defined_by, def) in &schema.attributes {
            if !def.unique {
                continue;
            }
            let Some(key) = p.checked.get(&def.name).and_then(|c| c.key.clone()) else { continue };
            if let Some((other, _)) =
                unique_keys.insert((*defined_by, def.name.clone(), key), (line, current.as_ref().map(|c| c.id)))
            {
                problem(
                    &mut report,
                    at.clone(),
                    &format!("attributes.{}", def.name),
                    format!("has the same value as {}", label(other)),
                );
                bad = true;
            }
        }
        if bad {
            continue;
        }
        let plan = match current {
            None => Plan::Create(p),
            Some(ci) => {
                let mut p = p;
                if p.fields.status.is_none() {
                    // A row without a status keeps the CI's.
                    p.status = ci.status;
                }
                if p.fields.status.is_some() && p.status != ci.status && !ci.status.can_become(p.status) {
                    problem(
                        &mut report,
                        at.clone(),
                        "status",
                        format!(
                            "conflict: CI {} is {} and cannot become {}",
                            ci.id,
                            ci.status.as_str(),
                            p.status.as_str()
                        ),
                    );
                    continue;
                }
                if same(&ci, &p) {
                    Plan::Unchanged(ci)
                } else {
                    Plan::Update(Box::new(ci), p)
                }
            }
        };
        plans.push((line, reference, plan));
    }
    // Unique values already held by other CIs, in one query per attribute.
    // (defining class, attribute) -> (value, line, the CI the row updates).
    type Uses = Vec<(String, usize, Option<i64>)>;
    let mut by_attr: HashMap<(i64, String), Uses> = HashMap::new();
    for ((defined_by, name, key), (line, own)) in unique_keys {
        by_attr.entry((defined_by, name)).or_default().push((key, line, own));
    }
    for ((defined_by, name), keys) in by_attr {
        // Class ids are numbers the store made: safe to write into the text.
        let scope = classes.subtree(defined_by).iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let values: Vec<(&str,)> = chunk.iter().map(|(k, _, _)| (k.as_str(),)).collect();
            let v = json_rows(engine, 2, &[("key", JsonCol::Text)]);
            let held: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT a.value, a.ci_id FROM ci_attr_values a JOIN cis c ON c.id = a.ci_id \
                 WHERE a.name = $1 AND c.class_id IN ({scope}) AND a.value IN (SELECT key FROM {v} AS v)"
            ))
            .bind(&name)
            .bind(json_param(&values))
            .fetch_all(&mut *conn)
            .await?;
            let by_value: HashMap<&str, (usize, Option<i64>)> =
                chunk.iter().map(|(k, line, own)| (k.as_str(), (*line, *own))).collect();
            for (value, ci_id) in held {
                if let Some((line, own)) = by_value.get(value.as_str()) {
                    if *own != Some(ci_id) {
                        problem(
                            &mut report,
                            label(*line),
                            &format!("attributes.{name}"),
                            format!("conflict: already used by CI {ci_id}"),
                        );
                    }
                }
            }
        }
    }

    // 5. Relations: both ends known, no duplicates in the file.
    let refs: HashMap<&str, usize> = plans.iter().enumerate().map(|(i, (_, r, _))| (r.as_str(), i)).collect();
    enum End {
        Row(usize),
        Ci(i64),
    }
    let mut rels: Vec<(usize, End, End, RelationKind)> = Vec::new();
    let mut rel_seen = HashSet::new();
    let mut extern_ids: HashSet<i64> = HashSet::new();
    for r in &req.relations {
        let at = format!("relations[{}]", r.line);
        let mut end = |s: &str, field: &str, report: &mut ImportReport| -> Option<End> {
            if let Some(id) = s.strip_prefix('#').and_then(|n| n.parse::<i64>().ok()) {
                extern_ids.insert(id);
                return Some(End::Ci(id));
            }
            match refs.get(s) {
                Some(i) => Some(End::Row(*i)),
                None => {
                    let message = if given_refs.contains(s) {
                        format!("{s} is a CI of this import with problems of its own (see its row)")
                    } else {
                        format!("{s} is neither a CI of this import nor #id")
                    };
                    report.problems.push(ImportProblem { at: at.clone(), field: field.into(), message });
                    None
                }
            }
        };
        let (Some(a), Some(b)) = (end(&r.from, "from", &mut report), end(&r.to, "to", &mut report)) else { continue };
        if !rel_seen.insert((r.from.clone(), r.to.clone(), r.kind)) {
            problem(&mut report, at, "to", "the same relation twice in the file".into());
            continue;
        }
        if r.from == r.to {
            problem(&mut report, at, "to", "a CI cannot be related to itself".into());
            continue;
        }
        rels.push((r.line, a, b, r.kind));
    }
    let ids: Vec<i64> = extern_ids.into_iter().collect();
    let found_ext = existing_ids(conn, "cis", &ids).await?;
    // A disposed CI is gone and takes no new relations (`cmdb::add_relation_in`).
    let mut disposed: HashSet<i64> = HashSet::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let keys: Vec<(i64,)> = chunk.iter().map(|i| (*i,)).collect();
        let v = json_rows(engine, 1, &[("id", JsonCol::Int)]);
        let gone: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM cis WHERE status = 'disposed' AND id IN (SELECT id FROM {v} AS v)"
        ))
        .bind(json_param(&keys))
        .fetch_all(&mut *conn)
        .await?;
        disposed.extend(gone);
    }
    // The CI an end stands for, if it exists already.
    let stored = |e: &End| match e {
        End::Ci(id) => Some(*id),
        End::Row(i) => match &plans[*i].2 {
            Plan::Create(_) => None,
            Plan::Update(ci, _) => Some(ci.id),
            Plan::Unchanged(ci) => Some(ci.id),
        },
    };
    // What a row of the file makes of a CI it updates counts over what the
    // database says now: a relation to #42 in a file that disposes CI 42 is
    // a relation to a disposed CI.
    let planned: HashMap<i64, CiStatus> = plans
        .iter()
        .filter_map(|(_, _, plan)| match plan {
            Plan::Update(ci, p) => Some((ci.id, p.status)),
            Plan::Unchanged(ci) => Some((ci.id, ci.status)),
            Plan::Create(_) => None,
        })
        .collect();
    for (line, a, b, kind) in &rels {
        for (end, field) in [(a, "from"), (b, "to")] {
            let gone = match end {
                End::Ci(id) if !found_ext.contains(id) => {
                    problem(&mut report, format!("relations[{line}]"), field, format!("CI {id} does not exist"));
                    continue;
                }
                End::Ci(id) => planned.get(id).map_or(disposed.contains(id), |s| *s == CiStatus::Disposed),
                End::Row(i) => match &plans[*i].2 {
                    Plan::Create(p) | Plan::Update(_, p) => p.status == CiStatus::Disposed,
                    Plan::Unchanged(ci) => ci.status == CiStatus::Disposed,
                },
            };
            // A relation it had before it was disposed may be named again
            // (a feed that lists what it always listed); a new one may not.
            let current = match (gone, stored(a), stored(b)) {
                (true, Some(from), Some(to)) => crate::cmdb::relation_is_current(conn, from, to, *kind).await?,
                _ => false,
            };
            if gone && !current {
                problem(
                    &mut report,
                    format!("relations[{line}]"),
                    field,
                    "is disposed and can have no new relations".into(),
                );
            }
        }
    }

    // A row with a problem is neither made nor changed: the counts are of
    // the rows that would go in.
    let refused: HashSet<String> = report.problems.iter().map(|p| p.at.clone()).collect();
    for (line, _, plan) in &plans {
        if refused.contains(&label(*line)) {
            continue;
        }
        let (action, id) = match plan {
            Plan::Create(_) => {
                report.created += 1;
                ("create", None)
            }
            Plan::Update(ci, _) => {
                report.updated += 1;
                ("update", Some(ci.id))
            }
            Plan::Unchanged(ci) => {
                report.unchanged += 1;
                ("unchanged", Some(ci.id))
            }
        };
        if report.rows.len() < 1000 {
            report.rows.push(ImportOutcome { at: label(*line), action: action.into(), id });
        }
    }
    report.problems.sort_by(|a, b| a.at.cmp(&b.at));
    if !report.problems.is_empty() || req.dry_run {
        if report.problems.is_empty() {
            // What the write below would find: a relation between CIs that
            // exist may be current already, and two ends that are one CI
            // are no relation.
            let mut seen = HashSet::new();
            let mut between_stored = Vec::new();
            for (_, a, b, kind) in &rels {
                match (stored(a), stored(b)) {
                    (Some(from), Some(to)) if from == to || !seen.insert((from, to, *kind)) => {}
                    (Some(from), Some(to)) => between_stored.push((from, to, *kind)),
                    _ => report.relations_created += 1,
                }
            }
            let current = crate::cmdb::current_relations(conn, &between_stored).await?;
            report.relations_unchanged += current.len();
            report.relations_created += between_stored.len() - current.len();
        }
        // Nothing was written: the caller answers with the problems.
        return Ok(report);
    }

    // 6. Write: the import record, new CIs in batches, updates, relations.
    let now = now_micros();
    let import_id: i64 = sqlx::query_scalar(
        "INSERT INTO ci_imports (source, format, actor_id, created, updated, unchanged, relations, at) \
         VALUES ($1, $2, $3, 0, 0, 0, 0, $4) RETURNING id",
    )
    .bind(&req.source)
    .bind(&req.format)
    .bind(req.actor)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    report.import_id = Some(import_id);
    let ctx = ChangeContext { actor: Some(req.actor), record_id: None, import_id: Some(import_id) };
    let mut ids: Vec<i64> = vec![0; plans.len()];
    let mut creates: Vec<(usize, Prepared)> = Vec::new();
    let mut updates: Vec<(Box<Ci>, Prepared)> = Vec::new();
    for (i, (_, _, plan)) in plans.into_iter().enumerate() {
        match plan {
            Plan::Create(p) => creates.push((i, p)),
            Plan::Update(ci, p) => {
                ids[i] = ci.id;
                updates.push((ci, p));
            }
            Plan::Unchanged(ci) => ids[i] = ci.id,
        }
    }
    let (old_cis, mut preps): (Vec<Box<Ci>>, Vec<Prepared>) = updates.into_iter().unzip();
    for chunk in old_cis.chunks(ROWS_PER_STATEMENT) {
        let batch: Vec<(&Ci, Prepared)> = chunk.iter().map(AsRef::as_ref).zip(preps.drain(..chunk.len())).collect();
        replace_rows_batch(conn, batch, ctx, now).await?;
    }
    let (at, news): (Vec<usize>, Vec<Prepared>) = creates.into_iter().unzip();
    let made = crate::cmdb::insert_new_cis(conn, news, ROWS_PER_STATEMENT, ctx, now).await?;
    for (i, id) in at.into_iter().zip(made) {
        ids[i] = id;
    }
    let mut pairs: Vec<(i64, i64, RelationKind)> = rels
        .iter()
        .map(|(_, a, b, k)| {
            let id = |e: &End| match e {
                End::Row(i) => ids[*i],
                End::Ci(id) => *id,
            };
            (id(a), id(b), *k)
        })
        .collect();
    pairs.sort_unstable_by_key(|(a, b, k)| (*a, *b, k.as_str()));
    pairs.dedup();
    pairs.retain(|(from, to, _)| from != to);
    // Current already: unchanged, also where an end has since been disposed
    // (which takes no new relation, step 5). Asked once for all.
    // A relation made by another writer since fails the set as a duplicate:
    // the import runs again and finds it current (`Store::import_cis`).
    let current = crate::cmdb::current_relations(conn, &pairs).await?;
    let (kept, new): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|p| current.contains(p));
    crate::cmdb::add_relations_in(conn, &new, ctx, now).await?;
    report.relations_unchanged += kept.len();
    report.relations_created += new.len();
    sqlx::query("UPDATE ci_imports SET created = $1, updated = $2, unchanged = $3, relations = $4 WHERE id = $5")
        .bind(report.created as i64)
        .bind(report.updated as i64)
        .bind(report.unchanged as i64)
        .bind(report.relations_created as i64)
        .bind(import_id)
        .execute(&mut *conn)
        .await?;
    for (o, id) in report.rows.iter_mut().zip(&ids) {
        o.id = Some(*id);
    }
    Ok(report)
}

/// Which of `ids` exist in `table` (one of our own table names).
async fn existing_ids(conn: &mut AnyConnection, table: &str, ids: &[i64]) -> Result<HashSet<i64>, StoreError> {
    let engine = engine_of(conn);
    let mut found = HashSet::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let keys: Vec<(i64,)> = chunk.iter().map(|i| (*i,)).collect();
        let v = json_rows(engine, 1, &[("id", JsonCol::Int)]);
        let rows: Vec<(i64,)> =
            sqlx::query_as(&format!("SELECT id FROM {table} WHERE id IN (SELECT id FROM {v} AS v)"))
                .bind(json_param(&keys))
                .fetch_all(&mut *conn)
                .await?;
        found.extend(rows.into_iter().map(|(i,)| i));
    }
    Ok(found)
}

/// Whether importing `p` over `ci` would change nothing. What the row left
/// out is already taken from `ci` (`Unnamed::kept`), but for status, where
/// absent means "keep" too.
fn same(ci: &Ci, p: &Prepared) -> bool {
    let f = &p.fields;
    ci.name == f.name
        && (f.status.is_none() || ci.status == p.status)
        && ci.owner_id == f.owner_id
        && ci.location_id == f.location_id
        && ci.supplier_id == f.supplier_id
        && ci.cost == f.cost
        && ci.purchased_on == f.purchased_on
        && ci.warranty_until == f.warranty_until
        && ci.end_of_life == f.end_of_life
        && ci.used_by_id == f.used_by_id
        && ci.organisation_id == f.organisation_id
        && ci.attributes == f.attributes
}

/// What an import row leaves unsaid (see [`ImportRow::omitted`]).
struct Unnamed {
    fields: Vec<&'static str>,
    /// Attributes the row names without a value: cleared, not kept.
    cleared: Vec<String>,
}

impl Unnamed {
    /// `given` completed with what `ci` has and the row leaves out, or
    /// `None` when it leaves out nothing `ci` has.
    fn kept(&self, ci: &Ci, given: &CiFields) -> Option<CiFields> {
        let mut out: Option<CiFields> = None;
        for name in &self.fields {
            keep_field(&mut out, given, ci, name);
        }
        for (name, value) in &ci.attributes {
            if !given.attributes.contains_key(name) && !self.cleared.contains(name) {
                out.get_or_insert_with(|| given.clone()).attributes.insert(name.clone(), value.clone());
            }
        }
        out
    }
}

/// Puts `ci`'s value of the optional field `name` (one of
/// [`OPTIONAL_FIELDS`]) into `out`, made from `given` at first need, when
/// `ci` has one.
fn keep_field(out: &mut Option<CiFields>, given: &CiFields, ci: &Ci, name: &str) {
    fn put<T: Clone>(
        out: &mut Option<CiFields>,
        given: &CiFields,
        held: &Option<T>,
        slot: fn(&mut CiFields) -> &mut Option<T>,
    ) {
        if held.is_some() {
            *slot(out.get_or_insert_with(|| given.clone())) = held.clone();
        }
    }
    match name {
        "owner_id" => put(out, given, &ci.owner_id, |f| &mut f.owner_id),
        "used_by_id" => put(out, given, &ci.used_by_id, |f| &mut f.used_by_id),
        "organisation_id" => put(out, given, &ci.organisation_id, |f| &mut f.organisation_id),
        "location_id" => put(out, given, &ci.location_id, |f| &mut f.location_id),
        "supplier_id" => put(out, given, &ci.supplier_id, |f| &mut f.supplier_id),
        "cost" => put(out, given, &ci.cost, |f| &mut f.cost),
        "purchased_on" => put(out, given, &ci.purchased_on, |f| &mut f.purchased_on),
        "warranty_until" => put(out, given, &ci.warranty_until, |f| &mut f.warranty_until),
        "end_of_life" => put(out, given, &ci.end_of_life, |f| &mut f.end_of_life),
        _ => {}
    }
}

#[derive(sqlx::FromRow)]
struct CiRowWithIdentity {
    #[sqlx(flatten)]
    row: CiRow,
    identity: String,
}
