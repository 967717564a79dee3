//! Rebuilding one partition's state from its changelog.

use super::codec_calls::retrying;
use super::error::RuntimeError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::{AvroCodec, AvroRecord};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Reads partition `partition` of `changelog` from the beginning to its end and returns the
/// newest value of every key (a tombstone removes the key).
///
/// The consumer reads `read_committed` with `enable.partition.eof`: for such a consumer the end
/// is the last stable offset, so the records of a batch a previous owner left open or aborted
/// are never restored.
///
/// # Errors
/// [`RuntimeError::Restore`] if the changelog cannot be read to its end within `timeout` or
/// holds a record that does not decode: state that cannot be trusted is not used.
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
    let (low, high) = consumer
        .fetch_watermarks(changelog, partition, timeout)
        .map_err(|error| restore_error(error.to_string()))?;
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

    let deadline = Instant::now() + timeout;
    let mut state = HashMap::new();
    loop {
        if Instant::now() >= deadline {
            return Err(restore_error(format!("end not reached within {timeout:?}")));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(state),
            Some(Err(error)) => return Err(restore_error(error.to_string())),
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
