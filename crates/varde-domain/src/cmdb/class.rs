//! CI classes: a hierarchy where each class adds typed attributes to those
//! it inherits, and the validation of a CI's attributes against its class.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{DomainError, FieldError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    Text,
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the definition's `values`.
    Enum,
    /// The id of another CI.
    CiRef,
    /// The id of a user.
    UserRef,
    Ip,
    Mac,
    /// Any JSON value; stored, never indexed.
    Json,
}

impl AttrKind {
    pub const ALL: [AttrKind; 9] = [
        AttrKind::Text,
        AttrKind::Number,
        AttrKind::Date,
        AttrKind::Enum,
        AttrKind::CiRef,
        AttrKind::UserRef,
        AttrKind::Ip,
        AttrKind::Mac,
        AttrKind::Json,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AttrKind::Text => "text",
            AttrKind::Number => "number",
            AttrKind::Date => "date",
            AttrKind::Enum => "enum",
            AttrKind::CiRef => "ci_ref",
            AttrKind::UserRef => "user_ref",
            AttrKind::Ip => "ip",
            AttrKind::Mac => "mac",
            AttrKind::Json => "json",
        }
    }
}

/// One attribute a class defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    /// The key in a CI's `attributes`: lower case letters, digits, `_`.
    pub name: String,
    #[serde(default)]
    pub label: String,
    pub kind: AttrKind,
    #[serde(default)]
    pub required: bool,
    /// No two CIs of the defining class (and its subclasses) share a value.
    #[serde(default)]
    pub unique: bool,
    /// The allowed values of an enum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

pub const MAX_ATTRIBUTES: usize = 100;
const MAX_TEXT: usize = 2_000;

/// Checks a class's own definitions: names well formed and not repeated
/// (also not repeating an inherited one), enums with values.
pub fn check_definitions(own: &[AttributeDef], inherited: &[AttributeDef]) -> Result<(), DomainError> {
    let mut errs = Vec::new();
    if own.len() > MAX_ATTRIBUTES {
        errs.push(FieldError::new("attributes", format!("at most {MAX_ATTRIBUTES} attributes")));
    }
    let mut seen: Vec<&str> = inherited.iter().map(|a| a.name.as_str()).collect();
    for (i, a) in own.iter().enumerate() {
        let f = |s: &str| format!("attributes[{i}].{s}");
        let ok_name = !a.name.is_empty()
            && a.name.len() <= 60
            && a.name.starts_with(|c: char| c.is_ascii_lowercase())
            && a.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_name {
            errs.push(FieldError::new(
                f("name"),
                "must be 1 to 60 lower-case letters, digits or _, starting with a letter",
            ));
        } else if seen.contains(&a.name.as_str()) {
            errs.push(FieldError::new(f("name"), format!("{} is defined already (here or in a parent class)", a.name)));
        }
        seen.push(&a.name);
        if a.kind == AttrKind::Enum && a.values.is_empty() {
            errs.push(FieldError::new(f("values"), "an enum needs at least one value"));
        }
        if a.kind != AttrKind::Enum && !a.values.is_empty() {
            errs.push(FieldError::new(f("values"), "only an enum has values"));
        }
        // Values are indexed without case: two that differ only in it
        // would be one value in every filter.
        if let Some(twice) = a
            .values
            .iter()
            .enumerate()
            .find_map(|(j, v)| a.values[..j].iter().any(|w| w.to_lowercase() == v.to_lowercase()).then_some(v))
        {
            errs.push(FieldError::new(f("values"), format!("{twice} is listed twice")));
        }
        if a.kind == AttrKind::Json && a.unique {
            errs.push(FieldError::new(f("unique"), "a JSON attribute cannot be unique"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(errs))
    }
}

/// The attributes a CI of some class has: its own and every ancestor's,
/// root first. `defined_by` says which class defined each (for uniqueness).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassSchema {
    pub attributes: Vec<(i64, AttributeDef)>,
}

/// A validated attribute value, with the text form the store indexes
/// (`None` for JSON, which is kept but not searchable by value).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedValue {
    pub value: Value,
    pub key: Option<String>,
}

impl ClassSchema {
    /// Builds the schema of `class_id` from `(id, parent_id, own attributes)`
    /// of every class. A broken tree (a cycle, a missing parent) stops at
    /// the break rather than looping.
    pub fn of(class_id: i64, classes: &[(i64, Option<i64>, Vec<AttributeDef>)]) -> ClassSchema {
        let mut chain = Vec::new();
        let mut at = Some(class_id);
        while let Some(id) = at {
            if chain.contains(&id) {
                break;
            }
            match classes.iter().find(|c| c.0 == id) {
                Some(c) => {
                    chain.push(id);
                    at = c.1;
                }
                None => break,
            }
        }
        let mut attributes = Vec::new();
        for id in chain.iter().rev() {
            if let Some(c) = classes.iter().find(|c| c.0 == *id) {
                attributes.extend(c.2.iter().cloned().map(|a| (*id, a)));
            }
        }
        ClassSchema { attributes }
    }

    pub fn get(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().map(|(_, a)| a).find(|a| a.name == name)
    }

    /// Validates a CI's attributes: every key defined, every value of its
    /// type, every required one present. All problems are reported, each
    /// under `attributes.<name>`. Nulls are dropped (absent).
    pub fn validate(&self, attrs: &Map<String, Value>) -> Result<BTreeMap<String, CheckedValue>, DomainError> {
        self.validate_as(attrs, true)
    }

    /// [`ClassSchema::validate`], checking required attributes only when
    /// `complete`: an import row that updates a CI need not repeat what the
    /// CI has (the store checks the whole after taking the rest from it).
    pub fn validate_as(
        &self,
        attrs: &Map<String, Value>,
        complete: bool,
    ) -> Result<BTreeMap<String, CheckedValue>, DomainError> {
        let mut errs = Vec::new();
        let mut out = BTreeMap::new();
        for (k, v) in attrs {
            let field = format!("attributes.{k}");
            let Some(def) = self.get(k) else {
                errs.push(FieldError::new(field, "is not an attribute of this class"));
                continue;
            };
            // Blank text is no value: it clears the attribute as null does,
            // instead of being a value two CIs of a unique attribute share.
            if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
                continue;
            }
            match check_value(def, v) {
                Ok(c) => {
                    out.insert(k.clone(), c);
                }
                Err(m) => errs.push(FieldError::new(field, m)),
            }
        }
        if complete {
            errs.extend(self.missing(&out));
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(DomainError::Invalid(errs))
        }
    }

    /// A field error for each required attribute `checked` lacks.
    pub fn missing(&self, checked: &BTreeMap<String, CheckedValue>) -> Vec<FieldError> {
        self.attributes
            .iter()
            .filter(|(_, def)| def.required && !checked.contains_key(&def.name))
            .map(|(_, def)| FieldError::new(format!("attributes.{}", def.name), "is required"))
            .collect()
    }
}

/// Normalises a filter value the way stored values are indexed, so that
/// `?attr.mac=AA-BB-...` finds `aa:bb:...`.
pub fn filter_key(def: &AttributeDef, raw: &str) -> Option<String> {
    let v = match def.kind {
        AttrKind::Number => raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)?,
        AttrKind::CiRef | AttrKind::UserRef => Value::from(raw.parse::<i64>().ok()?),
        _ => Value::String(raw.to_string()),
    };
    check_value(def, &v).ok().and_then(|c| c.key)
}

fn check_value(def: &AttributeDef, v: &Value) -> Result<CheckedValue, String> {
    let text = |v: &Value| v.as_str().map(str::to_string).ok_or_else(|| "must be text".to_string());
    match def.kind {
        AttrKind::Text => {
            // Kept trimmed, as the import trims its cells: whitespace at
            // either end means nothing in an attribute, and a value kept with
            // it would read back from an exported file as a change.
            // Line breaks as a form sends them (CRLF) are the text's own:
            // an edit in the browser must not read back as a change.
            let s = text(v)?.trim().replace("\r\n", "\n");
            if s.chars().count() > MAX_TEXT {
                return Err(format!("must be at most {MAX_TEXT} characters"));
            }
            let key = s.to_lowercase();
            Ok(CheckedValue { value: Value::String(s), key: Some(key) })
        }
        AttrKind::Number => {
            let n = v.as_f64().filter(|n| n.is_finite()).ok_or("must be a number")?;
            // Whole numbers are kept and keyed without a fraction, so 8 and
            // 8.0 are one value: a form or a CSV file reads every number as
            // a float, and 8.0 stored over 8 would be a change in the history
            // and make an unchanged re-import an update.
            let whole = n.fract() == 0.0 && n.abs() < 1e15;
            let value = if whole && !v.is_i64() { Value::from(n as i64) } else { v.clone() };
            let key = if whole { format!("{}", n as i64) } else { n.to_string() };
            Ok(CheckedValue { value, key: Some(key) })
        }
        AttrKind::Date => {
            let s = text(v)?;
            let d: jiff::civil::Date = s.parse().map_err(|_| "must be a date like 2026-11-23".to_string())?;
            Ok(CheckedValue { value: Value::String(d.to_string()), key: Some(d.to_string()) })
        }
        AttrKind::Enum => {
            // Matched ignoring case and kept as the list spells it: values
            // are keyed (and found, and kept apart) in lower case, and a list
            // respelled by the administrator ("m" to "M") must not leave the
            // CIs holding the old spelling refused at every edit.
            let s = text(v)?;
            let Some(known) = def.values.iter().find(|k| k.to_lowercase() == s.trim().to_lowercase()) else {
                return Err(format!("must be one of {}", def.values.join(", ")));
            };
            Ok(CheckedValue { key: Some(known.to_lowercase()), value: Value::String(known.clone()) })
        }
        AttrKind::CiRef | AttrKind::UserRef => {
            let id = v.as_i64().filter(|i| *i > 0).ok_or("must be a numeric id")?;
            Ok(CheckedValue { value: Value::from(id), key: Some(id.to_string()) })
        }
        AttrKind::Ip => {
            let s = text(v)?;
            let ip: IpAddr = s.trim().parse().map_err(|_| "must be an IPv4 or IPv6 address".to_string())?;
            Ok(CheckedValue { value: Value::String(ip.to_string()), key: Some(ip.to_string()) })
        }
        AttrKind::Mac => {
            let s = text(v)?;
            let mac = normalise_mac(&s).ok_or("must be a MAC address like 00:1a:2b:3c:4d:5e")?;
            Ok(CheckedValue { value: Value::String(mac.clone()), key: Some(mac) })
        }
        AttrKind::Json => Ok(CheckedValue { value: v.clone(), key: None }),
    }
}

/// `00-1A-2B-3C-4D-5E`, `001a.2b3c.4d5e` and `00:1a:2b:3c:4d:5e` are one MAC.
fn normalise_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some((0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect::<Vec<_>>().join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(name: &str, kind: AttrKind) -> AttributeDef {
        AttributeDef { name: name.into(), label: String::new(), kind, required: false, unique: false, values: vec![] }
    }

    #[test]
    fn enum_values_match_ignoring_case_as_the_list_spells_them() {
        let mut size = def("size", AttrKind::Enum);
        size.values = vec!["S".into(), "Medium".into()];
        let checked = check_value(&size, &json!(" medium")).unwrap();
        assert_eq!((checked.value, checked.key.as_deref()), (json!("Medium"), Some("medium")));
        assert!(check_value(&size, &json!("L")).is_err());
    }

    #[test]
    fn blank_text_is_no_value() {
        let s = schema();
        let checked = s.validate_as(json!({"serial_number": "  ", "ip": ""}).as_object().unwrap(), false).unwrap();
        assert!(checked.is_empty(), "{checked:?}");
        let err = s.validate_as(json!({"serial_number": ""}).as_object().unwrap(), true).unwrap_err();
        assert!(format!("{err:?}").contains("is required"), "{err:?}");
    }

    #[test]
    fn whole_numbers_are_kept_whole() {
        let n = def("ram_gb", AttrKind::Number);
        for given in [json!(8), json!(8.0), json!(-3.0)] {
            let checked = check_value(&n, &given).unwrap();
            assert!(checked.value.is_i64(), "{given} became {}", checked.value);
            assert_eq!(checked.value.to_string(), checked.key.unwrap());
        }
        let checked = check_value(&n, &json!(2.5)).unwrap();
        assert_eq!((checked.value, checked.key.as_deref()), (json!(2.5), Some("2.5")));
        // Beyond what a float holds exactly, an integer stays as given.
        let big = json!(9_007_199_254_740_993_i64);
        assert_eq!(check_value(&n, &big).unwrap().value, big);
    }

    #[test]
    fn text_is_kept_trimmed() {
        let checked = check_value(&def("host", AttrKind::Text), &json!("\t web-01 \r\n")).unwrap();
        assert_eq!((checked.value, checked.key.as_deref()), (json!("web-01"), Some("web-01")));
        let checked = check_value(&def("notes", AttrKind::Text), &json!("rack 4\r\nslot 2")).unwrap();
        assert_eq!(checked.value, json!("rack 4\nslot 2"));
    }

    fn schema() -> ClassSchema {
        let mut serial = def("serial_number", AttrKind::Text);
        serial.required = true;
        serial.unique = true;
        let mut os = def("os", AttrKind::Enum);
        os.values = vec!["linux".into(), "windows".into()];
        ClassSchema::of(
            3,
            &[
                (1, None, vec![serial]),
                (2, Some(1), vec![def("ip", AttrKind::Ip), def("mac", AttrKind::Mac), os]),
                (3, Some(2), vec![def("ram_gb", AttrKind::Number), def("bought", AttrKind::Date)]),
                (4, Some(1), vec![def("other", AttrKind::Json)]),
            ],
        )
    }

    #[test]
    fn subclasses_inherit_root_first() {
        let s = schema();
        let names: Vec<&str> = s.attributes.iter().map(|(_, a)| a.name.as_str()).collect();
        assert_eq!(names, ["serial_number", "ip", "mac", "os", "ram_gb", "bought"]);
        assert_eq!(schema().attributes[0].0, 1);
    }

    #[test]
    fn every_problem_is_reported_per_field() {
        let attrs =
            json!({"ip": "300.1.1.1", "mac": "zz", "os": "beos", "ram_gb": "lots", "bought": "yesterday", "other": 1});
        let Err(DomainError::Invalid(errs)) = schema().validate(attrs.as_object().unwrap()) else { panic!() };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "attributes.ip",
            "attributes.mac",
            "attributes.os",
            "attributes.ram_gb",
            "attributes.bought",
            "attributes.other",
            "attributes.serial_number",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn values_are_normalised_for_the_index() {
        let attrs = json!({"serial_number": " SN-1 ", "mac": "00-1A-2B-3C-4D-5E", "ram_gb": 16.0, "ip": "10.0.0.1"});
        let ok = schema().validate(attrs.as_object().unwrap()).unwrap();
        assert_eq!(ok["serial_number"].key.as_deref(), Some("sn-1"));
        assert_eq!(ok["mac"].key.as_deref(), Some("00:1a:2b:3c:4d:5e"));
        assert_eq!(ok["ram_gb"].key.as_deref(), Some("16"));
        assert_eq!(filter_key(schema().get("mac").unwrap(), "001a.2b3c.4d5e").as_deref(), Some("00:1a:2b:3c:4d:5e"));
    }

    #[test]
    fn definitions_are_checked() {
        let mut e = def("size", AttrKind::Enum);
        assert!(check_definitions(&[e.clone()], &[]).is_err());
        e.values = vec!["s".into()];
        assert!(check_definitions(&[e.clone()], &[]).is_ok());
        assert!(check_definitions(&[e.clone()], &[e.clone()]).is_err(), "redefining an inherited name");
        assert!(check_definitions(&[def("Bad Name", AttrKind::Text)], &[]).is_err());
        e.values = vec!["s".into(), "m".into(), "S".into()];
        assert!(check_definitions(&[e], &[]).is_err(), "a value listed twice");
    }

    #[test]
    fn a_cyclic_tree_does_not_loop() {
        let s = ClassSchema::of(
            1,
            &[(1, Some(2), vec![def("a", AttrKind::Text)]), (2, Some(1), vec![def("b", AttrKind::Text)])],
        );
        assert_eq!(s.attributes.len(), 2);
    }
}
