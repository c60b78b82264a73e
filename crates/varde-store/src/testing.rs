//! Fresh databases for tests, on every engine the machine has.
//!
//! SQLite always; PostgreSQL when `VARDE_TEST_POSTGRES_URL` names a server
//! whose user may create databases. Under CI (`CI=true`) a missing
//! PostgreSQL is an error, so the conformance suite can never pass by
//! quietly testing one engine.

use crate::{Store, StoreOptions};

pub struct TestDb {
    pub engine: &'static str,
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A new, empty, migrated SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions::sqlite_file(&dir.path().join("varde.db"));
    let store = Store::open(&opts).await.expect("open sqlite");
    TestDb { engine: "sqlite", store, url: opts.url, _dir: Some(dir) }
}

/// The URL of a new, empty PostgreSQL database, if a server is configured.
pub async fn postgres_url() -> Option<String> {
    let base = match std::env::var("VARDE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!(
                    "CI=true but VARDE_TEST_POSTGRES_URL is not set: the PostgreSQL half of the tests would be skipped"
                );
            }
            return None;
        }
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let me = std::process::id();
    let name = match started(me) {
        Some(start) => format!("varde_t_{me}_{start}_{}", rand::random::<u32>()),
        // Without a start time, the older name: its pid alone says alive.
        None => format!("varde_t_{me}_{}", rand::random::<u32>()),
    };
    let mut admin = sqlx::AnyConnection::connect(&base).await.expect("connect to VARDE_TEST_POSTGRES_URL");
    sweep_dead_databases(&mut admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
    let _ = admin.close().await;
    let (head, _) = base.rsplit_once('/').expect("URL with a database name");
    Some(format!("{head}/{name}"))
}

/// Drops the test databases whose creating process has exited.
///
/// Liveness is read from this machine's /proc: test runs in another pid
/// namespace (a container) on the same server look dead to it and lose
/// their databases. Give each such runner its own server.
///
/// A test database lives as long as its test process, and the process cannot
/// drop it on the way out (a panicking test, a killed run), so each new test
/// process clears up after dead ones. Without this a developer's server
/// fills its disk (thousands of databases, tens of gigabytes, seen here).
/// All of them: a cap of 32 per process did not keep up, since one test
/// binary makes up to a hundred, and one session's runs left 2,178 behind
/// (22 GB). A drop costs about 30 ms.
async fn sweep_dead_databases(admin: &mut sqlx::AnyConnection) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SWEPT: AtomicBool = AtomicBool::new(false);
    // Liveness is read from /proc; elsewhere every process would look dead.
    if SWEPT.swap(true, Ordering::SeqCst) || !std::path::Path::new("/proc/self").exists() {
        return;
    }
    // `datname` is of type `name`, which the Any driver cannot read as text:
    // uncast, the query failed, and the sweep (its error swallowed) never
    // dropped anything; 584 dead runs' databases (6 GB) were found.
    let names: Vec<(String,)> =
        match sqlx::query_as("SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE 'varde\\_t\\_%'")
            .fetch_all(&mut *admin)
            .await
        {
            Ok(names) => names,
            Err(e) => {
                eprintln!("cannot list the test databases to drop dead ones: {e}");
                return;
            }
        };
    // A name is `varde_t_PID_START_RANDOM...`: its maker is alive only if a
    // process of that pid runs and started when it did (a pid alone is
    // taken by other processes, after a restart above all). An older name,
    // `varde_t_PID_RANDOM...`, has only the pid to go by.
    let dead = names.into_iter().map(|(n,)| n).filter(|n| {
        let parts: Vec<&str> = n.strip_prefix("varde_t_").unwrap_or_default().split('_').collect();
        let number = |i: usize| parts.get(i).and_then(|p| p.parse::<u64>().ok());
        let Some(pid) = number(0).and_then(|p| u32::try_from(p).ok()) else { return false };
        if pid == std::process::id() {
            return false;
        }
        match (number(1), number(2)) {
            (Some(start), Some(_)) => started(pid) != Some(start),
            _ => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        }
    });
    for name in dead {
        // Another process may be dropping the same one; either way it goes.
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *admin).await;
    }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat`,
/// the 22nd field), if it runs.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces) begin at its ')'
    // with the 3rd, the state.
    stat.rsplit_once(')')?.1.split_whitespace().nth(22 - 3)?.parse().ok()
}

pub async fn postgres() -> Option<TestDb> {
    let url = postgres_url().await?;
    let store = Store::open(&StoreOptions { url: url.clone(), max_connections: 8 }).await.expect("open postgres");
    Some(TestDb { engine: "postgres", store, url, _dir: None })
}

/// One fresh database per available engine.
pub async fn databases() -> Vec<TestDb> {
    let mut out = vec![sqlite().await];
    out.extend(postgres().await);
    out
}

/// Brings a database at `url` to schema `version` only, as an older Varde
/// would have left it, so upgrade tests can fill it with that version's data.
pub async fn migrate_url_to(url: &str, version: i64) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let engine = if url.starts_with("sqlite:") { crate::Engine::Sqlite } else { crate::Engine::Postgres };
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect");
    crate::schema::migrate_to(&mut conn, engine, version).await.expect("migrate");
    let _ = conn.close().await;
}

/// A URL for a new, empty database on each engine, not yet migrated.
pub async fn empty_urls() -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = StoreOptions::sqlite_file(&dir.path().join("varde.db")).url;
    let mut out = vec![("sqlite", sqlite, Some(dir))];
    if let Some(pg) = postgres_url().await {
        out.push(("postgres", pg, None));
    }
    out
}

/// An agent (`a@example.org`) for store tests to act as.
pub async fn agent(store: &Store) -> i64 {
    user(store, "a@example.org", varde_domain::access::Role::Agent).await
}

/// A user of `role` named after their e-mail address, in no organisation.
pub async fn user(store: &Store, email: &str, role: varde_domain::access::Role) -> i64 {
    let user = crate::directory::NewUser {
        email: email.into(),
        name: email.into(),
        role,
        organisation_id: None,
        password_hash: None,
    };
    store.create_user(user, None).await.expect("a user").id
}

/// A plain incident by `who` (a printer, medium impact and urgency, no
/// group, service or category), for tests to adjust.
pub fn incident(who: i64) -> crate::incidents::NewIncident {
    use varde_domain::priority::Level;
    crate::incidents::NewIncident {
        short_description: "Printer".into(),
        description: String::new(),
        requester_id: who,
        created_by: who,
        assignment_group_id: None,
        assignee_id: None,
        impact: Level::MEDIUM,
        urgency: Level::MEDIUM,
        category_id: None,
        service_id: None,
        channel: varde_domain::incident::Channel::Phone,
        major: false,
    }
}

/// Resolves incident `id` as `who` ("fixed", "Done"), straight from where
/// it is: from New that is a resolution at first contact.
pub async fn resolve(store: &Store, id: i64, who: i64) {
    let patch = varde_domain::incident::Patch {
        state: Some("resolved".into()),
        resolution_code: Some("fixed".into()),
        resolution_notes: Some("Done".into()),
        ..Default::default()
    };
    store.update_incident(id, None, patch, who).await.expect("the incident resolves");
}

/// Moves a record's creation and resolution to the given instants, for
/// tests of reports and searches about when things happened, which a test
/// cannot wait for.
pub async fn backdate(store: &Store, id: i64, created: i64, resolved: Option<i64>) {
    use futures::FutureExt;
    store
        .write(move |conn| {
            async move {
                sqlx::query("UPDATE records SET created_at = $1, resolved_at = $2 WHERE id = $3")
                    .bind(created)
                    .bind(resolved)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
        .expect("backdate a record");
}

/// Makes the record's SLA clocks of `kind` ("sla", "ola", "uc") as if they
/// had started at `start` and, given `stopped`, had stopped then, breached;
/// for tests of reports about time a test cannot wait for. Their stored
/// elapsed time is the wall time between (a running clock's: 0, as at its
/// start), which is their business time on a 24x7 calendar.
pub async fn clocks_ran(store: &Store, record_id: i64, kind: &str, start: i64, stopped: Option<i64>) {
    use futures::FutureExt;
    let kind = kind.to_string();
    let spans = stopped.map_or("[]".to_string(), |stop| format!("[[{start},{stop}]]"));
    store
        .write(move |conn| {
            async move {
                sqlx::query(
                    "UPDATE sla_clocks SET spans = $1, running_since = $2, started_at = $3, stopped_at = $4,
                     state = $5, due_at = CASE WHEN $4 IS NULL THEN due_at END, elapsed_us = $6
                     WHERE record_id = $7 AND kind = $8",
                )
                .bind(spans)
                .bind(stopped.is_none().then_some(start))
                .bind(start)
                .bind(stopped)
                .bind(if stopped.is_some() { "breached" } else { "running" })
                .bind(stopped.map_or(0, |stop| stop - start))
                .bind(record_id)
                .bind(kind)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
        .expect("clocks that ran");
}
