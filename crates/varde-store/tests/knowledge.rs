//! Problems, known errors, articles and the unified search, on every engine.
//! The same data and the same queries must give the same records on SQLite
//! and PostgreSQL, and no one may find what they may not read.

use varde_domain::access::Role;
use varde_domain::incident::{Channel, Patch as IncidentPatch};
use varde_domain::knowledge::{ArticleState, Audience};
use varde_domain::problem::{Patch, State};
use varde_domain::record::JournalKind;
use varde_store::incidents::NewIncident;
use varde_store::knowledge::{ArticleFilter, ArticlePatch, NewArticle, SearchKinds, Viewer};
use varde_store::problems::NewProblem;
use varde_store::testing::{backdate, databases, user};
use varde_store::{Store, StoreError};

async fn incident(store: &Store, requester: i64, short: &str, desc: &str) -> i64 {
    let new = NewIncident {
        short_description: short.into(),
        description: desc.into(),
        channel: Channel::Portal,
        ..varde_store::testing::incident(requester)
    };
    store.create_incident(new, None).await.unwrap().0.id
}

fn article(author: i64, title: &str, body: &str, audience: Audience, groups: Vec<i64>) -> NewArticle {
    NewArticle {
        title: title.into(),
        body: body.into(),
        author,
        category_id: None,
        service_id: None,
        audience,
        groups,
        review_required: true,
        review_at: None,
        expires_at: None,
        source_incident_id: None,
    }
}

/// Writes an article and has a second person publish it.
async fn published(store: &Store, author: i64, reviewer: i64, a: NewArticle) -> i64 {
    let id = store.create_article(a).await.unwrap().id;
    store.transition_article(id, None, ArticleState::Review, author, false).await.unwrap();
    store.transition_article(id, None, ArticleState::Published, reviewer, true).await.unwrap();
    id
}

struct World {
    rita: i64,
    other: i64,
    agent: i64,
    outsider_agent: i64,
}

/// The same data on each engine: incidents of two requesters (one with a
/// work note), a known error, articles for each audience.
async fn world(s: &Store) -> World {
    let rita = user(s, "rita@example.org", Role::Requester).await;
    let other = user(s, "oscar@example.org", Role::Requester).await;
    let agent = user(s, "alan@example.org", Role::Agent).await;
    let reviewer = user(s, "pam@example.org", Role::ProblemManager).await;
    let outsider_agent = user(s, "ole@example.org", Role::Agent).await;
    let network = s.create_group("Network".into(), String::new()).await.unwrap().id;
    s.add_member(network, agent).await.unwrap();

    let mine = incident(s, rita, "Printer on floor 3 stopped printing", "Jobs sit in the queue").await;
    s.add_journal(mine, agent, JournalKind::WorkNote, "firmware zebracode suspected".into()).await.unwrap();
    incident(s, other, "Printers in Malmö: skrivarna skriver inte", "").await;
    incident(s, other, "Wachtwoord vergeten na vakantie", "").await;
    incident(s, other, "VPN drops every few minutes", "").await;

    let (p, _) = s
        .create_problem(
            NewProblem {
                short_description: "Print spooler leaks handles".into(),
                description: "Spooler stops after a day".into(),
                created_by: reviewer,
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
    s.update_problem(p.id, None, Patch { state: Some("under_investigation".into()), ..Patch::default() }, reviewer)
        .await
        .unwrap();
    let ke = Patch {
        state: Some("known_error".into()),
        root_cause: Some(Some("Driver 4.1 leaks spooler handles".into())),
        workaround: Some(Some("Restart the print spooler service".into())),
        ..Patch::default()
    };
    s.update_problem(p.id, Some(2), ke, reviewer).await.unwrap();

    published(
        s,
        agent,
        reviewer,
        article(
            agent,
            "Clearing a stuck printer queue",
            "Restart the spooler, then print again.",
            Audience::Public,
            vec![],
        ),
    )
    .await;
    published(
        s,
        agent,
        reviewer,
        article(agent, "Printer firmware internals", "Internal notes on printer firmware.", Audience::Internal, vec![]),
    )
    .await;
    published(
        s,
        agent,
        reviewer,
        article(
            agent,
            "Printer core switch for network team",
            "Restricted printer routing.",
            Audience::Restricted,
            vec![network],
        ),
    )
    .await;
    // A draft is found by no one's search.
    s.create_article(article(agent, "Printer draft", "Not yet.", Audience::Public, vec![])).await.unwrap();
    World { rita, other, agent, outsider_agent }
}

fn viewer(id: i64, agent: bool) -> Viewer {
    Viewer { user_id: id, agent, admin: false }
}

#[tokio::test]
async fn search_agrees_across_engines_and_respects_rights() {
    let mut per_engine: Vec<Vec<(String, Vec<String>)>> = Vec::new();
    for db in databases().await {
        let s = &db.store;
        let e = db.engine;
        let w = world(s).await;
        let numbers = |hits: Vec<varde_store::knowledge::SearchHit>| {
            let mut v: Vec<String> = hits.into_iter().map(|h| format!("{}:{}", h.kind, h.title)).collect();
            v.sort();
            v
        };
        let mut results = Vec::new();
        let cases: [(&str, i64, bool); 11] = [
            ("printing", w.rita, false),
            // Danish and Dutch, where only the stem can match: neither
            // "printerne" nor "wachtwoorden" begins any indexed word.
            ("printerne", w.agent, true),
            ("wachtwoorden", w.agent, true),
            ("printer", w.rita, false),
            ("zebracode", w.rita, false),
            ("zebracode", w.agent, true),
            ("printer", w.agent, true),
            ("printer", w.outsider_agent, true),
            ("spooler", w.agent, true),
            ("skrivaren", w.agent, true),
            ("vpn", w.rita, false),
        ];
        for (q, who, agent) in cases {
            let hits = s.search_all(&viewer(who, agent), q, SearchKinds::ALL, &Default::default(), 50).await.unwrap();
            for h in &hits {
                assert!(!h.snippet.contains("<script"), "{e}");
            }
            results.push((format!("{q}/{who}/{agent}"), numbers(hits)));
        }
        let get = |k: &str| results.iter().find(|(c, _)| c == k).unwrap().1.clone();
        let r = get(&format!("printerne/{}/true", w.agent));
        assert!(r.contains(&"incident:Printer on floor 3 stopped printing".to_string()), "{e}: Danish {r:?}");
        let r = get(&format!("wachtwoorden/{}/true", w.agent));
        assert_eq!(r, vec!["incident:Wachtwoord vergeten na vakantie".to_string()], "{e}: Dutch");
        // Stemming: "printing" finds the printer article and Rita's ticket.
        let r = get(&format!("printing/{}/false", w.rita));
        assert!(r.contains(&"article:Clearing a stuck printer queue".to_string()), "{e}: {r:?}");
        assert!(r.contains(&"incident:Printer on floor 3 stopped printing".to_string()), "{e}: {r:?}");
        // A requester never sees internal or restricted articles, problems,
        // other requesters' tickets or work notes.
        let r = get(&format!("printer/{}/false", w.rita));
        assert_eq!(
            r,
            vec![
                "article:Clearing a stuck printer queue".to_string(),
                "incident:Printer on floor 3 stopped printing".to_string()
            ],
            "{e}"
        );
        assert!(get(&format!("zebracode/{}/false", w.rita)).is_empty(), "{e}: work note found by a requester");
        assert_eq!(get(&format!("zebracode/{}/true", w.agent)).len(), 1, "{e}");
        assert!(get(&format!("vpn/{}/false", w.rita)).is_empty(), "{e}: another requester's ticket");
        // Restricted articles only reach members of their groups.
        let member = get(&format!("printer/{}/true", w.agent));
        let outsider = get(&format!("printer/{}/true", w.outsider_agent));
        assert!(member.contains(&"article:Printer core switch for network team".to_string()), "{e}: {member:?}");
        assert!(!outsider.iter().any(|h| h.contains("core switch")), "{e}: {outsider:?}");
        assert!(outsider.contains(&"article:Printer firmware internals".to_string()), "{e}");
        assert!(!member.iter().any(|h| h.contains("draft")), "{e}: a draft was found");
        // Known errors are found by their workaround's words.
        assert!(
            get(&format!("spooler/{}/true", w.agent)).contains(&"known_error:Print spooler leaks handles".to_string()),
            "{e}"
        );
        // Swedish: "skrivaren" (the printer) finds "skrivarna" (the printers).
        assert_eq!(get(&format!("skrivaren/{}/true", w.agent)).len(), 1, "{e}");
        let _ = w.other;
        per_engine.push(results);
    }
    if per_engine.len() == 2 {
        assert_eq!(per_engine[0], per_engine[1], "SQLite and PostgreSQL disagree");
    }
}

#[tokio::test]
async fn highlighting_is_escaped_and_marked() {
    for db in databases().await {
        let s = &db.store;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        incident(s, rita, "<script>alert(1)</script> printer", "The <b>printer</b> & the spooler").await;
        let hits =
            s.search_all(&viewer(rita, false), "printer", SearchKinds::ALL, &Default::default(), 10).await.unwrap();
        assert_eq!(hits.len(), 1, "{}", db.engine);
        assert_eq!(hits[0].snippet, "The &lt;b&gt;<mark>printer</mark>&lt;/b&gt; &amp; the spooler", "{}", db.engine);
    }
}

#[tokio::test]
async fn problem_links_known_errors_and_workarounds() {
    for db in databases().await {
        let s = &db.store;
        let e = db.engine;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let pm = user(s, "pam@example.org", Role::ProblemManager).await;
        let (p, _) = s
            .create_problem(
                NewProblem {
                    short_description: "VPN drops".into(),
                    description: String::new(),
                    created_by: pm,
                    priority: 3,
                    assignment_group_id: None,
                    assignee_id: None,
                    service_id: None,
                    category_id: None,
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(p.number, "PRB0000001", "{e}");
        let i1 = incident(s, rita, "VPN drops", "").await;
        let i2 = incident(s, rita, "VPN drops again", "").await;
        s.link_incident_to_problem(p.id, i1, pm).await.unwrap();
        s.link_incident_to_problem(p.id, i2, pm).await.unwrap();
        let dup = s.link_incident_to_problem(p.id, i2, pm).await;
        assert!(matches!(dup, Err(StoreError::Duplicate { .. })), "{e}: {dup:?}");
        let not_incident = s.link_incident_to_problem(p.id, p.id, pm).await;
        assert!(matches!(not_incident, Err(StoreError::UnknownReference { .. })), "{e}");
        let linked = s.problem_incidents(p.id).await.unwrap();
        assert_eq!(linked.len(), 2, "{e}");
        // A note for the desk: the requester's journal does not name the problem.
        assert!(s.journal(i1, true).await.unwrap().iter().any(|j| j.body.contains("PRB0000001")), "{e}");
        assert!(!s.journal(i1, false).await.unwrap().iter().any(|j| j.body.contains("PRB0000001")), "{e}");

        // A workaround can only come from a published known error.
        let early = s.apply_workaround(i1, p.id, pm).await;
        assert!(matches!(early, Err(StoreError::Domain(_))), "{e}: {early:?}");
        // Stale versions are refused and change nothing.
        let stale = s.update_problem(p.id, Some(7), Patch { priority: Some(1), ..Patch::default() }, pm).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 1 })), "{e}");
        s.update_problem(p.id, Some(1), Patch { state: Some("under_investigation".into()), ..Patch::default() }, pm)
            .await
            .unwrap();
        let ke = Patch {
            state: Some("known_error".into()),
            root_cause: Some(Some("MTU mismatch on the concentrator".into())),
            workaround: Some(Some("Lower the MTU to 1400".into())),
            rca_method: Some(Some("five_whys".into())),
            ..Patch::default()
        };
        let p = s.update_problem(p.id, None, ke, pm).await.unwrap();
        assert_eq!((p.state, p.version), (State::KnownError, 3), "{e}");
        assert_eq!(s.known_errors().await.unwrap().len(), 1, "{e}");
        s.apply_workaround(i1, p.id, pm).await.unwrap();
        let again = s.apply_workaround(i1, p.id, pm).await;
        assert!(matches!(again, Err(StoreError::Duplicate { .. })), "{e}");
        let journal = s.journal(i1, false).await.unwrap();
        assert!(
            journal.iter().any(|j| j.kind == "reply" && j.body.contains("Lower the MTU")),
            "{e}: requester sees it"
        );
        let links = s.links(i1).await.unwrap();
        assert!(links.iter().any(|l| l.kind == "workaround_from" && l.to_id == p.id), "{e}");
        let history = s.audit_of(varde_store::audit::Entity::Record, p.id).await.unwrap();
        assert!(history.iter().any(|h| h.field == "workaround"), "{e}");
        // The incident's history has the link and the workaround, once each (a refused
        // second apply left nothing behind).
        let history = s.audit_of(varde_store::audit::Entity::Record, i1).await.unwrap();
        let link = format!("workaround_from {}", p.id);
        let links = history.iter().filter(|h| h.field == "link" && h.new_value.as_deref() == Some(link.as_str()));
        assert_eq!(links.count(), 1, "{e}: {history:?}");
        assert_eq!(history.iter().filter(|h| h.field == "workaround").count(), 1, "{e}");

        // Suggestions for an incident: the known error, by its words.
        let sug = s.suggestions(&viewer(pm, true), "vpn connection drops at home", None, None, false, 5).await.unwrap();
        assert_eq!(sug.first().map(|h| h.number.as_str()), Some("PRB0000001"), "{e}: {sug:?}");
        // Unlink.
        s.unlink_incident_from_problem(p.id, i2, pm).await.unwrap();
        assert_eq!(s.problem_incidents(p.id).await.unwrap().len(), 1, "{e}");
        let report = s.knowledge_report(0, i64::MAX).await.unwrap();
        assert_eq!(report.top_problems.len(), 1, "{e}");
        assert_eq!(report.top_problems[0].incidents, 1, "{e}");
    }
}

/// A problem made with incidents that cannot all be linked is not made:
/// nor the links and journal lines of those that could be, nor its
/// idempotency key, which a retry with a good list then takes.
#[tokio::test]
async fn a_problem_whose_incidents_cannot_all_be_linked_is_not_made() {
    for db in databases().await {
        let s = &db.store;
        let e = db.engine;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let pm = user(s, "pam@example.org", Role::ProblemManager).await;
        let (i1, i2) = (incident(s, rita, "Mail bounces", "").await, incident(s, rita, "Mail is lost", "").await);
        let new = NewProblem {
            short_description: "Mail relay drops connections".into(),
            description: String::new(),
            created_by: pm,
            priority: 3,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            category_id: None,
        };
        let key = varde_store::idempotency::IdempotencyKey { user_id: pm, key: "k1".into(), request_hash: "h".into() };
        for bad in [vec![i1, i2, i1], vec![i1, -5]] {
            let made = s.create_problem_with_incidents(new.clone(), bad, Some(key.clone())).await;
            assert!(made.is_err(), "{e}: {made:?}");
        }
        let none = s.list_problems(&Default::default(), None, 10).await.unwrap();
        assert!(none.is_empty(), "{e}: {none:?}");
        for i in [i1, i2] {
            assert!(s.journal(i, true).await.unwrap().is_empty(), "{e}");
            assert!(s.links(i).await.unwrap().is_empty(), "{e}");
        }

        let (p, replayed) = s.create_problem_with_incidents(new, vec![i2, i1], Some(key)).await.unwrap();
        assert!(!replayed, "{e}");
        let linked: Vec<i64> = s.problem_incidents(p.id).await.unwrap().iter().map(|l| l.id).collect();
        assert_eq!(linked, [i2, i1], "{e}");
    }
}

async fn problem(store: &Store, pm: i64, short: &str) -> i64 {
    let new = NewProblem {
        short_description: short.into(),
        description: String::new(),
        created_by: pm,
        priority: 3,
        assignment_group_id: None,
        assignee_id: None,
        service_id: None,
        category_id: None,
    };
    store.create_problem(new, None).await.unwrap().0.id
}

/// Resolves an incident, straight from new (at first contact) or after it
/// was worked on (not at first contact).
async fn resolve(store: &Store, id: i64, agent: i64, first_contact: bool) {
    if !first_contact {
        let p = IncidentPatch { state: Some("in_progress".into()), ..IncidentPatch::default() };
        store.update_incident(id, None, p, agent).await.unwrap();
    }
    varde_store::testing::resolve(store, id, agent).await;
}

#[tokio::test]
async fn knowledge_report_counts_incidents_of_the_period() {
    const H: i64 = 3_600_000_000;
    for db in databases().await {
        let (s, e) = (&db.store, db.engine);
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let pm = user(s, "pam@example.org", Role::ProblemManager).await;
        // The period is one day; the problems were known long before it.
        let (from, to) = (1_000_000 * H, 1_000_024 * H);
        let mail = problem(s, pm, "Mail is slow").await;
        let vpn = problem(s, pm, "VPN drops").await;
        let printer = problem(s, pm, "Printer jams").await;
        backdate(s, mail, from - 100 * H, None).await;
        backdate(s, vpn, from - 100 * H, Some(from + 5 * H)).await;
        backdate(s, printer, from - 100 * H, None).await;
        // (problem, created, resolved) of each linked incident, none at first contact.
        let linked = [
            // Mail: three incidents of an hour each in the period...
            (mail, from + H, from + 2 * H),
            (mail, from + 2 * H, from + 3 * H),
            (mail, from + 3 * H, from + 4 * H),
            // ... and two long ones outside it: before it, and at its (open) end.
            (mail, from - H, from + 100 * H),
            (mail, to, to + 100 * H),
            // VPN: 8 h before the problem was resolved, 2 h after.
            (vpn, from + H, from + 9 * H),
            (vpn, from + 6 * H, from + 8 * H),
            // Printer: only before the period.
            (printer, from - 10 * H, from - 9 * H),
        ];
        for (n, (p, created, resolved)) in linked.into_iter().enumerate() {
            let i = incident(s, rita, &format!("Linked {n}"), "").await;
            s.link_incident_to_problem(p, i, pm).await.unwrap();
            resolve(s, i, pm, false).await;
            backdate(s, i, created, Some(resolved)).await;
        }
        // Resolved at first contact: two in the period, one before it.
        for created in [from + H, from + 2 * H, from - H] {
            let i = incident(s, rita, "Password reset", "").await;
            resolve(s, i, pm, true).await;
            backdate(s, i, created, Some(created + H)).await;
        }

        let r = s.knowledge_report(from, to).await.unwrap();
        assert_eq!((r.first_contact_resolved, r.resolved_incidents), (2, 7), "{e}");
        let figures = |list: &[varde_store::knowledge::ProblemFigure]| {
            list.iter().map(|p| (p.id, p.incidents, p.time_spent / H)).collect::<Vec<_>>()
        };
        assert_eq!(figures(&r.top_problems), vec![(mail, 3, 3), (vpn, 2, 10)], "{e}: by incidents");
        assert_eq!(figures(&r.top_problems_by_time), vec![(vpn, 2, 10), (mail, 3, 3)], "{e}: by time");
        let split = |list: &[varde_store::knowledge::ProblemFigure]| {
            list.iter().map(|p| (p.id, p.incidents_before_resolution, p.incidents_after_resolution)).collect::<Vec<_>>()
        };
        assert_eq!(split(&r.top_problems), vec![(mail, 3, 0), (vpn, 1, 1)], "{e}: before and after resolution");
        assert_eq!(split(&r.top_problems_by_time), vec![(vpn, 1, 1), (mail, 3, 0)], "{e}");
    }
}

#[tokio::test]
async fn article_workflow_versions_and_rights() {
    for db in databases().await {
        let s = &db.store;
        let e = db.engine;
        let author = user(s, "alan@example.org", Role::ProblemManager).await;
        let reviewer = user(s, "pam@example.org", Role::ProblemManager).await;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let a = s
            .create_article(article(author, "Reset your password", "Go to the portal.", Audience::Public, vec![]))
            .await
            .unwrap();
        assert_eq!((a.number.as_str(), a.state), ("KB0000001", ArticleState::Draft), "{e}");
        // The author may not publish their own text when review is required,
        // not even as a reviewer, and not by skipping review.
        let skip = s.transition_article(a.id, None, ArticleState::Published, reviewer, true).await;
        assert!(skip.is_err(), "{e}");
        s.transition_article(a.id, None, ArticleState::Review, author, true).await.unwrap();
        let own = s.transition_article(a.id, None, ArticleState::Published, author, true).await;
        assert!(matches!(own, Err(StoreError::Domain(_))), "{e}: {own:?}");
        let not_reviewer = s.transition_article(a.id, None, ArticleState::Published, rita, false).await;
        assert!(not_reviewer.is_err(), "{e}");
        assert!(!s.may_read_article(&viewer(rita, false), a.id).await.unwrap(), "{e}: unpublished");
        let a = s.transition_article(a.id, None, ArticleState::Published, reviewer, true).await.unwrap();
        assert_eq!(a.published_version, Some(1), "{e}");
        assert!(s.may_read_article(&viewer(rita, false), a.id).await.unwrap(), "{e}");

        // Editing makes version 2 as a draft; readers keep version 1.
        let a = s
            .update_article(
                a.id,
                Some(a.version),
                ArticlePatch { body: Some("Go to the portal.\nClick Reset.".into()), ..Default::default() },
                author,
            )
            .await
            .unwrap();
        assert_eq!((a.state, a.current_version, a.published_version), (ArticleState::Draft, 2, Some(1)), "{e}");
        assert_eq!(a.published_body.as_deref(), Some("Go to the portal."), "{e}");
        assert!(s.may_read_article(&viewer(rita, false), a.id).await.unwrap(), "{e}");
        let stale = s
            .update_article(a.id, Some(1), ArticlePatch { title: Some("x".into()), ..Default::default() }, author)
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{e}");
        let versions = s.article_versions(a.id).await.unwrap();
        assert_eq!(versions.len(), 2, "{e}");
        let d = varde_domain::knowledge::diff_lines(&versions[0].body, &versions[1].body);
        assert!(d.iter().any(|l| l.tag == "insert" && l.text == "Click Reset."), "{e}");

        // Restricted needs groups.
        let bad = s.create_article(article(author, "Secret", "x", Audience::Restricted, vec![])).await;
        assert!(matches!(bad, Err(StoreError::Domain(_))), "{e}");

        // Feedback and views count.
        s.count_article_view(a.id).await.unwrap();
        s.add_article_feedback(a.id, rita, true, "Worked".into()).await.unwrap();
        s.add_article_feedback(a.id, rita, false, String::new()).await.unwrap();
        let a = s.article(a.id).await.unwrap();
        // Rita changed her mind: her latest answer is the one counted.
        assert_eq!((a.views, a.helpful_yes, a.helpful_no), (1, 0, 1), "{e}");
        s.record_deflection(rita, a.id, "password reset".into()).await.unwrap();
        assert_eq!(s.knowledge_report(0, i64::MAX).await.unwrap().deflections, 1, "{e}");

        // Requesters list only published public articles.
        let list = s.list_articles(&viewer(rita, false), &ArticleFilter::default(), None, 10).await.unwrap();
        assert_eq!(list.len(), 1, "{e}");
        let list = s
            .list_articles(
                &viewer(rita, false),
                &ArticleFilter { text: Some("portal".into()), ..Default::default() },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(list.len(), 1, "{e}");
        // Retire: readers lose it.
        let a = s.transition_article(a.id, None, ArticleState::Review, author, false).await.unwrap();
        let a = s.transition_article(a.id, None, ArticleState::Published, reviewer, true).await.unwrap();
        s.transition_article(a.id, None, ArticleState::Retired, reviewer, true).await.unwrap();
        assert!(!s.may_read_article(&viewer(rita, false), a.id).await.unwrap(), "{e}");
    }
}

#[tokio::test]
async fn recurring_candidates_are_remembered() {
    for db in databases().await {
        let s = &db.store;
        let e = db.engine;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let pm = user(s, "pam@example.org", Role::ProblemManager).await;
        for t in [
            "VPN disconnects every few minutes",
            "VPN drops the connection every few minutes",
            "Keeps getting disconnected from VPN every few minutes",
        ] {
            incident(s, rita, t, "").await;
        }
        incident(s, rita, "Monitor flickers", "").await;
        let items = s.similarity_items(0).await.unwrap();
        assert_eq!(items.len(), 4, "{e}");
        let clusters = varde_domain::recurring::clusters(&items, &Default::default());
        assert_eq!(clusters.len(), 1, "{e}");
        assert_eq!(s.save_candidates(clusters).await.unwrap(), 1);
        // The grouped incidents are not offered again.
        assert_eq!(s.similarity_items(0).await.unwrap().len(), 1, "{e}");
        let c = &s.candidates(Some("proposed"), 10).await.unwrap()[0];
        assert_eq!(c.incidents.len(), 3, "{e}");
        assert!(c.terms.iter().any(|t| t == "vpn"), "{e}: {:?}", c.terms);
        s.decide_candidate(c.id, false, None, pm).await.unwrap();
        let twice = s.decide_candidate(c.id, true, None, pm).await;
        assert!(matches!(twice, Err(StoreError::Domain(_))), "{e}");
        assert_eq!(s.candidates(Some("rejected"), 10).await.unwrap().len(), 1, "{e}");
    }
}

/// Text-filtered lists of articles and problems page newest first through
/// every match, for the desk and for a requester (who sees the published
/// public ones only), however the engine drives the query.
#[tokio::test]
async fn text_filtered_lists_page_through_every_match() {
    use varde_store::incidents::Cursor;
    use varde_store::problems::ProblemFilter;
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let author = user(s, "author@example.org", Role::Agent).await;
        let reviewer = user(s, "reviewer@example.org", Role::ProblemManager).await;
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let mut public = Vec::new();
        let mut internal = Vec::new();
        for k in 0..7 {
            let audience = if k % 3 == 2 { Audience::Internal } else { Audience::Public };
            let id = published(
                s,
                author,
                reviewer,
                article(author, &format!("Printer tray {k}"), "Open it.", audience, vec![]),
            )
            .await;
            if audience == Audience::Public {
                public.push(id)
            } else {
                internal.push(id)
            }
            published(
                s,
                author,
                reviewer,
                article(author, &format!("Monitor cable {k}"), "Swap it.", audience, vec![]),
            )
            .await;
        }
        let mut problems = Vec::new();
        for k in 0..5 {
            for text in ["Printer driver crash", "VPN timeout"] {
                let new = NewProblem {
                    short_description: format!("{text} {k}"),
                    description: String::new(),
                    created_by: reviewer,
                    priority: 3,
                    assignment_group_id: None,
                    assignee_id: None,
                    service_id: None,
                    category_id: None,
                };
                let (p, _) = s.create_problem(new, None).await.unwrap();
                if text.starts_with("Printer") {
                    problems.push(p.id);
                }
            }
        }
        let newest_first = |mut ids: Vec<i64>| {
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids
        };
        let text = ArticleFilter { text: Some("printers".into()), ..Default::default() };
        for (who, expected) in [
            (viewer(author, true), newest_first([public.clone(), internal.clone()].concat())),
            (viewer(rita, false), newest_first(public.clone())),
        ] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = s.list_articles(&who, &text, cursor, 2).await.unwrap();
                let Some(last) = page.last() else { break };
                cursor = Some(Cursor { key: 0, id: last.id });
                seen.extend(page.iter().map(|a| a.id));
            }
            assert_eq!(seen, expected, "{engine}: articles for agent={}", who.agent);
        }
        let text = ProblemFilter { text: Some("print".into()), ..Default::default() };
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s.list_problems(&text, cursor, 2).await.unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(Cursor { key: 0, id: last.id });
            seen.extend(page.iter().map(|p| p.id));
        }
        assert_eq!(seen, newest_first(problems), "{engine}: problems");
    }
}

/// Candidates saved together keep their own incidents and evidence: the
/// write is set-wise, and each candidate's incidents must still be its own.
#[tokio::test]
async fn candidates_saved_together_keep_their_own_incidents() {
    use varde_domain::recurring::Cluster;
    for db in databases().await {
        let (s, e) = (&db.store, db.engine);
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let mut clusters = Vec::new();
        for (k, word) in ["vpn", "printer", "monitor", "outlook"].iter().enumerate() {
            let mut ids = Vec::new();
            for n in 0..=k + 1 {
                ids.push(incident(s, rita, &format!("{word} trouble {n}"), "").await);
            }
            clusters.push(Cluster {
                group: if k % 2 == 0 { "s:c".into() } else { format!("s{k}:c") },
                ids,
                terms: vec![word.to_string(), "trouble".into()],
                cohesion: 0.5 + k as f64 / 10.0,
            });
        }
        assert_eq!(s.save_candidates(clusters.clone()).await.unwrap(), 4, "{e}");
        let saved = s.candidates(Some("proposed"), 10).await.unwrap();
        assert_eq!(saved.len(), 4, "{e}");
        for c in &clusters {
            let got = saved.iter().find(|x| x.terms == c.terms).unwrap_or_else(|| panic!("{e}: {:?}", c.terms));
            let mut incidents = got.incidents.clone();
            incidents.sort_unstable();
            assert_eq!(incidents, c.ids, "{e}: the incidents of {:?}", c.terms);
            assert_eq!(got.cohesion, (c.cohesion * 100.0).round() as i64, "{e}");
            assert_eq!(got.group_key, c.group, "{e}");
        }
        assert_eq!(saved.iter().find(|x| x.terms[0] == "printer").unwrap().service_id, Some(1), "{e}");
        assert_eq!(s.save_candidates(Vec::new()).await.unwrap(), 0, "{e}");
    }
}

/// The unified search's filters: a service, open or finished, and when a
/// record last changed, across incidents, problems and articles.
#[tokio::test]
async fn unified_search_filters_by_service_state_and_time() {
    use varde_domain::incident::{ResolutionCode, State as IncidentState};
    use varde_store::import::ImportedIncident;
    use varde_store::knowledge::SearchFilter;
    for db in databases().await {
        let (s, e) = (&db.store, db.engine);
        let agent = user(s, "agent@example.org", Role::ProblemManager).await;
        let reviewer = user(s, "reviewer@example.org", Role::ProblemManager).await;
        let mail = s.create_service("Mail".into(), String::new()).await.unwrap().id;
        let print = s.create_service("Print".into(), String::new()).await.unwrap().id;
        let new = |text: &str, service: i64| NewIncident {
            short_description: text.into(),
            service_id: Some(service),
            ..varde_store::testing::incident(agent)
        };
        let open_mail = s.create_incident(new("Outage of the mail relay", mail), None).await.unwrap().0.number;
        let open_print = s.create_incident(new("Outage of the print server", print), None).await.unwrap().0.number;
        let t = 1_700_000_000_000_000;
        let closed = s
            .import_incidents(vec![ImportedIncident {
                new: new("Outage of the mail gateway", mail),
                created_at: t,
                updated_at: t,
                state: IncidentState::Closed,
                resolution: Some((ResolutionCode::Fixed, "Restarted".into())),
            }])
            .await
            .unwrap()[0];
        let closed = s.incident(closed).await.unwrap().number;
        let problem = NewProblem {
            short_description: "Outage of mail every Monday".into(),
            description: String::new(),
            created_by: reviewer,
            priority: 2,
            assignment_group_id: None,
            assignee_id: None,
            service_id: Some(mail),
            category_id: None,
        };
        let other = NewProblem {
            short_description: "Outage of print queues".into(),
            service_id: Some(print),
            ..problem.clone()
        };
        let problem = s.create_problem(problem, None).await.unwrap().0.number;
        let other = s.create_problem(other, None).await.unwrap().0.number;
        let mut a = article(agent, "Outage of mail: what to do", "Wait.", Audience::Internal, vec![]);
        a.service_id = Some(mail);
        let a = published(s, agent, reviewer, a).await;
        let article_number = s.article(a).await.unwrap().number;

        let desk = viewer(agent, true);
        let found = |f: SearchFilter| async move {
            let hits = s.search_all(&desk, "outage", SearchKinds::ALL, &f, 50).await.unwrap();
            let mut n: Vec<String> = hits.into_iter().map(|h| h.number).collect();
            n.sort();
            n
        };
        let sorted = |mut v: Vec<&String>| {
            v.sort();
            v.into_iter().cloned().collect::<Vec<String>>()
        };
        let everything = sorted(vec![&open_mail, &open_print, &closed, &problem, &other, &article_number]);
        assert_eq!(found(SearchFilter::default()).await, everything, "{e}");
        let by_mail = SearchFilter { service_id: Some(mail), ..Default::default() };
        assert_eq!(found(by_mail).await, sorted(vec![&open_mail, &closed, &problem, &article_number]), "{e}");
        let open = SearchFilter { open: Some(true), ..Default::default() };
        assert_eq!(found(open).await, sorted(vec![&open_mail, &open_print, &problem, &other]), "{e}: no articles");
        let finished = SearchFilter { open: Some(false), ..Default::default() };
        assert_eq!(found(finished).await, vec![closed.clone()], "{e}");
        let recent = SearchFilter { updated_from: Some(t + 1), ..Default::default() };
        assert!(!found(recent).await.contains(&closed), "{e}: changed before the period");
        let old = SearchFilter { updated_to: Some(t + 1), ..Default::default() };
        assert_eq!(found(old).await, vec![closed.clone()], "{e}");
    }
}

/// Incidents on one CI are grouped together whatever service or category
/// the desk gave them, and apart from look-alikes on no CI.
#[tokio::test]
async fn recurring_incidents_on_one_ci_are_grouped_by_it() {
    use varde_store::cmdb::{ChangeContext, CiFields};
    for db in databases().await {
        let (s, e) = (&db.store, db.engine);
        let rita = user(s, "rita@example.org", Role::Requester).await;
        let agent = user(s, "alan@example.org", Role::Agent).await;
        let class_id = s.ci_classes().await.unwrap().by_name("Server").unwrap().id;
        let attributes = serde_json::json!({"hostname": "db-01", "domain": "corp", "os": "Linux"});
        let attributes = attributes.as_object().cloned().unwrap();
        let fields = CiFields { class_id, name: "db-01".into(), attributes, ..Default::default() };
        let db01 = s.create_ci(fields, ChangeContext::default()).await.unwrap().id;
        let mut on_ci = Vec::new();
        for (k, service) in [
            ("Mail", "Database timeouts during the nightly run"),
            ("Payroll", "Database timeouts in the nightly run"),
            ("Mail", "Nightly run: database timeouts"),
        ]
        .iter()
        .enumerate()
        {
            let svc = s.create_service(format!("{} {k}", service.0), String::new()).await.unwrap().id;
            let new = NewIncident {
                short_description: service.1.into(),
                service_id: Some(svc),
                ..varde_store::testing::incident(rita)
            };
            let id = s.create_incident(new, None).await.unwrap().0.id;
            s.link_record_ci(id, db01, agent).await.unwrap();
            on_ci.push(id);
        }
        // The same words on no CI, in one service: a group of their own.
        let mut plain = Vec::new();
        for t in [
            "Database timeouts during the nightly run",
            "Database timeouts in the nightly run",
            "Nightly run: database timeouts",
        ] {
            plain.push(incident(s, rita, t, "").await);
        }
        let items = s.similarity_items(0).await.unwrap();
        let clusters = varde_domain::recurring::clusters(&items, &Default::default());
        let mut groups: Vec<(String, Vec<i64>)> = clusters.into_iter().map(|c| (c.group, c.ids)).collect();
        groups.sort();
        assert_eq!(groups, vec![(format!("ci{db01}"), on_ci), ("s:c".to_string(), plain)], "{e}");
    }
}
