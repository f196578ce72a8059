//! Where CA and delegated-responder keys come from and live: in memory (PKCS#8 stored in the
//! `keys` column family) or in PKCS#11 tokens (nothing stored but the [`KeyRef`]).

use std::sync::Arc;

use sigil_shared::ocsp::key_id_of_spki;

use crate::crypto::pkcs11::{KeyLocator, Pkcs11Signer, TokenRef};
use crate::crypto::{KeyAlgorithm, SignError, Signer, SoftwareSigner};
use crate::db::{CaRecord, KeyRef};
use crate::x509::{self, PkiError};

/// A new key: its signer, and the PKCS#8 to store for software keys (`None` in an HSM).
pub struct NewKey {
    pub signer: Arc<dyn Signer>,
    pub pkcs8: Option<Vec<u8>>,
}

impl std::fmt::Debug for NewKey {
    /// Never the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("signer", &self.signer)
            .field("pkcs8", &self.pkcs8.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Label of the delegated responder keys of a CA whose key is labelled `key_label`.
pub fn responder_label(key_label: &str) -> String {
    format!("{key_label}.ocsp")
}

/// The CA key for a new CA: generated in memory, or found by label / generated in the token.
pub fn new_ca_key(key: &KeyRef, alg: KeyAlgorithm) -> Result<NewKey, PkiError> {
    match key {
        KeyRef::Software => {
            let (signer, pkcs8) = SoftwareSigner::generate(alg)?;
            Ok(NewKey {
                signer: Arc::new(signer),
                pkcs8: Some(pkcs8),
            })
        }
        KeyRef::Pkcs11 { tokens, key_label } => {
            let (signer, _generated) = Pkcs11Signer::find_or_generate(tokens, key_label, alg)
                .map_err(|e| PkiError::KeyStore(e.to_string()))?;
            Ok(NewKey {
                signer: Arc::new(signer),
                pkcs8: None,
            })
        }
    }
}

/// A new delegated-responder key beside the CA key (same kind of store, same algorithm).
pub fn new_responder_key(ca_key: &KeyRef, alg: KeyAlgorithm) -> Result<NewKey, SignError> {
    match ca_key {
        KeyRef::Software => {
            let (signer, pkcs8) = SoftwareSigner::generate(alg)?;
            Ok(NewKey {
                signer: Arc::new(signer),
                pkcs8: Some(pkcs8),
            })
        }
        KeyRef::Pkcs11 { tokens, key_label } => {
            let signer = Pkcs11Signer::generate(tokens, &responder_label(key_label), alg)
                .map_err(|e| SignError::Unavailable(e.to_string()))?;
            Ok(NewKey {
                signer: Arc::new(signer),
                pkcs8: None,
            })
        }
    }
}

/// A software signer from the stored PKCS#8 (`what` names the key in the error).
fn software(
    rec: &CaRecord,
    pkcs8: Option<&[u8]>,
    what: &str,
) -> Result<Arc<dyn Signer>, SignError> {
    let pkcs8 = pkcs8
        .ok_or_else(|| SignError::KeyRejected(format!("{what} of CA {} is missing", rec.id)))?;
    Ok(Arc::new(SoftwareSigner::from_pkcs8(
        rec.key_algorithm,
        pkcs8,
    )?))
}

/// The signer of a stored CA (`pkcs8` from the `keys` column family for software keys).
pub fn ca_signer(rec: &CaRecord, pkcs8: Option<&[u8]>) -> Result<Arc<dyn Signer>, SignError> {
    match &rec.key {
        KeyRef::Software => software(rec, pkcs8, "key"),
        KeyRef::Pkcs11 { tokens, key_label } => {
            let spki = cert_spki(&rec.cert_der)?;
            let signer = Pkcs11Signer::open(
                tokens,
                KeyLocator::label(key_label),
                rec.key_algorithm,
                spki,
            );
            signer.probe();
            Ok(Arc::new(signer))
        }
    }
}

/// The signer of a stored delegated responder: its PKCS#8 for software CAs, or the token key
/// labelled [`responder_label`] whose `CKA_ID` is the certificate's key identifier.
pub fn responder_signer(
    rec: &CaRecord,
    responder_cert: &[u8],
    pkcs8: Option<&[u8]>,
) -> Result<Arc<dyn Signer>, SignError> {
    match &rec.key {
        KeyRef::Software => software(rec, pkcs8, "responder key"),
        KeyRef::Pkcs11 { tokens, key_label } => {
            let spki = cert_spki(responder_cert)?;
            let id = key_id_of_spki(&spki).map_err(|e| SignError::KeyRejected(e.to_string()))?;
            let signer = Pkcs11Signer::open(
                tokens,
                KeyLocator {
                    label: responder_label(key_label),
                    id: Some(id),
                },
                rec.key_algorithm,
                spki,
            );
            signer.probe();
            Ok(Arc::new(signer))
        }
    }
}

/// Removes a CA's superseded responder keys from its tokens, keeping those in `keep`.
pub fn retire_responder_keys(rec: &CaRecord, keep: &[Vec<u8>]) {
    if let KeyRef::Pkcs11 { tokens, key_label } = &rec.key {
        let s = Pkcs11Signer::open(
            tokens,
            KeyLocator::label(&responder_label(key_label)),
            rec.key_algorithm,
            Vec::new(),
        );
        let n = s.destroy_others(keep);
        if n > 0 {
            tracing::info!(issuer = %rec.id, objects = n, "removed superseded responder keys from the token");
        }
    }
}

fn cert_spki(cert_der: &[u8]) -> Result<Vec<u8>, SignError> {
    use der::Encode;
    let cert = x509::decode_cert(cert_der).map_err(|e| SignError::KeyRejected(e.to_string()))?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| SignError::KeyRejected(e.to_string()))
}

/// Every [`TokenRef`] of a key store must name an allowed module; returns the first offender.
pub fn disallowed_module<'a>(tokens: &'a [TokenRef], allowed: &[String]) -> Option<&'a str> {
    tokens
        .iter()
        .map(|t| t.module.as_str())
        .find(|m| !allowed.iter().any(|a| a == m))
}
