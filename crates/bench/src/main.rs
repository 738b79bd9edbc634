//! `mirrorflow-bench`: the benchmarks, a binary of their own so that no benchmark code is
//! in the product. Each drives the product's binary (`mirrorflow gen`, `mirrorflow
//! replay`; found beside this one, or at `MIRRORFLOW_BIN`) on generated data and puts its
//! figures side by side with a peer's on the same data (`bench/README.md`).
//!
//! Owns: the benchmark commands and their reports.
//! Must not: be a dependency of the product.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod graph_bench;
mod harness;
mod mirror_bench;
mod pipeline_bench;
mod rules_bench;

#[derive(Parser)]
#[command(name = "mirrorflow-bench", version, about = "mirrorflow's benchmarks, side by side with their peers")]
struct Cli {
    /// Configuration file (TOML) for the product's runs (`rules`: the rules and every replay).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// What every benchmark takes.
#[derive(clap::Args)]
struct BenchCommon {
    /// Where the generated data (and the runs' outputs) are kept and reused [default: bench-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The Python with the peers' packages (`duckdb`; `snapml` and `networkx` for `graph`)
    /// [default: python3].
    #[arg(long)]
    python: Option<String>,
    /// Seed of the generated data (`mirrorflow gen`, the graph generator) [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Runs per engine and size; the fastest time is reported [default: 3].
    #[arg(long)]
    repeats: Option<u32>,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What both ledger benchmarks take.
#[derive(clap::Args)]
struct BenchArgs {
    /// Ledger sizes in rows, comma-separated [default: 1000000,10000000].
    #[arg(long, value_delimiter = ',')]
    rows: Vec<u64>,
    /// Measure mirrorflow only (no DuckDB, no agreement check).
    #[arg(long)]
    no_duckdb: bool,
    #[command(flatten)]
    common: BenchCommon,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest throughput and peak memory, mirrorflow vs DuckDB, on the same generated files.
    Ingest {
        #[command(flatten)]
        run: BenchArgs,
        /// Formats, comma-separated: csv, csv.gz, parquet [default: csv,parquet].
        #[arg(long, value_delimiter = ',')]
        formats: Vec<String>,
    },
    /// The SQL rule pack end to end: `mirrorflow replay` (streaming) vs DuckDB running the same
    /// rules' SQL as one batch over the same rows, with a per-rule agreement check. `--config`
    /// applies to the rules and every replay.
    Rules {
        #[command(flatten)]
        run: BenchArgs,
    },
    /// Temporal cycle enumeration: mirrorflow's cycle finder vs IBM snapml's
    /// GraphFeaturePreprocessor and networkx on the same generated graphs, with a count
    /// agreement check. The Python may also come from MIRRORFLOW_PYTHON.
    Graph {
        /// Graph sizes in edges, comma-separated [default: 100000,1000000,10000000].
        #[arg(long, value_delimiter = ',')]
        edges: Vec<u64>,
        /// Cycle window in seconds: the last edge at most this long after the first [default: 86400].
        #[arg(long)]
        window_s: Option<i64>,
        /// Longest cycle, in edges [default: 6].
        #[arg(long)]
        max_len: Option<usize>,
        /// Peers, comma-separated: snapml, snapml-batched, networkx, or none [default: all three].
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        /// snapml's num_threads [default: 2].
        #[arg(long)]
        threads: Option<u32>,
        /// networkx's time budget per size, in seconds [default: 600].
        #[arg(long)]
        networkx_budget_s: Option<u64>,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// Mirror-swap leg matching: replay throughput and peak memory with the mirror stage on
    /// (rules, graph and peel off) against a baseline without it, for several leg windows,
    /// with the most legs held open and the T6 alerts' quality against the labels.
    Mirror {
        /// Ledger sizes in rows, comma-separated [default: 1000000,10000000].
        #[arg(long, value_delimiter = ',')]
        rows: Vec<u64>,
        /// Leg windows in hours, comma-separated [default: 24,48,96].
        #[arg(long, value_delimiter = ',')]
        windows_h: Vec<u32>,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// Whole replays of generated ledgers of several shapes (default, no KYC, small SEK
    /// amounts, dense, hubs, 30-day flow windows, 5-day cycles, AMLworld, AMLSim), side by
    /// side in one run: rows/s, each stage's ms per million rows, peak memory, the aims; a
    /// plain Rust window join as the floor for leg matching; with --peers, DuckDB and snapml.
    /// `--repeats` defaults to 1 here; `--config` goes under every shape's own settings.
    Pipeline {
        /// Sizes of the default ledger, comma-separated; the other shapes use the first
        /// [default: 1000000,10000000].
        #[arg(long, value_delimiter = ',')]
        rows: Vec<u64>,
        /// Shapes, comma-separated: default, no-kyc, small-sek, dense, hubs, flow-30d,
        /// cycles-5d, dense-small-30d, amlworld, amlsim [default: all].
        #[arg(long, value_delimiter = ',')]
        shapes: Vec<String>,
        /// The AMLSim ledger [default: fixtures/external/amlsim12k of the workspace].
        #[arg(long)]
        amlsim: Option<PathBuf>,
        /// Also run the peers at the same sizes: DuckDB on the rule SQL (`rules`) and snapml
        /// at a 5-day window (`graph`); needs their Python packages.
        #[arg(long)]
        peers: bool,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// One mirrorflow measurement of `mirrorflow-bench graph`: streams an edge list (`edge_id,src,dst,ts`,
    /// ts in seconds, in time order) through the cycle finder and prints JSON.
    #[command(name = "graph-run", hide = true)]
    GraphRun {
        file: PathBuf,
        #[arg(long)]
        window_s: i64,
        #[arg(long, default_value_t = crate::graph_bench::DEFAULT_MAX_LEN)]
        max_len: usize,
        /// Also write the JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn run(cli: &Cli) -> mirrorflow::Result<ExitCode> {
    match &cli.command {
        Command::Ingest { run, formats } => {
            let (d, c) = (crate::harness::BenchOptions::default(), &run.common);
            let opts = crate::harness::BenchOptions {
                rows: if run.rows.is_empty() { d.rows } else { run.rows.clone() },
                data_dir: c.data_dir.clone().unwrap_or(d.data_dir),
                formats: if formats.is_empty() { d.formats } else { formats.clone() },
                duckdb: !run.no_duckdb,
                python: c.python.clone().unwrap_or(d.python),
                seed: c.seed.unwrap_or(d.seed),
                repeats: c.repeats.unwrap_or(d.repeats),
                json_out: c.json.clone(),
            };
            print!("{}", crate::harness::run_ingest_bench(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { run } => {
            let (d, c) = (crate::rules_bench::RulesBenchOptions::default(), &run.common);
            let opts = crate::rules_bench::RulesBenchOptions {
                rows: if run.rows.is_empty() { d.rows } else { run.rows.clone() },
                data_dir: c.data_dir.clone().unwrap_or(d.data_dir),
                duckdb: !run.no_duckdb,
                python: c.python.clone().unwrap_or(d.python),
                seed: c.seed.unwrap_or(d.seed),
                repeats: c.repeats.unwrap_or(d.repeats),
                json_out: c.json.clone(),
                config: cli.config.clone(),
            };
            print!("{}", crate::rules_bench::run_rules_bench(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { edges, window_s, max_len, peers, threads, networkx_budget_s, common: c } => {
            let d = crate::graph_bench::GraphBenchOptions::default();
            let opts = crate::graph_bench::GraphBenchOptions {
                edges: if edges.is_empty() { d.edges } else { edges.clone() },
                data_dir: c.data_dir.clone().unwrap_or(d.data_dir),
                python: c.python.clone().or_else(|| std::env::var("MIRRORFLOW_PYTHON").ok()).unwrap_or(d.python),
                seed: c.seed.unwrap_or(d.seed),
                repeats: c.repeats.unwrap_or(d.repeats),
                json_out: c.json.clone(),
                window_s: window_s.unwrap_or(d.window_s),
                max_len: max_len.unwrap_or(d.max_len),
                peers: match peers.as_slice() {
                    [] => d.peers,
                    [none] if none == "none" => Vec::new(),
                    p => p.to_vec(),
                },
                threads: threads.unwrap_or(d.threads),
                networkx_budget_s: networkx_budget_s.unwrap_or(d.networkx_budget_s),
            };
            print!("{}", crate::graph_bench::run_graph_bench(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Mirror { rows, windows_h, common: c } => {
            let d = crate::mirror_bench::MirrorBenchOptions::default();
            let opts = crate::mirror_bench::MirrorBenchOptions {
                rows: if rows.is_empty() { d.rows } else { rows.clone() },
                windows_h: if windows_h.is_empty() { d.windows_h } else { windows_h.clone() },
                data_dir: c.data_dir.clone().unwrap_or(d.data_dir),
                seed: c.seed.unwrap_or(d.seed),
                json_out: c.json.clone(),
            };
            print!("{}", crate::mirror_bench::run_mirror_bench(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Pipeline { rows, shapes, amlsim, peers, common: c } => {
            let d = crate::pipeline_bench::PipelineBenchOptions::default();
            let opts = crate::pipeline_bench::PipelineBenchOptions {
                rows: if rows.is_empty() { d.rows } else { rows.clone() },
                shapes: if shapes.is_empty() { d.shapes } else { shapes.clone() },
                data_dir: c.data_dir.clone().unwrap_or(d.data_dir),
                seed: c.seed.unwrap_or(d.seed),
                repeats: c.repeats.unwrap_or(d.repeats),
                json_out: c.json.clone(),
                config: cli.config.clone(),
                amlsim: amlsim.clone(),
                peers: *peers,
                python: c.python.clone().or_else(|| std::env::var("MIRRORFLOW_PYTHON").ok()).unwrap_or(d.python),
            };
            print!("{}", crate::pipeline_bench::run_pipeline_bench(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::GraphRun { file, window_s, max_len, out } => {
            println!("{}", crate::graph_bench::graph_run_command(file, *window_s, *max_len, out.as_deref())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // progress goes to stderr, the report to stdout
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIRRORFLOW_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mirrorflow-bench: {e}");
            ExitCode::from(match e {
                mirrorflow::Error::Usage(_) | mirrorflow::Error::Config(_) => 2,
                _ => 1,
            })
        }
    }
}
