#!/usr/bin/env python3
"""Where a data-plane request's core time goes, from `perf script -F comm,ip,sym,dso` output of
a `perf record --call-graph dwarf -p <sigil-dp>` profile (kes-peers.sh PERF=1).

Each sample is put in one bucket: kernel samples by whether the stack sends or receives; user
samples inside the HTTP layer's request handling (`http::dispatch::process`) by the first
frame, walking from the sampled function upwards, that names a part of the request path (so
malloc, memcpy or AES-GCM count for whoever called them), else as the handler's own code;
user samples outside it as TLS (rustls) or the event loop.
Prints a Markdown table: share of the process's samples and, given the process's CPU time per
request, microseconds per request.

    perf script -i dp.data -F comm,ip,sym,dso | python3 request_buckets.py NAME US_PER_REQUEST
"""
import re
import sys

KES_CRYPTO = "KES crypto: per-message key (HMAC-SHA256 + AES key setup) and AEAD"
KES_JSON_IN = "KES request JSON (serde_json, base64 decode)"
KES_JSON_OUT = "KES response JSON (base64 encode)"
KES_OTHER = "KES handler: route, identity, policy, keyring, counters"
OCSP = "OCSP handler: GET path decode, lookup, counters"
HTTP = "HTTP parse, response head and body copy"
RANDOM = "random bytes (iv + nonce, data key)"
TLS = "TLS records (rustls, AES-GCM)"
OTHER_USER = "event loop, timers, connection I/O glue (monoio)"
KERNEL = [
    ("kernel: send (on loopback incl. the client's receive processing)", r"\bio_send\b|tcp_sendmsg|sock_sendmsg"),
    ("kernel: receive", r"\bio_recv\b|tcp_recvmsg|sock_recvmsg"),
]
OTHER_KERNEL = "kernel: other (io_uring, scheduling, interrupts)"
ORDER = [n for n, _ in KERNEL] + [OTHER_KERNEL, KES_CRYPTO, RANDOM, KES_JSON_IN, KES_JSON_OUT,
                                  KES_OTHER, OCSP, HTTP, TLS, OTHER_USER]
# Inside request handling (below the HTTP layer's `process`), the first frame from the sampled
# function upwards that matches decides; patterns match at the start of a frame's function
# path (after `{closure#N}<`/`{async_fn#N}<` and the `<` of a qualified path), so a generic
# argument naming a type does not count.
INSIDE = [
    (RANDOM, r"aws_lc_rs::rand|aws_lc_0_\d+_\d+_(RAND_bytes|CTR_DRBG|rdrand|CRYPTO_rdrand)|rand_bytes_(core|impl)"),
    (KES_CRYPTO, r"sigil_kes::key::|message_key \(inlined\)"),
    (KES_JSON_IN, r"sigil_dataplane::kes::wire::(bytes|_)|(parse|from_slice)<sigil_dataplane::kes::wire"),
    (KES_JSON_OUT, r"(sigil_dataplane::kes::wire::)?push_b64_field"),
    (HTTP, r"httparse::|sigil_dataplane::http::(parse|response)::|parse_head \(inlined\)|ResponseWriter"),
]
PROCESS = re.compile(r"^(process<|sigil_dataplane::http::dispatch::process\b)")


def path_of(frame):
    f = re.sub(r"^(\{[a-z_]+#\d+\}<)+", "", frame)
    return f[1:] if f.startswith("<") else f


def samples(lines):
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith(("\t", " ")):
            m = re.match(r"\s*[0-9a-f]+ (.*) \(([^)]*)\)\s*$", line)
            if m:
                frames.append((m.group(1), m.group(2)))
        # else: the sample's header line (comm)
    if frames:
        yield frames


def bucket(frames):
    if "kernel" in frames[0][1]:
        for name, pat in KERNEL:
            if any(re.search(pat, f) for f, _ in frames):
                return name
        return OTHER_KERNEL
    top = next((i for i, (f, _) in enumerate(frames) if PROCESS.match(f)), None)
    if top is None:
        # Outside request handling (or its `process` frame lost to inlining): the parts named
        # above, TLS records, or the event loop and connection glue.
        for f, _ in frames:
            p = path_of(f)
            for name, pat in INSIDE:
                if re.match(pat, p):
                    return name
        if any(re.match(r"(monoio_)?rustls::", path_of(f)) for f, _ in frames):
            return TLS
        return OTHER_USER
    for f, _ in frames[: top + 1]:
        p = path_of(f)
        for name, pat in INSIDE:
            if re.match(pat, p):
                return name
    # The handler's own code (mostly inlined into `process`): whose is it?
    kes = "KesHandler" in frames[top][0] or any("sigil_dataplane::kes::" in f for f, _ in frames[:top])
    return KES_OTHER if kes else OCSP


def main():
    name, per_request = sys.argv[1], float(sys.argv[2])
    counts = {}
    for frames in samples(sys.stdin):
        b = bucket(frames)
        counts[b] = counts.get(b, 0) + 1
    total = sum(counts.values()) or 1
    order = ORDER
    print(f"\n{name}: {total} samples, {per_request:.2f} µs of the server process per request\n")
    print("| where | share | µs per request |")
    print("|---|---:|---:|")
    for b in order:
        if b in counts:
            share = counts[b] / total
            print(f"| {b} | {100 * share:.1f} % | {share * per_request:.2f} |")


if __name__ == "__main__":
    main()
