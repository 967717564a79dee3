//! Writing one record into the tables. Every state row carries the version of the record it
//! came from, and an upsert only replaces an older version: replaying a record that is already
//! applied changes nothing, and an older version never overwrites a newer one.

use chrono::{DateTime, Utc};
use shop_processors::orders::status_name;
use shop_schemas::TimestampMillis;
use shop_schemas::cart::Cart;
use shop_schemas::catalog::Product;
use shop_schemas::inventory::StockLevel;
use shop_schemas::orders::{LineStock, Order, OrderEvent};
use sqlx::PgConnection;

/// One record, decoded, as a change to the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A product's newest state; `None` for a tombstone (deleted).
    Product(String, Option<Product>),
    /// A cart's newest state; `None` for a tombstone (expired).
    Cart(String, Option<Cart>),
    Stock(String, Option<StockLevel>),
    Order(String, Option<Order>),
    /// One status transition, kept as history.
    OrderEvent(OrderEvent),
    /// Nothing to write: the record went to a dead-letter topic; only the offset moves on.
    Skip,
}

/// Milliseconds since the epoch as a database timestamp; out-of-range values (which no record
/// of ours carries) become the epoch rather than failing the batch.
pub(crate) fn time(millis: TimestampMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// A line's stock as the Avro enum spells it.
pub(crate) fn line_stock_name(stock: LineStock) -> &'static str {
    match stock {
        LineStock::Requested => "REQUESTED",
        LineStock::Reserved => "RESERVED",
        LineStock::Rejected => "REJECTED",
        LineStock::Released => "RELEASED",
        LineStock::Committed => "COMMITTED",
    }
}

/// Writes `change` inside the caller's transaction.
pub(crate) async fn apply(db: &mut PgConnection, change: &Change) -> Result<(), sqlx::Error> {
    match change {
        Change::Product(_, Some(product)) => upsert_product(db, product).await,
        Change::Product(id, None) => sqlx::query!("DELETE FROM products WHERE product_id = $1", id)
            .execute(db)
            .await
            .map(drop),
        Change::Cart(_, Some(cart)) => upsert_cart(db, cart).await,
        Change::Cart(id, None) => sqlx::query!("DELETE FROM carts WHERE user_id = $1", id)
            .execute(db)
            .await
            .map(drop),
        Change::Stock(_, Some(level)) => upsert_stock(db, level).await,
        Change::Stock(id, None) => {
            sqlx::query!("DELETE FROM stock_levels WHERE product_id = $1", id)
                .execute(db)
                .await
                .map(drop)
        }
        Change::Order(_, Some(order)) => upsert_order(db, order).await,
        Change::Order(id, None) => sqlx::query!("DELETE FROM orders WHERE order_id = $1", id)
            .execute(db)
            .await
            .map(drop),
        Change::OrderEvent(event) => insert_event(db, event).await,
        Change::Skip => Ok(()),
    }
}

async fn upsert_product(db: &mut PgConnection, product: &Product) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO products
             (product_id, name, description, price_cents, currency, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (product_id) DO UPDATE SET
             name = EXCLUDED.name, description = EXCLUDED.description,
             price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency,
             version = EXCLUDED.version, created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at
         WHERE products.version < EXCLUDED.version",
        product.product_id,
        product.name,
        product.description,
        product.price.amount_cents,
        product.price.currency,
        product.version,
        time(product.created_at),
        time(product.updated_at),
    )
    .execute(db)
    .await
    .map(drop)
}

async fn upsert_stock(db: &mut PgConnection, level: &StockLevel) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO stock_levels (product_id, available, reserved, version, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (product_id) DO UPDATE SET
             available = EXCLUDED.available, reserved = EXCLUDED.reserved,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         WHERE stock_levels.version < EXCLUDED.version",
        level.product_id,
        level.available,
        level.reserved,
        level.version,
        time(level.updated_at),
    )
    .execute(db)
    .await
    .map(drop)
}

/// The cart row, and its lines replaced, if this version is newer than the stored one.
async fn upsert_cart(db: &mut PgConnection, cart: &Cart) -> Result<(), sqlx::Error> {
    let applied = sqlx::query_scalar!(
        "INSERT INTO carts (user_id, version, updated_at, expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
             expires_at = EXCLUDED.expires_at
         WHERE carts.version < EXCLUDED.version
         RETURNING user_id",
        cart.user_id,
        cart.version,
        time(cart.updated_at),
        cart.expires_at.map(time),
    )
    .fetch_optional(&mut *db)
    .await?;
    if applied.is_none() {
        return Ok(());
    }
    sqlx::query!("DELETE FROM cart_lines WHERE user_id = $1", cart.user_id)
        .execute(&mut *db)
        .await?;
    let positions: Vec<i32> = (0..).take(cart.lines.len()).collect();
    let products: Vec<String> = cart.lines.iter().map(|l| l.product_id.clone()).collect();
    let quantities: Vec<i32> = cart.lines.iter().map(|l| l.quantity).collect();
    let added: Vec<DateTime<Utc>> = cart.lines.iter().map(|l| time(l.added_at)).collect();
    sqlx::query!(
        "INSERT INTO cart_lines (user_id, position, product_id, quantity, added_at)
         SELECT $1, * FROM UNNEST($2::integer[], $3::text[], $4::integer[], $5::timestamptz[])",
        cart.user_id,
        &positions,
        &products,
        &quantities,
        &added,
    )
    .execute(db)
    .await
    .map(drop)
}

/// The order row, and its lines replaced, if this version is newer than the stored one.
async fn upsert_order(db: &mut PgConnection, order: &Order) -> Result<(), sqlx::Error> {
    let applied = sqlx::query_scalar!(
        "INSERT INTO orders (order_id, user_id, status, total_cents, currency, authorization_id,
                             reason, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (order_id) DO UPDATE SET
             user_id = EXCLUDED.user_id, status = EXCLUDED.status,
             total_cents = EXCLUDED.total_cents, currency = EXCLUDED.currency,
             authorization_id = EXCLUDED.authorization_id, reason = EXCLUDED.reason,
             version = EXCLUDED.version, created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at
         WHERE orders.version < EXCLUDED.version
         RETURNING order_id",
        order.order_id,
        order.user_id,
        status_name(order.status),
        order.total.amount_cents,
        order.total.currency,
        order.authorization_id,
        order.reason,
        order.version,
        time(order.created_at),
        time(order.updated_at),
    )
    .fetch_optional(&mut *db)
    .await?;
    if applied.is_none() {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM order_lines WHERE order_id = $1",
        order.order_id
    )
    .execute(&mut *db)
    .await?;
    let lines = &order.lines;
    let positions: Vec<i32> = (0..).take(lines.len()).collect();
    let products: Vec<String> = lines.iter().map(|l| l.product_id.clone()).collect();
    let names: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price.amount_cents).collect();
    let currencies: Vec<String> = lines
        .iter()
        .map(|l| l.unit_price.currency.clone())
        .collect();
    let stock: Vec<String> = lines
        .iter()
        .map(|l| line_stock_name(l.stock).to_owned())
        .collect();
    sqlx::query!(
        "INSERT INTO order_lines
             (order_id, position, product_id, name, quantity, unit_price_cents, currency, stock)
         SELECT $1, * FROM UNNEST($2::integer[], $3::text[], $4::text[], $5::integer[],
                                  $6::bigint[], $7::text[], $8::text[])",
        order.order_id,
        &positions,
        &products,
        &names,
        &quantities,
        &prices,
        &currencies,
        &stock,
    )
    .execute(db)
    .await
    .map(drop)
}

async fn insert_event(db: &mut PgConnection, event: &OrderEvent) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO order_status_history
             (event_id, order_id, status, previous_status, reason, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (event_id) DO NOTHING",
        event.event_id,
        event.order_id,
        status_name(event.status),
        event.previous_status.map(status_name),
        event.reason,
        time(event.occurred_at),
    )
    .execute(db)
    .await
    .map(drop)
}
