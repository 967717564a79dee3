//! W3C trace context from hop to hop: a hop (an HTTP request, a record a processor or the
//! projector handles) opens a `tracing` span, [`join`]s it to the trace named by the
//! `traceparent` it received, and hands the span's own `traceparent` to whatever it causes, so
//! the next hop's span is a child of this one and one checkout is one trace.
//!
//! Owns parsing and writing the header and joining a span to it. Header names and where the
//! header travels (Kafka record headers, HTTP headers) belong to the callers; the export
//! pipeline is [`crate::tracing_otel`]'s.
//!
//! Hops run once per record, so the split between what a span carries for logs and what only
//! an exported span needs is deliberate: every `tracing` field costs formatting in the log
//! layer whether or not anything is exported (around 100 ns each, and a JSON re-parse for each
//! field recorded after creation), while the exported span's name and attributes are built
//! only when the span is exported.

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing::field::{DisplayValue, display};
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

/// An attribute of an exported span, e.g. `KeyValue::new("messaging.system", "kafka")`.
pub use opentelemetry::KeyValue;

/// The span a hop received in its `traceparent`: its parent, in another process.
#[derive(Debug, Clone, PartialEq)]
pub struct Parent(SpanContext);

impl Parent {
    /// The parent a `traceparent` value names, if it is a valid one by the W3C rules: a known
    /// version (a later version is read by its first four fields), lower-case hex, non-zero ids.
    /// Of the flags only `sampled` is kept.
    ///
    /// Parsed by hand rather than through the propagator: every record of every hop goes
    /// through here, logged or not, and the propagator's general path allocates several times
    /// per header (measured on the runtime's hop: about 250 ns against about 110 ns).
    pub fn parse(traceparent: &[u8]) -> Option<Self> {
        let value = traceparent.trim_ascii();
        let head = value.get(..55)?;
        let version = u8::from_str_radix(lower_hex(head.get(..2)?)?, 16).ok()?;
        let rest_ok = match version {
            0xff => false,
            0 => value.len() == 55,
            _ => value.len() == 55 || value.get(55) == Some(&b'-'),
        };
        if !rest_ok || head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
            return None;
        }
        let trace_id = TraceId::from_hex(lower_hex(&head[3..35])?).ok()?;
        let span_id = SpanId::from_hex(lower_hex(&head[36..52])?).ok()?;
        let flags = u8::from_str_radix(lower_hex(&head[53..55])?, 16).ok()?;
        let context = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags) & TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        context.is_valid().then_some(Self(context))
    }

    /// The trace the parent, and so the hop, belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.0.trace_id()
    }
}

/// `bytes` as text if they are lower-case hex digits only (the W3C format allows no other).
fn lower_hex(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The value of a hop span's `trace_id` field when it is created: its parent's trace, or empty
/// for a hop that starts a trace ([`join`] records it then, if the span is exported). Given at
/// creation rather than recorded later, it costs the JSON log layer no re-parse.
pub fn trace_id_field(parent: Option<&Parent>) -> Option<DisplayValue<TraceId>> {
    parent.map(|parent| display(parent.trace_id()))
}

/// The version-00 `traceparent` of `context`.
pub fn format(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

/// How a hop's span kind reads to a trace viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopKind {
    /// Answers a request from outside (the ingress's HTTP requests).
    Server,
    /// Handles a record read from Kafka (processors, the projector).
    Consumer,
    /// Work of our own with no request or record behind it (deadlines).
    Internal,
}

impl HopKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Consumer => "consumer",
            Self::Internal => "internal",
        }
    }
}

/// Joins `span` to the trace of `parent` (what the hop's `traceparent` named), or starts a new
/// trace without one, and returns the `traceparent` the hop's outputs must carry: the span's
/// own, so the next hop becomes its child. The parent always comes from `parent`, never from
/// the span that happens to be current: a hop continues the trace it received.
///
/// `None` when the span is not exported (no OpenTelemetry layer, or filtered out): the caller
/// then forwards what it received, as it did before spans were exported. `name` (e.g.
/// `process cart.commands`) is called only for an exported span; `attributes` (OpenTelemetry
/// semantic conventions where one exists, never seen by the logs; the span's `tracing` fields
/// are attributes already) only for one that is also sampled: an unsampled span still gets
/// ids, since its context travels on, but is never sent.
///
/// The span must declare the fields `trace_id` (given [`trace_id_field`] at creation),
/// `span_id`, `otel.name` and `otel.kind` (the last three empty): the ids name the trace on
/// every log line inside the hop (JSON logs show them under `span` and `spans`).
pub fn join(
    span: &Span,
    parent: Option<&Parent>,
    kind: HopKind,
    name: impl FnOnce() -> String,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let parent_context = match parent {
        Some(Parent(remote)) => Context::new().with_remote_span_context(remote.clone()),
        None => Context::new(),
    };
    match span.set_parent(parent_context) {
        Ok(()) | Err(SetParentError::AlreadyStarted) => {}
        Err(SetParentError::LayerNotFound | SetParentError::SpanDisabled) => return None,
    }
    // Name and kind must be set before the span starts (at `context()`); the attributes only
    // matter for a span that is recorded, so an unsampled hop skips building them.
    span.record("otel.name", name().as_str());
    span.record("otel.kind", kind.as_str());
    let context = span.context();
    let own = context.span().span_context().clone();
    if !own.is_valid() {
        return None; // The export layer filtered the span out.
    }
    if own.is_sampled() {
        for attribute in attributes() {
            span.set_attribute(attribute.key, attribute.value);
        }
    }
    if parent.is_none() {
        span.record("trace_id", display(own.trace_id()));
    }
    span.record("span_id", display(own.span_id()));
    Some(format(&own))
}

/// The `traceparent` header of a Kafka record, if it has one.
pub fn traceparent_of<M: rdkafka::Message>(message: &M) -> Option<&[u8]> {
    use rdkafka::message::Headers as _;
    message
        .headers()?
        .iter()
        .find(|header| header.key == TRACEPARENT_HEADER)?
        .value
}

/// The OpenTelemetry messaging attributes of consuming `message` in `group`: what every
/// consumer hop (processor record, projected record) puts on its exported span.
pub fn consumer_attributes<M: rdkafka::Message>(message: &M, group: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.destination.name", message.topic().to_owned()),
        KeyValue::new(
            "messaging.destination.partition.id",
            message.partition().to_string(),
        ),
        KeyValue::new("messaging.kafka.offset", message.offset()),
        KeyValue::new("messaging.consumer.group.name", group.to_owned()),
    ]
}

/// The record header carrying W3C trace context (`shop_topics::names::headers::TRACEPARENT`;
/// the platform does not depend on the topics crate).
const TRACEPARENT_HEADER: &str = "traceparent";

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    const INCOMING: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Keeps what it is given, for the assertions.
    #[derive(Debug, Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// A subscriber that exports every finished span to the returned [`Kept`] at once.
    fn recording() -> (Kept, impl tracing::Subscriber + Send + Sync) {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        (kept, subscriber)
    }

    fn hop_span(parent: Option<&Parent>) -> Span {
        tracing::info_span!(
            "hop",
            otel.name = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            trace_id = trace_id_field(parent),
            span_id = tracing::field::Empty
        )
    }

    fn attributes() -> Vec<KeyValue> {
        vec![KeyValue::new("messaging.system", "kafka")]
    }

    #[test]
    fn headers_parse_and_print_back() {
        let Parent(context) = Parent::parse(INCOMING).unwrap();
        assert!(context.is_sampled() && context.is_remote());
        assert_eq!(format(&context).as_bytes(), INCOMING);
        // A later version is read by its first four fields; only `sampled` of the flags stays.
        let Parent(later) = Parent::parse(
            b" 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-comes-next ",
        )
        .unwrap();
        assert_eq!(format(&later).as_bytes(), INCOMING);
        for bad in [
            &b""[..],
            b"garbage",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            b"00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            b"\xff\xfe",
        ] {
            assert!(Parent::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn an_exported_hop_is_a_child_of_the_incoming_span_and_hands_on_its_own_id() {
        let (kept, subscriber) = recording();
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            // A span that is current must not become the parent: the header decides.
            let unrelated = tracing::info_span!("unrelated");
            let _inside = unrelated.enter();
            let parent = Parent::parse(INCOMING);
            let span = hop_span(parent.as_ref());
            let name = || "process orders".to_owned();
            let outgoing = join(&span, parent.as_ref(), HopKind::Consumer, name, attributes);
            let outgoing = outgoing.unwrap();
            drop(span);
            outgoing
        });
        let spans = kept.0.lock().unwrap().clone();
        let hop = spans
            .iter()
            .find(|span| span.name == "process orders")
            .unwrap();
        let Parent(incoming) = Parent::parse(INCOMING).unwrap();
        assert_eq!(hop.span_context.trace_id(), incoming.trace_id());
        assert_eq!(hop.parent_span_id, incoming.span_id());
        assert_eq!(hop.span_kind, opentelemetry::trace::SpanKind::Consumer);
        assert!(
            hop.attributes
                .contains(&KeyValue::new("messaging.system", "kafka"))
        );
        assert_eq!(outgoing, format(&hop.span_context));
        assert_ne!(hop.span_context.span_id(), incoming.span_id());
    }

    #[test]
    fn an_unsampled_trace_travels_on_but_is_not_described_or_sent() {
        let (kept, subscriber) = recording();
        let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let parent = Parent::parse(unsampled);
            let span = hop_span(parent.as_ref());
            let name = || "process orders".to_owned();
            join(
                &span,
                parent.as_ref(),
                HopKind::Consumer,
                name,
                || unreachable!(),
            )
            .unwrap()
        });
        let Parent(own) = Parent::parse(outgoing.as_bytes()).unwrap();
        assert_eq!(own.trace_id(), Parent::parse(unsampled).unwrap().trace_id());
        assert!(!own.is_sampled());
        assert!(outgoing.ends_with("-00"), "{outgoing}");
        assert!(kept.0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_hop_without_a_valid_header_starts_a_trace_of_its_own() {
        let (kept, subscriber) = recording();
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let name = || "deadline".to_owned();
            join(&hop_span(None), None, HopKind::Internal, name, attributes).unwrap()
        });
        let own = Parent::parse(outgoing.as_bytes()).unwrap();
        assert_ne!(own.trace_id(), Parent::parse(INCOMING).unwrap().trace_id());
        let spans = kept.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 1);
        assert_eq!(
            spans[0].parent_span_id,
            opentelemetry::trace::SpanId::INVALID
        );
    }

    #[test]
    fn without_export_the_caller_forwards_what_it_received() {
        let subscriber = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer());
        tracing::subscriber::with_default(subscriber, || {
            let parent = Parent::parse(INCOMING);
            let kind = HopKind::Consumer;
            let span = hop_span(parent.as_ref());
            let joined = join(
                &span,
                parent.as_ref(),
                kind,
                || unreachable!(),
                || unreachable!(),
            );
            assert_eq!(joined, None);
            let none = Span::none();
            let joined = join(
                &none,
                parent.as_ref(),
                kind,
                || unreachable!(),
                || unreachable!(),
            );
            assert_eq!(joined, None);
        });
    }
}
