//! The ingress's seams to the outside world, held by the router as `Arc<dyn …>`: a
//! [`CommandSink`] that puts commands on Kafka, an [`OutcomeWaiter`] that hands back a command's
//! outcome, the [`Queries`] of the read model, and [`ReadinessCheck`]s for `/ready`.
//!
//! Production implementations live in [`crate::kafka`], [`crate::outcomes`] and
//! [`crate::readmodel`]; tests put fakes behind the same traits.

use crate::views::{Cart, Order, OrderPage, Product, ProductPage};
use futures::future::BoxFuture;
use shop_schemas::cart::{CartCommand, CartCommandBody};
use shop_schemas::catalog::{CatalogCommand, CatalogCommandBody};
use shop_schemas::outcomes::CommandOutcome;
use std::fmt;
use std::time::Duration;
use tokio::sync::oneshot;

/// A command from the ingress to a processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// To `catalog.commands`, keyed by product id.
    Catalog(CatalogCommand),
    /// To `cart.commands`, keyed by user id.
    Cart(CartCommand),
}

impl Command {
    /// Unique per command; its outcome is keyed by it.
    pub fn command_id(&self) -> &str {
        match self {
            Self::Catalog(command) => &command.command_id,
            Self::Cart(command) => &command.command_id,
        }
    }

    /// The Kafka record key: the product id of a catalog command, the user id of a cart command,
    /// so every command about one entity lands on one partition, in order.
    pub fn key(&self) -> &str {
        match self {
            Self::Catalog(command) => match &command.body {
                CatalogCommandBody::CreateProduct(body) => &body.product_id,
                CatalogCommandBody::UpdateProduct(body) => &body.product_id,
                CatalogCommandBody::DeleteProduct(body) => &body.product_id,
                CatalogCommandBody::ChangePrice(body) => &body.product_id,
                CatalogCommandBody::RestockProduct(body) => &body.product_id,
            },
            Self::Cart(command) => &command.user_id,
        }
    }

    /// The command's name, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Catalog(command) => match command.body {
                CatalogCommandBody::CreateProduct(_) => "CreateProduct",
                CatalogCommandBody::UpdateProduct(_) => "UpdateProduct",
                CatalogCommandBody::DeleteProduct(_) => "DeleteProduct",
                CatalogCommandBody::ChangePrice(_) => "ChangePrice",
                CatalogCommandBody::RestockProduct(_) => "RestockProduct",
            },
            Self::Cart(command) => match command.body {
                CartCommandBody::AddItem(_) => "AddItem",
                CartCommandBody::SetItemQuantity(_) => "SetItemQuantity",
                CartCommandBody::RemoveItem(_) => "RemoveItem",
                CartCommandBody::ClearCart(_) => "ClearCart",
                CartCommandBody::Checkout(_) => "Checkout",
            },
        }
    }
}

/// A command and the trace context it travels with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCommand {
    pub command: Command,
    /// W3C `traceparent`, written as a record header.
    pub traceparent: String,
}

/// Why a command was not handed to Kafka, and what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Too many commands are on their way already: answer 503 and let the client retry soon.
    #[error("too many commands in flight")]
    Full,
    /// The broker or the schema registry did not take the command in time: 503, retry later.
    #[error("command not delivered: {0}")]
    Unavailable(String),
    /// A bug or a deployment problem (e.g. a schema the registry does not have): 500.
    #[error("command cannot be sent: {0}")]
    Failed(String),
}

/// Puts commands on their topic. Returns once the broker has the record (acks=all), so a `202`
/// means the command is durable and will get exactly one outcome.
pub trait CommandSink: Send + Sync + fmt::Debug {
    /// Produces `command`.
    ///
    /// # Errors
    /// [`SinkError`]: full (refuse at once), unavailable (retry later) or failed.
    fn send(&self, command: OutgoingCommand) -> BoxFuture<'_, Result<(), SinkError>>;
}

/// Hands back command outcomes to the requests waiting for them.
pub trait OutcomeWaiter: Send + Sync + fmt::Debug {
    /// Registers interest in the outcome of `command_id`. Call it *before* the command is
    /// produced, so an outcome that comes back fast is not missed. `None` when no wait is
    /// possible now (too many waiters, or the outcomes are not being read); the request then
    /// answers without waiting.
    fn register(&self, command_id: &str) -> Option<PendingOutcome>;
}

/// A registered wait for one outcome. Dropping it, after the outcome or a timeout, removes the
/// registration.
pub struct PendingOutcome {
    receiver: oneshot::Receiver<CommandOutcome>,
    cleanup: Option<Box<dyn FnOnce() + Send>>,
}

impl fmt::Debug for PendingOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingOutcome").finish_non_exhaustive()
    }
}

impl PendingOutcome {
    /// A wait answered through `receiver`.
    pub fn new(receiver: oneshot::Receiver<CommandOutcome>) -> Self {
        Self {
            receiver,
            cleanup: None,
        }
    }

    /// Runs `cleanup` when the wait is over, whatever its result.
    #[must_use]
    pub fn on_drop(mut self, cleanup: impl FnOnce() + Send + 'static) -> Self {
        self.cleanup = Some(Box::new(cleanup));
        self
    }

    /// The outcome, or `None` if it did not arrive within `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<CommandOutcome> {
        match tokio::time::timeout(timeout, &mut self.receiver).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl Drop for PendingOutcome {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

/// How products are filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Words that must appear in the name or description.
    pub q: Option<String>,
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
}

/// Which page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to 100.
    pub limit: u32,
    /// The `next_cursor` of the page before; `None` for the first page.
    pub cursor: Option<String>,
}

/// Why a query was not answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor is not one this service handed out: 400.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// The filter cannot be applied: 422.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// The database failed or is away: 503.
    #[error("read model unavailable: {0}")]
    Unavailable(String),
}

/// The read model, the only source of answers to queries.
pub trait Queries: Send + Sync + fmt::Debug {
    /// Products matching `filter`, ordered by a stable key.
    fn list_products<'a>(
        &'a self,
        filter: &'a ProductFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<ProductPage, QueryError>>;

    fn product<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Product>, QueryError>>;

    /// `None` for a user who has no cart (never had one, or it expired).
    fn cart<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<Cart>, QueryError>>;

    /// Any user's order; the caller checks ownership.
    fn order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, QueryError>>;

    /// `user_id`'s orders, newest first.
    fn orders_of<'a>(
        &'a self,
        user_id: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<OrderPage, QueryError>>;

    /// Whether the database answers and the read model's tables exist.
    fn ping(&self) -> BoxFuture<'_, Result<(), QueryError>>;
}

/// One dependency `/ready` checks.
pub trait ReadinessCheck: Send + Sync + fmt::Debug {
    /// Shown in `/ready`'s body, e.g. `kafka`.
    fn name(&self) -> &'static str;

    /// `Err` with a short reason (no secrets) when the dependency cannot be used now.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}
