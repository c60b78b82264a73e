//! The CMDB in a real browser: create a CI, relate it to a service, see the impact graph: headless Chromium driven by
//! chromedriver over WebDriver, against the real server on a real socket,
//! on every database engine the machine has.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use varde::config::Config;
use varde::service::directory::{self, CreateUser};
use varde::state::AppState;
use varde_store::testing::{databases, TestDb};
use varde_store::StoreOptions;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "correct horse battery";

/// Kills chromedriver (and with it the browsers it started) however the
/// test ends.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver() -> Driver {
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

async fn browser(driver: &Driver, profile: &Path) -> Client {
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
async fn serve(db: &TestDb) -> (String, AppState) {
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

async fn user(state: &AppState, email: &str, name: &str, role: &str) {
    let input = CreateUser {
        email: email.into(),
        name: name.into(),
        role: role.into(),
        organisation_id: None,
        password: Some(PASSWORD.into()),
    };
    directory::create_user(&state.store, None, input).await.unwrap();
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

async fn fill(c: &Client, css: &str, text: &str) {
    let el = wait_for(c, css).await;
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

async fn login(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form[action='/login'] button[type='submit']").await;
    // The header shows who is signed in once the next page loads.
    wait_for(c, "form[action='/logout']").await;
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("/tmp/varde-{name}.png"), png).unwrap();
}

#[tokio::test]
async fn an_agent_creates_a_ci_relates_it_to_a_service_and_sees_the_impact_graph() {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing: the browser test cannot run");
        }
        eprintln!("skipping the browser test: {CHROMEDRIVER} or {CHROMIUM} is not installed");
        return;
    }
    let driver = start_driver().await;
    for db in databases().await {
        let (base, state) = serve(&db).await;
        user(&state, "alex@example.org", "Alex Agent", "agent").await;
        // A catalogue service is a CI of the Service class.
        state.store.create_service("Payroll".into(), String::new()).await.unwrap();
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        login(&c, &base, "alex@example.org").await;

        // The CMDB is in the navigation; the class comes first, then its form.
        click(&c, "nav a[href='/cmdb']").await;
        click(&c, "a[href='/cmdb/new']").await;
        let server = state.store.ci_classes().await.unwrap().by_name("Server").unwrap().id;
        wait_for(&c, "#class").await.select_by_value(&server.to_string()).await.unwrap();
        click(&c, "form[action='/cmdb/new'] button[type='submit']").await;
        wait_for(&c, "#attr-hostname").await;
        // A bad IP address is refused with the error beside the field.
        fill(&c, "#name", "db-01").await;
        fill(&c, "#attr-hostname", "db-01").await;
        fill(&c, "#attr-domain", "corp").await;
        fill(&c, "#attr-ip_address", "10.0.0.300").await;
        click(&c, "#ci-form button[type='submit']").await;
        let err = wait_for(&c, "#attr-ip_address-error").await.text().await.unwrap();
        assert!(err.contains("IP"), "{}: {err}", db.engine);
        fill(&c, "#attr-ip_address", "10.0.0.30").await;
        click(&c, "#ci-form button[type='submit']").await;
        let h1 = wait_for(&c, "h1").await.text().await.unwrap();
        assert!(h1.starts_with("db-01"), "{}: {h1}", db.engine);

        // Payroll depends on db-01: an incoming relation from the service.
        wait_for(&c, "#rel-direction").await.select_by_value("incoming").await.unwrap();
        wait_for(&c, "#rel-kind").await.select_by_value("depends_on").await.unwrap();
        fill(&c, "#rel-other", "Payroll").await;
        click(&c, "#add-relation button[type='submit']").await;
        let paths = wait_for(&c, "#service-paths").await.text().await.unwrap();
        assert!(paths.contains("Payroll ← db-01"), "{}: {paths}", db.engine);
        // The impact graph: server-rendered SVG with the service highlighted.
        wait_for(&c, "#impact-graph svg g.node.start").await;
        let svc = wait_for(&c, "#impact-graph svg g.node.service").await;
        let title = svc.find(Locator::Css("title")).await.unwrap().prop("textContent").await.unwrap();
        assert_eq!(title.as_deref(), Some("Payroll"));
        screenshot(&c, "cmdb-impact").await;

        // Down from the service, the graph reaches db-01.
        click(&c, "#impact-graph svg g.node.service").await;
        wait_for(&c, "#direction").await.select_by_value("down").await.unwrap();
        click(&c, "#impact form button[type='submit']").await;
        let node = wait_for(&c, "#impact-graph svg g.node.ci").await;
        let title = node.find(Locator::Css("title")).await.unwrap().prop("textContent").await.unwrap();
        assert_eq!(title.as_deref(), Some("db-01"), "{}", db.engine);
        c.close().await.unwrap();
    }
}
