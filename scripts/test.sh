#!/usr/bin/env bash
# The test command (README, .ci/run): system packages, formatting, lints, unit and
# end-to-end tests. Uses a cargo target dir outside the clone as a cache when possible.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/setup-debian.sh
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sigil-target}"
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || export CARGO_TARGET_DIR="$PWD/target"
export CARGO_TERM_COLOR=never
# A test run builds once: incremental caches only cost time and disk (tens of GB per clone
# path in the shared target dir, which once filled this machine's disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# End-to-end tests run the real binaries: build them first.
cargo build --workspace --bins --locked
cargo test --workspace --locked -- --test-threads=2
# The end-to-end suite again with every control plane on PostgreSQL (docs/STORAGE.md): one
# throwaway cluster, a fresh database per control plane.
pgdir="$(mktemp -d /tmp/sigil-pg-suite.XXXXXX)"
trap 'bash scripts/postgres.sh stop "$pgdir"' EXIT
SIGIL_TEST_POSTGRES_URL="$(bash scripts/postgres.sh start "$pgdir")" \
  cargo test -p sigil-tests --locked --no-fail-fast -- --test-threads=2
