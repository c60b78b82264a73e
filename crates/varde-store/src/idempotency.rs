//! `Idempotency-Key` on creates: a retried create returns what the first one
//! made, never a duplicate. The key is remembered in the same transaction as
//! the record it made, so a crash can never leave one without the other.

use sqlx::AnyConnection;
use varde_domain::DomainError;

use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub user_id: i64,
    pub key: String,
    /// A digest of the request body: the same key with another body is a
    /// client bug, refused rather than silently answered with the old result.
    pub request_hash: String,
}

/// The id the key already made, if any.
pub(crate) async fn recall(conn: &mut AnyConnection, k: &IdempotencyKey) -> Result<Option<i64>, StoreError> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT request_hash, location FROM idempotency WHERE user_id = $1 AND key = $2")
            .bind(k.user_id)
            .bind(&k.key)
            .fetch_optional(conn)
            .await?;
    match row {
        None => Ok(None),
        Some((hash, _)) if hash != k.request_hash => Err(DomainError::field(
            "Idempotency-Key",
            "was already used for a different request; use a new key for a new request",
        )
        .into()),
        Some((_, loc)) => loc.and_then(|l| l.parse().ok()).map(Some).ok_or_else(|| StoreError::corrupt("idempotency")),
    }
}

/// Claims the key for this transaction before anything is made, or says
/// what an earlier request with it made. Claiming first matters on
/// PostgreSQL: two retries in flight at once would otherwise both find no
/// key, both create, and the second fail on the key's uniqueness. The
/// insert waits for a concurrent claim to commit or roll back, so the loser
/// then finds the winner's record (or takes over a key whose request failed).
pub(crate) async fn claim(conn: &mut AnyConnection, k: &IdempotencyKey) -> Result<Option<i64>, StoreError> {
    let n = sqlx::query(
        "INSERT INTO idempotency (user_id, key, request_hash, status, location, body, created_at)
         VALUES ($1, $2, $3, 201, NULL, '', $4) ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(k.user_id)
    .bind(&k.key)
    .bind(&k.request_hash)
    .bind(now_micros())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        return Ok(None);
    }
    recall(conn, k).await?.map(Some).ok_or_else(|| StoreError::corrupt("idempotency key without a result"))
}

/// Records what the claimed key made, in the transaction that made it.
pub(crate) async fn remember(conn: &mut AnyConnection, k: &IdempotencyKey, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency SET location = $1 WHERE user_id = $2 AND key = $3")
        .bind(id.to_string())
        .bind(k.user_id)
        .bind(&k.key)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Forgets keys older than `before`, so the table does not grow forever.
    pub async fn forget_idempotency_before(&self, before: i64) -> Result<u64, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                Ok(sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
                    .bind(before)
                    .execute(conn)
                    .await?
                    .rows_affected())
            })
        })
        .await
    }

    pub async fn recall_idempotency(&self, k: &IdempotencyKey) -> Result<Option<i64>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        recall(&mut conn, k).await
    }
}
