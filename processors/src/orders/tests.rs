//! Every transition of the saga, without Kafka: inputs in, state and outputs checked.

use super::*;
use shop_schemas::Money;
use shop_schemas::checkout::PricedLine;

const TIMEOUT_MS: i64 = 30_000;

struct Saga {
    saga: OrderSaga,
    topics: TopicNames,
    state: Option<Order>,
    now: TimestampMillis,
}

impl Saga {
    fn new() -> Self {
        let topics = TopicNames::with_prefix("");
        Self {
            saga: OrderSaga::new(&topics, Duration::from_millis(TIMEOUT_MS as u64)),
            topics,
            state: None,
            now: 10_000,
        }
    }

    fn feed(&mut self, input: SagaInput) -> Result<Outputs, HandlerError> {
        self.now += 1;
        let mut out = Outputs::default();
        let context = RecordContext {
            key: "o1",
            topic: "any",
            partition: 0,
            offset: 0,
            timestamp: Some(1),
            now: self.now,
        };
        self.saga
            .handle(&context, input, &mut self.state, &mut out)?;
        Ok(out)
    }

    fn ok(&mut self, input: SagaInput) -> Outputs {
        self.feed(input).unwrap()
    }

    fn order(&self) -> &Order {
        self.state.as_ref().unwrap()
    }

    fn status(&self) -> OrderStatus {
        self.order().status
    }

    fn line_stock(&self) -> Vec<LineStock> {
        self.order().lines.iter().map(|line| line.stock).collect()
    }

    fn stock_commands(&self, out: &Outputs) -> Vec<(String, &'static str, String)> {
        out.sent::<InventoryCommand>(&self.topics.inventory_commands)
            .into_iter()
            .map(|(key, command)| {
                let (verb, line) = match &command.body {
                    InventoryCommandBody::ReserveStock(line) => ("reserve", line),
                    InventoryCommandBody::ReleaseStock(line) => ("release", line),
                    InventoryCommandBody::CommitStock(line) => ("commit", line),
                    InventoryCommandBody::Restock(_) => panic!("the saga never restocks"),
                };
                assert_eq!(key, line.product_id, "keyed by product");
                assert_eq!(line.order_id, "o1");
                (line.product_id.clone(), verb, command.command_id.clone())
            })
            .collect()
    }

    fn payment_commands<'a>(&self, out: &'a Outputs) -> Vec<&'a PaymentCommandBody> {
        out.sent::<PaymentCommand>(&self.topics.payment_commands)
            .into_iter()
            .map(|(key, command)| {
                assert_eq!(key, "o1");
                &command.body
            })
            .collect()
    }

    fn events(&self, out: &Outputs) -> Vec<(Option<OrderStatus>, OrderStatus)> {
        out.sent::<OrderEvent>(&self.topics.orders_events)
            .into_iter()
            .map(|(key, event)| {
                assert_eq!(key, "o1");
                (event.previous_status, event.status)
            })
            .collect()
    }

    fn deadline(&self) -> Option<TimestampMillis> {
        OrderSaga::deadline(self.order())
    }

    fn fire_deadline(&mut self, now: TimestampMillis) -> Outputs {
        let mut out = Outputs::default();
        self.saga
            .on_deadline("o1", now, &mut self.state, &mut out)
            .unwrap();
        out
    }
}

fn priced(product_id: &str, quantity: i32) -> PricedLine {
    PricedLine {
        product_id: product_id.to_owned(),
        name: product_id.to_uppercase(),
        quantity,
        unit_price: Money::new(1_000, "USD"),
    }
}

fn checkout(lines: Vec<PricedLine>) -> SagaInput {
    SagaInput::Checkout(CheckoutRequested {
        order_id: "o1".to_owned(),
        user_id: "u1".to_owned(),
        command_id: "c1".to_owned(),
        payment_token: "tok_visa".to_owned(),
        total: Money::new(3_000, "USD"),
        lines,
        requested_at: 1,
    })
}

fn two_lines() -> SagaInput {
    checkout(vec![priced("p1", 1), priced("p2", 2)])
}

fn stock(body: InventoryEventBody) -> SagaInput {
    SagaInput::Stock(InventoryEvent {
        event_id: "e".to_owned(),
        occurred_at: 1,
        body,
    })
}

fn line(product_id: &str, quantity: i32) -> StockLine {
    StockLine {
        order_id: "o1".to_owned(),
        product_id: product_id.to_owned(),
        quantity,
    }
}

fn reserved(product_id: &str) -> SagaInput {
    stock(InventoryEventBody::StockReserved(line(product_id, 1)))
}

fn rejected(product_id: &str) -> SagaInput {
    stock(InventoryEventBody::StockRejected(StockRejected {
        order_id: "o1".to_owned(),
        product_id: product_id.to_owned(),
        requested: 2,
        available: 1,
        reason: "out_of_stock".to_owned(),
    }))
}

fn payment(body: PaymentEventBody) -> SagaInput {
    SagaInput::Payment(PaymentEvent {
        event_id: "e".to_owned(),
        occurred_at: 1,
        body,
    })
}

fn authorized() -> SagaInput {
    payment(PaymentEventBody::PaymentAuthorized(PaymentAuthorized {
        order_id: "o1".to_owned(),
        authorization_id: "auth-o1".to_owned(),
        amount: Money::new(3_000, "USD"),
    }))
}

fn declined() -> SagaInput {
    payment(PaymentEventBody::PaymentDeclined(PaymentDeclined {
        order_id: "o1".to_owned(),
        reason: "card_declined".to_owned(),
    }))
}

/// A saga with both lines reserved, waiting for payment.
fn awaiting_payment() -> Saga {
    let mut saga = Saga::new();
    saga.ok(two_lines());
    saga.ok(reserved("p1"));
    saga.ok(reserved("p2"));
    assert_eq!(saga.status(), OrderStatus::StockReserved);
    saga
}

#[test]
fn a_checkout_opens_a_pending_order_and_reserves_every_line() {
    let mut saga = Saga::new();
    let out = saga.ok(two_lines());
    assert_eq!(saga.status(), OrderStatus::Pending);
    assert_eq!(
        saga.line_stock(),
        vec![LineStock::Requested, LineStock::Requested]
    );
    assert_eq!(
        saga.stock_commands(&out),
        vec![
            ("p1".to_owned(), "reserve", "o1:reserve:p1".to_owned()),
            ("p2".to_owned(), "reserve", "o1:reserve:p2".to_owned()),
        ]
    );
    assert_eq!(saga.events(&out), vec![(None, OrderStatus::Pending)]);
    assert_eq!(saga.deadline(), None, "no deadline before payment is asked");
    assert_eq!(saga.order().total, Money::new(3_000, "USD"));
}

#[test]
fn the_last_reservation_asks_for_payment_and_starts_the_deadline() {
    let mut saga = Saga::new();
    saga.ok(two_lines());
    let first = saga.ok(reserved("p1"));
    assert!(
        first
            .sent::<PaymentCommand>(&saga.topics.payment_commands)
            .is_empty()
    );
    assert_eq!(saga.status(), OrderStatus::Pending);

    let out = saga.ok(reserved("p2"));
    assert_eq!(saga.status(), OrderStatus::StockReserved);
    let [PaymentCommandBody::AuthorizePayment(request)] = saga.payment_commands(&out)[..] else {
        panic!("expected one authorisation request: {out:?}");
    };
    assert_eq!(
        (request.amount.amount_cents, request.payment_token.as_str()),
        (3_000, "tok_visa")
    );
    assert_eq!(
        saga.events(&out),
        vec![(Some(OrderStatus::Pending), OrderStatus::StockReserved)]
    );
    assert_eq!(saga.deadline(), Some(saga.now + TIMEOUT_MS));
}

#[test]
fn an_authorisation_confirms_and_commits_every_line() {
    let mut saga = awaiting_payment();
    let out = saga.ok(authorized());
    assert_eq!(saga.status(), OrderStatus::Confirmed);
    assert_eq!(saga.order().authorization_id.as_deref(), Some("auth-o1"));
    let verbs: Vec<_> = saga
        .stock_commands(&out)
        .into_iter()
        .map(|(product, verb, _)| (product, verb))
        .collect();
    assert_eq!(
        verbs,
        vec![("p1".to_owned(), "commit"), ("p2".to_owned(), "commit")]
    );
    assert_eq!(
        saga.line_stock(),
        vec![LineStock::Committed, LineStock::Committed]
    );
    assert_eq!(
        saga.events(&out),
        vec![(Some(OrderStatus::StockReserved), OrderStatus::Confirmed)]
    );
    assert_eq!(saga.deadline(), None);
    // A repeated authorisation changes nothing.
    let again = saga.ok(authorized());
    assert!(again.is_empty());
}

#[test]
fn an_out_of_stock_line_rejects_the_order_with_nothing_to_release() {
    let mut saga = Saga::new();
    saga.ok(two_lines());
    let out = saga.ok(rejected("p1"));
    assert_eq!(saga.status(), OrderStatus::Rejected);
    assert_eq!(saga.order().reason.as_deref(), Some("out_of_stock"));
    assert!(saga.stock_commands(&out).is_empty());
    assert_eq!(
        saga.events(&out),
        vec![(Some(OrderStatus::Pending), OrderStatus::Rejected)]
    );
    // The other line's reservation arrives later: it is given back at once, no new event.
    let late = saga.ok(reserved("p2"));
    assert_eq!(
        saga.stock_commands(&late),
        vec![("p2".to_owned(), "release", "o1:release:p2".to_owned())]
    );
    assert!(saga.events(&late).is_empty());
    assert_eq!(saga.status(), OrderStatus::Rejected);
    assert_eq!(
        saga.line_stock(),
        vec![LineStock::Rejected, LineStock::Released]
    );
}

#[test]
fn a_short_line_releases_every_line_already_reserved() {
    let mut saga = Saga::new();
    saga.ok(checkout(vec![
        priced("p1", 1),
        priced("p2", 1),
        priced("p3", 1),
    ]));
    saga.ok(reserved("p1"));
    saga.ok(reserved("p3"));
    let out = saga.ok(rejected("p2"));
    assert_eq!(saga.status(), OrderStatus::Rejected);
    let released: Vec<_> = saga
        .stock_commands(&out)
        .into_iter()
        .map(|(product, verb, _)| (product, verb))
        .collect();
    assert_eq!(
        released,
        vec![("p1".to_owned(), "release"), ("p3".to_owned(), "release")]
    );
    assert!(saga.payment_commands(&out).is_empty());
    assert_eq!(
        saga.line_stock(),
        vec![
            LineStock::Released,
            LineStock::Rejected,
            LineStock::Released
        ]
    );
}

#[test]
fn a_second_rejection_after_the_first_adds_nothing() {
    let mut saga = Saga::new();
    saga.ok(two_lines());
    saga.ok(rejected("p1"));
    let out = saga.ok(rejected("p2"));
    assert!(saga.events(&out).is_empty() && saga.stock_commands(&out).is_empty());
    assert_eq!(
        saga.line_stock(),
        vec![LineStock::Rejected, LineStock::Rejected]
    );
}

#[test]
fn a_declined_payment_cancels_and_releases_the_stock() {
    let mut saga = awaiting_payment();
    let out = saga.ok(declined());
    assert_eq!(saga.status(), OrderStatus::Cancelled);
    assert_eq!(saga.order().reason.as_deref(), Some("card_declined"));
    assert_eq!(saga.stock_commands(&out).len(), 2);
    assert!(
        saga.stock_commands(&out)
            .iter()
            .all(|(_, verb, _)| *verb == "release")
    );
    assert_eq!(
        saga.events(&out),
        vec![(Some(OrderStatus::StockReserved), OrderStatus::Cancelled)]
    );
    assert_eq!(saga.deadline(), None);
}

#[test]
fn no_payment_answer_cancels_at_the_deadline() {
    let mut saga = awaiting_payment();
    let due = saga.deadline().unwrap();
    let out = saga.fire_deadline(due);
    assert_eq!(saga.status(), OrderStatus::Cancelled);
    assert_eq!(
        saga.order().reason.as_deref(),
        Some(reasons::PAYMENT_TIMEOUT)
    );
    assert_eq!(
        saga.line_stock(),
        vec![LineStock::Released, LineStock::Released]
    );
    assert_eq!(
        saga.events(&out),
        vec![(Some(OrderStatus::StockReserved), OrderStatus::Cancelled)]
    );
    assert_eq!(saga.deadline(), None, "the deadline fires once");
}

#[test]
fn a_late_authorisation_for_a_cancelled_order_is_voided_once() {
    let mut saga = awaiting_payment();
    let due = saga.deadline().unwrap();
    saga.fire_deadline(due);
    let out = saga.ok(authorized());
    assert_eq!(saga.status(), OrderStatus::Cancelled);
    let [PaymentCommandBody::VoidPayment(void)] = saga.payment_commands(&out)[..] else {
        panic!("expected one void: {out:?}");
    };
    assert_eq!(
        (void.authorization_id.as_str(), void.reason.as_str()),
        ("auth-o1", reasons::ORDER_CANCELLED)
    );
    assert!(saga.events(&out).is_empty() && saga.stock_commands(&out).is_empty());
    assert!(saga.ok(authorized()).is_empty(), "voided once");
}

#[test]
fn a_late_decline_or_deadline_after_the_end_changes_nothing() {
    let mut saga = awaiting_payment();
    saga.ok(authorized());
    let before = saga.state.clone();
    assert!(saga.ok(declined()).is_empty());
    assert!(saga.fire_deadline(i64::MAX).is_empty());
    assert_eq!(saga.state, before);
}

#[test]
fn an_invalid_checkout_is_rejected_without_touching_stock() {
    for lines in [
        vec![],
        vec![priced("p1", 0)],
        vec![priced("p1", 1), priced("p1", 2)],
    ] {
        let mut saga = Saga::new();
        let out = saga.ok(checkout(lines));
        assert_eq!(saga.status(), OrderStatus::Rejected);
        assert_eq!(
            saga.order().reason.as_deref(),
            Some(reasons::INVALID_CHECKOUT)
        );
        assert!(saga.stock_commands(&out).is_empty());
        assert_eq!(saga.events(&out), vec![(None, OrderStatus::Rejected)]);
    }
}

#[test]
fn records_that_break_the_saga_are_poison() {
    let mut saga = Saga::new();
    let error = saga.feed(reserved("p1")).unwrap_err();
    assert!(error.to_string().contains("never requested"), "{error}");
    assert!(saga.state.is_none());

    saga.ok(two_lines());
    let twice = saga.feed(two_lines()).unwrap_err();
    assert!(twice.to_string().contains("requested twice"), "{twice}");
    let stranger = saga.feed(reserved("p9")).unwrap_err();
    assert!(stranger.to_string().contains("p9"), "{stranger}");

    let mut out = Outputs::default();
    let context = RecordContext {
        key: "o2",
        topic: "any",
        partition: 0,
        offset: 0,
        timestamp: None,
        now: 1,
    };
    let misrouted = saga
        .saga
        .handle(&context, reserved("p1"), &mut saga.state, &mut out)
        .unwrap_err();
    assert!(misrouted.to_string().contains("keyed o2"), "{misrouted}");
}

#[test]
fn repeated_stock_answers_are_ignored() {
    let mut saga = Saga::new();
    saga.ok(two_lines());
    saga.ok(reserved("p1"));
    let before = saga.state.clone();
    assert!(saga.ok(reserved("p1")).is_empty());
    assert!(saga.ok(rejected("p1")).is_empty());
    assert_eq!(saga.state, before);
}

#[test]
fn versions_only_grow() {
    let mut saga = Saga::new();
    let mut versions = Vec::new();
    for input in [two_lines(), reserved("p1"), reserved("p2"), authorized()] {
        saga.ok(input);
        versions.push(saga.order().version);
    }
    assert!(
        versions.windows(2).all(|pair| pair[0] < pair[1]),
        "{versions:?}"
    );
}
