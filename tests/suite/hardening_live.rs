//! Hardening of checkpoints and live runs (issue 14): torn checkpoints are refused,
//! duplicate ids are remembered across a checkpoint, far-future rows cannot poison the
//! watermark, and a followed directory survives empty, grown and symlinked files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::*;

fn demo() -> PathBuf {
    root().join("fixtures/demo")
}

/// `dir` with the demo's side tables and its first `rows` transactions.
fn demo_head(dir: &Path, rows: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["accounts.csv", "fx_rates.csv"] {
        std::fs::copy(demo().join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(demo().join("transactions.csv")).unwrap();
    let head: String = text.lines().take(rows + 1).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("transactions.csv"), head).unwrap();
    dir.to_path_buf()
}

fn replay(ledger: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--store", "off", "--progress", "off"]);
    args.extend(extra);
    mirrorflow(&args, None)
}

fn ok(o: &std::process::Output) {
    assert!(o.status.success(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
}

fn alerts_by_id(out: &Path) -> BTreeMap<String, serde_json::Value> {
    jsonl(&out.join("alerts.jsonl")).into_iter().map(|a| (a["alert_id"].as_str().unwrap().to_string(), a)).collect()
}

/// Item 3: a checkpoint whose files do not belong together (one replaced by another
/// checkpoint's, as a kill during an overwrite used to leave it) or one of whose files was
/// changed is refused: exit 2, naming the checkpoint directory and the file.
#[test]
fn a_torn_or_changed_checkpoint_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (early, late) = (demo_head(&dir.path().join("early"), 1000), demo_head(&dir.path().join("late"), 2500));
    let (ck_early, ck) = (dir.path().join("ck-early"), dir.path().join("ck"));
    ok(&replay(&early, &dir.path().join("o1"), &["--checkpoint", ck_early.to_str().unwrap()]));
    ok(&replay(&late, &dir.path().join("o2"), &["--checkpoint", ck.to_str().unwrap()]));
    // whole, it resumes
    ok(&replay(&demo(), &dir.path().join("o3"), &["--resume", ck.to_str().unwrap()]));

    let refused = |file: &str| {
        let o = replay(&demo(), &dir.path().join("o4"), &["--resume", ck.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(ck.to_str().unwrap()), "names the checkpoint: {err}");
        assert!(err.contains(&format!("`{file}`")) && err.contains("checksum"), "names the file: {err}");
    };
    // the torn case: the window of another checkpoint beside this state
    let window = std::fs::read(ck.join("window.parquet")).unwrap();
    std::fs::copy(ck_early.join("window.parquet"), ck.join("window.parquet")).unwrap();
    refused("window.parquet");
    std::fs::write(ck.join("window.parquet"), &window).unwrap();
    // one byte of the state changed
    let state = std::fs::read_to_string(ck.join("state.json")).unwrap();
    std::fs::write(ck.join("state.json"), state.replacen("\"next_seq\":2500", "\"next_seq\":2400", 1)).unwrap();
    refused("state.json");
    std::fs::write(ck.join("state.json"), &state).unwrap();
    ok(&replay(&demo(), &dir.path().join("o5"), &["--resume", ck.to_str().unwrap()]));
}

/// Item 3: a checkpoint written over an old one is wholly the new one (no file of the old
/// one left, nothing beside it); a write killed between putting the old one aside and the
/// new one in place resumes from the old one, wholly.
#[test]
fn a_checkpoint_written_over_an_old_one_is_wholly_old_or_wholly_new() {
    let dir = tempfile::tempdir().unwrap();
    let (early, late) = (demo_head(&dir.path().join("early"), 1000), demo_head(&dir.path().join("late"), 2500));
    let ck = dir.path().join("ck");
    ok(&replay(&early, &dir.path().join("o1"), &["--checkpoint", ck.to_str().unwrap()]));
    let old_state = std::fs::read_to_string(ck.join("state.json")).unwrap();
    assert!(old_state.contains("\"next_seq\":1000"), "{}", &old_state[..200]);
    ok(&replay(&late, &dir.path().join("o2"), &["--checkpoint", ck.to_str().unwrap()]));
    let new_state = std::fs::read_to_string(ck.join("state.json")).unwrap();
    assert!(new_state.contains("\"next_seq\":2500"), "{}", &new_state[..200]);
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    names.sort();
    assert_eq!(names, ["ck", "early", "late", "o1", "o2"], "no half-written or old copy left beside it");
    let resumed = dir.path().join("o3");
    ok(&replay(&demo(), &resumed, &["--resume", ck.to_str().unwrap()]));
    assert_eq!(summary(&resumed)["quarantined_by_reason"]["duplicate_tx_id"], 2500);

    // killed after the old one was put aside, before the new one was renamed in: what is
    // there is the old checkpoint, whole (and a half-written new one, ignored)
    std::fs::rename(&ck, dir.path().join(".ck.old-4242")).unwrap();
    std::fs::create_dir(dir.path().join(".ck.new-4242")).unwrap();
    std::fs::write(dir.path().join(".ck.new-4242/window.parquet"), b"half").unwrap();
    let o = replay(&demo(), &dir.path().join("o4"), &["--resume", ck.to_str().unwrap()]);
    ok(&o);
    assert_eq!(summary(&dir.path().join("o4"))["quarantined_by_reason"]["duplicate_tx_id"], 2500);

    // a directory holding something else is never replaced, and the run says so first
    let o = replay(&early, &dir.path().join("o5"), &["--checkpoint", early.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not a checkpoint directory"), "{err}");
    assert!(early.join("transactions.csv").exists() && !dir.path().join("o5/summary.json").exists());
}

/// Item 4: half a ledger replayed with `--checkpoint`, then the WHOLE ledger resumed: the
/// overlapping rows are refused as `duplicate_tx_id` and the alerts of the two runs are
/// exactly one full run's.
#[test]
fn a_resumed_replay_refuses_rows_already_processed_before_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    ok(&replay(&demo(), &full, &[]));
    let expected = alerts_by_id(&full);
    assert!(expected.len() > 50, "{}", expected.len());

    let half = demo_head(&dir.path().join("half"), 2500);
    let ck = dir.path().join("ck");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&replay(&half, &a, &["--checkpoint", ck.to_str().unwrap()]));
    ok(&replay(&demo(), &b, &["--resume", ck.to_str().unwrap()]));
    let s = summary(&b);
    assert_eq!(s["rows_read"], 5000);
    assert_eq!(s["rows_accepted"], 2500);
    assert_eq!(s["quarantined_by_reason"]["duplicate_tx_id"], 2500);
    assert_eq!(s["reconciled"], true);
    let q = jsonl(&b.join("quarantine.jsonl"));
    assert!(q.iter().all(|r| r["reason"] == "duplicate_tx_id"));
    assert!(q.iter().any(|r| r["message"].as_str().unwrap_or("").contains("T0000000001")), "{}", q[0]);

    let before = alerts_by_id(&a);
    let mut split = before.clone();
    split.extend(alerts_by_id(&b));
    assert!(!before.is_empty() && split.len() > before.len(), "alerts on both sides");
    assert_eq!(split.len(), jsonl(&a.join("alerts.jsonl")).len() + jsonl(&b.join("alerts.jsonl")).len());
    assert_eq!(split, expected);
}

/// One NDJSON transaction `secs` after 2026-03-01T00:00:00Z.
fn row(id: &str, secs: i64, channel: &str, dst: &str, amount: &str) -> String {
    let ts = mirrorflow::ingest::values::format_ts((1_772_352_000 + secs) * 1_000_000);
    row_at(id, &ts, channel, dst, amount)
}

fn row_at(id: &str, ts: &str, channel: &str, dst: &str, amount: &str) -> String {
    format!(
        r#"{{"tx_id":"{id}","ts":"{ts}","src_account":"src-{id}","dst_account":"{dst}","amount":"{amount}","currency":"USD","channel":"{channel}"}}"#
    ) + "\n"
}

/// Three cash deposits just under the CTR threshold into `acct` an hour apart from `secs`.
fn structuring(prefix: &str, secs: i64, acct: &str) -> Vec<String> {
    (0..3).map(|i| row(&format!("{prefix}{i}"), secs + i * 3_600, "cash_deposit", acct, "9500.00")).collect()
}

fn run_stdin(out: &Path, config: Option<&Path>, input: &str) -> std::process::Output {
    let mut args = Vec::new();
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args.extend(["run", "--stdin", "--store", "off", "--progress", "off", "--out", out.to_str().unwrap()]);
    mirrorflow(&args, Some(input.as_bytes()))
}

/// Item 8: a live row dated 2199 is quarantined as `future_timestamp` and does not move
/// the watermark: the rows after it are not late and the structuring alert is raised.
#[test]
fn a_far_future_row_is_quarantined_and_does_not_poison_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = structuring("d", 0, "ACCT-S")[..1].join("");
    input.push_str(&row_at("far", "2199-12-31T00:00:00Z", "wire", "b", "10.00"));
    input.push_str(&structuring("d", 0, "ACCT-S")[1..].join(""));
    for i in 0..50 {
        input.push_str(&row(&format!("w{i}"), 7_200 + i * 60, "wire", "b", "120.00"));
    }
    let out = dir.path().join("live");
    let o = run_stdin(&out, None, &input);
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["rows_read"], 54);
    assert_eq!(s["rows_accepted"], 53, "{s:#}");
    assert_eq!(s["quarantined_by_reason"]["future_timestamp"], 1);
    assert_eq!(s["rows_quarantined"], 1, "no row late");
    assert_eq!(s["reconciled"], true);
    let q = jsonl(&out.join("quarantine.jsonl"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["reason"], "future_timestamp");
    assert!(q[0]["message"].as_str().unwrap().contains("`far`"), "{}", q[0]);
    let alerts = jsonl(&out.join("alerts.jsonl"));
    let st = alerts.iter().find(|a| a["rule_id"] == "010_structuring").expect("the structuring alert");
    assert_eq!(st["tx_ids"], serde_json::json!(["d0", "d1", "d2"]));
}

/// A config that follows `inbox` and exits after 5 s without new data (rules off: these
/// tests are about reading).
fn dir_config(dir: &Path, inbox: &Path) -> PathBuf {
    let cfg = dir.join("dir.toml");
    std::fs::write(
        &cfg,
        format!(
            "[live]\nsource = \"dir\"\ndir = \"{}\"\npoll-interval = \"100ms\"\nsettle = \"300ms\"\nidle-exit = \"5s\"\n\
             [rules]\nenabled = false\n[output]\nwrite-ordered = true\nprogress = \"off\"\nstore = \"off\"\n",
            inbox.display()
        ),
    )
    .unwrap();
    cfg
}

fn run_dir(cfg: &Path, out: &Path) -> std::process::Output {
    mirrorflow(&["--config", cfg.to_str().unwrap(), "run", "--out", out.to_str().unwrap()], None)
}

/// Item 9: an empty file in a followed directory is skipped with a warning and counted;
/// the run goes on to the other files (and a restart does not die on it either).
#[test]
fn an_empty_file_in_a_followed_directory_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "").unwrap();
    std::fs::write(inbox.join("b.jsonl"), row("e1", 0, "wire", "b", "5") + &row("e2", 60, "wire", "b", "5")).unwrap();
    let cfg = dir_config(dir.path(), &inbox);
    for out in ["out1", "out2"] {
        let out = dir.path().join(out);
        let o = run_dir(&cfg, &out);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("empty file skipped") && err.contains("a.csv"), "{err}");
        let s = summary(&out);
        assert_eq!(s["rows_read"], 2);
        assert_eq!(s["rows_accepted"], 2);
        assert_eq!(s["dir_files"]["read"], 1);
        assert_eq!(s["dir_files"]["empty_skipped"], 1);
    }
}

/// Item 10: rows appended to a file after it settled and was read are read too (NDJSON
/// and CSV, whole lines, line numbers continuing), and counted.
#[test]
fn rows_appended_to_a_read_file_are_read_with_their_line_numbers() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.jsonl"), row("j1", 0, "wire", "b", "5") + &row("j2", 60, "wire", "b", "5")).unwrap();
    std::fs::write(inbox.join("b.csv"), format!("{HEADER}\nc1,2026-03-01T08:02:00Z,a,b,5,USD,wire,,\n")).unwrap();
    let cfg = dir_config(dir.path(), &inbox);
    let inbox2 = inbox.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let mut f = std::fs::OpenOptions::new().append(true).open(inbox2.join("a.jsonl")).unwrap();
        f.write_all((row("j3", 120, "wire", "b", "5") + "not json\n").as_bytes()).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(inbox2.join("b.csv")).unwrap();
        f.write_all(b"c2,2026-03-01T08:03:00Z,a,b,5,USD,wire,,\nc3,not a time,a,b,5,USD,wire,,\n").unwrap();
    });
    let out = dir.path().join("out");
    let o = run_dir(&cfg, &out);
    writer.join().unwrap();
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["rows_read"], 7, "{s:#}");
    assert_eq!(s["rows_accepted"], 5);
    assert_eq!(s["reconciled"], true);
    assert_eq!(s["dir_files"]["read"], 2);
    assert_eq!(s["dir_files"]["growth_read"], 2);
    let mut ids = ordered_ids(&out);
    ids.sort();
    assert_eq!(ids, ["c1", "c2", "j1", "j2", "j3"]);
    let q = jsonl(&out.join("quarantine.jsonl"));
    let line = |file: &str| q.iter().find(|r| r["file"].as_str().unwrap().ends_with(file)).unwrap()["line"].clone();
    assert_eq!(line("a.jsonl"), 4, "{q:?}");
    assert_eq!(line("b.csv"), 4, "{q:?}");
}

/// Item 11: a symbolic link in a followed directory is followed, as `replay` follows
/// one; a dangling link is reported and the run goes on.
#[cfg(unix)]
#[test]
fn symlinked_files_in_a_followed_directory_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, elsewhere) = (dir.path().join("inbox"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("x.jsonl"), row("s1", 0, "wire", "b", "5") + &row("s2", 60, "wire", "b", "5"))
        .unwrap();
    std::os::unix::fs::symlink(elsewhere.join("x.jsonl"), inbox.join("linked.jsonl")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("gone.jsonl"), inbox.join("dangling.jsonl")).unwrap();
    std::fs::write(inbox.join("plain.jsonl"), row("p1", 120, "wire", "b", "5")).unwrap();
    let out = dir.path().join("out");
    let o = run_dir(&dir_config(dir.path(), &inbox), &out);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dangling.jsonl"), "the dangling link is reported: {err}");
    let mut ids = ordered_ids(&out);
    ids.sort();
    assert_eq!(ids, ["p1", "s1", "s2"]);
    assert_eq!(summary(&out)["dir_files"]["read"], 2);
}

/// Item 6: a live run killed mid-write leaves a torn last line in `alerts.jsonl`; the
/// restarted run cuts it off the kept file (and says so), and does not write again the
/// alerts the kept file holds: every alert is in exactly one file, each file whole.
#[test]
fn a_restarted_live_run_repairs_a_torn_alert_file_and_does_not_repeat_its_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut input = structuring("d", 0, "ACCT-S").join("");
    input.push_str(&row("w1", 400_000, "wire", "b", "120.00"));
    ok(&run_stdin(&out, None, &input));
    let first = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap();
    assert_eq!(first.lines().count(), 1, "{first}");
    // the crash: half of a next alert's line
    let torn = &first[..first.len() / 2];
    std::fs::write(out.join("alerts.jsonl"), format!("{first}{torn}")).unwrap();

    // restarted on the same stream, plus a new structuring case
    let mut again = input.clone();
    again.push_str(&structuring("e", 500_000, "ACCT-T").join(""));
    let o = run_stdin(&out, None, &again);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("torn last line"), "{err}");
    let kept: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("alerts.") && n.ends_with(".jsonl") && n != "alerts.jsonl"
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), first, "the kept file is whole again");
    let new = jsonl(&out.join("alerts.jsonl"));
    assert_eq!(new.len(), 1, "only the new alert: {new:?}");
    assert_eq!(new[0]["tx_ids"], serde_json::json!(["e0", "e1", "e2"]));
    let s = summary(&out);
    assert_eq!(s["kept_alerts"]["files"], 1);
    assert_eq!(s["kept_alerts"]["alert_ids"], 1);
    assert_eq!(s["kept_alerts"]["not_written_again"], 1);
    assert_eq!(s["kept_alerts"]["torn_lines_cut"].as_array().unwrap().len(), 1);
}

/// Item 12: a live stream that goes quiet does not hold its last rows: with stdin still
/// open, `live.idle-advance` releases the rows held for reordering and the structuring
/// alert they complete is in `alerts.jsonl` before the input ends.
#[cfg(unix)]
#[test]
fn a_quiet_live_stream_releases_its_last_rows_before_the_input_ends() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let cfg = dir.path().join("idle.toml");
    // the rule's hold (14 days by default) cut to its lookback, 72 h: this test is about
    // the idle advance, not the hold
    std::fs::write(&cfg, "[live]\nidle-advance = \"1s\"\n[rules.params.010_structuring]\nhold_days = 3\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["--config", cfg.to_str().unwrap(), "run", "--stdin", "--store", "off", "--progress", "off"])
        .args(["--out", out.to_str().unwrap()])
        .env("MIRRORFLOW_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // the deposits, then a row 80 h later (past the rule's 72 h episode gap, within
    // nothing's lateness: it is held until more input or the idle advance)
    let mut input = structuring("d", 0, "ACCT-S").join("");
    input.push_str(&row("w1", 7_200 + 80 * 3_600, "wire", "b", "120.00"));
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let alerts = loop {
        let text = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap_or_default();
        if !text.is_empty() || std::time::Instant::now() > deadline {
            break text;
        }
        assert!(child.try_wait().unwrap().is_none(), "the job ended with its input open");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(child.try_wait().unwrap().is_none(), "stdin is still open");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let first: serde_json::Value =
        serde_json::from_str(alerts.lines().next().expect("an alert before stdin closed")).unwrap();
    assert_eq!(first["rule_id"], "010_structuring");
    assert_eq!(first["tx_ids"], serde_json::json!(["d0", "d1", "d2"]));
}

/// Item 10: a compressed file cannot be read from where it ended: when one grows after it
/// was read, that is said (warning naming it, counted), not dropped silently.
#[test]
fn a_compressed_file_that_grows_after_it_was_read_is_reported() {
    use std::io::Write;
    let gz = |rows: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(rows.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("z.jsonl.gz"), gz(&row("z1", 0, "wire", "b", "5"))).unwrap();
    let cfg = dir_config(dir.path(), &inbox);
    let inbox2 = inbox.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let mut f = std::fs::OpenOptions::new().append(true).open(inbox2.join("z.jsonl.gz")).unwrap();
        f.write_all(&gz(&row("z2", 60, "wire", "b", "5"))).unwrap();
    });
    let out = dir.path().join("out");
    let o = run_dir(&cfg, &out);
    writer.join().unwrap();
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("z.jsonl.gz") && err.contains("NOT read"), "{err}");
    let s = summary(&out);
    assert_eq!(s["rows_read"], 1);
    assert_eq!(s["dir_files"]["changed_unread"], 1);
}

/// Item 10: a file replaced under the same name (renamed over) is a new file, read from
/// its start, not taken for growth of the old one.
#[test]
fn a_file_replaced_under_the_same_name_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("r.jsonl"), row("r1", 0, "wire", "b", "5") + &row("r2", 60, "wire", "b", "5")).unwrap();
    let cfg = dir_config(dir.path(), &inbox);
    let inbox2 = inbox.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let rows: String = (1..=3).map(|i| row(&format!("n{i}"), 100 + i, "wire", "b", "5")).collect();
        std::fs::write(inbox2.join(".r.jsonl"), rows).unwrap();
        std::fs::rename(inbox2.join(".r.jsonl"), inbox2.join("r.jsonl")).unwrap();
    });
    let out = dir.path().join("out");
    let o = run_dir(&cfg, &out);
    writer.join().unwrap();
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["rows_read"], 5, "{s:#}");
    assert_eq!(s["rows_accepted"], 5);
    assert_eq!(s["dir_files"]["read"], 2);
    assert_eq!(s["dir_files"]["growth_read"], 0);
    assert_eq!(ordered_ids(&out), ["r1", "r2", "n1", "n2", "n3"]);
}

/// Item 8 in a replay: a row dated 2199 is refused there too (a historical ledger has no
/// row after the clock), so a checkpoint does not carry its year into the resumed run,
/// whose rows would otherwise all be late.
#[test]
fn a_far_future_row_in_a_replay_is_refused_and_a_resumed_run_is_not_late() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let mut text = structuring("d", 0, "ACCT-S")[..1].join("");
    text.push_str(&row_at("far", "2199-12-31T00:00:00Z", "wire", "b", "10.00"));
    std::fs::write(first.join("transactions.jsonl"), text).unwrap();
    let second = dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("transactions.jsonl"), structuring("d", 0, "ACCT-S")[1..].join("")).unwrap();
    let ck = dir.path().join("ck");
    let (o1, o2) = (dir.path().join("o1"), dir.path().join("o2"));
    let a = ["--store", "off", "--progress", "off"];
    ok(
        &mirrorflow(
            &[
                &[
                    "replay",
                    first.to_str().unwrap(),
                    "--out",
                    o1.to_str().unwrap(),
                    "--checkpoint",
                    ck.to_str().unwrap(),
                ][..],
                &a[..],
            ]
            .concat(),
            None,
        ),
    );
    let s = summary(&o1);
    assert_eq!(s["quarantined_by_reason"]["future_timestamp"], 1, "{s:#}");
    assert_eq!(s["rows_accepted"], 1);
    ok(&mirrorflow(
        &[
            &["replay", second.to_str().unwrap(), "--out", o2.to_str().unwrap(), "--resume", ck.to_str().unwrap()][..],
            &a[..],
        ]
        .concat(),
        None,
    ));
    let s = summary(&o2);
    assert_eq!((s["rows_accepted"].as_u64(), s["rows_quarantined"].as_u64()), (Some(2), Some(0)), "{s:#}");
    let alerts = jsonl(&o2.join("alerts.jsonl"));
    let st = alerts.iter().find(|a| a["rule_id"] == "010_structuring").expect("the structuring alert");
    assert_eq!(st["tx_ids"], serde_json::json!(["d0", "d1", "d2"]));
}
