//! The key service's per-request work that is not I/O, on this machine's CPU (criterion; the
//! callgrind profile of `benches/peers/kes-peers.sh` runs under valgrind, whose CPU lacks
//! SHA-NI and AVX-512, so its crypto instruction counts are not this CPU's):
//! * the key lookup in a core's keyring of 1,000 keys (`Keyring::key`, borrowing the request's
//!   name);
//! * KES's AEADs on a 32-byte data key with a MinIO-like context, `SecretKey::decrypt` and
//!   `encrypt` (per-message key derivation included), against a raw AES-256-GCM open/seal of
//!   the same bytes with a key prepared once: the difference is KES's per-message key.
//!
//! Run: `cargo bench -p sigil-benches --bench kes_hot`. Results: docs/PERFORMANCE.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sigil_dataplane::kes::Keyring;
use sigil_dataplane::schema::cf;
use sigil_kes::wrap::KeyMaterial;
use sigil_kes::{Algorithm, HmacKey, Kek, SecretKey, RANDOM_SIZE};
use sigil_shared::replication::{KesKeyState, KesKeyVersion};
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

const CONTEXT: &[u8] = br#"{"bucket":"bucket/object-17"}"#;

/// A keyring of `n` AES256 keys `minio-key-<i>`, read as a data-plane core reads it.
fn keyring(n: u32) -> Keyring {
    let kek = Kek::new("kek-bench", [3; 32]);
    let store = MemStore::new(cf::ALL);
    let mut b = WriteBatch::new();
    for i in 0..n {
        let name = format!("minio-key-{i}");
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        let material = KeyMaterial {
            key: SecretKey::new(Algorithm::Aes256, bytes),
            hmac: HmacKey::new([9; 32]),
        };
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&i.to_be_bytes());
        let wrapped = kek.wrap(&name, 1, &material, nonce);
        let state = KesKeyState {
            name: name.clone(),
            created_at: 1_800_000_000,
            created_by: "bench".into(),
            versions: vec![KesKeyVersion {
                version: 1,
                algorithm: "AES256".into(),
                created_at: 1_800_000_000,
                kek_id: wrapped.kek_id,
                nonce: wrapped.nonce,
                sealed: wrapped.sealed,
            }],
        };
        b.put(
            cf::KES_KEYS,
            name.into_bytes(),
            postcard::to_stdvec(&state).unwrap(),
        );
    }
    store.write(b, Durability::Buffered).unwrap();
    let ring = Keyring::load(&store, &kek, 1);
    assert_eq!(ring.key_names().count(), n as usize, "every key unwrapped");
    ring
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("kes");
    g.throughput(Throughput::Elements(1));

    let ring = keyring(1000);
    // The name as a request carries it: a slice of the request's path.
    let path = String::from("/v1/key/decrypt/minio-key-517");
    let name = &path["/v1/key/decrypt/".len()..];
    g.bench_function("Keyring::key (1,000 keys)", |b| {
        b.iter(|| ring.key(black_box(name)).is_some())
    });

    let random: [u8; RANDOM_SIZE] = core::array::from_fn(|i| i as u8);
    let data_key = [0x5au8; 32];
    for algorithm in [Algorithm::Aes256, Algorithm::ChaCha20] {
        let key = SecretKey::new(algorithm, [7; 32]);
        let ciphertext = key.encrypt(&data_key, CONTEXT, &random);
        g.bench_function(
            format!("SecretKey::decrypt {algorithm}, 32-byte data key"),
            |b| b.iter(|| key.decrypt(black_box(&ciphertext), CONTEXT).unwrap()),
        );
        g.bench_function(
            format!("SecretKey::encrypt {algorithm}, 32-byte data key"),
            |b| b.iter(|| key.encrypt(black_box(&data_key), CONTEXT, &random)),
        );
    }

    // For scale: AES-256-GCM alone over the same bytes, its key prepared once (what KES's
    // format adds per message is the HMAC-SHA256 key derivation and the key schedule).
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let prepared = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());
    let mut sealed = data_key.to_vec();
    prepared
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([1; 12]),
            Aad::from(CONTEXT),
            &mut sealed,
        )
        .unwrap();
    g.bench_function("AES-256-GCM open, key prepared once (no derivation)", |b| {
        b.iter(|| {
            let mut buf = black_box(&sealed).clone();
            prepared
                .open_in_place(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(CONTEXT),
                    &mut buf,
                )
                .map(|p| p.len())
                .unwrap()
        })
    });
    let mut sealed_buf = Vec::with_capacity(64);
    g.bench_function("AES-256-GCM seal, key prepared once (no derivation)", |b| {
        b.iter(|| {
            sealed_buf.clear();
            sealed_buf.extend_from_slice(black_box(&data_key));
            prepared
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(CONTEXT),
                    &mut sealed_buf,
                )
                .unwrap();
            sealed_buf.len()
        })
    });
    g.bench_function(
        "per-message key: HMAC-SHA256(key, iv) + AES-256 key setup",
        |b| {
            b.iter(|| {
                let tag = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]),
                    black_box(&random[..16]),
                );
                LessSafeKey::new(UnboundKey::new(&AES_256_GCM, tag.as_ref()).unwrap())
            })
        },
    );
    // What KES's AES256 derivation would cost with the HMAC key's state (the hashed ipad and
    // opad blocks) kept per key version instead of rebuilt per message.
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]);
    g.bench_function(
        "HMAC-SHA256(key, iv) alone, HMAC key rebuilt per message",
        |b| {
            b.iter(|| {
                aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]),
                    black_box(&random[..16]),
                )
            })
        },
    );
    g.bench_function("HMAC-SHA256(key, iv) alone, HMAC key prepared once", |b| {
        b.iter(|| aws_lc_rs::hmac::sign(&hmac_key, black_box(&random[..16])))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
