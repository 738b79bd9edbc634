#!/usr/bin/env bash
# What observing a job costs (issue 7): the same replay of a generated ledger without a
# metrics endpoint, and with `--metrics-addr` scraped every second by a real Prometheus
# (the repository's scrape config with its targets pointed here, `scripts/obs-deps.sh`
# installs Prometheus when missing). RUNS alternating runs each: median and best time,
# rows/s at the median, peak memory.
# Usage: crates/bench/scripts/metrics-overhead.sh [ROWS] [RUNS]   (MIRRORFLOW_BIN, default target/release/mirrorflow)
set -euo pipefail
cd "$(dirname "$0")/../../.."
rows=${1:-1000000}
runs=${2:-3}
bin=${MIRRORFLOW_BIN:-target/release/mirrorflow}
eval "$(bash scripts/obs-deps.sh | sed 's/^/tool_/')"
data=bench-data/metrics-$rows
[ -f "$data/transactions.csv" ] || $bin gen --out "$data" --seed 11 --rows "$rows" >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port=19464
sed -e "s/\"mirrorflow:9464\"/\"127.0.0.1:$port\"/" -e "s/\"demo:9465\"/\"127.0.0.1:$port\"/" \
    -e 's/"review:8080"/"127.0.0.1:1"/' -e 's/scrape_interval: 5s/scrape_interval: 1s/' \
    prometheus/prometheus.yml > "$work/prometheus.yml"
cp prometheus/alerts.yml "$work/"
"$tool_prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address=127.0.0.1:19090 >/dev/null 2>&1 &
# Alternating runs (this machine's timings drift by +-10% over minutes: alternating keeps
# the drift out of the comparison); the median and best of each.
: > "$work/times"
for _ in $(seq "$runs"); do
    for mode in off scraped; do
        flags=""
        [ $mode = scraped ] && flags="--metrics-addr 127.0.0.1:$port"
        /usr/bin/time -f "$mode %e %M" -a -o "$work/times" \
            $bin replay "$data" --out "$work/out" --store off --progress off $flags >/dev/null 2>"$work/err"
    done
done
python3 - "$work/times" "$rows" <<'PY'
import statistics, sys
rows = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    mode, s, kib = line.split()
    runs.setdefault(mode, []).append((float(s), int(kib)))
print(f"{'replay of %d rows' % rows:<22} {'runs':>5} {'median s':>9} {'median rows/s':>14} {'best s':>7} {'peak MiB':>9}")
for mode, rs in runs.items():
    med = statistics.median(s for s, _ in rs)
    print(f"{'metrics ' + mode:<22} {len(rs):>5} {med:>9.2f} {rows / med:>14,.0f} {min(s for s, _ in rs):>7.2f} "
          f"{max(k for _, k in rs) / 1024:>9.0f}")
PY
scrapes=$(curl -s "http://127.0.0.1:19090/api/v1/query?query=sum_over_time(up%7Bjob%3D%22mirrorflow%22%7D%5B1h%5D)" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
echo "Prometheus scrapes of the job during the runs: $scrapes"
