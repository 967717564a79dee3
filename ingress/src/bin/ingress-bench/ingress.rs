//! The ingress under test, as a process of its own (the real `shop-ingress` binary with its
//! real settings, recorder and logging), so the load comes from another process as asked and
//! the two can be told apart in `/proc`.

use crate::client;
use anyhow::{Context, bail, ensure};
use hyper::StatusCode;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often `/ready` is asked while the ingress starts.
const READY_POLL: Duration = Duration::from_millis(200);

/// How the ingress is started.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) addr: SocketAddr,
    /// `SHOP_…` variables on top of the bench's own environment.
    pub(crate) env: Vec<(String, String)>,
    /// Where its stdout and stderr go.
    pub(crate) log: &'a Path,
}

/// A running ingress. Killed if dropped while still running (a failed run leaves no orphan);
/// [`Ingress::stop`] stops it gracefully.
#[derive(Debug)]
pub(crate) struct Ingress {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Ingress {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The default binary: `shop-ingress` next to this executable, i.e. from the same build and
/// profile (`cargo build --release -p shop-ingress --bins` builds both).
pub(crate) fn default_binary() -> anyhow::Result<PathBuf> {
    let own = std::env::current_exe().context("while finding this executable")?;
    Ok(own.with_file_name("shop-ingress"))
}

/// A port free right now on 127.0.0.1. Another process could take it before the ingress binds
/// it; the ingress would then fail to start, which the readiness wait reports.
pub(crate) fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("while looking for a free port")?;
    listener
        .local_addr()
        .context("while reading the free port's address")
}

impl Ingress {
    /// Starts the binary.
    ///
    /// # Errors
    /// If the binary is missing or cannot be started.
    pub(crate) fn spawn(launch: &Launch<'_>) -> anyhow::Result<Self> {
        ensure!(
            launch.binary.is_file(),
            "{} does not exist: build it in the same profile as this bench \
             (`cargo build --release -p shop-ingress --bins`) or pass --ingress-bin",
            launch.binary.display()
        );
        if let Some(parent) = launch.log.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("while creating the folder of {}", launch.log.display())
            })?;
        }
        let log = File::create(launch.log)
            .with_context(|| format!("while creating {}", launch.log.display()))?;
        let log_err = log
            .try_clone()
            .context("while sharing the ingress's log file")?;
        let child = Command::new(launch.binary)
            .envs(launch.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .with_context(|| format!("while starting {}", launch.binary.display()))?;
        Ok(Self {
            child,
            addr: launch.addr,
            log: launch.log.to_owned(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /ready` answers 200: broker, topics, registry, database and outcome
    /// listener all up, so no request of the run meets a half-started ingress.
    ///
    /// # Errors
    /// If the ingress exits, or is not ready within `timeout`.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("while checking on the ingress")?
            {
                bail!(
                    "the ingress exited with {status} while starting; its log: {}",
                    self.log.display()
                );
            }
            match client::get_status(self.addr, "/ready").await {
                Ok(StatusCode::OK) => return Ok(()),
                Ok(status) => last = format!("/ready answered {status}"),
                Err(error) => last = format!("{error:#}"),
            }
            if Instant::now() >= deadline {
                bail!(
                    "the ingress was not ready within {timeout:?} ({last}); its log: {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// SIGTERM, then waits for the graceful exit; kills it if that takes longer than `timeout`.
    ///
    /// # Errors
    /// If the signal cannot be sent, or the ingress had to be killed.
    pub(crate) async fn stop(mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        // `kill` the command: the crate forbids unsafe code, so no libc call to send a signal.
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("while sending SIGTERM to the ingress")?;
        ensure!(signalled.success(), "kill -TERM {pid} failed: {signalled}");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("while waiting for the ingress")?
            {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("the ingress did not stop within {timeout:?} of SIGTERM; killed");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
