//! `sigil-dp`: parses configuration, sets up tracing, runs the thread-per-core data plane.
//! Exit status 64 (EX_USAGE) for bad configuration, before any port is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rustls::ServerConfig;
use sigil_dataplane::replica::Upstream;
use sigil_shared::config::dp::{DpConfig, Driver, TlsListener};

#[derive(Parser, Debug)]
#[command(name = "sigil-dp", version, about = "Sigil data plane")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "SIGIL_DP_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration and exit (0 valid, 64 invalid).
    #[arg(long)]
    validate: bool,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Public HTTP listener.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Control plane admin base URL to replicate from, http:// or https:// (token:
    /// SIGIL_REPLICATION_TOKEN).
    #[arg(long)]
    control_plane: Option<String>,
    /// PEM CA certificates trusted for an https:// control plane (`[control_plane] ca_file`).
    #[arg(long, value_name = "FILE")]
    control_plane_ca: Option<PathBuf>,
    /// Serving threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// auto (io_uring, else epoll), io-uring or epoll.
    #[arg(long)]
    driver: Option<Driver>,
    /// Do not pin serving threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// `/metrics` and `/health/*` listener.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// https listener (`[tls] listen`); without a `[tls]` section, needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR")]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the https listener (`[tls] cert`).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the https listener (`[tls] key`).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

const EX_USAGE: u8 = 64;

/// A checked configuration: the config, the replication source (URL, token, TLS client
/// configuration), the loaded TLS configuration of the https listener.
type Loaded = (DpConfig, Option<Upstream>, Option<Arc<ServerConfig>>);

fn load(cli: &Cli) -> Result<Loaded, Vec<String>> {
    let mut cfg = match &cli.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| vec![format!("cannot read {}: {e}", p.display())])?;
            toml::from_str::<DpConfig>(&text).map_err(|e| vec![format!("{}: {e}", p.display())])?
        }
        None => DpConfig::default(),
    };
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    if let Some(u) = &cli.control_plane {
        cfg.control_plane.url = Some(u.clone());
    }
    if let Some(ca) = &cli.control_plane_ca {
        cfg.control_plane.ca_file = Some(ca.clone());
    }
    if let Some(t) = cli.threads {
        cfg.threads = t;
    }
    if let Some(d) = cli.driver {
        cfg.driver = d;
    }
    if cli.no_pin {
        cfg.pin_threads = false;
    }
    if let Some(m) = cli.metrics_listen {
        cfg.metrics.listen = Some(m);
    }
    apply_tls_flags(cli, &mut cfg)?;
    cfg.validate()?;
    // Read before any port is bound: a bad file is a configuration error like any other.
    let tls = match &cfg.tls {
        Some(t) => Some(sigil_dataplane::tls::load(t).map_err(|e| vec![e.to_string()])?),
        None => None,
    };
    let token = match (
        std::env::var("SIGIL_REPLICATION_TOKEN"),
        &cfg.control_plane.token,
    ) {
        (Ok(t), _) => Some(t),
        (Err(_), Some(f)) => Some(sigil_shared::config::expand_env(f).map_err(|e| vec![e])?),
        _ => None,
    };
    let upstream = match (&cfg.control_plane.url, token.filter(|t| !t.is_empty())) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(vec![
                "a control plane is configured but SIGIL_REPLICATION_TOKEN is not set".into(),
            ])
        }
        // The URL is parsed and its TLS files are read here, before any port is bound.
        (Some(url), Some(token)) => {
            Some(Upstream::load(url, token, &cfg.control_plane).map_err(|e| vec![e.to_string()])?)
        }
    };
    Ok((cfg, upstream, tls))
}

/// `--tls-listen`, `--tls-cert`, `--tls-key`: override the `[tls]` section, or make one.
fn apply_tls_flags(cli: &Cli, cfg: &mut DpConfig) -> Result<(), Vec<String>> {
    let (listen, cert, key) = (cli.tls_listen, cli.tls_cert.clone(), cli.tls_key.clone());
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
        (None, ..) => {
            return Err(vec![
                "without a [tls] section, --tls-listen, --tls-cert and --tls-key go together"
                    .into(),
            ])
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (cfg, upstream, tls) = match load(&cli) {
        Ok(c) => c,
        Err(errs) => {
            for e in errs {
                eprintln!("sigil-dp: configuration error: {e}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    if cli.validate {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    match sigil_dataplane::runtime::run(cfg, upstream, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigil-dp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
