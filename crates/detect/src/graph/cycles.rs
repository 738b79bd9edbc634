//! T7: time-respecting cycles, found as each edge arrives.
//!
//! A cycle is a simple directed cycle `v -> ... -> u -> v` of 2..=`max_len` edges of at
//! least `min_usd` each, whose edges follow each other in `(ts, seq)` order, whose last
//! edge is at most `window` after its first, and in which each hop carries between
//! `1 - max_hop_loss` and `1 + max_hop_gain` of the hop before it. The arriving edge
//! `u -> v` is always the cycle's last edge, so each cycle is found exactly once, when it
//! closes: a backward search from `u` over the in-edges of each node that are earlier
//! than the hop after them and inside the window (two binary searches in the node's
//! time-ordered list), within the value band of that hop. A search that looks at more
//! than `EAGER_BUDGET` edges (a dense hub) is redone with a bound: how early each node can
//! be reached from `v`, and in how few hops, by a time-respecting walk inside the window
//! (one breadth-first pass forward from `v`); a branch into a node that `v` cannot reach
//! before the edge leaves it, or not in the hops left, is cut. The pass and the redone
//! search share one budget (`max_visits`), so an arriving edge's cost is bounded whatever
//! the window's graph holds; a search that spends it is counted (`truncated`). Money-services and
//! exchange hubs are left out of the graph unless configured.
//!
//! Owns: `CycleFinder` (the window's graph, the search). The T7 alert is one per episode
//! of cycles (`graph::detector`).
//! Must not: depend on batching: rows are taken one by one in `(ts, seq)` order.

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::NodeIndexable;

use super::{AmountScale, Edge, Half, Node, TemporalGraph};

pub const RULE_ID: &str = "graph_cycles";
/// 2: one alert per episode of cycles sharing two accounts (1: one per cycle).
pub const RULE_VERSION: &str = "2";

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
    /// How long the graph keeps an edge (µs): the pipeline's window. Also how long a
    /// cycle may take, first edge to last, unless `cycle_window_us` is shorter.
    pub window_us: i64,
    /// How long a cycle may take, first edge to last (µs; `None`: `window_us`).
    pub cycle_window_us: Option<i64>,
    /// Account kinds left out of the graph (hubs whose cycles are business as usual).
    pub skip_kinds: Vec<String>,
    /// Shortest cycle, in edges (at least 2).
    pub min_len: usize,
    /// At most this many of a cycle's edges may be between accounts that had dealt
    /// before (within the pair memory); `None`: any.
    pub max_known_edges: Option<usize>,
    /// At least this share (basis points) of a cycle's accounts are quiet: at most
    /// `quiet_max_tx` transactions (of at least `min_usd`) in the window before their cycle
    /// payment (0: not asked).
    pub quiet_share_bp: i128,
    pub quiet_max_tx: usize,
    /// The amount floor relative to the ledger: an edge needs at least this share (basis
    /// points) of the 99th percentile of the transfers seen so far, when that is below
    /// `min_usd` (0: `min_usd` alone). Change is small against a ledger's large
    /// transfers, in any currency and at any scale.
    pub min_share_of_p99_bp: i128,
    /// A cycle whose hops fall outside the value band still counts when every one of its
    /// transactions is a first contact and it runs through at least 3 accounts: fresh
    /// counterparties passing money round (amounts drawn anew per hop) rather than trade.
    pub off_band_first_contacts: bool,
    /// Of an off-band cycle's transactions, at most this many may be between accounts
    /// that had dealt before (a ring's origin often pays, or is paid by, an established
    /// counterparty); the rest are first contacts.
    pub off_band_max_known: usize,
    /// How much event time the graph must have watched (from its first row) before a
    /// transfer counts as a first contact or an account as quiet: with no history,
    /// every pair is new and every account quiet (µs; 0: at once).
    pub warmup_us: i64,
    /// How far back an account's transactions count towards quiet (µs).
    pub quiet_window_us: i64,
    /// One step of a search follows at most this many of a node's most recent in-edges
    /// before the hop (`MAX_STEP_INS` in the product; `usize::MAX`: all, as the exact
    /// enumeration the benchmarks compare with snapml does).
    pub max_step_ins: usize,
    /// A search that outgrew `EAGER_BUDGET` may spend at most this many more steps: the
    /// reachability pass's edges and the bounded search's in-edges together (`MAX_VISITS`
    /// in the product). Past it the search stops and is counted (`truncated`).
    pub max_visits: u64,
}

impl CycleConfig {
    /// Pure temporal cycles (the definition of IBM's Graph Feature Preprocessor): no value
    /// band, no amount floor, no hubs left out.
    pub fn temporal_only(window_us: i64, max_len: usize) -> Self {
        CycleConfig {
            max_len,
            max_hop_loss_bp: 10_000,
            max_hop_gain_bp: i128::MAX / 2,
            min_usd: i128::MIN,
            window_us,
            skip_kinds: Vec::new(),
            max_step_ins: usize::MAX,
            max_visits: EXACT_MAX_VISITS,
            ..CycleConfig::default()
        }
    }
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
            min_len: 2,
            max_known_edges: None,
            quiet_share_bp: 0,
            quiet_max_tx: 5,
            min_share_of_p99_bp: 0,
            off_band_first_contacts: false,
            off_band_max_known: 0,
            warmup_us: 0,
            quiet_window_us: 30 * 86_400_000_000,
            cycle_window_us: None,
            max_step_ins: MAX_STEP_INS,
            max_visits: MAX_VISITS,
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
    /// Each hop's arrival number (`seq`): ties in time.
    pub seq: Vec<u64>,
}

/// What the searches did (for benchmarks and debug logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Edges that entered the graph.
    pub edges: u64,
    /// Searches that outgrew the eager budget and were redone with reachability bounds.
    pub bounded_searches: u64,
    /// In-edges looked at by the backward searches.
    pub visits: u64,
    pub cycles: u64,
    /// Closing edges whose search was cut short (`MAX_VISITS`, `MAX_CYCLES`).
    pub truncated: u64,
    /// Closing edges whose search, at some node, followed only that node's
    /// `max_step_ins` most recent in-edges before the hop (a hub).
    pub hub_capped: u64,
}

/// In-edges a search may look at before it stops and first computes how early each node
/// can be reached from the cycle's start (most searches end well before).
pub const EAGER_BUDGET: u64 = 2_048;

/// A bounded search stops after this many steps (the reachability pass's edges and the
/// search's in-edges together), and any search after `MAX_CYCLES` cycles closed by one
/// edge: a dense neighbourhood (a few accounts paying each other thousands of times, or
/// thousands of accounts all paying each other) must not stall the stream, and an
/// arriving edge's cost must not grow with the window's graph. Such edges are counted in
/// `CycleStats::truncated` and logged. At 4,096 (down from 200,000, which did not count
/// the pass) the alerts are the same on `fixtures/demo`, the generated 1M ledger, a
/// held-out seed, the dense small-amount ledger and AMLSim; on the bench's `hubs` ledger
/// the cycle alerts lost were all false (README, Benchmarks).
pub const MAX_VISITS: u64 = 4_096;
pub const MAX_CYCLES: usize = 100;
/// The bound of the exact enumeration the benchmarks compare with other engines
/// ([`CycleConfig::temporal_only`]).
pub const EXACT_MAX_VISITS: u64 = 200_000;
/// One step of a search looks at most at this many in-edges of a node, the most recent
/// before the hop: a hub paid by thousands in the window would otherwise multiply every
/// search through it by its degree (and end it at `MAX_VISITS` having looked at one
/// corner). Money that goes round comes back within days, so the hub's recent credits
/// are where its cycle hop is; searches that meet the cap are counted (`hub_capped`).
pub const MAX_STEP_INS: usize = 256;

/// Finds the cycles closed by each arriving edge.
#[derive(Debug, Default)]
pub struct CycleFinder {
    pub cfg: CycleConfig,
    pub graph: TemporalGraph,
    pub stats: CycleStats,
    /// Scratch: earliest arrival `(when, hops)` from the closing edge's target.
    reach: Reach,
    /// The ledger's transfer values so far (for the relative floor).
    pub scale: AmountScale,
    /// Transfers offered to `insert` (not self-transfers), and those at or above the floor.
    pub offered: u64,
    /// Event time of the first row the graph saw (the start of its history).
    pub started: Option<i64>,
}

/// Earliest arrival `(when, hops)` per node, in a slot per node index (stamped, so a new
/// pass costs nothing to clear): the bounded search asks it at every branch.
#[derive(Debug, Default)]
struct Reach {
    stamp: u32,
    slots: Vec<(u32, (i64, u64), u32)>,
}

impl Reach {
    fn reset(&mut self, node_bound: usize) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.slots.iter_mut().for_each(|s| s.0 = 0);
            self.stamp = 1;
        }
        if self.slots.len() < node_bound {
            self.slots.resize(node_bound, (0, (0, 0), 0));
        }
    }

    fn get(&self, n: NodeIndex) -> Option<((i64, u64), u32)> {
        self.slots.get(n.index()).filter(|s| s.0 == self.stamp).map(|s| (s.1, s.2))
    }

    fn set(&mut self, n: NodeIndex, when: (i64, u64), hops: u32) {
        self.slots[n.index()] = (self.stamp, when, hops);
    }
}

/// Where a search puts the cycles it finds (paths run backwards from the closing edge).
trait Found {
    fn cycle(&mut self, path: &[Half]);
    /// The search is being redone: forget what it found.
    fn restart(&mut self);
}

impl Found for u64 {
    fn cycle(&mut self, _: &[Half]) {
        *self += 1;
    }
    fn restart(&mut self) {
        *self = 0;
    }
}

impl Found for Vec<Vec<Half>> {
    fn cycle(&mut self, path: &[Half]) {
        self.push(path.to_vec());
    }
    fn restart(&mut self) {
        self.clear();
    }
}

impl CycleFinder {
    pub fn new(cfg: CycleConfig) -> Self {
        CycleFinder { cfg, ..CycleFinder::default() }
    }

    /// Adds edge `src -> dst` (in `(ts, seq)` order) and returns the cycles it closes,
    /// sorted.
    pub fn push(&mut self, src: &str, dst: &str, edge: Edge) -> Vec<Cycle> {
        match self.insert(src, dst, edge) {
            Some(c) => self.cycles_of(c),
            None => Vec::new(),
        }
    }

    /// Like `push`, but only counts the cycles (what a benchmark measures).
    pub fn count(&mut self, src: &str, dst: &str, edge: Edge) -> u64 {
        let mut n = 0u64;
        self.insert_and_search(src, dst, edge, &mut n);
        self.stats.cycles += n;
        n
    }

    /// Notes a row for the accounts' activity (every row: cash, small, hubs) and, when it
    /// is a transfer, for the ledger's scale. Called before `insert` for the same row.
    pub fn note_row(&mut self, src: Option<&str>, dst: Option<&str>, when: (i64, u64), usd: i128) {
        self.started.get_or_insert(when.0);
        let a = &mut self.graph.activity;
        a.evict_before(when.0.saturating_sub(self.cfg.window_us));
        a.note(src, dst, when, usd);
        if src.is_some() && dst.is_some() && src != dst {
            self.scale.add(usd);
        }
    }

    /// The amount floor now: `min_usd`, or the share of the ledger's 99th percentile so
    /// far when that is lower.
    pub fn floor(&self) -> i128 {
        match self.scale.p99 {
            Some(p) if self.cfg.min_share_of_p99_bp > 0 => {
                self.cfg.min_usd.min(p.saturating_mul(self.cfg.min_share_of_p99_bp) / 10_000)
            }
            _ => self.cfg.min_usd,
        }
    }

    /// Adds edge `src -> dst` to the window's graph (first evicting what the window left
    /// behind); `None` when it is not an edge of the graph (a self-transfer, or below the
    /// amount floor).
    pub fn insert(&mut self, src: &str, dst: &str, edge: Edge) -> Option<EdgeIndex> {
        self.graph.evict_before(edge.ts.saturating_sub(self.cfg.window_us));
        let started = *self.started.get_or_insert(edge.ts);
        let warm = edge.ts.saturating_sub(started) >= self.cfg.warmup_us;
        let first = self.graph.pairs.note(src, dst, edge.ts) && warm;
        if src == dst {
            return None;
        }
        self.graph.quiet_known = warm;
        self.graph.quiet_window_us = self.cfg.quiet_window_us;
        self.offered += 1;
        if edge.usd < self.floor() {
            return None;
        }
        self.stats.edges += 1;
        Some(self.graph.add(src, dst, edge, first))
    }

    /// The cycles that edge `c` (the graph's newest) closes, sorted.
    pub fn cycles_of(&mut self, c: EdgeIndex) -> Vec<Cycle> {
        let mut found: Vec<Vec<Half>> = Vec::new();
        self.search(c, &mut found);
        let g = &self.graph.graph;
        let (min_len, quiet_bp, quiet_max) = (self.cfg.min_len, self.cfg.quiet_share_bp, self.cfg.quiet_max_tx);
        let (keep, grow) = (10_000 - self.cfg.max_hop_loss_bp, 10_000 + self.cfg.max_hop_gain_bp);
        found.retain(|path| {
            if path.len() < min_len {
                return false;
            }
            // a cycle outside the value band (all first contacts) runs through >= 3 accounts
            let off_band = path.windows(2).any(|w| {
                w[0].usd * 10_000 < w[1].usd.saturating_mul(keep) || w[0].usd * 10_000 > w[1].usd.saturating_mul(grow)
            });
            if off_band && path.len() < 3 {
                return false;
            }
            if quiet_bp == 0 {
                return true;
            }
            // each account's activity in the window before its own cycle payment (taken
            // when that payment arrived: the graph no longer holds what came before it)
            let quiet = path.iter().filter(|h| h.src_activity as usize <= quiet_max).count();
            quiet as i128 * 10_000 >= path.len() as i128 * quiet_bp
        });
        self.stats.cycles += found.len() as u64;
        let mut out: Vec<Cycle> = found
            .into_iter()
            .map(|path| {
                // `path` runs backwards from the closing edge; each entry is an in-edge
                // whose `other` is the account it left from
                let hops: Vec<&Half> = path.iter().rev().collect();
                Cycle {
                    tx_ids: hops.iter().map(|h| g[h.edge].tx_id.to_string()).collect(),
                    accounts: hops.iter().map(|h| g[h.other].id.to_string()).collect(),
                    ts: hops.iter().map(|h| h.when.0).collect(),
                    usd: hops.iter().map(|h| h.usd).collect(),
                    seq: hops.iter().map(|h| h.when.1).collect(),
                }
            })
            .collect();
        out.sort();
        out
    }

    fn insert_and_search(&mut self, src: &str, dst: &str, edge: Edge, found: &mut impl Found) {
        if let Some(c) = self.insert(src, dst, edge) {
            self.search(c, found);
        }
    }

    fn search(&mut self, c: EdgeIndex, found: &mut impl Found) {
        let g = &self.graph.graph;
        let (u, v) = g.edge_endpoints(c).expect("an edge of the window");
        let closing = *g[v].ins.back().expect("the newest edge");
        debug_assert_eq!(closing.edge, c);
        let span = self.cfg.cycle_window_us.map_or(self.cfg.window_us, |c| c.min(self.cfg.window_us));
        let lo = (closing.when.0.saturating_sub(span), 0);
        // nothing can close without an earlier edge into `u` and out of `v`
        if g[u].ins_between(lo, closing.when).next().is_none() || g[v].outs_between(lo, closing.when).next().is_none() {
            return;
        }
        let known_left = match self.cfg.max_known_edges {
            Some(max) if !closing.first && max == 0 => return,
            Some(max) => max - usize::from(!closing.first),
            None => usize::MAX,
        };
        let mut search = Search {
            g,
            v,
            lo,
            known_left,
            off_band_ok: self.cfg.off_band_first_contacts,
            off_band_known: self.cfg.off_band_max_known,
            known_in_path: usize::from(!closing.first),
            off_band_in_path: 0,
            quiet_max: self.cfg.quiet_max_tx,
            max_busy: max_busy(self.cfg.max_len, self.cfg.quiet_share_bp),
            busy_in_path: usize::from(closing.src_activity as usize > self.cfg.quiet_max_tx),
            max_len: self.cfg.max_len,
            keep: 10_000 - self.cfg.max_hop_loss_bp,
            grow: 10_000 + self.cfg.max_hop_gain_bp,
            reach: None,
            budget: EAGER_BUDGET,
            aborted: false,
            found: 0,
            truncated: false,
            capped: false,
            max_step_ins: self.cfg.max_step_ins,
        };
        let mut path = vec![closing];
        search.back(u, &mut path, found);
        self.stats.visits += EAGER_BUDGET - search.budget;
        if search.truncated {
            self.stats.truncated += 1;
            self.stats.hub_capped += u64::from(search.capped);
            return;
        }
        if !search.aborted {
            self.stats.hub_capped += u64::from(search.capped);
            return;
        }
        search.capped = false;
        // a dense neighbourhood: bound the search by how early each node can be reached
        // from `v` (time-respecting, within the window, in at most max_len - 1 hops)
        found.restart();
        self.stats.bounded_searches += 1;
        let max_visits = self.cfg.max_visits;
        let Some(left) = reach_from(g, v, lo, closing.when, self.cfg.max_len - 1, max_visits, &mut self.reach) else {
            // the reachability pass alone took the whole budget
            self.stats.visits += max_visits;
            self.stats.truncated += 1;
            return;
        };
        self.stats.visits += max_visits - left;
        if self.reach.get(u).is_none() {
            return;
        }
        search.reach = Some(&self.reach);
        search.budget = left;
        search.aborted = false;
        search.found = 0;
        path.truncate(1);
        search.back(u, &mut path, found);
        self.stats.visits += left - search.budget;
        if search.aborted || search.truncated {
            self.stats.truncated += 1;
        }
        self.stats.hub_capped += u64::from(search.capped);
    }
}

/// `(when, hops)` of the earliest arrival at each node reachable from `v` by edges
/// `lo <= when < hi`, each later than the one before, in at most `max_hops` edges; the
/// budget left after the edges it looked at, or `None` when it needed more than `budget`.
fn reach_from(
    g: &StableDiGraph<Node, Edge>,
    v: NodeIndex,
    lo: (i64, u64),
    hi: (i64, u64),
    max_hops: usize,
    mut budget: u64,
    reach: &mut Reach,
) -> Option<u64> {
    reach.reset(g.node_bound());
    let after = |w: (i64, u64)| if w.1 == u64::MAX { (w.0 + 1, 0) } else { (w.0, w.1 + 1) };
    let mut frontier: Vec<(NodeIndex, (i64, u64))> = vec![(v, lo)];
    let mut next: Vec<NodeIndex> = Vec::new();
    for hops in 1..=max_hops as u32 {
        next.clear();
        for &(y, start) in &frontier {
            let outs = g[y].outs_between(start, hi);
            budget = budget.checked_sub(outs.len() as u64)?;
            for h in outs {
                if h.other == v {
                    continue;
                }
                match reach.get(h.other) {
                    None => {
                        reach.set(h.other, h.when, hops);
                        next.push(h.other);
                    }
                    Some((t, first_hops)) if h.when < t => {
                        reach.set(h.other, h.when, first_hops);
                        next.push(h.other);
                    }
                    Some(_) => {}
                }
            }
        }
        if next.is_empty() {
            break;
        }
        next.sort_unstable();
        next.dedup();
        frontier.clear();
        frontier.extend(next.iter().map(|&z| (z, after(reach.get(z).expect("reached").0))));
    }
    Some(budget)
}

/// The most edges from busy accounts a cycle of at most `max_len` edges may hold and still
/// have `quiet_bp` of its accounts quiet (`usize::MAX` when quiet is not asked). The share
/// of quiet accounts of a path with `b` busy ones can only reach `(L - b) / L` at best,
/// which grows with the final length `L`: a path over this bound can close no cycle that
/// `cycles_of` keeps, so the search does not follow it (the same cycles, found sooner).
fn max_busy(max_len: usize, quiet_bp: i128) -> usize {
    if quiet_bp <= 0 {
        return usize::MAX;
    }
    (0..=max_len).rev().find(|&b| (max_len - b) as i128 * 10_000 >= max_len as i128 * quiet_bp).unwrap_or(0)
}

/// One backward search from the closing edge's source.
struct Search<'a> {
    g: &'a StableDiGraph<Node, Edge>,
    /// The closing edge's target: where the cycle starts.
    v: NodeIndex,
    /// The earliest time a cycle's first edge may have.
    lo: (i64, u64),
    max_len: usize,
    /// A hop carries at least `keep` and at most `grow` (basis points) of the one before.
    keep: i128,
    grow: i128,
    reach: Option<&'a Reach>,
    /// Edges between accounts that had dealt before that the path may still take.
    known_left: usize,
    /// Hops outside the value band may be taken when the whole path is first contacts.
    off_band_ok: bool,
    /// Most transactions of an off-band path between accounts that had dealt before.
    off_band_known: usize,
    /// An account is quiet with at most this many transactions before its payment.
    quiet_max: usize,
    /// Most edges from busy accounts a kept cycle can hold (`max_busy`), and how many the
    /// path holds.
    max_busy: usize,
    busy_in_path: usize,
    known_in_path: usize,
    off_band_in_path: usize,
    /// In-edges left to look at.
    budget: u64,
    aborted: bool,
    /// Cycles found so far; at `MAX_CYCLES` the search stops (`truncated`).
    found: usize,
    truncated: bool,
    /// A step met `max_step_ins`.
    capped: bool,
    max_step_ins: usize,
}

impl Search<'_> {
    /// Extends `path` (ending at `x`, earliest edge last) backwards by one edge.
    fn back(&mut self, x: NodeIndex, path: &mut Vec<Half>, found: &mut impl Found) {
        let next = *path.last().expect("path");
        // newest first, from the hop back to `lo`: the list before the hop is found once and
        // read backwards, without a second search for `lo` (a hub's step reads at most
        // `max_step_ins` of it)
        let g = self.g;
        let ins = &g[x].ins;
        let b = super::before(ins, next.when);
        let lo = self.lo;
        if b > self.max_step_ins && ins[b - self.max_step_ins - 1].when >= lo {
            self.capped = true;
        }
        for h in ins.range(..b).rev().take_while(|h| h.when >= lo).take(self.max_step_ins) {
            if self.budget == 0 {
                self.aborted = true;
                return;
            }
            self.budget -= 1;
            // the later hop carries at least `keep` and at most `grow` of this one, or the
            // path is all first contacts
            let in_band = next.usd * 10_000 >= h.usd.saturating_mul(self.keep)
                && next.usd * 10_000 <= h.usd.saturating_mul(self.grow);
            let known = usize::from(!h.first);
            if !in_band && (!self.off_band_ok || self.known_in_path + known > self.off_band_known) {
                continue;
            }
            if !h.first
                && (self.known_left == 0 || (self.off_band_in_path > 0 && self.known_in_path + 1 > self.off_band_known))
            {
                continue;
            }
            let busy = usize::from(h.src_activity as usize > self.quiet_max);
            if self.busy_in_path + busy > self.max_busy {
                continue;
            }
            let s = h.other;
            if s == self.v {
                path.push(*h);
                found.cycle(path);
                path.pop();
                self.found += 1;
                if self.found >= MAX_CYCLES {
                    self.truncated = true;
                    self.aborted = true;
                    return;
                }
                continue;
            }
            if path.len() + 1 >= self.max_len || path.iter().any(|p| p.other == s) {
                continue;
            }
            if let Some(reach) = self.reach {
                // `s` must be reachable from `v` before this edge leaves it, in few enough hops
                match reach.get(s) {
                    Some((t, hops)) if t < h.when && path.len() + 1 + hops as usize <= self.max_len => {}
                    _ => continue,
                }
            }
            path.push(*h);
            let off = usize::from(!in_band);
            self.known_left -= known;
            self.known_in_path += known;
            self.off_band_in_path += off;
            self.busy_in_path += busy;
            self.back(s, path, found);
            self.known_left += known;
            self.known_in_path -= known;
            self.off_band_in_path -= off;
            self.busy_in_path -= busy;
            path.pop();
            if self.aborted {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
