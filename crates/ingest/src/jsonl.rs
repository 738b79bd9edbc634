//! Newline-delimited JSON transactions reader (files, and stdin for live runs).
//!
//! Owns: one JSON object per line into slot fields. Numbers are taken as their exact
//! source text (never through a float), strings unescaped.
//! Must not: validate values itself (the shared `TxBuilder` does).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::value::RawValue;

use crate::config::{Dialect, InputConfig};
use crate::csv::open_maybe_gz;
use crate::mapping::FieldSource;
use crate::{
    CHUNK_BYTES, Chunk, IngestState, LineRead, Reason, Rejected, Resolved, RowCtx, TxBuilder, TxMapping, TxReader,
    append_line_bounded, slot_fields, strip_bom,
};
use mirrorflow_core::error::{Error, Result};

/// Parses NDJSON lines one at a time into a batch: the core of the NDJSON file reader
/// and of the live stdin source.
pub struct JsonLineParser {
    name: String,
    mapping: TxMapping,
    layout: JsonLayout,
    builder: TxBuilder,
}

impl JsonLineParser {
    /// A parser whose messages name `name`.
    pub fn new(name: String, input: &InputConfig) -> Self {
        let dialect = match input.dialect {
            Dialect::Auto => Dialect::Contract,
            d => d,
        };
        let mapping = TxMapping::for_dialect(dialect, input);
        let layout = JsonLayout::new(&mapping);
        JsonLineParser { name, mapping, layout, builder: TxBuilder::new() }
    }

    /// Parses one non-blank line; the refusal if it is refused.
    pub fn push_line(&mut self, line: u64, rec: &[u8]) -> Option<Rejected> {
        push_json_line(&self.name, line, rec, &self.mapping, &self.layout, &mut self.builder)
    }

    /// Rows accepted since the last `finish`.
    pub fn pending(&self) -> usize {
        self.builder.len()
    }

    /// The accepted rows as a batch, and the rows refused as duplicates.
    pub fn finish(&mut self, state: &mut IngestState) -> (arrow::record_batch::RecordBatch, Vec<Rejected>) {
        self.builder.finish(state)
    }
}

/// The names a JSON line is looked up by, and the mapping resolved against them.
struct JsonLayout {
    names: Vec<String>,
    resolved: Vec<Resolved>,
}

impl JsonLayout {
    fn new(mapping: &TxMapping) -> Self {
        let mut names: Vec<String> = Vec::new();
        for s in &mapping.sources {
            match s {
                FieldSource::Column(c) => names.push(c.clone()),
                FieldSource::Joined(cs) => names.extend(cs.iter().cloned()),
                _ => {}
            }
        }
        names.dedup();
        let resolved = mapping.resolve(&names).expect("names come from the mapping");
        JsonLayout { names, resolved }
    }
}

/// Turns one JSON value into field bytes: strings unescaped, numbers and booleans as
/// their source text, null as absent.
fn value_bytes(raw: &RawValue) -> Option<Cow<'_, [u8]>> {
    let t = raw.get();
    match t.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Cow<str>>(t) {
            Ok(Cow::Borrowed(s)) => Some(Cow::Borrowed(s.as_bytes())),
            Ok(Cow::Owned(s)) => Some(Cow::Owned(s.into_bytes())),
            Err(_) => Some(Cow::Borrowed(t.as_bytes())),
        },
        Some(b'n') if t == "null" => None,
        _ => Some(Cow::Borrowed(t.as_bytes())),
    }
}

/// Streams NDJSON transactions as canonical chunks.
pub struct JsonlTxReader {
    input: Box<dyn BufRead + Send>,
    parser: JsonLineParser,
    batch_rows: usize,
    max_record: usize,
    line_buf: Vec<u8>,
    line: u64,
    done: bool,
}

impl JsonlTxReader {
    /// Opens an NDJSON file (gzipped or not).
    pub fn open(path: &Path, input: &InputConfig) -> Result<Self> {
        Ok(Self::from_reader(path.display().to_string(), open_maybe_gz(path)?, input))
    }

    /// Reads NDJSON from any buffered stream; `name` is used in messages.
    pub fn from_reader(name: String, stream: Box<dyn BufRead + Send>, input: &InputConfig) -> Self {
        JsonlTxReader {
            input: stream,
            parser: JsonLineParser::new(name, input),
            batch_rows: input.batch_rows,
            max_record: input.max_record_bytes,
            line_buf: Vec::with_capacity(512),
            line: 0,
            done: false,
        }
    }
}

fn push_json_line(
    file: &str,
    line: u64,
    rec: &[u8],
    mapping: &TxMapping,
    layout: &JsonLayout,
    builder: &mut TxBuilder,
) -> Option<Rejected> {
    // a byte order mark may open the input (editors on Windows write one)
    let rec = if line == 1 { strip_bom(rec) } else { rec };
    if let Err(e) = std::str::from_utf8(rec) {
        return Some(Rejected::new(
            file,
            line,
            "record",
            Reason::InvalidUtf8,
            &format!("the line is not valid UTF-8 (byte {})", e.valid_up_to()),
            rec,
        ));
    }
    let obj: HashMap<Cow<str>, &RawValue> = match serde_json::from_slice(rec) {
        Ok(o) => o,
        Err(e) => {
            return Some(Rejected::new(file, line, "record", Reason::BadJson, &format!("not a JSON object: {e}"), rec));
        }
    };
    let cols: Vec<Cow<[u8]>> = layout
        .names
        .iter()
        .map(|n| obj.get(n.as_str()).and_then(|v| value_bytes(v)).unwrap_or(Cow::Borrowed(&b""[..])))
        .collect();
    let slots = slot_fields(&layout.resolved, &cols, line);
    let ctx = RowCtx { file, line, raw: rec };
    builder.push(&ctx, &slots, mapping).err()
}

impl TxReader for JsonlTxReader {
    fn name(&self) -> &str {
        &self.parser.name
    }

    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut rejected = Vec::new();
        let mut rows_read = 0u64;
        // a chunk also ends after CHUNK_BYTES of input: rows near the record limit cannot
        // make one chunk hold batch-rows megabyte rows
        let mut bytes = 0usize;
        while self.parser.pending() < self.batch_rows
            && (rows_read as usize) < self.batch_rows * 2
            && bytes < CHUNK_BYTES
        {
            self.line_buf.clear();
            let read = append_line_bounded(&mut self.input, &mut self.line_buf, self.max_record)
                .map_err(|e| Error::io(&self.parser.name, e))?;
            if read == LineRead::End {
                self.done = true;
                break;
            }
            self.line += 1;
            bytes += self.line_buf.len();
            if let LineRead::TooLong { bytes } = read {
                rows_read += 1;
                rejected.push(Rejected::too_long(&self.parser.name, self.line, self.max_record, bytes, &self.line_buf));
                continue;
            }
            let rec = self.line_buf.trim_ascii();
            if rec.is_empty() {
                continue;
            }
            rows_read += 1;
            if let Some(r) = self.parser.push_line(self.line, rec) {
                rejected.push(r);
            }
        }
        if rows_read == 0 {
            return Ok(None);
        }
        let (batch, dups) = self.parser.finish(state);
        rejected.extend(dups);
        rejected.sort_by_key(|r| r.line);
        Ok(Some(Chunk { batch, rejected, rows_read }))
    }
}
