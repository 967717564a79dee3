//! Products: reads from the read model, admin writes as catalog commands.

use crate::helpers::{Script, admin, app, product, spawn_app, user};
use serde_json::json;
use shop_ingress::ports::Command;
use shop_schemas::catalog::CatalogCommandBody;

fn seed(app: &crate::helpers::TestApp) {
    let mut products = app.queries.products.lock().unwrap();
    for (id, name, price) in [
        ("headphones", "Headphones", 24_999),
        ("keyboard", "Keyboard", 8_999),
        ("laptop", "Laptop", 129_999),
        ("monitor", "Monitor", 39_999),
        ("mouse", "Mouse", 2_999),
    ] {
        products.insert(id.to_owned(), product(id, name, price));
    }
}

fn catalog_body(app: &crate::helpers::TestApp) -> (shop_schemas::catalog::CatalogCommand, String) {
    let sent = app.sink.last();
    match sent.command {
        Command::Catalog(command) => (command, sent.traceparent),
        other => panic!("expected a catalog command, got {other:?}"),
    }
}

#[tokio::test]
async fn products_are_listed_page_by_page() {
    let app = spawn_app();
    seed(&app);
    let first = app
        .get("/api/v1/products?limit=2")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    let ids: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].clone())
        .collect();
    assert_eq!(ids, ["headphones", "keyboard"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/products?limit=2&cursor={cursor}"))
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert_eq!(second["items"][0]["product_id"], "laptop");
    assert_eq!(second["items"][0]["price_cents"], 129_999);
    assert!(
        second["items"][0]["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-")
    );
}

#[tokio::test]
async fn products_are_filtered_by_text_and_price() {
    let app = spawn_app();
    seed(&app);
    let page = app
        .get("/api/v1/products?q=%20mo&min_price=3000&max_price=50000")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["product_id"], "monitor");
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let app = spawn_app();
    let token = user("alice");
    for (query, status) in [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=abc", 400),
        ("min_price=-1", 422),
        ("min_price=10&max_price=5", 422),
        ("max_price=lots", 400),
        ("cursor=forged", 400),
    ] {
        let answer = app
            .get(&format!("/api/v1/products?{query}"))
            .token(&token)
            .send()
            .await;
        answer.expect(status);
    }
    app.get("/api/v1/products?limit=100")
        .token(&token)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn one_product_or_404() {
    let app = spawn_app();
    seed(&app);
    let found = app
        .get("/api/v1/products/mouse")
        .token(&user("alice"))
        .send()
        .await
        .expect(200);
    assert_eq!(found["name"], "Mouse");
    assert_eq!(found["available"], 10);
    let problem = app
        .get("/api/v1/products/nope")
        .token(&user("alice"))
        .send()
        .await
        .expect(404);
    assert_eq!(problem["type"], "urn:shop:problem:not-found");
}

#[tokio::test]
async fn creating_a_product_sends_create_product_keyed_by_its_id() {
    let app = spawn_app();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = app
        .post("/api/v1/products")
        .token(&admin("root"))
        .header("traceparent", traceparent)
        .json(&json!({
            "product_id": "lamp", "name": "Lamp", "description": "bright",
            "price_cents": 1999, "currency": "EUR", "initial_stock": 7
        }))
        .send()
        .await;
    let body = answer.expect(202);
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["resource"], "/api/v1/products/lamp");
    assert!(answer.header("preference-applied").is_none());
    let (command, sent_trace) = catalog_body(&app);
    assert_eq!(body["command_id"], command.command_id.as_str());
    assert!(uuid::Uuid::parse_str(&command.command_id).is_ok());
    assert_eq!(command.issued_by, "root");
    assert!(command.issued_at > 1_700_000_000_000);
    let CatalogCommandBody::CreateProduct(create) = command.body else {
        panic!("expected CreateProduct");
    };
    assert_eq!(create.product_id, "lamp");
    assert_eq!(create.price.amount_cents, 1999);
    assert_eq!(create.price.currency, "EUR");
    assert_eq!(create.initial_stock, 7);
    assert_eq!(app.sink.last().command.key(), "lamp");
    // The request's trace continues on the record, with the ingress's own span id.
    assert!(
        sent_trace.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{sent_trace}"
    );
    assert_ne!(sent_trace, traceparent);
}

#[tokio::test]
async fn a_product_without_an_id_gets_one_and_every_command_a_trace() {
    let app = spawn_app();
    let body = app
        .post("/api/v1/products")
        .token(&admin("root"))
        .json(&json!({"name": "Lamp", "price_cents": 1999, "currency": "USD"}))
        .send()
        .await
        .expect(202);
    let (command, trace) = catalog_body(&app);
    let CatalogCommandBody::CreateProduct(create) = command.body else {
        panic!("expected CreateProduct");
    };
    assert!(uuid::Uuid::parse_str(&create.product_id).is_ok());
    assert_eq!(
        body["resource"],
        format!("/api/v1/products/{}", create.product_id)
    );
    assert_eq!(trace.len(), 55, "{trace}");
}

#[tokio::test]
async fn an_accepted_creation_is_201_with_location() {
    let app = spawn_app();
    app.outcomes.set(Script::Accept {
        entity_id: Some("lamp".to_owned()),
    });
    let answer = app
        .post("/api/v1/products")
        .token(&admin("root"))
        .header("prefer", "wait=5")
        .json(
            &json!({"product_id": "lamp", "name": "Lamp", "price_cents": 1999, "currency": "USD"}),
        )
        .send()
        .await;
    let body = answer.expect(201);
    assert_eq!(answer.header("location"), Some("/api/v1/products/lamp"));
    assert_eq!(answer.header("preference-applied"), Some("wait=5"));
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(body["entity_id"], "lamp");
}

#[tokio::test]
async fn a_duplicate_id_is_409_with_the_reason() {
    let app = spawn_app();
    app.outcomes.set(Script::reject("duplicate_id"));
    let answer = app
        .post("/api/v1/products")
        .token(&admin("root"))
        .header("prefer", "wait=5")
        .json(&json!({"product_id": "mouse", "name": "Mouse", "price_cents": 1, "currency": "USD"}))
        .send()
        .await;
    let problem = answer.expect(409);
    assert_eq!(problem["reason_code"], "duplicate_id");
    assert_eq!(problem["detail"], "refused because duplicate_id");
    assert_eq!(problem["type"], "urn:shop:problem:command-rejected");
    assert_eq!(answer.header("preference-applied"), Some("wait=5"));
}

#[tokio::test]
async fn creation_fields_are_checked() {
    let app = spawn_app();
    let token = admin("root");
    for body in [
        json!({"name": "  ", "price_cents": 1, "currency": "USD"}),
        json!({"name": "Lamp", "price_cents": 0, "currency": "USD"}),
        json!({"name": "Lamp", "price_cents": -5, "currency": "USD"}),
        json!({"name": "Lamp", "price_cents": 5, "currency": "usd"}),
        json!({"name": "Lamp", "price_cents": 5, "currency": "USD", "initial_stock": -1}),
        json!({"product_id": "bad id!", "name": "Lamp", "price_cents": 5, "currency": "USD"}),
        json!({"name": "x".repeat(201), "price_cents": 5, "currency": "USD"}),
        json!({"name": "Lamp", "price_cents": 5, "currency": "USD", "colour": "red"}),
        json!({"name": "Lamp", "price_cents": "5", "currency": "USD"}),
        json!({"price_cents": 5, "currency": "USD"}),
    ] {
        let problem = app
            .post("/api/v1/products")
            .token(&token)
            .json(&body)
            .send()
            .await
            .expect(422);
        assert_eq!(problem["type"], "urn:shop:problem:validation", "{body}");
    }
    assert!(app.sink.commands().is_empty());
}

#[tokio::test]
async fn a_price_change_is_change_price_and_a_rename_is_update_product() {
    let app = spawn_app();
    let token = admin("root");
    app.put("/api/v1/products/mouse")
        .token(&token)
        .json(&json!({"price_cents": 2499, "currency": "USD"}))
        .send()
        .await
        .expect(202);
    let CatalogCommandBody::ChangePrice(change) = catalog_body(&app).0.body else {
        panic!("expected ChangePrice");
    };
    assert_eq!(
        (change.product_id.as_str(), change.price.amount_cents),
        ("mouse", 2499)
    );

    app.put("/api/v1/products/mouse")
        .token(&token)
        .json(&json!({"name": "Mouse 2", "description": "wireless"}))
        .send()
        .await
        .expect(202);
    let CatalogCommandBody::UpdateProduct(update) = catalog_body(&app).0.body else {
        panic!("expected UpdateProduct");
    };
    assert_eq!(
        (update.name.as_str(), update.description.as_str()),
        ("Mouse 2", "wireless")
    );
    assert_eq!(app.sink.last().command.key(), "mouse");
}

#[tokio::test]
async fn a_put_changes_one_kind_of_thing() {
    let app = spawn_app();
    let token = admin("root");
    for body in [
        json!({"name": "Mouse", "description": "x", "price_cents": 1, "currency": "USD"}),
        json!({"name": "Mouse"}),
        json!({"price_cents": 100}),
        json!({}),
    ] {
        app.put("/api/v1/products/mouse")
            .token(&token)
            .json(&body)
            .send()
            .await
            .expect(422);
    }
    assert!(app.sink.commands().is_empty());
}

#[tokio::test]
async fn an_unknown_product_named_in_the_path_is_404() {
    let app = spawn_app();
    app.outcomes.set(Script::reject("unknown_product"));
    let token = admin("root");
    for call in [
        app.put("/api/v1/products/ghost")
            .json(&json!({"price_cents": 100, "currency": "USD"})),
        app.delete("/api/v1/products/ghost"),
        app.post("/api/v1/products/ghost/restock")
            .json(&json!({"quantity": 3})),
    ] {
        let problem = call
            .token(&token)
            .header("prefer", "wait=2")
            .send()
            .await
            .expect(404);
        assert_eq!(problem["reason_code"], "unknown_product");
    }
}

#[tokio::test]
async fn other_catalog_rejections_are_422() {
    let app = spawn_app();
    let token = admin("root");
    for code in [
        "empty_name",
        "invalid_price",
        "invalid_currency",
        "product_id_mismatch",
    ] {
        app.outcomes.set(Script::reject(code));
        let problem = app
            .put("/api/v1/products/mouse")
            .token(&token)
            .header("prefer", "wait=2")
            .json(&json!({"price_cents": 100, "currency": "USD"}))
            .send()
            .await
            .expect(422);
        assert_eq!(problem["reason_code"], code);
    }
}

#[tokio::test]
async fn delete_and_restock_send_their_commands() {
    let app = spawn_app();
    let token = admin("root");
    app.delete("/api/v1/products/mouse")
        .token(&token)
        .send()
        .await
        .expect(202);
    assert!(matches!(
        catalog_body(&app).0.body,
        CatalogCommandBody::DeleteProduct(_)
    ));

    app.outcomes.set(Script::Accept { entity_id: None });
    let answer = app
        .post("/api/v1/products/mouse/restock")
        .token(&token)
        .header("prefer", "wait=3")
        .json(&json!({"quantity": 25}))
        .send()
        .await;
    let body = answer.expect(200);
    assert_eq!(body["status"], "ACCEPTED");
    assert!(answer.header("location").is_none());
    let CatalogCommandBody::RestockProduct(restock) = catalog_body(&app).0.body else {
        panic!("expected RestockProduct");
    };
    assert_eq!(restock.quantity, 25);

    for quantity in [0, -3, 1_000_001] {
        app.post("/api/v1/products/mouse/restock")
            .token(&token)
            .json(&json!({"quantity": quantity}))
            .send()
            .await
            .expect(422);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = app().http(|http| http.body_limit_bytes = 256).build();
    let problem = app
        .post("/api/v1/products")
        .token(&admin("root"))
        .json(&json!({"name": "Lamp", "description": "x".repeat(1000), "price_cents": 1, "currency": "USD"}))
        .send()
        .await
        .expect(413);
    assert!(
        problem["detail"].as_str().unwrap().contains("256"),
        "{problem}"
    );
}
