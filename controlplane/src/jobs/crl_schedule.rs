//! The CRL job: regenerates a CA's CRL shortly after a revocation (debounced, so a burst of
//! revocations produces one CRL) and at least every `crl.regenerate_every_hours`
//! ([`Issuers::stale_crls`], checked every minute, or at that interval when it is shorter).
//! With delta CRLs on (`crl.delta_every_minutes`), revocations publish delta CRLs instead, and
//! so does the tick for deltas older than their interval ([`Issuers::stale_deltas`]).
//! Each generation is recorded by the issuers service for `GET /api/v1/admin/crl/cache`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sigil_shared::time::now_unix;
use tokio::sync::watch;

use sigil_storage::Expect;

use crate::cluster::Leadership;
use crate::services::{with_fence, CrlRequests, Issuers};

async fn regenerate(
    issuers: &Arc<Issuers>,
    trigger: &'static str,
    ids: impl IntoIterator<Item = String>,
    fence: Option<Expect>,
) {
    for id in ids {
        let i = issuers.clone();
        let issuer = id.clone();
        let fence = fence.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || {
            with_fence(fence, || i.regenerate_crl_for(&issuer, trigger))
        })
        .await
        {
            tracing::error!(issuer = %id, error = %e, "CRL generation panicked");
        }
    }
}

/// Runs until `shutdown` turns true. `debounce` is how long to collect further revocations.
/// The CRLs this node's revocations ask for are regenerated here whichever node runs the
/// periodic jobs (the revocation's own consequence, fenced on the CRL number); the periodic
/// regeneration only while `leadership` says so.
pub fn spawn(
    issuers: Arc<Issuers>,
    mut requests: CrlRequests,
    debounce: Duration,
    leadership: Leadership,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Every minute, or more often when CRLs are regenerated more often than that
        // (`crl.test_validity_secs`).
        let every = issuers
            .crl_regeneration_interval()
            .min(issuers.delta_crl_interval().unwrap_or(i64::MAX))
            .clamp(1, 60) as u64;
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        loop {
            tokio::select! {
                Some(first) = requests.next() => {
                    let mut pending = BTreeSet::from([first]);
                    tokio::time::sleep(debounce).await;
                    while let Some(id) = requests.try_next() {
                        pending.insert(id);
                    }
                    regenerate(&issuers, "revocation", pending, None).await;
                }
                _ = tick.tick() => {
                    let Some(fence) = leadership.current() else { continue };
                    let i = issuers.clone();
                    let stale = tokio::task::spawn_blocking(move || {
                        let now = now_unix();
                        let bases = i.stale_crls(now);
                        let deltas: Vec<String> =
                            i.stale_deltas(now).into_iter().filter(|d| !bases.contains(d)).collect();
                        (bases, deltas)
                    });
                    if let Ok((bases, deltas)) = stale.await {
                        regenerate(&issuers, "periodic", bases, fence.clone()).await;
                        regenerate(&issuers, "delta", deltas, fence).await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    })
}
