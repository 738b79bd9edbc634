//! Configuration: the embedded `config/default.toml`, a user's file merged over it, and
//! validation into typed values.
//!
//! Owns: `RawConfig` (serde, kebab-case, unknown keys rejected) and `Config` (validated:
//! durations parsed, enums checked). Every validation problem is reported at once.
//! Must not: read ledgers or start anything.

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
    pub kafka: RawKafka,
    pub rules: crate::rules::RawRules,
    pub graph: crate::graph::config::RawGraph,
    pub mirror: crate::mirror::RawMirror,
    pub parties: crate::party::RawParties,
    pub novelty: crate::novelty::RawNovelty,
    pub output: RawOutput,
    pub serve: crate::serve::RawServe,
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
    /// Directory of the live run's periodic checkpoints; empty = none.
    pub checkpoint_dir: String,
    /// Processing time between two checkpoints.
    pub checkpoint_interval: String,
    /// Event time a live run remembers a tx_id for (duplicates); 0 = the whole run.
    pub dedupe_horizon: String,
    /// How often a live run looks for changed side tables; 0 = read once.
    pub side_refresh: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawKafka {
    /// Bootstrap servers (`host:port,...`).
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// `json` (one contract object per message) or `csv` (one record per message).
    pub format: String,
    /// Column names of CSV messages; empty = the contract's columns in its order.
    pub csv_header: Vec<String>,
    /// A partition with no message for this long stops holding the watermark back.
    pub partition_idle: String,
    /// A partition this far (event time) ahead of the slowest is paused until it catches up.
    pub max_skew: String,
    /// Most messages gathered into one batch.
    pub batch_messages: usize,
    /// Extra librdkafka properties (e.g. `security.protocol`).
    pub client: std::collections::BTreeMap<String, String>,
    /// Publish alerts / quarantined records to these topics; empty = off.
    pub alerts_topic: String,
    pub quarantine_topic: String,
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

pub use mirrorflow_core::time::TsUnit;
pub use mirrorflow_ingest::config::{ColumnRef, Dialect, Format, InputConfig, MAPPABLE_COLUMNS, RawInput};

/// Where live records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSource {
    Stdin,
    Dir(PathBuf),
    Kafka,
}

/// The Kafka source's settings (`[kafka]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub csv: bool,
    pub csv_header: Vec<String>,
    pub partition_idle: Duration,
    pub max_skew: Duration,
    pub batch_messages: usize,
    pub client: std::collections::BTreeMap<String, String>,
    pub alerts_topic: String,
    pub quarantine_topic: String,
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
    /// `live.checkpoint-dir`: `None` when off.
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    /// `live.dedupe-horizon` (µs): `None` keeps every id of a live run.
    pub dedupe_horizon_us: Option<i64>,
    /// `live.side-refresh` (zero: the side tables are read once).
    pub side_refresh: Duration,
    pub kafka: KafkaConfig,
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
        let max_future_lead = dur("pipeline.max-future-lead", &self.pipeline.max_future_lead);
        let idle_advance = dur("live.idle-advance", &self.live.idle_advance);
        let checkpoint_interval = dur("live.checkpoint-interval", &self.live.checkpoint_interval);
        let dedupe_horizon = dur("live.dedupe-horizon", &self.live.dedupe_horizon);
        let side_refresh = dur("live.side-refresh", &self.live.side_refresh);
        let partition_idle = dur("kafka.partition-idle", &self.kafka.partition_idle);
        let max_skew = dur("kafka.max-skew", &self.kafka.max_skew);
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
            "kafka" => LiveSource::Kafka,
            other => {
                errs.push(format!("`live.source` = \"{other}\": expected stdin, dir or kafka"));
                LiveSource::Stdin
            }
        };
        let csv = match self.kafka.format.as_str() {
            "json" => false,
            "csv" => true,
            other => {
                errs.push(format!("`kafka.format` = \"{other}\": expected json or csv"));
                false
            }
        };
        if self.kafka.batch_messages == 0 {
            errs.push("`kafka.batch-messages` must be at least 1".into());
        }
        if self.kafka.group.is_empty() {
            errs.push("`kafka.group` must not be empty (offsets are committed for it)".into());
        }
        if checkpoint_interval.is_zero() {
            errs.push("`live.checkpoint-interval` must be longer than 0s".into());
        }
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
        let rules = self.rules.validate(&mut errs);
        let (graph, peel) = self.graph.validate(window, &self.parties, &mut errs);
        let band = crate::rules::structuring_band(rules.params.get(crate::rules::STRUCTURING_RULE));
        let mirror = self.mirror.validate(&self.parties, band, &mut errs);
        let novelty = self.novelty.validate(&mut errs);
        let serve = self.serve.validate(&mut errs);
        if !errs.is_empty() {
            return Err(Error::Config(errs));
        }
        let opt_path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
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
            checkpoint_dir: opt_path(&self.live.checkpoint_dir),
            checkpoint_interval,
            dedupe_horizon_us: (!dedupe_horizon.is_zero()).then_some(dedupe_horizon.as_micros() as i64),
            side_refresh,
            kafka: KafkaConfig {
                brokers: self.kafka.brokers.clone(),
                topic: self.kafka.topic.clone(),
                group: self.kafka.group.clone(),
                csv,
                csv_header: self.kafka.csv_header.clone(),
                partition_idle,
                max_skew,
                batch_messages: self.kafka.batch_messages,
                client: self.kafka.client.clone(),
                alerts_topic: self.kafka.alerts_topic.clone(),
                quarantine_topic: self.kafka.quarantine_topic.clone(),
            },
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
            graph,
            peel,
            mirror,
            novelty,
            serve,
            rules: self.rules.enabled.then_some(rules),
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
