#!/usr/bin/env bash
# Side-by-side throughput of several sigil-dp binaries (e.g. before and after a change), in
# alternating rounds of one run, so that the machine's drift hits them all alike. Each binary
# serves the same synthetic replica alone on SERVER_CPU; sigil-load (closed loop, CONNS
# keep-alive connections, OCSP POST) runs on CLIENT_CPU. ITEMS=1 asks for one certificate
# (the per-core cache path); ITEMS=N spreads requests uniformly over N certificates (the index
# path, once N exceeds the cache). Prints the median requests/s per binary and its ratio to
# the first one.
# WARMUP=S first runs S seconds of the same load unrecorded (the index path: the index is
# built at start-up, and requests are answered from the replica until it is).
#   ROUNDS=5 DURATION=8 ITEMS=1 bash benches/peers/ab-binaries.sh /path/a/sigil-dp /path/b/sigil-dp
# Copy a build aside (cp "$CARGO_TARGET_DIR/release/sigil-dp" /var/tmp/sigil-dp-before) before
# rebuilding to keep it. The replica is made by loadtest/validate.sh (COUNT certificates,
# default /var/tmp/sigil-validate-10000 here; VALIDATE_DIR to choose).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n 2,14p "$0" >&2; exit 64; }
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-5}"
CONNS="${CONNS:-64}"
ITEMS="${ITEMS:-1}"
WARMUP="${WARMUP:-0}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
DIR="${VALIDATE_DIR:-/var/tmp/sigil-validate-10000}"
BUSY_POLL="${BUSY_POLL:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
load="${LOAD_BIN:-$CARGO_TARGET_DIR/release/sigil-load}"
[ -f "$DIR/fill.json" ] || { echo "no replica at $DIR: run COUNT=10000 loadtest/validate.sh first" >&2; exit 1; }
work="$(mktemp -d)"
: > "$work/empty.toml"
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=18090
for round in $(seq "$ROUNDS"); do
  i=0
  for b in "$@"; do
    taskset -c "$SERVER_CPU" "$b" --config "$work/empty.toml" --data-dir "$DIR" \
      --listen "127.0.0.1:$port" --threads 1 2>"$work/dp.log" &
    pid=$!
    for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
    if [ "$WARMUP" != 0 ]; then
      taskset -c "$CLIENT_CPU" "$load" run "http://127.0.0.1:$port/" --synthetic "$DIR/fill.json" \
        --items "$ITEMS" --connections "$CONNS" --duration "${WARMUP}s" --cpus 1 >/dev/null
    fi
    rate="$(taskset -c "$CLIENT_CPU" "$load" run "http://127.0.0.1:$port/" --synthetic "$DIR/fill.json" \
      --items "$ITEMS" --connections "$CONNS" --duration "${DURATION}s" --cpus 1 ${BUSY_POLL:+--busy-poll} \
      | awk '/^throughput/ { gsub(",", "", $2); print $2 }')"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    echo "round $round binary $i: $rate req/s" >&2
    echo "$i $rate" >> "$work/rates"
    i=$((i + 1))
  done
done
echo "| binary | requests/s (median of $ROUNDS) | ÷ first |"
echo "|---|---:|---:|"
i=0
first=""
for b in "$@"; do
  med="$(awk -v i="$i" '$1 == i { print $2 }' "$work/rates" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
  [ -n "$first" ] || first="$med"
  echo "| \`$b\` | $med | $(awk -v a="$med" -v b="$first" 'BEGIN { printf "%.3f", a / b }') |"
  i=$((i + 1))
done
