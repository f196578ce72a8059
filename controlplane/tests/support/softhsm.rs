//! A SoftHSM2 token directory for this test process: `SOFTHSM2_CONF` points at a config in a
//! temporary directory, and every token the tests use is created before the library is first
//! loaded (SoftHSM reads its token directory at `C_Initialize`).
// Each test binary uses part of this file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sigil_controlplane::crypto::pkcs11::{KeyLocator, Pkcs11Signer};
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_shared::ocsp::subject_public_key_bits;
use std::process::Command;
use std::sync::OnceLock;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const PIN: &str = "1234-test-pin";
pub const PIN_ENV: &str = "SIGIL_TEST_HSM_PIN";

/// Creates the tokens `labels` (once per process) and returns the temporary directory.
pub fn setup(labels: &[&str]) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run scripts/setup-debian.sh"
        );
        let dir = tempfile::Builder::new()
            .prefix("sigil-softhsm-")
            .tempdir()
            .unwrap()
            .keep();
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Set before any thread loads the library; every test goes through this first.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(PIN_ENV, PIN);
        for label in labels {
            let out = Command::new("softhsm2-util")
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--so-pin",
                    "87654321",
                    "--pin",
                    PIN,
                ])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("run softhsm2-util");
            assert!(
                out.status.success(),
                "softhsm2-util --init-token {label}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
}

pub fn token(label: &str) -> sigil_controlplane::crypto::pkcs11::TokenRef {
    sigil_controlplane::crypto::pkcs11::TokenRef {
        module: MODULE.into(),
        token_label: label.into(),
        pin_env: PIN_ENV.into(),
    }
}

/// A raw cryptoki context and the slot holding the token `label`.
fn slot_of(label: &str) -> (Pkcs11, cryptoki::slot::Slot) {
    let ctx = Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == label)
        .unwrap();
    (ctx, slot)
}

/// A raw cryptoki session on `label` (the library is already initialised by the signer).
pub fn raw_session(label: &str) -> cryptoki::session::Session {
    let (ctx, slot) = slot_of(label);
    let session = ctx.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
    session
}

/// Imports a P-256 key into a token as a sensitive, non-extractable pair labelled `label`.
pub fn import_p256(
    token_label: &str,
    label: &str,
    key: &SoftwareSigner,
    pkcs8: &[u8],
) -> KeyLocator {
    // Make sure the library is initialised (the signer registry does it on first use).
    let _ = Pkcs11Signer::open(
        &[token(token_label)],
        KeyLocator::label("none"),
        KeyAlgorithm::EcdsaP256,
        Vec::new(),
    )
    .probe();
    let (ctx, slot) = slot_of(token_label);
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
    let (_, point) = subject_public_key_bits(key.public_key_der()).unwrap();
    let scalar = p256_scalar(pkcs8);
    let params = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let mut wrapped = vec![0x04, point.len() as u8];
    wrapped.extend_from_slice(point);
    session
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::EcParams(params.clone()),
            Attribute::Value(scalar),
        ])
        .unwrap();
    session
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::EC),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::EcParams(params),
            Attribute::EcPoint(wrapped),
        ])
        .unwrap();
    KeyLocator::label(label)
}

/// The private scalar of a P-256 key, from its PKCS#8 (RFC 5208 PrivateKeyInfo holding an
/// RFC 5915 ECPrivateKey).
fn p256_scalar(pkcs8: &[u8]) -> Vec<u8> {
    use sigil_shared::der::{read_single, Reader};
    let outer = read_single(pkcs8, 0x30).unwrap();
    let mut r = Reader::new(outer.value);
    r.read(0x02).unwrap();
    r.read(0x30).unwrap();
    let inner = r.read(0x04).unwrap();
    let ec = read_single(inner.value, 0x30).unwrap();
    let mut r = Reader::new(ec.value);
    r.read(0x02).unwrap();
    let scalar = r.read(0x04).unwrap().value.to_vec();
    assert_eq!(scalar.len(), 32);
    scalar
}
