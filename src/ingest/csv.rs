//! CSV (and gzipped CSV) transactions reader.
//!
//! Owns: splitting a byte stream into records (quoted fields may hold newlines and
//! `""`), fields into slots through the mapping, and the header checks. Streams in
//! bounded chunks; never holds the whole file.
//! Must not: validate values itself (the shared `TxBuilder` does).

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::config::InputConfig;
use crate::error::{Error, Result};
use crate::ingest::mapping::{dedupe_header, mapping_for_header};
use crate::ingest::{
    Chunk, IngestState, Reason, Rejected, Resolved, RowCtx, TxBuilder, TxMapping, TxReader,
    slot_fields,
};

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

/// Reads CSV records from a buffered byte stream, keeping raw bytes and line numbers.
pub struct RecordReader {
    input: Box<dyn BufRead + Send>,
    /// The current record's raw bytes (without the final newline).
    pub buf: Vec<u8>,
    /// Physical lines consumed so far.
    lines: u64,
    /// First physical line of the current record.
    pub line: u64,
}

impl RecordReader {
    pub fn new(input: Box<dyn BufRead + Send>) -> Self {
        RecordReader { input, buf: Vec::with_capacity(512), lines: 0, line: 0 }
    }

    /// Reads the next non-blank record into `buf`; false at the end.
    pub fn next_record(&mut self) -> std::io::Result<bool> {
        loop {
            self.buf.clear();
            self.line = self.lines + 1;
            let mut quotes = 0usize;
            loop {
                let start = self.buf.len();
                let n = self.input.read_until(b'\n', &mut self.buf)?;
                if n == 0 {
                    break;
                }
                self.lines += 1;
                quotes += memchr::memchr_iter(b'"', &self.buf[start..]).count();
                if quotes % 2 == 0 {
                    break;
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
                        let v = &rec[seg_start..];
                        let field = match owned.take() {
                            Some(mut o) => {
                                o.extend_from_slice(v);
                                Cow::Owned(o)
                            }
                            None => Cow::Borrowed(v),
                        };
                        out.push(field);
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
                            let v = &rec[seg_start..q];
                            let field = match owned.take() {
                                Some(mut o) => {
                                    o.extend_from_slice(v);
                                    Cow::Owned(o)
                                }
                                None => Cow::Borrowed(v),
                            };
                            out.push(field);
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
    let mut rec: &[u8] = &reader.buf;
    if rec.starts_with(&[0xEF, 0xBB, 0xBF]) {
        rec = &rec[3..];
    }
    let mut fields = Vec::new();
    split_record(rec, delim, &mut fields);
    let header: Vec<String> = fields
        .iter()
        .map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::input(path, "the header row is not valid UTF-8"))?;
    Ok(dedupe_header(header))
}

/// Streams a CSV transactions file as canonical chunks.
pub struct CsvTxReader {
    name: String,
    records: RecordReader,
    header_len: usize,
    mapping: TxMapping,
    resolved: Vec<Resolved>,
    delim: u8,
    batch_rows: usize,
    builder: TxBuilder,
    done: bool,
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
        let mut records = RecordReader::new(input_stream);
        let delim = input.csv_delimiter;
        let header = read_header(&mut records, path, delim)?;
        if header.len() < 2 {
            return Err(Error::input(
                path,
                format!("the header row has {} column(s): is this a CSV file with `{}` separators?", header.len(), delim as char),
            ));
        }
        let mapping = mapping_for_header(input, &header);
        let resolved = mapping.resolve(&header).map_err(|e| Error::input(path, e))?;
        Ok(CsvTxReader {
            name,
            records,
            header_len: header.len(),
            mapping,
            resolved,
            delim,
            batch_rows: input.batch_rows,
            builder: TxBuilder::new(),
            done: false,
        })
    }

    /// The dialect in use.
    pub fn dialect(&self) -> &'static str {
        self.mapping.dialect
    }
}

impl TxReader for CsvTxReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut rejected = Vec::new();
        let mut rows_read = 0u64;
        while self.builder.len() < self.batch_rows && (rows_read as usize) < self.batch_rows * 2 {
            let more = self.records.next_record().map_err(|e| Error::io(&self.name, e))?;
            if !more {
                self.done = true;
                break;
            }
            rows_read += 1;
            let rec = &self.records.buf;
            let line = self.records.line;
            let ctx = RowCtx { file: &self.name, line, raw: rec };
            let mut fields = Vec::with_capacity(self.header_len);
            split_record(rec, self.delim, &mut fields);
            if fields.len() != self.header_len {
                rejected.push(Rejected::new(
                    &self.name,
                    line,
                    "record",
                    Reason::WrongColumnCount,
                    &format!("{} fields where the header has {}", fields.len(), self.header_len),
                    rec,
                ));
                continue;
            }
            let slots = slot_fields(&self.resolved, &fields, line);
            if let Err(r) = self.builder.push(&ctx, &slots, &self.mapping, state) {
                rejected.push(r);
            }
        }
        if rows_read == 0 {
            return Ok(None);
        }
        Ok(Some(Chunk { batch: self.builder.finish(), rejected, rows_read }))
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
    }
}
