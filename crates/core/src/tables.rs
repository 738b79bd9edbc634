//! The side tables as detectors see them: `accounts` (KYC context) and `fx_rates` (USD
//! per unit by day), and the bundled default rates.
//!
//! Owns: `AccountsTable` (an Arrow batch plus an id index), `FxTable` (rate lookup: the
//! latest date on or before the transaction's date), `DEFAULT_FX_CSV`.
//! Must not: read files; the product's `ingest::tables` reads them (and quarantines bad
//! rows) and builds these.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Date32Builder, Decimal128Builder, RecordBatch, StringBuilder};
use chrono::NaiveDate;

use crate::money::parse_decimal;
use crate::schema;

/// The bundled default FX table (approximate yearly rates; supply `fx_rates` for real work).
pub const DEFAULT_FX_CSV: &str = include_str!("../../../config/fx_default.csv");

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (anything after the tenth byte ignored).
pub fn parse_date(s: &str) -> Option<i32> {
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
        self.field_str(id, column).map(str::to_string)
    }

    /// `field`, borrowed from the table (for per-row comparisons that need no copy).
    pub fn field_str(&self, id: &str, column: &str) -> Option<&str> {
        let row = *self.index.get(id)?;
        let c = self.batch.column_by_name(column)?.as_string_opt::<i32>()?;
        (!c.is_null(row)).then(|| c.value(row))
    }

    /// An empty table (no KYC context).
    pub fn empty() -> Self {
        AccountsTable { batch: RecordBatch::new_empty(schema::accounts_schema()), index: AccountIndex::default() }
    }
}

/// The field of an `fx_rates` row that does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FxRowError {
    /// Missing or not a `YYYY-MM-DD` date.
    Date,
    /// Missing.
    Currency,
    /// Missing or not a positive decimal.
    Rate,
}

/// One `fx_rates` row (`date`, `currency`, `usd_per_unit` as text) as (upper-case
/// currency, days since 1970-01-01, rate at scale 18): the one reading of a rate row, for
/// the bundled table and for a user's file.
pub fn parse_fx_row(
    date: Option<&str>,
    currency: Option<&str>,
    rate: Option<&str>,
) -> Result<(String, i32, i128), FxRowError> {
    let day = date.and_then(parse_date).ok_or(FxRowError::Date)?;
    let cur = currency.ok_or(FxRowError::Currency)?;
    let rate = match rate.map(|s| parse_decimal(s.as_bytes(), schema::AMOUNT_SCALE as u32)) {
        Some(Ok(v)) if v > 0 => v,
        _ => return Err(FxRowError::Rate),
    };
    Ok((cur.to_ascii_uppercase(), day, rate))
}

/// FX rates: USD per unit by currency and day.
#[derive(Debug, Clone, Default)]
pub struct FxTable {
    /// Per currency, (day since epoch, rate at scale 18), sorted by day.
    rates: HashMap<String, Vec<(i32, i128)>>,
}

impl FxTable {
    /// A table of these rates (per currency, any order; of several rates on one day, the
    /// lowest is kept, whatever the order of the lines).
    pub fn from_rates(mut rates: HashMap<String, Vec<(i32, i128)>>) -> Self {
        for v in rates.values_mut() {
            v.sort_unstable();
            v.dedup_by_key(|(d, _)| *d);
        }
        FxTable { rates }
    }

    /// The bundled default table (`DEFAULT_FX_CSV`: a header, then `date,currency,rate`
    /// lines, all valid: the unit test reads every line).
    pub fn bundled() -> Self {
        let mut rates: HashMap<String, Vec<(i32, i128)>> = HashMap::new();
        for line in DEFAULT_FX_CSV.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let mut f = line.split(',').map(str::trim);
            match parse_fx_row(f.next(), f.next(), f.next()) {
                Ok((cur, day, rate)) => rates.entry(cur).or_default().push((day, rate)),
                Err(e) => debug_assert!(false, "bundled fx line `{line}`: {e:?}"),
            }
        }
        Self::from_rates(rates)
    }

    /// Puts `other`'s rates over these: on a day both have, `other`'s rate wins.
    pub fn overlay(&mut self, other: FxTable) {
        for (cur, rates) in other.rates {
            let e = self.rates.entry(cur).or_default();
            e.retain(|(d, _)| !rates.iter().any(|(fd, _)| fd == d));
            e.extend(rates);
            e.sort_unstable();
        }
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
        let lines = DEFAULT_FX_CSV.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
        assert_eq!(fx.to_batch().num_rows(), lines, "every bundled line is read");
    }

    #[test]
    fn an_overlay_wins_on_its_days_only() {
        let day = parse_date("2026-03-01").unwrap();
        let mut fx = FxTable::bundled();
        let before = fx.rate("MXN", day - 400).unwrap();
        fx.overlay(FxTable::from_rates([("MXN".to_string(), vec![(day, 7), (day, 5)])].into()));
        assert_eq!(fx.rate("MXN", day), Some(5), "the lowest rate of a day");
        assert_eq!(fx.rate("MXN", day - 400), Some(before));
    }
}
