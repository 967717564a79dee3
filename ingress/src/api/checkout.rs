//! Checkout: turns the caller's cart into an order. The order id is chosen here, derived from
//! the caller and their `Idempotency-Key`, so a retried request (on any instance) names the same
//! order, and the cart processor answers a repeated checkout of an order without a second one.

use super::commands::{self, Reply};
use super::dto::{CheckoutRequest, CheckoutResponse, CommandStatus};
use super::extract::{ApiJson, CommandContext, idempotency_key};
use super::validate;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use shop_schemas::cart::{CartCommandBody, Checkout};
use uuid::Uuid;

/// The namespace of order ids (UUID v5). Fixed forever: changing it would give a retried
/// checkout a new order id.
pub const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x1877_945f_45c5_4093_aad4_8d5c_bb5d_6f77);

/// The order id of `user_id`'s checkout with `idempotency_key`: UUID v5 of
/// `"<user id>\n<idempotency key>"`. A user id never holds a newline (tokens with one are
/// refused), so two different pairs never share a name.
pub fn order_id(user_id: &str, idempotency_key: &str) -> String {
    Uuid::new_v5(
        &ORDER_ID_NAMESPACE,
        format!("{user_id}\n{idempotency_key}").as_bytes(),
    )
    .to_string()
}

/// Orders the caller's cart: a Checkout command with a deterministic order id.
#[utoipa::path(
    post, path = "/api/v1/checkout", tag = "orders",
    request_body = CheckoutRequest,
    params(
        ("Idempotency-Key" = String, Header, description = "Required. The same key gives the same order"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Checkout accepted by the cart (after Prefer: wait); the order is on its way", body = CheckoutResponse),
        (status = 202, description = "Checkout sent; follow status_url", body = CheckoutResponse),
        (status = 400, description = "Malformed JSON or missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cart is empty (empty_cart)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid token, or the cart cannot be ordered", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id, order_id))]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    context: CommandContext,
    ApiJson(request): ApiJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    validate::payment_token(&request.payment_token)?;
    let order_id = order_id(&caller.user_id, &key);
    tracing::Span::current().record("order_id", order_id.as_str());
    let body = CartCommandBody::Checkout(Checkout {
        order_id: order_id.clone(),
        payment_token: request.payment_token,
    });
    let sent = commands::send(&state, &context, commands::cart(&caller.user_id, body)).await?;
    let command_id = sent.command_id.clone();
    Ok(commands::respond(&sent, &Reply::ok(), move |outcome| {
        CheckoutResponse {
            status_url: format!("/api/v1/orders/{order_id}"),
            order_id,
            command_id,
            status: if outcome.is_some() {
                CommandStatus::Accepted
            } else {
                CommandStatus::Pending
            },
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_stable_and_per_user() {
        assert_eq!(order_id("alice", "k1"), order_id("alice", "k1"));
        assert_ne!(order_id("alice", "k1"), order_id("bob", "k1"));
        assert_ne!(order_id("alice", "k1"), order_id("alice", "k2"));
        // Pinned: a change here changes every retried checkout's order.
        assert_eq!(
            order_id("alice", "k1"),
            Uuid::new_v5(&ORDER_ID_NAMESPACE, b"alice\nk1").to_string()
        );
        assert_eq!(
            Uuid::parse_str(&order_id("alice", "k1"))
                .unwrap()
                .get_version_num(),
            5
        );
    }
}
