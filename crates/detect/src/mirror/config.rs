//! `[mirror]` as written in the TOML, and its validation into `MirrorConfig` (the product's
//! config only gathers the section).
//!
//! Owns: `RawMirror`, `RawMirror::validate`.
//! Must not: know the other sections (the structuring band comes from the caller).

use serde::Deserialize;

use super::{MirrorConfig, NetworkConfig};
use crate::party::RawParties;
use mirrorflow_core::time::parse_duration;

/// `[mirror]`: T6 mirror swaps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMirror {
    pub enabled: bool,
    /// A CNY leg's USD value against the US cash, [min, max] as shares (-0.02, 0.06).
    pub cny_band: [f64; 2],
    /// An MXN leg's USD value against the US cash, [min, max].
    pub mxn_band: [f64; 2],
    /// Legs come within this of every deposit ("24h").
    pub leg_window: String,
    /// Least US cash a placement must hold to be judged.
    pub min_amount_usd: f64,
    /// Netted: each side within this share of the US cash.
    pub netting_tolerance: f64,
    /// Netted: windows of [min, max] days.
    pub netting_days: [u32; 2],
    /// Netted: least US cash in a window.
    pub netting_min_usd: f64,
    /// Account kinds that are never a leg's broker side.
    pub skip_kinds: Vec<String>,
    /// Exchange account kinds (crypto settlement).
    pub exchange_kinds: Vec<String>,
    /// Cash reaches an exchange within this after the deposit ("48h").
    pub on_ramp_window: String,
    /// Network-level matching: several accounts' structured cash against several legs.
    pub network: bool,
    /// Network spans of 1..=this many days.
    pub network_days: u32,
    /// Fewest US accounts in a network.
    pub network_min_accounts: usize,
    /// Least structured deposits of a placement account within the span.
    pub network_min_band_deposits: usize,
    /// Least share of a placement account's cash deposits (over `network-history`) in the band.
    pub network_band_share: f64,
    /// How far back accounts' cash shape and payees are kept ("30d").
    pub network_history: String,
    /// Most placement accounts judged in one span.
    pub network_max_accounts: usize,
    /// Most legs of one side in a network match.
    pub network_max_legs: usize,
    /// Most candidate legs of one side.
    pub network_max_candidates: usize,
    /// Search nodes per span.
    pub network_search_budget: u64,
    /// Least value of a candidate leg, as a share of the cash.
    pub network_min_leg_share: f64,
    /// Accounts opened within this many days of each other are a cohort.
    pub network_cohort_days: u32,
    /// Cohorts and nominee profiles: accounts opened within this many days before the cash.
    pub network_new_account_days: u32,
}

impl RawMirror {
    /// `[mirror]` (with `[parties]`, whose problems come first) validated into the stage's
    /// config, `None` when the stage is off; every problem is pushed to `errs`. `band` is
    /// the structuring rule's band (`rules::structuring_band`: its parameters, overrides
    /// included), in USD micro-dollars.
    pub fn validate(&self, parties: &RawParties, band: (i128, i128), errs: &mut Vec<String>) -> Option<MirrorConfig> {
        let m = self;
        parties.check(errs);
        let mut dur = |key: &str, text: &str| match parse_duration(text) {
            Ok(d) if !d.is_zero() => d.as_micros() as i64,
            Ok(_) => {
                errs.push(format!("`mirror.{key}` = \"{text}\": expected more than 0"));
                0
            }
            Err(e) => {
                errs.push(format!("`mirror.{key}`: {e}"));
                0
            }
        };
        let leg_window_us = dur("leg-window", &m.leg_window);
        let on_ramp_window_us = dur("on-ramp-window", &m.on_ramp_window);
        let history_us = dur("network-history", &m.network_history);
        for (key, [lo, hi]) in [("cny-band", m.cny_band), ("mxn-band", m.mxn_band)] {
            if !(lo <= hi && lo > -1.0 && hi < 10.0) {
                errs.push(format!("`mirror.{key}` = [{lo}, {hi}]: expected [min, max] shares with -1 < min <= max"));
            }
        }
        if !(0.0..1.0).contains(&m.netting_tolerance) {
            errs.push(format!("`mirror.netting-tolerance` = {}: expected a share in [0, 1)", m.netting_tolerance));
        }
        let [d0, d1] = m.netting_days;
        if d0 == 0 || d0 > d1 || d1 > 31 {
            errs.push(format!("`mirror.netting-days` = [{d0}, {d1}]: expected 1 <= min <= max <= 31"));
        }
        let bp = |x: f64| (x * 10_000.0).round() as i128;
        let usd = |x: f64| (x * 1e6).round() as i128;
        for (key, v) in
            [("network-band-share", m.network_band_share), ("network-min-leg-share", m.network_min_leg_share)]
        {
            if !(0.0..=1.0).contains(&v) {
                errs.push(format!("`mirror.{key}` = {v}: expected a share in [0, 1]"));
            }
        }
        if !(1..=14).contains(&m.network_days) {
            errs.push(format!("`mirror.network-days` = {}: expected 1 to 14", m.network_days));
        }
        for (key, v, max) in [
            ("network-min-accounts", m.network_min_accounts, 1000),
            ("network-max-accounts", m.network_max_accounts, 20),
            ("network-max-legs", m.network_max_legs, 20),
            ("network-max-candidates", m.network_max_candidates, 64),
        ] {
            if !(1..=max).contains(&v) {
                errs.push(format!("`mirror.{key}` = {v}: expected 1 to {max}"));
            }
        }
        let network = m.network.then(|| NetworkConfig {
            max_days: m.network_days,
            min_accounts: m.network_min_accounts,
            min_band_deposits: m.network_min_band_deposits,
            min_band_share_bp: bp(m.network_band_share),
            history_us,
            max_accounts: m.network_max_accounts,
            max_legs: m.network_max_legs,
            max_candidates: m.network_max_candidates,
            search_budget: m.network_search_budget,
            min_leg_share_bp: bp(m.network_min_leg_share),
            cohort_days: i32::try_from(m.network_cohort_days).unwrap_or(i32::MAX),
            new_account_days: i32::try_from(m.network_new_account_days).unwrap_or(i32::MAX),
        });
        m.enabled.then(|| MirrorConfig {
            cny_band_bp: (bp(m.cny_band[0]), bp(m.cny_band[1])),
            mxn_band_bp: (bp(m.mxn_band[0]), bp(m.mxn_band[1])),
            leg_window_us,
            min_usd: usd(m.min_amount_usd),
            netting_bp: bp(m.netting_tolerance),
            netting_days: (d0, d1),
            netting_min_usd: usd(m.netting_min_usd),
            skip_kinds: m.skip_kinds.clone(),
            exchange_kinds: m.exchange_kinds.clone(),
            on_ramp_window_us,
            parties: parties.config(),
            band,
            network,
        })
    }
}
