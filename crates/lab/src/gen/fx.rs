//! The generator's FX table: one rate per day per currency as a small deterministic random
//! walk, and the conversions schemes use to price a leg "at the day's rate".
//!
//! Owns: `fx_rates.csv` content (`date,currency,usd_per_unit`) and exact USD <-> currency
//! arithmetic on scaled integers.
//! Must not: use floats for money; every rate and amount is a scaled integer.

use std::io::Write;

use chrono::NaiveDate;

use mirrorflow_core::money::{format_decimal, to_usd};
use mirrorflow_core::schema::{AMOUNT_SCALE, fx as col};

use super::model::{Cur, DAY};
use super::rng::Rng;

const STREAM_FX: u64 = 0xF0;

/// Per-currency walk: nominal value in `10^-digits` USD, daily step bound (ppm), digits
/// kept.
struct Walk {
    start: i128,
    step_ppm: i64,
    digits: u32,
    /// Pull back towards the first day's value by 1/`revert` of the gap each day.
    revert: i128,
}

fn walk(cur: Cur) -> Walk {
    match cur {
        Cur::Usd => Walk { start: 1, step_ppm: 0, digits: 0, revert: 0 },
        Cur::Mxn => Walk { start: 58_000, step_ppm: 3_000, digits: 6, revert: 25 },
        Cur::Cny => Walk { start: 139_000, step_ppm: 700, digits: 6, revert: 25 },
        Cur::Usdt => Walk { start: 10_000, step_ppm: 250, digits: 4, revert: 3 },
        Cur::Btc => Walk { start: 9_500_000, step_ppm: 25_000, digits: 2, revert: 60 },
        Cur::Eth => Walk { start: 350_000, step_ppm: 30_000, digits: 2, revert: 60 },
    }
}

/// Daily USD-per-unit rates at scale 18.
pub(crate) struct Fx {
    start_epoch: i64,
    start_date: NaiveDate,
    rates: Vec<[i128; 6]>,
    /// The home currency replacing USD (`gen --currency`): its code and daily rates.
    home: Option<(String, Vec<i128>)>,
}

/// USD per unit of a few home currencies `gen --currency` knows without `--usd-per-unit`
/// (rough 2025 levels; the walk moves them from there).
pub(crate) const HOME_RATES: [(&str, &str); 12] = [
    ("SEK", "0.095"),
    ("NOK", "0.093"),
    ("DKK", "0.145"),
    ("EUR", "1.08"),
    ("GBP", "1.27"),
    ("CHF", "1.12"),
    ("CAD", "0.73"),
    ("AUD", "0.66"),
    ("JPY", "0.0067"),
    ("INR", "0.012"),
    ("BRL", "0.19"),
    ("KRW", "0.00073"),
];

impl Fx {
    pub(crate) fn new(seed: u64, start_date: NaiveDate, start_epoch: i64, days: u32) -> Fx {
        let mut rates = Vec::with_capacity(days as usize);
        let mut state: Vec<i128> = Vec::new();
        let mut anchor: Vec<i128> = Vec::new();
        let walks: Vec<Walk> = Cur::ALL.iter().map(|&c| walk(c)).collect();
        for (i, w) in walks.iter().enumerate() {
            // Start within +-3% of the nominal value (+-0.3% for USDT), fixed by the seed.
            let mut r = Rng::stream(seed, STREAM_FX, 1000 + i as u64);
            let spread = if w.revert == 3 { 3_000 } else { 30_000 };
            let ppm = if w.step_ppm == 0 { 0 } else { r.range(-spread, spread) };
            state.push(w.start * (1_000_000 + ppm as i128) / 1_000_000);
            anchor.push(state[i]);
        }
        for d in 0..days {
            let mut day = [0i128; 6];
            for (i, w) in walks.iter().enumerate() {
                if d > 0 && w.step_ppm > 0 {
                    let mut r = Rng::stream(seed, STREAM_FX, (d as u64) << 8 | i as u64);
                    // Sum of two uniforms: a gentle bell around zero.
                    let half = w.step_ppm / 2;
                    let mut ppm = r.range(-half, half) + r.range(-half, half);
                    let v = state[i];
                    ppm -= ((v - anchor[i]) * 1_000_000 / anchor[i] / w.revert) as i64;
                    state[i] = (v * (1_000_000 + ppm as i128) / 1_000_000).max(1);
                }
                day[i] = state[i] * 10i128.pow(18 - w.digits);
            }
            rates.push(day);
        }
        Fx { start_epoch, start_date, rates, home: None }
    }

    /// Adds a home currency `code` worth `usd_per_unit` (scale 18) on the first day, walking
    /// like MXN (0.2% a day at most, pulled back towards the start).
    pub(crate) fn set_home(&mut self, seed: u64, code: &str, usd_per_unit: i128) {
        let mut v = usd_per_unit.max(1);
        let anchor = v;
        let mut rates = Vec::with_capacity(self.rates.len());
        for d in 0..self.rates.len() {
            if d > 0 {
                let mut r = Rng::stream(seed, STREAM_FX, 5_000 + d as u64);
                let mut ppm = (r.range(-1_000, 1_000) + r.range(-1_000, 1_000)) as i128;
                ppm -= (v - anchor) * 1_000_000 / anchor / 25;
                v = (v * (1_000_000 + ppm) / 1_000_000).max(1);
            }
            rates.push(v);
        }
        self.home = Some((code.to_string(), rates));
    }

    /// The home currency's code, when one replaces USD.
    pub(crate) fn home_code(&self) -> Option<&str> {
        self.home.as_ref().map(|h| h.0.as_str())
    }

    /// The home-currency amount (scale 18, whole cents) worth `usd_cents` on `day`; USD
    /// itself when there is no home currency.
    pub(crate) fn home_for_usd(&self, usd_cents: i64, day: u32) -> i128 {
        let Some((_, rates)) = &self.home else { return super::model::cents(usd_cents) };
        let rate = rates[(day as usize).min(rates.len() - 1)];
        // cents * 10^16 (scale 18) * 10^18 / rate, rounded half up to whole cents
        let num = usd_cents as i128 * 10i128.pow(18);
        let c = (num + rate / 2) / rate;
        c.max(1) * 10i128.pow(16)
    }

    #[cfg(test)]
    pub(crate) fn days(&self) -> u32 {
        self.rates.len() as u32
    }

    /// Day index of `ts` (clamped to the table).
    pub(crate) fn day_of(&self, ts: i64) -> u32 {
        let d = (ts - self.start_epoch).div_euclid(DAY);
        d.clamp(0, self.rates.len() as i64 - 1) as u32
    }

    /// USD per unit of `cur` on day `day`, scale 18.
    pub(crate) fn rate(&self, cur: Cur, day: u32) -> i128 {
        let d = (day as usize).min(self.rates.len() - 1);
        self.rates[d][cur.index()]
    }

    /// USD value of `amount` (scale 18) of `cur` at `ts`'s day rate, in micro-dollars.
    pub(crate) fn usd_micros(&self, amount: i128, cur: Cur, ts: i64) -> i128 {
        to_usd(amount, self.rate(cur, self.day_of(ts))).unwrap_or(i128::MAX)
    }

    /// USD value in cents (truncated), for amount decisions.
    pub(crate) fn usd_cents(&self, amount: i128, cur: Cur, ts: i64) -> i64 {
        (self.usd_micros(amount, cur, ts) / 10_000) as i64
    }

    /// The amount of `cur` (scale 18, rounded to the currency's decimals) worth `usd_cents`
    /// times `(1 + ppm / 10^6)` at day `day`'s rate.
    pub(crate) fn amount_for_usd(&self, usd_cents: i64, ppm: i64, cur: Cur, day: u32) -> i128 {
        let dec = cur.decimals().min(12);
        let rate = self.rate(cur, day);
        // target USD at scale 6
        let usd6 = usd_cents as i128 * 10_000 * (1_000_000 + ppm as i128) / 1_000_000;
        // units of 10^-dec: usd6 * 10^(dec + 12) / rate, rounded half up
        let num = usd6 * 10i128.pow(dec + 12);
        let u = (num + rate / 2) / rate;
        u * 10i128.pow(18 - dec)
    }

    /// Writes `fx_rates.csv`: one row per day per currency, dates ascending.
    pub(crate) fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{},{},{}", col::DATE, col::CURRENCY, col::USD_PER_UNIT)?;
        for (d, day) in self.rates.iter().enumerate() {
            let date = self.start_date + chrono::Days::new(d as u64);
            for c in Cur::ALL {
                writeln!(
                    out,
                    "{},{},{}",
                    date.format("%Y-%m-%d"),
                    c.code(),
                    format_decimal(day[c.index()], AMOUNT_SCALE as u32)
                )?;
            }
            if let Some((code, rates)) = &self.home {
                let r = format_decimal(rates[d], AMOUNT_SCALE as u32);
                writeln!(out, "{},{code},{r}", date.format("%Y-%m-%d"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx() -> Fx {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        Fx::new(9, start, start.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp(), 365)
    }

    #[test]
    fn rates_stay_near_their_anchors() {
        let fx = fx();
        let one = 10i128.pow(18);
        for d in 0..fx.days() {
            assert_eq!(fx.rate(Cur::Usd, d), one);
            let mxn = fx.rate(Cur::Mxn, d);
            assert!(mxn > one * 50 / 1000 && mxn < one * 66 / 1000, "mxn {mxn}");
            let cny = fx.rate(Cur::Cny, d);
            assert!(cny > one * 130 / 1000 && cny < one * 148 / 1000, "cny {cny}");
            let usdt = fx.rate(Cur::Usdt, d);
            assert!(usdt > one * 99 / 100 && usdt < one * 101 / 100);
            if d > 0 {
                // CNY moves little from one day to the next: a mirror leg priced a day
                // late stays inside its tolerance.
                let prev = fx.rate(Cur::Cny, d - 1);
                assert!((cny - prev).abs() * 1000 <= prev, "cny jump on day {d}");
            }
        }
    }

    #[test]
    fn amount_for_usd_inverts_to_usd() {
        let fx = fx();
        for (cur, d) in [(Cur::Cny, 3), (Cur::Mxn, 40), (Cur::Usdt, 9), (Cur::Btc, 100), (Cur::Eth, 7)] {
            let a = fx.amount_for_usd(5_000_000, 0, cur, d);
            let back = to_usd(a, fx.rate(cur, d)).unwrap();
            let want = 50_000 * 1_000_000i128;
            assert!((back - want).abs() * 10_000 < want, "{cur:?}: {back} vs {want}");
        }
    }
}
