//! The pipeline: source -> order (watermarks, time range, pacing) -> detect (enrich,
//! window, detectors) -> sinks, joined by bounded channels so a slow stage holds back the
//! ones before it instead of buffering without end.
//!
//! Each stage is a type with its own `run`: `source::Source` (stage 1),
//! `order::OrderStage` (2), `detect::DetectStage` (3), `sinks::Sinks` (4, with
//! `store_writer` for the alert store). `PipelineBuilder` puts them together from what a
//! command asked for; nothing here branches on which command it was.
//!
//! Owns: wiring the stages, stopping cleanly at the end of input or on Ctrl-C, and
//! surfacing the first stage error. Must not: parse inputs (`ingest`) or decide what is
//! suspicious (detectors).

pub mod checkpoint;
pub mod detect;
pub mod enrich;
pub mod kafka;
pub mod kafka_sink;
pub mod order;
pub mod progress;
pub mod side;
pub mod sinks;
pub mod sort;
pub mod source;
pub mod store_writer;
pub mod summary;
pub mod watermark;
pub mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::ProgressMode;
use crate::error::{Error, Result};
use crate::ingest::Rejected;
use crate::ingest::parquet::ParquetOut;

pub use detect::{DetectCtx, DetectStage, Detector};
pub use order::{OrderStage, ProcessedIds};
pub use sinks::{OutputMode, Sinks};
pub use source::{DirSource, ReplaySource, Source, StdinSource};
pub use summary::Summary;

use progress::{Progress, Ticker};

/// The tunables of a run (from the config's `[pipeline]` and `[output]` sections).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Batches in flight between stages.
    pub channel_capacity: usize,
    /// Most rows taken together for the detectors when batches are waiting.
    pub detect_rows: usize,
    pub window_us: i64,
    pub lateness_us: i64,
    /// 0: as fast as possible; N: N x real time.
    pub speed: f64,
    pub progress: ProgressMode,
    /// Also write the ordered, enriched stream to `ordered.parquet`.
    pub write_ordered: bool,
    /// Also keep the alerts in this alert store (`crate::store`), retried so.
    pub store: Option<String>,
    pub store_retry: crate::store::RetryPolicy,
    /// Rows dated more than this after the wall clock are refused as `future_timestamp`
    /// (µs; `None`: no check).
    pub future_lead_us: Option<i64>,
    /// Kafka sinks: brokers, the alerts topic and the quarantine topic (`None`: off).
    pub kafka_sinks: Option<(String, Option<String>, Option<String>)>,
}

/// The side tables' counts and refused rows, for the summary and quarantine.
#[derive(Debug, Clone, Default)]
pub struct SideCounts {
    pub accounts_rows: u64,
    pub fx_rate_rows: u64,
    pub rejected: Vec<Rejected>,
}

/// A run put together: settings, detectors and outputs (build it with [`Pipeline::builder`]).
pub struct Pipeline {
    label: String,
    ctx: DetectCtx,
    detectors: Vec<Box<dyn Detector>>,
    settings: Settings,
    out_dir: PathBuf,
    mode: OutputMode,
    side: SideCounts,
    from_us: Option<i64>,
    to_us: Option<i64>,
    idle_advance: Option<Duration>,
    resume: Option<checkpoint::Checkpoint>,
    checkpoint: Option<PathBuf>,
    /// `run --checkpoint`: checkpoints at the source's barriers, written here.
    barrier_checkpoint: Option<PathBuf>,
    /// A live run's checkpoints carry the ids of this much event time (`None`: all).
    dedupe_horizon_us: Option<i64>,
    /// Side tables read again while a live run goes on.
    side_updates: Option<tokio::sync::mpsc::UnboundedReceiver<side::SideUpdate>>,
}

/// Puts a [`Pipeline`] together. Defaults: a replay's outputs (recomputed), the whole
/// time range, no idle advance, no checkpoint.
pub struct PipelineBuilder(Pipeline);

impl Pipeline {
    /// A pipeline labelled `label` in metrics and the summary (the command: `replay`,
    /// `run`), judging with `ctx`, writing to `out_dir`.
    pub fn builder(label: &str, ctx: DetectCtx, settings: Settings, out_dir: PathBuf) -> PipelineBuilder {
        PipelineBuilder(Pipeline {
            label: label.to_string(),
            ctx,
            detectors: Vec::new(),
            settings,
            out_dir,
            mode: OutputMode::Recompute,
            side: SideCounts::default(),
            from_us: None,
            to_us: None,
            idle_advance: None,
            resume: None,
            checkpoint: None,
            barrier_checkpoint: None,
            dedupe_horizon_us: None,
            side_updates: None,
        })
    }
}

impl PipelineBuilder {
    /// The detectors, in the order their alerts are written for one batch.
    pub fn detectors(mut self, detectors: impl IntoIterator<Item = Box<dyn Detector>>) -> Self {
        self.0.detectors.extend(detectors);
        self
    }

    pub fn side_tables(mut self, side: SideCounts) -> Self {
        self.0.side = side;
        self
    }

    /// Only events in `[from, to)` (µs); the rest are counted as outside the range.
    pub fn range(mut self, from_us: Option<i64>, to_us: Option<i64>) -> Self {
        (self.0.from_us, self.0.to_us) = (from_us, to_us);
        self
    }

    /// The ids a checkpoint carries (for the resumed run's duplicate check) cover at least
    /// this much event time, at most twice that (`live.dedupe-horizon`; `None`: all).
    pub fn dedupe_horizon(mut self, horizon_us: Option<i64>) -> Self {
        self.0.dedupe_horizon_us = horizon_us;
        self
    }

    /// Side tables read again while the run goes on (`side::SideWatcher`) are swapped in
    /// as they arrive.
    pub fn side_updates(mut self, rx: tokio::sync::mpsc::UnboundedReceiver<side::SideUpdate>) -> Self {
        self.0.side_updates = Some(rx);
        self
    }

    /// A live run: earlier runs' outputs kept (`OutputMode::Append`) and, after
    /// `idle_advance` of silence, the watermark moved up to the newest event time.
    pub fn live(mut self, idle_advance: Option<Duration>) -> Self {
        self.0.mode = OutputMode::Append;
        self.0.idle_advance = idle_advance;
        self
    }

    /// Start from this checkpoint (window, detectors' state, numbering, watermark).
    pub fn resume(mut self, from: Option<checkpoint::Checkpoint>) -> Self {
        self.0.resume = from;
        self
    }

    /// End in a checkpoint written to this directory instead of closing open episodes.
    pub fn checkpoint(mut self, to: Option<PathBuf>) -> Self {
        self.0.checkpoint = to;
        self
    }

    /// Checkpoints taken at the source's barriers (a live run's periodic checkpoints),
    /// written to `dir` by the sinks; the outputs belong to them
    /// (`OutputMode::Checkpointed`). Resume with [`PipelineBuilder::resume`].
    pub fn barrier_checkpoints(mut self, dir: PathBuf) -> Self {
        self.0.barrier_checkpoint = Some(dir);
        self.0.mode = OutputMode::Checkpointed;
        self
    }

    pub fn build(self) -> Pipeline {
        self.0
    }
}

impl Pipeline {
    /// Runs `source` through the stages to the end of its input (or Ctrl-C) and writes
    /// the outputs; returns the summary.
    pub async fn run(self, source: Box<dyn Source>) -> Result<Summary> {
        let started = Instant::now();
        self.start_metrics();
        let Pipeline { label, ctx, detectors, settings, out_dir, mode, side, .. } = self;
        let progress = Arc::new(Progress::default());
        let store = settings.store.as_deref().map(|url| (url, settings.store_retry));
        let mut resume = self.resume;
        let targets = self.barrier_checkpoint.clone().map(|dir| sinks::CheckpointTarget {
            dir,
            committer: source.committer(),
            resumed: resume.as_ref().and_then(|c| c.state.sinks.clone()),
        });
        let mut sinks = Sinks::open(&label, mode, &out_dir, store, &side.rejected, progress.clone(), targets).await?;
        if let Some((brokers, alerts, quarantine)) = settings.kafka_sinks.clone() {
            sinks = sinks.with_kafka(&brokers, alerts, quarantine).await?;
        }
        let ticker = Ticker::start(progress.clone(), settings.progress);
        let inputs = source.inputs();
        let source_name = inputs.join(", ");
        {
            let s = sinks.summary_mut();
            s.inputs = inputs;
            s.accounts_rows = side.accounts_rows;
            s.fx_rate_rows = side.fx_rate_rows;
        }
        let is_dir_source = source.is_dir();
        let cap = settings.channel_capacity;
        let seq_offset = resume.as_ref().map_or(0, |c| c.state.next_seq);
        let resume_order = resume.as_mut().and_then(|c| c.state.order.map(|o| (o, std::mem::take(&mut c.held))));
        let keep_ids = self.checkpoint.is_some() || self.barrier_checkpoint.is_some();
        let order = OrderStage {
            source_name: source_name.clone(),
            lateness_us: settings.lateness_us,
            from_us: self.from_us,
            to_us: self.to_us,
            speed: settings.speed,
            future_lead_us: settings.future_lead_us,
            idle_advance: self.idle_advance,
            seq_offset,
            resume_ts: resume.as_ref().map(|c| c.state.max_ts),
            // a checkpoint carries the ids processed (the resumed ones and this run's rows
            // in range), so a resumed run refuses the rows it overlaps as duplicates
            processed_ids: keep_ids.then(|| {
                ProcessedIds::new(
                    resume.as_ref().map(|c| c.seen_ids.clone()).unwrap_or_default(),
                    self.dedupe_horizon_us,
                )
            }),
            resume_order,
        };
        let mut detect =
            DetectStage::new(ctx, detectors, settings.window_us, settings.detect_rows, source_name, resume)?;
        if let Some(dir) = &self.barrier_checkpoint {
            detect = detect.barrier_checkpoints(dir.clone());
        }
        // a replay as fast as it goes judges in full steps, however its rows arrive (a
        // ledger read in file order comes a chunk at a time); a paced or live run does not wait
        if mode == OutputMode::Recompute && self.idle_advance.is_none() && settings.speed == 0.0 {
            detect = detect.fill_batches();
        }
        if let Some(rx) = self.side_updates {
            detect = detect.side_updates(rx);
        }
        if settings.write_ordered {
            let path = out_dir.join("ordered.parquet");
            detect = detect.write_ordered(ParquetOut::create(&path, crate::schema::enriched_schema())?);
        }
        if let Some(dir) = self.checkpoint {
            detect = detect.checkpoint_to(dir);
        }

        let (src_tx, src_rx) = mpsc::channel::<source::FromSource>(cap);
        let src_tx = source::SourceTx(src_tx);
        let (ord_tx, ord_rx) = mpsc::channel(cap);
        let (sink_tx, sink_rx) = mpsc::channel(cap);
        let progress_for_source = progress.clone();
        let source_task = tokio::spawn(async move {
            let t = Instant::now();
            run_source(source, src_tx, progress_for_source).await.map(|()| t.elapsed().as_secs_f64())
        });
        let order_task = tokio::spawn(order.run(src_rx, ord_tx));
        let detect_task = tokio::task::spawn_blocking(move || detect.run(ord_rx, sink_tx));
        sinks.run(sink_rx).await?;

        // Surface the first stage error, source first (it explains the others).
        let joined = |what: &str, e: tokio::task::JoinError| Error::Internal(format!("{what} task: {e}"));
        let source_res = source_task.await.map_err(|e| joined("source", e))?;
        let order_res = order_task.await.map_err(|e| joined("order", e))?;
        let detect_res = detect_task.await.map_err(|e| joined("detect", e))?;
        drop(ticker);
        let store_err = sinks.close()?;
        let stages = &mut sinks.summary_mut().timings.stages;
        stages.insert("source".into(), source_res?);
        stages.insert("order".into(), order_res?);
        detect_res?;
        sinks.summary_mut().replay_order = progress.replay_order.get().cloned();
        if is_dir_source {
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            sinks.summary_mut().dir_files = Some(summary::DirFiles {
                read: n(&progress.files_read),
                empty_skipped: n(&progress.files_empty),
                growth_read: n(&progress.files_grown),
                changed_unread: n(&progress.files_changed_unread),
            });
        }
        // a store failure still writes the summary (naming it) before the run fails
        let summary = sinks.write_summary(started.elapsed().as_secs_f64())?;
        match store_err {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// Every series this job can count, at 0 from the start: rates and reject shares are
    /// defined before the first reject.
    fn start_metrics(&self) {
        crate::metrics::READY.store(true, Ordering::Relaxed);
        let m = crate::metrics::metrics();
        m.rows_read.with_label_values(&[&self.label]);
        m.rows_accepted.with_label_values(&[&self.label]);
        m.rows_outside_range.with_label_values(&[&self.label]);
        for r in crate::ingest::quarantine::Reason::ALL {
            m.rows_quarantined.with_label_values(&[self.label.as_str(), r.as_str()]);
        }
    }
}

/// Stage 1: the source, until its input ends or Ctrl-C (then what was read is flushed).
async fn run_source(source: Box<dyn Source>, out: source::SourceTx, progress: Arc<Progress>) -> Result<()> {
    if source.handles_shutdown() {
        return source.run(out, progress).await;
    }
    tokio::select! {
        r = source.run(out, progress) => r,
        _ = crate::shutdown_signal() => {
            tracing::warn!("interrupted: flushing what was read");
            source::STOPPING.store(true, Ordering::Relaxed);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
