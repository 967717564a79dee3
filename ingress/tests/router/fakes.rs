//! Fakes behind the ingress's ports: a command sink that records, an outcome waiter that
//! answers from a script, an in-memory read model; and fixtures for its rows.

use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use shop_ingress::ports::{
    CommandSink, OutcomeWaiter, OutgoingCommand, PageRequest, PendingOutcome, ProductFilter,
    Queries, QueryError, SinkError,
};
use shop_ingress::views::{Cart, CartLine, Order, OrderPage, OrderSummary, Product, ProductPage};
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, oneshot};

/// What the fakes saw, in order: `register:<command id>` and `send:<command id>`.
pub(crate) type Events = Arc<Mutex<Vec<String>>>;

/// How the fake sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkMode {
    Ok,
    Full,
    Unavailable,
    Failed,
}

/// Records every command; answers per [`SinkMode`]; optionally holds every send until released.
#[derive(Debug)]
pub(crate) struct FakeSink {
    pub(crate) sent: Mutex<Vec<OutgoingCommand>>,
    pub(crate) mode: Mutex<SinkMode>,
    /// When set, each send takes a permit first (and gives it back): tests hold sends in flight.
    pub(crate) gate: Option<Arc<Semaphore>>,
    events: Events,
}

impl FakeSink {
    pub(crate) fn new(gate: Option<Arc<Semaphore>>, events: Events) -> Self {
        Self {
            sent: Mutex::default(),
            mode: Mutex::new(SinkMode::Ok),
            gate,
            events,
        }
    }

    pub(crate) fn commands(&self) -> Vec<OutgoingCommand> {
        self.sent.lock().unwrap().clone()
    }

    pub(crate) fn last(&self) -> OutgoingCommand {
        self.commands().last().cloned().expect("a command was sent")
    }

    pub(crate) fn set_mode(&self, mode: SinkMode) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl CommandSink for FakeSink {
    fn send(&self, command: OutgoingCommand) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await.unwrap();
            }
            let mode = *self.mode.lock().unwrap();
            match mode {
                SinkMode::Ok => {}
                SinkMode::Full => return Err(SinkError::Full),
                SinkMode::Unavailable => {
                    return Err(SinkError::Unavailable("broker at 10.1.2.3 away".to_owned()));
                }
                SinkMode::Failed => return Err(SinkError::Failed("schema refused".to_owned())),
            }
            self.events
                .lock()
                .unwrap()
                .push(format!("send:{}", command.command.command_id()));
            self.sent.lock().unwrap().push(command);
            Ok(())
        })
    }
}

/// What the fake outcome waiter answers to the next registrations.
#[derive(Debug, Clone)]
pub(crate) enum Script {
    Accept {
        entity_id: Option<String>,
    },
    Reject {
        code: String,
        reason: String,
    },
    /// Never answers: the wait times out.
    Never,
    /// Cannot wait (full, or not listening): `register` returns `None`.
    Unavailable,
}

impl Script {
    pub(crate) fn reject(code: &str) -> Self {
        Self::Reject {
            code: code.to_owned(),
            reason: format!("refused because {code}"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct FakeOutcomes {
    pub(crate) script: Mutex<Script>,
    /// Senders of `Never` waits, kept so the waits time out rather than end at once.
    parked: Mutex<Vec<oneshot::Sender<CommandOutcome>>>,
    events: Events,
}

impl FakeOutcomes {
    pub(crate) fn new(events: Events) -> Self {
        Self {
            script: Mutex::new(Script::Never),
            parked: Mutex::default(),
            events,
        }
    }

    pub(crate) fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }
}

impl OutcomeWaiter for FakeOutcomes {
    fn register(&self, command_id: &str) -> Option<PendingOutcome> {
        let script = self.script.lock().unwrap().clone();
        if matches!(script, Script::Unavailable) {
            return None;
        }
        self.events
            .lock()
            .unwrap()
            .push(format!("register:{command_id}"));
        let (sender, receiver) = oneshot::channel();
        let outcome = |status, reason_code, reason, entity_id| CommandOutcome {
            command_id: command_id.to_owned(),
            status,
            reason_code,
            reason,
            entity_id,
            processor: "fake".to_owned(),
            processed_at: 0,
        };
        match script {
            Script::Accept { entity_id } => {
                let _ = sender.send(outcome(OutcomeStatus::Accepted, None, None, entity_id));
            }
            Script::Reject { code, reason } => {
                let _ = sender.send(outcome(
                    OutcomeStatus::Rejected,
                    Some(code),
                    Some(reason),
                    None,
                ));
            }
            Script::Never | Script::Unavailable => self.parked.lock().unwrap().push(sender),
        }
        Some(PendingOutcome::new(receiver))
    }
}

/// An in-memory read model.
#[derive(Debug, Default)]
pub(crate) struct FakeQueries {
    pub(crate) products: Mutex<BTreeMap<String, Product>>,
    pub(crate) carts: Mutex<BTreeMap<String, Cart>>,
    pub(crate) orders: Mutex<BTreeMap<String, Order>>,
    pub(crate) down: Mutex<bool>,
    /// How many times `order` was asked (long polls poll).
    pub(crate) order_reads: Mutex<u32>,
}

impl FakeQueries {
    fn check_up(&self) -> Result<(), QueryError> {
        if *self.down.lock().unwrap() {
            Err(QueryError::Unavailable("connection refused".to_owned()))
        } else {
            Ok(())
        }
    }

    pub(crate) fn put_order(&self, order: Order) {
        self.orders
            .lock()
            .unwrap()
            .insert(order.order_id.clone(), order);
    }

    /// Bumps an order's version and sets its status.
    pub(crate) fn advance_order(&self, order_id: &str, status: &str) {
        let mut orders = self.orders.lock().unwrap();
        let order = orders.get_mut(order_id).expect("order exists");
        order.version += 1;
        order.status = status.to_owned();
    }
}

impl Queries for FakeQueries {
    fn list_products<'a>(
        &'a self,
        filter: &'a ProductFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<ProductPage, QueryError>> {
        Box::pin(async move {
            self.check_up()?;
            let after = match page.cursor.as_deref() {
                None => None,
                Some(cursor) => Some(
                    cursor
                        .strip_prefix("after:")
                        .ok_or_else(|| QueryError::InvalidCursor("not ours".to_owned()))?
                        .to_owned(),
                ),
            };
            let products = self.products.lock().unwrap();
            let mut matching: Vec<Product> = products
                .values()
                .filter(|p| after.as_ref().is_none_or(|after| &p.product_id > after))
                .filter(|p| {
                    filter
                        .q
                        .as_ref()
                        .is_none_or(|q| p.name.to_lowercase().contains(&q.to_lowercase()))
                })
                .filter(|p| {
                    filter
                        .min_price_cents
                        .is_none_or(|min| p.price_cents >= min)
                })
                .filter(|p| {
                    filter
                        .max_price_cents
                        .is_none_or(|max| p.price_cents <= max)
                })
                .cloned()
                .collect();
            let limit = usize::try_from(page.limit).unwrap();
            let next_cursor = (matching.len() > limit)
                .then(|| format!("after:{}", matching[limit - 1].product_id));
            matching.truncate(limit);
            Ok(ProductPage {
                items: matching,
                next_cursor,
            })
        })
    }

    fn product<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Product>, QueryError>> {
        Box::pin(async move {
            self.check_up()?;
            Ok(self.products.lock().unwrap().get(id).cloned())
        })
    }

    fn cart<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<Cart>, QueryError>> {
        Box::pin(async move {
            self.check_up()?;
            Ok(self.carts.lock().unwrap().get(user_id).cloned())
        })
    }

    fn order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, QueryError>> {
        Box::pin(async move {
            self.check_up()?;
            *self.order_reads.lock().unwrap() += 1;
            Ok(self.orders.lock().unwrap().get(id).cloned())
        })
    }

    fn orders_of<'a>(
        &'a self,
        user_id: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<OrderPage, QueryError>> {
        Box::pin(async move {
            self.check_up()?;
            if page.cursor.is_some() {
                return Err(QueryError::InvalidCursor("not ours".to_owned()));
            }
            let items = self
                .orders
                .lock()
                .unwrap()
                .values()
                .filter(|order| order.user_id == user_id)
                .take(usize::try_from(page.limit).unwrap())
                .map(|order| OrderSummary {
                    order_id: order.order_id.clone(),
                    status: order.status.clone(),
                    total_cents: order.total_cents,
                    currency: order.currency.clone(),
                    created_at: order.created_at,
                    updated_at: order.updated_at,
                })
                .collect();
            Ok(OrderPage {
                items,
                next_cursor: None,
            })
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), QueryError>> {
        Box::pin(async move { self.check_up() })
    }
}

pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

pub(crate) fn product(id: &str, name: &str, price_cents: i64) -> Product {
    Product {
        product_id: id.to_owned(),
        name: name.to_owned(),
        description: format!("a {name}"),
        price_cents,
        currency: "USD".to_owned(),
        available: Some(10),
        version: 1,
        created_at: at(0),
        updated_at: at(0),
    }
}

pub(crate) fn order(id: &str, user_id: &str, status: &str, version: i64) -> Order {
    Order {
        order_id: id.to_owned(),
        user_id: user_id.to_owned(),
        status: status.to_owned(),
        total_cents: 2_999,
        currency: "USD".to_owned(),
        authorization_id: None,
        reason: None,
        version,
        created_at: at(0),
        updated_at: at(version),
        lines: Vec::new(),
        history: Vec::new(),
    }
}

pub(crate) fn cart(user_id: &str, lines: &[(&str, i32)]) -> Cart {
    Cart {
        user_id: user_id.to_owned(),
        version: 3,
        updated_at: Some(at(5)),
        expires_at: Some(at(90 * 86_400)),
        lines: lines
            .iter()
            .map(|(product_id, quantity)| CartLine {
                product_id: (*product_id).to_owned(),
                quantity: *quantity,
                added_at: at(1),
            })
            .collect(),
    }
}
