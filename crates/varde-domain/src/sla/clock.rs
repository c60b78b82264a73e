//! SLA clocks: how much business time a record has spent against one target.
//!
//! A clock is the list of spans during which it ran (wall-clock instants,
//! microseconds since the epoch, UTC), plus whether it was stopped. Every
//! derived figure (elapsed business time, due instant, the instant a warning
//! threshold is reached, met or breached) is computed from those spans and a
//! calendar, never stored as the only truth: a change of calendar or target
//! (priority change, another agreement applying) is then a recomputation
//! over the same spans, and time already elapsed or paused is never lost.

use serde::{Deserialize, Serialize};

/// Business-time arithmetic a clock needs from a calendar. Implemented by
/// the compiled business calendar and by [`Always`] (24x7).
pub trait WorkingTime: Send + Sync {
    /// The instant `business_us` of working time after `start` (before it
    /// when negative).
    fn add_us(&self, start: i64, business_us: i64) -> i64;
    /// Working time in `[from, to)`; zero when `to <= from`.
    fn between_us(&self, from: i64, to: i64) -> i64;
}

/// Every instant is working time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Always;

impl WorkingTime for Always {
    fn add_us(&self, start: i64, business_us: i64) -> i64 {
        start.saturating_add(business_us)
    }
    fn between_us(&self, from: i64, to: i64) -> i64 {
        (to - from).max(0)
    }
}

/// Microsecond instants as the store keeps them, over the business calendar.
impl WorkingTime for crate::sla::calendar::Calendar {
    fn add_us(&self, start: i64, business_us: i64) -> i64 {
        let Ok(t) = jiff::Timestamp::from_microsecond(start) else { return start };
        self.add(t, jiff::SignedDuration::from_micros(business_us)).as_microsecond()
    }
    fn between_us(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        match (jiff::Timestamp::from_microsecond(from), jiff::Timestamp::from_microsecond(to)) {
            (Ok(a), Ok(b)) => self.between(a, b).as_micros() as i64,
            _ => 0,
        }
    }
}

/// A span during which the clock ran: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Running,
    Paused,
    Met,
    Breached,
    /// No agreement applies any more (the record's fields changed); kept with
    /// its spans so that it resumes where it was if one applies again.
    Cancelled,
}

impl ClockState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Running => "running",
            ClockState::Paused => "paused",
            ClockState::Met => "met",
            ClockState::Breached => "breached",
            ClockState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<ClockState> {
        [ClockState::Running, ClockState::Paused, ClockState::Met, ClockState::Breached, ClockState::Cancelled]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One thing that happened to a clock; the clock history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Start,
    Pause,
    Resume,
    Stop,
    /// A stopped clock runs again (the record was reopened).
    Reopen,
    /// A reopen that starts the target afresh.
    Restart,
    Cancel,
    Revive,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Pause => "pause",
            Event::Resume => "resume",
            Event::Stop => "stop",
            Event::Reopen => "reopen",
            Event::Restart => "restart",
            Event::Cancel => "cancel",
            Event::Revive => "revive",
        }
    }
    pub fn parse(s: &str) -> Option<Event> {
        [
            Event::Start,
            Event::Pause,
            Event::Resume,
            Event::Stop,
            Event::Reopen,
            Event::Restart,
            Event::Cancel,
            Event::Revive,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// The running record of one target on one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Closed spans during which the clock ran, in order.
    pub spans: Vec<Span>,
    /// Set while the clock runs: the start of the open span.
    pub running_since: Option<i64>,
    /// Set once the clock was stopped (target reached by the record).
    pub stopped_at: Option<i64>,
    pub cancelled: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock that has not run yet (paused from the start).
    pub fn new() -> Clock {
        Clock { spans: Vec::new(), running_since: None, stopped_at: None, cancelled: false }
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }
    pub fn is_stopped(&self) -> bool {
        self.stopped_at.is_some()
    }

    /// Applies one event at `at`. Events that do not fit the clock's state
    /// (pausing a paused clock) change nothing and say so by returning false,
    /// so a caller records only what happened. Instants before the open span
    /// began are taken as its start: time never runs backwards on a clock.
    pub fn apply(&mut self, event: Event, at: i64) -> bool {
        match event {
            Event::Start | Event::Resume => {
                if self.running_since.is_some() || self.stopped_at.is_some() || self.cancelled {
                    return false;
                }
                let floor = self.spans.last().map(|s| s.end).unwrap_or(i64::MIN);
                self.running_since = Some(at.max(floor));
                true
            }
            Event::Pause => self.close_span(at),
            Event::Stop => {
                if self.stopped_at.is_some() || self.cancelled {
                    return false;
                }
                self.close_span(at);
                self.stopped_at = Some(at.max(self.spans.last().map(|s| s.end).unwrap_or(at)));
                true
            }
            Event::Reopen => {
                if self.stopped_at.is_none() || self.cancelled {
                    return false;
                }
                self.stopped_at = None;
                true
            }
            Event::Restart => {
                if self.stopped_at.is_none() || self.cancelled {
                    return false;
                }
                *self = Clock::new();
                true
            }
            Event::Cancel => {
                if self.cancelled {
                    return false;
                }
                self.close_span(at);
                self.cancelled = true;
                true
            }
            Event::Revive => {
                if !self.cancelled {
                    return false;
                }
                self.cancelled = false;
                true
            }
        }
    }

    fn close_span(&mut self, at: i64) -> bool {
        match self.running_since.take() {
            Some(start) => {
                let end = at.max(start);
                if end > start {
                    self.spans.push(Span { start, end });
                }
                true
            }
            None => false,
        }
    }

    /// Rebuilds a clock from its history, in order. What-if replays use this
    /// on the stored events.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a (Event, i64)>) -> Clock {
        let mut c = Clock::new();
        for (e, at) in events {
            c.apply(*e, *at);
        }
        c
    }

    /// Business time of the closed spans.
    pub fn closed_elapsed(&self, cal: &dyn WorkingTime) -> i64 {
        self.spans.iter().map(|s| cal.between_us(s.start, s.end)).sum()
    }

    /// Business time the clock has run up to `now`.
    pub fn elapsed(&self, cal: &dyn WorkingTime, now: i64) -> i64 {
        let open = match self.running_since {
            Some(s) => cal.between_us(s, now.max(s)),
            None => 0,
        };
        let closed: i64 = self.spans.iter().map(|s| cal.between_us(s.start, s.end.min(now))).sum();
        closed + open
    }

    /// The instant at which the clock has run `amount` of business time, if
    /// it has or will while it keeps running; `None` while paused (or stopped)
    /// short of it. For `amount` = the target this is the due instant; for a
    /// fraction of it, when a warning is due.
    pub fn instant_at(&self, cal: &dyn WorkingTime, amount: i64) -> Option<i64> {
        let mut left = amount;
        for s in &self.spans {
            let here = cal.between_us(s.start, s.end);
            if here >= left {
                // Reached inside this span; clamp so that a calendar whose
                // `add` lands on the next working instant stays in the span.
                return Some(cal.add_us(s.start, left.max(0)).min(s.end));
            }
            left -= here;
        }
        self.running_since.map(|rs| cal.add_us(rs, left))
    }

    /// The state at `now` against a target of `target` business time.
    pub fn state(&self, cal: &dyn WorkingTime, target: i64, now: i64) -> ClockState {
        if self.cancelled {
            return ClockState::Cancelled;
        }
        let at = self.stopped_at.map_or(now, |s| s.min(now));
        if self.elapsed(cal, at) > target {
            ClockState::Breached
        } else if self.stopped_at.is_some() {
            ClockState::Met
        } else if self.running_since.is_some() {
            ClockState::Running
        } else {
            ClockState::Paused
        }
    }
}

/// The earliest warning threshold (percent of `target`) not yet in `fired`
/// and the instant it is reached, for a clock that still runs towards it;
/// `None` when nothing is left to fire or the clock is paused, stopped or
/// cancelled (a paused clock reaches nothing until it resumes).
pub fn next_threshold(
    clock: &Clock,
    cal: &dyn WorkingTime,
    target: i64,
    percents: &[i64],
    fired: &[i64],
) -> Option<(i64, i64)> {
    if clock.cancelled || clock.is_stopped() {
        return None;
    }
    percents
        .iter()
        .filter(|p| !fired.contains(p))
        .filter_map(|&p| clock.instant_at(cal, threshold_amount(target, p)).map(|at| (p, at)))
        .min_by_key(|&(p, at)| (at, p))
}

/// The business time at which `percent` of `target` is reached.
pub fn threshold_amount(target: i64, percent: i64) -> i64 {
    (target as i128 * percent as i128 / 100) as i64
}

/// The wanted condition of a clock, from the record's fields; see
/// `agreement::wanted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub applies: bool,
    pub stopped: bool,
    pub running: bool,
    /// On reopen, start the target afresh instead of resuming it.
    pub restart_on_reopen: bool,
    /// The target measures a one-time event (the first response, the first
    /// move out of New): once stopped, the clock stays stopped, whatever
    /// the record does next (an assignee cleared, a reopen).
    pub stop_is_final: bool,
}

/// The events that take `clock` to the wanted condition, in order. Pure:
/// the caller applies them with [`Clock::apply`] and records them.
pub fn steps(clock: &Clock, want: Wanted) -> Vec<Event> {
    let mut out = Vec::new();
    let mut c = clock.clone();
    let mut push = |c: &mut Clock, e: Event| {
        if c.apply(e, 0) {
            out.push(e);
        }
    };
    if !want.applies {
        push(&mut c, Event::Cancel);
        return out;
    }
    if c.cancelled {
        push(&mut c, Event::Revive);
    }
    if c.is_stopped() && !want.stopped && !want.stop_is_final {
        push(&mut c, if want.restart_on_reopen { Event::Restart } else { Event::Reopen });
    }
    if !c.is_stopped() {
        if want.stopped {
            push(&mut c, Event::Stop);
        } else if want.running && !c.is_running() {
            let first = c.spans.is_empty();
            push(&mut c, if first { Event::Start } else { Event::Resume });
        } else if !want.running && c.is_running() {
            push(&mut c, Event::Pause);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000_000;
    const DAY: i64 = 24 * H;

    /// Working 09:00-17:00 every day, UTC: enough to test the clock rules
    /// apart from the real calendar (tested on its own and below with it).
    struct NineToFive;

    impl WorkingTime for NineToFive {
        fn between_us(&self, from: i64, to: i64) -> i64 {
            if to <= from {
                return 0;
            }
            let mut total = 0;
            let mut day = from.div_euclid(DAY) * DAY;
            while day < to {
                let (a, b) = (day + 9 * H, day + 17 * H);
                let (s, e) = (from.max(a), to.min(b));
                if e > s {
                    total += e - s;
                }
                day += DAY;
            }
            total
        }
        fn add_us(&self, start: i64, business: i64) -> i64 {
            if business >= 0 {
                let mut left = business;
                let mut t = start;
                loop {
                    let day = t.div_euclid(DAY) * DAY;
                    let (a, b) = (day + 9 * H, day + 17 * H);
                    let s = t.max(a);
                    if s < b {
                        if s + left <= b {
                            return s + left;
                        }
                        left -= b - s;
                    }
                    t = day + DAY;
                }
            } else {
                let mut left = -business;
                let mut t = start;
                loop {
                    let day = (t - 1).div_euclid(DAY) * DAY;
                    let (a, b) = (day + 9 * H, day + 17 * H);
                    let e = t.min(b);
                    if e > a {
                        if e - left >= a {
                            return e - left;
                        }
                        left -= e - a;
                    }
                    t = day;
                }
            }
        }
    }

    #[test]
    fn runs_pauses_and_stops() {
        let cal = NineToFive;
        let t0 = 10 * H; // day 0, 10:00
        let mut c = Clock::new();
        assert!(c.apply(Event::Start, t0));
        assert_eq!(c.instant_at(&cal, 4 * H), Some(14 * H));
        assert!(c.apply(Event::Pause, 12 * H));
        assert!(!c.apply(Event::Pause, 12 * H), "a paused clock does not pause again");
        assert_eq!(c.instant_at(&cal, 4 * H), None, "paused short of the target: no due instant");
        assert_eq!(c.elapsed(&cal, 20 * H), 2 * H);
        assert!(c.apply(Event::Resume, DAY + 9 * H));
        // 2h left from 09:00 the next day.
        assert_eq!(c.instant_at(&cal, 4 * H), Some(DAY + 11 * H));
        assert!(c.apply(Event::Stop, DAY + 10 * H));
        assert_eq!(c.state(&cal, 4 * H, 5 * DAY), ClockState::Met);
        assert_eq!(c.state(&cal, 2 * H, 5 * DAY), ClockState::Breached);
        assert_eq!(c.elapsed(&cal, 5 * DAY), 3 * H);
    }

    #[test]
    fn due_runs_over_the_night() {
        let cal = NineToFive;
        let mut c = Clock::new();
        c.apply(Event::Start, 15 * H);
        assert_eq!(c.instant_at(&cal, 4 * H), Some(DAY + 11 * H));
        assert_eq!(c.state(&cal, 4 * H, DAY + 11 * H), ClockState::Running);
        assert_eq!(c.state(&cal, 4 * H, DAY + 11 * H + 1), ClockState::Breached);
    }

    #[test]
    fn reopen_resumes_or_restarts() {
        let mut c = Clock::new();
        c.apply(Event::Start, 0);
        c.apply(Event::Stop, 10);
        let mut resumed = c.clone();
        assert!(resumed.apply(Event::Reopen, 20));
        assert!(resumed.apply(Event::Resume, 20));
        assert_eq!(resumed.elapsed(&Always, 25), 15);
        assert!(c.apply(Event::Restart, 20));
        assert!(c.apply(Event::Start, 20));
        assert_eq!(c.elapsed(&Always, 25), 5);
    }

    #[test]
    fn cancel_keeps_spans_for_a_revival() {
        let mut c = Clock::new();
        c.apply(Event::Start, 0);
        c.apply(Event::Cancel, 10);
        assert_eq!(c.state(&Always, 100, 50), ClockState::Cancelled);
        c.apply(Event::Revive, 30);
        c.apply(Event::Resume, 30);
        assert_eq!(c.elapsed(&Always, 40), 20);
    }

    #[test]
    fn steps_follow_the_wanted_condition() {
        let want = |running, stopped| Wanted {
            applies: true,
            running,
            stopped,
            restart_on_reopen: false,
            stop_is_final: false,
        };
        let mut c = Clock::new();
        assert_eq!(steps(&c, want(true, false)), vec![Event::Start]);
        c.apply(Event::Start, 0);
        assert_eq!(steps(&c, want(true, false)), vec![]);
        assert_eq!(steps(&c, want(false, false)), vec![Event::Pause]);
        c.apply(Event::Pause, 5);
        assert_eq!(steps(&c, want(true, false)), vec![Event::Resume]);
        assert_eq!(steps(&c, want(false, true)), vec![Event::Stop]);
        c.apply(Event::Stop, 6);
        assert_eq!(steps(&c, want(true, false)), vec![Event::Reopen, Event::Resume]);
        let restart = Wanted { restart_on_reopen: true, ..want(true, false) };
        assert_eq!(steps(&c, restart), vec![Event::Restart, Event::Start]);
        assert_eq!(steps(&c, Wanted { applies: false, ..want(true, false) }), vec![Event::Cancel]);
        // A response, once given, stays given: nothing reopens its clock.
        let once = Wanted { stop_is_final: true, ..want(true, false) };
        assert_eq!(steps(&c, once), vec![]);
        assert_eq!(steps(&c, Wanted { restart_on_reopen: true, ..once }), vec![]);
    }

    fn instants() -> impl Strategy<Value = i64> {
        0..(20 * DAY)
    }

    proptest! {
        /// Pausing for a span shifts the due instant by exactly that span's
        /// business time (when the pause starts before the due instant).
        #[test]
        fn pause_shifts_due_by_the_paused_business_time(
            start in instants(), target in 1..(40 * H), pause_at in 0..(10 * DAY), span in 1..(5 * DAY),
        ) {
            let cal = NineToFive;
            let mut plain = Clock::new();
            plain.apply(Event::Start, start);
            let due = plain.instant_at(&cal, target).unwrap();
            let p = start + pause_at;
            prop_assume!(p < due && cal.between_us(start, p) < target);
            let mut paused = plain.clone();
            paused.apply(Event::Pause, p);
            paused.apply(Event::Resume, p + span);
            let due2 = paused.instant_at(&cal, target).unwrap();
            prop_assert_eq!(cal.between_us(due, due2), cal.between_us(p, p + span));
            prop_assert_eq!(paused.elapsed(&cal, due2), target);
        }

        /// Stopped at `stop`, a clock is met exactly when it had run no more
        /// than its target, and the due instant is where elapsed = target.
        #[test]
        fn met_or_breached_is_decided_by_elapsed_time(
            start in instants(), target in 1..(40 * H), run in 0..(12 * DAY), pauses in prop::collection::vec((0..DAY, 0..DAY), 0..4),
        ) {
            let cal = NineToFive;
            let mut c = Clock::new();
            c.apply(Event::Start, start);
            let mut t = start;
            for (gap, len) in pauses {
                t += gap;
                c.apply(Event::Pause, t);
                t += len;
                c.apply(Event::Resume, t);
            }
            let stop = t + run;
            let elapsed = c.elapsed(&cal, stop);
            let due = c.instant_at(&cal, target).unwrap();
            prop_assert_eq!(c.elapsed(&cal, due), target);
            c.apply(Event::Stop, stop);
            let st = c.state(&cal, target, stop + 10 * DAY);
            prop_assert_eq!(st == ClockState::Met, elapsed <= target);
            prop_assert_eq!(st == ClockState::Breached, elapsed > target);
            if elapsed > target {
                prop_assert!(stop > due);
            }
        }

        /// The same on a real business calendar (Copenhagen office hours with a
        /// lunch break, across DST changes): a pause shifts the due instant by
        /// the business time it covered, and the due instant is working time.
        #[test]
        fn pause_shift_on_a_business_calendar(
            start in 1_700_000_000_000_000i64..1_800_000_000_000_000, target in 1..(40 * H),
            pause_at in 0..(10 * DAY), span in 1..(5 * DAY),
        ) {
            let cal = crate::sla::calendar::Calendar::compile(&crate::sla::calendar::CalendarSpec::weekdays(
                "Europe/Copenhagen",
                &[("08:00", "12:00"), ("12:30", "16:00")],
            ))
            .unwrap();
            let mut plain = Clock::new();
            plain.apply(Event::Start, start);
            let due = plain.instant_at(&cal, target).unwrap();
            prop_assert_eq!(plain.elapsed(&cal, due), target);
            let p = start + pause_at;
            prop_assume!(p < due && cal.between_us(start, p) < target);
            let mut paused = plain.clone();
            paused.apply(Event::Pause, p);
            paused.apply(Event::Resume, p + span);
            let due2 = paused.instant_at(&cal, target).unwrap();
            prop_assert_eq!(cal.between_us(due, due2), cal.between_us(p, p + span));
            prop_assert_eq!(paused.elapsed(&cal, due2), target);
            let t = jiff::Timestamp::from_microsecond(due2 - 1).unwrap();
            prop_assert!(cal.is_working(t));
        }

        /// Elapsed time never runs backwards and never grows while paused.
        #[test]
        fn elapsed_is_monotonic(events in prop::collection::vec((0..8usize, 0..DAY), 0..30)) {
            let cal = NineToFive;
            let all = [Event::Start, Event::Pause, Event::Resume, Event::Stop, Event::Reopen, Event::Restart, Event::Cancel, Event::Revive];
            let mut c = Clock::new();
            let mut t = 0;
            let mut last = 0;
            for (e, dt) in events {
                t += dt;
                let before = c.clone();
                if c.apply(all[e], t) && all[e] == Event::Restart {
                    last = 0;
                    continue;
                }
                let now = c.elapsed(&cal, t);
                prop_assert!(now >= last);
                if !before.is_running() {
                    prop_assert_eq!(before.elapsed(&cal, t + DAY), before.elapsed(&cal, t));
                }
                last = now;
            }
        }

        /// Replaying the recorded events rebuilds the clock exactly.
        #[test]
        fn replay_rebuilds(events in prop::collection::vec((0..8usize, 0..DAY), 0..30)) {
            let all = [Event::Start, Event::Pause, Event::Resume, Event::Stop, Event::Reopen, Event::Restart, Event::Cancel, Event::Revive];
            let mut c = Clock::new();
            let mut log = Vec::new();
            let mut t = 0;
            for (e, dt) in events {
                t += dt;
                if c.apply(all[e], t) {
                    log.push((all[e], t));
                }
            }
            prop_assert_eq!(Clock::replay(&log), c);
        }
    }
}
