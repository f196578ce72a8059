#!/usr/bin/env bash
# Seeds the fuzz corpora with real inputs: OCSP requests and responses, CSRs, certificates
# and keys made by openssl; keys, certificates and KRLs made by ssh-keygen; the
# repository's configuration files, fixtures and documented examples; and what only Rust
# can make (replication frames, KES ciphertexts under the targets' fixed key: the ignored
# test fuzzing/tests/seeds.rs). Files are named by their SHA-1, as libFuzzer names them;
# scripts/fuzz.sh minimizes the corpora afterwards.
#
#   bash fuzz/seed.sh [OUT_DIR]        # default fuzz/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-fuzz/corpus}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# add TARGET FILE...: copies each file into the target's corpus.
add() {
  local t=$1
  shift
  mkdir -p "$out/$t"
  for f in "$@"; do
    cp "$f" "$out/$t/$(sha1sum <"$f" | cut -c1-40)"
  done
}
# text TARGET STRING: a seed from a string (printf escapes allowed).
text() {
  printf '%b' "$2" >"$tmp/text"
  add "$1" "$tmp/text"
}
b64url() { base64 -w0 | tr '+/' '-_'; }

# ---- openssl: CAs, certificates, OCSP requests and responses, CSRs -------------------
cd "$tmp"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-ec.key 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ca-rsa.key 2>/dev/null
openssl genpkey -algorithm ED25519 -out ca-ed.key
for k in ec rsa ed; do
  openssl req -x509 -new -key ca-$k.key -subj "/CN=Sigil Test CA $k" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -out ca-$k.pem 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf-$k.key 2>/dev/null
  openssl req -new -key leaf-$k.key -subj "/CN=device-$k" -out leaf-$k.csr 2>/dev/null
  openssl x509 -req -in leaf-$k.csr -CA ca-$k.pem -CAkey ca-$k.key -days 30 \
    -set_serial 0x00a1b2c3d4e5f60718 -out leaf-$k.pem 2>/dev/null
  openssl x509 -in leaf-$k.pem -outform DER -out leaf-$k.der
  openssl ocsp -issuer ca-$k.pem -cert leaf-$k.pem -reqout req-$k.der >/dev/null
  openssl ocsp -issuer ca-$k.pem -sha256 -cert leaf-$k.pem -no_nonce -reqout req-$k-256.der >/dev/null
  # A responder signing with the CA key itself: index with the leaf revoked.
  serial=$(openssl x509 -in leaf-$k.pem -noout -serial | cut -d= -f2)
  printf 'R\t300101000000Z\t240101000000Z,keyCompromise\t%s\tunknown\t/CN=device-%s\n' "$serial" "$k" >index-$k.txt
  openssl ocsp -index index-$k.txt -CA ca-$k.pem -rsigner ca-$k.pem -rkey ca-$k.key \
    -reqin req-$k.der -respout resp-$k.der -ndays 1 >/dev/null 2>&1
  openssl ocsp -index index-$k.txt -CA ca-$k.pem -rsigner ca-$k.pem -rkey ca-$k.key \
    -reqin req-$k-256.der -respout resp-$k-256.der -ndays 1 -resp_no_certs >/dev/null 2>&1
done
openssl ocsp -issuer ca-ec.pem -cert leaf-ec.pem -cert leaf-ec.pem -reqout req-two.der >/dev/null
printf '\x06\x01' >bad-req.der
add ocsp_request req-*.der
add ocsp_response_times resp-*.der
add ocsp_splice resp-*.der

# GET paths: standard base64, base64url, %-encoded, under /ocsp/; certctl's by-serial path.
for r in req-*.der; do
  std=$(base64 -w0 <"$r")
  text ocsp_get_path "/$std"
  text ocsp_get_path "/ocsp/$(b64url <"$r")"
  text ocsp_get_path "/$(printf '%s' "$std" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')?x=1"
done
text ocsp_get_path "/.well-known/pki/ocsp/ca1/00A1B2C3D4E5F60718"
text ocsp_get_path "/.well-known/pki/ocsp/ca1/0xa1b2c3"
text ocsp_get_path "/crl/ca1.crl"

# CSRs: each key type, with SANs as an extension request; DER, PEM and EST's base64.
n=0
for alg in "EC -pkeyopt ec_paramgen_curve:P-256" "EC -pkeyopt ec_paramgen_curve:P-384" \
  "RSA -pkeyopt rsa_keygen_bits:2048" "ED25519"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  openssl genpkey -algorithm $alg -out csr-$n.key 2>/dev/null
  openssl req -new -key csr-$n.key -subj "/C=DE/O=Sigil/CN=device-001" \
    -addext "subjectAltName=DNS:device-001.example.net,IP:10.0.0.1,IP:::1,email:ops@example.net,URI:spiffe://sigil/device-001" \
    -addext "keyUsage=digitalSignature" -addext "extendedKeyUsage=clientAuth" \
    -outform DER -out csr-$n.der 2>/dev/null
  openssl req -in csr-$n.der -inform DER -out csr-$n.pem
  openssl base64 -in csr-$n.der -out csr-$n.b64
  # The CertificationRequestInfo alone (the target re-signs it).
  python3 - csr-$n.der info-$n.der <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
def tlv(b, i):
    l = b[i + 1]; h = 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[i + 2:i + 2 + n], 'big'); h = 2 + n
    return i + h, i + h + l
start, _ = tlv(d, 0)
_, end = tlv(d, start)
open(sys.argv[2], 'wb').write(d[start:end])
EOF
done
add csr csr-*.der csr-*.pem info-*.der
add est_body csr-*.der csr-*.pem csr-*.b64 leaf-*.der
text est_body "Basic $(printf 'device-001:otp-secret' | base64 -w0)"
text est_body "basic ZGV2aWNlOmE6Yg"

# Files a configuration names: certificates, keys in every PEM form, a KEK.
openssl pkey -in leaf-ec.key -out leaf-ec.pkcs8.pem
openssl ec -in leaf-ec.key -out leaf-ec.sec1.pem 2>/dev/null
openssl rsa -in ca-rsa.key -traditional -out ca-rsa.pkcs1.pem 2>/dev/null
cat leaf-ec.pem ca-ec.pem >chain.pem
openssl rand -base64 32 >kek
add config_files ca-*.pem chain.pem leaf-ec.pkcs8.pem leaf-ec.sec1.pem ca-rsa.pkcs1.pem ca-ed.key kek
cd - >/dev/null
add config_files dataplane/src/tls/testdata/*.pem

# ---- ssh-keygen: keys, certificates, KRLs -----------------------------------------------
cd "$tmp"
ssh-keygen -q -t ed25519 -N '' -C ca -f ssh-ca
for t in "ed25519" "ecdsa -b 256" "ecdsa -b 384" "ecdsa -b 521" "rsa -b 2048"; do
  n=$(printf '%s' "$t" | tr -d ' -')
  # shellcheck disable=SC2086
  ssh-keygen -q -t $t -N '' -C "alice@$n" -f ssh-$n
  ssh-keygen -q -s ssh-ca -I "alice-$n" -n alice,deploy -V +1h -z 42 ssh-$n.pub
  cp ssh-$n.pub ssh-$n-host.pub
  ssh-keygen -q -s ssh-ca -I "host-$n" -h -n web1.example.net -V +1h -z 43 ssh-$n-host.pub
done
add ssh_public_key ssh-*.pub
add ssh_cert ssh-*-cert.pub ssh-ed25519.pub ssh-rsab2048.pub
{
  echo "serial: 1-5"
  echo "serial: 42"
  echo "id: alice-ed25519"
  echo "key: $(cat ssh-ecdsab256.pub)"
  echo "sha256: $(cat ssh-ecdsab384.pub)"
  echo "hash: $(ssh-keygen -lf ssh-rsab2048.pub | cut -d' ' -f2)"
} >krl-spec
ssh-keygen -q -k -f krl-ca -s ssh-ca.pub krl-spec
ssh-keygen -q -k -f krl-nocas krl-spec 2>/dev/null || true
ssh-keygen -q -k -f krl-keys ssh-ed25519.pub ssh-rsab2048.pub
ssh-keygen -q -k -f krl-certs ssh-ed25519-cert.pub
add ssh_krl krl-*

# What a data plane answers sigil-authkeys (HTTP responses) and its sealed cache files.
keys="$(cat ssh-ed25519.pub)\nexpiry-time=\"20991231235959Z\" $(cut -d' ' -f1,2 ssh-ecdsab256.pub)\n"
for body in "$keys" "alice\ndeploy\n" ""; do
  len=$(printf '%b' "$body" | wc -c)
  text authkeys_answer "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: $len\r\n\r\n$body"
done
text authkeys_answer "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n$keys"
text authkeys_answer "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n"
printf '%b' "$keys" >cache
{ cat cache; printf '#sigil-authkeys sha256=%s\n' "$(sha256sum <cache | cut -c1-64)"; } >cache.sealed
add authkeys_answer cache.sealed
cd - >/dev/null

# ---- ACME: JWS request bodies (Ed25519, signed by openssl), a tls-alpn-01 certificate, ----
# ---- http-01 answers, identifiers ------------------------------------------------------
cd "$tmp"
openssl genpkey -algorithm ED25519 -out acme-ed.key
x=$(openssl pkey -in acme-ed.key -pubout -outform DER | tail -c 32 | b64url | tr -d '=')
# jws PROTECTED_JSON PAYLOAD OUT: a flattened JWS signed with acme-ed.key.
jws() {
  local p pl sig
  p=$(printf '%s' "$1" | b64url | tr -d '=')
  pl=$(printf '%s' "$2" | b64url | tr -d '=')
  printf '%s.%s' "$p" "$pl" >signing-input
  sig=$(openssl pkeyutl -sign -inkey acme-ed.key -rawin -in signing-input | b64url | tr -d '=')
  printf '{"protected":"%s","payload":"%s","signature":"%s"}' "$p" "$pl" "$sig" >"$3"
  add acme_jws "$3"
}
jwk="{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"$x\"}"
u=https://acme.example/acme
jws "{\"alg\":\"EdDSA\",\"jwk\":$jwk,\"nonce\":\"bm9uY2U\",\"url\":\"$u/new-account\"}" '{"termsOfServiceAgreed":true,"contact":["mailto:a@example.com"]}' acme-new-account
jws "{\"alg\":\"EdDSA\",\"kid\":\"$u/account/abc\",\"nonce\":\"bm9uY2U\",\"url\":\"$u/new-order\"}" '{"identifiers":[{"type":"dns","value":"www.example.com"},{"type":"ip","value":"192.0.2.1"}]}' acme-new-order
jws "{\"alg\":\"EdDSA\",\"kid\":\"$u/account/abc\",\"nonce\":\"bm9uY2U\",\"url\":\"$u/order/o1\"}" '' acme-post-as-get
jws "{\"alg\":\"EdDSA\",\"jwk\":$jwk,\"url\":\"$u/key-change\"}" "{\"account\":\"$u/account/abc\",\"oldKey\":$jwk}" acme-inner
jws "{\"alg\":\"EdDSA\",\"kid\":\"$u/account/abc\",\"nonce\":\"bm9uY2U\",\"url\":\"$u/key-change\"}" "$(cat acme-inner)" acme-key-change
text acme_jws '{"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"","signature":""}'
text acme_jws 'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\ntoken.thumbprint'
text acme_jws 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ntoken.\r\na\r\nthumbprint\r\n0\r\n\r\n'
text acme_jws 'WWW.Example.COM.'
text acme_jws '::ffff:192.0.2.1'
ka_hash=$(printf 'token.thumbprint' | openssl dgst -sha256 -binary | xxd -p -c 64 | sed 's/../&:/g; s/:$//')
openssl req -x509 -new -key acme-ed.key -subj / -days 1 -addext subjectAltName=DNS:a.example \
  -addext "1.3.6.1.5.5.7.1.31=critical,DER:04:20:$ka_hash" -outform DER -out acme-alpn.der 2>/dev/null
add acme_jws acme-alpn.der
cd - >/dev/null

# ---- HTTP requests as clients send them to the data plane ---------------------------
req=$(base64 -w0 <"$tmp/req-ec.der")
reqlen=$(wc -c <"$tmp/req-ec.der")
printf 'POST / HTTP/1.1\r\nHost: ocsp.example\r\nContent-Type: application/ocsp-request\r\nContent-Length: %s\r\n\r\n' "$reqlen" >"$tmp/post"
cat "$tmp/req-ec.der" >>"$tmp/post"
add http_requests "$tmp/post"
text http_requests "GET /$req HTTP/1.1\r\nHost: ocsp.example\r\n\r\nGET /ocsp/$req HTTP/1.1\r\nHost: ocsp.example\r\nIf-None-Match: \"x\"\r\n\r\nHEAD /crl/ca1.crl HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
text http_requests "GET /api/authkeys?username=alice&host=web1 HTTP/1.0\r\n\r\n"
text http_requests "POST /api/authkeys HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 25\r\nExpect: 100-continue\r\n\r\nusername=alice&host=web1"
text http_requests "POST /v1/key/decrypt/my-key HTTP/1.1\r\nHost: kes\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"cip\r\n0\r\n\r\n"
text http_requests "PUT /v1/key/create/k HTTP/1.1\r\nHost: kes\r\nContent-Length: 0\r\n\r\nDELETE /v1/key/delete/k HTTP/1.1\r\nHost: kes\r\n\r\n"
text http_requests "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
text http_requests "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"

# ---- the SSH lookups: first byte = endpoint (+0x80: POST), then query \n type \n body --
# Alice's key in fuzzing/src/ssh/lookup.rs, and its fingerprint.
alice="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
fp=$(ssh-keygen -lf - <<<"$alice" | cut -d' ' -f2)
for q in "username=alice&host=web1" "username=alice&host=web1&fingerprint=$fp" \
  "username=alice&host=web1&fingerprint=$fp&serial=42" "username=alice&keyid=c1&fingerprint=$fp" \
  "hostname=web1" "username=al%69ce&host=web1&host=x" "username=alice+x&keyid=c1"; do
  for e in 0 1 2 3 4 5 6; do text ssh_lookup "\\x0$e$q"; done
  text ssh_lookup "\\x80\napplication/x-www-form-urlencoded; charset=UTF-8\n$q"
  text ssh_lookup "\\x81\ntext/plain\n$q"
done

# ---- key service JSON ---------------------------------------------------------------
for j in '{"allow":["/v1/key/generate/my-app-*","/v1/key/decrypt/my-app-*"],"deny":["/v1/key/decrypt/my-app-secret"]}' \
  '{"paths":["/v1/key/*","/v1/status"]}' '{"allow":{"/v1/key/list/*":{}},"deny":{}}' \
  '{"allow":["/v1/key/*"],"paths":["/x"]}'; do
  text kes_policy "$j"
done
for j in '{"context":"e30="}' '{"plaintext":"aGVsbG8=","context":"eyJidWNrZXQiOiJiIn0=","version":"v2"}' \
  '{"ciphertext":"AAEC","context":null,"version":"1"}' '{"message":"aGk="}' '' '{}' \
  '{"key":"dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=","cipher":"AES256"}' '{"bytes":"AA=="}'; do
  text kes_request "$j"
done

# ---- configuration files ------------------------------------------------------------
add config_toml deploy/config/*.toml
for doc in docs/*.md; do
  awk -v dir="$tmp" '/^```toml/{n++; f=dir "/doc-" n ".toml"; next} /^```/{f=""} f{print > f}' "$doc"
  for f in "$tmp"/doc-*.toml; do [ -e "$f" ] && add config_toml "$f" && rm "$f"; done
done

# ---- what only Rust makes -------------------------------------------------------------
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/sigil-target-cp} SIGIL_SEEDS_DIR="$out" \
  cargo test -q -p sigil-fuzzing --test seeds -- --ignored >/dev/null
for t in "$out"/*/; do echo "$(basename "$t"): $(find "$t" -type f | wc -l) files"; done
