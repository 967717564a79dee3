//! Command outcomes: every command from the ingress gets exactly one, accepted or rejected with
//! a machine-readable reason, keyed by its command id on `commands.outcomes`.

use crate::runtime::Outputs;
use shop_schemas::TimestampMillis;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};

/// Why a command was refused: a stable code for machines (`unknown_product`) and a sentence
/// for people. A refusal is an ordinary outcome, not an error: the command was valid input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// Where outcomes go and who signs them.
#[derive(Debug, Clone)]
pub struct OutcomeWriter {
    /// Full name of `commands.outcomes`.
    pub topic: String,
    /// The deciding processor's name.
    pub processor: &'static str,
}

impl OutcomeWriter {
    /// Emits the outcome of `command_id`: accepted with `entity_id` (what it created or
    /// changed), or rejected.
    pub fn send(
        &self,
        out: &mut Outputs,
        command_id: &str,
        entity_id: &str,
        result: Result<(), Rejection>,
        at: TimestampMillis,
    ) {
        let (status, reason_code, reason) = match result {
            Ok(()) => (OutcomeStatus::Accepted, None, None),
            Err(rejection) => (
                OutcomeStatus::Rejected,
                Some(rejection.code.to_owned()),
                Some(rejection.reason),
            ),
        };
        out.send(
            self.topic.clone(),
            command_id,
            CommandOutcome {
                command_id: command_id.to_owned(),
                status,
                reason_code,
                reason,
                entity_id: Some(entity_id.to_owned()),
                processor: self.processor.to_owned(),
                processed_at: at,
            },
        );
    }
}
