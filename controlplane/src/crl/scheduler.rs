//! Keeps CRLs fresh: regenerates a CA's CRL shortly after a revocation (debounced, so a burst
//! of revocations produces one CRL) and at least every `regenerate_every_hours`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigil_shared::time::now_unix;
use tokio::sync::{mpsc, watch};

use crate::authority::Authority;

/// Generation events kept per issuer.
const EVENTS_KEPT: usize = 10;

/// One run of the scheduler for one issuer (`GET /api/v1/admin/crl/cache` lists the latest).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrlEvent {
    /// Unix seconds when the generation finished.
    pub at: i64,
    /// `revocation` (debounced after revocations) or `periodic` (missing or old CRL).
    pub trigger: &'static str,
    /// Number of the CRL generated; absent when it failed.
    pub crl_number: Option<u64>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

type Events = Arc<Mutex<HashMap<String, VecDeque<CrlEvent>>>>;

/// Handle to request a CRL regeneration; also holds the recent generation events.
#[derive(Debug, Clone)]
pub struct CrlTrigger {
    tx: mpsc::UnboundedSender<String>,
    events: Events,
}

impl CrlTrigger {
    pub fn trigger(&self, issuer_id: &str) {
        let _ = self.tx.send(issuer_id.to_string());
    }

    /// The latest generation events of `issuer_id`, newest first.
    pub fn events(&self, issuer_id: &str) -> Vec<CrlEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer_id)
            .map(|q| q.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

fn record(events: &Events, issuer_id: &str, event: CrlEvent) {
    let mut map = events.lock().unwrap_or_else(|e| e.into_inner());
    let q = map.entry(issuer_id.to_string()).or_default();
    if q.len() == EVENTS_KEPT {
        q.pop_front();
    }
    q.push_back(event);
}

async fn regenerate(
    auth: &Arc<Authority>,
    events: &Events,
    trigger: &'static str,
    ids: impl IntoIterator<Item = String>,
) {
    for id in ids {
        let a = auth.clone();
        let started = Instant::now();
        let issuer = id.clone();
        let res = tokio::task::spawn_blocking(move || a.regenerate_crl(&issuer)).await;
        let (crl_number, error) = match res {
            Ok(Ok(crl)) => (Some(crl.number), None),
            Ok(Err(e)) => {
                tracing::error!(issuer = %id, error = %e, "CRL generation failed");
                (None, Some(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "CRL generation panicked");
                (None, Some("CRL generation panicked".to_string()))
            }
        };
        let event = CrlEvent {
            at: now_unix(),
            trigger,
            crl_number,
            duration_ms: started.elapsed().as_millis() as u64,
            error,
        };
        record(events, &id, event);
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
    let events = Events::default();
    auth.set_crl_trigger(CrlTrigger {
        tx,
        events: events.clone(),
    });
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
                    regenerate(&auth, &events, "revocation", pending).await;
                }
                _ = tick.tick() => {
                    let a = auth.clone();
                    if let Ok(ids) = tokio::task::spawn_blocking(move || stale(&a, now_unix())).await {
                        regenerate(&auth, &events, "periodic", ids).await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    })
}
