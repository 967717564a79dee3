//! The ingress's adapters against the real local stack: the Kafka producer and outcome listener
//! on the broker and registry, the read-model adapter on PostgreSQL. Everything is named with a
//! random suffix, so these run in parallel with every other test on one stack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kafka;
mod readmodel;
