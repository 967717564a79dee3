//! The loop's one way to hand a record to the transactional producer, for outputs, dead
//! letters and changelog records alike: it waits out a full local queue by serving delivery
//! reports, and counts what it handed over. When the records become durable is the commit's
//! business, not this module's.

use super::error::{RuntimeError, fatal};
use super::meters::Meters;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use shop_platform::kafka::TracingContext;
use std::time::Duration;

/// Hands one record to `producer` for the open transaction; `partition` `None` leaves it to
/// the partitioner.
///
/// # Errors
/// [`RuntimeError::Fenced`] when the producer was fenced, [`RuntimeError::Kafka`] when it
/// refuses the record for any other reason but a full queue.
pub(crate) fn send(
    producer: &BaseProducer<TracingContext>,
    meters: &mut Meters,
    topic: &str,
    partition: Option<i32>,
    key: &[u8],
    payload: Option<&[u8]>,
    headers: OwnedHeaders,
) -> Result<(), RuntimeError> {
    let mut record = BaseRecord::to(topic).key(key).headers(headers);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    loop {
        match producer.send(record) {
            Ok(()) => {
                meters.record_out(topic);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(fatal("producing", cause(producer, error))),
        }
    }
}

/// What a refused record really failed on. A producer in a fatal state refuses every record
/// with a bare "Fatal"; its fatal error says why, e.g. fenced by a newer instance, which the
/// caller must see as such (`RuntimeError::Fenced`). Records produced at commit (the
/// changelog) are the likeliest to meet a producer that learnt of its fencing meanwhile.
fn cause(producer: &BaseProducer<TracingContext>, error: KafkaError) -> KafkaError {
    match (error.rdkafka_error_code(), producer.client().fatal_error()) {
        (Some(RDKafkaErrorCode::Fatal), Some((code, _))) => KafkaError::MessageProduction(code),
        _ => error,
    }
}
