//! The life cycle of a configuration item.

use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    Ordered,
    InStock,
    Deployed,
    InRepair,
    Retired,
    Disposed,
}

impl CiStatus {
    pub const ALL: [CiStatus; 6] = [
        CiStatus::Ordered,
        CiStatus::InStock,
        CiStatus::Deployed,
        CiStatus::InRepair,
        CiStatus::Retired,
        CiStatus::Disposed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CiStatus::Ordered => "ordered",
            CiStatus::InStock => "in_stock",
            CiStatus::Deployed => "deployed",
            CiStatus::InRepair => "in_repair",
            CiStatus::Retired => "retired",
            CiStatus::Disposed => "disposed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        CiStatus::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            DomainError::field(field, "must be ordered, in_stock, deployed, in_repair, retired or disposed")
        })
    }

    /// Whether the item still exists in the estate (counts for assets a
    /// person holds and for end-of-life reports).
    pub fn is_active(self) -> bool {
        !matches!(self, CiStatus::Retired | CiStatus::Disposed)
    }

    /// The steps the life cycle allows. Disposed is final: the thing is
    /// gone; a retired item may still be taken back into stock.
    pub fn can_become(self, to: CiStatus) -> bool {
        use CiStatus::*;
        if self == to {
            return true;
        }
        match self {
            Ordered => matches!(to, InStock | Deployed | Retired),
            InStock => matches!(to, Deployed | InRepair | Retired),
            Deployed => matches!(to, InStock | InRepair | Retired),
            InRepair => matches!(to, InStock | Deployed | Retired),
            Retired => matches!(to, InStock | Disposed),
            Disposed => false,
        }
    }

    pub fn transition(self, to: CiStatus) -> Result<CiStatus, DomainError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(DomainError::Transition { from: self.as_str(), to: to.as_str() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposed_is_final_and_retired_can_return() {
        for s in CiStatus::ALL {
            assert_eq!(CiStatus::Disposed.can_become(s), s == CiStatus::Disposed);
        }
        assert!(CiStatus::Retired.can_become(CiStatus::InStock));
        assert!(!CiStatus::Ordered.can_become(CiStatus::Disposed));
        assert!(CiStatus::Deployed.transition(CiStatus::Ordered).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in CiStatus::ALL {
            assert_eq!(CiStatus::parse("status", s.as_str()).unwrap(), s);
        }
        assert!(CiStatus::parse("status", "lost").is_err());
    }
}
