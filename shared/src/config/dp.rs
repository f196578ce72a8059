//! Data-plane configuration (TOML, unknown keys rejected).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How monoio drives I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// io_uring where the kernel allows it, epoll otherwise (e.g. under Docker's seccomp).
    Auto,
    IoUring,
    Epoll,
}

impl std::str::FromStr for Driver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "io-uring" | "iouring" => Ok(Self::IoUring),
            "epoll" | "legacy" => Ok(Self::Epoll),
            other => Err(format!(
                "unknown driver {other:?}: use auto, io-uring or epoll"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpConfig {
    /// Local replica (RocksDB) directory.
    pub data_dir: PathBuf,
    /// Public HTTP listener; one SO_REUSEPORT socket per core.
    pub listen: SocketAddr,
    /// Serving threads (0 = one per core).
    pub threads: usize,
    pub driver: Driver,
    /// Pin serving thread i to CPU i (mod the number of CPUs).
    pub pin_threads: bool,
    pub max_connections_per_core: usize,
    pub control_plane: ControlPlaneLink,
    pub http: HttpLimits,
    pub cache: CacheConfig,
    pub index: IndexConfig,
    pub metrics: MetricsConfig,
    /// Optional https listener (RFC 9110 §4.2.2) beside the plain one; absent by default.
    pub tls: Option<TlsListener>,
}

impl Default for DpConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sigil-dp"),
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            threads: 0,
            driver: Driver::Auto,
            pin_threads: true,
            max_connections_per_core: 20_000,
            control_plane: ControlPlaneLink::default(),
            http: HttpLimits::default(),
            cache: CacheConfig::default(),
            index: IndexConfig::default(),
            metrics: MetricsConfig::default(),
            tls: None,
        }
    }
}

/// The `[control_plane]` section: where the replication stream comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlPlaneLink {
    /// Base URL of the control plane's admin listener, `http://` or `https://` (HTTP over TLS,
    /// RFC 9110 §4.2.2); no replication when absent.
    pub url: Option<String>,
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

impl ControlPlaneLink {
    /// Whether the URL asks for TLS (`https://`).
    pub fn is_https(&self) -> bool {
        self.url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// Checks the URL and the TLS keys without reading the files.
    fn validate(&self, errs: &mut Vec<String>) {
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errs.push(format!(
                    "control_plane.url {url:?} must be an http:// or https:// URL"
                ));
            }
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
        } else if any_tls
            && self
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://"))
        {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    pub max_header_bytes: usize,
    /// RFC 6960 requests are small; larger POSTs get 413.
    pub max_body_bytes: usize,
    pub idle_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub write_timeout_secs: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 8192,
            max_body_bytes: 10_000,
            idle_timeout_secs: 30,
            request_timeout_secs: 10,
            write_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Pre-rendered responses kept per core.
    pub max_entries_per_core: usize,
    /// Bytes of pre-rendered responses kept per core.
    pub max_bytes_per_core: usize,
    /// RocksDB block cache shared by all cores, MiB.
    pub block_cache_mib: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries_per_core: 200_000,
            max_bytes_per_core: 256 << 20,
            block_cache_mib: 256,
        }
    }
}

/// The OCSP index (see the data plane's `index` module): every response reachable without a
/// replica read, at about 8–13 bytes of memory per response plus a memory-mapped file of the
/// responses without their shared responder certificates (page cache).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    pub enabled: bool,
    /// Rebuild after this many changed responses at least…
    pub rebuild_after_changes: u64,
    /// …or this fraction of the indexed responses, whichever is larger. Each core remembers
    /// the changed keys until the rebuild (about 32 bytes each).
    pub rebuild_after_fraction: f64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rebuild_after_changes: 50_000,
            rebuild_after_fraction: 0.02,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `/metrics`, `/health/live`, `/health/ready`; disabled when absent.
    pub listen: Option<SocketAddr>,
    /// Ready only while replication lag is at most this many records…
    pub ready_max_lag_records: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            ready_max_lag_records: 10_000,
        }
    }
}

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
    fn validate(&self, cfg: &DpConfig, errs: &mut Vec<String>) {
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

impl DpConfig {
    /// Checks every constraint; returns all problems found.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        self.control_plane.validate(&mut errs);
        if self.control_plane.reconnect_min_ms == 0
            || self.control_plane.reconnect_min_ms > self.control_plane.reconnect_max_ms
        {
            errs.push("control_plane.reconnect_min_ms must be ≥ 1 and ≤ reconnect_max_ms".into());
        }
        if self.control_plane.read_timeout_secs < 2 {
            errs.push("control_plane.read_timeout_secs must be at least 2".into());
        }
        if self.http.max_header_bytes < 1024 {
            errs.push("http.max_header_bytes must be at least 1024".into());
        }
        if self.http.max_body_bytes < 512 {
            errs.push("http.max_body_bytes must be at least 512".into());
        }
        if self.http.idle_timeout_secs == 0
            || self.http.request_timeout_secs == 0
            || self.http.write_timeout_secs == 0
        {
            errs.push("http timeouts must be at least 1 second".into());
        }
        if self.max_connections_per_core == 0 {
            errs.push("max_connections_per_core must be at least 1".into());
        }
        if self.cache.max_entries_per_core == 0 || self.cache.max_bytes_per_core < 1 << 16 {
            errs.push(
                "cache.max_entries_per_core must be ≥ 1 and cache.max_bytes_per_core ≥ 65536"
                    .into(),
            );
        }
        if self.index.rebuild_after_changes == 0
            || !(0.0..=1.0).contains(&self.index.rebuild_after_fraction)
        {
            errs.push(
                "index.rebuild_after_changes must be ≥ 1 and index.rebuild_after_fraction in 0..=1"
                    .into(),
            );
        }
        if let Some(tls) = &self.tls {
            tls.validate(self, &mut errs);
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
    fn defaults_are_valid_and_unknown_keys_rejected() {
        DpConfig::default().validate().unwrap();
        assert!(serde_json::from_str::<DpConfig>(r#"{"http": {"max_body": 1}}"#).is_err());
        let mut c = DpConfig::default();
        c.control_plane.url = Some("ftp://x".into());
        assert_eq!(c.validate().unwrap_err().len(), 1);
        assert_eq!("io-uring".parse::<Driver>().unwrap(), Driver::IoUring);
    }

    #[test]
    fn tls_section_is_optional_checked_and_strict() {
        assert_eq!(DpConfig::default().tls, None);
        let section = r#""listen": "127.0.0.1:8443", "cert": "/etc/sigil/dp.pem", "key": "/etc/sigil/dp.key""#;
        let json =
            |extra: &str| format!(r#"{{"listen": "127.0.0.1:8080", "tls": {{{section}{extra}}}}}"#);
        let c: DpConfig = serde_json::from_str(&json("")).unwrap();
        c.validate().unwrap();
        let tls = c.tls.clone().unwrap();
        assert_eq!(tls.client_ca, None);
        assert_eq!(tls.listen.port(), 8443);
        assert!(serde_json::from_str::<DpConfig>(&json(r#", "client_cert": "x""#)).is_err());
        assert!(
            serde_json::from_str::<DpConfig>(r#"{"tls": {"listen": "127.0.0.1:8443"}}"#).is_err()
        );

        let mut bad = c.clone();
        let t = bad.tls.as_mut().unwrap();
        t.listen = "0.0.0.0:8080".parse().unwrap();
        t.key = PathBuf::new();
        t.client_ca = Some(PathBuf::new());
        let errs = bad.validate().unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("share its port with listen"), "{errs:?}");
        assert!(errs[1].contains("tls.key") && errs[2].contains("tls.client_ca"));

        let mut metrics = c;
        metrics.metrics.listen = Some("127.0.0.1:8443".parse().unwrap());
        assert_eq!(metrics.validate().unwrap_err().len(), 1);
    }

    #[test]
    fn https_control_plane_needs_a_ca_file() {
        let c: DpConfig =
            serde_json::from_str(r#"{"control_plane": {"url": "https://cp.example:9444"}}"#)
                .unwrap();
        assert!(c.control_plane.is_https());
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("control_plane.ca_file is required"),
            "{errs:?}"
        );

        let mut ok = c.clone();
        ok.control_plane.ca_file = Some("/etc/sigil/cp-ca.pem".into());
        ok.validate().unwrap();
        ok.control_plane.client_cert = Some("/etc/sigil/dp-client.pem".into());
        let errs = ok.validate().unwrap_err();
        assert!(errs[0].contains("go together"), "{errs:?}");
        ok.control_plane.client_key = Some("/etc/sigil/dp-client.key".into());
        ok.validate().unwrap();
        ok.control_plane.client_key = Some(PathBuf::new());
        let errs = ok.validate().unwrap_err();
        assert!(errs[0].contains("client_key must name a file"), "{errs:?}");

        let mut plain = DpConfig::default();
        plain.control_plane.url = Some("http://127.0.0.1:9444".into());
        plain.control_plane.ca_file = Some("/etc/sigil/cp-ca.pem".into());
        let errs = plain.validate().unwrap_err();
        assert!(errs[0].contains("need an https://"), "{errs:?}");
        assert!(serde_json::from_str::<DpConfig>(
            r#"{"control_plane": {"ca_cert": "/etc/sigil/cp-ca.pem"}}"#
        )
        .is_err());
    }
}
