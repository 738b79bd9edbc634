//! Stage 2, order: the rows a source read, put in event-time order and judged for their
//! time before any detector sees them.
//!
//! Owns: `OrderStage` and what it sends on (`Ordered`): continuing a checkpoint's
//! numbering, the `--from`/`--to` range (rows outside are counted, not refused), the
//! watermark (`watermark::Orderer`: disorder within the allowed lateness put back, later
//! rows refused as `late_event`), rows dated too far past the clock refused as
//! `future_timestamp`, the idle advance of a silent live stream, pacing to N x real time,
//! and the fingerprints of the ids processed (for a checkpoint).
//! Must not: enrich, detect or write outputs; it reads the wall clock only for the future
//! limit and pacing, so a replay's order does not depend on when it runs.

use std::time::{Duration, Instant};

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt64Array};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::ingest::quarantine::render_row;
use crate::ingest::values::format_ts;
use crate::ingest::{Chunk, Reason, Rejected};
use crate::pipeline::source::{FromSource, SourcePosition};
use crate::schema::tx;

use super::watermark::{Orderer, ts_column};

/// What the order stage sends on.
pub enum Ordered {
    /// Rows in `(ts, tx_id)` order (numbered so in `seq`), below the watermark.
    Batch(RecordBatch),
    /// A source chunk's counts and the rows refused for it (including this stage's).
    Meta { read: u64, rejected: Vec<Rejected>, outside: u64 },
    /// At the end, for a checkpoint: fingerprints of every tx_id processed (in range).
    Ids(Vec<u128>),
    /// A source barrier, with this stage's part of the checkpoint.
    Barrier(Box<OrderSnapshot>),
}

/// The order stage's part of a checkpoint taken at a source barrier.
pub struct OrderSnapshot {
    pub position: SourcePosition,
    /// Rows read but held for reordering.
    pub held: Vec<RecordBatch>,
    pub state: OrderState,
    /// Fingerprints of every tx_id processed so far (in range), when the run keeps them.
    pub ids: Vec<u128>,
}

/// Where the ordering stood at a checkpoint.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct OrderState {
    pub max_ts: i64,
    pub watermark: i64,
    /// The `seq` of the next row released (rows are numbered in event-time order).
    pub next_seq: u64,
}

/// The order stage's settings (see the module docs).
pub struct OrderStage {
    /// The inputs' names, for the provenance of refused rows.
    pub source_name: String,
    pub lateness_us: i64,
    /// Inclusive start and exclusive end of event time to process (µs).
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// 0: as fast as possible; N: N x real time.
    pub speed: f64,
    /// Rows dated more than this after the wall clock are refused (`None`: no check).
    pub future_lead_us: Option<i64>,
    /// Live runs: after this much silence the watermark moves up to the newest event time.
    pub idle_advance: Option<Duration>,
    /// A resumed run: the checkpoint's next arrival number and newest event time.
    pub seq_offset: u64,
    pub resume_ts: Option<i64>,
    /// `Some` when the run ends in a checkpoint: the ids processed so far (a resumed
    /// run's), to which this run's rows in range are added.
    pub processed_ids: Option<ProcessedIds>,
    /// A run resumed from a barrier checkpoint: the ordering and the rows it held.
    pub resume_order: Option<(OrderState, Vec<RecordBatch>)>,
}

impl OrderStage {
    /// Takes chunks from the source until it ends (or the next stage is gone), then
    /// flushes what the watermark still holds. Returns its busy seconds (waiting on
    /// either channel left out).
    pub async fn run(mut self, mut input: mpsc::Receiver<FromSource>, out: mpsc::Sender<Ordered>) -> Result<f64> {
        let mut busy = Duration::ZERO;
        let mut orderer = Orderer::new(self.lateness_us);
        orderer.number_from(self.seq_offset);
        if let Some((st, held)) = self.resume_order.take() {
            orderer.resume_exact(st.max_ts, st.watermark);
            orderer.restore_held(held);
        } else if let Some(ts) = self.resume_ts {
            orderer.resume_at(ts);
        }
        let mut pacer = Pacer::new(self.speed);
        loop {
            let chunk = match self.idle_advance {
                None => input.recv().await,
                Some(quiet) => match tokio::time::timeout(quiet, input.recv()).await {
                    Ok(c) => c,
                    Err(_) => {
                        // live and silent: what is held goes on to the detectors
                        let t = Instant::now();
                        let held = orderer.advance_idle()?;
                        busy += t.elapsed();
                        if let Some(b) = held
                            && !pacer.send(b, &out).await
                        {
                            break;
                        }
                        continue;
                    }
                },
            };
            let chunk = match chunk {
                None => break,
                Some(FromSource::Chunk(c)) => c,
                Some(FromSource::Bound(cap)) => {
                    let t = Instant::now();
                    // every partition idle: nothing older can come, as after a live
                    // source's silence (`advance_idle`)
                    let released = if cap == i64::MAX {
                        orderer.set_cap(cap)?;
                        orderer.advance_idle()?
                    } else {
                        orderer.set_cap(cap)?
                    };
                    busy += t.elapsed();
                    if let Some(b) = released
                        && !pacer.send(b, &out).await
                    {
                        break;
                    }
                    continue;
                }
                Some(FromSource::Barrier(position)) => {
                    let (held, max_ts) = orderer.held();
                    let snap = OrderSnapshot {
                        position,
                        held,
                        state: OrderState { max_ts, watermark: orderer.watermark(), next_seq: orderer.next_seq() },
                        ids: self.processed_ids.as_ref().map(ProcessedIds::all).unwrap_or_default(),
                    };
                    if out.send(Ordered::Barrier(Box::new(snap))).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let t = Instant::now();
            let (meta, ordered) = self.admit(chunk, &mut orderer)?;
            busy += t.elapsed();
            if out.send(meta).await.is_err() {
                break;
            }
            if let Some(b) = ordered
                && !pacer.send(b, &out).await
            {
                break;
            }
        }
        let t = Instant::now();
        let held = orderer.flush()?;
        busy += t.elapsed();
        if let Some(b) = held {
            pacer.send(b, &out).await;
        }
        if let Some(ids) = self.processed_ids {
            let _ = out.send(Ordered::Ids(ids.all())).await;
        }
        Ok(busy.as_secs_f64())
    }

    /// One chunk through numbering, the range and the watermark: its counts and refused
    /// rows, and the rows the watermark releases.
    fn admit(&mut self, chunk: Chunk, orderer: &mut Orderer) -> Result<(Ordered, Option<RecordBatch>)> {
        let Chunk { batch, mut rejected, rows_read } = chunk;
        let batch = offset_seq(batch, self.seq_offset)?;

        let (batch, outside) = filter_range(batch, self.from_us, self.to_us)?;
        if let Some(ids) = self.processed_ids.as_mut() {
            ids.add(&batch);
        }
        let future_limit =
            self.future_lead_us.map_or(i64::MAX, |lead| chrono::Utc::now().timestamp_micros().saturating_add(lead));
        let released = orderer.push_limited(batch, future_limit)?;
        if let Some(late) = &released.late {
            rejected.extend(late_records(late, &self.source_name, orderer.watermark(), self.lateness_us));
        }
        if let (Some(future), Some(lead)) = (&released.future, self.future_lead_us) {
            rejected.extend(future_records(future, &self.source_name, future_limit, lead));
        }
        Ok((Ordered::Meta { read: rows_read, rejected, outside }, released.ordered))
    }
}

/// The fingerprints of the tx_ids processed, for a checkpoint (a resumed run refuses them
/// as duplicates). A replay keeps every one; a live run with a dedupe horizon keeps two
/// generations, as the source's duplicate check does (`IngestState::with_horizon`), so its
/// checkpoints stay bounded however long it runs.
pub struct ProcessedIds {
    current: Vec<u128>,
    older: Vec<u128>,
    generations: crate::ingest::Generations,
}

impl ProcessedIds {
    /// Starting from a checkpoint's ids (`resumed`).
    pub fn new(resumed: Vec<u128>, horizon_us: Option<i64>) -> Self {
        ProcessedIds { current: resumed, older: Vec::new(), generations: crate::ingest::Generations::new(horizon_us) }
    }

    fn add(&mut self, batch: &RecordBatch) {
        let col = batch.column_by_name(tx::TX_ID).expect("tx_id").as_string::<i32>();
        self.current.extend(col.iter().map(|v| crate::ingest::fingerprint(v.unwrap_or("").as_bytes())));
        if let Some(newest) = ts_column(batch).iter().flatten().max()
            && self.generations.turns_at(newest)
        {
            self.older = std::mem::take(&mut self.current);
        }
    }

    /// Every id kept.
    pub fn all(&self) -> Vec<u128> {
        let mut v = Vec::with_capacity(self.older.len() + self.current.len());
        v.extend_from_slice(&self.older);
        v.extend_from_slice(&self.current);
        v
    }
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
