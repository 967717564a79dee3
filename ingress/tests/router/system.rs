//! Health, readiness, metrics and the OpenAPI document: no token needed.

use crate::helpers::spawn_app;
use futures::future::BoxFuture;
use shop_ingress::ports::ReadinessCheck;
use std::sync::Arc;

#[derive(Debug)]
struct Down;

impl ReadinessCheck for Down {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("broker at 10.9.9.9:9092 unreachable".to_owned()) })
    }
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = spawn_app();
    let body = app.get("/health").send().await.expect(200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_checks_the_read_model() {
    let app = spawn_app();
    let body = app.get("/ready").send().await.expect(200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");

    *app.queries.down.lock().unwrap() = true;
    let answer = app.get("/ready").send().await;
    let problem = answer.expect(503);
    assert_eq!(problem["checks"]["database"], "unavailable");
    assert!(answer.header("retry-after").is_some());
}

#[tokio::test]
async fn ready_fails_when_any_dependency_is_down_without_saying_where_it_is() {
    let app = crate::helpers::app().build();
    let state_app = {
        // Same fakes plus a failing broker check.
        let state = shop_ingress::AppState::new(
            app.sink.clone(),
            app.outcomes.clone(),
            app.queries.clone(),
            shop_ingress::auth::Authenticator::hs256(crate::helpers::SECRET),
            crate::helpers::test_http(),
        )
        .with_readiness_check(Arc::new(Down));
        shop_ingress::router(state)
    };
    let app = crate::helpers::TestApp {
        router: state_app,
        ..app
    };
    let answer = app.get("/ready").send().await;
    let problem = answer.expect(503);
    assert_eq!(problem["checks"]["kafka"], "unavailable");
    assert_eq!(problem["checks"]["database"], "ok");
    assert!(!problem.to_string().contains("10.9.9.9"), "{problem}");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app();
    let answer = app.get("/metrics").send().await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = spawn_app();
    let document = app.get("/openapi.json").send().await.expect(200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert!(document["paths"]["/api/v1/checkout"]["post"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
