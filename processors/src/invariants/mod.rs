//! Proof from the topics that a run kept the pipeline's promises: every checkout ended exactly
//! once, no stock was lost or oversold, nobody was charged for an order they did not get.
//!
//! Two halves. [`observe`] reads every topic the promises are about from the beginning to its
//! end (`read_committed`) into an [`Observed`]: plain collections, no Kafka. [`check`] is a pure
//! function of an [`Observed`] and returns a [`Report`] naming every [`Violation`]. Tests build
//! an [`Observed`] by hand; load and chaos runs call [`check_topics`] (both halves) after the
//! pipeline went quiet, or run the `shop-check` binary. What each check means:
//! `docs/invariants.md`.

mod check;
mod observe;
mod observed;
mod report;

pub use check::check;
pub use observe::{ObserveError, check_topics, observe};
pub use observed::{Observed, Undecodable};
pub use report::{Report, Violation, ViolationKind};
