//! Counterparty novelty (T8 over a long horizon): an account that pays, or is paid by,
//! several counterparties once each and never again, in a ledger where relations recur.
//!
//! An analyst reads a fan by what is ordinary for the ledger: in most books a payer pays
//! the same payee again (payroll, rent, suppliers, family), so a relation that starts and
//! never recurs is unusual, and an account with several of them is a fan-in or fan-out
//! that a window of days cannot see when the legs are weeks or months apart. Nothing here
//! looks at memos, industries or amounts:
//! - a **first contact** is a payment between two accounts that have not dealt within the
//!   recurrence horizon (`[novelty] recurrence-horizon`, 120 days: a quarterly cadence
//!   with slack); it is **confirmed** once that horizon has passed, as **one-off** (no
//!   second payment) or **recurring**;
//! - the ledger's own **one-off rate** (one-offs over confirmed first contacts, in force
//!   once `min-baseline` of them are confirmed), and the account's own rate outside the
//!   span when it has `min-own-history` confirmed first contacts there, whichever is
//!   higher, is what the account is held to: a shop whose payers are one-off every week
//!   is ordinary, an account whose relations all recur is not, once it starts collecting
//!   one-off payers;
//! - an account's one-offs on one side within `span` (365 days) are a fan when there are
//!   at least `min-counterparties` of them and more than the binomial tail of its first
//!   contacts in that span at the held rate (`sigmas` standard deviations).
//!
//! Owns: `NoveltyDetector` and its state (the pairs within the horizon, the first contacts
//! awaiting confirmation, each account's confirmed ones within the span, the one-offs
//! still read (held once, compact; sides and episodes hold their numbers), open episodes).
//! Must not: depend on batching (rows one by one in `(ts, seq)` order; confirmation and
//! episodes close on event time), key on anything but who paid whom and when.

use std::collections::{BTreeMap, HashMap, VecDeque};

use arrow::array::{Array, RecordBatch};
use serde::{Deserialize, Serialize};

use mirrorflow_core::alert::build::usd_text;
use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};
use mirrorflow_core::detect::{DetectCtx, Detector, RawValue, load_json, save_json};
use mirrorflow_core::error::Result;
use mirrorflow_core::schema::acct;
use mirrorflow_core::time::format_ts;
use mirrorflow_core::window::EventWindow;

pub const DETECTOR_ID: &str = "novelty";
pub const FAN_IN_RULE: &str = "novelty_fan_in";
pub const FAN_OUT_RULE: &str = "novelty_fan_out";
pub const RULE_VERSION: &str = "1";
pub const TYPOLOGY: &str = "T8";

const DAY_US: i64 = 86_400_000_000;

/// `[novelty]` as the detector takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NoveltyConfig {
    /// A first contact with no second payment between the same two accounts within this is
    /// a one-off (microseconds).
    pub horizon_us: i64,
    /// One-offs of one account counted together over at most this.
    pub span_us: i64,
    /// Fewest one-off counterparties of a fan.
    pub min_counterparties: usize,
    /// Standard deviations above the expected one-offs.
    pub sigmas: f64,
    /// And at least this many times the expected one-offs (where most first contacts are
    /// one-off, one-offs say nothing).
    pub min_ratio: f64,
    /// Confirmed first contacts in the ledger before its one-off rate is trusted.
    pub min_baseline: u64,
    /// Confirmed first contacts of the account outside the span before its own rate counts.
    pub min_own_history: u32,
    /// Confirmed first contacts of accounts with as many first contacts (a power-of-two
    /// band) before that band's rate counts.
    pub min_peer_history: u64,
    /// Only accounts with at least this many first contacts in a span are held to their
    /// band (busy accounts: shops, schools); below it, few one-offs of a few accounts would
    /// make a band's rate.
    pub peer_min_first_contacts: usize,
    /// An episode is alerted when no one-off has joined it for this long (event time).
    pub episode_gap_us: i64,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            horizon_us: 120 * DAY_US,
            span_us: 365 * DAY_US,
            min_counterparties: 4,
            sigmas: 3.0,
            min_ratio: 2.0,
            min_baseline: 500,
            min_own_history: 10,
            min_peer_history: 200,
            peer_min_first_contacts: 16,
            episode_gap_us: 60 * DAY_US,
        }
    }
}

impl NoveltyConfig {
    /// What is wrong with it, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.horizon_us <= 0 || self.span_us <= 0 || self.episode_gap_us <= 0 {
            out.push("`novelty.recurrence-horizon`, `span` and `episode-gap` must be more than 0".into());
        }
        if self.min_counterparties < 2 {
            out.push("`novelty.min-counterparties` must be at least 2".into());
        }
        if !(self.sigmas.is_finite() && self.sigmas >= 0.0) {
            out.push(format!("`novelty.sigmas` = {}: expected a number >= 0", self.sigmas));
        }
        if !(self.min_ratio.is_finite() && self.min_ratio >= 1.0) {
            out.push(format!("`novelty.min-ratio` = {}: expected a number >= 1", self.min_ratio));
        }
        out
    }
}

/// `[novelty]` as written in the TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNovelty {
    pub enabled: bool,
    pub recurrence_horizon: String,
    pub span: String,
    pub min_counterparties: usize,
    pub sigmas: f64,
    pub min_ratio: f64,
    pub min_baseline: u64,
    pub min_own_history: u32,
    pub min_peer_history: u64,
    pub peer_min_first_contacts: usize,
    pub episode_gap: String,
}

impl RawNovelty {
    /// The detector's config when on; problems pushed to `errs`.
    pub fn validate(&self, errs: &mut Vec<String>) -> Option<NoveltyConfig> {
        let mut dur = |key: &str, text: &str| match mirrorflow_core::time::parse_duration(text) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => {
                errs.push(format!("`novelty.{key}`: {e}"));
                1
            }
        };
        let cfg = NoveltyConfig {
            horizon_us: dur("recurrence-horizon", &self.recurrence_horizon),
            span_us: dur("span", &self.span),
            episode_gap_us: dur("episode-gap", &self.episode_gap),
            min_counterparties: self.min_counterparties,
            sigmas: self.sigmas,
            min_ratio: self.min_ratio,
            min_baseline: self.min_baseline,
            min_own_history: self.min_own_history,
            min_peer_history: self.min_peer_history,
            peer_min_first_contacts: self.peer_min_first_contacts,
        };
        errs.extend(cfg.problems());
        self.enabled.then_some(cfg)
    }
}

/// Which side of the account the counterparties are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
enum Side {
    /// Paid by them (fan-in).
    In,
    /// Paid to them (fan-out).
    Out,
}

/// One payment as it arrives, borrowed from the batch.
#[derive(Debug, Clone, Copy)]
struct Payment<'a> {
    tx_id: &'a str,
    ts: i64,
    seq: u64,
    /// Micro-dollars; `None` without an FX rate.
    usd: Option<i128>,
}

/// One payment, as evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ev {
    tx_id: String,
    ts: i64,
    seq: u64,
    /// Micro-dollars; `None` without an FX rate.
    usd: Option<i128>,
}

/// Two accounts' dealings within the horizon (16 bytes: a bank's ledger holds millions).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pair {
    last_ts: i64,
    /// Payments since the first contact (saturating).
    count: u32,
    /// The first contact awaits confirmation.
    pending: bool,
}

/// A payment held compact (56 bytes): a first contact awaiting confirmation, or a
/// confirmed one-off. Its tx id lives in a `TxIds` buffer.
#[derive(Debug, Clone)]
struct Held {
    ts: i64,
    seq: u64,
    /// Micro-dollars as two halves (keeps the entry 8-aligned); `has_usd` false without
    /// an FX rate.
    usd_hi: i64,
    usd_lo: u64,
    id_at: u64,
    src: u32,
    dst: u32,
    id_len: u32,
    has_usd: bool,
}

impl Held {
    fn new(ev: Payment<'_>, src: u32, dst: u32, ids: &mut TxIds) -> Held {
        let (id_at, id_len) = ids.push(ev.tx_id);
        let usd = ev.usd.unwrap_or(0);
        Held {
            ts: ev.ts,
            seq: ev.seq,
            usd_hi: (usd >> 64) as i64,
            usd_lo: usd as u64,
            id_at,
            src,
            dst,
            id_len,
            has_usd: ev.usd.is_some(),
        }
    }

    fn usd(&self) -> Option<i128> {
        self.has_usd.then_some(((self.usd_hi as i128) << 64) | self.usd_lo as i128)
    }

    /// As evidence (`ids` holds its tx id).
    fn ev(&self, ids: &TxIds) -> Ev {
        Ev { tx_id: ids.get(self.id_at, self.id_len).to_string(), ts: self.ts, seq: self.seq, usd: self.usd() }
    }
}

/// Tx ids of held payments, first in first out, in one buffer.
#[derive(Debug, Default)]
struct TxIds {
    text: String,
    /// Absolute offset of `text`'s first byte, and of the first id still wanted.
    base: u64,
    front: u64,
}

impl TxIds {
    fn push(&mut self, id: &str) -> (u64, u32) {
        let at = self.base + self.text.len() as u64;
        self.text.push_str(id);
        (at, id.len() as u32)
    }

    fn get(&self, at: u64, len: u32) -> &str {
        let from = (at - self.base) as usize;
        &self.text[from..from + len as usize]
    }

    /// Ids before `at` are no longer wanted.
    fn release_to(&mut self, at: u64) {
        self.front = self.front.max(at);
        let dead = (self.front - self.base) as usize;
        if dead > (1 << 20) && dead * 2 > self.text.len() {
            self.text.drain(..dead);
            self.base = self.front;
        }
    }
}

/// An account side's confirmed first contacts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Profile {
    /// (first contact ts, one-offs confirmed on this side before it, one-off) within the
    /// span of the newest, in time order.
    firsts: VecDeque<(i64, u32, bool)>,
    /// One-offs within the span not yet alerted: their numbers in `State::one_offs`, in
    /// time order.
    open: VecDeque<u64>,
    /// All time: confirmed first contacts and one-offs.
    total_firsts: u32,
    total_oneoffs: u32,
}

impl Profile {
    /// Drops the first contacts and one-offs before `cutoff` (both lists are in time order).
    fn forget_before(&mut self, cutoff: i64, one_offs: &OneOffs) {
        while self.firsts.front().is_some_and(|f| f.0 < cutoff) {
            self.firsts.pop_front();
        }
        while self.open.front().is_some_and(|&o| one_offs.get(o).ts < cutoff) {
            self.open.pop_front();
        }
    }
}

/// The confirmed one-offs that a side's open list or an episode may still read, held once
/// for both sides, in confirmation (time) order and numbered from 0 over the run: a side
/// keeps 8-byte numbers, not copies. Dropped from the front by the weekly sweep, once
/// nothing reads them.
#[derive(Debug, Default)]
struct OneOffs {
    held: VecDeque<Held>,
    ids: TxIds,
    /// The number of `held`'s front entry.
    base: u64,
}

impl OneOffs {
    fn push(&mut self, h: &Held, tx_id: &str) -> u64 {
        let (id_at, id_len) = self.ids.push(tx_id);
        self.held.push_back(Held { id_at, id_len, ..h.clone() });
        self.base + self.held.len() as u64 - 1
    }

    fn get(&self, n: u64) -> &Held {
        &self.held[(n - self.base) as usize]
    }

    fn tx_id(&self, n: u64) -> &str {
        let h = self.get(n);
        self.ids.get(h.id_at, h.id_len)
    }

    /// Drops the one-offs numbered before `n`.
    fn release_to(&mut self, n: u64) {
        while self.base < n
            && let Some(h) = self.held.pop_front()
        {
            self.base += 1;
            self.ids.release_to(h.id_at + u64::from(h.id_len));
        }
        crate::trim_slack(&mut self.held);
    }
}

/// What an episode was judged on, when it last grew.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Judged {
    /// The one-offs' numbers in `State::one_offs`.
    evidence: Vec<u64>,
    /// First contacts of the side within the evidence's span.
    firsts_in_span: u32,
    expected: f64,
    threshold: f64,
    ledger_rate: f64,
    own_rate: Option<f64>,
    /// The rate of accounts with as many first contacts in their span (and that number).
    peer_rate: Option<f64>,
    peer_band: u32,
    /// Event time the episode last grew.
    grew: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    names: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
    /// (payer << 32 | payee) -> dealings within the horizon. Serialized as a list.
    #[serde(with = "map_as_list")]
    pairs: HashMap<u64, Pair>,
    /// First contacts awaiting confirmation, oldest first (checkpoints carry them as
    /// `pending_first_contacts`).
    #[serde(skip)]
    pending: VecDeque<Held>,
    #[serde(skip)]
    ids: TxIds,
    /// Confirmed one-offs still read (checkpoints carry them as `one_offs`, from number
    /// `one_offs_base`).
    #[serde(skip)]
    one_offs: OneOffs,
    #[serde(with = "map_as_list")]
    profiles: BTreeMap<(u32, Side), Profile>,
    #[serde(with = "map_as_list")]
    episodes: BTreeMap<(u32, Side), Judged>,
    ledger_firsts: u64,
    ledger_oneoffs: u64,
    /// Per side and band of first contacts within the span (1, 2-3, 4-7, ...): confirmed
    /// first contacts and one-offs.
    #[serde(with = "map_as_list")]
    peers: BTreeMap<(Side, u32), (u64, u64)>,
    /// Episodes dropped because later first contacts showed the one-offs ordinary.
    cleared: u64,
    /// Rows with two accounts, and the newest event time seen.
    rows_seen: u64,
    first_ts: Option<i64>,
    now: i64,
    /// The day of the last sweep of stale pairs.
    swept_day: i64,
    /// No open episode is due before this event time (a lower bound: `i64::MIN` until
    /// the episodes are next looked over), so a row looks over them only when one may be.
    #[serde(skip)]
    next_due: i64,
}

/// The state as a checkpoint writes it: `State`, the first contacts awaiting
/// confirmation and the one-offs still read.
#[derive(Serialize)]
struct SavedRef<'a> {
    st: &'a State,
    pending_first_contacts: HeldRef<'a>,
    one_offs_base: u64,
    one_offs: HeldRef<'a>,
}

/// Held payments (the first contacts awaiting confirmation, the one-offs still read), as
/// `(evidence, src, dst)` written one by one (a long run holds millions: never copied
/// whole).
struct HeldRef<'a>(&'a VecDeque<Held>, &'a TxIds);

impl Serialize for HeldRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|h| (h.ev(self.1), h.src, h.dst)))
    }
}

/// Held payments read back from a checkpoint (as `HeldRef` wrote them), appended to `q`
/// with their tx ids in `ids`.
fn load_held(saved: Vec<(Ev, u32, u32)>, q: &mut VecDeque<Held>, ids: &mut TxIds) {
    for (ev, src, dst) in saved {
        q.push_back(Held::new(Payment { tx_id: &ev.tx_id, ts: ev.ts, seq: ev.seq, usd: ev.usd }, src, dst, ids));
    }
}

#[derive(Deserialize)]
struct Loaded {
    st: State,
    pending_first_contacts: Vec<(Ev, u32, u32)>,
    one_offs_base: u64,
    one_offs: Vec<(Ev, u32, u32)>,
}

fn pair_key(src: u32, dst: u32) -> u64 {
    (u64::from(src) << 32) | u64::from(dst)
}

/// The band of `n` first contacts: 1, 2-3, 4-7, 8-15, ...
fn band(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

/// Maps with tuple or integer keys, as JSON lists of `[key, value]` in key order (JSON
/// keys are strings; a hash map's order is not deterministic).
mod map_as_list {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'m, M, K, V, S>(m: &'m M, s: S) -> Result<S::Ok, S::Error>
    where
        &'m M: IntoIterator<Item = (&'m K, &'m V)>,
        K: Serialize + Ord + 'm,
        V: Serialize + 'm,
        S: Serializer,
    {
        let mut v: Vec<(&K, &V)> = m.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        s.collect_seq(v)
    }

    pub fn deserialize<'de, M, K, V, D>(d: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: DeserializeOwned,
        V: DeserializeOwned,
        D: Deserializer<'de>,
    {
        let v: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

/// The detector.
pub struct NoveltyDetector {
    cfg: NoveltyConfig,
    st: State,
}

impl NoveltyDetector {
    pub fn new(cfg: NoveltyConfig) -> Self {
        NoveltyDetector { cfg, st: State { next_due: i64::MIN, ..State::default() } }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.st.index.get(name) {
            return i;
        }
        let i = self.st.names.len() as u32;
        self.st.names.push(name.to_string());
        self.st.index.insert(name.to_string(), i);
        i
    }

    /// The ledger's one-off rate, once enough first contacts are confirmed.
    fn ledger_rate(&self) -> Option<f64> {
        (self.st.ledger_firsts >= self.cfg.min_baseline.max(1))
            .then(|| self.st.ledger_oneoffs as f64 / self.st.ledger_firsts as f64)
    }

    /// One payment from `src` to `dst` (its tx id is copied only if it is a first contact).
    fn push(&mut self, src: u32, dst: u32, ev: Payment<'_>, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let t = ev.ts;
        self.advance(t, ctx, out);
        self.st.rows_seen += 1;
        self.st.first_ts.get_or_insert(t);
        let horizon = self.cfg.horizon_us;
        match self.st.pairs.get_mut(&pair_key(src, dst)) {
            Some(p) if p.last_ts + horizon >= t || p.pending => {
                p.count = p.count.saturating_add(1);
                p.last_ts = t;
            }
            _ => {
                self.st.pairs.insert(pair_key(src, dst), Pair { last_ts: t, count: 1, pending: true });
                self.queue(ev, src, dst);
            }
        }
    }

    fn queue(&mut self, ev: Payment<'_>, src: u32, dst: u32) {
        let held = Held::new(ev, src, dst, &mut self.st.ids);
        self.st.pending.push_back(held);
    }

    /// Event time reached `t`: confirms the first contacts whose horizon has passed,
    /// alerts the episodes that stopped growing, forgets stale pairs once a day.
    fn advance(&mut self, t: i64, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        self.st.now = self.st.now.max(t);
        while let Some(p) = self.st.pending.front() {
            if p.ts + self.cfg.horizon_us >= t {
                break;
            }
            let (src, dst, first_ts) = (p.src, p.dst, p.ts);
            let one_off = self.st.pairs.get(&pair_key(src, dst)).is_none_or(|p| p.count <= 1);
            // only a one-off is needed again
            let n = one_off.then(|| self.st.one_offs.push(p, self.st.ids.get(p.id_at, p.id_len)));
            let end = p.id_at + u64::from(p.id_len);
            self.st.pending.pop_front();
            self.st.ids.release_to(end);
            if let Some(pair) = self.st.pairs.get_mut(&pair_key(src, dst)) {
                pair.pending = false;
            }
            self.confirm(src, dst, first_ts, n, t);
        }
        // most rows find no episode due: no scan, no list
        if !self.st.episodes.is_empty() && self.st.next_due < t {
            let gap = self.cfg.episode_gap_us;
            let due: Vec<(u32, Side)> =
                self.st.episodes.iter().filter(|(_, j)| j.grew + gap < t).map(|(k, _)| *k).collect();
            for key in due {
                self.close(key, ctx, out);
            }
            self.st.next_due = self.st.episodes.values().map(|j| j.grew + gap).min().unwrap_or(i64::MAX);
        }
        let day = t.div_euclid(DAY_US);
        if day > self.st.swept_day {
            if day.div_euclid(7) > self.st.swept_day.div_euclid(7) {
                self.prune_profiles();
            }
            self.st.swept_day = day;
            let horizon = self.cfg.horizon_us;
            self.st.pairs.retain(|_, p| p.pending || p.last_ts + horizon >= t);
            if self.st.pairs.capacity() > 1 << 16 && self.st.pairs.len() < self.st.pairs.capacity() / 4 {
                self.st.pairs.shrink_to(self.st.pairs.len() * 2);
            }
        }
    }

    /// Weekly (in event time): drops from every side's lists what no later confirmation
    /// can read, and trims the lists' spare room. A confirmation drops a side's entries
    /// more than a span before the first contact it confirms, but only on that side: a
    /// side that stops making first contacts (a closed account, a mule used once) would
    /// keep its lists for the rest of the run, and each list's buffer, grown by doubling,
    /// would stay at the most it ever held. Every first contact still to be confirmed is
    /// at or after the oldest awaiting confirmation (they wait in time order) and not
    /// before the newest row, so entries a span before the older of the two are dropped
    /// exactly as that confirmation would have: results do not change. Then the one-offs
    /// before the oldest that a side or an open episode still reads are dropped.
    fn prune_profiles(&mut self) {
        let from = self.st.pending.front().map_or(self.st.now, |p| p.ts.min(self.st.now));
        let cutoff = from.saturating_sub(self.cfg.span_us);
        let mut oldest = self.st.one_offs.base + self.st.one_offs.held.len() as u64;
        for prof in self.st.profiles.values_mut() {
            prof.forget_before(cutoff, &self.st.one_offs);
            crate::trim_slack(&mut prof.firsts);
            crate::trim_slack(&mut prof.open);
            oldest = prof.open.front().map_or(oldest, |&n| n.min(oldest));
        }
        for j in self.st.episodes.values() {
            oldest = j.evidence.iter().fold(oldest, |m, &n| m.min(n));
        }
        self.st.one_offs.release_to(oldest);
        tracing::debug!(
            pairs = self.st.pairs.len(),
            pairs_capacity = self.st.pairs.capacity(),
            pending = self.st.pending.len(),
            pending_capacity = self.st.pending.capacity(),
            pending_id_bytes = self.st.ids.text.len(),
            one_offs = self.st.one_offs.held.len(),
            one_off_id_bytes = self.st.one_offs.ids.text.len(),
            profiles = self.st.profiles.len(),
            accounts = self.st.names.len(),
            episodes = self.st.episodes.len(),
            "novelty state after the weekly sweep"
        );
    }

    /// The pair's first contact (at `first_ts`) has had its horizon: one-off (`ev`, the
    /// evidence) or recurring (`None`).
    fn confirm(&mut self, src: u32, dst: u32, first_ts: i64, one_off_n: Option<u64>, now: i64) {
        let one_off = one_off_n.is_some();
        self.st.ledger_firsts += 1;
        self.st.ledger_oneoffs += u64::from(one_off);
        let span = self.cfg.span_us;
        for (acct, side) in [(dst, Side::In), (src, Side::Out)] {
            let prof = self.st.profiles.entry((acct, side)).or_default();
            prof.firsts.push_back((first_ts, prof.total_oneoffs, one_off));
            prof.total_firsts += 1;
            prof.total_oneoffs += u32::from(one_off);
            prof.forget_before(first_ts.saturating_sub(span), &self.st.one_offs);
            crate::shrink_idle(&mut prof.firsts);
            crate::shrink_idle(&mut prof.open);
            let peer = self.st.peers.entry((side, band(prof.firsts.len()))).or_default();
            peer.0 += 1;
            peer.1 += u64::from(one_off);
            if let Some(n) = one_off_n {
                prof.open.push_back(n);
                self.judge(acct, side, now);
            }
        }
    }

    /// Are the side's open one-offs more than its first contacts would give at the rate it
    /// is held to?
    fn judge(&mut self, acct: u32, side: Side, now: i64) {
        let Some(ledger_rate) = self.ledger_rate() else { return };
        let Some(prof) = self.st.profiles.get(&(acct, side)) else { return };
        let k = prof.open.len();
        if k < self.cfg.min_counterparties {
            return;
        }
        let (from, to) = (self.st.one_offs.get(prof.open[0]).ts, self.st.one_offs.get(prof.open[k - 1]).ts);
        // first contacts are confirmed in time order: the span is a slice of them
        let (lo, hi) = (prof.firsts.partition_point(|f| f.0 < from), prof.firsts.partition_point(|f| f.0 <= to));
        if hi <= lo {
            return;
        }
        let n = (hi - lo) as u32;
        let last = prof.firsts[hi - 1];
        let oneoffs_in_span = last.1 + u32::from(last.2) - prof.firsts[lo].1;
        let (out_n, out_o) = (prof.total_firsts - n, prof.total_oneoffs - oneoffs_in_span);
        let own_rate = (out_n >= self.cfg.min_own_history).then(|| out_o as f64 / out_n as f64);
        let peer_band = band(prof.firsts.len());
        let peer_rate = self
            .st
            .peers
            .get(&(side, peer_band))
            .filter(|p| prof.firsts.len() >= self.cfg.peer_min_first_contacts && p.0 >= self.cfg.min_peer_history)
            .map(|p| p.1 as f64 / p.0 as f64);
        let p = [own_rate, peer_rate].into_iter().flatten().fold(ledger_rate, f64::max).clamp(0.0, 1.0);
        let expected = n as f64 * p;
        let threshold =
            (expected + self.cfg.sigmas * (expected * (1.0 - p)).sqrt() + 0.5).max(self.cfg.min_ratio * expected);
        if (k as f64) < threshold {
            // what it held is ordinary for it after all: the episode is dropped, and its
            // one-offs become the account's own history that later ones are held to
            if self.st.episodes.remove(&(acct, side)).is_some() {
                self.st.cleared += 1;
                if let Some(prof) = self.st.profiles.get_mut(&(acct, side)) {
                    prof.open.clear();
                    crate::shrink_idle(&mut prof.open);
                }
            }
            return;
        }
        let evidence: Vec<u64> = prof.open.iter().copied().collect();
        self.st.next_due = self.st.next_due.min(now.saturating_add(self.cfg.episode_gap_us));
        self.st.episodes.insert(
            (acct, side),
            Judged {
                evidence,
                firsts_in_span: n,
                expected,
                threshold,
                ledger_rate,
                own_rate,
                peer_rate,
                peer_band,
                grew: now,
            },
        );
    }

    /// Alerts the episode and takes its one-offs out of the side's open list.
    fn close(&mut self, key: (u32, Side), ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let Some(j) = self.st.episodes.remove(&key) else { return };
        if let Some(prof) = self.st.profiles.get_mut(&key) {
            let used: std::collections::HashSet<u64> = j.evidence.iter().copied().collect();
            prof.open.retain(|o| !used.contains(o));
            crate::shrink_idle(&mut prof.open);
        }
        out.push(self.alert(key.0, key.1, &j, ctx));
    }

    fn alert(&self, acct: u32, side: Side, j: &Judged, ctx: &DetectCtx) -> Alert {
        let name = &self.st.names[acct as usize];
        let one_offs = &self.st.one_offs;
        let mut ns = j.evidence.clone();
        ns.sort_by_key(|&n| (one_offs.get(n).ts, one_offs.get(n).seq));
        let ev: Vec<&Held> = ns.iter().map(|&n| one_offs.get(n)).collect();
        let tx_ids: Vec<String> = ns.iter().map(|&n| one_offs.tx_id(n).to_string()).collect();
        let other = |h: &Held| if side == Side::In { h.src } else { h.dst };
        let others: Vec<&str> = ev.iter().map(|h| self.st.names[other(h) as usize].as_str()).collect();
        let total: i128 = ev.iter().filter_map(|h| h.usd()).sum();
        let (first, last) = (ev[0].ts, ev[ev.len() - 1].ts);
        let k = ev.len();
        let days = (last - first) as f64 / DAY_US as f64;
        let horizon_days = self.cfg.horizon_us / DAY_US;
        let (rule, verb, role) = match side {
            Side::In => (FAN_IN_RULE, "received a payment from", "payers"),
            Side::Out => (FAN_OUT_RULE, "sent a payment to", "payees"),
        };
        let own = j.own_rate.unwrap_or(0.0);
        let peer = j.peer_rate.unwrap_or(0.0);
        let (lo, hi) = (1usize << j.peer_band.saturating_sub(1), (1usize << j.peer_band) - 1);
        let rate_text = if own > j.ledger_rate && own >= peer {
            format!(
                "its own one-off rate outside these days, {:.1}% (the ledger's is {:.2}%)",
                own * 100.0,
                j.ledger_rate * 100.0
            )
        } else if peer > j.ledger_rate {
            format!(
                "the one-off rate of accounts with {lo} to {hi} first contacts in a span, {:.1}% (the ledger's is \
                 {:.2}%)",
                peer * 100.0,
                j.ledger_rate * 100.0
            )
        } else {
            format!("the ledger's one-off rate, {:.2}% of first contacts", j.ledger_rate * 100.0)
        };
        let narrative = format!(
            "Account {name} {verb} {k} different counterparties between {} and {} ({days:.0} days), each for the \
             first time and never again within {horizon_days} days (USD {} in all). In this ledger relations recur: \
             held to {rate_text}, its {} first contacts over those days would give {:.1} one-off {role}, and {:.1} is \
             as many as it would show by chance, not {k}. Counterparties used once each and dropped, over weeks or months, are how a \
             fan-{} spreads funds so that no window of days shows them together.",
            format_ts(first),
            format_ts(last),
            usd_text(total),
            j.firsts_in_span,
            j.expected,
            (j.threshold - 0.5).max(0.0),
            if side == Side::In { "in" } else { "out" },
        );
        let legs: Vec<serde_json::Value> = ev
            .iter()
            .zip(&others)
            .zip(&tx_ids)
            .map(|((h, other), tx_id)| {
                serde_json::json!({
                    "tx_id": tx_id, "ts": format_ts(h.ts), "counterparty": other,
                    "amount_usd": h.usd().map(usd_text),
                })
            })
            .collect();
        let mut subjects = vec![name.clone()];
        if let Some(c) = ctx.accounts.field(name, acct::CUSTOMER_ID) {
            subjects.push(c);
        }
        let mut jur: Vec<String> = std::iter::once(name.as_str())
            .chain(others.iter().copied())
            .filter_map(|a| ctx.accounts.field(a, acct::COUNTRY))
            .collect();
        jur.sort();
        jur.dedup();
        let excess = k as f64 - j.expected;
        Alert {
            alert_id: alert_id(rule, RULE_VERSION, &tx_ids),
            rule_id: rule.into(),
            rule_version: RULE_VERSION.into(),
            typology: TYPOLOGY.into(),
            severity: if k >= 2 * self.cfg.min_counterparties { Severity::High } else { Severity::Medium },
            score: (0.5 + 0.05 * excess).min(0.9),
            subjects,
            tx_ids,
            first_ts: format_ts(first),
            last_ts: format_ts(last),
            amount_usd: usd_text(total),
            jurisdictions: jur,
            details: serde_json::json!({
                "pattern": if side == Side::In { "one_off_fan_in" } else { "one_off_fan_out" },
                "account": name,
                "one_off_counterparties": k,
                "first_contacts_in_span": j.firsts_in_span,
                "expected_one_offs": format!("{:.2}", j.expected),
                "threshold": format!("{:.2}", j.threshold),
                "ledger_one_off_rate": format!("{:.4}", j.ledger_rate),
                "own_one_off_rate": j.own_rate.map(|o| format!("{o:.4}")),
                "peer_one_off_rate": j.peer_rate.map(|o| format!("{o:.4}")),
                "peer_band": [lo, hi],
                "span_days": format!("{days:.1}"),
                "legs": legs,
                "params": {
                    "recurrence_horizon_days": horizon_days,
                    "span_days": self.cfg.span_us / DAY_US,
                    "min_counterparties": self.cfg.min_counterparties,
                    "sigmas": self.cfg.sigmas,
                    "min_ratio": self.cfg.min_ratio,
                },
            }),
            narrative,
            status: Status::Open,
        }
    }
}

impl Detector for NoveltyDetector {
    fn id(&self) -> &str {
        DETECTOR_ID
    }

    fn on_batch(&mut self, batch: &RecordBatch, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mirrorflow_core::detect::TxColumns { ids, src, dst, ts, seq, usd } =
            mirrorflow_core::detect::TxColumns::of(batch, DETECTOR_ID)?;
        let mut alerts = Vec::new();
        for i in 0..batch.num_rows() {
            if src.is_null(i) || dst.is_null(i) {
                self.advance(ts.value(i), ctx, &mut alerts);
                continue;
            }
            let (s, d) = (src.value(i), dst.value(i));
            // an account's own transfers, or between accounts of one customer, are no counterparties
            let same_customer = || {
                let c = ctx.accounts.field_str(s, acct::CUSTOMER_ID);
                c.is_some() && c == ctx.accounts.field_str(d, acct::CUSTOMER_ID)
            };
            if s == d || same_customer() {
                self.advance(ts.value(i), ctx, &mut alerts);
                continue;
            }
            let ev = Payment {
                tx_id: ids.value(i),
                ts: ts.value(i),
                seq: seq.value(i),
                usd: (!usd.is_null(i)).then(|| usd.value(i)),
            };
            let (si, di) = (self.intern(s), self.intern(d));
            self.push(si, di, ev, ctx, &mut alerts);
        }
        Ok(alerts)
    }

    /// Input has ended: the open episodes are alerted (first contacts still inside their
    /// horizon stay unjudged, and the note says how many).
    fn on_finish(&mut self, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        let keys: Vec<(u32, Side)> = self.st.episodes.keys().copied().collect();
        for key in keys {
            self.close(key, ctx, &mut alerts);
        }
        Ok(alerts)
    }

    fn save_state(&self, out: &mut dyn std::io::Write) -> Result<bool> {
        let saved = SavedRef {
            st: &self.st,
            pending_first_contacts: HeldRef(&self.st.pending, &self.st.ids),
            one_offs_base: self.st.one_offs.base,
            one_offs: HeldRef(&self.st.one_offs.held, &self.st.one_offs.ids),
        };
        save_json(DETECTOR_ID, out, &saved)
    }

    fn load_state(&mut self, state: &RawValue) -> Result<()> {
        let Loaded { mut st, pending_first_contacts, one_offs_base, one_offs } = load_json(DETECTOR_ID, state)?;
        st.index = st.names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
        st.next_due = i64::MIN;
        st.one_offs.base = one_offs_base;
        load_held(one_offs, &mut st.one_offs.held, &mut st.one_offs.ids);
        load_held(pending_first_contacts, &mut st.pending, &mut st.ids);
        self.st = st;
        Ok(())
    }

    fn notes(&self) -> Vec<mirrorflow_core::detect::DetectorNote> {
        use mirrorflow_core::detect::{DetectorNote, thousands};
        let st = &self.st;
        let horizon_days = self.cfg.horizon_us / DAY_US;
        let seen_days = st.first_ts.map_or(0, |f| (st.now - f) / DAY_US);
        let mut n = if st.rows_seen == 0 {
            DetectorNote::warn(DETECTOR_ID, "novelty: no payments between two accounts: nothing to judge".into())
        } else if st.ledger_firsts == 0 {
            DetectorNote::warn(
                DETECTOR_ID,
                format!(
                    "novelty: the ledger spans {seen_days} days, not more than novelty.recurrence-horizon = \
                     {horizon_days} days: no first contact could be confirmed one-off or recurring, so one-off \
                     fans were not judged"
                ),
            )
        } else if self.ledger_rate().is_none() {
            DetectorNote::warn(
                DETECTOR_ID,
                format!(
                    "novelty: {} first contacts confirmed, fewer than novelty.min-baseline = {}: the ledger's \
                     one-off rate is not known, so one-off fans were not judged",
                    thousands(st.ledger_firsts),
                    self.cfg.min_baseline
                ),
            )
        } else {
            DetectorNote::info(
                DETECTOR_ID,
                format!(
                    "novelty: {} first contacts confirmed over {seen_days} days, {:.2}% of them one-off; {} \
                     episodes cleared by later first contacts; {} first contacts still within the \
                     {horizon_days}-day recurrence horizon at the end were not judged",
                    thousands(st.ledger_firsts),
                    st.ledger_oneoffs as f64 * 100.0 / st.ledger_firsts as f64,
                    thousands(st.cleared),
                    thousands(st.pending.len() as u64)
                ),
            )
        };
        n.rows_seen = Some(st.rows_seen);
        n.rows_eligible = Some(st.ledger_firsts);
        vec![n]
    }
}

#[cfg(test)]
mod tests;
