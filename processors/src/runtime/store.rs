//! In-memory state per input partition, with the changes of the open transaction kept apart
//! until it commits, and an index of the deadlines the committed state carries.
//!
//! The staged changes double as the transaction's record cache: they hold each changed key's
//! newest state and what caused it, so the changelog gets one record per key per transaction
//! (see `changelog`) rather than one per input record. Writing those records is not the
//! store's business.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

/// What the open transaction did to one key.
#[derive(Debug)]
struct Staged<S, C> {
    /// The key's newest state; `None` deletes it.
    state: Option<S>,
    /// What came with the newest change: the engine keeps the trace headers of the record (or
    /// deadline) that made it, for the changelog record.
    cause: C,
    /// Position of the newest change among the transaction's changes: the changelog records
    /// go out in this order, as if the older versions had been left out of the stream.
    sequence: u64,
    /// The key was deleted at some point in the transaction.
    deleted: bool,
}

/// One key's net change in the open transaction: what the changelog gets for it at commit.
#[derive(Debug, PartialEq)]
pub(crate) struct Change<'a, S, C> {
    pub(crate) partition: i32,
    pub(crate) key: &'a str,
    /// The final state; `None` for a tombstone.
    pub(crate) state: Option<&'a S>,
    /// What came with the key's last change.
    pub(crate) cause: &'a C,
    /// A tombstone must go before `state`: the key was deleted and set again within the
    /// transaction. A reader that keeps versions (the read-model projector ignores an older
    /// version than the one it holds) must see the deletion to accept a fresh version 1.
    pub(crate) tombstone_first: bool,
}

/// State of every key of the assigned partitions. `C` is what travels with a change to the
/// changelog (the engine's trace headers).
#[derive(Debug)]
pub(crate) struct Store<S, C> {
    /// Committed state, by partition and key.
    partitions: HashMap<i32, HashMap<String, S>>,
    /// Changes made by the open transaction, by partition and key.
    pending: HashMap<i32, HashMap<String, Staged<S, C>>>,
    /// Sequence number of the open transaction's next change.
    next_sequence: u64,
    /// Reads a state's deadline (see `Handler::deadline`).
    deadline_of: fn(&S) -> Option<i64>,
    /// Committed deadlines in time order.
    deadlines: BTreeSet<(i64, i32, String)>,
    /// The deadline each key is indexed under, to move it.
    scheduled: HashMap<(i32, String), i64>,
}

impl<S: Clone + PartialEq, C> Store<S, C> {
    pub(crate) fn new(deadline_of: fn(&S) -> Option<i64>) -> Self {
        Self {
            partitions: HashMap::new(),
            pending: HashMap::new(),
            next_sequence: 0,
            deadline_of,
            deadlines: BTreeSet::new(),
            scheduled: HashMap::new(),
        }
    }

    /// Indexes `key`'s deadline as `state` says, replacing the old one.
    fn reschedule(&mut self, partition: i32, key: &str, state: Option<&S>) {
        self.unschedule(partition, key);
        if let Some(at) = state.and_then(self.deadline_of) {
            self.deadlines.insert((at, partition, key.to_owned()));
            self.scheduled.insert((partition, key.to_owned()), at);
        }
    }

    /// Forgets `key`'s deadline until its state changes.
    pub(crate) fn unschedule(&mut self, partition: i32, key: &str) {
        if let Some(at) = self.scheduled.remove(&(partition, key.to_owned())) {
            self.deadlines.remove(&(at, partition, key.to_owned()));
        }
    }

    /// Keys whose deadline is at or before `now`, earliest first.
    pub(crate) fn due(&self, now: i64) -> Vec<(i32, String)> {
        self.deadlines
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .map(|(_, partition, key)| (*partition, key.clone()))
            .collect()
    }

    pub(crate) fn has_partition(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// Installs a restored partition.
    pub(crate) fn insert_partition(&mut self, partition: i32, state: HashMap<String, S>) {
        for (key, value) in &state {
            if let Some(at) = (self.deadline_of)(value) {
                self.deadlines.insert((at, partition, key.clone()));
                self.scheduled.insert((partition, key.clone()), at);
            }
        }
        self.partitions.insert(partition, state);
    }

    /// Forgets a revoked partition, committed and pending alike.
    pub(crate) fn drop_partition(&mut self, partition: i32) {
        self.partitions.remove(&partition);
        self.pending.remove(&partition);
        self.deadlines
            .retain(|(_, indexed, _)| *indexed != partition);
        self.scheduled
            .retain(|(indexed, _), _| *indexed != partition);
    }

    /// The committed state of `key`: what the changelog holds for it.
    fn committed(&self, partition: i32, key: &str) -> Option<&S> {
        self.partitions
            .get(&partition)
            .and_then(|state| state.get(key))
    }

    /// The state of `key` as the open transaction sees it.
    fn current(&self, partition: i32, key: &str) -> Option<&S> {
        match self
            .pending
            .get(&partition)
            .and_then(|staged| staged.get(key))
        {
            Some(staged) => staged.state.as_ref(),
            None => self.committed(partition, key),
        }
    }

    /// The state of `key` as the open transaction sees it, to hand to a handler.
    pub(crate) fn get(&self, partition: i32, key: &str) -> Option<S> {
        self.current(partition, key).cloned()
    }

    /// Stages `state` as the newest state of `key` in the open transaction, with `cause`, if it
    /// differs from the state the transaction saw so far. Returns whether it did.
    pub(crate) fn stage(&mut self, partition: i32, key: &str, state: Option<S>, cause: C) -> bool {
        if self.current(partition, key) == state.as_ref() {
            return false;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let deleted = state.is_none();
        match self
            .pending
            .entry(partition)
            .or_default()
            .entry(key.to_owned())
        {
            Entry::Occupied(mut entry) => {
                let staged = entry.get_mut();
                staged.state = state;
                staged.cause = cause;
                staged.sequence = sequence;
                staged.deleted |= deleted;
            }
            Entry::Vacant(entry) => {
                entry.insert(Staged {
                    state,
                    cause,
                    sequence,
                    deleted,
                });
            }
        }
        true
    }

    /// The open transaction's net changes, in the order of each key's last change: one per key
    /// whose final state differs from its committed one. A key changed and changed back is left
    /// out: the changelog's newest record for it already holds that state.
    pub(crate) fn changes(&self) -> Vec<Change<'_, S, C>> {
        let mut changes: Vec<(u64, Change<'_, S, C>)> = Vec::new();
        for (partition, staged) in &self.pending {
            if !self.partitions.contains_key(partition) {
                continue; // Not ours (see `commit`).
            }
            for (key, staged) in staged {
                let committed = self.committed(*partition, key);
                let state = staged.state.as_ref();
                if state == committed {
                    continue;
                }
                let change = Change {
                    partition: *partition,
                    key,
                    state,
                    cause: &staged.cause,
                    tombstone_first: staged.deleted && state.is_some() && committed.is_some(),
                };
                changes.push((staged.sequence, change));
            }
        }
        changes.sort_unstable_by_key(|(sequence, _)| *sequence);
        changes.into_iter().map(|(_, change)| change).collect()
    }

    /// The transaction committed: its changes become the state.
    pub(crate) fn commit(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.next_sequence = 0;
        for (partition, staged) in pending {
            if !self.partitions.contains_key(&partition) {
                continue; // Revoked meanwhile; its new owner restores from the changelog.
            }
            for (key, Staged { state, .. }) in staged {
                self.reschedule(partition, &key, state.as_ref());
                if let Some(partition_state) = self.partitions.get_mut(&partition) {
                    match state {
                        Some(state) => partition_state.insert(key, state),
                        None => partition_state.remove(&key),
                    };
                }
            }
        }
    }

    /// The transaction aborted: its changes never happened, and the changelog gets none of them.
    pub(crate) fn abort(&mut self) {
        self.pending.clear();
        self.next_sequence = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even numbers are deadlines, odd ones are not; a change's cause is a label.
    fn store() -> Store<u32, &'static str> {
        let mut store =
            Store::new(|value: &u32| value.is_multiple_of(2).then_some(i64::from(*value)));
        store.insert_partition(0, HashMap::from([("a".to_owned(), 1)]));
        store
    }

    /// The net changes as `(partition, key, state, cause, tombstone_first)`.
    fn changes(
        store: &Store<u32, &'static str>,
    ) -> Vec<(i32, String, Option<u32>, &'static str, bool)> {
        store
            .changes()
            .into_iter()
            .map(|change| {
                (
                    change.partition,
                    change.key.to_owned(),
                    change.state.copied(),
                    *change.cause,
                    change.tombstone_first,
                )
            })
            .collect()
    }

    #[test]
    fn pending_changes_are_seen_before_commit_and_kept_after() {
        let mut store = store();
        assert!(store.stage(0, "a", Some(2), "t"));
        assert!(store.stage(0, "b", Some(5), "t"));
        assert_eq!(store.get(0, "a"), Some(2));
        store.commit();
        assert_eq!(store.get(0, "a"), Some(2));
        assert_eq!(store.get(0, "b"), Some(5));
        store.abort();
        assert_eq!(
            store.get(0, "b"),
            Some(5),
            "committed changes survive a later abort"
        );
    }

    #[test]
    fn an_abort_forgets_pending_changes_and_writes_none_of_them() {
        let mut store = store();
        store.stage(0, "a", None, "t");
        store.stage(0, "b", Some(3), "t");
        assert_eq!(store.get(0, "a"), None);
        store.abort();
        assert_eq!(store.get(0, "a"), Some(1));
        assert!(changes(&store).is_empty());
        store.stage(0, "c", Some(7), "next");
        assert_eq!(
            changes(&store),
            vec![(0, "c".to_owned(), Some(7), "next", false)],
            "the next transaction writes only its own changes"
        );
    }

    #[test]
    fn many_changes_to_one_key_are_one_change_with_the_last_cause() {
        let mut store = store();
        for (value, cause) in [(3, "r1"), (5, "r2"), (7, "r3")] {
            assert!(store.stage(0, "a", Some(value), cause));
        }
        assert!(
            !store.stage(0, "a", Some(7), "r4"),
            "a record that leaves the state as it is changes nothing"
        );
        assert_eq!(
            changes(&store),
            vec![(0, "a".to_owned(), Some(7), "r3", false)]
        );
        store.commit();
        assert!(changes(&store).is_empty(), "a commit starts afresh");
        assert_eq!(store.get(0, "a"), Some(7));
    }

    #[test]
    fn a_key_changed_back_to_its_committed_state_is_left_out() {
        let mut store = store();
        store.stage(0, "a", Some(3), "r1");
        store.stage(0, "a", Some(1), "r2");
        store.stage(0, "new", Some(9), "r3");
        store.stage(0, "new", None, "r4");
        assert!(changes(&store).is_empty(), "{:?}", changes(&store));
        store.commit();
        assert_eq!(store.get(0, "a"), Some(1));
        assert_eq!(store.get(0, "new"), None);
    }

    #[test]
    fn a_deleted_key_is_a_tombstone() {
        let mut store = store();
        store.stage(0, "a", Some(3), "r1");
        store.stage(0, "a", None, "r2");
        assert_eq!(
            changes(&store),
            vec![(0, "a".to_owned(), None, "r2", false)]
        );
    }

    #[test]
    fn a_key_deleted_and_set_again_gets_a_tombstone_first() {
        let mut store = store();
        store.stage(0, "a", None, "expired");
        store.stage(0, "a", Some(3), "created");
        assert_eq!(
            changes(&store),
            vec![(0, "a".to_owned(), Some(3), "created", true)]
        );
        store.commit();
        // A key that had no state before the transaction needs no tombstone to start afresh.
        store.stage(0, "b", Some(5), "r1");
        store.stage(0, "b", None, "r2");
        store.stage(0, "b", Some(7), "r3");
        assert_eq!(
            changes(&store),
            vec![(0, "b".to_owned(), Some(7), "r3", false)]
        );
    }

    #[test]
    fn changes_come_in_the_order_of_each_keys_last_change() {
        let mut store = store();
        store.insert_partition(1, HashMap::new());
        store.stage(0, "a", Some(3), "r1");
        store.stage(1, "x", Some(4), "r2");
        store.stage(0, "b", Some(5), "r3");
        store.stage(0, "a", Some(7), "r4");
        assert_eq!(
            changes(&store),
            vec![
                (1, "x".to_owned(), Some(4), "r2", false),
                (0, "b".to_owned(), Some(5), "r3", false),
                (0, "a".to_owned(), Some(7), "r4", false),
            ]
        );
    }

    #[test]
    fn deadlines_follow_committed_state_only() {
        let mut store = store();
        store.insert_partition(1, HashMap::from([("x".to_owned(), 4), ("y".to_owned(), 8)]));
        assert_eq!(store.due(5), vec![(1, "x".to_owned())]);
        store.stage(1, "x", Some(3), "t"); // no deadline any more, but not committed yet
        assert_eq!(store.due(5), vec![(1, "x".to_owned())]);
        store.commit();
        assert_eq!(store.due(5), Vec::<(i32, String)>::new());
        store.stage(0, "a", Some(2), "t");
        store.commit();
        assert_eq!(
            store.due(100),
            vec![(0, "a".to_owned()), (1, "y".to_owned())]
        );
        store.unschedule(0, "a");
        store.drop_partition(1);
        assert_eq!(store.due(100), Vec::<(i32, String)>::new());
    }

    #[test]
    fn a_revoked_partition_takes_its_pending_changes_along() {
        let mut store = store();
        store.insert_partition(1, HashMap::new());
        store.stage(0, "a", Some(9), "t");
        store.stage(1, "x", Some(3), "t");
        store.drop_partition(0);
        assert_eq!(
            changes(&store),
            vec![(1, "x".to_owned(), Some(3), "t", false)],
            "nothing of a revoked partition goes to the changelog"
        );
        store.commit();
        assert!(!store.has_partition(0));
        assert_eq!(store.get(0, "a"), None);
        assert_eq!(store.get(1, "x"), Some(3));
    }
}
