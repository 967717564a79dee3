//! The orders processor: the checkout saga, one instance per order (key: order id).
//!
//! ```text
//! checkout.requested ─▶ PENDING ──all lines reserved──▶ STOCK_RESERVED ──authorised──▶ CONFIRMED
//!                          │                                   │                    (stock committed)
//!                          └─a line rejected─▶ REJECTED        └─declined, or no answer
//!                             (reserved lines released)           by the deadline─▶ CANCELLED
//!                                                                  (stock released)
//! ```
//!
//! The saga reads three topics, all keyed by order id and so co-partitioned with its state
//! (`orders.orders`): `checkout.requested` starts an order, `inventory.events` answers its stock
//! reservations and `payment.events` its payment. It sends one `ReserveStock` per line, then one
//! `AuthorizePayment`, and finishes with `CommitStock` (confirmed) or `ReleaseStock` for every
//! line it holds (compensation). Every status change is written to `orders.events`.
//!
//! Answers that arrive after the order ended are compensated, never applied: a reservation
//! granted after the order was rejected is released at once, and an authorisation that arrives
//! after the order was cancelled is voided. Only `STOCK_RESERVED` has a deadline (the payment
//! timeout); it is part of the state, so it survives restarts and rebalances.

use crate::runtime::{Handler, HandlerError, InputRecord, Outputs, RecordContext};
use crate::topology::TopicNames;
use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::inventory::{
    InventoryCommand, InventoryCommandBody, InventoryEvent, InventoryEventBody, StockLine,
    StockRejected,
};
use shop_schemas::orders::{LineStock, Order, OrderEvent, OrderLine, OrderStatus};
use shop_schemas::payment::{
    AuthorizePayment, PaymentAuthorized, PaymentCommand, PaymentCommandBody, PaymentDeclined,
    PaymentEvent, PaymentEventBody, VoidPayment,
};
use shop_schemas::{CodecError, Decoded, TimestampMillis, millis_of};
use std::collections::HashSet;
use std::time::Duration;

/// The processor's name in dead-letter headers, logs and metrics.
pub const NAME: &str = "orders";

/// Machine-readable reasons an order ends REJECTED or CANCELLED (besides the reasons inventory
/// and payment give, such as `out_of_stock` or `card_declined`).
pub mod reasons {
    /// No payment answer before the deadline.
    pub const PAYMENT_TIMEOUT: &str = "payment_timeout";
    /// The checkout had no lines, a non-positive quantity or one product twice.
    pub const INVALID_CHECKOUT: &str = "invalid_checkout";
    /// Why a late authorisation is voided.
    pub const ORDER_CANCELLED: &str = "order_cancelled";
}

/// What the saga reads: one record of any of its three input topics, told apart by the schema
/// it was written with.
#[derive(Debug, Clone, PartialEq)]
pub enum SagaInput {
    Checkout(CheckoutRequested),
    Stock(InventoryEvent),
    Payment(PaymentEvent),
}

impl InputRecord for SagaInput {
    fn from_decoded(decoded: Decoded) -> Result<Self, CodecError> {
        if decoded.is::<CheckoutRequested>() {
            decoded.into_record().map(Self::Checkout)
        } else if decoded.is::<InventoryEvent>() {
            decoded.into_record().map(Self::Stock)
        } else if decoded.is::<PaymentEvent>() {
            decoded.into_record().map(Self::Payment)
        } else {
            Err(CodecError::WrongSchema {
                expected: "a CheckoutRequested, InventoryEvent or PaymentEvent",
                found: decoded.writer_name().unwrap_or("a primitive").to_owned(),
            })
        }
    }
}

/// Runs the checkout saga; see the module docs.
#[derive(Debug, Clone)]
pub struct OrderSaga {
    inventory_commands: String,
    payment_commands: String,
    order_events: String,
    /// How long an order with reserved stock waits for its payment answer.
    payment_timeout: Duration,
}

impl OrderSaga {
    pub fn new(topics: &TopicNames, payment_timeout: Duration) -> Self {
        Self {
            inventory_commands: topics.inventory_commands.clone(),
            payment_commands: topics.payment_commands.clone(),
            order_events: topics.orders_events.clone(),
            payment_timeout,
        }
    }

    fn start(
        &self,
        request: CheckoutRequested,
        now: TimestampMillis,
        state: &mut Option<Order>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        if state.is_some() {
            // Each checkout mints a fresh order id; a second one is a producer bug, and
            // acting on it would restart a finished order.
            return Err(HandlerError::Poison(format!(
                "order {} was requested twice",
                request.order_id
            )));
        }
        let valid = checkout_is_valid(&request);
        let mut order = Order {
            order_id: request.order_id,
            user_id: request.user_id,
            status: OrderStatus::Pending,
            lines: request
                .lines
                .into_iter()
                .map(|line| OrderLine {
                    product_id: line.product_id,
                    name: line.name,
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                    stock: LineStock::Requested,
                })
                .collect(),
            total: request.total,
            payment_token: request.payment_token,
            authorization_id: None,
            reason: None,
            deadline_at: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        if !valid {
            self.transition(
                &mut order,
                OrderStatus::Rejected,
                Some(reasons::INVALID_CHECKOUT),
                now,
                out,
            );
            *state = Some(order);
            return Ok(());
        }
        for line in &order.lines {
            self.stock_command(out, &order.order_id, line, StockOp::Reserve, now);
        }
        order.version = 1;
        self.publish(out, &order, None, now);
        *state = Some(order);
        Ok(())
    }

    fn on_stock(
        &self,
        event: InventoryEvent,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        match event.body {
            InventoryEventBody::StockReserved(line) => self.on_reserved(&line, now, order, out),
            InventoryEventBody::StockRejected(rejected) => {
                self.on_rejected(&rejected, now, order, out)
            }
            // Release and commit are sent by the saga itself, which marked the line then.
            InventoryEventBody::StockReleased(_) | InventoryEventBody::StockCommitted(_) => Ok(()),
        }
    }

    fn on_reserved(
        &self,
        reserved: &StockLine,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let index = line_index(order, &reserved.product_id)?;
        if order.lines[index].stock != LineStock::Requested {
            return Ok(()); // A repeated answer.
        }
        if order.status.is_terminal() {
            // Granted after the order ended: give it straight back.
            let order_id = order.order_id.clone();
            let line = &mut order.lines[index];
            line.stock = LineStock::Released;
            self.stock_command(out, &order_id, line, StockOp::Release, now);
            touch(order, now);
            return Ok(());
        }
        order.lines[index].stock = LineStock::Reserved;
        touch(order, now);
        let all_reserved = order
            .lines
            .iter()
            .all(|line| line.stock == LineStock::Reserved);
        if order.status == OrderStatus::Pending && all_reserved {
            order.deadline_at = Some(now.saturating_add(millis_of(self.payment_timeout)));
            out.send(
                self.payment_commands.clone(),
                order.order_id.clone(),
                PaymentCommand {
                    command_id: format!("{}:authorize", order.order_id),
                    issued_at: now,
                    body: PaymentCommandBody::AuthorizePayment(AuthorizePayment {
                        order_id: order.order_id.clone(),
                        user_id: order.user_id.clone(),
                        amount: order.total.clone(),
                        payment_token: order.payment_token.clone(),
                    }),
                },
            );
            self.transition(order, OrderStatus::StockReserved, None, now, out);
        }
        Ok(())
    }

    fn on_rejected(
        &self,
        rejected: &StockRejected,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let index = line_index(order, &rejected.product_id)?;
        if order.lines[index].stock != LineStock::Requested {
            return Ok(());
        }
        order.lines[index].stock = LineStock::Rejected;
        touch(order, now);
        if order.status == OrderStatus::Pending {
            self.release_reserved(order, now, out);
            self.transition(
                order,
                OrderStatus::Rejected,
                Some(&rejected.reason),
                now,
                out,
            );
        }
        Ok(())
    }

    fn on_payment(
        &self,
        event: PaymentEvent,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) {
        match event.body {
            PaymentEventBody::PaymentAuthorized(authorized) => {
                self.on_authorized(authorized, now, order, out);
            }
            PaymentEventBody::PaymentDeclined(declined) => {
                self.on_declined(&declined, now, order, out);
            }
            PaymentEventBody::PaymentVoided(_) => {}
        }
    }

    fn on_authorized(
        &self,
        authorized: PaymentAuthorized,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) {
        if order.authorization_id.is_some() {
            return; // A repeated answer.
        }
        let authorization_id = authorized.authorization_id;
        order.authorization_id = Some(authorization_id.clone());
        if order.status == OrderStatus::StockReserved {
            let order_id = order.order_id.clone();
            for line in &mut order.lines {
                line.stock = LineStock::Committed;
                self.stock_command(out, &order_id, line, StockOp::Commit, now);
            }
            order.deadline_at = None;
            self.transition(order, OrderStatus::Confirmed, None, now, out);
        } else {
            // The order gave up on its payment (cancelled at the deadline): the money must not
            // stay held for goods that will not ship.
            out.send(
                self.payment_commands.clone(),
                order.order_id.clone(),
                PaymentCommand {
                    command_id: format!("{}:void", order.order_id),
                    issued_at: now,
                    body: PaymentCommandBody::VoidPayment(VoidPayment {
                        order_id: order.order_id.clone(),
                        authorization_id,
                        reason: reasons::ORDER_CANCELLED.to_owned(),
                    }),
                },
            );
            touch(order, now);
        }
    }

    fn on_declined(
        &self,
        declined: &PaymentDeclined,
        now: TimestampMillis,
        order: &mut Order,
        out: &mut Outputs,
    ) {
        if order.status == OrderStatus::StockReserved {
            self.cancel(order, &declined.reason, now, out);
        }
    }

    /// Ends a STOCK_RESERVED order without payment: stock released, deadline cleared.
    fn cancel(&self, order: &mut Order, reason: &str, now: TimestampMillis, out: &mut Outputs) {
        self.release_reserved(order, now, out);
        order.deadline_at = None;
        self.transition(order, OrderStatus::Cancelled, Some(reason), now, out);
    }

    /// Sends `ReleaseStock` for every line holding stock and marks it released.
    fn release_reserved(&self, order: &mut Order, now: TimestampMillis, out: &mut Outputs) {
        let order_id = order.order_id.clone();
        for line in &mut order.lines {
            if line.stock == LineStock::Reserved {
                line.stock = LineStock::Released;
                self.stock_command(out, &order_id, line, StockOp::Release, now);
            }
        }
    }

    fn stock_command(
        &self,
        out: &mut Outputs,
        order_id: &str,
        line: &OrderLine,
        op: StockOp,
        now: TimestampMillis,
    ) {
        let stock_line = StockLine {
            order_id: order_id.to_owned(),
            product_id: line.product_id.clone(),
            quantity: line.quantity,
        };
        let (verb, body) = match op {
            StockOp::Reserve => ("reserve", InventoryCommandBody::ReserveStock(stock_line)),
            StockOp::Release => ("release", InventoryCommandBody::ReleaseStock(stock_line)),
            StockOp::Commit => ("commit", InventoryCommandBody::CommitStock(stock_line)),
        };
        out.send(
            self.inventory_commands.clone(),
            line.product_id.clone(),
            InventoryCommand {
                // Each line is reserved, released and committed at most once per order.
                command_id: format!("{order_id}:{verb}:{}", line.product_id),
                issued_at: now,
                body,
            },
        );
    }

    /// Moves `order` to `status` and records the transition on `orders.events`.
    fn transition(
        &self,
        order: &mut Order,
        status: OrderStatus,
        reason: Option<&str>,
        now: TimestampMillis,
        out: &mut Outputs,
    ) {
        let previous = (order.version > 0).then_some(order.status);
        order.status = status;
        order.reason = reason.map(str::to_owned);
        touch(order, now);
        self.publish(out, order, previous, now);
    }

    fn publish(
        &self,
        out: &mut Outputs,
        order: &Order,
        previous: Option<OrderStatus>,
        now: TimestampMillis,
    ) {
        out.send(
            self.order_events.clone(),
            order.order_id.clone(),
            OrderEvent {
                // An order passes through each status at most once.
                event_id: format!("{}:{}", order.order_id, status_name(order.status)),
                order_id: order.order_id.clone(),
                user_id: order.user_id.clone(),
                status: order.status,
                previous_status: previous,
                reason: order.reason.clone(),
                occurred_at: now,
            },
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum StockOp {
    Reserve,
    Release,
    Commit,
}

/// The status as Avro spells it (`STOCK_RESERVED`).
pub fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "PENDING",
        OrderStatus::StockReserved => "STOCK_RESERVED",
        OrderStatus::Confirmed => "CONFIRMED",
        OrderStatus::Rejected => "REJECTED",
        OrderStatus::Cancelled => "CANCELLED",
    }
}

/// Lines to reserve: at least one, each a positive quantity of a distinct product (inventory
/// keeps one reservation per order and product).
fn checkout_is_valid(request: &CheckoutRequested) -> bool {
    let mut products = HashSet::new();
    !request.lines.is_empty()
        && request
            .lines
            .iter()
            .all(|line| line.quantity > 0 && products.insert(line.product_id.as_str()))
}

fn line_index(order: &Order, product_id: &str) -> Result<usize, HandlerError> {
    order
        .lines
        .iter()
        .position(|line| line.product_id == product_id)
        .ok_or_else(|| {
            HandlerError::Poison(format!(
                "stock answer for product {product_id}, which order {} does not hold",
                order.order_id
            ))
        })
}

fn touch(order: &mut Order, now: TimestampMillis) {
    order.version += 1;
    order.updated_at = now;
}

/// The order id an input is about, to check it against the record key.
fn order_id_of(input: &SagaInput) -> &str {
    match input {
        SagaInput::Checkout(request) => &request.order_id,
        SagaInput::Stock(event) => match &event.body {
            InventoryEventBody::StockReserved(line)
            | InventoryEventBody::StockReleased(line)
            | InventoryEventBody::StockCommitted(line) => &line.order_id,
            InventoryEventBody::StockRejected(rejected) => &rejected.order_id,
        },
        SagaInput::Payment(event) => match &event.body {
            PaymentEventBody::PaymentAuthorized(authorized) => &authorized.order_id,
            PaymentEventBody::PaymentDeclined(declined) => &declined.order_id,
            PaymentEventBody::PaymentVoided(voided) => &voided.order_id,
        },
    }
}

impl Handler for OrderSaga {
    type Input = SagaInput;
    type State = Order;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: SagaInput,
        state: &mut Option<Order>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let order_id = order_id_of(&input);
        if order_id != record.key {
            return Err(HandlerError::Poison(format!(
                "record about order {order_id} was keyed {}",
                record.key
            )));
        }
        let now = record.now;
        if let SagaInput::Checkout(request) = input {
            return self.start(request, now, state, out);
        }
        let Some(order) = state.as_mut() else {
            return Err(HandlerError::Poison(format!(
                "answer for order {}, which was never requested",
                record.key
            )));
        };
        match input {
            SagaInput::Checkout(_) => Ok(()),
            SagaInput::Stock(event) => self.on_stock(event, now, order, out),
            SagaInput::Payment(event) => {
                self.on_payment(event, now, order, out);
                Ok(())
            }
        }
    }

    fn deadline(order: &Order) -> Option<TimestampMillis> {
        (order.status == OrderStatus::StockReserved)
            .then_some(order.deadline_at)
            .flatten()
    }

    /// No payment answer in time: cancel and release the stock.
    fn on_deadline(
        &mut self,
        _key: &str,
        now: TimestampMillis,
        state: &mut Option<Order>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        if let Some(order) = state.as_mut()
            && order.status == OrderStatus::StockReserved
        {
            self.cancel(order, reasons::PAYMENT_TIMEOUT, now, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
