//! Live sources: NDJSON on stdin and a followed directory, with watermarks; a live
//! stream and a replay of the same data reach the detectors in the same order.

use std::time::Duration;

use super::common::*;

fn json_row(id: &str, secs_after: i64) -> String {
    let ts = mirrorflow::ingest::values::format_ts((1_772_352_000 + secs_after) * 1_000_000);
    format!(
        r#"{{"tx_id":"{id}","ts":"{ts}","src_account":"a","dst_account":"b","amount":"100.5","currency":"USD","channel":"wire"}}"#
    )
}

#[test]
fn stdin_reorders_within_lateness_quarantines_late_rows_and_matches_replay() {
    let dir = tempfile::tempdir().unwrap();
    // allowed lateness 1h: s3 is 30 min out of order (kept), late is 2h behind (refused)
    let rows = [("s1", 0), ("s2", 600), ("s4", 3_000), ("s3", 1_200), ("s5", 9_000), ("late", 1_500), ("s6", 9_100)];
    let mut input = String::new();
    for (id, t) in rows {
        input.push_str(&json_row(id, t));
        input.push('\n');
    }
    input.push_str("garbage line\n");
    let out = dir.path().join("live");
    let cfg_path = dir.path().join("live.toml");
    std::fs::write(&cfg_path, "[output]\nwrite-ordered = true\nprogress = \"off\"\n").unwrap();
    let o = mirrorflow(
        &["--config", cfg_path.to_str().unwrap(), "run", "--stdin", "--out", out.to_str().unwrap()],
        Some(input.as_bytes()),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["rows_read"], 8);
    assert_eq!(s["rows_accepted"], 6);
    assert_eq!(s["quarantined_by_reason"]["late_event"], 1);
    assert_eq!(s["quarantined_by_reason"]["bad_json"], 1);
    assert_eq!(s["reconciled"], true);
    let live = ordered_ids(&out);
    assert_eq!(live, ["s1", "s2", "s3", "s4", "s5", "s6"]);
    let q = jsonl(&out.join("quarantine.jsonl"));
    let late = q.iter().find(|r| r["reason"] == "late_event").unwrap();
    assert!(late["message"].as_str().unwrap().contains("`late`"), "{late}");

    // The same records as a ledger file, replayed: same order into the detectors.
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let kept: String = rows.iter().filter(|(id, _)| *id != "late").map(|(id, t)| json_row(id, *t) + "\n").collect();
    std::fs::write(ledger.join("transactions.jsonl"), kept).unwrap();
    let out2 = dir.path().join("replay");
    let o = mirrorflow(
        &["--config", cfg_path.to_str().unwrap(), "replay", ledger.to_str().unwrap(), "--out", out2.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ordered_ids(&out2), live);
}

#[test]
fn a_followed_directory_reads_each_new_file_once_and_ignores_partial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.jsonl"), json_row("d1", 0) + "\n" + &json_row("d2", 60) + "\n").unwrap();
    std::fs::write(inbox.join("b.csv.tmp"), "not yet").unwrap();
    let out = dir.path().join("out");
    let cfg_path = dir.path().join("dir.toml");
    std::fs::write(
        &cfg_path,
        format!("[live]\nsource = \"dir\"\ndir = \"{}\"\npoll-interval = \"100ms\"\nsettle = \"200ms\"\nidle-exit = \"3s\"\n[output]\nwrite-ordered = true\nprogress = \"off\"\n", inbox.display()),
    )
    .unwrap();
    let inbox2 = inbox.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        let csv =
            format!("{HEADER}\nd3,2026-03-01T08:10:00Z,a,b,5,USD,wire,,\nd3,2026-03-01T08:11:00Z,a,b,5,USD,wire,,\n");
        std::fs::write(inbox2.join(".c.csv"), csv).unwrap();
        std::fs::rename(inbox2.join(".c.csv"), inbox2.join("c.csv")).unwrap();
    });
    let o = mirrorflow(&["--config", cfg_path.to_str().unwrap(), "run", "--out", out.to_str().unwrap()], None);
    writer.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["rows_read"], 4);
    assert_eq!(s["rows_accepted"], 3);
    assert_eq!(s["quarantined_by_reason"]["duplicate_tx_id"], 1);
    assert_eq!(ordered_ids(&out), ["d1", "d2", "d3"]);
}

/// A restarted live job keeps what the previous run wrote (renamed with its time) and
/// starts its own files: each run's files reconcile on their own.
#[test]
fn a_restarted_live_job_keeps_the_previous_runs_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let run = |rows: &[(&str, i64)], extra: &str| {
        let mut input: String = rows.iter().map(|(id, t)| json_row(id, *t) + "\n").collect();
        input.push_str(extra);
        let o = mirrorflow(
            &["run", "--stdin", "--progress", "off", "--out", out.to_str().unwrap()],
            Some(input.as_bytes()),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[("a1", 0), ("a2", 60)], "not json\n");
    let first = std::fs::read_to_string(out.join("summary.json")).unwrap();
    run(&[("b1", 120)], "");
    assert_eq!(summary(&out)["rows_read"], 1, "the second run's own summary");
    let mut kept: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.matches('.').count() == 2)
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept[0].starts_with("alerts.") && kept[1].starts_with("quarantine.") && kept[2].starts_with("summary."));
    assert_eq!(std::fs::read_to_string(out.join(&kept[2])).unwrap(), first);
    assert_eq!(jsonl(&out.join(&kept[1])).len(), 1, "the first run's reject is kept");
    assert!(jsonl(&out.join("quarantine.jsonl")).is_empty());
}

/// SIGTERM (what `docker stop` sends) ends a live job cleanly while its input is still
/// open: what was read goes through the stages, the outputs are written and reconcile.
#[cfg(unix)]
#[test]
fn sigterm_stops_a_live_job_with_its_outputs_written() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["run", "--stdin", "--progress", "off", "--out", out.to_str().unwrap()])
        .env("MIRRORFLOW_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (id, t) in [("a1", 0), ("a2", 60), ("a3", 120)] {
        writeln!(stdin, "{}", json_row(id, t)).unwrap();
    }
    writeln!(stdin, "not json").unwrap();
    stdin.flush().unwrap();
    // the job is up once the store exists; then the rows are in its reader
    let t = std::time::Instant::now();
    while !out.join("alerts.db").exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "the job did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let k = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(k.success());
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still running 20 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    assert!(status.success(), "{status:?}");
    let s = summary(&out);
    assert_eq!((s["rows_read"].as_u64(), s["rows_accepted"].as_u64()), (Some(4), Some(3)), "{s:#}");
    assert_eq!(s["reconciled"], true);
}
