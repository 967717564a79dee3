//! Catalog records: commands on `catalog.commands` and product state on `catalog.products`.

use crate::common::{Money, TimestampMillis};
use serde::{Deserialize, Serialize};

/// A command against the catalog (Avro `shop.catalog.CatalogCommand`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCommand {
    /// Unique per command; its outcome on `commands.outcomes` is keyed by it.
    pub command_id: String,
    pub issued_at: TimestampMillis,
    /// User id of the caller.
    pub issued_by: String,
    pub body: CatalogCommandBody,
}

/// What a [`CatalogCommand`] asks for. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogCommandBody {
    CreateProduct(CreateProduct),
    UpdateProduct(UpdateProduct),
    DeleteProduct(DeleteProduct),
    ChangePrice(ChangePrice),
    RestockProduct(RestockProduct),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProduct {
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub price: Money,
    /// Units in stock when the product is created.
    pub initial_stock: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateProduct {
    pub product_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteProduct {
    pub product_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePrice {
    pub product_id: String,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockProduct {
    pub product_id: String,
    pub quantity: i32,
}

/// Current state of a product (Avro `shop.catalog.Product`); a deleted product is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub price: Money,
    /// Incremented on every change, so readers can refuse to go back in time.
    pub version: i64,
    pub created_at: TimestampMillis,
    pub updated_at: TimestampMillis,
    /// Ids of the latest catalog commands handled for this product, accepted or rejected,
    /// newest last: a command record seen again is dropped, so it keeps exactly one outcome.
    #[serde(default)]
    pub recent_command_ids: Vec<String>,
}
