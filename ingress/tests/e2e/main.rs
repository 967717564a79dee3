//! The whole shop through real HTTP: the ingress on a socket, every processor and the projector
//! running, the real broker, registry and PostgreSQL. A customer fills a cart, checks out and
//! long-polls the order to CONFIRMED; a replayed checkout returns the same order; another
//! customer cannot see it; only an admin writes the catalog. `traces`: the same checkout, with
//! every component as its own binary, is one trace exported over OTLP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod traces;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shop_ingress::auth::{Role, mint_hs256};
use shop_ingress::{AppState, AuthSettings, Settings, serve};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use shop_processors::app::{PipelineSettings, ProcessorKind, run_many};
use shop_readmodel::projector::{self, ProjectorConfig};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use shop_topics::{Layout, TopicNames};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "e2e-secret";

struct Shop {
    base: String,
    client: Client,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    database: String,
}

impl Shop {
    async fn start() -> Self {
        testing::init_logs();
        let prefix = format!("{}.", testing::unique("e2e"));
        create_topics(&prefix).await;
        let database = testing::unique("ingress_e2e");
        let db =
            database::create_database(&DatabaseSettings::new(testing::database_url()), &database)
                .await
                .unwrap();
        let pool = database::connect(&db).await.unwrap();
        shop_readmodel::migrate(&pool).await.unwrap();

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut pipeline = PipelineSettings::new(testing::brokers(), testing::registry_url());
        pipeline.prefix = prefix.clone();
        pipeline.batch_linger = Duration::from_millis(5);
        pipeline.payment_timeout = Duration::from_secs(10);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            run_many(&ProcessorKind::ALL, &pipeline, stop)
                .await
                .unwrap();
        }));

        let codec = Arc::new(
            AvroCodec::new(
                &RegistryConfig {
                    url: testing::registry_url(),
                    timeout: Duration::from_secs(10),
                },
                Registration::LookupOnly,
            )
            .unwrap(),
        );
        let mut config = ProjectorConfig::new(
            format!("{prefix}shop-projector"),
            TopicNames::with_prefix(&prefix),
        );
        config.batch_linger = Duration::from_millis(5);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            projector::run(config, &testing::kafka(), codec, pool, stop)
                .await
                .unwrap();
        }));

        let mut settings = Settings::new(
            testing::brokers(),
            testing::registry_url(),
            db.url.clone(),
            AuthSettings::hs256(SECRET),
        );
        settings.topic_prefix = prefix;
        let state = AppState::connect(&settings).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            serve(listener, state, stop).await.unwrap();
        }));
        Self {
            base,
            client: Client::new(),
            shutdown,
            tasks,
            database,
        }
    }

    fn token(user: &str, role: Role) -> String {
        mint_hs256(SECRET.as_bytes(), user, role, Duration::from_secs(600)).unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        role: Role,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(Self::token(user, role));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Adds an item and waits for the outcome; retried while the cart's copy of the catalog
    /// has not caught up with a product seeded a moment ago.
    async fn add_item(&self, user: &str, product_id: &str, quantity: i64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .call(
                    reqwest::Method::POST,
                    "/api/v1/cart/items",
                    user,
                    Role::User,
                    Some(json!({"product_id": product_id, "quantity": quantity})),
                    &[("Prefer", "wait=10")],
                )
                .await;
            if status == StatusCode::OK {
                return;
            }
            assert!(
                status == StatusCode::UNPROCESSABLE_ENTITY
                    && body["reason_code"] == "unknown_product"
                    && Instant::now() < deadline,
                "adding {product_id}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        database::drop_database(
            &DatabaseSettings::new(testing::database_url()),
            &self.database,
        )
        .await
        .unwrap();
    }
}

async fn create_topics(prefix: &str) {
    let layout = Layout {
        prefix: prefix.to_owned(),
        partitions: 3,
        ..Layout::default()
    };
    let registry = RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    };
    shop_topics::provision(
        &testing::kafka(),
        &registry,
        &layout.specs(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
}

async fn checkout(shop: &Shop, key: &str) -> (StatusCode, Value) {
    shop.call(
        reqwest::Method::POST,
        "/api/v1/checkout",
        "alice",
        Role::User,
        Some(json!({"payment_token": "tok_visa"})),
        &[("Idempotency-Key", key)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_checks_out_over_http_and_long_polls_to_confirmed() {
    use reqwest::Method;
    let shop = Shop::start().await;

    shop.add_item("alice", "laptop", 1).await;
    shop.add_item("alice", "mouse", 2).await;
    // The cart, as the read model has it once the projector caught up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, cart) = shop
            .call(Method::GET, "/api/v1/cart", "alice", Role::User, None, &[])
            .await;
        if status == StatusCode::OK && cart["lines"].as_array().is_some_and(|l| l.len() == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cart never showed: {status} {cart}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, accepted) = checkout(&shop, "alice-checkout-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let order_id = accepted["order_id"].as_str().unwrap().to_owned();
    let status_url = accepted["status_url"].as_str().unwrap().to_owned();

    // Long-poll until the saga is over.
    let deadline = Instant::now() + Duration::from_secs(60);
    let order = loop {
        let (status, order) = shop
            .call(
                Method::GET,
                &format!("{status_url}?wait=10s"),
                "alice",
                Role::User,
                None,
                &[],
            )
            .await;
        if status == StatusCode::OK
            && matches!(
                order["status"].as_str(),
                Some("CONFIRMED" | "REJECTED" | "CANCELLED")
            )
        {
            break order;
        }
        assert!(
            Instant::now() < deadline,
            "order never ended: {status} {order}"
        );
    };
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["total_cents"], 129_999 + 2 * 2_999);
    let history: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|change| change["status"].as_str())
        .collect();
    assert_eq!(history, ["PENDING", "STOCK_RESERVED", "CONFIRMED"]);

    // The same key again: the same answer, one order.
    let (status, replay) = checkout(&shop, "alice-checkout-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    assert_eq!(replay["order_id"], order_id.as_str());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, orders) = shop
        .call(
            Method::GET,
            "/api/v1/orders",
            "alice",
            Role::User,
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{orders}");
    let ids: Vec<&str> = orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|order| order["order_id"].as_str())
        .collect();
    assert_eq!(ids, [order_id.as_str()]);

    // Another customer reaches neither the order nor anything of alice's.
    let (status, _) = shop
        .call(Method::GET, &status_url, "bob", Role::User, None, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, orders) = shop
        .call(Method::GET, "/api/v1/orders", "bob", Role::User, None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orders["items"], json!([]));

    // Only an admin writes the catalog; the admin's product is answered with 201.
    let product = json!({"name": "Webcam", "description": "sees you", "price_cents": 5_999,
                         "currency": "USD", "initial_stock": 5});
    let (status, _) = shop
        .call(
            Method::POST,
            "/api/v1/products",
            "bob",
            Role::User,
            Some(product.clone()),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = shop
        .call(
            Method::POST,
            "/api/v1/products",
            "root",
            Role::Admin,
            Some(product),
            &[("Prefer", "wait=10")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    shop.stop().await;
}
