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
    pub const ALL: [State; 6] =
        [State::New, State::InProgress, State::OnHold, State::Resolved, State::Closed, State::Cancelled];

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
        State::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            DomainError::field(field, "must be new, in_progress, on_hold, resolved, closed or cancelled")
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
    pub const ALL: [HoldReason; 3] =
        [HoldReason::AwaitingCaller, HoldReason::AwaitingSupplier, HoldReason::AwaitingChange];
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
            .ok_or_else(|| DomainError::field(field, "must be awaiting_caller, awaiting_supplier or awaiting_change"))
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
            DomainError::field(
                field,
                "must be fixed, workaround, not_reproducible, user_error, duplicate or resolved_by_caller",
            )
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
                Some(r) => problems.check(HoldReason::parse("hold_reason", r)).map(Step::Hold).unwrap_or(Step::Cancel),
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
    DomainError::Transition { from: from.as_str(), to: to.as_str() }
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
            next.first_contact = current.state == State::New && !passed_on && current.reopen_count == 0;
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
        Step::Resolve { code: ResolutionCode::Fixed, notes: "Restarted the spooler".into() }
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
        match Step::from_parts(State::New, State::Resolved, None, Some("nonsense"), Some(" ")) {
            Err(DomainError::Invalid(errs)) => assert_eq!(errs.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(Step::from_parts(State::Resolved, State::InProgress, None, None, None).unwrap(), Step::Reopen);
        assert!(Step::from_parts(State::InProgress, State::New, None, None, None).is_err());
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Start),
            prop::sample::select(HoldReason::ALL.to_vec()).prop_map(Step::Hold),
            prop::sample::select(ResolutionCode::ALL.to_vec())
                .prop_map(|code| Step::Resolve { code, notes: "n".into() }),
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
    pub const ALL: [Channel; 5] = [Channel::Portal, Channel::Phone, Channel::Email, Channel::WalkIn, Channel::Api];
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
            .ok_or_else(|| DomainError::field(field, "must be portal, phone, email, walk_in or api"))
    }
}

/// A change an agent asks for; `None` leaves a field as it is, and
/// `Some(None)` clears an optional reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    pub short_description: Option<String>,
    pub description: Option<String>,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub category_id: Option<Option<i64>>,
    pub service_id: Option<Option<i64>>,
    pub assignment_group_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub major: Option<bool>,
    pub state: Option<String>,
    pub hold_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        *self == Patch::default()
    }
}

/// Applies a patch to an incident, or says everything that is wrong with it.
/// References (group, assignee, category, service) are checked for
/// existence by the store, which alone can see them.
pub fn apply_patch(
    old: &Incident,
    p: Patch,
    matrix: &crate::priority::PriorityMatrix,
    now: i64,
) -> Result<Incident, DomainError> {
    use crate::priority::Level;
    let mut problems = crate::error::Problems::new();
    let mut new = old.clone();
    let edits_fields = p.short_description.is_some()
        || p.description.is_some()
        || p.impact.is_some()
        || p.urgency.is_some()
        || p.category_id.is_some()
        || p.service_id.is_some()
        || p.assignment_group_id.is_some()
        || p.assignee_id.is_some()
        || p.major.is_some();
    if edits_fields && old.lifecycle.state.is_final() {
        return Err(DomainError::field(
            "state",
            format!("a {} incident cannot be changed", old.lifecycle.state.as_str()),
        ));
    }
    if let Some(s) = &p.short_description {
        if let Some(v) = problems.check(text::line("short_description", s, text::SHORT_DESCRIPTION_MAX)) {
            new.short_description = v;
        }
    }
    if let Some(d) = &p.description {
        if let Some(v) = problems.check(text::body("description", d, text::LONG_TEXT_MAX)) {
            new.description = v;
        }
    }
    if let Some(i) = p.impact {
        if let Some(v) = problems.check(Level::new("impact", i)) {
            new.impact = v;
        }
    }
    if let Some(u) = p.urgency {
        if let Some(v) = problems.check(Level::new("urgency", u)) {
            new.urgency = v;
        }
    }
    new.priority = matrix.priority(new.impact, new.urgency);
    if let Some(c) = p.category_id {
        new.category_id = c;
    }
    if let Some(s) = p.service_id {
        new.service_id = s;
    }
    if let Some(g) = p.assignment_group_id {
        new.assignment_group_id = g;
        // The assignee belongs to the old group; a new group starts unassigned
        // unless the same patch names a person in it.
        if g != old.assignment_group_id && p.assignee_id.is_none() {
            new.assignee_id = None;
        }
    }
    if let Some(a) = p.assignee_id {
        new.assignee_id = a;
    }
    if new.assignee_id.is_some() && new.assignment_group_id.is_none() {
        problems.push("assignee_id", "needs an assignment group: assign to a group first, then to a person in it");
    }
    if let Some(m) = p.major {
        new.major = m;
    }
    let handed_over = (old.assignment_group_id.is_some() && new.assignment_group_id != old.assignment_group_id)
        || (old.assignee_id.is_some() && new.assignee_id.is_some() && new.assignee_id != old.assignee_id);
    if handed_over {
        new.reassignment_count += 1;
    }
    if let Some(s) = &p.state {
        if let Some(to) = problems.check(State::parse("state", s)) {
            if to != old.lifecycle.state {
                let step = problems.check(Step::from_parts(
                    old.lifecycle.state,
                    to,
                    p.hold_reason.as_deref(),
                    p.resolution_code.as_deref(),
                    p.resolution_notes.as_deref(),
                ));
                if let Some(step) = step {
                    match apply(&old.lifecycle, step, new.reassignment_count > 0) {
                        Ok(l) => {
                            match l.state {
                                State::Resolved => new.resolved_at = Some(now),
                                State::InProgress if old.lifecycle.state == State::Resolved => new.resolved_at = None,
                                State::Closed | State::Cancelled => new.closed_at = Some(now),
                                _ => {}
                            }
                            new.lifecycle = l;
                        }
                        Err(e) => {
                            problems.check::<()>(Err(e));
                        }
                    }
                }
            }
        }
    }
    // The fields that go with a state, given without stepping into it: a
    // change to what the incident already is, or a mistake to name (never
    // a silent 200 that drops them).
    let stays = p.state.as_deref().is_none_or(|s| s == old.lifecycle.state.as_str());
    if stays {
        if let Some(r) = &p.hold_reason {
            if let Some(r) = problems.check(HoldReason::parse("hold_reason", r)) {
                if old.lifecycle.state == State::OnHold {
                    new.lifecycle.hold_reason = Some(r);
                } else {
                    problems.push("hold_reason", "goes with putting the incident on hold (state on_hold)");
                }
            }
        }
        if p.resolution_code.is_some() || p.resolution_notes.is_some() {
            // A resolved incident's resolution may be corrected until it
            // is closed; any other incident gets one by being resolved.
            if old.lifecycle.state == State::Resolved {
                if let Some(c) = &p.resolution_code {
                    if let Some(c) = problems.check(ResolutionCode::parse("resolution_code", c)) {
                        new.lifecycle.resolution_code = Some(c);
                    }
                }
                if let Some(n) = &p.resolution_notes {
                    if let Some(n) = problems.check(text::required_body("resolution_notes", n, text::LONG_TEXT_MAX)) {
                        new.lifecycle.resolution_notes = Some(n);
                    }
                }
            } else {
                let field = if p.resolution_code.is_some() { "resolution_code" } else { "resolution_notes" };
                let why = match old.lifecycle.state {
                    State::Closed | State::Cancelled => {
                        format!("a {} incident cannot be changed", old.lifecycle.state.as_str())
                    }
                    _ => "goes with resolving the incident (state resolved)".to_string(),
                };
                problems.push(field, why);
            }
        }
    }
    problems.into_result()?;
    if new != *old {
        new.updated_at = now;
    }
    Ok(new)
}

#[cfg(test)]
mod patch_tests {
    use super::*;
    use crate::priority::{Level, PriorityMatrix};

    fn incident() -> Incident {
        let m = PriorityMatrix::default();
        Incident {
            id: 1,
            number: "INC0000001".into(),
            version: 1,
            short_description: "Printer jams".into(),
            description: String::new(),
            requester_id: 10,
            created_by: 10,
            assignment_group_id: None,
            assignee_id: None,
            impact: Level::LOW,
            urgency: Level::LOW,
            priority: m.priority(Level::LOW, Level::LOW),
            category_id: None,
            service_id: None,
            lifecycle: Lifecycle::new(),
            reassignment_count: 0,
            major: false,
            channel: Channel::Portal,
            created_at: 0,
            updated_at: 0,
            resolved_at: None,
            closed_at: None,
        }
    }

    #[test]
    fn priority_follows_matrix() {
        let p = Patch { impact: Some(1), urgency: Some(1), ..Patch::default() };
        let n = apply_patch(&incident(), p, &PriorityMatrix::default(), 5).unwrap();
        assert_eq!(n.priority.get(), 1);
        assert_eq!(n.updated_at, 5);
    }

    #[test]
    fn all_errors_at_once_and_nothing_changes() {
        let p = Patch {
            short_description: Some("".into()),
            impact: Some(7),
            state: Some("resolved".into()),
            ..Patch::default()
        };
        match apply_patch(&incident(), p, &PriorityMatrix::default(), 5) {
            Err(DomainError::Invalid(errs)) => {
                let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
                assert!(fields.contains(&"short_description"));
                assert!(fields.contains(&"impact"));
                assert!(fields.contains(&"resolution_code"));
                assert!(fields.contains(&"resolution_notes"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn group_change_counts_as_reassignment_and_clears_assignee() {
        let mut i = incident();
        i.assignment_group_id = Some(1);
        i.assignee_id = Some(5);
        let n = apply_patch(
            &i,
            Patch { assignment_group_id: Some(Some(2)), ..Patch::default() },
            &PriorityMatrix::default(),
            1,
        )
        .unwrap();
        assert_eq!(n.assignee_id, None);
        assert_eq!(n.reassignment_count, 1);
        let first = apply_patch(
            &incident(),
            Patch { assignment_group_id: Some(Some(2)), ..Patch::default() },
            &PriorityMatrix::default(),
            1,
        )
        .unwrap();
        assert_eq!(first.reassignment_count, 0, "a first assignment is no re-assignment");
    }

    /// A resolution or hold reason given without its state step changes the
    /// incident it belongs to (a resolved one's resolution, an on-hold one's
    /// reason) and is refused elsewhere; never dropped with a 200.
    #[test]
    fn state_fields_without_their_step_apply_where_they_belong_or_are_refused() {
        let m = PriorityMatrix::default();
        let fields = |r: Result<Incident, DomainError>| match r {
            Err(DomainError::Invalid(errs)) => errs.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let notes = |n: &str| Patch { resolution_notes: Some(n.into()), ..Patch::default() };
        assert_eq!(fields(apply_patch(&incident(), notes("Fixed it"), &m, 1)), ["resolution_notes"]);
        let hold = Patch { hold_reason: Some("nonsense".into()), ..Patch::default() };
        assert_eq!(fields(apply_patch(&incident(), hold, &m, 1)), ["hold_reason"]);
        let hold = Patch { hold_reason: Some("awaiting_caller".into()), ..Patch::default() };
        assert_eq!(fields(apply_patch(&incident(), hold, &m, 1)), ["hold_reason"]);
        let resolve = Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Cleared the jam".into()),
            ..Patch::default()
        };
        let resolved = apply_patch(&incident(), resolve, &m, 1).unwrap();
        let corrected = apply_patch(&resolved, notes("Replaced the roller"), &m, 2).unwrap();
        assert_eq!(corrected.lifecycle.resolution_notes.as_deref(), Some("Replaced the roller"));
        assert_eq!(fields(apply_patch(&resolved, notes(" "), &m, 2)), ["resolution_notes"]);
        let recode =
            Patch { state: Some("resolved".into()), resolution_code: Some("workaround".into()), ..Patch::default() };
        let recoded = apply_patch(&resolved, recode, &m, 2).unwrap();
        assert_eq!(recoded.lifecycle.resolution_code.map(|c| c.as_str()), Some("workaround"));
        let mut on_hold = incident();
        on_hold.lifecycle.state = State::OnHold;
        on_hold.lifecycle.hold_reason = Some(HoldReason::AwaitingCaller);
        let hold = Patch { hold_reason: Some("awaiting_supplier".into()), ..Patch::default() };
        let moved = apply_patch(&on_hold, hold, &m, 2).unwrap();
        assert_eq!(moved.lifecycle.hold_reason, Some(HoldReason::AwaitingSupplier));
    }

    #[test]
    fn assignee_needs_group() {
        assert!(apply_patch(
            &incident(),
            Patch { assignee_id: Some(Some(3)), ..Patch::default() },
            &PriorityMatrix::default(),
            1
        )
        .is_err());
    }

    #[test]
    fn resolve_then_close_sets_instants_and_freezes() {
        let p = Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Cleared the jam".into()),
            ..Patch::default()
        };
        let r = apply_patch(&incident(), p, &PriorityMatrix::default(), 7).unwrap();
        assert_eq!(r.resolved_at, Some(7));
        assert!(r.lifecycle.first_contact);
        let c =
            apply_patch(&r, Patch { state: Some("closed".into()), ..Patch::default() }, &PriorityMatrix::default(), 9)
                .unwrap();
        assert_eq!(c.closed_at, Some(9));
        assert!(
            apply_patch(&c, Patch { major: Some(true), ..Patch::default() }, &PriorityMatrix::default(), 10).is_err()
        );
    }

    #[test]
    fn empty_patch_changes_nothing() {
        let i = incident();
        assert_eq!(apply_patch(&i, Patch::default(), &PriorityMatrix::default(), 99).unwrap(), i);
    }
}
