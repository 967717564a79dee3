//! Schema evolution: every schema must stay BACKWARD compatible (new readers read old data)
//! with its baseline, the version in the newest release tag `v*`, or, before any tag, the
//! schema as first committed.
//!
//! Three checks, because each catches what another may not:
//! 1. the registry's compatibility endpoint (what production enforces),
//! 2. apache-avro's resolution rules (`SchemaCompatibility::can_read(old, new)`),
//! 3. our own rule that unions only grow at the end, since the codec maps union branches to
//!    enum variants by index (see `docs/schemas.md`).

use crate::helpers::admin;
use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use shop_platform::testing;
use shop_schemas::registry::Compatibility;
use shop_schemas::{ALL_SCHEMAS, SchemaSource};
use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(args)
        .output()
        .expect("git runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The newest release tag, else the commit that first added the schemas folder.
fn baseline_revision() -> String {
    if let Some(tag) = git(&["describe", "--tags", "--abbrev=0", "--match", "v*"])
        && !tag.is_empty()
    {
        return tag;
    }
    let first = git(&[
        "log",
        "--diff-filter=A",
        "--format=%H",
        "--",
        "schemas/avro",
    ])
    .and_then(|log| log.lines().last().map(str::to_owned))
    .filter(|commit| !commit.is_empty());
    first.expect(
        "no baseline for the schema evolution check: no v* tag and no commit adding \
         schemas/avro (a shallow clone? fetch the full history)",
    )
}

/// `file` as it was at `revision`, if it existed then.
fn baseline_text(revision: &str, file: &str) -> Option<String> {
    git(&["show", &format!("{revision}:schemas/avro/{file}")])
}

fn leak(full_name: &'static str, json: String) -> &'static SchemaSource {
    Box::leak(Box::new(SchemaSource::new(
        full_name,
        Box::leak(json.into_boxed_str()),
    )))
}

/// Names of the branches of every union in `schema`, by field path.
fn unions(schema: &Schema, path: &str, found: &mut Vec<(String, Vec<String>)>) {
    match schema {
        Schema::Record(record) => {
            for field in &record.fields {
                unions(&field.schema, &format!("{path}.{}", field.name), found);
            }
        }
        Schema::Array(array) => unions(&array.items, &format!("{path}[]"), found),
        Schema::Union(union) => {
            let names = union
                .variants()
                .iter()
                .map(|variant| match variant.name() {
                    Some(name) => name.to_string(),
                    None => format!("{:?}", apache_avro::schema::SchemaKind::from(variant)),
                })
                .collect();
            found.push((path.to_owned(), names));
            for variant in union.variants() {
                unions(variant, path, found);
            }
        }
        _ => {}
    }
}

/// Every reason `new` may not replace `old`, according to the local checks (2 and 3).
fn local_incompatibilities(old: &Schema, new: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = SchemaCompatibility::can_read(old, new) {
        problems.push(format!(
            "apache-avro: new schema cannot read old data: {error}"
        ));
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    unions(old, "", &mut before);
    unions(new, "", &mut after);
    for (path, old_branches) in before {
        match after.iter().find(|(new_path, _)| *new_path == path) {
            Some((_, new_branches)) if new_branches.starts_with(&old_branches) => {}
            Some((_, new_branches)) => problems.push(format!(
                "union at {path} changed from {old_branches:?} to {new_branches:?}: \
                 branches may only be appended"
            )),
            None => problems.push(format!("union at {path} disappeared")),
        }
    }
    problems
}

/// Registers `old` under a fresh subject pinned to BACKWARD and asks whether `new` may follow.
async fn registry_accepts(old: &'static SchemaSource, new: &'static SchemaSource) -> bool {
    let admin = admin();
    let subject = testing::unique(&format!("evolution-{}", old.full_name));
    admin.register(&subject, old).await.unwrap();
    admin
        .set_compatibility(&subject, Compatibility::Backward)
        .await
        .unwrap();
    admin.is_compatible(&subject, new).await.unwrap()
}

#[tokio::test]
async fn every_schema_is_backward_compatible_with_its_baseline() {
    let revision = baseline_revision();
    let mut compared = 0;
    let mut problems = Vec::new();
    for source in ALL_SCHEMAS {
        let file = format!("{}.avsc", source.full_name);
        let Some(text) = baseline_text(&revision, &file) else {
            continue; // A schema newer than the baseline has nothing to be compatible with.
        };
        let old = leak(source.full_name, text);
        for problem in local_incompatibilities(old.schema(), source.schema()) {
            problems.push(format!("{file}: {problem}"));
        }
        if !registry_accepts(old, source).await {
            problems.push(format!(
                "{file}: the registry refuses it as BACKWARD compatible"
            ));
        }
        compared += 1;
    }
    assert!(compared > 0, "no schema found at baseline {revision}");
    assert!(
        problems.is_empty(),
        "schema changes since {revision} break old data:\n{}",
        problems.join("\n")
    );
}

/// The same checks must catch a breaking change, or the test above proves nothing.
#[tokio::test]
async fn a_breaking_change_is_caught_by_every_check() {
    let old = &shop_schemas::record::PRODUCT;
    let added_required_field = old.json.replacen(
        r#"{"name": "version""#,
        r#"{"name": "weight_grams", "type": "long"}, {"name": "version""#,
        1,
    );
    assert_ne!(added_required_field, old.json, "the edit applied");
    let new = leak(old.full_name, added_required_field);
    let problems = local_incompatibilities(old.schema(), new.schema());
    assert!(
        problems.iter().any(|p| p.starts_with("apache-avro")),
        "{problems:?}"
    );
    assert!(!registry_accepts(old, new).await);

    let old = &shop_schemas::record::INVENTORY_COMMAND;
    let reordered = old
        .json
        .replacen("\"ReserveStock\"", "\"ReserveStockX\"", 1);
    let new = leak(old.full_name, reordered);
    let problems = local_incompatibilities(old.schema(), new.schema());
    assert!(
        problems.iter().any(|p| p.contains("may only be appended")),
        "{problems:?}"
    );
}

/// A compatible change (an optional field with a default, a union branch at the end) passes.
#[tokio::test]
async fn a_compatible_change_passes_every_check() {
    let old = &shop_schemas::record::PAYMENT_EVENT;
    let evolved = old
        .json
        .replacen(
            r#"{"name": "reason", "type": "string", "doc": "Machine-readable, e.g. card_declined or amount_limit."}"#,
            r#"{"name": "reason", "type": "string"}, {"name": "retryable", "type": "boolean", "default": false}"#,
            1,
        )
        .replacen(
            "\n    ]}\n  ]\n}",
            ",\n      {\"type\": \"record\", \"name\": \"PaymentRefunded\", \"fields\": [{\"name\": \"order_id\", \"type\": \"string\"}]}\n    ]}\n  ]\n}",
            1,
        );
    assert!(evolved.contains("retryable") && evolved.contains("PaymentRefunded"));
    let new = leak(old.full_name, evolved);
    assert_eq!(
        local_incompatibilities(old.schema(), new.schema()),
        Vec::<String>::new()
    );
    assert!(registry_accepts(old, new).await);
}
