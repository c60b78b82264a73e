//! Service levels in a real browser: the time left on queue rows and the
//! "breaches next" sort, the SLA panel on the incident page, and the report
//! chart; headless Chromium via chromedriver, on every engine.

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

#[tokio::test]
async fn queue_shows_time_left_and_the_incident_its_sla_panel() {
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
        let store = &state.store;
        user(&state, "alex@example.org", "Alex Agent", "agent").await;
        let alex = store.user_by_email("alex@example.org").await.unwrap().id;
        let group = store.create_group("Desk".into(), String::new()).await.unwrap().id;
        store.add_member(group, alex).await.unwrap();
        let spec: varde_domain::sla::agreement::AgreementSpec = serde_json::from_value(serde_json::json!({
            "name": "Gold", "kind": "sla",
            "targets": [
                { "name": "resolution", "priority": 1, "minutes": 120 },
                { "name": "resolution", "minutes": 480 }
            ]
        }))
        .unwrap();
        store.create_agreement(spec, alex).await.unwrap();
        let new = |short: &str, impact: i64| varde_store::incidents::NewIncident {
            short_description: short.into(),
            description: String::new(),
            requester_id: alex,
            created_by: alex,
            assignment_group_id: Some(group),
            assignee_id: Some(alex),
            impact: varde_domain::priority::Level::new("", impact).unwrap(),
            urgency: varde_domain::priority::Level::new("", impact).unwrap(),
            category_id: None,
            service_id: None,
            channel: varde_domain::incident::Channel::Phone,
            major: false,
        };
        let slow = store.create_incident(new("Slow printer", 2), None).await.unwrap().0;
        let urgent = store.create_incident(new("Payroll down", 1), None).await.unwrap().0;
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        login(&c, &base, "alex@example.org").await;

        // "Breaches next": the P1 with two hours left comes before the
        // P3 with eight, and each row shows its time left.
        c.goto(&format!("{base}/queue/open?sort=sla_due")).await.unwrap();
        wait_for(&c, "#results td.sla-left span").await;
        let rows = c.find_all(Locator::Css("#results tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 2, "{}", db.engine);
        let first = rows[0].find(Locator::Css("th a")).await.unwrap().text().await.unwrap();
        assert_eq!(first, urgent.number, "{}: the one that breaches first is first", db.engine);
        let left = rows[0].find(Locator::Css("td.sla-left")).await.unwrap().text().await.unwrap();
        assert!(left == "1:59" || left == "2:00", "{}: {left}", db.engine);
        let left = rows[1].find(Locator::Css("td.sla-left")).await.unwrap().text().await.unwrap();
        assert!(left == "7:59" || left == "8:00", "{}: {left}", db.engine);
        let sort = wait_for(&c, "#f-sort option[value='sla_due']").await;
        assert_eq!(sort.attr("selected").await.unwrap().is_some(), true, "{}", db.engine);

        // The incident page shows the clock, running, then paused on hold.
        c.goto(&format!("{base}/incidents/{}", slow.number)).await.unwrap();
        let row = wait_for(&c, "#sla tr[data-clock='sla-resolution']").await;
        let text = row.text().await.unwrap();
        assert!(text.contains("Gold") && text.contains("Running") && text.contains("8:00"), "{}: {text}", db.engine);
        let hold = varde_domain::incident::Patch {
            state: Some("on_hold".into()),
            hold_reason: Some("awaiting_caller".into()),
            ..Default::default()
        };
        store.update_incident(slow.id, None, hold, alex).await.unwrap();
        c.refresh().await.unwrap();
        let text = wait_for(&c, "#sla tr[data-clock='sla-resolution']").await.text().await.unwrap();
        assert!(text.contains("Paused"), "{}: {text}", db.engine);
        click(&c, "#sla details summary").await;
        let history = wait_for(&c, "#sla details table").await.text().await.unwrap();
        assert!(history.contains("pause") && history.contains("start"), "{}: {history}", db.engine);
        screenshot(&c, "sla-panel").await;

        // Resolved, it shows in the report and its chart.
        let resolve = varde_domain::incident::Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Replaced the fuser".into()),
            ..Default::default()
        };
        store.update_incident(urgent.id, None, resolve, alex).await.unwrap();
        click(&c, "a[href='/reports/sla']").await;
        let bar = wait_for(&c, "svg.chart rect.met").await;
        assert_eq!(bar.attr("width").await.unwrap().as_deref(), Some("300"), "{}: 100 % met", db.engine);
        let table = wait_for(&c, "table.sla-report").await.text().await.unwrap();
        assert!(table.contains("Gold") && table.contains("100.0 %"), "{}: {table}", db.engine);
        screenshot(&c, "sla-report").await;
        // What if: replay the period with a one-minute target; read only.
        c.goto(&format!("{base}/reports/sla/what-if")).await.unwrap();
        wait_for(&c, "select[name='agreement_id']").await.select_by_label("Gold").await.unwrap();
        fill(&c, "input[name='minutes']", "1").await;
        click(&c, "form[action='/reports/sla/what-if'] button[type='submit']").await;
        let table = wait_for(&c, "table.sla-what-if").await.text().await.unwrap();
        assert!(table.contains("Gold") && table.contains("100.0 %"), "{}: {table}", db.engine);
        c.close().await.unwrap();
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("/tmp/varde-{name}.png"), png).unwrap();
}
