//! Problem management: finding and removing the cause of incidents.
//!
//! New -> Under investigation -> Root cause known -> Known error (cause and
//! workaround published for the desk) -> Resolved (permanent fix) -> Closed.
//! A problem may be reopened from Resolved or sent back to investigation
//! when its cause or workaround turns out wrong.

use serde::{Deserialize, Serialize};

use crate::error::Problems;
use crate::record::ChangeSet;
use crate::{text, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    UnderInvestigation,
    RootCauseKnown,
    KnownError,
    Resolved,
    Closed,
}

impl State {
    pub const ALL: [State; 6] = [
        State::New,
        State::UnderInvestigation,
        State::RootCauseKnown,
        State::KnownError,
        State::Resolved,
        State::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::UnderInvestigation => "under_investigation",
            State::RootCauseKnown => "root_cause_known",
            State::KnownError => "known_error",
            State::Resolved => "resolved",
            State::Closed => "closed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        State::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            DomainError::field(
                field,
                "must be new, under_investigation, root_cause_known, known_error, resolved or closed",
            )
        })
    }

    pub fn is_open(self) -> bool {
        !matches!(self, State::Resolved | State::Closed)
    }

    /// No step leads out of a final state.
    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// The states one step away. Closing straight from New or investigation
    /// is how a problem that is not one (a duplicate, a one-off) is dropped.
    pub fn next(self) -> &'static [State] {
        use State::*;
        match self {
            New => &[UnderInvestigation, Closed],
            UnderInvestigation => &[RootCauseKnown, KnownError, Resolved, Closed],
            RootCauseKnown => &[UnderInvestigation, KnownError, Resolved],
            KnownError => &[UnderInvestigation, Resolved],
            Resolved => &[UnderInvestigation, Closed],
            Closed => &[],
        }
    }

    pub fn can_go_to(self, to: State) -> bool {
        self.next().contains(&to)
    }
}

/// How the root cause was analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcaMethod {
    FiveWhys,
    Ishikawa,
    FaultTree,
    Other,
}

impl RcaMethod {
    pub const ALL: [RcaMethod; 4] = [RcaMethod::FiveWhys, RcaMethod::Ishikawa, RcaMethod::FaultTree, RcaMethod::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            RcaMethod::FiveWhys => "five_whys",
            RcaMethod::Ishikawa => "ishikawa",
            RcaMethod::FaultTree => "fault_tree",
            RcaMethod::Other => "other",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        RcaMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| DomainError::field(field, "must be five_whys, ishikawa, fault_tree or other"))
    }
}

/// What resolving a problem does to its open linked incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnResolve {
    /// A journal line on each: the people working them decide.
    #[default]
    Notify,
    /// Each is resolved with the permanent fix.
    Resolve,
}

impl OnResolve {
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        match s {
            "notify" => Ok(OnResolve::Notify),
            "resolve" => Ok(OnResolve::Resolve),
            _ => Err(DomainError::field(field, "must be notify or resolve")),
        }
    }
}

/// What an open linked incident is told when its problem is resolved: its
/// journal line or resolution notes. Cut to the notes' limit, since a fix
/// may be as long as they are and must not keep the problem from resolving.
pub fn resolved_line(number: &str, fix: &str) -> String {
    format!("Problem {number} is resolved: {fix}").chars().take(text::LONG_TEXT_MAX).collect()
}

/// What the state rules look at: the analysis so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysis {
    pub root_cause: Option<String>,
    pub workaround: Option<String>,
    pub permanent_fix: Option<String>,
}

/// Checks that a problem may enter `to` from `from` with this analysis: a
/// root cause must be written down before it is "known", a known error also
/// needs a workaround (that is what the desk applies), and a resolution
/// needs the permanent fix. Staying in a state needs what entering it
/// did: naming the current state must not be a way around that.
pub fn check_transition(from: State, to: State, a: &Analysis) -> Result<(), DomainError> {
    if from == to {
        return check_requirements(to, a);
    }
    if !from.can_go_to(to) {
        return Err(DomainError::Transition { from: from.as_str(), to: to.as_str() });
    }
    let mut p = Problems::new();
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if matches!(to, State::RootCauseKnown | State::KnownError) && !has(&a.root_cause) {
        p.push("root_cause", format!("is required for {}", to.as_str()));
    }
    if to == State::KnownError && !has(&a.workaround) {
        p.push("workaround", "is required to publish a known error");
    }
    if to == State::Resolved && !has(&a.permanent_fix) {
        p.push("permanent_fix", "is required to resolve a problem");
    }
    p.into_result()
}

/// A problem as the rest of the program sees it. Instants are microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub id: i64,
    pub number: String,
    pub version: i64,
    pub state: State,
    pub short_description: String,
    pub description: String,
    pub created_by: i64,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub priority: i64,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub root_cause: Option<String>,
    pub rca_method: Option<RcaMethod>,
    pub contributing_factors: Option<String>,
    pub workaround: Option<String>,
    pub permanent_fix: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
}

impl Problem {
    pub fn analysis(&self) -> Analysis {
        Analysis {
            root_cause: self.root_cause.clone(),
            workaround: self.workaround.clone(),
            permanent_fix: self.permanent_fix.clone(),
        }
    }
    /// Published to the desk as a known error: the cause and a workaround are known.
    pub fn is_known_error(&self) -> bool {
        self.state == State::KnownError
    }
}

/// A change to a problem: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    pub short_description: Option<String>,
    pub description: Option<String>,
    pub priority: Option<i64>,
    pub state: Option<String>,
    pub assignment_group_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub service_id: Option<Option<i64>>,
    pub category_id: Option<Option<i64>>,
    pub root_cause: Option<Option<String>>,
    pub rca_method: Option<Option<String>>,
    pub contributing_factors: Option<Option<String>>,
    pub workaround: Option<Option<String>>,
    pub permanent_fix: Option<Option<String>>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        *self == Patch::default()
    }
}

pub fn check_priority(field: &str, p: i64) -> Result<i64, DomainError> {
    if (1..=5).contains(&p) {
        Ok(p)
    } else {
        Err(DomainError::field(field, "must be from 1 (critical) to 5 (planning)"))
    }
}

fn optional_text(p: &mut Problems, field: &str, v: Option<String>) -> Option<String> {
    let v = v?;
    p.check(text::body(field, &v, text::LONG_TEXT_MAX)).filter(|s| !s.trim().is_empty())
}

/// Applies a patch, or says everything wrong with it. References are the
/// store's to check.
pub fn apply_patch(old: &Problem, p: Patch, now: i64) -> Result<Problem, DomainError> {
    let mut problems = Problems::new();
    let mut new = old.clone();
    if old.state == State::Closed {
        return Err(DomainError::field("state", "a closed problem cannot be changed"));
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
    if let Some(pr) = p.priority {
        if let Some(v) = problems.check(check_priority("priority", pr)) {
            new.priority = v;
        }
    }
    if let Some(g) = p.assignment_group_id {
        new.assignment_group_id = g;
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
    if let Some(s) = p.service_id {
        new.service_id = s;
    }
    if let Some(c) = p.category_id {
        new.category_id = c;
    }
    if let Some(v) = p.root_cause {
        new.root_cause = optional_text(&mut problems, "root_cause", v);
    }
    if let Some(v) = p.rca_method {
        new.rca_method = v.and_then(|m| problems.check(RcaMethod::parse("rca_method", &m)));
    }
    if let Some(v) = p.contributing_factors {
        new.contributing_factors = optional_text(&mut problems, "contributing_factors", v);
    }
    if let Some(v) = p.workaround {
        new.workaround = optional_text(&mut problems, "workaround", v);
    }
    if let Some(v) = p.permanent_fix {
        new.permanent_fix = optional_text(&mut problems, "permanent_fix", v);
    }
    // The analysis this patch leaves must hold for the state it leaves the
    // problem in: a patch that names the current state, or none, is checked
    // against what that state needs, as one that enters it is. (Clearing
    // the workaround of a published known error is refused, not kept.)
    let to = match &p.state {
        Some(s) => problems.check(State::parse("state", s)),
        None => Some(old.state),
    };
    if let Some(to) = to {
        if problems.check(check_transition(old.state, to, &new.analysis())).is_some() && to != old.state {
            match to {
                State::Resolved => new.resolved_at = Some(now),
                State::Closed => new.closed_at = Some(now),
                State::UnderInvestigation => new.resolved_at = None,
                _ => {}
            }
            new.state = to;
        }
    }
    problems.into_result()?;
    if new != *old {
        new.updated_at = now;
    }
    Ok(new)
}

/// What a state needs, checked when a problem stays in it: what entering
/// it needed (see [`check_transition`]) cannot be cleared while it is there.
fn check_requirements(state: State, a: &Analysis) -> Result<(), DomainError> {
    let mut p = Problems::new();
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if matches!(state, State::RootCauseKnown | State::KnownError) && !has(&a.root_cause) {
        p.push("root_cause", format!("cannot be cleared while the problem is {}", state.as_str()));
    }
    if state == State::KnownError && !has(&a.workaround) {
        p.push("workaround", "cannot be cleared while the problem is a known error");
    }
    if state == State::Resolved && !has(&a.permanent_fix) {
        p.push("permanent_fix", "cannot be cleared while the problem is resolved");
    }
    p.into_result()
}

/// The fields the audit trail follows.
pub fn diff(old: &Problem, new: &Problem) -> ChangeSet {
    let mut cs = ChangeSet::default();
    cs.record("short_description", &Some(&old.short_description), &Some(&new.short_description));
    cs.record("description", &Some(&old.description), &Some(&new.description));
    cs.record("state", &Some(old.state.as_str()), &Some(new.state.as_str()));
    cs.record("priority", &Some(old.priority), &Some(new.priority));
    cs.record("assignment_group_id", &old.assignment_group_id, &new.assignment_group_id);
    cs.record("assignee_id", &old.assignee_id, &new.assignee_id);
    cs.record("service_id", &old.service_id, &new.service_id);
    cs.record("category_id", &old.category_id, &new.category_id);
    cs.record("root_cause", &old.root_cause, &new.root_cause);
    cs.record("rca_method", &old.rca_method.map(|m| m.as_str()), &new.rca_method.map(|m| m.as_str()));
    cs.record("contributing_factors", &old.contributing_factors, &new.contributing_factors);
    cs.record("workaround", &old.workaround, &new.workaround);
    cs.record("permanent_fix", &old.permanent_fix, &new.permanent_fix);
    cs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn problem() -> Problem {
        Problem {
            id: 1,
            number: "PRB0000001".into(),
            version: 1,
            state: State::New,
            short_description: "Printers drop jobs".into(),
            description: String::new(),
            created_by: 1,
            assignment_group_id: None,
            assignee_id: None,
            priority: 3,
            service_id: None,
            category_id: None,
            root_cause: None,
            rca_method: None,
            contributing_factors: None,
            workaround: None,
            permanent_fix: None,
            created_at: 0,
            updated_at: 0,
            resolved_at: None,
            closed_at: None,
        }
    }

    fn to(p: &Problem, state: &str) -> Result<Problem, DomainError> {
        apply_patch(p, Patch { state: Some(state.into()), ..Patch::default() }, 10)
    }

    #[test]
    fn a_fix_of_any_allowed_length_fits_the_incidents_notes() {
        let fix = "x".repeat(text::LONG_TEXT_MAX);
        let line = resolved_line("PRB0000001", &fix);
        assert_eq!(line.chars().count(), text::LONG_TEXT_MAX);
        assert!(text::required_body("resolution_notes", &line, text::LONG_TEXT_MAX).is_ok());
        assert_eq!(resolved_line("PRB0000001", "Firmware 9.2"), "Problem PRB0000001 is resolved: Firmware 9.2");
    }

    #[test]
    fn known_error_needs_cause_and_workaround() {
        let p = to(&problem(), "under_investigation").unwrap();
        match to(&p, "known_error") {
            Err(DomainError::Invalid(e)) => {
                let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["root_cause", "workaround"]);
            }
            other => panic!("{other:?}"),
        }
        let patch = Patch {
            state: Some("known_error".into()),
            root_cause: Some(Some("Spooler leaks handles".into())),
            workaround: Some(Some("Restart the spooler".into())),
            rca_method: Some(Some("five_whys".into())),
            ..Patch::default()
        };
        let p = apply_patch(&p, patch, 20).unwrap();
        assert!(p.is_known_error());
        assert_eq!(p.updated_at, 20);
        // Clearing the workaround of a published known error is refused.
        assert!(apply_patch(&p, Patch { workaround: Some(None), ..Patch::default() }, 30).is_err());
        let p = apply_patch(
            &p,
            Patch {
                state: Some("resolved".into()),
                permanent_fix: Some(Some("Driver 4.2".into())),
                ..Patch::default()
            },
            40,
        )
        .unwrap();
        assert_eq!(p.resolved_at, Some(40));
        let p = to(&p, "closed").unwrap();
        assert_eq!(p.closed_at, Some(10));
        assert!(to(&p, "under_investigation").is_err());
    }

    /// Naming the current state does not get around what it needs: the
    /// cause and workaround of a known error, the fix of a resolved problem.
    #[test]
    fn staying_in_a_state_keeps_what_it_needs() {
        let fields = |r: Result<Problem, DomainError>| match r {
            Err(DomainError::Invalid(e)) => e.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let investigating = to(&problem(), "under_investigation").unwrap();
        let publish = Patch {
            state: Some("known_error".into()),
            root_cause: Some(Some("Spooler leaks handles".into())),
            workaround: Some(Some("Restart the spooler".into())),
            ..Patch::default()
        };
        let known = apply_patch(&investigating, publish, 20).unwrap();
        let empty = Patch {
            state: Some("known_error".into()),
            root_cause: Some(None),
            workaround: Some(None),
            ..Patch::default()
        };
        assert_eq!(fields(apply_patch(&known, empty.clone(), 30)), ["root_cause", "workaround"]);
        let blank = Patch { workaround: Some(Some("  ".into())), ..empty };
        assert_eq!(fields(apply_patch(&known, blank, 30)), ["root_cause", "workaround"]);

        let fix = Patch {
            state: Some("resolved".into()),
            permanent_fix: Some(Some("Driver 4.2".into())),
            ..Patch::default()
        };
        let resolved = apply_patch(&known, fix, 40).unwrap();
        for clear in [
            Patch { permanent_fix: Some(None), ..Patch::default() },
            Patch { state: Some("resolved".into()), permanent_fix: Some(None), ..Patch::default() },
        ] {
            assert_eq!(fields(apply_patch(&resolved, clear, 50)), ["permanent_fix"]);
        }
        // Leaving the state is what lets go of its needs.
        let reopen = Patch { state: Some("under_investigation".into()), permanent_fix: Some(None), ..Patch::default() };
        let reopened = apply_patch(&resolved, reopen, 60).unwrap();
        assert_eq!((reopened.state, reopened.permanent_fix), (State::UnderInvestigation, None));
    }

    #[test]
    fn bad_method_and_priority_are_named() {
        let patch = Patch { rca_method: Some(Some("guessing".into())), priority: Some(9), ..Patch::default() };
        match apply_patch(&problem(), patch, 1) {
            Err(DomainError::Invalid(e)) => assert_eq!(e.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    fn analysis() -> impl Strategy<Value = Analysis> {
        let t = prop::option::of(prop_oneof![Just(String::new()), Just("x".to_string())]);
        (t.clone(), t.clone(), t).prop_map(|(r, w, f)| Analysis { root_cause: r, workaround: w, permanent_fix: f })
    }

    proptest! {
        /// Only listed edges are taken, and a known error always has a cause
        /// and a workaround, a resolved problem a permanent fix: whether the
        /// step enters the state or stays in it.
        #[test]
        fn transitions_keep_invariants(steps in prop::collection::vec((prop::sample::select(State::ALL.to_vec()), analysis()), 0..30)) {
            let mut state = State::New;
            for (to, a) in steps {
                if check_transition(state, to, &a).is_ok() {
                    prop_assert!(to == state || state.can_go_to(to));
                    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
                    if matches!(to, State::RootCauseKnown | State::KnownError) { prop_assert!(has(&a.root_cause)); }
                    if to == State::KnownError { prop_assert!(has(&a.workaround)); }
                    if to == State::Resolved { prop_assert!(has(&a.permanent_fix)); }
                    state = to;
                }
                prop_assert!(state != State::Closed || State::Closed.next().is_empty());
            }
        }
    }
}
