//! Prometheus metric names of the ingress, under the short names the ingress code uses. Labels
//! are bounded: method, route template, status, command kind, result; never a user, product or
//! order id.
//!
//! The names themselves are defined once, next to the processors' names, in
//! `shop_topics::names::metrics` (where the monitoring configuration's test checks them); this
//! module only re-exports them.

pub use shop_topics::names::metrics::{
    INGRESS_COMMANDS as COMMANDS, INGRESS_HTTP_REQUEST_SECONDS as HTTP_REQUEST_SECONDS,
    INGRESS_HTTP_REQUESTS as HTTP_REQUESTS, INGRESS_OUTCOME_WAITS as OUTCOME_WAITS,
    INGRESS_OUTCOMES_READ as OUTCOMES_READ, INGRESS_RATE_LIMITED as RATE_LIMITED,
};
