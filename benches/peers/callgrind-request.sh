#!/usr/bin/env bash
# User-space instructions per OCSP request of several sigil-dp builds, counted by valgrind's
# callgrind: repeatable for the same binary and requests whatever else the machine is doing,
# where requests/s on a shared VM without performance counters drifts by ±10 % between rounds
# (docs/PERFORMANCE.md). What it does not count is the kernel's share (most of a request's
# time, "At the line"), which no user-space change moves; ab-binaries.sh measures the whole.
#
# Each binary serves the replica made by loadtest/validate.sh (VALIDATE_DIR, default
# /var/tmp/sigil-validate-10000) on one thread with the epoll driver (valgrind does not
# emulate io_uring). Counting is switched on once it answers, its OCSP index is built and
# WARMUP s of the same load have filled its caches; sigil-load then sends OCSP POSTs over
# CONNS keep-alive connections for DURATION s; instructions (all threads) ÷ requests answered
# (its /metrics). The second figure is the part spent handling the requests:
# `http::dispatch::process` inclusive (parsing, routing, the answer, formatting), without the
# event loop and socket calls, whose count moves with how requests happen to batch.
# KEEP=DIR keeps each build's profile as DIR/<n>.callgrind (n from 0, in argument order) with
# the request count in DIR/<n>.requests, for `callgrind_annotate` by function.
#   ITEMS=1 DURATION=10 bash benches/peers/callgrind-request.sh /path/a/sigil-dp /path/b/sigil-dp
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n 2,18p "$0" >&2; exit 64; }
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-3}"
CONNS="${CONNS:-8}"
ITEMS="${ITEMS:-1}"
DIR="${VALIDATE_DIR:-/var/tmp/sigil-validate-10000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
load="${LOAD_BIN:-$CARGO_TARGET_DIR/release/sigil-load}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
[ -f "$DIR/fill.json" ] || { echo "no replica at $DIR: run COUNT=10000 loadtest/validate.sh first" >&2; exit 1; }
work="$(mktemp -d)"
: > "$work/empty.toml"
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=18190
metrics=18191
answered() { # requests the data plane has answered so far (all routes and statuses)
  curl -sf "http://127.0.0.1:$metrics/metrics" |
    awk '/^sigil_dp_requests_total/ { s += $2 } END { printf "%d\n", s }'
}
drive() { # seconds
  "$load" run "http://127.0.0.1:$port/" --synthetic "$DIR/fill.json" --items "$ITEMS" \
    --connections "$CONNS" --duration "${1}s" --cpus 1 >/dev/null
}
echo "| binary | requests counted | instructions per request | ÷ first | of which request handling | ÷ first |"
echo "|---|---:|---:|---:|---:|---:|"
first=""
first_handling=""
n=0
for b in "$@"; do
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
    "$b" --config "$work/empty.toml" --data-dir "$DIR" --listen "127.0.0.1:$port" \
    --metrics-listen "127.0.0.1:$metrics" --threads 1 --driver epoll --no-pin 2>"$work/dp.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$metrics/health/ready" >/dev/null && break; sleep 0.1; done
  # The OCSP index is built at start-up (slowly under valgrind): count only once it serves.
  for _ in $(seq 6000); do
    curl -sf "http://127.0.0.1:$metrics/metrics" | grep -q '^sigil_dp_index_builds_total [1-9]' && break
    sleep 0.1
  done
  drive "$WARMUP"
  before="$(answered)"
  callgrind_control -i on "$pid" >/dev/null
  drive "$DURATION"
  callgrind_control -i off "$pid" >/dev/null
  after="$(answered)"
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  ir="$(cat "$work"/cg.out* | awk '/^(summary|totals):/ { s += $2 } END { printf "%d\n", s }')"
  requests=$((after - before))
  handling="$(callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.out.1" |
    awk '/:sigil_dataplane::http::dispatch::process/ { gsub(",", "", $1); v = $1 + 0; if (v > m) m = v }
         END { printf "%d\n", m }')"
  if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$work/cg.out.1" "$KEEP/$n.callgrind" # the one dump: the counted window
    echo "$requests" > "$KEEP/$n.requests"
  fi
  rm -f "$work"/cg.out*
  per="$(awk -v i="$ir" -v n="$requests" 'BEGIN { printf "%.0f", i / n }')"
  hper="$(awk -v i="$handling" -v n="$requests" 'BEGIN { printf "%.0f", i / n }')"
  [ -n "$first" ] || first="$per"
  [ -n "$first_handling" ] || first_handling="$hper"
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
  echo "| \`$b\` | $requests | $per | $(ratio "$per" "$first") | $hper | $(ratio "$hper" "$first_handling") |"
  n=$((n + 1))
done
