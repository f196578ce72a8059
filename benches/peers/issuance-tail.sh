#!/usr/bin/env bash
# Issuance's open-loop tail after saturation, for one or more sigil-cp binaries (A/B), each on
# a fresh data directory on disk (docs/PERFORMANCE.md, "Issuance", the RocksDB priority rows):
# SATURATE rounds of 8 s closed loop at 32 connections (as the peers' rounds do), IDLE s idle,
# then RATE certificates/s open loop for 10 s after 2 s of warm-up, 64 connections. Prints the
# closed-loop rates, the open loop's p50/p99, the per-second p99s (ms) and the server's CPU per
# certificate over the open loop. sigil-cp on CPU 0, sigil-load on CPU 1.
#   bash benches/peers/issuance-tail.sh [SIGIL_CP...]      # default: the release build
#   RATE=2200 SATURATE=3 IDLE=10 bash benches/peers/issuance-tail.sh /tmp/a/sigil-cp /tmp/b/sigil-cp
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-2200}" SATURATE="${SATURATE:-3}" IDLE="${IDLE:-10}"
bin="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}/release"
[ $# -gt 0 ] || set -- "$bin/sigil-cp"
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/issuance-tail.XXXXXX")"
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19744
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.example \
  -addext subjectAltName=DNS:bench.example -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"issuer_id": "demo", "csr": open(sys.argv[1]).read()}))' \
  "$work/leaf.csr" >"$work/body.json"
load() { # mode conns duration warmup [rate]
  taskset -c 1 "$bin/sigil-load" run "http://$CP" --scenario post --path /api/v1/certificates \
    --body "$work/body.json" --expect-status 201 --header "Authorization: Bearer $SIGIL_ADMIN_TOKEN" \
    --header 'Content-Type: application/json' --mode "$1" --connections "$2" --duration "$3" \
    --warmup "$4" ${5:+--rate "$5"} --quiet --json - 2>/dev/null
}
for cp in "$@"; do
  rm -rf "$work/cp"
  "$cp" init --data-dir "$work/cp" >/dev/null 2>&1
  taskset -c 0 "$cp" serve --data-dir "$work/cp" --admin-listen "$CP" --base-url http://127.0.0.1:18180 \
    2>"$work/cp.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
  closed=()
  for _ in $(seq "$SATURATE"); do
    closed+=("$(load closed 32 8s 0s | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput"]))')")
  done
  sleep "$IDLE"
  (sleep 2; awk '{print $14 + $15}' "/proc/$pid/stat" >"$work/t0") &
  snap=$!
  out="$(load open 64 10s 2s "$RATE")"
  wait "$snap"
  t1="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
  echo "$out" | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
cp, closed, t0, t1 = sys.argv[1], sys.argv[2], int(open(sys.argv[3]).read()), int(sys.argv[4])
cpu = (t1 - t0) / os.sysconf("SC_CLK_TCK") / max(d["ok"], 1) * 1e6
p50, p99 = d["latency_us"]["p50"] / 1000, d["latency_us"]["p99"] / 1000
rate, errors = d["rate"], d["errors"]["total"]
per = " ".join(str(s["latency_us"]["p99"] // 1000) for s in d["series"])
print(f"{cp}: closed loop {closed}/s; open loop at {rate:,.0f}/s: p50 {p50:.1f} ms, "
      f"p99 {p99:.1f} ms, errors {errors}, server CPU {cpu:.0f} µs a certificate; "
      f"per-second p99 (ms): {per}")
' "$cp" "$(IFS=/; echo "${closed[*]}")" "$work/t0" "$t1"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
