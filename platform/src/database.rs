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

/// Why a pool could not be opened.
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
}
