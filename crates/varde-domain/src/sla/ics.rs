//! iCalendar (RFC 5545) holiday files into calendar exceptions.
//!
//! Public-holiday lists are published as `.ics` files: one VEVENT per holiday, all-day
//! (`DTSTART;VALUE=DATE`) or timed (`DTSTART;TZID=...` or UTC `...Z`), fixed-date ones often as
//! `RRULE:FREQ=YEARLY`. This reads that subset by hand (the format is line-based and small):
//! lines are unfolded, other components (VTIMEZONE, VTODO, ...) are skipped, and anything that
//! would change the meaning but that a calendar exception cannot express (other recurrence
//! rules, RDATE, EXDATE) is refused with the line it is on, rather than imported wrongly.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::calendar::{parse_date, time_zone, Exception, TimeRange, FIRST_YEAR, LAST_YEAR};
use crate::DomainError;

/// Most exceptions one file may produce: a real holiday list has tens; this bounds the work a
/// hostile file can cause.
pub const MAX_EXCEPTIONS: usize = 5000;

/// One unfolded content line and the physical line it starts on (1-based).
struct Line {
    no: usize,
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl Line {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn err(line: usize, msg: impl std::fmt::Display) -> DomainError {
    DomainError::field("ics", format!("line {line}: {msg}"))
}

/// Joins folded lines (a line break followed by a space or tab continues the line).
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(rest);
                continue;
            }
        }
        if !raw.trim().is_empty() {
            out.push((i + 1, raw.to_string()));
        }
    }
    out
}

fn parse_line(no: usize, s: &str) -> Result<Line, DomainError> {
    // The value starts at the first ':' outside a quoted parameter value.
    let mut quoted = false;
    let mut colon = None;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(colon) = colon else {
        return Err(err(no, format!("not a content line NAME:VALUE: '{}'", shorten(s))));
    };
    let (head, value) = (&s[..colon], &s[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next().unwrap_or("").trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(err(no, format!("not a property name: '{}'", shorten(head))));
    }
    let mut params = Vec::new();
    for p in parts {
        let (k, v) = p.split_once('=').ok_or_else(|| err(no, format!("parameter without a value: '{p}'")))?;
        params.push((k.trim().to_ascii_uppercase(), v.trim().trim_matches('"').to_string()));
    }
    Ok(Line { no, name, params, value: value.to_string() })
}

fn shorten(s: &str) -> String {
    s.chars().take(60).collect()
}

/// TEXT values escape `\\`, `\;`, `\,` and `\n`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// When an event starts or ends.
#[derive(Debug, Clone, Copy)]
enum When {
    Date(Date),
    /// A civil time in the calendar's zone (converted from UTC or the event's TZID).
    Local(DateTime),
}

fn parse_when(line: &Line, zone: &TimeZone) -> Result<When, DomainError> {
    let v = line.value.trim();
    let is_date = line.param("VALUE").is_some_and(|x| x.eq_ignore_ascii_case("DATE")) || v.len() == 8;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if is_date {
        if v.len() != 8 || !digits(v) {
            return Err(err(line.no, format!("{} is not a date YYYYMMDD: '{v}'", line.name)));
        }
        let iso = format!("{}-{}-{}", &v[0..4], &v[4..6], &v[6..8]);
        return parse_date(&iso).map(When::Date).map_err(|m| err(line.no, m));
    }
    let (body, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (v, false),
    };
    let ok_shape = body.len() == 15 && body.as_bytes()[8] == b'T' && digits(&body[..8]) && digits(&body[9..]);
    if !ok_shape {
        return Err(err(line.no, format!("{} is not a date-time YYYYMMDDTHHMMSS[Z]: '{v}'", line.name)));
    }
    let iso =
        format!("{}-{}-{}T{}:{}:{}", &body[0..4], &body[4..6], &body[6..8], &body[9..11], &body[11..13], &body[13..15]);
    let dt: DateTime = iso.parse().map_err(|_| err(line.no, format!("{} does not exist: '{v}'", line.name)))?;
    let instant: Timestamp = if utc {
        dt.to_zoned(TimeZone::UTC).map_err(|e| err(line.no, e))?.timestamp()
    } else if let Some(tzid) = line.param("TZID") {
        // Some producers write TZID=/Europe/Copenhagen (a "globally unique" id).
        let name = tzid.trim_start_matches('/');
        let tz =
            time_zone(name).ok_or_else(|| err(line.no, format!("unknown TZID '{tzid}': use an IANA zone name")))?;
        tz.to_ambiguous_timestamp(dt).compatible().map_err(|e| err(line.no, e))?
    } else {
        // A floating time: the same wall-clock time wherever one is, so the calendar's own.
        return Ok(When::Local(dt));
    };
    Ok(When::Local(zone.to_datetime(instant)))
}

#[derive(Default)]
struct Event {
    begin: usize,
    summary: Option<String>,
    start: Option<(usize, When)>,
    end: Option<(usize, When)>,
    duration: Option<(usize, SignedDuration)>,
    rrule: Option<Line>,
    cancelled: bool,
}

/// How an event recurs, as far as calendar exceptions can say.
enum Recur {
    Once,
    /// Every year from the first occurrence on.
    Yearly,
    /// The occurrences in these years after the first (0 is the first), as
    /// one-off exceptions.
    Years(Vec<i16>),
}

fn recurrence(rule: &Line, first: Date) -> Result<Recur, DomainError> {
    let mut freq = None;
    let mut count: Option<i16> = None;
    let mut until: Option<Date> = None;
    for part in rule.value.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| err(rule.no, format!("RRULE part without '=': '{part}'")))?;
        let (k, v) = (k.trim().to_ascii_uppercase(), v.trim());
        match k.as_str() {
            "FREQ" => freq = Some(v.to_ascii_uppercase()),
            "INTERVAL" if v == "1" => {}
            "BYMONTH" if v.parse::<i8>().ok() == Some(first.month()) => {}
            "BYMONTHDAY" if v.parse::<i8>().ok() == Some(first.day()) => {}
            "WKST" => {}
            "COUNT" => {
                count = Some(v.parse().ok().filter(|n| (1..=400).contains(n)).ok_or_else(|| {
                    err(rule.no, format!("RRULE COUNT must be a number from 1 to 400: '{v}'"))
                })?)
            }
            "UNTIL" => {
                let d = v.get(..8).unwrap_or("");
                let iso = format!("{}-{}-{}", d.get(0..4).unwrap_or(""), d.get(4..6).unwrap_or(""), d.get(6..8).unwrap_or(""));
                until = Some(parse_date(&iso).map_err(|m| err(rule.no, format!("RRULE UNTIL: {m}")))?);
            }
            _ => {
                return Err(err(
                    rule.no,
                    format!(
                        "RRULE '{}' is not supported: only FREQ=YEARLY on the event's own month and day (BYMONTH/BYMONTHDAY) can become a yearly holiday; list the dates instead",
                        rule.value
                    ),
                ))
            }
        }
    }
    if freq.as_deref() != Some("YEARLY") {
        return Err(err(
            rule.no,
            format!("RRULE '{}' is not supported: only FREQ=YEARLY becomes a yearly holiday", rule.value),
        ));
    }
    // RFC 5545: a yearly rule recurs on the first occurrence's month and
    // day; a year without that date (29 February) has no occurrence and is
    // not counted; UNTIL bounds the occurrences' starts, inclusively.
    let occurs = |k: i16| Date::new(first.year() + k, first.month(), first.day()).ok();
    let mut years = Vec::new();
    match (count, until) {
        (None, None) => return Ok(Recur::Yearly),
        (Some(_), Some(_)) => return Err(err(rule.no, "RRULE has both COUNT and UNTIL")),
        (Some(n), None) => {
            let mut k = 0;
            while years.len() < n as usize && first.year() + k <= LAST_YEAR {
                if occurs(k).is_some() {
                    years.push(k);
                }
                k += 1;
            }
        }
        (None, Some(u)) => {
            for k in 0..=(u.year().min(LAST_YEAR) - first.year()) {
                if occurs(k).is_some_and(|d| d <= u) {
                    years.push(k);
                }
            }
        }
    }
    Ok(Recur::Years(years))
}

/// Reads the VEVENTs of an iCalendar text as exceptions of a calendar in `zone`.
///
/// All-day events close whole days (DTEND is exclusive, as RFC 5545 says); timed events close
/// their span, converted to the calendar's zone and split at midnights. An event with a
/// yearly RRULE becomes yearly exceptions; with COUNT or UNTIL, one-off exceptions for the
/// years it covers.
pub fn parse(text: &str, zone: &TimeZone) -> Result<Vec<Exception>, DomainError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut event: Option<Event> = None;
    let mut saw_calendar = false;
    for (no, raw) in unfold(text) {
        let line = parse_line(no, &raw)?;
        match line.name.as_str() {
            "BEGIN" => {
                let what = line.value.trim().to_ascii_uppercase();
                if stack.is_empty() && what != "VCALENDAR" {
                    return Err(err(no, "the file must start with BEGIN:VCALENDAR"));
                }
                saw_calendar = true;
                if what == "VEVENT" && stack.last().map(String::as_str) == Some("VCALENDAR") {
                    event = Some(Event { begin: no, ..Event::default() });
                }
                stack.push(what);
                continue;
            }
            "END" => {
                let what = line.value.trim().to_ascii_uppercase();
                if stack.pop().as_deref() != Some(what.as_str()) {
                    return Err(err(no, format!("END:{what} does not close the open component")));
                }
                if what == "VEVENT" {
                    if let Some(ev) = event.take() {
                        exceptions_of(ev, no, &mut out)?;
                        if out.len() > MAX_EXCEPTIONS {
                            return Err(err(no, format!("more than {MAX_EXCEPTIONS} holidays in one file")));
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        if stack.is_empty() {
            return Err(err(no, "the file must start with BEGIN:VCALENDAR"));
        }
        // Only the properties of a VEVENT directly in the VCALENDAR matter (not its VALARMs).
        let in_event = stack.last().map(String::as_str) == Some("VEVENT") && stack.len() == 2;
        let Some(ev) = event.as_mut().filter(|_| in_event) else { continue };
        match line.name.as_str() {
            "SUMMARY" => ev.summary = Some(unescape(&line.value)),
            "DTSTART" => ev.start = Some((no, parse_when(&line, zone)?)),
            "DTEND" => ev.end = Some((no, parse_when(&line, zone)?)),
            "DURATION" => {
                let d: SignedDuration =
                    line.value.trim().parse().or_else(|_| days_duration(line.value.trim()).ok_or(())).map_err(
                        |_| err(no, format!("DURATION is not a duration like P1D or PT4H: '{}'", line.value)),
                    )?;
                ev.duration = Some((no, d));
            }
            "RRULE" => ev.rrule = Some(line),
            "RDATE" | "EXDATE" | "EXRULE" => {
                return Err(err(no, format!("{} is not supported: list each holiday as its own event", line.name)))
            }
            "STATUS" => ev.cancelled = line.value.trim().eq_ignore_ascii_case("CANCELLED"),
            _ => {}
        }
    }
    if !saw_calendar {
        return Err(DomainError::field("ics", "this is not an iCalendar file (no BEGIN:VCALENDAR)"));
    }
    if let Some(open) = stack.last() {
        return Err(DomainError::field("ics", format!("the file ends inside {open}: it is cut off")));
    }
    Ok(out)
}

/// `P1D`, `P2W`: whole days, which SignedDuration (exact time only) does not read.
fn days_duration(s: &str) -> Option<SignedDuration> {
    let rest = s.strip_prefix('P')?;
    let unit = rest.chars().last()?;
    let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let days = match unit {
        'D' => n,
        'W' => n.checked_mul(7)?,
        _ => return None,
    };
    // Bounded so that the multiplication below cannot overflow (and no holiday lasts 10 years).
    (0..=3660).contains(&days).then(|| SignedDuration::from_hours(24 * days))
}

fn exceptions_of(ev: Event, end_line: usize, out: &mut Vec<Exception>) -> Result<(), DomainError> {
    if ev.cancelled {
        return Ok(());
    }
    let Some((start_line, start)) = ev.start else {
        return Err(err(ev.begin, "VEVENT without DTSTART"));
    };
    let name: String =
        ev.summary.filter(|s| !s.is_empty()).unwrap_or_else(|| "Holiday".into()).chars().take(200).collect();
    // Per date: the closed range (None = whole day).
    let mut days: Vec<(Date, Option<(u16, u16)>)> = Vec::new();
    match start {
        When::Date(first) => {
            let last_exclusive = match (ev.end, ev.duration) {
                (Some((no, When::Date(d))), _) => {
                    if d <= first {
                        return Err(err(no, "DTEND is not after DTSTART"));
                    }
                    d
                }
                (Some((no, When::Local(_))), _) => {
                    return Err(err(no, "DTEND is a date-time but DTSTART a date; give both the same kind"))
                }
                (None, Some((no, d))) => {
                    let n = d.as_hours() / 24;
                    if n < 1 || d.as_secs() % 86_400 != 0 {
                        return Err(err(no, "an all-day event lasts whole days (P1D, P2D, ...)"));
                    }
                    first.checked_add(jiff::Span::new().days(n)).map_err(|e| err(no, e))?
                }
                (None, None) => first.tomorrow().map_err(|e| err(start_line, e))?,
            };
            let mut d = first;
            while d < last_exclusive {
                days.push((d, None));
                if days.len() > MAX_EXCEPTIONS {
                    return Err(err(start_line, "the event is too long"));
                }
                d = d.tomorrow().map_err(|e| err(start_line, e))?;
            }
        }
        When::Local(from) => {
            let to = match (ev.end, ev.duration) {
                (Some((_, When::Local(t))), _) => t,
                (Some((no, When::Date(_))), _) => {
                    return Err(err(no, "DTEND is a date but DTSTART a date-time; give both the same kind"))
                }
                (None, Some((no, d))) => from.checked_add(d).map_err(|e| err(no, e))?,
                // RFC 5545: a timed event without an end takes no time, so it closes nothing.
                (None, None) => from,
            };
            if to < from {
                return Err(err(end_line, "the event ends before it starts"));
            }
            let mut day = from.date();
            while day.at(0, 0, 0, 0) < to {
                let day_start = day.at(0, 0, 0, 0);
                let next = day.tomorrow().map_err(|e| err(start_line, e))?;
                let a = if from > day_start { minutes(from) } else { 0 };
                let b = if to < next.at(0, 0, 0, 0) { minutes(to) } else { 24 * 60 };
                if b > a {
                    days.push((day, if a == 0 && b == 24 * 60 { None } else { Some((a, b)) }));
                }
                if days.len() > MAX_EXCEPTIONS {
                    return Err(err(start_line, "the event is too long"));
                }
                day = next;
            }
        }
    }
    let first_day = match start {
        When::Date(d) => d,
        When::Local(dt) => dt.date(),
    };
    let recur = match &ev.rrule {
        None => Recur::Once,
        Some(rule) => recurrence(rule, first_day)?,
    };
    for (date, closed) in days {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
            return Err(err(start_line, format!("{date} is outside {FIRST_YEAR}-{LAST_YEAR}")));
        }
        let closed: Vec<TimeRange> = closed.map(|(a, b)| vec![TimeRange::new(&hhmm(a), &hhmm(b))]).unwrap_or_default();
        match recur {
            Recur::Once => out.push(Exception { name: name.clone(), date: date.to_string(), yearly: false, closed }),
            Recur::Yearly => out.push(Exception { name: name.clone(), date: date.to_string(), yearly: true, closed }),
            Recur::Years(ref years) => {
                for &k in years {
                    // A day of a longer event may not exist that year (29
                    // February inside a week); the rest of the event does.
                    let Ok(d) = Date::new(date.year() + k, date.month(), date.day()) else { continue };
                    if d.year() > LAST_YEAR {
                        break;
                    }
                    out.push(Exception {
                        name: name.clone(),
                        date: d.to_string(),
                        yearly: false,
                        closed: closed.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Minutes into the day, rounding seconds down (calendars work in whole minutes).
fn minutes(dt: DateTime) -> u16 {
    dt.hour() as u16 * 60 + dt.minute() as u16
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests;
