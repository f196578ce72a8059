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
//! | [`Profiles`] | issuance profiles: the configuration file's, the API's (stored), the built-in default |
//! | [`AcmeState`] | ACME accounts, orders, authorizations and challenges, certificate owners |
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

pub mod acme;
pub mod api_keys;
pub mod audit_trail;
pub mod certificates;
mod context;
mod error;
pub mod issuers;
pub mod kes;
pub mod otps;
pub mod profiles;
pub mod replication;
pub mod scep_requests;
pub mod secrets;
pub mod ssh;

pub use acme::{AcmeState, AcmeStateError};
pub use api_keys::{ApiKeyError, ApiKeys};
pub use audit_trail::AuditTrail;
pub use certificates::{CertError, Certificates};
pub use context::with_fence;
pub(crate) use error::into_protocol_error;
pub use error::{ErrorKind, Internal, ServiceError, SIGNER_UNAVAILABLE};
pub use issuers::{CrlRequests, IssuerError, Issuers};
pub use kes::{Kes, KesError};
pub use otps::{OtpError, Otps};
pub use profiles::{ProfileError, Profiles};
pub use replication::Replication;
pub use scep_requests::{ScepRequestError, ScepRequests};
pub use secrets::SecretsError;
pub use ssh::{Ssh, SshError};

use std::sync::Arc;

use sigil_kes::KeyWrapper;
use sigil_storage::Store;

use crate::audit;
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
    pub profiles: Arc<Profiles>,
    pub scep_requests: Arc<ScepRequests>,
    pub acme: Arc<AcmeState>,
    pub api_keys: Arc<ApiKeys>,
    pub kes: Arc<Kes>,
    pub ssh: Arc<Ssh>,
    pub audit: Arc<AuditTrail>,
    pub replication: Arc<Replication>,
    metrics: Metrics,
    settings: Arc<CpConfig>,
    cx: Arc<Context>,
    /// The replication head at which [`Services::catch_up`] last synced the CAs.
    cas_synced_at: Arc<std::sync::atomic::AtomicU64>,
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
        let certificates = Arc::new(Certificates::new(cx.clone(), issuers.clone()));
        let services = Self {
            scep_requests: Arc::new(ScepRequests::new(cx.clone(), certificates.clone())),
            certificates,
            issuers,
            otps: Arc::new(Otps::new(cx.clone())),
            profiles: Arc::new(Profiles::new(cx.clone())),
            acme: Arc::new(AcmeState::new(cx.clone())),
            api_keys: Arc::new(ApiKeys::new(cx.clone())),
            kes: Arc::new(Kes::new(cx.clone())),
            ssh,
            audit: Arc::new(AuditTrail::new(cx.clone())),
            replication: Arc::new(Replication::new(cx.clone())),
            cas_synced_at: Arc::new(cx.db().head().into()),
            metrics,
            settings,
            cx,
        };
        Ok((services, requests))
    }

    /// Catches up with what other control-plane nodes on the same database committed
    /// (several active nodes, `crate::cluster`): the replication log's and the audit chain's
    /// heads (this node's replication streams then send the new records) and, when the log
    /// moved, the CAs (loaded again where the store's differ). Blocking. Returns the head.
    pub fn catch_up(&self) -> Result<u64, ServiceError> {
        use std::sync::atomic::Ordering;
        self.cx.catch_up()?;
        // Compared with the head the CAs were last synced at, not with the head before this
        // call: a commit's own catch-up (after a conflict) may have moved it past other
        // nodes' records already.
        let head = self.cx.db().head();
        if self.cas_synced_at.load(Ordering::SeqCst) != head {
            self.issuers.sync_with_store()?;
            self.cas_synced_at.store(head, Ordering::SeqCst);
        }
        Ok(head)
    }

    /// The jobs lease if it is free (`crate::cluster::lease`).
    pub fn jobs_lease(&self) -> Result<Option<sigil_storage::Lease>, ServiceError> {
        Ok(self
            .cx
            .db()
            .store()
            .try_lease("jobs")
            .map_err(|e| Internal::from(crate::db::DbError::from(e)))?)
    }

    /// Has `wake` called when other nodes commit (`crate::cluster::follow`); false where the
    /// store sends no such notifications.
    pub fn watch_writes(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<bool, ServiceError> {
        Ok(self
            .cx
            .db()
            .store()
            .watch_writes(wake)
            .map_err(|e| Internal::from(crate::db::DbError::from(e)))?)
    }

    /// Takes over the periodic jobs (this node just took the jobs lease, `crate::cluster`):
    /// bumps the lease's epoch record (`meta/jobs_lease`: a counter and `node`) and returns
    /// the fence every job commit carries from now on — a commit of a node that lost the lease
    /// (and has not noticed yet) then fails instead of landing after the new holder's. Audited
    /// (`jobs.lease`).
    pub fn take_jobs_lease(&self, node: &str) -> Result<sigil_storage::Expect, ServiceError> {
        context::retry_conflicts(
            || self.try_take_jobs_lease(node),
            |e: &ServiceError| matches!(e, ServiceError::Internal(i) if i.is_write_conflict()),
        )
    }

    fn try_take_jobs_lease(&self, node: &str) -> Result<sigil_storage::Expect, ServiceError> {
        const KEY: &[u8] = b"jobs_lease";
        let read = self
            .cx
            .db()
            .get_raw(crate::db::cf::META, KEY)
            .map_err(Internal::from)?;
        let epoch = read
            .as_deref()
            .and_then(|v| v.get(..8))
            .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
            + 1;
        let mut value = epoch.to_be_bytes().to_vec();
        value.extend_from_slice(node.as_bytes());
        let mut batch = sigil_storage::WriteBatch::new();
        batch.put(crate::db::cf::META, KEY.to_vec(), value.clone());
        let commit = audit::with_actor(audit::Actor::system(), || {
            context::Commit::new(batch)
                .expect_value(crate::db::cf::META, KEY.to_vec(), read)
                .audit(
                    ("jobs.lease", "node", node),
                    serde_json::json!({ "epoch": epoch }),
                )
        });
        self.cx.commit(commit)?;
        Ok(sigil_storage::Expect {
            cf: crate::db::cf::META,
            key: KEY.to_vec(),
            value: Some(value),
        })
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

#[cfg(test)]
mod tests;
