//! The ingress's router without a socket: every route and status code against fakes of the
//! command sink, the outcome waiter and the read model (`helpers.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cart;
mod catalog;
mod checkout;
mod errors;
mod fakes;
mod helpers;
mod openapi;
mod orders;
mod system;
