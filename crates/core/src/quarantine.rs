//! Rejected records: why each was refused, as the `quarantine.jsonl` contract says.
//!
//! Owns: `Reason` (the closed set of rejection causes, also the summary's keys) and
//! `Rejected` (one record with file, line, field, reason and the raw text), and
//! `render_row` (a row already in Arrow as the raw text of its record).
//! Must not: write anything (the product's `QuarantineSink` does) or decide validity.

use serde::Serialize;

/// Why a record was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The timestamp is missing or not a time we can read.
    BadTimestamp,
    /// The amount is not an exact decimal.
    BadAmount,
    /// The amount is zero or negative.
    NonPositiveAmount,
    /// A required field is missing or empty.
    MissingField,
    /// The tx_id was seen before in this ledger (the first one is kept).
    DuplicateTxId,
    /// The line has a different number of fields than the header.
    WrongColumnCount,
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// The line is not a JSON object.
    BadJson,
    /// A field has a value of the wrong type or form (e.g. a date or label).
    BadValue,
    /// The record arrived later than the allowed lateness behind the watermark.
    LateEvent,
    /// The record is longer than `input.max-record-bytes` (skipped without being held).
    RecordTooLong,
    /// A text field holds a control character that no store accepts (NUL).
    InvalidText,
    /// The timestamp is further ahead of the watermark (or, live, the clock) than allowed.
    FutureTimestamp,
    /// The amount's USD value at the day's rate is beyond what the detectors can sum.
    UsdOutOfRange,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 14] = [
        Reason::BadTimestamp,
        Reason::BadAmount,
        Reason::NonPositiveAmount,
        Reason::MissingField,
        Reason::DuplicateTxId,
        Reason::WrongColumnCount,
        Reason::InvalidUtf8,
        Reason::BadJson,
        Reason::BadValue,
        Reason::LateEvent,
        Reason::RecordTooLong,
        Reason::InvalidText,
        Reason::FutureTimestamp,
        Reason::UsdOutOfRange,
    ];

    /// The snake_case name used in files and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadTimestamp => "bad_timestamp",
            Reason::BadAmount => "bad_amount",
            Reason::NonPositiveAmount => "non_positive_amount",
            Reason::MissingField => "missing_field",
            Reason::DuplicateTxId => "duplicate_tx_id",
            Reason::WrongColumnCount => "wrong_column_count",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::BadJson => "bad_json",
            Reason::BadValue => "bad_value",
            Reason::LateEvent => "late_event",
            Reason::RecordTooLong => "record_too_long",
            Reason::InvalidText => "invalid_text",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::UsdOutOfRange => "usd_out_of_range",
        }
    }
}

/// One quarantined record: a line of `quarantine.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The input it came from (a path, or `<stdin>`).
    pub file: String,
    /// 1-based line number (for Parquet: 1-based row number).
    pub line: u64,
    /// The field at fault (`tx_id`, `ts`, ..., or `record` for the whole line).
    pub field: String,
    /// Machine-readable cause.
    pub reason: Reason,
    /// A sentence for people, naming the file, line and field.
    pub message: String,
    /// The raw line as read (invalid UTF-8 replaced by U+FFFD).
    pub raw: String,
}

impl Rejected {
    /// Builds a rejection with the house-style message
    /// (``line 12 of `t.csv`: amount `12,5x` is not a decimal``).
    pub fn new(file: &str, line: u64, field: &str, reason: Reason, what: &str, raw: &[u8]) -> Self {
        Rejected {
            file: file.to_string(),
            line,
            field: field.to_string(),
            reason,
            message: format!("line {line} of `{file}`: {what}"),
            raw: raw_text(raw),
        }
    }
}

impl Rejected {
    /// A record longer than `max` bytes (it had `bytes`): only `prefix` was kept.
    pub fn too_long(file: &str, line: u64, max: usize, bytes: u64, prefix: &[u8]) -> Self {
        let mut r = Rejected::new(
            file,
            line,
            "record",
            Reason::RecordTooLong,
            &format!("the record has {bytes} bytes, more than `input.max-record-bytes` ({max}): skipped"),
            &prefix[..prefix.len().min(TOO_LONG_PREFIX)],
        );
        r.raw.push_str(&format!("...[{} bytes in all]", bytes));
        r
    }
}

/// Bytes of a too-long record kept (its raw text in quarantine is this prefix).
pub const TOO_LONG_PREFIX: usize = 256;

/// Longest raw text kept in a quarantine record.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

fn raw_text(raw: &[u8]) -> String {
    let cut = &raw[..raw.len().min(MAX_RAW_BYTES)];
    let mut s = String::from_utf8_lossy(cut).trim_end_matches(['\n', '\r']).to_string();
    if raw.len() > MAX_RAW_BYTES {
        s.push_str(&format!("...[{} more bytes]", raw.len() - MAX_RAW_BYTES));
    }
    s
}

/// Renders row `i` of a batch as a JSON object of its values as text: the raw text of a
/// record refused after it became Arrow (Parquet rows, late events).
pub fn render_row(batch: &arrow::record_batch::RecordBatch, i: usize) -> String {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let opts = FormatOptions::default().with_null("");
    let mut obj = serde_json::Map::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let v = ArrayFormatter::try_new(c.as_ref(), &opts).map(|fmt| fmt.value(i).to_string()).unwrap_or_default();
        obj.insert(f.name().clone(), serde_json::Value::String(v));
    }
    serde_json::Value::Object(obj).to_string()
}
