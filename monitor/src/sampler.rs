//! One sample of every monitored group: offsets from the broker, commits from the tail,
//! probes for the first unread records, then lag, status and rates.

use crate::commits::CommitState;
use crate::lag::{self, Isolation};
use crate::offsets::{GroupMembership, LogOffsets, OffsetClients, Partition};
use crate::probe::{Probe, ProbeRequest, Prober};
use crate::report::{
    GroupReport, GroupTopicReport, LagReport, PartitionReport, TopicReport, max_seconds,
};
use crate::status::{self, Evidence, LagPoint, Status, Thresholds};
use crate::tail::{SharedCommits, with_table};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long the first sample may spend reading first records (later ones: half an interval).
const FIRST_PROBE_BUDGET: Duration = Duration::from_secs(10);

/// Which groups are monitored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSelection {
    /// Every group whose name starts with this (the pipeline's groups are
    /// `<topic prefix>shop-<processor>`); `None` selects by name only.
    pub prefix: Option<String>,
    /// And these, by name.
    pub names: BTreeSet<String>,
}

impl GroupSelection {
    /// Whether `group` is monitored.
    pub fn contains(&self, group: &str) -> bool {
        self.names.contains(group)
            || self
                .prefix
                .as_deref()
                .is_some_and(|prefix| group.starts_with(prefix))
    }
}

/// How the sampler judges and averages.
#[derive(Debug, Clone)]
pub struct SamplerSettings {
    pub groups: GroupSelection,
    pub interval: Duration,
    pub thresholds: Thresholds,
    /// Rates are averaged over this much time.
    pub rate_window: Duration,
    pub isolation: Isolation,
}

/// What the sampler remembers of one group on one partition between samples.
#[derive(Debug, Default)]
struct Track {
    first_seen_ms: i64,
    recent: VecDeque<LagPoint>,
}

/// Offset sums at one moment, for rates.
#[derive(Debug)]
struct RatePoint {
    at_ms: i64,
    produced: BTreeMap<String, i64>,
    consumed: BTreeMap<String, i64>,
}

/// Takes samples; keeps the little history that status and rates need.
#[derive(Debug)]
pub struct Sampler {
    settings: SamplerSettings,
    commits: SharedCommits,
    clients: OffsetClients,
    prober: Prober,
    tracks: HashMap<(String, Partition), Track>,
    rates: VecDeque<RatePoint>,
}

/// A group's commits, by partition.
type GroupCommits = BTreeMap<Partition, CommitState>;

impl Sampler {
    pub fn new(
        settings: SamplerSettings,
        commits: SharedCommits,
        clients: OffsetClients,
        prober: Prober,
    ) -> Self {
        Self {
            settings,
            commits,
            clients,
            prober,
            tracks: HashMap::new(),
            rates: VecDeque::new(),
        }
    }

    /// Samples every monitored group now.
    ///
    /// # Errors
    /// The broker did not answer the metadata or offset requests; group membership is
    /// optional and only logged when missing.
    pub async fn sample(&mut self) -> anyhow::Result<LagReport> {
        let started = Instant::now();
        let groups: BTreeMap<String, GroupCommits> = with_table(&self.commits, |table| {
            let mut selected: BTreeSet<String> = table
                .groups()
                .into_iter()
                .filter(|group| self.settings.groups.contains(group))
                .collect();
            selected.extend(self.settings.groups.names.iter().cloned());
            selected
                .into_iter()
                .map(|group| {
                    let commits = table.of_group(&group);
                    (group, commits)
                })
                .collect()
        });
        let topics: BTreeSet<String> = groups
            .values()
            .flat_map(|commits| commits.keys().map(|(topic, _)| topic.clone()))
            .collect();
        let partitions = self.clients.partitions(topics).await?;
        let all: Vec<Partition> = partitions
            .iter()
            .flat_map(|(topic, ids)| ids.iter().map(|id| (topic.clone(), *id)))
            .collect();
        let offsets = self.clients.log_offsets(all).await?;
        let names: BTreeSet<String> = groups.keys().cloned().collect();
        let memberships = self.clients.memberships(&names).await;
        let now_ms = now_millis();
        let asked = started.elapsed();

        let isolation = self.settings.isolation;
        // What each group reads, worked out once: the probes and the reports both need it.
        let read: BTreeMap<&String, Vec<(Partition, &LogOffsets)>> = groups
            .iter()
            .map(|(group, commits)| (group, read_partitions(commits, &partitions, &offsets)))
            .collect();
        let mut requests = Vec::new();
        for (group, commits) in &groups {
            for (partition, log) in read[group].iter().cloned() {
                let committed = commits.get(&partition).map(|commit| commit.offset);
                let from = lag::position(committed, log);
                let end = isolation.end(log);
                if from < end {
                    requests.push(ProbeRequest {
                        partition,
                        from,
                        end,
                    });
                }
            }
        }
        // Probing gets half an interval, so a sample of many lagging topics still fits in one;
        // the first sample gets longer, so the first report does not count markers as lag.
        let budget = if self.rates.is_empty() {
            FIRST_PROBE_BUDGET.max(self.settings.interval / 2)
        } else {
            self.settings.interval / 2
        };
        let probes = self.prober.probe(&requests, budget).await;
        tracing::debug!(
            groups = groups.len(),
            partitions = offsets.len(),
            probes = requests.len(),
            offsets_ms = asked.as_millis(),
            probes_ms = (started.elapsed() - asked).as_millis(),
            "sampled"
        );

        let mut reports = Vec::new();
        let mut seen = BTreeSet::new();
        for (group, commits) in &groups {
            let mut partition_reports = Vec::new();
            for (partition, log) in read[group].iter().cloned() {
                let commit = commits.get(&partition);
                let from = lag::position(commit.map(|commit| commit.offset), log);
                let probe = probes
                    .get(&(partition.clone(), from))
                    .copied()
                    .unwrap_or(Probe::Unknown);
                let measured = lag::measure(from, isolation.end(log), probe, now_ms);
                let key = (group.clone(), partition.clone());
                seen.insert(key.clone());
                let track = self.tracks.entry(key).or_insert_with(|| Track {
                    first_seen_ms: now_ms,
                    recent: VecDeque::new(),
                });
                track.recent.push_back(LagPoint {
                    at_ms: now_ms,
                    records: measured.records,
                });
                let window_ms = millis(self.settings.thresholds.window);
                while track
                    .recent
                    .front()
                    .is_some_and(|point| now_ms - point.at_ms > window_ms)
                {
                    track.recent.pop_front();
                }
                let recent: Vec<LagPoint> = track.recent.iter().copied().collect();
                let evidence = Evidence {
                    now_ms,
                    lag: measured.records,
                    commit,
                    first_seen_ms: track.first_seen_ms,
                    recent: &recent,
                };
                let (status, reason) = status::evaluate(&evidence, &self.settings.thresholds);
                partition_reports.push(PartitionReport {
                    topic: partition.0.clone(),
                    partition: partition.1,
                    committed_offset: commit.map(|commit| commit.offset),
                    last_commit_ms: commit.map(|commit| commit.last_commit_ms),
                    log_start_offset: log.log_start,
                    log_end_offset: log.high_watermark,
                    stable_offset: log.last_stable,
                    lag_records: measured.records,
                    lag_seconds: measured.seconds,
                    status,
                    reason,
                });
            }
            reports.push(group_report(
                group,
                partition_reports,
                memberships.get(group),
            ));
        }
        // Forget partitions no longer read (a group deleted, a topic gone).
        self.tracks.retain(|key, _| seen.contains(key));

        let topic_reports = self.rates(now_ms, &partitions, &offsets, &groups, &mut reports);
        Ok(LagReport {
            sampled_at_ms: now_ms,
            sample_duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            interval_ms: u64::try_from(self.settings.interval.as_millis()).unwrap_or(u64::MAX),
            isolation,
            groups: reports,
            topics: topic_reports,
        })
    }

    /// Records this sample's offset sums and fills in produce and consume rates.
    fn rates(
        &mut self,
        now_ms: i64,
        partitions: &BTreeMap<String, Vec<i32>>,
        offsets: &BTreeMap<Partition, LogOffsets>,
        groups: &BTreeMap<String, GroupCommits>,
        reports: &mut [GroupReport],
    ) -> Vec<TopicReport> {
        let mut produced: BTreeMap<String, i64> = BTreeMap::new();
        for ((topic, _), log) in offsets {
            *produced.entry(topic.clone()).or_default() += log.high_watermark;
        }
        let consumed: BTreeMap<String, i64> = groups
            .iter()
            .map(|(group, commits)| {
                (
                    group.clone(),
                    commits.values().map(|commit| commit.offset).sum(),
                )
            })
            .collect();
        self.rates.push_back(RatePoint {
            at_ms: now_ms,
            produced,
            consumed,
        });
        let window_ms = millis(self.settings.rate_window);
        while self.rates.len() > 2
            && self
                .rates
                .front()
                .is_some_and(|point| now_ms - point.at_ms > window_ms)
        {
            self.rates.pop_front();
        }
        let (Some(first), Some(last)) = (self.rates.front(), self.rates.back()) else {
            return Vec::new();
        };
        let rate = |before: Option<&i64>, after: Option<&i64>| -> f64 {
            per_second(
                before.copied().unwrap_or(0),
                after.copied().unwrap_or(0),
                last.at_ms - first.at_ms,
            )
        };
        for report in reports.iter_mut() {
            report.consume_rate = rate(
                first.consumed.get(&report.group),
                last.consumed.get(&report.group),
            );
        }
        partitions
            .iter()
            .map(|(topic, ids)| TopicReport {
                topic: topic.clone(),
                partitions: ids.len(),
                log_end_offset: last.produced.get(topic).copied().unwrap_or(0),
                produce_rate: rate(first.produced.get(topic), last.produced.get(topic)),
            })
            .collect()
    }
}

/// Every partition of every topic `commits` shows the group reading, with its offsets: a
/// partition the group never committed on is still its (with the log start as position).
fn read_partitions<'a>(
    commits: &GroupCommits,
    partitions: &BTreeMap<String, Vec<i32>>,
    offsets: &'a BTreeMap<Partition, LogOffsets>,
) -> Vec<(Partition, &'a LogOffsets)> {
    let topics: BTreeSet<&String> = commits.keys().map(|(topic, _)| topic).collect();
    topics
        .into_iter()
        .filter_map(|topic| partitions.get(topic).map(|ids| (topic, ids)))
        .flat_map(|(topic, ids)| {
            ids.iter().filter_map(|id| {
                let partition = (topic.clone(), *id);
                offsets.get(&partition).map(|log| (partition, log))
            })
        })
        .collect()
}

/// A group's totals from its partitions; its status is the worst of theirs.
fn group_report(
    group: &str,
    partitions: Vec<PartitionReport>,
    membership: Option<&GroupMembership>,
) -> GroupReport {
    let mut topics: BTreeMap<&str, GroupTopicReport> = BTreeMap::new();
    for partition in &partitions {
        let topic = topics
            .entry(partition.topic.as_str())
            .or_insert_with(|| GroupTopicReport {
                topic: partition.topic.clone(),
                status: Status::Ok,
                lag_records: 0,
                lag_seconds: None,
            });
        topic.status = topic.status.max(partition.status);
        topic.lag_records += partition.lag_records;
        topic.lag_seconds = max_seconds(topic.lag_seconds, partition.lag_seconds);
    }
    let worst = partitions
        .iter()
        .max_by_key(|partition| (partition.status, partition.lag_records));
    let (status, reason) = match worst {
        Some(partition) if partition.status != Status::Ok || partition.lag_records > 0 => (
            partition.status,
            format!(
                "{}[{}]: {}",
                partition.topic, partition.partition, partition.reason
            ),
        ),
        Some(_) => (Status::Ok, "caught up".to_owned()),
        None => (Status::Ok, "no committed offsets".to_owned()),
    };
    GroupReport {
        group: group.to_owned(),
        status,
        reason,
        state: membership.map(|membership| membership.state.clone()),
        members: membership.map(|membership| membership.members),
        lag_records: partitions
            .iter()
            .map(|partition| partition.lag_records)
            .sum(),
        lag_seconds: partitions.iter().fold(None, |max, partition| {
            max_seconds(max, partition.lag_seconds)
        }),
        consume_rate: 0.0,
        topics: topics.into_values().collect(),
        partitions,
    }
}

/// Change per second, never negative (a rewind or a recreated topic is not negative work).
#[allow(clippy::cast_precision_loss)] // offset differences and millis: far below 2^52
fn per_second(before: i64, after: i64, elapsed_ms: i64) -> f64 {
    if elapsed_ms <= 0 {
        return 0.0;
    }
    (after.saturating_sub(before).max(0)) as f64 * 1000.0 / elapsed_ms as f64
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The wall clock in epoch millis.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic: &str, id: i32, status: Status, lag: u64) -> PartitionReport {
        PartitionReport {
            topic: topic.into(),
            partition: id,
            committed_offset: Some(1),
            last_commit_ms: Some(1),
            log_start_offset: 0,
            log_end_offset: 10,
            stable_offset: 10,
            lag_records: lag,
            lag_seconds: Some(lag as f64 / 10.0),
            status,
            reason: format!("reason {id}"),
        }
    }

    #[test]
    fn a_group_is_as_bad_as_its_worst_partition_and_sums_its_lag() {
        let report = group_report(
            "g",
            vec![
                partition("a", 0, Status::Ok, 3),
                partition("a", 1, Status::Stalled, 5),
                partition("b", 0, Status::Warning, 20),
            ],
            None,
        );
        assert_eq!(report.status, Status::Stalled);
        assert_eq!(report.reason, "a[1]: reason 1");
        assert_eq!(report.lag_records, 28);
        assert_eq!(report.lag_seconds, Some(2.0));
        assert_eq!(report.topics.len(), 2);
        assert_eq!(report.topics[0].status, Status::Stalled);
        assert_eq!(report.topics[0].lag_records, 8);
    }

    #[test]
    fn selection_takes_the_prefix_and_named_groups() {
        let selection = GroupSelection {
            prefix: Some("shop-".into()),
            names: ["audit".to_owned()].into(),
        };
        assert!(selection.contains("shop-orders"));
        assert!(selection.contains("audit"));
        assert!(!selection.contains("t1-shop-orders"));
        let by_name = GroupSelection {
            prefix: None,
            names: BTreeSet::new(),
        };
        assert!(!by_name.contains("shop-orders"));
    }

    #[test]
    fn rates_are_per_second_and_never_negative() {
        assert!((per_second(100, 600, 2_000) - 250.0).abs() < 1e-9);
        assert!(per_second(600, 100, 2_000).abs() < 1e-9);
        assert!(per_second(0, 100, 0).abs() < 1e-9);
    }
}
