//! Recovery of the PKCS#11 signer: the library finalized underneath it (as a token reset or a
//! crashed HSM client would), and the token logged out behind its back. Signing must recover
//! (re-initialise or reopen, log in, look the key up again) and never use a stale handle.
//! A key deleted from its token is taken out of rotation and brought back by the background
//! prober once it is there again. Separate test binary: finalizing the library affects every
//! user in the process.

#[path = "support/softhsm.rs"]
mod softhsm;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sigil_controlplane::crypto::pkcs11::{Module, Pkcs11Signer};
use sigil_controlplane::crypto::{HealthState, KeyAlgorithm, Signer, SoftwareSigner};
use sigil_shared::ocsp::subject_public_key_bits;
use softhsm::{import_p256, setup, token, MODULE, PIN};

const TOKENS: &[&str] = &["recover", "refind"];

/// The tests reset the shared library: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(s: &Pkcs11Signer, msg: &[u8]) {
    let sig = s.sign(msg).expect("signing after recovery");
    let (_, key) = subject_public_key_bits(s.public_key_der()).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key)
        .verify(msg, &sig)
        .expect("signature verifies");
}

#[test]
fn signing_recovers_from_a_finalized_library_and_a_logout() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    setup(TOKENS);
    let path = std::path::Path::new(MODULE);
    let (s, _) =
        Pkcs11Signer::find_or_generate(&[token("recover")], "ca", KeyAlgorithm::EcdsaP256).unwrap();
    let (r, _) =
        Pkcs11Signer::find_or_generate(&[token("recover")], "ca.ocsp", KeyAlgorithm::EcdsaP256)
            .unwrap();
    check(&s, b"before");
    check(&r, b"before");

    // 1. C_Finalize underneath: the next call sees CKR_CRYPTOKI_NOT_INITIALIZED.
    let g0 = Module::generation_of(path);
    Module::finalize_underneath_for_tests(path);
    check(&s, b"after finalize");
    check(&r, b"after finalize");
    assert_eq!(Module::generation_of(path), g0 + 1, "one re-initialisation");
    assert_eq!(s.health().state, HealthState::Healthy);

    // 2. Logged out behind the pool's back (C_Logout from another session of this process
    //    logs out every session): CKR_USER_NOT_LOGGED_IN, sessions reopened, login again.
    {
        let ctx = Pkcs11::new(MODULE).unwrap();
        let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|sl| ctx.get_token_info(*sl).unwrap().label() == "recover")
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
        session.logout().unwrap();
    }
    check(&s, b"after logout");
    assert_eq!(
        Module::generation_of(path),
        g0 + 1,
        "no re-initialisation needed"
    );
}

#[test]
fn concurrent_signers_survive_repeated_resets() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    setup(TOKENS);
    let path = std::path::Path::new(MODULE);
    let (s, _) =
        Pkcs11Signer::find_or_generate(&[token("recover")], "busy", KeyAlgorithm::EcdsaP256)
            .unwrap();
    let s = Arc::new(s);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    check(&s, format!("{i}-{n}").as_bytes());
                    n += 1;
                }
                n
            })
        })
        .collect();
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        Module::finalize_underneath_for_tests(path);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let total: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(total > 0);
    check(&s, b"after the storm");
}

/// Destroys every object labelled `label` on token `token_label` (through this process's
/// library, as another application would).
fn destroy(token_label: &str, label: &str) {
    let ctx = Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|sl| ctx.get_token_info(*sl).unwrap().label() == token_label)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let template = [
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        for o in session.find_objects(&template).unwrap() {
            session.destroy_object(o).unwrap();
        }
    }
}

#[test]
fn a_deleted_key_leaves_the_rotation_and_returns_when_imported_again() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    setup(TOKENS);
    let path = std::path::Path::new(MODULE);
    let (soft, pkcs8) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let key = import_p256("refind", "returning", &soft, &pkcs8);
    let s = Pkcs11Signer::open(
        &[token("refind")],
        key,
        KeyAlgorithm::EcdsaP256,
        soft.public_key_der().to_vec(),
    );
    assert_eq!(s.probe(), 1);
    check(&s, b"before");
    let g0 = Module::generation_of(path);

    destroy("refind", "returning");
    let err = s.sign(b"gone").unwrap_err().to_string();
    assert!(err.contains("no private key labelled"), "{err}");
    let h = s.health();
    assert_eq!(h.state, HealthState::Unhealthy, "{h:?}");
    assert_eq!(h.replicas[0].state, "down");
    assert!(h.replicas[0].unavailable_since.is_some());
    // Out of rotation: refused at once with the same reason, the token untouched.
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(s.sign(b"fast").unwrap_err().to_string(), err);
    }
    assert!(started.elapsed() < std::time::Duration::from_millis(500));

    // Probed in the background (first after 0.5 s): back without anyone signing.
    import_p256("refind", "returning", &soft, &pkcs8);
    let started = std::time::Instant::now();
    while s.health().state != HealthState::Healthy {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "not back: {:?}",
            s.health()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(&s, b"after");
    assert_eq!(s.health().replicas[0].signatures_total, 2);
    assert_eq!(
        Module::generation_of(path),
        g0,
        "a key lookup was enough: no re-initialisation"
    );
}
