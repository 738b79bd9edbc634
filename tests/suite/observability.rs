//! The metrics stack against the real tools: Prometheus (installed from the system packages
//! by `scripts/obs-deps.sh` when missing) scrapes a replay of the demo ledger and the review
//! API with the repository's own scrape config and alerting rules; its HTTP API must show
//! the replay's exact counts, every Grafana dashboard query must evaluate and return data,
//! and every alerting rule must evaluate cleanly. `promtool` checks the config, the rules
//! (with their unit tests) and both processes' expositions; the Compose v2 binary checks
//! `docker-compose.yml`, and the file's build contexts, mounts and ports are checked here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;
use super::serve::{http, http_typed, start};

/// Paths of the tools `scripts/obs-deps.sh` makes sure of.
struct Tools {
    prometheus: String,
    promtool: String,
    python: String,
    docker_compose: String,
}

fn tools() -> Tools {
    let o = Command::new("bash").arg(root().join("scripts/obs-deps.sh")).output().unwrap();
    assert!(o.status.success(), "obs-deps: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let get = |k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("obs-deps printed no {k}: {text}"))
            .to_string()
    };
    Tools {
        prometheus: get("prometheus"),
        promtool: get("promtool"),
        python: get("python"),
        docker_compose: get("docker_compose"),
    }
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd:?} failed:\n{text}");
    text
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `application/x-www-form-urlencoded` value.
fn form(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus' HTTP API: POSTs `params` as a form (GET without); the JSON answer.
fn prom_api(addr: &str, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let body: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", form(v))).collect();
    let (method, body) = if params.is_empty() { ("GET", None) } else { ("POST", Some(body.join("&"))) };
    let (_, rest) = http_typed(addr, method, path, None, "application/x-www-form-urlencoded", body.as_deref());
    serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{path}: {e}: {rest}"))
}

/// An instant query: the result vector.
fn query(addr: &str, q: &str) -> Vec<serde_json::Value> {
    let v = prom_api(addr, "/api/v1/query", &[("query", q)]);
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The value of a query that returns one sample.
fn scalar(addr: &str, q: &str) -> f64 {
    let r = query(addr, q);
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn promtool_passes_the_scrape_config_and_the_alerting_rules_with_their_tests() {
    let t = tools();
    let prom = root().join("prometheus");
    let out = run(Command::new(&t.promtool).arg("check").arg("config").arg(prom.join("prometheus.yml")));
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run(Command::new(&t.promtool).args(["test", "rules", "alerts_test.yml"]).current_dir(&prom));
    assert!(out.contains("SUCCESS"), "{out}");
    // every alerting rule is exercised by the unit tests
    let rules = std::fs::read_to_string(prom.join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(prom.join("alerts_test.yml")).unwrap();
    let names: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert:")).map(str::trim).collect();
    assert!(names.len() >= 4, "{names:?}");
    for n in names {
        assert!(tests.contains(&format!("alertname: {n}")), "no promtool test for {n}");
    }
}

/// "1.94" / "1.94.1" as numbers.
fn version(v: &str) -> Vec<u32> {
    v.split('.').map(|x| x.parse().unwrap()).collect()
}

/// `docker-compose.yml` parses (Compose v2 itself), and everything it points into the
/// repository exists: build contexts and Dockerfiles, bind-mounted files and directories,
/// the mirrorflow config it passes; host ports do not clash; Prometheus gets the scrape
/// config the tests use.
#[test]
fn the_compose_file_is_valid_and_everything_it_mounts_exists() {
    let t = tools();
    let file = root().join("docker-compose.yml");
    run(Command::new(&t.docker_compose).arg("-f").arg(&file).args(["config", "-q"]));
    let json = run(Command::new(&t.docker_compose).arg("-f").arg(&file).args([
        "--profile",
        "demo",
        "config",
        "--format",
        "json",
        "--no-interpolate",
    ]));
    let start = json.find('{').unwrap();
    let c: serde_json::Value = serde_json::from_str(&json[start..]).unwrap();
    let services = c["services"].as_object().unwrap();
    for want in ["mirrorflow", "review", "prometheus", "grafana", "postgres", "kafka"] {
        assert!(services.contains_key(want), "service {want} missing");
    }
    let mut host_ports = BTreeSet::new();
    let mut mounted = BTreeMap::new();
    for (name, s) in services {
        if let Some(b) = s.get("build") {
            let ctx = PathBuf::from(b["context"].as_str().unwrap());
            assert!(ctx.is_dir(), "{name}: build context {ctx:?}");
            let df = ctx.join(b["dockerfile"].as_str().unwrap_or("Dockerfile"));
            assert!(df.is_file(), "{name}: {df:?}");
            let text = std::fs::read_to_string(&df).unwrap();
            let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
            assert!(froms.len() >= 2, "{name}: a multi-stage build: {froms:?}");
            // the builder's toolchain is at least the crate's rust-version
            let want = version(
                std::fs::read_to_string(root().join("Cargo.toml"))
                    .unwrap()
                    .lines()
                    .find_map(|l| l.strip_prefix("rust-version = "))
                    .unwrap()
                    .trim_matches('"'),
            );
            let rust =
                froms[0].split_whitespace().nth(1).and_then(|i| i.strip_prefix("rust:")).expect("a rust builder");
            assert!(version(rust.split('-').next().unwrap()) >= want, "{name}: builder {rust} older than {want:?}");
        }
        for v in s["volumes"].as_array().into_iter().flatten() {
            if v["type"] == "bind" {
                let src = PathBuf::from(v["source"].as_str().unwrap());
                assert!(src.starts_with(root()), "{name}: {src:?} outside the repository");
                assert!(src.exists(), "{name}: bind-mount source {src:?} does not exist");
                mounted.insert(v["target"].as_str().unwrap().to_string(), src);
            }
        }
        for p in s["ports"].as_array().into_iter().flatten() {
            let hp = p["published"].as_str().map(String::from).unwrap_or_else(|| p["published"].to_string());
            let key = (p["host_ip"].as_str().unwrap_or("0.0.0.0").to_string(), hp);
            assert!(host_ports.insert(key.clone()), "{name}: host port {key:?} used twice");
        }
        // a `--config` the image reads from /opt/mirrorflow/ is a file of the repository
        let cmd: Vec<&str> = s["command"].as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect();
        if let Some(i) = cmd.iter().position(|a| *a == "--config") {
            let rel = cmd[i + 1].strip_prefix("/opt/mirrorflow/").expect("config inside the image's directory");
            let cfg = root().join(rel);
            assert!(cfg.is_file(), "{name}: {cfg:?}");
            // it loads (unknown keys and bad values are errors)
            let o = mirrorflow(&["--config", cfg.to_str().unwrap(), "rules", "list"], None);
            assert!(o.status.success(), "{name}: {cfg:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let prom_cfg = mounted.get("/etc/prometheus/prometheus.yml").expect("Prometheus' config is mounted");
    assert_eq!(prom_cfg, &root().join("prometheus/prometheus.yml"), "the scrape config the tests use");
    let rules = mounted.get("/etc/prometheus/alerts.yml").expect("the alerting rules are mounted");
    assert_eq!(rules, &root().join("prometheus/alerts.yml"));
    assert!(mounted.values().any(|p| p == &root().join("grafana/provisioning")), "Grafana provisioning mounted");
    assert!(mounted.values().any(|p| p == &root().join("grafana/dashboards")), "dashboards mounted");
    // Grafana's datasource is the Prometheus service, under the uid the dashboards use
    let ds = std::fs::read_to_string(root().join("grafana/provisioning/datasources/prometheus.yml")).unwrap();
    assert!(ds.contains("http://prometheus:9090") && ds.contains("uid: prometheus"), "{ds}");
}

/// Every target of the repository's scrape config, rewritten to this test's processes
/// (nothing else changes), with the alerting rules beside it.
fn scrape_config(dir: &Path, job: &str, review: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("prometheus/prometheus.yml")).unwrap();
    let mut out = String::new();
    let mut targets = 0;
    for line in text.lines() {
        let l = match line.trim_start().strip_prefix("- ").map(|t| t.trim_matches(|c| c == '"' || c == '\'')) {
            Some("mirrorflow:9464") | Some("demo:9465") => line.replace(line.trim_start(), &format!("- {job}")),
            Some("review:8080") => line.replace(line.trim_start(), &format!("- {review}")),
            _ => line.to_string(),
        };
        targets += usize::from(l != line);
        out.push_str(&l);
        out.push('\n');
    }
    assert_eq!(targets, 3, "the scrape config's targets changed: update this test\n{text}");
    std::fs::copy(root().join("prometheus/alerts.yml"), dir.join("alerts.yml")).unwrap();
    let p = dir.join("prometheus.yml");
    std::fs::write(&p, out).unwrap();
    p
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The dashboards' queries: `grafana/check.py` parses every dashboard with Grafana's own
/// models (grafana-foundation-sdk), checks the layout, and prints each panel's queries.
fn dashboard_queries(t: &Tools) -> Vec<serde_json::Value> {
    let files: Vec<PathBuf> = std::fs::read_dir(root().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(files.len() >= 3, "{files:?}");
    let out = run(Command::new(&t.python).arg(root().join("grafana/check.py")).args(&files));
    out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn prometheus_scrapes_a_replay_and_the_review_api_and_every_dashboard_query_returns_data() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let store = dir.path().join("alerts.db");
    // The demo's last 29 days (the first is outside --from, so the counts must reconcile
    // with rows outside the range) at 150,000x real time: about 17 s, so Prometheus (every 5 s)
    // sees the counters move; metrics stay up for the last scrapes.
    let mut replay = Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["replay", root().join("fixtures/demo").to_str().unwrap(), "--progress", "off", "--out"])
        .arg(&out)
        .args(["--store", store.to_str().unwrap(), "--speed", "150000", "--from", "2026-01-02"])
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-hold", "120s"])
        .env("MIRRORFLOW_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(replay.stderr.take().unwrap()).lines();
    let line = err.next().unwrap().unwrap();
    let job_addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    std::thread::spawn(move || for _ in err {});
    let replay_stdout = replay.stdout.take().unwrap();
    let _replay = Killed(replay);
    wait_for("the alert store", Duration::from_secs(30), || store.exists());
    let review = start(store.to_str().unwrap());

    let cfg = scrape_config(dir.path(), &job_addr, &review.addr);
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = Killed(
        Command::new(&t.prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // the job's two targets (live job and demo replay) are this one replay: one target
    wait_for("Prometheus to scrape both processes", Duration::from_secs(60), || {
        std::net::TcpStream::connect(&prom_addr).is_ok() && query(&prom_addr, "up == 1").len() == 2
    });

    // the replay ends; the summary is written before the metrics hold
    let mut lines = BufReader::new(replay_stdout).lines();
    while let Some(Ok(l)) = lines.next() {
        if l.starts_with("outputs in") {
            break;
        }
    }
    let s = summary(&out);
    assert!(s["rows_outside_range"].as_u64().unwrap() > 0, "the first day is outside --from");
    // decisions through the API: they show as review metrics
    let (st, body) = http(&review.addr, "GET", "/api/alerts?limit=2", Some("token-of-ana-123"), None);
    assert_eq!(st, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["alert_id"].as_str().unwrap()).collect();
    let decide = |id: &str, body: &str| {
        let (st, b) =
            http(&review.addr, "POST", &format!("/api/alerts/{id}/decision"), Some("token-of-ana-123"), Some(body));
        assert_eq!(st, 200, "{b}");
    };
    decide(ids[0], r#"{"status":"escalated"}"#);
    decide(ids[1], r#"{"status":"dismissed","reason":"known payroll"}"#);

    // Prometheus catches up with the final counts
    let want_alerts = s["alerts_written"].as_f64().unwrap();
    wait_for("the final counts in Prometheus", Duration::from_secs(60), || {
        let a = query(&prom_addr, "sum(mirrorflow_alerts_total)");
        let d = query(&prom_addr, "sum(mirrorflow_review_decisions_total)");
        let n = |r: &[serde_json::Value]| r.first().and_then(|x| x["value"][1].as_str()?.parse::<f64>().ok());
        n(&a) == Some(want_alerts) && n(&d) == Some(2.0)
    });
    let p = prom_addr.as_str();
    assert_eq!(scalar(p, r#"sum(mirrorflow_rows_read_total{source="replay"})"#), s["rows_read"].as_f64().unwrap());
    assert_eq!(scalar(p, "sum(mirrorflow_rows_accepted_total)"), s["rows_accepted"].as_f64().unwrap());
    assert_eq!(scalar(p, "sum(mirrorflow_rows_quarantined_total)"), s["rows_quarantined"].as_f64().unwrap());
    // the counters reconcile as the summary does
    assert_eq!(
        scalar(
            p,
            "sum(mirrorflow_rows_read_total) - sum(mirrorflow_rows_accepted_total) \
             - sum(mirrorflow_rows_quarantined_total) - sum(mirrorflow_rows_outside_range_total)"
        ),
        0.0
    );
    for (reason, n) in s["quarantined_by_reason"].as_object().unwrap() {
        let q = format!(r#"sum(mirrorflow_rows_quarantined_total{{reason="{reason}"}})"#);
        assert_eq!(scalar(p, &q), n.as_f64().unwrap(), "{reason}");
    }
    for (typology, n) in s["alerts_by_typology"].as_object().unwrap() {
        let q = format!(r#"sum(mirrorflow_alerts_total{{typology="{typology}"}})"#);
        assert_eq!(scalar(p, &q), n.as_f64().unwrap(), "alerts of {typology}");
    }
    for (rule, n) in s["alerts_by_rule"].as_object().unwrap() {
        let q = format!(r#"sum(mirrorflow_alerts_total{{rule="{rule}"}})"#);
        assert_eq!(scalar(p, &q), n.as_f64().unwrap(), "alerts of rule {rule}");
    }
    // the queue holds every alert, by severity as written; counted from alerts.jsonl too
    let alerts = jsonl(&out.join("alerts.jsonl"));
    let mut by_typology: BTreeMap<&str, f64> = BTreeMap::new();
    for a in &alerts {
        *by_typology.entry(a["typology"].as_str().unwrap()).or_default() += 1.0;
    }
    assert!(by_typology.len() >= 5, "{by_typology:?}");
    for (typology, n) in &by_typology {
        let q = format!(r#"sum(mirrorflow_alerts_total{{typology="{typology}"}})"#);
        assert_eq!(scalar(p, &q), *n, "alerts of {typology} in alerts.jsonl");
    }
    assert_eq!(http(&review.addr, "GET", "/ready", None, None).0, 200);
    assert_eq!(scalar(p, r#"sum(mirrorflow_alert_queue_alerts{job="mirrorflow-review"})"#), alerts.len() as f64);
    let critical = alerts.iter().filter(|a| a["severity"] == "critical").count() as f64;
    assert_eq!(scalar(p, r#"sum(mirrorflow_alerts_total{severity="critical"}) or vector(0)"#), critical);
    assert_eq!(scalar(p, r#"sum(mirrorflow_alert_queue_alerts{status="dismissed"})"#), 1.0);
    assert_eq!(scalar(p, r#"mirrorflow_review_decisions_total{status="escalated"}"#), 1.0);
    let t6_usd: f64 = alerts
        .iter()
        .filter(|a| a["typology"] == "T6")
        .map(|a| a["amount_usd"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    let got = scalar(p, r#"sum(mirrorflow_alert_value_usd_total{typology="T6"})"#);
    assert!((got - t6_usd).abs() < 0.01, "T6 value under alert {got} vs {t6_usd}");
    // one match a swap alert (netted matches alert per broker, network matches as one)
    let count = |rule: &str| alerts.iter().filter(|a| a["rule_id"] == rule).count() as f64;
    assert_eq!(scalar(p, r#"sum(mirrorflow_mirror_matches_total{match!~"netted|network"})"#), count("mirror_swap"));
    assert_eq!(scalar(p, r#"sum(mirrorflow_mirror_matches_total{match="network"})"#), count("mirror_network"));
    assert!(scalar(p, "mirrorflow_graph_edges") > 0.0 && scalar(p, "mirrorflow_graph_nodes") > 0.0);
    for stage in ["ingest", "rules", "graph", "graph_peel", "mirror", "store"] {
        let q = format!(r#"sum(mirrorflow_stage_duration_seconds_count{{stage="{stage}"}})"#);
        assert!(scalar(p, &q) > 0.0, "no batch timed in stage {stage}");
    }

    // every dashboard query evaluates and returns data
    let queries = dashboard_queries(&t);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let mut empty = Vec::new();
    for q in &queries {
        let expr = q["expr"].as_str().unwrap();
        let e =
            ["$__rate_interval", "$__interval", "$__range"].iter().fold(expr.to_string(), |e, v| e.replace(v, "5m"));
        let v = prom_api(p, "/api/v1/query", &[("query", &e)]);
        assert_eq!(v["status"], "success", "{}: {expr}: {v}", q["dashboard"]);
        if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
            empty.push(format!("{} / {}: {expr}", q["dashboard"], q["panel"]));
        }
    }
    assert!(empty.is_empty(), "dashboard queries without data:\n{}", empty.join("\n"));

    // the alerting rules load and evaluate cleanly on real series; a replay's event-time
    // lag (weeks behind the wall clock by design) does not page anyone
    std::thread::sleep(Duration::from_secs(6));
    let rules = prom_api(p, "/api/v1/rules", &[]);
    let groups = rules["data"]["groups"].as_array().unwrap();
    let all: Vec<&serde_json::Value> = groups.iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert!(all.len() >= 5, "{rules}");
    for r in &all {
        assert_eq!(r["health"], "ok", "{}: {}", r["name"], r["lastError"]);
    }
    let active = prom_api(p, "/api/v1/alerts", &[]);
    let names: Vec<&str> =
        active["data"]["alerts"].as_array().unwrap().iter().filter_map(|a| a["labels"]["alertname"].as_str()).collect();
    for quiet in ["MirrorflowEventTimeLagHigh", "MirrorflowTargetDown", "MirrorflowStoreWriteErrors"] {
        assert!(!names.contains(&quiet), "{quiet} fired on a healthy replay: {active}");
    }

    // both expositions pass promtool's linter
    for addr in [job_addr.as_str(), review.addr.as_str()] {
        let (st, text) = http(addr, "GET", "/metrics", None, None);
        assert_eq!(st, 200);
        let mut lint = Command::new(&t.promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        lint.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let o = lint.wait_with_output().unwrap();
        assert!(
            o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
            "promtool check metrics on {addr}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(!l.contains("=\"US") && !l.contains("=\"C0") && !l.contains("=\"MX"), "an id in a label: {l}");
        }
    }
    drop(review);
}
