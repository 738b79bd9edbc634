//! Placements: a party's US cash deposits within one leg window, the netting days' sums,
//! the cash on-ramped to exchanges, and what stacks on the cash (structuring, funnel,
//! nominee profiles).
//!
//! Owns: `Tx` (one transaction of evidence), `Placement`, `DaySums`, `add_deposit`,
//! `add_on_ramp`, `structured`, `stacked`, `band_range`.
//! Must not: look at legs or judge a placement (that is `matching`'s).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DAY, MirrorDetector};
use mirrorflow_core::detect::DetectCtx;
use mirrorflow_core::schema::acct;

/// One transaction of evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Tx {
    pub(super) ts: i64,
    pub(super) seq: u64,
    pub(super) tx_id: Arc<str>,
    pub(super) src: Arc<str>,
    pub(super) dst: Arc<str>,
    /// USD micro-dollars.
    pub(super) usd: i128,
    /// The amount as exact text, and its currency.
    pub(super) amount: Arc<str>,
    pub(super) currency: Arc<str>,
    pub(super) channel: Arc<str>,
    pub(super) location: Option<Arc<str>>,
}

/// A party's US cash within one leg window.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Placement {
    pub(super) party: Arc<str>,
    pub(super) deposits: Vec<Tx>,
    pub(super) total: i128,
}

/// Netted sums of one party on one UTC day.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct DaySums {
    pub(super) us: Vec<Tx>,
    pub(super) cny: Vec<Tx>,
    pub(super) mxn: Vec<Tx>,
}

impl MirrorDetector {
    /// A US cash deposit: into its party's open placement (opening one, due a leg window
    /// after it), its day's sums and the network's recent cash.
    pub(super) fn add_deposit(&mut self, t: Tx) {
        self.stats.deposits += 1;
        self.net_deposit(&t);
        let party = self.party(&t.dst);
        let day = t.ts.div_euclid(DAY);
        self.day_sums(party.clone(), day).us.push(t.clone());
        let window = self.cfg.leg_window_us;
        let p = self.open.entry(party.clone()).or_insert_with(|| Placement {
            party: party.clone(),
            deposits: Vec::new(),
            total: 0,
        });
        if p.deposits.is_empty() {
            self.due.push_back((t.ts + window, party));
            self.stats.placements += 1;
        }
        p.total += t.usd;
        p.deposits.push(t);
    }

    /// The party's sums for `day` (days since 1970), opened (and their ageing out noted)
    /// on first use.
    pub(super) fn day_sums(&mut self, party: Arc<str>, day: i64) -> &mut DaySums {
        let by_day = self.days.entry(party.clone()).or_default();
        if !by_day.contains_key(&day) {
            self.days_expiry.note(day, &party);
        }
        by_day.entry(day).or_default()
    }

    /// US cash sent to an exchange, kept by the sender's party (crypto settlement).
    pub(super) fn add_on_ramp(&mut self, t: Tx) {
        let party = self.party(&t.src);
        self.on_ramps_expiry.note(t.ts, &party);
        self.on_ramps.entry(party).or_default().push_back(t);
    }

    /// Forgets on-ramps before `keep` (µs).
    pub(super) fn forget_on_ramps(&mut self, keep: i64) {
        let ramps = &mut self.on_ramps;
        self.on_ramps_expiry.expire(keep, |p| super::expiry::drop_before(ramps, p, keep, |t| t.ts));
    }
}

/// The amount as exact text: no trailing zeros after the point.
pub(super) fn trim_amount(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The USD values `[lo, hi]` a leg may carry against `usd` of cash, for a band in bp.
pub(super) fn band_range(usd: i128, band: (i128, i128)) -> (i128, i128) {
    (usd * (10_000 + band.0) / 10_000, usd * (10_000 + band.1) / 10_000)
}

/// At least two deposits in the structuring band (`MirrorConfig::band`).
pub(super) fn structured(deposits: &[Tx], band: (i128, i128)) -> bool {
    deposits.iter().filter(|t| t.usd >= band.0 && t.usd < band.1).count() >= 2
}

/// What stacks on a placement's deposits: structuring, funnel, nominee profiles.
pub(super) fn stacked(deposits: &[Tx], band: (i128, i128), ctx: &DetectCtx) -> Vec<&'static str> {
    let mut out = Vec::new();
    if structured(deposits, band) {
        out.push("T1 structuring");
    }
    let states: BTreeSet<&str> = deposits.iter().filter_map(|t| t.location.as_deref()).collect();
    if states.len() >= 3 {
        out.push("T3 funnel");
    }
    let nominee = deposits.iter().any(|t| {
        matches!(
            ctx.accounts.field(&t.dst, acct::OCCUPATION).as_deref(),
            Some("student" | "unemployed" | "cashier" | "driver" | "warehouse associate")
        )
    });
    if nominee {
        out.push("T5 nominee profile");
    }
    out
}
