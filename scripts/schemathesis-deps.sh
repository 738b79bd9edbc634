#!/usr/bin/env bash
# Makes sure the OpenAPI property check can run: schemathesis (PyPI, pinned) in a venv
# under target/schemathesis-venv. Prints the path of its `st` command.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/target/schemathesis-venv"
version="4.32.5"
if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('schemathesis') == '$version'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
fi
echo "$venv/bin/st"
