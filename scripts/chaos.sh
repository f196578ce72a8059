#!/usr/bin/env bash
# Long crash-consistency runs (issue 19, docs/RELIABILITY.md "Crash consistency"): the
# end-to-end chaos test (tests/tests/chaos.rs) with KILLS control-plane kills (default 100;
# every third also kills the data plane mid-stream), then a data plane killed mid-snapshot.
# CI runs the same test with 6 kills. Repeat a failing run with SIGIL_CHAOS_SEED=<printed seed>.
#   bash scripts/chaos.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
export CARGO_TERM_COLOR=never
cargo build --workspace --bins --locked
log="$(mktemp /tmp/sigil-chaos-XXXXXX.log)"
echo "chaos: $KILLS kills; full output in $log" >&2
SIGIL_CHAOS_KILLS="$KILLS" cargo test --locked -p sigil-tests --test chaos -- --nocapture \
  >"$log" 2>&1 || { tail -60 "$log"; echo "chaos run FAILED (log: $log)" >&2; exit 1; }
grep -E "^(chaos seed|kill [0-9]+:|chaos:)" "$log"
