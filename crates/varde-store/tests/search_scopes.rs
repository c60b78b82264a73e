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

async fn search(store: &Store, scope: Scope, text: &str) -> usize {
    let f = Filter { text: Some(text.into()), ..Filter::default() };
    store.list_incidents(scope, &f, Sort::Newest, None, 10).await.unwrap().len()
}

#[tokio::test]
async fn old_search_entries_are_rebuilt_with_the_requesters_view() {
    for db in databases().await {
        let engine = db.engine;
        let user = |email: &str, role| NewUser {
            email: email.into(),
            name: email.into(),
            role,
            organisation_id: None,
            password_hash: None,
        };
        let rita = db.store.create_user(user("rita@example.org", Role::Requester), None).await.unwrap();
        let alan = db.store.create_user(user("alan@example.org", Role::Agent), None).await.unwrap();
        let new = NewIncident {
            short_description: "Outlook crashes".into(),
            description: String::new(),
            requester_id: rita.id,
            created_by: rita.id,
            assignment_group_id: None,
            assignee_id: None,
            impact: Level::LOW,
            urgency: Level::LOW,
            category_id: None,
            service_id: None,
            channel: Channel::Portal,
            major: false,
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
