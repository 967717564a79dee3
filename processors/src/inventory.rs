//! The inventory processor: stock per product (key: product id), reserved, released and
//! committed for orders, restocked by the catalog.
//!
//! Stock moves between two counters: `available` (free to reserve) and `reserved` (held for an
//! order until it is confirmed or given up). Committing a reservation removes it from
//! `reserved` for good: the units are sold. Neither counter ever goes negative, and a
//! reservation is granted only from `available`, so stock is never oversold.
//!
//! Every reservation is recorded per order, which makes each command idempotent: a repeated
//! reserve is answered again without reserving twice, and a release or commit of a reservation
//! that is no longer open changes nothing. Answers go to `inventory.events`, keyed by order id
//! so they reach the saga instance that owns the order.

use crate::runtime::{Handler, HandlerError, Outputs, RecordContext};
use crate::topology::TopicNames;
use shop_schemas::TimestampMillis;
use shop_schemas::inventory::{
    InventoryCommand, InventoryCommandBody, InventoryEvent, InventoryEventBody, Reservation,
    Restock, StockLevel, StockLine, StockRejected,
};

/// The processor's name in dead-letter headers, logs and metrics.
pub const NAME: &str = "inventory";

/// Machine-readable reasons of a [`StockRejected`].
pub mod reasons {
    /// Fewer units available than requested.
    pub const OUT_OF_STOCK: &str = "out_of_stock";
    /// No stock was ever recorded for the product (never restocked).
    pub const UNKNOWN_PRODUCT: &str = "unknown_product";
    /// A quantity of zero or less.
    pub const INVALID_QUANTITY: &str = "invalid_quantity";
}

/// Keeps stock per product; see the module docs.
#[derive(Debug, Clone)]
pub struct Inventory {
    events_topic: String,
}

impl Inventory {
    pub fn new(topics: &TopicNames) -> Self {
        Self {
            events_topic: topics.inventory_events.clone(),
        }
    }

    fn answer(
        &self,
        out: &mut Outputs,
        command_id: &str,
        order_id: &str,
        at: TimestampMillis,
        body: InventoryEventBody,
    ) {
        out.send(
            self.events_topic.clone(),
            order_id,
            InventoryEvent {
                // One answer per command, so the command id names the event.
                event_id: command_id.to_owned(),
                occurred_at: at,
                body,
            },
        );
    }

    fn reserve(
        &self,
        command_id: &str,
        line: StockLine,
        now: TimestampMillis,
        state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) {
        let available = state.as_ref().map_or(0, |level| level.available);
        let refusal = match state.as_mut() {
            _ if line.quantity <= 0 => Some(reasons::INVALID_QUANTITY),
            None => Some(reasons::UNKNOWN_PRODUCT),
            Some(level) if reservation_of(level, &line.order_id).is_some() => None,
            Some(level) if level.available < line.quantity => Some(reasons::OUT_OF_STOCK),
            Some(level) => {
                level.available -= line.quantity;
                level.reserved += line.quantity;
                level.reservations.push(Reservation {
                    order_id: line.order_id.clone(),
                    quantity: line.quantity,
                });
                touch(level, now);
                None
            }
        };
        let order_id = line.order_id.clone();
        let body = match refusal {
            None => InventoryEventBody::StockReserved(line),
            Some(reason) => InventoryEventBody::StockRejected(StockRejected {
                order_id: line.order_id,
                product_id: line.product_id,
                requested: line.quantity,
                available,
                reason: reason.to_owned(),
            }),
        };
        self.answer(out, command_id, &order_id, now, body);
    }

    /// Ends `line`'s reservation: back to `available` (release) or gone for good (commit).
    /// Answers only when a reservation was open; a repeated release or commit is a no-op.
    fn settle(
        &self,
        command_id: &str,
        line: StockLine,
        settlement: Settlement,
        now: TimestampMillis,
        state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) {
        let Some(level) = state.as_mut() else {
            tracing::debug!(?line, "settling stock of an unknown product: nothing to do");
            return;
        };
        let Some(index) = reservation_of(level, &line.order_id) else {
            tracing::debug!(?line, "no open reservation: already settled");
            return;
        };
        let reservation = level.reservations.remove(index);
        level.reserved -= reservation.quantity;
        if settlement == Settlement::Release {
            level.available += reservation.quantity;
        }
        touch(level, now);
        let settled = StockLine {
            quantity: reservation.quantity,
            ..line
        };
        let order_id = settled.order_id.clone();
        let body = match settlement {
            Settlement::Release => InventoryEventBody::StockReleased(settled),
            Settlement::Commit => InventoryEventBody::StockCommitted(settled),
        };
        self.answer(out, command_id, &order_id, now, body);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    Release,
    Commit,
}

fn reservation_of(level: &StockLevel, order_id: &str) -> Option<usize> {
    level
        .reservations
        .iter()
        .position(|reservation| reservation.order_id == order_id)
}

fn touch(level: &mut StockLevel, now: TimestampMillis) {
    level.version += 1;
    level.updated_at = now;
}

fn restock(
    product_id: &str,
    restock: &Restock,
    now: TimestampMillis,
    state: &mut Option<StockLevel>,
) -> Result<(), HandlerError> {
    if restock.quantity <= 0 {
        // The catalog validates restocks before sending them; this cannot come from it.
        return Err(HandlerError::Poison(format!(
            "restock of {product_id} by {} units",
            restock.quantity
        )));
    }
    let level = state.get_or_insert_with(|| StockLevel {
        product_id: product_id.to_owned(),
        available: 0,
        reserved: 0,
        reservations: Vec::new(),
        version: 0,
        updated_at: now,
    });
    level.available = level
        .available
        .checked_add(restock.quantity)
        .ok_or_else(|| {
            HandlerError::Poison(format!(
                "restock of {product_id} by {} units overflows its stock of {}",
                restock.quantity, level.available
            ))
        })?;
    touch(level, now);
    Ok(())
}

impl Handler for Inventory {
    type Input = InventoryCommand;
    type State = StockLevel;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: InventoryCommand,
        state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let product_id = match &input.body {
            InventoryCommandBody::ReserveStock(line)
            | InventoryCommandBody::ReleaseStock(line)
            | InventoryCommandBody::CommitStock(line) => &line.product_id,
            InventoryCommandBody::Restock(restock) => &restock.product_id,
        };
        if product_id != record.key {
            // Keyed by another product, it sits on another partition than that product's
            // stock: acting on it would race with the owner of the right partition.
            return Err(HandlerError::Poison(format!(
                "command for product {product_id} was keyed {}",
                record.key
            )));
        }
        let now = record.now;
        match input.body {
            InventoryCommandBody::ReserveStock(line) => {
                self.reserve(&input.command_id, line, now, state, out);
            }
            InventoryCommandBody::ReleaseStock(line) => {
                self.settle(
                    &input.command_id,
                    line,
                    Settlement::Release,
                    now,
                    state,
                    out,
                );
            }
            InventoryCommandBody::CommitStock(line) => {
                self.settle(&input.command_id, line, Settlement::Commit, now, state, out);
            }
            InventoryCommandBody::Restock(restock_command) => {
                restock(record.key, &restock_command, now, state)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str = "inventory.events";

    fn inventory() -> Inventory {
        Inventory::new(&TopicNames::with_prefix(""))
    }

    fn context(key: &str) -> RecordContext<'_> {
        RecordContext {
            key,
            topic: "inventory.commands",
            partition: 0,
            offset: 1,
            timestamp: Some(1_000),
            now: 2_000,
        }
    }

    fn line(order_id: &str, quantity: i32) -> StockLine {
        StockLine {
            order_id: order_id.to_owned(),
            product_id: "p1".to_owned(),
            quantity,
        }
    }

    fn run(
        state: &mut Option<StockLevel>,
        body: InventoryCommandBody,
    ) -> Result<Outputs, HandlerError> {
        let mut out = Outputs::default();
        inventory().handle(
            &context("p1"),
            InventoryCommand {
                command_id: "cmd".to_owned(),
                issued_at: 1,
                body,
            },
            state,
            &mut out,
        )?;
        Ok(out)
    }

    fn stocked(available: i32) -> Option<StockLevel> {
        let mut state = None;
        run(
            &mut state,
            InventoryCommandBody::Restock(Restock {
                product_id: "p1".to_owned(),
                quantity: available,
            }),
        )
        .unwrap();
        state
    }

    fn answers(out: &Outputs) -> Vec<(&str, &InventoryEventBody)> {
        out.sent::<InventoryEvent>(EVENTS)
            .into_iter()
            .map(|(key, event)| (key, &event.body))
            .collect()
    }

    fn counters(state: &Option<StockLevel>) -> (i32, i32, usize) {
        let level = state.as_ref().unwrap();
        (level.available, level.reserved, level.reservations.len())
    }

    #[test]
    fn restock_creates_and_adds_stock_silently() {
        let mut state = stocked(5);
        let out = run(
            &mut state,
            InventoryCommandBody::Restock(Restock {
                product_id: "p1".to_owned(),
                quantity: 3,
            }),
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(counters(&state), (8, 0, 0));
        assert_eq!(state.unwrap().version, 2);
    }

    #[test]
    fn a_non_positive_restock_is_poison() {
        let mut state = stocked(5);
        let error = run(
            &mut state,
            InventoryCommandBody::Restock(Restock {
                product_id: "p1".to_owned(),
                quantity: 0,
            }),
        )
        .unwrap_err();
        assert!(error.to_string().contains("0 units"), "{error}");
        assert_eq!(counters(&state), (5, 0, 0));
    }

    #[test]
    fn reserve_moves_stock_and_answers_the_order() {
        let mut state = stocked(5);
        let out = run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        assert_eq!(counters(&state), (3, 2, 1));
        assert_eq!(
            answers(&out),
            vec![("o1", &InventoryEventBody::StockReserved(line("o1", 2)))]
        );
    }

    #[test]
    fn a_repeated_reserve_is_answered_without_reserving_twice() {
        let mut state = stocked(5);
        run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        let out = run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        assert_eq!(counters(&state), (3, 2, 1));
        assert!(matches!(
            answers(&out)[..],
            [(_, InventoryEventBody::StockReserved(_))]
        ));
    }

    #[test]
    fn reserve_beyond_available_is_rejected_and_changes_nothing() {
        let mut state = stocked(1);
        let before = state.clone();
        let out = run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        assert_eq!(state, before);
        let [(key, InventoryEventBody::StockRejected(rejected))] = answers(&out)[..] else {
            panic!("expected one rejection: {out:?}");
        };
        assert_eq!(key, "o1");
        assert_eq!(
            (
                rejected.reason.as_str(),
                rejected.requested,
                rejected.available
            ),
            (reasons::OUT_OF_STOCK, 2, 1)
        );
    }

    #[test]
    fn reserve_of_an_unknown_product_or_a_bad_quantity_is_rejected() {
        for (mut state, quantity, reason) in [
            (None, 1, reasons::UNKNOWN_PRODUCT),
            (stocked(5), 0, reasons::INVALID_QUANTITY),
            (stocked(5), -3, reasons::INVALID_QUANTITY),
        ] {
            let before = state.clone();
            let out = run(
                &mut state,
                InventoryCommandBody::ReserveStock(line("o1", quantity)),
            )
            .unwrap();
            assert_eq!(state, before);
            let [(_, InventoryEventBody::StockRejected(rejected))] = answers(&out)[..] else {
                panic!("expected one rejection: {out:?}");
            };
            assert_eq!(rejected.reason, reason);
        }
    }

    #[test]
    fn release_returns_the_reserved_units_once() {
        let mut state = stocked(5);
        run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        // The release names a quantity, but the reservation's own quantity is what returns.
        let out = run(
            &mut state,
            InventoryCommandBody::ReleaseStock(line("o1", 9)),
        )
        .unwrap();
        assert_eq!(counters(&state), (5, 0, 0));
        assert_eq!(
            answers(&out),
            vec![("o1", &InventoryEventBody::StockReleased(line("o1", 2)))]
        );
        let again = run(
            &mut state,
            InventoryCommandBody::ReleaseStock(line("o1", 2)),
        )
        .unwrap();
        assert!(again.is_empty());
        assert_eq!(counters(&state), (5, 0, 0));
    }

    #[test]
    fn commit_sells_the_reserved_units_once() {
        let mut state = stocked(5);
        run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o1", 2)),
        )
        .unwrap();
        run(
            &mut state,
            InventoryCommandBody::ReserveStock(line("o2", 1)),
        )
        .unwrap();
        let out = run(&mut state, InventoryCommandBody::CommitStock(line("o1", 2))).unwrap();
        assert_eq!(counters(&state), (2, 1, 1));
        assert_eq!(
            answers(&out),
            vec![("o1", &InventoryEventBody::StockCommitted(line("o1", 2)))]
        );
        let again = run(&mut state, InventoryCommandBody::CommitStock(line("o1", 2))).unwrap();
        assert!(again.is_empty());
        // A commit after a release cannot sell the released units either.
        run(
            &mut state,
            InventoryCommandBody::ReleaseStock(line("o2", 1)),
        )
        .unwrap();
        let late = run(&mut state, InventoryCommandBody::CommitStock(line("o2", 1))).unwrap();
        assert!(late.is_empty());
        assert_eq!(counters(&state), (3, 0, 0));
    }

    #[test]
    fn settling_stock_of_an_unknown_product_does_nothing() {
        let mut state = None;
        let out = run(
            &mut state,
            InventoryCommandBody::ReleaseStock(line("o1", 1)),
        )
        .unwrap();
        assert!(out.is_empty() && state.is_none());
    }

    #[test]
    fn a_command_keyed_by_another_product_is_poison() {
        let mut state = stocked(5);
        let mut out = Outputs::default();
        let error = inventory()
            .handle(
                &context("p2"),
                InventoryCommand {
                    command_id: "cmd".to_owned(),
                    issued_at: 1,
                    body: InventoryCommandBody::ReserveStock(line("o1", 1)),
                },
                &mut state,
                &mut out,
            )
            .unwrap_err();
        assert!(error.to_string().contains("keyed p2"), "{error}");
        assert!(out.is_empty());
    }

    #[test]
    fn many_orders_racing_for_the_last_units_never_oversell() {
        let mut state = stocked(10);
        let mut reserved = 0;
        for order in 0..50 {
            let out = run(
                &mut state,
                InventoryCommandBody::ReserveStock(line(&format!("o{order}"), 1)),
            )
            .unwrap();
            if matches!(
                answers(&out)[..],
                [(_, InventoryEventBody::StockReserved(_))]
            ) {
                reserved += 1;
            }
        }
        assert_eq!(reserved, 10);
        assert_eq!(counters(&state), (0, 10, 10));
    }
}
