//! Writers for the generated transactions (`transactions.csv` or `transactions.parquet`)
//! and labels (`labels.csv`).
//!
//! Owns: the byte layout of those files: the contract's 9 transaction columns in order,
//! RFC 3339 UTC timestamps with `Z`, exact decimal amounts (the same text as
//! `money::format_decimal`), RFC 4180 quoting of memos; for Parquet the contract's Arrow
//! types, Snappy, row groups of 131,072 rows, written in batches so the whole ledger is
//! never in memory.
//! Must not: decide what is written (the generator does), or reorder rows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::{self, AMOUNT_ONE, DECIMAL_PRECISION, tx as col};

/// The contract's transaction columns, in file order.
pub(crate) const TX_COLUMNS: [&str; 9] = [
    col::TX_ID,
    col::TS,
    col::SRC_ACCOUNT,
    col::DST_ACCOUNT,
    col::AMOUNT,
    col::CURRENCY,
    col::CHANNEL,
    col::LOCATION,
    col::MEMO,
];

/// Rows per Parquet row group.
pub(crate) const ROW_GROUP_ROWS: usize = 131_072;
/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 16_384;

/// One transaction as written.
pub(crate) struct Row<'a> {
    pub tx_id: &'a str,
    /// Seconds since the epoch, UTC.
    pub ts: i64,
    pub src: &'a str,
    pub dst: &'a str,
    /// Scale 18.
    pub amount: i128,
    pub currency: &'a str,
    pub channel: &'a str,
    pub location: &'a str,
    pub memo: &'a str,
    /// In a labelled scheme (the outside layouts' label columns).
    pub laundering: bool,
    /// AMLSim `alert_id`: the first scheme's number, or `-1`.
    pub alert_id: &'a str,
}

/// Where transactions go.
pub(crate) trait TxSink {
    fn write(&mut self, row: &Row) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Appends `v` (scale 18, >= 0) as plain decimal text: the same text as
/// `format_decimal(v, 18)`, without allocating.
pub(crate) fn push_amount(out: &mut Vec<u8>, v: i128) {
    if v < 0 || v / AMOUNT_ONE > u64::MAX as i128 {
        out.extend_from_slice(format_decimal(v, 18).as_bytes());
        return;
    }
    push_u64(out, (v / AMOUNT_ONE) as u64);
    let mut frac = (v % AMOUNT_ONE) as u64;
    if frac != 0 {
        let mut width = 18;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        out.push(b'.');
        let mut digits = [b'0'; 18];
        for i in (0..width).rev() {
            digits[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&digits[..width]);
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_2(out: &mut Vec<u8>, n: i64) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Appends a CSV field, quoted when it holds a comma, quote or line break.
pub(crate) fn push_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// `transactions.csv`.
pub(crate) struct CsvSink {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    /// Day number and `YYYY-MM-DDT` of the last row, so dates are formatted once a day.
    day: i64,
    prefix: [u8; 11],
}

impl CsvSink {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{}", TX_COLUMNS.join(",")).map_err(|e| Error::io(path, e))?;
        Ok(CsvSink { path: path.to_path_buf(), out, line: Vec::with_capacity(256), day: i64::MIN, prefix: [0; 11] })
    }
}

impl TxSink for CsvSink {
    fn write(&mut self, r: &Row) -> Result<()> {
        let day = r.ts.div_euclid(86_400);
        if day != self.day {
            self.day = day;
            let date =
                chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default().format("%Y-%m-%dT").to_string();
            self.prefix.copy_from_slice(&date.as_bytes()[..11]);
        }
        let l = &mut self.line;
        l.clear();
        l.extend_from_slice(r.tx_id.as_bytes());
        l.push(b',');
        l.extend_from_slice(&self.prefix);
        let s = r.ts.rem_euclid(86_400);
        push_2(l, s / 3600);
        l.push(b':');
        push_2(l, s / 60 % 60);
        l.push(b':');
        push_2(l, s % 60);
        l.extend_from_slice(b"Z,");
        l.extend_from_slice(r.src.as_bytes());
        l.push(b',');
        l.extend_from_slice(r.dst.as_bytes());
        l.push(b',');
        push_amount(l, r.amount);
        l.push(b',');
        l.extend_from_slice(r.currency.as_bytes());
        l.push(b',');
        l.extend_from_slice(r.channel.as_bytes());
        l.push(b',');
        l.extend_from_slice(r.location.as_bytes());
        l.push(b',');
        push_field(l, r.memo);
        l.push(b'\n');
        self.out.write_all(l).map_err(|e| Error::io(&self.path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// The 9 contract columns of `schema::transactions_schema()`.
pub(crate) fn parquet_schema() -> SchemaRef {
    let full = schema::transactions_schema();
    let fields: Vec<_> = TX_COLUMNS
        .iter()
        .map(|name| full.field_with_name(name).expect("contract column in the canonical schema").clone())
        .collect();
    Arc::new(Schema::new(fields))
}

/// `transactions.parquet`.
pub(crate) struct ParquetSink {
    path: PathBuf,
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    rows: usize,
    tx_id: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    src: StringBuilder,
    dst: StringBuilder,
    amount: Decimal128Builder,
    currency: StringBuilder,
    channel: StringBuilder,
    location: StringBuilder,
    memo: StringBuilder,
}

fn opt(b: &mut StringBuilder, s: &str) {
    if s.is_empty() {
        b.append_null();
    } else {
        b.append_value(s);
    }
}

impl ParquetSink {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let schema = parquet_schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::Parquet { path: path.to_path_buf(), source: e })?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            writer,
            schema,
            rows: 0,
            tx_id: StringBuilder::new(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            src: StringBuilder::new(),
            dst: StringBuilder::new(),
            amount: Decimal128Builder::new(),
            currency: StringBuilder::new(),
            channel: StringBuilder::new(),
            location: StringBuilder::new(),
            memo: StringBuilder::new(),
        })
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let amount = self
            .amount
            .finish()
            .with_precision_and_scale(DECIMAL_PRECISION, schema::AMOUNT_SCALE)
            .map_err(|e| Error::arrow("building the amount column", e))?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.tx_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(amount),
            Arc::new(self.currency.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.location.finish()),
            Arc::new(self.memo.finish()),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::arrow("building a transactions batch", e))?;
        self.writer.write(&batch).map_err(|e| Error::Parquet { path: self.path.clone(), source: e })?;
        self.rows = 0;
        Ok(())
    }
}

impl TxSink for ParquetSink {
    fn write(&mut self, r: &Row) -> Result<()> {
        self.tx_id.append_value(r.tx_id);
        self.ts.append_value(r.ts * 1_000_000);
        opt(&mut self.src, r.src);
        opt(&mut self.dst, r.dst);
        self.amount.append_value(r.amount);
        self.currency.append_value(r.currency);
        opt(&mut self.channel, r.channel);
        opt(&mut self.location, r.location);
        opt(&mut self.memo, r.memo);
        self.rows += 1;
        if self.rows == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush_batch()?;
        let path = self.path.clone();
        self.writer.close().map_err(|e| Error::Parquet { path, source: e })?;
        Ok(())
    }
}

/// AMLworld's name of a currency (`US Dollar`, `Yuan`, ...); codes it has no name for are
/// written as they are (the AMLworld reader keeps unknown values, upper-cased).
pub(crate) fn amlworld_currency(code: &str) -> &str {
    match code {
        "USD" => "US Dollar",
        "CNY" => "Yuan",
        "MXN" => "Mexican Peso",
        "BTC" => "Bitcoin",
        "EUR" => "Euro",
        "GBP" => "UK Pound",
        "JPY" => "Yen",
        "CAD" => "Canadian Dollar",
        "AUD" => "Australian Dollar",
        "CHF" => "Swiss Franc",
        "INR" => "Rupee",
        "BRL" => "Brazil Real",
        other => other,
    }
}

/// AMLworld's `Payment Format` for a contract channel (it has no P2P: those go as ACH).
pub(crate) fn amlworld_format(channel: &str) -> &'static str {
    match channel {
        "wire" => "Wire",
        "check" => "Cheque",
        "card" => "Credit Card",
        "cash_deposit" | "cash_withdrawal" => "Cash",
        "crypto" => "Bitcoin",
        "internal" => "Reinvestment",
        _ => "ACH",
    }
}

/// AMLSim's `tx_type` for a contract channel.
pub(crate) fn amlsim_type(channel: &str) -> &'static str {
    match channel {
        "cash_deposit" => "CASH-IN",
        "cash_withdrawal" => "CASH-OUT",
        "check" => "CHECK",
        "card" => "CREDIT",
        "ach" => "PAYMENT",
        "wire" => "WIRE",
        _ => "TRANSFER",
    }
}

/// `transactions.csv` in IBM AMLworld's layout (`Timestamp,From Bank,Account,To Bank,
/// Account,Amount Received,Receiving Currency,Amount Paid,Payment Currency,Payment
/// Format,Is Laundering`). Accounts arrive as `bank/account`; cash, which AMLworld has no
/// outside party for, is written from and to the account itself with format `Cash`.
/// Timestamps keep the minute (AMLworld's `YYYY/MM/DD HH:MM`).
pub(crate) struct AmlWorldSink {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
}

pub(crate) const AMLWORLD_HEADER: &str = "Timestamp,From Bank,Account,To Bank,Account,Amount Received,\
Receiving Currency,Amount Paid,Payment Currency,Payment Format,Is Laundering";

impl AmlWorldSink {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{AMLWORLD_HEADER}").map_err(|e| Error::io(path, e))?;
        Ok(AmlWorldSink { path: path.to_path_buf(), out, line: Vec::with_capacity(160) })
    }
}

impl TxSink for AmlWorldSink {
    fn write(&mut self, r: &Row) -> Result<()> {
        let (from, to) = match (r.src.is_empty(), r.dst.is_empty()) {
            (true, _) => (r.dst, r.dst),
            (_, true) => (r.src, r.src),
            _ => (r.src, r.dst),
        };
        let split = |a: &str| -> (String, String) {
            match a.split_once('/') {
                Some((b, x)) => (b.to_string(), x.to_string()),
                None => (String::new(), a.to_string()),
            }
        };
        let ((fb, fa), (tb, ta)) = (split(from), split(to));
        let t = chrono::DateTime::from_timestamp(r.ts, 0).unwrap_or_default().format("%Y/%m/%d %H:%M").to_string();
        let cur = amlworld_currency(r.currency);
        let l = &mut self.line;
        l.clear();
        for f in [t.as_str(), &fb, &fa, &tb, &ta] {
            push_field(l, f);
            l.push(b',');
        }
        push_amount(l, r.amount);
        l.push(b',');
        push_field(l, cur);
        l.push(b',');
        push_amount(l, r.amount);
        l.push(b',');
        push_field(l, cur);
        l.push(b',');
        l.extend_from_slice(amlworld_format(r.channel).as_bytes());
        l.extend_from_slice(if r.laundering { b",1\n" } else { b",0\n" });
        self.out.write_all(l).map_err(|e| Error::io(&self.path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// The columns of AMLSim's `transactions.csv`.
pub(crate) const AMLSIM_TX_HEADER: [&str; 8] =
    ["tran_id", "orig_acct", "bene_acct", "tx_type", "base_amt", "tran_timestamp", "is_sar", "alert_id"];

/// `transactions.csv` in IBM AMLSim's layout. AMLSim has one currency: amounts arrive
/// already converted; a cash deposit has no `orig_acct`, a withdrawal no `bene_acct`.
pub(crate) struct AmlSimSink {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
}

impl AmlSimSink {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{}", AMLSIM_TX_HEADER.join(",")).map_err(|e| Error::io(path, e))?;
        Ok(AmlSimSink { path: path.to_path_buf(), out, line: Vec::with_capacity(128) })
    }
}

/// RFC 3339 UTC with `Z`, seconds kept.
pub(crate) fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl TxSink for AmlSimSink {
    fn write(&mut self, r: &Row) -> Result<()> {
        let l = &mut self.line;
        l.clear();
        for f in [r.tx_id, r.src, r.dst, amlsim_type(r.channel)] {
            push_field(l, f);
            l.push(b',');
        }
        push_amount(l, r.amount);
        l.push(b',');
        l.extend_from_slice(rfc3339(r.ts).as_bytes());
        l.extend_from_slice(if r.laundering { b",True," } else { b",False," });
        l.extend_from_slice(r.alert_id.as_bytes());
        l.push(b'\n');
        self.out.write_all(l).map_err(|e| Error::io(&self.path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// A small CSV file written row by row (`labels.csv`, `schemes.csv`, ...).
pub(crate) struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
}

impl CsvFile {
    pub(crate) fn create(path: &Path, header: &[&str]) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut f =
            CsvFile { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 16, file), line: Vec::new() };
        f.row(header)?;
        Ok(f)
    }

    pub(crate) fn row(&mut self, fields: &[&str]) -> Result<()> {
        self.line.clear();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            push_field(&mut self.line, f);
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorflow_core::money::parse_decimal;

    #[test]
    fn amounts_print_like_format_decimal() {
        let mut r = super::super::rng::Rng::new(3);
        let mut cases: Vec<i128> =
            vec![0, 1, AMOUNT_ONE, AMOUNT_ONE / 2, 950_000 * AMOUNT_ONE / 100, 123_456_789_012_345_678];
        for _ in 0..2_000 {
            let v = (r.next_u64() as i128) * (r.below(1_000_000) as i128 + 1);
            cases.push(v);
            cases.push(v / 10i128.pow(r.below(18) as u32) * 10i128.pow(r.below(12) as u32));
        }
        for v in cases {
            let mut out = Vec::new();
            push_amount(&mut out, v);
            let s = String::from_utf8(out).unwrap();
            assert_eq!(s, format_decimal(v, 18), "value {v}");
            assert_eq!(parse_decimal(s.as_bytes(), 18), Ok(v));
        }
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        push_field(&mut out, "tuition fall 2026, student no. 3");
        push_field(&mut out, "say \"hi\"");
        push_field(&mut out, "plain");
        assert_eq!(String::from_utf8(out).unwrap(), "\"tuition fall 2026, student no. 3\"\"say \"\"hi\"\"\"plain");
    }
}
