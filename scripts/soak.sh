#!/usr/bin/env bash
# Soak (issue 19, item 4; docs/RELIABILITY.md "Soak"): one sigil-cp and one sigil-dp
# (--threads 1, CPU 0) under a mixed open-loop load for DURATION seconds while changes flow:
#
#   ocsp-get, ocsp-post (https, a corpus of CERTS certificates), crl (https),
#   kes-decrypt (the [kes] mTLS listener), authkeys (USERS SSH users on one host)
#   + every 2 s: a certificate issued (from a CA of its own, "soak-churn") and revoked, a KES key
#     created and deleted through the data plane (forwarded), an SSH user locked and unlocked
#
# The CRL scenario fetches the demo CA's CRL, which holds CRL_REVOKED revocations made before
# the load starts (default 200: ~10 KB), so its size stays what the rate was searched with.
# (Revoking the churn's certificates from that CA grew its CRL by an entry every 2 s while the
# CRL rate stayed fixed: the bytes a second grew with the run until the load generator's core
# gave way — the 2026-12-07 run in docs/RELIABILITY.md.)
#
# The rate: first the closed-loop peak of the mix (all scenarios at once, 64 connections split
# by SHARES, 10 s: each scenario's throughput is its part of what this machine — the server's
# core and the load generators' — does with that mix); then the mix's open-loop capacity, the
# largest fraction of that peak it sustains for SEARCH_SECS (≥ 99 % of intended requests
# answered, no error, every p99 ≤ P99_BOUND_MS; CAPACITY=F skips the search); the soak runs
# every scenario at LOAD (default 0.7) × the capacity × its share. sigil-load instances run on
# CPU 1. Every 10 s the data plane's and control plane's RSS and open descriptors are sampled.
# Pass/fail: no error response (and no failed change), every scenario's p99 under
# P99_BOUND_MS, the data plane's RSS growth (last minute against the sample at a third of the
# run) under RSS_DRIFT_MIB — RocksDB's memtables take in every change (a CRL rewritten per
# revocation) until they flush, 64 MiB each, so a few tens of MiB of growth is the state, not a
# leak —, descriptors flat.
#   DURATION=1800 bash scripts/soak.sh            # the documented 30 minutes
#   DURATION=120 WRITE_DOC=1 bash scripts/soak.sh # a short run written into the doc
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-1800}"
LOAD="${LOAD:-0.7}"
CERTS="${CERTS:-50}"
USERS="${USERS:-200}"
CRL_REVOKED="${CRL_REVOKED:-200}"
P99_BOUND_MS="${P99_BOUND_MS:-50}"
RSS_DRIFT_MIB="${RSS_DRIFT_MIB:-128}"
CONNS="${CONNS:-16}"
# Shares of the load: ocsp-get ocsp-post crl kes-decrypt authkeys.
SHARES="${SHARES:-0.35 0.15 0.05 0.25 0.20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3 ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-dataplane \
  -p sigil-loadtest --bin sigil-cp --bin sigil-dp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="soak-admin-token-0123" SIGIL_REPLICATION_TOKEN="soak-repl-token-0123"
CP=127.0.0.1:19644 DP=127.0.0.1:18280 TLS=127.0.0.1:18643 KES=127.0.0.1:17473 MX=127.0.0.1:19290

(
  cd "$work"
  K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  openssl req -x509 $K -days 2 -subj "/CN=soak CA" -keyout ca.key -out ca.pem
  openssl req -new $K -subj "/CN=localhost" -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
  openssl req -x509 $K -days 2 -subj "/CN=soak client" -keyout client.key -out client.pem
) 2>/dev/null
admin="$(openssl x509 -in "$work/client.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
kek="$(openssl rand -base64 32)"
echo "$kek" >"$work/kek"
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
# The control plane's key-encryption key, the data plane's KEK file's: one fleet KEK.
export SIGIL_KEK="$kek" SIGIL_KES_KEK="$kek"
"$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null
taskset -c 1 "$bin/sigil-cp" serve --data-dir "$work/cp" \
  --admin-listen "$CP" --base-url "https://$TLS" 2>"$work/cp.log" &
cp_pid=$!
pids+=("$cp_pid")
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
taskset -c 0 "$bin/sigil-dp" --config "$work/dp.toml" --data-dir "$work/dp" --listen "$DP" \
  --control-plane "http://$CP" --threads 1 --metrics-listen "$MX" 2>"$work/dp.log" &
dp_pid=$!
pids+=("$dp_pid")
for _ in $(seq 600); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://$MX/health/ready" >/dev/null || { tail -20 "$work/dp.log" >&2; exit 1; }

# The state: certificates (corpus), a KES key, SSH users with one key each on host soak-host.
python3 - "$work" "$CP" "$CERTS" "$USERS" "$CRL_REVOKED" <<'PY'
import json, os, subprocess, sys, urllib.request
work, cp, certs, users, crl_revoked = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tok = os.environ["SIGIL_ADMIN_TOKEN"]
def api(method, path, body):
    req = urllib.request.Request(f"http://{cp}{path}", json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    return json.load(urllib.request.urlopen(req))
os.makedirs(f"{work}/certs")
for i in range(certs):
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", f"{work}/certs/{i}.key", "-subj", f"/CN=soak-{i}.example",
        "-out", f"{work}/certs/{i}.csr"], check=True, capture_output=True)
    d = api("POST", "/api/v1/certificates", {"issuer_id": "demo", "csr": open(f"{work}/certs/{i}.csr").read()})
    open(f"{work}/certs/{i}.pem", "w").write(d["certificate"])
    open(f"{work}/issuing.pem", "w").write(d["chain"][0])
    open(f"{work}/issuer_id", "w").write(d["issuer_id"])
# The CRL scenario's CRL: CRL_REVOKED revoked certificates of the demo CA (one CSR, new serials).
csr = open(f"{work}/certs/0.csr").read()
for i in range(crl_revoked):
    d = api("POST", "/api/v1/certificates", {"issuer_id": "demo", "csr": csr})
    api("POST", f"/api/v1/certificates/{d['id']}/revoke", {"reason": "superseded"})
# The churn's own CA: its revocations do not grow the CRL the load fetches.
c = api("POST", "/api/v1/issuers", {"name": "soak-churn", "subject": "CN=Soak churn CA",
    "key_algorithm": "ecdsa-p256"})
open(f"{work}/churn_issuer", "w").write(c["id"])
dn = lambda g: f"cn={g},ou=groups,dc=sigil,dc=local"
api("POST", "/api/hosts", {"cn": "soak-host", "description": "soak"})
api("POST", "/api/groups", {"cn": "soak", "description": "soak",
    "members": ["cn=soak-host,ou=Hosts,dc=sigil,dc=local"]})
with open(f"{work}/pairs", "w") as pairs:
    pairs.write("# sigil-load ssh pairs v1\n")
    for i in range(users):
        p = f"{work}/u{i}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p], check=True)
        key = open(p + ".pub").read().strip()
        api("POST", "/api/users", {"cn": f"soak{i}", "userPassword": "correct horse battery",
            "confirmPassword": "correct horse battery", "givenName": "s", "sn": "s",
            "memberOfs": [dn("soak")], "principal": f"soak{i}",
            "sshPublicKeys": [{"name": "k", "key": key, "hostGroups": [dn("soak")]}]})
        pairs.write(f"soak{i} soak-host 1\n")
PY
kes() { # method path [body]: the body, a newline and the HTTP status
  local body=()
  [ -z "${3:-}" ] || body=(-H 'Content-Type: application/json' --data-binary "$3")
  curl -sS --cacert "$work/ca.pem" --cert "$work/client.pem" --key "$work/client.key" -X "$1" \
    "${body[@]}" -w '\n%{http_code}' "https://$KES$2"
}
out="$(kes PUT /v1/key/import/soak-key "{\"key\":\"$key_b64\",\"cipher\":\"AES256\"}")"
[ "${out##*$'\n'}" = 200 ] || { echo "key import failed: $out" >&2; exit 1; }
issuer_id="$(cat "$work/issuer_id")"
"$bin/sigil-load" corpus --issuer "$work/issuing.pem" --cert "$work/certs" --out "$work/corpus" 2>/dev/null
# Wait until the data plane has applied everything (the last user answers).
for _ in $(seq 100); do
  [ -n "$(curl -s "http://$DP/api/authkeys?username=soak$((USERS - 1))&host=soak-host")" ] && break
  sleep 0.1
done

target() { # scenario → sigil-load arguments
  case "$1" in
    ocsp-get | ocsp-post) echo "https://$TLS --scenario $1 --corpus $work/corpus --cacert $work/ca.pem" ;;
    crl) echo "https://$TLS --scenario crl --issuer-id $issuer_id --cacert $work/ca.pem" ;;
    kes-decrypt) echo "https://$KES --scenario kes-decrypt --kes-key soak-key --kes-key-b64 $key_b64 --cacert $work/ca.pem --cert $work/client.pem --key $work/client.key" ;;
    authkeys) echo "http://$DP --scenario authkeys --corpus $work/pairs" ;;
  esac
}
scenarios=(ocsp-get ocsp-post crl kes-decrypt authkeys)
read -r -a shares <<<"$SHARES"

# The peak of the mix: every scenario at once, closed loop, 64 connections split by the
# shares, 10 s. Each scenario's throughput there is its part of what this machine — the
# server's core and the load generators' — can do with that mix; the soak asks LOAD of it.
i=0
peak_pids=()
for s in "${scenarios[@]}"; do
  conns="$(python3 -c 'import sys; print(max(1, round(64 * float(sys.argv[1]))))' "${shares[$i]}")"
  # shellcheck disable=SC2046
  taskset -c 1 "$bin/sigil-load" run $(target "$s") --connections "$conns" --duration 10s \
    --json "$work/peak-$s.json" --quiet >/dev/null 2>&1 &
  peak_pids+=($!)
  i=$((i + 1))
done
for p in "${peak_pids[@]}"; do wait "$p" || true; done

# Changes flowing during the soak, counted (ok / failed) in $work/churn.
churn() {
  local n=0 ok=0 failed=0
  while :; do
    n=$((n + 1))
    if python3 - "$work" "$CP" "$n" "$CERTS" "$USERS" >/dev/null 2>&1 <<'PY'
import json, os, subprocess, sys, urllib.request
work, cp, n, certs, users = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
churn_issuer = open(f"{work}/churn_issuer").read()
tok = os.environ["SIGIL_ADMIN_TOKEN"]
def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{cp}{path}", data, method=method,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    r = urllib.request.urlopen(req)
    return json.loads(r.read() or b"null")
csr = open(f"{work}/certs/{n % certs}.csr").read()
d = api("POST", "/api/v1/certificates", {"issuer_id": churn_issuer, "csr": csr})
api("POST", f"/api/v1/certificates/{d['id']}/revoke", {"reason": "superseded"})
u = f"soak{n % users}"
api("PUT", f"/api/users/{u}", {"accountLocked": True})
api("PUT", f"/api/users/{u}", {"accountLocked": False})
PY
    then
      out1="$(kes POST "/v1/key/create/churn-$n")"
      out2="$(kes DELETE "/v1/key/delete/churn-$n")"
      if [ "${out1##*$'\n'}" = 200 ] && [ "${out2##*$'\n'}" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
    else
      failed=$((failed + 1))
    fi
    echo "$ok $failed" >"$work/churn"
    sleep 2
  done
}

sample() { # pid → "rss_kib fds"
  echo "$(awk '/^VmRSS/ {print $2}' "/proc/$1/status") $(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}
sampler() {
  local t=0
  while :; do
    echo "$t $(sample "$dp_pid") $(sample "$cp_pid")" >>"$work/samples"
    sleep 10
    t=$((t + 10))
  done
}

# Open loop at FRACTION of each scenario's closed-loop share of the mix, all at once, for SECS:
# sigil-load instances on CPU 1, their reports in $work/<prefix>-<scenario>.json.
mix_open() { # fraction seconds prefix warmup
  local s rate
  mix_pids=()
  for s in "${scenarios[@]}"; do
    rate="$(python3 -c 'import json,sys; print(max(1, round(json.load(open(sys.argv[1]))["throughput"] * float(sys.argv[2]))))' "$work/peak-$s.json" "$1")"
    echo "$s $rate" >>"$work/rates-$3"
    # shellcheck disable=SC2046
    taskset -c 1 "$bin/sigil-load" run $(target "$s") --mode open --rate "$rate" \
      --connections "$CONNS" --duration "${2}s" --warmup "${4}s" --timeout 5s \
      --json "$work/$3-$s.json" --quiet >/dev/null 2>&1 &
    mix_pids+=($!)
  done
}
# Sustained: every scenario answered ≥ 99 % of what it intended to send, no error, and its
# p99 within P99_BOUND_MS.
sustained() { # prefix
  python3 - "$work" "$1" "$P99_BOUND_MS" "${scenarios[@]}" <<'PY'
import json, sys
work, prefix, bound = sys.argv[1], sys.argv[2], float(sys.argv[3])
ok = True
for s in sys.argv[4:]:
    try:
        r = json.load(open(f"{work}/{prefix}-{s}.json"))
    except Exception:
        ok = False
        continue
    intended = r.get("intended") or 0
    why = []
    if r["errors"]["total"]:
        why.append(f"{r['errors']['total']} errors {r['errors']['by_kind']}")
    if r["ok"] < 0.99 * intended:
        why.append(f"{r['ok']} of {intended} answered")
    if r["latency_us"]["p99"] > bound * 1000:
        why.append(f"p99 {r['latency_us']['p99'] / 1000:.1f} ms")
    if why:
        ok = False
        print(f"  {s}: " + ", ".join(why), file=sys.stderr)
print("yes" if ok else "no")
PY
}

# The open-loop capacity of the mix: the largest fraction of the closed-loop peak (steps of
# 0.05 up to 1, then one halving step between the last that held and the first that did not)
# that the mix sustains for SEARCH_SECS. An open-loop request costs both sides more than a
# closed-loop one (docs/PERFORMANCE.md "Open loop and the tail"), so this is well below the
# closed-loop peak; the soak runs at LOAD of it. CAPACITY=F skips the search.
SEARCH_SECS="${SEARCH_SECS:-8}"
capacity="${CAPACITY:-}"
if [ -z "$capacity" ]; then
  held=0 failed=""
  for f in 0.05 0.1 0.15 0.2 0.25 0.3 0.35 0.4 0.45 0.5 0.6 0.7 0.8 0.9 1.0; do
    mix_open "$f" "$SEARCH_SECS" "probe-$f" 2
    for p in "${mix_pids[@]}"; do wait "$p" || true; done
    verdict="$(sustained "probe-$f")"
    echo "capacity search: $f of the closed-loop mix: $verdict" >&2
    echo "$f $verdict" >>"$work/search"
    if [ "$verdict" = yes ]; then held="$f"; else failed="$f"; break; fi
    sleep 2
  done
  if [ -n "$failed" ] && [ "$held" != 0 ]; then
    mid="$(python3 -c "print(round(($held + $failed) / 2, 3))")"
    mix_open "$mid" "$SEARCH_SECS" "probe-$mid" 2
    for p in "${mix_pids[@]}"; do wait "$p" || true; done
    verdict="$(sustained "probe-$mid")"
    echo "$mid $verdict" >>"$work/search"
    [ "$verdict" = yes ] && held="$mid"
  fi
  capacity="$held"
fi
[ "$capacity" != 0 ] || { echo "soak: the mix sustains no tested rate (see $work/search)" >&2; cat "$work/search" >&2 || true; exit 1; }
fraction="$(python3 -c "print(round($LOAD * $capacity, 4))")"
echo "soak: open-loop capacity $capacity of the closed-loop mix; soaking at $fraction" >&2

# The soak: every scenario at LOAD × the capacity's rate, open loop, all at once.
mix_open "$fraction" "$DURATION" soak 5
cp "$work/rates-soak" "$work/rates"
load_pids=("${mix_pids[@]}")
sleep 5
churn &
pids+=($!)
sampler &
pids+=($!)
for p in "${load_pids[@]}"; do wait "$p" || true; done
cp "$work/samples" "$work/samples.final"

# A failing run is reported and written into the doc too (exit status at the end).
set +e
python3 - "$work" "$DURATION" "$LOAD" "$P99_BOUND_MS" "$RSS_DRIFT_MIB" "$capacity" "${scenarios[@]}" <<'PY' | tee "$work/report.md"
import json, os, platform, subprocess, sys
work, duration, load, bound, drift_max = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
capacity = float(sys.argv[6])
scenarios = sys.argv[7:]
rates = dict(l.split() for l in open(f"{work}/rates"))
ok = True
search = open(f"{work}/search").read().split("\n") if os.path.exists(f"{work}/search") else []
probes = ", ".join(f"{l.split()[0]} {'held' if l.split()[1] == 'yes' else 'failed'}" for l in search if l.strip())
print(f"Soak: {duration} s at {load:.0%} of the mix's open-loop capacity, which is {capacity:g} of its closed-loop peak "
      f"(each scenario's closed-loop throughput with all running at once; the capacity is the largest fraction the mix "
      f"sustained for a probe: ≥ 99 % answered, no error, p99 ≤ {bound:g} ms{'; probes: ' + probes if probes else ''}), "
      f"so {load * capacity:.3g} of the closed-loop peak; open loop, sigil-dp --threads 1 on CPU 0, sigil-load on CPU 1, changes every 2 s.\n")
print("| scenario | peak in the mix (closed loop) | rate | answered | errors | p50 / p99 / max ms | worst 1-s p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
for s in scenarios:
    peak = json.load(open(f"{work}/peak-{s}.json"))["throughput"]
    try:
        r = json.load(open(f"{work}/soak-{s}.json"))
    except Exception as e:
        print(f"| {s} | {peak:,.0f} | {rates[s]} | — | run failed: {e} | | |"); ok = False; continue
    lat = r["latency_us"]
    worst = max((x["latency_us"]["p99"] for x in r["series"]), default=0) / 1000
    errors = r["errors"]["total"]
    ok &= errors == 0 and lat["p99"] / 1000 <= bound
    print(f"| {s} | {peak:,.0f}/s | {int(rates[s]):,}/s | {r['ok']:,} | {errors}{' ' + str(r['errors']['by_kind']) if errors else ''} | "
          f"{lat['p50']/1000:.2f} / {lat['p99']/1000:.2f} / {lat['max']/1000:.1f} | {worst:.1f} |")
samples = [list(map(int, l.split())) for l in open(f"{work}/samples.final")]
churn_ok, churn_failed = map(int, open(f"{work}/churn").read().split())
ok &= churn_failed == 0
steady = [s for s in samples if s[0] >= max(30, duration // 3)] or samples
first, last = steady[0], steady[-1]
last_min = [s for s in steady if s[0] >= last[0] - 60]
rss_first, rss_last = first[1], sum(s[1] for s in last_min) / len(last_min)
drift = (rss_last - rss_first) / 1024
ok &= drift <= drift_max and last[2] <= first[2] + 2
print(f"\nChanges while loaded: {churn_ok} rounds (each: a certificate issued and revoked, an SSH user locked and unlocked, "
      f"a KES key created and deleted through the data plane), {churn_failed} failed.\n")
print(f"sigil-dp RSS {rss_first:,} KiB at {first[0]} s → {rss_last:,.0f} KiB over the last minute ({drift:+.1f} MiB, bound {drift_max:.0f} MiB); "
      f"max {max(s[1] for s in steady):,} KiB; open descriptors {first[2]} → {last[2]}. "
      f"sigil-cp RSS {first[3]:,} → {last[3]:,} KiB, descriptors {first[4]} → {last[4]}.\n")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"{'PASS' if ok else 'FAIL'} — {commit} on {os.cpu_count()} × {cpu}, Linux {platform.release()}; "
      f"`DURATION={duration} bash scripts/soak.sh`.")
sys.exit(0 if ok else 1)
PY
status=${PIPESTATUS[0]}
set -e
if [ -n "${WRITE_DOC:-}" ]; then
  python3 - "$work/report.md" docs/RELIABILITY.md <<'PY'
import sys
report, doc = open(sys.argv[1]).read().strip(), sys.argv[2]
text = open(doc).read()
start, end = "<!-- soak:begin -->", "<!-- soak:end -->"
if start in text:
    a, b = text.index(start) + len(start), text.index(end)
    text = text[:a] + "\n" + report + "\n" + text[b:]
else:
    text += f"\n{start}\n{report}\n{end}\n"
open(doc, "w").write(text)
print(f"written into {doc}", file=sys.stderr)
PY
fi
exit "$status"
