#!/usr/bin/env bash
# Soak: a generated ledger produced onto a local broker at a sustained rate while
# `mirrorflow run --kafka --checkpoint` consumes it; samples the job's RSS and consumer lag
# every 10 s and prints the figures. Bounded in time; never part of `cargo test`.
#
#   scripts/kafka-soak.sh [MINUTES=30] [ROWS_PER_SECOND=4000] [DAYS=900]
#
# The ledger spans DAYS of event time (ending before today), more than the longest history
# a default detector keeps (novelty: a 365-day span plus a 120-day horizon; the window is
# 35 days), so that history fills in the first part of the soak and then slides: memory
# must stay flat from then on. `scripts/kafka-soak.sh 30 4000 900` is the README's run.
#
# Needs a release build (`cargo build --release`); installs the broker like the tests do
# (scripts/kafka-deps.sh). Leaves everything in target/soak/ (samples.csv, logs, outputs).
#
# SOAK_HEAP_PROFILE=1 (with `cargo build --release --features jemalloc-prof`) also runs
# jemalloc's heap profiler in the job and ends with what the heap gained between the
# first dump after warm-up and the last, by call stack (`jeprof --base`), in
# target/soak/heap-growth.txt: what grows, not only what is live.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
rate="${2:-4000}"
days="${3:-900}"
bin="$PWD/target/release/mirrorflow"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
tansu="$(scripts/kafka-deps.sh | sed -n 's/^tansu=//p')"
dir="$PWD/target/soak"
rm -rf "$dir" && mkdir -p "$dir"
# two ports the kernel says are free (the broker's, the job's metrics), not a guess
read -r port metrics_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
addr="127.0.0.1:$port"
"$tansu" broker --listener-url "tcp://$addr" --advertised-listener-url "tcp://$addr" \
    --storage-engine memory://tansu/ >"$dir/broker.log" 2>&1 &
broker=$!
trap 'kill $broker ${producer:-} ${job:-} 2>/dev/null || true' EXIT
for _ in $(seq 60); do
    kill -0 $broker 2>/dev/null || { echo "the broker stopped: see $dir/broker.log" >&2; tail -3 "$dir/broker.log" >&2; exit 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.5
done
rows=$((minutes * 60 * rate * 11 / 10))
echo "generating $rows rows over $days days" >&2
# the ledger ends before today: rows dated after the clock would be refused (future_timestamp)
start=$(date -u -d "-$((days + 2)) days" +%F)
"$bin" gen --seed 7 --rows "$rows" --days "$days" --start "$start" --out "$dir/ledger" >/dev/null
first=$(sed -n 2p "$dir/ledger/transactions.csv" | cut -d, -f2)
last=$(tail -1 "$dir/ledger/transactions.csv" | cut -d, -f2)
span=$(( $(date -d "$last" +%s) - $(date -d "$first" +%s) ))
speed=$(python3 -c "print(round($rate * $span / $rows, 3))")
echo "event time $first .. $last: --speed $speed gives about $rate rows/s" >&2
printf '[live]\naccounts = "%s"\nfx-rates = "%s"\n' "$dir/ledger/accounts.csv" "$dir/ledger/fx_rates.csv" >"$dir/live.toml"
"$bin" produce "$dir/ledger" --kafka "$addr" --topic soak --partitions 4 --disorder 10m --speed "$speed" \
    >"$dir/produce.json" 2>"$dir/produce.log" &
producer=$!
# the producer reads the whole ledger, then creates the topic
for _ in $(seq 600); do
    grep -q "created the topic" "$dir/produce.log" 2>/dev/null && break
    kill -0 $producer 2>/dev/null || { echo "the producer stopped: see $dir/produce.log" >&2; tail -3 "$dir/produce.log" >&2; exit 1; }
    sleep 1
done
if [ "${SOAK_HEAP_PROFILE:-0}" = 1 ]; then
    mkdir -p "$dir/prof"
    export _RJEM_MALLOC_CONF="prof:true,lg_prof_interval:32,prof_prefix:$dir/prof/jeprof"
fi
"$bin" --config "$dir/live.toml" run --kafka "$addr" --topic soak --checkpoint "$dir/checkpoint" \
    --out "$dir/out" --progress off --metrics-addr 127.0.0.1:$metrics_port >"$dir/job.log" 2>&1 &
job=$!
unset _RJEM_MALLOC_CONF
echo "t_s,rss_mb,heap_mb,lag_messages,rows_accepted,checkpoints" >"$dir/samples.csv"
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt $((minutes * 60)) ]; do
    sleep 10
    kill -0 $job 2>/dev/null || { echo "the job stopped: see $dir/job.log" >&2; exit 1; }
    rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$job/status)
    m=$(curl -s "127.0.0.1:$metrics_port/metrics" || true)
    lag=$(echo "$m" | awk '/^mirrorflow_kafka_consumer_lag_messages/ {s+=$2} END {print s+0}')
    acc=$(echo "$m" | awk '/^mirrorflow_rows_accepted_total/ {s+=$2} END {print s+0}')
    ck=$(echo "$m" | awk '/^mirrorflow_checkpoints_total/ {print $2+0}')
    heap=$(echo "$m" | awk '/^mirrorflow_heap_allocated_bytes/ {print int($2/1048576)}')
    echo "$(( $(date +%s) - start )),$rss,${heap:-0},$lag,$acc,${ck:-0}" >>"$dir/samples.csv"
done
# warm once the longest history a default detector keeps is full: novelty's 365-day span
# plus its 120-day recurrence horizon (the 35-day window fills long before)
history_days=$((365 + 120))
warm_s=$(( minutes * 60 * (days < history_days ? days : history_days) / days + 60 ))
python3 - "$dir/samples.csv" "$minutes" "$days" "$history_days" "$warm_s" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
minutes, days, history_days, warm_s = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if days <= history_days:
    print(f"note: {days:g} days of event time never fill the detectors' {history_days}-day history: state grows to the end")
warm = [r for r in rows if int(r["t_s"]) >= warm_s] or rows
rss = [int(r["rss_mb"]) for r in warm]
lag = [int(float(r["lag_messages"])) for r in rows]
acc = [float(r["rows_accepted"]) for r in rows]
secs = int(rows[-1]["t_s"]) - int(rows[0]["t_s"])
print(f"soak {minutes} min: {acc[-1]:,.0f} rows accepted, {(acc[-1] - acc[0]) / max(secs, 1):,.0f} rows/s sustained")
print(f"RSS after the {warm_s} s warm-up (history full): first {rss[0]} MB, last {rss[-1]} MB, min {min(rss)} MB, max {max(rss)} MB")
half = warm[len(warm) // 2:]


def slope(col):
    # least squares over the samples (MB per minute): one sample's checkpoint spike does not swing it
    xs = [int(r["t_s"]) / 60 for r in half]
    ys = [int(r[col]) for r in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(sum((x - mx) ** 2 for x in xs), 1e-9)


if len(half) >= 2:
    print(f"over the last half after warm-up: RSS {slope('rss_mb'):+.1f} MB/min, heap allocated {slope('heap_mb'):+.1f} MB/min")
for mark in range(5, minutes + 1, 5):
    r = [x for x in rows if int(x["t_s"]) <= mark * 60]
    if r:
        print(f"  at {mark:>2} min: RSS {r[-1]['rss_mb']} MB, heap {r[-1]['heap_mb']} MB, lag {int(float(r[-1]['lag_messages'])):,}, rows {float(r[-1]['rows_accepted']):,.0f}")
print(f"consumer lag: max {max(lag):,} messages, last {lag[-1]:,}; checkpoints {rows[-1]['checkpoints']}")
EOF
if [ "${SOAK_HEAP_PROFILE:-0}" = 1 ]; then
    kill $job 2>/dev/null || true
    wait $job 2>/dev/null || true
    ls "$dir"/prof/jeprof.$job.*.heap >/dev/null 2>&1 \
        || { echo "no heap dumps: build with cargo build --release --features jemalloc-prof" >&2; exit 1; }
    # jeprof ships with jemalloc's source (in cargo's registry); keep Rust's type paths in names
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tikv-jemalloc-sys-*/jemalloc/bin/jeprof.in | head -1)
    sed -e 's/@jemalloc_version@/5.3.0/' -e 's|^  while (\$function =~ s/<\[^<>\]\*>//g)  { }.*$||' \
        -e 's|^  \$function =~ s/^\.\*\\s+(\\w+::)/\$1/;.*$||' "$src" >"$dir/jeprof"
    chmod +x "$dir/jeprof"
    first=$(find "$dir/prof" -name "jeprof.$job.*.heap" -newermt "@$(( start + warm_s ))" -printf '%T@ %p\n' | sort -n | head -1 | cut -d' ' -f2)
    last=$(find "$dir/prof" -name "jeprof.$job.*.heap" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
    "$dir/jeprof" --text --cum --base="$first" "$bin" "$last" >"$dir/heap-growth.txt" 2>"$dir/jeprof.log"
    echo "heap growth after warm-up by call stack ($(basename "$first") to $(basename "$last")): $dir/heap-growth.txt"
    head -1 "$dir/heap-growth.txt"
fi
