//! T7: time-respecting cycles, found as each edge arrives.
//!
//! A cycle is a simple directed cycle `v -> ... -> u -> v` of 2..=`max_len` edges of at
//! least `min_usd` each, whose edges follow each other in `(ts, seq)` order, whose last
//! edge is at most `window` after its first, and in which each hop carries between
//! `1 - max_hop_loss` and `1 + max_hop_gain` of the hop before it. The arriving edge `u -> v` is always the cycle's last edge, so each
//! cycle is found exactly once, when it closes: a backward search from `u` over edges
//! earlier than the one after them, bounded by the window and by value (an earlier hop
//! carries a narrow band around the next), never through money-services
//! or exchange hubs (they are left out of the graph unless configured).
//!
//! Owns: `CycleDetector` (a `Detector`: one alert per cycle, id from its edges).
//! Must not: depend on batching: rows are taken one by one in `(ts, seq)` order.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType, UInt64Type};
use petgraph::Direction;
use petgraph::stable_graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use super::{Edge, TemporalGraph};
use crate::alerts::{Alert, Severity, Status, alert_id};
use crate::error::Result;
use crate::ingest::values::format_ts;
use crate::money::format_decimal;
use crate::pipeline::window::EventWindow;
use crate::pipeline::{DetectCtx, Detector};
use crate::schema::{self, acct, tx};

pub const RULE_ID: &str = "graph_cycles";
pub const RULE_VERSION: &str = "1";

/// Cycle search settings.
#[derive(Debug, Clone)]
pub struct CycleConfig {
    /// Longest cycle, in edges (at least 2).
    pub max_len: usize,
    /// Largest share of value a hop may lose against the hop before it, in basis points.
    pub max_hop_loss_bp: i128,
    /// Largest share a hop may carry beyond the hop before it, in basis points: value is
    /// preserved both ways, within these bounds.
    pub max_hop_gain_bp: i128,
    /// Transactions below this (USD micro-dollars) are not edges of the cycle graph.
    pub min_usd: i128,
    /// How long a cycle may take, first edge to last (µs).
    pub window_us: i64,
    /// Account kinds left out of the graph (hubs whose cycles are business as usual).
    pub skip_kinds: Vec<String>,
}

impl Default for CycleConfig {
    fn default() -> Self {
        CycleConfig {
            max_len: 6,
            max_hop_loss_bp: 1500,
            max_hop_gain_bp: 500,
            min_usd: 3_000_000_000,
            window_us: 30 * 86_400_000_000,
            skip_kinds: vec!["msb".into(), "exchange".into()],
        }
    }
}

/// A cycle as its edges in time order, with the accounts they leave from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cycle {
    pub tx_ids: Vec<String>,
    pub accounts: Vec<String>,
    /// Each hop's time (µs) and USD micro-dollars.
    pub ts: Vec<i64>,
    pub usd: Vec<i128>,
}

/// Finds the cycles closed by each arriving edge.
#[derive(Debug, Default)]
pub struct CycleFinder {
    pub cfg: CycleConfig,
    pub graph: TemporalGraph,
}

impl CycleFinder {
    pub fn new(cfg: CycleConfig) -> Self {
        CycleFinder { cfg, graph: TemporalGraph::default() }
    }

    /// Adds edge `src -> dst` (in `(ts, seq)` order) and returns the cycles it closes,
    /// sorted.
    pub fn push(&mut self, src: &str, dst: &str, edge: Edge) -> Vec<Cycle> {
        self.graph.evict_before(edge.ts.saturating_sub(self.cfg.window_us));
        if src == dst || edge.usd < self.cfg.min_usd {
            return Vec::new();
        }
        let first_allowed = edge.ts.saturating_sub(self.cfg.window_us);
        let c = self.graph.add(src, dst, edge);
        let g = &self.graph.graph;
        let (u, v) = g.edge_endpoints(c).expect("just added");
        let mut found = Vec::new();
        let mut path = vec![c];
        let mut on_path: HashSet<NodeIndex> = [u].into();
        self.back(u, v, first_allowed, &mut path, &mut on_path, &mut found);
        let mut out: Vec<Cycle> = found
            .into_iter()
            .map(|edges: Vec<EdgeIndex>| {
                // `edges` runs backwards from the closing edge
                let ordered: Vec<EdgeIndex> = edges.into_iter().rev().collect();
                Cycle {
                    tx_ids: ordered.iter().map(|e| g[*e].tx_id.to_string()).collect(),
                    accounts: ordered.iter().map(|e| g[g.edge_endpoints(*e).expect("edge").0].to_string()).collect(),
                    ts: ordered.iter().map(|e| g[*e].ts).collect(),
                    usd: ordered.iter().map(|e| g[*e].usd).collect(),
                }
            })
            .collect();
        out.sort();
        out
    }

    /// Extends `path` (ending at `x`, earliest edge last) backwards by one edge.
    fn back(
        &self,
        x: NodeIndex,
        v: NodeIndex,
        first_allowed: i64,
        path: &mut Vec<EdgeIndex>,
        on_path: &mut HashSet<NodeIndex>,
        found: &mut Vec<Vec<EdgeIndex>>,
    ) {
        let g = &self.graph.graph;
        let next = &g[*path.last().expect("path")];
        let keep = 10_000 - self.cfg.max_hop_loss_bp;
        let grow = 10_000 + self.cfg.max_hop_gain_bp;
        for e in g.edges_directed(x, Direction::Incoming) {
            let w = e.weight();
            if w.when() >= next.when() || w.ts < first_allowed {
                continue;
            }
            // the later hop carries at least `keep` and at most `grow` of this one
            if next.usd * 10_000 < w.usd * keep || next.usd * 10_000 > w.usd * grow {
                continue;
            }
            let s = e.source();
            if s == v {
                path.push(e.id());
                found.push(path.clone());
                path.pop();
                continue;
            }
            if path.len() + 1 >= self.cfg.max_len || on_path.contains(&s) {
                continue;
            }
            path.push(e.id());
            on_path.insert(s);
            self.back(s, v, first_allowed, path, on_path, found);
            on_path.remove(&s);
            path.pop();
        }
    }
}

/// The T7 detector.
pub struct CycleDetector {
    finder: CycleFinder,
}

impl CycleDetector {
    pub fn new(cfg: CycleConfig) -> Self {
        CycleDetector { finder: CycleFinder::new(cfg) }
    }
}

impl Detector for CycleDetector {
    fn id(&self) -> &str {
        RULE_ID
    }

    /// The window's graph: a resumed run must close cycles begun before the checkpoint.
    fn save_state(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.saved()).map_err(|e| crate::error::Error::Internal(format!("graph state: {e}")))
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        let edges: Vec<SavedEdge> = serde_json::from_value(state).map_err(|e| {
            crate::error::Error::Config(vec![format!("checkpoint: the graph's state does not read: {e}")])
        })?;
        for (s, d, id, ts, seq, usd) in edges {
            let usd: i128 = usd
                .parse()
                .map_err(|_| crate::error::Error::Config(vec![format!("checkpoint: edge {id}: bad amount {usd}")]))?;
            self.finder.graph.add(&s, &d, Edge { tx_id: id.into(), ts, seq, usd });
        }
        Ok(())
    }

    fn on_batch(&mut self, batch: &RecordBatch, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let col = |n: &str| batch.column_by_name(n).expect("enriched column");
        let (ids, src, dst) = (
            col(tx::TX_ID).as_string::<i32>(),
            col(tx::SRC_ACCOUNT).as_string::<i32>(),
            col(tx::DST_ACCOUNT).as_string::<i32>(),
        );
        let ts = col(tx::TS).as_primitive::<TimestampMicrosecondType>();
        let seq = col(tx::SEQ).as_primitive::<UInt64Type>();
        let usd = col(tx::AMOUNT_USD).as_primitive::<Decimal128Type>();
        let (src_kind, dst_kind) = (col("src_kind").as_string::<i32>(), col("dst_kind").as_string::<i32>());
        let skip_kinds = self.finder.cfg.skip_kinds.clone();
        let skipped =
            |k: &arrow::array::StringArray, i: usize| !k.is_null(i) && skip_kinds.iter().any(|s| s == k.value(i));
        let mut alerts = Vec::new();
        for i in 0..batch.num_rows() {
            if src.is_null(i) || dst.is_null(i) || usd.is_null(i) || skipped(src_kind, i) || skipped(dst_kind, i) {
                continue;
            }
            let edge = Edge { tx_id: ids.value(i).into(), ts: ts.value(i), seq: seq.value(i), usd: usd.value(i) };
            for cycle in self.finder.push(src.value(i), dst.value(i), edge) {
                alerts.push(self.alert(&cycle, ctx));
            }
        }
        Ok(alerts)
    }
}

/// One edge of a checkpoint: (src, dst, tx_id, ts, seq, usd micro-dollars as text).
type SavedEdge = (String, String, String, i64, u64, String);

impl CycleDetector {
    fn saved(&self) -> Vec<SavedEdge> {
        self.finder
            .graph
            .edges_in_order()
            .into_iter()
            .map(|(s, d, e)| (s, d, e.tx_id.to_string(), e.ts, e.seq, e.usd.to_string()))
            .collect()
    }

    fn alert(&self, cycle: &Cycle, ctx: &DetectCtx) -> Alert {
        let usd = |v: i128| format_decimal(v, schema::USD_SCALE as u32);
        let k = cycle.tx_ids.len();
        let (first_ts, last_ts, first_usd, last_usd) = (cycle.ts[0], cycle.ts[k - 1], cycle.usd[0], cycle.usd[k - 1]);
        let kept = if first_usd > 0 { last_usd as f64 / first_usd as f64 } else { 0.0 };
        let n = cycle.accounts.len();
        let path: Vec<&str> = cycle.accounts.iter().map(String::as_str).chain([cycle.accounts[0].as_str()]).collect();
        let hop_details: Vec<serde_json::Value> = (0..k)
            .map(|h| {
                serde_json::json!({
                    "tx_id": cycle.tx_ids[h],
                    "from": path[h],
                    "to": path[h + 1],
                    "ts": format_ts(cycle.ts[h]),
                    "amount_usd": usd(cycle.usd[h]),
                })
            })
            .collect();
        let mut jurisdictions: Vec<String> =
            cycle.accounts.iter().filter_map(|a| ctx.accounts.field(a, acct::COUNTRY)).collect();
        jurisdictions.sort();
        jurisdictions.dedup();
        let hours = (last_ts - first_ts) as f64 / 3.6e9;
        let narrative = format!(
            "Money went round a cycle of {n} accounts ({}) from {} to {}: USD {} left {} and USD {} came back to it \
             ({:.1}% kept) within {:.1} hours, each hop passing on at least {}% of the one before: a round trip that \
             layers funds through accounts that return them to their origin.",
            path.join(" -> "),
            format_ts(first_ts),
            format_ts(last_ts),
            usd(first_usd),
            cycle.accounts[0],
            usd(last_usd),
            kept * 100.0,
            hours,
            (10_000 - self.finder.cfg.max_hop_loss_bp) / 100,
        );
        Alert {
            alert_id: alert_id(RULE_ID, RULE_VERSION, &cycle.tx_ids),
            rule_id: RULE_ID.into(),
            rule_version: RULE_VERSION.into(),
            typology: "T7".into(),
            severity: Severity::High,
            score: 0.7,
            subjects: cycle.accounts.clone(),
            tx_ids: cycle.tx_ids.clone(),
            first_ts: format_ts(first_ts),
            last_ts: format_ts(last_ts),
            amount_usd: usd(first_usd),
            jurisdictions,
            details: serde_json::json!({
                "length": n,
                "path": path,
                "hops": hop_details,
                "kept_share": (kept * 1000.0).round() / 1000.0,
                "duration_hours": (hours * 10.0).round() / 10.0,
                "params": {
                    "max_len": self.finder.cfg.max_len,
                    "max_hop_loss": format!("{:.2}", self.finder.cfg.max_hop_loss_bp as f64 / 10_000.0),
                    "window_days": self.finder.cfg.window_us / 86_400_000_000,
                },
            }),
            narrative,
            status: Status::Open,
        }
    }
}

#[cfg(test)]
mod tests;
