//! The baselines: plain rdkafka copying the input, as bytes (**raw**) or decoding and encoding
//! on the way (**raw + avro**).

use crate::blocking;
use crate::plan::Variant;
use crate::probe::{Deliveries, Probe, sample, send_with_backpressure, wait_for_deliveries};
use crate::report::Sample;
use anyhow::{Context, bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::AvroCodec;
use shop_schemas::codec::Part;
use shop_schemas::inventory::InventoryCommand;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a raw variant copies, and whether it re-encodes on the way.
#[derive(Debug)]
pub(crate) struct CopyJob {
    pub(crate) input: String,
    pub(crate) output: String,
    pub(crate) group: String,
    pub(crate) records: usize,
    /// `Some`: decode key and value and encode them again for the output ([`Variant::RawAvro`]);
    /// `None`: copy the bytes ([`Variant::Raw`]).
    pub(crate) codec: Option<Arc<AvroCodec>>,
}

/// Raw rdkafka: copy every input record with a plain idempotent producer, no transactions, no
/// offset commits. The clock starts before the clients exist (as for the runtime, whose set-up
/// is on its clock too) and stops at the last acknowledgement.
pub(crate) async fn run_raw(
    kafka: &KafkaSettings,
    copy: CopyJob,
    timeout: Duration,
) -> anyhow::Result<Sample> {
    let kafka = kafka.clone();
    let runtime = tokio::runtime::Handle::current();
    blocking("running a raw variant", move || {
        let variant = match copy.codec {
            Some(_) => Variant::RawAvro,
            None => Variant::Raw,
        };
        let records = copy.records;
        let start = Instant::now();
        let deadline = start + timeout;
        let probe = Probe::default();
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&copy.group)
            .create_with_context(TracingContext)
            .context("while creating the raw consumer")?;
        let producer: BaseProducer<Deliveries> = kafka
            .producer()
            .create_with_context(Deliveries::default())
            .context("while creating the raw producer")?;
        consumer
            .subscribe(&[copy.input.as_str()])
            .context("while subscribing the raw consumer")?;
        let mut consumed = 0;
        while consumed < records {
            ensure!(
                Instant::now() < deadline,
                "{}: only {consumed} of {records} records consumed within {timeout:?}",
                variant.label()
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(error)) => tracing::warn!(%error, "raw consumer error"),
                Some(Ok(message)) => {
                    probe.record();
                    let (key, payload) = (message.key(), message.payload());
                    // Kept alive until the record is handed to librdkafka, which copies it.
                    let reencoded;
                    let (key, payload) = match (&copy.codec, key, payload) {
                        (Some(codec), Some(key), Some(payload)) => {
                            // One block_on per record for all four calls; the runtime does one
                            // per call, so this is the codec's cost with less of the bridging.
                            reencoded = runtime
                                .block_on(reencode(codec, &copy.output, key, payload))
                                .context("while re-encoding a record (raw + avro)")?;
                            (Some(&reencoded.0[..]), Some(&reencoded.1[..]))
                        }
                        (Some(_), _, _) => bail!("an input record lacks a key or a value"),
                        (None, key, payload) => (key, payload),
                    };
                    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&copy.output);
                    if let Some(key) = key {
                        record = record.key(key);
                    }
                    if let Some(payload) = payload {
                        record = record.payload(payload);
                    }
                    send_with_backpressure(&producer, record, deadline)
                        .context("while copying a record (raw)")?;
                    consumed += 1;
                }
            }
            producer.poll(Duration::ZERO);
        }
        wait_for_deliveries(&producer, records, deadline).context("while copying (raw)")?;
        let elapsed = start.elapsed();
        Ok(sample(variant, records, start, elapsed, &probe))
    })
    .await
}

/// Decodes a record as the runtime does (key as a string, value as an `InventoryCommand`) and
/// encodes both for `output`.
async fn reencode(
    codec: &AvroCodec,
    output: &str,
    key: &[u8],
    payload: &[u8],
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let key = codec
        .decode_key(key)
        .await
        .context("while decoding a key")?;
    let command: InventoryCommand = codec
        .decode(payload)
        .await
        .context("while decoding a value")?;
    let key_bytes = codec
        .encode_key(output, &key)
        .await
        .context("while encoding a key")?;
    let value = codec
        .encode(output, Part::Value, &command)
        .await
        .context("while encoding a value")?;
    Ok((key_bytes, value))
}
