//! A test app around the real router with the fakes of `fakes.rs`, and request helpers. No
//! socket, broker or database: requests go through `Router::oneshot`.

pub(crate) use crate::fakes::{
    FakeOutcomes, FakeQueries, FakeSink, Script, SinkMode, cart, order, product,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use shop_ingress::auth::{Authenticator, Role, mint_hs256};
use shop_ingress::ports::CommandSink;
use shop_ingress::{AppState, HttpSettings, RateLimitSettings, router};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

pub(crate) const SECRET: &[u8] = b"router-test-secret-of-at-least-32-bytes";

use crate::fakes::Events;

/// The router over fakes, and the fakes, to script and inspect.
pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) sink: Arc<FakeSink>,
    pub(crate) outcomes: Arc<FakeOutcomes>,
    pub(crate) queries: Arc<FakeQueries>,
    pub(crate) events: Events,
}

/// Settings for tests: short waits, fast polls, no rate limit.
pub(crate) fn test_http() -> HttpSettings {
    HttpSettings {
        body_limit_bytes: 64 * 1024,
        rate_limit: None,
        max_wait: Duration::from_secs(30),
        poll_interval: Duration::from_millis(10),
        readiness_timeout: Duration::from_millis(500),
    }
}

pub(crate) struct Builder {
    http: HttpSettings,
    auth: Authenticator,
    gate: Option<Arc<Semaphore>>,
    bounded: Option<usize>,
}

impl Builder {
    pub(crate) fn http(mut self, change: impl FnOnce(&mut HttpSettings)) -> Self {
        change(&mut self.http);
        self
    }

    pub(crate) fn rate_limit(self, per_second: f64, burst: u32) -> Self {
        self.http(|http| http.rate_limit = Some(RateLimitSettings { per_second, burst }))
    }

    pub(crate) fn auth(mut self, auth: Authenticator) -> Self {
        self.auth = auth;
        self
    }

    /// Sends wait for a permit of `gate`; the sink is wrapped in a `BoundedSink` of `max`.
    pub(crate) fn gated(mut self, gate: Arc<Semaphore>, max_in_flight: usize) -> Self {
        self.gate = Some(gate);
        self.bounded = Some(max_in_flight);
        self
    }

    pub(crate) fn build(self) -> TestApp {
        let events: Events = Arc::default();
        let sink = Arc::new(FakeSink::new(self.gate, Arc::clone(&events)));
        let outcomes = Arc::new(FakeOutcomes::new(Arc::clone(&events)));
        let queries = Arc::new(FakeQueries::default());
        let state_sink: Arc<dyn CommandSink> = match self.bounded {
            Some(max) => Arc::new(shop_ingress::sink::BoundedSink::new(sink.clone(), max)),
            None => sink.clone(),
        };
        let state = AppState::new(
            state_sink,
            outcomes.clone(),
            queries.clone(),
            self.auth,
            self.http,
        );
        TestApp {
            router: router(state),
            sink,
            outcomes,
            queries,
            events,
        }
    }
}

pub(crate) fn app() -> Builder {
    Builder {
        http: test_http(),
        auth: Authenticator::hs256(SECRET),
        gate: None,
        bounded: None,
    }
}

pub(crate) fn spawn_app() -> TestApp {
    app().build()
}

pub(crate) fn token(sub: &str, role: Role) -> String {
    mint_hs256(SECRET, sub, role, Duration::from_secs(600)).unwrap()
}

pub(crate) fn user(sub: &str) -> String {
    token(sub, Role::User)
}

pub(crate) fn admin(sub: &str) -> String {
    token(sub, Role::Admin)
}

/// A request being put together.
pub(crate) struct Call {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl TestApp {
    pub(crate) fn call(&self, method: Method, uri: &str) -> Call {
        Call {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(uri),
            body: Body::empty(),
        }
    }

    pub(crate) fn get(&self, uri: &str) -> Call {
        self.call(Method::GET, uri)
    }

    pub(crate) fn post(&self, uri: &str) -> Call {
        self.call(Method::POST, uri)
    }

    pub(crate) fn put(&self, uri: &str) -> Call {
        self.call(Method::PUT, uri)
    }

    pub(crate) fn delete(&self, uri: &str) -> Call {
        self.call(Method::DELETE, uri)
    }
}

impl Call {
    pub(crate) fn token(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION.as_str(), &format!("Bearer {token}"))
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub(crate) fn json(mut self, body: &Value) -> Self {
        self.builder = self
            .builder
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(body.to_string());
        self
    }

    pub(crate) fn raw(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.builder = self.builder.header(header::CONTENT_TYPE, content_type);
        self.body = body.into();
        self
    }

    pub(crate) async fn send(self) -> Answer {
        let request = self.builder.body(self.body).unwrap();
        let response = self.router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: body.to_vec(),
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts the status, and for errors the problem+json shape; returns the body.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        if status >= 400 {
            self.expect_problem(status)
        } else if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    #[track_caller]
    pub(crate) fn expect_problem(&self, status: u16) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "status {status}"
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{problem}");
        for field in ["type", "title", "detail"] {
            assert!(problem[field].is_string(), "{field} missing: {problem}");
        }
        problem
    }
}
