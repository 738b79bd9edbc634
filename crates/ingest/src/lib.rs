//! Ingest: ledger files and streams into canonical Arrow batches, bad records into
//! quarantine.
//!
//! Owns: finding a ledger's tables (`ledger`), the readers per format (`csv`, `jsonl`,
//! `parquet`), the column mapping and dialects (`mapping`), field parsers (`values`),
//! rejected records (`quarantine`), the small side tables (`tables`: accounts, FX), and
//! the row-to-batch builder that every text reader shares. Every reader yields
//! [`Chunk`]s of at most `input.batch-rows` rows, so no file is ever loaded whole.
//! Must not: order by event time or detect anything; that is the pipeline's job.
//!
//! Counting rule: every record read is either accepted (in a batch) or rejected (in
//! `Chunk::rejected`): `rows_read = accepted + rejected`, per chunk and so per run.

pub mod config;
pub mod csv;
pub mod jsonl;
pub mod ledger;
pub mod mapping;
pub mod order_scan;
pub mod parquet;
pub mod quarantine;
pub mod tables;
pub use mirrorflow_core::time as values;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, BooleanBuilder, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Array,
};
use arrow::record_batch::RecordBatch;

use crate::config::{Format, InputConfig};
pub use mapping::{N_SLOTS, Resolved, Slot, TxMapping};
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::money::{DecimalError, parse_decimal};
use mirrorflow_core::schema;
pub use quarantine::{Reason, Rejected};

/// What a reader hands on: accepted rows as one batch, and the rows it refused.
#[derive(Debug)]
pub struct Chunk {
    /// Accepted rows in the canonical transactions schema, in file order.
    pub batch: RecordBatch,
    /// Rows refused, with reasons.
    pub rejected: Vec<Rejected>,
    /// Records read to make this chunk (= batch rows + rejected).
    pub rows_read: u64,
}

/// State shared by all readers of one run: the tx_ids seen (duplicates are refused
/// across files) and the next arrival sequence number.
///
/// A replay keeps every id of its ledger. A live run may bound them by event time
/// (`with_horizon`): ids are kept in two generations, the current one and the one before,
/// and the older is dropped once the newest event time is a horizon past the current
/// one's start, so an id is remembered for at least a horizon (at most two) of event time
/// and a job that runs for months holds a bounded set.
#[derive(Default)]
pub struct IngestState {
    seen: FingerprintSet,
    /// The previous generation (bounded runs only).
    older: Option<FingerprintSet>,
    generations: Generations,
    /// The duplicates, found before by a pass over the same files
    /// (`order_scan::scan_replay`): rows are refused by where they are, and no id set is
    /// kept.
    known: Option<KnownDuplicates>,
    /// Sequence number for the next accepted row.
    pub next_seq: u64,
}

/// Where the rows that repeat an earlier id are: per file (as readers name it), their
/// lines (Parquet: row numbers). A replay's scan finds them with the id set, which it then
/// drops; the replay itself refuses the same rows by position and holds no set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownDuplicates(std::collections::HashMap<String, std::collections::HashSet<u64>>);

impl KnownDuplicates {
    /// Notes the refusals among `rejected` that are duplicates (a file has an entry only
    /// once it has one, so a ledger without duplicates leaves the map empty, and a lookup
    /// in an empty map returns before hashing).
    pub fn note(&mut self, rejected: &[Rejected]) {
        for r in rejected.iter().filter(|r| r.reason == Reason::DuplicateTxId) {
            self.0.entry(r.file.clone()).or_default().insert(r.line);
        }
    }

    /// Rows noted.
    pub fn len(&self) -> usize {
        self.0.values().map(|l| l.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, file: &str, line: u64) -> bool {
        self.0.get(file).is_some_and(|l| l.contains(&line))
    }
}

impl IngestState {
    /// Starts from the fingerprints of ids processed before (a checkpoint's): rows with
    /// those ids are refused as duplicates.
    pub fn with_seen(fps: &[u128]) -> Self {
        let mut s = IngestState::default();
        s.seen.reserve(fps.len());
        for &fp in fps {
            s.seen.insert_unchecked(fp);
        }
        s
    }

    /// Refuses as duplicates exactly the rows at `known` (a scan of the same files found
    /// them) and keeps no id set.
    pub fn with_known_duplicates(known: KnownDuplicates) -> Self {
        IngestState { known: Some(known), ..IngestState::default() }
    }

    /// Remembers ids for at least `horizon_us` of event time, at most twice that
    /// (`None` or <= 0: for the whole run).
    pub fn with_horizon(mut self, horizon_us: Option<i64>) -> Self {
        self.generations = Generations::new(horizon_us);
        self
    }

    /// Records `tx_id`; false if it was seen before.
    pub fn first_sighting(&mut self, tx_id: &[u8]) -> bool {
        let fp = fingerprint(tx_id);
        let fresh = self.seen.insert(fp);
        fresh && !self.older.as_ref().is_some_and(|o| o.contains(fp))
    }

    /// Records many ids at once (in order): `out[i]` is whether `fps[i]` is new. Faster
    /// than one by one: the table's memory is fetched a group at a time.
    pub fn first_sightings(&mut self, fps: &[u128], out: &mut Vec<bool>) {
        self.seen.insert_many(fps, out);
        if let Some(o) = &self.older {
            for (fresh, &fp) in out.iter_mut().zip(fps) {
                *fresh = *fresh && !o.contains(fp);
            }
        }
    }

    /// The newest event time of rows just checked: a bounded run starts a new generation
    /// (and forgets the one before the current) once it is a horizon past the current
    /// generation's start.
    pub fn saw_until(&mut self, ts_us: i64) {
        if self.generations.turns_at(ts_us) {
            self.older = Some(std::mem::take(&mut self.seen));
        }
    }

    /// Makes room for `n` more ids without regrowing.
    pub fn reserve(&mut self, n: usize) {
        self.seen.reserve(n)
    }

    /// Number of distinct tx_ids remembered (all accepted so far, in a run that keeps
    /// every id).
    pub fn distinct_ids(&self) -> usize {
        self.seen.len + self.older.as_ref().map_or(0, |o| o.len)
    }
}

/// When a set kept in two generations by event time (the current one and the one before)
/// starts a new one: once the newest event time is a horizon past the current one's
/// start, so what it holds is remembered for one to two horizons. `IngestState`'s
/// duplicate check and a live run's checkpointed ids both turn by it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generations {
    /// Event time of a generation (µs); `None`: one generation for ever.
    horizon_us: Option<i64>,
    /// Newest event time seen when the current generation began.
    start: Option<i64>,
}

impl Generations {
    /// `None` or <= 0: never turns.
    pub fn new(horizon_us: Option<i64>) -> Self {
        Generations { horizon_us: horizon_us.filter(|h| *h > 0), start: None }
    }

    /// Notes the newest event time seen; true when a new generation starts here (the
    /// caller drops the older one and sets the current one aside as older).
    pub fn turns_at(&mut self, newest_us: i64) -> bool {
        let Some(h) = self.horizon_us else { return false };
        match self.start {
            None => {
                self.start = Some(newest_us);
                false
            }
            Some(start) if newest_us >= start.saturating_add(h) => {
                self.start = Some(newest_us);
                true
            }
            Some(_) => false,
        }
    }
}

/// The 128-bit fingerprint of a tx_id (collisions: ~1e-24 for 10M ids).
pub fn fingerprint(tx_id: &[u8]) -> u128 {
    match xxhash_rust::xxh3::xxh3_128(tx_id) {
        0 => 1, // 0 marks an empty slot
        h => h,
    }
}

/// An open-addressing set of fingerprints (linear probing, load <= 0.7). Ids are kept
/// as 16 bytes each, never as strings, so a 10M-row ledger costs 256 MiB.
#[derive(Default)]
struct FingerprintSet {
    slots: Vec<u128>,
    len: usize,
}

impl FingerprintSet {
    fn reserve(&mut self, more: usize) {
        let need = ((self.len + more) * 10 / 7 + 1).next_power_of_two().max(1024);
        if need > self.slots.len() {
            let old = std::mem::replace(&mut self.slots, vec![0; need]);
            self.len = 0;
            for fp in old.into_iter().filter(|&f| f != 0) {
                self.insert_unchecked(fp);
            }
        }
    }

    fn insert_unchecked(&mut self, fp: u128) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (fp as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                self.slots[i] = fp;
                self.len += 1;
                return true;
            }
            if s == fp {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn contains(&self, fp: u128) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = (fp as usize) & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                s if s == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn insert(&mut self, fp: u128) -> bool {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            self.reserve(self.len.max(1024));
        }
        self.insert_unchecked(fp)
    }

    fn insert_many(&mut self, fps: &[u128], out: &mut Vec<bool>) {
        if (self.len + fps.len()) * 10 > self.slots.len() * 7 {
            self.reserve(fps.len().max(self.len));
        }
        out.clear();
        out.reserve(fps.len());
        const GROUP: usize = 16;
        for group in fps.chunks(GROUP) {
            let mask = self.slots.len() - 1;
            // Touch every home slot first: independent loads the CPU overlaps.
            let mut warm = 0u128;
            for &fp in group {
                warm ^= self.slots[(fp as usize) & mask];
            }
            std::hint::black_box(warm);
            for &fp in group {
                out.push(self.insert_unchecked(fp));
            }
        }
    }
}

/// Input bytes after which a line reader ends its chunk even short of `input.batch-rows`
/// rows, so one chunk (its rows, and the raw text kept for refusals) stays near this size
/// whatever the record sizes. An internal buffer size, like the CSV reader's blocks.
pub const CHUNK_BYTES: usize = 64 << 20;

/// What [`append_line_bounded`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// The end of the input: nothing was read.
    End,
    /// A line (with its `\n`, unless it is the last) was appended.
    Line,
    /// The line is longer than allowed: it was read to its end without being held, and
    /// the buffer keeps only a short prefix of the record ([`quarantine::TOO_LONG_PREFIX`]).
    TooLong {
        /// Bytes the line had, including its `\n`.
        bytes: u64,
    },
}

/// Appends the next line of `input` (through its `\n`) to `buf`, holding at most `room`
/// bytes of it (not counting the `\n`). A longer line is consumed to its end by scanning
/// forward, never held: `buf` is then cut to a short prefix and the size is reported.
/// Memory stays bounded by `buf.len() + room` whatever the input (an endless line, or a
/// decompression bomb of one).
pub fn append_line_bounded(
    input: &mut (impl std::io::BufRead + ?Sized),
    buf: &mut Vec<u8>,
    room: usize,
) -> std::io::Result<LineRead> {
    let base = buf.len();
    let mut total = 0u64;
    let mut too_long = false;
    let mut newline = false;
    loop {
        let avail = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !too_long && buf.len() - base + take > room + done as usize {
            too_long = true;
            buf.truncate(quarantine::TOO_LONG_PREFIX);
        }
        if too_long {
            let want = quarantine::TOO_LONG_PREFIX.saturating_sub(buf.len()).min(take);
            buf.extend_from_slice(&avail[..want]);
        } else {
            buf.extend_from_slice(&avail[..take]);
        }
        total += take as u64;
        input.consume(take);
        if done {
            newline = true;
            break;
        }
    }
    if total == 0 {
        return Ok(LineRead::End);
    }
    if too_long || total - newline as u64 > room as u64 {
        buf.truncate(quarantine::TOO_LONG_PREFIX);
        return Ok(LineRead::TooLong { bytes: total });
    }
    Ok(LineRead::Line)
}

/// Reads past the rest of the current line without holding it; returns the bytes
/// skipped (with the `\n`) and whether a `\n` was found (false: the input ended).
pub fn skip_line(input: &mut (impl std::io::BufRead + ?Sized)) -> std::io::Result<(u64, bool)> {
    let mut total = 0u64;
    loop {
        let avail = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((total, false));
        }
        match memchr::memchr(b'\n', avail) {
            Some(i) => {
                input.consume(i + 1);
                return Ok((total + i as u64 + 1, true));
            }
            None => {
                let n = avail.len();
                input.consume(n);
                total += n as u64;
            }
        }
    }
}

/// `rec` without a leading UTF-8 byte order mark.
pub fn strip_bom(rec: &[u8]) -> &[u8] {
    rec.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(rec)
}

/// A reader of one transactions input.
pub trait TxReader: Send {
    /// The name used in messages (the path, or `<stdin>`).
    fn name(&self) -> &str;
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>>;
}

/// Picks the format of `path` from the config or its extension.
pub fn format_of(path: &Path, configured: Format) -> Result<Format> {
    if configured != Format::Auto {
        return Ok(configured);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if stem.ends_with(".csv") || stem.ends_with(".tsv") {
        Ok(Format::Csv)
    } else if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        Ok(Format::Jsonl)
    } else if stem.ends_with(".parquet") || stem.ends_with(".pq") {
        Ok(Format::Parquet)
    } else {
        Err(Error::input(
            path,
            "unknown format: expected .csv, .csv.gz, .jsonl, .ndjson or .parquet (or set `input.format`)",
        ))
    }
}

/// Opens a transactions file with the reader its format needs.
pub fn open_transactions(path: &Path, input: &InputConfig) -> Result<Box<dyn TxReader>> {
    match format_of(path, input.format)? {
        Format::Csv => Ok(Box::new(csv::CsvTxReader::open(path, input)?)),
        Format::Jsonl => Ok(Box::new(jsonl::JsonlTxReader::open(path, input)?)),
        Format::Parquet => Ok(Box::new(parquet::ParquetTxReader::open(path, input)?)),
        Format::Auto => Err(Error::Internal("format_of returned auto".into())),
    }
}

/// Where a row is in its input, for messages and quarantine.
pub struct RowCtx<'a> {
    pub file: &'a str,
    pub line: u64,
    pub raw: &'a [u8],
}

/// One field's bytes, or `None` when absent or empty.
pub type Field<'a> = Option<Cow<'a, [u8]>>;

/// Builds canonical transactions batches from text rows, validating every field.
pub struct TxBuilder {
    tx_id: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    src: StringBuilder,
    dst: StringBuilder,
    amount: Decimal128Builder,
    currency: StringBuilder,
    channel: StringBuilder,
    location: StringBuilder,
    memo: StringBuilder,
    label: BooleanBuilder,
    scheme: StringBuilder,
    rows: usize,
    meta: RowMeta,
}

/// Per pending row, what the duplicate check needs: the tx_id fingerprint, where the
/// row came from (file index, line) and its raw text (`raw[raw_ends[i-1]..raw_ends[i]]`).
#[derive(Default)]
struct RowMeta {
    fps: Vec<u128>,
    lines: Vec<(u32, u64)>,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    files: Vec<String>,
}

impl Default for TxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn utf8<'a>(ctx: &RowCtx, slot: Slot, b: &'a [u8]) -> Result<&'a str, Rejected> {
    std::str::from_utf8(b).map_err(|e| {
        Rejected::new(
            ctx.file,
            ctx.line,
            slot.name(),
            Reason::InvalidUtf8,
            &format!("{} is not valid UTF-8 (byte {})", slot.name(), e.valid_up_to()),
            ctx.raw,
        )
    })
}

fn opt_str<'a>(ctx: &RowCtx, slot: Slot, f: &'a Field<'a>) -> Result<Option<&'a str>, Rejected> {
    match f {
        None => Ok(None),
        Some(b) => {
            let s = utf8(ctx, slot, b)?.trim();
            Ok((!s.is_empty()).then_some(s))
        }
    }
}

fn shown(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 { format!("{}...", s.chars().take(40).collect::<String>()) } else { s.into_owned() }
}

impl TxBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        TxBuilder {
            tx_id: StringBuilder::new(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            src: StringBuilder::new(),
            dst: StringBuilder::new(),
            amount: Decimal128Builder::new()
                .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::AMOUNT_SCALE)
                .expect("valid decimal type"),
            currency: StringBuilder::new(),
            channel: StringBuilder::new(),
            location: StringBuilder::new(),
            memo: StringBuilder::new(),
            label: BooleanBuilder::new(),
            scheme: StringBuilder::new(),
            rows: 0,
            meta: RowMeta::default(),
        }
    }

    /// Rows appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Validates one row and appends it, or says why it is refused. Nothing is appended
    /// for a refused row. Duplicate ids are checked at [`TxBuilder::finish`], a batch at
    /// a time (first one wins).
    pub fn push(&mut self, ctx: &RowCtx, fields: &[Field<'_>; N_SLOTS], m: &TxMapping) -> Result<(), Rejected> {
        let reject = |slot: Slot, reason: Reason, what: String| {
            Rejected::new(ctx.file, ctx.line, slot.name(), reason, &what, ctx.raw)
        };
        let f = |s: Slot| &fields[s as usize];
        // NUL is refused by PostgreSQL (for the whole batch) and means a broken export
        if let Some(i) = fields.iter().position(|v| v.as_deref().is_some_and(|b| memchr::memchr(0, b).is_some())) {
            let slot = mapping::SLOTS[i];
            return Err(reject(slot, Reason::InvalidText, format!("{} holds a NUL character", slot.name())));
        }

        let tx_id = opt_str(ctx, Slot::TxId, f(Slot::TxId))?
            .ok_or_else(|| reject(Slot::TxId, Reason::MissingField, "tx_id is missing".into()))?;
        let ts_bytes = f(Slot::Ts)
            .as_deref()
            .filter(|b| !b.trim_ascii().is_empty())
            .ok_or_else(|| reject(Slot::Ts, Reason::MissingField, "ts is missing".into()))?;
        let ts = match m.ts_step_base_us {
            Some(base) => std::str::from_utf8(ts_bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .and_then(|step| step.checked_mul(86_400_000_000)?.checked_add(base))
                .ok_or_else(|| {
                    reject(Slot::Ts, Reason::BadTimestamp, format!("ts `{}` is not a day step", shown(ts_bytes)))
                })?,
            None => values::parse_ts(ts_bytes, &m.ts)
                .map_err(|why| reject(Slot::Ts, Reason::BadTimestamp, format!("ts `{}` {why}", shown(ts_bytes))))?,
        };
        let amount_bytes = f(Slot::Amount)
            .as_deref()
            .filter(|b| !b.trim_ascii().is_empty())
            .ok_or_else(|| reject(Slot::Amount, Reason::MissingField, "amount is missing".into()))?;
        let amount = parse_decimal(amount_bytes, schema::AMOUNT_SCALE as u32).map_err(|e| {
            let reason = match e {
                DecimalError::NotDecimal
                | DecimalError::TooPrecise
                | DecimalError::Overflow
                | DecimalError::Exponent => Reason::BadAmount,
            };
            reject(Slot::Amount, reason, format!("amount `{}` {e}", shown(amount_bytes)))
        })?;
        if amount <= 0 {
            return Err(reject(
                Slot::Amount,
                Reason::NonPositiveAmount,
                format!("amount `{}` is not greater than 0", shown(amount_bytes)),
            ));
        }
        let currency_raw = opt_str(ctx, Slot::Currency, f(Slot::Currency))?
            .ok_or_else(|| reject(Slot::Currency, Reason::MissingField, "currency is missing".into()))?;
        let currency: Cow<str> = match m.currency_values.get(currency_raw) {
            Some(c) => Cow::Borrowed(c.as_str()),
            None if currency_raw.bytes().all(|b| !b.is_ascii_lowercase()) => Cow::Borrowed(currency_raw),
            None => Cow::Owned(currency_raw.to_ascii_uppercase()),
        };
        let src = opt_str(ctx, Slot::Src, f(Slot::Src))?;
        let dst = opt_str(ctx, Slot::Dst, f(Slot::Dst))?;
        let channel = opt_str(ctx, Slot::Channel, f(Slot::Channel))?
            .map(|c| m.channel_values.get(c).map(String::as_str).unwrap_or(c));
        let location = opt_str(ctx, Slot::Location, f(Slot::Location))?;
        let memo = opt_str(ctx, Slot::Memo, f(Slot::Memo))?;
        let label = match f(Slot::LabelLaundering).as_deref().filter(|b| !b.trim_ascii().is_empty()) {
            None => None,
            Some(b) => Some(values::parse_bool(b).ok_or_else(|| {
                reject(Slot::LabelLaundering, Reason::BadValue, format!("label `{}` is not true/false", shown(b)))
            })?),
        };
        let scheme = opt_str(ctx, Slot::LabelScheme, f(Slot::LabelScheme))?
            .filter(|s| !m.scheme_null_values.iter().any(|n| n == s));
        let meta = &mut self.meta;
        if meta.files.last().map(String::as_str) != Some(ctx.file) {
            meta.files.push(ctx.file.to_string());
        }
        meta.fps.push(fingerprint(tx_id.as_bytes()));
        meta.lines.push(((meta.files.len() - 1) as u32, ctx.line));
        meta.raw.extend_from_slice(ctx.raw);
        meta.raw_ends.push(meta.raw.len());

        self.tx_id.append_value(tx_id);
        self.ts.append_value(ts);
        self.src.append_option(src);
        self.dst.append_option(dst);
        self.amount.append_value(amount);
        self.currency.append_value(currency);
        self.channel.append_option(channel);
        self.location.append_option(location);
        self.memo.append_option(memo);
        self.label.append_option(label);
        self.scheme.append_option(scheme);
        self.rows += 1;
        Ok(())
    }

    /// The pending rows as a batch, after refusing ids seen before (in this batch or
    /// earlier in the run) and numbering the rest; the builder starts over.
    pub fn finish(&mut self, state: &mut IngestState) -> (RecordBatch, Vec<Rejected>) {
        self.take().finish(state)
    }

    /// The pending rows, validated but not yet checked for duplicates (parsing threads
    /// hand these to the one thread that owns the run's [`IngestState`]).
    pub fn take(&mut self) -> PendingRows {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.tx_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.location.finish()),
            Arc::new(self.memo.finish()),
        ];
        let p = PendingRows {
            cols,
            label: Arc::new(self.label.finish()),
            scheme: Arc::new(self.scheme.finish()),
            rows: self.rows,
            meta: std::mem::take(&mut self.meta),
        };
        self.rows = 0;
        p
    }
}

/// Validated rows waiting for the duplicate check and their `seq` numbers.
pub struct PendingRows {
    cols: Vec<ArrayRef>,
    label: ArrayRef,
    scheme: ArrayRef,
    rows: usize,
    meta: RowMeta,
}

impl PendingRows {
    /// Refuses ids seen before (first one wins, in row order) and numbers the rest.
    pub fn finish(self, state: &mut IngestState) -> (RecordBatch, Vec<Rejected>) {
        let PendingRows { mut cols, label, scheme, rows, meta } = self;
        let RowMeta { fps, lines, raw, raw_ends, files } = meta;
        let mut fresh = Vec::new();
        match &state.known {
            Some(known) => fresh.extend(lines.iter().map(|&(file, line)| !known.contains(&files[file as usize], line))),
            None => state.first_sightings(&fps, &mut fresh),
        }
        if let Some(newest) =
            cols[1].as_primitive::<arrow::datatypes::TimestampMicrosecondType>().iter().flatten().max()
        {
            state.saw_until(newest);
        }
        let mut rejected = Vec::new();
        let dups = fresh.iter().filter(|f| !**f).count();
        let (label, scheme) = if dups == 0 {
            (label, scheme)
        } else {
            let ids = cols[0].as_string::<i32>();
            for (i, f) in fresh.iter().enumerate() {
                if !*f {
                    let (file, line) = lines[i];
                    let start = if i == 0 { 0 } else { raw_ends[i - 1] };
                    rejected.push(Rejected::new(
                        &files[file as usize],
                        line,
                        Slot::TxId.name(),
                        Reason::DuplicateTxId,
                        &format!("tx_id `{}` was seen before", shown(ids.value(i).as_bytes())),
                        &raw[start..raw_ends[i]],
                    ));
                }
            }
            let keep = BooleanArray::from(fresh);
            let f = |a: &ArrayRef| arrow::compute::filter(a, &keep).expect("filter of equal lengths");
            cols = cols.iter().map(f).collect();
            (f(&label), f(&scheme))
        };
        let kept = (rows - dups) as u64;
        cols.push(Arc::new(UInt64Array::from_iter_values(state.next_seq..state.next_seq + kept)));
        state.next_seq += kept;
        cols.push(label);
        cols.push(scheme);
        let batch = RecordBatch::try_new(schema::transactions_schema(), cols)
            .expect("builder columns match the canonical schema");
        (batch, rejected)
    }
}

/// Collects the slot fields of one record given its split columns.
pub fn slot_fields<'a>(resolved: &[Resolved], cols: &[Cow<'a, [u8]>], line: u64) -> [Field<'a>; N_SLOTS] {
    std::array::from_fn(|i| match &resolved[i] {
        Resolved::Absent => None,
        Resolved::Column(c) => cols.get(*c).cloned().filter(|v| !v.is_empty()),
        Resolved::Joined(cs) => {
            let parts: Vec<&[u8]> = cs.iter().filter_map(|c| cols.get(*c).map(|v| v.as_ref().trim_ascii())).collect();
            if parts.iter().all(|p| p.is_empty()) { None } else { Some(Cow::Owned(parts.join(&b'/'))) }
        }
        Resolved::Const(v) => Some(Cow::Owned(v.as_bytes().to_vec())),
        Resolved::LineId(p) => Some(Cow::Owned(format!("{p}{line}").into_bytes())),
    })
}

/// Slot fields of a minimal valid row (id, time, 100 USD wire from `a` to `b`), for tests.
#[doc(hidden)]
pub fn test_fields<'a>(id: &'a str, ts: &'a str) -> [Field<'a>; N_SLOTS] {
    let mut f: [Field<'a>; N_SLOTS] = Default::default();
    f[Slot::TxId as usize] = Some(Cow::Borrowed(id.as_bytes()));
    f[Slot::Ts as usize] = Some(Cow::Borrowed(ts.as_bytes()));
    f[Slot::Src as usize] = Some(Cow::Borrowed(b"a"));
    f[Slot::Dst as usize] = Some(Cow::Borrowed(b"b"));
    f[Slot::Amount as usize] = Some(Cow::Borrowed(b"100"));
    f[Slot::Currency as usize] = Some(Cow::Borrowed(b"USD"));
    f[Slot::Channel as usize] = Some(Cow::Borrowed(b"wire"));
    f
}

/// A transactions batch of minimal valid rows `(tx_id, epoch seconds)`, for tests.
#[doc(hidden)]
pub fn test_batch(rows: &[(&str, i64)], state: &mut IngestState) -> arrow::record_batch::RecordBatch {
    let mut b = TxBuilder::new();
    let m = TxMapping::for_dialect(crate::config::Dialect::Contract, &crate::config::default_input());
    for (id, secs) in rows {
        let ts = values::format_ts(secs * 1_000_000);
        b.push(&RowCtx { file: "t", line: 1, raw: b"" }, &test_fields(id, &ts), &m).unwrap();
    }
    b.finish(state).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_set_agrees_with_a_hash_set_through_growth() {
        let mut st = IngestState::default();
        let mut reference = std::collections::HashSet::new();
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 50_000 // plenty of repeats
        };
        for round in 0..40 {
            let ids: Vec<String> = (0..3_000).map(|_| format!("id{}", next())).collect();
            if round % 2 == 0 {
                let fps: Vec<u128> = ids.iter().map(|i| fingerprint(i.as_bytes())).collect();
                let mut out = Vec::new();
                st.first_sightings(&fps, &mut out);
                for (id, fresh) in ids.iter().zip(out) {
                    assert_eq!(fresh, reference.insert(id.clone()), "{id}");
                }
            } else {
                for id in &ids {
                    assert_eq!(st.first_sighting(id.as_bytes()), reference.insert(id.clone()), "{id}");
                }
            }
        }
        assert_eq!(st.distinct_ids(), reference.len());
    }

    #[test]
    fn a_bounded_run_remembers_ids_for_one_to_two_horizons_of_event_time() {
        const DAY: i64 = 86_400_000_000;
        let mut st = IngestState::default().with_horizon(Some(10 * DAY));
        let fp = |d: i64| fingerprint(format!("day{d}").as_bytes());
        // one id a day, each seen again the next day and 15 days later
        let mut again_15 = Vec::new();
        for d in 0..60 {
            let mut out = Vec::new();
            st.first_sightings(&[fp(d)], &mut out);
            assert!(out[0], "day {d} is new");
            if d >= 1 {
                st.first_sightings(&[fp(d - 1)], &mut out);
                assert!(!out[0], "day {}'s id seen a day later is a duplicate", d - 1);
            }
            if d >= 15 {
                st.first_sightings(&[fp(d - 15)], &mut out);
                again_15.push(!out[0]);
            }
            st.saw_until(d * DAY);
            // never more than two horizons of ids (at most two sightings a day)
            assert!(st.distinct_ids() <= 2 * 21, "day {d}: {} ids", st.distinct_ids());
        }
        // 15 days is past one horizon: remembered only while its generation lasts
        assert!(again_15.iter().any(|d| *d) && again_15.iter().any(|d| !*d), "{again_15:?}");
        // without a horizon every id stays
        let mut all = IngestState::default();
        for d in 0..60 {
            assert!(all.first_sighting(format!("day{d}").as_bytes()));
            all.saw_until(d * DAY);
        }
        assert_eq!(all.distinct_ids(), 60);
    }

    #[test]
    fn a_line_past_the_limit_is_skipped_and_only_its_prefix_kept() {
        let long = "x".repeat(5000);
        let text = format!("short\n{long}\nnext\nlast");
        let mut r = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut buf = Vec::new();
        let mut read = |buf: &mut Vec<u8>| {
            buf.clear();
            append_line_bounded(&mut r, buf, 1000).unwrap()
        };
        assert_eq!(read(&mut buf), LineRead::Line);
        assert_eq!(buf, b"short\n");
        assert_eq!(read(&mut buf), LineRead::TooLong { bytes: 5001 });
        assert_eq!(buf.len(), quarantine::TOO_LONG_PREFIX);
        assert_eq!(read(&mut buf), LineRead::Line);
        assert_eq!(buf, b"next\n");
        assert_eq!(read(&mut buf), LineRead::Line);
        assert_eq!(buf, b"last");
        assert_eq!(read(&mut buf), LineRead::End);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        let text = format!("{}\n{}", "a".repeat(1000), "b".repeat(1001));
        let mut r = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(append_line_bounded(&mut r, &mut buf, 1000).unwrap(), LineRead::Line);
        assert_eq!(buf.len(), 1001);
        buf.clear();
        assert_eq!(append_line_bounded(&mut r, &mut buf, 1000).unwrap(), LineRead::TooLong { bytes: 1001 });
    }

    #[test]
    fn a_nul_in_any_field_is_refused_as_invalid_text() {
        let m = TxMapping::for_dialect(crate::config::Dialect::Contract, &crate::config::default_input());
        let mut b = TxBuilder::new();
        let ctx = RowCtx { file: "t.csv", line: 7, raw: b"" };
        let mut f = test_fields("t1", "2026-03-01T00:00:00Z");
        f[Slot::Memo as usize] = Some(Cow::Borrowed(b"a\0b"));
        let r = b.push(&ctx, &f, &m).unwrap_err();
        assert_eq!((r.reason, r.field.as_str()), (Reason::InvalidText, "memo"));
        assert!(r.message.starts_with("line 7 of `t.csv`: memo holds a NUL"), "{}", r.message);
        let mut f = test_fields("t2", "2026-03-01T00:00:00Z");
        f[Slot::TxId as usize] = Some(Cow::Borrowed(b"t\x002"));
        assert_eq!(b.push(&ctx, &f, &m).unwrap_err().reason, Reason::InvalidText);
        assert!(b.is_empty());
    }
}
