//! The one error type of the HTTP side, [`ApiError`], answered as `application/problem+json`
//! (RFC 9457): `type`, `title`, `status`, `detail`, plus `reason_code` for refused commands.
//!
//! 4xx answers say precisely what was wrong. 5xx answers are opaque; their cause is logged once,
//! here, when the response is built.

use crate::auth::AuthError;
use crate::ports::{QueryError, SinkError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before retrying after a 503.
const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

/// An error body (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Identifies the kind of problem, e.g. `urn:shop:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The same for every problem of this kind.
    pub title: String,
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Why a processor refused a command, e.g. `unknown_product` (refused commands only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed syntax: JSON that does not parse, a query or header that does not.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist (or is someone else's).
    #[error("{0}")]
    NotFound(String),
    /// No route matches the path.
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed, but a value is out of bounds.
    #[error("{0}")]
    Validation(String),
    /// A processor refused the command (`Prefer: wait` only).
    #[error("{reason_code}: {detail}")]
    Rejected {
        status: StatusCode,
        reason_code: String,
        detail: String,
    },
    #[error("rate limit exceeded")]
    RateLimited { retry_after: Duration },
    /// Too many commands in flight.
    #[error("too many commands in flight")]
    Overloaded,
    /// A dependency is away; the cause is logged, not shown.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or a deployment problem; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Rejected { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `type` slug and `title`.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Malformed request"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden(_) => ("forbidden", "Not allowed"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::NoRoute(_) => ("no-route", "No such route"),
            Self::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Validation(_) => ("validation", "Invalid request"),
            Self::Rejected { .. } => ("command-rejected", "Command rejected"),
            Self::RateLimited { .. } => ("rate-limited", "Too many requests"),
            Self::Overloaded => ("overloaded", "Too busy"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The text the client sees.
    fn detail(&self) -> String {
        match self {
            Self::Overloaded => "too many commands are on their way; retry shortly".to_owned(),
            Self::Unavailable(_) => "a dependency is unavailable; retry shortly".to_owned(),
            Self::Internal(_) => "the request failed; it has been logged".to_owned(),
            Self::Rejected { detail, .. } => detail.clone(),
            Self::RateLimited { retry_after } => format!(
                "rate limit exceeded; retry in {} s",
                retry_after_secs(*retry_after)
            ),
            Self::MethodNotAllowed => "this route does not answer that method".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        Problem {
            kind: format!("urn:shop:problem:{slug}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail: self.detail(),
            reason_code: match self {
                Self::Rejected { reason_code, .. } => Some(reason_code.clone()),
                _ => None,
            },
        }
    }
}

/// Whole seconds for `Retry-After`, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let round_up = wait.subsec_nanos() > 0 || wait.is_zero();
    wait.as_secs().saturating_add(u64::from(round_up))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => tracing::warn!(%cause, "answered 503"),
            Self::Internal(cause) => tracing::error!(%cause, "answered 500"),
            _ => {}
        }
        let status = self.status();
        let body = match serde_json::to_vec(&self.problem()) {
            Ok(body) => body,
            Err(_) => b"{}".to_vec(),
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::Unauthorized(error) => {
                let value = match error {
                    AuthError::Missing => "Bearer".to_owned(),
                    other => format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        other.to_string().replace(['"', '\\'], "'")
                    ),
                };
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs(*retry_after).into());
            }
            Self::Overloaded | Self::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    retry_after_secs(RETRY_AFTER_UNAVAILABLE).into(),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<SinkError> for ApiError {
    fn from(error: SinkError) -> Self {
        match error {
            SinkError::Full => Self::Overloaded,
            SinkError::Unavailable(cause) => Self::Unavailable(cause),
            SinkError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::InvalidCursor(reason) => {
                Self::BadRequest(format!("invalid cursor: {reason}"))
            }
            QueryError::InvalidFilter(reason) => Self::Validation(reason),
            QueryError::Unavailable(cause) => Self::Unavailable(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }

    #[test]
    fn server_errors_do_not_leak_their_cause() {
        let problem = ApiError::Internal("password=hunter2".to_owned()).problem();
        assert!(!problem.detail.contains("hunter2"));
        let problem = ApiError::Unavailable("db at 10.0.0.1".to_owned()).problem();
        assert!(!problem.detail.contains("10.0.0.1"));
    }
}
