//! Users, groups, organisations, services, categories and the priority matrix.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use varde_domain::access::Permission;
use varde_store::catalog::{Category, Service};
use varde_store::directory::{ApiToken, Group, Organisation, User};

use super::incidents::parse_query;
use super::{created, etag, if_match, instant, limit, ApiJson, ApiPath, Page};
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::service::directory::{
    self as svc, ChangePassword, CreateCategory, CreateGroup, CreateOrganisation, CreateService, CreateToken,
    CreateUser, IncidentSettings, MatrixBody, UpdateUser,
};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub organisation_id: Option<i64>,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str().into(),
            organisation_id: u.organisation_id,
            active: u.active,
            version: u.version,
            created_at: instant(u.created_at),
        }
    }
}

fn user_response(status: StatusCode, u: &User) -> Response {
    let mut res = (status, Json(UserView::from(u))).into_response();
    res.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag(u.version)).expect("ascii"));
    res
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// A prefix of the e-mail address or name.
    pub q: Option<String>,
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "directory", params(UserQuery), responses((status = 200, body = Page<UserView>)))]
pub async fn list_users(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<UserView>>, AppError> {
    let q: UserQuery = parse_query(raw.as_deref())?;
    let lim = limit(q.limit.as_deref())?;
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c.parse().map_err(|_| AppError::field("cursor", "is not a cursor this server gave"))?,
    };
    let users = svc::list_users(&st.store, &caller, after, lim, q.q.as_deref().filter(|s| !s.is_empty())).await?;
    let next = (users.len() as i64 == lim).then(|| users.last().map(|u| u.id.to_string())).flatten();
    Ok(Json(Page { items: users.iter().map(UserView::from).collect(), next_cursor: next }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "directory", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateUser>,
) -> Result<Response, AppError> {
    let u = svc::create_user(&st.store, Some(&caller), body.value).await?;
    let mut res = user_response(StatusCode::CREATED, &u);
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&format!("/api/v1/users/{}", u.id)).expect("ascii"));
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "directory", responses((status = 200, body = UserView)))]
pub async fn me(caller: Caller) -> Response {
    user_response(StatusCode::OK, &caller.user)
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "directory", params(("id" = i64, Path)), responses((status = 200, body = UserView)))]
pub async fn read_user(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    Ok(user_response(StatusCode::OK, &svc::get_user(&st.store, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "directory", params(("id" = i64, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 412, body = Problem)))]
pub async fn update_user(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: ApiJson<UpdateUser>,
) -> Result<Response, AppError> {
    let u = svc::update_user(&st.store, &caller, id, if_match(&headers)?, body.value).await?;
    Ok(user_response(StatusCode::OK, &u))
}

#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "directory", request_body = ChangePassword,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    svc::change_password(&st.store, &caller, body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub revoked: bool,
    /// The secret, shown only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl TokenView {
    fn new(t: &ApiToken, secret: Option<String>) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            created_at: instant(t.created_at),
            revoked: t.revoked_at.is_some(),
            token: secret,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/users/me/tokens", tag = "directory", responses((status = 200, body = Vec<TokenView>)))]
pub async fn tokens(State(st): State<AppState>, caller: Caller) -> Result<Json<Vec<TokenView>>, AppError> {
    Ok(Json(st.store.tokens_of(caller.id()).await?.iter().map(|t| TokenView::new(t, None)).collect()))
}

#[utoipa::path(post, path = "/api/v1/users/me/tokens", tag = "directory", request_body = CreateToken,
    responses((status = 201, body = TokenView)))]
pub async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateToken>,
) -> Result<Response, AppError> {
    let (t, secret) = svc::create_token(&st.store, caller.id(), &body.value.name).await?;
    Ok(created(format!("/api/v1/users/me/tokens/{}", t.id), TokenView::new(&t, Some(secret))))
}

#[utoipa::path(delete, path = "/api/v1/users/me/tokens/{id}", tag = "directory", params(("id" = i64, Path)), responses((status = 204)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.store.revoke_token(caller.id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "directory", responses((status = 200, body = Vec<Group>)))]
pub async fn groups(State(st): State<AppState>, caller: Caller) -> Result<Json<Vec<Group>>, AppError> {
    caller.require(Permission::ReadDirectory)?;
    Ok(Json(st.store.groups().await?))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "directory", request_body = CreateGroup, responses((status = 201, body = Group)))]
pub async fn create_group(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateGroup>,
) -> Result<Response, AppError> {
    let g = svc::create_group(&st.store, &caller, body.value).await?;
    Ok(created(format!("/api/v1/groups/{}", g.id), g))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "directory", params(("id" = i64, Path)), responses((status = 200, body = Group)))]
pub async fn read_group(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Group>, AppError> {
    caller.require(Permission::ReadDirectory)?;
    Ok(Json(st.store.group(id).await?))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "directory", params(("id" = i64, Path)), responses((status = 200, body = Vec<UserView>)))]
pub async fn members(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<UserView>>, AppError> {
    caller.require(Permission::ReadDirectory)?;
    st.store.group(id).await?;
    Ok(Json(st.store.members(id).await?.iter().map(UserView::from).collect()))
}

#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user_id}", tag = "directory", params(("id" = i64, Path), ("user_id" = i64, Path)), responses((status = 204)))]
pub async fn add_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((g, u)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    svc::add_member(&st.store, &caller, g, u).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupManager {
    /// The manager's user id; null clears it.
    pub user_id: Option<i64>,
}

#[utoipa::path(put, path = "/api/v1/groups/{id}/manager", tag = "directory", params(("id" = i64, Path)),
    request_body = GroupManager, responses((status = 200, body = Group), (status = 422, body = Problem)))]
pub async fn set_manager(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(g): ApiPath<i64>,
    body: ApiJson<GroupManager>,
) -> Result<Json<Group>, AppError> {
    Ok(Json(svc::set_group_manager(&st.store, &caller, g, body.value.user_id).await?))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "directory", params(("id" = i64, Path), ("user_id" = i64, Path)), responses((status = 204)))]
pub async fn remove_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((g, u)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    svc::remove_member(&st.store, &caller, g, u).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/organisations", tag = "directory", responses((status = 200, body = Vec<Organisation>)))]
pub async fn organisations(State(st): State<AppState>, caller: Caller) -> Result<Json<Vec<Organisation>>, AppError> {
    caller.require(Permission::ReadDirectory)?;
    Ok(Json(st.store.organisations().await?))
}

#[utoipa::path(post, path = "/api/v1/organisations", tag = "directory", request_body = CreateOrganisation, responses((status = 201, body = Organisation)))]
pub async fn create_organisation(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateOrganisation>,
) -> Result<(StatusCode, Json<Organisation>), AppError> {
    Ok((StatusCode::CREATED, Json(svc::create_organisation(&st.store, &caller, body.value).await?)))
}

#[utoipa::path(get, path = "/api/v1/services", tag = "configuration", responses((status = 200, body = Vec<Service>)))]
pub async fn services(State(st): State<AppState>, _caller: Caller) -> Result<Json<Vec<Service>>, AppError> {
    Ok(Json(st.store.services().await?))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "configuration", request_body = CreateService, responses((status = 201, body = Service)))]
pub async fn create_service(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateService>,
) -> Result<(StatusCode, Json<Service>), AppError> {
    Ok((StatusCode::CREATED, Json(svc::create_service(&st.store, &caller, body.value).await?)))
}

#[utoipa::path(get, path = "/api/v1/categories", tag = "configuration", responses((status = 200, body = Vec<Category>)))]
pub async fn categories(State(st): State<AppState>, _caller: Caller) -> Result<Json<Vec<Category>>, AppError> {
    Ok(Json(st.store.categories().await?))
}

#[utoipa::path(post, path = "/api/v1/categories", tag = "configuration", request_body = CreateCategory, responses((status = 201, body = Category)))]
pub async fn create_category(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateCategory>,
) -> Result<(StatusCode, Json<Category>), AppError> {
    Ok((StatusCode::CREATED, Json(svc::create_category(&st.store, &caller, body.value).await?)))
}

#[utoipa::path(get, path = "/api/v1/priority-matrix", tag = "configuration", responses((status = 200, body = MatrixBody)))]
pub async fn matrix(State(st): State<AppState>, _caller: Caller) -> Result<Json<MatrixBody>, AppError> {
    Ok(Json(MatrixBody { cells: st.store.priority_matrix().await?.cells() }))
}

#[utoipa::path(put, path = "/api/v1/priority-matrix", tag = "configuration", request_body = MatrixBody,
    responses((status = 200, body = MatrixBody), (status = 422, body = Problem)))]
pub async fn set_matrix(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<MatrixBody>,
) -> Result<Json<MatrixBody>, AppError> {
    let m = svc::set_matrix(&st.store, &caller, body.value).await?;
    Ok(Json(MatrixBody { cells: m.cells() }))
}

#[utoipa::path(get, path = "/api/v1/settings/incidents", tag = "configuration", responses((status = 200, body = IncidentSettings)))]
pub async fn incident_settings(
    State(st): State<AppState>,
    _caller: Caller,
) -> Result<Json<IncidentSettings>, AppError> {
    Ok(Json(svc::incident_settings(&st.store).await?))
}

#[utoipa::path(put, path = "/api/v1/settings/incidents", tag = "configuration", request_body = IncidentSettings,
    responses((status = 200, body = IncidentSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_incident_settings(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<IncidentSettings>,
) -> Result<Json<IncidentSettings>, AppError> {
    Ok(Json(svc::set_incident_settings(&st.store, &caller, body.value).await?))
}
