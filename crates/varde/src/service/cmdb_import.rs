//! Reading CI imports: CSV and JSON files become rows for the store's
//! reconciliation. Every way a file can be wrong is reported with its line
//! (CSV) or position (JSON) and a reason; the store then checks the rows
//! against the classes and the database, and writes all or nothing.

use serde::Deserialize;
use serde_json::{Map, Value};
use varde_domain::access::Permission;
use varde_domain::cmdb::{AttrKind, CiStatus, RelationKind};
use varde_domain::FieldError;
use varde_store::cmdb::{CiFields, Classes};
use varde_store::cmdb_import::{
    ImportRelation, ImportReport, ImportRequest, ImportRow, MAX_IMPORT_ROWS, OPTIONAL_FIELDS,
};
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

/// Columns a CSV import understands besides [`OPTIONAL_FIELDS`] and
/// `attr.<name>`. `id`, which the export writes first, is read and left
/// alone: a row finds its CI by its class's identification rule.
const COLUMNS: &[&str] = &["id", "class", "name", "ref", "status"];

fn line_label(n: usize) -> String {
    format!("line {n}")
}
fn item_label(n: usize) -> String {
    format!("cis[{n}]")
}

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF)
/// into records with the line each starts on.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, FieldError> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    out.push((start, std::mem::take(&mut record)));
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(FieldError::new(line_label(start), "a quoted field is not closed"));
    }
    if any || !field.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    Ok(out)
}

/// The line on which the first byte that is not UTF-8 sits.
fn bad_utf8_line(bytes: &[u8]) -> Option<usize> {
    let e = std::str::from_utf8(bytes).err()?;
    Some(bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1)
}

/// An attribute value from CSV text (or a form field), typed by the class's
/// definition so that numbers and references arrive as JSON numbers. Text
/// a JSON attribute cannot read is its text, as an export writes a JSON
/// string, unless it opens an object or array: `{"a": 1` is a typing
/// mistake to point out, not a string to keep.
pub fn typed(kind: Option<AttrKind>, s: &str) -> Result<Value, &'static str> {
    let v = match kind {
        Some(AttrKind::Number) => s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number),
        Some(AttrKind::CiRef | AttrKind::UserRef) => s.parse::<i64>().ok().map(Value::from),
        Some(AttrKind::Json) => match serde_json::from_str(s) {
            Ok(v) => Some(v),
            Err(_) if s.starts_with(['{', '[']) => return Err("is not valid JSON"),
            Err(_) => None,
        },
        _ => None,
    };
    Ok(v.unwrap_or_else(|| Value::String(s.to_string())))
}

fn csv_rows(classes: &Classes, bytes: &[u8]) -> Result<Vec<ImportRow>, AppError> {
    if let Some(line) = bad_utf8_line(bytes) {
        return Err(AppError::Invalid(vec![FieldError::new(line_label(line), "is not UTF-8 text (wrong encoding)")]));
    }
    let text = std::str::from_utf8(bytes).unwrap_or_default().trim_start_matches('\u{feff}');
    let mut records = parse_csv(text).map_err(|e| AppError::Invalid(vec![e]))?;
    for cell in records.iter_mut().flat_map(|(_, cells)| cells.iter_mut()) {
        super::undefuse(cell);
    }
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(AppError::field("body", "the file is empty"));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut errs = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) && !OPTIONAL_FIELDS.contains(&h.as_str()) && !h.starts_with("attr.") {
            errs.push(FieldError::new("line 1", format!("unknown column {h}")));
        } else if header[..i].contains(h) {
            errs.push(FieldError::new("line 1", format!("the column {h} appears twice")));
        }
    }
    for need in ["class", "name"] {
        if !header.iter().any(|h| h == need) {
            errs.push(FieldError::new("line 1", format!("the column {need} is missing")));
        }
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    // A column the file lacks leaves the CI's value as it is; one it has
    // but leaves empty clears it (`ImportRow::omitted`).
    let omitted: Vec<&'static str> =
        OPTIONAL_FIELDS.iter().copied().filter(|f| !header.iter().any(|h| h == f)).collect();
    let mut out = Vec::with_capacity(rows.len());
    for (line, cells) in rows {
        let at = line_label(*line);
        if cells.len() != header.len() {
            errs.push(FieldError::new(at, format!("has {} fields where the header has {}", cells.len(), header.len())));
            continue;
        }
        let get = |k: &str| header.iter().position(|h| h == k).map(|i| cells[i].trim()).filter(|v| !v.is_empty());
        let class = get("class").unwrap_or("");
        let Some(c) = classes.by_name(class).or_else(|| class.parse().ok().and_then(|id| classes.get(id))) else {
            errs.push(FieldError::new(at, format!("unknown class {class}")));
            continue;
        };
        let schema = classes.schema(c.id);
        let mut bad = false;
        let mut int = |k: &str| -> Option<i64> {
            let v = get(k)?;
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(e) => {
                    let what = match (e.kind(), k) {
                        (std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow, _) => {
                            "a number of at most 18 digits"
                        }
                        (_, "cost") => "a whole number of cents (12.50 is 1250)",
                        _ => "a whole number (an id)",
                    };
                    errs.push(FieldError::new(at.clone(), format!("{k} must be {what}")));
                    bad = true;
                    None
                }
            }
        };
        let (owner_id, used_by_id, organisation_id, location_id, supplier_id, cost) = (
            int("owner_id"),
            int("used_by_id"),
            int("organisation_id"),
            int("location_id"),
            int("supplier_id"),
            int("cost"),
        );
        let status = match get("status").map(|s| CiStatus::parse("status", s)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(_)) => {
                errs.push(FieldError::new(at.clone(), "status is not a CI status"));
                continue;
            }
        };
        if bad {
            continue;
        }
        let mut attributes = Map::new();
        for (i, h) in header.iter().enumerate() {
            if let Some(name) = h.strip_prefix("attr.") {
                let v = cells[i].trim();
                let def = schema.get(name);
                if !v.is_empty() {
                    match typed(def.map(|d| d.kind), v) {
                        Ok(v) => {
                            attributes.insert(name.to_string(), v);
                        }
                        Err(why) => errs.push(FieldError::new(at.clone(), format!("{h} {why}"))),
                    }
                } else if def.is_some() {
                    // Named and empty: cleared. (A file of several classes
                    // leaves other classes' columns empty; those say nothing.)
                    attributes.insert(name.to_string(), Value::Null);
                }
            }
        }
        let name = get("name").unwrap_or("").to_string();
        out.push(ImportRow {
            line: *line,
            reference: get("ref").map(str::to_string).unwrap_or_else(|| name.clone()),
            fields: CiFields {
                class_id: c.id,
                name,
                status,
                owner_id,
                location_id,
                supplier_id,
                cost,
                purchased_on: get("purchased_on").map(str::to_string),
                warranty_until: get("warranty_until").map(str::to_string),
                end_of_life: get("end_of_life").map(str::to_string),
                used_by_id,
                organisation_id,
                attributes,
            },
            omitted: omitted.clone(),
        });
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonImport {
    #[serde(default)]
    pub source: Option<String>,
    /// CIs: `{class, name, ref?, status?, ..., attributes}`.
    #[schema(value_type = Vec<Object>)]
    pub cis: Vec<Value>,
    /// `{from, to, kind}`: `from`/`to` are a CI's `ref` (default: its name) in this import, or `#id`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub relations: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCi {
    class: String,
    name: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    status: Option<String>,
    owner_id: Option<i64>,
    used_by_id: Option<i64>,
    organisation_id: Option<i64>,
    location_id: Option<i64>,
    supplier_id: Option<i64>,
    cost: Option<i64>,
    purchased_on: Option<String>,
    warranty_until: Option<String>,
    end_of_life: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRelation {
    from: String,
    to: String,
    kind: String,
}

fn json_rows(classes: &Classes, j: &JsonImport) -> Result<(Vec<ImportRow>, Vec<ImportRelation>), AppError> {
    let mut errs = Vec::new();
    let mut rows = Vec::new();
    // Positions count from 0, as JSON arrays and the class API's
    // `attributes[0]` do.
    for (n, v) in j.cis.iter().enumerate() {
        let c: JsonCi = match serde_json::from_value(v.clone()) {
            Ok(c) => c,
            Err(e) => {
                errs.push(FieldError::new(item_label(n), e.to_string()));
                continue;
            }
        };
        let Some(class) = classes.by_name(&c.class) else {
            errs.push(FieldError::new(item_label(n), format!("unknown class {}", c.class)));
            continue;
        };
        let status = match c.status.as_deref().map(|s| CiStatus::parse("status", s)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(_)) => {
                errs.push(FieldError::new(item_label(n), "status is not a CI status"));
                continue;
            }
        };
        rows.push(ImportRow {
            line: n,
            reference: c.reference.unwrap_or_else(|| c.name.clone()),
            fields: CiFields {
                class_id: class.id,
                name: c.name,
                status,
                owner_id: c.owner_id,
                location_id: c.location_id,
                supplier_id: c.supplier_id,
                cost: c.cost,
                purchased_on: c.purchased_on,
                warranty_until: c.warranty_until,
                end_of_life: c.end_of_life,
                used_by_id: c.used_by_id,
                organisation_id: c.organisation_id,
                attributes: c.attributes,
            },
            // A key the object lacks keeps the CI's value; `null` clears it.
            omitted: OPTIONAL_FIELDS.iter().copied().filter(|f| v.get(f).is_none()).collect(),
        });
    }
    let mut rels = Vec::new();
    for (n, v) in j.relations.iter().enumerate() {
        let at = format!("relations[{n}]");
        match serde_json::from_value::<JsonRelation>(v.clone()) {
            Ok(r) => match RelationKind::parse("kind", &r.kind) {
                Ok(kind) => rels.push(ImportRelation { line: n, from: r.from, to: r.to, kind }),
                Err(_) => errs.push(FieldError::new(at, format!("kind {} is not a relation type", r.kind))),
            },
            Err(e) => errs.push(FieldError::new(at, e.to_string())),
        }
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    Ok((rows, rels))
}

pub enum Format {
    Csv,
    Json,
}

/// Imports a file. A dry run reports what would happen and writes nothing;
/// so does an import with any problem, which answers 422 with every problem.
pub async fn import(
    store: &Store,
    caller: &Caller,
    format: Format,
    body: &[u8],
    source: Option<String>,
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    caller.require(Permission::EditCis)?;
    let classes = store.ci_classes().await?;
    let (rows, relations, fmt, label, json_source): (_, _, _, fn(usize) -> String, _) = match format {
        Format::Csv => (csv_rows(&classes, body)?, Vec::new(), "csv", line_label, None),
        Format::Json => {
            let j: JsonImport = crate::api::parse_json(body)?;
            let (rows, rels) = json_rows(&classes, &j)?;
            (rows, rels, "json", item_label, j.source)
        }
    };
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(AppError::field("body", &format!("at most {MAX_IMPORT_ROWS} CIs per import")));
    }
    let source = source.or(json_source).unwrap_or_else(|| format!("{fmt} upload by user {}", caller.id()));
    if source.chars().count() > 200 {
        return Err(AppError::field("source", "must be at most 200 characters"));
    }
    let req =
        ImportRequest { source, format: fmt.into(), actor: caller.id(), dry_run, row_label: label, rows, relations };
    Ok(store.import_cis(req).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_newlines_and_line_numbers() {
        let r = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n\n").unwrap();
        assert_eq!(r[0], (1, vec!["a".to_string(), "b".into()]));
        assert_eq!(r[1], (2, vec!["x, y".to_string(), "say \"hi\"".into()]));
        assert_eq!(r[2], (3, vec!["two\nlines".to_string(), "z".into()]));
        assert!(parse_csv("a\n\"open").is_err());
    }

    #[test]
    fn numbers_too_large_say_so() {
        let thing = varde_store::cmdb::CiClass {
            id: 1,
            name: "Thing".into(),
            parent_id: None,
            description: String::new(),
            attributes: Vec::new(),
            identify_by: Vec::new(),
            version: 1,
        };
        let classes = Classes::new(vec![thing]);
        let said = |csv: &str| match csv_rows(&classes, csv.as_bytes()) {
            Err(AppError::Invalid(errs)) => errs.into_iter().map(|e| e.message).collect::<Vec<_>>(),
            other => panic!("{:?}", other.map(|r| r.len())),
        };
        assert_eq!(
            said("class,name,cost\nThing,a,99999999999999999999\n"),
            ["cost must be a number of at most 18 digits"]
        );
        assert_eq!(said("class,name,cost\nThing,a,12.50\n"), ["cost must be a whole number of cents (12.50 is 1250)"]);
    }

    #[test]
    fn an_exported_json_attribute_reads_back_as_it_was() {
        use varde_domain::cmdb::AttributeDef;
        let conf = AttributeDef {
            name: "conf".into(),
            label: String::new(),
            kind: AttrKind::Json,
            required: false,
            unique: false,
            values: Vec::new(),
        };
        let thing = varde_store::cmdb::CiClass {
            id: 1,
            name: "Thing".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![conf],
            identify_by: Vec::new(),
            version: 1,
        };
        let classes = Classes::new(vec![thing]);
        for value in [serde_json::json!("{draft"), serde_json::json!("plain"), serde_json::json!({"rack": [4, "b"]})] {
            let ci = varde_store::cmdb::Ci {
                id: 7,
                class_id: 1,
                name: "a".into(),
                status: varde_domain::cmdb::CiStatus::Deployed,
                owner_id: None,
                location_id: None,
                supplier_id: None,
                cost: None,
                purchased_on: None,
                warranty_until: None,
                end_of_life: None,
                used_by_id: None,
                organisation_id: None,
                attributes: serde_json::json!({ "conf": value }).as_object().unwrap().clone(),
                service_id: None,
                version: 1,
                created_at: 0,
                updated_at: 0,
            };
            let csv = crate::api::cmdb::to_csv(&[ci], &classes);
            let rows = csv_rows(&classes, csv.as_bytes()).unwrap_or_else(|e| panic!("{value}: {e:?}\n{csv}"));
            assert_eq!(rows[0].fields.attributes["conf"], value, "{csv}");
        }
    }

    #[test]
    fn json_attributes_read_json_and_plain_text() {
        let json = Some(AttrKind::Json);
        assert_eq!(typed(json, "{\"rack\": 4}"), Ok(serde_json::json!({"rack": 4})));
        assert_eq!(typed(json, "rack four"), Ok(Value::String("rack four".into())));
        assert_eq!(typed(json, "{rack"), Err("is not valid JSON"));
    }

    #[test]
    fn bad_bytes_are_found_on_their_line() {
        assert_eq!(bad_utf8_line(b"a\nb\n\xff"), Some(3));
        assert_eq!(bad_utf8_line(b"fine"), None);
    }
}
