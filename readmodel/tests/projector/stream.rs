//! A scripted stream of the projector's five input topics, and the tables it must end in.

use shop_schemas::Money;
use shop_schemas::cart::{Cart, CartLine};
use shop_schemas::catalog::Product;
use shop_schemas::inventory::StockLevel;
use shop_schemas::orders::{LineStock, Order, OrderEvent, OrderLine, OrderStatus};

const AT: i64 = 1_764_000_000_000;

/// Records per topic in the order they are produced, keyed; `None` is a tombstone.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) products: Vec<(String, Option<Product>)>,
    pub(crate) carts: Vec<(String, Option<Cart>)>,
    pub(crate) stock: Vec<(String, Option<StockLevel>)>,
    pub(crate) orders: Vec<(String, Option<Order>)>,
    pub(crate) events: Vec<(String, Option<OrderEvent>)>,
}

impl Stream {
    pub(crate) fn len(&self) -> usize {
        self.products.len()
            + self.carts.len()
            + self.stock.len()
            + self.orders.len()
            + self.events.len()
    }
}

fn product(id: usize, version: i64) -> Product {
    Product {
        product_id: format!("p{id}"),
        name: format!("Product {id} mark {version}"),
        description: format!("a thing numbered {id}"),
        price: Money::new(1_000 * i64::try_from(id).unwrap_or(0) + version, "USD"),
        version,
        created_at: AT,
        updated_at: AT + version,
        recent_command_ids: Vec::new(),
    }
}

fn stock(id: usize, version: i64) -> StockLevel {
    StockLevel {
        product_id: format!("p{id}"),
        available: 100 - i32::try_from(version).unwrap_or(0),
        reserved: i32::try_from(version).unwrap_or(0),
        reservations: Vec::new(),
        version,
        updated_at: AT + version,
    }
}

fn cart(user: usize, version: i64) -> Cart {
    Cart {
        user_id: format!("u{user}"),
        lines: (0..version)
            .map(|line| CartLine {
                product_id: format!("p{line}"),
                quantity: i32::try_from(line + 1).unwrap_or(1),
                added_at: AT + line,
            })
            .collect(),
        version,
        updated_at: AT + version,
        expires_at: Some(AT + 1_000_000),
        recent_order_ids: Vec::new(),
        recent_command_ids: Vec::new(),
    }
}

const STATUSES: [OrderStatus; 3] = [
    OrderStatus::Pending,
    OrderStatus::StockReserved,
    OrderStatus::Confirmed,
];

fn order(id: usize, version: i64) -> Order {
    let status = STATUSES[usize::try_from(version - 1).unwrap_or(0)];
    let stock = match status {
        OrderStatus::Pending => LineStock::Requested,
        OrderStatus::Confirmed => LineStock::Committed,
        _ => LineStock::Reserved,
    };
    Order {
        order_id: format!("o{id}"),
        user_id: format!("u{}", id % 10),
        status,
        lines: (0..2)
            .map(|line| OrderLine {
                product_id: format!("p{line}"),
                name: format!("Product {line}"),
                quantity: 1,
                unit_price: Money::new(500, "USD"),
                stock,
            })
            .collect(),
        total: Money::new(1_000, "USD"),
        payment_token: "tok_visa".to_owned(),
        authorization_id: (status == OrderStatus::Confirmed).then(|| format!("auth-o{id}")),
        reason: None,
        deadline_at: None,
        version,
        created_at: AT + i64::try_from(id).unwrap_or(0),
        updated_at: AT + i64::try_from(id).unwrap_or(0) + version,
    }
}

fn event(id: usize, step: usize) -> OrderEvent {
    OrderEvent {
        event_id: format!("o{id}:{step}"),
        order_id: format!("o{id}"),
        user_id: format!("u{}", id % 10),
        status: STATUSES[step],
        previous_status: step.checked_sub(1).map(|previous| STATUSES[previous]),
        reason: None,
        occurred_at: AT + i64::try_from(id * 10 + step).unwrap_or(0),
    }
}

/// 20 products in three versions each (p7 then deleted and created again at version 1; p3's
/// v2 arrives again after v3, and must not win), their stock, 10 carts (u4 expires), and `orders` orders in three versions
/// with three status events each.
pub(crate) fn script(orders: usize) -> Stream {
    let mut stream = Stream::default();
    for version in 1..=3 {
        for id in 0..20 {
            stream
                .products
                .push((format!("p{id}"), Some(product(id, version))));
            stream
                .stock
                .push((format!("p{id}"), Some(stock(id, version))));
        }
    }
    stream.products.push(("p7".to_owned(), None));
    // Deleted and created again: it starts over at version 1.
    stream.products.push(("p7".to_owned(), Some(product(7, 1))));
    stream.products.push(("p3".to_owned(), Some(product(3, 2))));
    for version in 1..=2 {
        for user in 0..10 {
            stream
                .carts
                .push((format!("u{user}"), Some(cart(user, version))));
        }
    }
    stream.carts.push(("u4".to_owned(), None));
    for id in 0..orders {
        for version in 1..=3 {
            stream
                .orders
                .push((format!("o{id}"), Some(order(id, version))));
            stream.events.push((
                format!("o{id}"),
                Some(event(id, usize::try_from(version - 1).unwrap_or(0))),
            ));
        }
    }
    stream
}

/// The order ids and event ids the tables must hold after `script(orders)`.
pub(crate) fn expected_events(orders: usize) -> Vec<String> {
    let mut ids: Vec<String> = (0..orders)
        .flat_map(|id| (0..3).map(move |step| format!("o{id}:{step}")))
        .collect();
    ids.sort();
    ids
}
