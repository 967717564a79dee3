//! A load run: shoppers on an open-loop timetable against a running pipeline, through its HTTP
//! ingress, with every checkout followed to its terminal status on `orders.events`.
//!
//! One session = one shopper adds `items_per_checkout` products to their cart (each add waits
//! for the previous 202, as the cart must see them in order) and checks out with a fresh
//! `Idempotency-Key`. Sessions start on the timetable whatever the pipeline does
//! ([`crate::schedule`]); the first request is timed from the session's due time, each later
//! one from the answer before it, and the order from the checkout's due time to its terminal
//! status on `orders.events` ([`watch`]). The order id is known before the checkout is sent
//! (UUID v5 of user and key, `shop_ingress::api::order_id`), so no status can arrive before
//! the recorder expects it.
//!
//! It does not start or stop the pipeline, and leaves its products, carts and orders behind
//! (each run names them with its run id, so runs do not meet).

mod recorder;
mod setup;
mod watch;

use recorder::{CheckoutStart, Recorder, RequestKind, Window};
pub use setup::{Plan, SetupError, plentiful_units};
pub use watch::{WatchError, consumer_at_end, observer_consumer};

use crate::config::{ConfigError, LoadConfig};
use crate::cpu::{Machine, Snapshot};
use crate::http::{Ingress, IngressError};
use crate::report::{LoadReport, LoadSettings};
use crate::schedule::{Mix, Schedule, SessionKind};
use shop_platform::procfs::load_average;
use shop_schemas::{AvroCodec, CodecError, Registration, RegistryConfig};
use shop_topics::TopicNames;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use watch::Watcher;

/// Why a load run could not run. A run that ran reports its failures (errors, timeouts) in
/// the [`LoadReport`] instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the ingress is not usable: {0}")]
    Ingress(#[from] IngressError),
    #[error("preparing the run failed: {0}")]
    Setup(#[from] SetupError),
    #[error("cannot follow the pipeline's topics: {0}")]
    Watch(#[from] WatchError),
    #[error("cannot build the registry codec: {0}")]
    Codec(#[from] CodecError),
    #[error("cannot make a histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("a measurement was still in use when the run ended")]
    StillShared,
}

/// The payment token of sessions that should be authorised: anything the built-in gateway
/// does not treat specially (`docs/processors.md`).
const GOOD_TOKEN: &str = "tok_load";
/// The token the built-in gateway declines (`card_declined`).
const DECLINE_TOKEN: &str = "tok_decline";
/// How far ahead of now the first session is due: room for the watcher to place its
/// consumer, so session 0 is not late because of the set-up.
const LEAD: Duration = Duration::from_secs(2);
/// How often the drain looks whether every order has ended.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// What every session shares.
#[derive(Debug)]
struct Shared {
    ingress: Ingress,
    plan: Plan,
    run_id: String,
    schedule: Schedule,
    mix: Mix,
    items_per_checkout: u32,
    start: Instant,
    users: Vec<tokio::sync::Mutex<()>>,
    recorder: Arc<Mutex<Recorder>>,
    in_flight: AtomicUsize,
}

impl Shared {
    fn record<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> R {
        // A panic while recording cannot leave a half-made entry that matters more than
        // losing the whole run's figures would.
        let mut recorder = self.recorder.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut recorder)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Decrements the in-flight count when a session ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `config` against the pipeline and returns what it measured. `shutdown` stops the run
/// early: no further session starts, open requests are abandoned, and the report covers what
/// ran (`interrupted: true`).
///
/// # Errors
/// [`LoadError`] if the run could not start: bad configuration, the ingress not ready, the
/// set-up refused, the topics unreadable.
pub async fn run_load(
    config: &LoadConfig,
    shutdown: CancellationToken,
) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let schedule =
        Schedule::new(config.rate, config.warmup + config.duration).map_err(ConfigError::from)?;
    let ingress = Ingress::new(&config.ingress_url, config.request_timeout)?;
    ingress.ready().await?;
    let started_at = now_rfc3339();
    let mut machine = Machine::now();
    let token_ttl =
        config.warmup + config.duration + config.terminal_timeout * 2 + Duration::from_secs(3_600);
    let plan = setup::prepare(&ingress, config, schedule.count(), token_ttl).await?;

    let window = Window {
        from: config.warmup,
        until: config.warmup + config.duration,
    };
    let mut recorder = Recorder::new(
        window,
        config.rate,
        config.terminal_timeout,
        config.scarce_stock,
    )?;
    recorder.planned(schedule.count());
    let recorder = Arc::new(Mutex::new(recorder));
    let codec = Arc::new(AvroCodec::new(
        &RegistryConfig {
            url: config.kafka.registry_url.clone(),
            timeout: Duration::from_secs(10),
        },
        Registration::LookupOnly,
    )?);
    let topics = TopicNames::with_prefix(&config.kafka.topic_prefix);
    // The clock's zero is fixed before the watcher starts, so every offset it reports is on
    // the same scale as the sessions'.
    let start = Instant::now() + LEAD;
    let watcher = Watcher::start(
        &config.kafka.settings,
        codec,
        topics.orders_events.clone(),
        topics.command_outcomes.clone(),
        Arc::clone(&recorder),
        start,
    )
    .await?;
    let users = plan.users.len();
    let shared = Arc::new(Shared {
        ingress,
        plan,
        run_id: config.run_id.clone(),
        schedule,
        mix: config.mix,
        items_per_checkout: config.items_per_checkout,
        start,
        users: (0..users).map(|_| tokio::sync::Mutex::new(())).collect(),
        recorder: Arc::clone(&recorder),
        in_flight: AtomicUsize::new(0),
    });
    let cpu = tokio::spawn(cpu_over(
        config.watch.clone(),
        start + window.from,
        start + window.until,
    ));
    tracing::info!(
        rate = config.rate,
        sessions = schedule.count(),
        users,
        "load starting"
    );
    let mut interrupted = dispatch(&shared, config, &shutdown).await;
    shared.record(Recorder::window_ended);
    tracing::info!(
        open = shared.record(|r| r.open_orders()),
        "every session started; draining"
    );
    drain(&shared, config.terminal_timeout, &shutdown).await;
    interrupted |= shutdown.is_cancelled();
    watcher.stop().await;
    let cpu = if interrupted {
        cpu.abort();
        Default::default()
    } else {
        cpu.await.unwrap_or_default()
    };
    drop(shared);
    let finished = Arc::try_unwrap(recorder)
        .map_err(|_| LoadError::StillShared)?
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .finish();
    machine.load_average_after = load_average();
    Ok(LoadReport {
        run_id: config.run_id.clone(),
        started_at,
        finished_at: now_rfc3339(),
        interrupted,
        settings: Some(settings_of(config)),
        machine,
        schedule: finished.schedule,
        add_item: finished.add_item,
        checkout: finished.checkout,
        orders: finished.orders,
        throughput: finished.throughput,
        cpu,
        series: finished.series,
    })
}

/// Starts every session on the timetable and waits for them all; `true` if interrupted.
async fn dispatch(shared: &Arc<Shared>, config: &LoadConfig, shutdown: &CancellationToken) -> bool {
    let schedule = shared.schedule;
    let first_measured = schedule.first_at_or_after(config.warmup);
    let mut sessions = JoinSet::new();
    let mut next = 0_u64;
    tokio::time::sleep_until(shared.start.into()).await;
    while next < schedule.count() {
        if shutdown.is_cancelled() {
            sessions.abort_all();
            return true;
        }
        // Everything due by now starts now: after a stall the client catches up at once
        // rather than sliding the timetable, and the lateness is recorded.
        let due = schedule.due_by(shared.now());
        while next < due {
            let measured = next >= first_measured;
            if shared.in_flight.load(Ordering::Relaxed) >= config.max_in_flight {
                shared.record(|r| r.session_dropped(measured));
            } else {
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                sessions.spawn(session(Arc::clone(shared), next, measured));
            }
            next += 1;
        }
        while let Some(joined) = sessions.try_join_next() {
            if let Err(error) = joined {
                tracing::warn!(%error, "a session task failed");
            }
        }
        if next >= schedule.count() {
            break;
        }
        let wake = shared.start + schedule.offset(next);
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            () = shutdown.cancelled() => {}
        }
    }
    loop {
        tokio::select! {
            joined = sessions.join_next() => match joined {
                None => return false,
                Some(Err(error)) => tracing::warn!(%error, "a session task failed"),
                Some(Ok(())) => {}
            },
            () = shutdown.cancelled() => {
                sessions.abort_all();
                return true;
            }
        }
    }
}

/// Waits until every order has ended or `timeout` passed; the rest are timed out by
/// [`Recorder::finish`].
async fn drain(shared: &Shared, timeout: Duration, shutdown: &CancellationToken) {
    let deadline = Instant::now() + timeout;
    while shared.record(|r| r.open_orders()) > 0 && Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep(DRAIN_POLL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One shopper's session `k`: add to cart, check out.
async fn session(shared: Arc<Shared>, k: u64, measured: bool) {
    let _in_flight = InFlight(&shared.in_flight);
    let due = shared.schedule.offset(k);
    let started = shared.now();
    shared.record(|r| r.session_started(due, started, measured));
    let kind = shared.mix.kind(k);
    let user = (k % shared.users.len() as u64) as usize;
    let Some((user_id, token)) = shared.plan.users.get(user) else {
        return;
    };
    // A person does one thing at a time: the same user's next session waits for this one.
    let _user = match shared.users[user].try_lock() {
        Ok(guard) => guard,
        Err(_) => {
            if measured {
                shared.record(Recorder::user_waited);
            }
            shared.users[user].lock().await
        }
    };
    let mut request_due = due;
    for line in 0..u64::from(shared.items_per_checkout) {
        let product = if line == 0 && kind == SessionKind::Scarce {
            &shared.plan.scarce
        } else {
            let plentiful = &shared.plan.plentiful;
            &plentiful[((k + line) % plentiful.len() as u64) as usize]
        };
        let answer = shared.ingress.add_item(token, product, 1).await;
        let done = shared.now();
        shared.record(|r| r.request(RequestKind::AddItem, &answer, request_due, done, measured));
        if !answer.is_accepted() {
            shared.record(|r| r.session_failed(kind, measured, "add_failed"));
            return;
        }
        request_due = done;
    }
    let key = format!("{}-{k}", shared.run_id);
    let order_id = shop_ingress::api::order_id(user_id, &key);
    shared.record(|r| {
        r.checkout_starting(
            &order_id,
            CheckoutStart {
                kind,
                measured,
                session_due: due,
                checkout_due: request_due,
            },
        );
    });
    let payment = if kind == SessionKind::Decline {
        DECLINE_TOKEN
    } else {
        GOOD_TOKEN
    };
    let answer = shared.ingress.checkout(token, &key, payment).await;
    let done = shared.now();
    shared.record(|r| {
        r.request(RequestKind::Checkout, &answer, request_due, done, measured);
        match &answer {
            crate::http::Answer::Status {
                status: 202,
                command_id,
            } => r.checkout_accepted(&order_id, command_id.clone()),
            _ => r.checkout_failed(&order_id),
        }
    });
}

/// CPU use between `from` and `until`.
async fn cpu_over(
    watch: Vec<crate::cpu::WatchedProcess>,
    from: Instant,
    until: Instant,
) -> crate::cpu::CpuReport {
    tokio::time::sleep_until(from.into()).await;
    let first = Snapshot::take(&watch);
    tokio::time::sleep_until(until.into()).await;
    first.until(&Snapshot::take(&watch))
}

fn settings_of(config: &LoadConfig) -> LoadSettings {
    LoadSettings {
        ingress_url: config.ingress_url.clone(),
        topic_prefix: config.kafka.topic_prefix.clone(),
        target_checkouts_per_s: config.rate,
        duration_s: config.duration.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
        users: config.effective_users(),
        decline_percent: config.mix.decline_percent,
        scarce_percent: config.mix.scarce_percent,
        items_per_checkout: config.items_per_checkout,
        plentiful_products: config.plentiful_products,
        scarce_stock: config.scarce_stock,
        request_timeout_s: config.request_timeout.as_secs_f64(),
        terminal_timeout_s: config.terminal_timeout.as_secs_f64(),
        max_in_flight: config.max_in_flight,
    }
}

/// Now, as RFC 3339 UTC to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
