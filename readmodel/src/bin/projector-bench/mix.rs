//! The records of a run: a shop's traffic on the projector's five input topics, generated
//! deterministically so that two runs project the same rows.
//!
//! The traffic is made of order lifecycles, because that is what moves the read model: a user
//! fills a cart (two versions), checks out (an order in three versions, PENDING →
//! STOCK_RESERVED → CONFIRMED, two lines each, and a status event per version), the stock of
//! both products is reserved and later committed (four stock levels), and the cart is emptied.
//! Every fourth order changes a product's price, and a product enters the catalog and the stock
//! (version 1 of each) the first time an order touches it. Versions grow per key, so every upsert
//! really writes: a stale version would be skipped by the projector and flatter it.

use shop_schemas::Money;
use shop_schemas::cart::{Cart, CartLine};
use shop_schemas::catalog::Product;
use shop_schemas::inventory::StockLevel;
use shop_schemas::now_millis;
use shop_schemas::orders::{LineStock, Order, OrderEvent, OrderLine, OrderStatus};
use shop_topics::TopicNames;
use std::collections::{HashMap, HashSet, VecDeque};

/// The projector's input topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    Products,
    Carts,
    Stock,
    Orders,
    Events,
}

impl Input {
    pub(crate) const ALL: [Self; 5] = [
        Self::Products,
        Self::Carts,
        Self::Stock,
        Self::Orders,
        Self::Events,
    ];

    pub(crate) fn topic(self, names: &TopicNames) -> &str {
        match self {
            Self::Products => &names.catalog_products,
            Self::Carts => &names.cart_carts,
            Self::Stock => &names.inventory_stock,
            Self::Orders => &names.orders_orders,
            Self::Events => &names.orders_events,
        }
    }

    /// The topic's name without the run's prefix.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Products => "catalog.products",
            Self::Carts => "cart.carts",
            Self::Stock => "inventory.stock",
            Self::Orders => "orders.orders",
            Self::Events => "orders.events",
        }
    }
}

/// One input record, typed, before encoding.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Product(Product),
    Cart(Cart),
    Stock(StockLevel),
    Order(Order),
    Event(OrderEvent),
}

impl Record {
    pub(crate) fn input(&self) -> Input {
        match self {
            Self::Product(_) => Input::Products,
            Self::Cart(_) => Input::Carts,
            Self::Stock(_) => Input::Stock,
            Self::Order(_) => Input::Orders,
            Self::Event(_) => Input::Events,
        }
    }

    /// The record key, as the shop's processors key these topics.
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::Product(product) => &product.product_id,
            Self::Cart(cart) => &cart.user_id,
            Self::Stock(level) => &level.product_id,
            Self::Order(order) => &order.order_id,
            Self::Event(event) => &event.order_id,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct StockState {
    version: i64,
    available: i32,
    reserved: i32,
}

/// Generates the traffic; [`Mix::take`] continues where the last call stopped, so the records
/// of the delay phase carry newer versions than the preloaded ones.
#[derive(Debug)]
pub(crate) struct Mix {
    products: usize,
    users: usize,
    next_order: usize,
    /// Milliseconds since the epoch, one more for every record.
    at: i64,
    /// The last version of each product; 0 while it is not in the catalog yet.
    product_versions: Vec<i64>,
    stock: Vec<StockState>,
    cart_versions: Vec<i64>,
    pending: VecDeque<Record>,
}

impl Mix {
    /// `products` must be at least 2 (an order has two distinct products) and `users` at least 1.
    pub(crate) fn new(products: usize, users: usize) -> Self {
        Self {
            products: products.max(2),
            users: users.max(1),
            next_order: 0,
            at: now_millis(),
            product_versions: vec![0; products.max(2)],
            stock: vec![StockState::default(); products.max(2)],
            cart_versions: vec![0; users.max(1)],
            pending: VecDeque::new(),
        }
    }

    /// The next `count` records (a lifecycle may be split between two calls).
    pub(crate) fn take(&mut self, count: usize) -> Vec<Record> {
        while self.pending.len() < count {
            self.lifecycle();
        }
        self.pending.drain(..count).collect()
    }

    fn tick(&mut self) -> i64 {
        self.at += 1;
        self.at
    }

    fn lifecycle(&mut self) {
        let order = self.next_order;
        self.next_order += 1;
        let user = order % self.users;
        let first = order.wrapping_mul(37) % self.products;
        // An offset in 1..products, so the second product is never the first.
        let second = (first + 1 + order % (self.products - 1)) % self.products;
        self.enter_catalog(first);
        self.enter_catalog(second);

        self.cart(user, &[first], None);
        self.cart(user, &[first, second], None);
        for (step, status) in [
            OrderStatus::Pending,
            OrderStatus::StockReserved,
            OrderStatus::Confirmed,
        ]
        .into_iter()
        .enumerate()
        {
            self.order(order, user, [first, second], step, status);
            if status == OrderStatus::Pending {
                self.stock_change(first, -1, 1);
                self.stock_change(second, -1, 1);
            }
        }
        self.stock_change(first, 0, -1);
        self.stock_change(second, 0, -1);
        self.cart(user, &[], Some(order_id(order)));
        if order % 4 == 3 {
            self.product(first);
        }
    }

    fn enter_catalog(&mut self, product: usize) {
        if self.product_versions.get(product).is_some_and(|v| *v == 0) {
            self.product(product);
            self.stock_change(product, 1_000, 0);
        }
    }

    fn product(&mut self, product: usize) {
        let Some(version) = self.product_versions.get_mut(product) else {
            return;
        };
        *version += 1;
        let version = *version;
        let at = self.tick();
        let cents = 500 + i64::try_from(product % 100).unwrap_or(0) * 10 + version;
        self.pending.push_back(Record::Product(Product {
            product_id: product_id(product),
            name: format!("Product {product}"),
            description: format!("A sturdy thing, number {product}, for everyday use"),
            price: Money::new(cents, "USD"),
            version,
            created_at: at - version,
            updated_at: at,
            recent_command_ids: Vec::new(),
        }));
    }

    fn stock_change(&mut self, product: usize, available: i32, reserved: i32) {
        let Some(state) = self.stock.get_mut(product) else {
            return;
        };
        state.version += 1;
        state.available += available;
        state.reserved += reserved;
        let state = *state;
        let at = self.tick();
        self.pending.push_back(Record::Stock(StockLevel {
            product_id: product_id(product),
            available: state.available,
            reserved: state.reserved,
            reservations: Vec::new(),
            version: state.version,
            updated_at: at,
        }));
    }

    fn cart(&mut self, user: usize, products: &[usize], checked_out: Option<String>) {
        let Some(version) = self.cart_versions.get_mut(user) else {
            return;
        };
        *version += 1;
        let version = *version;
        let at = self.tick();
        self.pending.push_back(Record::Cart(Cart {
            user_id: user_id(user),
            lines: products
                .iter()
                .map(|product| CartLine {
                    product_id: product_id(*product),
                    quantity: 1,
                    added_at: at,
                })
                .collect(),
            version,
            updated_at: at,
            expires_at: Some(at + 86_400_000),
            recent_order_ids: checked_out.into_iter().collect(),
            recent_command_ids: Vec::new(),
        }));
    }

    fn order(
        &mut self,
        order: usize,
        user: usize,
        products: [usize; 2],
        step: usize,
        status: OrderStatus,
    ) {
        let at = self.tick();
        let version = i64::try_from(step).unwrap_or(0) + 1;
        let stock = match status {
            OrderStatus::Pending => LineStock::Requested,
            OrderStatus::Confirmed => LineStock::Committed,
            _ => LineStock::Reserved,
        };
        let lines: Vec<OrderLine> = products
            .iter()
            .map(|product| OrderLine {
                product_id: product_id(*product),
                name: format!("Product {product}"),
                quantity: 1,
                unit_price: Money::new(500, "USD"),
                stock,
            })
            .collect();
        let previous = step.checked_sub(1).and_then(|previous| {
            [OrderStatus::Pending, OrderStatus::StockReserved]
                .get(previous)
                .copied()
        });
        self.pending.push_back(Record::Order(Order {
            order_id: order_id(order),
            user_id: user_id(user),
            status,
            lines,
            total: Money::new(1_000, "USD"),
            payment_token: "tok_visa".to_owned(),
            authorization_id: (status == OrderStatus::Confirmed)
                .then(|| format!("auth-{}", order_id(order))),
            reason: None,
            deadline_at: Some(at + 900_000),
            version,
            created_at: at - version,
            updated_at: at,
        }));
        self.pending.push_back(Record::Event(OrderEvent {
            event_id: format!("{}:{step}", order_id(order)),
            order_id: order_id(order),
            user_id: user_id(user),
            status,
            previous_status: previous,
            reason: None,
            occurred_at: at,
        }));
    }
}

fn product_id(product: usize) -> String {
    format!("p{product:05}")
}

fn user_id(user: usize) -> String {
    format!("u{user:06}")
}

fn order_id(order: usize) -> String {
    format!("o{order:08}")
}

/// How many records of each input `records` holds, in [`Input::ALL`] order.
pub(crate) fn per_input(records: &[Record]) -> Vec<(Input, usize)> {
    Input::ALL
        .iter()
        .map(|input| {
            let count = records.iter().filter(|r| r.input() == *input).count();
            (*input, count)
        })
        .collect()
}

/// The row count of every table once `records` are projected onto empty tables: the newest
/// version of each key wins, and every event is a row of its own.
pub(crate) fn expected_rows(records: &[Record]) -> Vec<(&'static str, i64)> {
    let mut products = HashSet::new();
    let mut stock = HashSet::new();
    let mut cart_lines: HashMap<&str, usize> = HashMap::new();
    let mut order_lines: HashMap<&str, usize> = HashMap::new();
    let mut events = HashSet::new();
    for record in records {
        match record {
            Record::Product(product) => {
                products.insert(product.product_id.as_str());
            }
            Record::Stock(level) => {
                stock.insert(level.product_id.as_str());
            }
            Record::Cart(cart) => {
                cart_lines.insert(&cart.user_id, cart.lines.len());
            }
            Record::Order(order) => {
                order_lines.insert(&order.order_id, order.lines.len());
            }
            Record::Event(event) => {
                events.insert(event.event_id.as_str());
            }
        }
    }
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    vec![
        ("products", count(products.len())),
        ("stock_levels", count(stock.len())),
        ("carts", count(cart_lines.len())),
        ("cart_lines", count(cart_lines.values().sum())),
        ("orders", count(order_lines.len())),
        ("order_lines", count(order_lines.values().sum())),
        ("order_status_history", count(events.len())),
    ]
}
