//! Errors of keys, certificates and CA keys. The KRL codec has its own ([`crate::krl::KrlError`]).

use thiserror::Error;

/// An error a caller outside the crate raises inside [`crate::ca::CaSigner::sign`] (an HSM
/// session lost, a token refusing): carried through unchanged, so it can be downcast.
pub type SignerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a key line, a certificate request or a CA key was refused.
#[derive(Debug, Error)]
pub enum SshError {
    #[error("key line longer than {max} bytes")]
    TooLong { max: usize },
    #[error("key line contains a control character")]
    ControlCharacter,
    #[error("key line is not `type base64 [comment]`")]
    Malformed,
    #[error("key is not valid base64")]
    Base64,
    #[error("unknown or unsupported key type `{0}`")]
    UnknownType(String),
    #[error("key type `{line}` does not match the key's own type `{blob}`")]
    TypeMismatch { line: String, blob: String },
    #[error("certificates are not accepted here, only plain public keys")]
    Certificate,
    #[error("DSA keys are not accepted")]
    Dsa,
    #[error("RSA key of {bits} bits: {min} to {max} bits are accepted")]
    RsaSize { bits: usize, min: usize, max: usize },
    #[error("invalid key encoding: {0}")]
    Encoding(String),
    #[error("invalid certificate request: {0}")]
    InvalidRequest(&'static str),
    #[error("signature does not fit the CA key: {0}")]
    BadSignature(&'static str),
    #[error("CA key: {0}")]
    CaKey(String),
    #[error("the CA's signer failed")]
    Signer(#[source] SignerError),
    #[error("OpenSSH encoding: {0}")]
    SshKey(#[from] ssh_key::Error),
}
