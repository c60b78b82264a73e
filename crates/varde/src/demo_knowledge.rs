//! The demo desk's problems, known errors and knowledge articles, made
//! after its incidents so that problems can link the incidents they cause.

use varde_domain::knowledge::{ArticleState, Audience};
use varde_domain::problem::Patch;
use varde_store::incidents::{Filter, Scope, Sort};
use varde_store::knowledge::NewArticle;
use varde_store::problems::NewProblem;
use varde_store::Store;

use crate::config::anyhow_lite;

/// (title, Markdown body, audience, published)
const ARTICLES: &[(&str, &str, Audience, bool)] = &[
    (
        "Printer queue stuck: clear it yourself",
        "When documents wait in the queue and nothing prints:\n\n1. Open **Settings > Printers**.\n2. Choose the printer and press **Open queue**.\n3. Cancel all documents, then print again.\n\nStill stuck? Report it in the portal.",
        Audience::Public,
        true,
    ),
    (
        "Reset your password",
        "Go to the self-service page and choose **Forgot password**. A code is sent to your phone.\n\nPasswords must be 14 characters or more.",
        Audience::Public,
        true,
    ),
    (
        "Connect to the VPN from home",
        "Start the VPN client, pick **Office** and sign in with your usual password.\n\nIf the connection drops every few minutes, see the known error on the VPN (the desk applies its workaround).",
        Audience::Public,
        true,
    ),
    (
        "Restarting the print spooler on the print server",
        "Internal procedure.\n\n```\nRestart-Service Spooler\n```\n\nCheck the queue afterwards and tell the caller.",
        Audience::Internal,
        true,
    ),
    (
        "Outlook asks for the password again and again",
        "Clear the stored credentials in **Credential Manager** and restart Outlook.",
        Audience::Public,
        false,
    ),
];

/// Words of each demo problem and what is known of it.
struct DemoProblem {
    short: &'static str,
    words: &'static str,
    root_cause: Option<&'static str>,
    workaround: Option<&'static str>,
}

const PROBLEMS: &[DemoProblem] = &[
    DemoProblem {
        short: "VPN sessions drop every few minutes",
        words: "vpn",
        root_cause: Some("The VPN concentrator's MTU does not match the new ISP link; large packets are dropped."),
        workaround: Some("Set the MTU to 1400 in the VPN client (Settings > Advanced) and reconnect."),
    },
    DemoProblem {
        short: "Print spooler hangs on the floor printers",
        words: "printer",
        root_cause: None,
        workaround: None,
    },
];

pub async fn fill(store: &Store, pm: i64, author: i64) -> anyhow_lite::Result<()> {
    for (title, body, audience, published) in ARTICLES {
        let a = store
            .create_article(NewArticle {
                title: title.to_string(),
                body: body.to_string(),
                author,
                category_id: None,
                service_id: None,
                audience: *audience,
                groups: vec![],
                review_required: true,
                review_at: None,
                expires_at: None,
                source_incident_id: None,
            })
            .await?;
        store.transition_article(a.id, None, ArticleState::Review, author, false).await?;
        if *published {
            store.transition_article(a.id, None, ArticleState::Published, pm, true).await?;
        }
    }
    for d in PROBLEMS {
        let (p, _) = store
            .create_problem(
                NewProblem {
                    short_description: d.short.into(),
                    description: String::new(),
                    created_by: pm,
                    priority: 2,
                    assignment_group_id: None,
                    assignee_id: None,
                    service_id: None,
                    category_id: None,
                },
                None,
            )
            .await?;
        store
            .update_problem(p.id, None, Patch { state: Some("under_investigation".into()), ..Patch::default() }, pm)
            .await?;
        if let (Some(rc), Some(w)) = (d.root_cause, d.workaround) {
            let ke = Patch {
                state: Some("known_error".into()),
                root_cause: Some(Some(rc.into())),
                rca_method: Some(Some("five_whys".into())),
                workaround: Some(Some(w.into())),
                ..Patch::default()
            };
            store.update_problem(p.id, None, ke, pm).await?;
        }
        let f = Filter { text: Some(d.words.into()), ..Filter::default() };
        for i in store.list_incidents(Scope::All, &f, Sort::Newest, None, 8).await? {
            store.link_incident_to_problem(p.id, i.id, pm).await?;
        }
    }
    // What the hourly job would have proposed by now.
    crate::service::problems::detect(store).await.map_err(|e| e.problem().detail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use varde_store::knowledge::{ArticleFilter, Viewer};
    use varde_store::problems::ProblemFilter;

    #[tokio::test]
    async fn the_demo_has_problems_known_errors_and_articles() {
        for db in varde_store::testing::databases().await {
            crate::demo::fill_with(&db.store, 150, 7, false).await.unwrap();
            let problems = db.store.list_problems(&ProblemFilter::default(), None, 10).await.unwrap();
            assert_eq!(problems.len(), 2, "{}", db.engine);
            assert_eq!(db.store.known_errors().await.unwrap().len(), 1, "{}", db.engine);
            let linked = db.store.problem_incidents(problems[1].id).await.unwrap();
            assert!(!linked.is_empty(), "{}: the VPN problem has incidents", db.engine);
            // A requester's view: who exactly does not matter for public articles.
            let v = Viewer { user_id: 0, agent: false, admin: false };
            let public = db.store.list_articles(&v, &ArticleFilter::default(), None, 50).await.unwrap();
            assert_eq!(public.len(), 3, "{}: three published public articles", db.engine);
        }
    }
}
