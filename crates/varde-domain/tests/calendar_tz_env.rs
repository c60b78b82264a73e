//! Business-time results must not depend on the server's time zone: the same answers with the
//! process's `TZ` (and `TZDIR`) changed. Its own test binary, because it changes the environment
//! of the process, which no other test thread may read meanwhile.

use jiff::{SignedDuration, Timestamp};
use varde_domain::sla::calendar::{Calendar, CalendarSpec, Exception};

fn answers() -> Vec<String> {
    let mut spec = CalendarSpec::weekdays("Europe/Copenhagen", &[("08:00", "12:00"), ("12:30", "16:00")]);
    spec.exceptions.push(Exception { name: "Juledag".into(), date: "2026-12-25".into(), yearly: true, closed: vec![] });
    let ny = CalendarSpec::weekdays("America/New_York", &[("09:00", "17:00")]);
    let mut out = Vec::new();
    for spec in [spec, ny] {
        let c = Calendar::compile(&spec).unwrap();
        let mut t: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        for i in 0..400 {
            let d = SignedDuration::from_mins(37 * i);
            let due = c.add(t, d);
            out.push(format!("{t} {d} {due} {} {}", c.between(t, due), c.is_working(t)));
            t += SignedDuration::from_mins(1013);
        }
    }
    out
}

#[test]
fn answers_do_not_change_with_tz() {
    let baseline = answers();
    for zone in ["America/Los_Angeles", "Asia/Tokyo", "Europe/Copenhagen", "UTC", "Nowhere/Bogus"] {
        std::env::set_var("TZ", zone);
        std::env::set_var("TZDIR", "/nonexistent");
        assert_eq!(answers(), baseline, "with TZ={zone}");
    }
    std::env::remove_var("TZ");
    std::env::remove_var("TZDIR");
}
