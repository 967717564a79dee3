//! Deadlines: a handler that cancels orders left pending for too long, run across restarts.

use crate::helpers::{codec, produce_record, producer, register_subjects};
use rdkafka::Message;
use shop_platform::testing;
use shop_processors::runtime::{Handler, HandlerError, Outputs, RecordContext, RuntimeConfig};
use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::orders::{Order, OrderEvent, OrderStatus};
use shop_schemas::{AvroRecord, TimestampMillis, samples};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Opens an order per checkout with a deadline `timeout_ms` after the record's timestamp, and
/// cancels it when the deadline passes.
#[derive(Debug, Clone)]
struct CancelWhenLate {
    timeout_ms: i64,
    events_topic: String,
}

impl Handler for CancelWhenLate {
    type Input = CheckoutRequested;
    type State = Order;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: CheckoutRequested,
        state: &mut Option<Order>,
        _out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let at = record.timestamp.unwrap_or_default();
        let mut order = samples::orders(0).remove(0);
        order.order_id = input.order_id;
        order.user_id = input.user_id;
        order.deadline_at = Some(at + self.timeout_ms);
        *state = Some(order);
        Ok(())
    }

    fn deadline(state: &Order) -> Option<TimestampMillis> {
        (state.status == OrderStatus::Pending)
            .then_some(state.deadline_at)
            .flatten()
    }

    fn on_deadline(
        &mut self,
        key: &str,
        now: TimestampMillis,
        state: &mut Option<Order>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let Some(order) = state.as_mut() else {
            return Ok(());
        };
        order.status = OrderStatus::Cancelled;
        order.deadline_at = None;
        order.version += 1;
        out.send(
            self.events_topic.clone(),
            key,
            OrderEvent {
                event_id: format!("{key}-cancelled"),
                order_id: key.to_owned(),
                user_id: order.user_id.clone(),
                status: OrderStatus::Cancelled,
                previous_status: Some(OrderStatus::Pending),
                reason: Some("payment_timeout".to_owned()),
                occurred_at: now,
            },
        );
        Ok(())
    }
}

struct Setup {
    input: String,
    changelog: String,
    events: String,
    group: String,
}

async fn setup() -> Setup {
    let prefix = testing::unique("timers");
    let setup = Setup {
        input: format!("{prefix}.checkout.requested"),
        changelog: format!("{prefix}.orders.orders"),
        events: format!("{prefix}.orders.events"),
        group: format!("{prefix}.orders"),
    };
    let dead_letters = format!("{}.dlq", setup.input);
    tokio::join!(
        testing::create_topic(&setup.input, 2),
        testing::create_topic(&setup.changelog, 2),
        testing::create_topic(&setup.events, 1),
        testing::create_topic(&dead_letters, 1),
    );
    register_subjects(&[
        (&setup.input, CheckoutRequested::source()),
        (&setup.changelog, Order::source()),
        (&setup.events, OrderEvent::source()),
    ])
    .await;
    setup
}

fn start(
    setup: &Setup,
    transactional_id: &str,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<Result<(), shop_processors::runtime::RuntimeError>>,
) {
    let mut config = RuntimeConfig::new(
        "cancel-when-late",
        setup.group.clone(),
        transactional_id,
        vec![setup.input.clone()],
        Some(setup.changelog.clone()),
    );
    config.punctuation_interval = Duration::from_millis(100);
    let handler = CancelWhenLate {
        timeout_ms: 8_000,
        events_topic: setup.events.clone(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(shop_processors::runtime::run(
        config,
        testing::kafka(),
        codec(),
        handler,
        shutdown.clone(),
    ));
    (shutdown, task)
}

async fn stop(
    running: (
        CancellationToken,
        tokio::task::JoinHandle<Result<(), shop_processors::runtime::RuntimeError>>,
    ),
) {
    running.0.cancel();
    running.1.await.unwrap().unwrap();
}

async fn cancellations(events: &str, expected: usize, timeout: Duration) -> HashMap<String, usize> {
    let codec = codec();
    let mut counts = HashMap::new();
    for message in testing::consume(events, expected, timeout).await {
        let event: OrderEvent = codec.decode(message.payload().unwrap()).await.unwrap();
        *counts.entry(event.order_id).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn a_deadline_fires_once_even_across_restarts() {
    testing::init_logs();
    const ORDERS: usize = 10;
    let setup = setup().await;
    let transactional_id = testing::unique("tx");
    let running = start(&setup, &transactional_id);

    let codec = codec();
    let producer = producer();
    for i in 0..ORDERS {
        let mut checkout = samples::checkout_requested(0);
        checkout.order_id = format!("order-{i}");
        produce_record(
            &producer,
            &codec,
            &setup.input,
            &checkout.order_id,
            &checkout,
        )
        .await;
    }
    // Stop before any deadline passes: the orders and their deadlines are in the changelog.
    let pending = testing::consume(&setup.changelog, ORDERS, Duration::from_secs(30)).await;
    assert_eq!(pending.len(), ORDERS);
    stop(running).await;
    assert!(
        cancellations(&setup.events, 1, Duration::from_millis(500))
            .await
            .is_empty()
    );

    // A new instance restores them and acts on each deadline once.
    let running = start(&setup, &transactional_id);
    let fired = cancellations(&setup.events, ORDERS, Duration::from_secs(30)).await;
    assert_eq!(fired.len(), ORDERS);
    stop(running).await;

    // Restarting again does not fire them again: the cancellation was committed with the state.
    let running = start(&setup, &transactional_id);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop(running).await;
    let fired = cancellations(&setup.events, ORDERS + 1, Duration::from_secs(3)).await;
    assert_eq!(fired.len(), ORDERS);
    assert!(fired.values().all(|count| *count == 1), "{fired:?}");
}
