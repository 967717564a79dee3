//! Cart records: commands on `cart.commands` and cart state on `cart.carts`.

use crate::common::TimestampMillis;
use serde::{Deserialize, Serialize};

/// A command against one user's cart (Avro `shop.cart.CartCommand`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartCommand {
    /// Unique per command; its outcome on `commands.outcomes` is keyed by it.
    pub command_id: String,
    pub issued_at: TimestampMillis,
    pub user_id: String,
    pub body: CartCommandBody,
}

/// What a [`CartCommand`] asks for. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartCommandBody {
    AddItem(AddItem),
    SetItemQuantity(SetItemQuantity),
    RemoveItem(RemoveItem),
    ClearCart(ClearCart),
    Checkout(Checkout),
}

/// Adds `quantity` of a product; the same product again adds up, capped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddItem {
    pub product_id: String,
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetItemQuantity {
    pub product_id: String,
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveItem {
    pub product_id: String,
}

/// Empties the cart. An Avro record with no fields, so it stays a distinct union branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearCart {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// Chosen by the ingress, so a retried checkout maps to one order.
    pub order_id: String,
    pub payment_token: String,
}

/// Current state of a user's cart (Avro `shop.cart.Cart`); an expired cart is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub user_id: String,
    pub lines: Vec<CartLine>,
    pub version: i64,
    pub updated_at: TimestampMillis,
    /// When the cart processor deletes the cart if nobody touches it; `None` in carts written
    /// before the field existed (they never expire until touched).
    #[serde(default)]
    pub expires_at: Option<TimestampMillis>,
    /// Order ids of the latest checkouts, newest last: a repeated checkout of one of them is
    /// answered again without a second order (idempotent checkout).
    #[serde(default)]
    pub recent_order_ids: Vec<String>,
    /// Ids of the latest commands handled for this cart, accepted or rejected, newest last: a
    /// command record seen again is dropped, so it keeps exactly one outcome.
    #[serde(default)]
    pub recent_command_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub quantity: i32,
    pub added_at: TimestampMillis,
}
