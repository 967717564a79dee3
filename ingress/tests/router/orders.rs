//! Orders: only the caller's, and the long poll on one order.

use crate::helpers::{order, spawn_app, user};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_user_lists_only_their_orders() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "CONFIRMED", 4));
    app.queries.put_order(order("o-2", "bob", "PENDING", 1));
    let page = app
        .get("/api/v1/orders")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["order_id"], "o-1");
    assert_eq!(items[0]["status"], "CONFIRMED");
    app.get("/api/v1/orders?limit=0")
        .token(&user("alice"))
        .send()
        .await
        .expect(422);
    app.get("/api/v1/orders?cursor=zzz")
        .token(&user("alice"))
        .send()
        .await
        .expect(400);
}

#[tokio::test]
async fn someone_elses_order_is_404_like_a_missing_one() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "PENDING", 1));
    let mine = app
        .get("/api/v1/orders/o-1")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert_eq!(mine["order_id"], "o-1");
    assert_eq!(mine["version"], 1);
    let theirs = app
        .get("/api/v1/orders/o-1")
        .token(&user("mallory"))
        .send()
        .await
        .expect(404);
    let missing = app
        .get("/api/v1/orders/o-9")
        .token(&user("mallory"))
        .send()
        .await
        .expect(404);
    assert_eq!(theirs["type"], missing["type"]);
    assert_eq!(theirs["title"], missing["title"]);
}

#[tokio::test]
async fn a_long_poll_answers_when_the_version_changes() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "PENDING", 1));
    let queries = app.queries.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        queries.advance_order("o-1", "STOCK_RESERVED");
    });
    let started = Instant::now();
    let body = app
        .get("/api/v1/orders/o-1?wait=5s")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    let took = started.elapsed();
    assert_eq!(body["version"], 2);
    assert_eq!(body["status"], "STOCK_RESERVED");
    assert!(took >= Duration::from_millis(140), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_long_poll_answers_at_the_deadline_with_the_current_state() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "PENDING", 1));
    let started = Instant::now();
    let body = app
        .get("/api/v1/orders/o-1?wait=300ms")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    let took = started.elapsed();
    assert_eq!(body["version"], 1);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(*app.queries.order_reads.lock().unwrap() > 2, "it polled");
}

#[tokio::test]
async fn a_long_poll_on_a_final_order_answers_at_once() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "CONFIRMED", 5));
    let started = Instant::now();
    app.get("/api/v1/orders/o-1?wait=10")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_long_poll_sees_an_order_appear_or_answers_404() {
    let app = spawn_app();
    let started = Instant::now();
    app.get("/api/v1/orders/o-new?wait=200ms")
        .token(&user("alice"))
        .send()
        .await
        .expect(404);
    assert!(started.elapsed() >= Duration::from_millis(200));

    let queries = app.queries.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        queries.put_order(order("o-new", "alice", "PENDING", 1));
    });
    let body = app
        .get("/api/v1/orders/o-new?wait=5")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert_eq!(body["status"], "PENDING");
}

#[tokio::test]
async fn someone_elses_order_never_appears_to_a_long_poll() {
    let app = spawn_app();
    app.queries.put_order(order("o-1", "alice", "PENDING", 1));
    app.get("/api/v1/orders/o-1?wait=100ms")
        .token(&user("mallory"))
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn a_wait_that_does_not_parse_is_400() {
    let app = spawn_app();
    app.get("/api/v1/orders/o-1?wait=soon")
        .token(&user("alice"))
        .send()
        .await
        .expect(400);
}
