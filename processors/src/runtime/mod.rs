//! An exactly-once consume → handle → produce loop on rdkafka.
//!
//! Each batch is one Kafka transaction holding the handler's outputs, the changed state (the
//! final state of each changed key, written at commit to a compacted changelog topic) and the
//! input offsets (`send_offsets_to_transaction` with the consumer's group metadata): all become
//! visible to `read_committed` readers together, or none do. State lives in memory per input
//! partition, rebuilt from the changelog when the partition is assigned, before its first
//! record, and dropped when it is revoked. A record that cannot be decoded, or that the handler
//! refuses as poison, goes to the input topic's dead-letter topic in the same transaction.
//!
//! Every record is handled inside a span of its own (`process <topic>`), a child of the span
//! its `traceparent` header names; the outputs carry that span's `traceparent` (see `trace`).
//!
//! The loop runs on a thread of its own: librdkafka's transaction calls block, and a dedicated
//! thread keeps them off the async workers. Registry lookups (async) are driven from it with
//! the runtime handle it was started from.

mod changelog;
mod codec_calls;
mod config;
pub mod dead_letter;
mod engine;
mod error;
mod global_table;
mod handler;
mod meters;
mod produce;
mod rebalance;
mod restore;
mod store;
mod trace;

pub use config::RuntimeConfig;
pub use engine::run;
pub use error::RuntimeError;
pub use global_table::GlobalTable;
pub use handler::{Handler, HandlerError, InputRecord, Outputs, RecordContext};
pub use rebalance::{RebalanceContext, RebalanceEvent, TopicPartition};
