//! The `[relay]` section: re-serving the replication stream this data plane applies to other
//! data planes (docs/replication.md "Relays"). Off unless the section is present.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DpConfig;

/// The `[relay]` section.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Where downstream data planes connect (`GET /api/v1/replication/stream?after=N`).
    pub listen: SocketAddr,
    /// The bearer token downstreams must present; `SIGIL_RELAY_TOKEN` overrides it, and
    /// `${VAR}` is expanded. One of the two is required.
    #[serde(default)]
    pub token: Option<String>,
    /// Applied records kept for downstreams to resume from; one further behind gets a
    /// snapshot.
    #[serde(default = "default_retain_records")]
    pub retain_records: u64,
    /// A heartbeat after this long without records (below the downstreams'
    /// `control_plane.read_timeout_secs`).
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// Downstream connections served at once (one thread each); more are answered 503.
    #[serde(default = "default_max_downstreams")]
    pub max_downstreams: usize,
    /// Optional TLS on the relay listener (https:// for the downstreams).
    #[serde(default)]
    pub tls: Option<RelayTls>,
}

/// `[relay.tls]`: the relay listener's certificate and, optionally, required client
/// certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayTls {
    /// PEM certificate chain, end-entity certificate first.
    pub cert: PathBuf,
    /// PEM private key of the end-entity certificate.
    pub key: PathBuf,
    /// PEM CA certificates; when set, downstreams must present a certificate chaining to one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl std::fmt::Debug for RelayConfig {
    /// Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("retain_records", &self.retain_records)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("max_downstreams", &self.max_downstreams)
            .field("tls", &self.tls)
            .finish()
    }
}

fn default_retain_records() -> u64 {
    1_000_000
}

fn default_heartbeat_secs() -> u64 {
    5
}

fn default_max_downstreams() -> usize {
    256
}

/// Most `relay.retain_records` (at ~1 KiB a record, about 1 TiB of log).
pub const MAX_RELAY_RETAIN: u64 = 1_000_000_000;

impl RelayConfig {
    /// Checks what can be checked without reading files or the environment.
    pub(super) fn validate(&self, cfg: &DpConfig, errs: &mut Vec<String>) {
        super::no_shared_port(
            "relay.listen",
            self.listen,
            &[
                ("listen", Some(cfg.listen)),
                ("tls.listen", cfg.tls.as_ref().map(|t| t.listen)),
                ("kes.listen", cfg.kes.as_ref().map(|k| k.listen)),
                ("metrics.listen", cfg.metrics.listen),
            ],
            errs,
        );
        if !(1..=MAX_RELAY_RETAIN).contains(&self.retain_records) {
            errs.push(format!(
                "relay.retain_records must be between 1 and {MAX_RELAY_RETAIN}"
            ));
        }
        if !(1..=60).contains(&self.heartbeat_secs) {
            errs.push("relay.heartbeat_secs must be between 1 and 60".into());
        }
        if !(1..=4096).contains(&self.max_downstreams) {
            errs.push("relay.max_downstreams must be between 1 and 4096".into());
        }
        if let Some(tls) = &self.tls {
            let files = [
                ("relay.tls.cert", Some(&tls.cert)),
                ("relay.tls.key", Some(&tls.key)),
                ("relay.tls.client_ca", tls.client_ca.as_ref()),
            ];
            for (key, path) in files {
                if path.is_some_and(|p| p.as_os_str().is_empty()) {
                    errs.push(format!("{key} must name a file"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(relay: &str) -> DpConfig {
        let toml = format!("listen = \"127.0.0.1:8080\"\n[relay]\n{relay}");
        toml::from_str(&toml).unwrap()
    }

    #[test]
    fn off_by_default_with_defaults_when_on() {
        assert!(DpConfig::default().relay.is_none());
        let c = parse("listen = \"127.0.0.1:9500\"\ntoken = \"t\"\n");
        c.validate().unwrap();
        let r = c.relay.unwrap();
        assert_eq!((r.retain_records, r.heartbeat_secs), (1_000_000, 5));
        assert!(r.tls.is_none());
        assert!(!format!("{r:?}").contains("\"t\""), "the token is redacted");
        assert!(
            toml::from_str::<DpConfig>("[relay]\nlisten = \"127.0.0.1:1\"\nretain = 1\n").is_err()
        );
    }

    #[test]
    fn bad_values_and_clashing_ports_are_refused() {
        let c = parse(
            "listen = \"0.0.0.0:8080\"\nretain_records = 0\nheartbeat_secs = 0\n\
             max_downstreams = 0\n[relay.tls]\ncert = \"\"\nkey = \"k\"\n",
        );
        let errs = c.validate().unwrap_err();
        for what in [
            "share its port with listen",
            "retain_records",
            "heartbeat_secs",
            "max_downstreams",
            "relay.tls.cert",
        ] {
            assert!(errs.iter().any(|e| e.contains(what)), "{what}: {errs:?}");
        }
        assert_eq!(errs.len(), 5, "{errs:?}");
    }
}
