//! Business calendars: when is the service desk working, and how much working time lies
//! between two instants.
//!
//! A [`CalendarSpec`] is what an administrator writes (and what the store keeps as JSON): a time
//! zone, weekly working hours, holidays and exceptions, per-date overrides. All times in it are
//! civil times in the calendar's zone. [`Calendar::compile`] validates a spec and turns it into a
//! [`Calendar`], which answers the three questions service levels need: the instant at which an
//! amount of business time has passed ([`Calendar::add`]), the business time between two
//! instants ([`Calendar::between`]), and whether an instant is working time.
//!
//! How it stays fast and right (see ADR 0006): a calendar is turned, one civil year at a time and
//! only when a year is first needed, into a sorted list of working intervals as UTC instants with
//! the running sum of their lengths. Daylight-saving changes are therefore handled once, when an
//! interval's civil bounds are converted to instants (an interval 01:30-03:30 on a spring-forward
//! day is one real hour long, on a fall-back day three); afterwards `add` and `between` are two
//! binary searches and some integer arithmetic. Time zones come from the time zone database
//! bundled into the binary, never from the host's files or its `TZ` variable.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock};

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::Problems;
use crate::DomainError;

/// The time zone database compiled into the binary, so that results never depend on the host's
/// zone files (which differ between machines and change under a running server).
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// Looks a zone up by its IANA name in the bundled database.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    if name.trim().is_empty() {
        return None;
    }
    TZDB.get(name).ok()
}

/// Years accepted for dates in a spec. Wide enough for any service desk, narrow enough that the
/// year tables of every date a spec names are cached (see [`CACHE_FIRST`]).
pub const FIRST_YEAR: i16 = 1900;
pub const LAST_YEAR: i16 = 2199;

/// Years whose tables are kept once built. Outside this window a table is built on each use:
/// correct, only slower.
const CACHE_FIRST: i16 = FIRST_YEAR;
const CACHE_LAST: i16 = LAST_YEAR;

/// The arithmetic works for instants in these civil years; beyond them the calendar has no
/// working time and `add` saturates at the ends of time.
const MIN_YEAR: i16 = 1;
const MAX_YEAR: i16 = 9998;

const NS: i64 = 1_000_000_000;
const DAY_MINUTES: u16 = 24 * 60;

/// One span of a day, in civil time `HH:MM`; `end` may be `24:00` (the following midnight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

impl TimeRange {
    pub fn new(start: &str, end: &str) -> Self {
        Self { start: start.to_string(), end: end.to_string() }
    }
}

/// Working hours per weekday; a day without ranges is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    pub monday: Vec<TimeRange>,
    pub tuesday: Vec<TimeRange>,
    pub wednesday: Vec<TimeRange>,
    pub thursday: Vec<TimeRange>,
    pub friday: Vec<TimeRange>,
    pub saturday: Vec<TimeRange>,
    pub sunday: Vec<TimeRange>,
}

impl WeeklyHours {
    pub const DAYS: [&'static str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

    /// The same ranges on each of the given weekdays (0 = Monday).
    pub fn on(days: impl IntoIterator<Item = usize>, ranges: &[TimeRange]) -> Self {
        let mut w = WeeklyHours::default();
        for d in days {
            *w.day_mut(d) = ranges.to_vec();
        }
        w
    }

    /// Ranges of a weekday, 0 = Monday.
    pub fn day(&self, monday_zero: usize) -> &[TimeRange] {
        match monday_zero {
            0 => &self.monday,
            1 => &self.tuesday,
            2 => &self.wednesday,
            3 => &self.thursday,
            4 => &self.friday,
            5 => &self.saturday,
            _ => &self.sunday,
        }
    }

    pub fn day_mut(&mut self, monday_zero: usize) -> &mut Vec<TimeRange> {
        match monday_zero {
            0 => &mut self.monday,
            1 => &mut self.tuesday,
            2 => &mut self.wednesday,
            3 => &mut self.thursday,
            4 => &mut self.friday,
            5 => &mut self.saturday,
            _ => &mut self.sunday,
        }
    }
}

/// A holiday or other closure: the whole day, or only some ranges of it, once or every year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// What it is, e.g. "Juledag"; shown to users.
    pub name: String,
    /// `YYYY-MM-DD`. For a yearly exception, the first year it applies and its month and day.
    pub date: String,
    /// Recurs on the same month and day every year from `date` on. A yearly exception on
    /// 29 February applies in leap years only.
    #[serde(default)]
    pub yearly: bool,
    /// The closed ranges of the day; empty means closed the whole day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<TimeRange>,
}

/// A date whose working hours differ from the weekly ones: shorter, longer, or a working day on
/// a day normally closed. It is the most specific rule, so it replaces both the weekly hours and
/// any exception of that date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateOverride {
    pub date: String,
    /// The working hours of the date; empty means closed.
    #[serde(default)]
    pub hours: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A business calendar as written by an administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA name, e.g. `Europe/Copenhagen`.
    pub time_zone: String,
    pub weekly: WeeklyHours,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
    #[serde(default)]
    pub overrides: Vec<DateOverride>,
}

impl CalendarSpec {
    /// Refuses an exception given twice, word for word. Harmless to the
    /// arithmetic, so [`Calendar::compile`] takes it (a calendar stored with
    /// one still works), but a list that shows a holiday twice reads as two
    /// closures: checked where a spec comes in.
    pub fn check_repeats(&self) -> Result<(), DomainError> {
        let mut p = Problems::new();
        for (i, e) in self.exceptions.iter().enumerate() {
            if let Some(j) = self.exceptions[..i].iter().position(|x| x == e) {
                p.push(format!("exceptions[{i}]"), format!("is the same as exceptions[{j}]"));
            }
        }
        p.into_result()
    }

    /// Every hour of every day, in UTC.
    pub fn always() -> Self {
        Self::always_in("UTC")
    }

    /// Every hour of every day, in the given zone (the zone then only matters for display).
    pub fn always_in(zone: &str) -> Self {
        CalendarSpec {
            time_zone: zone.to_string(),
            weekly: WeeklyHours::on(0..7, &[TimeRange::new("00:00", "24:00")]),
            exceptions: Vec::new(),
            overrides: Vec::new(),
        }
    }

    /// Monday to Friday, the given ranges each day, in the given zone.
    pub fn weekdays(zone: &str, ranges: &[(&str, &str)]) -> Self {
        let ranges: Vec<TimeRange> = ranges.iter().map(|(a, b)| TimeRange::new(a, b)).collect();
        CalendarSpec {
            time_zone: zone.to_string(),
            weekly: WeeklyHours::on(0..5, &ranges),
            exceptions: Vec::new(),
            overrides: Vec::new(),
        }
    }
}

/// A civil range in minutes of the day, `start < end <= 1440`.
type Minutes = (u16, u16);

/// Yearly closures by (month, day): the first year each applies, and its closed ranges.
type YearlyClosures = HashMap<(i8, i8), Vec<(i16, Vec<Minutes>)>>;

/// Working intervals of one civil year, as UTC seconds.
#[derive(Debug, Clone)]
struct YearTable {
    /// The UTC second of local midnight starting 1 January, and of the next year's.
    begin: i64,
    end: i64,
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// `acc[k]` = working seconds in the first `k` intervals; `acc.len() == starts.len() + 1`.
    acc: Vec<i64>,
}

impl YearTable {
    fn total_ns(&self) -> i64 {
        self.acc[self.acc.len() - 1] * NS
    }

    /// Working nanoseconds from the start of the year to the instant (`secs`, `nanos`).
    #[inline]
    fn offset(&self, secs: i64, nanos: i64) -> i64 {
        // First interval that ends after the instant.
        let i = self.ends.partition_point(|&e| e <= secs);
        if i == self.starts.len() {
            return self.total_ns();
        }
        let s = self.starts[i];
        if secs < s {
            self.acc[i] * NS
        } else {
            (self.acc[i] + secs - s) * NS + nanos
        }
    }

    /// The instant at which `target` working nanoseconds of the year have passed, for
    /// `0 < target <= total`: the end of an interval when the target is reached exactly there.
    #[inline]
    fn at_forward(&self, target: i64) -> Timestamp {
        let j = self.acc[1..].partition_point(|&a| a * NS < target);
        self.instant_in(j, target)
    }

    /// Like [`Self::at_forward`] for `0 <= target < total`, but a target on an interval boundary
    /// gives the start of the next interval, so that going back to where a forward step began
    /// lands on the same instant.
    #[inline]
    fn at_backward(&self, target: i64) -> Timestamp {
        let j = self.acc[1..].partition_point(|&a| a * NS <= target);
        self.instant_in(j, target)
    }

    #[inline]
    fn instant_in(&self, j: usize, target: i64) -> Timestamp {
        let into = target - self.acc[j] * NS;
        ts(self.starts[j] + into.div_euclid(NS), into.rem_euclid(NS))
    }

    fn is_working(&self, secs: i64) -> bool {
        let i = self.ends.partition_point(|&e| e <= secs);
        i < self.starts.len() && self.starts[i] <= secs
    }
}

fn ts(secs: i64, nanos: i64) -> Timestamp {
    Timestamp::new(secs, nanos as i32).unwrap_or(if secs < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// Splits a timestamp into whole seconds and a non-negative nanosecond part.
#[inline]
fn split(t: Timestamp) -> (i64, i64) {
    let (s, n) = (t.as_second(), t.subsec_nanosecond() as i64);
    if n < 0 {
        (s - 1, n + NS)
    } else {
        (s, n)
    }
}

/// The proleptic Gregorian year of a UTC second (days-from-civil inverted, after H. Hinnant).
#[inline]
fn utc_year(secs: i64) -> i64 {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

struct Compiled {
    spec: CalendarSpec,
    tz: TimeZone,
    weekly: [Vec<Minutes>; 7],
    /// One-off closures by date (a whole day is `(0, 1440)`).
    closed_on: HashMap<Date, Vec<Minutes>>,
    closed_yearly: YearlyClosures,
    overrides: HashMap<Date, Vec<Minutes>>,
    /// Year tables for [`CACHE_FIRST`]..=[`CACHE_LAST`], each built when first needed.
    years: Box<[OnceLock<YearTable>]>,
}

/// A validated, compiled business calendar. Cheap to clone and shareable between threads.
#[derive(Clone)]
pub struct Calendar {
    inner: Arc<Compiled>,
}

impl std::fmt::Debug for Calendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calendar").field("time_zone", &self.inner.spec.time_zone).finish_non_exhaustive()
    }
}

impl Calendar {
    /// Validates a spec, reporting every problem with the field it concerns.
    pub fn compile(spec: &CalendarSpec) -> Result<Calendar, DomainError> {
        let mut p = Problems::new();
        let tz = match time_zone(&spec.time_zone) {
            Some(tz) => Some(tz),
            None if spec.time_zone.trim().is_empty() => {
                p.push("time_zone", "a time zone is required, e.g. Europe/Copenhagen");
                None
            }
            None => {
                p.push(
                    "time_zone",
                    format!("unknown time zone '{}' (use an IANA name such as Europe/Copenhagen)", spec.time_zone),
                );
                None
            }
        };

        let mut weekly: [Vec<Minutes>; 7] = Default::default();
        for (d, name) in WeeklyHours::DAYS.iter().enumerate() {
            weekly[d] = hours(&mut p, &format!("weekly.{name}"), spec.weekly.day(d));
        }

        let mut closed_on: HashMap<Date, Vec<Minutes>> = HashMap::new();
        let mut closed_yearly: YearlyClosures = HashMap::new();
        let mut years_named: Vec<i16> = Vec::new();
        for (i, e) in spec.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            if e.name.trim().is_empty() {
                p.push(format!("{field}.name"), "a name is required");
            } else if e.name.chars().count() > 200 {
                p.push(format!("{field}.name"), "at most 200 characters");
            }
            let date = date(&mut p, &format!("{field}.date"), &e.date);
            let ranges = if e.closed.is_empty() {
                vec![(0, DAY_MINUTES)]
            } else {
                ranges(&mut p, &format!("{field}.closed"), &e.closed)
            };
            if let Some(date) = date {
                years_named.push(date.year());
                if e.yearly {
                    closed_yearly.entry((date.month(), date.day())).or_default().push((date.year(), ranges));
                } else {
                    closed_on.entry(date).or_default().extend(ranges);
                }
            }
        }

        let mut overrides: HashMap<Date, Vec<Minutes>> = HashMap::new();
        for (i, o) in spec.overrides.iter().enumerate() {
            let field = format!("overrides[{i}]");
            let date = date(&mut p, &format!("{field}.date"), &o.date);
            let hours = hours(&mut p, &format!("{field}.hours"), &o.hours);
            if let Some(date) = date {
                years_named.push(date.year());
                if overrides.insert(date, hours).is_some() {
                    p.push(format!("{field}.date"), format!("{date} has more than one override"));
                }
            }
        }

        let (Some(tz), true) = (tz, p.is_empty()) else {
            p.into_result()?;
            unreachable!("problems were reported");
        };
        let compiled = Compiled {
            spec: spec.clone(),
            tz,
            weekly,
            closed_on,
            closed_yearly,
            overrides,
            years: (CACHE_FIRST..=CACHE_LAST).map(|_| OnceLock::new()).collect(),
        };
        compiled.check_working_time(&years_named)?;
        Ok(Calendar { inner: Arc::new(compiled) })
    }

    /// Every hour of every day, in UTC.
    pub fn always() -> Calendar {
        static ALWAYS: LazyLock<Calendar> =
            LazyLock::new(|| Calendar::compile(&CalendarSpec::always()).expect("the 24x7 calendar is valid"));
        ALWAYS.clone()
    }

    pub fn spec(&self) -> &CalendarSpec {
        &self.inner.spec
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.inner.tz
    }

    /// The instant at which `business` of working time has passed after `start`; negative goes back.
    ///
    /// Going forward, the result is inside working time or at the end of a working interval;
    /// going back, it is inside working time (an interval's start rather than the previous
    /// interval's end). Zero returns `start` unchanged. Saturates at the ends of time.
    pub fn add(&self, start: Timestamp, business: SignedDuration) -> Timestamp {
        let d = business.as_nanos();
        if d == 0 {
            return start;
        }
        // Business time never runs faster than real time, so a target beyond the end of time
        // (in real time) is reached only there; this also keeps absurd targets from walking
        // thousands of years.
        if start.checked_add(business).is_err() {
            return if d > 0 { Timestamp::MAX } else { Timestamp::MIN };
        }
        let (secs, nanos) = split(start);
        let Some((mut year, mut table)) = self.inner.locate(secs) else {
            return self.add_outside(secs, d);
        };
        let mut off = table.offset(secs, nanos);
        if d > 0 {
            let mut rest = d;
            loop {
                let target = off as i128 + rest;
                let total = table.total_ns();
                if target <= total as i128 {
                    return table.at_forward(target as i64);
                }
                rest = target - total as i128;
                year += 1;
                if year > MAX_YEAR {
                    return Timestamp::MAX;
                }
                table = self.inner.table(year);
                off = 0;
            }
        } else {
            let mut rest = -d;
            loop {
                let target = off as i128 - rest;
                if target >= 0 {
                    return table.at_backward(target as i64);
                }
                rest = -target;
                year -= 1;
                if year < MIN_YEAR {
                    return Timestamp::MIN;
                }
                table = self.inner.table(year);
                off = table.total_ns();
            }
        }
    }

    /// `add` from an instant beyond the years with working time: restart from the edge.
    fn add_outside(&self, secs: i64, d: i128) -> Timestamp {
        let before = secs < 0;
        match (before, d > 0) {
            (true, true) => {
                let first = self.inner.table(MIN_YEAR).begin;
                self.add(ts(first, 0), SignedDuration::from_nanos_i128(d))
            }
            (false, false) => {
                let last = self.inner.table(MAX_YEAR).end;
                self.add(ts(last - 1, 0), SignedDuration::from_nanos_i128(d))
            }
            (true, false) => Timestamp::MIN,
            (false, true) => Timestamp::MAX,
        }
    }

    /// Working time in `[from, to)`; negative when `to < from`.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to < from {
            return -self.between(to, from);
        }
        let (fy, foff) = self.inner.position(from);
        let (ty, toff) = self.inner.position(to);
        let total: i128 = if fy == ty {
            (toff - foff) as i128
        } else {
            let mut sum = (self.inner.table(fy).total_ns() - foff) as i128;
            for y in fy + 1..ty {
                sum += self.inner.table(y).total_ns() as i128;
            }
            sum + toff as i128
        };
        SignedDuration::from_nanos_i128(total)
    }

    /// Whether `at` lies inside a working interval (intervals include their start, not their end).
    pub fn is_working(&self, at: Timestamp) -> bool {
        let (secs, _) = split(at);
        match self.inner.locate(secs) {
            Some((_, table)) => table.is_working(secs),
            None => false,
        }
    }

    /// The working intervals that overlap `[from, to)`, clipped to it; for display and reports.
    pub fn intervals(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let mut out = Vec::new();
        if to <= from {
            return out;
        }
        let (fs, _) = split(from);
        let (year, _) = self.inner.position(from);
        let (last_year, _) = self.inner.position(to);
        for y in year..=last_year {
            let table = self.inner.table(y);
            let first = table.ends.partition_point(|&e| e <= fs);
            for k in first..table.starts.len() {
                let (s, e) = (ts(table.starts[k], 0), ts(table.ends[k], 0));
                if s >= to {
                    break;
                }
                out.push((s.max(from), e.min(to)));
            }
        }
        out
    }
}

impl Compiled {
    fn table(&self, year: i16) -> Cow<'_, YearTable> {
        if (CACHE_FIRST..=CACHE_LAST).contains(&year) {
            Cow::Borrowed(self.years[(year - CACHE_FIRST) as usize].get_or_init(|| self.build(year)))
        } else {
            Cow::Owned(self.build(year))
        }
    }

    /// The civil year (in the calendar's zone) holding a UTC second, with its table; `None`
    /// beyond the years the arithmetic covers.
    #[inline]
    fn locate(&self, secs: i64) -> Option<(i16, Cow<'_, YearTable>)> {
        let guess = utc_year(secs);
        if guess < MIN_YEAR as i64 - 1 || guess > MAX_YEAR as i64 + 1 {
            return None;
        }
        // A zone's offset is under a day, so the local year is the UTC year or a neighbour.
        // Clamped, so that the first local year is found from the UTC year before it (in a
        // zone east of UTC it begins there), and the last from the one after: `add` from
        // before the covered years restarts at the first one's beginning, which must be
        // found, or it would restart for ever.
        let mut year = (guess as i16).clamp(MIN_YEAR, MAX_YEAR);
        let table = self.table(year);
        if secs < table.begin {
            year -= 1;
        } else if secs >= table.end {
            year += 1;
        } else {
            return Some((year, table));
        }
        if (MIN_YEAR..=MAX_YEAR).contains(&year) {
            Some((year, self.table(year)))
        } else {
            None
        }
    }

    /// The year and working nanoseconds since its start, with instants beyond the covered years
    /// clamped to the first or last of them.
    fn position(&self, t: Timestamp) -> (i16, i64) {
        let (secs, nanos) = split(t);
        match self.locate(secs) {
            Some((year, table)) => (year, table.offset(secs, nanos)),
            None if secs < 0 => (MIN_YEAR, 0),
            None => (MAX_YEAR, self.table(MAX_YEAR).total_ns()),
        }
    }

    /// The working ranges of a civil date, after overrides and exceptions.
    fn hours_on(&self, date: Date) -> Vec<Minutes> {
        if let Some(h) = self.overrides.get(&date) {
            return h.clone();
        }
        let mut hours = self.weekly[date.weekday().to_monday_zero_offset() as usize].clone();
        if hours.is_empty() {
            return hours;
        }
        if let Some(closed) = self.closed_on.get(&date) {
            hours = subtract(&hours, closed);
        }
        if let Some(rules) = self.closed_yearly.get(&(date.month(), date.day())) {
            for (from_year, closed) in rules {
                if date.year() >= *from_year {
                    hours = subtract(&hours, closed);
                }
            }
        }
        hours
    }

    /// The UTC second of a civil time of a date (minute 1440 being the next midnight). A time
    /// skipped by a spring-forward change maps to the instant of the change, so that a desk
    /// opening or closing in the skipped hour neither gains nor loses time that did not exist;
    /// a time repeated by a fall-back change maps to its first occurrence.
    fn instant(&self, date: Date, minute: u16) -> i64 {
        let dt = if minute >= DAY_MINUTES {
            match date.tomorrow() {
                Ok(d) => d.at(0, 0, 0, 0),
                Err(_) => return Timestamp::MAX.as_second(),
            }
        } else {
            date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        };
        self.local(dt)
    }

    fn local(&self, dt: DateTime) -> i64 {
        let ambiguous = self.tz.to_ambiguous_timestamp(dt);
        if let AmbiguousOffset::Gap { after, .. } = ambiguous.offset() {
            // jiff's "compatible" (RFC 5545) reads a skipped time with the offset before the
            // change, i.e. an hour after the change; the change itself is the first transition
            // after the reading with the offset after it.
            if let Some(change) = after.to_timestamp(dt).ok().and_then(|t| self.tz.following(t).next()) {
                return change.timestamp().as_second();
            }
        }
        match ambiguous.compatible() {
            Ok(t) => t.as_second(),
            Err(_) if dt.year() < 0 => Timestamp::MIN.as_second(),
            Err(_) => Timestamp::MAX.as_second(),
        }
    }

    fn build(&self, year: i16) -> YearTable {
        let first = Date::new(year, 1, 1).expect("year in range");
        let begin = self.local(first.at(0, 0, 0, 0));
        let end = match Date::new(year + 1, 1, 1) {
            Ok(next) => self.local(next.at(0, 0, 0, 0)),
            Err(_) => Timestamp::MAX.as_second(),
        };
        let mut raw: Vec<(i64, i64)> = Vec::with_capacity(600);
        let mut date = first;
        loop {
            for (a, b) in self.hours_on(date) {
                let (s, e) = (self.instant(date, a), self.instant(date, b));
                if e > s {
                    raw.push((s.max(begin), e.min(end)));
                }
            }
            match date.tomorrow() {
                Ok(d) if d.year() == year => date = d,
                _ => break,
            }
        }
        raw.sort_unstable();
        let mut starts = Vec::with_capacity(raw.len());
        let mut ends: Vec<i64> = Vec::with_capacity(raw.len());
        for (s, e) in raw {
            if e <= s {
                continue;
            }
            // Touching or overlapping intervals (24x7 days, fall-back overlaps) become one, so
            // that an instant has one position.
            match ends.last_mut() {
                Some(last) if s <= *last => *last = (*last).max(e),
                _ => {
                    starts.push(s);
                    ends.push(e);
                }
            }
        }
        let mut acc = Vec::with_capacity(starts.len() + 1);
        acc.push(0);
        let mut sum = 0;
        for (s, e) in starts.iter().zip(&ends) {
            sum += e - s;
            acc.push(sum);
        }
        YearTable { begin, end, starts, ends, acc }
    }

    /// Refuses a calendar without working time, and one whose exceptions (or overrides) close
    /// every working day of some year: due instants would otherwise be years away or never come.
    fn check_working_time(&self, years_named: &[i16]) -> Result<(), DomainError> {
        let weekly_time = self.weekly.iter().any(|d| !d.is_empty());
        let override_time = self.overrides.values().any(|h| !h.is_empty());
        if !weekly_time {
            if override_time {
                return Err(DomainError::field(
                    "weekly",
                    "there are no weekly working hours: overrides alone give working time on a few dates only",
                ));
            }
            return Err(DomainError::field("weekly", "the calendar has no working time at all"));
        }
        // Yearly exceptions repeat with the calendar of weekdays and leap years, which repeats
        // every 28 years (within a century), so checking the named years and the 28 after the
        // last one covers every arrangement the spec can produce.
        let (Some(&lo), Some(&hi)) = (years_named.iter().min(), years_named.iter().max()) else {
            return Ok(());
        };
        for year in lo..=hi.saturating_add(28).min(LAST_YEAR + 28) {
            if !self.year_has_working_time(year) {
                return Err(DomainError::field(
                    "exceptions",
                    format!("the exceptions and overrides leave no working time in {year}"),
                ));
            }
        }
        Ok(())
    }

    fn year_has_working_time(&self, year: i16) -> bool {
        let Ok(mut date) = Date::new(year, 1, 1) else { return true };
        loop {
            if !self.hours_on(date).is_empty() {
                return true;
            }
            match date.tomorrow() {
                Ok(d) if d.year() == year => date = d,
                _ => return false,
            }
        }
    }
}

/// Subtracts closed ranges from sorted, disjoint working ranges.
fn subtract(hours: &[Minutes], closed: &[Minutes]) -> Vec<Minutes> {
    let mut out: Vec<Minutes> = hours.to_vec();
    for &(ca, cb) in closed {
        let mut next = Vec::with_capacity(out.len() + 1);
        for (a, b) in out {
            if cb <= a || ca >= b {
                next.push((a, b));
                continue;
            }
            if a < ca {
                next.push((a, ca));
            }
            if cb < b {
                next.push((cb, b));
            }
        }
        out = next;
    }
    out
}

/// Parses `HH:MM` (00:00 to 24:00) into minutes of the day.
pub fn parse_time(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Parses `YYYY-MM-DD` within [`FIRST_YEAR`]..=[`LAST_YEAR`].
pub fn parse_date(s: &str) -> Result<Date, String> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return Err(format!("'{s}' is not a date written YYYY-MM-DD"));
    }
    let (y, m, d): (i16, i8, i8) = (s[0..4].parse().unwrap(), s[5..7].parse().unwrap(), s[8..10].parse().unwrap());
    if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
        return Err(format!("the year must be from {FIRST_YEAR} to {LAST_YEAR}"));
    }
    Date::new(y, m, d).map_err(|_| format!("{s} does not exist"))
}

fn date(p: &mut Problems, field: &str, s: &str) -> Option<Date> {
    match parse_date(s) {
        Ok(d) => Some(d),
        Err(msg) => {
            p.push(field, msg);
            None
        }
    }
}

/// Parses ranges, reporting bad times and end-before-start; returns them sorted.
fn ranges(p: &mut Problems, field: &str, list: &[TimeRange]) -> Vec<Minutes> {
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let start = parse_time(&r.start);
        let end = parse_time(&r.end);
        if start.is_none() {
            p.push(format!("{f}.start"), format!("'{}' is not a time of day written HH:MM", r.start));
        }
        if end.is_none() {
            p.push(format!("{f}.end"), format!("'{}' is not a time of day written HH:MM (24:00 ends the day)", r.end));
        }
        let (Some(a), Some(b)) = (start, end) else { continue };
        if a >= DAY_MINUTES {
            p.push(format!("{f}.start"), "a range cannot start at 24:00");
        } else if b <= a {
            p.push(format!("{f}.end"), format!("ends at {} which is not after its start {}", r.end, r.start));
        } else {
            out.push((a, b));
        }
    }
    out.sort_unstable();
    out
}

/// Working hours: ranges that also must not overlap one another.
fn hours(p: &mut Problems, field: &str, list: &[TimeRange]) -> Vec<Minutes> {
    let out = ranges(p, field, list);
    for w in out.windows(2) {
        if w[1].0 < w[0].1 {
            p.push(
                field,
                format!("the ranges {}-{} and {}-{} overlap", hhmm(w[0].0), hhmm(w[0].1), hhmm(w[1].0), hhmm(w[1].1)),
            );
        }
    }
    out
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests;
