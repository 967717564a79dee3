//! The query side of the shop: PostgreSQL tables for products, carts, stock and orders, the
//! [`projector`] that fills them from Kafka exactly once, and the [`queries`] the ingress
//! answers from. The tables are defined by the migrations in `migrations/`, applied at start
//! with [`migrate`].

mod offsets;
pub mod projector;
pub mod queries;
mod rows;

/// The read model's migrations, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Brings the database's tables up to date (idempotent; safe with several instances, which
/// sqlx serialises with an advisory lock).
///
/// # Errors
/// If a migration fails or an applied one was changed since.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
