//! The projector's offsets, kept in the database next to the rows they produced: the tables
//! and the position in every input partition change in one transaction, so after any crash
//! they agree, and the projector resumes from here, never from offsets stored in Kafka.

use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// A topic and partition.
pub(crate) type Partition = (String, i32);

/// The next offset to apply of every partition `group_id` has applied records of.
pub(crate) async fn load(
    pool: &PgPool,
    group_id: &str,
) -> Result<HashMap<Partition, i64>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE group_id = $1",
        group_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.topic, row.partition), row.next_offset))
        .collect())
}

/// Locks `partition`'s row for this transaction and returns its next offset (0 if new). Two
/// instances that both believe they own a partition (one about to learn it was revoked) are
/// serialised here, and the second skips what the first applied.
pub(crate) async fn lock(
    db: &mut PgConnection,
    group_id: &str,
    (topic, partition): &Partition,
) -> Result<i64, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO projector_offsets (group_id, topic, partition, next_offset)
         VALUES ($1, $2, $3, 0)
         ON CONFLICT (group_id, topic, partition) DO NOTHING",
        group_id,
        topic,
        partition
    )
    .execute(&mut *db)
    .await?;
    sqlx::query_scalar!(
        "SELECT next_offset FROM projector_offsets
         WHERE group_id = $1 AND topic = $2 AND partition = $3
         FOR UPDATE",
        group_id,
        topic,
        partition
    )
    .fetch_one(db)
    .await
}

/// Moves `partition`'s next offset to `next_offset` (the row is locked by [`lock`]).
pub(crate) async fn store(
    db: &mut PgConnection,
    group_id: &str,
    (topic, partition): &Partition,
    next_offset: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE projector_offsets SET next_offset = $4
         WHERE group_id = $1 AND topic = $2 AND partition = $3",
        group_id,
        topic,
        partition,
        next_offset
    )
    .execute(db)
    .await
    .map(drop)
}
