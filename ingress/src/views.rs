//! What the ingress answers queries with: its own shapes, mapped from the read model's rows by
//! the [`crate::readmodel`] adapter, so the HTTP contract (and its OpenAPI schemas) does not move
//! when a table does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub product_id: String,
    pub name: String,
    pub description: String,
    /// Price in the currency's minor unit (cents).
    pub price_cents: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// Units that can be ordered now; absent until inventory has reported the product.
    pub available: Option<i32>,
    /// Grows with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's cart. A user who never added anything has an empty cart at version 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub user_id: String,
    pub version: i64,
    /// Absent for a cart that was never written.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the cart is deleted if nobody touches it.
    pub expires_at: Option<DateTime<Utc>>,
    pub lines: Vec<CartLine>,
}

impl Cart {
    /// The cart of a user who has none yet.
    pub fn empty(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            version: 0,
            updated_at: None,
            expires_at: None,
            lines: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartLine {
    pub product_id: String,
    pub quantity: i32,
    pub added_at: DateTime<Utc>,
}

/// An order and how it got where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub order_id: String,
    pub user_id: String,
    /// `PENDING`, `STOCK_RESERVED`, `CONFIRMED`, `REJECTED` or `CANCELLED`.
    pub status: String,
    pub total_cents: i64,
    pub currency: String,
    /// Set once the payment was authorised.
    pub authorization_id: Option<String>,
    /// Why the order was rejected or cancelled, e.g. `out_of_stock`.
    pub reason: Option<String>,
    /// Grows with every transition; the long poll answers when it changes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Vec<OrderLine>,
    pub history: Vec<StatusChange>,
}

impl Order {
    /// Whether the order can no longer change.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }
}

/// `CONFIRMED`, `REJECTED` and `CANCELLED` are final.
pub fn is_terminal_status(status: &str) -> bool {
    matches!(status, "CONFIRMED" | "REJECTED" | "CANCELLED")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub product_id: String,
    /// The product's name when the order was placed.
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub currency: String,
    /// The line's stock: `REQUESTED`, `RESERVED`, `REJECTED`, `RELEASED` or `COMMITTED`.
    pub stock: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: String,
    pub previous_status: Option<String>,
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// An order in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderSummary {
    pub order_id: String,
    pub status: String,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of the caller's orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
