//! One clean run, then for every kind of violation a copy of it that breaks exactly that rule.

use super::check;
use crate::invariants::{Observed, Report, Undecodable, ViolationKind};
use OrderStatus::{Cancelled, Confirmed, Pending, Rejected, StockReserved};
use ViolationKind as K;
use shop_schemas::Money;
use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::inventory::{
    InventoryCommand, InventoryCommandBody, InventoryEvent, InventoryEventBody, Reservation,
    Restock, StockLevel, StockLine, StockRejected,
};
use shop_schemas::orders::{Order, OrderEvent, OrderStatus};
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use shop_schemas::payment::{
    PaymentAuthorized, PaymentDeclined, PaymentEvent, PaymentEventBody, PaymentVoided,
};

pub(crate) fn checkout(order: &str) -> CheckoutRequested {
    CheckoutRequested {
        order_id: order.to_owned(),
        user_id: "u-1".to_owned(),
        command_id: format!("cmd-{order}"),
        payment_token: "tok".to_owned(),
        lines: Vec::new(),
        total: Money::new(100, "USD"),
        requested_at: 1,
    }
}

fn events(order: &str, statuses: &[OrderStatus]) -> Vec<OrderEvent> {
    statuses
        .iter()
        .enumerate()
        .map(|(index, status)| OrderEvent {
            event_id: format!("{order}-{index}"),
            order_id: order.to_owned(),
            user_id: "u-1".to_owned(),
            status: *status,
            previous_status: None,
            reason: None,
            occurred_at: 1,
        })
        .collect()
}

fn state(order: &str, status: OrderStatus) -> (String, Order) {
    (
        order.to_owned(),
        Order {
            order_id: order.to_owned(),
            user_id: "u-1".to_owned(),
            status,
            lines: Vec::new(),
            total: Money::new(100, "USD"),
            payment_token: "tok".to_owned(),
            authorization_id: None,
            reason: None,
            deadline_at: None,
            version: 1,
            created_at: 1,
            updated_at: 1,
        },
    )
}

fn command(body: InventoryCommandBody) -> InventoryCommand {
    InventoryCommand {
        command_id: "c".to_owned(),
        issued_at: 1,
        body,
    }
}

fn restock(product: &str, quantity: i32) -> InventoryCommand {
    command(InventoryCommandBody::Restock(Restock {
        product_id: product.to_owned(),
        quantity,
    }))
}

fn line(order: &str, product: &str, quantity: i32) -> StockLine {
    StockLine {
        order_id: order.to_owned(),
        product_id: product.to_owned(),
        quantity,
    }
}

fn inventory(body: InventoryEventBody) -> InventoryEvent {
    InventoryEvent {
        event_id: "e".to_owned(),
        occurred_at: 1,
        body,
    }
}

fn committed(order: &str, product: &str, quantity: i32) -> InventoryEvent {
    inventory(InventoryEventBody::StockCommitted(line(
        order, product, quantity,
    )))
}

fn level(
    product: &str,
    available: i32,
    reserved: i32,
    reservations: &[(&str, i32)],
) -> (String, StockLevel) {
    (
        product.to_owned(),
        StockLevel {
            product_id: product.to_owned(),
            available,
            reserved,
            reservations: reservations
                .iter()
                .map(|(order, quantity)| Reservation {
                    order_id: (*order).to_owned(),
                    quantity: *quantity,
                })
                .collect(),
            version: 1,
            updated_at: 1,
        },
    )
}

fn payment(body: PaymentEventBody) -> PaymentEvent {
    PaymentEvent {
        event_id: "p".to_owned(),
        occurred_at: 1,
        body,
    }
}

fn authorized(order: &str, authorization: &str) -> PaymentEvent {
    payment(PaymentEventBody::PaymentAuthorized(PaymentAuthorized {
        order_id: order.to_owned(),
        authorization_id: authorization.to_owned(),
        amount: Money::new(100, "USD"),
    }))
}

fn voided(order: &str, authorization: &str) -> PaymentEvent {
    payment(PaymentEventBody::PaymentVoided(PaymentVoided {
        order_id: order.to_owned(),
        authorization_id: authorization.to_owned(),
    }))
}

/// Four orders, every way one can end, and two products whose stock adds up:
/// - o1 reserves 2 of p1, is paid (a1) and confirmed: 2 of p1 sold;
/// - o2 is rejected: p2 is short;
/// - o3 reserves 1 of p1, is declined and cancelled: the reservation is released;
/// - o4 reserves 3 of p2, times out and is cancelled; the late authorization a4 is voided.
///
/// p1: restocked 10 = available 8 + sold 2. p2: restocked 5 (restocks of 0 and -3 are not
/// applied) = available 5.
pub(crate) fn clean() -> Observed {
    let reserved = |o, p, q| inventory(InventoryEventBody::StockReserved(line(o, p, q)));
    let released = |o, p, q| inventory(InventoryEventBody::StockReleased(line(o, p, q)));
    Observed {
        checkouts: ["o1", "o2", "o3", "o4"].into_iter().map(checkout).collect(),
        order_events: [
            events("o1", &[Pending, StockReserved, Confirmed]),
            events("o2", &[Pending, Rejected]),
            events("o3", &[Pending, StockReserved, Cancelled]),
            events("o4", &[Pending, StockReserved, Cancelled]),
        ]
        .concat(),
        orders: [
            state("o1", Confirmed),
            state("o2", Rejected),
            state("o3", Cancelled),
            state("o4", Cancelled),
        ]
        .into(),
        inventory_commands: vec![
            restock("p1", 10),
            restock("p2", 5),
            restock("p2", 0),
            restock("p2", -3),
            command(InventoryCommandBody::ReserveStock(line("o1", "p1", 2))),
            command(InventoryCommandBody::CommitStock(line("o1", "p1", 2))),
        ],
        inventory_events: vec![
            reserved("o1", "p1", 2),
            inventory(InventoryEventBody::StockRejected(StockRejected {
                order_id: "o2".to_owned(),
                product_id: "p2".to_owned(),
                requested: 9,
                available: 5,
                reason: "out_of_stock".to_owned(),
            })),
            reserved("o3", "p1", 1),
            reserved("o4", "p2", 3),
            committed("o1", "p1", 2),
            released("o3", "p1", 1),
            released("o4", "p2", 3),
        ],
        stock: [level("p1", 8, 0, &[]), level("p2", 5, 0, &[])].into(),
        payment_events: vec![
            authorized("o1", "a1"),
            payment(PaymentEventBody::PaymentDeclined(PaymentDeclined {
                order_id: "o3".to_owned(),
                reason: "card_declined".to_owned(),
            })),
            authorized("o4", "a4"),
            voided("o4", "a4"),
        ],
        command_ids: vec!["c1".to_owned(), "c2".to_owned()],
        outcomes: vec![outcome("c1"), outcome("c2")],
        undecodable: Vec::new(),
    }
}

fn outcome(command_id: &str) -> CommandOutcome {
    CommandOutcome {
        command_id: command_id.to_owned(),
        status: OutcomeStatus::Accepted,
        reason_code: None,
        reason: None,
        entity_id: None,
        processor: "cart".to_owned(),
        processed_at: 1,
    }
}

/// Asserts the report holds exactly violations of `kinds` (in report order), and that each
/// of `subjects` is named by one of them.
#[track_caller]
fn assert_found(report: &Report, kinds: &[ViolationKind], subjects: &[&str]) {
    let mut found: Vec<ViolationKind> = report.violations.iter().map(|v| v.kind).collect();
    found.dedup();
    assert_eq!(found, kinds, "{report}");
    for subject in subjects {
        assert!(
            report.violations.iter().any(|v| v.subject == *subject),
            "no violation names {subject}: {report}"
        );
    }
}

#[test]
fn a_clean_run_passes() {
    let report = check(&clean());
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checkouts, 4);
    assert_eq!(report.products, 2);
    let terminal: Vec<(&str, usize)> = report
        .terminal
        .iter()
        .map(|(status, count)| (status.as_str(), *count))
        .collect();
    assert_eq!(
        terminal,
        [("CANCELLED", 2), ("CONFIRMED", 1), ("REJECTED", 1)]
    );
}

#[test]
fn an_empty_run_passes() {
    let report = check(&Observed::default());
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.checkouts, report.products), (0, 0));
}

#[test]
fn a_checkout_requested_twice_is_a_duplicate() {
    let mut observed = clean();
    observed.checkouts.push(checkout("o1"));
    let report = check(&observed);
    assert_found(&report, &[K::DuplicateCheckout], &["o1"]);
    assert_eq!(report.checkouts, 4, "distinct orders");
}

#[test]
fn a_checkout_without_a_terminal_event_is_reported() {
    let mut observed = clean();
    observed.checkouts.push(checkout("o5"));
    observed
        .order_events
        .extend(events("o5", &[Pending, StockReserved]));
    observed.checkouts.push(checkout("o6"));
    let report = check(&observed);
    assert_found(&report, &[K::NotTerminal], &["o5", "o6"]);
    assert_eq!(report.count(K::NotTerminal), 2);
}

#[test]
fn an_order_that_ends_twice_is_reported() {
    let mut observed = clean();
    observed.order_events.extend(events("o1", &[Confirmed]));
    assert_found(&check(&observed), &[K::MultipleTerminal], &["o1"]);
}

#[test]
fn events_or_state_of_an_order_never_requested_are_reported() {
    let mut observed = clean();
    // o9 only has events, o8 only has state.
    observed.order_events.extend(events("o9", &[Pending]));
    observed.orders.extend([state("o8", Pending)]);
    let report = check(&observed);
    assert_found(&report, &[K::UnknownOrder], &["o8", "o9"]);
    assert_eq!(report.count(K::UnknownOrder), 2, "one per order");
}

#[test]
fn state_that_disagrees_with_the_terminal_event_is_reported() {
    let mut observed = clean();
    if let Some(order) = observed.orders.get_mut("o3") {
        order.status = StockReserved;
    }
    observed.orders.remove("o2");
    let report = check(&observed);
    assert_found(&report, &[K::StateMismatch], &["o2", "o3"]);
    assert_eq!(report.count(K::StateMismatch), 2);
}

#[test]
fn lost_or_created_stock_breaks_the_balance() {
    let mut observed = clean();
    observed.stock.extend([level("p2", 4, 0, &[])]);
    assert_found(&check(&observed), &[K::StockBalance], &["p2"]);

    let mut observed = clean();
    observed.stock.remove("p1");
    assert_found(&check(&observed), &[K::StockBalance], &["p1"]);

    let mut observed = clean();
    observed.inventory_commands.push(restock("p3", 1));
    assert_found(&check(&observed), &[K::StockBalance], &["p3"]);
}

#[test]
fn negative_stock_is_reported() {
    let mut observed = clean();
    // Balanced (-1 + 6 = 5) and the reservation adds up; only the sign is wrong.
    observed
        .stock
        .extend([level("p2", -1, 6, &[("o-in-flight", 6)])]);
    assert_found(&check(&observed), &[K::NegativeStock], &["p2"]);
}

#[test]
fn reserved_that_is_not_the_sum_of_reservations_is_reported() {
    let mut observed = clean();
    observed.stock.extend([level("p1", 7, 1, &[])]);
    assert_found(&check(&observed), &[K::ReservedMismatch], &["p1"]);
}

#[test]
fn selling_more_than_was_restocked_is_oversold() {
    let mut observed = clean();
    observed.inventory_events.push(committed("o1", "p2", 6));
    observed.stock.extend([level("p2", 0, 0, &[])]);
    // 6 sold of 5 cannot balance with non-negative stock: the balance breaks too.
    assert_found(&check(&observed), &[K::StockBalance, K::Oversold], &["p2"]);

    observed.stock.extend([level("p2", -1, 0, &[])]);
    assert_found(&check(&observed), &[K::NegativeStock, K::Oversold], &["p2"]);
}

#[test]
fn a_reservation_left_open_by_an_order_that_ended_is_leaked() {
    let mut observed = clean();
    observed.stock.extend([level("p1", 7, 1, &[("o1", 1)])]);
    let report = check(&observed);
    assert_found(&report, &[K::LeakedReservation], &["o1"]);
    assert!(report.violations[0].detail.contains("p1"), "{report}");
}

#[test]
fn a_second_authorization_is_a_duplicate_payment() {
    let mut observed = clean();
    observed.payment_events.push(authorized("o1", "a1-again"));
    assert_found(&check(&observed), &[K::DuplicatePayment], &["o1"]);
}

#[test]
fn an_authorization_of_an_order_that_did_not_confirm_must_be_voided() {
    let mut observed = clean();
    observed
        .payment_events
        .retain(|event| !matches!(&event.body, PaymentEventBody::PaymentVoided(_)));
    assert_found(&check(&observed), &[K::UnvoidedCharge], &["o4"]);

    // A void of another authorization does not count.
    let mut observed = clean();
    observed.payment_events.push(authorized("o3", "a3"));
    observed.payment_events.push(voided("o3", "a-other"));
    assert_found(&check(&observed), &[K::UnvoidedCharge], &["o3"]);
}

#[test]
fn a_confirmed_order_needs_an_authorization() {
    let mut observed = clean();
    observed.payment_events.remove(0);
    assert_found(&check(&observed), &[K::ConfirmedUnpaid], &["o1"]);

    let mut observed = clean();
    observed.payment_events.push(voided("o1", "a1"));
    assert_found(&check(&observed), &[K::ConfirmedUnpaid], &["o1"]);
}

#[test]
fn committing_the_same_line_twice_is_a_duplicate_commit() {
    let mut observed = clean();
    observed.inventory_events.push(committed("o1", "p1", 2));
    // The stock went down twice, so it still balances: only the duplicate is wrong.
    observed.stock.extend([level("p1", 6, 0, &[])]);
    assert_found(&check(&observed), &[K::DuplicateCommit], &["o1"]);
}

#[test]
fn committing_stock_of_an_order_that_did_not_confirm_is_reported() {
    let mut observed = clean();
    observed.inventory_events.push(committed("o3", "p1", 1));
    observed.stock.extend([level("p1", 7, 0, &[])]);
    assert_found(&check(&observed), &[K::CommitWithoutConfirmation], &["o3"]);
}

#[test]
fn undecodable_records_are_named_by_topic_partition_and_offset() {
    let mut observed = clean();
    observed.undecodable.push(Undecodable {
        topic: "orders.events".to_owned(),
        partition: 2,
        offset: 41,
        reason: "empty payload".to_owned(),
    });
    let report = check(&observed);
    assert_found(&report, &[K::Undecodable], &["orders.events/2/41"]);
    assert!(report.to_string().contains("empty payload"), "{report}");
}

#[test]
fn violations_come_sorted_by_kind_then_subject() {
    let mut observed = clean();
    observed.undecodable.push(Undecodable {
        topic: "t".to_owned(),
        partition: 0,
        offset: 0,
        reason: "r".to_owned(),
    });
    observed.checkouts.extend([checkout("o2"), checkout("o1")]);
    let report = check(&observed);
    let order: Vec<(K, &str)> = report
        .violations
        .iter()
        .map(|v| (v.kind, v.subject.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (K::DuplicateCheckout, "o1"),
            (K::DuplicateCheckout, "o2"),
            (K::Undecodable, "t/0/0")
        ]
    );
}

#[test]
fn every_ingress_command_needs_exactly_one_outcome() {
    let mut missing = clean();
    missing
        .outcomes
        .retain(|outcome| outcome.command_id != "c2");
    assert_found(&check(&missing), &[K::MissingOutcome], &["c2"]);

    let mut twice = clean();
    twice.outcomes.push(outcome("c1"));
    assert_found(&check(&twice), &[K::DuplicateOutcome], &["c1"]);
}

#[test]
fn a_command_record_written_twice_still_needs_exactly_one_outcome() {
    let mut copied = clean();
    copied.command_ids.push("c1".to_owned());
    assert!(check(&copied).is_clean(), "{}", check(&copied));
    assert_eq!(check(&copied).copied_commands, 1);
    assert_eq!(check(&clean()).copied_commands, 0);

    copied.outcomes.push(outcome("c1"));
    let report = check(&copied);
    assert_found(&report, &[K::DuplicateOutcome], &["c1"]);
    assert!(
        report
            .to_string()
            .contains("its record was written 2 times"),
        "{report}"
    );
}
