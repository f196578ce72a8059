//! Enrollment over Secure Transport (RFC 7030) on the public listener (TLS), kipuka-style:
//! first enrollment authenticated by HTTP Basic `entity_id:otp` with an OTP from
//! `POST /admin/otp`, re-enrollment by the current certificate as TLS client certificate.
//!
//! Paths (`/.well-known/est/` and `/.well-known/est/<label>/`, `<label>` = a CA's current
//! name, as set at creation or by `PUT /api/v1/issuers/{id}`): `cacerts` (GET),
//! `simpleenroll` (POST), `simplereenroll` (POST), `csrattrs` (GET), `serverkeygen` (POST).
//! Without a label: the CA named `default`, else the only CA that is no other CA's parent
//! (the issuing CA of a root + intermediate setup), else 404. Issuance profile:
//! `[profiles.est-<label>]`, else `[profiles.est]`, else the issuer's default profile (its
//! settings), else `default`; the issuer's policy (disabled, allowed profiles) applies.
//!
//! Modules: [`wire`] (bodies, Basic, multipart), [`pkcs7`] (certs-only, CSR attributes),
//! [`identity`] (CSR ↔ entity, client-certificate signature), [`keygen`] (serverkeygen
//! keys), [`limit`] (failed-OTP token buckets) are sans-io; [`service`] runs an operation on
//! the services (`crate::services`, blocking) and [`authn`] authenticates it; [`http`] holds
//! the thin axum handlers. Service errors become EST answers in one place (below).

pub mod authn;
pub mod http;
pub mod identity;
pub mod keygen;
pub mod limit;
pub mod pkcs7;
pub mod service;
pub mod wire;

pub use authn::Credentials;
pub use http::router;
pub use service::{Est, Issued};

use crate::services::ErrorKind;

/// Why an EST request failed; each maps to one status, the text is the response body.
#[derive(Debug, thiserror::Error)]
pub enum EstError {
    /// 401 with `WWW-Authenticate: Basic`.
    #[error("{0}")]
    Unauthorized(String),
    /// 400: the CSR (or body) is unusable.
    #[error("{0}")]
    BadRequest(String),
    /// 404: unknown label, or no default CA.
    #[error("{0}")]
    NotFound(String),
    /// 409: e.g. the CA has expired.
    #[error("{0}")]
    Conflict(String),
    /// 429 with `Retry-After` (seconds): too many failed OTP attempts.
    #[error("too many failed authentication attempts; retry in {0} s")]
    TooManyAttempts(u64),
    /// 500; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EstError {
    /// The answer to a service error of `kind` whose text is `message`.
    fn from_service(kind: ErrorKind, message: String) -> Self {
        match kind {
            ErrorKind::Invalid => EstError::BadRequest(message),
            ErrorKind::NotFound => EstError::NotFound(message),
            ErrorKind::Conflict => EstError::Conflict(message),
            // Not raised by what EST calls (the key service's kinds); answered as refusals.
            ErrorKind::Forbidden | ErrorKind::Unauthorized => EstError::Unauthorized(message),
            ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::SignerUnavailable => {
                EstError::Internal(message)
            }
        }
    }
}

crate::services::into_protocol_error!(EstError, EstError::from_service);
