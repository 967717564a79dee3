//! Headers the runtime writes: the trace context carried from input to outputs, and the
//! why and where of a dead letter (whose bytes are the input's own).

use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use shop_topics::names::headers;
use std::time::SystemTime;

/// The headers of a dead letter for `message`: the input's own headers, then the reason,
/// source position, processor and time.
pub fn headers_for(message: &OwnedMessage, processor: &str, error: &str) -> OwnedHeaders {
    let mut out = OwnedHeaders::new();
    if let Some(input) = message.headers() {
        for header in input.iter() {
            out = out.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    [
        (headers::DLQ_ERROR, error),
        (headers::DLQ_SOURCE_TOPIC, message.topic()),
        (headers::DLQ_SOURCE_PARTITION, partition.as_str()),
        (headers::DLQ_SOURCE_OFFSET, offset.as_str()),
        (headers::DLQ_PROCESSOR, processor),
        (headers::DLQ_TIME, time.as_str()),
    ]
    .into_iter()
    .fold(out, |out, (key, value)| {
        out.insert(Header {
            key,
            value: Some(value),
        })
    })
}

/// The input's trace context, for every output it causes.
pub(crate) fn trace_headers(message: &OwnedMessage) -> OwnedHeaders {
    let traceparent = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == headers::TRACEPARENT)
            .and_then(|header| header.value.map(<[u8]>::to_vec))
    });
    match traceparent {
        Some(value) => OwnedHeaders::new().insert(Header {
            key: headers::TRACEPARENT,
            value: Some(&value),
        }),
        None => OwnedHeaders::new(),
    }
}
