//! The knowledge pages in-process, without JavaScript: problems, known
//! errors, articles, search, the incident's knowledge panel, the portal's
//! "check for answers first" fallback and deflection, and the report.

#[path = "support/ui.rs"]
mod support;

use axum::http::StatusCode;
use support::*;
use varde_store::testing::databases;

#[tokio::test]
async fn knowledge_pages_work_without_javascript_and_respect_rights() {
    for db in databases().await {
        let e = db.engine;
        let ui = Ui::new(&db);
        let pam = ui.user("pam@example.org", "problem_manager").await;
        ui.user("rob@example.org", "problem_manager").await;
        ui.user("alex@example.org", "agent").await;
        let rita = ui.user("rita@example.org", "requester").await;
        let s = &ui.state.store;
        let pam_c = ui.login("pam@example.org").await;
        let pam_csrf = ui.csrf(&pam_c).await;
        let rob_c = ui.login("rob@example.org").await;
        let rob_csrf = ui.csrf(&rob_c).await;

        // An article through the forms: create, submit, the author cannot publish, the reviewer can.
        let r = ui
            .post(
                "/kb",
                &pam_c,
                &[
                    ("_csrf", &pam_csrf),
                    ("title", "Printer queue stuck"),
                    ("body", "Press **Clear queue**.\n\n<script>alert(1)</script>"),
                    ("audience", "public"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        assert_eq!(r.location, "/kb/KB0000001");
        let r = ui.post("/kb", &pam_c, &[("_csrf", &pam_csrf), ("title", ""), ("audience", "public")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(r.body.contains("aria-invalid") || r.body.contains("error-summary"), "{e}");
        let r = ui.post("/kb/KB0000001/state", &pam_c, &[("_csrf", &pam_csrf), ("state", "review")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        let r = ui.post("/kb/KB0000001/state", &pam_c, &[("_csrf", &pam_csrf), ("state", "published")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}: the author published their own article");
        let r = ui.post("/kb/KB0000001/state", &rob_c, &[("_csrf", &rob_csrf), ("state", "published")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert!(page.body.contains("<strong>Clear queue</strong>"), "{e}");
        assert!(!page.body.contains("<script>alert(1)"), "{e}: unsanitised Markdown");
        // A forged form without the CSRF token changes nothing.
        let r = ui.post("/kb/KB0000001/state", &rob_c, &[("state", "retired")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        // Files from the article page: uploaded, listed, downloadable; an empty one or a
        // forged upload is refused and adds nothing.
        let file = |content| ("file", "clear-queue.txt", "text/plain", content);
        let r =
            ui.upload("/kb/KB0000001/attachments", &pam_c, &[("_csrf", &pam_csrf)], file("1. Open the queue")).await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (StatusCode::SEE_OTHER, "/kb/KB0000001#attachments"),
            "{e}: {}",
            r.body
        );
        let r = ui.upload("/kb/KB0000001/attachments", &pam_c, &[("_csrf", &pam_csrf)], file("")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}: {}", r.body);
        assert!(r.body.contains("id=\"file-error\""), "{e}: {}", r.body);
        let r = ui.upload("/kb/KB0000001/attachments", &pam_c, &[], file("forged")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert_eq!(page.body.matches("clear-queue.txt</a>").count(), 1, "{e}: {}", page.body);
        let href = page.body.split("href=\"/attachments/").nth(1).unwrap().split('"').next().unwrap().to_string();
        let got = ui.get(&format!("/attachments/{href}"), &pam_c).await;
        assert_eq!((got.status, got.body.as_str()), (StatusCode::OK, "1. Open the queue"), "{e}");

        // The requester: the portal's no-JS "check for answers first" keeps the subject.
        let rita_c = ui.login("rita@example.org").await;
        let rita_csrf = ui.csrf(&rita_c).await;
        let r = ui.upload("/kb/KB0000001/attachments", &rita_c, &[("_csrf", &rita_csrf)], file("mine")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: a requester attached a file to an article");
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert_eq!(page.body.matches("clear-queue.txt</a>").count(), 1, "{e}: still the one file");
        let r = ui
            .post(
                "/portal/check",
                &rita_c,
                &[
                    ("_csrf", &rita_csrf),
                    ("short_description", "my printer queue is stuck"),
                    ("description", ""),
                    ("urgency", "2"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body.contains("href=\"/kb/KB0000001\""), "{e}: no suggestion offered");
        assert!(r.body.contains("value=\"my printer queue is stuck\""), "{e}: the subject was lost");
        // Each suggestion's form stands outside the report form (forms do not nest).
        let report_form = r.body.split("action=\"/portal\"").nth(1).unwrap().split("</form>").next().unwrap();
        assert!(!report_form.contains("/portal/deflect"), "{e}: a deflect form inside the report form");
        // The htmx fragment for typing.
        let r = ui.get("/portal/suggestions?short_description=printer", &rita_c).await;
        assert!(r.body.contains("/kb/KB0000001") && !r.body.contains("<html"), "{e}: {}", r.body);
        let r = ui
            .post(
                "/portal/deflect",
                &rita_c,
                &[("_csrf", &rita_csrf), ("article", "KB0000001"), ("subject", "my printer queue is stuck")],
            )
            .await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/portal?deflected=1"), "{e}");
        assert!(ui.get("/portal?deflected=1", &rita_c).await.body.contains("role=\"status\""), "{e}");
        assert_eq!(s.knowledge_report(0, i64::MAX).await.unwrap().deflections, 1, "{e}");
        assert_eq!(ui.get("/problems", &rita_c).await.status, StatusCode::FORBIDDEN, "{e}");
        let r = ui
            .post("/kb/KB0000001/feedback", &rita_c, &[("_csrf", &rita_csrf), ("helpful", "yes"), ("comment", "")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        // Neither yes nor no is no answer, not a "no".
        let r = ui.post("/kb/KB0000001/feedback", &rita_c, &[("_csrf", &rita_csrf), ("helpful", "maybe")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(s.article_by_number("KB0000001").await.unwrap().helpful_no, 0, "{e}");

        // Restricted groups and review/expiry dates through the edit form.
        let printing = s.create_group("Printing".into(), String::new()).await.unwrap();
        s.add_member(printing.id, pam).await.unwrap();
        let a = s.article_by_number("KB0000001").await.unwrap();
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert!(page.body.contains(&format!("name=\"group_{}\"", printing.id)), "{e}: no group choice offered");
        let version = a.version.to_string();
        let group_field = format!("group_{}", printing.id);
        let edit = |review: &'static str| {
            vec![
                ("_csrf", pam_csrf.clone()),
                ("version", version.clone()),
                ("title", a.title.clone()),
                ("body", a.body.clone()),
                ("audience", "restricted".to_string()),
                ("groups_shown", "1".to_string()),
                (group_field.as_str(), "1".to_string()),
                ("review_at", review.to_string()),
                ("expires_at", "2027-06-30".to_string()),
            ]
        };
        let bad = edit("15/01/2027");
        let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = ui.post("/kb/KB0000001", &pam_c, &bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}: {}", r.body);
        assert!(r.body.contains("review_at-error"), "{e}: the bad date is not named");
        assert_eq!(s.article(a.id).await.unwrap().version, a.version, "{e}: a refused edit changed the article");
        let good = edit("2027-01-15");
        let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = ui.post("/kb/KB0000001", &pam_c, &good).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        let after = s.article(a.id).await.unwrap();
        assert_eq!(after.groups, vec![printing.id], "{e}");
        assert_eq!(
            after.review_at,
            Some("2027-01-15T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond()),
            "{e}"
        );
        assert_eq!(
            after.expires_at,
            Some("2027-06-30T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond()),
            "{e}"
        );
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert!(page.body.contains("value=\"2027-01-15\""), "{e}: the review date is not shown back: {}", page.status);
        // A new text for a published article is a draft while the published
        // one stays live: a reviewer is offered to withdraw it.
        let now_at = after.version.to_string();
        let rewrite: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| match *k {
                "body" => (*k, "Restart the spooler."),
                "version" => (*k, now_at.as_str()),
                _ => (*k, *v),
            })
            .collect();
        let r = ui.post("/kb/KB0000001", &pam_c, &rewrite).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        let after = s.article(a.id).await.unwrap();
        assert_eq!(after.state, varde_domain::knowledge::ArticleState::Draft, "{e}");
        let page = ui.get("/kb/KB0000001", &pam_c).await;
        assert!(page.body.contains("value=\"retired\""), "{e}: no way to retire the live text: {}", page.status);
        let alex_c = ui.login("alex@example.org").await;
        assert_eq!(ui.get("/kb/KB0000001", &alex_c).await.status, StatusCode::NOT_FOUND, "{e}: outside the group");

        // A problem through the forms, with a linked incident; the agent's knowledge panel.
        let r = ui
            .post(
                "/problems",
                &pam_c,
                &[("_csrf", &pam_csrf), ("short_description", "Spooler hangs"), ("description", ""), ("priority", "2")],
            )
            .await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/problems/PRB0000001"), "{e}: {}", r.body);
        let r =
            ui.post("/problems", &pam_c, &[("_csrf", &pam_csrf), ("short_description", "x"), ("priority", "9")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (inc, _) = s
            .create_incident(
                varde_store::incidents::NewIncident {
                    short_description: "Printer queue stuck again".into(),
                    channel: varde_domain::incident::Channel::Portal,
                    ..varde_store::testing::incident(rita)
                },
                None,
            )
            .await
            .unwrap();
        let r =
            ui.post("/problems/PRB0000001/incidents", &pam_c, &[("_csrf", &pam_csrf), ("incident", &inc.number)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        let page = ui.get("/problems/PRB0000001", &pam_c).await;
        assert!(page.body.contains(&inc.number), "{e}");
        let r = ui
            .post(
                "/problems/PRB0000001",
                &pam_c,
                &[("_csrf", &pam_csrf), ("state", "known_error"), ("root_cause", ""), ("workaround", "")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}: a known error without cause");
        let panel = ui.get(&format!("/incidents/{}/knowledge", inc.number), &pam_c).await;
        assert_eq!(panel.status, StatusCode::OK, "{e}");
        assert!(panel.body.contains("KB0000001") && panel.body.contains("<html"), "{e}");
        let r = ui
            .post(
                &format!("/incidents/{}/knowledge", inc.number),
                &pam_c,
                &[("_csrf", &pam_csrf), ("record", "KB0000001"), ("kind", "article")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{e}: {}", r.body);
        assert!(s.links(inc.id).await.unwrap().iter().any(|l| l.kind == "resolved_by"), "{e}");

        // Search and report pages.
        let r = ui.get("/search?q=printing", &rita_c).await;
        assert!(r.body.contains("<mark>"), "{e}: {}", r.body);
        assert!(!r.body.contains("PRB0000001"), "{e}: a requester found a problem");
        assert_eq!(ui.get("/search?q=x&kind=cat", &pam_c).await.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        // The filters: open records only leaves the article out, and a bad
        // value is refused by name with the form kept.
        let all = ui.get("/search?q=printing", &pam_c).await;
        let open = ui.get("/search?q=printing&open=true", &pam_c).await;
        assert!(all.body.contains("KB0000001") && !open.body.contains("KB0000001"), "{e}: {}", open.body);
        assert!(open.body.contains(r#"<option value="true" selected>"#), "{e}: the choice is kept");
        let bad = ui.get("/search?q=printing&open=maybe", &pam_c).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let r = ui.get("/reports/knowledge", &pam_c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        assert!(r.body.contains("PRB0000001"), "{e}");
        for path in ["/kb", "/problems", "/problems?known_error=1", "/kb/KB0000001/diff"] {
            assert_eq!(ui.get(path, &pam_c).await.status, StatusCode::OK, "{e}: {path}");
        }
        let _ = pam;
    }
}

#[tokio::test]
async fn knowledge_report_page_takes_a_period_and_links_its_csv() {
    for db in databases().await {
        let e = db.engine;
        let ui = Ui::new(&db);
        let pam = ui.user("pam@example.org", "problem_manager").await;
        let rita = ui.user("rita@example.org", "requester").await;
        let s = &ui.state.store;
        let c = ui.login("pam@example.org").await;
        // A problem whose one incident was filed on 10 January 2026.
        let (inc, _) = s
            .create_incident(
                varde_store::incidents::NewIncident {
                    short_description: "Printer queue stuck".into(),
                    channel: varde_domain::incident::Channel::Portal,
                    ..varde_store::testing::incident(rita)
                },
                None,
            )
            .await
            .unwrap();
        let problem = varde_store::problems::NewProblem {
            short_description: "Print spooler hangs".into(),
            description: String::new(),
            created_by: pam,
            priority: 3,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            category_id: None,
        };
        let (p, _) = s.create_problem(problem, None).await.unwrap();
        s.link_incident_to_problem(p.id, inc.id, pam).await.unwrap();
        let filed = "2026-01-10T08:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond();
        varde_store::testing::backdate(s, inc.id, filed, None).await;

        // That day lists it, keeps the dates in the form and links the CSV of the same period.
        // A date as the end means through that day.
        let r = ui.get("/reports/knowledge?from=2026-01-10&to=2026-01-10", &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body.contains("PRB0000001"), "{e}: {}", r.body);
        assert!(
            r.body.contains(r#"name="from" value="2026-01-10""#) && r.body.contains(r#"name="to" value="2026-01-10""#),
            "{e}"
        );
        let csv = "/api/v1/reports/knowledge.csv?from=2026-01-10T00%3A00%3A00Z&#38;to=2026-01-11T00%3A00%3A00Z";
        assert!(r.body.contains(&format!(r#"href="{csv}""#)), "{e}: {}", r.body);
        let r = ui.get(&csv.replace("&#38;", "&"), &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(
            r.body.lines().nth(1).is_some_and(|l| l.starts_with(r#""PRB0000001","Print spooler hangs","#)),
            "{e}: {}",
            r.body
        );
        // The next day does not.
        let r = ui.get("/reports/knowledge?from=2026-01-11&to=2026-01-11", &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        assert!(!r.body.contains("PRB0000001"), "{e}: {}", r.body);
        // By default the last 30 days up to today, which the form shows.
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let r = ui.get("/reports/knowledge", &c).await;
        assert!(r.body.contains(&format!(r#"name="to" value="{today}""#)), "{e}: {}", r.body);
        assert!(r.body.contains("/api/v1/reports/knowledge.csv?from="), "{e}");
        // A bad date is named, and the form stays.
        let r = ui.get("/reports/knowledge?from=2026-13-01", &c).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(r.body.contains(r#"action="/reports/knowledge""#) && r.body.contains("2026-13-01"), "{e}: {}", r.body);
    }
}
