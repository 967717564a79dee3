//! What the projector reports about itself through the `metrics` facade, caught by a recorder
//! of the bench's own: how long each batch's transaction took, how many batches there were, and
//! whether it retried or dead-lettered anything (a run that did is not a clean measurement).
//!
//! The batch times split a run's wall time into writing (the transaction, `flush` in the
//! projector) and everything else (fetching, decoding, lingering), which says what bounds it.
//! Everything else the projector records (its per-record counter) goes to no-op handles, so it
//! costs a little less here than under the Prometheus exporter of `shop-projector
//! --metrics-addr`.

use anyhow::anyhow;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use shop_topics::names::metrics as names;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The projector's own figures since the last [`Probe::take`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Taken {
    /// Seconds of every written batch, in order.
    pub(crate) batch_seconds: Vec<f64>,
    pub(crate) retries: u64,
    pub(crate) dead_letters: u64,
}

impl Taken {
    pub(crate) fn batches(&self) -> usize {
        self.batch_seconds.len()
    }

    pub(crate) fn writing(&self) -> Duration {
        Duration::from_secs_f64(self.batch_seconds.iter().sum::<f64>().max(0.0))
    }

    /// The `quantile` (0..=1) of the batch write times.
    pub(crate) fn batch_quantile(&self, quantile: f64) -> Option<Duration> {
        let mut sorted = self.batch_seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let last = sorted.len().checked_sub(1)?;
        let index = ((last as f64) * quantile.clamp(0.0, 1.0)).round() as usize;
        sorted
            .get(index.min(last))
            .map(|seconds| Duration::from_secs_f64(seconds.max(0.0)))
    }
}

#[derive(Debug, Default)]
struct Shared {
    batch_seconds: Mutex<Vec<f64>>,
    retries: AtomicU64,
    dead_letters: AtomicU64,
}

/// The bench's handle on the installed recorder.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    shared: Arc<Shared>,
}

impl Probe {
    /// Installs the recorder for the whole process (once).
    pub(crate) fn install() -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::default());
        metrics::set_global_recorder(ProbeRecorder {
            shared: Arc::clone(&shared),
        })
        .map_err(|_| anyhow!("a metrics recorder was installed already"))?;
        Ok(Self { shared })
    }

    /// Everything recorded since the last call, which starts afresh.
    pub(crate) fn take(&self) -> Taken {
        let batch_seconds = match self.shared.batch_seconds.lock() {
            Ok(mut times) => std::mem::take(&mut *times),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        Taken {
            batch_seconds,
            retries: self.shared.retries.swap(0, Ordering::Relaxed),
            dead_letters: self.shared.dead_letters.swap(0, Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct ProbeRecorder {
    shared: Arc<Shared>,
}

/// A handle on one of the shared figures.
#[derive(Debug)]
enum Figure {
    BatchSeconds(Arc<Shared>),
    Retries(Arc<Shared>),
    DeadLetters(Arc<Shared>),
}

impl HistogramFn for Figure {
    fn record(&self, value: f64) {
        if let Self::BatchSeconds(shared) = self {
            match shared.batch_seconds.lock() {
                Ok(mut times) => times.push(value),
                Err(poisoned) => poisoned.into_inner().push(value),
            }
        }
    }
}

impl CounterFn for Figure {
    fn increment(&self, value: u64) {
        match self {
            Self::Retries(shared) => shared.retries.fetch_add(value, Ordering::Relaxed),
            Self::DeadLetters(shared) => shared.dead_letters.fetch_add(value, Ordering::Relaxed),
            Self::BatchSeconds(_) => 0,
        };
    }

    fn absolute(&self, _value: u64) {}
}

impl Recorder for ProbeRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let shared = Arc::clone(&self.shared);
        match key.name() {
            names::PROJECTOR_RETRIES => Counter::from_arc(Arc::new(Figure::Retries(shared))),
            names::DEAD_LETTERS => Counter::from_arc(Arc::new(Figure::DeadLetters(shared))),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == names::PROJECTOR_BATCH_SECONDS {
            Histogram::from_arc(Arc::new(Figure::BatchSeconds(Arc::clone(&self.shared))))
        } else {
            Histogram::noop()
        }
    }
}
