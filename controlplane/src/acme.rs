//! ACME (RFC 8555) on the public listener: `/acme/directory` and the resources below it.
//!
//! Accounts are JWS-authenticated (ES256/ES384, RS256, EdDSA: `sigil-acme` parses and
//! verifies), every request is a POST (POST-as-GET for reads, §6.3) with a single-use nonce
//! ([`nonce`]) and the exact URL in its protected header. Orders name `dns` and `ip`
//! identifiers as the profile's `allowed_san_types` allow; each identifier gets an
//! authorization with `http-01`, `tls-alpn-01` (RFC 8737) and, with `[acme] dns01_hook`,
//! `dns-01` challenges, validated off the request path ([`validate`]). `finalize` checks that
//! the CSR names exactly the order's identifiers and issues through the common issuance path
//! (`Enrollment::Acme`); `revokeCert` revokes through `Certificates::revoke`.
//!
//! State (accounts, orders, authorizations, certificate owners) lives in the store through
//! `services::AcmeState` (synced, fenced, audited). Modules: [`nonce`] and [`limit`] (in
//! memory), [`server`] (authentication and the account operations), [`orders`] (orders,
//! authorizations, challenges, finalize, download, revocation), [`resources`] (the JSON
//! bodies), [`validate`] (challenge validation tasks), [`http`] (axum routes). Every error
//! becomes an RFC 7807 problem document in one place ([`AcmeError`]'s `IntoResponse`, in
//! [`http`]); every answer carries `Replay-Nonce`.

pub mod http;
pub mod identifiers;
pub mod limit;
pub mod nonce;
pub mod orders;
pub mod resources;
pub mod revoke;
pub mod server;
pub mod validate;

pub use http::router;
pub use server::AcmeServer;

use sigil_acme::{JwsError, ProblemType};

use crate::services::{AcmeStateError, ErrorKind};

/// Why an ACME request failed: a problem document, with `Retry-After` or `Location` where
/// the type calls for one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct AcmeError {
    pub kind: ProblemType,
    pub detail: String,
    /// Overrides the type's status (404 for unknown resources, 409 for a key in use, 415).
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub location: Option<String>,
}

impl AcmeError {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            status: None,
            retry_after: None,
            location: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Malformed, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unauthorized, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self {
            status: Some(404),
            ..Self::malformed(format!("no such {what}"))
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::ServerInternal, detail)
    }

    pub fn rate_limited(detail: impl Into<String>, secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(ProblemType::RateLimited, detail)
        }
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or(self.kind.status())
    }

    /// The answer to a service error of `kind` whose text is `message`.
    fn from_service(kind: ErrorKind, message: String) -> Self {
        match kind {
            ErrorKind::Invalid => Self::malformed(message),
            ErrorKind::NotFound => Self {
                status: Some(404),
                ..Self::malformed(message)
            },
            ErrorKind::Conflict => Self {
                status: Some(409),
                ..Self::malformed(message)
            },
            ErrorKind::Forbidden | ErrorKind::Unauthorized => Self::unauthorized(message),
            ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::SignerUnavailable => {
                Self::internal(message)
            }
        }
    }
}

crate::services::into_protocol_error!(AcmeError, AcmeError::from_service);

impl From<AcmeStateError> for AcmeError {
    fn from(e: AcmeStateError) -> Self {
        Self::from_service(e.kind(), e.to_string())
    }
}

impl From<JwsError> for AcmeError {
    fn from(e: JwsError) -> Self {
        let kind = match e {
            JwsError::BadAlgorithm(_) => ProblemType::BadSignatureAlgorithm,
            JwsError::BadKey(_) => ProblemType::BadPublicKey,
            _ => ProblemType::Malformed,
        };
        Self::new(kind, e.to_string())
    }
}
