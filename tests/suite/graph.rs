//! The temporal graph engine end to end: IBM AMLSim's labelled output (outside data, not
//! tuned on by the generator) read with the AMLSim dialect and scored with `eval`.

use super::common::*;

/// Cycle recall and alert precision on AMLSim-12k with `config/amlsim.toml` must not
/// regress (measured: 43 / 50 cycle alerts found, 61 of 76 alerts true; whole-day
/// timestamps chained in file order).
#[test]
fn amlsim_cycles_are_found_with_the_amlsim_config() {
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
    let t7 = r.by_alert_typology.iter().find(|a| a.typology == "T7").unwrap();
    let precision = t7.true_alerts as f64 / t7.alerts as f64;
    assert!(precision >= 0.75, "T7 alert precision {precision:.3} ({} of {})", t7.true_alerts, t7.alerts);
}
