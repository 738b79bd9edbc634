//! `mirrorflow calibrate` through the binary: on a ledger in another currency and amount
//! scale, whose every transfer sits under the default graph floor of USD 3,000, it writes
//! a config whose floor comes from the ledger's own distribution (with its reason), never
//! the regulatory CTR threshold, and a replay with that config puts transfers in the graph.

use super::common::*;

#[test]
fn calibrate_derives_the_graph_floor_from_the_ledger_and_a_replay_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let o = mirrorflow(
        &[
            "gen",
            "--out",
            ledger.to_str().unwrap(),
            "--seed",
            "11",
            "--rows",
            "20000",
            "--currency",
            "SEK",
            "--amount-scale",
            "0.01",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = dir.path().join("calibrated.toml");
    let o = mirrorflow(&["calibrate", ledger.to_str().unwrap(), "--out", cfg.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&cfg).unwrap();
    let floor: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("min-amount-usd = "))
        .unwrap_or_else(|| panic!("no graph floor written:\n{text}"))
        .trim()
        .parse()
        .unwrap();
    assert!(floor > 0.0 && floor < 3000.0, "a floor fitted to this ledger's amounts, not the default: {floor}\n{text}");
    assert!(text.contains("99th percentile"), "the reason is written beside the value:\n{text}");
    assert!(!text.contains("ctr_threshold_usd ="), "the CTR threshold is law, never written:\n{text}");

    // the defaults keep no transfer of this ledger in the graph; the calibrated config does
    let run = |name: &str, config: Option<&std::path::Path>| {
        let out = dir.path().join(name);
        let mut args = Vec::new();
        if let Some(c) = config {
            args.extend(["--config", c.to_str().unwrap()]);
        }
        args.extend(["replay", ledger.to_str().unwrap(), "--progress", "off", "--store", "off", "--out"]);
        args.push(out.to_str().unwrap());
        let o = mirrorflow(&args, None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = summary(&out);
        let notes = s["detector_notes"].as_array().unwrap().clone();
        notes.into_iter().find(|n| n["detector"] == "graph").expect("a graph note")
    };
    let calibrated = run("calibrated", Some(&cfg));
    let eligible = calibrated["rows_eligible"].as_u64().unwrap();
    assert!(eligible > 0, "{calibrated:#}");
    let default = run("default", None);
    assert!(
        default["rows_eligible"].as_u64().unwrap() <= eligible,
        "the default floor keeps no more than the calibrated one: {default:#} vs {calibrated:#}"
    );
}
