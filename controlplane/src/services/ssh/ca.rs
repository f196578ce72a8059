//! The user and host certificate authorities' keys: in software (an OpenSSH private key,
//! sealed in the `keys` column family, `sigil_ssh::SoftwareCa`) or in a PKCS#11 token through the
//! control plane's `Pkcs11Signer`, adapted to `sigil_ssh::ExternalCa`.
//!
//! What `crypto::Signer::sign` returns (and so the `RawFormat` of a token key): Ed25519 the
//! 64-byte PureEdDSA signature over the message (`CKM_EDDSA`) → `RawFormat::Ed25519`; ECDSA
//! P-256/P-384 a DER `ECDSA-Sig-Value` over SHA-256/SHA-384 of the message (raw `CKM_ECDSA`,
//! `r‖s` DER-encoded) → `RawFormat::EcdsaDer`, which is what `ecdsa-sha2-nistp256/384`
//! need; RSA (non-PSS) RSASSA-PKCS1-v1_5 over a SHA-256 DigestInfo → `RawFormat::
//! RsaPkcs1Sha256` (`rsa-sha2-256`). RSA-PSS does not exist in SSH and is never used.

use std::sync::Arc;

use sigil_shared::replication::SshCaKind;
use sigil_shared::time::now_unix;
use sigil_ssh::ca::CaSigner;
use sigil_ssh::{CaAlgorithm, ExternalCa, ParsedKey, RawFormat, SignerError, SoftwareCa};
use zeroize::Zeroizing;

use super::SshError;
use crate::config::{SshCaConfig, SshKeyStore};
use crate::crypto::pkcs11::{KeyLocator, Pkcs11Signer, TokenRef};
use crate::crypto::{KeyAlgorithm, Signer};
use crate::db::ssh::SshCaRecord;
use crate::db::KeyRef;
use crate::services::error::Internal;

/// A loaded CA: its record, its signer and its public key blob (what a KRL names).
pub(super) struct CaKey {
    pub record: SshCaRecord,
    pub signer: Box<dyn CaSigner + Send + Sync>,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("kind", &self.record.kind)
            .field("fingerprint", &self.record.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The comment after the CA's public key.
fn comment(kind: SshCaKind) -> &'static str {
    match kind {
        SshCaKind::User => "sigil-user-ca",
        SshCaKind::Host => "sigil-host-ca",
    }
}

fn key_algorithm(a: CaAlgorithm) -> KeyAlgorithm {
    match a {
        CaAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
        CaAlgorithm::EcdsaP256 => KeyAlgorithm::EcdsaP256,
        CaAlgorithm::EcdsaP384 => KeyAlgorithm::EcdsaP384,
        CaAlgorithm::Rsa3072 => KeyAlgorithm::Rsa3072,
    }
}

/// What `crypto::Signer::sign` of a key of algorithm `a` returns, as an SSH raw format.
pub(super) fn raw_format(a: CaAlgorithm) -> RawFormat {
    match a {
        CaAlgorithm::Ed25519 => RawFormat::Ed25519,
        CaAlgorithm::EcdsaP256 | CaAlgorithm::EcdsaP384 => RawFormat::EcdsaDer,
        CaAlgorithm::Rsa3072 => RawFormat::RsaPkcs1Sha256,
    }
}

fn ca_error(e: impl std::fmt::Display) -> SshError {
    SshError::Internal(Internal::Sign(crate::crypto::SignError::KeyRejected(
        e.to_string(),
    )))
}

/// A token key as an SSH CA.
fn external(
    signer: Arc<Pkcs11Signer>,
    algorithm: CaAlgorithm,
) -> Result<Box<dyn CaSigner + Send + Sync>, SshError> {
    let spki = signer.public_key_der().to_vec();
    let sign = move |m: &[u8]| -> Result<Vec<u8>, SignerError> {
        signer.sign(m).map_err(|e| Box::new(e) as SignerError)
    };
    Ok(Box::new(
        ExternalCa::from_spki(&spki, raw_format(algorithm), sign).map_err(ca_error)?,
    ))
}

fn finish(
    kind: SshCaKind,
    algorithm: CaAlgorithm,
    key: KeyRef,
    spki: Vec<u8>,
    signer: Box<dyn CaSigner + Send + Sync>,
    created_at: i64,
) -> Result<CaKey, SshError> {
    let public = ParsedKey::from_ssh_key(&signer.public_key()).map_err(ca_error)?;
    Ok(CaKey {
        record: SshCaRecord {
            kind,
            algorithm,
            key,
            spki,
            openssh: format!("{} {}", public.openssh, comment(kind)),
            fingerprint: public.fingerprint.clone(),
            created_at,
        },
        signer,
        blob: public.blob,
    })
}

/// A new CA as `config` says: generated in memory (the private key text returned, to be
/// stored in `keys`), or found by label / generated in the token (`module` checked against
/// `allowed_modules`, the PIN's variable must be set).
pub(super) fn create(
    kind: SshCaKind,
    config: &SshCaConfig,
    allowed_modules: &[String],
) -> Result<(CaKey, Option<Zeroizing<String>>), SshError> {
    let now = now_unix();
    match &config.key_store {
        SshKeyStore::Software => {
            let ca = SoftwareCa::generate(config.algorithm)
                .map_err(ca_error)?
                .with_comment(comment(kind));
            let private = ca.to_openssh_private().map_err(ca_error)?;
            let key = finish(
                kind,
                config.algorithm,
                KeyRef::Software,
                Vec::new(),
                Box::new(ca),
                now,
            )?;
            Ok((key, Some(private)))
        }
        SshKeyStore::Pkcs11(p) => {
            let tokens = vec![TokenRef {
                module: p.module.clone(),
                token_label: p.token_label.clone(),
                pin_env: p.pin_env.clone(),
            }];
            if let Some(m) = crate::ca::keys::disallowed_module(&tokens, allowed_modules) {
                return Err(SshError::invalid(
                    "ssh key_store",
                    format!("module {m:?} is not in hsm.allowed_modules"),
                ));
            }
            if std::env::var_os(&p.pin_env).is_none() {
                return Err(SshError::SignerUnavailable(format!(
                    "environment variable {} (the token PIN) is not set",
                    p.pin_env
                )));
            }
            let (signer, generated) = Pkcs11Signer::find_or_generate(
                &tokens,
                &p.key_label,
                key_algorithm(config.algorithm),
            )
            .map_err(|e| SshError::SignerUnavailable(e.to_string()))?;
            let signer = Arc::new(signer);
            let spki = signer.public_key_der().to_vec();
            tracing::info!(ca = ?kind, key = %p.key_label, generated, "SSH CA key in the token");
            let key = KeyRef::Pkcs11 {
                tokens,
                key_label: p.key_label.clone(),
            };
            let ext = external(signer, config.algorithm)?;
            Ok((finish(kind, config.algorithm, key, spki, ext, now)?, None))
        }
    }
}

/// A stored CA; `private` is its OpenSSH private key from `keys` (software CAs).
pub(super) fn load(record: &SshCaRecord, private: Option<&str>) -> Result<CaKey, SshError> {
    let signer: Box<dyn CaSigner + Send + Sync> = match &record.key {
        KeyRef::Software => {
            let text = private.ok_or_else(|| {
                ca_error(format!(
                    "the {:?} SSH CA's private key is missing",
                    record.kind
                ))
            })?;
            Box::new(SoftwareCa::from_openssh_private(text).map_err(ca_error)?)
        }
        KeyRef::Pkcs11 { tokens, key_label } => {
            let signer = Pkcs11Signer::open(
                tokens,
                KeyLocator::label(key_label),
                key_algorithm(record.algorithm),
                record.spki.clone(),
            );
            signer.probe();
            external(Arc::new(signer), record.algorithm)?
        }
    };
    let public = ParsedKey::from_ssh_key(&signer.public_key()).map_err(ca_error)?;
    if public.fingerprint != record.fingerprint {
        return Err(ca_error(format!(
            "the {:?} SSH CA's key is {}, its record says {}",
            record.kind, public.fingerprint, record.fingerprint
        )));
    }
    Ok(CaKey {
        record: record.clone(),
        signer,
        blob: public.blob,
    })
}
