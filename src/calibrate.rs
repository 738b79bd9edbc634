//! `mirrorflow calibrate LEDGER`: the amount floors a ledger's own distribution calls for,
//! written as a TOML config (the default config's keys, mergeable over it), each value
//! with the reason for it in a comment.
//!
//! Owns: reading a ledger (any dialect `replay` reads, through the same readers), its
//! transfers' and US cash deposits' USD values at the day's FX rate, and the config text.
//! Must not: read labels or alerts (the derivation is label-free), or derive a regulatory
//! constant (the USD 10,000 CTR threshold is law, not a fit).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType};

use crate::config::Config;
use crate::error::Result;
use crate::ingest::ledger::discover;
use crate::ingest::tables::AccountsTable;
use crate::ingest::{IngestState, open_transactions};
use crate::money::{format_decimal, to_usd};
use crate::schema::{USD_SCALE, tx};

/// What the ledger holds, as calibrate saw it.
#[derive(Debug, Default)]
pub struct Calibration {
    pub rows: u64,
    /// USD micro-dollars of transfers between two accounts, sorted.
    pub transfers: Vec<i128>,
    /// USD micro-dollars of cash deposits in USD, sorted.
    pub cash: Vec<i128>,
    /// Rows by currency.
    pub currencies: BTreeMap<String, u64>,
    /// Rows without an FX rate (no USD value), by currency.
    pub no_rate: BTreeMap<String, u64>,
    /// USD per unit (scale 18) of the most common currency, on its last day seen.
    pub main_rate: Option<(String, i128)>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// KYC: whether an accounts table was found, and the rules that would step aside.
    pub accounts_rows: u64,
    pub stepped_aside: Vec<(String, Vec<String>)>,
}

/// Reads the ledger.
pub fn measure(cfg: &Config, path: &Path) -> Result<Calibration> {
    let ledger = discover(path)?;
    let side = crate::app::load_side_tables(ledger.accounts.as_deref(), ledger.fx_rates.as_deref(), cfg)?;
    let mut c = Calibration { accounts_rows: side.counts.accounts_rows, ..Default::default() };
    let mut rate_days: BTreeMap<String, i32> = BTreeMap::new();
    let mut state = IngestState::default();
    for f in &ledger.transactions {
        let mut r = open_transactions(f, &cfg.input)?;
        while let Some(chunk) = r.next_chunk(&mut state)? {
            let b = &chunk.batch;
            let col = |n: &str| b.column_by_name(n).expect("canonical column");
            let (src, dst) = (col(tx::SRC_ACCOUNT).as_string::<i32>(), col(tx::DST_ACCOUNT).as_string::<i32>());
            let (cur, ch) = (col(tx::CURRENCY).as_string::<i32>(), col(tx::CHANNEL).as_string::<i32>());
            let amount = col(tx::AMOUNT).as_primitive::<Decimal128Type>();
            let ts = col(tx::TS).as_primitive::<TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                c.rows += 1;
                let t = ts.value(i);
                c.first_ts = Some(c.first_ts.map_or(t, |x| x.min(t)));
                c.last_ts = Some(c.last_ts.map_or(t, |x| x.max(t)));
                let currency = cur.value(i);
                *c.currencies.entry(currency.to_string()).or_default() += 1;
                let day = t.div_euclid(86_400_000_000) as i32;
                let Some(usd) = side.fx.rate(currency, day).and_then(|r| to_usd(amount.value(i), r)) else {
                    *c.no_rate.entry(currency.to_string()).or_default() += 1;
                    continue;
                };
                rate_days.insert(currency.to_string(), day);
                if !src.is_null(i) && !dst.is_null(i) && src.value(i) != dst.value(i) {
                    c.transfers.push(usd);
                } else if src.is_null(i) && !ch.is_null(i) && ch.value(i) == "cash_deposit" && currency == "USD" {
                    c.cash.push(usd);
                }
            }
        }
    }
    c.transfers.sort_unstable();
    c.cash.sort_unstable();
    if let Some((main, _)) = c.currencies.iter().max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone()))) {
        let day = rate_days.get(main).copied().unwrap_or(0);
        c.main_rate = side.fx.rate(main, day).map(|r| (main.clone(), r));
    }
    if let Some(rcfg) = &cfg.rules {
        let set = crate::rules::RuleSet::load(rcfg)?;
        let accounts: &AccountsTable = &side.accounts;
        for r in &set.rules {
            let lacking: Vec<String> = r
                .needs_kyc
                .iter()
                .filter(|col| accounts.batch.column_by_name(col).is_none_or(|a| a.null_count() == a.len()))
                .cloned()
                .collect();
            if !lacking.is_empty() {
                c.stepped_aside.push((r.id.clone(), lacking));
            }
        }
    }
    Ok(c)
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(v: &[i128], q: f64) -> Option<i128> {
    if v.is_empty() {
        return None;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

/// Values at or above `floor`.
fn at_or_above(v: &[i128], floor: i128) -> usize {
    v.len() - v.partition_point(|x| *x < floor)
}

fn usd(v: i128) -> String {
    // cents: a floor is read by people
    let cents = (v + 5_000) / 10_000 * 10_000;
    format_decimal(cents, USD_SCALE as u32).trim_end_matches("0000").to_string()
}

fn count(n: usize) -> String {
    crate::pipeline::summary::thousands(n as u64)
}

/// A relative floor: the lower of `default` and `share` of the 99th percentile of `v`.
fn floor_of(v: &[i128], share: f64, default: i128) -> Option<(i128, i128)> {
    let p99 = quantile(v, 0.99)?;
    let f = ((p99 as f64) * share).round() as i128;
    Some((f.min(default), p99))
}

/// The config text.
pub fn to_toml(c: &Calibration, cfg: &Config, ledger: &Path) -> String {
    let mut s = String::new();
    let span = match (c.first_ts, c.last_ts) {
        (Some(a), Some(b)) => {
            format!("{} .. {}", crate::ingest::values::format_ts(a), crate::ingest::values::format_ts(b))
        }
        _ => "no rows".into(),
    };
    let cur: Vec<String> = c.currencies.iter().map(|(k, n)| format!("{k} {}", count(*n as usize))).collect();
    let _ =
        writeln!(s, "# mirrorflow calibrate {}: values derived from the ledger's own distribution", ledger.display());
    let _ =
        writeln!(s, "# (no labels or alerts read). Merge over the defaults: `mirrorflow replay LEDGER --config THIS`.");
    let _ = writeln!(
        s,
        "# {} transactions, {span}; currencies: {}; {} transfers between accounts, {} USD cash deposits.",
        count(c.rows as usize),
        cur.join(", "),
        count(c.transfers.len()),
        count(c.cash.len())
    );
    if !c.no_rate.is_empty() {
        let n: Vec<String> = c.no_rate.iter().map(|(k, n)| format!("{k} {}", count(*n as usize))).collect();
        let _ = writeln!(s, "# Rows without an FX rate (give an fx_rates table): {}.", n.join(", "));
    }
    let _ = writeln!(
        s,
        "# Regulatory constants stay constants: the USD 10,000 Currency Transaction Report threshold\n\
         # (rules 010, 011, 020: ctr_threshold_usd) is law, not a fit, and is not written here."
    );
    if c.accounts_rows == 0 {
        let _ = writeln!(s, "# No accounts table: there is no KYC. Rules that judge by it step aside on their own");
    } else if !c.stepped_aside.is_empty() {
        let _ = writeln!(
            s,
            "# The accounts table lacks some KYC columns. Rules that judge by them step aside on their own"
        );
    }
    if !c.stepped_aside.is_empty() {
        let r: Vec<String> = c.stepped_aside.iter().map(|(id, cols)| format!("{id} ({})", cols.join(", "))).collect();
        let _ = writeln!(s, "# and say so in summary.json: {}.", r.join("; "));
    }
    // the value in the ledger's own main currency
    let own = |v: i128| -> String {
        match &c.main_rate {
            Some((k, r)) if k != "USD" && *r > 0 => {
                // USD micro-dollars / (USD per unit, scale 18) = units, at scale 6
                let units = v.saturating_mul(crate::schema::AMOUNT_ONE) / r;
                format!(" = {} {k}", usd(units))
            }
            _ => String::new(),
        }
    };
    let _ = writeln!(s, "\n[graph]");
    let Some(g) = &cfg.graph else {
        let _ = writeln!(s, "# the graph stage is off in this configuration: nothing derived");
        return s;
    };
    let share = g.edges.min_share_of_p99_bp as f64 / 10_000.0;
    let share = if share > 0.0 { share } else { 0.06 };
    let default = g.edges.min_usd;
    match floor_of(&c.transfers, share, default) {
        None => {
            let _ = writeln!(s, "# no transfers between two accounts: the graph has nothing to judge");
        }
        Some((f, p99)) => {
            let _ = writeln!(
                s,
                "# {} of the 99th percentile of transfer amounts (USD {}{}; {} transfers), or the\n\
                 # default USD {} if lower: change is small against the ledger's large transfers. It keeps\n\
                 # {} transfers ({:.1}%); the default USD {} would keep {}.",
                share,
                usd(p99),
                own(p99),
                count(c.transfers.len()),
                usd(default),
                count(at_or_above(&c.transfers, f)),
                100.0 * at_or_above(&c.transfers, f) as f64 / c.transfers.len() as f64,
                usd(default),
                count(at_or_above(&c.transfers, default)),
            );
            let _ = writeln!(s, "min-amount-usd = {}", usd(f));
        }
    }
    // US cash is bounded by law (structuring keeps it under the USD 10,000 CTR threshold),
    // so its floors are not scaled to the ledger: only reported
    let cash_floor = cfg.mirror.as_ref().map_or(3_000_000_000, |m| m.min_usd);
    let _ = writeln!(s, "\n[mirror]");
    if c.cash.is_empty() {
        let _ = writeln!(
            s,
            "# no USD cash deposits (channel cash_deposit): the mirror stage has no placement to match,\n\
             # nor the on-ramp search cash to follow (summary.json says so). Floors left at their defaults."
        );
    } else {
        let _ = writeln!(
            s,
            "# {} USD cash deposits, {} of them at or above mirror.min-amount-usd (USD {}): US cash is\n\
             # judged against the CTR threshold, which is law, so this floor is left at its default.",
            count(c.cash.len()),
            count(at_or_above(&c.cash, cash_floor)),
            usd(cash_floor),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_floors_are_exact() {
        let v: Vec<i128> = (1..=100).map(|x| x * 1_000_000).collect();
        assert_eq!(quantile(&v, 0.99), Some(99_000_000));
        assert_eq!(quantile(&v, 0.5), Some(50_000_000));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(at_or_above(&v, 50_000_000), 51);
        // 6% of USD 99 is USD 5.94, below the default
        assert_eq!(floor_of(&v, 0.06, 3_000_000_000), Some((5_940_000, 99_000_000)));
        // a ledger of large transfers keeps the default
        let big: Vec<i128> = (1..=100).map(|x| x * 1_000_000_000).collect();
        assert_eq!(floor_of(&big, 0.06, 3_000_000_000).map(|f| f.0), Some(3_000_000_000));
        assert_eq!(usd(5_940_000), "5.94");
        assert_eq!(usd(3_000_000_000), "3000");
    }
}
