#!/usr/bin/env bash
# kill -9 trials: runs the crash-safety test with more kills and suppliers than CI does.
# `accord serve` (SQLite) is killed with SIGKILL at random moments while supplier bots
# negotiate a campaign over HTTP, and restarted each time; the test then checks that no
# acknowledged move was lost or applied twice, every answering supplier's negotiation
# closed, and the audit chain verifies.
#
#   scripts/kill-trials.sh            # 20 kills, 300 suppliers
#   TRIALS=50 SUPPLIERS=1000 scripts/kill-trials.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KILL_TRIALS="${TRIALS:-20}"
export KILL_SUPPLIERS="${SUPPLIERS:-300}"
cargo test -p accord --test it killtrials -- --nocapture
