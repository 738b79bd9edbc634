//! The Kafka source: a consumer in a group reads a topic's partitions, each message one
//! transaction (a data-contract JSON object, or one CSV record).
//!
//! Owns: `KafkaSource`: the consumer (librdkafka through `rdkafka`, on a thread of its
//! own: its calls block), messages parsed a partition at a time (one parser each, so a
//! refused message names `kafka:<topic>/<partition>` and its offset as its line), the
//! per-partition event-time bound (`FromSource::Bound`: the least of the newest event
//! times of the partitions still sending; one silent for `kafka.partition-idle` stops
//! holding the others back), periodic barriers carrying the next offset of every
//! partition (`FromSource::Barrier`), offsets committed only once the checkpoint of a
//! barrier is on disk (`Committer`), messages below a resumed checkpoint's offsets
//! skipped (the group's commit may trail the checkpoint after a kill), consumer lag per
//! partition as a metric, and a last barrier before it ends (idle exit, Ctrl-C, SIGTERM).
//! Must not: order, filter or detect.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::config::{InputConfig, KafkaConfig};
use crate::error::{Error, Result};
use crate::ingest::csv::CsvLineParser;
use crate::ingest::jsonl::JsonLineParser;
use crate::ingest::{Chunk, IngestState, Reason, Rejected};
use crate::pipeline::progress::Progress;
use crate::schema;

use super::source::{Committer, FromSource, STOPPING, Source, SourcePosition, SourceTx};

/// The contract's columns, in its order: the default header of CSV messages.
pub const CONTRACT_COLUMNS: [&str; 9] =
    ["tx_id", "ts", "src_account", "dst_account", "amount", "currency", "channel", "location", "memo"];

/// A batch goes on when the topic has been quiet this long.
const PAUSE: Duration = Duration::from_millis(100);

/// How often the topic's partitions are listed again.
const METADATA_EVERY: Duration = Duration::from_secs(30);

/// How often consumer lag is measured.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// librdkafka's settings for a consumer in `cfg.group` (offsets committed by us only).
pub fn consumer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // a dead member's partitions move on quickly (and some brokers wait the whole
        // timeout before a first assignment)
        .set("session.timeout.ms", "6000");
    for (k, v) in &cfg.client {
        c.set(k, v);
    }
    c
}

type KConsumer = BaseConsumer<DefaultConsumerContext>;

/// One partition as the source knows it.
struct Part {
    parser: Parser,
    /// Messages taken since the last chunk (rows read), and refused ones.
    read: u64,
    rejected: Vec<Rejected>,
    /// Newest event time accepted (µs).
    max_ts: i64,
    /// When the last message came (or the partition was assigned, paused or resumed).
    last_message: Instant,
    /// Paused by watermark alignment.
    paused: bool,
}

enum Parser {
    Json(JsonLineParser),
    Csv(CsvLineParser),
}

impl Parser {
    fn push(&mut self, offset: u64, rec: &[u8]) -> Option<Rejected> {
        match self {
            Parser::Json(p) => p.push_line(offset, rec),
            Parser::Csv(p) => p.push_line(offset, rec),
        }
    }

    fn finish(&mut self, st: &mut IngestState) -> (RecordBatch, Vec<Rejected>) {
        match self {
            Parser::Json(p) => p.finish(st),
            Parser::Csv(p) => p.finish(st),
        }
    }
}

/// A Kafka topic, read live (see the module docs).
pub struct KafkaSource {
    cfg: KafkaConfig,
    input: InputConfig,
    consumer: Arc<KConsumer>,
    /// The topic's partitions, all assigned to this job.
    partitions: Vec<i32>,
    /// Next offset per partition from a resumed checkpoint: messages below are skipped.
    resume: SourcePosition,
    seen: Vec<u128>,
    /// Processing time between barriers (`None`: no checkpoints).
    barrier_every: Option<Duration>,
    idle_exit: Option<Duration>,
    /// Checkpoints written (counted by the committer): a barrier is sent only when the
    /// last one's checkpoint is on disk, so at most one is in flight however slow
    /// writing is.
    written: Arc<std::sync::atomic::AtomicU64>,
    dedupe_horizon_us: Option<i64>,
}

impl KafkaSource {
    /// Connects a consumer to `cfg.brokers` and subscribes to `cfg.topic` (a wrong
    /// address or topic name is reported here, before the run starts).
    pub fn connect(cfg: &KafkaConfig, input: &InputConfig) -> Result<Self> {
        if cfg.brokers.is_empty() || cfg.topic.is_empty() {
            return Err(Error::Usage("the Kafka source needs `--kafka BROKERS` and `--topic TOPIC`".into()));
        }
        if cfg.csv {
            let header = csv_header(cfg);
            CsvLineParser::new(String::new(), &header, input)
                .map_err(|e| Error::Usage(format!("`kafka.csv-header` {header:?}: {e}")))?;
        }
        let consumer: KConsumer = consumer_config(cfg)
            .create()
            .map_err(|e| Error::Usage(format!("kafka consumer for `{}`: {e}", cfg.brokers)))?;
        let partitions = topic_partitions(consumer.client(), &cfg.topic).map_err(|e| {
            Error::Usage(format!("kafka `{}`: cannot read the metadata of `{}`: {e}", cfg.brokers, cfg.topic))
        })?;
        if partitions.is_empty() {
            return Err(Error::Usage(format!(
                "kafka `{}`: topic `{}` has no partitions (does it exist?)",
                cfg.brokers, cfg.topic
            )));
        }
        tracing::info!(topic = %cfg.topic, partitions = partitions.len(), group = %cfg.group, "kafka consumer connected");
        Ok(KafkaSource {
            cfg: cfg.clone(),
            input: input.clone(),
            consumer: Arc::new(consumer),
            partitions,
            resume: SourcePosition::new(),
            seen: Vec::new(),
            barrier_every: None,
            idle_exit: None,
            written: Default::default(),
            dedupe_horizon_us: None,
        })
    }

    /// Remembers tx_ids for this much event time (`IngestState::with_horizon`).
    pub fn dedupe_horizon(mut self, horizon_us: Option<i64>) -> Self {
        self.dedupe_horizon_us = horizon_us;
        self
    }

    /// Continues from a checkpoint: its offsets and the ids it processed.
    pub fn resume_from(mut self, position: SourcePosition, seen: &[u128]) -> Self {
        self.resume = position;
        self.seen = seen.to_vec();
        self
    }

    /// A barrier (and so a checkpoint) every `every` of processing time.
    pub fn barriers(mut self, every: Duration) -> Self {
        self.barrier_every = Some(every);
        self
    }

    /// Ends after this long without a message.
    pub fn idle_exit(mut self, after: Option<Duration>) -> Self {
        self.idle_exit = after;
        self
    }
}

/// The partition ids of `topic`, sorted (through a consumer's or a producer's client).
pub(crate) fn topic_partitions<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> std::result::Result<Vec<i32>, rdkafka::error::KafkaError> {
    let md = client.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut ids: Vec<i32> =
        md.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    ids.sort_unstable();
    Ok(ids)
}

fn csv_header(cfg: &KafkaConfig) -> Vec<String> {
    if cfg.csv_header.is_empty() {
        CONTRACT_COLUMNS.iter().map(|s| s.to_string()).collect()
    } else {
        cfg.csv_header.clone()
    }
}

/// A partition's key in a `SourcePosition` (and the sinks' offsets): `topic/partition`.
pub(crate) fn key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Offsets by `topic/partition` key as a partition list (each at its offset).
pub(crate) fn offsets_list(pos: &SourcePosition) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (k, &offset) in pos {
        let (topic, p) = k
            .rsplit_once('/')
            .and_then(|(t, p)| Some((t, p.parse::<i32>().ok()?)))
            .ok_or_else(|| Error::Internal(format!("checkpoint position `{k}` is not `topic/partition`")))?;
        tpl.add_partition_offset(topic, p, Offset::Offset(offset))
            .map_err(|e| Error::Internal(format!("offset {k}: {e}")))?;
    }
    Ok(tpl)
}

impl Source for KafkaSource {
    fn inputs(&self) -> Vec<String> {
        vec![format!("kafka:{}", self.cfg.topic)]
    }

    fn handles_shutdown(&self) -> bool {
        true
    }

    fn committer(&self) -> Option<Committer> {
        let consumer = self.consumer.clone();
        let written = self.written.clone();
        Some(Arc::new(move |pos: &SourcePosition| -> Result<()> {
            written.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let tpl = offsets_list(pos)?;
            if tpl.count() == 0 {
                return Ok(());
            }
            consumer.commit(&tpl, CommitMode::Async).map_err(|e| Error::Internal(format!("kafka commit: {e}")))
        }))
    }

    fn run(self: Box<Self>, out: SourceTx, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            // Ctrl-C / SIGTERM: the polling thread sees the flag, sends a last barrier, ends
            let stop = tokio::spawn(async {
                crate::shutdown_signal().await;
                tracing::warn!("interrupted: the Kafka source takes a last checkpoint and stops");
                STOPPING.store(true, Ordering::Relaxed);
            });
            let r = tokio::task::spawn_blocking(move || self.poll_loop(&out, &progress))
                .await
                .map_err(|e| Error::Internal(format!("kafka source: {e}")))?;
            stop.abort();
            r
        })
    }
}

impl KafkaSource {
    fn new_part(&self, partition: i32) -> Part {
        let name = format!("kafka:{}/{partition}", self.cfg.topic);
        let parser = if self.cfg.csv {
            // checked in `connect`
            Parser::Csv(CsvLineParser::new(name, &csv_header(&self.cfg), &self.input).expect("header checked"))
        } else {
            Parser::Json(JsonLineParser::new(name, &self.input))
        };
        Part { parser, read: 0, rejected: Vec::new(), max_ts: i64::MIN, last_message: Instant::now(), paused: false }
    }

    /// The blocking consumer loop (see the module docs).
    fn poll_loop(self, out: &SourceTx, progress: &Progress) -> Result<()> {
        let topic = self.cfg.topic.clone();
        let mut state = IngestState::with_seen(&self.seen).with_horizon(self.dedupe_horizon_us);
        let mut parts: BTreeMap<i32, Part> = BTreeMap::new();
        // next offset per partition key, carried by every barrier
        let mut position: SourcePosition = self.resume.clone();
        let mut pending = 0usize;
        let mut last_any = Instant::now();
        let mut last_barrier = Instant::now();
        let mut barriers_sent = 0u64;
        let mut last_lag = Instant::now();
        let mut skipped = 0u64;
        let mut lags: HashMap<i32, i64> = HashMap::new();
        self.assign(&position)?;
        for &p in &self.partitions {
            let fresh = self.new_part(p);
            parts.insert(p, fresh);
        }
        // before any row: nothing is released until every partition has spoken or idled
        let mut last_bound = Some(i64::MIN);
        if out.blocking_send_msg(FromSource::Bound(i64::MIN)).is_err() {
            return Ok(());
        }
        let mut partitions = self.partitions.clone();
        let mut last_meta = Instant::now();
        loop {
            if last_meta.elapsed() >= METADATA_EVERY {
                // partitions added to the topic are read from their start
                last_meta = Instant::now();
                if let Ok(now) = topic_partitions(self.consumer.client(), &topic)
                    && now.len() > partitions.len()
                {
                    tracing::info!(from = partitions.len(), to = now.len(), "kafka: the topic has new partitions");
                    for &p in now.iter().filter(|p| !partitions.contains(p)) {
                        position.entry(key(&topic, p)).or_insert(0);
                        let fresh = self.new_part(p);
                        parts.insert(p, fresh);
                    }
                    partitions = now;
                    self.assign_all(&partitions, &position)?;
                }
            }
            let stopping = STOPPING.load(Ordering::Relaxed);
            let msg = if stopping { None } else { self.consumer.poll(PAUSE) };
            match msg {
                Some(Ok(m)) => {
                    last_any = Instant::now();
                    let p = m.partition();
                    let offset = m.offset();
                    let k = key(&topic, p);
                    if position.get(&k).is_some_and(|&next| offset < next) {
                        // already in the checkpoint this run resumed from
                        skipped += 1;
                        continue;
                    }
                    position.insert(k, offset + 1);
                    let part = parts.entry(p).or_insert_with(|| self.new_part(p));
                    part.read += 1;
                    part.last_message = Instant::now();
                    pending += 1;
                    progress.read.fetch_add(1, Ordering::Relaxed);
                    let line = offset.max(0) as u64;
                    match m.payload() {
                        None | Some([]) => part.rejected.push(Rejected::new(
                            &format!("kafka:{topic}/{p}"),
                            line,
                            "record",
                            Reason::MissingField,
                            &format!("empty message at offset {offset}"),
                            b"",
                        )),
                        Some(bytes) => {
                            if let Some(r) = part.parser.push(line, bytes) {
                                part.rejected.push(r);
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    // a broker or network problem: librdkafka retries; say so and go on
                    tracing::warn!("kafka: {e}");
                }
                None => {}
            }
            let quiet = last_any.elapsed() >= PAUSE;
            if pending >= self.cfg.batch_messages || (pending > 0 && (quiet || stopping)) {
                let t = Instant::now();
                if !self.flush(&mut parts, &mut state, out)? {
                    return Ok(());
                }
                pending = 0;
                // time spent held back by the pipeline is not silence
                shift(&mut parts, &mut last_any, t.elapsed());
            }
            if pending == 0 && !parts.is_empty() {
                let b = self.bound(&parts, &lags);
                self.align(&mut parts, b);
                if last_bound != Some(b) {
                    last_bound = Some(b);
                    let t = Instant::now();
                    if out.blocking_send_msg(FromSource::Bound(b)).is_err() {
                        return Ok(());
                    }
                    shift(&mut parts, &mut last_any, t.elapsed());
                }
            }
            if last_lag.elapsed() >= LAG_EVERY {
                last_lag = Instant::now();
                lags = self.lag(&parts, &position);
            }
            let idle_out = self.idle_exit.is_some_and(|d| last_any.elapsed() >= d);
            let in_flight = barriers_sent > self.written.load(std::sync::atomic::Ordering::Acquire);
            let barrier_due = !in_flight && self.barrier_every.is_some_and(|d| last_barrier.elapsed() >= d);
            if pending == 0 && (barrier_due || ((stopping || idle_out) && self.barrier_every.is_some())) {
                last_barrier = Instant::now();
                barriers_sent += 1;
                if out.blocking_send_msg(FromSource::Barrier(position.clone())).is_err() {
                    return Ok(());
                }
                shift(&mut parts, &mut last_any, last_barrier.elapsed());
            }
            if pending == 0 && (stopping || idle_out) {
                if skipped > 0 {
                    tracing::info!(skipped, "kafka: messages already in the resumed checkpoint were skipped");
                }
                return Ok(());
            }
        }
    }

    /// Assigns every partition of the topic to this job, each from the resumed
    /// checkpoint's offset, else the group's committed one, else the earliest.
    fn assign(&self, position: &SourcePosition) -> Result<()> {
        self.assign_all(&self.partitions, position)
    }

    fn assign_all(&self, partitions: &[i32], position: &SourcePosition) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            let from = position.get(&key(&self.cfg.topic, p)).map_or(Offset::Stored, |&o| Offset::Offset(o));
            tpl.add_partition_offset(&self.cfg.topic, p, from)
                .map_err(|e| Error::Internal(format!("kafka partition {p}: {e}")))?;
        }
        self.consumer.assign(&tpl).map_err(|e| Error::Internal(format!("kafka assign `{}`: {e}", self.cfg.topic)))
    }

    /// Every partition's pending rows as a chunk; false when the pipeline is gone.
    fn flush(&self, parts: &mut BTreeMap<i32, Part>, state: &mut IngestState, out: &SourceTx) -> Result<bool> {
        for part in parts.values_mut() {
            if part.read == 0 {
                continue;
            }
            let (batch, dups) = crate::metrics::timed("ingest", || part.parser.finish(state));
            let mut rejected = std::mem::take(&mut part.rejected);
            rejected.extend(dups);
            if batch.num_rows() > 0 {
                let ts = schema::ts_column(&batch);
                part.max_ts = part.max_ts.max(arrow::compute::max(ts).unwrap_or(i64::MIN));
            }
            let chunk = Chunk { batch, rejected, rows_read: std::mem::take(&mut part.read) };
            if out.blocking_send(chunk).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The least newest event time over the partitions still sending; a partition heard
    /// from not at all counts as holding everything back until it is idle. A partition is
    /// idle when no message came from it for `kafka.partition-idle` (time the pipeline
    /// held the source back not counted) and, when its lag is known, it has none left.
    fn bound(&self, parts: &BTreeMap<i32, Part>, lags: &HashMap<i32, i64>) -> i64 {
        let idle = self.cfg.partition_idle;
        parts
            .iter()
            .filter(|(p, part)| {
                part.paused || part.last_message.elapsed() < idle || lags.get(p).is_some_and(|&l| l > 0)
            })
            .map(|(_, part)| part.max_ts)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Watermark alignment: a partition more than `kafka.max-skew` of event time ahead of
    /// the bound is paused until the others catch up, so the rows held for reordering
    /// stay bounded however unevenly the broker serves the partitions.
    fn align(&self, parts: &mut BTreeMap<i32, Part>, bound: i64) {
        let skew = self.cfg.max_skew.as_micros() as i64;
        for (&p, part) in parts.iter_mut() {
            let ahead = bound != i64::MAX && part.max_ts != i64::MIN && part.max_ts > bound.saturating_add(skew);
            if ahead == part.paused {
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.cfg.topic, p);
            let r = if ahead { self.consumer.pause(&tpl) } else { self.consumer.resume(&tpl) };
            match r {
                Ok(()) => {
                    part.paused = ahead;
                    part.last_message = Instant::now();
                }
                Err(e) => tracing::warn!("kafka: pausing or resuming partition {p}: {e}"),
            }
        }
    }

    /// Consumer lag per partition (high watermark less the next offset), also set as a
    /// metric.
    fn lag(&self, parts: &BTreeMap<i32, Part>, position: &SourcePosition) -> HashMap<i32, i64> {
        let m = crate::metrics::metrics();
        let mut lags: HashMap<i32, i64> = HashMap::new();
        let now = chrono::Utc::now().timestamp_micros();
        for (&p, part) in parts {
            if part.max_ts > i64::MIN {
                m.kafka_event_time_lag
                    .with_label_values(&[self.cfg.topic.as_str(), &p.to_string()])
                    .set(now.saturating_sub(part.max_ts) as f64 / 1e6);
            }
            if let Ok((low, high)) = self.consumer.fetch_watermarks(&self.cfg.topic, p, Duration::from_secs(2)) {
                let next = position.get(&key(&self.cfg.topic, p)).copied().unwrap_or(low);
                let lag = (high - next).max(0);
                lags.insert(p, lag);
                m.kafka_lag.with_label_values(&[self.cfg.topic.as_str(), &p.to_string()]).set(lag);
            }
        }
        lags
    }
}

/// Moves every silence clock on by `d` (time the source was held back by the pipeline).
fn shift(parts: &mut BTreeMap<i32, Part>, last_any: &mut Instant, d: Duration) {
    if d < Duration::from_millis(1) {
        return;
    }
    *last_any += d;
    for part in parts.values_mut() {
        part.last_message += d;
    }
}
