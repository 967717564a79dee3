//! One whole pipeline for a test: its own topics (under a unique prefix) with their schemas, the
//! five processors running in this process, and live tables of what they wrote.

use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_processors::app::{self, PipelineSettings, ProcessorKind};
use shop_processors::runtime::GlobalTable;
use shop_processors::topology::TopicNames;
use shop_schemas::cart::{AddItem, CartCommand, CartCommandBody, Checkout};
use shop_schemas::catalog::{CatalogCommand, CatalogCommandBody, CreateProduct, Product};
use shop_schemas::codec::Part;
use shop_schemas::inventory::StockLevel;
use shop_schemas::orders::Order;
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use shop_schemas::payment::Payment;
use shop_schemas::{AvroCodec, AvroRecord, Money, RegistryConfig, now_millis};
use shop_topics::Layout;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any one step may take before the test gives up on it.
pub(crate) const STEP: Duration = Duration::from_secs(60);

/// How the processors run for a test.
enum Processors {
    /// All five as tasks of the test's runtime (`app::run_many`).
    InProcess {
        shutdown: CancellationToken,
        running: JoinHandle<anyhow::Result<()>>,
    },
    /// One process per processor binary, as a deployment runs them.
    Binaries(Vec<(&'static str, Child)>),
}

pub(crate) struct Pipeline {
    pub(crate) topics: TopicNames,
    pub(crate) settings: PipelineSettings,
    codec: Arc<AvroCodec>,
    producer: FutureProducer<TracingContext>,
    /// Stops the tables' readers.
    shutdown: CancellationToken,
    processors: Processors,
    pub(crate) products: GlobalTable<Product>,
    pub(crate) stock: GlobalTable<StockLevel>,
    pub(crate) orders: GlobalTable<Order>,
    pub(crate) payments: GlobalTable<Payment>,
    /// Keyed by command id; the newest outcome of each command.
    pub(crate) outcomes: GlobalTable<CommandOutcome>,
}

impl Pipeline {
    /// Creates every topic under a fresh prefix, registers the schemas as `shop-topics apply`
    /// does, and starts all processors in this process with `configure`'s settings.
    pub(crate) async fn start(name: &str, configure: impl FnOnce(&mut PipelineSettings)) -> Self {
        let mut settings = Self::settings(name).await;
        configure(&mut settings);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn({
            let settings = settings.clone();
            let shutdown = shutdown.clone();
            async move {
                let ran = app::run_many(&ProcessorKind::ALL, &settings, shutdown).await;
                // Said here, where it happens: `assert_running` can only see that it stopped.
                if let Err(error) = &ran {
                    eprintln!("the processors stopped: {error:#}");
                }
                ran
            }
        });
        Self::watch(settings, Processors::InProcess { shutdown, running }).await
    }

    /// As [`Pipeline::start`], but every processor runs as its own binary, configured through
    /// the environment with `env` on top.
    pub(crate) async fn start_binaries(name: &str, env: &[(&str, &str)]) -> Self {
        let settings = Self::settings(name).await;
        let binaries = [
            ("shop-catalog", env!("CARGO_BIN_EXE_shop-catalog")),
            ("shop-cart", env!("CARGO_BIN_EXE_shop-cart")),
            ("shop-inventory", env!("CARGO_BIN_EXE_shop-inventory")),
            ("shop-payment", env!("CARGO_BIN_EXE_shop-payment")),
            ("shop-orders", env!("CARGO_BIN_EXE_shop-orders")),
        ];
        let children = binaries
            .into_iter()
            .map(|(name, path)| {
                let child = Command::new(path)
                    .env("SHOP_KAFKA_BROKERS", testing::brokers())
                    .env("SHOP_SCHEMA_REGISTRY_URL", testing::registry_url())
                    .env("SHOP_TOPIC_PREFIX", &settings.prefix)
                    .env("SHOP_BATCH_LINGER", "5ms")
                    .envs(env.iter().copied())
                    .stdout(Stdio::null())
                    .stderr(if std::env::var_os("TEST_LOG").is_some() {
                        Stdio::inherit()
                    } else {
                        Stdio::null()
                    })
                    .spawn()
                    .unwrap_or_else(|error| panic!("starting {name}: {error}"));
                (name, child)
            })
            .collect();
        Self::watch(settings, Processors::Binaries(children)).await
    }

    /// Fresh topics under a prefix of `name`, and default settings for them.
    async fn settings(name: &str) -> PipelineSettings {
        testing::init_logs();
        let prefix = format!("{}.", testing::unique(name));
        create_topics(&prefix).await;
        let mut settings = PipelineSettings::new(testing::brokers(), testing::registry_url());
        settings.prefix = prefix;
        settings.batch_linger = Duration::from_millis(5);
        settings
    }

    /// Starts following the topics the processors write.
    async fn watch(settings: PipelineSettings, processors: Processors) -> Self {
        let topics = settings.topics();
        let codec = settings.codec().unwrap();
        let shutdown = CancellationToken::new();
        let (products, stock, orders, payments, outcomes) = tokio::join!(
            table(&codec, &topics.catalog_products, &shutdown),
            table(&codec, &topics.inventory_stock, &shutdown),
            table(&codec, &topics.orders_orders, &shutdown),
            table(&codec, &topics.payment_payments, &shutdown),
            table(&codec, &topics.command_outcomes, &shutdown),
        );
        Self {
            producer: testing::kafka()
                .producer()
                .create_with_context(TracingContext)
                .unwrap(),
            topics,
            settings,
            codec,
            shutdown,
            processors,
            products,
            stock,
            orders,
            payments,
            outcomes,
        }
    }

    /// Stops every processor gracefully (SIGTERM for binaries) and fails the test if one had
    /// stopped on its own or does not exit cleanly.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        match self.processors {
            Processors::InProcess { shutdown, running } => {
                shutdown.cancel();
                running
                    .await
                    .unwrap()
                    .expect("every processor ran until shut down");
            }
            Processors::Binaries(children) => {
                for (name, mut child) in children {
                    let pid = child.id().to_string();
                    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
                    assert!(sent.success(), "signalling {name}");
                    let status = tokio::task::spawn_blocking(move || child.wait())
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(status.success(), "{name} exited with {status}");
                }
            }
        }
    }

    /// Fails the test if a processor stopped on its own (none should while the test runs).
    pub(crate) fn assert_running(&self) {
        match &self.processors {
            Processors::InProcess { running, .. } => {
                assert!(!running.is_finished(), "a processor stopped early");
            }
            Processors::Binaries(children) => {
                for (name, child) in children {
                    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
                        .unwrap_or_default();
                    let alive = status.lines().any(|line| {
                        line.starts_with("State:") && !line.contains('Z') && !line.contains('X')
                    });
                    assert!(alive, "{name} stopped early");
                }
            }
        }
    }

    /// Writes `value` to `topic` under `key`, as any producer of the pipeline's records would.
    pub(crate) async fn send<T: AvroRecord>(&self, topic: &str, key: &str, value: &T) {
        self.produce(topic, key, value).await;
    }

    async fn produce<T: AvroRecord>(&self, topic: &str, key: &str, value: &T) {
        let key_bytes = self.codec.encode_key(topic, key).await.unwrap();
        let value_bytes = self.codec.encode(topic, Part::Value, value).await.unwrap();
        self.producer
            .send(
                FutureRecord::to(topic)
                    .key(&key_bytes)
                    .payload(&value_bytes),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| error)
            .unwrap();
    }

    /// Sends a catalog command; returns its command id.
    pub(crate) async fn catalog(&self, product_id: &str, body: CatalogCommandBody) -> String {
        let command_id = testing::unique("cmd");
        let command = CatalogCommand {
            command_id: command_id.clone(),
            issued_at: now_millis(),
            issued_by: "admin".to_owned(),
            body,
        };
        self.produce(&self.topics.catalog_commands, product_id, &command)
            .await;
        command_id
    }

    /// Sends a cart command for `user`; returns its command id.
    pub(crate) async fn cart(&self, user: &str, body: CartCommandBody) -> String {
        let command_id = testing::unique("cmd");
        let command = CartCommand {
            command_id: command_id.clone(),
            issued_at: now_millis(),
            user_id: user.to_owned(),
            body,
        };
        self.produce(&self.topics.cart_commands, user, &command)
            .await;
        command_id
    }

    /// Polls `probe` until it yields, failing the test with `what` after [`STEP`].
    pub(crate) async fn wait_for<T>(&self, what: &str, probe: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(found) = probe() {
                return found;
            }
            self.assert_running();
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn outcome(&self, command_id: &str) -> CommandOutcome {
        self.wait_for(&format!("the outcome of {command_id}"), || {
            self.outcomes.get(command_id)
        })
        .await
    }

    /// Creates a product with `stock` units and waits until inventory holds them.
    pub(crate) async fn product(&self, name: &str, cents: i64, stock: i32) -> String {
        let product_id = testing::unique(name);
        let create = CatalogCommandBody::CreateProduct(CreateProduct {
            product_id: product_id.clone(),
            name: name.to_owned(),
            description: format!("{name} for a test"),
            price: Money::new(cents, "USD"),
            initial_stock: stock,
        });
        let command = self.catalog(&product_id, create).await;
        assert_eq!(self.outcome(&command).await.status, OutcomeStatus::Accepted);
        self.wait_for(&format!("stock of {product_id}"), || {
            self.stock
                .get(&product_id)
                .filter(|level| level.available == stock)
        })
        .await;
        product_id
    }

    /// Adds `quantity` of `product_id` to `user`'s cart.
    ///
    /// The cart prices from its own copy of the catalog, which follows `catalog.products` a
    /// moment behind (a global table): a product created a moment ago may be unknown to it
    /// still, as it would be for any client. Retried for that reason only.
    pub(crate) async fn add(&self, user: &str, product_id: &str, quantity: i32) {
        let deadline = Instant::now() + STEP;
        loop {
            let add = CartCommandBody::AddItem(AddItem {
                product_id: product_id.to_owned(),
                quantity,
            });
            let outcome = self.outcome(&self.cart(user, add).await).await;
            match (outcome.status, outcome.reason_code.as_deref()) {
                (OutcomeStatus::Accepted, _) => return,
                (OutcomeStatus::Rejected, Some("unknown_product")) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => panic!("adding {product_id} for {user}: {outcome:?}"),
            }
        }
    }

    /// Checks `user`'s cart out with `token`; returns the new order's id.
    pub(crate) async fn checkout(&self, user: &str, token: &str) -> String {
        self.checkout_as(user, token, &testing::unique("order"))
            .await
    }

    /// Checks `user`'s cart out as order `order_id` (again, for a replay); returns the id.
    pub(crate) async fn checkout_as(&self, user: &str, token: &str, order_id: &str) -> String {
        let order_id = order_id.to_owned();
        let checkout = CartCommandBody::Checkout(Checkout {
            order_id: order_id.clone(),
            payment_token: token.to_owned(),
        });
        let outcome = self.outcome(&self.cart(user, checkout).await).await;
        assert_eq!(
            (outcome.status, outcome.entity_id.as_deref()),
            (OutcomeStatus::Accepted, Some(order_id.as_str())),
            "checkout of {user}: {outcome:?}"
        );
        order_id
    }

    /// The order once it reached a terminal state.
    pub(crate) async fn terminal(&self, order_id: &str) -> Order {
        self.wait_for(&format!("order {order_id} to end"), || {
            self.orders
                .get(order_id)
                .filter(|order| order.status.is_terminal())
        })
        .await
    }

    /// `(available, reserved)` of `product_id` once nothing is reserved any more: after every
    /// compensation has been applied.
    pub(crate) async fn settled_stock(&self, product_id: &str) -> (i32, i32) {
        self.wait_for(&format!("stock of {product_id} to settle"), || {
            self.stock
                .get(product_id)
                .filter(|level| level.reserved == 0 && level.reservations.is_empty())
                .map(|level| (level.available, level.reserved))
        })
        .await
    }
}

async fn table<V: AvroRecord + Clone>(
    codec: &Arc<AvroCodec>,
    topic: &str,
    shutdown: &CancellationToken,
) -> GlobalTable<V> {
    GlobalTable::start(
        &testing::kafka(),
        Arc::clone(codec),
        topic,
        STEP,
        shutdown.clone(),
    )
    .await
    .unwrap()
}

async fn create_topics(prefix: &str) {
    let layout = Layout {
        prefix: prefix.to_owned(),
        partitions: 3,
        ..Layout::default()
    };
    let registry = RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    };
    shop_topics::provision(
        &testing::kafka(),
        &registry,
        &layout.specs(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
}
