//! Incident management: the life cycle of an unplanned interruption.
//!
//! New -> In progress -> On hold (with a reason) -> Resolved (code and notes)
//! -> Closed, with Cancelled as the other way out and reopen from Resolved.

use serde::{Deserialize, Serialize};

use crate::{text, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    InProgress,
    OnHold,
    Resolved,
    Closed,
    Cancelled,
}

impl State {
    pub const ALL: [State; 6] = [
        State::New,
        State::InProgress,
        State::OnHold,
        State::Resolved,
        State::Closed,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::InProgress => "in_progress",
            State::OnHold => "on_hold",
            State::Resolved => "resolved",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                DomainError::field(
                    field,
                    "must be new, in_progress, on_hold, resolved, closed or cancelled",
                )
            })
    }

    /// Open means someone still has work to do on it.
    pub fn is_open(self) -> bool {
        matches!(self, State::New | State::InProgress | State::OnHold)
    }

    /// No step leads out of a final state.
    pub fn is_final(self) -> bool {
        matches!(self, State::Closed | State::Cancelled)
    }

    /// The states one step away.
    pub fn next(self) -> &'static [State] {
        use State::*;
        match self {
            New => &[InProgress, OnHold, Resolved, Cancelled],
            InProgress => &[OnHold, Resolved, Cancelled],
            OnHold => &[InProgress, Resolved, Cancelled],
            // Back to in progress is a reopen.
            Resolved => &[InProgress, Closed],
            Closed | Cancelled => &[],
        }
    }

    pub fn can_go_to(self, to: State) -> bool {
        self.next().contains(&to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    AwaitingCaller,
    AwaitingSupplier,
    AwaitingChange,
}

impl HoldReason {
    pub const ALL: [HoldReason; 3] = [
        HoldReason::AwaitingCaller,
        HoldReason::AwaitingSupplier,
        HoldReason::AwaitingChange,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::AwaitingCaller => "awaiting_caller",
            HoldReason::AwaitingSupplier => "awaiting_supplier",
            HoldReason::AwaitingChange => "awaiting_change",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        HoldReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                DomainError::field(
                    field,
                    "must be awaiting_caller, awaiting_supplier or awaiting_change",
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionCode {
    Fixed,
    Workaround,
    NotReproducible,
    UserError,
    Duplicate,
    ResolvedByCaller,
}

impl ResolutionCode {
    pub const ALL: [ResolutionCode; 6] = [
        ResolutionCode::Fixed,
        ResolutionCode::Workaround,
        ResolutionCode::NotReproducible,
        ResolutionCode::UserError,
        ResolutionCode::Duplicate,
        ResolutionCode::ResolvedByCaller,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionCode::Fixed => "fixed",
            ResolutionCode::Workaround => "workaround",
            ResolutionCode::NotReproducible => "not_reproducible",
            ResolutionCode::UserError => "user_error",
            ResolutionCode::Duplicate => "duplicate",
            ResolutionCode::ResolvedByCaller => "resolved_by_caller",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        ResolutionCode::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            DomainError::field(field, "must be fixed, workaround, not_reproducible, user_error, duplicate or resolved_by_caller")
        })
    }
}

/// The part of an incident the life cycle rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub state: State,
    pub hold_reason: Option<HoldReason>,
    pub resolution_code: Option<ResolutionCode>,
    pub resolution_notes: Option<String>,
    pub reopen_count: i64,
    /// Set when the incident went from New straight to Resolved without
    /// being passed to another group or person: resolved at first contact.
    pub first_contact: bool,
}

impl Lifecycle {
    pub fn new() -> Self {
        Lifecycle {
            state: State::New,
            hold_reason: None,
            resolution_code: None,
            resolution_notes: None,
            reopen_count: 0,
            first_contact: false,
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

/// A requested step in the life cycle, with what that step needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Start,
    Hold(HoldReason),
    Resolve { code: ResolutionCode, notes: String },
    Close,
    Cancel,
    Reopen,
}

impl Step {
    pub fn target(&self) -> State {
        match self {
            Step::Start | Step::Reopen => State::InProgress,
            Step::Hold(_) => State::OnHold,
            Step::Resolve { .. } => State::Resolved,
            Step::Close => State::Closed,
            Step::Cancel => State::Cancelled,
        }
    }

    /// Builds a step from the target state and the fields that go with it,
    /// as they arrive from a form or a JSON patch.
    pub fn from_parts(
        from: State,
        to: State,
        hold_reason: Option<&str>,
        resolution_code: Option<&str>,
        resolution_notes: Option<&str>,
    ) -> Result<Step, DomainError> {
        let mut problems = crate::error::Problems::new();
        let step = match to {
            State::New => return Err(transition(from, to)),
            State::InProgress if from == State::Resolved => Step::Reopen,
            State::InProgress => Step::Start,
            State::OnHold => match hold_reason {
                Some(r) => problems
                    .check(HoldReason::parse("hold_reason", r))
                    .map(Step::Hold)
                    .unwrap_or(Step::Cancel),
                None => {
                    problems.push("hold_reason", "is required to put an incident on hold");
                    Step::Cancel
                }
            },
            State::Resolved => {
                let code = match resolution_code {
                    Some(c) => problems.check(ResolutionCode::parse("resolution_code", c)),
                    None => {
                        problems.push("resolution_code", "is required to resolve");
                        None
                    }
                };
                let notes = problems.check(text::required_body(
                    "resolution_notes",
                    resolution_notes.unwrap_or(""),
                    text::LONG_TEXT_MAX,
                ));
                match (code, notes) {
                    (Some(code), Some(notes)) => Step::Resolve { code, notes },
                    _ => Step::Cancel,
                }
            }
            State::Closed => Step::Close,
            State::Cancelled => Step::Cancel,
        };
        problems.into_result()?;
        Ok(step)
    }
}

fn transition(from: State, to: State) -> DomainError {
    DomainError::Transition {
        from: from.as_str(),
        to: to.as_str(),
    }
}

/// Applies a step. `passed_on` says whether the incident was ever
/// re-assigned, which rules out first-contact resolution.
pub fn apply(current: &Lifecycle, step: Step, passed_on: bool) -> Result<Lifecycle, DomainError> {
    let to = step.target();
    if !current.state.can_go_to(to) {
        return Err(transition(current.state, to));
    }
    let mut next = current.clone();
    next.state = to;
    if to != State::OnHold {
        next.hold_reason = None;
    }
    match step {
        Step::Hold(reason) => next.hold_reason = Some(reason),
        Step::Resolve { code, notes } => {
            next.resolution_code = Some(code);
            next.resolution_notes = Some(notes);
            next.first_contact =
                current.state == State::New && !passed_on && current.reopen_count == 0;
        }
        Step::Reopen => {
            next.reopen_count += 1;
            next.first_contact = false;
            next.resolution_code = None;
            next.resolution_notes = None;
        }
        Step::Start | Step::Close | Step::Cancel => {}
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resolve() -> Step {
        Step::Resolve {
            code: ResolutionCode::Fixed,
            notes: "Restarted the spooler".into(),
        }
    }

    #[test]
    fn happy_path() {
        let l = Lifecycle::new();
        let l = apply(&l, Step::Start, false).unwrap();
        let l = apply(&l, Step::Hold(HoldReason::AwaitingCaller), false).unwrap();
        assert_eq!(l.hold_reason, Some(HoldReason::AwaitingCaller));
        let l = apply(&l, Step::Start, false).unwrap();
        assert_eq!(l.hold_reason, None);
        let l = apply(&l, resolve(), false).unwrap();
        assert_eq!(l.state, State::Resolved);
        assert!(!l.first_contact);
        let l = apply(&l, Step::Close, false).unwrap();
        assert!(l.state.is_final());
        assert!(apply(&l, Step::Reopen, false).is_err());
    }

    #[test]
    fn first_contact_needs_no_hand_over() {
        let l = apply(&Lifecycle::new(), resolve(), false).unwrap();
        assert!(l.first_contact);
        let l = apply(&Lifecycle::new(), resolve(), true).unwrap();
        assert!(!l.first_contact);
    }

    #[test]
    fn reopen_counts_and_clears_resolution() {
        let l = apply(&Lifecycle::new(), resolve(), false).unwrap();
        let l = apply(&l, Step::Reopen, false).unwrap();
        assert_eq!(l.reopen_count, 1);
        assert_eq!(l.state, State::InProgress);
        assert_eq!(l.resolution_code, None);
        assert!(!l.first_contact);
    }

    #[test]
    fn from_parts_demands_what_a_step_needs() {
        assert!(Step::from_parts(State::New, State::OnHold, None, None, None).is_err());
        match Step::from_parts(
            State::New,
            State::Resolved,
            None,
            Some("nonsense"),
            Some(" "),
        ) {
            Err(DomainError::Invalid(errs)) => assert_eq!(errs.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Step::from_parts(State::Resolved, State::InProgress, None, None, None).unwrap(),
            Step::Reopen
        );
        assert!(Step::from_parts(State::InProgress, State::New, None, None, None).is_err());
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Start),
            prop::sample::select(HoldReason::ALL.to_vec()).prop_map(Step::Hold),
            prop::sample::select(ResolutionCode::ALL.to_vec()).prop_map(|code| Step::Resolve {
                code,
                notes: "n".into()
            }),
            Just(Step::Close),
            Just(Step::Cancel),
            Just(Step::Reopen),
        ]
    }

    proptest! {
        /// Whatever sequence of steps is tried, the life cycle only ever takes
        /// allowed edges, keeps its invariants, and refused steps change nothing.
        #[test]
        fn random_walks_keep_invariants(steps in prop::collection::vec((step(), any::<bool>()), 0..40)) {
            let mut l = Lifecycle::new();
            let mut reopens = 0;
            for (s, passed_on) in steps {
                let before = l.clone();
                match apply(&l, s.clone(), passed_on) {
                    Ok(next) => {
                        prop_assert!(before.state.can_go_to(next.state));
                        if s == Step::Reopen { reopens += 1; }
                        l = next;
                    }
                    Err(_) => {
                        prop_assert!(!before.state.can_go_to(s.target()));
                        prop_assert_eq!(&l, &before);
                    }
                }
                prop_assert_eq!(l.hold_reason.is_some(), l.state == State::OnHold);
                prop_assert_eq!(l.reopen_count, reopens);
                if l.state == State::Resolved {
                    prop_assert!(l.resolution_code.is_some() && l.resolution_notes.is_some());
                }
                if l.first_contact {
                    prop_assert_eq!(l.reopen_count, 0);
                }
            }
        }

        #[test]
        fn final_states_have_no_way_out(to in prop::sample::select(State::ALL.to_vec())) {
            prop_assert!(!State::Closed.can_go_to(to));
            prop_assert!(!State::Cancelled.can_go_to(to));
            prop_assert!(!State::New.can_go_to(State::New) && !to.can_go_to(State::New));
        }
    }
}

/// An incident as the rest of the program sees it. Instants are microseconds
/// since the Unix epoch, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub number: String,
    pub version: i64,
    pub short_description: String,
    pub description: String,
    pub requester_id: i64,
    pub created_by: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub impact: crate::priority::Level,
    pub urgency: crate::priority::Level,
    pub priority: crate::priority::Priority,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub lifecycle: Lifecycle,
    pub reassignment_count: i64,
    pub major: bool,
    pub channel: Channel,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
}

impl Serialize for Lifecycle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Lifecycle", 6)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("hold_reason", &self.hold_reason)?;
        st.serialize_field("resolution_code", &self.resolution_code)?;
        st.serialize_field("resolution_notes", &self.resolution_notes)?;
        st.serialize_field("reopen_count", &self.reopen_count)?;
        st.serialize_field("first_contact", &self.first_contact)?;
        st.end()
    }
}

/// How the incident reached the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Portal,
    Phone,
    Email,
    WalkIn,
    Api,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Portal,
        Channel::Phone,
        Channel::Email,
        Channel::WalkIn,
        Channel::Api,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Portal => "portal",
            Channel::Phone => "phone",
            Channel::Email => "email",
            Channel::WalkIn => "walk_in",
            Channel::Api => "api",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                DomainError::field(field, "must be portal, phone, email, walk_in or api")
            })
    }
}
