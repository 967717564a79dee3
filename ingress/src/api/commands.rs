//! How a command request runs: register for the outcome (with `Prefer: wait`), produce, wait,
//! and answer: 202 while pending, 200/201 when accepted, 404/409/422 when rejected.

use super::dto::{CommandResponse, CommandStatus};
use super::extract::CommandContext;
use crate::error::ApiError;
use crate::metric_names;
use crate::ports::{Command, OutgoingCommand};
use crate::state::AppState;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use std::time::Duration;

/// A command that reached Kafka, and its outcome if the request waited for one that came.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) command_id: String,
    pub(crate) outcome: Option<CommandOutcome>,
    /// How long the request was prepared to wait (for `Preference-Applied`).
    wait: Option<Duration>,
}

/// Produces `command`; with a wait preference, registers for its outcome first and waits.
///
/// # Errors
/// What the sink failed with (503 when full or away, 500 otherwise).
pub(crate) async fn send(
    state: &AppState,
    context: &CommandContext,
    command: Command,
) -> Result<Sent, ApiError> {
    let command_id = command.command_id().to_owned();
    // Registered before producing, so an outcome that comes back at once is not missed.
    let pending = context
        .wait
        .and_then(|_| state.outcomes.register(&command_id));
    if context.wait.is_some() && pending.is_none() {
        metrics::counter!(metric_names::OUTCOME_WAITS, "result" => "skipped").increment(1);
    }
    tracing::debug!(command_id, kind = command.kind(), "sending command");
    state
        .sink
        .send(OutgoingCommand {
            command,
            traceparent: context.traceparent.clone(),
        })
        .await?;
    let outcome = match (pending, context.wait) {
        (Some(pending), Some(wait)) => {
            let outcome = tokio::select! {
                outcome = pending.wait(wait) => outcome,
                () = state.stopping.cancelled() => None,
            };
            let result = if outcome.is_some() {
                "decided"
            } else {
                "timeout"
            };
            metrics::counter!(metric_names::OUTCOME_WAITS, "result" => result).increment(1);
            outcome
        }
        _ => None,
    };
    Ok(Sent {
        command_id,
        outcome,
        wait: context.wait,
    })
}

/// How to answer a decided command.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// 200, or 201 for a creation.
    pub(crate) accepted: StatusCode,
    /// Sent as `Location` with an accepted creation.
    pub(crate) location: Option<String>,
    /// The URL path names the product the command is about, so `unknown_product` is a 404.
    pub(crate) path_names_product: bool,
}

impl Reply {
    pub(crate) fn ok() -> Self {
        Self {
            accepted: StatusCode::OK,
            location: None,
            path_names_product: false,
        }
    }

    pub(crate) fn about_path_product() -> Self {
        Self {
            path_names_product: true,
            ..Self::ok()
        }
    }

    pub(crate) fn created(location: String) -> Self {
        Self {
            accepted: StatusCode::CREATED,
            location: Some(location),
            path_names_product: false,
        }
    }
}

/// The response to `sent`: `body` (given the outcome, if decided) with 202 or the accepted
/// status, or the rejection as a problem.
pub(crate) fn respond<B: Serialize>(
    sent: &Sent,
    reply: &Reply,
    body: impl FnOnce(Option<&CommandOutcome>) -> B,
) -> Response {
    let Some(outcome) = &sent.outcome else {
        return (StatusCode::ACCEPTED, Json(body(None))).into_response();
    };
    let mut response = match outcome.status {
        OutcomeStatus::Accepted => {
            let mut response = (reply.accepted, Json(body(Some(outcome)))).into_response();
            if let Some(location) = reply
                .location
                .as_deref()
                .and_then(|location| HeaderValue::from_str(location).ok())
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        OutcomeStatus::Rejected => {
            let reason_code = outcome
                .reason_code
                .clone()
                .unwrap_or_else(|| "rejected".to_owned());
            ApiError::Rejected {
                status: rejection_status(&reason_code, reply.path_names_product),
                detail: outcome
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("the command was rejected: {reason_code}")),
                reason_code,
            }
            .into_response()
        }
    };
    if let Some(wait) = sent.wait
        && let Ok(value) = HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    response
}

/// The HTTP status of a rejection, by its reason code.
pub(crate) fn rejection_status(reason_code: &str, path_names_product: bool) -> StatusCode {
    match reason_code {
        "duplicate_id" | "empty_cart" | "cart_full" => StatusCode::CONFLICT,
        "unknown_product" if path_names_product => StatusCode::NOT_FOUND,
        "not_in_cart" => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A catalog command from `issued_by`, with a fresh command id.
pub(crate) fn catalog(issued_by: &str, body: shop_schemas::catalog::CatalogCommandBody) -> Command {
    Command::Catalog(shop_schemas::catalog::CatalogCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        issued_at: shop_schemas::now_millis(),
        issued_by: issued_by.to_owned(),
        body,
    })
}

/// A command against `user_id`'s cart, with a fresh command id.
pub(crate) fn cart(user_id: &str, body: shop_schemas::cart::CartCommandBody) -> Command {
    Command::Cart(shop_schemas::cart::CartCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        issued_at: shop_schemas::now_millis(),
        user_id: user_id.to_owned(),
        body,
    })
}

/// The body of a command answer: pending, or accepted with what the outcome names.
pub(crate) fn command_body(
    command_id: &str,
    resource: String,
) -> impl FnOnce(Option<&CommandOutcome>) -> CommandResponse {
    move |outcome| CommandResponse {
        command_id: command_id.to_owned(),
        status: if outcome.is_some() {
            CommandStatus::Accepted
        } else {
            CommandStatus::Pending
        },
        resource,
        entity_id: outcome.and_then(|outcome| outcome.entity_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_map_to_statuses() {
        for (code, path, status) in [
            ("duplicate_id", false, 409),
            ("empty_cart", false, 409),
            ("cart_full", false, 409),
            ("unknown_product", true, 404),
            ("unknown_product", false, 422),
            ("not_in_cart", false, 404),
            ("invalid_quantity", false, 422),
            ("empty_name", true, 422),
            ("mixed_currencies", false, 422),
            ("total_too_large", false, 422),
            ("product_id_mismatch", true, 422),
            ("user_mismatch", false, 422),
            ("something_new", false, 422),
        ] {
            assert_eq!(rejection_status(code, path).as_u16(), status, "{code}");
        }
    }
}
