//! The OpenAPI document and the router must not drift: every documented operation is routed to
//! a handler, no undocumented method answers on a documented path, and the document holds
//! exactly the API the ingress promises.

use crate::helpers::{admin, spawn_app};
use axum::http::Method;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The API of docs/ingress.md.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/api/v1/products"),
    ("post", "/api/v1/products"),
    ("get", "/api/v1/products/{id}"),
    ("put", "/api/v1/products/{id}"),
    ("delete", "/api/v1/products/{id}"),
    ("post", "/api/v1/products/{id}/restock"),
    ("get", "/api/v1/cart"),
    ("delete", "/api/v1/cart"),
    ("post", "/api/v1/cart/items"),
    ("put", "/api/v1/cart/items/{product_id}"),
    ("delete", "/api/v1/cart/items/{product_id}"),
    ("post", "/api/v1/checkout"),
    ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
];

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

/// `path` with every `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "sample"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_document_holds_exactly_the_promised_api() {
    let document = serde_json::to_value(shop_ingress::openapi()).unwrap();
    let expected: BTreeSet<_> = EXPECTED
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(documented(&document), expected);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_answers() {
    let app = spawn_app();
    let document = app.get("/openapi.json").send().await.expect(200);
    assert_eq!(
        document,
        serde_json::to_value(shop_ingress::openapi()).unwrap(),
        "the served document is the generated one"
    );
    let operations = documented(&document);
    let token = admin("root");
    for path in document["paths"].as_object().unwrap().keys() {
        for method in METHODS {
            let answer = app
                .call(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete(path),
                )
                .token(&token)
                .send()
                .await;
            let is_documented = operations.contains(&(method.to_owned(), path.clone()));
            let routed = answer.status != 405
                && !(answer.status == 404 && answer.json()["type"] == "urn:shop:problem:no-route");
            assert_eq!(
                routed, is_documented,
                "{method} {path}: answered {} (documented: {is_documented})",
                answer.status
            );
        }
    }
}

#[test]
fn every_api_operation_declares_bearer_auth_and_its_401() {
    let document = serde_json::to_value(shop_ingress::openapi()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let secured = operation["security"]
                .as_array()
                .is_some_and(|list| list.iter().any(|s| s.get("bearer").is_some()));
            let has_401 = operation["responses"].get("401").is_some();
            if path.starts_with("/api/") {
                assert!(
                    secured && has_401,
                    "{method} {path} must declare bearer auth and 401"
                );
            } else {
                assert!(!secured, "{method} {path} is open");
            }
        }
    }
}
