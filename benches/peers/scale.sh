#!/usr/bin/env bash
# Data plane at scale: fill a replica with COUNT certificates (default 10M; both CertID
# hashes, real signatures), serve it with one pinned core (CPU 0), and compare uniform-random-
# serial throughput with single-serial throughput (wrk on CPU 1, 64 connections, alternating
# rounds). Reports RSS and disk per certificate. The replica is kept in SCALE_DIR for re-runs.
#   COUNT=10000000 DURATION=15 ROUNDS=2 DRIVER=epoll bash benches/peers/scale.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${COUNT:-10000000}"
DURATION="${DURATION:-15}"
ROUNDS="${ROUNDS:-2}"
CONNS="${CONNS:-64}"
DIR="${SCALE_DIR:-/var/tmp/sigil-scale-$COUNT}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
cargo build --release --bins --locked >&2
bin="$CARGO_TARGET_DIR/release"
if [ ! -f "$DIR/fill.json" ]; then
  rm -rf "$DIR"
  /usr/bin/time -f 'fill: %e s, max RSS %M KiB' "$bin/sigil-fill-replica" --data-dir "$DIR" --count "$COUNT"
fi
NH="$(python3 -c "import json;print(json.load(open('$DIR/fill.json'))['sha1_name_hash'])")"
KH="$(python3 -c "import json;print(json.load(open('$DIR/fill.json'))['sha1_key_hash'])")"
export NH KH COUNT
DP=127.0.0.1:18090 MX=127.0.0.1:19091
taskset -c 0 "$bin/sigil-dp" --data-dir "$DIR" --listen "$DP" --threads 1 --driver "${DRIVER:-auto}" --metrics-listen "$MX" 2>"$DIR/dp.log" &
dp=$!
trap 'kill $dp 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 300); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done
run() { # label FIXED
  local rps
  rps="$(FIXED=$2 taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -s benches/peers/ocsp-request.lua "http://$DP/" | awk '/Requests\/sec/ {print $2}')"
  echo "$1 $rps" | tee -a "$DIR/results-$$" >&2
}
FIXED=0 taskset -c 1 wrk -t1 -c"$CONNS" -d5s -s benches/peers/ocsp-request.lua "http://$DP/" >/dev/null # warm-up
for _ in $(seq "$ROUNDS"); do run single 1; run random 0; done
curl -s "http://$MX/metrics" > "$DIR/metrics-$$"
python3 - "$DIR" "$$" "$COUNT" <<'PY'
import statistics, sys, re, os
d, pid, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(f"{d}/results-{pid}"):
    k, v = line.split(); rows.setdefault(k, []).append(float(v))
m = open(f"{d}/metrics-{pid}").read()
val = lambda name: float(re.search(rf"^{name} (\S+)$", m, re.M).group(1))
rss, disk = val("sigil_dp_resident_memory_bytes"), val("sigil_dp_replica_disk_bytes")
hits, misses = val("sigil_dp_cache_hits_total"), val("sigil_dp_cache_misses_total")
s, r = statistics.median(rows["single"]), statistics.median(rows["random"])
print(f"\n| certificates | single-serial req/s | uniform-random req/s | random ÷ single | DP RSS | disk per certificate | cache hit ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {count:,} | {s:,.0f} | {r:,.0f} | {r/s:.2f} | {rss/2**20:,.0f} MiB | {disk/count:,.0f} B | {hits/(hits+misses):.2f} |")
PY
rm -f "$DIR/results-$$" "$DIR/metrics-$$"
