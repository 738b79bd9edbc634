//! The command line: one file per subcommand. This module owns the top-level `Cli` (the global
//! `--config`), the `Command` enum (one `clap::Args` struct per subcommand, in its own file),
//! the dispatch in [`run`], and the flag helpers several subcommands share (config loading,
//! `--progress`, `--store`, `--out`, `--metrics-addr`).
//!
//! It holds no detection logic: it turns flags into a `Config` and options, calls the library
//! (`mirrorflow::app`, `mirrorflow::r#gen`, `mirrorflow::eval`, `mirrorflow::rules`,
//! `mirrorflow::store`, `mirrorflow::serve`) and prints what it returns.

mod alerts;
mod calibrate;
mod config;
mod eval;
mod r#gen;
mod ingest;
mod produce;
mod replay;
mod rules;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use mirrorflow::config::{Config, ProgressMode};

#[derive(Parser)]
#[command(name = "mirrorflow", version, about = "Streaming money-laundering flow detector")]
pub struct Cli {
    /// Configuration file (TOML), merged over the embedded defaults (`mirrorflow config`).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Replay a historical ledger (a directory or one transactions file) in event time.
    Replay(replay::ReplayCmd),
    /// Run live: NDJSON on stdin, a directory where ledger files land, or a Kafka topic
    /// (with periodic checkpoints and exactly-once alerts through restarts).
    Run(run::RunCmd),
    /// Replay a ledger onto a Kafka topic (keyed by source account), as fast as the
    /// broker takes it or at N x real time, optionally with bounded disorder.
    Produce(produce::ProduceCmd),
    /// Derive amount floors from a ledger's own distribution (no labels read) and write
    /// them as a config (TOML, the default config's keys), each with its reason
    Calibrate(calibrate::CalibrateCmd),
    /// Read and validate a ledger without detection: counts, quarantine, throughput,
    /// peak memory (JSON on stdout); optionally convert it to canonical Parquet.
    Ingest(ingest::IngestCmd),
    /// Write a realistic labelled synthetic ledger (transactions, accounts, fx_rates,
    /// labels.csv, populations.csv).
    #[command(after_help = r#gen::GEN_HELD_OUT)]
    Gen(r#gen::GenCmd),
    /// Score alerts against labels: per-typology scheme recall, alert precision,
    /// transaction-level precision/recall/F1.
    Eval(eval::EvalCmd),
    /// The alert store: the review queue, decisions (audited), exports.
    Alerts(alerts::AlertsCmd),
    /// Serve the review API (OpenAPI at /api/openapi.json) and page over the alert store.
    /// Tokens: MIRRORFLOW_TOKENS="user=token,..." or --tokens FILE (user=token lines).
    Serve(serve::ServeCmd),
    /// The SQL rules: list them, or check (parse and plan) them all.
    Rules(rules::RulesCmd),
    /// Print the embedded default configuration (every key documented).
    Config(config::ConfigCmd),
}

/// Runs the parsed command line; `Ok` carries the exit code (0, or 3 for an unreconciled run).
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_ref();
    match &cli.command {
        Command::Replay(c) => c.run(config),
        Command::Run(c) => c.run(config),
        Command::Produce(c) => c.run(),
        Command::Calibrate(c) => c.run(config),
        Command::Ingest(c) => c.run(config),
        Command::Gen(c) => c.run(),
        Command::Serve(c) => c.run(config),
        Command::Alerts(c) => c.run(config),
        Command::Eval(c) => c.run(),
        Command::Rules(c) => c.run(config),
        Command::Config(c) => c.run(),
    }
}

/// The multi-threaded tokio runtime of `replay`, `run` and `serve`.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn load_config(
    path: Option<&PathBuf>,
    overrides: impl FnOnce(&mut Config) -> anyhow::Result<()>,
) -> anyhow::Result<Config> {
    let mut cfg = Config::load(path.map(|p| p.as_path()))?;
    overrides(&mut cfg)?;
    Ok(cfg)
}

fn progress_flag(v: Option<&String>, cfg: &mut Config) -> anyhow::Result<()> {
    if let Some(p) = v {
        cfg.progress = match p.as_str() {
            "auto" => ProgressMode::Auto,
            "bar" => ProgressMode::Bar,
            "log" => ProgressMode::Log,
            "off" => ProgressMode::Off,
            other => anyhow::bail!("--progress `{other}`: expected auto, bar, log or off"),
        };
    }
    Ok(())
}

/// `--store`: the alert store's URL, or off.
fn set_store(c: &mut Config, url: &str) {
    c.store = (!matches!(url, "off" | "none")).then(|| url.to_string());
}

/// `--out`: the output directory, and the default alert store with it.
fn set_out_dir(c: &mut Config, out: &std::path::Path) {
    if c.store.as_deref() == Some(c.out_dir.join("alerts.db").to_str().unwrap_or_default()) {
        c.store = Some(out.join("alerts.db").display().to_string());
    }
    c.out_dir = out.to_path_buf();
}

/// `--metrics-addr`: serves /metrics, /health, /ready for the rest of the process.
fn start_metrics(rt: &tokio::runtime::Runtime, addr: &str) -> anyhow::Result<()> {
    let parsed = addr.parse().with_context(|| format!("--metrics-addr {addr}: expected host:port"))?;
    let bound = rt.block_on(mirrorflow::metrics::serve_metrics(parsed))?;
    eprintln!("metrics: http://{bound}/metrics");
    Ok(())
}
