//! The KES-compatible key service (docs/KES.md): `PUT /v1/key/{decrypt|encrypt|generate}/{name}`
//! with KES's JSON bodies, as MinIO sends them — 32-byte data keys and a context like MinIO's
//! `{"bucket":"bucket/object"}` (here `{"bucket":"bucket/object-<i>"}`, one per item).
//!
//! Every item's body is built once, before the run:
//! * `kes-decrypt`: `{"ciphertext": b64, "context": b64}`, the ciphertext of a random data key
//!   made here with the key's material ([`SecretKey::encrypt`], KES's raw format), so the
//!   server's key must decrypt it; the answer's `plaintext` must be one of those data keys.
//! * `kes-encrypt`: `{"plaintext": b64, "context": b64}` of a random data key; the answer's
//!   `ciphertext` must be as long as KES's raw format of it (data key, tag, iv, nonce).
//! * `kes-generate`: `{"context": b64}`; the answer's `plaintext` must be a 32-byte data key
//!   and its `ciphertext` that key's raw-format length.
//!
//! A success is HTTP 200, `application/json`, and the field(s) above; an answer without them
//! is `parse`, one with a data key none of the ciphertexts holds is `content`.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sigil_kes::{SecretKey, KEY_SIZE, RANDOM_SIZE};

use super::{expect_content_type, expect_status, Scenario};
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

/// Which key operation a [`Kes`] scenario requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KesOp {
    Decrypt,
    Encrypt,
    Generate,
}

impl KesOp {
    /// The operation's path segment (`/v1/key/{op}/{name}`).
    pub const fn path_segment(self) -> &'static str {
        match self {
            KesOp::Decrypt => "decrypt",
            KesOp::Encrypt => "encrypt",
            KesOp::Generate => "generate",
        }
    }
}

/// Bytes of KES's raw ciphertext of a `plaintext_len`-byte plaintext.
pub const fn ciphertext_len(plaintext_len: usize) -> usize {
    plaintext_len + SecretKey::overhead()
}

/// The context of item `i`: MinIO's `{"bucket":"<bucket>/<object>"}` shape.
pub fn context(i: usize) -> Vec<u8> {
    format!("{{\"bucket\":\"bucket/object-{i}\"}}").into_bytes()
}

/// `PUT /v1/key/{op}/{name}` over prebuilt bodies.
pub struct Kes {
    op: KesOp,
    key_name: String,
    path: String,
    bodies: Vec<Vec<u8>>,
    /// `kes-decrypt`: the data keys the ciphertexts hold.
    data_keys: HashSet<[u8; KEY_SIZE]>,
}

const HEADERS: &[(&str, &str)] = &[("Content-Type", "application/json")];

impl Kes {
    /// `items` ciphertexts of random data keys under `key` (the material of the server's
    /// key `key_name`), each with its item's context. `fill` provides the randomness (data
    /// keys, ivs and nonces): a CSPRNG, so that no iv and nonce repeats under the key.
    pub fn decrypt(
        key_name: &str,
        key: &SecretKey,
        items: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Self {
        let mut data_keys = HashSet::with_capacity(items);
        let bodies = (0..items)
            .map(|i| {
                let mut data_key = [0u8; KEY_SIZE];
                fill(&mut data_key);
                let mut random = [0u8; RANDOM_SIZE];
                fill(&mut random);
                let ctx = context(i);
                let ciphertext = key.encrypt(&data_key, &ctx, &random);
                data_keys.insert(data_key);
                json_body(&[("ciphertext", &ciphertext), ("context", &ctx)])
            })
            .collect();
        Self::with(KesOp::Decrypt, key_name, bodies, data_keys)
    }

    /// `items` random data keys to encrypt, each with its item's context.
    pub fn encrypt(key_name: &str, items: usize, fill: &mut dyn FnMut(&mut [u8])) -> Self {
        let bodies = (0..items)
            .map(|i| {
                let mut data_key = [0u8; KEY_SIZE];
                fill(&mut data_key);
                json_body(&[("plaintext", &data_key), ("context", &context(i))])
            })
            .collect();
        Self::with(KesOp::Encrypt, key_name, bodies, HashSet::new())
    }

    /// `items` contexts to generate data keys for.
    pub fn generate(key_name: &str, items: usize) -> Self {
        let bodies = (0..items)
            .map(|i| json_body(&[("context", &context(i))]))
            .collect();
        Self::with(KesOp::Generate, key_name, bodies, HashSet::new())
    }

    fn with(
        op: KesOp,
        key_name: &str,
        bodies: Vec<Vec<u8>>,
        data_keys: HashSet<[u8; KEY_SIZE]>,
    ) -> Self {
        assert!(!bodies.is_empty(), "a KES scenario needs at least one item");
        Kes {
            op,
            key_name: key_name.into(),
            path: format!("/v1/key/{}/{key_name}", op.path_segment()),
            bodies,
            data_keys,
        }
    }

    pub fn op(&self) -> KesOp {
        self.op
    }
}

/// `{"name": "<base64>", …}`.
fn json_body(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"{".to_vec();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(STANDARD.encode(value).as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    out
}

/// The fields of KES's key answers (`{"plaintext"}`, `{"ciphertext"}`, both for generate).
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    plaintext: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ciphertext: Option<Cow<'a, str>>,
}

/// `field`'s base64, which must decode to exactly `N` bytes.
fn decode_exact<const N: usize>(field: Option<&Cow<'_, str>>) -> Result<[u8; N], ErrorKind> {
    let field = field.ok_or(ErrorKind::Parse)?;
    // Room for one more byte, so that a longer value is told from an exact one.
    let mut buf = [0u8; 128];
    let n = STANDARD
        .decode_slice(field.as_bytes(), &mut buf)
        .map_err(|_| ErrorKind::Parse)?;
    if n != N {
        return Err(ErrorKind::Parse);
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    Ok(out)
}

const CIPHERTEXT_LEN: usize = ciphertext_len(KEY_SIZE);

impl Scenario for Kes {
    fn name(&self) -> &'static str {
        match self.op {
            KesOp::Decrypt => "kes-decrypt",
            KesOp::Encrypt => "kes-encrypt",
            KesOp::Generate => "kes-generate",
        }
    }

    fn describe(&self) -> String {
        let what = match self.op {
            KesOp::Decrypt => "ciphertexts of 32-byte data keys",
            KesOp::Encrypt => "32-byte data keys",
            KesOp::Generate => "data-key requests",
        };
        format!(
            "KES {} with key {:?}, {} {what}, contexts {{\"bucket\":\"bucket/object-<i>\"}}",
            self.op.path_segment(),
            self.key_name,
            self.bodies.len()
        )
    }

    fn items(&self) -> u64 {
        self.bodies.len() as u64
    }

    fn request(&self, item: u64) -> Request<'_> {
        Request {
            method: "PUT",
            path: self.path.as_str().into(),
            headers: HEADERS,
            body: self.bodies[item as usize].as_slice().into(),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        expect_status(resp, 200)?;
        expect_content_type(resp, "application/json")?;
        let answer: Answer<'_> = serde_json::from_slice(resp.body).map_err(|_| ErrorKind::Parse)?;
        match self.op {
            KesOp::Decrypt => {
                let data_key = decode_exact::<KEY_SIZE>(answer.plaintext.as_ref())?;
                if self.data_keys.contains(&data_key) {
                    Ok(())
                } else {
                    Err(ErrorKind::Content)
                }
            }
            KesOp::Encrypt => decode_exact::<CIPHERTEXT_LEN>(answer.ciphertext.as_ref()).map(drop),
            KesOp::Generate => {
                decode_exact::<KEY_SIZE>(answer.plaintext.as_ref())?;
                decode_exact::<CIPHERTEXT_LEN>(answer.ciphertext.as_ref()).map(drop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_kes::Algorithm;

    /// Deterministic "randomness" for tests: a counter.
    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(1);
                *b = n;
            }
        }
    }

    fn json(resp: &[u8]) -> serde_json::Value {
        serde_json::from_slice(resp).unwrap()
    }

    fn b64(v: &serde_json::Value) -> Vec<u8> {
        STANDARD.decode(v.as_str().unwrap()).unwrap()
    }

    fn ok_resp(body: &[u8]) -> Response<'_> {
        Response {
            status: 200,
            content_type: Some(b"application/json"),
            body,
        }
    }

    #[test]
    fn decrypt_bodies_hold_ciphertexts_the_key_decrypts() {
        let key = SecretKey::new(Algorithm::Aes256, [7; 32]);
        let s = Kes::decrypt("my-key", &key, 3, &mut counter());
        assert_eq!((s.name(), s.items()), ("kes-decrypt", 3));
        let mut seen = HashSet::new();
        for i in 0..3 {
            let req = s.request(i);
            assert_eq!((req.method, &*req.path), ("PUT", "/v1/key/decrypt/my-key"));
            assert_eq!(req.headers, HEADERS);
            let body = json(&req.body);
            let ctx = b64(&body["context"]);
            assert_eq!(
                ctx,
                format!("{{\"bucket\":\"bucket/object-{i}\"}}").as_bytes()
            );
            let ciphertext = b64(&body["ciphertext"]);
            assert_eq!(ciphertext.len(), CIPHERTEXT_LEN);
            let data_key: [u8; 32] = key.decrypt(&ciphertext, &ctx).unwrap().try_into().unwrap();
            assert!(s.data_keys.contains(&data_key));
            assert!(seen.insert(data_key), "data keys differ");
            // The context is bound: another item's does not decrypt it.
            assert!(key.decrypt(&ciphertext, &context(i as usize + 1)).is_err());
        }
    }

    #[test]
    fn decrypt_checks_the_data_key() {
        let key = SecretKey::new(Algorithm::ChaCha20, [9; 32]);
        let s = Kes::decrypt("k", &key, 2, &mut counter());
        let body = json(&s.request(1).body);
        let data_key = key
            .decrypt(&b64(&body["ciphertext"]), &b64(&body["context"]))
            .unwrap();
        let answer = format!("{{\"plaintext\":\"{}\"}}\n", STANDARD.encode(&data_key));
        assert_eq!(s.check(&ok_resp(answer.as_bytes())), Ok(()));
        let other = format!("{{\"plaintext\":\"{}\"}}", STANDARD.encode([0u8; 32]));
        assert_eq!(s.check(&ok_resp(other.as_bytes())), Err(ErrorKind::Content));
        let short = format!("{{\"plaintext\":\"{}\"}}", STANDARD.encode([0u8; 31]));
        assert_eq!(s.check(&ok_resp(short.as_bytes())), Err(ErrorKind::Parse));
        assert_eq!(s.check(&ok_resp(b"{}")), Err(ErrorKind::Parse));
        assert_eq!(
            s.check(&ok_resp(b"{\"plaintext\":\"not base64!\"}")),
            Err(ErrorKind::Parse)
        );
        assert_eq!(s.check(&ok_resp(b"not json")), Err(ErrorKind::Parse));
        let not_authentic = Response {
            status: 400,
            content_type: Some(b"application/json"),
            body: b"{\"message\":\"decryption failed: ciphertext is not authentic\"}\n",
        };
        assert_eq!(s.check(&not_authentic), Err(ErrorKind::HttpStatus));
        let text = Response {
            content_type: Some(b"text/plain"),
            ..ok_resp(answer.as_bytes())
        };
        assert_eq!(s.check(&text), Err(ErrorKind::ContentType));
        let with_charset = Response {
            content_type: Some(b"application/json; charset=utf-8"),
            ..ok_resp(answer.as_bytes())
        };
        assert_eq!(s.check(&with_charset), Ok(()));
    }

    #[test]
    fn encrypt_bodies_and_checks() {
        let s = Kes::encrypt("minio-key", 2, &mut counter());
        assert_eq!((s.name(), s.items()), ("kes-encrypt", 2));
        let req = s.request(1);
        assert_eq!(
            (req.method, &*req.path),
            ("PUT", "/v1/key/encrypt/minio-key")
        );
        let body = json(&req.body);
        assert_eq!(b64(&body["plaintext"]).len(), 32);
        assert_eq!(b64(&body["context"]), b"{\"bucket\":\"bucket/object-1\"}");
        assert_ne!(body["plaintext"], json(&s.request(0).body)["plaintext"]);
        let ok = format!("{{\"ciphertext\":\"{}\"}}\n", STANDARD.encode([1u8; 76]));
        assert_eq!(s.check(&ok_resp(ok.as_bytes())), Ok(()));
        let short = format!("{{\"ciphertext\":\"{}\"}}", STANDARD.encode([1u8; 75]));
        assert_eq!(s.check(&ok_resp(short.as_bytes())), Err(ErrorKind::Parse));
        let long = format!("{{\"ciphertext\":\"{}\"}}", STANDARD.encode([1u8; 77]));
        assert_eq!(s.check(&ok_resp(long.as_bytes())), Err(ErrorKind::Parse));
        let wrong_field = format!("{{\"plaintext\":\"{}\"}}", STANDARD.encode([1u8; 76]));
        assert_eq!(
            s.check(&ok_resp(wrong_field.as_bytes())),
            Err(ErrorKind::Parse)
        );
    }

    #[test]
    fn generate_bodies_and_checks() {
        let s = Kes::generate("k", 5);
        assert_eq!((s.name(), s.items()), ("kes-generate", 5));
        let req = s.request(4);
        assert_eq!((req.method, &*req.path), ("PUT", "/v1/key/generate/k"));
        assert_eq!(
            &*req.body,
            format!(
                "{{\"context\":\"{}\"}}",
                STANDARD.encode(b"{\"bucket\":\"bucket/object-4\"}")
            )
            .as_bytes()
        );
        let ok = format!(
            "{{\"plaintext\":\"{}\",\"ciphertext\":\"{}\"}}\n",
            STANDARD.encode([2u8; 32]),
            STANDARD.encode([3u8; 76])
        );
        assert_eq!(s.check(&ok_resp(ok.as_bytes())), Ok(()));
        let only_plaintext = format!("{{\"plaintext\":\"{}\"}}", STANDARD.encode([2u8; 32]));
        assert_eq!(
            s.check(&ok_resp(only_plaintext.as_bytes())),
            Err(ErrorKind::Parse)
        );
        assert!(s.describe().contains("KES generate with key \"k\", 5"));
    }

    #[test]
    fn escaped_base64_in_answers_is_read() {
        // JSON may escape `/` as `\/`; the field is then not borrowed but still decoded.
        let s = Kes::encrypt("k", 1, &mut counter());
        let b = STANDARD.encode([0xffu8; 76]).replace('/', "\\/");
        let ok = format!("{{\"ciphertext\":\"{b}\"}}");
        assert_eq!(s.check(&ok_resp(ok.as_bytes())), Ok(()));
    }
}
