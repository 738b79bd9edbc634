//! `mirrorflow-bench pipeline`: whole replays of generated ledgers of several shapes, side
//! by side in one run: rows/s, each stage's milliseconds per million rows
//! (`summary.json` `timings.stages`), peak memory, and the aims of issue 17.
//!
//! Owns: the shapes (a ledger directory each, plus an optional config TOML), their ledgers
//! under `data_dir/pipeline-<ledger>-<rows>/` (made once with `mirrorflow gen` or by a
//! deterministic transform of a generated `transactions.csv`, reused while their marker
//! matches), the timed `mirrorflow replay` children (best of `repeats`, peak `VmHWM`), the
//! leg-matching floor (a plain Rust window join over the default ledger), the peers'
//! headline rows (`--peers`: the `rules` and `graph` benchmarks' own measurements), and
//! the report (markdown; JSON on request).
//! Must not: replay in-process (each measurement is a fresh child with its own peak
//! memory), re-implement the peers' runs (it calls `rules_bench` and `graph_bench`), or
//! run from the test suite: the tests cover the transforms and the report only.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::harness::{
    Machine, Marker, REPLAY_BASE_TOML, Run, best_of, build_note, check_sizes, child_failure, generate_ledger_with,
    ledger_is_current, machine_line, merge_config, mib, render_markdown_table, run_measured, thousands, write_json,
};
use mirrorflow::error::{Error, Result};

/// Every shape, in report order.
pub const SHAPES: [&str; 10] = [
    "default",
    "no-kyc",
    "small-sek",
    "dense",
    "hubs",
    "flow-30d",
    "cycles-5d",
    "dense-small-30d",
    "amlworld",
    "amlsim",
];

/// Bumped whenever a transform's output changes, so stale derived ledgers are remade.
pub const TRANSFORM_VERSION: u32 = 1;
/// Accounts the `dense` shapes map every account onto.
pub const DENSE_ACCOUNTS: u64 = 3_000;
/// The `hubs` shape's hub accounts...
pub const HUB_IDS: [&str; 3] = ["USHUB0000001", "USHUB0000002", "USHUB0000003"];
/// ... and the share of transfer rows (per mille) that get one endpoint replaced by a hub.
pub const HUB_SHARE_PER_MILLE: u64 = 400;
/// The vendored AMLSim ledger, relative to the workspace root.
pub const AMLSIM_DIR: &str = "fixtures/external/amlsim12k";

/// The 30-day flow windows (`flow-30d`, `dense-small-30d`).
pub const FLOW_30D_TOML: &str =
    "[graph]\nflow-window = \"30d\"\nbipartite-window = \"30d\"\ngather-scatter-window = \"30d\"\n";
/// Cycles of at most 5 days (`cycles-5d`).
pub const CYCLES_5D_TOML: &str = "[graph]\ncycle-window = \"5d\"\n";

/// Aims (issue 17): the default shapes at least this many rows/s...
pub const GOAL_DEFAULT_ROWS_PER_SECOND: f64 = 500_000.0;
/// ... every shape at least this many ...
pub const GOAL_EVERY_ROWS_PER_SECOND: f64 = 100_000.0;
/// ... and at most this peak at `GOAL_PEAK_AT_ROWS` rows.
pub const GOAL_PEAK_MIB: f64 = 1024.0;
pub const GOAL_PEAK_AT_ROWS: u64 = 10_000_000;

/// The table's stage columns: header and `timings.stages` key.
pub const STAGE_COLUMNS: [(&str, &str); 10] = [
    ("source", "source"),
    ("order", "order"),
    ("enrich", "enrich"),
    ("window", "window"),
    ("rules", "detect:rules"),
    ("graph", "detect:graph"),
    ("peel", "detect:graph_peel"),
    ("mirror", "detect:mirror"),
    ("novelty", "detect:novelty"),
    ("sinks", "sinks"),
];

/// The leg-matching floor: legs within this long after a deposit...
pub const FLOOR_WINDOW_S: i64 = 24 * 3600;
/// ... whose USD value is within this share (per mille) of the deposit's.
pub const FLOOR_BAND_PER_MILLE: i64 = 60;
/// The graph peer's window (snapml's usual 5 days).
pub const PEER_GRAPH_WINDOW_S: i64 = 5 * 86_400;

/// Options of `mirrorflow-bench pipeline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineBenchOptions {
    /// Sizes of the `default` shape (the other shapes use the first).
    pub rows: Vec<u64>,
    /// Shapes to run, out of [`SHAPES`] (default all).
    pub shapes: Vec<String>,
    pub data_dir: PathBuf,
    pub seed: u64,
    /// Replays per shape; the fastest is reported (default 1).
    pub repeats: u32,
    pub json_out: Option<PathBuf>,
    /// The user's config, under every shape's own settings.
    pub config: Option<PathBuf>,
    /// The AMLSim ledger (default `fixtures/external/amlsim12k` of the workspace).
    pub amlsim: Option<PathBuf>,
    /// Also run the peers (DuckDB on the rule SQL, snapml at a 5-day window).
    pub peers: bool,
    /// The Python with the peers' packages.
    pub python: String,
}

impl Default for PipelineBenchOptions {
    fn default() -> Self {
        PipelineBenchOptions {
            rows: vec![1_000_000, 10_000_000],
            shapes: SHAPES.iter().map(|s| s.to_string()).collect(),
            data_dir: PathBuf::from("bench-data"),
            seed: 42,
            repeats: 1,
            json_out: None,
            config: None,
            amlsim: None,
            peers: false,
            python: "python3".into(),
        }
    }
}

impl PipelineBenchOptions {
    /// Every problem with the options, reported at once.
    pub fn validate(&self) -> Result<()> {
        let mut errors = check_sizes(&self.rows, self.repeats);
        if self.shapes.is_empty() {
            errors.push("--shapes: give at least one shape".to_string());
        }
        for s in &self.shapes {
            if !SHAPES.contains(&s.as_str()) {
                errors.push(format!("--shapes: `{s}` is not one of {}", SHAPES.join(", ")));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::Usage(errors.join("; "))) }
    }

    /// The (shape, rows) pairs to run, in [`SHAPES`] order: `default` at every size, the
    /// others at the first (`amlsim` at its own size, given as 0).
    pub fn plan(&self) -> Vec<(&'static str, u64)> {
        let first = self.rows.first().copied().unwrap_or(1_000_000);
        let mut plan = Vec::new();
        for shape in SHAPES.iter().copied().filter(|s| self.shapes.iter().any(|x| x == s)) {
            match shape {
                "default" => plan.extend(self.rows.iter().map(|&r| (shape, r))),
                "amlsim" => plan.push((shape, 0)),
                _ => plan.push((shape, first)),
            }
        }
        plan
    }
}

// ---------------------------------------------------------------------------------------
// CSV records, read and rewritten without touching the fields kept

/// Reads one CSV record (RFC 4180: a quoted field may hold line breaks) into `buf`, line
/// terminator included; false at the end of input.
pub fn read_record(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let n = r.read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(!buf.is_empty());
        }
        // an even number of quotes: every quoted field is closed ("" counts twice)
        if buf.iter().filter(|&&b| b == b'"').count() % 2 == 0 {
            return Ok(true);
        }
    }
}

/// The record's content without its line terminator, and the terminator.
fn split_terminator(record: &[u8]) -> (&[u8], &[u8]) {
    let mut end = record.len();
    while end > 0 && matches!(record[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    record.split_at(end)
}

/// The byte spans of a record's fields (quotes included), commas inside quotes kept.
pub fn field_spans(content: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, &b) in content.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                spans.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    spans.push((start, content.len()));
    spans
}

/// A field's value: quotes taken off, `""` read as `"`.
pub fn field_value(raw: &[u8]) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(raw);
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        Cow::Owned(s[1..s.len() - 1].replace("\"\"", "\""))
    } else {
        s
    }
}

/// A value written as a CSV field (quoted when it must be).
fn csv_field(v: &str) -> Cow<'_, str> {
    if v.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", v.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(v)
    }
}

/// The header's column names.
fn header_names(content: &[u8]) -> Vec<String> {
    field_spans(content).iter().map(|&(a, b)| field_value(&content[a..b]).trim().to_string()).collect()
}

fn column(names: &[String], name: &str) -> std::io::Result<usize> {
    names.iter().position(|n| n == name).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the header has no `{name}` column"))
    })
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix64 finish) of `bytes` under `seed`: the
/// same on every platform and build.
pub fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Copies a transactions CSV from `input` to `out` record by record, letting `f` replace
/// the `src_account` / `dst_account` values (given the record's `tx_id`, src and dst;
/// empty when absent); every other byte is copied as it was. Returns the records
/// written (header excluded).
fn rewrite_accounts(
    input: impl BufRead,
    out: impl Write,
    mut f: impl FnMut(&str, &str, &str) -> Option<(String, String)>,
) -> std::io::Result<u64> {
    let (mut input, mut out) = (input, BufWriter::with_capacity(1 << 20, out));
    let mut buf = Vec::with_capacity(512);
    if !read_record(&mut input, &mut buf)? {
        return Ok(0);
    }
    let names = header_names(split_terminator(&buf).0);
    let (id_col, src_col, dst_col) =
        (column(&names, "tx_id")?, column(&names, "src_account")?, column(&names, "dst_account")?);
    out.write_all(&buf)?;
    let mut rows = 0u64;
    while read_record(&mut input, &mut buf)? {
        rows += 1;
        let (content, term) = split_terminator(&buf);
        let spans = field_spans(content);
        let get = |c: usize| spans.get(c).map_or(Cow::Borrowed(""), |&(a, b)| field_value(&content[a..b]));
        let Some((src, dst)) = f(&get(id_col), &get(src_col), &get(dst_col)) else {
            out.write_all(&buf)?;
            continue;
        };
        for (i, &(a, b)) in spans.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            match i {
                _ if i == src_col => out.write_all(csv_field(&src).as_bytes())?,
                _ if i == dst_col => out.write_all(csv_field(&dst).as_bytes())?,
                _ => out.write_all(&content[a..b])?,
            }
        }
        out.write_all(term)?;
    }
    out.flush()?;
    Ok(rows)
}

/// The `dense` account a ledger account maps to.
pub fn dense_account(slot: u64) -> String {
    format!("DENSE{slot:05}")
}

/// The `dense` transform: every `src_account` / `dst_account` mapped onto `accounts`
/// accounts by a stable hash of the id (an empty endpoint stays empty; where both
/// endpoints land on one account, the credited one moves to the next, so src != dst).
/// Every other field, the column order and the row count are kept.
pub fn transform_dense(input: impl BufRead, out: impl Write, seed: u64, accounts: u64) -> std::io::Result<u64> {
    let slot = |id: &str| stable_hash(seed, id.as_bytes()) % accounts;
    rewrite_accounts(input, out, |_, src, dst| {
        let s = (!src.is_empty()).then(|| slot(src));
        let mut d = (!dst.is_empty()).then(|| slot(dst));
        if let (Some(s), Some(dd)) = (s, d)
            && s == dd
        {
            d = Some((dd + 1) % accounts);
        }
        Some((s.map(dense_account).unwrap_or_default(), d.map(dense_account).unwrap_or_default()))
    })
}

/// What the `hubs` transform did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HubStats {
    pub rows: u64,
    /// Rows with both endpoints.
    pub transfers: u64,
    /// Rows given to each hub of [`HUB_IDS`].
    pub per_hub: Vec<u64>,
}

/// The `hubs` transform: a deterministic `per_mille` share of the transfer rows (both
/// endpoints present; chosen by a stable hash of `tx_id`) get one endpoint (the hash
/// picks which) replaced by one of [`HUB_IDS`]. Everything else is kept.
pub fn transform_hubs(input: impl BufRead, out: impl Write, seed: u64, per_mille: u64) -> std::io::Result<HubStats> {
    let mut stats = HubStats { per_hub: vec![0; HUB_IDS.len()], ..HubStats::default() };
    let rows = rewrite_accounts(input, out, |tx_id, src, dst| {
        if src.is_empty() || dst.is_empty() {
            return None;
        }
        stats.transfers += 1;
        let h = stable_hash(seed ^ 0x4855_4253, tx_id.as_bytes());
        if h % 1000 >= per_mille {
            return None;
        }
        let hub = ((h >> 20) % HUB_IDS.len() as u64) as usize;
        let id = HUB_IDS[hub];
        let replace_src = (h >> 40) & 1 == 0;
        // never a hub paying itself
        if (replace_src && dst == id) || (!replace_src && src == id) {
            return None;
        }
        stats.per_hub[hub] += 1;
        Some(if replace_src { (id.to_string(), dst.to_string()) } else { (src.to_string(), id.to_string()) })
    })?;
    stats.rows = rows;
    Ok(stats)
}

/// The hubs' rows for an `accounts.csv` with `header`: ordinary US businesses (a grocery
/// wholesaler each), every column the header names filled as the generator fills a
/// business, the rest empty.
pub fn hub_account_rows(header: &str) -> Vec<String> {
    let names = header_names(split_terminator(header.as_bytes()).0);
    HUB_IDS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let hex = |what: &str| format!("{:016x}", stable_hash(i as u64, format!("{id}:{what}").as_bytes()));
            let cells: Vec<String> = names
                .iter()
                .map(|n| match n.as_str() {
                    "account_id" => id.to_string(),
                    "customer_id" => format!("CHUB{:05}", i + 1),
                    "country" => "US".into(),
                    "region" => "US-NY".into(),
                    "institution" => "Great Plains Trust".into(),
                    "kind" => "business".into(),
                    "opened_at" => "2012-03-01".into(),
                    "industry" => "grocery".into(),
                    "phone_hash" | "address_hash" | "device_hash" => hex(n),
                    _ => String::new(),
                })
                .collect();
            cells.join(",")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The ledgers

/// A ledger directory ready to replay.
struct ShapeLedger {
    dir: PathBuf,
    /// What was done to make it (hub counts), for the notes.
    note: Option<String>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// `data_dir/pipeline-<name>-<rows>/`, made by `mirrorflow gen` with `extra` if not current.
fn gen_ledger(exe: &Path, data_dir: &Path, name: &str, rows: u64, seed: u64, extra: &[&str]) -> Result<PathBuf> {
    let dir = data_dir.join(format!("pipeline-{name}-{rows}"));
    let key = format!("pipeline:{name}:{}", extra.join(" "));
    if ledger_is_current(&dir, rows, seed, &key, &[&dir.join("transactions.csv")]) {
        return Ok(dir);
    }
    generate_ledger_with(exe, &dir, rows, seed, "csv", extra)?;
    if !dir.join("transactions.csv").is_file() {
        return Err(Error::input(&dir, "`mirrorflow gen` wrote no transactions.csv"));
    }
    Marker::new(rows, seed, &key).write(&dir)?;
    Ok(dir)
}

/// `data_dir/pipeline-<name>-<rows>/`, made by `make(base, dir)` from the ledger `base` if
/// not current (the marker carries the transform version).
fn derived_ledger(
    data_dir: &Path,
    name: &str,
    rows: u64,
    seed: u64,
    base: &Path,
    make: impl FnOnce(&Path, &Path) -> Result<()>,
) -> Result<PathBuf> {
    let dir = data_dir.join(format!("pipeline-{name}-{rows}"));
    let key = format!("pipeline:{name}:from:{}:v{TRANSFORM_VERSION}", base.display());
    if ledger_is_current(&dir, rows, seed, &key, &[&dir.join("transactions.csv")]) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    tracing::info!("bench pipeline: making `{}` from `{}` (once)", dir.display(), base.display());
    make(base, &dir)?;
    Marker::new(rows, seed, &key).write(&dir)?;
    Ok(dir)
}

/// Hard-links `name` of `from` into `to` (copies where links are not possible).
fn link_or_copy(from: &Path, to: &Path, name: &str) -> Result<()> {
    let (src, dst) = (from.join(name), to.join(name));
    if !src.is_file() {
        return Ok(());
    }
    if std::fs::hard_link(&src, &dst).is_err() {
        std::fs::copy(&src, &dst).map_err(io_err(&dst))?;
    }
    Ok(())
}

/// Streams `base/transactions.csv` through `t` into `dir/transactions.csv` (via a
/// temporary file).
fn transform_file<T>(
    base: &Path,
    dir: &Path,
    t: impl FnOnce(BufReader<std::fs::File>, std::fs::File) -> std::io::Result<T>,
) -> Result<T> {
    let (src, dst) = (base.join("transactions.csv"), dir.join("transactions.csv"));
    let tmp = dir.join("transactions.csv.tmp");
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(&src).map_err(io_err(&src))?);
    let out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let r = t(input, out).map_err(|e| Error::input(&src, e.to_string()))?;
    std::fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    Ok(r)
}

/// The vendored AMLSim directory: `--amlsim`, else `fixtures/external/amlsim12k` above the
/// product binary, the current directory, or this crate's source.
fn amlsim_dir(opts: &PipelineBenchOptions, exe: &Path) -> Result<PathBuf> {
    if let Some(d) = &opts.amlsim {
        return Ok(d.clone());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [exe, cwd.as_path(), source.as_path()]
        .iter()
        .flat_map(|p| p.ancestors())
        .map(|a| a.join(AMLSIM_DIR))
        .find(|d| d.is_dir())
        .ok_or_else(|| Error::Usage(format!("no `{AMLSIM_DIR}` found from here or the binary: give --amlsim DIR")))
}

/// Makes (or finds) the ledger of `shape` at `rows`.
fn shape_ledger(exe: &Path, opts: &PipelineBenchOptions, shape: &str, rows: u64) -> Result<ShapeLedger> {
    let (d, seed) = (&opts.data_dir, opts.seed);
    let default = || gen_ledger(exe, d, "default", rows, seed, &[]);
    let small = || gen_ledger(exe, d, "small-sek", rows, seed, &["--currency", "SEK", "--amount-scale", "0.01"]);
    let dense_of = |name: &str, base: &Path| {
        derived_ledger(d, name, rows, seed, base, |base, dir| {
            transform_file(base, dir, |i, o| transform_dense(i, o, seed, DENSE_ACCOUNTS))?;
            link_or_copy(base, dir, "fx_rates.csv")
        })
    };
    let plain = |dir| Ok(ShapeLedger { dir, note: None });
    match shape {
        "default" | "flow-30d" | "cycles-5d" => plain(default()?),
        "no-kyc" => plain(derived_ledger(d, "no-kyc", rows, seed, &default()?, |base, dir| {
            link_or_copy(base, dir, "transactions.csv")?;
            link_or_copy(base, dir, "fx_rates.csv")
        })?),
        "small-sek" => plain(small()?),
        "dense" => plain(dense_of("dense", &default()?)?),
        "dense-small-30d" => plain(dense_of("dense-small", &small()?)?),
        "amlworld" => plain(gen_ledger(exe, d, "amlworld", rows, seed, &["--layout", "amlworld"])?),
        "amlsim" => plain(amlsim_dir(opts, exe)?),
        "hubs" => {
            let mut stats = None;
            let dir = derived_ledger(d, "hubs", rows, seed, &default()?, |base, dir| {
                stats = Some(transform_file(base, dir, |i, o| transform_hubs(i, o, seed, HUB_SHARE_PER_MILLE))?);
                link_or_copy(base, dir, "fx_rates.csv")?;
                let (src, dst) = (base.join("accounts.csv"), dir.join("accounts.csv"));
                let text = std::fs::read_to_string(&src).map_err(io_err(&src))?;
                let mut out = text.clone();
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                for row in hub_account_rows(text.lines().next().unwrap_or_default()) {
                    out.push_str(&row);
                    out.push('\n');
                }
                std::fs::write(&dst, out).map_err(io_err(&dst))?;
                let s = stats.as_ref().expect("set above");
                write_json(&dir.join("hubs.json"), s)
            })?;
            let stats: Option<HubStats> = stats.or_else(|| {
                let text = std::fs::read_to_string(dir.join("hubs.json")).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                Some(HubStats {
                    rows: v["rows"].as_u64()?,
                    transfers: v["transfers"].as_u64()?,
                    per_hub: v["per_hub"].as_array()?.iter().filter_map(|x| x.as_u64()).collect(),
                })
            });
            let note = stats.map(|s| {
                let per: Vec<String> = s.per_hub.iter().map(|&n| thousands(n)).collect();
                format!(
                    "{} of {} transfer rows moved onto {} hubs ({} each)",
                    thousands(s.per_hub.iter().sum()),
                    thousands(s.transfers),
                    HUB_IDS.len(),
                    per.join(" / ")
                )
            });
            Ok(ShapeLedger { dir, note })
        }
        other => Err(Error::Usage(format!("--shapes: `{other}` is not one of {}", SHAPES.join(", ")))),
    }
}

/// The shape's own config text, if it has one.
pub fn shape_config(shape: &str) -> Option<&'static str> {
    match shape {
        "flow-30d" | "dense-small-30d" => Some(FLOW_30D_TOML),
        "cycles-5d" => Some(CYCLES_5D_TOML),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The replays

/// What the benchmark reads of a replay's `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PipelineSummary {
    pub rows_read: u64,
    pub rows_accepted: u64,
    #[serde(default)]
    pub reconciled: bool,
    #[serde(default)]
    pub alerts_written: u64,
    #[serde(default)]
    pub timings: StageTimings,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StageTimings {
    #[serde(default)]
    pub stages: BTreeMap<String, f64>,
}

/// One shape, replayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeResult {
    pub shape: String,
    /// The size asked for (`amlsim`: its rows read).
    pub rows: u64,
    pub ledger: PathBuf,
    /// The config the replays ran with: the shape's merged over the user's, over
    /// `REPLAY_BASE_TOML`.
    pub config: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub reconciled: bool,
    pub alerts_written: u64,
    /// Fastest run, spawn to exit.
    pub wall_seconds: f64,
    /// Accepted rows per wall second of the fastest run.
    pub rows_per_second: f64,
    /// Highest peak over the runs.
    pub peak_rss_bytes: Option<u64>,
    pub runs_seconds: Vec<f64>,
    /// The fastest run's busy seconds by stage (`timings.stages`).
    pub stage_seconds: BTreeMap<String, f64>,
    /// The same as milliseconds per million accepted rows.
    pub stage_ms_per_million: BTreeMap<String, f64>,
    pub note: Option<String>,
}

/// A planned size in words (`amlsim` is planned at 0: its own size).
fn size_words(rows: u64) -> String {
    if rows == 0 { "its own size".into() } else { format!("{} rows", thousands(rows)) }
}

/// Milliseconds per million of `rows` for `seconds` of busy time.
pub fn ms_per_million(seconds: f64, rows: u64) -> f64 {
    if rows == 0 { 0.0 } else { seconds * 1e9 / rows as f64 }
}

fn run_shape(exe: &Path, opts: &PipelineBenchOptions, shape: &str, rows: u64, user_toml: &str) -> Result<ShapeResult> {
    let ledger = shape_ledger(exe, opts, shape, rows)?;
    let runs_dir = opts.data_dir.join("pipeline-runs");
    std::fs::create_dir_all(&runs_dir).map_err(io_err(&runs_dir))?;
    let slug = format!("{shape}-{rows}");
    let user = merge_config(REPLAY_BASE_TOML, user_toml).map_err(|e| Error::Config(vec![e]))?;
    let config = merge_config(&user, shape_config(shape).unwrap_or_default()).map_err(|e| Error::Config(vec![e]))?;
    let config_path = runs_dir.join(format!("{slug}.toml"));
    std::fs::write(&config_path, &config).map_err(io_err(&config_path))?;
    let out = runs_dir.join(&slug);
    let mut runs = Vec::new();
    let mut fastest: Option<(f64, PipelineSummary)> = None;
    for i in 0..opts.repeats {
        tracing::info!("bench pipeline: {shape} ({}) run {} of {}", size_words(rows), i + 1, opts.repeats);
        if out.exists() {
            std::fs::remove_dir_all(&out).map_err(io_err(&out))?;
        }
        let mut cmd = Command::new(exe);
        cmd.arg("--config").arg(&config_path);
        cmd.arg("replay").arg(&ledger.dir).arg("--out").arg(&out).args(["--store", "off", "--progress", "off"]);
        let m = run_measured(&mut cmd).map_err(|e| Error::io(exe, e))?;
        if !m.status.success() {
            return Err(Error::input(&ledger.dir, child_failure("mirrorflow replay", m.status, &m.stderr)));
        }
        let path = out.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let s: PipelineSummary =
            serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("cannot parse summary.json: {e}")))?;
        runs.push(Run { rows: s.rows_accepted, seconds: m.seconds, peak_rss_bytes: m.peak_rss_bytes });
        if fastest.as_ref().is_none_or(|(t, _)| m.seconds < *t) {
            fastest = Some((m.seconds, s));
        }
        eprintln!("bench pipeline: {shape} ({}): {:.2} s", size_words(rows), m.seconds);
    }
    let best = best_of(&runs).ok_or_else(|| Error::Internal("no replay".into()))?;
    let (_, s) = fastest.ok_or_else(|| Error::Internal("no replay".into()))?;
    let stage_ms_per_million =
        s.timings.stages.iter().map(|(k, &v)| (k.clone(), ms_per_million(v, s.rows_accepted))).collect();
    Ok(ShapeResult {
        shape: shape.to_string(),
        rows: if shape == "amlsim" { s.rows_read } else { rows },
        ledger: ledger.dir,
        config,
        rows_read: s.rows_read,
        rows_accepted: s.rows_accepted,
        reconciled: s.reconciled,
        alerts_written: s.alerts_written,
        wall_seconds: best.seconds,
        rows_per_second: best.rows_per_second,
        peak_rss_bytes: best.peak_rss_bytes,
        runs_seconds: best.runs_seconds,
        stage_seconds: s.timings.stages,
        stage_ms_per_million,
        note: ledger.note,
    })
}

// ---------------------------------------------------------------------------------------
// The floor: a plain Rust window join for leg matching

/// What a ledger row is to the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    /// A cash deposit into a US account.
    Deposit,
    /// A CNY credit into a CN account.
    CnyCredit,
    /// An MXN debit from an MX account.
    MxnDebit,
}

/// One row the floor keeps: its time (seconds), USD value (cents) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegEvent {
    pub ts: i64,
    pub usd_cents: i64,
    pub kind: LegKind,
}

/// Whole seconds since 1970 of a timestamp as the product reads it (RFC 3339, or a bare
/// `YYYY-MM-DD` at midnight UTC), or None.
pub fn parse_ts(s: &str) -> Option<i64> {
    mirrorflow::ingest::values::parse_ts(s.as_bytes(), &Default::default()).ok().map(|us| us.div_euclid(1_000_000))
}

/// Daily USD rates: currency -> (day -> usd_per_unit).
#[derive(Debug, Default)]
pub struct FxTable(HashMap<String, BTreeMap<i64, f64>>);

impl FxTable {
    /// Reads `fx_rates.csv` (`date,currency,usd_per_unit`).
    pub fn read(input: impl BufRead) -> std::io::Result<Self> {
        let mut t = FxTable::default();
        let (mut input, mut buf) = (input, Vec::new());
        if !read_record(&mut input, &mut buf)? {
            return Ok(t);
        }
        let names = header_names(split_terminator(&buf).0);
        let (dc, cc, rc) = (column(&names, "date")?, column(&names, "currency")?, column(&names, "usd_per_unit")?);
        while read_record(&mut input, &mut buf)? {
            let content = split_terminator(&buf).0;
            let spans = field_spans(content);
            let get = |c: usize| spans.get(c).map_or(Cow::Borrowed(""), |&(a, b)| field_value(&content[a..b]));
            let day = parse_ts(&get(dc)).map(|s| s.div_euclid(86_400));
            if let (Some(day), Ok(rate)) = (day, get(rc).parse::<f64>()) {
                t.0.entry(get(cc).to_string()).or_default().insert(day, rate);
            }
        }
        Ok(t)
    }

    /// The rate of `currency` on `day` (the latest before it, else the first after); USD is 1.
    pub fn rate(&self, currency: &str, day: i64) -> Option<f64> {
        if currency == "USD" {
            return Some(1.0);
        }
        let days = self.0.get(currency)?;
        days.range(..=day).next_back().or_else(|| days.iter().next()).map(|(_, &r)| r)
    }
}

/// Reads the rows the floor joins from a contract `transactions.csv`: cash deposits into
/// US accounts, CNY credits into CN accounts, MXN debits from MX accounts (an account's
/// country from `countries`, else its id's first two letters). Returns the events and the
/// rows read.
pub fn read_leg_events(
    input: impl BufRead,
    countries: &HashMap<String, String>,
    fx: &FxTable,
) -> std::io::Result<(Vec<LegEvent>, u64)> {
    let (mut input, mut buf) = (input, Vec::with_capacity(512));
    let mut events = Vec::new();
    if !read_record(&mut input, &mut buf)? {
        return Ok((events, 0));
    }
    let names = header_names(split_terminator(&buf).0);
    let col = |n: &str| column(&names, n);
    let (ts_c, src_c, dst_c) = (col("ts")?, col("src_account")?, col("dst_account")?);
    let (amt_c, cur_c, ch_c) = (col("amount")?, col("currency")?, col("channel")?);
    let country = |id: &str| -> String {
        countries.get(id).cloned().unwrap_or_else(|| id.get(..2).unwrap_or_default().to_string())
    };
    let mut rows = 0u64;
    while read_record(&mut input, &mut buf)? {
        rows += 1;
        let content = split_terminator(&buf).0;
        let spans = field_spans(content);
        let get = |c: usize| spans.get(c).map_or(Cow::Borrowed(""), |&(a, b)| field_value(&content[a..b]));
        let (currency, channel) = (get(cur_c), get(ch_c));
        let kind = if channel == "cash_deposit" && country(&get(dst_c)) == "US" {
            LegKind::Deposit
        } else if currency == "CNY" && country(&get(dst_c)) == "CN" {
            LegKind::CnyCredit
        } else if currency == "MXN" && country(&get(src_c)) == "MX" {
            LegKind::MxnDebit
        } else {
            continue;
        };
        let (Some(ts), Ok(amount)) = (parse_ts(&get(ts_c)), get(amt_c).parse::<f64>()) else { continue };
        let Some(rate) = fx.rate(&currency, ts.div_euclid(86_400)) else { continue };
        events.push(LegEvent { ts, usd_cents: (amount * rate * 100.0).round() as i64, kind });
    }
    Ok((events, rows))
}

/// What the window join found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FloorMatches {
    pub deposits: u64,
    pub cny_legs: u64,
    pub mxn_legs: u64,
    /// (deposit, leg) pairs: the leg within `window_s` after the deposit (inclusive),
    /// its USD value within `band_per_mille` of the deposit's.
    pub cny_matches: u64,
    pub mxn_matches: u64,
}

/// A sorted-by-time sweep: deposits in time order; per leg kind, the legs inside
/// `[deposit, deposit + window_s]` held in a value index (USD cents -> count), entering
/// as the window's end passes them and leaving as its start does; each deposit counts the
/// legs in its value band.
pub fn floor_join(events: &mut [LegEvent], window_s: i64, band_per_mille: i64) -> FloorMatches {
    events.sort_by_key(|e| e.ts);
    let deposits: Vec<&LegEvent> = events.iter().filter(|e| e.kind == LegKind::Deposit).collect();
    let mut m = FloorMatches { deposits: deposits.len() as u64, ..FloorMatches::default() };
    for kind in [LegKind::CnyCredit, LegKind::MxnDebit] {
        let legs: Vec<&LegEvent> = events.iter().filter(|e| e.kind == kind).collect();
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut index: BTreeMap<i64, u64> = BTreeMap::new();
        let mut matches = 0u64;
        for d in &deposits {
            while hi < legs.len() && legs[hi].ts <= d.ts + window_s {
                *index.entry(legs[hi].usd_cents).or_default() += 1;
                hi += 1;
            }
            while lo < hi && legs[lo].ts < d.ts {
                let v = legs[lo].usd_cents;
                if let Some(c) = index.get_mut(&v) {
                    *c -= 1;
                    if *c == 0 {
                        index.remove(&v);
                    }
                }
                lo += 1;
            }
            let low = (d.usd_cents * (1000 - band_per_mille)).div_euclid(1000);
            let high = (d.usd_cents * (1000 + band_per_mille)).div_euclid(1000);
            matches += index.range(low..=high).map(|(_, &c)| c).sum::<u64>();
        }
        match kind {
            LegKind::CnyCredit => (m.cny_legs, m.cny_matches) = (legs.len() as u64, matches),
            _ => (m.mxn_legs, m.mxn_matches) = (legs.len() as u64, matches),
        }
    }
    m
}

/// The floor on one ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorResult {
    pub ledger: PathBuf,
    pub rows: u64,
    pub matches: FloorMatches,
    /// Reading and parsing the side tables and the transactions.
    pub read_seconds: f64,
    /// The join alone.
    pub join_seconds: f64,
    /// Rows per second, reading and joining.
    pub rows_per_second: f64,
    /// Rows per second of the join alone.
    pub join_rows_per_second: f64,
    /// The same ledger's `detect:mirror` stage, ms per million rows (if it was replayed).
    pub mirror_ms_per_million: Option<f64>,
}

fn run_floor(ledger: &Path) -> Result<FloorResult> {
    let started = Instant::now();
    let mut countries = HashMap::new();
    let accounts = ledger.join("accounts.csv");
    if accounts.is_file() {
        let mut input = BufReader::new(std::fs::File::open(&accounts).map_err(io_err(&accounts))?);
        let mut buf = Vec::new();
        if read_record(&mut input, &mut buf).map_err(io_err(&accounts))? {
            let names = header_names(split_terminator(&buf).0);
            let (ic, cc) = (
                column(&names, "account_id").map_err(io_err(&accounts))?,
                column(&names, "country").map_err(io_err(&accounts))?,
            );
            while read_record(&mut input, &mut buf).map_err(io_err(&accounts))? {
                let content = split_terminator(&buf).0;
                let spans = field_spans(content);
                if let (Some(&(a, b)), Some(&(c, d))) = (spans.get(ic), spans.get(cc)) {
                    countries
                        .insert(field_value(&content[a..b]).into_owned(), field_value(&content[c..d]).into_owned());
                }
            }
        }
    }
    let fx_path = ledger.join("fx_rates.csv");
    let fx = FxTable::read(BufReader::new(std::fs::File::open(&fx_path).map_err(io_err(&fx_path))?))
        .map_err(io_err(&fx_path))?;
    let tx = ledger.join("transactions.csv");
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(&tx).map_err(io_err(&tx))?);
    let (mut events, rows) = read_leg_events(input, &countries, &fx).map_err(io_err(&tx))?;
    let read_seconds = started.elapsed().as_secs_f64();
    let joined = Instant::now();
    let matches = floor_join(&mut events, FLOOR_WINDOW_S, FLOOR_BAND_PER_MILLE);
    let join_seconds = joined.elapsed().as_secs_f64();
    Ok(FloorResult {
        ledger: ledger.to_path_buf(),
        rows,
        matches,
        read_seconds,
        join_seconds,
        rows_per_second: rows as f64 / (read_seconds + join_seconds).max(1e-9),
        join_rows_per_second: rows as f64 / join_seconds.max(1e-9),
        mirror_ms_per_million: None,
    })
}

// ---------------------------------------------------------------------------------------
// The peers (`--peers`): the rules and graph benchmarks' own measurements

/// One peer figure for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerRow {
    /// `rules` (DuckDB on the rule SQL) or `graph` (snapml, 5-day window).
    pub bench: String,
    pub size: u64,
    pub engine: String,
    pub seconds: Option<f64>,
    pub per_second: Option<f64>,
    /// `rows/s` or `edges/s`.
    pub unit: String,
    pub peak_rss_bytes: Option<u64>,
    pub note: Option<String>,
}

fn rules_peer_rows(r: &crate::rules_bench::RulesBenchReport) -> Vec<PeerRow> {
    let mut rows = Vec::new();
    for x in &r.results {
        let mf = &x.mirrorflow;
        rows.push(PeerRow {
            bench: "rules".into(),
            size: x.size,
            engine: "mirrorflow replay".into(),
            seconds: Some(mf.seconds),
            per_second: Some(mf.rows_per_second),
            unit: "rows/s".into(),
            peak_rss_bytes: mf.peak_rss_bytes,
            note: x.ratio.map(|q| format!("mf s / DuckDB s = {q:.2}")),
        });
        let d = x.duckdb.as_ref();
        rows.push(PeerRow {
            bench: "rules".into(),
            size: x.size,
            engine: "DuckDB (rule SQL, one batch)".into(),
            seconds: d.map(|d| d.total_seconds),
            per_second: d.map(|d| d.rows_per_second),
            unit: "rows/s".into(),
            peak_rss_bytes: d.and_then(|d| d.peak_rss_bytes),
            note: x.duckdb_error.clone().or_else(|| r.duckdb_note.clone()),
        });
    }
    rows
}

fn graph_peer_rows(r: &crate::graph_bench::GraphBenchReport) -> Vec<PeerRow> {
    let mut rows = Vec::new();
    for x in &r.results {
        let mf = &x.mirrorflow;
        rows.push(PeerRow {
            bench: "graph".into(),
            size: x.edges,
            engine: "mirrorflow cycle finder".into(),
            seconds: mf.seconds,
            per_second: mf.edges_per_second,
            unit: "edges/s".into(),
            peak_rss_bytes: mf.peak_rss_bytes,
            note: mf.fastest.cycles.map(|c| format!("{} cycles", thousands(c))),
        });
        let (best, why) = match x.peers.get("snapml") {
            Some(Ok(b)) => (Some(b), None),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, Some(r.notes.join("; "))),
        };
        rows.push(PeerRow {
            bench: "graph".into(),
            size: x.edges,
            engine: "snapml GraphFeaturePreprocessor".into(),
            seconds: best.and_then(|b| b.seconds),
            per_second: best.and_then(|b| b.edges_per_second),
            unit: "edges/s".into(),
            peak_rss_bytes: best.and_then(|b| b.peak_rss_bytes),
            note: why.or_else(|| best.and_then(|b| b.fastest.cycles).map(|c| format!("{} cycles", thousands(c)))),
        });
    }
    rows
}

/// The peers' headline rows, or why a benchmark gave none.
fn run_peers(opts: &PipelineBenchOptions) -> (Vec<PeerRow>, Vec<String>) {
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    let rules = crate::rules_bench::RulesBenchOptions {
        rows: opts.rows.clone(),
        data_dir: opts.data_dir.clone(),
        duckdb: true,
        python: opts.python.clone(),
        seed: opts.seed,
        repeats: opts.repeats,
        json_out: None,
        config: opts.config.clone(),
    };
    tracing::info!("bench pipeline: peers: the rules benchmark (DuckDB on the rule SQL)");
    match crate::rules_bench::measure_rules_bench(&rules) {
        Ok(r) => rows.extend(rules_peer_rows(&r)),
        Err(e) => notes.push(format!("rules peer (DuckDB) failed: {e}")),
    }
    let graph = crate::graph_bench::GraphBenchOptions {
        edges: opts.rows.clone(),
        data_dir: opts.data_dir.clone(),
        python: opts.python.clone(),
        seed: opts.seed,
        repeats: opts.repeats,
        json_out: None,
        window_s: PEER_GRAPH_WINDOW_S,
        peers: vec!["snapml".into()],
        ..crate::graph_bench::GraphBenchOptions::default()
    };
    tracing::info!("bench pipeline: peers: the graph benchmark (snapml, 5-day window)");
    match crate::graph_bench::measure_graph_bench(&graph) {
        Ok(r) => rows.extend(graph_peer_rows(&r)),
        Err(e) => notes.push(format!("graph peer (snapml) failed: {e}")),
    }
    (rows, notes)
}

// ---------------------------------------------------------------------------------------
// The run and the report

/// Everything `bench pipeline` measured (the JSON written by `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineBenchReport {
    pub machine: Machine,
    pub repeats: u32,
    pub seed: u64,
    pub config: Option<PathBuf>,
    pub goal_default_rows_per_second: f64,
    pub goal_every_rows_per_second: f64,
    pub goal_peak_mib: f64,
    pub goal_peak_at_rows: u64,
    pub shapes: Vec<ShapeResult>,
    pub floor: Option<FloorResult>,
    /// Whether `--peers` was given.
    pub peers_run: bool,
    pub peers: Vec<PeerRow>,
    pub notes: Vec<String>,
}

/// Runs the benchmark and returns the report to print.
pub fn run_pipeline_bench(opts: &PipelineBenchOptions) -> Result<String> {
    opts.validate()?;
    let exe = crate::harness::product_exe()?;
    std::fs::create_dir_all(&opts.data_dir).map_err(io_err(&opts.data_dir))?;
    let user_toml = match &opts.config {
        Some(p) => std::fs::read_to_string(p).map_err(io_err(p))?,
        None => String::new(),
    };
    let mut notes = Vec::new();
    let mut shapes = Vec::new();
    for (shape, rows) in opts.plan() {
        match run_shape(&exe, opts, shape, rows, &user_toml) {
            Ok(r) => shapes.push(r),
            Err(e) => {
                tracing::warn!("bench pipeline: {shape}: {e}");
                notes.push(format!("{shape} ({}): failed: {e}", size_words(rows)));
            }
        }
    }
    let first = opts.rows[0];
    let floor = match gen_ledger(&exe, &opts.data_dir, "default", first, opts.seed, &[]).and_then(|d| run_floor(&d)) {
        Ok(mut f) => {
            f.mirror_ms_per_million = shapes
                .iter()
                .find(|s| s.shape == "default" && s.rows == first)
                .and_then(|s| s.stage_ms_per_million.get("detect:mirror").copied());
            Some(f)
        }
        Err(e) => {
            notes.push(format!("leg-matching floor failed: {e}"));
            None
        }
    };
    let (peers, peer_notes) = if opts.peers { run_peers(opts) } else { (Vec::new(), Vec::new()) };
    notes.extend(peer_notes);
    let report = PipelineBenchReport {
        machine: Machine::detect(&opts.python, None),
        repeats: opts.repeats,
        seed: opts.seed,
        config: opts.config.clone(),
        goal_default_rows_per_second: GOAL_DEFAULT_ROWS_PER_SECOND,
        goal_every_rows_per_second: GOAL_EVERY_ROWS_PER_SECOND,
        goal_peak_mib: GOAL_PEAK_MIB,
        goal_peak_at_rows: GOAL_PEAK_AT_ROWS,
        shapes,
        floor,
        peers_run: opts.peers,
        peers,
        notes,
    };
    if let Some(path) = &opts.json_out {
        write_json(path, &report)?;
    }
    Ok(format_pipeline_report(&report))
}

/// A figure in milliseconds per million rows, `-` when absent.
fn ms_cell(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 100.0 => thousands(v.round() as u64),
        Some(v) => format!("{v:.1}"),
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn shape_label(s: &ShapeResult) -> String {
    format!("{} ({} rows)", s.shape, thousands(s.rows))
}

/// The aims, each `met` / `NOT met`, with the shapes that decide it.
fn aims(r: &PipelineBenchReport) -> Vec<String> {
    let rate = |s: &ShapeResult| format!("{} {} rows/s", shape_label(s), thousands(s.rows_per_second.round() as u64));
    let mut out = Vec::new();
    let defaults: Vec<&ShapeResult> = r.shapes.iter().filter(|s| s.shape == "default").collect();
    if defaults.is_empty() {
        out.push(format!(
            "default shapes at {} rows/s or more: no default shape measured",
            thousands(r.goal_default_rows_per_second as u64)
        ));
    } else {
        let ok = defaults.iter().all(|s| s.rows_per_second >= r.goal_default_rows_per_second);
        let each: Vec<String> = defaults
            .iter()
            .map(|s| format!("{} {}", rate(s), met(s.rows_per_second >= r.goal_default_rows_per_second)))
            .collect();
        out.push(format!(
            "default shapes at {} rows/s or more: **{}** ({})",
            thousands(r.goal_default_rows_per_second as u64),
            met(ok),
            each.join("; ")
        ));
    }
    if !r.shapes.is_empty() {
        let slow: Vec<String> =
            r.shapes.iter().filter(|s| s.rows_per_second < r.goal_every_rows_per_second).map(rate).collect();
        let slowest = r.shapes.iter().min_by(|a, b| a.rows_per_second.total_cmp(&b.rows_per_second));
        let why = if slow.is_empty() {
            slowest.map_or_else(String::new, |s| format!(" (slowest: {})", rate(s)))
        } else {
            format!(" (below: {})", slow.join("; "))
        };
        out.push(format!(
            "every shape at {} rows/s or more: **{}**{why}",
            thousands(r.goal_every_rows_per_second as u64),
            met(slow.is_empty())
        ));
    }
    let big: Vec<&ShapeResult> = r.shapes.iter().filter(|s| s.rows >= r.goal_peak_at_rows).collect();
    let limit =
        format!("peak at most {} MiB at {} rows", thousands(r.goal_peak_mib as u64), thousands(r.goal_peak_at_rows));
    if big.is_empty() {
        out.push(format!("{limit}: no shape of {} rows measured", thousands(r.goal_peak_at_rows)));
    } else {
        let within =
            |s: &&ShapeResult| s.peak_rss_bytes.is_some_and(|b| b as f64 / crate::harness::MIB <= r.goal_peak_mib);
        let each: Vec<String> =
            big.iter().map(|s| format!("{} {} MiB", shape_label(s), mib(s.peak_rss_bytes))).collect();
        out.push(format!("{limit}: **{}** ({})", met(big.iter().all(within)), each.join("; ")));
    }
    out
}

/// Each shape's largest stage.
fn where_the_time_goes(r: &PipelineBenchReport) -> Vec<String> {
    r.shapes
        .iter()
        .map(|s| {
            let largest = s.stage_seconds.iter().max_by(|a, b| a.1.total_cmp(b.1));
            match largest {
                None => format!("{}: no stage timings in summary.json", shape_label(s)),
                Some((stage, &secs)) => format!(
                    "{}: {stage}, {} ms per million rows ({:.0}% of the wall time)",
                    shape_label(s),
                    ms_cell(s.stage_ms_per_million.get(stage).copied()),
                    100.0 * secs / s.wall_seconds.max(1e-9)
                ),
            }
        })
        .collect()
}

/// The report: how it was measured, the table, the aims, where the time goes, the floor,
/// the peers and notes.
pub fn format_pipeline_report(r: &PipelineBenchReport) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# mirrorflow-bench pipeline: replays of several ledger shapes, side by side\n");
    if !m.release_build {
        let _ = writeln!(
            out,
            "**DEBUG build: the figures mean nothing** (build with `cargo build --release --workspace` and run \
             target/release/mirrorflow-bench)\n"
        );
    }
    let _ = writeln!(out, "- {}", machine_line(m));
    let _ = writeln!(
        out,
        "- mirrorflow {} ({}): `mirrorflow replay LEDGER --out OUT --store off --progress off --config C` in a \
         child process per run, best of {} run(s): the fastest run's wall time (spawn to exit), the highest peak \
         RSS (VmHWM); rows/s = accepted rows / wall s; seed {}; every config C sets `pipeline.max-future-lead = \
         \"0\"` (generated ledgers are dated from 2026-01-01, so a 10M-row year would otherwise run past today and \
         lose its last weeks to quarantine){}",
        m.mirrorflow_version,
        build_note(m),
        r.repeats,
        r.seed,
        r.config.as_ref().map_or_else(String::new, |c| format!("; user config `{}` under each shape's", c.display()))
    );
    let _ = writeln!(
        out,
        "- stage columns: busy ms per million accepted rows (`summary.json` `timings.stages`; `source` overlaps the \
         stages after it and the detectors run side by side, so they add up to more than the wall time); `-`: \
         the stage did not run"
    );
    out.push('\n');

    let mut headers = vec!["shape", "rows", "wall s", "rows/s", "peak MiB"];
    headers.extend(STAGE_COLUMNS.iter().map(|(h, _)| *h));
    headers.extend(["alerts", "reconciled"]);
    let rows: Vec<Vec<String>> = r
        .shapes
        .iter()
        .map(|s| {
            let mut row = vec![
                s.shape.clone(),
                thousands(s.rows),
                format!("{:.2}", s.wall_seconds),
                thousands(s.rows_per_second.round() as u64),
                mib(s.peak_rss_bytes),
            ];
            row.extend(STAGE_COLUMNS.iter().map(|(_, key)| ms_cell(s.stage_ms_per_million.get(*key).copied())));
            row.push(thousands(s.alerts_written));
            row.push(if s.reconciled { "yes" } else { "NO" }.into());
            row
        })
        .collect();
    out.push_str(&render_markdown_table(&headers, &rows, &[0]));

    out.push_str("\n## Aims\n\n");
    for a in aims(r) {
        let _ = writeln!(out, "- {a}");
    }
    out.push_str("\n## Where the time goes\n\n");
    for w in where_the_time_goes(r) {
        let _ = writeln!(out, "- {w}");
    }

    if let Some(f) = &r.floor {
        out.push_str("\n## Floor for leg matching: a plain Rust window join\n\n");
        let _ = writeln!(
            out,
            "`{}`: every US cash deposit against the CNY credits into CN accounts and the MXN debits from MX \
             accounts within {} h after it, USD value (fx_rates.csv, daily) within -{p}%..+{p}%; a sorted-by-time \
             sweep with a value index, in process.\n",
            f.ledger.display(),
            FLOOR_WINDOW_S / 3600,
            p = FLOOR_BAND_PER_MILLE / 10
        );
        let headers = [
            "rows",
            "deposits",
            "CNY legs",
            "MXN legs",
            "matches CNY / MXN",
            "read s",
            "join s",
            "floor rows/s",
            "join rows/s",
            "floor ms per M rows",
            "mirror stage ms per M rows",
        ];
        let x = &f.matches;
        let row = vec![
            thousands(f.rows),
            thousands(x.deposits),
            thousands(x.cny_legs),
            thousands(x.mxn_legs),
            format!("{} / {}", thousands(x.cny_matches), thousands(x.mxn_matches)),
            format!("{:.3}", f.read_seconds),
            format!("{:.3}", f.join_seconds),
            thousands(f.rows_per_second.round() as u64),
            thousands(f.join_rows_per_second.round() as u64),
            ms_cell(Some(ms_per_million(f.read_seconds + f.join_seconds, f.rows))),
            ms_cell(f.mirror_ms_per_million),
        ];
        out.push_str(&render_markdown_table(&headers, &[row], &[]));
    }

    if r.peers_run {
        out.push_str("\n## Peers (the `rules` and `graph` benchmarks, same sizes)\n\n");
        let _ = writeln!(
            out,
            "rules: DuckDB runs the same rule SQL as one batch over the replay's ordered rows; graph: snapml's \
             GraphFeaturePreprocessor, temporal cycles in a {}-day window, on the graph benchmark's generated \
             edge lists (`mirrorflow-bench rules|graph` print the full reports).\n",
            PEER_GRAPH_WINDOW_S / 86_400
        );
        let headers = ["bench", "size", "engine", "s", "per second", "peak MiB", "note"];
        let rows: Vec<Vec<String>> = r
            .peers
            .iter()
            .map(|p| {
                vec![
                    p.bench.clone(),
                    thousands(p.size),
                    p.engine.clone(),
                    p.seconds.map_or_else(|| "-".into(), |s| format!("{s:.3}")),
                    p.per_second.map_or_else(|| "-".into(), |v| format!("{} {}", thousands(v.round() as u64), p.unit)),
                    mib(p.peak_rss_bytes),
                    p.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&render_markdown_table(&headers, &rows, &[0, 2, 6]));
    }

    let mut notes: Vec<String> = r.notes.clone();
    for s in &r.shapes {
        if let Some(n) = &s.note {
            notes.push(format!("{}: {n}", shape_label(s)));
        }
        let others: Vec<&String> =
            s.stage_seconds.keys().filter(|k| !STAGE_COLUMNS.iter().any(|(_, key)| key == k)).collect();
        if !others.is_empty() {
            let list: Vec<String> =
                others.iter().map(|k| format!("{k} {}", ms_cell(s.stage_ms_per_million.get(*k).copied()))).collect();
            notes.push(format!("{}: other stages (ms per million rows): {}", shape_label(s), list.join(", ")));
        }
        if s.rows_read != s.rows_accepted {
            notes.push(format!(
                "{}: read {} rows, accepted {}",
                shape_label(s),
                thousands(s.rows_read),
                thousands(s.rows_accepted)
            ));
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- note: {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const TX: &str = "tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n\
T1,2026-01-01T05:13:41Z,CN48196550,US36037878,9459.97,CNY,wire,,living expenses\n\
T2,2026-01-01T10:00:24Z,US08152732,US71277718,3834.79,USD,ach,,PAYROLL\n\
T3,2026-01-01T10:12:04Z,,US91299627,4006.98,USD,cash_deposit,US-NY,\n\
T4,2026-01-06T04:51:42Z,CN22095305,US09936633,19190,USD,wire,,\"tuition spring 2026, student no. 20015\"\n\
T5,2026-01-06T05:00:00Z,US08152732,,100,USD,cash_withdrawal,US-NY,\"say \"\"hi\"\", ok\"\n";

    fn ledger(n: usize) -> String {
        let mut s = String::from("tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n");
        for i in 0..n {
            let memo = if i % 7 == 0 { "\"rent, march\"" } else { "" };
            let _ = writeln!(
                s,
                "T{i:08},2026-01-01T00:00:00Z,US{:08},MX{:08},10.00,USD,ach,,{memo}",
                i % 5000,
                (i * 7 + 3) % 9000
            );
        }
        s
    }

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn fields_split_outside_quotes_only() {
        let rec = b"a,\"b,c\",\"d \"\"e\"\"\",";
        let spans = field_spans(rec);
        let vals: Vec<Cow<str>> = spans.iter().map(|&(a, b)| field_value(&rec[a..b])).collect();
        assert_eq!(vals, ["a", "b,c", "d \"e\"", ""]);
        let mut r = std::io::Cursor::new(b"x,\"multi\nline\"\ny,z\n".to_vec());
        let mut buf = Vec::new();
        assert!(read_record(&mut r, &mut buf).unwrap());
        assert_eq!(buf, b"x,\"multi\nline\"\n");
        assert!(read_record(&mut r, &mut buf).unwrap());
        assert_eq!(buf, b"y,z\n");
        assert!(!read_record(&mut r, &mut buf).unwrap());
    }

    fn dense(input: &str, seed: u64, n: u64) -> String {
        let mut out = Vec::new();
        let rows = transform_dense(input.as_bytes(), &mut out, seed, n).unwrap();
        assert_eq!(rows as usize, input.lines().count() - 1);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dense_keeps_rows_header_and_other_fields() {
        let out = dense(TX, 42, DENSE_ACCOUNTS);
        let (a, b) = (lines(TX), lines(&out));
        assert_eq!(a.len(), b.len());
        assert_eq!(a[0], b[0], "header kept");
        for (x, y) in a.iter().zip(&b).skip(1) {
            let (fx, fy) = (field_spans(x.as_bytes()), field_spans(y.as_bytes()));
            assert_eq!(fx.len(), fy.len(), "{y}");
            for (i, (&(p, q), &(r, s))) in fx.iter().zip(&fy).enumerate() {
                let (vx, vy) = (&x[p..q], &y[r..s]);
                if i == 2 || i == 3 {
                    assert_eq!(vx.is_empty(), vy.is_empty(), "{y}");
                } else {
                    assert_eq!(vx, vy, "field {i} of {y}");
                }
            }
        }
        assert!(out.contains(",\"tuition spring 2026, student no. 20015\"\n"), "{out}");
        assert_eq!(out, dense(TX, 42, DENSE_ACCOUNTS), "deterministic");
    }

    #[test]
    fn dense_maps_onto_at_most_n_accounts_and_never_makes_src_equal_dst() {
        let input = ledger(20_000);
        // few accounts, so collisions of src and dst happen and must be moved apart
        for n in [DENSE_ACCOUNTS, 2, 5] {
            let out = dense(&input, 7, n);
            let mut seen = HashSet::new();
            for l in out.lines().skip(1) {
                let f: Vec<&str> = l.split(',').collect();
                assert_ne!(f[2], f[3], "{l}");
                seen.insert(f[2].to_string());
                seen.insert(f[3].to_string());
            }
            assert!(seen.len() as u64 <= n, "{} accounts for {n}", seen.len());
            assert!(seen.len() as u64 >= n.min(2));
        }
        let before: HashSet<&str> = input.lines().skip(1).flat_map(|l| l.split(',').skip(2).take(2)).collect();
        assert!(before.len() > DENSE_ACCOUNTS as usize, "{}", before.len());
    }

    #[test]
    fn hubs_take_their_share_and_keep_everything_else() {
        let input = ledger(30_000);
        let mut out = Vec::new();
        let stats = transform_hubs(input.as_bytes(), &mut out, 42, HUB_SHARE_PER_MILLE).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!((stats.rows, stats.transfers), (30_000, 30_000));
        assert_eq!(lines(&out).len(), lines(&input).len());
        assert_eq!(lines(&out)[0], lines(&input)[0]);
        let moved: u64 = stats.per_hub.iter().sum();
        assert!((11_000..13_000).contains(&moved), "{moved} of 30,000 (~40%)");
        for (h, &n) in HUB_IDS.iter().zip(&stats.per_hub) {
            assert!((3_500..4_500).contains(&n), "{h}: {n}");
            let edges = out.lines().filter(|l| l.split(',').skip(2).take(2).any(|a| a == *h)).count() as u64;
            assert_eq!(edges, n, "{h}");
        }
        for (a, b) in input.lines().zip(out.lines()) {
            let (fa, fb): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
            assert_ne!(fb[2], fb[3]);
            assert_eq!((fa[0], &fa[4..]), (fb[0], &fb[4..]));
            let changed = (fa[2] != fb[2]) as u8 + (fa[3] != fb[3]) as u8;
            assert!(changed <= 1, "{b}");
        }
        // rows without both endpoints are never touched
        let mut small = Vec::new();
        let s = transform_hubs(TX.as_bytes(), &mut small, 42, 1000).unwrap();
        assert_eq!((s.rows, s.transfers, s.per_hub.iter().sum::<u64>()), (5, 3, 3));
        let small = String::from_utf8(small).unwrap();
        assert_eq!(lines(&small)[3], lines(TX)[3]);
        assert_eq!(lines(&small)[5], lines(TX)[5]);
    }

    #[test]
    fn hub_accounts_fill_the_header_columns() {
        let header = "account_id,customer_id,country,region,institution,kind,opened_at,nationality,occupation,\
                      monthly_income_usd,industry,phone_hash,address_hash,device_hash,watchlist";
        let rows = hub_account_rows(header);
        assert_eq!(rows.len(), 3);
        for (row, id) in rows.iter().zip(HUB_IDS) {
            let f: Vec<&str> = row.split(',').collect();
            assert_eq!(f.len(), 15, "{row}");
            assert_eq!((f[0], f[2], f[5], f[10], f[14]), (id, "US", "business", "grocery", ""));
            assert_eq!(f[11].len(), 16);
        }
        assert_ne!(rows[0].split(',').nth(11), rows[1].split(',').nth(11));
        assert_eq!(hub_account_rows("kind,account_id\n")[2], format!("business,{}", HUB_IDS[2]));
    }

    #[test]
    fn shape_configs_merge_over_the_users() {
        let m = merge_config("[graph]\ncycles = false\n[rules]\nenabled = false\n", FLOW_30D_TOML).unwrap();
        let t: toml::Table = toml::from_str(&m).unwrap();
        assert_eq!(t["graph"]["cycles"].as_bool(), Some(false));
        assert_eq!(t["graph"]["flow-window"].as_str(), Some("30d"));
        assert_eq!(t["rules"]["enabled"].as_bool(), Some(false));
        assert_eq!(shape_config("cycles-5d"), Some(CYCLES_5D_TOML));
        assert_eq!(shape_config("dense"), None);
        let d: toml::Table = toml::from_str(include_str!("../../../config/default.toml")).unwrap();
        for key in ["flow-window", "bipartite-window", "gather-scatter-window", "cycle-window"] {
            assert!(d["graph"].get(key).is_some(), "config/default.toml has no graph.{key}");
        }
    }

    /// Every replay turns the future-date guard off (the generated dates are synthetic),
    /// unless the user's config sets it; the product reads the value as off.
    #[test]
    fn replays_keep_rows_dated_after_today_unless_the_user_says_otherwise() {
        let m = merge_config(REPLAY_BASE_TOML, "[graph]\ncycles = false\n").unwrap();
        let cfg = mirrorflow::config::Config::from_toml_str(&m).unwrap();
        assert_eq!(cfg.max_future_lead, None);
        let t: toml::Table = toml::from_str(&m).unwrap();
        assert_eq!(t["graph"]["cycles"].as_bool(), Some(false));
        let user = merge_config(REPLAY_BASE_TOML, "[pipeline]\nmax-future-lead = \"2d\"\n").unwrap();
        let t: toml::Table = toml::from_str(&user).unwrap();
        assert_eq!(t["pipeline"]["max-future-lead"].as_str(), Some("2d"));
    }

    #[test]
    fn the_plan_runs_default_at_every_size_and_the_rest_at_the_first() {
        let o = PipelineBenchOptions { rows: vec![20_000, 50_000], ..PipelineBenchOptions::default() };
        let plan = o.plan();
        assert_eq!(&plan[..3], &[("default", 20_000), ("default", 50_000), ("no-kyc", 20_000)]);
        assert_eq!(plan.last(), Some(&("amlsim", 0)));
        assert_eq!(plan.len(), 11);
        let bad = PipelineBenchOptions { shapes: vec!["round".into()], repeats: 0, ..o };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("`round` is not one of") && e.contains("--repeats"), "{e}");
    }

    #[test]
    fn the_floor_joins_legs_in_window_and_band() {
        let tx = "tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n\
D1,2026-01-02T00:00:00Z,,US00000001,1000.00,USD,cash_deposit,US-NY,\n\
C1,2026-01-02T01:00:00Z,US00000009,CN00000001,7000.00,CNY,wire,,\"a, b\"\n\
C2,2026-01-02T23:59:59Z,US00000009,CN00000002,7700.00,CNY,wire,,\n\
C3,2026-01-03T00:00:01Z,US00000009,CN00000003,7000.00,CNY,wire,,\n\
C4,2026-01-01T23:00:00Z,US00000009,CN00000003,7000.00,CNY,wire,,\n\
M1,2026-01-02T12:00:00Z,MX00000001,US00000003,20000.00,MXN,wire,,\n\
M2,2026-01-02T12:00:00Z,MX00000001,US00000003,17000.00,MXN,wire,,\n\
X1,2026-01-02T12:00:00Z,US00000001,US00000003,1000.00,USD,ach,,\n";
        let fx =
            FxTable::read("date,currency,usd_per_unit\n2026-01-01,CNY,0.14\n2026-01-01,MXN,0.05\n".as_bytes()).unwrap();
        let mut countries = HashMap::new();
        countries.insert("MX00000001".to_string(), "MX".to_string());
        let (mut ev, rows) = read_leg_events(tx.as_bytes(), &countries, &fx).unwrap();
        assert_eq!((rows, ev.len()), (8, 7));
        let m = floor_join(&mut ev, FLOOR_WINDOW_S, FLOOR_BAND_PER_MILLE);
        // C1 980 USD in; C2 1078 out of band; C3 after 24 h; C4 before; M1 1000 in; M2 850 out
        assert_eq!(m, FloorMatches { deposits: 1, cny_legs: 4, mxn_legs: 2, cny_matches: 1, mxn_matches: 1 });
        assert_eq!(parse_ts("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(parse_ts("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_ts("nope"), None);
        assert_eq!(fx.rate("CNY", 0), Some(0.14));
        assert_eq!(fx.rate("USD", 0), Some(1.0));
    }

    fn shape(name: &str, rows: u64, rate: f64, peak_mib: u64, stages: &[(&str, f64)]) -> ShapeResult {
        let seconds = rows as f64 / rate;
        let stage_seconds: BTreeMap<String, f64> = stages.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        ShapeResult {
            shape: name.into(),
            rows,
            ledger: format!("bench-data/pipeline-{name}-{rows}").into(),
            config: String::new(),
            rows_read: rows,
            rows_accepted: rows,
            reconciled: true,
            alerts_written: 12,
            wall_seconds: seconds,
            rows_per_second: rate,
            peak_rss_bytes: Some(peak_mib << 20),
            runs_seconds: vec![seconds],
            stage_ms_per_million: stage_seconds.iter().map(|(k, &v)| (k.clone(), ms_per_million(v, rows))).collect(),
            stage_seconds,
            note: None,
        }
    }

    fn report(shapes: Vec<ShapeResult>) -> PipelineBenchReport {
        PipelineBenchReport {
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                mem_total_bytes: Some(24 << 30),
                mirrorflow_version: "0.1.0".into(),
                release_build: true,
                python: "python3".into(),
                duckdb: None,
            },
            repeats: 1,
            seed: 42,
            config: None,
            goal_default_rows_per_second: GOAL_DEFAULT_ROWS_PER_SECOND,
            goal_every_rows_per_second: GOAL_EVERY_ROWS_PER_SECOND,
            goal_peak_mib: GOAL_PEAK_MIB,
            goal_peak_at_rows: GOAL_PEAK_AT_ROWS,
            shapes,
            floor: None,
            peers_run: false,
            peers: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_slow_default_shape_does_not_meet_the_aim() {
        let stages = [("source", 0.5), ("detect:rules", 1.2), ("detect:mirror", 0.3), ("sinks", 0.01)];
        let r = report(vec![
            shape("default", 1_000_000, 450_000.0, 600, &stages),
            shape("default", 10_000_000, 520_000.0, 900, &[("detect:rules", 9.0)]),
            shape("dense", 1_000_000, 150_000.0, 300, &[("detect:graph", 5.0), ("detect:novelty", 0.2)]),
        ]);
        let text = format_pipeline_report(&r);
        assert!(text.contains("machine: 2 CPUs (nproc), Test CPU"), "{text}");
        assert!(!text.contains("DEBUG"), "{text}");
        let aims: Vec<&str> = text.lines().filter(|l| l.contains(" or more:") || l.starts_with("- peak")).collect();
        assert_eq!(aims.len(), 3, "{text}");
        assert!(aims[0].contains("**NOT met**") && aims[0].contains("450,000 rows/s NOT met"), "{text}");
        assert!(aims[0].contains("default (10,000,000 rows) 520,000 rows/s met"), "{text}");
        assert!(aims[1].contains("every shape at 100,000 rows/s or more: **met**"), "{text}");
        assert!(aims[2].contains("1,024 MiB at 10,000,000 rows: **met**"), "{text}");
        // the table: a row per shape, a `-` for the stages not present
        let row = text.lines().find(|l| l.starts_with("| dense")).unwrap();
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "dense",
                "1,000,000",
                "6.67",
                "150,000",
                "300.0",
                "-",
                "-",
                "-",
                "-",
                "-",
                "5,000",
                "-",
                "-",
                "200",
                "-",
                "12",
                "yes"
            ]
        );
        let head = text.lines().find(|l| l.starts_with("| shape")).unwrap();
        for h in [
            "source",
            "order",
            "enrich",
            "window",
            "rules",
            "graph",
            "peel",
            "mirror",
            "novelty",
            "sinks",
            "alerts",
            "reconciled",
        ] {
            assert!(head.contains(&format!(" {h} ")), "{head}");
        }
        assert!(
            text.contains("- default (1,000,000 rows): detect:rules, 1,200 ms per million rows (54% of the wall time)"),
            "{text}"
        );
        assert!(text.contains("- dense (1,000,000 rows): detect:graph, 5,000 ms"), "{text}");
    }

    #[test]
    fn slow_shapes_and_big_peaks_are_named() {
        let mut r = report(vec![
            shape("default", 10_000_000, 600_000.0, 1_500, &[]),
            shape("hubs", 1_000_000, 90_000.0, 300, &[("detect:graph", 1.0)]),
        ]);
        r.machine.release_build = false;
        let text = format_pipeline_report(&r);
        assert!(text.contains("**DEBUG build"), "{text}");
        assert!(text.contains("default shapes at 500,000 rows/s or more: **met**"), "{text}");
        assert!(
            text.contains(
                "every shape at 100,000 rows/s or more: **NOT met** (below: hubs (1,000,000 rows) 90,000 rows/s)"
            ),
            "{text}"
        );
        assert!(text.contains("at 10,000,000 rows: **NOT met** (default (10,000,000 rows) 1500.0 MiB)"), "{text}");
        assert!(text.contains("default (10,000,000 rows): no stage timings"), "{text}");
        let none = format_pipeline_report(&report(vec![shape("hubs", 20_000, 200_000.0, 50, &[])]));
        assert!(
            none.contains("no default shape measured") && none.contains("no shape of 10,000,000 rows measured"),
            "{none}"
        );
    }

    #[test]
    fn the_floor_and_the_peers_are_reported() {
        let mut r = report(vec![shape("default", 1_000_000, 600_000.0, 500, &[("detect:mirror", 0.4)])]);
        r.floor = Some(FloorResult {
            ledger: "bench-data/pipeline-default-1000000".into(),
            rows: 1_000_000,
            matches: FloorMatches { deposits: 10, cny_legs: 20, mxn_legs: 30, cny_matches: 4, mxn_matches: 5 },
            read_seconds: 0.9,
            join_seconds: 0.1,
            rows_per_second: 1_000_000.0,
            join_rows_per_second: 10_000_000.0,
            mirror_ms_per_million: Some(400.0),
        });
        r.peers_run = true;
        r.peers = vec![PeerRow {
            bench: "graph".into(),
            size: 1_000_000,
            engine: "snapml GraphFeaturePreprocessor".into(),
            seconds: None,
            per_second: None,
            unit: "edges/s".into(),
            peak_rss_bytes: None,
            note: Some("peers not measured: no snapml".into()),
        }];
        let text = format_pipeline_report(&r);
        let row = text.lines().skip_while(|l| !l.contains("Floor")).find(|l| l.starts_with("| 1,000,000")).unwrap();
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!((cells[4], cells[9], cells[10]), ("4 / 5", "1,000", "400"), "{row}");
        assert!(text.contains("## Peers") && text.contains("no snapml"), "{text}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["shapes"][0]["stage_ms_per_million"]["detect:mirror"], 400.0);
        assert_eq!(v["floor"]["matches"]["mxn_matches"], 5);
    }
}
