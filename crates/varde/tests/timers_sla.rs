//! SLA warning timers with the real `varde serve`: a server killed while
//! timers are pending fires each of them once after the restart, and two
//! servers on one PostgreSQL fire each warning exactly once between them.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Target {
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Target {
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_varde"));
        c.arg("--data-dir").arg(self.data_dir.path());
        c.env_remove("VARDE_DATABASE_URL").env_remove("VARDE_LISTEN").env_remove("VARDE_CONFIG");
        c.env("VARDE_LOG", "warn");
        if let Some(url) = &self.database_url {
            c.env("VARDE_DATABASE_URL", url);
        }
        c
    }
}

fn run_ok(mut c: Command, stdin: Option<&str>) -> String {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run varde");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "varde failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(target: &Target, port: u16, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    target
        .command()
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start varde serve")
}

async fn wait_healthy(client: &reqwest::Client, base: &str, child: &mut Child, log: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("varde serve exited with {status}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(Instant::now() < until, "not healthy:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// An admin who is also the assignee of every incident, with a token.
fn admin_token(target: &Target) -> String {
    let mut cmd = target.command();
    cmd.args([
        "admin",
        "create-user",
        "--email",
        "t@example.org",
        "--name",
        "Timer",
        "--role",
        "admin",
        "--password-stdin",
    ]);
    run_ok(cmd, Some("password123456"));
    let mut cmd = target.command();
    cmd.args(["admin", "create-token", "--email", "t@example.org"]);
    run_ok(cmd, None).trim().to_string()
}

/// An agreement whose thresholds fall every 0.6 s from `first` percent of a
/// one-minute target, each notifying the assignee; and `n` incidents under it.
async fn setup(api: &Api, percents: &[i64], n: usize) -> Vec<i64> {
    let me = api.call(reqwest::Method::GET, "/api/v1/users/me", None).await["id"].as_i64().unwrap();
    let g = api.call(reqwest::Method::POST, "/api/v1/groups", Some(json!({ "name": "Timers" }))).await["id"]
        .as_i64()
        .unwrap();
    api.call(reqwest::Method::PUT, &format!("/api/v1/groups/{g}/members/{me}"), None).await;
    let thresholds: Vec<Value> =
        percents.iter().map(|p| json!({ "percent": p, "actions": [{ "type": "notify", "to": "assignee" }] })).collect();
    api.call(
        reqwest::Method::POST,
        "/api/v1/slas",
        Some(json!({ "name": "Timers", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 1 }], "thresholds": thresholds })),
    )
    .await;
    let mut ids = Vec::new();
    for k in 0..n {
        let body = json!({ "short_description": format!("timer {k}"), "assignment_group_id": g, "assignee_id": me });
        ids.push(api.call(reqwest::Method::POST, "/api/v1/incidents", Some(body)).await["id"].as_i64().unwrap());
    }
    ids
}

/// Per incident: how many threshold events its clock recorded, and its
/// fired list; plus the caller's notification count.
async fn fired(api: &Api, ids: &[i64]) -> (Vec<usize>, i64) {
    let mut counts = Vec::new();
    for id in ids {
        let s = api.call(reqwest::Method::GET, &format!("/api/v1/incidents/{id}/sla"), None).await;
        counts.push(s["history"].as_array().unwrap().iter().filter(|e| e["event"] == "threshold").count());
    }
    let n = api.call(reqwest::Method::GET, "/api/v1/notifications?limit=200", None).await["items"]
        .as_array()
        .unwrap()
        .len();
    (counts, n as i64)
}

async fn wait_all_fired(api: &Api, ids: &[i64], each: usize, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let (counts, _) = fired(api, ids).await;
        if counts.iter().all(|c| *c >= each) {
            return;
        }
        assert!(Instant::now() < until, "not all fired in {secs} s: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn restart_during_timers(target: Target) {
    let log = target.data_dir.path().join("serve.log");
    let token = admin_token(&target);
    let port = free_port();
    let api = Api {
        client: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        token,
    };
    let mut server = start(&target, port, &log);
    wait_healthy(&api.client, &api.base, &mut server, &log).await;
    // Thresholds at 1.2 s, 1.8 s, 2.4 s and 3.0 s.
    let percents = [2, 3, 4, 5];
    let ids = setup(&api, &percents, 5).await;
    // Kill while some have fired and others are pending.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    // Down while the rest come due.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut server = start(&target, port, &log);
    wait_healthy(&api.client, &api.base, &mut server, &log).await;
    wait_all_fired(&api, &ids, percents.len(), 30).await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (counts, notes) = fired(&api, &ids).await;
    assert!(counts.iter().all(|c| *c == percents.len()), "each threshold fires once: {counts:?}");
    assert_eq!(notes, (ids.len() * percents.len()) as i64, "one notification per threshold and incident");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_pending_over_a_restart_fire_once_on_sqlite() {
    restart_during_timers(Target { data_dir: tempfile::tempdir().unwrap(), database_url: None }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_pending_over_a_restart_fire_once_on_postgres() {
    let Some(url) = varde_store::testing::postgres_url().await else {
        eprintln!("VARDE_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    restart_during_timers(Target { data_dir: tempfile::tempdir().unwrap(), database_url: Some(url) }).await;
}

/// Two `varde serve` processes on one PostgreSQL database, both running
/// their job runners: every warning fires exactly once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_fire_each_warning_once() {
    let Some(url) = varde_store::testing::postgres_url().await else {
        eprintln!("VARDE_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    let a = Target { data_dir: tempfile::tempdir().unwrap(), database_url: Some(url.clone()) };
    let b = Target { data_dir: tempfile::tempdir().unwrap(), database_url: Some(url) };
    let token = admin_token(&a);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let (la, lb) = (a.data_dir.path().join("a.log"), b.data_dir.path().join("b.log"));
    let mut sa = start(&a, pa, &la);
    let mut sb = start(&b, pb, &lb);
    let api_a = Api { client: client.clone(), base: format!("http://127.0.0.1:{pa}"), token: token.clone() };
    let api_b = Api { client: client.clone(), base: format!("http://127.0.0.1:{pb}"), token };
    wait_healthy(&client, &api_a.base, &mut sa, &la).await;
    wait_healthy(&client, &api_b.base, &mut sb, &lb).await;
    // Eight warnings per clock, 0.6 s apart, on 30 incidents made through both nodes.
    let percents: Vec<i64> = (2..=9).collect();
    let mut ids = setup(&api_a, &percents, 15).await;
    for k in 0..15 {
        let g = api_b.call(reqwest::Method::GET, "/api/v1/groups", None).await;
        let g = g.as_array().map(|a| a[0]["id"].clone()).unwrap_or_else(|| g["items"][0]["id"].clone());
        let me = api_b.call(reqwest::Method::GET, "/api/v1/users/me", None).await["id"].clone();
        let body = json!({ "short_description": format!("node b {k}"), "assignment_group_id": g, "assignee_id": me });
        ids.push(api_b.call(reqwest::Method::POST, "/api/v1/incidents", Some(body)).await["id"].as_i64().unwrap());
    }
    wait_all_fired(&api_a, &ids, percents.len(), 40).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (counts, notes) = fired(&api_b, &ids).await;
    assert!(counts.iter().all(|c| *c == percents.len()), "each warning fires once: {counts:?}");
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/notifications?limit=200&cursor={c}"),
            None => "/api/v1/notifications?limit=200".to_string(),
        };
        let page = api_a.call(reqwest::Method::GET, &path, None).await;
        total += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let _ = notes;
    assert_eq!(total, ids.len() * percents.len(), "one notification per warning, never two");
    for mut s in [sa, sb] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
}
