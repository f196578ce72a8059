//! RFC 7807 problem documents with ACME's error types (RFC 8555 §6.7).

use serde::Serialize;

/// The ACME error types Sigil answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    AccountDoesNotExist,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Connection,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedIdentifier,
    Tls,
    Dns,
}

impl ProblemType {
    /// The part after `urn:ietf:params:acme:error:`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AccountDoesNotExist => "accountDoesNotExist",
            Self::AlreadyRevoked => "alreadyRevoked",
            Self::BadCsr => "badCSR",
            Self::BadNonce => "badNonce",
            Self::BadPublicKey => "badPublicKey",
            Self::BadRevocationReason => "badRevocationReason",
            Self::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Self::Connection => "connection",
            Self::ExternalAccountRequired => "externalAccountRequired",
            Self::IncorrectResponse => "incorrectResponse",
            Self::InvalidContact => "invalidContact",
            Self::Malformed => "malformed",
            Self::OrderNotReady => "orderNotReady",
            Self::RateLimited => "rateLimited",
            Self::RejectedIdentifier => "rejectedIdentifier",
            Self::ServerInternal => "serverInternal",
            Self::Unauthorized => "unauthorized",
            Self::UnsupportedIdentifier => "unsupportedIdentifier",
            Self::Tls => "tls",
            Self::Dns => "dns",
        }
    }

    /// The HTTP status a request failing with this type is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::Unauthorized => 403,
            Self::AccountDoesNotExist => 400,
            Self::OrderNotReady => 403,
            Self::RateLimited => 429,
            Self::ServerInternal => 500,
            _ => 400,
        }
    }

    pub fn urn(self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.name())
    }
}

/// A problem document (`application/problem+json`); also a failed challenge's `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Problem {
    pub fn new(t: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind: t.urn(),
            detail: detail.into(),
            status: Some(t.status()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc7807() {
        let p = Problem::new(ProblemType::BadNonce, "stale");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale", "status": 400})
        );
        assert_eq!(ProblemType::RateLimited.status(), 429);
    }
}
