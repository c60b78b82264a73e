//! The CMDB in a real browser: create a CI, relate it to a service, see the impact graph: headless Chromium driven by
//! chromedriver over WebDriver, against the real server on a real socket,
//! on every database engine the machine has.

use fantoccini::Locator;
use varde_store::testing::databases;

#[path = "support/browser.rs"]
mod support;
use support::*;

#[tokio::test]
async fn an_agent_creates_a_ci_relates_it_to_a_service_and_sees_the_impact_graph() {
    let Some(driver) = driver_or_skip().await else { return };
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
        let h1 = wait_for_text(&c, "h1", "db-01").await;
        assert!(h1.starts_with("db-01"), "{}: {h1}", db.engine);

        // Payroll depends on db-01: an incoming relation from the service.
        wait_for(&c, "#rel-direction").await.select_by_value("incoming").await.unwrap();
        wait_for(&c, "#rel-kind").await.select_by_value("depends_on").await.unwrap();
        fill(&c, "#rel-other", "Payroll").await;
        click(&c, "#add-relation button[type='submit']").await;
        let paths = wait_for_text(&c, "#service-paths", "Payroll").await;
        assert!(paths.contains("Payroll ← db-01"), "{}: {paths}", db.engine);
        // The impact graph: server-rendered SVG with the service highlighted.
        wait_for(&c, "#impact-graph svg g.node.start").await;
        let svc = wait_for(&c, "#impact-graph svg g.node.service").await;
        let title = svc.find(Locator::Css("title")).await.unwrap().prop("textContent").await.unwrap();
        assert_eq!(title.as_deref(), Some("Payroll"));
        screenshot(&c, "cmdb-impact").await;

        // Down from the service, the graph reaches db-01.
        click(&c, "#impact-graph svg g.node.service").await;
        wait_for_text(&c, "h1", "Payroll").await;
        wait_for(&c, "#direction").await.select_by_value("down").await.unwrap();
        click(&c, "#impact form button[type='submit']").await;
        let node = wait_for(&c, "#impact-graph svg g.node.ci").await;
        let title = node.find(Locator::Css("title")).await.unwrap().prop("textContent").await.unwrap();
        assert_eq!(title.as_deref(), Some("db-01"), "{}", db.engine);
        c.close().await.unwrap();
    }
}
