//! Reads topics from a cluster and applies [`TopicPlan`]s to it through the admin API.

use crate::plan::{Change, Observed, ObservedConfig, TopicPlan, diff};
use crate::spec::TopicSpec;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot create a Kafka admin client: {0}")]
    Client(#[source] KafkaError),
    #[error("Kafka did not answer while {doing}: {source}")]
    Unanswered {
        doing: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("Kafka refused to {doing} {topic}: {code}")]
    Refused {
        doing: &'static str,
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topics did not show in metadata within {waited:?}: {topics:?}")]
    NotVisible {
        topics: Vec<String>,
        waited: Duration,
    },
}

/// What [`Cluster::apply`] did and left undone.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// `(topic, change)` for every change made.
    pub applied: Vec<(String, Change)>,
    /// Partition increases found but not made, because they were not asked for.
    pub skipped: Vec<(String, Change)>,
}

/// An admin connection to one cluster.
pub struct Cluster {
    admin: Arc<AdminClient<TracingContext>>,
    timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects lazily: the first request finds out whether the brokers answer. `timeout`
    /// bounds every request and every wait for metadata.
    ///
    /// # Errors
    /// [`ClusterError::Client`] if librdkafka rejects the configuration.
    pub fn new(settings: &KafkaSettings, timeout: Duration) -> Result<Self, ClusterError> {
        let admin = settings
            .admin()
            .create_with_context(TracingContext)
            .map_err(ClusterError::Client)?;
        Ok(Self {
            admin: Arc::new(admin),
            timeout,
        })
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
    }

    /// Cluster metadata for every topic; blocking in librdkafka, so run off the async threads.
    async fn metadata(&self) -> Result<Metadata, ClusterError> {
        let admin = Arc::clone(&self.admin);
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
            .await
            .map_err(|_| ClusterError::Unanswered {
                doing: "fetching metadata",
                source: KafkaError::Canceled,
            })?
            .map_err(|source| ClusterError::Unanswered {
                doing: "fetching metadata",
                source,
            })
    }

    /// Partition count of each existing topic among `names`.
    pub async fn partition_counts(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, i32>, ClusterError> {
        let metadata = self.metadata().await?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|topic| topic.error().is_none() && names.contains(&topic.name()))
            .map(|topic| {
                (
                    topic.name().to_owned(),
                    partition_count(topic.partitions().len()),
                )
            })
            .collect())
    }

    /// What the cluster has of `specs`' topics.
    ///
    /// # Errors
    /// [`ClusterError`] if metadata or configs cannot be read.
    pub async fn observe(
        &self,
        specs: &[TopicSpec],
    ) -> Result<HashMap<String, Observed>, ClusterError> {
        let metadata = self.metadata().await?;
        let mut found: HashMap<String, Observed> = metadata
            .topics()
            .iter()
            .filter(|topic| topic.error().is_none())
            .filter(|topic| specs.iter().any(|spec| spec.name == topic.name()))
            .map(|topic| {
                let replication_factor = topic
                    .partitions()
                    .first()
                    .map_or(0, |partition| partition_count(partition.replicas().len()));
                let observed = Observed {
                    partitions: partition_count(topic.partitions().len()),
                    replication_factor,
                    configs: BTreeMap::new(),
                };
                (topic.name().to_owned(), observed)
            })
            .collect();
        let names: Vec<String> = found.keys().cloned().collect();
        for (name, configs) in self.describe_configs(&names).await? {
            if let Some(observed) = found.get_mut(&name) {
                observed.configs = configs;
            }
        }
        Ok(found)
    }

    async fn describe_configs(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, BTreeMap<String, ObservedConfig>)>, ClusterError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let resources: Vec<ResourceSpecifier<'_>> = names
            .iter()
            .map(|name| ResourceSpecifier::Topic(name))
            .collect();
        let results = self
            .admin
            .describe_configs(resources.iter(), &self.options())
            .await
            .map_err(|source| ClusterError::Unanswered {
                doing: "describing topic configs",
                source,
            })?;
        names
            .iter()
            .zip(results)
            .map(|(name, result)| {
                let resource = result.map_err(|code| ClusterError::Refused {
                    doing: "describe the configs of",
                    topic: name.clone(),
                    code,
                })?;
                let configs = resource
                    .entries
                    .into_iter()
                    .map(|entry| {
                        let config = ObservedConfig {
                            value: entry.value,
                            set_on_topic: matches!(entry.source, ConfigSource::DynamicTopic),
                        };
                        (entry.name, config)
                    })
                    .collect();
                Ok((name.clone(), configs))
            })
            .collect()
    }

    /// What `apply` would do for each of `specs`.
    ///
    /// # Errors
    /// [`ClusterError`] if the cluster cannot be read.
    pub async fn plan(&self, specs: &[TopicSpec]) -> Result<Vec<TopicPlan>, ClusterError> {
        let observed = self.observe(specs).await?;
        Ok(specs
            .iter()
            .map(|spec| diff(spec, observed.get(&spec.name)))
            .collect())
    }

    /// Makes every change in `plans`, partition increases only if `increase_partitions`, then
    /// waits until metadata shows every created or grown topic with all its partitions.
    /// Refusals are left to the caller to report.
    ///
    /// # Errors
    /// [`ClusterError`] on the first request Kafka refuses; changes made before it stay made.
    pub async fn apply(
        &self,
        plans: &[TopicPlan],
        increase_partitions: bool,
    ) -> Result<ApplyReport, ClusterError> {
        let mut report = ApplyReport::default();
        let mut expected_partitions: Vec<(&str, i32)> = Vec::new();

        let creates: Vec<&TopicSpec> = plans
            .iter()
            .filter(|plan| plan.changes.contains(&Change::Create))
            .map(|plan| &plan.spec)
            .collect();
        self.create(&creates).await?;
        for spec in creates {
            report.applied.push((spec.name.clone(), Change::Create));
            expected_partitions.push((&spec.name, spec.partitions));
        }

        for plan in plans {
            for change in &plan.changes {
                match change {
                    Change::Create => {}
                    Change::AddPartitions { to, .. } if increase_partitions => {
                        self.add_partitions(&plan.spec.name, *to).await?;
                        report
                            .applied
                            .push((plan.spec.name.clone(), change.clone()));
                        expected_partitions.push((&plan.spec.name, *to));
                    }
                    Change::AddPartitions { .. } => {
                        report
                            .skipped
                            .push((plan.spec.name.clone(), change.clone()));
                    }
                    Change::Config { .. } => {}
                }
            }
        }

        let altered: Vec<&TopicPlan> = plans
            .iter()
            .filter(|plan| {
                !plan.changes.contains(&Change::Create)
                    && plan
                        .changes
                        .iter()
                        .any(|change| matches!(change, Change::Config { .. }))
            })
            .collect();
        self.alter_configs(&altered).await?;
        for plan in altered {
            for change in &plan.changes {
                if matches!(change, Change::Config { .. }) {
                    report
                        .applied
                        .push((plan.spec.name.clone(), change.clone()));
                }
            }
        }

        self.wait_until_visible(&expected_partitions).await?;
        Ok(report)
    }

    async fn create(&self, specs: &[&TopicSpec]) -> Result<(), ClusterError> {
        if specs.is_empty() {
            return Ok(());
        }
        let configs: Vec<BTreeMap<&'static str, String>> =
            specs.iter().map(|spec| spec.configs()).collect();
        let new_topics: Vec<NewTopic<'_>> = specs
            .iter()
            .zip(&configs)
            .map(|(spec, configs)| {
                let mut topic = NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor),
                );
                for (key, value) in configs {
                    topic = topic.set(key, value);
                }
                topic
            })
            .collect();
        let results = self
            .admin
            .create_topics(new_topics.iter(), &self.options())
            .await
            .map_err(|source| ClusterError::Unanswered {
                doing: "creating topics",
                source,
            })?;
        for result in results {
            match result {
                // Another apply won the race: the next plan compares its settings.
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(ClusterError::Refused {
                        doing: "create",
                        topic,
                        code,
                    });
                }
            }
        }
        Ok(())
    }

    async fn add_partitions(&self, topic: &str, to: i32) -> Result<(), ClusterError> {
        let count = usize::try_from(to).unwrap_or(0);
        let results = self
            .admin
            .create_partitions([&NewPartitions::new(topic, count)], &self.options())
            .await
            .map_err(|source| ClusterError::Unanswered {
                doing: "adding partitions",
                source,
            })?;
        for result in results {
            if let Err((topic, code)) = result {
                return Err(ClusterError::Refused {
                    doing: "add partitions to",
                    topic,
                    code,
                });
            }
        }
        Ok(())
    }

    /// Sets the spec's configs on each topic. Kafka's (non-incremental) AlterConfigs replaces a
    /// topic's whole dynamic config, so configs an operator set on the topic are sent along
    /// unchanged and survive.
    async fn alter_configs(&self, plans: &[&TopicPlan]) -> Result<(), ClusterError> {
        if plans.is_empty() {
            return Ok(());
        }
        let current = self
            .observe(
                &plans
                    .iter()
                    .map(|plan| plan.spec.clone())
                    .collect::<Vec<_>>(),
            )
            .await?;
        let wanted: Vec<(String, BTreeMap<String, String>)> = plans
            .iter()
            .map(|plan| {
                let mut configs: BTreeMap<String, String> = current
                    .get(&plan.spec.name)
                    .map(|observed| {
                        observed
                            .configs
                            .iter()
                            .filter(|(_, config)| config.set_on_topic)
                            .filter_map(|(key, config)| {
                                config.value.clone().map(|value| (key.clone(), value))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                for (key, value) in plan.spec.configs() {
                    configs.insert(key.to_owned(), value);
                }
                (plan.spec.name.clone(), configs)
            })
            .collect();
        let alterations: Vec<AlterConfig<'_>> = wanted
            .iter()
            .map(|(name, configs)| {
                configs.iter().fold(
                    AlterConfig::new(ResourceSpecifier::Topic(name)),
                    |alteration, (key, value)| alteration.set(key, value),
                )
            })
            .collect();
        let results = self
            .admin
            .alter_configs(alterations.iter(), &self.options())
            .await
            .map_err(|source| ClusterError::Unanswered {
                doing: "altering topic configs",
                source,
            })?;
        for (result, (name, _)) in results.into_iter().zip(&wanted) {
            if let Err((_, code)) = result {
                return Err(ClusterError::Refused {
                    doing: "alter the configs of",
                    topic: name.clone(),
                    code,
                });
            }
        }
        Ok(())
    }

    /// Waits until metadata lists each topic with at least the given partitions, all with a
    /// leader. Creation is asynchronous in Kafka: a producer that runs right after `apply`
    /// must not find the topic missing.
    async fn wait_until_visible(&self, topics: &[(&str, i32)]) -> Result<(), ClusterError> {
        if topics.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            let metadata = self.metadata().await?;
            let missing: Vec<String> = topics
                .iter()
                .filter(|(name, partitions)| {
                    !metadata.topics().iter().any(|topic| {
                        topic.name() == *name
                            && topic.error().is_none()
                            && partition_count(topic.partitions().len()) >= *partitions
                            && topic.partitions().iter().all(|partition| {
                                partition.error().is_none() && partition.leader() >= 0
                            })
                    })
                })
                .map(|(name, _)| (*name).to_owned())
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.timeout {
                return Err(ClusterError::NotVisible {
                    topics: missing,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn partition_count(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
