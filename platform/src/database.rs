//! PostgreSQL connection pools with bounded size and a statement timeout, so a slow or stuck
//! database shows up as errors instead of piling up work.

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// How to reach the database and how much of it to use.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`. Never logged with its password.
    pub url: String,
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// Longest a statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// Longest to wait for a free connection from the pool.
    pub acquire_timeout: Duration,
}

impl DatabaseSettings {
    /// Defaults for `url`: 10 connections, 5 s statements, 5 s to acquire.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// The same server, another database (tests create one database each).
    ///
    /// # Errors
    /// [`DatabaseError::Url`] if the URL does not parse.
    pub fn with_database(&self, name: &str) -> Result<Self, DatabaseError> {
        let mut url = url_of(&self.url)?;
        url.set_path(name);
        Ok(Self {
            url: url.to_string(),
            ..self.clone()
        })
    }

    fn connect_options(&self) -> Result<PgConnectOptions, DatabaseError> {
        let timeout_ms = self.statement_timeout.as_millis().to_string();
        Ok(PgConnectOptions::from_str(&self.url)
            .map_err(|source| DatabaseError::Url {
                reason: source.to_string(),
            })?
            .options([("statement_timeout", timeout_ms.as_str())])
            .log_statements(tracing::log::LevelFilter::Debug))
    }
}

/// Why a pool could not be opened, or a database created or dropped.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database URL does not parse: {reason}")]
    Url { reason: String },
    #[error("cannot connect to the database at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{name:?} is not a plain database name (ASCII letters, digits and underscores)")]
    Name { name: String },
    #[error("`{statement}` failed: {source}")]
    Statement {
        statement: String,
        #[source]
        source: sqlx::Error,
    },
}

/// Creates the empty database `name` on the server `server` points at and returns settings
/// for it: tests, benchmarks and chaos runs each work in a database of their own.
///
/// # Errors
/// [`DatabaseError::Name`] unless `name` is ASCII letters, digits and underscores (it goes into
/// the statement unquoted), else what connecting or `CREATE DATABASE` answered.
pub async fn create_database(
    server: &DatabaseSettings,
    name: &str,
) -> Result<DatabaseSettings, DatabaseError> {
    run_on_server(server, name, "CREATE DATABASE {name}").await?;
    server.with_database(name)
}

/// Drops the database `name` on the server `server` points at, closing its connections
/// (`WITH (FORCE)`); one that does not exist is no error.
///
/// # Errors
/// As [`create_database`].
pub async fn drop_database(server: &DatabaseSettings, name: &str) -> Result<(), DatabaseError> {
    run_on_server(server, name, "DROP DATABASE IF EXISTS {name} WITH (FORCE)").await
}

/// Runs `template` with `{name}` replaced by `name`, once checked to be a plain identifier.
async fn run_on_server(
    server: &DatabaseSettings,
    name: &str,
    template: &str,
) -> Result<(), DatabaseError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DatabaseError::Name {
            name: name.to_owned(),
        });
    }
    let statement = template.replace("{name}", name);
    let admin = connect(server).await?;
    // Safe to build: `name` was just checked to be letters, digits and underscores.
    let result = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
        .execute(&admin)
        .await;
    admin.close().await;
    result
        .map(|_| ())
        .map_err(|source| DatabaseError::Statement { statement, source })
}

fn url_of(text: &str) -> Result<url::Url, DatabaseError> {
    url::Url::parse(text).map_err(|source| DatabaseError::Url {
        reason: source.to_string(),
    })
}

/// Where `url` points, without the password, for log lines and errors.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable database URL>".to_owned(),
    }
}

/// Opens a pool and checks that one connection works.
///
/// # Errors
/// [`DatabaseError`] with the redacted target if the URL is bad or the server does not answer.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, DatabaseError> {
    let options = settings.connect_options()?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| DatabaseError::Connect {
            target: redacted(&settings.url),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        let shown = redacted("postgres://shop:secret@127.0.0.1:5433/shop");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("127.0.0.1:5433/shop"), "{shown}");
    }

    #[test]
    fn another_database_on_the_same_server() {
        let settings = DatabaseSettings::new("postgres://shop:shop@127.0.0.1:5433/shop");
        let other = settings.with_database("test_123").unwrap();
        assert_eq!(other.url, "postgres://shop:shop@127.0.0.1:5433/test_123");
    }

    #[tokio::test]
    async fn only_plain_names_reach_a_statement() {
        // No server behind this URL: the name is refused before any connection is tried.
        let server = DatabaseSettings::new("postgres://shop:shop@127.0.0.1:1/shop");
        for name in ["", "a-b", "x; DROP DATABASE shop", "naïve"] {
            let error = create_database(&server, name).await.unwrap_err();
            assert!(
                matches!(error, DatabaseError::Name { .. }),
                "{name}: {error}"
            );
            let error = drop_database(&server, name).await.unwrap_err();
            assert!(
                matches!(error, DatabaseError::Name { .. }),
                "{name}: {error}"
            );
        }
    }
}
