//! The OCSP refresh job: re-signs ageing responses ([`Certificates::refresh`]), spread over
//! all cores with bounded concurrency.

use std::sync::Arc;
use std::time::Duration;

use sigil_shared::time::now_unix;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::cluster::Leadership;
use crate::config::OcspConfig;
use crate::metrics::Metrics;
use crate::services::{with_fence, Certificates};

/// Runs until `shutdown` turns true.
pub fn spawn(
    certificates: Arc<Certificates>,
    cfg: OcspConfig,
    metrics: Metrics,
    leadership: Leadership,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let workers = if cfg.refresh_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            cfg.refresh_workers
        };
        let sem = Arc::new(Semaphore::new(workers));
        let scan_limit = cfg.refresh_batch * workers * 4;
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            // Another node holds the jobs lease: look again soon (it may die).
            let Some(fence) = leadership.current() else {
                wait = crate::cluster::lease::POLL;
                continue;
            };
            let now = now_unix();
            let c = certificates.clone();
            let due = match tokio::task::spawn_blocking(move || c.due_before(now, scan_limit)).await
            {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "OCSP refresh scan failed");
                    wait = Duration::from_secs(cfg.refresh_interval_secs);
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "OCSP refresh scan panicked");
                    continue;
                }
            };
            if due.is_empty() {
                wait = Duration::from_secs(cfg.refresh_interval_secs);
                continue;
            }
            let total = due.len();
            let started = std::time::Instant::now();
            let mut set = JoinSet::new();
            for chunk in due.chunks(cfg.refresh_batch) {
                let permit = sem
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                let c = certificates.clone();
                let chunk = chunk.to_vec();
                let fence = fence.clone();
                set.spawn_blocking(move || {
                    let _permit = permit;
                    with_fence(fence, || c.refresh(&chunk, now))
                });
            }
            let mut done = 0;
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(Ok(n)) => {
                        done += n;
                        metrics.ocsp_refreshed.inc_by(n as u64);
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "OCSP refresh batch failed"),
                    Err(e) => tracing::error!(error = %e, "OCSP refresh batch panicked"),
                }
            }
            tracing::info!(
                refreshed = done,
                due = total,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "OCSP refresh pass"
            );
            // A full scan means more is waiting: continue at once, else back to the interval.
            wait = if total == scan_limit {
                Duration::ZERO
            } else {
                Duration::from_secs(cfg.refresh_interval_secs)
            };
        }
    })
}
