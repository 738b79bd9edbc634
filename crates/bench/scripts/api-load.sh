#!/usr/bin/env bash
# Load test of the review API (issue 6): 100,000 stored alerts (a tenth of them already
# decided), `mirrorflow serve` on loopback, `wrk` (installed from the system packages when
# missing) with 200 concurrent connections on the queue page and on alert pages, and the
# Prometheus scrape of /metrics (issue 7: the queue, its oldest pending alert and the
# decisions, read from the store at each scrape) with 4 connections; prints wrk's latency
# distribution.
# Usage: crates/bench/scripts/api-load.sh [ALERTS] [SECONDS]   (uses target/release/mirrorflow)
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${1:-100000}
secs=${2:-20}
bin=${MIRRORFLOW_BIN:-target/release/mirrorflow}
dir=bench-data/api-load-$n
command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk >/dev/null
mkdir -p "$dir"
if [ ! -f "$dir/alerts.db" ]; then
    python3 - "$n" > "$dir/alerts.jsonl" <<'PY'
import json, sys, random
random.seed(7)
n = int(sys.argv[1])
sev = ["low", "medium", "high", "critical"]
typ = ["T1", "T3", "T4", "T6", "T7", "T9", "T10", "T11"]
for i in range(n):
    t = typ[i % len(typ)]
    txs = [f"T{i:08d}{k}" for k in range(random.randint(2, 8))]
    day = 1 + i % 28
    print(json.dumps({
        "alert_id": f"load-{i:08d}", "rule_id": f"rule_{t.lower()}", "rule_version": "1", "typology": t,
        "severity": random.choice(sev), "score": round(random.random(), 2),
        "subjects": [f"US{i:08d}", f"MX{(i * 7) % n:08d}"], "tx_ids": txs,
        "first_ts": f"2026-01-{day:02d}T10:00:00Z", "last_ts": f"2026-01-{day:02d}T18:00:00Z",
        "amount_usd": f"{random.randint(3000, 500000)}.00", "jurisdictions": ["US", "MX"],
        "details": {"legs": [{"tx_id": x, "ts": f"2026-01-{day:02d}T12:00:00Z", "from": "A", "to": "B",
                              "amount": "1000", "currency": "USD", "amount_usd": "1000.000000"} for x in txs]},
        "narrative": "Load-test alert.", "status": "open"}))
PY
    $bin alerts --store "$dir/alerts.db" import "$dir/alerts.jsonl"
    # a tenth decided, through the audit trail as the workflow writes it
    python3 - "$dir/alerts.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT alert_id FROM alerts ORDER BY alert_id").fetchall()
to = ["dismissed", "escalated", "in_review", "reported"]
with db:
    for i, (aid,) in enumerate(rows[::10]):
        st = to[i % 4]
        prev = "escalated" if st == "reported" else "open"
        db.execute("UPDATE alerts SET status = ? WHERE alert_id = ?", (st, aid))
        db.execute("INSERT INTO audit (alert_id, at, actor, action, before_state, after_state, reason) "
                   "VALUES (?, '2026-02-01T00:00:00.000000Z', 'load', 'status', ?, ?, ?)",
                   (aid, json.dumps({"status": prev}, separators=(",", ":")),
                    json.dumps({"status": st}, separators=(",", ":")), "load test" if st == "dismissed" else None))
PY
fi
port=18089
MIRRORFLOW_TOKENS="load=load-test-token-1" MIRRORFLOW_LOG=warn $bin serve --store "$dir/alerts.db" --addr 127.0.0.1:$port &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
cat > "$dir/alert.lua" <<LUA
wrk.headers["Authorization"] = "Bearer load-test-token-1"
request = function()
  return wrk.format("GET", string.format("/api/alerts/load-%08d", math.random(0, $n - 1)))
end
LUA
cat > "$dir/queue.lua" <<LUA
wrk.headers["Authorization"] = "Bearer load-test-token-1"
local filters = {"", "&status=open", "&typology=T6", "&severity=critical", "&min_usd=100000"}
request = function()
  return wrk.format("GET", "/api/alerts?limit=50&offset=" .. math.random(0, 20) * 50 .. filters[math.random(1, #filters)])
end
LUA
echo "== queue pages (200 connections, ${secs}s, $n alerts)"
wrk -t2 -c200 -d"${secs}s" --latency -s "$dir/queue.lua" "http://127.0.0.1:$port" | grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx"
echo "== alert pages (200 connections, ${secs}s)"
wrk -t2 -c200 -d"${secs}s" --latency -s "$dir/alert.lua" "http://127.0.0.1:$port" | grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx"
echo "== /metrics scrapes (4 connections, ${secs}s)"
wrk -t2 -c4 -d"${secs}s" --latency "http://127.0.0.1:$port/metrics" | grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^mirrorflow_(review_decisions_total|alert_queue_oldest)" | head -8
