//! The plumbing every page shares: who is looking (and in which language),
//! CSRF-checked forms, rendering, redirects, and field errors.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;
use varde_domain::access::Permission;
use varde_domain::FieldError;

use super::i18n::{Lang, Tr};
use crate::auth::{self, Caller, CSRF_HEADER};
use crate::error::AppError;
use crate::state::AppState;

/// What the page frame needs: the language, the signed-in person, and the
/// CSRF token that every changing form carries.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub tr: Tr,
    pub user_name: String,
    pub csrf: String,
    pub agent: bool,
    pub admin: bool,
    pub signed_in: bool,
    /// Which navigation entry is current, for `aria-current`.
    pub section: &'static str,
    /// Unread notifications, for the badge in the navigation.
    pub unread: i64,
}

impl Chrome {
    pub fn anonymous(lang: Lang) -> Chrome {
        Chrome {
            tr: Tr::new(lang),
            user_name: String::new(),
            csrf: String::new(),
            agent: false,
            admin: false,
            signed_in: false,
            section: "",
            unread: 0,
        }
    }

    pub fn lang(&self) -> &'static str {
        self.tr.lang.tag()
    }

    pub fn with_section(mut self, s: &'static str) -> Chrome {
        self.section = s;
        self
    }
}

/// A signed-in person looking at a page. Anyone else is sent to the login
/// page, which brings them back here afterwards.
pub struct Viewer {
    pub caller: Caller,
    pub chrome: Chrome,
}

impl Viewer {
    pub fn agent(&self) -> bool {
        self.caller.can(Permission::WorkRecords)
    }

    /// Agent pages: requesters get a 403 page.
    pub fn require_agent(&self) -> Result<(), AppError> {
        self.caller.require(Permission::WorkRecords)
    }

    pub fn chrome(&self, section: &'static str) -> Chrome {
        self.chrome.clone().with_section(section)
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::from_headers(&parts.headers);
        let caller = match auth::authenticate(parts, state).await {
            Ok(Some(c)) if c.user.active => c,
            Ok(_) => return Err(to_login(parts)),
            Err(AppError::Unauthorized) => return Err(to_login(parts)),
            Err(e) => return Err(e.into_response()),
        };
        let chrome = Chrome {
            tr: Tr::new(lang),
            user_name: caller.user.name.clone(),
            csrf: caller.csrf().to_string(),
            agent: caller.can(Permission::WorkRecords),
            admin: caller.can(Permission::ManageUsers),
            signed_in: true,
            section: "",
            unread: state
                .store
                .unread_notifications(caller.id())
                .await
                .map_err(|e| AppError::from(e).into_response())?,
        };
        Ok(Viewer { caller, chrome })
    }
}

/// To the login page, remembering where the person wanted to go (only for
/// reads: a form post cannot be replayed after logging in).
fn to_login(parts: &Parts) -> Response {
    let target = if parts.method == axum::http::Method::GET {
        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("/login?next={}", percent_encoding::utf8_percent_encode(pq, percent_encoding::NON_ALPHANUMERIC))
    } else {
        "/login".to_string()
    };
    // htmx follows a redirect inside the swap target; tell it to load the
    // whole page instead.
    if parts.headers.contains_key("hx-request") {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            res.headers_mut().insert("hx-redirect", v);
        }
        return res;
    }
    see_other(&target)
}

/// A `next` target is followed only if it stays on this site: a path, not
/// `//host` or `/\host` which browsers read as another site.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    let ok = n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.chars().any(char::is_control);
    ok.then(|| n.to_string())
}

/// A form post from a signed-in person, with its CSRF token checked: the
/// `_csrf` field of a plain form, or the `X-CSRF-Token` header htmx sends.
pub struct Form<T> {
    pub viewer: Viewer,
    pub value: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, 1024 * 1024)
            .await
            .map_err(|_| AppError::TooLarge("the form is too large".into()).into_response())?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(format!("the form cannot be read: {e}")).into_response())?;
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.as_str())
            .or_else(|| parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
            .unwrap_or("");
        check_csrf(&viewer, sent).map_err(IntoResponse::into_response)?;
        let value = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(format!("the form cannot be read: {e}")).into_response())?;
        Ok(Form { viewer, value })
    }
}

pub fn check_csrf(viewer: &Viewer, sent: &str) -> Result<(), AppError> {
    let want = viewer.caller.csrf();
    // A bearer-token caller has no CSRF token; an empty one never matches.
    if want.is_empty() || !auth::constant_time_eq(sent.as_bytes(), want.as_bytes()) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

pub fn render(t: &impl askama::Template) -> Result<Response, AppError> {
    render_status(StatusCode::OK, t)
}

pub fn render_status(status: StatusCode, t: &impl askama::Template) -> Result<Response, AppError> {
    let html = t.render().map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok((status, Html(html)).into_response())
}

/// 303: after a form post, the browser fetches the next page with GET, so
/// reloading does not post again.
pub fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

pub fn is_htmx(headers: &HeaderMap) -> bool {
    // A history restore wants the whole page, not the fragment.
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// Per-field messages for a form, and messages not tied to one field.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    fields: HashMap<String, String>,
    pub general: Vec<String>,
}

impl Errors {
    pub fn none() -> Errors {
        Errors::default()
    }

    /// Sorts an error into field messages (if it has them) or a general one.
    /// `Err` is returned for errors a form cannot show (not found, forbidden,
    /// internal), which go to the error page instead.
    pub fn from_app(e: AppError, tr: &Tr) -> Result<Errors, AppError> {
        let mut out = Errors::default();
        match e {
            AppError::Invalid(list) => {
                for FieldError { field, message } in list {
                    out.push(&field, &message);
                }
            }
            AppError::Duplicate { field } => out.push(&field, tr.t("error.duplicate")),
            AppError::Transition(m) | AppError::BadRequest(m) | AppError::TooLarge(m) | AppError::InUse(m) => {
                out.general.push(m)
            }
            AppError::UnsupportedMediaType(m) => out.general.push(m),
            AppError::TooManyRequests { retry_after } => out.general.push(tr.f("login.throttled", &retry_after)),
            // Shown on the form, with what was typed, to send again.
            AppError::Busy => out.general.push(AppError::Busy.to_string()),
            other => return Err(other),
        }
        Ok(out)
    }

    /// Moves the message of `from` to the form's field `to`.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(m) = self.fields.remove(from) {
            self.push(to, &m);
        }
    }

    pub fn push(&mut self, field: &str, message: &str) {
        let slot = self.fields.entry(field.to_string()).or_default();
        if !slot.is_empty() {
            slot.push_str("; ");
        }
        slot.push_str(message);
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// All messages, field ones labelled, for the summary at the top of a form.
    pub fn summary(&self, tr: &Tr) -> Vec<String> {
        let mut v: Vec<String> = self
            .fields
            .iter()
            .map(|(f, m)| {
                let label = tr.field(f);
                let label = if label == "?" { readable(f) } else { label.to_string() };
                format!("{label}: {m}")
            })
            .collect();
        v.sort();
        v.extend(self.general.iter().cloned());
        v
    }
}

/// A field path without a label of its own in words, for the error
/// summary: `attributes.ram_gb` as "Ram gb", `weekly.monday[0].end` as
/// "Weekly › monday 1 › end" (positions counted from 1).
fn readable(path: &str) -> String {
    let path = path.strip_prefix("attributes.").unwrap_or(path);
    let mut out = String::new();
    for (i, part) in path.split('.').enumerate() {
        if i > 0 {
            out.push_str(" › ");
        }
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        out.push_str(&name.replace('_', " "));
        for index in rest.split('[').filter_map(|r| r.trim_end_matches(']').parse::<usize>().ok()) {
            out.push_str(&format!(" {}", index + 1));
        }
    }
    let mut chars = out.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => out,
    }
}

#[cfg(test)]
mod readable_tests {
    use super::readable;

    #[test]
    fn paths_read_as_words() {
        assert_eq!(readable("attributes.ram_gb"), "Ram gb");
        assert_eq!(readable("weekly.monday[0].end"), "Weekly › monday 1 › end");
        assert_eq!(readable("cells[0][1]"), "Cells 1 2");
        assert_eq!(readable("auto_close_days"), "Auto close days");
    }
}

/// An optional numeric id from a form field: empty means none.
pub fn opt_id(errors: &mut Errors, tr: &Tr, field: &str, v: &str) -> Option<i64> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.push(field, tr.t("error.choose"));
            None
        }
    }
}

/// A number from a form field that must be there.
pub fn num(errors: &mut Errors, tr: &Tr, field: &str, v: &str) -> i64 {
    match v.trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            errors.push(field, tr.t("error.number"));
            0
        }
    }
}

/// An instant for people: minutes are enough, and UTC says so.
pub fn when(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next(Some("/queue/open?q=x")).as_deref(), Some("/queue/open?q=x"));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(None), None);
    }
}
