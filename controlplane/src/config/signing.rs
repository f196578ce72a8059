//! The signing sections of the configuration: `[ocsp]` (pre-signed responses, CA/B Forum BR
//! 4.9.10 limits), `[crl]` and the issuance `[profiles.<name>]`.

use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::HashAlg;

/// Who signs OCSP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OcspSignerMode {
    /// A short-lived delegated responder certificate per CA (RFC 6960 §4.2.2.2).
    Delegated,
    /// The CA key itself.
    Ca,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcspConfig {
    /// nextUpdate − thisUpdate, hours (CA/B Forum BR 4.9.10: 8 h ..= 10 days).
    pub validity_hours: u32,
    /// Re-sign a response when it is this old, hours (BR: ≤ 4 days, and ≥ 8 h before nextUpdate).
    pub refresh_after_hours: u32,
    /// CertID hash algorithms to pre-sign for.
    pub hash_algorithms: Vec<HashAlg>,
    pub signer: OcspSignerMode,
    /// Validity of delegated responder certificates, days.
    pub responder_validity_days: u32,
    /// Parallel signing workers for the refresher (0 = number of cores).
    pub refresh_workers: usize,
    /// Certificates re-signed per refresher batch (one write batch each).
    pub refresh_batch: usize,
    /// Seconds between refresher scans.
    pub refresh_interval_secs: u64,
    /// Tests only: nextUpdate − thisUpdate in seconds (3 ..= 3600), replacing `validity_hours`
    /// and `refresh_after_hours` (responses are re-signed after a third of it). Below BR
    /// 4.9.10's 8-hour minimum, so that an end-to-end test can outlast a response's validity
    /// (tests/tests/cp_away.rs); capped at an hour, so it can only shorten validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_validity_secs: Option<u32>,
}

impl Default for OcspConfig {
    fn default() -> Self {
        Self {
            validity_hours: 96,
            refresh_after_hours: 48,
            hash_algorithms: vec![HashAlg::Sha1, HashAlg::Sha256],
            signer: OcspSignerMode::Delegated,
            responder_validity_days: 14,
            refresh_workers: 0,
            refresh_batch: 256,
            refresh_interval_secs: 30,
            test_validity_secs: None,
        }
    }
}

impl OcspConfig {
    /// nextUpdate − thisUpdate, seconds.
    pub fn validity_secs(&self) -> i64 {
        match self.test_validity_secs {
            Some(s) => i64::from(s),
            None => i64::from(self.validity_hours) * 3600,
        }
    }

    /// Age at which a response is re-signed, seconds.
    pub fn refresh_after_secs(&self) -> i64 {
        match self.test_validity_secs {
            Some(s) => i64::from(s / 3),
            None => i64::from(self.refresh_after_hours) * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrlConfig {
    /// nextUpdate − thisUpdate, days.
    pub validity_days: u32,
    /// Regenerate at least this often, hours.
    pub regenerate_every_hours: u32,
    /// Delay after a revocation before regenerating, collecting further revocations, ms.
    pub debounce_ms: u64,
    /// Tests only: nextUpdate − thisUpdate in seconds (3 ..= 3600), replacing `validity_days`
    /// and `regenerate_every_hours` (regenerated after a third of it); like
    /// `ocsp.test_validity_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_validity_secs: Option<u32>,
}

impl Default for CrlConfig {
    fn default() -> Self {
        Self {
            validity_days: 7,
            regenerate_every_hours: 24,
            debounce_ms: 2000,
            test_validity_secs: None,
        }
    }
}

impl CrlConfig {
    /// nextUpdate − thisUpdate, seconds.
    pub fn validity_secs(&self) -> i64 {
        match self.test_validity_secs {
            Some(s) => i64::from(s),
            None => i64::from(self.validity_days) * 86_400,
        }
    }

    /// How often every CRL is regenerated at least, seconds.
    pub fn regenerate_every_secs(&self) -> i64 {
        match self.test_validity_secs {
            Some(s) => i64::from(s / 3),
            None => i64::from(self.regenerate_every_hours) * 3600,
        }
    }
}

/// SAN types a profile may copy from a CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanType {
    Dns,
    Ip,
    Email,
    Uri,
}

/// An issuance profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub validity_days: u32,
    pub max_validity_days: u32,
    /// RFC 5280 §4.2.1.3 names, e.g. `digitalSignature`, `keyEncipherment`.
    pub key_usage: Vec<String>,
    /// `serverAuth`, `clientAuth`, `codeSigning`, `emailProtection`, `timeStamping`, `ocspSigning`.
    pub extended_key_usage: Vec<String>,
    pub allowed_san_types: Vec<SanType>,
    /// Refuse CSRs without any SAN.
    pub require_san: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            validity_days: 90,
            max_validity_days: 398,
            key_usage: vec!["digitalSignature".into()],
            extended_key_usage: vec!["serverAuth".into(), "clientAuth".into()],
            allowed_san_types: vec![SanType::Dns, SanType::Ip, SanType::Email, SanType::Uri],
            require_san: false,
        }
    }
}

pub const KEY_USAGE_NAMES: &[&str] = &[
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

pub const EKU_NAMES: &[&str] = &[
    "serverAuth",
    "clientAuth",
    "codeSigning",
    "emailProtection",
    "timeStamping",
    "ocspSigning",
];
