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

use arrow::array::{ArrayRef, AsArray, Date32Builder, Decimal128Builder, RecordBatch, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::{Format, InputConfig};
use crate::csv::{RecordReader, open_maybe_gz, read_header, split_record};
use crate::{LineRead, Reason, Rejected, append_line_bounded, format_of, strip_bom};
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::money::parse_decimal;
use mirrorflow_core::schema::{self, acct, fx};

pub use mirrorflow_core::tables::{
    AccountIndex, AccountsTable, DEFAULT_FX_CSV, FxRowError, FxTable, parse_date, parse_fx_row,
};

/// A whole text table, cut down to the columns the table uses: `header` is those of the
/// wanted columns the file has, and each row holds (line number, raw text cut to
/// [`SIDE_RAW_BYTES`], the values of `header`'s columns). Other columns (and, for
/// NDJSON, other keys) are never kept, so memory grows with rows, not rows x keys.
struct TextTable {
    header: Vec<String>,
    rows: Vec<(u64, String, Vec<Option<String>>)>,
}

/// Raw text kept per side-table row, for its quarantine record if it is refused later.
pub const SIDE_RAW_BYTES: usize = 1024;

fn side_raw(rec: &[u8]) -> String {
    if rec.len() <= SIDE_RAW_BYTES {
        String::from_utf8_lossy(rec).into_owned()
    } else {
        format!("{}...[{} bytes in all]", String::from_utf8_lossy(&rec[..SIDE_RAW_BYTES]), rec.len())
    }
}

/// The refusal of a side-table row holding a NUL (no store accepts it), if it does.
fn nul_in(name: &str, line: u64, header: &[String], vals: &[Option<String>], raw: &[u8]) -> Option<Rejected> {
    let i = vals.iter().position(|v| v.as_deref().is_some_and(|v| v.contains('\0')))?;
    Some(Rejected::new(
        name,
        line,
        &header[i],
        Reason::InvalidText,
        &format!("{} holds a NUL character", header[i]),
        &raw[..raw.len().min(SIDE_RAW_BYTES)],
    ))
}

fn read_text_table(
    path: &Path,
    input: &InputConfig,
    wanted: &[&str],
    rejected: &mut Vec<Rejected>,
) -> Result<TextTable> {
    let name = path.display().to_string();
    match format_of(path, input.format)? {
        Format::Csv => {
            read_csv_table(open_maybe_gz(path)?, path, input.csv_delimiter, input.max_record_bytes, wanted, rejected)
        }
        Format::Jsonl => {
            // Values of every wanted key, whether or not the file has it yet.
            let mut seen = vec![false; wanted.len()];
            let mut rows = Vec::new();
            let mut line = 0u64;
            let mut buf = Vec::new();
            let mut input_stream = open_maybe_gz(path)?;
            loop {
                buf.clear();
                let read = append_line_bounded(&mut input_stream, &mut buf, input.max_record_bytes)
                    .map_err(|e| Error::io(path, e))?;
                line += 1;
                match read {
                    LineRead::End => break,
                    LineRead::TooLong { bytes } => {
                        rejected.push(Rejected::too_long(&name, line, input.max_record_bytes, bytes, &buf));
                        continue;
                    }
                    LineRead::Line => {}
                }
                let mut rec = buf.trim_ascii();
                if line == 1 {
                    rec = strip_bom(rec).trim_ascii();
                }
                if rec.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(rec) {
                    Ok(mut o) => {
                        let vals: Vec<Option<String>> = wanted
                            .iter()
                            .zip(seen.iter_mut())
                            .map(|(k, seen)| {
                                let v = o.remove(*k);
                                *seen |= v.is_some();
                                match v {
                                    None | Some(serde_json::Value::Null) => None,
                                    Some(serde_json::Value::String(s)) => Some(s),
                                    Some(v) => Some(v.to_string()),
                                }
                            })
                            .collect();
                        let header: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
                        if let Some(r) = nul_in(&name, line, &header, &vals, rec) {
                            rejected.push(r);
                            continue;
                        }
                        rows.push((line, side_raw(rec), vals));
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
            // Only the keys some row had make the header (a table without `account_id`
            // at all is refused by the caller, as for CSV).
            let keep: Vec<usize> = (0..wanted.len()).filter(|&i| seen[i]).collect();
            let header = keep.iter().map(|&i| wanted[i].to_string()).collect();
            let rows = rows
                .into_iter()
                .map(|(l, raw, mut vals)| (l, raw, keep.iter().map(|&i| vals[i].take()).collect()))
                .collect();
            Ok(TextTable { header, rows })
        }
        Format::Parquet => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
            let all: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
            let keep: Vec<usize> = (0..all.len()).filter(|&i| wanted.contains(&all[i].as_str())).collect();
            let header: Vec<String> = keep.iter().map(|&i| all[i].clone()).collect();
            let reader =
                builder.build().map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
            let mut rows = Vec::new();
            let mut line = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| Error::input(path, e.to_string()))?;
                let cols: Vec<ArrayRef> = keep
                    .iter()
                    .map(|&c| cast(batch.column(c), &DataType::Utf8))
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
                    if let Some(r) = nul_in(&name, line, &header, &f, raw.as_bytes()) {
                        rejected.push(r);
                        continue;
                    }
                    rows.push((line, side_raw(raw.as_bytes()), f));
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
    max_record: usize,
    wanted: &[&str],
    rejected: &mut Vec<Rejected>,
) -> Result<TextTable> {
    let name = path.display().to_string();
    let mut rr = RecordReader::new(stream, delim, max_record);
    let all = read_header(&mut rr, path, delim)?;
    let keep: Vec<usize> = (0..all.len()).filter(|&i| wanted.contains(&all[i].as_str())).collect();
    let header: Vec<String> = keep.iter().map(|&i| all[i].clone()).collect();
    let mut rows = Vec::new();
    while rr.next_record().map_err(|e| Error::io(path, e))? {
        let rec = &rr.buf;
        let mut fields = Vec::with_capacity(all.len());
        if let Some(bytes) = rr.too_long {
            rejected.push(Rejected::too_long(&name, rr.line, max_record, bytes, rec));
            continue;
        }
        split_record(rec, delim, &mut fields);
        if fields.len() != all.len() {
            rejected.push(Rejected::new(
                &name,
                rr.line,
                "record",
                Reason::WrongColumnCount,
                &format!("{} fields where the header has {}", fields.len(), all.len()),
                rec,
            ));
            continue;
        }
        if let Some(i) = fields.iter().position(|f| std::str::from_utf8(f).is_err()) {
            rejected.push(Rejected::new(
                &name,
                rr.line,
                &all[i],
                Reason::InvalidUtf8,
                &format!("{} is not valid UTF-8", all[i]),
                rec,
            ));
            continue;
        }
        let vals: Vec<Option<String>> = keep
            .iter()
            .map(|&i| {
                let s = std::str::from_utf8(&fields[i]).expect("checked above").trim();
                (!s.is_empty()).then(|| s.to_string())
            })
            .collect();
        if let Some(r) = nul_in(&name, rr.line, &header, &vals, rec) {
            rejected.push(r);
            continue;
        }
        rows.push((rr.line, side_raw(rec), vals));
    }
    Ok(TextTable { header, rows })
}

/// Reads the accounts table at `path`; bad rows go to `rejected`. Returns the table and
/// rows read.
pub fn read_accounts(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<(AccountsTable, u64)> {
    let name = path.display().to_string();
    let schema = schema::accounts_schema();
    let wanted: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let t = read_text_table(path, input, &wanted, rejected)?;
    if !t.header.iter().any(|h| h == acct::ACCOUNT_ID) {
        return Err(Error::input(path, "the header has no column `account_id`"));
    }
    let rows_read = t.rows.len() as u64 + rejected.iter().filter(|r| r.file == name).count() as u64;
    Ok((accounts_from_text(&name, t, rejected)?, rows_read))
}

/// The accounts of a text table that has an `account_id` column.
fn accounts_from_text(name: &str, t: TextTable, rejected: &mut Vec<Rejected>) -> Result<AccountsTable> {
    let schema = schema::accounts_schema();
    let col = |n: &str| t.header.iter().position(|h| h == n);
    let id_col = col(acct::ACCOUNT_ID).expect("checked by the caller");
    let text_cols: Vec<(usize, Option<usize>)> =
        schema.fields().iter().enumerate().map(|(i, f)| (i, col(f.name()))).collect();
    let mut strings: Vec<StringBuilder> = (0..schema.fields().len()).map(|_| StringBuilder::new()).collect();
    let mut opened = Date32Builder::new();
    let mut income = Decimal128Builder::new()
        .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::USD_SCALE)
        .expect("valid decimal");
    let mut index = AccountIndex::default();
    for (line, raw, f) in &t.rows {
        let get = |c: Option<usize>| c.and_then(|c| f[c].as_deref());
        let rej = |field: &str, reason, what: String| Rejected::new(name, *line, field, reason, &what, raw.as_bytes());
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
    Ok(AccountsTable { batch, index })
}

/// One accounts table from several read in order (a directory's files, oldest first):
/// an account in a later table replaces its row from an earlier one, and keeps its place.
pub fn merge_accounts(tables: Vec<AccountsTable>) -> Result<AccountsTable> {
    if tables.len() == 1 {
        return Ok(tables.into_iter().next().expect("one"));
    }
    let mut index = AccountIndex::default();
    let mut picks: Vec<(usize, usize)> = Vec::new();
    for (t, table) in tables.iter().enumerate() {
        let mut rows: Vec<(&String, &usize)> = table.index.iter().collect();
        rows.sort_by_key(|(_, r)| **r);
        for (id, &row) in rows {
            match index.get(id) {
                Some(&at) => picks[at] = (t, row),
                None => {
                    index.insert(id.clone(), picks.len());
                    picks.push((t, row));
                }
            }
        }
    }
    let schema = schema::accounts_schema();
    let cols = (0..schema.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn arrow::array::Array> = tables.iter().map(|t| t.batch.column(c).as_ref()).collect();
            arrow::compute::interleave(&arrays, &picks)
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(|e| Error::arrow("merging accounts", e))?;
    let batch = RecordBatch::try_new(schema, cols).map_err(|e| Error::arrow("merging accounts", e))?;
    Ok(AccountsTable { batch, index })
}

/// The accounts carried by JSON objects (the latest value of each key of a compacted
/// topic: `(offset, text)`), in the data contract's fields; a value that is not a JSON
/// object, or a bad field, is refused with `name` and the offset as its provenance.
pub fn accounts_from_json(
    name: &str,
    records: &[(u64, String)],
    rejected: &mut Vec<Rejected>,
) -> Result<AccountsTable> {
    let schema = schema::accounts_schema();
    let wanted: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let t = text_table_from_json(name, records, &wanted, rejected);
    accounts_from_text(name, t, rejected)
}

/// The FX rates carried by JSON objects (as [`accounts_from_json`]), without the bundled
/// rates under them.
pub fn fx_from_json(name: &str, records: &[(u64, String)], rejected: &mut Vec<Rejected>) -> FxTable {
    let t = text_table_from_json(name, records, &[fx::DATE, fx::CURRENCY, fx::USD_PER_UNIT], rejected);
    fx_from_text(t, name, rejected).0
}

fn text_table_from_json(
    name: &str,
    records: &[(u64, String)],
    wanted: &[&str],
    rejected: &mut Vec<Rejected>,
) -> TextTable {
    let header: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
    let mut rows = Vec::with_capacity(records.len());
    for (offset, text) in records {
        let obj = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(o)) => o,
            _ => {
                rejected.push(Rejected::new(
                    name,
                    *offset,
                    "record",
                    Reason::BadJson,
                    "the message is not a JSON object",
                    text.as_bytes(),
                ));
                continue;
            }
        };
        let vals: Vec<Option<String>> = wanted
            .iter()
            .map(|w| match obj.get(*w) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
                Some(v) => Some(v.to_string()),
            })
            .collect();
        if let Some(r) = nul_in(name, *offset, &header, &vals, text.as_bytes()) {
            rejected.push(r);
            continue;
        }
        rows.push((*offset, side_raw(text.as_bytes()), vals));
    }
    TextTable { header, rows }
}

/// Reads `path` over the bundled defaults (the file's rates win on the same day);
/// bad rows go to `rejected`. Returns the table and rows read.
pub fn read_fx(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<(FxTable, u64)> {
    let (file, n) = read_fx_file(path, input, rejected)?;
    let mut merged = FxTable::bundled();
    merged.overlay(file);
    Ok((merged, n))
}

/// The rates of one FX file alone (no bundled rates under them), for overlaying several
/// files in order; bad rows go to `rejected`. Returns the table and rows read.
pub fn read_fx_file(path: &Path, input: &InputConfig, rejected: &mut Vec<Rejected>) -> Result<(FxTable, u64)> {
    let name = path.display().to_string();
    let before = rejected.len();
    let t = read_text_table(path, input, &[fx::DATE, fx::CURRENCY, fx::USD_PER_UNIT], rejected)?;
    for c in [fx::DATE, fx::CURRENCY, fx::USD_PER_UNIT] {
        if !t.header.iter().any(|h| h == c) {
            return Err(Error::input(path, format!("the header has no column `{c}`")));
        }
    }
    let n = t.rows.len() as u64 + (rejected.len() - before) as u64;
    Ok((fx_from_text(t, &name, rejected).0, n))
}

fn fx_from_text(t: TextTable, name: &str, rejected: &mut Vec<Rejected>) -> (FxTable, u64) {
    let col = |n: &str| t.header.iter().position(|h| h == n).expect("checked");
    let (dc, cc, rc) = (col(fx::DATE), col(fx::CURRENCY), col(fx::USD_PER_UNIT));
    let mut rates: HashMap<String, Vec<(i32, i128)>> = HashMap::new();
    for (line, raw, f) in &t.rows {
        let rej =
            |field: &str, what: String| Rejected::new(name, *line, field, Reason::BadValue, &what, raw.as_bytes());
        match parse_fx_row(f[dc].as_deref(), f[cc].as_deref(), f[rc].as_deref()) {
            Ok((cur, day, rate)) => rates.entry(cur).or_default().push((day, rate)),
            Err(FxRowError::Date) => rejected
                .push(rej(fx::DATE, format!("date `{}` is not a YYYY-MM-DD date", f[dc].clone().unwrap_or_default()))),
            Err(FxRowError::Currency) => rejected.push(rej(fx::CURRENCY, "currency is missing".into())),
            Err(FxRowError::Rate) => rejected.push(rej(
                fx::USD_PER_UNIT,
                format!("usd_per_unit `{}` is not a positive decimal", f[rc].clone().unwrap_or_default()),
            )),
        }
    }
    let n = t.rows.len() as u64;
    (FxTable::from_rates(rates), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fx_file_over_the_bundled_rates_refuses_each_bad_row_naming_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fx_rates.csv");
        std::fs::write(
            &path,
            "date,currency,usd_per_unit\n2026-03-01,mxn,0.05\n2026-13-01,MXN,0.05\n2026-03-02,,0.05\n2026-03-03,MXN,-1\n",
        )
        .unwrap();
        let mut rejected = Vec::new();
        let (fx, read) = read_fx(&path, &crate::config::default_input(), &mut rejected).unwrap();
        assert_eq!(read, 4);
        let got: Vec<(u64, &str)> = rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(got, [(3, fx::DATE), (4, fx::CURRENCY), (5, fx::USD_PER_UNIT)]);
        assert!(rejected[0].message.contains("is not a YYYY-MM-DD date"), "{}", rejected[0].message);
        assert!(rejected[2].message.contains("is not a positive decimal"), "{}", rejected[2].message);
        let day = parse_date("2026-03-01").unwrap();
        assert_eq!(fx.rate("MXN", day), Some(5 * 10i128.pow(16)), "the file's rate, upper-cased, wins on its day");
        assert_eq!(fx.rate("CNY", day), FxTable::bundled().rate("CNY", day), "the bundled rates stay under it");
    }
}
