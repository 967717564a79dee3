//! Every topic and header name of the pipeline, defined once.
//!
//! Topic constants are base names; a deployment may put a prefix in front of all of them (see
//! [`crate::Layout::topic`]), which is how tests share one broker without colliding.

/// Catalog commands from the ingress (key: product id).
pub const CATALOG_COMMANDS: &str = "catalog.commands";
/// Current products, compacted (key: product id); the global table the cart prices from.
pub const CATALOG_PRODUCTS: &str = "catalog.products";
/// Cart commands from the ingress (key: user id).
pub const CART_COMMANDS: &str = "cart.commands";
/// Current carts, compacted (key: user id); the cart processor's changelog.
pub const CART_CARTS: &str = "cart.carts";
/// Priced carts handed to the orders saga (key: order id).
pub const CHECKOUT_REQUESTED: &str = "checkout.requested";
/// Stock operations (key: product id).
pub const INVENTORY_COMMANDS: &str = "inventory.commands";
/// Current stock, compacted (key: product id); the inventory processor's changelog.
pub const INVENTORY_STOCK: &str = "inventory.stock";
/// Answers to stock operations (key: order id).
pub const INVENTORY_EVENTS: &str = "inventory.events";
/// Payment requests (key: order id).
pub const PAYMENT_COMMANDS: &str = "payment.commands";
/// Payment outcomes (key: order id).
pub const PAYMENT_EVENTS: &str = "payment.events";
/// Saga state of every order, compacted (key: order id); the orders processor's changelog.
pub const ORDERS_ORDERS: &str = "orders.orders";
/// Order status transitions (key: order id).
pub const ORDERS_EVENTS: &str = "orders.events";
/// One outcome per ingress command (key: command id).
pub const COMMAND_OUTCOMES: &str = "commands.outcomes";

/// What is appended to a topic's name to name its dead-letter topic.
pub const DEAD_LETTER_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic` (a full name, prefix included).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}{DEAD_LETTER_SUFFIX}")
}

/// Record header names.
pub mod headers {
    /// W3C trace context, carried from every input record to the outputs it caused.
    pub const TRACEPARENT: &str = "traceparent";
    /// Why a record was dead-lettered (a sentence).
    pub const DLQ_ERROR: &str = "shop.dlq.error";
    /// Where a dead-lettered record was read: topic, partition and offset.
    pub const DLQ_SOURCE_TOPIC: &str = "shop.dlq.source.topic";
    pub const DLQ_SOURCE_PARTITION: &str = "shop.dlq.source.partition";
    pub const DLQ_SOURCE_OFFSET: &str = "shop.dlq.source.offset";
    /// Which processor gave up on it.
    pub const DLQ_PROCESSOR: &str = "shop.dlq.processor";
    /// When it was dead-lettered, RFC 3339.
    pub const DLQ_TIME: &str = "shop.dlq.time";
}
