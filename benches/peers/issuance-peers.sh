#!/usr/bin/env bash
# Issuance on the control plane against cfssl, side by side (docs/PERFORMANCE.md, "Issuance
# (control plane) vs cfssl"). Both servers issue from the same P-256 CSR with a P-256 CA and
# run on the same CPU (SERVER_CPU, default 0); the load generator (sigil-load's `post`
# scenario, the same client for both) on another (LOAD_CPU, default 1):
#   sigil   POST /api/v1/certificates on sigil-cp (its demo CA: CSR check, certificate, two
#           pre-signed OCSP responses, audit record, replication records, one synced commit
#           shared by concurrent requests), data directory on disk (WORK_BASE, not tmpfs)
#   cfssl   POST /api/v1/cfssl/sign on `cfssl serve` (Debian golang-cfssl; CSR check and
#           certificate, nothing stored)
# In ROUNDS alternating rounds of DURATION s for each of CONNS (closed loop, keep-alive):
# requests/s, p50/p99, the server process's CPU time per certificate (utime+stime of
# /proc/<pid>/stat over the run ÷ certificates) and CPU 0 busy/iowait/steal. Then sigil-cp on
# both CPUs (the load generator shares CPU 1) for scaling; sigil in open loop at
# OPEN_FRACTION of its one-core peak (latency from intended send times); revocation
# (POST /api/v1/certificates/{id}/revoke of certificates issued in the rounds, each once:
# --dist sequential) on one and two CPUs; and wrk, an independent client, against both
# servers once. Markdown on stdout; WRITE_DOC=1 also writes it into docs/PERFORMANCE.md
# between the `issuance-peers` markers.
#   DURATION=8 ROUNDS=3 CONNS="8 32" WRITE_DOC=1 bash benches/peers/issuance-peers.sh
# NO_BUILD=1 uses the binaries in $CARGO_TARGET_DIR/release (default /var/tmp/sigil-target-rel).
# PERF=1 records a profile of sigil-cp under CONNS' last value (perf, DWARF call graphs) and
# prints where a certificate's CPU time goes by step (benches/peers/issuance_profile.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-8 32}"
OPEN_FRACTION="${OPEN_FRACTION:-0.7}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3 cfssl wrk; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-loadtest \
  --bin sigil-cp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
load="$bin/sigil-load"
# On disk: a synced commit must reach the device, as in production.
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/issuance-peers.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19644 CFSSL_PORT=18988
auth="Authorization: Bearer $SIGIL_ADMIN_TOKEN"

# The CSR both issue from, a P-256 CA for cfssl (sigil-cp's demo CA is P-256 too).
K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $K -days 30 -subj "/O=cfssl bench/CN=cfssl Issuing CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$work/cfssl-ca.key" -out "$work/cfssl-ca.pem" 2>/dev/null
openssl req -new $K -subj /CN=bench.example -addext subjectAltName=DNS:bench.example \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
csr = open(f"{w}/leaf.csr").read()
open(f"{w}/sigil.json", "w").write(json.dumps({"issuer_id": "demo", "csr": csr}))
open(f"{w}/cfssl.json", "w").write(json.dumps({"certificate_request": csr}))
open(f"{w}/revoke.json", "w").write(json.dumps({"reason": "superseded"}))
PY

"$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null 2>&1
start_sigil() { # CPUS
  taskset -c "$1" "$bin/sigil-cp" serve --data-dir "$work/cp" --admin-listen "$CP" \
    --base-url "http://127.0.0.1:18180" 2>>"$work/cp.log" &
  sigil_pid=$!
  pids+=("$sigil_pid")
  for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && return; sleep 0.1; done
  echo "sigil-cp did not start" >&2; tail -5 "$work/cp.log" >&2; exit 1
}
stop_sigil() { kill "$sigil_pid"; wait "$sigil_pid" 2>/dev/null || true; }
start_sigil "$SERVER_CPU"
taskset -c "$SERVER_CPU" cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca "$work/cfssl-ca.pem" \
  -ca-key "$work/cfssl-ca.key" 2>"$work/cfssl.log" &
cfssl_pid=$!
pids+=("$cfssl_pid")
for _ in $(seq 100); do curl -sf -o /dev/null -d @"$work/cfssl.json" "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/sign" && break; sleep 0.1; done

args_for() { # server → sigil-load arguments (the body and the headers are in run)
  case "$1" in
    sigil) echo "http://$CP --path /api/v1/certificates --body $work/sigil.json --expect-status 201" ;;
    cfssl) echo "http://127.0.0.1:$CFSSL_PORT --path /api/v1/cfssl/sign --body $work/cfssl.json --expect-status 200" ;;
    revoke) echo "http://$CP --path-file $work/revoke.paths --body $work/revoke.json --expect-status 200 --dist sequential" ;;
  esac
}
cpu_ticks() { awk -v c="cpu$SERVER_CPU" '$1==c {t=0; for(i=2;i<=NF;i++) t+=$i; printf "%s %s %s %s", t, $5, $6, $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # label server-name pid mode conns [rate]: one run, a JSON line into results
  local label="$1" name="$2" pid="$3" mode="$4" conns="$5" rate="${6:-}" before after p0 p1 snap
  # The CPU window starts after the warm-up (if any) and ends with the run.
  rm -f "$work/snap"
  (sleep "${WARMUP:-0}"; echo "$(cpu_ticks)|$(proc_ticks "$pid")" >"$work/snap") &
  snap=$!
  # shellcheck disable=SC2046
  taskset -c "$LOAD_CPU" "$load" run $(args_for "$name") --scenario post --header "$auth" \
    --header 'Content-Type: application/json' --mode "$mode" ${rate:+--rate "$rate"} --connections "$conns" \
    --duration "${DURATION}s" --warmup "${WARMUP:-0}s" --quiet --json "$work/run.json" >/dev/null 2>&1 || true
  wait "$snap"
  before="$(cut -d'|' -f1 "$work/snap")" p0="$(cut -d'|' -f2 "$work/snap")"
  after="$(cpu_ticks)" p1="$(proc_ticks "$pid")"
  python3 - "$label" "$mode" "$conns" "$work/run.json" "$before" "$after" "$p0" "$p1" "$(getconf CLK_TCK)" <<'PY' | tee -a "$work/results" >&2
import json, sys
label, mode, conns, path, before, after, p0, p1, hz = sys.argv[1:10]
d = json.load(open(path))
b, a = list(map(float, before.split())), list(map(float, after.split()))
total = a[0] - b[0] or 1
ok = d["ok"] or 1
print(json.dumps({"label": label, "mode": mode, "conns": int(conns), "rate": d.get("rate"), "tput": d["throughput"],
  "ok": d["ok"], "errors": d["errors"]["total"], "by_kind": d["errors"]["by_kind"],
  "p50": d["latency_us"]["p50"], "p99": d["latency_us"]["p99"], "p99_9": d["latency_us"]["p99_9"],
  "cpu_us": (float(p1) - float(p0)) / float(hz) / ok * 1e6,
  "busy": 1 - (a[1] - b[1] + a[2] - b[2]) / total, "iowait": (a[2] - b[2]) / total, "steal": (a[3] - b[3]) / total}))
PY
}

# Warm both (page cache, allocator, JIT-free but not cache-free), then the rounds.
DURATION=2 run warmup sigil "$sigil_pid" closed 32 >/dev/null 2>&1
DURATION=2 run warmup cfssl "$cfssl_pid" closed 32 >/dev/null 2>&1
for c in $CONNS; do
  for r in $(seq "$ROUNDS"); do
    run sigil sigil "$sigil_pid" closed "$c"
    run cfssl cfssl "$cfssl_pid" closed "$c"
  done
done

if [ -n "${PERF:-}" ]; then
  c="${CONNS##* }"
  (DURATION=$((DURATION + 4)) run perf sigil "$sigil_pid" closed "$c" >/dev/null 2>&1 &)
  sleep 2
  perf record -F 1999 -g --call-graph dwarf,16384 -p "$sigil_pid" -o "$work/perf.data" -- sleep "$DURATION" >/dev/null 2>&1
  sleep 3
  perf script -i "$work/perf.data" 2>/dev/null | python3 benches/peers/issuance_profile.py >"$work/profile.md"
fi

# Open loop on one CPU at OPEN_FRACTION of the best closed-loop median.
peak="$(python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(max(statistics.median(r["tput"] for r in rows if r["label"] == "sigil" and r["conns"] == c)
          for c in {r["conns"] for r in rows if r["label"] == "sigil"}))
PY
)"
rate="$(python3 -c "print(round($peak * $OPEN_FRACTION))")"
# First 10 s idle: RocksDB's flushes and compactions run below the requests' priority, so the
# saturated rounds above left them behind, and a server at 70 % of its peak has the headroom
# to keep up. Then 2 s of warm-up at the rate, not measured (connections, the blocking pool).
sleep 10
WARMUP=2 run sigil-open sigil "$sigil_pid" open 64 "$rate"

# Revocation on one CPU: certificates issued above, each revoked once.
paths_for() { # count → revoke.paths: that many active certificates (revoked ones are not listed)
  python3 benches/peers/active_cert_paths.py "$CP" "$1" "$work/revoke.paths"
}
revoke_round() { # label pid conns
  local n
  # Enough for the run at up to 4× the issuance peak (each certificate revoked once).
  n="$(python3 -c "print(int($peak * 4 * ($DURATION + 1)))")"
  paths_for "$n" >/dev/null
  run "$1" revoke "$2" closed "$3"
}
revoke_round revoke "$sigil_pid" 32

# Both CPUs for sigil-cp (the load generator shares CPU $LOAD_CPU): scaling.
stop_sigil
start_sigil "$SERVER_CPU,$LOAD_CPU"
DURATION=2 run warmup sigil "$sigil_pid" closed 64 >/dev/null 2>&1
for r in $(seq "$ROUNDS"); do run sigil-2cpu sigil "$sigil_pid" closed 64; done
revoke_round revoke-2cpu "$sigil_pid" 64
stop_sigil
start_sigil "$SERVER_CPU"

# wrk, an independent client (one thread, 32 connections), against both.
cat >"$work/post.lua" <<'LUA'
local f = io.open(os.getenv("BODY"), "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SIGIL_ADMIN_TOKEN")
LUA
for s in sigil cfssl; do
  if [ "$s" = sigil ]; then url="http://$CP/api/v1/certificates"; pid=$sigil_pid; else url="http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/sign"; pid=$cfssl_pid; fi
  p0="$(proc_ticks "$pid")"
  out="$(BODY="$work/$s.json" taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${DURATION}s" -s "$work/post.lua" "$url" 2>&1)"
  p1="$(proc_ticks "$pid")"
  echo "wrk $s $(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '/requests in/ {print $1}') $(echo "$out" | grep -c 'Non-2xx' || true) $((p1 - p0))" >>"$work/wrk"
done

python3 benches/peers/issuance_report.py "$work/results" "$work/wrk" "$work/profile.md" \
  "DURATION=$DURATION ROUNDS=$ROUNDS CONNS=\"$CONNS\" OPEN_FRACTION=$OPEN_FRACTION" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" \
  "$SERVER_CPU" "$LOAD_CPU"
