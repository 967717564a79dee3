use super::*;
use shop_schemas::Money;
use shop_schemas::cart::{Checkout, ClearCart};
use shop_schemas::checkout::PricedLine;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};

const OUTCOMES: &str = "t.commands.outcomes";
const CHECKOUTS: &str = "t.checkout.requested";
const USER: &str = "u1";
const NOW: TimestampMillis = 10_000;
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1_000;

fn product(product_id: &str, name: &str, cents: i64, currency: &str) -> Product {
    Product {
        product_id: product_id.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        price: Money::new(cents, currency),
        version: 1,
        created_at: 0,
        updated_at: 0,
        recent_command_ids: Vec::new(),
    }
}

fn catalog() -> HashMap<String, Product> {
    [
        product("mouse", "Mouse", 2_999, "USD"),
        product("laptop", "Laptop", 129_999, "USD"),
        product("bike", "Bike", 50_000, "EUR"),
    ]
    .into_iter()
    .map(|product| (product.product_id.clone(), product))
    .collect()
}

fn processor() -> CartProcessor<HashMap<String, Product>> {
    processor_with(catalog(), CartSettings::default())
}

fn processor_with(
    products: HashMap<String, Product>,
    settings: CartSettings,
) -> CartProcessor<HashMap<String, Product>> {
    CartProcessor::new(&TopicNames::with_prefix("t."), products, settings)
}

fn context(now: TimestampMillis) -> RecordContext<'static> {
    RecordContext {
        key: USER,
        topic: "t.cart.commands",
        partition: 1,
        offset: 9,
        timestamp: Some(1),
        now,
    }
}

thread_local! {
    /// How many commands this test has made: libtest runs every test on a thread of its own,
    /// so each test's commands are c1, c2, ...
    static COMMANDS_MADE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The id of the test's latest command.
fn last_command_id() -> String {
    format!("c{}", COMMANDS_MADE.get())
}

/// A command with a new id (c1, c2, ...), as the ingress makes one per request.
fn command(user_id: &str, body: CartCommandBody) -> CartCommand {
    COMMANDS_MADE.set(COMMANDS_MADE.get() + 1);
    CartCommand {
        command_id: last_command_id(),
        issued_at: 1,
        user_id: user_id.to_owned(),
        body,
    }
}

fn add(product_id: &str, quantity: i32) -> CartCommandBody {
    CartCommandBody::AddItem(AddItem {
        product_id: product_id.to_owned(),
        quantity,
    })
}

fn set(product_id: &str, quantity: i32) -> CartCommandBody {
    CartCommandBody::SetItemQuantity(SetItemQuantity {
        product_id: product_id.to_owned(),
        quantity,
    })
}

fn remove(product_id: &str) -> CartCommandBody {
    CartCommandBody::RemoveItem(RemoveItem {
        product_id: product_id.to_owned(),
    })
}

fn checkout(order_id: &str, payment_token: &str) -> CartCommandBody {
    CartCommandBody::Checkout(Checkout {
        order_id: order_id.to_owned(),
        payment_token: payment_token.to_owned(),
    })
}

fn line(product_id: &str, quantity: i32) -> CartLine {
    CartLine {
        product_id: product_id.to_owned(),
        quantity,
        added_at: 500,
    }
}

/// A stored cart with `lines`, version 4, last changed at 600.
fn cart(lines: Vec<CartLine>) -> Cart {
    Cart {
        user_id: USER.to_owned(),
        lines,
        version: 4,
        updated_at: 600,
        expires_at: Some(700),
        recent_order_ids: Vec::new(),
        recent_command_ids: Vec::new(),
    }
}

/// `cart(lines)` after one more accepted change at `NOW`.
fn changed(lines: Vec<CartLine>) -> Cart {
    Cart {
        version: 5,
        updated_at: NOW,
        expires_at: Some(NOW + 90 * DAY_MILLIS),
        ..cart(lines)
    }
}

fn handle_with<P: ProductLookup>(
    processor: &mut CartProcessor<P>,
    body: CartCommandBody,
    state: &mut Option<Cart>,
) -> Outputs {
    handle_as(processor, USER, body, state)
}

fn handle_as<P: ProductLookup>(
    processor: &mut CartProcessor<P>,
    user_id: &str,
    body: CartCommandBody,
    state: &mut Option<Cart>,
) -> Outputs {
    handle_command(processor, command(user_id, body), state)
}

/// Handles `command` as it is: a second call with the same command is its record seen again.
fn handle_command<P: ProductLookup>(
    processor: &mut CartProcessor<P>,
    command: CartCommand,
    state: &mut Option<Cart>,
) -> Outputs {
    let mut out = Outputs::default();
    processor
        .handle(&context(NOW), command, state, &mut out)
        .unwrap();
    out
}

/// `state` without the command ids it remembers, to compare with what a command should make of
/// a cart.
fn forgetting_commands(state: &Option<Cart>) -> Option<Cart> {
    state.clone().map(|cart| Cart {
        recent_command_ids: Vec::new(),
        ..cart
    })
}

fn handle(body: CartCommandBody, state: &mut Option<Cart>) -> Outputs {
    handle_with(&mut processor(), body, state)
}

/// The one outcome in `out`, for the latest command, checked for its key, signature and entity.
fn only_outcome<'a>(out: &'a Outputs, entity_id: &str) -> &'a CommandOutcome {
    let outcomes = out.sent::<CommandOutcome>(OUTCOMES);
    assert_eq!(outcomes.len(), 1, "{out:?}");
    let (key, outcome) = outcomes[0];
    assert_eq!(key, last_command_id());
    assert_eq!(outcome.command_id, last_command_id());
    assert_eq!(outcome.processor, NAME);
    assert_eq!(outcome.processed_at, NOW);
    assert_eq!(outcome.entity_id.as_deref(), Some(entity_id));
    outcome
}

fn assert_accepted(out: &Outputs) {
    let outcome = only_outcome(out, USER);
    assert_eq!(outcome.status, OutcomeStatus::Accepted);
    assert_eq!(out.topics(), [OUTCOMES]);
}

fn assert_rejected_about(out: &Outputs, entity_id: &str, code: &str) {
    let outcome = only_outcome(out, entity_id);
    assert_eq!(outcome.status, OutcomeStatus::Rejected);
    assert_eq!(outcome.reason_code.as_deref(), Some(code));
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(reason.ends_with('.'), "{reason}");
    assert_eq!(out.topics(), [OUTCOMES]);
}

fn assert_rejected(out: &Outputs, code: &str) {
    assert_rejected_about(out, USER, code);
}

#[test]
fn the_first_item_creates_version_one_of_the_cart_with_an_expiry() {
    let mut state = None;
    let out = handle(add("mouse", 2), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(Cart {
            user_id: USER.to_owned(),
            lines: vec![CartLine {
                product_id: "mouse".to_owned(),
                quantity: 2,
                added_at: NOW,
            }],
            version: 1,
            updated_at: NOW,
            expires_at: Some(NOW + 90 * DAY_MILLIS),
            recent_order_ids: Vec::new(),
            recent_command_ids: Vec::new(),
        })
    );
    assert_accepted(&out);
}

#[test]
fn adding_the_same_product_adds_up() {
    let mut state = Some(cart(vec![line("mouse", 2)]));
    let out = handle(add("mouse", 3), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 5)]))
    );
    assert_accepted(&out);
}

#[test]
fn adding_up_past_the_most_a_line_may_hold_is_capped() {
    let mut state = Some(cart(vec![line("mouse", 98)]));
    let out = handle(add("mouse", 5), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 99)]))
    );
    assert_accepted(&out);
}

#[test]
fn adding_a_quantity_out_of_range_is_rejected() {
    for quantity in [0, -1, 100] {
        let mut state = Some(cart(vec![line("mouse", 1)]));
        let out = handle(add("mouse", quantity), &mut state);
        assert_eq!(
            forgetting_commands(&state),
            Some(cart(vec![line("mouse", 1)])),
            "{quantity}"
        );
        assert_rejected(&out, "invalid_quantity");
    }
}

#[test]
fn adding_a_product_the_catalog_does_not_have_is_rejected() {
    let mut state = None;
    let out = handle(add("unicorn", 1), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "unknown_product");
}

#[test]
fn a_new_line_beyond_the_most_lines_is_rejected_but_a_known_line_still_grows() {
    let settings = CartSettings {
        max_lines: 1,
        ..CartSettings::default()
    };
    let mut processor = processor_with(catalog(), settings);
    let mut state = Some(cart(vec![line("mouse", 1)]));
    let out = handle_with(&mut processor, add("laptop", 1), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(cart(vec![line("mouse", 1)]))
    );
    assert_rejected(&out, "cart_full");

    let out = handle_with(&mut processor, add("mouse", 1), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 2)]))
    );
    assert_accepted(&out);
}

#[test]
fn set_quantity_replaces_the_quantity() {
    let mut state = Some(cart(vec![line("mouse", 2), line("laptop", 1)]));
    let out = handle(set("mouse", 7), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 7), line("laptop", 1)]))
    );
    assert_accepted(&out);
}

#[test]
fn set_quantity_to_zero_removes_the_line() {
    let mut state = Some(cart(vec![line("mouse", 2), line("laptop", 1)]));
    let out = handle(set("mouse", 0), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("laptop", 1)]))
    );
    assert_accepted(&out);
}

#[test]
fn set_quantity_out_of_range_is_rejected() {
    for quantity in [-1, 100] {
        let mut state = Some(cart(vec![line("mouse", 2)]));
        let out = handle(set("mouse", quantity), &mut state);
        assert_eq!(
            forgetting_commands(&state),
            Some(cart(vec![line("mouse", 2)])),
            "{quantity}"
        );
        assert_rejected(&out, "invalid_quantity");
    }
}

#[test]
fn set_quantity_of_a_product_not_in_the_cart_is_rejected() {
    for quantity in [0, 3] {
        let mut state = Some(cart(vec![line("mouse", 2)]));
        let out = handle(set("laptop", quantity), &mut state);
        assert_eq!(
            forgetting_commands(&state),
            Some(cart(vec![line("mouse", 2)]))
        );
        assert_rejected(&out, "not_in_cart");
    }
}

#[test]
fn remove_takes_the_line_out() {
    let mut state = Some(cart(vec![line("mouse", 2), line("laptop", 1)]));
    let out = handle(remove("laptop"), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 2)]))
    );
    assert_accepted(&out);
}

#[test]
fn remove_of_a_product_not_in_the_cart_is_rejected() {
    let mut state = None;
    let out = handle(remove("mouse"), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "not_in_cart");
}

#[test]
fn clear_empties_the_lines_but_keeps_the_cart() {
    let mut state = Some(cart(vec![line("mouse", 2), line("laptop", 1)]));
    let out = handle(CartCommandBody::ClearCart(ClearCart {}), &mut state);
    assert_eq!(forgetting_commands(&state), Some(changed(Vec::new())));
    assert_accepted(&out);
}

#[test]
fn clear_of_a_cart_that_does_not_exist_is_accepted() {
    let mut state = None;
    let out = handle(CartCommandBody::ClearCart(ClearCart {}), &mut state);
    let cart = state.unwrap();
    assert!(cart.lines.is_empty());
    assert_eq!(cart.version, 1);
    assert_accepted(&out);
}

#[test]
fn a_command_for_another_user_than_the_key_is_rejected() {
    let mut state = Some(cart(vec![line("mouse", 2)]));
    let out = handle_as(&mut processor(), "u2", add("mouse", 1), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(cart(vec![line("mouse", 2)]))
    );
    assert_rejected(&out, "user_mismatch");
}

#[test]
fn a_checkout_for_another_user_is_rejected_about_its_order() {
    let mut state = Some(cart(vec![line("mouse", 2)]));
    let out = handle_as(&mut processor(), "u2", checkout("o1", "tok"), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(cart(vec![line("mouse", 2)]))
    );
    assert_rejected_about(&out, "o1", "user_mismatch");
}

#[test]
fn checkout_prices_the_cart_from_the_catalog_at_that_moment_and_empties_it() {
    let mut processor = processor();
    let mut state = None;
    handle_with(&mut processor, add("mouse", 2), &mut state);
    handle_with(&mut processor, add("laptop", 1), &mut state);
    // The price changes after the items were added: checkout must use the new one.
    processor.products.insert(
        "mouse".to_owned(),
        product("mouse", "Mouse Pro", 3_500, "USD"),
    );

    let out = handle_with(&mut processor, checkout("o1", "tok-1"), &mut state);

    let sent = out.sent::<CheckoutRequested>(CHECKOUTS);
    assert_eq!(sent.len(), 1);
    let (key, requested) = sent[0];
    assert_eq!(key, "o1");
    assert_eq!(
        *requested,
        CheckoutRequested {
            order_id: "o1".to_owned(),
            user_id: USER.to_owned(),
            command_id: last_command_id(),
            payment_token: "tok-1".to_owned(),
            lines: vec![
                PricedLine {
                    product_id: "mouse".to_owned(),
                    name: "Mouse Pro".to_owned(),
                    quantity: 2,
                    unit_price: Money::new(3_500, "USD"),
                },
                PricedLine {
                    product_id: "laptop".to_owned(),
                    name: "Laptop".to_owned(),
                    quantity: 1,
                    unit_price: Money::new(129_999, "USD"),
                },
            ],
            total: Money::new(2 * 3_500 + 129_999, "USD"),
            requested_at: NOW,
        }
    );
    let outcome = only_outcome(&out, "o1");
    assert_eq!(outcome.status, OutcomeStatus::Accepted);
    assert_eq!(out.topics(), [CHECKOUTS, OUTCOMES]);

    let cart = state.unwrap();
    assert!(cart.lines.is_empty());
    assert_eq!(cart.version, 3);
    assert_eq!(cart.recent_order_ids, ["o1"]);
}

#[test]
fn a_repeated_checkout_is_answered_again_without_a_second_order() {
    let mut processor = processor();
    let mut state = None;
    handle_with(&mut processor, add("mouse", 2), &mut state);
    handle_with(&mut processor, checkout("o1", "tok-1"), &mut state);
    // New items, then the same checkout again (a client retrying with the same key).
    handle_with(&mut processor, add("laptop", 1), &mut state);
    let before = forgetting_commands(&state);

    let out = handle_with(&mut processor, checkout("o1", "tok-1"), &mut state);

    assert!(
        out.sent::<CheckoutRequested>(CHECKOUTS).is_empty(),
        "{out:?}"
    );
    assert_eq!(only_outcome(&out, "o1").status, OutcomeStatus::Accepted);
    assert_eq!(
        forgetting_commands(&state),
        before,
        "the new items stay in the cart"
    );
    // Another order id is a new checkout.
    let out = handle_with(&mut processor, checkout("o2", "tok-1"), &mut state);
    assert_eq!(out.sent::<CheckoutRequested>(CHECKOUTS).len(), 1);
    assert_eq!(state.unwrap().recent_order_ids, ["o1", "o2"]);
}

#[test]
fn a_cart_remembers_only_its_latest_checkouts() {
    let mut processor = processor();
    let mut state = None;
    for order in 0..25 {
        handle_with(&mut processor, add("mouse", 1), &mut state);
        handle_with(
            &mut processor,
            checkout(&format!("o{order}"), "tok"),
            &mut state,
        );
    }
    let remembered = state.unwrap().recent_order_ids;
    assert_eq!(remembered.len(), 20);
    assert_eq!(remembered.first().map(String::as_str), Some("o5"));
    assert_eq!(remembered.last().map(String::as_str), Some("o24"));
}

fn assert_checkout_rejected(
    processor: &mut CartProcessor<HashMap<String, Product>>,
    before: Option<Cart>,
    body: CartCommandBody,
    code: &str,
) {
    let mut state = before.clone();
    let out = handle_with(processor, body, &mut state);
    assert_eq!(forgetting_commands(&state), before);
    assert_rejected_about(&out, "o1", code);
    assert!(out.sent::<CheckoutRequested>(CHECKOUTS).is_empty());
}

#[test]
fn checkout_of_an_empty_or_missing_cart_is_rejected() {
    for before in [None, Some(cart(Vec::new()))] {
        assert_checkout_rejected(
            &mut processor(),
            before,
            checkout("o1", "tok"),
            "empty_cart",
        );
    }
}

#[test]
fn checkout_with_a_blank_order_id_is_rejected() {
    let before = Some(cart(vec![line("mouse", 1)]));
    let mut state = before.clone();
    let out = handle(checkout("  ", "tok"), &mut state);
    assert_eq!(forgetting_commands(&state), before);
    assert_rejected_about(&out, "  ", "invalid_order_id");
}

#[test]
fn checkout_with_a_blank_payment_token_is_rejected() {
    let before = Some(cart(vec![line("mouse", 1)]));
    assert_checkout_rejected(
        &mut processor(),
        before,
        checkout("o1", " "),
        "invalid_payment_token",
    );
}

#[test]
fn checkout_of_a_product_gone_from_the_catalog_is_rejected_naming_it() {
    let mut processor = processor();
    processor.products.remove("laptop");
    let before = Some(cart(vec![line("mouse", 1), line("laptop", 1)]));
    let mut state = before.clone();
    let out = handle_with(&mut processor, checkout("o1", "tok"), &mut state);
    assert_eq!(forgetting_commands(&state), before);
    assert_rejected_about(&out, "o1", "unknown_product");
    let reason = only_outcome(&out, "o1").reason.clone().unwrap_or_default();
    assert!(
        reason.contains("laptop") && !reason.contains("mouse"),
        "{reason}"
    );
}

#[test]
fn checkout_in_more_than_one_currency_is_rejected() {
    let before = Some(cart(vec![line("mouse", 1), line("bike", 1)]));
    assert_checkout_rejected(
        &mut processor(),
        before,
        checkout("o1", "tok"),
        "mixed_currencies",
    );
}

#[test]
fn checkout_of_a_total_that_does_not_fit_is_rejected() {
    let mut products = catalog();
    products.insert(
        "gold".to_owned(),
        product("gold", "Gold", i64::MAX / 2, "USD"),
    );
    let mut processor = processor_with(products, CartSettings::default());
    for lines in [
        vec![line("gold", 3)],
        vec![line("gold", 1), line("gold", 1), line("mouse", 1)],
    ] {
        assert_checkout_rejected(
            &mut processor,
            Some(cart(lines)),
            checkout("o1", "tok"),
            "total_too_large",
        );
    }
}

#[test]
fn the_deadline_is_the_expiry_in_the_state() {
    let mut state = None;
    handle(add("mouse", 1), &mut state);
    let cart = state.unwrap();
    assert_eq!(
        CartProcessor::<HashMap<String, Product>>::deadline(&cart),
        Some(NOW + 90 * DAY_MILLIS)
    );
}

#[test]
fn an_expired_cart_is_deleted_without_output() {
    let mut state = Some(cart(vec![line("mouse", 1)]));
    let mut out = Outputs::default();
    processor()
        .on_deadline(USER, 700, &mut state, &mut out)
        .unwrap();
    assert_eq!(forgetting_commands(&state), None);
    assert!(out.is_empty());
}

#[test]
fn a_cart_whose_expiry_has_not_come_is_kept() {
    let mut state = Some(cart(vec![line("mouse", 1)]));
    let mut out = Outputs::default();
    processor()
        .on_deadline(USER, 699, &mut state, &mut out)
        .unwrap();
    assert_eq!(
        forgetting_commands(&state),
        Some(cart(vec![line("mouse", 1)]))
    );
    assert!(out.is_empty());
}

#[test]
fn a_rejection_changes_nothing_not_even_the_time_but_remembers_the_command() {
    let before = Some(cart(vec![line("mouse", 1)]));
    let mut state = before.clone();
    handle(add("unicorn", 1), &mut state);
    assert_eq!(forgetting_commands(&state), before);
    assert_eq!(state.unwrap().recent_command_ids, ["c1"]);
}

#[test]
fn a_command_record_seen_again_is_dropped_without_a_second_outcome_or_effect() {
    let mut processor = processor();
    let mut state = Some(cart(vec![line("mouse", 1)]));
    let add_two = command(USER, add("mouse", 2));
    let out = handle_command(&mut processor, add_two.clone(), &mut state);
    assert_accepted(&out);
    let after_first = state.clone();

    let again = handle_command(&mut processor, add_two, &mut state);

    assert!(again.is_empty(), "{again:?}");
    assert_eq!(state, after_first);
    assert_eq!(
        forgetting_commands(&state),
        Some(changed(vec![line("mouse", 3)]))
    );
}

#[test]
fn a_rejected_command_seen_again_is_dropped_too() {
    let mut processor = processor();
    let mut state = Some(cart(vec![line("mouse", 1)]));
    let unknown = command(USER, add("unicorn", 1));
    assert_rejected(
        &handle_command(&mut processor, unknown.clone(), &mut state),
        "unknown_product",
    );
    // Meanwhile the product exists: the copy must not be decided again, now as accepted.
    let mut products = catalog();
    products.insert(
        "unicorn".to_owned(),
        product("unicorn", "Unicorn", 1, "USD"),
    );
    let mut with_unicorn = processor_with(products, CartSettings::default());
    let before = state.clone();

    let again = handle_command(&mut with_unicorn, unknown, &mut state);

    assert!(again.is_empty(), "{again:?}");
    assert_eq!(state, before);
}

#[test]
fn a_checkout_seen_again_asks_for_no_second_order_and_gets_no_second_outcome() {
    let mut processor = processor();
    let mut state = None;
    handle_with(&mut processor, add("mouse", 2), &mut state);
    let checkout_o1 = command(USER, checkout("o1", "tok"));
    let out = handle_command(&mut processor, checkout_o1.clone(), &mut state);
    assert_eq!(out.sent::<CheckoutRequested>(CHECKOUTS).len(), 1);

    let again = handle_command(&mut processor, checkout_o1, &mut state);

    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_cart_remembers_only_its_latest_commands() {
    let mut processor = processor();
    let mut state = None;
    for _ in 0..20 {
        handle_with(&mut processor, add("mouse", 1), &mut state);
    }
    let remembered = state.unwrap().recent_command_ids;
    assert_eq!(remembered.len(), 16);
    assert_eq!(remembered.first().map(String::as_str), Some("c5"));
    assert_eq!(remembered.last().map(String::as_str), Some("c20"));
}

#[test]
fn a_command_rejected_without_a_cart_is_not_remembered() {
    // Nothing to keep its id in: a copy of it is rejected again (see `is_seen_command`).
    let mut processor = processor();
    let mut state = None;
    let unknown = command(USER, add("unicorn", 1));
    handle_command(&mut processor, unknown.clone(), &mut state);
    assert_eq!(state, None);
    let again = handle_command(&mut processor, unknown, &mut state);
    assert_rejected(&again, "unknown_product");
}

#[test]
fn every_command_gets_exactly_one_outcome() {
    let mut processor = processor();
    let mut state = None;
    let bodies = [
        add("mouse", 1),
        add("unicorn", 1),
        set("mouse", 3),
        remove("laptop"),
        CartCommandBody::ClearCart(ClearCart {}),
        checkout("o1", "tok"),
        add("laptop", 1),
        checkout("o2", "tok"),
    ];
    for body in bodies {
        let out = handle_with(&mut processor, body, &mut state);
        assert_eq!(out.sent::<CommandOutcome>(OUTCOMES).len(), 1, "{out:?}");
    }
}
