//! In-app notifications for one person (SLA warnings and escalations today).

use futures::FutureExt;
use serde::Serialize;
use sqlx::FromRow;

use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub record_id: Option<i64>,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl Store {
    /// The person's notifications, newest first, after `before` (an id) for paging.
    pub async fn notifications(
        &self,
        user_id: i64,
        unread_only: bool,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "SELECT id, user_id, record_id, kind, body, created_at, read_at FROM notifications
             WHERE user_id = $1 AND id < $2 {} ORDER BY id DESC LIMIT $3",
            if unread_only { "AND read_at IS NULL" } else { "" }
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn unread_notifications(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Marks one (or, with `None`, every) notification of the person read.
    pub async fn mark_notifications_read(&self, user_id: i64, id: Option<i64>) -> Result<u64, StoreError> {
        self.write(move |conn| {
            async move {
                let now = now_micros();
                let n = match id {
                    Some(id) => sqlx::query(
                        "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND id = $3 AND read_at IS NULL",
                    )
                    .bind(now)
                    .bind(user_id)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected(),
                    None => sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected(),
                };
                Ok(n)
            }
            .boxed()
        })
        .await
    }
}
