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
