//! Payment records: requests on `payment.commands`, outcomes on `payment.events` and the payment
//! processor's state on `payment.payments`.

use crate::common::{Money, TimestampMillis};
use serde::{Deserialize, Serialize};

/// A request to the payment processor (Avro `shop.payment.PaymentCommand`), idempotent per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCommand {
    pub command_id: String,
    pub issued_at: TimestampMillis,
    pub body: PaymentCommandBody,
}

/// What a [`PaymentCommand`] asks for. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentCommandBody {
    AuthorizePayment(AuthorizePayment),
    VoidPayment(VoidPayment),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizePayment {
    pub order_id: String,
    pub user_id: String,
    pub amount: Money,
    pub payment_token: String,
}

/// Cancels an authorisation that arrived for an order already cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidPayment {
    pub order_id: String,
    pub authorization_id: String,
    pub reason: String,
}

/// The outcome of a payment command (Avro `shop.payment.PaymentEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub event_id: String,
    pub occurred_at: TimestampMillis,
    pub body: PaymentEventBody,
}

/// What happened. Variant order is the Avro union order: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEventBody {
    PaymentAuthorized(PaymentAuthorized),
    PaymentDeclined(PaymentDeclined),
    PaymentVoided(PaymentVoided),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    pub order_id: String,
    pub authorization_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDeclined {
    pub order_id: String,
    /// Machine-readable, e.g. `card_declined` or `amount_limit`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoided {
    pub order_id: String,
    pub authorization_id: String,
}

/// Where one order's payment stands (Avro enum `shop.payment.PaymentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The gateway's answer is due at `answer_due_at`.
    AwaitingGateway,
    Authorized,
    Declined,
    Voided,
    /// The gateway never answered; nothing was charged.
    NoAnswer,
}

/// The payment processor's record of one order's payment (Avro `shop.payment.Payment`), so a
/// redelivered request is answered from here instead of charging twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub order_id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    #[serde(default)]
    pub authorization_id: Option<String>,
    /// Why it was declined or voided.
    #[serde(default)]
    pub reason: Option<String>,
    /// When a held-back gateway answer is released (status `AwaitingGateway`).
    #[serde(default)]
    pub answer_due_at: Option<TimestampMillis>,
    pub version: i64,
    pub updated_at: TimestampMillis,
}
