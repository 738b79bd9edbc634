use super::*;
use crate::graph::Edge;

const H: i64 = 3_600_000_000;

/// (id, src, dst, ts in hours, usd in dollars)
type Row = (&'static str, &'static str, &'static str, i64, i128);

/// Feeds `rows` in order (as the pipeline does) and returns the alerted episodes.
fn run(rows: &[Row], cfg: FlowConfig) -> Vec<Episode> {
    let mut g = TemporalGraph { pairs: crate::graph::Pairs::new(Some(90 * 24 * H)), ..TemporalGraph::default() };
    let mut f = FlowFinder::new(cfg.clone());
    let mut eps = Episodes::default();
    let mut out = Vec::new();
    for (seq, (id, s, d, ts, usd)) in rows.iter().enumerate() {
        let now = ts * H;
        out.extend(eps.close_before(now, cfg.episode_gap_us));
        let first = g.pairs.note(s, d, now);
        let e = g.add(s, d, Edge { tx_id: (*id).into(), ts: now, seq: seq as u64, usd: usd * 1_000_000 }, first);
        for m in f.on_edge(&g, e) {
            eps.add(m, now);
        }
    }
    out.extend(eps.close_all());
    out
}

fn ids(ep: &Episode) -> Vec<&str> {
    ep.edges.iter().map(|e| e.tx_id.as_str()).collect()
}

fn only(cfg_sg: bool, cfg_bp: bool) -> FlowConfig {
    FlowConfig { scatter_gather: cfg_sg, gather_scatter: cfg_sg, bipartite: cfg_bp, ..FlowConfig::default() }
}

#[test]
fn scatter_gather_is_one_alert_with_every_leg() {
    let rows = [
        ("s1", "S", "M1", 1, 40_000),
        ("s2", "S", "M2", 2, 30_000),
        ("s3", "S", "M3", 3, 30_000),
        ("g1", "M1", "K", 20, 39_000),
        ("g2", "M2", "K", 30, 29_500),
        ("g3", "M3", "K", 40, 28_000),
    ];
    let eps = run(&rows, only(true, false));
    let sg: Vec<&Episode> = eps.iter().filter(|e| e.pattern == Pattern::ScatterGather).collect();
    assert_eq!(sg.len(), 1, "{eps:?}");
    assert_eq!(ids(sg[0]), ["s1", "s2", "s3", "g1", "g2", "g3"]);
    let (src, mids, sink) = roles(sg[0]);
    assert_eq!((src.len(), mids.len(), sink.len()), (1, 3, 1));
}

#[test]
fn scatter_gather_near_misses() {
    let base =
        |g2: Row| vec![("s1", "S", "M1", 1, 40_000), ("s2", "S", "M2", 2, 30_000), ("g1", "M1", "K", 20, 39_000), g2];
    let sg =
        |rows: &[Row]| run(rows, only(true, false)).into_iter().filter(|e| e.pattern == Pattern::ScatterGather).count();
    assert_eq!(sg(&base(("g2", "M2", "K", 30, 29_000))), 1);
    // an intermediary passes on only 80%
    assert_eq!(sg(&base(("g2", "M2", "K", 30, 24_000))), 0);
    // one hop out of time order: M2 paid K before S paid M2
    let rows = [
        ("g2", "M2", "K", 1, 29_000),
        ("s1", "S", "M1", 2, 40_000),
        ("s2", "S", "M2", 3, 30_000),
        ("g1", "M1", "K", 20, 39_000),
    ];
    assert_eq!(sg(&rows), 0);
    // the window exceeded: the second forward 8 days after the scatter
    assert_eq!(sg(&base(("g2", "M2", "K", 8 * 24 + 3, 29_000))), 0);
    // a single intermediary is a pass-through, not a scatter-gather
    assert_eq!(sg(&[("s1", "S", "M1", 1, 40_000), ("g1", "M1", "K", 20, 39_000)]), 0);
}

#[test]
fn gather_scatter_balances_the_hub() {
    let rows = [
        ("i1", "A1", "H", 1, 20_000),
        ("i2", "A2", "H", 5, 15_000),
        ("i3", "A3", "H", 9, 10_000),
        ("o1", "H", "B1", 30, 24_000),
        ("o2", "H", "B2", 40, 20_000),
    ];
    let eps = run(&rows, only(true, false));
    let gs: Vec<&Episode> = eps.iter().filter(|e| e.pattern == Pattern::GatherScatter).collect();
    assert_eq!(gs.len(), 1, "{eps:?}");
    assert_eq!(ids(gs[0]), ["i1", "i2", "i3", "o1", "o2"]);
    // paid out only 60% of what came in
    let mut short = rows.to_vec();
    short[4] = ("o2", "H", "B2", 40, 2_000);
    assert!(run(&short, only(true, false)).iter().all(|e| e.pattern != Pattern::GatherScatter));
    // one sink only
    let mut one = rows.to_vec();
    one[4] = ("o2", "H", "B1", 40, 20_000);
    assert!(run(&one, only(true, false)).iter().all(|e| e.pattern != Pattern::GatherScatter));
}

#[test]
fn bipartite_layers_and_a_stack_are_one_alert() {
    let k22 = [
        ("a1", "A1", "B1", 1, 5_000),
        ("a2", "A1", "B2", 2, 6_000),
        ("a3", "A2", "B1", 3, 7_000),
        ("a4", "A2", "B2", 4, 8_000),
    ];
    let eps = run(&k22, only(false, true));
    assert_eq!(eps.len(), 1);
    assert_eq!(ids(&eps[0]), ["a1", "a2", "a3", "a4"]);
    // K2,1 (one receiver missing a sender) is nothing
    assert!(run(&k22[..3], only(false, true)).is_empty());
    // a second layer B1, B2 -> C1, C2 joins it: a stack
    let mut stack = k22.to_vec();
    stack.extend([
        ("c1", "B1", "C1", 30, 6_000),
        ("c2", "B1", "C2", 31, 6_000),
        ("c3", "B2", "C1", 32, 7_000),
        ("c4", "B2", "C2", 33, 7_000),
    ]);
    let eps = run(&stack, only(false, true));
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0].edges.len(), 8);
    let (senders, middle, receivers) = roles(&eps[0]);
    assert_eq!((senders.len(), middle.len(), receivers.len()), (2, 2, 2));
}

#[test]
fn an_episode_closes_after_the_gap_and_the_next_is_new() {
    let mut rows = vec![
        ("a1", "A1", "B1", 1, 5_000),
        ("a2", "A1", "B2", 2, 6_000),
        ("a3", "A2", "B1", 3, 7_000),
        ("a4", "A2", "B2", 4, 8_000),
    ];
    // the same senders pay two new receivers two weeks later: a second alert (the first
    // episode closed), while paying the first two again is no pattern (known counterparties)
    rows.extend([
        ("r1", "A1", "B1", 390, 5_000),
        ("r2", "A1", "B2", 391, 6_000),
        ("r3", "A2", "B1", 392, 7_000),
        ("r4", "A2", "B2", 393, 8_000),
        ("b1", "A1", "B3", 400, 5_000),
        ("b2", "A1", "B4", 401, 6_000),
        ("b3", "A2", "B3", 402, 7_000),
        ("b4", "A2", "B4", 403, 8_000),
    ]);
    let eps = run(&rows, only(false, true));
    assert_eq!(eps.iter().map(ids).collect::<Vec<_>>(), [vec!["a1", "a2", "a3", "a4"], vec!["b1", "b2", "b3", "b4"]]);
    // without the new-counterparty condition the repeat is a layer too
    let cfg = FlowConfig { new_pairs_only: false, ..only(false, true) };
    assert_eq!(run(&rows, cfg).len(), 2, "the repeat joins the second episode (shared accounts)");
}
