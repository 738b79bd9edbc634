//! Windows: a leg comes within `leg-window` (24 hours by default) of every deposit of the
//! placement: no earlier than the last deposit less the window, no later than the first
//! deposit plus the window. The edges match; a microsecond beyond does not.

use super::*;

/// U1's cash and its own Chinese broker account (one customer), and a client.
fn window_accounts() -> AccountsTable {
    accounts(&[
        Acct("U1", "C01", "US", "US-CA", "personal", None, ""),
        Acct("B1", "C01", "CN", "", "personal", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
    ])
}

/// 18,480 USD of cash on day 0 at 10:00 and 14:00, and 132,000 CNY (18,480 USD) paid
/// into U1's own broker account at `leg_ts`.
fn window_ledger(leg_ts: i64) -> Vec<Row> {
    vec![
        cash("D1", at(0, 10.0), "U1", 9_240, "US-CA"),
        cash("D2", at(0, 14.0), "U1", 9_240, "US-CA"),
        wire("L1", leg_ts, "K1", "B1", 132_000, "CNY"),
    ]
}

#[test]
fn a_leg_at_the_edge_of_the_window_of_every_deposit_matches() {
    let window = MirrorConfig::default().leg_window_us;
    // a window after the first deposit; a window before the last one
    for leg_ts in [at(0, 10.0) + window, at(0, 14.0) - window] {
        let (alerts, stats) = run(MirrorConfig::default(), window_ledger(leg_ts), window_accounts(), 1000);
        let found = t6(&alerts);
        assert_eq!(found.len(), 1, "leg at {leg_ts}: {found:#?}");
        assert_eq!(found[0].rule_id, SWAP_RULE_ID);
        assert_eq!(found[0].details["match"], "linked");
        let mut evidence = ids(found[0]);
        evidence.sort_unstable();
        assert_eq!(evidence, ["D1", "D2", "L1"]);
        assert_eq!(stats.swaps, 1);
    }
}

#[test]
fn a_leg_a_microsecond_outside_the_window_of_a_deposit_does_not_match() {
    let window = MirrorConfig::default().leg_window_us;
    // just after the first deposit's window (within the last's), and just before the last
    // deposit's window (within the first's)
    for leg_ts in [at(0, 10.0) + window + 1, at(0, 14.0) - window - 1] {
        let (alerts, stats) = run(MirrorConfig::default(), window_ledger(leg_ts), window_accounts(), 1000);
        assert!(t6(&alerts).is_empty(), "leg at {leg_ts}: {alerts:#?}");
        assert_eq!(stats.swaps, 0);
        // nor are one deposit run and one leg netted books
        assert_eq!(stats.netted, 0);
    }
}
