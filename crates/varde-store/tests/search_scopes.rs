//! Requesters search only what they may read; a database indexed before
//! that rule (every document whole) is rebuilt when the store opens.

use sqlx::{Connection, Executor};
use varde_domain::access::Role;
use varde_domain::incident::Channel;
use varde_domain::priority::Level;
use varde_domain::record::JournalKind;
use varde_store::directory::NewUser;
use varde_store::incidents::{Filter, NewIncident, Scope, Sort};
use varde_store::testing::databases;
use varde_store::{Store, StoreOptions};

fn user(email: &str, role: Role) -> NewUser {
    NewUser { email: email.into(), name: email.into(), role, organisation_id: None, password_hash: None }
}

async fn search(store: &Store, scope: Scope, text: &str) -> usize {
    let f = Filter { text: Some(text.into()), ..Filter::default() };
    store.list_incidents(scope, &f, Sort::Newest, None, 10).await.unwrap().len()
}

#[tokio::test]
async fn old_search_entries_are_rebuilt_with_the_requesters_view() {
    for db in databases().await {
        let engine = db.engine;
        let rita = db.store.create_user(user("rita@example.org", Role::Requester), None).await.unwrap();
        let alan = db.store.create_user(user("alan@example.org", Role::Agent), None).await.unwrap();
        let new = NewIncident {
            short_description: "Outlook crashes".into(),
            impact: Level::LOW,
            urgency: Level::LOW,
            channel: Channel::Portal,
            ..varde_store::testing::incident(rita.id)
        };
        let (inc, _) = db.store.create_incident(new, None).await.unwrap();
        db.store.add_journal(inc.id, alan.id, JournalKind::WorkNote, "mailbox corrupt".into()).await.unwrap();
        let me = Scope::Requester(rita.id);
        assert_eq!(search(&db.store, me, "outlook").await, 1, "{engine}");
        assert_eq!(search(&db.store, me, "corrupt").await, 0, "{engine}: work notes stay internal");
        assert_eq!(search(&db.store, Scope::All, "corrupt").await, 1, "{engine}");

        // Make the index look as version 1 left it: one whole document, and
        // the record listed for rebuilding as migration 2 lists it.
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let old: &[&str] = if engine == "sqlite" {
            &["DELETE FROM record_search WHERE rowid < 0"]
        } else {
            &["UPDATE records SET search = to_tsvector('simple', 'inc0000001 outlook crashes mailbox corrupt')"]
        };
        for stmt in old {
            conn.execute(*stmt).await.unwrap();
        }
        sqlx::query("INSERT INTO search_rebuild (record_id) VALUES ($1)")
            .bind(inc.id)
            .execute(&mut conn)
            .await
            .unwrap();
        // And a user stored before names were folded for search.
        sqlx::query("UPDATE users SET name = 'Émile', name_key = '' WHERE id = $1")
            .bind(rita.id)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        assert_eq!(search(&db.store, me, "outlook").await, 0, "{engine}: the old entry lacks the requester's view");

        let reopened = Store::open(&StoreOptions { url: db.url.clone(), max_connections: 4 }).await.unwrap();
        assert_eq!(search(&reopened, me, "outlook").await, 1, "{engine}: rebuilt on open");
        assert_eq!(search(&reopened, me, "corrupt").await, 0, "{engine}");
        assert_eq!(search(&reopened, Scope::All, "corrupt").await, 1, "{engine}");
        let found = reopened.list_users(0, 10, Some("émile")).await.unwrap();
        assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), vec![rita.id], "{engine}: names folded on open");
        reopened.close().await;
    }
}

/// A requester's text search, with few records or many, finds their own and
/// watched records whose requester-visible text matches, by prefix or stem,
/// and nothing else, in every sort order. The watched record is made before
/// it is watched: it is found through the reader token its watcher adds.
#[tokio::test]
async fn a_requester_with_many_records_finds_the_same_as_one_with_few() {
    use varde_domain::incident::State;
    use varde_store::import::ImportedIncident;
    for db in databases().await {
        let engine = db.engine;
        let few = db.store.create_user(user("few@example.org", Role::Requester), None).await.unwrap();
        let many = db.store.create_user(user("many@example.org", Role::Requester), None).await.unwrap();
        let alan = db.store.create_user(user("alan@example.org", Role::Agent), None).await.unwrap();
        let incident = |who: i64, text: String| ImportedIncident {
            new: NewIncident {
                short_description: text,
                impact: Level::LOW,
                urgency: Level::LOW,
                channel: Channel::Portal,
                ..varde_store::testing::incident(who)
            },
            created_at: 1_700_000_000_000_000,
            updated_at: 1_700_000_000_000_000,
            state: State::New,
            resolution: None,
        };
        // Both requesters: two in seven records are about printers, found
        // by a prefix ("print") or through a stem ("printers" -> "printer");
        // the rest are about something else.
        let text = |k: usize| match k % 7 {
            0 => format!("Printer jam on floor {k}"),
            1 => format!("Printers offline in room {k}"),
            _ => format!("Monitor flickers at desk {k}"),
        };
        for (who, n) in [(few.id, 40usize), (many.id, 1_500)] {
            let mut k = 0;
            while k < n {
                let batch: Vec<_> = (k..n.min(k + 2_000)).map(|k| incident(who, text(k))).collect();
                k += batch.len();
                db.store.import_incidents(batch).await.unwrap();
            }
        }
        // One of the other's records is watched; a work note never counts.
        let (watched, _) =
            db.store.create_incident(incident(alan.id, "Printer toner empty".into()).new, None).await.unwrap();
        for who in [few.id, many.id] {
            db.store.add_watcher(watched.id, who, alan.id).await.unwrap();
        }
        let (noted, _) = db.store.create_incident(incident(few.id, "Laptop dock".into()).new, None).await.unwrap();
        db.store.add_journal(noted.id, alan.id, JournalKind::WorkNote, "printer driver".into()).await.unwrap();

        let f_print = || Filter { text: Some("print".into()), ..Filter::default() };
        for (who, n) in [(few.id, 40usize), (many.id, 1_500)] {
            let scope = Scope::Requester(who);
            let expected = (0..n).filter(|k| k % 7 < 2).count() + 1;
            for q in ["printer", "printers", "PRINT"] {
                let f = Filter { text: Some(q.into()), ..Filter::default() };
                let mut seen = Vec::new();
                let mut cursor = None;
                loop {
                    let page = db.store.list_incidents(scope, &f, Sort::Newest, cursor, 500).await.unwrap();
                    let Some(last) = page.last() else { break };
                    cursor = Some(varde_store::incidents::Cursor { key: 0, id: last.id });
                    seen.extend(page.iter().map(|i| (i.id, i.requester_id, i.short_description.clone())));
                }
                assert_eq!(seen.len(), expected, "{engine}: {q:?} for a requester with {n} records");
                assert!(seen.iter().all(|(_, r, _)| *r == who || *r == alan.id), "{engine}: only own or watched");
                assert!(seen.iter().any(|(id, _, _)| *id == watched.id), "{engine}: the watched record");
                assert!(seen.iter().all(|(id, _, _)| *id != noted.id), "{engine}: work notes stay internal");
                assert!(seen.windows(2).all(|w| w[0].0 > w[1].0), "{engine}: newest first, no repeats");
                // Oldest first, page by page: the same records the other way round.
                let mut oldest = Vec::new();
                let mut cursor = None;
                loop {
                    let page = db.store.list_incidents(scope, &f, Sort::Oldest, cursor, 700).await.unwrap();
                    let Some(last) = page.last() else { break };
                    cursor = Some(varde_store::incidents::Cursor { key: 0, id: last.id });
                    oldest.extend(page.iter().map(|i| i.id));
                }
                let newest: Vec<i64> = seen.iter().rev().map(|(id, _, _)| *id).collect();
                assert_eq!(oldest, newest, "{engine}: {q:?} oldest first");
            }
            // Sorted by something else than age, the query is no longer
            // driven from the index in its order: the same records.
            let by_priority = db.store.list_incidents(scope, &f_print(), Sort::Priority, None, 10_000).await.unwrap();
            let mut ids: Vec<i64> = by_priority.iter().map(|i| i.id).collect();
            ids.sort_unstable();
            assert_eq!(ids.len(), expected, "{engine}: by priority");
            assert!(ids.contains(&watched.id), "{engine}: the watched record by priority");
            let f = Filter { text: Some("printer jam".into()), ..Filter::default() };
            let both = db.store.list_incidents(scope, &f, Sort::Newest, None, 10_000).await.unwrap();
            assert_eq!(both.len(), (0..n).filter(|k| k % 7 == 0).count(), "{engine}: every term must match");
        }
    }
}
