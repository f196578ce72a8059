//! SCEP (RFC 8894) on the public listener: `GET /scep?operation=GetCACaps|GetCACert`,
//! `PKIOperation` by `GET …&message=<base64>` or `POST /scep?operation=PKIOperation`
//! (`application/x-pki-message`). Enabled by `[scep] enabled = true`; docs/ENROLLMENT.md.
//!
//! The messages are [`sigil_scep`]'s (sans-io): this module picks the CA (`[scep] issuer`,
//! else EST's default CA), its RA (an RSA certificate the CA issues for SCEP,
//! `Issuers::scep_ra`), authenticates (PKCSReq: the challengePassword is an enrollment OTP
//! of the entity the CSR's CN names, through EST's rate limiter, OTP use and failure audit;
//! RenewalReq: signed by the current certificate — one of this CA's, in the database,
//! unrevoked, valid — and the CSR keeps its subject and SANs) and issues through the common
//! path with `enrollment = scep`.
//!
//! Modules: [`service`] (the operations, blocking) and [`http`] (axum routes). Errors map to
//! answers in one place, [`Refusal::fail_info`]: a message that cannot be parsed is HTTP
//! 400 (there is nothing to answer a CertRep to); everything after is a CertRep FAILURE
//! with a failInfo.

pub mod http;
pub mod service;

pub use http::router;
pub use service::Scep;

use sigil_scep::FailInfo;

use crate::est::EstError;

/// Why a parsed SCEP request was refused: each becomes a CertRep FAILURE with a failInfo.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The message itself (signature, envelope, algorithm).
    #[error(transparent)]
    Message(#[from] sigil_scep::ScepError),
    /// Authentication failed (challenge, renewal certificate), the CSR was refused, or the
    /// operation is not offered.
    #[error("{0}")]
    Request(String),
    /// The certificate a RenewalReq is signed with is not one this CA issued and that is
    /// still valid.
    #[error("{0}")]
    CertId(String),
    /// A service failure (logged; the client sees badRequest).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Refusal {
    /// The failInfo of the CertRep (RFC 8894 §3.2.1.4).
    pub fn fail_info(&self) -> FailInfo {
        match self {
            Refusal::Message(e) => e.fail_info(),
            Refusal::Request(_) | Refusal::Internal(_) => FailInfo::BadRequest,
            Refusal::CertId(_) => FailInfo::BadCertId,
        }
    }
}

impl From<EstError> for Refusal {
    fn from(e: EstError) -> Self {
        match e {
            EstError::Internal(m) => Refusal::Internal(m),
            other => Refusal::Request(other.to_string()),
        }
    }
}

/// What the HTTP layer answers for a request that got no CertRep.
#[derive(Debug, thiserror::Error)]
pub enum ScepHttpError {
    /// 400: unknown operation, missing or undecodable message.
    #[error("{0}")]
    BadRequest(String),
    /// 404: SCEP is not enabled or there is no CA to serve it.
    #[error("{0}")]
    NotFound(String),
    /// 500; the detail is logged.
    #[error("internal error: {0}")]
    Internal(String),
}
