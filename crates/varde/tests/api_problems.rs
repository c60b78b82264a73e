//! `/api/v1/problems`, known errors, workarounds and recurring-incident
//! candidates through the real router, on every engine.

mod common;

use common::{each_engine, error_fields, id_of, Env, Person};
use futures::FutureExt;
use http::StatusCode;
use serde_json::json;
use varde::service::directory::{create_token, create_user, CreateUser};

async fn manager(env: &Env) -> Person {
    let u = create_user(
        &env.state.store,
        None,
        CreateUser {
            email: "pm@example.org".into(),
            name: "Pam Manager".into(),
            role: "problem_manager".into(),
            organisation_id: None,
            password: None,
        },
    )
    .await
    .unwrap();
    let (_, token) = create_token(&env.state.store, u.id, "tests").await.unwrap();
    Person { id: u.id, token, email: "pm@example.org".into() }
}

#[tokio::test]
async fn problem_lifecycle_known_error_and_linked_incidents() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let inc1 = env.incident(&env.req1, json!({"short_description": "VPN drops every few minutes"})).await;
        let inc2 = env.incident(&env.req2, json!({"short_description": "VPN disconnects at home"})).await;

        // Requesters do not see problems at all.
        env.post("/api/v1/problems", &env.req1, json!({"short_description": "x"})).send().await.problem(404);
        // Bad input is named field by field and changes nothing.
        let r = env
            .post("/api/v1/problems", &env.agent1, json!({"short_description": " ", "priority": 9, "incidents": ["INC9999999"]}))
            .send()
            .await;
        r.invalid(&["short_description", "priority", "incidents"]);
        let list = env.get("/api/v1/problems", &env.agent1).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0);

        let r = env
            .post(
                "/api/v1/problems",
                &env.agent1,
                json!({"short_description": "VPN concentrator drops sessions", "priority": 2,
                       "incidents": [inc1["number"], inc2["id"].to_string()]}),
            )
            .header("idempotency-key", "prb-1")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["number"], "PRB0000001");
        assert_eq!(r.header("etag"), Some("\"1\""));
        let loc = r.header("location").unwrap().to_string();
        assert_eq!(loc, format!("/api/v1/problems/{}", id_of(&p)));
        // A retried create returns the first.
        let again = env
            .post(
                "/api/v1/problems",
                &env.agent1,
                json!({"short_description": "VPN concentrator drops sessions", "priority": 2,
                       "incidents": [inc1["number"], inc2["id"].to_string()]}),
            )
            .header("idempotency-key", "prb-1")
            .send()
            .await;
        assert_eq!(id_of(&again.json()), id_of(&p));
        let linked = env.get(&format!("{loc}/incidents"), &env.agent1).send().await.json();
        assert_eq!(linked["count"], 2, "{linked}");
        assert_eq!(linked["open"], 2);
        assert!(linked["time_spent_seconds"].as_i64().unwrap() >= 0);
        // The link is the desk's: its note and the link itself are not the
        // requester's to see (ADR 0008).
        let i1 = id_of(&inc1);
        let bodies = |j: serde_json::Value| -> Vec<String> {
            j.as_array().unwrap().iter().map(|e| e["body"].as_str().unwrap().to_string()).collect()
        };
        let desk = bodies(env.get(&format!("/api/v1/incidents/{i1}/journal"), &env.agent1).send().await.json());
        assert!(desk.iter().any(|b| b.starts_with("Linked to problem PRB0000001")), "{desk:?}");
        let theirs = bodies(env.get(&format!("/api/v1/incidents/{i1}/journal"), &env.req1).send().await.json());
        assert!(!theirs.iter().any(|b| b.contains("PRB0000001")), "{theirs:?}");
        let links = env.get(&format!("/api/v1/incidents/{i1}/links"), &env.req1).send().await.json();
        assert_eq!(links, json!([]), "the requester does not see the problem's id");
        let links = env.get(&format!("/api/v1/incidents/{i1}/links"), &env.agent1).send().await.json();
        assert_eq!(links[0]["kind"], "caused_by");

        // Read by number; If-None-Match.
        let r = env.get("/api/v1/problems/PRB0000001", &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK);
        let r = env.get(&loc, &env.agent1).header("if-none-match", "\"1\"").send().await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);

        // Investigation by an agent; a stale If-Match is refused.
        let r = env.patch(&loc, &env.agent1, json!({"state": "under_investigation"})).header("if-match", "\"1\"").send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("etag"), Some("\"2\""));
        env.patch(&loc, &env.agent1, json!({"priority": 1})).header("if-match", "\"1\"").send().await.problem(412);
        // A known error needs a cause and a workaround; publishing is the problem manager's.
        let r = env.patch(&loc, &pm, json!({"state": "known_error"})).send().await;
        r.invalid(&["root_cause", "workaround"]);
        let analysis = json!({"root_cause": "MTU mismatch on the concentrator", "rca_method": "five_whys",
            "contributing_factors": "Firmware update", "workaround": "Lower the MTU to 1400 in the VPN client"});
        env.patch(&loc, &env.agent1, analysis).send().await;
        env.patch(&loc, &env.agent1, json!({"state": "known_error"})).send().await.problem(403);
        env.patch(&loc, &pm, json!({"rca_method": "guessing"})).send().await.invalid(&["rca_method"]);
        let r = env.patch(&loc, &pm, json!({"state": "known_error"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["known_error"], true);

        // The known error database and filters.
        let kedb = env.get("/api/v1/problems?known_error=true&q=mtu", &env.agent2).send().await.json();
        assert_eq!(kedb["items"].as_array().unwrap().len(), 1, "{kedb}");
        let none = env.get("/api/v1/problems?state=closed", &env.agent2).send().await.json();
        assert_eq!(none["items"].as_array().unwrap().len(), 0);
        env.get("/api/v1/problems?state=nonsense&priority=7", &env.agent2).send().await.invalid(&["state", "priority"]);

        // An agent sees the known error among the suggestions and applies it.
        let inc3 = env.incident(&env.req1, json!({"short_description": "VPN connection keeps dropping"})).await;
        let sug = env.get(&format!("/api/v1/incidents/{}/suggestions", id_of(&inc3)), &env.agent1).send().await.json();
        assert_eq!(sug[0]["number"], "PRB0000001", "{sug}");
        assert_eq!(sug[0]["kind"], "known_error");
        let r = env
            .post(&format!("/api/v1/incidents/{}/workaround", id_of(&inc3)), &env.agent1, json!({"problem": "PRB0000001"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let journal = env.get(&format!("/api/v1/incidents/{}/journal", id_of(&inc3)), &env.req1).send().await.json();
        assert!(journal.as_array().unwrap().iter().any(|j| j["body"].as_str().unwrap().contains("Lower the MTU")), "{journal}");
        let links = env.get(&format!("/api/v1/incidents/{}/links", id_of(&inc3)), &env.agent1).send().await.json();
        assert_eq!(links[0]["kind"], "workaround_from");
        env.post(&format!("/api/v1/incidents/{}/workaround", id_of(&inc3)), &env.agent1, json!({"problem": "PRB0000001"}))
            .send()
            .await
            .problem(409);
        env.post(&format!("/api/v1/incidents/{}/workaround", id_of(&inc3)), &env.req1, json!({"problem": "PRB0000001"}))
            .send()
            .await
            .problem(403);

        // Link and unlink by the sub-resource.
        let r = env.post(&format!("{loc}/incidents"), &env.agent1, json!({"incident": inc3["number"]})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        env.post(&format!("{loc}/incidents"), &env.agent1, json!({"incident": inc3["number"]})).send().await.problem(409);
        env.post(&format!("{loc}/incidents"), &env.agent1, json!({"incident": "nonsense"})).send().await.invalid(&["incident"]);
        let r = env.delete(&format!("{loc}/incidents/{}", inc3["number"].as_str().unwrap()), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);

        // Resolving needs the fix, and resolves the open linked incidents when asked.
        env.patch(&loc, &pm, json!({"state": "resolved"})).send().await.invalid(&["permanent_fix"]);
        let r = env
            .patch(&loc, &pm, json!({"state": "resolved", "permanent_fix": "Concentrator firmware 9.2", "linked_incidents": "resolve"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let i1 = env.read(id_of(&inc1)).await;
        assert_eq!(i1["state"], "resolved", "{i1}");
        assert!(i1["resolution_notes"].as_str().unwrap().contains("firmware 9.2"));
        let history = env.get(&format!("/api/v1/incidents/{}/history", id_of(&inc1)), &env.admin).send().await.json();
        assert!(history.as_array().unwrap().iter().any(|h| h["field"] == "state"));
        env.patch(&loc, &pm, json!({"linked_incidents": "shout"})).send().await.invalid(&["linked_incidents"]);

        // The report counts the problem's incidents.
        let rep = env.get("/api/v1/reports/knowledge", &env.agent1).send().await.json();
        assert_eq!(rep["top_problems_by_incidents"][0]["incidents"], 2, "{rep}");
        assert_eq!(rep["top_problems_by_incidents"][0]["incidents_before_resolution"], 2, "{rep}");
        env.get("/api/v1/reports/knowledge", &env.req1).send().await.problem(403);
        let _ = error_fields;
    })
    .await;
}

#[tokio::test]
async fn recurring_candidates_accept_and_reject() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        for t in [
            "Payroll application times out when saving timesheet",
            "Timeout error saving my timesheet in the payroll app",
            "Payroll app: saving timesheet times out",
            "Outlook keeps asking for my password",
            "Outlook password prompt keeps popping up",
            "Repeated password prompts in Outlook",
            "Monitor flickers",
        ] {
            env.incident(&env.req1, json!({"short_description": t})).await;
        }
        env.post("/api/v1/problem-candidates/detect", &env.agent1, json!({})).send().await.problem(403);
        let r = env.post("/api/v1/problem-candidates/detect", &pm, json!({})).send().await;
        assert_eq!(r.json()["proposed"], 2, "{}", r.text());
        // Running again proposes nothing new: the grouped incidents are taken.
        let r = env.post("/api/v1/problem-candidates/detect", &pm, json!({})).send().await;
        assert_eq!(r.json()["proposed"], 0);
        let list = env.get("/api/v1/problem-candidates?state=proposed", &env.agent1).send().await.json();
        let list = list.as_array().unwrap().clone();
        assert_eq!(list.len(), 2);
        let payroll = list.iter().find(|c| c["terms"].as_array().unwrap().iter().any(|t| t == "payrol")).unwrap();
        let outlook = list.iter().find(|c| c["id"] != payroll["id"]).unwrap();
        env.post(&format!("/api/v1/problem-candidates/{}/accept", payroll["id"]), &env.agent1, json!({}))
            .send()
            .await
            .problem(403);
        // Two managers accept at once: one problem, the other is refused.
        let url = format!("/api/v1/problem-candidates/{}/accept", payroll["id"]);
        let (a, b) = tokio::join!(env.post(&url, &pm, json!({})).send(), env.post(&url, &pm, json!({})).send());
        let (r, other) = if a.status == StatusCode::CREATED { (a, b) } else { (b, a) };
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert!(other.status.is_client_error(), "the second accept must be refused: {} {}", other.status, other.text());
        let problems = env.get("/api/v1/problems", &pm).send().await.json();
        let recurring = problems["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["short_description"].as_str().unwrap_or("").starts_with("Recurring"))
            .count();
        assert_eq!(recurring, 1, "{problems}");
        let p = r.json();
        let linked = env.get(&format!("/api/v1/problems/{}/incidents", id_of(&p)), &pm).send().await.json();
        assert_eq!(linked["count"], 3);
        let r = env.post(&format!("/api/v1/problem-candidates/{}/reject", outlook["id"]), &pm, json!({})).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        env.post(&format!("/api/v1/problem-candidates/{}/accept", outlook["id"]), &pm, json!({}))
            .send()
            .await
            .problem(422);
        let rejected = env.get("/api/v1/problem-candidates?state=rejected", &pm).send().await.json();
        assert_eq!(rejected.as_array().unwrap().len(), 1);
        let accepted = env.get("/api/v1/problem-candidates?state=accepted", &pm).send().await.json();
        assert_eq!(accepted[0]["problem_id"], p["id"]);
        env.get("/api/v1/problem-candidates?state=maybe", &pm).send().await.invalid(&["state"]);
    })
    .await;
}

async fn new_ci(env: &Env, body: serde_json::Value) -> i64 {
    let r = env.post("/api/v1/cis", &env.admin, body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    id_of(&r.json())
}

/// A problem with `incidents` linked, under investigation: ready to resolve.
async fn investigated(env: &Env, incidents: &[&serde_json::Value]) -> String {
    let numbers: Vec<_> = incidents.iter().map(|i| i["number"].clone()).collect();
    let r = env
        .post("/api/v1/problems", &env.agent1, json!({"short_description": "Mail server drops", "incidents": numbers}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let loc = r.header("location").unwrap().to_string();
    let r = env.patch(&loc, &env.agent1, json!({"state": "under_investigation"})).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    loc
}

async fn journal_bodies(env: &Env, incident: &serde_json::Value) -> Vec<String> {
    let j = env.get(&format!("/api/v1/incidents/{}/journal", id_of(incident)), &env.admin).send().await.json();
    j.as_array().unwrap().iter().map(|e| e["body"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn problems_link_list_and_unlink_affected_cis() {
    each_engine(|env| async move {
        let mail = new_ci(&env, json!({"class": "Technical service", "name": "Mail"})).await;
        let host = new_ci(
            &env,
            json!({"class": "Server", "name": "mx-1", "attributes": {"hostname": "mx-1", "domain": "corp"}}),
        )
        .await;
        let r =
            env.post(&format!("/api/v1/cis/{mail}/relations"), &env.agent1, json!({"kind": "runs_on", "to_id": host}));
        assert_eq!(r.send().await.status, StatusCode::CREATED);
        let p =
            env.post("/api/v1/problems", &env.agent1, json!({"short_description": "Mail bounces"})).send().await.json();
        let (pid, number) = (id_of(&p), p["number"].as_str().unwrap().to_string());
        let cis = format!("/api/v1/problems/{number}/cis");
        let count = |v: serde_json::Value| v["items"].as_array().unwrap().len();

        // A requester may neither link, list nor unlink.
        env.post(&cis, &env.req1, json!({"ci_id": host})).send().await.problem(403);
        env.get(&cis, &env.req1).send().await.problem(403);
        env.delete(&format!("{cis}/{host}"), &env.req1).send().await.problem(403);
        // An unknown CI is named and changes nothing.
        env.post(&cis, &env.agent1, json!({"ci_id": 987654})).send().await.invalid(&["ci_id"]);
        assert_eq!(count(env.get(&cis, &env.agent1).send().await.json()), 0);
        env.post("/api/v1/problems/PRB0009999/cis", &env.agent1, json!({"ci_id": host})).send().await.problem(404);

        let r = env.post(&cis, &env.agent1, json!({"ci_id": host})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.header("location"), Some(format!("/api/v1/problems/{pid}/cis").as_str()));
        let v = r.json();
        assert_eq!(v["items"][0]["name"], "mx-1", "{v}");
        assert_eq!(v["services_at_risk"][0]["name"], "Mail", "{v}");
        let again = env.post(&format!("/api/v1/problems/{pid}/cis"), &env.agent1, json!({"ci_id": host})).send().await;
        assert_eq!(again.status, StatusCode::OK, "linking twice is a no-op");
        env.post(&cis, &env.agent1, json!({"ci_id": 987654})).send().await.invalid(&["ci_id"]);
        let listed = env.get(&cis, &env.agent2).send().await.json();
        assert_eq!(count(listed.clone()), 1, "{listed}");
        // The CI names the problem among its open records, and in its history.
        let open = env.get(&format!("/api/v1/cis/{host}/incidents"), &env.agent2).send().await.json();
        assert!(open.as_array().unwrap().iter().any(|r| r["number"] == number && r["kind"] == "problem"), "{open}");
        let h = env.get(&format!("/api/v1/cis/{host}/history"), &env.agent2).send().await.json();
        assert!(h.as_array().unwrap().iter().any(|c| c["field"] == "affected_by" && c["record_id"] == pid), "{h}");

        env.delete(&format!("{cis}/{host}"), &env.req1).send().await.problem(403);
        assert_eq!(count(env.get(&cis, &env.agent1).send().await.json()), 1, "a refused unlink changes nothing");
        let r = env.delete(&format!("{cis}/{host}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(count(env.get(&cis, &env.agent1).send().await.json()), 0);
        env.delete(&format!("{cis}/{host}"), &env.agent1).send().await.problem(404);
    })
    .await;
}

#[tokio::test]
async fn resolving_a_problem_notifies_its_open_incidents() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let open = env.incident(&env.req1, json!({"short_description": "Mail bounces"})).await;
        let done = env.incident(&env.req2, json!({"short_description": "Mail bounced yesterday"})).await;
        let loc = investigated(&env, &[&open, &done]).await;
        env.patch_ok(
            id_of(&done),
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Resent"}),
        )
        .await;
        let r = env
            .patch(
                &loc,
                &pm,
                json!({"state": "resolved", "permanent_fix": "Queue moved to mx-2", "linked_incidents": "notify"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let number = r.json()["number"].as_str().unwrap().to_string();
        let line = format!("Problem {number} is resolved: Queue moved to mx-2");
        // The open incident is told, and left to its people to resolve.
        assert_eq!(journal_bodies(&env, &open).await.iter().filter(|b| **b == line).count(), 1);
        assert_eq!(env.read(id_of(&open)).await["state"], "new");
        // The one already resolved is not.
        assert!(!journal_bodies(&env, &done).await.contains(&line));
    })
    .await;
}

#[tokio::test]
async fn a_resolve_that_cannot_reach_every_incident_changes_nothing() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let first = env.incident(&env.req1, json!({"short_description": "Mail bounces"})).await;
        let middle = env.incident(&env.req2, json!({"short_description": "Mail is slow"})).await;
        let last = env.incident(&env.req1, json!({"short_description": "Mail is lost"})).await;
        let loc = investigated(&env, &[&first, &middle, &last]).await;
        // The middle incident cannot be read: whichever end the resolve
        // starts from, it has changed one incident when it fails.
        let set_state = |state: &'static str| {
            let id = id_of(&middle);
            env.state.store.write(move |conn| {
                async move {
                    sqlx::query("UPDATE records SET state = $1 WHERE id = $2")
                        .bind(state)
                        .bind(id)
                        .execute(conn)
                        .await?;
                    Ok(())
                }
                .boxed()
            })
        };
        set_state("garbled").await.unwrap();
        let resolve =
            json!({"state": "resolved", "permanent_fix": "Queue moved to mx-2", "linked_incidents": "resolve"});
        let r = env.patch(&loc, &pm, resolve.clone()).send().await;
        assert!(r.status.is_server_error(), "{} {}", r.status, r.text());
        // Neither the problem nor any incident changed.
        let p = env.get(&loc, &pm).send().await.json();
        assert_eq!((p["state"].as_str(), p["version"].as_i64()), (Some("under_investigation"), Some(2)), "{p}");
        for i in [&first, &last] {
            assert_eq!(env.read(id_of(i)).await["state"], "new");
        }
        let jobs = env.state.store.pending_jobs().await.unwrap();
        assert!(!jobs.iter().any(|j| j.kind == "close_incident"), "{jobs:?}");

        // Once the incident can be read again, the same resolve does it all.
        set_state("new").await.unwrap();
        let r = env.patch(&loc, &pm, resolve).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        for i in [&first, &middle, &last] {
            assert_eq!(env.read(id_of(i)).await["state"], "resolved");
        }
    })
    .await;
}

/// Naming the current state is no way around what it needs: a plain agent
/// cannot empty a published known error, nor anyone the fix of a resolved
/// problem, and the refused patch changes nothing (finding 1 and 2 of the
/// exploratory test).
#[tokio::test]
async fn a_known_error_or_a_resolved_problem_keeps_what_its_state_needs() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let incident = env.incident(&env.req1, json!({"short_description": "Mail relay drops connections"})).await;
        let loc = investigated(&env, &[]).await;
        let analysis = json!({"root_cause": "Expired certificate", "workaround": "Resend after a minute"});
        assert_eq!(env.patch(&loc, &env.agent1, analysis).send().await.status, StatusCode::OK);
        let r = env.patch(&loc, &pm, json!({"state": "known_error"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let version = r.json()["version"].clone();

        for who in [&env.agent1, &pm] {
            let emptied = json!({"state": "known_error", "workaround": null, "root_cause": null});
            env.patch(&loc, who, emptied).send().await.invalid(&["root_cause", "workaround"]);
            env.patch(&loc, who, json!({"workaround": null})).send().await.invalid(&["workaround"]);
        }
        let p = env.get(&loc, &env.agent1).send().await.json();
        assert_eq!(p["version"], version, "{p}");
        assert_eq!(p["workaround"], "Resend after a minute", "{p}");
        // So the workaround an incident gets is the one published.
        let r = env
            .post(
                &format!("/api/v1/incidents/{}/workaround", id_of(&incident)),
                &env.agent1,
                json!({"problem": p["number"]}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert!(journal_bodies(&env, &incident).await.iter().any(|b| b.ends_with("\nResend after a minute")));

        let r =
            env.patch(&loc, &pm, json!({"state": "resolved", "permanent_fix": "Renewed the certificate"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let version = r.json()["version"].clone();
        for who in [&env.agent1, &pm] {
            env.patch(&loc, who, json!({"permanent_fix": null})).send().await.invalid(&["permanent_fix"]);
            let r = env.patch(&loc, who, json!({"state": "resolved", "permanent_fix": " "})).send().await;
            r.invalid(&["permanent_fix"]);
        }
        let p = env.get(&loc, &env.agent1).send().await.json();
        assert_eq!((&p["version"], &p["permanent_fix"]), (&version, &json!("Renewed the certificate")), "{p}");
        // A resolved problem's fix may still be reworded.
        let r = env.patch(&loc, &env.agent1, json!({"permanent_fix": "Renewed the certificate; added expiry alerts"}));
        assert_eq!(r.send().await.status, StatusCode::OK);
    })
    .await;
}

/// `known_error` is a filter like the others: `false` leaves the known
/// errors out, and with `state` both must hold (finding 4).
#[tokio::test]
async fn the_known_error_filter_combines_with_the_others() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let known = investigated(&env, &[]).await;
        let analysis = json!({"root_cause": "Expired certificate", "workaround": "Resend after a minute"});
        assert_eq!(env.patch(&known, &env.agent1, analysis).send().await.status, StatusCode::OK);
        assert_eq!(env.patch(&known, &pm, json!({"state": "known_error"})).send().await.status, StatusCode::OK);
        let fresh = env.post("/api/v1/problems", &env.agent1, json!({"short_description": "Disk fills"})).send().await;
        let (known, fresh) = (env.get(&known, &pm).send().await.json(), fresh.json());
        let numbers = |q: &str| {
            let call = env.get(&format!("/api/v1/problems?{q}"), &env.agent1).send();
            async move {
                let page = call.await.json();
                page["items"].as_array().unwrap().iter().map(|p| p["number"].clone()).collect::<Vec<_>>()
            }
        };
        assert_eq!(numbers("known_error=true").await, [known["number"].clone()]);
        assert_eq!(numbers("known_error=false").await, [fresh["number"].clone()]);
        assert_eq!(numbers("known_error=true&state=new").await, Vec::<serde_json::Value>::new());
        assert_eq!(numbers("known_error=false&state=new,known_error").await, [fresh["number"].clone()]);
        assert_eq!(numbers("known_error=true&state=new,known_error").await, [known["number"].clone()]);
        env.get("/api/v1/problems?known_error=maybe&state=nonsense", &env.agent1)
            .send()
            .await
            .invalid(&["state", "known_error"]);
    })
    .await;
}

/// A create whose incidents cannot all be linked makes no problem: an
/// incident named twice (by number and by id) is refused up front, and a
/// retry under the same key after the fix makes the problem (finding 5).
#[tokio::test]
async fn a_create_that_cannot_link_its_incidents_makes_no_problem() {
    each_engine(|env| async move {
        let inc = env.incident(&env.req1, json!({"short_description": "Mail relay drops connections"})).await;
        let twice = json!({"short_description": "Mail relay", "incidents": [inc["number"], id_of(&inc).to_string()]});
        let r = env.post("/api/v1/problems", &env.agent1, twice).header("idempotency-key", "dup-1").send().await;
        r.invalid(&["incidents"]);
        let list = env.get("/api/v1/problems", &env.agent1).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
        assert_eq!(journal_bodies(&env, &inc).await, Vec::<String>::new());

        let once = json!({"short_description": "Mail relay", "incidents": [inc["number"]]});
        let r = env.post("/api/v1/problems", &env.agent1, once).header("idempotency-key", "dup-1").send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.header("idempotent-replayed"), None);
        let linked = env.get(&format!("/api/v1/problems/{}/incidents", id_of(&r.json())), &env.agent1).send().await;
        assert_eq!(linked.json()["count"], 1);
    })
    .await;
}

/// A closed problem neither takes nor gives up incidents (finding 11).
#[tokio::test]
async fn a_closed_problem_keeps_its_incidents() {
    each_engine(|env| async move {
        let pm = manager(&env).await;
        let (one, two) = (
            env.incident(&env.req1, json!({"short_description": "Mail bounces"})).await,
            env.incident(&env.req1, json!({"short_description": "Mail is lost"})).await,
        );
        let loc = investigated(&env, &[&one]).await;
        let r = env.patch(&loc, &pm, json!({"state": "closed"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        env.post(&format!("{loc}/incidents"), &env.agent1, json!({"incident": two["number"]}))
            .send()
            .await
            .problem(422);
        env.delete(&format!("{loc}/incidents/{}", id_of(&one)), &env.agent1).send().await.problem(422);
        // Nor through the incident's own links (the store keeps the rule).
        let links = format!("/api/v1/incidents/{}/links", id_of(&one));
        let link = env.get(&links, &env.agent1).send().await.json()[0]["id"].as_i64().unwrap();
        env.delete(&format!("{links}/{link}"), &env.agent1).send().await.problem(422);
        env.post(&links, &env.agent1, json!({"to": loc.rsplit('/').next().unwrap(), "kind": "caused_by"}))
            .send()
            .await
            .problem(422);
        let linked = env.get(&format!("{loc}/incidents"), &env.agent1).send().await.json();
        assert_eq!(linked["count"], 1, "{linked}");
    })
    .await;
}

/// Ids are unique across record kinds (ADR 0004): the incident's generic
/// links endpoint links it to a problem too, as the problem's own does.
#[tokio::test]
async fn an_incident_links_to_a_problem_through_its_links() {
    each_engine(|env| async move {
        let inc = env.incident(&env.req1, json!({"short_description": "Mail bounces"})).await;
        let r =
            env.post("/api/v1/problems", &env.agent1, json!({"short_description": "Relay rejects mail"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let number = r.json()["number"].as_str().unwrap().to_string();
        let links = format!("/api/v1/incidents/{}/links", id_of(&inc));
        env.post(&links, &env.agent1, json!({"to": number, "kind": "relates_to"})).send().await.invalid(&["to"]);
        let r = env.post(&links, &env.agent1, json!({"to": number, "kind": "caused_by"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let linked = env.get(&format!("/api/v1/problems/{number}/incidents"), &env.agent1).send().await.json();
        assert_eq!(linked["count"], 1, "{linked}");
    })
    .await;
}
