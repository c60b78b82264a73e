//! Business calendars: a name and the domain's `CalendarSpec`, kept whole as JSON.
//!
//! The store does not judge a spec (the service compiles it with the domain before any write);
//! it keeps calendars versioned for If-Match, audits every change, and refuses to delete a
//! calendar that something still refers to.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::record::ChangeSet;
use varde_domain::sla::calendar::CalendarSpec;

use crate::audit::{self, Entity};
use crate::idempotency::{self, IdempotencyKey};
use crate::{now_micros, Store, StoreError};

/// Tables and columns that refer to a calendar by id. A calendar named in any of them cannot be
/// deleted (409). Migrations that add such references (agreement targets) add a line here.
pub const CALENDAR_REFERENCES: &[(&str, &str)] = &[("sla_calendars", "calendar_id"), ("sla_clocks", "calendar_id")];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalendarRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub spec: CalendarSpec,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a caller sets on a calendar; always the whole of it (a merge patch is applied by the
/// service before it reaches the store).
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarFields {
    pub name: String,
    pub description: String,
    pub spec: CalendarSpec,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    name: String,
    description: String,
    spec: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_record(self) -> Result<CalendarRecord, StoreError> {
        let spec =
            serde_json::from_str(&self.spec).map_err(|e| StoreError::corrupt(format!("calendar {}: {e}", self.id)))?;
        Ok(CalendarRecord {
            id: self.id,
            name: self.name,
            description: self.description,
            spec,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Escapes LIKE's wildcards with `!` (the same on both engines, unlike a backslash).
fn like_escape(s: &str) -> String {
    s.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}

const COLUMNS: &str = "id, name, description, spec, version, created_at, updated_at";

fn spec_json(spec: &CalendarSpec) -> String {
    serde_json::to_string(spec).expect("a calendar spec serialises")
}

async fn calendar_in(conn: &mut AnyConnection, id: i64) -> Result<CalendarRecord, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM calendars WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.ok_or(StoreError::NotFound)?.into_record()
}

impl Store {
    pub async fn create_calendar(&self, new: CalendarFields, actor: Option<i64>) -> Result<CalendarRecord, StoreError> {
        Ok(self.create_calendar_once(new, actor, None).await?.0)
    }

    /// [`Store::create_calendar`] under an `Idempotency-Key`: a retry returns
    /// what the first request made (and `true`).
    pub async fn create_calendar_once(
        &self,
        new: CalendarFields,
        actor: Option<i64>,
        idem: Option<IdempotencyKey>,
    ) -> Result<(CalendarRecord, bool), StoreError> {
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        return Ok((calendar_in(conn, id).await?, true));
                    }
                }
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO calendars (name, description, spec, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $4, 1) RETURNING id",
                )
                .bind(&new.name)
                .bind(&new.description)
                .bind(spec_json(&new.spec))
                .bind(now)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                audit::created(conn, Entity::Calendar, id, actor, now).await?;
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                Ok((calendar_in(conn, id).await?, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn calendar(&self, id: i64) -> Result<CalendarRecord, StoreError> {
        let mut conn = self.pool().acquire().await?;
        calendar_in(&mut conn, id).await
    }

    pub async fn calendar_by_name(&self, name: &str) -> Result<CalendarRecord, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM calendars WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.ok_or(StoreError::NotFound)?.into_record()
    }

    /// Calendars by id after `after`, optionally those whose name contains `q` (any case).
    pub async fn list_calendars(
        &self,
        after: i64,
        limit: i64,
        q: Option<&str>,
    ) -> Result<Vec<CalendarRecord>, StoreError> {
        let rows: Vec<Row> = match q {
            Some(q) => {
                let pattern = format!("%{}%", like_escape(&q.to_lowercase()));
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM calendars WHERE id > $1 AND LOWER(name) LIKE $2 ESCAPE '!' ORDER BY id LIMIT $3"
                ))
                .bind(after)
                .bind(pattern)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM calendars WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.into_iter().map(Row::into_record).collect()
    }

    /// Replaces a calendar's fields; `expected_version` (from If-Match) guards against lost
    /// updates. Unchanged fields write nothing and keep the version.
    pub async fn update_calendar(
        &self,
        id: i64,
        expected_version: Option<i64>,
        new: CalendarFields,
        actor: i64,
    ) -> Result<CalendarRecord, StoreError> {
        self.write(move |conn| {
            async move {
                let old = calendar_in(conn, id).await?;
                if let Some(v) = expected_version {
                    if v != old.version {
                        return Err(StoreError::Conflict { current: old.version });
                    }
                }
                let mut cs = ChangeSet::default();
                cs.record("name", &Some(&old.name), &Some(&new.name));
                cs.record("description", &Some(&old.description), &Some(&new.description));
                cs.record("spec", &Some(spec_json(&old.spec)), &Some(spec_json(&new.spec)));
                if cs.is_empty() {
                    return Ok(old);
                }
                let now = now_micros();
                sqlx::query(
                    "UPDATE calendars SET name = $1, description = $2, spec = $3, updated_at = $4, version = version + 1 WHERE id = $5",
                )
                .bind(&new.name)
                .bind(&new.description)
                .bind(spec_json(&new.spec))
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                audit::changes(conn, Entity::Calendar, id, Some(actor), now, &cs).await?;
                if cs.touches("spec") {
                    // Clocks measured on this calendar move their due instants
                    // and timers: a job, queued with the change itself.
                    crate::sla::timers::queue_recompute_in(conn, &format!("calendar:{id}"), now).await?;
                }
                calendar_in(conn, id).await
            }
            .boxed()
        })
        .await
    }

    /// Deletes a calendar nothing refers to; one still in use is refused with
    /// [`StoreError::InUse`].
    pub async fn delete_calendar(&self, id: i64, expected_version: Option<i64>, actor: i64) -> Result<(), StoreError> {
        self.delete_calendar_checking(id, expected_version, actor, CALENDAR_REFERENCES).await
    }

    pub(crate) async fn delete_calendar_checking(
        &self,
        id: i64,
        expected_version: Option<i64>,
        actor: i64,
        references: &'static [(&'static str, &'static str)],
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let old = calendar_in(conn, id).await?;
                if let Some(v) = expected_version {
                    if v != old.version {
                        return Err(StoreError::Conflict { current: old.version });
                    }
                }
                for (table, column) in references {
                    let used: Option<i64> =
                        sqlx::query_scalar(&format!("SELECT 1 FROM {table} WHERE {column} = $1 LIMIT 1"))
                            .bind(id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if used.is_some() {
                        // Said in the desk's words: the agreements by name.
                        let by = match *table {
                            "sla_calendars" => {
                                let names: Vec<String> = sqlx::query_scalar(
                                    "SELECT s.name FROM sla_calendars c JOIN slas s ON s.id = c.sla_id \
                                     WHERE c.calendar_id = $1 ORDER BY s.name",
                                )
                                .bind(id)
                                .fetch_all(&mut *conn)
                                .await?;
                                format!("the agreements {}", names.join(", "))
                            }
                            "sla_clocks" => "the clocks of records measured on it".to_string(),
                            other => other.to_string(),
                        };
                        return Err(StoreError::InUse(format!(
                            "the calendar '{}' is used by {by}; point those at another calendar first",
                            old.name
                        )));
                    }
                }
                sqlx::query("DELETE FROM calendars WHERE id = $1").bind(id).execute(&mut *conn).await?;
                audit::write(conn, Entity::Calendar, id, Some(actor), now_micros(), "deleted", Some(&old.name), None)
                    .await
            }
            .boxed()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::databases;

    #[tokio::test]
    async fn a_calendar_in_use_is_not_deleted() {
        for db in databases().await {
            let s = &db.store;
            let c = s.calendar_by_name("24x7").await.unwrap();
            sqlx::query("CREATE TABLE calendar_users_test (calendar_id BIGINT NOT NULL)")
                .execute(s.pool())
                .await
                .unwrap();
            sqlx::query("INSERT INTO calendar_users_test (calendar_id) VALUES ($1)")
                .bind(c.id)
                .execute(s.pool())
                .await
                .unwrap();
            const REFS: &[(&str, &str)] = &[("calendar_users_test", "calendar_id")];
            let r = s.delete_calendar_checking(c.id, None, 0, REFS).await;
            assert!(matches!(r, Err(StoreError::InUse(ref m)) if m.contains("24x7")), "{}: {r:?}", db.engine);
            assert_eq!(s.calendar(c.id).await.unwrap(), c);
            sqlx::query("DELETE FROM calendar_users_test").execute(s.pool()).await.unwrap();
            s.delete_calendar_checking(c.id, None, 0, REFS).await.unwrap();
            assert!(matches!(s.calendar(c.id).await, Err(StoreError::NotFound)));
        }
    }
}
