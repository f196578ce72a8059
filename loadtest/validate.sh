#!/usr/bin/env bash
# Validates sigil-load (issue 4, item 5) against wrk on the same target:
#   * closed loop: sigil-load's throughput at least 90 % of wrk's (median of ROUNDS
#     alternating rounds), same connections, each client on one pinned CPU. Both send the same
#     SHA-1 OCSP POST for one certificate, wrk from a static script (no Lua per request, wrk's
#     fastest way). A single-core client can be the bottleneck (wrk is, against sigil-dp), so
#     sigil-load being faster is no failure; instead its request count is checked against the
#     data plane's own counter (sigil_dp_requests_total) around each run, within 0.1 %;
#   * closed loop against a server-bound target (nginx, one worker on the server CPU, serving
#     the same response as a static file for any GET path): here neither client is the
#     bottleneck, so sigil-load's throughput must be within ±10 % of wrk's;
#   * open loop: at RATE requests/s over uniform-random serials, the delivered rate within 2 %
#     of RATE.
# The target is sigil-dp pinned to CPU 0 serving a synthetic replica (sigil-fill-replica,
# COUNT certificates; sigil-load builds its requests with --synthetic). Prints a markdown
# table and exits 1 if a check fails.
#   DURATION=10 ROUNDS=3 CONNS=64 RATE=50000 bash loadtest/validate.sh
# BIN_DIR=/path/to/binaries SKIP_BUILD=1 reuses existing binaries (e.g. a debug build for a
# smoke check: then only the open-loop check is meaningful).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-64}"
RATE="${RATE:-50000}"
COUNT="${COUNT:-100000}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
DIR="${VALIDATE_DIR:-/var/tmp/sigil-validate-$COUNT}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
bin="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked -p sigil-dataplane -p sigil-loadtest --bins >&2
fi
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
done
if [ ! -f "$DIR/fill.json" ]; then
  rm -rf "$DIR"
  "$bin/sigil-fill-replica" --data-dir "$DIR" --count "$COUNT" >&2
fi
json() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))$2)" "$1"; }
NH="$(json "$DIR/fill.json" "['sha1_name_hash']")"
KH="$(json "$DIR/fill.json" "['sha1_key_hash']")"
export NH KH COUNT
PORT="${PORT:-18290}"
MX="${METRICS_PORT:-18291}"
taskset -c "$SERVER_CPU" "$bin/sigil-dp" --data-dir "$DIR" --listen "127.0.0.1:$PORT" --threads 1 \
  --driver "${DRIVER:-auto}" --metrics-listen "127.0.0.1:$MX" 2>"$DIR/dp.log" &
dp=$!
out="$(mktemp -d)"
trap 'rc=$?; kill $dp 2>/dev/null; wait $dp 2>/dev/null || true; rm -rf "$out"; exit $rc' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$MX/health/ready" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$PORT/"
# The request of certificate 0, and a wrk script sending it as it is.
"$bin/sigil-load" corpus --fill "$DIR/fill.json" --count 1 --out - | tail -n 1 | base64 -d >"$out/req.der"
cat >"$out/static.lua" <<LUA
local f = io.open("$out/req.der", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA

wrk_run() { # duration → req/s
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${1}s" -s "$out/static.lua" "$url" |
    awk '/Requests\/sec/ {print $2}'
}
load_run() { # json-file extra-args...
  local f="$1"; shift
  taskset -c "$CLIENT_CPU" "$bin/sigil-load" run "${TARGET_URL:-$url}" --synthetic "$DIR/fill.json" \
    --connections "$CONNS" --threads 1 --duration "${DURATION}s" --warmup "${WARMUP}s" \
    --quiet --json "$f" "$@" >&2 || true
}
served() { # requests the data plane has answered so far
  curl -s "http://127.0.0.1:$MX/metrics" | awk '/^sigil_dp_requests_total/ {s += $2} END {printf "%d\n", s}'
}

# nginx: certificate 0's response as a static file, one worker, on the server's CPU.
NG="${NGINX_PORT:-18292}"
curl -s --data-binary @"$out/req.der" -H 'Content-Type: application/ocsp-request' "$url" -o "$out/resp.der"
. benches/peers/nginx-static.sh
nginx_static "$out" "127.0.0.1:$NG" "$SERVER_CPU" "$out/resp.der"
ngx=$NGINX_PID
trap 'rc=$?; kill $dp $ngx 2>/dev/null; wait $dp $ngx 2>/dev/null || true; rm -rf "$out"; exit $rc' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NG/ocsp.der" -o /dev/null && break; sleep 0.1; done
for r in $(seq "$ROUNDS"); do
  rps="$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$NG/ocsp.der" | awk '/Requests\/sec/ {print $2}')"
  echo "wrk $rps" >>"$out/nginx"
  TARGET_URL="http://127.0.0.1:$NG/" load_run "$out/nginx-$r.json" --scenario ocsp-get --items 1
  echo "load $(json "$out/nginx-$r.json" "['throughput']")" >>"$out/nginx"
done

wrk_run "$WARMUP" >/dev/null # warm the server's caches
for r in $(seq "$ROUNDS"); do
  echo "wrk $(wrk_run "$DURATION")" >>"$out/closed"
  # Warm-up 0: every request sent lies in the window, so the server's count must match.
  before="$(served)"
  WARMUP=0 load_run "$out/closed-$r.json" --items 1
  echo "served $(($(served) - before)) $(json "$out/closed-$r.json" "['requests']")" >>"$out/served"
  echo "load $(json "$out/closed-$r.json" "['throughput']")" >>"$out/closed"
done
load_run "$out/open.json" --mode open --rate "$RATE"

python3 - "$out" "$ROUNDS" "$RATE" "$CONNS" "$DURATION" <<'PY'
import json, statistics, sys
out, rounds, rate, conns, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = {}
for line in open(f"{out}/closed"):
    k, v = line.split()
    rows.setdefault(k, []).append(float(v))
wrk, load = statistics.median(rows["wrk"]), statistics.median(rows["load"])
served = [tuple(map(int, l.split()[1:])) for l in open(f"{out}/served")]
count_ok = all(abs(s - r) <= 10 + r // 1000 for s, r in served)
o = json.load(open(f"{out}/open.json"))
delivered = o["response_rate"]
closed_ok = load / wrk >= 0.90
ng = {}
for line in open(f"{out}/nginx"):
    k, v = line.split()
    ng.setdefault(k, []).append(float(v))
ng_wrk, ng_load = statistics.median(ng["wrk"]), statistics.median(ng["load"])
nginx_ok = abs(ng_load / ng_wrk - 1) <= 0.10
open_ok = abs(delivered / rate - 1) <= 0.02 and o["errors"]["total"] == 0
lat = o["latency_us"]
print(f"\n{conns} connections, {duration} s per run, median of {rounds} round(s); server and client on one pinned CPU each\n")
print("| check | wrk | sigil-load | ratio | tolerance | result |")
print("|---|---:|---:|---:|---:|---|")
print(f"| closed loop req/s against nginx (server-bound), static response | {ng_wrk:,.0f} | {ng_load:,.0f} | {ng_load/ng_wrk:.3f} | ±10 % | {'pass' if nginx_ok else 'FAIL'} |")
print(f"| closed loop req/s against sigil-dp, one certificate | {wrk:,.0f} | {load:,.0f} | {load/wrk:.3f} | ≥ 0.90 | {'pass' if closed_ok else 'FAIL'} |")
s, r = served[-1]
print(f"| closed loop: requests counted vs served (last round) | — | {r:,} / {s:,} | {r/max(s,1):.4f} | ±0.1 % | {'pass' if count_ok else 'FAIL'} |")
print(f"| open loop at {rate:,.0f} req/s, uniform serials: delivered | — | {delivered:,.0f} | {delivered/rate:.4f} | ±2 % | {'pass' if open_ok else 'FAIL'} |")
print(f"\nopen loop latency (from intended send times): p50 {lat['p50']} µs, p99 {lat['p99']} µs, "
      f"p99.9 {lat['p99_9']} µs, max {lat['max']} µs; errors {o['errors']['total']}")
sys.exit(0 if closed_ok and open_ok and count_ok and nginx_ok else 1)
PY
