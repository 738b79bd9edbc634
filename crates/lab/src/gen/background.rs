//! Legitimate background activity, one day at a time: payroll, card spending, P2P, rent,
//! bills, ATM cash, restaurants' nightly cash deposits, remittances through
//! money-services businesses, tuition and living money from Chinese families, China
//! trade, retail crypto, marketplaces, and domestic Mexican and Chinese payments.
//!
//! Owns: the look-alike populations. Several deliberately resemble a typology (a
//! restaurant's big Monday deposit, an MSB's fan-in and next-day settlement, a wholesaler
//! passing buyers' money to suppliers), but restaurants never reach the structuring
//! defaults: at most one day with a deposit in [$8,000, $10,000) per eight days.
//! Must not: label anything, or touch scheme accounts.

use chrono::{Datelike, NaiveDate};

use super::GenStyle;
use super::accounts::{Layout, Range, wallet_style};
use super::fx::Fx;
use super::model::{Channel, Cur, DAY, HOUR, IdStyle, Memo, NONE, Tx, cents};
use super::rng::{Rng, mix};
use super::vary;

const STREAM_DAY: u64 = 0xB0;
const STREAM_FIXED: u64 = 0xB1;

/// Shares (per mille) of the day's unscheduled budget; card spending fills the rest.
const SHARES: [(Act, u32); 10] = [
    (Act::P2p, 110),
    (Act::Atm, 70),
    (Act::CashDeposit, 25),
    (Act::Bills, 40),
    (Act::B2b, 60),
    (Act::Remittance, 90),
    (Act::Crypto, 60),
    (Act::ChinaTrade, 45),
    (Act::Mexico, 35),
    (Act::China, 35),
];

#[derive(Clone, Copy)]
enum Act {
    P2p,
    Atm,
    CashDeposit,
    Bills,
    B2b,
    Remittance,
    Crypto,
    ChinaTrade,
    Mexico,
    China,
}

/// Per-run state of the background generator.
pub(crate) struct Background<'a> {
    l: &'a Layout,
    fx: &'a Fx,
    seed: u64,
    start: NaiveDate,
    start_epoch: i64,
    /// Home region of every background account.
    home: Vec<&'static str>,
    /// Declared monthly income in cents (0 = none) of every background account.
    income: Vec<u32>,
    /// Restaurants: typical nightly deposit (cents) and the last day with a deposit in
    /// the structuring band.
    rest_base: Vec<i64>,
    rest_last_band: Vec<i64>,
    /// USD cents each MSB took in today / yesterday (settled to its Mexican payout
    /// account the next day).
    msb_today: Vec<i64>,
    msb_yesterday: Vec<i64>,
    style: GenStyle,
    /// `varied` only: per employer (first employed person, staff, cadence 0 biweekly /
    /// 1 monthly / 2 semimonthly); per restaurant the median nightly takings (cents), the
    /// lognormal shape, the closed weekday (7 = open daily), how many nights it saves up
    /// before depositing, and the takings not yet deposited.
    staff: Vec<(u32, u32, u8)>,
    rest_median: Vec<f64>,
    rest_sigma: Vec<f64>,
    rest_closed: Vec<u32>,
    rest_every: Vec<u32>,
    rest_held: Vec<i64>,
    // per-day
    rng: Rng,
    day_start: i64,
    day: u32,
}

impl<'a> Background<'a> {
    pub(crate) fn new(
        l: &'a Layout,
        fx: &'a Fx,
        seed: u64,
        start: NaiveDate,
        start_epoch: i64,
        home: Vec<&'static str>,
        income: Vec<u32>,
    ) -> Self {
        let mut r = Rng::stream(seed, STREAM_FIXED, 0);
        let rest_base = (0..l.restaurants.len).map(|_| r.range(1_200, 5_200) * 100).collect();
        Background {
            l,
            fx,
            seed,
            start,
            start_epoch,
            home,
            income,
            rest_base,
            rest_last_band: vec![i64::MIN / 2; l.restaurants.len as usize],
            msb_today: vec![0; l.msb_us.len as usize],
            msb_yesterday: vec![0; l.msb_us.len as usize],
            style: GenStyle::Classic,
            staff: Vec::new(),
            rest_median: Vec::new(),
            rest_sigma: Vec::new(),
            rest_closed: Vec::new(),
            rest_every: Vec::new(),
            rest_held: Vec::new(),
            rng: Rng::new(0),
            day_start: 0,
            day: 0,
        }
    }

    /// The style of the scheduled populations (`varied`: see `payroll_varied` and the
    /// functions after it); draws every fixed per-employer and per-restaurant value.
    pub(crate) fn with_style(mut self, style: GenStyle) -> Self {
        let mut v = Rng::stream(self.seed, STREAM_FIXED, 0x40);
        let (mut staff, mut next) = (Vec::new(), 0u32);
        let l = self.l;
        let n_rest = if style == GenStyle::Varied { l.restaurants.len as usize } else { 0 };
        let (mut rest_median, mut rest_sigma, mut rest_closed, mut rest_every) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if style == GenStyle::Varied {
            for _ in 0..l.employers.len {
                let n = v.range(15, 60) as u32;
                // a remainder too small for an employer stays unemployed
                let n = if l.employed - next < 15 { 0 } else { n.min(l.employed - next) };
                staff.push((next, n, v.below(3) as u8));
                next += n;
            }
            for _ in 0..n_rest {
                rest_median.push(v.range(1_200, 5_000) as f64 * 100.0);
                rest_sigma.push(0.30 + 0.25 * v.unit());
                rest_closed.push(match v.below(10) {
                    0..=6 => 6,
                    7 | 8 => 0,
                    _ => 7,
                });
                rest_every.push(if v.below(10) < 7 { 1 } else { v.range(2, 3) as u32 });
            }
        }
        self.style = style;
        self.staff = staff;
        self.rest_median = rest_median;
        self.rest_sigma = rest_sigma;
        self.rest_closed = rest_closed;
        self.rest_every = rest_every;
        self.rest_held = vec![0; n_rest];
        self
    }

    /// A fixed per-entity number (rent, tuition), stable across days.
    fn fixed(&self, tag: u64, key: u64) -> u64 {
        mix(self.seed, STREAM_FIXED ^ tag, key)
    }

    /// A time on the current day between hours `lo` and `hi` (UTC, `hi` <= 24).
    fn t(&mut self, lo: i64, hi: i64) -> i64 {
        self.day_start + self.rng.range(lo * HOUR, hi * HOUR - 1)
    }

    /// `ts + delay`, kept on the current day.
    fn later(&mut self, ts: i64, min_s: i64, max_s: i64) -> i64 {
        (ts + self.rng.range(min_s, max_s)).min(self.day_start + DAY - 1)
    }

    /// Generates day `d`'s background: exactly `budget` transactions (in no particular
    /// order; the caller sorts the day).
    pub(crate) fn day(&mut self, d: u32, budget: usize, out: &mut Vec<Tx>) {
        self.rng = Rng::stream(self.seed, STREAM_DAY, d as u64);
        self.day = d;
        self.day_start = self.start_epoch + d as i64 * DAY;
        let date = self.start + chrono::Days::new(d as u64);
        let wd = date.weekday().num_days_from_monday();
        let dom = date.day();
        let first = out.len();

        // Scheduled activity.
        if self.style == GenStyle::Classic {
            self.msb_settlement(out);
            self.payroll(wd, dom, out);
            self.restaurants(wd, out);
            if dom <= 3 {
                self.rent(dom, out);
            }
            self.tuition(date, out);
            self.marketplace_payouts(wd, out);
        } else {
            self.msb_settlement(out);
            self.payroll_varied(wd, date, out);
            self.restaurants_varied(wd, out);
            self.rent_varied(dom, out);
            self.subscriptions(dom, out);
            self.tuition(date, out);
            self.marketplace_payouts(wd, out);
        }

        // Unscheduled activity, by share of what is left.
        let scheduled = out.len() - first;
        let rest = budget.saturating_sub(scheduled);
        for (act, share) in SHARES {
            let target = out.len() + rest * share as usize / 1000;
            while out.len() < target {
                self.episode(act, out);
            }
        }
        while out.len() - first < budget {
            self.card(out);
        }
        out.truncate(first + budget);
    }

    fn episode(&mut self, act: Act, out: &mut Vec<Tx>) {
        match act {
            Act::P2p => self.p2p(out),
            Act::Atm => self.atm(out),
            Act::CashDeposit => self.cash_deposit(out),
            Act::Bills => self.bills(out),
            Act::B2b => self.b2b(out),
            Act::Remittance => self.remittance(out),
            Act::Crypto => self.crypto(out),
            Act::ChinaTrade => self.china_trade(out),
            Act::Mexico => self.mexico(out),
            Act::China => self.china(out),
        }
    }

    // -- scheduled ------------------------------------------------------------------

    fn payroll(&mut self, wd: u32, dom: u32, out: &mut Vec<Tx>) {
        let l = self.l;
        let n_emp = l.employers.len as u64;
        let week = (self.day_start / DAY + 3) / 7; // weeks since a Monday
        let semimonthly_day = (wd < 5 && (dom == 1 || dom == 15)) || (wd == 0 && matches!(dom, 2 | 3 | 16 | 17));
        for e in 0..n_emp {
            let semimonthly = e % 3 == 0;
            let pays = if semimonthly { semimonthly_day } else { wd == 4 && (week as u64 + e).is_multiple_of(2) };
            if !pays {
                continue;
            }
            let employer = l.employers.start + e as u32;
            let lo = e * l.employed as u64 / n_emp;
            let hi = (e + 1) * l.employed as u64 / n_emp;
            for p in lo..hi {
                let person = l.persons.start + p as u32;
                let gross = self.income[person as usize] as i64;
                let net_pct = 70 + (self.fixed(1, p) % 10) as i64;
                let per_period = if semimonthly { gross / 2 } else { gross * 12 / 26 };
                let amount = per_period * net_pct / 100 + self.rng.range(0, 4_000);
                let ts = self.t(10, 13);
                out.push(
                    Tx::new(ts, employer, person, cents(amount), Cur::Usd, Channel::Ach).memo(Memo::Static("PAYROLL")),
                );
            }
        }
    }

    /// `varied` payroll: employers of 15-60 staff paying every other Friday, on the last
    /// business day of the month, or on the 15th and the last business day, by ACH; net
    /// pay from the declared income, hourly staff varying by +-15% a period, a rare bonus;
    /// about one in eight staff joins during the ledger and one in eight leaves.
    fn payroll_varied(&mut self, wd: u32, date: NaiveDate, out: &mut Vec<Tx>) {
        if wd >= 5 {
            return;
        }
        let l = self.l;
        let dom = date.day();
        let next_bd = date + chrono::Days::new(if wd == 4 { 3 } else { 1 });
        let last_bd = next_bd.month() != date.month();
        let mid = (dom == 15) || (wd == 4 && (dom == 13 || dom == 14));
        let week = (self.day_start / DAY + 3) / 7;
        for e in 0..self.staff.len() {
            let (first, n, cadence) = self.staff[e];
            let pays = match cadence {
                0 => wd == 4 && (week as u64 + e as u64).is_multiple_of(2),
                1 => last_bd,
                _ => last_bd || mid,
            };
            if !pays || n == 0 {
                continue;
            }
            let employer = l.employers.start + e as u32;
            for p in first..first + n {
                let h = self.fixed(6, p as u64);
                let joins = h % 100 < 12;
                let leaves = (h >> 8) % 100 < 12;
                let day = self.day as u64;
                if (joins && day < (h >> 16) % 120) || (leaves && day >= 20 + (h >> 32) % 200) {
                    continue;
                }
                let person = l.persons.start + p;
                let gross = self.income[person as usize] as i64;
                let net_pct = 68 + (self.fixed(1, p as u64) % 15) as i64;
                let per_period = match cadence {
                    0 => gross * 12 / 26,
                    1 => gross,
                    _ => gross / 2,
                };
                let mut amount = per_period * net_pct / 100;
                if (h >> 40) % 10 < 4 {
                    amount = amount * self.rng.range(85, 115) / 100; // hourly
                }
                if self.rng.below(100) == 0 {
                    amount += amount * self.rng.range(10, 50) / 100; // bonus
                }
                let ts = self.t(5, 12);
                let tx = Tx::new(ts, employer, person, cents(amount.max(100)), Cur::Usd, Channel::Ach);
                out.push(tx.memo(Memo::Static("PAYROLL")));
            }
        }
    }

    /// `varied` restaurants: nightly takings drawn from a lognormal (so some nights land
    /// between $8,000 and $10,000, and some above, by chance), closed one weekday or none,
    /// deposited each night or saved up over two or three nights.
    fn restaurants_varied(&mut self, wd: u32, out: &mut Vec<Tx>) {
        let factor = [100.0, 95.0, 100.0, 110.0, 135.0, 150.0, 120.0][wd as usize] / 100.0;
        for i in 0..self.rest_median.len() {
            if self.rest_closed[i] != wd {
                let x = vary::lognormal(&mut self.rng, self.rest_median[i] * factor, self.rest_sigma[i]);
                self.rest_held[i] += (x as i64).max(5_000);
            }
            let every = self.rest_every[i];
            if self.rest_held[i] == 0 || !(self.day + i as u32).is_multiple_of(every) {
                continue;
            }
            let amount = std::mem::take(&mut self.rest_held[i]);
            let r = self.l.restaurants.start + i as u32;
            let ts = if self.rng.below(4) == 0 { self.t(13, 17) } else { self.t(21, 24) };
            let home = self.home[r as usize];
            out.push(Tx::new(ts, NONE, r, cents(amount), Cur::Usd, Channel::CashDeposit).at(home));
        }
    }

    /// `varied` rent: each renter on its own day of the first five, by ACH, check or P2P.
    fn rent_varied(&mut self, dom: u32, out: &mut Vec<Tx>) {
        let l = self.l;
        if dom > 5 {
            return;
        }
        for p in 0..l.renters {
            let h = self.fixed(2, p as u64);
            if 1 + (h >> 32) as u32 % 5 != dom {
                continue;
            }
            let person = l.persons.start + p;
            let rent = (900 + (h % 2_500) as i64) / 5 * 5 * 100;
            let channel = match p % 5 {
                0 => Channel::Check,
                1 => Channel::P2p,
                _ => Channel::Ach,
            };
            let ts = self.t(12, 20);
            let landlord = l.landlords.at(p);
            out.push(Tx::new(ts, person, landlord, cents(rent), Cur::Usd, channel).memo(Memo::Static("rent")));
        }
    }

    /// `varied` subscriptions: about as many people as pay rent hold 1-3 monthly plans,
    /// each a fixed price on a fixed day, by card or ACH.
    fn subscriptions(&mut self, dom: u32, out: &mut Vec<Tx>) {
        const PRICES: [i64; 10] = [599, 799, 999, 1_299, 1_499, 1_549, 1_999, 2_499, 4_999, 7_999];
        let l = self.l;
        for p in 0..l.renters {
            let person = l.persons.at(p * 7 + 3);
            let k = 1 + self.fixed(8, p as u64) % 3;
            for s in 0..k {
                let h = self.fixed(9, (p as u64) << 2 | s);
                if 1 + (h % 28) as u32 != dom {
                    continue;
                }
                let merchant = l.merchants.at((h >> 8) as u32);
                let price = PRICES[((h >> 24) % PRICES.len() as u64) as usize];
                let channel = if (h >> 40) % 10 < 7 { Channel::Card } else { Channel::Ach };
                let ts = self.t(6, 14);
                let tx = Tx::new(ts, person, merchant, cents(price), Cur::Usd, channel);
                out.push(tx.memo(Memo::Static("subscription")));
            }
        }
    }

    fn restaurants(&mut self, wd: u32, out: &mut Vec<Tx>) {
        if wd == 6 {
            return; // closed Sundays: Monday's deposit carries the weekend
        }
        let factor = [170, 100, 100, 105, 120, 130, 0][wd as usize];
        let today = self.day as i64;
        for i in 0..self.l.restaurants.len as usize {
            let noise = self.rng.range(75, 125);
            let mut amount = self.rest_base[i] * factor / 100 * noise / 100;
            amount -= amount % 100 - self.rng.range(0, 99); // keep a few odd dollars
            if (800_000..1_000_000).contains(&amount) {
                if today - self.rest_last_band[i] >= 8 {
                    self.rest_last_band[i] = today;
                } else if amount >= 900_000 {
                    amount = self.rng.range(1_000_000, 1_180_000); // a CTR day, not structuring
                } else {
                    amount = self.rng.range(720_000, 795_000);
                }
            }
            let r = self.l.restaurants.start + i as u32;
            let ts = self.t(21, 24);
            let home = self.home[r as usize];
            out.push(Tx::new(ts, NONE, r, cents(amount), Cur::Usd, Channel::CashDeposit).at(home));
        }
    }

    fn rent(&mut self, dom: u32, out: &mut Vec<Tx>) {
        let l = self.l;
        for p in (dom - 1..l.renters).step_by(3) {
            let person = l.persons.start + p;
            let rent = (900 + (self.fixed(2, p as u64) % 2_500) as i64) / 5 * 5 * 100;
            let channel = if p % 5 == 0 { Channel::Check } else { Channel::Ach };
            let ts = self.t(12, 20);
            let landlord = l.landlords.at(p);
            out.push(Tx::new(ts, person, landlord, cents(rent), Cur::Usd, channel).memo(Memo::Static("rent")));
        }
    }

    fn tuition(&mut self, date: NaiveDate, out: &mut Vec<Tx>) {
        let l = self.l;
        let dom = date.day();
        let (month, year) = (date.month(), date.year());
        // Living money: each student on a fixed day of the month, from the family in China.
        for s in 0..l.students.len {
            if s % 28 + 1 != dom {
                continue;
            }
            let student = l.students.start + s;
            let family = l.families.at(s);
            let usd = (1_000 + (self.fixed(3, s as u64) % 1_400) as i64) * 100 + self.rng.range(0, 9_999);
            let ts = self.t(1, 9);
            let (amount, cur) = if s % 5 < 3 {
                (self.fx.amount_for_usd(usd, 0, Cur::Cny, self.day), Cur::Cny)
            } else {
                (cents(usd / 100 * 100), Cur::Usd)
            };
            out.push(Tx::new(ts, family, student, amount, cur, Channel::Wire).memo(Memo::Static("living expenses")));
        }
        // Tuition, once a term: half the families pay the university directly; the others
        // wire it to the student, who pays the university 1-3 days later (a legitimate
        // pass-through, and more than $20,000 in a month into an old student account).
        let window = match month {
            1 => Some(("spring", 6, 15)),
            8 => Some(("fall", 12, 17)),
            _ => None,
        };
        if let Some((term, first, len)) = window {
            for s in 0..l.students.len {
                let h = self.fixed(4, (s as u64) << 16 | year as u64);
                let family_day = first + (h % len) as u32;
                let direct = (h >> 20).is_multiple_of(2);
                let student_day = family_day + 1 + ((h >> 24) % 3) as u32;
                let usd = (9_000 + (self.fixed(5, s as u64) % 19_000) as i64) * 100;
                let (student, family, university) = (l.students.start + s, l.families.at(s), l.universities.at(s));
                let memo = || Memo::text(format!("tuition {term} {year}, student no. {}", 20_000 + s));
                if dom == family_day {
                    let ts = self.t(1, 9);
                    let to = if direct { university } else { student };
                    out.push(Tx::new(ts, family, to, cents(usd), Cur::Usd, Channel::Wire).memo(memo()));
                } else if !direct && dom == student_day {
                    let ts = self.t(14, 22);
                    let channel = if s % 2 == 0 { Channel::Ach } else { Channel::Wire };
                    out.push(Tx::new(ts, student, university, cents(usd), Cur::Usd, channel).memo(memo()));
                }
            }
        }
    }

    fn msb_settlement(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        std::mem::swap(&mut self.msb_today, &mut self.msb_yesterday);
        for m in 0..l.msb_us.len as usize {
            let amount = self.msb_yesterday[m];
            self.msb_today[m] = 0;
            if amount <= 0 {
                continue;
            }
            let ts = self.t(15, 17);
            let tx = Tx::new(
                ts,
                l.msb_us.start + m as u32,
                l.msb_mx.start + m as u32,
                cents(amount),
                Cur::Usd,
                Channel::Wire,
            );
            out.push(tx.memo(Memo::Static("prefunding")));
        }
    }

    fn marketplace_payouts(&mut self, wd: u32, out: &mut Vec<Tx>) {
        let l = self.l;
        for s in (wd..l.sellers.len).step_by(7) {
            let amount = self.rng.skewed(15_000, 1_200_000, 2);
            let ts = self.t(10, 14);
            let tx = Tx::new(ts, l.marketplaces.at(s), l.sellers.start + s, cents(amount), Cur::Usd, Channel::Ach);
            out.push(tx.memo(Memo::Static("seller payout")));
        }
    }

    // -- unscheduled ----------------------------------------------------------------

    fn card(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        let who = l.spenders().pick(&mut self.rng);
        let shop =
            if self.rng.below(5) == 0 { l.marketplaces.pick(&mut self.rng) } else { l.merchants.pick(&mut self.rng) };
        let amount = self.rng.skewed(200, 45_000, 3);
        let ts = self.day_start + (13 * HOUR + self.rng.range(0, 16 * HOUR - 1)) % DAY;
        out.push(Tx::new(ts, who, shop, cents(amount), Cur::Usd, Channel::Card));
    }

    fn p2p(&mut self, out: &mut Vec<Tx>) {
        let s = self.l.spenders();
        let a = s.pick(&mut self.rng);
        let mut b = s.pick(&mut self.rng);
        if a == b {
            b = s.at(s.offset(a) + 1);
        }
        let amount = self.rng.skewed(500, 60_000, 2) / 100 * 100;
        let memo = *self.rng.pick(&["", "dinner", "rent split", "thanks", "tickets", "groceries", "birthday"]);
        let ts = self.t(12, 24);
        // one in ten is a book transfer between two customers of the same bank
        let channel = if self.rng.below(10) == 0 { Channel::Internal } else { Channel::P2p };
        let memo = if memo.is_empty() { Memo::None } else { Memo::Static(memo) };
        out.push(Tx::new(ts, a, b, cents(amount), Cur::Usd, channel).memo(memo));
    }

    fn atm(&mut self, out: &mut Vec<Tx>) {
        let who = self.l.persons.pick(&mut self.rng);
        let amount = self.rng.skewed(1, 40, 2) * 2_000;
        let at = if self.rng.below(10) == 0 {
            super::model::other_state(&mut self.rng, self.home[who as usize])
        } else {
            self.home[who as usize]
        };
        let ts = self.t(12, 24);
        out.push(Tx::new(ts, who, NONE, cents(amount), Cur::Usd, Channel::CashWithdrawal).at(at));
    }

    fn cash_deposit(&mut self, out: &mut Vec<Tx>) {
        let who = self.l.persons.pick(&mut self.rng);
        let amount = self.rng.skewed(4_000, 300_000, 3);
        let ts = self.t(14, 23);
        let home = self.home[who as usize];
        out.push(Tx::new(ts, NONE, who, cents(amount), Cur::Usd, Channel::CashDeposit).at(home));
    }

    fn bills(&mut self, out: &mut Vec<Tx>) {
        let who = self.l.spenders().pick(&mut self.rng);
        let to = self.l.merchants.pick(&mut self.rng);
        let amount = self.rng.skewed(4_000, 35_000, 2);
        let ts = self.t(10, 22);
        out.push(Tx::new(ts, who, to, cents(amount), Cur::Usd, Channel::Ach).memo(Memo::Static("utility bill")));
    }

    fn b2b(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        let from_ranges: [&Range; 5] = [&l.merchants, &l.employers, &l.restaurants, &l.landlords, &l.sellers];
        let from = self.rng.pick(&from_ranges).pick(&mut self.rng);
        let mut to = l.merchants.pick(&mut self.rng);
        if to == from {
            to = l.merchants.at(l.merchants.offset(to) + 1);
        }
        let amount = self.rng.skewed(30_000, 4_500_000, 3);
        let channel = match self.rng.below(20) {
            0..=11 => Channel::Ach,
            12..=16 => Channel::Check,
            _ => Channel::Wire,
        };
        let ts = self.t(13, 22);
        let memo = Memo::Num("INV ", self.rng.range(10_000, 99_999) as u32);
        out.push(Tx::new(ts, from, to, cents(amount), Cur::Usd, channel).memo(memo));
    }

    fn remittance(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        // A few senders send often: skew the pick towards low offsets.
        let off = self.rng.skewed(0, l.remit_senders.len as i64 - 1, 2) as u32;
        let sender = l.remit_senders.start + off;
        let recipient = l.remit_recipients.at(off);
        let m = off % l.msb_us.len;
        let usd = self.rng.skewed(10_000, 150_000, 2) / 100 * 100;
        let channel = *self.rng.pick(&[Channel::Ach, Channel::Card, Channel::P2p]);
        let ts = self.t(13, 24);
        out.push(
            Tx::new(ts, sender, l.msb_us.start + m, cents(usd), Cur::Usd, channel).memo(Memo::Static("remittance")),
        );
        self.msb_today[m as usize] += usd;
        let payout = self.fx.amount_for_usd(usd, -15_000, Cur::Mxn, self.day);
        let ts2 = self.later(ts, 300, 4 * HOUR);
        out.push(
            Tx::new(ts2, l.msb_mx.start + m, recipient, payout, Cur::Mxn, Channel::Wire)
                .memo(Memo::Static("SPEI remesa")),
        );
    }

    fn crypto(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        let off = l.crypto_users.pick(&mut self.rng) - l.crypto_users.start;
        let user = l.crypto_users.start + off;
        let wallet = l.wallets.start + off;
        let ex = &l.exchanges;
        let e = (off % 2) as usize;
        let (hot, cur) = match wallet_style(off) {
            IdStyle::Btc => (ex.us_btc[e], Cur::Btc),
            IdStyle::Eth => (ex.us_eth[e], Cur::Eth),
            _ => (ex.us_tron[e], Cur::Usdt),
        };
        match self.rng.below(20) {
            0..=8 => {
                // buy: fund the exchange by ACH, withdraw to the own wallet
                let usd = self.rng.skewed(5_000, 300_000, 2) / 100 * 100;
                let ts = self.t(12, 22);
                out.push(
                    Tx::new(ts, user, ex.us_bank[e], cents(usd), Cur::Usd, Channel::Ach)
                        .memo(Memo::Static("crypto purchase")),
                );
                let coins = self.fx.amount_for_usd(usd, -15_000, cur, self.day);
                let ts2 = self.later(ts, 600, 3 * HOUR);
                out.push(Tx::new(ts2, hot, wallet, coins, cur, Channel::Crypto));
            }
            9..=13 => {
                // sell: send coins to the exchange, cash out by ACH
                let usd = self.rng.skewed(10_000, 200_000, 2);
                let coins = self.fx.amount_for_usd(usd, 0, cur, self.day);
                let ts = self.t(12, 20);
                out.push(Tx::new(ts, wallet, hot, coins, cur, Channel::Crypto));
                let ts2 = self.later(ts, HOUR, 4 * HOUR);
                out.push(
                    Tx::new(ts2, ex.us_bank[e], user, cents(usd * 99 / 100), Cur::Usd, Channel::Ach)
                        .memo(Memo::Static("withdrawal")),
                );
            }
            14..=17 => {
                // wallet to wallet on the same chain
                let n = l.wallets.len;
                let r = off % 3;
                let same = (n - r).div_ceil(3);
                let other = if same > 1 {
                    let mut j = self.rng.below(same as u64) as u32;
                    if r + 3 * j == off {
                        j = (j + 1) % same;
                    }
                    l.wallets.start + r + 3 * j
                } else {
                    hot
                };
                let usd = self.rng.skewed(1_000, 100_000, 3);
                let coins = self.fx.amount_for_usd(usd, 0, cur, self.day);
                let ts = self.t(0, 24);
                out.push(Tx::new(ts, wallet, other, coins, cur, Channel::Crypto));
            }
            _ => {
                // a small cash deposit, then a purchase the same day (the on-ramp look-alike)
                let usd = self.rng.range(200, 2_500) * 100;
                let ts = self.t(13, 17);
                let home = self.home[user as usize];
                out.push(Tx::new(ts, NONE, user, cents(usd), Cur::Usd, Channel::CashDeposit).at(home));
                let buy = usd * self.rng.range(80, 100) / 100 / 100 * 100;
                let ts2 = self.later(ts, 2 * HOUR, 7 * HOUR);
                out.push(
                    Tx::new(ts2, user, ex.us_bank[e], cents(buy), Cur::Usd, Channel::Ach)
                        .memo(Memo::Static("crypto purchase")),
                );
            }
        }
    }

    fn china_trade(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        let inv = self.rng.range(10_000, 99_999);
        match self.rng.below(20) {
            0..=8 => {
                // an importer pays one of its regular suppliers
                let i = l.importers.pick(&mut self.rng);
                let k = self.rng.below(3) as u32;
                let sup_off = (l.importers.offset(i) * 7 + k * 3) % l.cn_suppliers.len;
                let sup = l.cn_suppliers.start + sup_off;
                let usd = self.rng.skewed(400_000, 9_000_000, 2) / 100 * 100;
                let memo = match sup_off % 4 {
                    0 => {
                        if self.rng.below(5) == 0 {
                            // a harmless chemical quoted by CAS number: the T12 look-alike
                            let (name, cas) = *self.rng.pick(&[
                                ("titanium dioxide", "13463-67-7"),
                                ("polyethylene resin", "9002-88-4"),
                                ("iron oxide pigment", "1309-37-1"),
                                ("cellulose powder", "9004-34-6"),
                            ]);
                            Memo::text(format!("INV {inv} {name} CAS {cas}, 2 t"))
                        } else {
                            Memo::text(format!("INV {inv} industrial solvents, 20 drums"))
                        }
                    }
                    1 => Memo::text(format!("INV {inv} LED panels")),
                    2 => Memo::text(format!("INV {inv} cotton fabric")),
                    _ => Memo::Num("INV ", inv as u32),
                };
                let ts = self.t(13, 21);
                out.push(Tx::new(ts, i, sup, cents(usd), Cur::Usd, Channel::Wire).memo(memo));
            }
            9..=13 => {
                // a US customer pays an importer
                let from = l.merchants.pick(&mut self.rng);
                let to = l.importers.pick(&mut self.rng);
                let usd = self.rng.skewed(200_000, 4_000_000, 2);
                let ts = self.t(13, 22);
                out.push(Tx::new(ts, from, to, cents(usd), Cur::Usd, Channel::Ach).memo(Memo::Num("INV ", inv as u32)));
            }
            _ => {
                // a foreign buyer pays a wholesaler, which buys the goods from China
                let b = l.foreign_buyers.pick(&mut self.rng);
                let w = l.wholesalers.pick(&mut self.rng);
                let usd = self.rng.skewed(800_000, 7_000_000, 2) / 100 * 100;
                let mexican = l.foreign_buyers.offset(b).is_multiple_of(4) || l.foreign_buyers.offset(b) % 4 == 3;
                let ts = self.t(13, 18);
                let (amount, cur) = if mexican && self.rng.below(5) < 2 {
                    (self.fx.amount_for_usd(usd, 0, Cur::Mxn, self.day), Cur::Mxn)
                } else {
                    (cents(usd), Cur::Usd)
                };
                out.push(
                    Tx::new(ts, b, w, amount, cur, Channel::Wire)
                        .memo(Memo::text(format!("PO {inv} phones and accessories"))),
                );
                let sup = l.cn_suppliers.start
                    + (1 + 4 * self.rng.below(l.cn_suppliers.len.div_ceil(4) as u64) as u32)
                        .min(l.cn_suppliers.len - 1);
                let cost = usd * self.rng.range(82, 96) / 100 / 100 * 100;
                let ts2 = self.later(ts, HOUR, 6 * HOUR);
                out.push(
                    Tx::new(ts2, w, sup, cents(cost), Cur::Usd, Channel::Wire)
                        .memo(Memo::text(format!("INV {} handsets", inv + 7))),
                );
            }
        }
    }

    fn mexico(&mut self, out: &mut Vec<Tx>) {
        let p = self.l.mx_persons;
        let a = p.pick(&mut self.rng);
        let b = p.at(p.offset(a) + 1 + self.rng.below(p.len as u64 - 1) as u32);
        let mxn = self.rng.skewed(20_000, 900_000, 2);
        let channel = if self.rng.below(10) < 7 { Channel::P2p } else { Channel::Wire };
        let ts = self.t(14, 24);
        out.push(Tx::new(ts, a, b, cents(mxn), Cur::Mxn, channel));
    }

    fn china(&mut self, out: &mut Vec<Tx>) {
        let l = self.l;
        let p = l.cn_persons;
        let a = if self.rng.below(5) == 0 { l.families.pick(&mut self.rng) } else { p.pick(&mut self.rng) };
        let mut b = p.pick(&mut self.rng);
        if a == b {
            b = p.at(p.offset(b) + 1);
        }
        let cny = self.rng.skewed(5_000, 2_000_000, 3);
        let ts = self.t(0, 14);
        out.push(Tx::new(ts, a, b, cents(cny), Cur::Cny, Channel::P2p));
    }
}
