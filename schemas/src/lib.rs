//! The shop's records: Avro schemas (`avro/*.avsc`), the Rust types that match them, and the
//! codec that reads and writes them in the Confluent wire format through a schema registry.
//!
//! Owns record shapes and their encoding; does not know topics (see `shop-topics`) or Kafka
//! clients (see `shop-platform`). Rules for changing a schema are in `docs/schemas.md`.

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod codec;
pub mod common;
pub mod inventory;
pub mod orders;
pub mod outcomes;
pub mod payment;
pub mod record;
pub mod registry;
pub mod samples;

pub use codec::{AvroCodec, CodecError, Decoded, Part, Registration, RegistryConfig};
pub use common::{Money, TimestampMillis, millis_of, now_millis};
pub use record::{ALL_SCHEMAS, AvroRecord, KEY_STRING, SchemaSource};

#[cfg(test)]
mod tests;
