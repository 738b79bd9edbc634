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
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{Producer, ThreadedProducer};

use crate::alerts::Alert;
use crate::error::{Error, Result};
use crate::ingest::Rejected;
use crate::produce::Deliveries;

use super::kafka::{key, offsets_list, topic_partitions};

/// End offset per `topic/partition` of the sink topics at a checkpoint.
pub type SinkOffsets = BTreeMap<String, i64>;

/// A resumed run reads the sink topics back until they have been quiet this long.
const READ_BACK_QUIET: Duration = Duration::from_secs(3);

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
        let tpl = offsets_list(offsets)?;
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
        crate::produce::send_retrying(&self.producer, topic, key, payload)?;
        self.sent += 1;
        Ok(())
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
        self.producer.context().check("the kafka sinks")?;
        let mut out = SinkOffsets::new();
        let client = self.producer.client();
        for topic in self.topics() {
            let parts = topic_partitions(client, &topic)
                .map_err(|e| Error::Internal(format!("kafka sink `{topic}` metadata: {e}")))?;
            for p in parts {
                let (_, high) = client
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .map_err(|e| Error::Internal(format!("kafka sink `{topic}` offsets: {e}")))?;
                out.insert(key(&topic, p), high);
            }
        }
        Ok(out)
    }
}
