//! [`AppState`]: everything a request can reach, behind the traits of [`crate::ports`].
//! [`AppState::new`] takes any implementations (tests pass fakes); [`AppState::connect`] builds
//! the real ones from [`Settings`].

use crate::auth::{AuthConfigError, Authenticator};
use crate::kafka::listener::{self, ListenerError};
use crate::kafka::producer::KafkaCommandSink;
use crate::kafka::ready::{BrokerCheck, RegistryCheck};
use crate::outcomes::OutcomeRegistry;
use crate::ports::{CommandSink, OutcomeWaiter, Queries, ReadinessCheck};
use crate::ratelimit::RateLimiter;
use crate::readmodel::ReadModelQueries;
use crate::settings::{HttpSettings, Settings};
use crate::sink::BoundedSink;
use futures::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;
use shop_schemas::{AvroCodec, CodecError, Registration};
use shop_topics::TopicNames;
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the router's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) sink: Arc<dyn CommandSink>,
    pub(crate) outcomes: Arc<dyn OutcomeWaiter>,
    pub(crate) queries: Arc<dyn Queries>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
    pub(crate) http: Arc<HttpSettings>,
    pub(crate) metrics: Option<PrometheusHandle>,
    /// Cancelled when the server shuts down: waits and long polls answer at once then, so a
    /// graceful shutdown is not held up by them.
    pub(crate) stopping: CancellationToken,
    /// Stops the background tasks (the outcome listener) when the last clone is dropped.
    _background: Option<Arc<DropGuard>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("sink", &self.sink)
            .field("outcomes", &self.outcomes)
            .field("queries", &self.queries)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Why the ingress could not be wired to its dependencies.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error("schema registry client: {0}")]
    Registry(#[from] CodecError),
    #[error("registry readiness check: {0}")]
    RegistryCheck(#[from] reqwest::Error),
    #[error("Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error(transparent)]
    Database(#[from] shop_platform::database::DatabaseError),
}

impl AppState {
    /// A state over the given implementations. `/ready` checks `queries` (as `database`) plus
    /// whatever [`AppState::with_readiness_check`] adds.
    pub fn new(
        sink: Arc<dyn CommandSink>,
        outcomes: Arc<dyn OutcomeWaiter>,
        queries: Arc<dyn Queries>,
        auth: Authenticator,
        http: HttpSettings,
    ) -> Self {
        let database: Arc<dyn ReadinessCheck> = Arc::new(DatabaseCheck(Arc::clone(&queries)));
        Self {
            sink,
            outcomes,
            queries,
            auth: Arc::new(auth),
            limiter: Arc::new(RateLimiter::new(http.rate_limit)),
            checks: Arc::new(vec![database]),
            http: Arc::new(http),
            metrics: None,
            stopping: CancellationToken::new(),
            _background: None,
        }
    }

    /// Adds a dependency `/ready` checks.
    #[must_use]
    pub fn with_readiness_check(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        Arc::make_mut(&mut self.checks).push(check);
        self
    }

    /// Serves `handle`'s metrics at `/metrics` (the binary installs the recorder).
    #[must_use]
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Waits and long polls end early when `token` is cancelled ([`crate::serve`] sets it).
    #[must_use]
    pub fn with_stopping(mut self, token: CancellationToken) -> Self {
        self.stopping = token;
        self
    }

    /// The real dependencies: the idempotent producer (bounded in flight), the outcome listener
    /// (started and assigned before this returns), the read model's pool and the readiness
    /// checks. The listener stops when the last clone of the state is dropped.
    ///
    /// # Errors
    /// [`ConnectError`] naming the dependency that could not be set up: no JWT key, the broker
    /// unreachable or `commands.outcomes` missing within `startup_timeout`, the database
    /// unreachable.
    pub async fn connect(settings: &Settings) -> Result<Self, ConnectError> {
        let auth = Authenticator::from_settings(&settings.auth)?;
        let topics = TopicNames::with_prefix(&settings.topic_prefix);
        let codec = Arc::new(AvroCodec::new(
            &settings.registry,
            Registration::LookupOnly,
        )?);
        let producer = KafkaCommandSink::new(
            &settings.kafka,
            Arc::clone(&codec),
            &topics,
            settings.delivery_timeout,
        )?;

        let background = CancellationToken::new();
        let registry = OutcomeRegistry::new(settings.max_outcome_waiters);
        listener::start(
            &settings.kafka,
            codec,
            &topics.command_outcomes,
            registry.clone(),
            settings.startup_timeout,
            background.child_token(),
        )
        .await?;
        let guard = Arc::new(background.drop_guard());

        let queries = ReadModelQueries::connect(&settings.database).await?;

        let timeout = settings.http.readiness_timeout;
        let broker = BrokerCheck::new(
            producer.producer().clone(),
            vec![
                topics.catalog_commands.clone(),
                topics.cart_commands.clone(),
                topics.command_outcomes.clone(),
            ],
            timeout,
        );
        let schema_registry = RegistryCheck::new(&settings.registry.url, timeout)?;
        let sink = BoundedSink::new(Arc::new(producer), settings.producer_max_in_flight);

        let mut state = Self::new(
            Arc::new(sink),
            Arc::new(registry.clone()),
            Arc::new(queries),
            auth,
            settings.http.clone(),
        )
        .with_readiness_check(Arc::new(broker))
        .with_readiness_check(Arc::new(schema_registry))
        .with_readiness_check(Arc::new(registry));
        state._background = Some(guard);
        Ok(state)
    }
}

/// `/ready`'s database check: the read model answers and its tables exist.
#[derive(Debug)]
struct DatabaseCheck(Arc<dyn Queries>);

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|error| error.to_string()) })
    }
}
