//! Every topic of the pipeline declared once as code, and the machinery of `shop-topics`, which
//! creates or reconciles them on any cluster and registers their schemas.
//!
//! Owns topic and header names ([`names`]), topic specs ([`spec`]) and their reconciliation
//! ([`plan`], [`cluster`], [`subjects`]). Record shapes live in `shop-schemas`.

pub mod cli;
pub mod cluster;
pub mod names;
pub mod plan;
mod provision;
pub mod spec;
pub mod subjects;
mod topic_names;

pub use provision::{ProvisionError, provision};
pub use spec::{Layout, TopicSpec};
pub use topic_names::TopicNames;
