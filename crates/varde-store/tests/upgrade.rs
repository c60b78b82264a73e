//! A database made by an earlier schema opens and upgrades, data intact.
//! Each fixture is what that version stored; every later Varde must read it.

use sqlx::{Connection, Executor};
use varde_domain::incident::State;
use varde_store::incidents::{Filter, Scope, Sort};
use varde_store::testing::{empty_urls, migrate_url_to};
use varde_store::{Store, StoreOptions};

#[tokio::test]
async fn version_1_database_upgrades_and_reads_back() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 1).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for stmt in include_str!("fixtures/v1.sql").split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        // What version 1 kept beside the rows: counters and search documents.
        let engine_sql: &[&str] = if engine == "sqlite" {
            &[
                "UPDATE counters SET value = 2 WHERE name = 'incident'",
                "INSERT INTO record_search (rowid, document) VALUES (1, 'inc0000001 outlook crashes on start since the update we are looking into it')",
                "INSERT INTO record_search (rowid, document) VALUES (2, 'inc0000002 printer jams')",
            ]
        } else {
            &[
                "SELECT setval('incident_number_seq', 2)",
                "UPDATE records SET search = to_tsvector('simple', 'inc0000001 outlook crashes on start since the update we are looking into it') WHERE id = 1",
                "UPDATE records SET search = to_tsvector('simple', 'inc0000002 printer jams') WHERE id = 2",
                // Rows were inserted with explicit ids; later ids must follow them.
                "SELECT setval(pg_get_serial_sequence('records', 'id'), 2)",
                "SELECT setval(pg_get_serial_sequence('users', 'id'), 3)",
                "SELECT setval(pg_get_serial_sequence('journal', 'id'), 2)",
                "SELECT setval(pg_get_serial_sequence('audit', 'id'), 2)",
            ]
        };
        for stmt in engine_sql {
            conn.execute(*stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let inc = store.incident_by_number("INC0000001").await.unwrap();
        assert_eq!(inc.lifecycle.state, State::InProgress, "{engine}");
        assert_eq!((inc.assignee_id, inc.service_id, inc.priority.get()), (Some(2), Some(1), 2), "{engine}");
        let resolved = store.incident_by_number("INC0000002").await.unwrap();
        assert_eq!(resolved.lifecycle.resolution_notes.as_deref(), Some("Cleared the jam"));
        assert_eq!(store.journal(inc.id, false).await.unwrap().len(), 1, "{engine}: work notes stay internal");
        let hits = store
            .list_incidents(
                Scope::All,
                &Filter { text: Some("outlook".into()), ..Filter::default() },
                Sort::Newest,
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "{engine}: search survives the upgrade");
        // Version 2 gave requesters their own view of the index, rebuilt on
        // open: Rita finds her incident by its text and replies, never by
        // what a work note says.
        let rita_finds = |text: &'static str| {
            let store = store.clone();
            async move {
                let f = Filter { text: Some(text.into()), ..Filter::default() };
                store.list_incidents(Scope::Requester(3), &f, Sort::Newest, None, 10).await.unwrap().len()
            }
        };
        assert_eq!(rita_finds("outlook").await, 1, "{engine}");
        assert_eq!(rita_finds("looking").await, 1, "{engine}: replies are hers to search");
        assert_eq!(rita_finds("office").await, 0, "{engine}: work notes stay internal in search too");
        // People are found by any-case name prefixes after the upgrade.
        let found = store.list_users(0, 10, Some("RITA")).await.unwrap();
        assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), vec![3], "{engine}");
        // New records continue the numbering.
        let user = store.user_by_email("rita@example.org").await.unwrap();
        let (next, _) = store
            .create_incident(
                varde_store::incidents::NewIncident {
                    short_description: "After the upgrade".into(),
                    description: String::new(),
                    requester_id: user.id,
                    created_by: user.id,
                    assignment_group_id: None,
                    assignee_id: None,
                    impact: varde_domain::priority::Level::LOW,
                    urgency: varde_domain::priority::Level::LOW,
                    category_id: None,
                    service_id: None,
                    channel: varde_domain::incident::Channel::Portal,
                    major: false,
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(next.number, "INC0000003", "{engine}");
    }
}

/// Version 10 moved the CMDB's attribute index and search words into
/// clustered tables on SQLite; what version 9 indexed is found after.
#[tokio::test]
async fn version_9_cmdb_index_reads_back_after_the_upgrade() {
    use varde_store::cmdb::CiFilter;
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 9).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for stmt in [
            "INSERT INTO cis (class_id, name, status, attributes, identity, version, created_at, updated_at)
             SELECT id, 'db-01', 'deployed', '{\"hostname\":\"db-01\",\"domain\":\"example.org\",\"os\":\"Debian\"}',
                    id || '|db-01|example.org', 1, 1, 1 FROM ci_classes WHERE name = 'Server'",
            "INSERT INTO ci_attr_values (ci_id, name, value) SELECT id, 'os', 'debian' FROM cis WHERE name = 'db-01'",
            "INSERT INTO ci_attr_values (ci_id, name, value) SELECT id, 'hostname', 'db-01' FROM cis WHERE name = 'db-01'",
            "INSERT INTO ci_terms (term, ci_id) SELECT 'debian', id FROM cis WHERE name = 'db-01'",
            "INSERT INTO ci_terms (term, ci_id) SELECT 'db', id FROM cis WHERE name = 'db-01'",
        ] {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let by_os = CiFilter { attributes: vec![("os".into(), "debian".into())], ..CiFilter::default() };
        let found = store.list_cis(&by_os, None, 10).await.unwrap();
        assert_eq!(found.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["db-01"], "{engine}");
        let by_word = CiFilter { terms: vec!["debian".into()], ..CiFilter::default() };
        assert_eq!(store.list_cis(&by_word, None, 10).await.unwrap().len(), 1, "{engine}");
        // The index is written again on an edit, in the new tables.
        let ci = &found[0];
        let mut fields = ci.fields();
        fields.attributes.insert("os".into(), serde_json::json!("Alpine"));
        let ctx = varde_store::cmdb::ChangeContext { actor: None, record_id: None, import_id: None };
        store.update_ci(ci.id, Some(ci.version), fields, ctx).await.unwrap();
        assert!(store.list_cis(&by_os, None, 10).await.unwrap().is_empty(), "{engine}");
        let by_new = CiFilter { attributes: vec![("os".into(), "alpine".into())], ..CiFilter::default() };
        assert_eq!(store.list_cis(&by_new, None, 10).await.unwrap().len(), 1, "{engine}");
    }
}

/// Version 18 escapes `|` and `\` in the identity keys of CIs identified by
/// several attributes; keys written before are re-keyed at the first start,
/// and the others are left as they were.
#[tokio::test]
async fn version_17_identities_are_re_keyed_after_the_upgrade() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 17).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        // `host` and `domain` as JSON string contents, `identity` as the old
        // key after the class id.
        let server = |name: &str, host: &str, domain: &str, identity: &str| {
            format!(
                "INSERT INTO cis (class_id, name, status, attributes, identity, version, created_at, updated_at)
                 SELECT id, '{name}', 'deployed', '{{\"hostname\":\"{host}\",\"domain\":\"{domain}\"}}',
                        id || '{identity}', 1, 1, 1 FROM ci_classes WHERE name = 'Server'"
            )
        };
        // "first" re-keyed is `a\|b|c`, the old key of "second": made in
        // this order, the re-keying meets it unless old keys go first.
        for stmt in [
            server("piped", "a|b", "example.org", "|a|b|example.org"),
            server("plain", "db-01", "example.org", "|db-01|example.org"),
            server("first", "a|b", "c", "|a|b|c"),
            server("second", r"a\\", "b|c", r"|a\|b|c"),
        ] {
            conn.execute(stmt.as_str()).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let keys: Vec<(String, String)> = sqlx::query_as("SELECT c.name, c.identity FROM cis c ORDER BY c.name")
            .fetch_all(store.pool())
            .await
            .unwrap();
        let server_id: i64 = sqlx::query_scalar("SELECT id FROM ci_classes WHERE name = 'Server'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let want = |name: &str, key: &str| (name.to_string(), format!("{server_id}{key}"));
        assert!(keys.contains(&want("piped", "|a\\|b|example.org")), "{engine}: {keys:?}");
        assert!(keys.contains(&want("plain", "|db-01|example.org")), "{engine}: {keys:?}");
        assert!(keys.contains(&want("first", r"|a\|b|c")), "{engine}: {keys:?}");
        assert!(keys.contains(&want("second", r"|a\\|b\|c")), "{engine}: {keys:?}");
    }
}

/// Version 21 lets a relation be current once. A relation made twice by
/// racing writers before it is closed where it opened at the upgrade; the
/// first copy stays, and relations that only share their ends stay too.
#[tokio::test]
async fn version_20_relations_current_twice_are_made_once() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 20).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let forever = i64::MAX;
        let stmts = [
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 901, id, 'app', 'deployed', '{}', 1, 1, 1 FROM ci_classes WHERE name = 'Application'"
                .to_string(),
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 902, id, 'db', 'deployed', '{}', 1, 1, 1 FROM ci_classes WHERE name = 'Application'"
                .to_string(),
            format!(
                "INSERT INTO ci_relations (id, from_id, to_id, kind, attributes, valid_from, valid_to) VALUES
                 (1, 901, 902, 'depends_on', '{{}}', 10, {forever}),
                 (2, 901, 902, 'depends_on', '{{}}', 11, {forever}),
                 (3, 901, 902, 'runs_on', '{{}}', 12, {forever}),
                 (4, 901, 902, 'depends_on', '{{}}', 5, 9)"
            ),
        ];
        for stmt in &stmts {
            conn.execute(stmt.as_str()).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT id, valid_from, valid_to FROM ci_relations ORDER BY id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(rows, [(1, 10, forever), (2, 11, 11), (3, 12, forever), (4, 5, 9)], "{engine}");
        let again = format!(
            "INSERT INTO ci_relations (from_id, to_id, kind, attributes, valid_from, valid_to)
             VALUES (901, 902, 'depends_on', '{{}}', 20, {forever})"
        );
        let err = sqlx::query(&again).execute(store.pool()).await.unwrap_err();
        assert!(err.as_database_error().is_some_and(|e| e.is_unique_violation()), "{engine}: {err:?}");
    }
}

/// Version 11 gave problems and articles their own search table on
/// PostgreSQL (SQLite always had one); what version 10 indexed is found after.
#[tokio::test]
async fn version_10_knowledge_search_entries_move_with_the_upgrade() {
    use varde_domain::search;
    use varde_store::knowledge::{KnowledgeKinds, Viewer};
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 10).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let index = if engine == "sqlite" {
            "INSERT INTO knowledge_search (rowid, document) VALUES (1, 'prb0000001 vpn drops every hour')"
        } else {
            "UPDATE records SET search = setweight(to_tsvector('simple', 'prb0000001 vpn drops every hour'), 'D') WHERE id = 1"
        };
        for stmt in [
            "INSERT INTO users (id, email, name, role, created_at, updated_at) VALUES (1, 'pm@example.org', 'PM', 'problem_manager', 1, 1)",
            "INSERT INTO records (id, kind, number, state, is_open, short_description, requester_id, created_by, priority, created_at, updated_at)
             VALUES (1, 'problem', 'PRB0000001', 'new', 1, 'VPN drops every hour', 1, 1, 3, 1, 1)",
            "INSERT INTO problems (record_id) VALUES (1)",
            index,
        ] {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let agent = Viewer { user_id: 1, agent: true, admin: false };
        let kinds = KnowledgeKinds { problems: true, known_errors_only: false, articles: true };
        let hits = store
            .search_knowledge(&agent, &search::query("drops"), false, kinds, &Default::default(), 10)
            .await
            .unwrap();
        assert_eq!(hits.iter().map(|h| h.number.as_str()).collect::<Vec<_>>(), ["PRB0000001"], "{engine}");
        if engine == "postgres" {
            // The entry moved: records.search is the incidents' alone, and the
            // partial index over it is gone.
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM records WHERE kind IN ('problem', 'article') AND search IS NOT NULL",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert_eq!(left, 0);
            let index: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'records_search_knowledge'")
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(index, 0);
        }
    }
}

/// Version 12 adds reader tokens to every requester document: a requester
/// and a watcher of an incident indexed before it find it by text, and
/// another requester does not.
#[tokio::test]
async fn version_11_requester_documents_get_their_readers_with_the_upgrade() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 11).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let index: &[&str] = if engine == "sqlite" {
            &[
                "INSERT INTO record_search (rowid, document) VALUES (1, 'inc0000001 printer jams toner')",
                "INSERT INTO record_search (rowid, document) VALUES (-1, 'inc0000001 printer jams')",
            ]
        } else {
            &["UPDATE records SET search = setweight(to_tsvector('simple', 'inc0000001 printer jams'), 'A')
                || setweight(to_tsvector('simple', 'toner'), 'D') WHERE id = 1"]
        };
        let rows = [
            "INSERT INTO users (id, email, name, role, created_at, updated_at) VALUES
                (1, 'rita@example.org', 'Rita', 'requester', 1, 1),
                (2, 'wim@example.org', 'Wim', 'requester', 1, 1),
                (3, 'olga@example.org', 'Olga', 'requester', 1, 1)",
            "INSERT INTO records (id, kind, number, state, is_open, short_description, requester_id, created_by, priority, created_at, updated_at)
             VALUES (1, 'incident', 'INC0000001', 'new', 1, 'Printer jams', 1, 1, 3, 1, 1)",
            "INSERT INTO incidents (record_id, impact, urgency, channel) VALUES (1, 3, 3, 'portal')",
            "INSERT INTO watchers (record_id, user_id) VALUES (1, 2)",
        ];
        for stmt in rows.iter().chain(index) {
            conn.execute(*stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let found = |who: i64, q: &'static str| {
            let store = store.clone();
            async move {
                let f = Filter { text: Some(q.into()), ..Filter::default() };
                let hits = store.list_incidents(Scope::Requester(who), &f, Sort::Newest, None, 10).await.unwrap();
                hits.iter().map(|i| i.number.clone()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found(1, "printer").await, ["INC0000001"], "{engine}: the requester");
        assert_eq!(found(2, "jams").await, ["INC0000001"], "{engine}: the watcher");
        assert!(found(3, "printer").await.is_empty(), "{engine}: nobody else");
        assert!(found(1, "toner").await.is_empty(), "{engine}: work notes stay internal");
    }
}

/// Version 17 turns the desk's notes about problems and draft articles,
/// once system lines every requester saw, into work notes; other system
/// lines stay the requester's to read. Version 20 makes them searchable.
#[tokio::test]
async fn version_17_hides_the_desks_problem_notes_from_requesters() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 16).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let rows = [
            "INSERT INTO users (id, email, name, role, created_at, updated_at) VALUES
                (1, 'rita@example.org', 'Rita', 'requester', 1, 1), (2, 'ann@example.org', 'Ann', 'agent', 1, 1)",
            "INSERT INTO records (id, kind, number, state, is_open, short_description, requester_id, created_by, priority, created_at, updated_at)
             VALUES (1, 'incident', 'INC0000001', 'new', 1, 'Mail bounces', 1, 1, 3, 1, 1)",
            "INSERT INTO incidents (record_id, impact, urgency, channel) VALUES (1, 3, 3, 'portal')",
            "INSERT INTO journal (id, record_id, author_id, kind, body, created_at) VALUES
                (1, 1, 2, 'system', 'Linked to problem PRB0000004: Relay rejects mail', 1),
                (2, 1, 2, 'system', 'Problem PRB0000004 is resolved: New certificate', 2),
                (3, 1, 2, 'system', 'Knowledge article KB0000002 drafted from this incident', 3),
                (4, 1, 2, 'system', 'Closed after 5 days without an answer', 4)",
        ];
        for stmt in rows {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let theirs: Vec<String> = store.journal(1, false).await.unwrap().into_iter().map(|e| e.body).collect();
        assert_eq!(theirs, ["Closed after 5 days without an answer"], "{engine}");
        assert_eq!(store.journal(1, true).await.unwrap().len(), 4, "{engine}: the desk still has them all");
        // Version 20: the record's search entry is rebuilt with them, so
        // the desk finds it by the problem's fix, and the requester does not.
        let found = |scope: Scope| {
            let store = store.clone();
            async move {
                let f = Filter { text: Some("certificate".into()), ..Filter::default() };
                let hits = store.list_incidents(scope, &f, Sort::Newest, None, 10).await.unwrap();
                hits.iter().map(|i| i.number.clone()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found(Scope::All).await, ["INC0000001"], "{engine}: the desk");
        assert!(found(Scope::Requester(1)).await.is_empty(), "{engine}: the requester");
    }
}

/// A PostgreSQL database that is not UTF-8 is refused on open, with the
/// reason, before any migration writes to it.
#[tokio::test]
async fn a_postgresql_database_that_is_not_utf8_is_refused_with_the_reason() {
    for (engine, url, _dir) in empty_urls().await {
        if engine != "postgres" {
            continue;
        }
        let (head, name) = url.rsplit_once('/').unwrap();
        let ascii = format!("{name}_ascii");
        let mut admin = sqlx::AnyConnection::connect(&url).await.unwrap();
        admin
            .execute(&*format!(
                "CREATE DATABASE {ascii} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            ))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let opened = Store::open(&StoreOptions { url: format!("{head}/{ascii}"), max_connections: 2 }).await;
        let err = opened.err().expect("a SQL_ASCII database must be refused");
        assert!(err.to_string().contains("must be UTF-8"), "{err}");
        let mut conn = sqlx::AnyConnection::connect(&format!("{head}/{ascii}")).await.unwrap();
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(tables, 0, "nothing was written");
        conn.close().await.unwrap();
    }
}

/// A CI queued for re-indexing whose stored data the classes no longer
/// read (here an empty name) does not stop the store from opening: it is
/// left as it is, and the queue empties.
#[tokio::test]
async fn a_ci_that_cannot_be_reindexed_does_not_stop_the_start() {
    for (engine, url, _dir) in empty_urls().await {
        drop(Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap());
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for stmt in [
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 901, id, '', 'deployed', '{}', 1, 1, 1 FROM ci_classes WHERE name = 'Application'",
            "INSERT INTO ci_reindex (ci_id) VALUES (901)",
        ] {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();
        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 })
            .await
            .unwrap_or_else(|e| panic!("{engine}: {e:?}"));
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ci_reindex").fetch_one(store.pool()).await.unwrap();
        assert_eq!(left, 0, "{engine}");
    }
}

/// Version 23 keeps a CI's current version in its row only. What version 22
/// stored as the open version row goes, the ended ones stay, and "as of"
/// answers as before, also where the row's `updated_at` and its open
/// version disagreed (the version's start wins).
#[tokio::test]
async fn version_22_open_versions_become_the_rows() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 22).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let forever = i64::MAX;
        let v1 = r#"{"id":901,"class_id":CLASS,"name":"app-old","status":"deployed","owner_id":null,"location_id":null,"supplier_id":null,"cost":null,"purchased_on":null,"warranty_until":null,"end_of_life":null,"used_by_id":null,"organisation_id":null,"attributes":{},"service_id":null,"version":1,"created_at":100,"updated_at":100}"#;
        let v2 = v1
            .replace("app-old", "app")
            .replace("\"version\":1", "\"version\":2")
            .replace("\"updated_at\":100", "\"updated_at\":200");
        let class: i64 = sqlx::query_scalar("SELECT id FROM ci_classes WHERE name = 'Application'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let (v1, v2) = (v1.replace("CLASS", &class.to_string()), v2.replace("CLASS", &class.to_string()));
        let stmts = [
            // Its row says 190; its open version began at 200.
            format!(
                "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
                 VALUES (901, {class}, 'app', 'deployed', '{{}}', 2, 100, 190)"
            ),
            format!(
                "INSERT INTO ci_versions (ci_id, version, class_id, name, data, valid_from, valid_to) VALUES
                 (901, 1, {class}, 'app-old', '{v1}', 100, 200),
                 (901, 2, {class}, 'app', '{v2}', 200, {forever})"
            ),
        ];
        for stmt in &stmts {
            conn.execute(stmt.as_str()).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT version, valid_from, valid_to FROM ci_versions WHERE ci_id = 901")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(rows, [(1, 100, 200)], "{engine}: only the ended version is kept");
        assert_eq!(store.ci(901).await.unwrap().updated_at, 200, "{engine}");
        assert!(store.ci_as_of(901, 99).await.is_err(), "{engine}");
        assert_eq!(store.ci_as_of(901, 150).await.unwrap().name, "app-old", "{engine}");
        assert_eq!(store.ci_as_of(901, 195).await.unwrap().name, "app-old", "{engine}: the version's start wins");
        assert_eq!(store.ci_as_of(901, 200).await.unwrap().name, "app", "{engine}");
        assert_eq!(store.ci_names(&[901], Some(150)).await.unwrap()[&901], "app-old", "{engine}");
        assert_eq!(store.ci_names(&[901], None).await.unwrap()[&901], "app", "{engine}");
    }
}

/// Version 24 finds a CI's words that are whole attribute values in the
/// attribute index: the search words version 23 wrote twice go, and the
/// CI is found by each word as before.
#[tokio::test]
async fn version_23_search_words_that_are_values_are_found_as_values() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 23).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for stmt in [
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 901, id, 'web-07', 'deployed', '{\"os\":\"Linux\"}', 1, 1, 1 FROM ci_classes WHERE name = 'Application'",
            "INSERT INTO ci_attr_values (ci_id, name, value) VALUES (901, 'os', 'linux')",
            "INSERT INTO ci_terms (term, ci_id) VALUES ('web', 901), ('07', 901), ('linux', 901)",
        ] {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let words: Vec<String> = sqlx::query_scalar("SELECT term FROM ci_terms WHERE ci_id = 901 ORDER BY term")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(words, ["07", "web"], "{engine}");
        for (word, prefixes) in [("linux", false), ("li", true), ("web", false), ("we", true)] {
            let f =
                varde_store::cmdb::CiFilter { terms: vec![word.into()], term_prefixes: prefixes, ..Default::default() };
            let ids: Vec<i64> = store.list_cis(&f, None, 10).await.unwrap().into_iter().map(|c| c.id).collect();
            assert_eq!(ids, [901], "{engine}: {word}");
        }
    }
}

/// Version 25 keeps who made a CI on its row. The "created" lines version
/// 24 logged move there and the change log reads as it did.
#[tokio::test]
async fn version_24_created_lines_move_to_the_ci() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 24).await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for stmt in [
            "INSERT INTO users (id, email, name, name_key, role, active, created_at, updated_at, version)
             VALUES (77, 'ann@example.org', 'Ann', 'ann', 'agent', 1, 1, 1, 1)",
            "INSERT INTO ci_imports (id, source, format, actor_id, created, updated, unchanged, relations, at)
             VALUES (5, 'feed', 'csv', 77, 1, 0, 0, 0, 10)",
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 901, id, 'app', 'deployed', '{}', 1, 10, 10 FROM ci_classes WHERE name = 'Application'",
            "INSERT INTO cis (id, class_id, name, status, attributes, version, created_at, updated_at)
             SELECT 902, id, 'db', 'deployed', '{}', 1, 10, 10 FROM ci_classes WHERE name = 'Application'",
            "INSERT INTO ci_changes (ci_id, at, actor_id, record_id, import_id, field, old_value, new_value) VALUES
             (901, 10, 77, NULL, 5, 'created', NULL, 'app'),
             (901, 20, 77, NULL, NULL, 'status', 'deployed', 'in_repair'),
             (902, 10, NULL, NULL, NULL, 'created', NULL, 'db'),
             (902, 11, 77, NULL, 5, 'created', NULL, 'db')",
        ] {
            conn.execute(stmt).await.unwrap_or_else(|e| panic!("{engine}: {e}\n{stmt}"));
        }
        conn.close().await.unwrap();

        let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let log = store.ci_changes(901).await.unwrap();
        let read: Vec<(i64, &str, Option<i64>, Option<i64>)> =
            log.iter().map(|c| (c.at, c.field.as_str(), c.actor_id, c.import_id)).collect();
        assert_eq!(read, [(10, "created", Some(77), Some(5)), (20, "status", Some(77), None)], "{engine}");
        assert_eq!(log[0].new_value.as_deref(), Some("app"), "{engine}");
        let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ci_changes").fetch_one(store.pool()).await.unwrap();
        assert_eq!(lines, 1, "{engine}: the created lines are on the rows");
        // Of two lines, the first, whole: not a maker from one and an
        // import from the other.
        let made = &store.ci_changes(902).await.unwrap()[0];
        assert_eq!((made.actor_id, made.import_id), (None, None), "{engine}");
    }
}
