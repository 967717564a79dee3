//! The checkout saga end to end on the real broker and registry: every processor running, fed
//! through its input topics as the ingress would, watched through the topics it writes.
//!
//! The scenarios share one pipeline and run at the same time (each on its own products and
//! users), so their interleaving is part of what is tested; the invariant checker then reads
//! every topic and must find nothing wrong with the run as a whole.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod binaries;
mod pipeline;

use futures::future::join_all;
use pipeline::Pipeline;
use shop_processors::invariants;
use shop_processors::payment::tokens;
use shop_schemas::cart::{AddItem, CartCommand, CartCommandBody, Checkout, ClearCart};
use shop_schemas::now_millis;
use shop_schemas::orders::{LineStock, OrderStatus};
use shop_schemas::outcomes::OutcomeStatus;
use shop_schemas::payment::PaymentStatus;
use std::time::Duration;

const PAYMENT_TIMEOUT: Duration = Duration::from_secs(4);
const LATE_ANSWER: Duration = Duration::from_secs(7);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_saga_end_to_end() {
    let pipeline = Pipeline::start("saga", |settings| {
        settings.payment_timeout = PAYMENT_TIMEOUT;
        settings.gateway.late_delay = LATE_ANSWER;
    })
    .await;

    the_catalog_is_seeded_on_first_start(&pipeline).await;
    tokio::join!(
        happy_path_confirms_and_commits_stock(&pipeline),
        out_of_stock_rejects_and_leaks_nothing(&pipeline),
        a_multi_line_order_with_one_line_short_releases_every_line(&pipeline),
        a_declined_payment_cancels_and_releases_stock(&pipeline),
        no_payment_answer_cancels_at_the_deadline(&pipeline),
        a_late_authorisation_is_voided(&pipeline),
        fifty_checkouts_race_for_the_last_ten_units(&pipeline),
        refused_commands_get_one_rejected_outcome(&pipeline),
        a_command_record_written_twice_is_applied_once(&pipeline),
    );

    let report = invariants::check_topics(
        &shop_platform::testing::kafka(),
        &pipeline.settings.codec().unwrap(),
        &pipeline.topics,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "invariants violated:\n{report}");
    // One happy order, ten race winners and the order of the command written twice; forty race
    // losers, the rare and the multi-line order; declined, silent and late.
    let ended = |status: &str| report.terminal.get(status).copied().unwrap_or(0);
    assert_eq!(report.checkouts, 57, "{report}");
    assert_eq!(
        (ended("CONFIRMED"), ended("REJECTED"), ended("CANCELLED")),
        (12, 42, 3),
        "{report}"
    );
    pipeline.stop().await;
}

async fn the_catalog_is_seeded_on_first_start(pipeline: &Pipeline) {
    let seeded = [
        ("laptop", 129_999, 50),
        ("mouse", 2_999, 200),
        ("keyboard", 8_999, 100),
        ("monitor", 39_999, 75),
        ("headphones", 24_999, 150),
    ];
    for (product_id, cents, units) in seeded {
        let product = pipeline
            .wait_for(&format!("seeded {product_id}"), || {
                pipeline.products.get(product_id)
            })
            .await;
        assert_eq!(
            (product.price.amount_cents, product.price.currency.as_str()),
            (cents, "USD")
        );
        let stock = pipeline
            .wait_for(&format!("stock of {product_id}"), || {
                pipeline.stock.get(product_id)
            })
            .await;
        assert_eq!(stock.available, units, "{product_id}");
    }
}

async fn happy_path_confirms_and_commits_stock(pipeline: &Pipeline) {
    pipeline.add("happy-user", "laptop", 2).await;
    pipeline.add("happy-user", "mouse", 1).await;
    let order_id = pipeline.checkout("happy-user", "tok_visa").await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Confirmed, "{order:?}");
    assert_eq!(order.total.amount_cents, 2 * 129_999 + 2_999);
    assert!(
        order
            .lines
            .iter()
            .all(|line| line.stock == LineStock::Committed)
    );
    assert_eq!(order.authorization_id, Some(format!("auth-{order_id}")));
    // Sold units left for good: neither available nor reserved.
    assert_eq!(pipeline.settled_stock("laptop").await, (48, 0));
    assert_eq!(pipeline.settled_stock("mouse").await, (199, 0));
    let payment = pipeline.payments.get(&order_id).unwrap();
    assert_eq!(payment.status, PaymentStatus::Authorized);
    // The same checkout again (a client retrying with its idempotency key) after new items:
    // accepted again, and still one order (the invariant checker counts the checkouts).
    pipeline.add("happy-user", "mouse", 1).await;
    let replayed = pipeline
        .checkout_as("happy-user", "tok_visa", &order_id)
        .await;
    assert_eq!(replayed, order_id);
}

async fn out_of_stock_rejects_and_leaks_nothing(pipeline: &Pipeline) {
    let rare = pipeline.product("rare", 10_000, 1).await;
    pipeline.add("greedy-user", &rare, 2).await;
    let order_id = pipeline.checkout("greedy-user", "tok_visa").await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Rejected, "{order:?}");
    assert_eq!(order.reason.as_deref(), Some("out_of_stock"));
    assert_eq!(pipeline.settled_stock(&rare).await, (1, 0));
    assert!(pipeline.payments.get(&order_id).is_none(), "never charged");
}

async fn a_multi_line_order_with_one_line_short_releases_every_line(pipeline: &Pipeline) {
    let plenty = pipeline.product("plenty", 500, 5).await;
    let also = pipeline.product("also", 700, 5).await;
    let short = pipeline.product("short", 900, 1).await;
    pipeline.add("multi-user", &plenty, 2).await;
    pipeline.add("multi-user", &also, 3).await;
    pipeline.add("multi-user", &short, 2).await;
    let order_id = pipeline.checkout("multi-user", "tok_visa").await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Rejected, "{order:?}");
    // Every line that got stock gives it back, including those answered after the rejection.
    assert_eq!(pipeline.settled_stock(&plenty).await, (5, 0));
    assert_eq!(pipeline.settled_stock(&also).await, (5, 0));
    assert_eq!(pipeline.settled_stock(&short).await, (1, 0));
    let order = pipeline
        .wait_for("every line to be settled", || {
            pipeline.orders.get(&order_id).filter(|order| {
                order
                    .lines
                    .iter()
                    .all(|line| matches!(line.stock, LineStock::Released | LineStock::Rejected))
            })
        })
        .await;
    assert_eq!(order.lines.len(), 3);
}

async fn a_declined_payment_cancels_and_releases_stock(pipeline: &Pipeline) {
    let product = pipeline.product("declined", 1_000, 3).await;
    pipeline.add("declined-user", &product, 2).await;
    let order_id = pipeline.checkout("declined-user", tokens::DECLINE).await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Cancelled, "{order:?}");
    assert_eq!(order.reason.as_deref(), Some("card_declined"));
    assert_eq!(pipeline.settled_stock(&product).await, (3, 0));
}

async fn no_payment_answer_cancels_at_the_deadline(pipeline: &Pipeline) {
    let product = pipeline.product("silent", 1_000, 3).await;
    pipeline.add("silent-user", &product, 1).await;
    let order_id = pipeline.checkout("silent-user", tokens::NO_ANSWER).await;
    let reserved = pipeline
        .wait_for("stock reserved", || {
            pipeline
                .orders
                .get(&order_id)
                .filter(|order| order.status != OrderStatus::Pending)
        })
        .await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Cancelled, "{order:?}");
    assert_eq!(order.reason.as_deref(), Some("payment_timeout"));
    let waited = order.updated_at - reserved.updated_at;
    assert!(
        waited >= PAYMENT_TIMEOUT.as_millis() as i64,
        "cancelled after {waited} ms, before the deadline"
    );
    assert_eq!(pipeline.settled_stock(&product).await, (3, 0));
}

async fn a_late_authorisation_is_voided(pipeline: &Pipeline) {
    let product = pipeline.product("late", 1_000, 3).await;
    pipeline.add("late-user", &product, 1).await;
    let order_id = pipeline.checkout("late-user", tokens::LATE).await;
    let order = pipeline.terminal(&order_id).await;
    assert_eq!(order.status, OrderStatus::Cancelled, "{order:?}");
    assert_eq!(order.reason.as_deref(), Some("payment_timeout"));
    let payment = pipeline
        .wait_for("the late authorisation to be voided", || {
            pipeline
                .payments
                .get(&order_id)
                .filter(|payment| payment.status == PaymentStatus::Voided)
        })
        .await;
    assert_eq!(payment.authorization_id, Some(format!("auth-{order_id}")));
    let order = pipeline.orders.get(&order_id).unwrap();
    assert_eq!(order.status, OrderStatus::Cancelled, "stays cancelled");
    assert_eq!(pipeline.settled_stock(&product).await, (3, 0));
}

async fn fifty_checkouts_race_for_the_last_ten_units(pipeline: &Pipeline) {
    let last = pipeline.product("last", 2_500, 10).await;
    let buyers: Vec<String> = (0..50).map(|n| format!("racer-{n}")).collect();
    join_all(buyers.iter().map(|user| pipeline.add(user, &last, 1))).await;
    let orders = join_all(
        buyers
            .iter()
            .map(|user| pipeline.checkout(user, "tok_visa")),
    )
    .await;
    let ended = join_all(orders.iter().map(|order| pipeline.terminal(order))).await;
    let confirmed = ended
        .iter()
        .filter(|order| order.status == OrderStatus::Confirmed)
        .count();
    let rejected = ended
        .iter()
        .filter(|order| {
            order.status == OrderStatus::Rejected && order.reason.as_deref() == Some("out_of_stock")
        })
        .count();
    assert_eq!((confirmed, rejected), (10, 40));
    assert_eq!(pipeline.settled_stock(&last).await, (0, 0));
}

async fn refused_commands_get_one_rejected_outcome(pipeline: &Pipeline) {
    let user = "refused-user";
    let empty_checkout = CartCommandBody::Checkout(Checkout {
        order_id: "never-created".to_owned(),
        payment_token: "tok_visa".to_owned(),
    });
    let outcome = pipeline
        .outcome(&pipeline.cart(user, empty_checkout).await)
        .await;
    assert_eq!(
        (outcome.status, outcome.reason_code.as_deref()),
        (OutcomeStatus::Rejected, Some("empty_cart"))
    );
    let unknown = CartCommandBody::AddItem(shop_schemas::cart::AddItem {
        product_id: "no-such-product".to_owned(),
        quantity: 1,
    });
    let outcome = pipeline.outcome(&pipeline.cart(user, unknown).await).await;
    assert_eq!(
        (outcome.status, outcome.reason_code.as_deref()),
        (OutcomeStatus::Rejected, Some("unknown_product"))
    );
    let clear = pipeline
        .outcome(
            &pipeline
                .cart(user, CartCommandBody::ClearCart(ClearCart {}))
                .await,
        )
        .await;
    assert_eq!(clear.status, OutcomeStatus::Accepted);
    assert!(pipeline.orders.get("never-created").is_none());
}

/// The ingress's producer can write a command record twice (it resends a batch the broker had
/// stored when it bumps its epoch after a broker restart): the copy must change nothing and get
/// no outcome of its own, which the invariant checker at the end counts.
async fn a_command_record_written_twice_is_applied_once(pipeline: &Pipeline) {
    let user = "twice-user";
    let product_id = pipeline.product("twice", 1_000, 10).await;
    // An ordinary add first: the cart's copy of the catalog knows the product from then on.
    pipeline.add(user, &product_id, 1).await;
    let add_two = CartCommand {
        command_id: shop_platform::testing::unique("cmd"),
        issued_at: now_millis(),
        user_id: user.to_owned(),
        body: CartCommandBody::AddItem(AddItem {
            product_id: product_id.clone(),
            quantity: 2,
        }),
    };
    let topic = &pipeline.topics.cart_commands;
    pipeline.send(topic, user, &add_two).await;
    pipeline.send(topic, user, &add_two).await;
    let outcome = pipeline.outcome(&add_two.command_id).await;
    assert_eq!(outcome.status, OutcomeStatus::Accepted, "{outcome:?}");

    // The checkout is behind both copies on the user's partition.
    let order = pipeline
        .terminal(&pipeline.checkout(user, "tok_visa").await)
        .await;
    let quantities: Vec<(&str, i32)> = order
        .lines
        .iter()
        .map(|line| (line.product_id.as_str(), line.quantity))
        .collect();
    assert_eq!(quantities, [(product_id.as_str(), 3)], "{order:?}");
    assert_eq!(order.status, OrderStatus::Confirmed, "{order:?}");
}
