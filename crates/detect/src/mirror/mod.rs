//! T6 mirror swaps: US cash matched to the CNY and MXN legs that mirror it.
//!
//! A mirror swap has no cross-border transaction: cash placed in US accounts (L1), CNY
//! paid by a Chinese client into a broker's Chinese account (L2) and MXN paid from a
//! broker's Mexican account to the cartel (L3), of equal value at the day's rates, within
//! a day of each other. This stage finds them in event time:
//!
//! - **Placements**: a party's US cash deposits (`channel = cash_deposit` into a US
//!   account) within `leg-window` of its first one. A placement is judged once event time
//!   is `leg-window` past its first deposit: every leg that could match it has arrived.
//! - **Legs**: CNY credits into CN accounts, MXN debits from MX accounts (money-services
//!   accounts excepted: remittances are their business) paid within Mexico (a mirror leg
//!   never crosses a border), and MXN payouts from MX exchanges (crypto settlement), kept
//!   for a few windows in a value-ordered index.
//! - **One-to-one match**: a leg within `leg-window` of every deposit, its USD value
//!   (at its own day's rate) within the CNY band (-2%..+6% by default) or the MXN band
//!   (-6%..+1%) of the placement. When the leg's broker account is in the placement's
//!   party (`party::Parties`: customer id, shared phone or device), the pair is a swap;
//!   an exchange payout that follows an on-ramp (cash to an exchange within
//!   `on-ramp-window`) is the next best (the same money traced); with nothing but amount
//!   and time, both a CNY and an MXN leg must match (a triangle) cash that is itself
//!   suspicious (structured, funnelled, or a nominee profile's). Structured placements of
//!   unlinked accounts within one window may match together (a broker's nominees that nothing links), when their
//!   accounts' cash is mostly structured (`network::nominee_shaped`). Each leg matches
//!   one placement, best first (linked, closest in value, closest in time); legs tied by
//!   amount and time alone are left to another open placement they fit better
//!   (`fits_another_better`).
//! - **Netted**: a party whose US cash over 1-7 days is balanced within
//!   `netting-tolerance` by its CNY inflows or its MXN outflows (the balanced sides are
//!   the evidence), with no single pair matching: judged a day after the window's last
//!   day, so one-to-one matches are taken first and not alerted twice.
//! - **Network** (`network`): several parties' structured cash over 1..`network-days`
//!   days against the sums of several CNY credits and MXN payouts (bounded subset-sum,
//!   `subset`), judged after the day's netting.
//!
//! Each swap is one alert (legs, FX rates, time gaps, party links and why, stacked
//! typologies, score, a SAR narrative citing `CMLN-2025-A003`); repeated swaps of one
//! party carry the count of its earlier ones (the network view).
//!
//! Owns: `MirrorDetector`, `MirrorConfig` (submodules: `network`, `subset`, `tests`).
//! Must not: depend on batching: rows are taken one by one in `(ts, seq)` order and
//! everything is judged at event times.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType, UInt64Type};
use serde::{Deserialize, Serialize};

use crate::party::{Link, Parties, PartyConfig};
use mirrorflow_core::alert::build::{self, deviation_pct, hours, usd_text};
use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};
use mirrorflow_core::detect::{DetectCtx, Detector};
use mirrorflow_core::error::Result;
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::{self, acct, tx};
use mirrorflow_core::time::format_ts;
use mirrorflow_core::window::EventWindow;

mod config;
pub mod network;
mod subset;
#[cfg(test)]
mod tests;

pub use config::RawMirror;
pub use network::{NETWORK_RULE_ID, NetworkConfig};

pub const SWAP_RULE_ID: &str = "mirror_swap";
pub const NETTED_RULE_ID: &str = "mirror_netted";
pub const RULE_VERSION: &str = "1";
pub const KEY_TERM: &str = "CMLN-2025-A003";

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// Mirror-swap settings (config `[mirror]`).
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// A CNY leg's USD value against the US cash, basis points [min, max].
    pub cny_band_bp: (i128, i128),
    /// An MXN leg's USD value against the US cash, basis points [min, max].
    pub mxn_band_bp: (i128, i128),
    /// Legs come within this of every deposit (µs).
    pub leg_window_us: i64,
    /// Placements below this (USD micro-dollars) are not judged.
    pub min_usd: i128,
    /// Netted: each side within this of the US cash (basis points).
    pub netting_bp: i128,
    /// Netted: windows of this many days, [min, max].
    pub netting_days: (u32, u32),
    /// Netted: least US cash in the window (USD micro-dollars).
    pub netting_min_usd: i128,
    /// Accounts of these kinds are never a leg's broker side (remittances are an MSB's business).
    pub skip_kinds: Vec<String>,
    /// Exchange account kinds (crypto settlement: cash -> exchange ... exchange -> MXN).
    pub exchange_kinds: Vec<String>,
    /// Cash reaches an exchange within this after the deposit (µs).
    pub on_ramp_window_us: i64,
    pub parties: PartyConfig,
    /// Structured cash: [floor, CTR) in USD micro-dollars, the band of the SQL rule
    /// `010_structuring` (`network::structuring_band`).
    pub band: (i128, i128),
    /// Network-level matching (`None`: off).
    pub network: Option<NetworkConfig>,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            cny_band_bp: (-200, 600),
            mxn_band_bp: (-600, 100),
            leg_window_us: DAY,
            min_usd: 3_000_000_000,
            netting_bp: 500,
            netting_days: (1, 7),
            netting_min_usd: 10_000_000_000,
            skip_kinds: vec!["msb".into()],
            exchange_kinds: vec!["exchange".into()],
            on_ramp_window_us: 2 * DAY,
            parties: PartyConfig::default(),
            band: network::DEFAULT_BAND,
            network: Some(NetworkConfig::default()),
        }
    }
}

/// One transaction of evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Tx {
    ts: i64,
    seq: u64,
    tx_id: Arc<str>,
    src: Arc<str>,
    dst: Arc<str>,
    /// USD micro-dollars.
    usd: i128,
    /// The amount as exact text, and its currency.
    amount: Arc<str>,
    currency: Arc<str>,
    channel: Arc<str>,
    location: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum LegKind {
    /// CNY into a Chinese account (L2).
    Cny,
    /// MXN out of a Mexican account (L3).
    Mxn,
    /// MXN out of a Mexican exchange (L3, crypto-settled).
    MxnExchange,
}

impl LegKind {
    fn name(self) -> &'static str {
        match self {
            LegKind::Cny => "cny",
            LegKind::Mxn => "mxn",
            LegKind::MxnExchange => "mxn_exchange",
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Leg {
    kind: LegKind,
    tx: Tx,
    /// The broker's side: the CN receiver, the MX sender.
    broker: Arc<str>,
    used: bool,
}

/// A party's US cash within one leg window.
#[derive(Clone, Serialize, Deserialize)]
struct Placement {
    party: Arc<str>,
    deposits: Vec<Tx>,
    total: i128,
}

/// Netted sums of one party on one UTC day.
#[derive(Clone, Default, Serialize, Deserialize)]
struct DaySums {
    us: Vec<Tx>,
    cny: Vec<Tx>,
    mxn: Vec<Tx>,
}

/// The mirror-swap stage.
pub struct MirrorDetector {
    cfg: MirrorConfig,
    parties: Option<Parties>,
    /// Structured placements judged without a match, for combined matches.
    spare: VecDeque<Placement>,
    /// Open placements by party, and the order they fall due.
    open: HashMap<Arc<str>, Placement>,
    due: VecDeque<(i64, Arc<str>)>,
    /// Legs by number; the time order for eviction; unused legs by (kind, usd, seq).
    legs: HashMap<u64, Leg>,
    leg_order: VecDeque<(i64, u64)>,
    by_value: BTreeMap<(LegKind, i128, u64), ()>,
    /// Cash sent to an exchange, by party: (ts, tx).
    on_ramps: HashMap<Arc<str>, VecDeque<Tx>>,
    /// Netted: by party, by day (days since 1970), what was not matched one to one.
    days: HashMap<Arc<str>, BTreeMap<i64, DaySums>>,
    /// Deposits and legs matched one to one (left out of netting).
    matched: BTreeSet<u64>,
    /// Netted: the last day each party was alerted through.
    netted_through: HashMap<Arc<str>, i64>,
    /// The last UTC day whose netting windows were judged.
    judged_day: Option<i64>,
    /// Swaps alerted per party (the network view).
    history: HashMap<Arc<str>, Vec<String>>,
    /// Parties holding US accounts and CN or MX accounts (resolved with the parties).
    cross_border: std::collections::HashSet<u32>,
    /// Interned account ids.
    names: HashMap<Box<str>, Arc<str>, foldhash::fast::RandomState>,
    /// The newest event time seen.
    last_ts: Option<i64>,
    /// The event-time hour the per-party maps were last swept in.
    swept_hour: Option<i64>,
    /// Network-level matching: recent cash, accounts' cash shape and payees.
    net: network::NetState,
    pub stats: MirrorStats,
}

/// What a checkpoint carries (everything still open, in a stable order).
#[derive(Serialize, Deserialize)]
struct Saved {
    open: Vec<Placement>,
    due: Vec<(i64, Arc<str>)>,
    legs: Vec<Leg>,
    on_ramps: Vec<(Arc<str>, Vec<Tx>)>,
    days: Vec<(Arc<str>, Vec<(i64, DaySums)>)>,
    matched: Vec<u64>,
    netted_through: Vec<(Arc<str>, i64)>,
    judged_day: Option<i64>,
    history: Vec<(Arc<str>, Vec<String>)>,
    last_ts: Option<i64>,
    #[serde(default)]
    spare: Vec<Placement>,
    #[serde(default)]
    net: network::SavedNet,
}

/// What the stage saw (debug log, summary).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MirrorStats {
    pub deposits: u64,
    pub legs: u64,
    pub placements: u64,
    /// Placements judged, and those holding at least `min_usd` of cash.
    pub judged: u64,
    pub judged_at_floor: u64,
    pub swaps: u64,
    pub netted: u64,
    /// Netting windows that balanced on a single leg a side (left to the swap matcher).
    pub netting_single_legs: u64,
    /// Most legs held at once.
    pub max_open_legs: u64,
    /// Network-level matches (several accounts' cash against several legs).
    pub network: u64,
    /// Network searches stopped by `network-search-budget` (the best match found by then
    /// was taken, or none).
    pub network_bound_hits: u64,
    /// Candidate sets cut to `network-max-accounts` or `network-max-candidates`.
    pub network_capped: u64,
}

impl MirrorDetector {
    pub fn new(cfg: MirrorConfig) -> Self {
        for how in ["linked", "amount_and_time", "crypto", "netted", "network"] {
            mirrorflow_core::metrics::metrics().mirror_matches.with_label_values(&[how]);
        }
        MirrorDetector {
            cfg,
            parties: None,
            spare: VecDeque::new(),
            open: HashMap::new(),
            due: VecDeque::new(),
            legs: HashMap::new(),
            leg_order: VecDeque::new(),
            by_value: BTreeMap::new(),
            on_ramps: HashMap::new(),
            days: HashMap::new(),
            matched: BTreeSet::new(),
            netted_through: HashMap::new(),
            judged_day: None,
            history: HashMap::new(),
            cross_border: Default::default(),
            names: HashMap::default(),
            last_ts: None,
            swept_hour: None,
            net: network::NetState::default(),
            stats: MirrorStats::default(),
        }
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.names.insert(Box::from(s), a.clone());
        a
    }

    fn parties(&self) -> &Parties {
        self.parties.as_ref().expect("resolved on the first batch")
    }

    /// The party an account belongs to, by name.
    fn party(&mut self, account: &str) -> Arc<str> {
        let name = self.parties().name(account);
        self.intern(&name)
    }

    /// Judges everything due before `now` (placements, netting days), and forgets legs
    /// too old to match anything.
    fn advance(&mut self, now: i64, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        while let Some((due, _)) = self.due.front() {
            if *due >= now {
                break;
            }
            let (due, party) = self.due.pop_front().expect("front");
            // the placement this entry was made for (it may have been taken into a combined
            // match, and the party may have opened another since)
            let first = self.open.get(&party).and_then(|p| p.deposits.first()).map(|d| d.ts);
            if first == Some(due - self.cfg.leg_window_us)
                && let Some(p) = self.open.remove(&party)
            {
                self.judge(p, ctx, out);
            }
        }
        // netting windows ending on day d are judged once day d + 1 is over
        let today = now.div_euclid(DAY);
        let last = today - 2;
        match self.judged_day {
            None => self.judged_day = Some(last),
            Some(j) if j < last => {
                for d in (j + 1)..=last {
                    self.judge_netting(d, ctx, out);
                }
                self.judged_day = Some(last);
            }
            Some(_) => {}
        }
        // network spans: after the day's netting
        self.net_advance(now, ctx, out);
        // a leg can match a placement that began up to one window before it and is judged
        // one window after that: keep three (and as long as a network span needs it)
        let horizon = now - (3 * self.cfg.leg_window_us).max(self.net_leg_horizon());
        while let Some(&(ts, id)) = self.leg_order.front() {
            if ts >= horizon {
                break;
            }
            self.leg_order.pop_front();
            if let Some(l) = self.legs.remove(&id) {
                self.by_value.remove(&(l.kind, l.tx.usd, l.tx.seq));
            }
        }
        // the per-party maps are swept once per hour of event time
        let hour = now.div_euclid(HOUR);
        if self.swept_hour == Some(hour) {
            return;
        }
        self.swept_hour = Some(hour);
        self.net_sweep(now);
        let keep_ramps = now - self.cfg.on_ramp_window_us - self.cfg.leg_window_us;
        self.on_ramps.retain(|_, v| {
            while v.front().is_some_and(|t| t.ts < keep_ramps) {
                v.pop_front();
            }
            !v.is_empty()
        });
        let keep_days = today - i64::from(self.cfg.netting_days.1) - 2;
        self.days.retain(|_, m| {
            while m.first_key_value().is_some_and(|(d, _)| *d < keep_days) {
                m.pop_first();
            }
            !m.is_empty()
        });
    }

    fn add_leg(&mut self, kind: LegKind, t: Tx, broker: Arc<str>) {
        self.stats.legs += 1;
        let seq = t.seq;
        self.by_value.insert((kind, t.usd, seq), ());
        self.leg_order.push_back((t.ts, seq));
        if kind != LegKind::MxnExchange {
            let party = self.party(&broker);
            let day = t.ts.div_euclid(DAY);
            let sums = self.days.entry(party).or_default().entry(day).or_default();
            match kind {
                LegKind::Cny => sums.cny.push(t.clone()),
                _ => sums.mxn.push(t.clone()),
            }
        }
        self.legs.insert(seq, Leg { kind, tx: t, broker, used: false });
        self.stats.max_open_legs = self.stats.max_open_legs.max(self.legs.len() as u64);
    }

    fn add_deposit(&mut self, t: Tx) {
        self.stats.deposits += 1;
        self.net_deposit(&t);
        let party = self.party(&t.dst);
        let day = t.ts.div_euclid(DAY);
        self.days.entry(party.clone()).or_default().entry(day).or_default().us.push(t.clone());
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

    /// The best unused leg of `kind` for a placement worth `usd` between `lo` and `hi`
    /// (µs), within `band` (bp); linked to `accounts` first.
    fn best_leg(
        &self,
        kind: LegKind,
        usd: i128,
        band: (i128, i128),
        lo: i64,
        hi: i64,
        accounts: &[&str],
    ) -> Option<(u64, bool)> {
        let (min, max) = band_range(usd, band);
        let parties = self.parties();
        let mut best: Option<((bool, i128, i128, u64), u64, bool)> = None;
        for (&(_, v, seq), _) in self.by_value.range((kind, min, 0)..=(kind, max, u64::MAX)) {
            let Some(l) = self.legs.get(&seq) else { continue };
            if l.used || l.tx.ts < lo || l.tx.ts > hi {
                continue;
            }
            let linked = accounts.iter().any(|a| parties.same(a, &l.broker));
            // a broker whose party holds US accounts of its own settles with them: its legs
            // match other parties' cash only through a link
            if !linked && parties.of(&l.broker).is_some_and(|b| self.cross_border.contains(&b)) {
                continue;
            }
            let mid = (lo + hi) / 2;
            // linked legs: closest in value; with nothing but amount and time, closest in
            // time (a mirror leg follows the cash within hours; unrelated flows in the value
            // band are spread over the whole window)
            let (dv, dt) = ((v - usd).abs(), i128::from((l.tx.ts - mid).abs()));
            let key = if linked { (false, dv, dt, seq) } else { (true, dt, dv, seq) };
            if best.as_ref().is_none_or(|b| key < b.0) {
                best = Some((key, seq, linked));
            }
        }
        best.map(|b| (b.1, b.2))
    }

    fn judge(&mut self, p: Placement, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        self.stats.judged += 1;
        if p.total < self.cfg.min_usd {
            return;
        }
        self.stats.judged_at_floor += 1;
        let first = p.deposits.first().map_or(0, |d| d.ts);
        let last = p.deposits.last().map_or(0, |d| d.ts);
        let w = self.cfg.leg_window_us;
        let (lo, hi) = (last - w, first + w);
        let accounts: Vec<&str> = {
            let mut v: Vec<&str> = p.deposits.iter().map(|d| &*d.dst).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let cny = self.best_leg(LegKind::Cny, p.total, self.cfg.cny_band_bp, lo, hi, &accounts);
        let mxn = self.best_leg(LegKind::Mxn, p.total, self.cfg.mxn_band_bp, lo, hi, &accounts);
        let ramps: Vec<Tx> = self
            .on_ramps
            .get(&p.party)
            .map(|v| v.iter().filter(|t| t.ts >= first && t.ts <= last + self.cfg.on_ramp_window_us).cloned().collect())
            .unwrap_or_default();
        // crypto settlement: the exchange pays out after the cash reached an exchange
        let exch = match ramps.iter().map(|t| t.ts).min() {
            None => None,
            Some(ramp) => {
                self.best_leg(LegKind::MxnExchange, p.total, self.cfg.mxn_band_bp, lo.max(ramp), hi, &accounts)
            }
        };
        let linked_any = cny.is_some_and(|c| c.1) || mxn.is_some_and(|m| m.1);
        let mut legs: Vec<u64> = Vec::new();
        let how;
        if linked_any {
            legs.extend(cny.filter(|c| c.1).map(|c| c.0));
            legs.extend(mxn.filter(|m| m.1).map(|m| m.0));
            how = "linked";
        } else if let Some(e) = exch {
            // the cash traced to an exchange, and the exchange paying out its value: a
            // flow of the same money, stronger than amount and time alone
            legs.push(e.0);
            how = "crypto";
        } else if let (Some(c), Some(m)) = (cny, mxn)
            && !stacked(&p.deposits, self.cfg.band, ctx).is_empty()
            && !self.fits_another_better(&p, c.0, m.0, ctx)
        {
            // nothing but amount and time: both legs, and the cash itself suspicious
            // (structured, funnelled, or placed by a nominee profile)
            legs.extend([c.0, m.0]);
            how = "amount_and_time";
        } else {
            self.judge_combined(p, ctx, out);
            return;
        }
        let ramps = if how == "crypto" { ramps } else { Vec::new() };
        self.matched_swap(p, legs, ramps, how, ctx, out);
    }

    /// How far a CNY leg `c` and an MXN leg `m` sit from the middle of their bands against
    /// `total` (bp, summed): the closer, the better the pair fits that cash.
    fn misfit(&self, total: i128, c: &Leg, m: &Leg) -> i128 {
        let off = |l: &Leg, band: (i128, i128)| {
            let bp = (l.tx.usd - total) * 10_000 / total.max(1);
            (bp - (band.0 + band.1) / 2).abs()
        };
        off(c, self.cfg.cny_band_bp) + off(m, self.cfg.mxn_band_bp)
    }

    /// Whether the legs that amount and time alone give placement `p` fit another open
    /// placement of suspicious cash better (both in its bands and within the leg window
    /// of its deposits, closer to the middle of the bands): each leg matches one
    /// placement, the closest in value, not the one judged first. `p` then leaves them.
    fn fits_another_better(&self, p: &Placement, c: u64, m: u64, ctx: &DetectCtx) -> bool {
        let (Some(cl), Some(ml)) = (self.legs.get(&c), self.legs.get(&m)) else { return false };
        let mine = self.misfit(p.total, cl, ml);
        let w = self.cfg.leg_window_us;
        let in_band = |total: i128, l: &Leg, band: (i128, i128)| {
            let (lo, hi) = band_range(total, band);
            (lo..=hi).contains(&l.tx.usd)
        };
        self.open.values().any(|q| {
            let (Some(first), Some(last)) = (q.deposits.first(), q.deposits.last()) else { return false };
            q.party != p.party
                && q.total >= self.cfg.min_usd
                && [cl, ml].iter().all(|l| l.tx.ts >= last.ts - w && l.tx.ts <= first.ts + w)
                && in_band(q.total, cl, self.cfg.cny_band_bp)
                && in_band(q.total, ml, self.cfg.mxn_band_bp)
                && self.misfit(q.total, cl, ml) < mine
                && !stacked(&q.deposits, self.cfg.band, ctx).is_empty()
        })
    }

    /// A structured placement that matched nothing alone, tried together with one or two
    /// other structured placements of unlinked accounts (open, or judged unmatched within
    /// the last windows) whose deposits all fall within one leg window: nominees of one
    /// broker that nothing in the data links. With nothing but amount and time, both a CNY
    /// and an MXN leg must match the combined cash.
    fn judge_combined(&mut self, p: Placement, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let w = self.cfg.leg_window_us;
        let p_first = p.deposits.first().map_or(0, |d| d.ts);
        // nominees' cash: structured, into accounts whose cash is mostly structured (a cash
        // business's nights in the band are not a nominee's placement)
        let due = p_first + w;
        let nominee = |me: &Self, q: &Placement| {
            structured(&q.deposits, me.cfg.band) && q.deposits.iter().all(|d| me.nominee_shaped(&d.dst, due))
        };
        if !nominee(self, &p) {
            return;
        }
        self.spare.retain(|q| q.deposits.last().is_some_and(|d| d.ts >= p_first - w));
        // candidates: (source, key) in a stable order; source 0 = spare index, 1 = open party
        let mut cands: Vec<(i64, Arc<str>, bool)> = self
            .spare
            .iter()
            .filter(|q| nominee(self, q))
            .map(|q| (q.deposits[0].ts, q.party.clone(), false))
            .chain(
                self.open
                    .values()
                    .filter(|q| !q.deposits.is_empty() && nominee(self, q))
                    .map(|q| (q.deposits[0].ts, q.party.clone(), true)),
            )
            .filter(|c| c.1 != p.party)
            .collect();
        cands.sort();
        cands.truncate(MAX_COMBINED_CANDIDATES);
        let get = |me: &Self, c: &(i64, Arc<str>, bool)| -> Option<(Vec<Tx>, i128)> {
            let q = if c.2 { me.open.get(&c.1) } else { me.spare.iter().find(|q| q.party == c.1) }?;
            Some((q.deposits.clone(), q.total))
        };
        let n = cands.len();
        let mut found: Option<(Vec<usize>, u64, u64)> = None;
        let picks = (0..n).map(|i| vec![i]).chain((0..n).flat_map(|i| ((i + 1)..n).map(move |j| vec![i, j])));
        for pick in picks {
            let mut deps: Vec<Tx> = p.deposits.clone();
            let mut total = p.total;
            for &k in &pick {
                if let Some((d, t)) = get(self, &cands[k]) {
                    deps.extend(d);
                    total += t;
                }
            }
            let lo_t = deps.iter().map(|d| d.ts).min().unwrap_or(0);
            let hi_t = deps.iter().map(|d| d.ts).max().unwrap_or(0);
            if hi_t - lo_t > w {
                continue;
            }
            let (lo, hi) = (hi_t - w, lo_t + w);
            let none: [&str; 0] = [];
            let cny = self.best_leg(LegKind::Cny, total, self.cfg.cny_band_bp, lo, hi, &none);
            let mxn = self.best_leg(LegKind::Mxn, total, self.cfg.mxn_band_bp, lo, hi, &none);
            if let (Some(c), Some(m)) = (cny, mxn) {
                found = Some((pick, c.0, m.0));
                break;
            }
        }
        let Some((pick, c, m)) = found else {
            self.spare.push_back(p);
            return;
        };
        let mut parts = vec![p];
        for &k in &pick {
            let (ts0, party, open) = &cands[k];
            let q = if *open {
                self.open.remove(party)
            } else {
                let at = self.spare.iter().position(|q| q.party == *party && q.deposits[0].ts == *ts0);
                at.and_then(|i| self.spare.remove(i))
            };
            parts.extend(q);
        }
        let mut names: Vec<&str> = parts.iter().map(|q| &*q.party).collect();
        names.sort_unstable();
        let mut deposits: Vec<Tx> = parts.iter().flat_map(|q| q.deposits.iter().cloned()).collect();
        deposits.sort();
        let combined =
            Placement { party: Arc::from(names.join(" + ")), total: parts.iter().map(|q| q.total).sum(), deposits };
        self.matched_swap(combined, vec![c, m], Vec::new(), "amount_and_time", ctx, out);
    }

    /// Marks a match's legs used (no later match takes them) and its deposits and legs
    /// matched, and counts the match by how it was found.
    fn claim<'a>(&mut self, legs: impl IntoIterator<Item = &'a u64>, deposits: &[Tx], how: &str) {
        mirrorflow_core::metrics::metrics().mirror_matches.with_label_values(&[how]).inc();
        for id in legs {
            if let Some(l) = self.legs.get_mut(id) {
                l.used = true;
                self.by_value.remove(&(l.kind, l.tx.usd, l.tx.seq));
                self.matched.insert(l.tx.seq);
            }
        }
        for d in deposits {
            self.matched.insert(d.seq);
        }
    }

    /// Marks a match's legs and deposits used and alerts it.
    fn matched_swap(
        &mut self,
        p: Placement,
        legs: Vec<u64>,
        ramps: Vec<Tx>,
        how: &str,
        ctx: &DetectCtx,
        out: &mut Vec<Alert>,
    ) {
        self.claim(&legs, &p.deposits, how);
        let legs: Vec<(LegKind, Tx, Arc<str>)> =
            legs.iter().filter_map(|id| self.legs.get(id)).map(|l| (l.kind, l.tx.clone(), l.broker.clone())).collect();
        self.stats.swaps += 1;
        let alert = self.swap_alert(&p, &legs, &ramps, how, ctx);
        self.history.entry(p.party.clone()).or_default().push(alert.alert_id.clone());
        out.push(alert);
    }

    /// Netting windows of every party that end on day `d`.
    fn judge_netting(&mut self, d: i64, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let mut parties: Vec<Arc<str>> = self
            .days
            .iter()
            .filter(|(_, m)| m.range(d - i64::from(self.cfg.netting_days.1) + 1..=d).any(|(_, s)| !s.us.is_empty()))
            .filter(|(_, m)| m.contains_key(&d))
            .map(|(p, _)| p.clone())
            .collect();
        parties.sort();
        let tol = self.cfg.netting_bp;
        for party in parties {
            let through = self.netted_through.get(&party).copied().unwrap_or(i64::MIN);
            let Some(m) = self.days.get(&party) else { continue };
            let unmatched =
                |v: &Vec<Tx>| -> Vec<Tx> { v.iter().filter(|t| !self.matched.contains(&t.seq)).cloned().collect() };
            let mut found: Option<(i64, Vec<Tx>, Vec<Tx>, Vec<Tx>)> = None;
            for w in self.cfg.netting_days.0..=self.cfg.netting_days.1 {
                let start = d - i64::from(w) + 1;
                if start <= through {
                    break;
                }
                let (mut us, mut cn, mut mx) = (Vec::new(), Vec::new(), Vec::new());
                for (_, s) in m.range(start..=d) {
                    us.extend(unmatched(&s.us));
                    cn.extend(unmatched(&s.cny));
                    mx.extend(unmatched(&s.mxn));
                }
                let total = |v: &[Tx]| v.iter().map(|t| t.usd).sum::<i128>();
                let (u, c, x) = (total(&us), total(&cn), total(&mx));
                if u < self.cfg.netting_min_usd || (c == 0 && x == 0) {
                    continue;
                }
                // a side balances the cash within the tolerance; a side that does not is
                // left out of the evidence (its flows may be the party's other business)
                let balanced = |side: i128| side > 0 && (side - u).abs() * 10_000 <= u * tol;
                if balanced(c) || balanced(x) {
                    let cn = if balanced(c) { cn } else { Vec::new() };
                    let mx = if balanced(x) { mx } else { Vec::new() };
                    // netting is a book of several flows: one CNY credit and one MXN payout
                    // are a pair of legs, judged by the swap matcher's bands and window
                    if cn.len() < 2 && mx.len() < 2 {
                        self.stats.netting_single_legs += 1;
                        continue;
                    }
                    found = Some((start, us, cn, mx));
                    break;
                }
            }
            if let Some((start, us, cn, mx)) = found {
                self.netted_through.insert(party.clone(), d);
                for t in us.iter().chain(&cn).chain(&mx) {
                    self.matched.insert(t.seq);
                }
                self.stats.netted += 1;
                mirrorflow_core::metrics::metrics().mirror_matches.with_label_values(&["netted"]).inc();
                let alert = self.netted_alert(&party, start, d, &us, &cn, &mx, ctx);
                self.history.entry(party.clone()).or_default().push(alert.alert_id.clone());
                out.push(alert);
            }
        }
    }
}

/// The USD values `[lo, hi]` a leg may carry against `usd` of cash, for a band in bp.
fn band_range(usd: i128, band: (i128, i128)) -> (i128, i128) {
    (usd * (10_000 + band.0) / 10_000, usd * (10_000 + band.1) / 10_000)
}

/// The day's rate the leg was valued at, as text.
fn rate_of(ctx: &DetectCtx, t: &Tx) -> Option<String> {
    let r = ctx.fx.rate(&t.currency, t.ts.div_euclid(DAY) as i32)?;
    Some(trim_amount(format_decimal(r, schema::AMOUNT_SCALE as u32)))
}

/// At least two deposits in the structuring band (`MirrorConfig::band`).
fn structured(deposits: &[Tx], band: (i128, i128)) -> bool {
    deposits.iter().filter(|t| t.usd >= band.0 && t.usd < band.1).count() >= 2
}

/// Structured placements a combined match looks at, at most (the earliest first).
const MAX_COMBINED_CANDIDATES: usize = 64;

/// What stacks on a placement's deposits: structuring, funnel, nominee profiles.
fn stacked(deposits: &[Tx], band: (i128, i128), ctx: &DetectCtx) -> Vec<&'static str> {
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

fn severity(score: f64) -> Severity {
    if score >= 0.85 {
        Severity::Critical
    } else if score >= 0.7 {
        Severity::High
    } else if score >= 0.55 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn tx_json(t: &Tx) -> serde_json::Value {
    serde_json::json!({
        "tx_id": &*t.tx_id, "ts": format_ts(t.ts), "from": &*t.src, "to": &*t.dst,
        "amount": &*t.amount, "currency": &*t.currency, "amount_usd": usd_text(t.usd),
        "channel": &*t.channel, "location": t.location.as_deref(),
    })
}

fn links_json(links: &[Link]) -> Vec<serde_json::Value> {
    links.iter().map(|l| serde_json::json!({"a": l.a, "b": l.b, "reason": l.reason, "value": l.value})).collect()
}

fn link_words(links: &[Link]) -> String {
    let mut reasons: Vec<String> = links
        .iter()
        .map(|l| match l.reason.as_str() {
            "customer_id" => format!("{} and {} belong to customer {}", l.a, l.b, l.value),
            other => format!("{} and {} share a {}", l.a, l.b, other.trim_end_matches("_hash")),
        })
        .collect();
    reasons.dedup();
    reasons.join("; ")
}

/// Where the cash was placed, for a narrative: " at branches in CA, NV" (nothing when
/// the deposits carry no location).
fn at_branches(states: &BTreeSet<&str>) -> String {
    if states.is_empty() { String::new() } else { format!(" at branches in {}", cash_states(states)) }
}

/// The states where the cash was placed, or "the US" when the deposits carry no location.
fn cash_states(states: &BTreeSet<&str>) -> String {
    if states.is_empty() { "the US".to_string() } else { states.iter().copied().collect::<Vec<_>>().join(", ") }
}

/// Countries of `accounts`, sorted (the shared builder's, over this run's accounts table).
fn jurisdictions(accounts: &[&str], ctx: &DetectCtx) -> Vec<String> {
    build::jurisdictions(accounts.iter().copied(), &ctx.accounts)
}

/// Accounts, then the customer ids behind them, sorted (a swap's parties have no order).
fn subjects(accounts: &[&str], ctx: &DetectCtx) -> Vec<String> {
    build::subjects_by_party(accounts.iter().copied(), &ctx.accounts)
}

impl MirrorDetector {
    fn swap_alert(
        &self,
        p: &Placement,
        legs: &[(LegKind, Tx, Arc<str>)],
        ramps: &[Tx],
        how: &str,
        ctx: &DetectCtx,
    ) -> Alert {
        let first = p.deposits.first().map_or(0, |d| d.ts);
        let last_dep = p.deposits.last().map_or(0, |d| d.ts);
        let us_accounts: Vec<&str> = {
            let mut v: Vec<&str> = p.deposits.iter().map(|d| &*d.dst).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let parties = self.parties();
        let mut link_accounts: Vec<&str> = us_accounts.clone();
        link_accounts.extend(legs.iter().map(|l| &*l.2));
        let links = if how == "linked" { parties.links_between(&link_accounts) } else { Vec::new() };
        let leg_details: Vec<serde_json::Value> = legs
            .iter()
            .map(|(kind, t, broker)| {
                let gap = (t.ts - first).max(t.ts - last_dep);
                serde_json::json!({
                    "leg": kind.name(),
                    "transaction": tx_json(t),
                    "broker_account": &**broker,
                    "fx_rate_usd_per_unit": rate_of(ctx, t),
                    "value_vs_us_cash_pct": (deviation_pct(t.usd, p.total) * 100.0).round() / 100.0,
                    "time_gap_hours": hours(gap),
                    "linked_to_us_accounts": parties.same(broker, us_accounts[0]) || us_accounts.iter().any(|a| parties.same(a, broker)),
                })
            })
            .collect();
        let stack = stacked(&p.deposits, self.cfg.band, ctx);
        let prior = self.history.get(&p.party).map_or(0, Vec::len);
        // score: the strength of the evidence
        let mut score: f64 = 0.5;
        if how == "linked" {
            score += if links.iter().any(|l| l.reason == "customer_id") { 0.2 } else { 0.15 };
        }
        if legs.len() >= 2 {
            score += 0.1;
        }
        if how == "crypto" {
            score += 0.1;
        }
        let closeness: f64 = legs
            .iter()
            .map(|(kind, t, _)| {
                let band = if *kind == LegKind::Cny { self.cfg.cny_band_bp } else { self.cfg.mxn_band_bp };
                let mid = (band.0 + band.1) as f64 / 2.0;
                let half = ((band.1 - band.0) as f64 / 2.0).max(1.0);
                1.0 - ((deviation_pct(t.usd, p.total) * 100.0 - mid).abs() / half).min(1.0)
            })
            .fold(0.0, f64::max);
        score += 0.05 * closeness;
        score += 0.05 * stack.len() as f64;
        if prior > 0 {
            score += 0.05;
        }
        let score = (score.min(1.0) * 100.0).round() / 100.0;

        let mut evidence: Vec<&Tx> = p.deposits.iter().chain(legs.iter().map(|l| &l.1)).chain(ramps).collect();
        evidence.sort();
        evidence.dedup();
        let tx_ids: Vec<String> = evidence.iter().map(|t| t.tx_id.to_string()).collect();
        let (first_ts, last_ts) = (evidence.first().map_or(0, |t| t.ts), evidence.last().map_or(0, |t| t.ts));
        let mut all_accounts: Vec<&str> = us_accounts.clone();
        for (_, t, _) in legs {
            all_accounts.extend([&*t.src, &*t.dst]);
        }
        let states: BTreeSet<&str> = p.deposits.iter().filter_map(|t| t.location.as_deref()).collect();
        let leg_words: Vec<String> = legs
            .iter()
            .map(|(kind, t, _)| {
                let what = match kind {
                    LegKind::Cny => format!("{} paid CNY {} into Chinese account {}", t.src, t.amount, t.dst),
                    LegKind::Mxn => format!("Mexican account {} paid MXN {} to {}", t.src, t.amount, t.dst),
                    LegKind::MxnExchange => {
                        format!("Mexican exchange account {} paid MXN {} to {}", t.src, t.amount, t.dst)
                    }
                };
                format!(
                    "on {} {what} (USD {} at {} USD per unit, {:+.1}% of the cash)",
                    format_ts(t.ts),
                    usd_text(t.usd),
                    rate_of(ctx, t).unwrap_or_else(|| "an unknown rate".into()),
                    deviation_pct(t.usd, p.total)
                )
            })
            .collect();
        let why = match how {
            "linked" => format!(
                "the foreign legs' broker accounts are the same party as the US accounts ({})",
                link_words(&links)
            ),
            "crypto" => format!(
                "the cash was sent to a cryptocurrency exchange ({}) and an exchange in Mexico paid out the same value",
                ramps
                    .iter()
                    .map(|t| format!("{} USD {} on {}", t.tx_id, usd_text(t.usd), format_ts(t.ts)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "a CNY leg and an MXN leg both match the cash in value and time, with no transaction between them"
                .to_string(),
        };
        let narrative = format!(
            "Suspected mirror transfer by a Chinese money-laundering network ({KEY_TERM}). Who: US account(s) {} \
             (party {}){}. What: USD {} in cash was deposited in {} deposit(s){}, and {}. When: from {} to {}. \
             Where: cash in {}; legs in {}. Why: {}{}{}. How: a mirror swap settles value between the United States, \
             China and Mexico by offsetting balances, with no cross-border transfer between the legs.",
            us_accounts.join(", "),
            p.party,
            if prior > 0 { format!(", seen in {prior} earlier swap(s)") } else { String::new() },
            usd_text(p.total),
            p.deposits.len(),
            at_branches(&states),
            leg_words.join("; and "),
            format_ts(first_ts),
            format_ts(last_ts),
            cash_states(&states),
            jurisdictions(&all_accounts, ctx).join(", "),
            why,
            if stack.is_empty() { String::new() } else { format!("; the deposits also show {}", stack.join(", ")) },
            format!(" (score {score:.2})"),
        );
        Alert {
            alert_id: alert_id(SWAP_RULE_ID, RULE_VERSION, &tx_ids),
            rule_id: SWAP_RULE_ID.into(),
            rule_version: RULE_VERSION.into(),
            typology: "T6".into(),
            severity: severity(score),
            score,
            subjects: subjects(&all_accounts, ctx),
            tx_ids,
            first_ts: format_ts(first_ts),
            last_ts: format_ts(last_ts),
            amount_usd: usd_text(p.total),
            jurisdictions: jurisdictions(&all_accounts, ctx),
            details: serde_json::json!({
                "match": how,
                // the loops the mirror link closes: cash (US) -> US accounts ~ broker (MX) ->
                // recipient (MX); client (CN) -> broker (CN) ~ US accounts (whose dollars go to
                // the client's US beneficiary)
                "loops": legs.iter().map(|(kind, t, broker)| match kind {
                    LegKind::Cny => serde_json::json!([
                        {"from": &*t.src, "to": &*t.dst, "via": "CNY transfer", "tx_id": &*t.tx_id},
                        {"from": &**broker, "to": us_accounts.join(", "), "via": "mirror link (no transaction)"},
                    ]),
                    _ => serde_json::json!([
                        {"from": "cash", "to": us_accounts.join(", "), "via": "cash deposits"},
                        {"from": us_accounts.join(", "), "to": &**broker, "via": "mirror link (no transaction)"},
                        {"from": &*t.src, "to": &*t.dst, "via": "MXN payout", "tx_id": &*t.tx_id},
                    ]),
                }).collect::<Vec<_>>(),
                "party": &*p.party,
                "us_cash": {
                    "accounts": us_accounts,
                    "total_usd": usd_text(p.total),
                    "deposits": p.deposits.iter().map(tx_json).collect::<Vec<_>>(),
                    "states": states,
                },
                "legs": leg_details,
                "on_ramps": ramps.iter().map(tx_json).collect::<Vec<_>>(),
                "party_links": links_json(&links),
                "stacked_typologies": stack,
                "earlier_swaps_of_party": self.history.get(&p.party).cloned().unwrap_or_default(),
                "params": {
                    "cny_band_pct": [self.cfg.cny_band_bp.0 as f64 / 100.0, self.cfg.cny_band_bp.1 as f64 / 100.0],
                    "mxn_band_pct": [self.cfg.mxn_band_bp.0 as f64 / 100.0, self.cfg.mxn_band_bp.1 as f64 / 100.0],
                    "leg_window_hours": hours(self.cfg.leg_window_us),
                },
            }),
            narrative,
            status: Status::Open,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn netted_alert(
        &self,
        party: &Arc<str>,
        start: i64,
        end: i64,
        us: &[Tx],
        cn: &[Tx],
        mx: &[Tx],
        ctx: &DetectCtx,
    ) -> Alert {
        let total = |v: &[Tx]| v.iter().map(|t| t.usd).sum::<i128>();
        let (u, c, x) = (total(us), total(cn), total(mx));
        let mut evidence: Vec<&Tx> = us.iter().chain(cn).chain(mx).collect();
        evidence.sort();
        let tx_ids: Vec<String> = evidence.iter().map(|t| t.tx_id.to_string()).collect();
        let mut accounts: Vec<&str> = us.iter().map(|t| &*t.dst).collect();
        accounts.extend(cn.iter().map(|t| &*t.dst));
        accounts.extend(mx.iter().map(|t| &*t.src));
        accounts.sort_unstable();
        accounts.dedup();
        let links = self.parties().links_between(&accounts);
        let mut all: Vec<&str> = accounts.clone();
        all.extend(cn.iter().map(|t| &*t.src));
        all.extend(mx.iter().map(|t| &*t.dst));
        let stack = stacked(us, self.cfg.band, ctx);
        let prior = self.history.get(party).map_or(0, Vec::len);
        let mut score = 0.55 + 0.05 * stack.len() as f64;
        if c > 0 && x > 0 {
            score += 0.15;
        }
        if links.iter().any(|l| l.reason == "customer_id") {
            score += 0.05;
        }
        if prior > 0 {
            score += 0.05;
        }
        let score = (score.min(1.0) * 100.0).round() / 100.0;
        let day = |d: i64| format_ts(d * DAY)[..10].to_string();
        let days = end - start + 1;
        let side = |name: &str, v: i128, n: usize| {
            if n == 0 {
                String::new()
            } else {
                format!("; {name} USD {} in {n} transfer(s) ({:+.1}%)", usd_text(v), deviation_pct(v, u))
            }
        };
        let narrative = format!(
            "Suspected netted mirror transfers by a Chinese money-laundering network ({KEY_TERM}). Who: party {party} \
             (accounts {}){}. What: over {days} day(s) from {} to {}, USD {} of cash placed in its US accounts in {} \
             deposit(s) is balanced by its foreign flows{}{}, within {:.0}%, though no single pair of legs matches. \
             Where: {}. Why: a broker's daily US cash and its CNY and MXN flows that net to the same value are the \
             books of a mirror swap settled in bulk; the accounts are one party because {}{}. How: value moves \
             between the United States, China and Mexico by offsetting balances, with no cross-border transfer.",
            accounts.join(", "),
            if prior > 0 { format!(", seen in {prior} earlier alert(s)") } else { String::new() },
            day(start),
            day(end),
            usd_text(u),
            us.len(),
            side("CNY credits into its Chinese accounts worth", c, cn.len()),
            side("MXN payouts from its Mexican accounts worth", x, mx.len()),
            self.cfg.netting_bp as f64 / 100.0,
            jurisdictions(&all, ctx).join(", "),
            if links.is_empty() { "they are one account".to_string() } else { link_words(&links) },
            if stack.is_empty() { String::new() } else { format!("; the deposits also show {}", stack.join(", ")) },
        );
        Alert {
            alert_id: alert_id(NETTED_RULE_ID, RULE_VERSION, &tx_ids),
            rule_id: NETTED_RULE_ID.into(),
            rule_version: RULE_VERSION.into(),
            typology: "T6".into(),
            severity: severity(score),
            score,
            subjects: subjects(&all, ctx),
            tx_ids,
            first_ts: format_ts(evidence.first().map_or(0, |t| t.ts)),
            last_ts: format_ts(evidence.last().map_or(0, |t| t.ts)),
            amount_usd: usd_text(u),
            jurisdictions: jurisdictions(&all, ctx),
            details: serde_json::json!({
                "match": "netted",
                "party": &**party,
                "days": [day(start), day(end)],
                "us_cash_usd": usd_text(u),
                "cny_in_usd": usd_text(c),
                "mxn_out_usd": usd_text(x),
                "cny_vs_us_pct": if c > 0 { Some((deviation_pct(c, u) * 100.0).round() / 100.0) } else { None },
                "mxn_vs_us_pct": if x > 0 { Some((deviation_pct(x, u) * 100.0).round() / 100.0) } else { None },
                "us_cash": us.iter().map(tx_json).collect::<Vec<_>>(),
                "cny_legs": cn.iter().map(|t| { let mut j = tx_json(t); j["fx_rate_usd_per_unit"] = rate_of(ctx, t).into(); j }).collect::<Vec<_>>(),
                "mxn_legs": mx.iter().map(|t| { let mut j = tx_json(t); j["fx_rate_usd_per_unit"] = rate_of(ctx, t).into(); j }).collect::<Vec<_>>(),
                "party_links": links_json(&links),
                "stacked_typologies": stack,
                "earlier_alerts_of_party": self.history.get(party).cloned().unwrap_or_default(),
                "params": { "netting_tolerance_pct": self.cfg.netting_bp as f64 / 100.0, "days": [self.cfg.netting_days.0, self.cfg.netting_days.1] },
            }),
            narrative,
            status: Status::Open,
        }
    }
}

impl Detector for MirrorDetector {
    fn id(&self) -> &str {
        "mirror"
    }

    fn notes(&self) -> Vec<mirrorflow_core::detect::DetectorNote> {
        use mirrorflow_core::detect::{DetectorNote, thousands};
        let s = &self.stats;
        let floor = format_decimal((self.cfg.min_usd + 5_000) / 10_000 * 10_000, 6);
        let floor = floor.strip_suffix("0000").unwrap_or(&floor);
        let mut n = if s.deposits == 0 {
            DetectorNote::warn(
                "mirror",
                "mirror: no US cash deposits (channel cash_deposit, USD, into a US account): no placement to match"
                    .into(),
            )
        } else if s.judged_at_floor == 0 {
            DetectorNote::warn(
                "mirror",
                format!(
                    "mirror: 0 of {} placements ({} US cash deposits) at or above the amount floor (mirror.min-amount-usd = {floor})",
                    thousands(s.judged),
                    thousands(s.deposits)
                ),
            )
        } else {
            DetectorNote::info(
                "mirror",
                format!(
                    "mirror: {} of {} placements ({} US cash deposits) at or above the amount floor (mirror.min-amount-usd = {floor})",
                    thousands(s.judged_at_floor),
                    thousands(s.judged),
                    thousands(s.deposits)
                ),
            )
        };
        n.rows_seen = Some(s.deposits);
        n.rows_eligible = Some(s.judged_at_floor);
        vec![n]
    }

    fn on_batch(&mut self, batch: &RecordBatch, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        if self.parties.is_none() {
            let p = Parties::resolve(&ctx.accounts, &self.cfg.parties);
            tracing::info!(
                parties = p.report.parties,
                multi_account = p.report.multi_account_parties,
                largest = p.report.largest_party,
                capped_values = p.report.capped_values.values().sum::<u64>(),
                capped_links = p.report.capped_links,
                "parties resolved"
            );
            // parties that span the US and China or Mexico, each judged once
            let cross: std::collections::HashSet<u32> = (0..p.report.parties as u32)
                .filter(|&party| {
                    let members = p.members(party);
                    if members.len() < 2 {
                        return false;
                    }
                    let countries: BTreeSet<String> =
                        members.iter().filter_map(|m| ctx.accounts.field(m, acct::COUNTRY)).collect();
                    countries.contains("US") && (countries.contains("CN") || countries.contains("MX"))
                })
                .collect();
            self.cross_border = cross;
            self.parties = Some(p);
        }
        let col = |n: &str| batch.column_by_name(n).expect("enriched column");
        let s = |n: &str| col(n).as_string::<i32>();
        let (ids, src, dst, cur, chan, loc) =
            (s(tx::TX_ID), s(tx::SRC_ACCOUNT), s(tx::DST_ACCOUNT), s(tx::CURRENCY), s(tx::CHANNEL), s(tx::LOCATION));
        let (src_kind, dst_kind, src_country, dst_country) =
            (s("src_kind"), s("dst_kind"), s("src_country"), s("dst_country"));
        let ts = col(tx::TS).as_primitive::<TimestampMicrosecondType>();
        let seq = col(tx::SEQ).as_primitive::<UInt64Type>();
        let amount = col(tx::AMOUNT).as_primitive::<Decimal128Type>();
        let usd = col(tx::AMOUNT_USD).as_primitive::<Decimal128Type>();
        let mut out = Vec::new();
        for i in 0..batch.num_rows() {
            let now = ts.value(i);
            self.last_ts = Some(now);
            self.advance(now, ctx, &mut out);
            if usd.is_null(i) {
                continue;
            }
            let (src_a, dst_a) = (get(src, i), get(dst, i));
            let (currency, channel) = (cur.value(i), get(chan, i).unwrap_or(""));
            let is_kind = |k: &StringArray, list: &[String]| get(k, i).is_some_and(|v| list.iter().any(|x| x == v));
            enum Row {
                Deposit,
                Leg(LegKind),
                Ramp,
            }
            let what = if channel == "cash_deposit"
                && dst_a.is_some()
                && get(dst_country, i) == Some("US")
                && currency == "USD"
            {
                Some(Row::Deposit)
            } else if currency == "CNY"
                && dst_a.is_some()
                && get(dst_country, i) == Some("CN")
                && !is_kind(dst_kind, &self.cfg.skip_kinds)
                && !is_kind(dst_kind, &self.cfg.exchange_kinds)
            {
                Some(Row::Leg(LegKind::Cny))
            } else if currency == "MXN"
                && src_a.is_some()
                && dst_a.is_some()
                && get(src_country, i) == Some("MX")
                // paid within Mexico (or to an account the bank does not know): an MXN
                // wire to a known foreign account crosses the border, and a mirror leg
                // never does
                && get(dst_country, i).is_none_or(|c| c == "MX")
                && !is_kind(src_kind, &self.cfg.skip_kinds)
            {
                Some(Row::Leg(if is_kind(src_kind, &self.cfg.exchange_kinds) {
                    LegKind::MxnExchange
                } else {
                    LegKind::Mxn
                }))
            } else if src_a.is_some()
                && get(src_country, i) == Some("US")
                && is_kind(dst_kind, &self.cfg.exchange_kinds)
                && currency == "USD"
            {
                Some(Row::Ramp)
            } else {
                None
            };
            // payments out of accounts with cash (shared beneficiaries tie nominees)
            if self.cfg.network.is_some()
                && !channel.starts_with("cash")
                && get(src_country, i) == Some("US")
                && let (Some(s_), Some(d_)) = (src_a, dst_a)
                && s_ != d_
                && self.net.cash_account(s_)
            {
                let (s_, d_) = (self.intern(s_), self.intern(d_));
                self.net_payment(s_, d_, now);
            }
            let Some(what) = what else { continue };
            let t = Tx {
                ts: now,
                seq: seq.value(i),
                tx_id: Arc::from(ids.value(i)),
                src: src_a.map_or_else(|| Arc::from(""), |a| self.intern(a)),
                dst: dst_a.map_or_else(|| Arc::from(""), |a| self.intern(a)),
                usd: usd.value(i),
                amount: Arc::from(trim_amount(format_decimal(amount.value(i), schema::AMOUNT_SCALE as u32)).as_str()),
                currency: self.intern(currency),
                channel: self.intern(channel),
                location: get(loc, i).map(|l| self.intern(l)),
            };
            match what {
                Row::Deposit => self.add_deposit(t),
                Row::Leg(kind) => {
                    let broker = if kind == LegKind::Cny { t.dst.clone() } else { t.src.clone() };
                    self.add_leg(kind, t, broker);
                }
                Row::Ramp => {
                    let party = self.party(&t.src);
                    self.on_ramps.entry(party).or_default().push_back(t);
                }
            }
        }
        mirrorflow_core::metrics::metrics().mirror_open_legs.set(self.legs.values().filter(|l| !l.used).count() as i64);
        Ok(out)
    }

    fn on_finish(&mut self, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        if self.parties.is_none() {
            return Ok(out);
        }
        // end of input: everything is due (placements, and the netting windows of every
        // day seen)
        if let Some(last) = self.last_ts {
            self.advance(last + self.cfg.leg_window_us + 3 * DAY, ctx, &mut out);
        }
        tracing::info!(
            deposits = self.stats.deposits,
            legs = self.stats.legs,
            placements = self.stats.placements,
            swaps = self.stats.swaps,
            netted = self.stats.netted,
            network = self.stats.network,
            network_bound_hits = self.stats.network_bound_hits,
            network_capped = self.stats.network_capped,
            max_open_legs = self.stats.max_open_legs,
            "mirror stage"
        );
        if self.stats.network_bound_hits > 0 {
            tracing::warn!(
                searches = self.stats.network_bound_hits,
                "mirror: network searches stopped at `mirror.network-search-budget` (matches may have been missed)"
            );
        }
        Ok(out)
    }

    /// Open placements, live legs, netting days and what was matched: a resumed run must
    /// match legs across the cut.
    fn save_state(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.saved())
            .map_err(|e| mirrorflow_core::error::Error::Internal(format!("mirror state: {e}")))
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        let saved: Saved = serde_json::from_value(state).map_err(|e| {
            mirrorflow_core::error::Error::Config(vec![format!(
                "checkpoint: the mirror stage's state does not read: {e}"
            )])
        })?;
        self.restore(saved);
        Ok(())
    }
}

impl MirrorDetector {
    fn saved(&self) -> Saved {
        let sorted = |mut v: Vec<(Arc<str>, Vec<Tx>)>| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let mut open: Vec<&Placement> = self.open.values().collect();
        open.sort_by(|a, b| a.party.cmp(&b.party));
        let mut legs: Vec<&Leg> = self.legs.values().collect();
        legs.sort_by_key(|l| l.tx.seq);
        let mut days: Vec<(Arc<str>, Vec<(i64, DaySums)>)> = self
            .days
            .iter()
            .map(|(p, m)| {
                let v = m.iter().map(|(d, s)| (*d, s.clone())).collect();
                (p.clone(), v)
            })
            .collect();
        days.sort_by(|a, b| a.0.cmp(&b.0));
        let mut netted_through: Vec<(Arc<str>, i64)> =
            self.netted_through.iter().map(|(p, d)| (p.clone(), *d)).collect();
        netted_through.sort();
        let mut history: Vec<(Arc<str>, Vec<String>)> =
            self.history.iter().map(|(p, v)| (p.clone(), v.clone())).collect();
        history.sort();
        Saved {
            open: open.into_iter().cloned().collect(),
            due: self.due.iter().cloned().collect(),
            legs: legs.into_iter().cloned().collect(),
            on_ramps: sorted(self.on_ramps.iter().map(|(p, v)| (p.clone(), v.iter().cloned().collect())).collect()),
            days,
            matched: self.matched.iter().copied().collect(),
            netted_through,
            judged_day: self.judged_day,
            history,
            last_ts: self.last_ts,
            spare: self.spare.iter().cloned().collect(),
            net: self.net.save(),
        }
    }

    fn restore(&mut self, s: Saved) {
        self.open = s.open.into_iter().map(|p| (p.party.clone(), p)).collect();
        self.due = s.due.into();
        for l in s.legs {
            if !l.used {
                self.by_value.insert((l.kind, l.tx.usd, l.tx.seq), ());
            }
            self.leg_order.push_back((l.tx.ts, l.tx.seq));
            self.legs.insert(l.tx.seq, l);
        }
        self.on_ramps = s.on_ramps.into_iter().map(|(p, v)| (p, v.into())).collect();
        self.days = s.days.into_iter().map(|(p, v)| (p, v.into_iter().collect())).collect();
        self.matched = s.matched.into_iter().collect();
        self.netted_through = s.netted_through.into_iter().collect();
        self.judged_day = s.judged_day;
        self.history = s.history.into_iter().collect();
        self.last_ts = s.last_ts;
        self.spare = s.spare.into();
        self.net = network::NetState::restore(s.net);
    }
}

fn get(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn trim_amount(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}
