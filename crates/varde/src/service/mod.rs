//! Application services: the operations a person or program asks Varde to do,
//! with their rights checks, shared by the REST API and the web UI so that
//! no rule lives in a handler.

pub mod calendars;
pub mod cmdb;
pub mod cmdb_import;
pub mod directory;
pub mod incidents;
pub mod knowledge;
pub mod problems;
pub mod sla;

use serde::{Deserialize, Deserializer};

/// For JSON merge patch: tells an absent field (`None`) from an explicit
/// `null` (`Some(None)`).
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For JSON merge patch of a field that cannot be cleared: absent is `None`,
/// a value is `Some`, and an explicit `null` (which in a merge patch means
/// "remove") is refused rather than silently taken as "leave alone".
pub fn not_null<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom("must not be null: this field cannot be cleared")),
    }
}

/// The first characters of a CSV cell that a spreadsheet would run as a
/// formula, and the apostrophe that defuses them (doubled when a value
/// begins with one, so that [`undefuse`] takes off exactly what
/// [`defuse`] put on).
const DEFUSED: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// A CSV cell's text with a leading apostrophe when a spreadsheet would run
/// it as a formula (or it begins with an apostrophe itself).
pub fn defuse(s: &str) -> String {
    if s.starts_with(DEFUSED) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// Takes off the apostrophe [`defuse`] put on, so that an exported file
/// reads back as it was written.
pub fn undefuse(cell: &mut String) {
    if cell.starts_with('\'') && cell[1..].starts_with(DEFUSED) {
        cell.remove(0);
    }
}
