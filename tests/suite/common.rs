//! Shared helpers: temporary ledgers, running the binary, reading outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use mirrorflow::alerts::Alert;
use mirrorflow::pipeline::window::EventWindow;
use mirrorflow::pipeline::{DetectCtx, Detector};

/// The contract CSV header.
pub const HEADER: &str = "tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo";

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Outside data vendored in the repository (`fixtures/external/`, with its licence and
/// provenance), so the suite needs nothing beside the clone.
pub fn external() -> PathBuf {
    root().join("fixtures/external")
}

/// Writes `lines` (after the header) to `dir/transactions.csv`; returns the dir.
pub fn csv_ledger(dir: &Path, lines: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::from(HEADER);
    text.push('\n');
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(dir.join("transactions.csv"), text).unwrap();
    dir.to_path_buf()
}

/// Runs the binary with `args` (and `stdin` piped in if given).
pub fn mirrorflow(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mirrorflow"));
    cmd.args(args).env("MIRRORFLOW_LOG", "warn");
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().unwrap();
        s.write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Reads `summary.json` of an output directory.
pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// Reads a JSONL file as values.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Reads `ordered.parquet` (tx_ids in the order the detectors saw them).
pub fn ordered_ids(out: &Path) -> Vec<String> {
    let f = std::fs::File::open(out.join("ordered.parquet")).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut ids = Vec::new();
    for b in r {
        let b = b.unwrap();
        let c = b.column_by_name("tx_id").unwrap().as_string::<i32>();
        ids.extend(c.iter().map(|s| s.unwrap().to_string()));
    }
    ids
}

/// A detector that records what it saw (tx ids in order, batch sizes).
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<String>>>,
    pub window_rows: Arc<Mutex<Vec<usize>>>,
}

impl Detector for Recorder {
    fn id(&self) -> &str {
        "test.recorder"
    }

    fn on_batch(
        &mut self,
        batch: &RecordBatch,
        window: &EventWindow,
        _ctx: &DetectCtx,
    ) -> mirrorflow::Result<Vec<Alert>> {
        let c = batch.column_by_name("tx_id").unwrap().as_string::<i32>();
        self.seen.lock().unwrap().extend(c.iter().map(|s| s.unwrap().to_string()));
        self.window_rows.lock().unwrap().push(window.rows());
        Ok(Vec::new())
    }
}

/// A config for tests: quiet, output to `out`, and the SQL rules off unless `extra`
/// configures them (pipeline tests should not pay for detection).
pub fn test_config(out: &Path, extra: &str) -> mirrorflow::config::Config {
    let rules = if extra.contains("[rules") { "" } else { "[rules]\nenabled = false\n" };
    let text = format!("{rules}[output]\ndir = \"{}\"\nprogress = \"off\"\n{extra}", out.display());
    mirrorflow::config::Config::from_toml_str(&text).unwrap()
}

/// Runs the binary with `args` like [`mirrorflow`] (no stdin) and samples the child's
/// peak resident memory: the output and the peak in bytes (see [`wait_peak_rss`]).
pub fn mirrorflow_peak_rss(args: &[&str]) -> (Output, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(args)
        .env("MIRRORFLOW_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    wait_peak_rss(child)
}

/// Waits for `child` (its stdout and stderr piped) while sampling its peak resident
/// memory (`VmHWM` from `/proc`, every 10 ms): the output and the peak in bytes.
pub fn wait_peak_rss(child: std::process::Child) -> (Output, u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let status = format!("/proc/{}/status", child.id());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&status)
                    && let Some(kb) = text
                        .lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|n| n.parse::<u64>().ok())
                {
                    peak = peak.max(kb * 1024);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    assert!(peak > 0, "peak memory read from /proc");
    (out, peak)
}

/// `mirrorflow gen` with `gen_args` into `<tmp>/ledger`, `mirrorflow replay` of it into
/// `<tmp>/out` with the embedded defaults (no store), and `eval` of the alerts against
/// the labels and populations. The temporary directory is returned with the report.
pub fn generate_replay_evaluate(gen_args: &[&str]) -> (tempfile::TempDir, mirrorflow::eval::EvalReport) {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, out) = (dir.path().join("ledger"), dir.path().join("out"));
    let mut args = vec!["gen", "--out", ledger.to_str().unwrap()];
    args.extend_from_slice(gen_args);
    let o = mirrorflow(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = mirrorflow(
        &["replay", ledger.to_str().unwrap(), "--progress", "off", "--store", "off", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = mirrorflow::eval::evaluate(&mirrorflow::eval::EvalOptions {
        labels: ledger.join("labels.csv"),
        alerts: out.join("alerts.jsonl"),
        populations: Some(ledger.join("populations.csv")),
    })
    .unwrap();
    (dir, r)
}

/// Alert id -> sorted evidence, from an `alerts.jsonl`; panics on an id written twice.
pub fn alert_set(path: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for a in jsonl(path) {
        let id = a["alert_id"].as_str().unwrap().to_string();
        let mut ev: Vec<String> = a["tx_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
        ev.sort();
        assert!(out.insert(id.clone(), ev).is_none(), "{}: alert {id} written twice", path.display());
    }
    out
}
