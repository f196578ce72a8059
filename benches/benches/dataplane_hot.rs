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
use sigil_dataplane::ocsp::{select, Answer, Found, OcspLookup};
use sigil_dataplane::render::{push_entity_head, quoted_etag, Clock, Rendered};
use sigil_dataplane::schema::{cf, META_APPLIED};
use sigil_shared::ocsp::{
    decode_request, encode_request, CertIdFields, CertIdKey, CertStatus, HashAlg,
    ResponderTemplate, SingleResponse,
};
use sigil_shared::replication::OcspEntry;
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

/// A DER OCSPRequest for one SHA-1 CertID with a 20-octet serial (what browsers send).
fn request(serial: &[u8; 20]) -> Vec<u8> {
    encode_request(&[CertIdFields::new(
        HashAlg::Sha1,
        &[0x11; 20],
        &[0x22; 20],
        serial,
    )])
}

struct CacheLookup(std::cell::RefCell<Cache>);

impl OcspLookup for CacheLookup {
    fn lookup(&self, key: &[u8]) -> Option<Found> {
        self.0.borrow().get(key).map(Found::Rendered)
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
            Answer::Found(Found::Rendered(r)) => r.body.len(),
            _ => 0,
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
    index_benches(&mut g, now);
    g.finish();
}

/// A replica of `n` certificates with ECDSA-sized responses carrying a 500-byte responder
/// certificate, as the data plane's OCSP index.
fn index_of(n: u32, now: i64) -> (sigil_dataplane::index::Index, Vec<CertIdKey>) {
    let store = MemStore::new(cf::ALL);
    let t = ResponderTemplate::new(
        &[7; 20],
        vec![
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ],
        &[vec![0x30; 500]],
    );
    let mut keys = Vec::new();
    let mut b = WriteBatch::new();
    for i in 0..n {
        let mut s = [0x5a; 20];
        s[..4].copy_from_slice(&i.to_be_bytes());
        let key = CertIdKey::new(HashAlg::Sha1, &[0x11; 20], &[0x22; 20], &s);
        let single = SingleResponse {
            cert_id: &key,
            status: CertStatus::Good,
            this_update: now - 10,
            next_update: now + 345_600,
        };
        let der = t.finish(&t.response_data(now - 10, &single), &[0x42; 72]);
        let e = OcspEntry {
            key: key.clone(),
            issuer_id: "ca".into(),
            der,
            this_update: now - 10,
            next_update: now + 345_600,
        };
        b.put(cf::OCSP, key.0.clone(), postcard::to_stdvec(&e).unwrap());
        keys.push(key);
    }
    b.put(cf::META, META_APPLIED.to_vec(), 1u64.to_be_bytes().to_vec());
    store.write(b, Durability::Buffered).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = sigil_dataplane::index::build::build(&store, dir.path(), 0).unwrap();
    (index, keys)
}

fn index_benches(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    now: i64,
) {
    let (index, keys) = index_of(200_000, now);
    let mut i = 0usize;
    let mut head = Vec::with_capacity(256);
    let mut body = Vec::with_capacity(2048);
    // Keys in a scattered order so that consecutive lookups do not share cache lines.
    g.bench_function("index: find + headers + response (200k entries)", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            let (_, e) = index.find(black_box(keys[i].as_bytes())).unwrap();
            head.clear();
            body.clear();
            let etag = quoted_etag(&e.etag);
            push_entity_head(
                &mut head,
                b"application/ocsp-response",
                e.this_update,
                e.next_update,
                &etag,
            );
            index.write_response(&e, &mut body);
            head.len() + body.len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
