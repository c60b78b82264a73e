//! Roles and what they may do. Permissions are the unit checked in code;
//! roles only name bundles of them, so later roles (problem manager, change
//! manager, CAB member, configuration manager) are new bundles, not new checks.

use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Agent,
    Admin,
    /// An agent who also runs problem management and reviews knowledge.
    ProblemManager,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Report incidents and follow one's own (and shared) records.
    UsePortal,
    /// Read every record and work on it: assign, reply, note, change state.
    WorkRecords,
    /// Read the directory of users and groups (to assign and to pick callers).
    ReadDirectory,
    /// Create and change users, groups, organisations.
    ManageUsers,
    /// Change categories, services, the priority matrix and settings.
    ManageConfiguration,
    /// Create and change business calendars (holidays, working hours).
    ManageCalendars,
    /// Read the CMDB: CIs, relations, impact, history.
    ReadCmdb,
    /// Create and change CIs and their relations, import, link CIs to records.
    EditCis,
    /// Define CI classes and their attributes (a configuration manager's task).
    ManageCiClasses,
    /// Accept or reject problem candidates, publish known errors, close problems.
    ManageProblems,
    /// Review, publish and retire knowledge articles (not one's own when review is required).
    ReviewArticles,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Requester, Role::Agent, Role::Admin, Role::ProblemManager];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::ProblemManager => "problem_manager",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::field(field, "must be requester, agent, admin or problem_manager"))
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Requester => &[UsePortal],
            Role::Agent => &[UsePortal, WorkRecords, ReadDirectory, ReadCmdb, EditCis],
            Role::Admin => &[
                UsePortal,
                WorkRecords,
                ReadDirectory,
                ManageUsers,
                ManageConfiguration,
                ReadCmdb,
                EditCis,
                ManageCiClasses,
                ManageCalendars,
                ManageProblems,
                ReviewArticles,
            ],
            Role::ProblemManager => {
                &[UsePortal, WorkRecords, ReadDirectory, ReadCmdb, EditCis, ManageProblems, ReviewArticles]
            }
        }
    }

    pub fn can(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requester_cannot_work_records() {
        assert!(!Role::Requester.can(Permission::WorkRecords));
        assert!(Role::Agent.can(Permission::WorkRecords));
        assert!(!Role::Agent.can(Permission::ManageUsers));
        assert!(Role::Admin.can(Permission::ManageConfiguration));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse("role", r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("role", "root").is_err());
    }
}
