#!/usr/bin/env bash
# Development build times, before and after a change of layout, one at a time (run it on an
# idle machine; it takes about 45 minutes on 2 cores):
#   - a one-line code change in the mirror stage, then its unit tests and the binary;
#   - a clean release build (fresh target directories under $TMPDIR).
# Usage: scripts/dev-timings.sh [BEFORE_COMMIT]   (default 6f69113, the single-crate layout)
# Prints one line per figure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
before=${1:-6f69113}
tmp=${TMPDIR:-/tmp}
old="$tmp/mirrorflow-before-$before"
git worktree add -f "$old" "$before" >/dev/null 2>&1 || true
t() {
    local label=$1
    shift
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    local rc=$?
    e=$(date +%s.%N)
    printf '%s: %.1f s%s\n' "$label" "$(echo "$e - $s" | bc)" "$([ $rc = 0 ] || echo " (exit $rc)")"
}
knob='s/search_budget: 200_000,/search_budget: 200_001,/'
back='s/search_budget: 200_001,/search_budget: 200_000,/'
# one-line change (debug, the dependencies already built in target/)
(cd "$old" && CARGO_TARGET_DIR="$root/target" cargo test -q --lib --no-run && CARGO_TARGET_DIR="$root/target" cargo build -q --bin mirrorflow) >/dev/null 2>&1
sed -i "$knob" "$old/src/mirror/network.rs"
cd "$old"
t "before: one-line change in mirror, then cargo test --lib mirror::" env CARGO_TARGET_DIR="$root/target" cargo test -q --lib mirror::
t "before: then the binary (cargo build)" env CARGO_TARGET_DIR="$root/target" cargo build -q --bin mirrorflow
sed -i "$back" "$old/src/mirror/network.rs"
cd "$root"
(cargo test -q -p mirrorflow-detect --no-run && cargo build -q) >/dev/null 2>&1
sed -i "$knob" crates/detect/src/mirror/network.rs
t "after: one-line change in mirror, then cargo test -p mirrorflow-detect mirror::" cargo test -q -p mirrorflow-detect mirror::
t "after: then the binary (cargo build)" cargo build -q
sed -i "$back" crates/detect/src/mirror/network.rs
cargo build -q >/dev/null 2>&1
# clean release builds
rm -rf "$tmp/mirrorflow-rel-before" "$tmp/mirrorflow-rel-after"
cd "$old"
t "before: clean release build (cargo build --release)" env CARGO_TARGET_DIR="$tmp/mirrorflow-rel-before" cargo build --release -q
cd "$root"
t "after: clean release build (cargo build --release)" env CARGO_TARGET_DIR="$tmp/mirrorflow-rel-after" cargo build --release -q
git worktree remove --force "$old" >/dev/null 2>&1 || true
