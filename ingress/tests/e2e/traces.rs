//! One checkout is one trace. The real binaries run as processes, as a deployment runs them:
//! `shop-processors` (all five processors), `shop-projector` and `shop-ingress`, against the
//! real broker, registry and PostgreSQL, each with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an
//! OTLP/HTTP receiver this test serves on 127.0.0.1. A customer checks out over HTTP with a
//! `traceparent` of the test's; once the order is confirmed every binary is stopped with
//! SIGTERM. The batch delay is set far beyond the test, so the spans arrive only through the
//! flush at shutdown (the telemetry guard). The spans of the checkout's trace must come from
//! every hop (ingress, cart, orders, inventory, payment, projector) and form one tree: each
//! hop a child of the hop whose record it handled, every parent present but the caller's.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use shop_ingress::auth::{Role, mint_hs256};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use shop_topics::TopicNames;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The service name the projector is given through `OTEL_SERVICE_NAME`; the others are named
/// after their binaries.
const PROJECTOR_SERVICE: &str = "shop-projector-e2e";

/// One span as received, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// What the OTLP/HTTP receiver has been sent.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

impl Collector {
    /// Serves `POST /v1/traces` (protobuf) on 127.0.0.1; returns the endpoint's base URL.
    async fn serve(&self) -> String {
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

async fn receive(
    axum::extract::State(collector): axum::extract::State<Collector>,
    body: axum::body::Bytes,
) -> (StatusCode, Vec<u8>) {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string().into_bytes()),
    };
    let mut received = collector.0.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .map(|resource| attributes(&resource.attributes))
            .and_then(|mut attributes| attributes.remove("service.name"))
            .unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            received.push(Received {
                service: service.clone(),
                name: span.name,
                kind: span.kind,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: attributes(&span.attributes),
            });
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .filter_map(|pair| {
            let value = match pair.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(text) => text.clone(),
                AnyValue::IntValue(number) => number.to_string(),
                AnyValue::BoolValue(flag) => flag.to_string(),
                AnyValue::DoubleValue(number) => number.to_string(),
                _ => return None,
            };
            Some((pair.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The binaries of other packages this test runs, built now (a no-op when they are fresh)
/// into the target directory and profile this test was built with: `CARGO_BIN_EXE_…` only
/// names the ingress's own.
fn build_other_binaries() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap(); // <target>/<profile>/deps/e2e-…
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected test binary location {}", exe.display()),
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--profile", profile, "--target-dir"])
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .args(["-p", "shop-processors", "--bin", "shop-processors"])
        .args(["-p", "shop-readmodel", "--bin", "shop-projector"])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building shop-processors and shop-projector"
    );
    (
        profile_dir.join("shop-processors"),
        profile_dir.join("shop-projector"),
    )
}

/// A free port on 127.0.0.1 for the ingress (its binary binds what it is told).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A binary this test started; killed if the test fails before stopping it, so a failure
/// leaves no process behind.
struct Running {
    name: &'static str,
    child: Option<Child>,
}

impl Running {
    /// Starts `binary` with the stack's addresses, `env`, and span export to `otlp`.
    fn start(name: &'static str, binary: &Path, otlp: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        command
            .env("SHOP_KAFKA_BROKERS", testing::brokers())
            .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
            // Ports and export targets of the caller's environment are not this test's.
            .env_remove("SHOP_METRICS_ADDR")
            .env_remove("SHOP_MONITOR_ADDR")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .env_remove("OTEL_SERVICE_NAME")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
            // Nothing is sent on a timer during the test: only the flush at shutdown sends.
            .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        Self {
            name,
            child: Some(child),
        }
    }

    /// SIGTERM, then a clean exit within a minute.
    async fn stop(mut self) {
        let name = self.name;
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "signalling {name}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("{name} did not stop within a minute of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{name} exited with {status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP caller of the ingress.
struct Caller {
    base: String,
    client: Client,
}

impl Caller {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let token = mint_hs256(
            super::SECRET.as_bytes(),
            "tracy",
            Role::User,
            Duration::from_secs(600),
        )
        .unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
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

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .client
                .get(format!("{}/ready", self.base))
                .send()
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the ingress never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Adds an item, retried while the cart's copy of the catalog lacks the seeded product.
    async fn add_item(&self, product_id: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .call(
                    Method::POST,
                    "/api/v1/cart/items",
                    Some(json!({"product_id": product_id, "quantity": 1})),
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

    /// Long-polls the order until the saga is over; its final status.
    async fn final_status(&self, order_id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, order) = self
                .call(
                    Method::GET,
                    &format!("/api/v1/orders/{order_id}?wait=10s"),
                    None,
                    &[],
                )
                .await;
            if status == StatusCode::OK
                && let Some(state @ ("CONFIRMED" | "REJECTED" | "CANCELLED")) =
                    order["status"].as_str()
            {
                return state.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "order never ended: {status} {order}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_checkout_is_one_trace_from_the_request_through_every_hop() {
    testing::init_logs();
    let (processors_binary, projector_binary) = build_other_binaries();
    let collector = Collector::default();
    let otlp = collector.serve().await;

    let prefix = format!("{}.", testing::unique("e2e_trace"));
    super::create_topics(&prefix).await;
    let topics = TopicNames::with_prefix(&prefix);
    let database = testing::unique("ingress_trace");
    let server = DatabaseSettings::new(testing::database_url());
    let database_url = database::create_database(&server, &database)
        .await
        .unwrap()
        .url;

    let port = free_port().to_string();
    let http_addr = format!("127.0.0.1:{port}");
    let processors = Running::start(
        "shop-processors",
        &processors_binary,
        &otlp,
        &[("SHOP_TOPIC_PREFIX", &prefix), ("SHOP_BATCH_LINGER", "5ms")],
    );
    let projector = Running::start(
        "shop-projector",
        &projector_binary,
        &otlp,
        &[
            ("SHOP_TOPIC_PREFIX", &prefix),
            ("SHOP_DATABASE_URL", &database_url),
            ("SHOP_PROJECTOR_BATCH_LINGER", "5ms"),
            ("OTEL_SERVICE_NAME", PROJECTOR_SERVICE),
        ],
    );
    let ingress = Running::start(
        "shop-ingress",
        Path::new(env!("CARGO_BIN_EXE_shop-ingress")),
        &otlp,
        &[
            ("SHOP_TOPIC_PREFIX", &prefix),
            ("SHOP_DATABASE_URL", &database_url),
            ("SHOP_HTTP_ADDR", &http_addr),
            ("SHOP_JWT_SECRET", super::SECRET),
        ],
    );
    let caller = Caller {
        base: format!("http://{http_addr}"),
        client: Client::new(),
    };
    caller.wait_until_ready().await;

    caller.add_item("laptop").await;
    // The caller's own trace: the ingress continues it.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let (status, accepted) = caller
        .call(
            Method::POST,
            "/api/v1/checkout",
            Some(json!({"payment_token": "tok_visa"})),
            &[
                ("Idempotency-Key", "trace-checkout-1"),
                ("traceparent", &traceparent),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let order_id = accepted["order_id"].as_str().unwrap().to_owned();
    assert_eq!(caller.final_status(&order_id).await, "CONFIRMED");
    assert!(
        collector.spans().is_empty(),
        "nothing is sent before shutdown with a 10-minute batch delay"
    );

    ingress.stop().await;
    processors.stop().await;
    projector.stop().await;
    database::drop_database(&server, &database).await.unwrap();

    let trace: Vec<Received> = collector
        .spans()
        .into_iter()
        .filter(|span| span.trace_id == trace_id)
        .collect();
    let listing = trace
        .iter()
        .map(|span| {
            format!(
                "{} {} {}<-{}",
                span.service, span.name, span.span_id, span.parent_span_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let by_id: HashMap<&str, &Received> = trace
        .iter()
        .map(|span| (span.span_id.as_str(), span))
        .collect();

    // The ingress's server span is the trace's only root here, a child of the caller's span.
    let roots: Vec<&Received> = trace
        .iter()
        .filter(|span| !by_id.contains_key(span.parent_span_id.as_str()))
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "one root, every other parent present:\n{listing}"
    );
    let server = roots[0];
    assert_eq!(server.service, "shop-ingress", "{listing}");
    assert_eq!(server.name, "POST /api/v1/checkout", "{listing}");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        server.parent_span_id, caller_span,
        "the caller's span is the parent"
    );
    assert_eq!(server.attribute("http.response.status_code"), Some("202"));

    // Each processor hop: spans of shop-processors named `process <topic>`, consumer spans
    // with the messaging attributes, each a child of a span of `parents`.
    let hops = |processor: &str, topic: &str, parents: &[Received]| -> Vec<Received> {
        let found: Vec<Received> = trace
            .iter()
            .filter(|span| {
                span.service == "shop-processors"
                    && span.attribute("shop.processor") == Some(processor)
                    && span.name == format!("process {topic}")
            })
            .cloned()
            .collect();
        assert!(
            !found.is_empty(),
            "no {processor} span for {topic}:\n{listing}"
        );
        for span in &found {
            assert_eq!(span.kind, SpanKind::Consumer as i32, "{span:?}");
            assert_eq!(span.attribute("messaging.system"), Some("kafka"));
            assert_eq!(span.attribute("messaging.destination.name"), Some(topic));
            assert!(
                span.attribute("messaging.kafka.offset").is_some(),
                "{span:?}"
            );
            assert!(
                parents
                    .iter()
                    .any(|parent| parent.span_id == span.parent_span_id),
                "{processor} on {topic} hangs below {}, not the hop that wrote its \
                 record:\n{listing}",
                span.parent_span_id
            );
        }
        found
    };
    let orders: Vec<Received> = trace
        .iter()
        .filter(|span| span.attribute("shop.processor") == Some("orders"))
        .cloned()
        .collect();
    let cart = hops("cart", &topics.cart_commands, std::slice::from_ref(server));
    let orders_started = hops("orders", &topics.checkout_requested, &cart);
    // Reserved when the saga starts, committed when it is paid: both below an orders hop.
    let inventory = hops("inventory", &topics.inventory_commands, &orders);
    assert!(
        inventory.iter().any(|span| orders_started
            .iter()
            .any(|parent| parent.span_id == span.parent_span_id)),
        "the reservation hangs below the saga's start:\n{listing}"
    );
    let orders_reserved = hops("orders", &topics.inventory_events, &inventory);
    let payment = hops("payment", &topics.payment_commands, &orders_reserved);
    hops("orders", &topics.payment_events, &payment);

    // The projector's spans hang below the processor hops whose records they projected,
    // among them the confirmed order the long poll saw.
    let projected: Vec<&Received> = trace
        .iter()
        .filter(|span| span.service == PROJECTOR_SERVICE)
        .collect();
    assert!(
        projected
            .iter()
            .any(|span| span.name == format!("project {}", topics.orders_orders)),
        "no projector span for the order:\n{listing}"
    );
    for span in projected {
        assert!(span.name.starts_with("project "), "{span:?}");
        assert_eq!(span.kind, SpanKind::Consumer as i32, "{span:?}");
        let parent = by_id[span.parent_span_id.as_str()];
        assert_eq!(
            parent.service, "shop-processors",
            "{span:?} below {parent:?}"
        );
    }
}
