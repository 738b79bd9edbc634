use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};

use super::*;
use mirrorflow_core::money::parse_decimal;
use mirrorflow_core::tables::{AccountIndex, AccountsTable, FxTable};

const H: i64 = HOUR_US;
const DAY: i64 = 24 * H;
/// 2026-01-05T00:00:00Z
const T0: i64 = 1_767_571_200_000_000;

/// One enriched row, before `seq` is given.
#[derive(Debug, Clone)]
struct T {
    id: String,
    ts: i64,
    src: Option<String>,
    dst: String,
    /// Decimal text.
    amount: String,
    cur: &'static str,
    channel: &'static str,
    /// Decimal text.
    usd: Option<String>,
    src_kind: Option<&'static str>,
    dst_kind: Option<&'static str>,
    location: Option<&'static str>,
}

/// A crypto transfer of `micro` millionths of a coin (USD 1:1, like USDT).
fn coin(id: &str, ts: i64, src: &str, dst: &str, micro: i128) -> T {
    let text = format_decimal(micro, 6);
    T {
        id: id.into(),
        ts,
        src: Some(src.into()),
        dst: dst.into(),
        amount: text.clone(),
        cur: "USDT",
        channel: "crypto",
        usd: Some(text),
        src_kind: kind_of(src),
        dst_kind: kind_of(dst),
        location: None,
    }
}

/// Hot wallets and exchange bank accounts are `hot*` / `xbank*`; people `acct*`; wallets
/// are unknown to the accounts table (null kind), except `kw*` (kind `wallet`).
fn kind_of(a: &str) -> Option<&'static str> {
    if a.starts_with("hot") || a.starts_with("xbank") {
        Some("exchange")
    } else if a.starts_with("acct") {
        Some("personal")
    } else if a.starts_with("kw") {
        Some("wallet")
    } else {
        None
    }
}

/// A USD transfer (`dollars`, exact).
fn usd(id: &str, ts: i64, src: Option<&str>, dst: &str, dollars: i128, channel: &'static str) -> T {
    let text = dollars.to_string();
    T {
        id: id.into(),
        ts,
        src: src.map(str::to_string),
        dst: dst.into(),
        amount: text.clone(),
        cur: "USD",
        channel,
        usd: Some(text),
        src_kind: src.and_then(kind_of),
        dst_kind: kind_of(dst),
        location: (channel == "cash_deposit").then_some("TX"),
    }
}

fn cash(id: &str, ts: i64, dst: &str, dollars: i128) -> T {
    usd(id, ts, None, dst, dollars, "cash_deposit")
}

/// How each hop of a test chain behaves.
#[derive(Clone, Copy)]
struct HopSpec {
    /// Share of the balance forwarded, in ppm.
    keep_ppm: i128,
    /// Input to first output.
    gap: i64,
}

const GOOD: HopSpec = HopSpec { keep_ppm: 950_000, gap: 3 * H };

/// A peel chain `tag`: hot wallet -> w0 (10,000 coins at `start`), then one hop per spec:
/// `w{i}` forwards to `w{i+1}` and peels to `p{i}` a minute later.
fn chain(tag: &str, start: i64, hops: &[HopSpec]) -> Vec<T> {
    let w = |i: usize| format!("{tag}w{i}");
    let mut bal: i128 = 10_000_000_000;
    let mut out = vec![coin(&format!("{tag}in"), start, "hot1", &w(0), bal)];
    let mut ts = start;
    for (i, s) in hops.iter().enumerate() {
        ts += s.gap;
        let big = bal * s.keep_ppm / 1_000_000;
        let small = bal - big;
        out.push(coin(&format!("{tag}f{i}"), ts, &w(i), &w(i + 1), big));
        out.push(coin(&format!("{tag}p{i}"), ts + 60_000_000, &w(i), &format!("{tag}peel{i}"), small));
        bal = big;
    }
    out
}

fn good(n: usize) -> Vec<HopSpec> {
    vec![GOOD; n]
}

/// Sorts by time (stably: ties keep their order), numbers the rows, cuts them into
/// enriched batches of `size` rows.
fn batches(rows: &[T], size: usize) -> Vec<RecordBatch> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| r.ts);
    rows.chunks(size.max(1)).enumerate().map(|(k, c)| batch(c, (k * size.max(1)) as u64)).collect()
}

fn batch(rows: &[T], first_seq: u64) -> RecordBatch {
    let s = |f: &dyn Fn(&T) -> Option<String>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let dec = |f: &dyn Fn(&T) -> Option<i128>, scale: i8| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(f)
                .collect::<Decimal128Array>()
                .with_precision_and_scale(schema::DECIMAL_PRECISION, scale)
                .unwrap(),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|r| Some(r.id.clone())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>()).with_timezone("UTC")),
        s(&|r| r.src.clone()),
        s(&|r| Some(r.dst.clone())),
        dec(&|r| Some(parse_decimal(r.amount.as_bytes(), 18).unwrap()), schema::AMOUNT_SCALE),
        s(&|r| Some(r.cur.to_string())),
        s(&|r| Some(r.channel.to_string())),
        s(&|r| r.location.map(str::to_string)),
        s(&|_| None),
        Arc::new(UInt64Array::from((0..rows.len() as u64).map(|i| first_seq + i).collect::<Vec<_>>())),
        Arc::new(BooleanArray::from(vec![None; rows.len()])),
        s(&|_| None),
        dec(&|r| r.usd.as_ref().map(|u| parse_decimal(u.as_bytes(), 6).unwrap()), schema::USD_SCALE),
        s(&|r| r.src_kind.map(str::to_string)),
        s(&|_| None),
        s(&|_| None),
        s(&|r| r.dst_kind.map(str::to_string)),
        s(&|_| None),
        s(&|_| None),
    ];
    RecordBatch::try_new(schema::enriched_schema(), cols).unwrap()
}

fn ctx() -> DetectCtx {
    DetectCtx { accounts: Arc::new(AccountsTable::empty()), fx: Arc::new(FxTable::bundled()) }
}

fn window() -> EventWindow {
    EventWindow::new(30 * DAY)
}

/// Every alert of `rows` fed in batches of `size`, then the end of input.
fn run_with(rows: &[T], size: usize, cfg: PeelConfig, ctx: &DetectCtx) -> Vec<Alert> {
    let mut d = PeelDetector::new(cfg);
    let w = window();
    let mut out = Vec::new();
    for b in batches(rows, size) {
        out.extend(d.on_batch(&b, &w, ctx).unwrap());
    }
    out.extend(d.on_finish(&w, ctx).unwrap());
    out
}

fn run(rows: &[T]) -> Vec<Alert> {
    run_with(rows, usize::MAX, PeelConfig::default(), &ctx())
}

fn of_rule<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule_id == rule).collect()
}

fn ids(a: &Alert) -> Vec<&str> {
    a.tx_ids.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------
// Peel chains.

#[test]
fn chains_of_three_and_five_hops_alert_once_with_every_hop() {
    let mut rows = chain("a", T0, &good(3));
    rows.extend(chain("b", T0 + 2 * DAY, &good(5)));
    let alerts = run(&rows);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let (a, b) = (&alerts[0], &alerts[1]);
    assert_eq!(ids(a), ["ain", "af0", "ap0", "af1", "ap1", "af2", "ap2"]);
    assert_eq!(b.tx_ids.len(), 11);
    assert_eq!(b.tx_ids[0], "bin");
    for a in [a, b] {
        assert_eq!(a.rule_id, PEEL_RULE_ID);
        assert_eq!(a.typology, "T11");
        assert_eq!(a.alert_id, alert_id(PEEL_RULE_ID, RULE_VERSION, &a.tx_ids));
        assert_eq!(a.amount_usd, "10000");
        assert_eq!(a.first_ts, a.details["hops"][0]["input"]["ts"].as_str().unwrap());
        assert_eq!(a.last_ts, a.details["hops"][a.tx_ids.len() / 2 - 1]["peel"]["ts"].as_str().unwrap());
    }
    assert_eq!(a.subjects, ["aw0", "aw1", "aw2", "aw3"]);
    assert_eq!(a.details["hop_count"], 3);
    assert_eq!(a.details["hops"][1]["split_share"], "0.9500");
    assert_eq!(a.details["hops"][1]["forward"]["amount"], "9025");
    assert_eq!(a.details["hops"][1]["peel"]["to"], "apeel1");
    assert_eq!(a.details["end_amount"], "8573.75");
    assert!(a.narrative.contains("aw0 -> aw1 -> aw2 -> aw3"), "{}", a.narrative);
    assert!(b.score > a.score);
}

#[test]
fn a_chain_is_alerted_when_it_can_no_longer_grow() {
    // the 3-hop chain's tail is checked 2 x 24 h after its last forward; a later row
    // triggers it, not the end of input
    let mut rows = chain("a", T0, &good(3));
    rows.push(usd("late", T0 + 4 * DAY, Some("acct1"), "acct2", 5, "ach"));
    let mut d = PeelDetector::new(PeelConfig::default());
    let (w, c) = (window(), ctx());
    let mut b = batches(&rows, 1);
    let last = b.pop().unwrap();
    let mut early = Vec::new();
    for x in &b {
        early.extend(d.on_batch(x, &w, &c).unwrap());
    }
    assert!(early.is_empty());
    let at_late_row = d.on_batch(&last, &w, &c).unwrap();
    assert_eq!(at_late_row.len(), 1);
    assert!(d.on_finish(&w, &c).unwrap().is_empty());
    // a 4th hop arriving within the gap extends the chain instead: one alert, 4 hops
    let alerts = run(&chain("a", T0, &[GOOD, GOOD, GOOD, HopSpec { gap: 20 * H, ..GOOD }]));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].details["hop_count"], 4);
}

#[test]
fn near_misses_do_not_alert() {
    // two hops only
    assert!(run(&chain("a", T0, &good(2))).is_empty());
    // a hop splitting 85:15 breaks a chain of 3 (and of 5 into 2 + 2)
    let bad = HopSpec { keep_ppm: 850_000, ..GOOD };
    assert!(run(&chain("a", T0, &[GOOD, bad, GOOD])).is_empty());
    assert!(run(&chain("a", T0, &[GOOD, GOOD, bad, GOOD, GOOD])).is_empty());
    // 99.5 : 0.5
    let dust = HopSpec { keep_ppm: 995_000, ..GOOD };
    assert!(run(&chain("a", T0, &[GOOD, dust, GOOD])).is_empty());
    // a hop whose outputs come 25 h after its input
    let slow = HopSpec { gap: 25 * H, ..GOOD };
    assert!(run(&chain("a", T0, &[GOOD, slow, GOOD])).is_empty());
    // the middle wallet of a 5-hop chain sends a third output (2 h later, within the gap)
    let mut rows = chain("a", T0, &good(5));
    let t = rows.iter().find(|r| r.id == "ap2").unwrap().ts;
    rows.push(coin("a3rd", t + 2 * H, "aw2", "elsewhere", 1_000_000));
    assert!(run(&rows).is_empty());
    // the middle wallet receives a second input before it peels
    let mut rows = chain("a", T0, &good(3));
    let t = rows.iter().find(|r| r.id == "af0").unwrap().ts;
    rows.push(coin("a2nd", t + H, "someone", "aw1", 1_000_000));
    assert!(run(&rows).is_empty());
    // both outputs to the same address
    let mut rows = chain("a", T0, &good(3));
    rows.iter_mut().find(|r| r.id == "ap1").unwrap().dst = "aw2".into();
    assert!(run(&rows).is_empty());
    // a hop that sends out three times what it received
    let mut rows = chain("a", T0, &good(3));
    rows.iter_mut().find(|r| r.id == "ain").unwrap().amount = "3000".into();
    assert!(run(&rows).is_empty());
}

#[test]
fn split_bounds_are_inclusive_and_compare_amounts_not_usd() {
    let edge = [HopSpec { keep_ppm: 900_000, ..GOOD }, HopSpec { keep_ppm: 990_000, ..GOOD }, GOOD];
    assert_eq!(run(&chain("a", T0, &edge)).len(), 1);
    // USD equivalents that say 50:50 do not matter: amounts do
    let mut rows = chain("a", T0, &good(3));
    for r in &mut rows {
        r.usd = Some("1".into());
    }
    assert_eq!(run(&rows).len(), 1);
    // outputs in another coin than the input are not a hop
    let mut rows = chain("a", T0, &good(3));
    for r in rows.iter_mut().filter(|r| r.id == "af1" || r.id == "ap1") {
        r.cur = "ETH";
    }
    assert!(run(&rows).is_empty());
}

#[test]
fn exchange_hot_wallets_are_never_hops() {
    // `hot2` (kind exchange) behaves like a hop between w0 and w2: not a chain of 3
    let mut rows = chain("a", T0, &good(3));
    for r in &mut rows {
        if r.dst == "aw1" {
            r.dst = "hot2".into();
            r.dst_kind = Some("exchange");
        }
        if r.src.as_deref() == Some("aw1") {
            r.src = Some("hot2".into());
            r.src_kind = Some("exchange");
        }
    }
    assert!(run(&rows).is_empty());
    // wallets the accounts table knows as `wallet` are judged like unknown ones
    let mut rows = chain("kw", T0, &good(3));
    for r in &mut rows {
        r.src_kind = r.src.as_deref().and_then(kind_of);
        r.dst_kind = kind_of(&r.dst);
    }
    assert_eq!(run(&rows).len(), 1);
}

#[test]
fn ties_in_time_follow_arrival_order() {
    // every transfer of the chain at the same instant: hops still chain in seq order
    let rows: Vec<T> = chain("a", T0, &good(3))
        .into_iter()
        .map(|mut r| {
            r.ts = T0;
            r
        })
        .collect();
    let alerts = run(&rows);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].tx_ids.len(), 7);
}

// ---------------------------------------------------------------------------------------
// On-ramps.

#[test]
fn cash_then_exchange_funding_is_an_on_ramp() {
    let rows = vec![
        cash("d1", T0, "acct1", 4_000),
        cash("d2", T0 + 3 * H, "acct1", 5_200),
        usd("f", T0 + 30 * H, Some("acct1"), "xbank1", 8_900, "ach"),
    ];
    let alerts = run(&rows);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.rule_id, RAMP_RULE_ID);
    assert_eq!(a.typology, "T11");
    assert_eq!(ids(a), ["d1", "d2", "f"]);
    assert_eq!(a.subjects, ["acct1", "xbank1"]);
    assert_eq!(a.amount_usd, "9200");
    assert_eq!(a.details["share_of_cash"], "0.9674");
    assert_eq!(a.details["hours_after_last_deposit"], 27.0);
    assert_eq!(a.details["deposits"][1]["location"], "TX");
    assert!(a.narrative.contains("USD 9200 in cash in 2 deposits"), "{}", a.narrative);
    // the same cash backs one alert only
    let mut again = rows.clone();
    again.push(usd("f2", T0 + 31 * H, Some("acct1"), "xbank1", 8_900, "ach"));
    assert_eq!(run(&again).len(), 1);
}

#[test]
fn on_ramp_near_misses() {
    // funding 49 h after the cash
    let rows = vec![cash("d1", T0, "acct1", 6_000), usd("f", T0 + 49 * H, Some("acct1"), "xbank1", 5_900, "ach")];
    assert!(run(&rows).is_empty());
    // ... but 48 h is in
    let rows = vec![cash("d1", T0, "acct1", 6_000), usd("f", T0 + 48 * H, Some("acct1"), "xbank1", 5_900, "ach")];
    assert_eq!(run(&rows).len(), 1);
    // funding from an account that had no cash (salary), while another account had
    let rows = vec![cash("d1", T0, "acct2", 6_000), usd("f", T0 + 5 * H, Some("acct1"), "xbank1", 5_900, "ach")];
    assert!(run(&rows).is_empty());
    // funding well below the cash (75%)
    let rows = vec![cash("d1", T0, "acct1", 8_000), usd("f", T0 + 5 * H, Some("acct1"), "xbank1", 6_000, "ach")];
    assert!(run(&rows).is_empty());
    // funding far beyond the cash (mostly from elsewhere)
    let rows = vec![cash("d1", T0, "acct1", 4_000), usd("f", T0 + 5 * H, Some("acct1"), "xbank1", 20_000, "ach")];
    assert!(run(&rows).is_empty());
    // a retail buyer's small cash deposit and same-day purchase
    let rows = vec![cash("d1", T0, "acct1", 2_400), usd("f", T0 + 3 * H, Some("acct1"), "xbank1", 2_300, "ach")];
    assert!(run(&rows).is_empty());
    // the funding goes to a person, not an exchange; or coins go to a hot wallet
    let rows = vec![cash("d1", T0, "acct1", 6_000), usd("f", T0 + 5 * H, Some("acct1"), "acct9", 5_900, "ach")];
    assert!(run(&rows).is_empty());
    let mut sell = usd("f", T0 + 5 * H, Some("acct1"), "hot1", 5_900, "crypto");
    sell.cur = "USDT";
    assert!(run(&[cash("d1", T0, "acct1", 6_000), sell]).is_empty());
}

#[test]
fn cash_already_paid_to_an_exchange_backs_no_later_funding() {
    // a retail buyer: two small cash deposits, each spent on a purchase the same day, then
    // a purchase from salary the next day that happens to match the day's cash
    let rows = vec![
        cash("d1", T0 + 14 * H, "acct1", 1_683),
        usd("b1", T0 + 16 * H, Some("acct1"), "xbank1", 1_500, "ach"),
        cash("d2", T0 + 15 * H, "acct1", 1_427),
        usd("b2", T0 + 19 * H, Some("acct1"), "xbank1", 1_300, "ach"),
        usd("b3", T0 + 43 * H, Some("acct1"), "xbank1", 2_990, "ach"),
    ];
    assert!(run(&rows).is_empty());
    // a small test purchase first does not hide the on-ramp that follows
    let rows = vec![
        cash("d1", T0, "acct1", 9_000),
        usd("b1", T0 + 2 * H, Some("acct1"), "xbank1", 100, "ach"),
        usd("b2", T0 + 20 * H, Some("acct1"), "xbank1", 8_800, "wire"),
    ];
    let alerts = run(&rows);
    assert_eq!(alerts.len(), 1);
    assert_eq!(ids(&alerts[0]), ["d1", "b2"]);
    assert_eq!(alerts[0].details["cash_usd"], "8900");
    assert_eq!(alerts[0].details["cash_deposited_usd"], "9000");
    assert!(alerts[0].narrative.contains("USD 8900 of it not yet paid"), "{}", alerts[0].narrative);
}

// ---------------------------------------------------------------------------------------
// Stream properties.

/// Chains, near misses, on-ramps and look-alikes, with crypto noise between wallets.
fn mixed() -> Vec<T> {
    let mut rows = Vec::new();
    rows.extend(chain("a", T0, &good(3)));
    rows.extend(chain("b", T0 + 5 * H, &good(5)));
    rows.extend(chain("c", T0 + DAY, &good(2)));
    rows.extend(chain("d", T0 + 2 * DAY, &[GOOD, HopSpec { keep_ppm: 800_000, ..GOOD }, GOOD, GOOD]));
    rows.extend(chain("e", T0 + 20 * DAY, &[GOOD, HopSpec { gap: 23 * H, ..GOOD }, GOOD, GOOD]));
    rows.extend(chain("g", T0 + 40 * DAY, &good(3)));
    for k in 0..6i64 {
        let a = format!("acct{k}");
        let t = T0 + k * 7 * DAY + 5 * H;
        rows.push(cash(&format!("rd{k}"), t, &a, 3_000 + 1_000 * k as i128));
        rows.push(usd(&format!("rf{k}"), t + (10 + 9 * k) * H, Some(&a), "xbank1", 2_950 + 1_000 * k as i128, "ach"));
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for k in 0..400 {
        let t = T0 + (next() % (45 * DAY as u64)) as i64;
        let (s, d) = (format!("n{}", next() % 25), format!("n{}", next() % 25));
        if s != d {
            rows.push(coin(&format!("x{k}"), t, &s, &d, (next() % 5_000_000_000) as i128 + 1));
        }
        if k % 4 == 0 {
            rows.push(coin(&format!("h{k}"), t, "hot1", &d, (next() % 5_000_000_000) as i128 + 1));
        }
    }
    rows
}

#[test]
fn the_mixed_ledger_gives_the_expected_alerts() {
    let alerts = run(&mixed());
    let peel: Vec<Vec<&str>> = of_rule(&alerts, PEEL_RULE_ID).iter().map(|a| ids(a)).collect();
    assert!(peel.iter().any(|c| c.len() == 7 && c[0] == "ain"), "{peel:?}");
    assert!(peel.iter().any(|c| c.len() == 11 && c[0] == "bin"), "{peel:?}");
    assert!(peel.iter().any(|c| c.len() == 9 && c[0] == "ein"), "{peel:?}");
    assert!(peel.iter().any(|c| c.len() == 7 && c[0] == "gin"), "{peel:?}");
    assert!(!peel.iter().flatten().any(|t| t.starts_with('c') || t.starts_with('d')), "{peel:?}");
    // on-ramps: k = 1..5 are within 48 h (k = 5: 55 h is not)
    let ramps: Vec<&str> = of_rule(&alerts, RAMP_RULE_ID).iter().map(|a| a.tx_ids[1].as_str()).collect();
    assert_eq!(ramps, ["rf0", "rf1", "rf2", "rf3", "rf4"]);
}

#[test]
fn alerts_do_not_depend_on_batching() {
    let rows = mixed();
    let one = run_with(&rows, usize::MAX, PeelConfig::default(), &ctx());
    assert!(!one.is_empty());
    for size in [1, 3, 64] {
        assert_eq!(run_with(&rows, size, PeelConfig::default(), &ctx()), one, "batches of {size}");
    }
}

#[test]
fn a_checkpoint_halfway_gives_the_alerts_of_one_run() {
    let rows = mixed();
    let (w, c) = (window(), ctx());
    let one = run(&rows);
    let all = batches(&rows, 7);
    for cut in [1, all.len() / 3, all.len() / 2, all.len() - 1] {
        let mut d = PeelDetector::new(PeelConfig::default());
        let mut got = Vec::new();
        for b in &all[..cut] {
            got.extend(d.on_batch(b, &w, &c).unwrap());
        }
        // through text, as a checkpoint file carries it
        let mut saved = Vec::new();
        assert!(d.save_state(&mut saved).unwrap(), "peel has state");
        let mut d = PeelDetector::new(PeelConfig::default());
        d.load_state(&RawValue::from_string(String::from_utf8(saved).unwrap()).unwrap()).unwrap();
        for b in &all[cut..] {
            got.extend(d.on_batch(b, &w, &c).unwrap());
        }
        got.extend(d.on_finish(&w, &c).unwrap());
        assert_eq!(got, one, "cut after batch {cut}");
    }
    // a state that is not the detector's is refused
    let wrong = serde_json::value::to_raw_value(&serde_json::json!({"cands": 3})).unwrap();
    assert!(PeelDetector::new(PeelConfig::default()).load_state(&wrong).is_err());
}

#[test]
fn state_follows_the_window() {
    // 200 days of 3-hop chains and on-ramps: hops stay for the window, deposits for 48 h
    let mut rows = Vec::new();
    for k in 0..200i64 {
        rows.extend(chain(&format!("z{k}_"), T0 + k * DAY, &good(3)));
        rows.push(cash(&format!("c{k}"), T0 + k * DAY, &format!("acct{k}"), 100));
    }
    let mut d = PeelDetector::new(PeelConfig::default());
    let (w, c) = (window(), ctx());
    let mut n = 0;
    for b in batches(&rows, 50) {
        n += d.on_batch(&b, &w, &c).unwrap().len();
    }
    assert!(d.st.hops.len() <= 3 * 32, "{} hops kept", d.st.hops.len());
    assert!(d.st.cands.len() <= 20, "{} candidates kept", d.st.cands.len());
    assert!(d.st.deposits.len() <= 3, "{} deposit queues kept", d.st.deposits.len());
    assert!(d.st.timers.len() <= 30);
    n += d.on_finish(&w, &c).unwrap().len();
    assert_eq!(n, 200);
}

#[test]
fn alerts_carry_kyc_context_when_the_accounts_table_has_it() {
    let accounts = test_accounts(&[
        ("acct1", Some("C1"), Some("US"), None),
        ("xbank1", Some("X"), Some("US"), Some("Kestrel Exchange")),
        ("hot1", Some("X"), Some("US"), Some("Kestrel Exchange")),
        ("apeel1", None, Some("SC"), None),
    ]);
    let c = DetectCtx { accounts: Arc::new(accounts), fx: Arc::new(FxTable::bundled()) };
    let rows = vec![cash("d1", T0, "acct1", 6_000), usd("f", T0 + 5 * H, Some("acct1"), "xbank1", 5_900, "wire")];
    let a = &run_with(&rows, 1, PeelConfig::default(), &c)[0];
    assert_eq!(a.subjects, ["acct1", "xbank1", "C1", "X"]);
    assert_eq!(a.jurisdictions, ["US"]);
    assert_eq!(a.details["funding"]["exchange"], "Kestrel Exchange");
    assert!(a.narrative.contains("xbank1 (Kestrel Exchange)"), "{}", a.narrative);
    let a = &run_with(&chain("a", T0, &good(3)), 1, PeelConfig::default(), &c)[0];
    assert_eq!(a.jurisdictions, ["SC", "US"]);
    assert!(a.narrative.contains("from hot1"), "{}", a.narrative);
}

/// (account_id, customer_id, country, institution)
type AccountRow<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn test_accounts(rows: &[AccountRow]) -> AccountsTable {
    let schema = schema::accounts_schema();
    let n = rows.len();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                acct::ACCOUNT_ID => Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()),
                acct::CUSTOMER_ID => Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
                acct::COUNTRY => Arc::new(rows.iter().map(|r| r.2).collect::<StringArray>()),
                acct::INSTITUTION => Arc::new(rows.iter().map(|r| r.3).collect::<StringArray>()),
                acct::OPENED_AT => Arc::new(Date32Array::from(vec![None; n])),
                acct::MONTHLY_INCOME_USD => Arc::new(
                    Decimal128Array::from(vec![None; n])
                        .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::USD_SCALE)
                        .unwrap(),
                ),
                _ => Arc::new(StringArray::from(vec![None::<&str>; n])),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema, cols).unwrap();
    let mut index = AccountIndex::default();
    for (i, r) in rows.iter().enumerate() {
        index.insert(r.0.to_string(), i);
    }
    AccountsTable { batch, index }
}

#[test]
fn config_problems_are_reported() {
    assert!(PeelConfig::default().problems().is_empty());
    let bad =
        PeelConfig { min_hops: 1, min_split_bp: 9_950, max_split_bp: 9_900, hop_gap_us: 0, ..PeelConfig::default() };
    assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
}

#[test]
fn shares_are_exact_and_do_not_overflow() {
    assert!(within_bp(90, 100, 9_000, 9_900));
    assert!(!within_bp(89, 100, 9_000, 9_900));
    assert!(within_bp(99, 100, 9_000, 9_900));
    assert!(!within_bp(995, 1000, 9_000, 9_900));
    let huge = 10i128.pow(37);
    assert!(within_bp(huge / 100 * 95, huge, 9_000, 9_900));
    assert!(!within_bp(1, 0, 9_000, 9_900));
}
