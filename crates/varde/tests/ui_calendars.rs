//! The service-level admin pages in-process, on both engines: calendars and agreements. Only
//! administrators get them; a new calendar, weekly hours, holidays and overrides are added and
//! removed through plain forms; bad input is shown beside its field and saves nothing; an `.ics`
//! file is previewed then imported; agreements are created and edited through one form that
//! carries every part of them, so saving it unchanged changes nothing.

#[path = "support/ui.rs"]
mod support;

use axum::http::StatusCode;
use support::*;
use varde_store::testing::databases;

const DK_ICS: &str = include_str!("../../varde-domain/tests/fixtures/holidays-dk.ics");

/// An `.ics` upload of `content`.
fn ics(content: &str) -> (&str, &str, &str, &str) {
    ("file", "dk.ics", "text/calendar", content)
}

const WEEK: [(&str, &str); 7] = [
    ("monday", "08:00-12:00, 12:30-16:00"),
    ("tuesday", "08:00-12:00, 12:30-16:00"),
    ("wednesday", "08:00-12:00, 12:30-16:00"),
    ("thursday", "08:00-12:00, 12:30-16:00"),
    ("friday", "08:00-12:00, 12:30-16:00"),
    ("saturday", ""),
    ("sunday", ""),
];

#[tokio::test]
async fn only_admins_get_the_calendar_pages() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        ui.user("req@example.org", "requester").await;
        for who in ["agent@example.org", "req@example.org"] {
            let c = ui.login(who).await;
            assert_eq!(ui.get("/admin/calendars", &c).await.status, StatusCode::FORBIDDEN, "{}: {who}", db.engine);
            assert_eq!(ui.get("/admin/calendars/1", &c).await.status, StatusCode::FORBIDDEN);
        }
        let anon = ui.get("/admin/calendars", "").await;
        assert_eq!(anon.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn admins_create_and_edit_calendars_through_forms() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ada@example.org", "admin").await;
        let admin = ui.login("ada@example.org").await;
        let list = ui.get("/admin/calendars", &admin).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains("Business hours") && list.body.contains("24x7"), "{}", list.body);
        let csrf = hidden(&list.body, "_csrf");

        // Refused: overlapping Monday and an unknown zone; shown beside the fields, typed values kept.
        let mut bad = vec![("_csrf", csrf.as_str()), ("name", "Office DK"), ("time_zone", "Europe/Atlantis")];
        bad.extend(WEEK.iter().map(|(d, h)| if *d == "monday" { (*d, "08:00-12:00, 11:00-13:00") } else { (*d, *h) }));
        let r = ui.post("/admin/calendars", &admin, &bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("id=\"monday-error\""), "{}", r.body);
        assert!(r.body.contains("id=\"time_zone-error\""), "{}", r.body);
        assert!(r.body.contains("value=\"08:00-12:00, 11:00-13:00\""), "{}", r.body);
        assert!(ui.state.store.calendar_by_name("Office DK").await.is_err(), "a refused calendar was saved");

        let mut good = vec![("_csrf", csrf.as_str()), ("name", "Office DK"), ("time_zone", "Europe/Copenhagen")];
        good.extend(WEEK.iter().copied());
        let r = ui.post("/admin/calendars", &admin, &good).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = ui.state.store.calendar_by_name("Office DK").await.unwrap();
        assert_eq!(r.location, format!("/admin/calendars/{}?saved=1", c.id));
        assert_eq!(c.spec.weekly.monday.len(), 2);
        assert!(c.spec.weekly.saturday.is_empty());
        let url = format!("/admin/calendars/{}", c.id);
        let page = ui.get(&url, &admin).await;
        assert!(page.body.contains("value=\"08:00-12:00, 12:30-16:00\""), "{}", page.body);

        // A holiday, then a partial closure; a bad date is refused.
        let v = c.version.to_string();
        let r = ui
            .post(
                &format!("{url}/exceptions"),
                &admin,
                &[("_csrf", &csrf), ("version", &v), ("date", "2026-02-30"), ("name", "Nope")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("2026-02-30 does not exist"), "{}", r.body);
        let r = ui
            .post(
                &format!("{url}/exceptions"),
                &admin,
                &[
                    ("_csrf", &csrf),
                    ("version", &v),
                    ("date", "2026-12-24"),
                    ("name", "Juleaftensdag"),
                    ("yearly", "on"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = ui.state.store.calendar(c.id).await.unwrap();
        assert_eq!(c.spec.exceptions.len(), 1);
        assert!(c.spec.exceptions[0].yearly);
        // The old version is stale now: a second form from the same page is refused (412).
        let r = ui
            .post(
                &format!("{url}/exceptions"),
                &admin,
                &[("_csrf", &csrf), ("version", &v), ("date", "2026-12-31"), ("name", "x")],
            )
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", db.engine);
        // A refused exception keeps what was typed, to correct and send again.
        let now = c.version.to_string();
        let r = ui
            .post(
                &format!("{url}/exceptions"),
                &admin,
                &[("_csrf", &csrf), ("version", &now), ("date", "2026-02-30"), ("name", "Keep this name")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("value=\"Keep this name\""), "{}: the name is lost", db.engine);

        // An override opening a Saturday.
        let v = c.version.to_string();
        let r = ui
            .post(
                &format!("{url}/overrides"),
                &admin,
                &[
                    ("_csrf", &csrf),
                    ("version", &v),
                    ("date", "2026-11-28"),
                    ("hours", "10:00-14:00"),
                    ("note", "Migration"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = ui.state.store.calendar(c.id).await.unwrap();
        assert_eq!(c.spec.overrides[0].hours[0].start, "10:00");

        // Weekly hours changed through the main form.
        let v = c.version.to_string();
        let mut form = vec![
            ("_csrf", csrf.as_str()),
            ("version", v.as_str()),
            ("name", "Office DK"),
            ("time_zone", "Europe/Copenhagen"),
        ];
        form.extend(WEEK.iter().map(|(d, h)| if *d == "saturday" { (*d, "09:00-13:00") } else { (*d, *h) }));
        let r = ui.post(&url, &admin, &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = ui.state.store.calendar(c.id).await.unwrap();
        assert_eq!(c.spec.weekly.saturday[0].end, "13:00");

        // Remove the holiday.
        let v = c.version.to_string();
        let r = ui.post(&format!("{url}/exceptions/0/remove"), &admin, &[("_csrf", &csrf), ("version", &v)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = ui.state.store.calendar(c.id).await.unwrap();
        assert!(c.spec.exceptions.is_empty());
        let r = ui
            .post(
                &format!("{url}/exceptions/5/remove"),
                &admin,
                &[("_csrf", &csrf), ("version", &c.version.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // Without the CSRF token nothing happens.
        let r = ui.post(&format!("{url}/delete"), &admin, &[("version", &c.version.to_string())]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r =
            ui.post(&format!("{url}/delete"), &admin, &[("_csrf", &csrf), ("version", &c.version.to_string())]).await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/admin/calendars"));
        assert!(ui.state.store.calendar(c.id).await.is_err());
    }
}

#[tokio::test]
async fn ics_upload_previews_then_imports() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ada@example.org", "admin").await;
        let admin = ui.login("ada@example.org").await;
        let c = ui.state.store.calendar_by_name("Business hours").await.unwrap();
        let url = format!("/admin/calendars/{}", c.id);
        let csrf = hidden(&ui.get(&url, &admin).await.body, "_csrf");
        let v = c.version.to_string();
        let r = ui
            .upload(
                &format!("{url}/import"),
                &admin,
                &[("_csrf", &csrf), ("version", &v), ("dry_run", "on")],
                ics(DK_ICS),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Import preview") && r.body.contains("20 to add."), "{}", r.body);
        assert!(ui.state.store.calendar(c.id).await.unwrap().spec.exceptions.is_empty(), "a preview saved");

        let r = ui.upload(&format!("{url}/import"), &admin, &[("_csrf", &csrf), ("version", &v)], ics(DK_ICS)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Holidays imported"), "{}", r.body);
        assert!(r.body.contains("Juledag, 1. juledag"), "{}", r.body);
        assert_eq!(ui.state.store.calendar(c.id).await.unwrap().spec.exceptions.len(), 20);

        // Garbage is shown as an error on the file field and saves nothing.
        let c = ui.state.store.calendar(c.id).await.unwrap();
        let v = c.version.to_string();
        let r = ui
            .upload(&format!("{url}/import"), &admin, &[("_csrf", &csrf), ("version", &v)], ics("not a calendar"))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"ics-error\""), "{}", r.body);
        assert_eq!(ui.state.store.calendar(c.id).await.unwrap(), c);
        // And without the token, nothing.
        let r = ui.upload(&format!("{url}/import"), &admin, &[("version", &v)], ics(DK_ICS)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}

/// Every field a browser would submit from the first form on the page after `action`: inputs
/// (checkboxes only when checked) and the selected option of each select.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html.find(&format!("action=\"{action}\"")).unwrap_or_else(|| panic!("no form {action}"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let m = format!(" {name}=\"");
        let i = tag.find(&m)? + m.len();
        Some(tag[i..].split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&"))
    };
    let mut out = Vec::new();
    for piece in form.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        let Some(name) = attr(tag, "name") else { continue };
        if attr(tag, "type").as_deref() == Some("checkbox") && !tag.contains(" checked") {
            continue;
        }
        out.push((name, attr(tag, "value").unwrap_or_default()));
    }
    for piece in form.split("<select").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        let body = &piece[..piece.find("</select>").unwrap()];
        let name = attr(tag, "name").unwrap();
        let chosen = body
            .split("<option")
            .skip(1)
            .find(|o| o[..o.find('>').unwrap()].contains(" selected"))
            .or_else(|| body.split("<option").nth(1))
            .map(|o| attr(&o[..o.find('>').unwrap()], "value").unwrap_or_default())
            .unwrap_or_default();
        out.push((name, chosen));
    }
    out
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(f) => f.1 = value.to_string(),
        None => fields.push((name.to_string(), value.to_string())),
    }
}

#[tokio::test]
async fn admins_create_and_edit_agreements_through_forms() {
    use varde_domain::sla::agreement::{Action, AgreementSpec, Recipient};
    for db in databases().await {
        let ui = Ui::new(&db);
        let store = &ui.state.store;
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        assert_eq!(ui.get("/admin/slas", &agent).await.status, StatusCode::FORBIDDEN, "{}", db.engine);
        ui.user("admin@example.org", "admin").await;
        let admin = ui.login("admin@example.org").await;
        let office = store.calendar_by_name("Business hours").await.unwrap();
        let desk = store.create_group("Desk".into(), String::new()).await.unwrap();

        let page = ui.get("/admin/slas", &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let mut f = form_fields(&page.body, "/admin/slas");
        set(&mut f, "name", "Gold");
        set(&mut f, "t0_name", "response");
        set(&mut f, "t0_minutes", "30");
        set(&mut f, "t0_priority", "1");
        set(&mut f, "t0_calendar", &office.id.to_string());
        set(&mut f, "t1_name", "resolution");
        set(&mut f, "t1_minutes", "soon");
        set(&mut f, "h1_a1", "notify:manager");
        // Posts the fields to the form's action, given as the pseudo-field `_to`.
        let send = |f: Vec<(String, String)>| {
            let ui = &ui;
            let admin = admin.clone();
            async move {
                let pairs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                ui.post(&f.iter().find(|(n, _)| n == "_to").map(|(_, v)| v.clone()).unwrap(), &admin, &pairs).await
            }
        };
        let mut bad = f.clone();
        bad.push(("_to".into(), "/admin/slas".into()));
        let r = send(bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("must be a number"), "{}", r.body);
        assert!(r.body.contains("value=\"soon\""), "what was typed is kept: {}", r.body);
        assert!(store.agreements(None, 0, 10).await.unwrap().is_empty(), "{}: a refused form saved nothing", db.engine);

        set(&mut f, "t1_minutes", "240");
        f.push(("_to".into(), "/admin/slas".into()));
        let r = send(f).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let all = store.agreements(None, 0, 10).await.unwrap();
        assert_eq!(all.len(), 1);
        let a = &all[0];
        assert_eq!(r.location, format!("/admin/slas/{}?saved=1", a.id));
        assert_eq!((a.spec.name.as_str(), a.spec.kind.as_str(), a.spec.active), ("Gold", "sla", true));
        let t: Vec<_> =
            a.spec.targets.iter().map(|t| (t.name.as_str(), t.minutes, t.priority, t.calendar_id)).collect();
        assert_eq!(t, [("response", 30, Some(1), Some(office.id)), ("resolution", 240, None, None)], "{}", db.engine);
        // A new agreement starts from the API's default thresholds; the second action of the
        // second one was changed to the group's manager.
        let mut want = varde_domain::sla::agreement::default_thresholds();
        want[1].actions[1] = Action::Notify { to: Recipient::Manager };
        assert_eq!(a.spec.thresholds, want, "{}", db.engine);
        // Everything an agreement can hold, made through the API's shape, survives the form
        // saved unchanged: re-assignments, per-service targets, conditions, pause rules.
        let full: AgreementSpec = serde_json::from_value(serde_json::json!({
            "name": "Platinum", "kind": "ola", "active": false, "group_id": desk.id,
            "conditions": { "priorities": [3, 1, 2], "types": ["incident"] },
            "targets": [
                { "name": "fix", "minutes": 90, "stop_on": "in_progress", "priority": 2, "calendar_id": office.id },
                { "name": "resolution", "minutes": 600 }
            ],
            "thresholds": [
                { "percent": 50, "actions": [] },
                { "percent": 90, "actions": [{ "type": "reassign", "group_id": desk.id }, { "type": "escalate" }, { "type": "raise_priority" }] }
            ],
            "pause_on": ["awaiting_supplier", "awaiting_caller"], "response_on": "first_reply", "reopen": "restart"
        }))
        .unwrap();
        let p = store.create_agreement(full.clone(), 1).await.unwrap();
        // Sets are stored in one order, however they were sent.
        let mut full = full;
        full.normalise();
        assert_eq!(p.spec, full, "{}", db.engine);
        assert_eq!(full.conditions.priorities, [1, 2, 3]);
        let url = format!("/admin/slas/{}", p.id);
        let page = ui.get(&url, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let mut same = form_fields(&page.body, &url);
        same.push(("_to".into(), url.clone()));
        let r = send(same.clone()).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let after = store.agreement(p.id).await.unwrap();
        assert_eq!(after.spec, full, "{}: saving the form unchanged changed the agreement", db.engine);

        // An edit: the first target goes (name and minutes emptied), the second gets longer.
        let mut edit = same.clone();
        set(&mut edit, "version", &after.version.to_string());
        set(&mut edit, "t0_name", "");
        set(&mut edit, "t0_minutes", "");
        set(&mut edit, "t1_minutes", "720");
        let r = send(edit.clone()).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let edited = store.agreement(p.id).await.unwrap();
        let t: Vec<_> = edited.spec.targets.iter().map(|t| (t.name.as_str(), t.minutes)).collect();
        assert_eq!(t, [("resolution", 720)], "{}", db.engine);
        // The same form again is stale now: refused (412, its version is old), shown again as
        // typed, and nothing changes; a form without its version is refused too.
        set(&mut edit, "t1_minutes", "1");
        let r = send(edit.clone()).await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
        assert!(r.body.contains("name=\"t1_minutes\" value=\"1\""), "{}", r.body);
        edit.retain(|(n, _)| n != "version");
        let r = send(edit).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(store.agreement(p.id).await.unwrap().spec.targets[0].minutes, 720);
        let page = ui.get("/admin/slas", &admin).await;
        assert!(page.body.contains(&format!("href=\"/admin/slas/{}\">Platinum</a>", p.id)), "{}", page.body);
    }
}
