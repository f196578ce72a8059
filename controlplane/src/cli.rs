//! `sigil-cp`'s command line: the flags ([`Cli`]), loading a checked configuration from the
//! file, the flags and the environment ([`load`]; every problem is a usage error, exit 64,
//! found before any port is bound) and running the chosen command ([`run`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sigil_configfile::LogFormat;
use sigil_kes::KeyWrapper;

use crate::config::{self, CpConfig, KekSource};
use crate::metrics::Metrics;
use crate::server::{self, OpenStoreError, ServeError, TlsConfigs};
use crate::services::{ServiceError, Services};

#[derive(Parser, Debug)]
#[command(name = "sigil-cp", version, about = "Sigil control plane")]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SIGIL_CP_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration and exit (0 valid, 64 invalid).
    #[arg(long, global = true)]
    validate: bool,
    /// Log lines on stderr: text, or json (one JSON object per line, for log collectors).
    /// Colour only when stderr is a terminal and NO_COLOR is unset; level from RUST_LOG.
    #[arg(
        long,
        global = true,
        env = "SIGIL_LOG_FORMAT",
        value_name = "text|json",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

impl Cli {
    /// `--log-format` / `SIGIL_LOG_FORMAT` (read before the configuration: `main` sets up the
    /// log first).
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the data directory, the key-encryption key file if no KEK is configured (the
    /// data directory's path with `.kek` appended, mode 0600; never overwritten), and a demo
    /// root and issuing CA (`demo`).
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

/// A loaded, checked command.
#[derive(Debug)]
pub enum Plan {
    /// `--validate`: the configuration is valid.
    Validated,
    /// Neither a command nor `--validate` (a usage error).
    NoCommand,
    Init {
        config: CpConfig,
        /// Where the key-encryption key comes from ([`KekSource::Missing`]: `init` creates it).
        kek_source: KekSource,
        kek: Option<Arc<dyn KeyWrapper>>,
    },
    Serve {
        config: CpConfig,
        tls: TlsConfigs,
        admin_token: String,
        replication_token: String,
        /// The key-encryption key every secret is sealed under, and where it came from.
        kek: Arc<dyn KeyWrapper>,
        kek_source: KekSource,
    },
    AuditVerify {
        config: CpConfig,
        start_id: u64,
        end_id: u64,
    },
}

/// Why the configuration cannot be used: every problem found, each a message naming what to
/// fix. The binary prints them and exits 64.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigErrors(pub Vec<String>);

/// Why a command failed after its configuration was accepted.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given (try `sigil-cp init` or `sigil-cp serve`, or --validate)")]
    NoCommand,
    /// A configuration error found after the data directory was opened (exit 64).
    #[error("configuration error: {0}")]
    Config(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Store(#[from] OpenStoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("no control-plane database under {}", .0.display())]
    NoDatabase(PathBuf),
    #[error("verifying the audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

impl RunError {
    /// Bad usage or configuration (exit 64, nothing bound): no command, or a key-encryption
    /// key the data directory's secrets were not sealed under.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::NoCommand | Self::Config(_) => true,
            Self::Serve(ServeError::Services(e)) | Self::Service(e) => {
                matches!(e, ServiceError::Secrets(s) if s.is_wrong_kek())
            }
            _ => false,
        }
    }
}

/// The error of `serve` without any key-encryption key.
fn no_kek(default: &std::path::Path) -> String {
    format!(
        "no key-encryption key: the control plane keeps every private key and secret sealed under one. \
         Set {} (base64) or [secrets] kek_file, or [secrets.hsm]; or create the default file {} \
         (`sigil-cp init` does, or `umask 077; openssl rand -base64 32 > {}`). If the data \
         directory already holds sealed secrets, use the KEK they were sealed under",
        config::KEK_ENV,
        default.display(),
        default.display()
    )
}

/// The configuration file (or the defaults), with the command's flags applied, validated;
/// for `serve` also the tokens, the key service's KEK and the TLS files (read here, before any
/// port is bound).
pub fn load(cli: &Cli) -> Result<Plan, ConfigErrors> {
    let mut cfg = match &cli.config {
        Some(p) => sigil_configfile::read_toml(p).map_err(|e| ConfigErrors(vec![e.to_string()]))?,
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
    cfg.validate().map_err(ConfigErrors)?;
    // `init` and `serve` need the KEK (a missing one `init` creates, `serve` refuses); serving
    // also needs the tokens and readable TLS files: all checked here, before any port is bound.
    let kek = match cli.command {
        Some(Command::Init { .. } | Command::Serve { .. }) => {
            Some(config::load_kek(&cfg).map_err(|e| ConfigErrors(vec![e]))?)
        }
        _ => None,
    };
    let serving = match cli.command {
        Some(Command::Serve { .. }) => {
            let mut errs = Vec::new();
            let tokens = config::tokens(&cfg).map_err(|e| errs.extend(e)).ok();
            let kek = match &kek {
                Some((source, Some(k))) => Some((k.clone(), source.clone())),
                Some((KekSource::Missing(default), None)) => {
                    errs.push(no_kek(default));
                    None
                }
                _ => None,
            };
            errs.extend(cfg.validate_serving().err().unwrap_or_default());
            let tls = TlsConfigs::load(&cfg)
                .map_err(|e| errs.push(e.to_string()))
                .ok();
            match (tokens, kek, tls) {
                (Some(tokens), Some(kek), Some(tls)) if errs.is_empty() => Some((tokens, kek, tls)),
                _ => return Err(ConfigErrors(errs)),
            }
        }
        _ => None,
    };
    if cli.validate {
        return Ok(Plan::Validated);
    }
    Ok(match (&cli.command, serving) {
        (
            Some(Command::Serve { .. }),
            Some(((admin_token, replication_token), (kek, kek_source), tls)),
        ) => Plan::Serve {
            config: cfg,
            tls,
            admin_token,
            replication_token,
            kek,
            kek_source,
        },
        (Some(Command::Init { .. }), _) => {
            let (kek_source, kek) = kek.expect("loaded for init above");
            Plan::Init {
                config: cfg,
                kek_source,
                kek,
            }
        }
        (
            Some(Command::Audit {
                command:
                    AuditCommand::Verify {
                        start_id, end_id, ..
                    },
            }),
            _,
        ) => Plan::AuditVerify {
            config: cfg,
            start_id: *start_id,
            end_id: *end_id,
        },
        _ => Plan::NoCommand,
    })
}

/// What a finished command reports: `Ok(true)` success, `Ok(false)` a negative answer (an
/// audit chain that does not verify: exit 1).
pub fn run(plan: Plan) -> Result<bool, RunError> {
    match plan {
        Plan::Validated => {
            println!("configuration is valid");
            Ok(true)
        }
        Plan::NoCommand => Err(RunError::NoCommand),
        Plan::Init {
            config,
            kek_source,
            kek,
        } => init(config, kek_source, kek).map(|()| true),
        Plan::AuditVerify {
            config,
            start_id,
            end_id,
        } => audit_verify(&config, start_id, end_id),
        Plan::Serve {
            config,
            tls,
            admin_token,
            replication_token,
            kek,
            kek_source,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(RunError::Runtime)?;
            let secrets = server::Secrets {
                admin_token,
                replication_token,
                kek,
                kek_source,
            };
            rt.block_on(server::serve(config, tls, secrets))?;
            Ok(true)
        }
    }
}

/// Offline chain verification (UCM's `{valid, checked, errors}`); true when valid.
fn audit_verify(cfg: &CpConfig, start_id: u64, end_id: u64) -> Result<bool, RunError> {
    if cfg.storage.backend == crate::config::StorageBackend::Rocksdb
        && !cfg.data_dir.join("db").exists()
    {
        return Err(RunError::NoDatabase(cfg.data_dir.clone()));
    }
    let store = server::open_store(cfg)?;
    let v = crate::audit::verify(store.as_ref(), start_id, end_id)?;
    println!(
        "{}",
        serde_json::json!({"valid": v.valid(), "checked": v.checked, "errors": v.errors})
    );
    Ok(v.valid())
}

/// `init`: the data directory, the KEK file when none is configured (not when the data
/// directory already holds secrets sealed under a KEK: that one is needed, not a new one),
/// the demo CAs. Prints what it made as JSON, and where the KEK is.
fn init(
    cfg: CpConfig,
    source: KekSource,
    kek: Option<Arc<dyn KeyWrapper>>,
) -> Result<(), RunError> {
    let store = server::open_store(&cfg)?;
    let (kek, created) = match (kek, &source) {
        (Some(k), _) => (k, false),
        (None, KekSource::Missing(path)) => {
            let sealed = crate::services::secrets::sealed_kek_ids(store.as_ref())
                .map_err(ServiceError::from)?;
            if !sealed.is_empty() {
                return Err(RunError::Config(format!(
                    "the data directory holds secrets sealed under key-encryption key {}; not creating a new one at {}: configure that KEK",
                    sealed.into_iter().collect::<Vec<_>>().join(", "),
                    path.display()
                )));
            }
            let kek = config::create_kek_file(path).map_err(RunError::Config)?;
            eprintln!(
                "sigil-cp: created key-encryption key {} (mode 0600): every private key and secret in {} is sealed under it; back it up apart from the data directory, without it they cannot be read",
                path.display(),
                cfg.data_dir.display()
            );
            (kek, true)
        }
        // `load_kek` returns a KEK for every other source.
        (None, _) => {
            return Err(RunError::Config(format!(
                "no key-encryption key ({source:?})"
            )))
        }
    };
    let source = match source {
        KekSource::Missing(path) => KekSource::Default(path),
        other => other,
    };
    let kek_json = serde_json::json!({
        "id": kek.id(),
        "source": source.describe(),
        "file": match &source {
            KekSource::File { path, .. } | KekSource::Default(path) => {
                Some(path.display().to_string())
            }
            _ => None,
        },
        "created": created,
    });
    let (services, _) = Services::open(store, cfg, Metrics::new(), kek)?;
    let cas = services.issuers.init_demo().map_err(ServiceError::from)?;
    let out: Vec<_> = cas.iter().map(|c| serde_json::json!({"id": c.record.id, "name": c.record.name, "subject": c.record.subject})).collect();
    println!("{}", serde_json::json!({ "issuers": out, "kek": kek_json }));
    Ok(())
}
