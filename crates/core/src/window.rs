//! The event-time sliding window of recent transactions that detectors read.
//!
//! Owns: `EventWindow`, the last `pipeline.window` of event time (30 days by default) as
//! a queue of enriched, time-ordered batches; rows from before the UTC day that began
//! `window` before the newest batch's first row are evicted as time advances, so memory
//! follows the window (plus one batch and at most a day), not the history. Whole days:
//! the SQL rules read the window from the start of the UTC day their lookback reaches
//! (rules that count whole days, a payee's payers over the 35 days before a payment's
//! day), and a cut inside that day would depend on where a batch happened to begin.
//! Must not: detect anything, or reorder rows (they arrive in order).

use std::collections::VecDeque;

use arrow::record_batch::RecordBatch;

use crate::schema::ts_column;

/// Recent transactions, oldest first.
#[derive(Debug)]
pub struct EventWindow {
    span_us: i64,
    batches: VecDeque<RecordBatch>,
    rows: usize,
    now: i64,
}

impl EventWindow {
    /// A window `span_us` microseconds long.
    pub fn new(span_us: i64) -> Self {
        EventWindow { span_us, batches: VecDeque::new(), rows: 0, now: i64::MIN }
    }

    /// Window length in microseconds.
    pub fn span_us(&self) -> i64 {
        self.span_us
    }

    /// The newest event time seen (the window's right edge).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Adds a time-ordered batch whose rows are not older than the window's contents,
    /// then evicts what fell out of the window.
    pub fn push(&mut self, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        let ts = ts_column(&batch);
        self.now = self.now.max(ts.value(ts.len() - 1));
        // Every row of the batch sees a full window behind it: keep what is within the
        // span of the batch's *first* row (a large batch must not push out rows its
        // early rows still look back over), from the start of that UTC day.
        let cutoff = crate::time::day_start(ts.value(0).saturating_sub(self.span_us));
        self.rows += batch.num_rows();
        self.batches.push_back(batch);
        self.evict(cutoff);
    }

    fn evict(&mut self, cutoff: i64) {
        while let Some(front) = self.batches.front() {
            let ts = ts_column(front);
            if ts.value(ts.len() - 1) < cutoff {
                self.rows -= front.num_rows();
                self.batches.pop_front();
                continue;
            }
            if ts.value(0) < cutoff {
                let keep_from = ts.values().partition_point(|&t| t < cutoff);
                let sliced = front.slice(keep_from, front.num_rows() - keep_from);
                self.rows -= keep_from;
                self.batches[0] = sliced;
            }
            break;
        }
    }

    /// The batches in the window, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.batches.iter()
    }

    /// Rows in the window.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate memory held by the window's batches.
    pub fn memory_bytes(&self) -> usize {
        self.batches.iter().map(|b| b.get_array_memory_size()).sum()
    }
}
