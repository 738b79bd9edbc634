//! The one episode state machine, shared by the SQL rule engine and the benchmark that
//! checks it against DuckDB (so the two cannot drift apart).
//!
//! Matches of one rule on one subject (the key `K`) that share evidence and come within
//! the rule's gap of event time of each other are one episode: it grows with each such
//! match (evidence joins in time order, the later match's figures are kept) and is
//! alerted once, with all its evidence, when the gap has passed. A match that says the
//! pattern no longer holds (`matched` false) clears an open episode sharing its evidence.
//! Evidence already alerted for a key is never alerted again.
//!
//! Owns: `Episode`, `Episodes`. Must not: run rules or read batches; the caller feeds it
//! matches in the order they completed.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::alert::{Alert, alert_id};
use crate::time::parse_ts;

/// An open episode: the alert it will be (its id computed when it closes) and its
/// evidence as a set, so growing it by a match costs the match's size, not the episode's.
#[derive(Debug, Clone)]
pub struct Episode {
    pub alert: Alert,
    ids: HashSet<String>,
}

impl Episode {
    pub fn new(alert: Alert) -> Self {
        let ids = alert.tx_ids.iter().cloned().collect();
        Episode { alert, ids }
    }

    /// Whether `m` shares evidence with the episode.
    pub fn shares(&self, m: &Alert) -> bool {
        m.tx_ids.iter().any(|t| self.ids.contains(t))
    }

    /// Grows the episode with a later match: its evidence joins (time order kept), and
    /// the later match's figures (which cover the lookback up to it) are taken.
    pub fn merge(&mut self, later: Alert) {
        let mut tx_ids = std::mem::take(&mut self.alert.tx_ids);
        for t in &later.tx_ids {
            if self.ids.insert(t.clone()) {
                tx_ids.push(t.clone());
            }
        }
        let first_ts = self.alert.first_ts.clone().min(later.first_ts.clone());
        self.alert = later;
        self.alert.first_ts = first_ts;
        self.alert.tx_ids = tx_ids;
    }

    /// The alert, with the id its whole evidence gives.
    pub fn into_alert(self) -> Alert {
        let mut a = self.alert;
        a.alert_id = alert_id(&a.rule_id, &a.rule_version, &a.tx_ids);
        a
    }

    /// Event time of the episode's last evidence (µs).
    pub fn last_us(&self) -> i64 {
        parse_time(&self.alert.last_ts)
    }
}

/// An alert's RFC 3339 time in µs (`i64::MIN` if it does not read).
fn parse_time(t: &str) -> i64 {
    parse_ts(t.as_bytes(), &Default::default()).unwrap_or(i64::MIN)
}

/// Every key's open episode and the evidence already alerted per key.
#[derive(Debug, Clone)]
pub struct Episodes<K: Ord + Clone + std::hash::Hash> {
    /// The open episodes, not yet alerted.
    pub held: BTreeMap<K, Episode>,
    /// Per key: tx ids already alerted.
    pub alerted: HashMap<K, HashSet<String>>,
}

impl<K: Ord + Clone + std::hash::Hash> Default for Episodes<K> {
    fn default() -> Self {
        Episodes { held: BTreeMap::new(), alerted: HashMap::new() }
    }
}

impl<K: Ord + Clone + std::hash::Hash> Episodes<K> {
    /// One match `m` of key `key`, which completed at event time `when` (µs), under a gap
    /// of `gap` µs; episodes it closes go to `out`. An episode whose gap had passed when
    /// this match happened was closed then, whatever the batching: it closes first.
    pub fn offer(&mut self, key: K, m: Alert, matched: bool, when: i64, gap: i64, out: &mut Vec<Alert>) {
        if self.held.get(&key).is_some_and(|h| h.last_us().saturating_add(gap) < when) {
            let closed = self.held.remove(&key).expect("held");
            self.close(&key, closed, out);
        }
        if !matched {
            // The pattern no longer holds for this subject: an open episode sharing this
            // evidence was innocent after all (e.g. tuition paid on).
            if self.held.get(&key).is_some_and(|h| h.shares(&m)) {
                self.held.remove(&key);
            }
            return;
        }
        let m_last = parse_time(&m.last_ts);
        if let Some(h) = self.held.get_mut(&key) {
            let open = m_last <= h.last_us().saturating_add(gap);
            if open && h.shares(&m) {
                h.merge(m);
                return;
            }
            let closed = self.held.remove(&key).expect("held");
            self.close(&key, closed, out);
        }
        self.held.insert(key, Episode::new(m));
    }

    /// Closes, in key order, every episode whose gap (`gap_of` its key) has passed at
    /// event time `now`.
    pub fn close_due(&mut self, now: i64, gap_of: impl Fn(&K) -> i64, out: &mut Vec<Alert>) {
        let due: Vec<K> = self
            .held
            .iter()
            .filter(|(k, h)| h.last_us().saturating_add(gap_of(k)) < now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let h = self.held.remove(&k).expect("due");
            self.close(&k, h, out);
        }
    }

    /// Closes every open episode (end of input), in the order they last grew (then by id).
    pub fn flush(&mut self) -> Vec<Alert> {
        let mut held: Vec<(K, Alert)> =
            std::mem::take(&mut self.held).into_iter().map(|(k, h)| (k, h.into_alert())).collect();
        held.sort_by(|(_, a), (_, b)| (&a.last_ts, &a.alert_id).cmp(&(&b.last_ts, &b.alert_id)));
        let mut out = Vec::new();
        for (k, h) in held {
            self.close(&k, Episode::new(h), &mut out);
        }
        out
    }

    /// Alerts a closed episode unless its key already alerted all of its evidence.
    fn close(&mut self, key: &K, episode: Episode, out: &mut Vec<Alert>) {
        let alert = episode.into_alert();
        let seen = self.alerted.entry(key.clone()).or_default();
        if alert.tx_ids.iter().all(|t| seen.contains(t)) {
            return;
        }
        seen.extend(alert.tx_ids.iter().cloned());
        out.push(alert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Severity, Status};

    const H: i64 = 3_600_000_000;

    /// A match of rule `r` v1 on `subject` with evidence `ids`, last evidence at hour `h`.
    fn m(subject: &str, ids: &[&str], h: i64) -> Alert {
        let ts = crate::time::format_ts(h * H);
        Alert {
            alert_id: String::new(),
            rule_id: "r".into(),
            rule_version: "1".into(),
            typology: "T1".into(),
            severity: Severity::High,
            score: 0.5,
            subjects: vec![subject.into()],
            tx_ids: ids.iter().map(|s| s.to_string()).collect(),
            first_ts: ts.clone(),
            last_ts: ts,
            amount_usd: "0".into(),
            jurisdictions: Vec::new(),
            details: serde_json::Value::Null,
            narrative: String::new(),
            status: Status::Open,
        }
    }

    #[test]
    fn matches_sharing_evidence_within_the_gap_are_one_alert_once_the_gap_has_passed() {
        let mut e: Episodes<String> = Episodes::default();
        let mut out = Vec::new();
        e.offer("a".into(), m("a", &["t1", "t2"], 0), true, 0, 24 * H, &mut out);
        e.offer("a".into(), m("a", &["t2", "t3"], 10), true, 10 * H, 24 * H, &mut out);
        e.close_due(30 * H, |_| 24 * H, &mut out);
        assert!(out.is_empty(), "still open 20 h after its last evidence");
        e.close_due(35 * H, |_| 24 * H, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].tx_ids, ["t1", "t2", "t3"], "evidence joins in time order, once each");
        assert_eq!(out[0].alert_id, alert_id("r", "1", &out[0].tx_ids), "the id of the whole evidence");
        assert_eq!(out[0].first_ts, crate::time::format_ts(0));
    }

    #[test]
    fn a_match_after_the_gap_closes_the_episode_and_opens_another() {
        let mut e: Episodes<String> = Episodes::default();
        let mut out = Vec::new();
        e.offer("a".into(), m("a", &["t1"], 0), true, 0, 24 * H, &mut out);
        // shares no evidence (a near miss of the join): the old episode closes now
        e.offer("a".into(), m("a", &["t9"], 5), true, 5 * H, 24 * H, &mut out);
        assert_eq!(out.len(), 1);
        // shares evidence but comes after the gap: closes too
        e.offer("a".into(), m("a", &["t9", "t10"], 40), true, 40 * H, 24 * H, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(e.flush().len(), 1);
    }

    #[test]
    fn a_match_that_no_longer_holds_clears_the_open_episode_it_shares_evidence_with() {
        let mut e: Episodes<String> = Episodes::default();
        let mut out = Vec::new();
        e.offer("a".into(), m("a", &["t1"], 0), true, 0, 24 * H, &mut out);
        e.offer("a".into(), m("a", &["t2"], 1), false, H, 24 * H, &mut out);
        assert_eq!(e.held.len(), 1, "no shared evidence: nothing cleared");
        e.offer("a".into(), m("a", &["t1"], 2), false, 2 * H, 24 * H, &mut out);
        assert!(e.held.is_empty() && out.is_empty() && e.flush().is_empty());
    }

    #[test]
    fn evidence_already_alerted_for_a_subject_is_not_alerted_again() {
        let mut e: Episodes<String> = Episodes::default();
        let mut out = Vec::new();
        e.offer("a".into(), m("a", &["t1", "t2"], 0), true, 0, 24 * H, &mut out);
        e.close_due(100 * H, |_| 24 * H, &mut out);
        e.offer("a".into(), m("a", &["t2"], 101), true, 101 * H, 24 * H, &mut out);
        // another subject's episode with the same evidence is its own
        e.offer("b".into(), m("b", &["t2"], 101), true, 101 * H, 24 * H, &mut out);
        out.extend(e.flush());
        let subjects: Vec<&str> = out.iter().map(|a| a.subjects[0].as_str()).collect();
        assert_eq!(subjects, ["a", "b"]);
    }

    #[test]
    fn the_end_of_input_closes_episodes_in_the_order_they_last_grew() {
        let mut e: Episodes<String> = Episodes::default();
        let mut out = Vec::new();
        e.offer("z".into(), m("z", &["t1"], 1), true, H, 24 * H, &mut out);
        e.offer("a".into(), m("a", &["t2"], 3), true, 3 * H, 24 * H, &mut out);
        e.offer("m".into(), m("m", &["t3"], 2), true, 2 * H, 24 * H, &mut out);
        let order: Vec<String> = e.flush().into_iter().map(|a| a.subjects[0].clone()).collect();
        assert_eq!(order, ["z", "m", "a"]);
    }
}
