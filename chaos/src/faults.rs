//! What goes wrong during a chaos run, and when: a timetable made up front from a seed (so a
//! failing run can be repeated exactly), then carried out against the fleet and the stack.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which faults a run injects and how often.
#[derive(Debug, Clone)]
pub struct FaultSettings {
    /// SIGKILL one random killable instance this often; `None` for never.
    pub kill_every: Option<Duration>,
    /// How long a killed instance stays down before it is started again.
    pub restart_after: Duration,
    /// Stop the broker and start it again once, at this fraction of the run.
    pub broker_restart_at: Option<f64>,
    /// Stop PostgreSQL once at this fraction of the run, for `postgres_down`.
    pub postgres_stop_at: Option<f64>,
    pub postgres_down: Duration,
    /// Seeds the choice of victims.
    pub seed: u64,
}

impl FaultSettings {
    /// No faults at all: a soak.
    pub fn none() -> Self {
        Self {
            kill_every: None,
            restart_after: Duration::from_secs(1),
            broker_restart_at: None,
            postgres_stop_at: None,
            postgres_down: Duration::from_secs(5),
            seed: 0,
        }
    }

    /// Whether the stack script is needed (the broker or PostgreSQL is stopped).
    pub fn needs_stack(&self) -> bool {
        self.broker_restart_at.is_some() || self.postgres_stop_at.is_some()
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL an instance (an index into the fleet), restart it after `down_s`.
    Kill { instance: usize, down_s: f64 },
    /// `stack stop kafka`, then `stack up`.
    BrokerRestart,
    /// `stack stop postgres`, `down_s` of nothing, then `stack up`.
    PostgresOutage { down_s: f64 },
}

/// A fault and when it is due, from the start of the load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedFault {
    pub at_s: f64,
    pub fault: Fault,
}

/// The timetable for a run of `run` with `killable` instance indexes to choose from. Kills
/// start one interval into the run and stop one interval before its end, so the last victim
/// is back before the load stops; the broker and PostgreSQL faults fall at their fractions.
/// Sorted by time.
pub fn plan(settings: &FaultSettings, run: Duration, killable: &[usize]) -> Vec<PlannedFault> {
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut faults = Vec::new();
    let run_s = run.as_secs_f64();
    if let Some(every) = settings.kill_every.filter(|every| !every.is_zero())
        && !killable.is_empty()
    {
        let every_s = every.as_secs_f64();
        let mut at_s = every_s;
        while at_s + every_s <= run_s {
            let instance = killable[rng.random_range(0..killable.len())];
            faults.push(PlannedFault {
                at_s,
                fault: Fault::Kill {
                    instance,
                    down_s: settings.restart_after.as_secs_f64(),
                },
            });
            at_s += every_s;
        }
    }
    if let Some(fraction) = settings.broker_restart_at {
        faults.push(PlannedFault {
            at_s: run_s * fraction,
            fault: Fault::BrokerRestart,
        });
    }
    if let Some(fraction) = settings.postgres_stop_at {
        faults.push(PlannedFault {
            at_s: run_s * fraction,
            fault: Fault::PostgresOutage {
                down_s: settings.postgres_down.as_secs_f64(),
            },
        });
    }
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    faults
}

/// What became of a planned fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEvent {
    /// When it started and how long until things were back (the instance restarted, the stack
    /// script's `up` returned), seconds from the start of the load.
    pub at_s: f64,
    pub took_s: f64,
    /// `inventory#1` for a kill, `kafka` or `postgres` for the stack.
    pub target: String,
    pub fault: Fault,
    /// Why the fault could not be carried out, if it could not.
    pub error: Option<String>,
}

/// The project's stack script (`deployments/local/stack`), which stops and starts the broker
/// and PostgreSQL it runs.
#[derive(Debug, Clone)]
pub struct Stack {
    pub script: PathBuf,
}

impl Stack {
    /// Runs `stack <args>` and fails with its output's tail if it fails.
    ///
    /// # Errors
    /// What went wrong, with the script's last lines.
    pub async fn run(&self, args: &[&str]) -> Result<(), String> {
        let output = tokio::process::Command::new(&self.script)
            .args(args)
            .output()
            .await
            .map_err(|error| format!("cannot run {}: {error}", self.script.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Err(format!(
            "`stack {}` exited with {}: {}",
            args.join(" "),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }

    /// Stops `service` and starts it again after `down`, waiting until it is ready.
    ///
    /// # Errors
    /// As [`Stack::run`].
    pub async fn bounce(&self, service: &str, down: Duration) -> Result<(), String> {
        self.run(&["stop", service]).await?;
        tokio::time::sleep(down).await;
        self.run(&["up"]).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chaos(seed: u64) -> FaultSettings {
        FaultSettings {
            kill_every: Some(Duration::from_secs(5)),
            restart_after: Duration::from_secs(1),
            broker_restart_at: Some(0.4),
            postgres_stop_at: Some(0.7),
            postgres_down: Duration::from_secs(5),
            seed,
        }
    }

    #[test]
    fn kills_fall_inside_the_run_and_leave_the_last_interval_free() {
        let faults = plan(&chaos(1), Duration::from_secs(60), &[0, 1, 2]);
        let kills: Vec<f64> = faults
            .iter()
            .filter(|f| matches!(f.fault, Fault::Kill { .. }))
            .map(|f| f.at_s)
            .collect();
        assert_eq!(
            kills,
            vec![
                5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0
            ]
        );
        assert!(faults.windows(2).all(|w| w[0].at_s <= w[1].at_s));
    }

    #[test]
    fn the_broker_and_postgres_faults_come_once_at_their_fractions() {
        let faults = plan(&chaos(1), Duration::from_secs(100), &[0]);
        let at = |wanted: fn(&Fault) -> bool| -> Vec<f64> {
            faults
                .iter()
                .filter(|f| wanted(&f.fault))
                .map(|f| f.at_s)
                .collect()
        };
        assert_eq!(at(|f| matches!(f, Fault::BrokerRestart)), vec![40.0]);
        assert_eq!(
            at(|f| matches!(f, Fault::PostgresOutage { .. })),
            vec![70.0]
        );
    }

    #[test]
    fn victims_come_from_the_killable_list_and_the_seed_repeats_them() {
        let victims = |seed| -> Vec<usize> {
            plan(&chaos(seed), Duration::from_secs(300), &[3, 5, 8])
                .into_iter()
                .filter_map(|f| match f.fault {
                    Fault::Kill { instance, .. } => Some(instance),
                    _ => None,
                })
                .collect()
        };
        let first = victims(7);
        assert!(first.iter().all(|i| [3, 5, 8].contains(i)), "{first:?}");
        assert_eq!(first, victims(7));
        assert_ne!(first, victims(8));
        // Every candidate is hit at some point in a long run.
        for candidate in [3, 5, 8] {
            assert!(first.contains(&candidate), "{first:?}");
        }
    }

    #[test]
    fn no_faults_means_an_empty_timetable() {
        assert!(plan(&FaultSettings::none(), Duration::from_secs(600), &[0, 1]).is_empty());
        let mut kills_only = chaos(1);
        kills_only.broker_restart_at = None;
        kills_only.postgres_stop_at = None;
        assert!(plan(&kills_only, Duration::from_secs(60), &[]).is_empty());
        assert!(!kills_only.needs_stack());
    }
}
