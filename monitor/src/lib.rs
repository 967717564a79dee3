//! The consumer-lag monitor: for every consumer group of the pipeline (and any named in its
//! settings), each partition's committed offset, log-end and last stable offset, lag in
//! records and seconds, a Burrow-style status, and produce and consume rates; served as
//! Prometheus metrics, a JSON API and a built-in dashboard (`docs/monitoring.md`).
//!
//! Data flow: [`tail`] follows `__consumer_offsets` into a [`commits::CommitTable`]; every
//! interval the [`sampler`] asks the broker for log offsets ([`offsets`]), reads the first
//! unconsumed record of each lagging partition ([`probe`]), computes [`lag`] and [`status`],
//! and hands a [`report::LagReport`] to [`state`] (for [`http`]) and [`metrics`].

pub mod app;
pub mod commit_log;
pub mod commits;
pub mod http;
pub mod lag;
pub mod metrics;
pub mod offsets;
pub mod probe;
pub mod report;
pub mod sampler;
pub mod state;
pub mod status;
pub mod tail;
