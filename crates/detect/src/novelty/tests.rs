//! The one-off fan detector on hand-made ledgers: relations that recur, a hub that
//! collects one-off payers over months, a shop that many people pay once, and a ledger
//! too short to judge.

use std::sync::Arc;

use super::*;
use mirrorflow_core::tables::{AccountsTable, FxTable};

fn ctx() -> DetectCtx {
    DetectCtx { accounts: Arc::new(AccountsTable::empty()), fx: Arc::new(FxTable::bundled()) }
}

fn day(d: i64) -> i64 {
    1_700_000_000_000_000 + d * DAY_US
}

/// Feeds `(day, src, dst)` rows in time order (ties in the order given); returns every
/// alert, those at the end of input included.
fn run(det: &mut NoveltyDetector, mut rows: Vec<(i64, String, String)>) -> Vec<Alert> {
    rows.sort_by_key(|r| r.0);
    let c = ctx();
    let mut out = Vec::new();
    for (seq, (d, s, t)) in rows.into_iter().enumerate() {
        let id = format!("T{seq:06}");
        let ev = Payment { tx_id: &id, ts: day(d), seq: seq as u64, usd: Some(500_000_000) };
        let (si, di) = (det.intern(&s), det.intern(&t));
        det.push(si, di, ev, &c, &mut out);
    }
    out.extend(det.on_finish(&EventWindow::new(35 * DAY_US), &c).unwrap());
    out
}

/// 300 payers, each paying the same two payees every 30 days for `days` days (payroll,
/// rent): a book whose relations recur.
fn recurring_book(days: i64) -> Vec<(i64, String, String)> {
    let mut rows = Vec::new();
    for p in 0..300 {
        for d in (p % 30..days).step_by(30) {
            rows.push((d, format!("P{p}"), format!("R{}", p % 40)));
            rows.push((d, format!("P{p}"), format!("L{}", p % 25)));
        }
    }
    rows
}

/// `n` payers who each pay `hub` once, 25 days apart, from day `start`.
fn one_off_payers(hub: &str, n: usize, start: i64) -> Vec<(i64, String, String)> {
    (0..n).map(|i| (start + 25 * i as i64, format!("X{hub}{i}"), hub.to_string())).collect()
}

fn rule_alerts<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule_id == rule).collect()
}

/// `recurring_book(days)`, a hub that `P1` pays every 30 days (its own recurring
/// relation), and six one-off payers of the hub from `one_offs_from`.
fn hub_book(days: i64, hub: &str, one_offs_from: i64) -> Vec<(i64, String, String)> {
    let mut rows = recurring_book(days);
    for d in (0..days).step_by(30) {
        rows.push((d, "P1".into(), hub.into()));
    }
    rows.extend(one_off_payers(hub, 6, one_offs_from));
    rows
}

#[test]
fn a_hub_collecting_one_off_payers_over_months_is_one_fan_in_alert() {
    let rows = hub_book(540, "HUB", 150);
    let mut det = NoveltyDetector::new(NoveltyConfig::default());
    let alerts = run(&mut det, rows);
    let fans = rule_alerts(&alerts, FAN_IN_RULE);
    assert_eq!(fans.len(), 1, "{:#?}", alerts.iter().map(|a| &a.narrative).collect::<Vec<_>>());
    let a = fans[0];
    assert_eq!(a.subjects[0], "HUB");
    assert_eq!(a.tx_ids.len(), 6, "the six one-off payments and nothing else");
    assert_eq!(a.details["one_off_counterparties"], 6);
    assert!(a.narrative.contains("6 different counterparties"), "{}", a.narrative);
    // each payer paid only once: nobody else is a fan-out
    assert!(rule_alerts(&alerts, FAN_OUT_RULE).is_empty());
    // nothing else in the recurring book alerted
    assert_eq!(alerts.len(), 1);
}

#[test]
fn the_same_hub_paid_again_by_each_payer_is_not_a_fan() {
    let mut rows = recurring_book(540);
    let mut payers = one_off_payers("HUB", 6, 150);
    // each payer pays again 40 days later: a relation that recurs
    let again: Vec<_> = payers.iter().map(|(d, s, t)| (d + 40, s.clone(), t.clone())).collect();
    payers.extend(again);
    rows.extend(payers);
    let alerts = run(&mut NoveltyDetector::new(NoveltyConfig::default()), rows);
    assert!(alerts.is_empty(), "{:#?}", alerts.iter().map(|a| &a.narrative).collect::<Vec<_>>());
}

#[test]
fn a_shop_that_many_people_pay_once_is_ordinary_for_what_it_is() {
    let mut rows = recurring_book(540);
    // a shop: a new one-off customer every day from the start
    rows.extend((0..540).map(|d| (d, format!("C{d}"), "SHOP".to_string())));
    let mut det = NoveltyDetector::new(NoveltyConfig::default());
    let alerts = run(&mut det, rows);
    assert!(
        rule_alerts(&alerts, FAN_IN_RULE).iter().all(|a| a.subjects[0] != "SHOP"),
        "{:#?}",
        alerts.iter().map(|a| &a.narrative).collect::<Vec<_>>()
    );
}

#[test]
fn fewer_one_offs_than_the_minimum_are_not_a_fan() {
    let mut rows = recurring_book(540);
    rows.extend(one_off_payers("HUB", 3, 150));
    assert!(run(&mut NoveltyDetector::new(NoveltyConfig::default()), rows).is_empty());
}

#[test]
fn a_ledger_shorter_than_the_horizon_is_not_judged_and_the_note_says_so() {
    let mut rows = recurring_book(60);
    rows.extend(one_off_payers("HUB", 2, 0));
    let mut det = NoveltyDetector::new(NoveltyConfig::default());
    assert!(run(&mut det, rows).is_empty());
    let notes = det.notes();
    assert_eq!(notes[0].level, "warn");
    assert!(notes[0].message.contains("not more than novelty.recurrence-horizon = 120 days"), "{}", notes[0].message);
}

#[test]
fn a_checkpoint_in_the_middle_gives_the_same_alerts() {
    let mut rows = recurring_book(400);
    rows.extend(one_off_payers("HUB", 6, 100));
    rows.sort_by_key(|r| r.0);
    let whole = run(&mut NoveltyDetector::new(NoveltyConfig::default()), rows.clone());
    assert_eq!(whole.len(), 1);

    // first half, save, load into a new detector, second half (tx ids as in `run`)
    let c = ctx();
    let mid = rows.len() / 2;
    let mut first = NoveltyDetector::new(NoveltyConfig::default());
    let mut out = Vec::new();
    let feed = |det: &mut NoveltyDetector, from: usize, to: usize, out: &mut Vec<Alert>| {
        for (seq, (d, s, t)) in rows.iter().enumerate().take(to).skip(from) {
            let id = format!("T{seq:06}");
            let ev = Payment { tx_id: &id, ts: day(*d), seq: seq as u64, usd: Some(500_000_000) };
            let (si, di) = (det.intern(s), det.intern(t));
            det.push(si, di, ev, &c, out);
        }
    };
    feed(&mut first, 0, mid, &mut out);
    let mut saved = Vec::new();
    assert!(first.save_state(&mut saved).unwrap(), "novelty has state");
    let saved = RawValue::from_string(String::from_utf8(saved).unwrap()).unwrap();
    let mut second = NoveltyDetector::new(NoveltyConfig::default());
    second.load_state(&saved).unwrap();
    feed(&mut second, mid, rows.len(), &mut out);
    out.extend(second.on_finish(&EventWindow::new(35 * DAY_US), &c).unwrap());
    // the whole alert, evidence legs and narrative included: the one-offs come back from
    // the checkpoint's own list
    assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::to_value(&whole).unwrap());
}

#[test]
fn bad_settings_are_named() {
    let cfg = NoveltyConfig { min_counterparties: 1, sigmas: f64::NAN, ..NoveltyConfig::default() };
    let p = cfg.problems();
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].contains("min-counterparties"));
}

#[test]
fn a_side_gone_quiet_gives_back_its_lists_and_the_alerts_do_not_change() {
    // a hub with a burst of one-off payers early on, then silent for the rest of the run
    let mut rows = hub_book(1200, "GONE", 30);
    rows.retain(|r| r.2 != "GONE" || r.0 < 200);
    let mut det = NoveltyDetector::new(NoveltyConfig::default());
    let alerts = run(&mut det, rows.clone());
    let fans = rule_alerts(&alerts, FAN_IN_RULE);
    assert_eq!(fans.len(), 1, "the burst is still judged and alerted");
    assert_eq!(fans[0].subjects[0], "GONE");
    let gone = det.st.index["GONE"];
    let prof = &det.st.profiles[&(gone, Side::In)];
    assert!(prof.firsts.is_empty() && prof.open.is_empty(), "a thousand days on, nothing of it can be read");
    assert_eq!((prof.firsts.capacity(), prof.open.capacity()), (0, 0), "its buffers are given back");
    assert_eq!(prof.total_firsts, 7, "its all-time counts stay");
    assert!(det.st.one_offs.held.is_empty(), "no side or episode reads its one-offs: they are dropped, once each");
    // the sweep drops only what no confirmation would read: without the sweeps (a run
    // that never reaches a new day; this book's pairs all recur within the horizon), the
    // same rows give the same alerts
    let mut fresh = NoveltyDetector::new(NoveltyConfig::default());
    fresh.st.swept_day = i64::MAX;
    let unswept = run(&mut fresh, rows);
    let ids = |a: &[Alert]| a.iter().map(|a| a.alert_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&alerts), ids(&unswept));
    assert!(!fresh.st.profiles[&(gone, Side::In)].firsts.is_empty(), "unswept, the quiet side keeps its list");
}
