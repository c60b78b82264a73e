//! Knowledge in a real browser (headless Chromium over WebDriver, the real
//! server on a real socket, every engine): a requester typing a subject in
//! the portal is offered a public article and reports it solved it
//! (deflection, nothing filed); an agent applies a known error's workaround
//! from the incident page's knowledge panel.

use varde::state::AppState;
use varde_domain::incident::Channel;
use varde_domain::knowledge::{ArticleState, Audience};
use varde_domain::priority::Level;
use varde_domain::problem::Patch;
use varde_store::incidents::NewIncident;
use varde_store::knowledge::NewArticle;
use varde_store::problems::NewProblem;
use varde_store::testing::databases;

#[path = "support/browser.rs"]
mod support;
use support::*;

async fn id_of(state: &AppState, email: &str) -> i64 {
    state.store.user_by_email(email).await.unwrap().id
}

#[tokio::test]
async fn portal_deflection_and_known_error_workaround_in_a_real_browser() {
    let Some(driver) = driver_or_skip().await else { return };
    for db in databases().await {
        let e = db.engine;
        let (base, state) = serve(&db).await;
        user(&state, "rita@example.org", "Rita Requester", "requester").await;
        user(&state, "alex@example.org", "Alex Agent", "agent").await;
        user(&state, "pam@example.org", "Pam Problem", "problem_manager").await;
        user(&state, "rob@example.org", "Rob Reviewer", "problem_manager").await;
        let (rita, alex, pam, rob) = (
            id_of(&state, "rita@example.org").await,
            id_of(&state, "alex@example.org").await,
            id_of(&state, "pam@example.org").await,
            id_of(&state, "rob@example.org").await,
        );
        let s = &state.store;
        // A published public article, written by Pam and published by Rob.
        let a = s
            .create_article(NewArticle {
                title: "Printer queue stuck".into(),
                body: "Open **Printers**, choose the printer and press *Clear queue*.".into(),
                author: pam,
                category_id: None,
                service_id: None,
                audience: Audience::Public,
                groups: vec![],
                review_required: true,
                review_at: None,
                expires_at: None,
                source_incident_id: None,
            })
            .await
            .unwrap();
        s.transition_article(a.id, None, ArticleState::Review, pam, true).await.unwrap();
        s.transition_article(a.id, None, ArticleState::Published, rob, true).await.unwrap();
        // A known error with a workaround.
        let (p, _) = s
            .create_problem(
                NewProblem {
                    short_description: "VPN concentrator drops sessions".into(),
                    description: String::new(),
                    created_by: pam,
                    priority: 2,
                    assignment_group_id: None,
                    assignee_id: None,
                    service_id: None,
                    category_id: None,
                },
                None,
            )
            .await
            .unwrap();
        s.update_problem(p.id, None, Patch { state: Some("under_investigation".into()), ..Patch::default() }, pam)
            .await
            .unwrap();
        let ke = Patch {
            state: Some("known_error".into()),
            root_cause: Some(Some("MTU mismatch".into())),
            workaround: Some(Some("Lower the MTU to 1400 in the VPN client".into())),
            ..Patch::default()
        };
        s.update_problem(p.id, None, ke, pam).await.unwrap();

        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;

        // Portal: typing a subject offers the article (htmx, debounced).
        login(&c, &base, "rita@example.org").await;
        fill(&c, "#short_description", "my printer is stuck").await;
        let offered = wait_for(&c, "#suggestions a[href='/kb/KB0000001']").await;
        assert_eq!(offered.text().await.unwrap(), "Printer queue stuck", "{e}");
        let before = s.knowledge_report(0, i64::MAX).await.unwrap();
        click(&c, "#suggestions form[action='/portal/deflect'] button").await;
        wait_for(&c, "p[role='status']").await;
        assert!(c.current_url().await.unwrap().query().unwrap_or("").contains("deflected=1"), "{e}");
        let after = s.knowledge_report(0, i64::MAX).await.unwrap();
        assert_eq!(after.deflections, before.deflections + 1, "{e}: the deflection was not counted");
        assert_eq!(after.portal_incidents, 0, "{e}: something was filed");
        // The article itself reads as rendered Markdown.
        c.goto(&format!("{base}/kb/KB0000001")).await.unwrap();
        let strong = wait_for(&c, ".article-body strong").await.text().await.unwrap();
        assert_eq!(strong, "Printers", "{e}");
        logout(&c).await;

        // An incident like the known error; the agent applies its workaround.
        let new = NewIncident {
            short_description: "VPN keeps dropping my session".into(),
            description: "Every few minutes the VPN disconnects.".into(),
            requester_id: rita,
            created_by: rita,
            assignment_group_id: None,
            assignee_id: None,
            impact: Level::MEDIUM,
            urgency: Level::MEDIUM,
            category_id: None,
            service_id: None,
            channel: Channel::Portal,
            major: false,
        };
        let (inc, _) = s.create_incident(new, None).await.unwrap();
        login(&c, &base, "alex@example.org").await;
        c.goto(&format!("{base}/incidents/{}", inc.number)).await.unwrap();
        // The panel arrives by htmx into the incident page.
        let apply = format!("#knowledge input[value='{}'] ~ button[value='known_error']", p.number);
        wait_for(&c, "#knowledge").await;
        click(&c, &apply).await;
        // The click posts the form and the page reloads; the journal is on the page before
        // and after, so wait for the link the apply makes rather than for an element.
        let mut links = Vec::new();
        for _ in 0..100 {
            links = s.links(inc.id).await.unwrap();
            if !links.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        wait_for(&c, "#journal").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Lower the MTU to 1400"), "{e}: the workaround is not in the journal");
        assert!(links.iter().any(|l| l.kind == "workaround_from" && l.to_id == p.id), "{e}: {links:?}");
        let journal = s.journal(inc.id, false).await.unwrap();
        assert!(journal.iter().any(|j| j.author_id == alex && j.body.contains(&p.number)), "{e}");
        c.close().await.unwrap();
    }
}
