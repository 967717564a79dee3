//! [`ReadModelQueries`]: the [`Queries`] port over `shop_readmodel::queries::ReadModel`, mapping
//! its rows to the ingress's own [`crate::views`]. The ingress never runs migrations (the
//! projector owns them); [`Queries::ping`] fails while the tables are missing, so `/ready` does.

use crate::ports::{PageRequest, ProductFilter, Queries, QueryError};
use crate::views::{
    Cart, CartLine, Order, OrderLine, OrderPage, OrderSummary, Product, ProductPage, StatusChange,
};
use futures::future::BoxFuture;
use shop_platform::database::{self, DatabaseError, DatabaseSettings};
use shop_readmodel::queries as rm;

/// The tables the queries read; `/ready` fails until the projector has created them all.
const TABLES: [&str; 7] = [
    "products",
    "carts",
    "cart_lines",
    "stock_levels",
    "orders",
    "order_lines",
    "order_status_history",
];

/// The read model in PostgreSQL.
#[derive(Debug, Clone)]
pub struct ReadModelQueries {
    model: rm::ReadModel,
}

impl ReadModelQueries {
    pub fn new(model: rm::ReadModel) -> Self {
        Self { model }
    }

    /// Opens a pool to the read model's database.
    ///
    /// # Errors
    /// [`DatabaseError`] if the URL is bad or the server does not answer.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, DatabaseError> {
        let pool = database::connect(settings).await?;
        Ok(Self::new(rm::ReadModel::new(pool)))
    }

    async fn tables_exist(&self) -> Result<(), QueryError> {
        let names: Vec<String> = TABLES.iter().map(|name| (*name).to_owned()).collect();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NULL",
        )
        .bind(names)
        .fetch_all(self.model.pool())
        .await
        .map_err(|error| QueryError::Unavailable(error.to_string()))?;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(QueryError::Unavailable(format!(
                "read model tables missing: {}",
                missing.join(", ")
            )))
        }
    }
}

fn query_error(error: rm::QueryError) -> QueryError {
    match error {
        rm::QueryError::InvalidCursor(reason) => QueryError::InvalidCursor(reason),
        rm::QueryError::InvalidFilter(reason) => QueryError::InvalidFilter(reason),
        rm::QueryError::Database(error) => QueryError::Unavailable(error.to_string()),
    }
}

fn page_request(page: &PageRequest) -> rm::PageRequest {
    rm::PageRequest::new(page.limit, page.cursor.clone())
}

fn product(view: rm::ProductView) -> Product {
    Product {
        product_id: view.product_id,
        name: view.name,
        description: view.description,
        price_cents: view.price_cents,
        currency: view.currency,
        available: view.available,
        version: view.version,
        created_at: view.created_at,
        updated_at: view.updated_at,
    }
}

fn cart(view: rm::CartView) -> Cart {
    Cart {
        user_id: view.user_id,
        version: view.version,
        updated_at: Some(view.updated_at),
        expires_at: view.expires_at,
        lines: view
            .lines
            .into_iter()
            .map(|line| CartLine {
                product_id: line.product_id,
                quantity: line.quantity,
                added_at: line.added_at,
            })
            .collect(),
    }
}

fn order(view: rm::OrderView) -> Order {
    Order {
        order_id: view.order_id,
        user_id: view.user_id,
        status: view.status,
        total_cents: view.total_cents,
        currency: view.currency,
        authorization_id: view.authorization_id,
        reason: view.reason,
        version: view.version,
        created_at: view.created_at,
        updated_at: view.updated_at,
        lines: view
            .lines
            .into_iter()
            .map(|line| OrderLine {
                product_id: line.product_id,
                name: line.name,
                quantity: line.quantity,
                unit_price_cents: line.unit_price_cents,
                currency: line.currency,
                stock: line.stock,
            })
            .collect(),
        history: view
            .history
            .into_iter()
            .map(|change| StatusChange {
                status: change.status,
                previous_status: change.previous_status,
                reason: change.reason,
                occurred_at: change.occurred_at,
            })
            .collect(),
    }
}

fn order_summary(view: rm::OrderSummary) -> OrderSummary {
    OrderSummary {
        order_id: view.order_id,
        status: view.status,
        total_cents: view.total_cents,
        currency: view.currency,
        created_at: view.created_at,
        updated_at: view.updated_at,
    }
}

impl Queries for ReadModelQueries {
    fn list_products<'a>(
        &'a self,
        filter: &'a ProductFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<ProductPage, QueryError>> {
        Box::pin(async move {
            let filter = rm::ProductFilter {
                q: filter.q.clone(),
                min_price_cents: filter.min_price_cents,
                max_price_cents: filter.max_price_cents,
            };
            let page = self
                .model
                .list_products(&filter, &page_request(page))
                .await
                .map_err(query_error)?;
            Ok(ProductPage {
                items: page.items.into_iter().map(product).collect(),
                next_cursor: page.next_cursor,
            })
        })
    }

    fn product<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Product>, QueryError>> {
        Box::pin(async move {
            let view = self.model.product(id).await.map_err(query_error)?;
            Ok(view.map(product))
        })
    }

    fn cart<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<Cart>, QueryError>> {
        Box::pin(async move {
            let view = self.model.cart(user_id).await.map_err(query_error)?;
            Ok(view.map(cart))
        })
    }

    fn order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, QueryError>> {
        Box::pin(async move {
            let view = self.model.order(id).await.map_err(query_error)?;
            Ok(view.map(order))
        })
    }

    fn orders_of<'a>(
        &'a self,
        user_id: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<OrderPage, QueryError>> {
        Box::pin(async move {
            let page = self
                .model
                .orders_of(user_id, &page_request(page))
                .await
                .map_err(query_error)?;
            Ok(OrderPage {
                items: page.items.into_iter().map(order_summary).collect(),
                next_cursor: page.next_cursor,
            })
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), QueryError>> {
        Box::pin(async move {
            self.model.ping().await.map_err(query_error)?;
            self.tables_exist().await
        })
    }
}
