//! SQL rules: one golden test per rule file (positive cases alert, near misses and
//! look-alikes do not), parameter overrides, broken rule files, and the same alerts
//! whatever the batch size. `MIRRORFLOW_REGEN=1` rewrites the golden `expected.jsonl`.

use std::collections::BTreeSet;
use std::path::Path;

use mirrorflow::app::{ReplayArgs, replay};
use mirrorflow::rules::{RuleSet, RulesConfig};

use super::common::*;

fn all_rule_ids() -> Vec<String> {
    RuleSet::load(&RulesConfig::default()).unwrap().rules.into_iter().map(|r| r.id).collect()
}

/// Replays `ledger` with only `rule` on (plus `extra` config) and returns its alerts.
fn alerts_of(ledger: &Path, rule: &str, extra: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let others: Vec<String> = all_rule_ids().into_iter().filter(|r| r != rule).map(|r| format!("\"{r}\"")).collect();
    // the SQL rule alone: the graph stage's patterns have their own tests
    let cfg = test_config(
        dir.path(),
        &format!(
            "[rules]\ndisabled = [{}]\n{extra}\n[graph]\ncycles = false\nscatter-gather = false\nbipartite = false\npeel-chains = false\n",
            others.join(", ")
        ),
    );
    let s = tokio::runtime::Runtime::new().unwrap().block_on(replay(&cfg, ledger, &ReplayArgs::default())).unwrap();
    assert!(s.reconciled);
    jsonl(&dir.path().join("alerts.jsonl"))
}

fn tx_ids(a: &serde_json::Value) -> Vec<String> {
    a["tx_ids"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn every_rule_matches_its_golden_case() {
    let ids = all_rule_ids();
    for rule in &ids {
        let dir = root().join("fixtures/rules").join(rule);
        assert!(dir.join("transactions.csv").exists(), "rule `{rule}` has no golden case in {}", dir.display());
        let alerts = alerts_of(&dir, rule, "");
        // the classification a reader checks by eye: pos-* alert, near-*/look-* never
        let alerted: BTreeSet<String> = alerts.iter().flat_map(tx_ids).collect();
        let ledger = std::fs::read_to_string(dir.join("transactions.csv")).unwrap();
        let positives: BTreeSet<String> = ledger
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .filter(|id| id.starts_with("pos-"))
            .collect();
        assert!(!positives.is_empty(), "{rule}: the golden case has no positive");
        assert_eq!(alerted, positives, "{rule}: alerted transactions differ from the pos-* rows");
        for a in &alerts {
            assert_eq!(a["rule_id"], rule.as_str());
            assert!(
                a["narrative"].as_str().unwrap().len() > 40 && !a["narrative"].as_str().unwrap().contains('{'),
                "{a}"
            );
            assert!(a["details"]["params"].is_object(), "the thresholds that fired are in details");
        }
        // the golden file pins every field (ids, amounts, narrative, details)
        let expected = dir.join("expected.jsonl");
        let text: String = alerts.iter().map(|a| a.to_string() + "\n").collect();
        if std::env::var_os("MIRRORFLOW_REGEN").is_some() {
            std::fs::write(&expected, &text).unwrap();
        }
        let golden = std::fs::read_to_string(&expected).unwrap_or_default();
        assert_eq!(text, golden, "{rule}: alerts differ from {} (MIRRORFLOW_REGEN=1 rewrites it)", expected.display());
    }
}

#[test]
fn parameters_are_overridden_from_config() {
    let dir = root().join("fixtures/rules/010_structuring");
    assert_eq!(alerts_of(&dir, "010_structuring", "").len(), 1);
    let three = alerts_of(&dir, "010_structuring", "[rules.params.010_structuring]\nmin_deposits = 3\n");
    assert!(three.is_empty(), "two deposits no longer enough: {three:?}");
    let wider = alerts_of(&dir, "010_structuring", "[rules.params.010_structuring]\nlookback_hours = 80\n");
    assert_eq!(wider.len(), 2, "near-1/near-2 (73 h apart) now alert too");
    let e = mirrorflow::config::Config::from_toml_str("[rules.params.010_structuring]\nmin_deposit = 3\n")
        .map(|c| RuleSet::load(c.rules.as_ref().unwrap()).map(|_| ()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("min_deposit") && e.contains("010_structuring"), "{e}");
}

#[test]
fn broken_rule_files_are_all_reported_with_their_file_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("sql");
    std::fs::create_dir_all(&rules).unwrap();
    let header = "-- version: 1\n-- typology: T1\n-- severity: low\n-- description: d\n";
    std::fs::write(rules.join("001_bad_sql.sql"), format!("{header}SELEC subject FROM new_tx")).unwrap();
    std::fs::write(rules.join("002_no_column.sql"), format!("{header}SELECT tx_id AS subject FROM new_tx")).unwrap();
    std::fs::write(rules.join("003_bad_table.sql"), format!("{header}SELECT * FROM nowhere")).unwrap();
    std::fs::write(rules.join("004_fine.sql"), format!("{header}SELECT dst_account AS subject, [tx_id] AS tx_ids, ts AS first_ts, ts AS last_ts, amount_usd FROM new_tx")).unwrap();
    let cfg = test_config(dir.path(), &format!("[rules]\ndir = \"{}\"\n", rules.display()));
    let e = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(replay(&cfg, &root().join("fixtures/rules/010_structuring"), &ReplayArgs::default()))
        .unwrap_err()
        .to_string();
    for name in ["001_bad_sql", "002_no_column", "003_bad_table"] {
        assert!(e.contains(name), "{name} missing from: {e}");
    }
    assert!(!e.contains("004_fine"), "{e}");
    assert!(e.contains("tx_ids") && e.contains("nowhere"), "the DataFusion messages are kept: {e}");
}

#[test]
fn alerts_do_not_depend_on_batch_size() {
    let ids = |extra: &str| -> BTreeSet<String> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), &format!("[rules]\nenabled = true\n{extra}"));
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(replay(&cfg, &root().join("fixtures/demo"), &ReplayArgs::default()))
            .unwrap();
        jsonl(&dir.path().join("alerts.jsonl")).iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect()
    };
    let one_shot = ids("");
    assert!(one_shot.len() > 10, "{}", one_shot.len());
    assert_eq!(ids("[input]\nbatch-rows = 1000\n[pipeline]\ndetect-batch-rows = 1000\n"), one_shot);
}

/// A replay stopped halfway with `--checkpoint` and resumed with `--resume` gives the
/// same alerts, with the same ids and evidence, as one replay of the whole ledger,
/// including episodes open across the cut.
#[test]
fn a_replay_resumed_from_a_checkpoint_gives_the_same_alerts() {
    let run = |out: &Path, args: ReplayArgs| {
        let cfg = test_config(out, "[rules]\nenabled = true\n[pipeline]\ndetect-batch-rows = 2000\n");
        tokio::runtime::Runtime::new().unwrap().block_on(replay(&cfg, &root().join("fixtures/demo"), &args)).unwrap()
    };
    let by_id = |out: &Path| -> std::collections::BTreeMap<String, serde_json::Value> {
        jsonl(&out.join("alerts.jsonl")).into_iter().map(|a| (a["alert_id"].as_str().unwrap().to_string(), a)).collect()
    };
    let whole = tempfile::tempdir().unwrap();
    let s = run(whole.path(), ReplayArgs::default());
    let expected = by_id(whole.path());
    assert!(expected.len() > 10, "{}", expected.len());
    // cut in the middle of the ledger's event time
    let t = |v: &Option<String>| {
        mirrorflow::ingest::values::parse_ts(v.as_ref().unwrap().as_bytes(), &Default::default()).unwrap()
    };
    let mid = (t(&s.first_event_time) + t(&s.last_event_time)) / 2 / 1_000_000 * 1_000_000;
    let cut = mirrorflow::ingest::values::format_ts(mid);
    let (first, second, ck) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = run(
        first.path(),
        ReplayArgs { to: Some(cut.clone()), checkpoint: Some(ck.path().to_path_buf()), ..Default::default() },
    );
    let b = run(
        second.path(),
        ReplayArgs { from: Some(cut.clone()), resume: Some(ck.path().to_path_buf()), ..Default::default() },
    );
    assert_eq!(a.rows_accepted + b.rows_accepted, s.rows_accepted, "every row processed once");
    let mut resumed = by_id(first.path());
    let before_cut = resumed.len();
    resumed.extend(by_id(second.path()));
    assert!(before_cut > 0 && resumed.len() > before_cut, "alerts on both sides of the cut");
    assert_eq!(resumed, expected);
}

/// A busy funnel account matches at every outflow and deposit for weeks: each match after
/// the first lists only what the one before it could not see (`030_funnel_account`), yet
/// the alert is one episode holding every deposit and outflow, with the last match's
/// figures, whatever the batching.
#[test]
fn a_busy_funnel_account_is_one_alert_with_all_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let states = ["US-TX", "US-OK", "US-NM"];
    let mut rows = vec!["tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo".to_string()];
    let mut all = Vec::new();
    for d in 1..=20 {
        let (dep, out) = (format!("dep-{d:02}"), format!("out-{d:02}"));
        rows.push(format!("{dep},2026-03-{d:02}T10:00:00Z,,B1,3000.00,USD,cash_deposit,{}-X,", states[d % 3]));
        rows.push(format!("{out},2026-03-{d:02}T20:00:00Z,B1,P{d:02},2800.00,USD,wire,,"));
        all.extend([dep, out]);
    }
    std::fs::write(dir.path().join("transactions.csv"), rows.join("\n") + "\n").unwrap();
    let accounts =
        "account_id,customer_id,country,region,kind,occupation,industry\nB1,C-B1,US,US-TX,personal,student,\n";
    std::fs::write(dir.path().join("accounts.csv"), accounts).unwrap();
    let one = alerts_of(dir.path(), "030_funnel_account", "");
    assert_eq!(one.len(), 1, "{one:?}");
    let a = &one[0];
    assert_eq!(tx_ids(a), all, "every deposit and outflow, in time order");
    assert_eq!(a["details"]["states"], 3);
    assert_eq!(a["details"]["cash_usd"], "60000.000000");
    assert_eq!(a["details"]["out_usd"], "56000.000000");
    assert_eq!(a["first_ts"], "2026-03-01T10:00:00Z");
    assert_eq!(a["last_ts"], "2026-03-20T20:00:00Z");
    // the same alert when every batch holds a few rows (matches split across steps)
    let small =
        alerts_of(dir.path(), "030_funnel_account", "[input]\nbatch-rows = 3\n[pipeline]\ndetect-batch-rows = 3\n");
    assert_eq!(small, one);
}
