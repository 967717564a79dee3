//! The pipeline's processes, started from their release or debug binaries the way a deployment
//! runs them: one OS process per instance, configured through the environment, logs in a file
//! per instance. The fleet kills and restarts instances on request, and, like a container
//! supervisor, restarts one that exits on its own (and counts that, because it should not).

use serde::Serialize;
use shop_loadgen::cpu::WatchedProcess;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long a gracefully stopped instance may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Why the fleet could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot open the log file {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot signal {name}: {source}")]
    Signal {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// What to run for one instance.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The binary's name, e.g. `shop-inventory`.
    pub binary: String,
    /// `SHOP_INSTANCE_ID`, also in the log file's name.
    pub instance: u32,
    /// Whether the fault schedule may SIGKILL it.
    pub killable: bool,
    /// Environment on top of the fleet's common environment.
    pub env: Vec<(String, String)>,
}

impl ServiceSpec {
    /// `binary#instance`, how reports and logs name it.
    pub fn name(&self) -> String {
        format!("{}#{}", self.binary, self.instance)
    }
}

/// What happened to one instance over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceReport {
    pub name: String,
    /// SIGKILLs the fault schedule sent.
    pub kills: u32,
    /// Exits nobody asked for (each was restarted), with their exit status.
    pub unplanned_exits: Vec<String>,
    /// Resident memory samples: (seconds since the fleet started, MiB), one per sample of a
    /// running process.
    pub rss_mib: Vec<(f64, f64)>,
    /// What the samples say, once the run is over.
    pub memory: Option<MemorySummary>,
}

/// Resident memory of one instance over a run, in MiB.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorySummary {
    pub first: f64,
    pub last: f64,
    pub max: f64,
    /// Least-squares slope over the second half of the samples, in MiB per minute: the first
    /// half holds the warm-up (caches, buffers, state filling), the second shows a leak.
    pub late_growth_per_min: f64,
}

/// Summarises `samples` of (seconds, MiB); `None` for fewer than four.
pub fn summarise_memory(samples: &[(f64, f64)]) -> Option<MemorySummary> {
    if samples.len() < 4 {
        return None;
    }
    let late = &samples[samples.len() / 2..];
    let n = late.len() as f64;
    let mean_t = late.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_m = late.iter().map(|(_, m)| m).sum::<f64>() / n;
    let covariance: f64 = late.iter().map(|(t, m)| (t - mean_t) * (m - mean_m)).sum();
    let variance: f64 = late.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    let slope_per_s = if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    };
    Some(MemorySummary {
        first: samples[0].1,
        last: samples[samples.len() - 1].1,
        max: samples.iter().map(|(_, m)| *m).fold(f64::MIN, f64::max),
        late_growth_per_min: slope_per_s * 60.0,
    })
}

/// One instance and its current process, if it runs.
#[derive(Debug)]
struct Service {
    spec: ServiceSpec,
    child: Option<Child>,
    report: ServiceReport,
}

/// Every instance of the run.
#[derive(Debug)]
pub struct Fleet {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    common_env: Vec<(String, String)>,
    services: Vec<Service>,
    started: Instant,
}

impl Fleet {
    /// A fleet of `specs` whose binaries are in `bin_dir`, each started with `common_env` and
    /// its own, logging to `log_dir/<binary>-<instance>.log`. Nothing runs yet.
    pub fn new(
        bin_dir: &Path,
        log_dir: &Path,
        common_env: Vec<(String, String)>,
        specs: Vec<ServiceSpec>,
    ) -> Self {
        Self {
            bin_dir: bin_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            common_env,
            services: specs
                .into_iter()
                .map(|spec| Service {
                    report: ServiceReport {
                        name: spec.name(),
                        ..ServiceReport::default()
                    },
                    spec,
                    child: None,
                })
                .collect(),
            started: Instant::now(),
        }
    }

    /// Starts every instance that does not run.
    ///
    /// # Errors
    /// [`FleetError`] for the first instance that cannot be started.
    pub fn start_all(&mut self) -> Result<(), FleetError> {
        for index in 0..self.services.len() {
            self.start(index)?;
        }
        Ok(())
    }

    /// The names of the instances the fault schedule may kill, by index.
    pub fn killable(&self) -> Vec<usize> {
        (0..self.services.len())
            .filter(|&index| self.services[index].spec.killable)
            .collect()
    }

    /// The name of instance `index`.
    pub fn name(&self, index: usize) -> String {
        self.services[index].spec.name()
    }

    /// Starts instance `index` unless it runs.
    ///
    /// # Errors
    /// [`FleetError`] if its log cannot be opened or its binary not started.
    pub fn start(&mut self, index: usize) -> Result<(), FleetError> {
        let bin_dir = self.bin_dir.clone();
        let log_dir = self.log_dir.clone();
        let service = &mut self.services[index];
        if service.child.is_some() {
            return Ok(());
        }
        let spec = &service.spec;
        let log_path = log_dir.join(format!("{}-{}.log", spec.binary, spec.instance));
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|source| FleetError::Log {
                    path: log_path.clone(),
                    source,
                })
        };
        let (stdout, stderr) = (open_log()?, open_log()?);
        let binary = bin_dir.join(&spec.binary);
        let child = Command::new(&binary)
            .envs(self.common_env.iter().map(|(k, v)| (k, v)))
            .env("SHOP_INSTANCE_ID", spec.instance.to_string())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // If the orchestrator itself dies, it takes the fleet with it.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| FleetError::Spawn { binary, source })?;
        service.child = Some(child);
        Ok(())
    }

    /// SIGKILLs instance `index` and waits for it to be gone: no shutdown hook runs, an open
    /// transaction stays open until the restarted instance fences it.
    pub async fn kill(&mut self, index: usize) {
        let service = &mut self.services[index];
        if let Some(mut child) = service.child.take() {
            // `kill` is SIGKILL on Unix; an error means it had already exited.
            let _ = child.kill().await;
            service.report.kills += 1;
        }
    }

    /// Restarts every instance that exited although nobody stopped it, and records the exit.
    /// What a supervisor (systemd, Kubernetes) does; here each such exit is also a finding.
    ///
    /// # Errors
    /// [`FleetError`] if an instance cannot be started again.
    pub fn restart_exited(&mut self) -> Result<Vec<String>, FleetError> {
        let mut restarted = Vec::new();
        for index in 0..self.services.len() {
            let service = &mut self.services[index];
            let Some(child) = service.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                service.child = None;
                let at = self.started.elapsed().as_secs_f64();
                let line = format!("{status} at {at:.1} s");
                tracing::warn!(service = %service.spec.name(), %status, "exited on its own; restarting it");
                service.report.unplanned_exits.push(line);
                restarted.push(service.spec.name());
                self.start(index)?;
            }
        }
        Ok(restarted)
    }

    /// Every running instance's process, for the load generator's CPU figures (an instance
    /// killed and restarted later is a new process the figures do not follow).
    pub fn running(&self) -> Vec<WatchedProcess> {
        self.services
            .iter()
            .filter_map(|service| {
                let pid = service.child.as_ref().and_then(Child::id)?;
                Some(WatchedProcess {
                    label: service.spec.name(),
                    pid,
                })
            })
            .collect()
    }

    /// Samples the resident memory of every running instance.
    pub fn sample_memory(&mut self) {
        let at = self.started.elapsed().as_secs_f64();
        for service in &mut self.services {
            let rss = service
                .child
                .as_ref()
                .and_then(Child::id)
                .and_then(shop_platform::procfs::resident_kib);
            if let Some(kib) = rss {
                service.report.rss_mib.push((at, kib as f64 / 1024.0));
            }
        }
    }

    /// Stops every instance with SIGTERM, as an orchestrator does, killing any still running
    /// after a grace period, and returns what happened to each over the run.
    pub async fn stop_all(mut self) -> Vec<ServiceReport> {
        for service in &mut self.services {
            if let Some(pid) = service.child.as_ref().and_then(Child::id)
                && let Err(error) = terminate(pid, &service.spec.name())
            {
                tracing::warn!(%error, "stopping the fleet");
            }
        }
        for service in &mut self.services {
            if let Some(mut child) = service.child.take() {
                match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(Ok(status)) if !status.success() => {
                        service
                            .report
                            .unplanned_exits
                            .push(format!("{status} when stopped"));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = child.kill().await;
                        service
                            .report
                            .unplanned_exits
                            .push(format!("still running {STOP_GRACE:?} after SIGTERM"));
                    }
                }
            }
        }
        self.services
            .into_iter()
            .map(|service| {
                let mut report = service.report;
                report.memory = summarise_memory(&report.rss_mib);
                report
            })
            .collect()
    }
}

/// Sends SIGTERM through `kill(1)`: the workspace forbids `unsafe`, and this is the only signal
/// other than SIGKILL the fleet needs.
fn terminate(pid: u32, name: &str) -> Result<(), FleetError> {
    let signal_error = |source| FleetError::Signal {
        name: name.to_owned(),
        source,
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(signal_error)?;
    if status.success() {
        Ok(())
    } else {
        Err(signal_error(std::io::Error::other(format!(
            "kill -TERM {pid} exited with {status}"
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_that_levels_off_has_no_late_growth() {
        // Fills up over the first half, then stays put.
        let samples: Vec<(f64, f64)> = (0..20)
            .map(|i| {
                (
                    f64::from(i),
                    if i < 10 { 20.0 + f64::from(i) } else { 30.0 },
                )
            })
            .collect();
        let summary = summarise_memory(&samples);
        assert_eq!(
            summary,
            Some(MemorySummary {
                first: 20.0,
                last: 30.0,
                max: 30.0,
                late_growth_per_min: 0.0,
            })
        );
    }

    #[test]
    fn a_steady_leak_shows_as_growth_per_minute() {
        // 0.5 MiB more every 10 s: 3 MiB a minute.
        let samples: Vec<(f64, f64)> = (0..30)
            .map(|i| (f64::from(i) * 10.0, 40.0 + f64::from(i) * 0.5))
            .collect();
        let growth = summarise_memory(&samples).map(|s| s.late_growth_per_min);
        assert!(growth.is_some_and(|g| (g - 3.0).abs() < 1e-9), "{growth:?}");
    }

    #[test]
    fn too_few_samples_say_nothing() {
        assert_eq!(
            summarise_memory(&[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]),
            None
        );
    }
}
