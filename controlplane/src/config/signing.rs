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
    /// Publish delta CRLs (RFC 5280 §5.2.4) this often, minutes, and after revocations
    /// (instead of a new complete CRL); 0: no delta CRLs. Certificates then carry a Freshest
    /// CRL extension. Must be shorter than `regenerate_every_hours`.
    pub delta_every_minutes: u32,
    /// Tests only: `delta_every_minutes` in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_delta_every_secs: Option<u32>,
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
            delta_every_minutes: 0,
            test_delta_every_secs: None,
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

    /// How often delta CRLs are published, seconds; `None`: they are not.
    pub fn delta_every_secs(&self) -> Option<i64> {
        match self.test_delta_every_secs {
            Some(s) => Some(i64::from(s)),
            None => {
                (self.delta_every_minutes > 0).then(|| i64::from(self.delta_every_minutes) * 60)
            }
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
    /// Shown with the profile.
    pub description: String,
    /// A disabled profile refuses issuance (certctl's `enabled`).
    pub enabled: bool,
    /// Key types and minimum sizes requests may use (certctl's `allowed_key_algorithms`);
    /// empty: any key Sigil can certify.
    pub allowed_key_algorithms: Vec<KeyRule>,
    /// Every SAN's value must match one of these patterns (certctl's `required_san_patterns`;
    /// `*` stands for any characters but `.` and `/`, compared without regard to ASCII case);
    /// empty: any.
    pub san_patterns: Vec<String>,
    /// Every commonName of the subject must match one of these patterns; empty: any.
    pub cn_patterns: Vec<String>,
}

/// A key type a profile allows, from a minimum size (bits; 0: any size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    pub algorithm: KeyFamily,
    #[serde(default)]
    pub min_size: u32,
}

/// certctl's key algorithm families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyFamily {
    #[serde(rename = "RSA", alias = "rsa")]
    Rsa,
    #[serde(rename = "ECDSA", alias = "ecdsa")]
    Ecdsa,
    #[serde(rename = "Ed25519", alias = "ed25519")]
    Ed25519,
}

impl KeyFamily {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::Ecdsa => "ECDSA",
            Self::Ed25519 => "Ed25519",
        }
    }
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
            description: String::new(),
            enabled: true,
            allowed_key_algorithms: Vec::new(),
            san_patterns: Vec::new(),
            cn_patterns: Vec::new(),
        }
    }
}

impl Profile {
    /// What is wrong with the profile, if anything (`what` prefixes each message).
    pub fn problems(&self, what: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.validity_days == 0 || self.validity_days > self.max_validity_days {
            errs.push(format!(
                "{what}: validity_days must be between 1 and max_validity_days"
            ));
        }
        if self.max_validity_days > 36_500 {
            errs.push(format!("{what}: max_validity_days must be at most 36500"));
        }
        for ku in &self.key_usage {
            if !KEY_USAGE_NAMES.contains(&ku.as_str()) {
                errs.push(format!("{what}: unknown key_usage {ku:?}"));
            }
        }
        for eku in &self.extended_key_usage {
            if !EKU_NAMES.contains(&eku.as_str()) {
                errs.push(format!("{what}: unknown extended_key_usage {eku:?}"));
            }
        }
        for r in &self.allowed_key_algorithms {
            if r.min_size > 16_384 {
                errs.push(format!(
                    "{what}: min_size {} of {} is more than any key Sigil certifies",
                    r.min_size,
                    r.algorithm.name()
                ));
            }
        }
        for p in self.san_patterns.iter().chain(&self.cn_patterns) {
            if p.is_empty()
                || p.len() > 253
                || p.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errs.push(format!(
                    "{what}: pattern {p:?} must be 1 to 253 characters without spaces"
                ));
            }
        }
        errs
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
