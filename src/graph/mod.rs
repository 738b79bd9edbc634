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

pub mod cycles;
pub mod detector;
pub mod flows;
pub mod peel;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};

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
    pub fn ins_between(&self, lo: (i64, u64), hi: (i64, u64)) -> impl DoubleEndedIterator<Item = &Half> {
        between(&self.ins, lo, hi)
    }

    /// Out-edges with `lo <= when < hi`, oldest first.
    pub fn outs_between(&self, lo: (i64, u64), hi: (i64, u64)) -> impl DoubleEndedIterator<Item = &Half> {
        between(&self.outs, lo, hi)
    }
}

fn between(edges: &VecDeque<Half>, lo: (i64, u64), hi: (i64, u64)) -> impl DoubleEndedIterator<Item = &Half> {
    let a = edges.partition_point(|h| h.when < lo);
    let b = edges.partition_point(|h| h.when < hi).max(a);
    edges.range(a..b)
}

/// The window's multigraph.
#[derive(Debug, Default)]
pub struct TemporalGraph {
    pub graph: StableDiGraph<Node, Edge>,
    nodes: HashMap<Arc<str>, NodeIndex, foldhash::fast::RandomState>,
    /// Edges in arrival (= time) order, for eviction.
    order: VecDeque<(i64, EdgeIndex)>,
    /// Which account pairs dealt with each other, and when last (by hashed ids), for as
    /// long as `pair_memory_us` (`None`: not kept, no edge is a first contact).
    pub pairs: Pairs,
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
        let src_activity = u32::try_from(self.graph[a].ins.len() + self.graph[a].outs.len()).unwrap_or(u32::MAX);
        let e = self.graph.add_edge(a, b, edge);
        self.graph[a].outs.push_back(Half { when, usd, first, src_activity, other: b, edge: e });
        self.graph[b].ins.push_back(Half { when, usd, first, src_activity, other: a, edge: e });
        self.order.push_back((when.0, e));
        e
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

    /// Drops edges older than `cutoff` (and nodes left without edges). Edges leave in the
    /// order they came, so each is the oldest of its endpoints' lists.
    pub fn evict_before(&mut self, cutoff: i64) {
        while let Some(&(ts, e)) = self.order.front() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_front();
            let Some((a, b)) = self.graph.edge_endpoints(e) else { continue };
            self.graph.remove_edge(e);
            let out = self.graph[a].outs.pop_front();
            let inn = self.graph[b].ins.pop_front();
            debug_assert!(out.is_some_and(|h| h.edge == e) && inn.is_some_and(|h| h.edge == e));
            for n in [a, b] {
                let node = &self.graph[n];
                if node.ins.is_empty()
                    && node.outs.is_empty()
                    && let Some(gone) = self.graph.remove_node(n)
                {
                    self.nodes.remove(&gone.id);
                }
            }
        }
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
        (self.graph.edge_count(), self.graph.node_count())
    }
}
