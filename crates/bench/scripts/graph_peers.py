#!/usr/bin/env python3
"""Peers of `mirrorflow bench graph`: temporal cycles counted by IBM snapml and networkx.

    graph_peers.py FILE --window-s W --max-len L --engine ENGINE [--threads N]
                   [--batch B] [--budget-s S] [--out JSON]
    graph_peers.py --probe
    graph_peers.py --self-check

FILE is an edge list `edge_id,src,dst,ts` (integer ids, `ts` integer seconds, rows in
time order), as `mirrorflow bench graph` generates it. The definition mirrorflow counts
(`CycleFinder`, `CycleConfig::temporal_only`): a simple directed cycle of 2..=L edges (no
node twice) whose edges follow each other in (ts, row) order, the last at most W seconds
after the first. Engines:

* `snapml`: snapml's `GraphFeaturePreprocessor` with only `temp-cycle` on,
  `temp-cycle_tw` = `time_window` = W, `temp-cycle_bins` = [2, 3, ..., L+1],
  `num_threads` = N, one `transform` of the whole edge list on a fresh object (a
  `fit_transform` inserts the edges twice). Its output gives, per edge and cycle length
  k, the cycles of length k the edge takes part in (the last bin: every length > L), so
  the cycles of length k are the column's sum / k. `seconds` times the `transform`.
* `snapml-batched`: the same, streamed as `transform` calls of B edges (how a live
  system would feed it). A batch's edges only see cycles closed within the batch or
  earlier, so the sums are not cycle counts: time only (`cycles` is null).
* `networkx`: `nx.simple_cycles(G, length_bound=L)` is static, so the time span is cut
  into slots of W seconds from the first edge; for slot k, G is the digraph of the edges
  in [slot start, slot start + 2W), and each static cycle it yields is expanded into its
  time-respecting edge sequences (over parallel edges, every rotation) whose first edge
  lies in slot k and whose last edge is at most W after the first: every temporal cycle
  is counted once, in its first edge's slot. Exactly mirrorflow's definition (ties in
  time follow row order, as mirrorflow's `seq` does). Stops when `--budget-s` is spent
  and reports how far it got (`finished` false).

What snapml counts, established against a brute-force enumerator (`--self-check`;
snapml 1.17.2):
  1. time order is strict: edges with equal timestamps never follow each other (the
     tie order mirrorflow takes from `seq` does not exist there);
  2. the window is inclusive: last ts - first ts <= `temp-cycle_tw`;
  3. there is no length bound: longer cycles are found and land in the last bin (the
     enumeration pays for them);
  4. 2-cycles count; self-loops never do; cycles are simple (a figure-eight is two
     cycles);
  5. parallel edges are bundled: an edge's count is the number of distinct (node
     sequence, closing edge) cycles it lies on, not of edge sequences. Where an ordered
     pair repeats within W, snapml counts fewer cycles and the column sums stop being
     multiples of k (`exact` false);
  6. timestamps are 32-bit integers: later than 2^31 - 1 s, cycles are silently lost,
     and fractional seconds are truncated (so this script refuses such files);
  7. timestamp 0 is special (a sentinel?): an edge at ts 0 can hide other cycles
     through its nodes, which the same graph with that edge at ts 1 (or -5) shows; this
     script refuses ts < 1;
  8. a single `transform` with `time_window` = W loses nothing to eviction.
So on graphs without ties in time and without an ordered pair repeated within W, the
definitions are the same and the counts must be equal.

Prints one JSON line (also written to `--out`):
    {"engine", "version", "edges", "window_s", "max_len", "finished", "cycles",
     "cycles_by_len", "seconds", "load_seconds", "total_seconds", "peak_rss_bytes",
     "note", ...}
with, for snapml, "threads", "batch", "exact", "participations_longer" and, for
networkx, "windows", "windows_done", "budget_s", "static_cycles".
`--probe` prints {"python", "numpy", "snapml", "networkx"} (versions, null when missing).
Exit status: 0 ok (a networkx run out of budget included), 2 bad arguments or input,
3 the engine's package is missing, 1 a self-check failed.

Owns: the peers' half of the comparison and the evidence for the semantics above.
Must not: change what the peers compute beyond the documented settings, or count cycles
itself outside the self-check's reference enumerator and networkx's expansion of
static cycles into temporal ones.
"""

import argparse
import json
import random
import resource
import signal
import sys
import time

EXIT_BAD_INPUT = 2
EXIT_MISSING = 3
HEADER = "edge_id,src,dst,ts"
# snapml keeps timestamps as 32-bit integers (semantics 6).
MAX_SNAPML_TS = 2**31 - 1


class BadInput(Exception):
    pass


class OutOfBudget(Exception):
    pass


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def version_of(package):
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return None


def load_edges(path):
    """The edge list as an int64 array of rows [edge_id, src, dst, ts]."""
    import numpy as np

    with open(path, "r", encoding="utf-8") as f:
        header = f.readline().strip().lstrip("\ufeff")
    if header != HEADER:
        raise BadInput(f"`{path}`: expected the header `{HEADER}`, found `{header}`")
    try:
        x = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise BadInput(f"`{path}`: not an integer edge list: {e}")
    if x.shape[0] and x.shape[1] != 4:
        raise BadInput(f"`{path}`: expected 4 columns, found {x.shape[1]}")
    if x.shape[0] > 1 and (x[1:, 3] < x[:-1, 3]).any():
        i = int((x[1:, 3] < x[:-1, 3]).argmax()) + 1
        raise BadInput(f"`{path}`: row {i + 1} is earlier than the row before it (edges must be in time order)")
    return x


def base_report(engine, version, x, args):
    return {
        "engine": engine,
        "version": version,
        "file": args.file,
        "edges": int(x.shape[0]),
        "window_s": args.window_s,
        "max_len": args.max_len,
        "finished": True,
        "cycles": None,
        "cycles_by_len": {},
        "seconds": None,
        "load_seconds": None,
        "total_seconds": None,
        "peak_rss_bytes": None,
        "note": None,
    }


# ---------------------------------------------------------------------------------------
# snapml


def snapml_params(window_s, max_len, threads):
    """Only temporal cycles; bins 2..=L, the last one collecting every longer cycle."""
    return {
        "num_threads": threads,
        "time_window": window_s,
        "vertex_stats": False,
        "fan": False,
        "degree": False,
        "scatter-gather": False,
        "lc-cycle": False,
        "temp-cycle": True,
        "temp-cycle_tw": window_s,
        "temp-cycle_bins": list(range(2, max_len + 2)),
    }


def snapml_transform(features, window_s, max_len, threads, batch=None):
    """Per-length sums of snapml's temp-cycle columns over `features` (float64 rows
    [id, src, dst, ts]): index i is length i + 2, the last index every length > max_len."""
    import numpy as np
    from snapml import GraphFeaturePreprocessor

    gfp = GraphFeaturePreprocessor()
    gfp.set_params(snapml_params(window_s, max_len, threads))
    sums = np.zeros(max_len, dtype=np.float64)
    step = batch or max(len(features), 1)
    for i in range(0, len(features), step):
        out = gfp.transform(features[i : i + step])
        sums += out[:, features.shape[1] :].sum(axis=0)
    return [int(s) for s in sums]


def cycles_from_participations(sums, max_len):
    """(cycles by length, exact): a cycle of length k adds 1 to each of its k edges."""
    by_len, exact = {}, True
    for i, k in enumerate(range(2, max_len + 1)):
        if sums[i] % k:
            exact = False
        by_len[k] = sums[i] // k
    return by_len, exact


def run_snapml(args, batched):
    import numpy as np

    started = time.perf_counter()
    x = load_edges(args.file)
    if x.shape[0] and (x[:, 3].max() > MAX_SNAPML_TS or x[:, 3].min() < 1):
        raise BadInput(f"`{args.file}`: timestamps outside 1..2^31-1 s, which snapml mishandles (see the module doc)")
    features = np.ascontiguousarray(x, dtype=np.float64)
    del x
    loaded = time.perf_counter()
    batch = args.batch if batched else None
    sums = snapml_transform(features, args.window_s, args.max_len, args.threads, batch)
    done = time.perf_counter()
    r = base_report("snapml-batched" if batched else "snapml", version_of("snapml"), features, args)
    r.update(threads=args.threads, batch=batch, participations_longer=sums[-1])
    if batched:
        r["cycles"], r["exact"] = None, None
        r["participations_by_len"] = {k: sums[i] for i, k in enumerate(range(2, args.max_len + 1))}
        r["note"] = f"transform in batches of {batch} edges: time only (per-batch sums are not cycle counts)"
    else:
        by_len, exact = cycles_from_participations(sums, args.max_len)
        r.update(cycles=sum(by_len.values()), cycles_by_len=by_len, exact=exact)
        if not exact:
            r["note"] = (
                "participations not a multiple of the length: snapml bundled parallel edges "
                "(an ordered pair repeats within the window), so these counts are approximate"
            )
    r.update(seconds=done - loaded, load_seconds=loaded - started, total_seconds=done - started)
    return r


# ---------------------------------------------------------------------------------------
# networkx


def temporal_in_static(cycle, hops, slot, window):
    """The time-respecting edge sequences of the static node `cycle` whose first edge's
    ts lies in `slot` = [lo, hi) and whose last is at most `window` after it; `hops` maps
    an ordered pair to its edges as sorted (ts, row) tuples."""
    n = len(cycle)
    legs = [hops[(cycle[j], cycle[(j + 1) % n])] for j in range(n)]
    lo, hi = slot
    count = 0

    def extend(j, r, prev, last_allowed):
        if j == n:
            return 1
        c = 0
        for w in legs[(r + j) % n]:
            if w > prev and w[0] <= last_allowed:
                c += extend(j + 1, r, w, last_allowed)
        return c

    for r in range(n):
        for w in legs[r]:
            if lo <= w[0] < hi:
                count += extend(1, r, w, w[0] + window)
    return count


def count_networkx(x, window, max_len, on_slot=None):
    """Temporal cycles of `x` (int rows [id, src, dst, ts] in time order) by length, and
    the static cycles networkx yielded; `on_slot(done, total)` after each slot."""
    import networkx as nx
    import numpy as np

    by_len = {k: 0 for k in range(2, max_len + 1)}
    static = 0
    if len(x) == 0:
        return by_len, static, 0
    ts = x[:, 3]
    t0 = int(ts[0])
    slots = (int(ts[-1]) - t0) // window + 1
    if on_slot:
        on_slot(0, slots)
    for k in range(slots):
        lo_t, hi_t = t0 + k * window, t0 + (k + 1) * window
        lo, hi = np.searchsorted(ts, lo_t, "left"), np.searchsorted(ts, hi_t + window, "left")
        hops = {}
        for row in range(lo, hi):
            s, d = int(x[row, 1]), int(x[row, 2])
            if s != d:
                hops.setdefault((s, d), []).append((int(ts[row]), row))
        g = nx.DiGraph()
        g.add_edges_from(hops)
        for cycle in nx.simple_cycles(g, length_bound=max_len):
            static += 1
            by_len[len(cycle)] += temporal_in_static(cycle, hops, (lo_t, hi_t), window)
        if on_slot:
            on_slot(k + 1, slots)
    return by_len, static, slots


def run_networkx(args):
    import networkx as nx

    started = time.perf_counter()
    x = load_edges(args.file)
    loaded = time.perf_counter()
    r = base_report("networkx", nx.__version__, x, args)
    progress = {"done": 0, "slots": None}

    def on_slot(done, total):
        progress.update(done=done, slots=total)

    def out_of_budget(signum, frame):
        raise OutOfBudget()

    signal.signal(signal.SIGALRM, out_of_budget)
    signal.alarm(max(int(args.budget_s), 1))
    try:
        by_len, static, slots = count_networkx(x, args.window_s, args.max_len, on_slot)
        signal.alarm(0)
        r.update(cycles=sum(by_len.values()), cycles_by_len=by_len, static_cycles=static, windows=slots)
        r["windows_done"] = slots
    except OutOfBudget:
        r.update(finished=False, windows=progress["slots"], windows_done=progress["done"], static_cycles=None)
        r["note"] = f"did not finish in {args.budget_s:g} s ({progress['done']} of {progress['slots']} windows done)"
    done = time.perf_counter()
    r.update(budget_s=args.budget_s, seconds=done - loaded, load_seconds=loaded - started, total_seconds=done - started)
    return r


# ---------------------------------------------------------------------------------------
# Self-check: the evidence for the semantics in the module doc


def brute_force(edges, window, max_len, strict):
    """Every temporal cycle of `edges` ([id, src, dst, ts] rows in time order) as a tuple
    of row indices in time order. `strict`: ts must increase (snapml); else (ts, row)
    must (mirrorflow). Window inclusive, simple, 2..=max_len edges."""
    into = {}
    for i, (_, s, d, t) in enumerate(edges):
        into.setdefault(d, []).append(i)
    found = []

    def before(a, b):
        return edges[a][3] < edges[b][3] if strict else (edges[a][3], a) < (edges[b][3], b)

    for c, (_, u, v, t) in enumerate(edges):
        if u == v:
            continue

        def back(x, path, on_path):
            for e in into.get(x, []):
                s, ts = edges[e][1], edges[e][3]
                if not before(e, path[-1]) or ts < t - window:
                    continue
                if s == v:
                    found.append(tuple(reversed(path + [e])))
                elif len(path) + 1 < max_len and s not in on_path:
                    back(s, path + [e], on_path | {s})

        back(u, [c], {u})
    return found


def bundled_participations(edges, cycles, max_len):
    """What snapml reports (semantics 5), as per-length sums: for each distinct (node
    sequence, closing edge), every edge on one of its cycles counts it once."""
    bundles = {}
    for c in cycles:
        key = (tuple(edges[e][1] for e in c), c[-1])
        bundles.setdefault(key, set()).update(c)
    sums = [0] * max_len
    for (nodes, _), members in bundles.items():
        sums[min(len(nodes), max_len + 1) - 2] += len(members)
    return sums


def random_edges(rng, nodes, count, span, ties, repeat_gap=None):
    """A random temporal multigraph: no self-loops; `ties`: timestamps may repeat;
    `repeat_gap`: an ordered pair never repeats within this many seconds. Timestamps
    start at 1: snapml mishandles 0 (semantics 7)."""
    if ties:
        times = sorted(rng.randrange(1, span + 1) for _ in range(count))
    else:
        times = sorted(rng.sample(range(1, span + 1), min(count, span)))
    edges, last = [], {}
    for t in times:
        for _ in range(50):
            s, d = rng.randrange(nodes), rng.randrange(nodes)
            if s == d or (repeat_gap is not None and t - last.get((s, d), -(10**9)) <= repeat_gap):
                continue
            last[(s, d)] = t
            edges.append([len(edges), s, d, t])
            break
    return edges


def self_check():
    if version_of("numpy") is None:
        print("FAIL numpy installed: no `numpy` package: pip install numpy snapml networkx")
        return 1
    import numpy as np

    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")

    def snap(edges, window, max_len):
        f = np.asarray(edges, dtype=np.float64).reshape(-1, 4)
        return snapml_transform(f, window, max_len, 2)

    def col(edges, window, max_len):
        return bundled_participations(edges, brute_force(edges, window, max_len + 30, True), max_len)

    have_snapml = version_of("snapml") is not None
    if have_snapml:
        # hand-made cases, L = 3: sums per length [2, 3, >3]
        cases = [
            ("2-cycle counts", [[0, 1, 2, 10], [1, 2, 1, 20]], 100, [2, 0, 0]),
            ("time-ordered triangle", [[0, 1, 2, 10], [1, 2, 3, 20], [2, 3, 1, 30]], 100, [0, 3, 0]),
            ("triangle against time: none", [[0, 1, 2, 10], [1, 2, 3, 30], [2, 3, 1, 20]], 100, [0, 0, 0]),
            ("equal timestamps never follow each other", [[0, 1, 2, 10], [1, 2, 3, 10], [2, 3, 1, 20]], 100, [0, 0, 0]),
            ("window inclusive: span 20 in 20", [[0, 1, 2, 10], [1, 2, 3, 20], [2, 3, 1, 30]], 20, [0, 3, 0]),
            ("window: span 20 not in 19", [[0, 1, 2, 10], [1, 2, 3, 20], [2, 3, 1, 30]], 19, [0, 0, 0]),
            ("no length bound: a 5-cycle lands in the last bin", [[i, i, (i + 1) % 5, 10 + i] for i in range(5)], 100, [0, 0, 5]),
            ("figure-eight is two 2-cycles", [[0, 1, 2, 1], [1, 2, 1, 2], [2, 1, 3, 3], [3, 3, 1, 4]], 100, [4, 0, 0]),
            ("self-loop never counts", [[0, 1, 1, 10], [1, 1, 2, 11], [2, 2, 1, 12]], 100, [2, 0, 0]),
            # two edge sequences (e0,e2) and (e1,e2) share node sequence and closing edge: one bundle
            ("parallel first hops are bundled: 3, not 4", [[0, 1, 2, 10], [1, 1, 2, 11], [2, 2, 1, 20]], 100, [3, 0, 0]),
            ("parallel closing edges are not: 4", [[0, 1, 2, 10], [1, 2, 1, 20], [2, 2, 1, 21]], 100, [4, 0, 0]),
            ("timestamps past 2^31 lose cycles", [[0, 1, 2, 2**31 + 10], [1, 2, 1, 2**31 + 20]], 100, [0, 0, 0]),
            # brute force: the 2-cycle (e0, e1) and the triangle (e1, e2, e3), [2, 3, 0];
            # with e0 at ts 1 instead of 0 snapml finds both
            ("an edge at ts 0 hides a later cycle", [[0, 1, 0, 0], [1, 0, 1, 27], [2, 1, 2, 29], [3, 2, 0, 42]], 44, [2, 0, 0]),
            ("... which it finds when that edge is at ts 1", [[0, 1, 0, 1], [1, 0, 1, 27], [2, 1, 2, 29], [3, 2, 0, 42]], 44, [2, 3, 0]),
        ]
        for name, edges, window, want in cases:
            got = snap(edges, window, 3)
            check(f"snapml: {name}", got == want, f"sums {got}, expected {want}")

        rng = random.Random(20261101)
        for label, ties, gap in [
            ("multigraphs with ties and parallel edges", True, None),
            ("graphs without ties or pairs repeated within W", False, "W"),
        ]:
            bad = 0
            for _ in range(200):
                span = rng.randrange(5, 200)
                window = rng.randrange(1, span + 1)
                edges = random_edges(rng, rng.randrange(3, 9), rng.randrange(3, 40), span, ties, window if gap else None)
                if snap(edges, window, 6) != col(edges, window, 6):
                    bad += 1
            check(f"snapml = brute force (strict time, bundles) on 200 random {label}", bad == 0, f"{bad} differ")
        bad = 0
        for _ in range(200):
            span = rng.randrange(5, 200)
            window = rng.randrange(1, span + 1)
            edges = random_edges(rng, rng.randrange(3, 9), rng.randrange(3, 40), span, False, window)
            by_len, exact = cycles_from_participations(snap(edges, window, 6), 6)
            cycles = brute_force(edges, window, 6, True)
            want = {k: sum(1 for c in cycles if len(c) == k) for k in range(2, 7)}
            bad += (by_len != want) or not exact
        check("snapml sums / k = brute-force cycle counts where definitions match (200 graphs)", bad == 0, f"{bad} differ")
        edges = random_edges(random.Random(7), 50, 20000, 1_000_000, False, 4000)
        by_len, exact = cycles_from_participations(snap(edges, 4000, 6), 6)
        cycles = brute_force(edges, 4000, 6, True)
        want = {k: sum(1 for c in cycles if len(c) == k) for k in range(2, 7)}
        check(
            "one transform over 20,000 edges spanning 250 windows loses nothing",
            by_len == want and exact,
            f"snapml {sum(by_len.values())}, brute force {len(cycles)}",
        )
    else:
        check("snapml installed", False, "no `snapml` package: pip install snapml")

    if version_of("networkx") is not None:
        rng = random.Random(11)
        bad = 0
        for _ in range(200):
            span = rng.randrange(5, 200)
            window = rng.randrange(1, span + 1)
            edges = random_edges(rng, rng.randrange(3, 9), rng.randrange(3, 40), span, True)
            by_len, _, _ = count_networkx(np.asarray(edges, dtype=np.int64), window, 6)
            cycles = brute_force(edges, window, 6, False)
            bad += by_len != {k: sum(1 for c in cycles if len(c) == k) for k in range(2, 7)}
        check("networkx windows = brute force in (ts, row) order on 200 random multigraphs with ties", bad == 0, f"{bad} differ")
    else:
        check("networkx installed", False, "no `networkx` package: pip install networkx")
    return 0 if all(results) else 1


# ---------------------------------------------------------------------------------------


def probe():
    info = {"python": sys.version.split()[0], "numpy": version_of("numpy"), "snapml": None, "networkx": None}
    try:
        from snapml import GraphFeaturePreprocessor  # noqa: F401 (its library must load)

        info["snapml"] = version_of("snapml") or "unknown"
    except Exception:
        pass
    try:
        import networkx

        info["networkx"] = networkx.__version__
    except Exception:
        pass
    print(json.dumps(info))
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file", nargs="?")
    p.add_argument("--window-s", type=int)
    p.add_argument("--max-len", type=int, default=6)
    p.add_argument("--engine", choices=["snapml", "snapml-batched", "networkx"])
    p.add_argument("--threads", type=int, default=2, help="snapml num_threads")
    p.add_argument("--batch", type=int, default=10_000, help="edges per transform (snapml-batched)")
    p.add_argument("--budget-s", type=float, default=600, help="networkx time budget")
    p.add_argument("--out", help="also write the JSON line here")
    p.add_argument("--probe", action="store_true")
    p.add_argument("--self-check", action="store_true")
    args = p.parse_args(argv)
    if args.probe:
        return probe()
    if args.self_check:
        return self_check()
    if not args.file or not args.engine or args.window_s is None:
        p.print_usage(sys.stderr)
        print("graph_peers.py: FILE, --engine and --window-s are required", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.window_s < 1 or args.max_len < 2 or args.threads < 1 or args.batch < 1:
        print("graph_peers.py: --window-s, --threads, --batch must be >= 1 and --max-len >= 2", file=sys.stderr)
        return EXIT_BAD_INPUT
    package = "networkx" if args.engine == "networkx" else "snapml"
    try:
        __import__(package)
    except ImportError:
        print(f"graph_peers.py: no `{package}` package in {sys.executable}: pip install {package}", file=sys.stderr)
        return EXIT_MISSING
    try:
        if args.engine == "networkx":
            report = run_networkx(args)
        else:
            report = run_snapml(args, batched=args.engine == "snapml-batched")
    except (BadInput, OSError) as e:
        print(f"graph_peers.py: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report["peak_rss_bytes"] = peak_rss_bytes()
    line = json.dumps(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
