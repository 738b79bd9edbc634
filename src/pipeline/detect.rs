//! Stage 3, detect: ordered rows enriched (USD value, KYC), added to the event-time
//! window and shown to every detector, off the async threads.
//!
//! Owns: `DetectStage` and what it sends on (`ToSink`): adaptive micro-batches (batches
//! already waiting are judged together, up to `pipeline.detect-batch-rows`; results do not
//! depend on the batching), the window, running the detectors side by side, the end of
//! the run (open episodes closed, or kept in a checkpoint), and `ordered.parquet`.
//! Must not: decide what is suspicious (the detectors do) or write alerts (the sinks do).
//! The seam detectors plug into (`Detector`, `DetectCtx`, `TxColumns`) is the core
//! crate's, so that detector crates build without the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use tokio::sync::mpsc;

pub use mirrorflow_core::detect::*;

use crate::alerts::Alert;
use crate::error::{Error, Result};
use crate::ingest::Rejected;
use crate::ingest::parquet::ParquetOut;
use crate::schema::{KNOWN_CHANNELS, tx};

use super::checkpoint::{self, Checkpoint};
use super::enrich::Enricher;
use super::order::{OrderSnapshot, Ordered};
use super::summary;
use super::watermark::ts_column;
use super::window::EventWindow;

/// What the detect stage sends to the sinks.
pub enum ToSink {
    /// Counts and refused rows (the source's, the order stage's, enrichment's).
    Meta {
        read: u64,
        rejected: Vec<Rejected>,
        outside: u64,
    },
    /// Rows that went through the detectors.
    Processed {
        rows: u64,
        first_ts: i64,
        last_ts: i64,
        unknown_channels: BTreeMap<String, u64>,
    },
    Alerts(Vec<Alert>),
    /// Side tables read again and now in use: their rows, and the rows they refused
    /// (quarantined, counted apart from transactions).
    SideTables {
        accounts_rows: Option<u64>,
        fx_rate_rows: Option<u64>,
        rejected: Vec<Rejected>,
    },
    /// A checkpoint taken at a source barrier: written by the sinks once everything sent
    /// before it is written.
    Checkpoint(Box<Snapshot>),
    End {
        window_rows: u64,
        window_max: u64,
        missing_fx: BTreeMap<String, u64>,
        notes: Vec<summary::DetectorNote>,
        /// Busy seconds of this stage's parts (`summary::Timings::stages`).
        busy: BTreeMap<String, f64>,
    },
}

/// Everything a run holds at a source barrier, but the sinks' part (see
/// `checkpoint::save_snapshot`).
pub struct Snapshot {
    pub order: OrderSnapshot,
    pub window: Vec<RecordBatch>,
    pub state: checkpoint::CheckpointState,
    /// Every detector's state, already in its file beside the checkpoint.
    pub states: checkpoint::StagedStates,
}

/// The detect stage (see the module docs).
pub struct DetectStage {
    ctx: DetectCtx,
    detectors: Vec<Box<dyn Detector>>,
    detect_rows: usize,
    /// Wait for `detect_rows` rows before judging (a replay as fast as it goes: no one
    /// waits for its alerts, and larger steps cost the rules less); a live run takes what
    /// is waiting.
    fill: bool,
    source_name: String,
    enricher: Enricher,
    window: EventWindow,
    ordered_out: Option<ParquetOut>,
    /// End in a checkpoint here instead of closing open episodes.
    checkpoint: Option<PathBuf>,
    next_seq: u64,
    max_ts: i64,
    window_max: u64,
    seen_ids: Vec<u128>,
    /// A barrier met while batches were taken together: handled after them.
    barrier: Option<Box<OrderSnapshot>>,
    /// Checkpoints are taken at barriers: a run stopped by a signal keeps its episodes
    /// open in the last one instead of closing them.
    barrier_checkpoints: Option<PathBuf>,
    /// Busy time: enrich (with micro-batching), window, and each detector's (in order).
    busy_enrich: Duration,
    busy_window: Duration,
    busy_detectors: Vec<Duration>,
    /// New side tables from a live run's watcher, swapped in between batches.
    side_updates: Option<mpsc::UnboundedReceiver<super::side::SideUpdate>>,
}

/// Whether the stage goes on: `Stop` when the sinks are gone (the run is stopping).
#[derive(PartialEq)]
enum Flow {
    Go,
    Stop,
}

impl DetectStage {
    /// A stage with an empty window, or with the window and detectors' state of `resume`.
    pub fn new(
        ctx: DetectCtx,
        mut detectors: Vec<Box<dyn Detector>>,
        window_us: i64,
        detect_rows: usize,
        source_name: String,
        resume: Option<Checkpoint>,
    ) -> Result<Self> {
        let enricher = Enricher::new(ctx.fx.clone(), ctx.accounts.clone());
        let n_detectors = detectors.len();
        let mut window = EventWindow::new(window_us);
        let (mut next_seq, mut max_ts) = (0, i64::MIN);
        if let Some(mut c) = resume {
            for b in c.window.drain(..) {
                window.push(b);
            }
            (next_seq, max_ts) = (c.state.next_seq, c.state.max_ts);
            for d in detectors.iter_mut() {
                if let Some(state) = c.state.detectors.remove(d.id()) {
                    d.load_state(&state)?;
                }
            }
        }
        Ok(DetectStage {
            ctx,
            detectors,
            detect_rows,
            fill: false,
            source_name,
            enricher,
            window,
            ordered_out: None,
            checkpoint: None,
            next_seq,
            max_ts,
            window_max: 0,
            seen_ids: Vec::new(),
            barrier: None,
            barrier_checkpoints: None,
            busy_enrich: Duration::ZERO,
            busy_window: Duration::ZERO,
            busy_detectors: vec![Duration::ZERO; n_detectors],
            side_updates: None,
        })
    }

    /// Also writes the enriched stream to this Parquet file.
    pub fn write_ordered(mut self, out: ParquetOut) -> Self {
        self.ordered_out = Some(out);
        self
    }

    /// Judges in steps of `detect_rows` rows (fewer at the end of input or at a barrier),
    /// waiting for the input to fill them: for replays, whose alerts do not depend on the
    /// steps.
    pub fn fill_batches(mut self) -> Self {
        self.fill = true;
        self
    }

    /// Ends in a checkpoint written to `dir` instead of closing open episodes.
    pub fn checkpoint_to(mut self, dir: PathBuf) -> Self {
        self.checkpoint = Some(dir);
        self
    }

    /// Side tables read again while the run goes on arrive here.
    pub fn side_updates(mut self, rx: mpsc::UnboundedReceiver<super::side::SideUpdate>) -> Self {
        self.side_updates = Some(rx);
        self
    }

    /// Swaps in side tables that were read again (before the next batch is enriched):
    /// the enricher and every detector take them; the sinks count them.
    fn apply_side_updates(&mut self, out: &mpsc::Sender<ToSink>) -> Result<Flow> {
        let Some(rx) = self.side_updates.as_mut() else { return Ok(Flow::Go) };
        let mut flow = Flow::Go;
        while let Ok(u) = rx.try_recv() {
            let m = crate::metrics::metrics();
            let (mut accounts_rows, mut fx_rate_rows) = (None, None);
            if let Some((t, n)) = u.accounts {
                self.ctx.accounts = t;
                accounts_rows = Some(n);
                m.side_table_refreshes.with_label_values(&["accounts"]).inc();
                m.side_table_rows.with_label_values(&["accounts"]).set(n as i64);
                tracing::info!(
                    rows = n,
                    refused = u.rejected.len(),
                    "side table `accounts` read again: in use from the next batch"
                );
            }
            if let Some((t, n)) = u.fx {
                self.ctx.fx = t;
                fx_rate_rows = Some(n);
                m.side_table_refreshes.with_label_values(&["fx_rates"]).inc();
                m.side_table_rows.with_label_values(&["fx_rates"]).set(n as i64);
                tracing::info!(rows = n, "side table `fx_rates` read again: in use from the next batch");
            }
            self.enricher = Enricher::new(self.ctx.fx.clone(), self.ctx.accounts.clone());
            for d in self.detectors.iter_mut() {
                d.side_tables_changed(&self.ctx)?;
            }
            if send(out, ToSink::SideTables { accounts_rows, fx_rate_rows, rejected: u.rejected }) == Flow::Stop {
                flow = Flow::Stop;
            }
        }
        Ok(flow)
    }

    /// Checkpoints are taken at source barriers (and written by the sinks).
    pub fn barrier_checkpoints(mut self, dir: PathBuf) -> Self {
        self.barrier_checkpoints = Some(dir);
        self
    }

    /// Runs to the end of the ordered stream (blocking: call it off the async threads).
    pub fn run(mut self, mut input: mpsc::Receiver<Ordered>, out: mpsc::Sender<ToSink>) -> Result<()> {
        while let Some(msg) = input.blocking_recv() {
            let mut flow = match msg {
                Ordered::Batch(first) => match self.take_waiting(first, &mut input, &out)? {
                    Some(b) => self.process(b, &out)?,
                    None => Flow::Stop,
                },
                Ordered::Meta { read, rejected, outside } => send(&out, ToSink::Meta { read, rejected, outside }),
                Ordered::Ids(ids) => {
                    self.seen_ids = ids;
                    Flow::Go
                }
                Ordered::Barrier(b) => {
                    self.barrier = Some(b);
                    Flow::Go
                }
            };
            if flow == Flow::Go
                && let Some(b) = self.barrier.take()
            {
                flow = self.snapshot(*b, &out)?;
            }
            if flow == Flow::Stop {
                return Ok(());
            }
        }
        self.finish(&out)
    }

    /// Adaptive micro-batches: batches already waiting are taken together (up to
    /// `detect_rows`), so a replay or a stream that ran ahead is judged in fewer, larger
    /// steps, while a live stream that keeps up is not delayed; with `fill` (replays) the
    /// step waits for `detect_rows` rows. Counts met on the way go
    /// on to the sinks at once. `None`: the sinks are gone.
    fn take_waiting(
        &mut self,
        first: RecordBatch,
        input: &mut mpsc::Receiver<Ordered>,
        out: &mpsc::Sender<ToSink>,
    ) -> Result<Option<RecordBatch>> {
        let mut rows = first.num_rows();
        let mut parts = vec![first];
        while rows < self.detect_rows {
            let next = if self.fill {
                input.blocking_recv().ok_or(mpsc::error::TryRecvError::Disconnected)
            } else {
                input.try_recv()
            };
            match next {
                Ok(Ordered::Batch(b)) => {
                    rows += b.num_rows();
                    parts.push(b);
                }
                Ok(Ordered::Meta { read, rejected, outside }) => {
                    if send(out, ToSink::Meta { read, rejected, outside }) == Flow::Stop {
                        return Ok(None);
                    }
                }
                Ok(Ordered::Ids(ids)) => self.seen_ids = ids,
                Ok(Ordered::Barrier(b)) => {
                    // the rows before the barrier are judged first, then it is taken
                    self.barrier = Some(b);
                    break;
                }
                Err(_) => break,
            }
        }
        if parts.len() == 1 {
            return Ok(parts.pop());
        }
        let t = Instant::now();
        let joined = arrow::compute::concat_batches(&parts[0].schema(), &parts)
            .map_err(|e| Error::arrow("joining batches", e))?;
        self.busy_enrich += t.elapsed();
        Ok(Some(joined))
    }

    /// One micro-batch: enriched, into the window, through the detectors.
    fn process(&mut self, b: RecordBatch, out: &mpsc::Sender<ToSink>) -> Result<Flow> {
        if self.apply_side_updates(out)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        let seqs = b.column_by_name(tx::SEQ).expect("seq").as_primitive::<UInt64Type>();
        self.next_seq = self.next_seq.max(arrow::compute::max(seqs).map_or(0, |m| m + 1));
        let t = Instant::now();
        let (enriched, out_of_range) = self.enricher.enrich(&b, &self.source_name)?;
        self.busy_enrich += t.elapsed();
        if !out_of_range.is_empty() {
            // refused here, after ingest: counted as quarantined (read already counted
            // them), so read = accepted + quarantined holds
            if send(out, ToSink::Meta { read: 0, rejected: out_of_range, outside: 0 }) == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        if enriched.num_rows() == 0 {
            return Ok(Flow::Go);
        }
        if let Some(w) = self.ordered_out.as_mut() {
            w.write(&enriched)?;
        }
        let t = Instant::now();
        self.window.push(enriched.clone());
        self.busy_window += t.elapsed();
        self.window_max = self.window_max.max(self.window.rows() as u64);
        crate::metrics::metrics().window_transactions.set(self.window.rows() as i64);
        self.max_ts = self.max_ts.max(self.window.now());
        let alerts = run_detectors(&mut self.detectors, &enriched, &self.window, &self.ctx, &mut self.busy_detectors)?;
        let ts = ts_column(&enriched);
        let processed = ToSink::Processed {
            rows: enriched.num_rows() as u64,
            first_ts: ts.value(0),
            last_ts: ts.value(ts.len() - 1),
            unknown_channels: unknown_channels(&enriched),
        };
        if send(out, processed) == Flow::Stop {
            return Ok(Flow::Stop);
        }
        Ok(if alerts.is_empty() { Flow::Go } else { send(out, ToSink::Alerts(alerts)) })
    }

    /// This stage's part of a checkpoint: numbering and newest event time (the detectors'
    /// states are written to their files: `checkpoint::stage_states`).
    fn checkpoint_state(&self) -> checkpoint::CheckpointState {
        checkpoint::CheckpointState {
            format: checkpoint::FORMAT,
            next_seq: self.next_seq,
            max_ts: self.max_ts,
            window_rows: self.window.rows() as u64,
            ..Default::default()
        }
    }

    /// A source barrier: the window and every detector's state (written beside the
    /// checkpoint), sent to the sinks (which write the checkpoint once what came before it
    /// is written).
    fn snapshot(&mut self, order: OrderSnapshot, out: &mpsc::Sender<ToSink>) -> Result<Flow> {
        let dir = self.barrier_checkpoints.as_ref().expect("barriers reach the stage only with checkpoints");
        let states = checkpoint::stage_states(dir, &self.detectors)?;
        let mut state = self.checkpoint_state();
        state.next_seq = state.next_seq.max(order.state.next_seq);
        let window = self.window.batches().cloned().collect();
        Ok(send(out, ToSink::Checkpoint(Box::new(Snapshot { order, window, state, states }))))
    }

    /// The end of input: open episodes closed (their alerts sent), or kept in the
    /// checkpoint; the detectors' notes and the window's figures sent last.
    fn finish(mut self, out: &mpsc::Sender<ToSink>) -> Result<()> {
        if let Some(w) = self.ordered_out.take() {
            w.close()?;
        }
        let mut alerts = Vec::new();
        match &self.checkpoint {
            // Open episodes stay open: the next run resumes them.
            Some(dir) => {
                let states = checkpoint::stage_states(dir, &self.detectors)?;
                checkpoint::save(dir, self.checkpoint_state(), &self.window, &self.seen_ids, states)?
            }
            // stopped by a signal: the last checkpoint keeps the episodes open
            None if self.barrier_checkpoints.is_some()
                && super::source::STOPPING.load(std::sync::atomic::Ordering::Relaxed) => {}
            None => {
                for (d, busy) in self.detectors.iter_mut().zip(self.busy_detectors.iter_mut()) {
                    let t = Instant::now();
                    alerts.extend(d.on_finish(&self.window, &self.ctx)?);
                    *busy += t.elapsed();
                }
            }
        }
        if !alerts.is_empty() {
            let _ = send(out, ToSink::Alerts(alerts));
        }
        let notes: Vec<summary::DetectorNote> = self.detectors.iter().flat_map(|d| d.notes()).collect();
        for n in &notes {
            n.log();
        }
        let mut busy = BTreeMap::new();
        busy.insert("enrich".to_string(), self.busy_enrich.as_secs_f64());
        busy.insert("window".to_string(), self.busy_window.as_secs_f64());
        for (d, t) in self.detectors.iter().zip(&self.busy_detectors) {
            *busy.entry(format!("detect:{}", d.id())).or_default() += t.as_secs_f64();
            for (part, secs) in d.part_timings() {
                *busy.entry(format!("detect:{}/{part}", d.id())).or_default() += secs;
            }
        }
        let _ = send(
            out,
            ToSink::End {
                window_rows: self.window.rows() as u64,
                window_max: self.window_max,
                missing_fx: self.enricher.missing_rate.clone(),
                notes,
                busy,
            },
        );
        Ok(())
    }
}

fn send(out: &mpsc::Sender<ToSink>, msg: ToSink) -> Flow {
    if out.blocking_send(msg).is_ok() { Flow::Go } else { Flow::Stop }
}

/// Channel values outside the contract's list, with counts.
fn unknown_channels(batch: &RecordBatch) -> BTreeMap<String, u64> {
    let mut unknown = BTreeMap::new();
    let ch = batch.column_by_name(tx::CHANNEL).expect("channel").as_string::<i32>();
    let mut known: HashMap<&str, bool, foldhash::fast::RandomState> = HashMap::default();
    for c in ch.iter().flatten() {
        if !*known.entry(c).or_insert_with(|| KNOWN_CHANNELS.contains(&c)) {
            *unknown.entry(c.to_string()).or_insert(0u64) += 1;
        }
    }
    unknown
}

/// Runs every detector on one batch, side by side (each on its own scoped thread: they
/// share nothing but the read-only batch, window and context); the alerts in detector
/// order, so the output does not depend on which finished first. Each detector's time goes
/// to its stage histogram and is added to its `busy` entry.
fn run_detectors(
    detectors: &mut [Box<dyn Detector>],
    batch: &RecordBatch,
    window: &EventWindow,
    ctx: &DetectCtx,
    busy: &mut [Duration],
) -> Result<Vec<Alert>> {
    let timed = |d: &mut Box<dyn Detector>, busy: &mut Duration| {
        let t = Instant::now();
        let r = d.on_batch(batch, window, ctx);
        let took = t.elapsed();
        *busy += took;
        crate::metrics::metrics().stage_seconds.with_label_values(&[d.id()]).observe(took.as_secs_f64());
        r
    };
    if detectors.len() == 1 {
        return timed(&mut detectors[0], &mut busy[0]);
    }
    let results: Vec<Result<Vec<Alert>>> = std::thread::scope(|sc| {
        let running: Vec<_> =
            detectors.iter_mut().zip(busy.iter_mut()).map(|(d, b)| sc.spawn(|| timed(d, b))).collect();
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
