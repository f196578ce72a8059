//! Start-up configuration of `sigil-dp`: the command-line [`Flags`], merged over the
//! configuration file (or the defaults), checked, and everything read that must be read before
//! a port is bound — the https listener's PEM files, the replication token
//! (`SIGIL_REPLICATION_TOKEN`, else `control_plane.token` with `${VAR}` expansion) and the
//! replication sources' URLs and TLS files, and with `[kes]` the key service's PEM files and
//! key-encryption key (`SIGIL_KES_KEK`, else `kes.kek_file`), and with `[relay]` its token
//! (`SIGIL_RELAY_TOKEN`, else `relay.token`) and PEM files. Any failure is a [`ConfigError`]: `sigil-dp` prints
//! its [`messages`](ConfigError::messages) and exits 64 (EX_USAGE).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use sigil_configfile::{EnvError, LogFormat, TomlFileError};

use crate::config::{ControlPlaneUrls, DpConfig, Driver, TlsListener};
use crate::replica::{UpstreamError, Upstreams};
use crate::tls::TlsError;

/// Command-line flags of `sigil-dp`; each overrides its key of the configuration file.
#[derive(clap::Parser, Debug, Default)]
#[command(name = "sigil-dp", version, about = "Sigil data plane")]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, env = "SIGIL_DP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Check the configuration and exit (0 valid, 64 invalid).
    #[arg(long)]
    pub validate: bool,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Public HTTP listener.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Control plane admin base URL to replicate from, http:// or https:// (token:
    /// SIGIL_REPLICATION_TOKEN). Repeat it or separate URLs with commas for failover: they are
    /// tried in order (`[control_plane] url` as a list).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub control_plane: Vec<String>,
    /// PEM CA certificates trusted for an https:// control plane (`[control_plane] ca_file`).
    #[arg(long, value_name = "FILE")]
    pub control_plane_ca: Option<PathBuf>,
    /// Serving threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// auto (io_uring, else epoll), io-uring or epoll.
    #[arg(long)]
    pub driver: Option<Driver>,
    /// Do not pin serving threads to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// `/metrics` and `/health/*` listener.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// https listener (`[tls] listen`); without a `[tls]` section, needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the https listener (`[tls] cert`).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the https listener (`[tls] key`).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Log lines on stderr: text, or json (one JSON object per line, for log collectors).
    /// Colour only when stderr is a terminal and NO_COLOR is unset; level from RUST_LOG.
    #[arg(
        long,
        env = "SIGIL_LOG_FORMAT",
        value_name = "text|json",
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Why the configuration cannot be used; every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read or is not valid TOML for [`DpConfig`].
    #[error(transparent)]
    File(#[from] TomlFileError),
    #[error("without a [tls] section, --tls-listen, --tls-cert and --tls-key go together")]
    TlsFlags,
    /// Every problem [`DpConfig::validate`] found.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The https listener's PEM files.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `control_plane.token` names an environment variable that is not set.
    #[error(transparent)]
    Token(#[from] EnvError),
    #[error("a control plane is configured but SIGIL_REPLICATION_TOKEN is not set")]
    NoToken,
    #[error("[relay] needs the token downstreams present: relay.token or SIGIL_RELAY_TOKEN")]
    NoRelayToken,
    /// The replication sources' URLs or TLS files.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The key service's key-encryption key.
    #[error(transparent)]
    Kek(#[from] crate::kes::KekLoadError),
}

impl ConfigError {
    /// One line per problem, as `sigil-dp` prints them.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::Invalid(errs) => errs.clone(),
            other => vec![other.to_string()],
        }
    }
}

/// A checked configuration and what was read for it.
#[derive(Debug)]
pub struct Loaded {
    pub config: DpConfig,
    /// The replication sources (URLs in order, token, TLS client configuration); `None`
    /// without `control_plane.url`.
    pub upstream: Option<Upstreams>,
    /// The https listener's TLS configuration; `None` without `[tls]`.
    pub tls: Option<Arc<ServerConfig>>,
    /// The key service's TLS configuration and key-encryption key; `None` without `[kes]`.
    pub kes: Option<KesLoaded>,
    /// The relay's token and TLS configuration; `None` without `[relay]`.
    pub relay: Option<RelayLoaded>,
}

/// What `[relay]` needed read before any port is bound.
pub struct RelayLoaded {
    /// The token downstreams present: `SIGIL_RELAY_TOKEN`, else `relay.token` (`${VAR}`
    /// expanded).
    pub token: String,
    pub tls: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for RelayLoaded {
    /// Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayLoaded")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// What `[kes]` needed read before any port is bound.
#[derive(Debug)]
pub struct KesLoaded {
    pub tls: Arc<ServerConfig>,
    pub kek: Arc<dyn sigil_kes::KeyWrapper>,
}

/// Reads the configuration file named by `flags` (or takes the defaults), applies the flags,
/// checks the result and reads the files it names. The replication token comes from
/// `SIGIL_REPLICATION_TOKEN` when set.
pub fn load(flags: &Flags) -> Result<Loaded, ConfigError> {
    load_with_token(flags, std::env::var("SIGIL_REPLICATION_TOKEN").ok())
}

/// [`load`] with the value of `SIGIL_REPLICATION_TOKEN` given.
pub fn load_with_token(flags: &Flags, env_token: Option<String>) -> Result<Loaded, ConfigError> {
    let mut cfg = match &flags.config {
        Some(path) => sigil_configfile::read_toml::<DpConfig>(path)?,
        None => DpConfig::default(),
    };
    apply_flags(flags, &mut cfg)?;
    cfg.validate().map_err(ConfigError::Invalid)?;
    // Read before any port is bound: a bad file is a configuration error like any other.
    let tls = match &cfg.tls {
        Some(t) => Some(crate::tls::load(t)?),
        None => None,
    };
    let kes = match &cfg.kes {
        Some(k) => Some(KesLoaded {
            tls: crate::tls::load_with_peer_certificates(
                "kes",
                &k.cert,
                &k.key,
                k.client_ca.as_deref(),
            )?,
            kek: crate::kes::load_kek(std::env::var("SIGIL_KES_KEK").ok(), k)?,
        }),
        None => None,
    };
    let relay = match &cfg.relay {
        Some(r) => Some(load_relay(r, std::env::var("SIGIL_RELAY_TOKEN").ok())?),
        None => None,
    };
    let token = match (env_token, &cfg.control_plane.token) {
        (Some(t), _) => Some(t),
        (None, Some(from_file)) => Some(sigil_configfile::expand_env(from_file)?),
        _ => None,
    };
    let upstream = match (&cfg.control_plane.url, token.filter(|t| !t.is_empty())) {
        (None, _) => None,
        (Some(_), None) => return Err(ConfigError::NoToken),
        // The URLs are parsed and the TLS files read here, before any port is bound.
        (Some(urls), Some(token)) => {
            Some(Upstreams::load(urls.as_slice(), token, &cfg.control_plane)?)
        }
    };
    Ok(Loaded {
        config: cfg,
        upstream,
        tls,
        kes,
        relay,
    })
}

/// The relay's token (`env_token` first) and TLS files.
fn load_relay(
    r: &crate::config::RelayConfig,
    env_token: Option<String>,
) -> Result<RelayLoaded, ConfigError> {
    let token = match (env_token, &r.token) {
        (Some(t), _) => t,
        (None, Some(from_file)) => sigil_configfile::expand_env(from_file)?,
        (None, None) => String::new(),
    };
    if token.is_empty() {
        return Err(ConfigError::NoRelayToken);
    }
    let tls = match &r.tls {
        Some(t) => Some(crate::tls::load_relay(t)?),
        None => None,
    };
    Ok(RelayLoaded { token, tls })
}

/// Overrides the file's keys with the flags given.
fn apply_flags(flags: &Flags, cfg: &mut DpConfig) -> Result<(), ConfigError> {
    if let Some(d) = &flags.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(l) = flags.listen {
        cfg.listen = l;
    }
    let urls: Vec<String> = flags
        .control_plane
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if !urls.is_empty() {
        cfg.control_plane.url = Some(ControlPlaneUrls::new(urls));
    }
    if let Some(ca) = &flags.control_plane_ca {
        cfg.control_plane.ca_file = Some(ca.clone());
    }
    if let Some(t) = flags.threads {
        cfg.threads = t;
    }
    if let Some(d) = flags.driver {
        cfg.driver = d;
    }
    if flags.no_pin {
        cfg.pin_threads = false;
    }
    if let Some(m) = flags.metrics_listen {
        cfg.metrics.listen = Some(m);
    }
    apply_tls_flags(flags, cfg)
}

/// `--tls-listen`, `--tls-cert`, `--tls-key`: override the `[tls]` section, or make one.
fn apply_tls_flags(flags: &Flags, cfg: &mut DpConfig) -> Result<(), ConfigError> {
    let (listen, cert, key) = (
        flags.tls_listen,
        flags.tls_cert.clone(),
        flags.tls_key.clone(),
    );
    match (&mut cfg.tls, listen, cert, key) {
        (_, None, None, None) => {}
        (Some(t), listen, cert, key) => {
            t.listen = listen.unwrap_or(t.listen);
            t.cert = cert.unwrap_or_else(|| t.cert.clone());
            t.key = key.unwrap_or_else(|| t.key.clone());
        }
        (None, Some(listen), Some(cert), Some(key)) => {
            cfg.tls = Some(TlsListener {
                listen,
                cert,
                key,
                client_ca: None,
            });
        }
        (None, ..) => return Err(ConfigError::TlsFlags),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
