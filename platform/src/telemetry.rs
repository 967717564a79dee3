//! Logging and trace setup for every binary: `tracing` to stderr, filtered by `SHOP_LOG`
//! (`EnvFilter` syntax; each binary picks its default), as JSON lines when
//! `SHOP_LOG_FORMAT=json`; and, when an OTLP endpoint is configured
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, see [`crate::tracing_otel`]), every INFO-or-above span
//! exported as an OpenTelemetry span.
//!
//! The two outputs are filtered separately: `SHOP_LOG` decides what is logged, and export takes
//! every INFO span whatever the log level, so quieter logs never cut a trace into pieces.
//! Without an endpoint nothing is exported and no OpenTelemetry layer is installed: a hop costs
//! its `tracing` span and the parsing of its `traceparent` (see `docs/tracing.md`, Overhead).

use crate::tracing_otel::{self, OtlpSettings};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers. The fields of the current span (`span`) and
    /// of every open span (`spans`) are included, so a line inside a traced hop carries the
    /// hop's `trace_id` and `span_id`.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// What [`init`] installs.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `EnvFilter` syntax, e.g. `info,librdkafka=warn`.
    pub filter: String,
    pub format: LogFormat,
    /// Where spans are exported; `None` exports nothing.
    pub otlp: Option<OtlpSettings>,
}

/// Keeps span export running: dropping it flushes the spans not yet sent (bounded by the
/// exporter's timeout) and stops the exporter. A binary holds it in `main` until it returns, so
/// the spans of the last hops before a graceful shutdown are not lost.
#[must_use = "dropping the guard stops span export; keep it until main returns"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            // The subscriber is still installed: this line is logged, though not exported.
            tracing::warn!(%error, "spans not exported at shutdown");
        }
    }
}

/// Installs the global subscriber: logs to stderr, and span export when `settings.otlp` says
/// where to.
///
/// # Errors
/// If the filter does not parse, the exporter cannot be built, or a global subscriber is
/// already installed.
pub fn init(settings: &TelemetrySettings) -> Result<TelemetryGuard, BoxError> {
    let (tracer, provider) = match &settings.otlp {
        Some(otlp) => {
            let (tracer, provider) = tracing_otel::install(otlp)?;
            (Some(tracer), Some(provider))
        }
        None => (None, None),
    };
    // Colours only for a person at a terminal, never into a log file or a pipe.
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(
        &settings.filter,
        settings.format,
        std::io::stderr,
        ansi,
        tracer,
    )?;
    tracing::Dispatch::new(subscriber).try_init()?;
    if let Some(otlp) = &settings.otlp {
        tracing::info!(
            endpoint = otlp.traces_endpoint,
            service = otlp.service_name,
            "exporting spans over OTLP/HTTP"
        );
    }
    Ok(TelemetryGuard { provider })
}

/// Installs the global subscriber from `SHOP_LOG` (or `default_filter`), `SHOP_LOG_FORMAT`, and
/// the standard OpenTelemetry variables ([`OtlpSettings::from_env`]; the service name defaults
/// to the binary's file name).
///
/// # Errors
/// If a variable holds something unusable, naming it.
pub fn init_from_env(default_filter: &str) -> Result<TelemetryGuard, BoxError> {
    let filter = std::env::var("SHOP_LOG").unwrap_or_else(|_| default_filter.to_owned());
    let format = match std::env::var("SHOP_LOG_FORMAT") {
        Ok(text) => text
            .parse()
            .map_err(|reason| format!("SHOP_LOG_FORMAT: {reason}"))?,
        Err(_) => LogFormat::Text,
    };
    let otlp = OtlpSettings::from_env(&binary_name())?;
    if let Err(error) = EnvFilter::try_new(&filter) {
        return Err(format!("SHOP_LOG: {error}").into());
    }
    init(&TelemetrySettings {
        filter,
        format,
        otlp,
    })
}

/// The running binary's file name: the default `service.name`.
fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "shop".to_owned())
}

/// The log layer (filtered by `filter`) and, with a tracer, the export layer (filtered by
/// [`export_filter`]), writing log lines to `writer`.
/// The subscriber: logs filtered by `filter` (`EnvFilter` syntax), and span export when a
/// tracer is given.
///
/// The filter is global, one `EnvFilter` in front of every layer, not a filter per layer:
/// with per-layer filters (on the log layer, and a second on the export layer) some INFO
/// events were dropped, among them the runtime's "processing" and the projector's
/// "projecting" lines that `./dev up` waits for, while others of the same level and target got
/// through. So `SHOP_LOG` also bounds what is exported: the hop spans are INFO, exported at the
/// default `info`. The exporter's own HTTP client is switched off, so its spans cannot feed
/// the export they belong to.
fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
    ansi: bool,
    tracer: Option<SdkTracer>,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, BoxError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    Ok(match tracer {
        None => {
            let registry = tracing_subscriber::registry().with(EnvFilter::try_new(filter)?);
            let log = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi);
            match format {
                LogFormat::Text => Box::new(registry.with(log)),
                LogFormat::Json => Box::new(registry.with(log.json())),
            }
        }
        Some(tracer) => {
            let filter = EnvFilter::try_new(format!("{filter},{EXPORTER_OFF}"))?;
            let export = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // Thread names cost an allocation per span, busy/idle timings two clock reads
                // per enter; neither helps follow a record through the pipeline.
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_location(false);
            let registry = tracing_subscriber::registry().with(filter).with(export);
            let log = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi);
            match format {
                LogFormat::Text => Box::new(registry.with(log)),
                LogFormat::Json => Box::new(registry.with(log.json())),
            }
        }
    })
}

/// Directives that keep the exporter's own machinery out of the export (and the logs).
const EXPORTER_OFF: &str = "opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,hyper=off,hyper_util=off,reqwest=off,h2=off";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_context;
    use opentelemetry::trace::TracerProvider as _;
    use std::sync::{Arc, Mutex};

    #[test]
    fn log_formats_parse_and_unknown_ones_are_named() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        let error = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(error.contains("yaml"), "{error}");
    }

    /// Collects what the log layer writes.
    #[derive(Debug, Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Self;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    /// The JSON line logged inside a hop joined to `incoming`, with or without export.
    fn json_line_inside_a_hop(tracer: Option<SdkTracer>, incoming: &[u8]) -> serde_json::Value {
        let lines = Lines::default();
        let subscriber = subscriber("info", LogFormat::Json, lines.clone(), false, tracer).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let parent = trace_context::Parent::parse(incoming);
            let span = tracing::info_span!(
                "hop",
                otel.name = tracing::field::Empty,
                otel.kind = tracing::field::Empty,
                trace_id = trace_context::trace_id_field(parent.as_ref()),
                span_id = tracing::field::Empty
            );
            let kind = trace_context::HopKind::Consumer;
            let name = || "process test".to_owned();
            trace_context::join(&span, parent.as_ref(), kind, name, Vec::new);
            let _inside = span.enter();
            tracing::info!("handled");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line = text.lines().last().unwrap();
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn json_lines_inside_an_exported_hop_carry_its_trace_and_span_ids() {
        let provider = SdkTracerProvider::builder().build();
        let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let line = json_line_inside_a_hop(Some(provider.tracer("test")), incoming);
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        let span_id = line["span"]["span_id"].as_str().unwrap();
        assert_eq!(span_id.len(), 16);
        assert_ne!(
            span_id, "00f067aa0ba902b7",
            "the hop's own id, not its parent's"
        );
        assert_eq!(line["fields"]["message"], "handled");
    }

    #[test]
    fn json_lines_name_the_trace_even_when_nothing_is_exported() {
        let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let line = json_line_inside_a_hop(None, incoming);
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(line["span"].get("span_id").is_none(), "{line}");
    }
}
