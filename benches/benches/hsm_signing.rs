//! HSM signing through the PKCS#11 backend against a raw cryptoki `C_Sign` loop on the same
//! SoftHSM2 token and key (target: backend ≥ 0.9× raw), on one and two threads; and OCSP
//! pre-signing throughput of a CA whose key and delegated responder key live in the token.
//!
//! The token is created in a temporary directory (`SOFTHSM2_CONF`) by `softhsm2-util`.
//! Run: `cargo bench -p sigil-benches --bench hsm_signing -- --noplot`. Results:
//! docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sigil_controlplane::ca::{self, CaRuntime, NewCa};
use sigil_controlplane::crypto::pkcs11::{Pkcs11Signer, TokenRef};
use sigil_controlplane::crypto::{KeyAlgorithm, Signer};
use sigil_controlplane::db::{CertState, KeyRef};
use sigil_controlplane::ocsp::sign_responses;
use sigil_controlplane::x509;
use sigil_shared::ocsp::HashAlg;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "bench";
const PIN: &str = "bench-pin-1234";
const PIN_ENV: &str = "SIGIL_BENCH_HSM_PIN";

/// A token directory with token `bench`; sets `SOFTHSM2_CONF` and the PIN variable.
fn softhsm() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sigil-bench-hsm-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var(PIN_ENV, PIN);
    let ok = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", LABEL])
        .args(["--so-pin", "bench-so-pin", "--pin", PIN])
        .status()
        .unwrap()
        .success();
    assert!(ok, "softhsm2-util --init-token failed");
    dir
}

fn token() -> TokenRef {
    TokenRef {
        module: MODULE.into(),
        token_label: LABEL.into(),
        pin_env: PIN_ENV.into(),
    }
}

/// A raw cryptoki session on the bench token and the private key labelled `key_label`.
fn raw_session(key_label: &str) -> (Session, ObjectHandle) {
    let ctx = Pkcs11::new(Path::new(MODULE)).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == LABEL)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ])
        .unwrap()[0];
    (session, key)
}

/// What the backend asks of the token for one signature, done directly: hash, then C_Sign.
fn raw_sign(alg: KeyAlgorithm, session: &Session, key: ObjectHandle, msg: &[u8]) -> usize {
    match alg {
        KeyAlgorithm::EcdsaP256 => {
            let h = digest::digest(&digest::SHA256, msg);
            session
                .sign(&Mechanism::Ecdsa, key, h.as_ref())
                .unwrap()
                .len()
        }
        KeyAlgorithm::Ed25519 => {
            let m = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
            session.sign(&m, key, msg).unwrap().len()
        }
        _ => {
            let mut info = vec![
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ];
            info.extend_from_slice(digest::digest(&digest::SHA256, msg).as_ref());
            session.sign(&Mechanism::RsaPkcs, key, &info).unwrap().len()
        }
    }
}

/// Runs `f` `iters` times spread over `threads` threads; the wall time.
fn threaded(iters: u64, threads: u64, f: &(dyn Fn(u64) + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || f(t));
        }
    });
    let _ = iters;
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let _dir = softhsm();
    // ResponseData-sized message (an OCSP response's signed part is ~100-250 bytes).
    let msg = vec![0x5a; 200];

    let mut g = c.benchmark_group("hsm_sign");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
    ] {
        let label = format!("bench-{}", alg.name());
        let (signer, _) = Pkcs11Signer::find_or_generate(&[token()], &label, alg).unwrap();
        let (session, key) = raw_session(&label);
        g.bench_function(BenchmarkId::new("raw-cryptoki", alg.name()), |b| {
            b.iter(|| raw_sign(alg, &session, key, &msg))
        });
        g.bench_function(BenchmarkId::new("sigil-pkcs11", alg.name()), |b| {
            b.iter(|| signer.sign(&msg).unwrap())
        });
        // Two threads: the raw loop with a session per thread, the backend with its pool.
        let sessions: Vec<(Session, ObjectHandle)> = (0..2).map(|_| raw_session(&label)).collect();
        let sessions = std::sync::Mutex::new(sessions);
        g.bench_function(
            BenchmarkId::new("raw-cryptoki-2-threads", alg.name()),
            |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(2);
                    let mine: Vec<_> = std::mem::take(&mut *sessions.lock().unwrap());
                    let start = Instant::now();
                    let back: Vec<_> = std::thread::scope(|s| {
                        let hs: Vec<_> = mine
                            .into_iter()
                            .map(|(sess, k)| {
                                let msg = &msg;
                                s.spawn(move || {
                                    for _ in 0..per {
                                        raw_sign(alg, &sess, k, msg);
                                    }
                                    (sess, k)
                                })
                            })
                            .collect();
                        hs.into_iter().map(|h| h.join().unwrap()).collect()
                    });
                    let t = start.elapsed();
                    *sessions.lock().unwrap() = back;
                    t
                })
            },
        );
        g.bench_function(
            BenchmarkId::new("sigil-pkcs11-2-threads", alg.name()),
            |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(2);
                    threaded(iters, 2, &|_| {
                        for _ in 0..per {
                            signer.sign(&msg).unwrap();
                        }
                    })
                })
            },
        );
    }
    g.finish();

    // OCSP pre-signing with an HSM CA (key and delegated responder key in the token).
    let mut g = c.benchmark_group("hsm_ocsp_presign");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let now = sigil_shared::time::now_unix();
    let new = NewCa {
        id: "bench-hsm".into(),
        name: "bench-hsm".into(),
        subject: x509::parse_name("CN=Bench HSM CA").unwrap(),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        not_before: now - 60,
        not_after: now + 86_400 * 365,
    };
    let key = KeyRef::Pkcs11 {
        tokens: vec![token()],
        key_label: "bench-hsm-ca".into(),
    };
    let created = ca::create_ca_in(&new, &key, None, now).unwrap();
    let rt = CaRuntime::new(created.record, created.signer).unwrap();
    let (_, responder, pkcs8) = ca::issue_responder(&rt, 14, now).unwrap();
    assert!(pkcs8.is_none(), "the responder key is in the token");
    let serial = x509::random_serial();
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
    g.bench_function(BenchmarkId::new("sigil-hsm", "ecdsa-p256"), |b| {
        b.iter(sign)
    });
    g.bench_function(BenchmarkId::new("sigil-hsm-2-threads", "ecdsa-p256"), |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(2);
            threaded(iters, 2, &|_| {
                for _ in 0..per {
                    sign();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
