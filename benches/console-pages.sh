#!/usr/bin/env bash
# How long the web console's pages take with N certificates (default 100,000) in the store
# (issue 22: "pages load in under 200 ms with 100,000 certificates"). One release sigil-cp
# (RocksDB) on CP_CPU is filled through the API from one P-256 CSR (sigil-load's `post`
# scenario on LOAD_CPU), REVOKE of them are revoked, then a signed-in client (python, on
# LOAD_CPU) asks each page ROUNDS times, one at a time; the server's answer time per page
# (time to the last byte), median and maximum, as a markdown table. WRITE_DOC=1 writes it into
# docs/PERFORMANCE.md (`console-pages`).
#   N=100000 WRITE_DOC=1 bash benches/console-pages.sh
# NO_BUILD=1 uses the binaries in $CARGO_TARGET_DIR/release (default /var/tmp/sigil-target-rel).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
REVOKE="${REVOKE:-1000}"
ROUNDS="${ROUNDS:-15}"
CP_CPU="${CP_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-controlplane -p sigil-loadtest \
  --bin sigil-cp --bin sigil-load >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d "${WORK_BASE:-/var/tmp}/console-pages.XXXXXX")"
cp_pid=
cleanup() { [ -n "$cp_pid" ] && kill "$cp_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19945

: >"$work/cp.toml"
"$bin/sigil-cp" --config "$work/cp.toml" init --data-dir "$work/cp" >/dev/null 2>&1
taskset -c "$CP_CPU" "$bin/sigil-cp" --config "$work/cp.toml" serve --data-dir "$work/cp" \
  --admin-listen "$CP" --base-url "http://127.0.0.1:18181" 2>>"$work/cp.log" &
cp_pid=$!
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fill.example \
  -addext subjectAltName=DNS:fill.example -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
python3 -c "import json,sys; print(json.dumps({'issuer_id': 'demo', 'csr': open(sys.argv[1]).read()}))" \
  "$work/leaf.csr" >"$work/issue.json"
total() { curl -sf -H "Authorization: Bearer $SIGIL_ADMIN_TOKEN" \
  "http://$CP/api/v1/certificates?per_page=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
fill_start=$(date +%s)
while :; do
  have=$(total)
  [ "$have" -ge "$N" ] && break
  secs=$(( (N - have) / 2500 + 1 )); [ "$secs" -gt 60 ] && secs=60
  taskset -c "$LOAD_CPU" "$bin/sigil-load" run "http://$CP" --scenario post --path /api/v1/certificates \
    --body "$work/issue.json" --header "Authorization: Bearer $SIGIL_ADMIN_TOKEN" \
    --header "Content-Type: application/json" --connections 32 --duration "${secs}s" >/dev/null 2>&1 || true
  echo "fill: $(total) certificates" >&2
done
fill_secs=$(( $(date +%s) - fill_start ))

taskset -c "$LOAD_CPU" python3 - "$CP" "$REVOKE" "$ROUNDS" "$fill_secs" "$(git rev-parse --short HEAD)" \
  "${WRITE_DOC:-}" "$CP_CPU" "$LOAD_CPU" "$N" <<'PY'
import http.cookiejar, json, os, re, statistics, sys, time, urllib.parse, urllib.request
sys.path.insert(0, "benches/peers")
import perfdoc

cp, revoke, rounds, fill, commit, write, cp_cpu, load_cpu, n = sys.argv[1:10]
revoke, rounds = int(revoke), int(rounds)
base = f"http://{cp}"
token = os.environ["SIGIL_ADMIN_TOKEN"]

def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r) if r.status != 204 else None

# Revoke the first REVOKE certificates (by id, one request each).
ids = []
while len(ids) < revoke:
    page = api("GET", f"/api/v1/certificates?per_page=500&page={len(ids) // 500 + 1}")["data"]
    ids += [c["id"] for c in page][: revoke - len(ids)]
for i in ids:
    api("POST", f"/api/v1/certificates/{i}/revoke", {"reason": "superseded"})
total = api("GET", "/api/v1/certificates?per_page=1")["total"]
# A key half-way through the certificate table, and an audit id half-way through the log.
middle = api("GET", f"/api/v1/certificates?per_page=500&page={total // 1000}")["data"][0]
middle_key = ("demo".encode() + b"\0").hex() + middle["id"]
audit_total = api("GET", "/api/v1/audit?per_page=1")["total"]

jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
login = opener.open(base + "/ui/login").read().decode()
csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
opener.open(base + "/ui/login", urllib.parse.urlencode({"csrf": csrf, "secret": token}).encode()).read()

pages = [
    ("Dashboard", "/ui/"),
    ("CAs", "/ui/cas"),
    ("CA (with its issued count)", "/ui/cas/demo"),
    ("Certificates, page 1", "/ui/certificates"),
    ("Certificates, half-way (after a key)", f"/ui/certificates?page={total // 50}&after={middle_key}"),
    ("Certificates, revoked", "/ui/certificates?status=revoked"),
    ("Certificates, name search", "/ui/certificates?q=nothing-matches"),
    ("Certificate", f"/ui/certificates/{ids[-1]}"),
    ("Audit log, page 1", "/ui/audit"),
    ("Audit log, half-way (before an id)", f"/ui/audit?page={audit_total // 100}&before={audit_total // 2}"),
    ("Audit log, a rare action", "/ui/audit?action=certificate.bulk_revoke"),
    ("Enrollment OTPs", "/ui/otps"),
    ("Key service", "/ui/kes"),
    ("SSH", "/ui/ssh"),
    ("API keys", "/ui/apikeys"),
]
rows = []
for name, path in pages:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        with opener.open(base + path) as r:
            assert r.status == 200, (path, r.status)
            body = r.read()
        times.append((time.perf_counter() - t) * 1e3)
    assert b"<h1>" in body, path
    rows.append((name, path, statistics.median(times), max(times)))

out = []
out.append(f"{total:,} certificates ({revoke:,} revoked, {audit_total:,} audit records) issued into one sigil-cp on RocksDB in {int(fill)} s; "
           f"sigil-cp on CPU {cp_cpu}, the signed-in client (python) on CPU {load_cpu}; each page asked {rounds} times, "
           "one at a time; time to the last byte of the answer.")
out.append("")
out.append("| page | path | median | max | under 200 ms |")
out.append("|---|---|---:|---:|---|")
for name, path, med, mx in rows:
    out.append(f"| {name} | `{path}` | {med:.1f} ms | {mx:.1f} ms | {'yes' if mx < 200 else '**no**'} |")
out.append("")
out.append(f"Command: `N={n} bash benches/console-pages.sh` at {commit}; machine: {perfdoc.machine()}.")
text = "\n".join(out) + "\n"
print(text)
if write:
    perfdoc.write_block("console-pages", "## Web console pages", text)
PY
