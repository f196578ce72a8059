//! SCEP (RFC 8894) without I/O: what the control plane's `/scep` endpoint parses and builds.
//!
//! A request (`PKIOperation`) is a `pkiMessage`: a CMS `SignedData` (RFC 5652 §5) signed by
//! the requester — with a self-signed certificate for its new key, or its current certificate
//! for a renewal — whose signed attributes carry the SCEP fields (messageType, transactionID,
//! senderNonce; RFC 8894 §3.2.1) and whose content is a `pkcsPKIEnvelope`, an `EnvelopedData`
//! (RFC 5652 §6) encrypted to the CA or RA certificate and holding the PKCS#10 request.
//! The answer (`CertRep`) is the same shape the other way round: signed by the RA, the issued
//! certificate in a degenerate certs-only `SignedData` encrypted to the requester's
//! certificate.
//!
//! Modules: [`oids`] (object identifiers), [`attrs`] (messageType, pkiStatus, failInfo and the
//! attribute codecs), [`message`] ([`PkiMessage`]: parse, verify), [`envelope`] (decrypt and
//! encrypt the `pkcsPKIEnvelope`), [`reply`] ([`Ra`], the RA's key and certificate;
//! [`reply::cert_rep`]), [`request`] (a requester's side: building `PKCSReq`/`RenewalReq`,
//! reading a `CertRep`; used by tests and tools), [`certs`] (degenerate certs-only).
//!
//! Crypto is aws-lc-rs's (RSA PKCS#1 v1.5 key transport and signatures, ECDSA signatures,
//! AES-CBC, SHA-1/2) except single DES and DES-EDE3 (RustCrypto `des`), which only old
//! clients send.

pub mod attrs;
pub mod certs;
pub mod csr;
pub mod envelope;
pub mod message;
pub mod oids;
pub mod reply;
pub mod request;

pub use attrs::{FailInfo, MessageType, PkiStatus};
pub use envelope::ContentCipher;
pub use message::PkiMessage;
pub use reply::Ra;

/// Why a SCEP message could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScepError {
    /// Not DER of the expected structure (answered with HTTP 400: there is nothing to
    /// answer a CertRep to).
    #[error("malformed pkiMessage: {0}")]
    Malformed(String),
    /// A structure SCEP does not use or an algorithm not supported (failInfo badAlg).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The signature, message digest or envelope does not check (failInfo badMessageCheck).
    #[error("message check failed: {0}")]
    BadMessageCheck(String),
    /// Key generation, signing or encryption failed here.
    #[error("crypto failure: {0}")]
    Crypto(String),
}

impl ScepError {
    /// The failInfo a CertRep reports for this error.
    pub fn fail_info(&self) -> FailInfo {
        match self {
            ScepError::Unsupported(_) => FailInfo::BadAlg,
            ScepError::BadMessageCheck(_) => FailInfo::BadMessageCheck,
            ScepError::Malformed(_) | ScepError::Crypto(_) => FailInfo::BadRequest,
        }
    }
}

impl From<der::Error> for ScepError {
    fn from(e: der::Error) -> Self {
        ScepError::Malformed(e.to_string())
    }
}

pub type Result<T, E = ScepError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
