//! The hand-over from cart to the orders saga: `checkout.requested`.

use crate::common::{Money, TimestampMillis};
use serde::{Deserialize, Serialize};

/// A cart priced from the catalog at checkout time (Avro `shop.checkout.CheckoutRequested`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRequested {
    pub order_id: String,
    pub user_id: String,
    /// The `Checkout` command this came from.
    pub command_id: String,
    pub payment_token: String,
    pub lines: Vec<PricedLine>,
    pub total: Money,
    pub requested_at: TimestampMillis,
}

/// One cart line with the catalog's name and price at checkout time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Money,
}
