//! Connections and the write path.
//!
//! SQLite allows one writer at a time and pays one fsync per commit, so on
//! SQLite every write goes through a single writer task that commits many
//! callers' writes in one transaction (group commit), each inside its own
//! savepoint so that one caller's failure does not undo another's. A caller
//! is answered only after the shared COMMIT is durable.
//!
//! PostgreSQL group-commits by itself, so there each write is simply its own
//! transaction on the pool, and any number of nodes may share the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://path` or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for StoreOptions {
    /// Never print the database password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions").field("url", &redact(&self.url)).finish()
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl StoreOptions {
    pub fn sqlite_file(path: &Path) -> Self {
        StoreOptions { url: format!("sqlite://{}?mode=rwc", path.display()), max_connections: 8 }
    }
}

type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
struct Done {
    ok: bool,
    finish: Finish,
}
type Job = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Done> + Send>;

/// The database, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    pool: AnyPool,
    /// Only on SQLite: the queue of the single writer task.
    writer: Option<mpsc::Sender<Job>>,
    sqlite_path: Option<PathBuf>,
}

/// Most writes one group commit takes; more wait for the next.
const MAX_BATCH: usize = 512;

/// The group-commit size: [`MAX_BATCH`] unless `VARDE_SQLITE_MAX_BATCH`
/// says otherwise. Setting it to 1 gives one transaction (one fsync) per
/// write, the baseline BENCHMARKS.md compares group commit against; it is an
/// operator knob for measurement, not something to tune in production.
fn max_batch() -> usize {
    match std::env::var("VARDE_SQLITE_MAX_BATCH") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_BATCH * 8),
            _ => {
                tracing::warn!(value = %v, "VARDE_SQLITE_MAX_BATCH is not a positive number; using {MAX_BATCH}");
                MAX_BATCH
            }
        },
        Err(_) => MAX_BATCH,
    }
}

impl Store {
    /// Connects, migrates the schema to the newest version, and starts the
    /// writer task on SQLite.
    pub async fn open(opts: &StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = if opts.url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if opts.url.starts_with("postgres:") || opts.url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StoreError::Database(format!(
                "unsupported database URL {}: use sqlite://PATH or postgres://...",
                redact(&opts.url)
            )));
        };
        let connect: AnyConnectOptions =
            opts.url.parse().map_err(|e: sqlx::Error| StoreError::Database(e.to_string()))?;
        let connect = connect.disable_statement_logging();
        match engine {
            Engine::Sqlite => {
                let mut writer_conn = AnyConnection::connect_with(&connect).await?;
                sqlite_pragmas(&mut writer_conn).await?;
                crate::schema::migrate(&mut writer_conn, engine).await?;
                // The WAL is checkpointed beside the writer (see
                // `checkpointer`). The writer's own checkpoint stays as a
                // backstop at ten times SQLite's default: it restarts the WAL
                // only when all of it has been copied as a write begins, which
                // back-to-back groups rarely allow, so without the backstop a
                // burst of writes would grow it without end. At that size it
                // mostly finds the pages copied already. A restarted WAL is
                // cut back to 64 MiB.
                writer_conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                writer_conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                let mut checkpoint_conn = AnyConnection::connect_with(&connect).await?;
                sqlite_pragmas(&mut checkpoint_conn).await?;
                let (committed, commits) = mpsc::channel::<()>(1);
                tokio::spawn(checkpointer(checkpoint_conn, commits));
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    // A ping before every acquire is one more round trip to the
                    // connection's thread per query (profiled on the read path);
                    // a local file does not go away between queries.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await.map_err(into_sqlx) }))
                    .connect_with(connect)
                    .await?;
                let batch = max_batch();
                let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
                tokio::spawn(sqlite_writer(writer_conn, rx, batch, committed));
                let sqlite_path = opts.url.trim_start_matches("sqlite://").split('?').next().map(PathBuf::from);
                let store = Store { inner: Arc::new(Inner { engine, pool, writer: Some(tx), sqlite_path }) };
                store.rebuild_search().await?;
                store.fold_user_names().await?;
                store.cmdb_reindex().await?;
                Ok(store)
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    // No ping (a network round trip) before every query: a
                    // connection that broke fails its query, sqlx drops it,
                    // and the next acquire opens a fresh one.
                    .test_before_acquire(false)
                    .connect_with(connect)
                    .await?;
                let mut conn = pool.acquire().await?;
                // Text in every language, and the search entries' reader
                // tokens (a private-use character, ADR 0018), need UTF-8.
                let encoding: String = sqlx::query_scalar("SHOW server_encoding").fetch_one(&mut *conn).await?;
                if encoding != "UTF8" {
                    return Err(StoreError::Database(format!(
                        "the PostgreSQL database must be UTF-8, not {encoding}: create it with ENCODING 'UTF8'"
                    )));
                }
                crate::schema::migrate(&mut conn, engine).await?;
                drop(conn);
                let store = Store { inner: Arc::new(Inner { engine, pool, writer: None, sqlite_path: None }) };
                store.rebuild_search().await?;
                store.fold_user_names().await?;
                store.cmdb_reindex().await?;
                Ok(store)
            }
        }
    }

    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    /// The pool for reads. On SQLite, readers see the last committed group.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Runs `f` as one atomic write. `f` succeeding means its changes are
    /// durably committed when this returns; `f` failing means none of them are.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        match &self.inner.writer {
            Some(queue) => {
                let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
                let job: Job = Box::new(move |conn| {
                    Box::pin(async move {
                        let result = f(conn).await;
                        let ok = result.is_ok();
                        let finish: Finish = Box::new(move |commit| {
                            let _ = tx.send(commit.and(result));
                        });
                        Done { ok, finish }
                    })
                });
                queue.send(job).await.map_err(|_| StoreError::Database("the writer has stopped".into()))?;
                rx.await.map_err(|_| StoreError::Database("the write was abandoned".into()))?
            }
            None => {
                let mut tx = self.inner.pool.begin().await?;
                match f(&mut tx).await {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Answers whether the database can be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if self.inner.writer.as_ref().is_some_and(|w| w.is_closed()) {
            return Err(StoreError::Database("the writer has stopped".into()));
        }
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    /// A consistent copy of the SQLite database, taken while the server runs.
    pub async fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if self.inner.engine != Engine::Sqlite {
            return Err(StoreError::Database("online backup is for SQLite; use pg_dump for PostgreSQL".into()));
        }
        if target.exists() {
            return Err(StoreError::Database(format!("{} exists already; choose a new file", target.display())));
        }
        let t = target.to_str().ok_or_else(|| StoreError::Database("backup path must be UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(t).execute(&self.inner.pool).await?;
        Ok(())
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        self.inner.sqlite_path.as_deref()
    }

    /// Stops accepting writes and waits for those queued to commit.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

fn into_sqlx(e: StoreError) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), StoreError> {
    // WAL lets readers work beside the writer; synchronous=FULL makes every
    // COMMIT durable before it returns, which is what an acknowledged
    // create promises.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    // Each group-committed write runs in its own savepoint, and SQLite
    // journals the pages a savepoint changes; in memory that costs no
    // system calls (profiled: `subjournalPageIfRequired` -> pwrite).
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    Ok(())
}

/// How long the checkpointer lets commits gather before it copies them from
/// the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies committed pages from the WAL into the database file, at most once
/// per [`CHECKPOINT_EVERY`] while there are commits, on a connection of its
/// own. SQLite's automatic checkpoint ran in the committing connection,
/// after its COMMIT: the write whose commit crossed 1,000 WAL pages waited
/// for the copy and its fsync (about 60 ms of a 20,000-CI import,
/// BENCHMARKS.md); the writer's is now a backstop at 10,000 pages. A passive
/// checkpoint blocks no reader and no writer; the commit was durable in the
/// WAL before it returned, so nothing waits on this. Ends when the writer
/// does (its sender is dropped).
async fn checkpointer(mut conn: AnyConnection, mut commits: mpsc::Receiver<()>) {
    while commits.recv().await.is_some() {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        // Commits made while it slept are copied by this checkpoint.
        while commits.try_recv().is_ok() {}
        if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next commit tries again");
        }
    }
}

async fn sqlite_writer(
    mut conn: AnyConnection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    committed: mpsc::Sender<()>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
            tracing::error!(error = %e, "cannot begin a write transaction; dropping {} writes", batch.len());
            batch.clear();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        let mut broken: Option<String> = None;
        for job in batch.drain(..) {
            if broken.is_some() {
                drop(job);
                continue;
            }
            if let Err(e) = conn.execute("SAVEPOINT w").await {
                broken = Some(e.to_string());
                drop(job);
                continue;
            }
            // A panic in one write must not take the writer (and with it every
            // later write) down: its changes are rolled back to its savepoint
            // and its caller, whose answer is dropped, hears the write was
            // abandoned.
            let d = std::panic::AssertUnwindSafe(job(&mut conn)).catch_unwind().await;
            if d.is_err() {
                tracing::error!("a write panicked; its changes are rolled back");
            }
            let ok = matches!(&d, Ok(d) if d.ok);
            let end: &[&str] = if ok { &["RELEASE w"] } else { &["ROLLBACK TO w", "RELEASE w"] };
            for stmt in end {
                if let Err(e) = conn.execute(*stmt).await {
                    broken = Some(e.to_string());
                }
            }
            if let Ok(d) = d {
                done.push(d);
            }
        }
        let commit = match broken {
            None => conn.execute("COMMIT").await.map(|_| ()).map_err(|e| e.to_string()),
            Some(e) => Err(e),
        };
        match commit {
            Ok(()) => {
                // Full means a checkpoint is due already.
                let _ = committed.try_send(());
                for d in done {
                    (d.finish)(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; {} writes rolled back", done.len());
                let _ = conn.execute("ROLLBACK").await;
                for d in done {
                    (d.finish)(Err(StoreError::Database(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, CHECKPOINT_EVERY};

    /// Commits reach the database file without a close and without the
    /// writer checkpointing: these few pages are far below the writer's
    /// backstop (10,000 pages; SQLite's default of 1,000 too), so only the
    /// checkpointer copies them.
    #[tokio::test]
    async fn commits_are_checkpointed_beside_the_writer() {
        let db = crate::testing::sqlite().await;
        let s = &db.store;
        let path = s.sqlite_path().expect("a file").to_path_buf();
        let who = crate::testing::agent(s).await;
        // Whatever opening wrote is copied first.
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        let written = || std::fs::metadata(&path).and_then(|m| m.modified()).expect("the database file");
        let before = written();
        for _ in 0..20 {
            s.create_incident(crate::testing::incident(who), None).await.unwrap();
        }
        let started = std::time::Instant::now();
        while written() == before {
            assert!(started.elapsed() < CHECKPOINT_EVERY * 10, "no checkpoint copied the commits");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://varde:s3cret@db:5432/varde"), "postgres://varde:***@db:5432/varde");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
