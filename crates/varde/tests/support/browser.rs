//! What every browser test needs: chromedriver and a headless Chromium,
//! Varde serving on a real socket, users, and the few WebDriver steps the
//! journeys repeat. Each `browser*.rs` test binary includes this file with
//! `#[path]`; each uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use varde::config::Config;
use varde::service::directory::{self, CreateUser};
use varde::state::AppState;
use varde_store::testing::TestDb;
use varde_store::StoreOptions;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const PASSWORD: &str = "correct horse battery";

/// Kills chromedriver (and with it the browsers it started) however the
/// test ends.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts chromedriver for a browser test, or says why the test is skipped:
/// Chromium may be missing on a developer's machine, never in CI (`CI=true`).
pub async fn driver_or_skip() -> Option<Driver> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing: the browser test cannot run");
        }
        eprintln!("skipping the browser test: {CHROMEDRIVER} or {CHROMIUM} is not installed");
        return None;
    }
    Some(start_driver().await)
}

pub async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening on port {port}");
}

pub async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://localhost:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Starts Varde on a free port, in this process.
pub async fn serve(db: &TestDb) -> (String, AppState) {
    let config = Config {
        data_dir: std::env::temp_dir(),
        store: StoreOptions { url: db.url.clone(), max_connections: 4 },
        listen: "127.0.0.1:0".parse().unwrap(),
        max_attachment_bytes: 1024 * 1024,
        session_hours: 1,
        secure_cookies: false,
    };
    let state = AppState::new(db.store.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = varde::server::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

pub async fn user(state: &AppState, email: &str, name: &str, role: &str) {
    let input = CreateUser {
        email: email.into(),
        name: name.into(),
        role: role.into(),
        organisation_id: None,
        password: Some(PASSWORD.into()),
    };
    directory::create_user(&state.store, None, input).await.unwrap();
}

pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

pub async fn fill(c: &Client, css: &str, text: &str) {
    let el = wait_for(c, css).await;
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

pub async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

pub async fn login(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form[action='/login'] button[type='submit']").await;
    // The header shows who is signed in once the next page loads.
    wait_for(c, "form[action='/logout']").await;
}

pub async fn logout(c: &Client) {
    click(c, "form[action='/logout'] button").await;
    wait_for(c, "form[action='/login']").await;
}

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("/tmp/varde-{name}.png"), png).unwrap();
}

/// Waits until the element at `css` shows `needle` and returns its text.
/// Right after a click the old page may still be there, so an element found
/// can go stale or show the old text; both mean "not yet", never a failure.
pub async fn wait_for_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(text) = el.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waiting for {css} to show {needle:?}; it shows {last:?}");
}
