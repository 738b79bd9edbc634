//! The temporal graph engine: accounts as nodes, transactions as time-stamped, USD-valued
//! edges of a multigraph (petgraph `StableDiGraph`) over the event-time window, and the
//! flow patterns no single-row rule can see.
//!
//! Owns: `TemporalGraph` (edges added in `(ts, seq)` order, evicted once they are older
//! than the window behind the newest edge, nodes dropped with their last edge: memory
//! follows the window; each node keeps its in- and out-edges in time order, so "the edges
//! into `x` between two times" is two binary searches, not a walk over a hub's history)
//! and the detectors built on it: `cycles` (T7, time-respecting cycles closed by each
//! arriving edge).
//! Must not: read anything but the rows it is given (and the accounts table for hub
//! kinds and jurisdictions).
//!
//! Ties in time: an edge follows another when its `(ts, seq)` is greater, `seq` being the
//! arrival order. Whole-day timestamps (AMLSim) therefore chain in file order within a day.

pub mod config;
pub mod cycles;
pub mod detector;
pub mod flows;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeIndexable, NodeIndexable};

/// Fewest evicted edges worth a rebuild of the graph (see `TemporalGraph::dead_edges`).
const COMPACT_MIN_DEAD: usize = 1 << 16;

/// The graph stage's settings (config `[graph]`).
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Which rows are edges (amount floor, hubs left out), the window, and the cycle search.
    pub edges: cycles::CycleConfig,
    /// Look for cycles (T7).
    pub cycles: bool,
    /// Scatter-gather, gather-scatter, bipartite (T9, T10), when any is on.
    pub flows: Option<flows::FlowConfig>,
    /// How long the graph remembers which accounts dealt (µs; `None`: not kept).
    pub pair_memory_us: Option<i64>,
    /// Party view: nodes are parties (`crate::party`), not accounts; transfers between a
    /// party's own accounts are not edges. `None`: accounts.
    pub parties: Option<crate::party::PartyConfig>,
    /// Event time without a new match after which an episode (of cycles, of a flow
    /// pattern) is alerted (µs).
    pub episode_gap_us: i64,
}

/// One transaction as an edge.
#[derive(Debug, Clone)]
pub struct Edge {
    pub tx_id: Arc<str>,
    pub ts: i64,
    pub seq: u64,
    /// USD micro-dollars (`amount_usd`, scale 6).
    pub usd: i128,
}

impl Edge {
    /// `(ts, seq)`: the order edges happened in.
    pub fn when(&self) -> (i64, u64) {
        (self.ts, self.seq)
    }
}

/// An edge as one of its endpoints sees it: what the searches read, kept next to the
/// node in time order (the petgraph edge holds the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Half {
    pub when: (i64, u64),
    pub usd: i128,
    /// The first transaction between these two accounts (in this direction) within the
    /// pair memory: a new counterparty.
    pub first: bool,
    /// How many transactions of the window the sender had made or received before this one
    /// (taken when the edge arrived: the window behind it).
    pub src_activity: u32,
    /// The other endpoint: the source of an in-edge, the target of an out-edge.
    pub other: NodeIndex,
    pub edge: EdgeIndex,
}

/// A node: the account and its window's edges, oldest first.
#[derive(Debug)]
pub struct Node {
    pub id: Arc<str>,
    pub ins: VecDeque<Half>,
    pub outs: VecDeque<Half>,
}

impl Node {
    /// In-edges with `lo <= when < hi`, oldest first.
    pub fn ins_between(
        &self,
        lo: (i64, u64),
        hi: (i64, u64),
    ) -> impl DoubleEndedIterator<Item = &Half> + ExactSizeIterator {
        between(&self.ins, lo, hi)
    }

    /// Out-edges with `lo <= when < hi`, oldest first.
    pub fn outs_between(
        &self,
        lo: (i64, u64),
        hi: (i64, u64),
    ) -> impl DoubleEndedIterator<Item = &Half> + ExactSizeIterator {
        between(&self.outs, lo, hi)
    }
}

fn between(
    edges: &VecDeque<Half>,
    lo: (i64, u64),
    hi: (i64, u64),
) -> impl DoubleEndedIterator<Item = &Half> + ExactSizeIterator {
    let b = before(edges, hi);
    let a = before(edges, lo).min(b);
    edges.range(a..b)
}

/// How many of the time-ordered `edges` came before `at`. The searches ask about recent
/// times (a hop's time, a span's start), near the end of a hub's long list, so the search
/// gallops back from the newest (1, 2, 4, .. back) and then bisects what it stepped over:
/// log of the distance from the end, over entries still in cache, not log of the list.
pub(crate) fn before(edges: &VecDeque<Half>, at: (i64, u64)) -> usize {
    // every entry from `hi` on is at or after `at`
    let mut hi = edges.len();
    let mut step = 1;
    while hi > 0 {
        let probe = hi.saturating_sub(step);
        if edges[probe].when < at {
            // the answer is in (probe, hi]
            let (mut l, mut r) = (probe + 1, hi);
            while l < r {
                let m = l + (r - l) / 2;
                if edges[m].when < at {
                    l = m + 1;
                } else {
                    r = m;
                }
            }
            return l;
        }
        hi = probe;
        step *= 2;
    }
    0
}

/// The window's multigraph.
#[derive(Debug, Default)]
pub struct TemporalGraph {
    pub graph: StableDiGraph<Node, Edge>,
    nodes: HashMap<Arc<str>, NodeIndex, foldhash::fast::RandomState>,
    /// Edges in arrival (= time) order, for eviction.
    order: VecDeque<(i64, EdgeIndex)>,
    /// Edges that left the window but are still in `graph`. petgraph unlinks an edge by
    /// walking its endpoints' edge lists from the newest, so taking out the oldest edge of
    /// a hub one at a time costs the hub's degree each time; evicted edges are instead
    /// left in place (every search reads the nodes' own time-ordered lists, which drop
    /// them at once) and the graph is rebuilt from the live ones when they outnumber them
    /// (`compact`): amortized constant work per edge.
    dead_edges: usize,
    /// Fewest evicted edges worth a rebuild (`None`: `COMPACT_MIN_DEAD`; tests set it low).
    pub compact_min_dead: Option<usize>,
    /// Which account pairs dealt with each other, and when last (by hashed ids), for as
    /// long as `pair_memory_us` (`None`: not kept, no edge is a first contact).
    pub pairs: Pairs,
    /// Every row's part in each account's activity (edges or not: below the amount floor,
    /// cash, hubs), when the owner feeds it (`GraphDetector` does); otherwise the graph's
    /// own edges stand for it.
    pub activity: Activity,
    /// Whether the graph has watched long enough to call an account quiet (see
    /// `CycleConfig::warmup_us`); before that, `src_activity` is taken as busy.
    pub quiet_known: bool,
    /// How far back an account's transactions count towards quiet (µs; 0: the window).
    pub quiet_window_us: i64,
}

/// The scale of a ledger's transfers, learnt as rows arrive: a histogram of USD values in
/// buckets of an eighth of a binary order (integer arithmetic only, so every machine
/// gives the same floor), and its 99th percentile, recomputed at fixed row counts (64,
/// 128, ... 1,024, then every 1,024 transfers): the same rows in the same order give the
/// same floor whatever the batching.
#[derive(Debug, Clone, Default)]
pub struct AmountScale {
    buckets: Vec<u64>,
    pub count: u64,
    /// The 99th percentile (the lower bound of its bucket), USD micro-dollars; `None`
    /// before 64 transfers.
    pub p99: Option<i128>,
}

const SCALE_BUCKETS: usize = 1 + 128 * 8;
/// Transfers seen before the first percentile is taken.
pub const SCALE_MIN_SAMPLE: u64 = 64;

impl AmountScale {
    fn bucket(x: i128) -> usize {
        if x <= 0 {
            return 0;
        }
        let e = 127 - x.leading_zeros() as usize;
        let m = if e >= 3 { ((x >> (e - 3)) & 7) as usize } else { ((x << (3 - e)) & 7) as usize };
        1 + e * 8 + m
    }

    fn lower(b: usize) -> i128 {
        if b == 0 {
            return 0;
        }
        let (e, m) = ((b - 1) / 8, ((b - 1) % 8) as i128);
        if e >= 3 { (8 + m) << (e - 3) } else { (8 + m) >> (3 - e) }
    }

    /// Adds one transfer's value.
    pub fn add(&mut self, usd: i128) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; SCALE_BUCKETS];
        }
        self.buckets[Self::bucket(usd)] += 1;
        self.count += 1;
        let c = self.count;
        if ((SCALE_MIN_SAMPLE..=1024).contains(&c) && c.is_power_of_two()) || (c > 1024 && c.is_multiple_of(1024)) {
            self.p99 = Some(self.quantile(0.99));
        }
    }

    /// The `q` quantile (lower bound of its bucket).
    pub fn quantile(&self, q: f64) -> i128 {
        let above = ((1.0 - q) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for b in (0..self.buckets.len()).rev() {
            seen += self.buckets[b];
            if seen >= above {
                return Self::lower(b);
            }
        }
        0
    }

    /// For checkpoints: (bucket, count) of the non-empty buckets.
    pub fn saved(&self) -> Vec<(u32, u64)> {
        self.buckets.iter().enumerate().filter(|(_, c)| **c > 0).map(|(b, c)| (b as u32, *c)).collect()
    }

    pub fn restore(&mut self, saved: &[(u32, u64)], p99: Option<i128>) {
        self.buckets = vec![0; SCALE_BUCKETS];
        self.count = 0;
        for &(b, c) in saved {
            if let Some(slot) = self.buckets.get_mut(b as usize) {
                *slot += c;
                self.count += c;
            }
        }
        // the percentile as it stood after the last fixed count the run had reached
        self.p99 = p99;
    }
}

/// What each account did in the window, over all its rows (not only the graph's edges):
/// how many transactions it made or received before a time, and what it received between
/// two times. A busy business's small card takings count here, so it is neither quiet nor
/// a conduit for the few large transfers that are edges.
#[derive(Debug, Default)]
pub struct Activity {
    /// Whether rows are fed (`note`); when not, callers fall back to the graph's edges.
    pub enabled: bool,
    accounts: HashMap<Arc<str>, Acts, foldhash::fast::RandomState>,
    /// Rows in arrival order, for eviction: (ts, account).
    order: VecDeque<(i64, Arc<str>)>,
}

/// One row as an account saw it: when, and what it had received and sent before it (48
/// bytes; a window holds every row twice, once per side).
#[derive(Debug, Clone, Copy)]
struct Act {
    when: (i64, u64),
    received_before: i128,
    sent_before: i128,
}

/// An account's rows in the window, and what it received and sent over all of them.
#[derive(Debug, Default)]
struct Acts {
    q: VecDeque<Act>,
    received: i128,
    sent: i128,
}

impl Acts {
    /// The rows in `[lo, hi)`: from index `a` up to `b`, and the running totals at `b`.
    fn span(&self, lo: (i64, u64), hi: (i64, u64)) -> Option<(usize, (i128, i128))> {
        let (a, b) = (self.q.partition_point(|x| x.when < lo), self.q.partition_point(|x| x.when < hi));
        if b <= a {
            return None;
        }
        let at_b = self.q.get(b).map_or((self.received, self.sent), |x| (x.received_before, x.sent_before));
        Some((a, at_b))
    }
}

impl Activity {
    /// Notes a row (in `(ts, seq)` order): `src` sent, `dst` received `usd`.
    pub fn note(&mut self, src: Option<&str>, dst: Option<&str>, when: (i64, u64), usd: i128) {
        self.enabled = true;
        for (id, received) in [(src, 0), (dst, usd.max(0))] {
            let Some(id) = id else { continue };
            if src.is_some() && src == dst && received == 0 {
                continue; // a self-transfer is one row of activity
            }
            let sent = if received == 0 { usd.max(0) } else { 0 };
            let key: Arc<str> = match self.accounts.get_key_value(id) {
                Some((k, _)) => k.clone(),
                None => Arc::from(id),
            };
            let acts = self.accounts.entry(key.clone()).or_default();
            acts.q.push_back(Act { when, received_before: acts.received, sent_before: acts.sent });
            acts.received += received;
            acts.sent += sent;
            self.order.push_back((when.0, key));
        }
    }

    /// Forgets rows older than `cutoff`.
    pub fn evict_before(&mut self, cutoff: i64) {
        while let Some((ts, _)) = self.order.front() {
            if *ts >= cutoff {
                break;
            }
            let (_, id) = self.order.pop_front().expect("front");
            if let Some(acts) = self.accounts.get_mut(&id) {
                acts.q.pop_front();
                if acts.q.is_empty() {
                    self.accounts.remove(&id);
                } else {
                    crate::shrink_idle(&mut acts.q);
                }
            }
        }
    }

    /// Rows of `id` in the window before `when`.
    pub fn count_before(&self, id: &str, when: (i64, u64)) -> usize {
        self.accounts.get(id).map_or(0, |acts| acts.q.partition_point(|a| a.when < when))
    }

    /// What `id` sent in `[lo, hi)` (USD micro-dollars).
    pub fn sent(&self, id: &str, lo: (i64, u64), hi: (i64, u64)) -> i128 {
        let Some(acts) = self.accounts.get(id) else { return 0 };
        acts.span(lo, hi).map_or(0, |(a, (_, sent))| sent - acts.q[a].sent_before)
    }

    /// What `id` received in `[lo, hi)` (USD micro-dollars).
    pub fn received(&self, id: &str, lo: (i64, u64), hi: (i64, u64)) -> i128 {
        let Some(acts) = self.accounts.get(id) else { return 0 };
        acts.span(lo, hi).map_or(0, |(a, (received, _))| received - acts.q[a].received_before)
    }
}

/// When each `(src, dst)` pair last dealt, for `memory_us` of event time: a transaction
/// on a pair not seen within that is a first contact (a new counterparty).
#[derive(Debug, Default)]
pub struct Pairs {
    pub memory_us: Option<i64>,
    last: HashMap<(u64, u64), i64, foldhash::fast::RandomState>,
    next_sweep: i64,
}

impl Pairs {
    pub fn new(memory_us: Option<i64>) -> Self {
        Pairs { memory_us, ..Pairs::default() }
    }

    /// Records a transaction `src -> dst` at `ts` (in time order); whether it is the
    /// pair's first within the memory.
    pub fn note(&mut self, src: &str, dst: &str, ts: i64) -> bool {
        let Some(memory) = self.memory_us else { return false };
        if ts >= self.next_sweep {
            // forget pairs quiet for longer than the memory, a few times per memory span
            self.last.retain(|_, t| ts - *t <= memory);
            self.next_sweep = ts + (memory / 4).max(1);
        }
        let key = (xxhash_rust::xxh3::xxh3_64(src.as_bytes()), xxhash_rust::xxh3::xxh3_64(dst.as_bytes()));
        match self.last.insert(key, ts) {
            Some(t) => ts - t > memory,
            None => true,
        }
    }

    /// For checkpoints: (src hash, dst hash, last ts).
    pub fn saved(&self) -> Vec<(u64, u64, i64)> {
        let mut v: Vec<(u64, u64, i64)> = self.last.iter().map(|(&(a, b), &t)| (a, b, t)).collect();
        v.sort_unstable();
        v
    }

    pub fn restore(&mut self, saved: Vec<(u64, u64, i64)>) {
        self.last = saved.into_iter().map(|(a, b, t)| ((a, b), t)).collect();
    }
}

impl TemporalGraph {
    /// Adds an edge (rows arrive in `(ts, seq)` order) and returns it. `first`: whether
    /// it is the pair's first contact (see `Pairs::note`).
    pub fn add(&mut self, src: &str, dst: &str, edge: Edge, first: bool) -> EdgeIndex {
        let (a, b) = (self.node(src), self.node(dst));
        let (when, usd) = (edge.when(), edge.usd);
        let seen = if self.activity.enabled {
            let from = if self.quiet_window_us > 0 { when.0.saturating_sub(self.quiet_window_us) } else { i64::MIN };
            self.activity.count_before(src, when) - self.activity.count_before(src, (from, 0))
        } else {
            self.graph[a].ins.len() + self.graph[a].outs.len()
        };
        let src_activity = if self.quiet_known { u32::try_from(seen).unwrap_or(u32::MAX) } else { u32::MAX };
        let e = self.graph.add_edge(a, b, edge);
        self.graph[a].outs.push_back(Half { when, usd, first, src_activity, other: b, edge: e });
        self.graph[b].ins.push_back(Half { when, usd, first, src_activity, other: a, edge: e });
        self.order.push_back((when.0, e));
        e
    }

    /// What node `n` received in `[lo, hi)`: over all its rows when activity is fed, else
    /// over its edges.
    pub fn received(&self, n: NodeIndex, lo: (i64, u64), hi: (i64, u64)) -> i128 {
        if self.activity.enabled {
            self.activity.received(&self.graph[n].id, lo, hi)
        } else {
            self.graph[n].ins_between(lo, hi).map(|h| h.usd).sum()
        }
    }

    /// What node `n` sent in `[lo, hi)`: over all its rows when activity is fed, else over
    /// its edges.
    pub fn sent(&self, n: NodeIndex, lo: (i64, u64), hi: (i64, u64)) -> i128 {
        if self.activity.enabled {
            self.activity.sent(&self.graph[n].id, lo, hi)
        } else {
            self.graph[n].outs_between(lo, hi).map(|h| h.usd).sum()
        }
    }

    /// Sets the sender's activity of the newest edge (a checkpoint restores what the edge
    /// carried when it arrived).
    pub fn set_last_src_activity(&mut self, e: EdgeIndex, v: u32) {
        let Some((a, b)) = self.graph.edge_endpoints(e) else { return };
        if let Some(h) = self.graph[a].outs.back_mut().filter(|h| h.edge == e) {
            h.src_activity = v;
        }
        if let Some(h) = self.graph[b].ins.back_mut().filter(|h| h.edge == e) {
            h.src_activity = v;
        }
    }

    /// The sender's activity carried by each edge, in arrival order (for checkpoints).
    pub fn src_activity_in_order(&self) -> Vec<u32> {
        self.order
            .iter()
            .filter_map(|&(_, e)| {
                let (a, _) = self.graph.edge_endpoints(e)?;
                self.graph[a].outs.iter().find(|h| h.edge == e).map(|h| h.src_activity)
            })
            .collect()
    }

    /// The node of an account, if it has edges in the window.
    pub fn find(&self, id: &str) -> Option<NodeIndex> {
        self.nodes.get(id).copied()
    }

    fn node(&mut self, id: &str) -> NodeIndex {
        if let Some(n) = self.nodes.get(id) {
            return *n;
        }
        let name: Arc<str> = Arc::from(id);
        let n = self.graph.add_node(Node { id: name.clone(), ins: VecDeque::new(), outs: VecDeque::new() });
        self.nodes.insert(name, n);
        n
    }

    /// Drops edges older than `cutoff` (and nodes left without edges) from the window.
    /// Edges leave in the order they came, so each is the oldest of its endpoints' lists.
    pub fn evict_before(&mut self, cutoff: i64) {
        while let Some(&(ts, e)) = self.order.front() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_front();
            let Some((a, b)) = self.graph.edge_endpoints(e) else { continue };
            let out = self.graph[a].outs.pop_front();
            let inn = self.graph[b].ins.pop_front();
            debug_assert!(out.is_some_and(|h| h.edge == e) && inn.is_some_and(|h| h.edge == e));
            self.dead_edges += 1;
            for n in [a, b] {
                let node = &self.graph[n];
                if node.ins.is_empty() && node.outs.is_empty() && self.nodes.get(&node.id) == Some(&n) {
                    self.nodes.remove(&node.id);
                }
            }
        }
        if self.dead_edges >= self.compact_min_dead.unwrap_or(COMPACT_MIN_DEAD) && self.dead_edges > self.order.len() {
            self.compact();
        }
    }

    /// Rebuilds `graph` from the window's live nodes (in index order) and edges (in
    /// arrival order), renumbering them; the nodes' lists, `order` and `nodes` follow.
    fn compact(&mut self) {
        let mut old = std::mem::take(&mut self.graph);
        let mut g = StableDiGraph::with_capacity(self.nodes.len(), self.order.len());
        let mut node_map: Vec<NodeIndex> = vec![NodeIndex::end(); old.node_bound()];
        let live: Vec<NodeIndex> = old.node_indices().filter(|&n| self.nodes.get(&old[n].id) == Some(&n)).collect();
        for n in live {
            let w = &mut old[n];
            let node = Node { id: w.id.clone(), ins: std::mem::take(&mut w.ins), outs: std::mem::take(&mut w.outs) };
            node_map[n.index()] = g.add_node(node);
        }
        let mut edge_map: Vec<EdgeIndex> = vec![EdgeIndex::end(); old.edge_bound()];
        for (_, e) in self.order.iter_mut() {
            let (a, b) = old.edge_endpoints(*e).expect("a live edge");
            let ne = g.add_edge(node_map[a.index()], node_map[b.index()], old[*e].clone());
            edge_map[e.index()] = ne;
            *e = ne;
        }
        for n in g.node_indices().collect::<Vec<_>>() {
            let node = &mut g[n];
            for h in node.ins.iter_mut().chain(node.outs.iter_mut()) {
                h.other = node_map[h.other.index()];
                h.edge = edge_map[h.edge.index()];
            }
        }
        for n in self.nodes.values_mut() {
            *n = node_map[n.index()];
        }
        self.graph = g;
        self.dead_edges = 0;
    }

    /// The window's edges in arrival order, as `(src, dst, edge, first contact)` (for
    /// checkpoints).
    pub fn edges_in_order(&self) -> Vec<(String, String, Edge, bool)> {
        self.order
            .iter()
            .filter_map(|&(_, e)| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                let first = self.graph[a].outs.iter().find(|h| h.edge == e).is_some_and(|h| h.first);
                Some((self.graph[a].id.to_string(), self.graph[b].id.to_string(), self.graph[e].clone(), first))
            })
            .collect()
    }

    /// Edges and nodes in the window.
    pub fn size(&self) -> (usize, usize) {
        (self.order.len(), self.nodes.len())
    }
}

#[cfg(test)]
mod activity_tests {
    use super::Activity;

    /// What an account received and sent between two times equals the sum of its rows
    /// there, before and after the oldest rows leave (rows kept as running totals).
    #[test]
    fn received_and_sent_over_a_span_are_the_rows_sums_through_eviction() {
        let mut act = Activity::default();
        // (ts, src, dst, usd): a and b pay each other, c pays a, a pays itself
        let mut rows = Vec::new();
        for i in 0..60i64 {
            let (src, dst) = match i % 4 {
                0 => ("a", "b"),
                1 => ("b", "a"),
                2 => ("c", "a"),
                _ => ("a", "a"),
            };
            rows.push((i * 10, src, dst, i128::from(100 + i * 7)));
        }
        for (seq, &(ts, s, d, usd)) in rows.iter().enumerate() {
            act.note(Some(s), Some(d), (ts, seq as u64), usd);
        }
        let sums = |from: i64, lo: i64, hi: i64| {
            let (mut rec, mut sent) = (0i128, 0i128);
            for &(_, s, d, usd) in rows.iter().filter(|r| r.0 >= from.max(lo) && r.0 < hi) {
                // a self-transfer is one row of activity, a credit
                rec += if d == "a" { usd } else { 0 };
                sent += if s == "a" && s != d { usd } else { 0 };
            }
            (rec, sent)
        };
        for from in [0, 205] {
            act.evict_before(from);
            for (lo, hi) in [(0, 600), (15, 300), (200, 201), (210, 590), (300, 300), (590, 700)] {
                let got = (act.received("a", (lo, 0), (hi, 0)), act.sent("a", (lo, 0), (hi, 0)));
                assert_eq!(got, sums(from, lo, hi), "[{lo}, {hi}) with rows from {from}");
            }
        }
    }
}

#[cfg(test)]
mod search_tests {
    use super::{Half, before, between};
    use petgraph::graph::{EdgeIndex, NodeIndex};
    use std::collections::VecDeque;

    fn half(ts: i64, seq: u64) -> Half {
        Half {
            when: (ts, seq),
            usd: 1,
            first: false,
            src_activity: 0,
            other: NodeIndex::new(0),
            edge: EdgeIndex::new(0),
        }
    }

    /// The galloping search finds what a binary search over the whole list finds, for
    /// every time before, inside and after the list, with ties in time, and on a list
    /// whose buffer wraps around (old edges taken off the front, new ones pushed).
    #[test]
    fn before_and_between_agree_with_a_plain_binary_search() {
        let mut edges: VecDeque<Half> = VecDeque::with_capacity(64);
        let (mut seq, mut ts) = (0u64, 0i64);
        // ties in time and gaps of various lengths
        for i in 0..200usize {
            if edges.len() == 60 {
                edges.pop_front();
            }
            ts += [0, 0, 1, 5, 0, 13][i % 6];
            edges.push_back(half(ts, seq));
            seq += 1;
            let (first, last) = (edges.front().unwrap().when.0, edges.back().unwrap().when.0);
            for t in first - 3..=last + 3 {
                for s in [0, seq / 2, seq, u64::MAX] {
                    let at = (t, s);
                    assert_eq!(before(&edges, at), edges.partition_point(|h| h.when < at), "before {at:?}");
                    for lo in [(first - 1, 0), (t - 9, 0), (t, s), (last + 1, 0)] {
                        let want: Vec<_> = edges.iter().filter(|h| h.when >= lo && h.when < at).collect();
                        let got: Vec<_> = between(&edges, lo, at).collect();
                        assert_eq!(got, want, "[{lo:?}, {at:?})");
                    }
                }
            }
        }
        assert_eq!(before(&VecDeque::new(), (0, 0)), 0);
    }
}
