//! Bounded subset-sum: which few of a handful of values add up to a target band.
//!
//! The network stage asks it twice per candidate network (the CNY credits, the MXN
//! payouts): among at most `max_candidates` values, a subset of at most `max_items`
//! whose sum lies in `[lo, hi]`, the one closest to `target` (then the fewest items,
//! then the earliest candidates). A depth-first search over the values in descending
//! order, pruned on both ends of the band, stops after `budget` nodes and says so.
//!
//! Owns: `best_subset`, `Search`.
//! Must not: allocate per node or depend on anything but its arguments (deterministic).

/// What one search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// Indices into the values given (ascending), when a subset was found.
    pub pick: Option<Vec<usize>>,
    /// Nodes visited.
    pub nodes: u64,
    /// The node budget ran out before the search was complete (the answer is the best
    /// found until then).
    pub gave_up: bool,
}

/// The best subset of `values` (each > 0) of at most `max_items` items summing to a value
/// in `[lo, hi]`, closest to `target`; at most `budget` nodes.
pub fn best_subset(values: &[i128], lo: i128, hi: i128, target: i128, max_items: usize, budget: u64) -> Search {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| values[i] > 0 && values[i] <= hi).collect();
    // descending value, then index: the search order is a function of the input alone
    order.sort_by(|&a, &b| values[b].cmp(&values[a]).then(a.cmp(&b)));
    let v: Vec<i128> = order.iter().map(|&i| values[i]).collect();
    // prefix sums of the sorted values: the largest r items from position j sum to
    // pre[min(j + r, n)] - pre[j]
    let mut pre = vec![0i128; v.len() + 1];
    for (i, x) in v.iter().enumerate() {
        pre[i + 1] = pre[i] + x;
    }
    let mut s = State {
        v: &v,
        pre: &pre,
        lo,
        hi,
        target,
        max_items,
        budget,
        nodes: 0,
        gave_up: false,
        stack: Vec::with_capacity(max_items),
        best: None,
    };
    if max_items > 0 && lo <= hi {
        s.dfs(0, 0);
    }
    let pick = s.best.map(|(_, mut p)| {
        let mut idx: Vec<usize> = p.drain(..).map(|k| order[k]).collect();
        idx.sort_unstable();
        idx
    });
    Search { pick, nodes: s.nodes, gave_up: s.gave_up }
}

struct State<'a> {
    v: &'a [i128],
    pre: &'a [i128],
    lo: i128,
    hi: i128,
    target: i128,
    max_items: usize,
    budget: u64,
    nodes: u64,
    gave_up: bool,
    stack: Vec<usize>,
    /// ((distance to target, items, positions), positions)
    best: Option<(Rank, Vec<usize>)>,
}

/// How good a subset is: (distance to the target, items, positions); smaller is better.
type Rank = (i128, usize, Vec<usize>);

impl State<'_> {
    fn dfs(&mut self, from: usize, sum: i128) {
        let n = self.v.len();
        for j in from..n {
            if self.nodes >= self.budget {
                self.gave_up = true;
                return;
            }
            self.nodes += 1;
            let left = self.max_items - self.stack.len();
            // the largest `left` values from j on cannot reach the band: nor can any later j
            if sum + self.pre[(j + left).min(n)] - self.pre[j] < self.lo {
                return;
            }
            let s = sum + self.v[j];
            if s > self.hi {
                continue;
            }
            self.stack.push(j);
            if s >= self.lo {
                let key = ((s - self.target).abs(), self.stack.len(), self.stack.clone());
                if self.best.as_ref().is_none_or(|b| key < b.0) {
                    self.best = Some((key, self.stack.clone()));
                }
            }
            if self.stack.len() < self.max_items {
                self.dfs(j + 1, s);
            }
            self.stack.pop();
            if self.gave_up {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subset, for comparison.
    fn brute(values: &[i128], lo: i128, hi: i128, target: i128, max_items: usize) -> Option<Vec<usize>> {
        let n = values.len();
        let mut best: Option<((i128, usize), Vec<usize>)> = None;
        for mask in 1u32..(1 << n) {
            let pick: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let s: i128 = pick.iter().map(|&i| values[i]).sum();
            if pick.len() > max_items || s < lo || s > hi {
                continue;
            }
            let key = ((s - target).abs(), pick.len());
            if best.as_ref().is_none_or(|b| key < b.0) {
                best = Some((key, pick));
            }
        }
        best.map(|b| b.1)
    }

    #[test]
    fn finds_the_subset_closest_to_the_target_like_brute_force() {
        let values = [61_000, 12_500, 58_300, 40_000, 9_900, 33_000, 70_100, 5_000];
        for (lo, hi, target, k) in [(180_000, 190_000, 184_000, 4), (100_000, 101_000, 100_500, 2), (5, 6, 5, 3)] {
            let got = best_subset(&values, lo, hi, target, k, 1_000_000);
            assert!(!got.gave_up);
            let want = brute(&values, lo, hi, target, k);
            let sum = |p: &Option<Vec<usize>>| p.as_ref().map(|p| p.iter().map(|&i| values[i]).sum::<i128>());
            assert_eq!(got.pick.is_some(), want.is_some(), "{lo}..{hi}");
            if got.pick.is_some() {
                let t = |p: &Option<Vec<usize>>| (sum(p).unwrap() - target).abs();
                assert_eq!(t(&got.pick), t(&want), "{lo}..{hi}: {:?} vs {want:?}", got.pick);
            }
        }
    }

    #[test]
    fn a_budget_that_runs_out_is_reported() {
        // many small equal values and an unreachable band: the search would be long
        let values = vec![1_000i128; 30];
        let got = best_subset(&values, 6_500, 6_600, 6_550, 8, 500);
        assert!(got.gave_up && got.pick.is_none() && got.nodes == 500);
        let got = best_subset(&values, 3_000, 3_000, 3_000, 8, 1_000_000);
        assert!(!got.gave_up);
        assert_eq!(got.pick, Some(vec![0, 1, 2]));
    }
}
