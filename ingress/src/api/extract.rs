//! Extractors that fail with [`ApiError`] (problem+json) instead of axum's plain-text
//! rejections, and the request headers the ingress understands: `Prefer: wait`, `traceparent`,
//! `Idempotency-Key`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::{self, RequestTrace};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shop_topics::names::headers::TRACEPARENT;
use std::time::Duration;

/// A JSON body (`Content-Type: application/json`): 400 if it does not parse, 422 if it does not
/// fit the request type, 413 over the body limit, 415 for another content type.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_error(&rejection, state.http.body_limit_bytes)),
        }
    }
}

fn json_error(rejection: &JsonRejection, limit: usize) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
            "the body must be JSON: send Content-Type: application/json".to_owned(),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Validation(rejection.body_text()),
        _ => ApiError::BadRequest(rejection.body_text()),
    }
}

/// Query parameters: 400 if they do not parse.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Path parameters: 400 if they do not decode.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection: PathRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// The authenticated caller, put in the request by the authentication middleware.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route reached without authentication".to_owned()))
    }
}

/// An authenticated caller with the admin role; 403 otherwise. Listed before the body in a
/// handler's arguments, so a user learns they may not before learning what is wrong with the body.
#[derive(Debug, Clone)]
pub(crate) struct Admin(pub(crate) Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.is_admin() {
            Ok(Self(caller))
        } else {
            Err(ApiError::Forbidden(
                "changing the catalog needs the admin role".to_owned(),
            ))
        }
    }
}

/// What every command request carries besides its body.
#[derive(Debug, Clone)]
pub(crate) struct CommandContext {
    /// From `Prefer: wait=N`, cut to the configured maximum; `None` without it or with `wait=0`.
    pub(crate) wait: Option<Duration>,
    /// For the Kafka record: continues the request's trace, or starts one.
    pub(crate) traceparent: String,
}

impl FromRequestParts<AppState> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let wait = prefer_wait(parts)
            .map(|wait| wait.min(state.http.max_wait))
            .filter(|wait| !wait.is_zero());
        // The request's server span, when the tracing middleware ran; else the caller's trace
        // continued with an id of our own.
        let traceparent = match parts.extensions.get::<RequestTrace>() {
            Some(RequestTrace(traceparent)) => traceparent.clone(),
            None => trace::child_of(
                parts
                    .headers
                    .get(TRACEPARENT)
                    .and_then(|value| value.to_str().ok()),
            ),
        };
        Ok(Self { wait, traceparent })
    }
}

/// The first `wait` preference of the `Prefer` headers (RFC 7240), in whole seconds. A
/// preference that does not parse is ignored, as the RFC asks.
fn prefer_wait(parts: &Parts) -> Option<Duration> {
    parts
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|preference| {
            let token = preference.split(';').next()?.trim();
            let (name, value) = token.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .next()
        .map(Duration::from_secs)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(parts: &axum::http::HeaderMap) -> Result<String, ApiError> {
    let value = parts.get("idempotency-key").ok_or_else(|| {
        ApiError::BadRequest("the Idempotency-Key header is required for a checkout".to_owned())
    })?;
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty()
                && key.len() <= 255
                && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters".to_owned(),
            )
        })?;
    Ok(key.to_owned())
}

/// A wait written as a duration (`10s`, `500ms`) or as whole seconds (`10`).
pub(crate) fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|error| {
        ApiError::BadRequest(format!(
            "wait={text:?} is not a duration (e.g. 10s, 500ms or 10): {error}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(prefer: &[&str]) -> Parts {
        let mut builder = Request::builder();
        for value in prefer {
            builder = builder.header("prefer", *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn prefer_wait_is_found_among_other_preferences() {
        assert_eq!(
            prefer_wait(&parts(&["wait=5"])),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            prefer_wait(&parts(&["respond-async, Wait=3"])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            prefer_wait(&parts(&["handling=lenient", "wait=\"7\"", "wait=9"])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(prefer_wait(&parts(&["wait=soon"])), None);
        assert_eq!(prefer_wait(&parts(&[])), None);
    }

    #[test]
    fn waits_parse_as_durations_or_seconds() {
        assert_eq!(parse_wait("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_wait("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_wait("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_wait("soon").is_err());
    }
}
