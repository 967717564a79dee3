//! `shop-loadgen`: drives real HTTP traffic through the whole pipeline on an open-loop
//! timetable and measures it, next to a raw-Kafka baseline through as many topic hops on the
//! same broker, so the pipeline's cost is a ratio rather than a figure that depends on the
//! machine.
//!
//! - [`run_load`]: shoppers add to their carts and check out at a target rate through the
//!   ingress; every checkout is followed to CONFIRMED, REJECTED or CANCELLED on
//!   `orders.events` (see [`load`]).
//! - [`run_baseline`]: records through a chain of fresh topics with plain or transactional
//!   relays (see [`baseline`]).
//! - [`compare`]: both, baselines first, with [`report::Ratios`].
//! - [`write_report`]: the JSON result and a PNG chart next to it.
//!
//! The library starts and stops nothing of the pipeline: it needs a running one (`./dev up`)
//! for [`run_load`] and only the broker for [`run_baseline`]. Every `run_*` takes a shutdown
//! token and returns what it measured so far when it is cancelled.

pub mod baseline;
pub mod chart;
mod compare;
pub mod config;
pub mod cpu;
pub mod http;
pub mod load;
pub mod report;
pub mod schedule;
pub mod stats;

pub use baseline::{BaselineError, run_baseline};
pub use compare::{CompareError, compare};
pub use config::{BaselineConfig, KafkaTarget, LoadConfig, RelayMode};
pub use load::{LoadError, run_load};
pub use report::{BaselineReport, CompareReport, LoadReport, Report};

use std::path::{Path, PathBuf};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
}

/// Where the chart of the JSON result at `json` goes: the same path with `.png`.
pub fn chart_path(json: &Path) -> PathBuf {
    json.with_extension("png")
}

/// Writes `report` as pretty JSON to `json` and its chart next to it ([`chart_path`]), with
/// `font` or the first font found (see [`chart::font`]). Returns the chart's path.
///
/// # Errors
/// [`WriteError`] naming the file that could not be written.
pub fn write_report(
    report: &Report,
    json: &Path,
    font: Option<&Path>,
) -> Result<PathBuf, WriteError> {
    if let Some(folder) = json
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(|source| WriteError::Folder {
            path: folder.to_path_buf(),
            source,
        })?;
    }
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(json, text).map_err(|source| WriteError::File {
        path: json.to_path_buf(),
        source,
    })?;
    let png = chart_path(json);
    let text = chart::font(font).is_some();
    chart::draw(report, &png, text)?;
    Ok(png)
}
