//! The one-to-one match on amount and time alone: each leg goes to the placement it fits
//! best.

use super::*;

#[test]
fn legs_that_only_amount_and_time_tie_go_to_the_placement_they_fit_best_not_the_first_judged() {
    let accts = accounts(&[
        Acct("A1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("A2", "C02", "US", "US-TX", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
        Acct("B1", "C11", "CN", "", "personal", None, ""),
        Acct("M1", "C31", "MX", "", "business", None, ""),
        Acct("R1", "C41", "MX", "", "personal", None, ""),
    ]);
    let rows = vec![
        // A1: 27,000 USD structured from 10:00 (judged first); A2: 27,700 from 13:00
        cash("D1", at(0, 10.0), "A1", 9_000, "US-CA"),
        cash("D2", at(0, 11.0), "A1", 9_000, "US-CA"),
        cash("D3", at(0, 12.0), "A1", 9_000, "US-CA"),
        cash("E1", at(0, 13.0), "A2", 9_000, "US-TX"),
        cash("E2", at(0, 14.0), "A2", 9_100, "US-TX"),
        cash("E3", at(0, 15.0), "A2", 9_600, "US-TX"),
        // 28,252 USD of CNY: +2.0% of A2's cash, +4.6% of A1's; 27,005 USD of MXN: -2.5%
        // of A2's, +0.0% of A1's. Both in both bands; A2's at the middle of each.
        wire("L1", at(0, 18.0), "K1", "B1", 201_800, "CNY"),
        wire("L2", at(0, 20.0), "M1", "R1", 491_000, "MXN"),
    ];
    let (alerts, _) = run(MirrorConfig::default(), rows, accts, 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    let ids = &found[0].tx_ids;
    assert!(["E1", "E2", "E3", "L1", "L2"].iter().all(|id| ids.iter().any(|t| t == id)), "{ids:?}");
    assert!(!ids.iter().any(|t| t.starts_with('D')), "{ids:?}");
}
