//! Every topic and header name of the pipeline, defined once.
//!
//! Topic constants are base names; a deployment may put a prefix in front of all of them (see
//! [`crate::Layout::topic`]), which is how tests share one broker without colliding.

/// Catalog commands from the ingress (key: product id).
pub const CATALOG_COMMANDS: &str = "catalog.commands";
/// Current products, compacted (key: product id); the global table the cart prices from.
pub const CATALOG_PRODUCTS: &str = "catalog.products";
/// Cart commands from the ingress (key: user id).
pub const CART_COMMANDS: &str = "cart.commands";
/// Current carts, compacted (key: user id); the cart processor's changelog.
pub const CART_CARTS: &str = "cart.carts";
/// Priced carts handed to the orders saga (key: order id).
pub const CHECKOUT_REQUESTED: &str = "checkout.requested";
/// Stock operations (key: product id).
pub const INVENTORY_COMMANDS: &str = "inventory.commands";
/// Current stock, compacted (key: product id); the inventory processor's changelog.
pub const INVENTORY_STOCK: &str = "inventory.stock";
/// Answers to stock operations (key: order id).
pub const INVENTORY_EVENTS: &str = "inventory.events";
/// Payment requests (key: order id).
pub const PAYMENT_COMMANDS: &str = "payment.commands";
/// Payment outcomes (key: order id).
pub const PAYMENT_EVENTS: &str = "payment.events";
/// The payment processor's record of each order's payment, compacted (key: order id); its
/// changelog.
pub const PAYMENT_PAYMENTS: &str = "payment.payments";
/// Saga state of every order, compacted (key: order id); the orders processor's changelog.
pub const ORDERS_ORDERS: &str = "orders.orders";
/// Order status transitions (key: order id).
pub const ORDERS_EVENTS: &str = "orders.events";
/// One outcome per ingress command (key: command id).
pub const COMMAND_OUTCOMES: &str = "commands.outcomes";

/// What is appended to a topic's name to name its dead-letter topic.
pub const DEAD_LETTER_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic` (a full name, prefix included).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}{DEAD_LETTER_SUFFIX}")
}

/// Record header names.
pub mod headers {
    /// W3C trace context, carried from every input record to the outputs it caused.
    pub const TRACEPARENT: &str = "traceparent";
    /// Why a record was dead-lettered (a sentence).
    pub const DLQ_ERROR: &str = "shop.dlq.error";
    /// Where a dead-lettered record was read: topic, partition and offset.
    pub const DLQ_SOURCE_TOPIC: &str = "shop.dlq.source.topic";
    pub const DLQ_SOURCE_PARTITION: &str = "shop.dlq.source.partition";
    pub const DLQ_SOURCE_OFFSET: &str = "shop.dlq.source.offset";
    /// Which processor gave up on it.
    pub const DLQ_PROCESSOR: &str = "shop.dlq.processor";
    /// When it was dead-lettered, RFC 3339.
    pub const DLQ_TIME: &str = "shop.dlq.time";
}

/// Prometheus metric names. Labels are bounded: processor, topic, partition, kind, group,
/// status; the ingress's method, route template, status, kind and result; never an order or
/// user id.
pub mod metrics {
    /// Input records read, by processor and topic.
    pub const RECORDS_IN: &str = "shop_processor_records_in_total";
    /// Records produced (outputs and changelog), by processor and topic.
    pub const RECORDS_OUT: &str = "shop_processor_records_out_total";
    /// Records sent to a dead-letter topic, by processor and source topic.
    pub const DEAD_LETTERS: &str = "shop_processor_dead_letters_total";
    /// Time in the handler per record, by processor.
    pub const HANDLER_SECONDS: &str = "shop_processor_handler_seconds";
    /// Time to commit one transaction, by processor.
    pub const COMMIT_SECONDS: &str = "shop_processor_commit_seconds";
    /// Input records and deadlines per committed transaction, by processor.
    pub const BATCH_RECORDS: &str = "shop_processor_batch_records";
    /// Aborted transactions, by processor.
    pub const ABORTS: &str = "shop_processor_aborts_total";
    /// Time to restore one partition's state, by processor.
    pub const RESTORE_SECONDS: &str = "shop_processor_restore_seconds";
    /// Partitions assigned or revoked, by processor and kind.
    pub const REBALANCES: &str = "shop_processor_rebalances_total";
    /// Deadlines acted on, by processor.
    pub const DEADLINES_FIRED: &str = "shop_processor_deadlines_fired_total";
    /// Records the read-model projector took, by topic.
    pub const PROJECTOR_RECORDS: &str = "shop_projector_records_total";
    /// Time to write one batch (rows and offsets, one database transaction).
    pub const PROJECTOR_BATCH_SECONDS: &str = "shop_projector_batch_seconds";
    /// Failed batch writes that were retried (the database was away).
    pub const PROJECTOR_RETRIES: &str = "shop_projector_retries_total";
    /// Order status transitions applied to the read model, by status (`PENDING`, `CONFIRMED`,
    /// ...). Counted by the projector after its database commit, for records it had not
    /// applied before, so a replay does not count twice: the saga's outcomes.
    pub const ORDER_TRANSITIONS: &str = "shop_orders_transitions_total";

    /// Lag monitor: records a group has yet to consume, by group, topic and partition.
    pub const LAG_RECORDS: &str = "shop_lag_records";
    /// Lag monitor: how long the oldest unconsumed record has waited, by group, topic and
    /// partition (0 when caught up).
    pub const LAG_SECONDS: &str = "shop_lag_seconds";
    /// Lag monitor: partition status code (0 OK, 1 WARNING, 2 REWIND, 3 STALLED, 4 STOPPED), by
    /// group, topic and partition.
    pub const LAG_PARTITION_STATUS: &str = "shop_lag_partition_status";
    /// Lag monitor: committed offset, by group, topic and partition (absent before the first
    /// commit).
    pub const LAG_COMMITTED_OFFSET: &str = "shop_lag_committed_offset";
    /// Lag monitor: a group's lag in records, summed over its partitions, by group.
    pub const LAG_GROUP_RECORDS: &str = "shop_lag_group_records";
    /// Lag monitor: a group's lag in seconds, the largest of its partitions, by group.
    pub const LAG_GROUP_SECONDS: &str = "shop_lag_group_seconds";
    /// Lag monitor: 1 for a group's current status and 0 for the others, by group and status
    /// (`OK`, `WARNING`, `REWIND`, `STALLED`, `STOPPED`): alert on `== 1`.
    pub const LAG_GROUP_STATUS: &str = "shop_lag_group_status";
    /// Lag monitor: records committed per second, by group (over the rate window).
    pub const GROUP_CONSUME_RATE: &str = "shop_lag_group_consume_rate";
    /// Lag monitor: records produced per second, by topic (over the rate window).
    pub const TOPIC_PRODUCE_RATE: &str = "shop_lag_topic_produce_rate";
    /// Lag monitor: log-end offset (high watermark), by topic and partition.
    pub const TOPIC_END_OFFSET: &str = "shop_lag_topic_end_offset";
    /// Lag monitor: last stable offset (what read_committed consumers can read), by topic and
    /// partition.
    pub const TOPIC_STABLE_OFFSET: &str = "shop_lag_topic_stable_offset";
    /// Lag monitor: time to take one sample of every group.
    pub const MONITOR_SAMPLE_SECONDS: &str = "shop_lag_monitor_sample_seconds";
    /// Lag monitor: samples that failed (the broker did not answer), by stage.
    pub const MONITOR_SAMPLE_ERRORS: &str = "shop_lag_monitor_sample_errors_total";

    /// Ingress: HTTP requests answered, by method, route template and status.
    pub const INGRESS_HTTP_REQUESTS: &str = "shop_ingress_http_requests_total";
    /// Ingress: time to answer one HTTP request, by method and route template.
    pub const INGRESS_HTTP_REQUEST_SECONDS: &str = "shop_ingress_http_request_duration_seconds";
    /// Ingress: commands handed to Kafka, by kind and result (`sent`, `full`, `unavailable`,
    /// `failed`).
    pub const INGRESS_COMMANDS: &str = "shop_ingress_commands_total";
    /// Ingress: requests that asked to wait for an outcome, by result (`decided`, `timeout`,
    /// `skipped`).
    pub const INGRESS_OUTCOME_WAITS: &str = "shop_ingress_outcome_waits_total";
    /// Ingress: outcomes read from `commands.outcomes`, by whether a request was waiting for
    /// them (`waited`: `true`, `false`).
    pub const INGRESS_OUTCOMES_READ: &str = "shop_ingress_outcomes_read_total";
    /// Ingress: requests refused by the per-user rate limit.
    pub const INGRESS_RATE_LIMITED: &str = "shop_ingress_rate_limited_total";

    /// Every name above, for whatever must check a name against the list (the monitoring
    /// configuration's test in `tests/monitoring_config.rs`); a new name goes here too.
    pub const ALL: &[&str] = &[
        RECORDS_IN,
        RECORDS_OUT,
        DEAD_LETTERS,
        HANDLER_SECONDS,
        COMMIT_SECONDS,
        BATCH_RECORDS,
        ABORTS,
        RESTORE_SECONDS,
        REBALANCES,
        DEADLINES_FIRED,
        PROJECTOR_RECORDS,
        PROJECTOR_BATCH_SECONDS,
        PROJECTOR_RETRIES,
        ORDER_TRANSITIONS,
        LAG_RECORDS,
        LAG_SECONDS,
        LAG_PARTITION_STATUS,
        LAG_COMMITTED_OFFSET,
        LAG_GROUP_RECORDS,
        LAG_GROUP_SECONDS,
        LAG_GROUP_STATUS,
        GROUP_CONSUME_RATE,
        TOPIC_PRODUCE_RATE,
        TOPIC_END_OFFSET,
        TOPIC_STABLE_OFFSET,
        MONITOR_SAMPLE_SECONDS,
        MONITOR_SAMPLE_ERRORS,
        INGRESS_HTTP_REQUESTS,
        INGRESS_HTTP_REQUEST_SECONDS,
        INGRESS_COMMANDS,
        INGRESS_OUTCOME_WAITS,
        INGRESS_OUTCOMES_READ,
        INGRESS_RATE_LIMITED,
    ];
}
