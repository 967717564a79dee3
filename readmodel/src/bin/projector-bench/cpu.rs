//! Where the CPU went during a projector run, from the kernel's scheduler statistics
//! (`/proc/<pid>/schedstat`: nanoseconds on a CPU, and nanoseconds runnable but waiting for
//! one): the PostgreSQL backends serving the projector, and this process's threads (the
//! projector's loop, its SQL client and librdkafka; the bench's own polling is a sliver).
//!
//! Why: a projector that spends its time in transactions may be bound by the database's CPU,
//! by its own, or by neither — waiting on round trips with both sides half idle. Only the CPU
//! figures tell these apart. Linux with the database on the same machine only; elsewhere the
//! figures are missing, not wrong.

use sqlx::PgPool;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// Time on a CPU and time runnable but waiting for one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sched {
    pub(crate) on_cpu: Duration,
    pub(crate) waiting: Duration,
}

impl Sched {
    fn read(path: &str) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        let on_cpu = fields.next()?.ok()?;
        let waiting = fields.next()?.ok()?;
        Some(Self {
            on_cpu: Duration::from_nanos(on_cpu),
            waiting: Duration::from_nanos(waiting),
        })
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            on_cpu: self.on_cpu.saturating_sub(earlier.on_cpu),
            waiting: self.waiting.saturating_sub(earlier.waiting),
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            on_cpu: self.on_cpu + other.on_cpu,
            waiting: self.waiting + other.waiting,
        }
    }
}

/// CPU used between [`Snapshot::take`] and [`Snapshot::since`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Used {
    /// The database backends of every session on the projector's database but the bench's.
    pub(crate) database: Sched,
    /// Every thread of this process.
    pub(crate) process: Sched,
}

/// Scheduler statistics of the database backends and of this process's threads at one moment.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    backends: HashMap<i32, Sched>,
    threads: HashMap<String, Sched>,
}

impl Snapshot {
    /// `watch` must be a one-connection pool on the projector's database: its own backend is
    /// left out. A backend or thread that is not readable is left out too.
    pub(crate) async fn take(watch: &PgPool) -> Self {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(watch)
        .await
        .unwrap_or_default();
        let backends = pids
            .into_iter()
            .filter_map(|pid| Some((pid, Sched::read(&format!("/proc/{pid}/schedstat"))?)))
            .collect();
        let threads = std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(Result::ok)
                    .filter_map(|task| {
                        let tid = task.file_name().to_string_lossy().into_owned();
                        let sched = Sched::read(&format!("/proc/self/task/{tid}/schedstat"))?;
                        Some((tid, sched))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { backends, threads }
    }

    /// What was used from `earlier` to this snapshot; backends and threads that started in
    /// between count from zero, those that ended are lost (the projector's live throughout).
    pub(crate) fn since(&self, earlier: &Self) -> Used {
        Used {
            database: delta(&self.backends, &earlier.backends),
            process: delta(&self.threads, &earlier.threads),
        }
    }
}

fn delta<K: Eq + Hash>(now: &HashMap<K, Sched>, then: &HashMap<K, Sched>) -> Sched {
    now.iter().fold(Sched::default(), |sum, (id, sched)| {
        sum.add(sched.since(then.get(id).copied().unwrap_or_default()))
    })
}
