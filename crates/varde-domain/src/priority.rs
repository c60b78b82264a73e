//! Impact x urgency -> priority, through a matrix the administrator may change.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Three levels, 1 the highest, as ITIL counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Level(u8);

impl Level {
    pub const HIGH: Level = Level(1);
    pub const MEDIUM: Level = Level(2);
    pub const LOW: Level = Level(3);
    pub const ALL: [Level; 3] = [Level::HIGH, Level::MEDIUM, Level::LOW];

    pub fn new(field: &str, v: i64) -> Result<Self, DomainError> {
        if (1..=3).contains(&v) {
            Ok(Level(v as u8))
        } else {
            Err(DomainError::field(field, "must be 1 (high), 2 (medium) or 3 (low)"))
        }
    }
    pub fn get(self) -> i64 {
        self.0 as i64
    }
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "high",
            2 => "medium",
            _ => "low",
        }
    }
}

impl TryFrom<i64> for Level {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        Level::new("level", v).map_err(|_| "must be 1, 2 or 3".to_string())
    }
}
impl From<Level> for i64 {
    fn from(l: Level) -> i64 {
        l.get()
    }
}

/// P1 (critical) to P5 (planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Priority(u8);

impl Priority {
    pub fn new(field: &str, v: i64) -> Result<Self, DomainError> {
        if (1..=5).contains(&v) {
            Ok(Priority(v as u8))
        } else {
            Err(DomainError::field(field, "must be a priority from 1 to 5"))
        }
    }
    pub fn get(self) -> i64 {
        self.0 as i64
    }
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "critical",
            2 => "high",
            3 => "moderate",
            4 => "low",
            _ => "planning",
        }
    }
}

impl TryFrom<i64> for Priority {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        Priority::new("priority", v).map_err(|_| "must be from 1 to 5".to_string())
    }
}
impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        p.get()
    }
}

/// cells[impact-1][urgency-1] = priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMatrix {
    cells: [[Priority; 3]; 3],
}

impl Default for PriorityMatrix {
    /// ITIL's customary 3x3 table.
    fn default() -> Self {
        let p = |v| Priority(v);
        PriorityMatrix { cells: [[p(1), p(2), p(3)], [p(2), p(3), p(4)], [p(3), p(4), p(5)]] }
    }
}

impl PriorityMatrix {
    /// A matrix from nine priorities, row by row (impact high..low, urgency high..low).
    ///
    /// A matrix must never rank a more urgent or more impactful case below a
    /// lesser one: that would let a broken printer outrank an e-mail outage.
    pub fn from_cells(cells: [[i64; 3]; 3]) -> Result<Self, DomainError> {
        let mut out = PriorityMatrix::default();
        let mut problems = crate::error::Problems::new();
        for (i, row) in cells.iter().enumerate() {
            for (u, v) in row.iter().enumerate() {
                let field = format!("cells[{i}][{u}]");
                if let Some(p) = problems.check(Priority::new(&field, *v)) {
                    out.cells[i][u] = p;
                }
            }
        }
        problems.into_result()?;
        for i in 0..3 {
            for u in 0..3 {
                if (i + 1 < 3 && out.cells[i + 1][u] < out.cells[i][u])
                    || (u + 1 < 3 && out.cells[i][u + 1] < out.cells[i][u])
                {
                    return Err(DomainError::field(
                        "cells",
                        "lower impact or urgency must never give a higher priority",
                    ));
                }
            }
        }
        Ok(out)
    }

    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.cells[(impact.0 - 1) as usize][(urgency.0 - 1) as usize]
    }

    pub fn cells(&self) -> [[i64; 3]; 3] {
        self.cells.map(|row| row.map(Priority::get))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_is_itil() {
        let m = PriorityMatrix::default();
        assert_eq!(m.priority(Level::HIGH, Level::HIGH).get(), 1);
        assert_eq!(m.priority(Level::HIGH, Level::LOW).get(), 3);
        assert_eq!(m.priority(Level::MEDIUM, Level::MEDIUM).get(), 3);
        assert_eq!(m.priority(Level::LOW, Level::LOW).get(), 5);
    }

    #[test]
    fn rejects_inverted_and_out_of_range() {
        assert!(PriorityMatrix::from_cells([[5, 2, 3], [2, 3, 4], [3, 4, 5]]).is_err());
        assert!(PriorityMatrix::from_cells([[0, 2, 3], [2, 3, 4], [3, 4, 9]]).is_err());
        match PriorityMatrix::from_cells([[0, 2, 3], [2, 3, 4], [3, 4, 9]]) {
            Err(DomainError::Invalid(errs)) => assert_eq!(errs.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    fn level() -> impl Strategy<Value = Level> {
        (1i64..=3).prop_map(|v| Level::new("l", v).unwrap())
    }

    proptest! {
        /// Any accepted matrix is monotone: raising impact or urgency never lowers the priority.
        #[test]
        fn accepted_matrices_are_monotone(cells in proptest::array::uniform3(proptest::array::uniform3(1i64..=5)),
                                          i1 in level(), u1 in level(), i2 in level(), u2 in level()) {
            if let Ok(m) = PriorityMatrix::from_cells(cells) {
                if i1 <= i2 && u1 <= u2 {
                    prop_assert!(m.priority(i1, u1) <= m.priority(i2, u2));
                }
                prop_assert_eq!(PriorityMatrix::from_cells(m.cells()).unwrap(), m);
            }
        }

        #[test]
        fn levels_outside_range_rejected(v in any::<i64>()) {
            prop_assert_eq!(Level::new("x", v).is_ok(), (1..=3).contains(&v));
            prop_assert_eq!(Priority::new("x", v).is_ok(), (1..=5).contains(&v));
        }
    }
}
