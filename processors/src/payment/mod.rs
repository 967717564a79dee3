//! The payment processor: authorises and voids payments through a [`PaymentGateway`], one
//! payment per order (key: order id).
//!
//! The processor records every order's payment in its state (changelog `payment.payments`)
//! before answering on `payment.events`, and never asks the gateway twice for an order it has
//! a record of: a repeated request is ignored, so no order is charged twice. A gateway answer
//! that arrives late (see [`GatewayReply::delay`]) is kept in the state with the time it is
//! due, and released by the runtime's deadline when that time comes; until then the saga sees
//! nothing, exactly as with a slow provider.

mod gateway;

pub use gateway::{DeterministicGateway, GatewayAnswer, GatewayReply, PaymentGateway, tokens};

use crate::runtime::{Handler, HandlerError, Outputs, RecordContext};
use crate::topology::TopicNames;
use shop_schemas::payment::{
    AuthorizePayment, Payment, PaymentAuthorized, PaymentCommand, PaymentCommandBody,
    PaymentDeclined, PaymentEvent, PaymentEventBody, PaymentStatus, PaymentVoided, VoidPayment,
};
use shop_schemas::{TimestampMillis, millis_of};

/// The processor's name in dead-letter headers, logs and metrics.
pub const NAME: &str = "payment";

/// Processes payment commands against `G`; see the module docs.
#[derive(Debug)]
pub struct PaymentProcessor<G> {
    gateway: G,
    events_topic: String,
}

impl<G: PaymentGateway> PaymentProcessor<G> {
    pub fn new(topics: &TopicNames, gateway: G) -> Self {
        Self {
            gateway,
            events_topic: topics.payment_events.clone(),
        }
    }

    fn publish(
        &self,
        out: &mut Outputs,
        order_id: &str,
        at: TimestampMillis,
        body: PaymentEventBody,
    ) {
        let kind = match &body {
            PaymentEventBody::PaymentAuthorized(_) => "authorized",
            PaymentEventBody::PaymentDeclined(_) => "declined",
            PaymentEventBody::PaymentVoided(_) => "voided",
        };
        out.send(
            self.events_topic.clone(),
            order_id,
            PaymentEvent {
                // An order's payment reaches each of these at most once.
                event_id: format!("{order_id}:{kind}"),
                occurred_at: at,
                body,
            },
        );
    }

    fn authorize(
        &mut self,
        request: &AuthorizePayment,
        now: TimestampMillis,
        state: &mut Option<Payment>,
        out: &mut Outputs,
    ) {
        if let Some(existing) = state {
            tracing::info!(
                order_id = request.order_id,
                status = ?existing.status,
                "repeated payment request ignored: the order has a payment already"
            );
            return;
        }
        let reply = self.gateway.authorize(request);
        let mut payment = Payment {
            order_id: request.order_id.clone(),
            status: PaymentStatus::NoAnswer,
            amount: request.amount.clone(),
            authorization_id: None,
            reason: None,
            answer_due_at: None,
            version: 1,
            updated_at: now,
        };
        match reply.answer {
            GatewayAnswer::Authorized { authorization_id } => {
                payment.status = PaymentStatus::Authorized;
                payment.authorization_id = Some(authorization_id);
            }
            GatewayAnswer::Declined { reason } => {
                payment.status = PaymentStatus::Declined;
                payment.reason = Some(reason);
            }
            GatewayAnswer::NoAnswer => {}
        }
        if !reply.delay.is_zero() && payment.status != PaymentStatus::NoAnswer {
            payment.answer_due_at = Some(now.saturating_add(millis_of(reply.delay)));
            payment.status = PaymentStatus::AwaitingGateway;
        } else {
            self.announce(&payment, now, out);
        }
        *state = Some(payment);
    }

    /// Publishes the answer `payment` holds, if it holds one.
    fn announce(&self, payment: &Payment, now: TimestampMillis, out: &mut Outputs) {
        let order_id = payment.order_id.clone();
        let body = match (&payment.authorization_id, &payment.reason) {
            (Some(authorization_id), _) => PaymentEventBody::PaymentAuthorized(PaymentAuthorized {
                order_id: order_id.clone(),
                authorization_id: authorization_id.clone(),
                amount: payment.amount.clone(),
            }),
            (None, Some(reason)) => PaymentEventBody::PaymentDeclined(PaymentDeclined {
                order_id: order_id.clone(),
                reason: reason.clone(),
            }),
            (None, None) => return,
        };
        self.publish(out, &order_id, now, body);
    }

    fn void(
        &mut self,
        request: &VoidPayment,
        now: TimestampMillis,
        state: &mut Option<Payment>,
        out: &mut Outputs,
    ) {
        let Some(payment) = state.as_mut() else {
            tracing::warn!(
                order_id = request.order_id,
                "void for an order without a payment"
            );
            return;
        };
        let authorized = payment.status == PaymentStatus::Authorized
            && payment.authorization_id.as_deref() == Some(request.authorization_id.as_str());
        if !authorized {
            tracing::info!(
                order_id = request.order_id,
                status = ?payment.status,
                "void ignored: no such open authorisation"
            );
            return;
        }
        match self
            .gateway
            .void(&request.order_id, &request.authorization_id)
        {
            Ok(()) => {
                payment.status = PaymentStatus::Voided;
                payment.reason = Some(request.reason.clone());
                payment.version += 1;
                payment.updated_at = now;
                self.publish(
                    out,
                    &request.order_id,
                    now,
                    PaymentEventBody::PaymentVoided(PaymentVoided {
                        order_id: request.order_id.clone(),
                        authorization_id: request.authorization_id.clone(),
                    }),
                );
            }
            Err(reason) => {
                // The authorisation stands; operators see it in the log and the payment record.
                tracing::error!(
                    order_id = request.order_id,
                    reason,
                    "the gateway refused a void"
                );
            }
        }
    }
}

impl<G: PaymentGateway> Handler for PaymentProcessor<G> {
    type Input = PaymentCommand;
    type State = Payment;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: PaymentCommand,
        state: &mut Option<Payment>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let order_id = match &input.body {
            PaymentCommandBody::AuthorizePayment(request) => &request.order_id,
            PaymentCommandBody::VoidPayment(request) => &request.order_id,
        };
        if order_id != record.key {
            return Err(HandlerError::Poison(format!(
                "payment command for order {order_id} was keyed {}",
                record.key
            )));
        }
        match &input.body {
            PaymentCommandBody::AuthorizePayment(request) => {
                self.authorize(request, record.now, state, out);
            }
            PaymentCommandBody::VoidPayment(request) => self.void(request, record.now, state, out),
        }
        Ok(())
    }

    fn deadline(state: &Payment) -> Option<TimestampMillis> {
        match state.status {
            PaymentStatus::AwaitingGateway => state.answer_due_at,
            _ => None,
        }
    }

    /// Releases a held-back gateway answer.
    fn on_deadline(
        &mut self,
        _key: &str,
        now: TimestampMillis,
        state: &mut Option<Payment>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        let Some(payment) = state.as_mut() else {
            return Ok(());
        };
        if payment.status != PaymentStatus::AwaitingGateway {
            return Ok(());
        }
        payment.status = if payment.authorization_id.is_some() {
            PaymentStatus::Authorized
        } else {
            PaymentStatus::Declined
        };
        payment.answer_due_at = None;
        payment.version += 1;
        payment.updated_at = now;
        self.announce(payment, now, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_schemas::Money;
    use std::time::Duration;

    const EVENTS: &str = "payment.events";

    fn processor() -> PaymentProcessor<DeterministicGateway> {
        PaymentProcessor::new(
            &TopicNames::with_prefix(""),
            DeterministicGateway {
                amount_limit_cents: 10_000,
                late_delay: Duration::from_secs(5),
            },
        )
    }

    fn context(key: &str) -> RecordContext<'_> {
        RecordContext {
            key,
            topic: "payment.commands",
            partition: 0,
            offset: 1,
            timestamp: Some(1_000),
            now: 2_000,
        }
    }

    fn authorize(token: &str, cents: i64) -> PaymentCommandBody {
        PaymentCommandBody::AuthorizePayment(AuthorizePayment {
            order_id: "o1".to_owned(),
            user_id: "u1".to_owned(),
            amount: Money::new(cents, "USD"),
            payment_token: token.to_owned(),
        })
    }

    fn void(authorization_id: &str) -> PaymentCommandBody {
        PaymentCommandBody::VoidPayment(VoidPayment {
            order_id: "o1".to_owned(),
            authorization_id: authorization_id.to_owned(),
            reason: "order_cancelled".to_owned(),
        })
    }

    fn run(
        processor: &mut PaymentProcessor<DeterministicGateway>,
        state: &mut Option<Payment>,
        body: PaymentCommandBody,
    ) -> Outputs {
        let mut out = Outputs::default();
        processor
            .handle(
                &context("o1"),
                PaymentCommand {
                    command_id: "cmd".to_owned(),
                    issued_at: 1,
                    body,
                },
                state,
                &mut out,
            )
            .unwrap();
        out
    }

    fn events(out: &Outputs) -> Vec<&PaymentEventBody> {
        out.sent::<PaymentEvent>(EVENTS)
            .into_iter()
            .map(|(key, event)| {
                assert_eq!(key, "o1");
                &event.body
            })
            .collect()
    }

    fn status(state: &Option<Payment>) -> PaymentStatus {
        state.as_ref().unwrap().status
    }

    #[test]
    fn an_authorisation_is_recorded_and_announced() {
        let mut state = None;
        let out = run(&mut processor(), &mut state, authorize("tok_visa", 500));
        assert_eq!(status(&state), PaymentStatus::Authorized);
        let [PaymentEventBody::PaymentAuthorized(authorized)] = events(&out)[..] else {
            panic!("expected one authorisation: {out:?}");
        };
        assert_eq!(authorized.authorization_id, "auth-o1");
        assert_eq!(authorized.amount, Money::new(500, "USD"));
    }

    #[test]
    fn a_decline_is_recorded_with_its_reason() {
        for (token, cents, reason) in [
            (tokens::DECLINE, 500, "card_declined"),
            ("tok_visa", 10_001, "amount_limit"),
        ] {
            let mut state = None;
            let out = run(&mut processor(), &mut state, authorize(token, cents));
            assert_eq!(status(&state), PaymentStatus::Declined);
            let [PaymentEventBody::PaymentDeclined(declined)] = events(&out)[..] else {
                panic!("expected one decline: {out:?}");
            };
            assert_eq!(declined.reason, reason);
        }
    }

    #[test]
    fn a_repeated_request_never_charges_twice() {
        /// Counts authorisations, to prove the second request never reaches the gateway.
        struct Counting(usize);
        impl PaymentGateway for Counting {
            fn authorize(&mut self, request: &AuthorizePayment) -> GatewayReply {
                self.0 += 1;
                DeterministicGateway::default().authorize(request)
            }
            fn void(&mut self, _: &str, _: &str) -> Result<(), String> {
                Ok(())
            }
        }
        let mut processor = PaymentProcessor::new(&TopicNames::with_prefix(""), Counting(0));
        let mut state = None;
        let mut out = Outputs::default();
        for _ in 0..2 {
            let command = PaymentCommand {
                command_id: "cmd".to_owned(),
                issued_at: 1,
                body: authorize("tok_visa", 500),
            };
            processor
                .handle(&context("o1"), command, &mut state, &mut out)
                .unwrap();
        }
        assert_eq!(processor.gateway.0, 1);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn no_answer_is_recorded_and_nothing_is_announced() {
        let mut state = None;
        let out = run(
            &mut processor(),
            &mut state,
            authorize(tokens::NO_ANSWER, 500),
        );
        assert_eq!(status(&state), PaymentStatus::NoAnswer);
        assert!(out.is_empty());
        assert_eq!(
            PaymentProcessor::<DeterministicGateway>::deadline(state.as_ref().unwrap()),
            None
        );
    }

    #[test]
    fn a_late_answer_is_held_until_its_deadline() {
        let mut processor = processor();
        let mut state = None;
        let out = run(&mut processor, &mut state, authorize(tokens::LATE, 500));
        assert!(out.is_empty());
        assert_eq!(status(&state), PaymentStatus::AwaitingGateway);
        let due = PaymentProcessor::<DeterministicGateway>::deadline(state.as_ref().unwrap());
        assert_eq!(due, Some(2_000 + 5_000));

        let mut out = Outputs::default();
        processor
            .on_deadline("o1", 7_000, &mut state, &mut out)
            .unwrap();
        assert_eq!(status(&state), PaymentStatus::Authorized);
        assert!(matches!(
            events(&out)[..],
            [PaymentEventBody::PaymentAuthorized(_)]
        ));
        assert_eq!(
            PaymentProcessor::<DeterministicGateway>::deadline(state.as_ref().unwrap()),
            None
        );
    }

    #[test]
    fn a_void_cancels_the_authorisation_once() {
        let mut processor = processor();
        let mut state = None;
        run(&mut processor, &mut state, authorize("tok_visa", 500));
        let out = run(&mut processor, &mut state, void("auth-o1"));
        assert_eq!(status(&state), PaymentStatus::Voided);
        assert!(matches!(
            events(&out)[..],
            [PaymentEventBody::PaymentVoided(_)]
        ));
        let again = run(&mut processor, &mut state, void("auth-o1"));
        assert!(again.is_empty());
    }

    #[test]
    fn a_void_of_something_else_changes_nothing() {
        let mut processor = processor();
        let mut state = None;
        assert!(run(&mut processor, &mut state, void("auth-o1")).is_empty());
        assert!(state.is_none());
        run(&mut processor, &mut state, authorize(tokens::DECLINE, 500));
        let before = state.clone();
        assert!(run(&mut processor, &mut state, void("auth-o1")).is_empty());
        assert_eq!(state, before);
        let mut authorized = None;
        run(&mut processor, &mut authorized, authorize("tok_visa", 500));
        assert!(run(&mut processor, &mut authorized, void("auth-other")).is_empty());
        assert_eq!(status(&authorized), PaymentStatus::Authorized);
    }

    #[test]
    fn a_command_keyed_by_another_order_is_poison() {
        let mut state = None;
        let mut out = Outputs::default();
        let command = PaymentCommand {
            command_id: "cmd".to_owned(),
            issued_at: 1,
            body: authorize("tok_visa", 500),
        };
        let error = processor()
            .handle(&context("o2"), command, &mut state, &mut out)
            .unwrap_err();
        assert!(error.to_string().contains("keyed o2"), "{error}");
        assert!(out.is_empty() && state.is_none());
    }
}
