#!/usr/bin/env bash
# Starts a release control plane and data plane (CP on CPU 1, DP on CPU 0) and measures
# revoke → data plane serves `revoked` latency over N revocations.
#   N=1000 bash benches/peers/revocation-latency.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
cargo build --release --bins --locked >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export SIGIL_ADMIN_TOKEN="bench-admin-token-0123" SIGIL_REPLICATION_TOKEN="bench-repl-token-0123"
CP=127.0.0.1:19444 DP=127.0.0.1:18080 MX=127.0.0.1:19090
"$bin/sigil-cp" init --data-dir "$work/cp" >/dev/null 2>&1
taskset -c 1 "$bin/sigil-cp" serve --data-dir "$work/cp" --admin-listen "$CP" 2>"$work/cp.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$CP/health" >/dev/null && break; sleep 0.1; done
taskset -c 0 "$bin/sigil-dp" --data-dir "$work/dp" --listen "$DP" --control-plane "http://$CP" \
  --threads 1 --metrics-listen "$MX" 2>"$work/dp.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$MX/health/ready" >/dev/null && break; sleep 0.1; done
taskset -c 1 python3 benches/peers/revocation_latency.py --cp "http://$CP" --dp "http://$DP" -n "$N"
