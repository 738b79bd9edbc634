//! The enrich stage: each row's USD equivalent at the day's FX rate (`amount_usd`) and
//! the KYC attributes of both parties.
//!
//! Owns: appending `amount_usd` (exact, micro-dollars) with the rate of the latest date
//! on or before the row's date (rows in currencies with no rate get null and are
//! counted), and `src_/dst_` `kind`, `industry`, `country` from the accounts table (looked
//! up once here, so no rule joins `accounts` for them). A row whose USD value is beyond
//! [`MAX_USD_PER_ROW`] (1e15 USD) is taken out of the batch and handed back as a
//! rejection (`usd_out_of_range`), so no detector's sum can overflow.
//! Must not: drop rows silently, or reorder them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Decimal128Builder, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::Decimal128Type;

use crate::error::{Error, Result};
use crate::money::{MAX_USD_PER_ROW, format_decimal, to_usd};
use crate::quarantine::{Reason, Rejected, render_row};
use crate::schema::ts_column;
use crate::schema::{self, acct, tx};
use crate::tables::{AccountsTable, FxTable};
use crate::time::format_ts;

/// Converts amounts to USD, caching rates per (currency, day).
pub struct Enricher {
    fx: Arc<FxTable>,
    accounts: Arc<AccountsTable>,
    cache: HashMap<(String, i32), Option<i128>>,
    /// Rows without a rate, by currency.
    pub missing_rate: BTreeMap<String, u64>,
}

impl Enricher {
    pub fn new(fx: Arc<FxTable>, accounts: Arc<AccountsTable>) -> Self {
        Enricher { fx, accounts, cache: HashMap::new(), missing_rate: BTreeMap::new() }
    }

    /// `batch` (transactions schema) with `amount_usd` appended (enriched schema), less
    /// the rows whose USD value is out of range: those come back as rejections naming
    /// `source` (the batch no longer knows its file and line).
    pub fn enrich(&mut self, batch: &RecordBatch, source: &str) -> Result<(RecordBatch, Vec<Rejected>)> {
        let mut out_of_range = Vec::new();
        let mut keep = Vec::with_capacity(batch.num_rows());
        let ts = ts_column(batch);
        let amount = batch.column_by_name(tx::AMOUNT).expect("amount").as_primitive::<Decimal128Type>();
        let currency = batch.column_by_name(tx::CURRENCY).expect("currency").as_string::<i32>();
        let mut out = Decimal128Builder::with_capacity(batch.num_rows())
            .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::USD_SCALE)
            .expect("valid decimal");
        // The rates this batch needs, keyed by borrowed currency codes (no allocation
        // per row); the run-wide cache fills it.
        let mut local: HashMap<(&str, i32), Option<i128>, foldhash::fast::RandomState> = HashMap::default();
        for i in 0..batch.num_rows() {
            let day = ts.value(i).div_euclid(86_400_000_000) as i32;
            let cur = currency.value(i);
            let rate = *local.entry((cur, day)).or_insert_with(|| match self.cache.get(&(cur.to_string(), day)) {
                Some(r) => *r,
                None => {
                    let r = self.fx.rate(cur, day);
                    self.cache.insert((cur.to_string(), day), r);
                    r
                }
            });
            match rate.map(|r| (r, to_usd(amount.value(i), r))) {
                Some((_, Some(v))) if v.abs() <= MAX_USD_PER_ROW => {
                    keep.push(true);
                    out.append_value(v)
                }
                Some((r, _)) => {
                    keep.push(false);
                    out_of_range.push(Rejected::new(
                        source,
                        0,
                        tx::AMOUNT,
                        Reason::UsdOutOfRange,
                        &format!(
                            "tx_id `{}`: amount {} {cur} at {} USD per unit on {} is more than {} USD",
                            batch.column_by_name(tx::TX_ID).expect("tx_id").as_string::<i32>().value(i),
                            format_decimal(amount.value(i), schema::AMOUNT_SCALE as u32),
                            format_decimal(r, schema::AMOUNT_SCALE as u32),
                            &format_ts(ts.value(i))[..10],
                            format_decimal(MAX_USD_PER_ROW, schema::USD_SCALE as u32),
                        ),
                        render_row(batch, i).as_bytes(),
                    ));
                    out.append_null();
                }
                None => {
                    keep.push(true);
                    *self.missing_rate.entry(cur.to_string()).or_default() += 1;
                    out.append_null();
                }
            }
        }
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols.push(Arc::new(out.finish()));
        for side in [tx::SRC_ACCOUNT, tx::DST_ACCOUNT] {
            let ids = batch.column_by_name(side).expect("account column").as_string::<i32>();
            let rows: UInt32Array =
                ids.iter().map(|id| id.and_then(|id| self.accounts.index.get(id)).map(|&r| r as u32)).collect();
            for attr in [acct::KIND, acct::INDUSTRY, acct::COUNTRY] {
                let col = self.accounts.batch.column_by_name(attr).expect("accounts column");
                cols.push(take(col, &rows, None).map_err(|e| Error::arrow("looking up account attributes", e))?);
            }
        }
        let enriched = RecordBatch::try_new(schema::enriched_schema(), cols)
            .map_err(|e| Error::arrow("enriching with USD amounts", e))?;
        if out_of_range.is_empty() {
            return Ok((enriched, out_of_range));
        }
        let keep = BooleanArray::from(keep);
        let kept = arrow::compute::filter_record_batch(&enriched, &keep)
            .map_err(|e| Error::arrow("taking out rows beyond the USD range", e))?;
        Ok((kept, out_of_range))
    }
}
