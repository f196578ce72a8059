#!/usr/bin/env python3
"""Revocation fan-out: for each of N certificates, the time from sending the revoke request to
the control plane until *every* data plane in --dp answers `revoked` for it (each polled in
turn over its own keep-alive connection). Prints one JSON line: p50/p99/max of the time until
the last data plane served it and until the first did, and the revoke API's own latency.

    python3 fanout_latency.py --cp http://127.0.0.1:19744 --dp http://127.0.0.1:18701 ... -n 200
(SIGIL_ADMIN_TOKEN in the environment). Used by benches/peers/fanout-peers.sh.
"""
import argparse
import json
import statistics
import time

from revocation_latency import api, conn, status
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID


def quantiles(xs):
    q = statistics.quantiles(xs, n=100)
    return {"p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3, "max_ms": max(xs) * 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cp", required=True)
    ap.add_argument("--dp", required=True, action="append")
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    cp = conn(args.cp)
    dps = [conn(u) for u in args.dp]
    key = ec.generate_private_key(ec.SECP256R1())
    certs = []
    for i in range(args.n):
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fan{i}.example")]))
            .sign(key, hashes.SHA256())
        )
        d = api(cp, "POST", "/api/v1/certificates", {"issuer_id": "demo", "csr": csr.public_bytes(serialization.Encoding.PEM).decode()})
        leaf = x509.load_pem_x509_certificate(d["certificate"].encode())
        issuer = x509.load_pem_x509_certificate(d["chain"][0].encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
        certs.append((d["id"], req.public_bytes(serialization.Encoding.DER)))
    # Every data plane serves every certificate before the first revocation.
    for _, req in certs:
        for dp in dps:
            deadline = time.perf_counter() + 30
            while status(dp, req) != ocsp.OCSPCertStatus.GOOD:
                if time.perf_counter() > deadline:
                    raise SystemExit("a data plane never served good")
                time.sleep(0.005)
    last, first, api_lat = [], [], []
    for cid, req in certs:
        t0 = time.perf_counter()
        api(cp, "POST", f"/api/v1/certificates/{cid}/revoke", {"reason": "keyCompromise"})
        api_lat.append(time.perf_counter() - t0)
        waiting = set(range(len(dps)))
        seen_first = None
        while waiting:
            for i in list(waiting):
                if status(dps[i], req) == ocsp.OCSPCertStatus.REVOKED:
                    waiting.discard(i)
                    seen_first = seen_first or time.perf_counter() - t0
            if time.perf_counter() - t0 > 30:
                raise SystemExit(f"{cid}: {len(waiting)} data planes not serving revoked within 30 s")
        last.append(time.perf_counter() - t0)
        first.append(seen_first)
    print(json.dumps({"revocations": len(last), "all": quantiles(last), "first": quantiles(first), "api": quantiles(api_lat)}))


if __name__ == "__main__":
    main()
