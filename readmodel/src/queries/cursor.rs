//! Page cursors: the position after which the next page starts, handed to clients as an opaque
//! token. The token is the lowercase hex of a small JSON object; hex keeps it safe to put in a
//! URL without escaping and needs no extra dependency. It is opaque by convention, not secret:
//! it only holds values of the last item the client was already shown.

use super::QueryError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Longest token accepted (hex characters). Product names are unbounded text, so this is
/// generous; it only keeps an absurd token from being decoded at all.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A position in one of the paged queries. The tag makes a token from one query useless in
/// another, where its values would mean something else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "k", deny_unknown_fields)]
pub(super) enum Cursor {
    /// After this product in (name, product_id) order.
    #[serde(rename = "p")]
    Products {
        #[serde(rename = "n")]
        name: String,
        #[serde(rename = "i")]
        product_id: String,
    },
    /// After this order of `user_id` in (created_at DESC, order_id DESC) order. The user is
    /// kept so a token cannot be replayed against another user's list.
    #[serde(rename = "o")]
    Orders {
        #[serde(rename = "u")]
        user_id: String,
        #[serde(rename = "t")]
        created_at: DateTime<Utc>,
        #[serde(rename = "i")]
        order_id: String,
    },
}

impl Cursor {
    /// The token for this position. Built from a JSON value rather than by `Serialize`, so it
    /// cannot fail; timestamps keep microseconds, the database's precision, so the keyset
    /// comparison is exact.
    pub(super) fn encode(&self) -> String {
        let mut object = Map::new();
        match self {
            Self::Products { name, product_id } => {
                object.insert("k".into(), "p".into());
                object.insert("n".into(), name.as_str().into());
                object.insert("i".into(), product_id.as_str().into());
            }
            Self::Orders {
                user_id,
                created_at,
                order_id,
            } => {
                object.insert("k".into(), "o".into());
                object.insert("u".into(), user_id.as_str().into());
                object.insert(
                    "t".into(),
                    created_at
                        .to_rfc3339_opts(SecondsFormat::Micros, true)
                        .into(),
                );
                object.insert("i".into(), order_id.as_str().into());
            }
        }
        hex(Value::Object(object).to_string().as_bytes())
    }

    /// The position a token stands for.
    ///
    /// # Errors
    /// [`QueryError::InvalidCursor`] for anything that is not a token this module made.
    pub(super) fn decode(token: &str) -> Result<Self, QueryError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("too long"));
        }
        let bytes = unhex(token).ok_or_else(|| invalid("not a cursor token"))?;
        serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor token"))
    }
}

fn invalid(reason: &str) -> QueryError {
    QueryError::InvalidCursor(reason.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Lowercase hex only, as [`hex`] writes it; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let products = Cursor::Products {
            name: "Café \"quoted\" \u{1F980}".to_owned(),
            product_id: "p-1".to_owned(),
        };
        let token = products.encode();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(Cursor::decode(&token).unwrap(), products);

        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let orders = Cursor::Orders {
            user_id: "u".to_owned(),
            created_at: at,
            order_id: "o".to_owned(),
        };
        assert_eq!(Cursor::decode(&orders.encode()).unwrap(), orders);
    }

    #[test]
    fn anything_else_is_rejected() {
        let json = |text: &str| hex(text.as_bytes());
        for token in [
            String::new(),
            "0".to_owned(),
            "zz".to_owned(),
            "7B7D".to_owned(),
            json("{}"),
            json("[]"),
            json(r#"{"k":"p","n":"a"}"#),
            json(r#"{"k":"p","n":"a","i":"b","x":1}"#),
            json(r#"{"k":"q","n":"a","i":"b"}"#),
            json(r#"{"k":"o","u":"u","t":"yesterday","i":"b"}"#),
            "ab".repeat(MAX_TOKEN_LEN),
        ] {
            assert!(
                matches!(Cursor::decode(&token), Err(QueryError::InvalidCursor(_))),
                "{token:.40}"
            );
        }
    }
}
