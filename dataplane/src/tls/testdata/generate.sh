#!/usr/bin/env bash
# Regenerates the TLS test fixtures in this directory (throwaway, test-only keys): a server CA,
# a server certificate for localhost / 127.0.0.1, a client CA and a client certificate for mTLS.
# Valid for 36500 days so the tests never expire. Run from anywhere: bash generate.sh
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # name subject
  ec "$tmp/$1.key"
  openssl req -x509 -new -key "$tmp/$1.key" -out "$1.pem" -days 36500 -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject issuer extensions
  ec "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$tmp/$1.csr"
  printf '%b' "$4" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$tmp/$3.key" -CAcreateserial \
    -CAserial "$tmp/$3.srl" -days 36500 -extfile "$tmp/$1.ext" -out "$1.pem"
}
ca ca "/CN=Sigil test server CA"
ca client-ca "/CN=Sigil test client CA"
leaf server "/CN=localhost" ca 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
leaf client "/CN=test client" client-ca 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
