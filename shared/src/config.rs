//! Configuration types: the control plane here, the data plane in [`dp`]. TOML, unknown keys
//! rejected. The binary reads the file, applies command-line flags and environment overrides,
//! then calls `validate` before binding any port.

pub mod dp;

/// Expands a whole-value `${VAR}` reference from the environment (used for secrets in config
/// files, e.g. `bearer_token = "${SIGIL_ADMIN_TOKEN}"`); other values are returned as they are.
pub fn expand_env(value: &str) -> Result<String, String> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => {
            std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
        }
        None => Ok(value.to_string()),
    }
}

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ocsp::HashAlg;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpConfig {
    /// RocksDB directory (`--data-dir`).
    pub data_dir: PathBuf,
    pub admin: AdminConfig,
    pub public: PublicConfig,
    pub distribution: DistributionConfig,
    pub ocsp: OcspConfig,
    pub crl: CrlConfig,
    pub replication: ReplicationConfig,
    pub issuance: IssuanceConfig,
    pub hsm: HsmConfig,
    /// Issuance profiles by name; `default` is used when a request names none.
    pub profiles: BTreeMap<String, Profile>,
}

impl Default for CpConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sigil-cp"),
            admin: AdminConfig::default(),
            public: PublicConfig::default(),
            distribution: DistributionConfig::default(),
            ocsp: OcspConfig::default(),
            crl: CrlConfig::default(),
            replication: ReplicationConfig::default(),
            issuance: IssuanceConfig::default(),
            hsm: HsmConfig::default(),
            profiles: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listener for the management API, metrics and the replication stream.
    pub listen: SocketAddr,
    /// Bearer token for the management API; `SIGIL_ADMIN_TOKEN` overrides it.
    pub bearer_token: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// TLS for the admin listener (RFC 8446); with `client_ca`, clients may authenticate with
    /// a certificate instead of a bearer token.
    pub tls: Option<AdminTlsConfig>,
    /// Serve the admin listener without TLS on a non-loopback address. Off by default: the
    /// admin API carries bearer tokens and private-key operations.
    pub allow_plaintext: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9444)),
            bearer_token: None,
            max_body_bytes: 1 << 20,
            tls: None,
            allow_plaintext: false,
        }
    }
}

/// `[admin.tls]`: PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTlsConfig {
    /// Server certificate chain (leaf first).
    pub cert: PathBuf,
    /// Server private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA certificates a client certificate must chain to; when set, a client presenting a
    /// trusted certificate is authenticated as `mtls:<subject>` without a token (an
    /// untrusted certificate fails the handshake). Without it no client certificate is asked.
    pub client_ca: Option<PathBuf>,
}

/// `[public.tls]`: PEM files for the enrollment listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicTlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicConfig {
    /// Public (enrollment, EST) listener; disabled when absent. TLS is required.
    pub listen: Option<SocketAddr>,
    pub tls: Option<PublicTlsConfig>,
    pub est: EstConfig,
}

/// `[public.est]`: rate limits on failed EST OTP attempts, one token bucket per claimed entity
/// id and one per client IP address (in memory, per process). A failure takes a token; an
/// attempt with an empty bucket is answered 429 without checking the OTP; a token comes back
/// every `*_refill_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstConfig {
    /// Failed OTP attempts per entity id (whether it exists or not) before limiting.
    pub failures_per_entity: u32,
    /// Seconds until an entity id may fail once more.
    pub entity_refill_secs: u64,
    /// Failed OTP attempts per client IP address before limiting.
    pub failures_per_source: u32,
    /// Seconds until an address may fail once more.
    pub source_refill_secs: u64,
    /// Entity ids and addresses tracked at most, each (memory bound; when full, refilled
    /// buckets are dropped first, then the half that failed least recently).
    pub max_tracked_keys: usize,
}

impl Default for EstConfig {
    fn default() -> Self {
        Self {
            failures_per_entity: 5,
            entity_refill_secs: 60,
            failures_per_source: 20,
            source_refill_secs: 6,
            max_tracked_keys: 100_000,
        }
    }
}

/// Where relying parties fetch status: written into issued certificates (AIA, CRL DP).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionConfig {
    /// Base URL of the data planes, e.g. `http://pki.example.com`.
    /// OCSP: `{base_url}/ocsp`, CA Issuers: `{base_url}/ca/{issuer_id}.cer`,
    /// CRL: `{base_url}/crl/{issuer_id}.crl`.
    pub base_url: String,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
        }
    }
}

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
}

impl Default for CrlConfig {
    fn default() -> Self {
        Self {
            validity_days: 7,
            regenerate_every_hours: 24,
            debounce_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Log records kept; a subscriber further behind gets a snapshot.
    pub retain_records: u64,
    /// Idle heartbeat interval, seconds.
    pub heartbeat_secs: u64,
    /// Bearer token for subscribers; `SIGIL_REPLICATION_TOKEN` overrides it.
    pub token: Option<String>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            retain_records: 1_000_000,
            heartbeat_secs: 5,
            token: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuanceConfig {
    /// Validity of CA certificates created without `validity_days`.
    pub ca_validity_days: u32,
}

impl Default for IssuanceConfig {
    fn default() -> Self {
        Self {
            ca_validity_days: 3650,
        }
    }
}

/// HSM-backed CA keys (PKCS#11).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HsmConfig {
    /// PKCS#11 libraries CAs may be created with (`key_store.module` must be one of them,
    /// exactly). Empty: HSM-backed CA creation is refused. Loading a library runs its code in
    /// the control plane, so only list modules you trust.
    pub allowed_modules: Vec<String>,
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

impl CpConfig {
    /// The profile called `name` (the built-in default when `default` is not configured).
    pub fn profile(&self, name: &str) -> Option<Profile> {
        match self.profiles.get(name) {
            Some(p) => Some(p.clone()),
            None if name == "default" => Some(Profile::default()),
            None => None,
        }
    }

    /// The checks that apply only when serving (`sigil-cp serve`): no plaintext admin listener
    /// off loopback, TLS for the public (EST) listener. Offline commands (`init`, `audit
    /// verify`) do not bind and skip them.
    pub fn validate_serving(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if self.admin.tls.is_none()
            && !self.admin.allow_plaintext
            && !self.admin.listen.ip().is_loopback()
        {
            errs.push(format!(
                "admin.listen = {} is not a loopback address: configure [admin.tls] (or set \
                 admin.allow_plaintext = true behind a TLS-terminating proxy)",
                self.admin.listen
            ));
        }
        if self.public.listen.is_some() && self.public.tls.is_none() {
            errs.push(
                "public.listen is set but [public.tls] is not: enrollment (EST, RFC 7030 §3.2.3) \
                 requires TLS"
                    .into(),
            );
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Checks every constraint; returns all problems found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let o = &self.ocsp;
        if !(8..=240).contains(&o.validity_hours) {
            errs.push(format!(
                "ocsp.validity_hours = {}: must be between 8 and 240 (CA/B Forum BR 4.9.10)",
                o.validity_hours
            ));
        }
        if o.refresh_after_hours == 0 || o.refresh_after_hours > 96 {
            errs.push(format!(
                "ocsp.refresh_after_hours = {}: must be between 1 and 96 (BR 4.9.10)",
                o.refresh_after_hours
            ));
        }
        if o.validity_hours < o.refresh_after_hours + 8 {
            errs.push(
                "ocsp.refresh_after_hours must leave at least 8 hours before nextUpdate".into(),
            );
        }
        if o.hash_algorithms.is_empty() {
            errs.push("ocsp.hash_algorithms must not be empty".into());
        }
        if o.signer == OcspSignerMode::Delegated
            && o.responder_validity_days * 24 < o.validity_hours + 24
        {
            errs.push(
                "ocsp.responder_validity_days must exceed ocsp.validity_hours by at least a day"
                    .into(),
            );
        }
        if o.refresh_batch == 0 {
            errs.push("ocsp.refresh_batch must be at least 1".into());
        }
        if self.crl.validity_days == 0 || self.crl.validity_days > 366 {
            errs.push("crl.validity_days must be between 1 and 366".into());
        }
        if self.crl.regenerate_every_hours == 0
            || self.crl.regenerate_every_hours >= self.crl.validity_days * 24
        {
            errs.push(
                "crl.regenerate_every_hours must be at least 1 and less than crl.validity_days"
                    .into(),
            );
        }
        if self.replication.retain_records == 0 {
            errs.push("replication.retain_records must be at least 1".into());
        }
        if self.replication.heartbeat_secs == 0 {
            errs.push("replication.heartbeat_secs must be at least 1".into());
        }
        if !(self.distribution.base_url.starts_with("http://")
            || self.distribution.base_url.starts_with("https://"))
        {
            errs.push("distribution.base_url must be an http:// or https:// URL".into());
        }
        let est = &self.public.est;
        for (key, value) in [
            ("failures_per_entity", u64::from(est.failures_per_entity)),
            ("entity_refill_secs", est.entity_refill_secs),
            ("failures_per_source", u64::from(est.failures_per_source)),
            ("source_refill_secs", est.source_refill_secs),
            ("max_tracked_keys", est.max_tracked_keys as u64),
        ] {
            if value == 0 {
                errs.push(format!("public.est.{key} must be at least 1"));
            }
        }
        if self.admin.max_body_bytes < 1024 {
            errs.push("admin.max_body_bytes must be at least 1024".into());
        }
        for (name, p) in &self.profiles {
            if p.validity_days == 0 || p.validity_days > p.max_validity_days {
                errs.push(format!(
                    "profiles.{name}: validity_days must be between 1 and max_validity_days"
                ));
            }
            for ku in &p.key_usage {
                if !KEY_USAGE_NAMES.contains(&ku.as_str()) {
                    errs.push(format!("profiles.{name}: unknown key_usage {ku:?}"));
                }
            }
            for eku in &p.extended_key_usage {
                if !EKU_NAMES.contains(&eku.as_str()) {
                    errs.push(format!(
                        "profiles.{name}: unknown extended_key_usage {eku:?}"
                    ));
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_env_references() {
        assert_eq!(expand_env("plain").unwrap(), "plain");
        assert!(expand_env("${SIGIL_SURELY_UNSET_VARIABLE}").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        CpConfig::default().validate().unwrap();
    }

    #[test]
    fn plaintext_admin_only_on_loopback_and_public_needs_tls() {
        let mut c = CpConfig::default();
        c.admin.listen = "0.0.0.0:9444".parse().unwrap();
        c.public.listen = Some("0.0.0.0:8443".parse().unwrap());
        c.validate().unwrap();
        assert_eq!(c.validate_serving().unwrap_err().len(), 2);
        c.admin.allow_plaintext = true;
        c.public.tls = Some(PublicTlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        });
        c.validate_serving().unwrap();
    }

    #[test]
    fn br_limits_are_enforced() {
        let mut c = CpConfig::default();
        c.ocsp.validity_hours = 241;
        c.ocsp.refresh_after_hours = 100;
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn est_limits_default_parse_and_must_not_be_zero() {
        let d = CpConfig::default().public.est;
        assert_eq!(
            (
                d.failures_per_entity,
                d.entity_refill_secs,
                d.failures_per_source,
                d.source_refill_secs,
                d.max_tracked_keys
            ),
            (5, 60, 20, 6, 100_000)
        );
        let c: CpConfig = serde_json::from_str(
            r#"{"public": {"est": {"failures_per_entity": 2, "source_refill_secs": 30}}}"#,
        )
        .unwrap();
        assert_eq!(c.public.est.failures_per_entity, 2);
        assert_eq!(c.public.est.source_refill_secs, 30);
        assert_eq!(
            c.public.est.entity_refill_secs, 60,
            "the rest keep their defaults"
        );
        c.validate().unwrap();
        assert!(
            serde_json::from_str::<CpConfig>(r#"{"public": {"est": {"failures": 2}}}"#).is_err()
        );
        let mut c = CpConfig::default();
        c.public.est = EstConfig {
            failures_per_entity: 0,
            entity_refill_secs: 0,
            failures_per_source: 0,
            source_refill_secs: 0,
            max_tracked_keys: 0,
        };
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(
            errs.iter().all(|e| e.starts_with("public.est.")),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        // The shared crate has no TOML dependency; JSON exercises the same serde attributes.
        assert!(serde_json::from_str::<CpConfig>(r#"{"ocsp": {"validity_hour": 1}}"#).is_err());
        assert!(serde_json::from_str::<CpConfig>(r#"{"ocsp": {"validity_hours": 24}}"#).is_ok());
    }
}
