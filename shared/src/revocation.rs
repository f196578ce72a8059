//! Revocation reasons (RFC 5280 §5.3.1, `CRLReason`), shared by CRLs and OCSP.

use serde::{Deserialize, Serialize};

/// ```text
/// CRLReason ::= ENUMERATED {
///      unspecified             (0), keyCompromise           (1), cACompromise            (2),
///      affiliationChanged      (3), superseded              (4), cessationOfOperation    (5),
///      certificateHold         (6), -- value 7 is not used
///      removeFromCRL           (8), privilegeWithdrawn      (9), aACompromise           (10) }
/// ```
/// `removeFromCRL` only appears in delta CRLs and is not accepted as a revocation reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    #[serde(rename = "cACompromise", alias = "caCompromise")]
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise", alias = "aaCompromise")]
    AaCompromise,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 9] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The ENUMERATED value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// Parses the RFC 5280 name case-insensitively, also accepting `snake_case` and numbers.
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if let Ok(n) = norm.parse::<u8>() {
            return Self::from_code(n);
        }
        Self::ALL
            .into_iter()
            .find(|r| r.name().to_ascii_lowercase() == norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.name()), Some(r));
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        }
        assert_eq!(
            RevocationReason::parse("key_compromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
        assert_eq!(RevocationReason::from_code(7), None);
    }
}
