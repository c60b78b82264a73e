//! What every in-process UI test needs: the app on a test database, users, a
//! logged-in session, form posts and multipart uploads sent with `oneshot`,
//! and reading values back out of the HTML. Each `ui*.rs` test binary
//! includes this file with `#[path]`; each uses a different subset, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use varde::config::Config;
use varde::service::directory::{self, CreateUser};
use varde::state::AppState;
use varde_store::testing::TestDb;
use varde_store::StoreOptions;

pub fn config(db: &TestDb) -> Config {
    Config {
        data_dir: std::env::temp_dir(),
        store: StoreOptions { url: db.url.clone(), max_connections: 4 },
        listen: "127.0.0.1:0".parse().unwrap(),
        max_attachment_bytes: 1024 * 1024,
        session_hours: 1,
        secure_cookies: false,
    }
}

pub struct Ui {
    pub app: Router,
    pub state: AppState,
}

pub struct Res {
    pub status: StatusCode,
    pub location: String,
    pub cookie: Option<String>,
    pub content_type: String,
    pub body: String,
}

impl Ui {
    pub fn new(db: &TestDb) -> Ui {
        let state = AppState::new(db.store.clone(), config(db));
        Ui { app: varde::server::app(state.clone()), state }
    }

    /// A user named "Name of EMAIL" with the password every test logs in with.
    pub async fn user(&self, email: &str, role: &str) -> i64 {
        let input = CreateUser {
            email: email.into(),
            name: format!("Name of {email}"),
            role: role.into(),
            organisation_id: None,
            password: Some("correct horse battery".into()),
        };
        directory::create_user(&self.state.store, None, input).await.unwrap().id
    }

    pub async fn send(&self, req: Request<Body>) -> Res {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let h = res.headers();
        let text = |n: header::HeaderName| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (status, location, content_type) = (res.status(), text(header::LOCATION), text(header::CONTENT_TYPE));
        let cookie = h
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(|c| c.split(';').next().unwrap_or("").to_string());
        let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).to_string();
        Res { status, location, cookie, content_type, body }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Res {
        self.send(Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Res {
        let body = serde_urlencoded::to_string(form).unwrap();
        let req = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// A multipart form with `fields` and one file (`file_field`, named `filename`).
    pub async fn upload(
        &self,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
        (file_field, filename, content_type, content): (&str, &str, &str, &str),
    ) -> Res {
        let boundary = "varde-test-boundary-91c3";
        let mut b = String::new();
        for (k, v) in fields {
            b.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
        }
        b.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ));
        let req = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(b))
            .unwrap();
        self.send(req).await
    }

    /// Logs in through the form; returns the session cookie.
    pub async fn login(&self, email: &str) -> String {
        let r = self.post("/login", "", &[("email", email), ("password", "correct horse battery")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r.cookie.expect("a session cookie")
    }

    /// The CSRF token the pages carry for this session.
    pub async fn csrf(&self, cookie: &str) -> String {
        let page = self.get("/account/password", cookie).await;
        hidden(&page.body, "_csrf")
    }
}

/// The value of the first input named `name`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}
