//! The side tables of a live run (`live.accounts`, `live.fx-rates`), kept current while
//! the job runs.
//!
//! Owns: `SideSource` (a file, a directory of files read in name order, or a compacted
//! Kafka topic `kafka:TOPIC` keyed by account id or by rate), the first load, and
//! `SideWatcher`, which looks for changes every `live.side-refresh` (files: size, time and
//! inode; topics: new messages) and sends each changed table whole, with the rows it
//! refused, to the detect stage (`SideUpdate`). The detect stage swaps it in between two
//! batches: later rows are enriched and judged with it (`Detector::side_tables_changed`).
//! Must not: judge rows. Tables are not checkpointed: a restarted job loads them again
//! from where they live, as they are then.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::config::InputConfig;
use crate::error::{Error, Result};
use crate::ingest::Rejected;
use crate::ingest::tables::{
    AccountsTable, FxTable, accounts_from_json, fx_from_json, merge_accounts, read_accounts, read_fx_file,
};

/// Where a side table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideSource {
    File(PathBuf),
    /// Every table file in the directory, in name order; a later file's account (or
    /// rate of the same day) replaces an earlier one's.
    Dir(PathBuf),
    /// A compacted topic: the latest message of each key is the row (JSON in the data
    /// contract's fields); a message without a value (tombstone) deletes its key.
    Topic {
        brokers: String,
        topic: String,
    },
}

impl SideSource {
    /// `kafka:TOPIC` (on `brokers`), a directory, or a file.
    pub fn parse(spec: &Path, brokers: &str) -> Result<SideSource> {
        let text = spec.to_string_lossy();
        if let Some(topic) = text.strip_prefix("kafka:") {
            if brokers.is_empty() || topic.is_empty() {
                return Err(Error::Usage(format!(
                    "side table `{text}`: a topic needs `kafka.brokers` (or `--kafka`) and a name after `kafka:`"
                )));
            }
            return Ok(SideSource::Topic { brokers: brokers.to_string(), topic: topic.to_string() });
        }
        Ok(if spec.is_dir() { SideSource::Dir(spec.to_path_buf()) } else { SideSource::File(spec.to_path_buf()) })
    }
}

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Accounts,
    Fx,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Accounts => "accounts",
            Table::Fx => "fx_rates",
        }
    }
}

/// A table read again: the whole new table, its rows and the rows it refused.
pub struct SideUpdate {
    pub accounts: Option<(Arc<AccountsTable>, u64)>,
    pub fx: Option<(Arc<FxTable>, u64)>,
    pub rejected: Vec<Rejected>,
}

/// One side table's source and what was last read of it.
struct Watched {
    table: Table,
    source: SideSource,
    /// Files: (name, bytes, modified, inode) of each file last read.
    signature: Vec<(String, u64, i128, u64)>,
    topic: Option<TopicTable>,
}

/// Loads the side tables, then (run as a task) looks for changes.
pub struct SideWatcher {
    watched: Vec<Watched>,
    input: InputConfig,
    every: Duration,
}

impl SideWatcher {
    /// Reads each configured table once (its first version, for the start of the run).
    pub fn load(
        accounts: Option<SideSource>,
        fx: Option<SideSource>,
        input: &InputConfig,
        every: Duration,
    ) -> Result<(SideWatcher, SideUpdate)> {
        let mut me = SideWatcher { watched: Vec::new(), input: input.clone(), every };
        let mut first = SideUpdate { accounts: None, fx: None, rejected: Vec::new() };
        for (table, source) in [(Table::Accounts, accounts), (Table::Fx, fx)] {
            let Some(source) = source else { continue };
            let topic = match &source {
                SideSource::Topic { brokers, topic } => Some(TopicTable::connect(brokers, topic)?),
                _ => None,
            };
            let mut w = Watched { table, source, signature: Vec::new(), topic };
            w.signature = signature(&w.source)?;
            if let Some(t) = w.topic.as_mut() {
                t.catch_up(Duration::from_secs(30))?;
            }
            me.read(&w, &mut first)?;
            me.watched.push(w);
        }
        Ok((me, first))
    }

    /// Whether anything is watched (a run without side tables, or with refreshing off,
    /// starts no task).
    pub fn watches(&self) -> bool {
        !self.watched.is_empty() && !self.every.is_zero()
    }

    fn read(&self, w: &Watched, into: &mut SideUpdate) -> Result<()> {
        let rej = &mut into.rejected;
        match w.table {
            Table::Accounts => {
                let (t, n) = match (&w.source, &w.topic) {
                    (SideSource::File(p), _) => read_accounts(p, &self.input, rej)?,
                    (SideSource::Dir(d), _) => {
                        let mut tables = Vec::new();
                        let mut n = 0;
                        for f in table_files(d)? {
                            let (t, k) = read_accounts(&f, &self.input, rej)?;
                            tables.push(t);
                            n += k;
                        }
                        if tables.is_empty() { (AccountsTable::empty(), 0) } else { (merge_accounts(tables)?, n) }
                    }
                    (SideSource::Topic { .. }, Some(t)) => {
                        let mut tables = Vec::new();
                        for (name, records) in t.records() {
                            tables.push(accounts_from_json(&name, &records, rej)?);
                        }
                        let n = t.latest.len() as u64;
                        if tables.is_empty() { (AccountsTable::empty(), 0) } else { (merge_accounts(tables)?, n) }
                    }
                    (SideSource::Topic { .. }, None) => unreachable!("a topic source has its reader"),
                };
                into.accounts = Some((Arc::new(t), n));
            }
            Table::Fx => {
                let mut fx = FxTable::bundled();
                let mut n = 0;
                match (&w.source, &w.topic) {
                    (SideSource::File(p), _) => {
                        let (t, k) = read_fx_file(p, &self.input, rej)?;
                        fx.overlay(t);
                        n = k;
                    }
                    (SideSource::Dir(d), _) => {
                        for f in table_files(d)? {
                            let (t, k) = read_fx_file(&f, &self.input, rej)?;
                            fx.overlay(t);
                            n += k;
                        }
                    }
                    (SideSource::Topic { .. }, Some(t)) => {
                        for (name, records) in t.records() {
                            fx.overlay(fx_from_json(&name, &records, rej));
                        }
                        n = t.latest.len() as u64;
                    }
                    (SideSource::Topic { .. }, None) => unreachable!("a topic source has its reader"),
                }
                into.fx = Some((Arc::new(fx), n));
            }
        }
        Ok(())
    }

    /// Every `every`, reads again each table whose source changed and sends it on; ends
    /// when the detect stage is gone. A table that cannot be read (a file half written,
    /// a broker away) is reported and the old one kept until the next look.
    pub fn run(mut self, out: mpsc::UnboundedSender<SideUpdate>) {
        loop {
            std::thread::sleep(self.every);
            if out.is_closed() {
                return;
            }
            let mut update = SideUpdate { accounts: None, fx: None, rejected: Vec::new() };
            for i in 0..self.watched.len() {
                let changed = match self.look(i) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("side table `{}`: {e} (the table in use is kept)", self.watched[i].table.name());
                        false
                    }
                };
                if !changed {
                    continue;
                }
                let mut one = SideUpdate { accounts: None, fx: None, rejected: Vec::new() };
                match self.read(&self.watched[i], &mut one) {
                    Ok(()) => {
                        update.accounts = one.accounts.or(update.accounts);
                        update.fx = one.fx.or(update.fx);
                        update.rejected.extend(one.rejected);
                    }
                    Err(e) => tracing::warn!(
                        "side table `{}` changed but does not read: {e} (the table in use is kept)",
                        self.watched[i].table.name()
                    ),
                }
            }
            if (update.accounts.is_some() || update.fx.is_some()) && out.send(update).is_err() {
                return;
            }
        }
    }

    /// Whether table `i`'s source changed since it was last read.
    fn look(&mut self, i: usize) -> Result<bool> {
        let w = &mut self.watched[i];
        if let Some(t) = w.topic.as_mut() {
            return t.poll(Duration::from_millis(500));
        }
        let now = signature(&w.source)?;
        if now == w.signature {
            return Ok(false);
        }
        w.signature = now;
        Ok(true)
    }
}

/// The table files of a directory, in name order (hidden and partial files left out).
fn table_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().is_some_and(|n| super::source::table_file(&n.to_string_lossy())))
        .collect();
    files.sort();
    Ok(files)
}

/// What identifies the version of a file or directory's files: name, size, modification
/// time and inode of each.
fn signature(source: &SideSource) -> Result<Vec<(String, u64, i128, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let files = match source {
        SideSource::File(p) => vec![p.clone()],
        SideSource::Dir(d) => table_files(d)?,
        SideSource::Topic { .. } => return Ok(Vec::new()),
    };
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).map_err(|e| Error::io(&f, e))?;
            let modified = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            Ok((f.display().to_string(), m.len(), modified, m.ino()))
        })
        .collect()
}

/// A compacted topic read as a table: the latest value of each key, per partition.
struct TopicTable {
    topic: String,
    consumer: BaseConsumer,
    /// (partition, key) -> (offset, value); keyless messages are keyed by their offset.
    latest: BTreeMap<(i32, Vec<u8>), (i64, String)>,
}

impl TopicTable {
    fn connect(brokers: &str, topic: &str) -> Result<TopicTable> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("mirrorflow-side-{topic}"))
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("client.id", "mirrorflow-side")
            .create()
            .map_err(|e| Error::Usage(format!("kafka side table `{topic}` on `{brokers}`: {e}")))?;
        let partitions = super::kafka::topic_partitions(consumer.client(), topic)
            .map_err(|e| Error::Usage(format!("kafka side table `{topic}` on `{brokers}`: {e}")))?;
        if partitions.is_empty() {
            return Err(Error::Usage(format!(
                "kafka side table `{topic}` on `{brokers}`: the topic has no partitions"
            )));
        }
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(topic, *p, Offset::Beginning)
                .map_err(|e| Error::Internal(format!("side table `{topic}`: {e}")))?;
        }
        consumer.assign(&tpl).map_err(|e| Error::Internal(format!("side table `{topic}`: {e}")))?;
        Ok(TopicTable { topic: topic.to_string(), consumer, latest: BTreeMap::new() })
    }

    /// Reads until every partition is at its end (or `limit` passed).
    fn catch_up(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            self.poll(Duration::from_millis(200))?;
            let behind = self.consumer.assignment().ok().is_some_and(|tpl| {
                tpl.elements().iter().any(|e| {
                    let pos = self
                        .consumer
                        .position()
                        .ok()
                        .and_then(|p| p.find_partition(e.topic(), e.partition()).map(|x| x.offset()));
                    let high = self
                        .consumer
                        .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(5))
                        .map(|(_, h)| h)
                        .unwrap_or(0);
                    match pos {
                        Some(Offset::Offset(o)) => o < high,
                        _ => high > 0,
                    }
                })
            });
            if !behind {
                return Ok(());
            }
            if started.elapsed() >= limit {
                tracing::warn!(topic = %self.topic, "side table: not at the topic's end after {limit:?}; going on");
                return Ok(());
            }
        }
    }

    /// Takes what arrived (for up to `wait`); whether any key changed.
    fn poll(&mut self, wait: Duration) -> Result<bool> {
        let mut changed = false;
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.consumer.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(m)) => {
                    let key = m.key().map_or_else(|| m.offset().to_be_bytes().to_vec(), <[u8]>::to_vec);
                    match m.payload() {
                        None => {
                            self.latest.remove(&(m.partition(), key));
                        }
                        Some(v) => {
                            let text = String::from_utf8_lossy(v).into_owned();
                            self.latest.insert((m.partition(), key), (m.offset(), text));
                        }
                    }
                    changed = true;
                }
                Some(Err(e)) => tracing::warn!("kafka side table `{}`: {e}", self.topic),
                None if Instant::now() >= until => return Ok(changed),
                None => {}
            }
        }
    }

    /// The latest records, per partition as (`kafka:<topic>/<partition>`, [(offset, text)])
    /// in offset order.
    fn records(&self) -> Vec<(String, Vec<(u64, String)>)> {
        let mut by_part: BTreeMap<i32, Vec<(u64, String)>> = BTreeMap::new();
        for ((p, _), (offset, text)) in &self.latest {
            by_part.entry(*p).or_default().push((*offset as u64, text.clone()));
        }
        by_part
            .into_iter()
            .map(|(p, mut recs)| {
                recs.sort_by_key(|r| r.0);
                (format!("kafka:{}/{p}", self.topic), recs)
            })
            .collect()
    }
}
