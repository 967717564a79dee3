//! Why the runtime stopped.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use shop_schemas::CodecError;

/// A reason the runtime cannot go on. Everything recoverable (a poison record, an aborted
/// transaction, a registry hiccup) is handled inside; what reaches the caller means "exit
/// non-zero and let the supervisor restart this instance".
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot create the Kafka {client}: {source}")]
    Client {
        client: &'static str,
        #[source]
        source: KafkaError,
    },
    /// Another instance with the same transactional id (or a newer group generation) took
    /// over: this one is a zombie and must not write again.
    #[error("fenced by a newer instance: {0}")]
    Fenced(#[source] KafkaError),
    #[error("Kafka failed fatally while {doing}: {source}")]
    Kafka {
        doing: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("cannot restore state of partition {partition} from {topic}: {reason}")]
    Restore {
        topic: String,
        partition: i32,
        reason: String,
    },
    #[error("cannot encode an output: {0}")]
    Encode(#[source] CodecError),
    #[error("the schema registry stayed unavailable: {0}")]
    Registry(#[source] CodecError),
    #[error("the processing thread died: {0}")]
    Thread(String),
}

fn transaction_error(error: &KafkaError) -> Option<&rdkafka::error::RDKafkaError> {
    match error {
        KafkaError::Transaction(inner) => Some(inner),
        _ => None,
    }
}

pub(crate) fn is_fenced(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        )
    ) || transaction_error(error).is_some_and(|inner| inner.is_fatal())
}

/// Whether a consumer error means the consumer itself is dead. Every other error a poll
/// returns (a broker that went away, a topic not yet in the metadata, a failed fetch) is
/// librdkafka reporting what it is already retrying, so a read to the end waits it out.
pub(crate) fn is_fatal_consumer_error(error: &KafkaError) -> bool {
    matches!(error, KafkaError::MessageConsumptionFatal(_))
}

/// Whether the failed transactional call may simply be made again: librdkafka says so, or the
/// broker's transaction coordinator was moving or loading (a broker just restarted), was still
/// ending the previous instance's transaction (`CONCURRENT_TRANSACTIONS`), or the call timed
/// out.
pub(crate) fn is_retriable(error: &KafkaError) -> bool {
    transaction_error(error).is_some_and(|inner| {
        inner.is_retriable()
            || matches!(
                inner.code(),
                RDKafkaErrorCode::NotCoordinator
                    | RDKafkaErrorCode::CoordinatorLoadInProgress
                    | RDKafkaErrorCode::CoordinatorNotAvailable
                    | RDKafkaErrorCode::ConcurrentTransactions
                    | RDKafkaErrorCode::OperationTimedOut
                    | RDKafkaErrorCode::RequestTimedOut
            )
    })
}

pub(crate) fn requires_abort(error: &KafkaError) -> bool {
    transaction_error(error).is_some_and(|inner| inner.txn_requires_abort() || inner.is_retriable())
}

pub(crate) fn fatal(doing: &'static str, error: KafkaError) -> RuntimeError {
    if is_fenced(&error) {
        RuntimeError::Fenced(error)
    } else {
        RuntimeError::Kafka {
            doing,
            source: error,
        }
    }
}
