//! The cart processor: one cart per user (keyed by user id) on the compacted `cart.carts`
//! topic. It answers every cart command with exactly one outcome, and on checkout prices the
//! cart from the catalog and hands it to the orders saga on `checkout.requested`.
//!
//! It reads products through [`ProductLookup`] (in production the `catalog.products`
//! [`GlobalTable`]); it never writes to the catalog, reserves stock or takes payment. Prices
//! are not kept in the cart: a line is priced at checkout, from the catalog as it is then.
//!
//! An untouched cart expires `ttl` after its last accepted change: the deadline lives in the
//! state (`expires_at`) because [`Handler::deadline`] sees only the state.
//!
//! Exactly-once processing covers the records on `cart.commands`, not how they got there: the
//! ingress's idempotent producer can write one command twice (after a broker restart it bumps
//! its epoch and resends a batch the broker had already stored; librdkafka issue #4953). So the
//! cart remembers the ids of its latest commands (`recent_command_ids`) and drops a record it
//! has handled before: one effect, one outcome.

mod checkout;
#[cfg(test)]
mod tests;

use crate::outcome::{OutcomeWriter, Rejection};
use crate::recent;
use crate::runtime::{GlobalTable, Handler, HandlerError, Outputs, RecordContext};
use crate::topology::TopicNames;
use shop_schemas::cart::{
    AddItem, Cart, CartCommand, CartCommandBody, CartLine, RemoveItem, SetItemQuantity,
};
use shop_schemas::catalog::Product;
use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::{TimestampMillis, millis_of};
use std::collections::HashMap;
use std::time::Duration;

/// The processor's name in outcomes and dead-letter headers.
pub const NAME: &str = "cart";

/// How the cart finds products: a trait so the handler can be tested with a map instead of a
/// Kafka-backed table.
pub trait ProductLookup: Send + 'static {
    /// The product as the catalog has it now, or `None` if it does not exist (any more).
    fn product(&self, product_id: &str) -> Option<Product>;
}

impl ProductLookup for GlobalTable<Product> {
    fn product(&self, product_id: &str) -> Option<Product> {
        self.get(product_id)
    }
}

impl ProductLookup for HashMap<String, Product> {
    fn product(&self, product_id: &str) -> Option<Product> {
        self.get(product_id).cloned()
    }
}

/// Limits of a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSettings {
    /// How long a cart lives after its last accepted change.
    pub ttl: Duration,
    /// The most units of one product a line may hold.
    pub max_quantity: i32,
    /// The most distinct products a cart may hold.
    pub max_lines: usize,
}

impl Default for CartSettings {
    /// 90 days, 99 units a line, 50 lines.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(90 * 24 * 60 * 60),
            max_quantity: 99,
            max_lines: 50,
        }
    }
}

/// Decides cart commands; see the module docs.
#[derive(Debug)]
pub struct CartProcessor<P: ProductLookup> {
    outcomes: OutcomeWriter,
    /// Full name of `checkout.requested`.
    checkout_requested: String,
    products: P,
    settings: CartSettings,
}

impl<P: ProductLookup> CartProcessor<P> {
    /// A cart processor writing to the topics of one deployment and reading `products`.
    pub fn new(topics: &TopicNames, products: P, settings: CartSettings) -> Self {
        Self {
            outcomes: OutcomeWriter {
                topic: topics.command_outcomes.clone(),
                processor: NAME,
            },
            checkout_requested: topics.checkout_requested.clone(),
            products,
            settings,
        }
    }
}

/// A command being handled: what it is, whose cart, and when.
struct Command<'a> {
    id: &'a str,
    user_id: &'a str,
    now: TimestampMillis,
}

impl<P: ProductLookup> Handler for CartProcessor<P> {
    type Input = CartCommand;
    type State = Cart;

    /// Every command gets one outcome; nothing is poison. A rejected command leaves the state
    /// exactly as it was: the change is made on a copy that is kept only if accepted.
    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: CartCommand,
        state: &mut Option<Cart>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let command = Command {
            id: &input.command_id,
            user_id: record.key,
            now: record.now,
        };
        if is_seen_command(&input.command_id, state.as_ref()) {
            // The same command record again, not a retry by the client (that would carry a new
            // command id): it had its outcome, and its effect is in the state already.
            tracing::info!(
                command_id = %input.command_id,
                user_id = record.key,
                "dropping a command seen before"
            );
            return Ok(());
        }
        let entity_id = entity_id(record.key, &input.body);
        if is_repeated_checkout(&input, state.as_ref())
            && check_user(record.key, &input.user_id).is_ok()
        {
            // The same checkout again (the same idempotency key at the ingress): the same
            // answer, and no second order.
            if let Some(cart) = state.as_mut() {
                remember_command(cart, command.id);
            }
            self.outcomes
                .send(out, command.id, &entity_id, Ok(()), command.now);
            return Ok(());
        }
        let result = check_user(record.key, &input.user_id)
            .and_then(|()| self.decide(&command, input.body, state.as_ref()));
        if result.is_err()
            && let Some(cart) = state.as_mut()
        {
            // Rejected: the cart stays as it was but for remembering the command. A rejected
            // command for a user without a cart leaves no trace (see `is_seen_command`).
            remember_command(cart, command.id);
        }
        let result = result.map(|(mut cart, checkout)| {
            remember_command(&mut cart, command.id);
            *state = Some(cart);
            if let Some(requested) = checkout {
                out.send(
                    self.checkout_requested.clone(),
                    requested.order_id.clone(),
                    requested,
                );
            }
        });
        self.outcomes
            .send(out, command.id, &entity_id, result, command.now);
        Ok(())
    }

    fn deadline(state: &Cart) -> Option<TimestampMillis> {
        state.expires_at
    }

    /// Deletes the expired cart (a tombstone on `cart.carts`). Nobody asked for it, so there is
    /// no outcome. A cart whose deadline has not passed is left alone.
    fn on_deadline(
        &mut self,
        _key: &str,
        now: TimestampMillis,
        state: &mut Option<Cart>,
        _out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let expired = state
            .as_ref()
            .and_then(|cart| cart.expires_at)
            .is_some_and(|at| at <= now);
        if expired {
            *state = None;
        }
        Ok(())
    }
}

/// The cart after an accepted command, and the checkout it requests, if any.
type Decision = (Cart, Option<CheckoutRequested>);

impl<P: ProductLookup> CartProcessor<P> {
    fn decide(
        &self,
        command: &Command<'_>,
        body: CartCommandBody,
        current: Option<&Cart>,
    ) -> Result<Decision, Rejection> {
        // Work on a copy: the stored state stays untouched, so a rejection needs no undo.
        let mut cart = current
            .cloned()
            .unwrap_or_else(|| empty_cart(command.user_id));
        let checkout = match body {
            CartCommandBody::AddItem(add) => self.add_item(command, add, &mut cart).map(|()| None),
            CartCommandBody::SetItemQuantity(set) => {
                self.set_quantity(command, set, &mut cart).map(|()| None)
            }
            CartCommandBody::RemoveItem(remove) => {
                remove_item(command, &remove, &mut cart).map(|()| None)
            }
            CartCommandBody::ClearCart(_) => {
                cart.lines.clear();
                Ok(None)
            }
            CartCommandBody::Checkout(checkout) => {
                let requested = self.price(command, &checkout, &cart)?;
                cart.lines.clear();
                remember_checkout(&mut cart, &checkout.order_id);
                Ok(Some(requested))
            }
        }?;
        self.touch(&mut cart, command.now);
        Ok((cart, checkout))
    }

    /// Adds units to the product's line, or a new line. Adding to a line that would pass
    /// `max_quantity` is accepted and capped there: the user wants "more", and the most they
    /// may have is a better answer than an error.
    fn add_item(
        &self,
        command: &Command<'_>,
        add: AddItem,
        cart: &mut Cart,
    ) -> Result<(), Rejection> {
        self.check_quantity(command, &add.product_id, add.quantity, 1)?;
        if self.products.product(&add.product_id).is_none() {
            return Err(Rejection::new(
                "unknown_product",
                format!("Product {} is not in the catalog.", add.product_id),
            ));
        }
        if let Some(line) = line_mut(cart, &add.product_id) {
            line.quantity = line
                .quantity
                .saturating_add(add.quantity)
                .min(self.settings.max_quantity);
            return Ok(());
        }
        if cart.lines.len() >= self.settings.max_lines {
            return Err(Rejection::new(
                "cart_full",
                format!(
                    "The cart of user {} already holds {} products, the most it may; product {} cannot be added.",
                    command.user_id, self.settings.max_lines, add.product_id
                ),
            ));
        }
        cart.lines.push(CartLine {
            product_id: add.product_id,
            quantity: add.quantity,
            added_at: command.now,
        });
        Ok(())
    }

    /// Sets a line's quantity; 0 removes the line.
    fn set_quantity(
        &self,
        command: &Command<'_>,
        set: SetItemQuantity,
        cart: &mut Cart,
    ) -> Result<(), Rejection> {
        self.check_quantity(command, &set.product_id, set.quantity, 0)?;
        if set.quantity == 0 {
            return remove_item(
                command,
                &RemoveItem {
                    product_id: set.product_id,
                },
                cart,
            );
        }
        let line =
            line_mut(cart, &set.product_id).ok_or_else(|| not_in_cart(command, &set.product_id))?;
        line.quantity = set.quantity;
        Ok(())
    }

    fn check_quantity(
        &self,
        command: &Command<'_>,
        product_id: &str,
        quantity: i32,
        least: i32,
    ) -> Result<(), Rejection> {
        let most = self.settings.max_quantity;
        if (least..=most).contains(&quantity) {
            return Ok(());
        }
        Err(Rejection::new(
            "invalid_quantity",
            format!(
                "The quantity of product {product_id} in the cart of user {} must be from {least} to {most}, not {quantity}.",
                command.user_id
            ),
        ))
    }

    /// Marks an accepted change: a new version for readers and a fresh expiry.
    fn touch(&self, cart: &mut Cart, now: TimestampMillis) {
        let ttl_millis = millis_of(self.settings.ttl);
        cart.version = cart.version.saturating_add(1);
        cart.updated_at = now;
        cart.expires_at = Some(now.saturating_add(ttl_millis));
    }
}

fn remove_item(
    command: &Command<'_>,
    remove: &RemoveItem,
    cart: &mut Cart,
) -> Result<(), Rejection> {
    let before = cart.lines.len();
    cart.lines
        .retain(|line| line.product_id != remove.product_id);
    if cart.lines.len() == before {
        return Err(not_in_cart(command, &remove.product_id));
    }
    Ok(())
}

fn line_mut<'a>(cart: &'a mut Cart, product_id: &str) -> Option<&'a mut CartLine> {
    cart.lines
        .iter_mut()
        .find(|line| line.product_id == product_id)
}

fn not_in_cart(command: &Command<'_>, product_id: &str) -> Rejection {
    Rejection::new(
        "not_in_cart",
        format!(
            "Product {product_id} is not in the cart of user {}.",
            command.user_id
        ),
    )
}

/// A cart that never existed, before its first change: version 0, so the first accepted
/// command makes it version 1.
fn empty_cart(user_id: &str) -> Cart {
    Cart {
        user_id: user_id.to_owned(),
        lines: Vec::new(),
        version: 0,
        updated_at: 0,
        expires_at: None,
        recent_order_ids: Vec::new(),
        recent_command_ids: Vec::new(),
    }
}

/// How many command ids a cart remembers. The copies seen so far come from the ingress's
/// producer resending a batch the broker had already stored (an epoch bump after message
/// timeouts during a broker restart; see the maintainers' comment on librdkafka issue #4953):
/// such a copy follows its original within seconds, with at most a few commands of the same
/// user between them.
const REMEMBERED_COMMANDS: usize = 16;

/// Whether the cart has handled this command id: its record was written twice.
///
/// A command rejected for a user who has no cart is not remembered (there is nothing to keep
/// it in, and creating a cart to hold it would show users carts they never filled): a second
/// copy of it is rejected again, with the same reason, in a second outcome.
fn is_seen_command(command_id: &str, cart: Option<&Cart>) -> bool {
    cart.is_some_and(|cart| cart.recent_command_ids.iter().any(|id| id == command_id))
}

fn remember_command(cart: &mut Cart, command_id: &str) {
    recent::remember(
        &mut cart.recent_command_ids,
        command_id,
        REMEMBERED_COMMANDS,
    );
}

/// How many checkouts a cart remembers for idempotency: a client retrying an older checkout
/// after this many newer ones gets an ordinary answer (usually `empty_cart`).
const REMEMBERED_CHECKOUTS: usize = 20;

fn is_repeated_checkout(input: &CartCommand, cart: Option<&Cart>) -> bool {
    match (&input.body, cart) {
        (CartCommandBody::Checkout(checkout), Some(cart)) => {
            cart.recent_order_ids.contains(&checkout.order_id)
        }
        _ => false,
    }
}

fn remember_checkout(cart: &mut Cart, order_id: &str) {
    recent::remember(&mut cart.recent_order_ids, order_id, REMEMBERED_CHECKOUTS);
}

/// What an outcome names: the order a checkout creates, otherwise the user's cart.
fn entity_id(user_id: &str, body: &CartCommandBody) -> String {
    match body {
        CartCommandBody::Checkout(checkout) => checkout.order_id.clone(),
        _ => user_id.to_owned(),
    }
}

/// The state handed to us is the key's; a command for another user would change the wrong
/// cart, so it is refused rather than guessed at.
fn check_user(key: &str, command_user_id: &str) -> Result<(), Rejection> {
    if key == command_user_id {
        return Ok(());
    }
    Err(Rejection::new(
        "user_mismatch",
        format!("The command is for user {command_user_id} but was sent under key {key}."),
    ))
}
