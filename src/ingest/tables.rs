//! The side tables: `accounts` (KYC context) and `fx_rates` (USD per unit by day),
//! read whole (they are small next to the ledger) from CSV, NDJSON or Parquet.
//!
//! Owns: `AccountsTable` (an Arrow batch plus an id index), `FxTable` (rate lookup: the
//! latest date on or before the transaction's date) and the bundled default rates.
//! Bad rows are quarantined like transactions, never dropped silently.
//! Must not: touch transactions.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Builder, Decimal128Builder, RecordBatch, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::{Format, InputConfig};
use crate::error::{Error, Result};
use crate::ingest::csv::{RecordReader, open_maybe_gz, read_header, split_record};
use crate::ingest::{Reason, Rejected, format_of};
use crate::money::parse_decimal;
use crate::schema::{self, acct, fx};

/// The bundled default FX table (approximate yearly rates; supply `fx_rates` for real work).
pub const DEFAULT_FX_CSV: &str = include_str!("../../config/fx_default.csv");

/// A whole text table: header and rows (line number, raw text, fields).
struct TextTable {
    header: Vec<String>,
    rows: Vec<(u64, String, Vec<Option<String>>)>,
}

fn read_text_table(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<TextTable> {
    let name = path.display().to_string();
    match format_of(path, input.format)? {
        Format::Csv => read_csv_table(open_maybe_gz(path)?, path, input.csv_delimiter, rejected),
        Format::Jsonl => {
            let mut header: Vec<String> = Vec::new();
            let mut objs = Vec::new();
            let mut line = 0u64;
            let mut buf = Vec::new();
            let mut input = open_maybe_gz(path)?;
            loop {
                buf.clear();
                if input.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))? == 0 {
                    break;
                }
                line += 1;
                let rec = buf.trim_ascii();
                if rec.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(rec) {
                    Ok(o) => {
                        for k in o.keys() {
                            if !header.contains(k) {
                                header.push(k.clone());
                            }
                        }
                        objs.push((line, String::from_utf8_lossy(rec).to_string(), o));
                    }
                    Err(e) => rejected.push(Rejected::new(
                        &name,
                        line,
                        "record",
                        Reason::BadJson,
                        &format!("not a JSON object: {e}"),
                        rec,
                    )),
                }
            }
            let rows = objs
                .into_iter()
                .map(|(l, raw, o)| {
                    let f = header
                        .iter()
                        .map(|h| match o.get(h) {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(s)) => Some(s.clone()),
                            Some(v) => Some(v.to_string()),
                        })
                        .collect();
                    (l, raw, f)
                })
                .collect();
            Ok(TextTable { header, rows })
        }
        Format::Parquet => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
            let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
            let reader =
                builder.build().map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
            let mut rows = Vec::new();
            let mut line = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| Error::input(path, e.to_string()))?;
                let cols: Vec<ArrayRef> = batch
                    .columns()
                    .iter()
                    .map(|c| cast(c, &DataType::Utf8))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| Error::input(path, format!("a column cannot be read as text: {e}")))?;
                for i in 0..batch.num_rows() {
                    line += 1;
                    let f: Vec<Option<String>> = cols
                        .iter()
                        .map(|c| {
                            let s = c.as_string::<i32>();
                            (!arrow::array::Array::is_null(s, i)).then(|| s.value(i).to_string())
                        })
                        .collect();
                    let raw = f.iter().map(|v| v.clone().unwrap_or_default()).collect::<Vec<_>>().join(",");
                    rows.push((line, raw, f));
                }
            }
            Ok(TextTable { header, rows })
        }
        Format::Auto => Err(Error::Internal("format_of returned auto".into())),
    }
}

fn read_csv_table(
    stream: Box<dyn BufRead + Send>,
    path: &Path,
    delim: u8,
    rejected: &mut Vec<Rejected>,
) -> Result<TextTable> {
    let name = path.display().to_string();
    let mut rr = RecordReader::new(stream, delim);
    let header = read_header(&mut rr, path, delim)?;
    let mut rows = Vec::new();
    while rr.next_record().map_err(|e| Error::io(path, e))? {
        let rec = &rr.buf;
        let mut fields = Vec::new();
        split_record(rec, delim, &mut fields);
        if fields.len() != header.len() {
            rejected.push(Rejected::new(
                &name,
                rr.line,
                "record",
                Reason::WrongColumnCount,
                &format!("{} fields where the header has {}", fields.len(), header.len()),
                rec,
            ));
            continue;
        }
        let mut vals = Vec::with_capacity(fields.len());
        let mut bad = None;
        for (i, f) in fields.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => vals.push((!s.trim().is_empty()).then(|| s.trim().to_string())),
                Err(_) => {
                    bad = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad {
            rejected.push(Rejected::new(
                &name,
                rr.line,
                &header[i],
                Reason::InvalidUtf8,
                &format!("{} is not valid UTF-8", header[i]),
                rec,
            ));
            continue;
        }
        rows.push((rr.line, String::from_utf8_lossy(rec).to_string(), vals));
    }
    Ok(TextTable { header, rows })
}

fn parse_date(s: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()?;
    Some(d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// Account id -> row of the accounts batch.
pub type AccountIndex = HashMap<String, usize, foldhash::fast::RandomState>;

/// The accounts table: one Arrow batch in the canonical schema and an index by id.
#[derive(Debug, Clone)]
pub struct AccountsTable {
    pub batch: RecordBatch,
    /// Account id -> row (foldhash: looked up twice per transaction in the enrich stage).
    pub index: AccountIndex,
}

impl AccountsTable {
    /// Text field `column` of account `id` (None: unknown account, no such column, or null).
    pub fn field(&self, id: &str, column: &str) -> Option<String> {
        let row = *self.index.get(id)?;
        let c = self.batch.column_by_name(column)?.as_string_opt::<i32>()?;
        (!c.is_null(row)).then(|| c.value(row).to_string())
    }

    /// An empty table (no KYC context).
    pub fn empty() -> Self {
        AccountsTable { batch: RecordBatch::new_empty(schema::accounts_schema()), index: AccountIndex::default() }
    }

    /// Reads `path`; bad rows go to `rejected`.
    pub fn read(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<(Self, u64)> {
        let name = path.display().to_string();
        let t = read_text_table(path, input, rejected)?;
        let col = |n: &str| t.header.iter().position(|h| h == n);
        let Some(id_col) = col(acct::ACCOUNT_ID) else {
            return Err(Error::input(path, "the header has no column `account_id`"));
        };
        let schema = schema::accounts_schema();
        let text_cols: Vec<(usize, Option<usize>)> =
            schema.fields().iter().enumerate().map(|(i, f)| (i, col(f.name()))).collect();
        let mut strings: Vec<StringBuilder> = (0..schema.fields().len()).map(|_| StringBuilder::new()).collect();
        let mut opened = Date32Builder::new();
        let mut income = Decimal128Builder::new()
            .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::USD_SCALE)
            .expect("valid decimal");
        let mut index = AccountIndex::default();
        let rows_read = t.rows.len() as u64 + rejected.iter().filter(|r| r.file == name).count() as u64;
        for (line, raw, f) in &t.rows {
            let get = |c: Option<usize>| c.and_then(|c| f[c].as_deref());
            let rej =
                |field: &str, reason, what: String| Rejected::new(&name, *line, field, reason, &what, raw.as_bytes());
            let Some(id) = f[id_col].as_deref() else {
                rejected.push(rej(acct::ACCOUNT_ID, Reason::MissingField, "account_id is missing".into()));
                continue;
            };
            if index.contains_key(id) {
                rejected.push(rej(acct::ACCOUNT_ID, Reason::BadValue, format!("account_id `{id}` was seen before")));
                continue;
            }
            let date = match get(col(acct::OPENED_AT)) {
                None => None,
                Some(s) => match parse_date(s) {
                    Some(d) => Some(d),
                    None => {
                        rejected.push(rej(
                            acct::OPENED_AT,
                            Reason::BadValue,
                            format!("opened_at `{s}` is not a YYYY-MM-DD date"),
                        ));
                        continue;
                    }
                },
            };
            let inc = match get(col(acct::MONTHLY_INCOME_USD)) {
                None => None,
                Some(s) => match parse_decimal(s.as_bytes(), schema::USD_SCALE as u32) {
                    Ok(v) if v >= 0 => Some(v),
                    _ => {
                        rejected.push(rej(
                            acct::MONTHLY_INCOME_USD,
                            Reason::BadValue,
                            format!("monthly_income_usd `{s}` is not a non-negative decimal"),
                        ));
                        continue;
                    }
                },
            };
            index.insert(id.to_string(), index.len());
            opened.append_option(date);
            income.append_option(inc);
            for (i, c) in &text_cols {
                strings[*i].append_option(get(*c));
            }
        }
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| -> ArrayRef {
                match f.name().as_str() {
                    acct::OPENED_AT => Arc::new(opened.finish()),
                    acct::MONTHLY_INCOME_USD => Arc::new(income.finish()),
                    _ => Arc::new(strings[i].finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema, cols).map_err(|e| Error::arrow("building accounts", e))?;
        Ok((AccountsTable { batch, index }, rows_read))
    }
}

/// FX rates: USD per unit by currency and day.
#[derive(Debug, Clone, Default)]
pub struct FxTable {
    /// Per currency, (day since epoch, rate at scale 18), sorted by day.
    rates: HashMap<String, Vec<(i32, i128)>>,
}

impl FxTable {
    /// The bundled default table.
    pub fn bundled() -> Self {
        let mut rej = Vec::new();
        let t = read_csv_table(
            Box::new(std::io::Cursor::new(DEFAULT_FX_CSV.as_bytes())),
            Path::new("<bundled fx_rates>"),
            b',',
            &mut rej,
        )
        .expect("bundled fx table reads");
        let (table, _) = Self::from_text(t, "<bundled fx_rates>", &mut rej);
        debug_assert!(rej.is_empty(), "bundled fx table is valid: {rej:?}");
        table
    }

    /// Reads `path` over the bundled defaults (the file's rates win on the same day);
    /// bad rows go to `rejected`. Returns the table and rows read.
    pub fn read(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<(Self, u64)> {
        let name = path.display().to_string();
        let before = rejected.len();
        let t = read_text_table(path, input, rejected)?;
        for c in [fx::DATE, fx::CURRENCY, fx::USD_PER_UNIT] {
            if !t.header.iter().any(|h| h == c) {
                return Err(Error::input(path, format!("the header has no column `{c}`")));
            }
        }
        let n = t.rows.len() as u64 + (rejected.len() - before) as u64;
        let (file, _) = Self::from_text(t, &name, rejected);
        let mut merged = Self::bundled();
        for (cur, rates) in file.rates {
            let e = merged.rates.entry(cur).or_default();
            e.retain(|(d, _)| !rates.iter().any(|(fd, _)| fd == d));
            e.extend(rates);
            e.sort_unstable();
        }
        Ok((merged, n))
    }

    fn from_text(t: TextTable, name: &str, rejected: &mut Vec<Rejected>) -> (Self, u64) {
        let col = |n: &str| t.header.iter().position(|h| h == n).expect("checked");
        let (dc, cc, rc) = (col(fx::DATE), col(fx::CURRENCY), col(fx::USD_PER_UNIT));
        let mut rates: HashMap<String, Vec<(i32, i128)>> = HashMap::new();
        for (line, raw, f) in &t.rows {
            let rej =
                |field: &str, what: String| Rejected::new(name, *line, field, Reason::BadValue, &what, raw.as_bytes());
            let Some(day) = f[dc].as_deref().and_then(parse_date) else {
                rejected.push(rej(
                    fx::DATE,
                    format!("date `{}` is not a YYYY-MM-DD date", f[dc].clone().unwrap_or_default()),
                ));
                continue;
            };
            let Some(cur) = f[cc].as_deref() else {
                rejected.push(rej(fx::CURRENCY, "currency is missing".into()));
                continue;
            };
            let rate = match f[rc].as_deref().map(|s| parse_decimal(s.as_bytes(), schema::AMOUNT_SCALE as u32)) {
                Some(Ok(v)) if v > 0 => v,
                _ => {
                    rejected.push(rej(
                        fx::USD_PER_UNIT,
                        format!("usd_per_unit `{}` is not a positive decimal", f[rc].clone().unwrap_or_default()),
                    ));
                    continue;
                }
            };
            rates.entry(cur.to_ascii_uppercase()).or_default().push((day, rate));
        }
        for v in rates.values_mut() {
            v.sort_unstable();
            v.dedup_by_key(|(d, _)| *d);
        }
        let n = t.rows.len() as u64;
        (FxTable { rates }, n)
    }

    /// USD per unit of `currency` on `day` (days since 1970-01-01): the latest rate on or
    /// before that day; before the first known date, the first rate. `None` if the
    /// currency is unknown.
    pub fn rate(&self, currency: &str, day: i32) -> Option<i128> {
        let v = self.rates.get(currency)?;
        let i = v.partition_point(|(d, _)| *d <= day);
        Some(if i == 0 { v[0].1 } else { v[i - 1].1 })
    }

    /// The table as an Arrow batch in the canonical schema (for SQL rules).
    pub fn to_batch(&self) -> RecordBatch {
        let mut keys: Vec<&String> = self.rates.keys().collect();
        keys.sort();
        let mut d = Date32Builder::new();
        let mut c = StringBuilder::new();
        let mut r = Decimal128Builder::new()
            .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::AMOUNT_SCALE)
            .expect("valid decimal");
        for k in keys {
            for (day, rate) in &self.rates[k] {
                d.append_value(*day);
                c.append_value(k);
                r.append_value(*rate);
            }
        }
        RecordBatch::try_new(
            schema::fx_rates_schema(),
            vec![Arc::new(d.finish()), Arc::new(c.finish()), Arc::new(r.finish())],
        )
        .expect("fx columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_rates_cover_the_mirror_currencies() {
        let fx = FxTable::bundled();
        let day = parse_date("2026-03-01").unwrap();
        for c in ["USD", "MXN", "CNY", "USDT", "BTC", "ETH"] {
            assert!(fx.rate(c, day).is_some(), "{c}");
        }
        assert_eq!(fx.rate("USD", day), Some(crate::schema::AMOUNT_ONE));
        assert_eq!(fx.rate("XYZ", day), None);
    }
}
