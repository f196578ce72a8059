"""Where an issuance's CPU time goes, by step: reads `perf script` output (samples of sigil-cp
with call graphs) on stdin and prints a markdown table.

Each sample is charged to the first step found walking its stack from the leaf towards the
root, so that an allocation, a hash or a copy made while signing the certificate counts as
signing the certificate. Steps are matched by function names (STEPS, most specific first).
Used by benches/peers/issuance-peers.sh (PERF=1).
"""

import re
import sys
from collections import Counter

# (step, pattern on a frame's symbol); the first step that matches a frame, leaf first, wins.
STEPS = [
    ("CSR: signature check (ECDSA verify)", r"ECDSA_verify|EVP_DigestVerify|RSA_verify|ED25519_verify"),
    ("ECDSA signing (certificate, 2 OCSP responses)", r"ECDSA_sign|ecdsa_sign"),
    ("CSR: decoding and checks", r"verify_csr|check_issue|decode_pem|apply_issuer_policy"),
    ("commit: fsync (kernel)", r"fdatasync|fsync"),
    ("commit: RocksDB write (WAL, memtable)", r"rocksdb::"),
    ("commit: records, audit chain, group", r"Context::commit|write_group|chain_group|LogWriter|group::Group"),
    ("certificate: build and sign", r"sign_certificate"),
    ("OCSP responses: build and sign (2)", r"sign_responses"),
    ("issuance: logging", r"tracing_subscriber|tracing_core|fmt::write"),
    ("issuance: the rest (serial, extensions, record)", r"issue_checked|Certificates>::issue\b|random_serial"),
    ("HTTP response body (JSON, PEM)", r"serde_json|api::certificates::view|cert_pem|chain_pem"),
    ("HTTP: hyper, axum, middleware", r"hyper::|hyper_util::|axum::|tower::|api::auth|rbac::"),
    ("thread switches (kernel scheduler)", r"finish_task_switch|__schedule|schedule\b|futex"),
    ("tokio runtime (tasks, blocking pool)", r"tokio::"),
]
# Samples whose stack could not be unwound past the leaf (aws-lc's assembly has no unwind
# information): charged by the leaf alone.
FALLBACK = [
    ("P-256 arithmetic, caller not unwound (signing or verifying)", r"ecp_nistz256|bignum_|beeu_mod_inverse|p256"),
]
COMPILED = [(name, re.compile(p)) for name, p in STEPS]
COMPILED_FALLBACK = [(name, re.compile(p)) for name, p in FALLBACK]


def classify(frames):
    for sym in frames:
        for name, pat in COMPILED:
            if pat.search(sym):
                return name
    for name, pat in COMPILED_FALLBACK:
        if frames and pat.search(frames[0]):
            return name
    if frames and frames[0].startswith("[k]"):
        return "kernel: other (network, syscalls, interrupts)"
    return "other"


def samples(lines):
    frames = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if line[0] not in " \t":
            continue  # the sample's header line
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = parts[1]
        kernel = "kernel.kallsyms" in sym
        sym = re.sub(r"\s*\(.*\)$", "", sym)
        frames.append(("[k]" if kernel else "") + sym)
    if frames:
        yield frames


def main():
    counts = Counter()
    for frames in samples(sys.stdin):
        counts[classify(frames)] += 1
    total = sum(counts.values()) or 1
    order = [name for name, _ in STEPS + FALLBACK] + ["kernel: other (network, syscalls, interrupts)", "other"]
    print(f"Where sigil-cp's CPU time goes, by step ({total:,} perf samples with DWARF call graphs, each "
          "charged to the innermost step on its stack):\n")
    print("| step | share of sigil-cp's CPU |")
    print("|---|---:|")
    for name in order:
        if counts[name]:
            print(f"| {name} | {100 * counts[name] / total:.1f}% |")


if __name__ == "__main__":
    main()
