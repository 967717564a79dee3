//! Prometheus metric names of the ingress, defined once. Labels are bounded: method, route
//! template, status, command kind, result; never a user, product or order id.
//!
//! They belong next to the processors' names in `shop_topics::names::metrics`; they live here
//! until that crate takes them, so the ingress does not reach into a crate it does not own.

/// HTTP requests answered, by method, route template and status.
pub const HTTP_REQUESTS: &str = "shop_ingress_http_requests_total";
/// Time to answer one HTTP request, by method and route template.
pub const HTTP_REQUEST_SECONDS: &str = "shop_ingress_http_request_duration_seconds";
/// Commands handed to Kafka, by kind and result (`sent`, `full`, `unavailable`, `failed`).
pub const COMMANDS: &str = "shop_ingress_commands_total";
/// Requests that asked to wait for an outcome, by result (`decided`, `timeout`, `skipped`).
pub const OUTCOME_WAITS: &str = "shop_ingress_outcome_waits_total";
/// Outcomes read from `commands.outcomes`, by whether a request was waiting for them.
pub const OUTCOMES_READ: &str = "shop_ingress_outcomes_read_total";
/// Requests refused by the per-user rate limit.
pub const RATE_LIMITED: &str = "shop_ingress_rate_limited_total";
