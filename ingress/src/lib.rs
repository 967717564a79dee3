//! The shop's HTTP front door: authenticates callers, validates requests, turns writes into
//! commands on Kafka and answers reads from the SQL read model.
//!
//! Owns the HTTP surface (routes, problem+json errors, JWT auth, rate limits, the OpenAPI
//! document), the producer of `catalog.commands` and `cart.commands`, and the listener that
//! answers `Prefer: wait` from `commands.outcomes`. It decides nothing about the business: the
//! processors accept or reject every command, and the read model is the only source of reads.
//!
//! The outside world sits behind the small traits in [`ports`], so the router runs in tests
//! without a socket, a broker or a database: [`router`] builds it from an [`AppState`], and
//! [`serve`] runs it on a listener until a shutdown token is cancelled.
//!
//! Layout: [`settings`] and [`app`] (flags, environment, the binary's `main`), [`state`] (what a
//! request can reach, and [`AppState::connect`] for the real dependencies), [`api`] (routes and
//! handlers), [`auth`] (JWT), [`error`] (problem+json), [`kafka`] (producer, outcome listener,
//! readiness), [`readmodel`] (the [`ports::Queries`] adapter over `shop-readmodel`).

pub mod api;
pub mod app;
pub mod auth;
pub mod error;
pub mod kafka;
pub mod metric_names;
pub mod outcomes;
pub mod ports;
pub mod ratelimit;
pub mod readmodel;
pub mod settings;
pub mod sink;
pub mod state;
pub mod trace;
pub mod views;

mod serve;

pub use api::{openapi, router};
pub use serve::serve;
pub use settings::{AuthSettings, HttpSettings, RateLimitSettings, Settings};
pub use state::AppState;
