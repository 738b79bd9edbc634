//! An enriched row read as what the mirror stage keeps: a US cash deposit, a CNY or MXN
//! leg, cash on-ramped to an exchange, or a payment out of an account with cash (the
//! network's shared beneficiaries).
//!
//! Owns: `Columns` (a batch's columns by name), the row's classification (`RowKind`) and
//! handing the row to the placements, the leg index, the on-ramps and the network state.
//! Must not: judge anything or look at other rows: the row is taken as it comes.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array, PrimitiveArray, RecordBatch, StringArray};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType, UInt64Type};

use super::legs::LegKind;
use super::placements::{Tx, trim_amount};
use super::{MirrorConfig, MirrorDetector};
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::{self, tx};

/// The columns of an enriched batch the stage reads.
pub(super) struct Columns<'a> {
    ids: &'a StringArray,
    src: &'a StringArray,
    dst: &'a StringArray,
    cur: &'a StringArray,
    chan: &'a StringArray,
    loc: &'a StringArray,
    src_kind: &'a StringArray,
    dst_kind: &'a StringArray,
    src_country: &'a StringArray,
    dst_country: &'a StringArray,
    ts: &'a PrimitiveArray<TimestampMicrosecondType>,
    seq: &'a PrimitiveArray<UInt64Type>,
    amount: &'a Decimal128Array,
    usd: &'a Decimal128Array,
}

impl<'a> Columns<'a> {
    pub(super) fn of(batch: &'a RecordBatch) -> Self {
        let col = |n: &str| batch.column_by_name(n).expect("enriched column");
        let s = |n: &str| col(n).as_string::<i32>();
        Columns {
            ids: s(tx::TX_ID),
            src: s(tx::SRC_ACCOUNT),
            dst: s(tx::DST_ACCOUNT),
            cur: s(tx::CURRENCY),
            chan: s(tx::CHANNEL),
            loc: s(tx::LOCATION),
            src_kind: s("src_kind"),
            dst_kind: s("dst_kind"),
            src_country: s("src_country"),
            dst_country: s("dst_country"),
            ts: col(tx::TS).as_primitive::<TimestampMicrosecondType>(),
            seq: col(tx::SEQ).as_primitive::<UInt64Type>(),
            amount: col(tx::AMOUNT).as_primitive::<Decimal128Type>(),
            usd: col(tx::AMOUNT_USD).as_primitive::<Decimal128Type>(),
        }
    }

    /// Row `i`'s event time (µs).
    pub(super) fn ts(&self, i: usize) -> i64 {
        self.ts.value(i)
    }
}

/// What a row is to the stage.
enum RowKind {
    Deposit,
    Leg(LegKind),
    Ramp,
}

/// Whether row `i` is a US cash deposit, a CNY or MXN leg, or cash sent to an exchange.
fn row_kind(cfg: &MirrorConfig, c: &Columns, i: usize) -> Option<RowKind> {
    let (src_a, dst_a) = (get(c.src, i), get(c.dst, i));
    let (currency, channel) = (c.cur.value(i), get(c.chan, i).unwrap_or(""));
    let is_kind = |k: &StringArray, list: &[String]| get(k, i).is_some_and(|v| list.iter().any(|x| x == v));
    if channel == "cash_deposit" && dst_a.is_some() && get(c.dst_country, i) == Some("US") && currency == "USD" {
        Some(RowKind::Deposit)
    } else if currency == "CNY"
        && dst_a.is_some()
        && get(c.dst_country, i) == Some("CN")
        && !is_kind(c.dst_kind, &cfg.skip_kinds)
        && !is_kind(c.dst_kind, &cfg.exchange_kinds)
    {
        Some(RowKind::Leg(LegKind::Cny))
    } else if currency == "MXN"
        && src_a.is_some()
        && dst_a.is_some()
        && get(c.src_country, i) == Some("MX")
        // paid within Mexico (or to an account the bank does not know): an MXN
        // wire to a known foreign account crosses the border, and a mirror leg
        // never does
        && get(c.dst_country, i).is_none_or(|k| k == "MX")
        && !is_kind(c.src_kind, &cfg.skip_kinds)
    {
        Some(RowKind::Leg(if is_kind(c.src_kind, &cfg.exchange_kinds) { LegKind::MxnExchange } else { LegKind::Mxn }))
    } else if src_a.is_some()
        && get(c.src_country, i) == Some("US")
        && is_kind(c.dst_kind, &cfg.exchange_kinds)
        && currency == "USD"
    {
        Some(RowKind::Ramp)
    } else {
        None
    }
}

impl MirrorDetector {
    /// Takes row `i` (at `now`): a deposit, leg or on-ramp is kept; a payment out of an
    /// account with cash is remembered for the network's ties.
    pub(super) fn take_row(&mut self, c: &Columns, i: usize, now: i64) {
        if c.usd.is_null(i) {
            return;
        }
        let (src_a, dst_a) = (get(c.src, i), get(c.dst, i));
        let (currency, channel) = (c.cur.value(i), get(c.chan, i).unwrap_or(""));
        let what = row_kind(&self.cfg, c, i);
        // payments out of accounts with cash (shared beneficiaries tie nominees)
        if self.cfg.network.is_some()
            && !channel.starts_with("cash")
            && get(c.src_country, i) == Some("US")
            && let (Some(s_), Some(d_)) = (src_a, dst_a)
            && s_ != d_
            && self.net.cash_account(s_)
        {
            let (s_, d_) = (self.intern(s_), self.intern(d_));
            self.net_payment(s_, d_, now);
        }
        let Some(what) = what else { return };
        let t = Tx {
            ts: now,
            seq: c.seq.value(i),
            tx_id: Arc::from(c.ids.value(i)),
            src: src_a.map_or_else(|| Arc::from(""), |a| self.intern(a)),
            dst: dst_a.map_or_else(|| Arc::from(""), |a| self.intern(a)),
            usd: c.usd.value(i),
            amount: Arc::from(trim_amount(format_decimal(c.amount.value(i), schema::AMOUNT_SCALE as u32)).as_str()),
            currency: self.intern(currency),
            channel: self.intern(channel),
            location: get(c.loc, i).map(|l| self.intern(l)),
        };
        match what {
            RowKind::Deposit => self.add_deposit(t),
            RowKind::Leg(kind) => {
                let broker = if kind == LegKind::Cny { t.dst.clone() } else { t.src.clone() };
                self.add_leg(kind, t, broker);
            }
            RowKind::Ramp => self.add_on_ramp(t),
        }
    }
}

fn get(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}
