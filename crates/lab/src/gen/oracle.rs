//! Reference checks of the domain brief's defaults, run over one scheme instance's
//! transactions: account-level (T1 structuring, T2 smurfing, T3 funnel, T4 pass-through,
//! T5 profile mismatch, T8 fan-in/out) and shape-level (T7 cycle, T9 scatter-gather /
//! gather-scatter, T10 bipartite, T11 on-ramp and peel chain).
//!
//! Owns: the generator's own reading of those thresholds. Labelled schemes must satisfy
//! their typology here; near misses must satisfy none; mirror-swap networks get T1 / T3
//! sub-scheme labels exactly where these checks hold on their US leg.
//! Must not: be used by detection. It is a brute-force oracle over a few dozen
//! transactions, written to be obviously right rather than fast.

use std::collections::{BTreeMap, BTreeSet};

use super::fx::Fx;
use super::model::{AccountSpec, Channel, DAY, HOUR, NONE, Tx};

/// Thresholds of the domain brief (defaults), in cents and seconds.
pub(crate) const CTR_CENTS: i64 = 1_000_000;
pub(crate) const T1_BAND_LO: i64 = 800_000;
pub(crate) const T1_DAILY_LO: i64 = 900_000;
pub(crate) const T1_PAIR_WINDOW: i64 = 3 * DAY;
pub(crate) const T1_DAYS_WINDOW: i64 = 14;
pub(crate) const T2_WINDOW: i64 = 7 * DAY;
pub(crate) const T3_WINDOW: i64 = 30 * DAY;
pub(crate) const T3_OUT_WINDOW: i64 = 48 * HOUR;
pub(crate) const T4_WINDOW: i64 = 72 * HOUR;
pub(crate) const T5_MAX_AGE_DAYS: i64 = 180;
pub(crate) const T5_STUDENT_CENTS: i64 = 2_000_000;
pub(crate) const FAN_WINDOW: i64 = 7 * DAY;
pub(crate) const T7_MAX_HOPS: usize = 6;
pub(crate) const T7_WINDOW: i64 = 30 * DAY;
pub(crate) const T7_KEEP_PCT: i64 = 85;
pub(crate) const T9_TOLERANCE_PCT: i64 = 15;
pub(crate) const T11_RAMP_WINDOW: i64 = 48 * HOUR;
/// Peel hop split: the larger output is 90%..99% of the two.
pub(crate) const T11_SPLIT_PCT: (i128, i128) = (90, 99);

/// Checks over one instance's transactions.
pub(crate) struct Oracle<'a> {
    txs: &'a [Tx],
    fx: &'a Fx,
    start_epoch: i64,
}

impl<'a> Oracle<'a> {
    pub(crate) fn new(txs: &'a [Tx], fx: &'a Fx, start_epoch: i64) -> Self {
        Oracle { txs, fx, start_epoch }
    }

    pub(crate) fn usd_cents(&self, i: usize) -> i64 {
        let t = &self.txs[i];
        self.fx.usd_cents(t.amount, t.cur, t.ts)
    }

    /// Indices of transactions matching `f`, in time order.
    fn select(&self, f: impl Fn(&Tx) -> bool) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.txs.len()).filter(|&i| f(&self.txs[i])).collect();
        v.sort_by_key(|&i| (self.txs[i].ts, i));
        v
    }

    fn inflows(&self, acct: u32) -> Vec<usize> {
        self.select(|t| t.dst == acct)
    }

    fn outflows(&self, acct: u32) -> Vec<usize> {
        self.select(|t| t.src == acct)
    }

    fn cash_deposits(&self, acct: u32) -> Vec<usize> {
        self.select(|t| t.dst == acct && t.channel == Channel::CashDeposit)
    }

    /// T1: two cash deposits in [$8,000, $10,000) within 3 days, or daily cash totals in
    /// [$9,000, $10,000) on 3 days within 14. Returns the witnessing deposits.
    pub(crate) fn t1(&self, acct: u32) -> Vec<usize> {
        let deps = self.cash_deposits(acct);
        let mut hit = BTreeSet::new();
        let in_band: Vec<usize> =
            deps.iter().copied().filter(|&i| (T1_BAND_LO..CTR_CENTS).contains(&self.usd_cents(i))).collect();
        for (a, &i) in in_band.iter().enumerate() {
            for &j in &in_band[a + 1..] {
                if self.txs[j].ts - self.txs[i].ts <= T1_PAIR_WINDOW {
                    hit.insert(i);
                    hit.insert(j);
                }
            }
        }
        let mut by_day: BTreeMap<i64, (i64, Vec<usize>)> = BTreeMap::new();
        for &i in &deps {
            let e = by_day.entry(self.txs[i].ts.div_euclid(DAY)).or_default();
            e.0 += self.usd_cents(i);
            e.1.push(i);
        }
        let band_days: Vec<(&i64, &Vec<usize>)> = by_day
            .iter()
            .filter(|(_, (total, _))| (T1_DAILY_LO..CTR_CENTS).contains(total))
            .map(|(d, (_, v))| (d, v))
            .collect();
        for a in 0..band_days.len() {
            let within: Vec<_> =
                band_days[a..].iter().take_while(|(d, _)| **d - *band_days[a].0 < T1_DAYS_WINDOW).collect();
            if within.len() >= 3 {
                for (_, v) in within {
                    hit.extend(v.iter().copied());
                }
            }
        }
        hit.into_iter().collect()
    }

    /// T2: at least 4 distinct senders, each transfer under $10,000, within 7 days.
    pub(crate) fn t2(&self, acct: u32) -> Vec<usize> {
        let ins: Vec<usize> = self
            .inflows(acct)
            .into_iter()
            .filter(|&i| self.txs[i].src != NONE && self.usd_cents(i) < CTR_CENTS)
            .collect();
        let mut hit = BTreeSet::new();
        for a in 0..ins.len() {
            let window: Vec<usize> =
                ins[a..].iter().copied().take_while(|&j| self.txs[j].ts - self.txs[ins[a]].ts <= T2_WINDOW).collect();
            let senders: BTreeSet<u32> = window.iter().map(|&j| self.txs[j].src).collect();
            if senders.len() >= 4 {
                hit.extend(window);
            }
        }
        hit.into_iter().collect()
    }

    /// T3: cash deposits in at least 3 locations within 30 days, and at least 80% of the
    /// inflow over those days out within 48 hours of the last of them.
    pub(crate) fn t3(&self, acct: u32) -> Vec<usize> {
        let deps = self.cash_deposits(acct);
        let ins = self.inflows(acct);
        let outs = self.outflows(acct);
        let mut hit = BTreeSet::new();
        for a in 0..deps.len() {
            for b in a..deps.len() {
                let (t0, t1) = (self.txs[deps[a]].ts, self.txs[deps[b]].ts);
                if t1 - t0 > T3_WINDOW {
                    break;
                }
                let states: BTreeSet<&str> = deps[a..=b].iter().map(|&i| self.txs[i].location).collect();
                if states.len() < 3 {
                    continue;
                }
                let inflow: i64 =
                    ins.iter().filter(|&&i| (t0..=t1).contains(&self.txs[i].ts)).map(|&i| self.usd_cents(i)).sum();
                let out: Vec<usize> =
                    outs.iter().copied().filter(|&i| (t0..=t1 + T3_OUT_WINDOW).contains(&self.txs[i].ts)).collect();
                let outflow: i64 = out.iter().map(|&i| self.usd_cents(i)).sum();
                if inflow > 0 && outflow * 10 >= inflow * 8 {
                    hit.extend(deps[a..=b].iter().copied());
                    hit.extend(out);
                }
            }
        }
        hit.into_iter().collect()
    }

    /// T4: an inflow (or a UTC day's inflows) followed within 72 hours by outflows within
    /// +-10% of it.
    pub(crate) fn t4(&self, acct: u32) -> Vec<usize> {
        let ins = self.inflows(acct);
        let outs = self.outflows(acct);
        let mut hit = BTreeSet::new();
        let mut check = |group: &[usize]| {
            let first = self.txs[group[0]].ts;
            let last = self.txs[group[group.len() - 1]].ts;
            let x: i64 = group.iter().map(|&i| self.usd_cents(i)).sum();
            let out: Vec<usize> = outs
                .iter()
                .copied()
                .filter(|&o| self.txs[o].ts > first && self.txs[o].ts <= last + T4_WINDOW)
                .collect();
            let y: i64 = out.iter().map(|&o| self.usd_cents(o)).sum();
            if x > 0 && y * 10 >= x * 9 && y * 10 <= x * 11 {
                hit.extend(group.iter().copied());
                hit.extend(out);
            }
        };
        for &i in &ins {
            check(&[i]);
        }
        let mut by_day: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for &i in &ins {
            by_day.entry(self.txs[i].ts.div_euclid(DAY)).or_default().push(i);
        }
        for group in by_day.values() {
            check(group);
        }
        hit.into_iter().collect()
    }

    /// T5: account younger than 180 days whose 30-day inflow exceeds 3x the declared
    /// monthly income, or $20,000 for a student.
    pub(crate) fn t5(&self, acct: u32, spec: &AccountSpec) -> Vec<usize> {
        let Some(opened) = spec.opened_at else { return Vec::new() };
        let mut limit = i64::MAX;
        if let Some(income) = spec.income_cents {
            limit = limit.min(3 * income);
        }
        if spec.occupation == "student" {
            limit = limit.min(T5_STUDENT_CENTS);
        }
        let ins = self.inflows(acct);
        let mut hit = BTreeSet::new();
        for a in 0..ins.len() {
            let t0 = self.txs[ins[a]].ts;
            let age = (t0 - self.start_epoch).div_euclid(DAY) - opened as i64;
            if age >= T5_MAX_AGE_DAYS {
                continue;
            }
            let window: Vec<usize> = ins[a..].iter().copied().take_while(|&j| self.txs[j].ts - t0 < 30 * DAY).collect();
            let total: i64 = window.iter().map(|&j| self.usd_cents(j)).sum();
            if total > limit {
                hit.extend(window);
            }
        }
        hit.into_iter().collect()
    }

    /// The most distinct counterparties sending to (`inbound`) or receiving from `acct`
    /// within any 7-day window.
    pub(crate) fn fan(&self, acct: u32, inbound: bool) -> usize {
        let v = if inbound { self.inflows(acct) } else { self.outflows(acct) };
        let other = |i: usize| if inbound { self.txs[i].src } else { self.txs[i].dst };
        let mut best = 0;
        for a in 0..v.len() {
            let set: BTreeSet<u32> = v[a..]
                .iter()
                .copied()
                .take_while(|&j| self.txs[j].ts - self.txs[v[a]].ts <= FAN_WINDOW)
                .map(other)
                .filter(|&c| c != NONE)
                .collect();
            best = best.max(set.len());
        }
        best
    }

    /// T7: a time-respecting simple cycle of 2-6 hops closing within 30 days, each hop
    /// carrying at least 85% of the previous hop's value.
    pub(crate) fn cycle(&self) -> bool {
        (0..self.txs.len()).any(|e| self.txs[e].src != NONE && self.extend_cycle(&mut vec![e]))
    }

    fn extend_cycle(&self, path: &mut Vec<usize>) -> bool {
        let first = &self.txs[path[0]];
        let last_i = path[path.len() - 1];
        let last = &self.txs[last_i];
        if path.len() >= 2 && last.dst == first.src {
            return true;
        }
        if path.len() == T7_MAX_HOPS {
            return false;
        }
        for j in 0..self.txs.len() {
            let t = &self.txs[j];
            if t.src != last.dst || t.ts <= last.ts || t.ts - first.ts > T7_WINDOW {
                continue;
            }
            if self.usd_cents(j) * 100 < self.usd_cents(last_i) * T7_KEEP_PCT {
                continue;
            }
            let revisits = path.iter().any(|&p| self.txs[p].src == t.dst);
            if revisits && t.dst != first.src {
                continue;
            }
            path.push(j);
            if self.extend_cycle(path) {
                return true;
            }
            path.pop();
        }
        false
    }

    fn accounts(&self) -> BTreeSet<u32> {
        self.txs.iter().flat_map(|t| [t.src, t.dst]).filter(|&a| a != NONE).collect()
    }

    /// T9: a source splitting across at least 2 intermediaries that re-converge on one
    /// sink, or at least 2 sources gathering in a hub that scatters to at least 2 sinks,
    /// with the value out within 15% of the value in.
    pub(crate) fn scatter_gather(&self) -> bool {
        let close = |a: i64, b: i64| a > 0 && (b - a).abs() * 100 <= a * T9_TOLERANCE_PCT;
        let accts = self.accounts();
        for &s in &accts {
            for &t in &accts {
                if s == t {
                    continue;
                }
                let (mut mids, mut sum_in, mut sum_out) = (0, 0, 0);
                for &m in &accts {
                    if m == s || m == t {
                        continue;
                    }
                    let ins = self.select(|x| x.src == s && x.dst == m);
                    let Some(&first) = ins.first() else { continue };
                    let outs = self.select(|x| x.src == m && x.dst == t && x.ts > self.txs[first].ts);
                    if outs.is_empty() {
                        continue;
                    }
                    mids += 1;
                    sum_in += ins.iter().map(|&i| self.usd_cents(i)).sum::<i64>();
                    sum_out += outs.iter().map(|&i| self.usd_cents(i)).sum::<i64>();
                }
                if mids >= 2 && close(sum_in, sum_out) {
                    return true;
                }
            }
        }
        accts.iter().any(|&h| {
            let ins = self.inflows(h);
            let Some(&first) = ins.first() else { return false };
            let outs: Vec<usize> =
                self.outflows(h).into_iter().filter(|&o| self.txs[o].ts > self.txs[first].ts).collect();
            let sources: BTreeSet<u32> = ins.iter().map(|&i| self.txs[i].src).filter(|&a| a != NONE).collect();
            let sinks: BTreeSet<u32> = outs.iter().map(|&o| self.txs[o].dst).filter(|&a| a != NONE).collect();
            let sum_in: i64 = ins.iter().map(|&i| self.usd_cents(i)).sum();
            let sum_out: i64 = outs.iter().map(|&o| self.usd_cents(o)).sum();
            sources.len() >= 2 && sinks.len() >= 2 && close(sum_in, sum_out)
        })
    }

    /// T10: two senders that both pay the same two receivers (a K2,2 or larger).
    pub(crate) fn bipartite(&self) -> bool {
        let edges: BTreeSet<(u32, u32)> =
            self.txs.iter().filter(|t| t.src != NONE && t.dst != NONE).map(|t| (t.src, t.dst)).collect();
        let senders: BTreeSet<u32> = edges.iter().map(|e| e.0).collect();
        for &a1 in &senders {
            for &a2 in senders.range(a1 + 1..) {
                let common = edges.iter().filter(|e| e.0 == a1 && edges.contains(&(a2, e.1))).count();
                if common >= 2 {
                    return true;
                }
            }
        }
        false
    }

    /// T11 on-ramp: a cash deposit into an account that funds an exchange within 48 hours.
    pub(crate) fn on_ramp(&self, is_exchange: impl Fn(u32) -> bool) -> bool {
        self.txs.iter().filter(|d| d.channel == Channel::CashDeposit).any(|d| {
            self.txs
                .iter()
                .any(|f| f.src == d.dst && is_exchange(f.dst) && f.ts > d.ts && f.ts - d.ts <= T11_RAMP_WINDOW)
        })
    }

    /// T11 peel chain: the longest chain of wallets each sending exactly two crypto
    /// outputs, the larger 90-99% of the two and going to the next wallet of the chain.
    pub(crate) fn peel_hops(&self) -> usize {
        let mut next: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
        for w in self.accounts() {
            let outs: Vec<&Tx> = self.txs.iter().filter(|t| t.src == w && t.channel == Channel::Crypto).collect();
            if outs.len() != 2 {
                continue;
            }
            let (big, small) = if outs[0].amount >= outs[1].amount { (outs[0], outs[1]) } else { (outs[1], outs[0]) };
            let total = big.amount + small.amount;
            if big.amount * 100 >= total * T11_SPLIT_PCT.0 && big.amount * 100 <= total * T11_SPLIT_PCT.1 {
                next.insert(w, big.dst);
            }
        }
        let mut best = 0;
        for &start in next.keys() {
            let (mut w, mut n) = (start, 0);
            while let Some(&nw) = next.get(&w) {
                n += 1;
                w = nw;
                if n > next.len() {
                    break;
                }
            }
            best = best.max(n);
        }
        best
    }

    /// Which of the account-level typologies hold for `acct` (for near-miss checks).
    pub(crate) fn any_hit(&self, acct: u32, spec: &AccountSpec) -> Option<&'static str> {
        if !self.t1(acct).is_empty() {
            return Some("T1");
        }
        if !self.t2(acct).is_empty() {
            return Some("T2");
        }
        if !self.t3(acct).is_empty() {
            return Some("T3");
        }
        if !self.t4(acct).is_empty() {
            return Some("T4");
        }
        if !self.t5(acct, spec).is_empty() {
            return Some("T5");
        }
        if self.fan(acct, true) > 3 || self.fan(acct, false) > 3 {
            return Some("T8");
        }
        None
    }
}

/// The CAS-number pattern of the brief, `\b\d{2,7}-\d{2}-\d\b`, without a regex crate.
pub(crate) fn has_cas_number(text: &str) -> bool {
    let b = text.as_bytes();
    let word = |i: usize| i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_');
    let digits_at = |i: usize| {
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j - i
    };
    for start in 0..b.len() {
        if !b[start].is_ascii_digit() || (start > 0 && word(start - 1)) {
            continue;
        }
        let n1 = digits_at(start);
        if !(2..=7).contains(&n1) || b.get(start + n1) != Some(&b'-') {
            continue;
        }
        let p = start + n1 + 1;
        if digits_at(p) != 2 || b.get(p + 2) != Some(&b'-') {
            continue;
        }
        let q = p + 3;
        if digits_at(q) == 1 && !word(q + 1) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_pattern_matches_the_brief() {
        assert!(has_cas_number("CAS 5449-12-7 BMK glycidate"));
        assert!(has_cas_number("order: 103-79-7, 5 kg"));
        assert!(has_cas_number("13605-48-6"));
        assert!(!has_cas_number("lot 2025-11-3A"));
        assert!(!has_cas_number("ref 12-345-6"));
        assert!(!has_cas_number("INV 10423"));
        assert!(!has_cas_number("A5449-12-7"));
        assert!(!has_cas_number("12345678-12-7"));
    }
}
