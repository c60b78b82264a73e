//! The record kernel: what every record type (incident, request, problem,
//! change, ...) shares. Numbers, journal entries and links.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The kinds of record. Only incidents exist today; each later practice adds
/// its kind here and gets numbering, journal, links and audit for free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Incident,
    Problem,
    /// Knowledge articles live on the kernel too (ADR 0008): numbering,
    /// attachments, links to incidents, audit and search come with it.
    Article,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Incident => "incident",
            RecordKind::Problem => "problem",
            RecordKind::Article => "article",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incident" => Some(RecordKind::Incident),
            "problem" => Some(RecordKind::Problem),
            "article" => Some(RecordKind::Article),
            _ => None,
        }
    }
    /// The prefix of the human number, e.g. `INC` in `INC0001234`.
    pub fn prefix(self) -> &'static str {
        match self {
            RecordKind::Incident => "INC",
            RecordKind::Problem => "PRB",
            RecordKind::Article => "KB",
        }
    }
    /// The human number for the n-th record of this kind.
    pub fn number(self, n: i64) -> String {
        format!("{}{:07}", self.prefix(), n)
    }
}

/// What a journal entry is: a reply the requester sees, a work note only
/// agents see, or a line the system wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalKind {
    Reply,
    WorkNote,
    System,
}

impl JournalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Reply => "reply",
            JournalKind::WorkNote => "work_note",
            JournalKind::System => "system",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        match s {
            "reply" => Ok(JournalKind::Reply),
            "work_note" => Ok(JournalKind::WorkNote),
            "system" => Ok(JournalKind::System),
            _ => Err(DomainError::field(field, "must be reply or work_note")),
        }
    }
    /// Requesters see replies and system lines, never the desk's work notes.
    pub fn visible_to_requester(self) -> bool {
        !matches!(self, JournalKind::WorkNote)
    }
}

/// How two records relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    RelatesTo,
    DuplicateOf,
    CausedBy,
    /// An incident worked around with a known error's workaround (to the problem).
    WorkaroundFrom,
    /// An incident resolved with the help of a knowledge article (to the article).
    ResolvedBy,
}

impl LinkKind {
    pub const ALL: [LinkKind; 5] = [
        LinkKind::RelatesTo,
        LinkKind::DuplicateOf,
        LinkKind::CausedBy,
        LinkKind::WorkaroundFrom,
        LinkKind::ResolvedBy,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::RelatesTo => "relates_to",
            LinkKind::DuplicateOf => "duplicate_of",
            LinkKind::CausedBy => "caused_by",
            LinkKind::WorkaroundFrom => "workaround_from",
            LinkKind::ResolvedBy => "resolved_by",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        LinkKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            DomainError::field(field, "must be relates_to, duplicate_of, caused_by, workaround_from or resolved_by")
        })
    }
}

/// One changed field, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Collects the fields a write changes, so that the audit trail can record
/// exactly those and a no-op write records nothing.
#[derive(Debug, Default)]
pub struct ChangeSet(pub Vec<FieldChange>);

impl ChangeSet {
    pub fn record<T: ToString + PartialEq>(&mut self, field: &'static str, old: &Option<T>, new: &Option<T>) {
        if old != new {
            self.0.push(FieldChange {
                field,
                old: old.as_ref().map(ToString::to_string),
                new: new.as_ref().map(ToString::to_string),
            });
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn touches(&self, field: &str) -> bool {
        self.0.iter().any(|c| c.field == field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_padded() {
        assert_eq!(RecordKind::Incident.number(1), "INC0000001");
        assert_eq!(RecordKind::Incident.number(12345678), "INC12345678");
    }

    #[test]
    fn changeset_skips_equal_values() {
        let mut c = ChangeSet::default();
        c.record("a", &Some(1), &Some(1));
        c.record("b", &Some(1), &None);
        assert_eq!(c.0.len(), 1);
        assert_eq!(c.0[0].field, "b");
        assert_eq!(c.0[0].new, None);
    }
}
