//! The load generator against a real pipeline: every processor, the projector and the ingress
//! in this process on fresh topics and a fresh database (as `ingress/tests/e2e` starts them),
//! the real broker, registry and PostgreSQL. A few seconds of load must end every checkout
//! with the status its kind of session calls for, and the report must add up; the baseline
//! chain must deliver every record in both modes and delete its topics.
//!
//! These check behaviour and counts, never timings: the figures come from `shop-load` runs
//! recorded in `docs/performance.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

use rdkafka::consumer::{BaseConsumer, Consumer};
use shop_ingress::{AppState, AuthSettings, Settings, serve};
use shop_loadgen::config::{BaselineConfig, KafkaTarget, LoadConfig, RelayMode};
use shop_loadgen::report::Report;
use shop_loadgen::schedule::{Mix, Schedule, SessionKind};
use shop_loadgen::{run_baseline, run_load, write_report};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use shop_processors::app::{PipelineSettings, ProcessorKind, run_many};
use shop_readmodel::projector::{self, ProjectorConfig};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use shop_topics::{Layout, TopicNames};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "loadgen-test-secret";

struct Shop {
    base: String,
    prefix: String,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    database: String,
}

fn registry() -> RegistryConfig {
    RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    }
}

impl Shop {
    async fn start() -> Self {
        testing::init_logs();
        let prefix = format!("{}.", testing::unique("loadgen"));
        let layout = Layout {
            prefix: prefix.clone(),
            partitions: 3,
            ..Layout::default()
        };
        shop_topics::provision(
            &testing::kafka(),
            &registry(),
            &layout.specs(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        let database = testing::unique("loadgen");
        let db =
            database::create_database(&DatabaseSettings::new(testing::database_url()), &database)
                .await
                .unwrap();
        let pool = database::connect(&db).await.unwrap();
        shop_readmodel::migrate(&pool).await.unwrap();

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut pipeline = PipelineSettings::new(testing::brokers(), testing::registry_url());
        pipeline.prefix = prefix.clone();
        pipeline.batch_linger = Duration::from_millis(5);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            run_many(&ProcessorKind::ALL, &pipeline, stop)
                .await
                .unwrap();
        }));
        let codec = Arc::new(AvroCodec::new(&registry(), Registration::LookupOnly).unwrap());
        let mut config = ProjectorConfig::new(
            format!("{prefix}shop-projector"),
            TopicNames::with_prefix(&prefix),
        );
        config.batch_linger = Duration::from_millis(5);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            projector::run(config, &testing::kafka(), codec, pool, stop)
                .await
                .unwrap();
        }));
        let mut settings = Settings::new(
            testing::brokers(),
            testing::registry_url(),
            db.url.clone(),
            AuthSettings::hs256(SECRET),
        );
        settings.topic_prefix = prefix.clone();
        let state = AppState::connect(&settings).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            serve(listener, state, stop).await.unwrap();
        }));
        let shop = Self {
            base,
            prefix,
            shutdown,
            tasks,
            database,
        };
        shop.wait_ready().await;
        shop
    }

    /// `/ready` answers 503 until the outcome listener and the read model's tables are there.
    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client
                .get(format!("{}/ready", self.base))
                .send()
                .await
                .is_ok_and(|response| response.status() == reqwest::StatusCode::OK);
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the ingress never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        database::drop_database(
            &DatabaseSettings::new(testing::database_url()),
            &self.database,
        )
        .await
        .unwrap();
    }
}

/// How many measured sessions of each kind the timetable holds.
fn expected_kinds(mix: &Mix, schedule: &Schedule, first_measured: u64) -> [u64; 3] {
    let mut counts = [0; 3];
    for k in first_measured..schedule.count() {
        let index = SessionKind::ALL
            .iter()
            .position(|kind| *kind == mix.kind(k))
            .unwrap();
        counts[index] += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_few_seconds_of_load_end_every_checkout_as_its_kind_says() {
    let shop = Shop::start().await;
    let target = KafkaTarget {
        settings: testing::kafka(),
        registry_url: testing::registry_url(),
        topic_prefix: shop.prefix.clone(),
    };
    let mut config = LoadConfig::new(&shop.base, SECRET.as_bytes().to_vec(), target);
    config.rate = 20.0;
    config.warmup = Duration::from_secs(1);
    config.duration = Duration::from_secs(3);
    config.mix = Mix {
        decline_percent: 20.0,
        scarce_percent: 30.0,
    };
    config.plentiful_products = 2;
    // 24 scarce sessions in all for 5 units: the rest must be rejected out of stock.
    config.scarce_stock = 5;
    config.terminal_timeout = Duration::from_secs(30);
    let report = run_load(&config, CancellationToken::new()).await.unwrap();

    let schedule = Schedule::new(20.0, Duration::from_secs(4)).unwrap();
    let first = schedule.first_at_or_after(Duration::from_secs(1));
    let [confirm, decline, scarce] = expected_kinds(&config.mix, &schedule, first);
    let orders = &report.orders;
    assert_eq!(report.schedule.planned, 80);
    assert_eq!(report.schedule.measured, 60);
    assert_eq!(report.schedule.dropped, 0);
    assert!(orders.timed_out.is_empty(), "{:?}", orders.timed_out);
    assert!(
        orders.checkout_refused.is_empty(),
        "{:?}",
        orders.checkout_refused
    );
    assert_eq!(orders.unexpected, 0, "{:?}", orders.by_kind);
    assert_eq!(orders.duplicate_terminal_events, 0);
    assert_eq!(orders.undecodable_records, 0);
    assert_eq!(orders.checkouts_accepted, 60);
    assert_eq!(report.add_item.outcomes.get("202"), Some(&60));
    assert_eq!(report.checkout.outcomes.get("202"), Some(&60));
    assert_eq!(orders.cancelled.count, decline);
    assert_eq!(
        orders.cancelled.reasons.get("card_declined"),
        Some(&decline)
    );
    // Never oversold: exactly the scarce stock was confirmed over the whole run.
    assert_eq!(orders.scarce_confirmed, 5);
    let scarce_rejected = orders.rejected.reasons.get("out_of_stock").copied();
    assert!(scarce_rejected.is_some_and(|n| n > 0 && n <= scarce));
    assert_eq!(
        orders.confirmed.count + orders.rejected.count + orders.cancelled.count,
        confirm + decline + scarce
    );
    let by_kind = &orders.by_kind[&SessionKind::Confirm];
    assert_eq!(by_kind.get("CONFIRMED"), Some(&confirm));
    assert!(orders.confirmed.checkout_to_terminal.p50_ms > 0.0);
    assert!(!report.series.is_empty());
    assert!(report.series[0].warmup);

    // The JSON and the chart are written and read back.
    let folder = std::env::temp_dir().join(testing::unique("shop-load"));
    let json = folder.join("load.json");
    let chart = write_report(&Report::Load(report.clone()), &json, None).unwrap();
    let back: Report = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // Floats may come back one ulp off (serde_json parses fast, not exactly): compare counts.
    let Report::Load(back) = back else {
        panic!("not a load report: {back:?}")
    };
    assert_eq!(back.orders.by_kind, report.orders.by_kind);
    assert_eq!(
        (
            back.schedule.planned,
            back.schedule.measured,
            back.schedule.started
        ),
        (80, 60, 80)
    );
    assert_eq!(back.series.len(), report.series.len());
    assert!(std::fs::read(&chart).unwrap().starts_with(b"\x89PNG"));
    std::fs::remove_dir_all(&folder).unwrap();

    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_baseline_chain_delivers_every_record_in_both_modes_and_cleans_up() {
    for mode in [RelayMode::Plain, RelayMode::Transactional] {
        let mut config = BaselineConfig::new(testing::kafka(), mode, 100.0);
        config.run_id = testing::unique(&format!("baseline-{}", mode.as_str()));
        config.warmup = Duration::from_secs(1);
        config.duration = Duration::from_secs(2);
        config.partitions = 3;
        config.burst_records = 2_000;
        let report = run_baseline(&config, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(report.paced.sent, 300, "{mode:?}");
        assert_eq!(report.paced.received, 300, "{mode:?}");
        assert_eq!(report.paced.lost, 0, "{mode:?}");
        assert_eq!(report.paced.end_to_end.count, 200, "{mode:?}");
        let burst = report.burst.as_ref().unwrap();
        assert_eq!(burst.received, 2_000, "{mode:?}");
        assert!(burst.records_per_s > 0.0);
        assert_eq!(report.topic_names.len(), 7);
        assert!(report.topics_deleted, "{mode:?}");
        if mode == RelayMode::Transactional {
            assert!(report.transactions_committed > 0);
        }
        // The chain's topics are gone from the broker (metadata may lag the deletion).
        let consumer: BaseConsumer = testing::kafka().consumer("loadgen-check").create().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metadata = consumer
                .fetch_metadata(None, Duration::from_secs(10))
                .unwrap();
            let left: Vec<String> = metadata
                .topics()
                .iter()
                .map(|topic| topic.name().to_owned())
                .filter(|name| report.topic_names.contains(name))
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{left:?} were not deleted");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
