//! Trace export: an OpenTelemetry tracer provider that sends the spans of every `tracing` span
//! the export filter lets through to an OTLP/HTTP endpoint, in batches, with W3C trace-context
//! propagation and parent-based sampling. Installed by [`crate::telemetry::init`] only when an
//! endpoint is configured; without one nothing here runs and spans stay plain `tracing` spans.
//!
//! Owns the export pipeline and its settings. How a hop joins a trace carried in a Kafka or
//! HTTP header is [`crate::trace_context`]'s.
//!
//! The transport is OTLP over HTTP with protobuf bodies, sent by reqwest 0.13's blocking client:
//! the workspace builds reqwest 0.13 already, so the exporter adds prost and the generated trace
//! messages but no tonic and no second HTTP stack. The blocking client runs on the batch
//! processor's own thread, never on the async workers. reqwest is built without TLS here, so the
//! endpoint must be `http://` (a collector or agent next to the service); an `https://` endpoint
//! is refused at start-up rather than failing every export later.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

/// The standard base URL variable; spans go to `<it>/v1/traces`.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard traces-only URL variable, used as it is; wins over the base URL.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard protocol variables; only `http/protobuf` is built in.
const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// The standard service name variable.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// The standard sampler variables; only the parent-based samplers are accepted.
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// Where spans go and whose they are.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The full URL spans are POSTed to, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub traces_endpoint: String,
    /// `service.name` of every span: how a trace view tells the hops' services apart.
    pub service_name: String,
    /// The share of new traces (requests without a sampled parent, deadlines) that are
    /// recorded, 0 to 1. A hop with a parent always follows the parent's decision.
    pub root_ratio: f64,
}

/// The export settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// A variable holds something the exporter cannot use; the message names it.
    #[error("{variable}: {reason}")]
    Setting {
        variable: &'static str,
        reason: String,
    },
    /// The exporter refused its configuration.
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

impl OtlpSettings {
    /// Settings from the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it
    /// is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` appended), `OTEL_SERVICE_NAME`
    /// (else `default_service_name`), and `OTEL_TRACES_SAMPLER` / `_ARG` (else every new trace
    /// is recorded). `None` when neither endpoint is set (or both are empty): then nothing is
    /// exported.
    ///
    /// # Errors
    /// [`OtlpError::Setting`] for an endpoint that is not `http://…`, a protocol other than
    /// `http/protobuf`, or a sampler that is not parent-based, naming the variable.
    pub fn from_env(default_service_name: &str) -> Result<Option<Self>, OtlpError> {
        Self::from_lookup(default_service_name, |name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        })
    }

    /// [`OtlpSettings::from_env`] over any lookup, so the rules are testable without touching
    /// the process environment.
    fn from_lookup(
        default_service_name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, OtlpError> {
        for variable in [
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            OTEL_EXPORTER_OTLP_PROTOCOL,
        ] {
            if let Some(protocol) = lookup(variable)
                && protocol.trim() != "http/protobuf"
            {
                return Err(OtlpError::Setting {
                    variable,
                    reason: format!(
                        "protocol {protocol:?} is not built in; only http/protobuf is (point the \
                         endpoint at a collector's OTLP/HTTP port, usually 4318)"
                    ),
                });
            }
        }
        let (variable, traces_endpoint) =
            if let Some(url) = lookup(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
                (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, url.trim().to_owned())
            } else if let Some(base) = lookup(OTEL_EXPORTER_OTLP_ENDPOINT) {
                let base = base.trim().trim_end_matches('/');
                (OTEL_EXPORTER_OTLP_ENDPOINT, format!("{base}/v1/traces"))
            } else {
                return Ok(None);
            };
        check_endpoint(variable, &traces_endpoint)?;
        let service_name = lookup(OTEL_SERVICE_NAME)
            .map(|name| name.trim().to_owned())
            .unwrap_or_else(|| default_service_name.to_owned());
        let root_ratio = root_ratio(
            lookup(OTEL_TRACES_SAMPLER).as_deref(),
            lookup(OTEL_TRACES_SAMPLER_ARG).as_deref(),
        )?;
        Ok(Some(Self {
            traces_endpoint,
            service_name,
            root_ratio,
        }))
    }
}

/// The share of new traces a parent-based sampler named by `OTEL_TRACES_SAMPLER` records.
/// Samplers that ignore the parent are refused: a hop deciding afresh would record a trace in
/// pieces, the very thing one trace per checkout is for.
fn root_ratio(sampler: Option<&str>, argument: Option<&str>) -> Result<f64, OtlpError> {
    match sampler.map(str::trim) {
        None | Some("parentbased_always_on") => Ok(1.0),
        Some("parentbased_always_off") => Ok(0.0),
        Some("parentbased_traceidratio") => argument
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ratio| (0.0..=1.0).contains(ratio))
            .ok_or_else(|| OtlpError::Setting {
                variable: OTEL_TRACES_SAMPLER_ARG,
                reason: format!(
                    "{argument:?} is not a ratio from 0 to 1 (parentbased_traceidratio needs one)"
                ),
            }),
        Some(other) => Err(OtlpError::Setting {
            variable: OTEL_TRACES_SAMPLER,
            reason: format!(
                "{other:?} is not supported: use parentbased_always_on, parentbased_always_off or \
                 parentbased_traceidratio, so every hop follows the decision of the trace's root"
            ),
        }),
    }
}

/// Refuses what would fail on every export: no `http://` scheme (https needs TLS, which is not
/// built in) or no host.
fn check_endpoint(variable: &'static str, url: &str) -> Result<(), OtlpError> {
    let setting = |reason: String| OtlpError::Setting { variable, reason };
    let parsed = url::Url::parse(url).map_err(|error| setting(format!("{url:?}: {error}")))?;
    match parsed.scheme() {
        "http" if parsed.host().is_some() => Ok(()),
        "http" => Err(setting(format!("{url:?} has no host"))),
        "https" => Err(setting(format!(
            "{url:?}: https is not built in (reqwest without TLS); send to a collector or agent \
             over http on a trusted network"
        ))),
        other => Err(setting(format!(
            "{url:?}: scheme {other:?} is not http (gRPC is not built in; use the collector's \
             OTLP/HTTP port)"
        ))),
    }
}

/// The tracer provider for `settings`: a batch span processor (sizes and delay from the
/// standard `OTEL_BSP_*` variables) feeding the OTLP/HTTP exporter (headers and timeout from
/// `OTEL_EXPORTER_OTLP_HEADERS` / `_TIMEOUT`), parent-based sampling that follows the caller's
/// decision and records `root_ratio` of the traces started here. Also installs the W3C
/// trace-context propagator and the provider as the process's globals, for any library that
/// looks there.
///
/// # Errors
/// [`OtlpError::Exporter`] when the exporter refuses its configuration.
pub(crate) fn install(
    settings: &OtlpSettings,
) -> Result<(SdkTracer, SdkTracerProvider), OtlpError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.traces_endpoint.clone())
        .build()?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(root_sampler(
            settings.root_ratio,
        ))))
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(SCOPE);
    Ok((tracer, provider))
}

/// How new traces are sampled: the plain samplers at the ends, so 1 records every trace
/// without hashing its id.
fn root_sampler(ratio: f64) -> Sampler {
    if ratio >= 1.0 {
        Sampler::AlwaysOn
    } else if ratio <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(ratio)
    }
}

/// The instrumentation scope spans are reported under: the spans are the shop's own, whichever
/// crate opened them.
const SCOPE: &str = "shop";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<OtlpSettings>, OtlpError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        OtlpSettings::from_lookup("shop-test", |name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[(OTEL_SERVICE_NAME, "svc")]).unwrap(), None);
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_binary_names_the_service() {
        let otlp = settings(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(otlp.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(otlp.service_name, "shop-test");
        assert_eq!(otlp.root_ratio, 1.0);
    }

    #[test]
    fn the_traces_endpoint_is_used_as_it_is_and_the_service_name_is_honoured() {
        let otlp = settings(&[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://wrong:4318"),
            (
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                "http://collector:4318/custom",
            ),
            (OTEL_SERVICE_NAME, "checkout-api"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(otlp.traces_endpoint, "http://collector:4318/custom");
        assert_eq!(otlp.service_name, "checkout-api");
    }

    #[test]
    fn parent_based_samplers_set_the_share_of_new_traces() {
        let endpoint = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318");
        for (sampler, argument, ratio) in [
            ("parentbased_always_on", None, 1.0),
            ("parentbased_always_off", None, 0.0),
            ("parentbased_traceidratio", Some("0.25"), 0.25),
        ] {
            let mut vars = vec![endpoint, (OTEL_TRACES_SAMPLER, sampler)];
            vars.extend(argument.map(|argument| (OTEL_TRACES_SAMPLER_ARG, argument)));
            let otlp = settings(&vars).unwrap().unwrap();
            assert_eq!(otlp.root_ratio, ratio, "{sampler}");
        }
    }

    #[test]
    fn unusable_settings_are_refused_by_variable() {
        for (vars, named) in [
            (
                vec![(OTEL_EXPORTER_OTLP_ENDPOINT, "https://collector:4318")],
                OTEL_EXPORTER_OTLP_ENDPOINT,
            ),
            (
                vec![(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "collector:4317")],
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            ),
            (
                vec![
                    (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317"),
                    (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                ],
                OTEL_EXPORTER_OTLP_PROTOCOL,
            ),
            (
                vec![
                    (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
                    (OTEL_TRACES_SAMPLER, "traceidratio"),
                    (OTEL_TRACES_SAMPLER_ARG, "0.5"),
                ],
                OTEL_TRACES_SAMPLER,
            ),
            (
                vec![
                    (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
                    (OTEL_TRACES_SAMPLER, "parentbased_traceidratio"),
                    (OTEL_TRACES_SAMPLER_ARG, "2"),
                ],
                OTEL_TRACES_SAMPLER_ARG,
            ),
        ] {
            let error = settings(&vars).unwrap_err().to_string();
            assert!(error.starts_with(named), "{error}");
        }
    }
}
