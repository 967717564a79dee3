//! Types shared by several records: money and time.
//!
//! Money is an integer amount of the currency's minor unit (cents) plus an ISO 4217 code, never a
//! float. Times are milliseconds since the Unix epoch (Avro `timestamp-millis`), kept as a plain
//! `i64` so the Avro encoding is exact and the type costs nothing.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC (Avro `long` with `logicalType: timestamp-millis`).
pub type TimestampMillis = i64;

/// The current wall-clock time as [`TimestampMillis`].
///
/// A clock set before 1970 reads as 0 rather than failing: a timestamp is metadata here, never
/// something a decision hangs on.
pub fn now_millis() -> TimestampMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis_of)
        .unwrap_or(0)
}

/// `duration` in whole milliseconds, for adding to a [`TimestampMillis`]; saturates at
/// `i64::MAX` (some 292 million years) instead of failing.
pub fn millis_of(duration: Duration) -> TimestampMillis {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// An amount of money: `amount_cents` of the currency's minor unit (Avro `shop.common.Money`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD). Signed so refunds and differences can be expressed.
    pub amount_cents: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// `amount_cents` of `currency`.
    pub fn new(amount_cents: i64, currency: impl Into<String>) -> Self {
        Self {
            amount_cents,
            currency: currency.into(),
        }
    }
}
