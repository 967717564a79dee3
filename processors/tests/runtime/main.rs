//! The exactly-once runtime against the real broker and registry, driven through the
//! restock counter: poison goes to the dead-letter topic, state survives restarts, a SIGKILLed
//! process loses and duplicates nothing, a zombie cannot commit, and the changelog gets one
//! record per changed key per transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod changelog;
mod global;
mod helpers;
mod stable;
mod timers;

use helpers::{
    PARTITIONS, Running, Tally, Topics, codec, final_levels, outcome_counts, produce_commands,
    produce_raw, restock, traceparent,
};
use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseProducer, Producer};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_processors::runtime::RuntimeError;
use shop_topics::names::headers;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn header<'a>(message: &'a rdkafka::message::OwnedMessage, name: &str) -> Option<&'a str> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .and_then(|value| std::str::from_utf8(value).ok())
    })
}

#[tokio::test]
async fn poison_goes_to_the_dead_letter_topic_and_the_next_records_are_processed() {
    testing::init_logs();
    let topics = Topics::create("poison").await;
    let running = Running::start(&topics, &testing::unique("tx"));

    let key = codec().encode_key(&topics.input, "p1").await.unwrap();
    produce_commands(&topics.input, &[restock("c1", "p1", 2)]).await;
    produce_raw(&topics.input, &key, b"not avro at all").await;
    produce_commands(&topics.input, &[restock("c2", "p1", -5)]).await;
    produce_commands(&topics.input, &[restock("c3", "p1", 3)]).await;

    let outcomes = outcome_counts(&topics.outcomes, 2, Duration::from_secs(60)).await;
    assert_eq!(
        outcomes,
        HashMap::from([("c1".to_owned(), 1), ("c3".to_owned(), 1)])
    );

    let letters = testing::consume(&topics.dead_letters, 2, Duration::from_secs(30)).await;
    assert_eq!(letters.len(), 2);
    let undecodable = &letters[0];
    assert_eq!(
        undecodable.payload(),
        Some(&b"not avro at all"[..]),
        "bytes kept as received"
    );
    assert!(
        header(undecodable, headers::DLQ_ERROR)
            .unwrap()
            .contains("Confluent wire format")
    );
    assert_eq!(
        header(undecodable, headers::DLQ_SOURCE_TOPIC),
        Some(topics.input.as_str())
    );
    assert_eq!(
        header(undecodable, headers::DLQ_PROCESSOR),
        Some("restock-counter")
    );
    let offset: i64 = header(undecodable, headers::DLQ_SOURCE_OFFSET)
        .unwrap()
        .parse()
        .unwrap();
    let partition: i32 = header(undecodable, headers::DLQ_SOURCE_PARTITION)
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset >= 0 && (0..PARTITIONS).contains(&partition));
    assert!(
        header(undecodable, headers::DLQ_TIME)
            .unwrap()
            .ends_with('Z')
    );
    let refused = &letters[1];
    assert!(
        header(refused, headers::DLQ_ERROR)
            .unwrap()
            .contains("by -5 units")
    );

    let levels = final_levels(&topics.changelog).await;
    assert_eq!(levels["p1"].available, 5, "only the valid restocks counted");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn outputs_carry_the_input_trace_context() {
    testing::init_logs();
    let topics = Topics::create("trace").await;
    let running = Running::start(&topics, &testing::unique("tx"));
    produce_commands(&topics.input, &[restock("c0", "p1", 1)]).await;
    let messages = testing::consume(&topics.outcomes, 1, Duration::from_secs(60)).await;
    assert_eq!(
        header(&messages[0], headers::TRACEPARENT),
        Some(traceparent(0).as_str())
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn state_is_restored_from_the_changelog_after_a_restart() {
    testing::init_logs();
    let topics = Topics::create("restore").await;
    let products: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    let first: Vec<_> = products
        .iter()
        .enumerate()
        .map(|(i, product)| restock(&format!("a{i}"), product, 10))
        .collect();
    let running = Running::start(&topics, &testing::unique("tx"));
    produce_commands(&topics.input, &first).await;
    assert_eq!(
        outcome_counts(&topics.outcomes, 12, Duration::from_secs(60))
            .await
            .len(),
        12
    );
    running.stop().await.expect("a graceful stop ends cleanly");

    // A new instance of the same group restores every partition before handling more.
    let running = Running::start(&topics, &testing::unique("tx"));
    let second: Vec<_> = products
        .iter()
        .enumerate()
        .map(|(i, product)| restock(&format!("b{i}"), product, 1))
        .collect();
    produce_commands(&topics.input, &second).await;
    assert_eq!(
        outcome_counts(&topics.outcomes, 24, Duration::from_secs(60))
            .await
            .len(),
        24
    );
    running.stop().await.unwrap();

    let levels = final_levels(&topics.changelog).await;
    for product in &products {
        assert_eq!(
            levels[product].available, 11,
            "{product}: restored 10 plus 1"
        );
        assert_eq!(levels[product].version, 2, "{product}");
    }
}

#[tokio::test]
async fn a_zombie_with_the_same_transactional_id_cannot_commit() {
    testing::init_logs();
    let topics = Topics::create("fence").await;
    let transactional_id = testing::unique("tx");
    let zombie = Running::start(&topics, &transactional_id);
    produce_commands(&topics.input, &[restock("before", "p1", 1)]).await;
    assert_eq!(
        outcome_counts(&topics.outcomes, 1, Duration::from_secs(60))
            .await
            .len(),
        1
    );

    // A successor registers the same transactional id: the broker bumps the epoch and the
    // zombie's next transaction is refused.
    let successor: BaseProducer<TracingContext> = testing::kafka()
        .transactional_producer(&transactional_id)
        .create_with_context(TracingContext)
        .unwrap();
    successor
        .init_transactions(Duration::from_secs(30))
        .unwrap();

    produce_commands(&topics.input, &[restock("after", "p1", 1)]).await;
    let ended = tokio::time::timeout(Duration::from_secs(60), zombie.task)
        .await
        .expect("the zombie stops by itself")
        .unwrap();
    assert!(matches!(ended, Err(RuntimeError::Fenced(_))), "{ended:?}");
    let outcomes = outcome_counts(&topics.outcomes, 2, Duration::from_secs(5)).await;
    assert_eq!(
        outcomes.keys().collect::<Vec<_>>(),
        vec!["before"],
        "nothing after fencing"
    );
}

/// Starts the restock counter binary as a child process.
fn spawn_counter(topics: &Topics, transactional_id: &str) -> Child {
    spawn_counter_with(topics, transactional_id, &[])
}

fn spawn_counter_with(topics: &Topics, transactional_id: &str, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_restock-counter"))
        .envs(env.iter().copied())
        .args(["--input", &topics.input])
        .args(["--changelog", &topics.changelog])
        .args(["--outcomes", &topics.outcomes])
        .args(["--group", &topics.group])
        .args(["--transactional-id", transactional_id])
        .args(["--batch-max-records", "50"])
        // Restarts in place: take the partitions back without waiting for the dead member.
        .arg("--static-membership")
        .env("SHOP_KAFKA_BROKERS", testing::brokers())
        .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
        .env("SHOP_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(if std::env::var("TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("the restock-counter binary starts")
}

#[tokio::test]
async fn every_command_gets_exactly_one_outcome_across_sigkills() {
    testing::init_logs();
    const COMMANDS: usize = 3_000;
    const PRODUCTS: usize = 20;
    const KILLS: usize = 4;
    let topics = Topics::create("crash").await;
    let transactional_id = testing::unique("tx");
    let commands: Vec<_> = (0..COMMANDS)
        .map(|i| {
            restock(
                &format!("c{i}"),
                &format!("p{}", i % PRODUCTS),
                1 + (i % 3) as i32,
            )
        })
        .collect();
    let tally = Tally::start(&topics.outcomes);

    let mut child = spawn_counter(&topics, &transactional_id);
    let mut kills = 0;
    for chunk in commands.chunks(COMMANDS / 6) {
        let before = tally.total();
        produce_commands(&topics.input, chunk).await;
        if kills < KILLS {
            // Kill as soon as this instance has committed something of the chunk: the rest of
            // it is then being processed, most likely inside an open transaction.
            assert!(
                tally
                    .wait_for_total_above(before, Duration::from_secs(60))
                    .await,
                "the processor made progress before kill {kills}"
            );
            child.kill().expect("SIGKILL the processor"); // std's kill is SIGKILL on Unix
            child.wait().unwrap();
            kills += 1;
            child = spawn_counter(&topics, &transactional_id);
        }
    }

    let outcomes = tally.settle(COMMANDS, Duration::from_secs(120)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let duplicated: Vec<_> = outcomes.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(duplicated.is_empty(), "duplicated outcomes: {duplicated:?}");
    assert_eq!(
        outcomes.len(),
        COMMANDS,
        "every command answered exactly once"
    );

    let mut expected: HashMap<String, i32> = HashMap::new();
    for i in 0..COMMANDS {
        *expected.entry(format!("p{}", i % PRODUCTS)).or_insert(0) += 1 + (i % 3) as i32;
    }
    let levels = final_levels(&topics.changelog).await;
    for (product, total) in &expected {
        assert_eq!(levels[product].available, *total, "{product}");
    }
}

#[tokio::test]
async fn state_follows_partitions_when_an_instance_leaves_and_rejoins() {
    testing::init_logs();
    const ROUNDS: usize = 6;
    const PER_ROUND: usize = 300;
    const PRODUCTS: usize = 30;
    let topics = Topics::create("rebalance").await;
    let tally = Tally::start(&topics.outcomes);
    // Dynamic membership: leaving and joining rebalance at once (cooperative-sticky), so
    // partitions and their state really move between the two instances.
    let dynamic = |id: &str| {
        let mut config = topics.config(id);
        config.static_membership = false;
        config
    };
    let (id_a, id_b) = (testing::unique("tx-a"), testing::unique("tx-b"));
    let a = Running::start_with(&topics, dynamic(&id_a));
    let mut b = Some(Running::start_with(&topics, dynamic(&id_b)));

    let mut sent = 0;
    for round in 0..ROUNDS {
        let commands: Vec<_> = (sent..sent + PER_ROUND)
            .map(|i| restock(&format!("c{i}"), &format!("p{}", i % PRODUCTS), 1))
            .collect();
        produce_commands(&topics.input, &commands).await;
        sent += PER_ROUND;
        assert!(
            tally
                .wait_for_total_above(sent - PER_ROUND, Duration::from_secs(60))
                .await
        );
        match round {
            1 => b
                .take()
                .expect("b runs")
                .stop()
                .await
                .expect("b leaves cleanly"),
            3 => b = Some(Running::start_with(&topics, dynamic(&id_b))),
            _ => {}
        }
    }

    let outcomes = tally.settle(sent, Duration::from_secs(120)).await;
    a.stop().await.unwrap();
    if let Some(b) = b {
        b.stop().await.unwrap();
    }
    let duplicated: Vec<_> = outcomes.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(duplicated.is_empty(), "duplicated outcomes: {duplicated:?}");
    assert_eq!(outcomes.len(), sent, "every command answered");
    let levels = final_levels(&topics.changelog).await;
    for product in 0..PRODUCTS {
        let expected = (0..sent).filter(|i| i % PRODUCTS == product).count();
        assert_eq!(
            levels[&format!("p{product}")].available,
            i32::try_from(expected).unwrap(),
            "p{product}: every restock counted once, whichever instance held the partition"
        );
    }
}

/// Fetches `http://<addr>/metrics` with a bare HTTP/1.0 request.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The value of the first sample of `metric` whose labels contain `labels`.
fn sample(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(metric) && line.contains(labels))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_metrics_are_served() {
    testing::init_logs();
    let topics = Topics::create("sigterm").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn_counter_with(
        &topics,
        &testing::unique("tx"),
        &[("SHOP_METRICS_ADDR", &addr)],
    );

    let commands: Vec<_> = (0..40)
        .map(|i| restock(&format!("c{i}"), "p1", 1))
        .collect();
    produce_commands(&topics.input, &commands).await;
    let key = codec().encode_key(&topics.input, "p1").await.unwrap();
    produce_raw(&topics.input, &key, b"garbage").await;
    assert_eq!(
        outcome_counts(&topics.outcomes, 40, Duration::from_secs(60))
            .await
            .len(),
        40
    );

    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(&addr).unwrap_or_default();
        if sample(
            &text,
            "shop_processor_dead_letters_total",
            "restock-counter",
        )
        .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let input = format!("topic=\"{}\"", topics.input);
    assert_eq!(
        sample(&text, "shop_processor_records_in_total", &input),
        Some(41.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "shop_processor_dead_letters_total", &input),
        Some(1.0),
        "{text}"
    );
    let outcomes = format!("topic=\"{}\"", topics.outcomes);
    assert_eq!(
        sample(&text, "shop_processor_records_out_total", &outcomes),
        Some(40.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "shop_processor_commit_seconds_count",
            "restock-counter"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &text,
            "shop_processor_restore_seconds_count",
            "restock-counter"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &text,
            "shop_processor_rebalances_total",
            "kind=\"assigned\""
        )
        .unwrap()
            >= 1.0
    );

    // SIGTERM: the open transaction is finished, the group left, and the exit code is 0.
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}
