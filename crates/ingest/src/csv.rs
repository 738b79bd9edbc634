//! CSV (and gzipped CSV) transactions reader.
//!
//! Owns: splitting a byte stream into records (quoted fields may hold newlines and
//! `""`), fields into slots through the mapping, and the header checks. Streams in
//! bounded chunks; never holds the whole file.
//! Must not: validate values itself (the shared `TxBuilder` does).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use crate::config::InputConfig;
use crate::mapping::{dedupe_header, mapping_for_header};
use crate::{
    Chunk, IngestState, LineRead, PendingRows, Reason, Rejected, Resolved, RowCtx, TxBuilder, TxMapping, TxReader,
    skip_line, slot_fields, strip_bom,
};
use mirrorflow_core::error::{Error, Result};

/// Opens `path` for reading, gunzipping when it starts with the gzip magic bytes.
pub fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Finds record ends the way RFC 4180 readers do: a quote opens a quoted field only at
/// the start of a field (a stray `"` inside an unquoted field is a plain character), and
/// a newline inside a quoted field does not end the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

#[derive(Debug, Clone)]
pub struct RecordScanner {
    delim: u8,
    state: ScanState,
}

impl RecordScanner {
    pub fn new(delim: u8) -> Self {
        RecordScanner { delim, state: ScanState::FieldStart }
    }

    /// Feeds bytes; returns the index just past the first record-ending newline, if any
    /// (the scanner is then at the start of the next record).
    pub fn feed(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            self.state = match (self.state, b) {
                (ScanState::Quoted, b'"') => ScanState::QuoteInQuoted,
                (ScanState::Quoted, _) => ScanState::Quoted,
                (ScanState::QuoteInQuoted, b'"') => ScanState::Quoted,
                (_, b'\n') => {
                    self.state = ScanState::FieldStart;
                    return Some(i + 1);
                }
                (ScanState::FieldStart, b'"') => ScanState::Quoted,
                (_, d) if d == self.delim => ScanState::FieldStart,
                _ => ScanState::Unquoted,
            };
        }
        None
    }
}

/// Reads CSV records from a buffered byte stream, keeping raw bytes and line numbers.
/// A record longer than `max` bytes is not held: see [`RecordReader::too_long`].
pub struct RecordReader {
    input: Box<dyn BufRead + Send>,
    scanner: RecordScanner,
    max: usize,
    /// The current record's raw bytes (without the final newline); for a record that is
    /// too long, a short prefix of it.
    pub buf: Vec<u8>,
    /// Physical lines consumed so far.
    lines: u64,
    /// First physical line of the current record.
    pub line: u64,
    /// `Some(bytes)` when the current record ran past `max` bytes: it was skipped up to
    /// the next line break past the limit (a quote still open there is not trusted to
    /// close) and `buf` holds only its prefix.
    pub too_long: Option<u64>,
}

impl RecordReader {
    pub fn new(input: Box<dyn BufRead + Send>, delim: u8, max: usize) -> Self {
        RecordReader {
            input,
            scanner: RecordScanner::new(delim),
            max,
            buf: Vec::with_capacity(512),
            lines: 0,
            line: 0,
            too_long: None,
        }
    }

    /// The underlying stream, positioned after the last record read.
    pub fn into_inner(self) -> Box<dyn BufRead + Send> {
        self.input
    }

    /// Reads the next non-blank record into `buf`; false at the end.
    pub fn next_record(&mut self) -> std::io::Result<bool> {
        loop {
            self.buf.clear();
            self.too_long = None;
            self.line = self.lines + 1;
            self.scanner = RecordScanner::new(self.scanner.delim);
            loop {
                let start = self.buf.len();
                let room = self.max.saturating_sub(start);
                match crate::append_line_bounded(&mut self.input, &mut self.buf, room)? {
                    LineRead::End => break,
                    LineRead::TooLong { bytes } => {
                        self.lines += 1;
                        self.too_long = Some(start as u64 + bytes);
                        return Ok(true);
                    }
                    LineRead::Line => {
                        self.lines += 1;
                        if self.scanner.feed(&self.buf[start..]).is_some() {
                            break;
                        }
                    }
                }
            }
            if self.buf.is_empty() {
                return Ok(false);
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if !self.buf.is_empty() {
                return Ok(true);
            }
        }
    }
}

/// `tail` after the unescaped part of a quoted field, borrowed when nothing was unescaped.
fn joined<'a>(head: Option<Vec<u8>>, tail: &'a [u8]) -> Cow<'a, [u8]> {
    match head {
        Some(mut o) => {
            o.extend_from_slice(tail);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(tail),
    }
}

/// Splits one record into fields (RFC 4180 quoting). Fields borrow from `rec` unless
/// they hold an escaped quote.
pub fn split_record<'a>(rec: &'a [u8], delim: u8, out: &mut Vec<Cow<'a, [u8]>>) {
    out.clear();
    let mut i = 0;
    loop {
        if rec.get(i) == Some(&b'"') {
            // quoted field
            let mut j = i + 1;
            let mut owned: Option<Vec<u8>> = None;
            let mut seg_start = j;
            loop {
                match memchr::memchr(b'"', &rec[j..]) {
                    None => {
                        // unterminated quote: take the rest as is
                        out.push(joined(owned.take(), &rec[seg_start..]));
                        return;
                    }
                    Some(k) => {
                        let q = j + k;
                        if rec.get(q + 1) == Some(&b'"') {
                            let o = owned.get_or_insert_with(Vec::new);
                            o.extend_from_slice(&rec[seg_start..=q]);
                            j = q + 2;
                            seg_start = j;
                        } else {
                            out.push(joined(owned.take(), &rec[seg_start..q]));
                            // skip to the delimiter
                            match memchr::memchr(delim, &rec[q + 1..]) {
                                Some(d) => i = q + 1 + d + 1,
                                None => return,
                            }
                            break;
                        }
                    }
                }
            }
        } else {
            match memchr::memchr(delim, &rec[i.min(rec.len())..]) {
                Some(d) => {
                    out.push(Cow::Borrowed(&rec[i..i + d]));
                    i += d + 1;
                }
                None => {
                    out.push(Cow::Borrowed(&rec[i.min(rec.len())..]));
                    return;
                }
            }
        }
    }
}

/// Reads the header record of a CSV stream.
pub fn read_header(reader: &mut RecordReader, path: &Path, delim: u8) -> Result<Vec<String>> {
    if !reader.next_record().map_err(|e| Error::io(path, e))? {
        return Err(Error::input(path, "the file is empty: expected a header row"));
    }
    if let Some(bytes) = reader.too_long {
        return Err(Error::input(
            path,
            format!(
                "the header row has {bytes} bytes, more than `input.max-record-bytes` ({}): is this a CSV file?",
                reader.max
            ),
        ));
    }
    let rec = strip_bom(&reader.buf);
    let mut fields = Vec::new();
    split_record(rec, delim, &mut fields);
    let header: Vec<String> = fields
        .iter()
        .map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::input(path, "the header row is not valid UTF-8"))?;
    Ok(dedupe_header(header))
}

/// A run of whole records: raw bytes cut at a record boundary, where each record ends
/// (index just past its newline, or the end of data) and the line it starts on. A
/// record too long to hold comes alone: `too_long` has its size, `data` its prefix and
/// `lines` its first line.
struct Block {
    data: Vec<u8>,
    ends: Vec<usize>,
    lines: Vec<u64>,
    too_long: Option<u64>,
}

/// Bytes per block handed from the reading thread to the parser.
const BLOCK_BYTES: usize = 1 << 20;

/// Reads (and gunzips) on its own thread and cuts the stream into whole-record blocks,
/// so reading and record splitting overlap parsing. Holds at most `max_record` +
/// [`BLOCK_BYTES`] of one record: a record with no end within `max_record` bytes is
/// handed on as too long, and reading resumes after the first line break past the limit
/// (a quote still open there is not trusted to close: an unterminated quote cannot
/// swallow the rest of the file), skipping the rest without holding it.
fn spawn_block_reader(
    mut input: Box<dyn BufRead + Send>,
    first_line: u64,
    delim: u8,
    max_record: usize,
) -> Receiver<std::io::Result<Block>> {
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("csv-reader".into())
        .spawn(move || {
            // The partial record carried to the next block is never scanned twice: the
            // scanner keeps its state and `carried_nl` the line breaks already seen in it.
            let mut carry: Vec<u8> = Vec::new();
            let mut scanner = RecordScanner::new(delim);
            let mut carried_nl = 0u64;
            // how much of `carry` the scanner has seen
            let mut scanned = 0usize;
            let mut line = first_line;
            let nl = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
            loop {
                let mut data = std::mem::take(&mut carry);
                let start = data.len();
                data.resize(start + BLOCK_BYTES, 0);
                let n = match read_up_to(&mut input, &mut data[start..]) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                data.truncate(start + n);
                if data.is_empty() {
                    return;
                }
                let (mut ends, mut lines) = (Vec::new(), Vec::new());
                let (mut pos, mut at) = (0, scanned);
                loop {
                    match scanner.feed(&data[at..]) {
                        Some(k) => {
                            lines.push(line);
                            line += carried_nl + nl(&data[at..at + k]);
                            carried_nl = 0;
                            at += k;
                            pos = at;
                            ends.push(pos);
                        }
                        None => {
                            carried_nl += nl(&data[at..]);
                            break;
                        }
                    }
                }
                if n == 0 && pos < data.len() {
                    // last record without a final newline
                    lines.push(line);
                    ends.push(data.len());
                    pos = data.len();
                }
                if ends.is_empty() && data.len() > max_record {
                    let prefix = data[..data.len().min(crate::quarantine::TOO_LONG_PREFIX)].to_vec();
                    let first = line;
                    scanner = RecordScanner::new(delim);
                    let bytes = match memchr::memchr(b'\n', &data[max_record..]) {
                        Some(k) => {
                            let cut = max_record + k + 1;
                            carry = data.split_off(cut);
                            line += carried_nl - nl(&carry);
                            cut as u64
                        }
                        None => {
                            line += carried_nl;
                            let held = data.len() as u64;
                            drop(data);
                            match skip_line(&mut input) {
                                Ok((skipped, found)) => {
                                    line += found as u64;
                                    held + skipped
                                }
                                Err(e) => {
                                    let _ = tx.send(Err(e));
                                    return;
                                }
                            }
                        }
                    };
                    carried_nl = 0;
                    let block = Block { data: prefix, ends: Vec::new(), lines: vec![first], too_long: Some(bytes) };
                    if tx.send(Ok(block)).is_err() {
                        return;
                    }
                    // the rest of this block, after the cut, is scanned afresh (at most a block)
                    scanned = 0;
                    continue;
                }
                if ends.is_empty() {
                    scanned = data.len();
                    carry = data; // one record longer than a block: read on
                    continue;
                }
                carry = data.split_off(pos);
                scanned = carry.len();
                if tx.send(Ok(Block { data, ends, lines, too_long: None })).is_err() || n == 0 {
                    return;
                }
            }
        })
        .expect("the csv reader thread starts");
    rx
}

/// What a parsing thread needs to turn a block into validated rows.
struct CsvPlan {
    name: String,
    header_len: usize,
    mapping: TxMapping,
    resolved: Vec<Resolved>,
    delim: u8,
    batch_rows: usize,
    max_record: usize,
}

/// A piece of a block: validated rows (duplicates not yet checked) and refused rows.
struct Parsed {
    rows: PendingRows,
    rejected: Vec<Rejected>,
    rows_read: u64,
}

/// Parses one block into pieces of at most `batch_rows` accepted rows.
fn parse_block(plan: &CsvPlan, block: &Block) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut builder = TxBuilder::new();
    let mut rejected = Vec::new();
    let mut rows_read = 0u64;
    if let Some(bytes) = block.too_long {
        let r = Rejected::too_long(&plan.name, block.lines[0], plan.max_record, bytes, &block.data);
        return vec![Parsed { rows: builder.take(), rejected: vec![r], rows_read: 1 }];
    }
    for i in 0..block.ends.len() {
        let start = if i == 0 { 0 } else { block.ends[i - 1] };
        let mut end = block.ends[i];
        while end > start && matches!(block.data[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end == start {
            continue; // blank line
        }
        let (line, rec) = (block.lines[i], &block.data[start..end]);
        rows_read += 1;
        let mut fields = Vec::with_capacity(plan.header_len);
        if rec.len() > plan.max_record {
            // whole in this block, but still longer than allowed
            rejected.push(Rejected::too_long(&plan.name, line, plan.max_record, (end - start) as u64, rec));
            continue;
        }
        split_record(rec, plan.delim, &mut fields);
        if fields.len() != plan.header_len {
            rejected.push(Rejected::new(
                &plan.name,
                line,
                "record",
                Reason::WrongColumnCount,
                &format!("{} fields where the header has {}", fields.len(), plan.header_len),
                rec,
            ));
        } else {
            let ctx = RowCtx { file: &plan.name, line, raw: rec };
            let slots = slot_fields(&plan.resolved, &fields, line);
            if let Err(r) = builder.push(&ctx, &slots, &plan.mapping) {
                rejected.push(r);
            }
        }
        if builder.len() >= plan.batch_rows || rows_read as usize >= plan.batch_rows * 2 {
            out.push(Parsed { rows: builder.take(), rejected: std::mem::take(&mut rejected), rows_read });
            rows_read = 0;
        }
    }
    if rows_read > 0 {
        out.push(Parsed { rows: builder.take(), rejected, rows_read });
    }
    out
}

/// Parsing threads: two, matching this project's 2-core machines (the reading thread
/// and the duplicate check take the rest).
const PARSE_THREADS: usize = 2;

type Job = (usize, std::io::Result<Block>);
type Done = (usize, std::io::Result<Vec<Parsed>>);

/// Starts the reader and the parsers; results come back tagged with their block index.
fn spawn_parsers(input: Box<dyn BufRead + Send>, first_line: u64, plan: Arc<CsvPlan>) -> Receiver<Done> {
    let blocks = spawn_block_reader(input, first_line, plan.delim, plan.max_record);
    let (job_tx, job_rx) = sync_channel::<Job>(PARSE_THREADS * 2);
    std::thread::Builder::new()
        .name("csv-dispatch".into())
        .spawn(move || {
            for (idx, b) in blocks.into_iter().enumerate() {
                if job_tx.send((idx, b)).is_err() {
                    return;
                }
            }
        })
        .expect("the csv dispatch thread starts");
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(PARSE_THREADS * 4);
    for t in 0..PARSE_THREADS {
        let (job_rx, done_tx, plan) = (job_rx.clone(), done_tx.clone(), plan.clone());
        std::thread::Builder::new()
            .name(format!("csv-parse-{t}"))
            .spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((idx, block)) = job else { return };
                    let done = block.map(|b| parse_block(&plan, &b));
                    if done_tx.send((idx, done)).is_err() {
                        return;
                    }
                }
            })
            .expect("a csv parse thread starts");
    }
    done_rx
}

/// Parses CSV records one at a time against a header given up front: the core of the
/// Kafka source's CSV payloads (one record per message, no header in the stream). The
/// mapping is the file readers' (`[input.columns]`, or the dialect sniffed from the header).
pub struct CsvLineParser {
    name: String,
    header_len: usize,
    mapping: TxMapping,
    resolved: Vec<Resolved>,
    delim: u8,
    max_record: usize,
    builder: TxBuilder,
}

impl CsvLineParser {
    /// A parser whose messages name `name`; `header` are the records' column names.
    /// `Err`: the header does not map to the contract (which columns are missing).
    pub fn new(name: String, header: &[String], input: &InputConfig) -> std::result::Result<Self, String> {
        let mapping = mapping_for_header(input, header);
        let resolved = mapping.resolve(header)?;
        Ok(CsvLineParser {
            name,
            header_len: header.len(),
            mapping,
            resolved,
            delim: input.csv_delimiter,
            max_record: input.max_record_bytes,
            builder: TxBuilder::new(),
        })
    }

    /// Parses one record (`line` is its position, e.g. a message offset); the refusal if
    /// it is refused. A trailing line break is ignored.
    pub fn push_line(&mut self, line: u64, rec: &[u8]) -> Option<Rejected> {
        let mut end = rec.len();
        while end > 0 && matches!(rec[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let rec = &rec[..end];
        if rec.len() > self.max_record {
            return Some(Rejected::too_long(&self.name, line, self.max_record, rec.len() as u64, rec));
        }
        let mut fields = Vec::with_capacity(self.header_len);
        split_record(rec, self.delim, &mut fields);
        if fields.len() != self.header_len {
            return Some(Rejected::new(
                &self.name,
                line,
                "record",
                Reason::WrongColumnCount,
                &format!("{} fields where the header has {}", fields.len(), self.header_len),
                rec,
            ));
        }
        let ctx = RowCtx { file: &self.name, line, raw: rec };
        let slots = slot_fields(&self.resolved, &fields, line);
        self.builder.push(&ctx, &slots, &self.mapping).err()
    }

    /// The accepted rows as a batch, and the rows refused as duplicates.
    pub fn finish(&mut self, state: &mut IngestState) -> (arrow::record_batch::RecordBatch, Vec<Rejected>) {
        self.builder.finish(state)
    }
}

/// Streams a CSV transactions file as canonical chunks: one thread reads and cuts
/// records, two parse and validate, and this reader checks duplicates and numbers rows
/// in file order.
pub struct CsvTxReader {
    plan: Arc<CsvPlan>,
    results: Receiver<Done>,
    /// Results that arrived ahead of their turn, by block index.
    early: BTreeMap<usize, std::io::Result<Vec<Parsed>>>,
    next_block: usize,
    ready: VecDeque<Parsed>,
}

impl CsvTxReader {
    /// Opens `path`, reads its header and resolves the column mapping.
    pub fn open(path: &Path, input: &InputConfig) -> Result<Self> {
        Self::from_reader(path.display().to_string(), open_maybe_gz(path)?, path, input)
    }

    /// Reads CSV from any buffered stream; `name` is used in messages.
    pub fn from_reader(
        name: String,
        input_stream: Box<dyn BufRead + Send>,
        path: &Path,
        input: &InputConfig,
    ) -> Result<Self> {
        let mut records = RecordReader::new(input_stream, input.csv_delimiter, input.max_record_bytes);
        let delim = input.csv_delimiter;
        let header = read_header(&mut records, path, delim)?;
        if header.len() < 2 {
            return Err(Error::input(
                path,
                format!(
                    "the header row has {} column(s): is this a CSV file with `{}` separators?",
                    header.len(),
                    delim as char
                ),
            ));
        }
        let mapping = mapping_for_header(input, &header);
        let resolved = mapping.resolve(&header).map_err(|e| Error::input(path, e))?;
        let next_line = records.lines + 1;
        let plan = Arc::new(CsvPlan {
            name,
            header_len: header.len(),
            mapping,
            resolved,
            delim,
            batch_rows: input.batch_rows,
            max_record: input.max_record_bytes,
        });
        let results = spawn_parsers(records.into_inner(), next_line, plan.clone());
        Ok(CsvTxReader { plan, results, early: BTreeMap::new(), next_block: 0, ready: VecDeque::new() })
    }

    /// The dialect in use.
    pub fn dialect(&self) -> &'static str {
        self.plan.mapping.dialect
    }
}

impl TxReader for CsvTxReader {
    fn name(&self) -> &str {
        &self.plan.name
    }

    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                let (batch, dups) = p.rows.finish(state);
                let mut rejected = p.rejected;
                if !dups.is_empty() {
                    rejected.extend(dups);
                    rejected.sort_by_key(|r| r.line);
                }
                return Ok(Some(Chunk { batch, rejected, rows_read: p.rows_read }));
            }
            if let Some(r) = self.early.remove(&self.next_block) {
                self.next_block += 1;
                self.ready = r.map_err(|e| Error::io(&self.plan.name, e))?.into();
                continue;
            }
            match self.results.recv() {
                Ok((idx, r)) => {
                    self.early.insert(idx, r);
                }
                Err(_) if self.early.is_empty() => return Ok(None),
                Err(_) => return Err(Error::Internal(format!("csv parsers of `{}` stopped early", self.plan.name))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_record(s.as_bytes(), b',', &mut out);
        out.iter().map(|f| String::from_utf8(f.to_vec()).unwrap()).collect()
    }

    #[test]
    fn splits_quoted_fields() {
        assert_eq!(split("a,b,c"), ["a", "b", "c"]);
        assert_eq!(split("a,,c,"), ["a", "", "c", ""]);
        assert_eq!(split(r#""x, y","say ""hi""",z"#), ["x, y", r#"say "hi""#, "z"]);
        assert_eq!(split("\"multi\nline\",2"), ["multi\nline", "2"]);
        assert_eq!(split(""), [""]);
        assert_eq!(split(r#"12" TV,x"#), [r#"12" TV"#, "x"]);
    }

    /// Every (line, outcome) the block reader and parser give for `text` with a limit.
    fn parse_all(text: &str, max: usize) -> Vec<(u64, String)> {
        let input: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let mut out = Vec::new();
        for block in spawn_block_reader(input, 2, b',', max) {
            let block = block.unwrap();
            if let Some(bytes) = block.too_long {
                assert!(block.data.len() <= crate::quarantine::TOO_LONG_PREFIX);
                out.push((block.lines[0], format!("too long {bytes}")));
                continue;
            }
            for i in 0..block.ends.len() {
                let start = if i == 0 { 0 } else { block.ends[i - 1] };
                let rec = String::from_utf8_lossy(&block.data[start..block.ends[i]]).trim_end().to_string();
                out.push((block.lines[i], rec));
            }
        }
        out
    }

    #[test]
    fn records_past_the_limit_are_cut_at_the_next_line_break_past_it() {
        let max = 2 * BLOCK_BYTES;
        let long = "y".repeat(5 * BLOCK_BYTES);
        let text = format!("a,1\nb,{long}\nc,2\n\"open,{long}\nmore\nd,3\n\"q\nuoted\",4\ne,5");
        let got = parse_all(&text, max);
        let want: Vec<(u64, String)> = vec![
            (2, "a,1".into()),
            (3, format!("too long {}", long.len() + 3)),
            (4, "c,2".into()),
            (5, format!("too long {}", long.len() + 7)),
            (6, "more".into()),
            (7, "d,3".into()),
            (8, "\"q\nuoted\",4".into()),
            (10, "e,5".into()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn the_record_reader_skips_a_record_past_the_limit() {
        let text = format!("h1,h2\n\"{}\n{}\",x\nok,1\n", "z".repeat(3000), "z".repeat(3000));
        let mut rr = RecordReader::new(Box::new(std::io::Cursor::new(text.into_bytes())), b',', 4000);
        assert!(rr.next_record().unwrap());
        assert_eq!((rr.line, rr.buf.as_slice(), rr.too_long), (1, &b"h1,h2"[..], None));
        assert!(rr.next_record().unwrap());
        assert_eq!((rr.line, rr.too_long), (2, Some(3002 + 3004)));
        assert!(rr.next_record().unwrap());
        assert_eq!((rr.line, rr.buf.as_slice(), rr.too_long), (4, &b"ok,1"[..], None));
        assert!(!rr.next_record().unwrap());
    }

    #[test]
    fn record_ends_ignore_newlines_in_quotes_and_stray_quotes() {
        let mut s = RecordScanner::new(b',');
        assert_eq!(s.feed(b"a,\"x\ny\",b\nnext"), Some(10));
        let mut s = RecordScanner::new(b',');
        assert_eq!(s.feed(b"a,12\" TV,b\nnext"), Some(11));
        let mut s = RecordScanner::new(b',');
        assert_eq!(s.feed(b"a,\"open"), None);
        assert_eq!(s.feed(b"\nstill\",b\n"), Some(10));
    }
}
