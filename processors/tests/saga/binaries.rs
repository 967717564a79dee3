//! The processor binaries as a deployment runs them, one process each, and the invariant
//! checker's binary judging their run.

use crate::pipeline::Pipeline;
use shop_platform::testing;
use shop_schemas::now_millis;
use shop_schemas::orders::{OrderEvent, OrderStatus};
use std::process::{Command, Output};

fn shop_check(prefix: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shop-check"))
        .env("SHOP_KAFKA_BROKERS", testing::brokers())
        .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
        .env("SHOP_TOPIC_PREFIX", prefix)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_processor_runs_as_its_own_binary_and_shop_check_judges_the_run() {
    let pipeline = Pipeline::start_binaries("binaries", &[("SHOP_PAYMENT_TIMEOUT", "10s")]).await;
    // The seeded catalog, priced by the cart, reserved, paid and committed across five
    // processes.
    pipeline.add("binary-user", "keyboard", 3).await;
    let order_id = pipeline.checkout("binary-user", "tok_visa").await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Confirmed, "{order:?}");
    assert_eq!(order.total.amount_cents, 3 * 8_999);
    assert_eq!(pipeline.settled_stock("keyboard").await, (97, 0));

    let clean = shop_check(&pipeline.settings.prefix);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(clean.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 checkouts"), "{stdout}");

    // A terminal event for an order nobody asked for: the checker must name it and fail.
    let forged = OrderEvent {
        event_id: "forged:CONFIRMED".to_owned(),
        order_id: "forged-order".to_owned(),
        user_id: "nobody".to_owned(),
        status: OrderStatus::Confirmed,
        previous_status: Some(OrderStatus::StockReserved),
        reason: None,
        occurred_at: now_millis(),
    };
    pipeline
        .send(&pipeline.topics.orders_events, "forged-order", &forged)
        .await;
    let caught = shop_check(&pipeline.settings.prefix);
    let stdout = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(caught.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("unknown_order") && stdout.contains("forged-order"),
        "{stdout}"
    );

    pipeline.stop().await;
}
