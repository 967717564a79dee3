//! The read side the HTTP ingress answers from: products (searchable, filterable, paged),
//! carts, stock levels and orders, as the projector last wrote them.
//!
//! Every query is checked against the schema at compile time (`sqlx::query!`, metadata in
//! `.sqlx`). Optional filters are one static query each, `($n IS NULL OR ...)`, so every
//! combination of filters is the same checked statement.
//!
//! Lists page by keyset, never by offset: a cursor carries the sort key of the last item shown,
//! and the next page starts strictly after it. Rows the projector inserts or deletes meanwhile
//! never make a page repeat or skip an item behind the cursor, and deep pages cost the same as
//! the first. A view that spans several tables is read from one snapshot, so it never mixes two
//! versions of a record.

mod cursor;
mod search;

use chrono::{DateTime, Utc};
use cursor::Cursor;
use search::Search;
use sqlx::PgPool;

/// The read model's queries, over a pool (cheap to clone: the pool is shared).
#[derive(Debug, Clone)]
pub struct ReadModel {
    pool: PgPool,
}

/// Which products to list. Every field is optional; `Default` lists everything.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Words to find in the name or description (all of them; the last one also as a
    /// prefix). Blank means no filter; punctuation only separates words and never errors.
    pub q: Option<String>,
    /// Lowest price, inclusive.
    pub min_price_cents: Option<i64>,
    /// Highest price, inclusive.
    pub max_price_cents: Option<i64>,
}

/// One page of a list: how many items, and where to continue.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page; the queries clamp it to `1..=`[`PageRequest::MAX_LIMIT`] whatever it
    /// holds, so a client can neither ask for nothing nor for everything.
    pub limit: u32,
    /// `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The largest page served.
    pub const MAX_LIMIT: u32 = 100;
    /// The page size when a client does not say (used by `Default`).
    pub const DEFAULT_LIMIT: u32 = 20;

    /// A request for `limit` items (clamped to `1..=100`) after `cursor`.
    pub fn new(limit: u32, cursor: Option<String>) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            cursor,
        }
    }

    /// The limit actually used; the field is public, so it is clamped again here.
    fn limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }

    /// How many rows to fetch: one more than the page, to know whether another page exists.
    fn fetch(&self) -> i64 {
        i64::from(self.limit()) + 1
    }

    fn cursor(&self) -> Result<Option<Cursor>, QueryError> {
        self.cursor.as_deref().map(Cursor::decode).transpose()
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT, None)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page from up to `limit + 1` fetched rows: the extra row only says that another page
    /// exists, and the cursor is made from the last item kept.
    fn from_rows(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|last| cursor_of(last).encode())
        } else {
            None
        };
        Self { items, next_cursor }
    }

    fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// A product with its current stock.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProductView {
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    /// Units available to order; `None` when no stock level has been projected for it yet
    /// (unknown, which is not the same as zero).
    pub available: Option<i32>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product's stock level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StockView {
    pub product_id: String,
    pub available: i32,
    pub reserved: i32,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// A user's cart.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CartView {
    pub user_id: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// In the cart's own order (`position`).
    pub lines: Vec<CartLineView>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CartLineView {
    pub product_id: String,
    pub quantity: i32,
    pub added_at: DateTime<Utc>,
}

/// An order with its lines and how its status got where it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: String,
    /// The Avro enum's symbol, e.g. `CONFIRMED`.
    pub status: String,
    pub total_cents: i64,
    pub currency: String,
    pub authorization_id: Option<String>,
    pub reason: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In the order's own order (`position`).
    pub lines: Vec<OrderLineView>,
    /// Oldest first (by `occurred_at`, then event id). It comes from the events topic, which
    /// the projector may be ahead or behind on, so it can lag or lead `status` briefly.
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderLineView {
    pub product_id: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub currency: String,
    /// The line's stock state, the Avro enum's symbol (e.g. `RESERVED`).
    pub stock: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusChange {
    pub status: String,
    pub previous_status: Option<String>,
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// An order as listed: no lines, no history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderSummary {
    pub order_id: String,
    pub status: String,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a query was not answered. The first two are the client's doing (a 400); `Database` is
/// ours (a 500, or a 503 when the database is away).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ProductFilter {
    /// Prices must be non-negative and the range non-empty; a client that asks for an
    /// impossible range has a bug worth telling it about, rather than an empty page.
    fn check(&self) -> Result<(), QueryError> {
        let negative = |bound: Option<i64>| bound.is_some_and(|cents| cents < 0);
        if negative(self.min_price_cents) || negative(self.max_price_cents) {
            return Err(QueryError::InvalidFilter(
                "prices cannot be negative".to_owned(),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_price_cents, self.max_price_cents)
            && min > max
        {
            return Err(QueryError::InvalidFilter(format!(
                "min_price_cents {min} is above max_price_cents {max}"
            )));
        }
        Ok(())
    }
}

/// The snapshot a view spanning several tables is read in: one consistent state, so an order's
/// lines and history belong to the row read with them even while the projector writes.
const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

impl ReadModel {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for callers that need the same database (migrations, health checks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Products matching `filter`, by (name, product_id).
    ///
    /// # Errors
    /// [`QueryError::InvalidFilter`] for a negative or empty price range,
    /// [`QueryError::InvalidCursor`] for a cursor this query did not make, and
    /// [`QueryError::Database`].
    pub async fn list_products(
        &self,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Page<ProductView>, QueryError> {
        filter.check()?;
        let (after_name, after_id) = match page.cursor()? {
            None => (None, None),
            Some(Cursor::Products { name, product_id }) => (Some(name), Some(product_id)),
            Some(Cursor::Orders { .. }) => {
                return Err(QueryError::InvalidCursor(
                    "not a cursor of the product list".to_owned(),
                ));
            }
        };
        let query = match search::search(filter.q.as_deref()) {
            Search::All => None,
            Search::Nothing => return Ok(Page::empty()),
            Search::Query(query) => Some(query),
        };
        let rows = sqlx::query_as!(
            ProductView,
            r#"SELECT p.product_id, p.name, p.description, p.price_cents, p.currency,
                      s.available AS "available?", p.version, p.created_at, p.updated_at
               FROM products p
               LEFT JOIN stock_levels s ON s.product_id = p.product_id
               WHERE ($1::text IS NULL OR p.search @@ to_tsquery('simple', $1::text))
                 AND ($2::bigint IS NULL OR p.price_cents >= $2::bigint)
                 AND ($3::bigint IS NULL OR p.price_cents <= $3::bigint)
                 AND ($4::text IS NULL OR (p.name, p.product_id) > ($4::text, $5::text))
               ORDER BY p.name, p.product_id
               LIMIT $6"#,
            query,
            filter.min_price_cents,
            filter.max_price_cents,
            after_name,
            after_id,
            page.fetch(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Page::from_rows(rows, page.limit(), |last| {
            Cursor::Products {
                name: last.name.clone(),
                product_id: last.product_id.clone(),
            }
        }))
    }

    /// One product with its stock; `None` if there is no such product.
    ///
    /// # Errors
    /// [`QueryError::Database`].
    pub async fn product(&self, product_id: &str) -> Result<Option<ProductView>, QueryError> {
        let product = sqlx::query_as!(
            ProductView,
            r#"SELECT p.product_id, p.name, p.description, p.price_cents, p.currency,
                      s.available AS "available?", p.version, p.created_at, p.updated_at
               FROM products p
               LEFT JOIN stock_levels s ON s.product_id = p.product_id
               WHERE p.product_id = $1"#,
            product_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(product)
    }

    /// A user's cart with its lines; `None` if the user has none (or it expired).
    ///
    /// # Errors
    /// [`QueryError::Database`].
    pub async fn cart(&self, user_id: &str) -> Result<Option<CartView>, QueryError> {
        // One statement, so the cart row and its lines come from the same snapshot.
        let rows = sqlx::query!(
            r#"SELECT c.user_id, c.version, c.updated_at, c.expires_at,
                      l.product_id AS "product_id?", l.quantity AS "quantity?",
                      l.added_at AS "added_at?"
               FROM carts c
               LEFT JOIN cart_lines l ON l.user_id = c.user_id
               WHERE c.user_id = $1
               ORDER BY l.position"#,
            user_id,
        )
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut cart = CartView {
            user_id: first.user_id.clone(),
            version: first.version,
            updated_at: first.updated_at,
            expires_at: first.expires_at,
            lines: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            // A cart without lines yields one row with the line's columns null.
            if let (Some(product_id), Some(quantity), Some(added_at)) =
                (row.product_id, row.quantity, row.added_at)
            {
                cart.lines.push(CartLineView {
                    product_id,
                    quantity,
                    added_at,
                });
            }
        }
        Ok(Some(cart))
    }

    /// One order with its lines and status history; `None` if there is no such order (history
    /// already projected for an order whose state has not arrived yet is not shown).
    ///
    /// # Errors
    /// [`QueryError::Database`].
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderView>, QueryError> {
        let mut tx = self.pool.begin_with(SNAPSHOT).await?;
        let Some(order) = sqlx::query!(
            "SELECT order_id, user_id, status, total_cents, currency, authorization_id, reason,
                    version, created_at, updated_at
             FROM orders WHERE order_id = $1",
            order_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.commit().await?;
            return Ok(None);
        };
        let lines = sqlx::query_as!(
            OrderLineView,
            "SELECT product_id, name, quantity, unit_price_cents, currency, stock
             FROM order_lines WHERE order_id = $1
             ORDER BY position",
            order_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        let history = sqlx::query_as!(
            StatusChange,
            "SELECT status, previous_status, reason, occurred_at
             FROM order_status_history WHERE order_id = $1
             ORDER BY occurred_at, event_id",
            order_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(OrderView {
            order_id: order.order_id,
            user_id: order.user_id,
            status: order.status,
            total_cents: order.total_cents,
            currency: order.currency,
            authorization_id: order.authorization_id,
            reason: order.reason,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
            lines,
            history,
        }))
    }

    /// A user's orders, newest first (by created_at, then order_id, both descending).
    ///
    /// # Errors
    /// [`QueryError::InvalidCursor`] for a cursor this query did not make for this user, and
    /// [`QueryError::Database`].
    pub async fn orders_of(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<OrderSummary>, QueryError> {
        let (before_at, before_id) = match page.cursor()? {
            None => (None, None),
            Some(Cursor::Orders {
                user_id: owner,
                created_at,
                order_id,
            }) if owner == user_id => (Some(created_at), Some(order_id)),
            Some(_) => {
                return Err(QueryError::InvalidCursor(
                    "not a cursor of this user's orders".to_owned(),
                ));
            }
        };
        let rows = sqlx::query_as!(
            OrderSummary,
            "SELECT order_id, status, total_cents, currency, created_at, updated_at
             FROM orders
             WHERE user_id = $1
               AND ($2::timestamptz IS NULL
                    OR (created_at, order_id) < ($2::timestamptz, $3::text))
             ORDER BY created_at DESC, order_id DESC
             LIMIT $4",
            user_id,
            before_at,
            before_id,
            page.fetch(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Page::from_rows(rows, page.limit(), |last| Cursor::Orders {
            user_id: user_id.to_owned(),
            created_at: last.created_at,
            order_id: last.order_id.clone(),
        }))
    }

    /// A product's stock level; `None` if none has been projected.
    ///
    /// # Errors
    /// [`QueryError::Database`].
    pub async fn stock(&self, product_id: &str) -> Result<Option<StockView>, QueryError> {
        let level = sqlx::query_as!(
            StockView,
            "SELECT product_id, available, reserved, version, updated_at
             FROM stock_levels WHERE product_id = $1",
            product_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(level)
    }

    /// Whether the database answers, for readiness.
    ///
    /// # Errors
    /// [`QueryError::Database`] when it does not.
    pub async fn ping(&self) -> Result<(), QueryError> {
        sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}
