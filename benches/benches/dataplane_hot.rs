//! The data plane's per-request functions: OCSP request decoding + CertID key derivation,
//! response selection from a core's cache (hit), rendering an entry on a cache miss, and the
//! per-request headers. Whatever is not here (syscalls, RocksDB reads) is measured end to end
//! by benches/peers/*.sh.
//!
//! Run: `cargo bench -p sigil-benches --bench dataplane_hot`. Results: docs/PERFORMANCE.md.

use std::collections::HashMap;
use std::rc::Rc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sigil_dataplane::cache::Cache;
use sigil_dataplane::ocsp::{select, Answer, OcspLookup};
use sigil_dataplane::render::{Clock, Rendered};
use sigil_shared::ocsp::{decode_request, CertIdKey, HashAlg};

/// A DER OCSPRequest for one SHA-1 CertID with a 20-octet serial (what browsers send).
fn request(serial: &[u8; 20]) -> Vec<u8> {
    let mut cert_id = vec![
        0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
    ];
    for fill in [0x11u8, 0x22] {
        cert_id.extend_from_slice(&[0x04, 20]);
        cert_id.extend(std::iter::repeat_n(fill, 20));
    }
    cert_id.extend_from_slice(&[0x02, 20]);
    cert_id.extend_from_slice(serial);
    let wrap = |tag: u8, inner: Vec<u8>| {
        let mut v = vec![tag, inner.len() as u8];
        v.extend(inner);
        v
    };
    wrap(
        0x30,
        wrap(0x30, wrap(0x30, wrap(0x30, wrap(0x30, cert_id)))),
    )
}

struct CacheLookup(std::cell::RefCell<Cache>);

impl OcspLookup for CacheLookup {
    fn lookup(&self, key: &[u8]) -> Option<Rc<Rendered>> {
        self.0.borrow().get(key)
    }
}

fn bench(c: &mut Criterion) {
    let serial = [0x5a; 20];
    let der = request(&serial);
    let key = CertIdKey::new(HashAlg::Sha1, &[0x11; 20], &[0x22; 20], &serial);
    let response = vec![0x30; 820]; // size of a response with an embedded responder certificate
    let now = 1_800_000_000;

    let mut g = c.benchmark_group("dataplane");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_request+key", |b| {
        b.iter(|| {
            decode_request(black_box(&der)).unwrap().certs[0]
                .key()
                .unwrap()
        })
    });

    // A core's cache holding 200k entries (the default per-core bound), the requested one among them.
    let mut cache = Cache::new(200_000, 1 << 30);
    for i in 0..199_999u32 {
        let mut s = serial;
        s[..4].copy_from_slice(&i.to_be_bytes());
        let k = CertIdKey::new(HashAlg::Sha1, &[0x11; 20], &[0x22; 20], &s);
        cache.insert(
            k.as_bytes(),
            Rc::new(Rendered::ocsp(response.clone(), now - 10, now + 345_600)),
        );
    }
    cache.insert(
        key.as_bytes(),
        Rc::new(Rendered::ocsp(response.clone(), now - 10, now + 345_600)),
    );
    let lookup = CacheLookup(std::cell::RefCell::new(cache));
    g.bench_function("select (decode + cache hit)", |b| {
        b.iter(|| match select(black_box(&der), &lookup, now) {
            Answer::Found(r) => r.body.len(),
            Answer::Error(_) => 0,
        })
    });
    g.bench_function("render on miss (Rendered::ocsp)", |b| {
        b.iter(|| Rendered::ocsp(black_box(response.clone()), now - 10, now + 345_600))
    });
    let clock = Clock::default();
    let mut out = Vec::with_capacity(256);
    g.bench_function("per-request headers (Date, Cache-Control)", |b| {
        b.iter(|| {
            out.clear();
            clock.dynamic_headers(black_box(now), now + 345_600, &mut out);
            out.len()
        })
    });
    let map: HashMap<Vec<u8>, u32> = (0..200_000u32)
        .map(|i| (i.to_be_bytes().repeat(12), i))
        .collect();
    g.bench_function(
        "std HashMap<Vec<u8>> hit (SipHash, 48-byte key) for scale",
        |b| {
            let k = 77u32.to_be_bytes().repeat(12);
            b.iter(|| map.get(black_box(&k)).copied())
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
