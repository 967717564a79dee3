//! `shop-chaos`: proof that crashes lose nothing. The whole pipeline runs as separate processes
//! (each processor as several instances, as a deployment runs them) on fresh topics and a fresh
//! database, the load generator drives checkouts through the ingress, and meanwhile instances
//! are SIGKILLed and restarted, the broker restarts and PostgreSQL stops for a while. Once the
//! load is over and the pipeline quiet, three views judge the run ([`verdict`]):
//!
//! - the client's: every accepted checkout ended, no scarce product confirmed beyond its stock
//!   ([`shop_loadgen::run_load`]);
//! - the topics': the invariant checker of `shop-processors` (`docs/invariants.md`);
//! - the read model's: every order and stock row equals the newest record of its key
//!   ([`audit`]).
//!
//! With no faults, the same run is a soak: the report carries every instance's resident memory
//! over time ([`fleet::ServiceReport::rss_mib`]).

pub mod audit;
pub mod faults;
pub mod fleet;
pub mod run;
pub mod verdict;

pub use run::{ChaosConfig, ChaosError, ChaosReport, run_chaos};
