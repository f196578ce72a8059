//! What the SSH key service fails with. The `Display` text is what Keyper's clients see
//! (except for [`SshError::Internal`]).

use thiserror::Error;

use crate::services::error::{ErrorKind, Internal};

/// See the module documentation.
#[derive(Debug, Error)]
pub enum SshError {
    #[error("user {0:?} does not exist")]
    UserNotFound(String),
    #[error("host {0:?} does not exist")]
    HostNotFound(String),
    #[error("group {0:?} does not exist")]
    GroupNotFound(String),
    #[error("{what} {id:?} of {owner:?} does not exist")]
    EntryNotFound {
        what: &'static str,
        id: String,
        owner: String,
    },
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("host {0:?} already exists")]
    HostExists(String),
    #[error("group {0:?} already exists")]
    GroupExists(String),
    #[error("this key ({0}) is already registered")]
    KeyRegistered(String),
    #[error("this key ({0}) was revoked and cannot be used again")]
    KeyRevoked(String),
    #[error("the admin group {0:?} cannot be deleted")]
    AdminGroup(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("unknown member {0:?}: a user (ou=people) or host (ou=Hosts) DN of this directory")]
    UnknownMember(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("invalid key in {field}: {source}")]
    InvalidKey {
        field: String,
        source: sigil_ssh::SshError,
    },
    #[error("fingerprint mismatch in {field}: the key's fingerprint is {actual}")]
    FingerprintMismatch { field: String, actual: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("too many failed logins for this user; retry in {0} s")]
    RateLimited(u64),
    #[error("the SSH CA could not sign: {0}")]
    SignerUnavailable(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl SshError {
    /// What the operation read changed before its commit (another node's write).
    pub(in crate::services) fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UserNotFound(_)
            | Self::HostNotFound(_)
            | Self::GroupNotFound(_)
            | Self::EntryNotFound { .. } => ErrorKind::NotFound,
            Self::UserExists(_)
            | Self::HostExists(_)
            | Self::GroupExists(_)
            | Self::KeyRegistered(_)
            | Self::KeyRevoked(_)
            | Self::AdminGroup(_) => ErrorKind::Conflict,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::Unauthorized(_) | Self::RateLimited(_) => ErrorKind::Unauthorized,
            Self::SignerUnavailable(_) => ErrorKind::SignerUnavailable,
            Self::Internal(e) => e.kind(),
            Self::UnknownGroup(_)
            | Self::UnknownMember(_)
            | Self::UnknownUser(_)
            | Self::Invalid { .. }
            | Self::InvalidKey { .. }
            | Self::FingerprintMismatch { .. } => ErrorKind::Invalid,
        }
    }

    pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

crate::services::error::internal_from!(SshError);
