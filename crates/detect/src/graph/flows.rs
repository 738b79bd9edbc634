//! T9 scatter-gather / gather-scatter and T10 bipartite layers, found as each edge
//! arrives, over the same window graph as the cycles.
//!
//! - **Scatter-gather**: a source pays >= `min_mids` intermediaries, each of which passes
//!   what it got (within the hop band) on to one sink, later and within `window`. Found
//!   when a gather edge `m -> k` arrives: the source is whoever paid `m` a matching amount
//!   before; its other payments are checked for forwards to `k`.
//! - **Gather-scatter**: >= `min_mids` sources pay a hub that then pays >= `min_mids`
//!   sinks, the scattered total within the band of the gathered total, within `window`.
//!   Found when a scatter edge leaves the hub.
//! - **Bipartite** (and stacked layers): >= 2 senders each paying the same >= 2 receivers
//!   within `window` (a complete K2,2 or larger); layers that share accounts are one
//!   episode, a stack when some accounts receive in one layer and send in the next.
//!
//! Matches of one pattern that share their key accounts form an episode; the episode is
//! alerted once, with all its evidence, when no match has joined it for `episode_gap` of
//! event time (or at the end of input): the same alerts whatever the batching.
//!
//! Owns: `FlowFinder` (matches ending at one edge), `Episodes` (grouping, closing).
//! Must not: hold evidence by graph index past the edge's eviction (episodes copy it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex};
use serde::{Deserialize, Serialize};

use super::{Half, TemporalGraph};

/// Flow pattern settings.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Scatter-gather.
    pub scatter_gather: bool,
    /// Gather-scatter within the balance band (the off-band form goes with
    /// `off_band_first_contacts`).
    pub gather_scatter: bool,
    /// Bipartite / stacked layers.
    pub bipartite: bool,
    /// How long a pattern may take, first edge to last (µs).
    pub window_us: i64,
    /// Bipartite layers: how long a layer may take (µs).
    pub bipartite_window_us: i64,
    /// Gather-scatter: how long from the first inflow to the last outflow (µs): pooling
    /// for layering is quick, a business's turnover is not.
    pub gather_scatter_window_us: i64,
    /// Fewest intermediaries (scatter-gather), sources and sinks (gather-scatter).
    pub min_mids: usize,
    /// A forward carries at least `10_000 - max_loss_bp` and at most `10_000 + max_gain_bp`
    /// basis points of what came in.
    pub max_loss_bp: i128,
    pub max_gain_bp: i128,
    /// Event time without a new match after which an episode is alerted (µs).
    pub episode_gap_us: i64,
    /// Edges one arriving edge may make a pattern search look at (dense hubs).
    pub budget: u64,
    /// Only first contacts (a pair's first transaction within the pair memory) make
    /// patterns: layering goes through fresh counterparties, trade and payroll through
    /// established ones.
    pub new_pairs_only: bool,
    /// Gather-scatter: the scattered total within `[min, max]` basis points of the
    /// gathered total.
    pub balance_bp: (i128, i128),
    /// The accounts a pattern runs through are conduits: what the pattern brings an
    /// intermediary (hub, receiver) is at least this share (basis points) of all it
    /// received in the window (0: not asked). A busy business's few matching payments
    /// are not a conduit; a mule's are.
    pub conduit_bp: i128,
    /// A scatter-gather whose forwards fall outside the value band still counts with one
    /// intermediary more than `min_mids` (every transfer is a first contact already when
    /// `new_pairs_only`); a gather-scatter's balance is then not asked either.
    pub off_band_first_contacts: bool,
    /// How long an off-band pattern may take (µs): patterns drawn out over weeks.
    pub off_band_window_us: i64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            scatter_gather: true,
            gather_scatter: true,
            bipartite: true,
            window_us: 7 * DAY,
            bipartite_window_us: 7 * DAY,
            gather_scatter_window_us: 4 * DAY,
            min_mids: 2,
            max_loss_bp: 1500,
            max_gain_bp: 500,
            episode_gap_us: 3 * DAY,
            budget: 50_000,
            new_pairs_only: true,
            balance_bp: (8_500, 10_500),
            conduit_bp: 5_000,
            off_band_first_contacts: false,
            off_band_window_us: 30 * DAY,
        }
    }
}

const DAY: i64 = 86_400_000_000;

/// Which flow pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    ScatterGather,
    GatherScatter,
    Bipartite,
    /// T7: time-respecting cycles (`graph::cycles`); cycles sharing two accounts are one
    /// episode (a ring that keeps paying itself round is one alert, not one per lap).
    Cycle,
}

impl Pattern {
    pub fn rule_id(self) -> &'static str {
        match self {
            Pattern::ScatterGather => "graph_scatter_gather",
            Pattern::GatherScatter => "graph_gather_scatter",
            Pattern::Bipartite => "graph_bipartite",
            Pattern::Cycle => super::cycles::RULE_ID,
        }
    }

    pub fn typology(self) -> &'static str {
        match self {
            Pattern::ScatterGather | Pattern::GatherScatter => "T9",
            Pattern::Bipartite => "T10",
            Pattern::Cycle => "T7",
        }
    }
}

/// One edge of evidence, copied out of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EvEdge {
    pub ts: i64,
    pub seq: u64,
    pub tx_id: String,
    pub src: String,
    pub dst: String,
    /// USD micro-dollars, as text in JSON (i128).
    #[serde(with = "i128_text")]
    pub usd: i128,
}

mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let t = String::deserialize(d)?;
        t.parse().map_err(serde::de::Error::custom)
    }
}

/// A pattern ending at the arriving edge: its key accounts (what episodes group by) and
/// its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowMatch {
    pub pattern: Pattern,
    /// Scatter-gather: [source, sink]; gather-scatter: [hub]; bipartite: every account.
    pub key: Vec<String>,
    pub edges: Vec<EvEdge>,
    /// Gather-scatter: the match kept the value band (`gather_scatter_balance`); false for
    /// off-band matches (found through first contacts alone) and other patterns.
    pub balanced: bool,
}

/// Finds the flow patterns each arriving edge completes.
#[derive(Debug, Default)]
pub struct FlowFinder {
    pub cfg: FlowConfig,
    /// Searches cut short by `budget`.
    pub truncated: u64,
}

/// `(when)` just after `w`.
fn after(w: (i64, u64)) -> (i64, u64) {
    if w.1 == u64::MAX { (w.0 + 1, 0) } else { (w.0, w.1 + 1) }
}

impl FlowFinder {
    pub fn new(cfg: FlowConfig) -> Self {
        FlowFinder { cfg, truncated: 0 }
    }

    /// Whether an edge may be part of a pattern.
    fn eligible(&self, h: &Half) -> bool {
        h.first || !self.cfg.new_pairs_only
    }

    /// `part` is at least the conduit share of what `n` received in `[lo, hi)`.
    fn conduit(&self, tg: &TemporalGraph, n: NodeIndex, part: i128, lo: (i64, u64), hi: (i64, u64)) -> bool {
        if self.cfg.conduit_bp == 0 {
            return true;
        }
        let all = tg.received(n, lo, hi);
        part * 10_000 >= all * self.cfg.conduit_bp
    }

    /// `later` carries between `keep` and `grow` of `earlier`.
    fn in_band(&self, earlier: i128, later: i128) -> bool {
        later * 10_000 >= earlier * (10_000 - self.cfg.max_loss_bp)
            && later * 10_000 <= earlier * (10_000 + self.cfg.max_gain_bp)
    }

    /// The patterns that edge `e` (just added) completes.
    pub fn on_edge(&mut self, tg: &TemporalGraph, e: EdgeIndex) -> Vec<FlowMatch> {
        let mut out = Vec::new();
        let mut budget = self.cfg.budget;
        if self.cfg.scatter_gather {
            self.scatter_gather(tg, e, &mut budget, &mut out);
        }
        if self.cfg.gather_scatter || (self.cfg.off_band_first_contacts && self.cfg.new_pairs_only) {
            self.gather_scatter(tg, e, &mut budget, &mut out);
        }
        if self.cfg.bipartite {
            self.bipartite(tg, e, &mut budget, &mut out);
        }
        if budget == 0 {
            self.truncated += 1;
        }
        out
    }

    fn ev(tg: &TemporalGraph, h: &Half, src: NodeIndex, dst: NodeIndex) -> EvEdge {
        let g = &tg.graph;
        EvEdge {
            ts: h.when.0,
            seq: h.when.1,
            tx_id: g[h.edge].tx_id.to_string(),
            src: g[src].id.to_string(),
            dst: g[dst].id.to_string(),
            usd: h.usd,
        }
    }

    /// `e = m -> k` as the last gather edge of a scatter-gather.
    fn scatter_gather(&self, tg: &TemporalGraph, e: EdgeIndex, budget: &mut u64, out: &mut Vec<FlowMatch>) {
        let g = &tg.graph;
        let Some((m, k)) = g.edge_endpoints(e) else { return };
        let Some(last) = g[m].outs.back().copied().filter(|h| h.edge == e && self.eligible(h)) else { return };
        let off_ok = self.cfg.off_band_first_contacts && self.cfg.new_pairs_only;
        let strict_lo = (last.when.0 - self.cfg.window_us, 0);
        let lo =
            if off_ok { (last.when.0 - self.cfg.window_us.max(self.cfg.off_band_window_us), 0) } else { strict_lo };
        // a hop that keeps to the band inside the pattern's window
        let strict = |a: &Half, b: &Half| a.when >= strict_lo && self.in_band(a.usd, b.usd);
        // sources: who paid `m` what it now passes on (within the band, or any amount
        // when off-band patterns may count)
        let mut sources: BTreeMap<NodeIndex, Half> = BTreeMap::new();
        for h in g[m].ins_between(lo, last.when) {
            *budget = budget.saturating_sub(1);
            if h.other != k && h.other != m && self.eligible(h) && (off_ok || strict(h, &last)) {
                match sources.get(&h.other) {
                    Some(old) if strict(old, &last) || !strict(h, &last) => {}
                    _ => {
                        sources.insert(h.other, *h);
                    }
                }
            }
        }
        for (s, into_m) in sources {
            if *budget == 0 {
                return;
            }
            // the source's other payments forwarded to `k` (the first matching forward
            // each: one within the band first, else any when off-band may count)
            let mut pairs: BTreeMap<NodeIndex, (Half, Half, bool)> = BTreeMap::new();
            for o in g[s].outs_between(lo, last.when) {
                let mid = o.other;
                if mid == k || mid == m || pairs.get(&mid).is_some_and(|p| p.2) || !self.eligible(o) {
                    continue;
                }
                for f in g[mid].outs_between(after(o.when), last.when) {
                    *budget = budget.saturating_sub(1);
                    if f.other == k && self.eligible(f) {
                        if strict(o, f) {
                            pairs.insert(mid, (*o, *f, true));
                            break;
                        }
                        if off_ok && !pairs.contains_key(&mid) {
                            pairs.insert(mid, (*o, *f, false));
                        }
                    }
                }
                if *budget == 0 {
                    return;
                }
            }
            // within the band: >= min_mids intermediaries, each a conduit for the source's
            // money over the pattern's window
            let mut chosen: BTreeMap<NodeIndex, (Half, Half, bool)> = pairs
                .iter()
                .filter(|(mid, (o, f, ok))| *ok && self.conduit(tg, **mid, o.usd, strict_lo, f.when))
                .map(|(a, b)| (*a, *b))
                .collect();
            let banded = strict(&into_m, &last)
                && chosen.len() + 1 >= self.cfg.min_mids
                && self.conduit(tg, m, into_m.usd, strict_lo, last.when);
            if !banded {
                // outside the band: one intermediary more, every transfer a first contact,
                // conduits over the longer window
                if !off_ok {
                    continue;
                }
                chosen =
                    pairs.into_iter().filter(|(mid, (o, f, _))| self.conduit(tg, *mid, o.usd, lo, f.when)).collect();
                if chosen.len() < self.cfg.min_mids || !self.conduit(tg, m, into_m.usd, lo, last.when) {
                    continue;
                }
                // and the sink is a conduit too: what re-converged is most of what it got in
                // the window, not a few of a supplier's many receipts
                let gathered: i128 = last.usd + chosen.values().map(|(_, f, _)| f.usd).sum::<i128>();
                if !self.conduit(tg, k, gathered, lo, after(last.when)) {
                    continue;
                }
            }
            let mut edges = vec![Self::ev(tg, &into_m, s, m), Self::ev(tg, &last, m, k)];
            for (mid, (o, f, _)) in &chosen {
                edges.push(Self::ev(tg, o, s, *mid));
                edges.push(Self::ev(tg, f, *mid, k));
            }
            edges.sort();
            out.push(FlowMatch {
                pattern: Pattern::ScatterGather,
                key: vec![g[s].id.to_string(), g[k].id.to_string()],
                edges,
                balanced: false,
            });
        }
    }

    /// `e = h -> k` as a scatter edge of a gather-scatter through hub `h`: the hub's
    /// inflows over the window before it, and its outflows since the first of them,
    /// from and to >= `min_mids` accounts, balance within the band; or, off the band,
    /// from and to more than `min_mids` over the off-band window, paying out no more than
    /// the band's top.
    fn gather_scatter(&self, tg: &TemporalGraph, e: EdgeIndex, budget: &mut u64, out: &mut Vec<FlowMatch>) {
        let g = &tg.graph;
        let Some((hub, _)) = g.edge_endpoints(e) else { return };
        let Some(last) = g[hub].outs.back().copied().filter(|h| h.edge == e && self.eligible(h)) else { return };
        let strict = if self.cfg.gather_scatter {
            self.gs_window(tg, hub, &last, self.cfg.gather_scatter_window_us, false, budget)
        } else {
            None
        };
        let found = match strict {
            Some(m) => Some(m),
            None if self.cfg.off_band_first_contacts && self.cfg.new_pairs_only => {
                let w = self.cfg.gather_scatter_window_us.max(self.cfg.off_band_window_us);
                self.gs_window(tg, hub, &last, w, true, budget)
            }
            None => None,
        };
        out.extend(found);
    }

    fn gs_window(
        &self,
        tg: &TemporalGraph,
        hub: NodeIndex,
        last: &Half,
        window_us: i64,
        off_band: bool,
        budget: &mut u64,
    ) -> Option<FlowMatch> {
        let g = &tg.graph;
        let lo = (last.when.0 - window_us, 0);
        let ins: Vec<&Half> = g[hub].ins_between(lo, last.when).filter(|h| self.eligible(h)).collect();
        *budget = budget.saturating_sub(ins.len() as u64);
        let first_in = ins.first()?;
        let outs: Vec<&Half> =
            g[hub].outs_between(after(first_in.when), after(last.when)).filter(|h| self.eligible(h)).collect();
        *budget = budget.saturating_sub(outs.len() as u64);
        let sources: BTreeSet<NodeIndex> = ins.iter().map(|h| h.other).collect();
        let sinks: BTreeSet<NodeIndex> = outs.iter().map(|h| h.other).collect();
        let need = self.cfg.min_mids + usize::from(off_band);
        if sources.len() < need || sinks.len() < need || !sources.is_disjoint(&sinks) {
            return None;
        }
        // the hub is empty again: what came in went out (and nothing went out before it
        // came in: the scatter starts after the last inflow)
        let (gathered, scattered): (i128, i128) = (ins.iter().map(|h| h.usd).sum(), outs.iter().map(|h| h.usd).sum());
        let last_in = ins.last().expect("non-empty").when;
        let (lo_bp, hi_bp) = self.cfg.balance_bp;
        let balanced = (off_band || scattered * 10_000 >= gathered * lo_bp) && scattered * 10_000 <= gathered * hi_bp;
        let conduit_lo = if off_band { lo } else { (last.when.0 - self.cfg.window_us.max(window_us), 0) };
        if outs.first().is_none_or(|o| o.when < last_in)
            || !balanced
            || !self.conduit(tg, hub, gathered, conduit_lo, last.when)
        {
            return None;
        }
        let mut edges: Vec<EvEdge> = ins.iter().map(|h| Self::ev(tg, h, h.other, hub)).collect();
        edges.extend(outs.iter().map(|h| Self::ev(tg, h, hub, h.other)));
        edges.sort();
        Some(FlowMatch {
            pattern: Pattern::GatherScatter,
            key: vec![g[hub].id.to_string()],
            edges,
            balanced: !off_band,
        })
    }

    /// `e = a -> b` completing senders x receivers layers: every other sender `a2` that
    /// paid `b` in the window and paid another receiver `b2` that `a` paid too.
    fn bipartite(&self, tg: &TemporalGraph, e: EdgeIndex, budget: &mut u64, out: &mut Vec<FlowMatch>) {
        let g = &tg.graph;
        let Some((a, b)) = g.edge_endpoints(e) else { return };
        let Some(last) = g[a].outs.back().copied().filter(|h| h.edge == e && self.eligible(h)) else { return };
        let lo = (last.when.0 - self.cfg.bipartite_window_us, 0);
        let hi = after(last.when);
        // what `a` paid in the window, by receiver
        let mut paid_by_a: BTreeMap<NodeIndex, Vec<Half>> = BTreeMap::new();
        for h in g[a].outs_between(lo, hi).filter(|h| self.eligible(h)) {
            *budget = budget.saturating_sub(1);
            paid_by_a.entry(h.other).or_default().push(*h);
        }
        if paid_by_a.len() < 2 {
            return;
        }
        let mut edges: BTreeSet<EvEdge> = BTreeSet::new();
        let mut accounts: BTreeSet<NodeIndex> = BTreeSet::new();
        let mut senders_seen: BTreeSet<NodeIndex> = BTreeSet::new();
        for into_b in g[b].ins_between(lo, last.when).filter(|h| self.eligible(h)) {
            let a2 = into_b.other;
            if a2 == a || a2 == b || !senders_seen.insert(a2) {
                continue;
            }
            for o in g[a2].outs_between(lo, hi).filter(|h| self.eligible(h)) {
                *budget = budget.saturating_sub(1);
                let b2 = o.other;
                if b2 == b || b2 == a || b2 == a2 {
                    continue;
                }
                if let Some(from_a) = paid_by_a.get(&b2) {
                    // K2,2: a, a2 -> b, b2
                    edges.insert(Self::ev(tg, &last, a, b));
                    edges.insert(Self::ev(tg, into_b, a2, b));
                    edges.insert(Self::ev(tg, o, a2, b2));
                    edges.insert(Self::ev(tg, &from_a[0], a, b2));
                    accounts.extend([a, a2, b, b2]);
                }
            }
            if *budget == 0 {
                break;
            }
        }
        // each receiver is a conduit: the layer's payments are most of what it received
        let receivers: BTreeSet<&str> = edges.iter().map(|e| e.dst.as_str()).collect();
        for r in receivers {
            let Some(n) = tg.find(r) else { return };
            let part: i128 = edges.iter().filter(|e| e.dst == r).map(|e| e.usd).sum();
            if !self.conduit(tg, n, part, lo, hi) {
                return;
            }
        }
        if edges.is_empty() {
            return;
        }
        let mut key: Vec<String> = accounts.iter().map(|n| g[*n].id.to_string()).collect();
        key.sort();
        out.push(FlowMatch { pattern: Pattern::Bipartite, key, edges: edges.into_iter().collect(), balanced: false });
    }
}

/// Matches grouped into episodes, alerted once each.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Episodes {
    open: Vec<Episode>,
    /// The earliest `last` among the open episodes (`None`: unknown, recompute).
    #[serde(skip)]
    oldest: Option<i64>,
}

/// One episode: a pattern's matches sharing key accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub pattern: Pattern,
    pub key: BTreeSet<String>,
    pub edges: BTreeSet<EvEdge>,
    /// Event time of the last match (µs).
    pub last: i64,
    /// Cycles only: each cycle's `tx_id`s in time order, in the order they closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cycles: Vec<Vec<String>>,
}

impl Episodes {
    /// Adds a match found at event time `now`.
    pub fn add(&mut self, m: FlowMatch, now: i64) {
        self.add_cycle(m, Vec::new(), now);
    }

    /// Adds a match with the cycle it is (`tx_ids` in time order; empty for flow patterns).
    pub fn add_cycle(&mut self, m: FlowMatch, cycle: Vec<String>, now: i64) {
        let key: BTreeSet<String> = m.key.into_iter().collect();
        // bipartite layers and cycles join when they share two accounts; the others by their key
        let joins = |ep: &Episode| {
            ep.pattern == m.pattern
                && match m.pattern {
                    Pattern::Bipartite | Pattern::Cycle => ep.key.intersection(&key).nth(1).is_some(),
                    _ => ep.key == key,
                }
        };
        let hits: Vec<usize> = (0..self.open.len()).filter(|&i| joins(&self.open[i])).collect();
        let cycles = if cycle.is_empty() { Vec::new() } else { vec![cycle] };
        let mut ep = Episode { pattern: m.pattern, key, edges: m.edges.into_iter().collect(), last: now, cycles };
        // merge every episode the match touches (a match can bridge two of them), smaller
        // into larger (a busy ring's episode takes one match at a time, not copied each time)
        for i in hits.into_iter().rev() {
            let mut old = self.open.swap_remove(i);
            if old.edges.len() < ep.edges.len() {
                std::mem::swap(&mut old, &mut ep);
            }
            // `ep` is now the larger
            ep.key.extend(old.key);
            ep.edges.extend(old.edges);
            ep.cycles.extend(old.cycles);
            ep.last = ep.last.max(old.last);
        }
        ep.last = now;
        self.open.push(ep);
        self.oldest = None;
    }

    /// Episodes with no match for more than `gap` before `now`, oldest evidence first.
    pub fn close_before(&mut self, now: i64, gap: i64) -> Vec<Episode> {
        // asked at every row: most of the time nothing is due
        let oldest = *self.oldest.get_or_insert_with(|| self.open.iter().map(|ep| ep.last).min().unwrap_or(i64::MAX));
        if oldest == i64::MAX || now - oldest <= gap {
            return Vec::new();
        }
        self.oldest = None;
        let (done, open): (Vec<Episode>, Vec<Episode>) =
            std::mem::take(&mut self.open).into_iter().partition(|ep| now - ep.last > gap);
        self.open = open;
        sorted(done)
    }

    /// Every open episode (end of input).
    pub fn close_all(&mut self) -> Vec<Episode> {
        self.oldest = None;
        sorted(std::mem::take(&mut self.open))
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

fn sorted(mut eps: Vec<Episode>) -> Vec<Episode> {
    eps.sort_by(|a, b| {
        a.edges.first().cmp(&b.edges.first()).then(a.pattern.cmp(&b.pattern)).then_with(|| a.key.cmp(&b.key))
    });
    eps
}

/// An episode's accounts by role: sources, intermediaries, sinks.
pub type Roles = (Vec<Arc<str>>, Vec<Arc<str>>, Vec<Arc<str>>);

/// Account ids in an episode by role: who only sends, who sends and receives, who only
/// receives (in the order they first appear).
pub fn roles(ep: &Episode) -> Roles {
    let senders: BTreeSet<&str> = ep.edges.iter().map(|e| e.src.as_str()).collect();
    let receivers: BTreeSet<&str> = ep.edges.iter().map(|e| e.dst.as_str()).collect();
    let mut seen = BTreeSet::new();
    let (mut only_send, mut both, mut only_recv) = (Vec::new(), Vec::new(), Vec::new());
    for e in &ep.edges {
        for a in [e.src.as_str(), e.dst.as_str()] {
            if !seen.insert(a) {
                continue;
            }
            let id: Arc<str> = Arc::from(a);
            match (senders.contains(a), receivers.contains(a)) {
                (true, true) => both.push(id),
                (true, false) => only_send.push(id),
                _ => only_recv.push(id),
            }
        }
    }
    (only_send, both, only_recv)
}

#[cfg(test)]
mod tests;
