//! Watermarks and the reorder buffer: out-of-order records within the allowed lateness
//! are put back in event-time order; records later than that are refused.
//!
//! Owns: `Orderer`, a pure function of the batches pushed into it. The watermark is
//! `max event time seen - allowed lateness`; a row is released once its time is below
//! the watermark, and released rows are sorted by `(ts, tx_id)` and numbered (`seq`) in
//! that order, so rows at the same event time meet the detectors in the same order however
//! they arrived. A row whose time is below the watermark when it arrives is late. So a live stream and a replay of the same data
//! (with disorder within the lateness) release the same rows in the same order.
//! The caller also gives a limit in event time (the wall clock plus `pipeline.max-future-lead`):
//! a row dated after it is refused as future and never moves the watermark, so one
//! mistyped year cannot make every later row late.
//! Must not: do I/O or read the clock (the caller passes the limit).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::kernels::cmp::{gt_eq, lt};
use arrow::compute::{SortColumn, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch};

use crate::error::{Error, Result};
use crate::schema::{self, tx};

pub use mirrorflow_core::schema::ts_column;

/// Sorts a transactions batch by `(ts, tx_id)`: rows at the same event time in the order
/// of their ids, whatever order they arrived in (a topic's partitions interleave at
/// random; a file's order is one producer's choice).
pub fn sort_by_time(batch: &RecordBatch) -> Result<RecordBatch> {
    let cols = [tx::TS, tx::TX_ID]
        .map(|c| SortColumn { values: batch.column_by_name(c).expect("transactions column").clone(), options: None });
    let idx = lexsort_to_indices(&cols, None).map_err(|e| Error::arrow("sorting by event time", e))?;
    take_record_batch(batch, &idx).map_err(|e| Error::arrow("sorting by event time", e))
}

/// Whether a batch is in `(ts, tx_id)` order already (a replay's sorted input mostly is).
fn in_time_order(batch: &RecordBatch) -> bool {
    let t = ts_column(batch).values();
    let ids = batch.column_by_name(tx::TX_ID).expect("tx_id").as_string::<i32>();
    (1..t.len()).all(|i| t[i - 1] < t[i] || (t[i - 1] == t[i] && ids.value(i - 1) <= ids.value(i)))
}

/// Numbers the rows of a batch `from, from + 1, ...` in its order (the `seq` the
/// detectors see: the row's place in event-time order).
fn renumber(batch: RecordBatch, from: u64) -> Result<RecordBatch> {
    let i = batch.schema().index_of(tx::SEQ).map_err(|e| Error::arrow("seq column", e))?;
    let mut cols = batch.columns().to_vec();
    cols[i] = Arc::new(arrow::array::UInt64Array::from_iter_values(from..from + batch.num_rows() as u64));
    RecordBatch::try_new(batch.schema(), cols).map_err(|e| Error::arrow("numbering rows in event-time order", e))
}

fn ts_scalar(v: i64) -> arrow::array::Scalar<ArrayRef> {
    let a: ArrayRef = Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![v]).with_timezone("UTC"));
    arrow::array::Scalar::new(a)
}

/// The reorder buffer.
pub struct Orderer {
    lateness_us: i64,
    max_ts: i64,
    watermark: i64,
    pending: Vec<RecordBatch>,
    pending_min: i64,
    /// The source's event-time bound (`FromSource::Bound`): the watermark is taken from
    /// the lesser of it and the newest event time. `i64::MAX`: none.
    cap: i64,
    /// The `seq` of the next row released.
    next_seq: u64,
}

/// What one push gives back.
#[derive(Debug, Default)]
pub struct Released {
    /// Rows now below the watermark, in `(ts, tx_id)` order, numbered so in `seq`.
    pub ordered: Option<RecordBatch>,
    /// Rows that arrived below the watermark (to quarantine).
    pub late: Option<RecordBatch>,
    /// Rows dated after the limit given to [`Orderer::push_limited`] (to quarantine).
    pub future: Option<RecordBatch>,
}

impl Orderer {
    /// A buffer with the given allowed lateness (microseconds).
    pub fn new(lateness_us: i64) -> Self {
        Orderer {
            lateness_us,
            max_ts: i64::MIN,
            watermark: i64::MIN,
            pending: Vec::new(),
            pending_min: i64::MAX,
            cap: i64::MAX,
            next_seq: 0,
        }
    }

    /// Continues after a checkpoint whose newest event time was `max_ts`: rows more than
    /// the allowed lateness before it are late.
    pub fn resume_at(&mut self, max_ts: i64) {
        self.max_ts = self.max_ts.max(max_ts);
        self.watermark = self.watermark.max(max_ts.saturating_sub(self.lateness_us));
    }

    /// The current watermark (`i64::MIN` before any row).
    /// Continues a checkpoint's ordering exactly: its newest event time and watermark.
    pub fn resume_exact(&mut self, max_ts: i64, watermark: i64) {
        self.max_ts = self.max_ts.max(max_ts);
        self.watermark = self.watermark.max(watermark);
    }

    /// Released rows are numbered from `n` on (a resumed run: its checkpoint's next `seq`).
    pub fn number_from(&mut self, n: u64) {
        self.next_seq = n;
    }

    /// The `seq` the next released row gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Rows buffered, not yet released.
    pub fn pending_rows(&self) -> usize {
        self.pending.iter().map(|b| b.num_rows()).sum()
    }

    /// Takes a batch (any order); releases what the advanced watermark allows.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Released> {
        self.push_limited(batch, i64::MAX)
    }

    /// [`Orderer::push`], refusing rows dated after `future_limit` (µs) as future: they
    /// are neither buffered nor counted in the watermark.
    pub fn push_limited(&mut self, batch: RecordBatch, future_limit: i64) -> Result<Released> {
        let mut out = Released::default();
        if batch.num_rows() == 0 {
            return Ok(out);
        }
        let fail = |e| Error::arrow("ordering by event time", e);
        // Row by row in arrival order, so lateness does not depend on how rows were
        // batched: a row is late when it is below the watermark as of its arrival.
        let ts = ts_column(&batch);
        let mut max_ts = self.max_ts;
        let mut late = Vec::new();
        let mut future = Vec::new();
        for (i, &t) in ts.values().iter().enumerate() {
            let wm = self.watermark.max(max_ts.min(self.cap).saturating_sub(self.lateness_us));
            if t > future_limit {
                future.push(i);
            } else if max_ts != i64::MIN && t < wm {
                late.push(i);
            } else {
                max_ts = max_ts.max(t);
            }
        }
        let mut batch = batch;
        if !late.is_empty() || !future.is_empty() {
            let mask = |rows: &[usize]| {
                let mut m = vec![false; batch.num_rows()];
                for &i in rows {
                    m[i] = true;
                }
                BooleanArray::from(m)
            };
            let (late_mask, future_mask) = (mask(&late), mask(&future));
            if !late.is_empty() {
                out.late = Some(filter_record_batch(&batch, &late_mask).map_err(fail)?);
            }
            if !future.is_empty() {
                out.future = Some(filter_record_batch(&batch, &future_mask).map_err(fail)?);
            }
            let refused = arrow::compute::or(&late_mask, &future_mask).map_err(fail)?;
            let keep = arrow::compute::not(&refused).map_err(fail)?;
            batch = filter_record_batch(&batch, &keep).map_err(fail)?;
        }
        if batch.num_rows() > 0 {
            let ts = ts_column(&batch);
            let (min, max) = (arrow::compute::min(ts).unwrap_or(i64::MAX), arrow::compute::max(ts).unwrap_or(i64::MIN));
            self.pending_min = self.pending_min.min(min);
            self.max_ts = self.max_ts.max(max);
            self.pending.push(batch);
        }
        out.ordered = self.raise()?;
        Ok(out)
    }

    /// Moves the watermark up to the newest event time (held to the cap) less the
    /// allowed lateness, releasing what falls below it.
    fn raise(&mut self) -> Result<Option<RecordBatch>> {
        if self.max_ts == i64::MIN {
            return Ok(None);
        }
        let wm = self.max_ts.min(self.cap).saturating_sub(self.lateness_us);
        if wm > self.watermark {
            self.watermark = wm;
        }
        if self.pending_min < self.watermark {
            return self.release_below(self.watermark);
        }
        Ok(None)
    }

    /// The source's new event-time bound (see `FromSource::Bound`); what it lets through.
    pub fn set_cap(&mut self, cap: i64) -> Result<Option<RecordBatch>> {
        self.cap = cap;
        self.raise()
    }

    /// The rows held for reordering (for a checkpoint), and the newest event time.
    pub fn held(&self) -> (Vec<RecordBatch>, i64) {
        (self.pending.clone(), self.max_ts)
    }

    /// Takes back rows a checkpoint held (after `resume_at`).
    pub fn restore_held(&mut self, held: Vec<RecordBatch>) {
        for b in held.into_iter().filter(|b| b.num_rows() > 0) {
            let ts = ts_column(&b);
            self.pending_min = self.pending_min.min(arrow::compute::min(ts).unwrap_or(i64::MAX));
            self.pending.push(b);
        }
    }

    /// The input has been silent (a live run's `idle-advance`): the watermark moves up to
    /// the newest event time seen and every buffered row is released. A row that then
    /// arrives older than that time is late; one at that very time is still taken.
    pub fn advance_idle(&mut self) -> Result<Option<RecordBatch>> {
        if self.pending.is_empty() || self.max_ts == i64::MIN {
            return Ok(None);
        }
        self.watermark = self.watermark.max(self.max_ts);
        self.release_below(self.max_ts.saturating_add(1))
    }

    /// Releases every buffered row (end of input).
    pub fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.max_ts != i64::MIN {
            self.watermark = self.watermark.max(self.max_ts.saturating_add(1));
        }
        self.release_below(i64::MAX)
    }

    fn release_below(&mut self, wm: i64) -> Result<Option<RecordBatch>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let fail = |e| Error::arrow("ordering by event time", e);
        let all = concat_batches(&schema::transactions_schema(), &self.pending).map_err(fail)?;
        self.pending.clear();
        let ts = ts_column(&all);
        let release: BooleanArray = if wm == i64::MAX {
            BooleanArray::from(vec![true; all.num_rows()])
        } else {
            lt(ts, &ts_scalar(wm)).map_err(fail)?
        };
        let keep = if wm == i64::MAX { None } else { Some(gt_eq(ts, &ts_scalar(wm)).map_err(fail)?) };
        let out = filter_record_batch(&all, &release).map_err(fail)?;
        self.pending_min = i64::MAX;
        if let Some(keep) = keep {
            let rest = filter_record_batch(&all, &keep).map_err(fail)?;
            if rest.num_rows() > 0 {
                self.pending_min = arrow::compute::min(ts_column(&rest)).unwrap_or(i64::MAX);
                self.pending.push(rest);
            }
        }
        if out.num_rows() == 0 {
            return Ok(None);
        }
        // Already sorted input (replays, mostly) skips the sort.
        let out = if in_time_order(&out) { out } else { sort_by_time(&out)? };
        let n = out.num_rows() as u64;
        let out = renumber(out, self.next_seq)?;
        self.next_seq += n;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestState, test_batch as batch};

    fn ids(b: &RecordBatch) -> Vec<String> {
        b.column(0).as_string::<i32>().iter().map(|s| s.unwrap().to_string()).collect()
    }

    #[test]
    fn reorders_within_lateness_and_refuses_later() {
        let mut st = IngestState::default();
        let mut o = Orderer::new(10 * 1_000_000);
        let r = o.push(batch(&[("a", 100), ("c", 105), ("b", 103)], &mut st)).unwrap();
        assert!(r.ordered.is_none()); // watermark 95: nothing below it yet
        let r = o.push(batch(&[("x", 99), ("d", 120)], &mut st)).unwrap();
        // watermark 110: a, x, b, c released in time order
        assert_eq!(ids(r.ordered.as_ref().unwrap()), ["x", "a", "b", "c"]);
        assert!(r.late.is_none());
        let r = o.push(batch(&[("late", 104), ("e", 121)], &mut st)).unwrap();
        assert_eq!(ids(r.late.as_ref().unwrap()), ["late"]);
        assert_eq!(ids(&o.flush().unwrap().unwrap()), ["d", "e"]);
    }

    #[test]
    fn rows_after_the_future_limit_are_refused_and_do_not_move_the_watermark() {
        let mut st = IngestState::default();
        let mut o = Orderer::new(10 * 1_000_000);
        let r = o.push_limited(batch(&[("a", 100), ("far", 100_000), ("b", 101)], &mut st), 1_000_000_000).unwrap();
        assert_eq!(ids(r.future.as_ref().unwrap()), ["far"]);
        assert_eq!(o.watermark(), 91 * 1_000_000);
        let r = o.push_limited(batch(&[("c", 102)], &mut st), 1_000_000_000).unwrap();
        assert!(r.late.is_none() && r.future.is_none());
        assert_eq!(ids(&o.flush().unwrap().unwrap()), ["a", "b", "c"]);
    }

    #[test]
    fn an_idle_advance_releases_what_is_buffered() {
        let mut st = IngestState::default();
        let mut o = Orderer::new(3_600 * 1_000_000);
        assert!(o.push(batch(&[("a", 100), ("b", 50)], &mut st)).unwrap().ordered.is_none());
        assert_eq!(ids(&o.advance_idle().unwrap().unwrap()), ["b", "a"]);
        assert!(o.advance_idle().unwrap().is_none());
        let r = o.push(batch(&[("old", 99), ("same", 100)], &mut st)).unwrap();
        assert_eq!(ids(r.late.as_ref().unwrap()), ["old"]);
        assert_eq!(ids(&o.flush().unwrap().unwrap()), ["same"]);
    }

    /// Rows at the same event time go in id order whatever order they arrived in (a
    /// topic's partitions interleave at random), and are numbered in that order.
    #[test]
    fn ties_go_in_id_order_and_are_numbered_so() {
        for rows in [[("b", 5), ("a", 5), ("c", 4)], [("a", 5), ("c", 4), ("b", 5)]] {
            let mut st = IngestState::default();
            let mut o = Orderer::new(10 * 1_000_000);
            o.number_from(10);
            o.push(batch(&rows, &mut st)).unwrap();
            let out = o.flush().unwrap().unwrap();
            assert_eq!(ids(&out), ["c", "a", "b"]);
            let seq = out.column_by_name(tx::SEQ).unwrap().as_primitive::<arrow::datatypes::UInt64Type>();
            assert_eq!(seq.values().to_vec(), [10, 11, 12]);
            assert_eq!(o.next_seq(), 13);
        }
    }
}
