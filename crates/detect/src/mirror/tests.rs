//! The mirror stage on hand-built ledgers: the one-to-one match, network-level matches of
//! nominees that nothing in KYC links, and the look-alikes that must stay silent.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};

use super::*;
use mirrorflow_core::enrich::Enricher;
use mirrorflow_core::tables::{AccountsTable, FxTable};
use mirrorflow_core::window::EventWindow;

/// One account: id, customer id, country, region, kind, opened (days since 1970), occupation.
struct Acct(&'static str, &'static str, &'static str, &'static str, &'static str, Option<i32>, &'static str);

fn accounts(rows: &[Acct]) -> AccountsTable {
    let text = |f: &dyn Fn(&Acct) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(|r| Some(f(r)).filter(|v| !v.is_empty())).collect::<Vec<_>>()))
    };
    let schema = mirrorflow_core::schema::accounts_schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            acct::ACCOUNT_ID => text(&|r| r.0),
            acct::CUSTOMER_ID => text(&|r| r.1),
            acct::COUNTRY => text(&|r| r.2),
            acct::REGION => text(&|r| r.3),
            acct::KIND => text(&|r| r.4),
            acct::OPENED_AT => Arc::new(Date32Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())) as ArrayRef,
            acct::OCCUPATION => text(&|r| r.6),
            _ => arrow::array::new_null_array(f.data_type(), rows.len()),
        })
        .collect();
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let index = rows.iter().enumerate().map(|(i, r)| (r.0.to_string(), i)).collect();
    AccountsTable { batch, index }
}

/// 2026-03-02T00:00:00Z in µs, and a day's offset from it in hours.
const T0: i64 = 1_772_409_600_000_000;
fn at(day: i64, hour: f64) -> i64 {
    T0 + day * DAY + (hour * HOUR as f64) as i64
}

/// One transaction: id, ts, src, dst, amount (text), currency, channel, location.
type Row = (String, i64, &'static str, &'static str, String, &'static str, &'static str, &'static str);

fn cash(id: &str, ts: i64, dst: &'static str, usd: u32, state: &'static str) -> Row {
    (id.into(), ts, "", dst, usd.to_string(), "USD", "cash_deposit", state)
}

fn wire(id: &str, ts: i64, src: &'static str, dst: &'static str, amount: u32, cur: &'static str) -> Row {
    (id.into(), ts, src, dst, amount.to_string(), cur, "wire", "")
}

/// The rows as enriched batches of `chunk` rows (time order), as the pipeline hands them.
fn batches(mut rows: Vec<Row>, accts: &Arc<AccountsTable>, fx: &Arc<FxTable>, chunk: usize) -> Vec<RecordBatch> {
    rows.sort_by_key(|r| r.1);
    let mut enricher = Enricher::new(fx.clone(), accts.clone());
    let mut out = Vec::new();
    for (c, part) in rows.chunks(chunk).enumerate() {
        let s = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
            Arc::new(StringArray::from(part.iter().map(|r| Some(f(r)).filter(|v| !v.is_empty())).collect::<Vec<_>>()))
        };
        let schema = mirrorflow_core::schema::transactions_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                tx::TX_ID => s(&|r| r.0.as_str()),
                tx::TS => Arc::new(
                    TimestampMicrosecondArray::from(part.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC"),
                ) as ArrayRef,
                tx::SRC_ACCOUNT => s(&|r| r.2),
                tx::DST_ACCOUNT => s(&|r| r.3),
                tx::AMOUNT => Arc::new(
                    Decimal128Array::from(
                        part.iter()
                            .map(|r| mirrorflow_core::money::parse_decimal(r.4.as_bytes(), 18).unwrap())
                            .collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::AMOUNT_SCALE)
                    .unwrap(),
                ) as ArrayRef,
                tx::CURRENCY => s(&|r| r.5),
                tx::CHANNEL => s(&|r| r.6),
                tx::LOCATION => s(&|r| r.7),
                tx::SEQ => {
                    Arc::new(UInt64Array::from((0..part.len()).map(|i| (c * chunk + i) as u64).collect::<Vec<_>>()))
                        as ArrayRef
                }
                _ => arrow::array::new_null_array(f.data_type(), part.len()),
            })
            .collect();
        let b = RecordBatch::try_new(schema, columns).unwrap();
        out.push(enricher.enrich(&b, "test").unwrap().0);
    }
    out
}

/// Runs the stage over the rows (in batches of `chunk`) and returns its alerts and stats.
fn run(cfg: MirrorConfig, rows: Vec<Row>, accts: AccountsTable, chunk: usize) -> (Vec<Alert>, MirrorStats) {
    let accts = Arc::new(accts);
    let fx = Arc::new(FxTable::bundled());
    let ctx = DetectCtx { accounts: accts.clone(), fx: fx.clone() };
    let window = EventWindow::new(30 * DAY);
    let mut d = MirrorDetector::new(cfg);
    let mut out = Vec::new();
    for b in batches(rows, &accts, &fx, chunk) {
        out.extend(d.on_batch(&b, &window, &ctx).unwrap());
    }
    out.extend(d.on_finish(&window, &ctx).unwrap());
    (out, d.stats)
}

const OPENED_RECENTLY: Option<i32> = Some(20_480); // 2026-01-27

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

fn t6(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.typology == "T6").collect()
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

#[test]
fn a_search_stopped_by_its_budget_is_counted() {
    let rows: Vec<Row> = network_cash().into_iter().chain(network_legs()).collect();
    let mut cfg = MirrorConfig::default();
    cfg.network.as_mut().unwrap().search_budget = 3;
    let (alerts, stats) = run(cfg, rows, network_accounts(), 1000);
    assert!(stats.network_bound_hits >= 1, "{stats:?}");
    assert!(t6(&alerts).is_empty(), "{alerts:#?}");
}

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
