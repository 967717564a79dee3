//! Logging setup: `tracing` to stderr, filtered by `SHOP_LOG` (`EnvFilter` syntax; each binary
//! picks its default), as JSON lines when `SHOP_LOG_FORMAT=json`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// Installs the global subscriber. `filter` uses `EnvFilter` syntax, e.g. `info,librdkafka=warn`.
///
/// # Errors
/// If the filter does not parse or a global subscriber is already installed.
pub fn init(
    filter: &str,
    format: LogFormat,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let filter = EnvFilter::try_new(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a log file or a pipe.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
}

/// Installs the global subscriber from `SHOP_LOG` (or `default_filter`) and `SHOP_LOG_FORMAT`.
///
/// # Errors
/// If either variable holds something unusable, naming it.
pub fn init_from_env(default_filter: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let filter = std::env::var("SHOP_LOG").unwrap_or_else(|_| default_filter.to_owned());
    let format = match std::env::var("SHOP_LOG_FORMAT") {
        Ok(text) => text
            .parse()
            .map_err(|reason| format!("SHOP_LOG_FORMAT: {reason}"))?,
        Err(_) => LogFormat::Text,
    };
    init(&filter, format).map_err(|error| format!("SHOP_LOG: {error}").into())
}

#[cfg(test)]
mod tests {
    use super::LogFormat;

    #[test]
    fn log_formats_parse_and_unknown_ones_are_named() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        let error = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(error.contains("yaml"), "{error}");
    }
}
