//! The seam where detectors plug into the pipeline.
//!
//! Owns: the `Detector` trait and `DetectCtx` (the side tables every detector may read).
//! SQL rules (`rules/`) and the temporal graph engine (`graph/`) implement it.
//! Must not: do I/O; detectors are pure functions of the batches and window they see.
//! Also: `DetectorNote`, what a detector could not judge (for `summary.json` and the log).

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::alert::Alert;
use crate::error::Result;
use crate::tables::{AccountsTable, FxTable};
use crate::window::EventWindow;

/// Side tables available to every detector.
#[derive(Debug, Clone)]
pub struct DetectCtx {
    pub accounts: Arc<AccountsTable>,
    pub fx: Arc<FxTable>,
}

/// A detection stage over the event-time stream.
pub trait Detector: Send {
    /// Stable id of the detector (a rule id, or `graph.cycles`, ...).
    fn id(&self) -> &str;

    /// Sees each new time-ordered, enriched batch after it was added to `window`;
    /// returns the alerts it completes. The same evidence must yield the same alert id.
    fn on_batch(&mut self, batch: &RecordBatch, window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>>;

    /// Called once at the end of input (replays, or a live source that ended), unless
    /// the run ends in a checkpoint (then `save_state` is called instead).
    fn on_finish(&mut self, _window: &EventWindow, _ctx: &DetectCtx) -> Result<Vec<Alert>> {
        Ok(Vec::new())
    }

    /// What the detector must carry into the next run (a checkpoint): whatever it holds
    /// beyond the window (open episodes, evidence already alerted), written as JSON
    /// straight from its own structures into `out` (`save_json`: a checkpoint file, never
    /// a copy in memory). Returns false when it has nothing to carry (then it writes
    /// nothing). Default: nothing.
    fn save_state(&self, _out: &mut dyn std::io::Write) -> Result<bool> {
        Ok(false)
    }

    /// Busy seconds of the detector's own parts (e.g. each SQL rule), for
    /// `summary.json` `timings.stages` as `<detector id>/<part>`: asked once at the end of
    /// a run. Default: none.
    fn part_timings(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// What the detector could not judge, for `summary.json` and the log (no account or
    /// customer ids): asked once at the end of a run. Default: nothing to say.
    fn notes(&self) -> Vec<DetectorNote> {
        Vec::new()
    }

    /// A live run's side tables were read again (`live.side-refresh`): `ctx` holds the new
    /// ones, and every later call gets it. A detector that keeps something derived from
    /// them (planned tables, resolved parties) renews it here. Default: nothing kept.
    fn side_tables_changed(&mut self, _ctx: &DetectCtx) -> Result<()> {
        Ok(())
    }

    /// Takes back what `save_state` gave, before the first batch of a resumed run (not
    /// called when the checkpoint holds nothing for the detector).
    fn load_state(&mut self, _state: &RawValue) -> Result<()> {
        Ok(())
    }
}

pub use serde_json::value::RawValue;

/// A detector's state read back from a checkpoint: its JSON text.
pub type SavedState = Box<RawValue>;

/// Writes `value` as a detector's saved state into `out` (`who` names it in the error).
pub fn save_json<T: serde::Serialize + ?Sized>(who: &str, out: &mut dyn std::io::Write, value: &T) -> Result<bool> {
    serde_json::to_writer(out, value).map_err(|e| crate::error::Error::Internal(format!("{who} state: {e}")))?;
    Ok(true)
}

/// A detector's saved state read back (`who` names it in the error).
pub fn load_json<T: serde::de::DeserializeOwned>(who: &str, state: &RawValue) -> Result<T> {
    serde_json::from_str(state.get())
        .map_err(|e| crate::error::Error::Config(vec![format!("checkpoint: the {who} state does not read: {e}")]))
}

/// Column `name` of a batch, or an internal error naming `detector` and the column.
pub fn column<'a>(batch: &'a RecordBatch, detector: &str, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| crate::error::Error::Internal(format!("{detector}: the batch has no `{name}`")))
}

/// The columns every enriched transfer batch carries, as a detector reads them row by row.
pub struct TxColumns<'a> {
    pub ids: &'a arrow::array::StringArray,
    pub src: &'a arrow::array::StringArray,
    pub dst: &'a arrow::array::StringArray,
    pub ts: &'a arrow::array::TimestampMicrosecondArray,
    pub seq: &'a arrow::array::UInt64Array,
    /// USD at the day's rate (null without one).
    pub usd: &'a arrow::array::Decimal128Array,
}

impl<'a> TxColumns<'a> {
    /// The batch's columns, or an internal error naming `detector` and the missing column.
    pub fn of(batch: &'a RecordBatch, detector: &str) -> Result<Self> {
        use crate::schema::tx;
        use arrow::array::AsArray;
        use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType, UInt64Type};
        let col = |n: &str| column(batch, detector, n);
        Ok(TxColumns {
            ids: col(tx::TX_ID)?.as_string::<i32>(),
            src: col(tx::SRC_ACCOUNT)?.as_string::<i32>(),
            dst: col(tx::DST_ACCOUNT)?.as_string::<i32>(),
            ts: col(tx::TS)?.as_primitive::<TimestampMicrosecondType>(),
            seq: col(tx::SEQ)?.as_primitive::<UInt64Type>(),
            usd: col(tx::AMOUNT_USD)?.as_primitive::<Decimal128Type>(),
        })
    }
}

/// One detector's account of its coverage.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DetectorNote {
    /// `graph`, `mirror`, `rules` or a rule id.
    pub detector: String,
    /// `info` or `warn` (a stage that judged nothing, a rule that is off).
    pub level: String,
    /// Rows the stage looks at (transfers for the graph, US cash deposits for mirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_seen: Option<u64>,
    /// Of those, the rows it could judge (at or above its amount floor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_eligible: Option<u64>,
    /// The sentence the log carries.
    pub message: String,
}

impl DetectorNote {
    pub fn warn(detector: &str, message: String) -> Self {
        DetectorNote { detector: detector.into(), level: "warn".into(), message, ..Default::default() }
    }

    pub fn info(detector: &str, message: String) -> Self {
        DetectorNote { detector: detector.into(), level: "info".into(), message, ..Default::default() }
    }

    /// Logs it at its level.
    pub fn log(&self) {
        if self.level == "warn" {
            tracing::warn!(detector = %self.detector, "{}", self.message);
        } else {
            tracing::info!(detector = %self.detector, "{}", self.message);
        }
    }
}

/// `1234567` as `1,234,567` (notes are read by people).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
