//! Service levels in a real browser: the time left on queue rows and the
//! "breaches next" sort, the SLA panel on the incident page, and the report
//! chart; headless Chromium via chromedriver, on every engine.

use fantoccini::Locator;
use varde_store::testing::databases;

#[path = "support/browser.rs"]
mod support;
use support::*;

#[tokio::test]
async fn queue_shows_time_left_and_the_incident_its_sla_panel() {
    let Some(driver) = driver_or_skip().await else { return };
    for db in databases().await {
        let (base, state) = serve(&db).await;
        let store = &state.store;
        user(&state, "alex@example.org", "Alex Agent", "agent").await;
        let alex = store.user_by_email("alex@example.org").await.unwrap().id;
        let group = store.create_group("Desk".into(), String::new()).await.unwrap().id;
        store.add_member(group, alex).await.unwrap();
        let spec: varde_domain::sla::agreement::AgreementSpec = serde_json::from_value(serde_json::json!({
            "name": "Gold", "kind": "sla",
            "targets": [
                { "name": "resolution", "priority": 1, "minutes": 120 },
                { "name": "resolution", "minutes": 480 }
            ]
        }))
        .unwrap();
        store.create_agreement(spec, alex).await.unwrap();
        let new = |short: &str, impact: i64| varde_store::incidents::NewIncident {
            short_description: short.into(),
            description: String::new(),
            requester_id: alex,
            created_by: alex,
            assignment_group_id: Some(group),
            assignee_id: Some(alex),
            impact: varde_domain::priority::Level::new("", impact).unwrap(),
            urgency: varde_domain::priority::Level::new("", impact).unwrap(),
            category_id: None,
            service_id: None,
            channel: varde_domain::incident::Channel::Phone,
            major: false,
        };
        let slow = store.create_incident(new("Slow printer", 2), None).await.unwrap().0;
        let urgent = store.create_incident(new("Payroll down", 1), None).await.unwrap().0;
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        login(&c, &base, "alex@example.org").await;

        // "Breaches next": the P1 with two hours left comes before the
        // P3 with eight, and each row shows its time left.
        c.goto(&format!("{base}/queue/open?sort=sla_due")).await.unwrap();
        wait_for(&c, "#results td.sla-left span").await;
        let rows = c.find_all(Locator::Css("#results tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 2, "{}", db.engine);
        let first = rows[0].find(Locator::Css("th a")).await.unwrap().text().await.unwrap();
        assert_eq!(first, urgent.number, "{}: the one that breaches first is first", db.engine);
        let left = rows[0].find(Locator::Css("td.sla-left")).await.unwrap().text().await.unwrap();
        assert!(left == "1:59" || left == "2:00", "{}: {left}", db.engine);
        let left = rows[1].find(Locator::Css("td.sla-left")).await.unwrap().text().await.unwrap();
        assert!(left == "7:59" || left == "8:00", "{}: {left}", db.engine);
        let sort = wait_for(&c, "#f-sort option[value='sla_due']").await;
        assert!(sort.attr("selected").await.unwrap().is_some(), "{}", db.engine);

        // The incident page shows the clock, running, then paused on hold.
        c.goto(&format!("{base}/incidents/{}", slow.number)).await.unwrap();
        let row = wait_for(&c, "#sla tr[data-clock='sla-resolution']").await;
        let text = row.text().await.unwrap();
        assert!(text.contains("Gold") && text.contains("Running") && text.contains("8:00"), "{}: {text}", db.engine);
        let hold = varde_domain::incident::Patch {
            state: Some("on_hold".into()),
            hold_reason: Some("awaiting_caller".into()),
            ..Default::default()
        };
        store.update_incident(slow.id, None, hold, alex).await.unwrap();
        c.refresh().await.unwrap();
        let text = wait_for(&c, "#sla tr[data-clock='sla-resolution']").await.text().await.unwrap();
        assert!(text.contains("Paused"), "{}: {text}", db.engine);
        click(&c, "#sla details summary").await;
        let history = wait_for(&c, "#sla details table").await.text().await.unwrap();
        assert!(history.contains("Paused") && history.contains("Started"), "{}: {history}", db.engine);
        screenshot(&c, "sla-panel").await;

        // Resolved, it shows in the report and its chart.
        let resolve = varde_domain::incident::Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Replaced the fuser".into()),
            ..Default::default()
        };
        store.update_incident(urgent.id, None, resolve, alex).await.unwrap();
        click(&c, "a[href='/reports/sla']").await;
        let bar = wait_for(&c, "svg.chart rect.met").await;
        assert_eq!(bar.attr("width").await.unwrap().as_deref(), Some("300"), "{}: 100 % met", db.engine);
        let table = wait_for(&c, "table.sla-report").await.text().await.unwrap();
        assert!(table.contains("Gold") && table.contains("100.0 %"), "{}: {table}", db.engine);
        screenshot(&c, "sla-report").await;
        // What if: replay the period with a one-minute target; read only.
        c.goto(&format!("{base}/reports/sla/what-if")).await.unwrap();
        wait_for(&c, "select[name='agreement_id']").await.select_by_label("Gold").await.unwrap();
        fill(&c, "input[name='minutes']", "1").await;
        click(&c, "form[action='/reports/sla/what-if'] button[type='submit']").await;
        let table = wait_for(&c, "table.sla-what-if").await.text().await.unwrap();
        assert!(table.contains("Gold") && table.contains("100.0 %"), "{}: {table}", db.engine);
        c.close().await.unwrap();
    }
}

/// An administrator makes a business calendar and an agreement on it in the
/// admin pages, as a desk would set up service levels: a bad time zone is
/// refused with the typed input kept, and the saved agreement's target
/// points at the new calendar.
#[tokio::test]
async fn admin_sets_up_a_calendar_and_an_agreement_on_it() {
    let Some(driver) = driver_or_skip().await else { return };
    for db in databases().await {
        let (base, state) = serve(&db).await;
        let store = &state.store;
        user(&state, "ada@example.org", "Ada Admin", "admin").await;
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        login(&c, &base, "ada@example.org").await;

        // A time zone that does not exist: refused, nothing made, the
        // typed hours still there to correct.
        c.goto(&format!("{base}/admin/calendars")).await.unwrap();
        fill(&c, "#cal-name", "Nordic office").await;
        fill(&c, "#cal-tz", "Mars/Olympus").await;
        fill(&c, "#cal-monday", "08:00-12:00, 12:30-16:00").await;
        click(&c, "form[action='/admin/calendars'] button.primary").await;
        wait_for(&c, "#cal-tz[aria-invalid='true']").await;
        let kept = wait_for(&c, "#cal-monday").await.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(kept, "08:00-12:00, 12:30-16:00", "{}", db.engine);
        assert!(store.calendar_by_name("Nordic office").await.is_err(), "{}: nothing was made", db.engine);

        fill(&c, "#cal-tz", "Europe/Stockholm").await;
        click(&c, "form[action='/admin/calendars'] button.primary").await;
        wait_for_text(&c, "h1", "Nordic office").await;
        let cal = store.calendar_by_name("Nordic office").await.unwrap();
        assert_eq!(cal.spec.time_zone, "Europe/Stockholm", "{}", db.engine);
        let monday: Vec<(&str, &str)> =
            cal.spec.weekly.monday.iter().map(|r| (r.start.as_str(), r.end.as_str())).collect();
        assert_eq!(monday, [("08:00", "12:00"), ("12:30", "16:00")], "{}", db.engine);

        // An SLA with a resolution target of four business hours on it.
        c.goto(&format!("{base}/admin/slas")).await.unwrap();
        fill(&c, "#sla-name", "Nordic desk").await;
        wait_for(&c, "#sla-kind").await.select_by_value("sla").await.unwrap();
        fill(&c, "input[name='t0_name']", "resolution").await;
        fill(&c, "input[name='t0_minutes']", "240").await;
        wait_for(&c, "select[name='t0_calendar']").await.select_by_value(&cal.id.to_string()).await.unwrap();
        click(&c, "form[action='/admin/slas'] button.primary").await;
        wait_for_text(&c, "h1", "Nordic desk").await;
        let made = store.agreements(None, 0, 100).await.unwrap();
        let a = made.iter().find(|a| a.spec.name == "Nordic desk").expect("the agreement");
        assert_eq!(a.spec.targets.len(), 1, "{}", db.engine);
        let t = &a.spec.targets[0];
        assert_eq!((t.name.as_str(), t.minutes, t.calendar_id), ("resolution", 240, Some(cal.id)), "{}", db.engine);
        // The saved page shows the calendar chosen for the target.
        let chosen = wait_for(&c, "select[name='t0_calendar'] option[selected]").await.text().await.unwrap();
        assert!(chosen.contains("Nordic office"), "{}: {chosen}", db.engine);
        c.close().await.unwrap();
    }
}
