//! The caller's cart: read from the read model, changed through cart commands keyed by the
//! caller's user id. Nobody reaches another user's cart: the user id is the token's subject.

use super::commands::{self, Reply, command_body};
use super::dto::{AddItemRequest, CommandResponse, SetQuantityRequest};
use super::extract::{ApiJson, ApiPath, CommandContext};
use super::validate;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::views::Cart;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use shop_schemas::cart::{AddItem, CartCommandBody, ClearCart, RemoveItem, SetItemQuantity};

const CART_URL: &str = "/api/v1/cart";

/// The caller's cart; an empty one at version 0 if they have none.
#[utoipa::path(
    get, path = "/api/v1/cart", tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's cart", body = Cart),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn get_cart(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Cart>, ApiError> {
    let cart = state.queries.cart(&caller.user_id).await?;
    Ok(Json(cart.unwrap_or_else(|| Cart::empty(&caller.user_id))))
}

/// Empties the caller's cart: a ClearCart command.
#[utoipa::path(
    delete, path = "/api/v1/cart", tag = "cart",
    params(("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Emptied (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn clear_cart(
    State(state): State<AppState>,
    caller: Caller,
    context: CommandContext,
) -> Result<Response, ApiError> {
    let body = CartCommandBody::ClearCart(ClearCart {});
    send(&state, &caller, &context, body).await
}

/// Adds a product to the caller's cart: an AddItem command.
#[utoipa::path(
    post, path = "/api/v1/cart/items", tag = "cart",
    request_body = AddItemRequest,
    params(("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Added (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cart is full (cart_full)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid quantity or product (unknown_product)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    caller: Caller,
    context: CommandContext,
    ApiJson(request): ApiJson<AddItemRequest>,
) -> Result<Response, ApiError> {
    validate::product_id(&request.product_id)?;
    let quantity = validate::add_quantity(request.quantity)?;
    let body = CartCommandBody::AddItem(AddItem {
        product_id: request.product_id,
        quantity,
    });
    send(&state, &caller, &context, body).await
}

/// Sets a line's quantity (0 removes it): a SetItemQuantity command.
#[utoipa::path(
    put, path = "/api/v1/cart/items/{product_id}", tag = "cart",
    request_body = SetQuantityRequest,
    params(
        ("product_id" = String, Path, description = "Product id of the line"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Set (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The product is not in the cart (not_in_cart)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quantity out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id, product_id = %product_id))]
pub(crate) async fn set_item(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(product_id): ApiPath<String>,
    context: CommandContext,
    ApiJson(request): ApiJson<SetQuantityRequest>,
) -> Result<Response, ApiError> {
    validate::product_id(&product_id)?;
    let quantity = validate::set_quantity(request.quantity)?;
    let body = CartCommandBody::SetItemQuantity(SetItemQuantity {
        product_id,
        quantity,
    });
    send(&state, &caller, &context, body).await
}

/// Removes a line: a RemoveItem command.
#[utoipa::path(
    delete, path = "/api/v1/cart/items/{product_id}", tag = "cart",
    params(
        ("product_id" = String, Path, description = "Product id of the line"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The product is not in the cart (not_in_cart)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid product id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id, product_id = %product_id))]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(product_id): ApiPath<String>,
    context: CommandContext,
) -> Result<Response, ApiError> {
    validate::product_id(&product_id)?;
    let body = CartCommandBody::RemoveItem(RemoveItem { product_id });
    send(&state, &caller, &context, body).await
}

async fn send(
    state: &AppState,
    caller: &Caller,
    context: &CommandContext,
    body: CartCommandBody,
) -> Result<Response, ApiError> {
    let sent = commands::send(state, context, commands::cart(&caller.user_id, body)).await?;
    let body = command_body(&sent.command_id, CART_URL.to_owned());
    Ok(commands::respond(&sent, &Reply::ok(), body))
}
