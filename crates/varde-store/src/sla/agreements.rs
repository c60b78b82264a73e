//! Agreements (SLA, OLA, UC) and suppliers.

use std::collections::HashMap;

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::sla::agreement::{Agreement, AgreementSpec, Kind};
use varde_domain::DomainError;

use crate::audit::{self, Entity};
use crate::idempotency::{self, IdempotencyKey};
use crate::sql::{exists, json_param, json_rows, versioned, JsonCol};
use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Supplier {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SupplierInput {
    pub name: String,
}

#[derive(FromRow)]
struct AgreementRow {
    id: i64,
    version: i64,
    spec: String,
}

fn parse(r: AgreementRow) -> Result<Agreement, StoreError> {
    let spec: AgreementSpec =
        serde_json::from_str(&r.spec).map_err(|e| StoreError::corrupt(format!("agreement {}: {e}", r.id)))?;
    Ok(Agreement { id: r.id, version: r.version, spec })
}

/// Every active agreement, in id order: what clock evaluation plans from.
pub(crate) async fn active_in(conn: &mut AnyConnection) -> Result<Vec<Agreement>, StoreError> {
    let rows: Vec<AgreementRow> =
        sqlx::query_as("SELECT id, version, spec FROM slas WHERE active = 1 ORDER BY id").fetch_all(conn).await?;
    rows.into_iter().map(parse).collect()
}

pub(crate) async fn agreement_in(conn: &mut AnyConnection, id: i64) -> Result<Agreement, StoreError> {
    let row: AgreementRow = sqlx::query_as("SELECT id, version, spec FROM slas WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    parse(row)
}

/// Records which calendars the agreement's targets use.
async fn link_calendars(conn: &mut AnyConnection, id: i64, spec: &AgreementSpec) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sla_calendars WHERE sla_id = $1").bind(id).execute(&mut *conn).await?;
    let mut ids: Vec<i64> = spec.targets.iter().filter_map(|t| t.calendar_id).collect();
    ids.sort_unstable();
    ids.dedup();
    for c in ids {
        sqlx::query("INSERT INTO sla_calendars (sla_id, calendar_id) VALUES ($1, $2)")
            .bind(id)
            .bind(c)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Checks what only the database can: that every referenced row exists.
async fn check_references(conn: &mut AnyConnection, spec: &AgreementSpec) -> Result<(), StoreError> {
    if let Some(o) = spec.customer_organisation_id {
        if !exists(conn, "organisations", o).await? {
            return Err(StoreError::UnknownReference { field: "customer_organisation_id" });
        }
    }
    for o in &spec.conditions.organisations {
        if !exists(conn, "organisations", *o).await? {
            return Err(StoreError::UnknownReference { field: "conditions.organisations" });
        }
    }
    for s in &spec.service_ids {
        if !exists(conn, "services", *s).await? {
            return Err(StoreError::UnknownReference { field: "service_ids" });
        }
    }
    for s in &spec.conditions.services {
        if !exists(conn, "services", *s).await? {
            return Err(StoreError::UnknownReference { field: "conditions.services" });
        }
    }
    if let Some(g) = spec.group_id {
        if !exists(conn, "assignment_groups", g).await? {
            return Err(StoreError::UnknownReference { field: "group_id" });
        }
    }
    if let Some(s) = spec.supplier_id {
        if !exists(conn, "suppliers", s).await? {
            return Err(StoreError::UnknownReference { field: "supplier_id" });
        }
    }
    // Which target refers to nothing, by its place, as the spec's own
    // checks name them (`targets[0].minutes`).
    let nothing = |i: usize, field: &str| -> StoreError {
        DomainError::field(format!("targets[{i}].{field}"), "refers to nothing that exists").into()
    };
    for (i, t) in spec.targets.iter().enumerate() {
        if let Some(c) = t.calendar_id {
            if !super::worktime::exists_in(conn, c).await? {
                return Err(nothing(i, "calendar_id"));
            }
        }
        if let Some(s) = t.service_id {
            if !exists(conn, "services", s).await? {
                return Err(nothing(i, "service_id"));
            }
        }
        if let Some(c) = t.category_id {
            if !exists(conn, "categories", c).await? {
                return Err(nothing(i, "category_id"));
            }
        }
    }
    for th in &spec.thresholds {
        for a in &th.actions {
            if let varde_domain::sla::agreement::Action::Reassign { group_id } = a {
                if !exists(conn, "assignment_groups", *group_id).await? {
                    return Err(StoreError::UnknownReference { field: "thresholds.actions.group_id" });
                }
            }
        }
    }
    Ok(())
}

impl Store {
    pub async fn create_agreement(&self, spec: AgreementSpec, actor: i64) -> Result<Agreement, StoreError> {
        Ok(self.create_agreement_once(spec, actor, None).await?.0)
    }

    /// [`Store::create_agreement`] under an `Idempotency-Key`: a retry
    /// returns what the first request made (and `true`).
    pub async fn create_agreement_once(
        &self,
        mut spec: AgreementSpec,
        actor: i64,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Agreement, bool), StoreError> {
        spec.normalise();
        spec.validate()?;
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        return Ok((agreement_in(conn, id).await?, true));
                    }
                }
                check_references(conn, &spec).await?;
                let now = now_micros();
                let json = serde_json::to_string(&spec).map_err(|e| StoreError::Database(e.to_string()))?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO slas (name, kind, active, spec, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
                )
                .bind(spec.name.trim())
                .bind(spec.kind.as_str())
                .bind(spec.active as i64)
                .bind(&json)
                .bind(now)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                link_calendars(conn, id, &spec).await?;
                audit::created(conn, Entity::Configuration, id, Some(actor), now).await?;
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                Ok((Agreement { id, version: 1, spec }, false))
            }
            .boxed()
        })
        .await
    }

    /// Replaces an agreement's spec. Open clocks under it pick up its new
    /// targets, thresholds and calendars through the recompute job queued
    /// here, in the same transaction. Records it comes to cover get its
    /// clocks when they are next written (ADR 0009).
    pub async fn update_agreement(
        &self,
        id: i64,
        expected_version: Option<i64>,
        mut spec: AgreementSpec,
        actor: i64,
    ) -> Result<Agreement, StoreError> {
        spec.normalise();
        spec.validate()?;
        self.write(move |conn| {
            async move {
                let old = agreement_in(conn, id).await?;
                if expected_version.is_some_and(|v| v != old.version) {
                    return Err(StoreError::Conflict { current: old.version });
                }
                if old.spec.kind != spec.kind {
                    return Err(DomainError::field("kind", "cannot change: create a new agreement instead").into());
                }
                check_references(conn, &spec).await?;
                let now = now_micros();
                let json = serde_json::to_string(&spec).map_err(|e| StoreError::Database(e.to_string()))?;
                let n = sqlx::query(
                    "UPDATE slas SET name = $1, active = $2, spec = $3, version = version + 1, updated_at = $4
                     WHERE id = $5 AND version = $6",
                )
                .bind(spec.name.trim())
                .bind(spec.active as i64)
                .bind(&json)
                .bind(now)
                .bind(id)
                .bind(old.version)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?
                .rows_affected();
                versioned(n, old.version)?;
                link_calendars(conn, id, &spec).await?;
                let old_json = serde_json::to_string(&old.spec).unwrap_or_default();
                audit::write(conn, Entity::Configuration, id, Some(actor), now, "sla", Some(&old_json), Some(&json))
                    .await?;
                super::timers::queue_recompute_in(conn, &format!("agreement:{id}"), now).await?;
                Ok(Agreement { id, version: old.version + 1, spec })
            }
            .boxed()
        })
        .await
    }

    pub async fn agreement(&self, id: i64) -> Result<Agreement, StoreError> {
        let mut conn = self.pool().acquire().await?;
        agreement_in(&mut conn, id).await
    }

    /// Those of these agreements that exist, by id, in one read.
    pub async fn agreements_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, Agreement>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let v = json_rows(self.engine(), 1, &[("id", JsonCol::Int)]);
        let rows: Vec<AgreementRow> =
            sqlx::query_as(&format!("SELECT id, version, spec FROM slas WHERE id IN (SELECT id FROM {v} AS v)"))
                .bind(json_param(&ids.iter().map(|id| (*id,)).collect::<Vec<_>>()))
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(|r| parse(r).map(|a| (a.id, a))).collect()
    }

    /// Agreements in id order after `after`, optionally of one kind.
    pub async fn agreements(&self, kind: Option<Kind>, after: i64, limit: i64) -> Result<Vec<Agreement>, StoreError> {
        let rows: Vec<AgreementRow> = match kind {
            Some(k) => {
                sqlx::query_as("SELECT id, version, spec FROM slas WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(k.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query_as("SELECT id, version, spec FROM slas WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.into_iter().map(parse).collect()
    }

    pub async fn create_supplier(&self, input: SupplierInput) -> Result<Supplier, StoreError> {
        Ok(self.create_supplier_once(input, None).await?.0)
    }

    /// [`Store::create_supplier`] under an `Idempotency-Key`: a retry returns
    /// what the first request made (and `true`).
    pub async fn create_supplier_once(
        &self,
        input: SupplierInput,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Supplier, bool), StoreError> {
        let name = varde_domain::text::line("name", &input.name, 200)?;
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        let made = sqlx::query_as("SELECT id, name, created_at FROM suppliers WHERE id = $1")
                            .bind(id)
                            .fetch_one(&mut *conn)
                            .await?;
                        return Ok((made, true));
                    }
                }
                let now = now_micros();
                let id: i64 =
                    sqlx::query_scalar("INSERT INTO suppliers (name, created_at) VALUES ($1, $2) RETURNING id")
                        .bind(&name)
                        .bind(now)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(|e| StoreError::unique(e, "name"))?;
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                Ok((Supplier { id, name, created_at: now }, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn suppliers(&self) -> Result<Vec<Supplier>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, created_at FROM suppliers ORDER BY name").fetch_all(self.pool()).await?)
    }
}
