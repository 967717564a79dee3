//! Operations endpoints, without authentication: liveness, readiness, metrics and the OpenAPI
//! document.

use super::dto::{Health, Readiness};
use crate::error::{PROBLEM_JSON, Problem};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The process is up.
#[utoipa::path(
    get, path = "/health", tag = "system",
    responses((status = 200, description = "Alive", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Every dependency answers: the broker (with the topics), the schema registry, the database
/// (with the read model's tables) and the outcome listener.
#[utoipa::path(
    get, path = "/ready", tag = "system",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down; see checks", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let timeout = state.http.readiness_timeout;
    let results = futures::future::join_all(state.checks.iter().map(|check| async move {
        let result = match tokio::time::timeout(timeout, check.check()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        (check.name(), result)
    }))
    .await;
    let mut checks = BTreeMap::new();
    let mut failed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => {
                checks.insert(name.to_owned(), "ok".to_owned());
            }
            Err(reason) => {
                // The reason stays in the log: it may name hosts, and /ready is public.
                tracing::warn!(check = name, %reason, "not ready");
                checks.insert(name.to_owned(), "unavailable".to_owned());
                failed.push(name);
            }
        }
    }
    if failed.is_empty() {
        return Json(Readiness {
            status: "ready".to_owned(),
            checks,
        })
        .into_response();
    }
    let body = serde_json::json!({
        "type": "urn:shop:problem:not-ready",
        "title": "Not ready",
        "status": 503,
        "detail": format!("unavailable: {}", failed.join(", ")),
        "checks": checks,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Prometheus metrics of this process.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let body = state
        .metrics
        .as_ref()
        .map(metrics_exporter_prometheus::PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// This API's OpenAPI 3 document, generated from the code.
#[utoipa::path(
    get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(
    Extension(document): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(document)
}
