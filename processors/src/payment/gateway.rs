//! The seam to a payment provider, and a deterministic built-in provider for development,
//! tests and demos.

use shop_schemas::payment::AuthorizePayment;
use std::time::Duration;

/// What a provider said about an authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAnswer {
    Authorized {
        authorization_id: String,
    },
    /// `reason` is machine-readable (`card_declined`, `amount_limit`, ...).
    Declined {
        reason: String,
    },
    /// The provider never answered (a lost response): nothing is known to be charged, and the
    /// order saga gives up at its deadline.
    NoAnswer,
}

/// A provider's reply: the answer and when it is to be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReply {
    pub answer: GatewayAnswer,
    /// How long the answer takes to arrive. Zero for a provider called synchronously; the
    /// built-in gateway uses it to stand in for a slow provider, whose late answer the saga
    /// must handle (a late authorisation for a cancelled order is voided).
    pub delay: Duration,
}

impl GatewayReply {
    fn now(answer: GatewayAnswer) -> Self {
        Self {
            answer,
            delay: Duration::ZERO,
        }
    }
}

/// A payment provider.
///
/// Calls run inside the payment processor's transaction: when a batch aborts (a crash, a lost
/// broker), its records are handled again and the provider is called again for the same order.
/// An implementation must therefore be idempotent per order id, as real providers are through
/// an idempotency key: a second `authorize` for an order returns the first answer and charges
/// nothing more. The processor itself never asks twice for an order it has an answer for.
pub trait PaymentGateway: Send + 'static {
    /// Asks for an authorisation of `request.amount` on `request.payment_token`.
    fn authorize(&mut self, request: &AuthorizePayment) -> GatewayReply;

    /// Cancels an authorisation.
    ///
    /// # Errors
    /// Why the provider refused; the processor records the void as failed.
    fn void(&mut self, order_id: &str, authorization_id: &str) -> Result<(), String>;
}

/// The built-in gateway: answers from the token and amount alone, so a demo or a test chooses
/// its outcome by the token it sends. Rules, first match wins:
///
/// | token or amount | answer |
/// | --- | --- |
/// | blank token | declined, `invalid_token` |
/// | amount ≤ 0 | declined, `invalid_amount` |
/// | `tok_decline` | declined, `card_declined` |
/// | `tok_no_answer` | never answers |
/// | amount > `amount_limit_cents` | declined, `amount_limit` |
/// | `tok_late` | authorised, but only after `late_delay` |
/// | anything else | authorised at once, authorization id `auth-<order id>` |
///
/// It keeps no state: the same request always gets the same answer, which makes it idempotent.
#[derive(Debug, Clone)]
pub struct DeterministicGateway {
    /// Largest amount authorised, in minor units (`SHOP_PAYMENT_AMOUNT_LIMIT_CENTS`).
    pub amount_limit_cents: i64,
    /// How late `tok_late` answers (`SHOP_PAYMENT_LATE_DELAY`); longer than the saga's
    /// payment deadline in any setup that wants to see a void.
    pub late_delay: Duration,
}

/// Tokens with a fixed behaviour in [`DeterministicGateway`].
pub mod tokens {
    pub const DECLINE: &str = "tok_decline";
    pub const NO_ANSWER: &str = "tok_no_answer";
    pub const LATE: &str = "tok_late";
}

impl Default for DeterministicGateway {
    fn default() -> Self {
        Self {
            amount_limit_cents: 1_000_000,
            late_delay: Duration::from_secs(60),
        }
    }
}

impl PaymentGateway for DeterministicGateway {
    fn authorize(&mut self, request: &AuthorizePayment) -> GatewayReply {
        let declined = |reason: &str| {
            GatewayReply::now(GatewayAnswer::Declined {
                reason: reason.to_owned(),
            })
        };
        let token = request.payment_token.trim();
        let amount = request.amount.amount_cents;
        if token.is_empty() {
            return declined("invalid_token");
        }
        if amount <= 0 {
            return declined("invalid_amount");
        }
        match token {
            tokens::DECLINE => return declined("card_declined"),
            tokens::NO_ANSWER => return GatewayReply::now(GatewayAnswer::NoAnswer),
            _ => {}
        }
        if amount > self.amount_limit_cents {
            return declined("amount_limit");
        }
        let authorized = GatewayAnswer::Authorized {
            authorization_id: format!("auth-{}", request.order_id),
        };
        GatewayReply {
            answer: authorized,
            delay: if token == tokens::LATE {
                self.late_delay
            } else {
                Duration::ZERO
            },
        }
    }

    fn void(&mut self, _order_id: &str, _authorization_id: &str) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_schemas::Money;

    fn request(token: &str, cents: i64) -> AuthorizePayment {
        AuthorizePayment {
            order_id: "o1".to_owned(),
            user_id: "u1".to_owned(),
            amount: Money::new(cents, "USD"),
            payment_token: token.to_owned(),
        }
    }

    fn answer(token: &str, cents: i64) -> GatewayReply {
        DeterministicGateway::default().authorize(&request(token, cents))
    }

    fn declined(reason: &str) -> GatewayReply {
        GatewayReply::now(GatewayAnswer::Declined {
            reason: reason.to_owned(),
        })
    }

    #[test]
    fn every_documented_rule_holds() {
        let authorized = GatewayAnswer::Authorized {
            authorization_id: "auth-o1".to_owned(),
        };
        assert_eq!(
            answer("tok_visa", 100),
            GatewayReply::now(authorized.clone())
        );
        assert_eq!(answer("  ", 100), declined("invalid_token"));
        assert_eq!(answer("tok_visa", 0), declined("invalid_amount"));
        assert_eq!(answer(tokens::DECLINE, 100), declined("card_declined"));
        assert_eq!(
            answer(tokens::NO_ANSWER, 100),
            GatewayReply::now(GatewayAnswer::NoAnswer)
        );
        assert_eq!(answer("tok_visa", 1_000_001), declined("amount_limit"));
        assert_eq!(answer("tok_visa", 1_000_000).answer, authorized);
        assert_eq!(
            answer(tokens::LATE, 100),
            GatewayReply {
                answer: authorized,
                delay: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn the_same_request_gets_the_same_answer() {
        let mut gateway = DeterministicGateway::default();
        let first = gateway.authorize(&request("tok_visa", 100));
        assert_eq!(gateway.authorize(&request("tok_visa", 100)), first);
    }
}
