//! The compose deployment's monitoring files (`deployments/compose/prometheus` and
//! `deployments/compose/grafana`) against the code: every metric name in a PromQL expression is
//! one of `shop_topics::names::metrics::ALL`, every label it matches or groups by is one that
//! metric has, every status spelled as the code spells it, every panel on the provisioned
//! datasource, every alert with a severity and a summary. No broker, no Prometheus, no Grafana:
//! the files are parsed and the expressions read with a small PromQL scanner that knows the
//! grammar's shape (selectors, `by`/`without`/`on`/`ignoring` lists, function calls), not its
//! semantics. `promtool check config` and `promtool check rules` remain the syntax check.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod common;

use common::{assert_none, list, root};
use serde_json::Value;
use shop_topics::names::metrics as names;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// How the code records a metric, which decides the series Prometheus sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    /// A `metrics::histogram!`: `metrics-exporter-prometheus` without configured buckets (the
    /// `PrometheusBuilder::new()` of every binary) exports it as a summary: `name{quantile=…}`,
    /// `name_sum` and `name_count`, never `name_bucket`. A metric given buckets would need a
    /// `Histogram` kind here, with `_bucket` and `le`.
    Summary,
}

use Kind::{Counter, Gauge, Summary};

/// Every metric of `names::ALL` with its kind and labels, as the `counter!`/`histogram!` calls
/// in `processors/src/runtime/meters.rs`, `readmodel/src/projector.rs` and `ingress/src/`
/// record them, and as `names.rs` documents them for the lag monitor.
const METRICS: &[(&str, Kind, &[&str])] = &[
    (names::RECORDS_IN, Counter, &["processor", "topic"]),
    (names::RECORDS_OUT, Counter, &["processor", "topic"]),
    (names::DEAD_LETTERS, Counter, &["processor", "topic"]),
    (names::HANDLER_SECONDS, Summary, &["processor"]),
    (names::COMMIT_SECONDS, Summary, &["processor"]),
    (names::BATCH_RECORDS, Summary, &["processor"]),
    (names::ABORTS, Counter, &["processor"]),
    (names::RESTORE_SECONDS, Summary, &["processor"]),
    (names::REBALANCES, Counter, &["processor", "kind"]),
    (names::DEADLINES_FIRED, Counter, &["processor"]),
    (names::PROJECTOR_RECORDS, Counter, &["topic"]),
    (names::PROJECTOR_BATCH_SECONDS, Summary, &[]),
    (names::PROJECTOR_RETRIES, Counter, &[]),
    (names::ORDER_TRANSITIONS, Counter, &["status"]),
    (names::LAG_RECORDS, Gauge, &["group", "topic", "partition"]),
    (names::LAG_SECONDS, Gauge, &["group", "topic", "partition"]),
    (
        names::LAG_PARTITION_STATUS,
        Gauge,
        &["group", "topic", "partition"],
    ),
    (
        names::LAG_COMMITTED_OFFSET,
        Gauge,
        &["group", "topic", "partition"],
    ),
    (names::LAG_GROUP_RECORDS, Gauge, &["group"]),
    (names::LAG_GROUP_SECONDS, Gauge, &["group"]),
    (names::LAG_GROUP_STATUS, Gauge, &["group", "status"]),
    (names::GROUP_CONSUME_RATE, Gauge, &["group"]),
    (names::TOPIC_PRODUCE_RATE, Gauge, &["topic"]),
    (names::TOPIC_END_OFFSET, Gauge, &["topic", "partition"]),
    (names::TOPIC_STABLE_OFFSET, Gauge, &["topic", "partition"]),
    (names::MONITOR_SAMPLE_SECONDS, Summary, &[]),
    (names::MONITOR_SAMPLE_ERRORS, Counter, &["stage"]),
    (
        names::INGRESS_HTTP_REQUESTS,
        Counter,
        &["method", "route", "status"],
    ),
    (
        names::INGRESS_HTTP_REQUEST_SECONDS,
        Summary,
        &["method", "route"],
    ),
    (names::INGRESS_COMMANDS, Counter, &["kind", "result"]),
    (names::INGRESS_OUTCOME_WAITS, Counter, &["result"]),
    (names::INGRESS_OUTCOMES_READ, Counter, &["waited"]),
    (names::INGRESS_RATE_LIMITED, Counter, &[]),
];

/// Series Prometheus makes itself for every target; not ours, so not in `names::ALL`.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// Labels Prometheus puts on every scraped series: `job` and `instance`, and `service`, which
/// prometheus.yml sets from the DNS name a processor replica was found under.
const TARGET_LABELS: &[&str] = &["job", "instance", "service"];

/// The lag monitor's statuses, at the index of their code in `LAG_PARTITION_STATUS` (see its
/// doc in `names.rs`); `LAG_GROUP_STATUS` carries them as its `status` label.
const LAG_STATUSES: &[&str] = &["OK", "WARNING", "REWIND", "STALLED", "STOPPED"];

/// Label values the code uses, space-separated, by metric ("" for any metric) and label. The
/// lag statuses, the order statuses (from the Avro schema), the jobs and the services (from
/// prometheus.yml) are added to these. Quantiles: those `PrometheusBuilder::new()` exports but
/// 0 and 1, which Prometheus 3 rewrites to "0.0" and "1.0" when it scrapes.
const VALUES: &[(&str, &str, &str)] = &[
    (
        "",
        "processor",
        "catalog cart inventory payment orders projector",
    ),
    ("", "quantile", "0.5 0.9 0.95 0.99 0.999"),
    (names::REBALANCES, "kind", "assigned revoked"),
    (
        names::INGRESS_COMMANDS,
        "result",
        "sent full unavailable failed",
    ),
    (
        names::INGRESS_OUTCOME_WAITS,
        "result",
        "decided timeout skipped",
    ),
    (names::INGRESS_OUTCOMES_READ, "waited", "true false"),
    (names::MONITOR_SAMPLE_ERRORS, "stage", "connect sample"),
];

/// The services the compose file runs, their metrics port, and whether they are scaled (and
/// so found through DNS, every replica a target). prometheus.yml documents the same table.
const SERVICES: &[(&str, u16, bool)] = &[
    ("shop-ingress", 8080, false),
    ("shop-monitor", 9300, false),
    ("shop-projector", 9102, false),
    ("shop-catalog", 9101, true),
    ("shop-cart", 9101, true),
    ("shop-inventory", 9101, true),
    ("shop-payment", 9101, true),
    ("shop-orders", 9101, true),
];

/// PromQL's aggregations and the functions these files may call, space-separated (an unknown
/// one is most likely a typo).
const AGGREGATIONS: &str = "sum min max avg group stddev stdvar count count_values bottomk topk \
    quantile limitk limit_ratio";
const FUNCTIONS: &str = "abs absent absent_over_time avg_over_time ceil changes clamp clamp_max \
    clamp_min count_over_time delta deriv floor histogram_quantile idelta increase irate \
    label_join label_replace last_over_time max_over_time min_over_time predict_linear \
    quantile_over_time rate resets round scalar sort sort_desc sum_over_time time timestamp vector";
/// Words that are operators or modifiers, never names.
const KEYWORDS: &str = "and or unless bool offset atan2 inf nan";
/// Modifiers followed by a list of label names.
const LABEL_LISTS: &str = "by without on ignoring group_left group_right";

fn one_of(words: &str, word: &str) -> bool {
    words.split_whitespace().any(|w| w == word)
}

fn compose_dir() -> PathBuf {
    root().join("deployments/compose")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Seconds of a Prometheus duration such as `1m`, `90s` or `1m30s`.
fn seconds(duration: &str) -> Option<u64> {
    let mut total = 0;
    let mut number = String::new();
    for c in duration.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total += number.parse::<u64>().ok()? * unit;
        number.clear();
    }
    number.is_empty().then_some(total)
}

/// What the code exports and which label values it uses: the yardstick of every check.
struct Catalog {
    metrics: HashMap<&'static str, (Kind, &'static [&'static str])>,
    /// Allowed values by label, for every metric (`metric` = "") or for one.
    values: HashMap<(&'static str, &'static str), BTreeSet<String>>,
}

/// A name in an expression, resolved to the metric it is a series of.
struct Series {
    base: &'static str,
    kind: Kind,
    /// `_sum` or `_count` of a summary.
    suffixed: bool,
}

impl Catalog {
    fn new() -> Self {
        let prometheus = yaml(&compose_dir().join("prometheus/prometheus.yml"));
        let jobs = list(&prometheus["scrape_configs"]).iter();
        let dns_names = jobs.clone().flat_map(|j| list(&j["dns_sd_configs"]));
        let dynamic = [
            (
                "",
                "job",
                jobs.map(|j| str_at(j, "/job_name").to_owned()).collect(),
            ),
            (
                "",
                "service",
                dns_names
                    .flat_map(|sd| list(&sd["names"]))
                    .map(text)
                    .collect(),
            ),
            (
                names::LAG_GROUP_STATUS,
                "status",
                LAG_STATUSES.iter().map(|s| (*s).to_owned()).collect(),
            ),
            (names::ORDER_TRANSITIONS, "status", order_statuses()),
        ];
        let fixed = VALUES.iter().map(|(metric, label, values)| {
            (
                *metric,
                *label,
                values.split_whitespace().map(str::to_owned).collect(),
            )
        });
        Self {
            metrics: METRICS.iter().map(|(n, k, l)| (*n, (*k, *l))).collect(),
            values: fixed.chain(dynamic).map(|(m, l, v)| ((m, l), v)).collect(),
        }
    }

    fn resolve(&self, name: &str) -> Option<Series> {
        let series = |base, kind, suffixed| {
            Some(Series {
                base,
                kind,
                suffixed,
            })
        };
        if let Some(base) = PROMETHEUS_SERIES.iter().find(|s| **s == name) {
            return series(base, Gauge, false);
        }
        if let Some((base, (kind, _))) = self.metrics.get_key_value(name) {
            return series(base, *kind, false);
        }
        let stem = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"))?;
        match self.metrics.get_key_value(stem) {
            Some((base, (Summary, _))) => series(base, Summary, true),
            _ => None,
        }
    }

    fn labels(&self, series: &Series) -> BTreeSet<&'static str> {
        let own = self.metrics.get(series.base).map_or(&[][..], |(_, l)| *l);
        let mut labels: BTreeSet<_> = own.iter().chain(TARGET_LABELS).copied().collect();
        if series.kind == Summary && !series.suffixed {
            labels.insert("quantile");
        }
        labels
    }

    fn allowed_values(&self, base: &str, label: &str) -> Option<&BTreeSet<String>> {
        let find = |metric: &str| {
            let mut entries = self.values.iter();
            entries.find(|((m, l), _)| *m == metric && *l == label)
        };
        find(base).or_else(|| find("")).map(|(_, values)| values)
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The order statuses of the Avro schema the projector counts transitions of.
fn order_statuses() -> BTreeSet<String> {
    let path = root().join("schemas/avro/shop.orders.OrderEvent.avsc");
    let schema = json(&path);
    let status = list(&schema["fields"])
        .iter()
        .find(|f| f["name"] == "status")
        .expect("OrderEvent has a status field");
    list(&status["type"]["symbols"])
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    /// A number or a duration.
    Number,
    /// A Grafana variable such as `$group` or `$__rate_interval`.
    Variable,
    Punct(String),
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        i += 1;
        if c.is_whitespace() {
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            let mut text = String::new();
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                text.extend(chars.get(i));
                i += 1;
            }
            if i == chars.len() {
                return Err(format!("unterminated string at {start}"));
            }
            i += 1;
            tokens.push(Token::Str(text));
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number);
        } else if c == '$' {
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && word(chars[i]) {
                    i += 1;
                }
            }
            tokens.push(Token::Variable);
        } else if word(c) {
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[start..(start + 2).min(chars.len())].iter().collect();
            if ["==", "!=", "=~", "!~", ">=", "<="].contains(&two.as_str()) {
                i += 1;
                tokens.push(Token::Punct(two));
            } else if "(){}[],=<>+-*/%^@:".contains(c) {
                tokens.push(Token::Punct(c.to_string()));
            } else {
                return Err(format!("unexpected {c:?} at {start}"));
            }
        }
    }
    Ok(tokens)
}

fn is(token: Option<&Token>, punct: &str) -> bool {
    matches!(token, Some(Token::Punct(p)) if p == punct)
}

/// What an expression uses: its problems, and the labels its result can carry (the union of
/// its metrics' labels; enough to check a legend or an annotation for misspelt labels).
#[derive(Default)]
struct Analysis {
    problems: Vec<String>,
    labels: BTreeSet<&'static str>,
    /// The metrics it reads (`up` included).
    metrics: BTreeSet<&'static str>,
    /// `(metric, label, value)` of every equality or regex matcher, alternatives split.
    matchers: Vec<(&'static str, String, String)>,
}

fn analyse(catalog: &Catalog, expr: &str) -> Analysis {
    let mut out = Analysis::default();
    let tokens = match tokenize(expr) {
        Ok(tokens) => tokens,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    // Matching brackets, both ways.
    let mut partner = vec![usize::MAX; tokens.len()];
    let mut open = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct(p) if ["(", "{", "["].contains(&p.as_str()) => open.push(i),
            Token::Punct(p) if [")", "}", "]"].contains(&p.as_str()) => match open.pop() {
                Some(o) => (partner[o], partner[i]) = (i, o),
                None => out.problems.push(format!("unbalanced {p}")),
            },
            _ => {}
        }
    }
    if !open.is_empty() {
        out.problems.push("unclosed bracket".to_owned());
        return out;
    }
    let mut series = Vec::new(); // (token index, series)
    let mut lists = Vec::new(); // (modifier, its index, closing index, labels)
    let mut i = 0;
    while i < tokens.len() {
        let next = tokens.get(i + 1);
        match &tokens[i] {
            Token::Ident(w) if one_of(LABEL_LISTS, w) => {
                if is(next, "(") {
                    let close = partner[i + 1];
                    let labels: Vec<String> = tokens[i + 2..close]
                        .iter()
                        .filter_map(|t| match t {
                            Token::Ident(l) => Some(l.clone()),
                            _ => None,
                        })
                        .collect();
                    lists.push((w.clone(), i, close, labels));
                    i = close;
                } else if !w.starts_with("group_") {
                    out.problems.push(format!("`{w}` without a label list"));
                }
            }
            Token::Ident(w) if one_of(KEYWORDS, w) => {}
            Token::Ident(w) if one_of(AGGREGATIONS, w) || one_of(FUNCTIONS, w) => {}
            Token::Ident(w) if is(next, "(") => out.problems.push(format!("unknown function {w}")),
            Token::Ident(name) => {
                let at = i;
                let matchers = if is(next, "{") {
                    i = partner[i + 1];
                    &tokens[at + 2..i]
                } else {
                    &[]
                };
                let Some(found) = catalog.resolve(name) else {
                    out.problems.push(format!(
                        "{name} is no metric of shop_topics::names::metrics::ALL \
                         (nor a summary's _sum or _count)"
                    ));
                    i += 1;
                    continue;
                };
                let labels = catalog.labels(&found);
                check_matchers(catalog, &found, &labels, matchers, &mut out);
                out.labels.extend(&labels);
                out.metrics.insert(found.base);
                series.push((at, found));
            }
            Token::Punct(p) if p == "{" => {
                out.problems
                    .push("a selector without a metric name".to_owned());
            }
            _ => {}
        }
        i += 1;
    }
    // Labels of `by`/`without` must be on the metrics aggregated; of `on`/`ignoring`/`group_*`
    // on a metric of the expression. After an unknown name, that would only repeat the news.
    if !out.problems.is_empty() {
        return out;
    }
    for (modifier, at, close, labels) in lists {
        let (from, to) = if ["by", "without"].contains(&modifier.as_str()) {
            if is(tokens.get(close + 1), "(") {
                (close + 1, partner[close + 1])
            } else if at > 0 && is(tokens.get(at - 1), ")") {
                (partner[at - 1], at - 1)
            } else {
                out.problems.push(format!(
                    "`{modifier}` not next to an aggregation's argument"
                ));
                continue;
            }
        } else {
            (0, tokens.len())
        };
        let mut known = BTreeSet::new();
        for (_, found) in series.iter().filter(|(i, _)| (from..to).contains(i)) {
            known.extend(catalog.labels(found));
        }
        for label in labels {
            if !known.contains(label.as_str()) {
                out.problems.push(format!(
                    "`{modifier} ({label})`: no metric it applies to has the label {label}"
                ));
            }
        }
    }
    out
}

/// `label op "value"` pairs of one selector.
fn check_matchers(
    catalog: &Catalog,
    series: &Series,
    labels: &BTreeSet<&'static str>,
    tokens: &[Token],
    out: &mut Analysis,
) {
    for matcher in tokens.split(|t| is(Some(t), ",")).filter(|m| !m.is_empty()) {
        let [Token::Ident(label), Token::Punct(op), Token::Str(value)] = matcher else {
            out.problems
                .push(format!("{}: cannot read matcher {matcher:?}", series.base));
            continue;
        };
        if !labels.contains(label.as_str()) {
            out.problems
                .push(format!("{} has no label {label}", series.base));
            continue;
        }
        if value.contains('$') {
            continue; // A Grafana variable.
        }
        let alternatives: Vec<&str> = if op.ends_with('~') {
            // Only plain words of a regex are values; `5..` or `shop-.*` are patterns.
            value
                .split('|')
                .filter(|a| {
                    a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
                })
                .collect()
        } else {
            vec![value.as_str()]
        };
        for alternative in alternatives {
            if let Some(allowed) = catalog.allowed_values(series.base, label)
                && !allowed.contains(alternative)
            {
                out.problems.push(format!(
                    "{}{{{label}{op}\"{value}\"}}: {alternative:?} is not one of {allowed:?}",
                    series.base
                ));
            }
            out.matchers
                .push((series.base, label.clone(), alternative.to_owned()));
        }
    }
}

/// Labels `text` names in `{{label}}` (Grafana legends) or `$labels.label` (alert templates)
/// that the series of `analysis` do not carry; none when the expression itself is wrong.
fn unknown_labels(analysis: &Analysis, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for open in ["{{", "$labels."] {
        let mut rest = text;
        while let Some(start) = rest.find(open) {
            rest = &rest[start + open.len()..];
            let word: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `{{ $value }}` and other template actions are not labels.
            if !word.is_empty() && !analysis.labels.contains(word.as_str()) {
                found.push(word);
            }
        }
    }
    if analysis.problems.is_empty() {
        found
    } else {
        Vec::new()
    }
}

#[test]
fn all_lists_every_metric_name_once() {
    let source = read(&root().join("topics/src/names.rs"));
    let module = &source[source.find("pub mod metrics").expect("a metrics module")..];
    let mut defined = BTreeSet::new();
    for piece in module.split(": &str =").skip(1) {
        let value = piece.split('"').nth(1).expect("a string constant");
        assert!(defined.insert(value), "{value} is defined twice");
    }
    let all: BTreeSet<&str> = names::ALL.iter().copied().collect();
    assert_eq!(all.len(), names::ALL.len(), "a name is twice in ALL");
    assert_eq!(
        all, defined,
        "ALL and the constants of names::metrics differ"
    );
    let described: BTreeSet<&str> = METRICS.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        described, all,
        "the METRICS table of this test and ALL differ"
    );
}

#[test]
fn prometheus_scrapes_every_service_and_loads_the_rules() {
    let dir = compose_dir().join("prometheus");
    let config = yaml(&dir.join("prometheus.yml"));
    let mut problems = Vec::new();
    let interval = seconds(str_at(&config, "/global/scrape_interval"));
    if !interval.is_some_and(|s| (1..=15).contains(&s)) {
        problems.push(format!(
            "global scrape_interval {interval:?}: expected 1 to 15 s"
        ));
    }
    let rule_files = list(&config["rule_files"]);
    if rule_files.is_empty() {
        problems.push("no rule_files".to_owned());
    }
    for file in rule_files.iter().filter_map(Value::as_str) {
        if !dir.join(file).is_file() {
            problems.push(format!("rule file {file} is not next to prometheus.yml"));
        }
    }
    for (service, port, scaled) in SERVICES {
        let scraped = list(&config["scrape_configs"]).iter().any(|job| {
            let path = job["metrics_path"].as_str().unwrap_or("/metrics");
            let by_dns = list(&job["dns_sd_configs"]).iter().any(|sd| {
                sd["type"] == "A"
                    && sd["port"] == *port
                    && list(&sd["names"]).iter().any(|n| n == service)
            });
            let fixed = list(&job["static_configs"]).iter().any(|sc| {
                list(&sc["targets"])
                    .iter()
                    .any(|t| *t == format!("{service}:{port}"))
            });
            path == "/metrics" && if *scaled { by_dns } else { fixed }
        });
        if !scraped {
            let how = if *scaled {
                "dns_sd_configs (type A)"
            } else {
                "static_configs"
            };
            problems.push(format!(
                "{service}:{port}/metrics is not scraped through {how}"
            ));
        }
    }
    assert_none("prometheus.yml", &problems);
}

#[test]
fn alert_rules_use_known_metrics_labels_and_statuses() {
    let catalog = Catalog::new();
    let rules = yaml(&compose_dir().join("prometheus/alerts.yml"));
    let mut problems = Vec::new();
    let mut names_seen = BTreeSet::new();
    // (status, severity, `for` in seconds) of the rules on LAG_GROUP_STATUS.
    let mut on_status = Vec::new();
    let mut metrics_alerted = BTreeSet::new();
    for rule in list(&rules["groups"])
        .iter()
        .flat_map(|g| list(&g["rules"]))
    {
        let name = str_at(rule, "/alert");
        if name.is_empty() {
            problems.push(format!("a rule without an alert name: {rule}"));
            continue;
        }
        if !names_seen.insert(name) {
            problems.push(format!("{name}: two rules have this name"));
        }
        let analysis = analyse(&catalog, str_at(rule, "/expr"));
        problems.extend(analysis.problems.iter().map(|p| format!("{name}: {p}")));
        let severity = str_at(rule, "/labels/severity");
        if !["critical", "warning"].contains(&severity) {
            problems.push(format!(
                "{name}: severity {severity:?}, not critical or warning"
            ));
        }
        for annotation in ["summary", "description"] {
            let text = str_at(rule, &format!("/annotations/{annotation}"));
            if text.trim().is_empty() {
                problems.push(format!("{name}: no {annotation}"));
            }
            for label in unknown_labels(&analysis, text) {
                problems.push(format!(
                    "{name}: {annotation} names $labels.{label}, which its series do not have"
                ));
            }
        }
        let wait = rule
            .get("for")
            .and_then(Value::as_str)
            .map_or(Some(0), seconds);
        for (metric, label, value) in &analysis.matchers {
            if *metric == names::LAG_GROUP_STATUS && label == "status" {
                on_status.push((value.clone(), severity.to_owned(), wait));
            }
        }
        metrics_alerted.extend(analysis.metrics);
    }
    // What the issue asks to be alerted on.
    for status in ["STALLED", "STOPPED"] {
        if !on_status
            .iter()
            .any(|(s, sev, wait)| s == status && sev == "critical" && wait.is_some_and(|w| w >= 60))
        {
            problems.push(format!(
                "no critical alert on status {status} held for at least 1m"
            ));
        }
    }
    if !on_status.iter().any(|(s, _, _)| s == "REWIND") {
        problems.push("no alert on status REWIND".to_owned());
    }
    for metric in [
        names::LAG_GROUP_SECONDS,
        names::DEAD_LETTERS,
        names::MONITOR_SAMPLE_SECONDS,
    ] {
        if !metrics_alerted.contains(metric) {
            problems.push(format!("no alert on {metric}"));
        }
    }
    assert_none("alerts.yml", &problems);
}

/// The uid of the provisioned Prometheus datasource, after checking the provisioning files.
fn provisioned_datasource() -> String {
    let grafana = compose_dir().join("grafana/provisioning");
    let sources = yaml(&grafana.join("datasources/prometheus.yml"));
    let [source] = list(&sources["datasources"]) else {
        panic!("expected one provisioned datasource");
    };
    assert_eq!(source["type"], "prometheus");
    assert_eq!(
        source["url"], "http://prometheus:9090",
        "the compose service prometheus"
    );
    let providers = yaml(&grafana.join("dashboards/shop.yml"));
    let [provider] = list(&providers["providers"]) else {
        panic!("expected one dashboard provider");
    };
    assert_eq!(provider["type"], "file");
    assert!(
        str_at(provider, "/options/path").starts_with('/'),
        "an absolute path in the container"
    );
    let uid = str_at(source, "/uid");
    assert!(!uid.is_empty(), "the datasource has a fixed uid");
    uid.to_owned()
}

#[test]
fn grafana_provisioning_names_the_datasource_and_the_dashboards() {
    provisioned_datasource();
}

/// Every panel, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in list(&dashboard["panels"]) {
        all.push(panel);
        all.extend(list(&panel["panels"]));
    }
    all
}

#[test]
fn dashboard_uses_known_metrics_labels_statuses_and_the_provisioned_datasource() {
    let catalog = Catalog::new();
    let uid = provisioned_datasource();
    let dashboard = json(&compose_dir().join("grafana/dashboards/shop-pipeline.json"));
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut uses_group = false;
    for panel in panels(&dashboard) {
        let title = str_at(panel, "/title");
        let id = panel["id"].as_u64();
        if !id.is_some_and(|id| ids.insert(id)) {
            problems.push(format!("{title}: id {id:?} missing or not unique"));
        }
        let grid = &panel["gridPos"];
        let (x, w) = (
            grid["x"].as_u64().unwrap_or(99),
            grid["w"].as_u64().unwrap_or(99),
        );
        if x + w > 24 || grid["h"].as_u64().is_none() || grid["y"].as_u64().is_none() {
            problems.push(format!("{title}: gridPos {grid} is off the 24-column grid"));
        }
        if panel["type"] == "row" {
            continue;
        }
        if str_at(panel, "/datasource/uid") != uid {
            problems.push(format!("{title}: datasource is not {uid}"));
        }
        let targets = list(&panel["targets"]);
        if targets.is_empty() {
            problems.push(format!("{title}: no query"));
        }
        let mut shows_lag_status = false;
        let mut refs = BTreeSet::new();
        for target in targets {
            let expr = str_at(target, "/expr");
            let which = format!("{title} [{}]", str_at(target, "/refId"));
            if !refs.insert(str_at(target, "/refId")) {
                problems.push(format!("{which}: refId not unique"));
            }
            if str_at(target, "/datasource/uid") != uid {
                problems.push(format!("{which}: query datasource is not {uid}"));
            }
            uses_group |= expr.contains("$group");
            let analysis = analyse(&catalog, expr);
            problems.extend(analysis.problems.iter().map(|p| format!("{which}: {p}")));
            for label in unknown_labels(&analysis, str_at(target, "/legendFormat")) {
                problems.push(format!(
                    "{which}: the legend names {{{{{label}}}}}, which its series do not have"
                ));
            }
            shows_lag_status |= analysis.metrics.contains(names::LAG_GROUP_STATUS)
                || analysis.metrics.contains(names::LAG_PARTITION_STATUS);
        }
        // Value mappings of the lag status must map each code to its status, as names.rs says.
        let defaults = &panel["fieldConfig"]["defaults"]["mappings"];
        let overrides = list(&panel["fieldConfig"]["overrides"])
            .iter()
            .flat_map(|o| list(&o["properties"]))
            .filter(|p| p["id"] == "mappings")
            .map(|p| &p["value"]);
        let mappings = std::iter::once(defaults).chain(overrides).flat_map(list);
        for mapping in mappings.filter(|_| shows_lag_status) {
            let Some(options) = mapping["options"].as_object() else {
                continue;
            };
            for (code, to) in options {
                let expected = code.parse::<usize>().ok().and_then(|c| LAG_STATUSES.get(c));
                if expected.is_none_or(|s| to["text"] != *s) {
                    problems.push(format!(
                        "{title}: maps {code} to {}, expected {expected:?}",
                        to["text"]
                    ));
                }
            }
        }
        // Series named by status (colour overrides) must be real order statuses.
        if targets
            .iter()
            .any(|t| str_at(t, "/expr").contains(names::ORDER_TRANSITIONS))
        {
            let order = order_statuses();
            for matcher in list(&panel["fieldConfig"]["overrides"])
                .iter()
                .map(|o| &o["matcher"])
            {
                let name = str_at(matcher, "/options");
                if matcher["id"] == "byName" && !order.contains(name) {
                    problems.push(format!(
                        "{title}: override for {name:?}, not an order status"
                    ));
                }
            }
        }
    }
    for variable in list(&dashboard["templating"]["list"]) {
        let name = str_at(variable, "/name");
        if variable["type"] != "query" {
            continue;
        }
        if str_at(variable, "/datasource/uid") != uid {
            problems.push(format!("variable {name}: datasource is not {uid}"));
        }
        let query = variable["query"]
            .as_str()
            .unwrap_or_else(|| str_at(variable, "/query/query"));
        let Some((selector, label)) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
        else {
            problems.push(format!(
                "variable {name}: expected label_values(selector, label), got {query}"
            ));
            continue;
        };
        let analysis = analyse(&catalog, selector);
        problems.extend(
            analysis
                .problems
                .iter()
                .map(|p| format!("variable {name}: {p}")),
        );
        if !analysis.labels.contains(label.trim()) {
            problems.push(format!("variable {name}: {selector} has no label {label}"));
        }
    }
    let has_group = list(&dashboard["templating"]["list"])
        .iter()
        .any(|v| v["name"] == "group");
    if !has_group || !uses_group {
        problems.push("a `group` variable, used by the lag panels, is expected".to_owned());
    }
    assert_none("shop-pipeline.json", &problems);
}

/// The scanner itself: what it must catch, so a green run means something.
#[test]
fn the_scanner_finds_wrong_names_labels_and_statuses() {
    let catalog = Catalog::new();
    let problems = |expr: &str| analyse(&catalog, expr).problems;
    assert!(
        problems(r#"sum by (processor, topic) (rate(shop_processor_dead_letters_total[5m]))"#)
            .is_empty()
    );
    assert!(problems(r#"shop_lag_group_status{status="STALLED"} == 1"#).is_empty());
    assert!(
        problems(r#"sum(rate(shop_ingress_http_request_duration_seconds_sum[5m])) by (route)"#)
            .is_empty()
    );
    for wrong in [
        r#"shop_processor_dead_letter_total"#, // misspelt name
        r#"shop_lag_group_status{status="STALED"} == 1"#, // misspelt status
        r#"shop_lag_group_status{status=~"STOPPED|STALED"}"#, // in a regex too
        r#"sum by (group) (shop_processor_records_in_total)"#, // label of another metric
        r#"sum(shop_processor_records_in_total) by (group)"#, // the same, after
        r#"shop_lag_group_seconds{topic="x"}"#, // group-level: no topic
        r#"shop_processor_commit_seconds_bucket"#, // a summary has no buckets
        r#"shop_processor_commit_seconds_sum{quantile="0.99"}"#, // nor quantiles on _sum
        r#"shop_processor_commit_seconds{quantile="1"}"#, // rewritten by Prometheus 3
        r#"shop_processor_records_in_total_count"#, // a counter has no _count
        r#"shop_orders_transitions_total{status="SHIPPED"}"#, // not an order status
        r#"rates(shop_processor_records_in_total[5m])"#, // unknown function
        r#"up{job="shop-processor"}"#,         // no such job
    ] {
        assert!(!problems(wrong).is_empty(), "not caught: {wrong}");
    }
}
