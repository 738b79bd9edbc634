//! Hostile input through the binary: decompression bombs and endless lines, absurd
//! numbers and times, NUL bytes, byte order marks, side tables built to grow memory, and
//! USD values beyond what the rules can sum. Every run must end normally (exit 0) with
//! the refused records in `quarantine.jsonl` and counts that reconcile; the memory tests
//! read the child's peak RSS (`VmHWM`, sampled from `/proc`) and assert a generous bound.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::common::*;

/// A config with the SQL rules off (these tests are about ingest, not detection).
fn rules_off(dir: &Path) -> PathBuf {
    let cfg = dir.join("rules-off.toml");
    std::fs::write(&cfg, "[rules]\nenabled = false\n").unwrap();
    cfg
}

/// One gzip member of `data` (gzip files may be members back to back).
fn gz_member(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes a gzip file that inflates to `head`, then `chunk` `repeats` times, then `tail`:
/// the chunk is compressed once and its member repeated, so a file of a few hundred
/// kilobytes holds hundreds of megabytes and costs the test almost nothing to build.
fn write_bomb(path: &Path, head: &[u8], chunk: &[u8], repeats: usize, tail: &[u8]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&gz_member(head)).unwrap();
    let member = gz_member(chunk);
    for _ in 0..repeats {
        f.write_all(&member).unwrap();
    }
    f.write_all(&gz_member(tail)).unwrap();
    f.flush().unwrap();
}

/// Runs the binary and returns its output and peak RSS in MB (sampled from `/proc`).
fn run_measured(_dir: &Path, args: &[&str]) -> (Output, u64) {
    let (o, bytes) = mirrorflow_peak_rss(args);
    (o, bytes / (1024 * 1024))
}

fn replay_measured(dir: &Path, ledger: &Path, out: &Path) -> (Output, u64) {
    let cfg = rules_off(dir);
    run_measured(
        dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "replay",
            ledger.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--progress",
            "off",
        ],
    )
}

fn replay(ledger: &Path, out: &Path, cfg: Option<&Path>) -> Output {
    let mut args = Vec::new();
    if let Some(c) = cfg {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args.extend(["replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap(), "--progress", "off"]);
    mirrorflow(&args, None)
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\nstderr: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
}

/// (file name, line, field, reason) of every quarantined record.
fn quarantined(out: &Path) -> Vec<(String, u64, String, String)> {
    jsonl(&out.join("quarantine.jsonl"))
        .iter()
        .map(|r| {
            let file = Path::new(r["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().to_string();
            (
                file,
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().into(),
                r["reason"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn assert_counts(out: &Path, read: u64, accepted: u64, quarantined: u64) {
    let s = summary(out);
    assert_eq!(
        (s["rows_read"].as_u64(), s["rows_accepted"].as_u64(), s["rows_quarantined"].as_u64()),
        (Some(read), Some(accepted), Some(quarantined)),
        "{s}"
    );
    assert_eq!(s["reconciled"], true, "{s}");
}

const ROW_1: &str = "t1,2026-03-01T10:00:00Z,a,b,100,USD,wire,,";
const ROW_3: &str = "t3,2026-03-01T11:00:00Z,a,b,200,USD,wire,,";
const JSON_1: &str = r#"{"tx_id":"t1","ts":"2026-03-01T10:00:00Z","src_account":"a","dst_account":"b","amount":"100","currency":"USD","channel":"wire"}"#;
const JSON_3: &str = r#"{"tx_id":"t3","ts":"2026-03-01T11:00:00Z","src_account":"a","dst_account":"b","amount":"200","currency":"USD","channel":"wire"}"#;

/// 320 MiB of one character: far past the 1 MiB record limit, and past the memory bound
/// a reader that held the line would need.
const BOMB_MIB: usize = 320;
const PEAK_MB: u64 = 300;

/// Writes `file` of a new ledger as a gzip bomb (`head`, `chunk` repeated for BOMB_MIB,
/// `tail`), replays it and checks the run ended well: the temp dir (kept alive), the
/// output dir and the replay's peak RSS in MB.
fn replay_bomb(file: &str, head: &str, chunk: &[u8], tail: &str) -> (tempfile::TempDir, PathBuf, u64) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    write_bomb(&ledger.join(file), head.as_bytes(), chunk, BOMB_MIB, tail.as_bytes());
    let out = dir.path().join("out");
    let (o, peak_mb) = replay_measured(dir.path(), &ledger, &out);
    ok(&o);
    (dir, out, peak_mb)
}

#[test]
fn an_endless_ndjson_line_in_a_gzip_bomb_is_quarantined_in_bounded_memory() {
    let head = format!("{JSON_1}\n{{\"tx_id\":\"t2\",\"memo\":\"");
    let tail = format!("\"}}\n{JSON_3}\n");
    let (_dir, out, peak_mb) = replay_bomb("transactions.jsonl.gz", &head, &[b'0'; 1 << 20], &tail);
    assert_eq!(quarantined(&out), [("transactions.jsonl.gz".into(), 2, "record".into(), "record_too_long".into())]);
    let rec = &jsonl(&out.join("quarantine.jsonl"))[0];
    let raw = rec["raw"].as_str().unwrap();
    assert!(raw.starts_with("{\"tx_id\":\"t2\"") && raw.len() < 1024, "raw is a short prefix: {} bytes", raw.len());
    assert!(rec["message"].as_str().unwrap().contains("max-record-bytes"), "{rec}");
    assert_counts(&out, 3, 2, 1);
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB for a {BOMB_MIB} MiB line");
}

#[test]
fn an_endless_csv_line_in_a_gzip_bomb_is_quarantined_in_bounded_memory() {
    let head = format!("{HEADER}\n{ROW_1}\nt2,2026-03-01T10:30:00Z,a,b,1,USD,wire,,");
    let tail = format!("\n{ROW_3}\n");
    let (_dir, out, peak_mb) = replay_bomb("transactions.csv.gz", &head, &[b'0'; 1 << 20], &tail);
    assert_eq!(quarantined(&out), [("transactions.csv.gz".into(), 3, "record".into(), "record_too_long".into())]);
    let raw = jsonl(&out.join("quarantine.jsonl"))[0]["raw"].as_str().unwrap().to_string();
    assert!(raw.starts_with("t2,2026-03-01T10:30:00Z") && raw.len() < 1024, "raw: {} bytes", raw.len());
    assert_counts(&out, 3, 2, 1);
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB for a {BOMB_MIB} MiB line");
}

#[test]
fn an_unclosed_csv_quote_in_a_gzip_bomb_does_not_swallow_the_file_or_memory() {
    // a quote opened and never closed, then 320 MiB of short lines: each line break is
    // inside the quote, so the record never ends; it is refused once past the limit and
    // reading resumes at the next line break (the rest are one-field lines, refused too)
    let head = format!("{HEADER}\n{ROW_1}\nt2,2026-03-01T10:30:00Z,a,b,1,USD,wire,,\"open\n");
    let mut chunk = vec![b'z'; 1 << 20];
    chunk[(1 << 20) - 1] = b'\n'; // one line per MiB
    let tail = format!("{ROW_3}\n");
    let (_dir, out, peak_mb) = replay_bomb("transactions.csv.gz", &head, &chunk, &tail);
    let q = quarantined(&out);
    assert_eq!(q[0], ("transactions.csv.gz".into(), 3, "record".into(), "record_too_long".into()));
    assert!(q[1..].iter().all(|r| r.3 == "wrong_column_count" || r.3 == "record_too_long"), "{q:?}");
    let s = summary(&out);
    assert_eq!(s["rows_accepted"], 2, "t1 and t3, after the broken record: {s}");
    assert_eq!(s["reconciled"], true, "{s}");
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB");
}

#[test]
fn a_quoted_csv_field_spanning_lines_past_the_limit_is_one_refused_record() {
    let dir = tempfile::tempdir().unwrap();
    let line = "m".repeat(100_000);
    let memo = vec![line.as_str(); 30].join("\n"); // 3 MB over 30 lines
    let long_row = format!("t2,2026-03-01T10:30:00Z,a,b,1,USD,wire,,\"{memo}\"");
    let ledger = csv_ledger(&dir.path().join("ledger"), &[ROW_1, &long_row, ROW_3]);
    let cfg = dir.path().join("small.toml");
    // 4 MiB: the whole quoted field fits, and is read as one record
    std::fs::write(&cfg, "[rules]\nenabled = false\n[input]\nmax-record-bytes = 4194304\n").unwrap();
    let out = dir.path().join("out-4m");
    ok(&replay(&ledger, &out, Some(&cfg)));
    assert_counts(&out, 3, 3, 0);
    // the default 1 MiB: refused as too long, from its first line
    let out = dir.path().join("out");
    ok(&replay(&ledger, &out, Some(&rules_off(dir.path()))));
    let q = quarantined(&out);
    assert_eq!(q[0], ("transactions.csv".into(), 3, "record".into(), "record_too_long".into()), "{q:?}");
    let s = summary(&out);
    assert_eq!(s["rows_accepted"], 2, "{s}");
    assert_eq!(s["reconciled"], true, "{s}");
}

#[test]
fn endless_lines_in_the_side_tables_are_quarantined_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = csv_ledger(&dir.path().join("ledger"), &[ROW_1, ROW_3]);
    let acct = "{\"account_id\":\"a\",\"kind\":\"person\"}\n{\"account_id\":\"b\",\"memo\":\"";
    write_bomb(&ledger.join("accounts.jsonl.gz"), acct.as_bytes(), &[b'1'; 1 << 20], BOMB_MIB / 2, b"\"}\n");
    let fx = "date,currency,usd_per_unit\n2026-01-01,EUR,1.1\n2026-01-02,EUR,1.";
    write_bomb(&ledger.join("fx_rates.csv.gz"), fx.as_bytes(), &[b'1'; 1 << 20], BOMB_MIB / 2, b"\n");
    let out = dir.path().join("out");
    let (o, peak_mb) = replay_measured(dir.path(), &ledger, &out);
    ok(&o);
    let q = quarantined(&out);
    assert!(q.contains(&("accounts.jsonl.gz".into(), 2, "record".into(), "record_too_long".into())), "{q:?}");
    assert!(q.contains(&("fx_rates.csv.gz".into(), 3, "record".into(), "record_too_long".into())), "{q:?}");
    let s = summary(&out);
    assert_eq!((s["accounts_rows"].as_u64(), s["side_table_rows_quarantined"].as_u64()), (Some(2), Some(2)), "{s}");
    assert_eq!(s["rows_accepted"], 2, "{s}");
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB");
}

#[test]
fn accounts_with_distinct_keys_per_row_take_memory_linear_in_rows() {
    // 2,000 rows of 200 keys each, no key seen twice: a reader that makes every key a
    // column holds 2,000 x 400,000 cells (tens of GB); one that keeps the columns it
    // uses holds 2,000 rows
    let dir = tempfile::tempdir().unwrap();
    let ledger = csv_ledger(&dir.path().join("ledger"), &[ROW_1, ROW_3]);
    let mut f = std::io::BufWriter::new(std::fs::File::create(ledger.join("accounts.jsonl")).unwrap());
    for r in 0..2_000 {
        let mut line = format!("{{\"account_id\":\"acct-{r}\",\"kind\":\"person\"");
        for k in 0..200 {
            line.push_str(&format!(",\"extra_{r}_{k}\":\"value-{k}\""));
        }
        line.push_str("}\n");
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let out = dir.path().join("out");
    let (o, peak_mb) = replay_measured(dir.path(), &ledger, &out);
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["accounts_rows"], 2_000, "{s}");
    assert_counts(&out, 2, 2, 0);
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB");
}

#[test]
fn absurd_numbers_times_nul_bytes_and_a_bom_are_refused_or_read_as_meant() {
    let dir = tempfile::tempdir().unwrap();
    let long_fraction = format!("t9,2026-03-01T10:00:00.{}Z,a,b,5,USD,wire,,", "1".repeat(100_000));
    let rows = [
        ROW_1,
        "t2,2026-03-01T10:00:00Z,a,b,0e-2147483000,USD,wire,,",
        "t4,2026-03-01T10:00:00Z,a,b,1e-2147483000,USD,wire,,",
        "t5,2026-03-01T10:00:00Z,a,b,1e2147483647,USD,wire,,",
        "t6,2026-03-01T10:00:00+99:99,a,b,5,USD,wire,,",
        "t7,2026-03-01T10:00:00-24:00,a,b,5,USD,wire,,",
        "t8,2026-03-01T10:00:00Z,a,b,5,USD,wire,,memo with \0 inside",
        &long_fraction,
        "t1\0x,2026-03-01T10:00:00Z,a,b,5,USD,wire,,",
        "t10,2026-03-01T10:00:00+05:30,a,b,5,USD,wire,,",
    ];
    // a BOM before the header of the CSV file
    let ledger = dir.path().join("ledger");
    csv_ledger(&ledger, &rows);
    let text = std::fs::read(ledger.join("transactions.csv")).unwrap();
    std::fs::write(ledger.join("transactions.csv"), [&[0xEF, 0xBB, 0xBF][..], &text].concat()).unwrap();
    let out = dir.path().join("out");
    ok(&replay(&ledger, &out, Some(&rules_off(dir.path()))));
    let q: Vec<(u64, String, String)> = quarantined(&out).into_iter().map(|(_, l, f, r)| (l, f, r)).collect();
    let want: Vec<(u64, String, String)> = [
        (3, "amount", "bad_amount"),
        (4, "amount", "bad_amount"),
        (5, "amount", "bad_amount"),
        (6, "ts", "bad_timestamp"),
        (7, "ts", "bad_timestamp"),
        (8, "memo", "invalid_text"),
        (9, "ts", "bad_timestamp"),
        (10, "tx_id", "invalid_text"),
    ]
    .iter()
    .map(|(l, f, r)| (*l, f.to_string(), r.to_string()))
    .collect();
    assert_eq!(q, want);
    assert_counts(&out, 10, 2, 8);

    // NDJSON: a BOM before the first object, and NUL as a JSON escape
    let ledger = dir.path().join("ledger-json");
    std::fs::create_dir_all(&ledger).unwrap();
    let nul = JSON_3.replace("\"wire\"", "\"wi\\u0000re\"");
    let text = format!("\u{feff}{JSON_1}\n{nul}\n");
    std::fs::write(ledger.join("transactions.jsonl"), text).unwrap();
    let out = dir.path().join("out-json");
    ok(&replay(&ledger, &out, Some(&rules_off(dir.path()))));
    assert_eq!(quarantined(&out), [("transactions.jsonl".into(), 2, "channel".into(), "invalid_text".into())]);
    assert_counts(&out, 2, 1, 1);
}

#[test]
fn ingest_refuses_the_same_hostile_rows_and_reports_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let head = format!("{JSON_1}\n{{\"tx_id\":\"t2\",\"memo\":\"");
    let tail = format!("\"}}\n{JSON_3}\n");
    write_bomb(&ledger.join("transactions.jsonl.gz"), head.as_bytes(), &[b'0'; 1 << 20], BOMB_MIB, tail.as_bytes());
    let q = dir.path().join("q.jsonl");
    let o = mirrorflow(&["ingest", ledger.to_str().unwrap(), "--quarantine", q.to_str().unwrap()], None);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((report["rows_read"].as_u64(), report["rows_accepted"].as_u64()), (Some(3), Some(2)), "{report}");
    assert_eq!(report["reconciled"], true, "{report}");
    assert!(report["peak_rss_bytes"].as_u64().unwrap() < PEAK_MB << 20, "{report}");
    let recs = jsonl(&q);
    assert_eq!((recs.len(), recs[0]["reason"].as_str()), (1, Some("record_too_long")));
}

#[test]
fn usd_values_beyond_the_bound_are_quarantined_not_fatal() {
    // two rows of 1e19 at 1.5e13 USD per unit once ended in "Arithmetic overflow" in
    // 011_structuring_daily (exit 2); the SQL rules run here
    let dir = tempfile::tempdir().unwrap();
    let ledger = csv_ledger(
        &dir.path().join("ledger"),
        &[
            "t1,2026-03-01T10:00:00Z,a,b,10000000000000000000,XAU,cash_deposit,,",
            "t2,2026-03-01T11:00:00Z,a,b,10000000000000000000,XAU,cash_deposit,,",
            "t3,2026-03-01T12:00:00Z,a,b,66,XAU,wire,,",
            "t4,2026-03-01T13:00:00Z,a,b,67,XAU,wire,,",
            "t5,2026-03-01T14:00:00Z,a,b,9500,USD,cash_deposit,,",
        ],
    );
    std::fs::write(ledger.join("fx_rates.csv"), "date,currency,usd_per_unit\n2026-03-01,XAU,15000000000000\n").unwrap();
    let out = dir.path().join("out");
    // metrics stay up after the run: the counters must reconcile like the summary
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["replay", ledger.to_str().unwrap(), "--progress", "off", "--out", out.to_str().unwrap()])
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-hold", "120s"])
        .env("MIRRORFLOW_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let first = err.next().unwrap().unwrap();
    let addr = first.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    std::thread::spawn(move || for _ in err {});
    let mut finished = false;
    for l in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        if l.unwrap().starts_with("outputs in") {
            finished = true;
            break;
        }
    }
    if !finished {
        // stdout closed without the closing lines: the run failed (and has exited)
        panic!("the replay did not end normally: {:?}", child.wait().unwrap());
    }
    let (status, scrape) = super::serve::http(&addr, "GET", "/metrics", None, None);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200);
    let metric = |name: &str, label: &str| -> f64 {
        scrape
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(metric("mirrorflow_rows_read_total", ""), 5.0, "{scrape}");
    assert_eq!(metric("mirrorflow_rows_accepted_total", ""), 2.0, "{scrape}");
    assert_eq!(metric("mirrorflow_rows_quarantined_total", "reason=\"usd_out_of_range\""), 3.0, "{scrape}");
    assert_eq!(metric("mirrorflow_rows_quarantined_total", ""), 3.0, "{scrape}");
    // the allocator's own figures: what the job holds, and what it keeps resident
    let (allocated, resident) =
        (metric("mirrorflow_heap_allocated_bytes", ""), metric("mirrorflow_heap_resident_bytes", ""));
    assert!(allocated > 1e6 && resident >= allocated, "heap {allocated} of {resident} resident:\n{scrape}");
    let q = jsonl(&out.join("quarantine.jsonl"));
    let reasons: Vec<(&str, &str)> =
        q.iter().map(|r| (r["reason"].as_str().unwrap(), r["field"].as_str().unwrap())).collect();
    assert_eq!(reasons, [("usd_out_of_range", "amount"); 3]);
    let msgs: Vec<&str> = q.iter().map(|r| r["message"].as_str().unwrap()).collect();
    for id in ["t1", "t2", "t4"] {
        assert!(msgs.iter().any(|m| m.contains(&format!("tx_id `{id}`"))), "{msgs:?}");
    }
    assert_counts(&out, 5, 2, 3);
    assert_eq!(summary(&out)["quarantined_by_reason"]["usd_out_of_range"], 3);
}

#[test]
fn an_endless_line_on_stdin_is_quarantined_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["--config", rules_off(dir.path()).to_str().unwrap()])
        .args(["run", "--stdin", "--progress", "off", "--out", out.to_str().unwrap()])
        .env("MIRRORFLOW_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        writeln!(stdin, "{JSON_1}").unwrap();
        stdin.write_all(b"{\"tx_id\":\"t2\",\"memo\":\"").unwrap();
        let chunk = vec![b'0'; 1 << 20];
        for _ in 0..BOMB_MIB {
            stdin.write_all(&chunk).unwrap();
        }
        writeln!(stdin, "\"}}\n{JSON_3}").unwrap();
    });
    let (o, peak) = wait_peak_rss(child);
    writer.join().unwrap();
    ok(&o);
    let peak_mb = peak / (1024 * 1024);
    assert_eq!(quarantined(&out), [("<stdin>".into(), 2, "record".into(), "record_too_long".into())]);
    assert_counts(&out, 3, 2, 1);
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB for a {BOMB_MIB} MiB line");
}

#[test]
fn a_csv_header_past_the_limit_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    std::fs::write(ledger.join("transactions.csv"), format!("{}\n{ROW_1}\n", "h,".repeat(1 << 20))).unwrap();
    let o = replay(&ledger, &dir.path().join("out"), Some(&rules_off(dir.path())));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("transactions.csv") && err.contains("header row has 2097153 bytes"), "{err}");
}

#[test]
fn rows_near_the_record_limit_do_not_pile_up_in_one_chunk() {
    // 300 valid rows with a memo of 1,000,000 bytes each (under the 1 MiB limit): a chunk
    // of batch-rows rows would hold all 300 MB twice (memo column and raw text); chunks
    // also end after 64 MiB of input
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let memo = gz_member(&[b'm'; 1_000_000]);
    let mut f = std::io::BufWriter::new(std::fs::File::create(ledger.join("transactions.jsonl.gz")).unwrap());
    for i in 0..300 {
        let head = format!(
            r#"{{"tx_id":"t{i}","ts":"2026-03-01T10:00:00Z","src_account":"a","dst_account":"b","amount":"1","currency":"USD","channel":"wire","memo":""#
        );
        f.write_all(&gz_member(head.as_bytes())).unwrap();
        f.write_all(&memo).unwrap();
        f.write_all(&gz_member(b"\"}\n")).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let (o, peak_mb) = run_measured(dir.path(), &["ingest", ledger.to_str().unwrap()]);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((report["rows_read"].as_u64(), report["rows_accepted"].as_u64()), (Some(300), Some(300)), "{report}");
    assert!(peak_mb < PEAK_MB, "peak RSS {peak_mb} MB for 300 rows of 1 MB");
}
