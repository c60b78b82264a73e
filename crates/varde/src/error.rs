//! The application's one error type, shared by the API and the UI, and its
//! mapping to RFC 9457 problem details for the API.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use varde_domain::{DomainError, FieldError};
use varde_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the input is not valid")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("this step is not allowed: {0}")]
    Transition(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("you may not do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("this resource does not allow that method; see the Allow header")]
    MethodNotAllowed,
    #[error("the record was changed by someone else since you read it (now version {current})")]
    Stale { current: i64 },
    #[error("{field} is already in use")]
    Duplicate { field: String },
    /// Refused because other things still refer to it; the text says what.
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    /// Another write held what this one needed; nothing was written.
    #[error("the database was busy with another write and nothing was saved; try again")]
    Busy,
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn field(field: &str, message: &str) -> AppError {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(errs) => AppError::Invalid(errs),
            t @ DomainError::Transition { .. } => AppError::Transition(t.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict { current } => AppError::Stale { current },
            StoreError::Duplicate { field } => AppError::Duplicate { field: field.into() },
            StoreError::UnknownReference { field } => AppError::field(field, "refers to nothing that exists"),
            StoreError::InUse(what) => AppError::InUse(what),
            StoreError::Domain(d) => d.into(),
            StoreError::Busy(detail) => {
                tracing::warn!(error = %detail, "a write gave way to another");
                AppError::Busy
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// RFC 9457 problem details, with Varde's per-field `errors` extension.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid(_) | AppError::Transition(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::Duplicate { .. } | AppError::InUse(_) => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "/problems/validation",
            AppError::Transition(_) => "/problems/invalid-transition",
            AppError::BadRequest(_) => "/problems/bad-request",
            AppError::Unauthorized => "/problems/unauthorized",
            AppError::Forbidden => "/problems/forbidden",
            AppError::NotFound => "/problems/not-found",
            AppError::MethodNotAllowed => "/problems/method-not-allowed",
            AppError::Stale { .. } => "/problems/stale-version",
            AppError::Duplicate { .. } => "/problems/duplicate",
            AppError::InUse(_) => "/problems/in-use",
            AppError::TooLarge(_) => "/problems/too-large",
            AppError::UnsupportedMediaType(_) => "/problems/unsupported-media-type",
            AppError::TooManyRequests { .. } => "/problems/too-many-requests",
            AppError::Busy => "/problems/busy",
            AppError::Internal(_) => "/problems/internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let errors = match self {
            AppError::Invalid(errs) => {
                errs.iter().map(|e| ProblemField { field: e.field.clone(), message: e.message.clone() }).collect()
            }
            AppError::Duplicate { field } => {
                vec![ProblemField { field: field.clone(), message: "is already in use".into() }]
            }
            _ => Vec::new(),
        };
        let detail = match self {
            // A 5xx is a bug: its detail goes to the log, not to the caller.
            AppError::Internal(_) => "Something went wrong on our side. It has been logged.".to_string(),
            AppError::Invalid(errs) => {
                errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
            }
            other => other.to_string(),
        };
        Problem {
            kind: self.kind().into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response();
        match self {
            AppError::TooManyRequests { retry_after } => {
                res.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
            }
            AppError::Busy => {
                res.headers_mut().insert(header::RETRY_AFTER, 1.into());
            }
            _ => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_store_is_503_with_retry_after() {
        let res = AppError::from(StoreError::Busy("deadlock detected".into())).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));
    }
}
