//! Recovery of the PKCS#11 signer: the library finalized underneath it (as a token reset or a
//! crashed HSM client would), and the token logged out behind its back. Signing must recover
//! (re-initialise or reopen, log in, look the key up again) and never use a stale handle.
//! Separate test binary: finalizing the library affects every user in the process.

#[path = "support/softhsm.rs"]
mod softhsm;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sigil_controlplane::crypto::pkcs11::{Module, Pkcs11Signer};
use sigil_controlplane::crypto::{HealthState, KeyAlgorithm, Signer};
use sigil_shared::ocsp::subject_public_key_bits;
use softhsm::{setup, token, MODULE, PIN};

const TOKENS: &[&str] = &["recover"];

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
