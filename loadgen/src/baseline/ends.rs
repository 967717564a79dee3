//! The two ends of the baseline chain: the injector, which writes records into the first topic
//! on the open-loop timetable (or all at once, for the burst), and the sink, which reads the
//! last topic and times each record from its due time.
//!
//! Each record's value starts with a 9-byte header: the phase (0 paced, 1 burst) and the
//! record's sequence number, big-endian. The sink computes the due time from the sequence
//! number and the shared timetable, so no clock value travels in the record and both ends use
//! the same monotonic clock.

use super::BaselineError;
use crate::schedule::Schedule;
use crate::stats::{Latency, PerSecond, second_of};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes of the header at the front of every value.
pub const HEADER_BYTES: usize = 9;
const PACED: u8 = 0;
const BURST: u8 = 1;
/// Bound on the per-second series (an hour and a half).
const MAX_SECONDS: usize = 5_400;

/// The header of record `sequence` in `phase`, written into the front of `value`.
fn write_header(value: &mut [u8], phase: u8, sequence: u64) {
    if value.len() >= HEADER_BYTES {
        value[0] = phase;
        value[1..HEADER_BYTES].copy_from_slice(&sequence.to_be_bytes());
    }
}

/// The phase and sequence number of a value, if it has a header.
fn read_header(value: &[u8]) -> Option<(u8, u64)> {
    let phase = *value.first()?;
    let sequence = value.get(1..HEADER_BYTES)?.try_into().ok()?;
    Some((phase, u64::from_be_bytes(sequence)))
}

/// When and how the paced phase runs, shared by both ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timetable {
    pub(crate) start: Instant,
    pub(crate) schedule: Schedule,
    /// The first record due after the warm-up.
    pub(crate) first_measured: u64,
    /// The measured window, as offsets from `start`.
    pub(crate) window_from: Duration,
    pub(crate) window_until: Duration,
}

impl Timetable {
    fn in_window(&self, at: Duration) -> bool {
        at >= self.window_from && at < self.window_until
    }
}

/// What the injector sent in the paced phase.
#[derive(Debug, Clone)]
pub(crate) struct PacedSent {
    pub(crate) sent: u64,
    pub(crate) late: u64,
    pub(crate) lateness: Latency,
    pub(crate) per_second: PerSecond<u64>,
}

/// Writes records into the first topic of the chain with the project's producer settings
/// (idempotent, `acks=all`, lz4, `linger.ms=5`: as the ingress writes a command).
pub(crate) struct Injector {
    producer: BaseProducer<TracingContext>,
    topic: String,
    keys: Vec<Vec<u8>>,
    value: Vec<u8>,
}

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injector")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Injector {
    /// # Errors
    /// [`BaselineError`] if the producer cannot be created.
    pub(crate) fn new(
        kafka: &KafkaSettings,
        topic: &str,
        keys: usize,
        payload_bytes: usize,
    ) -> Result<Self, BaselineError> {
        let producer = kafka
            .producer()
            .create_with_context(TracingContext)
            .map_err(|source| BaselineError::kafka("creating the injector", source))?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            keys: (0..keys.max(1))
                .map(|key| format!("user-{key}").into_bytes())
                .collect(),
            value: vec![0_u8; payload_bytes.max(HEADER_BYTES)],
        })
    }

    fn send(&mut self, phase: u8, sequence: u64) -> Result<(), BaselineError> {
        write_header(&mut self.value, phase, sequence);
        let key = &self.keys[(sequence % self.keys.len() as u64) as usize];
        let mut record = BaseRecord::to(&self.topic).key(key).payload(&self.value);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.producer.poll(Duration::from_millis(1));
                }
                Err((source, _)) => return Err(BaselineError::kafka("injecting a record", source)),
            }
        }
    }

    /// Sends every record of `timetable` at its due time (catching up at once after a stall)
    /// until done or `stop` is set, then waits for every delivery.
    ///
    /// # Errors
    /// [`BaselineError`] if producing fails outright.
    pub(crate) fn paced(
        &mut self,
        timetable: &Timetable,
        stop: &AtomicBool,
    ) -> Result<PacedSent, BaselineError> {
        let mut sent = PacedSent {
            sent: 0,
            late: 0,
            lateness: Latency::precise()?,
            per_second: PerSecond::new(MAX_SECONDS, 0),
        };
        let schedule = timetable.schedule;
        let mut next = 0_u64;
        while next < schedule.count() && !stop.load(Ordering::Relaxed) {
            let due_at = timetable.start + schedule.offset(next);
            let now = Instant::now();
            if now < due_at {
                self.producer.poll(Duration::ZERO);
                std::thread::sleep((due_at - now).min(Duration::from_millis(1)));
                continue;
            }
            self.send(PACED, next)?;
            let at = now.saturating_duration_since(timetable.start);
            *sent.per_second.at(second_of(at)) += 1;
            if next >= timetable.first_measured {
                let late = now - due_at;
                sent.lateness.record(late);
                if late.as_secs_f64() * 1_000.0 > crate::report::LATE_THRESHOLD_MS {
                    sent.late += 1;
                }
            }
            sent.sent += 1;
            next += 1;
        }
        self.flush()?;
        Ok(sent)
    }

    /// Sends `records` burst records as fast as librdkafka takes them; returns when the first
    /// was handed over and how many were sent.
    ///
    /// # Errors
    /// [`BaselineError`] if producing fails outright.
    pub(crate) fn burst(
        &mut self,
        records: u64,
        stop: &AtomicBool,
    ) -> Result<(Instant, u64), BaselineError> {
        let first = Instant::now();
        let mut sent = 0;
        while sent < records && !stop.load(Ordering::Relaxed) {
            self.send(BURST, sent)?;
            sent += 1;
            if sent % 1_000 == 0 {
                self.producer.poll(Duration::ZERO);
            }
        }
        self.flush()?;
        Ok((first, sent))
    }

    fn flush(&self) -> Result<(), BaselineError> {
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|source| BaselineError::kafka("flushing the injector", source))
    }
}

/// What the sink has read so far, for the run to watch.
#[derive(Debug, Default)]
pub(crate) struct SinkProgress {
    pub(crate) paced: AtomicU64,
    pub(crate) burst: AtomicU64,
}

/// One second at the sink.
#[derive(Debug, Clone)]
pub(crate) struct SinkSecond {
    pub(crate) received: u64,
    pub(crate) latency: Latency,
}

/// Everything the sink measured.
#[derive(Debug)]
pub(crate) struct SinkTally {
    pub(crate) paced_received: u64,
    pub(crate) in_window: u64,
    pub(crate) end_to_end: Latency,
    pub(crate) per_second: PerSecond<SinkSecond>,
    pub(crate) burst_received: u64,
    pub(crate) last_burst: Option<Instant>,
    /// Values without a header: none unless something else writes to the topic.
    pub(crate) foreign: u64,
}

/// Starts the sink on its own thread: reads every partition of `topic` from the beginning
/// (`read_committed`, like every reader here) until `stop` is set.
///
/// # Errors
/// [`BaselineError`] if the consumer cannot be created or assigned.
pub(crate) fn start_sink(
    kafka: &KafkaSettings,
    group: &str,
    topic: &str,
    partitions: i32,
    timetable: Timetable,
    progress: Arc<SinkProgress>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<SinkTally>, BaselineError> {
    let consumer: BaseConsumer<TracingContext> = crate::load::observer_consumer(kafka, group)
        .create_with_context(TracingContext)
        .map_err(|source| BaselineError::kafka("creating the sink", source))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|source| BaselineError::kafka("listing the sink's partitions", source))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|source| BaselineError::kafka("assigning the sink", source))?;
    let mut tally = SinkTally {
        paced_received: 0,
        in_window: 0,
        end_to_end: Latency::precise()?,
        per_second: PerSecond::new(
            MAX_SECONDS,
            SinkSecond {
                received: 0,
                latency: Latency::coarse()?,
            },
        ),
        burst_received: 0,
        last_burst: None,
        foreign: 0,
    };
    std::thread::Builder::new()
        .name("baseline-sink".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(result) = consumer.poll(Duration::from_millis(20)) else {
                    continue;
                };
                let now = Instant::now();
                let message = match result {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "sink consumer error");
                        continue;
                    }
                };
                match message.payload().and_then(read_header) {
                    Some((PACED, sequence)) => {
                        receive_paced(&mut tally, &timetable, sequence, now);
                        progress.paced.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((BURST, _)) => {
                        tally.burst_received += 1;
                        tally.last_burst = Some(now);
                        progress.burst.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => tally.foreign += 1,
                }
            }
            tally
        })
        .map_err(|error| BaselineError::Thread(error.to_string()))
}

fn receive_paced(tally: &mut SinkTally, timetable: &Timetable, sequence: u64, now: Instant) {
    let due = timetable.start + timetable.schedule.offset(sequence);
    let latency = now.saturating_duration_since(due);
    let at = now.saturating_duration_since(timetable.start);
    let second = tally.per_second.at(second_of(at));
    second.received += 1;
    second.latency.record(latency);
    tally.paced_received += 1;
    if timetable.in_window(at) {
        tally.in_window += 1;
    }
    if sequence >= timetable.first_measured {
        tally.end_to_end.record(latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_short_values_have_none() {
        let mut value = vec![0_u8; 32];
        write_header(&mut value, BURST, 0x0102_0304_0506_0708);
        assert_eq!(read_header(&value), Some((BURST, 0x0102_0304_0506_0708)));
        assert_eq!(read_header(&value[..8]), None);
        assert_eq!(read_header(&[]), None);
    }

    #[test]
    fn a_paced_record_is_timed_from_its_due_time() {
        let start = Instant::now();
        let timetable = Timetable {
            start,
            schedule: Schedule::new(100.0, Duration::from_secs(3)).unwrap(),
            first_measured: 100,
            window_from: Duration::from_secs(1),
            window_until: Duration::from_secs(3),
        };
        let mut tally = SinkTally {
            paced_received: 0,
            in_window: 0,
            end_to_end: Latency::precise().unwrap(),
            per_second: PerSecond::new(
                10,
                SinkSecond {
                    received: 0,
                    latency: Latency::coarse().unwrap(),
                },
            ),
            burst_received: 0,
            last_burst: None,
            foreign: 0,
        };
        // Record 150 is due at 1.5 s and read at 1.52 s: 20 ms, measured, in the window.
        receive_paced(
            &mut tally,
            &timetable,
            150,
            start + Duration::from_millis(1_520),
        );
        // Record 10 (warm-up) read at 0.2 s: in the series only.
        receive_paced(
            &mut tally,
            &timetable,
            10,
            start + Duration::from_millis(200),
        );
        assert_eq!(tally.paced_received, 2);
        assert_eq!(tally.in_window, 1);
        assert_eq!(tally.end_to_end.count(), 1);
        assert!((tally.end_to_end.summary().p50_ms - 20.0).abs() < 0.1);
        assert_eq!(tally.per_second.slots()[1].received, 1);
        assert_eq!(tally.per_second.slots()[0].received, 1);
    }
}
