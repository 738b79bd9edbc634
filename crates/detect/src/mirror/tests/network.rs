//! Network matches: several unlinked nominees' cash against the sums of several legs, and
//! the look-alikes (no foreign legs, out of band, a cash business, a cross-border wire).

use super::*;

/// Four nominees with nothing in common in KYC, in three states; two CNY brokers fed by
/// three clients; one Mexican broker paying out in two parts; clients and recipients.
fn network_accounts() -> AccountsTable {
    accounts(&network_rows())
}

fn network_rows() -> Vec<Acct> {
    vec![
        Acct("N1", "C01", "US", "US-CA", "personal", OPENED_RECENTLY, "student"),
        Acct("N2", "C02", "US", "US-TX", "personal", Some(20_482), ""),
        Acct("N3", "C03", "US", "US-NY", "personal", None, "cashier"),
        Acct("N4", "C04", "US", "US-NY", "personal", None, ""),
        Acct("B1", "C11", "CN", "", "personal", None, ""),
        Acct("B2", "C12", "CN", "", "business", None, ""),
        Acct("K1", "C21", "CN", "", "personal", None, ""),
        Acct("K2", "C22", "CN", "", "personal", None, ""),
        Acct("K3", "C23", "CN", "", "personal", None, ""),
        Acct("M1", "C31", "MX", "", "business", None, ""),
        Acct("R1", "C41", "MX", "", "personal", None, ""),
        Acct("R2", "C42", "MX", "", "personal", None, ""),
    ]
}

/// 180,000 USD of structured cash by four nominees over two days in three states.
fn network_cash() -> Vec<Row> {
    nominee_cash(&[9_500, 9_200, 8_800, 8_600, 8_900], 3) // 45,000 a nominee
}

/// Each of the four nominees deposits `amounts`, the first `day0` of them on the first
/// day (from 09:00, 1.5 hours apart) and the rest on the second (from 10:00).
fn nominee_cash(amounts: &[u32], day0: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for (n, (acct, state)) in
        [("N1", "US-CA"), ("N2", "US-TX"), ("N3", "US-NY"), ("N4", "US-NY")].into_iter().enumerate()
    {
        for (k, usd) in amounts.iter().enumerate() {
            let (day, hour) = if k < day0 { (0, 9.0 + 1.5 * k as f64) } else { (1, 10.0 + 1.5 * (k - day0) as f64) };
            rows.push(cash(&format!("D{n}{k}"), at(day, hour + 0.3 * n as f64), acct, *usd, state));
        }
    }
    rows
}

/// Three CNY credits into two brokers (63,000 + 56,000 + 65,800 = 184,800 USD at 0.14: +2.7%),
/// and the MXN in two parts (99,000 + 77,000 = 176,000 USD at 0.055: -2.2%).
fn network_legs() -> Vec<Row> {
    vec![
        wire("L1", at(0, 15.0), "K1", "B1", 450_000, "CNY"),
        wire("L2", at(1, 11.0), "K2", "B1", 400_000, "CNY"),
        wire("L3", at(1, 13.0), "K3", "B2", 470_000, "CNY"),
        wire("L4", at(1, 16.0), "M1", "R1", 1_800_000, "MXN"),
        wire("L5", at(1, 19.0), "M1", "R2", 1_400_000, "MXN"),
    ]
}

#[test]
fn a_network_of_unlinked_nominees_is_one_alert_with_every_leg() {
    let rows: Vec<Row> = network_cash().into_iter().chain(network_legs()).collect();
    let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), 1000);
    let t6 = t6(&alerts);
    assert_eq!(t6.len(), 1, "{t6:#?}");
    let a = t6[0];
    assert_eq!(a.rule_id, NETWORK_RULE_ID);
    assert_eq!(a.amount_usd, "180000");
    // all 20 deposits and all 5 legs, in time order
    assert_eq!(a.tx_ids.len(), 25, "{:?}", a.tx_ids);
    for id in ["L1", "L2", "L3", "L4", "L5", "D00", "D34"] {
        assert!(a.tx_ids.iter().any(|t| t == id), "{id} missing: {:?}", a.tx_ids);
    }
    let d = &a.details;
    assert_eq!(d["match"], "network");
    assert_eq!(d["tied_by"], "behaviour: co-timed structured cash across 4 accounts in 3 state(s)");
    assert_eq!(d["us_cash"]["accounts"].as_array().unwrap().len(), 4);
    assert_eq!(d["cny_in_usd"], "184800");
    assert_eq!(d["mxn_out_usd"], "176000");
    assert_eq!(d["legs"].as_array().unwrap().len(), 5);
    assert!(d["legs"].as_array().unwrap().iter().all(|l| l["fx_rate_usd_per_unit"].is_string()));
    // N1 and N2 were opened five days apart, both new: a cohort
    assert!(d["ties"].as_array().unwrap().iter().any(|t| t["reason"] == "cohort"), "{d:#}");
    assert!(a.narrative.contains(KEY_TERM) && a.narrative.contains("co-timed structured cash"), "{}", a.narrative);
    assert!(a.jurisdictions.contains(&"CN".to_string()) && a.jurisdictions.contains(&"MX".to_string()));
    assert_eq!((stats.network, stats.network_bound_hits), (1, 0));
    // the same alert whatever the batch size
    for chunk in [1, 3, 7] {
        let (again, _) = run(MirrorConfig::default(), rows.clone(), network_accounts(), chunk);
        let ids: Vec<&str> = again.iter().map(|a| a.alert_id.as_str()).collect();
        assert_eq!(ids, [a.alert_id.as_str()], "batches of {chunk}");
    }
}

#[test]
fn a_network_without_foreign_legs_is_not_a_mirror_swap() {
    let (alerts, stats) = run(MirrorConfig::default(), network_cash(), network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
    // nor with only one side: the CNY credits match, no MXN leaves
    let rows: Vec<Row> = network_cash().into_iter().chain(network_legs().into_iter().take(3)).collect();
    let (alerts, _) = run(MirrorConfig::default(), rows, network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
}

#[test]
fn unrelated_cash_depositors_near_a_leg_but_outside_the_band_are_not_a_network() {
    // three unrelated depositors, two structured deposits each on one day: 54,000 USD
    let mut rows = Vec::new();
    for (n, acct) in ["N1", "N2", "N3"].into_iter().enumerate() {
        for k in 0..2 {
            rows.push(cash(&format!("D{n}{k}"), at(0, 9.0 + n as f64 + 3.0 * k as f64), acct, 9_000, "US-CA"));
        }
    }
    // a CNY credit of 58,800 USD (+8.9%) and an MXN payout of 50,600 USD (-6.3%): each just
    // outside its band
    rows.push(wire("L1", at(0, 14.0), "K1", "B1", 420_000, "CNY"));
    rows.push(wire("L2", at(0, 15.0), "M1", "R1", 920_000, "MXN"));
    let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
    // the same amounts within the bands do match (the test above is about the band)
    rows.truncate(6);
    rows.push(wire("L1", at(0, 14.0), "K1", "B1", 400_000, "CNY")); // 56,000: +3.7%
    rows.push(wire("L2", at(0, 15.0), "M1", "R1", 960_000, "MXN")); // 52,800: -2.2%
    let (alerts, _) = run(MirrorConfig::default(), rows, network_accounts(), 1000);
    assert_eq!(t6(&alerts).len(), 1, "{alerts:#?}");
}

#[test]
fn a_cash_business_whose_nights_sometimes_land_in_the_band_is_not_a_nominee() {
    // a month of nightly takings spread over every amount; two nights in the band on the
    // last day's span, and legs that would match them
    let mut rows = Vec::new();
    let spread = [1_200, 2_900, 4_100, 650, 3_300, 5_800, 2_200, 7_100, 1_900, 3_800];
    for night in 0..28 {
        for (acct, off) in [("N1", 0), ("N2", 3)] {
            let usd = spread[(night + off) % spread.len()];
            rows.push(cash(&format!("{acct}-{night}"), at(night as i64 - 28, 22.0), acct, usd as u32, "US-CA"));
        }
    }
    for (n, acct) in ["N1", "N2"].into_iter().enumerate() {
        for k in 0..2 {
            rows.push(cash(&format!("X{n}{k}"), at(0, 10.0 + 4.0 * k as f64 + n as f64), acct, 9_000, "US-CA"));
        }
    }
    rows.push(wire("L1", at(0, 14.0), "K1", "B1", 260_000, "CNY")); // 36,400 of 36,000
    rows.push(wire("L2", at(0, 15.0), "M1", "R1", 640_000, "MXN")); // 35,200
    let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!((stats.network, stats.swaps), (0, 0));
    // it is the accounts' own history that clears them: without it they would match
    let mut cfg = MirrorConfig::default();
    cfg.network.as_mut().unwrap().min_band_share_bp = 0;
    let (alerts, _) = run(cfg, rows, network_accounts(), 1000);
    assert_eq!(t6(&alerts).len(), 1, "{alerts:#?}");
}

/// The network's 180,000 USD placed below the structuring band: nine deposits a nominee
/// of 3,000-7,000 over two days.
fn network_cash_below_band() -> Vec<Row> {
    nominee_cash(&[3_000, 7_000, 4_500, 6_500, 5_000, 3_500, 6_000, 4_000, 5_500], 5) // 45,000
}

#[test]
fn nominees_fed_cash_below_the_band_for_one_event_are_a_network() {
    let rows: Vec<Row> = network_cash_below_band().into_iter().chain(network_legs()).collect();
    let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule_id, NETWORK_RULE_ID);
    assert_eq!(found[0].amount_usd, "180000");
    assert_eq!(found[0].tx_ids.len(), 36 + 5);
    assert_eq!(stats.network, 1);
    // a few small deposits each (2,400 USD a nominee, under mirror.min-amount-usd) are
    // no nominee's share of a pickup
    // (legs of 9,800 USD of CNY and 9,350 of MXN would match their 9,600 together)
    let mut small = nominee_cash(&[300, 700, 450, 650, 300], 3);
    small.push(wire("S1", at(1, 15.0), "K1", "B1", 70_000, "CNY"));
    small.push(wire("S2", at(1, 16.0), "M1", "R1", 170_000, "MXN"));
    let (alerts, _) = run(MirrorConfig::default(), small, network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    // the same deposits into accounts that took cash every night of the month before are
    // a business's takings, not a burst: no network
    let mut with_history = rows;
    for night in 1..28 {
        for acct in ["N1", "N2", "N3", "N4"] {
            with_history.push(cash(&format!("{acct}-{night}"), at(-night, 21.0), acct, 2_400, "US-CA"));
        }
    }
    let (alerts, stats) = run(MirrorConfig::default(), with_history, network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
}

#[test]
fn an_mxn_wire_to_a_foreign_account_is_not_a_mirror_leg() {
    // the second MXN part goes to a US account: a cross-border wire, which no mirror leg
    // is; without it the MXN side is 99,000 of 180,000 and nothing matches
    let mut rows = network_rows();
    let r2 = rows.iter_mut().find(|a| a.0 == "R2").unwrap();
    (r2.2, r2.3) = ("US", "US-TX");
    let accts = accounts(&rows);
    let ledger: Vec<Row> = network_cash().into_iter().chain(network_legs()).collect();
    let (alerts, stats) = run(MirrorConfig::default(), ledger, accts, 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
}

#[test]
fn a_search_stopped_by_its_budget_is_counted() {
    let rows: Vec<Row> = network_cash().into_iter().chain(network_legs()).collect();
    let mut cfg = MirrorConfig::default();
    cfg.network.as_mut().unwrap().search_budget = 3;
    let (alerts, stats) = run(cfg, rows, network_accounts(), 1000);
    assert!(stats.network_bound_hits >= 1, "{stats:?}");
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
}

/// Four nominees whose accounts are new, each taking one deposit of 7,500 USD a day for
/// two days (60,000 USD): neither structured nor a burst, so only whose accounts they are
/// sets them apart; and the legs that mirror the 60,000.
fn new_account_nominees(opened: Option<i32>) -> (Vec<Row>, AccountsTable) {
    let rows: Vec<Acct> = network_rows()
        .into_iter()
        .map(|mut a| {
            if a.0.starts_with('N') {
                a.5 = opened;
            }
            a
        })
        .collect();
    let mut txs = nominee_cash(&[7_500, 7_500], 1);
    txs.extend([
        // 240,000 + 200,000 CNY at 0.14 = 61,600 USD (+2.7%); 600,000 + 470,000 MXN at
        // 0.055 = 58,850 USD (-1.9%)
        wire("L1", at(0, 15.0), "K1", "B1", 240_000, "CNY"),
        wire("L2", at(1, 12.0), "K2", "B2", 200_000, "CNY"),
        wire("L3", at(1, 16.0), "M1", "R1", 600_000, "MXN"),
        wire("L4", at(1, 19.0), "M1", "R2", 470_000, "MXN"),
    ]);
    (txs, accounts(&rows))
}

#[test]
fn new_accounts_taking_a_deposit_or_two_of_one_pickup_are_a_network() {
    // opened in January, the cash in March: new accounts
    let (rows, accts) = new_account_nominees(Some(20_470));
    let (alerts, stats) = run(MirrorConfig::default(), rows, accts, 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule_id, NETWORK_RULE_ID);
    assert_eq!(found[0].amount_usd, "60000");
    assert_eq!(found[0].tx_ids.len(), 8 + 4, "{:?}", found[0].tx_ids);
    assert!(found[0].narrative.contains("opened"), "{}", found[0].narrative);
    assert_eq!(stats.network, 1);
    // the same deposits into accounts held for years: ordinary customers' cash, no network
    let (rows, accts) = new_account_nominees(Some(18_000));
    let (alerts, stats) = run(MirrorConfig::default(), rows, accts, 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
}

/// The network's cash (180,000 USD) and MXN, with the CNY paid by many clients into one
/// broker account `to` (and, for `spread`, into two accounts each of the next): six
/// credits of 200,000 CNY and two small ones of 60,000 (8,400 USD, under
/// `network-min-leg-share` alone), 184,800 USD in all (+2.7%). No six of them reach the
/// band: only the account's credits taken together match.
fn one_broker_many_clients(spread: bool) -> Vec<Row> {
    let mut rows = network_cash();
    let to = |k: usize| if !spread { "B1" } else { ["B1", "B2", "K3", "K2"][k / 2] };
    let from = ["K1", "K2", "K3", "K1", "K2", "K3", "K1", "K2"];
    for (k, client) in from.into_iter().enumerate() {
        let cny = if k < 6 { 200_000 } else { 60_000 };
        let (src, dst) = if spread && to(k).starts_with('K') { ("K1", to(k)) } else { (client, to(k)) };
        rows.push(wire(&format!("C{k}"), at(k as i64 / 5, 8.0 + k as f64), src, dst, cny, "CNY"));
    }
    rows.extend(network_legs().into_iter().filter(|r| r.5 == "MXN"));
    rows
}

#[test]
fn many_clients_paying_one_broker_account_are_matched_as_its_lot() {
    let (alerts, stats) = run(MirrorConfig::default(), one_broker_many_clients(false), network_accounts(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule_id, NETWORK_RULE_ID);
    assert_eq!(found[0].amount_usd, "180000");
    // all 20 deposits, the 8 CNY credits (more than network-max-legs) and both MXN parts
    assert_eq!(found[0].tx_ids.len(), 20 + 8 + 2, "{:?}", found[0].tx_ids);
    assert_eq!(found[0].details["cny_in_usd"], "184800");
    assert_eq!(stats.network, 1);
    // the same credits spread over four accounts, two each: no one or two accounts' credits
    // match, and no six single credits do
    let (alerts, stats) = run(MirrorConfig::default(), one_broker_many_clients(true), network_accounts(), 1000);
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
    assert_eq!(stats.network, 0);
}

/// Four deposits of 4,500 USD each (a burst new to the account) from `hour` on `day`.
fn burst(acct: &'static str, day: i64, hour: f64, state: &'static str) -> Vec<Row> {
    (0..4).map(|k| cash(&format!("{acct}-{k}"), at(day, hour + 1.5 * k as f64), acct, 4_500, state)).collect()
}

#[test]
fn a_leg_goes_to_the_next_days_network_when_it_lies_closer_to_that_cash() {
    // N1 and N2 (one cohort) take 36,000 USD on day 0, N3 and N4 36,000 on day 1; the only
    // legs come early on day 1: late for day 0's cash (13-19 hours after it), but around
    // day 1's (2-7 hours before it)
    let mut rows: Vec<Row> = [burst("N1", 0, 9.0, "US-CA"), burst("N2", 0, 9.5, "US-TX")].concat();
    rows.extend([burst("N3", 1, 10.0, "US-NY"), burst("N4", 1, 10.5, "US-NY")].concat());
    // 265,000 CNY at 0.14 = 37,100 USD (+3.1%); 640,000 MXN at 0.055 = 35,200 USD (-2.2%)
    rows.push(wire("L1", at(1, 3.0), "K1", "B1", 265_000, "CNY"));
    rows.push(wire("L2", at(1, 8.0), "M1", "R1", 640_000, "MXN"));
    for chunk in [1000, 5] {
        let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), chunk);
        let found = t6(&alerts);
        assert_eq!(found.len(), 1, "{found:#?}");
        let accts = found[0].details["us_cash"]["accounts"].as_array().unwrap().clone();
        assert_eq!(accts, ["N3", "N4"], "{:#}", found[0].details);
        assert!(ids(found[0]).contains(&"L1") && ids(found[0]).contains(&"L2"));
        assert_eq!((stats.network, stats.network_deferred), (1, 1), "{stats:?}");
    }
}

/// `network_cash` and `network_legs` again, `days` later (ids prefixed `again{days}-`).
fn the_event_again(days: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (n, (acct, state)) in
        [("N1", "US-CA"), ("N2", "US-TX"), ("N3", "US-NY"), ("N4", "US-NY")].into_iter().enumerate()
    {
        for (k, usd) in [9_500, 9_200, 8_800, 8_600, 8_900].into_iter().enumerate() {
            let (day, hour) =
                if k < 3 { (days, 9.0 + 1.5 * k as f64) } else { (days + 1, 10.0 + 1.5 * (k - 3) as f64) };
            rows.push(cash(&format!("again{days}-D{n}{k}"), at(day, hour + 0.3 * n as f64), acct, usd, state));
        }
    }
    rows.extend([
        wire(&format!("again{days}-L1"), at(days, 15.0), "K1", "B1", 450_000, "CNY"),
        wire(&format!("again{days}-L2"), at(days + 1, 11.0), "K2", "B1", 400_000, "CNY"),
        wire(&format!("again{days}-L3"), at(days + 1, 13.0), "K3", "B2", 470_000, "CNY"),
        wire(&format!("again{days}-L4"), at(days + 1, 16.0), "M1", "R1", 1_800_000, "MXN"),
        wire(&format!("again{days}-L5"), at(days + 1, 19.0), "M1", "R2", 1_400_000, "MXN"),
    ]);
    rows
}

#[test]
fn the_same_nominees_placing_again_within_two_days_are_one_event_and_one_alert() {
    // the event of `a_network_of_unlinked_nominees_is_one_alert_with_every_leg` (days 0
    // and 1), and the same four nominees placing as much again on days 3 and 4 with their
    // own legs: two matches, one event
    let rows: Vec<Row> = [network_cash(), network_legs(), the_event_again(3)].concat();
    for chunk in [1000, 7] {
        let (alerts, stats) = run(MirrorConfig::default(), rows.clone(), network_accounts(), chunk);
        let found = t6(&alerts);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].rule_id, NETWORK_RULE_ID);
        assert_eq!(found[0].amount_usd, "360000");
        assert_eq!(found[0].tx_ids.len(), 2 * 25, "{:?}", found[0].tx_ids);
        let d = &found[0].details;
        assert_eq!(d["matches"], 2);
        assert_eq!(d["cny_in_usd"], "369600");
        assert_eq!(d["legs"].as_array().unwrap().len(), 10);
        assert_eq!(d["days"][0], "2026-03-01", "{d:#}");
        assert_eq!((stats.network, stats.network_merged), (2, 1), "{stats:?}");
    }
    // the same again after three quiet days: another event
    let rows: Vec<Row> = [network_cash(), network_legs(), the_event_again(5)].concat();
    let (alerts, stats) = run(MirrorConfig::default(), rows, network_accounts(), 1000);
    assert_eq!(t6(&alerts).len(), 2, "{alerts:#?}");
    assert_eq!((stats.network, stats.network_merged), (2, 0), "{stats:?}");
    // and a third time on days 6 and 7: the event's cash would span eight days (twice
    // `network-days` at most), so the third match is an event of its own
    let rows: Vec<Row> = [network_cash(), network_legs(), the_event_again(3), the_event_again(6)].concat();
    let (alerts, stats) = run(MirrorConfig::default(), rows, network_accounts(), 1000);
    let found = t6(&alerts);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!((found[0].details["matches"].clone(), found[1].details["matches"].clone()), (2.into(), 1.into()));
    assert_eq!((stats.network, stats.network_merged), (3, 1), "{stats:?}");
}
