//! Registers every topic's key and value schema under its subjects and pins each subject's
//! compatibility to BACKWARD, so a later schema that old data cannot be read with is refused by
//! the registry itself, whoever tries to register it.

use crate::spec::TopicSpec;
use shop_schemas::SchemaSource;
use shop_schemas::codec::{CodecError, Part, subject};
use shop_schemas::registry::{Compatibility, RegistryAdmin};

/// One subject and the schema it must hold.
#[derive(Debug, Clone, Copy)]
pub struct SubjectSpec<'a> {
    pub topic: &'a str,
    pub part: Part,
    pub source: &'static SchemaSource,
}

impl SubjectSpec<'_> {
    pub fn subject(&self) -> String {
        subject(self.topic, self.part)
    }
}

/// The key and value subjects of every topic that has schemas.
pub fn subjects(specs: &[TopicSpec]) -> Vec<SubjectSpec<'_>> {
    specs
        .iter()
        .filter_map(|spec| spec.schemas.map(|schemas| (spec.name.as_str(), schemas)))
        .flat_map(|(topic, (key, value))| {
            [
                SubjectSpec {
                    topic,
                    part: Part::Key,
                    source: key,
                },
                SubjectSpec {
                    topic,
                    part: Part::Value,
                    source: value,
                },
            ]
        })
        .collect()
}

/// A subject after registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub subject: String,
    pub schema_id: u32,
}

/// Registers each subject's schema (a no-op for one already there) and sets its compatibility.
///
/// # Errors
/// [`CodecError::SchemaRefused`] if a schema is incompatible with the subject's latest version.
pub async fn register_all(
    registry: &RegistryAdmin,
    subjects: &[SubjectSpec<'_>],
) -> Result<Vec<Registered>, CodecError> {
    let mut registered = Vec::with_capacity(subjects.len());
    for spec in subjects {
        let subject = spec.subject();
        let schema_id = registry.register(&subject, spec.source).await?;
        registry
            .set_compatibility(&subject, Compatibility::Backward)
            .await?;
        registered.push(Registered { subject, schema_id });
    }
    Ok(registered)
}

/// The subjects whose compiled-in schema the registry would refuse as the next version.
///
/// # Errors
/// [`CodecError::RegistryUnavailable`] if the registry does not answer.
pub async fn incompatible(
    registry: &RegistryAdmin,
    subjects: &[SubjectSpec<'_>],
) -> Result<Vec<String>, CodecError> {
    let mut refused = Vec::new();
    for spec in subjects {
        let subject = spec.subject();
        if !registry.is_compatible(&subject, spec.source).await? {
            refused.push(subject);
        }
    }
    Ok(refused)
}
