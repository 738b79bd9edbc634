//! The `[input]` section: how ledgers are read. The product's config gathers it.
//!
//! Owns: `RawInput` (the TOML shape), its validation into `InputConfig`, and the types
//! it names (`Format`, `Dialect`, `ColumnRef`, `MAPPABLE_COLUMNS`).
//! Must not: know the other sections.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use mirrorflow_core::time::TsUnit;

/// A mapping target: one file column, or several joined with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    One(String),
    Joined(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawInput {
    /// `auto`, `csv`, `jsonl`, `parquet`.
    pub format: String,
    /// `auto`, `contract`, `amlworld`, `amlsim`.
    pub dialect: String,
    /// Rows per Arrow batch.
    pub batch_rows: usize,
    /// strftime format for non-RFC 3339 timestamps; empty for none.
    pub ts_format: String,
    /// Unit of integer timestamps.
    pub ts_unit: String,
    /// Currency when the file has none.
    pub default_currency: String,
    /// CSV field separator.
    pub csv_delimiter: String,
    /// Longest record (line, or CSV record with its quoted newlines) read, bytes.
    pub max_record_bytes: usize,
    /// Contract column -> file column(s).
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRef>,
    /// File channel value -> contract channel.
    #[serde(default)]
    pub channel_values: BTreeMap<String, String>,
}

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Auto,
    Csv,
    Jsonl,
    Parquet,
}

/// Dialect of the transactions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Auto,
    Contract,
    AmlWorld,
    AmlSim,
}

/// Validated input settings.
#[derive(Debug, Clone)]
pub struct InputConfig {
    pub format: Format,
    pub dialect: Dialect,
    pub batch_rows: usize,
    pub ts_format: Option<String>,
    pub ts_unit: Option<TsUnit>,
    pub default_currency: Option<String>,
    pub csv_delimiter: u8,
    /// Longest record read, in bytes; a longer one is quarantined (`record_too_long`)
    /// and skipped without being held.
    pub max_record_bytes: usize,
    pub columns: BTreeMap<String, ColumnRef>,
    pub channel_values: BTreeMap<String, String>,
}

/// Contract columns that `[input.columns]` may map.
pub const MAPPABLE_COLUMNS: [&str; 11] = [
    "tx_id",
    "ts",
    "src_account",
    "dst_account",
    "amount",
    "currency",
    "channel",
    "location",
    "memo",
    "label_laundering",
    "label_scheme",
];

impl RawInput {
    /// The validated settings; every problem goes to `errs` (the caller reports them all
    /// at once, with the other sections').
    pub fn validate(&self, errs: &mut Vec<String>) -> InputConfig {
        let i = self;
        let format = match i.format.as_str() {
            "auto" => Format::Auto,
            "csv" => Format::Csv,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            other => {
                errs.push(format!("`input.format` = \"{other}\": expected auto, csv, jsonl or parquet"));
                Format::Auto
            }
        };
        let dialect = match i.dialect.as_str() {
            "auto" => Dialect::Auto,
            "contract" => Dialect::Contract,
            "amlworld" => Dialect::AmlWorld,
            "amlsim" => Dialect::AmlSim,
            other => {
                errs.push(format!("`input.dialect` = \"{other}\": expected auto, contract, amlworld or amlsim"));
                Dialect::Auto
            }
        };
        let ts_unit = match i.ts_unit.as_str() {
            "auto" => None,
            "s" => Some(TsUnit::Seconds),
            "ms" => Some(TsUnit::Millis),
            "us" => Some(TsUnit::Micros),
            other => {
                errs.push(format!("`input.ts-unit` = \"{other}\": expected auto, s, ms or us"));
                None
            }
        };
        if i.batch_rows == 0 {
            errs.push("`input.batch-rows` must be at least 1".into());
        }
        if i.max_record_bytes < 1024 {
            errs.push(format!("`input.max-record-bytes` = {}: must be at least 1024", i.max_record_bytes));
        }
        let csv_delimiter = match i.csv_delimiter.as_bytes() {
            [b] if b.is_ascii() && *b != b'"' && *b != b'\n' => *b,
            _ => {
                errs.push(format!("`input.csv-delimiter` = \"{}\": expected one ASCII character", i.csv_delimiter));
                b','
            }
        };
        for key in i.columns.keys() {
            if !MAPPABLE_COLUMNS.contains(&key.as_str()) {
                errs.push(format!(
                    "`input.columns.{key}`: not a transactions column (expected one of {})",
                    MAPPABLE_COLUMNS.join(", ")
                ));
            }
        }
        InputConfig {
            format,
            dialect,
            batch_rows: i.batch_rows,
            ts_format: (!i.ts_format.is_empty()).then(|| i.ts_format.clone()),
            ts_unit,
            default_currency: (!i.default_currency.is_empty()).then(|| i.default_currency.clone()),
            csv_delimiter,
            max_record_bytes: i.max_record_bytes,
            columns: i.columns.clone(),
            channel_values: i.channel_values.clone(),
        }
    }
}

/// The embedded defaults' `[input]` section, validated (for tests).
#[doc(hidden)]
pub fn default_input() -> InputConfig {
    let table: toml::Table = include_str!("../../../config/default.toml").parse().expect("the embedded defaults parse");
    let raw: RawInput = table["input"].clone().try_into().expect("the embedded [input] is valid");
    let mut errs = Vec::new();
    let input = raw.validate(&mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    input
}
