//! T6 mirror swaps end to end: generated ledgers with mirror networks of every variant
//! (linked by customer id, by a shared phone, by nothing but amount and time, netted,
//! crypto-settled) and innocent look-alikes, replayed with the embedded defaults and
//! scored with `eval`.

use super::common::*;

fn generate_and_replay(seed: &str, rows: &str) -> (tempfile::TempDir, mirrorflow::eval::EvalReport) {
    generate_replay_evaluate(&["--seed", seed, "--rows", rows])
}

/// Every variant's swaps have their US cash linked to a CN or MX leg in one T6 alert,
/// T6 alerts are mostly true, and none lands on the look-alike populations (MSB
/// remittances, tuition wires, China trade, cash restaurants).
#[test]
fn mirror_swaps_of_every_variant_are_linked_and_look_alikes_are_not() {
    let (dir, r) = generate_and_replay("21", "60000");
    let link = r.mirror_linkage.as_ref().expect("labels carry legs");
    let share = |v: &str| link.iter().find(|l| l.variant == v).map(|l| (l.linked, l.swaps)).unwrap();
    for v in ["customer_id", "phone", "netted", "crypto"] {
        let (linked, swaps) = share(v);
        assert!(swaps >= 2 && linked == swaps, "{v}: {linked} of {swaps} swaps linked: {link:?}");
    }
    let (linked, swaps) = share("all");
    assert!(linked as f64 >= 0.9 * swaps as f64, "{linked} of {swaps} swaps linked: {link:?}");
    let t6 = r.by_alert_typology.iter().find(|a| a.typology == "T6").unwrap();
    assert!(t6.true_alerts as f64 >= 0.8 * t6.alerts as f64, "T6 precision: {} of {}", t6.true_alerts, t6.alerts);
    // the look-alikes: no false T6 alert touches them
    let alerts = jsonl(&dir.path().join("out/alerts.jsonl"));
    let pops: std::collections::HashMap<String, String> =
        std::fs::read_to_string(dir.path().join("ledger/populations.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(',').map(|(a, p)| (a.to_string(), p.to_string())))
            .collect();
    for a in alerts.iter().filter(|a| a["typology"] == "T6") {
        for s in a["subjects"].as_array().unwrap() {
            let p = pops.get(s.as_str().unwrap()).map(String::as_str).unwrap_or("");
            assert!(
                !["msb_remittance", "student_tuition", "china_trade", "cash_restaurant"].contains(&p),
                "T6 alert on a {p} account: {a:#}"
            );
        }
    }
    // what an analyst reads: legs with their FX rate and gap, the key term, the reasons
    let linked = alerts
        .iter()
        .find(|a| a["rule_id"] == "mirror_swap" && a["details"]["match"] == "linked")
        .expect("a linked swap");
    assert!(linked["narrative"].as_str().unwrap().contains("CMLN-2025-A003"));
    let leg = &linked["details"]["legs"][0];
    assert!(leg["fx_rate_usd_per_unit"].is_string() && leg["time_gap_hours"].is_number(), "{leg:#}");
    let reasons = linked["details"]["party_links"].as_array().unwrap();
    assert!(!reasons.is_empty() && reasons.iter().all(|l| l["reason"].is_string()), "{reasons:?}");
}
