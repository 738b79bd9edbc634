//! Sweeps of per-key, time-ordered lists that visit only the keys with something to drop.
//!
//! The mirror stage keeps, per account or party, lists in event-time order (cash shape,
//! payees, on-ramps, netting days) and drops what has aged out once per event-time hour.
//! Looking over every key each hour costs the map's size per hour: on a year-long ledger
//! of 10M rows, a quarter of the stage's time. `Expiry` keeps the keys in the order their
//! entries were added, so a sweep visits each entry once, when it ages out: the same keys
//! lose the same entries at the same sweep as a look over the whole map.
//!
//! Owns: `Expiry`, `drop_before`. Must not: be told of entries out of time order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The keys of a map's entries, in the (non-decreasing) time order they were added.
#[derive(Debug, Default)]
pub(super) struct Expiry {
    queue: VecDeque<(i64, Arc<str>)>,
}

impl Expiry {
    /// An entry at `at` was added under `key`.
    pub(super) fn note(&mut self, at: i64, key: &Arc<str>) {
        debug_assert!(self.queue.back().is_none_or(|(last, _)| *last <= at), "entries in time order");
        self.queue.push_back((at, key.clone()));
    }

    /// From entries restored from a checkpoint, in any order.
    pub(super) fn rebuild<'a>(entries: impl Iterator<Item = (i64, &'a Arc<str>)>) -> Self {
        let mut queue: Vec<(i64, Arc<str>)> = entries.map(|(at, k)| (at, k.clone())).collect();
        queue.sort_by_key(|(at, _)| *at);
        Expiry { queue: queue.into() }
    }

    /// Calls `visit` with the key of every entry before `keep` (a key once per such
    /// entry), and forgets them.
    pub(super) fn expire(&mut self, keep: i64, mut visit: impl FnMut(&Arc<str>)) {
        while let Some((at, key)) = self.queue.front() {
            if *at >= keep {
                break;
            }
            visit(key);
            self.queue.pop_front();
        }
    }
}

/// Drops `key`'s entries before `keep` (`at` gives an entry's time), and the key when
/// none is left.
pub(super) fn drop_before<T>(
    map: &mut HashMap<Arc<str>, VecDeque<T>>,
    key: &Arc<str>,
    keep: i64,
    at: impl Fn(&T) -> i64,
) {
    if let Some(v) = map.get_mut(key) {
        while v.front().is_some_and(|x| at(x) < keep) {
            v.pop_front();
        }
        if v.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same map swept by looking over every key, and through an `Expiry`.
    #[test]
    fn drops_what_a_sweep_over_every_key_drops() {
        let keys: Vec<Arc<str>> = ["a", "b", "c"].map(Arc::from).to_vec();
        let mut full: HashMap<Arc<str>, VecDeque<i64>> = HashMap::new();
        let mut fast = full.clone();
        let mut expiry = Expiry::default();
        for t in 0..300i64 {
            let k = &keys[(t * 7 % 5 % 3) as usize];
            full.entry(k.clone()).or_default().push_back(t);
            fast.entry(k.clone()).or_default().push_back(t);
            expiry.note(t, k);
            if t % 17 == 0 {
                let keep = t - 40;
                full.retain(|_, v| {
                    while v.front().is_some_and(|x| *x < keep) {
                        v.pop_front();
                    }
                    !v.is_empty()
                });
                expiry.expire(keep, |k| drop_before(&mut fast, k, keep, |x| *x));
                assert_eq!(full, fast, "at {t}");
            }
        }
        let rebuilt = Expiry::rebuild(fast.iter().flat_map(|(k, v)| v.iter().map(move |t| (*t, k))));
        assert_eq!(rebuilt.queue.len(), fast.values().map(VecDeque::len).sum::<usize>());
        assert!(rebuilt.queue.iter().zip(rebuilt.queue.iter().skip(1)).all(|(a, b)| a.0 <= b.0));
    }
}
