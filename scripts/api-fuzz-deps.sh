#!/usr/bin/env bash
# Makes sure the OpenAPI conformance test can run: a Python venv in target/api-fuzz-venv
# with schemathesis (PyPI, pinned), which sends property-based requests generated from
# the review API's OpenAPI description (src/serve/openapi.json) to a running server.
# Prints the path of the schemathesis command.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>target/api-fuzz-deps.lock
flock 9
venv="$PWD/target/api-fuzz-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5 >/dev/null
fi
echo "$venv/bin/schemathesis"
