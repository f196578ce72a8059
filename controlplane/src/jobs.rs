//! The control plane's background jobs, started together by the server and stopped together
//! at shutdown. Each receives the services and settings it needs when it is spawned.
//!
//! | job | what |
//! |---|---|
//! | [`ocsp_refresh`] | re-signs OCSP responses as they come due |
//! | [`crl_schedule`] | regenerates CRLs after revocations (debounced) and periodically |
//! | [`replication_head`] | keeps `sigil_cp_replication_head` at the log's head |

pub mod crl_schedule;
pub mod ocsp_refresh;
pub mod replication_head;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::services::{CrlRequests, Services};

/// The running jobs.
#[derive(Debug)]
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Starts every job on the current tokio runtime.
    pub fn start(services: &Services, crl_requests: CrlRequests) -> Self {
        let (stop, stopped) = watch::channel(false);
        let settings = services.settings();
        let handles = vec![
            crl_schedule::spawn(
                services.issuers.clone(),
                crl_requests,
                Duration::from_millis(settings.crl.debounce_ms),
                stopped.clone(),
            ),
            ocsp_refresh::spawn(
                services.certificates.clone(),
                settings.ocsp.clone(),
                services.metrics().clone(),
                stopped.clone(),
            ),
            replication_head::spawn(
                services.replication.subscribe(),
                services.metrics().clone(),
                stopped,
            ),
        ];
        Self { stop, handles }
    }

    /// Asks every job to stop and waits until they have.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}
