//! Inventory records: commands on `inventory.commands`, stock state on `inventory.stock` and the
//! answers on `inventory.events`.

use crate::common::TimestampMillis;
use serde::{Deserialize, Serialize};

/// A stock operation on one product (Avro `shop.inventory.InventoryCommand`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCommand {
    pub command_id: String,
    pub issued_at: TimestampMillis,
    pub body: InventoryCommandBody,
}

/// What an [`InventoryCommand`] asks for. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryCommandBody {
    ReserveStock(StockLine),
    ReleaseStock(StockLine),
    CommitStock(StockLine),
    Restock(Restock),
}

/// The quantity of one product that one order reserves, releases or commits. The three Avro
/// records `ReserveStock`, `ReleaseStock` and `CommitStock` share this shape; the union branch
/// says which one it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub order_id: String,
    pub product_id: String,
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restock {
    pub product_id: String,
    pub quantity: i32,
}

/// Stock of one product (Avro `shop.inventory.StockLevel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub product_id: String,
    pub available: i32,
    pub reserved: i32,
    /// Open reservations, so a redelivered command changes nothing twice.
    pub reservations: Vec<Reservation>,
    pub version: i64,
    pub updated_at: TimestampMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: String,
    pub quantity: i32,
}

/// The answer of inventory to a stock command (Avro `shop.inventory.InventoryEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEvent {
    pub event_id: String,
    pub occurred_at: TimestampMillis,
    pub body: InventoryEventBody,
}

/// What happened. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryEventBody {
    StockReserved(StockLine),
    StockRejected(StockRejected),
    StockReleased(StockLine),
    StockCommitted(StockLine),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRejected {
    pub order_id: String,
    pub product_id: String,
    pub requested: i32,
    pub available: i32,
    /// Machine-readable, e.g. `out_of_stock` or `unknown_product`.
    pub reason: String,
}
