//! Keeps `sigil_cp_replication_head` at the replication log's head, woken by every commit.

use tokio::sync::watch;

use crate::metrics::Metrics;

/// Runs until `shutdown` turns true.
pub fn spawn(
    mut head: watch::Receiver<u64>,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = head.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
            metrics
                .replication_head
                .set(*head.borrow_and_update() as i64);
        }
    })
}
