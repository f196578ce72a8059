//! `sigil-dp`: parses configuration, sets up tracing, runs the thread-per-core data plane.
//! Exit status 64 (EX_USAGE) for bad configuration, before any port is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sigil_shared::config::dp::{DpConfig, Driver};

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
    /// Control plane admin base URL to replicate from (token: SIGIL_REPLICATION_TOKEN).
    #[arg(long)]
    control_plane: Option<String>,
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
}

const EX_USAGE: u8 = 64;

fn load(cli: &Cli) -> Result<(DpConfig, Option<String>), Vec<String>> {
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
    cfg.validate()?;
    let token = match (
        std::env::var("SIGIL_REPLICATION_TOKEN"),
        &cfg.control_plane.token,
    ) {
        (Ok(t), _) => Some(t),
        (Err(_), Some(f)) => Some(sigil_shared::config::expand_env(f).map_err(|e| vec![e])?),
        _ => None,
    };
    if cfg.control_plane.url.is_some() && token.as_deref().is_none_or(str::is_empty) {
        return Err(vec![
            "a control plane is configured but SIGIL_REPLICATION_TOKEN is not set".into(),
        ]);
    }
    Ok((cfg, token))
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
    let (cfg, token) = match load(&cli) {
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
    match sigil_dataplane::runtime::run(cfg, token) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigil-dp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
