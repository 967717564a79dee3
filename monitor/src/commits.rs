//! What the monitor knows about each group's commits, built from `__consumer_offsets` records
//! in log order (all records of one key share a partition of that log, so they arrive in
//! order).

use crate::commit_log::{CommitKey, CommitRecord};
use std::collections::{BTreeMap, BTreeSet};

/// The commit history of one group, topic and partition that the status rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitState {
    /// The committed offset: the next record the group will read.
    pub offset: i64,
    /// When the latest commit happened (broker time, epoch millis).
    pub last_commit_ms: i64,
    /// When `offset` was first committed: commits since then repeated it.
    pub offset_since_ms: i64,
    /// When a commit last went backwards, if one did.
    pub rewound_at_ms: Option<i64>,
    /// The offset before that rewind.
    pub rewound_from: Option<i64>,
}

/// Every group's latest commit per partition.
#[derive(Debug, Default)]
pub struct CommitTable {
    entries: BTreeMap<CommitKey, CommitState>,
}

impl CommitTable {
    /// Applies one record of the log.
    pub fn apply(&mut self, record: CommitRecord) {
        match record {
            CommitRecord::Commit {
                key,
                offset,
                commit_time_ms,
            } => {
                let state = match self.entries.get(&key) {
                    None => CommitState {
                        offset,
                        last_commit_ms: commit_time_ms,
                        offset_since_ms: commit_time_ms,
                        rewound_at_ms: None,
                        rewound_from: None,
                    },
                    Some(previous) => CommitState {
                        offset,
                        last_commit_ms: commit_time_ms,
                        offset_since_ms: if offset == previous.offset {
                            previous.offset_since_ms
                        } else {
                            commit_time_ms
                        },
                        rewound_at_ms: if offset < previous.offset {
                            Some(commit_time_ms)
                        } else {
                            previous.rewound_at_ms
                        },
                        rewound_from: if offset < previous.offset {
                            Some(previous.offset)
                        } else {
                            previous.rewound_from
                        },
                    },
                };
                self.entries.insert(key, state);
            }
            CommitRecord::Deleted { key } => {
                self.entries.remove(&key);
            }
            CommitRecord::Other => {}
        }
    }

    /// Every group with at least one committed offset.
    pub fn groups(&self) -> BTreeSet<String> {
        self.entries.keys().map(|key| key.group.clone()).collect()
    }

    /// `group`'s committed partitions, by topic and partition.
    pub fn of_group(&self, group: &str) -> BTreeMap<(String, i32), CommitState> {
        self.entries
            .iter()
            .filter(|(key, _)| key.group == group)
            .map(|(key, state)| ((key.topic.clone(), key.partition), *state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, partition: i32, offset: i64, at: i64) -> CommitRecord {
        CommitRecord::Commit {
            key: CommitKey {
                group: group.into(),
                topic: "t".into(),
                partition,
            },
            offset,
            commit_time_ms: at,
        }
    }

    #[test]
    fn repeated_offsets_keep_their_first_commit_time() {
        let mut table = CommitTable::default();
        table.apply(commit("g", 0, 5, 100));
        table.apply(commit("g", 0, 7, 200));
        table.apply(commit("g", 0, 7, 300));
        table.apply(commit("g", 0, 7, 400));
        let state = table.of_group("g")[&("t".to_owned(), 0)];
        assert_eq!(state.offset, 7);
        assert_eq!(state.offset_since_ms, 200);
        assert_eq!(state.last_commit_ms, 400);
        assert_eq!(state.rewound_at_ms, None);
    }

    #[test]
    fn a_backwards_commit_is_remembered_as_a_rewind() {
        let mut table = CommitTable::default();
        table.apply(commit("g", 0, 50, 100));
        table.apply(commit("g", 0, 10, 200));
        table.apply(commit("g", 0, 12, 300));
        let state = table.of_group("g")[&("t".to_owned(), 0)];
        assert_eq!(state.rewound_at_ms, Some(200));
        assert_eq!(state.rewound_from, Some(50));
        assert_eq!(state.offset, 12);
    }

    #[test]
    fn deletions_forget_the_partition_and_groups_are_listed_once() {
        let mut table = CommitTable::default();
        table.apply(commit("a", 0, 1, 1));
        table.apply(commit("a", 1, 1, 1));
        table.apply(commit("b", 0, 1, 1));
        table.apply(CommitRecord::Deleted {
            key: CommitKey {
                group: "b".into(),
                topic: "t".into(),
                partition: 0,
            },
        });
        table.apply(CommitRecord::Other);
        assert_eq!(table.groups().into_iter().collect::<Vec<_>>(), ["a"]);
        assert_eq!(table.of_group("a").len(), 2);
        assert!(table.of_group("b").is_empty());
    }
}
