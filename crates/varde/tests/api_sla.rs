//! Service level agreements through the REST API, on every engine: agreements
//! and their validation, clocks started, paused, stopped and retargeted by
//! the incident writes that move them, and the warning timers.

mod common;

use common::{each_engine, id_of, Env};
use http::StatusCode;
use serde_json::{json, Value};

fn micros(v: &Value) -> i64 {
    v.as_str().unwrap_or_else(|| panic!("not an instant: {v}")).parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

async fn _organisation(env: &Env, name: &str) -> i64 {
    let r = env.post("/api/v1/organisations", &env.admin, json!({ "name": name })).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    id_of(&r.json())
}

async fn agreement(env: &Env, body: Value) -> Value {
    let r = env.post("/api/v1/slas", &env.admin, body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let at = r.header("location").expect("a location").to_string();
    assert!(at.starts_with("/api/v1/slas/"));
    let made = r.json();
    // RFC 7232: the version just made is not sent again to who holds it.
    let r = env.get(&at, &env.admin).header("if-none-match", "\"1\"").send().await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{}", r.text());
    made
}

async fn sla(env: &Env, id: i64) -> Value {
    let r = env.get(&format!("/api/v1/incidents/{id}/sla"), &env.agent1).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn clock<'a>(s: &'a Value, kind: &str, target: &str) -> &'a Value {
    s["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["target"] == target)
        .unwrap_or_else(|| panic!("no {kind} {target} clock in {s}"))
}

fn events(s: &Value, clock_id: &Value) -> Vec<(String, i64)> {
    s["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| &e["clock_id"] == clock_id)
        .map(|e| (e["event"].as_str().unwrap().to_string(), micros(&e["at"])))
        .collect()
}

fn basic(name: &str, resolution_minutes: i64) -> Value {
    json!({
        "name": name,
        "kind": "sla",
        "targets": [
            { "name": "response", "minutes": 30 },
            { "name": "resolution", "minutes": resolution_minutes }
        ]
    })
}

#[tokio::test]
async fn agreements_are_validated_and_patched() {
    each_engine(|env| async move {
        // Every problem at once, each naming its field.
        let r = env
            .post(
                "/api/v1/slas",
                &env.admin,
                json!({ "name": " ", "kind": "ola", "targets": [{ "name": "resolution", "minutes": 0, "priority": 9 }],
                        "thresholds": [{ "percent": 0 }, { "percent": 0 }] }),
            )
            .send()
            .await;
        r.invalid(&["name", "group_id", "targets[0].minutes", "targets[0].priority", "thresholds[0].percent", "thresholds[1].percent"]);
        env.post("/api/v1/slas", &env.admin, json!({ "name": "x", "kind": "gold", "targets": [] }))
            .send()
            .await
            .invalid(&["kind"]);
        env.post("/api/v1/slas", &env.admin, json!({ "name": "x", "kind": "uc", "supplier_id": 999, "targets": [{"name": "resolution", "minutes": 5}] }))
            .send()
            .await
            .invalid(&["supplier_id"]);
        env.post("/api/v1/slas", &env.admin, json!({ "name": "x", "kind": "sla", "targets": [{"name": "resolution", "minutes": 5, "calendar_id": 4242}] }))
            .send()
            .await
            .invalid(&["targets[0].calendar_id"]);
        env.post("/api/v1/slas", &env.admin, json!({ "name": "x", "kind": "sla", "conditions": { "services": [999] }, "targets": [{"name": "resolution", "minutes": 5}] }))
            .send()
            .await
            .invalid(&["conditions.services"]);
        env.post("/api/v1/slas", &env.agent1, basic("Agent made", 60)).send().await.problem(403);
        let a = agreement(&env, basic("Gold", 240)).await;
        assert_eq!(a["kind"], "sla");
        assert_eq!(a["response_on"], "either");
        assert_eq!(a["thresholds"].as_array().unwrap().len(), 3, "default thresholds 75, 90, 100: {a}");
        env.post("/api/v1/slas", &env.admin, basic("Gold", 60)).send().await.problem(409);
        let id = id_of(&a);
        let path = format!("/api/v1/slas/{id}");
        // A merge patch changes what it names and keeps the rest.
        let r = env.patch(&path, &env.admin, json!({ "reopen": "restart", "name": "Gold 2" })).header("if-match", "\"1\"").send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let b = r.json();
        assert_eq!((b["reopen"].as_str(), b["name"].as_str(), b["version"].as_i64()), (Some("restart"), Some("Gold 2"), Some(2)));
        assert_eq!(b["targets"], a["targets"]);
        env.patch(&path, &env.admin, json!({ "name": "Gold 3" })).header("if-match", "\"1\"").send().await.problem(412);
        env.patch(&path, &env.admin, json!({ "kind": "ola", "group_id": env.group })).send().await.invalid(&["kind"]);
        env.patch(&path, &env.admin, json!({ "targets": [{ "name": "resolution" }] })).send().await.problem(422);
        assert_eq!(env.read_agreement(id).await["name"], "Gold 2", "a refused patch changes nothing");
        let list = env.get("/api/v1/slas?kind=sla", &env.agent1).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        env.get("/api/v1/slas", &env.req1).send().await.problem(403);
        // A calendar in use is not deleted, and the answer names who uses it.
        let cals = env.get("/api/v1/calendars?q=Business", &env.admin).send().await.json();
        let office = id_of(&cals["items"][0]);
        let on_office = json!({ "name": "Office only", "kind": "sla",
            "targets": [{ "name": "resolution", "minutes": 60, "calendar_id": office }] });
        agreement(&env, on_office).await;
        let p = env.delete(&format!("/api/v1/calendars/{office}"), &env.admin).send().await.problem(409);
        assert!(p["detail"].as_str().unwrap().contains("the agreements Office only"), "{p}");
    })
    .await;
}

trait ReadAgreement {
    async fn read_agreement(&self, id: i64) -> Value;
}

impl ReadAgreement for Env {
    async fn read_agreement(&self, id: i64) -> Value {
        let r = self.get(&format!("/api/v1/slas/{id}"), &self.admin).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }
}

#[tokio::test]
async fn clocks_start_pause_stop_and_reopen_with_the_incident() {
    each_engine(|env| async move {
        agreement(&env, basic("Standard", 240)).await;
        let inc = env.incident(&env.agent1, json!({ "short_description": "Mail is down" })).await;
        let id = id_of(&inc);
        let created = micros(&inc["created_at"]);
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        assert_eq!(res["state"], "running");
        assert_eq!(res["target_seconds"], 240 * 60);
        // 24x7: due exactly the target after creation, to the microsecond.
        assert_eq!(micros(&res["due_at"]), created + 240 * 60_000_000);
        let resp = clock(&s, "sla", "response");
        assert_eq!(resp["state"], "running");

        // The first agent reply is the response.
        let r = env
            .post(&format!("/api/v1/incidents/{id}/journal"), &env.agent1, json!({ "body": "Looking at it" }))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let s = sla(&env, id).await;
        assert_eq!(clock(&s, "sla", "response")["state"], "met");
        assert!(clock(&s, "sla", "response")["due_at"].is_null());

        // On hold awaiting the caller pauses; resuming shifts the due instant
        // by exactly the paused time.
        env.patch_ok(id, &env.agent1, json!({ "state": "on_hold", "hold_reason": "awaiting_caller" })).await;
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        assert_eq!(res["state"], "paused");
        assert!(res["due_at"].is_null());
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        env.patch_ok(id, &env.agent1, json!({ "state": "in_progress" })).await;
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        let ev = events(&s, &res["id"]);
        let names: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(names, ["attach", "start", "pause", "resume"], "{s}");
        let paused = ev[3].1 - ev[2].1;
        assert!(paused > 0);
        assert_eq!(micros(&res["due_at"]), created + 240 * 60_000_000 + paused);

        // On hold awaiting a change does not pause (not in pause_on).
        env.patch_ok(id, &env.agent1, json!({ "state": "on_hold", "hold_reason": "awaiting_change" })).await;
        assert_eq!(clock(&sla(&env, id).await, "sla", "resolution")["state"], "running");

        // Resolve stops it, met; reopen resumes it (the default policy).
        env.patch_ok(
            id,
            &env.agent1,
            json!({ "state": "resolved", "resolution_code": "fixed", "resolution_notes": "Restarted" }),
        )
        .await;
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        assert_eq!(res["state"], "met");
        let elapsed = res["elapsed_seconds"].as_i64().unwrap();
        assert!(res["stopped_at"].is_string());
        let r =
            env.patch(&format!("/api/v1/incidents/{id}"), &env.agent1, json!({ "state": "in_progress" })).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        assert_eq!(res["state"], "running");
        assert!(res["elapsed_seconds"].as_i64().unwrap() >= elapsed);
        let names: Vec<String> = events(&s, &res["id"]).into_iter().map(|(e, _)| e).collect();
        assert_eq!(names[names.len() - 3..], ["stop", "reopen", "resume"]);

        // Cancel takes the clocks out of the reckoning.
        env.patch_ok(id, &env.agent1, json!({ "state": "cancelled" })).await;
        assert_eq!(clock(&sla(&env, id).await, "sla", "resolution")["state"], "cancelled");

        // Requesters do not see clocks.
        env.get(&format!("/api/v1/incidents/{id}/sla"), &env.req1).send().await.problem(404);
    })
    .await;
}

/// A response, once given, is a result: clearing the assignee does not take
/// it back, and a later change of priority (with another agreement, or with
/// none that has a response target) neither retargets nor cancels it. The
/// resolution clock, still running, does follow the new priority.
#[tokio::test]
async fn a_response_once_given_stays_given() {
    each_engine(|env| async move {
        let standard = agreement(
            &env,
            json!({ "name": "Standard", "kind": "sla", "conditions": { "priorities": [3] },
                    "targets": [{ "name": "response", "minutes": 30 }, { "name": "resolution", "minutes": 480 }] }),
        )
        .await;
        let critical = agreement(
            &env,
            json!({ "name": "Critical", "kind": "sla", "conditions": { "priorities": [1, 2] },
                    "targets": [{ "name": "response", "minutes": 1 }, { "name": "resolution", "minutes": 60 }] }),
        )
        .await;
        let inc = env
            .incident(&env.agent1, json!({ "short_description": "VPN drops", "assignment_group_id": env.group }))
            .await;
        let id = id_of(&inc);
        env.patch_ok(id, &env.agent1, json!({ "assignee_id": env.agent1.id })).await;
        let met = clock(&sla(&env, id).await, "sla", "response").clone();
        assert_eq!(met["state"], "met", "{met}");
        env.patch_ok(id, &env.agent1, json!({ "assignee_id": null })).await;
        let s = sla(&env, id).await;
        let resp = clock(&s, "sla", "response");
        assert_eq!((&resp["state"], &resp["stopped_at"]), (&met["state"], &met["stopped_at"]), "{s}");
        let names: Vec<String> = events(&s, &resp["id"]).into_iter().map(|(e, _)| e).collect();
        assert_eq!(names, ["attach", "start", "stop"], "{s}");

        // Priority 1: the resolution clock takes Critical's target; the
        // response stays met against Standard's 30 minutes.
        env.patch_ok(id, &env.agent1, json!({ "impact": 1, "urgency": 1 })).await;
        let s = sla(&env, id).await;
        let resp = clock(&s, "sla", "response");
        assert_eq!(
            (&resp["state"], &resp["agreement_id"], &resp["target_seconds"]),
            (&json!("met"), &standard["id"], &json!(1800)),
            "{s}"
        );
        assert_eq!(clock(&s, "sla", "resolution")["agreement_id"], critical["id"]);
        // Priority 5: no agreement has a response target for it; the
        // response is still met, not cancelled.
        env.patch_ok(id, &env.agent1, json!({ "impact": 3, "urgency": 3 })).await;
        assert_eq!(clock(&sla(&env, id).await, "sla", "response")["state"], "met");
        // A cancelled record takes even its results out of the reckoning.
        env.patch_ok(id, &env.agent1, json!({ "state": "cancelled" })).await;
        assert_eq!(clock(&sla(&env, id).await, "sla", "response")["state"], "cancelled");
    })
    .await;
}

#[tokio::test]
async fn a_change_of_agreement_keeps_elapsed_and_paused_time() {
    each_engine(|env| async move {
        // Priority 3 (the default impact and urgency 2) falls under Standard,
        // priority 1 under Critical.
        let standard = agreement(
            &env,
            json!({ "name": "Standard", "kind": "sla", "conditions": { "priorities": [3, 4, 5] },
                    "targets": [{ "name": "resolution", "minutes": 480 }] }),
        )
        .await;
        let critical = agreement(
            &env,
            json!({ "name": "Critical", "kind": "sla", "conditions": { "priorities": [1, 2] },
                    "targets": [{ "name": "resolution", "minutes": 60 }] }),
        )
        .await;
        let inc = env.incident(&env.agent1, json!({ "short_description": "ERP slow" })).await;
        let id = id_of(&inc);
        let created = micros(&inc["created_at"]);
        assert_eq!(clock(&sla(&env, id).await, "sla", "resolution")["agreement_id"], standard["id"]);
        env.patch_ok(id, &env.agent1, json!({ "state": "on_hold", "hold_reason": "awaiting_caller" })).await;
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        env.patch_ok(id, &env.agent1, json!({ "state": "in_progress" })).await;
        // The priority goes to 1: another agreement, the same clock.
        env.patch_ok(id, &env.agent1, json!({ "impact": 1, "urgency": 1 })).await;
        let s = sla(&env, id).await;
        let res = clock(&s, "sla", "resolution");
        assert_eq!(res["agreement_id"], critical["id"]);
        assert_eq!(res["target_seconds"], 3600);
        let ev = events(&s, &res["id"]);
        let names: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(names, ["attach", "start", "pause", "resume", "retarget"]);
        let paused = ev[3].1 - ev[2].1;
        // The pause before the change still counts as paused: due = start +
        // new target + the pause (GLPI loses the pause here).
        assert_eq!(micros(&res["due_at"]), created + 3_600_000_000 + paused);
        assert_eq!(s["clocks"].as_array().unwrap().len(), 1, "one resolution clock, not two: {s}");
    })
    .await;
}

#[tokio::test]
async fn ola_runs_only_with_its_group_and_uc_only_with_its_supplier() {
    each_engine(|env| async move {
        let r = env.post("/api/v1/suppliers", &env.admin, json!({ "name": "Telco" })).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let telco = id_of(&r.json());
        env.post("/api/v1/suppliers", &env.admin, json!({ "name": "Telco" })).send().await.problem(409);
        let other_group = env.state.store.create_group("Network".into(), String::new()).await.unwrap().id;
        agreement(
            &env,
            json!({ "name": "Desk OLA", "kind": "ola", "group_id": env.group, "targets": [{ "name": "resolution", "minutes": 120 }] }),
        )
        .await;
        agreement(
            &env,
            json!({ "name": "Telco UC", "kind": "uc", "supplier_id": telco, "targets": [{ "name": "resolution", "minutes": 240 }] }),
        )
        .await;
        let inc = env.incident(&env.agent1, json!({ "short_description": "Line down" })).await;
        let id = id_of(&inc);
        assert!(sla(&env, id).await["clocks"].as_array().unwrap().is_empty(), "no group yet: no OLA clock");
        env.patch_ok(id, &env.agent1, json!({ "assignment_group_id": env.group })).await;
        assert_eq!(clock(&sla(&env, id).await, "ola", "resolution")["state"], "running");
        env.patch_ok(id, &env.agent1, json!({ "assignment_group_id": other_group })).await;
        assert_eq!(clock(&sla(&env, id).await, "ola", "resolution")["state"], "paused");
        // With the supplier: set it, put the incident on hold awaiting it.
        let r = env.put(&format!("/api/v1/incidents/{id}/supplier"), &env.agent1).json(json!({ "supplier_id": 999 })).send().await;
        r.invalid(&["supplier_id"]);
        let r = env.put(&format!("/api/v1/incidents/{id}/supplier"), &env.agent1).json(json!({ "supplier_id": telco })).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert!(sla(&env, id).await["clocks"].as_array().unwrap().iter().all(|c| c["kind"] != "uc"), "not awaiting it yet");
        env.patch_ok(id, &env.agent1, json!({ "state": "on_hold", "hold_reason": "awaiting_supplier" })).await;
        let s = sla(&env, id).await;
        assert_eq!(s["supplier_id"], telco);
        assert_eq!(clock(&s, "uc", "resolution")["state"], "running");
        assert_eq!(clock(&s, "uc", "resolution")["party_id"], telco);
        env.patch_ok(id, &env.agent1, json!({ "state": "in_progress" })).await;
        assert_eq!(clock(&sla(&env, id).await, "uc", "resolution")["state"], "paused");
        env.put(&format!("/api/v1/incidents/{id}/supplier"), &env.req1).json(json!({ "supplier_id": null })).send().await.problem(404);
    })
    .await;
}

/// Runs the job runner until `check` holds or `secs` pass.
async fn wait_for<F, Fut>(secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("condition not met within {secs} s");
}

#[tokio::test]
async fn warnings_fire_once_and_escalate() {
    each_engine(|env| async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(varde::jobs::run(env.state.store.clone(), stop_rx));
        // The group's manager (the admin, not a member) is told too.
        let url = format!("/api/v1/groups/{}/manager", env.group);
        env.put(&url, &env.agent1).json(json!({ "user_id": env.admin.id })).send().await.problem(403);
        env.put(&url, &env.admin).json(json!({ "user_id": 999_999 })).send().await.invalid(&["user_id"]);
        let r = env.put(&url, &env.admin).json(json!({ "user_id": env.admin.id })).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["manager_id"], env.admin.id);
        let r = env.put(&url, &env.admin).json(json!({ "user_id": null })).send().await;
        assert_eq!(r.json()["manager_id"], Value::Null, "null clears the manager");
        env.put(&url, &env.admin).json(json!({ "user": env.admin.id })).send().await.problem(422);
        env.put(&url, &env.admin).json(json!({ "user_id": env.admin.id })).send().await;
        // A one-minute target: 1% is 0.6 s, 2% 1.2 s.
        agreement(
            &env,
            json!({ "name": "Fast", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 1 }],
                    "thresholds": [
                        { "percent": 1, "actions": [{ "type": "notify", "to": "assignee" }, { "type": "notify", "to": "group" }, { "type": "notify", "to": "manager" }] },
                        { "percent": 2, "actions": [{ "type": "escalate" }, { "type": "raise_priority" }] }
                    ] }),
        )
        .await;
        let inc = env
            .incident(&env.agent1, json!({ "short_description": "Slow", "assignment_group_id": env.group, "assignee_id": env.agent1.id }))
            .await;
        let id = id_of(&inc);
        assert_eq!(inc["priority"], 3);
        wait_for(15, || async { sla(&env, id).await["escalated"] == true }).await;
        let s = sla(&env, id).await;
        assert_eq!(clock(&s, "sla", "resolution")["fired"], json!([1, 2]));
        let fired: Vec<&Value> = s["history"].as_array().unwrap().iter().filter(|e| e["event"] == "threshold").collect();
        assert_eq!(fired.len(), 2, "{s}");
        // Fired at the right instant: within a few seconds of it.
        let start = micros(&inc["created_at"]);
        for (e, pct) in fired.iter().zip([1, 2]) {
            let due = start + 60_000_000 * pct / 100;
            let lag = micros(&e["at"]) - due;
            assert!((0..5_000_000).contains(&lag), "fired {lag} µs after its instant");
        }
        assert_eq!(env.read(id).await["priority"], 2, "priority raised one step (urgency 2 -> 1)");
        // agent1 is assignee and in the group: one notification, not two.
        let n = env.get("/api/v1/notifications", &env.agent1).send().await.json();
        let items = n["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "assignee and group member are one person: one notification: {n}");
        assert!(items.iter().all(|i| i["kind"] == "sla_warning" && i["record_id"] == id), "{n}");
        let c = env.get("/api/v1/notifications/count", &env.agent2).send().await.json();
        assert_eq!(c["unread"], 1, "agent2 is in the group");
        let c = env.get("/api/v1/notifications/count", &env.admin).send().await.json();
        assert_eq!(c["unread"], 1, "the admin manages the group");
        let nid = env.get("/api/v1/notifications", &env.agent2).send().await.json()["items"][0]["id"].as_i64().unwrap();
        env.post(&format!("/api/v1/notifications/{nid}/read"), &env.agent1, json!({})).send().await.problem(404);
        let r = env.post(&format!("/api/v1/notifications/{nid}/read"), &env.agent2, json!({})).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(env.get("/api/v1/notifications/count", &env.agent2).send().await.json()["unread"], 0);
        stop_tx.send(true).unwrap();
        runner.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn targets_run_on_business_calendars_and_follow_a_calendar_change() {
    use varde_domain::sla::calendar::{Calendar, CalendarSpec};
    use varde_domain::sla::clock::WorkingTime;
    each_engine(|env| async move {
        let store = &env.state.store;
        let office = store.calendar_by_name("Business hours").await.unwrap();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(varde::jobs::run(store.clone(), stop_rx));
        agreement(
            &env,
            json!({ "name": "Office", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 600, "calendar_id": office.id }] }),
        )
        .await;
        let inc = env.incident(&env.agent1, json!({ "short_description": "Printer" })).await;
        let id = id_of(&inc);
        let created = micros(&inc["created_at"]);
        let cal = Calendar::compile(&office.spec).unwrap();
        let res = clock(&sla(&env, id).await, "sla", "resolution").clone();
        assert_eq!(res["calendar_id"], office.id);
        let due = micros(&res["due_at"]);
        // Ten business hours from now on office hours, exactly, and inside them.
        assert_eq!(due, cal.add_us(created, 600 * 60_000_000));
        assert!(cal.is_working(jiff::Timestamp::from_microsecond(due - 1).unwrap()));
        assert!(due - created > 600 * 60_000_000, "office hours take longer than wall time");
        // The calendar becomes 24x7: a recompute job moves the due instant.
        let mut fields = varde_store::calendars::CalendarFields {
            name: office.name.clone(),
            description: office.description.clone(),
            spec: CalendarSpec::always(),
        };
        store.update_calendar(office.id, None, fields.clone(), env.admin.id).await.unwrap();
        wait_for(15, || async { micros(&clock(&sla(&env, id).await, "sla", "resolution")["due_at"]) == created + 600 * 60_000_000 }).await;
        // The recompute job moves its warning timer (and the stored due
        // instant the queue sorts by): 75 % of ten hours, 24x7.
        let timer = || async {
            let t: (String, i64) =
                sqlx::query_as("SELECT payload, run_at FROM jobs WHERE kind = 'sla_timer'").fetch_one(store.pool()).await.unwrap();
            t
        };
        // Waited for by the clock's version too: at some times of day the
        // warning falls at the same instant on both calendars, and the old
        // timer would already answer.
        wait_for(15, || async {
            timer().await.1 == created + 450 * 60_000_000 && store.clocks(id).await.unwrap()[0].version > 1
        })
        .await;
        let c = &store.clocks(id).await.unwrap()[0];
        assert_eq!(timer().await.0, format!("{}:{}", c.id, c.version));
        assert!(c.version > 1);
        assert_eq!(store.sla_dues(&[id]).await.unwrap()[&id], Some(created + 600 * 60_000_000));
        // A calendar in use by an agreement cannot be deleted.
        assert!(matches!(store.delete_calendar(office.id, None, env.admin.id).await, Err(varde_store::StoreError::InUse(_))));
        fields.spec = office.spec.clone();
        store.update_calendar(office.id, None, fields, env.admin.id).await.unwrap();
        wait_for(15, || async { micros(&clock(&sla(&env, id).await, "sla", "resolution")["due_at"]) == due }).await;
        stop_tx.send(true).unwrap();
        runner.await.unwrap();
    })
    .await;
}

/// Everything in the clock tables and the job table, to show a read wrote nothing.
async fn snapshot(env: &Env) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM sla_clocks",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM sla_clocks",
        "SELECT CAST(COALESCE(SUM(elapsed_us), 0) AS BIGINT) FROM sla_clocks",
        "SELECT COUNT(*) FROM sla_clock_events",
        "SELECT COUNT(*) FROM jobs",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM records",
        "SELECT COUNT(*) FROM audit",
    ] {
        let v: i64 = sqlx::query_scalar(sql).fetch_one(env.state.store.pool()).await.unwrap();
        out.push(v);
    }
    out
}

/// Breaches need a target to pass: the shortest is a minute, so this test
/// waits one, for both engines at once.
#[tokio::test]
async fn reports_breaches_chain_csv_and_what_if() {
    let mut envs = Vec::new();
    for db in varde_store::testing::databases().await {
        envs.push(Env::new(db).await);
    }
    let mut made = Vec::new();
    for env in &envs {
        let gold = agreement(
            env,
            json!({ "name": "Gold", "kind": "sla", "targets": [{ "name": "response", "minutes": 30 }, { "name": "resolution", "minutes": 1 }] }),
        )
        .await;
        let desk = agreement(
            env,
            json!({ "name": "Desk", "kind": "ola", "group_id": env.group, "targets": [{ "name": "resolution", "minutes": 60 }] }),
        )
        .await;
        let late = id_of(
            &env.incident(&env.agent1, json!({ "short_description": "Late", "assignment_group_id": env.group })).await,
        );
        let quick = id_of(&env.incident(&env.agent1, json!({ "short_description": "Quick" })).await);
        let resolve = json!({ "state": "resolved", "resolution_code": "fixed", "resolution_notes": "Done" });
        env.patch_ok(quick, &env.agent1, resolve.clone()).await;
        made.push((id_of(&gold), id_of(&desk), late, resolve));
    }
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    for (env, (gold, desk, late, resolve)) in envs.iter().zip(made) {
        eprintln!("--- engine: {}", env.engine);
        env.patch_ok(late, &env.agent1, resolve).await;
        let late_number = env.read(late).await["number"].as_str().unwrap().to_string();
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).strftime("%Y-%m-%d").to_string();
        let q = format!("from={today}&to={tomorrow}");
        let r = env.get(&format!("/api/v1/reports/sla?{q}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let rep = r.json();
        let rows = rep["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{rep}");
        assert_eq!(
            (rows[0]["label"].as_str(), rows[0]["key"].as_str()),
            (Some("Gold"), Some(gold.to_string().as_str()))
        );
        // Records with no service are a row of their own, named so.
        let by_service = env.get(&format!("/api/v1/reports/sla?{q}&group_by=service"), &env.agent1).send().await.json();
        let none = &by_service["rows"][0];
        assert_eq!((none["key"].as_str(), none["label"].as_str()), (Some(""), Some("(none)")), "{by_service}");
        // Two response clocks met, one resolution met, one breached.
        assert_eq!(
            (rows[0]["total"].as_i64(), rows[0]["met"].as_i64(), rows[0]["breached"].as_i64()),
            (Some(4), Some(3), Some(1))
        );
        assert_eq!(rows[0]["compliance_percent"], 75.0);
        assert!(rows[0]["avg_resolution_seconds"].as_i64().unwrap() >= 30, "{rep}");
        let breaches = rep["breaches"].as_array().unwrap();
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0]["number"], late_number.as_str());
        assert!(breaches[0]["elapsed_seconds"].as_i64().unwrap() >= 60);
        // The chain: the desk's OLA clock had the breached record's time.
        let chain = rep["chain"].as_array().unwrap();
        assert_eq!(chain.len(), 1, "{rep}");
        assert_eq!((chain[0]["kind"].as_str(), chain[0]["label"].as_str()), (Some("ola"), Some("Service desk")));
        assert!(chain[0]["elapsed_seconds"].as_i64().unwrap() >= 60);
        // A date given as the end means through that day: today alone
        // holds the four clocks (to midnight before today, it held none).
        let day = env.get(&format!("/api/v1/reports/sla?from={today}&to={today}"), &env.agent1).send().await.json();
        assert_eq!(day["rows"][0]["total"], 4, "{day}");
        // By month, and bad parameters.
        let m = env.get(&format!("/api/v1/reports/sla?{q}&group_by=month"), &env.agent1).send().await.json();
        assert_eq!(m["rows"][0]["key"], jiff::Timestamp::now().strftime("%Y-%m").to_string());
        env.get(&format!("/api/v1/reports/sla?{q}&group_by=planet"), &env.agent1).send().await.invalid(&["group_by"]);
        env.get("/api/v1/reports/sla?from=2026-13-01", &env.agent1).send().await.invalid(&["from"]);
        env.get(&format!("/api/v1/reports/sla?from={tomorrow}&to={today}"), &env.agent1).send().await.invalid(&["to"]);
        env.get(&format!("/api/v1/reports/sla?{q}"), &env.req1).send().await.problem(403);
        // CSV, by extension or by Accept.
        for r in [
            env.get(&format!("/api/v1/reports/sla.csv?{q}"), &env.agent1).send().await,
            env.get(&format!("/api/v1/reports/sla?{q}"), &env.agent1).header("accept", "text/csv").send().await,
        ] {
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
            let text = r.text();
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[0].starts_with("key,label,total,met,breached,compliance_percent"));
            assert!(lines[1].starts_with(&format!("\"{gold}\",\"Gold\",4,3,1,75.0,")), "{text}");
        }
        // What if the resolution target had been five minutes? Nothing is written.
        let before = snapshot(env).await;
        let body = json!({ "from": today, "to": tomorrow, "targets": [{ "agreement_id": gold, "name": "resolution", "minutes": 5 }] });
        let r = env.post("/api/v1/reports/sla/what-if", &env.agent1, body).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let w = r.json();
        assert_eq!(w["clocks"], 4);
        assert_eq!(w["agreements"][0]["compliance_before"], 75.0);
        assert_eq!(w["agreements"][0]["compliance_after"], 100.0);
        assert_eq!(w["changed"][0]["number"], late_number.as_str());
        assert_eq!(
            (w["changed"][0]["before"].as_str(), w["changed"][0]["after"].as_str()),
            (Some("breached"), Some("met"))
        );
        // ... and on another calendar: 24x7 measures what the stored clocks did.
        let always =
            json!({ "from": today, "to": tomorrow, "calendar": varde_domain::sla::calendar::CalendarSpec::always() });
        let w = env.post("/api/v1/reports/sla/what-if", &env.agent1, always).send().await.json();
        assert_eq!(w["agreements"][0]["compliance_after"], 75.0, "{w}");
        let bad = json!({ "from": today, "to": tomorrow, "calendar": { "time_zone": "Mars/Olympus", "weekly": {} } });
        let r = env.post("/api/v1/reports/sla/what-if", &env.agent1, bad).send().await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert!(common::error_fields(&r.json()).iter().all(|f| f.starts_with("calendar")), "{}", r.text());
        // A change that matches no target is an error, not "no difference".
        for (target, field) in [
            (json!({ "agreement_id": 999_999, "name": "resolution", "minutes": 5 }), "targets[0].agreement_id"),
            (json!({ "agreement_id": gold, "name": "resolutoin", "minutes": 5 }), "targets[0].name"),
        ] {
            let body = json!({ "from": today, "to": tomorrow, "targets": [target] });
            env.post("/api/v1/reports/sla/what-if", &env.agent1, body).send().await.invalid(&[field]);
        }
        // A target named as typed, ignoring case, is the agreement's.
        let body = json!({ "from": today, "to": tomorrow, "targets": [{ "agreement_id": gold, "name": "RESOLUTION", "minutes": 5 }] });
        let w = env.post("/api/v1/reports/sla/what-if", &env.agent1, body).send().await.json();
        assert_eq!(w["agreements"][0]["compliance_after"], 100.0, "{w}");
        // Every fault at once.
        let body = json!({ "from": today, "to": tomorrow, "calendar_id": 999_999, "targets": [
            { "agreement_id": 999_999, "name": "resolution", "minutes": 0 },
            { "agreement_id": gold, "name": "resolution", "priority": 9, "minutes": 5 },
            { "agreement_id": desk, "name": "resolution", "minutes": 5 }
        ] });
        env.post("/api/v1/reports/sla/what-if", &env.agent1, body).send().await.invalid(&[
            "targets[0].agreement_id",
            "targets[0].minutes",
            "targets[1].priority",
            "targets[2].agreement_id",
            "calendar_id",
        ]);
        assert_eq!(snapshot(env).await, before, "what-if wrote nothing");
    }
}

#[tokio::test]
async fn incidents_sort_by_what_breaches_next_across_pages() {
    each_engine(|env| async move {
        let tiered = agreement(
            &env,
            json!({ "name": "Tiered", "kind": "sla", "targets": [
                { "name": "resolution", "priority": 1, "minutes": 60 },
                { "name": "resolution", "priority": 3, "minutes": 240 },
                { "name": "resolution", "priority": 5, "minutes": 960 }
            ] }),
        )
        .await;
        // Priority 5 (no clock due soon), 3, 1, one without a clock (priority 2), 3 again.
        let mut ids = Vec::new();
        for (impact, urgency) in [(3, 3), (2, 2), (1, 1), (1, 2), (2, 2)] {
            let i = env
                .incident(&env.agent1, json!({ "short_description": "x", "impact": impact, "urgency": urgency }))
                .await;
            ids.push(id_of(&i));
        }
        let mut seen = Vec::new();
        let mut rows = Vec::new();
        let mut path = "/api/v1/incidents?sort=sla_due&limit=2".to_string();
        loop {
            let page = env.get(&path, &env.agent1).send().await.json();
            seen.extend(page["items"].as_array().unwrap().iter().map(id_of));
            rows.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/incidents?sort=sla_due&limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            vec![ids[2], ids[1], ids[4], ids[0], ids[3]],
            "P1 first, then the P3s oldest first, P5, no clock last"
        );
        // Each row says when it falls due and how long is left: the clock's
        // due instant, and its target less the seconds since the create.
        for (row, minutes) in rows.iter().zip([60, 240, 240, 960]) {
            let due = micros(&row["sla_due_at"]);
            assert_eq!(Some(due), env.state.store.sla_dues(&[id_of(row)]).await.unwrap()[&id_of(row)]);
            assert_eq!(due, micros(&row["created_at"]) + minutes * 60_000_000, "{row}");
            let left = row["sla_due_in_seconds"].as_i64().unwrap();
            assert!(left <= minutes * 60 && left > minutes * 60 - 60, "{row}");
        }
        assert!(rows[4]["sla_due_at"].is_null() && rows[4]["sla_due_in_seconds"].is_null(), "{}", rows[4]);
        env.get("/api/v1/incidents?sort=breach", &env.agent1).send().await.invalid(&["sort"]);
        // A what-if for a priority none of the agreement's targets is for.
        let body = json!({ "from": "2026-01-01", "to": "2026-12-31",
            "targets": [{ "agreement_id": id_of(&tiered), "name": "resolution", "priority": 2, "minutes": 5 }] });
        let p =
            env.post("/api/v1/reports/sla/what-if", &env.agent1, body).send().await.invalid(&["targets[0].priority"]);
        assert!(p.to_string().contains("does not apply to priority 2"), "{p}");
    })
    .await;
}

/// Creates of calendars, agreements and suppliers honour `Idempotency-Key`
/// as incidents do: a retry answers with what the first request made, the
/// same key with another body is refused, and nothing is made twice.
#[tokio::test]
async fn calendar_agreement_and_supplier_creates_honour_idempotency_keys() {
    each_engine(|env| async move {
        fn calendar(name: &str) -> Value {
            json!({ "name": name, "time_zone": "Europe/Oslo", "weekly": { "monday": [{ "start": "08:00", "end": "16:00" }] } })
        }
        fn sla(name: &str) -> Value {
            json!({ "name": name, "kind": "sla", "targets": [{ "name": "resolution", "minutes": 60 }] })
        }
        fn supplier(name: &str) -> Value {
            json!({ "name": name })
        }
        let cases = [
            ("/api/v1/calendars", calendar as fn(&str) -> Value),
            ("/api/v1/slas", sla),
            ("/api/v1/suppliers", supplier),
        ];
        for (path, body) in cases {
            // A key is the caller's, across endpoints: one per create.
            let key = format!("retry-{path}");
            let post = |b: Value| env.post(path, &env.admin, b).header("idempotency-key", &key).send();
            let first = post(body("Gold")).await;
            assert_eq!(first.status, StatusCode::CREATED, "{path}: {}", first.text());
            let again = post(body("Gold")).await;
            assert_eq!(again.status, StatusCode::CREATED, "{path}: {}", again.text());
            assert_eq!(again.header("idempotent-replayed"), Some("true"), "{path}");
            assert_eq!(id_of(&again.json()), id_of(&first.json()), "{path}");
            post(body("Other")).await.invalid(&["Idempotency-Key"]);
            let list = env.get(path, &env.admin).send().await.json();
            let items = list.get("items").unwrap_or(&list).as_array().unwrap().clone();
            let named: Vec<&Value> = items.iter().filter(|i| i["name"] == "Gold" || i["name"] == "Other").collect();
            assert_eq!(named.len(), 1, "{path}: made once: {list}");
        }
    })
    .await;
}
