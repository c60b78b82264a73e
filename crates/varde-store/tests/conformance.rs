//! The store conformance suite: every story runs against SQLite and, when
//! configured, PostgreSQL, and must behave the same on both.

use varde_domain::access::Role;
use varde_domain::incident::{Channel, Patch, State};
use varde_domain::priority::Level;
use varde_domain::record::{JournalKind, LinkKind};
use varde_store::directory::{NewUser, UserChanges};
use varde_store::idempotency::IdempotencyKey;
use varde_store::incidents::{Cursor, Filter, NewIncident, Scope, Sort};
use varde_store::testing::{databases, user};
use varde_store::{Store, StoreError};

fn new_incident(requester: i64, text: &str) -> NewIncident {
    NewIncident {
        short_description: text.into(),
        channel: Channel::Portal,
        ..varde_store::testing::incident(requester)
    }
}

#[tokio::test]
async fn users_are_unique_by_email_and_versioned() {
    for db in databases().await {
        let s = &db.store;
        let id = user(s, "ann@example.org", Role::Agent).await;
        let dup = s
            .create_user(
                NewUser {
                    email: "ann@example.org".into(),
                    name: "x".into(),
                    role: Role::Agent,
                    organisation_id: None,
                    password_hash: None,
                },
                None,
            )
            .await;
        assert!(matches!(dup, Err(StoreError::Duplicate { field: "email" })), "{}: {dup:?}", db.engine);
        let u = s
            .update_user(id, Some(1), UserChanges { name: Some("Ann".into()), ..Default::default() }, id)
            .await
            .unwrap();
        assert_eq!((u.name.as_str(), u.version), ("Ann", 2), "{}", db.engine);
        let stale =
            s.update_user(id, Some(1), UserChanges { name: Some("Bob".into()), ..Default::default() }, id).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 2 })), "{}: {stale:?}", db.engine);
        assert_eq!(s.user(id).await.unwrap().name, "Ann");
        let bad_org =
            s.update_user(id, None, UserChanges { organisation_id: Some(Some(999)), ..Default::default() }, id).await;
        assert!(matches!(bad_org, Err(StoreError::UnknownReference { .. })), "{}", db.engine);
    }
}

#[tokio::test]
async fn sessions_and_tokens() {
    for db in databases().await {
        let s = &db.store;
        let id = user(s, "ann@example.org", Role::Agent).await;
        let far = varde_store::now_micros() + 3_600_000_000;
        s.create_session("h1".into(), id, "csrf1".into(), far).await.unwrap();
        s.create_session("old".into(), id, "csrf0".into(), 1).await.unwrap();
        assert_eq!(s.session_user("h1").await.unwrap().unwrap().1, "csrf1");
        assert!(s.session_user("old").await.unwrap().is_none(), "{}: expired session accepted", db.engine);
        s.set_password(id, "hash".into(), Some("h1".into())).await.unwrap();
        assert!(s.session_user("h1").await.unwrap().is_some(), "the changing session stays");
        let t = s.create_token(id, "ci".into(), "tokhash".into()).await.unwrap();
        assert_eq!(s.token_user("tokhash").await.unwrap().unwrap().id, id);
        s.revoke_token(id, t.id).await.unwrap();
        assert!(s.token_user("tokhash").await.unwrap().is_none(), "{}: revoked token accepted", db.engine);
        assert!(matches!(s.revoke_token(id, t.id).await, Err(StoreError::NotFound)));
        s.update_user(id, None, UserChanges { active: Some(false), ..Default::default() }, id).await.unwrap();
        s.create_session("h2".into(), id, "c".into(), far).await.unwrap();
        assert!(s.session_user("h2").await.unwrap().is_none(), "{}: inactive user logged in", db.engine);
    }
}

#[tokio::test]
async fn incidents_are_numbered_audited_and_versioned() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let agent = user(s, "agent@example.org", Role::Agent).await;
        let (a, replay) = s.create_incident(new_incident(req, "Printer jams"), None).await.unwrap();
        let (b, _) = s.create_incident(new_incident(req, "VPN down"), None).await.unwrap();
        assert!(!replay);
        assert_eq!(s.incident(a.id).await.unwrap(), a, "{}: what create returns is what is stored", db.engine);
        assert_eq!(a.number, "INC0000001", "{}", db.engine);
        assert_eq!(b.number, "INC0000002", "{}", db.engine);
        assert_eq!(a.priority.get(), 3);
        assert_eq!(s.incident_by_number("inc0000002").await.unwrap().id, b.id);

        let p = Patch { impact: Some(1), urgency: Some(1), ..Patch::default() };
        let up = s.update_incident(a.id, Some(1), p.clone(), agent).await.unwrap();
        assert_eq!((up.priority.get(), up.version), (1, 2), "{}", db.engine);
        // A stale version is refused and changes nothing.
        let stale = s.update_incident(a.id, Some(1), Patch { major: Some(true), ..Patch::default() }, agent).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 2 })), "{}: {stale:?}", db.engine);
        assert!(!s.incident(a.id).await.unwrap().major);
        // An empty or no-op patch writes nothing.
        assert_eq!(s.update_incident(a.id, None, p, agent).await.unwrap().version, 2);

        let audit = s.audit_of(varde_store::audit::Entity::Record, a.id).await.unwrap();
        let fields: Vec<_> = audit.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["created", "impact", "urgency", "priority"], "{}", db.engine);
        assert_eq!(audit[3].old_value.as_deref(), Some("3"));
        assert_eq!(audit[3].new_value.as_deref(), Some("1"));
        assert_eq!(audit[3].actor_id, Some(agent));
    }
}

#[tokio::test]
async fn invalid_changes_write_nothing() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let agent = user(s, "agent@example.org", Role::Agent).await;
        let outsider = user(s, "out@example.org", Role::Agent).await;
        let g = s.create_group("Service desk".into(), String::new()).await.unwrap();
        s.add_member(g.id, agent).await.unwrap();
        let (i, _) = s.create_incident(new_incident(req, "Mail"), None).await.unwrap();

        let bad =
            s.update_incident(i.id, None, Patch { state: Some("closed".into()), ..Patch::default() }, agent).await;
        assert!(matches!(bad, Err(StoreError::Domain(_))), "{}: {bad:?}", db.engine);
        let p = Patch { assignment_group_id: Some(Some(g.id)), assignee_id: Some(Some(outsider)), ..Patch::default() };
        let bad = s.update_incident(i.id, None, p, agent).await;
        assert!(matches!(bad, Err(StoreError::Domain(_))), "{}: {bad:?}", db.engine);
        let p = Patch { service_id: Some(Some(4242)), short_description: Some("Changed".into()), ..Patch::default() };
        let bad = s.update_incident(i.id, None, p, agent).await;
        assert!(matches!(bad, Err(StoreError::UnknownReference { field: "service_id" })), "{}: {bad:?}", db.engine);
        let now = s.incident(i.id).await.unwrap();
        assert_eq!(now, i, "{}: a refused change left a trace", db.engine);
        assert_eq!(s.audit_of(varde_store::audit::Entity::Record, i.id).await.unwrap().len(), 1);

        let p = Patch { assignment_group_id: Some(Some(g.id)), assignee_id: Some(Some(agent)), ..Patch::default() };
        let ok = s.update_incident(i.id, None, p, agent).await.unwrap();
        assert_eq!(ok.assignee_id, Some(agent));
        let create_bad = NewIncident { assignment_group_id: Some(999), ..new_incident(req, "x") };
        assert!(matches!(
            s.create_incident(create_bad, None).await,
            Err(StoreError::UnknownReference { field: "assignment_group_id" })
        ));
    }
}

#[tokio::test]
async fn life_cycle_and_auto_close_timer() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let (i, _) = s.create_incident(new_incident(req, "Disk full"), None).await.unwrap();
        let p = Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Cleaned /tmp".into()),
            ..Patch::default()
        };
        let r = s.update_incident(i.id, None, p, req).await.unwrap();
        assert_eq!(r.lifecycle.state, State::Resolved);
        assert!(r.resolved_at.is_some());
        let jobs = s.pending_jobs().await.unwrap();
        assert_eq!(jobs.len(), 1, "{}", db.engine);
        assert_eq!(jobs[0].kind, "close_incident");
        assert_eq!(jobs[0].payload, i.id.to_string());
        let reopened = s
            .update_incident(i.id, None, Patch { state: Some("in_progress".into()), ..Patch::default() }, req)
            .await
            .unwrap();
        assert_eq!(reopened.lifecycle.reopen_count, 1);
        assert_eq!(reopened.resolved_at, None);
        assert!(
            s.list_incidents(Scope::All, &Filter { open: Some(true), ..Filter::default() }, Sort::Newest, None, 10)
                .await
                .unwrap()
                .len()
                == 1
        );
    }
}

#[tokio::test]
async fn pages_cover_every_row_once_in_every_sort() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let mut all = Vec::new();
        for n in 0..23 {
            let mut ni = new_incident(req, &format!("Case {n}"));
            ni.impact = Level::new("", 1 + n % 3).unwrap();
            all.push(s.create_incident(ni, None).await.unwrap().0.id);
        }
        for sort in [Sort::Newest, Sort::Oldest, Sort::Priority, Sort::Updated] {
            let full = s.list_incidents(Scope::All, &Filter::default(), sort, None, 100).await.unwrap();
            assert_eq!(full.len(), 23);
            let mut paged = Vec::new();
            let mut cursor = None;
            loop {
                let page = s.list_incidents(Scope::All, &Filter::default(), sort, cursor, 5).await.unwrap();
                if page.is_empty() {
                    break;
                }
                let last = page.last().unwrap();
                let key = match sort {
                    Sort::Priority => last.priority.get(),
                    Sort::Updated => last.updated_at,
                    _ => last.id,
                };
                cursor = Some(Cursor { key, id: last.id });
                paged.extend(page.into_iter().map(|i| i.id));
            }
            assert_eq!(paged, full.iter().map(|i| i.id).collect::<Vec<_>>(), "{} {sort:?}", db.engine);
            if sort == Sort::Priority {
                assert!(full.windows(2).all(|w| w[0].priority <= w[1].priority));
            }
        }
        let p1 = s
            .list_incidents(Scope::All, &Filter { priorities: vec![2], ..Filter::default() }, Sort::Newest, None, 100)
            .await
            .unwrap();
        assert!(!p1.is_empty() && p1.iter().all(|i| i.priority.get() == 2), "{}", db.engine);
    }
}

#[tokio::test]
async fn search_finds_the_same_records_on_every_engine() {
    let mut results = Vec::new();
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let texts = [
            "Outlook won't start after update",
            "VPN tunnel drops every hour",
            "Printer on floor 3 jams",
            "Cannot reach ann@example.org mailbox",
            "Ærø office: network down",
            "vpn client licence expired",
        ];
        let mut ids = Vec::new();
        for t in texts {
            ids.push(s.create_incident(new_incident(req, t), None).await.unwrap().0.id);
        }
        s.add_journal(ids[2], req, JournalKind::Reply, "Toner cartridge replaced".into()).await.unwrap();
        let mut found = Vec::new();
        for q in
            ["vpn", "VPN drops", "outl", "example", "ærø", "toner", "INC0000003", "won't", "<script>", "\"'*)", "zzz"]
        {
            let f = Filter { text: Some(q.into()), ..Filter::default() };
            let hits = s.list_incidents(Scope::All, &f, Sort::Oldest, None, 50).await.unwrap();
            let pos: Vec<usize> = hits.iter().map(|h| ids.iter().position(|i| *i == h.id).unwrap()).collect();
            found.push((q, pos));
        }
        assert_eq!(found[0].1, vec![1, 5], "{}", db.engine);
        assert_eq!(found[1].1, vec![1], "{}", db.engine);
        assert_eq!(found[5].1, vec![2], "{}: journal is searched", db.engine);
        assert_eq!(found[6].1, vec![2], "{}: numbers are searched", db.engine);
        results.push((db.engine, found));
    }
    for w in results.windows(2) {
        assert_eq!(w[0].1, w[1].1, "{} and {} disagree", w[0].0, w[1].0);
    }
}

#[tokio::test]
async fn requesters_see_only_their_own_and_shared() {
    for db in databases().await {
        let s = &db.store;
        let ann = user(s, "ann@example.org", Role::Requester).await;
        let bob = user(s, "bob@example.org", Role::Requester).await;
        let (a, _) = s.create_incident(new_incident(ann, "Ann's"), None).await.unwrap();
        let (b, _) = s.create_incident(new_incident(bob, "Bob's"), None).await.unwrap();
        assert!(s.can_see(Scope::Requester(ann), a.id).await.unwrap());
        assert!(!s.can_see(Scope::Requester(ann), b.id).await.unwrap(), "{}", db.engine);
        let mine = s.list_incidents(Scope::Requester(ann), &Filter::default(), Sort::Newest, None, 10).await.unwrap();
        assert_eq!(mine.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a.id]);
        s.add_watcher(b.id, ann, bob).await.unwrap();
        assert!(s.can_see(Scope::Requester(ann), b.id).await.unwrap(), "{}: sharing", db.engine);
        let mine = s.list_incidents(Scope::Requester(ann), &Filter::default(), Sort::Newest, None, 10).await.unwrap();
        assert_eq!(mine.len(), 2);
        s.remove_watcher(b.id, ann, bob).await.unwrap();
        assert!(!s.can_see(Scope::Requester(ann), b.id).await.unwrap());
    }
}

#[tokio::test]
async fn journal_attachments_links() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let agent = user(s, "agent@example.org", Role::Agent).await;
        let (a, _) = s.create_incident(new_incident(req, "A"), None).await.unwrap();
        let (b, _) = s.create_incident(new_incident(req, "B"), None).await.unwrap();
        s.add_journal(a.id, agent, JournalKind::WorkNote, "internal".into()).await.unwrap();
        s.add_journal(a.id, agent, JournalKind::Reply, "public".into()).await.unwrap();
        assert_eq!(s.journal(a.id, true).await.unwrap().len(), 2);
        let public = s.journal(a.id, false).await.unwrap();
        assert_eq!(public.iter().map(|j| j.body.as_str()).collect::<Vec<_>>(), vec!["public"], "{}", db.engine);
        assert!(matches!(s.add_journal(9999, agent, JournalKind::Reply, "x".into()).await, Err(StoreError::NotFound)));

        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let m = s
            .add_attachment(a.id, "dump.bin".into(), "application/octet-stream".into(), data.clone(), agent)
            .await
            .unwrap();
        let (meta, back) = s.attachment(m.id).await.unwrap();
        assert_eq!(back, data, "{}: attachment bytes", db.engine);
        assert_eq!(meta.size, 70_000);
        assert_eq!(meta.sha256.len(), 64);

        let l = s.add_link(a.id, b.id, LinkKind::DuplicateOf, agent).await.unwrap();
        assert!(matches!(
            s.add_link(a.id, b.id, LinkKind::DuplicateOf, agent).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(s.add_link(a.id, a.id, LinkKind::RelatesTo, agent).await.is_err());
        assert_eq!(s.links(b.id).await.unwrap().len(), 1, "links show from both ends");
        s.remove_link(b.id, l.id, agent).await.unwrap();
        assert!(s.links(a.id).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn idempotent_creates_replay() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let k = IdempotencyKey { user_id: req, key: "abc".into(), request_hash: "h1".into() };
        let (first, r1) = s.create_incident(new_incident(req, "Once"), Some(k.clone())).await.unwrap();
        let (again, r2) = s.create_incident(new_incident(req, "Once"), Some(k.clone())).await.unwrap();
        assert!(!r1 && r2, "{}", db.engine);
        assert_eq!(first.id, again.id);
        let other = IdempotencyKey { request_hash: "h2".into(), ..k };
        assert!(matches!(s.create_incident(new_incident(req, "Other"), Some(other)).await, Err(StoreError::Domain(_))));
        assert_eq!(s.list_incidents(Scope::All, &Filter::default(), Sort::Newest, None, 10).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_creates_get_distinct_numbers_and_failures_stay_isolated() {
    for db in databases().await {
        let s = db.store.clone();
        let req = user(&s, "req@example.org", Role::Requester).await;
        let mut tasks = Vec::new();
        for n in 0..120 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut ni = new_incident(req, &format!("c{n}"));
                if n % 10 == 0 {
                    ni.service_id = Some(424242); // fails inside the shared transaction
                }
                s.create_incident(ni, None).await.map(|(i, _)| i.number)
            }));
        }
        let mut ok = Vec::new();
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(n) => ok.push(n),
                Err(StoreError::UnknownReference { field: "service_id" }) => failed += 1,
                Err(e) => panic!("{}: {e}", db.engine),
            }
        }
        assert_eq!((ok.len(), failed), (108, 12), "{}", db.engine);
        ok.sort();
        ok.dedup();
        assert_eq!(ok.len(), 108, "{}: duplicate numbers", db.engine);
        let listed = s.list_incidents(Scope::All, &Filter::default(), Sort::Newest, None, 500).await.unwrap();
        assert_eq!(listed.len(), 108, "{}", db.engine);
    }
}

#[tokio::test]
async fn jobs_are_leased_once_and_survive() {
    for db in databases().await {
        let s = &db.store;
        s.enqueue("close_incident".into(), "1".into(), 0, Some("k1".into())).await.unwrap();
        s.enqueue("close_incident".into(), "1".into(), 0, Some("k1".into())).await.unwrap();
        s.enqueue("later".into(), "2".into(), i64::MAX / 2, None).await.unwrap();
        let a = s.claim_jobs("node-a".into(), 60_000_000, 10).await.unwrap();
        let b = s.claim_jobs("node-b".into(), 60_000_000, 10).await.unwrap();
        assert_eq!(a.len(), 1, "{}: dedupe and due only", db.engine);
        assert!(b.is_empty(), "{}: a leased job was claimed twice", db.engine);
        s.fail_job(a[0].id, "boom".into(), 0).await.unwrap();
        let c = s.claim_jobs("node-b".into(), 60_000_000, 10).await.unwrap();
        assert_eq!(c[0].attempts, 2);
        s.complete_job(c[0].id).await.unwrap();
        assert_eq!(s.pending_jobs().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn reopening_a_database_keeps_data_and_refuses_a_newer_schema() {
    let db = varde_store::testing::sqlite().await;
    let req = user(&db.store, "req@example.org", Role::Requester).await;
    db.store.create_incident(new_incident(req, "Kept"), None).await.unwrap();
    let again = Store::open(&varde_store::StoreOptions { url: db.url.clone(), max_connections: 2 }).await.unwrap();
    assert_eq!(again.incident_by_number("INC0000001").await.unwrap().short_description, "Kept");
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
        .execute(again.pool())
        .await
        .unwrap();
    let err = Store::open(&varde_store::StoreOptions { url: db.url.clone(), max_connections: 2 }).await.err().unwrap();
    assert!(err.to_string().contains("newer"), "{err}");
}

/// Several nodes on one PostgreSQL: numbers stay unique and a job is
/// claimed by one node only. (SQLite is single-node by design.)
#[tokio::test]
async fn two_nodes_on_one_postgres_database() {
    let Some(db) = varde_store::testing::postgres().await else { return };
    let other = Store::open(&varde_store::StoreOptions { url: db.url.clone(), max_connections: 4 }).await.unwrap();
    let req = user(&db.store, "req@example.org", Role::Requester).await;
    let mut tasks = Vec::new();
    for n in 0..80 {
        let s = if n % 2 == 0 { db.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            s.create_incident(new_incident(req, &format!("n{n}")), None).await.unwrap().0.number
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 80, "duplicate numbers across nodes");

    for n in 0..40 {
        db.store.enqueue("close_incident".into(), n.to_string(), 0, None).await.unwrap();
    }
    let (a, b) = tokio::join!(
        async {
            let mut got = Vec::new();
            for _ in 0..10 {
                got.extend(db.store.claim_jobs("a".into(), 60_000_000, 3).await.unwrap().into_iter().map(|j| j.id));
            }
            got
        },
        async {
            let mut got = Vec::new();
            for _ in 0..10 {
                got.extend(other.claim_jobs("b".into(), 60_000_000, 3).await.unwrap().into_iter().map(|j| j.id));
            }
            got
        }
    );
    let mut all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a job was claimed by both nodes");
    assert_eq!(total, 40);
}

#[tokio::test]
async fn online_backup_is_a_consistent_readable_copy() {
    let db = varde_store::testing::sqlite().await;
    let req = user(&db.store, "req@example.org", Role::Requester).await;
    for n in 0..50 {
        db.store.create_incident(new_incident(req, &format!("before backup {n}")), None).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.db");
    // Writes keep arriving while the backup runs.
    let writer = {
        let s = db.store.clone();
        tokio::spawn(async move {
            for n in 0..50 {
                s.create_incident(new_incident(req, &format!("during {n}")), None).await.unwrap();
            }
        })
    };
    db.store.backup_to(&target).await.unwrap();
    writer.await.unwrap();
    assert!(db.store.backup_to(&target).await.is_err(), "an existing file is never overwritten");
    let copy = Store::open(&varde_store::StoreOptions::sqlite_file(&target)).await.unwrap();
    let rows = copy.list_incidents(Scope::All, &Filter::default(), Sort::Oldest, None, 200).await.unwrap();
    assert!(rows.len() >= 50 && rows.len() <= 100);
    // Consistent: numbering continues after the last record in the copy.
    let (next, _) = copy.create_incident(new_incident(req, "after restore"), None).await.unwrap();
    assert_eq!(next.number, format!("INC{:07}", rows.len() + 1));
}

#[tokio::test]
async fn saved_filters_are_per_user_and_unique_by_name() {
    for db in databases().await {
        let s = &db.store;
        let ann = user(s, "ann@example.org", Role::Agent).await;
        let bob = user(s, "bob@example.org", Role::Agent).await;
        let f = s.save_filter(ann, "P1".into(), "/queue/open?priority=1".into()).await.unwrap();
        let dup = s.save_filter(ann, "P1".into(), "/queue/all".into()).await;
        assert!(matches!(dup, Err(StoreError::Duplicate { field: "name" })), "{}: {dup:?}", db.engine);
        s.save_filter(bob, "P1".into(), "/queue/all".into()).await.unwrap();
        let mine = s.saved_filters(ann).await.unwrap();
        assert_eq!(mine.len(), 1, "{}", db.engine);
        assert_eq!(mine[0].query, "/queue/open?priority=1");
        assert!(matches!(s.delete_filter(bob, f.id).await, Err(StoreError::NotFound)), "{}", db.engine);
        s.delete_filter(ann, f.id).await.unwrap();
        assert!(s.saved_filters(ann).await.unwrap().is_empty());
        assert_eq!(s.saved_filters(bob).await.unwrap().len(), 1);
    }
}

/// The bulk import (used to seed benchmarks and, later, migrations from
/// other tools) leaves records exactly as usable as created ones.
#[tokio::test]
async fn imported_incidents_behave_like_created_ones() {
    use varde_domain::incident::ResolutionCode;
    use varde_store::import::ImportedIncident;
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let other = user(s, "other@example.org", Role::Requester).await;
        let (first, _) = s.create_incident(new_incident(req, "created before the import"), None).await.unwrap();
        let batch: Vec<ImportedIncident> = (0..120)
            .map(|n| ImportedIncident {
                new: new_incident(if n % 2 == 0 { req } else { other }, &format!("imported printer fault {n}")),
                created_at: 1_700_000_000_000_000 + n,
                updated_at: 1_700_000_000_000_000 + n,
                state: if n % 3 == 0 { State::Closed } else { State::New },
                resolution: (n % 3 == 0).then(|| (ResolutionCode::Fixed, "Replaced the toner".to_string())),
            })
            .collect();
        let ids = s.import_incidents(batch).await.unwrap();
        assert_eq!(ids.len(), 120, "{}", db.engine);
        let closed = s.incident(ids[0]).await.unwrap();
        assert_eq!(closed.lifecycle.state, State::Closed, "{}", db.engine);
        assert!(!closed.lifecycle.state.is_open());
        let f = Filter { text: Some("printer".into()), ..Filter::default() };
        let agent_hits = s.list_incidents(Scope::All, &f, Sort::Newest, None, 200).await.unwrap();
        assert_eq!(agent_hits.len(), 120, "{}: agents find imported records", db.engine);
        let mine = s.list_incidents(Scope::Requester(req), &f, Sort::Newest, None, 200).await.unwrap();
        assert_eq!(mine.len(), 60, "{}: requesters find their own imported records", db.engine);
        assert!(mine.iter().all(|i| i.requester_id == req));
        let (after, _) = s.create_incident(new_incident(req, "after"), None).await.unwrap();
        let mut numbers: Vec<String> = agent_hits.iter().map(|i| i.number.clone()).collect();
        numbers.push(first.number.clone());
        numbers.push(after.number.clone());
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 122, "{}: numbers stay unique across import and create", db.engine);
        assert!(!s.audit_of(varde_store::audit::Entity::Record, ids[5]).await.unwrap().is_empty(), "{}", db.engine);
    }
}

/// A bug that panics inside one write loses that write only: the writer
/// keeps serving everyone else, and nothing of the panicking write remains.
#[tokio::test]
async fn a_panicking_write_is_rolled_back_and_the_writer_lives_on() {
    use futures::FutureExt;
    for db in databases().await {
        let s = db.store.clone();
        // On SQLite the write runs on the writer task, which catches the
        // panic and answers with an error; on PostgreSQL it runs in the
        // caller's task, so the panic reaches the caller (the server turns it
        // into a 500) and the dropped transaction rolls back.
        let r = std::panic::AssertUnwindSafe(s.write(|conn| {
            async move {
                sqlx::query("INSERT INTO settings (key, value) VALUES ('half', 'written')").execute(&mut *conn).await?;
                if std::hint::black_box(true) {
                    panic!("a bug in a write");
                }
                Ok(())
            }
            .boxed()
        }))
        .catch_unwind()
        .await;
        assert!(matches!(r, Err(_) | Ok(Err(_))), "{}: the panicking write reported success", db.engine);
        assert_eq!(s.setting("half").await.unwrap(), None, "{}: half a write stayed", db.engine);
        s.ping().await.unwrap();
        user(&s, "after@example.org", Role::Agent).await;
    }
}

/// An incident linked to a problem went to problem management: resolving
/// it, by hand or by the problem's resolve, is no first-contact resolution.
#[tokio::test]
async fn an_incident_of_a_problem_is_no_first_contact_resolution() {
    use varde_store::problems::NewProblem;
    for db in databases().await {
        let s = &db.store;
        let agent = user(s, "agent@example.org", Role::Agent).await;
        let resolve = || Patch {
            state: Some("resolved".into()),
            resolution_code: Some("fixed".into()),
            resolution_notes: Some("Done".into()),
            ..Patch::default()
        };
        let (alone, _) = s.create_incident(new_incident(agent, "Printer"), None).await.unwrap();
        let alone = s.update_incident(alone.id, None, resolve(), agent).await.unwrap();
        assert!(alone.lifecycle.first_contact, "{}: the control case", db.engine);
        let (linked, _) = s.create_incident(new_incident(agent, "Mail"), None).await.unwrap();
        let problem = NewProblem {
            short_description: "Mail relay".into(),
            description: String::new(),
            created_by: agent,
            priority: 3,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            category_id: None,
        };
        let (p, _) = s.create_problem(problem, None).await.unwrap();
        s.link_incident_to_problem(p.id, linked.id, agent).await.unwrap();
        let linked = s.update_incident(linked.id, None, resolve(), agent).await.unwrap();
        assert!(!linked.lifecycle.first_contact, "{}", db.engine);
    }
}

/// Assignment groups hold agents: a requester in one could never be
/// assigned its work. Two records are not each other's duplicate.
#[tokio::test]
async fn groups_hold_agents_and_duplicates_do_not_go_round() {
    for db in databases().await {
        let s = &db.store;
        let req = user(s, "req@example.org", Role::Requester).await;
        let agent = user(s, "agent@example.org", Role::Agent).await;
        let g = s.create_group("Service desk".into(), String::new()).await.unwrap();
        let refused = s.add_member(g.id, req).await;
        assert!(matches!(refused, Err(StoreError::Domain(_))), "{}: {refused:?}", db.engine);
        s.add_member(g.id, agent).await.unwrap();
        let (a, _) = s.create_incident(new_incident(req, "Mail"), None).await.unwrap();
        let (b, _) = s.create_incident(new_incident(req, "Mail again"), None).await.unwrap();
        s.add_link(b.id, a.id, LinkKind::DuplicateOf, agent).await.unwrap();
        let back = s.add_link(a.id, b.id, LinkKind::DuplicateOf, agent).await;
        assert!(matches!(back, Err(StoreError::Domain(_))), "{}: {back:?}", db.engine);
        s.add_link(a.id, b.id, LinkKind::RelatesTo, agent).await.unwrap();
    }
}

/// A write PostgreSQL stopped to break a deadlock is `Busy`: nothing was
/// written, and running it again may succeed (an import does; the API
/// answers 503 with Retry-After), instead of an internal error.
#[tokio::test]
async fn a_deadlock_is_busy_not_broken() {
    use sqlx::{Connection, Executor};
    let Some(db) = varde_store::testing::postgres().await else { return };
    let mut setup = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    setup.execute("CREATE TABLE probe (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)").await.unwrap();
    setup.execute("INSERT INTO probe VALUES (1, 0), (2, 0)").await.unwrap();
    let (mut a, mut b) =
        (sqlx::AnyConnection::connect(&db.url).await.unwrap(), sqlx::AnyConnection::connect(&db.url).await.unwrap());
    for c in [&mut a, &mut b] {
        c.execute("BEGIN").await.unwrap();
    }
    a.execute("UPDATE probe SET n = 1 WHERE id = 1").await.unwrap();
    b.execute("UPDATE probe SET n = 1 WHERE id = 2").await.unwrap();
    // Each now waits for the row the other holds; PostgreSQL stops one.
    let (ra, rb) = tokio::join!(
        a.execute("UPDATE probe SET n = 2 WHERE id = 2"),
        b.execute("UPDATE probe SET n = 2 WHERE id = 1")
    );
    let stopped: Vec<StoreError> = [ra.err(), rb.err()].into_iter().flatten().map(StoreError::from).collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(matches!(stopped[0], StoreError::Busy(_)), "{stopped:?}");
}
