//! The caller's orders, from the read model, with a long poll on one order. Someone else's order
//! answers 404, exactly as one that does not exist, so order ids do not leak.

use super::dto::{OrderWaitParams, PageParams};
use super::extract::{ApiPath, ApiQuery, parse_wait};
use super::validate;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::views::{Order, OrderPage};
use axum::Json;
use axum::extract::State;
use std::time::Duration;
use tokio::time::Instant;

/// The caller's orders, newest first.
#[utoipa::path(
    get, path = "/api/v1/orders", tag = "orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the caller's orders", body = OrderPage),
        (status = 400, description = "A parameter or the cursor does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<OrderPage>, ApiError> {
    let page = validate::page(params.limit, params.cursor)?;
    Ok(Json(state.queries.orders_of(&caller.user_id, &page).await?))
}

/// One of the caller's orders. With `?wait=`, answers as soon as the order's version differs
/// from when the request arrived (or the order appears), or it is final; at the deadline with
/// its state then.
#[utoipa::path(
    get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "Order id"), OrderWaitParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 400, description = "wait does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order of the caller's (yet)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id, order_id = %id))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<OrderWaitParams>,
) -> Result<Json<Order>, ApiError> {
    let wait = match params.wait.as_deref() {
        Some(text) => parse_wait(text)?.min(state.http.max_wait),
        None => Duration::ZERO,
    };
    let deadline = Instant::now() + wait;
    let first = own_order(&state, &caller, &id).await?;
    let mut current = first.clone();
    let settled = |order: &Option<Order>| order.as_ref().is_some_and(Order::is_terminal);
    let seen = first.as_ref().map(|order| order.version);
    while !settled(&current) && current.as_ref().map(|order| order.version) == seen {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let nap = state.http.poll_interval.min(deadline - now);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = state.stopping.cancelled() => break,
        }
        current = own_order(&state, &caller, &id).await?;
    }
    current
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))
}

/// The order if it exists and is the caller's.
async fn own_order(state: &AppState, caller: &Caller, id: &str) -> Result<Option<Order>, ApiError> {
    let order = state.queries.order(id).await?;
    Ok(order.filter(|order| order.user_id == caller.user_id))
}
