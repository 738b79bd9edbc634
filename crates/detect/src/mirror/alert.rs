//! The one-to-one swap alert (rule `mirror_swap`), and the evidence every mirror alert
//! shares: a transaction as JSON, party links, where the cash was placed, jurisdictions,
//! subjects, severity and score rounding.
//!
//! Owns: `swap_alert` (its facts, score, narrative and details), `severity`, `tx_json`,
//! `links_json`, `link_words`, `at_branches`, `cash_states`, `jurisdictions`, `subjects`,
//! `round_score`, `pct2`, `band_pct`, `day_text`.
//! Must not: decide a match or change state: an alert is written from what was matched;
//! nor keep private copies of `mirrorflow_core::alert::build`'s helpers.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::legs::{LegKind, rate_of};
use super::placements::{Placement, Tx, stacked};
use super::{DAY, KEY_TERM, MirrorDetector, RULE_VERSION, SWAP_RULE_ID};
use crate::party::Link;
use mirrorflow_core::alert::build::{self, deviation_pct, hours, usd_text};
use mirrorflow_core::alert::{Alert, Severity, Status, alert_id};
use mirrorflow_core::detect::DetectCtx;
use mirrorflow_core::time::format_ts;

/// A matched leg as the alert reads it: kind, transaction, broker account.
pub(super) type SwapLeg = (LegKind, Tx, Arc<str>);

/// A one-to-one (or combined) match: the placement, its legs, the on-ramps that traced
/// the cash (crypto) and how it was found (`linked`, `crypto`, `amount_and_time`).
pub(super) struct Swap<'a> {
    pub(super) p: &'a Placement,
    pub(super) legs: &'a [SwapLeg],
    pub(super) ramps: &'a [Tx],
    pub(super) how: &'a str,
}

/// What the swap alert says of its match.
struct SwapFacts<'a> {
    /// The US accounts the cash went into (sorted, once each).
    us_accounts: Vec<&'a str>,
    /// Those and the legs' senders and receivers.
    all_accounts: Vec<&'a str>,
    /// The party links of the US accounts and the brokers (linked matches only).
    links: Vec<Link>,
    stack: Vec<&'static str>,
    /// States of the deposits.
    states: BTreeSet<&'a str>,
    /// The party's earlier swaps.
    prior: usize,
    /// The deposits, legs and on-ramps in time order, once each.
    evidence: Vec<&'a Tx>,
    score: f64,
}

impl MirrorDetector {
    pub(super) fn swap_alert(&self, s: &Swap, ctx: &DetectCtx) -> Alert {
        let f = self.swap_facts(s, ctx);
        let mut a = t6_alert(SWAP_RULE_ID, &f.evidence, &f.all_accounts, f.score, s.p.total, ctx);
        a.details = self.swap_details(s, &f, ctx);
        a.narrative = swap_narrative(s, &f, ctx);
        a
    }

    fn swap_facts<'a>(&self, s: &Swap<'a>, ctx: &DetectCtx) -> SwapFacts<'a> {
        let p = s.p;
        let us_accounts: Vec<&str> = {
            let mut v: Vec<&str> = p.deposits.iter().map(|d| &*d.dst).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut link_accounts: Vec<&str> = us_accounts.clone();
        link_accounts.extend(s.legs.iter().map(|l| &*l.2));
        let links = if s.how == "linked" { self.parties().links_between(&link_accounts) } else { Vec::new() };
        let stack = stacked(&p.deposits, self.cfg.band, ctx);
        let prior = self.history.get(&p.party).map_or(0, Vec::len);
        let score = self.swap_score(s, &links, stack.len(), prior);
        let mut evidence: Vec<&Tx> = p.deposits.iter().chain(s.legs.iter().map(|l| &l.1)).chain(s.ramps).collect();
        evidence.sort();
        evidence.dedup();
        let mut all_accounts: Vec<&str> = us_accounts.clone();
        for (_, t, _) in s.legs {
            all_accounts.extend([&*t.src, &*t.dst]);
        }
        let states: BTreeSet<&str> = p.deposits.iter().filter_map(|t| t.location.as_deref()).collect();
        SwapFacts { us_accounts, all_accounts, links, stack, states, prior, evidence, score }
    }

    /// The strength of the evidence: how the match was found, both legs, how close the
    /// legs sit to the middle of their bands, stacked typologies, earlier swaps.
    fn swap_score(&self, s: &Swap, links: &[Link], stacked: usize, prior: usize) -> f64 {
        let mut score: f64 = 0.5;
        if s.how == "linked" {
            score += if links.iter().any(|l| l.reason == "customer_id") { 0.2 } else { 0.15 };
        }
        if s.legs.len() >= 2 {
            score += 0.1;
        }
        if s.how == "crypto" {
            score += 0.1;
        }
        let closeness: f64 = s
            .legs
            .iter()
            .map(|(kind, t, _)| {
                let band = if *kind == LegKind::Cny { self.cfg.cny_band_bp } else { self.cfg.mxn_band_bp };
                let mid = (band.0 + band.1) as f64 / 2.0;
                let half = ((band.1 - band.0) as f64 / 2.0).max(1.0);
                1.0 - ((deviation_pct(t.usd, s.p.total) * 100.0 - mid).abs() / half).min(1.0)
            })
            .fold(0.0, f64::max);
        score += 0.05 * closeness;
        score += 0.05 * stacked as f64;
        if prior > 0 {
            score += 0.05;
        }
        round_score(score)
    }

    /// Each leg as evidence: its transaction, broker, rate, value against the cash, time
    /// gap and whether its broker is linked to the US accounts.
    fn swap_legs_json(&self, s: &Swap, us_accounts: &[&str], ctx: &DetectCtx) -> Vec<serde_json::Value> {
        let parties = self.parties();
        let first = s.p.deposits.first().map_or(0, |d| d.ts);
        let last_dep = s.p.deposits.last().map_or(0, |d| d.ts);
        s.legs
            .iter()
            .map(|(kind, t, broker)| {
                let gap = (t.ts - first).max(t.ts - last_dep);
                serde_json::json!({
                    "leg": kind.name(),
                    "transaction": tx_json(t),
                    "broker_account": &**broker,
                    "fx_rate_usd_per_unit": rate_of(ctx, t),
                    "value_vs_us_cash_pct": pct2(deviation_pct(t.usd, s.p.total)),
                    "time_gap_hours": hours(gap),
                    "linked_to_us_accounts": parties.same(broker, us_accounts[0]) || us_accounts.iter().any(|a| parties.same(a, broker)),
                })
            })
            .collect()
    }

    fn swap_details(&self, s: &Swap, f: &SwapFacts, ctx: &DetectCtx) -> serde_json::Value {
        let p = s.p;
        serde_json::json!({
            "match": s.how,
            "loops": swap_loops(s.legs, &f.us_accounts),
            "party": &*p.party,
            "us_cash": {
                "accounts": f.us_accounts,
                "total_usd": usd_text(p.total),
                "deposits": p.deposits.iter().map(tx_json).collect::<Vec<_>>(),
                "states": f.states,
            },
            "legs": self.swap_legs_json(s, &f.us_accounts, ctx),
            "on_ramps": s.ramps.iter().map(tx_json).collect::<Vec<_>>(),
            "party_links": links_json(&f.links),
            "stacked_typologies": f.stack,
            "earlier_swaps_of_party": self.history.get(&p.party).cloned().unwrap_or_default(),
            "params": {
                "cny_band_pct": band_pct(self.cfg.cny_band_bp),
                "mxn_band_pct": band_pct(self.cfg.mxn_band_bp),
                "leg_window_hours": hours(self.cfg.leg_window_us),
            },
        })
    }
}

/// The loops the mirror link closes: cash (US) -> US accounts ~ broker (MX) -> recipient
/// (MX); client (CN) -> broker (CN) ~ US accounts (whose dollars go to the client's US
/// beneficiary).
fn swap_loops(legs: &[SwapLeg], us_accounts: &[&str]) -> Vec<serde_json::Value> {
    legs.iter()
        .map(|(kind, t, broker)| match kind {
            LegKind::Cny => serde_json::json!([
                {"from": &*t.src, "to": &*t.dst, "via": "CNY transfer", "tx_id": &*t.tx_id},
                {"from": &**broker, "to": us_accounts.join(", "), "via": "mirror link (no transaction)"},
            ]),
            _ => serde_json::json!([
                {"from": "cash", "to": us_accounts.join(", "), "via": "cash deposits"},
                {"from": us_accounts.join(", "), "to": &**broker, "via": "mirror link (no transaction)"},
                {"from": &*t.src, "to": &*t.dst, "via": "MXN payout", "tx_id": &*t.tx_id},
            ]),
        })
        .collect()
}

/// Each leg in words: who paid what to whom, its USD value and rate, against the cash.
fn swap_leg_words(s: &Swap, ctx: &DetectCtx) -> Vec<String> {
    s.legs
        .iter()
        .map(|(kind, t, _)| {
            let what = match kind {
                LegKind::Cny => format!("{} paid CNY {} into Chinese account {}", t.src, t.amount, t.dst),
                LegKind::Mxn => format!("Mexican account {} paid MXN {} to {}", t.src, t.amount, t.dst),
                LegKind::MxnExchange => {
                    format!("Mexican exchange account {} paid MXN {} to {}", t.src, t.amount, t.dst)
                }
            };
            format!(
                "on {} {what} (USD {} at {} USD per unit, {:+.1}% of the cash)",
                format_ts(t.ts),
                usd_text(t.usd),
                rate_of(ctx, t).unwrap_or_else(|| "an unknown rate".into()),
                deviation_pct(t.usd, s.p.total)
            )
        })
        .collect()
}

/// Why the legs are the cash's: the party links, the exchange trace, or amount and time.
fn swap_why(s: &Swap, links: &[Link]) -> String {
    match s.how {
        "linked" => {
            format!("the foreign legs' broker accounts are the same party as the US accounts ({})", link_words(links))
        }
        "crypto" => format!(
            "the cash was sent to a cryptocurrency exchange ({}) and an exchange in Mexico paid out the same value",
            s.ramps
                .iter()
                .map(|t| format!("{} USD {} on {}", t.tx_id, usd_text(t.usd), format_ts(t.ts)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "a CNY leg and an MXN leg both match the cash in value and time, with no transaction between them"
            .to_string(),
    }
}

/// The SAR narrative: who, what, when, where, why, how.
fn swap_narrative(s: &Swap, f: &SwapFacts, ctx: &DetectCtx) -> String {
    let p = s.p;
    let (first_ts, last_ts) = (f.evidence.first().map_or(0, |t| t.ts), f.evidence.last().map_or(0, |t| t.ts));
    let score = f.score;
    format!(
        "Suspected mirror transfer by a Chinese money-laundering network ({KEY_TERM}). Who: US account(s) {} \
         (party {}){}. What: USD {} in cash was deposited in {} deposit(s){}, and {}. When: from {} to {}. \
         Where: cash in {}; legs in {}. Why: {}{} (score {score:.2}). How: a mirror swap settles value between \
         the United States, China and Mexico by offsetting balances, with no cross-border transfer between the legs.",
        f.us_accounts.join(", "),
        p.party,
        if f.prior > 0 { format!(", seen in {} earlier swap(s)", f.prior) } else { String::new() },
        usd_text(p.total),
        p.deposits.len(),
        at_branches(&f.states),
        swap_leg_words(s, ctx).join("; and "),
        format_ts(first_ts),
        format_ts(last_ts),
        cash_states(&f.states),
        jurisdictions(&f.all_accounts, ctx).join(", "),
        swap_why(s, &f.links),
        if f.stack.is_empty() { String::new() } else { format!("; the deposits also show {}", f.stack.join(", ")) },
    )
}

/// A T6 alert of `rule_id` (swap, netted, network) without its details and narrative:
/// the evidence, in time order, gives its id, transactions and times; the accounts its
/// subjects and jurisdictions; `total_usd` (micro-dollars) its amount.
pub(super) fn t6_alert(
    rule_id: &str,
    evidence: &[&Tx],
    accounts: &[&str],
    score: f64,
    total_usd: i128,
    ctx: &DetectCtx,
) -> Alert {
    let tx_ids: Vec<String> = evidence.iter().map(|t| t.tx_id.to_string()).collect();
    Alert {
        alert_id: alert_id(rule_id, RULE_VERSION, &tx_ids),
        rule_id: rule_id.into(),
        rule_version: RULE_VERSION.into(),
        typology: "T6".into(),
        severity: severity(score),
        score,
        subjects: subjects(accounts, ctx),
        tx_ids,
        first_ts: format_ts(evidence.first().map_or(0, |t| t.ts)),
        last_ts: format_ts(evidence.last().map_or(0, |t| t.ts)),
        amount_usd: usd_text(total_usd),
        jurisdictions: jurisdictions(accounts, ctx),
        details: serde_json::Value::Null,
        narrative: String::new(),
        status: Status::Open,
    }
}

pub(super) fn severity(score: f64) -> Severity {
    if score >= 0.85 {
        Severity::Critical
    } else if score >= 0.7 {
        Severity::High
    } else if score >= 0.55 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A score capped at 1 and rounded to two decimals.
pub(super) fn round_score(score: f64) -> f64 {
    (score.min(1.0) * 100.0).round() / 100.0
}

/// A percentage rounded to two decimals.
pub(super) fn pct2(pct: f64) -> f64 {
    (pct * 100.0).round() / 100.0
}

/// A band in basis points as percentages, for an alert's `params`.
pub(super) fn band_pct(band: (i128, i128)) -> [f64; 2] {
    [band.0 as f64 / 100.0, band.1 as f64 / 100.0]
}

/// A UTC day (days since 1970) as `YYYY-MM-DD`.
pub(super) fn day_text(d: i64) -> String {
    format_ts(d * DAY)[..10].to_string()
}

pub(super) fn tx_json(t: &Tx) -> serde_json::Value {
    serde_json::json!({
        "tx_id": &*t.tx_id, "ts": format_ts(t.ts), "from": &*t.src, "to": &*t.dst,
        "amount": &*t.amount, "currency": &*t.currency, "amount_usd": usd_text(t.usd),
        "channel": &*t.channel, "location": t.location.as_deref(),
    })
}

pub(super) fn links_json(links: &[Link]) -> Vec<serde_json::Value> {
    links.iter().map(|l| serde_json::json!({"a": l.a, "b": l.b, "reason": l.reason, "value": l.value})).collect()
}

pub(super) fn link_words(links: &[Link]) -> String {
    let mut reasons: Vec<String> = links
        .iter()
        .map(|l| match l.reason.as_str() {
            "customer_id" => format!("{} and {} belong to customer {}", l.a, l.b, l.value),
            other => format!("{} and {} share a {}", l.a, l.b, other.trim_end_matches("_hash")),
        })
        .collect();
    reasons.dedup();
    reasons.join("; ")
}

/// Where the cash was placed, for a narrative: " at branches in CA, NV" (nothing when
/// the deposits carry no location).
pub(super) fn at_branches(states: &BTreeSet<&str>) -> String {
    if states.is_empty() { String::new() } else { format!(" at branches in {}", cash_states(states)) }
}

/// The states where the cash was placed, or "the US" when the deposits carry no location.
pub(super) fn cash_states(states: &BTreeSet<&str>) -> String {
    if states.is_empty() { "the US".to_string() } else { states.iter().copied().collect::<Vec<_>>().join(", ") }
}

/// Countries of `accounts`, sorted (the shared builder's, over this run's accounts table).
pub(super) fn jurisdictions(accounts: &[&str], ctx: &DetectCtx) -> Vec<String> {
    build::jurisdictions(accounts.iter().copied(), &ctx.accounts)
}

/// Accounts, then the customer ids behind them, sorted (a swap's parties have no order).
pub(super) fn subjects(accounts: &[&str], ctx: &DetectCtx) -> Vec<String> {
    build::subjects_by_party(accounts.iter().copied(), &ctx.accounts)
}
