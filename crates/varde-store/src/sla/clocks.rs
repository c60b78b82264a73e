//! Clocks on records. [`evaluate_in`] runs inside the transaction of every
//! record write that can move a clock (create, update, agent reply, supplier
//! change), so a clock is never behind the record it measures, and nothing
//! is lost on a restart: the clock is its stored spans.

use std::collections::HashMap;

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::incident::{HoldReason, State};
use varde_domain::sla::agreement::{self, Agreement, Facts, Planned};
use varde_domain::sla::clock::{self, Clock, ClockState, Event, Span, WorkingTime};

use super::agreements::active_in;
use super::worktime::{self, Calendars};
use crate::sql::{engine_of, json_param, json_rows, Arg, JsonCol, Sql};
use crate::{now_micros, Engine, Store, StoreError};

#[derive(Debug, Clone, FromRow)]
pub(crate) struct ClockRow {
    pub id: i64,
    pub record_id: i64,
    pub clock_key: String,
    pub kind: String,
    pub party_id: i64,
    pub target_name: String,
    pub agreement_id: i64,
    pub target_us: i64,
    pub calendar_id: Option<i64>,
    pub state: String,
    pub spans: String,
    pub running_since: Option<i64>,
    pub stopped_at: Option<i64>,
    pub cancelled: i64,
    pub elapsed_us: i64,
    pub due_at: Option<i64>,
    pub started_at: i64,
    pub fired: String,
    pub version: i64,
    /// The record's priority when the target was chosen (`None`: written
    /// before Varde kept it).
    pub priority: Option<i64>,
}

pub(crate) const CLOCK_COLUMNS: &str =
    "id, record_id, clock_key, kind, party_id, target_name, agreement_id, target_us, \
    calendar_id, state, spans, running_since, stopped_at, cancelled, elapsed_us, due_at, started_at, fired, version, priority";

impl ClockRow {
    pub(crate) fn clock(&self) -> Result<Clock, StoreError> {
        let spans: Vec<(i64, i64)> = serde_json::from_str(&self.spans)
            .map_err(|e| StoreError::corrupt(format!("spans of clock {}: {e}", self.id)))?;
        Ok(Clock {
            spans: spans.into_iter().map(|(start, end)| Span { start, end }).collect(),
            running_since: self.running_since,
            stopped_at: self.stopped_at,
            cancelled: self.cancelled != 0,
        })
    }
    /// The thresholds (percents) fired for the clock's target as it is.
    pub(crate) fn fired(&self) -> Vec<i64> {
        self.fired_set().for_target(self.target_us)
    }
    pub(crate) fn fired_set(&self) -> FiredSet {
        FiredSet::parse(&self.fired, self.target_us)
    }
}

/// The thresholds a clock has fired, each with the longest target it fired
/// for: `PCT:TARGET_US`, comma-separated (`fired` column). A percent fired
/// for a target counts as fired for that target and every shorter one (a
/// shorter target's same percent came earlier), not for a longer one, which
/// warns again at its own time. So a target lowered and raised back does not
/// warn twice, and a target lowered does warn. An entry without a target
/// (written before targets were kept) fired for the clock's target.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FiredSet(Vec<(i64, i64)>);

impl FiredSet {
    fn parse(text: &str, target: i64) -> FiredSet {
        let mut set = FiredSet::default();
        for entry in text.split(',') {
            let parsed = match entry.split_once(':') {
                Some((p, t)) => p.parse().ok().zip(t.parse().ok()),
                None => entry.parse().ok().map(|p| (p, target)),
            };
            if let Some((p, t)) = parsed {
                set.push(p, t);
            }
        }
        set
    }

    /// The percents that count as fired for `target`, in order.
    pub(crate) fn for_target(&self, target: i64) -> Vec<i64> {
        let mut out: Vec<i64> = self.0.iter().filter(|(_, t)| *t >= target).map(|(p, _)| *p).collect();
        out.sort_unstable();
        out
    }

    /// Every percent fired for some target, with that target.
    pub(crate) fn entries(&self) -> &[(i64, i64)] {
        &self.0
    }

    pub(crate) fn push(&mut self, percent: i64, target: i64) {
        match self.0.iter_mut().find(|(p, _)| *p == percent) {
            Some(e) => e.1 = e.1.max(target),
            None => self.0.push((percent, target)),
        }
    }

    pub(crate) fn text(&self) -> String {
        self.0.iter().map(|(p, t)| format!("{p}:{t}")).collect::<Vec<_>>().join(",")
    }
}

pub(crate) fn spans_json(c: &Clock) -> String {
    let v: Vec<(i64, i64)> = c.spans.iter().map(|s| (s.start, s.end)).collect();
    serde_json::to_string(&v).expect("spans serialise")
}

/// Figures derived from a clock at `now`, as stored beside its spans.
pub(crate) struct Derived {
    pub state: ClockState,
    pub elapsed_us: i64,
    pub due_at: Option<i64>,
}

pub(crate) fn derive(c: &Clock, cal: &dyn WorkingTime, target: i64, now: i64) -> Derived {
    let due_at = if c.is_running() && !c.is_stopped() && !c.cancelled { c.instant_at(cal, target) } else { None };
    let at = c.stopped_at.unwrap_or(now);
    Derived { state: c.state(cal, target, now), elapsed_us: c.elapsed(cal, at), due_at }
}

/// A clock as callers see it, with live figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    pub id: i64,
    pub record_id: i64,
    pub kind: String,
    pub party_id: i64,
    pub target_name: String,
    pub agreement_id: i64,
    pub agreement_name: String,
    pub target_us: i64,
    pub calendar_id: Option<i64>,
    pub state: String,
    pub running: bool,
    pub due_at: Option<i64>,
    pub elapsed_us: i64,
    pub remaining_us: i64,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    pub fired: Vec<i64>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ClockEventRow {
    pub id: i64,
    pub clock_id: i64,
    pub record_id: i64,
    pub at: i64,
    pub event: String,
    pub detail: String,
}

/// The fields of a record the agreements look at; `None` for a record that
/// is not an incident.
pub(crate) async fn facts_in(conn: &mut AnyConnection, record_id: i64) -> Result<Option<Facts>, StoreError> {
    #[allow(clippy::type_complexity)]
    let row: Option<(
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        i64,
    )> = sqlx::query_as(
        "SELECT r.state, r.priority, r.assignment_group_id, r.assignee_id, i.service_id, i.category_id, i.hold_reason,
                i.supplier_id, u.organisation_id,
                (SELECT COUNT(*) FROM journal j JOIN users a ON a.id = j.author_id
                 WHERE j.record_id = r.id AND j.kind = 'reply' AND a.role <> 'requester')
             FROM records r JOIN incidents i ON i.record_id = r.id JOIN users u ON u.id = r.requester_id
             WHERE r.id = $1",
    )
    .bind(record_id)
    .fetch_optional(conn)
    .await?;
    let Some((state, priority, group, assignee, service, category, hold, supplier, org, replies)) = row else {
        return Ok(None);
    };
    let bad = |w: &str| StoreError::corrupt(format!("{w} of record {record_id}"));
    Ok(Some(Facts {
        record_type: "incident",
        organisation_id: org,
        service_id: service,
        category_id: category,
        priority,
        state: State::parse("", &state).map_err(|_| bad("state"))?,
        hold_reason: hold.as_deref().map(|h| HoldReason::parse("", h)).transpose().map_err(|_| bad("hold_reason"))?,
        group_id: group,
        supplier_id: supplier,
        assigned: assignee.is_some(),
        replied: replies > 0,
    }))
}

pub(crate) async fn event_in(
    conn: &mut AnyConnection,
    clock_id: i64,
    record_id: i64,
    at: i64,
    event: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sla_clock_events (clock_id, record_id, at, event, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(clock_id)
        .bind(record_id)
        .bind(at)
        .bind(event)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the incident row of `record_id` (PostgreSQL; it waits for a writer
/// that holds it): a record's clocks are written only by a holder of its
/// incident row, taken after the record's own row (`records` module). The
/// recompute after a calendar change relies on it (`timers.rs`). Within a
/// write that updated the incident already, this costs a statement only.
pub(crate) async fn hold_in(conn: &mut AnyConnection, record_id: i64) -> Result<(), StoreError> {
    if engine_of(conn) == Engine::Postgres {
        sqlx::query("SELECT record_id FROM incidents WHERE record_id = $1 FOR NO KEY UPDATE")
            .bind(record_id)
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Brings the record's clocks in line with its fields as they are now (in
/// this transaction). Called by every record write that can move a clock,
/// holding the record's row (or creating the record).
pub(crate) async fn evaluate_in(conn: &mut AnyConnection, record_id: i64, now: i64) -> Result<(), StoreError> {
    hold_in(conn, record_id).await?;
    let agreements = active_in(conn).await?;
    evaluate_with(conn, &agreements, record_id, now).await
}

/// [`evaluate_in`] against agreements the caller already read, for a
/// write that evaluates many records at once (the bulk import).
pub(crate) async fn evaluate_with(
    conn: &mut AnyConnection,
    agreements: &[Agreement],
    record_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<ClockRow> =
        sqlx::query_as(&format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE record_id = $1 ORDER BY id"))
            .bind(record_id)
            .fetch_all(&mut *conn)
            .await?;
    if agreements.is_empty() && rows.is_empty() {
        return Ok(());
    }
    let Some(facts) = facts_in(conn, record_id).await? else { return Ok(()) };
    apply_plan(conn, record_id, &facts, agreements, rows, now).await
}

pub(crate) async fn apply_plan(
    conn: &mut AnyConnection,
    record_id: i64,
    facts: &Facts,
    agreements: &[Agreement],
    rows: Vec<ClockRow>,
    now: i64,
) -> Result<(), StoreError> {
    let keys: Vec<String> = rows.iter().map(|r| r.clock_key.clone()).collect();
    let planned = agreement::plan(agreements, facts, &keys);
    let mut cal_ids: Vec<i64> = planned.iter().filter_map(|p| p.target.calendar_id).collect();
    cal_ids.extend(rows.iter().filter_map(|r| r.calendar_id));
    let cals = worktime::load_in(conn, &cal_ids).await?;
    let mut dues: Vec<i64> = Vec::new();
    let mut fresh: Vec<&Planned> = Vec::new();
    for p in &planned {
        match rows.iter().find(|r| r.clock_key == p.key) {
            Some(row) => {
                dues.extend(update_clock(conn, row, Some((p, facts.priority)), false, agreements, &cals, now).await?)
            }
            None => fresh.push(p),
        }
    }
    dues.extend(insert_clocks(conn, record_id, facts.priority, &fresh, agreements, &cals, now).await?);
    for row in rows.iter().filter(|r| !planned.iter().any(|p| p.key == r.clock_key)) {
        update_clock(conn, row, None, facts.state == State::Cancelled, agreements, &cals, now).await?;
    }
    let due = dues.into_iter().min();
    // Written only when it moved: most evaluations move nothing, and on
    // PostgreSQL every written row is a new row version.
    sqlx::query("UPDATE incidents SET sla_due = $1 WHERE record_id = $2 AND sla_due IS DISTINCT FROM $1")
        .bind(due)
        .bind(record_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn thresholds_of(agreements: &[Agreement], id: i64) -> Vec<i64> {
    agreements
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.spec.thresholds.iter().map(|t| t.percent).collect())
        .unwrap_or_default()
}

fn agreement_name(agreements: &[Agreement], id: i64) -> String {
    agreements.iter().find(|a| a.id == id).map(|a| a.spec.name.clone()).unwrap_or_else(|| format!("#{id}"))
}

/// The agreement `id` from the active ones, or read when it is no longer
/// active (a clock moving off one switched off, or a breach kept on one);
/// `None` when it is gone.
async fn agreement_among(
    conn: &mut AnyConnection,
    agreements: &[Agreement],
    id: i64,
) -> Result<Option<Agreement>, StoreError> {
    if let Some(a) = agreements.iter().find(|a| a.id == id) {
        return Ok(Some(a.clone()));
    }
    match super::agreements::agreement_in(conn, id).await {
        Ok(a) => Ok(Some(a)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Inserts the clocks a record gains, with their first events and timers:
/// one statement of each kind however many clocks there are (a create gains
/// all of its clocks at once, and on PostgreSQL every statement is a round
/// trip). Returns the due instants of the running ones.
async fn insert_clocks(
    conn: &mut AnyConnection,
    record_id: i64,
    priority: i64,
    fresh: &[&Planned],
    agreements: &[Agreement],
    cals: &Calendars,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    use JsonCol::{Int, Text};
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let engine = engine_of(conn);
    let mut rows: Vec<serde_json::Value> = Vec::with_capacity(fresh.len());
    let mut started: Vec<(Clock, Vec<Event>, Derived)> = Vec::with_capacity(fresh.len());
    for p in fresh {
        let mut c = Clock::new();
        let events = clock::steps(&c, p.want);
        for e in &events {
            c.apply(*e, now);
        }
        let d = derive(&c, cals.get(p.target.calendar_id).as_ref(), p.target.micros(), now);
        rows.push(serde_json::json!([
            p.key,
            p.kind.as_str(),
            p.party,
            p.target.name,
            p.agreement_id,
            p.target.micros(),
            p.target.calendar_id,
            d.state.as_str(),
            spans_json(&c),
            c.running_since,
            c.stopped_at,
            c.cancelled as i64,
            d.elapsed_us,
            d.due_at
        ]));
        started.push((c, events, d));
    }
    let v = json_rows(
        engine,
        1,
        &[
            ("clock_key", Text),
            ("kind", Text),
            ("party_id", Int),
            ("target_name", Text),
            ("agreement_id", Int),
            ("target_us", Int),
            ("calendar_id", Int),
            ("state", Text),
            ("spans", Text),
            ("running_since", Int),
            ("stopped_at", Int),
            ("cancelled", Int),
            ("elapsed_us", Int),
            ("due_at", Int),
        ],
    );
    let made: Vec<(i64, String)> = sqlx::query_as(&format!(
        "INSERT INTO sla_clocks (record_id, clock_key, kind, party_id, target_name, agreement_id, target_us, calendar_id,
            state, spans, running_since, stopped_at, cancelled, elapsed_us, due_at, started_at, fired, version, updated_at,
            priority)
         SELECT $2, v.clock_key, v.kind, v.party_id, v.target_name, v.agreement_id, v.target_us, v.calendar_id,
            v.state, v.spans, v.running_since, v.stopped_at, v.cancelled, v.elapsed_us, v.due_at, $3, '', 1, $3, $4
         FROM {v} AS v RETURNING id, clock_key"
    ))
    .bind(json_param(&rows))
    .bind(record_id)
    .bind(now)
    .bind(priority)
    .fetch_all(&mut *conn)
    .await?;
    // RETURNING order is not promised: a record's clock keys are unique.
    let id_of: HashMap<&str, i64> = made.iter().map(|(id, key)| (key.as_str(), *id)).collect();
    // [n, clock, event, detail]: `n` keeps the events in the order they
    // happened (history is read by id).
    let mut events: Vec<(usize, i64, &str, String)> = Vec::new();
    let mut timers: Vec<(String, String, i64)> = Vec::new();
    let mut dues = Vec::new();
    for (p, (c, steps, d)) in fresh.iter().zip(&started) {
        let id = *id_of.get(p.key.as_str()).ok_or_else(|| StoreError::corrupt("a new clock without its key"))?;
        let detail = format!("{} ({} min)", agreement_name(agreements, p.agreement_id), p.target.minutes);
        events.push((events.len(), id, "attach", detail));
        for e in steps {
            events.push((events.len(), id, e.as_str(), String::new()));
        }
        let percents = thresholds_of(agreements, p.agreement_id);
        let cal = cals.get(p.target.calendar_id);
        if let Some((_, at)) = clock::next_threshold(c, cal.as_ref(), p.target.micros(), &percents, &[]) {
            timers.push((super::timers::timer_key(id), super::timers::timer_payload(id, 1), at));
        }
        dues.extend(d.due_at);
    }
    let v = json_rows(engine, 1, &[("n", Int), ("clock_id", Int), ("event", Text), ("detail", Text)]);
    sqlx::query(&format!(
        "INSERT INTO sla_clock_events (clock_id, record_id, at, event, detail)
         SELECT v.clock_id, $2, $3, v.event, v.detail FROM {v} AS v ORDER BY v.n"
    ))
    .bind(json_param(&events))
    .bind(record_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // A new clock has no timer to replace (see `timers::schedule_in`).
    super::timers::insert_timers_in(conn, engine, &timers, now).await?;
    Ok(dues)
}

/// Moves an existing clock to its planned condition, planned for a record
/// of this priority (or cancels it when `p` is `None`); writes only when
/// something changed.
#[allow(clippy::too_many_arguments)]
async fn update_clock(
    conn: &mut AnyConnection,
    row: &ClockRow,
    p: Option<(&Planned, i64)>,
    record_cancelled: bool,
    agreements: &[Agreement],
    cals: &Calendars,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut c = row.clock()?;
    // A clock past its target has breached, whether it still runs or has
    // stopped so. Nothing done to the record afterwards takes that back: not
    // a lower priority or another agreement (a longer target), not the
    // agreement going, not cancelling the record, or each would be a way
    // out of every breach.
    let breached = if c.is_stopped() {
        row.state == ClockState::Breached.as_str()
    } else {
        derive(&c, cals.get(row.calendar_id).as_ref(), row.target_us, now).state == ClockState::Breached
    };
    // The record was cancelled: its agreement may still cover it, and then
    // its plan says the target no longer applies.
    let cancelling = record_cancelled || p.is_some_and(|(p, _)| !p.want.applies);
    let mut want = match p {
        Some((p, _)) if p.want.applies => p.want,
        // A stopped clock is a result (met or breached): a target that no
        // longer applies leaves it as it is, in the history and the reports.
        // A cancelled record takes its met results out of them; a breach
        // stays (above).
        _ if c.is_stopped() && (!cancelling || breached) => return Ok(None),
        // A running clock past its target ends as that result.
        _ if breached => clock::Wanted {
            applies: true,
            stopped: true,
            running: false,
            restart_on_reopen: false,
            stop_is_final: true,
        },
        _ => clock::Wanted {
            applies: false,
            stopped: false,
            running: false,
            restart_on_reopen: false,
            stop_is_final: false,
        },
    };
    // A breach is never measured afresh: a clock stopped as one resumes
    // (still breached) where a met one would restart. Otherwise taking a
    // target away (stopped as the breach, above) and giving it back would
    // restart the clock and take the breach out of the reports.
    want.restart_on_reopen &= !breached;
    let events = clock::steps(&c, want);
    // Likewise a new target (a priority change) applies to a clock still
    // measuring, or measuring again after a reopen, never to a result.
    let reopened = events.iter().any(|e| matches!(e, Event::Reopen | Event::Restart));
    // A restart measures afresh; a breach otherwise keeps the target it
    // breached (above).
    let restarted = events.contains(&Event::Restart);
    // The priority goes with the target: what a result was measured against
    // (the what-if replay pairs target changes with clocks by it).
    let (agreement_id, target, calendar_id, priority) = match p {
        Some((p, priority)) if (!c.is_stopped() || reopened) && (!breached || restarted) => {
            (p.agreement_id, p.target.micros(), p.target.calendar_id, Some(priority))
        }
        _ => (row.agreement_id, row.target_us, row.calendar_id, row.priority),
    };
    let retarget = agreement_id != row.agreement_id || target != row.target_us || calendar_id != row.calendar_id;
    let cal = cals.get(calendar_id);
    if events.is_empty() && !retarget && priority == row.priority {
        return Ok(if c.is_running() && !c.is_stopped() { row.due_at } else { None });
    }
    let mut fired = row.fired_set();
    for e in &events {
        c.apply(*e, now);
        if *e == Event::Restart {
            fired = FiredSet::default();
        }
    }
    if retarget {
        // A percent fired for a shorter target counts for a longer one only
        // if the longer one has reached it too (see `FiredSet`): a longer
        // target warns again at its own 50 % and breaches at its own 100 %,
        // but does not repeat a warning it is already past.
        let reached: Vec<i64> = fired
            .entries()
            .iter()
            .filter(|(pct, t)| {
                *t < target
                    && c.instant_at(cal.as_ref(), clock::threshold_amount(target, *pct)).is_some_and(|at| at <= now)
            })
            .map(|(pct, _)| *pct)
            .collect();
        for pct in reached {
            fired.push(pct, target);
        }
    }
    let d = derive(&c, cal.as_ref(), target, now);
    let version = row.version + 1;
    sqlx::query(
        "UPDATE sla_clocks SET agreement_id = $1, target_us = $2, calendar_id = $3, state = $4, spans = $5,
            running_since = $6, stopped_at = $7, cancelled = $8, elapsed_us = $9, due_at = $10, fired = $11,
            version = $12, updated_at = $13, priority = $14
         WHERE id = $15",
    )
    .bind(agreement_id)
    .bind(target)
    .bind(calendar_id)
    .bind(d.state.as_str())
    .bind(spans_json(&c))
    .bind(c.running_since)
    .bind(c.stopped_at)
    .bind(c.cancelled as i64)
    .bind(d.elapsed_us)
    .bind(d.due_at)
    .bind(fired.text())
    .bind(version)
    .bind(now)
    .bind(priority)
    .bind(row.id)
    .execute(&mut *conn)
    .await?;
    // The clock's agreement from now on; a breached clock may stay on one
    // since switched off, whose thresholds still time its pending timer.
    let agreement = agreement_among(conn, agreements, agreement_id).await?;
    if retarget {
        let name = |a: Option<&Agreement>, id: i64| a.map_or_else(|| format!("#{id}"), |a| a.spec.name.clone());
        let old = agreement_among(conn, agreements, row.agreement_id).await?;
        let detail = format!(
            "{} ({} min) -> {} ({} min)",
            name(old.as_ref(), row.agreement_id),
            row.target_us / 60_000_000,
            name(agreement.as_ref(), agreement_id),
            target / 60_000_000
        );
        event_in(conn, row.id, row.record_id, now, "retarget", &detail).await?;
    }
    for e in &events {
        event_in(conn, row.id, row.record_id, now, e.as_str(), "").await?;
    }
    let percents: Vec<i64> =
        agreement.map(|a| a.spec.thresholds.iter().map(|t| t.percent).collect()).unwrap_or_default();
    super::timers::schedule_in(conn, row.id, version, &c, cal.as_ref(), target, &percents, &fired.for_target(target))
        .await?;
    Ok(d.due_at)
}

pub(crate) fn view(
    row: &ClockRow,
    cal: &dyn WorkingTime,
    agreement_name: String,
    now: i64,
) -> Result<SlaClock, StoreError> {
    let c = row.clock()?;
    let mut d = derive(&c, cal, row.target_us, now);
    if c.is_stopped() || c.cancelled {
        // A result as it was measured when the clock stopped, on the
        // calendar of then, as the reports read it: a later calendar edit
        // does not turn a breach into a met target (ADR 0009).
        d.elapsed_us = row.elapsed_us;
        d.state =
            ClockState::parse(&row.state).ok_or_else(|| StoreError::corrupt(format!("state of clock {}", row.id)))?;
    }
    Ok(SlaClock {
        id: row.id,
        record_id: row.record_id,
        kind: row.kind.clone(),
        party_id: row.party_id,
        target_name: row.target_name.clone(),
        agreement_id: row.agreement_id,
        agreement_name,
        target_us: row.target_us,
        calendar_id: row.calendar_id,
        state: d.state.as_str().into(),
        running: c.is_running() && !c.is_stopped() && !c.cancelled,
        due_at: d.due_at,
        elapsed_us: d.elapsed_us,
        remaining_us: row.target_us - d.elapsed_us,
        started_at: row.started_at,
        stopped_at: c.stopped_at,
        fired: row.fired(),
        version: row.version,
    })
}

impl Store {
    /// The record's clocks with their figures as of now.
    pub async fn clocks(&self, record_id: i64) -> Result<Vec<SlaClock>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let rows: Vec<ClockRow> = sqlx::query_as(&format!(
            "SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE record_id = $1 ORDER BY kind, party_id, target_name"
        ))
        .bind(record_id)
        .fetch_all(&mut *conn)
        .await?;
        let ids: Vec<i64> = rows.iter().filter_map(|r| r.calendar_id).collect();
        let cals = worktime::load_in(&mut conn, &ids).await?;
        let mut names: Vec<(i64, String)> = Vec::new();
        if !rows.is_empty() {
            let mut q = Sql::new("SELECT id, name FROM slas WHERE id IN ");
            q.bind_list(rows.iter().map(|r| Arg::Int(r.agreement_id)));
            names = q.query_as().fetch_all(&mut *conn).await?;
        }
        let now = now_micros();
        rows.iter()
            .map(|r| {
                let name =
                    names.iter().find(|(id, _)| *id == r.agreement_id).map(|(_, n)| n.clone()).unwrap_or_default();
                view(r, cals.get(r.calendar_id).as_ref(), name, now)
            })
            .collect()
    }

    /// The earliest due instant of each record's running clocks (`None`
    /// when none runs): the queue's "breaches next".
    pub async fn sla_dues(
        &self,
        record_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, Option<i64>>, StoreError> {
        if record_ids.is_empty() {
            return Ok(Default::default());
        }
        let mut q = Sql::new("SELECT record_id, sla_due FROM incidents WHERE record_id IN ");
        q.bind_list(record_ids.iter().map(|i| Arg::Int(*i)));
        let rows: Vec<(i64, Option<i64>)> = q.query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().collect())
    }

    /// Every clock event of the record, oldest first: the clock history.
    pub async fn clock_events(&self, record_id: i64) -> Result<Vec<ClockEventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, clock_id, record_id, at, event, detail FROM sla_clock_events WHERE record_id = $1 ORDER BY id",
        )
        .bind(record_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The supplier an incident is with, and whether it is escalated.
    pub async fn sla_flags(&self, record_id: i64) -> Result<(Option<i64>, bool), StoreError> {
        let row: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT supplier_id, escalated FROM incidents WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(self.pool())
                .await?;
        let (s, e) = row.ok_or(StoreError::NotFound)?;
        Ok((s, e != 0))
    }

    /// Sets (or clears) the supplier an incident is with, re-evaluating its
    /// clocks in the same transaction (a UC clock runs while the incident
    /// awaits its supplier).
    pub async fn set_supplier(&self, record_id: i64, supplier_id: Option<i64>, actor: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                // The record first, as every record write (`records::lock_in`).
                crate::records::lock_in(conn, record_id).await?;
                let old: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT supplier_id FROM incidents WHERE record_id = $1")
                        .bind(record_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let old = old.ok_or(StoreError::NotFound)?;
                if old == supplier_id {
                    return Ok(());
                }
                if let Some(s) = supplier_id {
                    if !crate::sql::exists(conn, "suppliers", s).await? {
                        return Err(StoreError::UnknownReference { field: "supplier_id" });
                    }
                }
                let now = now_micros();
                sqlx::query("UPDATE incidents SET supplier_id = $1 WHERE record_id = $2")
                    .bind(supplier_id)
                    .bind(record_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE records SET version = version + 1, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(record_id)
                    .execute(&mut *conn)
                    .await?;
                crate::audit::write(
                    conn,
                    crate::audit::Entity::Record,
                    record_id,
                    Some(actor),
                    now,
                    "supplier_id",
                    old.map(|v| v.to_string()).as_deref(),
                    supplier_id.map(|v| v.to_string()).as_deref(),
                )
                .await?;
                evaluate_in(conn, record_id, now).await
            }
            .boxed()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::FiredSet;

    #[test]
    fn fired_thresholds_count_for_their_target_and_shorter_ones() {
        // "50" was written before targets were kept: it fired for the
        // clock's target (60 here).
        let mut set = FiredSet::parse("50,75:600", 60);
        assert_eq!(set.for_target(60), [50, 75]);
        assert_eq!(set.for_target(30), [50, 75]);
        assert_eq!(set.for_target(600), [75], "a longer target warns at its own 50 %");
        set.push(50, 600);
        assert_eq!(set.for_target(600), [50, 75]);
        assert_eq!(FiredSet::parse(&set.text(), 1), set);
        assert_eq!(FiredSet::parse("", 60), FiredSet::default());
    }
}
