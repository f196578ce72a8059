#!/usr/bin/env bash
# The key service (KES) on one data-plane core against OCSP GET over TLS on the same core, in
# the same run (docs/PERFORMANCE.md, "Key service (KES) on one core"): one sigil-cp (the KEK in
# SIGIL_KES_KEK) and one sigil-dp with --threads 1 on CPU 0 serving an https listener ([tls])
# and the KES listener ([kes], mTLS; its admin is the load generator's self-signed client
# certificate; KEK file mode 0600); sigil-load on CPU 1. A key is imported over mTLS as the
# admin (curl); the demo CA issues a certificate for the OCSP corpus. Then, in ROUNDS
# alternating rounds of DURATION s, closed loop over CONNS keep-alive connections:
#   ocsp-get-tls  GET /ocsp/{b64} on the https listener (no client certificate)
#   kes-decrypt   PUT /v1/key/decrypt/NAME, ciphertexts of 32-byte data keys made by sigil-load
#   kes-encrypt   PUT /v1/key/encrypt/NAME, 32-byte data keys
#   kes-generate  PUT /v1/key/generate/NAME
# (ITEMS distinct bodies each, contexts {"bucket":"bucket/object-<i>"}); then every scenario in
# open loop at each of OPEN_FRACTIONS (default 0.7) of kes-decrypt's median closed-loop rate,
# for latency from intended send times (as is, and with CPU 0 kept awake; OPEN_SPIN=0: as is
# only). Per run: requests/s, p50/p99, CPU 0 and CPU 1 busy (/proc/stat, as ocsp-peers.sh),
# the server process's CPU time per request (utime+stime of /proc/<pid>/stat over the same
# window ÷ requests), and whether anything else ran (other processes' CPU time, steal): runs
# disturbed beyond OTHERS_LIMIT are marked † and left out of the medians. Last, two checks: a
# closed-loop kes-decrypt run without warm-up whose request count must equal the server's own
# kes_http_request_success increase (/v1/metrics), and CURL_REQUESTS (default 20000) decrypts
# from curl, an independent client, against the same count and sigil-load at curl's rate.
# Markdown tables on stdout; with WRITE_DOC=1 also written into docs/PERFORMANCE.md between
# the `kes-peers` markers.
#   DURATION=5 ROUNDS=8 OPEN_FRACTIONS="0.4 0.7" WRITE_DOC=1 bash benches/peers/kes-peers.sh
# NO_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/release (default
# /var/tmp/sigil-target-rel); DP_BIN/LOAD_BIN override single binaries; BUSY_POLL=1 makes
# sigil-load busy-poll (see `sigil-load run --help`). Instead of the rounds: HOLD=1 sets
# everything up, prints sigil-load command lines and waits (for profiling by hand);
# CALLGRIND=1 runs sigil-dp under valgrind's callgrind (epoll driver) and reports user-space
# instructions and allocator calls per request of each scenario; PERF=1 profiles the server
# with perf and reports where a request's core time goes (both below).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
DRIVER="${DRIVER:-auto}"
CONNS="${CONNS:-64}"
ITEMS="${ITEMS:-1000}"
OPEN_FRACTION="${OPEN_FRACTION:-0.7}" # or OPEN_FRACTIONS="0.4 0.7": several, in turn
OPEN_DURATION="${OPEN_DURATION:-$DURATION}"
BUSY_POLL="${BUSY_POLL:-}"
# A run during which other processes used more than this share of a core, or the host stole
# more than this share of a vCPU, is marked and left out of the medians (a shared machine).
OTHERS_LIMIT="${OTHERS_LIMIT:-0.05}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset chrt openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-dataplane -p sigil-loadtest \
  --bin sigil-cp --bin sigil-dp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
dp_bin="${DP_BIN:-$bin/sigil-dp}"
load="${LOAD_BIN:-$bin/sigil-load}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19544 DP=127.0.0.1:18180 TLS=127.0.0.1:18543 KES=127.0.0.1:17373 MX=127.0.0.1:19190
KEY_NAME=bench-key

# TLS: a CA and the server certificate of both listeners; the load generator's client
# certificate is self-signed, as KES clients' are, and its identity is the KES admin.
(
  cd "$work"
  K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  openssl req -x509 $K -days 2 -subj "/CN=kes-peers CA" -keyout ca.key -out ca.pem
  openssl req -new $K -subj "/CN=localhost" -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
  openssl req -x509 $K -days 2 -subj "/CN=sigil-load" -keyout client.key -out client.pem
) 2>/dev/null
admin="$(openssl x509 -in "$work/client.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
kek="$(openssl rand -base64 32)"
echo "$kek" >"$work/kek" && chmod 600 "$work/kek"
key_b64="$(openssl rand -base64 32)"
cat >"$work/dp.toml" <<TOML
[tls]
listen = "$TLS"
cert = "$work/server.pem"
key = "$work/server.key"

[kes]
listen = "$KES"
cert = "$work/server.pem"
key = "$work/server.key"
admin = "$admin"
kek_file = "$work/kek"
TOML

# One fleet KEK: the control plane seals its CA keys under it too, from init on.
SIGIL_KES_KEK="$kek" "$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null
SIGIL_KES_KEK="$kek" taskset -c 1 "$bin/sigil-cp" serve --data-dir "$work/cp" --admin-listen "$CP" \
  --base-url "http://$DP" 2>"$work/cp.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
dp_cmd=("$dp_bin" --config "$work/dp.toml" --data-dir "$work/dp" --listen "$DP" --control-plane "http://$CP"
  --threads 1 --metrics-listen "$MX")
if [ -n "${CALLGRIND:-}" ]; then
  # valgrind does not emulate io_uring; counting starts only when asked (callgrind_control).
  command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
  DRIVER=epoll
  taskset -c 0 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
    "${dp_cmd[@]}" --driver epoll 2>"$work/dp.log" &
else
  taskset -c 0 "${dp_cmd[@]}" --driver "$DRIVER" 2>"$work/dp.log" &
fi
dp_pid=$!
pids+=("$dp_pid")
for _ in $(seq 600); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done
kes() { # method path [body]: the body, a newline and the HTTP status
  local body=()
  [ -z "${3:-}" ] || body=(-H 'Content-Type: application/json' --data-binary "$3")
  curl -sS --cacert "$work/ca.pem" --cert "$work/client.pem" --key "$work/client.key" -X "$1" \
    "${body[@]}" -w '\n%{http_code}' "https://$KES$2"
}

# The key, imported through the data plane (forwarded to the control plane, answered once
# applied here), then used once.
out="$(kes PUT "/v1/key/import/$KEY_NAME" "{\"key\":\"$key_b64\",\"cipher\":\"AES256\"}")"
[ "${out##*$'\n'}" = 200 ] || { echo "key import failed: $out" >&2; tail -5 "$work/dp.log" >&2; exit 1; }
ctx="$(printf '{"bucket":"bucket/object"}' | base64 -w0)"
out="$(kes PUT "/v1/key/generate/$KEY_NAME" "{\"context\":\"$ctx\"}")"
[ "${out##*$'\n'}" = 200 ] || { echo "generate failed: $out" >&2; exit 1; }

# One real certificate for the OCSP corpus (SHA-1 CertID, no nonce: what browsers send).
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
  curl -s --cacert "$work/ca.pem" --data-binary @"$work/req.der" -H 'Content-Type: application/ocsp-request' \
    "https://$TLS/" -o "$work/resp.der"
  openssl ocsp -respin "$work/resp.der" -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: good' && break
  sleep 0.1
done
"$load" corpus --issuer "$work/issuing.pem" --cert "$work/leaf.pem" --out "$work/corpus" 2>/dev/null

# Per CPU: all ticks, idle + iowait (io_uring waits count as iowait), steal (the host ran
# something else on this vCPU).
cpu_ticks() { awk '$1=="cpu0"||$1=="cpu1" {t=0; for(i=2;i<=NF;i++) t+=$i; printf "%s %s %s ", t, $5+$6, $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$dp_pid/stat"; } # utime + stime, clock ticks
snapshot() { echo "$(date +%s.%N) $(proc_ticks) $(cpu_ticks)"; }
# Every other process's CPU ticks (with its reaped children's), to tell a run during which
# something else used the machine (this is a shared build machine): {pid: [start, ticks]}.
others() {
  python3 - "$dp_pid" "${spin:-0}" "$$" <<'PY'
import json, os, sys
skip, out = set(sys.argv[1:4]), {}
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid in skip:
        continue
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    comm = open(f"/proc/{pid}/comm").read().strip() if os.path.exists(f"/proc/{pid}/comm") else ""
    if comm.startswith("sigil-load"):
        continue
    out[pid] = [f[19], sum(int(x) for x in f[11:15])]  # starttime; utime stime cutime cstime
print(json.dumps(out))
PY
}
args_for() { # scenario → sigil-load arguments
  case "$1" in
    ocsp-get-tls) echo "https://$TLS/ocsp --scenario ocsp-get --corpus $work/corpus --cacert $work/ca.pem" ;;
    kes-*) echo "https://$KES/ --scenario $1 --kes-key $KEY_NAME --items $ITEMS --cacert $work/ca.pem --cert $work/client.pem --key $work/client.key" ;;
  esac
}
run() { # scenario closed|open|open-awake|open-vs-curl [rate]
  local name="$1" mode="$2" rate="${3:-}" snap json="$work/run.json"
  rm -f "$work/snap.before" "$json"
  # The CPU window starts after the 1 s warm-up and ends with the run (the snapshot is
  # waited for, so a run that ends early never reads the previous round's).
  (sleep 1.5; others >"$work/others.before"; snapshot >"$work/snap.before") &
  snap=$!
  # shellcheck disable=SC2046
  SIGIL_LOAD_KES_KEY_B64="$key_b64" taskset -c 1 "$load" run $(args_for "$name") --mode "${mode%%-*}" \
    ${rate:+--rate "$rate"} --connections "$CONNS" --duration "${DURATION}s" --warmup 1s --cpus 1 \
    ${BUSY_POLL:+--busy-poll} --quiet --json "$json" >/dev/null 2>&1 || true
  wait "$snap"
  local after
  after="$(snapshot)"
  others >"$work/others.after"
  python3 - "$name" "$mode" "$json" "$(cat "$work/snap.before")" "$after" "$(getconf CLK_TCK)" \
    "$work/others.before" "$work/others.after" <<'PY' | tee -a "$work/results" >&2
import json, sys
name, mode, path, before, after, hz = sys.argv[1:7]
d = json.load(open(path))
b, a = list(map(float, before.split())), list(map(float, after.split()))
wall = a[0] - b[0]
ob, oa = json.load(open(sys.argv[7])), json.load(open(sys.argv[8]))
others = sum(t - (ob[p][1] if p in ob and ob[p][0] == s else 0) for p, (s, t) in oa.items())
others = max(0, others) / float(hz) / wall                  # other processes, in cores
proc = (a[1] - b[1]) / float(hz) / wall                     # server process busy share
ticks = [max(1, a[2 + 3 * i] - b[2 + 3 * i]) for i in (0, 1)]
cpu = [1 - (a[3 + 3 * i] - b[3 + 3 * i]) / ticks[i] for i in (0, 1)]
steal = [(a[4 + 3 * i] - b[4 + 3 * i]) / ticks[i] for i in (0, 1)]
tput = d["throughput"]
l = d["latency_us"]
print(json.dumps({"name": name, "mode": mode, "rate": d.get("rate"), "tput": tput, "ok": d["ok"],
                  "errors": d["errors"]["total"], "by_kind": d["errors"]["by_kind"], "p50": l["p50"],
                  "p90": l["p90"], "p99": l["p99"], "p99_9": l["p99_9"], "max": l["max"],
                  "proc_busy": proc, "cpu0": cpu[0], "cpu1": cpu[1], "others": others, "steal": max(steal),
                  "proc_us": 1e6 * proc / tput if tput else 0, "cpu0_us": 1e6 * cpu[0] / tput if tput else 0}))
PY
}
if [ -n "${HOLD:-}" ]; then
  # For profiling by hand: the servers stay up with everything in place until interrupted.
  cat >&2 <<EOF
HOLD: sigil-dp pid $dp_pid (CPU 0); files in $work; interrupt to stop. For example:
  SIGIL_LOAD_KES_KEY_B64=$key_b64 taskset -c 1 $load run $(args_for kes-decrypt) --cpus 1
  taskset -c 1 $load run $(args_for ocsp-get-tls) --cpus 1
EOF
  wait "$dp_pid"
fi
scenarios=(ocsp-get-tls kes-decrypt kes-encrypt kes-generate)
if [ -n "${CALLGRIND:-}" ]; then
  # User-space instructions per request (all of sigil-dp's threads: TLS, HTTP, the handler,
  # the event loop), one callgrind dump per scenario: CG_WARMUP s of load uncounted, then
  # counting on around a run of CG_DURATION s without warm-up over CG_CONNS connections,
  # whose requests sigil-load counts (all of them in the window: equal to the server's count,
  # see the count check below). Then allocator calls per request and the inclusive cost of
  # chosen functions. KEEP=DIR keeps the dumps as DIR/<scenario>.callgrind (request count in
  # DIR/<scenario>.requests) for callgrind_annotate.
  CG_DURATION="${CG_DURATION:-10}"
  CG_WARMUP="${CG_WARMUP:-3}"
  CG_CONNS="${CG_CONNS:-8}"
  cg_run() { # scenario seconds json
    # shellcheck disable=SC2046
    SIGIL_LOAD_KES_KEY_B64="$key_b64" taskset -c 1 "$load" run $(args_for "$1") --connections "$CG_CONNS" \
      --duration "${2}s" --warmup 0s --cpus 1 --quiet --json "$3" >/dev/null 2>&1 || true
  }
  echo "| scenario | requests | instructions per request | ÷ OCSP GET (TLS) | allocations (malloc, calloc, realloc) per request | free per request |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "${scenarios[@]}"; do
    cg_run "$s" "$CG_WARMUP" "$work/cg-warm.json"
    callgrind_control -i on "$dp_pid" >/dev/null
    cg_run "$s" "$CG_DURATION" "$work/cg.json"
    callgrind_control -i off "$dp_pid" >/dev/null
    callgrind_control -d "$dp_pid" >/dev/null
    dump="$(ls -t "$work"/cg.out.* | head -1)"
    mv "$dump" "$work/$s.callgrind"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$work/cg.json" >"$work/$s.requests"
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$work/$s.callgrind" "$work/$s.requests" "$KEEP/"; }
    python3 - "$work/$s.callgrind" "$(cat "$work/$s.requests")" "$s" "$work/cg.first" <<'PY'
import os, re, sys
path, requests, name, first_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
names, total, cfn = {}, 0, None
calls = {"malloc": 0, "free": 0, "realloc": 0, "calloc": 0}
for line in open(path, errors="replace"):
    if line.startswith(("summary:", "totals:")):
        total = max(total, int(line.split()[1]))
    elif line.startswith(("fn=", "cfn=")):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        cfn = names.get(m.group(1)) if m and line.startswith("cfn=") else None
    elif line.startswith("calls=") and cfn in calls:
        calls[cfn] += int(line.split("=")[1].split()[0])
per = total / max(1, requests)
first = float(open(first_path).read()) if os.path.exists(first_path) else per
if not os.path.exists(first_path):
    open(first_path, "w").write(str(per))
allocs = calls["malloc"] + calls["calloc"] + calls["realloc"]
print(f"| {name} | {requests:,} | {per:,.0f} | {per / first:.2f} | {allocs / max(1, requests):.2f} | {calls['free'] / max(1, requests):.2f} |")
PY
  done
  echo
  for s in "${scenarios[@]}"; do
    n="$(cat "$work/$s.requests")"
    echo "$s: inclusive instructions per request of chosen functions"
    callgrind_annotate --inclusive=yes --threshold=100 "$work/$s.callgrind" 2>/dev/null |
      awk -v n="$n" '$1 !~ /^[0-9,]+$/ || $0 !~ / \[\// || shown >= 30 { next }
        { v = $1; gsub(",", "", v); name = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", name); sub(/ \[\/.*$/, "", name) }
        name ~ /dispatch::process|KesHandler|key_ops|wire::parse|serde_json::de::from_(slice|trait)|SecretKey::(en|de)crypt|message_key|HMAC|hmac|aes_gcm|EVP_AEAD|push_b64_field|process_new_packets|write_tls|read_tls|answer::|Answers::|Router.*handle|get_path|Keyring::key|base64/ {
          printf "  %9.0f  %s\n", v / n, substr(name, 1, 160); shown++ }' || true
  done
  exit 0
fi
if [ -n "${PERF:-}" ]; then
  # Where a request's core time goes: for each scenario a closed-loop run for the server
  # process's CPU time per request (utime+stime, as above), then a second one profiled with
  # `perf record --call-graph dwarf` (PERF_SECONDS, default 4) whose samples
  # benches/peers/request_buckets.py puts into buckets (kernel send/receive, TLS, HTTP, the
  # handler's parts). PERF_SCENARIOS picks scenarios (default: ocsp-get-tls kes-decrypt).
  command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
  PERF_SECONDS="${PERF_SECONDS:-4}"
  read -r -a perf_scenarios <<<"${PERF_SCENARIOS:-ocsp-get-tls kes-decrypt}"
  for s in "${perf_scenarios[@]}"; do
    run "$s" closed
    per="$(tail -1 "$work/results" | python3 -c 'import json,sys; print(json.load(sys.stdin)["proc_us"])')"
    # shellcheck disable=SC2046
    SIGIL_LOAD_KES_KEY_B64="$key_b64" taskset -c 1 "$load" run $(args_for "$s") --connections "$CONNS" \
      --duration "$((PERF_SECONDS + 4))s" --warmup 0s --cpus 1 --quiet >/dev/null 2>&1 &
    gen=$!
    sleep 2
    perf record -q -F 999 --call-graph dwarf,32768 -p "$dp_pid" -o "$work/perf.data" -- sleep "$PERF_SECONDS" 2>/dev/null
    wait "$gen" || true
    perf script -i "$work/perf.data" -F comm,ip,sym,dso 2>/dev/null |
      python3 benches/peers/request_buckets.py "$s (closed loop, $(tail -1 "$work/results" | python3 -c 'import json,sys; print(format(json.load(sys.stdin)["tput"], ",.0f"))') requests/s unprofiled)" "$per"
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$work/perf.data" "$KEEP/$s.perf.data"; }
  done
  exit 0
fi
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  for s in "${scenarios[@]}"; do run "$s" closed; done
done
# Open loop, every scenario at each of OPEN_FRACTIONS (default 0.7) of kes-decrypt's median
# closed-loop rate: first as is, then with CPU 0 kept awake by a spinner at SCHED_IDLE priority
# (it runs only when sigil-dp's core would otherwise idle, and yields to it at once). In this
# VM an idle vCPU halts, and waking it for the next request costs up to milliseconds: that
# shows in the tail at any load (docs/PERFORMANCE.md). OPEN_SPIN=0 skips the second pass.
for fraction in ${OPEN_FRACTIONS:-$OPEN_FRACTION}; do
  rate="$(python3 - "$work/results" "$fraction" "$OTHERS_LIMIT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = [r for r in rows if r["name"] == "kes-decrypt" and r["mode"] == "closed"]
quiet = [r for r in runs if max(r["others"], r["steal"]) <= float(sys.argv[3])] or runs
print(round(float(sys.argv[2]) * statistics.median(r["tput"] for r in quiet)))
PY
)"
  for s in "${scenarios[@]}"; do DURATION="$OPEN_DURATION" run "$s" open "$rate"; done
  if [ "${OPEN_SPIN:-1}" != 0 ]; then
    chrt --idle 0 taskset -c 0 sh -c 'while :; do :; done' &
    spin=$!
    pids+=("$spin")
    for s in "${scenarios[@]}"; do DURATION="$OPEN_DURATION" run "$s" open-awake "$rate"; done
    kill "$spin"
    spin=0
  fi
done

# Count check: every request of a run without warm-up lies in its window, so sigil-load's
# count must equal the server's own (kes_http_request_success on /v1/metrics).
served() { kes GET /v1/metrics | awk '/^kes_http_request_success/ { s += $2 } END { printf "%d\n", s }'; }
before="$(served)"
# shellcheck disable=SC2046
SIGIL_LOAD_KES_KEY_B64="$key_b64" taskset -c 1 "$load" run $(args_for kes-decrypt) --connections "$CONNS" \
  --duration 3s --warmup 0s --cpus 1 --quiet --json "$work/count.json" >/dev/null 2>&1 || true
after="$(served)"
counted="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$work/count.json")"
# The metrics request itself is one success.
echo "count $counted $((after - before - 1))" >>"$work/count"

# Cross-check with an independent client. wrk and h2load cannot present client certificates;
# curl can, and keeps CONNS connections busy with --parallel: CURL_REQUESTS decrypts of one
# ciphertext (from a generate), closed loop at curl's own pace (it is the bottleneck). Then
# sigil-load in open loop at curl's rate for the same server measures: the server's CPU time
# per request under both, and curl's successes against the server's count. --no-sessionid:
# a resumed TLS session presents no client certificate, and the [kes] listener then answers
# 400 `tls: client certificate is required` (see docs/PERFORMANCE.md).
CURL_REQUESTS="${CURL_REQUESTS:-20000}"
if [ "$CURL_REQUESTS" != 0 ]; then
  out="$(kes PUT "/v1/key/generate/$KEY_NAME" "{\"context\":\"$ctx\"}")"
  python3 - "$ctx" "${out%$'\n'*}" >"$work/decrypt.json" <<'PY'
import json, sys
print(json.dumps({"ciphertext": json.loads(sys.argv[2])["ciphertext"], "context": sys.argv[1]}))
PY
  before="$(served)"
  t0="$(proc_ticks)"; s0="$(date +%s.%N)"
  taskset -c 1 curl -s --no-sessionid --parallel --parallel-max "$CONNS" --cacert "$work/ca.pem" \
    --cert "$work/client.pem" --key "$work/client.key" -X PUT --data-binary @"$work/decrypt.json" \
    -H 'Content-Type: application/json' -w '%{stderr}code=%{http_code};\n' \
    "https://$KES/v1/key/decrypt/$KEY_NAME?n=[1-$CURL_REQUESTS]" 2>"$work/curl.codes" >/dev/null || true
  s1="$(date +%s.%N)"; t1="$(proc_ticks)"
  after="$(served)"
  curl_ok="$(grep -o 'code=200;' "$work/curl.codes" | wc -l)"
  curl_rate="$(python3 -c 'import sys; print(round(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))' "$CURL_REQUESTS" "$s0" "$s1")"
  curl_us="$(python3 -c 'import sys; print(f"{(int(sys.argv[2]) - int(sys.argv[1])) / float(sys.argv[3]) / int(sys.argv[4]) * 1e6:.2f}")' "$t0" "$t1" "$(getconf CLK_TCK)" "$CURL_REQUESTS")"
  DURATION=5 run kes-decrypt open-vs-curl "$curl_rate"
  echo "curl $CURL_REQUESTS $curl_ok $((after - before - 1)) $curl_rate $curl_us" >>"$work/count"
fi

python3 - "$work/results" "$work/count" "$DRIVER" "$(sed 's/\x1b\[[0-9;]*m//g' "$work/dp.log" | grep -o 'driver="[^"]*"\|driver=[^ ]*' | head -1)" \
  "$DURATION" "$ROUNDS" "$CONNS" "$ITEMS" "${OPEN_FRACTIONS:-$OPEN_FRACTION}" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" "$OTHERS_LIMIT" <<'PY'
import io, json, statistics, sys
buf = io.StringIO()
_print = print
def print(*a, **k):
    _print(*a, **k)
    _print(*a, **k, file=buf)
rows = [json.loads(l) for l in open(sys.argv[1])]
count = open(sys.argv[2]).read().split()
driver, driver_log, duration, rounds, conns, items, frac, commit, write, limit = sys.argv[3:13]
limit = float(limit)
closed = [r for r in rows if r["mode"] == "closed"]
opened = [r for r in rows if r["mode"] != "closed"]
names = ["ocsp-get-tls", "kes-decrypt", "kes-encrypt", "kes-generate"]
def quiet(r):
    return r.get("others", 0) <= limit and r.get("steal", 0) <= limit
def runs(n):
    return [r for r in closed if r["name"] == n]
def kept(n):  # the undisturbed rounds, or all if none was
    return [r for r in runs(n) if quiet(r)] or runs(n)
med = {n: statistics.median(r["tput"] for r in kept(n)) for n in names}
def medof(n, k):
    return statistics.median(r[k] for r in kept(n))
print(f"\nsigil-dp driver: {driver} ({driver_log}); {conns} keep-alive connections, {items} distinct bodies per KES scenario. "
      f"A round marked † ran while other processes used more than {limit:.2f} of a core (a shared machine), or the host took "
      f"more than that share of a vCPU (steal), and is left out of the medians.\n")
print("| scenario | requests/s (median) | per round | p50 / p99 (last round) | server CPU µs/request (process; CPU 0) | CPU 0 / CPU 1 busy (last round) | errors | ÷ OCSP GET (TLS) |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for n in names:
    rs = runs(n)
    last = rs[-1]
    errs = sum(r["errors"] for r in rs)
    per = " / ".join(f"{r['tput']:,.0f}{'' if quiet(r) else '†'}" for r in rs)
    print(f"| {n} | {med[n]:,.0f} | {per} | {last['p50']} / {last['p99']} µs | {medof(n, 'proc_us'):.2f}; {medof(n, 'cpu0_us'):.2f} | "
          f"{100 * last['cpu0']:.0f}% / {100 * last['cpu1']:.0f}% | {errs} | {med[n] / med['ocsp-get-tls']:.2f}× |")
pairs = list(zip(runs("kes-decrypt"), runs("ocsp-get-tls")))
ratios = [f"{d['tput'] / o['tput']:.2f}{'' if quiet(d) and quiet(o) else '†'}" for d, o in pairs]
kept_ratios = [d["tput"] / o["tput"] for d, o in pairs if quiet(d) and quiet(o)] or [d["tput"] / o["tput"] for d, o in pairs]
print(f"\nkes-decrypt ÷ OCSP GET over TLS (target ≥ 0.8×), per round: {', '.join(ratios)}; median of the rounds' ratios "
      f"**{statistics.median(kept_ratios):.2f}×**, ratio of the medians {med['kes-decrypt'] / med['ocsp-get-tls']:.2f}×\n")
print(f"Open loop at {' and '.join(frac.split())} of kes-decrypt's median closed-loop rate, latency from intended send times; "
      "'awake': CPU 0 kept from halting by an idle-priority spinner (CPU 0 busy is then 100 %):\n")
print("| scenario | CPU 0 | rate | delivered | p50 | p90 | p99 | p99.9 | max | errors | server CPU µs/request (process) | CPU 0 busy |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for rate in sorted({o["rate"] for o in opened}):
    for mode, label in (("open", "as is"), ("open-awake", "awake")):
        for n in names:
            for o in (o for o in opened if (o["name"], o["mode"], o["rate"]) == (n, mode, rate)):
                errs = f"{o['errors']:,}" + (" (" + ", ".join(f"{k} {v:,}" for k, v in o["by_kind"].items()) + ")" if o["errors"] else "")
                print(f"| {n}{'' if quiet(o) else '†'} | {label} | {o['rate']:,.0f} | {o['tput']:,.0f} | {o['p50']:,} µs | {o['p90']:,} µs | **{o['p99']:,} µs** | {o['p99_9']:,} µs | {o['max']:,} µs | "
                      f"{errs} | {o['proc_us']:.2f} | {100 * o['cpu0']:.0f}% |")
c, s = int(count[1]), int(count[2])
print(f"\nCount check (closed-loop kes-decrypt, 3 s, no warm-up): sigil-load {c:,} requests, server kes_http_request_success {s:,}: {'equal' if c == s else 'DIFFERENT'}.")
if len(count) >= 9 and count[3] == "curl":
    n, ok, srv, rate, us = count[4:9]
    mine = [o for o in opened if o["name"] == "kes-decrypt" and o["mode"] == "open-vs-curl"]
    print(f"\nIndependent client: curl (--parallel, {conns} connections, no TLS session resumption) sent {int(n):,} decrypts, {int(ok):,} answered 200, "
          f"server count {int(srv):,} ({'equal' if int(ok) == int(srv) else 'DIFFERENT'}); {int(rate):,} requests/s (curl's own limit), "
          f"server CPU {us} µs a request" + (f"; sigil-load in open loop at the same rate: {mine[-1]['tput']:,.0f} requests/s, p99 {mine[-1]['p99']:,} µs, "
          f"server CPU {mine[-1]['proc_us']:.2f} µs a request{'' if quiet(mine[-1]) else ' (†)'}." if mine else "."))
if write:
    sys.path.insert(0, "benches/peers")
    import perfdoc
    head = (f"Generated by `DURATION={duration} ROUNDS={rounds} CONNS={conns} ITEMS={items} DRIVER={driver} OPEN_FRACTIONS=\"{frac}\" WRITE_DOC=1 bash benches/peers/kes-peers.sh` "
            f"at {commit} (plus the working tree) on {perfdoc.machine()}; sigil-dp (one thread) on CPU 0, sigil-load on CPU 1.\n")
    perfdoc.write_block("kes-peers", "## Key service (KES): latest `kes-peers.sh` run", head + buf.getvalue())
PY
