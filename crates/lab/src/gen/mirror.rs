//! Mirror swaps (T6), the centre of the product, and their near misses.
//!
//! A network instance has a broker with accounts in the US (nominees: students,
//! cashiers, drivers; cash placed at branches, often structured and across states), in
//! China and in Mexico. Variants, in equal shares:
//! - `customer_id`: the broker's US, CN and MX accounts share one customer id;
//! - `phone`: different customers, one shared phone hash;
//! - `none`: nothing links them but amount and time;
//! - `netted`: several US cash days balanced over 2-5 days by several CNY inflows and MXN
//!   payouts, each side within 5% of the US total, with no single pair of legs matching;
//! - `crypto`: US cash -> US exchange by ACH -> USDT on Tron over 2-3 broker wallets ->
//!   Mexican exchange -> MXN to the cartel's account, all within 24 hours;
//! - `network` (the `varied` style only): one pickup of $100k-$1M placed as cash under
//!   $10,000 by 3-24 nominees (3-14, more for a big pickup: new accounts of students and
//!   low-income customers, homes spread over 2-5 states, half of them opened together)
//!   into their accounts at branches in those states over 1-5 days; the CNY paid by 2-6
//!   clients, some in two parts, into
//!   1-4 broker accounts (round robin, so several brokers when there are several), worth
//!   -1.5%..+5% of the US total; the MXN paid out in 1-4 parts to 1-2 accounts, worth
//!   -4.5%..-0.5%; and 0-3 days after the placement the nominees pay each client's US
//!   beneficiary 95-99% of its share in 1-3 payments. Half the networks share no KYC
//!   attribute at all, a quarter a phone, a quarter a customer id. Every leg carries the
//!   event's one scheme id; `labels.csv` marks the nominees' payments `beneficiary`.
//!
//! One-to-one legs: the CNY leg is worth -1.5%..+5% of the US cash at its day's rate
//! (tolerance -2%..+6%) and the MXN leg -4.5%..+0.5% (tolerance -6%..+1%), both within
//! 20 hours of every deposit (tolerance 24 h). The US dollars then go to the Chinese
//! client's US beneficiary (a university, a title company, a luxury retailer, or people
//! paid by P2P) within 10-40 hours.
//!
//! Owns: T6 instances, their T1 / T3 / T11 sub-schemes, and the T6 checks.
//! Must not: decide how many schemes there are (`schemes::plan` does).

use super::model::{Channel, Cur, HOUR, IdStyle, Memo, NONE, Tx, Typ, cents, distinct_states, other_state, units};
use super::oracle::Oracle;
use super::schemes::Inst;

/// Tolerances of the domain brief, in ppm of the US leg.
const CNY_TOL: (i64, i64) = (-20_000, 60_000);
const MXN_TOL: (i64, i64) = (-60_000, 10_000);
const LEG_WINDOW: i64 = 24 * HOUR;
const NETTING_TOL: i64 = 50_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Customer,
    Phone,
    Nothing,
}

struct Broker {
    us: Vec<u32>,
    cn: Vec<u32>,
    mx: Vec<u32>,
}

/// The broker's accounts, linked as the variant says. `nominees`: the US accounts are
/// new-ish accounts of students and low-income customers.
fn broker(x: &mut Inst, n_us: usize, n_cn: usize, n_mx: usize, link: Link, nominees: bool) -> Broker {
    let customer = x.customer();
    let phone = x.link();
    let tie = |x: &mut Inst, r: u32| match link {
        Link::Customer => x.acct_mut(r).customer = customer,
        Link::Phone => x.acct_mut(r).phone = phone,
        Link::Nothing => {}
    };
    let mut b = Broker { us: Vec::new(), cn: Vec::new(), mx: Vec::new() };
    for _ in 0..n_us {
        let r = if nominees {
            let r = x.new_person("US", 25, 400);
            let occ = *x.rng.pick(&["student", "student", "cashier", "driver", "unemployed", "warehouse associate"]);
            let cn = x.rng.chance(0.7);
            let income = if occ == "student" { x.rng.range(800, 2_000) } else { x.rng.range(1_500, 3_000) } * 100;
            let s = x.acct_mut(r);
            s.occupation = occ;
            s.income_cents = Some(income);
            if occ == "student" && cn {
                s.nationality = "CN";
            }
            r
        } else {
            x.person("US")
        };
        tie(x, r);
        b.us.push(r);
    }
    for _ in 0..n_cn {
        let r = if x.rng.chance(0.5) {
            let r = x.person("CN");
            x.acct_mut(r).occupation = "business owner";
            r
        } else {
            x.business("CN", "trading")
        };
        tie(x, r);
        b.cn.push(r);
    }
    for _ in 0..n_mx {
        let industry = *x.rng.pick(&["produce_trading", "currency_exchange", "import_export"]);
        let r = x.business("MX", industry);
        tie(x, r);
        b.mx.push(r);
    }
    b
}

/// The US leg as placed: cash deposits and, per account, its total and last deposit.
struct UsLeg {
    total: i64,
    per_account: Vec<(u32, i64, i64)>,
}

/// Cash deposits into `accounts` within `window` seconds of `t0`: structured ones are
/// 2-4 per account in [$8,000, $9,900], across 3-4 states for a funnel; unstructured are
/// 1-2 of $10,500-$40,000.
fn us_leg(x: &mut Inst, accounts: &[u32], t0: i64, window: i64, structured: bool) -> UsLeg {
    let mut leg = UsLeg { total: 0, per_account: Vec::new() };
    for &a in accounts {
        let n = if structured { x.rng.range(2, 4) } else { x.rng.range(1, 2) } as usize;
        let home = x.acct(a).region;
        let funnel = structured && n >= 3 && x.rng.chance(0.6);
        let states =
            if funnel { distinct_states(&mut x.rng, home, n) } else { vec![home, other_state(&mut x.rng, home)] };
        let mut total = 0;
        let mut last = 0;
        for (k, ts) in x.times(t0, window, n).into_iter().enumerate() {
            let amount = if structured { x.rng.range(800_000, 990_000) } else { x.rng.range(1_050_000, 4_000_000) };
            let at = if funnel {
                states[k]
            } else if x.rng.chance(0.7) {
                home
            } else {
                states[1]
            };
            x.push(Tx::new(ts, NONE, a, cents(amount), Cur::Usd, Channel::CashDeposit).at(at));
            total += amount;
            last = last.max(ts);
        }
        leg.total += total;
        leg.per_account.push((a, total, last));
    }
    leg
}

/// Where the client's dollars go in the US.
enum Beneficiary {
    Tuition(u32),
    RealEstate(u32),
    Luxury(u32),
    People(Vec<u32>),
}

fn beneficiary(x: &mut Inst) -> Beneficiary {
    match x.rng.below(4) {
        0 => Beneficiary::Tuition(x.layout().universities.pick(&mut x.rng)),
        1 => Beneficiary::RealEstate(x.business("US", "real_estate")),
        2 => Beneficiary::Luxury(x.business("US", "luxury_goods")),
        _ => {
            let n = x.rng.range(2, 3) as usize;
            Beneficiary::People((0..n).map(|_| x.person("US")).collect())
        }
    }
}

/// One payment from `src` to the beneficiary.
fn pay(x: &mut Inst, b: &Beneficiary, src: u32, ts: i64, amount: i64) {
    let n = x.rng.range(1000, 9999);
    let (dst, ch, memo) = match b {
        Beneficiary::Tuition(u) => (*u, Channel::Wire, Memo::text(format!("tuition, student no. {}", 30_000 + n))),
        Beneficiary::RealEstate(t) => (*t, Channel::Wire, Memo::text(format!("escrow deposit, {n} Ocean View Dr"))),
        Beneficiary::Luxury(s) => (*s, Channel::Wire, Memo::text(format!("invoice {n} watches and jewelry"))),
        Beneficiary::People(v) => (*x.rng.pick(v), Channel::P2p, Memo::None),
    };
    x.push(Tx::new(ts, src, dst, cents(amount), Cur::Usd, ch).memo(memo));
}

/// Each US account pays `share_pct` of what it took in to the beneficiary, `delay`
/// after its last deposit.
fn payouts(x: &mut Inst, leg: &UsLeg, b: &Beneficiary, delay: (i64, i64), share_pct: (i64, i64)) {
    for &(a, total, last) in &leg.per_account {
        let amount = total * x.rng.range(share_pct.0, share_pct.1) / 100;
        let ts = last + x.rng.range(delay.0, delay.1);
        pay(x, b, a, ts, amount);
    }
}

/// Labels T1 and T3 sub-schemes on the broker's US accounts where the oracle finds them.
fn sub_schemes(x: &mut Inst, us: &[u32]) {
    let mut found: Vec<(Typ, Vec<usize>)> = Vec::new();
    {
        let o = Oracle::new(&x.txs, x.fx(), x.env.start_epoch);
        for &a in us {
            for (typ, w) in [(Typ::T1, o.t1(a)), (Typ::T3, o.t3(a))] {
                if !w.is_empty() {
                    found.push((typ, w));
                }
            }
        }
    }
    for (typ, w) in found {
        let s = x.sub_scheme(typ);
        for i in w {
            x.label(i, s);
        }
    }
}

fn client_cn(x: &mut Inst) -> u32 {
    let c = x.person("CN");
    let income = x.rng.range(15_000, 80_000) * 100;
    let s = x.acct_mut(c);
    s.occupation = "business owner";
    s.income_cents = Some(income);
    c
}

fn cartel_mx(x: &mut Inst) -> u32 {
    if x.rng.chance(0.5) { x.person("MX") } else { x.business("MX", "produce_trading") }
}

/// A labelled mirror-swap network of the given variant.
pub(crate) fn scheme(x: &mut Inst, variant: u8) {
    match variant {
        0 => one_to_one(x, Link::Customer),
        1 => one_to_one(x, Link::Phone),
        2 => one_to_one(x, Link::Nothing),
        3 => netted(x, false),
        5 => network(x),
        _ => crypto(x),
    }
}

/// A network event (variant `network`; see the module docs).
fn network(x: &mut Inst) {
    let link = match x.rng.below(4) {
        0 => Link::Customer,
        1 => Link::Phone,
        _ => Link::Nothing,
    };
    // the pickup, then enough nominees that none takes much more than $60,000 of it
    let pickup = x.rng.skewed(100_000, 1_000_000, 2);
    let n_nom = (x.rng.range(3, 14) as usize).max((pickup / 60_000) as usize).min(24);
    let n_cn = x.rng.range(1, 4) as usize;
    let n_mx = x.rng.range(1, 3) as usize;
    let b = broker(x, n_nom, n_cn, n_mx, link, true);
    let n_states = x.rng.range(2, 5) as usize;
    let first = x.acct(b.us[0]).region;
    let states = distinct_states(&mut x.rng, first, n_states);
    let cohort = x.rng.chance(0.5);
    let cohort_age = x.rng.range(20, 200);
    for (k, &a) in b.us.iter().enumerate() {
        let age = if cohort { cohort_age + x.rng.range(0, 10) } else { x.rng.range(25, 400) };
        let day0 = x.day0 as i32;
        let s = x.acct_mut(a);
        s.region = states[k % states.len()];
        s.opened_at = Some(day0 - age as i32);
    }
    let w = (x.rng.range(1, 5) as u32).min(x.avail.saturating_sub(5).max(1));
    let d = x.start_day(w + 5);

    // US cash: every nominee gets a deposit, then random nominees until the pickup is in.
    let target = (pickup * 100).max(n_nom as i64 * 1_000_000);
    let high = x.rng.chance(0.6);
    let mut total = 0;
    let mut k = 0;
    while total < target {
        let i = if k < b.us.len() { k } else { x.rng.index(b.us.len()) };
        k += 1;
        let a = b.us[i];
        let home = x.acct(a).region;
        let at = if x.rng.chance(0.55) { home } else { states[x.rng.index(states.len())] };
        let amount = if high { x.rng.range(800_000, 990_000) } else { x.rng.range(300_000, 950_000) };
        let day = x.rng.below(w as u64) as u32;
        let ts = x.at(d + day, 13, 23);
        x.push(Tx::new(ts, NONE, a, cents(amount), Cur::Usd, Channel::CashDeposit).at(at));
        total += amount;
    }

    // CNY from several clients into the broker's Chinese accounts.
    let n_clients = x.rng.range(2, 6) as usize;
    let cn_ppm = x.rng.range(-15_000, 50_000);
    let pieces = x.split(total * (1_000_000 + cn_ppm) / 1_000_000, n_clients, 0.4);
    let mut j = 0;
    for &piece in &pieces {
        let client = client_cn(x);
        let parts = if x.rng.chance(0.4) { 2 } else { 1 };
        for part in x.split(piece, parts, 0.5) {
            let to = b.cn[j % b.cn.len()];
            j += 1;
            let day = x.rng.below(w as u64 + 1) as u32;
            let ts = x.at(d + day, 0, 12);
            let cny = x.fx().amount_for_usd(part, 0, Cur::Cny, x.fx().day_of(ts));
            let memo = x
                .rng
                .pick(&[Memo::None, Memo::None, Memo::Static("goods payment"), Memo::Static("service fee")])
                .clone();
            x.push(Tx::new(ts, client, to, cny, Cur::Cny, Channel::Wire).memo(memo));
        }
    }

    // MXN out of the broker's Mexican accounts in one or more parts.
    let mx_ppm = x.rng.range(-45_000, -5_000);
    let n_parts = x.rng.range(1, 4) as usize;
    let cartels: Vec<u32> = (0..x.rng.range(1, 2)).map(|_| cartel_mx(x)).collect();
    let parts = x.split(total * (1_000_000 + mx_ppm) / 1_000_000, n_parts, 0.5);
    for (k, piece) in parts.into_iter().enumerate() {
        let (from, to) = (b.mx[k % b.mx.len()], cartels[k % cartels.len()]);
        let day = x.rng.below(w as u64 + 1) as u32;
        let ts = x.at(d + day, 15, 23);
        let mxn = x.fx().amount_for_usd(piece, 0, Cur::Mxn, x.fx().day_of(ts));
        let memo = Memo::Num("FACTURA ", x.rng.range(1000, 99_999) as u32);
        x.push(Tx::new(ts, from, to, mxn, Cur::Mxn, Channel::Wire).memo(memo));
    }

    // The nominees pay each client's US beneficiary.
    for piece in pieces {
        let benef = beneficiary(x);
        let out = piece * x.rng.range(95, 99) / 100;
        let n = x.rng.range(1, 3) as usize;
        for p in x.split(out, n, 0.5) {
            let src = b.us[x.rng.index(b.us.len())];
            let day = w + x.rng.below(4) as u32;
            let ts = x.at(d + day, 14, 22);
            pay(x, &benef, src, ts, p);
        }
    }
    sub_schemes(x, &b.us);
}

/// A network event: at least 3 nominees, cash in at least 2 states, every deposit under
/// $10,000, the CNY and the MXN sides each within their tolerance of the US total, all
/// within 9 days.
fn check_network(x: &Inst, o: &Oracle) -> Result<(), String> {
    use std::collections::BTreeSet;
    let deps: Vec<usize> = (0..x.txs.len()).filter(|&i| x.txs[i].channel == Channel::CashDeposit).collect();
    let nominees: BTreeSet<u32> = deps.iter().map(|&i| x.txs[i].dst).collect();
    let states: BTreeSet<&str> = deps.iter().map(|&i| x.txs[i].location).collect();
    if nominees.len() < 3 || states.len() < 2 {
        return Err(format!("network cash into {} accounts in {} states", nominees.len(), states.len()));
    }
    if deps.iter().any(|&i| o.usd_cents(i) >= 1_000_000) {
        return Err("network deposit at or above $10,000".into());
    }
    let us: i64 = deps.iter().map(|&i| o.usd_cents(i)).sum();
    let (cn, mx, n_cn) = side_totals(x, o);
    if n_cn == 0 || !within(cn, us, CNY_TOL) || !within(mx, us, MXN_TOL) {
        return Err(format!("network sides out of tolerance: us {us} cn {cn} mx {mx}"));
    }
    let (lo, hi) = (x.txs.iter().map(|t| t.ts).min().unwrap_or(0), x.txs.iter().map(|t| t.ts).max().unwrap_or(0));
    if hi - lo > 9 * 86_400 {
        return Err("network event spans more than 9 days".into());
    }
    Ok(())
}

fn one_to_one(x: &mut Inst, link: Link) {
    let n_us = x.rng.range(1, 3) as usize;
    let nominees = x.rng.chance(0.5);
    let b = broker(x, n_us, 1, 1, link, nominees);
    let client = client_cn(x);
    let cartel = cartel_mx(x);
    let d = x.start_day(3);
    let t0 = x.at(d, 14, 17);
    let structured = x.rng.chance(0.7);
    let leg = us_leg(x, &b.us, t0, 4 * HOUR, structured);

    let ts_cn = t0 + x.rng.range(-4 * HOUR, 14 * HOUR);
    let ppm = x.rng.range(-15_000, 50_000);
    let cny = x.fx().amount_for_usd(leg.total, ppm, Cur::Cny, x.fx().day_of(ts_cn));
    let memo = x.rng.pick(&[Memo::None, Memo::Static("goods payment"), Memo::Static("loan repayment")]).clone();
    x.push(Tx::new(ts_cn, client, b.cn[0], cny, Cur::Cny, Channel::Wire).memo(memo));

    let ts_mx = t0 + x.rng.range(2 * HOUR, 20 * HOUR);
    let ppm = if x.rng.chance(0.7) { x.rng.range(-25_000, -8_000) } else { x.rng.range(-45_000, 5_000) };
    let mxn = x.fx().amount_for_usd(leg.total, ppm, Cur::Mxn, x.fx().day_of(ts_mx));
    let memo = Memo::Num("FACTURA ", x.rng.range(1000, 99_999) as u32);
    x.push(Tx::new(ts_mx, b.mx[0], cartel, mxn, Cur::Mxn, Channel::Wire).memo(memo));

    let benef = beneficiary(x);
    payouts(x, &leg, &benef, (10 * HOUR, 40 * HOUR), (95, 100));
    sub_schemes(x, &b.us);
}

/// Broker-day netting (or, for a near miss, flows 7-10% out of balance on both sides).
fn netted(x: &mut Inst, near_miss: bool) {
    let link = if near_miss || x.rng.below(3) < 2 { Link::Customer } else { Link::Phone };
    let n_us = x.rng.range(2, 3) as usize;
    let n_cn = x.rng.range(1, 2) as usize;
    let n_mx = x.rng.range(1, 2) as usize;
    let nominees = !near_miss && x.rng.chance(0.5);
    let b = broker(x, n_us, n_cn, n_mx, link, nominees);
    let w = x.rng.range(2, if near_miss { 3 } else { 5 }) as u32;
    let w = w.min(x.avail.saturating_sub(3).max(1));
    let d = x.start_day(w + if near_miss { 6 } else { 2 });
    let mut total = 0;
    let mut per_account: Vec<(u32, i64, i64)> = b.us.iter().map(|&a| (a, 0, 0)).collect();
    for day in 0..w {
        for _ in 0..x.rng.range(2, 4) {
            let k = x.rng.index(b.us.len());
            let a = b.us[k];
            let home = x.acct(a).region;
            let at = if x.rng.chance(0.6) { home } else { other_state(&mut x.rng, home) };
            let amount = if near_miss { x.rng.range(300_000, 790_000) } else { x.rng.range(500_000, 990_000) };
            let ts = x.at(d + day, 14, 20);
            x.push(Tx::new(ts, NONE, a, cents(amount), Cur::Usd, Channel::CashDeposit).at(at));
            total += amount;
            per_account[k].1 += amount;
            per_account[k].2 = per_account[k].2.max(ts);
        }
    }
    let off = |x: &mut Inst| {
        let v = x.rng.range(70_000, 100_000);
        if x.rng.chance(0.5) { v } else { -v }
    };
    // CNY from several Chinese clients into the broker's Chinese accounts.
    let ppm = if near_miss { off(x) } else { x.rng.range(-30_000, 30_000) };
    let n_c = x.rng.range(3, 5) as usize;
    for piece in x.split(total * (1_000_000 + ppm) / 1_000_000, n_c, 0.5) {
        let client = client_cn(x);
        let to = *x.rng.pick(&b.cn);
        let day = x.rng.below(w as u64) as u32;
        let ts = x.at(d + day, 1, 10);
        let cny = x.fx().amount_for_usd(piece, 0, Cur::Cny, x.fx().day_of(ts));
        x.push(Tx::new(ts, client, to, cny, Cur::Cny, Channel::Wire));
    }
    // MXN from the broker's Mexican accounts to the cartel's.
    let ppm = if near_miss { off(x) } else { x.rng.range(-40_000, 0) };
    let n_m = x.rng.range(3, 5) as usize;
    let cartels: Vec<u32> = (0..x.rng.range(1, 2)).map(|_| cartel_mx(x)).collect();
    for piece in x.split(total * (1_000_000 + ppm) / 1_000_000, n_m, 0.5) {
        let from = *x.rng.pick(&b.mx);
        let to = *x.rng.pick(&cartels);
        let day = x.rng.below(w as u64) as u32;
        let ts = x.at(d + day, 15, 23);
        let mxn = x.fx().amount_for_usd(piece, 0, Cur::Mxn, x.fx().day_of(ts));
        let memo = Memo::Num("FACTURA ", x.rng.range(1000, 99_999) as u32);
        x.push(Tx::new(ts, from, to, mxn, Cur::Mxn, Channel::Wire).memo(memo));
    }
    // Dollars out to the clients' beneficiaries.
    let benef = beneficiary(x);
    if near_miss {
        let leg = UsLeg { total, per_account: per_account.into_iter().filter(|p| p.1 > 0).collect() };
        payouts(x, &leg, &benef, (80 * HOUR, 120 * HOUR), (70, 85));
    } else {
        let n_pay = x.rng.range(3, 5) as usize;
        let pay_total = total * x.rng.range(95, 99) / 100;
        for piece in x.split(pay_total, n_pay, 0.5) {
            let src = *x.rng.pick(&b.us);
            let day = 1 + x.rng.below(w as u64) as u32;
            let ts = x.at(d + day, 14, 22);
            pay(x, &benef, src, ts, piece);
        }
        sub_schemes(x, &b.us);
    }
}

/// Crypto-settled: US cash -> US exchange -> USDT over broker wallets on Tron -> Mexican
/// exchange -> MXN to the cartel, within 24 hours of the cash.
fn crypto(x: &mut Inst) {
    let link = if x.rng.chance(0.5) { Link::Customer } else { Link::Phone };
    let n_us = x.rng.range(1, 2) as usize;
    let nominees = x.rng.chance(0.5);
    let b = broker(x, n_us, 0, 0, link, nominees);
    let cartel = cartel_mx(x);
    let ex = x.layout().exchanges;
    let e = x.rng.index(2);
    let d = x.start_day(2);
    let t0 = x.at(d, 13, 16);
    let structured = x.rng.chance(0.8);
    let leg = us_leg(x, &b.us, t0, 3 * HOUR, structured);
    let mut on_ramp: Vec<usize> = (0..x.txs.len()).collect();
    let mut funded = 0;
    let mut t = 0;
    for &(a, total, last) in &leg.per_account {
        let amount = total * x.rng.range(995, 1000) / 1000;
        let ts = last + x.rng.range(HOUR, 3 * HOUR);
        on_ramp.push(x.push(
            Tx::new(ts, a, ex.us_bank[e], cents(amount), Cur::Usd, Channel::Ach).memo(Memo::Static("crypto purchase")),
        ));
        funded += amount;
        t = t.max(ts);
    }
    t += x.rng.range(HOUR / 2, 2 * HOUR);
    let usdt = x.fx().amount_for_usd(funded, -5_000, Cur::Usdt, x.fx().day_of(t));
    let mut w = x.wallet(IdStyle::Tron);
    x.push(Tx::new(t, ex.us_tron[e], w, usdt, Cur::Usdt, Channel::Crypto));
    let fee = units(1_000_000, 6); // 1 USDT per transfer
    let mut bal = usdt;
    for _ in 0..x.rng.range(2, 3) {
        let next = x.wallet(IdStyle::Tron);
        t += x.rng.range(HOUR / 3, 3 * HOUR / 2);
        bal -= fee;
        x.push(Tx::new(t, w, next, bal, Cur::Usdt, Channel::Crypto));
        w = next;
    }
    t += x.rng.range(HOUR / 3, 3 * HOUR / 2);
    bal -= fee;
    x.push(Tx::new(t, w, ex.mx_tron, bal, Cur::Usdt, Channel::Crypto));
    t += x.rng.range(HOUR / 2, 2 * HOUR);
    let ppm = x.rng.range(-40_000, -8_000);
    let mxn = x.fx().amount_for_usd(leg.total, ppm, Cur::Mxn, x.fx().day_of(t));
    x.push(Tx::new(t, ex.mx_bank, cartel, mxn, Cur::Mxn, Channel::Wire).memo(Memo::Static("retiro")));

    let s = x.sub_scheme(Typ::T11);
    for i in on_ramp {
        x.label(i, s);
    }
    sub_schemes(x, &b.us);
}

/// A mirror-swap near miss: legs 26-34 hours after the cash; or legs priced just outside
/// the tolerances; or a netted broker whose sides are 7-10% out of balance. The US cash
/// is never structured, stays in at most two states, and leaves only 80+ hours later.
pub(crate) fn near_miss(x: &mut Inst) {
    let variant = x.rng.below(3);
    if variant == 2 {
        netted(x, true);
        return;
    }
    let n_us = x.rng.range(1, 2) as usize;
    let b = broker(x, n_us, 1, 1, Link::Customer, false);
    let client = client_cn(x);
    let cartel = cartel_mx(x);
    let d = x.start_day(7);
    let t0 = x.at(d, 14, 17);
    let mut leg = UsLeg { total: 0, per_account: Vec::new() };
    let mut t_last = t0;
    for &a in &b.us {
        let home = x.acct(a).region;
        let mut total = 0;
        let mut last = 0;
        let n = x.rng.range(1, 2) as usize;
        for ts in x.times(t0, 4 * HOUR, n) {
            let amount = x.rng.range(300_000, 750_000);
            x.push(Tx::new(ts, NONE, a, cents(amount), Cur::Usd, Channel::CashDeposit).at(home));
            total += amount;
            last = last.max(ts);
        }
        leg.total += total;
        leg.per_account.push((a, total, last));
        t_last = t_last.max(last);
    }
    let (ts_cn, cn_ppm, ts_mx, mx_ppm) = if variant == 0 {
        (
            t_last + x.rng.range(26 * HOUR, 34 * HOUR),
            x.rng.range(-10_000, 40_000),
            t_last + x.rng.range(26 * HOUR, 34 * HOUR),
            x.rng.range(-30_000, -5_000),
        )
    } else {
        let cn = if x.rng.chance(0.5) { x.rng.range(-32_000, -24_000) } else { x.rng.range(66_000, 80_000) };
        let mx = if x.rng.chance(0.5) { x.rng.range(-80_000, -66_000) } else { x.rng.range(15_000, 30_000) };
        (t0 + x.rng.range(-3 * HOUR, 12 * HOUR), cn, t0 + x.rng.range(2 * HOUR, 18 * HOUR), mx)
    };
    let cny = x.fx().amount_for_usd(leg.total, cn_ppm, Cur::Cny, x.fx().day_of(ts_cn));
    x.push(Tx::new(ts_cn, client, b.cn[0], cny, Cur::Cny, Channel::Wire));
    let mxn = x.fx().amount_for_usd(leg.total, mx_ppm, Cur::Mxn, x.fx().day_of(ts_mx));
    x.push(Tx::new(ts_mx, b.mx[0], cartel, mxn, Cur::Mxn, Channel::Wire));
    let benef = beneficiary(x);
    payouts(x, &leg, &benef, (80 * HOUR, 120 * HOUR), (70, 85));
}

// ---------------------------------------------------------------------------------------
// Checks.

/// A US-leg unit a foreign leg could be matched against: its USD value and deposit times.
struct Unit {
    usd: i64,
    times: Vec<i64>,
}

/// Every deposit, every account's deposits per UTC day, every UTC day's deposits, and
/// the whole US leg.
fn us_units(x: &Inst, o: &Oracle) -> Vec<Unit> {
    use std::collections::BTreeMap;
    let deps: Vec<usize> = (0..x.txs.len()).filter(|&i| x.txs[i].channel == Channel::CashDeposit).collect();
    let mut units: Vec<Unit> = deps.iter().map(|&i| Unit { usd: o.usd_cents(i), times: vec![x.txs[i].ts] }).collect();
    let mut by_acct_day: BTreeMap<(u32, i64), Unit> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, Unit> = BTreeMap::new();
    let mut all = Unit { usd: 0, times: Vec::new() };
    for &i in &deps {
        let t = &x.txs[i];
        let day = t.ts.div_euclid(86_400);
        for u in [
            by_acct_day.entry((t.dst, day)).or_insert(Unit { usd: 0, times: Vec::new() }),
            by_day.entry(day).or_insert(Unit { usd: 0, times: Vec::new() }),
            &mut all,
        ] {
            u.usd += o.usd_cents(i);
            u.times.push(t.ts);
        }
    }
    units.extend(by_acct_day.into_values());
    units.extend(by_day.into_values());
    units.push(all);
    units
}

fn within(leg_usd: i64, unit_usd: i64, tol: (i64, i64)) -> bool {
    let (l, u) = (leg_usd as i128 * 1_000_000, unit_usd as i128);
    l >= u * (1_000_000 + tol.0 as i128) && l <= u * (1_000_000 + tol.1 as i128)
}

/// The foreign legs (CNY and MXN transfers) with their tolerance.
fn legs(x: &Inst) -> Vec<(usize, (i64, i64))> {
    (0..x.txs.len())
        .filter_map(|i| match x.txs[i].cur {
            Cur::Cny => Some((i, CNY_TOL)),
            Cur::Mxn => Some((i, MXN_TOL)),
            _ => None,
        })
        .collect()
}

/// Whether any single foreign leg matches any US unit in amount and within 24 hours of
/// one of its deposits.
fn any_pair_match(x: &Inst, o: &Oracle) -> bool {
    let units = us_units(x, o);
    legs(x).into_iter().any(|(i, tol)| {
        let (usd, ts) = (o.usd_cents(i), x.txs[i].ts);
        units.iter().any(|u| within(usd, u.usd, tol) && u.times.iter().any(|&t| (ts - t).abs() <= LEG_WINDOW))
    })
}

/// USD totals of the CNY legs and of the MXN legs.
fn side_totals(x: &Inst, o: &Oracle) -> (i64, i64, usize) {
    let (mut cn, mut mx, mut n) = (0, 0, 0);
    for (i, _) in legs(x) {
        match x.txs[i].cur {
            Cur::Cny => {
                cn += o.usd_cents(i);
                n += 1;
            }
            _ => mx += o.usd_cents(i),
        }
    }
    (cn, mx, n)
}

/// A labelled network does what its variant says (see the module docs).
pub(crate) fn check_scheme(x: &Inst, variant: u8) -> Result<(), String> {
    let o = Oracle::new(&x.txs, x.fx(), x.env.start_epoch);
    let deps: Vec<usize> = (0..x.txs.len()).filter(|&i| x.txs[i].channel == Channel::CashDeposit).collect();
    let us: i64 = deps.iter().map(|&i| o.usd_cents(i)).sum();
    let near_all = |ts: i64| deps.iter().all(|&d| (ts - x.txs[d].ts).abs() <= LEG_WINDOW);
    let legs = legs(x);
    if variant == 5 {
        return check_network(x, &o);
    }
    if variant == 3 {
        let (cn, mx, _) = side_totals(x, &o);
        if !within(cn, us, (-NETTING_TOL, NETTING_TOL)) || !within(mx, us, (-NETTING_TOL, NETTING_TOL)) {
            return Err(format!("netted sides out of balance: us {us} cn {cn} mx {mx}"));
        }
        if any_pair_match(x, &o) {
            return Err("netted network has a matching single pair".into());
        }
        let (lo, hi) = (x.txs.iter().map(|t| t.ts).min().unwrap_or(0), x.txs.iter().map(|t| t.ts).max().unwrap_or(0));
        if hi - lo > 7 * 86_400 {
            return Err("netted network spans more than 7 days".into());
        }
        return Ok(());
    }
    let want = if variant == 4 { 1 } else { 2 };
    if legs.len() != want {
        return Err(format!("expected {want} foreign legs, found {}", legs.len()));
    }
    for (i, tol) in legs {
        let usd = o.usd_cents(i);
        if !within(usd, us, tol) {
            return Err(format!("{} leg worth {usd} vs US {us}", x.txs[i].cur.code()));
        }
        if !near_all(x.txs[i].ts) {
            return Err(format!("{} leg more than 24 h from a deposit", x.txs[i].cur.code()));
        }
    }
    Ok(())
}

/// A near miss matches no single pair, and a netted one is out of balance on both sides.
pub(crate) fn check_near_miss(x: &Inst) -> Result<(), String> {
    let o = Oracle::new(&x.txs, x.fx(), x.env.start_epoch);
    if any_pair_match(x, &o) {
        return Err("mirror near miss has a matching pair of legs".into());
    }
    let (cn, mx, n_cn) = side_totals(x, &o);
    if n_cn > 1 {
        let us: i64 =
            (0..x.txs.len()).filter(|&i| x.txs[i].channel == Channel::CashDeposit).map(|i| o.usd_cents(i)).sum();
        if within(cn, us, (-NETTING_TOL, NETTING_TOL)) || within(mx, us, (-NETTING_TOL, NETTING_TOL)) {
            return Err("netted near miss is balanced on one side".into());
        }
    }
    Ok(())
}
