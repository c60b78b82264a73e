//! Relationship types between CIs: directional, each with the name read
//! from the other end, and whether it is a dependency edge for impact.

use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// `from` needs `to` to work: a business service depends on an application.
    DependsOn,
    /// `from` runs on `to`: an application on a server, a VM on a host.
    RunsOn,
    /// `from` (software) is installed on `to` (a computer).
    InstalledOn,
    /// Network links: no direction of failure is implied.
    ConnectsTo,
    /// `from` belongs to `to` (a cluster, a pool): losing one member does not
    /// take the whole down, so it is not a dependency edge.
    MemberOf,
    /// `from` stands in `to` (a location).
    LocatedIn,
    /// `from` is supplied or supported by `to` (a supplier).
    ProvidedBy,
    /// `from` is covered by `to` (a contract).
    CoveredBy,
}

impl RelationKind {
    pub const ALL: [RelationKind; 8] = [
        RelationKind::DependsOn,
        RelationKind::RunsOn,
        RelationKind::InstalledOn,
        RelationKind::ConnectsTo,
        RelationKind::MemberOf,
        RelationKind::LocatedIn,
        RelationKind::ProvidedBy,
        RelationKind::CoveredBy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "depends_on",
            RelationKind::RunsOn => "runs_on",
            RelationKind::InstalledOn => "installed_on",
            RelationKind::ConnectsTo => "connects_to",
            RelationKind::MemberOf => "member_of",
            RelationKind::LocatedIn => "located_in",
            RelationKind::ProvidedBy => "provided_by",
            RelationKind::CoveredBy => "covered_by",
        }
    }

    /// How the relation reads from `from` to `to`.
    pub fn name(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "depends on",
            RelationKind::RunsOn => "runs on",
            RelationKind::InstalledOn => "installed on",
            RelationKind::ConnectsTo => "connects to",
            RelationKind::MemberOf => "member of",
            RelationKind::LocatedIn => "located in",
            RelationKind::ProvidedBy => "provided by",
            RelationKind::CoveredBy => "covered by",
        }
    }

    /// How the relation reads from `to` back to `from`.
    pub fn reverse_name(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "used by",
            RelationKind::RunsOn => "hosts",
            RelationKind::InstalledOn => "has installed",
            RelationKind::ConnectsTo => "connected from",
            RelationKind::MemberOf => "has member",
            RelationKind::LocatedIn => "location of",
            RelationKind::ProvidedBy => "provides",
            RelationKind::CoveredBy => "covers",
        }
    }

    /// Whether `from` stops working when `to` fails: the edges impact
    /// analysis walks.
    pub fn is_dependency(self) -> bool {
        matches!(self, RelationKind::DependsOn | RelationKind::RunsOn | RelationKind::InstalledOn)
    }

    pub fn dependencies() -> impl Iterator<Item = RelationKind> {
        RelationKind::ALL.into_iter().filter(|k| k.is_dependency())
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        RelationKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = RelationKind::ALL.iter().map(|k| k.as_str()).collect();
            DomainError::field(field, format!("must be one of {}", all.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_have_distinct_names() {
        let mut names = std::collections::HashSet::new();
        for k in RelationKind::ALL {
            assert_eq!(RelationKind::parse("kind", k.as_str()).unwrap(), k);
            assert!(names.insert(k.name()));
            assert!(names.insert(k.reverse_name()));
        }
        assert!(RelationKind::DependsOn.is_dependency());
        assert!(!RelationKind::ConnectsTo.is_dependency());
        assert!(RelationKind::parse("kind", "likes").is_err());
    }
}
