#!/usr/bin/env bash
# Builds outside test ledgers with IBM-AMLSim's successor AMLGentex (AI Sweden,
# Apache-2.0): two experiments of its template (10,000 accounts, 100 days, ~660k rows,
# 20 patterns of each of fan-in, fan-out, cycle, bipartite, stack, scatter-gather and
# gather-scatter), seeds 1 (tuning) and 2 (held out), converted to mirrorflow's contract
# layout in Swedish kronor with labels.csv.
#
# usage: scripts/outside/amlgentex/make.sh [WORK_DIR]   (default /tmp/amlgentex)
# needs: git, python3 (3.10-3.13) with venv, PyPI, and GitHub or a local clone
# (AMLGENTEX_GIT=path/to/AMLGentex/.git).
# Takes ~5 minutes per experiment on a 2-core machine. Then:
#   mirrorflow replay WORK_DIR/exp_a/ledger --out OUT
#   mirrorflow eval --labels WORK_DIR/exp_a/ledger/labels.csv --alerts OUT/alerts.jsonl
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${1:-/tmp/amlgentex}"
COMMIT=4b9a69dbd2edcf02fcec8eb3efe54937b6d77f1f
mkdir -p "$WORK"
cd "$WORK"
# the source at the pinned commit: from a local clone or mirror (AMLGENTEX_GIT, its git
# directory) where GitHub is out of reach, else from GitHub
if [ ! -f src/scripts/generate.py ]; then
  rm -rf src; mkdir -p src
  if [ -n "${AMLGENTEX_GIT:-}" ]; then
    git --git-dir="$AMLGENTEX_GIT" archive "$COMMIT" | tar -x -C src
  else
    git clone -q https://github.com/aidotse/AMLGentex src.clone
    git -C src.clone archive "$COMMIT" | tar -x -C src
    rm -rf src.clone
  fi
fi
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
  venv/bin/pip install -q networkx==3.4.2 numpy==2.1.0 scipy==1.14.0 pandas==2.2.2 pyarrow pyyaml tqdm==4.66.5
fi
for exp in exp_a:1 exp_b:2; do
  name="${exp%%:*}"; seed="${exp##*:}"
  rm -rf "$name"; mkdir -p "$name"
  cp -r src/experiments/template_experiment/config "$name/config"
  sed -i -e "s|simulation_name: .*|simulation_name: $name|" -e "s|random_seed: .*|random_seed: $seed|" \
    -e "s|directory: .*/template_experiment/|directory: $WORK/$name/|" "$name/config/data.yaml"
  sed -i -e 's/^10,/20,/' "$name/config/alertPatterns.csv"
  AMLGENTEX_SRC="$WORK/src" venv/bin/python "$HERE/run_generate.py" "$WORK/$name/config/data.yaml" > "$name/generate.log" 2>&1
  venv/bin/python "$HERE/convert.py" "$name"
done
echo "ledgers in $WORK/exp_a/ledger (tuning) and $WORK/exp_b/ledger (held out)"
