//! Saved queue filters: a person's named shortcuts to a queue view.

use futures::FutureExt;
use sqlx::FromRow;

use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SavedFilter {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The queue path and query string the filter opens, e.g. `/queue/open?priority=1`.
    pub query: String,
}

impl Store {
    /// Saves a filter under a name; a name the user already has is a duplicate.
    pub async fn save_filter(&self, user_id: i64, name: String, query: String) -> Result<SavedFilter, StoreError> {
        self.write(move |conn| {
            async move {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO saved_filters (user_id, name, query, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(user_id)
                .bind(&name)
                .bind(&query)
                .bind(now_micros())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                Ok(SavedFilter { id, user_id, name, query })
            }
            .boxed()
        })
        .await
    }

    pub async fn saved_filters(&self, user_id: i64) -> Result<Vec<SavedFilter>, StoreError> {
        Ok(sqlx::query_as("SELECT id, user_id, name, query FROM saved_filters WHERE user_id = $1 ORDER BY name")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Deletes one of the user's own filters; someone else's is "not found".
    pub async fn delete_filter(&self, user_id: i64, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let done = sqlx::query("DELETE FROM saved_filters WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                crate::sql::found(done.rows_affected())
            }
            .boxed()
        })
        .await
    }
}
