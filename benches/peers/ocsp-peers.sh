#!/usr/bin/env bash
# OCSP serving throughput: sigil-dp vs nginx (the same response bytes as a static file, one
# worker; with nginx's defaults and, as nginx-tuned, with open_file_cache and sendfile) vs
# `cfssl ocspserve`, each alone on CPU 0, the load generator on CPU 1, 64 keep-alive
# connections. A test PKI: Sigil's demo CA issues a certificate for an openssl-made key/CSR;
# openssl makes the OCSP request. Rounds alternate between the servers; the median per server
# and the ratios are printed as a Markdown table, and with WRITE_DOC=1 written into
# docs/PERFORMANCE.md between the `ocsp-peers` markers (with the machine and the command).
#   GEN=sigil-load|wrk DURATION=10 ROUNDS=3 DRIVER=auto WRITE_DOC=1 bash benches/peers/ocsp-peers.sh
# GEN=sigil-load (default) checks every response (status, content type, OCSP status) and
# counts errors by kind; GEN=wrk is the reference client.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
DRIVER="${DRIVER:-auto}"
CONNS="${CONNS:-64}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
GEN="${GEN:-sigil-load}"
# BUSY_POLL=1: sigil-load never sleeps in epoll_wait (see `sigil-load run --help`).
BUSY_POLL="${BUSY_POLL:-}"
for tool in wrk nginx cfssl taskset openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-dataplane -p sigil-loadtest --bin sigil-cp --bin sigil-dp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19444 DP=127.0.0.1:18080 NG=127.0.0.1:18081 CF=127.0.0.1:18082 MX=127.0.0.1:19090
NT=127.0.0.1:18083

"$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null
taskset -c 1 "$bin/sigil-cp" serve --data-dir "$work/cp" --admin-listen "$CP" --base-url "http://$DP" 2>"$work/cp.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
taskset -c 0 "$bin/sigil-dp" --data-dir "$work/dp" --listen "$DP" --control-plane "http://$CP" \
  --threads 1 --driver "$DRIVER" --metrics-listen "$MX" 2>"$work/dp.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done

# One real certificate and its OCSP request (SHA-1 CertID, no nonce: what browsers send).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=bench.example -addext subjectAltName=DNS:bench.example -out "$work/leaf.csr" 2>/dev/null
python3 - "$work" "$CP" <<'PY'
import json, sys, urllib.request, os
work, cp = sys.argv[1], sys.argv[2]
body = json.dumps({"issuer_id": "demo", "csr": open(f"{work}/leaf.csr").read()}).encode()
req = urllib.request.Request(f"http://{cp}/api/v1/certificates", body, {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["SIGIL_ADMIN_TOKEN"]})
d = json.load(urllib.request.urlopen(req))
open(f"{work}/leaf.pem", "w").write(d["certificate"])
open(f"{work}/issuing.pem", "w").write(d["chain"][0])
PY
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/req.der" >/dev/null 2>&1
for _ in $(seq 100); do
  curl -s --data-binary @"$work/req.der" -H 'Content-Type: application/ocsp-request' "http://$DP/" -o "$work/resp.der"
  openssl ocsp -respin "$work/resp.der" -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: good' && break
  sleep 0.1
done
b64="$(base64 -w0 "$work/req.der")"

# nginx: the same response bytes as a static file, one worker.
. benches/peers/nginx-static.sh
nginx_static "$work" "$NG" 0 "$work/resp.der"
pids+=("$NGINX_PID")
mkdir -p "$work/tuned" && chmod 755 "$work/tuned"
nginx_static "$work/tuned" "$NT" 0 "$work/resp.der" tuned
pids+=("$NGINX_PID")

# cfssl ocspserve with the same response.
base64 -w0 "$work/resp.der" > "$work/responses"
taskset -c 0 cfssl ocspserve -address 127.0.0.1 -port "${CF##*:}" -responses "$work/responses" -loglevel 5 2>"$work/cfssl.log" &
pids+=($!)
sleep 1
curl -sf "http://$NG/ocsp.der" -o /dev/null
curl -sf "http://$NT/ocsp.der" -o /dev/null
curl -sf --data-binary @"$work/req.der" "http://$CF/" -o /dev/null

cat > "$work/post.lua" <<LUA
local f = io.open("$work/req.der", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA

"$bin/sigil-load" corpus --issuer "$work/issuing.pem" --cert "$work/leaf.pem" --out "$work/corpus" 2>/dev/null

# Busy share of CPU 0 (server) and CPU 1 (generator) between two /proc/stat snapshots: shows
# which side is the bottleneck (a server below ~95 % busy is waiting for its client).
cpu_ticks() { awk '$1=="cpu0"||$1=="cpu1" {t=0; for(i=2;i<=NF;i++) t+=$i; printf "%s %s ", t, $5+$6}' /proc/stat; }
cpu_busy() { # before after
  python3 -c 'import sys; b=list(map(int,sys.argv[1].split())); a=list(map(int,sys.argv[2].split()))
print(" ".join(f"cpu{i}={100*(1-(a[2*i+1]-b[2*i+1])/max(1,a[2*i]-b[2*i])):.0f}%" for i in (0,1)))' "$1" "$2"
}
run() { # name url [script]
  local out before
  if [ "$GEN" = sigil-load ]; then
    local scenario=ocsp-get
    [ -n "${3:-}" ] && scenario=ocsp-post
    local url="$2"
    [ "$scenario" = ocsp-get ] && url="${2%/ocsp/*}/ocsp"
    [ "${1#nginx-}" != "$1" ] && url="${2%/ocsp.der}/"
    # The CPU window starts after the 1 s warm-up and ends with the run (the snapshot is
    # waited for, so a run that ends early never reads the previous round's).
    local snap busy
    rm -f "$work/cpu.before"
    (sleep 1.5; cpu_ticks >"$work/cpu.before") &
    snap=$!
    taskset -c 1 "$bin/sigil-load" run "$url" --scenario "$scenario" --corpus "$work/corpus" \
      --connections "$CONNS" --duration "${DURATION}s" --warmup 1s --cpus 1 ${BUSY_POLL:+--busy-poll} --quiet --json "$work/run.json" >/dev/null 2>&1 || true
    wait "$snap"
    busy="$(cpu_busy "$(cat "$work/cpu.before")" "$(cpu_ticks)")"
    python3 - "$1" "$work/run.json" "$busy" <<'PY' | tee -a "$work/results" >&2
import json, sys
d = json.load(open(sys.argv[2]))
errs = d["errors"]["total"]
print(sys.argv[1], d["throughput"], f'{d["latency_us"]["p99"] / 1000:.2f}ms', sys.argv[3], f"errors={errs}" if errs else "")
PY
    return
  fi
  before="$(cpu_ticks)"
  if [ -n "${3:-}" ]; then
    out="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$3" "$2")"
  else
    out="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$2")"
  fi
  local rps p99 errs
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  errs="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
  echo "$1 $rps $p99 $(cpu_busy "$before" "$(cpu_ticks)") $errs" | tee -a "$work/results" >&2
}
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  run sigil-post "http://$DP/" "$work/post.lua"
  run sigil-get "http://$DP/ocsp/$b64"
  run nginx-static "http://$NG/ocsp.der"
  run nginx-tuned "http://$NT/ocsp.der"
  run cfssl-post "http://$CF/" "$work/post.lua"
done
python3 - "$work/results" "$DRIVER" "$(sed 's/\x1b\[[0-9;]*m//g' "$work/dp.log" | grep -o 'driver="[^"]*"\|driver=[^ ]*' | head -1)" "$GEN" "$DURATION" "$ROUNDS" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" <<'PY'
import io, statistics, sys
buf = io.StringIO()
_print = print
def print(*a, **k):
    _print(*a, **k)
    _print(*a, **k, file=buf)
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    kv = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
    rows.setdefault(parts[0], []).append((float(parts[1]), parts[2] if len(parts) > 2 else "?", kv.get("cpu0", "?"), kv.get("cpu1", "?")))
med = {k: statistics.median(r[0] for r in v) for k, v in rows.items()}
print(f"\nsigil-dp driver: {sys.argv[2]} ({sys.argv[3]})\n")
print("| server | requests/s (median) | rounds | p99 (last round) | CPU 0 (server) / CPU 1 (client) busy, last round | sigil-post ÷ this |")
print("|---|---:|---:|---:|---:|---:|")
for k in ["sigil-post", "sigil-get", "nginx-static", "nginx-tuned", "cfssl-post"]:
    if k in med:
        last = rows[k][-1]
        print(f"| {k} | {med[k]:,.0f} | {len(rows[k])} | {last[1]} | {last[2]} / {last[3]} | {med['sigil-post'] / med[k]:.2f}× |")
gen, duration, rounds, commit, write = sys.argv[4:9]
if write:
    sys.path.insert(0, "benches/peers")
    import perfdoc
    head = (f"Generated by `GEN={gen} DURATION={duration} ROUNDS={rounds} WRITE_DOC=1 bash benches/peers/ocsp-peers.sh` "
            f"at {commit} on {perfdoc.machine()}; server on CPU 0, {gen} on CPU 1.\n")
    perfdoc.write_block("ocsp-peers", "## OCSP serving vs peers (latest `ocsp-peers.sh` run)", head + buf.getvalue())
PY
