//! Configuration: the embedded `config/default.toml`, a user's file merged over it, and
//! validation into typed values.
//!
//! Owns: `RawConfig` (serde, kebab-case, unknown keys rejected) and `Config` (validated:
//! durations parsed, enums checked). Every validation problem is reported at once.
//! Must not: read ledgers or start anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The embedded defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    pub input: RawInput,
    pub pipeline: RawPipeline,
    pub replay: RawReplay,
    pub live: RawLive,
    pub rules: RawRules,
    pub graph: RawGraph,
    pub mirror: crate::mirror::RawMirror,
    pub parties: crate::party::RawParties,
    pub novelty: crate::novelty::RawNovelty,
    pub output: RawOutput,
    pub serve: RawServe,
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRules {
    /// Run the SQL rules.
    pub enabled: bool,
    /// Rule directory; empty for the built-in pack.
    pub dir: String,
    /// Rule ids turned off.
    pub disabled: Vec<String>,
    /// Per rule id, parameter overrides.
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPipeline {
    /// Batches in flight between stages.
    pub channel_capacity: usize,
    /// Most rows the detectors take in one step when batches are waiting.
    pub detect_batch_rows: usize,
    /// Event-time window length.
    pub window: String,
    /// Allowed lateness of records.
    pub allowed_lateness: String,
    /// How far after the wall clock a record may be dated; 0 = no limit.
    pub max_future_lead: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReplay {
    /// Sort memory before spilling, MiB.
    pub sort_memory_mb: usize,
    /// Spill directory; empty for the system temp dir.
    pub spill_dir: String,
    /// 0 = as fast as possible, else N x real time.
    pub speed: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLive {
    /// `stdin` or `dir`.
    pub source: String,
    /// Directory followed when source = dir.
    pub dir: String,
    /// Directory listing interval.
    pub poll_interval: String,
    /// Quiet time before a new file is read.
    pub settle: String,
    /// Rows per stdin batch.
    pub stdin_batch_rows: usize,
    /// Optional accounts table.
    pub accounts: String,
    /// Optional fx_rates table.
    pub fx_rates: String,
    /// Exit after this long without data; 0 = never.
    pub idle_exit: String,
    /// Silence after which a live run's watermark moves up to the newest event time; 0 = never.
    pub idle_advance: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOutput {
    /// Output directory.
    pub dir: String,
    /// `auto`, `bar`, `log`, `off`.
    pub progress: String,
    /// Write `ordered.parquet`.
    pub write_ordered: bool,
    /// The alert store: "" (`<dir>/alerts.db`, SQLite), "off", a SQLite path, or a
    /// `postgres://` URL.
    pub store: String,
    /// How long one store write waits for a locked SQLite store.
    pub store_busy_timeout: String,
    /// Tries per batch of alerts before it is kept in `store-spool.jsonl`.
    pub store_write_attempts: u32,
    /// Wait before the second try, doubled before each later one.
    pub store_retry_backoff: String,
}

/// `[serve]`: the review API's bounds (`crate::serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServe {
    /// Most bytes of served queue pages kept for reuse.
    pub queue_cache_bytes: u64,
    /// How long a served queue page may be reused ("1s").
    pub queue_cache_ttl: String,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// Longest note or decision reason, in characters.
    pub max_text_chars: u64,
}

pub use mirrorflow_core::time::TsUnit;
pub use mirrorflow_ingest::config::{ColumnRef, Dialect, Format, InputConfig, MAPPABLE_COLUMNS, RawInput};

/// Where live records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSource {
    Stdin,
    Dir(PathBuf),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Auto,
    Bar,
    Log,
    Off,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub input: InputConfig,
    pub channel_capacity: usize,
    pub detect_batch_rows: usize,
    pub window: Duration,
    pub allowed_lateness: Duration,
    pub sort_memory_bytes: usize,
    pub spill_dir: Option<PathBuf>,
    pub speed: f64,
    pub live_source: LiveSource,
    pub poll_interval: Duration,
    pub settle: Duration,
    pub stdin_batch_rows: usize,
    pub live_accounts: Option<PathBuf>,
    pub live_fx_rates: Option<PathBuf>,
    pub idle_exit: Option<Duration>,
    /// `pipeline.max-future-lead`: `None` when off.
    pub max_future_lead: Option<Duration>,
    /// `live.idle-advance`: `None` when off.
    pub idle_advance: Option<Duration>,
    pub out_dir: PathBuf,
    pub progress: ProgressMode,
    pub write_ordered: bool,
    /// The alert store's URL (`None`: off); see `[output] store`.
    pub store: Option<String>,
    /// Retries of the job's store writes; see `[output] store-write-attempts`.
    pub store_retry: crate::store::RetryPolicy,
    /// `None` when the rule stage is off.
    pub rules: Option<crate::rules::RulesConfig>,
    /// The temporal graph stage (T7, T9, T10), when any of its patterns is on.
    pub graph: Option<crate::graph::GraphConfig>,
    /// T11 peel chains and crypto on-ramps, when on.
    pub peel: Option<crate::peel::PeelConfig>,
    /// T6 mirror swaps, when on.
    pub mirror: Option<crate::mirror::MirrorConfig>,
    /// T8 one-off fans over a long horizon, when on.
    pub novelty: Option<crate::novelty::NoveltyConfig>,
    /// The review API's bounds.
    pub serve: crate::serve::ServeLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_toml_str("").expect("embedded default.toml is valid")
    }
}

impl Config {
    /// Loads the defaults merged with `path` (if given).
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            None => Self::from_toml_str(""),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                Self::from_toml_str(&text).map_err(|e| match e {
                    Error::Config(msgs) => {
                        Error::Config(msgs.into_iter().map(|m| format!("{}: {m}", p.display())).collect())
                    }
                    other => other,
                })
            }
        }
    }

    /// The defaults merged with the user's TOML text.
    pub fn from_toml_str(user: &str) -> Result<Self> {
        let mut base: toml::Table =
            toml::from_str(DEFAULT_TOML).map_err(|e| Error::Internal(format!("embedded default.toml: {e}")))?;
        let over: toml::Table = toml::from_str(user).map_err(|e| Error::Config(vec![e.to_string()]))?;
        merge(&mut base, over);
        let raw: RawConfig =
            toml::Value::Table(base).try_into().map_err(|e: toml::de::Error| Error::Config(vec![e.to_string()]))?;
        raw.validate()
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl RawConfig {
    /// Checks every value, collecting all problems.
    pub fn validate(self) -> Result<Config> {
        let mut errs = Vec::new();
        let mut dur = |key: &str, text: &str| match parse_duration(text) {
            Ok(d) => d,
            Err(e) => {
                errs.push(format!("`{key}` = \"{text}\": {e}"));
                Duration::ZERO
            }
        };
        let window = dur("pipeline.window", &self.pipeline.window);
        let allowed_lateness = dur("pipeline.allowed-lateness", &self.pipeline.allowed_lateness);
        let poll_interval = dur("live.poll-interval", &self.live.poll_interval);
        let settle = dur("live.settle", &self.live.settle);
        let idle_exit = dur("live.idle-exit", &self.live.idle_exit);
        let store_busy_timeout = dur("output.store-busy-timeout", &self.output.store_busy_timeout);
        let store_retry_backoff = dur("output.store-retry-backoff", &self.output.store_retry_backoff);
        let queue_cache_ttl = dur("serve.queue-cache-ttl", &self.serve.queue_cache_ttl);
        let max_future_lead = dur("pipeline.max-future-lead", &self.pipeline.max_future_lead);
        let idle_advance = dur("live.idle-advance", &self.live.idle_advance);
        if self.output.store_write_attempts == 0 {
            errs.push("`output.store-write-attempts` must be at least 1".into());
        }

        let input = self.input.validate(&mut errs);
        if self.pipeline.channel_capacity == 0 {
            errs.push("`pipeline.channel-capacity` must be at least 1".into());
        }
        if self.pipeline.detect_batch_rows == 0 {
            errs.push("`pipeline.detect-batch-rows` must be at least 1".into());
        }
        if window.is_zero() && errs.is_empty() {
            errs.push("`pipeline.window` must be longer than 0s".into());
        }
        if self.replay.sort_memory_mb < 16 {
            errs.push("`replay.sort-memory-mb` must be at least 16".into());
        }
        if !(self.replay.speed >= 0.0 && self.replay.speed.is_finite()) {
            errs.push(format!(
                "`replay.speed` = {}: expected 0 (as fast as possible) or a positive factor",
                self.replay.speed
            ));
        }
        let live_source = match self.live.source.as_str() {
            "stdin" => LiveSource::Stdin,
            "dir" if !self.live.dir.is_empty() => LiveSource::Dir(PathBuf::from(&self.live.dir)),
            "dir" => {
                errs.push("`live.dir` must be set when `live.source` = \"dir\"".into());
                LiveSource::Stdin
            }
            other => {
                errs.push(format!("`live.source` = \"{other}\": expected stdin or dir"));
                LiveSource::Stdin
            }
        };
        if self.live.stdin_batch_rows == 0 {
            errs.push("`live.stdin-batch-rows` must be at least 1".into());
        }
        let progress = match self.output.progress.as_str() {
            "auto" => ProgressMode::Auto,
            "bar" => ProgressMode::Bar,
            "log" => ProgressMode::Log,
            "off" => ProgressMode::Off,
            other => {
                errs.push(format!("`output.progress` = \"{other}\": expected auto, bar, log or off"));
                ProgressMode::Auto
            }
        };
        if self.output.dir.is_empty() {
            errs.push("`output.dir` must not be empty".into());
        }
        let mut rule_params = BTreeMap::new();
        for (rule, params) in &self.rules.params {
            let mut m = BTreeMap::new();
            for (k, v) in params {
                let pv = match v {
                    toml::Value::Integer(i) => crate::rules::ParamValue::Number(i.to_string()),
                    toml::Value::Float(f) => crate::rules::ParamValue::Number(f.to_string()),
                    toml::Value::String(s) => crate::rules::ParamValue::Text(s.clone()),
                    other => {
                        errs.push(format!("`rules.params.{rule}.{k}` = {other}: expected a number or a string"));
                        continue;
                    }
                };
                m.insert(k.clone(), pv);
            }
            rule_params.insert(rule.clone(), m);
        }
        if !(2..=12).contains(&self.graph.max_cycle_len) {
            errs.push(format!("`graph.max-cycle-len` = {}: expected 2 to 12", self.graph.max_cycle_len));
        }
        if !(2..=self.graph.max_cycle_len.max(2)).contains(&self.graph.min_cycle_len) {
            errs.push(format!("`graph.min-cycle-len` = {}: expected 2 to max-cycle-len", self.graph.min_cycle_len));
        }
        if !(0.0..=1.0).contains(&self.graph.max_hop_loss) {
            errs.push(format!("`graph.max-hop-loss` = {}: expected a share in [0, 1]", self.graph.max_hop_loss));
        }
        if !(0.0..=1000.0).contains(&self.graph.max_hop_gain)
            || self.graph.min_amount_usd.is_nan()
            || self.graph.min_amount_usd < 0.0
        {
            errs.push("`graph.max-hop-gain` must be a share in [0, 1000] and `graph.min-amount-usd` at least 0".into());
        }
        if !(0.0..=1.0).contains(&self.graph.min_amount_share_of_p99) {
            errs.push(format!(
                "`graph.min-amount-share-of-p99` = {}: expected a share in [0, 1]",
                self.graph.min_amount_share_of_p99
            ));
        }
        if !(0.0..=1.0).contains(&self.graph.cycle_quiet_share) || self.graph.cycle_max_known_edges < -1 {
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
        let flow_window_us = graph_duration("flow-window", &self.graph.flow_window);
        let bipartite_window_us = graph_duration("bipartite-window", &self.graph.bipartite_window);
        let gather_scatter_window_us = graph_duration("gather-scatter-window", &self.graph.gather_scatter_window);
        let episode_gap_us = graph_duration("episode-gap", &self.graph.episode_gap);
        let off_band_window_us = graph_duration("off-band-window", &self.graph.off_band_window);
        let hop_gap_us = graph_duration("peel-hop-gap", &self.graph.peel_hop_gap);
        let ramp_window_us = graph_duration("on-ramp-window", &self.graph.on_ramp_window);
        let quiet_window_us = graph_duration("quiet-window", &self.graph.quiet_window);
        let warmup_us = match parse_duration(&self.graph.warmup) {
            Ok(d) => d.as_micros() as i64,
            Err(e) => {
                errs.push(format!("`graph.warmup`: {e}"));
                0
            }
        };
        let pair_memory_us = match parse_duration(&self.graph.pair_memory) {
            Ok(d) => (!d.is_zero()).then_some(d.as_micros() as i64),
            Err(e) => {
                errs.push(format!("`graph.pair-memory`: {e}"));
                None
            }
        };
        if !(0.0..=1.0).contains(&self.graph.conduit_share) {
            errs.push(format!("`graph.conduit-share` = {}: expected a share in [0, 1]", self.graph.conduit_share));
        }
        let [bal_lo, bal_hi] = self.graph.gather_scatter_balance;
        if !(bal_lo >= 0.0 && bal_lo <= bal_hi) {
            errs.push("`graph.gather-scatter-balance` must be [min, max] with 0 <= min <= max".into());
        }
        let bp = |x: f64| (x * 10_000.0).round() as i128;
        let g = &self.graph;
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
        if self.graph.min_intermediaries < 2 {
            errs.push("`graph.min-intermediaries` must be at least 2".into());
        }
        let band = crate::rules::structuring_band(rule_params.get(crate::rules::STRUCTURING_RULE));
        let mirror = self.mirror.validate(&self.parties, band, &mut errs);
        let novelty = self.novelty.validate(&mut errs);
        let sv = &self.serve;
        for (key, v) in [("serve.max-body-bytes", sv.max_body_bytes), ("serve.max-text-chars", sv.max_text_chars)] {
            if v == 0 {
                errs.push(format!("`{key}` must be at least 1"));
            }
        }
        if !errs.is_empty() {
            return Err(Error::Config(errs));
        }
        let opt_path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        let flows = (g.scatter_gather || g.gather_scatter || g.bipartite).then(|| crate::graph::flows::FlowConfig {
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
            ..crate::graph::flows::FlowConfig::default()
        });
        Ok(Config {
            input,
            channel_capacity: self.pipeline.channel_capacity,
            detect_batch_rows: self.pipeline.detect_batch_rows,
            window,
            allowed_lateness,
            sort_memory_bytes: self.replay.sort_memory_mb * 1024 * 1024,
            spill_dir: opt_path(&self.replay.spill_dir),
            speed: self.replay.speed,
            live_source,
            poll_interval,
            settle,
            stdin_batch_rows: self.live.stdin_batch_rows,
            live_accounts: opt_path(&self.live.accounts),
            live_fx_rates: opt_path(&self.live.fx_rates),
            idle_exit: (!idle_exit.is_zero()).then_some(idle_exit),
            max_future_lead: (!max_future_lead.is_zero()).then_some(max_future_lead),
            idle_advance: (!idle_advance.is_zero()).then_some(idle_advance),
            out_dir: PathBuf::from(&self.output.dir),
            progress,
            write_ordered: self.output.write_ordered,
            store: match self.output.store.trim() {
                "off" | "none" => None,
                "" => Some(Path::new(&self.output.dir).join("alerts.db").display().to_string()),
                url => Some(url.to_string()),
            },
            store_retry: crate::store::RetryPolicy {
                busy_timeout: store_busy_timeout,
                attempts: self.output.store_write_attempts.max(1),
                backoff: store_retry_backoff,
            },
            graph: (g.cycles || flows.is_some()).then(|| crate::graph::GraphConfig {
                edges: crate::graph::cycles::CycleConfig {
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
                },
                cycles: g.cycles,
                flows,
                pair_memory_us,
                episode_gap_us,
                parties: g.party_view.then(|| self.parties.config()),
            }),
            peel,
            mirror,
            novelty,
            serve: crate::serve::ServeLimits {
                queue_cache_bytes: usize::try_from(sv.queue_cache_bytes).unwrap_or(usize::MAX),
                queue_cache_ttl,
                max_body_bytes: usize::try_from(sv.max_body_bytes).unwrap_or(usize::MAX),
                max_text_chars: usize::try_from(sv.max_text_chars).unwrap_or(usize::MAX),
            },
            rules: self.rules.enabled.then(|| crate::rules::RulesConfig {
                dir: opt_path(&self.rules.dir),
                disabled: self.rules.disabled.clone(),
                params: rule_params,
            }),
        })
    }
}

pub use mirrorflow_core::time::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load() {
        let c = Config::default();
        assert_eq!(c.window, Duration::from_secs(35 * 86_400));
        assert_eq!(c.input.batch_rows, 65_536);
        assert_eq!(c.input.max_record_bytes, 1 << 20);
        assert_eq!(c.out_dir, PathBuf::from("mirrorflow-out"));
    }

    #[test]
    fn user_values_override() {
        let c = Config::from_toml_str("[pipeline]\nwindow = \"7d\"\n[input.columns]\ntx_id = \"ID\"\n").unwrap();
        assert_eq!(c.window, Duration::from_secs(7 * 86_400));
        assert_eq!(c.input.columns["tx_id"], ColumnRef::One("ID".into()));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::from_toml_str("[pipeline]\nwindw = \"7d\"\n").unwrap_err();
        assert!(e.to_string().contains("windw"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = Config::from_toml_str(
            "[pipeline]\nwindow = \"7x\"\n[input]\nformat = \"xls\"\n[output]\nprogress = \"loud\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pipeline.window"), "{e}");
        assert!(e.contains("input.format"), "{e}");
        assert!(e.contains("output.progress"), "{e}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn the_rules_sql_follows_config_overrides() {
        let cfg = Config::from_toml_str("[rules.params.010_structuring]\nmin_deposits = 5\n").unwrap();
        let set = crate::rules::RuleSet::load(&cfg.rules.unwrap()).unwrap();
        let s = crate::rules::export::rules_sql(&set).into_iter().find(|r| r.id == "010_structuring").unwrap();
        assert!(s.sql.contains(">= 5"), "{}", s.sql);
    }

    #[test]
    fn the_mirror_stage_default_band_is_the_structuring_rules() {
        assert_eq!(crate::rules::structuring_band(None), crate::mirror::network::DEFAULT_BAND);
    }
}
