//! A new owner restores state only once the previous owner's last transaction is complete.
//!
//! A transaction in its commit phase (acknowledged, markers not yet written: a broker that just
//! restarted finishes them after loading its transaction log) holds the consumer back, since it
//! asks for stable offsets (KIP-447), but not a restore that reads the changelog up to its last
//! stable offset. Restoring first would resume after the transaction's inputs without its state
//! changes. The test holds such a transaction open by hand, which looks the same to the new
//! owner: offsets pending for its group, changelog records above the last stable offset.

use crate::helpers::{
    Running, Topics, codec, final_levels, outcome_counts, produce_commands, produce_record,
    producer, restock,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_schemas::codec::Part;
use shop_schemas::inventory::StockLevel;
use std::time::Duration;

/// How long the previous owner's transaction stays open after the new owner started: long
/// enough for the new owner to join the group and reach its restore.
const HELD_OPEN: Duration = Duration::from_secs(6);

#[tokio::test]
async fn a_restore_waits_for_the_previous_owners_last_transaction() {
    testing::init_logs();
    let topics = Topics::create("stable").await;
    let codec = codec();

    // The input the previous owner handled: 10 units of p0.
    let first = restock("a0", "p0", 10);
    let delivered = produce_record(&producer(), &codec, &topics.input, "p0", &first).await;
    let (input_partition, input_offset) = (delivered.partition, delivered.offset);

    // The previous owner's transaction: the state it made and the offset after its input,
    // both written, not yet committed.
    let previous_owner: BaseProducer<TracingContext> = testing::kafka()
        .transactional_producer(&testing::unique("previous-owner"))
        .create_with_context(TracingContext)
        .unwrap();
    previous_owner
        .init_transactions(Duration::from_secs(30))
        .unwrap();
    previous_owner.begin_transaction().unwrap();
    let state = StockLevel {
        product_id: "p0".to_owned(),
        available: 10,
        reserved: 0,
        reservations: Vec::new(),
        version: 5,
        updated_at: 1,
    };
    let state_key = codec.encode_key(&topics.changelog, "p0").await.unwrap();
    let state_value = codec
        .encode(&topics.changelog, Part::Value, &state)
        .await
        .unwrap();
    previous_owner
        .send(
            BaseRecord::<[u8], [u8]>::to(&topics.changelog)
                .key(&state_key)
                .payload(&state_value)
                .partition(input_partition),
        )
        .map_err(|(error, _)| error)
        .unwrap();
    previous_owner.flush(Duration::from_secs(30)).unwrap();
    // Outside the group (generation -1), as a transactional producer without group metadata
    // commits: accepted, and pending for the group until the transaction ends.
    let group: BaseConsumer = testing::kafka().consumer(&topics.group).create().unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(
            &topics.input,
            input_partition,
            Offset::Offset(input_offset + 1),
        )
        .unwrap();
    previous_owner
        .send_offsets_to_transaction(
            &offsets,
            &group.group_metadata().unwrap(),
            Duration::from_secs(30),
        )
        .unwrap();

    // The new owner starts while that transaction is open; it ends a while later.
    let running = Running::start(&topics, &testing::unique("tx"));
    tokio::time::sleep(HELD_OPEN).await;
    previous_owner
        .commit_transaction(Duration::from_secs(30))
        .unwrap();

    // One more unit: handled on top of the restored 10, and a0 not handled again.
    produce_commands(&topics.input, &[restock("b0", "p0", 1)]).await;
    let outcomes = outcome_counts(&topics.outcomes, 1, Duration::from_secs(60)).await;
    running.stop().await.expect("a graceful stop ends cleanly");
    assert_eq!(outcomes.get("b0"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("a0"), None, "{outcomes:?}");
    let level = &final_levels(&topics.changelog).await["p0"];
    assert_eq!(
        (level.available, level.version),
        (11, 6),
        "the previous owner's 10 units were restored before b0: {level:?}"
    );
}
