//! Opening the store and running the listeners and background jobs: the services are opened
//! (every CA loaded) before any port is bound; on SIGINT/SIGTERM the listeners drain, then the
//! jobs stop.

use std::path::PathBuf;
use std::sync::Arc;

use sigil_storage::Store;
use sigil_storage_postgres::PgStore;
use sigil_storage_rocksdb::{RocksOptions, RocksStore};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::{CpConfig, StorageBackend};
use crate::db::cf;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::services::{ServiceError, Services};
use crate::tls::{ConnInfo, SigilListener};

/// Why the control plane could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] OpenStoreError),
    #[error("loading the control plane's state: {0}")]
    Services(#[from] ServiceError),
    #[error("binding the {listener} listener on {addr}: {source}")]
    Bind {
        listener: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("serving the admin listener: {0}")]
    Serve(std::io::Error),
    #[error("a start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    #[error("creating {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("opening {}: {detail}", dir.display())]
    Open { dir: PathBuf, detail: String },
    #[error("{0}")]
    Postgres(String),
}

/// The listeners' TLS configurations, loaded (and checked) before the runtime starts.
#[derive(Debug, Default, Clone)]
pub struct TlsConfigs {
    pub admin: Option<Arc<rustls::ServerConfig>>,
    pub public: Option<Arc<rustls::ServerConfig>>,
}

impl TlsConfigs {
    /// Reads the `[admin.tls]` and `[public.tls]` files named by `cfg`.
    pub fn load(cfg: &CpConfig) -> Result<Self, crate::tls::TlsError> {
        Ok(Self {
            admin: cfg
                .admin
                .tls
                .as_ref()
                .map(crate::tls::admin_server_config)
                .transpose()?,
            public: cfg
                .public
                .tls
                .as_ref()
                .map(crate::tls::public_server_config)
                .transpose()?,
        })
    }
}

/// What `serve` needs besides the configuration, loaded by `cli::load` before any port is
/// bound: the admin and replication tokens and the key-encryption key (and where it came
/// from, for the log).
pub struct Secrets {
    pub admin_token: String,
    pub replication_token: String,
    pub kek: Arc<dyn sigil_kes::KeyWrapper>,
    pub kek_source: crate::config::KekSource,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("kek", &self.kek)
            .field("kek_source", &self.kek_source)
            .finish_non_exhaustive()
    }
}

/// Opens the configured store: PostgreSQL (`[storage] backend = "postgres"`: connects, waits
/// for the database and brings its schema up to date), or RocksDB under the data directory,
/// created with owner-only permissions.
pub fn open_store(cfg: &CpConfig) -> Result<Arc<dyn Store>, OpenStoreError> {
    if cfg.storage.backend == StorageBackend::Postgres {
        let options = cfg.storage.postgres().map_err(OpenStoreError::Postgres)?;
        let store = PgStore::open(&options, cf::ALL)
            .map_err(|e| OpenStoreError::Postgres(e.to_string()))?;
        return Ok(Arc::new(store));
    }
    let dir = &cfg.data_dir;
    let create = |source| OpenStoreError::Create {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(create)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(create)?;
    }
    let store =
        RocksStore::open(&dir.join("db"), cf::ALL, &RocksOptions::default()).map_err(|e| {
            OpenStoreError::Open {
                dir: dir.to_owned(),
                detail: e.to_string(),
            }
        })?;
    Ok(Arc::new(store))
}

async fn bind(
    listener: &'static str,
    addr: std::net::SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    nodelay: bool,
) -> Result<SigilListener, ServeError> {
    SigilListener::bind(addr, tls, nodelay, listener)
        .await
        .map_err(|source| ServeError::Bind {
            listener,
            addr,
            source,
        })
}

/// Serves until SIGINT/SIGTERM.
pub async fn serve(cfg: CpConfig, tls: TlsConfigs, secrets: Secrets) -> Result<(), ServeError> {
    let Secrets {
        admin_token,
        replication_token,
        kek,
        kek_source,
    } = secrets;
    tracing::info!(kek = kek.id(), source = %kek_source.describe(), "key-encryption key loaded");
    for (section, secs) in [
        ("ocsp", cfg.ocsp.test_validity_secs),
        ("crl", cfg.crl.test_validity_secs),
    ] {
        if let Some(secs) = secs {
            tracing::warn!(
                section,
                secs,
                "test_validity_secs is set: responses and CRLs are valid for seconds only (a test setting, not for production)"
            );
        }
    }
    let store = open_store(&cfg)?;
    let (listen, public_listen) = (cfg.admin.listen, cfg.public.listen);
    let node = (cfg.storage.backend == StorageBackend::Postgres
        && cfg.storage.postgres_multi_active)
        .then(crate::cluster::node_name);
    // Opening checks the stored secrets against the KEK (and seals any left in the clear by
    // an older version) before any listener is bound.
    let (services, crl_requests) =
        tokio::task::spawn_blocking(move || Services::open(store, cfg, Metrics::new(), kek))
            .await??;
    let services = Arc::new(services);
    if let Some(node) = &node {
        tracing::info!(%node, "one of several active control-plane nodes on this database");
    }
    let jobs = Jobs::start(&services, crl_requests, node);
    let state = Arc::new(AppState::new(
        services.clone(),
        admin_token,
        replication_token,
    ));
    let (stop_public, public_stopped) = watch::channel(false);
    // TCP_NODELAY: replication frames are small and latency-critical (a revocation must reach
    // data planes in milliseconds); with Nagle they wait for the peer's delayed ACK (~40 ms).
    let listener = bind("admin", listen, tls.admin, true).await?;
    // The public (enrollment) listener is separate from the admin one, TLS always.
    let public_task = match public_listen {
        Some(addr) => {
            let public = bind("public", addr, tls.public, false).await?;
            tracing::info!(public = %public.local_addr(), tls = public.is_tls(), "public listener up");
            let mut stop = public_stopped;
            let router = api::public_router(services.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(
                    public,
                    router.into_make_service_with_connect_info::<ConnInfo>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await;
            }))
        }
        None => None,
    };
    tracing::info!(admin = %listener.local_addr(), tls = listener.is_tls(), head = services.replication.head(), kek = services.kes.kek_id(), "sigil-cp listening");
    let served = axum::serve(
        listener,
        api::router(state).into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    })
    .await;
    let _ = stop_public.send(true);
    jobs.stop().await;
    if let Some(t) = public_task {
        let _ = t.await;
    }
    served.map_err(ServeError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
