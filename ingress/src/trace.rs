//! W3C trace context (`traceparent`) for the commands the ingress sends. Each API request runs
//! in a server span (see `api::middleware::trace_request`) that continues the caller's trace, or
//! starts one; the commands it sends carry that span's `traceparent`, so the processors' spans
//! are its children. When spans are not exported, [`child_of`] continues the caller's trace
//! with a span id of the ingress's own, as before export existed.

use uuid::Uuid;

/// The `traceparent` a request's commands carry, put into the request by the tracing
/// middleware for the extractors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTrace(pub String);

/// The `traceparent` for a command caused by a request that carried `incoming`.
///
/// A valid incoming header (version `00`, non-zero ids) keeps its trace id and flags; the parent
/// id becomes a fresh span id, since the ingress is a participant of its own. Anything else
/// starts a new sampled trace.
pub fn child_of(incoming: Option<&str>) -> String {
    let span_id = random_hex(8);
    match incoming.and_then(parse) {
        Some((trace_id, flags)) => format!("00-{trace_id}-{span_id}-{flags}"),
        None => format!("00-{}-{span_id}-01", random_hex(16)),
    }
}

/// The trace id and flags of a valid version-00 header.
fn parse(header: &str) -> Option<(&str, &str)> {
    let mut parts = header.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none()
        && version == "00"
        && is_lower_hex(trace_id, 32)
        && is_lower_hex(parent_id, 16)
        && is_lower_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, flags))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `bytes` random bytes as lower-case hex (at most 16), never all zero.
fn random_hex(bytes: usize) -> String {
    let hex = Uuid::new_v4().simple().to_string();
    let mut id = hex[..bytes.min(16) * 2].to_owned();
    if id.bytes().all(|b| b == b'0') {
        id.replace_range(..1, "1");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_trace_is_continued_with_a_new_span() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let out = child_of(Some(incoming));
        assert!(
            out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{out}"
        );
        assert!(out.ends_with("-01"));
        assert_ne!(out, incoming);
        assert!(parse(&out).is_some());
    }

    #[test]
    fn a_missing_or_malformed_trace_starts_a_new_one() {
        for incoming in [
            None,
            Some(""),
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        ] {
            let out = child_of(incoming);
            assert!(parse(&out).is_some(), "{out}");
            assert!(!out.contains("4bf92f35"), "{out}");
        }
    }
}
