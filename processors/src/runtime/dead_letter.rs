//! Headers of a dead letter: the why and where of it, next to the input's own headers (its
//! `traceparent` included) and bytes. The trace context of ordinary outputs is `trace`'s.

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
