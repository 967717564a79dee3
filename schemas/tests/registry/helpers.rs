//! Shared setup: a codec and registry client on the local stack, and a producer.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_schemas::registry::RegistryAdmin;
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::time::Duration;

pub(crate) fn registry_config() -> RegistryConfig {
    RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    }
}

pub(crate) fn codec(registration: Registration) -> AvroCodec {
    AvroCodec::new(&registry_config(), registration).unwrap()
}

pub(crate) fn admin() -> RegistryAdmin {
    RegistryAdmin::new(&registry_config()).unwrap()
}

pub(crate) fn producer() -> FutureProducer<TracingContext> {
    testing::kafka()
        .producer()
        .create_with_context(TracingContext)
        .unwrap()
}

/// Produces one record and waits for the broker's acknowledgement.
pub(crate) async fn produce(
    producer: &FutureProducer<TracingContext>,
    topic: &str,
    key: &[u8],
    value: &[u8],
) {
    let headers = OwnedHeaders::new().insert(Header {
        key: "test",
        value: Some("yes"),
    });
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();
}
