//! The lag monitor against the real broker: lag in records and seconds, statuses, markers,
//! rates and metrics, each test with its own topic and groups and a monitor of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/browser.rs"]
mod browser;
mod dashboard;
mod harness;

use harness::{Committer, INTERVAL, Monitor, STALL_AFTER, STOP_AFTER, as_i64, produce};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::TracingContext;
use shop_platform::testing::{self, create_topic, unique};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_produced_minus_consumed_per_partition_even_without_a_commit() {
    let topic = unique("lag-records");
    let group = unique("lag-records-group");
    create_topic(&topic, 3).await;
    produce(&topic, 0, 30).await;
    produce(&topic, 1, 20).await;
    produce(&topic, 2, 10).await;
    let committer = Committer::new(&group);
    committer.commit(&topic, 0, 12);
    committer.commit(&topic, 1, 20);
    // Partition 2: never committed; the group starts there at the log start.

    let monitor = Monitor::start(&[&group]).await;
    let expected = [(0, 18, Some(12)), (1, 0, Some(20)), (2, 10, None)];
    for (partition, lag, committed) in expected {
        let found = monitor
            .wait_for_partition(&group, &topic, partition, PATIENCE, "its lag", |p| {
                p["lag_records"] == lag
            })
            .await;
        assert_eq!(found["committed_offset"].as_i64(), committed, "{found:#}");
        assert_eq!(
            as_i64(&found["log_end_offset"]),
            [30, 20, 10][partition as usize]
        );
        if lag > 0 {
            let seconds = found["lag_seconds"].as_f64().expect("seconds are known");
            assert!(seconds >= 0.0, "{found:#}");
        } else {
            assert_eq!(found["lag_seconds"].as_f64(), Some(0.0), "{found:#}");
        }
    }
    let group_report = monitor.group(&group).await.unwrap();
    assert_eq!(group_report["lag_records"], 28, "{group_report:#}");
    assert_eq!(group_report["topics"][0]["lag_records"], 28);

    // The same figures reach Prometheus, labelled by group, topic and partition.
    let metrics = monitor.metrics().await;
    let line = format!(r#"shop_lag_records{{group="{group}",topic="{topic}",partition="0"}} 18"#);
    assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    // One-hot status: exactly one of the five is 1 (which one depends on timing: partition 2
    // has never been committed, so it turns STOPPED after `stop_after`).
    let lit: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with(&format!(r#"shop_lag_group_status{{group="{group}","#)))
        .filter(|line| line.ends_with(" 1"))
        .collect();
    assert_eq!(lit.len(), 1, "one status is 1: {lit:?}");

    // More records: lag follows, and the topic shows a produce rate.
    produce(&topic, 0, 5).await;
    monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "lag 23", |p| {
            p["lag_records"] == 23
        })
        .await;
    let report = monitor.report().await.unwrap();
    let topic_report = report["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic.as_str())
        .unwrap()
        .clone();
    assert_eq!(topic_report["partitions"], 3);
    assert_eq!(topic_report["log_end_offset"], 65);
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_stops_committing_with_lag_becomes_stopped() {
    let topic = unique("lag-stopped");
    let group = unique("lag-stopped-group");
    create_topic(&topic, 1).await;
    produce(&topic, 0, 10).await;
    let monitor = Monitor::start(&[&group]).await;
    let committer = Committer::new(&group);
    let mut offset = 0;
    let started = Instant::now();
    // A live consumer: moving forward, but slower than the work.
    while offset < 4 {
        offset += 1;
        committer.commit(&topic, 0, offset);
        tokio::time::sleep(INTERVAL).await;
    }
    let alive = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "committed offset 4", |p| {
            p["committed_offset"] == 4
        })
        .await;
    assert_ne!(alive["status"], "STOPPED", "{alive:#}");
    drop(committer);
    let stopped = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "STOPPED", |p| {
            p["status"] == "STOPPED"
        })
        .await;
    assert!(
        started.elapsed() >= STOP_AFTER,
        "STOPPED before {STOP_AFTER:?} of silence: {stopped:#}"
    );
    assert_eq!(stopped["lag_records"], 6);
    let group_report = monitor.group(&group).await.unwrap();
    assert_eq!(group_report["status"], "STOPPED", "{group_report:#}");
    assert!(
        group_report["reason"]
            .as_str()
            .unwrap()
            .contains("no commit"),
        "{group_report:#}"
    );
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_committing_without_progress_becomes_stalled_then_ok_when_it_moves() {
    let topic = unique("lag-stalled");
    let group = unique("lag-stalled-group");
    create_topic(&topic, 1).await;
    produce(&topic, 0, 10).await;
    let monitor = Monitor::start(&[&group]).await;
    let committer = Committer::new(&group);
    let stuck_since = Instant::now();
    let mut stalled = None;
    while stuck_since.elapsed() < PATIENCE {
        committer.commit(&topic, 0, 3);
        let found = monitor.partition(&group, &topic, 0).await;
        if let Some(found) = found {
            assert_ne!(found["status"], "STOPPED", "it commits: {found:#}");
            if found["status"] == "STALLED" {
                stalled = Some(found);
                break;
            }
        }
        tokio::time::sleep(INTERVAL).await;
    }
    let stalled = stalled.expect("STALLED within the patience");
    assert!(stuck_since.elapsed() >= STALL_AFTER, "{stalled:#}");
    assert_eq!(stalled["lag_records"], 7);
    assert!(
        stalled["reason"]
            .as_str()
            .unwrap()
            .contains("committing offset 3"),
        "{stalled:#}"
    );
    committer.commit(&topic, 0, 10);
    monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "OK at the end", |p| {
            p["status"] == "OK" && p["lag_records"] == 0
        })
        .await;
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_transactional_group_shows_no_lag_and_stays_ok() {
    let topic = unique("lag-transactional");
    let group = unique("lag-transactional-group");
    create_topic(&topic, 1).await;
    let producer: FutureProducer<TracingContext> = testing::kafka()
        .transactional_producer(&unique("lag-tx"))
        .create_with_context(TracingContext)
        .unwrap();
    let timeout = Duration::from_secs(10);
    producer.init_transactions(timeout).unwrap();
    // Two transactions of 5: offsets 0-4, a marker at 5, 6-10, a marker at 11.
    for _ in 0..2 {
        producer.begin_transaction().unwrap();
        for index in 0..5 {
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(0)
                        .payload(&format!("{index}")),
                    timeout,
                )
                .await
                .map_err(|(error, _)| error)
                .unwrap();
        }
        producer.commit_transaction(timeout).unwrap();
    }
    // A processor that read all ten records commits, inside its own transaction, the offset
    // after the last one: 11, the marker's. The end is 12.
    let committer = Committer::new(&group);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(11))
        .unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(
            &offsets,
            &committer.consumer().group_metadata().unwrap(),
            timeout,
        )
        .unwrap();
    producer.commit_transaction(timeout).unwrap();

    let monitor = Monitor::start(&[&group]).await;
    let found = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "committed offset 11", |p| {
            p["committed_offset"] == 11
        })
        .await;
    assert!(
        as_i64(&found["log_end_offset"]) > 11,
        "the commit marker sits between the committed offset and the end: {found:#}"
    );
    assert_eq!(found["lag_records"], 0, "a marker is not lag: {found:#}");
    assert_eq!(found["lag_seconds"].as_f64(), Some(0.0));
    assert_eq!(found["status"], "OK");

    // An open transaction: its records are past the last stable offset, not lag yet.
    producer.begin_transaction().unwrap();
    for _ in 0..3 {
        producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(0)
                    .payload("open"),
                timeout,
            )
            .await
            .map_err(|(error, _)| error)
            .unwrap();
    }
    let open = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "the open transaction", |p| {
            as_i64(&p["log_end_offset"]) > as_i64(&p["stable_offset"])
        })
        .await;
    assert_eq!(open["lag_records"], 0, "{open:#}");

    // Silent for longer than STOPPED waits: still OK, nothing to read.
    tokio::time::sleep(STOP_AFTER + INTERVAL * 2).await;
    let quiet = monitor.partition(&group, &topic, 0).await.unwrap();
    assert_eq!(quiet["status"], "OK", "{quiet:#}");
    assert_eq!(quiet["lag_records"], 0, "{quiet:#}");
    producer.abort_transaction(timeout).unwrap();
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_in_seconds_grows_while_a_group_is_paused() {
    let topic = unique("lag-seconds");
    let group = unique("lag-seconds-group");
    create_topic(&topic, 1).await;
    produce(&topic, 0, 10).await;
    Committer::new(&group).commit(&topic, 0, 4);
    let monitor = Monitor::start(&[&group]).await;
    let first = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "lag seconds", |p| {
            p["lag_seconds"].is_f64()
        })
        .await;
    let first_seconds = first["lag_seconds"].as_f64().unwrap();
    let pause = Duration::from_secs(2);
    tokio::time::sleep(pause).await;
    let second = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "a later sample", |p| {
            p["lag_seconds"].as_f64().unwrap_or(0.0) > first_seconds
        })
        .await;
    let grown = second["lag_seconds"].as_f64().unwrap() - first_seconds;
    let expected = pause.as_secs_f64();
    assert!(
        grown >= expected - 0.5 && grown <= expected + 2.0,
        "lag seconds grew by {grown} over a pause of {expected}s: {first:#} then {second:#}"
    );
    assert_eq!(second["lag_records"], 6, "the records did not change");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_going_backwards_is_a_rewind_and_history_has_the_group() {
    let topic = unique("lag-rewind");
    let group = unique("lag-rewind-group");
    create_topic(&topic, 1).await;
    produce(&topic, 0, 20).await;
    let monitor = Monitor::start(&[&group]).await;
    let committer = Committer::new(&group);
    committer.commit(&topic, 0, 20);
    monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "caught up", |p| {
            p["committed_offset"] == 20
        })
        .await;
    committer.commit(&topic, 0, 5);
    let rewound = monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "REWIND", |p| {
            p["status"] == "REWIND"
        })
        .await;
    assert_eq!(rewound["lag_records"], 15);
    assert!(
        rewound["reason"].as_str().unwrap().contains("from 20"),
        "{rewound:#}"
    );
    let history: serde_json::Value =
        reqwest::get(format!("http://{}/api/v1/history", monitor.address))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let points = history["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{history:#}");
    let last = &points[points.len() - 1]["groups"][&group];
    assert_eq!(last["topics"][&topic]["lag_records"], last["lag_records"]);
    monitor.stop().await;
}
