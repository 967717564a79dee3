//! In-memory state per input partition, with the changes of the open transaction kept apart
//! until it commits.

use std::collections::HashMap;

/// State of every key of the assigned partitions.
#[derive(Debug)]
pub(crate) struct Store<S> {
    /// Committed state, by partition and key.
    partitions: HashMap<i32, HashMap<String, S>>,
    /// Changes made by the open transaction, by partition and key; `None` deletes.
    pending: HashMap<(i32, String), Option<S>>,
}

impl<S: Clone> Store<S> {
    pub(crate) fn new() -> Self {
        Self {
            partitions: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    pub(crate) fn has_partition(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// Installs a restored partition.
    pub(crate) fn insert_partition(&mut self, partition: i32, state: HashMap<String, S>) {
        self.partitions.insert(partition, state);
    }

    /// Forgets a revoked partition, committed and pending alike.
    pub(crate) fn drop_partition(&mut self, partition: i32) {
        self.partitions.remove(&partition);
        self.pending
            .retain(|(pending_partition, _), _| *pending_partition != partition);
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
        for ((partition, key), state) in self.pending.drain() {
            let Some(partition_state) = self.partitions.get_mut(&partition) else {
                continue; // Revoked meanwhile; its new owner restores from the changelog.
            };
            match state {
                Some(state) => partition_state.insert(key, state),
                None => partition_state.remove(&key),
            };
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

    fn store() -> Store<u32> {
        let mut store = Store::new();
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
    fn a_revoked_partition_takes_its_pending_changes_along() {
        let mut store = store();
        store.put(0, "a", Some(9));
        store.drop_partition(0);
        store.commit();
        assert!(!store.has_partition(0));
        assert_eq!(store.get(0, "a"), None);
    }
}
