//! Checkout: the Idempotency-Key makes the order id, so a retry names the same order.

use crate::helpers::{Script, spawn_app, user};
use serde_json::json;
use shop_ingress::api::{ORDER_ID_NAMESPACE, order_id};
use shop_ingress::ports::Command;
use shop_schemas::cart::CartCommandBody;

async fn checkout(app: &crate::helpers::TestApp, who: &str, key: &str) -> serde_json::Value {
    app.post("/api/v1/checkout")
        .token(&user(who))
        .header("idempotency-key", key)
        .json(&json!({"payment_token": "tok_visa"}))
        .send()
        .await
        .expect(202)
}

#[tokio::test]
async fn checkout_needs_an_idempotency_key() {
    let app = spawn_app();
    let problem = app
        .post("/api/v1/checkout")
        .token(&user("alice"))
        .json(&json!({"payment_token": "tok_visa"}))
        .send()
        .await
        .expect(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{problem}"
    );
    app.post("/api/v1/checkout")
        .token(&user("alice"))
        .header("idempotency-key", &"k".repeat(256))
        .json(&json!({"payment_token": "tok_visa"}))
        .send()
        .await
        .expect(400);
    assert!(app.sink.commands().is_empty());
}

#[tokio::test]
async fn the_same_key_names_the_same_order() {
    let app = spawn_app();
    let first = checkout(&app, "alice", "key-1").await;
    let again = checkout(&app, "alice", "key-1").await;
    let other_key = checkout(&app, "alice", "key-2").await;
    let other_user = checkout(&app, "bob", "key-1").await;

    let order = first["order_id"].as_str().unwrap();
    assert_eq!(again["order_id"], order);
    assert_ne!(other_key["order_id"], order);
    assert_ne!(other_user["order_id"], order);
    assert_ne!(
        again["command_id"], first["command_id"],
        "every request is its own command"
    );
    assert_eq!(first["status_url"], format!("/api/v1/orders/{order}"));
    assert_eq!(first["status"], "PENDING");

    let expected = uuid::Uuid::new_v5(&ORDER_ID_NAMESPACE, b"alice\nkey-1");
    assert_eq!(order, expected.to_string());
    assert_eq!(order, order_id("alice", "key-1"));
    assert_eq!(expected.get_version_num(), 5);

    let commands = app.sink.commands();
    assert_eq!(commands.len(), 4);
    let Command::Cart(sent) = &commands[1].command else {
        panic!("expected a cart command");
    };
    assert_eq!(sent.user_id, "alice");
    assert_eq!(commands[1].command.key(), "alice");
    let CartCommandBody::Checkout(body) = &sent.body else {
        panic!("expected Checkout");
    };
    assert_eq!(body.order_id, order);
    assert_eq!(body.payment_token, "tok_visa");
}

#[tokio::test]
async fn an_accepted_checkout_is_200_with_the_same_body() {
    let app = spawn_app();
    let order = order_id("alice", "k");
    app.outcomes.set(Script::Accept {
        entity_id: Some(order.clone()),
    });
    let answer = app
        .post("/api/v1/checkout")
        .token(&user("alice"))
        .header("idempotency-key", "k")
        .header("prefer", "wait=10")
        .json(&json!({"payment_token": "tok_visa"}))
        .send()
        .await;
    let body = answer.expect(200);
    assert_eq!(body["order_id"], order.as_str());
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(answer.header("preference-applied"), Some("wait=10"));
}

#[tokio::test]
async fn checkout_rejections_map_to_statuses() {
    let app = spawn_app();
    for (code, status) in [
        ("empty_cart", 409),
        ("unknown_product", 422),
        ("mixed_currencies", 422),
        ("total_too_large", 422),
        ("invalid_payment_token", 422),
    ] {
        app.outcomes.set(Script::reject(code));
        let problem = app
            .post("/api/v1/checkout")
            .token(&user("alice"))
            .header("idempotency-key", code)
            .header("prefer", "wait=2")
            .json(&json!({"payment_token": "tok_visa"}))
            .send()
            .await
            .expect(status);
        assert_eq!(problem["reason_code"], code);
    }
}

#[tokio::test]
async fn a_blank_payment_token_is_422() {
    let app = spawn_app();
    app.post("/api/v1/checkout")
        .token(&user("alice"))
        .header("idempotency-key", "k")
        .json(&json!({"payment_token": "  "}))
        .send()
        .await
        .expect(422);
}
