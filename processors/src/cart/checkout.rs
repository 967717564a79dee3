//! Checkout: pricing a cart from the catalog as it is at this moment and turning it into the
//! `CheckoutRequested` the orders saga starts from.

use super::{CartProcessor, Command, ProductLookup};
use crate::outcome::Rejection;
use shop_schemas::Money;
use shop_schemas::cart::{Cart, CartLine, Checkout};
use shop_schemas::checkout::{CheckoutRequested, PricedLine};

impl<P: ProductLookup> CartProcessor<P> {
    /// The checkout of `cart`, or why there is none. Prices come from the catalog now, not from
    /// when the items were added: the order is charged what the shop asks at checkout.
    pub(super) fn price(
        &self,
        command: &Command<'_>,
        checkout: &Checkout,
        cart: &Cart,
    ) -> Result<CheckoutRequested, Rejection> {
        if cart.lines.is_empty() {
            return Err(Rejection::new(
                "empty_cart",
                format!(
                    "The cart of user {} is empty; there is nothing to check out.",
                    command.user_id
                ),
            ));
        }
        check_request(command, checkout)?;
        let lines = self.priced_lines(command, &cart.lines)?;
        let total = total(command, &lines)?;
        Ok(CheckoutRequested {
            order_id: checkout.order_id.clone(),
            user_id: command.user_id.to_owned(),
            command_id: command.id.to_owned(),
            payment_token: checkout.payment_token.clone(),
            lines,
            total,
            requested_at: command.now,
        })
    }

    /// Every line with the catalog's name and price, or `unknown_product` naming each product
    /// that has left the catalog (the cart is kept, so the user can remove them).
    fn priced_lines(
        &self,
        command: &Command<'_>,
        lines: &[CartLine],
    ) -> Result<Vec<PricedLine>, Rejection> {
        let mut priced = Vec::with_capacity(lines.len());
        let mut missing = Vec::new();
        for line in lines {
            match self.products.product(&line.product_id) {
                Some(product) => priced.push(PricedLine {
                    product_id: line.product_id.clone(),
                    name: product.name,
                    quantity: line.quantity,
                    unit_price: product.price,
                }),
                None => missing.push(line.product_id.as_str()),
            }
        }
        if missing.is_empty() {
            return Ok(priced);
        }
        Err(Rejection::new(
            "unknown_product",
            format!(
                "The cart of user {} holds products that are no longer in the catalog: {}.",
                command.user_id,
                missing.join(", ")
            ),
        ))
    }
}

/// The order id and payment token must say something. The token itself is never repeated in
/// a reason: it is a secret of the payment provider.
fn check_request(command: &Command<'_>, checkout: &Checkout) -> Result<(), Rejection> {
    if checkout.order_id.trim().is_empty() {
        return Err(Rejection::new(
            "invalid_order_id",
            format!(
                "The checkout of the cart of user {} has a blank order id.",
                command.user_id
            ),
        ));
    }
    if checkout.payment_token.trim().is_empty() {
        return Err(Rejection::new(
            "invalid_payment_token",
            format!(
                "The checkout of order {} has a blank payment token.",
                checkout.order_id
            ),
        ));
    }
    Ok(())
}

/// The sum of quantity times unit price in one currency, with checked arithmetic: a total
/// that does not fit is refused, never wrapped or saturated into a wrong charge.
fn total(command: &Command<'_>, lines: &[PricedLine]) -> Result<Money, Rejection> {
    let Some(first) = lines.first() else {
        return Ok(Money::new(0, ""));
    };
    let currency = &first.unit_price.currency;
    if let Some(other) = lines
        .iter()
        .find(|line| &line.unit_price.currency != currency)
    {
        return Err(Rejection::new(
            "mixed_currencies",
            format!(
                "The cart of user {} mixes prices in {currency} and {} (product {}); one order is paid in one currency.",
                command.user_id, other.unit_price.currency, other.product_id
            ),
        ));
    }
    lines
        .iter()
        .try_fold(0_i64, |sum, line| {
            i64::from(line.quantity)
                .checked_mul(line.unit_price.amount_cents)
                .and_then(|amount| sum.checked_add(amount))
        })
        .map(|cents| Money::new(cents, currency.clone()))
        .ok_or_else(|| {
            Rejection::new(
                "total_too_large",
                format!(
                    "The total of the cart of user {} is too large to charge.",
                    command.user_id
                ),
            )
        })
}
