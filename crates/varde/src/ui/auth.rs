//! Logging in and out, changing one's password, and the start page that
//! sends each role where it works.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::i18n::Lang;
use super::web::{render, render_status, safe_next, see_other, Chrome, Errors, Form, Viewer};
use crate::auth;
use crate::error::AppError;
use crate::service::directory::{self, ChangePassword};
use crate::state::AppState;

pub async fn home(v: Viewer) -> Response {
    if v.agent() {
        see_other("/queue/mine")
    } else {
        see_other("/portal")
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    p: Chrome,
    errors: Errors,
    email: String,
    next: String,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Result<Response, AppError> {
    let p = Chrome::anonymous(Lang::from_headers(&headers));
    render(&LoginPage {
        p,
        errors: Errors::none(),
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// No CSRF token here: there is no session yet to hold one, and the session
/// cookie is SameSite=Lax, so another site cannot post with it.
pub async fn login(
    State(st): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Result<Response, AppError> {
    let p = Chrome::anonymous(Lang::from_headers(&headers));
    // Without connection info (in-process tests) every caller shares one
    // address bucket, which only makes throttling stricter.
    let peer = connect.map(|Extension(c)| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into());
    match auth::login(&st, &f.email, f.password, &peer).await {
        Ok(user) => {
            let token = auth::start_session(&st, user.id).await?;
            let to = safe_next(Some(&f.next)).unwrap_or_else(|| "/".into());
            let mut res = see_other(&to);
            let cookie = HeaderValue::from_str(&auth::session_cookie(&st, &token))
                .map_err(|e| AppError::Internal(e.to_string()))?;
            res.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(res)
        }
        Err(e) => {
            let status = e.status();
            let retry = match &e {
                AppError::TooManyRequests { retry_after } => Some(*retry_after),
                _ => None,
            };
            let mut errors = Errors::none();
            match e {
                // One message for both fields: which one was wrong is not told.
                AppError::Invalid(_) => errors.push("email", p.tr.t("login.failed")),
                other => errors = Errors::from_app(other, &p.tr)?,
            }
            let page = LoginPage { p, errors, email: f.email, next: safe_next(Some(&f.next)).unwrap_or_default() };
            let mut res = render_status(status, &page)?;
            if let Some(r) = retry {
                res.headers_mut().insert(header::RETRY_AFTER, r.into());
            }
            Ok(res)
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(State(st): State<AppState>, f: Form<Empty>) -> Result<Response, AppError> {
    if let auth::Via::Session { token_hash, .. } = &f.viewer.caller.via {
        st.store.delete_session(token_hash.clone()).await?;
    }
    let mut res = see_other("/login");
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_cookie()).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    Ok(res)
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct AccountPage {
    p: Chrome,
    errors: Errors,
    done: bool,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn password_page(v: Viewer, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    render(&AccountPage { p: v.chrome("account"), errors: Errors::none(), done: q.done.is_some() })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(State(st): State<AppState>, f: Form<PasswordForm>) -> Result<Response, AppError> {
    let input = ChangePassword { current_password: f.value.current_password, new_password: f.value.new_password };
    match directory::change_password(&st.store, &f.viewer.caller, input).await {
        Ok(()) => Ok(see_other("/account/password?done=1")),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &f.viewer.chrome.tr)?;
            render_status(status, &AccountPage { p: f.viewer.chrome("account"), errors, done: false })
        }
    }
}
