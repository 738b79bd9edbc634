//! The commands as library functions: `replay`, `run` (live), `ingest` (validate and
//! count, optionally convert to canonical Parquet). `main.rs` only parses flags and
//! calls these.
//!
//! Owns: assembling a pipeline from a config and a ledger (side tables, source, detectors).
//! Must not: print to the terminal (it returns summaries) or exit the process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::{Config, LiveSource};
use crate::error::{Error, Result};
use crate::ingest::ledger::{Ledger, discover};
use crate::ingest::quarantine::QuarantineSink;
use crate::ingest::tables::{AccountsTable, FxTable};
use crate::ingest::values::{TsOptions, parse_ts};
use crate::ingest::{IngestState, open_transactions};
use crate::pipeline::sort::SortOptions;
use crate::pipeline::{
    DetectCtx, DirSource, Pipeline, PipelineBuilder, ReplaySource, Settings, SideCounts, StdinSource, Summary,
};
use crate::rules::RuleSet;
use crate::rules::engine::SqlRules;

/// Flags of `mirrorflow replay` that are not in the config file.
#[derive(Debug, Clone, Default)]
pub struct ReplayArgs {
    /// Inclusive start of event time (RFC 3339 or YYYY-MM-DD).
    pub from: Option<String>,
    /// Exclusive end of event time.
    pub to: Option<String>,
    /// Resume from the checkpoint in this directory (window, open episodes, numbering).
    pub resume: Option<PathBuf>,
    /// End by writing a checkpoint here; open episodes stay open for the next run.
    pub checkpoint: Option<PathBuf>,
}

/// Parses a `--from`/`--to` value.
pub fn parse_time_flag(flag: &str, v: &str) -> Result<i64> {
    parse_ts(v.as_bytes(), &TsOptions::default())
        .map_err(|why| Error::Usage(format!("{flag} `{v}` {why} (expected RFC 3339 or YYYY-MM-DD)")))
}

/// The side tables of a run, with their counts and refused rows.
pub struct SideTables {
    pub accounts: AccountsTable,
    pub fx: FxTable,
    pub counts: SideCounts,
}

/// Reads accounts and FX rates (bundled rates when no file is given).
pub fn load_side_tables(accounts: Option<&Path>, fx: Option<&Path>, cfg: &Config) -> Result<SideTables> {
    let mut rejected = Vec::new();
    let (accounts, accounts_rows) = match accounts {
        Some(p) => crate::ingest::tables::read_accounts(p, &cfg.input, &mut rejected)?,
        None => (AccountsTable::empty(), 0),
    };
    let (fx, fx_rate_rows) = match fx {
        Some(p) => crate::ingest::tables::read_fx(p, &cfg.input, &mut rejected)?,
        None => (FxTable::bundled(), 0),
    };
    Ok(SideTables { accounts, fx, counts: SideCounts { accounts_rows, fx_rate_rows, rejected } })
}

/// The pipeline's tunables from the config.
fn settings(cfg: &Config) -> Settings {
    Settings {
        channel_capacity: cfg.channel_capacity,
        detect_rows: cfg.detect_batch_rows,
        window_us: cfg.window.as_micros() as i64,
        lateness_us: cfg.allowed_lateness.as_micros() as i64,
        speed: cfg.speed,
        progress: cfg.progress,
        write_ordered: cfg.write_ordered,
        store: cfg.store.clone(),
        store_retry: cfg.store_retry,
        // rows dated after the run's own time are refused in replays too (a historical
        // ledger has none, so its results do not depend on when it is replayed)
        future_lead_us: cfg.max_future_lead.map(|d| d.as_micros() as i64),
        kafka_sinks: (!cfg.kafka.alerts_topic.is_empty() || !cfg.kafka.quarantine_topic.is_empty()).then(|| {
            let topic = |t: &str| (!t.is_empty()).then(|| t.to_string());
            (cfg.kafka.brokers.clone(), topic(&cfg.kafka.alerts_topic), topic(&cfg.kafka.quarantine_topic))
        }),
    }
}

/// A pipeline labelled `label` with the side tables and every detector the config turns on.
async fn pipeline(label: &str, cfg: &Config, side: SideTables) -> Result<PipelineBuilder> {
    let ctx = DetectCtx { accounts: Arc::new(side.accounts), fx: Arc::new(side.fx) };
    pipeline_with(label, cfg, ctx, side.counts).await
}

async fn pipeline_with(label: &str, cfg: &Config, ctx: DetectCtx, counts: SideCounts) -> Result<PipelineBuilder> {
    let detectors = build_detectors(cfg, &ctx).await?;
    Ok(Pipeline::builder(label, ctx, settings(cfg), cfg.out_dir.clone()).side_tables(counts).detectors(detectors))
}

/// A live run's side tables (`live.accounts`, `live.fx-rates`: files, directories or
/// compacted topics), read once; and a pipeline that takes them again whenever they
/// change (every `live.side-refresh`).
async fn live_pipeline(cfg: &Config) -> Result<PipelineBuilder> {
    use crate::pipeline::side::{SideSource, SideWatcher};
    let src = |p: &Option<PathBuf>| p.as_deref().map(|p| SideSource::parse(p, &cfg.kafka.brokers)).transpose();
    let (accounts, fx) = (src(&cfg.live_accounts)?, src(&cfg.live_fx_rates)?);
    let (input, every) = (cfg.input.clone(), cfg.side_refresh);
    let (watcher, first) = tokio::task::spawn_blocking(move || SideWatcher::load(accounts, fx, &input, every))
        .await
        .map_err(|e| Error::Internal(format!("side tables: {e}")))??;
    let (accounts, accounts_rows) = first.accounts.unwrap_or_else(|| (Arc::new(AccountsTable::empty()), 0));
    let (fx, fx_rate_rows) = first.fx.unwrap_or_else(|| (Arc::new(FxTable::bundled()), 0));
    let counts = SideCounts { accounts_rows, fx_rate_rows, rejected: first.rejected };
    let p = pipeline_with("run", cfg, DetectCtx { accounts, fx }, counts).await?;
    if !watcher.watches() {
        return Ok(p);
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("side-tables".into())
        .spawn(move || watcher.run(tx))
        .map_err(|e| Error::Internal(format!("cannot start the side-table watcher: {e}")))?;
    Ok(p.side_updates(rx))
}

/// Replays the ledger at `path` in event-time order through the pipeline.
pub async fn replay(cfg: &Config, path: &Path, args: &ReplayArgs) -> Result<Summary> {
    replay_with(cfg, path, args, Vec::new()).await
}

/// [`replay`] with extra detectors (tests and embedders plug theirs in here).
pub async fn replay_with(
    cfg: &Config,
    path: &Path,
    args: &ReplayArgs,
    detectors: Vec<Box<dyn crate::pipeline::Detector>>,
) -> Result<Summary> {
    let from = args.from.as_deref().map(|v| parse_time_flag("--from", v)).transpose()?;
    let to = args.to.as_deref().map(|v| parse_time_flag("--to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(Error::Usage(format!(
            "--from {} is not before --to {}",
            args.from.as_deref().unwrap_or(""),
            args.to.as_deref().unwrap_or("")
        )));
    }
    let ledger: Ledger = discover(path)?;
    let side = load_side_tables(ledger.accounts.as_deref(), ledger.fx_rates.as_deref(), cfg)?;
    let sort = SortOptions {
        memory_bytes: cfg.sort_memory_bytes,
        spill_dir: cfg.spill_dir.clone(),
        batch_rows: cfg.input.batch_rows,
        unsorted_within_us: cfg.allowed_lateness.as_micros() as i64,
    };
    if let Some(dir) = &args.checkpoint {
        crate::pipeline::checkpoint::check_target(dir)?;
    }
    let resume = args.resume.as_deref().map(crate::pipeline::checkpoint::load).transpose()?;
    let mut source = ReplaySource::open(&ledger.transactions, &cfg.input, sort)?;
    if let Some(c) = &resume {
        source = source.with_seen_ids(&c.seen_ids);
    }
    let p = pipeline("replay", cfg, side).await?;
    let p = p.detectors(detectors).range(from, to).resume(resume).checkpoint(args.checkpoint.clone());
    p.build().run(Box::new(source)).await
}

/// Runs the live pipeline on the configured source (stdin or a followed directory).
pub async fn run_live(cfg: &Config) -> Result<Summary> {
    let resume = live_checkpoint(cfg)?;
    let source: Box<dyn crate::pipeline::Source> = match &cfg.live_source {
        LiveSource::Stdin => {
            if let Some(dir) = &cfg.checkpoint_dir {
                return Err(Error::Usage(format!(
                    "`live.checkpoint-dir` `{}`: standard input cannot be read again after a restart; checkpoint \
                     a followed directory (`run --dir`) or a Kafka topic (`run --kafka`) instead",
                    dir.display()
                )));
            }
            Box::new(StdinSource::new(cfg.input.clone(), cfg.stdin_batch_rows).dedupe_horizon(cfg.dedupe_horizon_us))
        }
        LiveSource::Dir(d) => {
            let mut s = DirSource::new(d.clone(), cfg.input.clone(), cfg.poll_interval, cfg.settle, cfg.idle_exit)?
                .dedupe_horizon(cfg.dedupe_horizon_us);
            if let Some(c) = &resume {
                tracing::info!(checkpoint = %c.dir.display(), "resuming from the checkpoint");
                s = s.resume_from(c.state.source.clone().unwrap_or_default(), &c.seen_ids);
            }
            if cfg.checkpoint_dir.is_some() {
                s = s.barriers(cfg.checkpoint_interval);
            }
            Box::new(s)
        }
        LiveSource::Kafka => return run_kafka(cfg, resume).await,
    };
    let p = live_pipeline(cfg).await?;
    let mut b = p.live(cfg.idle_advance).dedupe_horizon(cfg.dedupe_horizon_us).resume(resume);
    if let Some(dir) = &cfg.checkpoint_dir {
        b = b.barrier_checkpoints(dir.clone());
    }
    b.build().run(source).await
}

/// The checkpoint a live run resumes from (`live.checkpoint-dir` holding one written by
/// `run`), or `None`; a directory that cannot take one is refused before the run starts.
fn live_checkpoint(cfg: &Config) -> Result<Option<crate::pipeline::checkpoint::Checkpoint>> {
    use crate::pipeline::checkpoint;
    match &cfg.checkpoint_dir {
        Some(dir) if checkpoint::exists(dir) => {
            let c = checkpoint::load(dir)?;
            if c.state.source.is_none() {
                return Err(Error::input(
                    dir,
                    "this checkpoint was written by `replay`, not by a live run: give `run` its own directory",
                ));
            }
            Ok(Some(c))
        }
        Some(dir) => {
            checkpoint::check_target(dir)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// `run --kafka`: a consumer group member on `kafka.topic`, with periodic checkpoints when
/// `live.checkpoint-dir` is set (resumed from the one there, if any).
async fn run_kafka(cfg: &Config, resume: Option<crate::pipeline::checkpoint::Checkpoint>) -> Result<Summary> {
    use crate::pipeline::kafka::KafkaSource;
    let mut source =
        KafkaSource::connect(&cfg.kafka, &cfg.input)?.idle_exit(cfg.idle_exit).dedupe_horizon(cfg.dedupe_horizon_us);
    if let Some(c) = &resume {
        tracing::info!(checkpoint = %c.dir.display(), "resuming from the checkpoint");
        source = source.resume_from(c.state.source.clone().unwrap_or_default(), &c.seen_ids);
    }
    if cfg.checkpoint_dir.is_some() {
        source = source.barriers(cfg.checkpoint_interval);
    }
    let p = live_pipeline(cfg).await?;
    // no idle advance in the order stage: the source says when every partition is idle
    // (a restart's slow start, or a checkpoint's pause, is not silence)
    let mut b = p.live(None).dedupe_horizon(cfg.dedupe_horizon_us).resume(resume);
    if let Some(dir) = &cfg.checkpoint_dir {
        b = b.barrier_checkpoints(dir.clone());
    }
    b.build().run(Box::new(source)).await
}

/// Every detector the config turns on: the graph, peel, mirror and novelty detectors and
/// the SQL rule stage, planned now (every rule that fails to plan is reported at once).
async fn build_detectors(cfg: &Config, ctx: &DetectCtx) -> Result<Vec<Box<dyn crate::pipeline::Detector>>> {
    let mut out: Vec<Box<dyn crate::pipeline::Detector>> = Vec::new();
    if let Some(g) = &cfg.graph {
        out.push(Box::new(crate::graph::detector::GraphDetector::new(g.clone())));
    }
    if let Some(p) = &cfg.peel {
        out.push(Box::new(crate::peel::PeelDetector::new(p.clone())));
    }
    if let Some(m) = &cfg.mirror {
        out.push(Box::new(crate::mirror::MirrorDetector::new(m.clone())));
    }
    if let Some(n) = &cfg.novelty {
        out.push(Box::new(crate::novelty::NoveltyDetector::new(n.clone())));
    }
    let Some(rules_cfg) = cfg.rules.clone() else { return Ok(out) };
    let (accounts, fx) = (ctx.accounts.clone(), ctx.fx.clone());
    // Planning runs DataFusion on its own runtime: off the async threads.
    let window = cfg.window;
    let rules = tokio::task::spawn_blocking(move || -> Result<SqlRules> {
        let set = RuleSet::load(&rules_cfg)?;
        for r in &set.rules {
            if let Ok(Some(back)) = r.lookback_duration()
                && back > window
            {
                tracing::warn!(
                    rule = %r.id,
                    "rule {} looks back {} days but pipeline.window keeps {} days (and the rest of its oldest \
                     day): it reads only what the window keeps",
                    r.id,
                    back.as_secs() / 86_400,
                    window.as_secs() / 86_400
                );
            }
        }
        Ok(SqlRules::try_new(&set, accounts, &fx)?.with_step_rows(rules_cfg.step_rows))
    })
    .await
    .map_err(|e| Error::Internal(format!("rule planning: {e}")))??;
    out.push(Box::new(rules));
    Ok(out)
}

/// What `mirrorflow ingest` measured.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub inputs: Vec<String>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub reconciled: bool,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Peak resident memory of this process (VmHWM), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Canonical Parquet written, if asked.
    pub parquet_out: Option<PathBuf>,
}

/// Reads and validates every transactions file of a ledger into canonical batches
/// (discarding them, or writing them to canonical Parquet), quarantining bad rows.
pub fn ingest(
    cfg: &Config,
    path: &Path,
    quarantine_out: Option<&Path>,
    parquet_out: Option<&Path>,
) -> Result<IngestReport> {
    let started = Instant::now();
    let ledger = discover(path)?;
    let mut readers =
        ledger.transactions.iter().map(|f| open_transactions(f, &cfg.input)).collect::<Result<Vec<_>>>()?;
    let mut sink = quarantine_out.map(QuarantineSink::create).transpose()?;
    let mut writer = parquet_out
        .map(|p| crate::ingest::parquet::ParquetOut::create(p, crate::schema::transactions_schema()))
        .transpose()?;
    let mut state = IngestState::default();
    let (mut read, mut accepted, mut quarantined) = (0u64, 0u64, 0u64);
    for r in readers.iter_mut() {
        while let Some(chunk) = r.next_chunk(&mut state)? {
            read += chunk.rows_read;
            accepted += chunk.batch.num_rows() as u64;
            quarantined += chunk.rejected.len() as u64;
            if let Some(s) = sink.as_mut() {
                s.write_all(&chunk.rejected)?;
            }
            if let Some(w) = writer.as_mut() {
                w.write(&chunk.batch)?;
            }
        }
    }
    if let Some(s) = sink.as_mut() {
        s.flush()?;
    }
    if let Some(w) = writer {
        w.close()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(IngestReport {
        inputs: readers.iter().map(|r| r.name().to_string()).collect(),
        rows_read: read,
        rows_accepted: accepted,
        rows_quarantined: quarantined,
        reconciled: read == accepted + quarantined,
        seconds,
        rows_per_second: accepted as f64 / seconds.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
        parquet_out: parquet_out.map(Path::to_path_buf),
    })
}

/// Peak resident set size of this process (Linux `VmHWM`), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
