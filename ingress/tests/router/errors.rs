//! The error answers every route shares, and `Prefer: wait` when no outcome comes.

use crate::helpers::{Script, SinkMode, admin, app, spawn_app, user};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app();
    let problem = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .raw("application/json", "{\"product_id\": ")
        .send()
        .await
        .expect(400);
    assert_eq!(problem["type"], "urn:shop:problem:bad-request");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app();
    let problem = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .raw("text/plain", "product_id=mouse")
        .send()
        .await
        .expect(415);
    assert_eq!(problem["type"], "urn:shop:problem:unsupported-media-type");
    app.post("/api/v1/cart/items")
        .token(&user("alice"))
        .send()
        .await
        .expect(415);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app();
    let problem = app.get("/api/v1/nothing/here").send().await.expect(404);
    assert_eq!(problem["type"], "urn:shop:problem:no-route");
    app.get("/").send().await.expect(404);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app();
    let answer = app
        .call(axum::http::Method::PATCH, "/api/v1/cart")
        .send()
        .await;
    let problem = answer.expect(405);
    assert_eq!(problem["type"], "urn:shop:problem:method-not-allowed");
    let allow = answer.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
}

#[tokio::test]
async fn a_full_producer_is_503_with_retry_after() {
    let app = spawn_app();
    app.sink.set_mode(SinkMode::Full);
    let answer = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .json(&json!({"product_id": "mouse", "quantity": 1}))
        .send()
        .await;
    let problem = answer.expect(503);
    assert_eq!(problem["type"], "urn:shop:problem:overloaded");
    assert_eq!(answer.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn commands_beyond_the_in_flight_bound_are_refused_not_queued() {
    let gate = Arc::new(Semaphore::new(0));
    let app = app().gated(Arc::clone(&gate), 1).build();
    let stuck = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .json(&json!({"product_id": "mouse", "quantity": 1}));
    let stuck = tokio::spawn(stuck.send());
    // Let the first request take the only in-flight slot.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = app
        .post("/api/v1/cart/items")
        .token(&user("bob"))
        .json(&json!({"product_id": "mouse", "quantity": 1}))
        .send()
        .await;
    answer.expect(503);
    assert!(answer.header("retry-after").is_some());
    gate.add_permits(1);
    stuck.await.unwrap().expect(202);
    assert_eq!(app.sink.commands().len(), 1);
}

#[tokio::test]
async fn a_broker_away_is_an_opaque_503_and_a_bug_an_opaque_500() {
    let app = spawn_app();
    app.sink.set_mode(SinkMode::Unavailable);
    let body = json!({"product_id": "mouse", "quantity": 1});
    let problem = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .json(&body)
        .send()
        .await
        .expect(503);
    assert!(!problem.to_string().contains("10.1.2.3"), "{problem}");
    app.sink.set_mode(SinkMode::Failed);
    let problem = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .json(&body)
        .send()
        .await
        .expect(500);
    assert!(!problem.to_string().contains("schema"), "{problem}");
}

#[tokio::test]
async fn the_waiter_is_registered_before_the_command_is_sent() {
    let app = spawn_app();
    app.outcomes.set(Script::Accept { entity_id: None });
    app.delete("/api/v1/cart")
        .token(&user("alice"))
        .header("prefer", "wait=1")
        .send()
        .await
        .expect(200);
    let events = app.events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].starts_with("register:"), "{events:?}");
    assert!(events[1].starts_with("send:"), "{events:?}");
    assert_eq!(events[0][9..], events[1][5..]);
}

#[tokio::test]
async fn no_outcome_in_time_is_202_without_preference_applied() {
    let app = spawn_app();
    app.outcomes.set(Script::Never);
    let started = Instant::now();
    let answer = app
        .delete("/api/v1/cart")
        .token(&user("alice"))
        .header("prefer", "wait=1")
        .send()
        .await;
    let body = answer.expect(202);
    assert_eq!(body["status"], "PENDING");
    assert!(answer.header("preference-applied").is_none());
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn without_prefer_or_without_a_waiter_the_answer_is_immediate() {
    let app = spawn_app();
    app.outcomes.set(Script::Unavailable);
    let started = Instant::now();
    app.delete("/api/v1/cart")
        .token(&user("alice"))
        .header("prefer", "wait=20")
        .send()
        .await
        .expect(202);
    app.outcomes.set(Script::Accept { entity_id: None });
    app.delete("/api/v1/cart")
        .token(&user("alice"))
        .send()
        .await
        .expect(202);
    app.delete("/api/v1/cart")
        .token(&user("alice"))
        .header("prefer", "wait=0")
        .send()
        .await
        .expect(202);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        app.events
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.starts_with("send:"))
    );
}

#[tokio::test]
async fn a_long_wait_is_cut_to_the_maximum() {
    let app = app()
        .http(|http| http.max_wait = Duration::from_secs(2))
        .build();
    app.outcomes.set(Script::Accept { entity_id: None });
    let answer = app
        .delete("/api/v1/products/mouse")
        .token(&admin("root"))
        .header("prefer", "wait=600")
        .send()
        .await;
    answer.expect(200);
    assert_eq!(answer.header("preference-applied"), Some("wait=2"));
}
