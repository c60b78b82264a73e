//! A real browser journey through the web UI: headless Chromium driven by
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
use varde_domain::incident::State;
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

async fn logout(c: &Client) {
    click(c, "form[action='/logout'] button").await;
    wait_for(c, "form[action='/login']").await;
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("/tmp/varde-{name}.png"), png).unwrap();
}

#[tokio::test]
async fn requester_and_agent_resolve_an_incident_in_a_real_browser() {
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
        user(&state, "rita@example.org", "Rita Requester", "requester").await;
        user(&state, "alex@example.org", "Alex Agent", "agent").await;
        user(&state, "ada@example.org", "Ada Admin", "admin").await;
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;

        // The requester reports an incident in the portal.
        login(&c, &base, "rita@example.org").await;
        assert!(c.current_url().await.unwrap().path().starts_with("/portal"));
        fill(&c, "#short_description", "Payslips do not print").await;
        fill(&c, "#description", "Since this morning the printer on floor 2 rejects payslips.").await;
        wait_for(&c, "#urgency").await.select_by_value("1").await.unwrap();
        click(&c, "form[action='/portal'] button[type='submit']").await;
        let heading = wait_for(&c, ".record-head h1").await.text().await.unwrap();
        assert!(heading.contains("Payslips do not print"), "{}: {heading}", db.engine);
        let number = heading.split_whitespace().next().unwrap().to_string();
        assert!(number.starts_with("INC"), "{number}");
        logout(&c).await;

        // The agent finds it in the unassigned queue and opens it.
        login(&c, &base, "alex@example.org").await;
        click(&c, "aside a[href='/queue/unassigned']").await;
        wait_for(&c, "aside a[href='/queue/unassigned'][aria-current='page']").await;
        let link = format!("#results a[href='/incidents/{number}']");
        wait_for(&c, &link).await;
        // htmx loaded under the strict CSP, and filtering swaps the table in
        // place and puts the filter in the address bar.
        let htmx = c.execute("return typeof window.htmx", vec![]).await.unwrap();
        assert_eq!(htmx, serde_json::json!("object"), "htmx did not load");
        c.execute("document.body.dataset.marker = 'same-page'", vec![]).await.unwrap();
        wait_for(&c, "#f-state").await.select_by_value("new").await.unwrap();
        let mut pushed = false;
        for _ in 0..50 {
            if c.current_url().await.unwrap().query().unwrap_or("").contains("state=new") {
                pushed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(pushed, "{}: the filter did not reach the address bar", db.engine);
        wait_for(&c, &link).await;
        let marker = c.execute("return document.body.dataset.marker || ''", vec![]).await.unwrap();
        assert_eq!(marker, serde_json::json!("same-page"), "the page was reloaded instead of swapped");
        screenshot(&c, "queue").await;
        click(&c, &link).await;
        wait_for(&c, "#journal-body").await;

        // Replies to the requester, then resolves with a code and notes.
        fill(&c, "#journal-body", "We have restarted the print server; please try again.").await;
        click(&c, "#journal form button[type='submit']").await;
        wait_for(&c, ".entry-reply").await;
        wait_for(&c, "#resolution_code").await.select_by_value("fixed").await.unwrap();
        fill(&c, "#resolution_notes", "Print server restarted and queue cleared.").await;
        click(&c, "button[value='resolve']").await;
        wait_for(&c, ".state-resolved").await;
        screenshot(&c, "incident").await;
        let history = wait_for(&c, "#history").await.screenshot().await.unwrap();
        std::fs::write("/tmp/varde-history.png", history).unwrap();
        logout(&c).await;

        // The requester sees the reply and the resolution, and confirms.
        login(&c, &base, "rita@example.org").await;
        c.goto(&format!("{base}/portal/tickets/{number}")).await.unwrap();
        wait_for(&c, ".resolved-box").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("We have restarted the print server"), "{}: the reply is missing", db.engine);
        assert!(page.contains("Print server restarted and queue cleared."), "the resolution notes are missing");
        screenshot(&c, "portal-ticket").await;
        click(&c, "button[value='confirm']").await;
        wait_for(&c, ".state-closed").await;
        logout(&c).await;

        // The administrator's page renders with what the journey created.
        login(&c, &base, "ada@example.org").await;
        c.goto(&format!("{base}/admin")).await.unwrap();
        wait_for(&c, "#matrix input#c00").await;
        assert!(c.source().await.unwrap().contains("rita@example.org"));
        screenshot(&c, "admin").await;
        c.close().await.unwrap();

        let incident = state.store.incident_by_number(&number).await.unwrap();
        assert_eq!(incident.lifecycle.state, State::Closed, "{}", db.engine);
        assert_eq!(incident.lifecycle.resolution_code.map(|r| r.as_str()), Some("fixed"));
    }
}
