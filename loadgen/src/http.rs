//! The ingress as the load generator calls it: the few routes a shopper and the set-up use
//! (`docs/ingress.md`), each answer reduced to what the tallies need.
//!
//! It owns no schedule and no measurement; callers time the calls. One pooled keep-alive client
//! serves every request: HTTP/1.1 holds one request per connection at a time, so an open loop
//! with N requests outstanding holds N connections, which the pool opens on demand.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Why the ingress could not be used at all (set-up), as opposed to one request failing
/// during the load, which is a tallied [`Answer`].
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{what} failed: {source}")]
    Request {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} answered {status}: {body}")]
    Status {
        what: String,
        status: StatusCode,
        body: String,
    },
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer: its status and, for a checkout accepted with 202, the command id.
    Status {
        status: u16,
        command_id: Option<String>,
    },
    /// No HTTP answer: a short, bounded label (`timeout`, `connect`, …).
    Failed(&'static str),
}

impl Answer {
    /// `202 Accepted`: the command is durable on Kafka.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Status { status: 202, .. })
    }

    /// The label it is tallied under: the status code, or the failure.
    pub fn label(&self) -> String {
        match self {
            Self::Status { status, .. } => status.to_string(),
            Self::Failed(kind) => (*kind).to_owned(),
        }
    }
}

/// The body of a checkout's 202; only the command id is needed (the order id is computed
/// before sending, see `load`).
#[derive(Debug, Deserialize)]
struct CheckoutAccepted {
    command_id: String,
}

/// The ingress at one base URL.
#[derive(Debug, Clone)]
pub struct Ingress {
    client: Client,
    base: String,
}

impl Ingress {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) whose every request gives up after
    /// `timeout`.
    ///
    /// # Errors
    /// [`IngressError::Client`] if reqwest cannot build its client.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, IngressError> {
        let client = Client::builder()
            // A load generator on loopback must not be routed through an HTTP_PROXY.
            .no_proxy()
            // Small requests must not wait for the previous segment's ACK (Nagle).
            .tcp_nodelay(true)
            .http1_only()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(IngressError::Client)?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    fn bearer(token: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("Bearer {token}")).ok()
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(value) = token.and_then(Self::bearer) {
            request = request.header(AUTHORIZATION, value);
        }
        request
    }

    /// Sends a set-up request and returns its status and body text.
    async fn call(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, String), IngressError> {
        let response = request
            .send()
            .await
            .map_err(|source| IngressError::Request {
                what: what.to_owned(),
                source,
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|source| IngressError::Request {
                what: what.to_owned(),
                source,
            })?;
        Ok((status, body))
    }

    /// `GET /ready` answers 200: the broker, registry, database and outcome listener are up.
    ///
    /// # Errors
    /// [`IngressError`] naming what is not ready (the body lists the checks).
    pub async fn ready(&self) -> Result<(), IngressError> {
        let what = format!("GET {}/ready", self.base);
        let (status, body) = self
            .call(&what, self.request(Method::GET, "/ready", None))
            .await?;
        if status == StatusCode::OK {
            Ok(())
        } else {
            Err(IngressError::Status { what, status, body })
        }
    }

    /// Creates a product with `initial_stock` units, waiting for the catalog's decision
    /// (`Prefer: wait`): 201 once the catalog accepted it.
    ///
    /// # Errors
    /// [`IngressError`] on any other answer.
    pub async fn create_product(
        &self,
        admin_token: &str,
        product_id: &str,
        price_cents: i64,
        initial_stock: u32,
    ) -> Result<(), IngressError> {
        let what = format!("creating product {product_id}");
        let body = json!({
            "product_id": product_id,
            "name": format!("Load test {product_id}"),
            "description": "made by shop-load",
            "price_cents": price_cents,
            "currency": "USD",
            "initial_stock": initial_stock,
        });
        let request = self
            .request(Method::POST, "/api/v1/products", Some(admin_token))
            .header("Prefer", "wait=10")
            .json(&body);
        match self.call(&what, request).await? {
            (StatusCode::CREATED, _) => Ok(()),
            (status, body) => Err(IngressError::Status { what, status, body }),
        }
    }

    /// Adds `quantity` units to `product_id`'s stock, waiting for the catalog's decision.
    ///
    /// # Errors
    /// [`IngressError`] on any answer but 200.
    pub async fn restock(
        &self,
        admin_token: &str,
        product_id: &str,
        quantity: u32,
    ) -> Result<(), IngressError> {
        let what = format!("restocking {product_id}");
        let request = self
            .request(
                Method::POST,
                &format!("/api/v1/products/{product_id}/restock"),
                Some(admin_token),
            )
            .header("Prefer", "wait=10")
            .json(&json!({ "quantity": quantity }));
        match self.call(&what, request).await? {
            (StatusCode::OK, _) => Ok(()),
            (status, body) => Err(IngressError::Status { what, status, body }),
        }
    }

    /// Adds one unit of `product_id` to the caller's cart and waits for the cart's decision:
    /// `Ok(true)` once accepted, `Ok(false)` while the cart does not know the product yet (its
    /// copy of the catalog follows a moment behind).
    ///
    /// # Errors
    /// [`IngressError`] on any other answer.
    pub async fn probe_add_item(
        &self,
        token: &str,
        product_id: &str,
    ) -> Result<bool, IngressError> {
        let what = format!("adding {product_id} to a probe cart");
        let request = self
            .request(Method::POST, "/api/v1/cart/items", Some(token))
            .header("Prefer", "wait=5")
            .json(&json!({ "product_id": product_id, "quantity": 1 }));
        match self.call(&what, request).await? {
            (StatusCode::OK, _) => Ok(true),
            (StatusCode::UNPROCESSABLE_ENTITY, body) if body.contains("unknown_product") => {
                Ok(false)
            }
            (status, body) => Err(IngressError::Status { what, status, body }),
        }
    }

    /// Empties the caller's cart, waiting for the decision.
    ///
    /// # Errors
    /// [`IngressError`] on any answer but 200.
    pub async fn clear_cart(&self, token: &str) -> Result<(), IngressError> {
        let what = "clearing a probe cart".to_owned();
        let request = self
            .request(Method::DELETE, "/api/v1/cart", Some(token))
            .header("Prefer", "wait=5");
        match self.call(&what, request).await? {
            (StatusCode::OK, _) => Ok(()),
            (status, body) => Err(IngressError::Status { what, status, body }),
        }
    }

    /// `POST /api/v1/cart/items` without waiting for the outcome: answers at 202, once the
    /// command is on Kafka.
    pub async fn add_item(&self, token: &str, product_id: &str, quantity: u32) -> Answer {
        let request = self
            .request(Method::POST, "/api/v1/cart/items", Some(token))
            .json(&json!({ "product_id": product_id, "quantity": quantity }));
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the whole body, so the connection goes back to the pool.
                match response.bytes().await {
                    Ok(_) => Answer::Status {
                        status,
                        command_id: None,
                    },
                    Err(error) => Answer::Failed(failure_kind(&error)),
                }
            }
            Err(error) => Answer::Failed(failure_kind(&error)),
        }
    }

    /// `POST /api/v1/checkout` with `idempotency_key`, without waiting for the outcome.
    pub async fn checkout(
        &self,
        token: &str,
        idempotency_key: &str,
        payment_token: &str,
    ) -> Answer {
        let request = self
            .request(Method::POST, "/api/v1/checkout", Some(token))
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({ "payment_token": payment_token }));
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => Answer::Status {
                        status,
                        command_id: (status == 202)
                            .then(|| serde_json::from_slice::<CheckoutAccepted>(&body).ok())
                            .flatten()
                            .map(|accepted| accepted.command_id),
                    },
                    Err(error) => Answer::Failed(failure_kind(&error)),
                }
            }
            Err(error) => Answer::Failed(failure_kind(&error)),
        }
    }
}

/// A short, bounded label for a request with no HTTP answer; never per-request text, so the
/// tallies stay small.
fn failure_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else if error.is_request() {
        "request"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_statuses_or_failure_kinds() {
        let accepted = Answer::Status {
            status: 202,
            command_id: Some("c1".to_owned()),
        };
        assert!(accepted.is_accepted());
        assert_eq!(accepted.label(), "202");
        let limited = Answer::Status {
            status: 429,
            command_id: None,
        };
        assert!(!limited.is_accepted());
        assert_eq!(limited.label(), "429");
        assert_eq!(Answer::Failed("timeout").label(), "timeout");
    }

    #[test]
    fn the_base_url_loses_its_trailing_slash() {
        let ingress = Ingress::new("http://127.0.0.1:8080/", Duration::from_secs(1)).unwrap();
        assert_eq!(ingress.base, "http://127.0.0.1:8080");
    }
}
