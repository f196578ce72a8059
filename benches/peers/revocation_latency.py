#!/usr/bin/env python3
"""Revocation-to-served latency: for each of N certificates, the time from sending the revoke
request to the control plane until the data plane answers `revoked` for it (polled every
millisecond over a keep-alive connection). Prints p50/p90/p99/max.

    python3 revocation_latency.py --cp http://127.0.0.1:19444 --dp http://127.0.0.1:18080 -n 1000
(SIGIL_ADMIN_TOKEN in the environment). Used by benches/peers/revocation-latency.sh.
"""
import argparse
import http.client
import json
import os
import statistics
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def api(c, method, path, body=None):
    headers = {"Authorization": "Bearer " + os.environ["SIGIL_ADMIN_TOKEN"], "Content-Type": "application/json"}
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return json.loads(data)


def status(dp, req_der):
    dp.request("POST", "/", req_der, {"Content-Type": "application/ocsp-request"})
    r = dp.getresponse()
    body = r.read()
    resp = ocsp.load_der_ocsp_response(body)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    return resp.certificate_status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cp", required=True)
    ap.add_argument("--dp", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--issuer", default="demo")
    args = ap.parse_args()
    cp, dp = conn(args.cp), conn(args.dp)
    key = ec.generate_private_key(ec.SECP256R1())
    certs = []
    t = time.perf_counter()
    for i in range(args.n):
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rev{i}.example")]))
            .sign(key, hashes.SHA256())
        )
        d = api(cp, "POST", "/api/v1/certificates", {"issuer_id": args.issuer, "csr": csr.public_bytes(serialization.Encoding.PEM).decode()})
        leaf = x509.load_pem_x509_certificate(d["certificate"].encode())
        issuer = x509.load_pem_x509_certificate(d["chain"][0].encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
        certs.append((d["id"], req.public_bytes(serialization.Encoding.DER)))
    print(f"issued {args.n} certificates in {time.perf_counter() - t:.1f} s")
    for _, req in certs:
        deadline = time.perf_counter() + 10
        while status(dp, req) != ocsp.OCSPCertStatus.GOOD:
            if time.perf_counter() > deadline:
                raise SystemExit("data plane never served good")
            time.sleep(0.005)
    lat, api_lat = [], []
    for cid, req in certs:
        t0 = time.perf_counter()
        api(cp, "POST", f"/api/v1/certificates/{cid}/revoke", {"reason": "keyCompromise"})
        api_lat.append(time.perf_counter() - t0)
        while status(dp, req) != ocsp.OCSPCertStatus.REVOKED:
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"{cid} not served revoked within 10 s")
            time.sleep(0.001)
        lat.append(time.perf_counter() - t0)
    q = statistics.quantiles(lat, n=1000)
    aq = statistics.quantiles(api_lat, n=100)
    print(f"revocations: {len(lat)}")
    print(f"revoke→served revoked ms: p50 {q[499]*1e3:.1f}  p90 {q[899]*1e3:.1f}  p99 {q[989]*1e3:.1f}  max {max(lat)*1e3:.1f}")
    print(f"revoke API alone ms:      p50 {aq[49]*1e3:.1f}  p99 {aq[98]*1e3:.1f}")


if __name__ == "__main__":
    main()
