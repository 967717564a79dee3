//! The dashboard driven by a real broker: a real group's lag shows in headless Chromium and the
//! page follows it as records arrive and the group catches up, without a reload. (The
//! `dashboard` test covers rendering from hand-made reports; this one, the whole path.)

use crate::browser::Browser;
use crate::harness::{Committer, Monitor, produce};
use shop_platform::testing::{create_topic, unique};
use std::path::PathBuf;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// A script returning whether the partition's row shows `lag` records.
fn row_shows(group: &str, topic: &str, lag: u64) -> String {
    let selector = format!(
        "#partitions tr[data-group={}][data-topic={}][data-partition=\"0\"] td[data-field=\"lag_records\"]",
        serde_json::to_string(group).unwrap(),
        serde_json::to_string(topic).unwrap(),
    );
    format!(
        "const cell = document.querySelector({}); return cell !== null && cell.dataset.value === {};",
        serde_json::to_string(&selector).unwrap(),
        serde_json::to_string(&lag.to_string()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_real_groups_lag_and_follows_it() {
    let topic = unique("lag-dashboard");
    let group = unique("lag-dashboard-group");
    create_topic(&topic, 1).await;
    produce(&topic, 0, 10).await;
    let committer = Committer::new(&group);
    committer.commit(&topic, 0, 4);
    let monitor = Monitor::start(&[&group]).await;
    monitor
        .wait_for_partition(&group, &topic, 0, PATIENCE, "lag 6", |p| {
            p["lag_records"] == 6
        })
        .await;

    let browser = Browser::start().await;
    browser.goto(&format!("http://{}/", monitor.address)).await;
    browser
        .wait_until(
            "the row shows lag 6",
            PATIENCE,
            &row_shows(&group, &topic, 6),
        )
        .await;
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts/dashboard-live.png");
    browser.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).is_ok_and(|file| file.len() > 10_000),
        "a real screenshot at {}",
        shot.display()
    );

    produce(&topic, 0, 5).await;
    browser
        .wait_until(
            "the row follows to lag 11",
            PATIENCE,
            &row_shows(&group, &topic, 11),
        )
        .await;
    committer.commit(&topic, 0, 15);
    browser
        .wait_until(
            "the row follows to lag 0",
            PATIENCE,
            &row_shows(&group, &topic, 0),
        )
        .await;
    monitor.stop().await;
}
