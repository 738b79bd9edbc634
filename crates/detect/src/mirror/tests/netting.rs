//! Netted books: several flows of a party balancing its US cash within the tolerance;
//! near misses: a single leg a side, a sum just outside the tolerance.

use super::*;

/// A party with US, CN and MX accounts (one customer): USD 13,000 of cash on day 0.
fn netting_party() -> AccountsTable {
    accounts(&[
        Acct("NU1", "C31", "US", "US-NJ", "personal", None, ""),
        Acct("NB1", "C31", "CN", "", "personal", None, ""),
        Acct("NM1", "C31", "MX", "", "personal", None, ""),
    ])
}

fn netting_cash() -> Vec<Row> {
    vec![cash("N1", at(0, 10.0), "NU1", 6_000, "US-NJ"), cash("N2", at(0, 15.0), "NU1", 7_000, "US-NJ")]
}

#[test]
fn one_cny_credit_and_one_mxn_payout_too_late_for_a_swap_are_not_netted_books() {
    // balanced legs, but 30 hours after the cash: outside the swap matcher's window, and a
    // single leg a side is a pair of legs, not a book of flows to net
    let mut rows = netting_cash();
    rows.push(wire("C1", at(1, 21.0), "KX1", "NB1", 93_000, "CNY"));
    rows.push(wire("M1", at(1, 22.0), "NM1", "RX1", 224_000, "MXN"));
    let (alerts, stats) = run(MirrorConfig::default(), rows, netting_party(), 1000);
    assert!(t6(&alerts).is_empty(), "{:#?}", t6(&alerts));
    assert!(stats.netting_single_legs >= 1, "{stats:?}");
}

#[test]
fn several_cny_credits_that_net_the_cash_over_two_days_are_netted_books() {
    let mut rows = netting_cash();
    rows.push(wire("C1", at(1, 2.0), "KX1", "NB1", 30_000, "CNY"));
    rows.push(wire("C2", at(1, 3.0), "KX2", "NB1", 35_000, "CNY"));
    rows.push(wire("C3", at(1, 21.0), "KX3", "NB1", 28_000, "CNY"));
    let (alerts, stats) = run(MirrorConfig::default(), rows, netting_party(), 1000);
    let t6 = t6(&alerts);
    assert_eq!(t6.len(), 1, "{t6:#?}");
    assert_eq!(t6[0].rule_id, NETTED_RULE_ID);
    assert_eq!(stats.netted, 1);
}

#[test]
fn cny_credits_at_the_edge_of_the_netting_tolerance_are_netted_books() {
    // 97,500 CNY is 13,650 USD: +5.0% of the 13,000 of cash, the default tolerance
    let mut rows = netting_cash();
    rows.push(wire("C1", at(1, 2.0), "KX1", "NB1", 30_000, "CNY"));
    rows.push(wire("C2", at(1, 3.0), "KX2", "NB1", 35_000, "CNY"));
    rows.push(wire("C3", at(1, 21.0), "KX3", "NB1", 32_500, "CNY"));
    let (alerts, stats) = run(MirrorConfig::default(), rows, netting_party(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    let a = found[0];
    assert_eq!(a.rule_id, NETTED_RULE_ID);
    assert_eq!(ids(a), ["N1", "N2", "C1", "C2", "C3"]);
    assert_eq!(a.details["cny_in_usd"], "13650");
    assert_eq!(a.details["cny_vs_us_pct"], 5.0);
    assert_eq!(a.details["mxn_legs"].as_array().map(Vec::len), Some(0));
    assert_eq!(stats.netted, 1);
}

#[test]
fn cny_credits_one_yuan_over_the_netting_tolerance_are_not_netted_books() {
    // 97,501 CNY is 13,650.14 USD: just over +5.0%
    let mut rows = netting_cash();
    rows.push(wire("C1", at(1, 2.0), "KX1", "NB1", 30_000, "CNY"));
    rows.push(wire("C2", at(1, 3.0), "KX2", "NB1", 35_000, "CNY"));
    rows.push(wire("C3", at(1, 21.0), "KX3", "NB1", 32_501, "CNY"));
    let (alerts, stats) = run(MirrorConfig::default(), rows, netting_party(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.netted, 0);
}

#[test]
fn several_mxn_payouts_that_net_the_cash_are_netted_books() {
    // 236,000 MXN is 12,980 USD: -0.2% of the cash; no CNY side
    let mut rows = netting_cash();
    rows.push(wire("M1", at(0, 16.0), "NM1", "RX1", 80_000, "MXN"));
    rows.push(wire("M2", at(0, 18.0), "NM1", "RX2", 90_000, "MXN"));
    rows.push(wire("M3", at(1, 9.0), "NM1", "RX3", 66_000, "MXN"));
    let (alerts, _) = run(MirrorConfig::default(), rows, netting_party(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule_id, NETTED_RULE_ID);
    assert_eq!(ids(found[0]), ["N1", "N2", "M1", "M2", "M3"]);
    assert_eq!(found[0].details["mxn_out_usd"], "12980");
    assert_eq!(found[0].details["cny_legs"].as_array().map(Vec::len), Some(0));
}
