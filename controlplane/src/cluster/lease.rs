//! The jobs lease: a node takes it when it is free (PostgreSQL: an advisory lock held by a
//! connection of its own, released when the node dies and its connection closes), bumps the
//! lease's epoch record and runs the periodic jobs until it loses the lease. Nodes without it
//! try again every [`POLL`], so the jobs move within about that long after the holder dies.

use std::sync::Arc;
use std::time::Duration;

use sigil_storage::Lease;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Leadership;
use crate::services::Services;

/// How often a node checks its lease, or tries to take it.
pub const POLL: Duration = Duration::from_millis(250);

/// Runs the lease loop until `shutdown` turns true; the [`Leadership`] follows it.
pub fn spawn(
    services: Arc<Services>,
    node: String,
    mut shutdown: watch::Receiver<bool>,
) -> (Leadership, JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(async move {
        let metrics = services.metrics().clone();
        let mut held: Option<Lease> = None;
        loop {
            match &held {
                Some(lease) if lease.is_held() => {}
                Some(_) => {
                    // Dropping a lease waits for its unlock: not on an async worker.
                    let lost = held.take();
                    tokio::task::spawn_blocking(move || drop(lost));
                    tx.send_replace(None);
                    metrics.jobs_leader.set(0);
                    tracing::error!(
                        %node,
                        "lost the jobs lease (its database connection closed): the periodic jobs stop on this node"
                    );
                }
                None => {
                    let (s, n) = (services.clone(), node.clone());
                    let taken = tokio::task::spawn_blocking(move || {
                        let Some(lease) = s.jobs_lease()? else {
                            return Ok(None);
                        };
                        // The lease is ours; the fence makes it ours for every job commit.
                        s.take_jobs_lease(&n).map(|fence| Some((lease, fence)))
                    })
                    .await;
                    match taken {
                        Ok(Ok(Some((lease, fence)))) => {
                            held = Some(lease);
                            tx.send_replace(Some(fence));
                            metrics.jobs_leader.set(1);
                            metrics.jobs_lease_taken.inc();
                            tracing::info!(%node, "took the jobs lease: this node runs the periodic jobs");
                        }
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "taking the jobs lease failed"),
                        Err(e) => tracing::error!(error = %e, "taking the jobs lease panicked"),
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {
                    tx.send_replace(None);
                    metrics.jobs_leader.set(0);
                    let _ = tokio::task::spawn_blocking(move || drop(held)).await;
                    return;
                }
            }
        }
    });
    (Leadership::Lease(rx), task)
}
