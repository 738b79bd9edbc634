//! Party preference: a leg whose broker account is the placement's party wins; without
//! the link, the triangle rule (a CNY and an MXN leg on suspicious cash) applies.

use super::*;

#[test]
fn one_partys_cash_and_its_own_cny_broker_account_are_a_linked_swap() {
    let accts = accounts(&[
        Acct("U1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("B1", "C01", "CN", "", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
    ]);
    let rows = vec![
        cash("D1", at(0, 9.0), "U1", 9_500, "US-CA"),
        cash("D2", at(0, 13.0), "U1", 9_100, "US-CA"),
        // 19,600 USD of CNY at 0.14 against 18,600 of cash: +5.4%
        wire("L1", at(0, 18.0), "K1", "B1", 140_000, "CNY"),
    ];
    let (alerts, stats) = run(MirrorConfig::default(), rows, accts, 1000);
    let t6 = t6(&alerts);
    assert_eq!(t6.len(), 1, "{t6:#?}");
    assert_eq!(t6[0].rule_id, SWAP_RULE_ID);
    assert_eq!(t6[0].details["match"], "linked");
    assert_eq!(t6[0].tx_ids, ["D1", "D2", "L1"]);
    assert_eq!(t6[0].details["party_links"][0]["reason"], "customer_id");
    assert_eq!((stats.swaps, stats.network), (1, 0));
}

/// A1's cash; B1, a Chinese account of A1's customer (or not, `linked`); B2, an unrelated
/// Chinese broker; a Mexican broker M1.
fn preference_accounts(linked: bool) -> AccountsTable {
    accounts(&[
        Acct("A1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("B1", if linked { "C01" } else { "C13" }, "CN", "", "personal", None, ""),
        Acct("B2", "C12", "CN", "", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
        Acct("K2", "C22", "CN", "", "personal", None, ""),
        Acct("M1", "C31", "MX", "", "business", None, ""),
        Acct("R1", "C41", "MX", "", "personal", None, ""),
    ])
}

/// A1's 27,720 USD; L1 into B1 at +5% that evening; L2 into B2 at +0.0% and L3 out of M1
/// at -1.0% within the hour of the cash.
fn preference_ledger() -> Vec<Row> {
    let mut rows = structured_cash("A1");
    rows.push(wire("L1", at(0, 20.0), "K1", "B1", 207_900, "CNY")); // 29,106: +5.0%
    rows.push(wire("L2", at(0, 12.5), "K2", "B2", 198_000, "CNY")); // 27,720: +0.0%
    rows.push(wire("L3", at(0, 13.0), "M1", "R1", 498_960, "MXN")); // 27,442.80: -1.0%
    rows
}

#[test]
fn a_leg_into_the_placements_own_party_wins_over_a_closer_unlinked_one() {
    let (alerts, stats) = run(MirrorConfig::default(), preference_ledger(), preference_accounts(true), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    let a = found[0];
    assert_eq!(a.rule_id, SWAP_RULE_ID);
    assert_eq!(a.details["match"], "linked");
    assert_eq!(ids(a), ["D1", "D2", "D3", "L1"]);
    assert_eq!(a.details["legs"][0]["broker_account"], "B1");
    assert_eq!(a.details["legs"][0]["linked_to_us_accounts"], true);
    assert_eq!(a.details["party_links"][0]["reason"], "customer_id");
    assert_eq!(stats.swaps, 1);
}

#[test]
fn without_the_link_the_triangle_rule_takes_the_closest_cny_and_mxn_legs() {
    // B1 is another customer's: nothing ties a leg to A1, so a CNY and an MXN leg must
    // both match the (structured) cash; the CNY leg closest in time is L2
    let (alerts, _) = run(MirrorConfig::default(), preference_ledger(), preference_accounts(false), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule_id, SWAP_RULE_ID);
    assert_eq!(found[0].details["match"], "amount_and_time");
    assert_eq!(ids(found[0]), ["D1", "D2", "L2", "L3", "D3"]);
    assert_eq!(found[0].details["party_links"].as_array().map(Vec::len), Some(0));
    // and without the MXN leg, the CNY legs alone are amount and time: nothing
    let rows: Vec<Row> = preference_ledger().into_iter().filter(|r| r.0 != "L3").collect();
    let (alerts, stats) = run(MirrorConfig::default(), rows, preference_accounts(false), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.swaps, 0);
}
