//! The control plane's services. Each owns its state and its locks; all share one private
//! [`context`] (store, audit log, metrics, settings) and commit through its one commit path.
//! Handlers (`api`, `est`) and background jobs (`jobs`) call services, never the store or the
//! audit log.
//!
//! | service | what |
//! |---|---|
//! | [`Issuers`] | CAs: creation and import, key stores, delegated responders, CRLs, settings |
//! | [`Certificates`] | issuance, revocation, release from hold, OCSP refresh, queries |
//! | [`Otps`] | enrollment secrets (one-time passwords for EST) |
//! | [`ApiKeys`] | admin API keys (RBAC) |
//! | [`Kes`] | the KES-compatible key service: keys (wrapped under the KEK), policies, identities |
//! | [`secrets`] | (no service of its own) every private key and secret sealed under the same KEK; the start-up check and migration |
//! | [`Ssh`] | the SSH key service (Keyper's API): users, hosts, groups, keys, certificates, CAs, KRL, logins |
//! | [`AuditTrail`] | reading and verifying the audit log; recording failures |
//! | [`Replication`] | the replication log as the stream endpoint and health views see it |
//!
//! Every method is blocking (they sign, derive keys and fsync): async callers use
//! `spawn_blocking`. A new service (the key service, the SSH service) goes here as a sibling
//! with its own module, error enum and locks, its sans-io core in a crate of its own.

pub mod api_keys;
pub mod audit_trail;
pub mod certificates;
mod context;
mod error;
pub mod issuers;
pub mod kes;
pub mod otps;
pub mod replication;
pub mod secrets;
pub mod ssh;

pub use api_keys::{ApiKeyError, ApiKeys};
pub use audit_trail::AuditTrail;
pub use certificates::{CertError, Certificates};
pub(crate) use error::into_protocol_error;
pub use error::{ErrorKind, Internal, ServiceError, SIGNER_UNAVAILABLE};
pub use issuers::{CrlRequests, IssuerError, Issuers};
pub use kes::{Kes, KesError};
pub use otps::{OtpError, Otps};
pub use replication::Replication;
pub use secrets::SecretsError;
pub use ssh::{Ssh, SshError};

use std::sync::Arc;

use sigil_kes::KeyWrapper;
use sigil_storage::Store;

use crate::config::CpConfig;
use crate::metrics::Metrics;
use context::Context;

/// Upper bound of the OCSP backlog count at a scrape (a scrape must stay cheap).
const BACKLOG_COUNT_CAP: u64 = 1_000_000;

/// Every service, opened on one store.
#[derive(Debug, Clone)]
pub struct Services {
    pub issuers: Arc<Issuers>,
    pub certificates: Arc<Certificates>,
    pub otps: Arc<Otps>,
    pub api_keys: Arc<ApiKeys>,
    pub kes: Arc<Kes>,
    pub ssh: Arc<Ssh>,
    pub audit: Arc<AuditTrail>,
    pub replication: Arc<Replication>,
    metrics: Metrics,
    settings: Arc<CpConfig>,
}

impl Services {
    /// Opens the services on `store`: the replication and audit logs, the stored secrets
    /// (checked against `kek` and sealed under it where a data directory written before
    /// sealing holds them in the clear: [`secrets`]), every stored CA. `kek` is the
    /// key-encryption key (`SIGIL_KEK`, `[secrets] kek_file` or `[secrets.hsm]`, or the older
    /// `[kes]` names, loaded by `cli::load`): every private key, secret and key-service key is
    /// sealed under it. The returned [`CrlRequests`] are the CRL regenerations revocations ask
    /// for; the CRL job drains them (without it they are dropped, as offline commands and
    /// tests do).
    pub fn open(
        store: Arc<dyn Store>,
        settings: CpConfig,
        metrics: Metrics,
        kek: Arc<dyn KeyWrapper>,
    ) -> Result<(Self, CrlRequests), ServiceError> {
        let settings = Arc::new(settings);
        let cx = Arc::new(Context::open(
            store,
            settings.clone(),
            metrics.clone(),
            kek,
        )?);
        secrets::prepare(&cx)?;
        let (trigger, requests) = issuers::crl::crl_requests();
        let issuers = Arc::new(Issuers::load(cx.clone(), trigger)?);
        let ssh = Arc::new(Ssh::open(cx.clone())?);
        let services = Self {
            certificates: Arc::new(Certificates::new(cx.clone(), issuers.clone())),
            issuers,
            otps: Arc::new(Otps::new(cx.clone())),
            api_keys: Arc::new(ApiKeys::new(cx.clone())),
            kes: Arc::new(Kes::new(cx.clone())),
            ssh,
            audit: Arc::new(AuditTrail::new(cx.clone())),
            replication: Arc::new(Replication::new(cx)),
            metrics,
            settings,
        };
        Ok((services, requests))
    }

    /// The configuration the services run with (read-only), for setting up listeners and jobs.
    pub fn settings(&self) -> &CpConfig {
        &self.settings
    }

    /// The metrics registry (request metrics are recorded by the listeners).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `/metrics`: brings the scrape-time metrics up to date (per-CA signing, replication lag,
    /// OCSP refresh backlog), then renders the registry. Blocking.
    pub fn render_metrics(&self) -> String {
        let m = &self.metrics;
        m.sync_cas(&self.issuers.list_cas());
        m.sync_replication(self.replication.head());
        let now = sigil_shared::time::now_unix();
        match self.certificates.ocsp_backlog(now, BACKLOG_COUNT_CAP) {
            Ok((due, oldest)) => {
                m.ocsp_refresh_backlog.set(due as i64);
                m.ocsp_refresh_oldest_due
                    .set(oldest.map_or(0, |t| (now - t).max(0)));
            }
            Err(e) => tracing::warn!(error = %e, "counting the OCSP refresh backlog failed"),
        }
        m.render()
    }
}
