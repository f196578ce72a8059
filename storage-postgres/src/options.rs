//! Connection settings: the URL (from the environment, never the config file: it may carry a
//! password), TLS to the server, the pool.

use std::path::PathBuf;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::OpenError;

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq-style connection URL or key/value string
    /// (`postgresql://sigil:…@db.example:5432/sigil?sslmode=require`). `sslmode` may be
    /// `disable`, `prefer` (the default) or `require`; with TLS the server's certificate is
    /// always verified against `ca_file`, host name included.
    pub url: String,
    /// PEM file of the CA(s) that sign the server's certificate. Without it the connection is
    /// in the clear (`sslmode=require` is then refused at start-up).
    pub ca_file: Option<PathBuf>,
    /// Connections kept open (each write, scan and snapshot holds one while it runs).
    pub pool_size: usize,
    /// How long opening waits for the database to accept connections (a database that starts
    /// after the control plane, as in Kubernetes) before giving up.
    pub connect_timeout: Duration,
    /// Hold the node lock while open: a second store on the same database waits up to
    /// `connect_timeout` for it, then fails (default; one control-plane node per database).
    pub exclusive: bool,
    /// With `exclusive`: wait for the node lock for as long as it takes (a standby node that
    /// becomes the active one when the active one goes away) instead of `connect_timeout`.
    pub standby: bool,
    /// Announce every write this store commits to the other processes sharing the database
    /// (`pg_notify('sigil_kv_writes', <this store's instance id>)` inside the writing
    /// transaction, so only committed writes are announced), which is what wakes their
    /// [`sigil_storage::Store::watch_writes`] callbacks. Set it on every node when several
    /// control-plane nodes share one database. Off by default: a lone node has nobody to tell,
    /// and PostgreSQL serialises the commits of notifying transactions on one database-wide
    /// lock.
    pub notify_writes: bool,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("exclusive", &self.exclusive)
            .field("standby", &self.standby)
            .field("notify_writes", &self.notify_writes)
            .finish()
    }
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(30),
            exclusive: true,
            standby: false,
            notify_writes: false,
        }
    }

    /// The parsed client configuration and the TLS connector; every mistake here is the
    /// operator's, reported before anything connects.
    pub fn client_config(&self) -> Result<(Config, MakeRustlsConnect), OpenError> {
        // The parser's message never echoes the URL (which may hold a password).
        let mut config: Config = self
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| OpenError::Url(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(OpenError::Url("no host given".into()));
        }
        if config.get_application_name().is_none() {
            config.application_name("sigil-cp");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true);
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| OpenError::Tls(format!("{}: {e}", path.display())))?;
                if certs.is_empty() {
                    return Err(OpenError::Tls(format!(
                        "{}: no certificate in the file",
                        path.display()
                    )));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| OpenError::Tls(format!("{}: {e}", path.display())))?;
                }
            }
            None => match config.get_ssl_mode() {
                SslMode::Require => {
                    return Err(OpenError::Tls(
                        "sslmode=require needs the CA that signs the server's certificate \
                         ([storage] postgres_ca_file)"
                            .into(),
                    ))
                }
                // `prefer` cannot verify anything without a CA: the connection is in the clear.
                _ => {
                    config.ssl_mode(SslMode::Disable);
                }
            },
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OpenError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok((config, MakeRustlsConnect::new(tls)))
    }
}

/// The connection pool (no connection is made until one is needed).
pub(crate) fn pool(config: Config, tls: MakeRustlsConnect, size: usize) -> Result<Pool, OpenError> {
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| OpenError::Pool(e.to_string()))
}

/// The settings of a connection the store keeps open on its own, mostly idle, for as long as
/// it holds something on it (a lease's lock, the write listener): TCP keepalives probe an idle
/// connection after 5 s, every 2 s, 3 times, so a vanished peer or path is noticed within about
/// 11 s instead of the system's default of over two hours.
pub(crate) fn dedicated(mut config: Config) -> Config {
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    config
}

/// `host:port/dbname` for logs and errors.
pub(crate) fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config
            .get_dbname()
            .unwrap_or(config.get_user().unwrap_or("?"))
    )
}
