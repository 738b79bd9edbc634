//! The `quarantine.jsonl` sink (the record model, `Reason` and `Rejected`, is the core
//! crate's and is re-exported here).
//!
//! Owns: `Reason` (the closed set of rejection causes, also the summary's keys),
//! `Rejected` (one record with file, line, field, reason and the raw text) and
//! `QuarantineSink`, and `reopen_cut` / `sync_len` for the outputs a checkpointed run
//! continues. Nothing a reader refuses is dropped silently: it comes here.
//! Must not: decide validity; the readers do.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use mirrorflow_core::error::{Error, Result};

pub use mirrorflow_core::quarantine::{MAX_RAW_BYTES, Reason, Rejected, TOO_LONG_PREFIX, render_row};

/// Writes quarantined records to `quarantine.jsonl` and counts them by reason.
pub struct QuarantineSink {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    /// Records quarantined, by reason.
    pub by_reason: BTreeMap<Reason, u64>,
    /// Records quarantined in all.
    pub total: u64,
}

/// Opens an output file of a checkpointed run cut back to `len` bytes (its length when the
/// checkpoint was taken), positioned at its end; a file shorter than that is refused.
pub fn reopen_cut(path: &Path, len: u64) -> Result<std::fs::File> {
    use std::io::Seek;
    let have = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if have < len {
        return Err(Error::input(
            path,
            format!(
                "holds {have} bytes but the checkpoint was taken after {len}: the output directory is not \
                 the one this checkpoint wrote to (or the file was cut); give both a new place to start over"
            ),
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len).and_then(|_| file.sync_all()).map_err(|e| Error::io(path, e))?;
    file.seek(std::io::SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// Flushes `out` and syncs its file to disk; the file's length (for a checkpoint).
pub fn sync_len(out: &mut std::io::BufWriter<std::fs::File>, path: &Path) -> Result<u64> {
    out.flush().map_err(|e| Error::io(path, e))?;
    let f = out.get_ref();
    f.sync_data().map_err(|e| Error::io(path, e))?;
    Ok(f.metadata().map_err(|e| Error::io(path, e))?.len())
}

impl QuarantineSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), out: std::io::BufWriter::new(file), by_reason: BTreeMap::new(), total: 0 })
    }

    /// Continues `path` from a checkpoint: cut back to `len` bytes (the records after it
    /// are refused again by the resumed run), with the counts the checkpoint kept.
    pub fn resume(path: &Path, len: u64, by_reason: BTreeMap<Reason, u64>) -> Result<Self> {
        let file = reopen_cut(path, len)?;
        let total = by_reason.values().sum();
        Ok(Self { path: path.to_path_buf(), out: std::io::BufWriter::new(file), by_reason, total })
    }

    /// Flushes and syncs the file; its length (for a checkpoint).
    pub fn sync(&mut self) -> Result<u64> {
        sync_len(&mut self.out, &self.path)
    }

    /// Appends records.
    pub fn write_all(&mut self, records: &[Rejected]) -> Result<()> {
        for r in records {
            serde_json::to_writer(&mut self.out, r).map_err(|e| Error::io(&self.path, e.into()))?;
            self.out.write_all(b"\n").map_err(|e| Error::io(&self.path, e))?;
            *self.by_reason.entry(r.reason).or_default() += 1;
            self.total += 1;
        }
        Ok(())
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}
