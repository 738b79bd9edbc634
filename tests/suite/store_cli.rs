//! The alert store through every command, driven through the binary: `replay`, `run
//! --dir` and `serve` on a real PostgreSQL; two analysts deciding the same alerts at once
//! (PostgreSQL and SQLite) leave consistent audit chains and no forbidden move; a locked
//! SQLite store loses no alert (retries, then the spool file); case ids do not depend on
//! how the input was batched; text with NUL bytes is stored.
//!
//! PostgreSQL: `MIRRORFLOW_TEST_PG` (a URL) or the server `scripts/pg-test-server.sh`
//! finds or starts; each test makes its own database and drops it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common::*;

/// A fresh PostgreSQL database, dropped with this.
pub(super) struct PgDb {
    base: String,
    pub(super) url: String,
}

static NEXT_DB: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl PgDb {
    pub(super) fn new() -> PgDb {
        let base = match std::env::var("MIRRORFLOW_TEST_PG") {
            Ok(u) if !u.is_empty() && u != "skip" => u,
            _ => {
                let script = root().join("scripts/pg-test-server.sh");
                let o = Command::new("bash").arg(&script).output().expect("bash runs");
                assert!(o.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&o.stderr));
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            }
        };
        let mut admin = postgres::Client::connect(&base, postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e} (these tests need it)"));
        let name = format!(
            "mf_store_cli_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').expect("a postgres URL has a path").0);
        PgDb { base, url }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.url.rsplit('/').next().unwrap().to_string();
        if let Ok(mut admin) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn demo() -> PathBuf {
    root().join("fixtures/demo")
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every alert in the store, as `alerts list --json` shows it.
pub(super) fn listed(store: &str) -> Vec<serde_json::Value> {
    let out = ok(&mirrorflow(&["alerts", "--store", store, "list", "--json", "--limit", "10000"], None));
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

fn sorted_ids(rows: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = rows.iter().map(|r| r["alert_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// A file of quiet settings (plus `extra`) for `--config`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("test.toml");
    std::fs::write(&p, format!("[output]\nprogress = \"off\"\n{extra}")).unwrap();
    p
}

/// `run --dir` settings that read the demo's side tables and end 2 s after the last file.
fn live_config(dir: &Path, inbox: &Path, output_extra: &str) -> PathBuf {
    let d = demo();
    let p = dir.join("live.toml");
    std::fs::write(
        &p,
        format!(
            "[live]\nsource = \"dir\"\ndir = \"{}\"\npoll-interval = \"100ms\"\nsettle = \"200ms\"\nidle-exit = \"2s\"\n\
             accounts = \"{}\"\nfx-rates = \"{}\"\n[output]\nprogress = \"off\"\n{output_extra}",
            inbox.display(),
            d.join("accounts.csv").display(),
            d.join("fx_rates.csv").display()
        ),
    )
    .unwrap();
    p
}

fn inbox_with_demo(dir: &Path) -> PathBuf {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::copy(demo().join("transactions.csv"), inbox.join("transactions.csv")).unwrap();
    inbox
}

#[test]
fn replay_into_postgres_stores_every_alert() {
    let pg = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = config(dir.path(), "");
    let o = mirrorflow(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "replay",
            demo().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--store",
            &pg.url,
        ],
        None,
    );
    ok(&o);
    let file = jsonl(&out.join("alerts.jsonl"));
    assert!(file.len() > 100, "the demo raises its alerts: {}", file.len());
    assert_eq!(sorted_ids(&listed(&pg.url)), sorted_ids(&file));
    assert_eq!(summary(&out)["store"]["inserted"], file.len() as u64);
}

#[test]
fn run_dir_into_postgres_stores_every_alert() {
    let pg = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox_with_demo(dir.path());
    let out = dir.path().join("out");
    let cfg = live_config(dir.path(), &inbox, "");
    let o = mirrorflow(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--dir",
            inbox.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--idle-exit",
            "2s",
            "--store",
            &pg.url,
        ],
        None,
    );
    ok(&o);
    let file = jsonl(&out.join("alerts.jsonl"));
    assert!(!file.is_empty(), "the demo raises alerts live too");
    assert_eq!(sorted_ids(&listed(&pg.url)), sorted_ids(&file));
}

#[test]
fn serve_on_postgres_answers_the_queue() {
    let pg = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = config(dir.path(), "");
    replay_demo_into(&cfg, &out, &pg.url);
    let file = jsonl(&out.join("alerts.jsonl"));
    let server = super::serve::start(&pg.url);
    let (status, body) =
        super::serve::http(&server.addr, "GET", "/api/alerts?limit=10000", Some("token-of-ana-123"), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = v.as_array().or_else(|| v["alerts"].as_array()).unwrap_or_else(|| panic!("a list of alerts: {v}"));
    assert_eq!(sorted_ids(rows), sorted_ids(&file));
    // a decision through the API lands in the PostgreSQL store
    let id = rows[0]["alert_id"].as_str().unwrap();
    let (status, body) = super::serve::http(
        &server.addr,
        "POST",
        &format!("/api/alerts/{id}/decision"),
        Some("token-of-bob-456"),
        Some(r#"{"status":"in_review"}"#),
    );
    assert_eq!(status, 200, "{body}");
    drop(server);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&mirrorflow(&["alerts", "--store", &pg.url, "show", id, "--json"], None))).unwrap();
    assert_eq!(shown["status"], "in_review");
}

/// The workflow's moves (the store's `allowed`), as a user reads them in the docs.
fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "in_review" | "escalated" | "dismissed")
            | ("in_review", "escalated" | "dismissed" | "reported" | "open")
            | ("escalated", "reported" | "dismissed" | "in_review")
    )
}

/// Ana dismisses every alert while Bob takes every alert into review, at once, each
/// decision its own `mirrorflow alerts resolve` process. Dismissed is final for Bob, so
/// every alert ends dismissed, whoever came first; the audit chains must say so.
fn two_analysts_at_once(store: &str) {
    let ids = sorted_ids(&listed(store));
    assert!(ids.len() > 100, "{} alerts", ids.len());
    let run = |status: &'static str, user: &'static str, ids: Vec<String>, store: String| {
        std::thread::spawn(move || {
            ids.iter()
                .map(|id| {
                    let mut args = vec!["alerts", "--store", &store, "resolve", id, "--status", status, "--user", user];
                    if status == "dismissed" {
                        args.extend(["--reason", "r"]);
                    }
                    (id.clone(), mirrorflow(&args, None))
                })
                .collect::<Vec<_>>()
        })
    };
    let ana = run("dismissed", "ana", ids.clone(), store.to_string());
    let bob = run("in_review", "bob", ids.clone(), store.to_string());
    let (ana, bob) = (ana.join().unwrap(), bob.join().unwrap());
    for (id, o) in &ana {
        assert!(o.status.success(), "ana on {id}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let mut bob_moved = std::collections::BTreeSet::new();
    for (id, o) in &bob {
        if o.status.success() {
            bob_moved.insert(id.clone());
        } else {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!("alert `{id}` cannot move from dismissed to in_review")),
                "bob refused on {id}: {err}"
            );
        }
    }
    for id in &ids {
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&mirrorflow(&["alerts", "--store", store, "show", id, "--json"], None))).unwrap();
        let chain: Vec<&serde_json::Value> =
            shown["audit"].as_array().unwrap().iter().filter(|e| e["after"]["status"].is_string()).collect();
        assert_eq!(chain[0]["action"], "created", "{id}");
        for pair in chain.windows(2) {
            let (from, to) =
                (pair[1]["before"]["status"].as_str().unwrap(), pair[1]["after"]["status"].as_str().unwrap());
            assert_eq!(from, pair[0]["after"]["status"].as_str().unwrap(), "{id}: audit chain broken: {chain:?}");
            assert!(allowed(from, to), "{id}: forbidden move {from} -> {to}");
        }
        assert_eq!(shown["status"], chain.last().unwrap()["after"]["status"], "{id}");
        assert_eq!(shown["status"], "dismissed", "{id}: {chain:?}");
        let bob_entries = chain.iter().filter(|e| e["actor"] == "bob").count();
        assert_eq!(bob_entries, usize::from(bob_moved.contains(id)), "{id}: {chain:?}");
    }
}

/// Replays the bundled demo with config `cfg` into `out` and the store `store`.
fn replay_demo_into(cfg: &Path, out: &Path, store: &str) {
    ok(&mirrorflow(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "replay",
            demo().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--store",
            store,
        ],
        None,
    ));
}

#[test]
fn two_analysts_deciding_at_once_on_postgres_keep_the_workflow() {
    let pg = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    replay_demo_into(&cfg, &out, &pg.url);
    two_analysts_at_once(&pg.url);
}

#[test]
fn two_analysts_deciding_at_once_on_sqlite_keep_the_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    ok(&mirrorflow(
        &["--config", cfg.to_str().unwrap(), "replay", demo().to_str().unwrap(), "--out", out.to_str().unwrap()],
        None,
    ));
    two_analysts_at_once(out.join("alerts.db").to_str().unwrap());
}

/// `(alert_id, case_id)` of every alert in the store, sorted.
fn case_pairs(store: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = listed(store)
        .iter()
        .map(|r| (r["alert_id"].as_str().unwrap().to_string(), r["case_id"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn case_ids_do_not_depend_on_batching() {
    let dir = tempfile::tempdir().unwrap();
    let replay = |name: &str, extra: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let cfg = config(&d, extra);
        let out = d.join("out");
        ok(&mirrorflow(
            &["--config", cfg.to_str().unwrap(), "replay", demo().to_str().unwrap(), "--out", out.to_str().unwrap()],
            None,
        ));
        out.join("alerts.db").display().to_string()
    };
    let whole = case_pairs(&replay("whole", ""));
    let small = case_pairs(&replay("small", "[input]\nbatch-rows = 97\n[pipeline]\ndetect-batch-rows = 97\n"));
    assert!(whole.len() > 100);
    let cases: std::collections::BTreeSet<&String> = whole.iter().map(|(_, c)| c).collect();
    assert!(cases.len() < whole.len(), "some alerts share a case");
    assert_eq!(whole, small);

    // one replay stored in two halves, the second half's alerts before the first's
    // (what a rerun after a kill finds): the same cases
    let all = dir.path().join("whole/out/alerts.jsonl");
    let text = std::fs::read_to_string(&all).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let (a, b) = (dir.path().join("second.jsonl"), dir.path().join("first.jsonl"));
    std::fs::write(&a, second.join("\n") + "\n").unwrap();
    std::fs::write(&b, first.join("\n") + "\n").unwrap();
    let store = dir.path().join("halves.db").display().to_string();
    ok(&mirrorflow(&["alerts", "--store", &store, "import", a.to_str().unwrap()], None));
    ok(&mirrorflow(&["alerts", "--store", &store, "import", b.to_str().unwrap()], None));
    assert_eq!(case_pairs(&store), whole);
}

/// Holds SQLite's write lock on `db` from another connection until `release` says so.
fn hold_lock(db: &Path) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let db = db.to_path_buf();
    let t = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        let _ = wait.recv();
        conn.execute_batch("COMMIT").unwrap();
    });
    locked.recv().unwrap();
    (release, t)
}

#[test]
fn a_locked_sqlite_store_loses_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox_with_demo(dir.path());
    let out = dir.path().join("out");
    let db = out.join("alerts.db");
    // the store exists (and is migrated) before the job starts
    ok(&mirrorflow(&["alerts", "--store", db.to_str().unwrap(), "list"], None));
    let cfg = live_config(
        dir.path(),
        &inbox,
        "store-busy-timeout = \"300ms\"\nstore-write-attempts = 12\nstore-retry-backoff = \"300ms\"\n",
    );
    let (release, holder) = hold_lock(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--dir",
            inbox.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("MIRRORFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the lock goes once the job has found the store locked
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let hit = line.contains("alert store write failed");
        log.push(line);
        if hit {
            break;
        }
    }
    release.send(()).unwrap();
    holder.join().unwrap();
    log.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", log.join("\n"));
    assert!(log.iter().any(|l| l.contains("alert store write failed")), "the store was locked: {}", log.join("\n"));
    let file = jsonl(&out.join("alerts.jsonl"));
    assert!(!file.is_empty());
    assert_eq!(sorted_ids(&listed(db.to_str().unwrap())), sorted_ids(&file));
    let s = summary(&out);
    assert!(s["store"]["retries"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["store"]["spooled"], 0);
    assert!(!out.join("store-spool.jsonl").exists());
}

#[test]
fn a_store_locked_for_good_keeps_the_alerts_in_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox_with_demo(dir.path());
    let out = dir.path().join("out");
    let db = out.join("alerts.db");
    ok(&mirrorflow(&["alerts", "--store", db.to_str().unwrap(), "list"], None));
    let cfg = live_config(
        dir.path(),
        &inbox,
        "store-busy-timeout = \"100ms\"\nstore-write-attempts = 2\nstore-retry-backoff = \"100ms\"\n",
    );
    let (release, holder) = hold_lock(&db);
    let o = mirrorflow(
        &["--config", cfg.to_str().unwrap(), "run", "--dir", inbox.to_str().unwrap(), "--out", out.to_str().unwrap()],
        None,
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a store that took nothing fails the job");
    assert!(err.contains("store-spool.jsonl"), "{err}");
    let file = jsonl(&out.join("alerts.jsonl"));
    assert!(!file.is_empty());
    let spool = out.join("store-spool.jsonl");
    assert_eq!(sorted_ids(&jsonl(&spool)), sorted_ids(&file));
    let s = summary(&out);
    assert!(s["store"]["error"].as_str().unwrap().contains("locked"), "{s}");
    assert_eq!(s["store"]["spooled"], file.len() as u64);
    assert_eq!(s["store"]["spool"].as_str().unwrap(), spool.display().to_string());
    assert!(listed(db.to_str().unwrap()).is_empty());

    // the next job on this output directory stores the spool first
    let empty = dir.path().join("empty-inbox");
    std::fs::create_dir_all(&empty).unwrap();
    let cfg = live_config(dir.path(), &empty, "");
    ok(&mirrorflow(
        &["--config", cfg.to_str().unwrap(), "run", "--dir", empty.to_str().unwrap(), "--out", out.to_str().unwrap()],
        None,
    ));
    assert_eq!(sorted_ids(&listed(db.to_str().unwrap())), sorted_ids(&file));
    assert!(!spool.exists());
    assert_eq!(summary(&out)["store"]["from_spool"], file.len() as u64);
}

#[test]
fn a_spool_is_imported_by_alerts_import() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    replay_demo_into(&cfg, &out, "off");
    // a spool is alert lines, as alerts.jsonl
    let spool = dir.path().join("store-spool.jsonl");
    std::fs::copy(out.join("alerts.jsonl"), &spool).unwrap();
    let store = dir.path().join("later.db").display().to_string();
    ok(&mirrorflow(&["alerts", "--store", &store, "import", spool.to_str().unwrap()], None));
    assert_eq!(sorted_ids(&listed(&store)), sorted_ids(&jsonl(&out.join("alerts.jsonl"))));
}

/// An alert whose subject and narrative carry NUL bytes is stored on both backends (a
/// NUL made PostgreSQL refuse the whole batch).
#[test]
fn nul_bytes_in_alert_text_do_not_lose_the_batch() {
    let pg = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    replay_demo_into(&cfg, &out, "off");
    let mut alerts = jsonl(&out.join("alerts.jsonl"));
    alerts[0]["subjects"][0] = serde_json::Value::String("US\u{0}1234".into());
    alerts[0]["narrative"] = serde_json::Value::String("cash\u{0} deposits".into());
    let file = dir.path().join("nul.jsonl");
    std::fs::write(&file, alerts.iter().map(|a| a.to_string() + "\n").collect::<String>()).unwrap();
    let sqlite = dir.path().join("nul.db").display().to_string();
    for store in [pg.url.as_str(), sqlite.as_str()] {
        ok(&mirrorflow(&["alerts", "--store", store, "import", file.to_str().unwrap()], None));
        assert_eq!(sorted_ids(&listed(store)), sorted_ids(&alerts), "{store}");
        let id = alerts[0]["alert_id"].as_str().unwrap();
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&mirrorflow(&["alerts", "--store", store, "show", id, "--json"], None))).unwrap();
        assert_eq!(shown["alert"]["narrative"], "cash\u{0} deposits", "{store}: the alert is kept as detected");
    }
}

/// Two jobs storing into one PostgreSQL store at once (the compose stack's live job and
/// demo replay): both succeed, every alert is stored once, and the cases are those of
/// one job storing alone.
#[test]
fn two_writers_at_once_on_postgres_store_every_alert_once() {
    let (pg, alone) = (PgDb::new(), PgDb::new());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    replay_demo_into(&cfg, &out, &alone.url);
    let file = out.join("alerts.jsonl");
    let import = |url: String, file: PathBuf| {
        std::thread::spawn(move || mirrorflow(&["alerts", "--store", &url, "import", file.to_str().unwrap()], None))
    };
    for _ in 0..3 {
        let (a, b) = (import(pg.url.clone(), file.clone()), import(pg.url.clone(), file.clone()));
        ok(&a.join().unwrap());
        ok(&b.join().unwrap());
    }
    assert_eq!(case_pairs(&pg.url), case_pairs(&alone.url));
}
