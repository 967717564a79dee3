//! What is sent: `POST /api/v1/cart/items` adding one of a product to the cart of one of many
//! users, each with a token of their own, so the commands' keys (the user ids) spread over the
//! partitions like a shop's traffic does rather than queueing behind one key.
//!
//! Everything is made before the clock starts; making request `n` only clones shared buffers.

use crate::client;
use anyhow::{Context, ensure};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, Request, Uri};
use shop_ingress::auth::{Role, mint_hs256};
use std::net::SocketAddr;
use std::time::Duration;

/// The route under load.
pub(crate) const PATH: &str = "/api/v1/cart/items";

/// Tokens must outlive the longest run; an hour leaves room for any flags.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The prepared requests' parts.
#[derive(Debug)]
pub(crate) struct Workload {
    host: HeaderValue,
    uri: Uri,
    json: HeaderValue,
    /// `Bearer <token>` per user.
    tokens: Vec<HeaderValue>,
    /// `{"product_id": …, "quantity": 1}` per product.
    bodies: Vec<Bytes>,
}

impl Workload {
    /// Mints a token per user with `secret` (the ingress's `SHOP_JWT_SECRET`).
    ///
    /// # Errors
    /// If `users` or `products` is 0, or a token cannot be minted.
    pub(crate) fn new(
        addr: SocketAddr,
        secret: &str,
        users: usize,
        products: usize,
    ) -> anyhow::Result<Self> {
        ensure!(users > 0, "--users must be at least 1");
        ensure!(products > 0, "--products must be at least 1");
        let tokens = (0..users)
            .map(|index| {
                let token = mint_hs256(secret.as_bytes(), &user_id(index), Role::User, TOKEN_TTL)?;
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .context("a token is not a header value")
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .context("while minting the users' tokens")?;
        let bodies = (0..products)
            .map(|index| {
                let body = serde_json::json!({"product_id": product_id(index), "quantity": 1});
                Bytes::from(body.to_string())
            })
            .collect();
        Ok(Self {
            host: HeaderValue::from_str(&addr.to_string()).context("while naming the host")?,
            uri: Uri::from_static(PATH),
            json: HeaderValue::from_static("application/json"),
            tokens,
            bodies,
        })
    }

    /// Request number `n`: user `n mod users`, product `n mod products`.
    pub(crate) fn request(&self, n: usize) -> Request<Full<Bytes>> {
        let mut headers = HeaderMap::with_capacity(4);
        if let Some(token) = self.tokens.get(n % self.tokens.len()) {
            headers.insert(AUTHORIZATION, token.clone());
        }
        headers.insert(CONTENT_TYPE, self.json.clone());
        let body = self
            .bodies
            .get(n % self.bodies.len())
            .cloned()
            .unwrap_or_default();
        client::request(
            Method::POST,
            self.uri.clone(),
            self.host.clone(),
            headers,
            body,
        )
    }

    /// A body's size in bytes, for the results.
    pub(crate) fn body_bytes(&self) -> usize {
        self.bodies.first().map_or(0, Bytes::len)
    }
}

/// The id of user `index`: the token's subject, the command's `user_id` and the record key.
pub(crate) fn user_id(index: usize) -> String {
    format!("bench-user-{index:06}")
}

/// The id of product `index`. No product needs to exist: the ingress checks the id's shape
/// only, and no processor runs on the bench's topics to decide.
pub(crate) fn product_id(index: usize) -> String {
    format!("bench-product-{index:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_cycle_through_users_and_products() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let workload = Workload::new(addr, "secret", 3, 2).unwrap();
        let auth = |n| workload.request(n).headers()[AUTHORIZATION].clone();
        assert_eq!(auth(0), auth(3));
        assert_ne!(auth(0), auth(1));
        let request = workload.request(5);
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), PATH);
        assert_eq!(request.headers()[CONTENT_TYPE], "application/json");
        assert!(workload.body_bytes() > 0);
    }
}
