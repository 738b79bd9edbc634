//! `mirrorflow produce`: replays a ledger's records onto a Kafka topic, for demos, tests
//! and load: as fast as the broker takes them or at N x real time, optionally with
//! bounded disorder, keyed by the source account (one account's records stay in order in
//! one partition).
//!
//! Owns: reading a ledger's transactions files as records (CSV records become
//! data-contract JSON objects of their text fields, or go as CSV lines; NDJSON lines go as
//! they are: nothing is validated here, so a bad record reaches the consumer and its
//! quarantine, as it would from a bank's feed), creating the topic, and the producer.
//! Must not: judge or change a record's values.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::csv::{RecordReader, open_maybe_gz, read_header, split_record};
use crate::ingest::values::{TsOptions, parse_ts};

/// What to produce, and how.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub brokers: String,
    pub topic: String,
    /// Create the topic with this many partitions when it does not exist.
    pub partitions: i32,
    /// 0: as fast as possible; N: N x real time (event time).
    pub speed: f64,
    /// Records move up to this far (event time) out of order, seeded.
    pub disorder: Duration,
    pub seed: u64,
    /// CSV lines instead of JSON objects (CSV ledgers only).
    pub csv: bool,
    /// Extra librdkafka producer properties.
    pub client: Vec<(String, String)>,
    /// A side table of the ledger instead of its transactions: `accounts` (keyed by
    /// `account_id`) or `fx_rates` (keyed by `date/currency`), onto a compacted topic,
    /// for `live.accounts = "kafka:TOPIC"`.
    pub table: Option<String>,
}

/// What `produce` did.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceReport {
    pub topic: String,
    pub files: Vec<String>,
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
}

/// One record to send: its key, payload and event time (µs; `None`: unreadable, sent in
/// place).
struct Rec {
    key: Vec<u8>,
    payload: Vec<u8>,
    ts: Option<i64>,
}

/// Reads every record of `files` (CSV with a header, or NDJSON), keyed by the values of
/// `key_cols` joined with `/`.
fn read_records(files: &[PathBuf], csv_out: bool, key_cols: &[&str]) -> Result<Vec<Rec>> {
    let ts_opts = TsOptions::default();
    let mut out = Vec::new();
    for path in files {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        if lower.ends_with(".parquet") {
            return Err(Error::input(path, "produce reads CSV and NDJSON ledgers (convert Parquet with `ingest`)"));
        }
        let ndjson = [".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"].iter().any(|e| lower.ends_with(e));
        if ndjson {
            if csv_out {
                return Err(Error::input(path, "an NDJSON ledger is produced as JSON (leave out --format csv)"));
            }
            #[derive(serde::Deserialize)]
            struct Head<'a> {
                #[serde(borrow)]
                ts: Option<std::borrow::Cow<'a, str>>,
                #[serde(borrow)]
                src_account: Option<std::borrow::Cow<'a, str>>,
            }
            let text = std::io::read_to_string(open_maybe_gz(path)?).map_err(|e| Error::io(path, e))?;
            for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if key_cols != ["src_account"] {
                    let key = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l)
                        .map(|o| {
                            let part = |c: &&str| o.get(*c).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                            key_cols.iter().map(part).collect::<Vec<_>>().join("/").into_bytes()
                        })
                        .unwrap_or_default();
                    out.push(Rec { key, payload: l.as_bytes().to_vec(), ts: None });
                    continue;
                }
                let (ts, key) = match serde_json::from_str::<Head>(l) {
                    Ok(h) => (
                        h.ts.and_then(|t| parse_ts(t.as_bytes(), &ts_opts).ok()),
                        h.src_account.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
                    ),
                    Err(_) => (None, Vec::new()),
                };
                out.push(Rec { key, payload: l.as_bytes().to_vec(), ts });
            }
            continue;
        }
        let mut reader = RecordReader::new(open_maybe_gz(path)?, b',', 1 << 20);
        let header = read_header(&mut reader, path, b',')?;
        let col = |name: &str| header.iter().position(|h| h == name);
        let ts_i = col("ts");
        let key_is: Vec<Option<usize>> = key_cols.iter().map(|c| col(c)).collect();
        while reader.next_record().map_err(|e| Error::io(path, e))? {
            let rec = reader.buf.as_slice();
            let mut fields = Vec::with_capacity(header.len());
            split_record(rec, b',', &mut fields);
            let field = |i: Option<usize>| i.and_then(|i| fields.get(i));
            let ts = field(ts_i).and_then(|t| parse_ts(t, &ts_opts).ok());
            let key = key_is
                .iter()
                .map(|&i| field(i).map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("/")
                .into_bytes();
            let payload = if csv_out {
                rec.to_vec()
            } else {
                let mut obj = serde_json::Map::new();
                for (h, f) in header.iter().zip(fields.iter()) {
                    if !f.is_empty() {
                        obj.insert(h.clone(), serde_json::Value::String(String::from_utf8_lossy(f).into_owned()));
                    }
                }
                serde_json::to_vec(&obj).map_err(|e| Error::Internal(format!("json: {e}")))?
            };
            out.push(Rec { key, payload, ts });
        }
    }
    Ok(out)
}

/// Puts records up to `disorder` out of event-time order (seeded): each is sent in the
/// order of its time plus a random delay below `disorder`.
fn disorder(recs: &mut [Rec], disorder: Duration, seed: u64) {
    if disorder.is_zero() {
        return;
    }
    let span = disorder.as_micros() as u64;
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut last = i64::MIN;
    let mut keyed: Vec<(i64, usize)> = Vec::with_capacity(recs.len());
    for (i, r) in recs.iter().enumerate() {
        let t = r.ts.unwrap_or(last);
        last = t;
        keyed.push((t.saturating_add((next() % span) as i64), i));
    }
    keyed.sort_by_key(|&(k, i)| (k, i));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    let mut taken: Vec<Option<Rec>> = recs
        .iter_mut()
        .map(|r| Some(std::mem::replace(r, Rec { key: Vec::new(), payload: Vec::new(), ts: None })))
        .collect();
    for (slot, i) in order.into_iter().enumerate() {
        recs[slot] = taken[i].take().expect("each record once");
    }
}

/// Counts messages the broker did not take (after librdkafka's retries).
/// A producer context counting the messages the broker did not take (after librdkafka's
/// retries), with the first error: `produce` and the Kafka sinks check it after a flush.
#[derive(Default)]
pub(crate) struct Deliveries(std::sync::atomic::AtomicU64, std::sync::Mutex<Option<String>>);

impl Deliveries {
    /// `Err` naming `what` when any message was not delivered.
    pub(crate) fn check(&self, what: &str) -> Result<()> {
        let failed = self.0.load(std::sync::atomic::Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self.1.lock().ok().and_then(|f| f.clone()).unwrap_or_default();
        Err(Error::Internal(format!("{failed} message(s) not delivered to {what} (first: {first})")))
    }
}

/// Sends one message, waiting while librdkafka's queue is full.
pub(crate) fn send_retrying(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    key: &[u8],
    payload: &[u8],
) -> Result<()> {
    loop {
        match producer.send(BaseRecord::to(topic).key(key).payload(payload)) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err((e, _)) => return Err(Error::Internal(format!("kafka produce to `{topic}`: {e}"))),
        }
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut first) = self.1.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub(crate) async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> Result<()> {
    ensure_topic_with(brokers, topic, partitions, false).await
}

/// [`ensure_topic`], compacted (`cleanup.policy=compact`) when `compacted`.
async fn ensure_topic_with(brokers: &str, topic: &str, partitions: i32, compacted: bool) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| Error::Usage(format!("kafka `{brokers}`: {e}")))?;
    let mut t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    if compacted {
        t = t.set("cleanup.policy", "compact");
    }
    let res = admin
        .create_topics(&[t], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))))
        .await
        .map_err(|e| Error::Usage(format!("kafka `{brokers}`: creating `{topic}`: {e}")))?;
    for r in res {
        match r {
            Ok(_) => tracing::info!(topic, partitions, "created the topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(Error::Usage(format!("kafka `{brokers}`: creating `{topic}`: {code}"))),
        }
    }
    Ok(())
}

/// Produces every transactions record of the ledger at `path` onto the topic.
pub async fn produce(path: &Path, opts: &ProduceOptions) -> Result<ProduceReport> {
    let ledger = crate::ingest::ledger::discover(path)?;
    let (files, key_cols): (Vec<PathBuf>, &[&str]) = match opts.table.as_deref() {
        None => (ledger.transactions.clone(), &["src_account"]),
        Some("accounts") => (ledger.accounts.iter().cloned().collect(), &["account_id"]),
        Some("fx_rates") => (ledger.fx_rates.iter().cloned().collect(), &["date", "currency"]),
        Some(other) => return Err(Error::Usage(format!("--table `{other}`: expected accounts or fx_rates"))),
    };
    if files.is_empty() {
        return Err(Error::input(path, format!("the ledger has no `{}` table", opts.table.as_deref().unwrap_or(""))));
    }
    let csv = opts.csv;
    let report_files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut recs = tokio::task::spawn_blocking(move || read_records(&files, csv, key_cols))
        .await
        .map_err(|e| Error::Internal(format!("reading the ledger: {e}")))??;
    disorder(&mut recs, opts.disorder, opts.seed);
    ensure_topic_with(&opts.brokers, &opts.topic, opts.partitions, opts.table.is_some()).await?;
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "120000");
    for (k, v) in &opts.client {
        cfg.set(k, v);
    }
    let producer: ThreadedProducer<Deliveries> = cfg
        .create_with_context(Deliveries::default())
        .map_err(|e| Error::Usage(format!("kafka producer for `{}`: {e}", opts.brokers)))?;
    let topic = opts.topic.clone();
    let speed = opts.speed;
    let started = Instant::now();
    let n = recs.len() as u64;
    let producer = tokio::task::spawn_blocking(move || -> Result<ThreadedProducer<Deliveries>> {
        let origin = recs.iter().find_map(|r| r.ts);
        for r in &recs {
            if speed > 0.0
                && let (Some(t0), Some(t)) = (origin, r.ts)
            {
                let due = Duration::from_secs_f64(((t - t0).max(0) as f64 / 1e6) / speed);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            send_retrying(&producer, &topic, &r.key, &r.payload)?;
        }
        producer.flush(Duration::from_secs(120)).map_err(|e| Error::Internal(format!("kafka flush: {e}")))?;
        Ok(producer)
    })
    .await
    .map_err(|e| Error::Internal(format!("producer thread: {e}")))??;
    producer.context().check(&format!("`{}` (of {n})", opts.topic))?;
    drop(producer);
    let seconds = started.elapsed().as_secs_f64();
    Ok(ProduceReport {
        topic: opts.topic.clone(),
        files: report_files,
        messages: n,
        seconds,
        messages_per_second: n as f64 / seconds.max(1e-9),
    })
}
