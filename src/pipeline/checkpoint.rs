//! Checkpoints: the state a run leaves for the next one, so that a ledger replayed in two
//! halves (or a live run stopped and started again) gives the same alerts as one run.
//!
//! Owns: the checkpoint directory: `window.parquet` (the event-time window, enriched rows),
//! `seen_ids.bin` (the 128-bit fingerprints of every tx_id the run processed, sorted, 16
//! bytes each little-endian, so a resumed run refuses rows it has already processed as
//! `duplicate_tx_id`), `detector-<n>.json` (each detector's own state, e.g. the SQL rules'
//! open episodes and already-alerted evidence, streamed by the detector into its file
//! before the rest is written: `stage_states`, in `.<name>.states-<pid>`), `state.json`
//! (format, next `seq`, newest event time, which file holds which detector's state) and
//! `manifest.json` (the size and xxh3-128 checksum of every other file). A live run's
//! checkpoint taken at a source barrier (`save_snapshot`) also holds `held.parquet` (rows
//! read but held for reordering) and, in `state.json`, the source position (Kafka offsets),
//! the ordering (`OrderState`) and the outputs' lengths and counts (`SinkState`).
//!
//! A checkpoint is written whole into a new sibling directory (`.<name>.new-<pid>`), every
//! file and the directory fsynced, then renamed into place: an old checkpoint is first
//! renamed aside (`.<name>.old-<pid>`) and removed once the new one is in place, so the
//! directory holds either the old checkpoint or the new one, never a mix. A process killed
//! between the two renames leaves only the old one aside; `load` then takes it, wholly,
//! and says so. `load` verifies every file against the manifest and refuses a checkpoint
//! whose files do not match, naming the directory and the file. (The checksum detects torn
//! and swapped files; it is no defence against deliberate tampering.)
//! Must not: decide anything; detectors say what their state is.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::parquet::ParquetOut;
use crate::pipeline::detect::Snapshot;
use crate::pipeline::order::OrderState;
use crate::pipeline::sinks::SinkState;
use crate::pipeline::source::SourcePosition;
use crate::pipeline::window::EventWindow;
use crate::schema;

/// Bumped when the layout changes; a checkpoint of another format is refused.
/// 2: `manifest.json` and `seen_ids.bin`. 3: each detector's state written as its own JSON
/// text (novelty's as `{st, pending_first_contacts}`). 4: each detector's state in its own
/// file (`detector-<n>.json`, named in `state.json` `detector_files`). 5: novelty holds
/// each one-off once (`one_offs` from `one_offs_base`; sides and episodes hold numbers).
pub const FORMAT: u32 = 5;

const WINDOW: &str = "window.parquet";
const SEEN: &str = "seen_ids.bin";
const STATE: &str = "state.json";
const MANIFEST: &str = "manifest.json";
const HELD: &str = "held.parquet";

/// `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: u32,
    /// The next run numbers its rows from here (rows are numbered in `(ts, tx_id)` order).
    pub next_seq: u64,
    /// Newest event time processed (µs): the resumed run's watermark starts from it.
    pub max_ts: i64,
    pub window_rows: u64,
    /// Per detector id, its own state (its JSON text, as the detector wrote it), read back
    /// from its file (`detector_files`).
    #[serde(skip)]
    pub detectors: BTreeMap<String, mirrorflow_core::detect::SavedState>,
    /// Per detector id, the checkpoint file holding its state.
    #[serde(default)]
    pub detector_files: BTreeMap<String, String>,
    /// A checkpoint taken at a source barrier (`run`): where the source was, where the
    /// ordering stood (the rows it held are in `held.parquet`), and the outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sinks: Option<SinkState>,
}

/// `manifest.json`: every other file of the checkpoint, with its size and checksum.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    files: BTreeMap<String, FileSum>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileSum {
    bytes: u64,
    /// xxh3-128 of the file's bytes, 32 hex digits.
    xxh3_128: String,
}

fn sum_of(bytes: &[u8]) -> FileSum {
    FileSum { bytes: bytes.len() as u64, xxh3_128: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes)) }
}

/// A checkpoint read back.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: CheckpointState,
    pub window: Vec<RecordBatch>,
    /// Fingerprints of every tx_id processed up to the checkpoint, sorted.
    pub seen_ids: Vec<u128>,
    /// Rows read but held for reordering (barrier checkpoints only).
    pub held: Vec<RecordBatch>,
}

fn sibling(dir: &Path, tag: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::input(dir, "a checkpoint directory needs a name (not `/` or `..`)"))?
        .to_string_lossy()
        .to_string();
    let parent = parent_of(dir);
    Ok(parent.join(format!(".{name}.{tag}-{}", std::process::id())))
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Leftovers of an earlier writer (`.<name>.new-*` / `.<name>.old-*`) beside `dir`.
fn leftovers(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().to_string()) else { return Vec::new() };
    let prefix = format!(".{name}.{tag}-");
    let mut out: Vec<PathBuf> = std::fs::read_dir(parent_of(dir))
        .map(|rd| {
            rd.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).map(|e| e.path()).collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Checks that a checkpoint may be written to `dir` (absent, empty, or a checkpoint that
/// will be replaced), so a run does not find out at its end.
pub fn check_target(dir: &Path) -> Result<()> {
    if dir.exists() {
        let is_checkpoint = dir.join(MANIFEST).exists() || dir.join(STATE).exists();
        let empty = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_none();
        if !is_checkpoint && !empty {
            return Err(Error::Usage(format!(
                "--checkpoint `{}`: not a checkpoint directory and not empty: refusing to replace it \
                 (give a new or empty directory)",
                dir.display()
            )));
        }
    }
    sibling(dir, "new").map(|_| ())
}

/// Writes a checkpoint of `window`, `state`, the detectors' staged states and the
/// processed ids `seen_ids` to `dir`, replacing the checkpoint there (if any) atomically.
pub fn save(
    dir: &Path,
    state: CheckpointState,
    window: &EventWindow,
    seen_ids: &[u128],
    states: StagedStates,
) -> Result<()> {
    let batches: Vec<RecordBatch> = window.batches().cloned().collect();
    write(dir, state, &batches, None, seen_ids, states)
}

/// Writes the checkpoint of a source barrier (`ToSink::Checkpoint`) with the sinks' part.
pub fn save_snapshot(dir: &Path, snap: Snapshot, sinks: SinkState) -> Result<()> {
    let Snapshot { order, window, mut state, states } = snap;
    state.source = Some(order.position);
    state.order = Some(order.state);
    state.sinks = Some(sinks);
    write(dir, state, &window, Some(&order.held), &order.ids, states)
}

/// The detectors' states of a checkpoint, written before the rest of it (by the detect
/// stage, each streamed from the detector's own structures into its file: a long run's
/// state runs to hundreds of MB, never held as a copy) into a staging directory beside
/// the checkpoint, and moved into it when the checkpoint is written.
pub struct StagedStates {
    dir: PathBuf,
    /// Per detector id: its file's name and sum.
    files: BTreeMap<String, (String, FileSum)>,
}

/// Writes every detector's state into a staging directory beside `dir` (one file each,
/// numbered: an id may hold any character; `state.json` maps ids to files).
pub fn stage_states(dir: &Path, detectors: &[Box<dyn mirrorflow_core::detect::Detector>]) -> Result<StagedStates> {
    let parent = parent_of(dir);
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    // a stage left by a run killed before its checkpoint was written (this process's own
    // may still be on their way into a checkpoint: a last barrier can follow one in flight)
    let own = format!("-{}", std::process::id());
    for old in leftovers(dir, "states") {
        if !old.file_name().is_some_and(|n| n.to_string_lossy().ends_with(&own)) {
            let _ = std::fs::remove_dir_all(&old);
        }
    }
    static STAGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STAGED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = sibling(dir, &format!("states-{n}"))?;
    std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    let mut files = BTreeMap::new();
    for (k, d) in detectors.iter().enumerate() {
        let name = format!("detector-{k}.json");
        let path = staging.join(&name);
        if let Some(sum) = write_summed(&path, |w| d.save_state(w))? {
            files.insert(d.id().to_string(), (name, sum));
        }
    }
    Ok(StagedStates { dir: staging, files })
}

/// A writer that counts and hashes what goes through it (a file's manifest entry,
/// without holding the file's bytes).
struct Summed<W> {
    inner: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `path` through `fill` (synced), counting and hashing as it goes; `None` (and
/// no file) when `fill` had nothing to write.
fn write_summed(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<bool>) -> Result<Option<FileSum>> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = Summed { inner: std::io::BufWriter::with_capacity(1 << 20, f), hasher: Default::default(), bytes: 0 };
    if !fill(&mut w)? {
        drop(w);
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        return Ok(None);
    }
    w.flush().map_err(|e| Error::io(path, e))?;
    let sum = FileSum { bytes: w.bytes, xxh3_128: format!("{:032x}", w.hasher.digest128()) };
    let f = w.inner.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(Some(sum))
}

fn write_parquet(path: &Path, schema: arrow::datatypes::SchemaRef, batches: &[RecordBatch]) -> Result<FileSum> {
    let mut w = ParquetOut::create(path, schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| Error::io(path, e))?;
    Ok(sum_of(&bytes))
}

fn write(
    dir: &Path,
    mut state: CheckpointState,
    window: &[RecordBatch],
    held: Option<&[RecordBatch]>,
    seen_ids: &[u128],
    states: StagedStates,
) -> Result<()> {
    check_target(dir)?;
    let parent = parent_of(dir);
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    // a writer killed earlier may have left its half-written directory
    for old in leftovers(dir, "new") {
        let _ = std::fs::remove_dir_all(&old);
    }
    let new = sibling(dir, "new")?;
    std::fs::create_dir(&new).map_err(|e| Error::io(&new, e))?;

    let mut manifest = Manifest { format: FORMAT, files: BTreeMap::new() };
    manifest.files.insert(WINDOW.into(), write_parquet(&new.join(WINDOW), schema::enriched_schema(), window)?);
    if let Some(held) = held {
        manifest.files.insert(HELD.into(), write_parquet(&new.join(HELD), schema::transactions_schema(), held)?);
    }

    let mut ids = seen_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut bytes = Vec::with_capacity(ids.len() * 16);
    for id in &ids {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    write_synced(&new.join(SEEN), &bytes)?;
    manifest.files.insert(SEEN.into(), sum_of(&bytes));

    // the detectors' states, staged: moved in
    for (id, (name, sum)) in states.files {
        let to = new.join(&name);
        std::fs::rename(states.dir.join(&name), &to).map_err(|e| Error::io(&to, e))?;
        manifest.files.insert(name.clone(), sum);
        state.detector_files.insert(id, name);
    }
    let _ = std::fs::remove_dir_all(&states.dir);

    let spath = new.join(STATE);
    let sum = write_summed(&spath, |w| {
        serde_json::to_writer(w, &state).map_err(|e| Error::Internal(format!("checkpoint state: {e}")))?;
        Ok(true)
    })?;
    manifest.files.insert(STATE.into(), sum.expect("the state is written"));

    let text =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(format!("checkpoint manifest: {e}")))?;
    write_synced(&new.join(MANIFEST), &text)?;
    sync_dir(&new)?;

    // swap it in: the old one aside, the new one in place, the old one removed
    let aside = sibling(dir, "old")?;
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&new, dir).map_err(|e| Error::io(dir, e))?;
    sync_dir(&parent)?;
    if had_old {
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    }
    for old in leftovers(dir, "old") {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Whether `dir` holds a checkpoint (or the whole previous one a kill left beside it).
pub fn exists(dir: &Path) -> bool {
    dir.join(MANIFEST).exists()
        || dir.join(STATE).exists()
        || leftovers(dir, "old").iter().any(|p| p.join(MANIFEST).exists())
}

/// Reads the checkpoint in `dir`, verifying every file against its manifest.
pub fn load(dir: &Path) -> Result<Checkpoint> {
    if !dir.join(MANIFEST).exists() && !dir.join(STATE).exists() {
        // killed between the two renames of `save`: the old checkpoint is whole, aside
        if let Some(old) = leftovers(dir, "old").into_iter().rev().find(|p| p.join(MANIFEST).exists()) {
            tracing::warn!(
                checkpoint = %dir.display(),
                using = %old.display(),
                "a checkpoint write was interrupted: resuming from the previous checkpoint, kept whole beside it"
            );
            let mut c = load_verified(&old, dir)?;
            c.dir = dir.to_path_buf();
            return Ok(c);
        }
    }
    load_verified(dir, dir)
}

fn load_verified(from: &Path, named: &Path) -> Result<Checkpoint> {
    let bad = |what: String| Error::input(named, format!("checkpoint refused: {what}"));
    let mpath = from.join(MANIFEST);
    let mtext = match std::fs::read(&mpath) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(if from.join(STATE).exists() {
                format!("`{MANIFEST}` is missing (written by an older mirrorflow, or an interrupted write)")
            } else {
                "no checkpoint here (no `manifest.json`, no `state.json`)".to_string()
            }));
        }
        Err(e) => return Err(Error::io(&mpath, e)),
    };
    let manifest: Manifest =
        serde_json::from_slice(&mtext).map_err(|e| bad(format!("`{MANIFEST}` is not a checkpoint manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!("checkpoint format {} (this mirrorflow reads {FORMAT})", manifest.format)));
    }
    // a file of the manifest, read and checked against its sum
    let checked = |name: &str| -> Result<Vec<u8>> {
        let Some(want) = manifest.files.get(name) else {
            return Err(bad(format!("`{name}` is not in `{MANIFEST}`")));
        };
        let path = from.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(bad(format!("`{name}` is missing"))),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let got = sum_of(&bytes);
        if &got != want {
            return Err(bad(format!(
                "checksum of `{name}` does not match `{MANIFEST}` ({} bytes, xxh3-128 {}; expected {} bytes, {}): \
                 the checkpoint is torn or was changed",
                got.bytes, got.xxh3_128, want.bytes, want.xxh3_128
            )));
        }
        Ok(bytes)
    };
    let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for name in [WINDOW, SEEN, STATE] {
        contents.insert(name, checked(name)?);
    }
    let spath = from.join(STATE);
    let state: CheckpointState = serde_json::from_slice(&contents[STATE])
        .map_err(|e| Error::input(&spath, format!("not a mirrorflow checkpoint: {e}")))?;
    if state.format != FORMAT {
        return Err(bad(format!("checkpoint format {} (this mirrorflow reads {FORMAT})", state.format)));
    }
    let mut state = state;
    for (id, name) in std::mem::take(&mut state.detector_files) {
        let path = from.join(&name);
        let bytes = checked(&name)?;
        let text = String::from_utf8(bytes).map_err(|_| bad(format!("`{name}` is not UTF-8 text")))?;
        let raw = mirrorflow_core::detect::RawValue::from_string(text)
            .map_err(|e| Error::input(&path, format!("not a detector's state: {e}")))?;
        state.detectors.insert(id, raw);
    }
    let seen = &contents[SEEN];
    if !seen.len().is_multiple_of(16) {
        return Err(bad(format!("`{SEEN}` is not a whole number of 16-byte ids")));
    }
    let seen_ids: Vec<u128> =
        seen.chunks_exact(16).map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes"))).collect();

    drop(contents);
    let window = read_parquet(&from.join(WINDOW), schema::enriched_schema())?;
    let held = match manifest.files.get(HELD) {
        None => Vec::new(),
        Some(want) => {
            let path = from.join(HELD);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if &sum_of(&bytes) != want {
                return Err(bad(format!(
                    "checksum of `{HELD}` does not match `{MANIFEST}`: the checkpoint is torn or was changed"
                )));
            }
            read_parquet(&path, schema::transactions_schema())?
        }
    };
    Ok(Checkpoint { dir: named.to_path_buf(), state, window, seen_ids, held })
}

/// Reads a checkpoint's Parquet file (verified before) as batches of `schema`.
fn read_parquet(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<Vec<RecordBatch>> {
    // read through the file (the reader wants a seekable source)
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| Error::Parquet { path: path.to_path_buf(), source: e })?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Error::arrow(format!("reading {}", path.display()), e))?;
        if b.schema().fields() != schema.fields() {
            return Err(Error::input(path, "the columns are not this mirrorflow's (made by another version?)"));
        }
        // Same schema object as the live batches (metadata and all).
        out.push(
            RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| Error::arrow("checkpoint", e))?,
        );
    }
    Ok(out)
}
