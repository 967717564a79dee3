//! The database goes away in the middle of a stream: the real PostgreSQL of the local stack is
//! stopped for a while (`stack stop postgres`) and started again (`stack up`). The projector
//! stalls, retries, and catches up with nothing lost.
//!
//! A test binary of its own, holding one test: cargo runs test binaries one after another, so
//! no other test needs the database while it is down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

// Shared with the projector tests; this test uses only part of them.
#[allow(dead_code)]
#[path = "../projector/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../projector/stream.rs"]
mod stream;

use harness::{Setup, count, database, drop_database, wait_caught_up};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn stack(args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deployments/local/stack");
    let status = Command::new(script).args(args).status().unwrap();
    assert!(status.success(), "stack {args:?} failed");
}

/// Starts PostgreSQL again even if the test fails half-way, so later tests find it running.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        stack(&["up"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_waits_out_a_database_outage_and_loses_nothing() {
    let setup = Setup::new("outage").await;
    let (name, pool) = database("projector_outage").await;
    let settings = DatabaseSettings::new(testing::database_url())
        .with_database(&name)
        .unwrap();
    let first = stream::script(50);
    setup.produce(&first).await;
    let projector = setup.spawn(&setup.group(), &pool);
    wait_caught_up(
        &pool,
        &setup.group(),
        &setup.end_offsets(),
        Duration::from_secs(60),
    )
    .await;

    let restart = RestartOnDrop;
    stack(&["stop", "postgres"]);
    // Records keep coming while the database is away.
    let second = stream::script(300);
    setup.produce(&second).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down = database::connect(&settings).await;
    assert!(down.is_err(), "the database is really down");
    stack(&["up"]);
    std::mem::forget(restart);

    // The pool reconnects by itself; the projector retries its batch and catches up.
    let started = Instant::now();
    let ends = setup.end_offsets();
    wait_caught_up(&pool, &setup.group(), &ends, Duration::from_secs(90)).await;
    tracing::info!(caught_up_in = ?started.elapsed(), "after the outage");
    projector.stop().await;
    let history: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM order_status_history ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(history, stream::expected_events(300));
    assert_eq!(count(&pool, "orders").await, 300);
    drop_database(&name, pool).await;
}
