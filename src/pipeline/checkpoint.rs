//! Checkpoints: the state a run leaves for the next one, so that a ledger replayed in two
//! halves (or a live run stopped and started again) gives the same alerts as one run.
//!
//! Owns: the checkpoint directory: `window.parquet` (the event-time window, enriched rows)
//! and `state.json` (format, next `seq`, newest event time, and each detector's own state,
//! e.g. the SQL rules' open episodes and already-alerted evidence). `state.json` is
//! written last, through a temporary file and a rename, so a checkpoint is either whole
//! or absent.
//! Must not: decide anything; detectors say what their state is.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::parquet::ParquetOut;
use crate::pipeline::window::EventWindow;
use crate::schema;

/// Bumped when the layout changes; a checkpoint of another format is refused.
pub const FORMAT: u32 = 1;

/// `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: u32,
    /// The next run numbers its rows from here (ties in time stay in arrival order).
    pub next_seq: u64,
    /// Newest event time processed (µs): the resumed run's watermark starts from it.
    pub max_ts: i64,
    pub window_rows: u64,
    /// Per detector id, its own state.
    pub detectors: BTreeMap<String, serde_json::Value>,
}

/// A checkpoint read back.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: CheckpointState,
    pub window: Vec<RecordBatch>,
}

/// Writes `window` and `state` to `dir` (created if needed).
pub fn save(dir: &Path, state: &CheckpointState, window: &EventWindow) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let wpath = dir.join("window.parquet");
    let mut w = ParquetOut::create(&wpath, schema::enriched_schema())?;
    for b in window.batches() {
        w.write(b)?;
    }
    w.close()?;
    let spath = dir.join("state.json");
    let tmp = dir.join("state.json.tmp");
    let text = serde_json::to_vec_pretty(state).map_err(|e| Error::Internal(format!("checkpoint state: {e}")))?;
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &spath).map_err(|e| Error::io(&spath, e))?;
    Ok(())
}

/// Reads the checkpoint in `dir`.
pub fn load(dir: &Path) -> Result<Checkpoint> {
    let spath = dir.join("state.json");
    let text = std::fs::read(&spath).map_err(|e| Error::io(&spath, e))?;
    let state: CheckpointState =
        serde_json::from_slice(&text).map_err(|e| Error::input(&spath, format!("not a mirrorflow checkpoint: {e}")))?;
    if state.format != FORMAT {
        return Err(Error::input(
            &spath,
            format!("checkpoint format {} (this mirrorflow reads {FORMAT})", state.format),
        ));
    }
    let wpath = dir.join("window.parquet");
    let file = File::open(&wpath).map_err(|e| Error::io(&wpath, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| Error::Parquet { path: wpath.clone(), source: e })?;
    let mut window = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Error::arrow(format!("reading {}", wpath.display()), e))?;
        if b.schema().fields() != schema::enriched_schema().fields() {
            return Err(Error::input(
                &wpath,
                "the window's columns are not this mirrorflow's (made by another version?)",
            ));
        }
        // Same schema object as the live batches (metadata and all).
        window.push(
            RecordBatch::try_new(schema::enriched_schema(), b.columns().to_vec())
                .map_err(|e| Error::arrow("checkpoint window", e))?,
        );
    }
    Ok(Checkpoint { dir: dir.to_path_buf(), state, window })
}
