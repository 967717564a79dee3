//! The deployment files against the code: the `Dockerfile`, the compose deployment
//! (`deployments/compose/docker-compose.yml` and `prometheus/prometheus.yml`) and the Kubernetes
//! base (`deployments/k8s/**/*.yaml`). The validators of `deployments/validate.sh` (hadolint,
//! `docker compose config`, kubernetes-validate) check their syntax and schemas, but cannot know
//! whether a name in them means anything to this workspace; this test checks exactly that, with
//! no Docker, no cluster and no broker:
//!
//! - the image: the binaries the Dockerfile builds are those it copies, each a binary target of
//!   a workspace crate, and its `ENV` variables are read by one of them;
//! - every compose service and Kubernetes container on the shop image runs a binary of the image
//!   and sets only environment variables that binary reads; its listen addresses bind every
//!   interface; its health check or probes hit a port it listens on and a path served there;
//! - every processor has a compose service and a Kubernetes workload; Prometheus scrapes compose
//!   services on their listen ports; `depends_on`, selectors, `envFrom` and key references and
//!   the kustomization name things that exist; consumer replicas fit in the partitions;
//! - every topic or consumer-group name in the files is one the code declares.
//!
//! The yardstick is read from the code, not kept here: the workspace's binaries from the crates'
//! manifests and `src/` layouts; the variables each binary reads from the string literals of its
//! sources (clap `env = "…"` attributes, `std::env::var("…")` calls) in its own files, its
//! crate's library and the libraries of the workspace crates it depends on, test modules left
//! out; the processors from their binaries' `app::main` calls; topics from
//! [`shop_topics::Layout::specs`]; the partition default from the `shop-topics` command line.
//! The scan is lexical and per crate (a binary is taken to read every variable its crates'
//! libraries name), so it errs on the side of accepting. Only the paths a kind of listener
//! serves are a table here ([`SERVED`]), itself checked against the routes in the code.
//!
//! Each check is a function from parsed files to a list of problems; the tests assert the list
//! is empty, and the last tests feed doctored files to the same functions to show they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod common;

use clap::CommandFactory;
use common::{assert_none, list, root};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// A process's environment as a deployment file sets it: `None` where the value comes from
/// elsewhere (a Secret, the downward API) or cannot be known.
type Env = BTreeMap<String, Option<String>>;

/// A `Cargo.toml` read line by line: its tables, each a header and its `key = value` lines.
type Tables = Vec<(String, Vec<(String, String)>)>;

/// Prefixes of the variables our code reads; literals with them are taken as reads.
const ENV_PREFIXES: [&str; 2] = ["SHOP_", "OTEL_"];

/// Variables the Rust standard library reads, so any binary accepts them.
const RUNTIME_VARIABLES: &[&str] = &["RUST_BACKTRACE", "RUST_LIB_BACKTRACE"];

/// The variable naming a consumer's group member: binaries whose own crate reads it share their
/// topics' partitions among replicas, so more replicas than partitions sit idle.
const INSTANCE_ID_VAR: &str = "SHOP_INSTANCE_ID";

/// The variable setting the partitions `shop-topics` gives every data topic.
const PARTITIONS_VAR: &str = "SHOP_TOPIC_PARTITIONS";

/// The binary of this crate (`topics/src/main.rs`), which creates the topics.
const TOPICS_TOOL: &str = env!("CARGO_PKG_NAME");

/// The health-check binary of the image (`platform/src/bin/shop-probe.rs`): `shop-probe <url>`.
const PROBE: &str = "shop-probe";

/// The image's name in the manifests (`shop-pipeline:<tag>`); compose names it through
/// `${SHOP_DEPLOY_IMAGE:-shop-pipeline:…}`.
const SHOP_IMAGE: &str = "shop-pipeline";

/// Hosts of a listen address that accept connections from other containers and pods.
const ALL_INTERFACES: &[&str] = &["0.0.0.0", "[::]", "::"];

/// What answers on a listen address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// An axum router of ours: its paths are GET routes in the binary's sources
    /// (`.route("/…", get(…))`, or a utoipa `get, path = "/…"` attribute).
    Router,
    /// metrics-exporter-prometheus's HTTP listener (`PrometheusBuilder::with_http_listener`):
    /// `/health` answers OK and every other path the metrics, of which `/metrics` is ours.
    PrometheusExporter,
}

/// Every listen-address variable, what answers there, and the paths a probe or a scrape may
/// use on it. `the_code_scan_finds_binaries_variables_and_listeners` checks the table against
/// the routes in the code and that no other `SHOP_*_ADDR` is read.
const SERVED: &[(&str, Listener, &[&str])] = &[
    (
        "SHOP_HTTP_ADDR",
        Listener::Router,
        &["/health", "/ready", "/metrics"],
    ),
    (
        "SHOP_METRICS_ADDR",
        Listener::PrometheusExporter,
        &["/health", "/metrics"],
    ),
    (
        "SHOP_MONITOR_ADDR",
        Listener::Router,
        &["/health", "/metrics"],
    ),
];

/// Nothing read: the variables of a binary that does not exist.
static NOTHING: BTreeSet<String> = BTreeSet::new();

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The Kubernetes base.
fn k8s_dir() -> PathBuf {
    root().join("deployments/k8s")
}

/// A file's text, or an error naming it.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Every file under `dir`, recursively, whose extension is one of `extensions`; sorted.
fn files_under(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let listing = |e: std::io::Error| format!("listing {}: {e}", current.display());
        for entry in std::fs::read_dir(&current).map_err(listing)? {
            let path = entry.map_err(listing)?.path();
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_dir() {
                pending.push(path);
            } else if extensions.contains(&extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `path` relative to `base`, `/`-separated: how messages and the kustomization name files.
fn relative(path: &Path, base: &Path) -> String {
    let inside = path.strip_prefix(base).unwrap_or(path);
    let parts: Vec<_> = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

/// Fails unless, for each needle, some problem mentions it: what a doctored file must trigger.
fn assert_reported(problems: &[String], needles: &[&str]) {
    for needle in needles {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "nothing reported about {needle:?}; the problems were:\n  {}",
            problems.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

/// One YAML document as JSON values, aliases expanded and `<<` merge keys resolved.
fn parse_yaml(text: &str, what: &str) -> Result<Value, String> {
    let mut value: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("{what}: {e}"))?;
    resolve_merges(&mut value).map_err(|e| format!("{what}: {e}"))?;
    Ok(value)
}

/// Resolves YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`): the merged mappings' entries go
/// into the mapping that merges them unless it has them already (earlier sources first). A
/// merged mapping is resolved before it is merged, so a mapping merging one that merges another
/// (`x-processor` merges `x-shop-service` in the compose file) gets all of them. The parser
/// keeps `<<` as an ordinary key, and serde_yaml_ng's `Value::apply_merge` resolves one level
/// per call: it would leave the inner `<<` of such a chain in place.
fn resolve_merges(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let Some(merged) = map.remove("<<") {
                let sources = match merged {
                    Value::Array(items) => items,
                    single => vec![single],
                };
                for mut source in sources {
                    resolve_merges(&mut source)?;
                    let Value::Object(entries) = source else {
                        return Err(format!("`<<` merges {source}, not a mapping"));
                    };
                    for (key, entry) in entries {
                        map.entry(key).or_insert(entry);
                    }
                }
            }
            map.values_mut().try_for_each(resolve_merges)
        }
        Value::Array(items) => items.iter_mut().try_for_each(resolve_merges),
        _ => Ok(()),
    }
}

/// The documents of a multi-document YAML file (split at `---` lines), those holding nothing
/// but comments left out.
fn yaml_documents(text: &str, what: &str) -> Result<Vec<Value>, String> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            documents.push(String::new());
        } else if let Some(document) = documents.last_mut() {
            document.push_str(line);
            document.push('\n');
        }
    }
    let has_content = |document: &&String| {
        document.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        })
    };
    documents
        .iter()
        .filter(has_content)
        .enumerate()
        .map(|(i, d)| parse_yaml(d, &format!("{what} (document {})", i + 1)))
        .collect()
}

/// A scalar as text, numbers and booleans as written; `None` for null, lists and mappings.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// Every string in `value`, with where it is (`services.shop-cart.environment.SHOP_LOG`).
fn strings<'a>(value: &'a Value, at: &str, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => found.push((at.to_owned(), s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &format!("{at}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, entry) in map {
                let inner = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                strings(entry, &inner, found);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Workspace crates, their dependencies and binaries
// ---------------------------------------------------------------------------------------------

/// The tables of a `Cargo.toml`, read line by line: one entry per `[table]` or `[[array]]`
/// header (brackets stripped), keys and values trimmed, values as written. Enough for this
/// workspace's flat manifests; the dependencies hold no TOML parser.
fn manifest_tables(manifest: &str) -> Tables {
    let mut tables = vec![(String::new(), Vec::new())];
    for line in manifest.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            tables.push((header.to_owned(), Vec::new()));
        } else if let (Some((key, value)), Some((_, entries))) =
            (line.split_once('='), tables.last_mut())
        {
            entries.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    tables
}

/// The value of `key` in the first table named `header`.
fn table_value<'a>(tables: &'a Tables, header: &str, key: &str) -> Option<&'a str> {
    let (_, entries) = tables.iter().find(|(h, _)| h == header)?;
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The text between the first two double quotes of `value`.
fn quoted(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once('"')?;
    Some(rest.split_once('"')?.0)
}

/// The workspace members listed in the root `Cargo.toml`.
fn members(manifest: &str) -> Result<Vec<String>, String> {
    let start = manifest
        .find("members")
        .ok_or("the root Cargo.toml has no `members`")?;
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Err("the root Cargo.toml's `members` is not a list".to_owned());
    };
    let listed = &rest[open..close];
    Ok(listed
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect())
}

/// A crate's binary targets as Cargo infers them (`src/main.rs`, named after the package;
/// `src/bin/<name>.rs`; `src/bin/<name>/main.rs`; none of them with `autobins = false`), then
/// its `[[bin]]` tables, each replacing an inferred target of the same name or path.
fn binary_targets(
    dir: &Path,
    package: &str,
    tables: &Tables,
) -> Result<Vec<(String, PathBuf)>, String> {
    let src = dir.join("src");
    let mut targets = Vec::new();
    if table_value(tables, "package", "autobins") != Some("false") {
        if src.join("main.rs").is_file() {
            targets.push((package.to_owned(), src.join("main.rs")));
        }
        if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
            for path in entries.flatten().map(|e| e.path()) {
                let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
                    targets.push((name.to_owned(), path.clone()));
                } else if path.join("main.rs").is_file() {
                    targets.push((name.to_owned(), path.join("main.rs")));
                }
            }
        }
    }
    for (_, entries) in tables.iter().filter(|(header, _)| header == "bin") {
        let value = |key: &str| {
            let entry = entries.iter().find(|(k, _)| k == key);
            entry.and_then(|(_, v)| quoted(v))
        };
        let name =
            value("name").ok_or_else(|| format!("{}: a [[bin]] without a name", dir.display()))?;
        let path = match value("path") {
            Some(path) => dir.join(path),
            None if name == package && src.join("main.rs").is_file() => src.join("main.rs"),
            None if src.join(format!("bin/{name}.rs")).is_file() => {
                src.join(format!("bin/{name}.rs"))
            }
            None => src.join(format!("bin/{name}/main.rs")),
        };
        targets.retain(|(n, p)| n != name && *p != path);
        targets.push((name.to_owned(), path));
    }
    targets.sort();
    Ok(targets)
}

/// Whether an attribute line gates what follows on tests: `#[cfg(test)]`, or the `testing`
/// feature (helpers only test suites enable), but not `#[cfg(not(test))]`.
fn is_test_cfg(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("#[cfg(")
        && !line.contains("not(")
        && (line.contains("cfg(test)") || line.contains("test,") || line.contains("\"testing\""))
}

/// The first line after `index` that is not an attribute or blank: the item an attribute on
/// line `index` applies to.
fn item_after<'a>(lines: &[&'a str], index: usize) -> Option<&'a str> {
    lines
        .iter()
        .skip(index + 1)
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("#["))
}

/// The module a `[pub(…)] mod name;` or `mod name {` line declares, and whether it is inline.
fn module_declared(line: &str) -> Option<(&str, bool)> {
    let line = line.trim();
    let line = if line.starts_with("pub") {
        line.split_once(' ')?.1
    } else {
        line
    };
    let rest = line.strip_prefix("mod ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let after = rest[end..].trim_start();
    (end > 0 && (after.starts_with(';') || after.starts_with('{')))
        .then(|| (&rest[..end], after.starts_with('{')))
}

/// A source file without its comment lines and its inline test module: from a test-gated
/// attribute on an inline module (`#[cfg(test)] mod tests { … }`, at the end of a file by
/// convention) on, the rest is dropped. Test modules in files of their own are left out by
/// [`test_module_paths`].
fn non_test_text(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut kept = String::new();
    for (index, line) in lines.iter().enumerate() {
        let inline_module = item_after(&lines, index)
            .and_then(module_declared)
            .is_some_and(|(_, inline)| inline);
        if is_test_cfg(line) && inline_module {
            break;
        }
        if !line.trim_start().starts_with("//") {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// Where the modules that `path` declares behind a test gate (`#[cfg(test)] mod tests;`) live:
/// `<dir>/<name>.rs` and `<dir>/<name>/`, `<dir>` being the folder of `path`'s submodules.
fn test_module_paths(path: &Path, source: &str) -> Vec<PathBuf> {
    let Some(parent) = path.parent() else {
        return Vec::new();
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let dir = if ["lib", "main", "mod"].contains(&stem) {
        parent.to_path_buf()
    } else {
        parent.join(stem)
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut paths = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !is_test_cfg(line) {
            continue;
        }
        if let Some((name, false)) = item_after(&lines, index).and_then(module_declared) {
            paths.push(dir.join(format!("{name}.rs")));
            paths.push(dir.join(name));
        }
    }
    paths
}

/// The environment variables a source text reads: every whole string literal `"SHOP_…"` or
/// `"OTEL_…"` (clap `env = "…"`, `std::env::var("…")`, constants holding a name) and every
/// literal given to `var("…")` or `var_os("…")` (`HOSTNAME`).
fn env_literals(source: &str) -> BTreeSet<String> {
    let name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    let needles = ENV_PREFIXES
        .iter()
        .map(|p| (format!("\"{p}"), 1))
        .chain([("var(\"".to_owned(), 5), ("var_os(\"".to_owned(), 8)]);
    for (needle, skip) in needles {
        let mut rest = source;
        while let Some(at) = rest.find(&needle) {
            let after = &rest[at + skip..];
            let len = after.find(|c| !name_char(c)).unwrap_or(after.len());
            if len > 0 && after[len..].starts_with('"') {
                names.insert(after[..len].to_owned());
            }
            rest = &after[len..];
        }
    }
    names
}

/// One workspace crate.
#[derive(Debug)]
struct Crate {
    /// Workspace crates it depends on through `[dependencies]` (not dev-dependencies).
    deps: BTreeSet<String>,
    /// Its library's non-test sources: `src/**` but `src/main.rs`, `src/bin/` and test modules.
    lib: Vec<PathBuf>,
}

/// One binary target.
#[derive(Debug)]
struct Binary {
    package: String,
    /// Its own non-test files: the file, or the folder of a `src/bin/<name>/main.rs`.
    own: Vec<PathBuf>,
}

/// The workspace's crates and binaries, from the manifests and the `src/` folders.
#[derive(Debug)]
struct Workspace {
    /// Every non-test source file, as [`non_test_text`] keeps it.
    texts: BTreeMap<PathBuf, String>,
    crates: BTreeMap<String, Crate>,
    binaries: BTreeMap<String, Binary>,
}

impl Workspace {
    fn load(root: &Path) -> Result<Self, String> {
        let mut manifests = Vec::new();
        for member in members(&read(&root.join("Cargo.toml"))?)? {
            let dir = root.join(&member);
            let tables = manifest_tables(&read(&dir.join("Cargo.toml"))?);
            let package = table_value(&tables, "package", "name")
                .and_then(quoted)
                .ok_or_else(|| format!("{member}/Cargo.toml: no package name"))?
                .to_owned();
            manifests.push((dir, package, tables));
        }
        let packages: BTreeSet<&str> = manifests.iter().map(|(_, p, _)| p.as_str()).collect();
        let mut workspace = Self {
            texts: BTreeMap::new(),
            crates: BTreeMap::new(),
            binaries: BTreeMap::new(),
        };
        for (dir, package, tables) in &manifests {
            let deps = tables
                .iter()
                .filter(|(header, _)| header == "dependencies")
                .flat_map(|(_, entries)| entries)
                .map(|(key, _)| key.split('.').next().unwrap_or(key).trim())
                .filter(|key| packages.contains(key))
                .map(str::to_owned)
                .collect();
            let src = dir.join("src");
            let mut sources = BTreeMap::new();
            for file in files_under(&src, &["rs"])? {
                let source = read(&file)?;
                sources.insert(file, source);
            }
            let excluded: Vec<PathBuf> = sources
                .iter()
                .flat_map(|(path, source)| test_module_paths(path, source))
                .collect();
            sources.retain(|path, _| !excluded.iter().any(|e| path.starts_with(e)));
            let (bin_dir, main) = (src.join("bin"), src.join("main.rs"));
            let lib = sources
                .keys()
                .filter(|path| !path.starts_with(&bin_dir) && **path != main)
                .cloned()
                .collect();
            for (name, path) in binary_targets(dir, package, tables)? {
                let folder = path
                    .parent()
                    .filter(|p| path.file_name().is_some_and(|f| f == "main.rs") && *p != src);
                let own: Vec<PathBuf> = match folder {
                    Some(folder) => sources
                        .keys()
                        .filter(|p| p.starts_with(folder))
                        .cloned()
                        .collect(),
                    None if sources.contains_key(&path) => vec![path.clone()],
                    None => Vec::new(),
                };
                if own.is_empty() {
                    return Err(format!("binary {name}: no source at {}", path.display()));
                }
                let binary = Binary {
                    package: package.clone(),
                    own,
                };
                if let Some(other) = workspace.binaries.insert(name.clone(), binary) {
                    return Err(format!(
                        "binary {name} is in {} and {package}",
                        other.package
                    ));
                }
            }
            workspace
                .crates
                .insert(package.clone(), Crate { deps, lib });
            for (path, source) in sources {
                workspace.texts.insert(path, non_test_text(&source));
            }
        }
        Ok(workspace)
    }

    /// `package` and the workspace crates it depends on, transitively.
    fn closure<'a>(&'a self, package: &'a str) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![package];
        while let Some(current) = pending.pop() {
            if seen.insert(current)
                && let Some(krate) = self.crates.get(current)
            {
                pending.extend(krate.deps.iter().map(String::as_str));
            }
        }
        seen
    }

    /// A binary's sources: its own files and the libraries of its crate and, if `with_deps`,
    /// of every workspace crate its crate depends on.
    fn sources(&self, binary: &str, with_deps: bool) -> Vec<&PathBuf> {
        let Some(target) = self.binaries.get(binary) else {
            return Vec::new();
        };
        let packages = if with_deps {
            self.closure(&target.package)
        } else {
            BTreeSet::from([target.package.as_str()])
        };
        let libs = packages
            .iter()
            .filter_map(|p| self.crates.get(*p))
            .flat_map(|c| &c.lib);
        target.own.iter().chain(libs).collect()
    }

    /// The environment variables `files` read.
    fn reads(&self, files: &[&PathBuf]) -> BTreeSet<String> {
        let texts = files.iter().filter_map(|f| self.texts.get(*f));
        texts.flat_map(|t| env_literals(t)).collect()
    }
}

/// The `ProcessorKind`s a binary's `app::main(…)` call runs: `["Cart"]`, or `["ALL"]`.
fn kinds_run(source: &str) -> Option<Vec<String>> {
    let call = &source[source.find("app::main(")?..];
    let arguments = &call[..call.find(')')?];
    let kinds = arguments.split("ProcessorKind::").skip(1).map(|k| {
        k.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    });
    Some(kinds.collect())
}

/// The variants of `ProcessorKind::ALL` (`Self::Catalog, …`) in the file declaring it.
fn all_kinds(source: &str) -> Option<Vec<String>> {
    let declaration = &source[source.find("const ALL")?..];
    let items = &declaration[declaration.find("= [")? + 3..];
    let items = &items[..items.find(']')?];
    let kinds = items
        .split(',')
        .map(|k| k.trim().trim_start_matches("Self::").to_owned())
        .filter(|k| !k.is_empty());
    Some(kinds.collect())
}

/// What the code says: the yardstick of every check.
#[derive(Debug)]
struct Code {
    workspace: Workspace,
    /// The variables each binary reads, through any of its sources.
    reads: BTreeMap<String, BTreeSet<String>>,
    /// The variables each binary's own crate names (its files and its crate's library).
    own_reads: BTreeMap<String, BTreeSet<String>>,
    /// The processor binaries, each with the one `ProcessorKind` its `app::main` runs.
    processors: BTreeMap<String, String>,
    /// The variants of `ProcessorKind::ALL`.
    processor_kinds: Vec<String>,
    /// Every topic, dead-letter topics included, without a prefix.
    topics: BTreeSet<String>,
    /// Consumer groups the code forms: `shop-<NAME>` for each library's `pub const NAME` (the
    /// processors' and the projector's: `format!("{prefix}shop-{name}")` in
    /// processors/src/app.rs and readmodel/src/bin/shop-projector.rs), and the groups derived
    /// with a `format!("{group_id}…")` in the same file (the projector's offset mirror,
    /// `shop-projector.db-offsets`).
    groups: BTreeSet<String>,
    /// `shop-topics`' default for `SHOP_TOPIC_PARTITIONS`.
    default_partitions: u64,
}

impl Code {
    fn load(root: &Path) -> Result<Self, String> {
        let workspace = Workspace::load(root)?;
        let mut reads = BTreeMap::new();
        let mut own_reads = BTreeMap::new();
        let mut processors = BTreeMap::new();
        for name in workspace.binaries.keys() {
            reads.insert(
                name.clone(),
                workspace.reads(&workspace.sources(name, true)),
            );
            own_reads.insert(
                name.clone(),
                workspace.reads(&workspace.sources(name, false)),
            );
            let own = &workspace.binaries[name].own;
            let kinds = own
                .iter()
                .filter_map(|f| workspace.texts.get(f))
                .find_map(|t| kinds_run(t));
            if let Some([kind]) = kinds.as_deref()
                && kind != "ALL"
            {
                processors.insert(name.clone(), kind.clone());
            }
        }
        let processor_kinds = workspace
            .texts
            .values()
            .find(|t| t.contains("pub enum ProcessorKind"))
            .and_then(|t| all_kinds(t))
            .ok_or("no `ProcessorKind::ALL` in the workspace")?;
        let mut groups = BTreeSet::new();
        let libs = workspace.crates.values().flat_map(|c| &c.lib);
        for source in libs.filter_map(|f| workspace.texts.get(f)) {
            let pieces = |needle: &str| -> Vec<String> {
                let after = source.split(needle).skip(1);
                after
                    .filter_map(|piece| piece.split('"').next())
                    .map(str::to_owned)
                    .collect()
            };
            let suffixes = pieces("format!(\"{group_id}");
            for name in pieces("pub const NAME: &str = \"") {
                let group = format!("shop-{name}");
                groups.extend(suffixes.iter().map(|s| format!("{group}{s}")));
                groups.insert(group);
            }
        }
        let topics = shop_topics::Layout::default()
            .specs()
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        Ok(Self {
            workspace,
            reads,
            own_reads,
            processors,
            processor_kinds,
            topics,
            groups,
            default_partitions: default_partitions()?,
        })
    }

    fn reads(&self, binary: &str) -> &BTreeSet<String> {
        self.reads.get(binary).unwrap_or(&NOTHING)
    }

    /// Whether the binary's replicas split its topics' partitions ([`INSTANCE_ID_VAR`]).
    fn is_consumer(&self, binary: &str) -> bool {
        let own = self.own_reads.get(binary);
        own.is_some_and(|r| r.contains(INSTANCE_ID_VAR))
    }

    /// Every non-test source text of a binary, dependencies included.
    fn source_text(&self, binary: &str) -> String {
        let files = self.workspace.sources(binary, true);
        let texts = files.iter().filter_map(|f| self.workspace.texts.get(*f));
        texts.map(String::as_str).collect()
    }
}

/// `shop-topics`' default for [`PARTITIONS_VAR`], from its clap definition.
fn default_partitions() -> Result<u64, String> {
    let command = shop_topics::cli::Cli::command();
    let argument = command
        .get_arguments()
        .find(|a| a.get_env().is_some_and(|e| e == PARTITIONS_VAR))
        .ok_or_else(|| format!("shop-topics has no flag for {PARTITIONS_VAR}"))?;
    let default = argument.get_default_values().first();
    default
        .and_then(|d| d.to_str())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("shop-topics' {PARTITIONS_VAR} has no numeric default"))
}

/// The code, read once for all the tests.
static CODE: LazyLock<Code> =
    LazyLock::new(|| Code::load(&root()).unwrap_or_else(|e| panic!("{e}")));

// ---------------------------------------------------------------------------------------------
// Listen addresses and what they serve
// ---------------------------------------------------------------------------------------------

/// A listen address a process is given.
#[derive(Debug)]
struct Listen {
    var: String,
    value: String,
    port: u16,
}

/// The listen addresses `env` sets among the [`SERVED`] variables the binary reads, and the
/// problems with them: unreadable, or bound to one interface (unreachable from Prometheus, the
/// kubelet or another container).
fn listeners(env: &Env, reads: &BTreeSet<String>) -> (Vec<Listen>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    for (var, _, _) in SERVED.iter().filter(|(var, _, _)| reads.contains(*var)) {
        let Some(Some(value)) = env.get(*var) else {
            continue;
        };
        let parsed = value
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
        match parsed {
            Some((host, port)) => {
                if !ALL_INTERFACES.contains(&host) {
                    problems.push(format!(
                        "{var}={value} binds {host} only, unreachable from outside the container"
                    ));
                }
                found.push(Listen {
                    var: (*var).to_owned(),
                    value: value.clone(),
                    port,
                });
            }
            None => problems.push(format!("{var}={value} is not a host:port address")),
        }
    }
    (found, problems)
}

/// The paths a probe or scrape may use on the address of `var`.
fn served_paths(var: &str) -> &'static [&'static str] {
    let entry = SERVED.iter().find(|(v, _, _)| *v == var);
    entry.map_or(&[], |(_, _, paths)| paths)
}

/// Why `binary`, run with `env`, would not answer `path` on `port`, if it would not: the port
/// must be one of its listen addresses' and the path one served there.
fn probe_problem(binary: &str, env: &Env, port: u16, path: &str, code: &Code) -> Option<String> {
    let (listens, _) = listeners(env, code.reads(binary));
    if listens.is_empty() {
        let vars: Vec<&str> = SERVED.iter().map(|(v, _, _)| *v).collect();
        return Some(format!(
            "{binary} is given no listen address ({})",
            vars.join(", ")
        ));
    }
    let Some(listen) = listens.iter().find(|l| l.port == port) else {
        let known: Vec<String> = listens
            .iter()
            .map(|l| format!("{}={}", l.var, l.value))
            .collect();
        return Some(format!("{binary} listens on {}", known.join(", ")));
    };
    let path = path.split('?').next().unwrap_or(path);
    let served = served_paths(&listen.var);
    (!served.contains(&path)).then(|| {
        format!(
            "{} serves {} there, not {path}",
            listen.var,
            served.join(", ")
        )
    })
}

/// Port and path of an `http://host:port/path` URL.
fn url_port_path(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/".to_owned()),
    };
    Some((authority.rsplit_once(':')?.1.parse().ok()?, path))
}

/// The GET routes in a source text: axum `.route("/…", get(…))`, utoipa `get, path = "/…"`.
fn get_routes(source: &str) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for piece in source.split(".route(\"").skip(1) {
        if let Some((path, rest)) = piece.split_once('"')
            && rest.trim_start_matches([',', ' ']).starts_with("get(")
        {
            routes.insert(path.to_owned());
        }
    }
    for piece in source.split("get, path = \"").skip(1) {
        routes.extend(piece.split('"').next().map(str::to_owned));
    }
    routes
}

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

/// What the Dockerfile builds and what its final stage, the image, holds.
#[derive(Debug, Default)]
struct Dockerfile {
    /// `--bin` targets of `cargo build` runs, and the stages running them.
    built: BTreeSet<String>,
    build_stages: BTreeSet<String>,
    /// Binaries the final stage copies out of `target/release` of another stage: the image's
    /// binaries; the stages they come from and the folder they go to.
    copied: BTreeSet<String>,
    copied_from: BTreeSet<String>,
    bin_dir: String,
    /// The final stage's `ENV` variables, `EXPOSE`d ports and `CMD`.
    env: Vec<String>,
    expose: Vec<u16>,
    cmd: Vec<String>,
}

impl Dockerfile {
    /// The image binary a command's first word runs: `name` or `<bin_dir>/name`.
    fn binary(&self, word: &str) -> Result<String, String> {
        let name = word
            .strip_prefix(&format!("{}/", self.bin_dir))
            .unwrap_or(word);
        if name.contains('/') {
            Err(format!(
                "runs {word}, which is not in the image's {}",
                self.bin_dir
            ))
        } else if self.copied.contains(name) {
            Ok(name.to_owned())
        } else {
            Err(format!("runs {name}, which is not a binary of the image"))
        }
    }

    /// The binary a command runs, the image's `CMD` when it is empty.
    fn runs(&self, command: &[String]) -> Result<String, String> {
        match command.first().or(self.cmd.first()) {
            Some(word) => self.binary(word),
            None => Err("runs nothing: no command and no CMD in the image".to_owned()),
        }
    }
}

/// Reads a Dockerfile: instructions joined across `\` continuations, comment lines dropped.
fn parse_dockerfile(source: &str) -> Dockerfile {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in source.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let instruction = std::mem::take(&mut current);
        if !instruction.trim().is_empty() {
            instructions.push(instruction);
        }
    }
    let mut image = Dockerfile::default();
    let mut stage = String::new();
    for instruction in &instructions {
        let words: Vec<&str> = instruction.split_whitespace().collect();
        let Some((keyword, args)) = words.split_first() else {
            continue;
        };
        match keyword.to_ascii_uppercase().as_str() {
            "FROM" => {
                let alias = args.iter().position(|w| w.eq_ignore_ascii_case("as"));
                stage = alias
                    .and_then(|i| args.get(i + 1))
                    .map_or_else(String::new, |s| (*s).to_owned());
                image.copied.clear();
                image.copied_from.clear();
                image.env.clear();
                image.expose.clear();
                image.cmd.clear();
            }
            "RUN" if args.contains(&"cargo") && args.contains(&"build") => {
                for (i, arg) in args.iter().enumerate() {
                    let name = match arg.strip_prefix("--bin=") {
                        Some(name) => Some(name),
                        None if *arg == "--bin" => args.get(i + 1).copied(),
                        None => None,
                    };
                    image.built.extend(name.map(str::to_owned));
                }
                image.build_stages.insert(stage.clone());
            }
            "COPY" => {
                let from = args.iter().find_map(|a| a.strip_prefix("--from="));
                let paths: Vec<&str> = args
                    .iter()
                    .filter(|a| !a.starts_with("--"))
                    .copied()
                    .collect();
                if let (Some(from), Some((dest, sources))) = (from, paths.split_last()) {
                    for source in sources {
                        if let Some((_, name)) = source.split_once("target/release/") {
                            image.copied.insert(name.to_owned());
                            image.copied_from.insert(from.to_owned());
                            image.bin_dir = dest.trim_end_matches('/').to_owned();
                        }
                    }
                }
            }
            "ENV" => {
                if args.first().is_some_and(|a| a.contains('=')) {
                    let keys = args
                        .iter()
                        .filter_map(|a| a.split_once('='))
                        .map(|(k, _)| k);
                    image.env.extend(keys.map(str::to_owned));
                } else {
                    image.env.extend(args.first().map(|k| (*k).to_owned()));
                }
            }
            "EXPOSE" => {
                let ports = args
                    .iter()
                    .filter_map(|a| a.split('/').next()?.parse::<u16>().ok());
                image.expose.extend(ports);
            }
            "CMD" => {
                let rest = instruction.trim_start()[keyword.len()..].trim();
                image.cmd = serde_json::from_str(rest)
                    .unwrap_or_else(|_| rest.split_whitespace().map(str::to_owned).collect());
            }
            _ => {}
        }
    }
    image
}

/// The Dockerfile against the workspace: one list of binaries built and copied, all of them
/// binary targets; the `CMD` one of them; its `ENV` variables read by one of them.
fn check_dockerfile(image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    if image.built.is_empty() {
        problems.push("Dockerfile: no `cargo build --bin …`".to_owned());
    }
    for name in image.built.difference(&image.copied) {
        problems.push(format!(
            "Dockerfile: builds {name} but does not copy it into the image"
        ));
    }
    for name in image.copied.difference(&image.built) {
        problems.push(format!(
            "Dockerfile: copies {name}, which the cargo build does not build"
        ));
    }
    for name in image.built.union(&image.copied) {
        if !code.workspace.binaries.contains_key(name) {
            problems.push(format!(
                "Dockerfile: {name} is not a binary target of any workspace crate"
            ));
        }
    }
    for stage in image.copied_from.difference(&image.build_stages) {
        problems.push(format!(
            "Dockerfile: copies binaries from stage {stage}, which runs no `cargo build --bin`"
        ));
    }
    if let Err(problem) = image.runs(&[]) {
        problems.push(format!("Dockerfile: CMD {problem}"));
    }
    for var in &image.env {
        let ours = ENV_PREFIXES.iter().any(|p| var.starts_with(p));
        if ours && !image.copied.iter().any(|b| code.reads(b).contains(var)) {
            problems.push(format!(
                "Dockerfile: ENV {var} is read by none of the image's binaries"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Compose
// ---------------------------------------------------------------------------------------------

/// The compose file's name in messages.
const COMPOSE: &str = "docker-compose.yml";

/// Whether a compose `image` is the shop image.
fn is_shop_image_ref(image: &str) -> bool {
    image.contains("SHOP_DEPLOY_IMAGE") || image.contains(SHOP_IMAGE)
}

/// The compose services on the shop image.
fn shop_services(compose: &Value) -> Vec<(&str, &Value)> {
    let services = compose["services"].as_object().into_iter().flatten();
    services
        .filter(|(_, service)| is_shop_image_ref(text(&service["image"])))
        .map(|(name, service)| (name.as_str(), service))
        .collect()
}

/// A compose service's `environment`, as a mapping or as a list of `KEY=value`.
fn compose_env(service: &Value) -> Env {
    match &service["environment"] {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| match item.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (item.to_owned(), None),
            })
            .collect(),
        _ => Env::new(),
    }
}

/// A compose service's command as words (a list, or a string split at spaces).
fn compose_command(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::String(command) => command.split_whitespace().map(str::to_owned).collect(),
        command => list(command).iter().filter_map(scalar).collect(),
    }
}

/// A compose health check's command words after `CMD` or `CMD-SHELL`.
fn healthcheck_words(service: &Value) -> Vec<String> {
    let words: Vec<String> = match &service["healthcheck"]["test"] {
        Value::String(test) => test.split_whitespace().map(str::to_owned).collect(),
        test => list(test).iter().filter_map(scalar).collect(),
    };
    match words.split_first() {
        Some((first, rest)) if first == "CMD" => rest.to_vec(),
        Some((first, rest)) if first == "CMD-SHELL" => rest
            .iter()
            .flat_map(|r| r.split_whitespace().map(str::to_owned))
            .collect(),
        _ => words,
    }
}

/// The partitions `shop-topics` creates in a deployment, from the environments it runs with
/// (`(where, env)`): their `SHOP_TOPIC_PARTITIONS`, else the code's default. Returns the count,
/// where it comes from and the problems (unreadable or differing values).
fn partitions_of(runs: &[(String, Env)], code: &Code) -> (u64, String, Vec<String>) {
    let mut values: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (at, env) in runs {
        match env.get(PARTITIONS_VAR) {
            Some(Some(value)) => match value.parse() {
                Ok(count) => values.entry(count).or_default().push(at.clone()),
                Err(_) => problems.push(format!("{at}: {PARTITIONS_VAR}={value} is not a count")),
            },
            Some(None) => {}
            None => values
                .entry(code.default_partitions)
                .or_default()
                .push(format!("{at} (by default)")),
        }
    }
    if values.len() > 1 {
        problems.push(format!(
            "{TOPICS_TOOL} runs with different partition counts: {values:?}"
        ));
    }
    match values.into_iter().next() {
        Some((count, from)) => (count, from.join(", "), problems),
        None => (
            code.default_partitions,
            format!("{TOPICS_TOOL}'s default"),
            problems,
        ),
    }
}

/// Each compose service on the shop image runs a binary of the image and sets only variables
/// it reads; listen addresses bind every interface; scaled consumers fit in the partitions;
/// every port the image `EXPOSE`s is some service's listen port.
fn check_compose_services(compose: &Value, image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let services = shop_services(compose);
    if services.is_empty() {
        problems.push(format!("{COMPOSE}: no service on the shop image"));
    }
    let runs: Vec<(String, Env)> = services
        .iter()
        .filter(|(_, s)| {
            image
                .runs(&compose_command(s))
                .is_ok_and(|b| b == TOPICS_TOOL)
        })
        .map(|(name, s)| (format!("{COMPOSE} service {name}"), compose_env(s)))
        .collect();
    let (partitions, from, mut found) = partitions_of(&runs, code);
    problems.append(&mut found);
    let mut ports = BTreeSet::new();
    for (name, service) in services {
        let at = format!("{COMPOSE} service {name}");
        let binary = match image.runs(&compose_command(service)) {
            Ok(binary) => binary,
            Err(problem) => {
                problems.push(format!("{at}: {problem}"));
                continue;
            }
        };
        let reads = code.reads(&binary);
        let env = compose_env(service);
        for var in env.keys() {
            if !reads.contains(var) && !RUNTIME_VARIABLES.contains(&var.as_str()) {
                problems.push(format!("{at}: environment {var} is not read by {binary}"));
            }
        }
        let (listens, bad) = listeners(&env, reads);
        problems.extend(bad.iter().map(|p| format!("{at}: {p}")));
        ports.extend(listens.iter().map(|l| l.port));
        let replicas = service["deploy"]["replicas"].as_u64();
        if let Some(replicas) = replicas.or_else(|| service["scale"].as_u64())
            && code.is_consumer(&binary)
            && replicas > partitions
        {
            problems.push(format!(
                "{at}: {replicas} replicas of {binary}, more than the {partitions} partitions ({from})"
            ));
        }
    }
    for port in &image.expose {
        if !ports.contains(port) {
            problems.push(format!(
                "Dockerfile: EXPOSE {port}, but no compose service of the image listens on it"
            ));
        }
    }
    problems
}

/// Each `shop-probe` health check of a shop service uses the image's probe and asks a path its
/// binary serves on one of its listen ports.
fn check_compose_healthchecks(compose: &Value, image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in shop_services(compose) {
        let at = format!("{COMPOSE} service {name}");
        let words = healthcheck_words(service);
        let Some(at_probe) = words
            .iter()
            .position(|w| w.rsplit('/').next() == Some(PROBE))
        else {
            continue;
        };
        if let Err(problem) = image.binary(&words[at_probe]) {
            problems.push(format!("{at}: health check {problem}"));
        }
        let url = words[at_probe + 1..].iter().find(|w| w.starts_with("http"));
        let Some((port, path)) = url.and_then(|u| url_port_path(u)) else {
            problems.push(format!(
                "{at}: health check {words:?} has no http://host:port/ URL"
            ));
            continue;
        };
        let Ok(binary) = image.runs(&compose_command(service)) else {
            continue; // check_compose_services reports it
        };
        if let Some(problem) = probe_problem(&binary, &compose_env(service), port, &path, code) {
            problems.push(format!(
                "{at}: health check probes {path} on port {port}: {problem}"
            ));
        }
    }
    problems
}

/// Every `depends_on` names a defined service; `service_healthy` ones have a health check.
fn check_compose_depends_on(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let services = compose["services"].as_object().into_iter().flatten();
    for (name, service) in services {
        let dependencies: Vec<(String, &str)> = match &service["depends_on"] {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), text(&v["condition"])))
                .collect(),
            other => list(other)
                .iter()
                .filter_map(scalar)
                .map(|d| (d, ""))
                .collect(),
        };
        for (dependency, condition) in dependencies {
            let target = &compose["services"][&dependency];
            if target.is_null() {
                problems.push(format!(
                    "{COMPOSE} service {name}: depends on {dependency}, which is not a service"
                ));
            } else if condition == "service_healthy" && target["healthcheck"]["test"].is_null() {
                problems.push(format!(
                    "{COMPOSE} service {name}: waits for {dependency} to be healthy, which has no health check"
                ));
            }
        }
    }
    problems
}

/// Every processor binary has a compose service of its name running it, and a service runs
/// the topics tool.
fn check_compose_processors(compose: &Value, image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let services = shop_services(compose);
    let runs = |name: &str, service: &Value| {
        image
            .runs(&compose_command(service))
            .is_ok_and(|b| b == name)
    };
    for processor in code.processors.keys() {
        match services.iter().find(|(name, _)| name == processor) {
            Some((_, service)) if runs(processor, service) => {}
            Some(_) => problems.push(format!(
                "{COMPOSE} service {processor}: does not run the {processor} processor"
            )),
            None => problems.push(format!(
                "{COMPOSE}: no service {processor} for the {processor} processor"
            )),
        }
    }
    if !services.iter().any(|(_, s)| runs(TOPICS_TOOL, s)) {
        problems.push(format!("{COMPOSE}: no service runs {TOPICS_TOOL}"));
    }
    problems
}

/// Every Prometheus scrape target (`static_configs` targets, `dns_sd_configs` names and port)
/// is a compose service on the shop image listening on that port and serving the job's
/// `metrics_path` there.
fn check_prometheus(
    prometheus: &Value,
    compose: &Value,
    image: &Dockerfile,
    code: &Code,
) -> Vec<String> {
    let mut problems = Vec::new();
    for job in list(&prometheus["scrape_configs"]) {
        let name = text(&job["job_name"]);
        let path = job["metrics_path"].as_str().unwrap_or("/metrics");
        let mut targets: Vec<String> = list(&job["static_configs"])
            .iter()
            .flat_map(|c| list(&c["targets"]))
            .filter_map(scalar)
            .collect();
        for discovery in list(&job["dns_sd_configs"]) {
            let port = scalar(&discovery["port"]).unwrap_or_default();
            let names = list(&discovery["names"]).iter().filter_map(scalar);
            targets.extend(names.map(|host| format!("{host}:{port}")));
        }
        for target in targets {
            let at = format!("prometheus.yml job {name} target {target}");
            let Some((host, port)) = target
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            else {
                problems.push(format!("{at}: not host:port"));
                continue;
            };
            let service = &compose["services"][host];
            if service.is_null() {
                problems.push(format!("{at}: {host} is not a compose service"));
                continue;
            }
            if !is_shop_image_ref(text(&service["image"])) {
                problems.push(format!("{at}: {host} is not on the shop image"));
                continue;
            }
            let binary = match image.runs(&compose_command(service)) {
                Ok(binary) => binary,
                Err(problem) => {
                    problems.push(format!("{at}: {host} {problem}"));
                    continue;
                }
            };
            if let Some(problem) = probe_problem(&binary, &compose_env(service), port, path, code) {
                problems.push(format!("{at}: scrapes {path} on port {port}: {problem}"));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------

/// One object of the Kubernetes manifests, with its file (relative to `deployments/k8s`).
#[derive(Debug)]
struct Manifest {
    file: String,
    object: Value,
}

impl Manifest {
    fn kind(&self) -> &str {
        text(&self.object["kind"])
    }

    fn name(&self) -> &str {
        text(&self.object["metadata"]["name"])
    }

    /// `<file> <Kind>/<name>`, for messages.
    fn at(&self) -> String {
        format!("{} {}/{}", self.file, self.kind(), self.name())
    }
}

/// The objects of one manifest file.
fn parse_manifests(file: &str, source: &str) -> Result<Vec<Manifest>, String> {
    let documents = yaml_documents(source, file)?;
    let objects = documents.into_iter().map(|object| Manifest {
        file: file.to_owned(),
        object,
    });
    Ok(objects.collect())
}

/// The manifest files under `deployments/k8s` (relative paths), kustomization.yaml aside.
fn manifest_files() -> Result<BTreeSet<String>, String> {
    let dir = k8s_dir();
    let files = files_under(&dir, &["yaml", "yml"])?;
    let names = files.iter().map(|f| relative(f, &dir));
    Ok(names.filter(|f| f != "kustomization.yaml").collect())
}

/// Every object of every manifest file.
fn load_manifests() -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for file in manifest_files()? {
        let source = read(&k8s_dir().join(&file))?;
        manifests.extend(parse_manifests(&file, &source)?);
    }
    Ok(manifests)
}

/// A workload's pod template: `spec.template`, or a CronJob's `spec.jobTemplate.spec.template`.
fn pod_template(object: &Value) -> Option<&Value> {
    let template = match text(&object["kind"]) {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &object["spec"]["template"]
        }
        "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"],
        _ => return None,
    };
    template.is_object().then_some(template)
}

/// The object of `kind` called `name`.
fn find_object<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> Option<&'a Manifest> {
    manifests
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
}

/// The keys and values of a ConfigMap or Secret (`data`, `stringData`, `binaryData`).
fn config_entries(object: &Value) -> Vec<(String, Option<String>)> {
    let fields = ["data", "stringData", "binaryData"].map(|f| object[f].as_object());
    let entries = fields.into_iter().flatten().flatten();
    entries.map(|(k, v)| (k.clone(), scalar(v))).collect()
}

/// The ConfigMaps and Secrets a container imports through `envFrom`: kind, name, key prefix,
/// and whether they are optional.
fn env_from(container: &Value) -> Vec<(&'static str, String, String, bool)> {
    let mut imports = Vec::new();
    for source in list(&container["envFrom"]) {
        for (kind, field) in [("ConfigMap", "configMapRef"), ("Secret", "secretRef")] {
            let reference = &source[field];
            if reference.is_object() {
                imports.push((
                    kind,
                    text(&reference["name"]).to_owned(),
                    text(&source["prefix"]).to_owned(),
                    reference["optional"] == true,
                ));
            }
        }
    }
    imports
}

/// A container's environment: its `envFrom` imports, then its `env`, which wins.
fn container_env(container: &Value, manifests: &[Manifest]) -> Env {
    let mut env = Env::new();
    for (kind, name, prefix, _) in env_from(container) {
        if let Some(object) = find_object(manifests, kind, &name) {
            for (key, value) in config_entries(&object.object) {
                env.insert(format!("{prefix}{key}"), value);
            }
        }
    }
    for item in list(&container["env"]) {
        env.insert(text(&item["name"]).to_owned(), scalar(&item["value"]));
    }
    env
}

/// An image reference without tag or digest (`shop-pipeline:0.1.0` → `shop-pipeline`).
fn image_name(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    let last = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last..].find(':') {
        Some(colon) => &reference[..last + colon],
        None => reference,
    }
}

/// Whether a container image is the shop image (whatever the registry or tag).
fn is_shop_image(reference: &str) -> bool {
    let name = image_name(reference);
    name == SHOP_IMAGE || name.ends_with(&format!("/{SHOP_IMAGE}"))
}

/// A workload's container on the shop image.
#[derive(Debug)]
struct ShopContainer<'a> {
    /// `<file> <Kind>/<name> container <name>`, for messages.
    at: String,
    workload: &'a Manifest,
    container: &'a Value,
    /// The image binary it runs (the first word of `command` + `args`, else the image's
    /// `CMD`), or why it runs none.
    binary: Result<String, String>,
    env: Env,
}

/// Every container (init containers too) on the shop image, in every workload.
fn shop_containers<'a>(manifests: &'a [Manifest], image: &Dockerfile) -> Vec<ShopContainer<'a>> {
    let mut found = Vec::new();
    for workload in manifests {
        let Some(pod) = pod_template(&workload.object) else {
            continue;
        };
        let spec = &pod["spec"];
        for container in list(&spec["initContainers"])
            .iter()
            .chain(list(&spec["containers"]))
        {
            if !is_shop_image(text(&container["image"])) {
                continue;
            }
            let words: Vec<String> = list(&container["command"])
                .iter()
                .chain(list(&container["args"]))
                .filter_map(scalar)
                .collect();
            found.push(ShopContainer {
                at: format!("{} container {}", workload.at(), text(&container["name"])),
                workload,
                container,
                binary: image.runs(&words),
                env: container_env(container, manifests),
            });
        }
    }
    found
}

/// Each shop container runs a binary of the image; each `env` name is read by it; its listen
/// addresses bind every interface; each `secretKeyRef`/`configMapKeyRef` names an existing key.
fn check_k8s_containers(manifests: &[Manifest], image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let containers = shop_containers(manifests, image);
    if containers.is_empty() {
        problems.push("deployments/k8s: no container on the shop image".to_owned());
    }
    for c in containers {
        let binary = match &c.binary {
            Ok(binary) => binary,
            Err(problem) => {
                problems.push(format!("{}: {problem}", c.at));
                continue;
            }
        };
        let reads = code.reads(binary);
        for item in list(&c.container["env"]) {
            let name = text(&item["name"]);
            if !reads.contains(name) && !RUNTIME_VARIABLES.contains(&name) {
                problems.push(format!("{}: env {name} is not read by {binary}", c.at));
            }
            for (kind, field) in [("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")] {
                let reference = &item["valueFrom"][field];
                if !reference.is_object() || reference["optional"] == true {
                    continue;
                }
                let (object, key) = (text(&reference["name"]), text(&reference["key"]));
                match find_object(manifests, kind, object) {
                    None => problems.push(format!(
                        "{}: env {name} comes from {kind} {object}, which no manifest defines",
                        c.at
                    )),
                    Some(found) if !config_entries(&found.object).iter().any(|(k, _)| k == key) => {
                        problems.push(format!(
                            "{}: env {name} comes from key {key} of {}, which has no such key",
                            c.at,
                            found.at()
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let (_, bad) = listeners(&c.env, reads);
        problems.extend(bad.iter().map(|p| format!("{}: {p}", c.at)));
    }
    problems
}

/// Each ConfigMap or Secret imported through `envFrom` exists, and each of its keys is read by
/// at least one of the binaries importing it.
fn check_k8s_env_from(manifests: &[Manifest], image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let mut importers: BTreeMap<(&str, String, String), BTreeSet<String>> = BTreeMap::new();
    for c in shop_containers(manifests, image) {
        for (kind, name, prefix, optional) in env_from(c.container) {
            if find_object(manifests, kind, &name).is_none() {
                if !optional {
                    problems.push(format!(
                        "{}: envFrom {kind} {name}, which no manifest defines",
                        c.at
                    ));
                }
                continue;
            }
            let binaries = importers.entry((kind, name, prefix)).or_default();
            binaries.extend(c.binary.iter().cloned());
        }
    }
    for ((kind, name, prefix), binaries) in importers {
        let Some(object) = find_object(manifests, kind, &name) else {
            continue;
        };
        for (key, _) in config_entries(&object.object) {
            let var = format!("{prefix}{key}");
            if !binaries.iter().any(|b| code.reads(b).contains(&var)) {
                let names: Vec<&str> = binaries.iter().map(String::as_str).collect();
                problems.push(format!(
                    "{}: key {var} is read by none of the binaries importing it ({})",
                    object.at(),
                    names.join(", ")
                ));
            }
        }
    }
    problems
}

/// Each `httpGet` probe of a shop container asks a path served on one of its listen ports;
/// each `containerPort` is a listen port; a `prometheus.io/port` annotation names a listen port
/// serving its `prometheus.io/path`.
fn check_k8s_probes(manifests: &[Manifest], image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    for c in shop_containers(manifests, image) {
        let Ok(binary) = &c.binary else {
            continue; // check_k8s_containers reports it
        };
        let named: BTreeMap<&str, u16> = list(&c.container["ports"])
            .iter()
            .filter_map(|p| {
                Some((
                    text(&p["name"]),
                    u16::try_from(p["containerPort"].as_u64()?).ok()?,
                ))
            })
            .collect();
        let mut check = |what: &str, port: &Value, path: &str| {
            let number = match port {
                Value::String(name) => named
                    .get(name.as_str())
                    .copied()
                    .or_else(|| name.parse().ok()),
                other => other.as_u64().and_then(|p| u16::try_from(p).ok()),
            };
            let Some(number) = number else {
                problems.push(format!(
                    "{}: {what} port {port} is not a port of the container",
                    c.at
                ));
                return;
            };
            if let Some(problem) = probe_problem(binary, &c.env, number, path, code) {
                problems.push(format!(
                    "{}: {what} asks {path} on port {number}: {problem}",
                    c.at
                ));
            }
        };
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let get = &c.container[probe]["httpGet"];
            if get.is_object() {
                check(probe, &get["port"], get["path"].as_str().unwrap_or("/"));
            }
        }
        let annotations = &c.workload.object["spec"]["template"]["metadata"]["annotations"];
        if let Some(port) = scalar(&annotations["prometheus.io/port"]) {
            let path = annotations["prometheus.io/path"]
                .as_str()
                .unwrap_or("/metrics");
            check("prometheus.io/port annotation", &Value::String(port), path);
        }
        let (listens, _) = listeners(&c.env, code.reads(binary));
        for (name, port) in &named {
            if !listens.iter().any(|l| l.port == *port) {
                problems.push(format!(
                    "{}: containerPort {port} ({name}) is none of its listen addresses' ports",
                    c.at
                ));
            }
        }
    }
    problems
}

/// Replicas (and autoscaler maxima) of consumer workloads stay within the partitions the topics
/// Job creates; every HorizontalPodAutoscaler targets a workload.
fn check_k8s_replicas(manifests: &[Manifest], image: &Dockerfile, code: &Code) -> Vec<String> {
    let containers = shop_containers(manifests, image);
    let runs: Vec<(String, Env)> = containers
        .iter()
        .filter(|c| matches!(&c.binary, Ok(b) if b == TOPICS_TOOL))
        .map(|c| (c.at.clone(), c.env.clone()))
        .collect();
    let (partitions, from, mut problems) = partitions_of(&runs, code);
    let autoscalers: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.kind() == "HorizontalPodAutoscaler")
        .collect();
    for hpa in &autoscalers {
        let target = &hpa.object["spec"]["scaleTargetRef"];
        if find_object(manifests, text(&target["kind"]), text(&target["name"])).is_none() {
            problems.push(format!(
                "{}: scales {target}, which no manifest defines",
                hpa.at()
            ));
        }
    }
    for c in &containers {
        let Ok(binary) = &c.binary else {
            continue;
        };
        if !code.is_consumer(binary) {
            continue;
        }
        let workload = c.workload;
        if ["Deployment", "StatefulSet", "ReplicaSet"].contains(&workload.kind()) {
            let replicas = workload.object["spec"]["replicas"].as_u64().unwrap_or(1);
            if replicas > partitions {
                problems.push(format!(
                    "{}: {replicas} replicas of {binary}, more than the {partitions} partitions ({from})",
                    workload.at()
                ));
            }
        }
        for hpa in &autoscalers {
            let target = &hpa.object["spec"]["scaleTargetRef"];
            let max = hpa.object["spec"]["maxReplicas"].as_u64().unwrap_or(0);
            if target["kind"] == workload.kind()
                && target["name"] == workload.name()
                && max > partitions
            {
                problems.push(format!(
                    "{}: up to {max} replicas of {binary}, more than the {partitions} partitions ({from})",
                    hpa.at()
                ));
            }
        }
    }
    problems
}

/// Every processor binary runs in a Deployment or StatefulSet, and a workload runs the topics
/// tool.
fn check_k8s_processors(manifests: &[Manifest], image: &Dockerfile, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let containers = shop_containers(manifests, image);
    let runs = |binary: &str, kinds: &[&str]| {
        containers.iter().any(|c| {
            matches!(&c.binary, Ok(b) if b == binary) && kinds.contains(&c.workload.kind())
        })
    };
    for processor in code.processors.keys() {
        if !runs(processor, &["Deployment", "StatefulSet"]) {
            problems.push(format!(
                "deployments/k8s: no Deployment or StatefulSet runs {processor}"
            ));
        }
    }
    if !runs(
        TOPICS_TOOL,
        &["Job", "CronJob", "Deployment", "StatefulSet"],
    ) {
        problems.push(format!("deployments/k8s: no workload runs {TOPICS_TOOL}"));
    }
    problems
}

/// Whether a label selector (a `matchLabels`-style mapping) selects pods with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k.as_str()] == *v))
}

/// Whether one of a pod's containers declares `port` (a name, or a number).
fn declares_port(pod: &Value, port: &Value) -> bool {
    let ports = list(&pod["spec"]["containers"])
        .iter()
        .flat_map(|c| list(&c["ports"]));
    ports.clone().any(|p| match port {
        Value::String(name) => p["name"] == *name,
        number => p["containerPort"] == *number,
    })
}

/// Workloads select their own pods; each Service and PodDisruptionBudget selects the pods of
/// exactly one workload, and each Service port targets a port they declare; StatefulSets name
/// a Service; Ingress backends name a Service port.
fn check_k8s_selectors(manifests: &[Manifest]) -> Vec<String> {
    let mut problems = Vec::new();
    let pods: Vec<(&Manifest, &Value)> = manifests
        .iter()
        .filter_map(|m| pod_template(&m.object).map(|pod| (m, pod)))
        .collect();
    for (workload, pod) in &pods {
        let selector = &workload.object["spec"]["selector"]["matchLabels"];
        if selector.is_object() && !selects(selector, &pod["metadata"]["labels"]) {
            problems.push(format!(
                "{}: selector {selector} does not match its pod template's labels",
                workload.at()
            ));
        }
        let service = text(&workload.object["spec"]["serviceName"]);
        if workload.kind() == "StatefulSet" && find_object(manifests, "Service", service).is_none()
        {
            problems.push(format!(
                "{}: serviceName {service:?} is not a Service",
                workload.at()
            ));
        }
    }
    for object in manifests {
        let selector = match object.kind() {
            "Service" => &object.object["spec"]["selector"],
            "PodDisruptionBudget" => &object.object["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        if object.kind() == "Service" && selector.is_null() {
            continue; // endpoints managed by hand
        }
        let matched: Vec<&(&Manifest, &Value)> = pods
            .iter()
            .filter(|(_, pod)| selects(selector, &pod["metadata"]["labels"]))
            .collect();
        let [(workload, pod)] = matched.as_slice() else {
            let names: Vec<String> = matched.iter().map(|(m, _)| m.at()).collect();
            problems.push(format!(
                "{}: selector {selector} selects the pods of {} workloads, not one: [{}]",
                object.at(),
                matched.len(),
                names.join(", ")
            ));
            continue;
        };
        for port in list(&object.object["spec"]["ports"])
            .iter()
            .filter(|_| object.kind() == "Service")
        {
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            if !declares_port(pod, target) {
                problems.push(format!(
                    "{}: port {} targets {target}, which no container of {} declares",
                    object.at(),
                    port["name"],
                    workload.at()
                ));
            }
        }
    }
    for ingress in manifests.iter().filter(|m| m.kind() == "Ingress") {
        let rules = list(&ingress.object["spec"]["rules"]).iter();
        let paths = rules.flat_map(|r| list(&r["http"]["paths"]));
        let backends = paths
            .map(|p| &p["backend"]["service"])
            .chain([&ingress.object["spec"]["defaultBackend"]["service"]]);
        for backend in backends.filter(|b| b.is_object()) {
            let name = text(&backend["name"]);
            let Some(service) = find_object(manifests, "Service", name) else {
                problems.push(format!("{}: backend {name} is not a Service", ingress.at()));
                continue;
            };
            let port = &backend["port"];
            let has_port = list(&service.object["spec"]["ports"]).iter().any(|p| {
                (!port["name"].is_null() && p["name"] == port["name"])
                    || (!port["number"].is_null() && p["port"] == port["number"])
            });
            if !has_port {
                problems.push(format!(
                    "{}: backend {name} port {port} is not a port of {}",
                    ingress.at(),
                    service.at()
                ));
            }
        }
    }
    problems
}

/// The kustomization lists exactly the manifest files (each once), and each image it rewrites
/// is one a container uses.
fn check_kustomization(
    kustomization: &Value,
    files: &BTreeSet<String>,
    manifests: &[Manifest],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for resource in list(&kustomization["resources"]).iter().filter_map(scalar) {
        if !files.contains(&resource) {
            problems.push(format!(
                "kustomization.yaml: resource {resource} is not a manifest file under deployments/k8s"
            ));
        }
        if !listed.insert(resource.clone()) {
            problems.push(format!(
                "kustomization.yaml: resource {resource} is listed twice"
            ));
        }
    }
    for file in files.difference(&listed) {
        problems.push(format!("kustomization.yaml: does not list {file}"));
    }
    let used: BTreeSet<&str> = manifests
        .iter()
        .filter_map(|m| pod_template(&m.object))
        .flat_map(|pod| {
            list(&pod["spec"]["initContainers"])
                .iter()
                .chain(list(&pod["spec"]["containers"]))
        })
        .map(|c| image_name(text(&c["image"])))
        .collect();
    for entry in list(&kustomization["images"]) {
        let name = text(&entry["name"]);
        if !used.contains(name) {
            problems.push(format!(
                "kustomization.yaml: images rewrites {name}, which no container uses"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Topic and consumer-group names
// ---------------------------------------------------------------------------------------------

/// The `SHOP_*GROUP*` settings in `value`: mapping entries (compose `environment`, ConfigMap
/// `data`) and `{name, value}` items (a container's `env`).
fn group_settings(value: &Value, found: &mut Vec<(String, String)>) {
    let is_group_var = |name: &str| name.starts_with("SHOP_") && name.contains("GROUP");
    match value {
        Value::Object(map) => {
            if let (Some(name), Some(setting)) = (
                map.get("name").and_then(Value::as_str),
                map.get("value").and_then(scalar),
            ) && is_group_var(name)
            {
                found.push((name.to_owned(), setting));
            }
            for (key, entry) in map {
                if is_group_var(key)
                    && let Some(setting) = scalar(entry)
                {
                    found.push((key.clone(), setting));
                }
                group_settings(entry, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| group_settings(i, found)),
        _ => {}
    }
}

/// Topic and group names in a deployment file are the code's. A word of a string value that
/// looks like a topic (dotted, starting with a topic's first segment, as `orders.` in
/// `orders.events`) must be a declared topic; a `shop-…` entry of a `SHOP_*GROUP*` setting must
/// be a group the code forms, or with `…_PREFIX` the start of one.
fn check_names(file: &str, value: &Value, code: &Code) -> Vec<String> {
    let mut problems = Vec::new();
    let namespaces: BTreeSet<&str> = code
        .topics
        .iter()
        .filter_map(|t| t.split('.').next())
        .collect();
    let mut found = Vec::new();
    strings(value, "", &mut found);
    for (at, string) in found {
        let words =
            string.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
        for word in words.map(|w| w.trim_matches('.')) {
            let first = word.split('.').next().unwrap_or("");
            if word.contains('.') && namespaces.contains(first) && !code.topics.contains(word) {
                problems.push(format!(
                    "{file} {at}: {word:?} is not a topic the code declares"
                ));
            }
        }
    }
    let mut settings = Vec::new();
    group_settings(value, &mut settings);
    for (var, setting) in settings {
        for entry in setting
            .split(',')
            .map(str::trim)
            .filter(|e| e.starts_with("shop-"))
        {
            let known = if var.ends_with("_PREFIX") {
                code.groups.iter().any(|g| g.starts_with(entry))
            } else {
                code.groups.contains(entry)
            };
            if !known {
                problems.push(format!(
                    "{file} {var}: {entry:?} is not a consumer group the code forms"
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The files
// ---------------------------------------------------------------------------------------------

fn dockerfile() -> Dockerfile {
    parse_dockerfile(&read(&root().join("Dockerfile")).unwrap_or_else(|e| panic!("{e}")))
}

fn compose_file(name: &str) -> Value {
    let path = root().join("deployments/compose").join(name);
    let source = read(&path).unwrap_or_else(|e| panic!("{e}"));
    parse_yaml(&source, name).unwrap_or_else(|e| panic!("{e}"))
}

fn compose() -> Value {
    compose_file(COMPOSE)
}

fn manifests() -> Vec<Manifest> {
    load_manifests().unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// The checks on the real files
// ---------------------------------------------------------------------------------------------

/// The yardstick itself: what the scan of the code finds must hold what it obviously should.
#[test]
fn the_code_scan_finds_binaries_variables_and_listeners() {
    let code = &*CODE;
    let image = dockerfile();
    let mut problems = Vec::new();
    let kinds: BTreeSet<&String> = code.processors.values().collect();
    let all: BTreeSet<&String> = code.processor_kinds.iter().collect();
    if kinds != all || code.processors.len() != all.len() {
        problems.push(format!(
            "processor binaries {:?} do not run each of ProcessorKind::ALL {all:?} once",
            code.processors
        ));
    }
    for (binary, wanted) in [
        (
            "shop-catalog",
            &[
                "SHOP_CATALOG_SEED",
                "SHOP_METRICS_ADDR",
                "SHOP_INSTANCE_ID",
                "OTEL_SERVICE_NAME",
                "SHOP_LOG",
            ][..],
        ),
        (
            "shop-ingress",
            &["SHOP_HTTP_ADDR", "SHOP_JWT_SECRET", "SHOP_DATABASE_URL"],
        ),
        ("shop-topics", &[PARTITIONS_VAR, "SHOP_KAFKA_BROKERS"]),
        ("shop-monitor", &["SHOP_MONITOR_ADDR"]),
    ] {
        for var in wanted {
            if !code.reads(binary).contains(*var) {
                problems.push(format!("{binary} should read {var}"));
            }
        }
    }
    // Crates it does not depend on, and the platform's `testing` module (feature-gated).
    for (binary, var) in [
        ("shop-topics", "SHOP_METRICS_ADDR"),
        ("shop-probe", "SHOP_DATABASE_URL"),
    ] {
        if code.reads(binary).contains(var) {
            problems.push(format!("{binary} should not read {var}"));
        }
    }
    if !code.is_consumer("shop-cart")
        || !code.is_consumer("shop-projector")
        || code.is_consumer("shop-ingress")
    {
        problems
            .push("consumers: shop-cart and shop-projector are, shop-ingress is not".to_owned());
    }
    for group in ["shop-orders", "shop-projector", "shop-projector.db-offsets"] {
        if !code.groups.contains(group) {
            problems.push(format!(
                "{group} should be a known group: {:?}",
                code.groups
            ));
        }
    }
    if code.groups.contains("shop-cart.db-offsets") {
        problems.push("only the projector mirrors its offsets to a second group".to_owned());
    }
    if !code.topics.contains("orders.events") || !code.topics.contains("orders.events.dlq") {
        problems.push(format!("topics: {:?}", code.topics));
    }
    // Every listen address a binary of the image reads is in SERVED, and SERVED is what the
    // code serves there.
    for binary in &image.copied {
        let own = code.own_reads.get(binary).unwrap_or(&NOTHING);
        for var in code.reads(binary) {
            let listen_like = var.starts_with("SHOP_") && var.ends_with("_ADDR");
            if listen_like && !SERVED.iter().any(|(v, _, _)| v == var) {
                problems.push(format!(
                    "{binary} reads {var}, a listen address SERVED lacks"
                ));
            }
        }
        let source = code.source_text(binary);
        let routes = get_routes(&source);
        for (var, listener, paths) in SERVED.iter().filter(|(v, _, _)| own.contains(*v)) {
            match listener {
                Listener::Router => {
                    for path in paths.iter().filter(|p| !routes.contains(**p)) {
                        problems.push(format!("{binary} ({var}) has no GET route {path}"));
                    }
                }
                Listener::PrometheusExporter if !source.contains("with_http_listener") => {
                    problems.push(format!(
                        "{binary} ({var}) starts no Prometheus HTTP listener"
                    ));
                }
                Listener::PrometheusExporter => {}
            }
        }
    }
    assert!(code.default_partitions >= 1);
    assert_none("the code scan", &problems);
}

#[test]
fn dockerfile_builds_and_copies_the_same_workspace_binaries() {
    assert_none("Dockerfile", &check_dockerfile(&dockerfile(), &CODE));
}

#[test]
fn compose_services_run_image_binaries_with_variables_they_read() {
    assert_none(
        COMPOSE,
        &check_compose_services(&compose(), &dockerfile(), &CODE),
    );
}

#[test]
fn compose_healthchecks_probe_a_served_path_on_a_listen_port() {
    assert_none(
        COMPOSE,
        &check_compose_healthchecks(&compose(), &dockerfile(), &CODE),
    );
}

#[test]
fn compose_depends_on_names_defined_services() {
    assert_none(COMPOSE, &check_compose_depends_on(&compose()));
}

#[test]
fn compose_has_a_service_for_every_processor_and_the_topics_tool() {
    assert_none(
        COMPOSE,
        &check_compose_processors(&compose(), &dockerfile(), &CODE),
    );
}

#[test]
fn prometheus_scrapes_compose_services_on_their_listen_ports() {
    let prometheus = compose_file("prometheus/prometheus.yml");
    let problems = check_prometheus(&prometheus, &compose(), &dockerfile(), &CODE);
    assert_none("prometheus.yml", &problems);
}

#[test]
fn k8s_containers_run_image_binaries_with_variables_they_read() {
    assert_none(
        "deployments/k8s",
        &check_k8s_containers(&manifests(), &dockerfile(), &CODE),
    );
}

#[test]
fn k8s_env_from_keys_are_read_by_an_importing_binary() {
    assert_none(
        "deployments/k8s",
        &check_k8s_env_from(&manifests(), &dockerfile(), &CODE),
    );
}

#[test]
fn k8s_probes_and_ports_match_the_listen_addresses() {
    assert_none(
        "deployments/k8s",
        &check_k8s_probes(&manifests(), &dockerfile(), &CODE),
    );
}

#[test]
fn k8s_consumer_replicas_fit_in_the_partitions() {
    assert_none(
        "deployments/k8s",
        &check_k8s_replicas(&manifests(), &dockerfile(), &CODE),
    );
}

#[test]
fn k8s_has_a_workload_for_every_processor_and_the_topics_tool() {
    assert_none(
        "deployments/k8s",
        &check_k8s_processors(&manifests(), &dockerfile(), &CODE),
    );
}

#[test]
fn k8s_services_and_budgets_select_exactly_one_workload() {
    assert_none("deployments/k8s", &check_k8s_selectors(&manifests()));
}

#[test]
fn kustomization_lists_every_manifest() {
    let source = read(&k8s_dir().join("kustomization.yaml")).unwrap();
    let kustomization = parse_yaml(&source, "kustomization.yaml").unwrap();
    let files = manifest_files().unwrap();
    let problems = check_kustomization(&kustomization, &files, &manifests());
    assert_none("kustomization.yaml", &problems);
}

#[test]
fn topic_and_group_names_in_deployments_are_declared() {
    let mut problems = check_names(COMPOSE, &compose(), &CODE);
    for manifest in manifests() {
        problems.extend(check_names(&manifest.at(), &manifest.object, &CODE));
    }
    assert_none("topic and group names", &problems);
}

// ---------------------------------------------------------------------------------------------
// The checkers can fail: doctored files
// ---------------------------------------------------------------------------------------------

#[test]
fn yaml_merge_keys_resolve_through_nested_anchors() {
    let compose = parse_yaml(
        r#"
x-base: &base
  image: shop-pipeline:0.1.0
  restart: always
x-processor: &processor
  <<: *base
  restart: "no"
services:
  a:
    <<: *processor
    command: [shop-cart]
  b:
    <<: [*processor, {init: true, restart: on-failure}]
"#,
        "doctored",
    )
    .unwrap();
    let a = &compose["services"]["a"];
    assert_eq!(
        a["image"], "shop-pipeline:0.1.0",
        "merged from two levels up"
    );
    assert_eq!(a["restart"], "no", "the nearer mapping wins");
    assert!(a.get("<<").is_none(), "no merge key left: {a}");
    let b = &compose["services"]["b"];
    assert_eq!(b["init"], true);
    assert_eq!(b["restart"], "no", "the first merged mapping wins");
    assert!(parse_yaml("a:\n  <<: 3\n", "doctored").is_err());
}

#[test]
fn source_scan_ignores_comments_and_test_modules() {
    let source = r##"
//! "SHOP_IN_A_DOC_COMMENT"
#[arg(long, env = "SHOP_FLAG")]
let a = std::env::var("SHOP_VAR");
let b = std::env::var("HOSTNAME");
let c = format!("SHOP_NOT_WHOLE: {x}");
    // "SHOP_IN_A_COMMENT"
#[cfg(not(test))]
mod real { const X: &str = "OTEL_NOT_A_TEST"; }
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    const Y: &str = "SHOP_IN_A_TEST";
}
"##;
    let found = env_literals(&non_test_text(source));
    let expected = ["SHOP_FLAG", "SHOP_VAR", "HOSTNAME", "OTEL_NOT_A_TEST"];
    assert_eq!(found, expected.map(str::to_owned).into());
    let gated =
        "#[cfg(test)]\nmod tests;\n#[cfg(feature = \"testing\")]\npub mod testing;\nmod real;\n";
    assert_eq!(
        test_module_paths(Path::new("x/src/catalog/mod.rs"), gated),
        [
            "x/src/catalog/tests.rs",
            "x/src/catalog/tests",
            "x/src/catalog/testing.rs",
            "x/src/catalog/testing"
        ]
        .map(PathBuf::from)
    );
    assert_eq!(
        test_module_paths(
            Path::new("x/src/invariants/check.rs"),
            "#[cfg(test)]\npub(super) mod tests;\n"
        ),
        [
            "x/src/invariants/check/tests.rs",
            "x/src/invariants/check/tests"
        ]
        .map(PathBuf::from)
    );
}

#[test]
fn dockerfile_check_catches_doctored_lists() {
    let image = parse_dockerfile(
        r#"
FROM rust AS builder
RUN cargo build --release \
      --bin shop-cart \
    # a comment inside the continuation
      --bin shop-nope
FROM rust AS other
FROM debian AS runtime
COPY --from=other /build/target/release/shop-orders /usr/local/bin/
ENV SHOP_NOT_READ=1 PATH=/bin
EXPOSE 9101/tcp
CMD ["shop-cart"]
"#,
    );
    assert_eq!(
        image.built,
        ["shop-cart", "shop-nope"].map(str::to_owned).into()
    );
    assert_eq!(image.bin_dir, "/usr/local/bin");
    assert_eq!(image.expose, [9101]);
    assert_reported(
        &check_dockerfile(&image, &CODE),
        &[
            "builds shop-cart but does not copy it",
            "copies shop-orders, which the cargo build does not build",
            "shop-nope is not a binary target",
            "from stage other",
            "CMD runs shop-cart, which is not a binary of the image",
            "ENV SHOP_NOT_READ",
        ],
    );
    assert!(image.binary("/usr/local/bin/shop-orders").is_ok());
    assert!(image.binary("/opt/shop-orders").is_err());
}

#[test]
fn compose_checks_catch_doctored_services() {
    let compose = parse_yaml(
        r#"
x-shop: &shop
  image: ${SHOP_DEPLOY_IMAGE:-shop-pipeline:0.1.0}
services:
  shop-cart:
    <<: *shop
    command: ["shop-cart"]
    deploy: {replicas: 99}
    environment:
      SHOP_METRICS_ADDR: 0.0.0.0:9101
      SHOP_NOT_A_VARIABLE: "1"
      SHOP_MONITOR_GROUPS: shop-order,other-group
      SHOP_KAFKA_PROPERTIES: "x=orders.event"
    healthcheck:
      test: ["CMD", "shop-probe", "http://127.0.0.1:9999/health"]
    depends_on: [shop-nowhere]
  shop-orders:
    <<: *shop
    command: ["shop-nope"]
  shop-projector:
    <<: *shop
    command: ["/usr/local/bin/shop-projector"]
    environment:
      SHOP_METRICS_ADDR: 127.0.0.1:9102
    healthcheck:
      test: ["CMD", "shop-probe", "http://127.0.0.1:9102/ready"]
    depends_on:
      shop-orders: {condition: service_healthy}
"#,
        "doctored",
    )
    .unwrap();
    let prometheus = parse_yaml(
        r#"
scrape_configs:
  - job_name: p
    static_configs: [{targets: ["shop-projector:9300", "kafka:9092"]}]
    dns_sd_configs: [{names: [shop-cart], type: A, port: 9101}]
"#,
        "doctored",
    )
    .unwrap();
    let image = dockerfile();
    assert_reported(
        &check_compose_services(&compose, &image, &CODE),
        &[
            "service shop-cart: environment SHOP_NOT_A_VARIABLE is not read by shop-cart",
            "service shop-orders: runs shop-nope",
            "99 replicas of shop-cart",
            "SHOP_METRICS_ADDR=127.0.0.1:9102 binds 127.0.0.1 only",
            "EXPOSE 8080",
        ],
    );
    assert_reported(
        &check_compose_healthchecks(&compose, &image, &CODE),
        &[
            "shop-cart: health check probes /health on port 9999: shop-cart listens on SHOP_METRICS_ADDR=0.0.0.0:9101",
            "shop-projector: health check probes /ready on port 9102: SHOP_METRICS_ADDR serves /health, /metrics there",
        ],
    );
    assert_reported(
        &check_compose_depends_on(&compose),
        &[
            "depends on shop-nowhere",
            "waits for shop-orders to be healthy",
        ],
    );
    assert_reported(
        &check_compose_processors(&compose, &image, &CODE),
        &[
            "no service shop-catalog",
            "service shop-orders: does not run",
            "no service runs shop-topics",
        ],
    );
    let scraped = check_prometheus(&prometheus, &compose, &image, &CODE);
    assert_reported(
        &scraped,
        &[
            "target shop-projector:9300",
            "kafka is not a compose service",
        ],
    );
    assert!(
        !scraped.iter().any(|p| p.contains("shop-cart:9101")),
        "{scraped:?}"
    );
    let names = check_names("doctored", &compose, &CODE);
    assert_reported(
        &names,
        &[
            "\"orders.event\" is not a topic",
            "\"shop-order\" is not a consumer group",
        ],
    );
    assert_eq!(
        names.len(),
        2,
        "other-group and the rest are fine: {names:?}"
    );
}

#[test]
fn k8s_checks_catch_doctored_manifests() {
    let manifests = parse_manifests(
        "doctored.yaml",
        r#"
# A comment-only document is skipped.
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  SHOP_KAFKA_BROKERS: kafka:9092
  SHOP_NOT_READ: "x"
  SHOP_TOPIC_PARTITIONS: "4"
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: shop-cart}
spec:
  serviceName: shop-cart
  replicas: 99
  selector: {matchLabels: {app: shop-cart}}
  template:
    metadata:
      labels: {app: shop-cart}
      annotations: {prometheus.io/port: "9102"}
    spec:
      containers:
        - name: shop-cart
          image: registry.example.com/shop-pipeline:0.1.0
          command: ["/usr/local/bin/shop-cart"]
          envFrom: [{configMapRef: {name: cfg}}, {secretRef: {name: missing}}]
          env:
            - {name: SHOP_METRICS_ADDR, value: "0.0.0.0:9101"}
            - {name: SHOP_NOT_A_VARIABLE, value: "1"}
            - name: SHOP_INSTANCE_ID
              valueFrom: {secretKeyRef: {name: cfg, key: nope}}
          ports: [{name: metrics, containerPort: 9101}, {name: other, containerPort: 7000}]
          livenessProbe: {httpGet: {path: /ready, port: metrics}}
          readinessProbe: {httpGet: {path: /health, port: 9999}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: shop-topics}
spec:
  template:
    spec:
      containers:
        - name: shop-topics
          image: shop-pipeline:0.1.0
          command: ["/usr/local/bin/shop-topics"]
          args: ["apply"]
          envFrom: [{configMapRef: {name: cfg}}]
---
apiVersion: v1
kind: Service
metadata: {name: shop-cat}
spec:
  selector: {app: shop-catalog}
  ports: [{port: 9101, targetPort: metrics}]
---
apiVersion: v1
kind: Service
metadata: {name: shop-cart}
spec:
  selector: {app: shop-cart}
  ports: [{name: m, port: 9101, targetPort: nope}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: shop-cart}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: shop-cart}
  maxReplicas: 12
"#,
    )
    .unwrap();
    assert_eq!(manifests.len(), 6, "the comment-only document is skipped");
    let image = dockerfile();
    assert_reported(
        &check_k8s_containers(&manifests, &image, &CODE),
        &[
            "StatefulSet/shop-cart container shop-cart: env SHOP_NOT_A_VARIABLE is not read by shop-cart",
            "env SHOP_INSTANCE_ID comes from Secret cfg, which no manifest defines",
        ],
    );
    assert_reported(
        &check_k8s_env_from(&manifests, &image, &CODE),
        &[
            "envFrom Secret missing",
            "ConfigMap/cfg: key SHOP_NOT_READ is read by none of the binaries importing it (shop-cart, shop-topics)",
        ],
    );
    assert_reported(
        &check_k8s_probes(&manifests, &image, &CODE),
        &[
            "livenessProbe asks /ready on port 9101: SHOP_METRICS_ADDR serves /health, /metrics there, not /ready",
            "readinessProbe asks /health on port 9999",
            "prometheus.io/port annotation asks /metrics on port 9102",
            "containerPort 7000 (other)",
        ],
    );
    assert_reported(
        &check_k8s_replicas(&manifests, &image, &CODE),
        &[
            "99 replicas of shop-cart, more than the 4 partitions",
            "up to 12 replicas",
        ],
    );
    assert_reported(
        &check_k8s_processors(&manifests, &image, &CODE),
        &["no Deployment or StatefulSet runs shop-orders"],
    );
    assert_reported(
        &check_k8s_selectors(&manifests),
        &[
            "Service/shop-cat: selector",
            "of 0 workloads",
            "targets \"nope\"",
        ],
    );
}

#[test]
fn kustomization_check_catches_missing_and_extra_files() {
    let kustomization = parse_yaml(
        "resources: [a.yaml, missing.yaml, a.yaml]\nimages: [{name: other-image, newTag: '1'}]\n",
        "doctored",
    )
    .unwrap();
    let files: BTreeSet<String> = ["a.yaml", "sub/b.yaml"].map(str::to_owned).into();
    assert_reported(
        &check_kustomization(&kustomization, &files, &[]),
        &[
            "missing.yaml is not a manifest file",
            "a.yaml is listed twice",
            "does not list sub/b.yaml",
            "rewrites other-image",
        ],
    );
}
