//! Catching up with the other nodes: woken by the store when another node commits (PostgreSQL
//! `LISTEN/NOTIFY`, `sigil_storage::Store::watch_writes`), and at least every [`FALLBACK`] in
//! case a notification was lost, the node reads the heads and the new records
//! (`Services::catch_up`): its replication streams then send what other nodes committed, and
//! CAs other nodes created or changed are loaded.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::services::Services;

/// The longest a node goes without looking, notified or not.
pub const FALLBACK: Duration = Duration::from_secs(1);

/// The shortest time between two looks: while another node commits continuously, a node
/// looks at most this often (notifications meanwhile make one wake-up), not once per commit.
pub const SPACING: Duration = Duration::from_millis(5);

/// Runs until `shutdown` turns true.
pub fn spawn(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let wake = Arc::new(Notify::new());
        let (s, w) = (services.clone(), wake.clone());
        match tokio::task::spawn_blocking(move || s.watch_writes(Arc::new(move || w.notify_one())))
            .await
        {
            Ok(Ok(true)) => {
                tracing::info!("following other nodes' commits (notified, and every second)")
            }
            Ok(Ok(false)) => tracing::info!(
                "following other nodes' commits every second (the store sends no notifications)"
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "listening for other nodes' commits failed: following them every second")
            }
            Err(e) => tracing::error!(error = %e, "listening for other nodes' commits panicked"),
        }
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(FALLBACK) => {}
                _ = shutdown.changed() => return,
            }
            let s = services.clone();
            match tokio::task::spawn_blocking(move || s.catch_up()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "catching up with other nodes failed"),
                Err(e) => tracing::error!(error = %e, "catching up with other nodes panicked"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SPACING) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}
