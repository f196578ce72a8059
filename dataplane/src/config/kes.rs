//! The `[kes]` section: the KES-compatible key service's listener (docs/KES.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DpConfig;

/// The key service: its own TLS listener (KES's port 7373 by default) where clients
/// authenticate with certificates, the one identity that bypasses policies, and where the
/// key-encryption key comes from. Files are read at start-up, before any port is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KesConfig {
    /// One SO_REUSEPORT socket per core, like `listen`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the listener, end-entity certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
    /// PEM CA certificates. Without it (KES's default: its clients present self-signed
    /// certificates) a client certificate is not verified against any CA: the client proves
    /// it holds the key, and its identity (SHA-256 of the public key) is what policies name.
    /// With it, client certificates must also chain to one of these CAs.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// The admin identity (lowercase hex SHA-256 of a client certificate's public key):
    /// allowed every operation, whatever the policies say. None: no identity is admin.
    #[serde(default)]
    pub admin: Option<String>,
    /// File (mode 0600) holding the fleet's key-encryption key, 32 bytes in base64; the
    /// environment variable `SIGIL_KES_KEK` takes precedence. Without either the key service
    /// does not start.
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    /// The KEK as an AES-256 key in a PKCS#11 token instead (`[kes.hsm]`: module,
    /// token_label, pin_env, key_label); it unwraps inside the token. Excludes `kek_file` and
    /// `SIGIL_KES_KEK`.
    #[serde(default)]
    pub hsm: Option<sigil_kes_pkcs11::HsmKekConfig>,
    /// Bound of a mutation forwarded to the control plane, and of the wait until this data
    /// plane has applied its result (read-your-writes), in milliseconds.
    #[serde(default = "default_forward_timeout_ms")]
    pub forward_timeout_ms: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7373))
}

fn default_forward_timeout_ms() -> u64 {
    10_000
}

/// Largest request body KES accepts (1 MiB); larger ones are answered 413.
pub const KES_MAX_BODY: usize = 1 << 20;

impl KesConfig {
    /// Checks what can be checked without reading the files.
    pub(super) fn validate(&self, cfg: &DpConfig, errs: &mut Vec<String>) {
        super::no_shared_port(
            "kes.listen",
            self.listen,
            &[
                ("listen", Some(cfg.listen)),
                ("tls.listen", cfg.tls.as_ref().map(|t| t.listen)),
                ("metrics.listen", cfg.metrics.listen),
            ],
            errs,
        );
        let files = [
            ("kes.cert", Some(&self.cert)),
            ("kes.key", Some(&self.key)),
            ("kes.client_ca", self.client_ca.as_ref()),
            ("kes.kek_file", self.kek_file.as_ref()),
        ];
        for (key, path) in files {
            if path.is_some_and(|p| p.as_os_str().is_empty()) {
                errs.push(format!("{key} must name a file"));
            }
        }
        if let Some(admin) = &self.admin {
            if sigil_kes::identity::Identity::parse(admin).is_none() {
                errs.push(format!(
                    "kes.admin {admin:?} is not an identity (64 lowercase hex digits: `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum`)"
                ));
            }
        }
        if self.hsm.is_some() && self.kek_file.is_some() {
            errs.push("kes.hsm and kes.kek_file exclude each other".into());
        }
        if !(100..=120_000).contains(&self.forward_timeout_ms) {
            errs.push("kes.forward_timeout_ms must be between 100 and 120000".into());
        }
    }
}
