#!/usr/bin/env bash
# Data plane at scale: fill a replica with COUNT certificates (default 10M; both CertID
# hashes, real signatures), serve it with one pinned core (CPU 0), and compare uniform-random-
# serial throughput with single-serial throughput (load generator on CPU 1, 64 connections,
# alternating rounds). GEN=sigil-load (default; `--synthetic fill.json`, `--items 1` for the
# single serial) or GEN=wrk (Lua request building, which caps wrk near 180k requests/s);
# BUSY_POLL=1 makes sigil-load poll without sleeping (`sigil-load run --help`). Reports RSS and
# disk per certificate. The replica is kept in SCALE_DIR for re-runs.
#   COUNT=10000000 DURATION=15 ROUNDS=2 WARMUP=20 DRIVER=epoll bash benches/peers/scale.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${COUNT:-10000000}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-20}"
ROUNDS="${ROUNDS:-2}"
CONNS="${CONNS:-64}"
DIR="${SCALE_DIR:-/var/tmp/sigil-scale-$COUNT}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-dataplane -p sigil-loadtest --bin sigil-dp --bin sigil-fill-replica --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
if [ ! -f "$DIR/fill.json" ]; then
  rm -rf "$DIR"
  /usr/bin/time -f 'fill: %e s, max RSS %M KiB' "$bin/sigil-fill-replica" --data-dir "$DIR" --count "$COUNT"
fi
NH="$(python3 -c "import json;print(json.load(open('$DIR/fill.json'))['sha1_name_hash'])")"
KH="$(python3 -c "import json;print(json.load(open('$DIR/fill.json'))['sha1_key_hash'])")"
export NH KH COUNT
DP=127.0.0.1:18090 MX=127.0.0.1:19091
CONF="$DIR/dp-bench.toml"
# DP_BIN=path measures another sigil-dp build against the same replica.
if [ "${INDEX:-1}" = 1 ]; then : > "$CONF"; else printf '[index]\nenabled = false\n' > "$CONF"; fi
taskset -c 0 "${DP_BIN:-$bin/sigil-dp}" --config "$CONF" --data-dir "$DIR" --listen "$DP" --threads 1 --driver "${DRIVER:-auto}" --metrics-listen "$MX" 2>"$DIR/dp.log" &
dp=$!
trap 'kill $dp 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 300); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done
# The OCSP index is built in the background after start-up; measure once it is in place
# (INDEX=0 measures the replica path alone, with `[index] enabled = false`).
if [ "${INDEX:-1}" = 1 ]; then
  t0=$(date +%s)
  until curl -s "http://$MX/metrics" | grep -q '^sigil_dp_index_builds_total [1-9]'; do sleep 1; done
  echo "index built in $(( $(date +%s) - t0 )) s (after ready)" >&2
fi
GEN="${GEN:-sigil-load}"
run() { # label FIXED
  local rps items
  if [ "$GEN" = wrk ]; then
    rps="$(FIXED=$2 taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -s benches/peers/ocsp-request.lua "http://$DP/" | awk '/Requests\/sec/ {print $2}')"
  else
    items=$COUNT; [ "$2" = 1 ] && items=1
    rps="$(taskset -c 1 "$bin/sigil-load" run "http://$DP/" --synthetic "$DIR/fill.json" --items "$items" --connections "$CONNS" --duration "${DURATION}s" --warmup 2s --cpus 1 ${BUSY_POLL:+--busy-poll} --quiet --json - 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput"])')"
  fi
  echo "$1 $rps" | tee -a "$DIR/results-$$" >&2
}
# Warm-up: WARMUP seconds of uniform-random load. With a short warm-up the first random round
# after the index build ran 10-15 % slower than the later ones (probably the kernel still
# compacting memory after the re-read of the index file; not proven); the rounds measure the steady state.
taskset -c 1 "$bin/sigil-load" run "http://$DP/" --synthetic "$DIR/fill.json" --items "$COUNT" \
  --connections "$CONNS" --duration "${WARMUP}s" --cpus 1 --quiet >/dev/null
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
index = val("sigil_dp_index_lookups_total")
anon, filed = val("sigil_dp_resident_anon_bytes"), val("sigil_dp_resident_file_bytes")
ix_mem, ix_file = val("sigil_dp_index_memory_bytes"), val("sigil_dp_index_file_bytes")
s, r = statistics.median(rows["single"]), statistics.median(rows["random"])
print(f"rounds: {rows}")
print(f"\n| certificates | single-serial req/s | uniform-random req/s | random ÷ single | DP RSS anon / file | index memory / file | replica disk per certificate | lookups from index / cache / replica |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
total = index + hits + misses
print(f"| {count:,} | {s:,.0f} | {r:,.0f} | {r/s:.2f} | {anon/2**20:,.0f} / {filed/2**20:,.0f} MiB | {ix_mem/2**20:,.0f} / {ix_file/2**20:,.0f} MiB | {disk/count:,.0f} B | {index/total:.2f} / {hits/total:.2f} / {misses/total:.2f} |")
PY
rm -f "$DIR/results-$$" "$DIR/metrics-$$"
