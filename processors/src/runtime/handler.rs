//! The contract between the runtime and a processor: a pure function over one record and the
//! state of its key, with no Kafka in sight.

use futures::future::BoxFuture;
use shop_schemas::codec::Part;
use shop_schemas::{AvroCodec, AvroRecord, CodecError, Decoded, TimestampMillis};

/// A value type a handler reads: one record type, or an enum over several (a processor that
/// reads topics of different value types) built from whichever record the writer schema names.
pub trait InputRecord: Sized + Send + 'static {
    /// The input from a payload decoded with its writer schema.
    ///
    /// # Errors
    /// A [`CodecError`] that makes the record poison (e.g. [`CodecError::WrongSchema`] for a
    /// record type this input does not take).
    fn from_decoded(decoded: Decoded) -> Result<Self, CodecError>;
}

impl<T: AvroRecord> InputRecord for T {
    fn from_decoded(decoded: Decoded) -> Result<Self, CodecError> {
        decoded.into_record()
    }
}

/// A processor's logic.
///
/// `handle` sees one decoded input and the current state of the record's key (`None` if there
/// is none) and may change the state and emit outputs. It runs inside the transaction of its
/// batch: if the batch aborts, the state change and outputs are discarded and the record is
/// handled again, so `handle` must not do I/O of its own.
pub trait Handler: Send + 'static {
    /// The value type of the input topics.
    type Input: InputRecord;
    /// The state kept per key. The changelog topic gets its final value once per transaction
    /// in which it changed (a tombstone if it ends as `None`), not every intermediate one.
    type State: AvroRecord + Clone + PartialEq;

    /// # Errors
    /// [`HandlerError::Poison`] sends the record to the dead-letter topic; processing goes on.
    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: Self::Input,
        state: &mut Option<Self::State>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError>;

    /// When `state`'s key next wants [`Handler::on_deadline`]; `None` for never.
    ///
    /// A deadline is derived from the state, so it is written, restored and committed exactly
    /// with the state: after a restart every deadline that had not been acted on is still
    /// there, and one that was acted on is gone with the state change that acted on it.
    fn deadline(_state: &Self::State) -> Option<TimestampMillis> {
        None
    }

    /// Called once the deadline of `key` has passed (checked every
    /// `RuntimeConfig::punctuation_interval`), inside a transaction like a record. It must move
    /// or clear the deadline by changing the state, or it is called again on the next check.
    ///
    /// # Errors
    /// [`HandlerError::Poison`] is logged and the deadline is not retried until the state
    /// changes or the partition is restored again.
    fn on_deadline(
        &mut self,
        _key: &str,
        _now: TimestampMillis,
        _state: &mut Option<Self::State>,
        _out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Where the record being handled came from.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    pub key: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// Wall-clock time when the record is handled: what processing times and deadlines are
    /// measured from (a replayed backlog must not start its deadlines in the past).
    pub now: TimestampMillis,
}

/// Why a handler gave up on a record.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The record can never be processed (e.g. it breaks an invariant no command should):
    /// dead-letter it with this reason. A command that is merely refused is not poison; it gets
    /// a rejected outcome as an ordinary output.
    #[error("{0}")]
    Poison(String),
}

/// A value to encode later, when the runtime knows the registry ids.
pub(crate) trait ErasedValue: Send {
    fn as_any(&self) -> &dyn std::any::Any;

    fn encode<'a>(
        &'a self,
        codec: &'a AvroCodec,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, CodecError>>;
}

impl<T: AvroRecord> ErasedValue for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn encode<'a>(
        &'a self,
        codec: &'a AvroCodec,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, CodecError>> {
        Box::pin(codec.encode(topic, Part::Value, self))
    }
}

/// One record a handler emits.
pub(crate) struct Output {
    pub(crate) topic: String,
    pub(crate) key: String,
    pub(crate) value: Box<dyn ErasedValue>,
}

/// What a handler emits for one input: records for other topics. State changes are not sent
/// here; the runtime writes them to the changelog itself.
#[derive(Default)]
pub struct Outputs {
    pub(crate) records: Vec<Output>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.records
                    .iter()
                    .map(|record| (&record.topic, &record.key)),
            )
            .finish()
    }
}

impl Outputs {
    /// Emits `value` with `key` to `topic` (a full topic name).
    pub fn send<T: AvroRecord>(
        &mut self,
        topic: impl Into<String>,
        key: impl Into<String>,
        value: T,
    ) {
        self.records.push(Output {
            topic: topic.into(),
            key: key.into(),
            value: Box::new(value),
        });
    }

    /// How many records were emitted.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records sent to `topic` whose value is a `T`, with their keys, in the order sent:
    /// how tests of a handler see what it emitted.
    pub fn sent<T: AvroRecord>(&self, topic: &str) -> Vec<(&str, &T)> {
        self.records
            .iter()
            .filter(|record| record.topic == topic)
            .filter_map(|record| {
                let value = record.value.as_any().downcast_ref::<T>()?;
                Some((record.key.as_str(), value))
            })
            .collect()
    }

    /// The topics written to, one entry per record, in the order sent.
    pub fn topics(&self) -> Vec<&str> {
        self.records
            .iter()
            .map(|record| record.topic.as_str())
            .collect()
    }
}
