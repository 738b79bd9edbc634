#!/usr/bin/env bash
# Prints a PostgreSQL URL for the test suite: the server on 127.0.0.1:5432 when one
# answers, otherwise a throwaway cluster started here on 127.0.0.1:15432 (data under
# target/pg-test, run as the `postgres` user when started by root: initdb refuses root).
# Used by the alert store's tests (crates/review/src/store/tests.rs) when MIRRORFLOW_TEST_PG is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "postgres://postgres@127.0.0.1:5432/postgres"
    exit 0
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    else
        echo "no PostgreSQL server binaries (install the postgresql package)" >&2
        exit 1
    fi
fi
dir="$PWD/target/pg-test"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! pg_isready -q -h 127.0.0.1 -p 15432 2>/dev/null; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p 15432 -k $dir" start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:15432/postgres"
