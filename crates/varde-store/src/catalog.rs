//! What records are classified by: services, the category tree, the
//! priority matrix, and the desk's settings.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::priority::PriorityMatrix;

use crate::audit::{self, Entity};
use crate::sql::exists;
use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[serde(skip)]
    pub active: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Category {
    pub id: i64,
    /// 0 for a top-level category.
    pub parent_id: i64,
    pub name: String,
    #[serde(skip)]
    pub active: i64,
}

impl Store {
    pub async fn create_service(&self, name: String, description: String) -> Result<Service, StoreError> {
        self.write(move |conn| {
            async move {
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO services (name, description, active, created_at) VALUES ($1, $2, 1, $3) RETURNING id",
                )
                .bind(&name)
                .bind(&description)
                .bind(now)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                audit::write(conn, Entity::Configuration, id, None, now, "service", None, Some(&name)).await?;
                // Every service is a CI of the Service class (the CMDB's service model).
                crate::cmdb::service_ci(conn, id, &name, None, now).await?;
                Ok(Service { id, name, description, active: 1 })
            }
            .boxed()
        })
        .await
    }

    pub async fn services(&self) -> Result<Vec<Service>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, description, active FROM services ORDER BY name")
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn create_category(&self, parent_id: i64, name: String) -> Result<Category, StoreError> {
        self.write(move |conn| {
            async move {
                if parent_id != 0 && !exists(conn, "categories", parent_id).await? {
                    return Err(StoreError::UnknownReference { field: "parent_id" });
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO categories (parent_id, name, active, created_at) VALUES ($1, $2, 1, $3) RETURNING id",
                )
                .bind(parent_id)
                .bind(&name)
                .bind(now_micros())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                Ok(Category { id, parent_id, name, active: 1 })
            }
            .boxed()
        })
        .await
    }

    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        Ok(sqlx::query_as("SELECT id, parent_id, name, active FROM categories ORDER BY parent_id, name")
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn priority_matrix(&self) -> Result<PriorityMatrix, StoreError> {
        let mut conn = self.pool().acquire().await?;
        matrix_in(&mut conn).await
    }

    pub async fn set_priority_matrix(&self, m: PriorityMatrix, actor: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let old = matrix_in(conn).await?;
                let now = now_micros();
                for (i, row) in m.cells().iter().enumerate() {
                    for (u, p) in row.iter().enumerate() {
                        sqlx::query("UPDATE priority_matrix SET priority = $1 WHERE impact = $2 AND urgency = $3")
                            .bind(*p)
                            .bind(i as i64 + 1)
                            .bind(u as i64 + 1)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                let show = |m: &PriorityMatrix| serde_json::to_string(&m.cells()).unwrap_or_default();
                audit::write(
                    conn,
                    Entity::Configuration,
                    0,
                    Some(actor),
                    now,
                    "priority_matrix",
                    Some(&show(&old)),
                    Some(&show(&m)),
                )
                .await
            }
            .boxed()
        })
        .await
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn set_setting(&self, key: String, value: String, actor: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(&key)
                    .fetch_optional(&mut *conn)
                    .await?;
                if old.is_some() {
                    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
                        .bind(&value)
                        .bind(&key)
                        .execute(&mut *conn)
                        .await?;
                } else {
                    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
                        .bind(&key)
                        .bind(&value)
                        .execute(&mut *conn)
                        .await?;
                }
                audit::write(
                    conn,
                    Entity::Configuration,
                    0,
                    Some(actor),
                    now_micros(),
                    &key,
                    old.as_deref(),
                    Some(&value),
                )
                .await
            }
            .boxed()
        })
        .await
    }
}

pub(crate) async fn matrix_in(conn: &mut AnyConnection) -> Result<PriorityMatrix, StoreError> {
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT impact, urgency, priority FROM priority_matrix").fetch_all(conn).await?;
    let mut cells = [[0i64; 3]; 3];
    for (i, u, p) in rows {
        if !(1..=3).contains(&i) || !(1..=3).contains(&u) {
            return Err(StoreError::corrupt("priority_matrix"));
        }
        cells[(i - 1) as usize][(u - 1) as usize] = p;
    }
    PriorityMatrix::from_cells(cells).map_err(|_| StoreError::corrupt("priority_matrix"))
}
