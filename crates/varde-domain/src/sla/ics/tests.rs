use super::*;
use crate::sla::calendar::{Calendar, CalendarSpec};

const DK: &str = include_str!("../../../tests/fixtures/holidays-dk.ics");

fn cph() -> TimeZone {
    time_zone("Europe/Copenhagen").unwrap()
}

fn message(r: Result<Vec<Exception>, DomainError>) -> String {
    match r {
        Err(DomainError::Invalid(errs)) => {
            assert_eq!(errs[0].field, "ics");
            errs[0].message.clone()
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

fn ics(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{events}END:VCALENDAR\r\n")
}

#[test]
fn the_danish_holiday_file_imports() {
    let ex = parse(DK, &cph()).unwrap();
    assert_eq!(ex.len(), 20, "{ex:#?}");
    let find = |n: &str| ex.iter().find(|e| e.name == n).unwrap_or_else(|| panic!("{n} missing"));
    let nytaar = find("Nytårsdag");
    assert_eq!((nytaar.date.as_str(), nytaar.yearly, nytaar.closed.len()), ("2026-01-01", true, 0));
    // An escaped comma in SUMMARY.
    assert_eq!(find("Juledag, 1. juledag").date, "2026-12-25");
    // Easter moves: one-off dates.
    let langfredag: Vec<&str> = ex.iter().filter(|e| e.name == "Langfredag").map(|e| e.date.as_str()).collect();
    assert_eq!(langfredag, vec!["2026-04-03", "2027-03-26"]);
    assert!(ex.iter().filter(|e| e.name == "Langfredag").all(|e| !e.yearly));
    // Without DTEND an all-day event is one day.
    assert_eq!(find("Grundlovsdag").date, "2026-06-05");
    // The timed, yearly afternoon closure, in Copenhagen time.
    let eve = find("Nytårsaftensdag (eftermiddag)");
    assert_eq!(eve.date, "2026-12-31");
    assert!(eve.yearly);
    assert_eq!(eve.closed, vec![TimeRange::new("12:00", "24:00")]);

    // And the calendar built from them behaves: Wednesday 23 Dec 2026 15:00 + 2h of 08-16 hours
    // skips Christmas and the weekend; Monday 28 Dec 09:00.
    let mut spec = CalendarSpec::weekdays("Europe/Copenhagen", &[("08:00", "16:00")]);
    spec.exceptions = ex;
    let c = Calendar::compile(&spec).unwrap();
    let t = |s: &str| -> Timestamp { s.parse().unwrap() };
    assert_eq!(c.add(t("2026-12-23T14:00:00Z"), SignedDuration::from_hours(2)), t("2026-12-28T08:00:00Z"));
    // 31 Dec 2026 (Thursday) works 08-12 only; 1 Jan is closed.
    assert_eq!(c.between(t("2026-12-31T00:00:00Z"), t("2027-01-02T00:00:00Z")), SignedDuration::from_hours(4));
}

#[test]
fn folded_lines_and_lf_only_files() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261224\nSUMMARY:Jule\n aftensdag\nEND:VEVENT\nEND:VCALENDAR\n";
    let ex = parse(text, &cph()).unwrap();
    assert_eq!(ex[0].name, "Juleaftensdag");
    assert_eq!(ex[0].date, "2026-12-24");
}

#[test]
fn utc_times_become_calendar_times_and_split_at_midnight() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART:20260630T200000Z\r\nDTEND:20260701T060000Z\r\nSUMMARY:Maintenance\r\nEND:VEVENT\r\n",
    );
    // 20:00Z = 22:00 CEST; 06:00Z = 08:00 CEST.
    let ex = parse(&text, &cph()).unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].date.as_str(), &ex[0].closed), ("2026-06-30", &vec![TimeRange::new("22:00", "24:00")]));
    assert_eq!((ex[1].date.as_str(), &ex[1].closed), ("2026-07-01", &vec![TimeRange::new("00:00", "08:00")]));
    // The same event for a New York calendar: 16:00-02:00 EDT.
    let ny = parse(&text, &time_zone("America/New_York").unwrap()).unwrap();
    assert_eq!(ny[0].closed, vec![TimeRange::new("16:00", "24:00")]);
    assert_eq!(ny[1].closed, vec![TimeRange::new("00:00", "02:00")]);
}

#[test]
fn multi_day_all_day_events_and_durations() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\nSUMMARY:Jul\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nDURATION:P2D\r\nSUMMARY:Nytår\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Copenhagen:20270105T130000\r\nDURATION:PT2H\r\nSUMMARY:Møde\r\nEND:VEVENT\r\n",
    );
    let ex = parse(&text, &cph()).unwrap();
    let dates: Vec<&str> = ex.iter().map(|e| e.date.as_str()).collect();
    assert_eq!(dates, vec!["2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01", "2027-01-02", "2027-01-05"]);
    assert_eq!(ex[5].closed, vec![TimeRange::new("13:00", "15:00")]);
}

#[test]
fn yearly_with_count_or_until_becomes_one_off_dates() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260605\r\nRRULE:FREQ=YEARLY;COUNT=3\r\nSUMMARY:A\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240229\r\nRRULE:FREQ=YEARLY;UNTIL=20290101T000000Z\r\nSUMMARY:Leap\r\nEND:VEVENT\r\n",
    );
    let ex = parse(&text, &cph()).unwrap();
    let dates: Vec<&str> = ex.iter().map(|e| e.date.as_str()).collect();
    // 29 February exists in 2024 and 2028 only.
    assert_eq!(dates, vec!["2026-06-05", "2027-06-05", "2028-06-05", "2024-02-29", "2028-02-29"]);
    assert!(ex.iter().all(|e| !e.yearly));
}

/// RFC 5545: UNTIL bounds the occurrences inclusively, to the day; COUNT
/// counts occurrences, and a year without the date has none.
#[test]
fn until_is_inclusive_to_the_day_and_count_skips_years_without_the_date() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=YEARLY;UNTIL=20280101\r\nSUMMARY:Xmas\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nRRULE:FREQ=YEARLY;UNTIL=20281224\r\nSUMMARY:Eve\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240229\r\nRRULE:FREQ=YEARLY;COUNT=3\r\nSUMMARY:Leap\r\nEND:VEVENT\r\n",
    );
    let ex = parse(&text, &cph()).unwrap();
    let dates: Vec<&str> = ex.iter().map(|e| e.date.as_str()).collect();
    assert_eq!(
        dates,
        vec![
            "2026-12-25",
            "2027-12-25",
            "2026-12-24",
            "2027-12-24",
            "2028-12-24",
            "2024-02-29",
            "2028-02-29",
            "2032-02-29"
        ]
    );
}

#[test]
fn cancelled_events_and_alarms_are_skipped() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260605\r\nSTATUS:CANCELLED\r\nSUMMARY:A\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260606\r\nSUMMARY:B\r\nBEGIN:VALARM\r\nTRIGGER:-PT1H\r\nSUMMARY:Not me\r\nEND:VALARM\r\nEND:VEVENT\r\n",
    );
    let ex = parse(&text, &cph()).unwrap();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].name, "B");
}

#[test]
fn other_recurrence_rules_are_refused_naming_the_line() {
    let text = ics(
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r\nSUMMARY:Thanksgiving\r\nEND:VEVENT\r\n",
    );
    let m = message(parse(&text, &cph()));
    assert!(m.starts_with("line 6:"), "{m}");
    assert!(m.contains("BYDAY"), "{m}");
    let weekly = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n");
    let m = message(parse(&weekly, &cph()));
    assert!(m.starts_with("line 6:") && m.contains("FREQ=WEEKLY"), "{m}");
    // A BYMONTHDAY that is not the event's own day would silently move the holiday.
    let other_day =
        ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRRULE:FREQ=YEARLY;BYMONTHDAY=27\r\nEND:VEVENT\r\n");
    assert!(message(parse(&other_day, &cph())).contains("BYMONTHDAY=27"));
    let rdate = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRDATE;VALUE=DATE:20271125\r\nEND:VEVENT\r\n");
    assert!(message(parse(&rdate, &cph())).starts_with("line 6: RDATE"));
}

#[test]
fn garbage_is_refused_clearly() {
    assert!(message(parse("hello world", &cph())).contains("line 1"));
    assert!(message(parse("", &cph())).contains("not an iCalendar file"));
    assert!(message(parse("BEGIN:VEVENT\r\nEND:VEVENT\r\n", &cph())).contains("BEGIN:VCALENDAR"));
    let cut = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\n";
    assert!(message(parse(cut, &cph())).contains("cut off"));
    let bad_date = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261332\r\nEND:VEVENT\r\n");
    assert!(message(parse(&bad_date, &cph())).starts_with("line 5:"));
    let bad_tz = ics("BEGIN:VEVENT\r\nDTSTART;TZID=W. Europe Standard Time:20261224T120000\r\nEND:VEVENT\r\n");
    assert!(message(parse(&bad_tz, &cph())).contains("unknown TZID"));
    let no_start = ics("BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n");
    assert!(message(parse(&no_start, &cph())).contains("without DTSTART"));
    let backwards = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261220\r\nEND:VEVENT\r\n");
    assert!(message(parse(&backwards, &cph())).contains("not after DTSTART"));
    let mismatched = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nEND:VTODO\r\n");
    assert!(message(parse(&mismatched, &cph())).contains("does not close"));
    // Multi-byte characters where ASCII is expected.
    let dur = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nDURATION:P1é\r\nEND:VEVENT\r\n");
    assert!(message(parse(&dur, &cph())).contains("DURATION"));
    let dt = ics("BEGIN:VEVENT\r\nDTSTART:2026é224T12000Z\r\nEND:VEVENT\r\n");
    assert!(message(parse(&dt, &cph())).contains("DTSTART"));
    let far = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:30001224\r\nEND:VEVENT\r\n");
    assert!(message(parse(&far, &cph())).contains("year"));
}

#[test]
fn huge_files_are_bounded() {
    let text = ics("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:19000101\r\nDTEND;VALUE=DATE:21000101\r\nEND:VEVENT\r\n");
    assert!(message(parse(&text, &cph())).contains("too long"));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Lines built from the pieces real files have, shuffled and broken, with non-ASCII bytes.
    fn line() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "BEGIN", "END", "DTSTART", "DTEND", "DURATION", "RRULE", "SUMMARY", "STATUS", "RDATE", "X-Ä",
        ]);
        let param = prop::sample::select(vec!["", ";VALUE=DATE", ";TZID=Europe/Copenhagen", ";TZID=\"/x:y\"", ";é=ü"]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "VCALENDAR",
                "VEVENT",
                "VALARM",
                "20261224",
                "20261224T120000Z",
                "P1D",
                "P1é",
                "PT2H",
                "FREQ=YEARLY",
                "FREQ=YEARLY;COUNT=3",
                "FREQ=YEARLY;UNTIL=2030",
                "CANCELLED",
                "2026é224T1200000"
            ])
            .prop_map(str::to_string),
            "\\PC{0,20}",
        ];
        (name, param, value, prop::bool::ANY).prop_map(|(n, p, v, fold)| {
            let l = format!("{n}{p}:{v}");
            if fold && l.len() > 4 {
                format!(
                    "{}\r\n {}",
                    &l[..l.char_indices().nth(3).map(|(i, _)| i).unwrap_or(0)],
                    &l[l.char_indices().nth(3).map(|(i, _)| i).unwrap_or(0)..]
                )
            } else {
                l
            }
        })
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused(lines in prop::collection::vec(line(), 0..30), junk in "\\PC{0,200}") {
            let mut text = String::from("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n");
            text.push_str(&lines.join("\r\n"));
            text.push_str("\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
            let _ = parse(&text, &cph());
            let _ = parse(&junk, &cph());
        }
    }
}
