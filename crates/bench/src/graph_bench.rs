//! `mirrorflow-bench graph`: temporal cycle enumeration, mirrorflow's cycle finder next to
//! IBM snapml's `GraphFeaturePreprocessor` and networkx, on the same generated graphs.
//!
//! Owns: the graph generator (seeded, deterministic: sparse temporal graphs with hubs and
//! planted money flows that return to their origin) and its edge lists under
//! `data_dir/graph-<edges>/` (reused while their marker matches); the internal
//! `mirrorflow-bench graph-run FILE` (streams an edge list through
//! `CycleFinder::count` and prints JSON); running it and `bench/graph_peers.py` as child
//! processes (peak memory from the shared sampler, best of `repeats`); the count
//! agreement check with the definitional differences established for snapml; the report
//! (a markdown table, JSON on request).
//! Must not: count cycles in-process for the report (each measurement is a fresh child,
//! so its peak memory is its own), change what a peer computes beyond the settings the
//! script documents, or run from the test suite: the tests cover the pure parts only.
//!
//! The cycle definition compared is `CycleConfig::temporal_only`: simple directed cycles
//! of 2..=`max_len` edges, each edge later than the one before, the last at most the
//! window after the first. snapml's temporal cycles are the same where no two edges share
//! a timestamp and no ordered pair repeats within the window (the generator guarantees
//! both); `bench/graph_peers.py --self-check` holds the evidence.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::harness::{
    Machine, Marker, build_note, child_failure, last_json_line, ledger_is_current, machine_line, mib,
    render_markdown_table, run_measured, thousands, vm_hwm_bytes, write_json, write_script,
};
use mirrorflow::error::{Error, Result};
use mirrorflow::graph::Edge;
use mirrorflow::graph::cycles::{CycleConfig, CycleFinder};

/// The peers' script, compiled in so the benchmark runs from any directory.
const PEERS_SCRIPT: &str = include_str!("../scripts/graph_peers.py");

/// The edge list's header: what the generator writes and every engine reads.
pub const HEADER: &str = "edge_id,src,dst,ts";
/// The edge list in a size's directory.
pub const EDGES_FILE: &str = "edges.csv";
/// What the generator made (`GenStats`), next to the edge list.
const GRAPH_META: &str = "graph.json";

/// Bumped whenever the generator's output changes, so stale edge lists are remade.
pub const GEN_VERSION: u32 = 1;
/// First timestamp: 2020-01-01T00:00:00Z, in seconds. snapml keeps timestamps as 32-bit
/// seconds (and mishandles 0), so they must stay within 1..2^31-1.
pub const START_TS: i64 = 1_577_836_800;
/// Gaps between consecutive edges are 1..=`MAX_GAP_S` seconds, uniform (mean 5 s): no two
/// edges share a second, so tie order never matters.
pub const MAX_GAP_S: u64 = 9;
/// Nodes per edge: n = max(edges / `EDGES_PER_NODE`, `MIN_NODES`).
pub const EDGES_PER_NODE: u64 = 5;
pub const MIN_NODES: u64 = 1_000;
/// Share of endpoints drawn from a power law (u^4 of the node range: hubs); the rest are
/// uniform.
const HUB_SHARE: f64 = 0.2;
/// Share of edges that advance a money flow.
const FLOW_SHARE: f64 = 0.3;
/// One concurrent flow per this many seconds of window (at least `MIN_FLOWS`): a flow then
/// moves on every window / 18 on average, so its 2..=8 hops fit within the window.
const WINDOW_S_PER_FLOW: i64 = 300;
const MIN_FLOWS: u64 = 4;
/// Weights of a flow's cycle length 2..=8 (it returns to its origin after that many hops).
const FLOW_LENGTHS: [(usize, u64); 7] = [(2, 20), (3, 25), (4, 20), (5, 15), (6, 10), (7, 5), (8, 5)];

/// Defaults of `mirrorflow-bench graph`.
pub const DEFAULT_WINDOW_S: i64 = 86_400;
pub const DEFAULT_MAX_LEN: usize = 6;
pub const DEFAULT_THREADS: u32 = 2;
pub const DEFAULT_NETWORKX_BUDGET_S: u64 = 600;
/// Edges per `transform` call of the `snapml-batched` peer.
pub const SNAPML_BATCH: u64 = 10_000;
/// The issue's aim: at least this many edges per second through the cycle finder (and
/// faster than snapml).
pub const GOAL_EDGES_PER_SECOND: f64 = 1_000_000.0;

/// Edges `bench graph-run` parses before streaming them through the finder.
const CHUNK_EDGES: usize = 65_536;
/// The amount every edge carries (1 USD in micro-dollars): `temporal_only` ignores it.
const EDGE_USD: i128 = 1_000_000;

/// The peer engines.
pub const PEERS: [&str; 3] = ["snapml", "snapml-batched", "networkx"];

/// Options of `mirrorflow-bench graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphBenchOptions {
    /// Graph sizes in edges (default 100k, 1M and 10M).
    pub edges: Vec<u64>,
    /// Where the generated graphs and the runs' outputs are kept (default `bench-data/`).
    pub data_dir: PathBuf,
    /// The Python with `snapml` and `networkx` (default `python3`).
    pub python: String,
    /// Seed of the graph generator (default 42).
    pub seed: u64,
    /// Runs of mirrorflow and snapml per size; fastest time and highest peak reported
    /// (default 3). networkx runs once.
    pub repeats: u32,
    /// Also write every figure here as JSON.
    pub json_out: Option<PathBuf>,
    /// The cycle window in seconds (default 1 day).
    pub window_s: i64,
    /// The longest cycle in edges (default 6).
    pub max_len: usize,
    /// The peers to run, out of [`PEERS`] (default all).
    pub peers: Vec<String>,
    /// snapml's `num_threads` (default 2).
    pub threads: u32,
    /// networkx's time budget per size (default 600 s).
    pub networkx_budget_s: u64,
}

impl Default for GraphBenchOptions {
    fn default() -> Self {
        GraphBenchOptions {
            edges: vec![100_000, 1_000_000, 10_000_000],
            data_dir: PathBuf::from("bench-data"),
            python: "python3".into(),
            seed: 42,
            repeats: 3,
            json_out: None,
            window_s: DEFAULT_WINDOW_S,
            max_len: DEFAULT_MAX_LEN,
            peers: PEERS.iter().map(|p| p.to_string()).collect(),
            threads: DEFAULT_THREADS,
            networkx_budget_s: DEFAULT_NETWORKX_BUDGET_S,
        }
    }
}

/// The most edges a graph may have: its last timestamp must fit snapml's 32-bit seconds.
pub fn max_edges() -> u64 {
    (i32::MAX as i64 - START_TS) as u64 / MAX_GAP_S
}

impl GraphBenchOptions {
    /// Every problem with the options, reported at once.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if self.edges.is_empty() {
            errors.push("--edges: give at least one size".to_string());
        }
        if self.edges.contains(&0) {
            errors.push("--edges: sizes must be at least 1".to_string());
        }
        if let Some(big) = self.edges.iter().find(|&&e| e > max_edges()) {
            errors.push(format!(
                "--edges: {} is more than {} (the last timestamp must fit snapml's 32-bit seconds)",
                thousands(*big),
                thousands(max_edges())
            ));
        }
        if self.repeats == 0 {
            errors.push("--repeats: must be at least 1".to_string());
        }
        if !(1..=i32::MAX as i64).contains(&self.window_s) {
            errors.push(format!("--window-s {}: expected 1..={} seconds", self.window_s, i32::MAX));
        }
        if !(2..=64).contains(&self.max_len) {
            errors.push(format!("--max-len {}: expected 2..=64 edges", self.max_len));
        }
        for p in &self.peers {
            if !PEERS.contains(&p.as_str()) {
                errors.push(format!("--peers: `{p}` is not one of {} (or `none`)", PEERS.join(", ")));
            }
        }
        if self.threads == 0 {
            errors.push("--threads: must be at least 1".to_string());
        }
        if self.networkx_budget_s == 0 {
            errors.push("--networkx-budget-s: must be at least 1".to_string());
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::Usage(errors.join("; "))) }
    }

    fn runs(&self, peer: &str) -> bool {
        self.peers.iter().any(|p| p == peer)
    }
}

// ---------------------------------------------------------------------------------------
// The generator

/// SplitMix64: small, fast and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphSpec {
    pub edges: u64,
    pub seed: u64,
    /// No ordered pair repeats within this many seconds, and flows close within it.
    pub window_s: i64,
}

impl GraphSpec {
    pub fn nodes(&self) -> u64 {
        (self.edges / EDGES_PER_NODE).max(MIN_NODES)
    }

    /// Concurrent money flows.
    pub fn flows(&self) -> u64 {
        ((self.window_s / WINDOW_S_PER_FLOW) as u64).max(MIN_FLOWS)
    }

    /// The marker's `format`: the generator's version and the window it was made for.
    fn marker_format(&self) -> String {
        format!("graph-edges-csv v{GEN_VERSION} window-s={}", self.window_s)
    }
}

/// One generated edge (`ts` in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenEdge {
    pub id: u64,
    pub src: u32,
    pub dst: u32,
    pub ts: i64,
}

/// What the generator made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenStats {
    pub edges: u64,
    pub nodes: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Flows that went back to their origin, by cycle length (index = length): each is
    /// one planted temporal cycle (the graph has more: flows and background edges cross).
    pub planted_by_len: Vec<u64>,
}

/// A flow of money: leaves `path[0]`, hops through new accounts, returns after `len`
/// edges.
struct Flow {
    path: Vec<u32>,
    started: i64,
    len: usize,
}

/// Generates a sparse temporal graph edge by edge, in time order.
///
/// Each edge is, with probability `FLOW_SHARE`, the next hop of one of `spec.flows()`
/// concurrent flows (a flow starts at a random account, moves on to new accounts and returns to its
/// origin after 2..=8 hops, within 0.9 windows; an expired flow is dropped), else a
/// background payment between two random accounts. Endpoints are uniform, or, for
/// `HUB_SHARE` of them, power-law (hubs). An ordered pair never repeats within the
/// window and no edge is a self-loop.
pub struct GraphGen {
    spec: GraphSpec,
    rng: Rng,
    nodes: u64,
    ts: i64,
    emitted: u64,
    flows: Vec<Option<Flow>>,
    /// Last time of each ordered pair used within the window, and the uses in time order
    /// (to forget them once the window has passed).
    last_use: HashMap<(u32, u32), i64, foldhash::fast::FixedState>,
    uses: VecDeque<(i64, (u32, u32))>,
    stats: GenStats,
}

impl GraphGen {
    pub fn new(spec: GraphSpec) -> Self {
        let nodes = spec.nodes();
        GraphGen {
            spec,
            rng: Rng(spec.seed ^ 0x6D69_7272_6F72_666C),
            nodes,
            ts: START_TS,
            emitted: 0,
            flows: (0..spec.flows()).map(|_| None).collect(),
            last_use: HashMap::default(),
            uses: VecDeque::new(),
            stats: GenStats { nodes, planted_by_len: vec![0; 9], ..GenStats::default() },
        }
    }

    /// What has been generated so far.
    pub fn stats(&self) -> &GenStats {
        &self.stats
    }

    fn node(&mut self) -> u32 {
        let n = self.nodes;
        if self.rng.unit() < HUB_SHARE {
            let u = self.rng.unit();
            ((u * u * u * u * n as f64) as u64).min(n - 1) as u32
        } else {
            self.rng.below(n) as u32
        }
    }

    fn flow_len(&mut self) -> usize {
        let total: u64 = FLOW_LENGTHS.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.below(total);
        for &(len, w) in &FLOW_LENGTHS {
            if pick < w {
                return len;
            }
            pick -= w;
        }
        FLOW_LENGTHS[0].0
    }

    /// Whether `src -> dst` may be added now: no self-loop, not used within the window.
    fn free(&self, src: u32, dst: u32) -> bool {
        src != dst && self.last_use.get(&(src, dst)).is_none_or(|&t| self.ts - t > self.spec.window_s)
    }

    /// The next hop of a random flow, if this edge is a flow's.
    fn flow_step(&mut self) -> Option<(u32, u32)> {
        if self.rng.unit() >= FLOW_SHARE {
            return None;
        }
        let i = self.rng.below(self.flows.len() as u64) as usize;
        let mut flow = match self.flows[i].take() {
            Some(f) if (self.ts - f.started) * 10 <= self.spec.window_s * 9 => f,
            _ => {
                let origin = self.node();
                let len = self.flow_len();
                Flow { path: vec![origin], started: self.ts, len }
            }
        };
        let last = flow.path[flow.path.len() - 1];
        if flow.path.len() == flow.len {
            // back to the origin: the flow is done either way
            let origin = flow.path[0];
            if !self.free(last, origin) {
                return None;
            }
            self.stats.planted_by_len[flow.len] += 1;
            return Some((last, origin));
        }
        for _ in 0..8 {
            let next = self.node();
            if !flow.path.contains(&next) && self.free(last, next) {
                flow.path.push(next);
                self.flows[i] = Some(flow);
                return Some((last, next));
            }
        }
        self.flows[i] = Some(flow);
        None
    }

    fn background(&mut self) -> Option<(u32, u32)> {
        for _ in 0..64 {
            let (src, dst) = (self.node(), self.node());
            if self.free(src, dst) {
                return Some((src, dst));
            }
        }
        None
    }
}

impl Iterator for GraphGen {
    type Item = GenEdge;

    fn next(&mut self) -> Option<GenEdge> {
        if self.emitted == self.spec.edges {
            return None;
        }
        loop {
            self.ts += 1 + self.rng.below(MAX_GAP_S) as i64;
            let cutoff = self.ts - self.spec.window_s;
            while let Some(&(t, pair)) = self.uses.front().filter(|(t, _)| *t < cutoff) {
                self.uses.pop_front();
                if self.last_use.get(&pair) == Some(&t) {
                    self.last_use.remove(&pair);
                }
            }
            let Some((src, dst)) = self.flow_step().or_else(|| self.background()) else { continue };
            self.last_use.insert((src, dst), self.ts);
            self.uses.push_back((self.ts, (src, dst)));
            let edge = GenEdge { id: self.emitted, src, dst, ts: self.ts };
            if self.emitted == 0 {
                self.stats.first_ts = self.ts;
            }
            self.emitted += 1;
            self.stats.edges = self.emitted;
            self.stats.last_ts = self.ts;
            return Some(edge);
        }
    }
}

/// Writes the graph of `spec` as an edge list (`HEADER`, then one `id,src,dst,ts` line per
/// edge) and returns what was made.
pub fn write_graph(spec: GraphSpec, out: impl std::io::Write) -> std::io::Result<GenStats> {
    let mut w = BufWriter::with_capacity(1 << 20, out);
    writeln!(w, "{HEADER}")?;
    let mut edges = GraphGen::new(spec);
    for e in edges.by_ref() {
        writeln!(w, "{},{},{},{}", e.id, e.src, e.dst, e.ts)?;
    }
    w.flush()?;
    Ok(edges.stats().clone())
}

/// One size's generated graph.
#[derive(Debug, Clone, PartialEq)]
struct GraphFiles {
    dir: PathBuf,
    csv: PathBuf,
    stats: GenStats,
}

/// Makes sure `data_dir/graph-<edges>/` holds the graph of `spec`, generating it if not.
fn ensure_graph(data_dir: &Path, spec: GraphSpec) -> Result<GraphFiles> {
    let dir = data_dir.join(format!("graph-{}", spec.edges));
    let csv = dir.join(EDGES_FILE);
    let meta = dir.join(GRAPH_META);
    let format = spec.marker_format();
    if ledger_is_current(&dir, spec.edges, spec.seed, &format, &[&csv, &meta])
        && let Some(stats) = std::fs::read_to_string(&meta).ok().and_then(|t| serde_json::from_str(&t).ok())
    {
        return Ok(GraphFiles { dir, csv, stats });
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    tracing::info!("bench graph: generating {} edges into `{}` (once)", thousands(spec.edges), dir.display());
    let tmp = dir.join(format!("{EDGES_FILE}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let stats = write_graph(spec, file).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &csv).map_err(|e| Error::io(&csv, e))?;
    write_json(&meta, &stats)?;
    Marker::new(spec.edges, spec.seed, &format).write(&dir)?;
    Ok(GraphFiles { dir, csv, stats })
}

// ---------------------------------------------------------------------------------------
// What the engines report (`bench graph-run` and `graph_peers.py` print the same shape)

/// One engine's run on one edge list, as the engine printed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineJson {
    pub engine: String,
    #[serde(default)]
    pub version: Option<String>,
    pub edges: u64,
    /// False when the engine stopped early (networkx out of its budget).
    #[serde(default = "finished_default")]
    pub finished: bool,
    /// Cycles of 2..=max_len edges; None when the engine gives no count (snapml batched,
    /// networkx out of budget).
    pub cycles: Option<u64>,
    /// The same by length, where the engine tells.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cycles_by_len: BTreeMap<usize, u64>,
    /// The enumeration itself (reading the file excluded).
    pub seconds: Option<f64>,
    /// Reading (and parsing) the file.
    #[serde(default)]
    pub load_seconds: Option<f64>,
    /// Both.
    #[serde(default)]
    pub total_seconds: Option<f64>,
    /// The engine's own measure of its peak memory (the harness samples `VmHWM` too).
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
    /// snapml: `num_threads`, edges per `transform` (batched), whether the per-length sums
    /// were all multiples of the length, and the participations in longer cycles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participations_longer: Option<u64>,
    /// networkx: time slots, slots done, budget, static cycles yielded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_done: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_cycles: Option<u64>,
    /// mirrorflow: edges with the same `ts` as the edge before (chained in file order),
    /// and the largest window seen (edges, nodes; sampled between chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_ties: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_edges: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_nodes: Option<u64>,
    /// mirrorflow: closing edges whose search the finder cut short (its per-edge caps on
    /// cycles and visits): above 0, its count is a lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<u64>,
}

fn finished_default() -> bool {
    true
}

/// Parses an engine's JSON line (the last line of `text` that starts with `{`).
pub fn parse_engine_line(text: &str, what: &str) -> std::result::Result<EngineJson, String> {
    last_json_line(text, what)
}

/// What `graph_peers.py --probe` prints: versions, None when missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersInfo {
    pub python: String,
    pub numpy: Option<String>,
    pub snapml: Option<String>,
    pub networkx: Option<String>,
}

// ---------------------------------------------------------------------------------------
// `mirrorflow-bench graph-run`: one mirrorflow measurement

/// One parsed line of an edge list: byte ranges into the chunk's text.
struct Row {
    id: std::ops::Range<usize>,
    src: std::ops::Range<usize>,
    dst: std::ops::Range<usize>,
    ts_us: i64,
}

/// Splits `line` (starting at byte `at` of the chunk) into a [`Row`].
fn parse_row(line: &str, at: usize) -> std::result::Result<(Row, i64), String> {
    let mut fields = [0..0, 0..0, 0..0, 0..0];
    let mut n = 0;
    let mut start = 0;
    for (i, b) in line.bytes().enumerate().chain([(line.len(), b',')]) {
        if b == b',' {
            if n == 4 {
                return Err(format!("expected 4 fields ({HEADER}), found more"));
            }
            fields[n] = start..i;
            n += 1;
            start = i + 1;
        }
    }
    if n != 4 {
        return Err(format!("expected 4 fields ({HEADER}), found {n}"));
    }
    for (name, f) in ["edge_id", "src", "dst"].iter().zip(&fields) {
        if f.is_empty() {
            return Err(format!("`{name}` is empty"));
        }
    }
    let ts_text = &line[fields[3].clone()];
    let ts: i64 = ts_text.parse().map_err(|_| format!("ts `{ts_text}` is not an integer (seconds)"))?;
    let ts_us = ts.checked_mul(1_000_000).ok_or_else(|| format!("ts `{ts_text}` is out of range"))?;
    let shift = |r: &std::ops::Range<usize>| r.start + at..r.end + at;
    Ok((Row { id: shift(&fields[0]), src: shift(&fields[1]), dst: shift(&fields[2]), ts_us }, ts))
}

/// Streams the edge list at `path` through a `CycleFinder` (`temporal_only(window,
/// max_len)`), `CHUNK_EDGES` edges at a time: a chunk is read and parsed (timed as
/// `load_seconds`), then each of its edges is counted (timed as `seconds`). `seq` is the
/// line order, so edges with equal `ts` chain in file order.
pub fn run_graph_file(path: &Path, window_s: i64, max_len: usize) -> Result<EngineJson> {
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| Error::io(path, e))?;
    let header = header.trim_end_matches(['\n', '\r']).trim_start_matches('\u{feff}');
    if header != HEADER {
        return Err(Error::input(path, format!("expected the header `{HEADER}`, found `{header}`")));
    }
    let window_us =
        window_s.checked_mul(1_000_000).ok_or_else(|| Error::Usage(format!("--window-s {window_s}: out of range")))?;
    let mut finder = CycleFinder::new(CycleConfig::temporal_only(window_us, max_len));

    let (mut text, mut rows) = (String::new(), Vec::with_capacity(CHUNK_EDGES));
    let (mut load, mut compute) = (Duration::ZERO, Duration::ZERO);
    let (mut line_no, mut seq, mut cycles, mut ties) = (1u64, 0u64, 0u64, 0u64);
    let (mut max_edges, mut max_nodes) = (0usize, 0usize);
    let mut prev_ts: Option<i64> = None;
    load += started.elapsed();
    loop {
        let t = Instant::now();
        text.clear();
        rows.clear();
        while rows.len() < CHUNK_EDGES {
            let at = text.len();
            if reader.read_line(&mut text).map_err(|e| Error::io(path, e))? == 0 {
                break;
            }
            line_no += 1;
            let line = text[at..].trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            let (row, ts) = parse_row(line, at).map_err(|why| Error::input(path, format!("line {line_no}: {why}")))?;
            match prev_ts {
                Some(p) if ts < p => {
                    return Err(Error::input(
                        path,
                        format!("line {line_no}: ts {ts} is before the edge above ({p}): edges must be in time order"),
                    ));
                }
                Some(p) if ts == p => ties += 1,
                _ => {}
            }
            prev_ts = Some(ts);
            rows.push(row);
        }
        load += t.elapsed();
        if rows.is_empty() {
            break;
        }
        let t = Instant::now();
        for r in &rows {
            let edge = Edge { tx_id: Arc::from(&text[r.id.clone()]), ts: r.ts_us, seq, usd: EDGE_USD };
            seq += 1;
            cycles += finder.count(&text[r.src.clone()], &text[r.dst.clone()], edge);
        }
        compute += t.elapsed();
        let (e, n) = finder.graph.size();
        max_edges = max_edges.max(e);
        max_nodes = max_nodes.max(n);
    }
    let total = started.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(vm_hwm_bytes);
    Ok(EngineJson {
        engine: "mirrorflow".into(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        edges: seq,
        finished: true,
        cycles: Some(cycles),
        seconds: Some(compute.as_secs_f64()),
        load_seconds: Some(load.as_secs_f64()),
        total_seconds: Some(total),
        peak_rss_bytes: peak,
        ts_ties: Some(ties),
        max_window_edges: Some(max_edges as u64),
        max_window_nodes: Some(max_nodes as u64),
        truncated: Some(finder.stats.truncated),
        ..EngineJson::default()
    })
}

/// `mirrorflow-bench graph-run`: runs [`run_graph_file`], writes the JSON to `out` (if
/// given) and returns it as one line.
pub fn graph_run_command(path: &Path, window_s: i64, max_len: usize, out: Option<&Path>) -> Result<String> {
    if window_s < 1 || max_len < 2 {
        return Err(Error::Usage(format!(
            "--window-s {window_s} --max-len {max_len}: expected a window of at least 1 s and at least 2 edges"
        )));
    }
    let report = run_graph_file(path, window_s, max_len)?;
    let line = serde_json::to_string(&report).map_err(|e| Error::Internal(format!("graph-run report: {e}")))?;
    if let Some(out) = out {
        std::fs::write(out, format!("{line}\n")).map_err(|e| Error::io(out, e))?;
    }
    Ok(line)
}

// ---------------------------------------------------------------------------------------
// Running the engines

/// One measured child.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineRun {
    pub json: EngineJson,
    /// Spawn to exit.
    pub wall_seconds: f64,
    /// The child's `VmHWM`, sampled by the harness (else what the engine reported).
    pub peak_rss_bytes: Option<u64>,
}

/// Several runs of one engine on one graph, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineBest {
    pub engine: String,
    /// The fastest run (by `seconds`), as the engine printed it.
    pub fastest: EngineJson,
    pub seconds: Option<f64>,
    pub total_seconds: Option<f64>,
    /// `edges / seconds` of the fastest run.
    pub edges_per_second: Option<f64>,
    /// Highest peak over the runs.
    pub peak_rss_bytes: Option<u64>,
    /// Every run's `seconds`, in run order.
    pub runs_seconds: Vec<Option<f64>>,
    /// The runs gave different cycle counts (a bug).
    pub counts_varied: bool,
}

/// The fastest run and the highest peak of `runs` (None if there are none).
pub fn engine_best(runs: &[EngineRun]) -> Option<EngineBest> {
    let key = |r: &EngineRun| r.json.seconds.unwrap_or(f64::INFINITY);
    let fastest = runs.iter().min_by(|a, b| key(a).total_cmp(&key(b)))?;
    let first = runs[0].json.cycles;
    Some(EngineBest {
        engine: fastest.json.engine.clone(),
        seconds: fastest.json.seconds,
        total_seconds: fastest.json.total_seconds,
        edges_per_second: fastest.json.seconds.map(|s| fastest.json.edges as f64 / s.max(1e-9)),
        peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
        runs_seconds: runs.iter().map(|r| r.json.seconds).collect(),
        counts_varied: runs.iter().any(|r| r.json.cycles != first),
        fastest: fastest.json.clone(),
    })
}

/// Runs `cmd` (which writes its JSON to `out`) as a measured child; the error is a
/// sentence for the report.
fn run_engine(mut cmd: Command, what: &str, out: &Path) -> std::result::Result<EngineRun, String> {
    let _ = std::fs::remove_file(out);
    let m = run_measured(&mut cmd).map_err(|e| format!("cannot run `{what}`: {e}"))?;
    if !m.status.success() {
        return Err(child_failure(what, m.status, &m.stderr));
    }
    let text =
        std::fs::read_to_string(out).map_err(|e| format!("`{what}` wrote no report to `{}`: {e}", out.display()))?;
    let json = parse_engine_line(&text, what)?;
    let peak = m.peak_rss_bytes.or(json.peak_rss_bytes);
    Ok(EngineRun { json, wall_seconds: m.seconds, peak_rss_bytes: peak })
}

/// Checks that `python` runs the script; which peers it has (or why none can run).
fn probe_peers(python: &str, script: &Path) -> std::result::Result<PeersInfo, String> {
    let output =
        Command::new(python).arg(script).arg("--probe").stdin(Stdio::null()).output().map_err(|e| {
            format!("cannot run `{python}` ({e}); the peers need Python 3 with `snapml` and `networkx`")
        })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(child_failure(&format!("{python} graph_peers.py --probe"), output.status, &err));
    }
    last_json_line(&String::from_utf8_lossy(&output.stdout), "graph_peers.py --probe")
}

/// Why `peer` cannot run with `info` (None if it can).
pub fn missing_peer(peer: &str, python: &str, info: &PeersInfo) -> Option<String> {
    let package = if peer == "networkx" { "networkx" } else { "snapml" };
    let have = if package == "networkx" { &info.networkx } else { &info.snapml };
    let missing: Vec<&str> = [(package, have.is_none()), ("numpy", info.numpy.is_none())]
        .into_iter()
        .filter_map(|(p, gone)| gone.then_some(p))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let names: Vec<String> = missing.iter().map(|p| format!("`{p}`")).collect();
    Some(format!(
        "{peer} not measured: `{python}` has no {} package; `{python} -m pip install {}` installs it, --python (or \
         MIRRORFLOW_PYTHON) picks another Python, --peers chooses the peers",
        names.join(" nor "),
        missing.join(" ")
    ))
}

// ---------------------------------------------------------------------------------------
// Agreement

/// Whether the counts agree, and why not where they do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// For the table: `yes`, `NO`, or `-` (nothing to compare).
    pub label: String,
    /// The engines whose counts were compared with mirrorflow's.
    pub compared: Vec<String>,
    pub notes: Vec<String>,
}

/// Compares mirrorflow's count with snapml's and networkx's (where they have one) and
/// explains differences by the definitional gaps established for snapml
/// (`graph_peers.py`): it never chains equal timestamps (`ts_ties`), and it bundles
/// parallel edges (its per-length sums then stop being multiples of the length, `exact`).
/// networkx counts exactly mirrorflow's definition, so any difference there is a bug.
pub fn agreement(mf: &EngineJson, snapml: Option<&EngineJson>, networkx: Option<&EngineJson>) -> Agreement {
    let mut a = Agreement::default();
    let Some(mine) = mf.cycles else {
        a.label = "-".into();
        return a;
    };
    let mut differ = false;
    if let Some(n) = networkx.filter(|n| n.finished).and_then(|n| n.cycles) {
        a.compared.push("networkx".into());
        if n != mine {
            differ = true;
            let why = match mf.truncated.filter(|&t| t > 0) {
                Some(t) => format!(
                    "mirrorflow cut {} searches short (its per-edge caps), so its count is a lower bound",
                    thousands(t)
                ),
                None => "networkx counts exactly mirrorflow's definition, so one of them has a bug".to_string(),
            };
            a.notes.push(format!("networkx counts {} cycles, mirrorflow {}: {why}", thousands(n), thousands(mine)));
        }
    }
    if let Some(s) = snapml.and_then(|s| s.cycles.map(|c| (s, c))) {
        let (s, c) = s;
        a.compared.push("snapml".into());
        if c != mine {
            differ = true;
            let mut why = Vec::new();
            if let Some(t) = mf.truncated.filter(|&t| t > 0) {
                why.push(format!(
                    "mirrorflow cut {} searches short (its per-edge caps), so its count is a lower bound",
                    thousands(t)
                ));
            }
            if let Some(t) = mf.ts_ties.filter(|&t| t > 0) {
                why.push(format!(
                    "{} edges share their timestamp with the edge before: snapml never chains equal timestamps, \
                     mirrorflow chains them in file order",
                    thousands(t)
                ));
            }
            if s.exact == Some(false) {
                why.push(
                    "snapml's per-length sums are not multiples of the length: it bundled parallel edges (an \
                     ordered pair repeats within the window) and counts one cycle per node sequence and closing \
                     edge"
                        .to_string(),
                );
            }
            let nx = networkx.filter(|n| n.finished).and_then(|n| n.cycles);
            if why.is_empty() {
                why.push(match nx {
                    Some(n) if n == mine => "no known definitional cause, and networkx agrees with mirrorflow: \
                                             look at snapml"
                        .to_string(),
                    Some(n) if n == c => "no known definitional cause, and networkx agrees with snapml: look at \
                                          mirrorflow"
                        .to_string(),
                    _ => "no known definitional cause: a bug on one side".to_string(),
                });
            }
            a.notes.push(format!(
                "snapml counts {} cycles, mirrorflow {} ({:+}): {}",
                thousands(c),
                thousands(mine),
                c as i128 - mine as i128,
                why.join("; ")
            ));
        }
    }
    a.label = if a.compared.is_empty() {
        "-".into()
    } else if differ {
        "NO".into()
    } else {
        "yes".into()
    };
    a
}

// ---------------------------------------------------------------------------------------
// The benchmark

/// One graph size on every engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphSizeResult {
    pub edges: u64,
    pub file: PathBuf,
    pub file_bytes: u64,
    pub graph: GenStats,
    pub mirrorflow: EngineBest,
    pub mirrorflow_runs: Vec<EngineRun>,
    /// Per peer (`snapml`, `snapml-batched`, `networkx`): its best, or why it has none.
    pub peers: BTreeMap<String, std::result::Result<EngineBest, String>>,
    pub agreement: Agreement,
}

impl GraphSizeResult {
    fn peer(&self, name: &str) -> Option<&EngineBest> {
        self.peers.get(name).and_then(|r| r.as_ref().ok())
    }
}

/// Everything `bench graph` measured (the JSON written by `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphBenchReport {
    pub machine: Machine,
    pub peers_info: Option<PeersInfo>,
    pub repeats: u32,
    pub seed: u64,
    pub window_s: i64,
    pub max_len: usize,
    pub threads: u32,
    pub networkx_budget_s: u64,
    pub snapml_batch: u64,
    pub goal_edges_per_second: f64,
    /// `/proc/loadavg`'s 1-minute load when the benchmark started: other work skews the
    /// figures.
    pub load_average: Option<f64>,
    pub results: Vec<GraphSizeResult>,
    /// Why peers were not measured at all, with how to fix it.
    pub notes: Vec<String>,
}

/// Runs the graph benchmark and returns the report to print.
pub fn run_graph_bench(opts: &GraphBenchOptions) -> Result<String> {
    let report = measure_graph_bench(opts)?;
    if let Some(path) = &opts.json_out {
        write_json(path, &report)?;
    }
    Ok(format_graph_report(&report))
}

/// Runs the graph benchmark and returns what it measured (`mirrorflow-bench pipeline --peers`
/// takes its headline rows).
pub fn measure_graph_bench(opts: &GraphBenchOptions) -> Result<GraphBenchReport> {
    opts.validate()?;
    let load_average = std::fs::read_to_string("/proc/loadavg").ok().as_deref().and_then(load_average);
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| Error::io(&opts.data_dir, e))?;

    let mut notes = Vec::new();
    let mut peers: Vec<&str> = PEERS.iter().copied().filter(|p| opts.runs(p)).collect();
    let (script, info) = if peers.is_empty() {
        notes.push("peers not measured (--peers none)".to_string());
        (None, None)
    } else {
        let script = write_script(&opts.data_dir, "graph_peers.py", PEERS_SCRIPT)?;
        match probe_peers(&opts.python, &script) {
            Ok(info) => {
                peers.retain(|p| match missing_peer(p, &opts.python, &info) {
                    Some(why) => {
                        notes.push(why);
                        false
                    }
                    None => true,
                });
                (Some(script), Some(info))
            }
            Err(why) => {
                notes.push(format!("peers not measured: {why}"));
                peers.clear();
                (None, None)
            }
        }
    };
    for n in &notes {
        tracing::warn!("{n}");
    }

    let mut results = Vec::new();
    for &edges in &opts.edges {
        let spec = GraphSpec { edges, seed: opts.seed, window_s: opts.window_s };
        let graph = ensure_graph(&opts.data_dir, spec)?;
        let file_bytes = std::fs::metadata(&graph.csv).map_err(|e| Error::io(&graph.csv, e))?.len();
        let runs_dir = graph.dir.join("runs");
        std::fs::create_dir_all(&runs_dir).map_err(|e| Error::io(&runs_dir, e))?;
        tracing::info!("bench graph: {} edges: {} run(s) of mirrorflow and snapml", thousands(edges), opts.repeats);

        let mut mf_runs = Vec::new();
        let mut peer_runs: BTreeMap<String, std::result::Result<Vec<EngineRun>, String>> =
            peers.iter().map(|p| (p.to_string(), Ok(Vec::new()))).collect();
        for i in 0..opts.repeats {
            let out = runs_dir.join("mirrorflow.json");
            let mut cmd = Command::new(&exe);
            cmd.args(["graph-run"]).arg(&graph.csv);
            cmd.arg("--window-s").arg(opts.window_s.to_string());
            cmd.arg("--max-len").arg(opts.max_len.to_string()).arg("--out").arg(&out);
            let run =
                run_engine(cmd, "mirrorflow-bench graph-run", &out).map_err(|why| Error::input(&graph.csv, why))?;
            mf_runs.push(run);
            for peer in &peers {
                // networkx runs once (it has a budget, not a timing to refine)
                if *peer == "networkx" && i > 0 {
                    continue;
                }
                let (Some(Ok(_)), Some(script)) = (peer_runs.get(*peer), &script) else { continue };
                let out = runs_dir.join(format!("{peer}.json"));
                let mut cmd = Command::new(&opts.python);
                cmd.arg(script).arg(&graph.csv).args(["--engine", peer]);
                cmd.arg("--window-s").arg(opts.window_s.to_string());
                cmd.arg("--max-len").arg(opts.max_len.to_string());
                cmd.arg("--threads").arg(opts.threads.to_string());
                cmd.arg("--batch").arg(SNAPML_BATCH.to_string());
                cmd.arg("--budget-s").arg(opts.networkx_budget_s.to_string());
                cmd.arg("--out").arg(&out);
                tracing::info!("bench graph: {} edges: {peer} run {}", thousands(edges), i + 1);
                let run = run_engine(cmd, &format!("graph_peers.py --engine {peer}"), &out);
                match (run, peer_runs.get_mut(*peer)) {
                    (Ok(r), Some(Ok(done))) => done.push(r),
                    (Err(why), Some(slot)) => *slot = Err(why),
                    _ => {}
                }
            }
        }
        let mirrorflow = engine_best(&mf_runs).ok_or_else(|| Error::Internal("no mirrorflow run".into()))?;
        let peers_best: BTreeMap<String, std::result::Result<EngineBest, String>> = peer_runs
            .into_iter()
            .map(|(p, r)| {
                let best = r.and_then(|runs| engine_best(&runs).ok_or_else(|| "no run".to_string()));
                (p, best)
            })
            .collect();
        let pick = |name: &str| peers_best.get(name).and_then(|r| r.as_ref().ok()).map(|b| &b.fastest);
        let agreement = agreement(&mirrorflow.fastest, pick("snapml"), pick("networkx"));
        results.push(GraphSizeResult {
            edges,
            file: graph.csv.clone(),
            file_bytes,
            graph: graph.stats.clone(),
            mirrorflow,
            mirrorflow_runs: mf_runs,
            peers: peers_best,
            agreement,
        });
    }

    let report = GraphBenchReport {
        machine: Machine::detect(&opts.python, None),
        peers_info: info,
        repeats: opts.repeats,
        seed: opts.seed,
        window_s: opts.window_s,
        max_len: opts.max_len,
        threads: opts.threads,
        networkx_budget_s: opts.networkx_budget_s,
        snapml_batch: SNAPML_BATCH,
        goal_edges_per_second: GOAL_EDGES_PER_SECOND,
        load_average,
        results,
        notes,
    };
    Ok(report)
}

/// The 1-minute load of a `/proc/loadavg` text.
fn load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// The report

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"))
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), thousands)
}

/// `86,400 s (1.0 days)` and the like.
fn duration_words(s: i64) -> String {
    let (v, unit) = if s >= 86_400 {
        (s as f64 / 86_400.0, "days")
    } else if s >= 3_600 {
        (s as f64 / 3_600.0, "hours")
    } else {
        (s as f64 / 60.0, "minutes")
    };
    format!("{} s ({v:.1} {unit})", thousands(s as u64))
}

/// A peer's cycle count for the table: the count, `DNF` out of budget, or `-`.
fn peer_cycles(b: Option<&EngineBest>) -> String {
    match b {
        Some(b) if !b.fastest.finished => "DNF".to_string(),
        Some(b) => count(b.fastest.cycles),
        None => "-".to_string(),
    }
}

/// The report: how it was measured, one table, the aims and the notes.
pub fn format_graph_report(r: &GraphBenchReport) -> String {
    let mut out = graph_report_method(r);
    out.push('\n');
    out.push_str(&graph_report_table(r));
    out.push('\n');
    out.push_str(&graph_report_aims(r));
    let notes = graph_report_notes(r);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- note: {n}");
        }
    }
    out
}

/// The report's title and how each side was measured.
fn graph_report_method(r: &GraphBenchReport) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mirrorflow-bench graph: temporal cycles, mirrorflow vs IBM snapml GraphFeaturePreprocessor vs networkx\n"
    );
    if !m.release_build {
        let _ = writeln!(
            out,
            "**DEBUG build: the figures mean nothing** (build with `cargo build --release` and run \
             target/release/mirrorflow)\n"
        );
    }
    let mean_gap = (1 + MAX_GAP_S) as f64 / 2.0;
    let load = match r.load_average {
        Some(l) if l >= 0.5 => format!("; load average {l:.2} at the start: other work was running, figures are noisy"),
        Some(l) => format!("; load average {l:.2} at the start"),
        None => String::new(),
    };
    let _ = writeln!(out, "- {}{load}", machine_line(m));
    let _ = writeln!(
        out,
        "- cycles: simple directed cycles of 2..={} edges, each edge strictly later than the one before, the last \
         at most {} after the first (the window holds about {} edges)",
        r.max_len,
        duration_words(r.window_s),
        thousands((r.window_s as f64 / mean_gap).round() as u64)
    );
    let _ = writeln!(
        out,
        "- graphs (generator v{GEN_VERSION}, seed {}): max(edges/{EDGES_PER_NODE}, {MIN_NODES}) accounts, {:.0}% of \
         endpoints from a power law (hubs); one edge every 1..={MAX_GAP_S} s (mean {mean_gap:.0} s, no two in the \
         same second) from {}; {:.0}% of edges are hops of {} concurrent flows that return to their origin \
         after 2..=8 hops (planted cycles), the rest random payments; no self-loops, and no ordered pair repeats \
         within the window, so snapml's definition is mirrorflow's",
        r.seed,
        HUB_SHARE * 100.0,
        mirrorflow::ingest::values::format_ts(START_TS * 1_000_000),
        FLOW_SHARE * 100.0,
        GraphSpec { edges: 0, seed: r.seed, window_s: r.window_s }.flows()
    );
    let _ = writeln!(
        out,
        "- mirrorflow {} ({}): `mirrorflow-bench graph-run FILE` child, one thread: reads {} edges at a time and \
         streams each through `CycleFinder::count` (`CycleConfig::temporal_only`); s = time in the finder, total = \
         with reading and parsing; peak = the child's VmHWM",
        m.mirrorflow_version,
        build_note(m),
        thousands(CHUNK_EDGES as u64)
    );
    let versions = r.peers_info.as_ref();
    let ver = |v: Option<&Option<String>>| v.and_then(|v| v.clone()).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "- snapml {} via `{}` (`bench/graph_peers.py`): `GraphFeaturePreprocessor`, temp-cycle only, \
         temp-cycle_tw = time_window = the window, num_threads {}, one `transform` of the whole edge list; cycles = \
         per-length column sums / length; it has no length bound, so its time includes longer cycles; s = the \
         transform, total = with loading the CSV (numpy); peak = the child's VmHWM",
        ver(versions.map(|v| &v.snapml)),
        m.python,
        r.threads
    );
    let _ = writeln!(
        out,
        "- snapml batched: the same, fed {} edges per `transform` as a live system would: time only (a batch's sums \
         are not cycle counts)",
        thousands(r.snapml_batch)
    );
    let _ = writeln!(
        out,
        "- networkx {}: `simple_cycles(G, length_bound={})` is static, so per window-long slot it runs on the digraph \
         of the slot and the next, and each static cycle is expanded into the temporal cycles whose first edge is in \
         the slot: exactly mirrorflow's definition; once per size, budget {} s (DNF: did not finish)",
        ver(versions.map(|v| &v.networkx)),
        r.max_len,
        thousands(r.networkx_budget_s)
    );
    let _ = writeln!(
        out,
        "- best of {} run(s) for mirrorflow and snapml: the fastest run's time, the highest peak; aim: mirrorflow \
         faster than snapml's enumeration and at least {} edges/s",
        r.repeats,
        thousands(r.goal_edges_per_second as u64)
    );
    out
}

/// One row per size: counts, times, rates and peaks side by side.
fn graph_report_table(r: &GraphBenchReport) -> String {
    let headers = [
        "edges",
        "nodes",
        "mf cycles",
        "mf s",
        "mf total s",
        "mf edges/s",
        "mf peak MiB",
        "snapml cycles",
        "snapml s",
        "snapml total s",
        "snapml peak MiB",
        "snapml batched s",
        "networkx cycles",
        "networkx s",
        "counts agree",
    ];
    let rows: Vec<Vec<String>> = r
        .results
        .iter()
        .map(|x| {
            let mf = &x.mirrorflow;
            let s = x.peer("snapml");
            let sb = x.peer("snapml-batched");
            let nx = x.peer("networkx");
            vec![
                thousands(x.edges),
                thousands(x.graph.nodes),
                count(mf.fastest.cycles),
                secs(mf.seconds),
                secs(mf.total_seconds),
                mf.edges_per_second.map_or_else(|| "-".into(), |e| thousands(e.round() as u64)),
                mib(mf.peak_rss_bytes),
                peer_cycles(s),
                secs(s.and_then(|s| s.seconds)),
                secs(s.and_then(|s| s.total_seconds)),
                mib(s.and_then(|s| s.peak_rss_bytes)),
                secs(sb.and_then(|s| s.seconds)),
                peer_cycles(nx),
                secs(nx.and_then(|n| n.seconds)),
                match x.agreement.label.as_str() {
                    "-" => "-".to_string(),
                    l => format!("{l} ({})", x.agreement.compared.join(", ")),
                },
            ]
        })
        .collect();
    render_markdown_table(&headers, &rows, &[14])
}

/// Per size: the aims (faster than snapml, the edges/s goal), met or not.
fn graph_report_aims(r: &GraphBenchReport) -> String {
    let mut out = String::new();
    for x in &r.results {
        let mf = &x.mirrorflow;
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        let rate = mf.edges_per_second.map_or_else(
            || "no mirrorflow rate".to_string(),
            |e| {
                format!(
                    "{} edges/s vs {}: {}",
                    thousands(e.round() as u64),
                    thousands(r.goal_edges_per_second as u64),
                    met(e >= r.goal_edges_per_second)
                )
            },
        );
        let vs = |name: &str| -> Option<String> {
            let p = x.peer(name)?;
            let (Some(a), Some(b)) = (mf.seconds, p.seconds) else { return None };
            Some(format!("{b:.3} s / {a:.3} s = {:.1}x: {}", b / a.max(1e-9), met(a < b)))
        };
        let mut parts = Vec::new();
        if let Some(v) = vs("snapml") {
            parts.push(format!("vs snapml {v}"));
        }
        if let Some(v) = vs("snapml-batched") {
            parts.push(format!("vs snapml batched {v}"));
        }
        parts.push(rate);
        let _ = writeln!(out, "- aim at {} edges: {}", thousands(x.edges), parts.join("; "));
    }

    out
}

/// What each size's graph held, and what each side reported or failed.
fn graph_report_notes(r: &GraphBenchReport) -> Vec<String> {
    let mut notes: Vec<String> = r.notes.clone();
    for x in &r.results {
        let at = format!("{} edges", thousands(x.edges));
        let g = &x.graph;
        let planted: u64 = g.planted_by_len.iter().skip(2).take(r.max_len - 1).sum();
        let longer: u64 = g.planted_by_len.iter().skip(r.max_len + 1).sum();
        let mut line = format!(
            "{at}: {} of time; {} planted flow cycles within the bound ({} longer)",
            duration_words(g.last_ts - g.first_ts),
            thousands(planted),
            thousands(longer)
        );
        if let Some(e) = x.mirrorflow.fastest.max_window_edges {
            let _ = write!(line, "; mirrorflow's window held up to {} edges", thousands(e));
        }
        if let Some(t) = x.mirrorflow.fastest.truncated.filter(|&t| t > 0) {
            let _ = write!(line, "; mirrorflow cut {} searches short (per-edge caps)", thousands(t));
        }
        notes.push(line);
        for n in &x.agreement.notes {
            notes.push(format!("{at}: {n}"));
        }
        if x.mirrorflow.counts_varied {
            notes.push(format!("{at}: mirrorflow's runs gave different counts (a bug)"));
        }
        for (peer, res) in &x.peers {
            match res {
                Err(why) => notes.push(format!("{at}: {peer} failed: {why}")),
                Ok(b) => {
                    if b.counts_varied {
                        notes.push(format!("{at}: {peer}'s runs gave different counts"));
                    }
                    // (snapml-batched's note is the header's)
                    if let Some(n) = b.fastest.note.as_ref().filter(|_| peer != "snapml-batched") {
                        notes.push(format!("{at}: {peer}: {n}"));
                    }
                    if let Some(p) = b.fastest.participations_longer.filter(|_| peer == "snapml") {
                        notes.push(format!(
                            "{at}: snapml also enumerated cycles longer than {} edges ({} edge participations in them)",
                            r.max_len,
                            thousands(p)
                        ));
                    }
                }
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(edges: u64) -> GraphSpec {
        GraphSpec { edges, seed: 7, window_s: 86_400 }
    }

    #[test]
    fn the_generator_is_deterministic() {
        let a: Vec<GenEdge> = GraphGen::new(spec(5_000)).collect();
        let b: Vec<GenEdge> = GraphGen::new(spec(5_000)).collect();
        assert_eq!(a.len(), 5_000);
        assert_eq!(a, b);
        let c: Vec<GenEdge> = GraphGen::new(GraphSpec { seed: 8, ..spec(5_000) }).collect();
        assert_ne!(a, c);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        write_graph(spec(2_000), &mut x).unwrap();
        write_graph(spec(2_000), &mut y).unwrap();
        assert_eq!(x, y);
        let text = String::from_utf8(x).unwrap();
        assert!(text.starts_with("edge_id,src,dst,ts\n0,"), "{}", &text[..40]);
        assert_eq!(text.lines().count(), 2_001);
    }

    #[test]
    fn generated_graphs_keep_their_promises() {
        let s = GraphSpec { edges: 40_000, seed: 3, window_s: 3_600 };
        let mut gen_ = GraphGen::new(s);
        let edges: Vec<GenEdge> = gen_.by_ref().collect();
        let mut last: HashMap<(u32, u32), i64> = HashMap::new();
        let mut degree = vec![0u64; s.nodes() as usize];
        for (i, w) in edges.windows(2).enumerate() {
            assert!(w[1].ts > w[0].ts, "edge {i}: time must strictly increase");
            assert!(w[1].ts - w[0].ts <= MAX_GAP_S as i64);
        }
        for e in &edges {
            assert_ne!(e.src, e.dst, "self-loop at {}", e.id);
            if let Some(t) = last.insert((e.src, e.dst), e.ts) {
                assert!(e.ts - t > s.window_s, "pair {:?} repeats within the window", (e.src, e.dst));
            }
            degree[e.src as usize] += 1;
            degree[e.dst as usize] += 1;
        }
        assert!(edges.last().unwrap().ts < i32::MAX as i64);
        let stats = gen_.stats();
        assert_eq!((stats.edges, stats.nodes), (40_000, 8_000));
        assert_eq!((stats.first_ts, stats.last_ts), (edges[0].ts, edges[39_999].ts));
        // flows of every length came back, and some accounts are hubs
        assert!(stats.planted_by_len[2..=8].iter().all(|&n| n > 0), "{:?}", stats.planted_by_len);
        let mean = 80_000.0 / 8_000.0;
        assert!(*degree.iter().max().unwrap() as f64 > 20.0 * mean, "no hub: max degree {:?}", degree.iter().max());
    }

    #[test]
    fn the_finder_sees_at_least_the_planted_cycles() {
        let s = GraphSpec { edges: 20_000, seed: 1, window_s: 86_400 };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(EDGES_FILE);
        let stats = write_graph(s, std::fs::File::create(&file).unwrap()).unwrap();
        let r = run_graph_file(&file, s.window_s, 6).unwrap();
        let planted: u64 = stats.planted_by_len[2..=6].iter().sum();
        assert_eq!(r.edges, 20_000);
        assert!(r.cycles.unwrap() >= planted, "{:?} < {planted}", r.cycles);
        assert_eq!(r.ts_ties, Some(0));
        assert!(r.max_window_edges.unwrap() > 0);
        // a shorter bound finds fewer
        let r3 = run_graph_file(&file, s.window_s, 3).unwrap();
        assert!(r3.cycles < r.cycles);
    }

    #[test]
    fn graph_run_counts_a_hand_made_list_and_reports_ties() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("e.csv");
        // 2-cycles (0, 1) and (1, 2); triangles (2, 3, 4) and (0, 3, 4): the last two edges
        // tie at ts 40 and chain in file order
        std::fs::write(&file, "edge_id,src,dst,ts\n0,a,b,10\n1,b,a,20\n2,a,b,30\n3,b,c,40\n4,c,a,40\n").unwrap();
        let r = run_graph_file(&file, 100, 6).unwrap();
        assert_eq!((r.edges, r.cycles, r.ts_ties), (5, Some(4), Some(1)));
        // the window is inclusive: spans of 10 s fit in 10 s, (0, 3, 4) takes 30 s
        assert_eq!(run_graph_file(&file, 10, 6).unwrap().cycles, Some(3));
        assert_eq!(run_graph_file(&file, 9, 6).unwrap().cycles, Some(0));
        assert_eq!(run_graph_file(&file, 100, 2).unwrap().cycles, Some(2));
    }

    #[test]
    fn graph_run_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("e.csv");
        let cases = [
            ("src,dst\n", "expected the header `edge_id,src,dst,ts`, found `src,dst`"),
            ("edge_id,src,dst,ts\n0,a,b,10\n1,b,a\n", "line 3: expected 4 fields"),
            ("edge_id,src,dst,ts\n0,a,b,10\n1,b,a,x\n", "line 3: ts `x` is not an integer"),
            ("edge_id,src,dst,ts\n0,a,b,10\n1,b,a,5\n", "line 3: ts 5 is before the edge above (10)"),
            ("edge_id,src,dst,ts\n0,,b,10\n", "line 2: `src` is empty"),
            ("edge_id,src,dst,ts\n0,a,b,1,2\n", "found more"),
        ];
        for (text, want) in cases {
            std::fs::write(&file, text).unwrap();
            let e = run_graph_file(&file, 100, 6).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn parses_the_peers_json() {
        let snap = r#"{"engine": "snapml", "version": "1.17.2", "file": "x.csv", "edges": 1000, "window_s": 86400,
            "max_len": 6, "finished": true, "cycles": 70, "cycles_by_len": {"2": 30, "3": 20, "4": 10, "5": 6, "6": 4},
            "seconds": 1.5, "load_seconds": 0.25, "total_seconds": 1.75, "peak_rss_bytes": 104857600, "note": null,
            "threads": 2, "batch": null, "participations_longer": 21, "exact": true}"#
            .replace('\n', " ");
        let j = parse_engine_line(&format!("warming up\n{snap}\n"), "graph_peers.py").unwrap();
        assert_eq!((j.engine.as_str(), j.cycles, j.exact, j.threads), ("snapml", Some(70), Some(true), Some(2)));
        assert_eq!(j.cycles_by_len.get(&10), None);
        assert_eq!(j.cycles_by_len.get(&2), Some(&30));
        assert_eq!((j.seconds, j.total_seconds, j.participations_longer), (Some(1.5), Some(1.75), Some(21)));
        let nx = r#"{"engine": "networkx", "version": "3.6.1", "edges": 1000, "finished": false, "cycles": null,
            "seconds": 600.0, "windows": 58, "windows_done": 3, "budget_s": 600, "note": "did not finish in 600 s"}"#
            .replace('\n', " ");
        let j = parse_engine_line(&nx, "graph_peers.py").unwrap();
        assert_eq!((j.finished, j.cycles, j.windows_done), (false, None, Some(3)));
        assert!(parse_engine_line("nothing\n", "graph_peers.py").unwrap_err().contains("no JSON line"));
        let e = parse_engine_line("{\"engine\": 3}\n", "graph_peers.py").unwrap_err();
        assert!(e.contains("cannot parse the line of `graph_peers.py`"), "{e}");
        let probe: PeersInfo = last_json_line(
            r#"{"python": "3.11.7", "numpy": "2.4.6", "snapml": null, "networkx": "3.6.1"}"#,
            "graph_peers.py --probe",
        )
        .unwrap();
        let why = missing_peer("snapml", "py", &probe).unwrap();
        assert!(why.contains("`py` has no `snapml` package") && why.contains("py -m pip install snapml"), "{why}");
        assert!(missing_peer("snapml-batched", "py", &probe).is_some());
        assert_eq!(missing_peer("networkx", "py", &probe), None);
        let bare = PeersInfo { numpy: None, ..probe };
        let why = missing_peer("networkx", "py", &bare).unwrap();
        assert!(why.contains("has no `numpy` package; `py -m pip install numpy`"), "{why}");
    }

    #[test]
    fn the_engines_json_round_trips() {
        let j = EngineJson { ts_ties: Some(0), ..json("mirrorflow", Some(3)) };
        let text = serde_json::to_string(&j).unwrap();
        assert!(!text.contains("exact") && !text.contains("cycles_by_len"), "{text}");
        assert_eq!(parse_engine_line(&text, "x").unwrap(), j);
        // a report without `finished` finished
        assert!(
            parse_engine_line(r#"{"engine": "e", "edges": 1, "cycles": 0, "seconds": 1.0}"#, "x").unwrap().finished
        );
    }

    fn json(engine: &str, cycles: Option<u64>) -> EngineJson {
        EngineJson { engine: engine.into(), edges: 100, finished: true, cycles, ..Default::default() }
    }

    #[test]
    fn counts_that_agree_say_with_whom() {
        let mf = EngineJson { ts_ties: Some(0), ..json("mirrorflow", Some(10)) };
        let snap = EngineJson { exact: Some(true), ..json("snapml", Some(10)) };
        let a = agreement(&mf, Some(&snap), Some(&json("networkx", Some(10))));
        assert_eq!((a.label.as_str(), a.compared.clone()), ("yes", vec!["networkx".to_string(), "snapml".into()]));
        assert!(a.notes.is_empty());
        // networkx out of budget is not compared
        let dnf = EngineJson { finished: false, ..json("networkx", None) };
        let a = agreement(&mf, Some(&snap), Some(&dnf));
        assert_eq!((a.label.as_str(), a.compared.len()), ("yes", 1));
        assert_eq!(agreement(&mf, None, Some(&dnf)).label, "-");
    }

    #[test]
    fn differences_are_explained_by_what_was_established() {
        let mf = EngineJson { ts_ties: Some(12), ..json("mirrorflow", Some(10)) };
        let snap = EngineJson { exact: Some(false), ..json("snapml", Some(8)) };
        let a = agreement(&mf, Some(&snap), None);
        assert_eq!(a.label, "NO");
        let n = &a.notes[0];
        assert!(n.starts_with("snapml counts 8 cycles, mirrorflow 10 (-2): 12 edges share their timestamp"), "{n}");
        assert!(n.contains("bundled parallel edges"), "{n}");
        let capped = EngineJson { truncated: Some(3), ts_ties: Some(0), ..json("mirrorflow", Some(10)) };
        let a = agreement(&capped, Some(&EngineJson { exact: Some(true), ..json("snapml", Some(12)) }), None);
        assert!(a.notes[0].contains("mirrorflow cut 3 searches short"), "{:?}", a.notes);
        // no known cause: networkx decides whom to look at
        let mf = EngineJson { ts_ties: Some(0), ..json("mirrorflow", Some(10)) };
        let snap = EngineJson { exact: Some(true), ..json("snapml", Some(11)) };
        let a = agreement(&mf, Some(&snap), Some(&json("networkx", Some(10))));
        assert!(a.notes[0].contains("networkx agrees with mirrorflow: look at snapml"), "{:?}", a.notes);
        let a = agreement(&mf, Some(&snap), Some(&json("networkx", Some(11))));
        assert_eq!(a.notes.len(), 2, "{:?}", a.notes);
        assert!(a.notes[0].contains("networkx counts exactly mirrorflow's definition"), "{:?}", a.notes);
        assert!(a.notes[1].contains("networkx agrees with snapml: look at mirrorflow"), "{:?}", a.notes);
    }

    fn best(j: EngineJson, seconds: f64, total: f64, peak: u64) -> EngineBest {
        let j = EngineJson { seconds: Some(seconds), total_seconds: Some(total), ..j };
        let run = EngineRun { json: j, wall_seconds: total + 0.1, peak_rss_bytes: Some(peak) };
        engine_best(&[run]).unwrap()
    }

    fn report() -> GraphBenchReport {
        let mf = EngineJson {
            edges: 1_000_000,
            ts_ties: Some(0),
            max_window_edges: Some(17_000),
            ..json("mirrorflow", Some(66_882))
        };
        let snap = EngineJson {
            edges: 1_000_000,
            exact: Some(true),
            participations_longer: Some(56_125),
            ..json("snapml", Some(66_882))
        };
        let batched = EngineJson { edges: 1_000_000, ..json("snapml-batched", None) };
        let nx = EngineJson {
            edges: 1_000_000,
            finished: false,
            note: Some("did not finish in 600 s (3 of 58 windows done)".into()),
            ..json("networkx", None)
        };
        let mut peers = BTreeMap::new();
        peers.insert("snapml".to_string(), Ok(best(snap.clone(), 100.0, 104.0, 1024 * 1024 * 1024)));
        peers.insert("snapml-batched".to_string(), Ok(best(batched, 20.0, 24.0, 512 * 1024 * 1024)));
        peers.insert("networkx".to_string(), Ok(best(nx.clone(), 600.0, 604.0, 300 * 1024 * 1024)));
        GraphBenchReport {
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                mem_total_bytes: Some(24 * 1024 * 1024 * 1024),
                mirrorflow_version: "0.1.0".into(),
                release_build: true,
                python: "/tmp/peers/bin/python".into(),
                duckdb: None,
            },
            peers_info: Some(PeersInfo {
                python: "3.11.7".into(),
                numpy: Some("2.4.6".into()),
                snapml: Some("1.17.2".into()),
                networkx: Some("3.6.1".into()),
            }),
            repeats: 3,
            seed: 42,
            window_s: 86_400,
            max_len: 6,
            threads: 2,
            networkx_budget_s: 600,
            snapml_batch: SNAPML_BATCH,
            goal_edges_per_second: GOAL_EDGES_PER_SECOND,
            load_average: Some(0.1),
            results: vec![GraphSizeResult {
                edges: 1_000_000,
                file: "bench-data/graph-1000000/edges.csv".into(),
                file_bytes: 30 * 1024 * 1024,
                graph: GenStats {
                    edges: 1_000_000,
                    nodes: 200_000,
                    first_ts: START_TS + 5,
                    last_ts: START_TS + 5_000_005,
                    planted_by_len: vec![0, 0, 10, 10, 10, 10, 10, 5, 5],
                },
                agreement: agreement(&mf, Some(&snap), Some(&nx)),
                mirrorflow: best(mf, 0.8, 1.1, 64 * 1024 * 1024),
                mirrorflow_runs: Vec::new(),
                peers,
            }],
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_report_shows_every_engine_side_by_side() {
        let text = format_graph_report(&report());
        assert!(text.contains("machine: 2 CPUs (nproc), Test CPU, 24.0 GiB RAM; load average 0.10 at the start\n"));
        assert_eq!(load_average("1.95 1.20 0.80 3/400 1234\n"), Some(1.95));
        assert!(text.contains("at most 86,400 s (1.0 days) after the first (the window holds about 17,280 edges)"));
        assert!(text.contains("snapml 1.17.2 via `/tmp/peers/bin/python`"), "{text}");
        assert!(text.contains("networkx 3.6.1: `simple_cycles(G, length_bound=6)`"), "{text}");
        let row = text.lines().find(|l| l.starts_with("| 1,000,000")).unwrap();
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "1,000,000",
                "200,000",
                "66,882",
                "0.800",
                "1.100",
                "1,250,000",
                "64.0",
                "66,882",
                "100.000",
                "104.000",
                "1024.0",
                "20.000",
                "DNF",
                "600.000",
                "yes (snapml)"
            ]
        );
        assert!(
            text.contains(
                "- aim at 1,000,000 edges: vs snapml 100.000 s / 0.800 s = 125.0x: met; vs snapml batched 20.000 s / \
                 0.800 s = 25.0x: met; 1,250,000 edges/s vs 1,000,000: met"
            ),
            "{text}"
        );
        assert!(text.contains("note: 1,000,000 edges: networkx: did not finish in 600 s (3 of 58 windows done)"));
        assert!(text.contains("50 planted flow cycles within the bound (10 longer)"), "{text}");
        assert!(text.contains("snapml also enumerated cycles longer than 6 edges (56,125 edge participations"));
        assert!(!text.contains("DEBUG"), "{text}");
    }

    #[test]
    fn the_report_json_has_the_figures() {
        let v = serde_json::to_value(report()).unwrap();
        let x = &v["results"][0];
        assert_eq!(x["mirrorflow"]["fastest"]["cycles"], 66_882);
        assert_eq!(x["peers"]["snapml"]["Ok"]["fastest"]["exact"], true);
        assert_eq!(x["agreement"]["label"], "yes");
        assert_eq!(v["window_s"], 86_400);
    }

    #[test]
    fn options_are_checked_all_at_once() {
        assert!(GraphBenchOptions::default().validate().is_ok());
        let bad = GraphBenchOptions {
            edges: vec![0, 100_000_000],
            window_s: 0,
            max_len: 1,
            peers: vec!["igraph".into()],
            repeats: 0,
            threads: 0,
            ..Default::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        for part in [
            "sizes must be at least 1",
            "100,000,000 is more than 63,294,094",
            "--repeats",
            "--window-s 0",
            "--max-len 1",
            "`igraph` is not one of snapml, snapml-batched, networkx",
            "--threads",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
    }

    #[test]
    fn graphs_live_under_their_size_and_are_remade_when_the_spec_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = GraphSpec { edges: 3_000, seed: 5, window_s: 3_600 };
        let g = ensure_graph(dir.path(), s).unwrap();
        assert_eq!(g.csv, dir.path().join("graph-3000").join("edges.csv"));
        assert_eq!(g.stats.edges, 3_000);
        let before = std::fs::metadata(&g.csv).unwrap().modified().unwrap();
        assert_eq!(ensure_graph(dir.path(), s).unwrap(), g, "reused");
        assert_eq!(std::fs::metadata(&g.csv).unwrap().modified().unwrap(), before);
        let other = ensure_graph(dir.path(), GraphSpec { window_s: 7_200, ..s }).unwrap();
        assert_ne!(other.stats, g.stats, "another window is another graph");
    }

    #[test]
    fn the_embedded_script_is_the_one_in_bench() {
        assert!(PEERS_SCRIPT.contains("def self_check()"));
        assert!(PEERS_SCRIPT.contains(HEADER));
    }
}
