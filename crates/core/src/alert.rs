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
