//! Stage 4, sinks: where a run's results go, and the summary that reconciles them.
//!
//! Owns: `Sinks`: `alerts.jsonl` (sorted at the end of a replay; appended in arrival
//! order live, with earlier live runs' files kept aside and their alerts not written
//! again), `quarantine.jsonl`, the alert store (through `store_writer`), the metrics of
//! what was read, accepted, refused and alerted, the progress counters, and
//! `summary.json`.
//! Must not: judge rows or alerts; it writes what the stages before it sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use crate::alerts::JsonlAlertSink;
use crate::error::{Error, Result};
use crate::ingest::Rejected;
use crate::ingest::quarantine::QuarantineSink;
use crate::ingest::values::format_ts;
use crate::store::RetryPolicy;

use super::detect::ToSink;
use super::progress::Progress;
use super::store_writer::StoreWriter;
use super::summary::{self, Summary};

/// How a run treats its output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// A replay recomputes its outputs and overwrites them; `alerts.jsonl` is sorted at
    /// the end, so it does not depend on the order detectors raised alerts in.
    Recompute,
    /// A live job restarted (a crash, a deploy, `restart: unless-stopped`) must not erase
    /// what the previous run wrote: its `alerts.jsonl`, `quarantine.jsonl` and
    /// `summary.json` are renamed with the time they were last written
    /// (`alerts.20260130T101500Z.jsonl`), so each run's files stay whole and reconcile on
    /// their own. The new run cuts a torn last line off the kept alert files and does not
    /// write again the alerts they hold; alerts are appended as they come.
    Append,
    /// A live run that takes checkpoints (`run --checkpoint`): its outputs belong to the
    /// checkpoint. Resumed, `alerts.jsonl` and `quarantine.jsonl` are cut back to their
    /// length at the checkpoint and continued (what came after it is raised again by the
    /// resumed run, so nothing is written twice and nothing lost), and the counts go on
    /// from the checkpoint's; started without one, they start empty.
    Checkpointed,
}

/// The sinks' part of a checkpoint: the outputs' lengths and the run's counts so far.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SinkState {
    pub alerts_bytes: u64,
    pub quarantine_bytes: u64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_outside_range: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    pub side_table_rows_quarantined: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Checkpoints taken by the job so far (this one included).
    pub checkpoints: u64,
    /// The Kafka sink topics' end offsets (`topic/partition`), everything before delivered.
    #[serde(default)]
    pub kafka_sinks: BTreeMap<String, i64>,
    /// What a resumed run found published ahead of its checkpoint and has not raised again.
    #[serde(default)]
    pub kafka_ahead: Vec<String>,
}

/// Where a run's barrier checkpoints go, and how the source position is committed.
pub struct CheckpointTarget {
    pub dir: PathBuf,
    pub committer: Option<super::source::Committer>,
    /// The state a resumed run starts from.
    pub resumed: Option<SinkState>,
}

/// Where results go (see the module docs).
pub struct Sinks {
    /// The command, as the metrics' `command` label and the summary's.
    label: String,
    mode: OutputMode,
    out_dir: PathBuf,
    alerts: JsonlAlertSink,
    kept_files: Vec<PathBuf>,
    kept: crate::alerts::KeptAlerts,
    quarantine: QuarantineSink,
    store: Option<StoreWriter>,
    progress: Arc<Progress>,
    summary: Summary,
    first_ts: i64,
    last_ts: i64,
    checkpoints: Option<CheckpointTarget>,
    checkpoints_taken: u64,
    kafka: Option<super::kafka_sink::KafkaSinks>,
    /// A resumed run's Kafka sink offsets, read back when the sinks open.
    resumed_kafka: Option<(BTreeMap<String, i64>, Vec<String>)>,
}

impl Sinks {
    /// Also publishes alerts and quarantined records to Kafka topics (see
    /// `pipeline::kafka_sink`); a resumed run reads them back from its checkpoint first.
    pub async fn with_kafka(
        mut self,
        brokers: &str,
        alerts: Option<String>,
        quarantine: Option<String>,
    ) -> Result<Self> {
        if brokers.is_empty() {
            return Err(Error::Usage(
                "`kafka.alerts-topic` / `kafka.quarantine-topic` need `kafka.brokers` (or `--kafka`)".into(),
            ));
        }
        for t in alerts.iter().chain(quarantine.iter()) {
            crate::produce::ensure_topic(brokers, t, 4).await?;
        }
        let resume = self.resumed_kafka.take();
        let b = brokers.to_string();
        let k = tokio::task::spawn_blocking(move || {
            super::kafka_sink::KafkaSinks::open(&b, alerts, quarantine, resume.as_ref().map(|(o, a)| (o, a.as_slice())))
        })
        .await
        .map_err(|e| Error::Internal(format!("kafka sinks: {e}")))??;
        self.kafka = Some(k);
        Ok(self)
    }

    /// Opens every output in `out_dir` (and the store at `store`, if any); the side
    /// tables' refused rows go to quarantine first, counted apart.
    pub async fn open(
        label: &str,
        mode: OutputMode,
        out_dir: &Path,
        store: Option<(&str, RetryPolicy)>,
        side_rejected: &[Rejected],
        progress: Arc<Progress>,
        checkpoints: Option<CheckpointTarget>,
    ) -> Result<Self> {
        std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        if mode == OutputMode::Append {
            keep_previous_outputs(out_dir)?;
        }
        let resumed = checkpoints.as_ref().and_then(|c| c.resumed.clone());
        if let Some(st) = resumed {
            return Self::resume(label, out_dir, store, progress, checkpoints, st).await;
        }
        let mut alerts = JsonlAlertSink::create(&out_dir.join("alerts.jsonl"))?;
        let kept_files = match mode {
            OutputMode::Append => kept_alert_files(out_dir)?,
            OutputMode::Recompute | OutputMode::Checkpointed => Vec::new(),
        };
        let kept = alerts.skip_kept(&kept_files)?;
        // the alert store is written on its own thread, one transaction per batch
        let store = match store {
            Some((url, retry)) => Some(StoreWriter::start(url, retry, out_dir).await?),
            None => None,
        };
        let mut quarantine = QuarantineSink::create(&out_dir.join("quarantine.jsonl"))?;
        quarantine.write_all(side_rejected)?;
        let summary = Summary {
            mirrorflow_version: env!("CARGO_PKG_VERSION").into(),
            command: label.to_string(),
            side_table_rows_quarantined: quarantine.total,
            ..Default::default()
        };
        quarantine.by_reason.clear();
        quarantine.total = 0;
        Ok(Sinks {
            label: label.to_string(),
            mode,
            out_dir: out_dir.to_path_buf(),
            alerts,
            kept_files,
            kept,
            quarantine,
            store,
            progress,
            summary,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            checkpoints,
            checkpoints_taken: 0,
            kafka: None,
            resumed_kafka: None,
        })
    }

    /// Continues the outputs of a checkpoint (see [`OutputMode::Checkpointed`]).
    async fn resume(
        label: &str,
        out_dir: &Path,
        store: Option<(&str, RetryPolicy)>,
        progress: Arc<Progress>,
        checkpoints: Option<CheckpointTarget>,
        st: SinkState,
    ) -> Result<Self> {
        let alerts = JsonlAlertSink::resume(&out_dir.join("alerts.jsonl"), st.alerts_bytes)?;
        let mut by_reason = BTreeMap::new();
        for (k, v) in &st.quarantined_by_reason {
            let r = crate::ingest::Reason::ALL.into_iter().find(|r| r.as_str() == k).ok_or_else(|| {
                Error::Internal(format!("checkpoint: unknown quarantine reason `{k}` (made by another version?)"))
            })?;
            by_reason.insert(r, *v);
        }
        let quarantine = QuarantineSink::resume(&out_dir.join("quarantine.jsonl"), st.quarantine_bytes, by_reason)?;
        let store = match store {
            Some((url, retry)) => Some(StoreWriter::start(url, retry, out_dir).await?),
            None => None,
        };
        progress.alerts.store(alerts.written, Ordering::Relaxed);
        progress.processed.store(st.rows_accepted, Ordering::Relaxed);
        tracing::info!(
            alerts = alerts.written,
            rows_read = st.rows_read,
            "resumed the outputs of checkpoint {}",
            st.checkpoints
        );
        let summary = Summary {
            mirrorflow_version: env!("CARGO_PKG_VERSION").into(),
            command: label.to_string(),
            side_table_rows_quarantined: st.side_table_rows_quarantined,
            rows_read: st.rows_read,
            rows_accepted: st.rows_accepted,
            rows_outside_range: st.rows_outside_range,
            ..Default::default()
        };
        Ok(Sinks {
            label: label.to_string(),
            mode: OutputMode::Checkpointed,
            out_dir: out_dir.to_path_buf(),
            alerts,
            kept_files: Vec::new(),
            kept: Default::default(),
            quarantine,
            store,
            progress,
            summary,
            first_ts: st.first_ts,
            last_ts: st.last_ts,
            checkpoints,
            checkpoints_taken: st.checkpoints,
            kafka: None,
            resumed_kafka: Some((st.kafka_sinks.clone(), st.kafka_ahead.clone())),
        })
    }

    /// A barrier's checkpoint: every output written before it is flushed and synced (the
    /// store's batches stored), then the checkpoint is written with the outputs' lengths
    /// and counts, then the source position committed.
    async fn checkpoint(&mut self, snap: Box<super::detect::Snapshot>) -> Result<()> {
        let Some(target) = self.checkpoints.as_ref() else { return Ok(()) };
        let started = std::time::Instant::now();
        let alerts_bytes = self.alerts.sync()?;
        let quarantine_bytes = self.quarantine.sync()?;
        if let Some(st) = &self.store {
            st.sync().await;
        }
        let (kafka_sinks, kafka_ahead) = match self.kafka.as_mut() {
            Some(k) => (tokio::task::block_in_place(|| k.sync())?, k.ahead()),
            None => (BTreeMap::new(), Vec::new()),
        };
        self.checkpoints_taken += 1;
        let state = SinkState {
            alerts_bytes,
            quarantine_bytes,
            rows_read: self.summary.rows_read,
            rows_accepted: self.summary.rows_accepted,
            rows_outside_range: self.summary.rows_outside_range,
            quarantined_by_reason: self
                .quarantine
                .by_reason
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            side_table_rows_quarantined: self.summary.side_table_rows_quarantined,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            checkpoints: self.checkpoints_taken,
            kafka_sinks,
            kafka_ahead,
        };
        let dir = target.dir.clone();
        let position = snap.order.position.clone();
        tokio::task::spawn_blocking(move || super::checkpoint::save_snapshot(&dir, *snap, state))
            .await
            .map_err(|e| Error::Internal(format!("checkpoint writer: {e}")))??;
        if let Some(commit) = &target.committer
            && let Err(e) = commit(&position)
        {
            // the checkpoint holds the position: a restart reads on from it all the same
            tracing::warn!("the checkpoint is written but committing the source position failed: {e}");
        }
        let took = started.elapsed().as_secs_f64();
        let m = crate::metrics::metrics();
        m.checkpoints.inc();
        m.checkpoint_seconds.observe(took);
        tracing::debug!(seconds = took, n = self.checkpoints_taken, "checkpoint written");
        Ok(())
    }

    /// The summary being filled (inputs and side-table counts are set by the pipeline).
    pub fn summary_mut(&mut self) -> &mut Summary {
        &mut self.summary
    }

    /// Takes what the detect stage sends until it ends.
    pub async fn run(&mut self, mut input: mpsc::Receiver<ToSink>) -> Result<()> {
        let mut busy = std::time::Duration::ZERO;
        while let Some(msg) = input.recv().await {
            let t = std::time::Instant::now();
            match msg {
                ToSink::Meta { read, rejected, outside } => self.counts(read, &rejected, outside)?,
                ToSink::Processed { rows, first_ts, last_ts, unknown_channels } => {
                    self.processed(rows, first_ts, last_ts, unknown_channels)
                }
                ToSink::Alerts(alerts) => self.alerts(alerts)?,
                ToSink::SideTables { accounts_rows, fx_rate_rows, rejected } => {
                    self.side_tables(accounts_rows, fx_rate_rows, &rejected)?
                }
                ToSink::Checkpoint(snap) => self.checkpoint(snap).await?,
                ToSink::End { window_rows, window_max, missing_fx, notes, busy: parts } => {
                    crate::metrics::metrics().window_transactions.set(window_rows as i64);
                    let s = &mut self.summary;
                    s.detector_notes = notes;
                    s.window_rows_at_end = window_rows;
                    s.window_rows_max = window_max;
                    s.rows_without_fx_rate = missing_fx;
                    s.timings.stages.extend(parts);
                }
            }
            busy += t.elapsed();
        }
        self.summary.timings.stages.insert("sinks".into(), busy.as_secs_f64());
        Ok(())
    }

    fn counts(&mut self, read: u64, rejected: &[Rejected], outside: u64) -> Result<()> {
        let m = crate::metrics::metrics();
        m.rows_read.with_label_values(&[&self.label]).inc_by(read);
        m.rows_outside_range.with_label_values(&[&self.label]).inc_by(outside);
        for r in rejected {
            m.rows_quarantined.with_label_values(&[self.label.as_str(), r.reason.as_str()]).inc();
        }
        self.summary.rows_read += read;
        self.summary.rows_outside_range += outside;
        if let Some(k) = self.kafka.as_mut() {
            k.quarantine(rejected)?;
        }
        self.quarantine.write_all(rejected)
    }

    /// Side tables read again: their refused rows are quarantined and counted apart
    /// from transactions (as at the start of the run), so read = accepted + quarantined
    /// still holds for transactions.
    fn side_tables(
        &mut self,
        accounts_rows: Option<u64>,
        fx_rate_rows: Option<u64>,
        rejected: &[Rejected],
    ) -> Result<()> {
        let (total, by_reason) = (self.quarantine.total, self.quarantine.by_reason.clone());
        self.quarantine.write_all(rejected)?;
        (self.quarantine.total, self.quarantine.by_reason) = (total, by_reason);
        if let Some(k) = self.kafka.as_mut() {
            k.quarantine(rejected)?;
        }
        let s = &mut self.summary;
        s.side_table_rows_quarantined += rejected.len() as u64;
        s.side_table_refreshes += 1;
        if let Some(n) = accounts_rows {
            s.accounts_rows = n;
        }
        if let Some(n) = fx_rate_rows {
            s.fx_rate_rows = n;
        }
        Ok(())
    }

    fn processed(&mut self, rows: u64, first: i64, last: i64, unknown_channels: BTreeMap<String, u64>) {
        let m = crate::metrics::metrics();
        let now = chrono::Utc::now().timestamp_micros();
        m.rows_accepted.with_label_values(&[&self.label]).inc_by(rows);
        m.watermark_seconds.set(last as f64 / 1e6);
        m.last_batch_seconds.set(now as f64 / 1e6);
        m.event_time_lag_seconds.set(now.saturating_sub(last) as f64 / 1e6);
        self.summary.rows_accepted += rows;
        self.first_ts = self.first_ts.min(first);
        self.last_ts = self.last_ts.max(last);
        self.progress.processed.fetch_add(rows, Ordering::Relaxed);
        self.progress.event_time.store(last, Ordering::Relaxed);
        let seen = &mut self.summary.unknown_channels;
        for (k, v) in unknown_channels {
            if seen.len() < 100 || seen.contains_key(&k) {
                *seen.entry(k).or_default() += v;
            }
        }
    }

    fn alerts(&mut self, alerts: Vec<crate::alerts::Alert>) -> Result<()> {
        let mut fresh = Vec::new();
        let m = crate::metrics::metrics();
        for a in alerts {
            if self.alerts.write(&a)? {
                m.alerts.with_label_values(&[&a.rule_id, &a.typology, a.severity.as_str()]).inc();
                let usd: f64 = a.amount_usd.parse().unwrap_or(0.0);
                if usd.is_finite() && usd > 0.0 {
                    m.alert_value_usd.with_label_values(&[&a.typology]).inc_by(usd);
                }
                fresh.push(a);
            }
        }
        // every batch reaches the file whole before the next is taken
        self.alerts.flush()?;
        if let Some(k) = self.kafka.as_mut() {
            k.alerts(&fresh)?;
        }
        if let Some(st) = &self.store
            && !fresh.is_empty()
        {
            st.send(fresh);
        }
        self.progress.alerts.store(self.alerts.written, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the outputs: the alert file (sorted in a replay) and quarantine, then the
    /// store. Returns the store's error, if it failed, to be raised after the summary.
    pub fn close(&mut self) -> Result<Option<Error>> {
        match self.mode {
            OutputMode::Recompute => self.alerts.finish_sorted()?,
            OutputMode::Append | OutputMode::Checkpointed => self.alerts.flush()?,
        }
        self.quarantine.flush()?;
        if let Some(k) = self.kafka.as_mut() {
            k.sync()?;
            tracing::info!(published = k.sent, already_published = k.skipped, "kafka sinks");
        }
        let (store_summary, store_err) = match self.store.take().map(StoreWriter::finish) {
            Some((sum, err)) => (Some(sum), err),
            None => (None, None),
        };
        self.summary.store = store_summary;
        Ok(store_err)
    }

    /// Completes the summary, writes `summary.json` and returns it.
    pub fn write_summary(mut self, seconds: f64) -> Result<Summary> {
        let s = &mut self.summary;
        s.rows_quarantined = self.quarantine.total;
        s.quarantined_by_reason = self.quarantine.by_reason.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect();
        s.alerts_written = self.alerts.written;
        s.alerts_by_rule = self.alerts.by_rule.clone();
        s.alerts_by_typology = self.alerts.by_typology.clone();
        if !self.kept_files.is_empty() {
            s.kept_alerts = Some(summary::KeptAlertsSummary {
                files: self.kept_files.len() as u64,
                alert_ids: self.kept.ids,
                not_written_again: self.alerts.skipped_kept,
                torn_lines_cut: self.kept.torn_lines_cut,
            });
        }
        if self.first_ts != i64::MAX {
            s.first_event_time = Some(format_ts(self.first_ts));
            s.last_event_time = Some(format_ts(self.last_ts));
        }
        s.timings.total_seconds = seconds;
        s.timings.rows_per_second = s.rows_accepted as f64 / seconds.max(1e-9);
        s.reconcile();
        let path = self.out_dir.join("summary.json");
        let text = serde_json::to_string_pretty(&s).map_err(|e| Error::io(&path, e.into()))?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
        Ok(self.summary)
    }
}

/// Renames the previous live run's outputs (see [`OutputMode::Append`]).
fn keep_previous_outputs(dir: &Path) -> Result<()> {
    for name in ["alerts.jsonl", "quarantine.jsonl", "summary.json"] {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let when: chrono::DateTime<chrono::Utc> =
            meta.modified().map(Into::into).unwrap_or_else(|_| chrono::Utc::now());
        let (stem, ext) = name.split_once('.').expect("names have an extension");
        let mut kept = dir.join(format!("{stem}.{}.{ext}", when.format("%Y%m%dT%H%M%SZ")));
        let mut n = 1;
        while kept.exists() {
            kept = dir.join(format!("{stem}.{}-{n}.{ext}", when.format("%Y%m%dT%H%M%SZ")));
            n += 1;
        }
        std::fs::rename(&path, &kept).map_err(|e| Error::io(&path, e))?;
        tracing::info!(from = %path.display(), to = %kept.display(), "kept the previous run's output");
    }
    Ok(())
}

/// The alert files earlier live runs left in `dir` (`alerts.<time>.jsonl`), in name order.
fn kept_alert_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("alerts.") && n.ends_with(".jsonl") && n != "alerts.jsonl" && n.matches('.').count() == 2
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}
