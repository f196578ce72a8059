//! Certificate authorities: creation (root, intermediate, import), their runtime signing state
//! and the delegated OCSP responder certificate each one keeps.

mod health;
pub mod keys;

pub use health::{CaHealth, SigningStats, Tracked};

use std::sync::{Arc, Mutex};

use der::Encode;
use sigil_shared::ocsp::{
    all_issuer_hashes, key_id_of_spki, HashAlg, IssuerHashes, ResponderTemplate,
};
use sigil_shared::replication::CaState;
use x509_cert::name::Name;

use crate::crypto::{KeyAlgorithm, SignError, Signer, SoftwareSigner};
use crate::db::{CaRecord, KeyRef, ResponderRecord};
use crate::x509::{self, CertSpec, PkiError};
use keys::NewKey;

/// A delegated responder: its key, certificate and pre-encoded response template.
#[derive(Debug)]
pub struct Responder {
    pub signer: Arc<dyn Signer>,
    pub template: ResponderTemplate,
    /// Latest instant a response signed by this responder may have as nextUpdate.
    pub not_after: i64,
    /// subjectKeyIdentifier of the responder's key (its `CKA_ID` in a token).
    pub key_id: Vec<u8>,
}

/// A loaded CA.
#[derive(Debug)]
pub struct CaRuntime {
    pub record: CaRecord,
    pub signer: Arc<dyn Signer>,
    pub subject: Name,
    pub hashes: Vec<IssuerHashes>,
    /// Responder used for OCSP; swapped when renewed.
    pub responder: Mutex<Option<Arc<Responder>>>,
    /// Signatures made with the CA's and its responders' keys.
    pub stats: Arc<SigningStats>,
}

impl CaRuntime {
    /// The CA's certificate, then its parents' up to the root (DER).
    pub fn chain_der(&self) -> impl Iterator<Item = &Vec<u8>> {
        std::iter::once(&self.record.cert_der).chain(self.record.chain_der.iter())
    }

    /// `signer` is wrapped so that its signatures count in [`CaRuntime::stats`].
    pub fn new(record: CaRecord, signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let cert = x509::decode_cert(&record.cert_der)?;
        let hashes = all_issuer_hashes(&record.cert_der)?;
        let stats = Arc::new(SigningStats::new(&record.id));
        Ok(Self {
            subject: cert.tbs_certificate.subject,
            signer: Tracked::wrap(signer, &stats),
            record,
            hashes,
            responder: Mutex::new(None),
            stats,
        })
    }

    /// Health of the CA's keys (CA and delegated responder) and its signing counts.
    pub fn health(&self) -> CaHealth {
        let responder = self
            .responder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.signer.health());
        CaHealth::combine(
            self.record.key.kind(),
            self.signer.health(),
            responder,
            &self.stats,
        )
    }

    pub fn hashes_for(&self, alg: HashAlg) -> &IssuerHashes {
        self.hashes
            .iter()
            .find(|h| h.alg == alg)
            .expect("hashes computed for every algorithm")
    }

    pub fn state(&self) -> CaState {
        CaState {
            issuer_id: self.record.id.clone(),
            name: self.record.name.clone(),
            cert_der: self.record.cert_der.clone(),
            hashes: self.hashes.clone(),
        }
    }

    /// Template for responses signed with the CA key itself.
    pub fn ca_responder(&self) -> Responder {
        Responder {
            signer: self.signer.clone(),
            template: ResponderTemplate::new(
                &self.record.key_id,
                self.signer.signature_algorithm_der().to_vec(),
                &[],
            ),
            not_after: self.record.not_after,
            key_id: self.record.key_id.clone(),
        }
    }
}

/// Parameters of a new CA.
#[derive(Debug, Clone)]
pub struct NewCa {
    pub id: String,
    pub name: String,
    pub subject: Name,
    pub key_algorithm: KeyAlgorithm,
    pub not_before: i64,
    pub not_after: i64,
}

/// A newly created CA: its record, signer and the PKCS#8 key to store (software keys).
pub struct CreatedCa {
    pub record: CaRecord,
    pub signer: Arc<dyn Signer>,
    pub pkcs8: Option<Vec<u8>>,
}

impl std::fmt::Debug for CreatedCa {
    /// Never the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedCa")
            .field("record", &self.record)
            .field("signer", &self.signer)
            .field("pkcs8", &self.pkcs8.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Creates a CA with a software key (see [`create_ca_in`]).
pub fn create_ca(new: &NewCa, parent: Option<&CaRuntime>, now: i64) -> Result<CreatedCa, PkiError> {
    create_ca_in(new, &KeyRef::Software, parent, now)
}

/// Creates a CA key where `key` says (in memory, or found/generated in PKCS#11 tokens) and
/// its certificate, self-signed or signed by `parent`. Returns the record and, for software
/// keys, the PKCS#8 key to store.
pub fn create_ca_in(
    new: &NewCa,
    key: &KeyRef,
    parent: Option<&CaRuntime>,
    now: i64,
) -> Result<CreatedCa, PkiError> {
    let NewKey { signer, pkcs8 } = keys::new_ca_key(key, new.key_algorithm)?;
    let spki = signer.public_key_der().to_vec();
    let key_id =
        key_id_of_spki(&spki).map_err(|_| PkiError::Sign(SignError::Failed("bad SPKI".into())))?;
    let (issuer, aki, not_after, path_len) = match parent {
        Some(p) => (
            p.subject.clone(),
            p.record.key_id.clone(),
            new.not_after.min(p.record.not_after),
            Some(0),
        ),
        None => (new.subject.clone(), key_id.clone(), new.not_after, None),
    };
    let mut extensions = vec![
        x509::basic_constraints(true, path_len)?,
        x509::key_usage(&["digitalSignature", "keyCertSign", "cRLSign"])?,
        x509::subject_key_id(&key_id)?,
    ];
    if parent.is_some() {
        extensions.push(x509::authority_key_id(&aki)?);
    }
    let spec = CertSpec {
        serial: x509::random_serial(),
        issuer,
        subject: new.subject.clone(),
        spki_der: spki,
        not_before: new.not_before,
        not_after,
        extensions,
    };
    let cert_der = match parent {
        Some(p) => x509::sign_certificate(&spec, p.signer.as_ref())?,
        None => x509::sign_certificate(&spec, signer.as_ref())?,
    };
    let chain_der = match parent {
        Some(p) => std::iter::once(p.record.cert_der.clone())
            .chain(p.record.chain_der.iter().cloned())
            .collect(),
        None => Vec::new(),
    };
    let record = CaRecord {
        id: new.id.clone(),
        name: new.name.clone(),
        subject: new.subject.to_string(),
        key_algorithm: new.key_algorithm,
        key: key.clone(),
        cert_der,
        chain_der,
        parent_id: parent.map(|p| p.record.id.clone()),
        imported: false,
        not_before: new.not_before,
        not_after,
        created_at: now,
        key_id,
        responder: None,
    };
    Ok(CreatedCa {
        record,
        signer,
        pkcs8,
    })
}

/// Why an imported CA certificate and key were refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("certificate: {0}")]
    Certificate(der::Error),
    #[error("private key: {0}")]
    PrivateKey(SignError),
    #[error("{0}")]
    Encoding(#[from] der::Error),
    #[error("{0}")]
    PublicKey(#[from] sigil_shared::der::DerError),
    #[error("private key does not match the certificate's public key")]
    KeyMismatch,
    #[error("certificate is not a CA certificate (basicConstraints cA must be true)")]
    NotCa,
}

/// Builds the record of an imported CA after checking that the key matches the certificate.
pub fn import_ca(
    id: &str,
    name: &str,
    cert_der: &[u8],
    pkcs8: &[u8],
    chain_der: Vec<Vec<u8>>,
    now: i64,
) -> Result<(CaRecord, Arc<dyn Signer>), ImportError> {
    let cert = x509::decode_cert(cert_der).map_err(ImportError::Certificate)?;
    let signer = SoftwareSigner::from_pkcs8_any(pkcs8).map_err(ImportError::PrivateKey)?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der()?;
    if spki != signer.public_key_der() {
        return Err(ImportError::KeyMismatch);
    }
    let is_ca = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .and_then(|e| {
            <x509_cert::ext::pkix::BasicConstraints as der::Decode>::from_der(
                e.extn_value.as_bytes(),
            )
            .ok()
        })
        .is_some_and(|bc| bc.ca);
    if !is_ca {
        return Err(ImportError::NotCa);
    }
    let key_id = key_id_of_spki(&spki)?;
    let record = CaRecord {
        id: id.to_string(),
        name: name.to_string(),
        subject: cert.tbs_certificate.subject.to_string(),
        key_algorithm: signer.key_algorithm(),
        key: KeyRef::Software,
        cert_der: cert_der.to_vec(),
        chain_der,
        parent_id: None,
        imported: true,
        not_before: x509::unix_of(&cert.tbs_certificate.validity.not_before),
        not_after: x509::unix_of(&cert.tbs_certificate.validity.not_after),
        created_at: now,
        key_id,
        responder: None,
    };
    Ok((record, Arc::new(signer)))
}

/// A new responder: its record, runtime form and PKCS#8 key to store (software CAs).
pub type IssuedResponder = (ResponderRecord, Arc<Responder>, Option<Vec<u8>>);

/// Issues a delegated OCSP responder certificate for `ca` valid `[now − 1 h, now + days]`:
/// EKU id-kp-OCSPSigning, id-pkix-ocsp-nocheck, digitalSignature (RFC 6960 §4.2.2.2). The key
/// is made where the CA's is (in memory: PKCS#8 returned to store; in the CA's tokens).
pub fn issue_responder(ca: &CaRuntime, days: u32, now: i64) -> Result<IssuedResponder, PkiError> {
    let NewKey { signer, pkcs8 } =
        keys::new_responder_key(&ca.record.key, ca.record.key_algorithm)?;
    let spki = signer.public_key_der().to_vec();
    let key_id =
        key_id_of_spki(&spki).map_err(|_| PkiError::Sign(SignError::Failed("bad SPKI".into())))?;
    let not_after = (now + i64::from(days) * 86_400).min(ca.record.not_after);
    let mut subject = ca.subject.clone();
    let cn = format!(
        "CN={} OCSP Responder",
        ca.record
            .name
            .replace([',', '+', '=', '\\', '"', '<', '>', ';'], " ")
    );
    let cn_name = x509::parse_name(&cn)?;
    subject.0.retain(|rdn| {
        !rdn.0
            .iter()
            .any(|atv| atv.oid == const_oid::db::rfc4519::CN)
    });
    subject.0.extend(cn_name.0);
    let spec = CertSpec {
        serial: x509::random_serial(),
        issuer: ca.subject.clone(),
        subject,
        spki_der: spki,
        not_before: now - 3600,
        not_after,
        extensions: vec![
            x509::basic_constraints(false, None)?,
            x509::key_usage(&["digitalSignature"])?,
            x509::extended_key_usage(&["ocspSigning"])?,
            x509::ocsp_nocheck()?,
            x509::subject_key_id(&key_id)?,
            x509::authority_key_id(&ca.record.key_id)?,
        ],
    };
    let cert_der = x509::sign_certificate(&spec, ca.signer.as_ref())?;
    let signer = Tracked::wrap(signer, &ca.stats);
    let responder = Responder {
        template: ResponderTemplate::new(
            &key_id,
            signer.signature_algorithm_der().to_vec(),
            std::slice::from_ref(&cert_der),
        ),
        signer,
        not_after,
        key_id,
    };
    Ok((
        ResponderRecord {
            cert_der,
            not_after,
        },
        Arc::new(responder),
        pkcs8,
    ))
}

/// Rebuilds a responder from its stored certificate and key (`pkcs8` for software CAs).
pub fn load_responder(
    ca: &CaRuntime,
    rec: &ResponderRecord,
    pkcs8: Option<&[u8]>,
) -> Result<Arc<Responder>, SignError> {
    let signer = keys::responder_signer(&ca.record, &rec.cert_der, pkcs8)?;
    let key_id = key_id_of_spki(signer.public_key_der())
        .map_err(|e| SignError::KeyRejected(e.to_string()))?;
    let signer = Tracked::wrap(signer, &ca.stats);
    Ok(Arc::new(Responder {
        template: ResponderTemplate::new(
            &key_id,
            signer.signature_algorithm_der().to_vec(),
            std::slice::from_ref(&rec.cert_der),
        ),
        signer,
        not_after: rec.not_after,
        key_id,
    }))
}
