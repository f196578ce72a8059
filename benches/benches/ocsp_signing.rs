//! OCSP pre-signing throughput per algorithm: Sigil's full path (encode ResponseData, sign
//! through the `Signer` trait, assemble the OCSPResponse) against a raw aws-lc-rs signing
//! loop over the same ResponseData bytes with the same key. Also the 2-thread figure of
//! Sigil's path, to show scaling across cores.
//!
//! Run: `cargo bench -p sigil-benches --bench ocsp_signing`. Results: docs/PERFORMANCE.md.

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sigil_controlplane::ca::{self, CaRuntime, NewCa};
use sigil_controlplane::crypto::KeyAlgorithm;
use sigil_controlplane::db::CertState;
use sigil_controlplane::ocsp::sign_responses;
use sigil_controlplane::x509;
use sigil_shared::ocsp::{CertStatus, HashAlg, SingleResponse};

enum Raw {
    Ecdsa(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Raw {
    fn new(alg: KeyAlgorithm, pkcs8: &[u8]) -> Self {
        match alg {
            KeyAlgorithm::EcdsaP256 => Raw::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8)
                    .unwrap(),
            ),
            KeyAlgorithm::EcdsaP384 => Raw::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8)
                    .unwrap(),
            ),
            KeyAlgorithm::Ed25519 => {
                Raw::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).unwrap())
            }
            _ => Raw::Rsa(RsaKeyPair::from_pkcs8(pkcs8).unwrap()),
        }
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> usize {
        match self {
            Raw::Ecdsa(k) => k.sign(rng, msg).unwrap().as_ref().len(),
            Raw::Ed(k) => k.sign(msg).as_ref().len(),
            Raw::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, rng, msg, &mut sig)
                    .unwrap();
                sig.len()
            }
        }
    }
}

fn setup(alg: KeyAlgorithm) -> (CaRuntime, std::sync::Arc<ca::Responder>, Vec<u8>) {
    let now = sigil_shared::time::now_unix();
    let new = NewCa {
        id: "bench".into(),
        name: "bench".into(),
        subject: x509::parse_name("CN=Bench CA").unwrap(),
        key_algorithm: alg,
        not_before: now - 60,
        not_after: now + 86_400 * 365,
    };
    let created = ca::create_ca(&new, None, now).unwrap();
    let rt = CaRuntime::new(created.record, created.signer).unwrap();
    let (_, responder, pkcs8) = ca::issue_responder(&rt, 14, now).unwrap();
    (rt, responder, pkcs8.expect("software responder key"))
}

fn bench(c: &mut Criterion) {
    let serial = x509::random_serial();
    let algs = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
    ];
    let mut g = c.benchmark_group("ocsp_sign");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    for alg in algs {
        let (rt, responder, pkcs8) = setup(alg);
        let raw = Raw::new(alg, &pkcs8);
        let rng = SystemRandom::new();
        let now = sigil_shared::time::now_unix();
        // The exact bytes Sigil signs for this certificate.
        let key = rt.hashes_for(HashAlg::Sha256).key_for(&serial);
        let single = SingleResponse {
            cert_id: &key,
            status: CertStatus::Good,
            this_update: now,
            next_update: now + 345_600,
        };
        let data = responder.template.response_data(now, &single);
        let sign = || {
            sign_responses(
                &rt,
                &responder,
                &serial,
                CertState::Active,
                now,
                345_600,
                &[HashAlg::Sha256],
            )
            .unwrap()
        };

        g.bench_function(BenchmarkId::new("raw-aws-lc", alg.name()), |b| {
            b.iter(|| raw.sign(&rng, &data))
        });
        g.bench_function(BenchmarkId::new("sigil", alg.name()), |b| b.iter(sign));
        g.bench_function(BenchmarkId::new("sigil-2-threads", alg.name()), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            for _ in 0..iters.div_ceil(2) {
                                sign();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
