//! KES's published vectors (minio/kes `internal/crypto/key_test.go`): ciphertexts in all three
//! formats that KES decrypts, and ones it refuses; round trips of both algorithms.

use base64::Engine;
use proptest::prelude::*;

use super::*;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn key(alg: Algorithm, b64_key: &str) -> SecretKey {
    SecretKey::new(alg, b64(b64_key).try_into().unwrap())
}

const ZERO: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const KEY: &str = "dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=";
const ZERO16: &str = "AAAAAAAAAAAAAAAAAAAAAA==";
const TEXT: &str = "CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==";

/// (algorithm, key, plaintext, associated data, ciphertext bytes).
fn decryptable() -> Vec<(Algorithm, &'static str, &'static str, &'static str, Vec<u8>)> {
    use Algorithm::*;
    vec![
        // JSON
        (Aes256, ZERO, ZERO16, "", br#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#.to_vec()),
        (ChaCha20, ZERO, ZERO16, "", br#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#.to_vec()),
        (ChaCha20, ZERO, ZERO16, "", br#"{"aead":"ChaCha20Poly1305","id":"66687aadf862bd776c8fc18b8e9f8e20","iv":"EC0eZp7Pqt+LnkOae5xaAg==","nonce":"X1ejXKmH/ugFZPkk","bytes":"wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI="}"#.to_vec()),
        // msgpack
        (Aes256, ZERO, ZERO16, "", b64("lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=")),
        (ChaCha20, ZERO, ZERO16, "", b64("lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiErbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu")),
        // raw
        (Aes256, ZERO, ZERO16, "", b64("zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc")),
        (Aes256, KEY, TEXT, ZERO16, b64("s2gmfQHeGdlyL8x1yEWSACUV3GrSoz3t160hugMgzKWgyqesXDVUJ5Dw5Mt076rR1PNiU9X4YjLH14D8a81t2r2xsz4gVZac")),
        (ChaCha20, KEY, TEXT, ZERO16, b64("gO4woRIswAJdjUjW7z2ApsSQxJlwB24yjLrmH4eI7sB0uh5nfEJfk9ybTPFft5FRFaZCVBmzhx7OJs9n0WWtxH3sySIxecIK")),
    ]
}

#[test]
fn kes_vectors_decrypt() {
    for (i, (alg, k, pt, ad, ct)) in decryptable().into_iter().enumerate() {
        let got = key(alg, k).decrypt(&ct, &b64(ad));
        assert_eq!(got, Ok(b64(pt)), "vector {i}");
    }
}

#[test]
fn kes_refusals_are_refused() {
    use Algorithm::*;
    for (i, (alg, ct)) in [
        // The pre-2020 "AES-256-GCM" KDF is not a PRF; KES no longer accepts it.
        (Aes256, r#"{"aead":"AES-256-GCM","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#),
        (Aes256, r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"EjOY4JKqjIrPmQ5z1KSR8zlhggY=","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#),
        (ChaCha20, r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"SXAbms731/c=","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#),
        (Aes256, r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"efY+4kYF9n8=","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#),
        (Aes256, r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"QTza1g5oX3f9cGJMbY1xJwWPj1F7R2VnNl6XpFKYQy0="}"#),
        (ChaCha20, r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"TTi8pkO+Jh1JWAHvPxZeUk/iVoBPUCE4ZSVGBy3fW2s="}"#),
        (Aes256, r#"{"aead":"AES-256-GCM-HMAC-SHA-256" "iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(key(alg, ZERO).decrypt(ct.as_bytes(), &[]), Err(DecryptError), "refusal {i}");
    }
}

#[test]
fn wrong_key_algorithm_or_context_is_not_authentic() {
    let (alg, k, _, ad, ct) = decryptable().swap_remove(6);
    assert!(key(alg, k).decrypt(&ct, &b64(ad)).is_ok());
    assert_eq!(key(alg, k).decrypt(&ct, b"other"), Err(DecryptError));
    assert_eq!(key(alg, ZERO).decrypt(&ct, &b64(ad)), Err(DecryptError));
    assert_eq!(
        key(Algorithm::ChaCha20, k).decrypt(&ct, &b64(ad)),
        Err(DecryptError)
    );
    // Too short to hold iv and nonce, and exactly that long.
    assert_eq!(
        key(alg, k).decrypt(&ct[..RANDOM_SIZE], &[]),
        Err(DecryptError)
    );
    assert_eq!(key(alg, k).decrypt(&[], &[]), Err(DecryptError));
}

#[test]
fn raw_format_is_sealed_then_iv_then_nonce() {
    let k = key(Algorithm::Aes256, KEY);
    let random: [u8; RANDOM_SIZE] = std::array::from_fn(|i| i as u8);
    let ct = k.encrypt(b"data key", b"{\"bucket\":\"b/o\"}", &random);
    assert_eq!(ct.len(), 8 + SecretKey::overhead());
    assert_eq!(&ct[ct.len() - RANDOM_SIZE..], &random);
    // Deterministic for fixed randomness: the same bytes again.
    assert_eq!(k.encrypt(b"data key", b"{\"bucket\":\"b/o\"}", &random), ct);
}

#[test]
fn hmac_is_hmac_sha256() {
    // RFC 4231 test case 1: key 0x0b × 20, "Hi There". HMAC pads a key shorter than the hash
    // block with zeros, so the same key padded to 32 bytes gives the same MAC.
    let mut bytes = [0u8; 32];
    bytes[..20].fill(0x0b);
    assert_eq!(
        hex::encode(HmacKey::new(bytes).sum(b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
}

proptest! {
    #[test]
    fn round_trip(
        aes in any::<bool>(),
        bytes in any::<[u8; 32]>(),
        random in any::<[u8; 28]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        ad in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let alg = if aes { Algorithm::Aes256 } else { Algorithm::ChaCha20 };
        let k = SecretKey::new(alg, bytes);
        let ct = k.encrypt(&plaintext, &ad, &random);
        prop_assert_eq!(ct.len(), plaintext.len() + SecretKey::overhead());
        prop_assert_eq!(k.decrypt(&ct, &ad), Ok(plaintext));
    }

    #[test]
    fn any_change_is_not_authentic(
        bytes in any::<[u8; 32]>(),
        random in any::<[u8; 28]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 1..64),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = SecretKey::new(Algorithm::Aes256, bytes);
        let mut ct = k.encrypt(&plaintext, b"", &random);
        let i = flip.index(ct.len());
        ct[i] ^= 1 << bit;
        prop_assert_eq!(k.decrypt(&ct, b""), Err(DecryptError));
    }
}
