//! The changelog side of a commit, after Kafka Streams' record cache: the engine stages every
//! state change in the store as it happens, and [`write`] produces, just before the
//! transaction's offsets and commit, one record per key the transaction changed, holding the
//! key's final state. A key whose state a batch rewrote a thousand times costs one encode and
//! one record instead of a thousand. Readers of the changelog (restore, global tables, the
//! read model) lose only versions superseded within the same transaction: a transaction's
//! records become visible together, so none of those versions was ever the newest committed
//! state of its key.
//!
//! It does not decide what changed (the store does) nor when to commit (the engine does).

use super::codec_calls::retrying;
use super::error::RuntimeError;
use super::meters::Meters;
use super::produce;
use super::store::Store;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::BaseProducer;
use shop_platform::kafka::TracingContext;
use shop_schemas::codec::Part;
use shop_schemas::{AvroCodec, AvroRecord};
use tokio::runtime::Handle;

/// Produces the open transaction's net state changes to `topic`, in the order of each key's
/// last change: the final state (or a tombstone) to the same partition number as the input,
/// with the `traceparent` of the record that last changed the key. Returns how many records
/// it produced.
///
/// # Errors
/// [`RuntimeError`] when a state cannot be encoded, the registry stays away, or the producer
/// fails: the transaction must not commit without its changelog records.
pub(crate) fn write<S: AvroRecord + Clone + PartialEq>(
    store: &Store<S, OwnedHeaders>,
    topic: &str,
    codec: &AvroCodec,
    runtime: &Handle,
    producer: &BaseProducer<TracingContext>,
    meters: &mut Meters,
) -> Result<usize, RuntimeError> {
    let mut written = 0;
    for change in store.changes() {
        let key = retrying(runtime, || codec.encode_key(topic, change.key))?
            .map_err(RuntimeError::Encode)?;
        let value = match change.state {
            Some(state) => Some(
                retrying(runtime, || codec.encode(topic, Part::Value, state))?
                    .map_err(RuntimeError::Encode)?,
            ),
            None => None,
        };
        for payload in payloads(change.tombstone_first, value.as_deref()) {
            // The changelog partition is the input partition: restore reads it back from
            // there, whatever the partitioner would have chosen.
            produce::send(
                producer,
                meters,
                topic,
                Some(change.partition),
                &key,
                payload,
                change.cause.clone(),
            )?;
            written += 1;
        }
    }
    Ok(written)
}

/// The payloads one key's change is written as, in order (`None` is a tombstone).
fn payloads(tombstone_first: bool, value: Option<&[u8]>) -> Vec<Option<&[u8]>> {
    match (tombstone_first, value) {
        (true, Some(value)) => vec![None, Some(value)],
        (_, value) => vec![value],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_one_record_or_a_tombstone_and_one() {
        let state: &[u8] = b"state";
        assert_eq!(payloads(false, Some(state)), vec![Some(state)]);
        assert_eq!(payloads(false, None), vec![None]);
        assert_eq!(payloads(true, Some(state)), vec![None, Some(state)]);
        assert_eq!(
            payloads(true, None),
            vec![None],
            "a deletion is one tombstone"
        );
    }
}
