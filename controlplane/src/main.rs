//! `sigil-cp`: parses configuration, sets up tracing, runs the control plane.
//! Exit status 64 (EX_USAGE) for bad configuration, before any port is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigil_controlplane::{authority::Authority, config, metrics::Metrics, server};
use sigil_shared::config::CpConfig;

#[derive(Parser, Debug)]
#[command(name = "sigil-cp", version, about = "Sigil control plane")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SIGIL_CP_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration and exit (0 valid, 64 invalid).
    #[arg(long, global = true)]
    validate: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the data directory and a demo root and issuing CA (`demo`).
    Init {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the admin listener (management API, replication stream, metrics).
    Serve {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Public (enrollment) listener.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Base URL of the data planes written into certificates (AIA, CRL DP).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Verify the audit chain of a stopped control plane's data directory. Prints
    /// `{"valid", "checked", "errors"}`; exit 0 when valid, 1 when not.
    Verify {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// First record id to check (the record before it is trusted).
        #[arg(long, default_value_t = 1)]
        start_id: u64,
        #[arg(long, default_value_t = u64::MAX)]
        end_id: u64,
    },
}

const EX_USAGE: u8 = 64;

fn load(cli: &Cli) -> Result<CpConfig, Vec<String>> {
    let mut cfg = match &cli.config {
        Some(p) => config::load_file(p).map_err(|e| vec![e])?,
        None => CpConfig::default(),
    };
    match &cli.command {
        Some(Command::Init { data_dir: Some(d) }) => cfg.data_dir = d.clone(),
        Some(Command::Serve {
            data_dir,
            admin_listen,
            listen,
            base_url,
        }) => {
            if let Some(d) = data_dir {
                cfg.data_dir = d.clone();
            }
            if let Some(a) = admin_listen {
                cfg.admin.listen = *a;
            }
            if let Some(l) = listen {
                cfg.public.listen = Some(*l);
            }
            if let Some(b) = base_url {
                cfg.distribution.base_url = b.clone();
            }
        }
        Some(Command::Audit {
            command: AuditCommand::Verify {
                data_dir: Some(d), ..
            },
        }) => cfg.data_dir = d.clone(),
        Some(Command::Init { data_dir: None }) | Some(Command::Audit { .. }) | None => {}
    }
    cfg.validate()?;
    Ok(cfg)
}

fn usage_error(errs: &[String]) -> ExitCode {
    for e in errs {
        eprintln!("sigil-cp: configuration error: {e}");
    }
    ExitCode::from(EX_USAGE)
}

fn main() -> ExitCode {
    // Usage errors exit 64 like configuration errors; --help/--version exit 0.
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
    let cfg = match load(&cli) {
        Ok(c) => c,
        Err(errs) => return usage_error(&errs),
    };
    // Serving needs the tokens and readable TLS files: checked here, before any port is bound.
    let mut tls = server::TlsConfigs::default();
    if matches!(cli.command, Some(Command::Serve { .. })) {
        let mut errs = config::tokens(&cfg).err().unwrap_or_default();
        errs.extend(cfg.validate_serving().err().unwrap_or_default());
        match server::TlsConfigs::load(&cfg) {
            Ok(t) => tls = t,
            Err(e) => errs.push(e.to_string()),
        }
        if !errs.is_empty() {
            return usage_error(&errs);
        }
    }
    if cli.validate {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let result = match cli.command {
        Some(Command::Init { .. }) => init(cfg),
        Some(Command::Audit {
            command: AuditCommand::Verify {
                start_id, end_id, ..
            },
        }) => match audit_verify(&cfg, start_id, end_id) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::Serve { .. }) => {
            let (admin, repl) = match config::tokens(&cfg) {
                Ok(t) => t,
                Err(errs) => return usage_error(&errs),
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(server::serve(cfg, tls, admin, repl)))
        }
        None => {
            eprintln!("sigil-cp: no command given (try `sigil-cp init` or `sigil-cp serve`, or --validate)");
            return ExitCode::from(EX_USAGE);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigil-cp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Offline chain verification (UCM's `{valid, checked, errors}`); true when valid.
fn audit_verify(cfg: &CpConfig, start_id: u64, end_id: u64) -> anyhow::Result<bool> {
    if !cfg.data_dir.join("db").exists() {
        anyhow::bail!("no control-plane database under {}", cfg.data_dir.display());
    }
    let store = server::open_store(&cfg.data_dir)?;
    let v = sigil_controlplane::audit::verify(store.as_ref(), start_id, end_id)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        serde_json::json!({"valid": v.valid(), "checked": v.checked, "errors": v.errors})
    );
    Ok(v.valid())
}

fn init(cfg: CpConfig) -> anyhow::Result<()> {
    let store = server::open_store(&cfg.data_dir)?;
    let auth = Authority::open(store, cfg, Metrics::new()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cas = auth.init_demo().map_err(|e| anyhow::anyhow!("{e}"))?;
    let out: Vec<_> = cas.iter().map(|c| serde_json::json!({"id": c.record.id, "name": c.record.name, "subject": c.record.subject})).collect();
    println!("{}", serde_json::json!({ "issuers": out }));
    Ok(())
}
