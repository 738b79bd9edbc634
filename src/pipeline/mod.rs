//! The pipeline: source -> order (watermarks, time range, pacing) -> enrich + window +
//! detectors -> sinks, joined by bounded channels so a slow stage holds back the ones
//! before it instead of buffering without end.
//!
//! Owns: wiring the stages, counting for the summary, writing `alerts.jsonl`,
//! `quarantine.jsonl` and `summary.json`, and stopping cleanly at the end of input or
//! on Ctrl-C. Must not: parse inputs (`ingest`) or decide what is suspicious
//! (detectors).

pub mod checkpoint;
pub mod detect;
pub mod enrich;
pub mod order;
pub mod progress;
pub mod sort;
pub mod source;
pub mod store_writer;
pub mod summary;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt64Array};
use arrow::datatypes::UInt64Type;
use tokio::sync::mpsc;

use crate::alerts::{Alert, JsonlAlertSink};
use crate::config::ProgressMode;
use crate::error::{Error, Result};
use crate::ingest::parquet::ParquetOut;
use crate::ingest::quarantine::{QuarantineSink, render_row};
use crate::ingest::values::format_ts;
use crate::ingest::{Chunk, Reason, Rejected};
use crate::schema::{KNOWN_CHANNELS, tx};

pub use detect::{DetectCtx, Detector};
pub use source::{DirSource, ReplaySource, Source, StdinSource};
pub use summary::Summary;

use order::{Orderer, ts_column};
use progress::{Progress, Ticker};
use store_writer::StoreWriter;
use window::EventWindow;

/// Everything a run needs besides its source.
pub struct Pipeline {
    /// `replay` or `run`, for the summary.
    pub command: String,
    pub ctx: DetectCtx,
    pub detectors: Vec<Box<dyn Detector>>,
    /// Batches in flight between stages.
    pub channel_capacity: usize,
    /// Most rows taken together for the detectors when batches are waiting.
    pub detect_rows: usize,
    pub window_us: i64,
    pub lateness_us: i64,
    /// Inclusive start and exclusive end of event time to process (µs).
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// 0: as fast as possible; N: N x real time.
    pub speed: f64,
    pub out_dir: PathBuf,
    pub progress: ProgressMode,
    /// Side tables' counts for the summary.
    pub accounts_rows: u64,
    pub fx_rate_rows: u64,
    /// Side tables' refused rows (written to quarantine first).
    pub side_rejected: Vec<Rejected>,
    /// Also write the ordered, enriched stream to `ordered.parquet`.
    pub write_ordered: bool,
    /// Start from this checkpoint (window, detectors' state, `seq` and watermark).
    pub resume: Option<checkpoint::Checkpoint>,
    /// End in a checkpoint written here instead of closing open episodes.
    pub checkpoint: Option<PathBuf>,
    /// Also keep the alerts in this alert store (`crate::store`).
    pub store: Option<String>,
    /// How store writes are retried before alerts go to the spool (`store_writer`).
    pub store_retry: crate::store::RetryPolicy,
    /// Rows dated more than this after the wall clock are refused as `future_timestamp`
    /// (µs; `None`: no check).
    pub future_lead_us: Option<i64>,
    /// Live runs: after this much silence the watermark moves up to the newest event
    /// time (`None`: never, as in replays).
    pub idle_advance: Option<Duration>,
}

/// What the order stage sends on.
enum Ordered {
    Batch(RecordBatch),
    Meta {
        read: u64,
        rejected: Vec<Rejected>,
        outside: u64,
    },
    /// At the end, for a checkpoint: fingerprints of every tx_id processed (in range).
    Ids(Vec<u128>),
}

/// What the detect stage sends to the sinks.
enum ToSink {
    Meta { read: u64, rejected: Vec<Rejected>, outside: u64 },
    Processed { rows: u64, first_ts: i64, last_ts: i64, unknown_channels: BTreeMap<String, u64> },
    Alerts(Vec<Alert>),
    End { window_rows: u64, window_max: u64, missing_fx: BTreeMap<String, u64>, notes: Vec<summary::DetectorNote> },
}

/// Continues a checkpoint's arrival numbering: `seq` + `offset`.
fn offset_seq(batch: RecordBatch, offset: u64) -> Result<RecordBatch> {
    if offset == 0 || batch.num_rows() == 0 {
        return Ok(batch);
    }
    let i = batch.schema().index_of(tx::SEQ).map_err(|e| Error::arrow("seq column", e))?;
    let shifted = arrow::compute::kernels::numeric::add(batch.column(i), &UInt64Array::new_scalar(offset))
        .map_err(|e| Error::arrow("numbering rows after a checkpoint", e))?;
    let mut cols = batch.columns().to_vec();
    cols[i] = shifted;
    RecordBatch::try_new(batch.schema(), cols).map_err(|e| Error::arrow("numbering rows after a checkpoint", e))
}

/// Every row of `batch` refused for its time, with `reason` and the message `why(tx_id,
/// event time)`.
fn time_records(
    batch: &RecordBatch,
    source: &str,
    reason: Reason,
    why: impl Fn(&str, String) -> String,
) -> Vec<Rejected> {
    let ids = batch.column_by_name(tx::TX_ID).expect("tx_id").as_string::<i32>();
    let ts = ts_column(batch);
    (0..batch.num_rows())
        .map(|i| {
            let message = why(ids.value(i), format_ts(ts.value(i)));
            Rejected::new(source, 0, tx::TS, reason, &message, render_row(batch, i).as_bytes())
        })
        .collect()
}

fn future_records(batch: &RecordBatch, source: &str, limit: i64, lead_us: i64) -> Vec<Rejected> {
    time_records(batch, source, Reason::FutureTimestamp, |id, ts| {
        format!(
            "tx_id `{id}` at {ts} is dated after {} (the clock plus `pipeline.max-future-lead` {}s)",
            format_ts(limit),
            lead_us / 1_000_000
        )
    })
}

fn late_records(batch: &RecordBatch, source: &str, watermark: i64, lateness_us: i64) -> Vec<Rejected> {
    time_records(batch, source, Reason::LateEvent, |id, ts| {
        format!(
            "tx_id `{id}` at {ts} arrived after the watermark {} (allowed lateness {}s)",
            format_ts(watermark),
            lateness_us / 1_000_000
        )
    })
}

impl Pipeline {
    /// Runs `source` through the stages to the end of its input (or Ctrl-C) and writes
    /// the outputs; returns the summary.
    pub async fn run(mut self, source: Box<dyn Source>) -> Result<Summary> {
        let started = Instant::now();
        crate::metrics::READY.store(true, std::sync::atomic::Ordering::Relaxed);
        {
            // every series this job can count, at 0 from the start: rates and reject shares
            // are defined before the first reject
            let m = crate::metrics::metrics();
            m.rows_read.with_label_values(&[&self.command]);
            m.rows_accepted.with_label_values(&[&self.command]);
            m.rows_outside_range.with_label_values(&[&self.command]);
            for r in crate::ingest::quarantine::Reason::ALL {
                m.rows_quarantined.with_label_values(&[self.command.as_str(), r.as_str()]);
            }
        }
        std::fs::create_dir_all(&self.out_dir).map_err(|e| Error::io(&self.out_dir, e))?;
        if self.command == "run" {
            keep_previous_outputs(&self.out_dir)?;
        }
        let mut alerts_out = JsonlAlertSink::create(&self.out_dir.join("alerts.jsonl"))?;
        // a restarted live run: earlier runs' alerts are not written again
        let kept_files = if self.command == "run" { kept_alert_files(&self.out_dir)? } else { Vec::new() };
        let kept = alerts_out.skip_kept(&kept_files)?;
        // the alert store is written on its own thread, one transaction per batch
        let store = match &self.store {
            Some(url) => Some(StoreWriter::start(url, self.store_retry, &self.out_dir).await?),
            None => None,
        };
        let mut quarantine = QuarantineSink::create(&self.out_dir.join("quarantine.jsonl"))?;
        quarantine.write_all(&self.side_rejected)?;
        let side_quarantined = quarantine.total;
        quarantine.by_reason.clear();
        quarantine.total = 0;

        let progress = Arc::new(Progress::default());
        let ticker = Ticker::start(progress.clone(), self.progress);
        let inputs = source.inputs();
        let is_dir_source = source.is_dir();
        let source_name = inputs.join(", ");
        let enrich_source = source_name.clone();
        let cap = self.channel_capacity;

        // Stage 1: the source.
        let (src_tx, mut src_rx) = mpsc::channel::<Chunk>(cap);
        let src_progress = progress.clone();
        let source_task = tokio::spawn(async move {
            tokio::select! {
                r = source.run(src_tx, src_progress) => r,
                _ = crate::shutdown_signal() => {
                    tracing::warn!("interrupted: flushing what was read");
                    source::STOPPING.store(true, Ordering::Relaxed);
                    Ok(())
                }
            }
        });

        // Stage 2: time range, watermarks, pacing.
        let (ord_tx, mut ord_rx) = mpsc::channel::<Ordered>(cap);
        let (from_us, to_us, lateness_us, speed) = (self.from_us, self.to_us, self.lateness_us, self.speed);
        let (future_lead_us, idle_advance) = (self.future_lead_us, self.idle_advance);
        let resume = self.resume.take();
        let seq_offset = resume.as_ref().map_or(0, |c| c.state.next_seq);
        let resume_ts = resume.as_ref().map(|c| c.state.max_ts);
        // A checkpoint carries the ids processed (the resumed ones and this run's rows in
        // range), so a resumed run refuses the rows it overlaps as duplicates.
        let mut processed_ids: Option<Vec<u128>> =
            self.checkpoint.is_some().then(|| resume.as_ref().map(|c| c.seen_ids.clone()).unwrap_or_default());
        let order_task = tokio::spawn(async move {
            let mut orderer = Orderer::new(lateness_us);
            if let Some(ts) = resume_ts {
                orderer.resume_at(ts);
            }
            let mut pacer = Pacer::new(speed);
            loop {
                let chunk = match idle_advance {
                    None => src_rx.recv().await,
                    Some(quiet) => match tokio::time::timeout(quiet, src_rx.recv()).await {
                        Ok(c) => c,
                        Err(_) => {
                            // live and silent: what is held goes on to the detectors
                            if let Some(b) = orderer.advance_idle()?
                                && !pacer.send(b, &ord_tx).await
                            {
                                break;
                            }
                            continue;
                        }
                    },
                };
                let Some(chunk) = chunk else { break };
                let Chunk { batch, mut rejected, rows_read } = chunk;
                let batch = offset_seq(batch, seq_offset)?;
                let (batch, outside) = filter_range(batch, from_us, to_us)?;
                if let Some(ids) = processed_ids.as_mut() {
                    let col = batch.column_by_name(tx::TX_ID).expect("tx_id").as_string::<i32>();
                    ids.extend(col.iter().map(|v| crate::ingest::fingerprint(v.unwrap_or("").as_bytes())));
                }
                let future_limit =
                    future_lead_us.map_or(i64::MAX, |lead| chrono::Utc::now().timestamp_micros().saturating_add(lead));
                let released = orderer.push_limited(batch, future_limit)?;
                if let Some(late) = &released.late {
                    rejected.extend(late_records(late, &source_name, orderer.watermark(), lateness_us));
                }
                if let (Some(future), Some(lead)) = (&released.future, future_lead_us) {
                    rejected.extend(future_records(future, &source_name, future_limit, lead));
                }
                if ord_tx.send(Ordered::Meta { read: rows_read, rejected, outside }).await.is_err() {
                    break;
                }
                if let Some(b) = released.ordered
                    && !pacer.send(b, &ord_tx).await
                {
                    break;
                }
            }
            if let Some(b) = orderer.flush()? {
                pacer.send(b, &ord_tx).await;
            }
            if let Some(ids) = processed_ids {
                let _ = ord_tx.send(Ordered::Ids(ids)).await;
            }
            Ok::<(), Error>(())
        });

        // Stage 3: enrich, window, detectors (off the async threads).
        let (sink_tx, mut sink_rx) = mpsc::channel::<ToSink>(cap);
        let ctx = self.ctx.clone();
        let mut detectors = std::mem::take(&mut self.detectors);
        let window_us = self.window_us;
        let detect_rows = self.detect_rows;
        let mut ordered_out = match self.write_ordered {
            true => Some(ParquetOut::create(&self.out_dir.join("ordered.parquet"), crate::schema::enriched_schema())?),
            false => None,
        };
        let checkpoint_dir = self.checkpoint.clone();
        let detect_task = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut enricher = enrich::Enricher::new(ctx.fx.clone(), ctx.accounts.clone());
            let mut window = EventWindow::new(window_us);
            let mut next_seq = seq_offset;
            let mut max_ts = i64::MIN;
            if let Some(mut c) = resume {
                for b in c.window.drain(..) {
                    window.push(b);
                }
                max_ts = c.state.max_ts;
                for d in detectors.iter_mut() {
                    d.load_state(c.state.detectors.remove(d.id()).unwrap_or(serde_json::Value::Null))?;
                }
            }
            let mut window_max = 0u64;
            let mut seen_ids = Vec::new();
            while let Some(msg) = ord_rx.blocking_recv() {
                // Adaptive micro-batches: batches already waiting are taken together (up
                // to `detect_rows`), so a replay or a stream that ran ahead is judged in
                // fewer, larger steps, while a live stream that keeps up is not delayed.
                // Results do not depend on how rows are batched.
                let msg = match msg {
                    Ordered::Batch(first) => {
                        let mut parts = vec![first];
                        let mut rows = parts[0].num_rows();
                        while rows < detect_rows {
                            match ord_rx.try_recv() {
                                Ok(Ordered::Batch(b)) => {
                                    rows += b.num_rows();
                                    parts.push(b);
                                }
                                Ok(Ordered::Meta { read, rejected, outside }) => {
                                    // counts and refused rows: on to the sinks at once
                                    if sink_tx.blocking_send(ToSink::Meta { read, rejected, outside }).is_err() {
                                        return Ok(());
                                    }
                                }
                                Ok(Ordered::Ids(ids)) => seen_ids = ids,
                                Err(_) => break,
                            }
                        }
                        if parts.len() == 1 {
                            Ordered::Batch(parts.pop().expect("one"))
                        } else {
                            Ordered::Batch(
                                arrow::compute::concat_batches(&parts[0].schema(), &parts)
                                    .map_err(|e| Error::arrow("joining batches", e))?,
                            )
                        }
                    }
                    other => other,
                };
                match msg {
                    Ordered::Meta { read, rejected, outside } => {
                        if sink_tx.blocking_send(ToSink::Meta { read, rejected, outside }).is_err() {
                            return Ok(());
                        }
                    }
                    Ordered::Ids(ids) => seen_ids = ids,
                    Ordered::Batch(b) => {
                        let seqs = b.column_by_name(tx::SEQ).expect("seq").as_primitive::<UInt64Type>();
                        next_seq = next_seq.max(arrow::compute::max(seqs).map_or(0, |m| m + 1));
                        let (enriched, out_of_range) = enricher.enrich(&b, &enrich_source)?;
                        if !out_of_range.is_empty() {
                            // refused here, after ingest: counted as quarantined (read
                            // already counted them), so read = accepted + quarantined holds
                            let meta = ToSink::Meta { read: 0, rejected: out_of_range, outside: 0 };
                            if sink_tx.blocking_send(meta).is_err() {
                                return Ok(());
                            }
                        }
                        if enriched.num_rows() == 0 {
                            continue;
                        }
                        if let Some(w) = ordered_out.as_mut() {
                            w.write(&enriched)?;
                        }
                        window.push(enriched.clone());
                        window_max = window_max.max(window.rows() as u64);
                        crate::metrics::metrics().window_transactions.set(window.rows() as i64);
                        max_ts = max_ts.max(window.now());
                        let alerts = run_detectors(&mut detectors, &enriched, &window, &ctx)?;
                        let ts = ts_column(&enriched);
                        let mut unknown_channels = BTreeMap::new();
                        let ch = enriched.column_by_name(tx::CHANNEL).expect("channel").as_string::<i32>();
                        let mut known: HashMap<&str, bool, foldhash::fast::RandomState> = HashMap::default();
                        for c in ch.iter().flatten() {
                            if !*known.entry(c).or_insert_with(|| KNOWN_CHANNELS.contains(&c)) {
                                *unknown_channels.entry(c.to_string()).or_insert(0u64) += 1;
                            }
                        }
                        let processed = ToSink::Processed {
                            rows: enriched.num_rows() as u64,
                            first_ts: ts.value(0),
                            last_ts: ts.value(ts.len() - 1),
                            unknown_channels,
                        };
                        if sink_tx.blocking_send(processed).is_err() {
                            return Ok(());
                        }
                        if !alerts.is_empty() && sink_tx.blocking_send(ToSink::Alerts(alerts)).is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            if let Some(w) = ordered_out.take() {
                w.close()?;
            }
            let mut alerts = Vec::new();
            match &checkpoint_dir {
                // Open episodes stay open: the next run resumes them.
                Some(dir) => {
                    let mut state = checkpoint::CheckpointState {
                        format: checkpoint::FORMAT,
                        next_seq,
                        max_ts,
                        window_rows: window.rows() as u64,
                        ..Default::default()
                    };
                    for d in detectors.iter() {
                        state.detectors.insert(d.id().to_string(), d.save_state()?);
                    }
                    checkpoint::save(dir, &state, &window, &seen_ids)?;
                }
                None => {
                    for d in detectors.iter_mut() {
                        alerts.extend(d.on_finish(&window, &ctx)?);
                    }
                }
            }
            if !alerts.is_empty() {
                let _ = sink_tx.blocking_send(ToSink::Alerts(alerts));
            }
            let notes: Vec<summary::DetectorNote> = detectors.iter().flat_map(|d| d.notes()).collect();
            for n in &notes {
                n.log();
            }
            let _ = sink_tx.blocking_send(ToSink::End {
                window_rows: window.rows() as u64,
                window_max,
                missing_fx: enricher.missing_rate.clone(),
                notes,
            });
            Ok(())
        });

        // Stage 4: the sinks, here.
        let mut s = Summary {
            mirrorflow_version: env!("CARGO_PKG_VERSION").into(),
            command: self.command.clone(),
            inputs,
            accounts_rows: self.accounts_rows,
            fx_rate_rows: self.fx_rate_rows,
            side_table_rows_quarantined: side_quarantined,
            ..Default::default()
        };
        let mut first_ts = i64::MAX;
        let mut last_ts = i64::MIN;
        while let Some(msg) = sink_rx.recv().await {
            match msg {
                ToSink::Meta { read, rejected, outside } => {
                    let m = crate::metrics::metrics();
                    m.rows_read.with_label_values(&[&self.command]).inc_by(read);
                    m.rows_outside_range.with_label_values(&[&self.command]).inc_by(outside);
                    for r in &rejected {
                        m.rows_quarantined.with_label_values(&[self.command.as_str(), r.reason.as_str()]).inc();
                    }
                    s.rows_read += read;
                    s.rows_outside_range += outside;
                    quarantine.write_all(&rejected)?;
                }
                ToSink::Processed { rows, first_ts: a, last_ts: b, unknown_channels } => {
                    let m = crate::metrics::metrics();
                    m.rows_accepted.with_label_values(&[&self.command]).inc_by(rows);
                    m.watermark_seconds.set(b as f64 / 1e6);
                    m.last_batch_seconds.set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
                    m.event_time_lag_seconds.set(chrono::Utc::now().timestamp_micros().saturating_sub(b) as f64 / 1e6);
                    s.rows_accepted += rows;
                    first_ts = first_ts.min(a);
                    last_ts = last_ts.max(b);
                    progress.processed.fetch_add(rows, Ordering::Relaxed);
                    progress.event_time.store(b, Ordering::Relaxed);
                    for (k, v) in unknown_channels {
                        if s.unknown_channels.len() < 100 || s.unknown_channels.contains_key(&k) {
                            *s.unknown_channels.entry(k).or_default() += v;
                        }
                    }
                }
                ToSink::Alerts(alerts) => {
                    let mut fresh = Vec::new();
                    let m = crate::metrics::metrics();
                    for a in &alerts {
                        if alerts_out.write(a)? {
                            m.alerts.with_label_values(&[&a.rule_id, &a.typology, a.severity.as_str()]).inc();
                            let usd: f64 = a.amount_usd.parse().unwrap_or(0.0);
                            if usd.is_finite() && usd > 0.0 {
                                m.alert_value_usd.with_label_values(&[&a.typology]).inc_by(usd);
                            }
                            fresh.push(a.clone());
                        }
                    }
                    // every batch reaches the file whole before the next is taken
                    alerts_out.flush()?;
                    if let Some(st) = &store
                        && !fresh.is_empty()
                    {
                        st.send(fresh);
                    }
                    progress.alerts.store(alerts_out.written, Ordering::Relaxed);
                }
                ToSink::End { window_rows, window_max, missing_fx, notes } => {
                    s.detector_notes = notes;
                    crate::metrics::metrics().window_transactions.set(window_rows as i64);
                    s.window_rows_at_end = window_rows;
                    s.window_rows_max = window_max;
                    s.rows_without_fx_rate = missing_fx;
                }
            }
        }
        // Surface the first stage error, source first (it explains the others).
        let source_res = source_task.await.map_err(|e| Error::Internal(format!("source task: {e}")))?;
        let order_res = order_task.await.map_err(|e| Error::Internal(format!("order task: {e}")))?;
        let detect_res = detect_task.await.map_err(|e| Error::Internal(format!("detect task: {e}")))?;
        drop(ticker);
        if self.command == "replay" {
            alerts_out.finish_sorted()?;
        } else {
            alerts_out.flush()?;
        }
        quarantine.flush()?;
        let stored = store.map(StoreWriter::finish);
        source_res?;
        order_res?;
        detect_res?;

        s.rows_quarantined = quarantine.total;
        s.quarantined_by_reason = quarantine.by_reason.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect();
        s.alerts_written = alerts_out.written;
        s.alerts_by_rule = alerts_out.by_rule.clone();
        s.alerts_by_typology = alerts_out.by_typology.clone();
        // a store failure still writes the summary (naming it) before the run fails
        let (store_summary, store_err) = stored.map_or((None, None), |(sum, err)| (Some(sum), err));
        s.store = store_summary;
        if !kept_files.is_empty() {
            s.kept_alerts = Some(summary::KeptAlertsSummary {
                files: kept_files.len() as u64,
                alert_ids: kept.ids,
                not_written_again: alerts_out.skipped_kept,
                torn_lines_cut: kept.torn_lines_cut,
            });
        }
        if is_dir_source {
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            s.dir_files = Some(summary::DirFiles {
                read: n(&progress.files_read),
                empty_skipped: n(&progress.files_empty),
                growth_read: n(&progress.files_grown),
                changed_unread: n(&progress.files_changed_unread),
            });
        }
        if first_ts != i64::MAX {
            s.first_event_time = Some(format_ts(first_ts));
            s.last_event_time = Some(format_ts(last_ts));
        }
        s.timings.total_seconds = started.elapsed().as_secs_f64();
        s.timings.rows_per_second = s.rows_accepted as f64 / s.timings.total_seconds.max(1e-9);
        s.reconcile();
        let path = self.out_dir.join("summary.json");
        let text = serde_json::to_string_pretty(&s).map_err(|e| Error::io(&path, e.into()))?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
        if let Some(e) = store_err {
            return Err(e);
        }
        Ok(s)
    }
}

/// Runs every detector on one batch, side by side (each on its own scoped thread: they
/// share nothing but the read-only batch, window and context); the alerts in detector
/// order, so the output does not depend on which finished first. Each detector's time goes
/// to its stage histogram.
fn run_detectors(
    detectors: &mut [Box<dyn Detector>],
    batch: &RecordBatch,
    window: &EventWindow,
    ctx: &DetectCtx,
) -> Result<Vec<Alert>> {
    let timed = |d: &mut Box<dyn Detector>| {
        let t = Instant::now();
        let r = d.on_batch(batch, window, ctx);
        crate::metrics::metrics().stage_seconds.with_label_values(&[d.id()]).observe(t.elapsed().as_secs_f64());
        r
    };
    if detectors.len() == 1 {
        return timed(&mut detectors[0]);
    }
    let results: Vec<Result<Vec<Alert>>> = std::thread::scope(|sc| {
        let running: Vec<_> = detectors.iter_mut().map(|d| sc.spawn(|| timed(d))).collect();
        running
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a detector panicked".into()))))
            .collect()
    });
    let mut alerts = Vec::new();
    for r in results {
        alerts.extend(r?);
    }
    Ok(alerts)
}

/// A live job restarted (a crash, a deploy, `restart: unless-stopped`) must not erase what
/// the previous run wrote: its `alerts.jsonl`, `quarantine.jsonl` and `summary.json` are
/// renamed with the time they were last written (`alerts.20260130T101500Z.jsonl`), so each
/// run's files stay whole and reconcile on their own. (A replay recomputes its outputs and
/// overwrites them.) The new run then cuts a torn last line off the kept alert files and
/// does not write again the alerts they hold (`JsonlAlertSink::skip_kept`).
fn keep_previous_outputs(dir: &std::path::Path) -> Result<()> {
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
fn kept_alert_files(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
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

/// Drops rows outside `[from, to)`; returns the rest and how many were dropped.
fn filter_range(batch: RecordBatch, from: Option<i64>, to: Option<i64>) -> Result<(RecordBatch, u64)> {
    if batch.num_rows() == 0 || (from.is_none() && to.is_none()) {
        return Ok((batch, 0));
    }
    let ts = ts_column(&batch);
    let keep: BooleanArray =
        ts.values().iter().map(|&t| Some(from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e))).collect();
    let kept = keep.true_count();
    if kept == batch.num_rows() {
        return Ok((batch, 0));
    }
    let out =
        arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| Error::arrow("filtering the time range", e))?;
    let dropped = (batch.num_rows() - kept) as u64;
    Ok((out, dropped))
}

/// Paces ordered batches to N x real time (or not at all).
struct Pacer {
    speed: f64,
    origin: Option<(Instant, i64)>,
}

impl Pacer {
    fn new(speed: f64) -> Self {
        Pacer { speed, origin: None }
    }

    /// Sends `batch` (in slices when pacing); false if the receiver is gone.
    async fn send(&mut self, batch: RecordBatch, out: &mpsc::Sender<Ordered>) -> bool {
        if self.speed <= 0.0 {
            return out.send(Ordered::Batch(batch)).await.is_ok();
        }
        // Pieces span at most 50 ms of wall time; each goes out when its last row is due.
        const MAX_PIECE_WALL_US: f64 = 50_000.0;
        let ts = ts_column(&batch).clone();
        let mut start = 0;
        while start < batch.num_rows() {
            let t0 = ts.value(start);
            let mut end = start + 1;
            while end < batch.num_rows()
                && end - start < 4096
                && ((ts.value(end) - t0) as f64 / self.speed) < MAX_PIECE_WALL_US
            {
                end += 1;
            }
            let last = ts.value(end - 1);
            let (wall0, event0) = *self.origin.get_or_insert((Instant::now(), t0));
            let due = Duration::from_secs_f64(((last - event0).max(0) as f64 / 1e6) / self.speed);
            tokio::time::sleep_until((wall0 + due).into()).await;
            if out.send(Ordered::Batch(batch.slice(start, end - start))).await.is_err() {
                return false;
            }
            start = end;
        }
        true
    }
}

#[cfg(test)]
mod tests;
