//! The declared topics: name, key and value schema, partitions, cleanup policy, retention and
//! durability, each written down once in [`DECLARED`].

use crate::names;
use shop_schemas::SchemaSource;
use shop_schemas::record as schema;
use std::collections::BTreeMap;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How a topic gets rid of old records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Records older than `retention` are deleted (event and command streams).
    Delete { retention: Duration },
    /// Only the newest record per key is kept; tombstones go after `tombstone_retention`
    /// (state changelogs and tables).
    Compact { tombstone_retention: Duration },
}

/// One topic as declared, before a [`Layout`] gives it a prefix and a size.
#[derive(Debug)]
pub struct Declared {
    pub name: &'static str,
    pub value: &'static SchemaSource,
    pub cleanup: Cleanup,
}

const fn stream(name: &'static str, value: &'static SchemaSource, days: u64) -> Declared {
    Declared {
        name,
        value,
        cleanup: Cleanup::Delete {
            retention: Duration::from_secs(days * DAY.as_secs()),
        },
    }
}

const fn table(name: &'static str, value: &'static SchemaSource) -> Declared {
    Declared {
        name,
        value,
        cleanup: Cleanup::Compact {
            tombstone_retention: DAY,
        },
    }
}

/// Every data topic of the pipeline. Each also gets a dead-letter topic, and every key is an
/// Avro string (an id).
pub static DECLARED: [Declared; 14] = [
    stream(names::CATALOG_COMMANDS, &schema::CATALOG_COMMAND, 7),
    table(names::CATALOG_PRODUCTS, &schema::PRODUCT),
    stream(names::CART_COMMANDS, &schema::CART_COMMAND, 7),
    table(names::CART_CARTS, &schema::CART),
    stream(names::CHECKOUT_REQUESTED, &schema::CHECKOUT_REQUESTED, 7),
    stream(names::INVENTORY_COMMANDS, &schema::INVENTORY_COMMAND, 7),
    table(names::INVENTORY_STOCK, &schema::STOCK_LEVEL),
    stream(names::INVENTORY_EVENTS, &schema::INVENTORY_EVENT, 7),
    stream(names::PAYMENT_COMMANDS, &schema::PAYMENT_COMMAND, 7),
    stream(names::PAYMENT_EVENTS, &schema::PAYMENT_EVENT, 7),
    table(names::PAYMENT_PAYMENTS, &schema::PAYMENT),
    table(names::ORDERS_ORDERS, &schema::ORDER),
    stream(names::ORDERS_EVENTS, &schema::ORDER_EVENT, 30),
    stream(names::COMMAND_OUTCOMES, &schema::COMMAND_OUTCOME, 1),
];

/// Dead letters are kept a month: long enough to be noticed, read and replayed.
const DEAD_LETTER_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One topic as it should exist on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Full name, prefix included.
    pub name: String,
    /// Key and value schemas; `None` for dead-letter topics, which keep the bytes they were given.
    pub schemas: Option<(&'static SchemaSource, &'static SchemaSource)>,
    pub partitions: i32,
    pub replication_factor: i32,
    pub cleanup: Cleanup,
    pub min_insync_replicas: i32,
}

impl TopicSpec {
    /// The topic-level configs this spec sets, as Kafka names them.
    pub fn configs(&self) -> BTreeMap<&'static str, String> {
        let mut configs = BTreeMap::new();
        match self.cleanup {
            Cleanup::Delete { retention } => {
                configs.insert("cleanup.policy", "delete".to_owned());
                configs.insert("retention.ms", retention.as_millis().to_string());
            }
            Cleanup::Compact {
                tombstone_retention,
            } => {
                configs.insert("cleanup.policy", "compact".to_owned());
                configs.insert(
                    "delete.retention.ms",
                    tombstone_retention.as_millis().to_string(),
                );
            }
        }
        configs.insert("min.insync.replicas", self.min_insync_replicas.to_string());
        configs
    }
}

/// How the declared topics are laid out on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Put in front of every topic name (`SHOP_TOPIC_PREFIX`); empty in production.
    pub prefix: String,
    /// Partitions of every data topic (`SHOP_TOPIC_PARTITIONS`): the most instances a processor
    /// can usefully run.
    pub partitions: i32,
    /// Partitions of every dead-letter topic: their volume is tiny and order does not matter.
    pub dead_letter_partitions: i32,
    /// `SHOP_TOPIC_REPLICATION_FACTOR`: 3 on a production cluster, 1 on the local single node.
    pub replication_factor: i32,
    /// `SHOP_TOPIC_MIN_INSYNC_REPLICAS`: with `acks=all`, how many replicas must have a write;
    /// 2 with replication factor 3.
    pub min_insync_replicas: i32,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            partitions: 6,
            dead_letter_partitions: 1,
            replication_factor: 1,
            min_insync_replicas: 1,
        }
    }
}

impl Layout {
    /// The full name of a declared topic.
    pub fn topic(&self, base: &str) -> String {
        format!("{}{}", self.prefix, base)
    }

    /// Every topic, dead-letter topics included, in declaration order.
    pub fn specs(&self) -> Vec<TopicSpec> {
        DECLARED
            .iter()
            .flat_map(|declared| {
                let name = self.topic(declared.name);
                let data = TopicSpec {
                    name: name.clone(),
                    schemas: Some((&schema::KEY_STRING, declared.value)),
                    partitions: self.partitions,
                    replication_factor: self.replication_factor,
                    cleanup: declared.cleanup,
                    min_insync_replicas: self.min_insync_replicas,
                };
                let dead_letters = TopicSpec {
                    name: names::dead_letter_topic(&name),
                    schemas: None,
                    partitions: self.dead_letter_partitions,
                    replication_factor: self.replication_factor,
                    cleanup: Cleanup::Delete {
                        retention: DEAD_LETTER_RETENTION,
                    },
                    min_insync_replicas: self.min_insync_replicas,
                };
                [data, dead_letters]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_topic_has_a_dead_letter_topic() {
        let specs = Layout::default().specs();
        assert_eq!(specs.len(), 2 * DECLARED.len());
        for declared in &DECLARED {
            let dead_letters = format!("{}.dlq", declared.name);
            assert!(
                specs.iter().any(|spec| spec.name == dead_letters),
                "{dead_letters}"
            );
        }
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let layout = Layout {
            prefix: "t1-".to_owned(),
            ..Layout::default()
        };
        let specs = layout.specs();
        let mut names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
        assert!(names.iter().all(|name| name.starts_with("t1-")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs.len());
    }

    #[test]
    fn state_topics_are_compacted_and_streams_expire() {
        let specs = Layout::default().specs();
        let configs = |name: &str| {
            specs
                .iter()
                .find(|spec| spec.name == name)
                .map(TopicSpec::configs)
                .unwrap()
        };
        assert_eq!(configs("orders.orders")["cleanup.policy"], "compact");
        assert_eq!(configs("cart.commands")["cleanup.policy"], "delete");
        assert_eq!(configs("cart.commands")["retention.ms"], "604800000");
        assert_eq!(configs("cart.commands.dlq")["retention.ms"], "2592000000");
    }

    #[test]
    fn every_value_schema_belongs_to_exactly_one_topic() {
        for source in shop_schemas::ALL_SCHEMAS {
            let topics = DECLARED
                .iter()
                .filter(|declared| std::ptr::eq(declared.value, source))
                .count();
            assert_eq!(topics, 1, "{}", source.full_name);
        }
    }
}
