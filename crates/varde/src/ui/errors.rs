//! Error pages: the UI's routes answer errors with HTML, in the reader's
//! language and with the request id to quote, never with problem+json.

use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::i18n::Lang;
use super::web::{render_status, Chrome};

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    p: Chrome,
    status: u16,
    message: String,
    detail: String,
    request_id: String,
}

/// Turns problem+json answers from UI handlers into error pages. Handlers
/// can then use `?` on the shared `AppError` and still answer in HTML.
pub async fn html_errors(req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    let status = res.status();
    // Axum's own answers (405, 404 from a router) come with an empty body.
    let empty_error =
        (status.is_client_error() || status.is_server_error()) && res.body().size_hint().exact() == Some(0);
    if !is_problem && !empty_error {
        return res;
    }
    let retry = res.headers().get(header::RETRY_AFTER).cloned();
    let allow = res.headers().get(header::ALLOW).cloned();
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
        .unwrap_or_default();
    let mut out = page(lang, status, detail, request_id);
    if let Some(r) = retry {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

pub fn page(lang: Lang, status: StatusCode, detail: String, request_id: String) -> Response {
    let p = Chrome::anonymous(lang);
    let key = match status.as_u16() {
        401 => "error.401",
        403 => "error.403",
        404 => "error.404",
        500..=599 => "error.500",
        _ => "error.other",
    };
    let message = p.tr.t(key).to_string();
    // The generic messages above say enough for these; a 5xx detail is
    // already scrubbed by `AppError::problem`, but adds nothing.
    let detail = if matches!(status.as_u16(), 403 | 404 | 500..=599) { String::new() } else { detail };
    let page = ErrorPage { p, status: status.as_u16(), message, detail, request_id };
    render_status(status, &page).unwrap_or_else(|e| e.into_response())
}

pub async fn not_found(req: Request) -> Response {
    let lang = Lang::from_headers(req.headers());
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    page(lang, StatusCode::NOT_FOUND, String::new(), id)
}
