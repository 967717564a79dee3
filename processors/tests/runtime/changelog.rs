//! The changelog gets one record per changed key per transaction, with the key's final state:
//! counted on the topic, restored after a restart, and absent for an aborted batch.

use crate::header;
use crate::helpers::{
    Running, Topics, codec, outcome_counts, produce_commands_to, restock, traceparent,
};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use shop_platform::testing::{self, consume_uncommitted};
use shop_schemas::inventory::StockLevel;
use shop_topics::names::headers;
use std::time::Duration;

/// Every input record goes to this partition, whatever its key hashes to, so the order in
/// which the runtime sees them (and so each batch's records) is the order produced.
const PARTITION: i32 = 0;
/// A batch closes at this many records and never by time (see `config`).
const BATCH: usize = 100;

/// A changelog record as `(key, available, version, traceparent)`.
async fn decode(records: &[OwnedMessage]) -> Vec<(String, i32, i64, String)> {
    let codec = codec();
    let mut decoded = Vec::new();
    for record in records {
        assert_eq!(record.partition(), PARTITION, "the input's partition");
        let key = codec.decode_key(record.key().unwrap()).await.unwrap();
        let level: StockLevel = codec.decode(record.payload().unwrap()).await.unwrap();
        let trace = header(record, headers::TRACEPARENT).unwrap().to_owned();
        decoded.push((key, level.available, level.version, trace));
    }
    decoded
}

/// The committed changelog, expecting `count` records: it reads one more, briefly, so a
/// surplus record would show.
async fn committed_changelog(topics: &Topics, count: usize) -> Vec<(String, i32, i64, String)> {
    let records = testing::consume(&topics.changelog, count + 1, Duration::from_secs(3)).await;
    decode(&records).await
}

#[tokio::test]
async fn the_changelog_gets_one_record_per_changed_key_per_batch() {
    testing::init_logs();
    let topics = Topics::create("coalesce").await;
    // Batches close by count only: each holds exactly `BATCH` records whatever the timing, and
    // one that is short of them stays open (or aborts).
    let config = |name: &str| {
        let mut config = topics.config(&testing::unique(name));
        config.batch_max_records = BATCH;
        config.batch_linger = Duration::from_secs(600);
        config
    };
    let entry = |key: &str, available: i32, trace: usize| {
        (
            key.to_owned(),
            available,
            i64::from(available),
            traceparent(trace),
        )
    };

    // Two batches of 100 records alternating between two keys, 50 changes per key and batch:
    // 4 changelog records, each with the trace of the last record that changed its key.
    let commands: Vec<_> = (0..2 * BATCH)
        .map(|i| restock(&format!("c{i}"), &format!("p{}", 1 + i % 2), 1))
        .collect();
    produce_commands_to(&topics.input, Some(PARTITION), 0, &commands).await;
    let a = Running::start_with(&topics, config("tx-a"));
    assert_eq!(
        outcome_counts(&topics.outcomes, 200, Duration::from_secs(60))
            .await
            .len(),
        200
    );
    let batches = vec![
        entry("p1", 50, 98),
        entry("p2", 50, 99),
        entry("p1", 100, 198),
        entry("p2", 100, 199),
    ];
    assert_eq!(committed_changelog(&topics, 4).await, batches);

    // A batch of 30 changes to p1 is handled (its outcomes are on the topic, uncommitted),
    // then aborted: a second instance joins and the first gives partitions up. The aborted
    // batch wrote nothing to the changelog, not even records a `read_committed` reader skips.
    let more: Vec<_> = (200..300)
        .map(|i| restock(&format!("c{i}"), "p1", 1))
        .collect();
    produce_commands_to(&topics.input, Some(PARTITION), 200, &more[..30]).await;
    let handled = consume_uncommitted(&topics.outcomes, 230, Duration::from_secs(60)).await;
    assert_eq!(handled.len(), 230, "the open batch was handled");
    let b = Running::start_with(&topics, config("tx-b"));
    // 200 committed + 30 aborted + 30 handled again by whichever instance owns the partition.
    let replayed = consume_uncommitted(&topics.outcomes, 260, Duration::from_secs(60)).await;
    assert_eq!(
        replayed.len(),
        260,
        "the batch was aborted and handled again"
    );
    let changelog = consume_uncommitted(&topics.changelog, 5, Duration::from_secs(3)).await;
    assert_eq!(
        decode(&changelog).await,
        batches,
        "neither the aborted batch nor the open one wrote to the changelog"
    );

    // 70 more records close the replayed batch: one more record, p1's final state.
    produce_commands_to(&topics.input, Some(PARTITION), 230, &more[30..]).await;
    let outcomes = outcome_counts(&topics.outcomes, 300, Duration::from_secs(60)).await;
    assert_eq!(outcomes.len(), 300);
    let mut expected = batches.clone();
    expected.push(entry("p1", 200, 299));
    assert_eq!(committed_changelog(&topics, 5).await, expected);
    let changelog = consume_uncommitted(&topics.changelog, 6, Duration::from_secs(3)).await;
    assert_eq!(
        changelog.len(),
        5,
        "no aborted changelog records in the log"
    );
    // Every batch is closed, so both stop at once (an open one would keep `poll` waiting for
    // up to its linger).
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let outcomes = outcome_counts(&topics.outcomes, 301, Duration::from_secs(3)).await;
    assert_eq!(outcomes.len(), 300);
    assert!(outcomes.values().all(|count| *count == 1), "{outcomes:?}");

    // A new instance restores the final states (p1 200, p2 100) and goes on from them.
    let c = Running::start(&topics, &testing::unique("tx-c"));
    let last: Vec<_> = ["p1", "p2"]
        .iter()
        .enumerate()
        .map(|(i, product)| restock(&format!("c{}", 300 + i), product, 1))
        .collect();
    produce_commands_to(&topics.input, Some(PARTITION), 300, &last).await;
    assert_eq!(
        outcome_counts(&topics.outcomes, 302, Duration::from_secs(60))
            .await
            .len(),
        302
    );
    c.stop().await.unwrap();
    expected.extend([entry("p1", 201, 300), entry("p2", 101, 301)]);
    assert_eq!(committed_changelog(&topics, 7).await, expected);
}
