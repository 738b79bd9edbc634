//! Checkpoints of the mirror stage: everything still open, in a stable order (the same
//! state writes the same bytes), and its restore.
//!
//! Owns: `Saved`, `MirrorDetector::saved`, `MirrorDetector::restore`.
//! Must not: change what is kept (a resumed run must match legs across the cut as an
//! uncut run does) or rename a saved field (old checkpoints must still read).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DaySums, Leg, MirrorDetector, Placement, Tx, network};

/// One party's netting days in a checkpoint.
type SavedDays = (Arc<str>, Vec<(i64, DaySums)>);

/// What a checkpoint carries (everything still open, in a stable order).
#[derive(Serialize, Deserialize)]
pub(super) struct Saved {
    open: Vec<Placement>,
    due: Vec<(i64, Arc<str>)>,
    legs: Vec<Leg>,
    on_ramps: Vec<(Arc<str>, Vec<Tx>)>,
    days: Vec<SavedDays>,
    matched: Vec<u64>,
    netted_through: Vec<(Arc<str>, i64)>,
    judged_day: Option<i64>,
    history: Vec<(Arc<str>, Vec<String>)>,
    last_ts: Option<i64>,
    #[serde(default)]
    spare: Vec<Placement>,
    #[serde(default)]
    net: network::SavedNet,
}

impl MirrorDetector {
    pub(super) fn saved(&self) -> Saved {
        let sorted = |mut v: Vec<(Arc<str>, Vec<Tx>)>| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let mut open: Vec<&Placement> = self.open.values().collect();
        open.sort_by(|a, b| a.party.cmp(&b.party));
        let mut legs: Vec<&Leg> = self.legs.values().collect();
        legs.sort_by_key(|l| l.tx.seq);
        let mut days: Vec<SavedDays> = self
            .days
            .iter()
            .map(|(p, m)| {
                let v = m.iter().map(|(d, s)| (*d, s.clone())).collect();
                (p.clone(), v)
            })
            .collect();
        days.sort_by(|a, b| a.0.cmp(&b.0));
        let mut netted_through: Vec<(Arc<str>, i64)> =
            self.netted_through.iter().map(|(p, d)| (p.clone(), *d)).collect();
        netted_through.sort();
        let mut history: Vec<(Arc<str>, Vec<String>)> =
            self.history.iter().map(|(p, v)| (p.clone(), v.clone())).collect();
        history.sort();
        Saved {
            open: open.into_iter().cloned().collect(),
            due: self.due.iter().cloned().collect(),
            legs: legs.into_iter().cloned().collect(),
            on_ramps: sorted(self.on_ramps.iter().map(|(p, v)| (p.clone(), v.iter().cloned().collect())).collect()),
            days,
            matched: self.matched.iter().copied().collect(),
            netted_through,
            judged_day: self.judged_day,
            history,
            last_ts: self.last_ts,
            spare: self.spare.iter().cloned().collect(),
            net: self.net.save(),
        }
    }

    pub(super) fn restore(&mut self, s: Saved) {
        self.open = s.open.into_iter().map(|p| (p.party.clone(), p)).collect();
        self.due = s.due.into();
        for l in s.legs {
            if !l.used {
                self.by_value.insert((l.kind, l.tx.usd, l.tx.seq), ());
            }
            self.leg_order.push_back((l.tx.ts, l.tx.seq));
            self.legs.insert(l.tx.seq, l);
        }
        self.on_ramps = s.on_ramps.into_iter().map(|(p, v)| (p, v.into())).collect();
        self.on_ramps_expiry =
            super::expiry::Expiry::rebuild(self.on_ramps.iter().flat_map(|(p, v)| v.iter().map(move |t| (t.ts, p))));
        self.days = s.days.into_iter().map(|(p, v)| (p, v.into_iter().collect())).collect();
        self.days_expiry =
            super::expiry::Expiry::rebuild(self.days.iter().flat_map(|(p, m)| m.keys().map(move |d| (*d, p))));
        self.matched = s.matched.into_iter().collect();
        self.netted_through = s.netted_through.into_iter().collect();
        self.judged_day = s.judged_day;
        self.history = s.history.into_iter().collect();
        self.last_ts = s.last_ts;
        self.spare = s.spare.into();
        self.net = network::NetState::restore(s.net);
    }
}
