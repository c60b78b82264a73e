//! The REST API as a client sees it: every endpoint's success and failure
//! paths, rights, ETags, idempotent retries and bad input, against the real
//! router on every database engine the machine has.

mod common;

use common::{each_engine, error_fields, id_of, Env, MAX_ATTACHMENT};
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Every route the router serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/incidents"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents/{id}"),
    ("patch", "/api/v1/incidents/{id}"),
    ("get", "/api/v1/incidents/{id}/journal"),
    ("post", "/api/v1/incidents/{id}/journal"),
    ("get", "/api/v1/incidents/{id}/attachments"),
    ("post", "/api/v1/incidents/{id}/attachments"),
    ("get", "/api/v1/incidents/{id}/links"),
    ("post", "/api/v1/incidents/{id}/links"),
    ("delete", "/api/v1/incidents/{id}/links/{link_id}"),
    ("get", "/api/v1/incidents/{id}/watchers"),
    ("put", "/api/v1/incidents/{id}/watchers/{user_id}"),
    ("delete", "/api/v1/incidents/{id}/watchers/{user_id}"),
    ("get", "/api/v1/incidents/{id}/history"),
    ("get", "/api/v1/attachments/{id}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/me"),
    ("post", "/api/v1/users/me/password"),
    ("get", "/api/v1/users/me/tokens"),
    ("post", "/api/v1/users/me/tokens"),
    ("delete", "/api/v1/users/me/tokens/{id}"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("get", "/api/v1/groups"),
    ("post", "/api/v1/groups"),
    ("get", "/api/v1/groups/{id}"),
    ("get", "/api/v1/groups/{id}/members"),
    ("put", "/api/v1/groups/{id}/members/{user_id}"),
    ("put", "/api/v1/groups/{id}/manager"),
    ("delete", "/api/v1/groups/{id}/members/{user_id}"),
    ("get", "/api/v1/organisations"),
    ("post", "/api/v1/organisations"),
    ("get", "/api/v1/services"),
    ("post", "/api/v1/services"),
    ("get", "/api/v1/categories"),
    ("post", "/api/v1/categories"),
    ("get", "/api/v1/priority-matrix"),
    ("put", "/api/v1/priority-matrix"),
    ("get", "/api/v1/settings/incidents"),
    ("put", "/api/v1/settings/incidents"),
    // --- SLA agreements, clocks, notifications, reports ---
    ("get", "/api/v1/slas"),
    ("post", "/api/v1/slas"),
    ("get", "/api/v1/slas/{id}"),
    ("patch", "/api/v1/slas/{id}"),
    ("get", "/api/v1/suppliers"),
    ("post", "/api/v1/suppliers"),
    ("get", "/api/v1/incidents/{id}/sla"),
    ("put", "/api/v1/incidents/{id}/supplier"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/count"),
    ("post", "/api/v1/notifications/read"),
    ("post", "/api/v1/notifications/{id}/read"),
    ("get", "/api/v1/reports/sla"),
    ("get", "/api/v1/reports/sla.csv"),
    ("post", "/api/v1/reports/sla/what-if"),
    // --- calendars ---
    ("get", "/api/v1/calendars"),
    ("post", "/api/v1/calendars"),
    ("get", "/api/v1/calendars/{id}"),
    ("patch", "/api/v1/calendars/{id}"),
    ("delete", "/api/v1/calendars/{id}"),
    ("get", "/api/v1/calendars/{id}/business-time"),
    ("post", "/api/v1/calendars/{id}/holidays/import"),
    // --- cmdb ---
    ("get", "/api/v1/ci-classes"),
    ("post", "/api/v1/ci-classes"),
    ("get", "/api/v1/ci-classes/{id}"),
    ("patch", "/api/v1/ci-classes/{id}"),
    ("get", "/api/v1/cis"),
    ("post", "/api/v1/cis"),
    ("get", "/api/v1/cis.csv"),
    ("post", "/api/v1/cis/import"),
    ("get", "/api/v1/cis/{id}"),
    ("patch", "/api/v1/cis/{id}"),
    ("get", "/api/v1/cis/{id}/relations"),
    ("post", "/api/v1/cis/{id}/relations"),
    ("delete", "/api/v1/cis/{id}/relations/{relation_id}"),
    ("get", "/api/v1/cis/{id}/impact"),
    ("get", "/api/v1/cis/{id}/history"),
    ("get", "/api/v1/cis/{id}/diff"),
    ("get", "/api/v1/cis/{id}/incidents"),
    ("get", "/api/v1/incidents/{id}/cis"),
    ("post", "/api/v1/incidents/{id}/cis"),
    ("delete", "/api/v1/incidents/{id}/cis/{ci_id}"),
    ("get", "/api/v1/problems/{id}/cis"),
    ("post", "/api/v1/problems/{id}/cis"),
    ("delete", "/api/v1/problems/{id}/cis/{ci_id}"),
    ("get", "/api/v1/users/{id}/assets"),
    ("get", "/api/v1/users/{id}/checklists"),
    ("post", "/api/v1/users/{id}/checklists"),
    ("post", "/api/v1/checklists/{id}/items/{item_id}/done"),
    ("get", "/api/v1/reports/assets"),
    // --- problems and knowledge ---
    ("get", "/api/v1/problems"),
    ("post", "/api/v1/problems"),
    ("get", "/api/v1/problems/{id}"),
    ("patch", "/api/v1/problems/{id}"),
    ("get", "/api/v1/problems/{id}/incidents"),
    ("post", "/api/v1/problems/{id}/incidents"),
    ("delete", "/api/v1/problems/{id}/incidents/{incident}"),
    ("post", "/api/v1/incidents/{id}/workaround"),
    ("get", "/api/v1/incidents/{id}/suggestions"),
    ("post", "/api/v1/incidents/{id}/articles"),
    ("post", "/api/v1/incidents/{id}/draft-article"),
    ("get", "/api/v1/problem-candidates"),
    ("post", "/api/v1/problem-candidates/detect"),
    ("post", "/api/v1/problem-candidates/{id}/accept"),
    ("post", "/api/v1/problem-candidates/{id}/reject"),
    ("get", "/api/v1/articles"),
    ("post", "/api/v1/articles"),
    ("get", "/api/v1/articles/suggestions"),
    ("get", "/api/v1/articles/{id}"),
    ("patch", "/api/v1/articles/{id}"),
    ("get", "/api/v1/articles/{id}/versions"),
    ("get", "/api/v1/articles/{id}/diff"),
    ("post", "/api/v1/articles/{id}/feedback"),
    ("get", "/api/v1/articles/{id}/attachments"),
    ("post", "/api/v1/articles/{id}/attachments"),
    ("post", "/api/v1/deflections"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/reports/knowledge"),
    ("get", "/api/v1/reports/knowledge.csv"),
];

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{link_id}", "1")
        .replace("{user_id}", "1")
        .replace("{relation_id}", "1")
        .replace("{ci_id}", "1")
        .replace("{item_id}", "1")
}

fn method(m: &str) -> Method {
    m.to_uppercase().parse().unwrap()
}

// ---------------------------------------------------------------- basics

#[tokio::test]
async fn health_check_reports_ok() {
    each_engine(|env| async move {
        let r = env.req(Method::GET, "/healthz").send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"status": "ok"}));
        // Every answer carries the hardening headers and a request id.
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.header("x-request-id").is_some());
    })
    .await;
}

#[tokio::test]
async fn openapi_document_is_openapi_3_and_lists_exactly_the_served_routes() {
    each_engine(|env| async move {
        let r = env.req(Method::GET, "/api/openapi.json").send().await;
        assert_eq!(r.status, StatusCode::OK);
        let doc = r.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (p, ops) in paths {
            for m in ["get", "post", "put", "patch", "delete"] {
                if ops.get(m).is_some() {
                    documented.push((m.to_string(), p.clone()));
                }
            }
        }
        documented.sort();
        let mut expected: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        expected.sort();
        assert_eq!(documented, expected, "the document and the router disagree");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    })
    .await;
}

#[tokio::test]
async fn every_route_is_served_and_demands_authentication() {
    each_engine(|env| async move {
        // 401 (not 404 from the fallback, not 405) proves the route exists and
        // that no endpoint answers an anonymous caller.
        for (m, p) in ROUTES {
            let r = env.req(method(m), &concrete(p)).send().await;
            r.problem(401);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{m} {p}");
        }
        // Routes that do not exist are problem 404s, not empty bodies.
        env.get("/api/v1/nothing-here", &env.admin).send().await.problem(404);
    })
    .await;
}

#[tokio::test]
async fn every_client_error_is_a_problem_document() {
    each_engine(|env| async move {
        // Ids that are not numbers, where the route wants one.
        for path in [
            "/api/v1/attachments/abc",
            "/api/v1/users/abc",
            "/api/v1/users/99999999999999999999",
            "/api/v1/groups/abc",
            "/api/v1/groups/abc/members",
        ] {
            let p = env.get(path, &env.admin).send().await.problem(400);
            assert_eq!(p["type"], "/problems/bad-request", "{path}");
        }
        env.delete("/api/v1/incidents/1/links/abc", &env.admin).send().await.problem(400);
        env.put("/api/v1/incidents/1/watchers/abc", &env.admin).send().await.problem(400);
        env.delete("/api/v1/users/me/tokens/abc", &env.admin).send().await.problem(400);
        // Methods a route does not have.
        for (m, path) in [
            (Method::DELETE, "/api/v1/incidents"),
            (Method::PUT, "/api/v1/incidents/1"),
            (Method::POST, "/api/v1/priority-matrix"),
        ] {
            let r = env.req(m.clone(), path).bearer(&env.admin.token).send().await;
            r.problem(405);
            assert!(r.header("allow").is_some(), "{m} {path}: 405 must say what is allowed");
        }
    })
    .await;
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn bad_malformed_and_revoked_tokens_are_refused() {
    each_engine(|env| async move {
        let me = env.get("/api/v1/users/me", &env.agent1).send().await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.json()["id"], env.agent1.id);

        env.req(Method::GET, "/api/v1/users/me").bearer("vt_not-a-token").send().await.problem(401);
        env.req(Method::GET, "/api/v1/users/me").header("authorization", "Basic YTpi").send().await.problem(401);
        env.req(Method::GET, "/api/v1/users/me").header("authorization", "Bearer").send().await.problem(401);

        // A token made through the API works until it is revoked.
        let r = env.post("/api/v1/users/me/tokens", &env.agent1, json!({"name": "ci"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let t = r.json();
        let secret = t["token"].as_str().unwrap().to_string();
        assert!(secret.starts_with("vt_"));
        assert_eq!(t["revoked"], false);
        let tid = id_of(&t);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("/api/v1/users/me/tokens/{tid}")));
        let r = env.req(Method::GET, "/api/v1/users/me").bearer(&secret).send().await;
        assert_eq!(r.status, StatusCode::OK);

        // The list never shows secrets again.
        let list = env.get("/api/v1/users/me/tokens", &env.agent1).send().await.json();
        let listed = list.as_array().unwrap().iter().find(|x| x["id"] == tid).expect("listed").clone();
        assert!(listed.get("token").is_none(), "{listed}");

        // Another user cannot revoke it.
        env.delete(&format!("/api/v1/users/me/tokens/{tid}"), &env.agent2).send().await.problem(404);
        let r = env.delete(&format!("/api/v1/users/me/tokens/{tid}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        env.req(Method::GET, "/api/v1/users/me").bearer(&secret).send().await.problem(401);
        let list = env.get("/api/v1/users/me/tokens", &env.agent1).send().await.json();
        assert!(list.as_array().unwrap().iter().any(|x| x["id"] == tid && x["revoked"] == true), "{list}");

        // Bad token names are validation problems.
        env.post("/api/v1/users/me/tokens", &env.agent1, json!({"name": "  "})).send().await.invalid(&["name"]);
    })
    .await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_header_on_writes() {
    each_engine(|env| async move {
        let cookie_value = varde::auth::start_session(&env.state, env.agent1.id).await.unwrap();
        let (_, csrf) =
            env.state.store.session_user(&varde::auth::token_hash(&cookie_value)).await.unwrap().expect("session");
        let cookie = format!("{}={cookie_value}", varde::auth::SESSION_COOKIE);

        // Reads need no CSRF token.
        let r = env.req(Method::GET, "/api/v1/users/me").header("cookie", &cookie).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["id"], env.agent1.id);

        let body = json!({"short_description": "Printer on fire"});
        let post = |csrf: Option<&str>| {
            let mut c = env.req(Method::POST, "/api/v1/incidents").header("cookie", &cookie).json(body.clone());
            if let Some(t) = csrf {
                c = c.header("x-csrf-token", t);
            }
            c
        };
        post(None).send().await.problem(403);
        post(Some("wrong")).send().await.problem(403);
        // Nothing was created by the refused attempts.
        let list = env.get("/api/v1/incidents", &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0);

        let r = post(Some(&csrf)).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let id = id_of(&r.json());

        let patch = env
            .req(Method::PATCH, &format!("/api/v1/incidents/{id}"))
            .header("cookie", &cookie)
            .json(json!({"urgency": 1}));
        patch.send().await.problem(403);
        assert_eq!(env.read(id).await["urgency"], 2);
        let r = env
            .req(Method::PATCH, &format!("/api/v1/incidents/{id}"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(json!({"urgency": 1}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());

        // An unknown session cookie is no session at all.
        env.req(Method::GET, "/api/v1/users/me")
            .header("cookie", &format!("{}=forged", varde::auth::SESSION_COOKIE))
            .send()
            .await
            .problem(401);
    })
    .await;
}

// ---------------------------------------------------------------- incidents: create and read

const INCIDENT_FIELDS: &[&str] = &[
    "id",
    "number",
    "version",
    "state",
    "hold_reason",
    "short_description",
    "description",
    "requester_id",
    "created_by",
    "assignment_group_id",
    "assignee_id",
    "impact",
    "urgency",
    "priority",
    "category_id",
    "service_id",
    "resolution_code",
    "resolution_notes",
    "reopen_count",
    "reassignment_count",
    "first_contact",
    "major",
    "channel",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
];

async fn service_and_category(env: &Env) -> (i64, i64) {
    let s = env.post("/api/v1/services", &env.admin, json!({"name": "E-mail"})).send().await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.text());
    let c = env.post("/api/v1/categories", &env.admin, json!({"name": "Hardware"})).send().await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.text());
    (id_of(&s.json()), id_of(&c.json()))
}

#[tokio::test]
async fn agent_creates_an_incident_and_reads_it_by_id_and_number() {
    each_engine(|env| async move {
        let (service, category) = service_and_category(&env).await;
        let r = env
            .post(
                "/api/v1/incidents",
                &env.agent1,
                json!({
                    "short_description": "  Mail is down  ",
                    "description": "Nobody can send.\nSince 08:00.",
                    "requester_id": env.req1.id,
                    "impact": 1, "urgency": 1,
                    "service_id": service, "category_id": category,
                    "assignment_group_id": env.group, "assignee_id": env.agent2.id,
                    "channel": "phone", "major": true
                }),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let i = r.json();
        let id = id_of(&i);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("/api/v1/incidents/{id}")));
        assert_eq!(r.header("etag"), Some("\"1\""));
        let keys: Vec<&str> = i.as_object().unwrap().keys().map(String::as_str).collect();
        for f in INCIDENT_FIELDS {
            assert!(keys.contains(f), "missing {f} in {i}");
        }
        assert_eq!(keys.len(), INCIDENT_FIELDS.len(), "unexpected fields in {i}");
        assert_eq!(i["short_description"], "Mail is down", "one-line text is trimmed");
        assert_eq!(i["state"], "new");
        assert_eq!(i["version"], 1);
        assert_eq!(i["requester_id"], env.req1.id);
        assert_eq!(i["created_by"], env.agent1.id);
        assert_eq!(i["priority"], 1);
        assert_eq!(i["channel"], "phone");
        assert_eq!(i["major"], true);
        assert_eq!(i["assignee_id"], env.agent2.id);
        assert!(i["number"].as_str().unwrap().starts_with("INC"));
        assert!(i["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(i["resolved_at"], Value::Null);

        let by_id = env.get(&format!("/api/v1/incidents/{id}"), &env.agent2).send().await;
        assert_eq!(by_id.status, StatusCode::OK);
        assert_eq!(by_id.json(), i);
        let number = i["number"].as_str().unwrap();
        let by_number = env.get(&format!("/api/v1/incidents/{number}"), &env.req1).send().await;
        assert_eq!(by_number.status, StatusCode::OK, "the requester sees their own incident");
        assert_eq!(by_number.json(), i);
        let lower = env.get(&format!("/api/v1/incidents/{}", number.to_lowercase()), &env.agent1).send().await;
        assert_eq!(lower.status, StatusCode::OK, "numbers are case-insensitive");

        env.get("/api/v1/incidents/999999", &env.agent1).send().await.problem(404);
        env.get("/api/v1/incidents/INC9999999", &env.agent1).send().await.problem(404);
        env.get("/api/v1/incidents/not-a-number", &env.agent1).send().await.problem(404);
    })
    .await;
}

#[tokio::test]
async fn requester_creates_for_themselves_with_defaults() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "VPN drops", "urgency": 1})).await;
        assert_eq!(i["requester_id"], env.req1.id);
        assert_eq!(i["created_by"], env.req1.id);
        assert_eq!(i["impact"], 2);
        assert_eq!(i["urgency"], 1);
        assert_eq!(i["channel"], "api", "the API's default channel");
        assert_eq!(i["major"], false);
        assert_eq!(i["assignment_group_id"], Value::Null);
        // Naming oneself as requester is allowed.
        env.incident(&env.req1, json!({"short_description": "x", "requester_id": env.req1.id})).await;
    })
    .await;
}

#[tokio::test]
async fn requesters_cannot_classify_route_or_report_for_others() {
    each_engine(|env| async move {
        let r = env
            .post(
                "/api/v1/incidents",
                &env.req1,
                json!({
                    "short_description": "x", "impact": 1, "assignment_group_id": env.group,
                    "assignee_id": env.agent1.id, "major": true, "requester_id": env.req2.id
                }),
            )
            .send()
            .await;
        r.invalid(&["impact", "assignment_group_id", "assignee_id", "major", "requester_id"]);
        let list = env.get("/api/v1/incidents", &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing was created");

        let i = env.incident(&env.req1, json!({"short_description": "mine"})).await;
        let id = id_of(&i);
        for patch in [
            json!({"impact": 1}),
            json!({"assignment_group_id": env.group}),
            json!({"short_description": "changed"}),
            json!({"state": "cancelled"}),
        ] {
            env.patch(&format!("/api/v1/incidents/{id}"), &env.req1, patch).send().await.problem(403);
        }
        assert_eq!(env.read(id).await, i, "refused patches change nothing");
    })
    .await;
}

#[tokio::test]
async fn invalid_create_bodies_are_problems_naming_every_field() {
    each_engine(|env| async move {
        let url = "/api/v1/incidents";
        let p = env
            .post(
                url,
                &env.agent1,
                json!({"short_description": "", "impact": 0, "urgency": 9, "channel": "pigeon",
                       "description": "bell\u{7}"}),
            )
            .send()
            .await
            .invalid(&["short_description", "impact", "urgency", "channel", "description"]);
        assert_eq!(p["type"], "/problems/validation");
        for e in p["errors"].as_array().unwrap() {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        }
        env.post(url, &env.agent1, json!({"short_description": "x".repeat(161)}))
            .send()
            .await
            .invalid(&["short_description"]);
        env.post(url, &env.agent1, json!({"short_description": "x", "assignee_id": env.agent1.id}))
            .send()
            .await
            .invalid(&["assignee_id"]);
        // A missing required field is named too.
        env.post(url, &env.agent1, json!({"description": "no title"})).send().await.invalid(&["short_description"]);
        let list = env.get(url, &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing was created");
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_400_413_415_and_422() {
    each_engine(|env| async move {
        let url = "/api/v1/incidents";
        let send = |ct: &str, body: Vec<u8>| env.req(Method::POST, url).bearer(&env.agent1.token).raw(ct, body);
        send("application/json", b"{\"short_description\": ".to_vec()).send().await.problem(400);
        send("application/json", b"not json".to_vec()).send().await.problem(400);
        // Not UTF-8: a lone continuation byte inside a string.
        send("application/json", b"{\"short_description\": \"caf\xe9\"}".to_vec()).send().await.problem(400);
        send("text/plain", b"{\"short_description\": \"x\"}".to_vec()).send().await.problem(415);
        send("application/x-www-form-urlencoded", b"short_description=x".to_vec()).send().await.problem(415);
        // No content type at all.
        let r = env.req(Method::POST, url).bearer(&env.agent1.token).send().await;
        r.problem(415);
        // Parameters on the media type are fine.
        let r = send("application/json; charset=utf-8", b"{\"short_description\": \"ok\"}".to_vec()).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

        let p = env.post(url, &env.agent1, json!({"short_description": "x", "colour": "red"})).send().await;
        p.invalid(&["colour"]);
        let p = env.post(url, &env.agent1, json!({"short_description": "x", "urgency": "high"})).send().await;
        p.invalid(&["urgency"]);
        let p = env.post(url, &env.agent1, json!({"short_description": 42})).send().await;
        p.invalid(&["short_description"]);
        // serde would read a struct from an array of its fields in order;
        // the API takes objects only.
        env.post(url, &env.agent1, json!(["short_description"])).send().await.invalid(&["body"]);
        env.post(url, &env.agent1, json!("short_description")).send().await.invalid(&["body"]);
        send("application/json", b"[\"x\"".to_vec()).send().await.problem(400);

        // Bodies over the API's 1 MiB limit are refused before parsing.
        let big = format!("{{\"short_description\": \"x\", \"description\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
        send("application/json", big.into_bytes()).send().await.problem(413);

        let list = env.get(url, &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the one good request created anything");
    })
    .await;
}

#[tokio::test]
async fn script_and_html_are_stored_and_returned_verbatim() {
    each_engine(|env| async move {
        let short = "<script>alert('x')</script> & \"quotes\"";
        let desc = "<img src=x onerror=alert(1)>\n<b>bold</b> \u{1F600} ' OR 1=1 --";
        let i = env.incident(&env.agent1, json!({"short_description": short, "description": desc})).await;
        assert_eq!(i["short_description"], short);
        assert_eq!(i["description"], desc);
        let id = id_of(&i);
        assert_eq!(env.read(id).await["description"], desc);
        let r = env.post(&format!("/api/v1/incidents/{id}/journal"), &env.agent1, json!({"body": short})).send().await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.json()["body"], short);
        // And it is findable as text, not interpreted.
        let found = env.get("/api/v1/incidents?q=script", &env.agent1).send().await.json();
        assert_eq!(found["items"][0]["id"], id);
    })
    .await;
}

#[tokio::test]
async fn unknown_references_are_422_naming_the_field() {
    each_engine(|env| async move {
        let url = "/api/v1/incidents";
        for (field, body) in [
            ("assignment_group_id", json!({"short_description": "x", "assignment_group_id": 999})),
            ("service_id", json!({"short_description": "x", "service_id": 999})),
            ("category_id", json!({"short_description": "x", "category_id": 999})),
            ("requester_id", json!({"short_description": "x", "requester_id": 999})),
            ("assignee_id", json!({"short_description": "x", "assignment_group_id": env.group, "assignee_id": 999})),
            // A requester is not someone to assign work to.
            (
                "assignee_id",
                json!({"short_description": "x", "assignment_group_id": env.group, "assignee_id": env.req1.id}),
            ),
            // Nor an agent outside the group.
            (
                "assignee_id",
                json!({"short_description": "x", "assignment_group_id": env.group, "assignee_id": env.admin.id}),
            ),
        ] {
            env.post(url, &env.agent1, body).send().await.invalid(&[field]);
        }
        let list = env.get(url, &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 0);

        let i = env.incident(&env.agent1, json!({"short_description": "x"})).await;
        let id = id_of(&i);
        for (field, body) in [
            ("assignment_group_id", json!({"assignment_group_id": 999})),
            ("service_id", json!({"service_id": 999})),
            ("category_id", json!({"category_id": 999})),
        ] {
            env.patch(&format!("{url}/{id}"), &env.agent1, body).send().await.invalid(&[field]);
        }
        assert_eq!(env.read(id).await, i, "refused patches change nothing");
    })
    .await;
}

// ---------------------------------------------------------------- incidents: change

#[tokio::test]
async fn the_life_cycle_walks_and_refuses_impossible_steps() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "Disk full"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}");

        let p = env.patch(&url, &env.agent1, json!({"state": "closed"})).send().await.invalid(&["state"]);
        assert!(p["detail"].as_str().unwrap().contains("closed"), "{p}");
        env.patch(&url, &env.agent1, json!({"state": "sleeping"})).send().await.invalid(&["state"]);
        env.patch(&url, &env.agent1, json!({"state": "on_hold"})).send().await.invalid(&["hold_reason"]);
        env.patch(&url, &env.agent1, json!({"state": "on_hold", "hold_reason": "lunch"}))
            .send()
            .await
            .invalid(&["hold_reason"]);
        env.patch(&url, &env.agent1, json!({"state": "resolved"}))
            .send()
            .await
            .invalid(&["resolution_code", "resolution_notes"]);
        env.patch(
            &url,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "   "}),
        )
        .send()
        .await
        .invalid(&["resolution_notes"]);
        // A refused patch changes nothing, even fields that were valid in it.
        env.patch(&url, &env.agent1, json!({"urgency": 1, "state": "closed"})).send().await.invalid(&["state"]);
        assert_eq!(env.read(id).await, i);

        let v = env.patch_ok(id, &env.agent1, json!({"state": "in_progress"})).await;
        assert_eq!(v["state"], "in_progress");
        assert_eq!(v["version"], 2);
        let v = env.patch_ok(id, &env.agent1, json!({"state": "on_hold", "hold_reason": "awaiting_supplier"})).await;
        assert_eq!(v["hold_reason"], "awaiting_supplier");
        let v = env
            .patch_ok(
                id,
                &env.agent1,
                json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Freed space"}),
            )
            .await;
        assert_eq!(v["state"], "resolved");
        assert_eq!(v["hold_reason"], Value::Null);
        assert_eq!(v["resolution_notes"], "Freed space");
        assert!(v["resolved_at"].is_string());
        // Back to in progress from resolved is a reopen.
        let r = env.patch(&url, &env.agent1, json!({"state": "in_progress"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(v["reopen_count"], 1);
        assert_eq!(v["resolution_code"], Value::Null);
        assert_eq!(v["resolved_at"], Value::Null);
        env.patch_ok(
            id,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Again"}),
        )
        .await;
        let v = env.patch_ok(id, &env.agent1, json!({"state": "closed"})).await;
        assert_eq!(v["state"], "closed");
        assert!(v["closed_at"].is_string());

        // Closed is final: no edits, no way out, no new journal entries.
        let closed = env.read(id).await;
        env.patch(&url, &env.agent1, json!({"state": "in_progress"})).send().await.invalid(&["state"]);
        env.patch(&url, &env.agent1, json!({"urgency": 1})).send().await.invalid(&["state"]);
        env.post(&format!("{url}/journal"), &env.agent1, json!({"body": "late"})).send().await.problem(422);
        assert_eq!(env.read(id).await, closed);

        // History records who changed what.
        let h = env.get(&format!("{url}/history"), &env.agent1).send().await;
        assert_eq!(h.status, StatusCode::OK);
        let h = h.json();
        let states: Vec<&Value> = h.as_array().unwrap().iter().filter(|e| e["field"] == "state").collect();
        assert!(states.iter().any(|e| e["old_value"] == "resolved" && e["new_value"] == "closed"), "{h}");
        assert!(states.iter().all(|e| e["actor_id"] == env.agent1.id), "{h}");
    })
    .await;
}

#[tokio::test]
async fn a_requester_may_only_confirm_or_dispute_a_resolution() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Laptop slow"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}");
        // Not resolved yet: closing is not theirs to do.
        env.patch(&url, &env.req1, json!({"state": "closed"})).send().await.problem(403);
        env.patch_ok(
            id,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Rebooted"}),
        )
        .await;
        // Disputing reopens it.
        let v = env.patch_ok(id, &env.req1, json!({"state": "in_progress"})).await;
        assert_eq!(v["reopen_count"], 1);
        env.patch_ok(
            id,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Really"}),
        )
        .await;
        // A state change smuggling other fields is refused as a whole.
        env.patch(&url, &env.req1, json!({"state": "closed", "urgency": 1})).send().await.problem(403);
        let v = env.patch_ok(id, &env.req1, json!({"state": "closed"})).await;
        assert_eq!(v["state"], "closed");
    })
    .await;
}

#[tokio::test]
async fn a_reply_from_the_caller_takes_the_incident_off_hold() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Which printer?"})).await;
        let id = id_of(&i);
        env.patch_ok(id, &env.agent1, json!({"state": "on_hold", "hold_reason": "awaiting_caller"})).await;
        let r = env
            .post(&format!("/api/v1/incidents/{id}/journal"), &env.req1, json!({"body": "The one on floor 3"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let v = env.read(id).await;
        assert_eq!(v["state"], "in_progress");
        assert_eq!(v["hold_reason"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn requesters_cannot_reach_each_others_incidents_by_guessing() {
    each_engine(|env| async move {
        let theirs = env.incident(&env.req1, json!({"short_description": "Private matter"})).await;
        let id = id_of(&theirs);
        let number = theirs["number"].as_str().unwrap().to_string();
        let up = env
            .req(Method::POST, &format!("/api/v1/incidents/{id}/attachments"))
            .bearer(&env.req1.token)
            .multipart("file", "secret.txt", b"payslip")
            .send()
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.text());
        let attachment = id_of(&up.json());
        env.patch_ok(id, &env.agent1, json!({"state": "on_hold", "hold_reason": "awaiting_caller"})).await;
        let before = env.read(id).await;

        // The same answer for "exists but not yours" as for "does not exist",
        // so ids and numbers cannot be probed.
        let missing = env.get("/api/v1/incidents/999999", &env.req2).send().await.problem(404);
        let r2 = &env.req2;
        for key in [id.to_string(), number.clone(), number.to_lowercase()] {
            let base = format!("/api/v1/incidents/{key}");
            let p = env.get(&base, r2).send().await.problem(404);
            assert_eq!(p, missing, "the refusal must not reveal that {key} exists");
            env.patch(&base, r2, json!({"state": "closed"})).send().await.problem(404);
            env.get(&format!("{base}/journal"), r2).send().await.problem(404);
            env.post(&format!("{base}/journal"), r2, json!({"body": "hi"})).send().await.problem(404);
            env.get(&format!("{base}/attachments"), r2).send().await.problem(404);
            env.req(Method::POST, &format!("{base}/attachments"))
                .bearer(&r2.token)
                .multipart("file", "x.txt", b"x")
                .send()
                .await
                .problem(404);
            env.get(&format!("{base}/links"), r2).send().await.problem(404);
            env.get(&format!("{base}/watchers"), r2).send().await.problem(404);
            // Sharing someone else's incident with oneself is the classic hole.
            env.put(&format!("{base}/watchers/{}", r2.id), r2).send().await.problem(404);
            env.delete(&format!("{base}/watchers/{}", env.req1.id), r2).send().await.problem(404);
        }
        let p = env.get(&format!("/api/v1/attachments/{attachment}"), r2).send().await.problem(404);
        assert_eq!(p, env.get("/api/v1/attachments/999999", r2).send().await.problem(404));
        // History is for agents only, whoever asks and whatever exists.
        env.get(&format!("/api/v1/incidents/{id}/history"), &env.req1).send().await.problem(403);

        for q in ["", "?requester_id=REQ", "?q=private", "?state=on_hold", "?sort=priority"] {
            let q = q.replace("REQ", &env.req1.id.to_string());
            let list = env.get(&format!("/api/v1/incidents{q}"), r2).send().await;
            assert_eq!(list.status, StatusCode::OK, "{}", list.text());
            assert_eq!(list.json()["items"], json!([]), "{q}");
        }
        // Nothing the other requester tried changed anything.
        assert_eq!(env.read(id).await, before);
        let journal = env.get(&format!("/api/v1/incidents/{id}/journal"), &env.agent1).send().await.json();
        assert_eq!(journal, json!([]));
        let w = env.get(&format!("/api/v1/incidents/{id}/watchers"), &env.agent1).send().await.json();
        assert_eq!(w, json!([]));

        // The owner still sees it all.
        assert_eq!(env.get(&format!("/api/v1/incidents/{number}"), &env.req1).send().await.status, StatusCode::OK);
        let mine = env.get("/api/v1/incidents", &env.req1).send().await.json();
        assert_eq!(mine["items"][0]["id"], id);
        let dl = env.get(&format!("/api/v1/attachments/{attachment}"), &env.req1).send().await;
        assert_eq!(dl.status, StatusCode::OK);
        assert_eq!(dl.body, b"payslip");
    })
    .await;
}

#[tokio::test]
async fn work_notes_are_for_agents_only() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Phone"})).await;
        let url = format!("/api/v1/incidents/{}/journal", id_of(&i));
        env.post(&url, &env.req1, json!({"kind": "work_note", "body": "sneaky"})).send().await.problem(403);
        let r = env.post(&url, &env.agent1, json!({"kind": "work_note", "body": "Caller is VIP"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let note = r.json();
        assert_eq!(note["kind"], "work_note");
        assert_eq!(note["author_id"], env.agent1.id);
        let r = env.post(&url, &env.agent1, json!({"body": "We are on it"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.json()["kind"], "reply", "reply is the default kind");

        let seen_by_agent = env.get(&url, &env.agent2).send().await.json();
        assert_eq!(seen_by_agent.as_array().unwrap().len(), 2);
        let seen_by_requester = env.get(&url, &env.req1).send().await.json();
        let kinds: Vec<&Value> = seen_by_requester.as_array().unwrap().iter().map(|e| &e["kind"]).collect();
        assert_eq!(kinds, vec!["reply"], "requesters never see work notes");

        env.post(&url, &env.agent1, json!({"kind": "system", "body": "x"})).send().await.invalid(&["kind"]);
        env.post(&url, &env.agent1, json!({"kind": "gossip", "body": "x"})).send().await.invalid(&["kind"]);
        env.post(&url, &env.agent1, json!({"body": "  \n "})).send().await.invalid(&["body"]);
        env.post(&url, &env.agent1, json!({"text": "x"})).send().await.invalid(&["text"]);
    })
    .await;
}

// ---------------------------------------------------------------- optimistic concurrency

#[tokio::test]
async fn a_stale_if_match_loses_and_changes_nothing() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "Wi-Fi"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}");
        let a = env.get(&url, &env.agent1).send().await;
        let b = env.get(&url, &env.agent2).send().await;
        let etag = a.header("etag").unwrap().to_string();
        assert_eq!(b.header("etag"), Some(etag.as_str()), "both read the same version");

        let first = env.patch(&url, &env.agent1, json!({"urgency": 1})).header("if-match", &etag).send().await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text());
        assert_eq!(first.header("etag"), Some("\"2\""));
        assert_eq!(first.json()["version"], 2);

        let second = env
            .patch(&url, &env.agent2, json!({"urgency": 3, "short_description": "Wi-Fi (edited)"}))
            .header("if-match", &etag)
            .send()
            .await;
        let p = second.problem(412);
        assert_eq!(p["type"], "/problems/stale-version");
        let now = env.read(id).await;
        assert_eq!(now, first.json(), "the losing write changed nothing");
        assert_eq!(now["urgency"], 1);

        // The fresh ETag, its weak form (a compressing proxy weakens the
        // tags it passes on) and `*` are all accepted.
        let r = env.patch(&url, &env.agent2, json!({"urgency": 3})).header("if-match", "W/\"2\"").send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let r = env.patch(&url, &env.agent2, json!({"urgency": 2})).header("if-match", "*").send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        env.patch(&url, &env.agent2, json!({"urgency": 1})).header("if-match", "yesterday").send().await.problem(400);

        // Even a patch that would change nothing must not pretend a stale
        // version is current.
        env.patch(&url, &env.agent2, json!({})).header("if-match", "\"1\"").send().await.problem(412);
    })
    .await;
}

#[tokio::test]
async fn if_none_match_saves_the_body() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "Screen"})).await;
        let url = format!("/api/v1/incidents/{}", id_of(&i));
        let r = env.get(&url, &env.agent1).header("if-none-match", "\"1\"").send().await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some("\"1\""));
        let r = env.get(&url, &env.agent1).header("if-none-match", "\"7\", W/\"1\"").send().await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        let r = env.get(&url, &env.agent1).header("if-none-match", "*").send().await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "* matches any existing version");
        env.patch_ok(id_of(&i), &env.agent1, json!({"urgency": 1})).await;
        let r = env.get(&url, &env.agent1).header("if-none-match", "\"1\"").send().await;
        assert_eq!(r.status, StatusCode::OK, "a changed record is sent again");
        assert_eq!(r.json()["urgency"], 1);
        // Conditional reads do not bypass visibility.
        env.get(&url, &env.req2).header("if-none-match", "\"2\"").send().await.problem(404);
    })
    .await;
}

// ---------------------------------------------------------------- idempotency

#[tokio::test]
async fn a_retried_create_returns_the_first_incident() {
    each_engine(|env| async move {
        let body = json!({"short_description": "Retry me", "urgency": 1});
        let send = |who: &common::Person, key: &str, body: Value| {
            env.post("/api/v1/incidents", who, body).header("idempotency-key", key)
        };
        let first = send(&env.agent1, "key-1", body.clone()).send().await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        assert_eq!(first.header("idempotent-replayed"), None);
        let again = send(&env.agent1, "key-1", body.clone()).send().await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json(), first.json());
        assert_eq!(again.header("location"), first.header("location"));

        let other = send(&env.agent1, "key-1", json!({"short_description": "Something else"})).send().await;
        other.invalid(&["Idempotency-Key"]);

        // Keys belong to their user: another user's same key is a new request.
        let theirs = send(&env.agent2, "key-1", body.clone()).send().await;
        assert_eq!(theirs.status, StatusCode::CREATED);
        assert_ne!(id_of(&theirs.json()), id_of(&first.json()));

        send(&env.agent1, "", body.clone()).send().await.invalid(&["Idempotency-Key"]);
        send(&env.agent1, &"k".repeat(256), body.clone()).send().await.invalid(&["Idempotency-Key"]);

        let list = env.get("/api/v1/incidents?q=retry", &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "one per user, no duplicates: {list}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_make_one_incident() {
    each_engine(|env| async move {
        // A client that times out and retries may have both attempts in
        // flight at once; they must still make one incident between them.
        for round in 0..5 {
            let key = format!("race-{round}");
            let body = json!({"short_description": format!("Race {round}")});
            let calls = (0..6).map(|_| {
                env.post("/api/v1/incidents", &env.agent1, body.clone()).header("idempotency-key", &key).send()
            });
            let answers = futures::future::join_all(calls).await;
            let mut ids = Vec::new();
            for r in &answers {
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
                ids.push(id_of(&r.json()));
            }
            ids.dedup();
            assert_eq!(ids.len(), 1, "round {round}: every attempt answers with the same incident");
            assert_eq!(answers.iter().filter(|r| r.header("idempotent-replayed").is_none()).count(), 1);
        }
        let list = env.get("/api/v1/incidents?q=race", &env.admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 5);
    })
    .await;
}

#[tokio::test]
async fn a_failed_create_does_not_use_up_its_key() {
    each_engine(|env| async move {
        let key = "key-after-failure";
        let bad = env
            .post("/api/v1/incidents", &env.agent1, json!({"short_description": "x", "service_id": 999}))
            .header("idempotency-key", key)
            .send()
            .await;
        bad.invalid(&["service_id"]);
        // The corrected request, under the same key, succeeds: the failed one
        // made nothing, so it reserved nothing.
        let good = env
            .post("/api/v1/incidents", &env.agent1, json!({"short_description": "x"}))
            .header("idempotency-key", key)
            .send()
            .await;
        assert_eq!(good.status, StatusCode::CREATED, "{}", good.text());
    })
    .await;
}

// ---------------------------------------------------------------- lists and pagination

/// Follows `next_cursor` to the end and returns the ids in the order served.
async fn walk(env: &Env, who: &common::Person, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            None => format!("/api/v1/incidents?{query}"),
            Some(c) => format!("/api/v1/incidents?{query}&cursor={c}"),
        };
        let r = env.get(&url, who).send().await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text());
        let page = r.json();
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn pagination_walks_every_sort_and_serves_each_row_once() {
    each_engine(|env| async move {
        let mut ids = Vec::new();
        for n in 0..23i64 {
            let i = env
                .incident(
                    &env.agent1,
                    json!({"short_description": format!("Row {n}"), "impact": 1 + n % 3, "urgency": 1 + (n / 3) % 3}),
                )
                .await;
            ids.push(id_of(&i));
        }
        // Touch some rows so that "updated" order differs from creation order.
        for id in ids.iter().step_by(4) {
            env.patch_ok(*id, &env.agent1, json!({"state": "in_progress"})).await;
        }
        let mut sorted = ids.clone();
        sorted.sort();
        for sort in ["newest", "oldest", "priority", "updated"] {
            for limit in [1, 5, 23, 200] {
                let rows = walk(&env, &env.agent2, &format!("sort={sort}&limit={limit}")).await;
                let mut got: Vec<i64> = rows.iter().map(id_of).collect();
                let served = got.clone();
                got.sort();
                assert_eq!(got, sorted, "sort={sort} limit={limit}: every row exactly once");
                // And in the promised order.
                let key = |v: &Value| -> (i64, i64) {
                    let id = id_of(v);
                    match sort {
                        "newest" => (-id, 0),
                        "oldest" => (id, 0),
                        "priority" => (v["priority"].as_i64().unwrap(), id),
                        _ => {
                            let t: jiff::Timestamp = v["updated_at"].as_str().unwrap().parse().unwrap();
                            (-t.as_microsecond(), -id)
                        }
                    }
                };
                let mut expected = rows.clone();
                expected.sort_by_key(key);
                assert_eq!(served, expected.iter().map(id_of).collect::<Vec<_>>(), "sort={sort} limit={limit}");
            }
        }
        // A page is 50 rows by default.
        let page = env.get("/api/v1/incidents", &env.agent1).send().await.json();
        assert_eq!(page["items"].as_array().unwrap().len(), 23);
        assert!(page.get("next_cursor").is_none(), "no cursor after the last page");
    })
    .await;
}

#[tokio::test]
async fn absurd_list_parameters_are_problems_naming_the_parameter() {
    each_engine(|env| async move {
        env.incident(&env.agent1, json!({"short_description": "x"})).await;
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=100000", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("cursor=garbage!!", "cursor"),
            ("cursor=Zm9v", "cursor"),
            ("sort=random", "sort"),
            ("state=sleeping", "state"),
            ("open=maybe", "open"),
            ("priority=0", "priority"),
            ("priority=1,9", "priority"),
            ("assignee_id=someone", "assignee_id"),
            ("assignment_group_id=x", "assignment_group_id"),
            ("requester_id=x", "requester_id"),
            ("service_id=x", "service_id"),
            ("category_id=x", "category_id"),
            ("major=perhaps", "major"),
            ("created_after=yesterday", "created_after"),
            ("updated_before=2026-13-01", "updated_before"),
            ("colour=red", "colour"),
        ] {
            let r = env.get(&format!("/api/v1/incidents?{q}"), &env.agent1).send().await;
            let p = r.invalid(&[field]);
            assert_eq!(p["type"], "/problems/validation", "{q}");
        }
        let long = "a".repeat(201);
        env.get(&format!("/api/v1/incidents?q={long}"), &env.agent1).send().await.invalid(&["q"]);
        // Several bad parameters are reported together.
        let p = env
            .get("/api/v1/incidents?limit=0&sort=x&state=y", &env.agent1)
            .send()
            .await
            .invalid(&["limit", "sort", "state"]);
        assert!(error_fields(&p).len() >= 3);
        // Users are paged the same way.
        env.get("/api/v1/users?limit=0", &env.admin).send().await.invalid(&["limit"]);
        env.get("/api/v1/users?cursor=abc", &env.admin).send().await.invalid(&["cursor"]);
        env.get("/api/v1/users?colour=red", &env.admin).send().await.invalid(&["colour"]);
    })
    .await;
}

#[tokio::test]
async fn list_filters_select_what_they_say() {
    each_engine(|env| async move {
        let (service, category) = service_and_category(&env).await;
        let a = env
            .incident(
                &env.agent1,
                json!({"short_description": "Payroll export fails", "requester_id": env.req1.id, "impact": 1, "urgency": 1,
                       "service_id": service, "category_id": category, "major": true,
                       "assignment_group_id": env.group, "assignee_id": env.agent1.id}),
            )
            .await;
        let b = env
            .incident(&env.agent1, json!({"short_description": "Mouse broken", "requester_id": env.req2.id, "urgency": 3,
                                           "assignment_group_id": env.group}))
            .await;
        let c = env.incident(&env.req1, json!({"short_description": "Keyboard sticky"})).await;
        env.patch_ok(id_of(&c), &env.agent1, json!({"state": "cancelled"})).await;
        let ids = |v: Value| -> Vec<i64> {
            let mut x: Vec<i64> = v["items"].as_array().unwrap().iter().map(id_of).collect();
            x.sort();
            x
        };
        let (a, b, c) = (id_of(&a), id_of(&b), id_of(&c));
        for (q, who, expected) in [
            ("state=new", &env.agent1, vec![a, b]),
            ("state=new,cancelled", &env.agent1, vec![a, b, c]),
            ("open=true", &env.agent1, vec![a, b]),
            ("open=false", &env.agent1, vec![c]),
            ("priority=1", &env.agent1, vec![a]),
            ("assignee_id=me", &env.agent1, vec![a]),
            ("assignee_id=me", &env.agent2, vec![]),
            ("assignee_id=none", &env.agent1, vec![b, c]),
            (&*format!("assignee_id={}", env.agent1.id), &env.agent2, vec![a]),
            (&*format!("assignment_group_id={}", env.group), &env.agent1, vec![a, b]),
            ("assignment_group_id=none", &env.agent1, vec![c]),
            (&*format!("requester_id={}", env.req1.id), &env.agent1, vec![a, c]),
            (&*format!("service_id={service}"), &env.agent1, vec![a]),
            (&*format!("category_id={category}"), &env.agent1, vec![a]),
            ("major=true", &env.agent1, vec![a]),
            ("major=false", &env.agent1, vec![b, c]),
            ("q=payroll", &env.agent1, vec![a]),
            ("q=PAYR", &env.agent1, vec![a]),
            ("q=%3F%21", &env.agent1, vec![]),
            ("created_after=2000-01-01T00:00:00Z", &env.agent1, vec![a, b, c]),
            ("created_before=2000-01-01T00:00:00Z", &env.agent1, vec![]),
            ("updated_after=2999-01-01T00:00:00Z", &env.agent1, vec![]),
            ("updated_before=2999-01-01T00:00:00Z&state=new&priority=1", &env.agent1, vec![a]),
            // A requester's list is their own, whatever the filter.
            ("", &env.req1, vec![a, c]),
            ("", &env.req2, vec![b]),
        ] {
            let r = env.get(&format!("/api/v1/incidents?{q}"), who).send().await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            assert_eq!(ids(r.json()), expected, "{q}");
        }
        // Searching by number finds the incident.
        let number = env.read(b).await["number"].as_str().unwrap().to_string();
        let r = env.get(&format!("/api/v1/incidents?q={number}"), &env.agent1).send().await;
        assert_eq!(ids(r.json()), vec![b]);
    })
    .await;
}

// ---------------------------------------------------------------- attachments, links, watchers

#[tokio::test]
async fn attachments_upload_list_and_download_safely() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Error dialog"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}/attachments");
        let html = b"<html><script>alert(1)</script></html>";
        let r = env
            .req(Method::POST, &url)
            .bearer(&env.req1.token)
            .multipart("file", "../../etc/evil.html", html)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let a = r.json();
        let aid = id_of(&a);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("/api/v1/attachments/{aid}")));
        assert_eq!(a["filename"], "evil.html", "only the last path component is kept");
        assert_eq!(a["size"], html.len());
        assert_eq!(a["uploaded_by"], env.req1.id);
        assert_eq!(a["href"], format!("/api/v1/attachments/{aid}"));
        assert_eq!(a["sha256"].as_str().unwrap().len(), 64);
        assert!(!a["content_type"].as_str().unwrap().contains("html"), "never served as HTML: {a}");

        let list = env.get(&url, &env.agent1).send().await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.json(), json!([a]));

        // Recognised binary formats keep their type; plain text is text.
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
        let r = env.req(Method::POST, &url).bearer(&env.agent1.token).multipart("file", "shot.png", png).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["content_type"], "image/png");
        let r = env
            .req(Method::POST, &url)
            .bearer(&env.agent1.token)
            .multipart("file", "log.txt", b"line 1\n")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["content_type"], "text/plain; charset=utf-8");

        let dl = env.get(&format!("/api/v1/attachments/{aid}"), &env.agent2).send().await;
        assert_eq!(dl.status, StatusCode::OK);
        assert_eq!(dl.body, html);
        assert!(dl.header("content-disposition").unwrap().starts_with("attachment;"));
        assert_eq!(dl.header("content-security-policy"), Some("sandbox"));
        assert_eq!(dl.header("x-content-type-options"), Some("nosniff"));
        env.get("/api/v1/attachments/999999", &env.agent1).send().await.problem(404);

        // Oversize, empty, missing and mis-sent uploads.
        let big = vec![b'a'; MAX_ATTACHMENT + 1];
        env.req(Method::POST, &url)
            .bearer(&env.req1.token)
            .multipart("file", "big.txt", &big)
            .send()
            .await
            .problem(413);
        let way_too_big = vec![b'a'; MAX_ATTACHMENT + 512 * 1024];
        env.req(Method::POST, &url)
            .bearer(&env.req1.token)
            .multipart("file", "huge.txt", &way_too_big)
            .send()
            .await
            .problem(413);
        env.req(Method::POST, &url)
            .bearer(&env.req1.token)
            .multipart("file", "e.txt", b"")
            .send()
            .await
            .invalid(&["file"]);
        env.req(Method::POST, &url)
            .bearer(&env.req1.token)
            .multipart("upload", "x.txt", b"x")
            .send()
            .await
            .invalid(&["file"]);
        env.post(&url, &env.req1, json!({"file": "x"})).send().await.problem(415);
        let list = env.get(&url, &env.agent1).send().await.json();
        assert_eq!(list.as_array().unwrap().len(), 3, "refused uploads stored nothing");
    })
    .await;
}

#[tokio::test]
async fn links_are_made_listed_and_removed_by_agents() {
    each_engine(|env| async move {
        let a = id_of(&env.incident(&env.req1, json!({"short_description": "A"})).await);
        let b = env.incident(&env.req2, json!({"short_description": "B"})).await;
        let url = format!("/api/v1/incidents/{a}/links");
        let r = env.post(&url, &env.agent1, json!({"to": b["number"], "kind": "duplicate_of"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let link = r.json();
        let lid = id_of(&link);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("{url}/{lid}")));
        assert_eq!(link["from_id"], a);
        assert_eq!(link["to_id"], b["id"]);
        assert_eq!(link["kind"], "duplicate_of");
        assert_eq!(link["created_by"], env.agent1.id);
        let list = env.get(&url, &env.agent2).send().await.json();
        assert_eq!(list, json!([link]));
        // A requester sees links to their own incidents only: B is req2's.
        assert_eq!(env.get(&url, &env.req1).send().await.json(), json!([]));
        let c = env.incident(&env.req1, json!({"short_description": "C"})).await;
        let r = env.post(&url, &env.agent1, json!({"to": c["number"], "kind": "relates_to"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let mine = env.get(&url, &env.req1).send().await.json();
        assert_eq!(
            mine.as_array().map(|l| l.iter().map(|x| x["to_id"].clone()).collect()),
            Some(vec![c["id"].clone()])
        );
        let gone = env.delete(&format!("{url}/{}", id_of(&r.json())), &env.agent1).send().await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text());

        env.post(&url, &env.agent1, json!({"to": b["number"], "kind": "duplicate_of"})).send().await.problem(409);
        env.post(&url, &env.agent1, json!({"to": "999999", "kind": "relates_to"})).send().await.invalid(&["to"]);
        env.post(&url, &env.agent1, json!({"to": b["number"], "kind": "sibling_of"})).send().await.invalid(&["kind"]);
        env.post(&url, &env.agent1, json!({"to": a.to_string(), "kind": "relates_to"})).send().await.problem(422);
        // Requesters do not link, even their own incidents.
        env.post(&url, &env.req1, json!({"to": b["id"].to_string(), "kind": "relates_to"})).send().await.problem(403);
        env.delete(&format!("{url}/{lid}"), &env.req1).send().await.problem(403);

        let r = env.delete(&format!("{url}/{lid}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert!(r.body.is_empty());
        env.delete(&format!("{url}/{lid}"), &env.agent1).send().await.problem(404);
        assert_eq!(env.get(&url, &env.agent1).send().await.json(), json!([]));
    })
    .await;
}

/// A requester sees an incident's links whose other end they may read
/// themselves, whichever way the link points: their own incidents and
/// those they watch, not other people's.
#[tokio::test]
async fn a_requester_sees_the_links_to_incidents_they_may_read() {
    each_engine(|env| async move {
        let a = id_of(&env.incident(&env.req1, json!({"short_description": "A"})).await);
        let url = format!("/api/v1/incidents/{a}/links");
        let link = |from: i64, to: i64| {
            let env = &env;
            async move {
                let r = env
                    .post(
                        &format!("/api/v1/incidents/{from}/links"),
                        &env.agent1,
                        json!({"to": to.to_string(), "kind": "relates_to"}),
                    )
                    .send()
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            }
        };
        let own = id_of(&env.incident(&env.req1, json!({"short_description": "own, links to A"})).await);
        let watched = id_of(&env.incident(&env.req2, json!({"short_description": "watched"})).await);
        let stranger = id_of(&env.incident(&env.req2, json!({"short_description": "not theirs"})).await);
        let r = env.put(&format!("/api/v1/incidents/{watched}/watchers/{}", env.req1.id), &env.req2).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        link(own, a).await;
        link(a, watched).await;
        link(stranger, a).await;
        let ends = |list: Value| -> Vec<i64> {
            let mut ends: Vec<i64> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|l| if l["from_id"] == a { l["to_id"].as_i64().unwrap() } else { l["from_id"].as_i64().unwrap() })
                .collect();
            ends.sort_unstable();
            ends
        };
        let mut expected = vec![own, watched];
        expected.sort_unstable();
        assert_eq!(ends(env.get(&url, &env.req1).send().await.json()), expected, "{}", env.engine);
        let mut all = vec![own, watched, stranger];
        all.sort_unstable();
        assert_eq!(ends(env.get(&url, &env.agent1).send().await.json()), all, "{}", env.engine);
    })
    .await;
}

#[tokio::test]
async fn watchers_share_an_incident_and_can_leave() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Shared drive"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}/watchers");
        env.get(&format!("/api/v1/incidents/{id}"), &env.req2).send().await.problem(404);

        // The requester shares their incident with a colleague.
        let r = env.put(&format!("{url}/{}", env.req2.id), &env.req1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert_eq!(env.get(&url, &env.req1).send().await.json(), json!([env.req2.id]));
        // Adding twice is harmless.
        let r = env.put(&format!("{url}/{}", env.req2.id), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert_eq!(env.get(&url, &env.req1).send().await.json(), json!([env.req2.id]));

        // The watcher now sees it, lists it and may reply, but not share it further.
        assert_eq!(env.get(&format!("/api/v1/incidents/{id}"), &env.req2).send().await.status, StatusCode::OK);
        let list = env.get("/api/v1/incidents", &env.req2).send().await.json();
        assert_eq!(list["items"][0]["id"], id);
        env.put(&format!("{url}/{}", env.admin.id), &env.req2).send().await.problem(403);
        env.put(&format!("{url}/999999"), &env.agent1).send().await.problem(422);

        // A watcher may leave.
        let r = env.delete(&format!("{url}/{}", env.req2.id), &env.req2).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        env.get(&format!("/api/v1/incidents/{id}"), &env.req2).send().await.problem(404);
        env.delete(&format!("{url}/{}", env.req2.id), &env.agent1).send().await.problem(404);
    })
    .await;
}

// ---------------------------------------------------------------- directory

#[tokio::test]
async fn admins_manage_users() {
    each_engine(|env| async move {
        let r = env
            .post(
                "/api/v1/users",
                &env.admin,
                json!({"email": " New.Agent@Example.org ", "name": "New Agent", "role": "agent"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let u = r.json();
        let uid = id_of(&u);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("/api/v1/users/{uid}")));
        assert_eq!(r.header("etag"), Some("\"1\""));
        assert_eq!(u["email"], "new.agent@example.org");
        assert_eq!(u["role"], "agent");
        assert_eq!(u["active"], true);
        assert!(u.get("password_hash").is_none() && u.get("password").is_none(), "{u}");

        let p = env
            .post(
                "/api/v1/users",
                &env.admin,
                json!({"email": "new.agent@example.org", "name": "Twin", "role": "agent"}),
            )
            .send()
            .await
            .problem(409);
        assert_eq!(error_fields(&p), vec!["email"]);
        env.post(
            "/api/v1/users",
            &env.admin,
            json!({"email": "nope", "name": "", "role": "root", "password": "short"}),
        )
        .send()
        .await
        .invalid(&["email", "name", "role", "password"]);
        env.post(
            "/api/v1/users",
            &env.admin,
            json!({"email": "o@example.org", "name": "O", "role": "agent", "organisation_id": 999}),
        )
        .send()
        .await
        .invalid(&["organisation_id"]);

        let read = env.get(&format!("/api/v1/users/{uid}"), &env.agent1).send().await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.json(), u);
        env.get("/api/v1/users/999999", &env.admin).send().await.problem(404);

        let url = format!("/api/v1/users/{uid}");
        let r = env
            .patch(&url, &env.admin, json!({"name": "Renamed", "role": "requester"}))
            .header("if-match", "\"1\"")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["name"], "Renamed");
        assert_eq!(r.header("etag"), Some("\"2\""));
        env.patch(&url, &env.admin, json!({"name": "Lost update"}))
            .header("if-match", "\"1\"")
            .send()
            .await
            .problem(412);
        assert_eq!(env.get(&url, &env.admin).send().await.json()["name"], "Renamed");
        env.patch(&url, &env.admin, json!({"role": "superuser"})).send().await.invalid(&["role"]);
        env.patch(&url, &env.admin, json!({"nickname": "x"})).send().await.invalid(&["nickname"]);
        env.patch("/api/v1/users/999999", &env.admin, json!({"name": "Ghost"})).send().await.problem(404);
        // An administrator cannot lock themselves out.
        env.patch(&format!("/api/v1/users/{}", env.admin.id), &env.admin, json!({"role": "agent"}))
            .send()
            .await
            .invalid(&["role"]);

        // Deactivating a user shuts their tokens out.
        let r = env.patch(&format!("/api/v1/users/{}", env.req2.id), &env.admin, json!({"active": false})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        env.get("/api/v1/users/me", &env.req2).send().await.problem(401);
    })
    .await;
}

#[tokio::test]
async fn users_list_pages_and_searches() {
    each_engine(|env| async move {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => "/api/v1/users?limit=2".to_string(),
                Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            };
            let page = env.get(&url, &env.agent1).send().await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text());
            let page = page.json();
            seen.extend(page["items"].as_array().unwrap().iter().map(id_of));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut expected = vec![env.admin.id, env.agent1.id, env.agent2.id, env.req1.id, env.req2.id];
        expected.sort();
        assert_eq!(seen, expected);
        let found = env.get("/api/v1/users?q=agent", &env.agent1).send().await.json();
        let mut ids: Vec<i64> = found["items"].as_array().unwrap().iter().map(id_of).collect();
        ids.sort();
        assert_eq!(ids, vec![env.agent1.id, env.agent2.id]);
    })
    .await;
}

#[tokio::test]
async fn everyone_may_read_themselves_but_not_the_directory() {
    each_engine(|env| async move {
        let me = env.get("/api/v1/users/me", &env.req1).send().await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.json()["role"], "requester");
        let own = env.get(&format!("/api/v1/users/{}", env.req1.id), &env.req1).send().await;
        assert_eq!(own.status, StatusCode::OK);
        for path in [
            "/api/v1/users".to_string(),
            format!("/api/v1/users/{}", env.req2.id),
            "/api/v1/groups".to_string(),
            format!("/api/v1/groups/{}", env.group),
            format!("/api/v1/groups/{}/members", env.group),
            "/api/v1/organisations".to_string(),
        ] {
            env.get(&path, &env.req1).send().await.problem(403);
        }
        // Catalogue lists are for everyone: requesters pick a service.
        for path in ["/api/v1/services", "/api/v1/categories", "/api/v1/priority-matrix"] {
            assert_eq!(env.get(path, &env.req1).send().await.status, StatusCode::OK, "{path}");
        }
    })
    .await;
}

#[tokio::test]
async fn agents_cannot_administer() {
    each_engine(|env| async move {
        let g = env.group;
        let u = env.req1.id;
        for (who, label) in [(&env.agent1, "agent"), (&env.req1, "requester")] {
            let calls = vec![
                env.post("/api/v1/users", who, json!({"email": "x@example.org", "name": "X", "role": "admin"})),
                env.patch(&format!("/api/v1/users/{u}"), who, json!({"role": "admin"})),
                env.patch(&format!("/api/v1/users/{}", who.id), who, json!({"role": "admin"})),
                env.post("/api/v1/groups", who, json!({"name": "Cabal"})),
                env.put(&format!("/api/v1/groups/{g}/members/{u}"), who),
                env.delete(&format!("/api/v1/groups/{g}/members/{}", env.agent2.id), who),
                env.post("/api/v1/organisations", who, json!({"name": "Acme"})),
                env.post("/api/v1/services", who, json!({"name": "Shadow IT"})),
                env.post("/api/v1/categories", who, json!({"name": "Misc"})),
                env.req(Method::PUT, "/api/v1/priority-matrix")
                    .bearer(&who.token)
                    .json(json!({"cells": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]})),
            ];
            for c in calls {
                let r = c.send().await;
                let p = r.problem(403);
                assert_eq!(p["type"], "/problems/forbidden", "{label}");
            }
        }
        // Nothing changed.
        assert_eq!(env.get("/api/v1/users/me", &env.agent1).send().await.json()["role"], "agent");
        let members = env.get(&format!("/api/v1/groups/{g}/members"), &env.admin).send().await.json();
        assert_eq!(members.as_array().unwrap().len(), 2);
        let m = env.get("/api/v1/priority-matrix", &env.admin).send().await.json();
        assert_ne!(m["cells"], json!([[1, 1, 1], [1, 1, 1], [1, 1, 1]]));
        assert_eq!(env.get("/api/v1/services", &env.admin).send().await.json(), json!([]));
    })
    .await;
}

#[tokio::test]
async fn groups_and_memberships() {
    each_engine(|env| async move {
        let r = env
            .post("/api/v1/groups", &env.admin, json!({"name": "Network", "description": "Routers & <switches>"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let g = r.json();
        let gid = id_of(&g);
        assert_eq!(r.header("location").map(str::to_string), Some(format!("/api/v1/groups/{gid}")));
        assert_eq!(g["description"], "Routers & <switches>");
        assert_eq!(env.get(&format!("/api/v1/groups/{gid}"), &env.agent1).send().await.json(), g);
        let all = env.get("/api/v1/groups", &env.agent1).send().await.json();
        assert!(all.as_array().unwrap().contains(&g));
        env.post("/api/v1/groups", &env.admin, json!({"name": "Network"})).send().await.problem(409);
        env.post("/api/v1/groups", &env.admin, json!({"name": ""})).send().await.invalid(&["name"]);
        env.get("/api/v1/groups/999999", &env.agent1).send().await.problem(404);
        env.get("/api/v1/groups/999999/members", &env.agent1).send().await.problem(404);

        let member = format!("/api/v1/groups/{gid}/members/{}", env.agent1.id);
        let r = env.put(&member, &env.admin).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        let r = env.put(&member, &env.admin).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "adding twice is harmless");
        let members = env.get(&format!("/api/v1/groups/{gid}/members"), &env.agent2).send().await.json();
        assert_eq!(members.as_array().unwrap().iter().map(id_of).collect::<Vec<_>>(), vec![env.agent1.id]);
        env.put(&format!("/api/v1/groups/{gid}/members/999999"), &env.admin).send().await.invalid(&["user_id"]);
        env.put(&format!("/api/v1/groups/999999/members/{}", env.agent1.id), &env.admin).send().await.problem(404);

        // Membership is what makes an agent assignable in a group.
        let i = env.incident(&env.agent1, json!({"short_description": "Switch down"})).await;
        let id = id_of(&i);
        let r = env.patch_ok(id, &env.agent2, json!({"assignment_group_id": gid, "assignee_id": env.agent1.id})).await;
        assert_eq!(r["assignee_id"], env.agent1.id);
        env.patch(&format!("/api/v1/incidents/{id}"), &env.agent2, json!({"assignee_id": env.agent2.id}))
            .send()
            .await
            .invalid(&["assignee_id"]);

        let r = env.delete(&member, &env.admin).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        env.delete(&member, &env.admin).send().await.problem(404);
        assert_eq!(env.get(&format!("/api/v1/groups/{gid}/members"), &env.agent2).send().await.json(), json!([]));
    })
    .await;
}

#[tokio::test]
async fn organisations_services_and_categories() {
    each_engine(|env| async move {
        let r = env.post("/api/v1/organisations", &env.admin, json!({"name": "Acme"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let acme = r.json();
        let r = env
            .post("/api/v1/organisations", &env.admin, json!({"name": "Acme Labs", "parent_id": acme["id"]}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let labs = r.json();
        assert_eq!(labs["parent_id"], acme["id"]);
        env.post("/api/v1/organisations", &env.admin, json!({"name": "Orphan", "parent_id": 999}))
            .send()
            .await
            .invalid(&["parent_id"]);
        env.post("/api/v1/organisations", &env.admin, json!({"name": " "})).send().await.invalid(&["name"]);
        let orgs = env.get("/api/v1/organisations", &env.agent1).send().await.json();
        assert_eq!(orgs.as_array().unwrap().len(), 2);
        assert!(orgs.as_array().unwrap().contains(&labs));

        let r = env
            .post("/api/v1/services", &env.admin, json!({"name": "ERP", "description": "The <big> one"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let erp = r.json();
        assert_eq!(erp["description"], "The <big> one");
        assert!(erp.get("active").is_none());
        env.post("/api/v1/services", &env.admin, json!({"name": "ERP"})).send().await.problem(409);
        env.post("/api/v1/services", &env.admin, json!({"name": 5})).send().await.invalid(&["name"]);
        assert_eq!(env.get("/api/v1/services", &env.req1).send().await.json(), json!([erp]));

        let r = env.post("/api/v1/categories", &env.admin, json!({"name": "Software"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let sw = r.json();
        assert_eq!(sw["parent_id"], 0);
        let r =
            env.post("/api/v1/categories", &env.admin, json!({"name": "Licences", "parent_id": sw["id"]})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["parent_id"], sw["id"]);
        env.post("/api/v1/categories", &env.admin, json!({"name": "Stray", "parent_id": 999}))
            .send()
            .await
            .invalid(&["parent_id"]);
        let cats = env.get("/api/v1/categories", &env.req1).send().await.json();
        assert_eq!(cats.as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn the_priority_matrix_is_read_by_all_and_set_by_admins() {
    each_engine(|env| async move {
        let r = env.get("/api/v1/priority-matrix", &env.req1).send().await;
        assert_eq!(r.status, StatusCode::OK);
        let m = r.json();
        assert_eq!(m["cells"].as_array().unwrap().len(), 3);

        let cells = json!([[1, 1, 2], [1, 2, 3], [2, 3, 5]]);
        let r = env
            .req(Method::PUT, "/api/v1/priority-matrix")
            .bearer(&env.admin.token)
            .json(json!({"cells": cells}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["cells"], cells);
        assert_eq!(env.get("/api/v1/priority-matrix", &env.agent1).send().await.json()["cells"], cells);
        // New incidents take their priority from the new matrix.
        let i = env.incident(&env.agent1, json!({"short_description": "x", "impact": 1, "urgency": 2})).await;
        assert_eq!(i["priority"], 1);

        let put = |body: Value| env.req(Method::PUT, "/api/v1/priority-matrix").bearer(&env.admin.token).json(body);
        put(json!({"cells": [[0, 2, 3], [2, 3, 4], [3, 4, 9]]})).send().await.invalid(&["cells[0][0]", "cells[2][2]"]);
        put(json!({"cells": [[5, 2, 3], [2, 3, 4], [3, 4, 5]]})).send().await.invalid(&["cells"]);
        // A row too short is named by its path.
        put(json!({"cells": [[1, 2], [2, 3]]})).send().await.invalid(&["cells[0]"]);
        put(json!({"rows": []})).send().await.invalid(&["rows"]);
        assert_eq!(env.get("/api/v1/priority-matrix", &env.agent1).send().await.json()["cells"], cells);
    })
    .await;
}

#[tokio::test]
async fn the_auto_close_period_is_set_by_admins_within_bounds() {
    each_engine(|env| async move {
        let url = "/api/v1/settings/incidents";
        let r = env.get(url, &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"auto_close_days": 5}));
        let put = |who: &common::Person, body: Value| env.req(Method::PUT, url).bearer(&who.token).json(body);
        assert_eq!(put(&env.agent1, json!({"auto_close_days": 2})).send().await.status, StatusCode::FORBIDDEN);
        put(&env.admin, json!({"auto_close_days": 366})).send().await.invalid(&["auto_close_days"]);
        put(&env.admin, json!({"auto_close_days": -1})).send().await.invalid(&["auto_close_days"]);
        put(&env.admin, json!({"auto_close_days": "two"})).send().await.invalid(&["auto_close_days"]);
        assert_eq!(
            env.get(url, &env.agent1).send().await.json(),
            json!({"auto_close_days": 5}),
            "refused changes change nothing"
        );
        let r = put(&env.admin, json!({"auto_close_days": 14})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(env.get(url, &env.req1).send().await.json(), json!({"auto_close_days": 14}));
    })
    .await;
}

#[tokio::test]
async fn changing_ones_password() {
    each_engine(|env| async move {
        let pw = "correct horse battery";
        let r = env
            .post(
                "/api/v1/users",
                &env.admin,
                json!({"email": "pw@example.org", "name": "Pw", "role": "agent", "password": pw}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let uid = id_of(&r.json());
        let (_, token) = varde::service::directory::create_token(&env.state.store, uid, "t").await.unwrap();
        let call = |body: Value| env.req(Method::POST, "/api/v1/users/me/password").bearer(&token).json(body);
        call(json!({"current_password": "wrong wrong wrong", "new_password": "another long one"}))
            .send()
            .await
            .invalid(&["current_password"]);
        call(json!({"current_password": pw, "new_password": "short"})).send().await.invalid(&["new_password"]);
        let r = call(json!({"current_password": pw, "new_password": "another long one"})).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert!(varde::auth::login(&env.state, "pw@example.org", "another long one".into(), "test").await.is_ok());
        assert!(varde::auth::login(&env.state, "pw@example.org", pw.into(), "test").await.is_err());
    })
    .await;
}

// ---------------------------------------------------------------- edge cases

#[tokio::test]
async fn odd_but_well_formed_json_is_judged_field_by_field() {
    each_engine(|env| async move {
        let url = "/api/v1/incidents";
        let send =
            |body: &str| env.req(Method::POST, url).bearer(&env.agent1.token).raw("application/json", body.into());
        send(r#"{"short_description": "a", "short_description": "b"}"#).send().await.invalid(&["short_description"]);
        send(r#"{"short_description": "x", "impact": 99999999999999999999}"#).send().await.invalid(&["impact"]);
        send(r#"{"short_description": "x", "impact": 1.5}"#).send().await.invalid(&["impact"]);
        send(r#"{"short_description": "x", "urgency": null}"#).send().await.status.is_success().then_some(()).unwrap();
        send(r#"{"short_description": "nul\u0000byte"}"#).send().await.invalid(&["short_description"]);
        send(r#"{"short_description": "\ud800"}"#).send().await.problem(400);
        send(r#"{"short_description": "x"} trailing"#).send().await.problem(400);
        send("").send().await.problem(400);
        // Over the text limit, under the body limit.
        let long = "a".repeat(64 * 1024 + 1);
        env.post(url, &env.agent1, json!({"short_description": "x", "description": long}))
            .send()
            .await
            .invalid(&["description"]);

        let i = env.incident(&env.agent1, json!({"short_description": "x"})).await;
        let id = id_of(&i);
        let purl = format!("{url}/{id}");
        env.patch(&purl, &env.agent1, json!({"colour": "red"})).send().await.invalid(&["colour"]);
        env.patch(&purl, &env.agent1, json!({"impact": "1"})).send().await.invalid(&["impact"]);
        env.patch(&purl, &env.agent1, json!([])).send().await.invalid(&["body"]);
        env.req(Method::PATCH, &purl)
            .bearer(&env.agent1.token)
            .raw("text/plain", b"{}".to_vec())
            .send()
            .await
            .problem(415);
        // JSON merge patch is the documented media type for PATCH.
        let r = env
            .req(Method::PATCH, &purl)
            .bearer(&env.agent1.token)
            .raw("application/merge-patch+json", br#"{"urgency": 1}"#.to_vec())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(env.read(id).await["version"], 2, "only the good patch was applied");
    })
    .await;
}

#[tokio::test]
async fn merge_patch_null_clears_and_absent_keeps() {
    each_engine(|env| async move {
        let (service, category) = service_and_category(&env).await;
        let i = env
            .incident(
                &env.agent1,
                json!({"short_description": "x", "service_id": service, "category_id": category,
                       "assignment_group_id": env.group, "assignee_id": env.agent1.id}),
            )
            .await;
        let id = id_of(&i);
        let v = env.patch_ok(id, &env.agent1, json!({"service_id": null, "assignee_id": null})).await;
        assert_eq!(v["service_id"], Value::Null);
        assert_eq!(v["assignee_id"], Value::Null);
        assert_eq!(v["category_id"], category, "absent fields stay");
        assert_eq!(v["assignment_group_id"], env.group);
        // Clearing the group with an assignee left would orphan the assignee.
        let v = env.patch_ok(id, &env.agent1, json!({"assignee_id": env.agent2.id})).await;
        assert_eq!(v["assignee_id"], env.agent2.id);
        let v = env.patch_ok(id, &env.agent1, json!({"assignment_group_id": null})).await;
        assert_eq!(v["assignee_id"], Value::Null, "a new group starts unassigned");
        assert_eq!(v["reassignment_count"], 1);
        // In a merge patch null means "remove"; what cannot be removed is
        // refused, not silently ignored.
        for field in ["short_description", "description", "impact", "urgency", "major", "state"] {
            env.patch(&format!("/api/v1/incidents/{id}"), &env.agent1, json!({ field: null }))
                .send()
                .await
                .invalid(&[field]);
        }
        env.patch(&format!("/api/v1/users/{}", env.agent1.id), &env.admin, json!({"name": null}))
            .send()
            .await
            .invalid(&["name"]);
        env.patch(&format!("/api/v1/incidents/{id}"), &env.agent1, json!({"short_description": " "}))
            .send()
            .await
            .invalid(&["short_description"]);
    })
    .await;
}

#[tokio::test]
async fn search_treats_accents_and_case_alike_on_every_engine() {
    each_engine(|env| async move {
        let i = env
            .incident(&env.agent1, json!({"short_description": "Café CRÈME machine", "description": "Straße Ångström"}))
            .await;
        let id = id_of(&i);
        for q in ["café", "CAFÉ", "crème", "CRÈME", "straße", "ÅNGSTRÖM", "caf", "café%20machine"] {
            let r = env.get(&format!("/api/v1/incidents?q={q}"), &env.agent1).send().await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            let items = r.json()["items"].clone();
            assert_eq!(items.as_array().unwrap().len(), 1, "{q} should find the incident: {items}");
            assert_eq!(items[0]["id"], id);
        }
        // Query syntax of either engine is just text here.
        for q in ["%22", "a%22b", "NEAR(x", "x%20OR%20y", "!x", "x%3A*", "%26%7C", "*", "-x", "AND"] {
            let r = env.get(&format!("/api/v1/incidents?q={q}"), &env.agent1).send().await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
        }
        // Journal text is searchable too.
        env.post(&format!("/api/v1/incidents/{id}/journal"), &env.agent1, json!({"body": "descaled with vinegar"}))
            .send()
            .await;
        let r = env.get("/api/v1/incidents?q=vinegar", &env.agent1).send().await.json();
        assert_eq!(r["items"].as_array().unwrap().len(), 1, "{r}");
    })
    .await;
}

#[tokio::test]
async fn deactivated_users_lose_sessions_and_tokens() {
    each_engine(|env| async move {
        let cookie_value = varde::auth::start_session(&env.state, env.agent2.id).await.unwrap();
        let cookie = format!("{}={cookie_value}", varde::auth::SESSION_COOKIE);
        let r = env.req(Method::GET, "/api/v1/users/me").header("cookie", &cookie).send().await;
        assert_eq!(r.status, StatusCode::OK);
        let r =
            env.patch(&format!("/api/v1/users/{}", env.agent2.id), &env.admin, json!({"active": false})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        env.req(Method::GET, "/api/v1/users/me").header("cookie", &cookie).send().await.problem(401);
        env.get("/api/v1/users/me", &env.agent2).send().await.problem(401);
        // And they are no longer assignable.
        env.post(
            "/api/v1/incidents",
            &env.agent1,
            json!({"short_description": "x", "assignment_group_id": env.group, "assignee_id": env.agent2.id}),
        )
        .send()
        .await
        .invalid(&["assignee_id"]);
    })
    .await;
}

#[tokio::test]
async fn download_names_are_safe_header_values() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "x"})).await;
        let url = format!("/api/v1/incidents/{}/attachments", id_of(&i));
        let name = "rapport d'été \\\"final\\\";.txt";
        let r = env.req(Method::POST, &url).bearer(&env.agent1.token).multipart("file", name, b"hello").send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let a = r.json();
        let dl = env.get(a["href"].as_str().unwrap(), &env.agent1).send().await;
        assert_eq!(dl.status, StatusCode::OK);
        let cd = dl.header("content-disposition").unwrap();
        assert!(cd.starts_with("attachment; filename=\""), "{cd}");
        // The quoted ASCII fallback holds no quote or semicolon to break out of.
        let ascii = cd.split('"').nth(1).unwrap();
        assert!(!ascii.contains(';') && !ascii.contains('\\'), "{cd}");
        assert!(cd.contains("filename*=UTF-8''"), "{cd}");
    })
    .await;
}

#[tokio::test]
async fn links_can_be_removed_from_either_end_but_not_through_strangers() {
    each_engine(|env| async move {
        let a = id_of(&env.incident(&env.agent1, json!({"short_description": "A"})).await);
        let b = id_of(&env.incident(&env.agent1, json!({"short_description": "B"})).await);
        let c = id_of(&env.incident(&env.agent1, json!({"short_description": "C"})).await);
        let r = env
            .post(
                &format!("/api/v1/incidents/{a}/links"),
                &env.agent1,
                json!({"to": b.to_string(), "kind": "caused_by"}),
            )
            .send()
            .await;
        let lid = id_of(&r.json());
        // The link shows at both ends.
        let at_b = env.get(&format!("/api/v1/incidents/{b}/links"), &env.agent1).send().await.json();
        assert_eq!(at_b.as_array().unwrap().len(), 1, "{at_b}");
        // An unrelated incident's URL cannot remove it.
        env.delete(&format!("/api/v1/incidents/{c}/links/{lid}"), &env.agent1).send().await.problem(404);
        let r = env.delete(&format!("/api/v1/incidents/{b}/links/{lid}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert_eq!(env.get(&format!("/api/v1/incidents/{a}/links"), &env.agent1).send().await.json(), json!([]));
    })
    .await;
}

#[tokio::test]
async fn attachments_may_be_as_large_as_configured_even_above_the_json_limit() {
    each_engine(|env| async move {
        // The API caps JSON bodies at 1 MiB; uploads have their own,
        // configured limit, which must win on the upload route.
        let app = env.with_attachment_limit(3 * 1024 * 1024);
        let i = env.incident(&env.agent1, json!({"short_description": "Big log"})).await;
        let url = format!("/api/v1/incidents/{}/attachments", id_of(&i));
        let data = vec![b'x'; 2 * 1024 * 1024];
        let r = env
            .req(Method::POST, &url)
            .to(&app)
            .bearer(&env.agent1.token)
            .multipart("file", "big.log", &data)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["size"], data.len());
        let too_big = vec![b'x'; 3 * 1024 * 1024 + 1];
        env.req(Method::POST, &url)
            .to(&app)
            .bearer(&env.agent1.token)
            .multipart("file", "bigger.log", &too_big)
            .send()
            .await
            .problem(413);
    })
    .await;
}

#[tokio::test]
async fn a_watcher_may_follow_and_reply_but_not_close_someone_elses_incident() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Team drive"})).await;
        let id = id_of(&i);
        let url = format!("/api/v1/incidents/{id}");
        let r = env.put(&format!("{url}/watchers/{}", env.req2.id), &env.req1).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = env.post(&format!("{url}/journal"), &env.req2, json!({"body": "Same here"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        env.patch_ok(
            id,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Quota raised"}),
        )
        .await;
        // Confirming or disputing the resolution is the requester's call.
        env.patch(&url, &env.req2, json!({"state": "closed"})).send().await.problem(403);
        env.patch(&url, &env.req2, json!({"state": "in_progress"})).send().await.problem(403);
        assert_eq!(env.read(id).await["state"], "resolved");
        assert_eq!(env.patch_ok(id, &env.req1, json!({"state": "closed"})).await["state"], "closed");
    })
    .await;
}

#[tokio::test]
async fn a_final_incident_takes_no_new_attachments() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "Old"})).await;
        let id = id_of(&i);
        env.patch_ok(id, &env.agent1, json!({"state": "cancelled"})).await;
        let url = format!("/api/v1/incidents/{id}/attachments");
        env.req(Method::POST, &url)
            .bearer(&env.agent1.token)
            .multipart("file", "late.txt", b"late")
            .send()
            .await
            .problem(422);
        assert_eq!(env.get(&url, &env.agent1).send().await.json(), json!([]));
    })
    .await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    each_engine(|env| async move {
        // RFC 9110 section 11.1: auth schemes are case-insensitive.
        for scheme in ["bearer", "BEARER", "Bearer"] {
            let r = env
                .req(Method::GET, "/api/v1/users/me")
                .header("authorization", &format!("{scheme} {}", env.agent1.token))
                .send()
                .await;
            assert_eq!(r.status, StatusCode::OK, "{scheme}: {}", r.text());
        }
    })
    .await;
}

#[tokio::test]
async fn csrf_guards_every_unsafe_method_for_cookie_callers() {
    each_engine(|env| async move {
        let i = env.incident(&env.agent1, json!({"short_description": "x"})).await;
        let id = id_of(&i);
        let cookie_value = varde::auth::start_session(&env.state, env.admin.id).await.unwrap();
        let cookie = format!("{}={cookie_value}", varde::auth::SESSION_COOKIE);
        let with_cookie = |m: Method, path: String| env.req(m, &path).header("cookie", &cookie);
        with_cookie(Method::PUT, format!("/api/v1/incidents/{id}/watchers/{}", env.req2.id)).send().await.problem(403);
        with_cookie(Method::DELETE, format!("/api/v1/groups/{}/members/{}", env.group, env.agent1.id))
            .send()
            .await
            .problem(403);
        with_cookie(Method::PUT, "/api/v1/priority-matrix".into())
            .json(json!({"cells": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]}))
            .send()
            .await
            .problem(403);
        with_cookie(Method::POST, "/api/v1/users/me/tokens".into())
            .json(json!({"name": "stolen"}))
            .send()
            .await
            .problem(403);
        assert_eq!(env.get(&format!("/api/v1/incidents/{id}/watchers"), &env.admin).send().await.json(), json!([]));
        assert_eq!(
            env.get(&format!("/api/v1/groups/{}/members", env.group), &env.admin)
                .send()
                .await
                .json()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(env.get("/api/v1/users/me/tokens", &env.admin).send().await.json().as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_is_self_consistent() {
    each_engine(|env| async move {
        let doc = env.req(Method::GET, "/api/openapi.json").send().await.json();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        // Every $ref points at a schema the document defines.
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k == "$ref" {
                            out.push(x.as_str().unwrap().to_string());
                        } else {
                            refs(x, out);
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("odd ref {r}"));
            assert!(schemas.contains_key(name), "dangling {r}");
        }
        // Every operation says what it answers, and every path parameter is declared.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (m, op) in ops.as_object().unwrap() {
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{m} {path}");
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for seg in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = seg.trim_matches(|c| c == '{' || c == '}');
                    assert!(declared.contains(&name), "{m} {path}: {name} undeclared");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn searching_does_not_reveal_work_notes_to_requesters() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Laptop"})).await;
        let id = id_of(&i);
        let journal = format!("/api/v1/incidents/{id}/journal");
        let r = env
            .post(&journal, &env.agent1, json!({"kind": "work_note", "body": "Suspect zebrafish malware"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = env.post(&journal, &env.agent1, json!({"body": "Please restart, giraffe"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED);
        let found = |who: &common::Person, q: &'static str| {
            let call = env.get(&format!("/api/v1/incidents?q={q}"), who);
            async move { call.send().await.json()["items"].as_array().unwrap().iter().map(id_of).collect::<Vec<_>>() }
        };
        // Agents find work-note text; the requester must not, or a search
        // would be an oracle for what the notes say.
        assert_eq!(found(&env.agent2, "zebrafish").await, vec![id]);
        assert_eq!(found(&env.req1, "zebrafish").await, Vec::<i64>::new());
        assert_eq!(found(&env.req1, "zebra").await, Vec::<i64>::new());
        assert_eq!(found(&env.req1, "laptop%20malware").await, Vec::<i64>::new());
        // Replies and the incident's own text are theirs to search.
        assert_eq!(found(&env.req1, "giraffe").await, vec![id]);
        assert_eq!(found(&env.req1, "laptop").await, vec![id]);
        // Words in both a reply and a note are found through the reply.
        env.post(&journal, &env.agent1, json!({"kind": "work_note", "body": "giraffe again"})).send().await;
        assert_eq!(found(&env.req1, "giraffe").await, vec![id]);
        // A watcher is a requester too.
        env.put(&format!("/api/v1/incidents/{id}/watchers/{}", env.req2.id), &env.req1).send().await;
        assert_eq!(found(&env.req2, "zebrafish").await, Vec::<i64>::new());
        assert_eq!(found(&env.req2, "giraffe").await, vec![id]);
    })
    .await;
}

#[tokio::test]
async fn user_search_matches_names_case_insensitively_beyond_ascii() {
    each_engine(|env| async move {
        let r = env
            .post(
                "/api/v1/users",
                &env.admin,
                json!({"email": "ez@example.org", "name": "Émile Zola", "role": "requester"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let id = id_of(&r.json());
        for q in ["%C3%A9mile", "%C3%89MILE", "%C3%89mile", "ez"] {
            let found = env.get(&format!("/api/v1/users?q={q}"), &env.agent1).send().await.json();
            let ids: Vec<i64> = found["items"].as_array().unwrap().iter().map(id_of).collect();
            assert_eq!(ids, vec![id], "q={q}");
        }
        // Prefix search, not pattern matching.
        for q in ["%25", "_", "mile"] {
            let found = env.get(&format!("/api/v1/users?q={q}"), &env.agent1).send().await.json();
            assert_eq!(found["items"], json!([]), "q={q}");
        }
    })
    .await;
}

#[tokio::test]
async fn sub_resources_have_stable_shapes() {
    each_engine(|env| async move {
        let i = env.incident(&env.req1, json!({"short_description": "Shapes"})).await;
        let id = id_of(&i);
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let r =
            env.post(&format!("/api/v1/incidents/{id}/journal"), &env.agent1, json!({"body": "Hello"})).send().await;
        assert_eq!(r.status, StatusCode::CREATED);
        let j = r.json();
        assert_eq!(keys(&j), vec!["author_id", "body", "created_at", "id", "kind"]);
        assert_eq!(env.get(&format!("/api/v1/incidents/{id}/journal"), &env.req1).send().await.json(), json!([j]));

        env.patch_ok(id, &env.agent1, json!({"urgency": 1, "assignment_group_id": env.group})).await;
        let h = env.get(&format!("/api/v1/incidents/{id}/history"), &env.agent2).send().await.json();
        let h = h.as_array().unwrap();
        assert!(!h.is_empty());
        for e in h {
            assert_eq!(keys(e), vec!["actor_id", "at", "field", "new_value", "old_value"], "{e}");
        }
        let urgency = h.iter().find(|e| e["field"] == "urgency").expect("urgency change recorded");
        assert_eq!((urgency["old_value"].as_str(), urgency["new_value"].as_str()), (Some("2"), Some("1")));
        assert_eq!(urgency["actor_id"], env.agent1.id);

        let u = env.get("/api/v1/users/me", &env.req1).send().await.json();
        assert_eq!(keys(&u), vec!["active", "created_at", "email", "id", "name", "organisation_id", "role", "version"]);
        let t = env.get("/api/v1/users/me/tokens", &env.req1).send().await.json();
        assert_eq!(keys(&t[0]), vec!["created_at", "id", "name", "revoked"]);
        let g = env.get(&format!("/api/v1/groups/{}", env.group), &env.agent1).send().await.json();
        assert_eq!(keys(&g), vec!["description", "id", "manager_id", "name"]);
    })
    .await;
}

#[tokio::test]
async fn user_organisation_can_be_set_and_cleared() {
    each_engine(|env| async move {
        let org = env.post("/api/v1/organisations", &env.admin, json!({"name": "Acme"})).send().await.json();
        let url = format!("/api/v1/users/{}", env.req1.id);
        let u = env.patch(&url, &env.admin, json!({"organisation_id": org["id"]})).send().await;
        assert_eq!(u.status, StatusCode::OK, "{}", u.text());
        assert_eq!(u.json()["organisation_id"], org["id"]);
        env.patch(&url, &env.admin, json!({"organisation_id": 999})).send().await.invalid(&["organisation_id"]);
        let u = env.patch(&url, &env.admin, json!({"organisation_id": null})).send().await;
        assert_eq!(u.status, StatusCode::OK, "{}", u.text());
        assert_eq!(u.json()["organisation_id"], Value::Null);
        // Revoking twice: the second finds no live token.
        let t = env.post("/api/v1/users/me/tokens", &env.req1, json!({"name": "x"})).send().await.json();
        let turl = format!("/api/v1/users/me/tokens/{}", id_of(&t));
        assert_eq!(env.delete(&turl, &env.req1).send().await.status, StatusCode::NO_CONTENT);
        env.delete(&turl, &env.req1).send().await.problem(404);
    })
    .await;
}
