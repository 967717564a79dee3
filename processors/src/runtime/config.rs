//! What one runtime instance needs to know.

use std::time::Duration;

/// Settings of one processor instance.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The processor's name: in dead-letter headers, logs and metrics.
    pub processor: String,
    /// Consumer group shared by every instance of the processor.
    pub group_id: String,
    /// Stable per instance across restarts, unique among running instances: a restarted
    /// instance fences its zombie predecessor with it.
    pub transactional_id: String,
    /// Topics to consume; every one is keyed like the state (co-partitioned with the changelog).
    pub input_topics: Vec<String>,
    /// Compacted topic the state is written to and restored from; `None` for a stateless
    /// processor.
    pub changelog_topic: Option<String>,
    /// A transaction commits after this many input records...
    pub batch_max_records: usize,
    /// ...or when its first record is this old, whichever comes first. Low by default: the
    /// pipeline's latency is a sum of these, one per hop.
    pub batch_linger: Duration,
    /// Bound on each transaction call and on restoring one partition.
    pub operation_timeout: Duration,
    /// How often due deadlines are looked for (see `Handler::deadline`): the lateness a
    /// deadline may have on top of the batch linger.
    pub punctuation_interval: Duration,
    /// How long the group waits for a silent instance before giving its partitions away.
    pub session_timeout: Duration,
    /// Join the group as a static member named after the transactional id (KIP-345): a
    /// restarted instance takes its partitions back at once, without a rebalance. The price:
    /// a static member does not leave the group on shutdown, so the partitions of an instance
    /// that is gone for good wait `session_timeout` before moving. Off by default, so a
    /// graceful shutdown hands partitions over at once; worth turning on where instances
    /// restart in place (a Kubernetes StatefulSet, a supervisor).
    pub static_membership: bool,
}

impl RuntimeConfig {
    /// Defaults for everything but the names: batches of up to 500 records or 10 ms.
    pub fn new(
        processor: impl Into<String>,
        group_id: impl Into<String>,
        transactional_id: impl Into<String>,
        input_topics: Vec<String>,
        changelog_topic: Option<String>,
    ) -> Self {
        Self {
            processor: processor.into(),
            group_id: group_id.into(),
            transactional_id: transactional_id.into(),
            input_topics,
            changelog_topic,
            batch_max_records: 500,
            batch_linger: Duration::from_millis(10),
            operation_timeout: Duration::from_secs(30),
            punctuation_interval: Duration::from_millis(250),
            session_timeout: Duration::from_secs(10),
            static_membership: false,
        }
    }
}
