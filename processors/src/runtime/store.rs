//! In-memory state per input partition, with the changes of the open transaction kept apart
//! until it commits, and an index of the deadlines the committed state carries.

use std::collections::{BTreeSet, HashMap};

/// State of every key of the assigned partitions.
#[derive(Debug)]
pub(crate) struct Store<S> {
    /// Committed state, by partition and key.
    partitions: HashMap<i32, HashMap<String, S>>,
    /// Changes made by the open transaction, by partition and key; `None` deletes.
    pending: HashMap<(i32, String), Option<S>>,
    /// Reads a state's deadline (see `Handler::deadline`).
    deadline_of: fn(&S) -> Option<i64>,
    /// Committed deadlines in time order.
    deadlines: BTreeSet<(i64, i32, String)>,
    /// The deadline each key is indexed under, to move it.
    scheduled: HashMap<(i32, String), i64>,
}

impl<S: Clone> Store<S> {
    pub(crate) fn new(deadline_of: fn(&S) -> Option<i64>) -> Self {
        Self {
            partitions: HashMap::new(),
            pending: HashMap::new(),
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
        self.pending
            .retain(|(pending_partition, _), _| *pending_partition != partition);
        self.deadlines
            .retain(|(_, indexed, _)| *indexed != partition);
        self.scheduled
            .retain(|(indexed, _), _| *indexed != partition);
    }

    /// The state of `key` as the open transaction sees it.
    pub(crate) fn get(&self, partition: i32, key: &str) -> Option<S> {
        match self.pending.get(&(partition, key.to_owned())) {
            Some(pending) => pending.clone(),
            None => self
                .partitions
                .get(&partition)
                .and_then(|state| state.get(key))
                .cloned(),
        }
    }

    /// Records a change in the open transaction.
    pub(crate) fn put(&mut self, partition: i32, key: &str, state: Option<S>) {
        self.pending.insert((partition, key.to_owned()), state);
    }

    /// The transaction committed: its changes become the state.
    pub(crate) fn commit(&mut self) {
        let pending: Vec<_> = self.pending.drain().collect();
        for ((partition, key), state) in pending {
            if !self.partitions.contains_key(&partition) {
                continue; // Revoked meanwhile; its new owner restores from the changelog.
            }
            self.reschedule(partition, &key, state.as_ref());
            if let Some(partition_state) = self.partitions.get_mut(&partition) {
                match state {
                    Some(state) => partition_state.insert(key, state),
                    None => partition_state.remove(&key),
                };
            }
        }
    }

    /// The transaction aborted: its changes never happened.
    pub(crate) fn abort(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even numbers are deadlines, odd ones are not.
    fn store() -> Store<u32> {
        let mut store =
            Store::new(|value: &u32| value.is_multiple_of(2).then_some(i64::from(*value)));
        store.insert_partition(0, HashMap::from([("a".to_owned(), 1)]));
        store
    }

    #[test]
    fn pending_changes_are_seen_before_commit_and_kept_after() {
        let mut store = store();
        store.put(0, "a", Some(2));
        store.put(0, "b", Some(5));
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
    fn an_abort_forgets_pending_changes() {
        let mut store = store();
        store.put(0, "a", None);
        assert_eq!(store.get(0, "a"), None);
        store.abort();
        assert_eq!(store.get(0, "a"), Some(1));
    }

    #[test]
    fn deadlines_follow_committed_state_only() {
        let mut store = store();
        store.insert_partition(1, HashMap::from([("x".to_owned(), 4), ("y".to_owned(), 8)]));
        assert_eq!(store.due(5), vec![(1, "x".to_owned())]);
        store.put(1, "x", Some(3)); // no deadline any more, but not committed yet
        assert_eq!(store.due(5), vec![(1, "x".to_owned())]);
        store.commit();
        assert_eq!(store.due(5), Vec::<(i32, String)>::new());
        store.put(0, "a", Some(2));
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
        store.put(0, "a", Some(9));
        store.drop_partition(0);
        store.commit();
        assert!(!store.has_partition(0));
        assert_eq!(store.get(0, "a"), None);
    }
}
