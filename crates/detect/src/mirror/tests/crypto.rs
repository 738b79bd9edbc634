//! Crypto settlement: cash on-ramped to an exchange, then an MXN payout from a Mexican
//! exchange of its value; near misses: the on-ramp outside `on-ramp-window`, the payout
//! outside the MXN band.

use super::*;

#[test]
fn cash_traced_to_an_exchange_is_matched_by_its_payout_before_a_coincidence_of_amount_and_time() {
    let accts = accounts(&[
        Acct("A1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("XU", "C90", "US", "", "exchange", None, ""),
        Acct("XM", "C91", "MX", "", "exchange", None, ""),
        Acct("R9", "C92", "MX", "", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
        Acct("B1", "C11", "CN", "", "personal", None, ""),
        Acct("M1", "C31", "MX", "", "business", None, ""),
        Acct("R1", "C41", "MX", "", "personal", None, ""),
    ]);
    // 27,000 USD of structured cash, sent on to an exchange the same evening
    let mut rows = vec![
        cash("D1", at(0, 10.0), "A1", 9_000, "US-CA"),
        cash("D2", at(0, 12.0), "A1", 9_000, "US-CA"),
        cash("D3", at(0, 14.0), "A1", 9_000, "US-CA"),
        ("R".into(), at(0, 18.0), "A1", "XU", "27000".into(), "USD", "ach", ""),
    ];
    // the Mexican exchange pays out 26,400 USD of MXN (-2.2%) that night; an unrelated
    // CNY credit and MXN payout of the same value fall in the same hours
    rows.push(wire("X1", at(0, 23.0), "XM", "R9", 480_000, "MXN"));
    rows.push(wire("L1", at(0, 15.0), "K1", "B1", 195_000, "CNY")); // 27,300: +1.1%
    rows.push(wire("L2", at(0, 16.0), "M1", "R1", 482_000, "MXN")); // 26,510: -1.8%
    let (alerts, stats) = run(MirrorConfig::default(), rows, accts, 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].details["match"], "crypto", "{:#}", found[0].details);
    assert!(found[0].tx_ids.iter().any(|t| t == "X1"), "{:?}", found[0].tx_ids);
    assert!(!found[0].tx_ids.iter().any(|t| t == "L1" || t == "L2"), "{:?}", found[0].tx_ids);
    assert_eq!(stats.swaps, 1);
}

/// A1's cash, exchange accounts in the US and Mexico, the exchange's payee.
fn exchange_accounts() -> AccountsTable {
    accounts(&[
        Acct("A1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("XU", "C90", "US", "", "exchange", None, ""),
        Acct("XM", "C91", "MX", "", "exchange", None, ""),
        Acct("R9", "C92", "MX", "", "personal", None, ""),
    ])
}

/// A1's 27,720 USD of structured cash (the last deposit at 14:00), on-ramped to XU at
/// `ramp_ts`, and the Mexican exchange paying out `mxn` at 23:00.
fn exchange_ledger(ramp_ts: i64, mxn: u32) -> Vec<Row> {
    let mut rows = structured_cash("A1");
    rows.push(("R".into(), ramp_ts, "A1", "XU", "27720".into(), "USD", "ach", ""));
    rows.push(wire("X1", at(0, 23.0), "XM", "R9", mxn, "MXN"));
    rows
}

#[test]
fn an_exchange_payout_at_the_edges_of_the_mxn_band_after_an_on_ramp_is_crypto_settlement() {
    // -6.0% and +1.0% of the cash
    for mxn in [473_760, 509_040] {
        let (alerts, stats) =
            run(MirrorConfig::default(), exchange_ledger(at(0, 18.0), mxn), exchange_accounts(), 1000);
        let found = t6(&alerts);
        assert_eq!(found.len(), 1, "MXN {mxn}: {found:#?}");
        let a = found[0];
        assert_eq!(a.rule_id, SWAP_RULE_ID);
        assert_eq!(a.details["match"], "crypto");
        assert_eq!(ids(a), ["D1", "D2", "D3", "R", "X1"]);
        assert_eq!(a.details["legs"][0]["leg"], "mxn_exchange");
        assert_eq!(a.details["on_ramps"][0]["tx_id"], "R");
        assert_eq!(stats.swaps, 1);
    }
}

#[test]
fn an_exchange_payout_one_peso_outside_the_mxn_band_is_not_crypto_settlement() {
    for mxn in [473_759, 509_041] {
        let (alerts, stats) =
            run(MirrorConfig::default(), exchange_ledger(at(0, 18.0), mxn), exchange_accounts(), 1000);
        assert!(t6(&alerts).is_empty(), "MXN {mxn}: {alerts:#?}");
        assert_eq!(stats.swaps, 0);
    }
}

#[test]
fn an_on_ramp_outside_the_on_ramp_window_does_not_trace_the_cash() {
    // a 6-hour on-ramp window after the last deposit (14:00): an on-ramp at 20:00 traces
    // the cash, a microsecond later it does not (the payout at 23:00 is within the leg
    // window either way)
    let cfg = || MirrorConfig { on_ramp_window_us: 6 * HOUR, ..MirrorConfig::default() };
    let edge = at(0, 14.0) + 6 * HOUR;
    let (alerts, _) = run(cfg(), exchange_ledger(edge, 498_960), exchange_accounts(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].details["match"], "crypto");
    assert_eq!(ids(found[0]), ["D1", "D2", "D3", "R", "X1"]);
    let (alerts, stats) = run(cfg(), exchange_ledger(edge + 1, 498_960), exchange_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.swaps, 0);
    // it is the window: with the default (two days) the same on-ramp traces the cash
    let (alerts, _) = run(MirrorConfig::default(), exchange_ledger(edge + 1, 498_960), exchange_accounts(), 1000);
    assert_eq!(t6(&alerts).len(), 1, "{alerts:#?}");
    // nor does cash sent to the exchange before it was deposited
    let (alerts, _) = run(MirrorConfig::default(), exchange_ledger(at(0, 9.0), 498_960), exchange_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
}
