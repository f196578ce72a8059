#!/usr/bin/env bash
# Replication fan-out to N data planes (issue 21 item 5; docs/PERFORMANCE.md "Replication
# fan-out"). One sigil-cp (RocksDB) on CP_CPU (default 0); data planes (`--threads 1`) and the
# load generators on DP_CPU (default 1). For each N in NS (default "1 4 16"; data planes are
# added to reach N, all caught up before measuring):
#   issuance  closed-loop issuance for DURATION (sigil-load `post`, 32 connections): what the
#             control plane commits while it streams every record to N subscribers, and its
#             CPU time per certificate (each certificate is three records sent N times)
#   fan-out   REVOCATIONS revocations one at a time: from the revoke request until every one
#             of the N data planes answers `revoked` to an OCSP request (each polled in turn),
#             p50/p99/max, and until the first did
# Markdown on stdout; WRITE_DOC=1 writes it into docs/PERFORMANCE.md (`fanout-peers`).
#   WRITE_DOC=1 bash benches/peers/fanout-peers.sh
# NO_BUILD=1 uses the binaries in $CARGO_TARGET_DIR/release (default /var/tmp/sigil-target-rel).
set -euo pipefail
cd "$(dirname "$0")/../.."
NS="${NS:-1 4 16}"
DURATION="${DURATION:-8}"
REVOCATIONS="${REVOCATIONS:-200}"
CP_CPU="${CP_CPU:-0}"
DP_CPU="${DP_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-dataplane \
  -p sigil-loadtest --bin sigil-cp --bin sigil-dp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/fanout-peers.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19744

"$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null 2>&1
taskset -c "$CP_CPU" "$bin/sigil-cp" serve --data-dir "$work/cp" --admin-listen "$CP" \
  --base-url "http://127.0.0.1:18700" 2>>"$work/cp.log" &
cp_pid=$!
pids+=("$cp_pid")
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fan.example \
  -addext subjectAltName=DNS:fan.example -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 -c "import json,sys; print(json.dumps({'issuer_id': 'demo', 'csr': open(sys.argv[1]).read()}))" "$work/leaf.csr" >"$work/issue.json"

head_of() { curl -sf -H "Authorization: Bearer $SIGIL_ADMIN_TOKEN" "http://$CP/api/v1/replication/digest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["as_of"])'; }
applied() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "sigil_dp_replication_applied_sequence" {print int($2)}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
caught_up() { # every data plane started so far at the control plane's head
  local head i
  head="$(head_of)"
  for _ in $(seq 600); do
    local behind=0
    for i in $(seq 1 "$started"); do
      [ "$(applied $((19700 + i)))" -ge "$head" ] 2>/dev/null || behind=1
    done
    [ "$behind" = 0 ] && return 0
    sleep 0.1
  done
  echo "data planes did not catch up" >&2
  exit 1
}

started=0
: >"$work/results"
for n in $NS; do
  while [ "$started" -lt "$n" ]; do
    started=$((started + 1))
    taskset -c "$DP_CPU" "$bin/sigil-dp" --data-dir "$work/dp-$started" --listen "127.0.0.1:$((18700 + started))" \
      --control-plane "http://$CP" --threads 1 --metrics-listen "127.0.0.1:$((19700 + started))" 2>"$work/dp-$started.log" &
    pids+=($!)
  done
  caught_up
  s0="$(ticks "$cp_pid")"
  taskset -c "$DP_CPU" "$bin/sigil-load" run "http://$CP" --scenario post --path /api/v1/certificates \
    --body "$work/issue.json" --header "Authorization: Bearer $SIGIL_ADMIN_TOKEN" \
    --header 'Content-Type: application/json' --expect-status 201 --connections 32 \
    --duration "${DURATION}s" --json "$work/issue-$n.json" --quiet >/dev/null 2>&1
  s1="$(ticks "$cp_pid")"
  t0="$(date +%s.%N)"
  caught_up
  drain="$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$(date +%s.%N)")"
  dps=()
  for i in $(seq 1 "$n"); do dps+=(--dp "http://127.0.0.1:$((18700 + i))"); done
  fan="$(cd benches/peers && taskset -c "$DP_CPU" python3 fanout_latency.py --cp "http://$CP" "${dps[@]}" -n "$REVOCATIONS")"
  python3 - "$n" "$work/issue-$n.json" "$s0" "$s1" "$(getconf CLK_TCK)" "$drain" "$fan" >>"$work/results" <<'PY'
import json, sys
n, load, s0, s1, hz, drain, fan = sys.argv[1:8]
l = json.load(open(load))
ok = l["ok"]
cpu = (float(s1) - float(s0)) / float(hz)
print(json.dumps({"n": int(n), "rate": l["throughput"], "errors": l["errors"]["total"], "cpu_us": cpu / max(ok, 1) * 1e6,
                  "drain": float(drain), "fan": json.loads(fan)}))
PY
  echo "fan-out: N=$n done" >&2
done

python3 - "$work/results" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" "$CP_CPU" "$DP_CPU" "$DURATION" "$REVOCATIONS" "$NS" <<'PY'
import io, json, sys
sys.path.insert(0, "benches/peers")
import perfdoc
results, commit, write, cpcpu, dpcpu, duration, revs, ns = sys.argv[1:9]
rows = [json.loads(l) for l in open(results)]
base = rows[0]
out = io.StringIO()
def say(s=""):
    print(s); out.write(s + "\n")
say(f"One sigil-cp (RocksDB) on CPU {cpcpu} streaming to N data planes (`--threads 1`), all on CPU {dpcpu} with the load generators. "
    f"Issuance: closed loop, 32 connections, {duration} s (each certificate is three replication records, sent to every data plane). "
    f"Fan-out: {revs} revocations one at a time, from the revoke request until every data plane answers `revoked` to OCSP (each polled in turn).\n")
say("| data planes | issued/s | ÷ with 1 | sigil-cp CPU µs / certificate | all caught up after the load | revoke → revoked on every data plane p50 / p99 / max | on the first p50 | revoke API p50 |")
say("|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    f = r["fan"]
    say(f"| {r['n']} | {r['rate']:,.0f} | {r['rate'] / base['rate']:.2f} | {r['cpu_us']:.0f} | {r['drain'] * 1e3:.0f} ms | "
        f"{f['all']['p50_ms']:.1f} / {f['all']['p99_ms']:.1f} / {f['all']['max_ms']:.1f} ms | {f['first']['p50_ms']:.1f} ms | {f['api']['p50_ms']:.1f} ms |")
say()
say(f"Command: `NS=\"{ns}\" WRITE_DOC=1 bash benches/peers/fanout-peers.sh` at {commit}; machine: {perfdoc.machine()}. "
    "The data planes share one core with the load generators, so the fan-out times include that core's queueing: "
    "they bound what a data plane on its own host would see from above.")
if write:
    perfdoc.write_block("fanout-peers", "## Replication fan-out", out.getvalue())
PY
