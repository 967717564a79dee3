//! Both in one run: the raw-Kafka baselines first (so the pipeline's load leaves no backlog in
//! the broker they would pay for), then the load run, and the ratios of the load run against
//! each baseline.

use crate::baseline::{BaselineError, run_baseline};
use crate::config::{BaselineConfig, LoadConfig};
use crate::load::{LoadError, run_load};
use crate::report::{CompareReport, Ratios};
use tokio_util::sync::CancellationToken;

/// Why a compare run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("the baseline failed: {0}")]
    Baseline(#[from] BaselineError),
    #[error("the load run failed: {0}")]
    Load(#[from] LoadError),
}

/// Runs each of `baselines` in turn, then `load`, and relates them. `shutdown` stops whatever
/// runs; a baseline interrupted that way skips the rest.
///
/// # Errors
/// [`CompareError`] from the first run that could not run.
pub async fn compare(
    load: &LoadConfig,
    baselines: &[BaselineConfig],
    shutdown: CancellationToken,
) -> Result<CompareReport, CompareError> {
    let mut reports = Vec::new();
    for baseline in baselines {
        tracing::info!(mode = baseline.mode.as_str(), "baseline starting");
        reports.push(run_baseline(baseline, shutdown.clone()).await?);
        if shutdown.is_cancelled() {
            break;
        }
    }
    let load_report = run_load(load, shutdown).await?;
    let ratios = reports
        .iter()
        .map(|baseline| Ratios::of(&load_report, baseline))
        .collect();
    Ok(CompareReport {
        baselines: reports,
        load: load_report,
        ratios,
    })
}
