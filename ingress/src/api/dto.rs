//! Request bodies and the answers to commands. Query answers are in [`crate::views`].
//! Bodies refuse unknown fields, so a misspelt field is a 422, not a silent default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A new product (admin).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 1 to 64 of `A-Z a-z 0-9 . _ -`; a random UUID when absent.
    pub product_id: Option<String>,
    /// Not blank, at most 200 characters.
    pub name: String,
    /// At most 2,000 characters; empty when absent.
    #[serde(default)]
    pub description: String,
    /// Greater than 0, in the currency's minor unit.
    pub price_cents: i64,
    /// ISO 4217, three capital letters.
    pub currency: String,
    /// Units in stock at creation, 0 to 1,000,000; 0 when absent.
    #[serde(default)]
    pub initial_stock: i64,
}

/// A change of a product (admin): either `name` and `description` (an UpdateProduct command),
/// or `price_cents` and `currency` (a ChangePrice command), never both kinds in one request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
}

/// Units arriving in stock (admin).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockRequest {
    /// 1 to 1,000,000.
    pub quantity: i64,
}

/// A product into the caller's cart; the same product again adds up (capped at 99).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    pub product_id: String,
    /// 1 to 99.
    pub quantity: i64,
}

/// A line's new quantity.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantityRequest {
    /// 0 to 99; 0 removes the line.
    pub quantity: i64,
}

/// Order what is in the caller's cart.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// From the payment provider; 1 to 256 characters.
    pub payment_token: String,
}

/// Where a command stands when the request answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandStatus {
    /// On Kafka, not decided yet (202).
    Pending,
    /// Decided and accepted (200 or 201, after `Prefer: wait`).
    Accepted,
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandResponse {
    /// Its outcome on `commands.outcomes` is keyed by it.
    pub command_id: String,
    pub status: CommandStatus,
    /// Where to read the result, e.g. `/api/v1/products/laptop`.
    pub resource: String,
    /// What the command created or changed, when decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

/// The answer to a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckoutResponse {
    /// The same for the same user and `Idempotency-Key`, on every instance.
    pub order_id: String,
    /// `/api/v1/orders/<order_id>`; poll it (with `?wait=`) for the order's progress.
    pub status_url: String,
    /// Fresh per request, even for a repeated key.
    pub command_id: String,
    pub status: CommandStatus,
}

/// The answer of `/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The answer of `/ready` when every dependency answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    /// `ok` or `unavailable` per dependency.
    pub checks: BTreeMap<String, String>,
}

/// Which products to list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListParams {
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Words to find in the name or description.
    pub q: Option<String>,
    /// Lowest price, in cents.
    pub min_price: Option<i64>,
    /// Highest price, in cents.
    pub max_price: Option<i64>,
}

/// Which page of the caller's orders.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// How long to wait for an order to change.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderWaitParams {
    /// Long poll: answer when the order changes, ends, or after this long (`10s`, `500ms` or
    /// whole seconds; at most 30 s).
    pub wait: Option<String>,
}
