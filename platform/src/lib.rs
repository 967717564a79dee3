//! What every shop binary shares: Kafka client settings, telemetry (logs, and span export with
//! W3C trace context from hop to hop), PostgreSQL pools and graceful shutdown.
//!
//! Owns the plumbing only; no topic names (see `shop-topics`) and no record types (see
//! `shop-schemas`).

pub mod database;
pub mod instance;
pub mod kafka;
pub mod probe;
pub mod procfs;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace_context;
pub mod tracing_otel;
