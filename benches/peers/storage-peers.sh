#!/usr/bin/env bash
# The control plane on PostgreSQL against the control plane on RocksDB, side by side (issue 21,
# item 5; docs/PERFORMANCE.md, "Control plane on PostgreSQL vs RocksDB"). Two sigil-cp, one
# per backend, each with the demo CA, on SERVER_CPU (default 0) with the PostgreSQL server
# (scripts/postgres.sh, a throwaway cluster on disk under WORK_BASE, default /var/tmp: a synced
# commit must reach the device); sigil-load's `post` scenario on LOAD_CPU (default 1).
# In ROUNDS alternating rounds of DURATION s for each of CONNS (closed loop, keep-alive):
#   issue   POST /api/v1/certificates (one P-256 CSR)
#   revoke  POST /api/v1/certificates/{id}/revoke of certificates issued in the rounds, each once
# requests/s, p50/p99 and the server side's CPU time per request: sigil-cp's utime+stime and,
# on PostgreSQL, every postgres process's too (both over the run ÷ requests), and CPU busy.
# Then each backend in open loop at OPEN_FRACTION of its own closed-loop issuance peak.
# Markdown on stdout; WRITE_DOC=1 also writes it into docs/PERFORMANCE.md (`storage-peers`).
#   DURATION=8 ROUNDS=3 CONNS="8 32" WRITE_DOC=1 bash benches/peers/storage-peers.sh
# NO_BUILD=1 uses the binaries in $CARGO_TARGET_DIR/release (default /var/tmp/sigil-target-rel).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-8 32}"
OPEN_FRACTION="${OPEN_FRACTION:-0.7}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3 psql; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-loadtest \
  --bin sigil-cp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
load="$bin/sigil-load"
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/storage-peers.XXXXXX")"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/postgres.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
auth="Authorization: Bearer $SIGIL_ADMIN_TOKEN"
declare -A PORT=([rocksdb]=19744 [postgres]=19745)

# PostgreSQL on the server CPU (its processes inherit the affinity), default settings.
admin_url="$(taskset -c "$SERVER_CPU" bash scripts/postgres.sh start "$work/pg")"
psql -X -q "$admin_url" -c "CREATE DATABASE sigil_bench"
export SIGIL_POSTGRES_URL="${admin_url%/postgres}/sigil_bench"
printf '[storage]\nbackend = "postgres"\n' >"$work/postgres.toml"
: >"$work/rocksdb.toml"

K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -new $K -subj /CN=bench.example -addext subjectAltName=DNS:bench.example \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
open(f"{w}/issue.json", "w").write(json.dumps({"issuer_id": "demo", "csr": open(f"{w}/leaf.csr").read()}))
open(f"{w}/revoke.json", "w").write(json.dumps({"reason": "superseded"}))
PY

declare -A PID
for b in rocksdb postgres; do
  "$bin/sigil-cp" --config "$work/$b.toml" init --data-dir "$work/$b" >/dev/null 2>>"$work/$b.log"
  taskset -c "$SERVER_CPU" "$bin/sigil-cp" --config "$work/$b.toml" serve --data-dir "$work/$b" \
    --admin-listen "127.0.0.1:${PORT[$b]}" --base-url "http://127.0.0.1:18180" 2>>"$work/$b.log" &
  PID[$b]=$!
  pids+=("$!")
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:${PORT[$b]}/health" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${PORT[$b]}/health" >/dev/null || { echo "sigil-cp ($b) did not start" >&2; tail -5 "$work/$b.log" >&2; exit 1; }
done

cpu_ticks() { awk -v c="cpu$SERVER_CPU" '$1==c {t=0; for(i=2;i<=NF;i++) t+=$i; printf "%s %s %s %s", t, $5, $6, $9}' /proc/stat; }
# sigil-cp's ticks, and on PostgreSQL every postgres process's (backends come and go with the
# pool only at start-up; the pool keeps its connections).
server_ticks() { # backend
  local t
  t="$(awk '{print $14 + $15}' "/proc/${PID[$1]}/stat")"
  if [ "$1" = postgres ]; then
    for p in $(pgrep -x postgres); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  fi
  echo "$t"
}
args_for() { # backend op
  local base="http://127.0.0.1:${PORT[$1]}"
  case "$2" in
    issue) echo "$base --path /api/v1/certificates --body $work/issue.json --expect-status 201" ;;
    revoke) echo "$base --path-file $work/revoke-$1.paths --body $work/revoke.json --expect-status 200 --dist sequential" ;;
  esac
}
run() { # label backend op mode conns [rate]: one run, a JSON line into results
  local label="$1" b="$2" op="$3" mode="$4" conns="$5" rate="${6:-}" before after p0 p1
  before="$(cpu_ticks)" p0="$(server_ticks "$b")"
  # shellcheck disable=SC2046
  taskset -c "$LOAD_CPU" "$load" run $(args_for "$b" "$op") --scenario post --header "$auth" \
    --header 'Content-Type: application/json' --mode "$mode" ${rate:+--rate "$rate"} --connections "$conns" \
    --duration "${DURATION}s" --quiet --json "$work/run.json" >/dev/null 2>&1 || true
  after="$(cpu_ticks)" p1="$(server_ticks "$b")"
  python3 - "$label" "$b" "$op" "$mode" "$conns" "$work/run.json" "$before" "$after" "$p0" "$p1" "$(getconf CLK_TCK)" <<'PY' | tee -a "$work/results" >&2
import json, sys
label, b, op, mode, conns, path, before, after, p0, p1, hz = sys.argv[1:12]
d = json.load(open(path))
x, y = list(map(float, before.split())), list(map(float, after.split()))
total = y[0] - x[0] or 1
ok = d["ok"] or 1
print(json.dumps({"label": label, "backend": b, "op": op, "mode": mode, "conns": int(conns), "rate": d.get("rate"),
  "tput": d["throughput"], "ok": d["ok"], "errors": d["errors"]["total"],
  "p50": d["latency_us"]["p50"], "p99": d["latency_us"]["p99"],
  "cpu_us": (float(p1) - float(p0)) / float(hz) / ok * 1e6,
  "busy": 1 - (y[1] - x[1] + y[2] - x[2]) / total, "iowait": (y[2] - x[2]) / total}))
PY
}
paths_for() { # backend count → revoke-<backend>.paths: that many active certificates
  python3 benches/peers/active_cert_paths.py "127.0.0.1:${PORT[$1]}" "$2" "$work/revoke-$1.paths" >/dev/null
}

for b in rocksdb postgres; do DURATION=2 run warmup "$b" issue closed 32 >/dev/null 2>&1; done
for c in $CONNS; do
  for r in $(seq "$ROUNDS"); do
    for b in rocksdb postgres; do run issue "$b" issue closed "$c"; done
  done
done
for r in $(seq "$ROUNDS"); do
  for b in rocksdb postgres; do
    paths_for "$b" 40000
    run revoke "$b" revoke closed 32
  done
done
# Open loop at OPEN_FRACTION of each backend's own closed-loop issuance peak (best median).
for b in rocksdb postgres; do
  peak="$(python3 - "$work/results" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["label"] == "issue" and r["backend"] == sys.argv[2]]
print(max(statistics.median(r["tput"] for r in rows if r["conns"] == c) for c in {r["conns"] for r in rows}))
PY
)"
  sleep 10
  run open "$b" issue open 64 "$(python3 -c "print(round($peak * $OPEN_FRACTION))")"
done

python3 - "$work/results" "DURATION=$DURATION ROUNDS=$ROUNDS CONNS=\"$CONNS\" OPEN_FRACTION=$OPEN_FRACTION" \
  "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" "$SERVER_CPU" "$LOAD_CPU" \
  "$(psql -X -At "$admin_url" -c 'SHOW server_version')" <<'PY'
import io, json, statistics, sys
sys.path.insert(0, "benches/peers")
import perfdoc
results, settings, commit, write, scpu, lcpu, pgver = sys.argv[1:8]
rows = [json.loads(l) for l in open(results)]
out = io.StringIO()
def say(s=""):
    print(s); out.write(s + "\n")
med = lambda rs, k: statistics.median(r[k] for r in rs)
say(f"sigil-cp on RocksDB and on PostgreSQL {pgver} (a local cluster, default settings, "
    f"`synchronous_commit = on`), each with its demo CA; both control planes and PostgreSQL on CPU {scpu}, "
    f"sigil-load on CPU {lcpu}, alternating rounds; medians of the rounds. Server CPU: sigil-cp's "
    "utime+stime, plus every postgres process's on PostgreSQL, over the run ÷ requests.\n")
say("| operation | conns | backend | requests/s (rounds) | p50 / p99 | server CPU per request | CPU busy | errors | PostgreSQL ÷ RocksDB |")
say("|---|---|---|---|---|---|---|---|---|")
for op, label in (("issue", "issue"), ("revoke", "revoke")):
    for c in sorted({r["conns"] for r in rows if r["label"] == label}):
        base = None
        for b in ("rocksdb", "postgres"):
            rs = [r for r in rows if r["label"] == label and r["backend"] == b and r["conns"] == c]
            if not rs:
                continue
            t = med(rs, "tput")
            base = base or t
            ratio = "" if b == "rocksdb" else f"{t / base:.2f}×"
            say(f"| {op} | {c} | {b} | {t:,.0f} ({' / '.join(format(r['tput'], ',.0f') for r in rs)}) | "
                f"{med(rs, 'p50') / 1000:.1f} / {med(rs, 'p99') / 1000:.1f} ms | {med(rs, 'cpu_us'):.0f} µs | "
                f"{med(rs, 'busy') * 100:.0f} % | {sum(r['errors'] for r in rs)} | {ratio} |")
say()
say("Open loop (64 connections) at " + settings.split("OPEN_FRACTION=")[1] + " of each backend's own peak:\n")
say("| backend | rate | delivered | p50 / p99 | server CPU per request | errors |")
say("|---|---|---|---|---|---|")
for r in (r for r in rows if r["label"] == "open"):
    say(f"| {r['backend']} | {r['rate']:,.0f}/s | {r['tput']:,.0f}/s | {r['p50'] / 1000:.1f} / {r['p99'] / 1000:.1f} ms | "
        f"{r['cpu_us']:.0f} µs | {r['errors']} |")
say()
say(f"Command: `{settings} bash benches/peers/storage-peers.sh` at {commit}; machine: {perfdoc.machine()}.")
if write:
    perfdoc.write_block("storage-peers", "## Control plane on PostgreSQL vs RocksDB", out.getvalue())
PY
