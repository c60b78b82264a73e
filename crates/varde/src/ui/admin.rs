//! The administrator's area: users, groups and their members, the category
//! tree, services and the priority matrix. Every change goes through
//! `service::directory`, which checks the administrator's rights again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use varde_domain::access::{Permission, Role};
use varde_store::catalog::Service;
use varde_store::directory::{Group, User};

use super::incident::category_paths;
use super::web::{num, opt_id, render_status, see_other, Chrome, Errors, Form, Viewer};
use crate::error::AppError;
use crate::service::directory::{
    self as dir, CreateCategory, CreateGroup, CreateService, CreateUser, IncidentSettings, MatrixBody, UpdateUser,
};
use crate::state::AppState;

pub struct GroupView {
    pub group: Group,
    pub members: Vec<User>,
}

/// One impact level's priorities, by urgency.
pub struct MatrixRow {
    pub level: i64,
    pub cells: Vec<Cell>,
}

impl MatrixRow {
    pub fn label(&self, tr: &super::i18n::Tr) -> &'static str {
        tr.level(self.level)
    }
}

pub struct Cell {
    pub name: String,
    pub value: String,
    pub error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "admin.html")]
struct AdminPage {
    p: Chrome,
    errors: Errors,
    saved: bool,
    users: Vec<User>,
    groups: Vec<GroupView>,
    categories: Vec<(i64, String)>,
    services: Vec<Service>,
    matrix: Vec<MatrixRow>,
    /// The auto-close period as shown in its field (what was typed, if refused).
    auto_close_days: String,
    /// What was typed into a form whose request was refused, by `form.field`.
    typed: Vec<(&'static str, String)>,
}

impl AdminPage {
    /// What was typed into `key` (`user.email`) of a refused form.
    fn typed(&self, key: &str) -> &str {
        self.typed.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str())
    }
    /// Every role an administrator may give, so a new role is offered here
    /// as soon as it exists in the domain.
    fn roles(&self) -> [&'static str; Role::ALL.len()] {
        Role::ALL.map(Role::as_str)
    }
    fn levels(&self) -> [i64; 3] {
        [1, 2, 3]
    }
    /// Who may be a group's manager: active staff (the manager is told on
    /// the desk when the group's service levels are at risk), and whoever
    /// is the manager now even if no longer so, so the page shows them.
    fn manager_choices(&self, current: &Option<i64>) -> Vec<&User> {
        self.users.iter().filter(|u| (u.role != Role::Requester && u.active) || Some(u.id) == *current).collect()
    }
}

fn require_admin(v: &Viewer) -> Result<(), AppError> {
    v.caller.require(Permission::ManageUsers)?;
    v.caller.require(Permission::ManageConfiguration)
}

/// The admin page; `matrix` keeps what was typed when the matrix was refused.
async fn show(
    st: &AppState,
    v: &Viewer,
    status: StatusCode,
    errors: Errors,
    saved: bool,
    matrix: Option<[[String; 3]; 3]>,
) -> Result<Response, AppError> {
    show_with(st, v, status, errors, saved, matrix, Vec::new()).await
}

async fn show_with(
    st: &AppState,
    v: &Viewer,
    status: StatusCode,
    errors: Errors,
    saved: bool,
    matrix: Option<[[String; 3]; 3]>,
    typed: Vec<(&'static str, String)>,
) -> Result<Response, AppError> {
    require_admin(v)?;
    let mut groups = Vec::new();
    for g in st.store.groups().await? {
        let members = st.store.members(g.id).await?;
        groups.push(GroupView { group: g, members });
    }
    let cells = match matrix {
        Some(m) => m,
        None => st.store.priority_matrix().await?.cells().map(|row| row.map(|p| p.to_string())),
    };
    let matrix = cells
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = row
                .iter()
                .enumerate()
                .map(|(u, value)| Cell {
                    name: format!("c{i}{u}"),
                    value: value.clone(),
                    error: errors.get(&format!("cells[{i}][{u}]")).map(str::to_string),
                })
                .collect();
            MatrixRow { level: i as i64 + 1, cells }
        })
        .collect();
    let page = AdminPage {
        p: v.chrome("admin"),
        errors,
        saved,
        users: st.store.list_users(0, 1000, None).await?,
        groups,
        categories: category_paths(st.store.categories().await?),
        services: st.store.services().await?,
        matrix,
        auto_close_days: match typed.iter().find(|(k, _)| *k == "settings.auto_close_days") {
            Some((_, typed)) => typed.clone(),
            None => dir::incident_settings(&st.store).await?.auto_close_days.to_string(),
        },
        typed,
    };
    render_status(status, &page)
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn home(
    State(st): State<AppState>,
    v: Viewer,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, AppError> {
    show(&st, &v, StatusCode::OK, Errors::none(), q.saved.is_some(), None).await
}

/// After a change: back to the page on success, or the page with the
/// errors when the input was refused.
async fn done(st: &AppState, v: &Viewer, result: Result<(), AppError>, anchor: &str) -> Result<Response, AppError> {
    done_typed(st, v, result, anchor, Vec::new()).await
}

/// [`done`], showing again what was typed when the input was refused.
async fn done_typed(
    st: &AppState,
    v: &Viewer,
    result: Result<(), AppError>,
    anchor: &str,
    typed: Vec<(&'static str, String)>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/admin?saved=1#{anchor}"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            show_with(st, v, status, errors, false, None, typed).await
        }
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub async fn create_user(State(st): State<AppState>, f: Form<NewUserForm>) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let u = f.value;
    let typed = vec![("user.email", u.email.clone()), ("user.name", u.name.clone()), ("user.role", u.role.clone())];
    let input = CreateUser {
        email: u.email,
        name: u.name,
        role: u.role,
        organisation_id: None,
        password: (!u.password.is_empty()).then_some(u.password),
    };
    let r = dir::create_user(&st.store, Some(&f.viewer.caller), input).await.map(|_| ());
    done_typed(&st, &f.viewer, r, "users", typed).await
}

#[derive(Deserialize)]
pub struct UpdateUserForm {
    #[serde(default)]
    role: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    version: String,
}

pub async fn update_user(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<UpdateUserForm>,
) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let mut errors = Errors::none();
    let version = num(&mut errors, &f.viewer.chrome.tr, "version", &f.value.version);
    if !errors.is_empty() {
        return show(&st, &f.viewer, StatusCode::UNPROCESSABLE_ENTITY, errors, false, None).await;
    }
    let change =
        UpdateUser { role: Some(f.value.role), active: Some(f.value.active.is_some()), ..UpdateUser::default() };
    let r = dir::update_user(&st.store, &f.viewer.caller, id, Some(version), change).await.map(|_| ());
    done(&st, &f.viewer, r, "users").await
}

#[derive(Deserialize)]
pub struct NewGroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_group(State(st): State<AppState>, f: Form<NewGroupForm>) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let input = CreateGroup { name: f.value.name, description: f.value.description };
    let r = dir::create_group(&st.store, &f.viewer.caller, input).await.map(|_| ());
    done(&st, &f.viewer, r, "groups").await
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    email: String,
}

pub async fn add_member(
    State(st): State<AppState>,
    Path(group): Path<i64>,
    f: Form<MemberForm>,
) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let r = match st.store.user_by_email(&f.value.email.trim().to_lowercase()).await {
        Ok(u) => dir::add_member(&st.store, &f.viewer.caller, group, u.id).await,
        Err(varde_store::StoreError::NotFound) => {
            Err(AppError::field("email", f.viewer.chrome.tr.t("error.unknown_email")))
        }
        Err(e) => Err(e.into()),
    };
    done(&st, &f.viewer, r, "groups").await
}

#[derive(Deserialize)]
pub struct ManagerForm {
    /// A user id, or empty for none.
    #[serde(default)]
    user_id: String,
}

pub async fn set_manager(
    State(st): State<AppState>,
    Path(group): Path<i64>,
    f: Form<ManagerForm>,
) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let mut errors = Errors::none();
    let user = opt_id(&mut errors, &f.viewer.chrome.tr, "user_id", &f.value.user_id);
    if !errors.is_empty() {
        return show(&st, &f.viewer, StatusCode::UNPROCESSABLE_ENTITY, errors, false, None).await;
    }
    let r = dir::set_group_manager(&st.store, &f.viewer.caller, group, user).await.map(|_| ());
    done(&st, &f.viewer, r, "groups").await
}

pub async fn remove_member(
    State(st): State<AppState>,
    Path((group, user)): Path<(i64, i64)>,
    f: Form<super::auth::Empty>,
) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let r = dir::remove_member(&st.store, &f.viewer.caller, group, user).await;
    done(&st, &f.viewer, r, "groups").await
}

#[derive(Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent_id: String,
}

pub async fn create_category(State(st): State<AppState>, f: Form<CategoryForm>) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let mut errors = Errors::none();
    let parent_id = opt_id(&mut errors, &f.viewer.chrome.tr, "parent_id", &f.value.parent_id);
    if !errors.is_empty() {
        return show(&st, &f.viewer, StatusCode::UNPROCESSABLE_ENTITY, errors, false, None).await;
    }
    let typed = vec![("category.name", f.value.name.clone())];
    let input = CreateCategory { name: f.value.name, parent_id };
    let r = dir::create_category(&st.store, &f.viewer.caller, input).await.map(|_| ());
    done_typed(&st, &f.viewer, r, "categories", typed).await
}

pub async fn create_service(State(st): State<AppState>, f: Form<NewGroupForm>) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let input = CreateService { name: f.value.name, description: f.value.description };
    let r = dir::create_service(&st.store, &f.viewer.caller, input).await.map(|_| ());
    done(&st, &f.viewer, r, "services").await
}

pub async fn set_matrix(
    State(st): State<AppState>,
    f: Form<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let mut errors = Errors::none();
    let mut typed: [[String; 3]; 3] = Default::default();
    let mut cells = [[0i64; 3]; 3];
    for i in 0..3 {
        for u in 0..3 {
            let v = f.value.get(&format!("c{i}{u}")).cloned().unwrap_or_default();
            cells[i][u] = num(&mut errors, &f.viewer.chrome.tr, &format!("cells[{i}][{u}]"), &v);
            typed[i][u] = v;
        }
    }
    let result = if errors.is_empty() {
        dir::set_matrix(&st.store, &f.viewer.caller, MatrixBody { cells }).await.map(|_| ())
    } else {
        Err(AppError::Invalid(Vec::new()))
    };
    match result {
        Ok(()) => Ok(see_other("/admin?saved=1#matrix")),
        Err(e) => {
            let status = e.status();
            for (field, msg) in Errors::from_app(e, &f.viewer.chrome.tr)?.fields() {
                errors.push(field, msg);
            }
            show(&st, &f.viewer, status, errors, false, Some(typed)).await
        }
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    auto_close_days: String,
}

pub async fn set_settings(State(st): State<AppState>, f: Form<SettingsForm>) -> Result<Response, AppError> {
    require_admin(&f.viewer)?;
    let mut errors = Errors::none();
    let days = num(&mut errors, &f.viewer.chrome.tr, "auto_close_days", &f.value.auto_close_days);
    let result = if errors.is_empty() {
        dir::set_incident_settings(&st.store, &f.viewer.caller, IncidentSettings { auto_close_days: days })
            .await
            .map(|_| ())
    } else {
        Err(AppError::Invalid(Vec::new()))
    };
    match result {
        Ok(()) => Ok(see_other("/admin?saved=1#settings")),
        Err(e) => {
            let status = e.status();
            for (field, msg) in Errors::from_app(e, &f.viewer.chrome.tr)?.fields() {
                errors.push(field, msg);
            }
            let typed = vec![("settings.auto_close_days", f.value.auto_close_days.clone())];
            show_with(&st, &f.viewer, status, errors, false, None, typed).await
        }
    }
}
