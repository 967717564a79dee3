//! JWT: who may call, and what an admin may do that a user may not.

use crate::helpers::{SECRET, admin, app, spawn_app, user};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use shop_ingress::auth::Authenticator;

const PUBLIC_PEM: &[u8] = include_bytes!("../fixtures/rs256-test-public.pem");
const PRIVATE_PEM: &[u8] = include_bytes!("../fixtures/rs256-test-private.pem");
const OTHER_PRIVATE_PEM: &[u8] = include_bytes!("../fixtures/rs256-other-private.pem");

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap()
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: &Value, private_pem: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(private_pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge() {
    let app = spawn_app();
    let answer = app.get("/api/v1/cart").send().await;
    let problem = answer.expect(401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert_eq!(problem["type"], "urn:shop:problem:unauthorized");
}

#[tokio::test]
async fn a_non_bearer_authorization_is_401() {
    let app = spawn_app();
    let answer = app
        .get("/api/v1/cart")
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await;
    answer.expect(401);
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = spawn_app();
    let token = hs256(
        &json!({"sub": "alice", "role": "user", "exp": now() - 3600}),
        SECRET,
    );
    let answer = app.get("/api/v1/cart").token(&token).send().await;
    let problem = answer.expect(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn a_token_without_exp_is_401() {
    let app = spawn_app();
    let token = hs256(&json!({"sub": "alice", "role": "user"}), SECRET);
    let problem = app
        .get("/api/v1/cart")
        .token(&token)
        .send()
        .await
        .expect(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("exp"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_wrong_signature_is_401() {
    let app = spawn_app();
    let token = hs256(
        &json!({"sub": "alice", "role": "user", "exp": now() + 600}),
        b"another-secret-entirely-another-secret",
    );
    let problem = app
        .get("/api/v1/cart")
        .token(&token)
        .send()
        .await
        .expect(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("signature"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_token_without_role_is_401() {
    let app = spawn_app();
    let token = hs256(&json!({"sub": "alice", "exp": now() + 600}), SECRET);
    let problem = app
        .get("/api/v1/cart")
        .token(&token)
        .send()
        .await
        .expect(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("role"),
        "{problem}"
    );
}

#[tokio::test]
async fn an_unknown_role_or_missing_subject_is_401() {
    let app = spawn_app();
    for claims in [
        json!({"sub": "alice", "role": "root", "exp": now() + 600}),
        json!({"role": "user", "exp": now() + 600}),
        json!({"sub": "", "role": "user", "exp": now() + 600}),
    ] {
        let token = hs256(&claims, SECRET);
        app.get("/api/v1/cart")
            .token(&token)
            .send()
            .await
            .expect(401);
    }
}

#[tokio::test]
async fn garbage_is_401() {
    let app = spawn_app();
    app.get("/api/v1/cart")
        .token("not.a.jwt")
        .send()
        .await
        .expect(401);
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_public_key() {
    let app = app()
        .auth(Authenticator::rs256_pem(PUBLIC_PEM).unwrap())
        .build();
    let claims = json!({"sub": "alice", "role": "user", "exp": now() + 600});

    let good = rs256(&claims, PRIVATE_PEM);
    let cart = app
        .get("/api/v1/cart")
        .token(&good)
        .send()
        .await
        .expect(200);
    assert_eq!(cart["user_id"], "alice");

    let forged = rs256(&claims, OTHER_PRIVATE_PEM);
    app.get("/api/v1/cart")
        .token(&forged)
        .send()
        .await
        .expect(401);

    // HS256 is not accepted when only the RSA key is configured, whatever the secret.
    let hmac = hs256(&claims, PUBLIC_PEM);
    let problem = app
        .get("/api/v1/cart")
        .token(&hmac)
        .send()
        .await
        .expect(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("HS256"),
        "{problem}"
    );
}

#[tokio::test]
async fn both_algorithms_when_both_keys_are_configured() {
    let auth = Authenticator::hs256(SECRET)
        .with_rs256_pem(PUBLIC_PEM)
        .unwrap();
    let app = app().auth(auth).build();
    let claims = json!({"sub": "alice", "role": "admin", "exp": now() + 600});
    app.get("/api/v1/cart")
        .token(&rs256(&claims, PRIVATE_PEM))
        .send()
        .await
        .expect(200);
    app.get("/api/v1/cart")
        .token(&admin("alice"))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn catalog_writes_need_the_admin_role() {
    let app = spawn_app();
    let body = json!({"name": "Lamp", "price_cents": 1999, "currency": "USD"});
    let problem = app
        .post("/api/v1/products")
        .token(&user("alice"))
        .json(&body)
        .send()
        .await
        .expect(403);
    assert_eq!(problem["type"], "urn:shop:problem:forbidden");
    for call in [
        app.put("/api/v1/products/laptop")
            .json(&json!({"price_cents": 1, "currency": "USD"})),
        app.delete("/api/v1/products/laptop"),
        app.post("/api/v1/products/laptop/restock")
            .json(&json!({"quantity": 5})),
    ] {
        call.token(&user("alice")).send().await.expect(403);
    }
    assert!(app.sink.commands().is_empty());
    app.post("/api/v1/products")
        .token(&admin("root"))
        .json(&body)
        .send()
        .await
        .expect(202);
}

#[tokio::test]
async fn a_user_learns_they_may_not_before_what_is_wrong_with_the_body() {
    let app = spawn_app();
    app.post("/api/v1/products")
        .token(&user("alice"))
        .raw("application/json", "{not json")
        .send()
        .await
        .expect(403);
}

#[tokio::test]
async fn the_rate_limit_is_per_user_and_says_when_to_retry() {
    let app = app().rate_limit(0.5, 2).build();
    for _ in 0..2 {
        app.get("/api/v1/cart")
            .token(&user("alice"))
            .send()
            .await
            .expect(200);
    }
    let answer = app.get("/api/v1/cart").token(&user("alice")).send().await;
    let problem = answer.expect(429);
    assert_eq!(problem["type"], "urn:shop:problem:rate-limited");
    let retry_after: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    app.get("/api/v1/cart")
        .token(&user("bob"))
        .send()
        .await
        .expect(200);
    // Operations endpoints are not limited.
    app.get("/health").send().await.expect(200);
}
