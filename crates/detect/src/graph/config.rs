//! `[graph]` as written in the TOML, and its validation into the graph engine's
//! `GraphConfig` and the peel stage's `PeelConfig` (the product's config only gathers the
//! section).
//!
//! Owns: `RawGraph`, `RawGraph::validate`.
//! Must not: know the other sections (the window and `[parties]` come from the caller).

use std::time::Duration;

use serde::Deserialize;

use super::GraphConfig;
use crate::party::RawParties;
use crate::peel::PeelConfig;
use mirrorflow_core::time::parse_duration;

/// `[graph]`: the temporal graph engine (T7 cycles, T9/T10 flows) and T11 peel chains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawGraph {
    /// Look for time-respecting cycles (T7).
    pub cycles: bool,
    /// Longest cycle, in transactions.
    pub max_cycle_len: usize,
    /// Largest share of value a hop may lose against the one before it.
    pub max_hop_loss: f64,
    /// Largest share a hop may carry beyond the one before it.
    pub max_hop_gain: f64,
    /// Smallest transaction (USD) that is an edge of the cycle graph.
    pub min_amount_usd: f64,
    /// Account kinds left out of the graph.
    pub skip_kinds: Vec<String>,
    /// Shortest cycle, in transactions.
    pub min_cycle_len: usize,
    /// At most this many of a cycle's transactions between accounts that had dealt
    /// before (-1: any).
    pub cycle_max_known_edges: i64,
    /// Least share of a cycle's accounts that are quiet (0: not asked).
    pub cycle_quiet_share: f64,
    /// A quiet account made at most this many transactions in the window before its
    /// cycle payment.
    pub quiet_max_tx: usize,
    /// How long a cycle may take, first transaction to last ("5d"; "": the pipeline's
    /// window, capped at it).
    pub cycle_window: String,
    /// How far back an account's transactions count towards quiet ("30d"; capped at the
    /// window).
    pub quiet_window: String,
    /// Look for scatter-gather (T9).
    pub scatter_gather: bool,
    /// Look for gather-scatter (T9).
    pub gather_scatter: bool,
    /// Look for bipartite and stacked layers (T10).
    pub bipartite: bool,
    /// How long a scatter-gather or gather-scatter may take ("7d").
    pub flow_window: String,
    /// How long one bipartite layer may take.
    pub bipartite_window: String,
    /// How long a gather-scatter may take, first inflow to last outflow.
    pub gather_scatter_window: String,
    /// Fewest intermediaries (scatter-gather), sources and sinks (gather-scatter).
    pub min_intermediaries: usize,
    /// Event time without a new match after which an episode of cycles or of a flow
    /// pattern is alerted.
    pub episode_gap: String,
    /// How long the graph remembers that two accounts dealt ("90d"; "0": not at all).
    pub pair_memory: String,
    /// Flow patterns (T9, T10) only through first contacts within the pair memory.
    pub new_counterparties_only: bool,
    /// Nodes are parties (`[parties]`: customer id, shared link attributes), not accounts.
    pub party_view: bool,
    /// Gather-scatter: the scattered total as a share of the gathered, [min, max].
    pub gather_scatter_balance: [f64; 2],
    /// Least share of an intermediary's (hub's, receiver's) window inflow that the
    /// pattern brings it (0: not asked).
    pub conduit_share: f64,
    /// Look for T11 peel chains and crypto on-ramps.
    pub peel_chains: bool,
    /// Fewest hops of a peel chain.
    pub peel_min_hops: usize,
    /// Share of a hop's two outputs that the forwarded one carries, [min, max].
    pub peel_split: [f64; 2],
    /// A hop's outputs come within this of its input, and no third within this after ("24h").
    pub peel_hop_gap: String,
    /// Share of a hop's input that its two outputs carry, [min, max].
    pub peel_hop_value: [f64; 2],
    /// Cash deposits count toward an exchange funding within this before it ("48h").
    pub on_ramp_window: String,
    /// Share of that cash the funding carries, [min, max].
    pub on_ramp_share: [f64; 2],
    /// Least cash (USD) behind an on-ramp alert.
    pub on_ramp_min_cash_usd: f64,
    /// Account kinds of exchanges' fiat accounts.
    pub exchange_kinds: Vec<String>,
    /// The amount floor relative to the ledger: this share of the 99th percentile of the
    /// transfers seen so far, when lower than `min-amount-usd` (0: `min-amount-usd` alone).
    pub min_amount_share_of_p99: f64,
    /// Cycles and flow patterns outside the value band still count when every transfer
    /// in them is a first contact (cycles: >= 3 accounts; flows: one intermediary more).
    pub off_band_first_contacts: bool,
    /// Of an off-band cycle's transactions, at most this many between accounts that had
    /// dealt before.
    pub off_band_cycle_known_edges: usize,
    /// Event time the graph watches before a transfer can be a first contact or an
    /// account quiet ("3d"; "0": at once).
    pub warmup: String,
    /// How long an off-band scatter-gather or gather-scatter may take ("30d").
    pub off_band_window: String,
}

impl RawGraph {
    /// Checks every value (problems go to `errs`, named by key) and builds the graph's
    /// and the peel stage's configs, each `None` when turned off. Durations longer than
    /// `window` are capped at it: the graph holds the pipeline's window, so no pattern can
    /// look further back.
    pub fn validate(
        &self,
        window: Duration,
        parties: &RawParties,
        errs: &mut Vec<String>,
    ) -> (Option<GraphConfig>, Option<PeelConfig>) {
        let g = self;
        if !(2..=12).contains(&g.max_cycle_len) {
            errs.push(format!("`graph.max-cycle-len` = {}: expected 2 to 12", g.max_cycle_len));
        }
        if !(2..=g.max_cycle_len.max(2)).contains(&g.min_cycle_len) {
            errs.push(format!("`graph.min-cycle-len` = {}: expected 2 to max-cycle-len", g.min_cycle_len));
        }
        if !(0.0..=1.0).contains(&g.max_hop_loss) {
            errs.push(format!("`graph.max-hop-loss` = {}: expected a share in [0, 1]", g.max_hop_loss));
        }
        if !(0.0..=1000.0).contains(&g.max_hop_gain) || g.min_amount_usd.is_nan() || g.min_amount_usd < 0.0 {
            errs.push("`graph.max-hop-gain` must be a share in [0, 1000] and `graph.min-amount-usd` at least 0".into());
        }
        if !(0.0..=1.0).contains(&g.min_amount_share_of_p99) {
            errs.push(format!(
                "`graph.min-amount-share-of-p99` = {}: expected a share in [0, 1]",
                g.min_amount_share_of_p99
            ));
        }
        if !(0.0..=1.0).contains(&g.cycle_quiet_share) || g.cycle_max_known_edges < -1 {
            errs.push(
                "`graph.cycle-quiet-share` must be a share in [0, 1] and `graph.cycle-max-known-edges` at least -1"
                    .into(),
            );
        }
        let mut graph_duration = |key: &str, text: &str| match parse_duration(text) {
            // the graph holds the pipeline's window: no pattern can look further back
            Ok(d) if !d.is_zero() => d.min(window).as_micros() as i64,
            Ok(_) => {
                errs.push(format!("`graph.{key}` = \"{text}\": expected more than 0"));
                0
            }
            Err(e) => {
                errs.push(format!("`graph.{key}`: {e}"));
                0
            }
        };
        let flow_window_us = graph_duration("flow-window", &g.flow_window);
        let bipartite_window_us = graph_duration("bipartite-window", &g.bipartite_window);
        let gather_scatter_window_us = graph_duration("gather-scatter-window", &g.gather_scatter_window);
        let episode_gap_us = graph_duration("episode-gap", &g.episode_gap);
        let off_band_window_us = graph_duration("off-band-window", &g.off_band_window);
        let hop_gap_us = graph_duration("peel-hop-gap", &g.peel_hop_gap);
        let ramp_window_us = graph_duration("on-ramp-window", &g.on_ramp_window);
        let quiet_window_us = graph_duration("quiet-window", &g.quiet_window);
        let cycle_window_us = match g.cycle_window.trim() {
            "" => None,
            text => Some(graph_duration("cycle-window", text)),
        };
        let warmup_us = match parse_duration(&g.warmup) {
            Ok(d) => d.as_micros() as i64,
            Err(e) => {
                errs.push(format!("`graph.warmup`: {e}"));
                0
            }
        };
        let pair_memory_us = match parse_duration(&g.pair_memory) {
            Ok(d) => (!d.is_zero()).then_some(d.as_micros() as i64),
            Err(e) => {
                errs.push(format!("`graph.pair-memory`: {e}"));
                None
            }
        };
        if !(0.0..=1.0).contains(&g.conduit_share) {
            errs.push(format!("`graph.conduit-share` = {}: expected a share in [0, 1]", g.conduit_share));
        }
        let [bal_lo, bal_hi] = g.gather_scatter_balance;
        if !(bal_lo >= 0.0 && bal_lo <= bal_hi) {
            errs.push("`graph.gather-scatter-balance` must be [min, max] with 0 <= min <= max".into());
        }
        let bp = |x: f64| (x * 10_000.0).round() as i128;
        let peel = g.peel_chains.then(|| crate::peel::PeelConfig {
            min_hops: g.peel_min_hops,
            min_split_bp: bp(g.peel_split[0]),
            max_split_bp: bp(g.peel_split[1]),
            hop_gap_us,
            min_hop_value_bp: bp(g.peel_hop_value[0]),
            max_hop_value_bp: bp(g.peel_hop_value[1]),
            skip_kinds: g.skip_kinds.clone(),
            ramp_window_us,
            ramp_min_share_bp: bp(g.on_ramp_share[0]),
            ramp_max_share_bp: bp(g.on_ramp_share[1]),
            ramp_min_cash_usd: (g.on_ramp_min_cash_usd * 1e6).round() as i128,
            exchange_kinds: g.exchange_kinds.clone(),
        });
        if let Some(p) = &peel {
            errs.extend(p.problems().into_iter().map(|e| format!("`graph`: {e}")));
        }
        if g.min_intermediaries < 2 {
            errs.push("`graph.min-intermediaries` must be at least 2".into());
        }
        let flows = (g.scatter_gather || g.gather_scatter || g.bipartite).then(|| super::flows::FlowConfig {
            scatter_gather: g.scatter_gather,
            gather_scatter: g.gather_scatter,
            bipartite: g.bipartite,
            window_us: flow_window_us,
            bipartite_window_us,
            gather_scatter_window_us,
            min_mids: g.min_intermediaries,
            max_loss_bp: (g.max_hop_loss * 10_000.0).round() as i128,
            max_gain_bp: (g.max_hop_gain * 10_000.0).round() as i128,
            episode_gap_us,
            new_pairs_only: g.new_counterparties_only,
            conduit_bp: (g.conduit_share * 10_000.0).round() as i128,
            balance_bp: ((bal_lo * 10_000.0).round() as i128, (bal_hi * 10_000.0).round() as i128),
            off_band_first_contacts: g.off_band_first_contacts,
            off_band_window_us,
            ..super::flows::FlowConfig::default()
        });
        let graph = (g.cycles || flows.is_some()).then(|| super::GraphConfig {
            edges: super::cycles::CycleConfig {
                max_len: g.max_cycle_len,
                max_hop_loss_bp: (g.max_hop_loss * 10_000.0).round() as i128,
                max_hop_gain_bp: (g.max_hop_gain * 10_000.0).round() as i128,
                min_usd: (g.min_amount_usd * 1e6).round() as i128,
                window_us: window.as_micros() as i64,
                skip_kinds: g.skip_kinds.clone(),
                min_len: g.min_cycle_len,
                max_known_edges: usize::try_from(g.cycle_max_known_edges).ok(),
                quiet_share_bp: (g.cycle_quiet_share * 10_000.0).round() as i128,
                quiet_max_tx: g.quiet_max_tx,
                min_share_of_p99_bp: bp(g.min_amount_share_of_p99),
                off_band_first_contacts: g.off_band_first_contacts,
                off_band_max_known: g.off_band_cycle_known_edges,
                warmup_us,
                quiet_window_us,
                cycle_window_us,
                max_step_ins: super::cycles::MAX_STEP_INS,
                max_visits: super::cycles::MAX_VISITS,
            },
            cycles: g.cycles,
            flows,
            pair_memory_us,
            episode_gap_us,
            parties: g.party_view.then(|| parties.config()),
        });
        (graph, peel)
    }
}
