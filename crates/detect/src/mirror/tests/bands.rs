//! Bands: a leg's USD value (at its own day's rate) against the cash, CNY -2%..+6% and MXN
//! -6%..+1% by default; the edges match, one unit beyond does not.

use super::*;

/// A1's cash and nothing that links it: a CNY client paying a Chinese broker and a Mexican
/// broker paying a recipient.
fn band_accounts() -> AccountsTable {
    accounts(&[
        Acct("A1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
        Acct("B1", "C11", "CN", "", "personal", None, ""),
        Acct("M1", "C31", "MX", "", "business", None, ""),
        Acct("R1", "C41", "MX", "", "personal", None, ""),
    ])
}

/// A1's 27,720 USD of structured cash, a CNY credit of `cny` and an MXN payout of `mxn`
/// the same afternoon.
fn band_ledger(cny: u32, mxn: u32) -> Vec<Row> {
    let mut rows = structured_cash("A1");
    rows.push(wire("L1", at(0, 16.0), "K1", "B1", cny, "CNY"));
    rows.push(wire("L2", at(0, 17.0), "M1", "R1", mxn, "MXN"));
    rows
}

#[test]
fn a_cny_and_an_mxn_leg_at_the_edges_of_their_bands_match() {
    // CNY -2.0% with MXN +1.0%, then CNY +6.0% with MXN -6.0%
    for (cny, mxn, cny_pct, mxn_pct) in [(194_040, 509_040, -2.0, 1.0), (209_880, 473_760, 6.0, -6.0)] {
        let (alerts, stats) = run(MirrorConfig::default(), band_ledger(cny, mxn), band_accounts(), 1000);
        let found = t6(&alerts);
        assert_eq!(found.len(), 1, "CNY {cny}, MXN {mxn}: {found:#?}");
        let a = found[0];
        assert_eq!(a.rule_id, SWAP_RULE_ID);
        assert_eq!(a.details["match"], "amount_and_time");
        assert_eq!(ids(a), ["D1", "D2", "D3", "L1", "L2"]);
        assert_eq!(a.amount_usd, "27720");
        let legs = a.details["legs"].as_array().unwrap();
        assert_eq!((legs[0]["leg"].as_str(), legs[0]["value_vs_us_cash_pct"].as_f64()), (Some("cny"), Some(cny_pct)));
        assert_eq!((legs[1]["leg"].as_str(), legs[1]["value_vs_us_cash_pct"].as_f64()), (Some("mxn"), Some(mxn_pct)));
        assert_eq!(stats.swaps, 1);
    }
}

#[test]
fn a_cny_leg_one_yuan_outside_its_band_does_not_match() {
    // 194,039 CNY is 27,165.46 USD (under -2%), 209,881 is 29,383.34 (over +6%); the MXN
    // leg is at its edge, and a triangle needs both
    for cny in [194_039, 209_881] {
        let (alerts, stats) = run(MirrorConfig::default(), band_ledger(cny, 509_040), band_accounts(), 1000);
        assert!(t6(&alerts).is_empty(), "CNY {cny}: {alerts:#?}");
        assert_eq!(stats.swaps, 0);
    }
}

#[test]
fn an_mxn_leg_one_peso_outside_its_band_does_not_match() {
    // 473,759 MXN is 26,056.745 USD (under -6%), 509,041 is 27,997.255 (over +1%)
    for mxn in [473_759, 509_041] {
        let (alerts, stats) = run(MirrorConfig::default(), band_ledger(194_040, mxn), band_accounts(), 1000);
        assert!(t6(&alerts).is_empty(), "MXN {mxn}: {alerts:#?}");
        assert_eq!(stats.swaps, 0);
    }
}
