#!/usr/bin/env bash
# One command: install system packages, build, create a data dir with a demo root and
# issuing CA, and run the control plane on loopback. Ctrl-C stops it.
#   SIGIL_DEMO_DIR   data directory (default /var/tmp/sigil-demo)
#   SIGIL_ADMIN_LISTEN  admin listener (default 127.0.0.1:9444)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/setup-debian.sh
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
cargo build --release --bins --locked
bin="$CARGO_TARGET_DIR/release"
dir="${SIGIL_DEMO_DIR:-/var/tmp/sigil-demo}"
listen="${SIGIL_ADMIN_LISTEN:-127.0.0.1:9444}"
mkdir -p "$dir"
# Tokens are generated once per demo directory and kept there (mode 600).
if [ ! -f "$dir/tokens.env" ]; then
  umask 077
  printf 'SIGIL_ADMIN_TOKEN=%s\nSIGIL_REPLICATION_TOKEN=%s\n' "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" > "$dir/tokens.env"
fi
set -a; . "$dir/tokens.env"; set +a
"$bin/sigil-cp" init --data-dir "$dir/cp"
cat <<MSG
Control plane on http://$listen  (tokens in $dir/tokens.env)
  curl -H "Authorization: Bearer \$SIGIL_ADMIN_TOKEN" http://$listen/api/v1/issuers
MSG
exec "$bin/sigil-cp" serve --data-dir "$dir/cp" --admin-listen "$listen"
