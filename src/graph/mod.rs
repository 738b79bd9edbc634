//! The temporal graph engine: accounts as nodes, transactions as time-stamped, USD-valued
//! edges of a multigraph (petgraph `StableDiGraph`) over the event-time window, and the
//! flow patterns no single-row rule can see.
//!
//! Owns: `TemporalGraph` (edges added in `(ts, seq)` order, evicted once they are older
//! than the window behind the newest edge, nodes dropped with their last edge: memory
//! follows the window) and the detectors built on it: `cycles` (T7, time-respecting
//! cycles closed by each arriving edge).
//! Must not: read anything but the rows it is given (and the accounts table for hub
//! kinds and jurisdictions).
//!
//! Ties in time: an edge follows another when its `(ts, seq)` is greater, `seq` being the
//! arrival order. Whole-day timestamps (AMLSim) therefore chain in file order within a day.

pub mod cycles;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};

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

/// The window's multigraph.
#[derive(Debug, Default)]
pub struct TemporalGraph {
    pub graph: StableDiGraph<Arc<str>, Edge>,
    nodes: HashMap<Arc<str>, NodeIndex>,
    /// Edges in arrival (= time) order, for eviction.
    order: VecDeque<(i64, EdgeIndex)>,
}

impl TemporalGraph {
    /// Adds an edge (rows arrive in `(ts, seq)` order) and returns it.
    pub fn add(&mut self, src: &str, dst: &str, edge: Edge) -> EdgeIndex {
        let (a, b) = (self.node(src), self.node(dst));
        let ts = edge.ts;
        let e = self.graph.add_edge(a, b, edge);
        self.order.push_back((ts, e));
        e
    }

    fn node(&mut self, id: &str) -> NodeIndex {
        if let Some(n) = self.nodes.get(id) {
            return *n;
        }
        let name: Arc<str> = Arc::from(id);
        let n = self.graph.add_node(name.clone());
        self.nodes.insert(name, n);
        n
    }

    /// Drops edges older than `cutoff` (and nodes left without edges).
    pub fn evict_before(&mut self, cutoff: i64) {
        while let Some(&(ts, e)) = self.order.front() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_front();
            if let Some((a, b)) = self.graph.edge_endpoints(e) {
                self.graph.remove_edge(e);
                for n in [a, b] {
                    if self.graph.neighbors_undirected(n).next().is_none()
                        && let Some(name) = self.graph.remove_node(n)
                    {
                        self.nodes.remove(&name);
                    }
                }
            }
        }
    }

    /// The window's edges in arrival order, as `(src, dst, edge)` (for checkpoints).
    pub fn edges_in_order(&self) -> Vec<(String, String, Edge)> {
        self.order
            .iter()
            .filter_map(|&(_, e)| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some((self.graph[a].to_string(), self.graph[b].to_string(), self.graph[e].clone()))
            })
            .collect()
    }

    /// Edges and nodes in the window.
    pub fn size(&self) -> (usize, usize) {
        (self.graph.edge_count(), self.graph.node_count())
    }
}
