//! What wraps the handlers: the server span of every API request, authentication and the
//! per-user rate limit, request metrics, and the problem+json answers for unknown routes, wrong
//! methods and panics.

use crate::error::ApiError;
use crate::metric_names;
use crate::state::AppState;
use crate::trace::{self, RequestTrace};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shop_platform::trace_context::{self, HopKind, KeyValue, Parent};
use shop_topics::names::headers::TRACEPARENT;
use std::any::Any;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// Runs the request in a server span (`POST /api/v1/checkout`, …), a child of the caller's
/// `traceparent` if it sent a valid one, and hands the `traceparent` its commands must carry to
/// the extractors ([`RequestTrace`]): the span's own when spans are exported, so the processors'
/// spans hang below it; otherwise the caller's trace with an id of ours ([`trace::child_of`]).
pub(crate) async fn trace_request(mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let incoming = request
        .headers()
        .get(TRACEPARENT)
        .map(HeaderValue::as_bytes);
    let parent = incoming.and_then(Parent::parse);
    // Method and route are fields, so log lines inside the request name them too.
    let span = tracing::info_span!(
        "http_request",
        http.request.method = %method,
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        trace_id = trace_context::trace_id_field(parent.as_ref()),
        span_id = Empty,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
    );
    let path = request.uri().path();
    let traceparent = trace_context::join(
        &span,
        parent.as_ref(),
        HopKind::Server,
        // The route template, never the path: ids in span names defeat grouping.
        || match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_string(),
        },
        || vec![KeyValue::new("url.path", path.to_owned())],
    )
    .unwrap_or_else(|| {
        let incoming = incoming.and_then(|value| std::str::from_utf8(value).ok());
        trace::child_of(incoming)
    });
    request.extensions_mut().insert(RequestTrace(traceparent));
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// Authenticates the bearer token (401), then takes a token from the caller's bucket (429), and
/// hands the [`crate::auth::Caller`] to the handler.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes);
    let caller = match state.auth.authenticate(authorization) {
        Ok(caller) => caller,
        Err(error) => return ApiError::from(error).into_response(),
    };
    if let Err(retry_after) = state.limiter.check(&caller.user_id) {
        metrics::counter!(metric_names::RATE_LIMITED).increment(1);
        return ApiError::RateLimited { retry_after }.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Counts requests and their duration by method, route template and status.
pub(crate) async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        metric_names::HTTP_REQUESTS,
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(metric_names::HTTP_REQUEST_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// 404 for a path no route matches.
pub(crate) async fn no_route(request: Request) -> ApiError {
    ApiError::NoRoute(request.uri().path().to_owned())
}

/// 405 for a method the route does not answer (axum adds `Allow`).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// 500 for a handler that panicked; the panic message is logged, not shown.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a handler panicked".to_owned());
    ApiError::Internal(format!("panic: {message}")).into_response()
}
