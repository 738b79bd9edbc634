//! `mirrorflow-bench mirror`: replay throughput with mirror-swap leg matching on, and how
//! it grows with the leg window (and so with the number of open legs).
//!
//! For each size, one generated ledger (`mirrorflow gen`, kept in `bench-data/mirror-<rows>/`)
//! is replayed in child processes with the SQL rules, the graph and peel stages off, so
//! the figures are the mirror stage's on top of the pipeline (read, order, enrich,
//! window): a baseline with the mirror stage off, then the stage on with leg windows of
//! 24 h (the default), 48 h and 96 h. Each run reports rows/s, wall time, peak memory
//! (`VmHWM`), the most legs held open at once, the T6 alerts, and their quality against
//! the ledger's labels (swaps linked, alert precision).
//!
//! Owns: the configurations measured and the table.
//! Must not: run inside `cargo test` (a benchmark, not a check).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::harness::{
    Marker, generate_ledger, ledger_is_current, mib, render_markdown_table, render_table, run_measured, thousands,
    write_json,
};
use mirrorflow::error::{Error, Result};

/// What to measure.
#[derive(Debug, Clone)]
pub struct MirrorBenchOptions {
    pub rows: Vec<u64>,
    pub data_dir: PathBuf,
    pub seed: u64,
    pub windows_h: Vec<u32>,
    pub json_out: Option<PathBuf>,
}

impl Default for MirrorBenchOptions {
    fn default() -> Self {
        MirrorBenchOptions {
            rows: vec![1_000_000, 10_000_000],
            data_dir: PathBuf::from("bench-data"),
            seed: 42,
            windows_h: vec![24, 48, 96],
            json_out: None,
        }
    }
}

/// One replay.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorRun {
    pub rows: u64,
    /// `baseline` (mirror stage off) or `leg-window <h>h`.
    pub config: String,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub peak_rss_bytes: Option<u64>,
    pub max_open_legs: Option<u64>,
    pub t6_alerts: u64,
    pub swaps: Option<u64>,
    pub swaps_linked: Option<u64>,
    pub t6_precision: Option<f64>,
}

const STAGES_OFF: &str = "[rules]\nenabled = false\n[graph]\ncycles = false\nscatter-gather = false\n\
                          bipartite = false\ngather-scatter = false\npeel-chains = false\n";

/// Runs the benchmark and returns the report (plain table and Markdown).
pub fn run_mirror_bench(opts: &MirrorBenchOptions) -> Result<String> {
    let exe = crate::harness::product_exe()?;
    let mut runs = Vec::new();
    for &rows in &opts.rows {
        let dir = opts.data_dir.join(format!("mirror-{rows}"));
        if !ledger_is_current(&dir, rows, opts.seed, "csv", &[&dir.join("transactions.csv")]) {
            generate_ledger(&exe, &dir, rows, opts.seed, "csv")?;
            Marker::new(rows, opts.seed, "csv").write(&dir)?;
        }
        let mut configs: Vec<(String, String)> =
            vec![("baseline (mirror off)".into(), format!("{STAGES_OFF}[mirror]\nenabled = false\n"))];
        for &h in &opts.windows_h {
            configs.push((format!("leg-window {h}h"), format!("{STAGES_OFF}[mirror]\nleg-window = \"{h}h\"\n")));
        }
        for (name, toml) in configs {
            let run = run_one(&exe, &dir, rows, &name, &toml)?;
            eprintln!(
                "bench mirror: {} rows, {name}: {:.2} s, {} rows/s",
                thousands(rows),
                run.seconds,
                thousands(run.rows_per_second as u64)
            );
            runs.push(run);
        }
    }
    if let Some(p) = &opts.json_out {
        write_json(p, &runs)?;
    }
    Ok(format_mirror_report(&runs))
}

fn run_one(exe: &Path, dir: &Path, rows: u64, name: &str, toml: &str) -> Result<MirrorRun> {
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let out = dir.join(format!("out-{slug}"));
    let cfg = dir.join(format!("{slug}.toml"));
    std::fs::write(&cfg, format!("[output]\nprogress = \"off\"\n{toml}")).map_err(|e| Error::io(&cfg, e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("replay").arg(dir).arg("--config").arg(&cfg).arg("--out").arg(&out);
    cmd.env("MIRRORFLOW_LOG", "info").stdout(Stdio::null());
    let m = run_measured(&mut cmd).map_err(|e| Error::Internal(format!("mirrorflow replay: {e}")))?;
    if !m.status.success() {
        return Err(Error::Internal(format!(
            "mirrorflow replay ({name}) failed: {}",
            crate::harness::tail_lines(&m.stderr, 5)
        )));
    }
    let summary_path = out.join("summary.json");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).map_err(|e| Error::io(&summary_path, e))?)
            .map_err(|e| Error::input(&summary_path, e.to_string()))?;
    let accepted = summary["rows_accepted"].as_u64().unwrap_or(0);
    let t6_alerts = summary["alerts_by_typology"]["T6"].as_u64().unwrap_or(0);
    let max_open_legs = m
        .stderr
        .lines()
        .filter(|l| l.contains("mirror stage"))
        .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("max_open_legs=")?.parse().ok()));
    let (mut swaps, mut linked, mut precision) = (None, None, None);
    let labels = dir.join("labels.csv");
    if t6_alerts > 0 && labels.is_file() {
        let r = mirrorflow_lab::eval::evaluate(&mirrorflow_lab::eval::EvalOptions {
            labels,
            alerts: out.join("alerts.jsonl"),
            populations: None,
        })?;
        if let Some(all) = r.mirror_linkage.as_ref().and_then(|l| l.iter().find(|x| x.variant == "all")) {
            swaps = Some(all.swaps);
            linked = Some(all.linked);
        }
        precision = r.by_alert_typology.iter().find(|a| a.typology == "T6").and_then(|a| a.precision);
    }
    Ok(MirrorRun {
        rows,
        config: name.to_string(),
        seconds: m.seconds,
        rows_per_second: if m.seconds > 0.0 { accepted as f64 / m.seconds } else { 0.0 },
        peak_rss_bytes: m.peak_rss_bytes,
        max_open_legs,
        t6_alerts,
        swaps,
        swaps_linked: linked,
        t6_precision: precision,
    })
}

/// The runs as a plain table and as Markdown.
pub fn format_mirror_report(runs: &[MirrorRun]) -> String {
    let headers =
        ["rows", "config", "rows/s", "s", "peak MiB", "max open legs", "T6 alerts", "swaps linked", "T6 precision"];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                thousands(r.rows),
                r.config.clone(),
                thousands(r.rows_per_second as u64),
                format!("{:.2}", r.seconds),
                mib(r.peak_rss_bytes),
                r.max_open_legs.map_or("-".into(), thousands),
                thousands(r.t6_alerts),
                match (r.swaps_linked, r.swaps) {
                    (Some(l), Some(s)) => format!("{l} / {s}"),
                    _ => "-".into(),
                },
                r.t6_precision.map_or("-".into(), |p| format!("{:.3}", p)),
            ]
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "mirror-swap leg matching: replay with the mirror stage only (rules, graph, peel off)\n");
    out.push_str(&render_table(&headers, &rows, &[1]));
    out.push('\n');
    out.push_str(&render_markdown_table(&headers, &rows, &[1]));
    out
}
