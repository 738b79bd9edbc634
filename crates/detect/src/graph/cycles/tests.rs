use std::collections::BTreeSet;

use super::*;

const DAY: i64 = 86_400_000_000;

/// (id, src, dst, ts in µs, usd in dollars)
type Row = (&'static str, &'static str, &'static str, i64, i128);

fn run(rows: &[Row], cfg: CycleConfig) -> Vec<Cycle> {
    let mut f = CycleFinder::new(cfg);
    let mut out = Vec::new();
    for (seq, (id, s, d, ts, usd)) in rows.iter().enumerate() {
        out.extend(f.push(s, d, Edge { tx_id: (*id).into(), ts: *ts, seq: seq as u64, usd: usd * 1_000_000 }));
    }
    out
}

fn ids(c: &[Cycle]) -> Vec<Vec<&str>> {
    c.iter().map(|c| c.tx_ids.iter().map(String::as_str).collect()).collect()
}

#[test]
fn a_round_trip_closes_once_in_time_order() {
    let rows = [
        ("t1", "A", "B", DAY, 10_000),
        ("t2", "B", "C", 2 * DAY, 9_500),
        ("t3", "C", "A", 3 * DAY, 9_000),
        ("x", "C", "B", 4 * DAY, 9_000), // B -> C -> B: t2 then x
    ];
    let c = run(&rows, CycleConfig::default());
    assert_eq!(ids(&c), [vec!["t1", "t2", "t3"], vec!["t2", "x"]]);
    assert_eq!(c[0].accounts, ["A", "B", "C"]);
}

#[test]
fn near_misses_out_of_order_value_lost_window_exceeded() {
    // one hop out of time order
    let rows = [("t1", "A", "B", 2 * DAY, 10_000), ("t2", "B", "C", DAY, 9_500), ("t3", "C", "A", 3 * DAY, 9_000)];
    assert!(run(&rows, CycleConfig::default()).is_empty());
    // a hop keeps only 80% of the one before
    let rows = [("t1", "A", "B", DAY, 10_000), ("t2", "B", "C", 2 * DAY, 8_000), ("t3", "C", "A", 3 * DAY, 7_900)];
    assert!(run(&rows, CycleConfig::default()).is_empty());
    // a hop carries 20% more than the one before
    let rows = [("t1", "A", "B", DAY, 10_000), ("t2", "B", "C", 2 * DAY, 12_000), ("t3", "C", "A", 3 * DAY, 11_500)];
    assert!(run(&rows, CycleConfig::default()).is_empty());
    // small change going round does not count (min_usd)
    let rows = [("t1", "A", "B", DAY, 100), ("t2", "B", "A", 2 * DAY, 99)];
    assert!(run(&rows, CycleConfig::default()).is_empty());
    // closes 31 days after it started
    let rows = [("t1", "A", "B", DAY, 10_000), ("t2", "B", "C", 2 * DAY, 9_500), ("t3", "C", "A", 32 * DAY, 9_000)];
    assert!(run(&rows, CycleConfig::default()).is_empty());
    // longer than max_len
    let cfg = CycleConfig { max_len: 2, ..CycleConfig::default() };
    let rows = [("t1", "A", "B", DAY, 10_000), ("t2", "B", "C", 2 * DAY, 9_500), ("t3", "C", "A", 3 * DAY, 9_000)];
    assert!(run(&rows, cfg).is_empty());
}

#[test]
fn ties_in_time_follow_arrival_order() {
    // whole-day timestamps: t1 then t2 on the same day chain in arrival order only
    let rows = [("t1", "A", "B", DAY, 10_000), ("t2", "B", "A", DAY, 9_900)];
    assert_eq!(ids(&run(&rows, CycleConfig::default())), [vec!["t1", "t2"]]);
    let rows = [("t2", "B", "A", DAY, 9_900), ("t1", "A", "B", DAY, 10_000)];
    // B -> A then A -> B: also a cycle (started at B), in arrival order
    assert_eq!(ids(&run(&rows, CycleConfig::default())), [vec!["t2", "t1"]]);
}

#[test]
fn a_cycle_window_shorter_than_the_window_bounds_the_cycle_not_the_graph() {
    // spans 5 days to the microsecond, then one more: the second is out with a 5-day
    // cycle window, both are in with the whole (30-day) window
    let rows = |last: i64| {
        [("t1", "A", "B", DAY, 10_000), ("t2", "B", "C", 3 * DAY, 9_500), ("t3", "C", "A", DAY + last, 9_000)]
    };
    let five = CycleConfig { cycle_window_us: Some(5 * DAY), ..CycleConfig::default() };
    assert_eq!(ids(&run(&rows(5 * DAY), five.clone())), [vec!["t1", "t2", "t3"]]);
    assert!(run(&rows(5 * DAY + 1), five.clone()).is_empty());
    assert_eq!(run(&rows(5 * DAY + 1), CycleConfig::default()).len(), 1);
    // the graph still keeps the whole window's edges (flows read them)
    let mut f = CycleFinder::new(five);
    for k in 0..20i64 {
        let e = Edge { tx_id: format!("t{k}").into(), ts: k * DAY, seq: k as u64, usd: 5_000_000_000 };
        f.push(&format!("N{k}"), &format!("N{}", k + 1), e);
    }
    assert_eq!(f.graph.size().0, 20);
}

#[test]
fn rebuilding_the_graph_as_edges_leave_changes_no_cycle() {
    // a long stream through 40 accounts with a 3-day window: edges leave all the time;
    // one graph is rebuilt whenever 8 evicted edges outnumber the live ones, the other never
    let run_with = |compact: usize| {
        let cfg =
            CycleConfig { window_us: 3 * DAY, max_hop_loss_bp: 10_000, max_hop_gain_bp: 100_000, ..Default::default() };
        let mut f = CycleFinder::new(cfg);
        f.graph.compact_min_dead = Some(compact);
        let mut out = Vec::new();
        let mut x = 7u64;
        for k in 0..4_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (a, b) = ((x >> 33) % 40, (x >> 13) % 40);
            let e = Edge { tx_id: format!("t{k}").into(), ts: k as i64 * 3_600_000_000, seq: k, usd: 5_000_000_000 };
            out.extend(f.push(&format!("N{a}"), &format!("N{b}"), e).into_iter().map(|c| c.tx_ids));
        }
        (out, f.graph.size())
    };
    let (never, size_never) = run_with(usize::MAX);
    let (often, size_often) = run_with(8);
    assert!(never.len() > 100, "{} cycles", never.len());
    assert_eq!(never, often);
    assert_eq!(size_never, size_often);
    assert!(size_often.0 > 60 && size_often.0 <= 73, "about three days of hourly edges: {size_often:?}");
}

#[test]
fn old_edges_leave_the_graph() {
    let mut f = CycleFinder::new(CycleConfig { window_us: 10 * DAY, ..CycleConfig::default() });
    for k in 0..100i64 {
        let e = Edge { tx_id: format!("t{k}").into(), ts: k * DAY, seq: k as u64, usd: 5_000_000_000 };
        f.push(&format!("N{k}"), &format!("N{}", k + 1), e);
    }
    let (edges, nodes) = f.graph.size();
    assert!(edges <= 11 && nodes <= 12, "{edges} edges, {nodes} nodes");
}

/// Every cycle of `edges` by exhaustive search, independent of the streaming search.
fn brute_force(edges: &[(String, String, String, i64, u64, i128)], cfg: &CycleConfig) -> BTreeSet<Vec<String>> {
    let keep = 10_000 - cfg.max_hop_loss_bp;
    let grow = 10_000 + cfg.max_hop_gain_bp;
    let mut out = BTreeSet::new();
    fn extend(
        edges: &[(String, String, String, i64, u64, i128)],
        cfg: &CycleConfig,
        (keep, grow): (i128, i128),
        path: &mut Vec<usize>,
        out: &mut BTreeSet<Vec<String>>,
    ) {
        let first = &edges[path[0]];
        let last = &edges[*path.last().unwrap()];
        if path.len() >= 2 && last.2 == first.1 {
            out.insert(path.iter().map(|&i| edges[i].0.clone()).collect());
            return;
        }
        if path.len() == cfg.max_len {
            return;
        }
        for (j, e) in edges.iter().enumerate() {
            let later = (e.3, e.4) > (last.3, last.4);
            let visited = path.iter().any(|&p| edges[p].1 == e.2) && e.2 != first.1;
            if e.1 == last.2
                && e.1 != e.2
                && later
                && e.3 - first.3 <= cfg.window_us
                && e.5 * 10_000 >= last.5 * keep
                && e.5 * 10_000 <= last.5 * grow
                && e.5 >= cfg.min_usd
                && !visited
            {
                path.push(j);
                extend(edges, cfg, (keep, grow), path, out);
                path.pop();
            }
        }
    }
    for i in 0..edges.len() {
        if edges[i].1 != edges[i].2 && edges[i].5 >= cfg.min_usd {
            extend(edges, cfg, (keep, grow), &mut vec![i], &mut out);
        }
    }
    out
}

/// xorshift: reproducible random graphs without another dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn streaming_search_finds_exactly_the_brute_force_cycles_on_random_graphs() {
    let mut total = 0;
    for case in 0..400u64 {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ (case * 7919 + 1));
        let n = 3 + r.below(4);
        let m = 5 + r.below(30) as usize;
        let cfg = CycleConfig {
            max_len: 2 + r.below(5) as usize,
            max_hop_loss_bp: [0, 500, 1500, 5000][r.below(4) as usize],
            max_hop_gain_bp: [0, 500, 3000][r.below(3) as usize],
            min_usd: [0, 900][r.below(2) as usize],
            window_us: (2 + r.below(20) as i64) * DAY,
            skip_kinds: Vec::new(),
            ..CycleConfig::default()
        };
        let mut edges: Vec<(String, String, String, i64, u64, i128)> = (0..m)
            .map(|k| {
                let s = r.below(n);
                let d = r.below(n);
                // whole days half the time: ties in time are common
                let ts =
                    if r.below(2) == 0 { r.below(30) as i64 * DAY } else { r.below(30 * 24) as i64 * 3_600_000_000 };
                let usd = 800 + r.below(400) as i128;
                (format!("e{k}"), format!("N{s}"), format!("N{d}"), ts, 0, usd)
            })
            .collect();
        edges.sort_by_key(|e| e.3);
        for (k, e) in edges.iter_mut().enumerate() {
            e.4 = k as u64;
        }
        let expected = brute_force(&edges, &cfg);
        let mut f = CycleFinder::new(cfg.clone());
        let mut got = BTreeSet::new();
        for e in &edges {
            for c in f.push(&e.1, &e.2, Edge { tx_id: e.0.as_str().into(), ts: e.3, seq: e.4, usd: e.5 }) {
                assert!(got.insert(c.tx_ids.clone()), "case {case}: cycle found twice {:?}", c.tx_ids);
            }
        }
        assert_eq!(got, expected, "case {case}: {cfg:?}\n{edges:?}");
        total += expected.len();
    }
    assert!(total > 200, "the random graphs should hold cycles: {total}");
}

#[test]
fn known_partners_and_busy_accounts_can_be_left_out() {
    let rows = [
        ("p1", "A", "B", DAY, 10_000), // A and B dealt before the cycle
        ("t1", "A", "B", 2 * DAY, 10_000),
        ("t2", "B", "C", 3 * DAY, 9_500),
        ("t3", "C", "A", 4 * DAY, 9_000),
    ];
    let mut f = CycleFinder::new(CycleConfig { max_known_edges: Some(0), ..CycleConfig::default() });
    f.graph.pairs = crate::graph::Pairs::new(Some(90 * DAY));
    let mut found = Vec::new();
    for (seq, (id, s, d, ts, usd)) in rows.iter().enumerate() {
        found.extend(f.push(s, d, Edge { tx_id: (*id).into(), ts: *ts, seq: seq as u64, usd: usd * 1_000_000 }));
    }
    // p1 -> t2 -> t3 is all first contacts; t1 repeats A -> B
    assert_eq!(ids(&found), [vec!["p1", "t2", "t3"]]);
    // quiet accounts: B received twice before it paid C, so with every account required
    // to have made at most one transaction before its cycle payment, neither cycle counts;
    // with two allowed, both do
    let quiet = |max| CycleConfig { quiet_share_bp: 10_000, quiet_max_tx: max, ..CycleConfig::default() };
    assert!(run(&rows, quiet(1)).is_empty());
    assert_eq!(run(&rows, quiet(2)).len(), 2);
    assert_eq!(run(&rows, CycleConfig::default()).len(), 2);
    assert_eq!(run(&rows, CycleConfig { min_len: 4, ..CycleConfig::default() }).len(), 0);
}

#[test]
fn a_path_with_more_busy_accounts_than_a_kept_cycle_can_hold_is_not_followed() {
    // half quiet: 8 edges hold at most 4 busy; 3 edges at most 1; all quiet: none busy
    assert_eq!(max_busy(8, 5_000), 4);
    assert_eq!(max_busy(3, 5_000), 1);
    assert_eq!(max_busy(4, 10_000), 0);
    assert_eq!(max_busy(8, 0), usize::MAX);
    // the bound is the best case of every length up to max_len: (L - b) / L grows with L
    for max_len in 2..=12usize {
        for bp in [2_500i128, 5_000, 7_500] {
            let b = max_busy(max_len, bp);
            for len in 1..=max_len {
                let best = |busy: usize| len >= busy && ((len - busy) as i128) * 10_000 >= len as i128 * bp;
                assert!(!best(b + 1), "max_len {max_len}, {bp} bp, length {len}: {} busy could pass", b + 1);
            }
            assert!(((max_len - b) as i128) * 10_000 >= max_len as i128 * bp);
        }
    }
}

/// A -> H -> B -> A, with `fillers` other accounts paying the hub H between A's credit
/// (at `a_day`) and H's payment on: the search follows only the hub's most recent
/// `MAX_STEP_INS` credits before the hop, and counts the search that met the cap.
fn hub_cycle(fillers: usize, a_day: i64) -> (Vec<Cycle>, CycleStats) {
    let mut rows: Vec<(String, String, String, i64)> = vec![("a".into(), "A".into(), "H".into(), a_day * DAY)];
    for i in 0..fillers {
        rows.push((format!("x{i}"), format!("X{i}"), "H".into(), 2 * DAY + i as i64 * 1_000_000));
    }
    rows.sort_by_key(|r| r.3);
    rows.push(("h".into(), "H".into(), "B".into(), 5 * DAY));
    rows.push(("b".into(), "B".into(), "A".into(), 6 * DAY));
    let mut f = CycleFinder::new(CycleConfig::default());
    let mut out = Vec::new();
    for (seq, (id, s, d, ts)) in rows.iter().enumerate() {
        let usd = if id == "h" {
            9_800
        } else if id == "b" {
            9_700
        } else {
            10_000
        };
        out.extend(f.push(s, d, Edge { tx_id: id.as_str().into(), ts: *ts, seq: seq as u64, usd: usd * 1_000_000 }));
    }
    (out, f.stats)
}

#[test]
fn a_search_step_follows_a_hubs_most_recent_credits_only_and_says_so() {
    // under the cap: the old credit is followed
    let (c, stats) = hub_cycle(MAX_STEP_INS - 1, 1);
    assert_eq!(ids(&c), [vec!["a", "h", "b"]]);
    assert_eq!(stats.hub_capped, 0);
    // over it: a credit older than the hub's MAX_STEP_INS most recent is not followed,
    // and the search is counted
    let (c, stats) = hub_cycle(MAX_STEP_INS + 44, 1);
    assert!(c.is_empty());
    assert_eq!(stats.hub_capped, 1);
    // a recent credit is found however many older ones the hub has
    let (c, _) = hub_cycle(MAX_STEP_INS + 44, 4);
    assert_eq!(ids(&c), [vec!["a", "h", "b"]]);
}

/// A cycle `V -> A -> U -> V` closed by its last edge, beside `fillers` accounts each
/// paying every later one (twice round; no cycle among them) and then `U`: the search
/// from `U` outgrows the eager budget. With `v_into_clique`, `V` paid every filler first, so the
/// reachability pass from `V` has to walk the whole clique.
fn clique_cycle(fillers: usize, v_into_clique: bool, max_visits: u64) -> (Vec<Cycle>, CycleStats) {
    let mut rows: Vec<(String, String, String, i64, i128)> = Vec::new();
    let f = |i: usize| format!("F{i}");
    if v_into_clique {
        for i in 0..fillers {
            rows.push((format!("v{i}"), "V".into(), f(i), i as i64, 10_000));
        }
    }
    let mut t = DAY;
    for round in 0..2 {
        for i in 0..fillers {
            for j in i + 1..fillers {
                rows.push((format!("c{round}.{i}.{j}"), f(i), f(j), t, 10_000));
                t += 1_000_000;
            }
        }
    }
    for i in 0..fillers {
        rows.push((format!("u{i}"), f(i), "U".into(), 3 * DAY + i as i64, 10_000));
    }
    rows.push(("a".into(), "V".into(), "A".into(), 4 * DAY, 10_000));
    rows.push(("b".into(), "A".into(), "U".into(), 4 * DAY + DAY / 2, 9_900));
    rows.push(("c".into(), "U".into(), "V".into(), 5 * DAY, 9_800));
    let mut finder = CycleFinder::new(CycleConfig { max_visits, ..CycleConfig::default() });
    let (mut out, mut before) = (Vec::new(), CycleStats::default());
    for (seq, (id, s, d, ts, usd)) in rows.iter().enumerate() {
        let edge = Edge { tx_id: id.as_str().into(), ts: *ts, seq: seq as u64, usd: usd * 1_000_000 };
        before = finder.stats;
        out = finder.push(s, d, edge);
    }
    // what the last edge's search did
    let s = finder.stats;
    let last = CycleStats {
        bounded_searches: s.bounded_searches - before.bounded_searches,
        truncated: s.truncated - before.truncated,
        visits: s.visits - before.visits,
        ..CycleStats::default()
    };
    (out, last)
}

#[test]
fn a_dense_search_costs_at_most_its_budget_reachability_pass_included_and_says_so() {
    // the clique is not reachable from V: the reachability pass is a few edges, and the
    // bounded search finds the cycle well inside a small budget
    let (c, s) = clique_cycle(40, false, 1_000);
    assert_eq!(ids(&c), [vec!["a", "b", "c"]]);
    assert_eq!((s.bounded_searches, s.truncated), (1, 0));
    // V reaches the whole clique: the pass alone needs more than the budget, so the
    // search stops there and is counted
    let (c, s) = clique_cycle(40, true, 1_000);
    assert!(c.is_empty());
    assert_eq!((s.bounded_searches, s.truncated), (1, 1));
    assert!(s.visits <= EAGER_BUDGET + 1_000, "{s:?}");
    // the product's budget pays for the pass and then finds the cycle (and those that
    // now run from V through the fillers), within the budget
    let (c, s) = clique_cycle(40, true, MAX_VISITS);
    assert!(ids(&c).contains(&vec!["a", "b", "c"]));
    assert!(c.len() > 1 && c.len() <= MAX_CYCLES && c.iter().all(|c| c.accounts[0] == "V"));
    assert_eq!(s.bounded_searches, 1);
    assert!(s.visits <= EAGER_BUDGET + MAX_VISITS, "{s:?}");
}
