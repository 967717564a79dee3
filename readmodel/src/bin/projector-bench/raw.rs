//! The baselines the projector is held against, on the same records in the same run: a plain
//! `read_committed` consumer in a group of its own that reads the five input topics from the
//! beginning to their ends and does nothing else (**raw**), and the same consumer decoding every
//! key and value with the codec into the types the projector decodes (**raw + decode**).
//! Neither touches the database, so projector / (raw + decode) is what SQL costs.

use crate::figures::Throughput;
use crate::mix::Input;
use crate::positions::{Positions, total};
use anyhow::{Context, bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::cart::Cart;
use shop_schemas::catalog::Product;
use shop_schemas::inventory::StockLevel;
use shop_schemas::orders::{Order, OrderEvent};
use shop_schemas::{AvroCodec, AvroRecord, Registration, RegistryConfig};
use shop_topics::TopicNames;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Baseline {
    Raw,
    RawDecode,
}

impl Baseline {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Raw => "raw consumer",
            Self::RawDecode => "raw + decode",
        }
    }

    pub(crate) fn slug(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::RawDecode => "raw-decode",
        }
    }
}

/// How far reading has got in one input topic, and how far it has to go.
#[derive(Debug)]
struct TopicProgress {
    name: String,
    input: Input,
    /// `(next, end)` per partition.
    partitions: Vec<(i64, i64)>,
}

/// How far reading has got in every input partition.
#[derive(Debug)]
struct Progress {
    topics: Vec<TopicProgress>,
}

impl Progress {
    fn new(names: &TopicNames, ends: &Positions) -> Self {
        let topics = Input::ALL
            .iter()
            .map(|input| {
                let name = input.topic(names).to_owned();
                let partitions = ends
                    .iter()
                    .filter(|((topic, _), _)| *topic == name)
                    .map(|(_, end)| (0, *end))
                    .collect();
                TopicProgress {
                    name,
                    input: *input,
                    partitions,
                }
            })
            .collect();
        Self { topics }
    }

    /// Notes a record read; returns its input.
    fn read(&mut self, topic: &str, partition: i32, offset: i64) -> Option<Input> {
        let progress = self.topics.iter_mut().find(|t| t.name == topic)?;
        let (next, _) = progress
            .partitions
            .get_mut(usize::try_from(partition).ok()?)?;
        *next = (*next).max(offset + 1);
        Some(progress.input)
    }

    fn done(&self) -> bool {
        self.topics
            .iter()
            .all(|t| t.partitions.iter().all(|(next, end)| next >= end))
    }
}

/// Reads every input record once, timed from before the consumer exists to the last record.
pub(crate) async fn run(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    names: &TopicNames,
    group: &str,
    ends: &Positions,
    baseline: Baseline,
    timeout: Duration,
) -> anyhow::Result<Throughput> {
    // A fresh codec, like the projector's: its registry lookups are on the clock too.
    let codec = match baseline {
        Baseline::RawDecode => Some(
            AvroCodec::new(registry, Registration::LookupOnly)
                .context("while creating the baseline's codec")?,
        ),
        Baseline::Raw => None,
    };
    let (kafka, group) = (kafka.clone(), group.to_owned());
    let mut progress = Progress::new(names, ends);
    let topics: Vec<String> = Input::ALL
        .iter()
        .map(|input| input.topic(names).to_owned())
        .collect();
    let records = total(ends);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let deadline = start + timeout;
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&group)
            .create_with_context(TracingContext)
            .context("while creating the baseline consumer")?;
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .context("while subscribing the baseline consumer")?;
        let mut read: i64 = 0;
        let mut first = None;
        while !progress.done() {
            ensure!(
                Instant::now() < deadline,
                "{}: only {read} of {records} records read within {timeout:?}",
                baseline.label()
            );
            let message = match consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "baseline consumer error");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            first.get_or_insert_with(|| start.elapsed());
            read += 1;
            let Some(input) = progress.read(message.topic(), message.partition(), message.offset())
            else {
                bail!("a record from {} that was not asked for", message.topic());
            };
            if let Some(codec) = &codec {
                runtime
                    .block_on(decode(codec, input, message.key(), message.payload()))
                    .context("while decoding a record (raw + decode)")?;
            }
        }
        let elapsed = start.elapsed();
        ensure!(
            read == records,
            "{}: read {read} records, the topics hold {records}",
            baseline.label()
        );
        Ok(Throughput {
            label: baseline.label().to_owned(),
            records,
            elapsed,
            first,
            done_at_first: 1,
            projector: None,
            cpu: None,
        })
    })
    .await
    .context("the baseline's thread failed")?
}

/// Decodes key and value as the projector does: the key as a string, the value as its topic's
/// record type. One `block_on` per record for both: the projector awaits them in one task.
async fn decode(
    codec: &AvroCodec,
    input: Input,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> anyhow::Result<()> {
    black_box(
        codec
            .decode_key(key.context("a record without a key")?)
            .await?,
    );
    let payload = payload.context("a tombstone, which the bench never produces")?;
    match input {
        Input::Products => value::<Product>(codec, payload).await,
        Input::Carts => value::<Cart>(codec, payload).await,
        Input::Stock => value::<StockLevel>(codec, payload).await,
        Input::Orders => value::<Order>(codec, payload).await,
        Input::Events => value::<OrderEvent>(codec, payload).await,
    }
}

async fn value<T: AvroRecord>(codec: &AvroCodec, payload: &[u8]) -> anyhow::Result<()> {
    black_box(codec.decode::<T>(payload).await?);
    Ok(())
}
