//! Bounds the ingress checks before a command leaves (422). The processors check again and
//! decide; these only spare Kafka the requests that cannot succeed.

use crate::error::ApiError;
use crate::ports::PageRequest;

pub(crate) const DEFAULT_PAGE_SIZE: u32 = 20;
pub(crate) const MAX_PAGE_SIZE: u32 = 100;
const MAX_ID_LEN: usize = 64;
const MAX_NAME_LEN: usize = 200;
const MAX_DESCRIPTION_LEN: usize = 2_000;
const MAX_QUERY_LEN: usize = 200;
const MAX_TOKEN_LEN: usize = 256;
const MAX_RESTOCK: i64 = 1_000_000;
const MAX_CART_QUANTITY: i64 = 99;

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::Validation(detail.into())
}

/// 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub(crate) fn product_id(id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "product_id must be 1 to {MAX_ID_LEN} of A-Z a-z 0-9 . _ -"
        )))
    }
}

pub(crate) fn name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(invalid("name must not be blank"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "name must be at most {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

pub(crate) fn description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    Ok(())
}

pub(crate) fn price(price_cents: i64) -> Result<(), ApiError> {
    if price_cents <= 0 {
        return Err(invalid("price_cents must be greater than 0"));
    }
    Ok(())
}

/// Three capital letters (ISO 4217).
pub(crate) fn currency(currency: &str) -> Result<(), ApiError> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(invalid("currency must be three capital letters, e.g. USD"))
    }
}

pub(crate) fn initial_stock(units: i64) -> Result<i32, ApiError> {
    in_range("initial_stock", units, 0, MAX_RESTOCK)
}

pub(crate) fn restock_quantity(units: i64) -> Result<i32, ApiError> {
    in_range("quantity", units, 1, MAX_RESTOCK)
}

/// A quantity to add: 1 to 99.
pub(crate) fn add_quantity(quantity: i64) -> Result<i32, ApiError> {
    in_range("quantity", quantity, 1, MAX_CART_QUANTITY)
}

/// A line's new quantity: 0 (remove) to 99.
pub(crate) fn set_quantity(quantity: i64) -> Result<i32, ApiError> {
    in_range("quantity", quantity, 0, MAX_CART_QUANTITY)
}

fn in_range(field: &str, value: i64, low: i64, high: i64) -> Result<i32, ApiError> {
    if (low..=high).contains(&value) {
        i32::try_from(value).map_err(|_| invalid(format!("{field} must be {low} to {high}")))
    } else {
        Err(invalid(format!("{field} must be {low} to {high}")))
    }
}

pub(crate) fn payment_token(token: &str) -> Result<(), ApiError> {
    if token.trim().is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(invalid(format!(
            "payment_token must be 1 to {MAX_TOKEN_LEN} characters and not blank"
        )));
    }
    Ok(())
}

/// The page a `limit` and `cursor` ask for.
pub(crate) fn page(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(invalid(format!("limit must be 1 to {MAX_PAGE_SIZE}")));
    }
    let cursor = cursor.filter(|cursor| !cursor.is_empty());
    Ok(PageRequest { limit, cursor })
}

/// A search text: trimmed, at most 200 characters; blank means none.
pub(crate) fn search_text(q: Option<String>) -> Result<Option<String>, ApiError> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_LEN)
    {
        return Err(invalid(format!(
            "q must be at most {MAX_QUERY_LEN} characters"
        )));
    }
    Ok(q)
}

pub(crate) fn price_range(min: Option<i64>, max: Option<i64>) -> Result<(), ApiError> {
    if min.is_some_and(|min| min < 0) || max.is_some_and(|max| max < 0) {
        return Err(invalid("min_price and max_price must not be negative"));
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(invalid("min_price must not be greater than max_price"));
    }
    Ok(())
}
