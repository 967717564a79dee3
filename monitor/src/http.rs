//! The monitor's HTTP face: the dashboard, the JSON API and Prometheus metrics, one port.
//!
//! | Route | What |
//! |---|---|
//! | `GET /` | the dashboard (HTML, script and style compiled in: no other service needed) |
//! | `GET /api/v1/lag` | the latest [`LagReport`](crate::report::LagReport); 503 before the first sample |
//! | `GET /api/v1/history?since_ms=` | recent samples, oldest first |
//! | `GET /metrics` | Prometheus text format (when this process renders metrics) |
//! | `GET /health` | 200 `{"status":"ok","sampled":bool}` while the process runs |

use crate::state::MonitorState;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

#[derive(Clone)]
struct AppState {
    monitor: MonitorState,
    metrics: Option<PrometheusHandle>,
}

/// The router; `metrics` renders `/metrics` when given (the all-in-one process serves its
/// metrics elsewhere and passes `None`, which makes `/metrics` a 404).
pub fn router(monitor: MonitorState, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/api/v1/lag", get(lag))
        .route("/api/v1/history", get(history))
        .route("/metrics", get(render_metrics))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(AppState { monitor, metrics })
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

async fn lag(State(state): State<AppState>) -> Response {
    match state.monitor.latest() {
        Some(report) => Json(report.as_ref().clone()).into_response(),
        None => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "No sample yet",
            "the monitor is still reading __consumer_offsets or taking its first sample; retry in a few seconds",
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
struct HistoryQuery {
    since_ms: Option<i64>,
}

async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(query)) => Json(state.monitor.history(query.since_ms)).into_response(),
        Err(rejection) => problem(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            &format!("since_ms must be epoch milliseconds: {rejection}"),
        ),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "this process serves its metrics on its metrics address",
        ),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "sampled": state.monitor.latest().is_some(),
    }))
    .into_response()
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "Not found", "no such route")
}

/// An RFC 9457 problem document.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        })),
    )
        .into_response()
}
