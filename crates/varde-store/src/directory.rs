//! People and access: users, organisations, assignment groups, sessions and
//! API tokens.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::access::Role;

use crate::audit::{self, Entity};
use crate::sql::{exists, found, insert_pair};
use crate::{now_micros, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organisation_id: Option<i64>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    organisation_id: Option<i64>,
    active: i64,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

/// How a name is matched in searches: the same case folding as the query's.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

const USER_COLUMNS: &str = "id, email, name, role, organisation_id, active, created_at, updated_at, version";

/// The user columns qualified by a table alias, for joins.
fn prefixed(alias: &str) -> String {
    USER_COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User, StoreError> {
        Ok(User {
            role: Role::parse("role", &r.role).map_err(|_| StoreError::corrupt(format!("role of user {}", r.id)))?,
            id: r.id,
            email: r.email,
            name: r.name,
            organisation_id: r.organisation_id,
            active: r.active != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organisation_id: Option<i64>,
    pub password_hash: Option<String>,
}

/// The changeable fields of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub organisation_id: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Who SLA escalations addressed to "the manager" reach.
    pub manager_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

async fn org_exists(conn: &mut AnyConnection, id: Option<i64>) -> Result<(), StoreError> {
    match id {
        Some(id) if !exists(conn, "organisations", id).await? => {
            Err(StoreError::UnknownReference { field: "organisation_id" })
        }
        _ => Ok(()),
    }
}

pub(crate) async fn user_in(conn: &mut AnyConnection, id: i64) -> Result<User, StoreError> {
    sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

impl Store {
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.pool()).await?)
    }

    pub async fn create_user(&self, new: NewUser, actor: Option<i64>) -> Result<User, StoreError> {
        self.write(move |conn| {
            async move {
                org_exists(conn, new.organisation_id).await?;
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (email, name, name_key, role, organisation_id, password_hash, active, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, 1) RETURNING id",
                )
                .bind(&new.email)
                .bind(&new.name)
                .bind(name_key(&new.name))
                .bind(new.role.as_str())
                .bind(new.organisation_id)
                .bind(new.password_hash.as_deref())
                .bind(now)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "email"))?;
                audit::created(conn, Entity::User, id, actor, now).await?;
                user_in(conn, id).await
            }
            .boxed()
        })
        .await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        let mut conn = self.pool().acquire().await?;
        user_in(&mut conn, id).await
    }

    /// The names of those of these users that exist, by id, in one read.
    pub async fn user_names(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let v = crate::sql::json_rows(self.engine(), 1, &[("id", crate::sql::JsonCol::Int)]);
        let rows: Vec<(i64, String)> =
            sqlx::query_as(&format!("SELECT id, name FROM users WHERE id IN (SELECT id FROM {v} AS v)"))
                .bind(crate::sql::json_param(&ids.iter().map(|id| (*id,)).collect::<Vec<_>>()))
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// The user and their password hash, for logging in.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<(User, Option<String>)>, StoreError> {
        let row = sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(row.id)
            .fetch_one(self.pool())
            .await?;
        Ok(Some((row.try_into()?, hash)))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// Users ordered by id, after `after`, optionally by a name or e-mail prefix.
    /// Folds the names of users stored before `name_key` existed (see
    /// migration 2). Cheap when there are none.
    pub(crate) async fn fold_user_names(&self) -> Result<(), StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM users WHERE name_key = ''").fetch_all(self.pool()).await?;
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            async move {
                for (id, name) in rows {
                    sqlx::query("UPDATE users SET name_key = $1 WHERE id = $2")
                        .bind(name_key(&name))
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn list_users(&self, after: i64, limit: i64, prefix: Option<&str>) -> Result<Vec<User>, StoreError> {
        let rows = match prefix {
            Some(p) => {
                // Prefix ranges use the unique indexes; no scan with LIKE '%..%'.
                let lo = p.to_lowercase();
                let hi = format!("{lo}\u{10FFFF}");
                sqlx::query_as::<_, UserRow>(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id > $1 AND ((email >= $2 AND email < $3) OR (name_key >= $2 AND name_key < $3)) ORDER BY id LIMIT $4"
                ))
                .bind(after)
                .bind(lo)
                .bind(hi)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query_as::<_, UserRow>(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.into_iter().map(User::try_from).collect()
    }

    pub async fn update_user(
        &self,
        id: i64,
        expected_version: Option<i64>,
        changes: UserChanges,
        actor: i64,
    ) -> Result<User, StoreError> {
        self.write(move |conn| {
            async move {
                let old = user_in(conn, id).await?;
                if let Some(v) = expected_version {
                    if v != old.version {
                        return Err(StoreError::Conflict { current: old.version });
                    }
                }
                let mut new = old.clone();
                if let Some(n) = changes.name {
                    new.name = n;
                }
                if let Some(r) = changes.role {
                    new.role = r;
                }
                if let Some(a) = changes.active {
                    new.active = a;
                }
                if let Some(o) = changes.organisation_id {
                    org_exists(conn, o).await?;
                    new.organisation_id = o;
                }
                let mut cs = varde_domain::record::ChangeSet::default();
                cs.record("name", &Some(&old.name), &Some(&new.name));
                cs.record("role", &Some(old.role.as_str()), &Some(new.role.as_str()));
                cs.record("active", &Some(old.active), &Some(new.active));
                cs.record("organisation_id", &old.organisation_id, &new.organisation_id);
                if cs.is_empty() {
                    return Ok(old);
                }
                let now = now_micros();
                sqlx::query(
                    "UPDATE users SET name = $1, name_key = $2, role = $3, active = $4, organisation_id = $5, updated_at = $6, version = version + 1 WHERE id = $7",
                )
                .bind(&new.name)
                .bind(name_key(&new.name))
                .bind(new.role.as_str())
                .bind(new.active as i64)
                .bind(new.organisation_id)
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                if !new.active {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *conn).await?;
                }
                audit::changes(conn, Entity::User, id, Some(actor), now, &cs).await?;
                user_in(conn, id).await
            }
            .boxed()
        })
        .await
    }

    /// Sets a new password hash and ends the user's other sessions.
    pub async fn set_password(
        &self,
        user_id: i64,
        hash: String,
        keep_session: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let n = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(&hash)
                    .bind(now_micros())
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(user_id)
                    .bind(keep_session.unwrap_or_default())
                    .execute(&mut *conn)
                    .await?;
                audit::write(
                    conn,
                    Entity::User,
                    user_id,
                    Some(user_id),
                    now_micros(),
                    "password",
                    None,
                    Some("changed"),
                )
                .await
            }
            .boxed()
        })
        .await
    }

    // --- organisations ---

    pub async fn create_organisation(&self, name: String, parent_id: Option<i64>) -> Result<Organisation, StoreError> {
        self.write(move |conn| {
            async move {
                org_exists(conn, parent_id).await.map_err(|_| StoreError::UnknownReference { field: "parent_id" })?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organisations (name, parent_id, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(&name)
                .bind(parent_id)
                .bind(now_micros())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                Ok(Organisation { id, name, parent_id })
            }
            .boxed()
        })
        .await
    }

    pub async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, parent_id FROM organisations ORDER BY name").fetch_all(self.pool()).await?)
    }

    // --- assignment groups ---

    pub async fn create_group(&self, name: String, description: String) -> Result<Group, StoreError> {
        self.write(move |conn| {
            async move {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO assignment_groups (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(&name)
                .bind(&description)
                .bind(now_micros())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| StoreError::unique(e, "name"))?;
                Ok(Group { id, name, description, manager_id: None })
            }
            .boxed()
        })
        .await
    }

    pub async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, description, manager_id FROM assignment_groups ORDER BY name")
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn group(&self, id: i64) -> Result<Group, StoreError> {
        sqlx::query_as("SELECT id, name, description, manager_id FROM assignment_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Names the group's manager, or with `None` clears it.
    pub async fn set_group_manager(&self, group_id: i64, user_id: Option<i64>) -> Result<Group, StoreError> {
        self.write(move |conn| {
            async move {
                if !exists(conn, "assignment_groups", group_id).await? {
                    return Err(StoreError::NotFound);
                }
                if let Some(u) = user_id {
                    if !exists(conn, "users", u).await? {
                        return Err(StoreError::UnknownReference { field: "user_id" });
                    }
                }
                sqlx::query("UPDATE assignment_groups SET manager_id = $1 WHERE id = $2")
                    .bind(user_id)
                    .bind(group_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await?;
        self.group(group_id).await
    }

    pub async fn add_member(&self, group_id: i64, user_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                if !exists(conn, "assignment_groups", group_id).await? {
                    return Err(StoreError::NotFound);
                }
                let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(role) = role else {
                    return Err(StoreError::UnknownReference { field: "user_id" });
                };
                // A group is who work records are assigned to: a requester
                // in one could never be assigned its work.
                if role == varde_domain::access::Role::Requester.as_str() {
                    return Err(varde_domain::DomainError::field(
                        "user_id",
                        "is a requester; only agents belong to assignment groups",
                    )
                    .into());
                }
                insert_pair(conn, "group_members", ("group_id", "user_id"), group_id, user_id).await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn remove_member(&self, group_id: i64, user_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let n = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(group_id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                found(n)
            }
            .boxed()
        })
        .await
    }

    pub async fn members(&self, group_id: i64) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.name",
            prefixed("u")
        ))
        .bind(group_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    pub async fn groups_of(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    // --- sessions ---

    pub async fn create_session(
        &self,
        token_hash: String,
        user_id: i64,
        csrf: String,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let now = now_micros();
                // Sweep this user's expired sessions while we are here.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&token_hash)
                    .bind(user_id)
                    .bind(&csrf)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// The active user of an unexpired session, and the session's CSRF token.
    /// One query: this runs on every request from a browser.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<(User, String)>, StoreError> {
        #[derive(FromRow)]
        struct S {
            #[sqlx(flatten)]
            user: UserRow,
            csrf_token: String,
        }
        let s: Option<S> = sqlx::query_as(&format!(
            "SELECT {}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
            prefixed("u")
        ))
        .bind(token_hash)
        .bind(now_micros())
        .fetch_optional(self.pool())
        .await?;
        s.map(|s| Ok((s.user.try_into()?, s.csrf_token))).transpose()
    }

    pub async fn delete_session(&self, token_hash: String) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(&token_hash).execute(&mut *conn).await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    // --- API tokens ---

    pub async fn create_token(&self, user_id: i64, name: String, token_hash: String) -> Result<ApiToken, StoreError> {
        self.write(move |conn| {
            async move {
                user_in(conn, user_id).await?;
                let now = now_micros();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(user_id)
                .bind(&name)
                .bind(&token_hash)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                audit::write(conn, Entity::User, user_id, Some(user_id), now, "api_token", None, Some(&name)).await?;
                Ok(ApiToken { id, name, created_at: now, last_used_at: None, revoked_at: None })
            }
            .boxed()
        })
        .await
    }

    /// The active user owning an unrevoked token. One query: this runs on
    /// every API request.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
            prefixed("u")
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(User::try_from).transpose()
    }

    pub async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let n = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now_micros())
                .bind(token_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                found(n)
            }
            .boxed()
        })
        .await
    }
}
