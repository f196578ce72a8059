//! OpenSSH certificates (PROTOCOL.certkeys): signing user and host certificates, and reading
//! back the fields the lookups need.
//!
//! Facts from PROTOCOL.certkeys and sshd(8) this relies on:
//! - A certificate is valid from `valid_after` (inclusive) to `valid_before` (exclusive), in
//!   Unix seconds (sshd: "not yet valid" when now < valid_after, "expired" when now ≥
//!   valid_before).
//! - An empty principals list means "any principal": never signed here.
//! - Serial 0 cannot be revoked by serial (a KRL refuses serial 0, and `is_cert_revoked`
//!   skips it): never signed here.
//! - `ssh-keygen -s` gives user certificates the extensions `permit-X11-forwarding`,
//!   `permit-agent-forwarding`, `permit-port-forwarding`, `permit-pty` and `permit-user-rc`
//!   (all with empty data) and host certificates none; critical options are empty.
//! - The nonce is 32 random bytes (as `sshkey_certify` uses).

use crate::ca::CaSigner;
use crate::error::SshError;
use crate::key::{self, ParsedKey};
use crate::lookup::valid_principal;
use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use ssh_key::rand_core::{OsRng, RngCore};
use ssh_key::{Certificate, HashAlg, Signature};
use std::cell::RefCell;

/// The extensions of a user certificate, in the order OpenSSH writes them (sorted by name).
pub const USER_EXTENSIONS: [&str; 5] = [
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];
/// Longest key ID accepted.
pub const MAX_KEY_ID: usize = 256;
/// Most principals in one certificate.
pub const MAX_PRINCIPALS: usize = 256;
/// Latest `valid_before` ssh-key can encode (OpenSSH's "forever", 2^64−1, is not used).
pub const MAX_VALID_BEFORE: u64 = i64::MAX as u64;

/// User or host certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    User,
    Host,
}

/// What to certify.
#[derive(Debug, Clone)]
pub struct CertRequest<'a> {
    pub kind: CertKind,
    pub public_key: &'a ParsedKey,
    /// Unique per CA, not 0.
    pub serial: u64,
    /// Names the user or host (shown in sshd's logs, revocable in a KRL): 1 to
    /// [`MAX_KEY_ID`] bytes, no control characters.
    pub key_id: String,
    /// 1 to [`MAX_PRINCIPALS`] principals, each [`valid_principal`].
    pub principals: Vec<String>,
    /// Unix seconds, inclusive.
    pub valid_after: u64,
    /// Unix seconds, exclusive; after `valid_after`, at most [`MAX_VALID_BEFORE`].
    pub valid_before: u64,
}

/// A signed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCert {
    /// One line: `<type>-cert-v01@openssh.com base64 key_id`.
    pub openssh: String,
    /// The certificate's wire encoding.
    pub blob: Vec<u8>,
    pub kind: CertKind,
    pub serial: u64,
    pub key_id: String,
    pub principals: Vec<String>,
    pub valid_after: u64,
    pub valid_before: u64,
    /// Fingerprint of the certified key (sshd's `%f`).
    pub fingerprint: String,
    /// Fingerprint of the CA key (sshd's `%F`).
    pub ca_fingerprint: String,
}

/// Signs a certificate with a fresh random nonce.
pub fn sign(req: &CertRequest<'_>, ca: &dyn CaSigner) -> Result<SignedCert, SshError> {
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    sign_with_nonce(req, &nonce, ca)
}

/// Signs a certificate with the given nonce (deterministic for a deterministic signer). The
/// request is checked first, and the result is verified against the CA's public key before
/// it is returned, so a signer that signs with the wrong key or scheme is caught here.
pub fn sign_with_nonce(
    req: &CertRequest<'_>,
    nonce: &[u8; 32],
    ca: &dyn CaSigner,
) -> Result<SignedCert, SshError> {
    check(req)?;
    let ca_key =
        ParsedKey::from_ssh_key(&ca.public_key()).map_err(|e| SshError::CaKey(e.to_string()))?;
    let mut b = Builder::new(
        nonce.to_vec(),
        req.public_key.key_data().clone(),
        req.valid_after,
        req.valid_before,
    )?;
    b.serial(req.serial)?;
    b.key_id(req.key_id.clone())?;
    b.comment(req.key_id.clone())?;
    b.cert_type(match req.kind {
        CertKind::User => CertType::User,
        CertKind::Host => CertType::Host,
    })?;
    for p in &req.principals {
        b.valid_principal(p.clone())?;
    }
    if req.kind == CertKind::User {
        for ext in USER_EXTENSIONS {
            b.extension(ext, "")?;
        }
    }
    let signer = Adapter {
        ca,
        public: ca_key.key_data().clone(),
        error: RefCell::new(None),
    };
    let cert = match b.sign(&signer) {
        Ok(cert) => cert,
        Err(e) => return Err(signer.error.into_inner().unwrap_or(SshError::SshKey(e))),
    };
    let ca_fp = cert.signature_key().fingerprint(HashAlg::Sha256);
    cert.validate_at(req.valid_after, [&ca_fp])
        .map_err(|_| SshError::BadSignature("the CA's signature does not verify"))?;
    Ok(SignedCert {
        openssh: cert.to_openssh()?,
        blob: cert.to_bytes()?,
        kind: req.kind,
        serial: req.serial,
        key_id: req.key_id.clone(),
        principals: req.principals.clone(),
        valid_after: req.valid_after,
        valid_before: req.valid_before,
        fingerprint: req.public_key.fingerprint.clone(),
        ca_fingerprint: ca_key.fingerprint,
    })
}

fn check(req: &CertRequest<'_>) -> Result<(), SshError> {
    let bad = SshError::InvalidRequest;
    if req.serial == 0 {
        return Err(bad("serial 0 cannot be revoked by serial"));
    }
    if req.key_id.is_empty()
        || req.key_id.len() > MAX_KEY_ID
        || req.key_id.chars().any(char::is_control)
    {
        return Err(bad("key ID: 1 to 256 bytes, no control characters"));
    }
    if req.principals.is_empty() || req.principals.len() > MAX_PRINCIPALS {
        return Err(bad("1 to 256 principals (none would mean any)"));
    }
    if !req.principals.iter().all(|p| valid_principal(p)) {
        return Err(bad("invalid principal"));
    }
    if req.valid_after >= req.valid_before || req.valid_before > MAX_VALID_BEFORE {
        return Err(bad("validity: valid_after < valid_before ≤ 2^63−1"));
    }
    Ok(())
}

/// ssh-key's certificate builder signs through `signature::Signer`; this carries a
/// `&dyn CaSigner` there and its error back.
struct Adapter<'a> {
    ca: &'a dyn CaSigner,
    public: KeyData,
    error: RefCell<Option<SshError>>,
}

impl signature::Signer<Signature> for Adapter<'_> {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        self.ca.sign(message).map_err(|e| {
            *self.error.borrow_mut() = Some(e);
            signature::Error::new()
        })
    }
}

impl From<&Adapter<'_>> for KeyData {
    fn from(a: &Adapter<'_>) -> KeyData {
        a.public.clone()
    }
}

/// The fields of a certificate line the lookups and the KRL need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub kind: CertKind,
    pub serial: u64,
    pub key_id: String,
    pub principals: Vec<String>,
    pub valid_after: u64,
    pub valid_before: u64,
    /// Fingerprint of the certified key.
    pub fingerprint: String,
    /// The CA key's blob (what a KRL's certificate section names).
    pub ca_blob: Vec<u8>,
}

impl CertInfo {
    /// Reads a certificate line (`type base64 [comment]`). The signature is not checked:
    /// this reads certificates Sigil signed and stored. Certificates valid "forever"
    /// (`valid_before` 2^64−1, `ssh-keygen -s` without `-V`) cannot be read (ssh-key keeps
    /// times within 2^63−1).
    pub fn parse(line: &str) -> Result<CertInfo, SshError> {
        if line.len() > key::MAX_LINE {
            return Err(SshError::TooLong { max: key::MAX_LINE });
        }
        let cert = Certificate::from_openssh(line.trim())?;
        let subject = ParsedKey::from_ssh_key(cert.public_key())?;
        Ok(CertInfo {
            kind: match cert.cert_type() {
                CertType::User => CertKind::User,
                CertType::Host => CertKind::Host,
            },
            serial: cert.serial(),
            key_id: cert.key_id().to_owned(),
            principals: cert.valid_principals().to_vec(),
            valid_after: cert.valid_after(),
            valid_before: cert.valid_before(),
            fingerprint: subject.fingerprint,
            ca_blob: ssh_key::PublicKey::from(cert.signature_key().clone()).to_bytes()?,
        })
    }
}

#[cfg(test)]
mod tests;
