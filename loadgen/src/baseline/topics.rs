//! The baseline's own topics: created fresh for one run, ready before any record is sent, and
//! deleted afterwards. Nothing here touches the pipeline's topics.

use super::BaselineError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shop_platform::kafka::KafkaSettings;
use std::time::{Duration, Instant};

/// The chain's topic names: `shop-load.<run id>.hop0` … `.hop<n-1>`.
pub fn names(run_id: &str, topics: usize) -> Vec<String> {
    (0..topics)
        .map(|hop| format!("shop-load.{run_id}.hop{hop}"))
        .collect()
}

fn admin(kafka: &KafkaSettings) -> Result<AdminClient<DefaultClientContext>, BaselineError> {
    kafka
        .admin()
        .create()
        .map_err(|source| BaselineError::kafka("creating an admin client", source))
}

/// Creates `names` with `partitions` each (the broker's default replication) and waits until
/// every partition has a leader that answers: metadata shows a leader a moment before it
/// serves the partition (see `docs/performance.md`, ingress "Odd things").
///
/// # Errors
/// [`BaselineError`] if a topic cannot be created or is not ready within `timeout`.
pub(crate) async fn create(
    kafka: &KafkaSettings,
    names: &[String],
    partitions: i32,
    timeout: Duration,
) -> Result<(), BaselineError> {
    let admin = admin(kafka)?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(-1)))
        .collect();
    let results = admin
        .create_topics(
            topics.iter(),
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .map_err(|source| BaselineError::kafka("creating the baseline topics", source))?;
    for result in results {
        result.map_err(|(topic, code)| {
            BaselineError::Topics(format!("creating {topic} failed: {code}"))
        })?;
    }
    let consumer_config = kafka.consumer("shop-load-readiness");
    let names = names.to_vec();
    let ready = tokio::task::spawn_blocking(move || -> Result<(), BaselineError> {
        let consumer: BaseConsumer = consumer_config
            .create()
            .map_err(|source| BaselineError::kafka("creating a readiness consumer", source))?;
        let deadline = Instant::now() + timeout;
        for name in &names {
            for partition in 0..partitions {
                loop {
                    match consumer.fetch_watermarks(name, partition, Duration::from_secs(2)) {
                        Ok(_) => break,
                        Err(error) if Instant::now() < deadline => {
                            tracing::debug!(%error, topic = %name, partition, "not ready yet");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Err(error) => {
                            return Err(BaselineError::Topics(format!(
                                "{name} partition {partition} not ready within {timeout:?}: \
                                 {error}"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    });
    ready
        .await
        .map_err(|error| BaselineError::Topics(format!("readiness check failed: {error}")))?
}

/// Deletes `names`; a topic that is already gone is not an error.
///
/// # Errors
/// [`BaselineError`] if the broker refuses.
pub(crate) async fn delete(
    kafka: &KafkaSettings,
    names: &[String],
    timeout: Duration,
) -> Result<(), BaselineError> {
    let admin = admin(kafka)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(
            &names,
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .map_err(|source| BaselineError::kafka("deleting the baseline topics", source))?;
    for result in results {
        if let Err((topic, code)) = result
            && code != rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
        {
            return Err(BaselineError::Topics(format!(
                "deleting {topic} failed: {code}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_run_and_per_hop() {
        assert_eq!(
            names("baseline-1-2", 3),
            [
                "shop-load.baseline-1-2.hop0",
                "shop-load.baseline-1-2.hop1",
                "shop-load.baseline-1-2.hop2"
            ]
        );
    }
}
