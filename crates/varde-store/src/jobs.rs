//! The durable job table: work that must happen later or elsewhere (closing
//! resolved incidents, and later SLA timers, notifications, imports). A job
//! survives restarts; a claimed job is leased, so a node that dies mid-job
//! lets another retry it when the lease runs out. On PostgreSQL, claims use
//! `FOR UPDATE SKIP LOCKED`, so many nodes never run the same job at once.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::{now_micros, Engine, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub run_at: i64,
    pub attempts: i64,
}

/// Adds a job unless one with the same `dedupe_key` is already queued.
pub(crate) async fn enqueue_in(
    conn: &mut AnyConnection,
    kind: &str,
    payload: &str,
    run_at: i64,
    dedupe_key: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(k) = dedupe_key {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE dedupe_key = $1").bind(k).fetch_one(&mut *conn).await?;
        if n > 0 {
            return Ok(());
        }
    }
    sqlx::query(
        "INSERT INTO jobs (kind, payload, run_at, attempts, dedupe_key, created_at) VALUES ($1, $2, $3, 0, $4, $5)",
    )
    .bind(kind)
    .bind(payload)
    .bind(run_at)
    .bind(dedupe_key)
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn enqueue(
        &self,
        kind: String,
        payload: String,
        run_at: i64,
        dedupe_key: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move { enqueue_in(conn, &kind, &payload, run_at, dedupe_key.as_deref()).await }.boxed()
        })
        .await
    }

    /// Leases up to `limit` due jobs to `node` for `lease_micros`.
    pub async fn claim_jobs(&self, node: String, lease_micros: i64, limit: i64) -> Result<Vec<Job>, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let now = now_micros();
                let lock = match engine {
                    Engine::Postgres => " FOR UPDATE SKIP LOCKED",
                    Engine::Sqlite => "",
                };
                let sql = format!(
                    "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM jobs WHERE run_at <= $3 AND (locked_until IS NULL OR locked_until < $3)
                                  ORDER BY run_at LIMIT $4{lock})
                     RETURNING id, kind, payload, run_at, attempts"
                );
                Ok(sqlx::query_as::<_, Job>(&sql)
                    .bind(now + lease_micros)
                    .bind(&node)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?)
            }
            .boxed()
        })
        .await
    }

    /// Removes a job `node` claimed and ran. Only while it is still that
    /// node's claim: a job may replace itself while running (an SLA timer
    /// sets its next one), and on SQLite the new row can reuse the old id.
    pub async fn complete_claimed_job(&self, id: i64, node: String) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
                    .bind(id)
                    .bind(&node)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Puts a job `node` claimed back to run again at `retry_at`, if it is
    /// still that node's claim (see [`Store::complete_claimed_job`]).
    pub async fn fail_claimed_job(
        &self,
        id: i64,
        node: String,
        error: String,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                sqlx::query(
                    "UPDATE jobs SET locked_until = NULL, locked_by = NULL, last_error = $1, run_at = $2 WHERE id = $3 AND locked_by = $4",
                )
                .bind(&error)
                .bind(retry_at)
                .bind(id)
                .bind(&node)
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn complete_job(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(conn).await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Puts a failed job back to run again at `retry_at`.
    pub async fn fail_job(&self, id: i64, error: String, retry_at: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                sqlx::query(
                    "UPDATE jobs SET locked_until = NULL, locked_by = NULL, last_error = $1, run_at = $2 WHERE id = $3",
                )
                .bind(&error)
                .bind(retry_at)
                .bind(id)
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn pending_jobs(&self) -> Result<Vec<Job>, StoreError> {
        Ok(sqlx::query_as("SELECT id, kind, payload, run_at, attempts FROM jobs ORDER BY run_at, id")
            .fetch_all(self.pool())
            .await?)
    }
}
