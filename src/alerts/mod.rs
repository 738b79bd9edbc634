//! The alert sinks: the JSONL file of a run and the alerts a previous run kept.
//!
//! Owns: `JsonlAlertSink`, `KeptAlerts`. The model (`Alert`, `Severity`, `Status`,
//! `alert_id`) is the core crate's and is re-exported here.
//! Must not: decide what is suspicious; detectors build alerts, this module carries them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};

use crate::error::{Error, Result};
use serde::Deserialize;

/// Appends alerts to `alerts.jsonl`, skipping ids already written in this run (or, after
/// [`JsonlAlertSink::skip_kept`], in the files a previous live run left), and counts them
/// by rule and typology for the summary. Each alert goes to the file in one write of one
/// whole line, and [`JsonlAlertSink::flush`] is called after every batch, so a crash loses
/// at most the batch being written and leaves at worst a torn last line, which the next
/// live run cuts off.
pub struct JsonlAlertSink {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    seen: std::collections::HashSet<String>,
    /// Ids the kept files of earlier live runs hold.
    kept: std::collections::HashSet<String>,
    /// Alerts not written because a kept file holds them.
    pub skipped_kept: u64,
    /// Alerts written, by rule id.
    pub by_rule: BTreeMap<String, u64>,
    /// Alerts written, by typology.
    pub by_typology: BTreeMap<String, u64>,
    /// Alerts written in all.
    pub written: u64,
}

impl JsonlAlertSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::over(path, file))
    }

    /// A sink writing to `file` (at its position) with nothing written yet.
    fn over(path: &Path, file: std::fs::File) -> Self {
        Self {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(file),
            seen: Default::default(),
            kept: Default::default(),
            skipped_kept: 0,
            by_rule: Default::default(),
            by_typology: Default::default(),
            written: 0,
        }
    }

    /// Writes `alert` unless an alert with the same id was written already; returns
    /// whether it was written.
    /// Continues `path` from a checkpoint: the file is cut back to `len` bytes (what was
    /// written when the checkpoint was taken; alerts after it are raised again by the
    /// resumed run), and the alerts it holds count as written.
    pub fn resume(path: &Path, len: u64) -> Result<Self> {
        let mut sink = Self::over(path, crate::ingest::quarantine::reopen_cut(path, len)?);
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        #[derive(Deserialize)]
        struct Head {
            alert_id: String,
            rule_id: String,
            typology: String,
        }
        for (i, l) in text.lines().enumerate() {
            let h: Head = serde_json::from_str(l)
                .map_err(|e| Error::input(path, format!("line {}: not an alert: {e}", i + 1)))?;
            *sink.by_rule.entry(h.rule_id).or_default() += 1;
            *sink.by_typology.entry(h.typology).or_default() += 1;
            sink.seen.insert(h.alert_id);
            sink.written += 1;
        }
        Ok(sink)
    }

    /// Flushes and syncs the file; its length (for a checkpoint).
    pub fn sync(&mut self) -> Result<u64> {
        crate::ingest::quarantine::sync_len(&mut self.out, &self.path)
    }

    pub fn write(&mut self, alert: &Alert) -> Result<bool> {
        if self.kept.contains(&alert.alert_id) {
            self.skipped_kept += 1;
            return Ok(false);
        }
        if !self.seen.insert(alert.alert_id.clone()) {
            return Ok(false);
        }
        let mut line = serde_json::to_vec(alert).map_err(|e| Error::io(&self.path, e.into()))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|e| Error::io(&self.path, e))?;
        *self.by_rule.entry(alert.rule_id.clone()).or_default() += 1;
        *self.by_typology.entry(alert.typology.clone()).or_default() += 1;
        self.written += 1;
        Ok(true)
    }

    /// A live run restarted in the same output directory: the alert files the previous
    /// runs left there (`alerts.<time>.jsonl`, see `pipeline::sinks::OutputMode::Append`) are
    /// made whole (a torn last line, from a crash mid-write, is cut off and reported) and
    /// their alert ids are taken as already written, so this run does not write them
    /// again.
    pub fn skip_kept(&mut self, kept: &[PathBuf]) -> Result<KeptAlerts> {
        let mut report = KeptAlerts::default();
        for path in kept {
            let cut = cut_torn_line(path)?;
            if cut > 0 {
                tracing::warn!(file = %path.display(), bytes = cut, "cut a torn last line off a kept alert file");
                report.torn_lines_cut.push(path.display().to_string());
            }
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            for (i, l) in text.lines().enumerate() {
                if l.trim().is_empty() {
                    continue;
                }
                #[derive(Deserialize)]
                struct Id {
                    alert_id: String,
                }
                let id: Id = serde_json::from_str(l)
                    .map_err(|e| Error::input(path, format!("line {}: not an alert: {e}", i + 1)))?;
                if self.kept.insert(id.alert_id) {
                    report.ids += 1;
                }
            }
        }
        Ok(report)
    }

    /// Flushes buffered alerts to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes, then rewrites the file in a canonical order: by `last_ts`, `first_ts`,
    /// `rule_id`, `alert_id`. Alerts are written as detectors complete them, and which
    /// batch completes an alert depends on how rows were batched (adaptive micro-batches,
    /// detectors running side by side); a finished replay's file is then the same bytes
    /// for the same input and config. Written beside the file and renamed over it.
    pub fn finish_sorted(&mut self) -> Result<()> {
        #[derive(Deserialize)]
        struct Key {
            last_ts: String,
            first_ts: String,
            rule_id: String,
            alert_id: String,
        }
        self.flush()?;
        let text = std::fs::read_to_string(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut lines: Vec<(Key, &str)> = Vec::with_capacity(self.written as usize);
        for l in text.lines() {
            let k: Key = serde_json::from_str(l).map_err(|e| Error::io(&self.path, e.into()))?;
            lines.push((k, l));
        }
        lines.sort_by(|(a, _), (b, _)| {
            (&a.last_ts, &a.first_ts, &a.rule_id, &a.alert_id).cmp(&(&b.last_ts, &b.first_ts, &b.rule_id, &b.alert_id))
        });
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        for (_, l) in &lines {
            out.write_all(l.as_bytes()).and_then(|_| out.write_all(b"\n")).map_err(|e| Error::io(&tmp, e))?;
        }
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        drop(out);
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

/// What [`JsonlAlertSink::skip_kept`] found in the kept files.
#[derive(Debug, Clone, Default)]
pub struct KeptAlerts {
    /// Distinct alert ids the kept files hold.
    pub ids: u64,
    /// Kept files whose torn last line was cut off.
    pub torn_lines_cut: Vec<String>,
}

/// Cuts an unterminated last line off `path` (a write interrupted by a crash); returns the
/// bytes cut.
fn cut_torn_line(path: &Path) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(0);
    }
    // scan back from the end for the last newline
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start)).and_then(|_| f.read_exact(&mut buf[..n])).map_err(|e| Error::io(path, e))?;
        if end == len && buf[n - 1] == b'\n' {
            return Ok(0);
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            f.set_len(keep).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))?;
            return Ok(len - keep);
        }
        if start == 0 {
            f.set_len(0).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))?;
            return Ok(len);
        }
        end = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_id_depends_on_evidence_not_order() {
        let a = alert_id("r", "1", &["t2".into(), "t1".into()]);
        let b = alert_id("r", "1", &["t1".into(), "t2".into()]);
        let c = alert_id("r", "2", &["t1".into(), "t2".into()]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("r-"));
    }
}
