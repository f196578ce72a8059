//! The `[tls]` section: the optional https listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DpConfig;

/// The `[tls]` section: a second public listener speaking HTTP/1.1 over TLS 1.2 (RFC 5246) or
/// 1.3 (RFC 8446). The files are read at start-up, before any port is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListener {
    /// One SO_REUSEPORT socket per core, like `listen`; must differ from it.
    pub listen: SocketAddr,
    /// PEM certificate chain, end-entity certificate first.
    pub cert: PathBuf,
    /// PEM private key of the end-entity certificate: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
    pub key: PathBuf,
    /// PEM CA certificates. When set, clients must present a certificate chaining to one of
    /// them (mutual TLS, RFC 8446 §4.3.2); connections without one fail the handshake.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl TlsListener {
    /// Checks what can be checked without reading the files.
    pub(super) fn validate(&self, cfg: &DpConfig, errs: &mut Vec<String>) {
        let clash = |other: SocketAddr| {
            other.port() == self.listen.port()
                && (other.ip() == self.listen.ip()
                    || other.ip().is_unspecified()
                    || self.listen.ip().is_unspecified())
        };
        if clash(cfg.listen) {
            errs.push(format!(
                "tls.listen {} must not share its port with listen {}",
                self.listen, cfg.listen
            ));
        }
        if cfg.metrics.listen.is_some_and(clash) {
            errs.push(format!(
                "tls.listen {} must not share its port with metrics.listen",
                self.listen
            ));
        }
        let files = [
            ("tls.cert", Some(&self.cert)),
            ("tls.key", Some(&self.key)),
            ("tls.client_ca", self.client_ca.as_ref()),
        ];
        for (key, path) in files {
            if path.is_some_and(|p| p.as_os_str().is_empty()) {
                errs.push(format!("{key} must name a file"));
            }
        }
    }
}
