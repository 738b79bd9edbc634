//! The enrich stage: each row's USD equivalent at the day's FX rate (`amount_usd`) and
//! the KYC attributes of both parties.
//!
//! Owns: appending `amount_usd` (exact, micro-dollars) with the rate of the latest date
//! on or before the row's date (rows in currencies with no rate get null and are
//! counted), and `src_/dst_` `kind`, `industry`, `country` from the accounts table (looked
//! up once here, so no rule joins `accounts` for them).
//! Must not: drop or reorder rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Builder, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::Decimal128Type;

use crate::error::{Error, Result};
use crate::ingest::tables::{AccountsTable, FxTable};
use crate::money::to_usd;
use crate::pipeline::order::ts_column;
use crate::schema::{self, acct, tx};

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

    /// `batch` (transactions schema) with `amount_usd` appended (enriched schema).
    pub fn enrich(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
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
            match rate.and_then(|r| to_usd(amount.value(i), r)) {
                Some(v) => out.append_value(v),
                None => {
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
        RecordBatch::try_new(schema::enriched_schema(), cols).map_err(|e| Error::arrow("enriching with USD amounts", e))
    }
}
