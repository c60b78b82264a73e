//! Agreements: SLAs (with a customer organisation, for services), OLAs (with
//! an internal assignment group) and underpinning contracts (with a
//! supplier), their targets and warning thresholds, and the rules that turn
//! a record's fields into the clocks it should have and whether each runs.

use serde::{Deserialize, Serialize};

use crate::error::Problems;
use crate::incident::{HoldReason, State};
use crate::sla::clock::Wanted;
use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Sla,
    Ola,
    Uc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sla => "sla",
            Kind::Ola => "ola",
            Kind::Uc => "uc",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Kind, DomainError> {
        match s {
            "sla" => Ok(Kind::Sla),
            "ola" => Ok(Kind::Ola),
            "uc" => Ok(Kind::Uc),
            _ => Err(DomainError::field(field, "must be sla, ola or uc")),
        }
    }
}

/// What counts as the first response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseOn {
    /// The first reply an agent sends to the requester.
    FirstReply,
    /// Assignment to a person.
    Assignment,
    /// Whichever comes first.
    #[default]
    Either,
}

/// What a reopen does to a stopped resolution clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReopenPolicy {
    /// Runs on from the time it had (the resolution was not one).
    #[default]
    Resume,
    /// Starts the target afresh.
    Restart,
}

/// When a target is reached and its clock stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOn {
    /// The first response (see [`ResponseOn`]).
    Response,
    /// Work started: the record left New.
    InProgress,
    /// Resolved (or closed).
    Resolution,
}

/// One target: `minutes` of business time on a calendar, for a priority
/// (and optionally a service or category).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `response`, `resolution` or any other name (a named target).
    pub name: String,
    /// Defaults: `response` stops on response, every other name on resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_on: Option<StopOn>,
    /// 1 to 5; absent = any priority.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub service_id: Option<i64>,
    #[serde(default)]
    pub category_id: Option<i64>,
    pub minutes: i64,
    /// A business calendar; absent = 24x7.
    #[serde(default)]
    pub calendar_id: Option<i64>,
}

impl Target {
    pub fn stop_on(&self) -> StopOn {
        self.stop_on.unwrap_or(if self.name == "response" { StopOn::Response } else { StopOn::Resolution })
    }
    pub fn micros(&self) -> i64 {
        self.minutes * 60_000_000
    }
    fn matches(&self, f: &Facts) -> bool {
        self.priority.is_none_or(|p| p == f.priority)
            && self.service_id.is_none_or(|s| Some(s) == f.service_id)
            && self.category_id.is_none_or(|c| Some(c) == f.category_id)
    }
    /// More specific targets win: service and category over priority only.
    fn specificity(&self) -> u8 {
        self.priority.is_some() as u8 + 2 * self.category_id.is_some() as u8 + 4 * self.service_id.is_some() as u8
    }
}

/// Who is told, or what is done, when a threshold is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// An in-app notification to the assignee, to every member of the group,
    /// or to the group's manager.
    Notify { to: Recipient },
    /// Re-assign the record to another group.
    Reassign { group_id: i64 },
    /// Raise the priority one step (urgency up, then impact up).
    RaisePriority,
    /// Flag the record as escalated.
    Escalate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    Assignee,
    Group,
    /// The manager of the record's assignment group, if it names one.
    Manager,
}

/// At `percent` of the target (100 = the breach), do `actions`, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub percent: i64,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// Which records an agreement covers; every non-empty list must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub organisations: Vec<i64>,
    #[serde(default)]
    pub services: Vec<i64>,
    #[serde(default)]
    pub priorities: Vec<i64>,
    /// Record types; today `incident`.
    #[serde(default)]
    pub types: Vec<String>,
}

pub const RECORD_TYPES: &[&str] = &["incident"];

/// An agreement as it is configured and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSpec {
    pub name: String,
    pub kind: Kind,
    #[serde(default = "yes")]
    pub active: bool,
    /// SLA: the customer; absent = every customer.
    #[serde(default)]
    pub customer_organisation_id: Option<i64>,
    /// SLA: the services covered; empty = every service.
    #[serde(default)]
    pub service_ids: Vec<i64>,
    /// OLA: the internal group. Its clocks run only while the record is with it.
    #[serde(default)]
    pub group_id: Option<i64>,
    /// UC: the supplier. Its clocks run only while the record awaits it.
    #[serde(default)]
    pub supplier_id: Option<i64>,
    #[serde(default)]
    pub conditions: Conditions,
    pub targets: Vec<Target>,
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<Threshold>,
    /// Hold reasons that pause SLA and OLA clocks.
    #[serde(default = "default_pause_on")]
    pub pause_on: Vec<HoldReason>,
    #[serde(default)]
    pub response_on: ResponseOn,
    #[serde(default)]
    pub reopen: ReopenPolicy,
}

fn yes() -> bool {
    true
}

pub fn default_thresholds() -> Vec<Threshold> {
    let notify = vec![Action::Notify { to: Recipient::Assignee }, Action::Notify { to: Recipient::Group }];
    vec![
        Threshold { percent: 75, actions: notify.clone() },
        Threshold { percent: 90, actions: notify.clone() },
        Threshold { percent: 100, actions: [notify, vec![Action::Escalate]].concat() },
    ]
}

pub fn default_pause_on() -> Vec<HoldReason> {
    vec![HoldReason::AwaitingCaller, HoldReason::AwaitingSupplier]
}

pub const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

impl AgreementSpec {
    /// Every rule the spec breaks, at once. References (organisations,
    /// services, groups, suppliers, calendars) are checked by the store.
    /// The lists that are sets (services, conditions, pause reasons) in one
    /// order without repeats, so that the same agreement is stored the same
    /// way however it was sent (API or form).
    pub fn normalise(&mut self) {
        fn set<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        set(&mut self.service_ids);
        set(&mut self.conditions.organisations);
        set(&mut self.conditions.services);
        set(&mut self.conditions.priorities);
        set(&mut self.conditions.types);
        self.pause_on.sort_by_key(|r| r.as_str());
        self.pause_on.dedup();
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut p = Problems::new();
        if let Err(e) = crate::text::line("name", &self.name, 200) {
            p.check::<()>(Err(e));
        }
        match self.kind {
            Kind::Sla => {
                if self.group_id.is_some() || self.supplier_id.is_some() {
                    p.push(
                        "kind",
                        "an SLA is with a customer: set customer_organisation_id, not group_id or supplier_id",
                    );
                }
            }
            Kind::Ola => {
                if self.group_id.is_none() {
                    p.push("group_id", "an OLA needs the internal group it is with");
                }
                if self.supplier_id.is_some() || self.customer_organisation_id.is_some() {
                    p.push("kind", "an OLA is with a group: set group_id only");
                }
            }
            Kind::Uc => {
                if self.supplier_id.is_none() {
                    p.push("supplier_id", "an underpinning contract needs the supplier it is with");
                }
                if self.group_id.is_some() || self.customer_organisation_id.is_some() {
                    p.push("kind", "an underpinning contract is with a supplier: set supplier_id only");
                }
            }
        }
        if self.targets.is_empty() {
            p.push("targets", "needs at least one target");
        }
        for (i, t) in self.targets.iter().enumerate() {
            let f = |x: &str| format!("targets[{i}].{x}");
            if t.name.trim().is_empty() || t.name.len() > 100 {
                p.push(f("name"), "must be 1 to 100 characters");
            }
            if t.minutes <= 0 || t.minutes > MAX_TARGET_MINUTES {
                p.push(f("minutes"), "must be from 1 minute to a year");
            }
            if t.priority.is_some_and(|p| !(1..=5).contains(&p)) {
                p.push(f("priority"), "must be from 1 to 5");
            }
            let same = self.targets[..i].iter().any(|o| {
                o.name == t.name
                    && o.priority == t.priority
                    && o.service_id == t.service_id
                    && o.category_id == t.category_id
            });
            if same {
                p.push(f("name"), "another target has the same name for the same priority, service and category");
            }
        }
        let mut seen = Vec::new();
        for (i, th) in self.thresholds.iter().enumerate() {
            if !(1..=100).contains(&th.percent) {
                p.push(format!("thresholds[{i}].percent"), "must be from 1 to 100 (100 = at breach)");
            }
            if seen.contains(&th.percent) {
                p.push(format!("thresholds[{i}].percent"), "is listed twice");
            }
            seen.push(th.percent);
        }
        for pr in &self.conditions.priorities {
            if !(1..=5).contains(pr) {
                p.push("conditions.priorities", "must be priorities from 1 to 5");
            }
        }
        for t in &self.conditions.types {
            if !RECORD_TYPES.contains(&t.as_str()) {
                p.push("conditions.types", format!("must be record types: {}", RECORD_TYPES.join(", ")));
            }
        }
        p.into_result()
    }

    /// The party the agreement is with, which keys its clocks: 0 for an SLA
    /// (one customer per record), the group for an OLA, the supplier for a UC.
    pub fn party(&self) -> i64 {
        match self.kind {
            Kind::Sla => 0,
            Kind::Ola => self.group_id.unwrap_or(0),
            Kind::Uc => self.supplier_id.unwrap_or(0),
        }
    }
}

/// A stored agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    pub id: i64,
    pub version: i64,
    #[serde(flatten)]
    pub spec: AgreementSpec,
}

/// The fields of a record the agreements look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub record_type: &'static str,
    /// The requester's organisation.
    pub organisation_id: Option<i64>,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub priority: i64,
    pub state: State,
    pub hold_reason: Option<HoldReason>,
    pub group_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub assigned: bool,
    /// An agent has replied to the requester.
    pub replied: bool,
}

impl Agreement {
    /// Whether the agreement covers a record with these facts (for OLAs and
    /// UCs, whether its clocks exist at all is decided in [`plan`]).
    pub fn covers(&self, f: &Facts) -> bool {
        let s = &self.spec;
        let c = &s.conditions;
        s.active
            && (c.organisations.is_empty() || f.organisation_id.is_some_and(|o| c.organisations.contains(&o)))
            && (c.services.is_empty() || f.service_id.is_some_and(|v| c.services.contains(&v)))
            && (c.priorities.is_empty() || c.priorities.contains(&f.priority))
            && (c.types.is_empty() || c.types.iter().any(|t| t == f.record_type))
            && match s.kind {
                Kind::Sla => {
                    s.customer_organisation_id.is_none_or(|o| f.organisation_id == Some(o))
                        && (s.service_ids.is_empty() || f.service_id.is_some_and(|v| s.service_ids.contains(&v)))
                }
                Kind::Ola | Kind::Uc => true,
            }
    }

    /// The target of this name that fits the facts best.
    pub fn target_for(&self, name: &str, f: &Facts) -> Option<&Target> {
        self.spec.targets.iter().filter(|t| t.name == name && t.matches(f)).max_by_key(|t| t.specificity())
    }

    /// Is the record with this agreement's party now?
    fn with_party(&self, f: &Facts) -> bool {
        match self.spec.kind {
            Kind::Sla => true,
            Kind::Ola => f.group_id.is_some() && f.group_id == self.spec.group_id,
            Kind::Uc => {
                f.state == State::OnHold
                    && f.hold_reason == Some(HoldReason::AwaitingSupplier)
                    && f.supplier_id.is_some()
                    && f.supplier_id == self.spec.supplier_id
            }
        }
    }

    /// Whether the clock of `target` should now be stopped and running.
    pub fn wanted(&self, target: &Target, f: &Facts) -> Wanted {
        let s = &self.spec;
        let responded = match s.response_on {
            ResponseOn::FirstReply => f.replied,
            ResponseOn::Assignment => f.assigned,
            ResponseOn::Either => f.replied || f.assigned,
        };
        let done = matches!(f.state, State::Resolved | State::Closed);
        let stopped = match target.stop_on() {
            StopOn::Response => responded || done,
            StopOn::InProgress => f.state != State::New,
            StopOn::Resolution => done,
        };
        let held = f.state == State::OnHold && f.hold_reason.is_some_and(|h| s.pause_on.contains(&h));
        let running = !stopped
            && f.state.is_open()
            && match s.kind {
                Kind::Sla => !held,
                Kind::Ola => self.with_party(f) && !held,
                Kind::Uc => self.with_party(f),
            };
        Wanted {
            applies: f.state != State::Cancelled,
            stopped,
            running,
            restart_on_reopen: s.reopen == ReopenPolicy::Restart,
            stop_is_final: matches!(target.stop_on(), StopOn::Response | StopOn::InProgress),
        }
    }
}

/// The key of a clock on a record: kind, party and target name. A clock
/// keeps its key (and so its spans) when another agreement of the same kind
/// and party takes over, which is how a change of agreement keeps the time
/// already elapsed and paused.
pub fn clock_key(kind: Kind, party: i64, target: &str) -> String {
    format!("{}:{party}:{target}", kind.as_str())
}

/// A clock the record should have now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub key: String,
    pub kind: Kind,
    pub party: i64,
    pub agreement_id: i64,
    pub target: Target,
    pub want: Wanted,
}

/// The clocks a record with `facts` should have, given the clocks it has
/// (`existing` keys). Agreements are taken in id order; when two of the same
/// kind and party both cover a record, the older one (lower id) holds the
/// clock. An OLA's or UC's clocks come into being the first time the record
/// is with its party. Existing clocks nothing covers any more are planned as
/// not applying (cancelled, their spans kept).
pub fn plan(agreements: &[Agreement], f: &Facts, existing: &[String]) -> Vec<Planned> {
    let mut sorted: Vec<&Agreement> = agreements.iter().collect();
    sorted.sort_by_key(|a| a.id);
    let mut out: Vec<Planned> = Vec::new();
    for a in sorted {
        if !a.covers(f) {
            continue;
        }
        let mut names: Vec<&str> = a.spec.targets.iter().map(|t| t.name.as_str()).collect();
        names.dedup();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let Some(target) = a.target_for(name, f) else { continue };
            let key = clock_key(a.spec.kind, a.spec.party(), name);
            if out.iter().any(|p| p.key == key) {
                continue;
            }
            if !existing.contains(&key) && !a.with_party(f) {
                continue;
            }
            out.push(Planned {
                want: a.wanted(target, f),
                key,
                kind: a.spec.kind,
                party: a.spec.party(),
                agreement_id: a.id,
                target: target.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            record_type: "incident",
            organisation_id: Some(1),
            service_id: Some(10),
            category_id: None,
            priority: 2,
            state: State::New,
            hold_reason: None,
            group_id: None,
            supplier_id: None,
            assigned: false,
            replied: false,
        }
    }

    fn target(name: &str, priority: Option<i64>, minutes: i64) -> Target {
        Target {
            name: name.into(),
            stop_on: None,
            priority,
            service_id: None,
            category_id: None,
            minutes,
            calendar_id: None,
        }
    }

    fn sla(id: i64, kind: Kind) -> Agreement {
        Agreement {
            id,
            version: 1,
            spec: AgreementSpec {
                name: format!("a{id}"),
                kind,
                active: true,
                customer_organisation_id: None,
                service_ids: vec![],
                group_id: (kind == Kind::Ola).then_some(5),
                supplier_id: (kind == Kind::Uc).then_some(7),
                conditions: Conditions::default(),
                targets: vec![target("response", None, 60), target("resolution", Some(2), 480)],
                thresholds: default_thresholds(),
                pause_on: default_pause_on(),
                response_on: ResponseOn::Either,
                reopen: ReopenPolicy::Resume,
            },
        }
    }

    #[test]
    fn validation_names_every_problem() {
        let mut s = sla(1, Kind::Ola).spec;
        s.group_id = None;
        s.targets.push(target("response", None, 0));
        s.thresholds.push(Threshold { percent: 75, actions: vec![] });
        match s.validate() {
            Err(DomainError::Invalid(e)) => {
                let fields: Vec<_> = e.iter().map(|x| x.field.as_str()).collect();
                assert!(fields.contains(&"group_id"), "{fields:?}");
                assert!(fields.contains(&"targets[2].minutes"), "{fields:?}");
                assert!(fields.contains(&"targets[2].name"), "{fields:?}");
                assert!(fields.contains(&"thresholds[3].percent"), "{fields:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(sla(1, Kind::Sla).spec.validate().is_ok());
    }

    #[test]
    fn conditions_decide_coverage() {
        let mut a = sla(1, Kind::Sla);
        assert!(a.covers(&facts()));
        a.spec.customer_organisation_id = Some(2);
        assert!(!a.covers(&facts()));
        a.spec.customer_organisation_id = Some(1);
        a.spec.service_ids = vec![11];
        assert!(!a.covers(&facts()));
        a.spec.service_ids = vec![10];
        a.spec.conditions.priorities = vec![1];
        assert!(!a.covers(&facts()));
        a.spec.conditions.priorities = vec![1, 2];
        assert!(a.covers(&facts()));
        a.spec.active = false;
        assert!(!a.covers(&facts()));
    }

    #[test]
    fn targets_per_priority_and_the_most_specific_wins() {
        let mut a = sla(1, Kind::Sla);
        let mut f = facts();
        assert_eq!(a.target_for("resolution", &f).unwrap().minutes, 480);
        f.priority = 3;
        assert!(a.target_for("resolution", &f).is_none());
        a.spec.targets.push(Target { service_id: Some(10), ..target("response", None, 15) });
        assert_eq!(a.target_for("response", &f).unwrap().minutes, 15);
    }

    #[test]
    fn plan_keys_clocks_by_kind_party_and_name() {
        let f = facts();
        let keys: Vec<_> = plan(&[sla(2, Kind::Sla), sla(1, Kind::Sla)], &f, &[])
            .into_iter()
            .map(|p| (p.key, p.agreement_id))
            .collect();
        assert_eq!(keys, vec![("sla:0:resolution".to_string(), 1), ("sla:0:response".to_string(), 1)]);
        // An OLA's clocks exist once the record is with its group.
        assert!(plan(&[sla(3, Kind::Ola)], &f, &[]).is_empty());
        let with = Facts { group_id: Some(5), ..f.clone() };
        let p = plan(&[sla(3, Kind::Ola)], &with, &[]);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.want.running || p.want.stopped));
        // ... and stay, not running, when it moves on.
        let moved = Facts { group_id: Some(6), ..f.clone() };
        let p = plan(&[sla(3, Kind::Ola)], &moved, &["ola:5:resolution".into()]);
        assert_eq!(p.len(), 1);
        assert!(!p[0].want.running && !p[0].want.stopped);
    }

    #[test]
    fn holds_pause_sla_and_run_uc() {
        let a = sla(1, Kind::Sla);
        let uc = sla(2, Kind::Uc);
        let t = target("resolution", None, 60);
        let mut f = facts();
        f.state = State::OnHold;
        f.hold_reason = Some(HoldReason::AwaitingSupplier);
        f.supplier_id = Some(7);
        assert!(!a.wanted(&t, &f).running);
        assert!(uc.wanted(&t, &f).running);
        f.hold_reason = Some(HoldReason::AwaitingChange);
        assert!(a.wanted(&t, &f).running);
        assert!(!uc.wanted(&t, &f).running);
        f.state = State::Resolved;
        assert!(a.wanted(&t, &f).stopped);
        f.state = State::Cancelled;
        assert!(!a.wanted(&t, &f).applies);
    }

    #[test]
    fn response_follows_the_configured_event() {
        let mut a = sla(1, Kind::Sla);
        let t = target("response", None, 60);
        let assigned = Facts { assigned: true, ..facts() };
        let replied = Facts { replied: true, ..facts() };
        assert!(a.wanted(&t, &assigned).stopped && a.wanted(&t, &replied).stopped);
        a.spec.response_on = ResponseOn::FirstReply;
        assert!(!a.wanted(&t, &assigned).stopped && a.wanted(&t, &replied).stopped);
        a.spec.response_on = ResponseOn::Assignment;
        assert!(a.wanted(&t, &assigned).stopped && !a.wanted(&t, &replied).stopped);
    }
}
