//! The catalog processor: owns products, keyed by product id, on the compacted
//! `catalog.products` topic (its changelog is that topic itself, so a deleted product is a
//! tombstone there). It answers every catalog command with exactly one outcome and hands
//! stock to inventory as `Restock` commands; it keeps no stock of its own.
//!
//! It does not price carts or reserve stock: the cart reads `catalog.products` as a global
//! table, and inventory owns stock levels. [`seed`] fills an empty catalog on first start.
//!
//! Like the cart, a product remembers the ids of its latest commands (`recent_command_ids`) and
//! drops a command record it has handled before: the ingress's producer can write a record
//! twice (see the cart module).

mod seed;
#[cfg(test)]
mod tests;

pub use seed::{SeedError, seed_commands, seed_on_first_start};

use crate::outcome::{OutcomeWriter, Rejection};
use crate::recent;
use crate::runtime::{Handler, HandlerError, Outputs, RecordContext};
use crate::topology::TopicNames;
use shop_schemas::catalog::{
    CatalogCommand, CatalogCommandBody, ChangePrice, CreateProduct, DeleteProduct, Product,
    RestockProduct, UpdateProduct,
};
use shop_schemas::inventory::{InventoryCommand, InventoryCommandBody, Restock};
use shop_schemas::{Money, TimestampMillis};

/// The processor's name in outcomes and dead-letter headers.
pub const NAME: &str = "catalog";

/// Decides catalog commands; see the module docs.
#[derive(Debug, Clone)]
pub struct Catalog {
    outcomes: OutcomeWriter,
    /// Full name of `inventory.commands`, where stock for new and restocked products goes.
    inventory_commands: String,
}

impl Catalog {
    /// A catalog writing to the topics of one deployment.
    pub fn new(topics: &TopicNames) -> Self {
        Self {
            outcomes: OutcomeWriter {
                topic: topics.command_outcomes.clone(),
                processor: NAME,
            },
            inventory_commands: topics.inventory_commands.clone(),
        }
    }
}

/// What one command does to the record being handled: who it is about, and when.
struct Command<'a> {
    id: &'a str,
    product_id: &'a str,
    now: TimestampMillis,
}

impl Handler for Catalog {
    type Input = CatalogCommand;
    type State = Product;

    /// Every command gets one outcome; nothing is poison, since any well-formed command can be
    /// answered, if only with a rejection.
    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: CatalogCommand,
        state: &mut Option<Product>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        if is_seen_command(&input.command_id, state.as_ref()) {
            // The same command record again: it had its outcome and its effect.
            tracing::info!(
                command_id = %input.command_id,
                product_id = record.key,
                "dropping a command seen before"
            );
            return Ok(());
        }
        let command = Command {
            id: &input.command_id,
            product_id: record.key,
            now: record.now,
        };
        let result = self.decide(&command, input.body, state, out);
        // Accepted or rejected, a product that exists afterwards remembers the command; a
        // deleted or never created one has nothing to keep it in (see `is_seen_command`).
        if let Some(product) = state.as_mut() {
            remember_command(product, command.id);
        }
        self.outcomes
            .send(out, command.id, command.product_id, result, command.now);
        Ok(())
    }
}

impl Catalog {
    fn decide(
        &self,
        command: &Command<'_>,
        body: CatalogCommandBody,
        state: &mut Option<Product>,
        out: &mut Outputs,
    ) -> Result<(), Rejection> {
        check_key(command.product_id, body_product_id(&body))?;
        match body {
            CatalogCommandBody::CreateProduct(create) => self.create(command, create, state, out),
            CatalogCommandBody::UpdateProduct(update) => update_product(command, update, state),
            CatalogCommandBody::DeleteProduct(delete) => delete_product(delete, state),
            CatalogCommandBody::ChangePrice(change) => change_price(command, change, state),
            CatalogCommandBody::RestockProduct(restock) => {
                self.restock(command, restock, state.as_ref(), out)
            }
        }
    }

    fn create(
        &self,
        command: &Command<'_>,
        create: CreateProduct,
        state: &mut Option<Product>,
        out: &mut Outputs,
    ) -> Result<(), Rejection> {
        if state.is_some() {
            return Err(Rejection::new(
                "duplicate_id",
                format!("Product {} already exists.", create.product_id),
            ));
        }
        let name = valid_name(&create.product_id, &create.name)?;
        check_price(&create.product_id, &create.price)?;
        if create.initial_stock < 0 {
            return Err(Rejection::new(
                "invalid_stock",
                format!(
                    "The initial stock of product {} must not be negative, but is {}.",
                    create.product_id, create.initial_stock
                ),
            ));
        }
        if create.initial_stock > 0 {
            self.send_restock(command, create.initial_stock, out);
        }
        *state = Some(Product {
            product_id: create.product_id,
            name,
            description: create.description,
            price: create.price,
            version: 1,
            created_at: command.now,
            updated_at: command.now,
            recent_command_ids: Vec::new(),
        });
        Ok(())
    }

    /// A restock changes no product: the stock lives in inventory, so it is passed on there.
    fn restock(
        &self,
        command: &Command<'_>,
        restock: RestockProduct,
        state: Option<&Product>,
        out: &mut Outputs,
    ) -> Result<(), Rejection> {
        existing(&restock.product_id, state)?;
        if restock.quantity <= 0 {
            return Err(Rejection::new(
                "invalid_quantity",
                format!(
                    "A restock of product {} must add at least one unit, not {}.",
                    restock.product_id, restock.quantity
                ),
            ));
        }
        self.send_restock(command, restock.quantity, out);
        Ok(())
    }

    /// Hands `quantity` units of the command's product to inventory. The command id is derived
    /// from the catalog command's, so a redelivered command yields the same inventory command
    /// and inventory can recognise it.
    fn send_restock(&self, command: &Command<'_>, quantity: i32, out: &mut Outputs) {
        out.send(
            self.inventory_commands.clone(),
            command.product_id,
            InventoryCommand {
                command_id: restock_command_id(command.id),
                issued_at: command.now,
                body: InventoryCommandBody::Restock(Restock {
                    product_id: command.product_id.to_owned(),
                    quantity,
                }),
            },
        );
    }
}

/// How many command ids a product remembers: fewer than a cart, as every cart instance holds
/// the whole catalog in memory, and a copy of a record follows its original within seconds
/// (see the cart's `REMEMBERED_COMMANDS`).
const REMEMBERED_COMMANDS: usize = 8;

/// Whether the product has handled this command id: its record was written twice.
///
/// A command that left no product (a delete, or a rejection for a product that does not
/// exist) is not remembered: a copy of it is rejected as `unknown_product` in a second outcome.
fn is_seen_command(command_id: &str, product: Option<&Product>) -> bool {
    product.is_some_and(|product| product.recent_command_ids.iter().any(|id| id == command_id))
}

fn remember_command(product: &mut Product, command_id: &str) {
    recent::remember(
        &mut product.recent_command_ids,
        command_id,
        REMEMBERED_COMMANDS,
    );
}

/// The id of the inventory `Restock` a catalog command causes.
pub fn restock_command_id(catalog_command_id: &str) -> String {
    format!("{catalog_command_id}:restock")
}

fn update_product(
    command: &Command<'_>,
    update: UpdateProduct,
    state: &mut Option<Product>,
) -> Result<(), Rejection> {
    let product = existing_mut(&update.product_id, state)?;
    let name = valid_name(&update.product_id, &update.name)?;
    product.name = name;
    product.description = update.description;
    touch(product, command.now);
    Ok(())
}

fn delete_product(delete: DeleteProduct, state: &mut Option<Product>) -> Result<(), Rejection> {
    existing(&delete.product_id, state.as_ref())?;
    *state = None;
    Ok(())
}

fn change_price(
    command: &Command<'_>,
    change: ChangePrice,
    state: &mut Option<Product>,
) -> Result<(), Rejection> {
    let product = existing_mut(&change.product_id, state)?;
    check_price(&change.product_id, &change.price)?;
    product.price = change.price;
    touch(product, command.now);
    Ok(())
}

/// Marks an accepted change, so readers of the compacted topic can refuse to go back in time.
fn touch(product: &mut Product, now: TimestampMillis) {
    product.version = product.version.saturating_add(1);
    product.updated_at = now;
}

fn body_product_id(body: &CatalogCommandBody) -> &str {
    match body {
        CatalogCommandBody::CreateProduct(create) => &create.product_id,
        CatalogCommandBody::UpdateProduct(update) => &update.product_id,
        CatalogCommandBody::DeleteProduct(delete) => &delete.product_id,
        CatalogCommandBody::ChangePrice(change) => &change.product_id,
        CatalogCommandBody::RestockProduct(restock) => &restock.product_id,
    }
}

/// The state handed to us is the key's, so a body about another product would be decided
/// against the wrong product: refuse it rather than guess which of the two was meant.
fn check_key(key: &str, body_product_id: &str) -> Result<(), Rejection> {
    if key == body_product_id {
        return Ok(());
    }
    Err(Rejection::new(
        "product_id_mismatch",
        format!("The command names product {body_product_id} but was sent under key {key}."),
    ))
}

fn existing<'a>(product_id: &str, state: Option<&'a Product>) -> Result<&'a Product, Rejection> {
    state.ok_or_else(|| unknown_product(product_id))
}

fn existing_mut<'a>(
    product_id: &str,
    state: &'a mut Option<Product>,
) -> Result<&'a mut Product, Rejection> {
    state.as_mut().ok_or_else(|| unknown_product(product_id))
}

fn unknown_product(product_id: &str) -> Rejection {
    Rejection::new(
        "unknown_product",
        format!("Product {product_id} does not exist."),
    )
}

/// The name trimmed, or a rejection if nothing is left.
fn valid_name(product_id: &str, name: &str) -> Result<String, Rejection> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Rejection::new(
            "empty_name",
            format!("The name of product {product_id} must not be blank."),
        ));
    }
    Ok(trimmed.to_owned())
}

fn check_price(product_id: &str, price: &Money) -> Result<(), Rejection> {
    if price.amount_cents <= 0 {
        return Err(Rejection::new(
            "invalid_price",
            format!(
                "The price of product {product_id} must be positive, but is {} cents.",
                price.amount_cents
            ),
        ));
    }
    if !is_currency_code(&price.currency) {
        return Err(Rejection::new(
            "invalid_currency",
            format!(
                "The currency of product {product_id} must be a three-letter ISO 4217 code such as USD, not {:?}.",
                price.currency
            ),
        ));
    }
    Ok(())
}

/// Three ASCII capitals: the shape of an ISO 4217 code. Whether the code is assigned is not
/// checked; the list changes and a shape check catches the typos that matter.
fn is_currency_code(currency: &str) -> bool {
    currency.len() == 3 && currency.bytes().all(|byte| byte.is_ascii_uppercase())
}
