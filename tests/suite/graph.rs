//! The temporal graph engine end to end on small ledgers (AMLSim with the default
//! configuration: `amlsim_default.rs`).

use super::common::*;

/// A ring that sends money round twice in a day is one T7 alert holding every cycle of
/// both laps (not one alert per cycle); a lap after the window is a new alert.
#[test]
fn laps_of_one_ring_are_one_cycle_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, out) = (dir.path().join("ledger"), dir.path().join("out"));
    let lap = |n: u32, day: u32| -> Vec<String> {
        [("A", "B", 9, "9000.00"), ("B", "C", 11, "8800.00"), ("C", "A", 13, "8600.00")]
            .iter()
            .enumerate()
            .map(|(k, (s, d, h, amt))| {
                format!(
                    "L{n}-{k},2026-01-{day:02}T{:02}:00:00Z,{s},{d},{amt},USD,wire,,",
                    h + if n == 2 { 6 } else { 0 }
                )
            })
            .collect()
    };
    let mut rows: Vec<String> = lap(1, 2);
    rows.extend(lap(2, 2));
    rows.extend(lap(3, 31).into_iter().map(|r| r.replace("2026-01-31", "2026-02-15")));
    // (lap 3 is 44 days after lap 1: beyond the 30-day window)
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    csv_ledger(&ledger, &rows);
    // a ledger of a few days has no history to call an account quiet by: no warm-up
    let cfg = dir.path().join("cfg.toml");
    std::fs::write(&cfg, "[graph]\nwarmup = \"0\"\n").unwrap();
    let o = mirrorflow(
        &["replay", ledger.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--progress", "off", "--out"]
            .into_iter()
            .chain([out.to_str().unwrap()])
            .collect::<Vec<_>>(),
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alerts: Vec<_> =
        jsonl(&out.join("alerts.jsonl")).into_iter().filter(|a| a["rule_id"] == "graph_cycles").collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let ids = |a: &serde_json::Value| -> Vec<String> {
        a["tx_ids"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&alerts[0]), ["L1-0", "L1-1", "L1-2", "L2-0", "L2-1", "L2-2"]);
    // lap 1, and lap 2 closing on itself, on lap 1's first hop, and on lap 1's first two
    // hops, plus the two cycles that start inside lap 1 and end inside lap 2
    assert!(alerts[0]["details"]["cycles"].as_u64().unwrap() >= 2, "{:#}", alerts[0]["details"]);
    assert_eq!(alerts[0]["typology"], "T7");
    assert!(alerts[0]["narrative"].as_str().unwrap().contains("cycles ran among 3 accounts"));
    assert_eq!(ids(&alerts[1]), ["L3-0", "L3-1", "L3-2"]);
    assert_eq!(alerts[1]["details"]["cycles"], 1);
}

/// Party view: money that leaves one account of a customer and comes back to another of
/// the same customer is a round trip of the party (and no cycle of accounts).
#[test]
fn the_party_view_sees_a_round_trip_between_two_accounts_of_one_customer() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    csv_ledger(
        &ledger,
        &[
            "R1,2026-01-02T09:00:00Z,A1,B,9000.00,USD,wire,,",
            "R2,2026-01-02T11:00:00Z,B,C,8800.00,USD,wire,,",
            "R3,2026-01-02T13:00:00Z,C,A2,8600.00,USD,wire,,",
        ],
    );
    std::fs::write(
        ledger.join("accounts.csv"),
        "account_id,customer_id,country\nA1,CUST-A,US\nA2,CUST-A,US\nB,CUST-B,US\nC,CUST-C,US\n",
    )
    .unwrap();
    let cycles = |extra: &str| {
        let out = dir.path().join(format!("out{}", extra.len()));
        let cfg = dir.path().join(format!("cfg{}.toml", extra.len()));
        // one day of ledger: no history to wait for (graph.warmup)
        std::fs::write(&cfg, format!("[rules]\nenabled = false\n[graph]\nwarmup = \"0\"\n{extra}\n")).unwrap();
        let o = mirrorflow(
            &["replay", ledger.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--progress", "off", "--out"]
                .into_iter()
                .chain([out.to_str().unwrap()])
                .collect::<Vec<_>>(),
            None,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        jsonl(&out.join("alerts.jsonl")).into_iter().filter(|a| a["rule_id"] == "graph_cycles").collect::<Vec<_>>()
    };
    assert!(cycles("").is_empty());
    let found = cycles("party-view = true");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["tx_ids"], serde_json::json!(["R1", "R2", "R3"]));
    assert!(found[0]["subjects"].as_array().unwrap().contains(&serde_json::json!("party:A1")), "{:#}", found[0]);
}

/// End to end on a generated ledger: the detector alone (no SQL rules) through
/// `app::replay_with`, scored by `eval`, then replayed again in two halves through a
/// checkpoint (same alerts). Rows and seed from `PEEL_ROWS` / `PEEL_SEED`; `PEEL_KEEP`
/// keeps alerts, labels and populations there. Run with
/// `cargo test --test tests peel_generated_ledger_scores -- --ignored --nocapture` (1M rows: about a minute in a
/// debug build).
#[test]
#[ignore = "generates and replays a ledger"]
fn peel_generated_ledger_scores() {
    use std::collections::BTreeMap;

    use mirrorflow::alerts::Alert;
    use mirrorflow::app::{ReplayArgs, replay_with};
    use mirrorflow::ingest::values::format_ts;
    use mirrorflow::peel::{PEEL_RULE_ID, PeelConfig, PeelDetector, RAMP_RULE_ID};
    use mirrorflow::pipeline::Detector;
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (rows, seed) = (env("PEEL_ROWS", 200_000), env("PEEL_SEED", 11));
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let started = std::time::Instant::now();
    mirrorflow::r#gen::generate(&mirrorflow::r#gen::GenOptions {
        out: ledger.clone(),
        seed,
        rows,
        format: mirrorflow::r#gen::GenFormat::Parquet,
        start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        days: None,
    })
    .unwrap();
    let gen_s = started.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // replays into `out` with this detector alone (no rules, no graph stage), alerts by id
    let replay = |out: &str, args: ReplayArgs| {
        let cfg = mirrorflow::config::Config {
            rules: None,
            graph: None,
            out_dir: dir.path().join(out),
            progress: mirrorflow::config::ProgressMode::Off,
            ..Default::default()
        };
        std::fs::create_dir_all(&cfg.out_dir).unwrap();
        let peel: Box<dyn Detector> = Box::new(PeelDetector::new(PeelConfig::default()));
        let summary = rt.block_on(replay_with(&cfg, &ledger, &args, vec![peel])).unwrap();
        let path = cfg.out_dir.join("alerts.jsonl");
        let mut mine = String::new();
        let mut by_id = BTreeMap::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let a: Alert = serde_json::from_str(line).unwrap();
            if a.rule_id == PEEL_RULE_ID || a.rule_id == RAMP_RULE_ID {
                mine.push_str(line);
                mine.push('\n');
                by_id.insert(a.alert_id.clone(), a);
            }
        }
        std::fs::write(&path, mine).unwrap();
        (summary, by_id, path)
    };
    let started = std::time::Instant::now();
    let (summary, whole, alerts_path) = replay("whole", ReplayArgs::default());
    let replay_s = started.elapsed().as_secs_f64();
    let report = mirrorflow::eval::evaluate(&mirrorflow::eval::EvalOptions {
        labels: ledger.join("labels.csv"),
        alerts: alerts_path.clone(),
        populations: Some(ledger.join("populations.csv")),
    })
    .unwrap();
    println!("{rows} rows, seed {seed}: gen {gen_s:.1} s, replay {replay_s:.1} s; {summary:?}");
    println!("{}", report.to_table());
    if let Ok(keep) = std::env::var("PEEL_KEEP") {
        let keep = std::path::Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(&alerts_path, keep.join("alerts.jsonl")).unwrap();
        for f in ["labels.csv", "populations.csv"] {
            std::fs::copy(ledger.join(f), keep.join(f)).unwrap();
        }
    }
    // two halves through a checkpoint give the alerts of one replay
    let t = |v: &Option<String>| {
        mirrorflow::ingest::values::parse_ts(v.as_ref().unwrap().as_bytes(), &Default::default()).unwrap()
    };
    let mid = (t(&summary.first_event_time) + t(&summary.last_event_time)) / 2 / 1_000_000 * 1_000_000;
    let (cut, ck) = (format_ts(mid), dir.path().join("ck"));
    let first = ReplayArgs { to: Some(cut.clone()), checkpoint: Some(ck.clone()), ..Default::default() };
    let (_, mut halves, _) = replay("first", first);
    let before = halves.len();
    let (_, second, _) = replay("second", ReplayArgs { from: Some(cut), resume: Some(ck), ..Default::default() });
    halves.extend(second);
    println!("checkpoint at {}: {before} alerts before, {} after", format_ts(mid), halves.len() - before);
    assert_eq!(halves, whole);
}
