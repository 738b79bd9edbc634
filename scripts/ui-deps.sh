#!/usr/bin/env bash
# Makes sure the review page's browser test can run: Debian's Chromium (installed from the
# system packages when missing) and playwright-core (npm, into target/ui-node; it drives the
# system Chromium, no browser download). Prints the node_modules path.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
            || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null; }
    else
        sudo apt-get install -y --no-install-recommends chromium >/dev/null
    fi
fi
prefix="$PWD/target/ui-node"
if [ ! -d "$prefix/node_modules/playwright-core" ]; then
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" playwright-core@1.64.1 >/dev/null
fi
echo "$prefix/node_modules"
