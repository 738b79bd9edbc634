//! The seam where detectors plug into the pipeline.
//!
//! Owns: the `Detector` trait and `DetectCtx` (the side tables every detector may read).
//! SQL rules (`rules/`) and the temporal graph engine (`graph/`) implement it.
//! Must not: do I/O; detectors are pure functions of the batches and window they see.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::alerts::Alert;
use crate::error::Result;
use crate::ingest::tables::{AccountsTable, FxTable};
use crate::pipeline::window::EventWindow;

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
    /// beyond the window (open episodes, evidence already alerted). Default: nothing.
    fn save_state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }

    /// What the detector could not judge, for `summary.json` and the log (no account or
    /// customer ids): asked once at the end of a run. Default: nothing to say.
    fn notes(&self) -> Vec<crate::pipeline::summary::DetectorNote> {
        Vec::new()
    }

    /// Takes back what `save_state` gave, before the first batch of a resumed run.
    fn load_state(&mut self, _state: serde_json::Value) -> Result<()> {
        Ok(())
    }
}
