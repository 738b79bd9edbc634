//! `mirrorflow-bench rules`: the SQL rule pack end to end, mirrorflow's streaming replay
//! next to DuckDB running the same rules' SQL as one batch job over the same rows.
//!
//! Owns: the rules ledgers under `data_dir/rules-<rows>/` (made once with `mirrorflow gen
//! --format parquet`, reused while their marker matches), a reference replay per size
//! with `output.write-ordered = true` (its `ordered.parquet` is the rows exactly as the
//! rules saw them, which DuckDB loads; its `alerts.jsonl` is what the agreement check
//! reads), the timed replays (`mirrorflow replay` children: wall time, rows/s, peak RSS),
//! the DuckDB runs (`bench/duckdb_rules.py`), the per-rule agreement of the evidence
//! (tx_ids) each engine found, and the report (markdown tables; JSON on request). Also
//! the rendered SQL of the enabled rules that `mirrorflow rules sql` prints.
//! Must not: replay in-process (each measurement is a fresh child with its own peak
//! memory), change the rules (DuckDB runs the SQL `mirrorflow rules sql --json` gives,
//! translated only by the script's documented dialect mapping), hide a rule DuckDB cannot
//! run, or run from the test suite: the tests cover the pure parts only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::harness::{
    Best, DuckdbInfo, Machine, Marker, Run, best_of, build_note, check_sizes, child_failure, generate_ledger,
    last_json_line, ledger_is_current, machine_line, mib, probe_duckdb, render_markdown_table, run_measured, thousands,
    write_json, write_script,
};
use mirrorflow::alerts::{Alert, Severity, Status};
use mirrorflow::config::Config;
use mirrorflow::error::{Error, Result};
use mirrorflow::rules::RuleSet;
use mirrorflow_core::episode::Episodes;

/// The DuckDB side, compiled in so the benchmark runs from any directory.
const DUCKDB_RULES_SCRIPT: &str = include_str!("../scripts/duckdb_rules.py");

/// Threads DuckDB is given (the issue's 2-core machine).
pub const DUCKDB_THREADS: u32 = 2;

/// The issue's aim: mirrorflow's replay within this factor of DuckDB's batch time below
/// `LARGE_ROWS` rows...
pub const GOAL_RATIO: f64 = 1.5;
/// ... within this factor from `LARGE_ROWS` rows on...
pub const GOAL_RATIO_LARGE: f64 = 1.0;
pub const LARGE_ROWS: u64 = 10_000_000;
/// ... and at least this many rows per second.
pub const GOAL_ROWS_PER_SECOND: f64 = 500_000.0;

/// How many differing tx_ids a note shows per side.
const EXAMPLES: usize = 5;

/// Options of `mirrorflow-bench rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesBenchOptions {
    /// Ledger sizes in rows (default 1M and 10M).
    pub rows: Vec<u64>,
    /// Where the generated ledgers and the runs' outputs are kept (default `bench-data/`).
    pub data_dir: PathBuf,
    /// Also measure DuckDB (default true).
    pub duckdb: bool,
    /// The Python that has the `duckdb` package (default `python3`).
    pub python: String,
    /// Seed passed to `mirrorflow gen` (default 42).
    pub seed: u64,
    /// Runs per engine and size; fastest time and highest peak memory reported (default 3).
    pub repeats: u32,
    /// Also write every figure here as JSON.
    pub json_out: Option<PathBuf>,
    /// The `--config` file: used for the rule set and passed to every replay.
    pub config: Option<PathBuf>,
}

impl Default for RulesBenchOptions {
    fn default() -> Self {
        RulesBenchOptions {
            rows: vec![1_000_000, 10_000_000],
            data_dir: PathBuf::from("bench-data"),
            duckdb: true,
            python: "python3".into(),
            seed: 42,
            repeats: 3,
            json_out: None,
            config: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rules' SQL (`mirrorflow rules sql`)

pub use mirrorflow::rules::export::{RuleSql, rules_sql};

// ---------------------------------------------------------------------------------------
// What the children report

/// One `mirrorflow replay` child: the measurement and its `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRun {
    /// Wall time of the child, spawn to exit (start-up, side tables and rule planning
    /// included).
    pub wall_seconds: f64,
    /// The child's peak RSS (`VmHWM`, sampled).
    pub peak_rss_bytes: Option<u64>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub alerts_written: u64,
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// The replay's own timing (`summary.json` `timings.total_seconds`).
    pub summary_seconds: f64,
}

#[derive(Deserialize)]
struct SummaryJson {
    rows_read: u64,
    rows_accepted: u64,
    rows_quarantined: u64,
    #[serde(default)]
    alerts_written: u64,
    #[serde(default)]
    alerts_by_rule: BTreeMap<String, u64>,
    #[serde(default)]
    timings: TimingsJson,
}

#[derive(Deserialize, Default)]
struct TimingsJson {
    #[serde(default)]
    total_seconds: f64,
}

/// Reads a replay's `summary.json` into a [`ReplayRun`] with the measured wall time and
/// peak memory.
pub fn parse_summary(
    json: &str,
    wall_seconds: f64,
    peak_rss_bytes: Option<u64>,
) -> std::result::Result<ReplayRun, String> {
    let s: SummaryJson = serde_json::from_str(json).map_err(|e| format!("cannot parse summary.json: {e}"))?;
    Ok(ReplayRun {
        wall_seconds,
        peak_rss_bytes,
        rows_read: s.rows_read,
        rows_accepted: s.rows_accepted,
        rows_quarantined: s.rows_quarantined,
        alerts_written: s.alerts_written,
        alerts_by_rule: s.alerts_by_rule,
        summary_seconds: s.timings.total_seconds,
    })
}

/// One rule as `duckdb_rules.py` ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuckdbRuleRun {
    pub id: String,
    /// It ran and its result was read.
    pub ok: bool,
    pub error: Option<String>,
    /// Time of `CREATE TEMP TABLE result AS <rule>`.
    pub seconds: Option<f64>,
    /// Result rows.
    pub rows: Option<u64>,
    /// The result has a `matched` column.
    #[serde(default)]
    pub has_matched: bool,
    /// Result rows with `matched` true (rules with that column only).
    pub matched_rows: Option<u64>,
    /// Distinct tx_ids in the evidence of the rows that count.
    pub evidence_tx: Option<u64>,
    /// The dialect rewrites the rule needed.
    #[serde(default)]
    pub rewrites: Vec<String>,
}

/// The JSON line `duckdb_rules.py` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuckdbRulesRun {
    pub duckdb_version: String,
    pub threads: u32,
    /// Transactions loaded from `ordered.parquet`.
    pub rows: u64,
    #[serde(default)]
    pub accounts_rows: u64,
    #[serde(default)]
    pub fx_rate_rows: u64,
    pub load_seconds: f64,
    pub rules_seconds: f64,
    pub total_seconds: f64,
    pub peak_rss_bytes: Option<u64>,
    pub rules: Vec<DuckdbRuleRun>,
}

/// Parses the JSON line `duckdb_rules.py` prints (its last line that starts with `{`).
pub fn parse_duckdb_rules_line(stdout: &str) -> std::result::Result<DuckdbRulesRun, String> {
    last_json_line(stdout, "duckdb_rules.py")
}

/// Several DuckDB runs of one size, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuckdbBest {
    pub rows: u64,
    /// The fastest run (by total time): its load, rules and total seconds.
    pub load_seconds: f64,
    pub rules_seconds: f64,
    pub total_seconds: f64,
    /// `rows / total_seconds` of the fastest run.
    pub rows_per_second: f64,
    /// Highest peak over the runs.
    pub peak_rss_bytes: Option<u64>,
    /// Every run's total time, in run order.
    pub runs_total_seconds: Vec<f64>,
    /// Per rule, as the fastest run measured it.
    pub rules: Vec<DuckdbRuleRun>,
}

/// The fastest DuckDB run and the highest peak memory (None if there are no runs).
pub fn duckdb_best(runs: &[DuckdbRulesRun]) -> Option<DuckdbBest> {
    let fastest = runs.iter().min_by(|a, b| a.total_seconds.total_cmp(&b.total_seconds))?;
    Some(DuckdbBest {
        rows: fastest.rows,
        load_seconds: fastest.load_seconds,
        rules_seconds: fastest.rules_seconds,
        total_seconds: fastest.total_seconds,
        rows_per_second: fastest.rows as f64 / fastest.total_seconds.max(1e-9),
        peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
        runs_total_seconds: runs.iter().map(|r| r.total_seconds).collect(),
        rules: fastest.rules.clone(),
    })
}

// ---------------------------------------------------------------------------------------
// Agreement

/// mirrorflow's alerts, per rule: how many, and the union of their evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorflowEvidence {
    pub alerts: BTreeMap<String, u64>,
    pub tx_ids: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Deserialize)]
struct AlertLine {
    rule_id: String,
    #[serde(default)]
    tx_ids: Vec<String>,
}

/// Reads `alerts.jsonl` (one alert per line).
pub fn parse_alerts(jsonl: &str) -> std::result::Result<MirrorflowEvidence, String> {
    let mut ev = MirrorflowEvidence::default();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a: AlertLine =
            serde_json::from_str(line).map_err(|e| format!("alerts.jsonl line {}: not an alert: {e}", i + 1))?;
        *ev.alerts.entry(a.rule_id.clone()).or_default() += 1;
        ev.tx_ids.entry(a.rule_id).or_default().extend(a.tx_ids);
    }
    Ok(ev)
}

/// One result row of a rule as DuckDB returned it (a line of the `<rule id>.jsonl` that
/// `duckdb_rules.py --evidence-out` writes; times in microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResultRow {
    pub subject: Option<String>,
    #[serde(default)]
    pub tx_ids: Option<Vec<Option<String>>>,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    /// The anchoring row's time and `seq`, when the rule returns them.
    #[serde(default)]
    pub anchor_us: Option<i64>,
    #[serde(default)]
    pub anchor_seq: Option<u64>,
    /// The `matched` column, when the rule has one.
    #[serde(default)]
    pub matched: Option<bool>,
}

/// Reads a `<rule id>.jsonl` of result rows.
pub fn parse_result_rows(jsonl: &str) -> std::result::Result<Vec<ResultRow>, String> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("result row {}: {e}", i + 1)))
        .collect()
}

/// What mirrorflow's engine would alert for a rule whose result rows, over the whole
/// ledger, are `rows`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpisodeCount {
    pub alerts: u64,
    pub tx_ids: BTreeSet<String>,
}

/// DuckDB's evidence for one rule: as the brief asks (every row that matched) and after
/// mirrorflow's episode rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuckdbEvidence {
    /// The distinct tx_ids of the rows with a subject (and `matched` true).
    pub raw: BTreeSet<String>,
    /// The same rows through mirrorflow's episode rules.
    pub episodes: EpisodeCount,
}

/// One match as the engine sees it (`rules::engine::to_alerts`).
struct EpisodeMatch {
    /// Anchor time and `seq`, else the last evidence's time.
    when: (i64, u64),
    /// `first_ts` as the engine formats it (it orders by the text).
    first: String,
    alert_id: String,
    matched: bool,
    subject: String,
    tx_ids: Vec<String>,
    last_us: i64,
}

impl EpisodeMatch {
    /// The match as the alert the engine would hold (what the episode machine reads: the
    /// rule, the subject, the evidence and its times).
    fn alert(&self, rule: &RuleSql) -> Alert {
        Alert {
            alert_id: self.alert_id.clone(),
            rule_id: rule.id.clone(),
            rule_version: rule.version.clone(),
            typology: String::new(),
            severity: Severity::Low,
            score: 0.0,
            subjects: vec![self.subject.clone()],
            tx_ids: self.tx_ids.clone(),
            first_ts: self.first.clone(),
            last_ts: mirrorflow::ingest::values::format_ts(self.last_us),
            amount_usd: String::new(),
            jurisdictions: Vec::new(),
            details: serde_json::Value::Null,
            narrative: String::new(),
            status: Status::Open,
        }
    }
}

/// DuckDB's evidence for `rule` from its result rows, through the engine's own episode
/// state machine (`mirrorflow_core::episode`, as `SqlRules::evaluate` and `flush` use it),
/// applied one anchor at a time:
/// matches in (anchor, first_ts, alert id, matched) order; a match of a subject with an
/// open episode joins it if it shares evidence and comes within the rule's episode gap,
/// else the episode is alerted and a new one opens; a row with `matched` false drops an
/// open episode it shares evidence with; an episode whose last evidence is more than the
/// gap before an anchor is alerted before that anchor's matches apply; at the end all
/// are, skipping an episode whose evidence the subject was already alerted for. This is
/// the engine with one anchor per batch, so a replay in any batching must agree with it. Rows without a subject or
/// evidence are skipped, and a NULL `matched` counts as false, as in the engine.
pub fn duckdb_evidence(rule: &RuleSql, rows: &[ResultRow], has_matched: bool) -> DuckdbEvidence {
    let gap = rule.episode_gap_us;
    let mut matches = Vec::new();
    let mut raw = BTreeSet::new();
    for r in rows {
        let Some(subject) = &r.subject else { continue };
        let tx_ids: Vec<String> = r.tx_ids.iter().flatten().flatten().cloned().collect();
        let (Some(first_us), Some(last_us)) = (r.first_us, r.last_us) else { continue };
        if tx_ids.is_empty() {
            continue;
        }
        let matched = !has_matched || r.matched == Some(true);
        if matched {
            raw.extend(tx_ids.iter().cloned());
        }
        matches.push(EpisodeMatch {
            when: (r.anchor_us.unwrap_or(last_us), r.anchor_seq.unwrap_or(u64::MAX)),
            first: mirrorflow::ingest::values::format_ts(first_us),
            alert_id: mirrorflow::alerts::alert_id(&rule.id, &rule.version, &tx_ids),
            matched,
            subject: subject.clone(),
            tx_ids,
            last_us,
        });
    }
    matches.sort_by(|a, b| (a.when, &a.first, &a.alert_id, a.matched).cmp(&(b.when, &b.first, &b.alert_id, b.matched)));

    // The engine's own episode state machine, fed one anchor at a time.
    let mut book: Episodes<String> = Episodes::default();
    let mut closed: Vec<Alert> = Vec::new();
    let mut i = 0;
    while i < matches.len() {
        let now = matches[i].when;
        // The engine closes an episode due at a match's event time before that match can
        // grow or clear it, and every due episode at the end of each batch; closing the
        // others now too changes nothing (only their own subject's matches touch them).
        book.close_due(now.0, |_| gap, &mut closed);
        while i < matches.len() && matches[i].when == now {
            let m = &matches[i];
            i += 1;
            book.offer(m.subject.clone(), m.alert(rule), m.matched, now.0, gap, &mut closed);
        }
        book.close_due(now.0, |_| gap, &mut closed);
    }
    closed.extend(book.flush());
    let mut episodes = EpisodeCount::default();
    for a in closed {
        episodes.alerts += 1;
        episodes.tx_ids.extend(a.tx_ids);
    }
    DuckdbEvidence { raw, episodes }
}

/// Whether both engines' evidence for one rule is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// The same tx_ids.
    Equal,
    /// The sets differ, but DuckDB's rows put through mirrorflow's episode rules give
    /// exactly mirrorflow's evidence: episodes a later row cleared (`matched` false),
    /// which mirrorflow drops and a batch cannot know of. Expected.
    ClearedEpisodes,
    /// The sets differ even after the episode rules: one engine read the rule
    /// differently, or streaming and batch semantics part.
    Differs,
    /// DuckDB did not run the rule (or was not measured).
    NotCompared,
}

impl Agreement {
    fn label(self) -> &'static str {
        match self {
            Agreement::Equal => "equal",
            Agreement::ClearedEpisodes => "equal after clearing",
            Agreement::Differs => "DIFFER",
            Agreement::NotCompared => "not compared",
        }
    }
}

/// One rule on both engines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleAgreement {
    pub id: String,
    /// DuckDB's figures for the rule (fastest run), if it ran.
    pub duckdb_seconds: Option<f64>,
    pub duckdb_rows: Option<u64>,
    pub has_matched: bool,
    pub duckdb_matched_rows: Option<u64>,
    pub duckdb_evidence_tx: Option<u64>,
    pub duckdb_error: Option<String>,
    pub rewrites: Vec<String>,
    /// DuckDB's rows through mirrorflow's episode rules: alerts and evidence tx_ids.
    pub duckdb_episode_alerts: Option<u64>,
    pub duckdb_episode_tx: Option<u64>,
    pub mirrorflow_alerts: u64,
    pub mirrorflow_evidence_tx: u64,
    /// tx_ids only DuckDB's rows / only mirrorflow's alerts have (None when not compared).
    pub only_duckdb: Option<u64>,
    pub only_mirrorflow: Option<u64>,
    /// The same after the episode rules: what the engines' semantics do not explain.
    pub unexplained_only_duckdb: Option<u64>,
    pub unexplained_only_mirrorflow: Option<u64>,
    /// The first few tx_ids only DuckDB / only mirrorflow has, sorted: unexplained ones
    /// when there are any, else those of the raw comparison.
    pub examples_only_duckdb: Vec<String>,
    pub examples_only_mirrorflow: Vec<String>,
    pub agreement: Agreement,
}

/// Compares one rule: DuckDB's run of it (if any) and its evidence (if read) against
/// mirrorflow's alerts for it.
pub fn compare_rule(
    id: &str,
    duck: Option<&DuckdbRuleRun>,
    evidence: Option<&DuckdbEvidence>,
    mf: &MirrorflowEvidence,
) -> RuleAgreement {
    let empty = BTreeSet::new();
    let mf_tx = mf.tx_ids.get(id).unwrap_or(&empty);
    let mut a = RuleAgreement {
        id: id.to_string(),
        duckdb_seconds: duck.and_then(|d| d.seconds),
        duckdb_rows: duck.and_then(|d| d.rows),
        has_matched: duck.is_some_and(|d| d.has_matched),
        duckdb_matched_rows: duck.and_then(|d| d.matched_rows),
        duckdb_evidence_tx: duck.and_then(|d| d.evidence_tx),
        duckdb_error: duck.and_then(|d| d.error.clone()),
        rewrites: duck.map(|d| d.rewrites.clone()).unwrap_or_default(),
        duckdb_episode_alerts: None,
        duckdb_episode_tx: None,
        mirrorflow_alerts: mf.alerts.get(id).copied().unwrap_or(0),
        mirrorflow_evidence_tx: mf_tx.len() as u64,
        only_duckdb: None,
        only_mirrorflow: None,
        unexplained_only_duckdb: None,
        unexplained_only_mirrorflow: None,
        examples_only_duckdb: Vec::new(),
        examples_only_mirrorflow: Vec::new(),
        agreement: Agreement::NotCompared,
    };
    let Some(ev) = evidence.filter(|_| duck.is_some_and(|d| d.ok)) else { return a };
    let diff = |x: &BTreeSet<String>, y: &BTreeSet<String>| -> Vec<String> { x.difference(y).cloned().collect() };
    let (only_duck, only_mf) = (diff(&ev.raw, mf_tx), diff(mf_tx, &ev.raw));
    let episodes = &ev.episodes.tx_ids;
    let (left_duck, left_mf) = (diff(episodes, mf_tx), diff(mf_tx, episodes));
    a.duckdb_episode_alerts = Some(ev.episodes.alerts);
    a.duckdb_episode_tx = Some(episodes.len() as u64);
    a.only_duckdb = Some(only_duck.len() as u64);
    a.only_mirrorflow = Some(only_mf.len() as u64);
    a.unexplained_only_duckdb = Some(left_duck.len() as u64);
    a.unexplained_only_mirrorflow = Some(left_mf.len() as u64);
    let explained = left_duck.is_empty() && left_mf.is_empty();
    a.agreement = match (only_duck.is_empty() && only_mf.is_empty(), explained) {
        (true, _) => Agreement::Equal,
        (false, true) => Agreement::ClearedEpisodes,
        (false, false) => Agreement::Differs,
    };
    let (ex_duck, ex_mf) = if explained { (only_duck, only_mf) } else { (left_duck, left_mf) };
    a.examples_only_duckdb = ex_duck.into_iter().take(EXAMPLES).collect();
    a.examples_only_mirrorflow = ex_mf.into_iter().take(EXAMPLES).collect();
    a
}

// ---------------------------------------------------------------------------------------
// The report

/// One ledger size on both engines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeResult {
    /// The ledger size asked for.
    pub size: u64,
    pub ledger: PathBuf,
    /// The rows DuckDB loaded: the reference replay's `ordered.parquet`.
    pub ordered_parquet: PathBuf,
    pub ordered_parquet_bytes: u64,
    /// The replay that wrote `ordered.parquet` and the alerts compared (not timed).
    pub reference: ReplayRun,
    /// The timed replays, best of: wall time (rows = rows read).
    pub mirrorflow: Best,
    pub mirrorflow_runs: Vec<ReplayRun>,
    pub duckdb: Option<DuckdbBest>,
    /// Why DuckDB has no figures for this size, when it has none.
    pub duckdb_error: Option<String>,
    /// mirrorflow replay seconds / DuckDB total seconds: below 1, mirrorflow was faster.
    pub ratio: Option<f64>,
    pub rules: Vec<RuleAgreement>,
}

/// Everything `bench rules` measured (the JSON written by `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulesBenchReport {
    pub machine: Machine,
    pub repeats: u32,
    pub seed: u64,
    /// The `--config` used for the rules and every replay.
    pub config: Option<PathBuf>,
    /// The enabled rules.
    pub rules: Vec<String>,
    /// The aim for the ratio below `large_rows` rows, and from there on.
    pub goal_ratio: f64,
    pub goal_ratio_large: f64,
    pub large_rows: u64,
    pub goal_rows_per_second: f64,
    pub results: Vec<SizeResult>,
    /// Why DuckDB was not measured at all, with how to fix it.
    pub duckdb_note: Option<String>,
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"))
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), thousands)
}

fn examples(ids: &[String]) -> String {
    if ids.is_empty() { "-".to_string() } else { ids.join(", ") }
}

/// The report: what was measured where, then per size the side-by-side table, the goal,
/// the per-rule table and notes.
pub fn format_rules_report(r: &RulesBenchReport) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# mirrorflow-bench rules: the SQL rule pack, streaming replay vs DuckDB one-shot batch\n");
    if !m.release_build {
        let _ = writeln!(
            out,
            "**DEBUG build: the figures mean nothing** (build with `cargo build --release` and run \
             target/release/mirrorflow)\n"
        );
    }
    let _ = writeln!(out, "- {}", machine_line(m));
    let _ = writeln!(
        out,
        "- mirrorflow {} ({}): `mirrorflow replay LEDGER` in a child process, the whole rule pack on; wall time \
         spawn to exit (start-up, side tables and rule planning included); peak = the child's VmHWM",
        m.mirrorflow_version,
        build_note(m)
    );
    match &m.duckdb {
        Some(d) => {
            let _ = writeln!(
                out,
                "- DuckDB {} via `{}`, {} threads, in-memory: loads the replay's `ordered.parquet` (the rows as the \
                 rules saw them) and the side tables, then runs every rule once with `new_tx` = `window_tx` = the \
                 whole table; time excludes Python start-up; peak = ru_maxrss",
                d.duckdb_version, m.python, d.threads
            );
        }
        None => {
            let _ = writeln!(out, "- DuckDB: not measured");
        }
    }
    let _ = writeln!(out, "- rules ({}): {}", r.rules.len(), r.rules.join(", "));
    let _ = writeln!(
        out,
        "- best of {} run(s) per engine: the fastest run's time, the highest peak; ratio = mirrorflow s / DuckDB \
         total s (below 1: mirrorflow faster); aim: ratio at most {:.1} ({:.1} from {} rows) and at least {} \
         rows/s",
        r.repeats,
        r.goal_ratio,
        r.goal_ratio_large,
        thousands(r.large_rows),
        thousands(r.goal_rows_per_second as u64)
    );
    if let Some(n) = &r.duckdb_note {
        let _ = writeln!(out, "- note: {n}");
    }

    for x in &r.results {
        out.push('\n');
        let _ = writeln!(out, "## {} rows (`{}`)\n", thousands(x.size), x.ledger.display());
        let headers = [
            "mf replay s",
            "mf rows/s",
            "mf peak MiB",
            "DuckDB load s",
            "DuckDB rules s",
            "DuckDB total s",
            "DuckDB peak MiB",
            "mf s / DuckDB s",
        ];
        let mf = &x.mirrorflow;
        let d = x.duckdb.as_ref();
        let row = vec![
            format!("{:.3}", mf.seconds),
            thousands(mf.rows_per_second.round() as u64),
            mib(mf.peak_rss_bytes),
            secs(d.map(|d| d.load_seconds)),
            secs(d.map(|d| d.rules_seconds)),
            secs(d.map(|d| d.total_seconds)),
            mib(d.and_then(|d| d.peak_rss_bytes)),
            x.ratio.map_or_else(|| "-".to_string(), |q| format!("{q:.2}")),
        ];
        out.push_str(&render_markdown_table(&headers, &[row], &[]));
        out.push('\n');
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        let rate = format!(
            "{} rows/s vs {}: {}",
            thousands(mf.rows_per_second.round() as u64),
            thousands(r.goal_rows_per_second as u64),
            met(mf.rows_per_second >= r.goal_rows_per_second)
        );
        let ratio = x.ratio.map_or_else(
            || "ratio: no DuckDB figure".to_string(),
            |q| {
                let goal = if x.size >= r.large_rows { r.goal_ratio_large } else { r.goal_ratio };
                format!("ratio {q:.2} vs {goal:.1}: {}", met(q <= goal))
            },
        );
        let _ = writeln!(out, "aim: {ratio}; {rate}\n");

        let headers = [
            "rule",
            "DuckDB s",
            "DuckDB rows",
            "matched rows",
            "DuckDB evidence tx",
            "via episodes: alerts / tx",
            "mf alerts",
            "mf evidence tx",
            "only DuckDB",
            "only mf",
            "evidence sets",
        ];
        let rows: Vec<Vec<String>> = x
            .rules
            .iter()
            .map(|a| {
                vec![
                    a.id.clone(),
                    match (&a.duckdb_error, a.duckdb_seconds) {
                        (Some(_), None) => "failed".to_string(),
                        (_, s) => secs(s),
                    },
                    count(a.duckdb_rows),
                    if a.has_matched { count(a.duckdb_matched_rows) } else { "-".to_string() },
                    count(a.duckdb_evidence_tx),
                    match (a.duckdb_episode_alerts, a.duckdb_episode_tx) {
                        (Some(n), Some(t)) => format!("{} / {}", thousands(n), thousands(t)),
                        _ => "-".to_string(),
                    },
                    thousands(a.mirrorflow_alerts),
                    thousands(a.mirrorflow_evidence_tx),
                    count(a.only_duckdb),
                    count(a.only_mirrorflow),
                    a.agreement.label().to_string(),
                ]
            })
            .collect();
        out.push_str(&render_markdown_table(&headers, &rows, &[0, 10]));

        let notes = size_notes(x);
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                let _ = writeln!(out, "- note: {n}");
            }
        }
    }
    out
}

/// The notes under one size's tables.
fn size_notes(x: &SizeResult) -> Vec<String> {
    let mut notes = Vec::new();
    let mf = x.mirrorflow_runs.iter().min_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
    if let Some(f) = mf {
        if f.rows_quarantined > 0 {
            notes.push(format!(
                "mirrorflow read {} rows and quarantined {} of them",
                thousands(f.rows_read),
                thousands(f.rows_quarantined)
            ));
        }
        notes.push(format!(
            "mirrorflow's own timing of its fastest replay (summary.json): {:.3} s; {} alerts",
            f.summary_seconds,
            thousands(f.alerts_written)
        ));
    }
    let differing: Vec<String> = x
        .mirrorflow_runs
        .iter()
        .filter(|r| r.alerts_by_rule != x.reference.alerts_by_rule)
        .map(|r| thousands(r.alerts_written))
        .collect();
    if !differing.is_empty() {
        notes.push(format!(
            "timed replays wrote other alert counts ({}) than the reference replay ({}): replays are meant to be \
             deterministic",
            differing.join(", "),
            thousands(x.reference.alerts_written)
        ));
    }
    if let Some(d) = x.duckdb.as_ref().filter(|d| d.rows != x.reference.rows_accepted) {
        notes.push(format!(
            "DuckDB loaded {} rows, mirrorflow accepted {}",
            thousands(d.rows),
            thousands(x.reference.rows_accepted)
        ));
    }
    if let Some(e) = &x.duckdb_error {
        notes.push(format!("DuckDB failed: {e}"));
    }
    for a in &x.rules {
        if let (Some(n), Agreement::Equal | Agreement::ClearedEpisodes) = (a.duckdb_episode_alerts, a.agreement)
            && n != a.mirrorflow_alerts
        {
            notes.push(format!(
                "{}: same evidence, but {} alerts from DuckDB's rows through the episode rules and {} from \
                 mirrorflow (episodes cut at other places)",
                a.id,
                thousands(n),
                thousands(a.mirrorflow_alerts)
            ));
        }
        if let Some(e) = &a.duckdb_error {
            notes.push(format!("{}: DuckDB cannot run it: {e}", a.id));
        }
        if !a.rewrites.is_empty() {
            notes.push(format!("{}: dialect rewrites for DuckDB: {}", a.id, a.rewrites.join("; ")));
        }
        match a.agreement {
            Agreement::Equal | Agreement::NotCompared => {}
            Agreement::ClearedEpisodes => notes.push(format!(
                "{}: {} tx_ids only in DuckDB's matched rows (e.g. {}): all in episodes a later row cleared \
                 (`matched` false), which mirrorflow drops and a batch cannot know of; through mirrorflow's \
                 episode rules DuckDB's rows give exactly mirrorflow's evidence",
                a.id,
                count(a.only_duckdb),
                examples(&a.examples_only_duckdb)
            )),
            Agreement::Differs => notes.push(format!(
                "{}: evidence DIFFERS ({} only in DuckDB's rows, {} only in mirrorflow's alerts); after mirrorflow's \
                 episode rules still {} tx_ids only in DuckDB (e.g. {}) and {} only in mirrorflow (e.g. {})",
                a.id,
                count(a.only_duckdb),
                count(a.only_mirrorflow),
                count(a.unexplained_only_duckdb),
                examples(&a.examples_only_duckdb),
                count(a.unexplained_only_mirrorflow),
                examples(&a.examples_only_mirrorflow),
            )),
        }
    }
    notes
}

// ---------------------------------------------------------------------------------------
// Running it

/// The files of one generated rules ledger and the runs' outputs beside it.
struct RulesLedger {
    dir: PathBuf,
    transactions: PathBuf,
    /// The reference replay's output (`ordered.parquet`, `alerts.jsonl`).
    reference_out: PathBuf,
    /// The timed replays' output (overwritten by each run).
    timed_out: PathBuf,
    /// Where DuckDB writes each rule's evidence.
    evidence: PathBuf,
}

impl RulesLedger {
    fn at(data_dir: &Path, rows: u64) -> Self {
        let dir = data_dir.join(format!("rules-{rows}"));
        let runs = dir.join("runs");
        RulesLedger {
            transactions: dir.join("transactions.parquet"),
            reference_out: runs.join("reference"),
            timed_out: runs.join("timed"),
            evidence: runs.join("duckdb-evidence"),
            dir,
        }
    }
}

/// Makes sure `data_dir/rules-<rows>/` holds a complete Parquet ledger of `rows` rows made
/// with `seed`, generating it if not.
fn ensure_rules_ledger(exe: &Path, data_dir: &Path, rows: u64, seed: u64) -> Result<RulesLedger> {
    let ledger = RulesLedger::at(data_dir, rows);
    if ledger_is_current(&ledger.dir, rows, seed, "parquet", &[&ledger.transactions]) {
        return Ok(ledger);
    }
    generate_ledger(exe, &ledger.dir, rows, seed, "parquet")?;
    if !ledger.transactions.is_file() {
        return Err(Error::input(&ledger.dir, "`mirrorflow gen` wrote no transactions.parquet"));
    }
    Marker::new(rows, seed, "parquet").write(&ledger.dir)?;
    Ok(ledger)
}

/// The user's config text (TOML) with `output.write-ordered = true` set.
pub fn with_write_ordered(user_toml: &str) -> std::result::Result<String, String> {
    let mut table: toml::Table = toml::from_str(user_toml).map_err(|e| e.to_string())?;
    let output = table.entry("output").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(output) = output else { return Err("`output` is not a table".to_string()) };
    output.insert("write-ordered".to_string(), toml::Value::Boolean(true));
    toml::to_string(&table).map_err(|e| e.to_string())
}

/// One `mirrorflow [--config C] replay LEDGER --out OUT --progress off` child.
fn run_replay(exe: &Path, ledger: &Path, out: &Path, config: Option<&Path>) -> Result<ReplayRun> {
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    let mut cmd = Command::new(exe);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.arg("replay").arg(ledger).arg("--out").arg(out).args(["--progress", "off"]);
    let m = run_measured(&mut cmd).map_err(|e| Error::io(exe, e))?;
    if !m.status.success() {
        return Err(Error::input(ledger, child_failure("mirrorflow replay", m.status, &m.stderr)));
    }
    let path = out.join("summary.json");
    let json = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    parse_summary(&json, m.seconds, m.peak_rss_bytes).map_err(|why| Error::input(&path, why))
}

/// What the DuckDB script needs besides the ledger.
struct DuckdbSetup {
    script: PathBuf,
    rules_json: PathBuf,
    fx_default: PathBuf,
    info: DuckdbInfo,
}

/// One `python3 duckdb_rules.py` child; the error is a note for the report.
fn run_duckdb_rules(
    python: &str,
    setup: &DuckdbSetup,
    ordered: &Path,
    ledger: &Path,
    evidence_out: Option<&Path>,
) -> std::result::Result<DuckdbRulesRun, String> {
    let mut cmd = Command::new(python);
    cmd.arg(&setup.script).arg("--ordered").arg(ordered).arg("--ledger").arg(ledger);
    cmd.arg("--rules").arg(&setup.rules_json).arg("--fx-default").arg(&setup.fx_default);
    cmd.arg("--threads").arg(DUCKDB_THREADS.to_string());
    if let Some(e) = evidence_out {
        cmd.arg("--evidence-out").arg(e);
    }
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run `{python}`: {e}"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(child_failure("duckdb_rules.py", output.status, &err));
    }
    parse_duckdb_rules_line(&String::from_utf8_lossy(&output.stdout))
}

/// Runs the rules benchmark and returns the report to print.
pub fn run_rules_bench(opts: &RulesBenchOptions) -> Result<String> {
    let report = measure_rules_bench(opts)?;
    if let Some(path) = &opts.json_out {
        write_json(path, &report)?;
    }
    Ok(format_rules_report(&report))
}

/// Runs the rules benchmark and returns what it measured (`mirrorflow-bench pipeline --peers`
/// takes its headline rows).
pub fn measure_rules_bench(opts: &RulesBenchOptions) -> Result<RulesBenchReport> {
    let errors = check_sizes(&opts.rows, opts.repeats);
    if !errors.is_empty() {
        return Err(Error::Usage(errors.join("; ")));
    }
    let cfg = Config::load(opts.config.as_deref())?;
    let Some(rules_cfg) = cfg.rules.clone() else {
        return Err(Error::Usage(
            "the config turns the rules off (`rules.enabled = false`): nothing to benchmark".into(),
        ));
    };
    let set = RuleSet::load(&rules_cfg)?;
    if set.rules.is_empty() {
        return Err(Error::Usage("every rule is disabled in the config: nothing to benchmark".into()));
    }
    let exe = crate::harness::product_exe()?;
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| Error::io(&opts.data_dir, e))?;

    // The reference replay's config: the user's over the bench's base (no future-date
    // guard: `harness::REPLAY_BASE_TOML`), plus write-ordered.
    let user_toml = match &opts.config {
        Some(p) => std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        None => String::new(),
    };
    let user_toml = crate::harness::merge_config(crate::harness::REPLAY_BASE_TOML, &user_toml)
        .map_err(|e| Error::Config(vec![e]))?;
    let ordered_config = opts.data_dir.join("bench-rules-ordered.toml");
    let text = with_write_ordered(&user_toml).map_err(|e| Error::Config(vec![e]))?;
    std::fs::write(&ordered_config, text).map_err(|e| Error::io(&ordered_config, e))?;

    let sql = rules_sql(&set);
    let (duckdb, duckdb_note) = if opts.duckdb {
        let script = write_script(&opts.data_dir, "duckdb_rules.py", DUCKDB_RULES_SCRIPT)?;
        let fx_default = write_script(&opts.data_dir, "fx_default.csv", mirrorflow::ingest::tables::DEFAULT_FX_CSV)?;
        let rules_json = opts.data_dir.join("bench-rules.json");
        write_json(&rules_json, &sql)?;
        match probe_duckdb(&opts.python, &script) {
            Ok(info) => (Some(DuckdbSetup { script, rules_json, fx_default, info }), None),
            Err(note) => (None, Some(note)),
        }
    } else {
        (None, Some("DuckDB not measured (--no-duckdb)".to_string()))
    };
    if let Some(note) = &duckdb_note {
        tracing::warn!("{note}");
    }

    let mut results = Vec::new();
    for &size in &opts.rows {
        let ledger = ensure_rules_ledger(&exe, &opts.data_dir, size, opts.seed)?;
        tracing::info!("bench rules: {size} rows: reference replay (writes ordered.parquet and the alerts compared)");
        let reference = run_replay(&exe, &ledger.dir, &ledger.reference_out, Some(&ordered_config))?;
        let ordered = ledger.reference_out.join("ordered.parquet");
        let ordered_bytes = std::fs::metadata(&ordered).map_err(|e| Error::io(&ordered, e))?.len();
        let alerts_path = ledger.reference_out.join("alerts.jsonl");
        let alerts = std::fs::read_to_string(&alerts_path).map_err(|e| Error::io(&alerts_path, e))?;
        let mf_evidence = parse_alerts(&alerts).map_err(|why| Error::input(&alerts_path, why))?;

        tracing::info!("bench rules: {size} rows: {} run(s) per engine", opts.repeats);
        let (mut mf_runs, mut duck_runs) = (Vec::new(), Vec::new());
        let mut duckdb_error = None;
        let mut evidence: Option<BTreeMap<String, DuckdbEvidence>> = None;
        for i in 0..opts.repeats {
            mf_runs.push(run_replay(&exe, &ledger.dir, &ledger.timed_out, opts.config.as_deref())?);
            let Some(setup) = duckdb.as_ref().filter(|_| duckdb_error.is_none()) else { continue };
            // The first run also writes each rule's evidence (untimed).
            let evidence_out = (i == 0).then_some(ledger.evidence.as_path());
            if let Some(e) = evidence_out.filter(|e| e.exists()) {
                std::fs::remove_dir_all(e).map_err(|err| Error::io(e, err))?;
            }
            match run_duckdb_rules(&opts.python, setup, &ordered, &ledger.dir, evidence_out) {
                Ok(r) => {
                    if let Some(dir) = evidence_out {
                        evidence = Some(read_evidence_dir(dir, &r, &sql)?);
                    }
                    duck_runs.push(r);
                }
                Err(e) => duckdb_error = Some(e),
            }
        }
        let runs: Vec<Run> = mf_runs
            .iter()
            .map(|r| Run { rows: r.rows_read, seconds: r.wall_seconds, peak_rss_bytes: r.peak_rss_bytes })
            .collect();
        let mirrorflow = best_of(&runs).ok_or_else(|| Error::Internal("no mirrorflow run".into()))?;
        let duck = if duckdb_error.is_some() { None } else { duckdb_best(&duck_runs) };
        let first = duck_runs.first();
        let rules = sql
            .iter()
            .map(|r| {
                let fastest = duck.as_ref().and_then(|d| d.rules.iter().find(|x| x.id == r.id));
                let ran = fastest.or_else(|| first.and_then(|f| f.rules.iter().find(|x| x.id == r.id)));
                compare_rule(&r.id, ran, evidence.as_ref().and_then(|e| e.get(&r.id)), &mf_evidence)
            })
            .collect();
        results.push(SizeResult {
            size,
            ledger: ledger.dir.clone(),
            ordered_parquet: ordered,
            ordered_parquet_bytes: ordered_bytes,
            reference,
            ratio: duck.as_ref().map(|d| mirrorflow.seconds / d.total_seconds.max(1e-9)),
            mirrorflow,
            mirrorflow_runs: mf_runs,
            duckdb: duck,
            duckdb_error,
            rules,
        });
    }

    let report = RulesBenchReport {
        machine: Machine::detect(&opts.python, duckdb.map(|d| d.info)),
        repeats: opts.repeats,
        seed: opts.seed,
        config: opts.config.clone(),
        rules: sql.iter().map(|r| r.id.clone()).collect(),
        goal_ratio: GOAL_RATIO,
        goal_ratio_large: GOAL_RATIO_LARGE,
        large_rows: LARGE_ROWS,
        goal_rows_per_second: GOAL_ROWS_PER_SECOND,
        results,
        duckdb_note,
    };
    Ok(report)
}

/// DuckDB's evidence for each rule that ran, from the result rows it wrote to `dir`.
fn read_evidence_dir(dir: &Path, run: &DuckdbRulesRun, rules: &[RuleSql]) -> Result<BTreeMap<String, DuckdbEvidence>> {
    let mut out = BTreeMap::new();
    for r in run.rules.iter().filter(|r| r.ok) {
        let Some(rule) = rules.iter().find(|x| x.id == r.id) else { continue };
        let path = dir.join(format!("{}.jsonl", r.id));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let rows = parse_result_rows(&text).map_err(|why| Error::input(&path, why))?;
        out.insert(r.id.clone(), duckdb_evidence(rule, &rows, r.has_matched));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const SUMMARY: &str = r#"{"mirrorflow_version": "0.1.0", "command": "replay", "inputs": ["x"],
        "rows_read": 1000, "rows_accepted": 998, "rows_quarantined": 2, "rows_outside_range": 0,
        "reconciled": true, "alerts_written": 7, "alerts_by_rule": {"010_structuring": 5, "040_pass_through": 2},
        "alerts_by_typology": {"T1": 5, "T4": 2}, "timings": {"total_seconds": 1.25, "rows_per_second": 798.4}}"#;

    #[test]
    fn parses_the_replay_summary() {
        let r = parse_summary(SUMMARY, 1.5, Some(64 << 20)).unwrap();
        assert_eq!((r.rows_read, r.rows_accepted, r.rows_quarantined, r.alerts_written), (1000, 998, 2, 7));
        assert_eq!(r.alerts_by_rule["040_pass_through"], 2);
        assert_eq!((r.wall_seconds, r.summary_seconds, r.peak_rss_bytes), (1.5, 1.25, Some(64 << 20)));
        assert!(parse_summary("{}", 1.0, None).unwrap_err().contains("summary.json"));
    }

    fn duck_line(total: f64, peak: u64) -> String {
        format!(
            "{{\"duckdb_version\": \"2.0.1\", \"threads\": 2, \"rows\": 1000, \"accounts_rows\": 50, \
             \"fx_rate_rows\": 10, \"load_seconds\": 0.25, \"rules_seconds\": {r}, \"total_seconds\": {total}, \
             \"peak_rss_bytes\": {peak}, \"rules\": [\
             {{\"id\": \"010_structuring\", \"ok\": true, \"error\": null, \"seconds\": {r}, \"rows\": 12, \
               \"has_matched\": false, \"matched_rows\": null, \"evidence_tx\": 30, \"rewrites\": []}}, \
             {{\"id\": \"120_precursor_supplier\", \"ok\": false, \"error\": \"Catalog Error: no such function\", \
               \"seconds\": null, \"rows\": null, \"has_matched\": false, \"matched_rows\": null, \
               \"evidence_tx\": null, \"rewrites\": [\"regexp_like -> regexp_matches\"]}}]}}",
            r = total - 0.25
        )
    }

    #[test]
    fn parses_the_duckdb_line_after_other_output() {
        let d = parse_duckdb_rules_line(&format!("a warning\n{}\n", duck_line(1.0, 100))).unwrap();
        assert_eq!((d.rows, d.threads, d.load_seconds, d.total_seconds), (1000, 2, 0.25, 1.0));
        assert_eq!(d.rules.len(), 2);
        assert!(d.rules[0].ok && !d.rules[1].ok);
        assert_eq!(d.rules[1].rewrites, vec!["regexp_like -> regexp_matches".to_string()]);
        assert!(parse_duckdb_rules_line("nothing\n").unwrap_err().contains("`duckdb_rules.py` printed no JSON line"));
        assert!(parse_duckdb_rules_line("{\"rows\": 1}").unwrap_err().contains("cannot parse"));
    }

    #[test]
    fn duckdb_best_takes_the_fastest_total_and_the_highest_peak() {
        let runs: Vec<DuckdbRulesRun> = [(2.0, 300), (1.0, 100), (1.5, 200)]
            .iter()
            .map(|&(t, p)| parse_duckdb_rules_line(&duck_line(t, p)).unwrap())
            .collect();
        let b = duckdb_best(&runs).unwrap();
        assert_eq!((b.total_seconds, b.rules_seconds, b.load_seconds), (1.0, 0.75, 0.25));
        assert_eq!(b.rows_per_second, 1000.0);
        assert_eq!(b.peak_rss_bytes, Some(300));
        assert_eq!(b.runs_total_seconds, vec![2.0, 1.0, 1.5]);
        assert_eq!(b.rules[0].seconds, Some(0.75));
        assert_eq!(duckdb_best(&[]), None);
    }

    #[test]
    fn alerts_are_summed_per_rule() {
        let jsonl = concat!(
            r#"{"alert_id": "a", "rule_id": "010_structuring", "tx_ids": ["t1", "t2"], "subjects": ["S"]}"#,
            "\n\n",
            r#"{"alert_id": "b", "rule_id": "010_structuring", "tx_ids": ["t2", "t3"]}"#,
            "\n",
            r#"{"alert_id": "c", "rule_id": "040_pass_through", "tx_ids": ["t9"]}"#,
            "\n"
        );
        let ev = parse_alerts(jsonl).unwrap();
        assert_eq!(ev.alerts["010_structuring"], 2);
        assert_eq!(ev.tx_ids["010_structuring"], set(&["t1", "t2", "t3"]));
        assert_eq!(ev.tx_ids["040_pass_through"], set(&["t9"]));
        let e = parse_alerts("{\"rule_id\": \"x\"}\nnot json\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    const DAY: i64 = 86_400_000_000;

    fn rule(gap_days: i64) -> RuleSql {
        RuleSql {
            id: "050_profile_mismatch".into(),
            version: "2".into(),
            source: "test".into(),
            episode_gap_us: gap_days * DAY,
            sql: String::new(),
        }
    }

    /// A result row anchored on day `day` (seq = day), evidence `ids` from day `first` on.
    fn row(subject: &str, day: i64, first: i64, ids: &[&str], matched: Option<bool>) -> ResultRow {
        ResultRow {
            subject: Some(subject.into()),
            tx_ids: Some(ids.iter().map(|s| Some(s.to_string())).chain([None]).collect()),
            first_us: Some(first * DAY),
            last_us: Some(day * DAY),
            anchor_us: Some(day * DAY),
            anchor_seq: Some(day as u64),
            matched,
        }
    }

    #[test]
    fn result_rows_are_read_as_the_script_writes_them() {
        let jsonl = concat!(
            r#"{"subject":"S","tx_ids":["a",null],"first_us":1,"last_us":2,"anchor_us":3,"anchor_seq":4,"matched":true}"#,
            "\n",
            r#"{"subject":null,"tx_ids":null,"first_us":null,"last_us":null,"anchor_us":null,"anchor_seq":null,"matched":null}"#,
            "\n\n"
        );
        let rows = parse_result_rows(jsonl).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].tx_ids, Some(vec![Some("a".to_string()), None]));
        assert_eq!((rows[0].anchor_us, rows[0].anchor_seq, rows[0].matched), (Some(3), Some(4), Some(true)));
        assert_eq!(rows[1].subject, None);
        assert!(parse_result_rows("{}\n{").unwrap_err().contains("result row 2"));
    }

    #[test]
    fn episodes_grow_close_and_are_cleared_like_the_engine_does() {
        let rows = vec![
            // S1: two matches sharing evidence within the gap: one episode.
            row("S1", 10, 1, &["a", "b"], Some(true)),
            row("S1", 12, 1, &["a", "b", "c"], Some(true)),
            // S2: matched, then cleared by a later row sharing evidence: no alert.
            row("S2", 10, 5, &["x"], Some(true)),
            row("S2", 11, 5, &["x", "y"], Some(false)),
            // S3: matched, then a match beyond the gap: two episodes.
            row("S3", 10, 9, &["p"], Some(true)),
            row("S3", 20, 19, &["q"], Some(true)),
            // S4: alerted (the gap passed), so a later clearing row changes nothing.
            row("S4", 10, 9, &["m"], Some(true)),
            row("S4", 20, 12, &["m", "n"], Some(false)),
            // Rows a rule with `matched` leaves NULL count as not matched; no evidence: skipped.
            row("S5", 10, 9, &["z"], None),
            row("S6", 10, 9, &[], Some(true)),
        ];
        let ev = duckdb_evidence(&rule(3), &rows, true);
        assert_eq!(ev.raw, set(&["a", "b", "c", "x", "p", "q", "m"]));
        assert_eq!(ev.episodes.tx_ids, set(&["a", "b", "c", "p", "q", "m"]));
        assert_eq!(ev.episodes.alerts, 4);

        // Without a `matched` column every row counts, and nothing clears.
        let ev = duckdb_evidence(&rule(3), &rows[2..4], false);
        assert_eq!((ev.episodes.alerts, ev.episodes.tx_ids.clone()), (1, set(&["x", "y"])));
        assert_eq!(ev.raw, set(&["x", "y"]));
    }

    #[test]
    fn an_episode_whose_evidence_was_alerted_is_not_alerted_again() {
        // The second match shares no evidence with the open episode, so that one closes;
        // the third repeats the first's evidence after the gap: nothing new to alert.
        let rows = vec![
            row("S", 10, 9, &["a"], Some(true)),
            row("S", 11, 11, &["b"], Some(true)),
            row("S", 30, 9, &["a"], Some(true)),
        ];
        let ev = duckdb_evidence(&rule(3), &rows, true);
        assert_eq!((ev.episodes.alerts, ev.episodes.tx_ids.clone()), (2, set(&["a", "b"])));
    }

    fn duck_rule(id: &str, has_matched: bool, ok: bool) -> DuckdbRuleRun {
        DuckdbRuleRun {
            id: id.into(),
            ok,
            error: (!ok).then(|| "Binder Error: boom".to_string()),
            seconds: ok.then_some(0.5),
            rows: ok.then_some(10),
            has_matched,
            matched_rows: (ok && has_matched).then_some(4),
            evidence_tx: ok.then_some(3),
            rewrites: Vec::new(),
        }
    }

    fn mf(id: &str, alerts: u64, tx: &[&str]) -> MirrorflowEvidence {
        MirrorflowEvidence { alerts: [(id.to_string(), alerts)].into(), tx_ids: [(id.to_string(), set(tx))].into() }
    }

    /// DuckDB evidence: `raw` as found, `episodes` after the episode rules (one alert).
    fn ev(raw: &[&str], episodes: &[&str]) -> DuckdbEvidence {
        DuckdbEvidence { raw: set(raw), episodes: EpisodeCount { alerts: 1, tx_ids: set(episodes) } }
    }

    #[test]
    fn evidence_sets_are_compared_per_rule() {
        let r = duck_rule("r", false, true);
        let a = compare_rule("r", Some(&r), Some(&ev(&["a", "b"], &["a", "b"])), &mf("r", 1, &["a", "b"]));
        assert_eq!(a.agreement, Agreement::Equal);
        assert_eq!(
            (a.only_duckdb, a.only_mirrorflow, a.mirrorflow_alerts, a.mirrorflow_evidence_tx),
            (Some(0), Some(0), 1, 2)
        );
        assert_eq!((a.duckdb_seconds, a.duckdb_rows, a.duckdb_evidence_tx), (Some(0.5), Some(10), Some(3)));
        assert_eq!((a.duckdb_episode_alerts, a.duckdb_episode_tx), (Some(1), Some(2)));

        // DuckDB finding more than mirrorflow, even after the episode rules: a real difference.
        let a = compare_rule("r", Some(&r), Some(&ev(&["a", "b", "c"], &["a", "b", "c"])), &mf("r", 1, &["a", "b"]));
        assert_eq!(a.agreement, Agreement::Differs);
        assert_eq!((a.only_duckdb, a.unexplained_only_duckdb), (Some(1), Some(1)));
        assert_eq!(a.examples_only_duckdb, vec!["c".to_string()]);

        // Cleared episodes explain the difference exactly.
        let m = duck_rule("m", true, true);
        let a = compare_rule("m", Some(&m), Some(&ev(&["a", "b", "c"], &["a"])), &mf("m", 1, &["a"]));
        assert_eq!(a.agreement, Agreement::ClearedEpisodes);
        assert_eq!((a.only_duckdb, a.unexplained_only_duckdb), (Some(2), Some(0)));
        assert_eq!(a.examples_only_duckdb, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(a.duckdb_matched_rows, Some(4));
        // They explain part of it only: the examples are the unexplained ones.
        let a = compare_rule("m", Some(&m), Some(&ev(&["a", "b", "c"], &["a", "c"])), &mf("m", 1, &["a", "z"]));
        assert_eq!(a.agreement, Agreement::Differs);
        assert_eq!((a.unexplained_only_duckdb, a.unexplained_only_mirrorflow), (Some(1), Some(1)));
        assert_eq!(a.examples_only_duckdb, vec!["c".to_string()]);
        assert_eq!(a.examples_only_mirrorflow, vec!["z".to_string()]);

        // A rule neither engine found anything for.
        let a = compare_rule("r", Some(&r), Some(&DuckdbEvidence::default()), &MirrorflowEvidence::default());
        assert_eq!((a.agreement, a.mirrorflow_alerts), (Agreement::Equal, 0));
    }

    #[test]
    fn rules_duckdb_did_not_run_are_not_compared() {
        let failed = duck_rule("r", false, false);
        let a = compare_rule("r", Some(&failed), Some(&ev(&["a"], &["a"])), &mf("r", 1, &["a"]));
        assert_eq!(a.agreement, Agreement::NotCompared);
        assert_eq!(a.duckdb_error.as_deref(), Some("Binder Error: boom"));
        let a = compare_rule("r", None, None, &mf("r", 2, &["a"]));
        assert_eq!((a.agreement, a.mirrorflow_alerts, a.only_duckdb), (Agreement::NotCompared, 2, None));
    }

    #[test]
    fn the_reference_config_turns_write_ordered_on_and_keeps_the_rest() {
        let text = with_write_ordered("").unwrap();
        assert!(Config::from_toml_str(&text).unwrap().write_ordered, "{text}");
        let user = "[output]\nprogress = \"off\"\n\n[rules]\ndisabled = [\"120_precursor_supplier\"]\n";
        let cfg = Config::from_toml_str(&with_write_ordered(user).unwrap()).unwrap();
        assert!(cfg.write_ordered);
        assert_eq!(cfg.rules.unwrap().disabled, vec!["120_precursor_supplier".to_string()]);
        assert!(with_write_ordered("output = 3").unwrap_err().contains("not a table"));
        assert!(with_write_ordered("[broken").is_err());
    }

    #[test]
    fn ledger_and_runs_live_under_the_size_directory() {
        let l = RulesLedger::at(Path::new("bench-data"), 1000);
        assert_eq!(l.transactions, Path::new("bench-data/rules-1000/transactions.parquet"));
        assert_eq!(l.reference_out, Path::new("bench-data/rules-1000/runs/reference"));
        assert_eq!(l.timed_out, Path::new("bench-data/rules-1000/runs/timed"));
        assert_eq!(l.evidence, Path::new("bench-data/rules-1000/runs/duckdb-evidence"));
    }

    fn replay_run(wall: f64, alerts: u64) -> ReplayRun {
        ReplayRun {
            wall_seconds: wall,
            peak_rss_bytes: Some(200 << 20),
            rows_read: 1_000_000,
            rows_accepted: 1_000_000,
            rows_quarantined: 0,
            alerts_written: alerts,
            alerts_by_rule: [("010_structuring".to_string(), alerts)].into(),
            summary_seconds: wall - 0.1,
        }
    }

    fn report(release: bool, duckdb: bool) -> RulesBenchReport {
        let runs = vec![replay_run(2.5, 3), replay_run(2.0, 3)];
        let mirrorflow = best_of(
            &runs
                .iter()
                .map(|r| Run { rows: r.rows_read, seconds: r.wall_seconds, peak_rss_bytes: r.peak_rss_bytes })
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let duck = duckdb.then(|| DuckdbBest {
            rows: 1_000_000,
            load_seconds: 0.2,
            rules_seconds: 0.8,
            total_seconds: 1.0,
            rows_per_second: 1_000_000.0,
            peak_rss_bytes: Some(512 << 20),
            runs_total_seconds: vec![1.0],
            rules: vec![duck_rule("010_structuring", false, true), duck_rule("050_profile_mismatch", true, true)],
        });
        let mf_ev = MirrorflowEvidence {
            alerts: [("010_structuring".to_string(), 3), ("050_profile_mismatch".to_string(), 1)].into(),
            tx_ids: [
                ("010_structuring".to_string(), set(&["a", "b", "c"])),
                ("050_profile_mismatch".to_string(), set(&["m1"])),
            ]
            .into(),
        };
        let d = duck.as_ref();
        let rules = vec![
            compare_rule(
                "010_structuring",
                d.map(|d| &d.rules[0]),
                duckdb.then(|| ev(&["a", "b", "c"], &["a", "b", "c"])).as_ref(),
                &mf_ev,
            ),
            compare_rule(
                "050_profile_mismatch",
                d.map(|d| &d.rules[1]),
                duckdb.then(|| ev(&["m1", "m2"], &["m1"])).as_ref(),
                &mf_ev,
            ),
        ];
        RulesBenchReport {
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                mem_total_bytes: Some(24 << 30),
                mirrorflow_version: "0.1.0".into(),
                release_build: release,
                python: "python3".into(),
                duckdb: duckdb.then(|| DuckdbInfo { duckdb_version: "2.0.1".into(), threads: 2 }),
            },
            repeats: 2,
            seed: 42,
            config: None,
            rules: vec!["010_structuring".into(), "050_profile_mismatch".into()],
            goal_ratio: GOAL_RATIO,
            goal_ratio_large: GOAL_RATIO_LARGE,
            large_rows: LARGE_ROWS,
            goal_rows_per_second: GOAL_ROWS_PER_SECOND,
            results: vec![SizeResult {
                size: 1_000_000,
                ledger: "bench-data/rules-1000000".into(),
                ordered_parquet: "bench-data/rules-1000000/runs/reference/ordered.parquet".into(),
                ordered_parquet_bytes: 50 << 20,
                reference: replay_run(3.0, 3),
                ratio: duck.as_ref().map(|d| mirrorflow.seconds / d.total_seconds),
                mirrorflow,
                mirrorflow_runs: runs,
                duckdb: duck,
                duckdb_error: None,
                rules,
            }],
            duckdb_note: (!duckdb).then(|| "DuckDB not measured (--no-duckdb)".to_string()),
        }
    }

    /// The cells of the markdown table row that starts with `first`.
    fn cells<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
        let line = text
            .lines()
            .find(|l| l.trim_start_matches('|').trim_start().starts_with(first))
            .unwrap_or_else(|| panic!("no row {first} in\n{text}"));
        line.trim_matches('|').split('|').map(str::trim).collect()
    }

    #[test]
    fn report_shows_both_engines_side_by_side() {
        let text = format_rules_report(&report(true, true));
        assert!(!text.contains("DEBUG"), "{text}");
        assert!(text.contains("machine: 2 CPUs (nproc), Test CPU, 24.0 GiB RAM"), "{text}");
        assert!(text.contains("DuckDB 2.0.1 via `python3`, 2 threads"), "{text}");
        assert!(text.contains("## 1,000,000 rows (`bench-data/rules-1000000`)"), "{text}");
        assert_eq!(cells(&text, "2.000"), ["2.000", "500,000", "200.0", "0.200", "0.800", "1.000", "512.0", "2.00"]);
        assert!(text.contains("aim: ratio 2.00 vs 1.5: NOT met; 500,000 rows/s vs 500,000: met"), "{text}");
        assert_eq!(
            cells(&text, "010_structuring"),
            ["010_structuring", "0.500", "10", "-", "3", "1 / 3", "3", "3", "0", "0", "equal"]
        );
        assert_eq!(
            cells(&text, "050_profile_mismatch"),
            ["050_profile_mismatch", "0.500", "10", "4", "3", "1 / 1", "1", "1", "1", "0", "equal after clearing"]
        );
        assert!(
            text.contains("050_profile_mismatch: 1 tx_ids only in DuckDB's matched rows (e.g. m2): all in episodes"),
            "{text}"
        );
        // The episode rules gave 1 alert for 010 where mirrorflow wrote 3: said, not failed.
        assert!(text.contains("010_structuring: same evidence, but 1 alerts from DuckDB's rows"), "{text}");
        // Markdown: a header rule with right-aligned numbers.
        assert!(text.lines().any(|l| l.starts_with("| ---") && l.contains("-: |")), "{text}");
    }

    #[test]
    fn report_flags_debug_builds_missed_goals_and_differences() {
        let mut r = report(false, true);
        let x = &mut r.results[0];
        x.ratio = Some(2.5);
        x.mirrorflow.rows_per_second = 400_000.0;
        x.rules[0].agreement = Agreement::Differs;
        x.rules[0].only_mirrorflow = Some(1);
        x.rules[0].unexplained_only_mirrorflow = Some(1);
        x.rules[0].examples_only_mirrorflow = vec!["zz".into()];
        x.mirrorflow_runs[0].alerts_by_rule.insert("040_pass_through".into(), 1);
        let text = format_rules_report(&r);
        assert!(text.contains("**DEBUG build: the figures mean nothing**"), "{text}");
        assert!(text.contains("ratio 2.50 vs 1.5: NOT met; 400,000 rows/s vs 500,000: NOT met"), "{text}");
        // From 10M rows on the aim is DuckDB's batch time itself.
        let mut large = r.clone();
        large.results[0].size = LARGE_ROWS;
        large.results[0].ratio = Some(1.2);
        let large = format_rules_report(&large);
        assert!(large.contains("ratio 1.20 vs 1.0: NOT met"), "{large}");
        assert!(
            text.contains(
                "010_structuring: evidence DIFFERS (0 only in DuckDB's rows, 1 only in mirrorflow's alerts); after \
                 mirrorflow's episode rules still 0 tx_ids only in DuckDB (e.g. -) and 1 only in mirrorflow (e.g. zz)"
            ),
            "{text}"
        );
        assert!(text.contains("timed replays wrote other alert counts"), "{text}");
    }

    #[test]
    fn report_without_duckdb_keeps_mirrorflow() {
        let text = format_rules_report(&report(true, false));
        assert_eq!(cells(&text, "2.000"), ["2.000", "500,000", "200.0", "-", "-", "-", "-", "-"]);
        assert!(text.contains("note: DuckDB not measured (--no-duckdb)"), "{text}");
        assert!(text.contains("aim: ratio: no DuckDB figure"), "{text}");
        assert_eq!(
            cells(&text, "010_structuring"),
            ["010_structuring", "-", "-", "-", "-", "-", "3", "3", "-", "-", "not compared"]
        );
    }

    #[test]
    fn report_json_has_the_figures() {
        let v = serde_json::to_value(report(true, true)).unwrap();
        let x = &v["results"][0];
        assert_eq!(x["ratio"], 2.0);
        assert_eq!(x["duckdb"]["total_seconds"], 1.0);
        assert_eq!(x["mirrorflow"]["peak_rss_bytes"], 200 << 20);
        assert_eq!(x["rules"][1]["agreement"], "cleared_episodes");
        assert_eq!(x["rules"][0]["only_duckdb"], 0);
        assert_eq!(x["rules"][1]["unexplained_only_duckdb"], 0);
        assert_eq!(x["rules"][1]["duckdb_episode_tx"], 1);
        assert_eq!(v["goal_ratio"], 1.5);
        assert_eq!(v["goal_ratio_large"], 1.0);
    }

    #[test]
    fn the_duckdb_script_translates_the_dialect() {
        // Pure Python (no duckdb needed): the script's own checks of its dialect mapping.
        let dir = tempfile::tempdir().unwrap();
        let script = write_script(dir.path(), "duckdb_rules.py", DUCKDB_RULES_SCRIPT).unwrap();
        let out = match Command::new("python3").arg(&script).arg("--self-test").output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("skipped: no python3 ({e})");
                return;
            }
        };
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
