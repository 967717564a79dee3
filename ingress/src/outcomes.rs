//! The waiting room for command outcomes: a bounded map from command id to the request waiting
//! for its outcome. The outcome listener ([`crate::kafka::listener`]) feeds it; handlers register
//! before they produce. Pure: no Kafka here, so its rules are tested directly.

use crate::ports::{OutcomeWaiter, PendingOutcome, ReadinessCheck};
use futures::future::BoxFuture;
use shop_schemas::outcomes::CommandOutcome;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Requests waiting for outcomes, by command id. Cheap to clone: clones share one map.
#[derive(Debug, Clone)]
pub struct OutcomeRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    waiters: Mutex<HashMap<String, oneshot::Sender<CommandOutcome>>>,
    /// At most this many requests wait at once; more answer 202 at once instead. Bounds memory
    /// whatever the clients do.
    capacity: usize,
    /// Set while the listener reads `commands.outcomes`; no wait is offered otherwise, since
    /// nothing would answer it.
    listening: AtomicBool,
}

impl OutcomeRegistry {
    /// An empty registry for at most `capacity` waiting requests, not yet listening.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                waiters: Mutex::new(HashMap::new()),
                capacity,
                listening: AtomicBool::new(false),
            }),
        }
    }

    /// Marks whether outcomes are being read.
    pub fn set_listening(&self, listening: bool) {
        self.inner.listening.store(listening, Ordering::SeqCst);
    }

    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }

    /// Hands `outcome` to the request waiting for it. Returns whether one was waiting; an
    /// outcome nobody waits for (another instance's command, or a request that gave up) is
    /// dropped.
    pub fn resolve(&self, outcome: CommandOutcome) -> bool {
        let sender = self.lock().remove(&outcome.command_id);
        match sender {
            Some(sender) => sender.send(outcome).is_ok(),
            None => false,
        }
    }

    /// How many requests wait now.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<CommandOutcome>>> {
        // A poisoned lock means a panic mid-insert or mid-remove; the map itself is still whole.
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl OutcomeWaiter for OutcomeRegistry {
    fn register(&self, command_id: &str) -> Option<PendingOutcome> {
        if !self.is_listening() {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        {
            let mut waiters = self.lock();
            if waiters.len() >= self.inner.capacity {
                return None;
            }
            waiters.insert(command_id.to_owned(), sender);
        }
        let registry = self.clone();
        let key = command_id.to_owned();
        Some(PendingOutcome::new(receiver).on_drop(move || {
            registry.lock().remove(&key);
        }))
    }
}

impl ReadinessCheck for OutcomeRegistry {
    fn name(&self) -> &'static str {
        "outcomes"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.is_listening() {
                Ok(())
            } else {
                Err("not reading commands.outcomes".to_owned())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_schemas::outcomes::OutcomeStatus;
    use std::time::Duration;

    fn accepted(command_id: &str) -> CommandOutcome {
        CommandOutcome {
            command_id: command_id.to_owned(),
            status: OutcomeStatus::Accepted,
            reason_code: None,
            reason: None,
            entity_id: None,
            processor: "test".to_owned(),
            processed_at: 0,
        }
    }

    #[tokio::test]
    async fn an_outcome_reaches_the_request_that_registered_for_it() {
        let registry = OutcomeRegistry::new(10);
        registry.set_listening(true);
        let pending = registry.register("c1").unwrap();
        assert!(!registry.resolve(accepted("other")));
        assert!(registry.resolve(accepted("c1")));
        let outcome = pending.wait(Duration::from_secs(1)).await.unwrap();
        assert_eq!(outcome.command_id, "c1");
        assert_eq!(registry.waiting(), 0);
    }

    #[tokio::test]
    async fn a_timed_out_wait_leaves_nothing_behind() {
        let registry = OutcomeRegistry::new(10);
        registry.set_listening(true);
        let pending = registry.register("c1").unwrap();
        assert_eq!(registry.waiting(), 1);
        assert!(pending.wait(Duration::from_millis(5)).await.is_none());
        assert_eq!(registry.waiting(), 0);
        assert!(!registry.resolve(accepted("c1")));
    }

    #[test]
    fn no_wait_is_offered_when_full_or_not_listening() {
        let registry = OutcomeRegistry::new(1);
        assert!(registry.register("c1").is_none(), "not listening yet");
        registry.set_listening(true);
        let _first = registry.register("c1").unwrap();
        assert!(registry.register("c2").is_none(), "full");
    }
}
