//! The projector against the real broker, registry and PostgreSQL: a replay from offset zero
//! rebuilds identical tables, a SIGKILLed projector loses and duplicates nothing, and a poison
//! record goes to its dead-letter topic while the rest is projected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod harness;
mod stream;

use harness::{Setup, count, database, drop_database, snapshot, stored_offsets, wait_caught_up};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_readmodel::projector::mirror_group;
use shop_topics::names::{dead_letter_topic, headers};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CATCH_UP: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_from_offset_zero_rebuilds_identical_tables() {
    let setup = Setup::new("replay").await;
    let stream = stream::script(60);
    setup.produce(&stream).await;
    let ends = setup.end_offsets();

    let (live_name, live) = database("projector_live").await;
    let projector = setup.spawn(&setup.group(), &live);
    wait_caught_up(&live, &setup.group(), &ends, CATCH_UP).await;
    projector.stop().await;

    // What the stream says the tables hold.
    assert_eq!(count(&live, "products").await, 20);
    let p7: i64 = sqlx::query_scalar("SELECT version FROM products WHERE product_id = 'p7'")
        .fetch_one(&live)
        .await
        .unwrap();
    assert_eq!(p7, 1, "p7 was deleted and created again");
    let (name, price, version): (String, i64, i64) =
        sqlx::query_as("SELECT name, price_cents, version FROM products WHERE product_id = 'p3'")
            .fetch_one(&live)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), price, version),
        ("Product 3 mark 3", 3_003, 3),
        "an older version arriving late never overwrites a newer one"
    );
    assert_eq!(count(&live, "carts").await, 9, "u4 expired");
    assert_eq!(count(&live, "cart_lines").await, 9 * 2);
    assert_eq!(count(&live, "orders").await, 60);
    assert_eq!(count(&live, "order_lines").await, 60 * 2);
    let history: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM order_status_history ORDER BY event_id")
            .fetch_all(&live)
            .await
            .unwrap();
    assert_eq!(history, stream::expected_events(60));
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE status = 'CONFIRMED' AND version = 3",
    )
    .fetch_one(&live)
    .await
    .unwrap();
    assert_eq!(confirmed, 60);

    // Dropped tables (a new database), re-projected from offset zero by a new instance.
    let (replay_name, replay) = database("projector_replay").await;
    let again = setup.spawn(&format!("{}-replay", setup.group()), &replay);
    wait_caught_up(
        &replay,
        &format!("{}-replay", setup.group()),
        &ends,
        CATCH_UP,
    )
    .await;
    again.stop().await;
    assert_eq!(snapshot(&replay).await, snapshot(&live).await);

    drop_database(&live_name, live).await;
    drop_database(&replay_name, replay).await;
}

fn start_binary(setup: &Setup, database_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shop-projector"))
        .env("SHOP_KAFKA_BROKERS", testing::brokers())
        .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
        .env("SHOP_TOPIC_PREFIX", &setup.prefix)
        .env("SHOP_DATABASE_URL", database_url)
        .env("SHOP_PROJECTOR_BATCH_MAX_RECORDS", "100")
        // A killed member's partitions come back at once to its restart, not after a session.
        .env("SHOP_STATIC_MEMBERSHIP", "true")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_projector_loses_and_duplicates_nothing() {
    let setup = Setup::new("projector_kill").await;
    let (name, pool) = database("projector_kill").await;
    let url = shop_platform::database::DatabaseSettings::new(testing::database_url())
        .with_database(&name)
        .unwrap()
        .url;
    let orders = 2_000;
    let stream = stream::script(orders);
    let total = stream.len();
    let mut child = start_binary(&setup, &url);
    let producing = {
        let setup = Setup {
            prefix: setup.prefix.clone(),
            topics: setup.topics.clone(),
            codec: std::sync::Arc::clone(&setup.codec),
        };
        tokio::spawn(async move { setup.produce(&stream).await })
    };
    // Kill it four times mid-stream, each time after it has written something new.
    let mut kills_at = Vec::new();
    for kill in 0..4 {
        let before: i64 = stored_offsets(&pool, &setup.group()).await.values().sum();
        let deadline = std::time::Instant::now() + CATCH_UP;
        while stored_offsets(&pool, &setup.group())
            .await
            .values()
            .sum::<i64>()
            <= before
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let applied: i64 = stored_offsets(&pool, &setup.group()).await.values().sum();
        kills_at.push(applied);
        tracing::info!(kill, applied, "projector killed");
        child = start_binary(&setup, &url);
    }
    producing.await.unwrap();
    let ends = setup.end_offsets();
    assert_eq!(ends.values().sum::<i64>(), i64::try_from(total).unwrap());
    assert!(
        kills_at
            .iter()
            .all(|applied| *applied < i64::try_from(total).unwrap()),
        "every kill landed before the end of the stream: {kills_at:?} of {total}"
    );
    wait_caught_up(&pool, &setup.group(), &ends, CATCH_UP).await;
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert!(child.wait().unwrap().success(), "SIGTERM exits 0");

    // Nothing missing and nothing twice: every event once, every order at its last version,
    // and the offsets exactly at the end of every partition.
    let history: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM order_status_history ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(history, stream::expected_events(orders));
    let versions: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, count(*) FROM orders GROUP BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions, [(3, i64::try_from(orders).unwrap())]);
    assert_eq!(
        count(&pool, "order_lines").await,
        i64::try_from(orders * 2).unwrap()
    );
    let stored = stored_offsets(&pool, &setup.group()).await;
    for (partition, end) in &ends {
        assert_eq!(
            stored.get(partition).copied().unwrap_or(0),
            *end,
            "{partition:?}"
        );
    }
    // The lag monitor sees the same offsets, mirrored to a group of their own.
    let mirror: BaseConsumer<TracingContext> = testing::kafka()
        .consumer(&mirror_group(&setup.group()))
        .create_with_context(TracingContext)
        .unwrap();
    let mut asked = TopicPartitionList::new();
    for (topic, partition) in ends.keys() {
        asked.add_partition(topic, *partition);
    }
    // Best effort and asynchronous: give the last mirror commit a moment to land.
    let expected = |topic: &str, partition: i32| match ends[&(topic.to_owned(), partition)] {
        0 => Offset::Invalid,
        end => Offset::Offset(end),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let committed = mirror
            .committed_offsets(asked.clone(), Duration::from_secs(10))
            .unwrap();
        let behind: Vec<String> = committed
            .elements()
            .iter()
            .filter(|e| e.offset() != expected(e.topic(), e.partition()))
            .map(|e| format!("{}[{}] at {:?}", e.topic(), e.partition(), e.offset()))
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mirror group is behind the database: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop_database(&name, pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_dead_lettered_and_the_rest_projected() {
    let setup = Setup::new("projector_poison").await;
    let (name, pool) = database("projector_poison").await;
    let producer: FutureProducer<TracingContext> = testing::kafka()
        .producer()
        .create_with_context(TracingContext)
        .unwrap();
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&setup.topics.orders_events)
                .partition(0)
                .key(&b"not avro"[..])
                .payload(&b"junk"[..]),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();
    setup.produce(&stream::script(5)).await;
    let ends = setup.end_offsets();
    let projector = setup.spawn(&setup.group(), &pool);
    wait_caught_up(&pool, &setup.group(), &ends, CATCH_UP).await;
    projector.stop().await;
    assert_eq!(count(&pool, "order_status_history").await, 15);

    let dead = testing::consume(
        &dead_letter_topic(&setup.topics.orders_events),
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(&b"junk"[..]));
    let header = |name: &str| {
        dead[0].headers().and_then(|h| {
            h.iter()
                .find(|header| header.key == name)
                .and_then(|header| header.value)
                .map(|value| String::from_utf8_lossy(value).into_owned())
        })
    };
    assert_eq!(header(headers::DLQ_PROCESSOR).as_deref(), Some("projector"));
    assert_eq!(header(headers::DLQ_SOURCE_OFFSET).as_deref(), Some("0"));
    assert!(header(headers::DLQ_ERROR).is_some_and(|error| error.contains("wire format")));
    drop_database(&name, pool).await;
}
