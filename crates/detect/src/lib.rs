//! mirrorflow-detect: the detectors that are not SQL, each behind the core crate's
//! `Detector` seam.
//!
//! Owns: the temporal graph engine ([`graph`]: time-respecting cycles, fan and
//! scatter-gather flows), peel chains and on-ramps ([`peel`]: per-wallet state, no graph), mirror-swap matching ([`mirror`]: placements,
//! legs, netting, crypto settlement, network matches), party resolution ([`party`]) and
//! counterparty novelty ([`novelty`]). Each detector owns its config struct.
//! Must not: depend on DataFusion, the pipeline, the store or the product's config; read
//! files; or key a decision on a memo, an industry name or one dataset's amount range.

pub mod graph;
pub mod mirror;
pub mod novelty;
pub mod party;
pub mod peel;

/// Gives back most of a queue's buffer once it holds under a quarter of it. A queue's
/// buffer only grows (to the most it ever held), so across a live run's hundreds of
/// thousands of per-account queues the high-water marks ratchet memory up long after
/// what they hold has levelled off; halving at a quarter keeps the cost amortized.
pub(crate) fn shrink_idle<T>(q: &mut std::collections::VecDeque<T>) {
    if q.capacity() > 16 && q.len() < q.capacity() / 4 {
        q.shrink_to(q.len() * 2);
    }
}

/// Trims a long-lived queue's spare room to about an eighth of what it holds (none when
/// empty). For queues whose length holds steady while entries turn over: each time one
/// reaches a new high it doubles its buffer, and `shrink_idle` never gives that back
/// while the queue is over a quarter full, so across many small queues the buffers creep
/// toward twice their highest length. Called from periodic sweeps, not on every change.
pub(crate) fn trim_slack<T>(q: &mut std::collections::VecDeque<T>) {
    let want = q.len() + q.len() / 8 + 1;
    if q.is_empty() {
        if q.capacity() > 0 {
            *q = std::collections::VecDeque::new();
        }
    } else if q.capacity() > want + want / 4 + 1 {
        q.shrink_to(want);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_queue_that_emptied_gives_its_buffer_back_and_one_in_use_keeps_it() {
        let mut q: std::collections::VecDeque<u64> = (0..1000).collect();
        let full = q.capacity();
        q.drain(..900);
        super::shrink_idle(&mut q);
        assert!(q.capacity() <= 200 && q.capacity() >= 100, "{} of {full}", q.capacity());
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), (900..1000).collect::<Vec<_>>());
        let cap = q.capacity();
        q.drain(..20);
        super::shrink_idle(&mut q);
        assert_eq!(q.capacity(), cap, "still over a quarter full: kept");
    }

    #[test]
    fn a_steady_queue_keeps_a_little_room_and_an_empty_one_none() {
        let mut q: std::collections::VecDeque<u64> = std::collections::VecDeque::with_capacity(64);
        q.extend(0..33);
        super::trim_slack(&mut q);
        assert!(q.capacity() >= 33 && q.capacity() <= 40, "{}", q.capacity());
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), (0..33).collect::<Vec<_>>());
        let cap = q.capacity();
        super::trim_slack(&mut q);
        assert_eq!(q.capacity(), cap, "already tight: no reallocation");
        q.clear();
        super::trim_slack(&mut q);
        assert_eq!(q.capacity(), 0);
    }
}
