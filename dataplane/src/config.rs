//! The data plane's configuration (`sigil-dp.toml`): TOML, unknown keys rejected, defaults
//! for everything. [`DpConfig::validate`] checks what can be checked without reading files;
//! `crate::setup` merges the command-line flags over it and reads the files it names.

mod control_plane;
mod kes;
mod relay;
#[cfg(test)]
mod tests;
mod tls_listener;
mod urls;

pub use control_plane::ControlPlaneLink;
pub use kes::{KesConfig, KES_MAX_BODY};
pub use relay::{RelayConfig, RelayTls, MAX_RELAY_RETAIN};
pub use tls_listener::TlsListener;
pub use urls::{ControlPlaneUrls, MAX_CONTROL_PLANE_URLS};

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
    /// Optional KES-compatible key service listener (docs/KES.md); absent by default.
    pub kes: Option<KesConfig>,
    /// Optional relay listener re-serving the replication stream to other data planes
    /// (docs/replication.md "Relays"); absent by default.
    pub relay: Option<RelayConfig>,
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
            kes: None,
            relay: None,
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
    /// SSH users kept decoded per core, and as many hosts (names not in the replica
    /// included); see the `ssh` module.
    pub ssh_entries_per_core: usize,
}

/// Most `cache.ssh_entries_per_core`, a sanity bound: at ~2 KiB a user with three keys,
/// 32 GiB per core.
pub const MAX_SSH_ENTRIES: usize = 16_000_000;

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries_per_core: 200_000,
            max_bytes_per_core: 256 << 20,
            block_cache_mib: 256,
            ssh_entries_per_core: 100_000,
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
    /// `/health/ready` stays degraded this long after an OCSP request was answered
    /// `tryLater` (its response was past nextUpdate), seconds.
    pub degraded_window_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            ready_max_lag_records: 10_000,
            degraded_window_secs: 60,
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
        if !(1..=MAX_SSH_ENTRIES).contains(&self.cache.ssh_entries_per_core) {
            errs.push(format!(
                "cache.ssh_entries_per_core must be between 1 and {MAX_SSH_ENTRIES}"
            ));
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
        if let Some(kes) = &self.kes {
            kes.validate(self, &mut errs);
        }
        if let Some(relay) = &self.relay {
            relay.validate(self, &mut errs);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// Reports `name` = `listen` sharing its port with any of `others` (config keys and their
/// addresses; an unspecified address clashes with every address on its port).
fn no_shared_port(
    name: &str,
    listen: SocketAddr,
    others: &[(&str, Option<SocketAddr>)],
    errs: &mut Vec<String>,
) {
    for (key, other) in others {
        let clash = other.is_some_and(|o| {
            o.port() == listen.port()
                && (o.ip() == listen.ip()
                    || o.ip().is_unspecified()
                    || listen.ip().is_unspecified())
        });
        if clash {
            errs.push(format!(
                "{name} {listen} must not share its port with {key}"
            ));
        }
    }
}
