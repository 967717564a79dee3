//! Administration of subjects in the schema registry: register a schema, check a candidate's
//! compatibility, and pin a subject's compatibility level.
//!
//! Used by `shop-topics apply` and by tests; services only look schemas up (see
//! [`crate::codec::Registration`]).

use crate::codec::{CodecError, RegistryConfig, describe, refused_or_unavailable, supplied_schema};
use crate::record::SchemaSource;
use schema_registry_converter::async_impl::schema_registry::{SrSettings, post_schema};
use serde::Deserialize;

/// A subject's compatibility level, as the Confluent API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// A new schema can read data written with the previous one (the Confluent default).
    Backward,
    /// Like [`Compatibility::Backward`], against every earlier version.
    BackwardTransitive,
    /// No checks (for keys, whose schema never changes, it makes no difference).
    None,
}

impl Compatibility {
    /// The level's name in the registry API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::None => "NONE",
        }
    }
}

/// A client for subject administration.
#[derive(Debug)]
pub struct RegistryAdmin {
    config: RegistryConfig,
    settings: SrSettings,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct CompatibilityVerdict {
    is_compatible: bool,
}

#[derive(Debug, Deserialize)]
struct CompatibilityBody {
    #[serde(alias = "compatibilityLevel")]
    compatibility: Option<String>,
}

impl RegistryAdmin {
    /// A client for the registry described by `config`.
    ///
    /// # Errors
    /// [`CodecError::Config`] if the HTTP client cannot be built.
    pub fn new(config: &RegistryConfig) -> Result<Self, CodecError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|error| CodecError::Config {
                url: config.url.clone(),
                reason: error.to_string(),
            })?;
        Ok(Self {
            settings: config.sr_settings()?,
            config: config.clone(),
            http,
        })
    }

    /// Registers `source` under `subject` (a no-op returning the existing id when it is already
    /// there) and returns its id.
    ///
    /// # Errors
    /// [`CodecError::SchemaRefused`] when the registry refuses it, e.g. as incompatible;
    /// [`CodecError::RegistryUnavailable`] when it does not answer.
    pub async fn register(
        &self,
        subject: &str,
        source: &'static SchemaSource,
    ) -> Result<u32, CodecError> {
        post_schema(&self.settings, subject.to_owned(), supplied_schema(source))
            .await
            .map(|registered| registered.id)
            .map_err(|error| refused_or_unavailable(subject, source, &error))
    }

    /// Whether `source` may be registered as the next version of `subject` under the subject's
    /// compatibility level (`POST /compatibility/subjects/{subject}/versions/latest`). A
    /// subject with no versions yet accepts anything.
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] when the registry does not answer or answers with
    /// something other than a verdict.
    pub async fn is_compatible(
        &self,
        subject: &str,
        source: &'static SchemaSource,
    ) -> Result<bool, CodecError> {
        let url = format!(
            "{}/compatibility/subjects/{}/versions/latest",
            self.base_url(),
            subject
        );
        let response = self
            .http
            .post(&url)
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&serde_json::json!({ "schema": source.json, "schemaType": "AVRO" }))
            .send()
            .await
            .map_err(|error| unavailable(&url, &error))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(true);
        }
        let verdict: CompatibilityVerdict = response
            .error_for_status()
            .map_err(|error| unavailable(&url, &error))?
            .json()
            .await
            .map_err(|error| unavailable(&url, &error))?;
        Ok(verdict.is_compatible)
    }

    /// Sets `subject`'s compatibility level (`PUT /config/{subject}`).
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] if the registry does not answer or refuses.
    pub async fn set_compatibility(
        &self,
        subject: &str,
        level: Compatibility,
    ) -> Result<(), CodecError> {
        let url = format!("{}/config/{}", self.base_url(), subject);
        let response = self
            .http
            .put(&url)
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&serde_json::json!({ "compatibility": level.as_str() }))
            .send()
            .await
            .map_err(|error| unavailable(&url, &error))?;
        if !response.status().is_success() {
            return Err(CodecError::RegistryUnavailable {
                what: url,
                reason: format!("status {}", response.status()),
            });
        }
        Ok(())
    }

    /// `subject`'s own compatibility level, if one is set (`GET /config/{subject}`).
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] if the registry does not answer.
    pub async fn compatibility(&self, subject: &str) -> Result<Option<String>, CodecError> {
        let url = format!("{}/config/{}", self.base_url(), subject);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| unavailable(&url, &error))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: CompatibilityBody = response
            .error_for_status()
            .map_err(|error| unavailable(&url, &error))?
            .json()
            .await
            .map_err(|error| unavailable(&url, &error))?;
        Ok(body.compatibility)
    }

    /// Every subject the registry holds.
    ///
    /// # Errors
    /// [`CodecError::RegistryUnavailable`] if the registry does not answer.
    pub async fn subjects(&self) -> Result<Vec<String>, CodecError> {
        schema_registry_converter::async_impl::schema_registry::get_all_subjects(&self.settings)
            .await
            .map_err(|error| CodecError::RegistryUnavailable {
                what: "the subject list".to_owned(),
                reason: describe(&error),
            })
    }

    fn base_url(&self) -> &str {
        self.config.url.trim_end_matches('/')
    }
}

fn unavailable(url: &str, error: &reqwest::Error) -> CodecError {
    CodecError::RegistryUnavailable {
        what: url.to_owned(),
        reason: error.to_string(),
    }
}
