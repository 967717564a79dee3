//! What the tests reading the deployment files (`monitoring_config`, `deployment_config`) share.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repository root: the workspace, one level above this crate.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The elements of a JSON array; none for anything else (a missing key reads as `Null`).
pub(crate) fn list(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// Fails with every problem found, one a line.
pub(crate) fn assert_none(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}
