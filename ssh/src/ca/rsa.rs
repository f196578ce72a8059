//! RSA CA keys sign through aws-lc-rs (constant-time; the pure-Rust `rsa` crate's private-key
//! operations are not, RUSTSEC-2023-0071, and ssh-key 0.6's conversion to it passes `p` for
//! `q`), while ssh-key keeps the `openssh-key-v1` form for storage.
//!
//! Both hold the same numbers (RFC 8017 §A.1.2 `RSAPrivateKey`: n, e, d, p, q,
//! dP = d mod (p−1), dQ = d mod (q−1), qInv = q⁻¹ mod p; OpenSSH's `iqmp` is qInv).

use crate::error::SshError;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA512;
use rsa::BigUint;
use sigil_shared::der::{self, Reader};
use ssh_key::private::{RsaKeypair, RsaPrivateKey};
use ssh_key::public::RsaPublicKey;
use ssh_key::{Algorithm, HashAlg, Mpint, Signature};

/// A new RSA key of `bits` (2048, 3072 or 4096): aws-lc-rs generates it, its PKCS#8 gives the
/// numbers for ssh-key.
pub(super) fn generate(bits: usize) -> Result<(RsaKeypair, KeyPair), SshError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => return Err(SshError::CaKey(format!("RSA size {bits}"))),
    };
    let failed = |what: &str| SshError::CaKey(format!("RSA key generation: {what}"));
    let kp = KeyPair::generate(size).map_err(|_| failed("generate"))?;
    let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&kp).map_err(|_| failed("PKCS#8"))?;
    let n = components(pkcs8.as_ref()).ok_or_else(|| failed("PKCS#8 parse"))?;
    let mpint = |b: &[u8]| Mpint::from_positive_bytes(b);
    let keypair = RsaKeypair {
        public: RsaPublicKey {
            e: mpint(n[1])?,
            n: mpint(n[0])?,
        },
        private: RsaPrivateKey {
            d: mpint(n[2])?,
            iqmp: mpint(n[7])?,
            p: mpint(n[3])?,
            q: mpint(n[4])?,
        },
    };
    Ok((keypair, kp))
}

/// The eight INTEGERs after the version of the PKCS#1 key inside a PKCS#8 `PrivateKeyInfo`.
fn components(pkcs8: &[u8]) -> Option<Vec<&[u8]>> {
    let info = der::read_single(pkcs8, der::TAG_SEQUENCE).ok()?;
    let mut r = Reader::new(info.value);
    r.read(der::TAG_INTEGER).ok()?;
    r.read(der::TAG_SEQUENCE).ok()?;
    let key = r.read(der::TAG_OCTET_STRING).ok()?;
    let seq = der::read_single(key.value, der::TAG_SEQUENCE).ok()?;
    let mut r = Reader::new(seq.value);
    r.read(der::TAG_INTEGER).ok()?; // version
    let mut out = Vec::with_capacity(8);
    for _ in 0..8 {
        out.push(der::canonical_uint(r.read(der::TAG_INTEGER).ok()?.value).ok()?);
    }
    Some(out)
}

/// The aws-lc-rs key for a stored ssh-key RSA key (PKCS#1 DER built from its numbers;
/// aws-lc-rs checks that they are consistent).
pub(super) fn signer(key: &RsaKeypair) -> Result<KeyPair, SshError> {
    let big = |m: &Mpint| BigUint::try_from(m).map_err(SshError::from);
    let (d, p, q) = (
        big(&key.private.d)?,
        big(&key.private.p)?,
        big(&key.private.q)?,
    );
    let one = BigUint::from(1u8);
    if p <= one || q <= one {
        return Err(SshError::CaKey("RSA primes".into()));
    }
    let dp = Mpint::try_from(&d % (&p - &one))?;
    let dq = Mpint::try_from(&d % (&q - &one))?;
    let mut body = Vec::new();
    der::push_tlv(&mut body, der::TAG_INTEGER, &[0]);
    for m in [
        &key.public.n,
        &key.public.e,
        &key.private.d,
        &key.private.p,
        &key.private.q,
        &dp,
        &dq,
        &key.private.iqmp,
    ] {
        // An mpint is already the minimal two's-complement form DER wants (0 is empty).
        let v = if m.as_bytes().is_empty() {
            &[0][..]
        } else {
            m.as_bytes()
        };
        der::push_tlv(&mut body, der::TAG_INTEGER, v);
    }
    let mut pkcs1 = Vec::new();
    der::push_tlv(&mut pkcs1, der::TAG_SEQUENCE, &body);
    KeyPair::from_der(&pkcs1).map_err(|e| SshError::CaKey(format!("RSA key: {e}")))
}

/// `rsa-sha2-512` over `message` (what `ssh-keygen -s` uses for RSA CAs).
pub(super) fn sign(kp: &KeyPair, message: &[u8]) -> Result<Signature, SshError> {
    let mut sig = vec![0; kp.public_modulus_len()];
    kp.sign(&RSA_PKCS1_SHA512, &SystemRandom::new(), message, &mut sig)
        .map_err(|e| SshError::Signer(Box::new(e)))?;
    Ok(Signature::new(
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        sig,
    )?)
}
