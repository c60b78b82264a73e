//! `/api/v1/calendars`: CRUD with ETag/If-Match and merge patch, holiday import from
//! iCalendar (dry run and real), the business-time helper, rights, and bad input that gets a
//! 422 problem and changes nothing. Both engines.

mod common;

use common::{each_engine, error_fields, id_of, Env};
use http::StatusCode;
use serde_json::{json, Value};

const DK_ICS: &str = include_str!("../../varde-domain/tests/fixtures/holidays-dk.ics");

fn office() -> Value {
    let day = json!([{"start": "08:00", "end": "12:00"}, {"start": "12:30", "end": "16:00"}]);
    json!({
        "name": "Office DK",
        "description": "Copenhagen office",
        "time_zone": "Europe/Copenhagen",
        "weekly": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
    })
}

async fn create(env: &Env, body: Value) -> Value {
    let r = env.post("/api/v1/calendars", &env.admin, body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    assert_eq!(r.header("location"), Some(format!("/api/v1/calendars/{}", id_of(&v)).as_str()));
    assert_eq!(r.header("etag"), Some("\"1\""));
    v
}

/// Every calendar as the admin lists it, to prove that refused requests changed nothing.
async fn snapshot(env: &Env) -> Value {
    let r = env.get("/api/v1/calendars?limit=200", &env.admin).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn default_calendars_are_there() {
    each_engine(|env| async move {
        let page = env.get("/api/v1/calendars", &env.agent1).send().await.json();
        let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["24x7", "Business hours"]);
        let bh = &page["items"][1];
        assert_eq!(bh["time_zone"], "Europe/Copenhagen");
        assert_eq!(bh["weekly"]["friday"], json!([{"start": "08:00", "end": "17:00"}]));
        assert_eq!(bh["weekly"]["saturday"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn create_read_patch_delete() {
    each_engine(|env| async move {
        let mut body = office();
        body["time_zone"] = json!(" europe/copenhagen ");
        let c = create(&env, body).await;
        assert_eq!(c["time_zone"], "Europe/Copenhagen", "the zone's canonical name is kept");
        let id = id_of(&c);
        let url = format!("/api/v1/calendars/{id}");
        let r = env.get(&url, &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("etag"), Some("\"1\""));
        assert_eq!(r.json()["weekly"]["monday"][1]["start"], "12:30");
        // RFC 7232: a client holding this version gets a 304 without the body.
        let r = env.get(&url, &env.agent1).header("if-none-match", "W/\"1\"").send().await;
        assert_eq!((r.status, r.header("etag")), (StatusCode::NOT_MODIFIED, Some("\"1\"")));
        assert_eq!(env.get(&url, &env.agent1).header("if-none-match", "\"0\"").send().await.status, StatusCode::OK);

        // Merge patch: objects merge (Saturday added, Monday kept), lists replace.
        let r = env
            .patch(&url, &env.admin, json!({"weekly": {"saturday": [{"start": "10:00", "end": "14:00"}]}, "description": "Now with Saturdays"}))
            .header("if-match", "\"1\"")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("etag"), Some("\"2\""));
        let v = r.json();
        assert_eq!(v["weekly"]["saturday"][0]["end"], "14:00");
        assert_eq!(v["weekly"]["monday"][0]["start"], "08:00");
        assert_eq!(v["description"], "Now with Saturdays");
        // null removes: Saturday closed again.
        let v = env.patch(&url, &env.admin, json!({"weekly": {"saturday": null}})).send().await.json();
        assert_eq!(v["weekly"]["saturday"], json!([]));
        assert_eq!(v["version"], 3);

        // A stale If-Match is refused with 412 and changes nothing.
        let r = env.patch(&url, &env.admin, json!({"name": "x"})).header("if-match", "\"1\"").send().await;
        r.problem(412);
        assert_eq!(env.get(&url, &env.admin).send().await.json()["name"], "Office DK");

        // A duplicate name is a 409.
        let p = env.patch(&url, &env.admin, json!({"name": "24x7"})).send().await.problem(409);
        assert_eq!(error_fields(&p), vec!["name"]);

        let r = env.delete(&url, &env.admin).header("if-match", "\"1\"").send().await;
        r.problem(412);
        let r = env.delete(&url, &env.admin).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        env.get(&url, &env.admin).send().await.problem(404);
        env.delete(&url, &env.admin).send().await.problem(404);
    })
    .await;
}

#[tokio::test]
async fn bad_calendars_get_422_and_change_nothing() {
    each_engine(|env| async move {
        let before = snapshot(&env).await;
        let mut overlap = office();
        overlap["weekly"]["monday"] = json!([{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]);
        let p = env.post("/api/v1/calendars", &env.admin, overlap).send().await.invalid(&["weekly.monday"]);
        assert!(p["detail"].as_str().unwrap().contains("overlap"), "{p}");

        let mut backwards = office();
        backwards["weekly"]["tuesday"] = json!([{"start": "17:00", "end": "08:00"}]);
        env.post("/api/v1/calendars", &env.admin, backwards).send().await.invalid(&["weekly.tuesday[0].end"]);

        let mut zone = office();
        zone["time_zone"] = json!("Mars/Olympus_Mons");
        let p = env.post("/api/v1/calendars", &env.admin, zone).send().await.invalid(&["time_zone"]);
        assert!(p["detail"].as_str().unwrap().contains("Mars/Olympus_Mons"));

        let mut nothing = office();
        nothing["weekly"] = json!({});
        env.post("/api/v1/calendars", &env.admin, nothing).send().await.invalid(&["weekly"]);

        let mut bad_date = office();
        bad_date["exceptions"] = json!([{"name": "Nope", "date": "2026-02-30"}]);
        env.post("/api/v1/calendars", &env.admin, bad_date).send().await.invalid(&["exceptions[0].date"]);

        let mut twice = office();
        let day = json!({"name": "Boxing Day", "date": "2026-12-26", "yearly": true});
        twice["exceptions"] = json!([day.clone(), day]);
        env.post("/api/v1/calendars", &env.admin, twice).send().await.invalid(&["exceptions[1]"]);

        // Several problems are reported at once, with the name's.
        let mut many = office();
        many["name"] = json!("");
        many["time_zone"] = json!("Nowhere");
        many["weekly"]["friday"] = json!([{"start": "8", "end": "25:00"}]);
        env.post("/api/v1/calendars", &env.admin, many).send().await.invalid(&[
            "name",
            "time_zone",
            "weekly.friday[0].start",
            "weekly.friday[0].end",
        ]);

        // Unknown fields and wrong types name the field.
        let mut typo = office();
        typo["weekly"]["mondy"] = json!([]);
        env.post("/api/v1/calendars", &env.admin, typo).send().await.invalid(&["weekly.mondy"]);

        // A patch that would break a calendar is refused too.
        let bh = before["items"][1]["id"].as_i64().unwrap();
        let url = format!("/api/v1/calendars/{bh}");
        env.patch(&url, &env.admin, json!({"weekly": {"monday": [{"start": "09:00", "end": "08:00"}]}}))
            .send()
            .await
            .invalid(&["weekly.monday[0].end"]);
        env.patch(&url, &env.admin, json!({"time_zone": "Europe/Nowhere"})).send().await.invalid(&["time_zone"]);
        env.patch(&url, &env.admin, json!({"name": null})).send().await.invalid(&["name"]);

        assert_eq!(snapshot(&env).await, before);
    })
    .await;
}

#[tokio::test]
async fn rights() {
    each_engine(|env| async move {
        let before = snapshot(&env).await;
        let bh = before["items"][1]["id"].as_i64().unwrap();
        let url = format!("/api/v1/calendars/{bh}");
        // Agents read but do not change.
        env.post("/api/v1/calendars", &env.agent1, office()).send().await.problem(403);
        env.patch(&url, &env.agent1, json!({"description": "x"})).send().await.problem(403);
        env.delete(&url, &env.agent1).send().await.problem(403);
        env.req(http::Method::POST, &format!("{url}/holidays/import"))
            .bearer(&env.agent1.token)
            .raw("text/calendar", DK_ICS.as_bytes().to_vec())
            .send()
            .await
            .problem(403);
        assert_eq!(env.get(&url, &env.agent1).send().await.status, StatusCode::OK);
        // Requesters see nothing of calendars.
        env.get("/api/v1/calendars", &env.req1).send().await.problem(403);
        env.get(&url, &env.req1).send().await.problem(403);
        env.get(&format!("{url}/business-time?start=2026-11-23T08:00:00Z&add=PT1H"), &env.req1)
            .send()
            .await
            .problem(403);
        env.post("/api/v1/calendars", &env.req1, office()).send().await.problem(403);
        assert_eq!(snapshot(&env).await, before);
    })
    .await;
}

#[tokio::test]
async fn holiday_import_dry_run_then_real_then_again() {
    each_engine(|env| async move {
        let c = create(&env, office()).await;
        let url = format!("/api/v1/calendars/{}/holidays/import", id_of(&c));
        let r = env
            .req(http::Method::POST, &format!("{url}?dry_run=true"))
            .bearer(&env.admin.token)
            .raw("text/calendar", DK_ICS.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["added"].as_array().unwrap().len(), 20);
        assert_eq!(v["calendar"]["exceptions"], json!([]));
        assert_eq!(v["calendar"]["version"], 1);

        // A stale If-Match is refused and imports nothing.
        env.req(http::Method::POST, &url)
            .bearer(&env.admin.token)
            .header("if-match", "\"7\"")
            .raw("text/calendar", DK_ICS.as_bytes().to_vec())
            .send()
            .await
            .problem(412);
        let r = env
            .req(http::Method::POST, &url)
            .bearer(&env.admin.token)
            .header("if-match", "\"1\"")
            .raw("text/calendar; charset=utf-8", DK_ICS.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("etag"), Some("\"2\""));
        let v = r.json();
        assert_eq!(v["calendar"]["exceptions"].as_array().unwrap().len(), 20);
        let juledag =
            v["calendar"]["exceptions"].as_array().unwrap().iter().find(|e| e["date"] == "2026-12-25").unwrap();
        assert_eq!(juledag["yearly"], true);

        // Again, as JSON: nothing new, no new version.
        let r = env.post(&url, &env.admin, json!({"ics": DK_ICS})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!((v["added"].as_array().unwrap().len(), v["unchanged"].as_u64()), (0, Some(20)));
        assert_eq!(v["calendar"]["version"], 2);

        // The holidays now count: Wednesday 23 Dec 2026 15:00 CET + 2h: one hour that day, then
        // Christmas Eve, Christmas Day and the weekend are closed; Monday 28 Dec 09:00 CET.
        let bt = env
            .get(
                &format!("/api/v1/calendars/{}/business-time?start=2026-12-23T14:00:00Z&add=PT2H", id_of(&c)),
                &env.agent1,
            )
            .send()
            .await;
        assert_eq!(bt.status, StatusCode::OK, "{}", bt.text());
        assert_eq!(bt.json()["due"], "2026-12-28T08:00:00Z");
    })
    .await;
}

#[tokio::test]
async fn garbage_ics_gets_422_and_changes_nothing() {
    each_engine(|env| async move {
        let c = create(&env, office()).await;
        let id = id_of(&c);
        let url = format!("/api/v1/calendars/{id}/holidays/import");
        let before = snapshot(&env).await;
        for (body, needle) in [
            ("this is not a calendar".to_string(), "line 1"),
            (
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRRULE:FREQ=MONTHLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_string(),
                "line 4",
            ),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2026\r\n".to_string(), "line 3"),
        ] {
            for dry in ["", "?dry_run=true"] {
                let p = env
                    .req(http::Method::POST, &format!("{url}{dry}"))
                    .bearer(&env.admin.token)
                    .raw("text/calendar", body.clone().into_bytes())
                    .send()
                    .await
                    .invalid(&["ics"]);
                assert!(p["detail"].as_str().unwrap().contains(needle), "{needle}: {p}");
            }
        }
        // Holidays that would remove all working time are refused like any bad calendar.
        let mut all_days = String::from("BEGIN:VCALENDAR\r\n");
        all_days.push_str("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nDTEND;VALUE=DATE:20280101\r\nSUMMARY:Sabbatical\r\nEND:VEVENT\r\n");
        all_days.push_str("END:VCALENDAR\r\n");
        let p = env
            .req(http::Method::POST, &url)
            .bearer(&env.admin.token)
            .raw("text/calendar", all_days.into_bytes())
            .send()
            .await
            .invalid(&["exceptions"]);
        assert!(p["detail"].as_str().unwrap().contains("2027"), "{p}");
        // Not UTF-8, and a wrong content type.
        env.req(http::Method::POST, &url).bearer(&env.admin.token).raw("text/calendar", vec![0xff, 0xfe, 0x00]).send().await.invalid(&["ics"]);
        env.req(http::Method::POST, &url).bearer(&env.admin.token).raw("application/pdf", b"%PDF".to_vec()).send().await.problem(415);
        env.post(&url, &env.admin, json!({"ical": "x"})).send().await.invalid(&["ical"]);
        assert_eq!(snapshot(&env).await, before);
    })
    .await;
}

#[tokio::test]
async fn business_time_helper() {
    each_engine(|env| async move {
        let c = create(&env, office()).await;
        let base = format!("/api/v1/calendars/{}/business-time", id_of(&c));
        // Friday 27 Nov 2026 15:00 CET + 4h: 1h Friday, Monday 08:00-11:00.
        let v = env.get(&format!("{base}?start=2026-11-27T14:00:00Z&add=PT4H"), &env.agent1).send().await.json();
        assert_eq!(v["due"], "2026-11-30T10:00:00Z");
        assert_eq!(v["working"], true);
        // Back again.
        let v = env.get(&format!("{base}?start=2026-11-30T10:00:00Z&add=-PT4H"), &env.agent1).send().await.json();
        assert_eq!(v["due"], "2026-11-27T14:00:00Z");
        // A whole week is 5 x 7.5 h.
        let v = env
            .get(&format!("{base}?from=2026-11-23T00:00:00Z&to=2026-11-30T00:00:00Z"), &env.agent1)
            .send()
            .await
            .json();
        assert_eq!(v["business"], "PT37H30M");
        assert_eq!(v["business_seconds"], 135000.0);
        // Negative when to is before from.
        let v = env
            .get(&format!("{base}?from=2026-11-30T00:00:00Z&to=2026-11-23T00:00:00Z"), &env.agent1)
            .send()
            .await
            .json();
        assert_eq!(v["business"], "-PT37H30M");
        // Bad questions.
        env.get(&format!("{base}?start=yesterday&add=PT1H"), &env.agent1).send().await.invalid(&["start"]);
        // More than any target can be would run past the last instant there is.
        env.get(&format!("{base}?start=2026-11-27T14:00:00Z&add=PT99999999H"), &env.agent1)
            .send()
            .await
            .invalid(&["add"]);
        env.get(&format!("{base}?start=2026-11-27T14:00:00Z&add=3%20business%20days"), &env.agent1)
            .send()
            .await
            .invalid(&["add"]);
        env.get(&format!("{base}?from=2026-11-27T14:00:00Z"), &env.agent1).send().await.invalid(&["query"]);
        env.get(&format!("{base}?when=now"), &env.agent1).send().await.invalid(&["when"]);
        env.get(
            "/api/v1/calendars/999999/business-time?from=2026-11-27T14:00:00Z&to=2026-11-28T14:00:00Z",
            &env.agent1,
        )
        .send()
        .await
        .problem(404);
    })
    .await;
}
