//! One example record of every type and every union variant, for tests and demos.
//!
//! Each sample is distinct (ids carry a `seed`), so a round trip that mixed two records up would
//! show. [`every_value`] is the list the codec tests walk.

use crate::cart::{
    AddItem, Cart, CartCommand, CartCommandBody, CartLine, Checkout, ClearCart, RemoveItem,
    SetItemQuantity,
};
use crate::catalog::{
    CatalogCommand, CatalogCommandBody, ChangePrice, CreateProduct, DeleteProduct, Product,
    RestockProduct, UpdateProduct,
};
use crate::checkout::{CheckoutRequested, PricedLine};
use crate::common::Money;
use crate::inventory::{
    InventoryCommand, InventoryCommandBody, InventoryEvent, InventoryEventBody, Reservation,
    Restock, StockLevel, StockLine, StockRejected,
};
use crate::orders::{LineStock, Order, OrderEvent, OrderLine, OrderStatus};
use crate::outcomes::{CommandOutcome, OutcomeStatus};
use crate::payment::{
    AuthorizePayment, Payment, PaymentAuthorized, PaymentCommand, PaymentCommandBody,
    PaymentDeclined, PaymentEvent, PaymentEventBody, PaymentStatus, PaymentVoided, VoidPayment,
};

const AT: i64 = 1_764_000_000_123;

fn usd(cents: i64) -> Money {
    Money::new(cents, "USD")
}

fn stock_line(seed: u32) -> StockLine {
    StockLine {
        order_id: format!("order-{seed}"),
        product_id: format!("product-{seed}"),
        quantity: 3,
    }
}

/// Every catalog command variant.
pub fn catalog_commands(seed: u32) -> Vec<CatalogCommand> {
    let product_id = format!("product-{seed}");
    [
        CatalogCommandBody::CreateProduct(CreateProduct {
            product_id: product_id.clone(),
            name: "Laptop".to_owned(),
            description: "14 inch, 1.2 kg".to_owned(),
            price: usd(129_999),
            initial_stock: 50,
        }),
        CatalogCommandBody::UpdateProduct(UpdateProduct {
            product_id: product_id.clone(),
            name: "Laptop Pro".to_owned(),
            description: "now with ünïcødé".to_owned(),
        }),
        CatalogCommandBody::DeleteProduct(DeleteProduct {
            product_id: product_id.clone(),
        }),
        CatalogCommandBody::ChangePrice(ChangePrice {
            product_id: product_id.clone(),
            price: usd(119_999),
        }),
        CatalogCommandBody::RestockProduct(RestockProduct {
            product_id,
            quantity: 7,
        }),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| CatalogCommand {
        command_id: format!("cmd-{seed}-{index}"),
        issued_at: AT,
        issued_by: "admin-1".to_owned(),
        body,
    })
    .collect()
}

pub fn product(seed: u32) -> Product {
    Product {
        product_id: format!("product-{seed}"),
        name: "Mouse".to_owned(),
        description: "wireless".to_owned(),
        price: usd(2_999),
        version: 4,
        created_at: AT,
        updated_at: AT + 10,
        recent_command_ids: vec![format!("command-{seed}")],
    }
}

/// Every cart command variant.
pub fn cart_commands(seed: u32) -> Vec<CartCommand> {
    let product_id = format!("product-{seed}");
    [
        CartCommandBody::AddItem(AddItem {
            product_id: product_id.clone(),
            quantity: 2,
        }),
        CartCommandBody::SetItemQuantity(SetItemQuantity {
            product_id: product_id.clone(),
            quantity: 5,
        }),
        CartCommandBody::RemoveItem(RemoveItem { product_id }),
        CartCommandBody::ClearCart(ClearCart {}),
        CartCommandBody::Checkout(Checkout {
            order_id: format!("order-{seed}"),
            payment_token: "tok_visa".to_owned(),
        }),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| CartCommand {
        command_id: format!("cmd-{seed}-{index}"),
        issued_at: AT,
        user_id: format!("user-{seed}"),
        body,
    })
    .collect()
}

pub fn cart(seed: u32) -> Cart {
    Cart {
        user_id: format!("user-{seed}"),
        lines: vec![
            CartLine {
                product_id: format!("product-{seed}"),
                quantity: 2,
                added_at: AT,
            },
            CartLine {
                product_id: "product-x".to_owned(),
                quantity: 99,
                added_at: AT + 1,
            },
        ],
        version: 2,
        updated_at: AT + 1,
        expires_at: Some(AT + 1 + 90 * 24 * 60 * 60 * 1_000),
        recent_order_ids: vec![format!("order-{seed}")],
        recent_command_ids: vec![format!("command-{seed}")],
    }
}

pub fn checkout_requested(seed: u32) -> CheckoutRequested {
    CheckoutRequested {
        order_id: format!("order-{seed}"),
        user_id: format!("user-{seed}"),
        command_id: format!("cmd-{seed}"),
        payment_token: "tok_visa".to_owned(),
        lines: vec![PricedLine {
            product_id: format!("product-{seed}"),
            name: "Keyboard".to_owned(),
            quantity: 2,
            unit_price: usd(8_999),
        }],
        total: usd(17_998),
        requested_at: AT,
    }
}

/// Every inventory command variant.
pub fn inventory_commands(seed: u32) -> Vec<InventoryCommand> {
    [
        InventoryCommandBody::ReserveStock(stock_line(seed)),
        InventoryCommandBody::ReleaseStock(stock_line(seed)),
        InventoryCommandBody::CommitStock(stock_line(seed)),
        InventoryCommandBody::Restock(Restock {
            product_id: format!("product-{seed}"),
            quantity: 40,
        }),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| InventoryCommand {
        command_id: format!("cmd-{seed}-{index}"),
        issued_at: AT,
        body,
    })
    .collect()
}

pub fn stock_level(seed: u32) -> StockLevel {
    StockLevel {
        product_id: format!("product-{seed}"),
        available: 47,
        reserved: 3,
        reservations: vec![Reservation {
            order_id: format!("order-{seed}"),
            quantity: 3,
        }],
        version: 9,
        updated_at: AT,
    }
}

/// Every inventory event variant.
pub fn inventory_events(seed: u32) -> Vec<InventoryEvent> {
    [
        InventoryEventBody::StockReserved(stock_line(seed)),
        InventoryEventBody::StockRejected(StockRejected {
            order_id: format!("order-{seed}"),
            product_id: format!("product-{seed}"),
            requested: 5,
            available: 1,
            reason: "out_of_stock".to_owned(),
        }),
        InventoryEventBody::StockReleased(stock_line(seed)),
        InventoryEventBody::StockCommitted(stock_line(seed)),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| InventoryEvent {
        event_id: format!("evt-{seed}-{index}"),
        occurred_at: AT,
        body,
    })
    .collect()
}

/// Every payment command variant.
pub fn payment_commands(seed: u32) -> Vec<PaymentCommand> {
    [
        PaymentCommandBody::AuthorizePayment(AuthorizePayment {
            order_id: format!("order-{seed}"),
            user_id: format!("user-{seed}"),
            amount: usd(17_998),
            payment_token: "tok_visa".to_owned(),
        }),
        PaymentCommandBody::VoidPayment(VoidPayment {
            order_id: format!("order-{seed}"),
            authorization_id: format!("auth-{seed}"),
            reason: "order_cancelled".to_owned(),
        }),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| PaymentCommand {
        command_id: format!("cmd-{seed}-{index}"),
        issued_at: AT,
        body,
    })
    .collect()
}

/// Every payment event variant.
pub fn payment_events(seed: u32) -> Vec<PaymentEvent> {
    [
        PaymentEventBody::PaymentAuthorized(PaymentAuthorized {
            order_id: format!("order-{seed}"),
            authorization_id: format!("auth-{seed}"),
            amount: usd(17_998),
        }),
        PaymentEventBody::PaymentDeclined(PaymentDeclined {
            order_id: format!("order-{seed}"),
            reason: "card_declined".to_owned(),
        }),
        PaymentEventBody::PaymentVoided(PaymentVoided {
            order_id: format!("order-{seed}"),
            authorization_id: format!("auth-{seed}"),
        }),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, body)| PaymentEvent {
        event_id: format!("evt-{seed}-{index}"),
        occurred_at: AT,
        body,
    })
    .collect()
}

/// Payments with every optional field both ways: one held back, one authorised.
pub fn payments(seed: u32) -> Vec<Payment> {
    let awaiting = Payment {
        order_id: format!("order-{seed}"),
        status: PaymentStatus::AwaitingGateway,
        amount: usd(17_998),
        authorization_id: None,
        reason: None,
        answer_due_at: Some(AT + 60_000),
        version: 1,
        updated_at: AT,
    };
    let authorized = Payment {
        status: PaymentStatus::Authorized,
        authorization_id: Some(format!("auth-{seed}")),
        reason: Some("late answer".to_owned()),
        answer_due_at: None,
        version: 2,
        ..awaiting.clone()
    };
    vec![awaiting, authorized]
}

/// Orders in states that exercise every optional field both ways.
pub fn orders(seed: u32) -> Vec<Order> {
    let pending = Order {
        order_id: format!("order-{seed}"),
        user_id: format!("user-{seed}"),
        status: OrderStatus::Pending,
        lines: vec![OrderLine {
            product_id: format!("product-{seed}"),
            name: "Monitor".to_owned(),
            quantity: 1,
            unit_price: usd(39_999),
            stock: LineStock::Requested,
        }],
        total: usd(39_999),
        payment_token: "tok_visa".to_owned(),
        authorization_id: None,
        reason: None,
        deadline_at: None,
        version: 1,
        created_at: AT,
        updated_at: AT,
    };
    let cancelled = Order {
        status: OrderStatus::Cancelled,
        lines: vec![OrderLine {
            stock: LineStock::Released,
            ..pending.lines[0].clone()
        }],
        authorization_id: Some(format!("auth-{seed}")),
        reason: Some("payment_timeout".to_owned()),
        deadline_at: Some(AT + 30_000),
        version: 4,
        updated_at: AT + 30_001,
        ..pending.clone()
    };
    vec![pending, cancelled]
}

/// Order events with and without a previous status.
pub fn order_events(seed: u32) -> Vec<OrderEvent> {
    let created = OrderEvent {
        event_id: format!("evt-{seed}-0"),
        order_id: format!("order-{seed}"),
        user_id: format!("user-{seed}"),
        status: OrderStatus::Pending,
        previous_status: None,
        reason: None,
        occurred_at: AT,
    };
    let rejected = OrderEvent {
        event_id: format!("evt-{seed}-1"),
        status: OrderStatus::Rejected,
        previous_status: Some(OrderStatus::Pending),
        reason: Some("out_of_stock".to_owned()),
        occurred_at: AT + 5,
        ..created.clone()
    };
    vec![created, rejected]
}

/// An accepted and a rejected outcome.
pub fn command_outcomes(seed: u32) -> Vec<CommandOutcome> {
    let accepted = CommandOutcome {
        command_id: format!("cmd-{seed}-0"),
        status: OutcomeStatus::Accepted,
        reason_code: None,
        reason: None,
        entity_id: Some(format!("order-{seed}")),
        processor: "cart".to_owned(),
        processed_at: AT,
    };
    let rejected = CommandOutcome {
        command_id: format!("cmd-{seed}-1"),
        status: OutcomeStatus::Rejected,
        reason_code: Some("empty_cart".to_owned()),
        reason: Some("the cart is empty".to_owned()),
        entity_id: None,
        ..accepted.clone()
    };
    vec![accepted, rejected]
}
