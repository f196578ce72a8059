//! What the services fail with. Each service has its own enum (`CertError`, `IssuerError`,
//! `OtpError`, `ApiKeyError`, `KesError`, `SshError`) whose variants say what went wrong;
//! failures beneath the services (store, audit log, signing, encoding) are [`Internal`].
//! Every error has a [`ErrorKind`], which each protocol maps to its own answer in one place
//! (`api::error` for the admin API, `est` for EST). The `Display` text is what clients see,
//! except for [`ErrorKind::Internal`], which only the log sees.

use thiserror::Error;

use super::api_keys::ApiKeyError;
use super::certificates::CertError;
use super::issuers::IssuerError;
use super::kes::KesError;
use super::otps::OtpError;
use super::secrets::SecretsError;
use super::ssh::SshError;
use crate::audit::AuditError;
use crate::crypto::SignError;
use crate::db::DbError;
use crate::x509::PkiError;

/// What a client is told when a signing key's backend is away ([`ErrorKind::SignerUnavailable`]).
pub const SIGNER_UNAVAILABLE: &str =
    "signing key unavailable; see the control plane's health and log";

/// How a protocol should answer an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is invalid (400).
    Invalid,
    /// What it names does not exist (404).
    NotFound,
    /// It conflicts with the current state (409).
    Conflict,
    /// The caller may not do it (403).
    Forbidden,
    /// The caller's credentials are missing, wrong or expired (401), e.g. a failed Keyper
    /// login.
    Unauthorized,
    /// The service cannot do it as configured (503), e.g. an SSH CA whose token is away.
    Unavailable,
    /// A signing key's backend is away for now (a PKCS#11 token gone, its PIN refused): 503
    /// with a stable message, the detail logged; the signer re-probes and heals on its own.
    SignerUnavailable,
    /// A failure of the control plane itself (500); the detail is logged, not sent.
    Internal,
}

/// A failure beneath the services. Never the client's fault.
#[derive(Debug, Error)]
pub enum Internal {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Der(#[from] der::Error),
    #[error("random generator failed")]
    Random,
    /// Building or using a SCEP RA key or message (`sigil_scep`).
    #[error("SCEP: {0}")]
    Scep(#[from] sigil_scep::ScepError),
    /// The write of a group of commits failed with this (every commit in it failed; the
    /// first one's caller got the error itself).
    #[error("group commit: {0}")]
    GroupCommit(String),
    #[error(transparent)]
    Wrap(#[from] sigil_kes::WrapError),
    #[error("secret: {0}")]
    Secret(#[from] crate::crypto::sealed::SealError),
    #[error("corrupt CRL number of issuer {issuer_id:?}")]
    CorruptCrlNumber { issuer_id: String },
    #[error("certificate {id} indexed but missing")]
    CertificateMissing { id: String },
    #[error("issuer id of certificate {id} is not UTF-8")]
    CorruptCertificateIndex { id: String },
    #[error("stored CA certificate of {issuer_id:?}: {source}")]
    StoredCaCertificate {
        issuer_id: String,
        source: der::Error,
    },
}

impl Internal {
    /// A precondition of the commit failed ([`sigil_storage::StoreError::Conflict`]): what
    /// the operation read changed before it was written — another control-plane node on the
    /// same database changed it (or took the serial). Nothing was written; running the
    /// operation again from its reads is safe ([`super::context::retry_conflicts`]).
    pub fn is_write_conflict(&self) -> bool {
        matches!(
            self,
            Self::Db(DbError::Store(sigil_storage::StoreError::Conflict { .. }))
        )
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Sign(SignError::Unavailable(_))
            | Self::Pki(PkiError::Sign(SignError::Unavailable(_))) => ErrorKind::SignerUnavailable,
            _ => ErrorKind::Internal,
        }
    }
}

/// Any service's error: what handlers that call several services return.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Certificate(#[from] CertError),
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    ApiKey(#[from] ApiKeyError),
    #[error(transparent)]
    Kes(#[from] KesError),
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Profile(#[from] super::profiles::ProfileError),
    /// The stored secrets at start-up (`services::secrets::prepare`).
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Certificate(e) => e.kind(),
            Self::Issuer(e) => e.kind(),
            Self::Otp(e) => e.kind(),
            Self::ApiKey(e) => e.kind(),
            Self::Kes(e) => e.kind(),
            Self::Ssh(e) => e.kind(),
            Self::Profile(e) => e.kind(),
            Self::Secrets(_) => ErrorKind::Internal,
            Self::Internal(e) => e.kind(),
        }
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        Self::Internal(e.into())
    }
}

/// `From` every service error type for a protocol's error type `$t`, through its constructor
/// `$from(kind, message)`: how a protocol maps service errors, written once per protocol.
macro_rules! into_protocol_error {
    ($t:ty, $from:path) => {
        $crate::services::into_protocol_error!(
            $t,
            $from;
            $crate::services::ServiceError,
            $crate::services::CertError,
            $crate::services::IssuerError,
            $crate::services::OtpError,
            $crate::services::ScepRequestError,
            $crate::services::ApiKeyError,
            $crate::services::KesError,
            $crate::services::SshError,
            $crate::services::ProfileError,
            $crate::services::Internal
        );
    };
    ($t:ty, $from:path; $($source:ty),+) => {
        $(impl From<$source> for $t {
            fn from(e: $source) -> Self {
                $from(e.kind(), e.to_string())
            }
        })+
    };
}
pub(crate) use into_protocol_error;

/// `From` the failures beneath the services (each through [`Internal`]) for a service's error
/// type, which must have an `Internal(Internal)` variant.
macro_rules! internal_from {
    ($t:ty; $($source:ty),+) => {
        $(impl From<$source> for $t {
            fn from(e: $source) -> Self {
                Self::Internal(e.into())
            }
        })+
    };
    ($t:ty) => {
        $crate::services::error::internal_from!(
            $t;
            $crate::db::DbError,
            $crate::audit::AuditError,
            $crate::crypto::SignError,
            der::Error
        );
    };
}
pub(crate) use internal_from;
