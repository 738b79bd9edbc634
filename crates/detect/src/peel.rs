//! T11: crypto on-ramps and peel chains, found in the stream.
//!
//! **Peel chain.** A *hop* is a wallet `w` that receives one crypto transfer (its input)
//! and, within `hop_gap_us` of it, sends exactly two crypto transfers in the input's
//! currency (its outputs) to two different addresses, the larger carrying
//! `min_split_bp`..=`max_split_bp` of the two (compared in `amount`, never in USD) and the two
//! together `min_hop_value_bp`..=`max_hop_value_bp` of the input (a hop spends what it got). A
//! *chain* is hops linked by their transactions: the larger output of one hop is the input
//! of the next. A chain of at least `min_hops` hops is alerted once, with every hop as
//! evidence (the first hop's input, then both outputs of every hop).
//!
//! Stream semantics (everything is judged at row times, so batching never matters):
//! - A wallet's *candidate* hop opens with a crypto input. A second input before the
//!   candidate is judged, or a third output, kills it (the wallet is not 1-in/2-out); a
//!   killed wallet stays out until `hop_gap` has passed without crypto activity. A
//!   candidate with fewer than two outputs `hop_gap` after its input is dropped.
//! - A candidate with two outputs is judged once `hop_gap` has passed after its second
//!   output without a third (a row later than that arrives, or input ends): it then
//!   becomes a hop if the split and value tests pass. A third output after that moment
//!   does not undo it.
//! - A hop is the *tail* of a chain when no hop has its larger output as input. Every hop
//!   that could link to it (its successor, any predecessor) is judged at most `2 *
//!   hop_gap` after the tail's larger output; the tail is checked then, and the chain is
//!   read back from it: each chain has one tail, so it is alerted exactly once, when it
//!   can no longer grow (or at the end of input).
//! - Exchange and money-services accounts (`skip_kinds`) are never hops: hot wallets send
//!   many outputs as their business. Wallets absent from the accounts table (null kind)
//!   are judged by their behaviour alone.
//!
//! **On-ramp.** A fiat funding (any channel but `crypto` and cash) of an account of kind
//! `exchange_kinds` from an account that received cash deposits in the `ramp_window_us`
//! before it: alerted at the funding when the cash (USD) is at least `ramp_min_cash_usd` and
//! the funding is `ramp_min_share_bp`..=`ramp_max_share_bp` of it (one funding paying out most
//! of that cash, no more than a little beyond it: an exchange funded from salary is not an
//! on-ramp of cash). Cash counts once: a deposit backs one alert at most, and a funding
//! that is not an on-ramp pays out the account's recent cash first (a retail buyer who
//! bought with last night's cash and then tops up from salary is not an on-ramp).
//!
//! Memory: open candidates (each closes within `2 * hop_gap`), hops for the event-time
//! window behind them (chains are read back through them), and cash deposits for
//! `ramp_window`. No graph is kept: the tests are local to a wallet and its two neighbours.
//!
//! Owns: `PeelDetector` (a `Detector`: rule ids `graph_peel_chain` and `graph_on_ramp`,
//! typology T11) and `PeelConfig`.
//! Must not: depend on batching (rows are taken one by one in `(ts, seq)` order), or read
//! the label columns.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::Decimal128Type;
use serde::{Deserialize, Serialize};

use mirrorflow_core::alert::build::{hours, jurisdictions, share_pct, subjects_in_order, usd_text};
use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};
use mirrorflow_core::detect::{DetectCtx, Detector, RawValue, load_json, save_json};
use mirrorflow_core::error::Result;
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::{self, acct, tx};
use mirrorflow_core::time::format_ts;
use mirrorflow_core::window::EventWindow;

/// Id of the detector (its checkpoint state is kept under it).
pub const DETECTOR_ID: &str = "graph_peel";
/// Rule id of peel-chain alerts.
pub const PEEL_RULE_ID: &str = "graph_peel_chain";
/// Rule id of on-ramp alerts.
pub const RAMP_RULE_ID: &str = "graph_on_ramp";
pub const RULE_VERSION: &str = "1";
pub const TYPOLOGY: &str = "T11";

const HOUR_US: i64 = 3_600_000_000;
const CRYPTO: &str = "crypto";
const CASH_DEPOSIT: &str = "cash_deposit";
const CASH_WITHDRAWAL: &str = "cash_withdrawal";

/// T11 settings. Shares are in basis points of 10_000.
#[derive(Debug, Clone, PartialEq)]
pub struct PeelConfig {
    /// Fewest hops a chain needs to be alerted (at least 2).
    pub min_hops: usize,
    /// The larger output of a hop carries at least this share of the two (9000 = 90%).
    pub min_split_bp: i128,
    /// ... and at most this share (9900 = 99%).
    pub max_split_bp: i128,
    /// How long after its input a hop's two outputs may come, and how long after the
    /// second output a third must not come (µs).
    pub hop_gap_us: i64,
    /// The two outputs together carry at least this share of the input (fees come off).
    pub min_hop_value_bp: i128,
    /// ... and at most this share (a hop does not peel funds it did not receive).
    pub max_hop_value_bp: i128,
    /// Account kinds that are never hops nor on-ramp funders (exchanges' hot wallets,
    /// money-services businesses).
    pub skip_kinds: Vec<String>,
    /// How long before an exchange funding cash deposits count (µs).
    pub ramp_window_us: i64,
    /// The funding carries at least this share of the cash (9000 = 90%).
    pub ramp_min_share_bp: i128,
    /// ... and at most this share (it is paid out of that cash, not mainly from elsewhere).
    pub ramp_max_share_bp: i128,
    /// Least cash (USD micro-dollars) behind an on-ramp alert: retail buyers fund small
    /// purchases from a few hundred dollars of cash.
    pub ramp_min_cash_usd: i128,
    /// Account kinds of exchanges' (fiat) accounts.
    pub exchange_kinds: Vec<String>,
}

impl Default for PeelConfig {
    fn default() -> Self {
        PeelConfig {
            min_hops: 3,
            min_split_bp: 9_000,
            max_split_bp: 9_900,
            hop_gap_us: 24 * HOUR_US,
            min_hop_value_bp: 9_000,
            max_hop_value_bp: 10_100,
            skip_kinds: vec!["exchange".into(), "msb".into()],
            ramp_window_us: 48 * HOUR_US,
            ramp_min_share_bp: 9_000,
            ramp_max_share_bp: 11_000,
            ramp_min_cash_usd: 3_000 * schema::USD_ONE,
            exchange_kinds: vec!["exchange".into()],
        }
    }
}

impl PeelConfig {
    /// Every problem with the settings, in config-key terms (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.min_hops < 2 {
            errs.push(format!("peel chains need at least 2 hops, got {}", self.min_hops));
        }
        if !(5_000 < self.min_split_bp && self.min_split_bp <= self.max_split_bp && self.max_split_bp < 10_000) {
            errs.push(format!(
                "the peel split must satisfy 0.5 < min <= max < 1, got {}..{}",
                self.min_split_bp as f64 / 1e4,
                self.max_split_bp as f64 / 1e4
            ));
        }
        if self.hop_gap_us <= 0 || self.ramp_window_us <= 0 {
            errs.push("the hop gap and the on-ramp window must be positive".into());
        }
        if !(0 < self.min_hop_value_bp && self.min_hop_value_bp <= self.max_hop_value_bp) {
            errs.push("the hop value band must satisfy 0 < min <= max".into());
        }
        if !(0 < self.ramp_min_share_bp && self.ramp_min_share_bp <= self.ramp_max_share_bp) {
            errs.push("the on-ramp share band must satisfy 0 < min <= max".into());
        }
        errs
    }
}

// ---------------------------------------------------------------------------------------
// State (all of it travels in checkpoints as JSON; amounts as decimal text).

/// One transaction as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Leg {
    tx_id: String,
    ts: i64,
    seq: u64,
    src: Option<String>,
    dst: String,
    /// `amount`, scale 18.
    #[serde(with = "text")]
    amount: i128,
    currency: String,
    /// `amount_usd`, scale 6, when a rate was known.
    #[serde(with = "opt_text")]
    usd: Option<i128>,
    channel: Option<String>,
    location: Option<String>,
}

impl Leg {
    fn when(&self) -> (i64, u64) {
        (self.ts, self.seq)
    }
}

/// A wallet whose crypto activity since an input may still make it a hop.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cand {
    input: Leg,
    outs: Vec<Leg>,
    /// Not 1-in/2-out: kept only to keep the wallet out while it stays active.
    dead: bool,
    /// When it is judged (its timer).
    deadline: i64,
}

/// A judged peel hop.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hop {
    wallet: String,
    input: Leg,
    big: Leg,
    small: Leg,
}

/// A cash deposit that may back an on-ramp.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Deposit {
    leg: Leg,
    /// USD micro-dollars of it not yet paid to an exchange (0 once evidence of an alert).
    #[serde(with = "text")]
    left: i128,
}

/// Timer kinds: candidates are judged before tails are checked at the same time.
const JUDGE: u8 = 0;
const TAIL: u8 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Open candidates by wallet.
    cands: BTreeMap<String, Cand>,
    /// `(deadline, kind, key)`: a candidate's wallet (JUDGE) or a hop's larger output
    /// (TAIL). Fired by the first row later than `deadline`, in this order.
    timers: BTreeSet<(i64, u8, String)>,
    /// Hops by input transaction.
    hops: BTreeMap<String, Hop>,
    /// A hop's larger output -> its input (the hop).
    by_big: BTreeMap<String, String>,
    /// `(judged at, input)` in the order hops were judged, for eviction.
    hop_order: VecDeque<(i64, String)>,
    /// Cash deposits of the last `ramp_window`, by account, oldest first.
    deposits: BTreeMap<String, VecDeque<Deposit>>,
    /// `(ts, account)` of those deposits in arrival order, for eviction.
    deposit_order: VecDeque<(i64, String)>,
}

/// One row of a batch, borrowed.
struct Row<'a> {
    tx_id: &'a str,
    ts: i64,
    seq: u64,
    src: Option<&'a str>,
    dst: Option<&'a str>,
    amount: i128,
    currency: &'a str,
    channel: Option<&'a str>,
    location: Option<&'a str>,
    usd: Option<i128>,
    src_kind: Option<&'a str>,
    dst_kind: Option<&'a str>,
}

impl Row<'_> {
    fn leg(&self, dst: &str) -> Leg {
        Leg {
            tx_id: self.tx_id.to_string(),
            ts: self.ts,
            seq: self.seq,
            src: self.src.map(str::to_string),
            dst: dst.to_string(),
            amount: self.amount,
            currency: self.currency.to_string(),
            usd: self.usd,
            channel: self.channel.map(str::to_string),
            location: self.location.map(str::to_string),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The detector.

/// The T11 detector: peel chains and on-ramps.
#[derive(Debug)]
pub struct PeelDetector {
    cfg: PeelConfig,
    st: State,
}

impl PeelDetector {
    pub fn new(cfg: PeelConfig) -> Self {
        PeelDetector { cfg, st: State::default() }
    }

    /// The settings in use.
    pub fn config(&self) -> &PeelConfig {
        &self.cfg
    }

    fn skipped(&self, kind: Option<&str>) -> bool {
        kind.is_some_and(|k| self.cfg.skip_kinds.iter().any(|s| s == k))
    }

    /// Takes one row (rows come in `(ts, seq)` order); `keep_us` is how long hops stay.
    fn push(&mut self, r: &Row, keep_us: i64, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        self.fire(Some(r.ts), ctx, out);
        self.evict(r.ts, keep_us);
        match r.channel {
            Some(CRYPTO) => self.crypto(r),
            Some(CASH_DEPOSIT) => {
                if let (Some(dst), Some(usd)) = (r.dst, r.usd)
                    && usd > 0
                {
                    let leg = r.leg(dst);
                    self.st.deposits.entry(dst.to_string()).or_default().push_back(Deposit { leg, left: usd });
                    self.st.deposit_order.push_back((r.ts, dst.to_string()));
                }
            }
            _ => {}
        }
        if r.channel != Some(CRYPTO)
            && r.channel != Some(CASH_DEPOSIT)
            && r.channel != Some(CASH_WITHDRAWAL)
            && r.dst_kind.is_some_and(|k| self.cfg.exchange_kinds.iter().any(|e| e == k))
            && !self.skipped(r.src_kind)
            && let (Some(src), Some(dst), Some(usd)) = (r.src, r.dst, r.usd)
            && src != dst
            && let Some(a) = self.funding(r, src, dst, usd, ctx)
        {
            out.push(a);
        }
    }

    /// Fires the timers due before `now` (all of them at the end of input).
    fn fire(&mut self, now: Option<i64>, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        while let Some(first) = self.st.timers.first() {
            if now.is_some_and(|now| first.0 >= now) {
                break;
            }
            let (_, kind, key) = self.st.timers.pop_first().expect("first");
            match kind {
                JUDGE => self.judge(&key),
                _ => {
                    if let Some(a) = self.tail(&key, ctx) {
                        out.push(a);
                    }
                }
            }
        }
    }

    /// Drops hops judged more than `keep_us` before `now`, and deposits older than the
    /// on-ramp window.
    fn evict(&mut self, now: i64, keep_us: i64) {
        let st = &mut self.st;
        while let Some((t, _)) = st.hop_order.front() {
            if *t >= now.saturating_sub(keep_us) {
                break;
            }
            let (_, input) = st.hop_order.pop_front().expect("front");
            if let Some(h) = st.hops.remove(&input) {
                st.by_big.remove(&h.big.tx_id);
            }
        }
        let cutoff = now.saturating_sub(self.cfg.ramp_window_us);
        while let Some((t, _)) = st.deposit_order.front() {
            if *t >= cutoff {
                break;
            }
            let (_, a) = st.deposit_order.pop_front().expect("front");
            if let Some(q) = st.deposits.get_mut(&a) {
                q.pop_front();
                if q.is_empty() {
                    st.deposits.remove(&a);
                }
            }
        }
    }

    /// A crypto transfer: an output of its source's candidate, an input of its target's.
    fn crypto(&mut self, r: &Row) {
        let (Some(src), Some(dst)) = (r.src, r.dst) else { return };
        if src == dst {
            return;
        }
        let gap = self.cfg.hop_gap_us;
        if !self.skipped(r.src_kind)
            && let Some(c) = self.st.cands.get_mut(src)
        {
            let old = c.deadline;
            if c.dead {
                c.deadline = old.max(r.ts + gap);
            } else if c.outs.len() < 2 {
                c.outs.push(r.leg(dst));
                if c.outs.len() == 2 {
                    c.deadline = r.ts + gap;
                }
            } else {
                // a third output: not a peel hop
                c.dead = true;
                c.outs.clear();
                c.deadline = old.max(r.ts + gap);
            }
            let new = c.deadline;
            self.retime(src, old, new);
        }
        if !self.skipped(r.dst_kind) {
            match self.st.cands.get_mut(dst) {
                None => {
                    let deadline = r.ts + gap;
                    self.st
                        .cands
                        .insert(dst.to_string(), Cand { input: r.leg(dst), outs: Vec::new(), dead: false, deadline });
                    self.st.timers.insert((deadline, JUDGE, dst.to_string()));
                }
                Some(c) => {
                    // a second input: not 1-in
                    let old = c.deadline;
                    c.dead = true;
                    c.outs.clear();
                    c.deadline = old.max(r.ts + gap);
                    let new = c.deadline;
                    self.retime(dst, old, new);
                }
            }
        }
    }

    fn retime(&mut self, wallet: &str, old: i64, new: i64) {
        if old != new {
            let mut key = (old, JUDGE, wallet.to_string());
            self.st.timers.remove(&key);
            key.0 = new;
            self.st.timers.insert(key);
        }
    }

    /// Judges a candidate whose time has come.
    fn judge(&mut self, wallet: &str) {
        let Some(c) = self.st.cands.remove(wallet) else { return };
        if c.dead || c.outs.len() != 2 {
            return;
        }
        let (a, b) = (&c.outs[0], &c.outs[1]);
        if a.currency != c.input.currency || b.currency != c.input.currency || a.dst == b.dst {
            return;
        }
        let (big, small) = if b.amount > a.amount { (b, a) } else { (a, b) };
        let total = big.amount + small.amount;
        if !within_bp(big.amount, total, self.cfg.min_split_bp, self.cfg.max_split_bp)
            || !within_bp(total, c.input.amount, self.cfg.min_hop_value_bp, self.cfg.max_hop_value_bp)
        {
            return;
        }
        let hop = Hop { wallet: wallet.to_string(), input: c.input.clone(), big: big.clone(), small: small.clone() };
        let check = hop.big.ts + 2 * self.cfg.hop_gap_us;
        self.st.timers.insert((check, TAIL, hop.big.tx_id.clone()));
        self.st.by_big.insert(hop.big.tx_id.clone(), hop.input.tx_id.clone());
        self.st.hop_order.push_back((c.deadline, hop.input.tx_id.clone()));
        self.st.hops.insert(hop.input.tx_id.clone(), hop);
    }

    /// Checks whether the hop whose larger output is `big_tx` ends a chain long enough to
    /// alert.
    fn tail(&self, big_tx: &str, ctx: &DetectCtx) -> Option<Alert> {
        let input = self.st.by_big.get(big_tx)?;
        if self.st.hops.contains_key(big_tx) {
            return None; // the chain goes on: its own tail is checked later
        }
        let mut chain = vec![self.st.hops.get(input)?];
        while let Some(prev) = self.st.by_big.get(&chain.last().expect("hop").input.tx_id) {
            match self.st.hops.get(prev) {
                Some(h) if chain.len() <= self.st.hops.len() => chain.push(h),
                _ => break,
            }
        }
        if chain.len() < self.cfg.min_hops {
            return None;
        }
        chain.reverse();
        Some(self.peel_alert(&chain, ctx))
    }

    /// An exchange funded from `src`: an on-ramp alert if cash backs it. Cash already
    /// paid to an exchange does not back a later funding: a funding that is no on-ramp
    /// pays out the account's recent cash first (oldest first).
    fn funding(&mut self, r: &Row, src: &str, dst: &str, usd: i128, ctx: &DetectCtx) -> Option<Alert> {
        let q = self.st.deposits.get_mut(src)?;
        let cash: i128 = q.iter().map(|d| d.left).sum();
        if cash < self.cfg.ramp_min_cash_usd
            || !within_bp(usd, cash, self.cfg.ramp_min_share_bp, self.cfg.ramp_max_share_bp)
        {
            let mut rest = usd;
            for d in q.iter_mut() {
                let take = d.left.min(rest);
                d.left -= take;
                rest -= take;
            }
            return None;
        }
        let mut deps = Vec::new();
        for d in q.iter_mut().filter(|d| d.left > 0) {
            deps.push((d.leg.clone(), d.left));
            d.left = 0;
        }
        let funding = r.leg(dst);
        Some(ramp_alert(&self.cfg, src, &deps, cash, &funding, ctx))
    }

    fn peel_alert(&self, chain: &[&Hop], ctx: &DetectCtx) -> Alert {
        peel_alert(&self.cfg, chain, ctx)
    }
}

/// `lo <= part / whole <= hi` in basis points, exactly (`whole` > 0).
fn within_bp(part: i128, whole: i128, lo: i128, hi: i128) -> bool {
    if whole <= 0 || part < 0 {
        return false;
    }
    // scale down huge values so the products fit (precision lost: 1e-12 of the value)
    let (mut p, mut w) = (part, whole);
    while p.max(w) > i128::MAX / 2 / lo.max(hi).max(10_000) {
        p /= 1_000_000;
        w /= 1_000_000;
    }
    p * 10_000 >= w * lo && p * 10_000 <= w * hi
}

impl Detector for PeelDetector {
    fn id(&self) -> &str {
        DETECTOR_ID
    }

    fn on_batch(&mut self, batch: &RecordBatch, window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mirrorflow_core::detect::TxColumns { ids, src, dst, ts, seq, usd } =
            mirrorflow_core::detect::TxColumns::of(batch, DETECTOR_ID)?;
        let col = |n: &str| mirrorflow_core::detect::column(batch, DETECTOR_ID, n);
        let amount = col(tx::AMOUNT)?.as_primitive::<Decimal128Type>();
        let (currency, channel, location) = (
            col(tx::CURRENCY)?.as_string::<i32>(),
            col(tx::CHANNEL)?.as_string::<i32>(),
            col(tx::LOCATION)?.as_string::<i32>(),
        );
        let (src_kind, dst_kind) = (col("src_kind")?.as_string::<i32>(), col("dst_kind")?.as_string::<i32>());
        fn opt(a: &StringArray, i: usize) -> Option<&str> {
            (!a.is_null(i)).then(|| a.value(i))
        }
        // hops stay for the window (chains are read back through them), and at least
        // until every hop that could link to them has been judged
        let keep_us = window.span_us().max(3 * self.cfg.hop_gap_us);
        let mut alerts = Vec::new();
        for i in 0..batch.num_rows() {
            if amount.is_null(i) {
                continue;
            }
            let row = Row {
                tx_id: ids.value(i),
                ts: ts.value(i),
                seq: seq.value(i),
                src: opt(src, i),
                dst: opt(dst, i),
                amount: amount.value(i),
                currency: currency.value(i),
                channel: opt(channel, i),
                location: opt(location, i),
                usd: (!usd.is_null(i)).then(|| usd.value(i)),
                src_kind: opt(src_kind, i),
                dst_kind: opt(dst_kind, i),
            };
            self.push(&row, keep_us, ctx, &mut alerts);
        }
        Ok(alerts)
    }

    /// Judges every open candidate and checks every chain: input has ended.
    fn on_finish(&mut self, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        self.fire(None, ctx, &mut alerts);
        Ok(alerts)
    }

    /// Open candidates, timers, hops and recent cash deposits.
    fn save_state(&self, out: &mut dyn std::io::Write) -> Result<bool> {
        save_json(DETECTOR_ID, out, &self.st)
    }

    fn load_state(&mut self, state: &RawValue) -> Result<()> {
        self.st = load_json(DETECTOR_ID, state)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Alerts.

fn amount_text(v: i128) -> String {
    format_decimal(v, schema::AMOUNT_SCALE as u32)
}

fn peel_alert(cfg: &PeelConfig, chain: &[&Hop], ctx: &DetectCtx) -> Alert {
    let head = chain[0];
    let last = chain[chain.len() - 1];
    let cur = head.input.currency.clone();
    let mut legs: Vec<&Leg> =
        std::iter::once(&head.input).chain(chain.iter().flat_map(|h| [&h.big, &h.small])).collect();
    legs.sort_by_key(|l| l.when());
    let tx_ids: Vec<String> = legs.iter().map(|l| l.tx_id.clone()).collect();
    let mut wallets: Vec<String> = chain.iter().map(|h| h.wallet.clone()).collect();
    wallets.push(last.big.dst.clone());
    let peeled: i128 = chain.iter().map(|h| h.small.amount).sum();
    let peeled_usd: Option<i128> = chain.iter().map(|h| h.small.usd).sum();
    let start_usd = head.input.usd.or_else(|| Some(head.big.usd? + head.small.usd?)).unwrap_or(0);
    let hop_details: Vec<serde_json::Value> = chain
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let total = h.big.amount + h.small.amount;
            serde_json::json!({
                "hop": k + 1,
                "wallet": h.wallet,
                "input": { "tx_id": h.input.tx_id, "from": h.input.src, "ts": format_ts(h.input.ts),
                           "amount": amount_text(h.input.amount) },
                "forward": { "tx_id": h.big.tx_id, "to": h.big.dst, "ts": format_ts(h.big.ts),
                             "amount": amount_text(h.big.amount), "amount_usd": h.big.usd.map(usd_text) },
                "peel": { "tx_id": h.small.tx_id, "to": h.small.dst, "ts": format_ts(h.small.ts),
                          "amount": amount_text(h.small.amount), "amount_usd": h.small.usd.map(usd_text) },
                "currency": h.input.currency,
                "split_share": format!("{:.4}", h.big.amount as f64 / total as f64),
                "hours_to_outputs": hours(h.big.ts.max(h.small.ts) - h.input.ts),
            })
        })
        .collect();
    let peel_to: Vec<&str> = chain.iter().map(|h| h.small.dst.as_str()).collect();
    let mut touched: Vec<&str> = wallets.iter().map(String::as_str).chain(peel_to.iter().copied()).collect();
    touched.extend(head.input.src.as_deref());
    let (first_ts, last_ts) = (legs[0].ts, legs[legs.len() - 1].ts);
    let n = chain.len();
    let shares: Vec<f64> = chain.iter().map(|h| share_pct(h.big.amount, h.big.amount + h.small.amount)).collect();
    let (lo, hi) = shares.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    let narrative = format!(
        "Wallet {} received {} {cur} (USD {}) from {} on {} and passed it down a peel chain of {n} hops ({}) until \
         {}: each wallet received once and, within {} hours, sent exactly two transfers, forwarding {lo:.1}% to \
         {hi:.1}% to the next wallet and peeling the rest off to another address ({} {cur}{} peeled off in all, to {}); \
         {} {cur} reached {} at the end. Peel chains move a balance on while cashing it out in small amounts that \
         hide where it came from.",
        head.wallet,
        amount_text(head.input.amount),
        usd_text(start_usd),
        head.input.src.as_deref().unwrap_or("an unknown source"),
        format_ts(head.input.ts),
        wallets.join(" -> "),
        format_ts(last_ts),
        cfg.hop_gap_us / HOUR_US,
        amount_text(peeled),
        peeled_usd.map(|u| format!(", USD {}", usd_text(u))).unwrap_or_default(),
        peel_to.join(", "),
        amount_text(last.big.amount),
        last.big.dst,
    );
    let score = (0.6 + 0.05 * (n - cfg.min_hops.min(n)) as f64).min(0.9);
    Alert {
        alert_id: alert_id(PEEL_RULE_ID, RULE_VERSION, &tx_ids),
        rule_id: PEEL_RULE_ID.into(),
        rule_version: RULE_VERSION.into(),
        typology: TYPOLOGY.into(),
        severity: Severity::High,
        score,
        subjects: subjects_in_order(wallets.iter().map(String::as_str), &ctx.accounts),
        tx_ids,
        first_ts: format_ts(first_ts),
        last_ts: format_ts(last_ts),
        amount_usd: usd_text(start_usd),
        jurisdictions: jurisdictions(touched, &ctx.accounts),
        details: serde_json::json!({
            "pattern": "peel_chain",
            "hops": hop_details,
            "hop_count": n,
            "path": wallets,
            "currency": cur,
            "start_amount": amount_text(head.input.amount),
            "end_amount": amount_text(last.big.amount),
            "peeled_amount": amount_text(peeled),
            "peeled_usd": peeled_usd.map(usd_text),
            "duration_hours": hours(last_ts - first_ts),
            "params": {
                "min_hops": cfg.min_hops,
                "split": [format!("{:.2}", cfg.min_split_bp as f64 / 1e4), format!("{:.2}", cfg.max_split_bp as f64 / 1e4)],
                "hop_gap_hours": cfg.hop_gap_us / HOUR_US,
            },
        }),
        narrative,
        status: Status::Open,
    }
}

/// `deps`: the deposits behind the funding, with the USD of each not paid out before.
fn ramp_alert(cfg: &PeelConfig, account: &str, deps: &[(Leg, i128)], cash: i128, f: &Leg, ctx: &DetectCtx) -> Alert {
    let usd = f.usd.unwrap_or(0);
    let mut tx_ids: Vec<String> = deps.iter().map(|d| d.0.tx_id.clone()).collect();
    tx_ids.push(f.tx_id.clone());
    let (first, last) = (deps[0].0.ts, deps[deps.len() - 1].0.ts);
    let deposited: i128 = deps.iter().filter_map(|d| d.0.usd).sum();
    let share = share_pct(usd, cash);
    let exchange = ctx.accounts.field(&f.dst, acct::INSTITUTION);
    let exchange_name = match &exchange {
        Some(name) => format!("{} ({name})", f.dst),
        None => f.dst.clone(),
    };
    let mut places: Vec<&str> = deps.iter().filter_map(|d| d.0.location.as_deref()).collect();
    places.sort_unstable();
    places.dedup();
    let where_ = if places.is_empty() { String::new() } else { format!(" at branches in {}", places.join(", ")) };
    let n = deps.len();
    let narrative = format!(
        "Account {account} received USD {} in cash in {n} deposit{}{where_} between {} and {}, and {:.1} hours after \
         the last deposit sent USD {} ({share:.1}% of that cash{}) by {} to the exchange account {exchange_name} on \
         {}: cash placed in the bank and moved to a crypto exchange within {} hours, a crypto on-ramp.",
        usd_text(deposited),
        if n == 1 { "" } else { "s" },
        format_ts(first),
        format_ts(last),
        hours(f.ts - last),
        usd_text(usd),
        if deposited == cash {
            String::new()
        } else {
            format!(", USD {} of it not yet paid to an exchange", usd_text(cash))
        },
        f.channel.as_deref().unwrap_or("transfer"),
        format_ts(f.ts),
        cfg.ramp_window_us / HOUR_US,
    );
    let deposits: Vec<serde_json::Value> = deps
        .iter()
        .map(|(d, left)| {
            serde_json::json!({
                "tx_id": d.tx_id, "ts": format_ts(d.ts), "amount_usd": d.usd.map(usd_text),
                "amount": amount_text(d.amount), "currency": d.currency, "location": d.location,
                "unspent_usd": usd_text(*left),
            })
        })
        .collect();
    let accounts = [account.to_string(), f.dst.clone()];
    Alert {
        alert_id: alert_id(RAMP_RULE_ID, RULE_VERSION, &tx_ids),
        rule_id: RAMP_RULE_ID.into(),
        rule_version: RULE_VERSION.into(),
        typology: TYPOLOGY.into(),
        severity: Severity::Medium,
        score: 0.55,
        subjects: subjects_in_order(accounts.iter().map(String::as_str), &ctx.accounts),
        tx_ids,
        first_ts: format_ts(first),
        last_ts: format_ts(f.ts),
        amount_usd: usd_text(cash),
        jurisdictions: jurisdictions(accounts.iter().map(String::as_str), &ctx.accounts),
        details: serde_json::json!({
            "pattern": "on_ramp",
            "account": account,
            "deposits": deposits,
            "cash_usd": usd_text(cash),
            "cash_deposited_usd": usd_text(deposited),
            "funding": {
                "tx_id": f.tx_id, "ts": format_ts(f.ts), "to": f.dst, "exchange": exchange,
                "amount": amount_text(f.amount), "currency": f.currency, "amount_usd": f.usd.map(usd_text),
                "channel": f.channel,
            },
            "share_of_cash": format!("{:.4}", usd as f64 / cash as f64),
            "hours_after_last_deposit": hours(f.ts - last),
            "hours_after_first_deposit": hours(f.ts - first),
            "params": {
                "window_hours": cfg.ramp_window_us / HOUR_US,
                "share": [format!("{:.2}", cfg.ramp_min_share_bp as f64 / 1e4), format!("{:.2}", cfg.ramp_max_share_bp as f64 / 1e4)],
                "min_cash_usd": usd_text(cfg.ramp_min_cash_usd),
            },
        }),
        narrative,
        status: Status::Open,
    }
}

/// `i128` as decimal text (JSON numbers cannot hold it).
mod text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// `Option<i128>` as decimal text or null.
mod opt_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i128>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| s.parse().map_err(D::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests;
