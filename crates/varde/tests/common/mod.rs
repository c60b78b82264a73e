//! Drives the real router in-process: the same `varde::server::app` the
//! binary serves, with every middleware layer, on a fresh database per
//! engine. People are made through the service layer so that the API under
//! test is not also the fixture.

#![allow(dead_code)]

use axum::body::Body;
use axum::Router;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use varde::config::Config;
use varde::service::directory::{create_token, create_user, CreateUser};
use varde::state::AppState;
use varde_store::testing::{databases, TestDb};
use varde_store::StoreOptions;

/// Small, so that the oversize-attachment case stays cheap.
pub const MAX_ATTACHMENT: usize = 64 * 1024;

pub struct Person {
    pub id: i64,
    pub token: String,
    pub email: String,
}

pub struct Env {
    pub engine: &'static str,
    pub state: AppState,
    pub app: Router,
    pub admin: Person,
    pub agent1: Person,
    pub agent2: Person,
    pub req1: Person,
    pub req2: Person,
    /// A group both agents belong to.
    pub group: i64,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// Runs `f` once per engine that `databases()` offers. A failure names the
/// engine so that an engine-specific bug is obvious from the output.
pub async fn each_engine<F, Fut>(f: F)
where
    F: Fn(Env) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in databases().await {
        let env = Env::new(db).await;
        eprintln!("--- engine: {}", env.engine);
        f(env).await;
    }
}

async fn person(state: &AppState, name: &str, role: &str) -> Person {
    let email = format!("{name}@example.org");
    let u = create_user(
        &state.store,
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
    .expect("create user");
    let (_, token) = create_token(&state.store, u.id, "tests").await.expect("create token");
    Person { id: u.id, token, email }
}

impl Env {
    pub async fn new(db: TestDb) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            store: StoreOptions { url: db.url.clone(), max_connections: 8 },
            listen: "127.0.0.1:0".parse().unwrap(),
            max_attachment_bytes: MAX_ATTACHMENT,
            session_hours: 1,
            secure_cookies: false,
        };
        let state = AppState::new(db.store.clone(), config);
        let admin = person(&state, "admin", "admin").await;
        let agent1 = person(&state, "agent1", "agent").await;
        let agent2 = person(&state, "agent2", "agent").await;
        let req1 = person(&state, "req1", "requester").await;
        let req2 = person(&state, "req2", "requester").await;
        let group = state.store.create_group("Service desk".into(), String::new()).await.expect("group").id;
        state.store.add_member(group, agent1.id).await.unwrap();
        state.store.add_member(group, agent2.id).await.unwrap();
        let app = varde::server::app(state.clone());
        Env { engine: db.engine, state, app, admin, agent1, agent2, req1, req2, group, _db: db, _dir: dir }
    }

    /// The same database behind a router configured with another attachment limit.
    pub fn with_attachment_limit(&self, max: usize) -> Router {
        let mut config = (*self.state.config).clone();
        config.max_attachment_bytes = max;
        varde::server::app(AppState::new(self.state.store.clone(), config))
    }

    pub fn req(&self, method: Method, path: &str) -> Call<'_> {
        Call { env: self, app: None, builder: Request::builder().method(method).uri(path), body: Body::empty() }
    }
    pub fn get(&self, path: &str, who: &Person) -> Call<'_> {
        self.req(Method::GET, path).bearer(&who.token)
    }
    pub fn post(&self, path: &str, who: &Person, body: Value) -> Call<'_> {
        self.req(Method::POST, path).bearer(&who.token).json(body)
    }
    pub fn patch(&self, path: &str, who: &Person, body: Value) -> Call<'_> {
        self.req(Method::PATCH, path).bearer(&who.token).json(body)
    }
    pub fn put(&self, path: &str, who: &Person) -> Call<'_> {
        self.req(Method::PUT, path).bearer(&who.token)
    }
    pub fn delete(&self, path: &str, who: &Person) -> Call<'_> {
        self.req(Method::DELETE, path).bearer(&who.token)
    }

    /// Creates an incident as `who` and returns its JSON.
    pub async fn incident(&self, who: &Person, body: Value) -> Value {
        let r = self.post("/api/v1/incidents", who, body).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// Patches without If-Match and expects success.
    pub async fn patch_ok(&self, id: i64, who: &Person, body: Value) -> Value {
        let r = self.patch(&format!("/api/v1/incidents/{id}"), who, body).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    pub async fn read(&self, id: i64) -> Value {
        let r = self.get(&format!("/api/v1/incidents/{id}"), &self.admin).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }
}

pub struct Call<'a> {
    env: &'a Env,
    app: Option<Router>,
    builder: http::request::Builder,
    body: Body,
}

impl Call<'_> {
    /// Sends to another router than the environment's own.
    pub fn to(mut self, app: &Router) -> Self {
        self.app = Some(app.clone());
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.builder = self.builder.header(k, v);
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        let v = format!("Bearer {token}");
        self.header("authorization", &v)
    }
    pub fn json(self, v: Value) -> Self {
        self.raw("application/json", serde_json::to_vec(&v).unwrap())
    }
    pub fn raw(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.builder = self.builder.header(header::CONTENT_TYPE, content_type);
        self.body = Body::from(bytes);
        self
    }
    /// A multipart/form-data body with one file part.
    pub fn multipart(self, field: &str, filename: &str, data: &[u8]) -> Self {
        let boundary = "varde-test-boundary-7d2f";
        let mut b = Vec::new();
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        b.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n").as_bytes(),
        );
        b.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        b.extend_from_slice(data);
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.raw(&format!("multipart/form-data; boundary={boundary}"), b)
    }
    pub async fn send(self) -> Resp {
        let req = self.builder.body(self.body).expect("request");
        let app = self.app.unwrap_or_else(|| self.env.app.clone());
        let res = app.oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes().to_vec();
        Resp { status, headers, body }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.text());
        let p = self.json();
        assert!(p["type"].as_str().is_some_and(|t| t.starts_with("/problems/")), "{p}");
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert!(p["detail"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p
    }

    /// Asserts a 422 validation problem naming every field in `fields`.
    pub fn invalid(&self, fields: &[&str]) -> Value {
        let p = self.problem(422);
        let named = error_fields(&p);
        for f in fields {
            assert!(named.iter().any(|n| n == f), "expected {f} among {named:?}: {p}");
        }
        p
    }
}

pub fn error_fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}
