//! What the key service fails with, and how KES itself answers each failure (for the calls
//! data planes forward from KES clients, whose answers must be KES's).

use std::borrow::Cow;

use sigil_kes::policy::PolicyError;
use thiserror::Error;

use super::MAX_VERSIONS;
use crate::services::error::{ErrorKind, Internal};

/// See the module documentation. The `Display` text is the admin API's message; the text a
/// KES client sees is [`KesError::kes_status`]'s.
#[derive(Debug, Error)]
pub enum KesError {
    #[error("key {name:?} already exists")]
    KeyExists { name: String },
    #[error("key {name:?} does not exist")]
    KeyNotFound { name: String },
    #[error("policy {name:?} does not exist")]
    PolicyNotFound { name: String },
    #[error("identity {identity:?} does not exist")]
    IdentityNotFound { identity: String },
    #[error("not authorized: insufficient permissions")]
    NotAllowed,
    #[error("identity cannot assign policy to itself")]
    SelfAssign,
    #[error("key name '{0}' is empty, too long or contains invalid characters")]
    InvalidKeyName(String),
    #[error("policy name '{0}' is empty, too long or contains invalid characters")]
    InvalidPolicyName(String),
    #[error("identity '{0}' is empty, too long or contains invalid characters")]
    InvalidIdentity(String),
    #[error("listing pattern '{0}' is empty, too long or is invalid")]
    InvalidPattern(String),
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// An import whose body is not JSON of the import shape (or whose key is not base64).
    #[error("invalid import key request body: {0}")]
    InvalidJson(String),
    #[error("algorithm '{0}' is not supported (AES256 or ChaCha20)")]
    UnsupportedAlgorithm(String),
    /// An imported key that is not 256 bits (the text names the algorithm as given).
    #[error("invalid key size for '{0}': a key is 32 bytes")]
    InvalidKeySize(String),
    #[error("key {name:?} has {MAX_VERSIONS} versions, the most a key may have")]
    TooManyVersions { name: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl KesError {
    /// What the operation read changed before its commit (another node's write): run it
    /// again ([`crate::services::context::retry_conflicts`]).
    pub(in crate::services) fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::KeyExists { .. } | Self::TooManyVersions { .. } => ErrorKind::Conflict,
            Self::KeyNotFound { .. }
            | Self::PolicyNotFound { .. }
            | Self::IdentityNotFound { .. } => ErrorKind::NotFound,
            Self::NotAllowed | Self::SelfAssign => ErrorKind::Forbidden,
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }

    /// The status and message KES answers this failure with (kms-go `kes` errors and the KES
    /// server's handlers): an existing key is 400 `key already exists`; a missing key, policy
    /// or identity 404 `… does not exist`; a refused request 403 `not authorized: insufficient
    /// permissions`; a name KES would not accept 400 `key name '…' is empty, too long or
    /// contains invalid characters` (policy and identity alike); an import body that does not
    /// decode 400 `invalid import key request body`, an unknown cipher 406 `algorithm '…' is
    /// not supported`, a key of the wrong size 406 `invalid key size for '…'`.
    pub fn kes_status(&self) -> (u16, Cow<'static, str>) {
        match self {
            Self::KeyExists { .. } => (400, "key already exists".into()),
            Self::KeyNotFound { .. } => (404, "key does not exist".into()),
            Self::PolicyNotFound { .. } => (404, "policy does not exist".into()),
            Self::IdentityNotFound { .. } => (404, "identity does not exist".into()),
            Self::NotAllowed => (403, "not authorized: insufficient permissions".into()),
            Self::SelfAssign => (403, "identity cannot assign policy to itself".into()),
            Self::InvalidKeyName(_)
            | Self::InvalidPolicyName(_)
            | Self::InvalidIdentity(_)
            | Self::InvalidPattern(_)
            | Self::InvalidPolicy(_) => (400, self.to_string().into()),
            Self::InvalidJson(_) => (400, "invalid import key request body".into()),
            Self::UnsupportedAlgorithm(a) => {
                (406, format!("algorithm '{a}' is not supported").into())
            }
            Self::InvalidKeySize(a) => (406, format!("invalid key size for '{a}'").into()),
            Self::TooManyVersions { .. } => (409, self.to_string().into()),
            Self::Internal(_) => (500, "internal error".into()),
        }
    }
}

crate::services::error::internal_from!(KesError);
