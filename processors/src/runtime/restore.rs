//! Rebuilding one partition's state from its changelog.

use super::codec_calls::retrying;
use super::error::{RuntimeError, is_fatal_consumer_error};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::{AvroCodec, AvroRecord};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The longest one watermarks request may wait, so a broker back early is noticed early.
const WATERMARKS_TRY: Duration = Duration::from_secs(5);
/// The pause between two watermarks requests that failed.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Reads partition `partition` of `changelog` from the beginning to its end and returns the
/// newest value of every key (a tombstone removes the key).
///
/// The consumer reads `read_committed` with `enable.partition.eof`: for such a consumer the end
/// is the last stable offset, so the records of a batch a previous owner left open or aborted
/// are never restored.
///
/// # Errors
/// [`RuntimeError::Restore`] if the changelog cannot be read to its end within `timeout` or
/// holds a record that does not decode: state that cannot be trusted is not used. A broker
/// that is away for part of `timeout` is waited out.
pub(crate) fn partition<S: AvroRecord>(
    kafka: &KafkaSettings,
    group_id: &str,
    codec: &AvroCodec,
    runtime: &Handle,
    changelog: &str,
    partition: i32,
    timeout: Duration,
) -> Result<HashMap<String, S>, RuntimeError> {
    let restore_error = |reason: String| RuntimeError::Restore {
        topic: changelog.to_owned(),
        partition,
        reason,
    };
    let mut config = kafka.consumer(group_id);
    // Restoring is a read to the end and nothing else: do not let the broker hold a fetch
    // back waiting for more data (500 ms by default), once per partition on every assignment.
    config
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer<TracingContext> = config
        .create_with_context(TracingContext)
        .map_err(|error| restore_error(error.to_string()))?;
    let deadline = Instant::now() + timeout;
    // The watermarks call fails while the broker is away; try again until the deadline.
    let (low, high) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(changelog, partition, left.min(WATERMARKS_TRY)) {
            Ok(watermarks) => break watermarks,
            Err(error) if Instant::now() >= deadline => {
                return Err(restore_error(format!(
                    "no watermarks within {timeout:?}: {error}"
                )));
            }
            Err(error) => {
                tracing::warn!(%error, changelog, partition, "restore: asking for watermarks again");
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    };
    if low == high {
        return Ok(HashMap::new()); // Nothing was ever written, or all of it is gone.
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(changelog, partition, Offset::Beginning)
        .map_err(|error| restore_error(error.to_string()))?;
    consumer
        .assign(&assignment)
        .map_err(|error| restore_error(error.to_string()))?;

    let mut state = HashMap::new();
    let mut last_error = None;
    loop {
        if Instant::now() >= deadline {
            let cause =
                last_error.map_or_else(String::new, |error| format!(" (last error: {error})"));
            return Err(restore_error(format!(
                "end not reached within {timeout:?}{cause}"
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(state),
            Some(Err(error)) if is_fatal_consumer_error(&error) => {
                return Err(restore_error(error.to_string()));
            }
            // librdkafka retries on its own; the deadline bounds how long that may take.
            Some(Err(error)) => {
                tracing::warn!(%error, changelog, partition, "restore: consumer error, still reading");
                last_error = Some(error);
            }
            Some(Ok(record)) => {
                let key = record.key().ok_or_else(|| {
                    restore_error(format!("record at {} has no key", record.offset()))
                })?;
                let key = retrying(runtime, || codec.decode_key(key))?
                    .map_err(|error| restore_error(error.to_string()))?;
                match record.payload() {
                    None => {
                        state.remove(&key);
                    }
                    Some(payload) => {
                        let value = retrying(runtime, || codec.decode::<S>(payload))?
                            .map_err(|error| restore_error(error.to_string()))?;
                        state.insert(key, value);
                    }
                }
            }
        }
    }
}
