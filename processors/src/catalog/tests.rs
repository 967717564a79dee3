use super::*;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};

const OUTCOMES: &str = "t.commands.outcomes";
const INVENTORY: &str = "t.inventory.commands";
const NOW: TimestampMillis = 5_000;

fn catalog() -> Catalog {
    Catalog::new(&TopicNames::with_prefix("t."))
}

fn context(key: &str) -> RecordContext<'_> {
    RecordContext {
        key,
        topic: "t.catalog.commands",
        partition: 0,
        offset: 3,
        timestamp: Some(1_000),
        now: NOW,
    }
}

fn command(command_id: &str, body: CatalogCommandBody) -> CatalogCommand {
    CatalogCommand {
        command_id: command_id.to_owned(),
        issued_at: 1,
        issued_by: "admin".to_owned(),
        body,
    }
}

fn usd(cents: i64) -> Money {
    Money::new(cents, "USD")
}

fn create_body(product_id: &str, name: &str, price: Money, stock: i32) -> CatalogCommandBody {
    CatalogCommandBody::CreateProduct(CreateProduct {
        product_id: product_id.to_owned(),
        name: name.to_owned(),
        description: "A thing.".to_owned(),
        price,
        initial_stock: stock,
    })
}

fn create(stock: i32) -> CatalogCommandBody {
    create_body("p1", "  Widget ", usd(1_000), stock)
}

fn product() -> Product {
    Product {
        product_id: "p1".to_owned(),
        name: "Widget".to_owned(),
        description: "A thing.".to_owned(),
        price: usd(1_000),
        version: 3,
        created_at: 100,
        updated_at: 200,
        recent_command_ids: Vec::new(),
    }
}

/// Handles `body` under key `p1` and returns the outputs.
fn handle(body: CatalogCommandBody, state: &mut Option<Product>) -> Outputs {
    handle_keyed("p1", body, state)
}

fn handle_keyed(key: &str, body: CatalogCommandBody, state: &mut Option<Product>) -> Outputs {
    let mut out = Outputs::default();
    catalog()
        .handle(&context(key), command("c1", body), state, &mut out)
        .unwrap();
    out
}

/// `state` without the command ids it remembers, to compare with what a command should make of
/// a product.
fn forgetting_commands(state: &Option<Product>) -> Option<Product> {
    state.clone().map(|product| Product {
        recent_command_ids: Vec::new(),
        ..product
    })
}

/// The one outcome in `out`, checked for its key and signature.
fn only_outcome(out: &Outputs) -> &CommandOutcome {
    let outcomes = out.sent::<CommandOutcome>(OUTCOMES);
    assert_eq!(outcomes.len(), 1, "{out:?}");
    let (key, outcome) = outcomes[0];
    assert_eq!(key, "c1");
    assert_eq!(outcome.command_id, "c1");
    assert_eq!(outcome.processor, NAME);
    assert_eq!(outcome.processed_at, NOW);
    assert_eq!(outcome.entity_id.as_deref(), Some("p1"));
    outcome
}

fn assert_accepted(out: &Outputs) {
    let outcome = only_outcome(out);
    assert_eq!(outcome.status, OutcomeStatus::Accepted);
    assert_eq!(outcome.reason_code, None);
}

/// Asserts a rejection with `code` whose sentence names the product, and nothing else sent.
fn assert_rejected(out: &Outputs, code: &str) {
    let outcome = only_outcome(out);
    assert_eq!(outcome.status, OutcomeStatus::Rejected);
    assert_eq!(outcome.reason_code.as_deref(), Some(code));
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("p1") && reason.ends_with('.'), "{reason}");
    assert_eq!(out.topics(), [OUTCOMES]);
}

fn restocks(out: &Outputs) -> Vec<(&str, &InventoryCommand)> {
    out.sent::<InventoryCommand>(INVENTORY)
}

fn assert_restock(out: &Outputs, quantity: i32) {
    let sent = restocks(out);
    assert_eq!(sent.len(), 1, "{out:?}");
    let (key, restock) = sent[0];
    assert_eq!(key, "p1");
    assert_eq!(restock.command_id, "c1:restock");
    assert_eq!(restock.issued_at, NOW);
    assert_eq!(
        restock.body,
        InventoryCommandBody::Restock(Restock {
            product_id: "p1".to_owned(),
            quantity,
        })
    );
}

#[test]
fn create_makes_version_one_with_a_trimmed_name_and_restocks_its_initial_stock() {
    let mut state = None;
    let out = handle(create(7), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(Product {
            version: 1,
            created_at: NOW,
            updated_at: NOW,
            ..product()
        })
    );
    assert_accepted(&out);
    assert_restock(&out, 7);
    assert_eq!(out.topics(), [INVENTORY, OUTCOMES]);
}

#[test]
fn create_without_initial_stock_sends_no_restock() {
    let mut state = None;
    let out = handle(create(0), &mut state);
    assert!(state.is_some());
    assert_accepted(&out);
    assert!(restocks(&out).is_empty());
}

#[test]
fn create_of_an_existing_product_is_a_duplicate() {
    let mut state = Some(product());
    let out = handle(create(7), &mut state);
    assert_eq!(forgetting_commands(&state), Some(product()));
    assert_rejected(&out, "duplicate_id");
}

#[test]
fn create_with_a_blank_name_is_rejected() {
    let mut state = None;
    let out = handle(create_body("p1", " \t ", usd(1_000), 1), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "empty_name");
}

#[test]
fn create_with_a_price_that_is_not_positive_is_rejected() {
    for cents in [0, -1] {
        let mut state = None;
        let out = handle(create_body("p1", "Widget", usd(cents), 1), &mut state);
        assert_eq!(forgetting_commands(&state), None);
        assert_rejected(&out, "invalid_price");
    }
}

#[test]
fn create_with_a_malformed_currency_is_rejected() {
    for currency in ["usd", "US", "USDX", "", "U$D", "ÜSD"] {
        let mut state = None;
        let price = Money::new(1_000, currency);
        let out = handle(create_body("p1", "Widget", price, 1), &mut state);
        assert_eq!(forgetting_commands(&state), None, "{currency}");
        assert_rejected(&out, "invalid_currency");
    }
}

#[test]
fn create_with_negative_stock_is_rejected() {
    let mut state = None;
    let out = handle(create(-1), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "invalid_stock");
}

#[test]
fn a_body_about_another_product_than_the_key_is_rejected() {
    let bodies = [
        create_body("p2", "Widget", usd(1_000), 1),
        CatalogCommandBody::DeleteProduct(DeleteProduct {
            product_id: "p2".to_owned(),
        }),
        CatalogCommandBody::RestockProduct(RestockProduct {
            product_id: "p2".to_owned(),
            quantity: 1,
        }),
    ];
    for body in bodies {
        let mut state = Some(product());
        let out = handle(body, &mut state);
        assert_eq!(forgetting_commands(&state), Some(product()));
        assert_rejected(&out, "product_id_mismatch");
    }
}

fn update(name: &str) -> CatalogCommandBody {
    CatalogCommandBody::UpdateProduct(UpdateProduct {
        product_id: "p1".to_owned(),
        name: name.to_owned(),
        description: "A better thing.".to_owned(),
    })
}

#[test]
fn update_renames_and_bumps_the_version() {
    let mut state = Some(product());
    let out = handle(update(" Gadget "), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(Product {
            name: "Gadget".to_owned(),
            description: "A better thing.".to_owned(),
            version: 4,
            updated_at: NOW,
            ..product()
        })
    );
    assert_accepted(&out);
    assert_eq!(out.topics(), [OUTCOMES]);
}

#[test]
fn update_of_an_unknown_product_is_rejected() {
    let mut state = None;
    let out = handle(update("Gadget"), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "unknown_product");
}

#[test]
fn update_with_a_blank_name_is_rejected() {
    let mut state = Some(product());
    let out = handle(update("   "), &mut state);
    assert_eq!(forgetting_commands(&state), Some(product()));
    assert_rejected(&out, "empty_name");
}

fn delete() -> CatalogCommandBody {
    CatalogCommandBody::DeleteProduct(DeleteProduct {
        product_id: "p1".to_owned(),
    })
}

#[test]
fn delete_clears_the_state() {
    let mut state = Some(product());
    let out = handle(delete(), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_accepted(&out);
    assert_eq!(out.topics(), [OUTCOMES]);
}

#[test]
fn delete_of_an_unknown_product_is_rejected() {
    let mut state = None;
    let out = handle(delete(), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "unknown_product");
}

fn change_price(price: Money) -> CatalogCommandBody {
    CatalogCommandBody::ChangePrice(ChangePrice {
        product_id: "p1".to_owned(),
        price,
    })
}

#[test]
fn change_price_sets_the_price_and_bumps_the_version() {
    let mut state = Some(product());
    let out = handle(change_price(Money::new(1_500, "EUR")), &mut state);
    assert_eq!(
        forgetting_commands(&state),
        Some(Product {
            price: Money::new(1_500, "EUR"),
            version: 4,
            updated_at: NOW,
            ..product()
        })
    );
    assert_accepted(&out);
}

#[test]
fn change_price_of_an_unknown_product_is_rejected() {
    let mut state = None;
    let out = handle(change_price(usd(1_500)), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "unknown_product");
}

#[test]
fn change_price_is_validated_like_create() {
    for (price, code) in [
        (usd(0), "invalid_price"),
        (Money::new(1_500, "usd"), "invalid_currency"),
    ] {
        let mut state = Some(product());
        let out = handle(change_price(price), &mut state);
        assert_eq!(forgetting_commands(&state), Some(product()));
        assert_rejected(&out, code);
    }
}

fn restock(quantity: i32) -> CatalogCommandBody {
    CatalogCommandBody::RestockProduct(RestockProduct {
        product_id: "p1".to_owned(),
        quantity,
    })
}

#[test]
fn restock_leaves_the_product_and_sends_the_inventory_command_with_a_derived_id() {
    let mut state = Some(product());
    let out = handle(restock(12), &mut state);
    assert_eq!(forgetting_commands(&state), Some(product()));
    assert_accepted(&out);
    assert_restock(&out, 12);
}

#[test]
fn restock_of_an_unknown_product_is_rejected() {
    let mut state = None;
    let out = handle(restock(12), &mut state);
    assert_eq!(forgetting_commands(&state), None);
    assert_rejected(&out, "unknown_product");
}

#[test]
fn restock_without_units_is_rejected() {
    for quantity in [0, -3] {
        let mut state = Some(product());
        let out = handle(restock(quantity), &mut state);
        assert_eq!(forgetting_commands(&state), Some(product()));
        assert_rejected(&out, "invalid_quantity");
    }
}

#[test]
fn the_outcome_names_the_key_even_for_another_key() {
    let mut state = None;
    let out = handle_keyed("p9", create_body("p9", "Nine", usd(1), 0), &mut state);
    let outcomes = out.sent::<CommandOutcome>(OUTCOMES);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].1.entity_id.as_deref(), Some("p9"));
}

#[test]
fn seed_commands_create_the_five_products_with_their_prices_and_stock() {
    let commands = seed_commands(42);
    let expected = [
        ("laptop", "Laptop", 129_999, 50),
        ("mouse", "Mouse", 2_999, 200),
        ("keyboard", "Keyboard", 8_999, 100),
        ("monitor", "Monitor", 39_999, 75),
        ("headphones", "Headphones", 24_999, 150),
    ];
    assert_eq!(commands.len(), expected.len());
    for (command, (id, name, cents, stock)) in commands.iter().zip(expected) {
        assert_eq!(command.command_id, format!("seed-{id}"));
        assert_eq!(command.issued_by, "seed");
        assert_eq!(command.issued_at, 42);
        let CatalogCommandBody::CreateProduct(create) = &command.body else {
            panic!("not a create: {command:?}");
        };
        assert_eq!(create.product_id, id);
        assert_eq!(create.name, name);
        assert!(!create.description.trim().is_empty());
        assert_eq!(create.price, usd(cents));
        assert_eq!(create.initial_stock, stock);
    }
}

#[test]
fn every_seed_command_is_accepted_by_the_catalog() {
    for seed in seed_commands(42) {
        let key = body_product_id(&seed.body).to_owned();
        let mut state = None;
        let mut out = Outputs::default();
        catalog()
            .handle(&context(&key), seed, &mut state, &mut out)
            .unwrap();
        let outcomes = out.sent::<CommandOutcome>(OUTCOMES);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].1.status, OutcomeStatus::Accepted, "{key}");
        assert_eq!(restocks(&out).len(), 1, "{key}");
    }
}

#[test]
fn a_create_seen_again_is_dropped_without_a_second_outcome_or_restock() {
    let mut state = None;
    let out = handle(create(7), &mut state);
    assert_accepted(&out);
    assert_restock(&out, 7);
    let after_first = state.clone();

    // The same record again: the same command id, so not a duplicate_id rejection.
    let again = handle(create(7), &mut state);

    assert!(again.is_empty(), "{again:?}");
    assert_eq!(state, after_first);
    assert_eq!(state.unwrap().recent_command_ids, ["c1"]);
}

#[test]
fn a_rejected_command_is_remembered_by_an_existing_product_and_its_copy_dropped() {
    let mut state = Some(product());
    assert_rejected(&handle(create(7), &mut state), "duplicate_id");
    assert_eq!(
        forgetting_commands(&state),
        Some(product()),
        "nothing else changes"
    );
    assert!(handle(create(7), &mut state).is_empty());
}

#[test]
fn a_product_remembers_only_its_latest_commands() {
    let mut state = Some(product());
    let catalog = catalog();
    for n in 1..=12 {
        let mut out = Outputs::default();
        let rename = CatalogCommandBody::UpdateProduct(UpdateProduct {
            product_id: "p1".to_owned(),
            name: format!("Widget {n}"),
            description: String::new(),
        });
        catalog
            .clone()
            .handle(
                &context("p1"),
                command(&format!("c{n}"), rename),
                &mut state,
                &mut out,
            )
            .unwrap();
    }
    let remembered = state.unwrap().recent_command_ids;
    assert_eq!(remembered.len(), 8);
    assert_eq!(remembered.first().map(String::as_str), Some("c5"));
    assert_eq!(remembered.last().map(String::as_str), Some("c12"));
}

#[test]
fn a_delete_leaves_nothing_to_remember_so_its_copy_is_rejected() {
    let mut state = Some(product());
    assert_accepted(&handle(delete(), &mut state));
    assert_rejected(&handle(delete(), &mut state), "unknown_product");
}
