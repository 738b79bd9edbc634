//! The pipeline's alert-store sink: alerts go to the store on a thread of their own, one
//! transaction per batch, and none is ever dropped.
//!
//! The store's clients block (and the PostgreSQL client runs its own runtime, which may
//! not start inside tokio's), so the store is opened, written and closed on that thread
//! only; the async pipeline waits for the open without blocking a worker. A batch that
//! fails is tried again (`RetryPolicy`: a SQLite busy timeout per statement, a bounded
//! number of tries with doubling waits, the store reopened between tries). A batch that
//! fails every try goes to `store-spool.jsonl` in the output directory (alert lines, as
//! in `alerts.jsonl`), and so does every later batch of the run, keeping their order; the
//! run then ends with the error in `summary.json` and a non-zero exit. The next writer
//! started on the same output directory stores the spool first and removes it;
//! `mirrorflow alerts import` reads it too.
//!
//! Owns: `StoreWriter`, the spool file.
//! Must not: decide what an alert is or how the store keeps it (`crate::store`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::alerts::Alert;
use crate::error::{Error, Result};
use crate::store::{AlertStore, RetryPolicy, Written};

use super::summary::StoreSummary;

/// The spool's file name in the output directory.
pub const SPOOL_FILE: &str = "store-spool.jsonl";

/// Feeds the alert store from the pipeline (see the module docs).
pub(crate) struct StoreWriter {
    tx: std::sync::mpsc::Sender<ToStore>,
    thread: std::thread::JoinHandle<(StoreSummary, Option<Error>)>,
}

/// What the writer thread takes: a batch, or a request to say when every batch before
/// it is stored (or spooled).
enum ToStore {
    Alerts(Vec<Alert>),
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// The writer thread's state.
struct Writer {
    url: String,
    retry: RetryPolicy,
    spool: PathBuf,
    store: Option<AlertStore>,
    sum: StoreSummary,
    /// The failure that sent batches to the spool.
    failed: Option<Error>,
}

impl StoreWriter {
    /// Opens the store at `url` on the writer's thread (tried like a write), stores a
    /// spool left in `out_dir` by an earlier run, and starts taking batches.
    pub(crate) async fn start(url: &str, retry: RetryPolicy, out_dir: &Path) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<ToStore>();
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<Result<()>>();
        let mut w = Writer {
            url: url.to_string(),
            retry,
            spool: out_dir.join(SPOOL_FILE),
            store: None,
            sum: StoreSummary::default(),
            failed: None,
        };
        let thread = std::thread::Builder::new()
            .name("alert-store".into())
            .spawn(move || {
                if let Err(e) = w.with_retries("open", |_| Ok(())) {
                    let _ = opened_tx.send(Err(e));
                    return (w.sum, None);
                }
                let _ = opened_tx.send(Ok(()));
                w.replay_spool();
                for msg in rx {
                    match msg {
                        ToStore::Alerts(batch) => w.write(batch),
                        ToStore::Sync(done) => {
                            let _ = done.send(());
                        }
                    }
                }
                // the store is dropped here, on its own thread
                w.store = None;
                (w.sum, w.failed)
            })
            .map_err(|e| Error::Internal(format!("alert store thread: {e}")))?;
        match opened_rx.await {
            Ok(Ok(())) => Ok(StoreWriter { tx, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::Internal("alert store thread ended while opening the store".into()))
            }
        }
    }

    /// Queues a batch (never blocks the pipeline).
    pub(crate) fn send(&self, alerts: Vec<Alert>) {
        // the thread only ends when this sender is dropped (or it panicked: `finish` says so)
        let _ = self.tx.send(ToStore::Alerts(alerts));
    }

    /// Waits until every batch queued before is stored (or kept in the spool).
    pub(crate) async fn sync(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(ToStore::Sync(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Waits for every queued batch; what the store took, and the failure that kept
    /// alerts in the spool, if any.
    pub(crate) fn finish(self) -> (StoreSummary, Option<Error>) {
        drop(self.tx);
        let (mut sum, failed) = match self.thread.join() {
            Ok(r) => r,
            Err(_) => return (StoreSummary::default(), Some(Error::Internal("alert store thread panicked".into()))),
        };
        let Some(e) = failed else { return (sum, None) };
        let cause = match &e {
            Error::Store(m) => m.clone(),
            other => other.to_string(),
        };
        sum.error = Some(cause.clone());
        let spool = sum.spool.clone().unwrap_or_default();
        let kept = if sum.spooled > 0 {
            format!(
                "{} alert(s) kept in `{spool}` (stored at the next run with this output directory, or by \
                 `mirrorflow alerts import {spool}`)",
                sum.spooled
            )
        } else {
            format!("the alerts are kept in `{spool}`")
        };
        (sum, Some(Error::Store(format!("{cause}; {kept}"))))
    }
}

impl Writer {
    /// Runs `f` on the store, opening it first if needed, up to `retry.attempts` times.
    fn with_retries<T>(&mut self, what: &str, mut f: impl FnMut(&mut AlertStore) -> Result<T>) -> Result<T> {
        let mut n = 0;
        loop {
            n += 1;
            let res = match self.store.as_mut() {
                Some(st) => f(st),
                None => AlertStore::open_with(&self.url, self.retry.busy_timeout).and_then(|mut st| {
                    self.sum.store = st.describe();
                    let r = f(&mut st);
                    self.store = Some(st);
                    r
                }),
            };
            match res {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if n >= self.retry.attempts {
                        tracing::error!("alert store {what} failed after {n} tries: {e}");
                        return Err(e);
                    }
                    let wait = self.retry.wait_after(n);
                    tracing::warn!(
                        "alert store {what} failed (try {n} of {}), trying again in {wait:?}: {e}",
                        self.retry.attempts
                    );
                    self.sum.retries += 1;
                    // a broken connection is not reused
                    self.store = None;
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn put(&mut self, alerts: &[Alert]) -> Result<Written> {
        let t = std::time::Instant::now();
        let res = self.with_retries("write", |st| st.put(alerts));
        crate::metrics::metrics().stage_seconds.with_label_values(&["store"]).observe(t.elapsed().as_secs_f64());
        res
    }

    fn count(&mut self, w: Written) {
        self.sum.inserted += w.inserted;
        self.sum.updated += w.updated;
        self.sum.unchanged += w.unchanged;
    }

    /// Stores a spool an earlier run left; on failure the spool stays and this run's
    /// batches are appended to it.
    fn replay_spool(&mut self) {
        let alerts = match read_spool(&self.spool) {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                self.fail(e);
                return;
            }
        };
        match self.put(&alerts) {
            Ok(w) => {
                self.count(w);
                self.sum.from_spool = alerts.len() as u64;
                if let Err(e) = std::fs::remove_file(&self.spool) {
                    self.fail(Error::io(&self.spool, e));
                    return;
                }
                tracing::info!(alerts = alerts.len(), spool = %self.spool.display(), "stored the alerts an earlier run spooled");
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: Error) {
        crate::metrics::metrics().store_write_errors.inc();
        self.sum.write_errors += 1;
        self.sum.spool = Some(self.spool.display().to_string());
        self.failed.get_or_insert(e);
    }

    fn write(&mut self, batch: Vec<Alert>) {
        if self.failed.is_none() {
            match self.put(&batch) {
                Ok(w) => {
                    self.count(w);
                    return;
                }
                Err(e) => self.fail(e),
            }
        }
        match append_spool(&self.spool, &batch) {
            Ok(()) => self.sum.spooled += batch.len() as u64,
            Err(e) => {
                // nowhere left to keep them: alerts.jsonl still has every one
                tracing::error!("{e}");
                self.sum.write_errors += 1;
            }
        }
    }
}

/// The alerts of a spool file, or `None` when there is none.
fn read_spool(path: &Path) -> Result<Option<Vec<Alert>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut alerts = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a: Alert = serde_json::from_str(line).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            reason: format!("line {}: not an alert: {e}", n + 1),
        })?;
        alerts.push(a);
    }
    Ok(Some(alerts))
}

/// Appends alerts to the spool, one JSON line each, and syncs it.
fn append_spool(path: &Path, alerts: &[Alert]) -> Result<()> {
    let mut text = String::new();
    for a in alerts {
        let line = serde_json::to_string(a).map_err(|e| Error::Internal(format!("alert to JSON: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))?;
    f.sync_data().map_err(|e| Error::io(path, e))
}
