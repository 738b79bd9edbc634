//! Sources: where transactions come from. Each runs as its own task and sends
//! [`Chunk`]s on a bounded channel (backpressure when the pipeline is behind).
//!
//! Owns: the `Source` seam and its implementations: `ReplaySource` (a historical ledger,
//! sorted into event time by `replay`), `StdinSource` (live NDJSON lines) and
//! `DirSource` (a directory where new ledger files land). A Kafka source plugs in here.
//! Must not: order, filter or detect.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::config::InputConfig;
use crate::error::{Error, Result};
use crate::ingest::jsonl::JsonLineParser;
use crate::ingest::{CHUNK_BYTES, Chunk, IngestState, LineRead, Rejected, TxReader, open_transactions};
use crate::pipeline::progress::Progress;
use crate::replay::{SortOptions, sort_by_event_time};
use crate::schema;

/// A source of transactions.
pub trait Source: Send + 'static {
    /// What it reads, for the summary (paths, `<stdin>`, a topic).
    fn inputs(&self) -> Vec<String>;

    /// Runs until the input ends (or forever, for live sources), sending chunks on
    /// `out`. Row-level problems travel inside chunks; an `Err` means the input could
    /// not be read at all.
    fn run(self: Box<Self>, out: mpsc::Sender<Chunk>, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>>;
}

fn rejected_only(c: Chunk) -> (Chunk, RecordBatch) {
    let Chunk { batch, rejected, rows_read } = c;
    (Chunk { batch: RecordBatch::new_empty(schema::transactions_schema()), rejected, rows_read }, batch)
}

/// A historical ledger replayed in event-time order.
pub struct ReplaySource {
    readers: Vec<Box<dyn TxReader>>,
    sort: SortOptions,
    /// The input is known to be in event-time order already (Parquet files whose `ts`
    /// never decreases): no sort, and ingest overlaps detection.
    presorted: bool,
}

impl ReplaySource {
    /// Opens every transactions file now, so a file that cannot be read stops the run
    /// before anything is processed.
    pub fn open(files: &[PathBuf], input: &InputConfig, sort: SortOptions) -> Result<Self> {
        let readers = files.iter().map(|f| open_transactions(f, input)).collect::<Result<_>>()?;
        let parquet = files
            .iter()
            .all(|f| crate::ingest::format_of(f, input.format).is_ok_and(|x| x == crate::config::Format::Parquet));
        let presorted = parquet && crate::ingest::parquet::ts_already_sorted(files);
        if presorted {
            tracing::info!("the ledger is already in event-time order: replaying without a sort");
        }
        Ok(ReplaySource { readers, sort, presorted })
    }
}

impl Source for ReplaySource {
    fn inputs(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.name().to_string()).collect()
    }

    fn run(self: Box<Self>, out: mpsc::Sender<Chunk>, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let (to_sort, sort_input) = mpsc::channel::<RecordBatch>(4);
            let side = out.clone();
            let mut readers = self.readers;
            if self.presorted {
                // File order is event-time order: chunks go straight on.
                drop((to_sort, sort_input));
                let reading = tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut state = IngestState::default();
                    for r in readers.iter_mut() {
                        while let Some(chunk) = crate::metrics::timed("ingest", || r.next_chunk(&mut state))? {
                            progress.read.fetch_add(chunk.rows_read, Ordering::Relaxed);
                            if side.blocking_send(chunk).is_err() {
                                return Ok(()); // pipeline stopped
                            }
                        }
                    }
                    Ok(())
                });
                return reading.await.map_err(|e| Error::Internal(format!("ingest thread: {e}")))?;
            }
            let reading = tokio::task::spawn_blocking(move || -> Result<()> {
                let mut state = IngestState::default();
                for r in readers.iter_mut() {
                    while let Some(chunk) = crate::metrics::timed("ingest", || r.next_chunk(&mut state))? {
                        progress.read.fetch_add(chunk.rows_read, Ordering::Relaxed);
                        let (meta, batch) = rejected_only(chunk);
                        if side.blocking_send(meta).is_err() {
                            return Ok(()); // pipeline stopped
                        }
                        if batch.num_rows() > 0 && to_sort.blocking_send(batch).is_err() {
                            return Ok(());
                        }
                    }
                }
                Ok(())
            });
            let mut sorted = sort_by_event_time(sort_input, &self.sort).await?;
            let mut failure = None;
            while let Some(b) = sorted.next().await {
                match b {
                    Ok(batch) => {
                        let chunk = Chunk { batch, rejected: Vec::new(), rows_read: 0 };
                        if out.send(chunk).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        failure = Some(Error::datafusion("the event-time sort", e));
                        break;
                    }
                }
            }
            // A reading error explains a short sort input: report it first.
            reading.await.map_err(|e| Error::Internal(format!("ingest thread: {e}")))??;
            match failure {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }
}

/// Set when the job is asked to stop: sources whose reading outlives their future (the
/// stdin batcher runs on a blocking thread) release what they hold and end.
pub static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Live NDJSON lines on standard input.
pub struct StdinSource {
    input: InputConfig,
    batch_rows: usize,
    /// A batch is released when no line came for this long.
    pause: Duration,
}

impl StdinSource {
    pub fn new(input: InputConfig, batch_rows: usize) -> Self {
        StdinSource { input, batch_rows, pause: Duration::from_millis(200) }
    }
}

impl Source for StdinSource {
    fn inputs(&self) -> Vec<String> {
        vec!["<stdin>".into()]
    }

    fn run(self: Box<Self>, out: mpsc::Sender<Chunk>, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            // A plain thread reads lines (stdin blocks); the batching loop releases a
            // batch when it is full or when the input pauses.
            // A line longer than `input.max-record-bytes` is not held: its prefix comes
            // with its size, for quarantine (`record_too_long`).
            let (lines_tx, lines_rx) = std::sync::mpsc::sync_channel::<std::io::Result<(Vec<u8>, Option<u64>)>>(8192);
            let max_record = self.input.max_record_bytes;
            // Bytes of lines read but not yet parsed: the reader waits while more than
            // CHUNK_BYTES are queued (so 8,192 queued lines cannot be 8,192 MiB).
            let queued = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
            let reader_queued = queued.clone();
            std::thread::Builder::new()
                .name("stdin-reader".into())
                .spawn(move || {
                    let stdin = std::io::stdin();
                    let mut lock = stdin.lock();
                    loop {
                        let mut buf = Vec::new();
                        let read = crate::ingest::append_line_bounded(&mut lock, &mut buf, max_record);
                        if let Ok(LineRead::Line | LineRead::TooLong { .. }) = read {
                            let (n, cv) = &*reader_queued;
                            let Ok(mut n) = n.lock() else { return };
                            while *n > 0 && *n + buf.len() > CHUNK_BYTES {
                                n = match cv.wait(n) {
                                    Ok(n) => n,
                                    Err(_) => return,
                                };
                            }
                            *n += buf.len();
                        }
                        let sent = match read {
                            Ok(LineRead::End) => return,
                            Ok(LineRead::Line) => lines_tx.send(Ok((buf, None))),
                            Ok(LineRead::TooLong { bytes }) => lines_tx.send(Ok((buf, Some(bytes)))),
                            Err(e) => {
                                let _ = lines_tx.send(Err(e));
                                return;
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start the stdin reader: {e}")))?;
            let (batch_rows, pause, input) = (self.batch_rows, self.pause, self.input);
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut parser = JsonLineParser::new("<stdin>".into(), &input);
                let mut state = IngestState::default();
                let mut line = 0u64;
                // bytes of the lines in `pending` (0 again once it is flushed)
                let mut pending_bytes = 0usize;
                let unqueue = |len: usize| {
                    let (n, cv) = &*queued;
                    if let Ok(mut n) = n.lock() {
                        *n = n.saturating_sub(len);
                        cv.notify_one();
                    }
                };
                let mut pending = Chunk {
                    batch: RecordBatch::new_empty(schema::transactions_schema()),
                    rejected: Vec::new(),
                    rows_read: 0,
                };
                let flush =
                    |parser: &mut JsonLineParser, pending: &mut Chunk, state: &mut IngestState| -> Option<Chunk> {
                        if pending.rows_read == 0 {
                            return None;
                        }
                        let mut c = std::mem::replace(
                            pending,
                            Chunk {
                                batch: RecordBatch::new_empty(schema::transactions_schema()),
                                rejected: Vec::new(),
                                rows_read: 0,
                            },
                        );
                        let (batch, dups) = crate::metrics::timed("ingest", || parser.finish(state));
                        c.batch = batch;
                        c.rejected.extend(dups);
                        c.rejected.sort_by_key(|r| r.line);
                        Some(c)
                    };
                loop {
                    // asked to stop: the lines already read are taken, then the input ends
                    let next = if STOPPING.load(Ordering::Relaxed) {
                        lines_rx.try_recv().map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected)
                    } else {
                        lines_rx.recv_timeout(pause)
                    };
                    match next {
                        Ok(Ok((buf, Some(bytes)))) => {
                            unqueue(buf.len());
                            line += 1;
                            pending.rows_read += 1;
                            progress.read.fetch_add(1, Ordering::Relaxed);
                            pending.rejected.push(Rejected::too_long("<stdin>", line, max_record, bytes, &buf));
                        }
                        Ok(Ok((buf, None))) => {
                            unqueue(buf.len());
                            line += 1;
                            let rec = buf.trim_ascii();
                            if rec.is_empty() {
                                continue;
                            }
                            if pending.rows_read == 0 {
                                pending_bytes = 0;
                            }
                            pending_bytes += rec.len();
                            pending.rows_read += 1;
                            progress.read.fetch_add(1, Ordering::Relaxed);
                            if let Some(r) = parser.push_line(line, rec) {
                                pending.rejected.push(r);
                            }
                            if (pending.rows_read as usize >= batch_rows || pending_bytes >= CHUNK_BYTES)
                                && let Some(c) = flush(&mut parser, &mut pending, &mut state)
                                && out.blocking_send(c).is_err()
                            {
                                return Ok(());
                            }
                        }
                        Ok(Err(e)) => return Err(Error::io("<stdin>", e)),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if let Some(c) = flush(&mut parser, &mut pending, &mut state)
                                && out.blocking_send(c).is_err()
                            {
                                return Ok(());
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            if let Some(c) = flush(&mut parser, &mut pending, &mut state) {
                                let _ = out.blocking_send(c);
                            }
                            return Ok(());
                        }
                    }
                }
            })
            .await
            .map_err(|e| Error::Internal(format!("stdin source: {e}")))?
        })
    }
}

/// Follows a directory: every new transactions file (CSV, NDJSON, Parquet; names
/// starting with `.` or ending in `.tmp`/`.part` are ignored until renamed) is read once
/// its size has been stable for `settle`, in name order.
pub struct DirSource {
    dir: PathBuf,
    input: InputConfig,
    poll: Duration,
    settle: Duration,
    idle_exit: Option<Duration>,
}

impl DirSource {
    pub fn new(
        dir: PathBuf,
        input: InputConfig,
        poll: Duration,
        settle: Duration,
        idle_exit: Option<Duration>,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::input(&dir, "not a directory (set `live.dir` to the directory to follow)"));
        }
        Ok(DirSource { dir, input, poll, settle, idle_exit })
    }
}

fn eligible(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let partial = lower.starts_with('.') || lower.ends_with(".tmp") || lower.ends_with(".part");
    let side_table = lower.starts_with("accounts.") || lower.starts_with("fx_rates.");
    let ledger_file = [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".parquet"]
        .iter()
        .any(|e| lower.ends_with(e));
    ledger_file && !partial && !side_table
}

impl Source for DirSource {
    fn inputs(&self) -> Vec<String> {
        vec![self.dir.display().to_string()]
    }

    fn run(self: Box<Self>, out: mpsc::Sender<Chunk>, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let mut done: HashSet<String> = HashSet::new();
            // name -> (size seen, since when)
            let mut watching: BTreeMap<String, (u64, Instant)> = BTreeMap::new();
            let mut state = Some(IngestState::default());
            let mut last_activity = Instant::now();
            loop {
                let mut ready = Vec::new();
                let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if done.contains(&name) || !eligible(&name) {
                        continue;
                    }
                    let Ok(meta) = entry.metadata() else { continue };
                    if !meta.is_file() {
                        continue;
                    }
                    let size = meta.len();
                    match watching.get(&name) {
                        Some((s, since)) if *s == size && since.elapsed() >= self.settle => ready.push(name.clone()),
                        Some((s, _)) if *s == size => {}
                        _ => {
                            watching.insert(name.clone(), (size, Instant::now()));
                            last_activity = Instant::now();
                        }
                    }
                }
                ready.sort();
                for name in ready {
                    watching.remove(&name);
                    done.insert(name.clone());
                    last_activity = Instant::now();
                    let path = self.dir.join(&name);
                    let input = self.input.clone();
                    let out2 = out.clone();
                    let progress = progress.clone();
                    let mut st = state.take().expect("state is returned after each file");
                    let res = tokio::task::spawn_blocking(move || -> (IngestState, Result<bool>) {
                        let r = (|| -> Result<bool> {
                            let mut reader = open_transactions(&path, &input)?;
                            while let Some(chunk) = crate::metrics::timed("ingest", || reader.next_chunk(&mut st))? {
                                progress.read.fetch_add(chunk.rows_read, Ordering::Relaxed);
                                if out2.blocking_send(chunk).is_err() {
                                    return Ok(false);
                                }
                            }
                            Ok(true)
                        })();
                        (st, r)
                    })
                    .await
                    .map_err(|e| Error::Internal(format!("directory source: {e}")))?;
                    state = Some(res.0);
                    match res.1 {
                        Ok(true) => {}
                        Ok(false) => return Ok(()),
                        // A file that cannot be read at all stops the run, naming it.
                        Err(e) => return Err(e),
                    }
                }
                if let Some(idle) = self.idle_exit
                    && watching.is_empty()
                    && last_activity.elapsed() >= idle
                {
                    return Ok(());
                }
                tokio::time::sleep(self.poll).await;
            }
        })
    }
}
