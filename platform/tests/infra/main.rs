//! The platform against the real local PostgreSQL: pools connect, carry the statement timeout,
//! and a database named per test can be created and dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use std::time::Duration;

#[tokio::test]
async fn a_pool_carries_its_statement_timeout() {
    testing::init_logs();
    let mut settings = DatabaseSettings::new(testing::database_url());
    settings.statement_timeout = Duration::from_millis(300);
    let pool = database::connect(&settings).await.unwrap();

    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, "300ms");

    let error = sqlx::query("SELECT pg_sleep(2)")
        .execute(&pool)
        .await
        .expect_err("a 2 s statement outlives a 300 ms timeout");
    assert!(
        error.to_string().contains("statement timeout"),
        "unexpected error: {error}"
    );
}

#[tokio::test]
async fn a_test_database_can_be_created_used_and_dropped() {
    testing::init_logs();
    let settings = DatabaseSettings::new(testing::database_url());
    let name = testing::unique("platform_test");
    let own_settings = database::create_database(&settings, &name).await.unwrap();

    let own = database::connect(&own_settings).await.unwrap();
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&own)
        .await
        .unwrap();
    assert_eq!(current, name);

    // Dropped while `own` is still connected: `WITH (FORCE)` closes it.
    database::drop_database(&settings, &name).await.unwrap();
    let admin = database::connect(&settings).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "{name} is still there");
    // Dropping what is gone is no error.
    database::drop_database(&settings, &name).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let mut settings = DatabaseSettings::new("postgres://shop:hunter2@127.0.0.1:1/shop");
    settings.acquire_timeout = Duration::from_secs(2);
    let error = database::connect(&settings).await.unwrap_err().to_string();
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}
