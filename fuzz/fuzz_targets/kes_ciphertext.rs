//! Any byte string as a KES ciphertext: format detection (raw, msgpack, JSON) and decryption
//! never panic, and nothing decrypts that was not encrypted under the key (with a fixed key and
//! empty context, a forgery would be an AEAD break).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil_kes::{Algorithm, SecretKey};

fuzz_target!(|data: &[u8]| {
    // A structured ciphertext's parts are smaller than their encoding.
    assert!(sigil_kes::ciphertext::to_raw(data).len() <= data.len());
    for alg in [Algorithm::Aes256, Algorithm::ChaCha20] {
        assert!(SecretKey::new(alg, [0x42; 32]).decrypt(data, b"").is_err());
    }
});
