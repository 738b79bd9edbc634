//! Kafka sinks: the run's alerts and quarantined records published to a topic each
//! (`kafka.alerts-topic`, `kafka.quarantine-topic`), beside the files and the store, so case
//! systems downstream can subscribe.
//!
//! Owns: `KafkaSinks`: alerts keyed by their first subject (one subject's alerts stay in
//! order in one partition), quarantined records keyed by their source; each message the
//! JSON line the files hold. Exactly once through restarts without broker transactions: a
//! checkpoint records each topic's end offsets once everything before it is delivered
//! (`sync`), and a resumed run reads each topic back from there to its end and does not
//! publish again what it finds (alerts by `alert_id`, records by source, line and reason).
//! Must not: decide what is published; the sinks hand it what they wrote.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::alerts::Alert;
use crate::error::{Error, Result};
use crate::ingest::Rejected;

/// End offset per `topic/partition` of the sink topics at a checkpoint.
pub type SinkOffsets = BTreeMap<String, i64>;

/// A resumed run reads the sink topics back until they have been quiet this long.
const READ_BACK_QUIET: Duration = Duration::from_secs(3);

/// Delivery failures (after librdkafka's retries).
#[derive(Default)]
struct Deliveries(AtomicU64, std::sync::Mutex<Option<String>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.1.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The alert and quarantine topics of a run (see the module docs).
pub struct KafkaSinks {
    brokers: String,
    alerts_topic: Option<String>,
    quarantine_topic: Option<String>,
    producer: ThreadedProducer<Deliveries>,
    /// What a resumed run found already published after its checkpoint.
    published: HashSet<String>,
    /// Messages published by this run, and left out as already published.
    pub sent: u64,
    pub skipped: u64,
}

fn quarantine_key(file: &str, line: u64, reason: &str) -> String {
    format!("{file}\u{1f}{line}\u{1f}{reason}")
}

/// What identifies a quarantined record read back from its topic.
#[derive(serde::Deserialize)]
struct RecordId {
    file: String,
    line: u64,
    reason: String,
}

impl KafkaSinks {
    /// A producer for the topics; a resumed run reads each topic back from `resume`'s
    /// offsets first.
    pub fn open(
        brokers: &str,
        alerts_topic: Option<String>,
        quarantine_topic: Option<String>,
        resume: Option<(&SinkOffsets, &[String])>,
    ) -> Result<Self> {
        let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "10")
            .set("message.timeout.ms", "60000")
            .create_with_context(Deliveries::default())
            .map_err(|e| Error::Usage(format!("kafka producer for `{brokers}`: {e}")))?;
        let mut s = KafkaSinks {
            brokers: brokers.to_string(),
            alerts_topic,
            quarantine_topic,
            producer,
            published: HashSet::new(),
            sent: 0,
            skipped: 0,
        };
        if let Some((offsets, ahead)) = resume {
            // published by an earlier run ahead of its checkpoint and not raised again yet
            s.published.extend(ahead.iter().cloned());
            s.read_back(offsets)?;
        }
        Ok(s)
    }

    fn topics(&self) -> Vec<String> {
        self.alerts_topic.iter().chain(self.quarantine_topic.iter()).cloned().collect()
    }

    /// Reads every sink topic from the checkpoint's offsets until it has been quiet for
    /// `READ_BACK_QUIET` (brokers' end offsets are not trusted for this: some report them
    /// late).
    fn read_back(&mut self, offsets: &SinkOffsets) -> Result<()> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", "mirrorflow-sink-read-back")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| Error::Usage(format!("kafka consumer for `{}`: {e}", self.brokers)))?;
        let mut tpl = TopicPartitionList::new();
        for (k, &from) in offsets {
            let Some((topic, p)) = k.rsplit_once('/') else { continue };
            let Ok(p) = p.parse::<i32>() else { continue };
            tpl.add_partition_offset(topic, p, Offset::Offset(from))
                .map_err(|e| Error::Internal(format!("kafka sink read-back {k}: {e}")))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        consumer.assign(&tpl).map_err(|e| Error::Internal(format!("kafka sink read-back: {e}")))?;
        let mut last = Instant::now();
        while last.elapsed() < READ_BACK_QUIET {
            let Some(m) = consumer.poll(Duration::from_millis(100)) else { continue };
            let m = m.map_err(|e| Error::Internal(format!("kafka sink read-back: {e}")))?;
            last = Instant::now();
            let payload = m.payload().unwrap_or_default();
            if Some(m.topic()) == self.alerts_topic.as_deref() {
                #[derive(serde::Deserialize)]
                struct Id {
                    alert_id: String,
                }
                if let Ok(id) = serde_json::from_slice::<Id>(payload) {
                    self.published.insert(id.alert_id);
                }
            } else if let Ok(r) = serde_json::from_slice::<RecordId>(payload) {
                self.published.insert(quarantine_key(&r.file, r.line, &r.reason));
            }
        }
        tracing::info!(found = self.published.len(), "kafka sinks: read back what was published after the checkpoint");
        Ok(())
    }

    fn send(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> Result<()> {
        loop {
            match self.producer.send(BaseRecord::to(topic).key(key).payload(payload)) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    _,
                )) => std::thread::sleep(Duration::from_millis(5)),
                Err((e, _)) => return Err(Error::Internal(format!("kafka sink `{topic}`: {e}"))),
            }
        }
    }

    /// Publishes alerts (those not already published after the resumed checkpoint).
    pub fn alerts(&mut self, alerts: &[Alert]) -> Result<()> {
        let Some(topic) = self.alerts_topic.clone() else { return Ok(()) };
        for a in alerts {
            if self.published.remove(&a.alert_id) {
                self.skipped += 1;
                continue;
            }
            let payload = serde_json::to_vec(a).map_err(|e| Error::Internal(format!("alert json: {e}")))?;
            let key = a.subjects.first().map(String::as_bytes).unwrap_or_default().to_vec();
            self.send(&topic, &key, &payload)?;
        }
        Ok(())
    }

    /// Publishes quarantined records (likewise).
    pub fn quarantine(&mut self, records: &[Rejected]) -> Result<()> {
        let Some(topic) = self.quarantine_topic.clone() else { return Ok(()) };
        for r in records {
            if self.published.remove(&quarantine_key(&r.file, r.line, r.reason.as_str())) {
                self.skipped += 1;
                continue;
            }
            let payload = serde_json::to_vec(r).map_err(|e| Error::Internal(format!("quarantine json: {e}")))?;
            self.send(&topic, r.file.as_bytes(), &payload)?;
        }
        Ok(())
    }

    /// What was found published ahead of the checkpoint and not raised again yet: kept in
    /// the next checkpoint, so a run resumed from it does not publish them twice either.
    pub fn ahead(&self) -> Vec<String> {
        let mut v: Vec<String> = self.published.iter().cloned().collect();
        v.sort();
        v
    }

    /// Waits until everything sent is delivered; the topics' end offsets (for a checkpoint).
    pub fn sync(&mut self) -> Result<SinkOffsets> {
        self.producer.flush(Duration::from_secs(60)).map_err(|e| Error::Internal(format!("kafka sink flush: {e}")))?;
        let failed = self.producer.context().0.load(Ordering::Relaxed);
        if failed > 0 {
            let first = self.producer.context().1.lock().ok().and_then(|f| f.clone()).unwrap_or_default();
            return Err(Error::Internal(format!("kafka sinks: {failed} message(s) not delivered (first: {first})")));
        }
        let mut out = SinkOffsets::new();
        let client = self.producer.client();
        for topic in self.topics() {
            let md = client
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .map_err(|e| Error::Internal(format!("kafka sink `{topic}` metadata: {e}")))?;
            for t in md.topics().iter().filter(|t| t.name() == topic) {
                for p in t.partitions() {
                    let (_, high) = client
                        .fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
                        .map_err(|e| Error::Internal(format!("kafka sink `{topic}` offsets: {e}")))?;
                    out.insert(format!("{topic}/{}", p.id()), high);
                }
            }
        }
        Ok(out)
    }
}
