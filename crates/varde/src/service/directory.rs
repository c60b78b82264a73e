//! The directory and configuration as callers see them: users, groups,
//! organisations, services, categories, the priority matrix and API tokens.

use serde::Deserialize;
use varde_domain::access::{Permission, Role};
use varde_domain::error::Problems;
use varde_domain::priority::PriorityMatrix;
use varde_domain::text;
use varde_store::catalog::{Category, Service};
use varde_store::directory::{ApiToken, Group, NewUser, Organisation, User, UserChanges};
use varde_store::Store;

use crate::auth::{self, Caller};
use crate::error::AppError;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    /// requester, agent or admin.
    pub role: String,
    #[serde(default)]
    pub organisation_id: Option<i64>,
    /// Optional: a user without a password cannot log in until given one.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "super::not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub organisation_id: Option<Option<i64>>,
}

/// Creates a user. `caller` is `None` for the operator's command line.
pub async fn create_user(store: &Store, caller: Option<&Caller>, input: CreateUser) -> Result<User, AppError> {
    if let Some(c) = caller {
        c.require(Permission::ManageUsers)?;
    }
    let mut p = Problems::new();
    let email = p.check(text::email("email", &input.email));
    let name = p.check(text::line("name", &input.name, text::NAME_MAX));
    let role = p.check(Role::parse("role", &input.role));
    if let Some(pw) = &input.password {
        p.check(text::password("password", pw));
    }
    p.into_result()?;
    let (Some(email), Some(name), Some(role)) = (email, name, role) else { unreachable!() };
    let password_hash = match input.password {
        Some(pw) => Some(auth::hash_password(pw).await?),
        None => None,
    };
    let new = NewUser { email, name, role, organisation_id: input.organisation_id, password_hash };
    Ok(store.create_user(new, caller.map(Caller::id)).await?)
}

pub async fn update_user(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected_version: Option<i64>,
    input: UpdateUser,
) -> Result<User, AppError> {
    caller.require(Permission::ManageUsers)?;
    let mut p = Problems::new();
    let name = input.name.as_deref().and_then(|n| p.check(text::line("name", n, text::NAME_MAX)));
    let role = input.role.as_deref().and_then(|r| p.check(Role::parse("role", r)));
    if id == caller.id() && (role.is_some_and(|r| r != Role::Admin) || input.active == Some(false)) {
        p.push("role", "you cannot demote or deactivate yourself; ask another administrator");
    }
    p.into_result()?;
    let changes = UserChanges { name, role, active: input.active, organisation_id: input.organisation_id };
    Ok(store.update_user(id, expected_version, changes, caller.id()).await?)
}

pub async fn get_user(store: &Store, caller: &Caller, id: i64) -> Result<User, AppError> {
    if id != caller.id() {
        caller.require(Permission::ReadDirectory)?;
    }
    Ok(store.user(id).await?)
}

pub async fn list_users(
    store: &Store,
    caller: &Caller,
    after: i64,
    limit: i64,
    q: Option<&str>,
) -> Result<Vec<User>, AppError> {
    caller.require(Permission::ReadDirectory)?;
    Ok(store.list_users(after, limit, q).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

pub async fn change_password(store: &Store, caller: &Caller, input: ChangePassword) -> Result<(), AppError> {
    text::password("new_password", &input.new_password)?;
    let (_, hash) = store.user_for_login(&caller.user.email).await?.ok_or(AppError::NotFound)?;
    if !auth::verify_password(hash, input.current_password).await {
        return Err(AppError::field("current_password", "is wrong"));
    }
    let hash = auth::hash_password(input.new_password).await?;
    let keep = match &caller.via {
        auth::Via::Session { token_hash, .. } => Some(token_hash.clone()),
        auth::Via::Token => None,
    };
    Ok(store.set_password(caller.id(), hash, keep).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
}

/// Makes an API token and returns it once, in clear; only its hash is kept.
pub async fn create_token(store: &Store, user_id: i64, name: &str) -> Result<(ApiToken, String), AppError> {
    let name = text::line("name", name, text::NAME_MAX)?;
    let secret = format!("vt_{}", auth::random_token());
    let token = store.create_token(user_id, name, auth::token_hash(&secret)).await?;
    Ok((token, secret))
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create_group(store: &Store, caller: &Caller, input: CreateGroup) -> Result<Group, AppError> {
    caller.require(Permission::ManageUsers)?;
    let mut p = Problems::new();
    let name = p.check(text::line("name", &input.name, text::NAME_MAX));
    let description = p.check(text::body("description", &input.description, 2000));
    p.into_result()?;
    Ok(store.create_group(name.unwrap_or_default(), description.unwrap_or_default()).await?)
}

pub async fn add_member(store: &Store, caller: &Caller, group: i64, user: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageUsers)?;
    Ok(store.add_member(group, user).await?)
}

pub async fn set_group_manager(
    store: &Store,
    caller: &Caller,
    group: i64,
    user: Option<i64>,
) -> Result<Group, AppError> {
    caller.require(Permission::ManageUsers)?;
    if let Some(id) = user {
        // The manager is told on the desk when the group's service levels
        // are at risk: a requester or a deactivated account would not be.
        match store.user(id).await {
            Ok(u) if u.active && u.role != Role::Requester => {}
            Ok(_) => return Err(AppError::field("user_id", "must be an active member of staff")),
            Err(varde_store::StoreError::NotFound) => return Err(AppError::field("user_id", "is not a user")),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(store.set_group_manager(group, user).await?)
}

pub async fn remove_member(store: &Store, caller: &Caller, group: i64, user: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageUsers)?;
    Ok(store.remove_member(group, user).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganisation {
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<i64>,
}

pub async fn create_organisation(
    store: &Store,
    caller: &Caller,
    input: CreateOrganisation,
) -> Result<Organisation, AppError> {
    caller.require(Permission::ManageUsers)?;
    let name = text::line("name", &input.name, text::NAME_MAX)?;
    Ok(store.create_organisation(name, input.parent_id).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create_service(store: &Store, caller: &Caller, input: CreateService) -> Result<Service, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    let mut p = Problems::new();
    let name = p.check(text::line("name", &input.name, text::NAME_MAX));
    let description = p.check(text::body("description", &input.description, 4000));
    p.into_result()?;
    Ok(store.create_service(name.unwrap_or_default(), description.unwrap_or_default()).await?)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    pub name: String,
    /// The parent category; absent for a top-level one.
    #[serde(default)]
    pub parent_id: Option<i64>,
}

pub async fn create_category(store: &Store, caller: &Caller, input: CreateCategory) -> Result<Category, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    let name = text::line("name", &input.name, text::NAME_MAX)?;
    Ok(store.create_category(input.parent_id.unwrap_or(0), name).await?)
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixBody {
    /// cells[impact-1][urgency-1] = priority (1..5), impact and urgency from high to low.
    pub cells: [[i64; 3]; 3],
}

pub async fn set_matrix(store: &Store, caller: &Caller, input: MatrixBody) -> Result<PriorityMatrix, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    let m = PriorityMatrix::from_cells(input.cells)?;
    store.set_priority_matrix(m.clone(), caller.id()).await?;
    Ok(m)
}

/// How the desk runs incidents.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    /// Days a resolved incident waits for its requester to confirm or
    /// reopen before it closes itself (0 to 365).
    pub auto_close_days: i64,
}

pub const AUTO_CLOSE_DAYS_DEFAULT: i64 = 5;

pub async fn incident_settings(store: &Store) -> Result<IncidentSettings, AppError> {
    let days = store.setting("auto_close_days").await?.and_then(|d| d.parse().ok()).unwrap_or(AUTO_CLOSE_DAYS_DEFAULT);
    Ok(IncidentSettings { auto_close_days: days })
}

/// Changes the settings. A new auto-close period applies to incidents
/// resolved from now on; timers already running keep the period they had.
pub async fn set_incident_settings(
    store: &Store,
    caller: &Caller,
    input: IncidentSettings,
) -> Result<IncidentSettings, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    if !(0..=365).contains(&input.auto_close_days) {
        return Err(AppError::field("auto_close_days", "must be a whole number of days from 0 to 365"));
    }
    store.set_setting("auto_close_days".into(), input.auto_close_days.to_string(), caller.id()).await?;
    Ok(input)
}
