//! [`KafkaCommandSink`]: one shared idempotent producer (acks=all) writing catalog commands keyed
//! by product id and cart commands keyed by user id, Avro values in the Confluent wire format,
//! with the request's `traceparent` as a record header.

use crate::metric_names;
use crate::ports::{Command, CommandSink, OutgoingCommand, SinkError};
use futures::future::BoxFuture;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::{AvroCodec, CodecError, Part};
use shop_topics::TopicNames;
use shop_topics::names::headers::TRACEPARENT;
use std::sync::Arc;
use std::time::Duration;

/// Produces commands to `catalog.commands` and `cart.commands`.
#[derive(Clone)]
pub struct KafkaCommandSink {
    producer: FutureProducer<TracingContext>,
    codec: Arc<AvroCodec>,
    catalog_topic: String,
    cart_topic: String,
    delivery_timeout: Duration,
}

impl std::fmt::Debug for KafkaCommandSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCommandSink")
            .field("catalog_topic", &self.catalog_topic)
            .field("cart_topic", &self.cart_topic)
            .finish_non_exhaustive()
    }
}

impl KafkaCommandSink {
    /// A producer from `kafka`'s settings. librdkafka gives up on a record after
    /// `delivery_timeout` (unless `message.timeout.ms` is set in the overrides).
    ///
    /// # Errors
    /// If librdkafka refuses the configuration.
    pub fn new(
        kafka: &KafkaSettings,
        codec: Arc<AvroCodec>,
        topics: &TopicNames,
        delivery_timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.producer();
        if !kafka
            .overrides
            .iter()
            .any(|(key, _)| key == "message.timeout.ms")
        {
            config.set(
                "message.timeout.ms",
                delivery_timeout.as_millis().max(1).to_string(),
            );
        }
        let producer = config.create_with_context(TracingContext)?;
        Ok(Self {
            producer,
            codec,
            catalog_topic: topics.catalog_commands.clone(),
            cart_topic: topics.cart_commands.clone(),
            delivery_timeout,
        })
    }

    /// The producer, e.g. for a metadata check.
    pub fn producer(&self) -> &FutureProducer<TracingContext> {
        &self.producer
    }

    async fn encode(&self, command: &Command) -> Result<(&str, Vec<u8>, Vec<u8>), SinkError> {
        let topic = match command {
            Command::Catalog(_) => self.catalog_topic.as_str(),
            Command::Cart(_) => self.cart_topic.as_str(),
        };
        let key = self
            .codec
            .encode_key(topic, command.key())
            .await
            .map_err(codec_error)?;
        let value = match command {
            Command::Catalog(record) => self.codec.encode(topic, Part::Value, record).await,
            Command::Cart(record) => self.codec.encode(topic, Part::Value, record).await,
        }
        .map_err(codec_error)?;
        Ok((topic, key, value))
    }

    async fn produce(&self, outgoing: &OutgoingCommand) -> Result<(), SinkError> {
        let (topic, key, value) = self.encode(&outgoing.command).await?;
        let headers = OwnedHeaders::new().insert(Header {
            key: TRACEPARENT,
            value: Some(outgoing.traceparent.as_bytes()),
        });
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        let delivery = match self.producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(SinkError::Full);
            }
            Err((error, _)) => return Err(SinkError::Failed(error.to_string())),
        };
        // librdkafka times the record out itself; the extra second only guards against a
        // delivery report that never comes.
        match tokio::time::timeout(
            self.delivery_timeout.saturating_add(Duration::from_secs(1)),
            delivery,
        )
        .await
        {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((error, _)))) => Err(SinkError::Unavailable(format!(
                "{topic}: delivery failed: {error}"
            ))),
            Ok(Err(_)) => Err(SinkError::Unavailable(format!(
                "{topic}: the producer dropped the record"
            ))),
            Err(_) => Err(SinkError::Unavailable(format!(
                "{topic}: no delivery report in time"
            ))),
        }
    }
}

fn codec_error(error: CodecError) -> SinkError {
    if error.is_transient() {
        SinkError::Unavailable(error.to_string())
    } else {
        SinkError::Failed(error.to_string())
    }
}

impl CommandSink for KafkaCommandSink {
    fn send(&self, outgoing: OutgoingCommand) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let kind = outgoing.command.kind();
            let result = self.produce(&outgoing).await;
            let label = match &result {
                Ok(()) => "sent",
                Err(SinkError::Full) => "full",
                Err(SinkError::Unavailable(_)) => "unavailable",
                Err(SinkError::Failed(_)) => "failed",
            };
            metrics::counter!(metric_names::COMMANDS, "kind" => kind, "result" => label)
                .increment(1);
            result
        })
    }
}
