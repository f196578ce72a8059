#!/usr/bin/env bash
# Installs the system packages Sigil needs on a fresh Debian machine (run as root).
# Idempotent: packages already present are skipped by apt.
#   clang/libclang-dev  bindgen + C++ build of librocksdb-sys
#   openssl, curl       end-to-end test clients
#   scep                micromdm's SCEP client (`scepclient`) for tests/tests/scep.rs
#   python3-cryptography  end-to-end test client
#   certbot             ACME end-to-end test client (tests/tests/acme.rs)
#   python3-venv        the venv /opt/sigil-venv for schemathesis (scripts/python-requirements.txt)
#   softhsm2, opensc    PKCS#11 token for HSM tests
#   openssh-*           SSH authorized-keys tests
#   wrk, nginx, cfssl   benchmark load generator and peers (static file, cfssl ocspserve)
#   prometheus          promtool only (`promtool check metrics|rules`, `test rules` in the
#                       end-to-end tests); its server is not left running (below)
#   postgresql          the control plane's PostgreSQL backend (tests start their own clusters)
#   chromium            headless browser for the web console's tests (tests/tests/console.rs)
#   nodejs, npm         run playwright-core there (tests/console/); only when no `node` is on
#                       the machine already (a newer Node.js, >= 20, is kept)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential pkg-config clang libclang-dev cmake openssl curl ca-certificates
      python3 python3-cryptography python3-venv softhsm2 opensc openssh-client openssh-server wrk nginx-light util-linux jq golang-cfssl postgresql scep)
pkgs+=(prometheus chromium certbot)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's prometheus package is installed for promtool; its server, started by the package on
# systemd hosts, would take port 9090 (the data plane's metrics port in scripts/demo.sh).
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
# Python tools (schemathesis for tests/tests/api_schemathesis.rs, kubernetes-validate for
# tests/tests/deploy_kit.rs), pinned with their
# dependencies, in a venv of Debian's python3 (PEP 668: no pip into the system Python).
# Reinstalled only when the pins change.
venv=/opt/sigil-venv
reqs="$(dirname "$0")/python-requirements.txt"
if ! cmp -s "$reqs" "$venv/requirements.txt"; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r "$reqs"
  cp "$reqs" "$venv/requirements.txt"
fi
# Rust toolchain components used by the test command.
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt || true
fi
