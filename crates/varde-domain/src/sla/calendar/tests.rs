//! Table tests of the business-time arithmetic: plain weeks, midnight, year end, holidays,
//! overrides and both directions of daylight saving in two zones. Property tests are in
//! `tests/calendar_props.rs`.

use super::*;

fn utc(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A civil time in a zone, as an instant (the first one when the time is repeated).
fn local(zone: &str, s: &str) -> Timestamp {
    let dt: DateTime = s.parse().unwrap();
    time_zone(zone).unwrap().to_ambiguous_timestamp(dt).compatible().unwrap()
}

fn h(hours: i64) -> SignedDuration {
    SignedDuration::from_hours(hours)
}

fn m(minutes: i64) -> SignedDuration {
    SignedDuration::from_mins(minutes)
}

const CPH: &str = "Europe/Copenhagen";
const NY: &str = "America/New_York";

fn office(zone: &str) -> Calendar {
    Calendar::compile(&CalendarSpec::weekdays(zone, &[("08:00", "12:00"), ("12:30", "16:00")])).unwrap()
}

fn errors(spec: &CalendarSpec) -> Vec<(String, String)> {
    match Calendar::compile(spec) {
        Ok(_) => Vec::new(),
        Err(DomainError::Invalid(list)) => list.into_iter().map(|e| (e.field, e.message)).collect(),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

fn fields(spec: &CalendarSpec) -> Vec<String> {
    errors(spec).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn always_is_plain_time() {
    let c = Calendar::always();
    let a = utc("2026-03-29T00:30:00Z");
    assert_eq!(c.add(a, h(5)), utc("2026-03-29T05:30:00Z"));
    assert_eq!(c.add(a, h(-5)), utc("2026-03-28T19:30:00Z"));
    assert_eq!(c.between(a, utc("2027-03-29T00:30:00Z")), h(365 * 24));
    assert_eq!(c.between(utc("2027-03-29T00:30:00Z"), a), h(-365 * 24));
    assert!(c.is_working(a));
    // Across a year end and a leap day.
    assert_eq!(c.add(utc("2027-12-31T23:00:00Z"), h(24 * 60 + 2)), utc("2028-03-01T01:00:00Z"));
}

#[test]
fn within_a_day_and_over_lunch() {
    let c = office(CPH);
    // Monday 2026-11-23, CET (+01:00).
    assert_eq!(c.add(local(CPH, "2026-11-23T09:00"), h(2)), local(CPH, "2026-11-23T11:00"));
    assert_eq!(c.add(local(CPH, "2026-11-23T11:00"), h(2)), local(CPH, "2026-11-23T13:30"));
    // Exactly to the end of the morning: the due instant is the interval's end, not 12:30.
    assert_eq!(c.add(local(CPH, "2026-11-23T11:00"), h(1)), local(CPH, "2026-11-23T12:00"));
    // Going back from the afternoon's start lands on the morning's end... and back from 12:30 + 0.
    assert_eq!(c.add(local(CPH, "2026-11-23T12:30"), m(-30)), local(CPH, "2026-11-23T11:30"));
    // Starting in the lunch break counts from 12:30.
    assert_eq!(c.add(local(CPH, "2026-11-23T12:10"), m(30)), local(CPH, "2026-11-23T13:00"));
    assert_eq!(c.between(local(CPH, "2026-11-23T07:00"), local(CPH, "2026-11-23T18:00")), m(450));
    assert!(c.is_working(local(CPH, "2026-11-23T08:00")));
    assert!(!c.is_working(local(CPH, "2026-11-23T12:00")));
    assert!(!c.is_working(local(CPH, "2026-11-23T12:29")));
    assert!(c.is_working(local(CPH, "2026-11-23T15:59")));
    assert!(!c.is_working(local(CPH, "2026-11-23T16:00")));
}

#[test]
fn over_the_weekend_and_midnight() {
    let c = office(CPH);
    // Friday 2026-11-27 15:00 + 2h = Monday 09:00.
    assert_eq!(c.add(local(CPH, "2026-11-27T15:00"), h(2)), local(CPH, "2026-11-30T09:00"));
    assert_eq!(c.add(local(CPH, "2026-11-30T09:00"), h(-2)), local(CPH, "2026-11-27T15:00"));
    // Saturday counts nothing.
    assert_eq!(c.between(local(CPH, "2026-11-28T00:00"), local(CPH, "2026-11-30T00:00")), h(0));
    assert!(!c.is_working(local(CPH, "2026-11-28T10:00")));
    // Starting at midnight on Sunday.
    assert_eq!(c.add(local(CPH, "2026-11-29T00:00"), h(4)), local(CPH, "2026-11-30T12:00"));
    // Three business days of 7.5 h.
    assert_eq!(c.add(local(CPH, "2026-11-23T08:00"), m(3 * 450)), local(CPH, "2026-11-25T16:00"));
}

#[test]
fn a_day_ending_at_midnight_and_night_shifts() {
    let spec = CalendarSpec {
        time_zone: "UTC".into(),
        weekly: WeeklyHours {
            monday: vec![TimeRange::new("22:00", "24:00")],
            tuesday: vec![TimeRange::new("00:00", "06:00")],
            ..Default::default()
        },
        exceptions: vec![],
        overrides: vec![],
    };
    let c = Calendar::compile(&spec).unwrap();
    // Monday 23:00 + 3h runs through midnight without a gap.
    assert_eq!(c.add(utc("2026-11-23T23:00:00Z"), h(3)), utc("2026-11-24T02:00:00Z"));
    assert_eq!(c.between(utc("2026-11-23T00:00:00Z"), utc("2026-11-25T00:00:00Z")), h(8));
    assert!(c.is_working(utc("2026-11-24T00:00:00Z")));
}

#[test]
fn year_end_with_holidays() {
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
    for (name, date) in [("Juleaftensdag", "2026-12-24"), ("Juledag", "2026-12-25"), ("Nytårsdag", "2026-01-01")] {
        spec.exceptions.push(Exception { name: name.into(), date: date.into(), yearly: true, closed: vec![] });
    }
    let c = Calendar::compile(&spec).unwrap();
    // Wednesday 2026-12-23 15:00 + 2h: 24th, 25th closed, 26-27 weekend, Monday 28th 09:00.
    assert_eq!(c.add(local(CPH, "2026-12-23T15:00"), h(2)), local(CPH, "2026-12-28T09:00"));
    // Thursday 2026-12-31 15:00 + 2h: 1 January 2027 is a Friday and a holiday, then the weekend.
    assert_eq!(c.add(local(CPH, "2026-12-31T15:00"), h(2)), local(CPH, "2027-01-04T09:00"));
    assert_eq!(c.add(local(CPH, "2027-01-04T09:00"), h(-2)), local(CPH, "2026-12-31T15:00"));
    assert_eq!(c.between(local(CPH, "2026-12-31T15:00"), local(CPH, "2027-01-04T09:00")), h(2));
    // Yearly: also in 2030 (24th Tuesday, 25th Wednesday).
    assert_eq!(c.add(local(CPH, "2030-12-23T15:00"), h(2)), local(CPH, "2030-12-26T09:00"));
    // ...but not before the year it was given for.
    assert_eq!(c.add(local(CPH, "2025-12-23T15:00"), h(2)), local(CPH, "2025-12-24T09:00"));
}

#[test]
fn partial_exception_and_override() {
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
    spec.exceptions.push(Exception {
        name: "Staff party".into(),
        date: "2026-11-26".into(),
        yearly: false,
        closed: vec![TimeRange::new("12:00", "24:00")],
    });
    spec.overrides.push(DateOverride {
        date: "2026-11-28".into(),
        hours: vec![TimeRange::new("10:00", "14:00")],
        note: Some("Migration weekend".into()),
    });
    let c = Calendar::compile(&spec).unwrap();
    // Thursday 26th: only 08:00-12:00.
    assert_eq!(c.between(local(CPH, "2026-11-26T00:00"), local(CPH, "2026-11-27T00:00")), h(4));
    // Saturday 28th works 10-14.
    assert_eq!(c.add(local(CPH, "2026-11-27T15:00"), h(2)), local(CPH, "2026-11-28T11:00"));
    assert!(c.is_working(local(CPH, "2026-11-28T13:59")));
    assert!(!c.is_working(local(CPH, "2026-11-29T13:00")));
}

#[test]
fn an_interval_spanning_a_holiday_block() {
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
    for d in ["2027-03-25", "2027-03-26", "2027-03-29"] {
        spec.exceptions.push(Exception { name: "Easter".into(), date: d.into(), yearly: false, closed: vec![] });
    }
    let c = Calendar::compile(&spec).unwrap();
    // Wednesday 24 March 2027 12:00 to Tuesday 30 March 12:00: 4h + 4h.
    assert_eq!(c.between(local(CPH, "2027-03-24T12:00"), local(CPH, "2027-03-30T12:00")), h(8));
    assert_eq!(c.add(local(CPH, "2027-03-24T12:00"), h(8)), local(CPH, "2027-03-30T12:00"));
}

#[test]
fn feb_29_yearly_holiday_only_in_leap_years() {
    let mut spec = CalendarSpec::always_in("UTC");
    spec.exceptions.push(Exception {
        name: "Leap day".into(),
        date: "2024-02-29".into(),
        yearly: true,
        closed: vec![],
    });
    let c = Calendar::compile(&spec).unwrap();
    assert!(!c.is_working(utc("2028-02-29T12:00:00Z")));
    assert!(c.is_working(utc("2027-02-28T12:00:00Z")));
    assert!(c.is_working(utc("2027-03-01T12:00:00Z")));
    assert_eq!(c.between(utc("2028-02-28T00:00:00Z"), utc("2028-03-02T00:00:00Z")), h(48));
    assert_eq!(c.between(utc("2027-02-28T00:00:00Z"), utc("2027-03-02T00:00:00Z")), h(48));
    assert_eq!(c.add(utc("2028-02-28T23:00:00Z"), h(2)), utc("2028-03-01T01:00:00Z"));
}

#[test]
fn copenhagen_spring_forward() {
    // 2026-03-29 02:00 CET becomes 03:00 CEST. Sunday; make it a working day 01:30-03:30.
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
    spec.weekly.sunday = vec![TimeRange::new("01:30", "03:30")];
    let c = Calendar::compile(&spec).unwrap();
    let from = local(CPH, "2026-03-29T00:00");
    let to = local(CPH, "2026-03-30T00:00");
    // Only one real hour: 00:30Z to 01:30Z.
    assert_eq!(c.between(from, to), h(1));
    assert_eq!(c.add(from, m(30)), utc("2026-03-29T01:00:00Z"));
    assert_eq!(c.add(from, h(1)), utc("2026-03-29T01:30:00Z"));
    // The week before and after, two hours.
    assert_eq!(c.between(local(CPH, "2026-03-22T00:00"), local(CPH, "2026-03-23T00:00")), h(2));
    assert_eq!(c.between(local(CPH, "2026-04-05T00:00"), local(CPH, "2026-04-06T00:00")), h(2));
    // Monday's working day is in CEST: 08:00 local = 06:00Z.
    assert_eq!(c.add(utc("2026-03-29T01:30:00Z"), m(1)), utc("2026-03-30T06:01:00Z"));
}

#[test]
fn hours_that_begin_or_end_in_the_skipped_hour_begin_or_end_at_the_change() {
    // 02:00-03:00 does not exist on 2026-03-29 in Copenhagen; the change is 01:00Z.
    let on_sunday = |from: &str, to: &str| {
        let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
        spec.weekly.sunday = vec![TimeRange::new(from, to)];
        Calendar::compile(&spec).unwrap()
    };
    let (day, next) = (local(CPH, "2026-03-29T00:00"), local(CPH, "2026-03-30T00:00"));
    // Open 02:30-03:30: from the change to 03:30 CEST, half an hour.
    let c = on_sunday("02:30", "03:30");
    assert_eq!(c.between(day, next), m(30));
    assert_eq!(c.add(day, m(1)), utc("2026-03-29T01:01:00Z"));
    // Open 01:00-02:30: until the change, one hour; 03:15 CEST is closed.
    let c = on_sunday("01:00", "02:30");
    assert_eq!(c.between(day, next), h(1));
    assert_eq!(c.between(utc("2026-03-29T01:15:00Z"), utc("2026-03-29T01:20:00Z")), m(0));
    // The week after, both are whole again.
    assert_eq!(c.between(local(CPH, "2026-04-05T00:00"), local(CPH, "2026-04-06T00:00")), m(90));
}

#[test]
fn copenhagen_fall_back() {
    // 2026-10-25 03:00 CEST becomes 02:00 CET.
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "16:00")]);
    spec.weekly.sunday = vec![TimeRange::new("01:30", "03:30")];
    let c = Calendar::compile(&spec).unwrap();
    let from = local(CPH, "2026-10-25T00:00");
    let to = local(CPH, "2026-10-26T00:00");
    // Three real hours: 23:30Z (Saturday) to 02:30Z.
    assert_eq!(c.between(from, to), h(3));
    assert_eq!(c.add(from, h(3)), utc("2026-10-25T02:30:00Z"));
    assert!(c.is_working(utc("2026-10-25T01:15:00Z")));
    // Friday before: 16:00 CEST = 14:00Z; Monday after: 08:00 CET = 07:00Z.
    assert_eq!(c.add(local(CPH, "2026-10-23T15:00"), h(5)), utc("2026-10-26T08:00:00Z"));
}

#[test]
fn a_24x7_calendar_over_dst_counts_real_hours() {
    let c = Calendar::compile(&CalendarSpec::always_in(CPH)).unwrap();
    // The spring-forward day has 23 hours, the fall-back day 25.
    assert_eq!(c.between(local(CPH, "2026-03-29T00:00"), local(CPH, "2026-03-30T00:00")), h(23));
    assert_eq!(c.between(local(CPH, "2026-10-25T00:00"), local(CPH, "2026-10-26T00:00")), h(25));
    assert_eq!(c.add(utc("2026-03-29T00:59:00Z"), m(2)), utc("2026-03-29T01:01:00Z"));
    assert_eq!(c.add(utc("2026-12-31T22:30:00Z"), h(1)), utc("2026-12-31T23:30:00Z"));
}

#[test]
fn new_york_both_directions() {
    // 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    let spec = CalendarSpec {
        time_zone: NY.into(),
        weekly: WeeklyHours::on(0..7, &[TimeRange::new("00:00", "04:00"), TimeRange::new("09:00", "17:00")]),
        exceptions: vec![],
        overrides: vec![],
    };
    let c = Calendar::compile(&spec).unwrap();
    let spring = (local(NY, "2026-03-08T00:00"), local(NY, "2026-03-09T00:00"));
    assert_eq!(c.between(spring.0, spring.1), h(11));
    let fall = (local(NY, "2026-11-01T00:00"), local(NY, "2026-11-02T00:00"));
    assert_eq!(c.between(fall.0, fall.1), h(13));
    // 00:00 EST = 05:00Z; 3 hours of working time on the spring day ends at 04:00 EDT = 08:00Z.
    assert_eq!(c.add(spring.0, h(3)), utc("2026-03-08T08:00:00Z"));
    // Fall: 00:00 EDT = 04:00Z and 04:00 EST = 09:00Z, five real hours; four of them end at 08:00Z.
    assert_eq!(c.add(fall.0, h(4)), utc("2026-11-01T08:00:00Z"));
    assert_eq!(c.add(utc("2026-11-01T08:00:00Z"), h(-4)), fall.0);
    // Office hours on the Monday after: 09:00 EST = 14:00Z.
    assert_eq!(c.add(local(NY, "2026-11-02T00:00"), h(5)), utc("2026-11-02T15:00:00Z"));
}

#[test]
fn long_targets_cross_years() {
    let c = office(CPH);
    let a = local(CPH, "2026-06-01T08:00");
    let d = m(450 * 600); // some 600 business days
    let b = c.add(a, d);
    assert_eq!(c.between(a, b), d);
    assert_eq!(c.add(b, -d), a);
    assert!(b > local(CPH, "2028-06-01T00:00"));
}

#[test]
fn sub_second_precision_is_kept() {
    let c = office(CPH);
    let a: Timestamp = "2026-11-23T08:00:00.123456789Z".parse().unwrap();
    let d = SignedDuration::new(3600, 1);
    let b = c.add(a, d);
    assert_eq!(b, "2026-11-23T09:00:00.12345679Z".parse().unwrap());
    assert_eq!(c.between(a, b), d);
    assert_eq!(c.add(b, -d), a);
}

#[test]
fn zero_is_the_start_even_outside_working_time() {
    let c = office(CPH);
    let sat = local(CPH, "2026-11-28T10:00");
    assert_eq!(c.add(sat, SignedDuration::ZERO), sat);
}

#[test]
fn extreme_instants_saturate() {
    let c = office(CPH);
    assert_eq!(c.add(Timestamp::MAX, h(1)), Timestamp::MAX);
    assert_eq!(c.add(Timestamp::MIN, h(-1)), Timestamp::MIN);
    assert_eq!(c.add(local(CPH, "2026-11-23T08:00"), SignedDuration::MAX), Timestamp::MAX);
    let back = c.add(Timestamp::MAX, h(-1));
    assert!(back < Timestamp::MAX && c.is_working(back));
    assert!(!c.is_working(Timestamp::MIN));
}

#[test]
fn unknown_zone_and_bad_times_are_reported_per_field() {
    let mut spec = CalendarSpec::weekdays("Europe/Atlantis", &[("08:00", "12:00")]);
    spec.weekly.tuesday = vec![TimeRange::new("8:00", "7:00"), TimeRange::new("25:00", "26:00")];
    spec.weekly.wednesday = vec![TimeRange::new("08:00", "12:00"), TimeRange::new("11:00", "13:00")];
    spec.exceptions.push(Exception { name: "".into(), date: "2026-02-30".into(), yearly: false, closed: vec![] });
    spec.overrides.push(DateOverride { date: "26-01-01".into(), hours: vec![], note: None });
    let errs = errors(&spec);
    let f: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert!(f.contains(&"time_zone"), "{errs:?}");
    assert!(f.contains(&"weekly.tuesday[0].end"), "{errs:?}");
    assert!(f.contains(&"weekly.tuesday[1].start"), "{errs:?}");
    assert!(f.contains(&"weekly.tuesday[1].end"), "{errs:?}");
    assert!(f.contains(&"weekly.wednesday"), "{errs:?}");
    assert!(f.contains(&"exceptions[0].name"), "{errs:?}");
    assert!(f.contains(&"exceptions[0].date"), "{errs:?}");
    assert!(f.contains(&"overrides[0].date"), "{errs:?}");
    assert!(errs.iter().any(|(_, m)| m.contains("Europe/Atlantis")));
    assert!(errs.iter().any(|(_, m)| m.contains("overlap")));
}

#[test]
fn touching_ranges_are_not_overlapping() {
    let spec = CalendarSpec::weekdays("UTC", &[("08:00", "12:00"), ("12:00", "16:00")]);
    let c = Calendar::compile(&spec).unwrap();
    assert_eq!(c.add(utc("2026-11-23T11:00:00Z"), h(2)), utc("2026-11-23T13:00:00Z"));
}

#[test]
fn no_working_time_is_refused() {
    let empty =
        CalendarSpec { time_zone: "UTC".into(), weekly: WeeklyHours::default(), exceptions: vec![], overrides: vec![] };
    assert_eq!(fields(&empty), vec!["weekly"]);
    let mut only_overrides = empty.clone();
    only_overrides.overrides.push(DateOverride {
        date: "2026-01-05".into(),
        hours: vec![TimeRange::new("08:00", "09:00")],
        note: None,
    });
    assert_eq!(fields(&only_overrides), vec!["weekly"]);

    // Mondays only, and every Monday of 2027 a holiday.
    let mut mondays = CalendarSpec {
        time_zone: "UTC".into(),
        weekly: WeeklyHours::on([0], &[TimeRange::new("08:00", "16:00")]),
        exceptions: vec![],
        overrides: vec![],
    };
    let mut d = Date::new(2027, 1, 4).unwrap();
    while d.year() == 2027 {
        mondays.exceptions.push(Exception {
            name: "Closed".into(),
            date: d.to_string(),
            yearly: false,
            closed: vec![],
        });
        d = d.checked_add(jiff::Span::new().days(7)).unwrap();
    }
    let errs = errors(&mondays);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "exceptions");
    assert!(errs[0].1.contains("2027"));
    // One Monday less, and it is fine.
    mondays.exceptions.pop();
    assert!(Calendar::compile(&mondays).is_ok());

    // Overrides closing every Monday of 2028 do the same.
    let mut closed = mondays.clone();
    closed.exceptions.clear();
    let mut d = Date::new(2028, 1, 3).unwrap();
    while d.year() == 2028 {
        closed.overrides.push(DateOverride { date: d.to_string(), hours: vec![], note: None });
        d = d.checked_add(jiff::Span::new().days(7)).unwrap();
    }
    let errs = errors(&closed);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].1.contains("2028"), "{errs:?}");
}

#[test]
fn duplicate_override_dates_are_refused() {
    let mut spec = CalendarSpec::weekdays("UTC", &[("08:00", "16:00")]);
    for _ in 0..2 {
        spec.overrides.push(DateOverride { date: "2026-12-24".into(), hours: vec![], note: None });
    }
    assert_eq!(fields(&spec), vec!["overrides[1].date"]);
}

#[test]
fn the_same_exception_twice_is_refused() {
    let mut spec = CalendarSpec::weekdays("UTC", &[("08:00", "16:00")]);
    let boxing_day = Exception { name: "Boxing Day".into(), date: "2026-12-26".into(), yearly: true, closed: vec![] };
    spec.exceptions.push(boxing_day.clone());
    spec.exceptions.push(Exception { yearly: false, ..boxing_day.clone() });
    assert!(spec.check_repeats().is_ok(), "one-off and yearly are two rules");
    spec.exceptions.push(boxing_day);
    let Err(DomainError::Invalid(errs)) = spec.check_repeats() else { panic!("a repeat passed") };
    let errs: Vec<(String, String)> = errs.into_iter().map(|e| (e.field, e.message)).collect();
    assert_eq!(errs, vec![("exceptions[2]".to_string(), "is the same as exceptions[0]".to_string())]);
    // A calendar stored with the repeat still compiles.
    assert!(fields(&spec).is_empty());
}

#[test]
fn spec_round_trips_through_json() {
    let mut spec = CalendarSpec::weekdays(CPH, &[("08:00", "12:00")]);
    spec.exceptions.push(Exception {
        name: "Juleaften".into(),
        date: "2026-12-24".into(),
        yearly: true,
        closed: vec![TimeRange::new("12:00", "24:00")],
    });
    let json = serde_json::to_string(&spec).unwrap();
    let back: CalendarSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
    // Omitted lists default to empty.
    let min: CalendarSpec =
        serde_json::from_str(r#"{"time_zone":"UTC","weekly":{"monday":[{"start":"08:00","end":"09:00"}]}}"#).unwrap();
    assert!(Calendar::compile(&min).is_ok());
}

#[test]
fn calendar_is_send_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Calendar>();
}

#[test]
fn intervals_lists_working_time_clipped_to_the_window() {
    let c = office(CPH);
    let got = c.intervals(local(CPH, "2026-11-27T10:00"), local(CPH, "2026-11-30T09:00"));
    let want = vec![
        (local(CPH, "2026-11-27T10:00"), local(CPH, "2026-11-27T12:00")),
        (local(CPH, "2026-11-27T12:30"), local(CPH, "2026-11-27T16:00")),
        (local(CPH, "2026-11-30T08:00"), local(CPH, "2026-11-30T09:00")),
    ];
    assert_eq!(got, want);
    let total: SignedDuration = got.iter().map(|(a, b)| b.duration_since(*a)).sum();
    assert_eq!(total, c.between(local(CPH, "2026-11-27T10:00"), local(CPH, "2026-11-30T09:00")));
    // Across a year end.
    let ny = c.intervals(local(CPH, "2026-12-31T15:00"), local(CPH, "2027-01-01T09:00"));
    assert_eq!(
        ny,
        vec![
            (local(CPH, "2026-12-31T15:00"), local(CPH, "2026-12-31T16:00")),
            (local(CPH, "2027-01-01T08:00"), local(CPH, "2027-01-01T09:00"))
        ]
    );
    assert!(c.intervals(local(CPH, "2026-11-28T00:00"), local(CPH, "2026-11-28T23:00")).is_empty());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn time() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["00:00", "08:00", "23:59", "24:00", "24:01", "7:5", "é8:00", "08:0é", ":", ""])
                .prop_map(str::to_string),
            "\\PC{0,6}",
        ]
    }

    fn date() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["2024-02-29", "2023-02-29", "1899-12-31", "2199-12-31", "2026-1é-01", "x"])
                .prop_map(str::to_string),
            "\\PC{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn any_spec_compiles_or_is_refused(
            zone in prop::sample::select(vec!["UTC", "Europe/Copenhagen", "", "Nowhere", "europe/copenhagen"]),
            ranges in prop::collection::vec((0usize..7, time(), time()), 0..10),
            exceptions in prop::collection::vec((date(), any::<bool>(), prop::option::of((time(), time()))), 0..5),
            overrides in prop::collection::vec((date(), prop::option::of((time(), time()))), 0..3),
            at in -100_000_000_000i64..100_000_000_000,
        ) {
            let mut weekly = WeeklyHours::default();
            for (d, a, b) in ranges {
                weekly.day_mut(d).push(TimeRange { start: a, end: b });
            }
            let spec = CalendarSpec {
                time_zone: zone.to_string(),
                weekly,
                exceptions: exceptions
                    .into_iter()
                    .map(|(date, yearly, c)| Exception {
                        name: "x".into(),
                        date,
                        yearly,
                        closed: c.map(|(a, b)| vec![TimeRange { start: a, end: b }]).unwrap_or_default(),
                    })
                    .collect(),
                overrides: overrides
                    .into_iter()
                    .map(|(date, h)| DateOverride {
                        date,
                        hours: h.map(|(a, b)| vec![TimeRange { start: a, end: b }]).unwrap_or_default(),
                        note: None,
                    })
                    .collect(),
            };
            if let Ok(c) = Calendar::compile(&spec) {
                let t = Timestamp::from_second(at).unwrap();
                let due = c.add(t, SignedDuration::from_hours(9));
                prop_assert_eq!(c.between(t, due), SignedDuration::from_hours(9));
                let _ = c.is_working(t);
            }
        }
    }
}

#[test]
fn instants_before_the_first_year_start_from_its_beginning_east_of_utc() {
    // Copenhagen's first local year begins in the UTC year before it: an `add` from before
    // the covered years restarted there, found nothing, and restarted until the stack
    // overflowed (found by `any_spec_compiles_or_is_refused`).
    let c = office(CPH);
    let t = Timestamp::from_second(-100_000_000_000).unwrap();
    let due = c.add(t, h(9));
    assert_eq!(c.between(t, due), h(9));
    assert!(c.add(t, -h(9)) == Timestamp::MIN);
}
