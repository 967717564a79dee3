//! What it takes to bring one topic from what the cluster has to what its spec says: a pure
//! comparison, so every rule here is unit-tested without a broker.

use crate::spec::TopicSpec;
use std::collections::BTreeMap;
use std::fmt;

/// One topic as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub partitions: i32,
    pub replication_factor: i32,
    /// Effective topic configs by name.
    pub configs: BTreeMap<String, ObservedConfig>,
}

/// One config value and whether it was set on the topic itself (as opposed to inherited from
/// the broker or a default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedConfig {
    pub value: Option<String>,
    pub set_on_topic: bool,
}

/// A change `apply` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// Only with `--increase-partitions`: more partitions move keys to other partitions, which
    /// breaks per-key order for records in flight and co-partitioning with other topics until
    /// every co-partitioned topic has grown too.
    AddPartitions {
        from: i32,
        to: i32,
    },
    Config {
        key: &'static str,
        have: Option<String>,
        want: String,
    },
}

/// A difference `apply` will not fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Kafka cannot remove partitions.
    Shrink { have: i32, want: i32 },
    /// Changing the replication factor needs a partition reassignment, an operator's decision.
    Replication { have: i32, want: i32 },
}

/// Everything that stands between one topic and its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    pub spec: TopicSpec,
    pub changes: Vec<Change>,
    pub refusals: Vec<Refusal>,
}

impl TopicPlan {
    /// Whether the topic already matches its spec.
    pub fn is_in_line(&self) -> bool {
        self.changes.is_empty() && self.refusals.is_empty()
    }
}

/// Compares `spec` with what the cluster has (`None`: the topic does not exist).
pub fn diff(spec: &TopicSpec, observed: Option<&Observed>) -> TopicPlan {
    let mut plan = TopicPlan {
        spec: spec.clone(),
        changes: Vec::new(),
        refusals: Vec::new(),
    };
    let Some(observed) = observed else {
        plan.changes.push(Change::Create);
        return plan;
    };
    if observed.partitions < spec.partitions {
        plan.changes.push(Change::AddPartitions {
            from: observed.partitions,
            to: spec.partitions,
        });
    } else if observed.partitions > spec.partitions {
        plan.refusals.push(Refusal::Shrink {
            have: observed.partitions,
            want: spec.partitions,
        });
    }
    if observed.replication_factor != spec.replication_factor {
        plan.refusals.push(Refusal::Replication {
            have: observed.replication_factor,
            want: spec.replication_factor,
        });
    }
    for (key, want) in spec.configs() {
        let have = observed
            .configs
            .get(key)
            .and_then(|config| config.value.clone());
        if have.as_deref() != Some(want.as_str()) {
            plan.changes.push(Change::Config { key, have, want });
        }
    }
    plan
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create => write!(f, "create"),
            Self::AddPartitions { from, to } => write!(f, "partitions {from} -> {to}"),
            Self::Config { key, have, want } => {
                let have = have.as_deref().unwrap_or("<unset>");
                write!(f, "{key} {have} -> {want}")
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shrink { have, want } => write!(
                f,
                "has {have} partitions but the spec says {want}: Kafka cannot remove partitions; \
                 keep {have} (raise the spec) or recreate the topic and lose its data"
            ),
            Self::Replication { have, want } => write!(
                f,
                "replication factor is {have} but the spec says {want}: change it with a \
                 partition reassignment (kafka-reassign-partitions), not with this tool"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Layout;

    fn spec() -> TopicSpec {
        Layout::default()
            .specs()
            .into_iter()
            .find(|spec| spec.name == "orders.orders")
            .unwrap()
    }

    fn observed_as(spec: &TopicSpec) -> Observed {
        Observed {
            partitions: spec.partitions,
            replication_factor: spec.replication_factor,
            configs: spec
                .configs()
                .into_iter()
                .map(|(key, value)| {
                    let config = ObservedConfig {
                        value: Some(value),
                        set_on_topic: true,
                    };
                    (key.to_owned(), config)
                })
                .collect(),
        }
    }

    #[test]
    fn a_missing_topic_is_created() {
        assert_eq!(diff(&spec(), None).changes, vec![Change::Create]);
    }

    #[test]
    fn a_matching_topic_needs_nothing() {
        let spec = spec();
        assert!(diff(&spec, Some(&observed_as(&spec))).is_in_line());
    }

    #[test]
    fn config_drift_is_a_change() {
        let spec = spec();
        let mut observed = observed_as(&spec);
        observed.configs.insert(
            "cleanup.policy".to_owned(),
            ObservedConfig {
                value: Some("delete".to_owned()),
                set_on_topic: true,
            },
        );
        let plan = diff(&spec, Some(&observed));
        assert_eq!(
            plan.changes,
            vec![Change::Config {
                key: "cleanup.policy",
                have: Some("delete".to_owned()),
                want: "compact".to_owned()
            }]
        );
    }

    #[test]
    fn fewer_partitions_grow_more_are_refused() {
        let spec = spec();
        let mut observed = observed_as(&spec);
        observed.partitions = spec.partitions - 2;
        assert_eq!(
            diff(&spec, Some(&observed)).changes,
            vec![Change::AddPartitions {
                from: spec.partitions - 2,
                to: spec.partitions
            }]
        );
        observed.partitions = spec.partitions + 1;
        let plan = diff(&spec, Some(&observed));
        assert!(plan.changes.is_empty());
        assert!(matches!(plan.refusals[..], [Refusal::Shrink { .. }]));
        assert!(
            plan.refusals[0]
                .to_string()
                .contains("cannot remove partitions")
        );
    }

    #[test]
    fn replication_drift_is_reported_not_fixed() {
        let spec = spec();
        let mut observed = observed_as(&spec);
        observed.replication_factor = 3;
        let plan = diff(&spec, Some(&observed));
        assert_eq!(
            plan.refusals,
            vec![Refusal::Replication { have: 3, want: 1 }]
        );
    }
}
