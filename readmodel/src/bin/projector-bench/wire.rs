//! Records in the Confluent wire format, encoded before any clock runs so that producing them
//! measures nothing but producing.

use crate::mix::{Input, Record};
use anyhow::Context;
use shop_schemas::codec::Part;
use shop_schemas::{AvroCodec, AvroRecord};
use shop_topics::TopicNames;
use std::sync::Arc;

/// One record, ready to produce.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub(crate) topic: Arc<str>,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

impl Wire {
    pub(crate) fn bytes(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

/// Encodes `records` for the topics in `names` (whose subjects are registered).
pub(crate) async fn encode(
    codec: &AvroCodec,
    names: &TopicNames,
    records: &[Record],
) -> anyhow::Result<Vec<Wire>> {
    let topics: Vec<(Input, Arc<str>)> = Input::ALL
        .iter()
        .map(|input| (*input, Arc::from(input.topic(names))))
        .collect();
    let mut encoded = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let topic = topics
            .iter()
            .find(|(input, _)| *input == record.input())
            .map(|(_, topic)| Arc::clone(topic))
            .context("a record of an input without a topic")?;
        let key = codec
            .encode_key(&topic, record.key())
            .await
            .with_context(|| format!("while encoding the key of record {index}"))?;
        let value = match record {
            Record::Product(value) => value_of(codec, &topic, value).await,
            Record::Cart(value) => value_of(codec, &topic, value).await,
            Record::Stock(value) => value_of(codec, &topic, value).await,
            Record::Order(value) => value_of(codec, &topic, value).await,
            Record::Event(value) => value_of(codec, &topic, value).await,
        }
        .with_context(|| format!("while encoding the value of record {index}"))?;
        encoded.push(Wire { topic, key, value });
    }
    Ok(encoded)
}

async fn value_of<T: AvroRecord>(
    codec: &AvroCodec,
    topic: &str,
    value: &T,
) -> anyhow::Result<Vec<u8>> {
    Ok(codec.encode(topic, Part::Value, value).await?)
}
