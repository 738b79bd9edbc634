#!/usr/bin/env bash
# The adversarial-ledger test (tests/suite/adversarial.rs) at full size: a hub with 1M
# edges and a 10,000-way fan-in, beside the duplicate flood, giant memos, over-long
# records and far past / future times. Prints rows and peak memory; fails as the test does
# (a stall shows as a run that does not end). Usage: scripts/adversarial.sh [HUB_EDGES]
set -euo pipefail
cd "$(dirname "$0")/.."
MIRRORFLOW_ADVERSARIAL_HUB_EDGES="${1:-1000000}" MIRRORFLOW_ADVERSARIAL_FAN_IN=10000 \
    cargo test --test tests suite::adversarial -- --nocapture
