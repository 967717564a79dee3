//! The checks behind `/ready` for the broker and the schema registry.

use crate::ports::ReadinessCheck;
use futures::future::BoxFuture;
use rdkafka::producer::{FutureProducer, Producer};
use shop_platform::kafka::TracingContext;
use std::time::Duration;

/// The broker answers metadata requests and has the topics the ingress writes and reads.
#[derive(Clone)]
pub struct BrokerCheck {
    producer: FutureProducer<TracingContext>,
    topics: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for BrokerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerCheck")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl BrokerCheck {
    /// Checks through `producer`'s connections that `topics` exist.
    pub fn new(
        producer: FutureProducer<TracingContext>,
        topics: Vec<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            producer,
            topics,
            timeout,
        }
    }
}

impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let check = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let metadata = check
                    .producer
                    .client()
                    .fetch_metadata(None, check.timeout)
                    .map_err(|error| format!("metadata request failed: {error}"))?;
                for wanted in &check.topics {
                    let present = metadata
                        .topics()
                        .iter()
                        .any(|topic| topic.name() == wanted && topic.error().is_none());
                    if !present {
                        return Err(format!("topic {wanted} is missing"));
                    }
                }
                Ok(())
            })
            .await
            .map_err(|error| format!("metadata task failed: {error}"))?
        })
    }
}

/// The schema registry answers.
#[derive(Debug, Clone)]
pub struct RegistryCheck {
    client: reqwest::Client,
    subjects_url: String,
}

impl RegistryCheck {
    /// Checks the Confluent-compatible API at `url`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            subjects_url: format!("{}/subjects", url.trim_end_matches('/')),
        })
    }
}

impl ReadinessCheck for RegistryCheck {
    fn name(&self) -> &'static str {
        "schema_registry"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.subjects_url)
                .send()
                .await
                .map_err(|error| format!("request failed: {error}"))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("answered {}", response.status()))
            }
        })
    }
}
