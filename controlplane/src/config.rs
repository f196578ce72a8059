//! The control plane's configuration: TOML (unknown keys rejected), then command-line flags
//! (`crate::cli`), then environment overrides for secrets ([`tokens`]);
//! [`CpConfig::validate`] runs before any port is bound (exit 64). Section types are here and
//! in [`signing`] (OCSP, CRLs, profiles).

mod acme;
mod auth_limit;
mod console;
mod kek;
mod load;
mod scep;
pub mod signing;
pub mod ssh;
mod storage;
mod validate;

pub use acme::AcmeConfig;
pub use auth_limit::AuthLimitConfig;
pub use console::{ConsoleConfig, DataPlaneProbe};
pub use kek::{create_kek_file, default_kek_file, load_kek, KekSource, KEK_ENV, KES_KEK_ENV};
pub use load::tokens;
pub use scep::ScepConfig;
pub use signing::{
    CrlConfig, KeyFamily, KeyRule, OcspConfig, OcspSignerMode, Profile, SanType, EKU_NAMES,
    KEY_USAGE_NAMES,
};
pub use ssh::{SshCaConfig, SshConfig, SshKeyStore, SshPkcs11};
pub use storage::{StorageBackend, StorageConfig, POSTGRES_URL_ENV};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpConfig {
    /// RocksDB directory (`--data-dir`); with PostgreSQL storage, only the default KEK file's
    /// place.
    pub data_dir: PathBuf,
    /// Where the state lives: RocksDB (default) or PostgreSQL.
    pub storage: StorageConfig,
    pub admin: AdminConfig,
    pub public: PublicConfig,
    pub distribution: DistributionConfig,
    pub ocsp: OcspConfig,
    pub crl: CrlConfig,
    pub replication: ReplicationConfig,
    pub issuance: IssuanceConfig,
    pub hsm: HsmConfig,
    /// The key-encryption key every private key and secret is sealed under.
    pub secrets: SecretsConfig,
    pub kes: KesConfig,
    /// The SSH key service (Keyper's API, SSH CAs, KRL).
    pub ssh: SshConfig,
    /// SCEP (RFC 8894) on the public listener.
    pub scep: ScepConfig,
    /// The ACME server on the public listener.
    pub acme: AcmeConfig,
    /// Issuance profiles by name; `default` is used when a request names none.
    pub profiles: BTreeMap<String, Profile>,
}

impl Default for CpConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sigil-cp"),
            storage: StorageConfig::default(),
            admin: AdminConfig::default(),
            public: PublicConfig::default(),
            distribution: DistributionConfig::default(),
            ocsp: OcspConfig::default(),
            crl: CrlConfig::default(),
            replication: ReplicationConfig::default(),
            issuance: IssuanceConfig::default(),
            hsm: HsmConfig::default(),
            secrets: SecretsConfig::default(),
            kes: KesConfig::default(),
            ssh: SshConfig::default(),
            scep: ScepConfig::default(),
            acme: AcmeConfig::default(),
            profiles: BTreeMap::new(),
        }
    }
}

/// `[admin]` (its `Debug` never shows the bearer token).
#[derive(Clone, Serialize, Deserialize)]
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
    /// Limits on failed authentication, per source address.
    pub auth_limit: AuthLimitConfig,
    /// The web console's sessions (`/ui/`).
    pub console: ConsoleConfig,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[redacted]"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("tls", &self.tls)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("auth_limit", &self.auth_limit)
            .field("console", &self.console)
            .finish()
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9444)),
            bearer_token: None,
            max_body_bytes: 1 << 20,
            tls: None,
            allow_plaintext: false,
            auth_limit: AuthLimitConfig::default(),
            console: ConsoleConfig::default(),
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

/// `[replication]` (its `Debug` never shows the token).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Log records kept; a subscriber further behind gets a snapshot.
    pub retain_records: u64,
    /// Idle heartbeat interval, seconds.
    pub heartbeat_secs: u64,
    /// Bearer token for subscribers; `SIGIL_REPLICATION_TOKEN` overrides it.
    pub token: Option<String>,
}

impl std::fmt::Debug for ReplicationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationConfig")
            .field("retain_records", &self.retain_records)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
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

/// `[secrets]`: the key-encryption key (KEK), 32 random bytes in base64 (`openssl rand
/// -base64 32`), or an AES-256 key in a PKCS#11 token. Every private key and secret the
/// control plane stores (software CA and responder keys, software SSH CA keys, the Keyper
/// token secret) is sealed under it, and the key service's keys are wrapped under it (data
/// planes serving KES need the same KEK). `SIGIL_KEK` (the base64 text) takes precedence over
/// `kek_file`; without either (nor `hsm`) the control plane uses the default file, the data
/// directory's path with `.kek` appended, which `sigil-cp init` creates when it is missing.
/// `serve` refuses to start without a KEK (exit 64). See docs/SECRETS.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File holding the KEK's base64 text; refused unless only its owner may read it (0600).
    pub kek_file: Option<PathBuf>,
    /// The KEK as an AES-256 key in a PKCS#11 token instead (`sigil_kes_pkcs11`): it seals
    /// and opens inside the token and never leaves it. Excludes `kek_file` and `SIGIL_KEK`.
    pub hsm: Option<sigil_kes_pkcs11::HsmKekConfig>,
}

/// `[kes]`: the KES-compatible key service. Its KEK is the control plane's ([`SecretsConfig`]);
/// `kek_file`, `hsm` and `SIGIL_KES_KEK` are the older names of `[secrets] kek_file`,
/// `[secrets.hsm]` and `SIGIL_KEK`, still read (one name of each at a time).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KesConfig {
    /// The older name of `[secrets] kek_file`.
    pub kek_file: Option<PathBuf>,
    /// The older name of `[secrets.hsm]`.
    pub hsm: Option<sigil_kes_pkcs11::HsmKekConfig>,
}

impl CpConfig {
    /// The profile called `name` (the built-in default when `default` is not configured).
    pub fn profile(&self, name: &str) -> Option<Profile> {
        match self.profiles.get(name) {
            Some(p) => Some(p.clone()),
            None if name == "default" => Some(Profile::default()),
            None => None,
        }
    }
}
