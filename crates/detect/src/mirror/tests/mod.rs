//! The mirror stage on hand-built ledgers, concept by concept, each with a near miss that
//! must stay silent: bands, windows, the one-to-one match, party preference, crypto
//! settlement, netting, network matches.
//!
//! Owns: the helpers every concept's tests share (`accounts`, `at`, `cash`, `wire`,
//! `batches`, `run`, `t6`, `ids`, `structured_cash`).
//! Must not: hold a concept's tests (each is in its own file).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};

use super::*;
use mirrorflow_core::enrich::Enricher;
use mirrorflow_core::schema::{self, acct, tx};
use mirrorflow_core::tables::{AccountsTable, FxTable};
use mirrorflow_core::window::EventWindow;

/// One account: id, customer id, country, region, kind, opened (days since 1970), occupation.
struct Acct(&'static str, &'static str, &'static str, &'static str, &'static str, Option<i32>, &'static str);

fn accounts(rows: &[Acct]) -> AccountsTable {
    let text = |f: &dyn Fn(&Acct) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(|r| Some(f(r)).filter(|v| !v.is_empty())).collect::<Vec<_>>()))
    };
    let schema = mirrorflow_core::schema::accounts_schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            acct::ACCOUNT_ID => text(&|r| r.0),
            acct::CUSTOMER_ID => text(&|r| r.1),
            acct::COUNTRY => text(&|r| r.2),
            acct::REGION => text(&|r| r.3),
            acct::KIND => text(&|r| r.4),
            acct::OPENED_AT => Arc::new(Date32Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())) as ArrayRef,
            acct::OCCUPATION => text(&|r| r.6),
            _ => arrow::array::new_null_array(f.data_type(), rows.len()),
        })
        .collect();
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let index = rows.iter().enumerate().map(|(i, r)| (r.0.to_string(), i)).collect();
    AccountsTable { batch, index }
}

/// 2026-03-02T00:00:00Z in µs, and a day's offset from it in hours.
const T0: i64 = 1_772_409_600_000_000;
fn at(day: i64, hour: f64) -> i64 {
    T0 + day * DAY + (hour * HOUR as f64) as i64
}

/// One transaction: id, ts, src, dst, amount (text), currency, channel, location.
type Row = (String, i64, &'static str, &'static str, String, &'static str, &'static str, &'static str);

fn cash(id: &str, ts: i64, dst: &'static str, usd: u32, state: &'static str) -> Row {
    (id.into(), ts, "", dst, usd.to_string(), "USD", "cash_deposit", state)
}

fn wire(id: &str, ts: i64, src: &'static str, dst: &'static str, amount: u32, cur: &'static str) -> Row {
    (id.into(), ts, src, dst, amount.to_string(), cur, "wire", "")
}

/// The rows as enriched batches of `chunk` rows (time order), as the pipeline hands them.
fn batches(mut rows: Vec<Row>, accts: &Arc<AccountsTable>, fx: &Arc<FxTable>, chunk: usize) -> Vec<RecordBatch> {
    rows.sort_by_key(|r| r.1);
    let mut enricher = Enricher::new(fx.clone(), accts.clone());
    let mut out = Vec::new();
    for (c, part) in rows.chunks(chunk).enumerate() {
        let s = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
            Arc::new(StringArray::from(part.iter().map(|r| Some(f(r)).filter(|v| !v.is_empty())).collect::<Vec<_>>()))
        };
        let schema = mirrorflow_core::schema::transactions_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                tx::TX_ID => s(&|r| r.0.as_str()),
                tx::TS => Arc::new(
                    TimestampMicrosecondArray::from(part.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC"),
                ) as ArrayRef,
                tx::SRC_ACCOUNT => s(&|r| r.2),
                tx::DST_ACCOUNT => s(&|r| r.3),
                tx::AMOUNT => Arc::new(
                    Decimal128Array::from(
                        part.iter()
                            .map(|r| mirrorflow_core::money::parse_decimal(r.4.as_bytes(), 18).unwrap())
                            .collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::AMOUNT_SCALE)
                    .unwrap(),
                ) as ArrayRef,
                tx::CURRENCY => s(&|r| r.5),
                tx::CHANNEL => s(&|r| r.6),
                tx::LOCATION => s(&|r| r.7),
                tx::SEQ => {
                    Arc::new(UInt64Array::from((0..part.len()).map(|i| (c * chunk + i) as u64).collect::<Vec<_>>()))
                        as ArrayRef
                }
                _ => arrow::array::new_null_array(f.data_type(), part.len()),
            })
            .collect();
        let b = RecordBatch::try_new(schema, columns).unwrap();
        out.push(enricher.enrich(&b, "test").unwrap().0);
    }
    out
}

/// Runs the stage over the rows (in batches of `chunk`) and returns its alerts and stats.
fn run(cfg: MirrorConfig, rows: Vec<Row>, accts: AccountsTable, chunk: usize) -> (Vec<Alert>, MirrorStats) {
    let accts = Arc::new(accts);
    let fx = Arc::new(FxTable::bundled());
    let ctx = DetectCtx { accounts: accts.clone(), fx: fx.clone() };
    let window = EventWindow::new(30 * DAY);
    let mut d = MirrorDetector::new(cfg);
    let mut out = Vec::new();
    for b in batches(rows, &accts, &fx, chunk) {
        out.extend(d.on_batch(&b, &window, &ctx).unwrap());
    }
    out.extend(d.on_finish(&window, &ctx).unwrap());
    (out, d.stats)
}

const OPENED_RECENTLY: Option<i32> = Some(20_480); // 2026-01-27

fn t6(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.typology == "T6").collect()
}

/// An alert's evidence: its transaction ids.
fn ids(a: &Alert) -> Vec<&str> {
    a.tx_ids.iter().map(String::as_str).collect()
}

/// 27,720 USD of structured cash into `acct` on day 0: three deposits of 9,240 at 10:00,
/// 12:00 and 14:00. At the 2026 rates (CNY 0.140, MXN 0.055) its bands hold exact amounts:
/// CNY 194,040 (-2%) ..= 209,880 (+6%), MXN 473,760 (-6%) ..= 509,040 (+1%).
fn structured_cash(acct: &'static str) -> Vec<Row> {
    vec![
        cash("D1", at(0, 10.0), acct, 9_240, "US-CA"),
        cash("D2", at(0, 12.0), acct, 9_240, "US-CA"),
        cash("D3", at(0, 14.0), acct, 9_240, "US-CA"),
    ]
}

mod bands;
mod crypto;
mod matching;
mod netting;
mod network;
mod party;
mod windows;
