//! The web UI in-process: real routes, real store (SQLite, and PostgreSQL
//! when configured), requests sent with `oneshot`.

#[path = "support/ui.rs"]
mod support;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use support::*;
use varde_store::incidents::{Filter, Scope, Sort};
use varde_store::testing::databases;

#[tokio::test]
async fn login_succeeds_with_the_right_password_only() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        ui.user("req@example.org", "requester").await;

        // Not signed in: sent to the login page, which remembers where to go back.
        let r = ui.get("/queue/open?q=printer", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, "/login?next=%2Fqueue%2Fopen%3Fq%3Dprinter", "{}", db.engine);

        let bad = ui.post("/login", "", &[("email", "agent@example.org"), ("password", "wrong password")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(bad.cookie.is_none());
        assert!(bad.body.contains("The e-mail or password is wrong."), "{}", bad.body);
        assert!(bad.body.contains("aria-describedby=\"email-error\""));

        // A foreign `next` is ignored; a local one is followed.
        let form = [("email", "agent@example.org"), ("password", "correct horse battery"), ("next", "//evil.example/")];
        let ok = ui.post("/login", "", &form).await;
        assert_eq!((ok.status, ok.location.as_str()), (StatusCode::SEE_OTHER, "/"), "{}", db.engine);
        let cookie = ok.cookie.unwrap();
        assert_eq!(ui.get("/", &cookie).await.location, "/queue/mine");
        let queue = ui.get("/queue/mine", &cookie).await;
        assert_eq!(queue.status, StatusCode::OK);
        assert!(queue.body.contains("<html lang=\"en\">"));

        let req = ui.login("req@example.org").await;
        assert_eq!(ui.get("/", &req).await.location, "/portal");
        // Agent pages are not for requesters.
        assert_eq!(ui.get("/queue/open", &req).await.status, StatusCode::FORBIDDEN);

        // Logging out ends the session.
        let csrf = ui.csrf(&req).await;
        let out = ui.post("/logout", &req, &[("_csrf", &csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(ui.get("/portal", &req).await.status, StatusCode::SEE_OTHER, "{}", db.engine);
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    for db in databases().await {
        let ui = Ui::new(&db);
        let id = ui.user("req@example.org", "requester").await;
        let cookie = ui.login("req@example.org").await;
        let form = [("short_description", "Printer on fire"), ("urgency", "2")];

        let r = ui.post("/portal", &cookie, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", db.engine);
        assert!(r.content_type.starts_with("text/html"), "an HTML error page, not {}", r.content_type);
        let wrong = [("_csrf", "not-the-token"), ("short_description", "Printer on fire"), ("urgency", "2")];
        assert_eq!(ui.post("/portal", &cookie, &wrong).await.status, StatusCode::FORBIDDEN);
        let none = ui.state.store.list_incidents(Scope::All, &Filter::default(), Sort::Newest, None, 10).await.unwrap();
        assert!(none.is_empty(), "{}: a refused form created an incident", db.engine);

        let csrf = ui.csrf(&cookie).await;
        let ok = ui.post("/portal", &cookie, &[("_csrf", &csrf), form[0], form[1]]).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let made = ui.state.store.list_incidents(Scope::All, &Filter::default(), Sort::Newest, None, 10).await.unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].requester_id, id);
        assert_eq!(ok.location, format!("/portal/tickets/{}", made[0].number));
    }
}

#[tokio::test]
async fn a_requester_cannot_open_another_requesters_ticket() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ann@example.org", "requester").await;
        ui.user("bob@example.org", "requester").await;
        let ann = ui.login("ann@example.org").await;
        let bob = ui.login("bob@example.org").await;
        let csrf = ui.csrf(&ann).await;
        let made = ui
            .post("/portal", &ann, &[("_csrf", &csrf), ("short_description", "Ann's laptop"), ("urgency", "3")])
            .await;
        let path = made.location;
        assert!(path.starts_with("/portal/tickets/INC"), "{path}");

        let own = ui.get(&path, &ann).await;
        assert_eq!(own.status, StatusCode::OK);
        assert!(own.body.contains("Ann&#39;s laptop") || own.body.contains("Ann&#x27;s laptop"), "{}", own.body);

        let other = ui.get(&path, &bob).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", db.engine);
        assert!(!other.body.contains("laptop"), "the 404 page leaks the ticket");
        let bob_csrf = ui.csrf(&bob).await;
        let reply = ui.post(&format!("{path}/reply"), &bob, &[("_csrf", &bob_csrf), ("body", "mine now")]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        // Bob's list does not show it either.
        assert!(!ui.get("/portal", &bob).await.body.contains("laptop"));
    }
}

#[tokio::test]
async fn user_text_is_escaped() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let cookie = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&cookie).await;
        let evil = "<script>alert(1)</script>";
        let made = ui
            .post(
                "/incidents/new",
                &cookie,
                &[
                    ("_csrf", &csrf),
                    ("short_description", evil),
                    ("impact", "2"),
                    ("urgency", "2"),
                    ("channel", "phone"),
                ],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        for page in [ui.get(&made.location, &cookie).await, ui.get("/queue/all", &cookie).await] {
            assert_eq!(page.status, StatusCode::OK);
            assert!(!page.body.contains(evil), "{}: raw script tag in the page", db.engine);
            let shown = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&#60;script&#62;alert(1)&#60;/script&#62;"];
            assert!(shown.iter().any(|s| page.body.contains(s)), "{}", page.body);
        }
    }
}

#[tokio::test]
async fn a_stale_edit_shows_the_conflict_and_does_not_overwrite() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ann@example.org", "agent").await;
        ui.user("bob@example.org", "agent").await;
        let ann = ui.login("ann@example.org").await;
        let bob = ui.login("bob@example.org").await;
        let csrf = ui.csrf(&ann).await;
        let made = ui
            .post(
                "/incidents/new",
                &ann,
                &[("_csrf", &csrf), ("short_description", "VPN down"), ("impact", "2"), ("urgency", "2")],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        let path = made.location.clone();

        // Both open the edit form at the same version.
        let ann_page = ui.get(&path, &ann).await;
        let bob_page = ui.get(&path, &bob).await;
        let (ann_version, bob_version) = (hidden(&ann_page.body, "version"), hidden(&bob_page.body, "version"));
        assert_eq!(ann_version, bob_version);

        let bob_csrf = ui.csrf(&bob).await;
        let edit = |csrf: String, version: String, text: &'static str| {
            vec![
                ("_csrf".to_string(), csrf),
                ("version".to_string(), version),
                ("short_description".to_string(), text.to_string()),
                ("description".to_string(), String::new()),
                ("impact".to_string(), "2".to_string()),
                ("urgency".to_string(), "2".to_string()),
            ]
        };
        let bob_form = edit(bob_csrf, bob_version, "VPN down in Aarhus");
        let saved = ui.post(&path, &bob, &as_refs(&bob_form)).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);

        // Ann saves from her old form: refused, told why, shown both values.
        let ann_form = edit(csrf, ann_version, "VPN is slow");
        let stale = ui.post(&path, &ann, &as_refs(&ann_form)).await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", db.engine);
        assert!(stale.body.contains("Your changes were NOT saved"), "{}", stale.body);
        assert!(stale.body.contains("VPN is slow"), "her value is shown");
        assert!(stale.body.contains("VPN down in Aarhus"), "the current value is shown");

        let number = path.rsplit('/').next().unwrap();
        let now = ui.state.store.incident_by_number(number).await.unwrap();
        assert_eq!(now.short_description, "VPN down in Aarhus", "{}: the stale edit overwrote", db.engine);
    }
}

#[tokio::test]
async fn queues_answer_htmx_with_the_table_only() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let cookie = ui.login("agent@example.org").await;
        let full = ui.get("/queue/unassigned?state=new&priority=", &cookie).await;
        assert_eq!(full.status, StatusCode::OK, "{}", full.body);
        assert!(full.body.contains("<html"));
        let req = Request::get("/queue/unassigned?state=new")
            .header(header::COOKIE, &cookie)
            .header("hx-request", "true")
            .body(Body::empty())
            .unwrap();
        let frag = ui.send(req).await;
        assert_eq!(frag.status, StatusCode::OK);
        assert!(!frag.body.contains("<html") && frag.body.contains("id=\"results\""), "{}", frag.body);
        // A bad filter is explained, not a crash.
        let bad = ui.get("/queue/open?sort=sideways", &cookie).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(bad.body.contains("role=\"alert\""));
        assert_eq!(ui.get("/queue/nonsense", &cookie).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn repeated_login_failures_are_throttled_with_a_message() {
    let db = varde_store::testing::sqlite().await;
    let ui = Ui::new(&db);
    ui.user("agent@example.org", "agent").await;
    for _ in 0..5 {
        let r = ui.post("/login", "", &[("email", "agent@example.org"), ("password", "guess")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now even the right password is refused until the window passes.
    let r = ui.post("/login", "", &[("email", "agent@example.org"), ("password", "correct horse battery")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.cookie.is_none());
    assert!(r.body.contains("Too many failed attempts. Try again in"), "{}", r.body);
}

#[tokio::test]
async fn error_pages_are_html_with_the_request_id() {
    let db = varde_store::testing::sqlite().await;
    let ui = Ui::new(&db);
    ui.user("agent@example.org", "agent").await;
    let cookie = ui.login("agent@example.org").await;
    for path in ["/no/such/page", "/incidents/INC9999999"] {
        let r = ui.get(path, &cookie).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.content_type.starts_with("text/html"), "{path}: {}", r.content_type);
        assert!(r.body.contains("Request id"), "{path}: {}", r.body);
    }
    // The router's own refusals get a page too.
    let r = ui.get("/logout", &cookie).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.content_type.starts_with("text/html") && r.body.contains("Request id"), "{}", r.body);
}

#[tokio::test]
async fn the_requester_can_reopen_and_then_confirm_a_resolution() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("req@example.org", "requester").await;
        ui.user("agent@example.org", "agent").await;
        let req = ui.login("req@example.org").await;
        let agent = ui.login("agent@example.org").await;
        let rc = ui.csrf(&req).await;
        let ac = ui.csrf(&agent).await;
        let made =
            ui.post("/portal", &req, &[("_csrf", &rc), ("short_description", "Mail is slow"), ("urgency", "2")]).await;
        let number = made.location.rsplit('/').next().unwrap().to_string();
        let resolve = |version: String| {
            vec![
                ("_csrf".to_string(), ac.clone()),
                ("version".to_string(), version),
                ("action".to_string(), "resolve".to_string()),
                ("resolution_code".to_string(), "fixed".to_string()),
                ("resolution_notes".to_string(), "Mailbox moved.".to_string()),
            ]
        };
        let version = hidden(&ui.get(&format!("/incidents/{number}"), &agent).await.body, "version");
        // A refused step or entry shows again what was typed: the notes, the
        // code, and a work note as a work note, not a public reply.
        let no_code = [
            ("_csrf", ac.as_str()),
            ("version", version.as_str()),
            ("action", "resolve"),
            ("resolution_notes", "Moved the mailbox to the new server."),
        ];
        let r = ui.post(&format!("/incidents/{number}/state"), &agent, &no_code).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(
            r.body.contains(">Moved the mailbox to the new server.</textarea>"),
            "{}: the notes are lost",
            db.engine
        );
        let blank = [("_csrf", ac.as_str()), ("kind", "work_note"), ("body", "  ")];
        let r = ui.post(&format!("/incidents/{number}/journal"), &agent, &blank).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("value=\"work_note\" checked"), "{}: a work note came back as a reply", db.engine);
        let r = ui.post(&format!("/incidents/{number}/state"), &agent, &as_refs(&resolve(version))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        // Work notes never reach the portal.
        let note = [("_csrf", ac.as_str()), ("kind", "work_note"), ("body", "internal: user is VIP")];
        assert_eq!(ui.post(&format!("/incidents/{number}/journal"), &agent, &note).await.status, StatusCode::SEE_OTHER);

        let ticket = format!("/portal/tickets/{number}");
        let page = ui.get(&ticket, &req).await;
        assert!(page.body.contains("Mailbox moved."));
        assert!(!page.body.contains("user is VIP"), "{}: a work note is shown to the requester", db.engine);
        let version = hidden(&page.body, "version");
        let reopen = [("_csrf", rc.as_str()), ("version", version.as_str()), ("decision", "reopen")];
        assert_eq!(ui.post(&format!("{ticket}/decision"), &req, &reopen).await.status, StatusCode::SEE_OTHER);
        let now = ui.state.store.incident_by_number(&number).await.unwrap();
        assert_eq!(now.lifecycle.state.as_str(), "in_progress", "{}", db.engine);
        assert_eq!(now.lifecycle.reopen_count, 1);
        // No confirm button on an open ticket, and confirming is refused.
        let page = ui.get(&ticket, &req).await;
        assert!(!page.body.contains("value=\"confirm\""));
        let v = now.version.to_string();
        let confirm = [("_csrf", rc.as_str()), ("version", v.as_str()), ("decision", "confirm")];
        let r = ui.post(&format!("{ticket}/decision"), &req, &confirm).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", db.engine);

        let version = hidden(&ui.get(&format!("/incidents/{number}"), &agent).await.body, "version");
        ui.post(&format!("/incidents/{number}/state"), &agent, &as_refs(&resolve(version))).await;
        let version = hidden(&ui.get(&ticket, &req).await.body, "version");
        let confirm = [("_csrf", rc.as_str()), ("version", version.as_str()), ("decision", "confirm")];
        assert_eq!(ui.post(&format!("{ticket}/decision"), &req, &confirm).await.status, StatusCode::SEE_OTHER);
        let now = ui.state.store.incident_by_number(&number).await.unwrap();
        assert_eq!(now.lifecycle.state.as_str(), "closed", "{}", db.engine);
    }
}

#[tokio::test]
async fn attachments_upload_with_the_token_and_download_with_rights() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        ui.user("other@example.org", "requester").await;
        let agent = ui.login("agent@example.org").await;
        let other = ui.login("other@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let made = ui
            .post(
                "/incidents/new",
                &agent,
                &[("_csrf", &csrf), ("short_description", "Logs"), ("impact", "3"), ("urgency", "3")],
            )
            .await;
        let path = made.location.clone();
        let upload = |token: &str| {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{token}\r\n--XyZ\r\n\
                 Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n\
                 hello from the log\r\n--XyZ--\r\n"
            );
            Request::post(format!("{path}/attachments"))
                .header(header::COOKIE, &agent)
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
                .body(Body::from(body))
                .unwrap()
        };
        assert_eq!(ui.send(upload("wrong")).await.status, StatusCode::FORBIDDEN, "{}", db.engine);
        let ok = ui.send(upload(&csrf)).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let page = ui.get(&path, &agent).await;
        let start = page.body.find("href=\"/attachments/").expect("a download link") + "href=\"".len();
        let href = page.body[start..].split('"').next().unwrap().to_string();
        assert!(page.body.contains("notes.txt"));
        let file = ui.get(&href, &agent).await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(file.body, "hello from the log");
        // Someone who may not see the incident may not fetch its files.
        assert_eq!(ui.get(&href, &other).await.status, StatusCode::NOT_FOUND, "{}", db.engine);
        // Its requester (the agent, who filed it for themself) finds them in the portal.
        let number = path.rsplit('/').next().unwrap();
        let ticket = ui.get(&format!("/portal/tickets/{number}"), &agent).await;
        assert!(ticket.body.contains(&format!("href=\"{href}\"")), "{}: no file on the portal page", db.engine);
    }
}

#[tokio::test]
async fn admins_set_the_auto_close_period_and_bad_values_are_shown_not_saved() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ada@example.org", "admin").await;
        let admin = ui.login("ada@example.org").await;
        let csrf = ui.csrf(&admin).await;
        for bad in ["400", "soon", "-2"] {
            let r = ui.post("/admin/settings", &admin, &[("_csrf", &csrf), ("auto_close_days", bad)]).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {bad}", db.engine);
            assert!(r.body.contains("id=\"auto-close-days-error\""), "{}", r.body);
            assert!(r.body.contains(&format!("value=\"{bad}\"")), "what was typed is kept: {}", r.body);
        }
        assert_eq!(ui.state.store.setting("auto_close_days").await.unwrap().as_deref(), Some("5"), "{}", db.engine);
        let r = ui.post("/admin/settings", &admin, &[("_csrf", &csrf), ("auto_close_days", "10")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", db.engine);
        assert_eq!(ui.state.store.setting("auto_close_days").await.unwrap().as_deref(), Some("10"));
        let no_csrf = ui.post("/admin/settings", &admin, &[("auto_close_days", "1")]).await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        assert_eq!(ui.state.store.setting("auto_close_days").await.unwrap().as_deref(), Some("10"));
    }
}

#[tokio::test]
async fn admin_forms_validate_and_saved_filters_round_trip() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ada@example.org", "admin").await;
        let admin = ui.login("ada@example.org").await;
        let csrf = ui.csrf(&admin).await;
        let before = ui.state.store.priority_matrix().await.unwrap().cells();
        // A lower impact may not give a higher priority.
        let mut bad: Vec<(String, String)> = vec![("_csrf".into(), csrf.clone())];
        for i in 0..3 {
            for u in 0..3 {
                bad.push((format!("c{i}{u}"), if i == 2 && u == 2 { "1" } else { "3" }.into()));
            }
        }
        let r = ui.post("/admin/matrix", &admin, &as_refs(&bad)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("lower impact or urgency must never give a higher priority"), "{}", r.body);
        assert_eq!(ui.state.store.priority_matrix().await.unwrap().cells(), before, "a refused matrix was saved");
        let mut junk = bad.clone();
        junk[1].1 = "x".into();
        let r = ui.post("/admin/matrix", &admin, &as_refs(&junk)).await;
        assert!(r.body.contains("aria-describedby=\"c00-error\""), "{}", r.body);

        let r =
            ui.post("/admin/groups", &admin, &[("_csrf", &csrf), ("name", "Service desk"), ("description", "")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let dup =
            ui.post("/admin/groups", &admin, &[("_csrf", &csrf), ("name", "Service desk"), ("description", "")]).await;
        assert_eq!(dup.status, StatusCode::CONFLICT, "{}", db.engine);
        // A refused new user keeps what was typed.
        let form = [("_csrf", csrf.as_str()), ("email", "ada@example.org"), ("name", "Ada Again"), ("role", "agent")];
        let r = ui.post("/admin/users", &admin, &form).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", db.engine);
        assert!(r.body.contains("value=\"Ada Again\""), "{}: the name is lost", db.engine);
        assert!(r.body.contains("<option value=\"agent\" selected>"), "{}: the role is lost", db.engine);
        // The group's manager: chosen from the staff, cleared with "none";
        // a requester is not offered and junk is refused by name.
        ui.user("rita@example.org", "requester").await;
        let desk = ui.state.store.groups().await.unwrap().into_iter().find(|g| g.name == "Service desk").unwrap();
        let ada = ui.state.store.user_by_email("ada@example.org").await.unwrap();
        let page = ui.get("/admin", &admin).await;
        assert!(page.body.contains(&format!("<option value=\"{}\">", ada.id)), "{}", page.body);
        assert!(!page.body.contains(">Name of rita@example.org</option>"), "a requester is not offered");
        let url = format!("/admin/groups/{}/manager", desk.id);
        let set = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", &ada.id.to_string())]).await;
        assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
        let manager =
            |gs: Vec<varde_store::directory::Group>| gs.into_iter().find(|g| g.id == desk.id).unwrap().manager_id;
        assert_eq!(manager(ui.state.store.groups().await.unwrap()), Some(ada.id), "{}", db.engine);
        let page = ui.get("/admin", &admin).await;
        assert!(page.body.contains(&format!("<option value=\"{}\" selected>", ada.id)), "{}", page.body);
        let junk = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", "x")]).await;
        assert_eq!(junk.status, StatusCode::UNPROCESSABLE_ENTITY);
        let nobody = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", "999999")]).await;
        assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nobody.body);
        let rita = ui.state.store.user_by_email("rita@example.org").await.unwrap();
        let req = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", &rita.id.to_string())]).await;
        assert_eq!(req.status, StatusCode::UNPROCESSABLE_ENTITY, "a requester as manager: {}", req.body);
        assert_eq!(manager(ui.state.store.groups().await.unwrap()), Some(ada.id), "refused changes nothing");
        // A manager who leaves (deactivated) is still shown as the manager, not as "none".
        let bob = ui.user("bob@example.org", "agent").await;
        let r = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", &bob.to_string())]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let off = varde_store::directory::UserChanges { active: Some(false), ..Default::default() };
        ui.state.store.update_user(bob, None, off, ada.id).await.unwrap();
        let page = ui.get("/admin", &admin).await;
        assert!(page.body.contains(&format!("<option value=\"{bob}\" selected>")), "{}", page.body);
        let clear = ui.post(&url, &admin, &[("_csrf", &csrf), ("user_id", "")]).await;
        assert_eq!(clear.status, StatusCode::SEE_OTHER);
        assert_eq!(manager(ui.state.store.groups().await.unwrap()), None);
        let user = ui
            .post(
                "/admin/users",
                &admin,
                &[("_csrf", &csrf), ("email", "not-an-email"), ("name", "X"), ("role", "agent"), ("password", "")],
            )
            .await;
        assert_eq!(user.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(user.body.contains("id=\"email-error\""), "{}", user.body);
        // Every role is offered, the problem manager included.
        let page = ui.get("/admin", &admin).await;
        assert!(page.body.contains("<option value=\"problem_manager\">Problem manager</option>"), "{}", page.body);

        // Saved filters: only queue views, listed in the sidebar, deletable.
        let evil = ui
            .post("/queue/filters", &admin, &[("_csrf", &csrf), ("name", "x"), ("query", "https://evil.example")])
            .await;
        assert_eq!(evil.status, StatusCode::UNPROCESSABLE_ENTITY);
        let query = "/queue/open?priority=1";
        let saved =
            ui.post("/queue/filters", &admin, &[("_csrf", &csrf), ("name", "Critical"), ("query", query)]).await;
        assert_eq!((saved.status, saved.location.as_str()), (StatusCode::SEE_OTHER, query));
        let page = ui.get("/queue/mine", &admin).await;
        assert!(page.body.contains("href=\"/queue/open?priority=1\">Critical</a>"), "{}", page.body);
        // Saved again under its name, the view shows the new list.
        let query = "/queue/open?priority=1&state=new";
        let saved =
            ui.post("/queue/filters", &admin, &[("_csrf", &csrf), ("name", "Critical"), ("query", query)]).await;
        assert_eq!((saved.status, saved.location.as_str()), (StatusCode::SEE_OTHER, query));
        let filters = ui.state.store.saved_filters(1).await.unwrap();
        assert_eq!(filters.len(), 1, "{}", db.engine);
        assert_eq!(filters[0].query, query, "{}", db.engine);
        let del = ui.post(&format!("/queue/filters/{}/delete", filters[0].id), &admin, &[("_csrf", &csrf)]).await;
        assert_eq!(del.status, StatusCode::SEE_OTHER);
        assert!(ui.state.store.saved_filters(1).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn queues_page_with_a_cursor() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let cookie = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&cookie).await;
        for n in 0..27 {
            let text = format!("Case number {n:02}");
            let form =
                [("_csrf", csrf.as_str()), ("short_description", text.as_str()), ("impact", "3"), ("urgency", "3")];
            assert_eq!(ui.post("/incidents/new", &cookie, &form).await.status, StatusCode::SEE_OTHER);
        }
        let first = ui.get("/queue/open?sort=oldest", &cookie).await;
        assert!(first.body.contains("Case number 00") && first.body.contains("Case number 24"));
        assert!(!first.body.contains("Case number 25"), "{}: the page is not limited", db.engine);
        let rel = first.body.find("rel=\"next\"").expect("a next page link");
        let tag = first.body[..rel].rfind("<a ").unwrap();
        let href = first.body[tag..].split("href=\"").nth(1).unwrap().split('"').next().unwrap();
        let next = href.replace("&#38;", "&").replace("&amp;", "&");
        assert!(next.starts_with("/queue/open?sort=oldest&cursor="), "{next}");
        let second = ui.get(&next, &cookie).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.body);
        assert!(second.body.contains("Case number 25") && second.body.contains("Case number 26"));
        assert!(!second.body.contains("Case number 24"), "{}: pages overlap", db.engine);
        assert!(!second.body.contains("rel=\"next\""), "the last page offers no next page");
        // A forged cursor is an error the person can read, not a crash.
        let bad = ui.get("/queue/open?cursor=garbage", &cookie).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one() {
    let db = varde_store::testing::sqlite().await;
    let ui = Ui::new(&db);
    ui.user("ann@example.org", "requester").await;
    let cookie = ui.login("ann@example.org").await;
    let csrf = ui.csrf(&cookie).await;
    let wrong = [("_csrf", csrf.as_str()), ("current_password", "nope"), ("new_password", "a much better passphrase")];
    let r = ui.post("/account/password", &cookie, &wrong).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"current_password-error\""), "{}", r.body);
    let right = [
        ("_csrf", csrf.as_str()),
        ("current_password", "correct horse battery"),
        ("new_password", "a much better passphrase"),
    ];
    let r = ui.post("/account/password", &cookie, &right).await;
    assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/account/password?done=1"));
    let old = ui.post("/login", "", &[("email", "ann@example.org"), ("password", "correct horse battery")]).await;
    assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new = ui.post("/login", "", &[("email", "ann@example.org"), ("password", "a much better passphrase")]).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_create_form_resolves_the_requester_by_email() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let rita = ui.user("rita@example.org", "requester").await;
        let cookie = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&cookie).await;
        let form = |email: &'static str| {
            vec![
                ("_csrf".to_string(), csrf.clone()),
                ("requester_email".to_string(), email.to_string()),
                ("short_description".to_string(), "Phone call: no VPN".to_string()),
                ("impact".to_string(), "1".to_string()),
                ("urgency".to_string(), "1".to_string()),
                ("channel".to_string(), "phone".to_string()),
            ]
        };
        let bad = ui.post("/incidents/new", &cookie, &as_refs(&form("nobody@example.org"))).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(bad.body.contains("no user has this e-mail"));
        assert!(bad.body.contains("value=\"Phone call: no VPN\""), "what was typed is kept");
        let ok = ui.post("/incidents/new", &cookie, &as_refs(&form("Rita@Example.org"))).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let number = ok.location.rsplit('/').next().unwrap();
        let i = ui.state.store.incident_by_number(number).await.unwrap();
        assert_eq!((i.requester_id, i.priority.get()), (rita, 1), "{}", db.engine);
    }
}

/// CMDB list views are saved like queue views: listed on the CMDB list page
/// (not in the queue sidebar), deleted from there; nothing else is saved.
#[tokio::test]
async fn cmdb_views_are_saved_and_listed_with_the_cmdb() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let view = "/cmdb?class=4&q=web";
        let saved =
            ui.post("/queue/filters", &agent, &[("_csrf", &csrf), ("name", "Web servers"), ("query", view)]).await;
        assert_eq!(
            (saved.status, saved.location.as_str()),
            (StatusCode::SEE_OTHER, view),
            "{}: {}",
            db.engine,
            saved.body
        );
        for bad in ["/cmdbx?q=1", "/cmdb//evil.example", "https://evil.example/cmdb"] {
            let r = ui.post("/queue/filters", &agent, &[("_csrf", &csrf), ("name", "x"), ("query", bad)]).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        let page = ui.get("/cmdb", &agent).await;
        assert!(
            page.body.contains("href=\"/cmdb?class=4&#38;q=web\">Web servers</a>")
                || page.body.contains("href=\"/cmdb?class=4&amp;q=web\">Web servers</a>"),
            "{}",
            page.body
        );
        let queue = ui.get("/queue/mine", &agent).await;
        assert!(!queue.body.contains("Web servers"), "a CMDB view in the queue sidebar");
        let id = ui.state.store.saved_filters(1).await.unwrap()[0].id;
        let del = ui.post(&format!("/queue/filters/{id}/delete"), &agent, &[("_csrf", &csrf)]).await;
        assert_eq!((del.status, del.location.as_str()), (StatusCode::SEE_OTHER, "/cmdb"));
        assert!(ui.state.store.saved_filters(1).await.unwrap().is_empty(), "{}", db.engine);
    }
}

/// A relation made on the CI page carries attributes typed as `name=value`
/// pairs and shows them; a piece that is not `name=value` is refused by
/// name and adds no relation.
#[tokio::test]
async fn relations_from_the_ci_page_carry_attributes() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let payroll = application(s, "Payroll app").await;
        let ledger = application(s, "Ledger app").await;
        let url = format!("/cmdb/cis/{}/relations", payroll.id);
        let form = |attrs: &'static str| {
            let other = ledger.id.to_string();
            move |csrf: &str| {
                vec![
                    ("_csrf".to_string(), csrf.to_string()),
                    ("kind".into(), "depends_on".into()),
                    ("other".into(), other.clone()),
                    ("direction".into(), "outgoing".into()),
                    ("attributes".into(), attrs.into()),
                ]
            }
        };
        let bad = form("port=5432; oops")(&csrf);
        let r = ui.post(&url, &agent, &as_refs(&bad)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"attributes-error\""), "{}", r.body);
        // What was typed is kept for mending.
        assert!(r.body.contains("value=\"port=5432; oops\""), "{}: {}", db.engine, r.body);
        assert!(r.body.contains(&format!("name=\"other\" required value=\"{}\"", ledger.id)), "{}", r.body);
        assert!(r.body.contains("<option value=\"depends_on\" selected>"), "{}", r.body);
        // A relation to itself is told by the field that names the other CI.
        let own = vec![
            ("_csrf".to_string(), csrf.clone()),
            ("kind".into(), "depends_on".into()),
            ("other".into(), payroll.id.to_string()),
            ("direction".into(), "incoming".into()),
            ("attributes".into(), String::new()),
        ];
        let r = ui.post(&url, &agent, &as_refs(&own)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"other-error\""), "{}: {}", db.engine, r.body);
        assert!(r.body.contains("<option value=\"incoming\" selected>"), "{}", r.body);
        assert!(
            s.ci_relations(payroll.id, None).await.unwrap().is_empty(),
            "{}: a refused form added a relation",
            db.engine
        );
        let good = form("port=5432; protocol = tcp")(&csrf);
        let r = ui.post(&url, &agent, &as_refs(&good)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let rels = s.ci_relations(payroll.id, None).await.unwrap();
        assert_eq!(rels.len(), 1);
        assert_eq!(rels[0].attributes, serde_json::json!({ "port": "5432", "protocol": "tcp" }), "{}", db.engine);
        let page = ui.get(&format!("/cmdb/cis/{}", payroll.id), &agent).await;
        assert!(page.body.contains("(port: 5432, protocol: tcp)"), "{}", page.body);

        // A name two CIs share names neither: the form says so, with their
        // ids, rather than relating one of them.
        let twin_a = application(s, "Mail").await;
        let server = s.ci_classes().await.unwrap().by_name("Location").unwrap().id;
        let twin_b = s
            .create_ci(
                varde_store::cmdb::CiFields { class_id: server, name: "mail".into(), ..Default::default() },
                varde_store::cmdb::ChangeContext::default(),
            )
            .await
            .unwrap();
        let by_name = vec![
            ("_csrf".to_string(), csrf.clone()),
            ("kind".into(), "connects_to".into()),
            ("other".into(), "Mail".into()),
            ("direction".into(), "outgoing".into()),
            ("attributes".into(), String::new()),
        ];
        let r = ui.post(&url, &agent, &as_refs(&by_name)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", db.engine, r.body);
        assert!(
            r.body.contains(&format!("2 CIs have this name (#{}, #{})", twin_a.id, twin_b.id)),
            "{}: {}",
            db.engine,
            r.body
        );
        assert_eq!(s.ci_relations(payroll.id, None).await.unwrap().len(), 1, "{}", db.engine);
    }
}

/// A problem's page shows its affected CIs; they are linked and unlinked on
/// the same page an incident's are, and the CI lists the problem, linked
/// to the problem's page.
#[tokio::test]
async fn problems_show_and_change_their_affected_cis() {
    use varde_store::problems::NewProblem;
    for db in databases().await {
        let ui = Ui::new(&db);
        let agent_id = ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let ci = application(s, "Payroll app").await;
        let new = NewProblem {
            short_description: "Payroll times out".into(),
            description: String::new(),
            created_by: agent_id,
            priority: 3,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            category_id: None,
        };
        let number = s.create_problem(new, None).await.unwrap().0.number;
        let page = format!("/cmdb/problems/{number}");
        let r = ui.post(&page, &agent, &[("_csrf", &csrf), ("ci", "Payroll app")]).await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, page.as_str()), "{}", r.body);
        let problem = ui.get(&format!("/problems/{number}"), &agent).await;
        assert!(problem.body.contains(&format!("<a href=\"/cmdb/cis/{}\">Payroll app</a>", ci.id)), "{}", problem.body);
        assert!(problem.body.contains(&format!("href=\"{page}\"")), "{}", problem.body);
        let on_ci = ui.get(&format!("/cmdb/cis/{}", ci.id), &agent).await;
        assert!(on_ci.body.contains(&format!("<a href=\"/problems/{number}\">{number}</a>")), "{}", on_ci.body);
        let remove = format!("{page}/cis/{}/remove", ci.id);
        assert!(ui.get(&page, &agent).await.body.contains(&format!("action=\"{remove}\"")), "no remove button");
        let r = ui.post(&remove, &agent, &[("_csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let listed = ui.get(&page, &agent).await;
        assert!(!listed.body.contains("Payroll app"), "{}: {}", db.engine, listed.body);
    }
}

/// The SLA report page takes a period of days, the end day included, keeps
/// the dates in its form and links the CSV of the same period.
#[tokio::test]
async fn sla_report_page_takes_a_period_through_its_end_day() {
    for db in databases().await {
        let e = db.engine;
        let ui = Ui::new(&db);
        let who = ui.user("agent@example.org", "agent").await;
        let s = &ui.state.store;
        let c = ui.login("agent@example.org").await;
        let gold =
            serde_json::json!({ "name": "Gold", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 60 }] });
        s.create_agreement(serde_json::from_value(gold).unwrap(), who).await.unwrap();
        let (i, _) = s.create_incident(varde_store::testing::incident(who), None).await.unwrap();
        // Its clock stopped, breached, at noon on 10 January 2026.
        let noon = "2026-01-10T12:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond();
        varde_store::testing::clocks_ran(s, i.id, "sla", noon - 2 * 3_600_000_000, Some(noon)).await;

        let r = ui.get("/reports/sla?from=2026-01-10&to=2026-01-10", &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body.contains(&i.number), "{e}: the day's breach is missing: {}", r.body);
        assert!(
            r.body.contains(r#"name="from" value="2026-01-10""#) && r.body.contains(r#"name="to" value="2026-01-10""#),
            "{e}: {}",
            r.body
        );
        let csv = "/api/v1/reports/sla.csv?from=2026-01-10&#38;to=2026-01-10&#38;group_by=agreement&#38;kind=sla";
        assert!(r.body.contains(&format!(r#"href="{csv}""#)), "{e}: {}", r.body);
        let r = ui.get(&csv.replace("&#38;", "&"), &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body.contains("Gold"), "{e}: {}", r.body);
        // The page reports OLAs when asked, and Gold is an SLA.
        let r = ui.get("/reports/sla?from=2026-01-10&to=2026-01-10&kind=ola", &c).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(!r.body.contains(&i.number) && r.body.contains(r#"<option value="ola" selected>"#), "{e}: {}", r.body);
        // The day before and the day after do not hold it.
        for day in ["2026-01-09", "2026-01-11"] {
            let r = ui.get(&format!("/reports/sla?from={day}&to={day}"), &c).await;
            assert_eq!(r.status, StatusCode::OK, "{e}");
            assert!(!r.body.contains(&i.number), "{e}: {day}: {}", r.body);
        }
    }
}

/// The new-CI form names every fault at once: a cost that is no number does
/// not hide an empty name or a bad attribute.
#[tokio::test]
async fn the_new_ci_form_names_every_fault_at_once() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let server = ui.state.store.ci_classes().await.unwrap().by_name("Server").unwrap().id.to_string();
        let form = [
            ("_csrf", csrf.as_str()),
            ("class_id", server.as_str()),
            ("name", ""),
            ("cost", "abc"),
            ("purchased_on", "2026-02-30"),
            ("attr.ram_gb", "lots"),
        ];
        let r = ui.post("/cmdb/new", &agent, &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        for id in ["cost-error", "name-error", "purchased_on-error", "Ram gb: "] {
            assert!(r.body.contains(id), "{}: {id} not named", db.engine);
        }
        // The attribute's own input says it is the one at fault, and where.
        assert!(
            r.body.contains(r#"aria-invalid="true" aria-describedby="attr-ram_gb-error""#),
            "{}: {}",
            db.engine,
            r.body
        );
        // A CI viewed as of before it was made is shown as it is, saying so.
        let made = ui
            .post(
                "/cmdb/new",
                &agent,
                &[
                    ("_csrf", csrf.as_str()),
                    ("class_id", server.as_str()),
                    ("name", "web-9"),
                    ("attr.hostname", "web-9"),
                    ("attr.domain", "corp"),
                ],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}: {}", db.engine, made.body);
        let page = ui.get(&format!("{}?as_of=2020-01-01", made.location), &agent).await;
        assert_eq!(page.status, StatusCode::OK, "{}", db.engine);
        assert!(page.body.contains("did not exist yet"), "{}", db.engine);
    }
}

/// The incident's link and CI forms keep what was typed when refused.
#[tokio::test]
async fn refused_link_forms_keep_what_was_typed() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let made = ui
            .post(
                "/incidents/new",
                &agent,
                &[("_csrf", csrf.as_str()), ("short_description", "Mail"), ("impact", "2"), ("urgency", "2")],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}: {}", db.engine, made.body);
        let number = made.location.rsplit('/').next().unwrap().to_string();
        let form = [("_csrf", csrf.as_str()), ("to", "INC9999999"), ("kind", "caused_by")];
        let r = ui.post(&format!("/incidents/{number}/links"), &agent, &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("value=\"INC9999999\""), "{}: the number is lost", db.engine);
        assert!(r.body.contains("<option value=\"caused_by\" selected>"), "{}: the kind is lost", db.engine);
        let r = ui
            .post(&format!("/cmdb/incidents/{number}"), &agent, &[("_csrf", csrf.as_str()), ("ci", "no-such-ci")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.engine);
        assert!(r.body.contains("value=\"no-such-ci\""), "{}: the CI is lost", db.engine);
    }
}

/// An incident's history reads as words: field labels, people, groups, the
/// affected CI and coded values by name, never the ids the trail stores.
#[tokio::test]
async fn incident_history_names_what_changed() {
    for db in databases().await {
        let ui = Ui::new(&db);
        let agent_id = ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let ci = application(s, "Payroll app").await;
        let made = ui
            .post(
                "/incidents/new",
                &agent,
                &[("_csrf", &csrf), ("short_description", "Payslips missing"), ("impact", "2"), ("urgency", "2")],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        let path = made.location.clone();
        let number = path.rsplit('/').next().unwrap().to_string();
        let on_ci = format!("/cmdb/incidents/{number}");
        let r = ui.post(&on_ci, &agent, &[("_csrf", &csrf), ("ci", "Payroll app")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        // The incident itself shows what it affects and the services at risk.
        s.create_service("Payroll".into(), String::new()).await.unwrap();
        let service_class = s.ci_classes().await.unwrap().by_name("Service").unwrap().id;
        let f = varde_store::cmdb::CiFilter { class_ids: vec![service_class], ..Default::default() };
        let service_ci = s.list_cis(&f, None, 10).await.unwrap().into_iter().find(|c| c.name == "Payroll").unwrap();
        s.add_ci_relation(
            service_ci.id,
            ci.id,
            varde_domain::cmdb::RelationKind::DependsOn,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
        let page = ui.get(&path, &agent).await.body;
        let section = page.split("id=\"cis-h\"").nth(1).expect("an affected CIs section");
        assert!(
            section.contains(&format!("<a href=\"/cmdb/cis/{}\">Payroll app</a>", ci.id)),
            "{}: {section}",
            db.engine
        );
        assert!(section.contains("Payroll ← Payroll app"), "{}: {section}", db.engine);
        let payroll = s.create_group("Payroll team".into(), String::new()).await.unwrap();
        let bea = ui.user("bea@example.org", "agent").await;
        s.add_member(payroll.id, bea).await.unwrap();
        let version = hidden(&ui.get(&path, &agent).await.body, "version");
        let group = payroll.id.to_string();
        let her = bea.to_string();
        let edit = [
            ("_csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("short_description", "Payslips missing"),
            ("description", ""),
            ("impact", "1"),
            ("urgency", "2"),
            ("assignment_group_id", group.as_str()),
            ("assignee_id", her.as_str()),
        ];
        let saved = ui.post(&path, &agent, &edit).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let mut other = varde_store::testing::incident(agent_id);
        other.short_description = "Payroll slow".into();
        let other = s.create_incident(other, None).await.unwrap().0;
        let this = s.incident_by_number(&number).await.unwrap();
        s.add_link(this.id, other.id, varde_domain::record::LinkKind::RelatesTo, agent_id).await.unwrap();
        let watcher = ui.user("cleo@example.org", "requester").await;
        s.add_watcher(this.id, watcher, agent_id).await.unwrap();
        let acme = s.create_supplier(varde_store::sla::SupplierInput { name: "Acme Hosting".into() }).await.unwrap();
        s.set_supplier(this.id, Some(acme.id), agent_id).await.unwrap();
        varde_store::testing::resolve(s, this.id, agent_id).await;

        let page = ui.get(&path, &agent).await.body;
        let start = page.find("id=\"history\"").expect("a history section");
        let history = &page[start..];
        let words = [
            "Affected CI",
            "Payroll app",
            "Impact",
            "2 – Medium",
            "1 – High",
            "Priority",
            "Assignment group",
            "Payroll team",
            "Assignee",
            "Name of bea@example.org",
            "Relates to",
            other.number.as_str(),
            "Watcher",
            "Name of cleo@example.org",
            "Supplier",
            "Acme Hosting",
            "Resolved",
        ];
        for words in words {
            assert!(history.contains(words), "{}: no {words:?} in {history}", db.engine);
        }
        for code in [">impact<", ">ci<", ">priority<", ">assignee_id<", ">link<", "relates_to", "→ resolved<"] {
            assert!(!history.contains(code), "{}: the code {code} shows in {history}", db.engine);
        }
        for id in [ci.id, payroll.id, bea, other.id, watcher, acme.id] {
            assert!(!history.contains(&format!("→ {id}<")), "{}: {id} shows as an id: {history}", db.engine);
        }
    }
}

/// The CI list pages forward by 50 and, from any later page, back to the
/// first.
#[tokio::test]
async fn the_ci_list_pages_forward_and_back_to_the_first() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let s = &ui.state.store;
        let mut app = 0;
        for n in 0..55 {
            app = application(s, &format!("App {n:02}")).await.class_id;
        }
        let first = ui.get(&format!("/cmdb?class={app}"), &agent).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert!(!first.body.contains(">First page<"), "{}: the first page links to itself", db.engine);
        let next = first.body.split("rel=\"next\"").next().unwrap();
        let href = next
            .rsplit("href=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        assert!(href.contains("after="), "{}: no next page in {}", db.engine, first.body);
        let second = ui.get(&href, &agent).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.body);
        let pager = second.body.split("class=\"pager\"").nth(1).unwrap_or("").split("</nav>").next().unwrap();
        assert!(pager.contains(&format!("href=\"/cmdb?class={app}\"")), "{}: no way back: {}", db.engine, second.body);
        assert!(!second.body.contains("rel=\"next\""), "{}: a third page of 55", db.engine);
    }
}

/// A CI of the shipped Application class, named `name`.
async fn application(s: &varde_store::Store, name: &str) -> varde_store::cmdb::Ci {
    use varde_store::cmdb::{ChangeContext, CiFields};
    let app = s.ci_classes().await.unwrap().by_name("Application").unwrap().id;
    s.create_ci(CiFields { class_id: app, name: name.into(), ..Default::default() }, ChangeContext::default())
        .await
        .unwrap()
}

/// An administrator edits a class on its page: its attributes show as they
/// are typed (labels too), so saving keeps what is not changed; a change
/// that would strand CIs is refused with the reason and what was typed.
#[tokio::test]
async fn an_administrator_edits_a_class_in_the_browser() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("ada@example.org", "admin").await;
        ui.user("agent@example.org", "agent").await;
        let admin = ui.login("ada@example.org").await;
        let csrf = ui.csrf(&admin).await;
        let s = &ui.state.store;
        let software = s.ci_classes().await.unwrap().by_name("Software").unwrap().clone();
        let list = ui.get("/cmdb/classes", &admin).await.body;
        let edit = format!("/cmdb/classes/{}/edit", software.id);
        assert!(list.contains(&format!("href=\"{edit}\"")), "{}", db.engine);
        let form = ui.get(&edit, &admin).await.body;
        let attrs = hidden_textarea(&form, "attributes");
        assert!(attrs.contains("vendor:text:label=Vendor"), "{}: {attrs}", db.engine);
        let version = hidden(&form, "version");
        let more = format!("{attrs}\nlicence:text:unique:label=Licence key: main");
        let r = ui
            .post(
                &edit,
                &admin,
                &[
                    ("_csrf", &csrf),
                    ("version", &version),
                    ("name", "Software"),
                    ("description", "Programs"),
                    ("attributes", &more),
                    ("identify_by", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}: {}", db.engine, r.body);
        let now = s.ci_classes().await.unwrap().get(software.id).unwrap().clone();
        assert_eq!(now.description, "Programs", "{}", db.engine);
        let labels: Vec<(&str, &str)> = now.attributes.iter().map(|a| (a.name.as_str(), a.label.as_str())).collect();
        assert_eq!(
            labels,
            [("vendor", "Vendor"), ("version", "Version"), ("licence", "Licence key: main")],
            "{}",
            db.engine
        );

        // Two CIs share a licence value: making another attribute unique is
        // fine, but taking `licence` out while CIs hold it is refused.
        let app = s.ci_classes().await.unwrap().by_name("Application").unwrap().id;
        let attrs = serde_json::json!({ "licence": "L-1" });
        let f = CiFields {
            class_id: app,
            name: "Ledger".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        s.create_ci(f, ChangeContext::default()).await.unwrap();
        let form = ui.get(&edit, &admin).await.body;
        let version = hidden(&form, "version");
        let fewer = "vendor:text:label=Vendor\nversion:text:label=Version";
        let r = ui
            .post(
                &edit,
                &admin,
                &[
                    ("_csrf", &csrf),
                    ("version", &version),
                    ("name", "Software"),
                    ("description", "Programs"),
                    ("attributes", fewer),
                    ("identify_by", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", db.engine, r.body);
        assert!(r.body.contains(fewer.split('\n').next().unwrap()), "{}: what was typed is kept", db.engine);
        assert_eq!(s.ci_classes().await.unwrap().get(software.id).unwrap().attributes.len(), 3, "{}", db.engine);

        // Saved by someone else meanwhile: what was typed is shown again,
        // with a word on it, and nothing is written.
        let stale = ui
            .post(
                &edit,
                &admin,
                &[
                    ("_csrf", &csrf),
                    ("version", "1"),
                    ("name", "Software"),
                    ("description", "Mine"),
                    ("attributes", fewer),
                    ("identify_by", ""),
                ],
            )
            .await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}: {}", db.engine, stale.body);
        assert!(
            stale.body.contains("Someone else saved this class") && stale.body.contains("value=\"Mine\""),
            "{}",
            stale.body
        );
        assert_eq!(s.ci_classes().await.unwrap().get(software.id).unwrap().description, "Programs", "{}", db.engine);

        let agent = ui.login("agent@example.org").await;
        assert_eq!(ui.get(&edit, &agent).await.status, StatusCode::FORBIDDEN, "{}", db.engine);
    }
}

/// The text of the textarea named `name` in a page.
fn hidden_textarea(page: &str, name: &str) -> String {
    let start = page.find(&format!("<textarea id=\"c-attrs\" name=\"{name}\"")).expect("the text area");
    let rest = &page[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find("</textarea>").unwrap();
    rest[open..close].replace("&#x3a;", ":").replace("&#58;", ":")
}

/// The CI form takes a location or supplier by its name and an owner or
/// user by e-mail, as well as by id; one that names nothing is a fault of
/// its field, and what was typed stays.
#[tokio::test]
async fn the_ci_form_takes_places_by_name_and_people_by_email() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let owner = ui.user("owner@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let classes = s.ci_classes().await.unwrap();
        let (location, app) = (classes.by_name("Location").unwrap().id, classes.by_name("Application").unwrap().id);
        let room = s
            .create_ci(
                CiFields { class_id: location, name: "Server room 2".into(), ..Default::default() },
                ChangeContext::default(),
            )
            .await
            .unwrap();
        let app_s = app.to_string();
        let form = |place: &'static str, who: &'static str| {
            vec![
                ("_csrf", csrf.clone()),
                ("class_id", app_s.clone()),
                ("name", "Ledger".to_string()),
                ("status", "deployed".to_string()),
                ("location_id", place.to_string()),
                ("owner_id", who.to_string()),
            ]
        };
        let bad = form("Server room 9", "nobody@example.org");
        let r = ui.post("/cmdb/new", &agent, &bad.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", db.engine, r.body);
        assert!(
            r.body.contains("no CI has this name or id") && r.body.contains("no one has this e-mail address"),
            "{}",
            r.body
        );
        assert!(r.body.contains("value=\"Server room 9\""), "{}: what was typed stays", db.engine);
        let good = form("server room 2", "owner@example.org");
        let r = ui.post("/cmdb/new", &agent, &good.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}: {}", db.engine, r.body);
        let id: i64 = r.location.rsplit('/').next().unwrap().parse().unwrap();
        let ci = s.ci(id).await.unwrap();
        assert_eq!((ci.location_id, ci.owner_id), (Some(room.id), Some(owner)), "{}", db.engine);
    }
}

/// A CI list row sums a CI up by what identifies it first and then the
/// class's own order, by label; and ending a relation says which by name.
#[tokio::test]
async fn a_ci_row_leads_with_what_identifies_it() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let s = &ui.state.store;
        let laptop = s.ci_classes().await.unwrap().by_name("Laptop").unwrap().id;
        let attrs =
            serde_json::json!({ "asset_tag": "AT-9", "model": "T14", "os": "linux", "serial_number": "PF-123" });
        let f = CiFields {
            class_id: laptop,
            name: "lap-9".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let ci = s.create_ci(f, ChangeContext::default()).await.unwrap();
        let list = ui.get("/cmdb?class=Laptop", &agent).await.body;
        assert!(list.contains("Serial number: PF-123, "), "{}: {list}", db.engine);
        let app = application(s, "Payroll app").await;
        s.add_ci_relation(
            ci.id,
            app.id,
            varde_domain::cmdb::RelationKind::DependsOn,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
        let page = ui.get(&format!("/cmdb/cis/{}", ci.id), &agent).await.body;
        assert!(page.contains("aria-label=\"End: depends on Payroll app\""), "{}: {page}", db.engine);
    }
}

/// A person's page offers a leaver checklist while none is open, and once
/// one is open, no second (which would only be refused).
#[tokio::test]
async fn a_person_page_offers_one_open_checklist() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let ann = ui.user("ann@example.org", "requester").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let laptop = s.ci_classes().await.unwrap().by_name("Laptop").unwrap().id;
        let attrs = serde_json::json!({ "serial_number": "PX1" });
        let f = CiFields {
            class_id: laptop,
            name: "lap-ann".into(),
            used_by_id: Some(ann),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        s.create_ci(f, ChangeContext::default()).await.unwrap();
        let page = format!("/cmdb/people/{ann}");
        let button = format!("action=\"/cmdb/people/{ann}/checklists\"");
        assert!(ui.get(&page, &agent).await.body.contains(&button), "{}", db.engine);
        let r = ui.post(&format!("/cmdb/people/{ann}/checklists"), &agent, &[("_csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let body = ui.get(&page, &agent).await.body;
        assert!(body.contains("lap-ann") && !body.contains(&button), "{}: {body}", db.engine);
    }
}

/// The import page takes a CSV or JSON file: a dry run reports what would
/// happen and writes nothing, a file with a bad row is refused whole with
/// the row's line, and a good file goes in; a requester cannot reach it.
#[tokio::test]
async fn cis_are_imported_from_a_file_in_the_browser() {
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        ui.user("rita@example.org", "requester").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let page = ui.get("/cmdb/import", &agent).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(ui.get("/cmdb", &agent).await.body.contains("href=\"/cmdb/import\""), "{}", db.engine);
        let count = || async { s.list_cis(&Default::default(), None, 100).await.unwrap().len() };
        let before = count().await;

        let good = "class,name,attr.vendor\nApplication,Ledger,Acme\nApplication,Payroll,Acme\n";
        let dry = ui
            .upload(
                "/cmdb/import",
                &agent,
                &[("_csrf", &csrf), ("dry_run", "1")],
                ("file", "cis.csv", "text/csv", good),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        assert!(dry.body.contains("Dry run: what the import would do"), "{}: {}", db.engine, dry.body);
        assert!(dry.body.contains("<dt>Made</dt><dd>2</dd>"), "{}: {}", db.engine, dry.body);
        assert_eq!(count().await, before, "{}: a dry run wrote", db.engine);

        let bad = "class,name,attr.vendor\nApplication,Ledger,Acme\nNo such class,Payroll,Acme\n";
        let r = ui.upload("/cmdb/import", &agent, &[("_csrf", &csrf)], ("file", "cis.csv", "text/csv", bad)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("Line 3: unknown class No such class"), "{}: {}", db.engine, r.body);
        assert_eq!(count().await, before, "{}: a refused file wrote", db.engine);

        let json = r#"{"cis": [{"class": "Application", "name": "Ledger", "attributes": {"vendor": "Acme"}}]}"#;
        let r = ui
            .upload(
                "/cmdb/import",
                &agent,
                &[("_csrf", &csrf), ("source", "ledger feed")],
                ("file", "feed.json", "application/json", json),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains(">Imported<"), "{}: {}", db.engine, r.body);
        assert_eq!(count().await, before + 1, "{}", db.engine);

        let rita = ui.login("rita@example.org").await;
        assert_eq!(ui.get("/cmdb/import", &rita).await.status, StatusCode::FORBIDDEN, "{}", db.engine);
        let wrong =
            ui.upload("/cmdb/import", &agent, &[("_csrf", "forged")], ("file", "cis.csv", "text/csv", good)).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", db.engine);
    }
}

/// A CI's comparison runs from the earlier instant to the later, whichever
/// field names which; the instants keep their seconds in the page's forms.
#[tokio::test]
async fn a_ci_comparison_runs_from_earlier_to_later() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let s = &ui.state.store;
        let server = s.ci_classes().await.unwrap().by_name("Server").unwrap().id;
        let attrs = serde_json::json!({ "hostname": "db-03", "domain": "corp", "os": "Windows" });
        let fields = CiFields {
            class_id: server,
            name: "db-03".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let ci = s.create_ci(fields, ChangeContext::default()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let before = jiff::Timestamp::now();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let mut linux = ci.fields();
        linux.attributes.insert("os".into(), serde_json::json!("Linux"));
        s.update_ci(ci.id, None, linux, ChangeContext::default()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let after = jiff::Timestamp::now();
        let (early, late) =
            (before.strftime("%Y-%m-%dT%H:%M:%S").to_string(), after.strftime("%Y-%m-%dT%H:%M:%S").to_string());
        for (as_of, compare) in [(&late, &early), (&early, &late)] {
            let page = ui.get(&format!("/cmdb/cis/{}?as_of={as_of}&compare={compare}", ci.id), &agent).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let diff = page.body.split("id=\"diff-h\"").nth(1).expect("a comparison");
            let diff = diff.split("</section>").next().unwrap();
            let (old, new) = (diff.find("Windows").expect("the old value"), diff.find("Linux").expect("the new value"));
            assert!(old < new, "{}: as of {as_of}, compared with {compare}: {diff}", db.engine);
            // In the history's words: the attribute's label, not its key.
            assert!(diff.contains(">Operating system<") && !diff.contains("attributes.os"), "{}: {diff}", db.engine);
            assert!(page.body.contains(&format!("value=\"{as_of}\"")), "{}: the instant keeps its seconds", db.engine);
        }
    }
}

/// A CI saved from its edit form without a change stays as it was: text of
/// several lines is edited in a text area (an input field drops line breaks)
/// and comes back with the browser's CRLF as the same text, and a whole
/// number comes back whole.
#[tokio::test]
async fn a_ci_saved_unchanged_from_its_form_is_unchanged() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let csrf = ui.csrf(&agent).await;
        let s = &ui.state.store;
        let server = s.ci_classes().await.unwrap().by_name("Server").unwrap().id;
        let attrs =
            serde_json::json!({ "hostname": "db-02", "domain": "corp", "model": "rack 4\nslot 2", "ram_gb": 7 });
        let fields = CiFields {
            class_id: server,
            name: "db-02".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let ci = s.create_ci(fields, ChangeContext::default()).await.unwrap();
        let path = format!("/cmdb/cis/{}/edit", ci.id);
        let form = ui.get(&path, &agent).await.body;
        assert!(form.contains("<textarea id=\"attr-model\""), "{}: {form}", db.engine);
        let saved = ui
            .post(
                &path,
                &agent,
                &[
                    ("_csrf", csrf.as_str()),
                    ("class_id", server.to_string().as_str()),
                    ("version", "1"),
                    ("name", "db-02"),
                    ("status", "deployed"),
                    ("attr.hostname", "db-02"),
                    ("attr.domain", "corp"),
                    ("attr.model", "rack 4\r\nslot 2"),
                    ("attr.ram_gb", "7"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}: {}", db.engine, saved.body);
        let after = s.ci(ci.id).await.unwrap();
        assert_eq!(after.version, 1, "{}: {:?}", db.engine, after.attributes);
        assert_eq!(after.attributes["model"], "rack 4\nslot 2", "{}", db.engine);

        // An enum value the class's list has since respelled is still the
        // one selected, so saving the form keeps it.
        use varde_domain::cmdb::{AttrKind, AttributeDef};
        let size = |v: &str| AttributeDef {
            name: "size".into(),
            label: String::new(),
            kind: AttrKind::Enum,
            required: false,
            unique: false,
            values: vec![v.into()],
        };
        let new = varde_store::cmdb::NewClass {
            name: "Crate".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![size("m")],
            identify_by: Vec::new(),
        };
        let class = s.create_ci_class(new, 1).await.unwrap();
        let attrs = serde_json::json!({ "size": "m" });
        let fields = CiFields {
            class_id: class.id,
            name: "crate-1".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let boxed = s.create_ci(fields, ChangeContext::default()).await.unwrap();
        let respelled = varde_store::cmdb::ClassChanges { attributes: Some(vec![size("M")]), ..Default::default() };
        s.update_ci_class(class.id, None, respelled, 1).await.unwrap();
        let form = ui.get(&format!("/cmdb/cis/{}/edit", boxed.id), &agent).await.body;
        assert!(form.contains("<option value=\"M\" selected>"), "{}: {form}", db.engine);
    }
}

/// A CI's page names its owner, location and attributes, in its fields and
/// in its history, instead of the ids and keys it stores.
#[tokio::test]
async fn a_ci_page_names_what_its_fields_refer_to() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let ui = Ui::new(&db);
        ui.user("agent@example.org", "agent").await;
        let owner = ui.user("owner@example.org", "agent").await;
        let agent = ui.login("agent@example.org").await;
        let s = &ui.state.store;
        let classes = s.ci_classes().await.unwrap();
        let (location, server) = (classes.by_name("Location").unwrap().id, classes.by_name("Server").unwrap().id);
        let room = s
            .create_ci(
                CiFields { class_id: location, name: "Server room 2".into(), ..Default::default() },
                ChangeContext::default(),
            )
            .await
            .unwrap();
        let attrs = serde_json::json!({ "hostname": "db-01", "domain": "example.org" });
        let fields = CiFields {
            class_id: server,
            name: "db-01".into(),
            owner_id: Some(owner),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let ci = s.create_ci(fields, ChangeContext::default()).await.unwrap();
        let mut moved = ci.fields();
        moved.location_id = Some(room.id);
        s.update_ci(ci.id, Some(ci.version), moved, ChangeContext::default()).await.unwrap();

        let page = ui.get(&format!("/cmdb/cis/{}", ci.id), &agent).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let body = &page.body;
        assert!(
            body.contains("<dt>Owner</dt><dd class=\"text\">Name of owner@example.org</dd>"),
            "{}: {body}",
            db.engine
        );
        let room_link =
            format!("<dt>Location</dt><dd class=\"text\"><a href=\"/cmdb/cis/{}\">Server room 2</a></dd>", room.id);
        assert!(body.contains(&room_link), "{}: {body}", db.engine);
        assert!(!body.contains(&format!("#{owner}<")) && !body.contains("(user id)"), "{}: {body}", db.engine);
        let history = body.split("id=\"hist-h\"").nth(1).expect("a history");
        assert!(
            history.contains("<td>Location</td>") && history.contains("<td>Server room 2</td>"),
            "{}: {history}",
            db.engine
        );
        assert!(!history.contains("location_id"), "{}: {history}", db.engine);

        // Attributes that refer to a CI or a person name them too, linked.
        use varde_domain::cmdb::{AttrKind, AttributeDef};
        let def = |name: &str, kind: AttrKind| AttributeDef {
            name: name.into(),
            label: String::new(),
            kind,
            required: false,
            unique: false,
            values: Vec::new(),
        };
        let new = varde_store::cmdb::NewClass {
            name: "Badge reader".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![def("peer", AttrKind::CiRef), def("custodian", AttrKind::UserRef)],
            identify_by: Vec::new(),
        };
        let class = s.create_ci_class(new, owner).await.unwrap();
        let attrs = serde_json::json!({ "peer": room.id, "custodian": owner });
        let reader = CiFields {
            class_id: class.id,
            name: "Reader 1".into(),
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        };
        let reader = s.create_ci(reader, ChangeContext::default()).await.unwrap();
        let body = ui.get(&format!("/cmdb/cis/{}", reader.id), &agent).await.body;
        let peer = format!("<dt>peer</dt><dd class=\"text\"><a href=\"/cmdb/cis/{}\">Server room 2</a></dd>", room.id);
        assert!(body.contains(&peer), "{}: {body}", db.engine);
        let custodian = format!(
            "<dt>custodian</dt><dd class=\"text\"><a href=\"/cmdb/people/{owner}\">Name of owner@example.org</a></dd>"
        );
        assert!(body.contains(&custodian), "{}: {body}", db.engine);
    }
}
