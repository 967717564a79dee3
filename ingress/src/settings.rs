//! Typed settings of the ingress. The binary fills them from flags and `SHOP_…` variables
//! ([`crate::app::Args`]); tests build them in code. Secrets never appear in `Debug` output.

use shop_platform::database::DatabaseSettings;
use shop_platform::kafka::KafkaSettings;
use shop_schemas::RegistryConfig;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`crate::AppState::connect`] and the binary need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (`SHOP_HTTP_ADDR`).
    pub http_addr: SocketAddr,
    pub kafka: KafkaSettings,
    pub registry: RegistryConfig,
    /// Put in front of every topic name (`SHOP_TOPIC_PREFIX`).
    pub topic_prefix: String,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    /// Commands on their way to Kafka at once; more are refused with 503
    /// (`SHOP_PRODUCER_MAX_IN_FLIGHT`).
    pub producer_max_in_flight: usize,
    /// Longest a command may take to reach the broker before the request answers 503.
    pub delivery_timeout: Duration,
    /// Requests waiting for an outcome at once; more answer 202 without waiting.
    pub max_outcome_waiters: usize,
    /// Bound on connecting to the broker at start.
    pub startup_timeout: Duration,
}

impl Settings {
    /// Defaults around the given brokers, registry, database and keys: listen on
    /// 127.0.0.1:8080, no topic prefix.
    pub fn new(
        brokers: impl Into<String>,
        registry_url: impl Into<String>,
        database_url: impl Into<String>,
        auth: AuthSettings,
    ) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            kafka: KafkaSettings::new(brokers, "shop-ingress"),
            registry: RegistryConfig {
                url: registry_url.into(),
                timeout: Duration::from_secs(10),
            },
            topic_prefix: String::new(),
            database: DatabaseSettings::new(database_url),
            auth,
            http: HttpSettings::default(),
            producer_max_in_flight: 1024,
            delivery_timeout: Duration::from_secs(10),
            max_outcome_waiters: 10_000,
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// How callers prove who they are: an HS256 secret, an RS256 public key, or both (a token's
/// `alg` picks the key).
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Shared secret for HS256 tokens (`SHOP_JWT_SECRET`).
    pub hs256_secret: Option<Secret>,
    /// PEM file with the RSA public key for RS256 tokens (`SHOP_JWT_PUBLIC_KEY_FILE`).
    pub rs256_public_key_file: Option<PathBuf>,
}

impl AuthSettings {
    /// HS256 with `secret`.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self {
            hs256_secret: Some(Secret::new(secret)),
            rs256_public_key_file: None,
        }
    }
}

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself; keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the HTTP side behaves.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body; larger ones answer 413 (`SHOP_HTTP_BODY_LIMIT`).
    pub body_limit_bytes: usize,
    /// Per-user rate limit; `None` for none.
    pub rate_limit: Option<RateLimitSettings>,
    /// Longest `Prefer: wait` and `?wait=`; longer ones are cut to it.
    pub max_wait: Duration,
    /// How often a long poll looks at the read model.
    pub poll_interval: Duration,
    /// Bound on each dependency check of `/ready`.
    pub readiness_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            rate_limit: Some(RateLimitSettings::default()),
            max_wait: Duration::from_secs(30),
            poll_interval: Duration::from_millis(25),
            readiness_timeout: Duration::from_secs(2),
        }
    }
}

/// A token bucket per user: `burst` requests at once, then `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    /// Refill rate (`SHOP_RATE_LIMIT_PER_SECOND`); 0 turns the limit off.
    pub per_second: f64,
    /// Bucket size (`SHOP_RATE_LIMIT_BURST`).
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 40,
        }
    }
}
