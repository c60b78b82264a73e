//! The CMDB through the REST API: rights, CIs with ETags and merge patches,
//! filters and CSV, relations, impact, history and as-of, incidents'
//! affected CIs, assets and checklists, imports. Both engines.

mod common;

use common::{each_engine, error_fields, id_of, Env, Person};
use http::StatusCode;
use serde_json::{json, Value};

async fn new_ci(env: &Env, who: &Person, body: Value) -> Value {
    let r = env.post("/api/v1/cis", who, body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(r.header("location").is_some_and(|l| l.starts_with("/api/v1/cis/")));
    r.json()
}

async fn relate(env: &Env, from: i64, to: i64, kind: &str) -> i64 {
    let r = env
        .post(&format!("/api/v1/cis/{from}/relations"), &env.agent1, json!({"kind": kind, "to_id": to}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    id_of(&r.json())
}

fn instant_now() -> String {
    jiff::Timestamp::now().to_string()
}

#[tokio::test]
async fn rights_classes_for_admins_cis_for_agents_nothing_for_requesters() {
    each_engine(|env| async move {
        let class = json!({"name": "Printer", "parent_id": null, "attributes": [{"name": "toner", "kind": "text"}]});
        env.post("/api/v1/ci-classes", &env.agent1, class.clone()).send().await.problem(403);
        env.post("/api/v1/ci-classes", &env.req1, class.clone()).send().await.problem(403);
        let r = env.post("/api/v1/ci-classes", &env.admin, class).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let printer = id_of(&r.json());
        // Agents read classes and make CIs; requesters read nothing.
        assert_eq!(env.get("/api/v1/ci-classes", &env.agent1).send().await.status, StatusCode::OK);
        env.get("/api/v1/ci-classes", &env.req1).send().await.problem(403);
        let ci =
            new_ci(&env, &env.agent1, json!({"class_id": printer, "name": "prn-1", "attributes": {"toner": "black"}}))
                .await;
        env.get(&format!("/api/v1/cis/{}", id_of(&ci)), &env.req1).send().await.problem(403);
        env.get("/api/v1/cis", &env.req1).send().await.problem(403);
        env.post("/api/v1/cis", &env.req1, json!({"class_id": printer, "name": "x"})).send().await.problem(403);
        env.get(&format!("/api/v1/cis/{}/impact", id_of(&ci)), &env.req1).send().await.problem(403);
        // Bad class definitions are 422 with the field named.
        env.post(
            "/api/v1/ci-classes",
            &env.admin,
            json!({"name": "Bad", "attributes": [{"name": "Size", "kind": "enum"}]}),
        )
        .send()
        .await
        .invalid(&["attributes[0].name", "attributes[0].values"]);
        env.post(
            "/api/v1/ci-classes",
            &env.admin,
            json!({"name": "Bad", "attributes": [{"name": "a", "kind": "colour"}]}),
        )
        .send()
        .await
        .problem(422);
        // Class patch with If-Match.
        let r = env
            .patch(&format!("/api/v1/ci-classes/{printer}"), &env.admin, json!({"description": "x"}))
            .header("if-match", "\"7\"")
            .send()
            .await;
        r.problem(412);
        let r = env
            .patch(&format!("/api/v1/ci-classes/{printer}"), &env.admin, json!({"description": "Printers"}))
            .header("if-match", "\"1\"")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("etag"), Some("\"2\""));
    })
    .await;
}

#[tokio::test]
async fn cis_are_validated_patched_with_etags_and_listed() {
    each_engine(|env| async move {
        let bad = env
            .post(
                "/api/v1/cis",
                &env.agent1,
                json!({"class": "Server", "name": "", "status": "lost", "attributes": {"ip_address": "999.1.1.1", "colour": 1}}),
            )
            .send()
            .await;
        // A status that is no status does not hide the other faults.
        bad.invalid(&["status", "name", "attributes.ip_address", "attributes.colour"]);
        let bad = env
            .post("/api/v1/cis", &env.agent1, json!({"class": "Server", "name": "", "attributes": {"ip_address": "999.1.1.1", "colour": 1}}))
            .send()
            .await;
        bad.invalid(&["name", "attributes.ip_address", "attributes.colour"]);
        env.post("/api/v1/cis", &env.agent1, json!({"class": "Application", "name": "two\nlines"}))
            .send()
            .await
            .invalid(&["name"]);
        let a = new_ci(&env, &env.agent1, json!({"class": "Server", "name": "app-01", "attributes": {"hostname": "app-01", "domain": "corp", "os": "Linux", "ip_address": "10.0.0.1"}})).await;
        assert_eq!(a["class"], "Server");
        assert_eq!(a["status"], "deployed");
        let id = id_of(&a);
        new_ci(&env, &env.agent1, json!({"class": "Laptop", "name": "lap-1", "attributes": {"serial_number": "L1", "os": "linux"}})).await;
        new_ci(&env, &env.agent1, json!({"class": "Server", "name": "win-01", "attributes": {"hostname": "win-01", "domain": "corp", "os": "Windows"}})).await;
        // Same identity (hostname + domain) is refused.
        env.post("/api/v1/cis", &env.agent1, json!({"class": "Server", "name": "other", "attributes": {"hostname": "APP-01", "domain": "corp"}}))
            .send()
            .await
            .problem(422);

        let r = env.get(&format!("/api/v1/cis/{id}"), &env.agent2).send().await;
        assert_eq!(r.header("etag"), Some("\"1\""));
        // If-None-Match as clients send it: a list, a weak tag; a stale tag gets the body.
        let path = format!("/api/v1/cis/{id}");
        let r = env.get(&path, &env.agent2).header("if-none-match", "\"7\", W/\"1\"").send().await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        let r = env.get(&path, &env.agent2).header("if-none-match", "\"7\"").send().await;
        assert_eq!(r.status, StatusCode::OK);
        // Idempotency-Key: a retried create returns the first CI.
        let body = json!({"class": "Application", "name": "retry-me"});
        let first = env.post("/api/v1/cis", &env.agent1, body.clone()).header("idempotency-key", "k-1").send().await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        let again = env.post("/api/v1/cis", &env.agent1, body).header("idempotency-key", "k-1").send().await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(id_of(&again.json()), id_of(&first.json()));
        env.post("/api/v1/cis", &env.agent1, json!({"class": "Application", "name": "other"}))
            .header("idempotency-key", "k-1")
            .send()
            .await
            .invalid(&["Idempotency-Key"]);
        // Merge patch: attributes merge key by key; null removes.
        let r = env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"attributes": {"os": "Debian", "ip_address": null}, "status": "in_repair"}))
            .header("if-match", "\"1\"")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(v["attributes"]["os"], "Debian");
        assert_eq!(v["attributes"]["hostname"], "app-01");
        assert!(v["attributes"].get("ip_address").is_none());
        env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"name": "z"})).header("if-match", "\"1\"").send().await.problem(412);
        env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"status": "ordered"})).send().await.problem(422);
        env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"class_id": 1})).send().await.invalid(&["class_id"]);
        env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"nonsense": 1})).send().await.invalid(&["nonsense"]);
        env.patch(&format!("/api/v1/cis/{id}"), &env.agent1, json!({"status": null})).send().await.invalid(&["status"]);
        assert_eq!(env.get(&format!("/api/v1/cis/{id}"), &env.admin).send().await.json()["version"], 2);

        // Filters: class with subclasses, attribute, text, status.
        let names = |v: &Value| -> Vec<String> {
            v["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
        };
        let r = env.get("/api/v1/cis?class=Computer&attr.os=linux", &env.agent1).send().await;
        assert_eq!(names(&r.json()), vec!["lap-1"], "{}", env.engine);
        let r = env.get("/api/v1/cis?q=windows", &env.agent1).send().await;
        assert_eq!(names(&r.json()), vec!["win-01"]);
        // As typed into a search box: the start of a word finds it.
        let r = env.get("/api/v1/cis?q=WIND", &env.agent1).send().await;
        assert_eq!(names(&r.json()), vec!["win-01"], "{}", env.engine);
        let r = env.get("/api/v1/cis?status=in_repair", &env.agent1).send().await;
        assert_eq!(names(&r.json()), vec!["app-01"]);
        let r = env.get("/api/v1/cis?class=Computer&limit=2", &env.agent1).send().await.json();
        assert_eq!(r["items"].as_array().unwrap().len(), 2);
        let next = r["next_cursor"].as_str().unwrap();
        let r2 = env.get(&format!("/api/v1/cis?class=Computer&limit=2&cursor={next}"), &env.agent1).send().await.json();
        assert_eq!(r2["items"].as_array().unwrap().len(), 1);
        env.get("/api/v1/cis?class=Nope&attr.nope=1&status=x&colour=red", &env.agent1)
            .send()
            .await
            .invalid(&["class", "attr.nope", "status", "colour"]);
        // CSV, by header and by suffix, with formulas defused.
        new_ci(&env, &env.agent1, json!({"class": "Application", "name": "=cmd()"})).await;
        let r = env.get("/api/v1/cis?class=Application", &env.agent1).header("accept", "text/csv").send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-type").unwrap().starts_with("text/csv"));
        let text = r.text();
        assert!(text.starts_with("id,class,name,status"), "{text}");
        assert!(text.contains(",'=cmd(),"), "{text}");
        let r = env.get("/api/v1/cis.csv?class=Server", &env.agent1).send().await;
        assert_eq!(r.text().lines().count(), 3, "{}", r.text());
    })
    .await;
}

/// Merge patches without If-Match apply to the CI as it is when each is
/// written: patches of different fields sent at once all stay, and none
/// writes another's field back to what it read.
#[tokio::test]
async fn simultaneous_merge_patches_all_stay() {
    each_engine(|env| async move {
        let made = new_ci(
            &env,
            &env.agent1,
            json!({"class": "Server", "name": "busy-01", "attributes": {"hostname": "busy-01", "domain": "corp"}}),
        )
        .await;
        let path = format!("/api/v1/cis/{}", id_of(&made));
        let patches = [
            json!({"cost": 1250}),
            json!({"purchased_on": "2026-01-02"}),
            json!({"warranty_until": "2029-01-02"}),
            json!({"end_of_life": "2031-01-02"}),
            json!({"attributes": {"os": "Linux"}}),
            json!({"attributes": {"ip_address": "10.1.2.3"}}),
            json!({"attributes": {"ram_gb": 64}}),
            json!({"status": "in_repair"}),
        ];
        let sent = patches.iter().map(|p| env.patch(&path, &env.agent1, p.clone()).send());
        for r in futures::future::join_all(sent).await {
            assert_eq!(r.status, StatusCode::OK, "{}: {}", env.engine, r.text());
        }
        let ci = env.get(&path, &env.agent1).send().await.json();
        assert_eq!(ci["cost"], 1250, "{}: {ci}", env.engine);
        assert_eq!(ci["purchased_on"], "2026-01-02", "{}: {ci}", env.engine);
        assert_eq!(ci["warranty_until"], "2029-01-02", "{}: {ci}", env.engine);
        assert_eq!(ci["end_of_life"], "2031-01-02", "{}: {ci}", env.engine);
        assert_eq!(ci["attributes"]["os"], "Linux", "{}: {ci}", env.engine);
        assert_eq!(ci["attributes"]["ip_address"], "10.1.2.3", "{}: {ci}", env.engine);
        assert_eq!(ci["attributes"]["ram_gb"], 64, "{}: {ci}", env.engine);
        assert_eq!(ci["status"], "in_repair", "{}: {ci}", env.engine);
        assert_eq!(ci["version"], 1 + patches.len() as i64, "{}: {ci}", env.engine);
    })
    .await;
}

#[tokio::test]
async fn impact_history_as_of_and_diff() {
    each_engine(|env| async move {
        let payroll = id_of(&new_ci(&env, &env.admin, json!({"class": "Business service", "name": "Payroll"})).await);
        let app = id_of(&new_ci(&env, &env.agent1, json!({"class": "Application", "name": "Payroll app"})).await);
        let db = id_of(&new_ci(&env, &env.agent1, json!({"class": "Database", "name": "db-01"})).await);
        let san = id_of(
            &new_ci(
                &env,
                &env.agent1,
                json!({"class": "Hardware", "name": "SAN-2", "attributes": {"serial_number": "S2"}}),
            )
            .await,
        );
        relate(&env, payroll, app, "depends_on").await;
        relate(&env, app, db, "depends_on").await;
        let t_before_san = instant_now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Incoming direction: SAN-2 hosts db-01.
        let r = env
            .post(
                &format!("/api/v1/cis/{san}/relations"),
                &env.agent1,
                json!({"kind": "runs_on", "to_id": db, "direction": "incoming"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let rel = id_of(&r.json());
        env.post(
            &format!("/api/v1/cis/{san}/relations"),
            &env.agent1,
            json!({"kind": "runs_on", "to_id": db, "direction": "incoming"}),
        )
        .send()
        .await
        .problem(409);
        env.post(&format!("/api/v1/cis/{san}/relations"), &env.agent1, json!({"kind": "likes", "to_id": db}))
            .send()
            .await
            .invalid(&["kind"]);
        let big = json!({"kind": "connects_to", "to_id": app, "attributes": {"note": "x".repeat(20_000)}});
        env.post(&format!("/api/v1/cis/{san}/relations"), &env.agent1, big).send().await.invalid(&["attributes"]);
        // Under a record that does not exist: a field error, nothing written.
        env.post(
            &format!("/api/v1/cis/{san}/relations"),
            &env.agent1,
            json!({"kind": "connects_to", "to_id": app, "record_id": 99_999_999}),
        )
        .send()
        .await
        .invalid(&["record_id"]);
        env.post(
            "/api/v1/cis",
            &env.agent1,
            json!({"class": "Application", "name": "Nowhere", "record_id": 99_999_999}),
        )
        .send()
        .await
        .invalid(&["record_id"]);

        let up = env.get(&format!("/api/v1/cis/{san}/impact?direction=up&depth=10"), &env.agent2).send().await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text());
        let up = up.json();
        let path: Vec<&str> =
            up["services"][0]["path"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(path, ["Payroll", "Payroll app", "db-01", "SAN-2"], "{}", env.engine);
        let down = env.get(&format!("/api/v1/cis/{payroll}/impact?direction=down"), &env.agent2).send().await.json();
        assert_eq!(down["reached"], 3);
        env.get(&format!("/api/v1/cis/{san}/impact?direction=sideways&depth=99"), &env.agent2)
            .send()
            .await
            .invalid(&["direction"]);
        env.get(&format!("/api/v1/cis/{san}/impact?depth=99"), &env.agent2).send().await.invalid(&["depth"]);
        // As of before the SAN relation: no service at risk.
        let then = env.get(&format!("/api/v1/cis/{san}/impact?as_of={t_before_san}"), &env.agent2).send().await.json();
        assert_eq!(then["reached"], 0, "{then}");
        let rels =
            env.get(&format!("/api/v1/cis/{db}/relations?as_of={t_before_san}"), &env.agent2).send().await.json();
        assert_eq!(rels.as_array().unwrap().len(), 1, "{rels}");
        let rels = env.get(&format!("/api/v1/cis/{db}/relations"), &env.agent2).send().await.json();
        assert_eq!(rels.as_array().unwrap().len(), 2);
        assert!(rels.as_array().unwrap().iter().any(|r| r["label"] == "runs on" && r["other_name"] == "SAN-2"));
        // Instants are RFC 3339 here as everywhere in the API.
        let from = rels[0]["valid_from"].as_str().unwrap_or_default();
        assert!(from.parse::<jiff::Timestamp>().is_ok() && rels[0]["valid_to"].is_null(), "{rels}");

        // End the relation; change an attribute; history and diff show both.
        let t_with_san = instant_now();
        let r = env.delete(&format!("/api/v1/cis/{san}/relations/{rel}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        env.delete(&format!("/api/v1/cis/{san}/relations/{rel}"), &env.agent1).send().await.problem(404);
        let r = env
            .patch(&format!("/api/v1/cis/{db}"), &env.agent1, json!({"attributes": {"engine": "postgres"}}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let h = env.get(&format!("/api/v1/cis/{db}/history"), &env.agent2).send().await.json();
        let fields: Vec<&str> = h.as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["created", "relation", "relation", "relation", "attributes.engine"], "{h}");
        assert_eq!(h[4]["actor_id"], env.agent1.id);
        let d = env.get(&format!("/api/v1/cis/{db}/diff?from={t_before_san}"), &env.agent2).send().await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text());
        let d = d.json();
        assert_eq!(d["fields"][0]["field"], "attributes.engine");
        assert_eq!(d["fields"][0]["to"], "postgres");
        assert_eq!(d["relations_added"].as_array().unwrap().len(), 0, "the SAN relation came and went");
        // Compared with an instant it was current at, it is removed, and the
        // comparison says when it ended.
        let d = env.get(&format!("/api/v1/cis/{db}/diff?from={t_with_san}"), &env.agent2).send().await.json();
        let gone = d["relations_removed"].as_array().unwrap();
        assert_eq!(gone.len(), 1, "{d}");
        assert_eq!(gone[0]["id"], rel, "{d}");
        let ended = gone[0]["valid_to"].as_str().unwrap_or_default();
        let with_san: jiff::Timestamp = t_with_san.parse().unwrap();
        assert!(ended.parse::<jiff::Timestamp>().is_ok_and(|t| t > with_san), "{d}");
        let old = env.get(&format!("/api/v1/cis/{db}?as_of={t_before_san}"), &env.agent2).send().await.json();
        assert!(old["attributes"].get("engine").is_none());
        env.get(&format!("/api/v1/cis/{db}?as_of=yesterday"), &env.agent2).send().await.invalid(&["as_of"]);
        env.get(&format!("/api/v1/cis/{db}?as_of=2000-01-01T00:00:00Z"), &env.agent2).send().await.problem(404);
        env.get(&format!("/api/v1/cis/{db}/diff"), &env.agent2).send().await.invalid(&["from"]);
    })
    .await;
}

#[tokio::test]
async fn incidents_link_cis_and_show_services_at_risk() {
    each_engine(|env| async move {
        let svc = id_of(&new_ci(&env, &env.admin, json!({"class": "Technical service", "name": "Mail"})).await);
        let host = id_of(
            &new_ci(
                &env,
                &env.agent1,
                json!({"class": "Server", "name": "mx-1", "attributes": {"hostname": "mx-1", "domain": "corp"}}),
            )
            .await,
        );
        relate(&env, svc, host, "runs_on").await;
        let inc = env.incident(&env.req1, json!({"short_description": "no mail"})).await;
        let iid = id_of(&inc);
        env.post(&format!("/api/v1/incidents/{iid}/cis"), &env.req1, json!({"ci_id": host})).send().await.problem(403);
        let r = env.post(&format!("/api/v1/incidents/{iid}/cis"), &env.agent1, json!({"ci_id": host})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let v = r.json();
        assert_eq!(v["items"][0]["name"], "mx-1");
        assert_eq!(v["services_at_risk"][0]["name"], "Mail", "{v}");
        let again = env.post(&format!("/api/v1/incidents/{iid}/cis"), &env.agent1, json!({"ci_id": host})).send().await;
        assert_eq!(again.status, StatusCode::OK);
        env.post(&format!("/api/v1/incidents/{iid}/cis"), &env.agent1, json!({"ci_id": 987654}))
            .send()
            .await
            .invalid(&["ci_id"]);
        let open = env.get(&format!("/api/v1/cis/{host}/incidents"), &env.agent2).send().await.json();
        assert_eq!(open[0]["number"], inc["number"]);
        let h = env.get(&format!("/api/v1/cis/{host}/history"), &env.agent2).send().await.json();
        assert!(h.as_array().unwrap().iter().any(|c| c["field"] == "affected_by" && c["record_id"] == iid), "{h}");
        let r = env.delete(&format!("/api/v1/incidents/{iid}/cis/{host}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let v = env.get(&format!("/api/v1/incidents/{iid}/cis"), &env.agent1).send().await.json();
        assert!(v["items"].as_array().unwrap().is_empty());
        // The CI's history shows the link end, as it showed its start.
        let h = env.get(&format!("/api/v1/cis/{host}/history"), &env.agent2).send().await.json();
        let ended = h.as_array().unwrap().iter().find(|c| c["field"] == "affected_by" && c["new_value"].is_null());
        assert_eq!(ended.map(|c| c["old_value"].clone()), Some(inc["number"].clone()), "{h}");
        // A cancelled incident's affected CIs are history.
        env.patch_ok(iid, &env.agent1, json!({"state": "cancelled"})).await;
        env.post(&format!("/api/v1/incidents/{iid}/cis"), &env.agent1, json!({"ci_id": host}))
            .send()
            .await
            .invalid(&["state"]);
    })
    .await;
}

#[tokio::test]
async fn assets_checklists_and_reports() {
    each_engine(|env| async move {
        let uid = env.req1.id;
        for (name, serial) in [("laptop", "A1"), ("screen", "A2")] {
            new_ci(&env, &env.agent1, json!({"class": "Laptop", "name": name, "used_by_id": uid, "purchased_on": "2015-03-01", "end_of_life": "2020-01-01", "attributes": {"serial_number": serial}})).await;
        }
        let mine = env.get(&format!("/api/v1/users/{uid}/assets"), &env.req1).send().await;
        assert_eq!(mine.status, StatusCode::OK, "a person sees what they hold");
        assert_eq!(mine.json().as_array().unwrap().len(), 2);
        env.get(&format!("/api/v1/users/{}/assets", env.req2.id), &env.req1).send().await.problem(403);
        let r = env.post(&format!("/api/v1/users/{uid}/checklists"), &env.agent1, json!({})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let list = r.json();
        let lid = id_of(&list);
        env.post(&format!("/api/v1/users/{uid}/checklists"), &env.agent1, json!({})).send().await.problem(409);
        for item in list["items"].as_array().unwrap() {
            let r = env
                .post(&format!("/api/v1/checklists/{lid}/items/{}/done", id_of(item)), &env.agent1, json!({"note": "handed back"}))
                .send()
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        }
        let lists = env.get(&format!("/api/v1/users/{uid}/checklists"), &env.agent1).send().await.json();
        assert!(lists[0]["closed_at"].as_str().is_some_and(|t| t.ends_with('Z')), "closed when every item is done: {lists}");
        let mine = env.get(&format!("/api/v1/users/{uid}/assets"), &env.req1).send().await.json();
        assert!(mine.as_array().unwrap().is_empty(), "handed back, they are no longer held: {mine}");
        let eol = env.get("/api/v1/reports/assets?kind=end_of_life", &env.agent1).send().await.json();
        assert_eq!(eol["items"].as_array().unwrap().len(), 2, "{eol}");
        assert!(eol.get("next_cursor").is_none(), "{eol}");
        // A page at a time, by date and id: the two pages are the report.
        let first = env.get("/api/v1/reports/assets?kind=end_of_life&limit=1", &env.agent1).send().await.json();
        let cursor = first["next_cursor"].as_str().expect("a second page").to_string();
        let url = format!("/api/v1/reports/assets?kind=end_of_life&limit=1&cursor={cursor}");
        let second = env.get(&url, &env.agent1).send().await.json();
        let paged = [first["items"][0]["id"].clone(), second["items"][0]["id"].clone()];
        assert_eq!(paged.to_vec(), eol["items"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect::<Vec<_>>());
        let url = format!("/api/v1/reports/assets?kind=end_of_life&limit=1&cursor={}", second["next_cursor"].as_str().unwrap());
        let after = env.get(&url, &env.agent1).send().await.json();
        assert!(after["items"].as_array().unwrap().is_empty(), "{after}");
        env.get("/api/v1/reports/assets?limit=0", &env.agent1).send().await.invalid(&["limit"]);
        env.get("/api/v1/reports/assets?cursor=zz", &env.agent1).send().await.invalid(&["cursor"]);
        let old = env.get("/api/v1/reports/assets?kind=older_than&years=5&class=Computer", &env.agent1).send().await.json();
        assert_eq!(old["items"].as_array().unwrap().len(), 2);
        let none = env.get("/api/v1/reports/assets?kind=older_than&years=50", &env.agent1).send().await.json();
        assert!(none["items"].as_array().unwrap().is_empty());
        env.get("/api/v1/reports/assets?kind=older_than", &env.agent1).send().await.invalid(&["years"]);
        let _ = error_fields(&json!({}));
    })
    .await;
}

#[tokio::test]
async fn services_show_up_as_cis_and_openapi_lists_the_cmdb() {
    each_engine(|env| async move {
        let r = env.post("/api/v1/services", &env.admin, json!({"name": "Payroll", "description": ""})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let found = env.get("/api/v1/cis?class=Service&q=payroll", &env.agent1).send().await.json();
        assert_eq!(found["items"][0]["service_id"], id_of(&r.json()));
        // Its CI's name is the service's: renaming it renames the service,
        // which only who may change the catalogue may do.
        let ci = format!("/api/v1/cis/{}", found["items"][0]["id"]);
        env.patch(&ci, &env.agent1, json!({"name": "Payroll and pensions"})).send().await.problem(403);
        let r = env.patch(&ci, &env.admin, json!({"name": "Payroll and pensions"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let services = env.get("/api/v1/services", &env.agent1).send().await.json();
        let names: Vec<&str> = services.as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
        assert!(names.contains(&"Payroll and pensions") && !names.contains(&"Payroll"), "{services}");
        let doc = env.req(http::Method::GET, "/api/openapi.json").send().await.json();
        for p in ["/api/v1/cis", "/api/v1/cis/{id}/impact", "/api/v1/ci-classes", "/api/v1/incidents/{id}/cis"] {
            assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
        }
    })
    .await;
}

async fn count_cis(env: &Env) -> usize {
    let r = env.get("/api/v1/cis.csv", &env.admin).send().await;
    r.text().lines().count() - 1
}

#[tokio::test]
async fn imports_reconcile_and_bad_files_write_nothing() {
    each_engine(|env| async move {
        let base = count_cis(&env).await;
        let csv = "class,name,status,attr.hostname,attr.domain,attr.ram_gb\r\n\
                   Server,web-01,deployed,web-01,corp,16\r\n\
                   Server,web-02,,web-02,corp,\r\n\
                   Laptop,lap-9,in_stock,,,\r\n";
        // The laptop has no serial number: its class identifies by it.
        let post = |body: &str, q: &str| {
            env.req(http::Method::POST, &format!("/api/v1/cis/import{q}")).bearer(&env.agent1.token).raw("text/csv", body.as_bytes().to_vec())
        };
        // A file declared ISO-8859-1 is read as that; another charset is refused.
        let latin1 = b"class,name,attr.hostname,attr.domain\r\nServer,caf\xe9-01,cafe-01,corp\r\n".to_vec();
        let url = "/api/v1/cis/import?dry_run=true";
        let r = env.req(http::Method::POST, url).bearer(&env.agent1.token).raw("text/csv", latin1.clone()).send().await;
        r.invalid(&["line 2"]);
        let as_latin1 = env.req(http::Method::POST, url).bearer(&env.agent1.token);
        let r = as_latin1.raw("text/csv; charset=ISO-8859-1", latin1.clone()).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["rows"][0]["action"], "create", "{}", r.text());
        let as_koi = env.req(http::Method::POST, url).bearer(&env.agent1.token);
        as_koi.raw("text/csv; charset=koi8-r", latin1).send().await.problem(415);
        // A file over the endpoint's 64 MiB is refused as a problem too.
        let big = vec![b'x'; 64 * 1024 * 1024 + 1];
        let r = env.req(http::Method::POST, "/api/v1/cis/import").bearer(&env.agent1.token).raw("text/csv", big).send().await;
        r.problem(413);
        let r = post(csv, "").send().await;
        let p = r.invalid(&["line 4: attributes"]);
        assert!(p["detail"].as_str().unwrap().contains("serial_number"), "{p}");
        assert_eq!(count_cis(&env).await, base, "{}: a refused import writes nothing", env.engine);

        let csv = csv.replace("attr.ram_gb\r\n", "attr.ram_gb,attr.serial_number\r\n")
            .replace(",16\r\n", ",16,\r\n").replace("corp,\r\n", "corp,,\r\n").replace("in_stock,,,\r\n", "in_stock,,,,SN9\r\n");
        let dry = post(&csv, "?dry_run=true").send().await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.text());
        let d = dry.json();
        assert_eq!((d["created"].as_u64(), d["updated"].as_u64(), d["unchanged"].as_u64()), (Some(3), Some(0), Some(0)), "{d}");
        assert!(d["import_id"].is_null());
        assert_eq!(count_cis(&env).await, base, "a dry run writes nothing");
        let r = post(&csv, "?source=discovery-1").send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let done = r.json();
        assert_eq!(done["created"], 3);
        assert_eq!(done["source"], "discovery-1");
        let import_id = done["import_id"].as_i64().unwrap();
        assert_eq!(count_cis(&env).await, base + 3);
        let web1 = env.get("/api/v1/cis?q=web&attr.hostname=web-01", &env.agent1).send().await.json();
        assert_eq!(web1["items"][0]["attributes"]["ram_gb"], 16.0);
        let web1_id = id_of(&web1["items"][0]);
        // Re-import: unchanged; with one change: one update, no duplicate.
        let again = post(&csv, "").send().await.json();
        assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(3)), "{again}");
        let changed = csv.replace(",16,", ",32,");
        let again = post(&changed, "?dry_run=1").send().await.json();
        assert_eq!(again["updated"], 1, "{again}");
        let again = post(&changed, "").send().await.json();
        assert_eq!(again["updated"], 1);
        assert_eq!(count_cis(&env).await, base + 3);
        let h = env.get(&format!("/api/v1/cis/{web1_id}/history"), &env.agent1).send().await.json();
        let last = h.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["field"], "attributes.ram_gb");
        assert_eq!(last["import_id"], again["import_id"]);
        assert_eq!(h[0]["import_id"], import_id);

        // A file that says less changes nothing it leaves out: a column it
        // lacks keeps the CI's value, an empty cell clears it; in JSON, a key
        // left out keeps, `null` clears.
        let fewer = post("class,name,attr.hostname,attr.domain
Server,web-01,web-01,corp
", "").send().await.json();
        assert_eq!((fewer["updated"].as_u64(), fewer["unchanged"].as_u64()), (Some(0), Some(1)), "{fewer}");
        let path = format!("/api/v1/cis/{web1_id}");
        assert_eq!(env.get(&path, &env.agent1).send().await.json()["attributes"]["ram_gb"], 32.0);
        let emptied = post("class,name,attr.hostname,attr.domain,attr.ram_gb
Server,web-01,web-01,corp,
", "").send().await.json();
        assert_eq!(emptied["updated"], 1, "{emptied}");
        assert!(env.get(&path, &env.agent1).send().await.json()["attributes"].get("ram_gb").is_none());
        let web01 = |extra: Value| {
            let mut c = json!({"class": "Server", "name": "web-01", "attributes": {"hostname": "web-01", "domain": "corp"}});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            json!({"cis": [c]})
        };
        let r = env.post("/api/v1/cis/import", &env.agent1, web01(json!({"cost": 500}))).send().await.json();
        assert_eq!(r["updated"], 1, "{r}");
        let r = env.post("/api/v1/cis/import", &env.agent1, web01(json!({}))).send().await.json();
        assert_eq!(r["unchanged"], 1, "{r}");
        assert_eq!(env.get(&path, &env.agent1).send().await.json()["cost"], 500);
        let r = env.post("/api/v1/cis/import", &env.agent1, web01(json!({"cost": null}))).send().await.json();
        assert_eq!(r["updated"], 1, "{r}");
        assert!(env.get(&path, &env.agent1).send().await.json()["cost"].is_null());

        // What the export writes reads back unchanged: its id column, and a
        // name it defused against spreadsheet formulas.
        new_ci(&env, &env.agent1, json!({"class": "Application", "name": "=1+2"})).await;
        new_ci(&env, &env.agent1, json!({"class": "Application", "name": "'=quoted"})).await;
        let exported = env.get("/api/v1/cis.csv?class=Application", &env.agent1).send().await.text();
        assert!(exported.starts_with("id,") && exported.contains("'=1+2") && exported.contains("''=quoted"), "{exported}");
        let back = post(&exported, "").send().await.json();
        assert_eq!((back["created"].as_u64(), back["updated"].as_u64(), back["unchanged"].as_u64()), (Some(0), Some(0), Some(2)), "{back}");

        // Malformed files: each reason named by line, nothing written.
        let before = count_cis(&env).await;
        let mut bytes = b"class,name\nServer,ok-1\nServer,caf".to_vec();
        bytes.extend_from_slice(&[0xe9, b'\n']);
        let r = env.req(http::Method::POST, "/api/v1/cis/import").bearer(&env.agent1.token).raw("text/csv", bytes).send().await;
        r.invalid(&["line 3"]);
        post("name,colour\nx,red\n", "").send().await.invalid(&["line 1"]);
        let p = post("class,name,name,attr.os,attr.os\nServer,a,b,x,y\n", "").send().await.problem(422);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("the column name appears twice") && detail.contains("attr.os appears twice"), "{detail}");
        let p = post("class,name,attr.serial_number\nLaptop,a,S1\nNope,d,\nLaptop,e\n", "").send().await.problem(422);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("line 3: unknown class Nope"), "{detail}");
        assert!(detail.contains("line 4: has 2 fields"), "missing column: {detail}");
        let p = post("class,name,attr.serial_number\nLaptop,a,S1\nLaptop,b,S2\nLaptop,c,s1\n", "").send().await.problem(422);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("line 4") && detail.contains("line 2"), "duplicate identifier named with both lines: {detail}");
        let p = post("class,name,attr.serial_number\nLaptop,a,S1\nLaptop,b,S1\n", "").send().await.problem(422);
        assert!(p["detail"].as_str().unwrap().contains("line 3"), "{p}");
        assert_eq!(count_cis(&env).await, before, "{}: nothing half-written", env.engine);

        // JSON with relations, then impact through them.
        let body = json!({"source": "cmdb-sync", "cis": [
            {"class": "Business service", "name": "Shop"},
            {"class": "Application", "name": "shop-app"},
            {"class": "Database", "name": "shop-db", "ref": "db"}
        ], "relations": [
            {"from": "Shop", "to": "shop-app", "kind": "depends_on"},
            {"from": "shop-app", "to": "db", "kind": "depends_on"},
            {"from": "db", "to": format!("#{web1_id}"), "kind": "runs_on"}
        ]});
        let r = env.post("/api/v1/cis/import", &env.agent1, body.clone()).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["relations_created"], 3);
        let again = env.post("/api/v1/cis/import", &env.agent1, body).send().await.json();
        assert_eq!((again["unchanged"].as_u64(), again["relations_created"].as_u64(), again["relations_unchanged"].as_u64()), (Some(3), Some(0), Some(3)), "{again}");
        let up = env.get(&format!("/api/v1/cis/{web1_id}/impact"), &env.agent1).send().await.json();
        assert_eq!(up["services"][0]["name"], "Shop", "{up}");
        let bad = json!({"cis": [{"class": "Application", "name": "x"}], "relations": [{"from": "x", "to": "ghost", "kind": "depends_on"}, {"from": "x", "to": "#99999999", "kind": "runs_on"}]});
        let p = env.post("/api/v1/cis/import", &env.agent1, bad).send().await.problem(422);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("relations[0]") && detail.contains("relations[1]"), "{detail}");
        env.post("/api/v1/cis/import", &env.req1, json!({"cis": []})).send().await.problem(403);
        let r = env.req(http::Method::POST, "/api/v1/cis/import").bearer(&env.agent1.token).raw("text/plain", b"x".to_vec()).send().await;
        r.problem(415);
    })
    .await;
}

/// Two unrelated classes may define one attribute name as different kinds:
/// a filter reads the value by the definition of the classes it lists, or
/// without a class, by the first definition that takes it.
#[tokio::test]
async fn an_attribute_filter_reads_its_value_by_the_listed_class() {
    each_engine(|env| async move {
        let class = json!({"name": "Phone", "attributes": [{"name": "ram_gb", "kind": "text"}]});
        let r = env.post("/api/v1/ci-classes", &env.admin, class).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let phone = id_of(
            &new_ci(&env, &env.agent1, json!({"class": "Phone", "name": "phone-1", "attributes": {"ram_gb": "4GB"}}))
                .await,
        );
        let ids = |v: Value| -> Vec<i64> { v["items"].as_array().unwrap().iter().map(id_of).collect() };
        for q in ["class=Phone&attr.ram_gb=4GB", "attr.ram_gb=4GB"] {
            let r = env.get(&format!("/api/v1/cis?{q}"), &env.agent1).send().await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            assert_eq!(ids(r.json()), vec![phone], "{q}");
        }
        // A Computer's ram_gb is a number.
        env.get("/api/v1/cis?class=Server&attr.ram_gb=4GB", &env.agent1).send().await.invalid(&["attr.ram_gb"]);
        env.get("/api/v1/cis?class=Location&attr.ram_gb=4", &env.agent1).send().await.invalid(&["attr.ram_gb"]);
    })
    .await;
}
