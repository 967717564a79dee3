//! The shop's stream processors and the exactly-once runtime they run on.
//!
//! [`runtime`] owns consuming, producing, transactions, state restore and dead letters; a
//! processor supplies only a pure [`runtime::Handler`]. The business processors are
//! [`catalog`], [`cart`], [`inventory`], [`payment`] and [`orders`] (the checkout saga);
//! [`invariants`] checks from the topics that a run kept every promise (nothing lost,
//! duplicated or oversold). [`restock_counter`] is a small processor that exercises every part
//! of the runtime for its tests and benchmark.

pub mod app;
pub mod cart;
pub mod catalog;
pub mod invariants;
pub mod inventory;
pub mod orders;
pub mod outcome;
pub mod payment;
mod recent;
pub mod restock_counter;
pub mod runtime;
pub mod topology;
