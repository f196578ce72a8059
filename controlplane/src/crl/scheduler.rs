//! Keeps CRLs fresh: regenerates a CA's CRL shortly after a revocation (debounced, so a burst
//! of revocations produces one CRL) and at least every `regenerate_every_hours`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sigil_shared::time::now_unix;
use tokio::sync::{mpsc, watch};

use crate::authority::Authority;

/// Handle to request a CRL regeneration.
#[derive(Debug, Clone)]
pub struct CrlTrigger(mpsc::UnboundedSender<String>);

impl CrlTrigger {
    pub fn trigger(&self, issuer_id: &str) {
        let _ = self.0.send(issuer_id.to_string());
    }
}

async fn regenerate(auth: &Arc<Authority>, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        let a = auth.clone();
        let res =
            tokio::task::spawn_blocking(move || a.regenerate_crl(&id).map_err(|e| (id, e))).await;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err((id, e))) => tracing::error!(issuer = %id, error = %e, "CRL generation failed"),
            Err(e) => tracing::error!(error = %e, "CRL generation panicked"),
        }
    }
}

/// CAs whose CRL is missing or older than the regeneration interval.
fn stale(auth: &Authority, now: i64) -> Vec<String> {
    let every = i64::from(auth.config.crl.regenerate_every_hours) * 3600;
    auth.list_cas()
        .iter()
        .filter(|ca| match auth.crl(&ca.record.id) {
            Ok(crl) => now - crl.this_update >= every,
            Err(_) => true,
        })
        .map(|ca| ca.record.id.clone())
        .collect()
}

pub fn spawn_crl_scheduler(
    auth: Arc<Authority>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    auth.set_crl_trigger(CrlTrigger(tx));
    tokio::spawn(async move {
        let debounce = Duration::from_millis(auth.config.crl.debounce_ms);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                Some(first) = rx.recv() => {
                    let mut pending = BTreeSet::from([first]);
                    tokio::time::sleep(debounce).await;
                    while let Ok(id) = rx.try_recv() {
                        pending.insert(id);
                    }
                    regenerate(&auth, pending).await;
                }
                _ = tick.tick() => {
                    let a = auth.clone();
                    if let Ok(ids) = tokio::task::spawn_blocking(move || stale(&a, now_unix())).await {
                        regenerate(&auth, ids).await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    })
}
