//! `shop-topics` against the real broker and registry: apply is idempotent, drift is reported
//! and fixed, shrinking is refused, partitions grow only when asked, and the binary's exit codes
//! say which.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_topics::cli::{Cli, Command, Outcome, run};
use shop_topics::cluster::Cluster;
use shop_topics::plan::{Change, Refusal};
use shop_topics::{Layout, names};
use std::process::Command as Process;
use std::time::Duration;

fn layout(prefix: &str, partitions: i32) -> Layout {
    Layout {
        prefix: prefix.to_owned(),
        partitions,
        ..Layout::default()
    }
}

fn cluster() -> Cluster {
    Cluster::new(&testing::kafka(), Duration::from_secs(30)).unwrap()
}

fn cli(prefix: &str, partitions: i32, command: Command) -> Cli {
    Cli {
        brokers: testing::brokers(),
        kafka_properties: String::new(),
        registry_url: testing::registry_url(),
        prefix: prefix.to_owned(),
        partitions,
        replication_factor: 1,
        min_insync_replicas: 1,
        timeout_secs: 30,
        command,
    }
}

fn apply(increase_partitions: bool) -> Command {
    Command::Apply {
        increase_partitions,
        skip_schemas: false,
    }
}

/// Runs the CLI entry point and returns its outcome and output.
async fn run_cli(cli: &Cli) -> (Outcome, String) {
    let mut out = Vec::new();
    let outcome = run(cli, &mut out).await.unwrap();
    (outcome, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn apply_twice_changes_nothing_the_second_time() {
    testing::init_logs();
    let prefix = testing::unique("apply") + ".";
    let specs = layout(&prefix, 2).specs();

    let before = cluster().plan(&specs).await.unwrap();
    assert!(
        before
            .iter()
            .all(|plan| plan.changes == vec![Change::Create])
    );

    let (outcome, first) = run_cli(&cli(&prefix, 2, apply(false))).await;
    assert_eq!(outcome, Outcome::InLine, "{first}");
    assert_eq!(first.matches("done    ").count(), specs.len(), "{first}");

    let after = cluster().plan(&specs).await.unwrap();
    assert!(after.iter().all(|plan| plan.is_in_line()), "{after:#?}");
    let counts = cluster()
        .partition_counts(&specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(counts[&format!("{prefix}{}", names::ORDERS_ORDERS)], 2);
    assert_eq!(counts[&format!("{prefix}{}.dlq", names::ORDERS_ORDERS)], 1);

    let (outcome, second) = run_cli(&cli(&prefix, 2, apply(false))).await;
    assert_eq!(outcome, Outcome::InLine, "{second}");
    assert!(
        !second.contains("done    "),
        "second apply changed something:\n{second}"
    );
    // Registration is idempotent too: the same ids come back.
    let ids = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with("schema  "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(ids(&first).len(), 2 * names_with_schemas(&specs));
}

/// Waits until the broker describes `topic`'s `key` as `value`.
async fn wait_for_config(specs: &[shop_topics::TopicSpec], topic: &str, key: &str, value: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let observed = cluster().observe(specs).await.unwrap();
        let current = observed[topic]
            .configs
            .get(key)
            .and_then(|c| c.value.clone());
        if current.as_deref() == Some(value) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: {key} is still {current:?}, not {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names_with_schemas(specs: &[shop_topics::TopicSpec]) -> usize {
    specs.iter().filter(|spec| spec.schemas.is_some()).count()
}

#[tokio::test]
async fn config_drift_is_reported_then_fixed_and_operator_settings_survive() {
    testing::init_logs();
    let prefix = testing::unique("drift") + ".";
    let specs = layout(&prefix, 1).specs();
    cluster()
        .apply(&cluster().plan(&specs).await.unwrap(), false)
        .await
        .unwrap();

    let topic = format!("{prefix}{}", names::CART_COMMANDS);
    let admin: AdminClient<TracingContext> = testing::kafka()
        .admin()
        .create_with_context(TracingContext)
        .unwrap();
    // Someone shortens retention by hand and also sets a config the spec does not own.
    let results = admin
        .alter_configs(
            [&AlterConfig::new(ResourceSpecifier::Topic(&topic))
                .set("retention.ms", "1000")
                .set("max.message.bytes", "2000000")
                .set("cleanup.policy", "delete")
                .set("min.insync.replicas", "1")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    // KRaft applies a config change through the controller and the broker learns it a moment
    // later; a describe right after the alter can still show the old value (seen under load).
    wait_for_config(&specs, &topic, "retention.ms", "1000").await;

    let (outcome, plan) = run_cli(&cli(&prefix, 1, Command::Plan)).await;
    assert_eq!(outcome, Outcome::Drift, "{plan}");
    assert!(
        plan.contains(&format!("drift   {topic}: retention.ms 1000 -> 604800000")),
        "{plan}"
    );
    assert_eq!(plan.matches("drift   ").count(), 1, "{plan}");

    run_cli(&cli(&prefix, 1, apply(false))).await;
    // Apply does not wait for the broker to learn the change (see above); the plan does not
    // judge until it has.
    wait_for_config(&specs, &topic, "retention.ms", "604800000").await;
    let (outcome, plan) = run_cli(&cli(&prefix, 1, Command::Plan)).await;
    assert_eq!(outcome, Outcome::InLine, "{plan}");
    let observed = cluster().observe(&specs).await.unwrap();
    let configs = &observed[&topic].configs;
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("604800000"));
    assert_eq!(
        configs["max.message.bytes"].value.as_deref(),
        Some("2000000")
    );
}

#[tokio::test]
async fn shrinking_is_refused_and_partitions_grow_only_when_asked() {
    testing::init_logs();
    let prefix = testing::unique("size") + ".";
    run_cli(&cli(&prefix, 3, apply(false))).await;
    let topic = format!("{prefix}{}", names::INVENTORY_STOCK);

    let (outcome, output) = run_cli(&cli(&prefix, 2, apply(false))).await;
    assert_eq!(outcome, Outcome::Refused, "{output}");
    assert!(
        output.contains(&format!(
            "refuse  {topic}: has 3 partitions but the spec says 2"
        )),
        "{output}"
    );
    let plan = cluster().plan(&layout(&prefix, 2).specs()).await.unwrap();
    let stock = plan.iter().find(|p| p.spec.name == topic).unwrap();
    assert_eq!(stock.refusals, vec![Refusal::Shrink { have: 3, want: 2 }]);

    let (outcome, output) = run_cli(&cli(&prefix, 4, apply(false))).await;
    assert_eq!(outcome, Outcome::Drift, "{output}");
    assert!(
        output.contains(&format!("skip    {topic}: partitions 3 -> 4")),
        "{output}"
    );
    let counts = cluster().partition_counts(&[topic.as_str()]).await.unwrap();
    assert_eq!(counts[&topic], 3, "not grown without --increase-partitions");

    let (outcome, output) = run_cli(&cli(&prefix, 4, apply(true))).await;
    assert_eq!(outcome, Outcome::InLine, "{output}");
    let counts = cluster().partition_counts(&[topic.as_str()]).await.unwrap();
    assert_eq!(counts[&topic], 4);
}

#[tokio::test]
async fn the_binary_exits_with_what_it_found() {
    testing::init_logs();
    let prefix = testing::unique("bin") + ".";
    let exit = |args: &[&str]| {
        let output = Process::new(env!("CARGO_BIN_EXE_shop-topics"))
            .args(args)
            .env("SHOP_KAFKA_BROKERS", testing::brokers())
            .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
            .env("SHOP_TOPIC_PREFIX", &prefix)
            .env("SHOP_TOPIC_PARTITIONS", "1")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = exit(&["plan"]);
    assert_eq!(code, Some(2), "drift before apply:\n{out}");
    let (code, out) = exit(&["apply"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = exit(&["plan"]);
    assert_eq!(code, Some(0), "in line after apply:\n{out}");
    let (code, out) = exit(&["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(&format!("{prefix}orders.orders")), "{out}");

    let output = Process::new(env!("CARGO_BIN_EXE_shop-topics"))
        .args(["--brokers", "127.0.0.1:1", "--timeout-secs", "2", "plan"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("while reading topics from the cluster"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn applied_subjects_are_pinned_to_backward() {
    testing::init_logs();
    let prefix = testing::unique("compat") + ".";
    run_cli(&cli(&prefix, 1, apply(false))).await;
    let admin = shop_schemas::registry::RegistryAdmin::new(&shop_schemas::RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let subject = format!("{prefix}{}-value", names::ORDERS_ORDERS);
    assert_eq!(
        admin.compatibility(&subject).await.unwrap().as_deref(),
        Some("BACKWARD")
    );
    assert!(admin.subjects().await.unwrap().contains(&subject));
}
