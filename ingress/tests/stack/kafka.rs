//! The Kafka side (each test on its own topic prefix): the producer writes commands keyed,
//! encoded and traced as the processors read them, and the outcome listener hands outcomes
//! written after it started to the requests waiting.

use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_ingress::kafka::listener;
use shop_ingress::kafka::producer::KafkaCommandSink;
use shop_ingress::outcomes::OutcomeRegistry;
use shop_ingress::ports::{Command, CommandSink, OutcomeWaiter, OutgoingCommand, SinkError};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_platform::testing::{consume, create_topic, init_logs, kafka, registry_url, unique};
use shop_schemas::cart::{AddItem, CartCommand, CartCommandBody};
use shop_schemas::catalog::{CatalogCommand, CatalogCommandBody, RestockProduct};
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use shop_schemas::{AvroCodec, Part, Registration, RegistryConfig};
use shop_topics::TopicNames;
use shop_topics::names::headers::TRACEPARENT;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn setup() -> (TopicNames, Arc<AvroCodec>) {
    init_logs();
    let topics = TopicNames::with_prefix(&format!("{}.", unique("ingress")));
    for topic in [
        &topics.catalog_commands,
        &topics.cart_commands,
        &topics.command_outcomes,
    ] {
        create_topic(topic, 3).await;
    }
    let registry = RegistryConfig {
        url: registry_url(),
        timeout: Duration::from_secs(10),
    };
    let codec = AvroCodec::new(&registry, Registration::AutoRegister).unwrap();
    (topics, Arc::new(codec))
}

fn add_item(user: &str) -> CartCommand {
    CartCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        issued_at: shop_schemas::now_millis(),
        user_id: user.to_owned(),
        body: CartCommandBody::AddItem(AddItem {
            product_id: "mouse".to_owned(),
            quantity: 2,
        }),
    }
}

#[tokio::test]
async fn commands_are_keyed_encoded_and_traced() {
    let (topics, codec) = setup().await;
    let sink = KafkaCommandSink::new(
        &kafka(),
        Arc::clone(&codec),
        &topics,
        Duration::from_secs(10),
    )
    .unwrap();
    let cart = add_item("alice");
    sink.send(OutgoingCommand {
        command: Command::Cart(cart.clone()),
        traceparent: TRACE.to_owned(),
    })
    .await
    .unwrap();
    let catalog = CatalogCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        issued_at: shop_schemas::now_millis(),
        issued_by: "root".to_owned(),
        body: CatalogCommandBody::RestockProduct(RestockProduct {
            product_id: "lamp".to_owned(),
            quantity: 3,
        }),
    };
    sink.send(OutgoingCommand {
        command: Command::Catalog(catalog.clone()),
        traceparent: TRACE.to_owned(),
    })
    .await
    .unwrap();

    let carts = consume(&topics.cart_commands, 1, Duration::from_secs(30)).await;
    assert_eq!(carts.len(), 1);
    let record = &carts[0];
    assert_eq!(
        codec.decode_key(record.key().unwrap()).await.unwrap(),
        "alice"
    );
    let decoded: CartCommand = codec.decode(record.payload().unwrap()).await.unwrap();
    assert_eq!(decoded, cart);
    let headers = record.headers().expect("headers");
    let trace = headers
        .iter()
        .find(|header| header.key == TRACEPARENT)
        .and_then(|header| header.value)
        .expect("a traceparent header");
    assert_eq!(trace, TRACE.as_bytes());

    let products = consume(&topics.catalog_commands, 1, Duration::from_secs(30)).await;
    assert_eq!(
        codec.decode_key(products[0].key().unwrap()).await.unwrap(),
        "lamp"
    );
    let decoded: CatalogCommand = codec.decode(products[0].payload().unwrap()).await.unwrap();
    assert_eq!(decoded, catalog);
}

#[tokio::test]
async fn an_unreachable_broker_is_unavailable_not_a_hang() {
    let (topics, codec) = setup().await;
    let nowhere = KafkaSettings::new("127.0.0.1:1", "shop-ingress-test");
    let sink = KafkaCommandSink::new(&nowhere, codec, &topics, Duration::from_secs(1)).unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        sink.send(OutgoingCommand {
            command: Command::Cart(add_item("alice")),
            traceparent: TRACE.to_owned(),
        }),
    )
    .await
    .expect("the sink gives up by itself");
    assert!(
        matches!(result, Err(SinkError::Unavailable(_))),
        "{result:?}"
    );
}

async fn write_outcome(codec: &AvroCodec, topic: &str, command_id: &str) {
    let producer: FutureProducer<TracingContext> = kafka()
        .producer()
        .create_with_context(TracingContext)
        .unwrap();
    let outcome = CommandOutcome {
        command_id: command_id.to_owned(),
        status: OutcomeStatus::Rejected,
        reason_code: Some("not_in_cart".to_owned()),
        reason: Some("Not in the cart.".to_owned()),
        entity_id: None,
        processor: "test".to_owned(),
        processed_at: shop_schemas::now_millis(),
    };
    let key = codec.encode_key(topic, command_id).await.unwrap();
    let value = codec.encode(topic, Part::Value, &outcome).await.unwrap();
    producer
        .send(
            FutureRecord::to(topic).key(&key).payload(&value),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_listener_answers_waits_registered_after_it_started() {
    let (topics, codec) = setup().await;
    let topic = &topics.command_outcomes;
    // Written before the listener starts: nobody can be waiting for it.
    write_outcome(&codec, topic, "old").await;

    let registry = OutcomeRegistry::new(10);
    assert!(registry.register("early").is_none(), "not listening yet");
    let stop = CancellationToken::new();
    let task = listener::start(
        &kafka(),
        Arc::clone(&codec),
        topic,
        registry.clone(),
        Duration::from_secs(30),
        stop.clone(),
    )
    .await
    .unwrap();
    assert!(registry.is_listening());

    let old = registry.register("old").unwrap();
    let fresh = registry.register("fresh").unwrap();
    write_outcome(&codec, topic, "fresh").await;
    let outcome = fresh
        .wait(Duration::from_secs(20))
        .await
        .expect("the outcome");
    assert_eq!(outcome.command_id, "fresh");
    assert_eq!(outcome.reason_code.as_deref(), Some("not_in_cart"));
    assert!(old.wait(Duration::from_millis(500)).await.is_none());
    assert_eq!(registry.waiting(), 0);

    stop.cancel();
    task.await.unwrap();
    assert!(!registry.is_listening());
}

#[tokio::test]
async fn the_listener_refuses_to_start_without_its_topic() {
    init_logs();
    let registry = RegistryConfig {
        url: registry_url(),
        timeout: Duration::from_secs(10),
    };
    let codec = Arc::new(AvroCodec::new(&registry, Registration::AutoRegister).unwrap());
    let result = listener::start(
        &kafka(),
        codec,
        &unique("missing.commands.outcomes"),
        OutcomeRegistry::new(1),
        Duration::from_secs(5),
        CancellationToken::new(),
    )
    .await;
    assert!(result.is_err());
}
