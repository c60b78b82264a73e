//! The append-only audit trail: who changed what, when, from what to what.
//! Rows are written in the same transaction as the change they describe and
//! are never updated or deleted.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::record::ChangeSet;

use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Record,
    User,
    Configuration,
    Calendar,
}

impl Entity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Entity::Record => "record",
            Entity::User => "user",
            Entity::Configuration => "configuration",
            Entity::Calendar => "calendar",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub at: i64,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn write(
    conn: &mut AnyConnection,
    entity: Entity,
    entity_id: i64,
    actor: Option<i64>,
    at: i64,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (entity, entity_id, actor_id, at, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entity.as_str())
    .bind(entity_id)
    .bind(actor)
    .bind(at)
    .bind(field)
    .bind(old)
    .bind(new)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn created(
    conn: &mut AnyConnection,
    entity: Entity,
    id: i64,
    actor: Option<i64>,
    at: i64,
) -> Result<(), StoreError> {
    write(conn, entity, id, actor, at, "created", None, None).await
}

pub(crate) async fn changes(
    conn: &mut AnyConnection,
    entity: Entity,
    id: i64,
    actor: Option<i64>,
    at: i64,
    cs: &ChangeSet,
) -> Result<(), StoreError> {
    for c in &cs.0 {
        write(&mut *conn, entity, id, actor, at, c.field, c.old.as_deref(), c.new.as_deref()).await?;
    }
    Ok(())
}

impl Store {
    /// The audit trail of one entity, oldest first.
    pub async fn audit_of(&self, entity: Entity, id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, actor_id, at, field, old_value, new_value FROM audit WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        )
        .bind(entity.as_str())
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }
}
