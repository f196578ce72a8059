//! Opening the store and running the admin listener and background tasks.

use std::path::Path;
use std::sync::Arc;

use sigil_shared::config::CpConfig;
use sigil_storage::Store;
use sigil_storage_rocksdb::{RocksOptions, RocksStore};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::authority::Authority;
use crate::db::cf;
use crate::metrics::Metrics;
use crate::tls::{ConnInfo, SigilListener};

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

/// Opens (creating) the RocksDB data directory with owner-only permissions.
pub fn open_store(dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let store = RocksStore::open(&dir.join("db"), cf::ALL, &RocksOptions::default())
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
    Ok(Arc::new(store))
}

/// Serves until SIGINT/SIGTERM.
pub async fn serve(
    cfg: CpConfig,
    tls: TlsConfigs,
    admin_token: String,
    replication_token: String,
) -> anyhow::Result<()> {
    let store = open_store(&cfg.data_dir)?;
    let listen = cfg.admin.listen;
    let auth =
        tokio::task::spawn_blocking(move || Authority::open(store, cfg, Metrics::new())).await??;
    let auth = Arc::new(auth);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let crl_task = crate::crl::spawn_crl_scheduler(auth.clone(), shutdown_rx.clone());
    let refresh_task = crate::ocsp::spawn_refresher(auth.clone(), shutdown_rx.clone());
    let head_task = {
        let (a, mut rx, mut stop) = (auth.clone(), auth.db.subscribe(), shutdown_rx.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
                a.metrics
                    .replication_head
                    .set(*rx.borrow_and_update() as i64);
            }
        })
    };
    let public_listen = auth.config.public.listen;
    let state = Arc::new(AppState {
        authority: auth.clone(),
        admin_token,
        replication_token,
    });
    // TCP_NODELAY: replication frames are small and latency-critical (a revocation must reach
    // data planes in milliseconds); with Nagle they wait for the peer's delayed ACK (~40 ms).
    let listener = SigilListener::bind(listen, tls.admin, true, "admin").await?;
    // The public (enrollment) listener is separate from the admin one, TLS always.
    let public_task = match public_listen {
        Some(addr) => {
            let public = SigilListener::bind(addr, tls.public, false, "public").await?;
            tracing::info!(public = %public.local_addr(), tls = public.is_tls(), "public listener up");
            let mut stop = shutdown_rx.clone();
            let router = api::public_router(auth.clone());
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
    tracing::info!(admin = %listener.local_addr(), tls = listener.is_tls(), head = auth.db.head(), "sigil-cp listening");
    axum::serve(
        listener,
        api::router(state).into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    })
    .await?;
    let _ = shutdown_tx.send(true);
    let _ = tokio::join!(crl_task, refresh_task, head_task);
    if let Some(t) = public_task {
        let _ = t.await;
    }
    Ok(())
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
