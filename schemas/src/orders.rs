//! Order records: saga state on `orders.orders` and status transitions on `orders.events`.

use crate::common::{Money, TimestampMillis};
use serde::{Deserialize, Serialize};

/// Where an order stands (Avro enum `shop.orders.OrderStatus`).
///
/// PENDING → STOCK_RESERVED → CONFIRMED, or REJECTED (out of stock) or CANCELLED (payment
/// declined or timed out). The last three are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    StockReserved,
    Confirmed,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    /// Whether the saga is over for this order.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Confirmed | Self::Rejected | Self::Cancelled)
    }
}

/// Where one line's stock reservation stands (Avro enum `shop.orders.LineStock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineStock {
    Requested,
    Reserved,
    Rejected,
    Released,
    Committed,
}

/// The saga state of one order (Avro `shop.orders.Order`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub user_id: String,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub payment_token: String,
    pub authorization_id: Option<String>,
    /// Why the order was rejected or cancelled.
    pub reason: Option<String>,
    /// When the saga stops waiting for payment.
    pub deadline_at: Option<TimestampMillis>,
    pub version: i64,
    pub created_at: TimestampMillis,
    pub updated_at: TimestampMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub stock: LineStock,
}

/// One status transition of an order (Avro `shop.orders.OrderEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub event_id: String,
    pub order_id: String,
    pub user_id: String,
    pub status: OrderStatus,
    pub previous_status: Option<OrderStatus>,
    pub reason: Option<String>,
    pub occurred_at: TimestampMillis,
}
