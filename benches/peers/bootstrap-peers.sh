#!/usr/bin/env bash
# A data plane bootstrapping N certificates (default 1,000,000) from the control plane against
# from a relay (issue 21 item 5; docs/PERFORMANCE.md "Bootstrap from the control plane vs from
# a relay"). One sigil-cp (RocksDB) is filled with N certificates issued from one P-256 CSR
# (sigil-load's `post` scenario, closed loop, 32 connections) — every certificate with its two
# pre-signed OCSP responses — so that its replication log (retain_records, default 1M) no
# longer holds the start and a new data plane must take a snapshot. Then, one at a time, each
# new data plane (--threads 1) pinned to DP_CPU (default 1) and timed from its start until it
# is ready at the control plane's head:
#   cp     data plane A from the control plane, with [relay] on (A is the relay below: then
#          moved to CP_CPU, so that it serves from the CPU the control plane serves from)
#   relay  data plane B from relay A only
#   cp-2   data plane C from the control plane again (the first run warmed the CP's caches)
# with the serving side's CPU time (sigil-cp, or relay A) and the bootstrapping data plane's,
# and the replica's size on disk. Markdown on stdout; WRITE_DOC=1 writes it into
# docs/PERFORMANCE.md (`bootstrap-peers`).
#   N=1000000 WRITE_DOC=1 bash benches/peers/bootstrap-peers.sh
# NO_BUILD=1 uses the binaries in $CARGO_TARGET_DIR/release (default /var/tmp/sigil-target-rel).
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-1000000}"
# The control plane's retained log: shorter than what the fill writes (two to three records a
# certificate), so that every new data plane bootstraps by a snapshot.
RETAIN="${RETAIN:-10000}"
CP_CPU="${CP_CPU:-0}"
DP_CPU="${DP_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-dataplane \
  -p sigil-loadtest --bin sigil-cp --bin sigil-dp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/bootstrap-peers.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19944

printf '[replication]\nretain_records = %s\n' "$RETAIN" >"$work/cp.toml"
"$bin/sigil-cp" --config "$work/cp.toml" init --data-dir "$work/cp" >/dev/null 2>&1
taskset -c "$CP_CPU" "$bin/sigil-cp" --config "$work/cp.toml" serve --data-dir "$work/cp" --admin-listen "$CP" \
  --base-url "http://127.0.0.1:18180" 2>>"$work/cp.log" &
cp_pid=$!
pids+=("$cp_pid")
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fill.example \
  -addext subjectAltName=DNS:fill.example -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 -c "import json,sys; print(json.dumps({'issuer_id': 'demo', 'csr': open(sys.argv[1]).read()}))" "$work/leaf.csr" >"$work/issue.json"

# Fill: issue until the control plane holds N certificates (sigil-load runs for a time, so in
# slices, checking the count between them).
count() { python3 - "$CP" <<'PY'
import json, os, sys, urllib.request
req = urllib.request.Request(f"http://{sys.argv[1]}/api/v1/certificates?per_page=1", headers={"Authorization": "Bearer " + os.environ["SIGIL_ADMIN_TOKEN"]})
print(json.load(urllib.request.urlopen(req))["total"])
PY
}
fill_start=$(date +%s)
have="$(count)"
while [ "$have" -lt "$N" ]; do
  secs="$(python3 -c "print(max(2, min(60, int(($N - $have) / 2500) + 1)))")"
  taskset -c "$DP_CPU" "$bin/sigil-load" run "http://$CP" --scenario post --path /api/v1/certificates \
    --body "$work/issue.json" --header "Authorization: Bearer $SIGIL_ADMIN_TOKEN" \
    --header 'Content-Type: application/json' --expect-status 201 --connections 32 \
    --duration "${secs}s" --quiet >/dev/null 2>&1 || true
  have="$(count)"
  echo "fill: $have certificates" >&2
done
fill_secs=$(( $(date +%s) - fill_start ))
head_of() { curl -sf -H "Authorization: Bearer $SIGIL_ADMIN_TOKEN" "http://$CP/api/v1/replication/digest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["as_of"])'; }
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
du_mib() { du -sm "$1" | cut -f1; }

# One bootstrap: name, upstream URL, extra config → a JSON line into results.
bootstrap() { # label url metrics-port listen-port [relay-port]
  local label="$1" url="$2" mx="$3" listen="$4" relay="${5:-}" dir="$work/dp-$1" pid t0 server_pid s0 head
  mkdir -p "$dir"
  if [ -n "$relay" ]; then
    printf '[relay]\nlisten = "127.0.0.1:%s"\ntoken = "%s"\n' "$relay" "$SIGIL_REPLICATION_TOKEN" >"$dir/dp.toml"
  else
    : >"$dir/dp.toml"
  fi
  server_pid="$cp_pid"
  [ "$label" = relay ] && server_pid="$relay_pid"
  head="$(head_of)"
  s0="$(ticks "$server_pid")"
  t0="$(date +%s.%N)"
  taskset -c "$DP_CPU" "$bin/sigil-dp" --config "$dir/dp.toml" --data-dir "$dir/data" --listen "127.0.0.1:$listen" \
    --control-plane "$url" --threads 1 --metrics-listen "127.0.0.1:$mx" 2>"$dir/log" &
  pid=$!
  pids+=("$pid")
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mx/health/ready")" = 200 ] &&
        python3 -c "import sys,urllib.request,re; t=urllib.request.urlopen('http://127.0.0.1:$mx/metrics').read().decode(); m=re.search(r'^sigil_dp_replication_applied_sequence (\S+)', t, re.M); sys.exit(0 if m and float(m.group(1)) >= $head else 1)" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "data plane $label died" >&2; tail -5 "$dir/log" >&2; exit 1; }
    sleep 0.2
  done
  snaps="$(curl -s "http://127.0.0.1:$mx/metrics" | awk '$1 == "sigil_dp_replication_snapshots_total" {print $2}')"
  python3 - "$label" "$t0" "$(date +%s.%N)" "$s0" "$(ticks "$server_pid")" "$(ticks "$pid")" "$(getconf CLK_TCK)" "$(du_mib "$dir/data")" "$head" "${snaps:-0}" <<'PY' | tee -a "$work/results" >&2
import json, sys
label, t0, t1, s0, s1, dp, hz, mib, head, snaps = sys.argv[1:11]
print(json.dumps({"label": label, "secs": float(t1) - float(t0), "server_cpu": (float(s1) - float(s0)) / float(hz),
                  "dp_cpu": float(dp) / float(hz), "mib": int(mib), "head": int(head), "snapshots": int(float(snaps))}))
PY
  last_pid="$pid"
}

bootstrap cp "http://$CP" 19391 18391 19445
relay_pid="$last_pid"
# The relay serves from the control plane's CPU, as the control plane does (the new data plane
# has the other to itself in both cases).
taskset -apc "$CP_CPU" "$relay_pid" >/dev/null
bootstrap relay "http://127.0.0.1:19445" 19392 18392
bootstrap cp-2 "http://$CP" 19393 18393

python3 - "$work/results" "$N" "$fill_secs" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" "$CP_CPU" "$DP_CPU" "$RETAIN" <<'PY'
import io, json, sys
sys.path.insert(0, "benches/peers")
import perfdoc
results, n, fill, commit, write, cpcpu, dpcpu, retain = sys.argv[1:9]
retain = f"{int(retain):,}"
rows = {r["label"]: r for r in (json.loads(l) for l in open(results))}
out = io.StringIO()
def say(s=""):
    print(s); out.write(s + "\n")
say(f"{int(n):,} certificates (each with its two pre-signed OCSP responses) issued into one sigil-cp on RocksDB "
    f"in {int(fill)} s; its log keeps the newest {retain} records, so each new data plane bootstraps by a snapshot. "
    f"The serving side (sigil-cp, or relay A) on CPU {cpcpu} and CPU {dpcpu} respectively; the new data plane "
    f"(`--threads 1`) on CPU {dpcpu}; one at a time, timed from its start until it is ready at the control plane's head.\n")
say("| data plane | upstream | ready after | serving side's CPU | bootstrapping data plane's CPU | replica on disk | snapshots taken |")
say("|---|---|---:|---:|---:|---:|---:|")
names = {"cp": ("A", "control plane"), "relay": ("B", "relay A (a data plane)"), "cp-2": ("C", "control plane, again")}
for label in ("cp", "relay", "cp-2"):
    r = rows[label]
    say(f"| {names[label][0]} | {names[label][1]} | {r['secs']:.1f} s | {r['server_cpu']:.1f} s | {r['dp_cpu']:.1f} s | {r['mib']} MiB | {r['snapshots']} |")
say()
say(f"Command: `N={n} RETAIN={retain.replace(',', '')} bash benches/peers/bootstrap-peers.sh` at {commit}; machine: {perfdoc.machine()}.")
if write:
    perfdoc.write_block("bootstrap-peers", "## Bootstrap from the control plane vs from a relay", out.getvalue())
PY
