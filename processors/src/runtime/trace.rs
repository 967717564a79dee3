//! One span per hop: `process <topic>` for every input record (a child of the span named by
//! the record's `traceparent` header) and `deadline <processor>` for every deadline acted on (a
//! new trace: no record caused it). Every output the hop produces carries the `traceparent` of
//! the hop's own span, so the next processor's span is a child of this one.
//!
//! When spans are not exported (no OTLP endpoint) the span is a plain `tracing` span, free when
//! the log filter drops it, and outputs carry the input's `traceparent` unchanged, as before
//! spans were exported: the trace id still follows the record.

use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use shop_platform::trace_context::{self, HopKind, KeyValue, Parent};
use shop_topics::names::headers;
use tracing::Span;
use tracing::field::Empty;

/// A hop's span and the headers of the records it produces.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) span: Span,
    /// `traceparent` for every output and changelog record of the hop.
    pub(crate) headers: OwnedHeaders,
}

/// The hop of `message`, handled by `processor` in consumer group `group`.
///
/// The `tracing` span carries only the processor and the trace ids (what a log line inside the
/// hop needs; the runtime's own lines name topic, partition and offset themselves); the
/// messaging attributes go to the exported span alone, so a record costs the log layer two
/// fields, not ten, when nothing is exported.
pub(crate) fn for_record(processor: &str, group: &str, message: &OwnedMessage) -> Hop {
    let incoming = trace_context::traceparent_of(message);
    let parent = incoming.and_then(Parent::parse);
    let span = tracing::info_span!(
        "process",
        shop.processor = processor,
        trace_id = trace_context::trace_id_field(parent.as_ref()),
        span_id = Empty,
        otel.name = Empty,
        otel.kind = Empty,
    );
    let outgoing = trace_context::join(
        &span,
        parent.as_ref(),
        HopKind::Consumer,
        || format!("process {}", message.topic()),
        || trace_context::consumer_attributes(message, group),
    );
    let headers = match (outgoing, incoming) {
        (Some(own), _) => traceparent_headers(own.as_bytes()),
        (None, Some(received)) => traceparent_headers(received),
        (None, None) => OwnedHeaders::new(),
    };
    Hop { span, headers }
}

/// The hop of a deadline due in `partition`: the root of a new trace, since no record caused it.
pub(crate) fn for_deadline(processor: &str, partition: i32) -> Hop {
    let span = tracing::info_span!(
        "deadline",
        shop.processor = processor,
        trace_id = Empty,
        span_id = Empty,
        otel.name = Empty,
        otel.kind = Empty,
    );
    let headers = trace_context::join(
        &span,
        None,
        HopKind::Internal,
        || format!("deadline {processor}"),
        || {
            vec![KeyValue::new(
                "messaging.destination.partition.id",
                partition.to_string(),
            )]
        },
    )
    .map_or_else(OwnedHeaders::new, |own| traceparent_headers(own.as_bytes()));
    Hop { span, headers }
}

fn traceparent_headers(value: &[u8]) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: headers::TRACEPARENT,
        value: Some(value),
    })
}
