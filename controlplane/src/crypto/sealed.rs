//! The control plane's secrets (CA and responder private keys, SSH CA private keys, the Keyper
//! token secret) sealed under the fleet key-encryption key, the one the key service wraps its
//! keys under (`sigil_kes::KeyWrapper`: a software `Kek` or an AES key in a PKCS#11 token).
//! Sans-io: the nonce comes in as an argument.
//!
//! ```text
//! ad     = "sigil-secret-wrap-v1" ‖ u32be len(kek id) ‖ kek id ‖ u32be len(kind) ‖ kind
//!          ‖ u32be len(id) ‖ id
//! sealed = AES-256-GCM(KEK).seal(nonce (12, random), plaintext, ad)
//! stored = "sigil-sealed-v1\n" ‖ postcard({ kek_id, nonce, sealed })
//! ```
//!
//! The kind (`ca-key`, `responder-key`, `ssh-ca-key`, `ssh-token-secret`) and id (the CA's
//! id, `user`/`host`, `keyper`) are authenticated, so a sealed blob copied over another
//! entry does not open; the domain differs from KES's (`sigil-kes-wrap-v1`), so neither opens
//! as the other. The KEK id says which KEK sealed it (a wrong KEK is named, not guessed at).
//!
//! What was stored before sealing existed is told apart by its first bytes: a sealed value
//! starts with the 16-byte magic, which no plaintext this control plane stored starts with
//! (PKCS#8 starts with `0x30`, an OpenSSH key with `-----BEGIN`, and a 32-byte token secret is
//! shorter than any sealed value).

use serde::{Deserialize, Serialize};
use sigil_kes::wrap::{UnwrapError, NONCE_SIZE};
use sigil_kes::KeyWrapper;
use zeroize::Zeroizing;

use crate::db::secrets::SecretName;

/// The first bytes of every sealed value.
pub const MAGIC: &[u8; 16] = b"sigil-sealed-v1\n";
const DOMAIN: &[u8] = b"sigil-secret-wrap-v1";

/// A sealed secret as stored (after [`MAGIC`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub kek_id: String,
    pub nonce: [u8; NONCE_SIZE],
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// What a stored value is.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// Sealed (its envelope decoded).
    Sealed(SealedSecret),
    /// Plaintext, as written before secrets were sealed.
    Clear(&'a [u8]),
}

/// Why a secret could not be sealed or opened. Never carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{name}: sealed under key-encryption key {found:?}, but the loaded one is {loaded:?}")]
    OtherKek {
        name: String,
        found: String,
        loaded: String,
    },
    #[error(
        "{name}: does not open under key-encryption key {kek:?} (another key under the same id, or bytes altered or moved from another entry)"
    )]
    NotAuthentic { name: String, kek: String },
    #[error("{name}: the key-encryption key could not be used: {detail}")]
    Backend { name: String, detail: String },
    #[error("{name}: stored in the clear where a sealed value was expected")]
    Clear { name: String },
    #[error("{name}: malformed sealed value: {detail}")]
    Malformed { name: String, detail: String },
}

impl SealError {
    /// A problem of the configured KEK (another KEK, or one that does not open), not of the
    /// store or the token's availability.
    pub fn is_wrong_kek(&self) -> bool {
        matches!(self, Self::OtherKek { .. } | Self::NotAuthentic { .. })
    }
}

/// The associated data binding a sealed secret to its KEK, kind and id.
pub fn associated_data(kek_id: &str, name: &SecretName) -> Vec<u8> {
    let mut ad = Vec::with_capacity(DOMAIN.len() + 12 + kek_id.len() + 20 + name.id.len());
    ad.extend_from_slice(DOMAIN);
    for part in [kek_id, name.kind.label(), name.id.as_str()] {
        ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        ad.extend_from_slice(part.as_bytes());
    }
    ad
}

/// Classifies a stored value.
pub fn classify<'a>(name: &SecretName, stored: &'a [u8]) -> Result<Stored<'a>, SealError> {
    match stored.strip_prefix(MAGIC.as_slice()) {
        Some(rest) => {
            postcard::from_bytes(rest)
                .map(Stored::Sealed)
                .map_err(|e| SealError::Malformed {
                    name: name.to_string(),
                    detail: e.to_string(),
                })
        }
        None => Ok(Stored::Clear(stored)),
    }
}

/// Seals `plain` as secret `name` under `kek` with `nonce` (12 random bytes, never reused):
/// the bytes to store.
pub fn seal(
    kek: &dyn KeyWrapper,
    name: &SecretName,
    plain: &[u8],
    nonce: [u8; NONCE_SIZE],
) -> Result<Vec<u8>, SealError> {
    let sealed = kek
        .seal(&associated_data(kek.id(), name), plain, nonce)
        .map_err(|e| SealError::Backend {
            name: name.to_string(),
            detail: e.0,
        })?;
    let envelope = SealedSecret {
        kek_id: kek.id().to_string(),
        nonce,
        sealed,
    };
    let mut out = MAGIC.to_vec();
    out.extend(
        postcard::to_stdvec(&envelope).map_err(|e| SealError::Malformed {
            name: name.to_string(),
            detail: e.to_string(),
        })?,
    );
    Ok(out)
}

/// The plaintext of the sealed secret `name` stored as `stored`.
pub fn open(
    kek: &dyn KeyWrapper,
    name: &SecretName,
    stored: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    match classify(name, stored)? {
        Stored::Sealed(s) => open_sealed(kek, name, &s),
        Stored::Clear(_) => Err(SealError::Clear {
            name: name.to_string(),
        }),
    }
}

/// The plaintext of a decoded sealed secret.
pub fn open_sealed(
    kek: &dyn KeyWrapper,
    name: &SecretName,
    s: &SealedSecret,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if s.kek_id != kek.id() {
        return Err(SealError::OtherKek {
            name: name.to_string(),
            found: s.kek_id.clone(),
            loaded: kek.id().to_string(),
        });
    }
    kek.open(&associated_data(kek.id(), name), &s.sealed, s.nonce)
        .map(Zeroizing::new)
        .map_err(|e| match e {
            UnwrapError::Backend(detail) => SealError::Backend {
                name: name.to_string(),
                detail,
            },
            UnwrapError::NotAuthentic | UnwrapError::OtherKek { .. } => SealError::NotAuthentic {
                name: name.to_string(),
                kek: kek.id().to_string(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_kes::Kek;
    use sigil_shared::replication::SshCaKind;

    fn kek(byte: u8) -> Kek {
        Kek::new(format!("kek-{byte}"), [byte; 32])
    }

    const PLAIN: &[u8] = b"0\x81\x87 a PKCS#8 private key, say";

    #[test]
    fn seals_and_opens_without_the_plaintext_in_the_stored_bytes() {
        let k = kek(1);
        let name = SecretName::ca_key("demo");
        let stored = seal(&k, &name, PLAIN, [7; 12]).unwrap();
        assert!(stored.starts_with(MAGIC));
        assert!(!stored.windows(8).any(|w| PLAIN.windows(8).any(|p| p == w)));
        assert_eq!(&open(&k, &name, &stored).unwrap()[..], PLAIN);
        match classify(&name, &stored).unwrap() {
            Stored::Sealed(s) => assert_eq!(s.kek_id, "kek-1"),
            Stored::Clear(_) => panic!("sealed"),
        }
    }

    #[test]
    fn a_wrong_kek_is_named() {
        let name = SecretName::ssh_token_secret();
        let stored = seal(&kek(1), &name, &[9; 32], [7; 12]).unwrap();
        let e = open(&kek(2), &name, &stored).unwrap_err();
        assert_eq!(
            e,
            SealError::OtherKek {
                name: "ssh-token-secret keyper".into(),
                found: "kek-1".into(),
                loaded: "kek-2".into()
            }
        );
        assert!(e.is_wrong_kek());
        assert!(e.to_string().contains("\"kek-1\""), "{e}");
        // The same id with another key (an HSM key replaced under its label).
        let impostor = Kek::new("kek-1", [2; 32]);
        let e = open(&impostor, &name, &stored).unwrap_err();
        assert!(matches!(e, SealError::NotAuthentic { .. }), "{e}");
        assert!(e.is_wrong_kek());
    }

    #[test]
    fn a_blob_swapped_between_entries_or_altered_does_not_open() {
        let k = kek(1);
        let ca = SecretName::ca_key("a");
        let stored = seal(&k, &ca, PLAIN, [7; 12]).unwrap();
        for other in [
            SecretName::ca_key("b"),
            SecretName::responder_key("a"),
            SecretName::ssh_ca_key(SshCaKind::User),
        ] {
            assert!(
                matches!(
                    open(&k, &other, &stored),
                    Err(SealError::NotAuthentic { .. })
                ),
                "{other}"
            );
        }
        let mut altered = stored.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            open(&k, &ca, &altered),
            Err(SealError::NotAuthentic { .. })
        ));
        // A KES wrapped key under the same KEK is not a sealed secret either.
        let kes_ad = sigil_kes::wrap::associated_data("kek-1", "a", 1);
        assert_ne!(kes_ad, associated_data("kek-1", &ca));
        // Fields are separated: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            associated_data("k", &SecretName::ca_key("ab")),
            associated_data("k", &SecretName::responder_key("ab"))
        );
    }

    #[test]
    fn clear_values_are_told_from_sealed_ones() {
        let name = SecretName::ca_key("x");
        assert_eq!(
            classify(&name, b"0\x82\x01").unwrap(),
            Stored::Clear(b"0\x82\x01")
        );
        assert_eq!(
            classify(&name, b"-----BEGIN OPENSSH PRIVATE KEY-----").unwrap(),
            Stored::Clear(&b"-----BEGIN OPENSSH PRIVATE KEY-----"[..])
        );
        assert!(matches!(
            open(&kek(1), &name, &[1; 32]),
            Err(SealError::Clear { .. })
        ));
        let mut bad = MAGIC.to_vec();
        bad.push(0xff);
        assert!(matches!(
            classify(&name, &bad),
            Err(SealError::Malformed { .. })
        ));
    }
}
