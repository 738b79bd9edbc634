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
//! Owns: `MirrorDetector`, `MirrorConfig`, `MirrorStats`, the event-time clock (`advance`)
//! and the `Detector` seam; the concepts in submodules: `rows` (an enriched row read as a
//! deposit, a leg, an on-ramp or a payment), `placements`, `legs`, `matching` (the
//! one-to-one and combined matches), `netting`, `network`, `subset`, `alert` (the swap
//! alert and the evidence shared by every alert), `state` (checkpoints), `config`
//! (`[mirror]`), `tests`.
//! Must not: depend on batching: rows are taken one by one in `(ts, seq)` order and
//! everything is judged at event times.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::RecordBatch;
use serde::Serialize;

use crate::party::{Parties, PartyConfig};
use mirrorflow_core::alert::Alert;
use mirrorflow_core::detect::{DetectCtx, Detector, RawValue, load_json, save_json};
use mirrorflow_core::error::Result;
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::acct;
use mirrorflow_core::window::EventWindow;

mod alert;
mod config;
mod expiry;
mod legs;
mod matching;
mod netting;
pub mod network;
mod placements;
mod rows;
mod state;
mod subset;
#[cfg(test)]
mod tests;

pub use config::RawMirror;
use legs::{Leg, LegKind};
pub use network::{NETWORK_RULE_ID, NetworkConfig};
use placements::{DaySums, Placement, Tx};
use state::Saved;

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
    on_ramps_expiry: expiry::Expiry,
    /// Netted: by party, by day (days since 1970), what was not matched one to one.
    days: HashMap<Arc<str>, BTreeMap<i64, DaySums>>,
    /// The order the (party, day) entries of `days` age out in (in days).
    days_expiry: expiry::Expiry,
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
    /// Network matches that gave way to the next day's match closer in time to a leg both
    /// wanted.
    pub network_deferred: u64,
    /// Network matches taken into an earlier match's event (the same accounts placing
    /// again within `NETWORK_MERGE_DAYS`): alerted as one.
    pub network_merged: u64,
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
            on_ramps_expiry: expiry::Expiry::default(),
            days: HashMap::new(),
            days_expiry: expiry::Expiry::default(),
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
        self.forget_legs(now - (3 * self.cfg.leg_window_us).max(self.net_leg_horizon()));
        // the per-party maps are swept once per hour of event time
        let hour = now.div_euclid(HOUR);
        if self.swept_hour == Some(hour) {
            return;
        }
        let new_day = self.swept_hour.is_none_or(|h| h.div_euclid(24) != hour.div_euclid(24));
        self.swept_hour = Some(hour);
        if new_day {
            self.forget_unread();
        }
        self.net_sweep(now);
        self.forget_on_ramps(now - self.cfg.on_ramp_window_us - self.cfg.leg_window_us);
        let keep_days = today - i64::from(self.cfg.netting_days.1) - 2;
        let days = &mut self.days;
        self.days_expiry.expire(keep_days, |p| {
            if let Some(m) = days.get_mut(p) {
                while m.first_key_value().is_some_and(|(d, _)| *d < keep_days) {
                    m.pop_first();
                }
                if m.is_empty() {
                    days.remove(p);
                }
            }
        });
    }

    /// Once a day (event time): what only a past long gone would read. The interned names
    /// nothing holds any more (a party, a broker or an account last seen before every
    /// window), and the one-to-one matches older than every deposit and leg still held
    /// (netting and network matching ask of those only). Both would otherwise grow with
    /// every account and match of the run.
    fn forget_unread(&mut self) {
        self.names.retain(|_, a| Arc::strong_count(a) > 1);
        if self.names.capacity() > 1 << 12 && self.names.len() < self.names.capacity() / 4 {
            self.names.shrink_to(self.names.len() * 2);
        }
        let held = self.days.values().flat_map(|m| m.values()).flat_map(|s| s.us.iter().chain(&s.cny).chain(&s.mxn));
        let oldest = held.chain(&self.net.cash).chain(self.legs.values().map(|l| &l.tx)).map(|t| t.seq).min();
        match oldest {
            Some(seq) => self.matched = self.matched.split_off(&seq),
            None => self.matched.clear(),
        }
    }

    /// Resolves the parties (on the first batch) and the parties that span the US and
    /// China or Mexico, each judged once.
    fn resolve_parties(&mut self, ctx: &DetectCtx) {
        let p = Parties::resolve(&ctx.accounts, &self.cfg.parties);
        tracing::info!(
            parties = p.report.parties,
            multi_account = p.report.multi_account_parties,
            largest = p.report.largest_party,
            capped_values = p.report.capped_values.values().sum::<u64>(),
            capped_links = p.report.capped_links,
            "parties resolved"
        );
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

    /// New accounts: the parties are resolved again on the next batch (open placements
    /// and legs keep the party names they were filed under).
    fn side_tables_changed(&mut self, _ctx: &DetectCtx) -> Result<()> {
        self.parties = None;
        Ok(())
    }

    fn on_batch(&mut self, batch: &RecordBatch, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        if self.parties.is_none() {
            self.resolve_parties(ctx);
        }
        let cols = rows::Columns::of(batch);
        let mut out = Vec::new();
        for i in 0..batch.num_rows() {
            let now = cols.ts(i);
            self.last_ts = Some(now);
            self.advance(now, ctx, &mut out);
            self.take_row(&cols, i, now);
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
        // network events still open: nothing more can join them
        self.close_networks(None, ctx, &mut out);
        tracing::info!(
            deposits = self.stats.deposits,
            legs = self.stats.legs,
            placements = self.stats.placements,
            swaps = self.stats.swaps,
            netted = self.stats.netted,
            network = self.stats.network,
            network_bound_hits = self.stats.network_bound_hits,
            network_capped = self.stats.network_capped,
            network_deferred = self.stats.network_deferred,
            network_merged = self.stats.network_merged,
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
    fn save_state(&self, out: &mut dyn std::io::Write) -> Result<bool> {
        save_json("mirror stage's", out, &self.saved())
    }

    fn load_state(&mut self, state: &RawValue) -> Result<()> {
        let saved: Saved = load_json("mirror stage's", state)?;
        self.restore(saved);
        Ok(())
    }
}
