//! The ingress's Kafka side: the producer of commands ([`producer`]), the listener that reads
//! `commands.outcomes` for waiting requests ([`listener`]) and the broker and registry checks of
//! `/ready` ([`ready`]).

pub mod listener;
pub mod producer;
pub mod ready;
