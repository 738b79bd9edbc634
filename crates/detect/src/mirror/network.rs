//! Network-level mirror swaps: one pickup's cash placed by several nominees into several
//! accounts over one or more days, matched against the sum of several CNY credits and
//! several MXN payouts.
//!
//! Real networks rarely map one deposit run to one foreign leg: the cash of one event is
//! spread over accounts that share no KYC attribute, the CNY comes from several clients
//! into more than one broker account, and the MXN leaves in parts. This stage judges, once
//! a UTC day's legs and the next day's have all arrived, the spans of 1..`network-days`
//! days ending on it:
//!
//! - **Placement accounts**: US accounts that received at least `network-min-band-deposits`
//!   cash deposits in the structuring band (`[band floor, CTR)`, the band of the SQL rule
//!   `010_structuring`; the CTR threshold is law) within the span, and whose cash deposits
//!   over `network-history` fall in that band at least `network-band-share` of the time
//!   (a nominee's cash is all just under the threshold; a cash business's nightly takings
//!   spread over every amount); or whose cash in the span is a burst new to them (more
//!   deposits than that, worth at least `min-amount-usd`, several on one day, none over
//!   the history before the span: a nominee fed a share of one pickup at any amounts);
//!   or whose cash is new to them and whose KYC profile is a nominee's (opened within
//!   `network-new-account-days`, or the cash over three months of the declared income:
//!   a nominee taking a deposit or two of a pickup shows neither structuring nor a
//!   burst).
//!   All their US cash in the span counts; the most cash first when
//!   `network-max-accounts` cuts.
//! - **Ties**: accounts of one party (KYC), opened together (`opened_at` within
//!   `cohort-days`, both new), or paying the same beneficiary; tied accounts go together.
//!   Co-timed structured cash is itself the behavioural tie of the rest.
//! - **Match**: subsets of the tied groups (largest first), each against a bounded
//!   subset-sum of the unused CNY credits (into CN accounts, not paid from the US) and of
//!   the unused MXN payouts within `leg-window` of the span: each side's sum within its FX
//!   band of the cash, at each leg's own day's rate. Where single legs match nothing, each
//!   broker account's legs are one lot (one or two lots or legs a side; a lot's legs may
//!   each be small): many clients paying one account for one pickup. A match that would
//!   take a leg after its span gives way to a match of the next day's spans that wants the
//!   same leg and whose legs lie closer in time to its cash. Both sides must match, and the cash
//!   accounts must be of at least `network-min-accounts` parties (one party's own flows
//!   are the one-to-one and netted matches'). Candidate sets and the search are
//!   capped (`network-max-accounts`, `network-max-candidates`, `network-max-legs`,
//!   `network-search-budget`); every cap that cuts a set or stops a search is counted
//!   (`MirrorStats`, the log, the alert's `details.search`).
//!
//! A match joins the open event of the same accounts (a placement account shared) when
//! its cash begins at most `NETWORK_MERGE_DAYS` after the event's last cash and the event's
//! cash spans fewer than twice `network-days` days: the same nominees working off one
//! pickup over more days than a span, not busy accounts that place every day chaining a
//! week of events. The event is alerted once no later match can join it.
//!
//! One alert per event (rule `mirror_network`), holding the cash and every leg of every
//! match, saying how the accounts were tied ("kyc", "behaviour: ...", "amount and time
//! only") with the evidence.
//!
//! Owns: `NetworkConfig`, the network state (recent cash, each account's cash shape and
//! payees, bounded by the event-time window) and its judgement.
//! Must not: key a decision on a memo, an industry or a dataset's amount range; keep state
//! beyond `network-history` plus the span.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Decimal128Type};
use serde::{Deserialize, Serialize};

use super::alert::{at_branches, band_pct, cash_states, day_text, jurisdictions, pct2, round_score, t6_alert, tx_json};
use super::expiry::{Expiry, drop_before};
use super::legs::{LegKind, rate_of};
use super::placements::{Tx, band_range};
use super::subset::best_subset;
use super::{DAY, KEY_TERM, Leg, MirrorDetector};
use mirrorflow_core::alert::Alert;
use mirrorflow_core::alert::build::{deviation_pct, hours, usd_text};
use mirrorflow_core::detect::DetectCtx;
use mirrorflow_core::schema::{USD_ONE, acct};
use mirrorflow_core::time::format_ts;

pub const NETWORK_RULE_ID: &str = "mirror_network";
pub use mirrorflow_core::money::CTR_USD;
/// The default structuring band `[8000, 10000)` USD: the declared defaults of the SQL rule
/// `010_structuring` (`band_floor_usd`, `ctr_threshold_usd`). The product's config passes
/// the rule's actual band (`rules::structuring_band`), overrides included.
pub const DEFAULT_BAND: (i128, i128) = (8_000 * USD_ONE, CTR_USD);

/// Most items of one side in a match by lots (each a broker account's legs, or a leg).
const LOT_ITEMS: usize = 2;

/// A network match joins the open event of the same accounts (one shared placement
/// account) when its cash begins at most this many days after the event's last cash: the
/// same nominees placing again the next day (or after one quiet day) are the same pickup
/// being worked off, and an analyst reads it as one event, not one alert per day.
pub const NETWORK_MERGE_DAYS: i64 = 2;

/// Network-level matching settings (config `[mirror] network-*`).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Spans of 1..=this many days.
    pub max_days: u32,
    /// Fewest US accounts of distinct parties in a network.
    pub min_accounts: usize,
    /// Least in-band deposits of an account within the span.
    pub min_band_deposits: usize,
    /// Least share (bp) of an account's cash deposits over the history in the band.
    pub min_band_share_bp: i128,
    /// How far back an account's cash shape and payees are kept (µs).
    pub history_us: i64,
    /// Most placement accounts judged in one span (the most structured cash first).
    pub max_accounts: usize,
    /// Most legs of one side in a match.
    pub max_legs: usize,
    /// Most candidate legs of one side (the closest in time first).
    pub max_candidates: usize,
    /// Search nodes per span.
    pub search_budget: u64,
    /// A candidate leg is worth at least this share (bp) of the cash.
    pub min_leg_share_bp: i128,
    /// Accounts opened within this many days of each other are a cohort...
    pub cohort_days: i32,
    /// ...when both were opened within this many days before the span.
    pub new_account_days: i32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            max_days: 3,
            min_accounts: 2,
            min_band_deposits: 2,
            min_band_share_bp: 3_000,
            history_us: 30 * DAY,
            max_accounts: 20,
            max_legs: 6,
            max_candidates: 16,
            search_budget: 200_000,
            min_leg_share_bp: 500,
            cohort_days: 7,
            new_account_days: 180,
        }
    }
}

/// What the network stage keeps between rows (bounded by the history and the span).
#[derive(Default)]
pub(super) struct NetState {
    /// US cash deposits of the last few days, oldest first.
    pub(super) cash: VecDeque<Tx>,
    /// Per US account: its cash deposits over the history (ts, in the band).
    shape: HashMap<Arc<str>, VecDeque<(i64, bool)>>,
    /// Per account with structured cash: whom it paid over the history (ts, payee).
    payees: HashMap<Arc<str>, VecDeque<(i64, Arc<str>)>>,
    /// The order `shape` and `payees` entries age out in.
    shape_expiry: Expiry,
    payees_expiry: Expiry,
    /// The last UTC day whose spans were judged.
    judged_day: Option<i64>,
    /// Matched network events still open to the next days' matches of the same accounts.
    open: Vec<OpenNet>,
}

/// A network event being gathered: its matches so far (as one) and their legs, kept whole
/// (a leg may be forgotten by the stage before the event is alerted).
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct OpenNet {
    found: Found,
    legs: Vec<Leg>,
    /// Matches taken into it.
    parts: u32,
}

/// One account's cash deposits in a checkpoint: (ts, in the band).
type SavedShape = (Arc<str>, Vec<(i64, bool)>);
/// One account's payees in a checkpoint: (ts, payee).
type SavedPayees = (Arc<str>, Vec<(i64, Arc<str>)>);

/// The network state in a checkpoint (sorted: the same state writes the same bytes).
#[derive(Default, Serialize, Deserialize)]
pub(super) struct SavedNet {
    cash: Vec<Tx>,
    shape: Vec<SavedShape>,
    payees: Vec<SavedPayees>,
    judged_day: Option<i64>,
    #[serde(default)]
    open: Vec<OpenNet>,
}

impl NetState {
    pub(super) fn save(&self) -> SavedNet {
        let mut shape: Vec<_> = self.shape.iter().map(|(a, v)| (a.clone(), v.iter().copied().collect())).collect();
        shape.sort();
        let mut payees: Vec<_> = self.payees.iter().map(|(a, v)| (a.clone(), v.iter().cloned().collect())).collect();
        payees.sort();
        SavedNet {
            cash: self.cash.iter().cloned().collect(),
            shape,
            payees,
            judged_day: self.judged_day,
            open: self.open.clone(),
        }
    }

    pub(super) fn restore(s: SavedNet) -> Self {
        let shape: HashMap<Arc<str>, VecDeque<(i64, bool)>> = s.shape.into_iter().map(|(a, v)| (a, v.into())).collect();
        let payees: HashMap<Arc<str>, VecDeque<(i64, Arc<str>)>> =
            s.payees.into_iter().map(|(a, v)| (a, v.into())).collect();
        NetState {
            cash: s.cash.into(),
            shape_expiry: Expiry::rebuild(shape.iter().flat_map(|(a, v)| v.iter().map(move |(ts, _)| (*ts, a)))),
            payees_expiry: Expiry::rebuild(payees.iter().flat_map(|(a, v)| v.iter().map(move |(ts, _)| (*ts, a)))),
            shape,
            payees,
            judged_day: s.judged_day,
            open: s.open,
        }
    }

    /// Whether `account` had cash deposits within the history (its payments are then
    /// worth remembering: nominees that pay the same beneficiary are tied).
    pub(super) fn cash_account(&self, account: &str) -> bool {
        self.shape.contains_key(account)
    }
}

/// Why two placement accounts go together.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Tie {
    a: Arc<str>,
    b: Arc<str>,
    /// `kyc:<attribute>`, `cohort`, `beneficiary`.
    reason: String,
    value: String,
}

/// A group of tied placement accounts and their cash in the span.
struct Unit {
    accounts: Vec<Arc<str>>,
    deposits: Vec<Tx>,
}

/// A network matched with its foreign legs.
#[derive(Clone, Serialize, Deserialize)]
struct Found {
    start: i64,
    end: i64,
    accounts: Vec<Arc<str>>,
    deposits: Vec<Tx>,
    total: i128,
    cny: Vec<u64>,
    mxn: Vec<u64>,
    ties: Vec<Tie>,
    broker_linked: bool,
    candidates: (usize, usize),
    nodes: u64,
    gave_up: bool,
}

/// A leg of a span's pool, as a network's match reads it.
struct PoolLeg {
    kind: LegKind,
    ts: i64,
    seq: u64,
    usd: i128,
    broker: Arc<str>,
    /// The broker's party holds US accounts: it settles with them, so its legs match
    /// others' cash only through a link.
    guarded: bool,
}

/// The cash of a pick of tied groups: its accounts, deposits (in time order) and total.
struct Cash {
    accounts: Vec<Arc<str>>,
    deposits: Vec<Tx>,
    total: i128,
}

/// A network search's nodes so far, and whether `network-search-budget` stopped it.
struct Budget {
    nodes: u64,
    gave_up: bool,
}

/// What the network alert says of its match.
struct NetFacts<'a> {
    /// The matched legs: kind, transaction, broker account.
    legs: Vec<(LegKind, &'a Tx, &'a Arc<str>)>,
    /// The CNY and MXN sides' sums (USD micro-dollars).
    cny: i128,
    mxn: i128,
    states: BTreeSet<&'a str>,
    /// Deposits in the structuring band, and the days with cash.
    banded: usize,
    days: usize,
    profiles: Vec<(Arc<str>, String)>,
    tied_by: String,
    ties_words: Vec<String>,
    /// The deposits and legs in time order, once each.
    evidence: Vec<&'a Tx>,
    /// The placement accounts and the legs' senders and receivers.
    all: Vec<&'a str>,
    name: String,
    score: f64,
}

/// The strength of a network's evidence: both sides, how the accounts were tied,
/// behavioural ties and nominee profiles, a funnel over three states or more.
fn network_score(both_sides: bool, tied_by: &str, behaviour_ties: usize, profiles: bool, states: usize) -> f64 {
    let mut score: f64 = 0.55;
    if both_sides {
        score += 0.1;
    }
    if tied_by == "kyc" {
        score += 0.15;
    } else if tied_by != "amount and time only" {
        score += 0.05;
    }
    score += 0.05 * (behaviour_ties.min(2) as f64) + if profiles { 0.05 } else { 0.0 };
    if states >= 3 {
        score += 0.05;
    }
    round_score(score)
}

/// Each leg in words: who paid what to whom, its USD value and rate.
fn network_leg_words(legs: &[(LegKind, &Tx, &Arc<str>)], ctx: &DetectCtx) -> Vec<String> {
    legs.iter()
        .map(|(kind, t, _)| {
            let what = match kind {
                LegKind::Cny => format!("{} paid CNY {} into Chinese account {}", t.src, t.amount, t.dst),
                _ => format!("Mexican account {} paid MXN {} to {}", t.src, t.amount, t.dst),
            };
            format!(
                "on {} {what} (USD {} at {} USD per unit)",
                format_ts(t.ts),
                usd_text(t.usd),
                rate_of(ctx, t).unwrap_or_else(|| "an unknown rate".into())
            )
        })
        .collect()
}

impl MirrorDetector {
    /// A US cash deposit (every amount): kept for the span, and in the account's shape.
    pub(super) fn net_deposit(&mut self, t: &Tx) {
        if self.cfg.network.is_none() {
            return;
        }
        let band = self.cfg.band;
        let in_band = t.usd >= band.0 && t.usd < band.1;
        self.net.cash.push_back(t.clone());
        self.net.shape.entry(t.dst.clone()).or_default().push_back((t.ts, in_band));
        self.net.shape_expiry.note(t.ts, &t.dst);
    }

    /// Whether an account's cash in a span (`deps`, from `t0`) is a burst new to it: at
    /// least `network-min-band-deposits` + 1 deposits worth at least `min-amount-usd`,
    /// more than one on some day, and no cash deposit over the history before the span (a
    /// nominee fed a share of one pickup, not a business's nightly takings, nor a few small
    /// deposits).
    pub(super) fn burst_shaped(&self, account: &str, deps: &[Tx], t0: i64) -> bool {
        let Some(n) = &self.cfg.network else { return false };
        // a nominee's share of a pickup, not a few small deposits
        if deps.len() < n.min_band_deposits + 1 || deps.iter().map(|t| t.usd).sum::<i128>() < self.cfg.min_usd {
            return false;
        }
        let days: BTreeSet<i64> = deps.iter().map(|t| t.ts.div_euclid(DAY)).collect();
        if deps.len() <= days.len() {
            return false;
        }
        !self.cash_before(account, t0, n)
    }

    /// Whether `account` took a cash deposit over `network-history` before `t0`.
    fn cash_before(&self, account: &str, t0: i64, n: &NetworkConfig) -> bool {
        self.net.shape.get(account).into_iter().flatten().any(|(ts, _)| *ts < t0 && *ts >= t0 - n.history_us)
    }

    /// Whether an account's cash in a span (`deps`, from `t0`, the span ending on day
    /// `end`) is new to it and its KYC profile is a nominee's: no cash deposit over the
    /// history before the span, at least `min-amount-usd` of it, and the account opened
    /// within `network-new-account-days` or the cash over three months of its declared
    /// income. A nominee paid to take one or two deposits of a pickup shows neither
    /// structuring nor a burst; what sets it apart is whose account it is.
    pub(super) fn new_cash_nominee(&self, account: &str, deps: &[Tx], t0: i64, end: i64, ctx: &DetectCtx) -> bool {
        let Some(n) = &self.cfg.network else { return false };
        let cash: i128 = deps.iter().map(|t| t.usd).sum();
        if cash < self.cfg.min_usd || self.cash_before(account, t0, n) {
            return false;
        }
        let new = opened_day(ctx, account).is_some_and(|o| end as i32 - o <= n.new_account_days);
        // more than a quarter's declared income in a few days
        let over_income = monthly_income(ctx, account).is_some_and(|inc| inc > 0 && cash > 3 * inc);
        new || over_income
    }

    /// Whether an account's cash deposits over the history up to `until` (inclusive) fall
    /// in the structuring band at least `network-band-share` of the time: a nominee's
    /// shape, not a cash business's. True when network matching is off (nothing kept to
    /// judge by).
    pub(super) fn nominee_shaped(&self, account: &str, until: i64) -> bool {
        let Some(n) = &self.cfg.network else { return true };
        let (mut all, mut band) = (0i128, 0i128);
        for (ts, b) in self.net.shape.get(account).into_iter().flatten() {
            if *ts > until - n.history_us && *ts <= until {
                all += 1;
                band += i128::from(*b);
            }
        }
        all > 0 && band * 10_000 >= all * n.min_band_share_bp
    }

    /// A payment out of an account that had structured cash.
    pub(super) fn net_payment(&mut self, src: Arc<str>, dst: Arc<str>, ts: i64) {
        self.net.payees_expiry.note(ts, &src);
        self.net.payees.entry(src).or_default().push_back((ts, dst));
    }

    /// How long legs must stay for the network spans (µs).
    pub(super) fn net_leg_horizon(&self) -> i64 {
        // spans are judged a day after their legs are in (the next day in view)
        self.cfg.network.as_ref().map_or(0, |n| (i64::from(n.max_days) + 3) * DAY + 2 * self.cfg.leg_window_us)
    }

    /// Forgets what no span can use any more (called once per event-time hour).
    pub(super) fn net_sweep(&mut self, now: i64) {
        let Some(n) = &self.cfg.network else { return };
        let span = (i64::from(n.max_days) + 3) * DAY + self.cfg.leg_window_us;
        while self.net.cash.front().is_some_and(|t| t.ts < now - span) {
            self.net.cash.pop_front();
        }
        let keep = now - n.history_us - span;
        let net = &mut self.net;
        net.shape_expiry.expire(keep, |a| drop_before(&mut net.shape, a, keep, |(ts, _)| *ts));
        net.payees_expiry.expire(keep, |a| drop_before(&mut net.payees, a, keep, |(ts, _)| *ts));
    }

    /// Judges the network spans of every day now complete: a day's spans once its legs
    /// have all arrived (`leg-window` after it) and its netting was judged.
    pub(super) fn net_advance(&mut self, now: i64, ctx: &DetectCtx, out: &mut Vec<mirrorflow_core::alert::Alert>) {
        if self.cfg.network.is_none() {
            return;
        }
        let ready = (now - self.cfg.leg_window_us).div_euclid(DAY) - 1;
        // a day is judged with the next one in view (its cash, its netting and the legs of
        // both): a leg late for day d's spans may be early for day d + 1's
        let last = match self.judged_day {
            Some(j) => ready.min(j) - 1,
            None => return,
        };
        match self.net.judged_day {
            None => self.net.judged_day = Some(last),
            Some(j) if j < last => {
                for d in (j + 1)..=last {
                    self.judge_network_day(d, ctx);
                    self.close_networks(Some(d), ctx, out);
                }
                self.net.judged_day = Some(last);
            }
            Some(_) => {}
        }
    }

    fn judge_network_day(&mut self, d: i64, ctx: &DetectCtx) {
        let Some(n) = self.cfg.network.clone() else { return };
        // the longest span first: a multi-day placement is matched whole
        for k in (1..=n.max_days).rev() {
            let start = d - i64::from(k) + 1;
            // several networks may place in one span: take them one by one
            for _ in 0..n.max_accounts {
                let Some(f) = self.find_network(start, d, &n, ctx) else { break };
                // a leg after the span may be the next day's cash's: the match closer to
                // it in time takes it (that one first; this span is then searched again)
                if let Some(next) = self.contender(&f, d, &n, ctx) {
                    self.stats.network_deferred += 1;
                    self.network_swap(next, &n);
                    continue;
                }
                self.network_swap(f, &n);
            }
        }
    }

    /// A match of a span ending on day `d + 1` that wants a leg of `f` (one after `f`'s
    /// span, which a span ending on `d` could only take late) and whose legs lie closer in
    /// time to its cash than `f`'s to `f`'s: the first such match, longest span first.
    fn contender(&mut self, f: &Found, d: i64, n: &NetworkConfig, ctx: &DetectCtx) -> Option<Found> {
        let end = (d + 1) * DAY;
        if !f.cny.iter().chain(&f.mxn).filter_map(|s| self.legs.get(s)).any(|l| l.tx.ts >= end) {
            return None;
        }
        let mine: BTreeSet<u64> = f.cny.iter().chain(&f.mxn).copied().collect();
        for k in (1..=n.max_days).rev() {
            let Some(g) = self.find_network(d + 2 - i64::from(k), d + 1, n, ctx) else { continue };
            let shared = g.cny.iter().chain(&g.mxn).any(|s| mine.contains(s));
            return (shared && self.closer(&g, f)).then_some(g);
        }
        None
    }

    /// Whether `a`'s legs lie closer to its cash than `b`'s to `b`'s: the mean time from
    /// each leg to its match's first..last deposit (0 within).
    fn closer(&self, a: &Found, b: &Found) -> bool {
        let gaps = |f: &Found| -> (i128, i128) {
            let (first, last) = (f.deposits[0].ts, f.deposits[f.deposits.len() - 1].ts);
            let legs: Vec<i64> = f.cny.iter().chain(&f.mxn).filter_map(|s| self.legs.get(s)).map(|l| l.tx.ts).collect();
            let sum: i64 = legs.iter().map(|&ts| time_gap(ts, first, last)).sum();
            (i128::from(sum), legs.len().max(1) as i128)
        };
        let ((sa, na), (sb, nb)) = (gaps(a), gaps(b));
        sa * nb < sb * na
    }

    /// The best network placing in days `start..=end` whose cash the foreign legs match.
    fn find_network(&mut self, start: i64, end: i64, n: &NetworkConfig, ctx: &DetectCtx) -> Option<Found> {
        let (t0, t1) = (start * DAY, (end + 1) * DAY);
        let w = self.cfg.leg_window_us;
        let (accounts, mut by_acct) = self.placement_accounts(start, end, n, ctx)?;
        let ties = self.ties(&accounts, t1, t1 + w, n, ctx);
        let units = units(&accounts, &ties, &mut by_acct);
        let pool = self.leg_pool(t0, t1, ctx);
        if pool.is_empty() {
            return None;
        }
        // single legs first; then, where they match nothing, each broker account's legs as
        // one lot (many clients paying one account for one pickup: more legs than
        // `network-max-legs`)
        if let Some(f) = self.search_units((start, end), &units, &ties, &pool, n, false) {
            return Some(f);
        }
        self.search_units((start, end), &units, &ties, &pool, n, true)
    }

    /// Subsets of the tied groups `units` of the span `start..=end` (largest first) against
    /// the legs of `pool` (by lots with `lots`): the first whose both sides match.
    fn search_units(
        &mut self,
        (start, end): (i64, i64),
        units: &[Unit],
        ties: &[Tie],
        pool: &[PoolLeg],
        n: &NetworkConfig,
        lots: bool,
    ) -> Option<Found> {
        let mut budget = Budget { nodes: 0, gave_up: false };
        let nu = units.len();
        'search: for size in (1..=nu).rev() {
            for pick in combinations(nu, size) {
                if budget.nodes >= n.search_budget {
                    budget.gave_up = true;
                    break 'search;
                }
                budget.nodes += 1;
                let accts: Vec<Arc<str>> = pick.iter().flat_map(|&i| units[i].accounts.iter().cloned()).collect();
                // several parties: one party's accounts are the placements' and netting's
                // (judged over the party's own days), not a network's
                let parties: BTreeSet<String> = accts.iter().map(|a| self.parties().name(a)).collect();
                if parties.len() < n.min_accounts {
                    continue;
                }
                let mut deposits: Vec<Tx> = pick.iter().flat_map(|&i| units[i].deposits.iter().cloned()).collect();
                deposits.sort();
                let cash = Cash { total: deposits.iter().map(|t| t.usd).sum(), deposits, accounts: accts };
                let sides: Vec<(Vec<u64>, usize)> =
                    [(LegKind::Cny, self.cfg.cny_band_bp), (LegKind::Mxn, self.cfg.mxn_band_bp)]
                        .into_iter()
                        .map(|side| {
                            // single legs first; lots where they match nothing
                            let single = self.match_side(side, &cash, pool, n, false, &mut budget);
                            if lots && single.0.is_empty() {
                                (self.match_side(side, &cash, pool, n, true, &mut budget).0, single.1)
                            } else {
                                single
                            }
                        })
                        .collect();
                let (cny, mxn) = (sides[0].0.clone(), sides[1].0.clone());
                // both sides, always: a one-sided match of a party's own broker account is
                // the one-to-one and netted matches' (judged over the party's own days)
                if !cny.is_empty() && !mxn.is_empty() {
                    if budget.gave_up {
                        self.stats.network_bound_hits += 1;
                    }
                    let parties = self.parties();
                    let broker_linked = cny
                        .iter()
                        .chain(&mxn)
                        .filter_map(|s| self.legs.get(s))
                        .any(|l| cash.accounts.iter().any(|a| parties.same(a, &l.broker)));
                    let set: BTreeSet<&str> = cash.accounts.iter().map(|a| &**a).collect();
                    let ties = ties.iter().filter(|t| set.contains(&*t.a) && set.contains(&*t.b)).cloned().collect();
                    let Cash { mut accounts, deposits, total } = cash;
                    accounts.sort();
                    return Some(Found {
                        start,
                        end,
                        accounts,
                        deposits,
                        total,
                        cny,
                        mxn,
                        ties,
                        broker_linked,
                        candidates: (sides[0].1, sides[1].1),
                        nodes: budget.nodes,
                        gave_up: budget.gave_up,
                    });
                }
                if budget.gave_up {
                    break 'search;
                }
            }
        }
        if budget.gave_up {
            self.stats.network_bound_hits += 1;
        }
        None
    }

    /// The placement accounts of days `start..=end` (structured, or a burst new to them;
    /// the most cash first when `network-max-accounts` cuts), sorted, and the unmatched US
    /// cash in the span by account; none when no candidate's cash falls on the last day.
    #[allow(clippy::type_complexity)]
    fn placement_accounts(
        &mut self,
        start: i64,
        end: i64,
        n: &NetworkConfig,
        ctx: &DetectCtx,
    ) -> Option<(Vec<Arc<str>>, BTreeMap<Arc<str>, Vec<Tx>>)> {
        let (t0, t1) = (start * DAY, (end + 1) * DAY);
        // unmatched US cash in the span, by account
        let mut by_acct: BTreeMap<Arc<str>, Vec<Tx>> = BTreeMap::new();
        for t in self.net.cash.iter().filter(|t| t.ts >= t0 && t.ts < t1 && !self.matched.contains(&t.seq)) {
            by_acct.entry(t.dst.clone()).or_default().push(t.clone());
        }
        let band = self.cfg.band;
        let in_band = |t: &Tx| t.usd >= band.0 && t.usd < band.1;
        let kind_skipped = |a: &str| {
            ctx.accounts
                .field(a, acct::KIND)
                .is_some_and(|k| self.cfg.skip_kinds.contains(&k) || self.cfg.exchange_kinds.contains(&k))
        };
        let mut cands: Vec<(i128, Arc<str>)> = Vec::new();
        for (a, deps) in &by_acct {
            if kind_skipped(a) {
                continue;
            }
            let banded = deps.iter().filter(|t| in_band(t)).count();
            // the account's own history: mostly just under the threshold; or cash that is
            // new to it, several deposits a day
            let structured = banded >= n.min_band_deposits && self.nominee_shaped(a, t1 - 1);
            if !structured && !self.burst_shaped(a, deps, t0) && !self.new_cash_nominee(a, deps, t0, end, ctx) {
                continue;
            }
            cands.push((deps.iter().map(|t| t.usd).sum(), a.clone()));
        }
        // the span ends on a day with a candidate's cash (else an earlier day judged it)
        let end_day = end * DAY;
        if !cands.iter().any(|(_, a)| by_acct[a].iter().any(|t| t.ts >= end_day)) {
            return None;
        }
        if cands.len() > n.max_accounts {
            cands.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
            cands.truncate(n.max_accounts);
            self.stats.network_capped += 1;
        }
        let mut accounts: Vec<Arc<str>> = cands.into_iter().map(|c| c.1).collect();
        accounts.sort();
        Some((accounts, by_acct))
    }

    /// The unused legs that could belong to the span `[t0, t1)` (within `leg-window` of
    /// it; no exchange payouts; no CNY paid from the US), by broker account, then sequence
    /// number: read once per span, not once per candidate network.
    fn leg_pool(&self, t0: i64, t1: i64, ctx: &DetectCtx) -> Vec<PoolLeg> {
        let w = self.cfg.leg_window_us;
        let parties = self.parties();
        let mut pool: Vec<PoolLeg> = self
            .legs
            .values()
            .filter(|l| !l.used && !self.matched.contains(&l.tx.seq) && l.kind != LegKind::MxnExchange)
            .filter(|l| l.tx.ts >= t0 - w && l.tx.ts < t1 + w)
            .filter(|l| l.kind != LegKind::Cny || ctx.accounts.field(&l.tx.src, acct::COUNTRY).as_deref() != Some("US"))
            .map(|l| PoolLeg {
                kind: l.kind,
                ts: l.tx.ts,
                seq: l.tx.seq,
                usd: l.tx.usd,
                broker: l.broker.clone(),
                guarded: parties.of(&l.broker).is_some_and(|b| self.cross_border.contains(&b)),
            })
            .collect();
        pool.sort_by(|a, b| a.broker.cmp(&b.broker).then(a.seq.cmp(&b.seq)));
        pool
    }

    /// One side (`kind` within `band`) of a network's match: the legs of the pool within
    /// `leg-window` of the cash (the closest in time first, at most
    /// `network-max-candidates`) whose subset-sum falls in the band, closest to its
    /// middle; and how many candidates there were. With `lots`, each broker account's
    /// candidate legs are one item (its legs each as small as they come; none when no
    /// account has two). Spends `budget`.
    fn match_side(
        &mut self,
        (kind, band): (LegKind, (i128, i128)),
        cash: &Cash,
        pool: &[PoolLeg],
        n: &NetworkConfig,
        lots: bool,
        budget: &mut Budget,
    ) -> (Vec<u64>, usize) {
        let w = self.cfg.leg_window_us;
        let total = cash.total;
        let (first, last) = (cash.deposits[0].ts, cash.deposits[cash.deposits.len() - 1].ts);
        let (lo, hi) = band_range(total, band);
        let target = total * (20_000 + band.0 + band.1) / 20_000;
        let least = total * n.min_leg_share_bp / 10_000;
        let parties = self.parties();
        let legs: Vec<&PoolLeg> = pool
            .iter()
            // a lot is judged by its sum: its legs may each be small
            .filter(|l| {
                l.kind == kind && l.ts >= first - w && l.ts <= last + w && (lots || l.usd >= least) && l.usd <= hi
            })
            // a broker whose party holds US accounts settles with them: its legs match
            // others' cash only through a link
            .filter(|l| !l.guarded || cash.accounts.iter().any(|a| parties.same(a, &l.broker)))
            .collect();
        let gap = |l: &PoolLeg| time_gap(l.ts, first, last);
        let seen = legs.len();
        // the items of the subset-sum: (gap, first sequence number, USD, legs)
        let mut items: Vec<(i64, u64, i128, Vec<u64>)> = if lots {
            // the pool is in broker order: each run of one broker's legs is its lot
            let mut lots: Vec<(i64, u64, i128, Vec<u64>)> = Vec::new();
            let mut prev: Option<&str> = None;
            for l in legs {
                match lots.last_mut() {
                    Some(e) if prev == Some(&*l.broker) => {
                        e.0 = e.0.min(gap(l));
                        e.1 = e.1.min(l.seq);
                        e.2 += l.usd;
                        e.3.push(l.seq);
                    }
                    _ => lots.push((gap(l), l.seq, l.usd, vec![l.seq])),
                }
                prev = Some(&*l.broker);
            }
            lots.retain(|l| l.2 >= least);
            // no lot of two legs or more: the single legs were tried alone
            if lots.iter().all(|l| l.3.len() < 2) {
                return (Vec::new(), seen);
            }
            lots
        } else {
            legs.into_iter().map(|l| (gap(l), l.seq, l.usd, vec![l.seq])).collect()
        };
        items.sort();
        if items.len() > n.max_candidates {
            items.truncate(n.max_candidates);
            self.stats.network_capped += 1;
        }
        let values: Vec<i128> = items.iter().map(|l| l.2).collect();
        let left = n.search_budget.saturating_sub(budget.nodes);
        // by lots: one or two broker accounts collecting for the pickup
        let max_items = if lots { LOT_ITEMS } else { n.max_legs };
        let s = best_subset(&values, lo, hi, target, max_items, left);
        budget.nodes += s.nodes;
        if s.gave_up {
            budget.gave_up = true;
        }
        let mut pick: Vec<u64> = s.pick.into_iter().flatten().flat_map(|i| items[i].3.iter().copied()).collect();
        pick.sort_unstable();
        (pick, seen)
    }

    /// The ties among placement accounts: one party, opened together, a shared payee
    /// (payments before `until`, over the history).
    fn ties(&self, accounts: &[Arc<str>], span_end: i64, until: i64, n: &NetworkConfig, ctx: &DetectCtx) -> Vec<Tie> {
        let parties = self.parties();
        let mut out = Vec::new();
        let opened: Vec<Option<i32>> = accounts.iter().map(|a| opened_day(ctx, a)).collect();
        let end_day = span_end.div_euclid(DAY) as i32;
        let payees: Vec<BTreeSet<&str>> = accounts
            .iter()
            .map(|a| {
                self.net
                    .payees
                    .get(a)
                    .into_iter()
                    .flatten()
                    .filter(|(ts, _)| *ts >= span_end - n.history_us && *ts < until)
                    .map(|(_, p)| &**p)
                    .collect()
            })
            .collect();
        for i in 0..accounts.len() {
            for j in (i + 1)..accounts.len() {
                let (a, b) = (&accounts[i], &accounts[j]);
                if parties.same(a, b) {
                    let links = parties.links_between(&[a, b]);
                    let (reason, value) = links.first().map_or(("kyc:party".to_string(), String::new()), |l| {
                        (format!("kyc:{}", l.reason), l.value.clone())
                    });
                    out.push(Tie { a: a.clone(), b: b.clone(), reason, value });
                }
                if let (Some(x), Some(y)) = (opened[i], opened[j])
                    && (x - y).abs() <= n.cohort_days
                    && end_day - x.min(y) <= n.new_account_days
                {
                    out.push(Tie {
                        a: a.clone(),
                        b: b.clone(),
                        reason: "cohort".into(),
                        value: format!("{} and {}", day_text(i64::from(x)), day_text(i64::from(y))),
                    });
                }
                if let Some(p) =
                    payees[i].iter().find(|p| payees[j].contains(*p) && !accounts.iter().any(|a| &**a == **p))
                {
                    out.push(Tie { a: a.clone(), b: b.clone(), reason: "beneficiary".into(), value: p.to_string() });
                }
            }
        }
        out
    }

    /// Marks a network's cash and legs used, and takes the match into the open event of
    /// the same accounts (placing again within `NETWORK_MERGE_DAYS` of its last cash), or
    /// opens one: one event is one alert, however many days and matches it took.
    fn network_swap(&mut self, f: Found, n: &NetworkConfig) {
        self.claim(f.cny.iter().chain(&f.mxn), &f.deposits, "network");
        self.stats.network += 1;
        let legs: Vec<Leg> = f.cny.iter().chain(&f.mxn).filter_map(|s| self.legs.get(s)).cloned().collect();
        let (first_day, last_day) = (first_cash_day(&f), last_cash_day(&f));
        let mine: BTreeSet<&Arc<str>> = f.accounts.iter().collect();
        let (joined, rest): (Vec<OpenNet>, Vec<OpenNet>) =
            std::mem::take(&mut self.net.open).into_iter().partition(|e| {
                // an event's cash spans at most twice `network-days`: busy accounts that
                // place every day must not chain one week's events into one
                first_day <= last_cash_day(&e.found) + NETWORK_MERGE_DAYS
                    && last_day - first_cash_day(&e.found) < 2 * i64::from(n.max_days)
                    && e.found.accounts.iter().any(|a| mine.contains(a))
            });
        self.net.open = rest;
        let mut event = OpenNet { found: f, legs, parts: 1 };
        for e in joined {
            self.stats.network_merged += 1;
            event = merge_events(e, event);
        }
        self.net.open.push(event);
    }

    /// Alerts the open network events no later match can join (every one with `None`: the
    /// end of input), in the order they were opened.
    pub(super) fn close_networks(&mut self, judged: Option<i64>, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let Some(n) = self.cfg.network.clone() else { return };
        // a match judged after day `d` starts on day `d + 2 - network-days` at the earliest
        let done = |e: &OpenNet| {
            judged.is_none_or(|d| last_cash_day(&e.found) + NETWORK_MERGE_DAYS < d + 2 - i64::from(n.max_days))
        };
        let (closed, open): (Vec<OpenNet>, Vec<OpenNet>) =
            std::mem::take(&mut self.net.open).into_iter().partition(done);
        self.net.open = open;
        for e in closed {
            let mut alert = self.network_alert(&e.found, &e.legs, &n, ctx);
            if let Some(d) = alert.details.as_object_mut() {
                d.insert("matches".into(), e.parts.into());
            }
            let key: Arc<str> = Arc::from(network_name(&e.found.accounts).as_str());
            self.history.entry(key).or_default().push(alert.alert_id.clone());
            out.push(alert);
        }
    }

    fn network_alert(&self, f: &Found, held: &[Leg], n: &NetworkConfig, ctx: &DetectCtx) -> Alert {
        let nf = self.network_facts(f, held, n, ctx);
        let mut a = t6_alert(NETWORK_RULE_ID, &nf.evidence, &nf.all, nf.score, f.total, ctx);
        a.details = self.network_details(f, &nf, n, ctx);
        a.narrative = self.network_narrative(f, &nf, ctx);
        a
    }

    /// The legs, sums, ties, profiles and score of a matched network.
    fn network_facts<'a>(&'a self, f: &'a Found, held: &'a [Leg], n: &NetworkConfig, ctx: &DetectCtx) -> NetFacts<'a> {
        let legs: Vec<(LegKind, &Tx, &Arc<str>)> = f
            .cny
            .iter()
            .chain(&f.mxn)
            .filter_map(|s| held.iter().find(|l| l.tx.seq == *s))
            .map(|l| (l.kind, &l.tx, &l.broker))
            .collect();
        let sum = |k: LegKind| legs.iter().filter(|l| l.0 == k).map(|l| l.1.usd).sum::<i128>();
        let (cny, mxn) = (sum(LegKind::Cny), sum(LegKind::Mxn));
        let states: BTreeSet<&str> = f.deposits.iter().filter_map(|t| t.location.as_deref()).collect();
        let band = self.cfg.band;
        let banded = f.deposits.iter().filter(|t| t.usd >= band.0 && t.usd < band.1).count();
        let days: BTreeSet<i64> = f.deposits.iter().map(|t| t.ts.div_euclid(DAY)).collect();
        // how the accounts were tied
        let kyc_ties = f.ties.iter().filter(|t| t.reason.starts_with("kyc")).count();
        let behaviour_ties = f.ties.iter().filter(|t| !t.reason.starts_with("kyc")).count();
        let profiles = self.profiles(f, n, ctx);
        let tied_by = if kyc_ties > 0 || f.broker_linked {
            "kyc".to_string()
        } else if f.accounts.len() >= 3 || states.len() >= 2 || behaviour_ties > 0 || !profiles.is_empty() {
            format!(
                "behaviour: co-timed structured cash across {} accounts in {} state(s)",
                f.accounts.len(),
                states.len().max(1)
            )
        } else {
            "amount and time only".to_string()
        };
        let ties_words = self.ties_words(f, &legs);
        let score = network_score(cny > 0 && mxn > 0, &tied_by, behaviour_ties, !profiles.is_empty(), states.len());
        let mut evidence: Vec<&Tx> = f.deposits.iter().chain(legs.iter().map(|l| l.1)).collect();
        evidence.sort();
        evidence.dedup();
        let mut all: Vec<&str> = f.accounts.iter().map(|a| &**a).collect();
        for (_, t, _) in &legs {
            all.extend([&*t.src, &*t.dst]);
        }
        let name = network_name(&f.accounts);
        NetFacts {
            legs,
            cny,
            mxn,
            states,
            banded,
            days: days.len(),
            profiles,
            tied_by,
            ties_words,
            evidence,
            all,
            name,
            score,
        }
    }

    /// The ties in words (cohorts, shared beneficiaries, one party), and the broker
    /// accounts that are one party with a placement account; sorted, once each.
    fn ties_words(&self, f: &Found, legs: &[(LegKind, &Tx, &Arc<str>)]) -> Vec<String> {
        let parties = self.parties();
        let mut ties_words: Vec<String> = Vec::new();
        for t in &f.ties {
            ties_words.push(match t.reason.as_str() {
                "cohort" => format!("{} and {} were opened together ({})", t.a, t.b, t.value),
                "beneficiary" => format!("{} and {} both paid {}", t.a, t.b, t.value),
                r => format!("{} and {} are one party ({} {})", t.a, t.b, r.trim_start_matches("kyc:"), t.value),
            });
        }
        for l in legs {
            if let Some(a) = f.accounts.iter().find(|a| parties.same(a, l.2)) {
                ties_words.push(format!("broker account {} is one party with {}", l.2, a));
            }
        }
        ties_words.sort();
        ties_words.dedup();
        ties_words
    }

    /// Each leg as evidence: its transaction, broker, rate, share of the cash, time gap
    /// to the span's cash and whether its broker is linked to a placement account.
    fn network_legs_json(
        &self,
        f: &Found,
        legs: &[(LegKind, &Tx, &Arc<str>)],
        ctx: &DetectCtx,
    ) -> Vec<serde_json::Value> {
        let parties = self.parties();
        let first = f.deposits.first().map_or(0, |t| t.ts);
        let last = f.deposits.last().map_or(0, |t| t.ts);
        legs.iter()
            .map(|(kind, t, broker)| {
                let gap = time_gap(t.ts, first, last);
                serde_json::json!({
                    "leg": kind.name(),
                    "transaction": tx_json(t),
                    "broker_account": &***broker,
                    "fx_rate_usd_per_unit": rate_of(ctx, t),
                    "share_of_us_cash_pct": (t.usd as f64 * 10_000.0 / f.total.max(1) as f64).round() / 100.0,
                    "time_gap_hours": hours(gap),
                    "linked_to_us_accounts": f.accounts.iter().any(|a| parties.same(a, broker)),
                })
            })
            .collect()
    }

    /// The SAR narrative: who, what, when, where, why, how.
    fn network_narrative(&self, f: &Found, nf: &NetFacts, ctx: &DetectCtx) -> String {
        let band = self.cfg.band;
        let side = |name: &str, v: i128, k: usize| {
            if k == 0 {
                String::new()
            } else {
                format!("; {k} {name} worth USD {} ({:+.1}% of the cash)", usd_text(v), deviation_pct(v, f.total))
            }
        };
        let n_cny = nf.legs.iter().filter(|l| l.0 == LegKind::Cny).count();
        let n_mxn = nf.legs.len() - n_cny;
        let score = nf.score;
        format!(
            "Suspected mirror transfers by a Chinese money-laundering network ({KEY_TERM}), placed through several \
             accounts. Who: US accounts {} ({}). What: USD {} in cash was deposited in {} deposit(s) ({} of them between \
             USD {} and USD {}, just under the Currency Transaction Report threshold) over {} day(s) from {} to {}{}{}{}; \
             {}. Where: cash in {}; legs in {}. Why: the accounts are tied by {}{}{}; the foreign legs' sums match the \
             cash within the FX bands, with no transaction between the legs. How: value moves between the United States, \
             China and Mexico by offsetting balances, with no cross-border transfer (score {score:.2}).",
            f.accounts.iter().map(|a| &**a).collect::<Vec<_>>().join(", "),
            nf.name,
            usd_text(f.total),
            f.deposits.len(),
            nf.banded,
            usd_text(band.0),
            usd_text(band.1),
            nf.days,
            day_text(f.start),
            day_text(f.end),
            at_branches(&nf.states),
            side("CNY credit(s) into Chinese broker accounts", nf.cny, n_cny),
            side("MXN payout(s) from Mexican accounts", nf.mxn, n_mxn),
            network_leg_words(&nf.legs, ctx).join("; "),
            cash_states(&nf.states),
            jurisdictions(&nf.all, ctx).join(", "),
            nf.tied_by,
            if nf.ties_words.is_empty() { String::new() } else { format!(" ({})", nf.ties_words.join("; ")) },
            if nf.profiles.is_empty() {
                String::new()
            } else {
                format!(
                    "; nominee profiles: {}",
                    nf.profiles.iter().map(|p| p.1.as_str()).collect::<Vec<_>>().join("; ")
                )
            },
        )
    }

    fn network_details(&self, f: &Found, nf: &NetFacts, n: &NetworkConfig, ctx: &DetectCtx) -> serde_json::Value {
        let band = self.cfg.band;
        let (cny, mxn) = (nf.cny, nf.mxn);
        serde_json::json!({
            "match": "network",
            "party": nf.name,
            "tied_by": nf.tied_by,
            "ties": f.ties.iter().map(|t| serde_json::json!({"a": &*t.a, "b": &*t.b, "reason": t.reason, "value": t.value})).collect::<Vec<_>>(),
            "broker_linked": f.broker_linked,
            "nominee_profiles": nf.profiles.iter().map(|p| serde_json::json!({"account": &*p.0, "why": p.1})).collect::<Vec<_>>(),
            "days": [day_text(f.start), day_text(f.end)],
            "us_cash": {
                "accounts": f.accounts.iter().map(|a| &**a).collect::<Vec<_>>(),
                "total_usd": usd_text(f.total),
                "structured_deposits": nf.banded,
                "deposits": f.deposits.iter().map(tx_json).collect::<Vec<_>>(),
                "states": nf.states,
            },
            "cny_in_usd": usd_text(cny),
            "mxn_out_usd": usd_text(mxn),
            "cny_vs_us_pct": (cny > 0).then(|| pct2(deviation_pct(cny, f.total))),
            "mxn_vs_us_pct": (mxn > 0).then(|| pct2(deviation_pct(mxn, f.total))),
            "legs": self.network_legs_json(f, &nf.legs, ctx),
            "search": {
                "candidate_cny_legs": f.candidates.0,
                "candidate_mxn_legs": f.candidates.1,
                "nodes": f.nodes,
                "gave_up": f.gave_up,
            },
            "params": {
                "structuring_band_usd": [usd_text(band.0), usd_text(band.1)],
                "cny_band_pct": band_pct(self.cfg.cny_band_bp),
                "mxn_band_pct": band_pct(self.cfg.mxn_band_bp),
                "leg_window_hours": hours(self.cfg.leg_window_us),
                "network_days": n.max_days,
            },
        })
    }

    /// What KYC says of the placement accounts: new, cash beyond the declared income, a
    /// student's occupation. Evidence only.
    fn profiles(&self, f: &Found, n: &NetworkConfig, ctx: &DetectCtx) -> Vec<(Arc<str>, String)> {
        let mut out = Vec::new();
        let start_day = f.start as i32;
        for a in &f.accounts {
            let mut why = Vec::new();
            if let Some(o) = opened_day(ctx, a)
                && start_day - o <= n.new_account_days
            {
                why.push(format!("opened {} days before the cash", (start_day - o).max(0)));
            }
            let cash: i128 = f.deposits.iter().filter(|t| t.dst == *a).map(|t| t.usd).sum();
            if let Some(inc) = monthly_income(ctx, a)
                && inc > 0
                && cash > inc
            {
                why.push(format!(
                    "USD {} of cash against a declared monthly income of USD {}",
                    usd_text(cash),
                    usd_text(inc)
                ));
            }
            if let Some(occ) = ctx.accounts.field(a, acct::OCCUPATION)
                && occ.eq_ignore_ascii_case("student")
            {
                why.push("a student".into());
            }
            if !why.is_empty() {
                out.push((a.clone(), format!("{a}: {}", why.join(", "))));
            }
        }
        out
    }
}

/// Tied accounts grouped (union-find over the ties), each with its cash; in account order.
fn units(accounts: &[Arc<str>], ties: &[Tie], by_acct: &mut BTreeMap<Arc<str>, Vec<Tx>>) -> Vec<Unit> {
    let idx: HashMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (&**a, i)).collect();
    let mut parent: Vec<usize> = (0..accounts.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for t in ties {
        if let (Some(&a), Some(&b)) = (idx.get(&*t.a), idx.get(&*t.b)) {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut groups: BTreeMap<usize, Unit> = BTreeMap::new();
    for (i, a) in accounts.iter().enumerate() {
        let r = find(&mut parent, i);
        let u = groups.entry(r).or_insert_with(|| Unit { accounts: Vec::new(), deposits: Vec::new() });
        u.accounts.push(a.clone());
        u.deposits.extend(by_acct.remove(a).unwrap_or_default());
    }
    groups.into_values().collect()
}

/// Subsets of `0..n` of `k` items, in lexicographic order.
fn combinations(n: usize, k: usize) -> impl Iterator<Item = Vec<usize>> {
    let mut cur: Option<Vec<usize>> = (k <= n).then(|| (0..k).collect());
    std::iter::from_fn(move || {
        let out = cur.clone()?;
        // next: the rightmost item that can move right
        let mut next = out.clone();
        let mut i = k;
        cur = loop {
            if i == 0 {
                break None;
            }
            i -= 1;
            if next[i] < n - k + i {
                next[i] += 1;
                for j in (i + 1)..k {
                    next[j] = next[j - 1] + 1;
                }
                break Some(next);
            }
        };
        Some(out)
    })
}

/// How far `ts` lies from the span `first..=last` (µs; 0 within).
fn time_gap(ts: i64, first: i64, last: i64) -> i64 {
    if ts < first { first - ts } else { (ts - last).max(0) }
}

/// The UTC day of a match's first cash deposit.
fn first_cash_day(f: &Found) -> i64 {
    f.deposits.first().map_or(f.start, |t| t.ts.div_euclid(DAY))
}

/// The UTC day of a match's last cash deposit.
fn last_cash_day(f: &Found) -> i64 {
    f.deposits.last().map_or(f.end, |t| t.ts.div_euclid(DAY))
}

/// Two matches of one event as one: every account, deposit, leg and tie of both; the
/// span from the first's start to the last's end; the search figures summed.
fn merge_events(a: OpenNet, b: OpenNet) -> OpenNet {
    let (x, y) = (a.found, b.found);
    let mut accounts: Vec<Arc<str>> = x.accounts.into_iter().chain(y.accounts).collect();
    accounts.sort();
    accounts.dedup();
    let mut deposits: Vec<Tx> = x.deposits.into_iter().chain(y.deposits).collect();
    deposits.sort();
    deposits.dedup();
    let mut ties: Vec<Tie> = x.ties.into_iter().chain(y.ties).collect();
    ties.sort();
    ties.dedup();
    let found = Found {
        start: x.start.min(y.start),
        end: x.end.max(y.end),
        total: deposits.iter().map(|t| t.usd).sum(),
        accounts,
        deposits,
        cny: x.cny.into_iter().chain(y.cny).collect(),
        mxn: x.mxn.into_iter().chain(y.mxn).collect(),
        ties,
        broker_linked: x.broker_linked || y.broker_linked,
        candidates: (x.candidates.0 + y.candidates.0, x.candidates.1 + y.candidates.1),
        nodes: x.nodes + y.nodes,
        gave_up: x.gave_up || y.gave_up,
    };
    OpenNet { found, legs: a.legs.into_iter().chain(b.legs).collect(), parts: a.parts + b.parts }
}

/// A stable name for a network: its first account and how many more.
fn network_name(accounts: &[Arc<str>]) -> String {
    match accounts {
        [] => "network:".into(),
        [a] => format!("network:{a}"),
        [a, rest @ ..] => format!("network:{a}+{}", rest.len()),
    }
}

fn opened_day(ctx: &DetectCtx, account: &str) -> Option<i32> {
    let row = *ctx.accounts.index.get(account)?;
    let c = ctx.accounts.batch.column_by_name(acct::OPENED_AT)?.as_primitive_opt::<Date32Type>()?;
    (!c.is_null(row)).then(|| c.value(row))
}

fn monthly_income(ctx: &DetectCtx, account: &str) -> Option<i128> {
    let row = *ctx.accounts.index.get(account)?;
    let c = ctx.accounts.batch.column_by_name(acct::MONTHLY_INCOME_USD)?.as_primitive_opt::<Decimal128Type>()?;
    (!c.is_null(row)).then(|| c.value(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_lexicographic_and_complete() {
        let all: Vec<Vec<usize>> = combinations(4, 2).collect();
        assert_eq!(all, [vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(combinations(3, 3).count(), 1);
        assert_eq!(combinations(2, 3).count(), 0);
    }
}
