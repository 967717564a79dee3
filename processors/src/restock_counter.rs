//! A small processor that exercises the whole runtime: it adds up `Restock` commands per
//! product into a `StockLevel` (state, changelog) and answers every command with exactly one
//! `CommandOutcome`. Tests use it to prove exactly-once under crashes; it is not part of the
//! shop's business flow (the inventory processor arrives with the next issue).
//!
//! Rules: `Restock` with a positive quantity is accepted and added; any other inventory
//! command is rejected as unsupported; a negative quantity is poison (dead-lettered), standing
//! in for a record no valid producer could have written.

use crate::runtime::{Handler, HandlerError, Outputs, RecordContext};
use shop_schemas::inventory::{InventoryCommand, InventoryCommandBody, StockLevel};
use shop_schemas::now_millis;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};

/// The processor's name in outcomes and dead-letter headers.
pub const NAME: &str = "restock-counter";

/// Adds up restocks; see the module docs.
#[derive(Debug, Clone)]
pub struct RestockCounter {
    /// Full name of the topic outcomes go to.
    pub outcomes_topic: String,
}

impl Handler for RestockCounter {
    type Input = InventoryCommand;
    type State = StockLevel;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: InventoryCommand,
        state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let (status, reason_code) = match input.body {
            InventoryCommandBody::Restock(restock) if restock.quantity < 0 => {
                return Err(HandlerError::Poison(format!(
                    "restock of {} by {} units",
                    restock.product_id, restock.quantity
                )));
            }
            InventoryCommandBody::Restock(restock) if restock.quantity > 0 => {
                let level = state.get_or_insert_with(|| StockLevel {
                    product_id: record.key.to_owned(),
                    available: 0,
                    reserved: 0,
                    reservations: Vec::new(),
                    version: 0,
                    updated_at: 0,
                });
                level.available = level.available.saturating_add(restock.quantity);
                level.version += 1;
                level.updated_at = record.timestamp.unwrap_or_else(now_millis);
                (OutcomeStatus::Accepted, None)
            }
            InventoryCommandBody::Restock(_) => (OutcomeStatus::Rejected, Some("zero_quantity")),
            _ => (OutcomeStatus::Rejected, Some("unsupported_command")),
        };
        out.send(
            self.outcomes_topic.clone(),
            input.command_id.clone(),
            CommandOutcome {
                command_id: input.command_id,
                status,
                reason_code: reason_code.map(str::to_owned),
                reason: None,
                entity_id: Some(record.key.to_owned()),
                processor: NAME.to_owned(),
                processed_at: record.timestamp.unwrap_or_else(now_millis),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_schemas::inventory::{Restock, StockLine};

    fn command(body: InventoryCommandBody) -> InventoryCommand {
        InventoryCommand {
            command_id: "c1".to_owned(),
            issued_at: 1,
            body,
        }
    }

    fn context() -> RecordContext<'static> {
        RecordContext {
            key: "p1",
            topic: "in",
            partition: 0,
            offset: 7,
            timestamp: Some(1_000),
            now: 2_000,
        }
    }

    fn counter() -> RestockCounter {
        RestockCounter {
            outcomes_topic: "outcomes".to_owned(),
        }
    }

    fn restock(quantity: i32) -> InventoryCommandBody {
        InventoryCommandBody::Restock(Restock {
            product_id: "p1".to_owned(),
            quantity,
        })
    }

    #[test]
    fn restocks_add_up_and_each_gets_one_outcome() {
        let mut state = None;
        let mut out = Outputs::default();
        counter()
            .handle(&context(), command(restock(3)), &mut state, &mut out)
            .unwrap();
        counter()
            .handle(&context(), command(restock(4)), &mut state, &mut out)
            .unwrap();
        let level = state.unwrap();
        assert_eq!((level.available, level.version), (7, 2));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn other_commands_are_rejected_without_touching_state() {
        let mut state = None;
        let mut out = Outputs::default();
        let reserve = InventoryCommandBody::ReserveStock(StockLine {
            order_id: "o1".to_owned(),
            product_id: "p1".to_owned(),
            quantity: 1,
        });
        counter()
            .handle(&context(), command(reserve), &mut state, &mut out)
            .unwrap();
        assert!(state.is_none());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_negative_restock_is_poison() {
        let mut state = None;
        let mut out = Outputs::default();
        let error = counter()
            .handle(&context(), command(restock(-1)), &mut state, &mut out)
            .unwrap_err();
        assert!(error.to_string().contains("-1"), "{error}");
        assert!(out.is_empty() && state.is_none());
    }
}
