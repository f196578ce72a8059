#!/usr/bin/env bash
# One command: install system packages, build, create a demo root and issuing CA, and run the
# control plane (admin API on 127.0.0.1:9444) and a data plane (OCSP/CRL on 127.0.0.1:8080,
# metrics on 127.0.0.1:9090) on loopback. Ctrl-C stops both.
#   SIGIL_DEMO_DIR      data directory (default /var/tmp/sigil-demo)
#   SIGIL_ADMIN_LISTEN  control-plane admin listener (default 127.0.0.1:9444)
#   SIGIL_DP_LISTEN     data-plane listener (default 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/setup-debian.sh
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
cargo build --release --bins --locked
bin="$CARGO_TARGET_DIR/release"
dir="${SIGIL_DEMO_DIR:-/var/tmp/sigil-demo}"
admin="${SIGIL_ADMIN_LISTEN:-127.0.0.1:9444}"
public="${SIGIL_DP_LISTEN:-127.0.0.1:8080}"
metrics="${SIGIL_DP_METRICS:-127.0.0.1:9090}"
mkdir -p "$dir"
# Tokens are generated once per demo directory and kept there (mode 600).
if [ ! -f "$dir/tokens.env" ]; then
  (umask 077; printf 'SIGIL_ADMIN_TOKEN=%s\nSIGIL_REPLICATION_TOKEN=%s\n' \
    "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" > "$dir/tokens.env")
fi
set -a; . "$dir/tokens.env"; set +a
"$bin/sigil-cp" init --data-dir "$dir/cp"
"$bin/sigil-cp" serve --data-dir "$dir/cp" --admin-listen "$admin" --base-url "http://$public" &
cp_pid=$!
dp_pid=
trap 'kill $cp_pid $dp_pid 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 50); do curl -sf "http://$admin/health" >/dev/null && break; sleep 0.2; done
"$bin/sigil-dp" --data-dir "$dir/dp" --listen "$public" --control-plane "http://$admin" \
  --metrics-listen "$metrics" &
dp_pid=$!
cat <<MSG
Control plane: http://$admin   (tokens in $dir/tokens.env, key-encryption key in $dir/cp.kek)
Data plane:    http://$public  (OCSP at /ocsp, CRLs at /crl/<issuer>.crl, CA certs at /ca/<issuer>.cer)
Metrics:       http://$metrics/metrics
  curl -H "Authorization: Bearer \$SIGIL_ADMIN_TOKEN" http://$admin/api/v1/issuers
MSG
wait
