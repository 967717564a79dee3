//! The read-model adapter: readiness follows the tables, and queries map through.

use shop_ingress::ports::{PageRequest, ProductFilter, Queries, QueryError};
use shop_ingress::readmodel::ReadModelQueries;
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;

#[tokio::test]
async fn ready_only_once_the_tables_exist_and_queries_map_through() {
    testing::init_logs();
    let settings = DatabaseSettings::new(testing::database_url());
    let admin = database::connect(&settings).await.unwrap();
    let name = testing::unique("ingress_readmodel");
    // `name` is ours: letters, digits and underscores from `testing::unique`.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let own = settings.with_database(&name).unwrap();
    let queries = ReadModelQueries::connect(&own).await.unwrap();

    let error = queries.ping().await.unwrap_err();
    assert!(
        matches!(&error, QueryError::Unavailable(reason) if reason.contains("products")),
        "{error}"
    );

    let pool = database::connect(&own).await.unwrap();
    shop_readmodel::migrate(&pool).await.unwrap();
    queries.ping().await.unwrap();

    assert_eq!(queries.product("nope").await.unwrap(), None);
    assert_eq!(queries.cart("nobody").await.unwrap(), None);
    assert_eq!(queries.order("nope").await.unwrap(), None);
    let first = PageRequest {
        limit: 20,
        cursor: None,
    };
    let page = queries
        .list_products(&ProductFilter::default(), &first)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    assert!(
        queries
            .orders_of("nobody", &first)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let forged = PageRequest {
        limit: 20,
        cursor: Some("forged".to_owned()),
    };
    let error = queries
        .list_products(&ProductFilter::default(), &forged)
        .await
        .unwrap_err();
    assert!(matches!(error, QueryError::InvalidCursor(_)), "{error}");

    pool.close().await;
    drop(queries);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}
