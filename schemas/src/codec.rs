//! Encodes and decodes records in the Confluent wire format through a schema registry.
//!
//! Wire format: a zero magic byte, the writer schema's registry id as a big-endian `u32`, then
//! the Avro binary datum. Subjects follow the topic name strategy: `<topic>-key` and
//! `<topic>-value`.
//!
//! Encoding uses apache-avro's schema-aware serializer, which writes a Rust enum variant as the
//! union branch of the same index. The registry's id for our schema is looked up once per
//! subject and cached. Decoding reads the datum with the *writer's* schema, fetched by id through
//! `schema_registry_converter` and cached, then maps the value onto the Rust type; union
//! branches map back by index, enum symbols by name.
//!
//! This module does not talk to Kafka; the runtime hands it payloads.

use crate::record::{AvroRecord, SchemaSource};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::{
    SrSettings, perform_sr_call, post_schema,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SrCall, SuppliedSchema, get_payload,
};
use std::collections::HashMap;
use std::sync::{Once, RwLock};
use std::time::Duration;

/// The largest block apache-avro may allocate while decoding one datum. Kafka records are at most
/// a few MiB, so a length prefix beyond this is a corrupt or hostile payload, not data.
const MAX_DECODE_ALLOCATION_BYTES: usize = 16 * 1024 * 1024;

/// Which half of a Kafka record a payload is; picks the `-key` or `-value` subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Key,
    Value,
}

/// The subject of a topic's key or value schema (topic name strategy).
pub fn subject(topic: &str, part: Part) -> String {
    match part {
        Part::Key => format!("{topic}-key"),
        Part::Value => format!("{topic}-value"),
    }
}

/// How the encoder finds the registry id of the schema it writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Only look the schema up under its subject; fail if it is not registered. For services:
    /// schemas are registered by `shop-topics apply`, never as a side effect of producing.
    LookupOnly,
    /// Register the schema if the subject lacks it (the registry still enforces compatibility).
    /// For tests and tools.
    AutoRegister,
}

/// Where the schema registry is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URL of the Confluent-compatible API, e.g. `http://127.0.0.1:8081/apis/ccompat/v7`.
    pub url: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl RegistryConfig {
    /// Settings for `schema_registry_converter`.
    ///
    /// # Errors
    /// [`CodecError::Config`] if the HTTP client cannot be built from these settings.
    pub fn sr_settings(&self) -> Result<SrSettings, CodecError> {
        SrSettings::new_builder(self.url.trim_end_matches('/').to_owned())
            .set_timeout(self.timeout)
            .build()
            .map_err(|source| CodecError::Config {
                url: self.url.clone(),
                reason: source.to_string(),
            })
    }
}

/// Why a payload could not be encoded or decoded, and what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("schema registry settings for {url} are unusable: {reason}")]
    Config { url: String, reason: String },
    /// The registry did not answer; retry with backoff.
    #[error("schema registry unavailable while resolving {what}: {reason}")]
    RegistryUnavailable { what: String, reason: String },
    /// The registry answered but refused: our schema is not registered under the subject, or is
    /// incompatible. A deployment problem, not a record problem: stop.
    #[error("schema {schema} under subject {subject} was refused by the registry: {reason}")]
    SchemaRefused {
        subject: String,
        schema: &'static str,
        reason: String,
    },
    /// The value does not fit its own schema: a bug in the producing code.
    #[error("cannot encode {schema}: {reason}")]
    Encode {
        schema: &'static str,
        reason: String,
    },
    /// The payload is not in the Confluent wire format (poison).
    #[error("payload is not in the Confluent wire format: {reason}")]
    NotWireFormat { reason: String },
    /// The payload names a schema the registry does not have, or its bytes do not decode with
    /// that schema (poison).
    #[error("payload with writer schema id {schema_id} does not decode: {reason}")]
    Undecodable { schema_id: u32, reason: String },
    /// The payload decoded, but was written with a schema of another record (poison: usually a
    /// record produced to the wrong topic).
    #[error("payload was written as {found}, expected {expected}")]
    WrongSchema {
        expected: &'static str,
        found: String,
    },
    /// The payload decoded, but does not fit the Rust type (poison).
    #[error("payload does not fit {expected}: {reason}")]
    Mismatch {
        expected: &'static str,
        reason: String,
    },
}

impl CodecError {
    /// A later attempt may succeed: the registry was unreachable.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RegistryUnavailable { .. })
    }

    /// The record itself is bad and belongs on a dead-letter topic; retrying cannot help.
    pub fn is_poison(&self) -> bool {
        matches!(
            self,
            Self::NotWireFormat { .. }
                | Self::Undecodable { .. }
                | Self::WrongSchema { .. }
                | Self::Mismatch { .. }
        )
    }
}

/// Encodes and decodes Avro records in the Confluent wire format. Cheap to share behind an `Arc`;
/// every lookup is cached for the life of the codec.
pub struct AvroCodec {
    settings: SrSettings,
    registration: Registration,
    decoder: AvroDecoder,
    /// Registry id of our schema, by subject and schema full name.
    writer_ids: RwLock<HashMap<(String, &'static str), u32>>,
}

impl std::fmt::Debug for AvroCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroCodec")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}

impl AvroCodec {
    /// A codec talking to the registry described by `config`.
    ///
    /// # Errors
    /// [`CodecError::Config`] if the HTTP client cannot be built.
    pub fn new(config: &RegistryConfig, registration: Registration) -> Result<Self, CodecError> {
        static LIMIT_ALLOCATIONS: Once = Once::new();
        LIMIT_ALLOCATIONS.call_once(|| {
            apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION_BYTES);
        });
        let settings = config.sr_settings()?;
        Ok(Self {
            decoder: AvroDecoder::new(settings.clone()),
            settings,
            registration,
            writer_ids: RwLock::new(HashMap::new()),
        })
    }

    /// Encodes a record key (an id) for `topic`.
    ///
    /// # Errors
    /// See [`AvroCodec::encode`].
    pub async fn encode_key(&self, topic: &str, key: &str) -> Result<Vec<u8>, CodecError> {
        self.encode(topic, Part::Key, &key.to_owned()).await
    }

    /// Encodes `record` as the `part` of a record on `topic`.
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] (retry), [`CodecError::SchemaRefused`] (the schema is
    /// not registered, or incompatible), [`CodecError::Encode`] (a value that breaks its schema).
    pub async fn encode<T: AvroRecord>(
        &self,
        topic: &str,
        part: Part,
        record: &T,
    ) -> Result<Vec<u8>, CodecError> {
        let schema_id = self
            .writer_schema_id(&subject(topic, part), T::source())
            .await?;
        let datum = encode_datum(record)?;
        Ok(get_payload(schema_id, datum))
    }

    /// Decodes a record key (an id).
    ///
    /// # Errors
    /// See [`AvroCodec::decode`].
    pub async fn decode_key(&self, payload: &[u8]) -> Result<String, CodecError> {
        self.decode::<String>(payload).await
    }

    /// Decodes a payload written with any registered version of `T`'s schema.
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] (retry); every other variant means the payload is
    /// poison ([`CodecError::is_poison`]).
    pub async fn decode<T: AvroRecord>(&self, payload: &[u8]) -> Result<T, CodecError> {
        self.decode_any(payload).await?.into_record()
    }

    /// Decodes a payload with its writer schema, whatever record it is: for a reader of several
    /// record types, which picks the Rust type by [`Decoded::writer_name`].
    ///
    /// # Errors
    /// As [`AvroCodec::decode`].
    pub async fn decode_any(&self, payload: &[u8]) -> Result<Decoded, CodecError> {
        let schema_id = wire_schema_id(payload)?;
        let decoded = self.decoder.decode(Some(payload)).await.map_err(|error| {
            if error.retriable {
                CodecError::RegistryUnavailable {
                    what: format!("writer schema id {schema_id}"),
                    reason: describe(&error),
                }
            } else {
                CodecError::Undecodable {
                    schema_id,
                    reason: describe(&error),
                }
            }
        })?;
        Ok(Decoded {
            writer_name: decoded.name.map(|name| name.fullname(None)),
            value: decoded.value,
        })
    }

    /// The registry id of `source` under `subject`, from the cache or the registry.
    async fn writer_schema_id(
        &self,
        subject: &str,
        source: &'static SchemaSource,
    ) -> Result<u32, CodecError> {
        let cache_key = (subject.to_owned(), source.full_name);
        if let Some(id) = self.read_cached_id(&cache_key) {
            return Ok(id);
        }
        let result = match self.registration {
            Registration::AutoRegister => {
                post_schema(&self.settings, subject.to_owned(), supplied_schema(source))
                    .await
                    .map(|registered| Some(registered.id))
            }
            Registration::LookupOnly => {
                let body = lookup_body(source);
                perform_sr_call(&self.settings, SrCall::PostForVersion(subject, &body))
                    .await
                    .map(|found| found.id)
            }
        };
        let id = match result {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Err(CodecError::SchemaRefused {
                    subject: subject.to_owned(),
                    schema: source.full_name,
                    reason: "the registry answered without a schema id".to_owned(),
                });
            }
            Err(error) => return Err(refused_or_unavailable(subject, source, &error)),
        };
        if let Ok(mut ids) = self.writer_ids.write() {
            ids.insert(cache_key, id);
        }
        Ok(id)
    }

    fn read_cached_id(&self, key: &(String, &'static str)) -> Option<u32> {
        // A poisoned lock only means another task panicked mid-insert; the map is still valid.
        match self.writer_ids.read() {
            Ok(ids) => ids.get(key).copied(),
            Err(poisoned) => poisoned.into_inner().get(key).copied(),
        }
    }
}

/// The Avro binary datum of `record`, written with `T`'s schema (no wire-format header).
///
/// # Errors
/// [`CodecError::Encode`] if the value does not fit the schema.
pub fn encode_datum<T: AvroRecord>(record: &T) -> Result<Vec<u8>, CodecError> {
    let source = T::source();
    let writer = source.writer().map_err(|reason| CodecError::Encode {
        schema: source.full_name,
        reason,
    })?;
    writer
        .write_ser_to_vec(record)
        .map_err(|error| CodecError::Encode {
            schema: source.full_name,
            reason: error.to_string(),
        })
}

/// A payload decoded with its writer schema, not yet turned into a Rust type.
#[derive(Debug, Clone)]
pub struct Decoded {
    writer_name: Option<String>,
    value: apache_avro::types::Value,
}

impl Decoded {
    /// Full name of the writer schema (`shop.payment.PaymentEvent`); `None` for a primitive.
    pub fn writer_name(&self) -> Option<&str> {
        self.writer_name.as_deref()
    }

    /// Whether the writer schema is `T`'s.
    pub fn is<T: AvroRecord>(&self) -> bool {
        self.writer_name.as_deref() == Some(T::source().full_name)
    }

    /// The value as `T`.
    ///
    /// # Errors
    /// [`CodecError::WrongSchema`] if it was written as another record; [`CodecError::Mismatch`]
    /// if it does not fit `T`.
    pub fn into_record<T: AvroRecord>(self) -> Result<T, CodecError> {
        record_from_value(self.writer_name, &self.value)
    }
}

/// `T` from a value decoded with a writer schema whose full name is `writer_name` (`None` for a
/// primitive schema, which has no name to compare).
///
/// # Errors
/// [`CodecError::WrongSchema`] if the writer schema is another record;
/// [`CodecError::Mismatch`] if the value does not fit `T`.
pub(crate) fn record_from_value<T: AvroRecord>(
    writer_name: Option<String>,
    value: &apache_avro::types::Value,
) -> Result<T, CodecError> {
    let expected = T::source().full_name;
    if let Some(found) = writer_name
        && found != expected
    {
        return Err(CodecError::WrongSchema { expected, found });
    }
    apache_avro::from_value::<T>(value).map_err(|error| CodecError::Mismatch {
        expected,
        reason: error.to_string(),
    })
}

/// `source` in the form `schema_registry_converter` registers.
pub(crate) fn supplied_schema(source: &SchemaSource) -> SuppliedSchema {
    SuppliedSchema::new(
        Some(source.full_name.to_owned()),
        SchemaType::Avro,
        source.json.to_owned(),
    )
}

/// The request body of a lookup (`POST /subjects/{subject}`).
fn lookup_body(source: &SchemaSource) -> String {
    serde_json::json!({ "schema": source.json, "schemaType": "AVRO" }).to_string()
}

/// The writer schema id of a wire-format payload.
///
/// # Errors
/// [`CodecError::NotWireFormat`] if the payload is too short or lacks the magic byte.
pub fn wire_schema_id(payload: &[u8]) -> Result<u32, CodecError> {
    match payload {
        [0, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        [] => Err(CodecError::NotWireFormat {
            reason: "empty payload".to_owned(),
        }),
        [0, ..] => Err(CodecError::NotWireFormat {
            reason: format!("{} bytes, shorter than the 5-byte header", payload.len()),
        }),
        [magic, ..] => Err(CodecError::NotWireFormat {
            reason: format!("magic byte is {magic:#04x}, expected 0x00"),
        }),
    }
}

/// A registry error about `source` under `subject`: unavailable if retrying may help, refused
/// otherwise.
pub(crate) fn refused_or_unavailable(
    subject: &str,
    source: &'static SchemaSource,
    error: &SRCError,
) -> CodecError {
    if error.retriable {
        CodecError::RegistryUnavailable {
            what: format!("subject {subject}"),
            reason: describe(error),
        }
    } else {
        CodecError::SchemaRefused {
            subject: subject.to_owned(),
            schema: source.full_name,
            reason: describe(error),
        }
    }
}

/// The registry's own error message plus its cause, without the converter's retry bookkeeping.
pub(crate) fn describe(error: &SRCError) -> String {
    match &error.cause {
        Some(cause) => format!("{}: {}", error.error, cause),
        None => error.error.clone(),
    }
}
