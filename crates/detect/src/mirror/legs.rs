//! Legs: CNY credits into Chinese accounts (L2), MXN payouts from Mexican accounts (L3)
//! and MXN payouts from Mexican exchanges (L3, crypto-settled), kept for a few windows in
//! a value-ordered index.
//!
//! Owns: `LegKind`, `Leg`, the leg index (`legs`, `leg_order`, `by_value`): `add_leg`,
//! `forget_legs`; `rate_of` (the day's rate a leg was valued at).
//! Must not: decide which placement a leg matches (that is `matching`'s) or keep a leg
//! longer than a match or a network span can use it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::placements::{Tx, trim_amount};
use super::{DAY, MirrorDetector};
use mirrorflow_core::detect::DetectCtx;
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(super) enum LegKind {
    /// CNY into a Chinese account (L2).
    Cny,
    /// MXN out of a Mexican account (L3).
    Mxn,
    /// MXN out of a Mexican exchange (L3, crypto-settled).
    MxnExchange,
}

impl LegKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            LegKind::Cny => "cny",
            LegKind::Mxn => "mxn",
            LegKind::MxnExchange => "mxn_exchange",
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Leg {
    pub(super) kind: LegKind,
    pub(super) tx: Tx,
    /// The broker's side: the CN receiver, the MX sender.
    pub(super) broker: Arc<str>,
    pub(super) used: bool,
}

impl MirrorDetector {
    /// A leg: into the index (unused, by value) and, unless an exchange's payout, into its
    /// broker party's day sums for netting.
    pub(super) fn add_leg(&mut self, kind: LegKind, t: Tx, broker: Arc<str>) {
        self.stats.legs += 1;
        let seq = t.seq;
        self.by_value.insert((kind, t.usd, seq), ());
        self.leg_order.push_back((t.ts, seq));
        if kind != LegKind::MxnExchange {
            let party = self.party(&broker);
            let day = t.ts.div_euclid(DAY);
            let sums = self.day_sums(party, day);
            match kind {
                LegKind::Cny => sums.cny.push(t.clone()),
                _ => sums.mxn.push(t.clone()),
            }
        }
        self.legs.insert(seq, Leg { kind, tx: t, broker, used: false });
        self.stats.max_open_legs = self.stats.max_open_legs.max(self.legs.len() as u64);
    }

    /// Forgets legs before `horizon` (µs), in time order.
    pub(super) fn forget_legs(&mut self, horizon: i64) {
        while let Some(&(ts, id)) = self.leg_order.front() {
            if ts >= horizon {
                break;
            }
            self.leg_order.pop_front();
            if let Some(l) = self.legs.remove(&id) {
                self.by_value.remove(&(l.kind, l.tx.usd, l.tx.seq));
            }
        }
    }
}

/// The day's rate the leg was valued at, as text.
pub(super) fn rate_of(ctx: &DetectCtx, t: &Tx) -> Option<String> {
    let r = ctx.fx.rate(&t.currency, t.ts.div_euclid(DAY) as i32)?;
    Some(trim_amount(format_decimal(r, schema::AMOUNT_SCALE as u32)))
}
