//! The full names of the pipeline's topics under one deployment's prefix, resolved once so
//! handlers never build a topic name per record.

use crate::names;

/// Full names of every topic a processor reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    pub catalog_commands: String,
    pub catalog_products: String,
    pub cart_commands: String,
    pub cart_carts: String,
    pub checkout_requested: String,
    pub inventory_commands: String,
    pub inventory_stock: String,
    pub inventory_events: String,
    pub payment_commands: String,
    pub payment_events: String,
    pub payment_payments: String,
    pub orders_orders: String,
    pub orders_events: String,
    pub command_outcomes: String,
}

impl TopicNames {
    /// The names with `prefix` in front (`SHOP_TOPIC_PREFIX`; empty in production), as
    /// `shop-topics apply` creates them.
    pub fn with_prefix(prefix: &str) -> Self {
        let full = |base: &str| format!("{prefix}{base}");
        Self {
            catalog_commands: full(names::CATALOG_COMMANDS),
            catalog_products: full(names::CATALOG_PRODUCTS),
            cart_commands: full(names::CART_COMMANDS),
            cart_carts: full(names::CART_CARTS),
            checkout_requested: full(names::CHECKOUT_REQUESTED),
            inventory_commands: full(names::INVENTORY_COMMANDS),
            inventory_stock: full(names::INVENTORY_STOCK),
            inventory_events: full(names::INVENTORY_EVENTS),
            payment_commands: full(names::PAYMENT_COMMANDS),
            payment_events: full(names::PAYMENT_EVENTS),
            payment_payments: full(names::PAYMENT_PAYMENTS),
            orders_orders: full(names::ORDERS_ORDERS),
            orders_events: full(names::ORDERS_EVENTS),
            command_outcomes: full(names::COMMAND_OUTCOMES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_prefix_and_names_a_declared_topic() {
        let topics = TopicNames::with_prefix("t1.");
        let layout = crate::Layout {
            prefix: "t1.".to_owned(),
            ..crate::Layout::default()
        };
        let declared: Vec<String> = layout.specs().into_iter().map(|spec| spec.name).collect();
        for name in [
            &topics.catalog_commands,
            &topics.catalog_products,
            &topics.cart_commands,
            &topics.cart_carts,
            &topics.checkout_requested,
            &topics.inventory_commands,
            &topics.inventory_stock,
            &topics.inventory_events,
            &topics.payment_commands,
            &topics.payment_events,
            &topics.payment_payments,
            &topics.orders_orders,
            &topics.orders_events,
            &topics.command_outcomes,
        ] {
            assert!(declared.contains(name), "{name} is not declared");
        }
    }
}
