//! `/api/v1/articles`, `/api/v1/search`, suggestions, deflections and
//! knowledge in the flow of work, through the real router on every engine.

mod common;

use common::{each_engine, id_of, Env, Person};
use http::StatusCode;
use serde_json::json;
use varde::service::directory::{create_token, create_user, CreateUser};
use varde_store::testing::backdate;

async fn person(env: &Env, name: &str, role: &str) -> Person {
    let email = format!("{name}@example.org");
    let u = create_user(
        &env.state.store,
        None,
        CreateUser {
            email: email.clone(),
            name: name.into(),
            role: role.into(),
            organisation_id: None,
            password: None,
        },
    )
    .await
    .unwrap();
    let (_, token) = create_token(&env.state.store, u.id, "tests").await.unwrap();
    Person { id: u.id, token, email }
}

/// Creates an article as `author` and has `reviewer` publish it.
async fn publish(env: &Env, author: &Person, reviewer: &Person, body: serde_json::Value) -> serde_json::Value {
    let r = env.post("/api/v1/articles", author, body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let a = r.json();
    let loc = format!("/api/v1/articles/{}", id_of(&a));
    let r = env.patch(&loc, author, json!({"state": "review"})).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = env.patch(&loc, reviewer, json!({"state": "published"})).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// An incident resolved straight from new (at first contact) or after it
/// was worked on, as if it had been created at `created` and open `open`.
async fn resolved_incident(env: &Env, created: i64, open: i64, first_contact: bool) -> serde_json::Value {
    let inc = env.incident(&env.req1, json!({"short_description": "Something is wrong"})).await;
    let id = id_of(&inc);
    if !first_contact {
        env.patch_ok(id, &env.agent1, json!({"state": "in_progress"})).await;
    }
    env.patch_ok(id, &env.agent1, json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Done"}))
        .await;
    backdate(&env.state.store, id, created, Some(created + open)).await;
    inc
}

async fn problem_of(env: &Env, short: &str, incidents: &[serde_json::Value]) -> serde_json::Value {
    let numbers: Vec<_> = incidents.iter().map(|i| i["number"].clone()).collect();
    let r = env
        .post("/api/v1/problems", &env.agent1, json!({"short_description": short, "incidents": numbers}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn knowledge_report_over_a_period_and_as_csv() {
    each_engine(|env| async move {
        const H: i64 = 3_600_000_000;
        // One day, given as dates as the page's form sends them.
        let from = "2026-01-10T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond();
        let period = "from=2026-01-10&to=2026-01-10";
        // Mail: three incidents of an hour, resolved at first contact; and a
        // long one before the period, which does not count anywhere.
        let mut mail = Vec::new();
        for n in 1..=3 {
            mail.push(resolved_incident(&env, from + n * H, H, true).await);
        }
        mail.push(resolved_incident(&env, from - H, 100 * H, true).await);
        // VPN: 3 h before the problem was resolved (at 05:00), 1 h after.
        let vpn = [resolved_incident(&env, from + H, 3 * H, false).await, resolved_incident(&env, from + 6 * H, H, false).await];
        // Printer: as many incidents as VPN, less time.
        let printer =
            [resolved_incident(&env, from + 2 * H, H / 2, false).await, resolved_incident(&env, from + 3 * H, H / 2, false).await];
        problem_of(&env, "Mail is slow", &mail).await;
        let p = problem_of(&env, "=VPN drops \"often\"", &vpn).await;
        backdate(&env.state.store, id_of(&p), from - 100 * H, Some(from + 5 * H)).await;
        problem_of(&env, "Printer jams", &printer).await;

        let rep = env.get(&format!("/api/v1/reports/knowledge?{period}"), &env.agent1).send().await.json();
        assert_eq!((rep["first_contact_resolved"].as_i64(), rep["resolved_incidents"].as_i64()), (Some(3), Some(7)), "{rep}");
        assert!((rep["first_contact_rate"].as_f64().unwrap() - 3.0 / 7.0).abs() < 1e-9, "{rep}");
        let list = |key: &str| -> Vec<(String, i64, i64)> {
            rep[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["number"].as_str().unwrap().to_string(), p["incidents"].as_i64().unwrap(), p["time_spent_seconds"].as_i64().unwrap() / 60))
                .collect()
        };
        let expect = |v: &[(&str, i64, i64)]| v.iter().map(|(n, i, m)| (n.to_string(), *i, *m)).collect::<Vec<_>>();
        assert_eq!(list("top_problems_by_incidents"), expect(&[("PRB0000001", 3, 180), ("PRB0000003", 2, 60), ("PRB0000002", 2, 240)]), "{rep}");
        assert_eq!(list("top_problems_by_time"), expect(&[("PRB0000002", 2, 240), ("PRB0000001", 3, 180), ("PRB0000003", 2, 60)]), "{rep}");
        let vpn = &rep["top_problems_by_time"][0];
        assert_eq!((vpn["incidents_before_resolution"].as_i64(), vpn["incidents_after_resolution"].as_i64()), (Some(1), Some(1)), "{rep}");

        // The CSV: each problem once, by incidents then time; text quoted and defused.
        let r = env.get(&format!("/api/v1/reports/knowledge.csv?{period}"), &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"knowledge-report.csv\""));
        let text = r.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "number,short_description,state,resolved_at,incidents,time_spent_hours,incidents_before_resolution,incidents_after_resolution",
                "\"PRB0000001\",\"Mail is slow\",\"new\",,3,3.00,3,0",
                "\"PRB0000002\",\"'=VPN drops \"\"often\"\"\",\"new\",2026-01-10T05:00:00Z,2,4.00,1,1",
                "\"PRB0000003\",\"Printer jams\",\"new\",,2,1.00,2,0",
            ],
            "{text}"
        );
        // Rights and bad periods, as for the JSON report.
        env.get(&format!("/api/v1/reports/knowledge.csv?{period}"), &env.req1).send().await.problem(403);
        env.get("/api/v1/reports/knowledge.csv?from=2026-13-01", &env.agent1).send().await.invalid(&["from"]);
        env.get("/api/v1/reports/knowledge.csv?from=2026-01-12&to=2026-01-10", &env.agent1).send().await.invalid(&["to"]);
        let doc = env.req(http::Method::GET, "/api/openapi.json").send().await.json();
        assert!(doc["paths"]["/api/v1/reports/knowledge.csv"].is_object(), "missing from OpenAPI");
    })
    .await;
}

#[tokio::test]
async fn article_workflow_rights_versions_and_rendering() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        // Requesters do not write articles; bad input is named.
        env.post("/api/v1/articles", &env.req1, json!({"title": "x"})).send().await.problem(403);
        env.post("/api/v1/articles", &env.agent1, json!({"title": "", "audience": "everyone", "review_at": "soon"}))
            .send()
            .await
            .invalid(&["title", "audience", "review_at"]);
        env.post("/api/v1/articles", &env.agent1, json!({"title": "Secret", "audience": "restricted"}))
            .send()
            .await
            .invalid(&["groups"]);

        let body = "# Reset\n\nOpen the **portal**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))";
        let r = env
            .post(
                "/api/v1/articles",
                &author,
                json!({"title": "Reset your password", "body": body, "audience": "public"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let a = r.json();
        assert_eq!(a["number"], "KB0000001");
        assert_eq!(a["state"], "draft");
        let html = a["html"].as_str().unwrap();
        assert!(html.contains("<strong>portal</strong>"), "{html}");
        assert!(!html.contains("<script") && !html.contains("javascript:"), "not sanitised: {html}");
        let loc = r.header("location").unwrap().to_string();

        // Not readable by requesters before publication.
        env.get(&loc, &env.req1).send().await.problem(404);
        // The author may not publish their own article when review is required.
        env.patch(&loc, &author, json!({"state": "published"})).send().await.problem(422);
        env.patch(&loc, &author, json!({"state": "review"})).send().await;
        env.patch(&loc, &author, json!({"state": "published"})).send().await.problem(422);
        // An agent is not a reviewer, nor may they waive review.
        env.patch(&loc, &env.agent1, json!({"state": "published"})).send().await.problem(403);
        env.patch(&loc, &env.agent1, json!({"review_required": false})).send().await.invalid(&["review_required"]);
        let r = env.patch(&loc, &reviewer, json!({"state": "published"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let etag = r.header("etag").unwrap().to_string();

        // Readers see the published text and each read is counted.
        let r = env.get(&loc, &env.req1).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["title"], "Reset your password");
        let views = r.json()["views"].as_i64().unwrap();
        assert_eq!(env.get(&loc, &env.req1).send().await.json()["views"].as_i64().unwrap(), views + 1);

        // A new version goes back to draft; readers keep the published text.
        let r = env
            .patch(&loc, &author, json!({"title": "Reset your password (new portal)", "body": "Open the new portal."}))
            .header("if-match", &etag)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["state"], "draft");
        assert_eq!(r.json()["current_version"], 2);
        env.patch(&loc, &author, json!({"title": "stale"})).header("if-match", &etag).send().await.problem(412);
        assert_eq!(env.get(&loc, &env.req1).send().await.json()["title"], "Reset your password");
        let versions = env.get(&format!("{loc}/versions"), &env.agent1).send().await.json();
        assert_eq!(versions.as_array().unwrap().len(), 2);
        let diff = env.get(&format!("{loc}/diff?from=1&to=2"), &env.agent1).send().await.json();
        let d = diff.as_array().unwrap();
        assert!(d.iter().any(|l| l["tag"] == "insert" && l["text"] == "Open the new portal."), "{diff}");
        assert!(d.iter().any(|l| l["tag"] == "delete" && l["text"] == "# Reset your password"), "{diff}");
        env.get(&format!("{loc}/diff?from=1&to=9"), &env.agent1).send().await.invalid(&["to"]);
        env.get(&format!("{loc}/versions"), &env.req1).send().await.problem(403);

        // Feedback.
        let r =
            env.post(&format!("{loc}/feedback"), &env.req1, json!({"helpful": true, "comment": "Thanks"})).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        env.post(&format!("{loc}/feedback"), &env.req1, json!({"helpful": "maybe"})).send().await.problem(422);
        assert_eq!(env.get(&loc, &env.agent1).send().await.json()["helpful_yes"], 1);
        // One person, one vote: asking again counts once, and a change of
        // mind moves the vote.
        let vote = |helpful: bool| env.post(&format!("{loc}/feedback"), &env.req1, json!({"helpful": helpful})).send();
        assert_eq!(vote(true).await.status, StatusCode::NO_CONTENT);
        let a = env.get(&loc, &env.agent1).send().await.json();
        assert_eq!((a["helpful_yes"].as_i64(), a["helpful_no"].as_i64()), (Some(1), Some(0)), "{a}");
        assert_eq!(vote(false).await.status, StatusCode::NO_CONTENT);
        let a = env.get(&loc, &env.agent1).send().await.json();
        assert_eq!((a["helpful_yes"].as_i64(), a["helpful_no"].as_i64()), (Some(0), Some(1)), "{a}");

        // Attachments on the kernel.
        let r = env
            .req(http::Method::POST, &format!("{loc}/attachments"))
            .bearer(&author.token)
            .multipart("file", "steps.txt", b"1. open")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(
            env.get(&format!("{loc}/attachments"), &env.agent1).send().await.json().as_array().unwrap().len(),
            1
        );
        // A requester who may read the article may fetch its files.
        let files = env.get(&format!("{loc}/attachments"), &env.req1).send().await.json();
        let href = files[0]["href"].as_str().expect("href").to_string();
        let r = env.get(&href, &env.req1).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), "1. open");

        // Retired articles leave the readers' view.
        env.patch(&loc, &author, json!({"state": "review"})).send().await;
        env.patch(&loc, &reviewer, json!({"state": "published"})).send().await;
        let r = env.patch(&loc, &reviewer, json!({"state": "retired"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        env.get(&loc, &env.req1).send().await.problem(404);
        env.get(&href, &env.req1).send().await.problem(404);
        env.get(&format!("{loc}/attachments"), &env.req1).send().await.problem(404);
        assert_eq!(env.get(&href, &env.agent1).send().await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn search_rights_stemming_highlighting_and_filters() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        // Restricted articles are read (and so written and reviewed) by their group's members.
        env.state.store.add_member(env.group, author.id).await.unwrap();
        env.state.store.add_member(env.group, reviewer.id).await.unwrap();
        publish(&env, &author, &reviewer, json!({"title": "Printer queue stuck", "body": "Restart the spooler when printing hangs.", "audience": "public"})).await;
        publish(&env, &author, &reviewer, json!({"title": "Printer firmware internals", "body": "Desk only.", "audience": "internal"})).await;
        publish(&env, &author, &reviewer, json!({"title": "Printer routing", "body": "For the desk group.", "audience": "restricted", "groups": [env.group]})).await;
        let mine = env.incident(&env.req1, json!({"short_description": "My printer prints blank pages"})).await;
        env.post(&format!("/api/v1/incidents/{}/journal", id_of(&mine)), &env.agent1, json!({"kind": "work_note", "body": "quux toner"}))
            .send()
            .await;
        env.incident(&env.req2, json!({"short_description": "Printer on floor 2 jams"})).await;

        let kinds = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|h| format!("{}:{}", h["kind"].as_str().unwrap(), h["title"].as_str().unwrap())).collect()
        };
        // A requester: their ticket and the public article, nothing else.
        let r = env.get("/api/v1/search?q=printers", &env.req1).send().await.json();
        let mut got = kinds(&r);
        got.sort();
        assert_eq!(got, vec!["article:Printer queue stuck", "incident:My printer prints blank pages"], "{r}");
        assert!(env.get("/api/v1/search?q=quux", &env.req1).send().await.json().as_array().unwrap().is_empty());
        // Stemming: "printing" finds "printer"; highlighting marks and escapes.
        let r = env.get("/api/v1/search?q=printing&kind=article", &env.agent1).send().await.json();
        assert_eq!(r.as_array().unwrap().len(), 3, "{r}");
        assert!(r[0]["snippet"].as_str().unwrap().contains("<mark>"), "{r}");
        // Agents outside the group do not see restricted articles; members do.
        let r = env.get("/api/v1/search?q=routing", &env.agent1).send().await.json();
        assert_eq!(r.as_array().unwrap().len(), 1, "{r}");
        let outsider = person(&env, "olle", "agent").await;
        assert!(env.get("/api/v1/search?q=routing", &outsider).send().await.json().as_array().unwrap().is_empty());
        // Filters and bad input.
        let r = env.get("/api/v1/search?q=printer&kind=incident", &env.agent1).send().await.json();
        assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
        env.get("/api/v1/search?q=printer&kind=cat", &env.agent1).send().await.invalid(&["kind"]);
        env.get("/api/v1/search?q=printer&limit=0", &env.agent1).send().await.invalid(&["limit"]);
        // Open records only: the two open tickets, no articles; finished: none yet.
        let r = env.get("/api/v1/search?q=printer&open=true", &env.agent1).send().await.json();
        assert_eq!(kinds(&r).iter().filter(|k| k.starts_with("incident:")).count(), 2, "{r}");
        assert!(kinds(&r).iter().all(|k| k.starts_with("incident:")), "{r}");
        assert!(env.get("/api/v1/search?q=printer&open=false", &env.agent1).send().await.json().as_array().unwrap().is_empty());
        let r = env.get("/api/v1/search?q=printer&updated_after=2999-01-01T00:00:00Z", &env.agent1).send().await.json();
        assert!(r.as_array().unwrap().is_empty(), "{r}");
        // Every bad filter is named in one answer.
        env.get("/api/v1/search?q=printer&open=maybe&service_id=x&updated_before=soon", &env.agent1)
            .send()
            .await
            .invalid(&["open", "service_id", "updated_before"]);
        assert!(env.get("/api/v1/search?q=%21%21", &env.agent1).send().await.json().as_array().unwrap().is_empty());

        // Portal suggestions while typing: public articles only.
        let r = env.get("/api/v1/articles/suggestions?q=printer%20stuck", &env.req1).send().await.json();
        assert_eq!(kinds(&r), vec!["article:Printer queue stuck"], "{r}");
        // A deflection is counted.
        let r = env.post("/api/v1/deflections", &env.req1, json!({"article": r[0]["number"], "subject": "printer stuck"})).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        env.post("/api/v1/deflections", &env.req1, json!({"article": "KB0000002"})).send().await.invalid(&["article"]);
        let rep = env.get("/api/v1/reports/knowledge", &env.agent1).send().await.json();
        assert_eq!(rep["deflections"], 1, "{rep}");
        assert!(rep["deflection_rate"].as_f64().unwrap() > 0.0);
    })
    .await;
}

#[tokio::test]
async fn knowledge_in_the_flow_of_work() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        let a = publish(&env, &author, &reviewer, json!({"title": "Outlook asks for password again", "body": "Clear the credential cache.", "audience": "public"})).await;
        // No 304 for an article: its view count moved since this version
        // was read, and the body says so.
        let loc = format!("/api/v1/articles/{}", a["number"].as_str().unwrap());
        let tag = format!("\"{}\"", a["version"]);
        let r = env.get(&loc, &env.req1).header("if-none-match", &tag).send().await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.json()["views"].as_i64().unwrap() > a["views"].as_i64().unwrap());
        let inc = env.incident(&env.req1, json!({"short_description": "Outlook keeps asking for my password"})).await;
        let id = id_of(&inc);
        let sug = env.get(&format!("/api/v1/incidents/{id}/suggestions"), &env.agent1).send().await.json();
        assert_eq!(sug[0]["number"], a["number"], "{sug}");
        env.get(&format!("/api/v1/incidents/{id}/suggestions"), &env.req1).send().await.problem(403);
        // Resolved by the article: recorded, visible to the requester.
        let r = env.post(&format!("/api/v1/incidents/{id}/articles"), &env.agent1, json!({"article": a["number"]})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let journal = env.get(&format!("/api/v1/incidents/{id}/journal"), &env.req1).send().await.json();
        assert!(journal.as_array().unwrap().iter().any(|j| j["body"].as_str().unwrap().contains("KB0000001")), "{journal}");
        env.post(&format!("/api/v1/incidents/{id}/articles"), &env.agent1, json!({"article": a["number"]})).send().await.problem(409);
        // Drafting an article needs a resolved incident.
        env.post(&format!("/api/v1/incidents/{id}/draft-article"), &env.agent1, json!({})).send().await.problem(422);
        env.patch_ok(id, &env.agent1, json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Cleared the credential cache"})).await;
        let r = env.post(&format!("/api/v1/incidents/{id}/draft-article"), &env.agent1, json!({})).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let d = r.json();
        assert_eq!((d["state"].as_str(), d["audience"].as_str()), (Some("draft"), Some("internal")));
        assert!(d["body"].as_str().unwrap().contains("Cleared the credential cache"));
        assert_eq!(d["source_incident_id"], id);
        // The report: resolved at first contact with an article.
        let rep = env.get("/api/v1/reports/knowledge", &env.agent1).send().await.json();
        assert_eq!(rep["resolved_incidents"], 1, "{rep}");
        assert_eq!(rep["resolved_with_knowledge"], 1, "{rep}");
        assert_eq!(rep["knowledge_rate"], 1.0, "{rep}");
        // The OpenAPI document names the new paths.
        let doc = env.req(http::Method::GET, "/api/openapi.json").send().await.json();
        for p in ["/api/v1/problems", "/api/v1/articles", "/api/v1/search", "/api/v1/reports/knowledge"] {
            assert!(doc["paths"][p].is_object(), "{p} missing from OpenAPI");
        }
    })
    .await;
}

/// The titles in a list or search answer (`items` of a page, or the hits).
fn titles(v: &serde_json::Value) -> Vec<String> {
    let list = v.get("items").unwrap_or(v);
    let mut t: Vec<String> =
        list.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_string()).collect();
    t.sort();
    t
}

#[tokio::test]
async fn expired_articles_are_hidden_from_requesters_but_not_from_agents() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        let old = json!({"title": "Voicemail on the old exchange", "body": "Dial 999.", "audience": "public",
            "expires_at": "2020-01-01T00:00:00Z"});
        let expired = format!("/api/v1/articles/{}", id_of(&publish(&env, &author, &reviewer, old).await));
        let new = json!({"title": "Voicemail on the new exchange", "body": "Dial 888.", "audience": "public",
            "expires_at": "2999-01-01T00:00:00Z"});
        publish(&env, &author, &reviewer, new).await;
        let current = vec!["Voicemail on the new exchange".to_string()];
        let both = vec!["Voicemail on the new exchange".to_string(), "Voicemail on the old exchange".to_string()];

        // A requester: not in the list, not in a search, not by its address.
        assert_eq!(titles(&env.get("/api/v1/articles", &env.req1).send().await.json()), current);
        assert_eq!(titles(&env.get("/api/v1/search?q=voicemail", &env.req1).send().await.json()), current);
        env.get(&expired, &env.req1).send().await.problem(404);
        // The desk sees it, to review or retire it.
        assert_eq!(titles(&env.get("/api/v1/articles", &env.agent1).send().await.json()), both);
        assert_eq!(titles(&env.get("/api/v1/search?q=voicemail", &env.agent1).send().await.json()), both);
        let r = env.get(&expired, &env.agent1).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    })
    .await;
}

#[tokio::test]
async fn review_due_lists_only_articles_whose_review_date_has_passed() {
    each_engine(|env| async move {
        for (title, review_at) in [
            ("Due last year", json!("2020-01-01T00:00:00Z")),
            ("Due in the future", json!("2999-01-01T00:00:00Z")),
            ("Never reviewed", serde_json::Value::Null),
        ] {
            let r =
                env.post("/api/v1/articles", &env.agent1, json!({"title": title, "review_at": review_at})).send().await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        let due = env.get("/api/v1/articles?review_due=true", &env.agent1).send().await.json();
        assert_eq!(titles(&due), vec!["Due last year".to_string()], "{due}");
        let all = env.get("/api/v1/articles?review_due=false", &env.agent1).send().await.json();
        assert_eq!(titles(&all).len(), 3, "{all}");
        env.get("/api/v1/articles?review_due=soon", &env.agent1).send().await.invalid(&["review_due"]);
    })
    .await;
}

/// An article PATCH whose state step is refused (403 for want of the
/// right, 422 by the workflow's rules) keeps none of its edits: no new
/// version, no new text (finding 3 of the exploratory test).
#[tokio::test]
async fn a_refused_step_keeps_none_of_the_edits() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        let r = env
            .post(
                "/api/v1/articles",
                &env.agent1,
                json!({"title": "How to reset your VPN token", "body": "1. Open the portal", "audience": "public"}),
            )
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let loc = r.header("location").unwrap().to_string();
        let unchanged = |want_version: i64| {
            let call = env.get(&loc, &env.agent1).send();
            async move {
                let r = call.await;
                let a = r.json();
                assert_eq!(r.header("etag"), Some(format!("\"{want_version}\"").as_str()), "{a}");
                assert_eq!(
                    (&a["title"], &a["body"]),
                    (&json!("How to reset your VPN token"), &json!("1. Open the portal"))
                );
                assert_eq!(a["current_version"], 1, "{a}");
            }
        };

        // 403: publishing and retiring are a reviewer's.
        let sneaky = json!({"title": "TEMP - sneaky title", "state": "published"});
        env.patch(&loc, &env.agent1, sneaky).header("if-match", "\"1\"").send().await.problem(403);
        env.patch(&loc, &env.agent1, json!({"body": "changed body", "state": "retired"})).send().await.problem(403);
        unchanged(1).await;
        // 422: a reviewer's publish straight from draft, or of their own new text.
        env.patch(&loc, &reviewer, json!({"body": "changed body", "state": "published"})).send().await.problem(422);
        env.patch(&loc, &env.agent1, json!({"state": "review"})).send().await;
        env.patch(&loc, &reviewer, json!({"body": "changed body", "state": "published"})).send().await.problem(422);
        let versions = env.get(&format!("{loc}/versions"), &env.agent1).send().await.json();
        assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
        let a = env.get(&loc, &env.agent1).send().await.json();
        assert_eq!((&a["state"], &a["version"]), (&json!("review"), &json!(2)), "{a}");

        // An edit with a step its rules allow is one change.
        let r = env.patch(&loc, &author, json!({"category_id": null, "state": "published"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["state"], "published");
        // A step to where the edit leaves it is the edit's: an agent's edit
        // of a published article is a draft again, not a publish.
        let r = env.patch(&loc, &env.agent1, json!({"body": "1. Open the new portal", "state": "draft"})).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!((&r.json()["state"], &r.json()["current_version"]), (&json!("draft"), &json!(2)));
        env.patch(&loc, &env.agent1, json!({"body": "again", "state": "published"})).send().await.problem(403);
        assert_eq!(env.get(&loc, &env.agent1).send().await.json()["body"], "1. Open the new portal");
    })
    .await;
}

/// A published article whose next text waits in draft or review can be
/// retired: readers lose the live text at once. Reviving it makes a draft
/// that readers see only once a reviewer publishes it again (finding 9).
#[tokio::test]
async fn a_live_article_with_a_pending_draft_can_be_retired() {
    each_engine(|env| async move {
        let author = person(&env, "kate", "problem_manager").await;
        let reviewer = person(&env, "rob", "problem_manager").await;
        let a =
            publish(&env, &author, &reviewer, json!({"title": "VPN token", "body": "Old steps", "audience": "public"}))
                .await;
        let loc = format!("/api/v1/articles/{}", id_of(&a));
        for pending in ["draft", "review"] {
            let r = env.patch(&loc, &env.agent1, json!({"body": format!("Steps {pending}")})).send().await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            env.patch(&loc, &env.agent1, json!({"state": pending})).send().await;
            // Readers read the published version as published: nothing says a new text is pending.
            let seen = env.get(&loc, &env.req1).send().await.json();
            let (v, by) = if pending == "draft" { (1, author.id) } else { (3, env.agent1.id) };
            assert_eq!(
                (&seen["body"], &seen["state"], &seen["current_version"], &seen["current_author_id"]),
                (&json!("Old steps"), &json!("published"), &json!(v), &json!(by)),
                "{seen}"
            );
            env.patch(&loc, &env.agent1, json!({"state": "retired"})).send().await.problem(403);
            let r = env.patch(&loc, &reviewer, json!({"state": "retired"})).send().await;
            assert_eq!(r.status, StatusCode::OK, "{pending}: {}", r.text());
            env.get(&loc, &env.req1).send().await.problem(404);
            let found = env.get("/api/v1/articles?q=steps", &env.req1).send().await.json();
            assert_eq!(found["items"].as_array().unwrap().len(), 0, "{found}");

            // Reviving is anyone's, publishing again a reviewer's.
            let r = env.patch(&loc, &env.agent1, json!({"state": "draft"})).send().await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert_eq!(r.json()["published_version"], serde_json::Value::Null);
            env.get(&loc, &env.req1).send().await.problem(404);
            env.patch(&loc, &author, json!({"state": "review"})).send().await;
            let r = env.patch(&loc, &reviewer, json!({"state": "published", "body": "Old steps"})).send().await;
            r.problem(422);
            env.patch(&loc, &env.agent1, json!({"body": "Old steps"})).send().await;
            env.patch(&loc, &env.agent1, json!({"state": "review"})).send().await;
            let r = env.patch(&loc, &reviewer, json!({"state": "published"})).send().await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert_eq!(env.get(&loc, &env.req1).send().await.json()["body"], "Old steps");
        }
        // An article never published has no text to withdraw: it is not retired.
        let r = env.post("/api/v1/articles", &author, json!({"title": "Unpublished", "body": "x"})).send().await;
        let fresh = r.header("location").unwrap().to_string();
        env.patch(&fresh, &reviewer, json!({"state": "retired"})).send().await.problem(422);
    })
    .await;
}

/// Article creates honour `Idempotency-Key` as the other creates do: a
/// retry returns the first article, marked as replayed; the same key with
/// another body is refused (finding 10).
#[tokio::test]
async fn article_creates_honour_idempotency_keys() {
    each_engine(|env| async move {
        let body = json!({"title": "How to reset your VPN token", "body": "x", "audience": "public"});
        let post = |key: &'static str, body: serde_json::Value| {
            env.post("/api/v1/articles", &env.agent1, body).header("idempotency-key", key).send()
        };
        let first = post("art1", body.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        assert_eq!(first.header("idempotent-replayed"), None);
        let again = post("art1", body.clone()).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(id_of(&again.json()), id_of(&first.json()));
        post("art1", json!({"title": "Another", "body": "y"})).await.problem(422);
        let listed = env.get("/api/v1/articles", &env.agent1).send().await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

        // Drafting from an incident, twice under one key, makes one draft.
        let inc = env.incident(&env.req1, json!({"short_description": "Printer jams"})).await;
        let id = id_of(&inc);
        env.patch_ok(
            id,
            &env.agent1,
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Roller"}),
        )
        .await;
        let url = format!("/api/v1/incidents/{id}/draft-article");
        let draft = || env.post(&url, &env.agent1, json!({})).header("idempotency-key", "dr1").send();
        let (a, b) = (draft().await, draft().await);
        assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED), "{} {}", a.text(), b.text());
        assert_eq!((a.header("idempotent-replayed"), b.header("idempotent-replayed")), (None, Some("true")));
        assert_eq!(id_of(&a.json()), id_of(&b.json()));
        let listed = env.get("/api/v1/articles", &env.agent1).send().await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
        let other = env.post(&url, &env.agent1, json!({})).header("idempotency-key", "dr2").send().await;
        assert_eq!(other.status, StatusCode::CREATED, "a new key is a new draft: {}", other.text());
    })
    .await;
}

/// A restricted article is read by its groups: one made for groups its
/// writer is not in would be lost to them at once, and is refused.
#[tokio::test]
async fn a_restricted_article_names_a_group_of_its_writer() {
    each_engine(|env| async move {
        let other = env.state.store.create_group("Network".into(), String::new()).await.unwrap().id;
        let body = |groups: Vec<i64>| {
            json!({"title": "Core switch reset", "body": "Hold the button.", "audience": "restricted", "groups": groups})
        };
        env.post("/api/v1/articles", &env.agent1, body(vec![other])).send().await.invalid(&["groups"]);
        let r = env.post("/api/v1/articles", &env.agent1, body(vec![other, env.group])).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let loc = format!("/api/v1/articles/{}", id_of(&r.json()));
        env.patch(&loc, &env.agent1, json!({"groups": [other]})).send().await.invalid(&["groups"]);
        assert_eq!(env.get(&loc, &env.agent1).send().await.status, StatusCode::OK);
        // An administrator reads every article, and may.
        let r = env.post("/api/v1/articles", &env.admin, body(vec![other])).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    })
    .await;
}
