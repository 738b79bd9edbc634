//! The graph stage as a pipeline `Detector`: one window graph, fed row by row in
//! `(ts, seq)` order, and the patterns asked of each arriving edge (T7 cycles, T9
//! scatter-gather / gather-scatter, T10 bipartite layers).
//!
//! Owns: `GraphDetector` (which rows become edges: amount floor, hubs left out), the
//! alerts of flow episodes, and the graph stage's checkpoint state (the window's edges and
//! the open episodes).
//! Must not: depend on batching (rows one by one; episodes close on event time).

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType, UInt64Type};
use serde::{Deserialize, Serialize};

use super::cycles::{CycleConfig, CycleFinder};
use super::flows::{Episode, Episodes, EvEdge, FlowFinder, FlowMatch, Pattern, roles};
use super::{Edge, GraphConfig};
use mirrorflow_core::alert::build::usd_text;
use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};
use mirrorflow_core::detect::{DetectCtx, Detector, RawValue, load_json, save_json};
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::{self, acct, tx};
use mirrorflow_core::time::format_ts;
use mirrorflow_core::window::EventWindow;

pub const FLOW_RULE_VERSION: &str = "1";

/// The graph stage: the graph's edges and which patterns to look for.
pub struct GraphDetector {
    finder: CycleFinder,
    cycles: bool,
    flows: Option<FlowFinder>,
    episodes: Episodes,
    episode_gap_us: i64,
    /// Party view: the parties (resolved on the first batch) and how.
    party_cfg: Option<crate::party::PartyConfig>,
    parties: Option<crate::party::Parties>,
    /// After a checkpoint: rebuild the accounts' activity from the window's rows before
    /// the first new one.
    rebuild_activity: bool,
    /// Off-band gather-scatters left out as trade between businesses.
    trade_chains: u64,
}

/// Whether the match's hub and every account that paid into it are KYC businesses.
fn business_chain(m: &FlowMatch, accounts: &mirrorflow_core::tables::AccountsTable) -> bool {
    let Some(hub) = m.key.first() else { return false };
    let business = |a: &str| accounts.field_str(a, acct::KIND) == Some("business");
    business(hub) && m.edges.iter().filter(|e| *e.dst == **hub).all(|e| business(&e.src))
}

/// What a checkpoint carries for the graph stage.
#[derive(Serialize, Deserialize)]
struct Saved {
    /// The window's edges: (src, dst, tx_id, ts, seq, usd micro-dollars as text, first contact).
    edges: Vec<(String, String, String, i64, u64, String, bool)>,
    /// The pair memory: (src hash, dst hash, last ts).
    pairs: Vec<(u64, u64, i64)>,
    episodes: Episodes,
    /// The ledger's transfer values so far (relative amount floor): (bucket, count), and
    /// the 99th percentile in force (micro-dollars, as text).
    #[serde(default)]
    scale: Vec<(u32, u64)>,
    #[serde(default)]
    scale_p99: Option<String>,
    /// Each edge's sender activity when it arrived (same order as `edges`), and when the
    /// graph's history began (the warm-up).
    #[serde(default)]
    src_activity: Vec<u32>,
    #[serde(default)]
    started: Option<i64>,
}

impl GraphDetector {
    /// `cfg.edges` decides which rows are edges (amount floor, hubs left out, window) and
    /// the cycle search; `cfg.cycles` and `cfg.flows` which patterns are asked.
    pub fn new(cfg: GraphConfig) -> Self {
        let mut finder = CycleFinder::new(cfg.edges);
        finder.graph.pairs = super::Pairs::new(cfg.pair_memory_us);
        GraphDetector {
            finder,
            cycles: cfg.cycles,
            flows: cfg.flows.map(FlowFinder::new),
            episodes: Episodes::default(),
            episode_gap_us: cfg.episode_gap_us,
            party_cfg: cfg.parties,
            parties: None,
            rebuild_activity: false,
            trade_chains: 0,
        }
    }

    fn close(&mut self, eps: Vec<Episode>, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        out.extend(eps.iter().map(|ep| match ep.pattern {
            Pattern::Cycle => cycle_alert(ep, ctx, &self.finder.cfg),
            _ => flow_alert(ep, ctx),
        }));
    }
}

impl GraphDetector {
    /// The accounts' activity from the window's rows before `upto` (a resumed run: the
    /// checkpoint's window holds them).
    fn rebuild(&mut self, window: &EventWindow, upto: (i64, u64)) {
        for b in window.batches() {
            let col = |n: &str| b.column_by_name(n).expect("enriched column");
            let (src, dst) = (col(tx::SRC_ACCOUNT).as_string::<i32>(), col(tx::DST_ACCOUNT).as_string::<i32>());
            let ts = col(tx::TS).as_primitive::<TimestampMicrosecondType>();
            let seq = col(tx::SEQ).as_primitive::<UInt64Type>();
            let usd = col(tx::AMOUNT_USD).as_primitive::<Decimal128Type>();
            for i in 0..b.num_rows() {
                let when = (ts.value(i), seq.value(i));
                if when >= upto || usd.is_null(i) {
                    continue;
                }
                let (s, d) = ((!src.is_null(i)).then(|| src.value(i)), (!dst.is_null(i)).then(|| dst.value(i)));
                let a = &mut self.finder.graph.activity;
                match &self.parties {
                    Some(p) => {
                        let (x, y) = (s.map(|v| p.name(v)), d.map(|v| p.name(v)));
                        a.note(x.as_deref(), y.as_deref(), when, usd.value(i));
                    }
                    None => a.note(s, d, when, usd.value(i)),
                }
            }
        }
    }
}

impl Detector for GraphDetector {
    fn id(&self) -> &str {
        "graph"
    }

    /// New accounts: the parties (party view) are resolved again on the next batch.
    fn side_tables_changed(&mut self, _ctx: &DetectCtx) -> Result<()> {
        self.parties = None;
        Ok(())
    }

    fn on_batch(&mut self, batch: &RecordBatch, window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
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
        let skipped = |k: &StringArray, i: usize| !k.is_null(i) && skip_kinds.iter().any(|s| s == k.value(i));
        if let Some(pc) = &self.party_cfg
            && self.parties.is_none()
        {
            self.parties = Some(crate::party::Parties::resolve(&ctx.accounts, pc));
        }
        if std::mem::take(&mut self.rebuild_activity) && batch.num_rows() > 0 {
            self.rebuild(window, (ts.value(0), seq.value(0)));
        }
        let mut alerts = Vec::new();
        for i in 0..batch.num_rows() {
            let done = self.episodes.close_before(ts.value(i), self.episode_gap_us);
            if !done.is_empty() {
                self.close(done, ctx, &mut alerts);
            }
            if usd.is_null(i) {
                continue;
            }
            let when = (ts.value(i), seq.value(i));
            let (s_id, d_id) = ((!src.is_null(i)).then(|| src.value(i)), (!dst.is_null(i)).then(|| dst.value(i)));
            match &self.parties {
                Some(p) => {
                    let (a, b) = (s_id.map(|x| p.name(x)), d_id.map(|x| p.name(x)));
                    self.finder.note_row(a.as_deref(), b.as_deref(), when, usd.value(i));
                }
                None => self.finder.note_row(s_id, d_id, when, usd.value(i)),
            }
            if src.is_null(i) || dst.is_null(i) || skipped(src_kind, i) || skipped(dst_kind, i) {
                continue;
            }
            let edge = Edge { tx_id: ids.value(i).into(), ts: ts.value(i), seq: seq.value(i), usd: usd.value(i) };
            let inserted = match &self.parties {
                // party view: a party's node is named after its smallest account
                Some(p) => self.finder.insert(&p.name(src.value(i)), &p.name(dst.value(i)), edge),
                None => self.finder.insert(src.value(i), dst.value(i), edge),
            };
            let Some(e) = inserted else { continue };
            if self.cycles {
                for cycle in self.finder.cycles_of(e) {
                    let k = cycle.tx_ids.len();
                    let edges = (0..k)
                        .map(|h| EvEdge {
                            ts: cycle.ts[h],
                            seq: cycle.seq[h],
                            tx_id: cycle.tx_ids[h].clone(),
                            src: cycle.accounts[h].clone(),
                            dst: cycle.accounts[(h + 1) % k].clone(),
                            usd: cycle.usd[h],
                        })
                        .collect();
                    let m = FlowMatch { pattern: Pattern::Cycle, key: cycle.accounts, edges, balanced: false };
                    self.episodes.add_cycle(m, cycle.tx_ids, ts.value(i));
                }
            }
            if let Some(f) = &mut self.flows {
                for m in f.on_edge(&self.finder.graph, e) {
                    // found off the value band, through first contacts alone: when KYC says
                    // the hub and everyone who paid it are businesses, it is a trade chain
                    // (customers paying a supplier who pays its own), not a pooling account
                    if m.pattern == Pattern::GatherScatter && !m.balanced && business_chain(&m, &ctx.accounts) {
                        self.trade_chains += 1;
                        continue;
                    }
                    self.episodes.add(m, ts.value(i));
                }
            }
        }
        let (edges, nodes) = self.finder.graph.size();
        let m = mirrorflow_core::metrics::metrics();
        m.graph_nodes.set(nodes as i64);
        m.graph_edges.set(edges as i64);
        Ok(alerts)
    }

    fn notes(&self) -> Vec<mirrorflow_core::detect::DetectorNote> {
        use mirrorflow_core::detect::{DetectorNote, thousands};
        let f = &self.finder;
        // to the cent
        let usd = |v: i128| {
            let t = format_decimal((v.max(0) + 5_000) / 10_000 * 10_000, schema::USD_SCALE as u32);
            t.strip_suffix("0000").map(str::to_string).unwrap_or(t)
        };
        let floor = usd(f.floor());
        let why = match f.scale.p99 {
            Some(p) if f.cfg.min_share_of_p99_bp > 0 && f.floor() < f.cfg.min_usd => format!(
                "USD {floor}: graph.min-amount-share-of-p99 = {} of the transfers' 99th percentile USD {}, below graph.min-amount-usd = {}",
                f.cfg.min_share_of_p99_bp as f64 / 10_000.0,
                usd(p),
                usd(f.cfg.min_usd)
            ),
            _ => format!("graph.min-amount-usd = {floor}"),
        };
        let (seen, edges) = (f.offered, f.stats.edges);
        let mut text = format!(
            "graph: {} of {} transfers at or above the amount floor ({why})",
            thousands(edges),
            thousands(seen)
        );
        if self.trade_chains > 0 {
            text.push_str(&format!(
                "; {} off-band gather-scatter matches left out as trade between businesses",
                thousands(self.trade_chains)
            ));
        }
        let mut n = if seen > 0 && edges == 0 {
            DetectorNote::warn("graph", text)
        } else if seen == 0 {
            DetectorNote::warn("graph", "graph: no transfers between two accounts: nothing to judge".into())
        } else {
            DetectorNote::info("graph", text)
        };
        n.rows_seen = Some(seen);
        n.rows_eligible = Some(edges);
        let mut notes = vec![n];
        // every bound that gave up on a search, counted (never silent)
        let cycles_cut = f.stats.truncated;
        let flows_cut = self.flows.as_ref().map_or(0, |f| f.truncated);
        if cycles_cut + flows_cut > 0 {
            notes.push(DetectorNote::warn(
                "graph",
                format!(
                    "graph: searches cut short by their bounds on dense neighbourhoods: {} of {} arriving edges' cycle \
                     searches (at most {} cycles, or {} steps each past the first {}: the reachability pass's edges \
                     and the search's in-edges; {} searches needed reachability bounds) and {} flow searches (at \
                     most {} edges each): patterns through those edges may be missed",
                    thousands(cycles_cut),
                    thousands(f.stats.edges),
                    super::cycles::MAX_CYCLES,
                    thousands(f.cfg.max_visits),
                    thousands(super::cycles::EAGER_BUDGET),
                    thousands(f.stats.bounded_searches),
                    thousands(flows_cut),
                    thousands(self.flows.as_ref().map_or(0, |f| f.cfg.budget)),
                ),
            ));
        }
        if f.stats.hub_capped > 0 {
            notes.push(DetectorNote::warn(
                "graph",
                format!(
                    "graph: {} of {} arriving edges' cycle searches met a hub and followed only its {} most recent \
                     in-edges before the hop (graph::cycles::MAX_STEP_INS): cycles through an older credit of a hub \
                     may be missed",
                    thousands(f.stats.hub_capped),
                    thousands(f.stats.edges),
                    super::cycles::MAX_STEP_INS,
                ),
            ));
        }
        notes
    }

    fn on_finish(&mut self, _window: &EventWindow, ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let eps = self.episodes.close_all();
        let mut out = Vec::new();
        self.close(eps, ctx, &mut out);
        let s = &self.finder.stats;
        if s.truncated > 0 {
            tracing::warn!(
                truncated = s.truncated,
                "cycle searches cut short on dense neighbourhoods (at most {} cycles, or {} steps past the first {} \
                 per arriving edge)",
                super::cycles::MAX_CYCLES,
                mirrorflow_core::detect::thousands(self.finder.cfg.max_visits),
                mirrorflow_core::detect::thousands(super::cycles::EAGER_BUDGET)
            );
        }
        tracing::debug!(
            edges = s.edges,
            bounded_searches = s.bounded_searches,
            visits = s.visits,
            cycles = s.cycles,
            truncated = s.truncated,
            hub_capped = s.hub_capped,
            flow_searches_cut = self.flows.as_ref().map_or(0, |f| f.truncated),
            "graph stage"
        );
        Ok(out)
    }

    /// The window's graph and the open episodes: a resumed run must close cycles and
    /// patterns begun before the checkpoint.
    fn save_state(&self, out: &mut dyn std::io::Write) -> Result<bool> {
        let edges = self
            .finder
            .graph
            .edges_in_order()
            .into_iter()
            .map(|(s, d, e, first)| (s, d, e.tx_id.to_string(), e.ts, e.seq, e.usd.to_string(), first))
            .collect();
        let pairs = self.finder.graph.pairs.saved();
        let scale = self.finder.scale.saved();
        let scale_p99 = self.finder.scale.p99.map(|p| p.to_string());
        let src_activity = self.finder.graph.src_activity_in_order();
        let started = self.finder.started;
        save_json(
            "graph's",
            out,
            &Saved { edges, pairs, episodes: self.episodes.clone(), scale, scale_p99, src_activity, started },
        )
    }

    fn load_state(&mut self, state: &RawValue) -> Result<()> {
        let saved: Saved = load_json("graph's", state)?;
        for (k, (s, d, id, ts, seq, usd, first)) in saved.edges.into_iter().enumerate() {
            let usd: i128 =
                usd.parse().map_err(|_| Error::Config(vec![format!("checkpoint: edge {id}: bad amount {usd}")]))?;
            let e = self.finder.graph.add(&s, &d, Edge { tx_id: id.into(), ts, seq, usd }, first);
            if let Some(v) = saved.src_activity.get(k) {
                self.finder.graph.set_last_src_activity(e, *v);
            }
        }
        self.finder.started = saved.started;
        // the accounts' activity is rebuilt from the window on the first batch
        self.rebuild_activity = true;
        self.finder.graph.pairs.restore(saved.pairs);
        let p99 = saved.scale_p99.and_then(|p| p.parse::<i128>().ok());
        self.finder.scale.restore(&saved.scale, p99);
        self.episodes = saved.episodes;
        Ok(())
    }
}

/// How many of an episode's cycles an alert lists hop by hop (all are counted, and all
/// their transactions are evidence).
const LISTED_CYCLES: usize = 20;

/// The T7 alert of one episode of cycles: every cycle closed among accounts that share two
/// with another, until `episode-gap` passed without a new one.
fn cycle_alert(ep: &Episode, ctx: &DetectCtx, cfg: &CycleConfig) -> Alert {
    use super::cycles::{RULE_ID, RULE_VERSION};
    let usd = usd_text;
    let by_id: std::collections::HashMap<&str, &EvEdge> = ep.edges.iter().map(|e| (e.tx_id.as_str(), e)).collect();
    let mut cycles: Vec<Vec<&EvEdge>> =
        ep.cycles.iter().map(|c| c.iter().filter_map(|t| by_id.get(t.as_str()).copied()).collect()).collect();
    cycles.retain(|c| !c.is_empty());
    // in the order they closed (then by their first hop)
    cycles.sort_by_cached_key(|c| {
        let hops: Vec<(i64, u64)> = c.iter().map(|e| (e.ts, e.seq)).collect();
        (hops[hops.len() - 1], hops)
    });
    let tx_ids: Vec<String> = ep.edges.iter().map(|e| e.tx_id.clone()).collect();
    let (first, last) = (ep.edges.first().map_or(0, |e| e.ts), ep.edges.last().map_or(0, |e| e.ts));
    // accounts in the order money first reached them
    let mut subjects: Vec<String> = Vec::new();
    for e in &ep.edges {
        for a in [&e.src, &e.dst] {
            if !subjects.contains(a) {
                subjects.push(a.clone());
            }
        }
    }
    // value sent round: each distinct first hop once
    let mut starts: Vec<&EvEdge> = cycles.iter().map(|c| c[0]).collect();
    starts.sort();
    starts.dedup();
    let moved: i128 = starts.iter().map(|e| e.usd).sum();
    let path_of = |c: &[&EvEdge]| -> Vec<String> {
        c.iter().map(|e| e.src.clone()).chain(c.first().map(|e| e.src.clone())).collect()
    };
    let kept_of = |c: &[&EvEdge]| if c[0].usd > 0 { c[c.len() - 1].usd as f64 / c[0].usd as f64 } else { 0.0 };
    let listed: Vec<serde_json::Value> = cycles
        .iter()
        .take(LISTED_CYCLES)
        .map(|c| {
            let hours = (c[c.len() - 1].ts - c[0].ts) as f64 / 3.6e9;
            serde_json::json!({
                "length": c.len(),
                "path": path_of(c),
                "hops": c.iter().map(|e| serde_json::json!({
                    "tx_id": e.tx_id, "from": e.src, "to": e.dst, "ts": format_ts(e.ts), "amount_usd": usd(e.usd),
                })).collect::<Vec<_>>(),
                "kept_share": (kept_of(c) * 1000.0).round() / 1000.0,
                "duration_hours": (hours * 10.0).round() / 10.0,
            })
        })
        .collect();
    let mut jurisdictions: Vec<String> = subjects.iter().filter_map(|a| ctx.accounts.field(a, acct::COUNTRY)).collect();
    jurisdictions.sort();
    jurisdictions.dedup();
    let n = cycles.len();
    let c0 = &cycles[0];
    let hours0 = (c0[c0.len() - 1].ts - c0[0].ts) as f64 / 3.6e9;
    let first_cycle = format!(
        "USD {} left {} on {} and USD {} came back to it by {} ({:.1}% kept, {:.1} hours) through {}",
        usd(c0[0].usd),
        c0[0].src,
        format_ts(c0[0].ts),
        usd(c0[c0.len() - 1].usd),
        format_ts(c0[c0.len() - 1].ts),
        kept_of(c0) * 100.0,
        hours0,
        path_of(c0).join(" -> "),
    );
    let keep_pct = (10_000 - cfg.max_hop_loss_bp.min(10_000)) / 100;
    let narrative = if n == 1 {
        format!(
            "Money went round a cycle of {} accounts: {first_cycle}, each hop passing on at least {keep_pct}% of              the one before: a round trip that layers funds through accounts that return them to their origin.",
            c0.len(),
        )
    } else {
        format!(
            "{n} time-respecting cycles ran among {} accounts ({}) between {} and {}, sending USD {} round in all.              The first: {first_cycle}. Each hop passed on at least {keep_pct}% of the one before: funds repeatedly              layered through a ring of accounts that returns them to their origin.",
            subjects.len(),
            subjects.join(", "),
            format_ts(first),
            format_ts(last),
            usd(moved),
        )
    };
    let score = (0.7 + 0.05 * (n.min(5) as f64 - 1.0)).min(0.9);
    Alert {
        alert_id: alert_id(RULE_ID, RULE_VERSION, &tx_ids),
        rule_id: RULE_ID.into(),
        rule_version: RULE_VERSION.into(),
        typology: "T7".into(),
        severity: if n >= 3 { Severity::Critical } else { Severity::High },
        score,
        subjects: subjects.clone(),
        tx_ids,
        first_ts: format_ts(first),
        last_ts: format_ts(last),
        amount_usd: usd(moved),
        jurisdictions,
        details: serde_json::json!({
            "cycles": n,
            "accounts": subjects,
            "cycles_listed": listed.len(),
            "listed": listed,
            "params": {
                "max_len": cfg.max_len,
                "min_len": cfg.min_len,
                "max_hop_loss": format!("{:.2}", cfg.max_hop_loss_bp as f64 / 10_000.0),
                "window_days": cfg.window_us / 86_400_000_000,
            },
        }),
        narrative,
        status: Status::Open,
    }
}

/// The alert of one flow episode.
fn flow_alert(ep: &Episode, ctx: &DetectCtx) -> Alert {
    let usd = usd_text;
    let (senders, middle, receivers) = roles(ep);
    let edges: Vec<_> = ep.edges.iter().collect();
    let tx_ids: Vec<String> = edges.iter().map(|e| e.tx_id.clone()).collect();
    let (first, last) = (edges.first().map_or(0, |e| e.ts), edges.last().map_or(0, |e| e.ts));
    let out_of = |who: &[std::sync::Arc<str>]| -> i128 {
        edges.iter().filter(|e| who.iter().any(|a| **a == *e.src)).map(|e| e.usd).sum()
    };
    let into = |who: &[std::sync::Arc<str>]| -> i128 {
        edges.iter().filter(|e| who.iter().any(|a| **a == *e.dst)).map(|e| e.usd).sum()
    };
    let (sent, received) = (out_of(&senders), into(&receivers));
    let names = |v: &[std::sync::Arc<str>]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    let hours = (last - first) as f64 / 3.6e9;
    let share = if sent > 0 { received as f64 / sent as f64 } else { 0.0 };
    let (severity, score, narrative) = match ep.pattern {
        Pattern::ScatterGather => (
            Severity::High,
            0.7,
            format!(
                "{} split USD {} across {} intermediary accounts ({}) from {} and each passed what it got on \
                 to {}, which received USD {} ({:.1}% of it) by {}, {:.1} hours after the first transfer: \
                 a scatter-gather that breaks one movement of funds into parts and re-converges them.",
                names(&senders),
                usd(sent),
                middle.len(),
                names(&middle),
                format_ts(first),
                names(&receivers),
                usd(received),
                share * 100.0,
                format_ts(last),
                hours,
            ),
        ),
        Pattern::GatherScatter => (
            Severity::High,
            0.7,
            format!(
                "Account {} gathered USD {} from {} accounts ({}) from {} and paid out USD {} ({:.1}%) to {} \
                 accounts ({}) by {}, within {:.1} hours: a gather-scatter hub that pools funds from several \
                 sources and redistributes them at once.",
                names(&middle),
                usd(sent),
                senders.len(),
                names(&senders),
                format_ts(first),
                usd(received),
                share * 100.0,
                receivers.len(),
                names(&receivers),
                format_ts(last),
                hours,
            ),
        ),
        // `GraphDetector::close` gives cycle episodes to `cycle_alert`
        Pattern::Cycle => unreachable!("a cycle episode is not a flow"),
        Pattern::Bipartite => {
            let stacked = !middle.is_empty();
            (
                if stacked { Severity::High } else { Severity::Medium },
                if stacked { 0.7 } else { 0.6 },
                format!(
                    "{} sending accounts ({}) each paid the same receiving accounts ({}{}) between {} and {}, \
                     USD {} in {} transfers{}: layered many-to-many transfers between groups of accounts \
                     that have no evident reason to deal with all of each other.",
                    senders.len(),
                    names(&senders),
                    names(if stacked { &middle } else { &receivers }),
                    if stacked { format!(", which passed it on to {}", names(&receivers)) } else { String::new() },
                    format_ts(first),
                    format_ts(last),
                    usd(sent),
                    edges.len(),
                    if stacked { " in two stacked layers" } else { "" },
                ),
            )
        }
    };
    let subjects: Vec<String> = senders.iter().chain(&middle).chain(&receivers).map(|a| a.to_string()).collect();
    let mut jurisdictions: Vec<String> = subjects.iter().filter_map(|a| ctx.accounts.field(a, acct::COUNTRY)).collect();
    jurisdictions.sort();
    jurisdictions.dedup();
    let hops: Vec<serde_json::Value> = edges
        .iter()
        .map(|e| {
            serde_json::json!({
                "tx_id": e.tx_id, "from": e.src, "to": e.dst, "ts": format_ts(e.ts), "amount_usd": usd(e.usd),
            })
        })
        .collect();
    let rule_id = ep.pattern.rule_id();
    Alert {
        alert_id: alert_id(rule_id, FLOW_RULE_VERSION, &tx_ids),
        rule_id: rule_id.into(),
        rule_version: FLOW_RULE_VERSION.into(),
        typology: ep.pattern.typology().into(),
        severity,
        score,
        subjects,
        tx_ids,
        first_ts: format_ts(first),
        last_ts: format_ts(last),
        amount_usd: usd(sent),
        jurisdictions,
        details: serde_json::json!({
            "pattern": ep.pattern,
            "sources": senders.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "intermediaries": middle.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "sinks": receivers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "sent_usd": usd(sent),
            "received_usd": usd(received),
            "received_share": (share * 1000.0).round() / 1000.0,
            "duration_hours": (hours * 10.0).round() / 10.0,
            "transfers": hops,
        }),
        narrative,
        status: Status::Open,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StringArray};

    use super::*;
    use mirrorflow_core::tables::AccountsTable;

    /// Accounts with only an id and a KYC kind.
    fn kinds(rows: &[(&str, &str)]) -> AccountsTable {
        let schema = mirrorflow_core::schema::accounts_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                acct::ACCOUNT_ID => {
                    Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef
                }
                acct::KIND => Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())) as ArrayRef,
                _ => arrow::array::new_null_array(f.data_type(), rows.len()),
            })
            .collect();
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        AccountsTable { batch, index: rows.iter().enumerate().map(|(i, r)| (r.0.to_string(), i)).collect() }
    }

    fn edge(src: &str, dst: &str, ts: i64) -> EvEdge {
        EvEdge {
            ts,
            seq: ts as u64,
            tx_id: format!("{src}-{dst}"),
            src: src.into(),
            dst: dst.into(),
            usd: 5_000_000_000,
        }
    }

    fn gather_scatter(sources: &[&str], hub: &str, sinks: &[&str]) -> FlowMatch {
        let mut edges: Vec<EvEdge> = sources.iter().enumerate().map(|(i, s)| edge(s, hub, i as i64)).collect();
        edges.extend(sinks.iter().enumerate().map(|(i, k)| edge(hub, k, 100 + i as i64)));
        FlowMatch { pattern: Pattern::GatherScatter, key: vec![hub.into()], edges, balanced: false }
    }

    #[test]
    fn businesses_paying_a_business_that_pays_on_is_a_trade_chain() {
        let accts = kinds(&[
            ("B1", "business"),
            ("B2", "business"),
            ("B3", "business"),
            ("HUB", "business"),
            ("P1", "personal"),
        ]);
        assert!(business_chain(&gather_scatter(&["B1", "B2", "B3"], "HUB", &["P1", "X9"]), &accts));
        // a person among those who paid in, or a hub that is not a business, is judged
        assert!(!business_chain(&gather_scatter(&["B1", "P1", "B3"], "HUB", &["X8", "X9"]), &accts));
        assert!(!business_chain(&gather_scatter(&["B1", "B2"], "P1", &["X8", "X9"]), &accts));
        // accounts KYC does not know are not businesses (AMLSim, AMLworld: nothing is left out)
        assert!(!business_chain(&gather_scatter(&["U1", "U2", "U3"], "U4", &["X8", "X9"]), &kinds(&[])));
    }
}
