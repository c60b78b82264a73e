//! The record kernel's own row (`records`), shared by every kind of record:
//! what a write of an incident or a problem sets there, guarded by the
//! version the writer read.
//!
//! On PostgreSQL the record's row is the first lock of any write to it:
//! a transaction takes it (by updating the row, as every record write does
//! first, or with [`lock_in`]) before the record's incident row, and the
//! incident row before the record's SLA clocks (`sla::clocks::hold_in`).
//! Taken in that one order, two writes of a record cannot deadlock, and the
//! SLA recompute, which holds only incident rows, can write a batch's clocks
//! and incidents without waiting for anyone (ADR 0013).

use sqlx::AnyConnection;

use crate::sql::{engine_of, found, versioned};
use crate::{Engine, StoreError};

/// Takes record `id`'s row lock (PostgreSQL; it waits for a writer that
/// holds it), for a write that reaches the record's incident or clocks
/// without updating the record first. The lock an `UPDATE` of the row
/// takes, so rows merely referring to the record (foreign keys) do not
/// wait for it. SQLite's one writer needs no lock.
pub(crate) async fn lock_in(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    if engine_of(conn) != Engine::Postgres {
        return Ok(());
    }
    let n = sqlx::query("SELECT id FROM records WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .len();
    found(n as u64)
}

/// The kernel columns a record's update sets.
pub(crate) struct Kernel<'a> {
    pub state: &'a str,
    pub is_open: bool,
    pub short_description: &'a str,
    pub description: &'a str,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub priority: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
}

/// Writes `k` to record `id` and moves its version on, if the record is
/// still at `read` (the version the change was worked out from); otherwise
/// nothing is written and the caller learns it lost the race.
pub(crate) async fn update_in(
    conn: &mut AnyConnection,
    id: i64,
    read: i64,
    k: &Kernel<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE records SET version = version + 1, state = $1, is_open = $2, short_description = $3, description = $4,
            assignment_group_id = $5, assignee_id = $6, priority = $7, updated_at = $8, resolved_at = $9, closed_at = $10
         WHERE id = $11 AND version = $12",
    )
    .bind(k.state)
    .bind(k.is_open as i64)
    .bind(k.short_description)
    .bind(k.description)
    .bind(k.assignment_group_id)
    .bind(k.assignee_id)
    .bind(k.priority)
    .bind(now)
    .bind(k.resolved_at)
    .bind(k.closed_at)
    .bind(id)
    .bind(read)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    versioned(n, read)
}
