//! Periodic checkpoints of a followed directory (`run --dir D --checkpoint C`), through the
//! binary: a job stopped with SIGTERM after its first file, then restarted after rows were
//! appended to that file and a new file landed, ends with the alerts, counts and
//! quarantine of one replay of every row: the checkpoint holds each file's position (only
//! what was appended is read after the restart), the window and the detectors' state.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;

fn start(cfg: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["--config", cfg.to_str().unwrap(), "run", "--out", out.to_str().unwrap()])
        .args(extra)
        .env("MIRRORFLOW_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the job; its exit status and what it wrote to stderr.
fn wait(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String) {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (s, err);
        }
        assert!(t.elapsed() < limit, "the job still runs after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(unix)]
#[test]
fn a_followed_directory_resumed_from_its_checkpoint_ends_as_one_replay() {
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("fixtures/demo");
    let text = std::fs::read_to_string(demo.join("transactions.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows: Vec<&str> = lines.collect();
    let (a, rest) = rows.split_at(rows.len() * 6 / 10);
    let (appended, b) = rest.split_at(rest.len() / 2);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), format!("{header}\n{}\n", a.join("\n"))).unwrap();
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let cfg = dir.path().join("live.toml");
    std::fs::write(
        &cfg,
        format!(
            "[live]\nsource = \"dir\"\ndir = \"{}\"\npoll-interval = \"100ms\"\nsettle = \"200ms\"\naccounts = \"{}\"\n\
             fx-rates = \"{}\"\ncheckpoint-dir = \"{}\"\ncheckpoint-interval = \"500ms\"\n[output]\nprogress = \"off\"\n",
            inbox.display(),
            demo.join("accounts.csv").display(),
            demo.join("fx_rates.csv").display(),
            ck.display()
        ),
    )
    .unwrap();

    // first run: reads a.csv, checkpoints, and is stopped with SIGTERM (a last checkpoint,
    // episodes kept open in it)
    let child = start(&cfg, &out, &[]);
    let t = Instant::now();
    while !ck.join("state.json").exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let k = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(k.success());
    let (status, err) = wait(child, Duration::from_secs(60));
    assert!(status.success(), "{status:?}: {err}");
    let first = summary(&out);
    assert_eq!(first["rows_read"].as_u64(), Some(a.len() as u64), "{first:#}");

    // meanwhile: rows appended to a.csv, and a new file
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(inbox.join("a.csv")).unwrap();
        writeln!(f, "{}", appended.join("\n")).unwrap();
    }
    std::fs::write(inbox.join("b.csv"), format!("{header}\n{}\n", b.join("\n"))).unwrap();

    // second run: resumes, reads only what is new, and ends when the directory is quiet
    let child = start(&cfg, &out, &["--idle-exit", "3s"]);
    let (status, err) = wait(child, Duration::from_secs(120));
    assert!(status.success(), "{status:?}: {err}");

    let reference = dir.path().join("replay");
    let o = mirrorflow(
        &[
            "replay",
            demo.to_str().unwrap(),
            "--out",
            reference.to_str().unwrap(),
            "--store",
            "off",
            "--progress",
            "off",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (s, r) = (summary(&out), summary(&reference));
    for k in ["rows_read", "rows_accepted", "rows_quarantined"] {
        assert_eq!(s[k], r[k], "{k}: {s:#}");
    }
    assert_eq!(s["reconciled"], true);
    let (got, want) = (alert_set(&out.join("alerts.jsonl")), alert_set(&reference.join("alerts.jsonl")));
    assert!(!want.is_empty());
    assert_eq!(got, want, "the resumed directory run raised other alerts than one replay");
}
