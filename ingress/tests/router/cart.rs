//! The caller's cart: reads and cart commands keyed by the token's subject.

use crate::helpers::{Script, cart, spawn_app, user};
use serde_json::json;
use shop_ingress::ports::Command;
use shop_schemas::cart::CartCommandBody;

fn cart_command(app: &crate::helpers::TestApp) -> shop_schemas::cart::CartCommand {
    match app.sink.last().command {
        Command::Cart(command) => command,
        other => panic!("expected a cart command, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_sees_only_their_own_cart() {
    let app = spawn_app();
    app.queries
        .carts
        .lock()
        .unwrap()
        .insert("alice".to_owned(), cart("alice", &[("mouse", 2)]));
    let alice = app
        .get("/api/v1/cart")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert_eq!(alice["lines"][0]["product_id"], "mouse");
    assert_eq!(alice["lines"][0]["quantity"], 2);
    assert_eq!(alice["version"], 3);
    let bob = app
        .get("/api/v1/cart")
        .token(&user("bob"))
        .send()
        .await
        .expect(200);
    assert_eq!(bob["user_id"], "bob");
    assert_eq!(bob["version"], 0);
    assert_eq!(bob["lines"], json!([]));
}

#[tokio::test]
async fn adding_an_item_sends_add_item_keyed_by_the_caller() {
    let app = spawn_app();
    let body = app
        .post("/api/v1/cart/items")
        .token(&user("alice"))
        .json(&json!({"product_id": "mouse", "quantity": 2}))
        .send()
        .await
        .expect(202);
    assert_eq!(body["resource"], "/api/v1/cart");
    let command = cart_command(&app);
    assert_eq!(command.user_id, "alice");
    assert_eq!(app.sink.last().command.key(), "alice");
    let CartCommandBody::AddItem(add) = command.body else {
        panic!("expected AddItem");
    };
    assert_eq!((add.product_id.as_str(), add.quantity), ("mouse", 2));
}

#[tokio::test]
async fn quantities_are_checked() {
    let app = spawn_app();
    let token = user("alice");
    for quantity in [0, 100, -1, 5_000_000_000_i64] {
        app.post("/api/v1/cart/items")
            .token(&token)
            .json(&json!({"product_id": "mouse", "quantity": quantity}))
            .send()
            .await
            .expect(422);
    }
    for quantity in [-1, 100] {
        app.put("/api/v1/cart/items/mouse")
            .token(&token)
            .json(&json!({"quantity": quantity}))
            .send()
            .await
            .expect(422);
    }
    assert!(app.sink.commands().is_empty());
    // 0 removes the line.
    app.put("/api/v1/cart/items/mouse")
        .token(&token)
        .json(&json!({"quantity": 0}))
        .send()
        .await
        .expect(202);
    let CartCommandBody::SetItemQuantity(set) = cart_command(&app).body else {
        panic!("expected SetItemQuantity");
    };
    assert_eq!((set.product_id.as_str(), set.quantity), ("mouse", 0));
}

#[tokio::test]
async fn cart_rejections_map_to_statuses() {
    let app = spawn_app();
    let token = user("alice");
    let add = json!({"product_id": "ghost", "quantity": 1});
    // The product is in the body, not the path: 422.
    app.outcomes.set(Script::reject("unknown_product"));
    let problem = app
        .post("/api/v1/cart/items")
        .token(&token)
        .header("prefer", "wait=2")
        .json(&add)
        .send()
        .await
        .expect(422);
    assert_eq!(problem["reason_code"], "unknown_product");

    app.outcomes.set(Script::reject("cart_full"));
    app.post("/api/v1/cart/items")
        .token(&token)
        .header("prefer", "wait=2")
        .json(&add)
        .send()
        .await
        .expect(409);

    app.outcomes.set(Script::reject("not_in_cart"));
    app.put("/api/v1/cart/items/ghost")
        .token(&token)
        .header("prefer", "wait=2")
        .json(&json!({"quantity": 2}))
        .send()
        .await
        .expect(404);
    let problem = app
        .delete("/api/v1/cart/items/ghost")
        .token(&token)
        .header("prefer", "wait=2")
        .send()
        .await
        .expect(404);
    assert_eq!(problem["reason_code"], "not_in_cart");

    app.outcomes.set(Script::reject("user_mismatch"));
    app.delete("/api/v1/cart")
        .token(&token)
        .header("prefer", "wait=2")
        .send()
        .await
        .expect(422);
}

#[tokio::test]
async fn remove_and_clear_send_their_commands() {
    let app = spawn_app();
    let token = user("alice");
    app.delete("/api/v1/cart/items/mouse")
        .token(&token)
        .send()
        .await
        .expect(202);
    assert!(
        matches!(cart_command(&app).body, CartCommandBody::RemoveItem(ref r) if r.product_id == "mouse")
    );
    app.outcomes.set(Script::Accept { entity_id: None });
    let answer = app
        .delete("/api/v1/cart")
        .token(&token)
        .header("prefer", "wait=1")
        .send()
        .await;
    answer.expect(200);
    assert_eq!(answer.header("preference-applied"), Some("wait=1"));
    assert!(matches!(
        cart_command(&app).body,
        CartCommandBody::ClearCart(_)
    ));
}
