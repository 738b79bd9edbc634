//! `mirrorflow-bench ingest`: mirrorflow's ingest against DuckDB, on the same files.
//!
//! Owns: the benchmark ledgers under `data_dir/ingest-<rows>/` (made once by spawning
//! `mirrorflow gen`, then `mirrorflow ingest --to-parquet` for the same rows as Parquet;
//! reused while their marker file matches, deleted and remade when it does not), running
//! `mirrorflow ingest FILE` and `bench/duckdb_ingest.py FILE` as child processes (best of
//! `repeats`, the two engines alternating), and the side-by-side report (a text table,
//! and JSON on request).
//! Must not: ingest in-process (each measurement is a fresh child, so its peak memory is
//! its own), alter the figures the children report, or run from the test suite: the
//! tests cover the pure parts (parsing, summarising, formatting) only.
//!
//! The pieces every benchmark needs (generated ledgers behind a marker file, child
//! processes and their peak memory, the DuckDB probe, the machine, tables, best-of-N) are
//! `pub(crate)` here and shared with `rules_bench` (`mirrorflow-bench rules`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use mirrorflow::error::{Error, Result};

/// The DuckDB loader, compiled in so the benchmark runs from any directory; cargo
/// rebuilds when the script changes.
const DUCKDB_SCRIPT: &str = include_str!("../scripts/duckdb_ingest.py");

/// The formats a size can be measured in.
pub const FORMATS: [&str; 3] = ["csv", "csv.gz", "parquet"];

/// Marker written into a ledger directory once it is complete.
pub(crate) const MARKER: &str = "bench-ledger.json";

/// Exit status of the DuckDB scripts when the `duckdb` package is missing.
pub(crate) const EXIT_NO_DUCKDB: i32 = 3;

/// Options of `mirrorflow-bench ingest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Ledger sizes to measure, in rows (default 1M and 10M).
    pub rows: Vec<u64>,
    /// Where the generated ledgers are kept between runs (default `bench-data/`).
    pub data_dir: PathBuf,
    /// Formats to measure each size in: `csv`, `csv.gz`, `parquet` (default csv, parquet).
    pub formats: Vec<String>,
    /// Also measure DuckDB (default true).
    pub duckdb: bool,
    /// The Python that has the `duckdb` package (default `python3`).
    pub python: String,
    /// Seed passed to `mirrorflow gen` (default 42).
    pub seed: u64,
    /// Runs per engine and file; the fastest time and highest peak memory are reported
    /// (default 3).
    pub repeats: u32,
    /// Also write the results here as JSON.
    pub json_out: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            rows: vec![1_000_000, 10_000_000],
            data_dir: PathBuf::from("bench-data"),
            formats: vec!["csv".into(), "parquet".into()],
            duckdb: true,
            python: "python3".into(),
            seed: 42,
            repeats: 3,
            json_out: None,
        }
    }
}

/// The problems with `--rows` and `--repeats`, which every benchmark takes.
pub(crate) fn check_sizes(rows: &[u64], repeats: u32) -> Vec<String> {
    let mut errors = Vec::new();
    if rows.is_empty() {
        errors.push("--rows: give at least one size".to_string());
    }
    if rows.contains(&0) {
        errors.push("--rows: sizes must be at least 1".to_string());
    }
    if repeats == 0 {
        errors.push("--repeats: must be at least 1".to_string());
    }
    errors
}

impl BenchOptions {
    /// Every problem with the options, reported at once.
    fn validate(&self) -> Result<()> {
        let mut errors = check_sizes(&self.rows, self.repeats);
        if self.formats.is_empty() {
            errors.push("--formats: give at least one format".to_string());
        }
        for f in &self.formats {
            if !FORMATS.contains(&f.as_str()) {
                errors.push(format!("--formats: `{f}` is not one of {}", FORMATS.join(", ")));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(Error::Usage(errors.join("; "))) }
    }
}

/// One run of one engine on one file, as the child reported it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Run {
    /// Rows the engine read (mirrorflow: `rows_read`; DuckDB: `count(*)`).
    pub rows: u64,
    /// The engine's own timing of the load (start-up excluded).
    pub seconds: f64,
    /// Peak resident memory of the child process.
    pub peak_rss_bytes: Option<u64>,
}

/// What `mirrorflow ingest` printed, reduced to what the benchmark uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MirrorflowRun {
    pub run: Run,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
}

/// What `duckdb_ingest.py` printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuckdbRun {
    pub run: Run,
    pub engine: DuckdbInfo,
}

/// The DuckDB used: version and its default thread count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuckdbInfo {
    pub duckdb_version: String,
    pub threads: u32,
}

/// Several runs of one engine on one file, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Best {
    pub rows: u64,
    /// Fastest run.
    pub seconds: f64,
    /// `rows / seconds` of the fastest run.
    pub rows_per_second: f64,
    /// Highest peak over the runs.
    pub peak_rss_bytes: Option<u64>,
    /// Every run's time, in run order.
    pub runs_seconds: Vec<f64>,
}

/// The fastest time and the highest peak memory of `runs` (None if there are none).
pub fn best_of(runs: &[Run]) -> Option<Best> {
    let fastest = runs.iter().min_by(|a, b| a.seconds.total_cmp(&b.seconds))?;
    Some(Best {
        rows: fastest.rows,
        seconds: fastest.seconds,
        rows_per_second: fastest.rows as f64 / fastest.seconds.max(1e-9),
        peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
        runs_seconds: runs.iter().map(|r| r.seconds).collect(),
    })
}

/// One file measured by both engines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The ledger size asked for.
    pub size: u64,
    pub format: String,
    pub file: PathBuf,
    pub file_bytes: u64,
    pub mirrorflow: Best,
    /// Rows mirrorflow refused (duplicates, bad values) in its fastest run.
    pub mirrorflow_rows_quarantined: u64,
    pub duckdb: Option<Best>,
    /// Why DuckDB has no figures for this file, when it has none.
    pub duckdb_error: Option<String>,
    /// DuckDB seconds / mirrorflow seconds: above 1, mirrorflow is faster.
    pub ratio: Option<f64>,
}

/// The machine and the engines the figures come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process (what `nproc` prints).
    pub cpus: usize,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal` of `/proc/meminfo`.
    pub mem_total_bytes: Option<u64>,
    pub mirrorflow_version: String,
    /// False for a debug build, whose figures mean little.
    pub release_build: bool,
    /// The Python running DuckDB.
    pub python: String,
    pub duckdb: Option<DuckdbInfo>,
}

/// Everything `bench ingest` measured (the JSON written by `json_out`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub repeats: u32,
    pub seed: u64,
    pub results: Vec<Measurement>,
    /// Why DuckDB was not measured at all, with how to fix it.
    pub duckdb_note: Option<String>,
}

/// The product's binary the benchmarks drive: `MIRRORFLOW_BIN`, else the `mirrorflow`
/// beside this binary (cargo builds both into one target directory).
pub fn product_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MIRRORFLOW_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let exe = me.with_file_name(format!("mirrorflow{}", std::env::consts::EXE_SUFFIX));
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(Error::Usage(format!(
            "no mirrorflow binary at `{}`: build it with the same profile (`cargo build --release --bins`) or set \
             MIRRORFLOW_BIN",
            exe.display()
        )))
    }
}

/// Runs the ingest benchmark and returns the report to print.
pub fn run_ingest_bench(opts: &BenchOptions) -> Result<String> {
    opts.validate()?;
    let exe = product_exe()?;
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| Error::io(&opts.data_dir, e))?;

    let (duckdb, duckdb_note) = if opts.duckdb {
        let script = write_script(&opts.data_dir, "duckdb_ingest.py", DUCKDB_SCRIPT)?;
        match probe_duckdb(&opts.python, &script) {
            Ok(info) => (Some((script, info)), None),
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
        let ledger = ensure_ledger(&exe, &opts.data_dir, size, opts.seed)?;
        for format in &opts.formats {
            let file = ledger.file(format)?;
            let file_bytes = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?.len();
            tracing::info!("bench: {size} rows, {format}: {} run(s) per engine", opts.repeats);
            let (mut mf_runs, mut duck_runs) = (Vec::new(), Vec::new());
            let mut duckdb_error = None;
            for _ in 0..opts.repeats {
                mf_runs.push(run_mirrorflow(&exe, &file)?);
                let Some((script, _)) = duckdb.as_ref().filter(|_| duckdb_error.is_none()) else {
                    continue;
                };
                match run_duckdb(&opts.python, script, &file) {
                    Ok(r) => duck_runs.push(r.run),
                    Err(e) => duckdb_error = Some(e),
                }
            }
            let runs: Vec<Run> = mf_runs.iter().map(|r| r.run).collect();
            let mirrorflow = best_of(&runs).ok_or_else(|| Error::Internal("no mirrorflow run".into()))?;
            let fastest = mf_runs.iter().min_by(|a, b| a.run.seconds.total_cmp(&b.run.seconds));
            let duck = if duckdb_error.is_some() { None } else { best_of(&duck_runs) };
            results.push(Measurement {
                size,
                format: format.clone(),
                file,
                file_bytes,
                ratio: duck.as_ref().map(|d| d.seconds / mirrorflow.seconds.max(1e-9)),
                mirrorflow,
                mirrorflow_rows_quarantined: fastest.map_or(0, |r| r.rows_quarantined),
                duckdb: duck,
                duckdb_error,
            });
        }
    }

    let report = BenchReport {
        machine: Machine::detect(&opts.python, duckdb.map(|(_, info)| info)),
        repeats: opts.repeats,
        seed: opts.seed,
        results,
        duckdb_note,
    };
    if let Some(path) = &opts.json_out {
        write_json(path, &report)?;
    }
    Ok(format_report(&report))
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot serialise the bench report: {e}")))?;
    std::fs::write(path, json + "\n").map_err(|e| Error::io(path, e))
}

// ---------------------------------------------------------------------------------------
// Ledgers

/// The files of one generated size.
struct BenchLedger {
    dir: PathBuf,
    csv: PathBuf,
    parquet: PathBuf,
}

/// What the marker file records about a complete ledger directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub rows: u64,
    pub seed: u64,
    /// The `--format` given to `mirrorflow gen` (markers written before it existed are
    /// the ingest benchmark's CSV ledgers).
    #[serde(default = "csv_format")]
    pub format: String,
    /// What `mirrorflow ingest` counted when converting the ledger, if it was converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_accepted: Option<u64>,
}

fn csv_format() -> String {
    "csv".to_string()
}

impl Marker {
    pub(crate) fn new(rows: u64, seed: u64, format: &str) -> Self {
        Marker { rows, seed, format: format.to_string(), rows_read: None, rows_accepted: None }
    }

    /// The marker of `dir`, if there is a readable one.
    pub(crate) fn read(dir: &Path) -> Option<Marker> {
        let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether a ledger with this marker was made with these settings.
    pub(crate) fn matches(&self, rows: u64, seed: u64, format: &str) -> bool {
        self.rows == rows && self.seed == seed && self.format == format
    }

    /// Writes the marker into `dir` (the last step of making a ledger).
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(MARKER), self)
    }
}

/// Whether `dir` holds a complete ledger made with `rows`, `seed` and `format` (its
/// marker matches and every file of `files` is there).
pub(crate) fn ledger_is_current(dir: &Path, rows: u64, seed: u64, format: &str, files: &[&Path]) -> bool {
    Marker::read(dir).is_some_and(|m| m.matches(rows, seed, format)) && files.iter().all(|f| f.is_file())
}

/// Deletes `dir` if it exists, then fills it with `mirrorflow gen --rows rows --seed seed
/// --format format` (the caller writes the marker once the ledger is complete).
pub(crate) fn generate_ledger(exe: &Path, dir: &Path, rows: u64, seed: u64, format: &str) -> Result<()> {
    generate_ledger_with(exe, dir, rows, seed, format, &[])
}

/// [`generate_ledger`] with more options for `mirrorflow gen` (`--currency SEK`, `--layout
/// amlworld`, ...).
pub(crate) fn generate_ledger_with(
    exe: &Path,
    dir: &Path,
    rows: u64,
    seed: u64,
    format: &str,
    extra: &[&str],
) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tracing::info!("bench: generating {rows} rows ({format} {}) into `{}` (once)", extra.join(" "), dir.display());
    let mut gen_cmd = Command::new(exe);
    gen_cmd.arg("gen").arg("--out").arg(dir).arg("--seed").arg(seed.to_string());
    gen_cmd.arg("--rows").arg(rows.to_string()).args(["--format", format]).args(extra);
    run_child(&mut gen_cmd, "mirrorflow gen", dir, Stdio::inherit())?;
    Ok(())
}

impl BenchLedger {
    fn at(data_dir: &Path, rows: u64) -> Self {
        let dir = data_dir.join(format!("ingest-{rows}"));
        BenchLedger {
            csv: dir.join("transactions.csv"),
            parquet: dir.join("parquet").join("transactions.parquet"),
            dir,
        }
    }

    /// The file to measure for `format`, gzipping the CSV on first use for `csv.gz`.
    fn file(&self, format: &str) -> Result<PathBuf> {
        match format {
            "csv" => Ok(self.csv.clone()),
            "parquet" => Ok(self.parquet.clone()),
            "csv.gz" => {
                let gz = self.dir.join("gz").join("transactions.csv.gz");
                if !gz.is_file() {
                    tracing::info!("bench: gzipping `{}` (once)", self.csv.display());
                    gzip_file(&self.csv, &gz)?;
                }
                Ok(gz)
            }
            other => Err(Error::Usage(format!("--formats: `{other}` is not one of {}", FORMATS.join(", ")))),
        }
    }
}

/// Makes sure `data_dir/ingest-<rows>/` holds a complete ledger of `rows` rows made with
/// `seed`, generating it (CSV with `gen`, then Parquet with `ingest --to-parquet`) if not.
fn ensure_ledger(exe: &Path, data_dir: &Path, rows: u64, seed: u64) -> Result<BenchLedger> {
    let ledger = BenchLedger::at(data_dir, rows);
    if ledger_is_current(&ledger.dir, rows, seed, "csv", &[&ledger.csv, &ledger.parquet]) {
        return Ok(ledger);
    }
    generate_ledger(exe, &ledger.dir, rows, seed, "csv")?;
    let parquet_dir = ledger.dir.join("parquet");
    std::fs::create_dir_all(&parquet_dir).map_err(|e| Error::io(&parquet_dir, e))?;
    if !ledger.csv.is_file() {
        return Err(Error::input(&ledger.dir, "`mirrorflow gen` wrote no transactions.csv"));
    }

    tracing::info!("bench: converting to `{}` (once)", ledger.parquet.display());
    let mut convert = Command::new(exe);
    convert.arg("ingest").arg(&ledger.csv).arg("--to-parquet").arg(&ledger.parquet);
    let stdout = run_child(&mut convert, "mirrorflow ingest --to-parquet", &ledger.csv, Stdio::inherit())?;
    let converted = parse_ingest_report(&stdout).map_err(|why| Error::input(&ledger.csv, why))?;

    let marker = Marker {
        rows_read: Some(converted.run.rows),
        rows_accepted: Some(converted.rows_accepted),
        ..Marker::new(rows, seed, "csv")
    };
    marker.write(&ledger.dir)?;
    Ok(ledger)
}

/// Gzips `src` into `dst` (through a temporary file, so a partial file is never reused).
fn gzip_file(src: &Path, dst: &Path) -> Result<()> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = dst.with_extension("gz.tmp");
    let mut input = std::fs::File::open(src).map_err(|e| Error::io(src, e))?;
    let output = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut encoder = flate2::write::GzEncoder::new(std::io::BufWriter::new(output), flate2::Compression::default());
    std::io::copy(&mut input, &mut encoder).map_err(|e| Error::io(&tmp, e))?;
    let mut writer = encoder.finish().map_err(|e| Error::io(&tmp, e))?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, dst).map_err(|e| Error::io(dst, e))
}

/// Writes an embedded script (`text`) into `data_dir/name` (if it differs) and returns its
/// path.
pub(crate) fn write_script(data_dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = data_dir.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// Child processes

/// Runs `cmd` to completion and returns its stdout; a failure names `what` and `subject`
/// and carries the end of the child's stderr (when captured).
pub(crate) fn run_child(cmd: &mut Command, what: &str, subject: &Path, stderr: Stdio) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .output()
        .map_err(|e| Error::io(cmd.get_program(), e))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let err = String::from_utf8_lossy(&output.stderr);
    Err(Error::input(subject, child_failure(what, output.status, &err)))
}

/// `` `what` exited with status N: <last lines of stderr> ``.
pub(crate) fn child_failure(what: &str, status: ExitStatus, stderr: &str) -> String {
    let tail = tail_lines(stderr, 3);
    if tail.is_empty() {
        format!("`{what}` exited with {status} (see its messages above)")
    } else {
        format!("`{what}` exited with {status}: {tail}")
    }
}

/// The last `n` non-empty lines of `s`, joined with ` | `.
pub(crate) fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A child process run to completion by [`run_measured`].
#[derive(Debug)]
pub(crate) struct Measured {
    pub status: ExitStatus,
    /// Wall-clock time from spawning the child to its exit (start-up included).
    pub seconds: f64,
    /// The child's peak resident memory (`VmHWM`), sampled every few milliseconds while it
    /// ran; `None` where `/proc` is not available.
    pub peak_rss_bytes: Option<u64>,
    pub stderr: String,
}

/// How often [`run_measured`] samples the child's `VmHWM`.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Runs `cmd` (stdin closed, stdout discarded, stderr captured) and measures its wall time and
/// peak memory. `VmHWM` is the kernel's high-water mark of the child's resident memory,
/// so sampling it misses nothing but a peak reached in the child's last few milliseconds.
pub(crate) fn run_measured(cmd: &mut Command) -> std::io::Result<Measured> {
    use std::io::Read as _;
    let started = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let err = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
        std::thread::spawn(move || {
            let mut peak: Option<u64> = None;
            while !done.load(Ordering::Relaxed) {
                if let Some(b) = std::fs::read_to_string(&status_path).ok().as_deref().and_then(vm_hwm_bytes) {
                    peak = Some(peak.map_or(b, |p| p.max(b)));
                }
                std::thread::sleep(RSS_SAMPLE_EVERY);
            }
            peak
        })
    };
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    Ok(Measured {
        status,
        seconds,
        peak_rss_bytes: sampler.join().unwrap_or(None),
        stderr: err.and_then(|e| e.join().ok()).unwrap_or_default(),
    })
}

/// `VmHWM` of a `/proc/<pid>/status` text, in bytes.
pub(crate) fn vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One `mirrorflow ingest FILE` child.
fn run_mirrorflow(exe: &Path, file: &Path) -> Result<MirrorflowRun> {
    let mut cmd = Command::new(exe);
    cmd.arg("ingest").arg(file);
    let stdout = run_child(&mut cmd, "mirrorflow ingest", file, Stdio::piped())?;
    parse_ingest_report(&stdout).map_err(|why| Error::input(file, why))
}

/// Checks that `python` runs `script` and has `duckdb`; the error is a note saying how to
/// fix it.
pub(crate) fn probe_duckdb(python: &str, script: &Path) -> std::result::Result<DuckdbInfo, String> {
    let name = script.file_name().map_or_else(|| script.display().to_string(), |n| n.to_string_lossy().into_owned());
    let hint = format!(
        "`{python} -m pip install duckdb` (or `pip install duckdb`) installs it; \
         --python picks another Python, --no-duckdb skips DuckDB"
    );
    let output = match Command::new(python).arg(script).arg("--probe").stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            return Err(format!(
                "DuckDB not measured: cannot run `{python}` ({e}); it needs Python 3 with `duckdb`: {hint}"
            ));
        }
    };
    if output.status.code() == Some(EXIT_NO_DUCKDB) {
        return Err(format!("DuckDB not measured: `{python}` has no `duckdb` package; {hint}"));
    }
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "DuckDB not measured: {}",
            child_failure(&format!("{python} {name} --probe"), output.status, &err)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    last_json_line::<DuckdbInfo>(&stdout, &name).map_err(|why| format!("DuckDB not measured: {why}"))
}

/// One `python3 duckdb_ingest.py FILE` child; the error is a note for the report.
fn run_duckdb(python: &str, script: &Path, file: &Path) -> std::result::Result<DuckdbRun, String> {
    let output = Command::new(python)
        .arg(script)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{python}`: {e}"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(child_failure("duckdb_ingest.py", output.status, &err));
    }
    parse_duckdb_line(&String::from_utf8_lossy(&output.stdout))
}

// ---------------------------------------------------------------------------------------
// Parsing the children's output

/// The fields of `mirrorflow ingest`'s JSON report that the benchmark reads.
#[derive(Deserialize)]
struct IngestJson {
    rows_read: u64,
    rows_accepted: u64,
    rows_quarantined: u64,
    seconds: f64,
    peak_rss_bytes: Option<u64>,
}

/// Parses the JSON report `mirrorflow ingest` prints (anything before its first `{` is
/// ignored).
pub fn parse_ingest_report(stdout: &str) -> std::result::Result<MirrorflowRun, String> {
    let start = stdout.find('{').ok_or("`mirrorflow ingest` printed no JSON report")?;
    let r: IngestJson = serde_json::from_str(stdout[start..].trim_end())
        .map_err(|e| format!("cannot parse the report of `mirrorflow ingest`: {e}"))?;
    Ok(MirrorflowRun {
        run: Run { rows: r.rows_read, seconds: r.seconds, peak_rss_bytes: r.peak_rss_bytes },
        rows_accepted: r.rows_accepted,
        rows_quarantined: r.rows_quarantined,
    })
}

/// The line `duckdb_ingest.py` prints.
#[derive(Deserialize)]
struct DuckdbJson {
    rows: u64,
    seconds: f64,
    peak_rss_bytes: Option<u64>,
    duckdb_version: String,
    threads: u32,
}

/// Parses the JSON line `duckdb_ingest.py` prints (its last line that starts with `{`).
pub fn parse_duckdb_line(stdout: &str) -> std::result::Result<DuckdbRun, String> {
    let d: DuckdbJson = last_json_line(stdout, "duckdb_ingest.py")?;
    Ok(DuckdbRun {
        run: Run { rows: d.rows, seconds: d.seconds, peak_rss_bytes: d.peak_rss_bytes },
        engine: DuckdbInfo { duckdb_version: d.duckdb_version, threads: d.threads },
    })
}

/// Parses the last line of `stdout` that starts with `{` (what `script` printed).
pub(crate) fn last_json_line<T: serde::de::DeserializeOwned>(
    stdout: &str,
    script: &str,
) -> std::result::Result<T, String> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('{'))
        .ok_or_else(|| format!("`{script}` printed no JSON line"))?;
    serde_json::from_str(line).map_err(|e| {
        let shown: String = line.chars().take(200).collect();
        format!("cannot parse the line of `{script}` `{shown}`: {e}")
    })
}

// ---------------------------------------------------------------------------------------
// The machine

impl Machine {
    pub(crate) fn detect(python: &str, duckdb: Option<DuckdbInfo>) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".to_string()),
            mem_total_bytes: mem_total_bytes(&meminfo),
            mirrorflow_version: env!("CARGO_PKG_VERSION").to_string(),
            release_build: !cfg!(debug_assertions),
            python: python.to_string(),
            duckdb,
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

// ---------------------------------------------------------------------------------------
// The report

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_string(), |b| format!("{:.1}", b as f64 / MIB))
}

/// Lays out `rows` under `headers`, columns right-aligned except those in `left`.
pub(crate) fn render_table(headers: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| if left.contains(&i) { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(&mut headers.iter().copied()));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// A markdown table of `rows` under `headers`, padded so it also reads as plain text;
/// columns right-aligned (`---:`) except those in `left`.
pub(crate) fn render_markdown_table(headers: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count().max(3)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| if left.contains(&i) { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| if left.contains(&i) { "-".repeat(w) } else { format!("{}:", "-".repeat(w - 1)) })
        .collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// `machine: N CPUs (nproc), <model>, <RAM>`.
pub(crate) fn machine_line(m: &Machine) -> String {
    let mem = m.mem_total_bytes.map_or_else(String::new, |b| format!(", {:.1} GiB RAM", b as f64 / (MIB * 1024.0)));
    format!("machine: {} CPUs (nproc), {}{mem}", m.cpus, m.cpu_model)
}

/// What the build means for the figures.
pub(crate) fn build_note(m: &Machine) -> &'static str {
    if m.release_build { "release build" } else { "DEBUG build: figures not representative" }
}

/// The text report: what was measured where, the table, then notes.
pub fn format_report(r: &BenchReport) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mirrorflow ingest vs DuckDB, best of {} run(s): time of the fastest run, highest peak RSS",
        r.repeats
    );
    let _ = writeln!(out, "{}", machine_line(m));
    let build = build_note(m);
    let duck = m.duckdb.as_ref().map_or_else(
        || "DuckDB: not measured".to_string(),
        |d| {
            format!(
                "DuckDB {} via `{}`, {} threads (its default), in-memory database",
                d.duckdb_version, m.python, d.threads
            )
        },
    );
    let _ = writeln!(out, "engines: mirrorflow {} ({build}), one child process per run; {duck}", m.mirrorflow_version);
    let _ = writeln!(
        out,
        "both engines read the same file on each line; ratio = DuckDB seconds / mirrorflow seconds (> 1: mirrorflow faster)"
    );
    out.push('\n');

    let headers = [
        "rows",
        "format",
        "file MiB",
        "mf rows/s",
        "mf s",
        "mf peak MiB",
        "duckdb rows/s",
        "duckdb s",
        "duckdb peak MiB",
        "ratio",
    ];
    let rows: Vec<Vec<String>> = r
        .results
        .iter()
        .map(|x| {
            let mf = &x.mirrorflow;
            let (d_rate, d_s, d_mem) = match &x.duckdb {
                Some(d) => {
                    (thousands(d.rows_per_second.round() as u64), format!("{:.3}", d.seconds), mib(d.peak_rss_bytes))
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            vec![
                thousands(x.size),
                x.format.clone(),
                format!("{:.1}", x.file_bytes as f64 / MIB),
                thousands(mf.rows_per_second.round() as u64),
                format!("{:.3}", mf.seconds),
                mib(mf.peak_rss_bytes),
                d_rate,
                d_s,
                d_mem,
                x.ratio.map_or_else(|| "-".to_string(), |q| format!("{q:.2}")),
            ]
        })
        .collect();
    out.push_str(&render_table(&headers, &rows, &[1]));

    let mut notes = Vec::new();
    if let Some(n) = &r.duckdb_note {
        notes.push(n.clone());
    }
    for x in &r.results {
        let at = format!("{} rows, {}", thousands(x.size), x.format);
        if x.mirrorflow_rows_quarantined > 0 {
            notes.push(format!(
                "{at}: mirrorflow read {} rows and quarantined {} of them",
                thousands(x.mirrorflow.rows),
                thousands(x.mirrorflow_rows_quarantined)
            ));
        }
        if let Some(d) = x.duckdb.as_ref().filter(|d| d.rows != x.mirrorflow.rows) {
            notes.push(format!(
                "{at}: DuckDB loaded {} rows, mirrorflow read {}",
                thousands(d.rows),
                thousands(x.mirrorflow.rows)
            ));
        }
        if let Some(e) = &x.duckdb_error {
            notes.push(format!("{at}: DuckDB failed: {e}"));
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "note: {n}");
        }
    }
    out
}

/// What every replay of the bench runs with, under the user's and the shape's config:
/// generated ledgers are dated from 2026-01-01, so a 10M-row ledger's year would run past
/// the day the bench runs and its last weeks be quarantined as `future_timestamp`; the
/// figures would then depend on the date. The guard is for live data, not for these.
pub const REPLAY_BASE_TOML: &str = "[pipeline]\nmax-future-lead = \"0\"\n";

/// `user` (TOML) with `shape`'s tables merged over it, key by key.
pub fn merge_config(user: &str, shape: &str) -> std::result::Result<String, String> {
    let mut base: toml::Table = toml::from_str(user).map_err(|e| e.to_string())?;
    let over: toml::Table = toml::from_str(shape).map_err(|e| e.to_string())?;
    for (section, value) in over {
        match (base.get_mut(&section), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => b.extend(o),
            (_, v) => {
                base.insert(section, v);
            }
        }
    }
    toml::to_string(&base).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INGEST_STDOUT: &str = r#"{
  "inputs": [
    "bench-data/ingest-1000/transactions.csv"
  ],
  "rows_read": 1000,
  "rows_accepted": 998,
  "rows_quarantined": 2,
  "reconciled": true,
  "seconds": 0.0125,
  "rows_per_second": 79840.0,
  "peak_rss_bytes": 20971520,
  "parquet_out": null
}
"#;

    #[test]
    fn parses_the_ingest_report() {
        let r = parse_ingest_report(INGEST_STDOUT).unwrap();
        assert_eq!(r.run, Run { rows: 1000, seconds: 0.0125, peak_rss_bytes: Some(20_971_520) });
        assert_eq!((r.rows_accepted, r.rows_quarantined), (998, 2));
    }

    #[test]
    fn ingest_report_tolerates_a_missing_peak_and_leading_noise() {
        let s = INGEST_STDOUT.replace("20971520", "null");
        let r = parse_ingest_report(&format!("warming up\n{s}")).unwrap();
        assert_eq!(r.run.peak_rss_bytes, None);
    }

    #[test]
    fn ingest_report_errors_say_what_is_wrong() {
        assert!(parse_ingest_report("").unwrap_err().contains("no JSON report"));
        let e = parse_ingest_report(r#"{"rows_read": 1}"#).unwrap_err();
        assert!(e.contains("cannot parse the report of `mirrorflow ingest`"), "{e}");
    }

    #[test]
    fn parses_the_duckdb_line_after_other_output() {
        let out = "some warning\n{\"duckdb_version\": \"1.3.0\", \"threads\": 2, \"rows\": 1000, \
                   \"seconds\": 0.5, \"peak_rss_bytes\": 104857600, \"format\": \"csv\", \"file\": \"x.csv\"}\n";
        let d = parse_duckdb_line(out).unwrap();
        assert_eq!(d.run, Run { rows: 1000, seconds: 0.5, peak_rss_bytes: Some(104_857_600) });
        assert_eq!(d.engine, DuckdbInfo { duckdb_version: "1.3.0".into(), threads: 2 });
        assert!(parse_duckdb_line("nothing here\n").unwrap_err().contains("no JSON line"));
    }

    #[test]
    fn best_of_takes_the_fastest_time_and_the_highest_peak() {
        let runs = [
            Run { rows: 10, seconds: 2.0, peak_rss_bytes: Some(300) },
            Run { rows: 10, seconds: 1.0, peak_rss_bytes: Some(100) },
            Run { rows: 10, seconds: 1.5, peak_rss_bytes: None },
        ];
        let b = best_of(&runs).unwrap();
        assert_eq!(b.seconds, 1.0);
        assert_eq!(b.rows_per_second, 10.0);
        assert_eq!(b.peak_rss_bytes, Some(300));
        assert_eq!(b.runs_seconds, vec![2.0, 1.0, 1.5]);
        assert_eq!(best_of(&[]), None);
    }

    #[test]
    fn options_are_checked_all_at_once() {
        assert!(BenchOptions::default().validate().is_ok());
        let bad = BenchOptions { rows: vec![0], formats: vec!["xlsx".into()], repeats: 0, ..Default::default() };
        let e = bad.validate().unwrap_err().to_string();
        for part in ["sizes must be at least 1", "--repeats", "`xlsx` is not one of csv, csv.gz, parquet"] {
            assert!(e.contains(part), "{e}");
        }
    }

    #[test]
    fn reads_the_machine_from_proc_texts() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Intel(R) Xeon(R) Processor"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        assert_eq!(mem_total_bytes("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), Some(24_576_000 * 1024));
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(mib(Some(3 * 1024 * 1024 / 2)), "1.5");
        assert_eq!(mib(None), "-");
        assert_eq!(tail_lines("a\n\nb\nc\nd\n", 2), "c | d");
    }

    #[test]
    fn markdown_tables_line_up_and_right_align_numbers() {
        let t = render_markdown_table(&["rule", "s"], &[vec!["010_structuring".into(), "0.5".into()]], &[0]);
        assert_eq!(t, "| rule            |   s |\n| --------------- | --: |\n| 010_structuring | 0.5 |\n");
    }

    #[test]
    fn reads_vm_hwm_from_a_proc_status_text() {
        assert_eq!(vm_hwm_bytes("Name:\tx\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\n"), Some(2048 * 1024));
        assert_eq!(vm_hwm_bytes("Name:\tx\n"), None);
    }

    #[test]
    fn a_measured_child_reports_its_output_time_and_memory() {
        let m = run_measured(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!((m.stderr.as_str(), m.status.code()), ("err\n", Some(3)));
        assert!(m.seconds > 0.0);
        if let Some(p) = m.peak_rss_bytes {
            assert!(p > 0);
        }
    }

    #[test]
    fn markers_say_how_a_ledger_was_made() {
        // A marker from before `format` existed is the ingest benchmark's CSV ledger.
        let old: Marker =
            serde_json::from_str(r#"{"rows": 10, "seed": 42, "rows_read": 10, "rows_accepted": 10}"#).unwrap();
        assert!(old.matches(10, 42, "csv") && !old.matches(10, 42, "parquet") && !old.matches(10, 1, "csv"));
        assert_eq!(old.rows_read, Some(10));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("transactions.parquet");
        std::fs::write(&file, b"x").unwrap();
        assert!(!ledger_is_current(dir.path(), 10, 42, "parquet", &[&file]), "no marker yet");
        Marker::new(10, 42, "parquet").write(dir.path()).unwrap();
        assert!(ledger_is_current(dir.path(), 10, 42, "parquet", &[&file]));
        assert!(!ledger_is_current(dir.path(), 11, 42, "parquet", &[&file]));
        assert!(!ledger_is_current(dir.path(), 10, 42, "parquet", &[&dir.path().join("missing")]));
        let json = std::fs::read_to_string(dir.path().join(MARKER)).unwrap();
        assert!(!json.contains("rows_read"), "{json}");
    }

    #[test]
    fn table_columns_line_up() {
        let t = render_table(&["rows", "format", "s"], &[vec!["1,000".into(), "csv".into(), "0.5".into()]], &[1]);
        assert_eq!(t, " rows  format    s\n-----  ------  ---\n1,000  csv     0.5\n");
    }

    fn report(duckdb: bool) -> BenchReport {
        let best = |rows, seconds, peak| Best {
            rows,
            seconds,
            rows_per_second: rows as f64 / seconds,
            peak_rss_bytes: Some(peak),
            runs_seconds: vec![seconds],
        };
        BenchReport {
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                mem_total_bytes: Some(24 * 1024 * 1024 * 1024),
                mirrorflow_version: "0.1.0".into(),
                release_build: true,
                python: "python3".into(),
                duckdb: duckdb.then(|| DuckdbInfo { duckdb_version: "1.3.0".into(), threads: 2 }),
            },
            repeats: 3,
            seed: 42,
            results: vec![Measurement {
                size: 1_000_000,
                format: "csv".into(),
                file: "bench-data/ingest-1000000/transactions.csv".into(),
                file_bytes: 100 * 1024 * 1024,
                mirrorflow: best(1_000_000, 0.5, 64 * 1024 * 1024),
                mirrorflow_rows_quarantined: 0,
                duckdb: duckdb.then(|| best(1_000_000, 1.0, 512 * 1024 * 1024)),
                duckdb_error: None,
                ratio: duckdb.then_some(2.0),
            }],
            duckdb_note: (!duckdb)
                .then(|| "DuckDB not measured: `python3` has no `duckdb` package; pip install duckdb".into()),
        }
    }

    #[test]
    fn report_shows_both_engines_side_by_side() {
        let text = format_report(&report(true));
        assert!(text.contains("machine: 2 CPUs (nproc), Test CPU, 24.0 GiB RAM"), "{text}");
        assert!(text.contains("DuckDB 1.3.0 via `python3`, 2 threads"), "{text}");
        assert!(text.contains("both engines read the same file"), "{text}");
        let table: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("     rows")).collect();
        assert!(table[0].ends_with("ratio"), "{text}");
        let cells: Vec<&str> = table[2].split_whitespace().collect();
        assert_eq!(
            cells,
            ["1,000,000", "csv", "100.0", "2,000,000", "0.500", "64.0", "1,000,000", "1.000", "512.0", "2.00"]
        );
        assert!(!text.contains("note:"), "{text}");
    }

    #[test]
    fn report_without_duckdb_keeps_mirrorflow_and_says_how_to_install() {
        let text = format_report(&report(false));
        let row = text.lines().find(|l| l.trim_start().starts_with("1,000,000")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["1,000,000", "csv", "100.0", "2,000,000", "0.500", "64.0", "-", "-", "-", "-"]);
        assert!(text.contains("note: DuckDB not measured") && text.contains("pip install duckdb"), "{text}");
    }

    #[test]
    fn report_json_has_the_figures() {
        let v = serde_json::to_value(report(true)).unwrap();
        assert_eq!(v["results"][0]["ratio"], 2.0);
        assert_eq!(v["results"][0]["duckdb"]["peak_rss_bytes"], 512 * 1024 * 1024);
        assert_eq!(v["machine"]["duckdb"]["threads"], 2);
    }

    #[test]
    fn ledger_files_live_under_the_size_directory() {
        let l = BenchLedger::at(Path::new("bench-data"), 1000);
        assert_eq!(l.csv, Path::new("bench-data/ingest-1000/transactions.csv"));
        assert_eq!(l.parquet, Path::new("bench-data/ingest-1000/parquet/transactions.parquet"));
        assert_eq!(l.file("parquet").unwrap(), l.parquet);
    }
}
