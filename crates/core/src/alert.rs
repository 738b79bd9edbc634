//! The alert model of the data contract and stable alert ids.
//!
//! Owns: `Alert` (the output contract, one JSON object per line of `alerts.jsonl`),
//! `Severity`, `Status`, and `alert_id`, which derives an id from the evidence alone so
//! replays and restarts are idempotent.
//! Must not: decide what is suspicious, or write alerts anywhere; detectors build alerts,
//! the sinks carry them.

use serde::{Deserialize, Serialize};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The lowercase name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Open,
    /// An analyst is looking at it (the store's workflow).
    #[serde(rename = "in_review")]
    InReview,
    Escalated,
    Dismissed,
    Reported,
}

impl Status {
    /// The name used in JSON and in the alert store.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InReview => "in_review",
            Status::Escalated => "escalated",
            Status::Dismissed => "dismissed",
            Status::Reported => "reported",
        }
    }

    /// The status named `s` (as `as_str` writes it).
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Open, Status::InReview, Status::Escalated, Status::Dismissed, Status::Reported]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One alert, exactly as `alerts.jsonl` and the alert store carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the same evidence always yields the same id (see [`alert_id`]).
    pub alert_id: String,
    /// Which rule or detector fired.
    pub rule_id: String,
    /// Which version of it.
    pub rule_version: String,
    /// `T1`..`T13`, or a custom rule's own tag.
    pub typology: String,
    pub severity: Severity,
    /// In [0, 1].
    pub score: f64,
    /// Account ids, then customer ids where known.
    pub subjects: Vec<String>,
    /// Every transaction that is evidence, in time order.
    pub tx_ids: Vec<String>,
    /// RFC 3339.
    pub first_ts: String,
    /// RFC 3339.
    pub last_ts: String,
    /// Total value moved through the pattern, USD equivalent, as exact decimal text.
    pub amount_usd: String,
    /// ISO 3166-1 alpha-2 countries touched.
    pub jurisdictions: Vec<String>,
    /// Structured evidence: path or legs, FX rates, time gaps, thresholds that fired.
    pub details: serde_json::Value,
    /// A paragraph a person can paste into a SAR.
    pub narrative: String,
    #[serde(default)]
    pub status: Status,
}

/// The stable id of an alert: a hash of the detector, its version and the evidence
/// transaction ids (order-independent). Same evidence, same id, in any run.
pub fn alert_id(rule_id: &str, rule_version: &str, tx_ids: &[String]) -> String {
    let mut sorted: Vec<&str> = tx_ids.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut buf = Vec::with_capacity(64 + sorted.iter().map(|s| s.len() + 1).sum::<usize>());
    buf.extend_from_slice(rule_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(rule_version.as_bytes());
    for id in sorted {
        buf.push(0);
        buf.extend_from_slice(id.as_bytes());
    }
    let h = xxhash_rust::xxh3::xxh3_128(&buf);
    format!("{rule_id}-{h:032x}")
}

/// What every alert builder shares: the one spelling of a USD figure, a duration, a share
/// and a deviation, and the one way to list jurisdictions and subjects, so two detectors
/// never write the same figure two ways.
pub mod build {
    use crate::money::format_decimal;
    use crate::schema::{USD_SCALE, acct};
    use crate::tables::AccountsTable;

    /// Micro-dollars as decimal text (`12345.6`).
    pub fn usd_text(v: i128) -> String {
        format_decimal(v, USD_SCALE as u32)
    }

    /// Microseconds as hours, one decimal.
    pub fn hours(us: i64) -> f64 {
        (us as f64 / 3_600_000_000.0 * 10.0).round() / 10.0
    }

    /// `part` as a percentage of `whole`, two decimals (0 when `whole` is 0).
    pub fn share_pct(part: i128, whole: i128) -> f64 {
        if whole == 0 { 0.0 } else { (part as f64 / whole as f64 * 10_000.0).round() / 100.0 }
    }

    /// How far `value` is from `base`, in percent of `base`, unrounded (0 when `base` is 0).
    pub fn deviation_pct(value: i128, base: i128) -> f64 {
        if base == 0 { 0.0 } else { (value - base) as f64 * 100.0 / base as f64 }
    }

    /// Countries of `accounts` where the accounts table knows them, sorted, once each.
    pub fn jurisdictions<'a>(accounts: impl IntoIterator<Item = &'a str>, table: &AccountsTable) -> Vec<String> {
        let mut out: Vec<String> = accounts.into_iter().filter_map(|a| table.field(a, acct::COUNTRY)).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The accounts as given, then the customer ids behind them (each once, not repeating
    /// an account) in the order their accounts come: a chain's subjects read along it.
    pub fn subjects_in_order<'a>(accounts: impl IntoIterator<Item = &'a str>, table: &AccountsTable) -> Vec<String> {
        let accounts: Vec<&str> = accounts.into_iter().collect();
        let mut out: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
        for a in &accounts {
            if let Some(c) = table.field(a, acct::CUSTOMER_ID)
                && !out.contains(&c)
            {
                out.push(c);
            }
        }
        out
    }

    /// The accounts in their order (once each), then the customer ids behind them sorted:
    /// a set of parties (a network, a swap's sides) has no order of its own.
    pub fn subjects_by_party<'a>(accounts: impl IntoIterator<Item = &'a str>, table: &AccountsTable) -> Vec<String> {
        let accounts: Vec<&str> = accounts.into_iter().collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut out: Vec<String> = accounts.iter().filter(|a| seen.insert(**a)).map(|a| a.to_string()).collect();
        let mut customers: Vec<String> = accounts.iter().filter_map(|a| table.field(a, acct::CUSTOMER_ID)).collect();
        customers.sort();
        customers.dedup();
        out.extend(customers);
        out
    }
}
