//! Property tests of business-time arithmetic over random calendars (zones with and without
//! daylight saving, one to three ranges a day at quarter-hour bounds, random holidays) and
//! random instants from 2019 to 2033.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use varde_domain::sla::calendar::{Calendar, CalendarSpec, DateOverride, Exception, TimeRange, WeeklyHours};

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Copenhagen",
    "America/New_York",
    "Australia/Lord_Howe", // a half-hour DST shift
    "Asia/Kolkata",
    "America/Santiago", // DST changes at midnight
    "Pacific/Chatham",
];

fn hhmm(quarter: u16) -> String {
    format!("{:02}:{:02}", quarter / 4, (quarter % 4) * 15)
}

/// Up to three disjoint ranges in a day, from sorted distinct quarter-hour points.
fn day() -> impl Strategy<Value = Vec<TimeRange>> {
    prop::collection::btree_set(0u16..=96, 0..=6).prop_map(|points| {
        let p: Vec<u16> = points.into_iter().collect();
        p.chunks_exact(2).map(|w| TimeRange::new(&hhmm(w[0]), &hhmm(w[1]))).collect()
    })
}

fn date() -> impl Strategy<Value = String> {
    (2019i16..2034, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

fn spec() -> impl Strategy<Value = CalendarSpec> {
    let weekly = prop::collection::vec(day(), 7).prop_map(|days| {
        let mut w = WeeklyHours::default();
        for (i, d) in days.into_iter().enumerate() {
            *w.day_mut(i) = d;
        }
        w
    });
    let exception =
        (date(), any::<bool>(), prop::option::of((0u16..48, 48u16..=96))).prop_map(|(date, yearly, part)| Exception {
            name: "Closed".into(),
            date,
            yearly,
            closed: part.map(|(a, b)| vec![TimeRange::new(&hhmm(a), &hhmm(b))]).unwrap_or_default(),
        });
    let overrides = prop::collection::btree_map(date(), day(), 0..4)
        .prop_map(|m| m.into_iter().map(|(date, hours)| DateOverride { date, hours, note: None }).collect::<Vec<_>>());
    (prop::sample::select(ZONES), weekly, prop::collection::vec(exception, 0..12), overrides).prop_map(
        |(zone, weekly, exceptions, overrides)| CalendarSpec {
            time_zone: zone.to_string(),
            weekly,
            exceptions,
            overrides,
        },
    )
}

/// A realistic calendar or the 24x7 one now and then, so both shapes are always exercised.
fn calendar() -> impl Strategy<Value = Calendar> {
    prop_oneof![
        8 => spec().prop_filter_map("no working time", |s| Calendar::compile(&s).ok()),
        1 => Just(Calendar::always()),
        1 => Just(Calendar::compile(&CalendarSpec::always_in("Europe/Copenhagen")).unwrap()),
    ]
}

fn instant() -> impl Strategy<Value = Timestamp> {
    // 2019-01-01 to 2033-01-01, with a nanosecond part half of the time.
    (1_546_300_800i64..1_988_150_400, prop_oneof![Just(0i32), 0i32..1_000_000_000])
        .prop_map(|(s, n)| Timestamp::new(s, n).unwrap())
}

/// Business durations up to about 60 business days of 8 hours.
fn duration() -> impl Strategy<Value = SignedDuration> {
    (0i64..60 * 8 * 3600, prop_oneof![Just(0i32), 0i32..1_000_000_000]).prop_map(|(s, n)| SignedDuration::new(s, n))
}

/// A start inside working time: one nanosecond of business time forward, then back.
fn inside(c: &Calendar, t: Timestamp) -> Timestamp {
    let one = SignedDuration::from_nanos(1);
    c.add(c.add(t, one), -one)
}

const NS: SignedDuration = SignedDuration::from_nanos(1);

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn add_then_subtract_is_identity_inside_working_time(c in calendar(), t in instant(), d in duration()) {
        let a = inside(&c, t);
        prop_assert!(c.is_working(a));
        let b = c.add(a, d);
        prop_assert_eq!(c.add(b, -d), a, "b = {}", b);
    }

    #[test]
    fn due_instants_fall_in_working_time_or_at_an_interval_end(c in calendar(), t in instant(), d in duration()) {
        prop_assume!(d > SignedDuration::ZERO);
        let b = c.add(t, d);
        prop_assert!(b > t);
        // Inside an interval or at its end: the nanosecond before is working time.
        prop_assert!(c.is_working(b - NS), "due {} after {}", b, t);
        // Going back, the instant reached is working time itself.
        prop_assert!(c.is_working(c.add(t, -d)));
    }

    #[test]
    fn between_measures_what_add_added(c in calendar(), t in instant(), d in duration()) {
        prop_assert_eq!(c.between(t, c.add(t, d)), d);
        prop_assert_eq!(c.between(t, c.add(t, -d)), -d);
    }

    #[test]
    fn between_is_additive_and_antisymmetric(c in calendar(), a in instant(), b in instant(), m in instant()) {
        prop_assert_eq!(c.between(a, b), -c.between(b, a));
        prop_assert_eq!(c.between(a, m) + c.between(m, b), c.between(a, b));
        let real = if b > a { b.duration_since(a) } else { a.duration_since(b) };
        prop_assert!(c.between(a, b).abs() <= real);
    }

    #[test]
    fn a_pause_adds_exactly_its_business_time(
        c in calendar(), s in instant(), d in duration(), run in duration(), pause in duration(),
    ) {
        // A clock starts at s with target d, runs until p1, is paused until p2, then resumes
        // with what remained: it is due exactly where the plain target plus the business time
        // of the pause would be.
        prop_assume!(d > SignedDuration::ZERO);
        let p1 = s + run.min(SignedDuration::from_hours(24 * 90)); // real time, not business time
        let p2 = p1 + pause;
        let used = c.between(s, p1);
        prop_assume!(used < d);
        let resumed = c.add(p2, d - used);
        prop_assert_eq!(resumed, c.add(s, d + c.between(p1, p2)));
        prop_assert_eq!(c.between(s, resumed) - c.between(p1, p2), d);
    }

    #[test]
    fn add_is_monotonic(c in calendar(), t in instant(), d1 in duration(), d2 in duration()) {
        let (lo, hi) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        prop_assert!(c.add(t, lo) <= c.add(t, hi));
    }

    #[test]
    fn working_instants_agree_with_between(c in calendar(), t in instant()) {
        // An instant is working time exactly when the next nanosecond counts.
        prop_assert_eq!(c.is_working(t), c.between(t, t + NS) == NS);
    }
}
