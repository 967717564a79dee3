//! Everything the checks look at, as read from the topics.

use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::inventory::{InventoryCommand, InventoryEvent, StockLevel};
use shop_schemas::orders::{Order, OrderEvent};
use shop_schemas::outcomes::CommandOutcome;
use shop_schemas::payment::PaymentEvent;
use std::collections::BTreeMap;

/// The decoded contents of the pipeline's topics. Event topics are lists in log order per
/// partition (so per key); compacted topics are the newest value per key, tombstones removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `checkout.requested`.
    pub checkouts: Vec<CheckoutRequested>,
    /// `orders.events`.
    pub order_events: Vec<OrderEvent>,
    /// `orders.orders`, by key (order id).
    pub orders: BTreeMap<String, Order>,
    /// `inventory.commands`.
    pub inventory_commands: Vec<InventoryCommand>,
    /// `inventory.events`.
    pub inventory_events: Vec<InventoryEvent>,
    /// `inventory.stock`, by key (product id).
    pub stock: BTreeMap<String, StockLevel>,
    /// `payment.events`.
    pub payment_events: Vec<PaymentEvent>,
    /// Ids of the commands on `catalog.commands` and `cart.commands`: the ingress's commands,
    /// each owed exactly one outcome.
    pub command_ids: Vec<String>,
    /// `commands.outcomes`.
    pub outcomes: Vec<CommandOutcome>,
    /// Records of any of these topics that could not be decoded; left out of the above.
    pub undecodable: Vec<Undecodable>,
}

/// A record that does not decode (poison), and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Why: the codec's error, or a missing key or value.
    pub reason: String,
}
