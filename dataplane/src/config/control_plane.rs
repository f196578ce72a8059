//! The `[control_plane]` section: where the replication stream comes from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ControlPlaneUrls;

/// The `[control_plane]` section.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlPlaneLink {
    /// Base URL of the control plane's admin listener, `http://` or `https://` (HTTP over TLS,
    /// RFC 9110 §4.2.2), or a list of them tried in order (failover); no replication when
    /// absent.
    pub url: Option<ControlPlaneUrls>,
    /// Bearer token; `SIGIL_REPLICATION_TOKEN` overrides it.
    pub token: Option<String>,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// A stream silent this long (no records, no heartbeat) is considered dead.
    pub read_timeout_secs: u64,
    /// PEM CA certificates: the only trust anchors for the control plane's TLS certificate
    /// (no system roots). Required with an `https://` URL.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain (end-entity first) presented when the admin listener asks for a
    /// client certificate (mutual TLS, RFC 8446 §4.3.2); together with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
    pub client_key: Option<PathBuf>,
}

impl std::fmt::Debug for ControlPlaneLink {
    /// Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneLink")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("reconnect_min_ms", &self.reconnect_min_ms)
            .field("reconnect_max_ms", &self.reconnect_max_ms)
            .field("read_timeout_secs", &self.read_timeout_secs)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl ControlPlaneLink {
    /// Whether a URL asks for TLS (`https://`; a valid list does not mix schemes).
    pub fn is_https(&self) -> bool {
        self.url.as_ref().is_some_and(ControlPlaneUrls::any_https)
    }

    /// Checks the URLs and the TLS keys without reading the files.
    pub(super) fn validate(&self, errs: &mut Vec<String>) {
        if let Some(urls) = &self.url {
            urls.validate(errs);
        }
        let files = [
            ("control_plane.ca_file", &self.ca_file),
            ("control_plane.client_cert", &self.client_cert),
            ("control_plane.client_key", &self.client_key),
        ];
        for (key, path) in files {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                errs.push(format!("{key} must name a file"));
            }
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            errs.push("control_plane.client_cert and control_plane.client_key go together".into());
        }
        let any_tls = files.iter().any(|(_, p)| p.is_some());
        if self.is_https() && self.ca_file.is_none() {
            errs.push(
                "control_plane.ca_file is required for an https:// control_plane.url \
                 (the CA certificates that issued the control plane's certificate; \
                 system trust anchors are not used)"
                    .into(),
            );
        } else if any_tls && self.url.as_ref().is_some_and(ControlPlaneUrls::any_http) {
            errs.push(
                "control_plane.ca_file, client_cert and client_key need an https:// \
                 control_plane.url; they would be ignored for http://"
                    .into(),
            );
        }
    }
}

impl Default for ControlPlaneLink {
    fn default() -> Self {
        Self {
            url: None,
            token: None,
            reconnect_min_ms: 200,
            reconnect_max_ms: 10_000,
            read_timeout_secs: 20,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}
