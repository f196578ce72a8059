//! The key service: ciphertexts in KES's three formats, policy writes, and the JSON bodies
//! of the data plane's generate/encrypt/decrypt/HMAC calls.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigil_controlplane::api::kes_import_body;
use sigil_dataplane::kes::wire::{
    self, push_b64_field, DecryptRequest, EncryptRequest, GenerateRequest, HmacRequest,
};
use sigil_kes::policy::Policy;
use sigil_kes::{Algorithm, SecretKey, RANDOM_SIZE};

/// The keys every target decrypts and encrypts with.
fn keys() -> [SecretKey; 2] {
    [Algorithm::Aes256, Algorithm::ChaCha20].map(|alg| SecretKey::new(alg, [0x42; 32]))
}

/// A fixed "random" part: encryption is deterministic here, so runs are reproducible.
const RANDOM: [u8; RANDOM_SIZE] = [0x17; RANDOM_SIZE];

/// Any bytes as a KES ciphertext: format detection (raw, msgpack, JSON) never panics, a
/// structured ciphertext's parts are smaller than their encoding, and nothing decrypts under
/// a fixed key unless it was made with it. As a plaintext, the bytes encrypt and decrypt
/// back, with themselves as context.
pub fn kes_ciphertext(data: &[u8]) {
    assert!(sigil_kes::ciphertext::to_raw(data).len() <= data.len());
    for key in keys() {
        if let Ok(plaintext) = key.decrypt(data, b"") {
            same_encryption(&key, data, b"", &plaintext);
        }
        let sealed = key.encrypt(data, data, &RANDOM);
        assert_eq!(sealed.len(), data.len() + SecretKey::overhead());
        assert_eq!(key.decrypt(&sealed, data).as_deref(), Ok(data));
    }
}

/// `ciphertext` decrypted to `plaintext`: encrypting it again with the ciphertext's own
/// random part gives the ciphertext's raw form.
fn same_encryption(key: &SecretKey, ciphertext: &[u8], context: &[u8], plaintext: &[u8]) {
    let raw = sigil_kes::ciphertext::to_raw(ciphertext);
    let random: [u8; RANDOM_SIZE] = raw[raw.len() - RANDOM_SIZE..].try_into().unwrap();
    assert_eq!(key.encrypt(plaintext, context, &random), *raw);
}

/// Any bytes as a KES policy write: parsing never panics; a parsed policy's patterns all
/// start with '/' and have at most a trailing '*'; it survives JSON (as KES describes it),
/// and denies what its deny patterns name.
pub fn kes_policy(data: &[u8]) {
    let Ok(p) = Policy::from_json(data) else {
        return;
    };
    for pattern in p.allow.iter().chain(&p.deny) {
        assert!(pattern.starts_with('/'));
        assert!(pattern.find('*').is_none_or(|i| i == pattern.len() - 1));
    }
    let json = serde_json::to_vec(&p).unwrap();
    assert_eq!(Policy::from_json(&json).unwrap(), p);
    for denied in &p.deny {
        assert!(!p.allows(denied.trim_end_matches('*')));
    }
    let _ = p.allows("/v1/key/decrypt/k");
}

/// `/v1/key/import/{name}`'s body, as the control plane reads a forwarded one.
fn import(data: &[u8]) {
    let Ok((key, algorithm)) = kes_import_body("my-key", data) else {
        return;
    };
    let b64 = STANDARD.encode(key);
    let body = serde_json::json!({ "key": b64, "cipher": algorithm.name() }).to_string();
    let again = kes_import_body("my-key", body.as_bytes()).expect("KES's form reads");
    assert_eq!(again, (key, algorithm));
    let older = serde_json::json!({ "bytes": b64 }).to_string();
    if algorithm == Algorithm::Aes256 {
        let again = kes_import_body("my-key", older.as_bytes()).expect("the older form reads");
        assert_eq!(again, (key, algorithm));
    }
    assert!(kes_import_body("not a name", data).is_err());
}

/// A version as a request names it is also read in its other spelling.
fn check_version(v: &Option<String>) -> bool {
    match wire::version(v) {
        Ok(Some(n)) => {
            assert_eq!(wire::version(&Some(format!("v{n}"))), Ok(Some(n)));
            true
        }
        Ok(None) => true,
        Err(()) => false,
    }
}

/// Any bytes as the body of `/v1/key/generate`, `/encrypt`, `/decrypt` and `/hmac` on the
/// data plane's KES listener, read as each (KES's JSON: base64 byte fields, `null` or absent
/// empty, an empty body `{}`), then answered as the data plane does with fixed keys:
/// generated and encrypted plaintexts decrypt back (also through the JSON the answer
/// carries), a ciphertext that decrypts is the encryption of its plaintext, HMACs differ per
/// key. And as the body of `/v1/key/import/{name}`, which the control plane reads: an
/// imported key reads the same from the body KES's clients write for it, and from the older
/// form.
pub fn kes_request(data: &[u8]) {
    import(data);
    if let Some(req) = wire::parse::<GenerateRequest>(data) {
        if check_version(&req.version) {
            for key in keys() {
                let sealed = key.encrypt(&[0x33; 32], &req.context, &RANDOM);
                assert!(key.decrypt(&sealed, &req.context).is_ok());
            }
        }
    }
    if let Some(req) = wire::parse::<EncryptRequest>(data) {
        if check_version(&req.version) {
            for key in keys() {
                let sealed = key.encrypt(&req.plaintext, &req.context, &RANDOM);
                // The answer's JSON, sent back in a decrypt call with the same context.
                let mut body = b"{".to_vec();
                push_b64_field(&mut body, "ciphertext", &sealed);
                body.push(b',');
                push_b64_field(&mut body, "context", &req.context);
                body.push(b'}');
                let back: DecryptRequest = wire::parse(&body).expect("answer JSON parses");
                assert_eq!(back.ciphertext, sealed);
                let plaintext = key.decrypt(&back.ciphertext, &back.context);
                assert_eq!(plaintext.as_deref(), Ok(&req.plaintext[..]));
            }
        }
    }
    if let Some(req) = wire::parse::<DecryptRequest>(data) {
        if check_version(&req.version) {
            for key in keys() {
                if let Ok(plaintext) = key.decrypt(&req.ciphertext, &req.context) {
                    same_encryption(&key, &req.ciphertext, &req.context, &plaintext);
                }
            }
        }
    }
    if let Some(req) = wire::parse::<HmacRequest>(data) {
        if check_version(&req.version) {
            let a = sigil_kes::HmacKey::new([1; 32]).sum(&req.message);
            let b = sigil_kes::HmacKey::new([2; 32]).sum(&req.message);
            assert_ne!(a, b);
        }
    }
}
