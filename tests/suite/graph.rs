//! The temporal graph engine end to end: IBM AMLSim's labelled output (outside data, not
//! tuned on by the generator) read with the AMLSim dialect and scored with `eval`.

use super::common::*;

/// Per-pattern recall and alert precision on AMLSim-12k with `config/amlsim.toml` must
/// not regress (measured: cycles 43 / 50, scatter-gather 46 / 50, gather-scatter 42 / 50;
/// T7 alerts 61 of 76 true, T9 90 of 91; whole-day timestamps chained in file order).
#[test]
fn amlsim_patterns_are_found_with_the_amlsim_config() {
    let ledger = external().join("amlsim12k/transactions.csv.gz");
    let labels = external().join("amlsim12k/labels_alert_transactions.csv");
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["replay", ledger.to_str().unwrap(), "--config", "config/amlsim.toml", "--progress", "off", "--out"])
        .arg(dir.path())
        .current_dir(root())
        .env("MIRRORFLOW_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = mirrorflow::eval::evaluate(&mirrorflow::eval::EvalOptions {
        labels,
        alerts: dir.path().join("alerts.jsonl"),
        populations: None,
    })
    .unwrap();
    let cycle = r.by_typology.iter().find(|t| t.typology == "cycle").unwrap();
    assert_eq!(cycle.schemes, 50);
    assert!(cycle.detected >= 42, "cycle alerts found: {} of 50", cycle.detected);
    let found = |p: &str| r.by_typology.iter().find(|t| t.typology == p).unwrap().detected;
    assert!(found("scatter_gather") >= 44, "scatter-gather found: {} of 50", found("scatter_gather"));
    assert!(found("gather_scatter") >= 40, "gather-scatter found: {} of 50", found("gather_scatter"));
    for (typology, floor) in [("T7", 0.75), ("T9", 0.95)] {
        let a = r.by_alert_typology.iter().find(|a| a.typology == typology).unwrap();
        let precision = a.true_alerts as f64 / a.alerts as f64;
        assert!(precision >= floor, "{typology} alert precision {precision:.3} ({} of {})", a.true_alerts, a.alerts);
    }
}

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
    let o =
        mirrorflow(&["replay", ledger.to_str().unwrap(), "--progress", "off", "--out", out.to_str().unwrap()], None);
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
        std::fs::write(&cfg, format!("[rules]\nenabled = false\n[graph]\n{extra}\n")).unwrap();
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
