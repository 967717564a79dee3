//! The shop's stream processors and the exactly-once runtime they run on.
//!
//! [`runtime`] owns consuming, producing, transactions, state restore and dead letters; a
//! processor supplies only a pure [`runtime::Handler`]. The business processors (catalog, cart,
//! inventory, payment, orders) arrive with the next issue; [`restock_counter`] is a small
//! processor that exercises every part of the runtime for tests and benchmarks.

pub mod restock_counter;
pub mod runtime;
