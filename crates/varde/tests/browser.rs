//! A real browser journey through the web UI: headless Chromium driven by
//! chromedriver over WebDriver, against the real server on a real socket,
//! on every database engine the machine has.

use std::time::Duration;

use varde_domain::incident::State;
use varde_store::testing::databases;

#[path = "support/browser.rs"]
mod support;
use support::*;

#[tokio::test]
async fn requester_and_agent_resolve_an_incident_in_a_real_browser() {
    let Some(driver) = driver_or_skip().await else { return };
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
