#!/usr/bin/env bash
# SSH lookups (/api/authkeys) on one data-plane core against OCSP GET on the same core, in the
# same run (issue 18, item 7), then sigil-authkeys, the sshd helper, against curl.
#
# 1. A replica with SSH_USERS SSH users (default 100,000) holding SSH_KEYS Ed25519 keys
#    (300,000), SSH_HOSTS hosts (10,000), SSH_GROUPS groups (1,000), and OCSP_COUNT (10,000)
#    certificates' OCSP responses (sigil-fill-replica --count … --ssh …), filled once
#    and kept under /var/tmp (refilled when older than 25 days: some keys expire 30 days after
#    the fill). sigil-dp --threads 1 serves it on CPU 0 with no control plane.
# 2. A check pass (python, one keep-alive connection, CPU 1): /api/authkeys for every user,
#    each answer's key count compared with the one the fill computed; the data plane's memory
#    (smaps_rollup) before and after, per user and per key.
# 3. Alternating rounds, closed loop, CONNS keep-alive connections, sigil-load on CPU 1:
#      ocsp-get   GET /{b64} of uniformly chosen certificates of the fill
#      authkeys   GET /api/authkeys?username=…&host=… over the fill's (user, host) pairs
#    requests/s, p50/p99, CPU 0 and CPU 1 busy (/proc/stat), the server process's CPU time per
#    request (utime+stime of /proc/<pid>/stat over the window ÷ requests), the ratio
#    authkeys ÷ OCSP GET (target ≥ 0.7×). One point of each cross-checked with wrk (a Lua
#    script cycling through the same pairs; a fixed OCSP GET URL).
# 4. The helper: HELPER_RUNS users, each looked up twice (first: the answer becomes a new cache
#    file; repeat: it is already the cached one), with `sigil-authkeys --config CFG USER` and
#    `curl -s -f URL` (the same request), interleaved, every process started by a python
#    harness on CPU 1 (time.perf_counter_ns around subprocess.run: process start to exit, the
#    harness's own fork/exec included for both; `true` timed the same way as the floor).
#    Config: urls = the local data plane, host = the pair's host, log = "stderr",
#    krl_refresh_secs = 86400 (the KRL and user CA are fetched by the first, uncounted, run
#    only), cache_dir in a temporary directory. Targets: p99 ≤ 3 ms and ≤ 0.5× curl.
# 5. Memory of the decoded caches alone: a second data plane with block_cache_mib = 1, the
#    same check pass in two halves (users 0..U/2, then the rest: hosts are nearly all cached
#    by the first half, so the second half is users and keys only).
#
# Before every measurement the script waits until no other benchmark runs (by name, and both
# CPUs idle; see wait_quiet); a run during which other processes used more than
# OTHERS_LIMIT of a core is marked † and left out of the medians. Markdown on stdout; with
# WRITE_DOC=1 also written into docs/PERFORMANCE.md between the `ssh-peers` markers.
#   DURATION=10 ROUNDS=3 CONNS=64 HELPER_RUNS=2000 WRITE_DOC=1 bash benches/peers/ssh-peers.sh
# NO_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/release (default
# /var/tmp/sigil-target-rel). HOLD=1 sets everything up, prints command lines and waits (for
# profiling by hand). SKIP_MEMORY=1, SKIP_HELPER=1, SKIP_WRK=1 leave parts out.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
DRIVER="${DRIVER:-auto}"
CONNS="${CONNS:-64}"
USERS="${SSH_USERS:-100000}"
KEYS="${SSH_KEYS:-300000}"
HOSTS="${SSH_HOSTS:-10000}"
GROUPS_="${SSH_GROUPS:-1000}" # not GROUPS: bash's own array of the user's groups
OCSP_COUNT="${OCSP_COUNT:-10000}"
HELPER_RUNS="${HELPER_RUNS:-2000}"
OTHERS_LIMIT="${OTHERS_LIMIT:-0.05}"
WAIT_MAX="${WAIT_MAX:-7200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target-rel}"
for tool in taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup-debian.sh" >&2; exit 1; }
done
# Another benchmark on this shared machine: wait until none is named (sigil-load, wrk,
# callgrind, kes-peers, criterion benches) and both CPUs idle (under QUIET_CORES busy over 2 s;
# nothing of ours runs then), before every measurement. The cargo lock orders builds.
QUIET_CORES="${QUIET_CORES:-0.15}"
busy_waited=0
others_named() { pgrep -f 'kes-peers|sigil-load|callgrind|criterion|--bench|cargo bench|wrk ' 2>/dev/null | grep -vx "$$" || true; }
cores_busy() { # over 2 s, all CPUs
  local b a
  b="$(awk '$1=="cpu" {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)"
  sleep 2
  a="$(awk '$1=="cpu" {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)"
  python3 -c 'import os,sys; b=list(map(int,sys.argv[1].split())); a=list(map(int,sys.argv[2].split())); d=[x-y for x,y in zip(a,b)]; print(f"{os.cpu_count()*d[0]/max(1,d[0]+d[1]):.2f}")' "$b" "$a"
}
wait_quiet() {
  local t=0 busy
  while :; do
    if [ -z "$(others_named)" ]; then
      busy="$(cores_busy)"
      python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' "$busy" "$QUIET_CORES" && break
    fi
    [ "$t" -gt 0 ] || echo "the machine is busy ($(pgrep -af 'kes-peers|sigil-load|callgrind|criterion|--bench' | head -1 | cut -c1-100)); waiting" >&2
    [ "$t" -lt "$WAIT_MAX" ] || { echo "still busy after ${WAIT_MAX}s; giving up" >&2; exit 1; }
    sleep 10
    t=$((t + 12))
  done
  busy_waited=$((busy_waited + t))
}
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p sigil-dataplane -p sigil-loadtest -p sigil-authkeys \
  --bin sigil-dp --bin sigil-load --bin sigil-fill-replica --bin sigil-authkeys >&2
bin="$CARGO_TARGET_DIR/release"
dp_bin="${DP_BIN:-$bin/sigil-dp}"
load="${LOAD_BIN:-$bin/sigil-load}"
helper="${AUTHKEYS_BIN:-$bin/sigil-authkeys}"
DIR="${SSH_DIR:-/var/tmp/sigil-ssh-${USERS}u-${KEYS}k-${HOSTS}h-${GROUPS_}g-${OCSP_COUNT}c}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
DP=127.0.0.1:18380 MX=127.0.0.1:19380 DP2=127.0.0.1:18381 MX2=127.0.0.1:19381

# The python side: check pass and memory, the helper harness, other processes' CPU, the report.
cat >"$work/ssh_peers.py" <<'PY'
import http.client, json, os, statistics, subprocess, sys, time

def read_pairs(path):
    out = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        out.append((f[0], f[1], int(f[2]) if len(f) > 2 else None))
    return out

def mem(pid):  # KiB
    d = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        p = line.split()
        if len(p) >= 3 and p[0].endswith(":"):
            d[p[0][:-1]] = int(p[1])
    return {"rss": d.get("Rss", 0), "anon": d.get("Anonymous", 0)}

def check_pass(port, pairs):
    """Every pair once over one keep-alive connection: (requests, wrong answers, keys)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    bad = keys = 0
    for u, h, exp in pairs:
        c.request("GET", f"/api/authkeys?username={u}&host={h}")
        r = c.getresponse()
        body = r.read()
        n = body.count(b"\n")
        keys += n
        if r.status != 200 or not r.getheader("content-type", "").startswith("text/plain") or (exp is not None and n != exp):
            bad += 1
            if bad <= 3:
                print(f"wrong answer for {u}@{h}: {r.status} {n} keys, expected {exp}: {body[:200]!r}", file=sys.stderr)
    return len(pairs), bad, keys

def cmd_memory(pid, port, pairs_path, users, out, halves):
    pairs = read_pairs(pairs_path)[:int(users)]
    # One lookup first: the CAs and the KRL are decoded once per core, not per user.
    check_pass(int(port), pairs[:1])
    time.sleep(0.5)
    res = {"before": mem(pid), "steps": []}
    cuts = [0, len(pairs) // 2, len(pairs)] if halves == "2" else [0, len(pairs)]
    for a, b in zip(cuts, cuts[1:]):
        t = time.perf_counter()
        n, bad, keys = check_pass(int(port), pairs[a:b])
        time.sleep(0.5)
        res["steps"].append({"users": n, "bad": bad, "keys": keys, "seconds": time.perf_counter() - t, "after": mem(pid)})
    json.dump(res, open(out, "w"))
    print(json.dumps(res), file=sys.stderr)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def others_ticks(skip):
    """CPU ticks of every process but `skip` (with their reaped children's): {pid: [start, ticks]}."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid in skip:
            continue
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = [f[19], sum(int(x) for x in f[11:15])]
    return out

def others_cores(before, after, seconds):
    ticks = sum(t - (before[p][1] if p in before and before[p][0] == s else 0) for p, (s, t) in after.items())
    return max(0, ticks) / os.sysconf("SC_CLK_TCK") / seconds

def cmd_helper(helper, port, pairs_path, users, runs, work, out, dp_pid):
    pairs = read_pairs(pairs_path)
    users, runs = int(users), int(runs)
    # Random users (the pairs after the first `users` ones, one pair per user), each with its
    # host; 20 more users first, uncounted (the first run fetches the KRL and user CA).
    seen, pick = set(), []
    for u, h, exp in (pairs[users:] or pairs):
        if u not in seen:
            seen.add(u)
            pick.append((u, h, exp))
        if len(pick) == runs + 20:
            break
    warm, pick = pick[:20], pick[20:]
    cache = os.path.join(work, "authkeys-cache")
    cfgdir = os.path.join(work, "authkeys-cfg")
    os.makedirs(cfgdir, exist_ok=True)
    def cfg(host):
        path = os.path.join(cfgdir, host + ".toml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(f'urls = ["http://127.0.0.1:{port}"]\nhost = "{host}"\ndeadline_ms = 2000\n'
                        f'cache_dir = "{cache}"\nkrl_refresh_secs = 86400\nlog = "stderr"\n')
        return path
    for u, h, _ in warm + pick:
        cfg(h)
    skip = {str(os.getpid()), str(os.getppid()), dp_pid}
    res = {}
    # "first": each user's first lookup on this host (its answer is a new cache file, written
    # without fsync: losing a first answer only fails closed); "repeat": the same lookups again (the answer is the cached one).
    for phase, todo, counted in (("warm-up", warm, False), ("first", pick, True), ("repeat", pick, True)):
        times = {"sigil-authkeys": [], "curl": [], "true": []}
        wrong = {k: 0 for k in times}
        before, t_start = others_ticks(skip), time.perf_counter()
        for i, (u, h, exp) in enumerate(todo):
            cmds = {
                "sigil-authkeys": [helper, "--config", cfg(h), u],
                "curl": ["curl", "-s", "-f", f"http://127.0.0.1:{port}/api/authkeys?username={u}&host={h}"],
                "true": ["true"],
            }
            order = list(cmds) if i % 2 == 0 else list(reversed(cmds))
            for name in order:
                t0 = time.perf_counter_ns()
                r = subprocess.run(cmds[name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                t1 = time.perf_counter_ns()
                n = r.stdout.count(b"\n")
                if name != "true" and (r.returncode != 0 or (exp is not None and n != exp)):
                    wrong[name] += 1
                    if wrong[name] <= 3:
                        print(f"{name} {u}@{h}: exit {r.returncode}, {n} keys (expected {exp}); {r.stderr[:300]!r}", file=sys.stderr)
                times[name].append((t1 - t0) / 1000)
        if not counted:
            continue
        res[phase] = {k: {"runs": len(v), "wrong": wrong[k], "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99),
                          "max": max(v), "mean": statistics.mean(v)} for k, v in times.items()}
        res[phase]["others_cores"] = others_cores(before, others_ticks(skip), time.perf_counter() - t_start)
    res["cache_files"] = len(os.listdir(cache))
    json.dump(res, open(out, "w"))
    print(json.dumps(res), file=sys.stderr)

def cmd_others(*skip):
    skip, out = set(skip), {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid in skip:
            continue
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        if comm.startswith(("sigil-load", "wrk")):
            continue
        out[pid] = [f[19], sum(int(x) for x in f[11:15])]
    print(json.dumps(out))

def cmd_run(name, path, before, after, hz, ob, oa):
    d = json.load(open(path))
    b, a = list(map(float, before.split())), list(map(float, after.split()))
    wall = a[0] - b[0]
    ob, oa = json.load(open(ob)), json.load(open(oa))
    others = sum(t - (ob[p][1] if p in ob and ob[p][0] == s else 0) for p, (s, t) in oa.items())
    others = max(0, others) / float(hz) / wall
    proc = (a[1] - b[1]) / float(hz) / wall
    ticks = [max(1, a[2 + 3 * i] - b[2 + 3 * i]) for i in (0, 1)]
    cpu = [1 - (a[3 + 3 * i] - b[3 + 3 * i]) / ticks[i] for i in (0, 1)]
    steal = [(a[4 + 3 * i] - b[4 + 3 * i]) / ticks[i] for i in (0, 1)]
    tput = d["throughput"]
    l = d["latency_us"]
    print(json.dumps({"name": name, "tput": tput, "ok": d["ok"], "errors": d["errors"]["total"], "by_kind": d["errors"]["by_kind"],
                      "p50": l["p50"], "p99": l["p99"], "proc_busy": proc, "cpu0": cpu[0], "cpu1": cpu[1], "others": others,
                      "steal": max(steal), "proc_us": 1e6 * proc / tput if tput else 0, "cpu0_us": 1e6 * cpu[0] / tput if tput else 0}))

def cmd_report(work, fill_json, limit, command, commit, write, busy_waited, estimate):
    import io
    limit = float(limit)
    buf = io.StringIO()
    def out(s=""):
        print(s)
        print(s, file=buf)
    rows = [json.loads(l) for l in open(f"{work}/results")]
    fill = json.load(open(fill_json))
    ssh = fill["ssh"]
    def quiet(r):
        return r["others"] <= limit and r["steal"] <= limit
    def runs(n):
        return [r for r in rows if r["name"] == n]
    def kept(n):
        return [r for r in runs(n) if quiet(r)] or runs(n)
    names = ["ocsp-get", "authkeys"]
    med = {n: statistics.median(r["tput"] for r in kept(n)) for n in names}
    def medof(n, k):
        return statistics.median(r[k] for r in kept(n))
    dist = ", ".join(f"{k} key{'' if k == '1' else 's'}: {100 * v / ssh['pairs']:.1f} %" for k, v in sorted(ssh["pairs_by_answered_keys"].items(), key=lambda kv: int(kv[0])))
    out(f"Replica: {ssh['users']:,} users, {ssh['keys']:,} Ed25519 keys, {ssh['hosts']:,} hosts, {ssh['groups']:,} groups "
        f"({ssh['groups_per_user']} per user; each key valid for 1 or 2 of them), a KRL of {ssh['revoked']:,} keys, and "
        f"{fill['count']:,} certificates' OCSP responses, in one replica (`sigil-fill-replica --count {fill['count']} --ssh`). "
        f"{ssh['pairs']:,} (user, host) pairs, the first {ssh['users']:,} one per user; answers by keys: {dist}.")
    if int(busy_waited):
        out(f"\nThe machine was busy with another benchmark before some measurements; the script waited {busy_waited} s in all.")
    out()
    out("| scenario | requests/s (median) | per round | p50 / p99 (last round) | server CPU µs/request (process; CPU 0) | CPU 0 / CPU 1 busy (last round) | errors | ÷ OCSP GET |")
    out("|---|---:|---|---:|---:|---:|---:|---:|")
    for n in names:
        rs = runs(n)
        last = rs[-1]
        per = " / ".join(f"{r['tput']:,.0f}{'' if quiet(r) else '†'}" for r in rs)
        errs = sum(r["errors"] for r in rs)
        out(f"| {n} | {med[n]:,.0f} | {per} | {last['p50']} / {last['p99']} µs | {medof(n, 'proc_us'):.2f}; {medof(n, 'cpu0_us'):.2f} | "
            f"{100 * last['cpu0']:.0f}% / {100 * last['cpu1']:.0f}% | {errs} | {med[n] / med['ocsp-get']:.2f}× |")
    pairs = list(zip(runs("authkeys"), runs("ocsp-get")))
    ratios = [f"{a['tput'] / o['tput']:.2f}{'' if quiet(a) and quiet(o) else '†'}" for a, o in pairs]
    kr = [a["tput"] / o["tput"] for a, o in pairs if quiet(a) and quiet(o)] or [a["tput"] / o["tput"] for a, o in pairs]
    out(f"\nauthkeys ÷ OCSP GET on the same core (target ≥ 0.7×), per round: {', '.join(ratios)}; median of the rounds' ratios "
        f"**{statistics.median(kr):.2f}×**, ratio of the medians {med['authkeys'] / med['ocsp-get']:.2f}×. "
        f"A round marked † ran while other processes used more than {limit:.2f} of a core and is left out of the medians.")
    if os.path.exists(f"{work}/wrk"):
        out("\nCross-check with wrk (1 thread on CPU 1, the same connections and duration; authkeys from a Lua script cycling through the pairs, OCSP GET one fixed URL):\n")
        out("| scenario | wrk requests/s | non-2xx | sigil-load median requests/s | sigil-load ÷ wrk |")
        out("|---|---:|---:|---:|---:|")
        for line in open(f"{work}/wrk"):
            n, rps, non2xx = line.split()
            out(f"| {n} | {float(rps):,.0f} | {non2xx} | {med[n]:,.0f} | {med[n] / float(rps):.2f} |")
    if os.path.exists(f"{work}/helper.json"):
        h = json.load(open(f"{work}/helper.json"))
        runs_n = h["first"]["curl"]["runs"]
        out(f"\nOne lookup by a new process, start to exit: {runs_n:,} users, each looked up twice (first: the answer becomes a new "
            f"cache file, written without fsync, since losing a first answer only fails closed; repeat: the answer is the cached one), by each command, interleaved; harness on CPU 1, "
            f"data plane on CPU 0; µs:\n")
        out("| lookup | command | p50 | p90 | p99 | max | mean | wrong answers | other processes (cores) |")
        out("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for phase in ("first", "repeat"):
            for n, label in (("sigil-authkeys", "`sigil-authkeys --config CFG USER`"), ("curl", "`curl -s -f URL`"), ("true", "`true` (the harness's floor)")):
                r = h[phase][n]
                out(f"| {phase} | {label} | {r['p50']:,.0f} | {r['p90']:,.0f} | {r['p99']:,.0f} | {r['max']:,.0f} | {r['mean']:,.0f} | "
                    f"{r['wrong'] if n != 'true' else '—'} | {h[phase]['others_cores']:.2f} |")
        for phase in ("first", "repeat"):
            a, c = h[phase]["sigil-authkeys"], h[phase]["curl"]
            out(f"\n{phase}: sigil-authkeys p99 **{a['p99'] / 1000:.2f} ms** (target ≤ 3 ms); ÷ curl: p50 **{a['p50'] / c['p50']:.2f}×**, "
                f"p99 **{a['p99'] / c['p99']:.2f}×** (target ≤ 0.5×).")
    mems = [(label, f"{work}/{f}") for label, f in (("default (`block_cache_mib = 256`)", "mem-default.json"), ("`block_cache_mib = 1`", "mem-small.json")) if os.path.exists(f"{work}/{f}")]
    if mems:
        out("\nData-plane memory (smaps_rollup of the one-core sigil-dp, KiB) before and after a check pass asking for every user once (each answer's key count checked against the fill's):\n")
        out("| configuration | step | users asked | wrong answers | RSS after | anonymous after | Δ anonymous | per user | per key | per key, after 0.5 KiB a user |")
        out("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        per_key_users = ssh["keys"] / ssh["users"]
        for label, path in mems:
            m = json.load(open(path))
            prev = m["before"]
            out(f"| {label} | before | — | — | {prev['rss']:,} | {prev['anon']:,} | — | — | — | — |")
            for i, s in enumerate(m["steps"]):
                d = s["after"]["anon"] - prev["anon"]
                keys = s["users"] * per_key_users
                step = f"users {i * s['users']:,}–{(i + 1) * s['users'] - 1:,}" if len(m["steps"]) > 1 else "every user"
                out(f"| {label} | {step} | {s['users']:,} | {s['bad']} | {s['after']['rss']:,} | {s['after']['anon']:,} | {d:,} | "
                    f"{d / s['users']:.2f} KiB | {d / keys:.2f} KiB | {(d / s['users'] - 0.5) / per_key_users:.2f} KiB |")
                prev = s["after"]
        out(f"\nEstimate in deploy/config/sigil-dp.toml `[cache]`: {estimate}")
    if write:
        sys.path.insert(0, "benches/peers")
        import perfdoc
        head = (f"Generated by `{command}` at {commit} (plus the working tree) on {perfdoc.machine()}; "
                "sigil-dp (one thread) on CPU 0, load and helper on CPU 1.\n\n")
        perfdoc.write_block("ssh-peers", "## SSH lookups (authkeys) on one core: latest `ssh-peers.sh` run", head + buf.getvalue())

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY
py() { python3 "$work/ssh_peers.py" "$@"; }

# 1. The replica, once.
if [ -f "$DIR/fill.json" ] && python3 -c 'import json,sys,time; d=json.load(open(sys.argv[1])); sys.exit(0 if "ssh" in d and time.time() - d["ssh"]["now"] < 25 * 86400 else 1)' "$DIR/fill.json"; then
  echo "using the replica in $DIR" >&2
else
  rm -rf "$DIR"
  wait_quiet
  /usr/bin/time -f 'fill: %e s, max RSS %M KiB' "$bin/sigil-fill-replica" --data-dir "$DIR" --count "$OCSP_COUNT" --ssh \
    --ssh-users "$USERS" --ssh-keys "$KEYS" --ssh-hosts "$HOSTS" --ssh-groups "$GROUPS_" >&2
fi
pairs="$DIR/ssh-pairs.txt"

start_dp() { # listen metrics config → pid in $dp_pid
  taskset -c 0 "$dp_bin" --config "$3" --data-dir "$DIR" --listen "$1" --threads 1 --driver "$DRIVER" \
    --metrics-listen "$2" 2>>"$work/dp.log" &
  dp_pid=$!
  pids+=("$dp_pid")
  for _ in $(seq 600); do curl -sf "http://$2/health/live" >/dev/null && break; sleep 0.1; done
  # The OCSP index is built at start: wait for it, so that neither it nor its memory is measured.
  for _ in $(seq 600); do
    curl -sf "http://$2/metrics" | grep -q '^sigil_dp_index_builds_total [1-9]' && break
    sleep 0.1
  done
  curl -sf "http://$1/api/hostca" >/dev/null || { echo "no SSH state served" >&2; tail -5 "$work/dp.log" >&2; exit 1; }
}
: >"$work/default.toml"
printf '[cache]\nblock_cache_mib = 1\n' >"$work/small.toml"

# 2. The serving data plane, its check pass and memory with the default configuration.
start_dp "$DP" "$MX" "$work/default.toml"
port="${DP##*:}"
if [ -n "${HOLD:-}" ]; then
  cat >&2 <<EOF
HOLD: sigil-dp pid $dp_pid (CPU 0), replica $DIR; interrupt to stop. For example:
  taskset -c 1 $load run http://$DP/ --scenario authkeys --synthetic $DIR/fill.json --cpus 1
  taskset -c 1 $load run http://$DP/ --scenario ocsp-get --synthetic $DIR/fill.json --cpus 1
EOF
  wait "$dp_pid"
fi
if [ -z "${SKIP_MEMORY:-}" ]; then
  wait_quiet
  taskset -c 1 python3 "$work/ssh_peers.py" memory "$dp_pid" "$port" "$pairs" "$USERS" "$work/mem-default.json" 1
fi

# 3. Alternating closed-loop rounds.
cpu_ticks() { awk '$1=="cpu0"||$1=="cpu1" {t=0; for(i=2;i<=NF;i++) t+=$i; printf "%s %s %s ", t, $5+$6, $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$dp_pid/stat"; }
snapshot() { echo "$(date +%s.%N) $(proc_ticks) $(cpu_ticks)"; }
others() { py others "$dp_pid" "$$" "${BASHPID:-$$}"; }
run() { # scenario
  local name="$1" snap json="$work/run.json" after
  wait_quiet
  rm -f "$work/snap.before" "$json"
  # The CPU window starts after the 1 s warm-up and ends with the run.
  (sleep 1.5; others >"$work/others.before"; snapshot >"$work/snap.before") &
  snap=$!
  taskset -c 1 "$load" run "http://$DP/" --scenario "$name" --synthetic "$DIR/fill.json" --connections "$CONNS" \
    --duration "${DURATION}s" --warmup 1s --cpus 1 --quiet --json "$json" >/dev/null 2>&1 || true
  wait "$snap"
  after="$(snapshot)"
  others >"$work/others.after"
  py run "$name" "$json" "$(cat "$work/snap.before")" "$after" "$(getconf CLK_TCK)" "$work/others.before" \
    "$work/others.after" | tee -a "$work/results" >&2
}
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  run ocsp-get
  run authkeys
done

# wrk at one point each: authkeys over the pairs, OCSP GET of certificate 0.
if [ -z "${SKIP_WRK:-}" ] && command -v wrk >/dev/null; then
  cat >"$work/authkeys.lua" <<LUA
local paths = {}
for line in io.lines("$pairs") do
  local u, h = line:match("^([^#%s]%S*) (%S+)")
  if u then paths[#paths + 1] = "/api/authkeys?username=" .. u .. "&host=" .. h end
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
  get_path="$("$load" corpus --fill "$DIR/fill.json" --count 1 --out - | tail -n 1 |
    python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')"
  wrk_run() { # name args…
    local name="$1" out
    shift
    wait_quiet
    out="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@")"
    echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '/Non-2xx/ {print $4; f=1} END {if (!f) print 0}' <<<"$out")" |
      tee -a "$work/wrk" >&2
  }
  wrk_run ocsp-get "http://$DP/$get_path"
  wrk_run authkeys -s "$work/authkeys.lua" "http://$DP/"
fi

# 4. The helper against curl, same requests, same harness.
if [ -z "${SKIP_HELPER:-}" ]; then
  wait_quiet
  taskset -c 1 python3 "$work/ssh_peers.py" helper "$helper" "$port" "$pairs" "$USERS" "$HELPER_RUNS" "$work" "$work/helper.json" "$dp_pid"
fi

# 5. The decoded caches alone: a fresh data plane with a 1 MiB block cache, two halves.
kill "$dp_pid"
wait "$dp_pid" 2>/dev/null || true
if [ -z "${SKIP_MEMORY:-}" ]; then
  start_dp "$DP2" "$MX2" "$work/small.toml"
  wait_quiet
  taskset -c 1 python3 "$work/ssh_peers.py" memory "$dp_pid" "${DP2##*:}" "$pairs" "$USERS" "$work/mem-small.json" 2
  kill "$dp_pid"
fi

estimate="$(awk '/SSH lookups/,/ssh_entries_per_core =/' deploy/config/sigil-dp.toml | sed 's/^# *//' | grep -v '^ssh_entries' | tr '\n' ' ' |
  grep -o 'Memory per core.*per core\.' || echo 'none found')"
cmd="DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS HELPER_RUNS=$HELPER_RUNS DRIVER=$DRIVER WRITE_DOC=1 bash benches/peers/ssh-peers.sh"
py report "$work" "$DIR/fill.json" "$OTHERS_LIMIT" "$cmd" "$(git rev-parse --short HEAD)" "${WRITE_DOC:-}" "$busy_waited" "$estimate"
