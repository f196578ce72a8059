//! HSM-backed keys through PKCS#11 (cryptoki). Keys are generated inside the token
//! (`CKA_EXTRACTABLE=false`, `CKA_SENSITIVE=true`) or found by label; nothing of a private key
//! ever leaves the token. Hashing happens in Sigil for ECDSA (raw `CKM_ECDSA`, the `r‖s` result
//! DER-encoded) and RSA (`CKM_RSA_PKCS` over a SHA-256 DigestInfo); Ed25519 uses `CKM_EDDSA`
//! over the message.
//!
//! A key may live on several tokens (replicas: HSM cluster members, or modules holding the
//! same key); signing tries those in rotation in order and moves on when one fails. A replica
//! that fails leaves the rotation ([`availability`]) until the background [`prober`] finds it
//! working again. Every token keeps a pool of logged-in sessions ([`token`]); every library a
//! generation that a re-initialisation bumps ([`module`]).

mod availability;
mod encoding;
mod error;
mod keys;
mod module;
mod pool;
mod prober;
mod replica;
mod token;

pub use error::{P11Error, Recovery};
pub use keys::KeyLocator;
pub use module::Module;

use std::sync::Arc;

use aws_lc_rs::digest;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use serde::{Deserialize, Serialize};

use super::health::KeyHealth;
use super::{KeyAlgorithm, SignError, Signer};
use replica::{Replica, ReplicaSet};
use token::Token;

/// One token holding a key: library path, token label and the environment variable that
/// holds the user PIN (the PIN itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRef {
    pub module: String,
    pub token_label: String,
    pub pin_env: String,
}

/// The slot id token `t` was last found in (`None` until this process opened a session on
/// it; a token may move between slots across restarts of the HSM).
pub fn slot_of(t: &TokenRef) -> Option<u64> {
    Token::find(std::path::Path::new(&t.module), &t.token_label).and_then(|t| t.slot_id())
}

/// A signing key held by one or more PKCS#11 tokens.
pub struct Pkcs11Signer {
    alg: KeyAlgorithm,
    /// The key, its public key and its replicas (watched by the [`prober`]).
    set: Arc<ReplicaSet>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("alg", &self.alg)
            .field("key", &self.set.key)
            .field("replicas", &self.set.replicas.len())
            .finish_non_exhaustive()
    }
}

/// The mechanism a token needs for `alg`.
fn sign_mechanism(alg: KeyAlgorithm) -> MechanismType {
    match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => MechanismType::ECDSA,
        KeyAlgorithm::Ed25519 => MechanismType::EDDSA,
        a if a.is_pss() => MechanismType::RSA_PKCS_PSS,
        _ => MechanismType::RSA_PKCS,
    }
}

fn no_replicas() -> P11Error {
    P11Error::Unsupported("no token given for the key".into())
}

impl Pkcs11Signer {
    fn new(alg: KeyAlgorithm, key: KeyLocator, spki: Vec<u8>, replicas: Vec<Replica>) -> Self {
        let set = Arc::new(ReplicaSet {
            key,
            spki,
            replicas,
        });
        prober::register(&set);
        Self { alg, set }
    }

    /// A signer for a known key (a stored CA): connects lazily, so a CA whose tokens are
    /// unreachable at start-up still loads (and reports itself unhealthy). Each replica's
    /// public key is checked against `spki` when the key is first looked up.
    pub fn open(tokens: &[TokenRef], key: KeyLocator, alg: KeyAlgorithm, spki: Vec<u8>) -> Self {
        Self::new(alg, key, spki, tokens.iter().map(Replica::new).collect())
    }

    /// Uses the key labelled `key_label` on the first reachable token, generating it there if
    /// it does not exist. Returns the signer and whether the key was generated.
    pub fn find_or_generate(
        tokens: &[TokenRef],
        key_label: &str,
        alg: KeyAlgorithm,
    ) -> Result<(Self, bool), P11Error> {
        let key = KeyLocator::label(key_label);
        let replicas: Vec<Replica> = tokens.iter().map(Replica::new).collect();
        let mut last = None;
        for r in &replicas {
            let res = check_mechanism(&r.token, alg).and_then(|()| {
                r.token
                    .with_rw_session(&|s| match keys::find(s, r.token.label(), &key)? {
                        Some(found) => Ok((found, false)),
                        None => {
                            let found = keys::generate(s, r.token.label(), &key, alg)?;
                            if let Some(spki) = &found.spki {
                                if let Ok(id) = sigil_shared::ocsp::key_id_of_spki(spki) {
                                    keys::set_id(s, r.token.label(), &found, &id)?;
                                }
                            }
                            Ok((found, true))
                        }
                    })
            });
            r.record(&key, res.as_ref().map(|_| ()));
            match res {
                Ok((found, generated)) => {
                    if !found.alg.same_key_type(alg) {
                        return Err(P11Error::Unsupported(format!(
                            "key {key} on token {:?} is {}, not {}",
                            r.token.label(),
                            found.alg.name(),
                            alg.name()
                        )));
                    }
                    let spki = found.spki.ok_or_else(|| P11Error::Key {
                        token: r.token.label().to_string(),
                        detail: format!("key {key} has no public key object to certify"),
                    })?;
                    if generated {
                        tracing::info!(token = r.token.label(), key = %key, algorithm = alg.name(), "generated key inside the token");
                    }
                    return Ok((Self::new(alg, key, spki, replicas), generated));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_replicas))
    }

    /// Generates a new key labelled `label` on the first reachable token, with `CKA_ID` set to
    /// its subjectKeyIdentifier, and returns a signer locating it by label and id.
    pub fn generate(tokens: &[TokenRef], label: &str, alg: KeyAlgorithm) -> Result<Self, P11Error> {
        let replicas: Vec<Replica> = tokens.iter().map(Replica::new).collect();
        let locator = KeyLocator::label(label);
        let mut last = None;
        for r in &replicas {
            let res = r.token.with_rw_session(&|s| {
                let found = keys::generate(s, r.token.label(), &locator, alg)?;
                let spki = found.spki.clone().ok_or_else(|| P11Error::Key {
                    token: r.token.label().to_string(),
                    detail: "generated key has no readable public key".into(),
                })?;
                let id = sigil_shared::ocsp::key_id_of_spki(&spki)
                    .map_err(|e| P11Error::Unsupported(format!("public key: {e}")))?;
                keys::set_id(s, r.token.label(), &found, &id)?;
                Ok((spki, id))
            });
            r.record(&locator, res.as_ref().map(|_| ()));
            match res {
                Ok((spki, id)) => {
                    let key = KeyLocator {
                        label: label.to_string(),
                        id: Some(id),
                    };
                    return Ok(Self::new(alg, key, spki, replicas));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_replicas))
    }

    /// Destroys key pairs labelled like this key whose `CKA_ID` is not in `keep` (superseded
    /// responder keys), on every reachable replica. Returns how many objects went.
    pub fn destroy_others(&self, keep: &[Vec<u8>]) -> usize {
        let mut n = 0;
        for r in &self.set.replicas {
            match r.token.with_rw_session(&|s| {
                keys::destroy_others(s, r.token.label(), &self.set.key.label, keep)
            }) {
                Ok(k) => n += k,
                Err(e) => {
                    tracing::warn!(token = r.token.label(), error = %e, "could not remove superseded keys")
                }
            }
        }
        n
    }

    pub fn key(&self) -> &KeyLocator {
        &self.set.key
    }

    /// Connects every replica (session, login, key lookup and public-key check) without
    /// signing, so that health is known before the first signature (a replica that fails is
    /// logged once and re-probed in the background). Returns the replicas that work.
    pub fn probe(&self) -> usize {
        let mut up = 0;
        for r in &self.set.replicas {
            let res = r.token.probe_key(&self.set.key, self.set.spki());
            up += usize::from(res.is_ok());
            r.record(&self.set.key, res.as_ref().map(|_| ()));
        }
        up
    }

    fn sign_on(&self, token: &Token, message: &[u8]) -> Result<Vec<u8>, P11Error> {
        let label = token.label().to_string();
        let (key, spki) = (&self.set.key, Some(self.set.spki.as_slice()));
        match self.alg {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let h = if self.alg == KeyAlgorithm::EcdsaP256 {
                    &digest::SHA256
                } else {
                    &digest::SHA384
                };
                let hash = digest::digest(h, message);
                let raw = token.with_key(key, spki, &|s, k| {
                    s.sign(&Mechanism::Ecdsa, k, hash.as_ref())
                        .map_err(|e| P11Error::call(&label, "C_Sign", e))
                })?;
                encoding::ecdsa_der(&raw).ok_or_else(|| P11Error::Key {
                    token: label.clone(),
                    detail: format!("CKM_ECDSA returned {} bytes", raw.len()),
                })
            }
            KeyAlgorithm::Ed25519 => token.with_key(key, spki, &|s, k| {
                let m = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                s.sign(&m, k, message)
                    .map_err(|e| P11Error::call(&label, "C_Sign", e))
            }),
            a if a.is_pss() => {
                let hash = digest::digest(&digest::SHA256, message);
                let params = PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32u64.into(),
                };
                token.with_key(key, spki, &|s, k| {
                    s.sign(&Mechanism::RsaPkcsPss(params), k, hash.as_ref())
                        .map_err(|e| P11Error::call(&label, "C_Sign", e))
                })
            }
            _ => {
                let info =
                    encoding::sha256_digest_info(digest::digest(&digest::SHA256, message).as_ref());
                token.with_key(key, spki, &|s, k| {
                    s.sign(&Mechanism::RsaPkcs, k, &info)
                        .map_err(|e| P11Error::call(&label, "C_Sign", e))
                })
            }
        }
    }

    /// Signs on the first replica in rotation that works; a replica that fails leaves the
    /// rotation (the prober brings it back). With none in rotation, fails at once with the
    /// replicas' last errors: a request never waits for a probe.
    fn sign_any(&self, message: &[u8]) -> Result<Vec<u8>, P11Error> {
        let mut last = None;
        for r in self.set.replicas.iter().filter(|r| r.usable()) {
            let res = self.sign_on(&r.token, message);
            r.record(&self.set.key, res.as_ref().map(|_| ()));
            match res {
                Ok(sig) => {
                    r.count_signature();
                    return Ok(sig);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| self.set.unavailable()))
    }
}

/// Fails early when the token cannot sign with `alg` (e.g. no CKM_EDDSA).
fn check_mechanism(token: &Token, alg: KeyAlgorithm) -> Result<(), P11Error> {
    let want = sign_mechanism(alg);
    let supported = token.mechanisms()?;
    if supported.contains(&want) {
        Ok(())
    } else {
        Err(P11Error::Unsupported(format!(
            "token {:?} does not support {want} (needed for {})",
            token.label(),
            alg.name()
        )))
    }
}

impl Signer for Pkcs11Signer {
    fn key_algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    fn public_key_der(&self) -> &[u8] {
        &self.set.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_any(message)
            .map_err(|e| SignError::Unavailable(e.to_string()))
    }

    fn health(&self) -> KeyHealth {
        self.key_health()
    }
}
