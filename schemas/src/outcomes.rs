//! Command outcomes on `commands.outcomes`: exactly one per command from the ingress.

use crate::common::TimestampMillis;
use serde::{Deserialize, Serialize};

/// Accepted or rejected (Avro enum `shop.outcomes.OutcomeStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutcomeStatus {
    Accepted,
    Rejected,
}

/// The outcome of one command (Avro `shop.outcomes.CommandOutcome`), keyed by its command id so
/// the ingress can answer a waiting request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub command_id: String,
    pub status: OutcomeStatus,
    /// Machine-readable, e.g. `unknown_product`; `None` when accepted.
    pub reason_code: Option<String>,
    /// A sentence for people.
    pub reason: Option<String>,
    /// What the command created or changed, e.g. the order id of a checkout.
    pub entity_id: Option<String>,
    /// Name of the processor that decided.
    pub processor: String,
    pub processed_at: TimestampMillis,
}
