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
use crate::error::{Error, Result};
use crate::ingest::csv::open_maybe_gz;
use crate::ingest::mapping::Source;
use crate::ingest::{
    Chunk, IngestState, Reason, Rejected, Resolved, RowCtx, TxBuilder, TxMapping, TxReader,
    slot_fields,
};

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
                Source::Column(c) => names.push(c.clone()),
                Source::Joined(cs) => names.extend(cs.iter().cloned()),
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
    name: String,
    input: Box<dyn BufRead + Send>,
    mapping: TxMapping,
    layout: JsonLayout,
    batch_rows: usize,
    builder: TxBuilder,
    line_buf: Vec<u8>,
    line: u64,
    done: bool,
}

impl JsonlTxReader {
    /// Opens an NDJSON file (gzipped or not).
    pub fn open(path: &Path, input: &InputConfig) -> Result<Self> {
        Ok(Self::from_reader(path.display().to_string(), open_maybe_gz(path)?, input))
    }

    /// Reads NDJSON from any buffered stream (stdin); `name` is used in messages.
    pub fn from_reader(name: String, stream: Box<dyn BufRead + Send>, input: &InputConfig) -> Self {
        let dialect = match input.dialect {
            Dialect::Auto => Dialect::Contract,
            d => d,
        };
        let mapping = TxMapping::for_dialect(dialect, input);
        let layout = JsonLayout::new(&mapping);
        JsonlTxReader {
            name,
            input: stream,
            mapping,
            layout,
            batch_rows: input.batch_rows,
            builder: TxBuilder::new(),
            line_buf: Vec::with_capacity(512),
            line: 0,
            done: false,
        }
    }

    /// Reads up to `max_rows` lines (stopping early at the end of input) into a chunk.
    pub fn read_rows(&mut self, state: &mut IngestState, max_rows: usize) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut rejected = Vec::new();
        let mut rows_read = 0u64;
        while self.builder.len() < max_rows && (rows_read as usize) < max_rows * 2 {
            self.line_buf.clear();
            let n = self.input.read_until(b'\n', &mut self.line_buf).map_err(|e| Error::io(&self.name, e))?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let rec = self.line_buf.trim_ascii();
            if rec.is_empty() {
                continue;
            }
            rows_read += 1;
            if let Some(r) = push_json_line(
                &self.name,
                self.line,
                rec,
                &self.mapping,
                &self.layout,
                &mut self.builder,
                state,
            ) {
                rejected.push(r);
            }
        }
        if rows_read == 0 {
            return Ok(None);
        }
        Ok(Some(Chunk { batch: self.builder.finish(), rejected, rows_read }))
    }

    /// Whether the input has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

fn push_json_line(
    file: &str,
    line: u64,
    rec: &[u8],
    mapping: &TxMapping,
    layout: &JsonLayout,
    builder: &mut TxBuilder,
    state: &mut IngestState,
) -> Option<Rejected> {
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
            return Some(Rejected::new(
                file,
                line,
                "record",
                Reason::BadJson,
                &format!("not a JSON object: {e}"),
                rec,
            ));
        }
    };
    let cols: Vec<Cow<[u8]>> = layout
        .names
        .iter()
        .map(|n| obj.get(n.as_str()).and_then(|v| value_bytes(v)).unwrap_or(Cow::Borrowed(&b""[..])))
        .collect();
    let slots = slot_fields(&layout.resolved, &cols, line);
    let ctx = RowCtx { file, line, raw: rec };
    builder.push(&ctx, &slots, mapping, state).err()
}

impl TxReader for JsonlTxReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>> {
        let n = self.batch_rows;
        self.read_rows(state, n)
    }
}
