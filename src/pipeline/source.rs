//! Sources: where transactions come from. Each runs as its own task and sends
//! [`Chunk`]s on a bounded channel (backpressure when the pipeline is behind).
//!
//! Owns: the `Source` seam and its implementations: `ReplaySource` (a historical ledger,
//! sorted into event time by `replay`), `StdinSource` (live NDJSON lines) and
//! `DirSource` (a directory where new ledger files land). A Kafka source plugs in here.
//! Must not: order, filter or detect.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::config::{Format, InputConfig};
use crate::error::{Error, Result};
use crate::ingest::jsonl::JsonLineParser;
use crate::ingest::{CHUNK_BYTES, Chunk, IngestState, LineRead, Rejected, TxReader, open_transactions};
use crate::pipeline::progress::Progress;
use crate::pipeline::sort::{SortOptions, sort_by_event_time};
use crate::schema;

/// A source of transactions.
pub trait Source: Send + 'static {
    /// What it reads, for the summary (paths, `<stdin>`, a topic).
    fn inputs(&self) -> Vec<String>;

    /// Runs until the input ends (or forever, for live sources), sending chunks on
    /// `out`. Row-level problems travel inside chunks; an `Err` means the input could
    /// not be read at all.
    fn run(self: Box<Self>, out: SourceTx, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>>;

    /// A followed directory (its file counts go into the summary).
    fn is_dir(&self) -> bool {
        false
    }

    /// The source ends itself on Ctrl-C / SIGTERM (after a last `Barrier`, so the run can
    /// end in a checkpoint), instead of being dropped by the pipeline.
    fn handles_shutdown(&self) -> bool {
        false
    }

    /// Commits a checkpoint's source position back to where the input came from (Kafka:
    /// the consumer group's offsets), called only once the checkpoint is on disk.
    fn committer(&self) -> Option<Committer> {
        None
    }
}

/// Where a source is (Kafka: the next offset of each partition, by `topic/partition`),
/// kept in a checkpoint so a restarted run reads on from there.
pub type SourcePosition = BTreeMap<String, i64>;

/// Commits a source position once the checkpoint holding it is on disk.
pub type Committer = Arc<dyn Fn(&SourcePosition) -> Result<()> + Send + Sync>;

/// What a source sends on.
pub enum FromSource {
    Chunk(Chunk),
    /// The source's own event-time bound (µs): the least of the newest event times of
    /// its active partitions. The watermark never passes it less the allowed lateness,
    /// so a partition read behind the others does not see its rows refused as late.
    /// `i64::MAX`: every partition is idle, so what is held is released (as after a live
    /// source's silence).
    Bound(i64),
    /// Everything sent before this is covered by `SourcePosition`: the stages after it
    /// take a checkpoint when it reaches them.
    Barrier(SourcePosition),
}

/// The sending side of a source's channel.
#[derive(Clone)]
pub struct SourceTx(pub(crate) mpsc::Sender<FromSource>);

/// The pipeline behind the source is gone (it is stopping).
#[derive(Debug)]
pub struct Closed;

impl SourceTx {
    pub async fn send(&self, c: Chunk) -> std::result::Result<(), Closed> {
        self.0.send(FromSource::Chunk(c)).await.map_err(|_| Closed)
    }

    pub fn blocking_send(&self, c: Chunk) -> std::result::Result<(), Closed> {
        self.0.blocking_send(FromSource::Chunk(c)).map_err(|_| Closed)
    }

    pub async fn send_msg(&self, m: FromSource) -> std::result::Result<(), Closed> {
        self.0.send(m).await.map_err(|_| Closed)
    }

    pub fn blocking_send_msg(&self, m: FromSource) -> std::result::Result<(), Closed> {
        self.0.blocking_send(m).map_err(|_| Closed)
    }
}

fn rejected_only(c: Chunk) -> (Chunk, RecordBatch) {
    let Chunk { batch, rejected, rows_read } = c;
    (Chunk { batch: RecordBatch::new_empty(schema::transactions_schema()), rejected, rows_read }, batch)
}

/// A historical ledger replayed in event-time order.
pub struct ReplaySource {
    readers: Vec<Box<dyn TxReader>>,
    files: Vec<PathBuf>,
    input: InputConfig,
    sort: SortOptions,
    /// Ids processed before (a checkpoint's): refused as duplicates.
    seen: Vec<u128>,
}

impl ReplaySource {
    /// Opens every transactions file now, so a file that cannot be read stops the run
    /// before anything is processed.
    pub fn open(files: &[PathBuf], input: &InputConfig, sort: SortOptions) -> Result<Self> {
        let readers = files.iter().map(|f| open_transactions(f, input)).collect::<Result<_>>()?;
        Ok(ReplaySource { readers, files: files.to_vec(), input: input.clone(), sort, seen: Vec::new() })
    }

    /// Refuses rows whose tx_id fingerprint is in `fps` (a checkpoint's processed ids) as
    /// `duplicate_tx_id`, as one run over both inputs would.
    pub fn with_seen_ids(mut self, fps: &[u128]) -> Self {
        self.seen = fps.to_vec();
        self
    }

    /// Reads the ledger once through the same readers (`ingest::order_scan`): if its kept
    /// rows never step back in event time by more than the allowed lateness, the order
    /// stage's reorder buffer alone puts them in `(ts, tx_id)` order, as the sort would, so
    /// the replay reads them in file order instead (ingest overlapping detection, no sort),
    /// refusing the duplicates the scan found by where they are (no id set held during
    /// the run). `None`: sort.
    fn scan(&self, progress: &Progress) -> Option<crate::ingest::order_scan::ReplayScan> {
        let started = std::time::Instant::now();
        let limit = self.sort.unsorted_within_us;
        let scan = crate::ingest::order_scan::scan_replay(&self.files, &self.input, &self.seen, limit);
        let order = super::summary::ReplayOrder {
            method: if scan.is_some() { "file order" } else { "sorted" }.into(),
            largest_step_back_s: scan.as_ref().map(|s| s.step_back_us as f64 / 1e6),
            scan_s: started.elapsed().as_secs_f64(),
        };
        match &scan {
            Some(s) => tracing::info!(
                largest_step_back_s = order.largest_step_back_s,
                rows = s.rows_read,
                duplicates = s.duplicates.len(),
                scan_s = order.scan_s,
                "the ledger is in event-time order within `pipeline.allowed-lateness`: replaying it in file order, \
                 without a sort"
            ),
            None => tracing::info!(
                scan_s = order.scan_s,
                "the ledger steps back in event time by more than `pipeline.allowed-lateness`: sorting it"
            ),
        }
        let _ = progress.replay_order.set(order);
        scan
    }
}

impl Source for ReplaySource {
    fn inputs(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.name().to_string()).collect()
    }

    fn run(self: Box<Self>, out: SourceTx, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let (to_sort, sort_input) = mpsc::channel::<RecordBatch>(4);
            let side = out.clone();
            let this = *self;
            let p = progress.clone();
            let (scanned, this) = tokio::task::spawn_blocking(move || (this.scan(&p), this))
                .await
                .map_err(|e| Error::Internal(format!("ledger scan thread: {e}")))?;
            let ReplaySource { mut readers, seen, sort, files, .. } = this;
            if let Some(scan) = scanned {
                // File order is event-time order within the allowed lateness: chunks go
                // straight on, and the order stage's reorder buffer does the rest.
                drop((to_sort, sort_input, seen));
                let reading = tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut state = IngestState::with_known_duplicates(scan.duplicates);
                    let mut rows_read = 0;
                    for r in readers.iter_mut() {
                        while let Some(chunk) = crate::metrics::timed("ingest", || r.next_chunk(&mut state))? {
                            rows_read += chunk.rows_read;
                            progress.read.fetch_add(chunk.rows_read, Ordering::Relaxed);
                            if side.blocking_send(chunk).is_err() {
                                return Ok(()); // pipeline stopped
                            }
                        }
                    }
                    // the duplicates were found by position: a ledger that changed between
                    // the two reads cannot be trusted to have been judged right
                    if rows_read != scan.rows_read {
                        return Err(Error::input(
                            files.first().cloned().unwrap_or_default(),
                            format!(
                                "the ledger changed while it was replayed: its first read found {} records, the \
                                 replay {rows_read}; replay it again once it is complete",
                                scan.rows_read
                            ),
                        ));
                    }
                    Ok(())
                });
                return reading.await.map_err(|e| Error::Internal(format!("ingest thread: {e}")))?;
            }
            let reading = tokio::task::spawn_blocking(move || -> Result<()> {
                let mut state = IngestState::with_seen(&seen);
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
            let mut sorted = sort_by_event_time(sort_input, &sort).await?;
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
    dedupe_horizon_us: Option<i64>,
}

impl StdinSource {
    pub fn new(input: InputConfig, batch_rows: usize) -> Self {
        StdinSource { input, batch_rows, pause: Duration::from_millis(200), dedupe_horizon_us: None }
    }

    /// Remembers tx_ids for this much event time (`IngestState::with_horizon`).
    pub fn dedupe_horizon(mut self, horizon_us: Option<i64>) -> Self {
        self.dedupe_horizon_us = horizon_us;
        self
    }
}

impl Source for StdinSource {
    fn inputs(&self) -> Vec<String> {
        vec!["<stdin>".into()]
    }

    fn run(self: Box<Self>, out: SourceTx, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
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
            let horizon = self.dedupe_horizon_us;
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut parser = JsonLineParser::new("<stdin>".into(), &input);
                let mut state = IngestState::default().with_horizon(horizon);
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
/// its size has been stable for `settle`, in name order. Symbolic links are followed
/// (as `replay` does); a dangling one is reported once. An empty file is skipped with a
/// warning and counted (read when it grows). A plain CSV or NDJSON file that grows after
/// it was read is read again from where the last read ended, once the growth has settled
/// (line numbers continue); a compressed or Parquet file that grows cannot be read from
/// an offset: that is reported (warning, counted), never silently dropped. A file replaced
/// under the same name (another inode) or deleted and written again is a new file, read
/// from its start (rows it repeats are refused as duplicate ids).
pub struct DirSource {
    dir: PathBuf,
    input: InputConfig,
    poll: Duration,
    settle: Duration,
    idle_exit: Option<Duration>,
    dedupe_horizon_us: Option<i64>,
    /// Processing time between barriers (`None`: no checkpoints).
    barrier_every: Option<Duration>,
    /// A resumed checkpoint's file positions (`dir_position`) and the ids it processed.
    resume: SourcePosition,
    seen: Vec<u128>,
    /// Checkpoints written (counted by the committer): at most one in flight.
    written: Arc<std::sync::atomic::AtomicU64>,
}

/// A followed directory's position in a checkpoint: per file read, keyed by
/// `<name>@<device>:<inode>` (a file replaced under its name is another file), the bytes
/// read from its start.
fn dir_key(name: &str, id: Option<(u64, u64)>) -> String {
    match id {
        Some((dev, ino)) => format!("{name}@{dev}:{ino}"),
        None => format!("{name}@"),
    }
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
        Ok(DirSource {
            dir,
            input,
            poll,
            settle,
            idle_exit,
            dedupe_horizon_us: None,
            barrier_every: None,
            resume: SourcePosition::new(),
            seen: Vec::new(),
            written: Default::default(),
        })
    }

    /// Sends a barrier (a checkpoint of every file's position) every `every` of processing
    /// time, between files, and when the run stops.
    pub fn barriers(mut self, every: Duration) -> Self {
        self.barrier_every = Some(every);
        self
    }

    /// Continues from a checkpoint: files it had read are read on from where it stopped
    /// (only what was appended since), and the ids it processed are duplicates.
    pub fn resume_from(mut self, position: SourcePosition, seen: &[u128]) -> Self {
        self.resume = position;
        self.seen = seen.to_vec();
        self
    }

    /// Remembers tx_ids for this much event time (`IngestState::with_horizon`).
    pub fn dedupe_horizon(mut self, horizon_us: Option<i64>) -> Self {
        self.dedupe_horizon_us = horizon_us;
        self
    }
}

fn eligible(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let side_table = lower.starts_with("accounts.") || lower.starts_with("fx_rates.");
    table_file(name) && !side_table
}

/// A whole table file by its name: a known extension, and not hidden or partial
/// (dot-files, `.tmp`, `.part`: still being written).
pub(crate) fn table_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let partial = lower.starts_with('.') || lower.ends_with(".tmp") || lower.ends_with(".part");
    let known = [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".parquet"]
        .iter()
        .any(|e| lower.ends_with(e));
    known && !partial
}

/// What the directory source knows of one file.
struct Tracked {
    /// Size last seen, and since when.
    size: u64,
    since: Instant,
    /// Bytes read so far (`None`: not read yet).
    read_to: Option<u64>,
    /// The size at which a problem (empty, growth that cannot be read, shrinking) was
    /// last reported, so each is reported once.
    reported_at: Option<u64>,
    /// Which file this is (device, inode): a file replaced under the same name (renamed
    /// over, or deleted and written again) is a new file, read from its start.
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// One read of a file: bytes `from..to`.
struct Part {
    name: String,
    from: u64,
    to: u64,
}

/// Reads `part` of `path`: the whole file from 0 (any format), or the bytes appended to a
/// plain CSV (after its header line) or NDJSON file, with blank lines in front so line
/// numbers continue from the earlier read.
fn open_part(path: &std::path::Path, part: &Part, input: &InputConfig) -> Result<Box<dyn TxReader>> {
    use std::io::{Read, Seek};
    let format = crate::ingest::format_of(path, input.format)?;
    let plain = !part.name.to_ascii_lowercase().ends_with(".gz");
    let name = path.display().to_string();
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    if part.from == 0 {
        if !plain || format == Format::Parquet {
            return open_transactions(path, input);
        }
        let stream = Box::new(std::io::BufReader::new(open()?.take(part.to)));
        return Ok(match format {
            Format::Csv => Box::new(crate::ingest::csv::CsvTxReader::from_reader(name, stream, path, input)?),
            _ => Box::new(crate::ingest::jsonl::JsonlTxReader::from_reader(name, stream, input)),
        });
    }
    // the lines before `from`, and the header line
    let mut before = std::io::BufReader::new(open()?.take(part.from));
    let mut header = Vec::new();
    before.read_until(b'\n', &mut header).map_err(|e| Error::io(path, e))?;
    let mut newlines = header.iter().filter(|&&b| b == b'\n').count();
    loop {
        let buf = before.fill_buf().map_err(|e| Error::io(path, e))?;
        if buf.is_empty() {
            break;
        }
        newlines += buf.iter().filter(|&&b| b == b'\n').count();
        let n = buf.len();
        before.consume(n);
    }
    let mut f = open()?;
    f.seek(std::io::SeekFrom::Start(part.from)).map_err(|e| Error::io(path, e))?;
    let added = f.take(part.to - part.from);
    Ok(match format {
        Format::Csv => {
            // the header again, then a blank line (skipped, counted) per line already read
            let mut head = header;
            head.resize(head.len() + newlines.saturating_sub(1), b'\n');
            let stream = Box::new(std::io::BufReader::new(std::io::Cursor::new(head).chain(added)));
            Box::new(crate::ingest::csv::CsvTxReader::from_reader(name, stream, path, input)?)
        }
        _ => {
            let stream = Box::new(std::io::BufReader::new(std::io::Cursor::new(vec![b'\n'; newlines]).chain(added)));
            Box::new(crate::ingest::jsonl::JsonlTxReader::from_reader(name, stream, input))
        }
    })
}

impl Source for DirSource {
    fn inputs(&self) -> Vec<String> {
        vec![self.dir.display().to_string()]
    }

    fn is_dir(&self) -> bool {
        true
    }

    fn handles_shutdown(&self) -> bool {
        self.barrier_every.is_some()
    }

    fn committer(&self) -> Option<Committer> {
        let written = self.written.clone();
        self.barrier_every.map(|_| -> Committer {
            Arc::new(move |_: &SourcePosition| -> Result<()> {
                written.fetch_add(1, Ordering::AcqRel);
                Ok(())
            })
        })
    }

    fn run(self: Box<Self>, out: SourceTx, progress: Arc<Progress>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let mut files: BTreeMap<String, Tracked> = BTreeMap::new();
            let mut dangling: HashSet<String> = HashSet::new();
            let mut state = Some(IngestState::with_seen(&self.seen).with_horizon(self.dedupe_horizon_us));
            let mut last_activity = Instant::now();
            // checkpoints: Ctrl-C / SIGTERM ends the loop after a last barrier
            let stop = self.barrier_every.map(|_| {
                tokio::spawn(async {
                    crate::shutdown_signal().await;
                    tracing::warn!("interrupted: the directory source takes a last checkpoint and stops");
                    STOPPING.store(true, Ordering::Relaxed);
                })
            });
            let mut last_barrier = Instant::now();
            let mut barriers_sent = 0u64;
            let position = |files: &BTreeMap<String, Tracked>| -> SourcePosition {
                files.iter().filter_map(|(n, t)| Some((dir_key(n, t.id), t.read_to? as i64))).collect()
            };
            let result = loop {
                let stopping = STOPPING.load(Ordering::Relaxed);
                let barrier_due = self.barrier_every.is_some_and(|d| {
                    let in_flight = barriers_sent > self.written.load(Ordering::Acquire);
                    (!in_flight && last_barrier.elapsed() >= d) || stopping
                });
                if barrier_due {
                    last_barrier = Instant::now();
                    barriers_sent += 1;
                    if out.send_msg(FromSource::Barrier(position(&files))).await.is_err() {
                        break Ok(());
                    }
                }
                if stopping {
                    break Ok(());
                }
                let mut ready = Vec::new();
                let mut busy = false;
                let mut listed: HashSet<String> = HashSet::new();
                let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if !eligible(&name) {
                        continue;
                    }
                    // follows symbolic links, as a replay does
                    let meta = match std::fs::metadata(entry.path()) {
                        Ok(m) => m,
                        Err(e) => {
                            if dangling.insert(name.clone()) {
                                tracing::warn!(file = %entry.path().display(), "cannot follow `{name}`, skipped: {e}");
                            }
                            continue;
                        }
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    dangling.remove(&name);
                    let size = meta.len();
                    let id = file_id(&meta);
                    listed.insert(name.clone());
                    if files.get(&name).is_some_and(|t| t.id != id) {
                        files.remove(&name); // replaced: a new file
                    }
                    let t = files.entry(name.clone()).or_insert_with(|| {
                        last_activity = Instant::now();
                        // a file the resumed checkpoint had read: on from where it was
                        let read_to = self.resume.get(&dir_key(&name, id)).map(|&b| b as u64);
                        Tracked { size, since: Instant::now(), read_to, reported_at: None, id }
                    });
                    if t.size != size {
                        (t.size, t.since) = (size, Instant::now());
                        last_activity = Instant::now();
                    }
                    if t.since.elapsed() < self.settle {
                        busy |= t.read_to != Some(size);
                        continue;
                    }
                    let path = self.dir.join(&name);
                    let appendable = {
                        let lower = name.to_ascii_lowercase();
                        !lower.ends_with(".gz") && !lower.ends_with(".parquet")
                    };
                    match t.read_to {
                        None if size == 0 && t.reported_at != Some(0) => {
                            t.reported_at = Some(0);
                            progress.files_empty.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(file = %path.display(), "empty file skipped (read if it grows)");
                        }
                        None if size == 0 => {}
                        None => ready.push(Part { name: name.clone(), from: 0, to: size }),
                        Some(r) if size > r && appendable => {
                            progress.files_grown.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(file = %path.display(), from = r, to = size, "reading what was appended");
                            ready.push(Part { name: name.clone(), from: r, to: size });
                        }
                        Some(r) if size != r && t.reported_at != Some(size) => {
                            t.reported_at = Some(size);
                            progress.files_changed_unread.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                file = %path.display(),
                                "changed after it was read ({r} -> {size} bytes): {}; put new records in a new file",
                                if size > r {
                                    "a compressed or Parquet file cannot be read from where it ended, so what was added is NOT read"
                                } else {
                                    "it shrank, so it is NOT read again"
                                }
                            );
                        }
                        _ => {}
                    }
                }
                // a file gone from the directory is forgotten: one written again later under
                // its name is a new file
                files.retain(|name, _| listed.contains(name));
                for part in ready {
                    last_activity = Instant::now();
                    let path = self.dir.join(&part.name);
                    let input = self.input.clone();
                    let out2 = out.clone();
                    let progress2 = progress.clone();
                    let mut st = state.take().expect("state is returned after each file");
                    let (from, to, name) = (part.from, part.to, part.name.clone());
                    let res = tokio::task::spawn_blocking(move || -> (IngestState, Result<bool>) {
                        let r = (|| -> Result<bool> {
                            let mut reader = open_part(&path, &part, &input)?;
                            while let Some(chunk) = crate::metrics::timed("ingest", || reader.next_chunk(&mut st))? {
                                progress2.read.fetch_add(chunk.rows_read, Ordering::Relaxed);
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
                        Ok(true) => {
                            if from == 0 {
                                progress.files_read.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(t) = files.get_mut(&name) {
                                t.read_to = Some(to);
                            }
                        }
                        Ok(false) => return Ok(()),
                        // A file that cannot be read at all stops the run, naming it.
                        Err(e) => return Err(e),
                    }
                    // between files: a barrier when one is due
                    let in_flight = barriers_sent > self.written.load(Ordering::Acquire);
                    if !in_flight && self.barrier_every.is_some_and(|d| last_barrier.elapsed() >= d) {
                        last_barrier = Instant::now();
                        barriers_sent += 1;
                        if out.send_msg(FromSource::Barrier(position(&files))).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                if let Some(idle) = self.idle_exit
                    && !busy
                    && last_activity.elapsed() >= idle
                {
                    // the run ends as a replay's does, after a last checkpoint
                    if self.barrier_every.is_some() {
                        let _ = out.send_msg(FromSource::Barrier(position(&files))).await;
                    }
                    break Ok(());
                }
                tokio::time::sleep(self.poll).await;
            };
            if let Some(s) = stop {
                s.abort();
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The replay in file order refuses duplicates by the positions its first read found:
    /// if the ledger the run reads holds other records than the one first read (it changed
    /// in between), the run fails, naming the ledger, instead of trusting those positions.
    #[test]
    fn a_ledger_that_changed_between_the_two_reads_fails_the_replay() {
        let dir = std::env::temp_dir().join(format!("mf-replay-changed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let head = "tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n";
        let row = |i: u32| format!("t{i},2026-01-01T00:00:{:02}Z,A,B,10.00,USD,wire,US,\n", i % 60);
        let (read, first_read) = (dir.join("transactions.csv"), dir.join("before.csv"));
        std::fs::write(&read, format!("{head}{}{}", row(1), row(2))).unwrap();
        std::fs::write(&first_read, format!("{head}{}", row(1))).unwrap();
        let input = crate::ingest::config::default_input();
        let sort = SortOptions { memory_bytes: 1 << 24, spill_dir: None, batch_rows: 1024, unsorted_within_us: 0 };
        let mut source = ReplaySource::open(std::slice::from_ref(&read), &input, sort).unwrap();
        source.files = vec![first_read];
        let rt = tokio::runtime::Runtime::new().unwrap();
        let err = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(16);
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let r = Box::new(source).run(SourceTx(tx), Arc::new(Progress::default())).await;
            drain.await.unwrap();
            r.unwrap_err().to_string()
        });
        assert!(
            err.contains("changed while it was replayed") && err.contains("found 1 records, the replay 2"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
