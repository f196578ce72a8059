//! Prometheus metrics of the control plane, served at `/metrics` on the admin listener.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::ca::CaRuntime;

#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub issued: IntCounterVec,
    pub revoked: IntCounterVec,
    pub ocsp_signed: IntCounterVec,
    pub ocsp_refreshed: IntCounter,
    pub ocsp_refresh_backlog: IntGauge,
    pub crl_generated: IntCounterVec,
    pub replication_head: IntGauge,
    pub replication_subscribers: IntGauge,
    /// How far the furthest-behind subscriber is from the head (records), at each scrape.
    pub replication_lag: IntGauge,
    /// Age of the oldest response due for re-signing (0 when none is due), at each scrape.
    pub ocsp_refresh_oldest_due: IntGauge,
    /// When this process set up its metrics (its start, for uptime).
    pub started: Instant,
    /// Position (last sequence sent) of every connected replication subscriber.
    subscribers: Arc<Mutex<Subscribers>>,
    /// CAs whose signing-latency histogram is registered.
    latency_registered: Arc<Mutex<HashSet<String>>>,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    /// Commits made durable by each synced write (group commit).
    pub commit_group_size: Histogram,
    /// Group writes tried again because another node on the same database appended to the
    /// replication log or the audit chain first (several active nodes).
    pub commit_head_conflicts: IntCounter,
    /// 1 while this node holds the jobs lease and runs the periodic jobs, else 0.
    pub jobs_leader: IntGauge,
    /// Times this node took the jobs lease.
    pub jobs_lease_taken: IntCounter,
    /// Signatures per CA (its key and its responders'), synced from the CAs at each scrape.
    pub ca_signatures: IntCounterVec,
    /// 2 healthy, 1 degraded, 0 unhealthy, per CA, at each scrape.
    pub ca_health: IntGaugeVec,
    /// 1 while a replica (token) of an HSM-backed CA key is in rotation, 0 while it is down.
    pub ca_replica_available: IntGaugeVec,
    /// EST requests by operation (`cacerts`, `csrattrs`, `simpleenroll`, `simplereenroll`,
    /// `serverkeygen`) and status code.
    pub est_requests: IntCounterVec,
    /// Refused EST OTP enrollments by reason (`unknown`, `expired`, `used_up`: the OTP;
    /// `name_mismatch`: the CSR does not name the entity, refused before the OTP is checked).
    pub est_otp_failures: IntCounterVec,
    /// SCEP requests by operation (`GetCACaps`, `GetCACert`, `PKCSReq`, `RenewalReq`, other
    /// messages by name, `other`) and outcome (`success`, `pending`, `failure`: a CertRep
    /// FAILURE, `bad_request`: HTTP 400/404, `error`: 5xx).
    pub scep_requests: IntCounterVec,
    /// EST OTP attempts refused by a rate limit (429) by the limit's scope (`entity`,
    /// `source`); an attempt both refuse counts in both.
    pub est_rate_limited: IntCounterVec,
    /// ACME requests by operation (`directory`, `new-nonce`, `new-account`, `new-order`,
    /// `revoke-cert`, `key-change`, `account`, `orders`, `order`, `finalize`, `authz`,
    /// `chall`, `cert`) and status code.
    pub acme_requests: IntCounterVec,
    /// Finished ACME challenge validations by challenge type and result (`valid`, `invalid`).
    pub acme_validations: IntCounterVec,
    /// Serialises scrape-time syncing (counters only move forward by the difference).
    sync: Arc<Mutex<()>>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("sigil_cp".into()), None).expect("valid prefix");
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let issued = counter_vec(
            "certificates_issued_total",
            "Certificates issued",
            &["issuer"],
        );
        let revoked = counter_vec(
            "certificates_revoked_total",
            "Certificates revoked",
            &["issuer"],
        );
        let ocsp_signed = counter_vec(
            "ocsp_responses_signed_total",
            "OCSP responses signed",
            &["issuer"],
        );
        let crl_generated = counter_vec("crls_generated_total", "CRLs generated", &["issuer"]);
        let ca_signatures = counter_vec(
            "ca_signatures_total",
            "Signatures made with a CA's keys (CA and delegated responder)",
            &["ca"],
        );
        let ca_health = IntGaugeVec::new(
            Opts::new(
                "ca_health",
                "Health of a CA's signing keys: 2 healthy, 1 degraded, 0 unhealthy",
            ),
            &["ca"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(ca_health.clone()))
            .expect("unique metric");
        let ca_replica_available = IntGaugeVec::new(
            Opts::new(
                "ca_replica_available",
                "1 while a token holding a CA's HSM key is in rotation, 0 while it is down",
            ),
            &["ca", "replica", "token"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(ca_replica_available.clone()))
            .expect("unique metric");
        let http_requests = counter_vec(
            "http_requests_total",
            "Admin API requests",
            &["route", "status"],
        );
        let est_requests = counter_vec(
            "est_requests_total",
            "EST requests on the public listener",
            &["operation", "status"],
        );
        let acme_requests = counter_vec(
            "acme_requests_total",
            "ACME requests on the public listener",
            &["operation", "status"],
        );
        let acme_validations = counter_vec(
            "acme_validations_total",
            "Finished ACME challenge validations",
            &["challenge", "result"],
        );
        let est_otp_failures = counter_vec(
            "est_otp_failures_total",
            "EST enrollments refused for their OTP or entity id",
            &["reason"],
        );
        let scep_requests = counter_vec(
            "scep_requests_total",
            "SCEP requests on the public listener",
            &["operation", "outcome"],
        );
        let est_rate_limited = counter_vec(
            "est_rate_limited_total",
            "EST OTP attempts refused by the failed-attempt rate limit",
            &["scope"],
        );
        let ocsp_refreshed = IntCounter::new(
            "ocsp_certificates_refreshed_total",
            "Certificates whose responses were re-signed",
        )
        .expect("valid metric");
        registry
            .register(Box::new(ocsp_refreshed.clone()))
            .expect("unique metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Admin API latency").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_latency.clone()))
            .expect("unique metric");
        let commit_group_size = Histogram::with_opts(
            HistogramOpts::new(
                "commit_group_size",
                "Commits (each a change with its replication and audit records) made durable by one synced write",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(commit_group_size.clone()))
            .expect("unique metric");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let commit_head_conflicts = counter(
            "commit_head_conflicts_total",
            "Group writes tried again because another node appended to the replication log or the audit chain first",
        );
        let jobs_lease_taken = counter(
            "jobs_lease_taken_total",
            "Times this node took the jobs lease (became the node running the periodic jobs)",
        );
        Self {
            commit_head_conflicts,
            jobs_lease_taken,
            jobs_leader: gauge(
                "jobs_leader",
                "1 while this node holds the jobs lease and runs the periodic jobs (OCSP refresh, CRL schedule), else 0",
            ),
            commit_group_size,
            issued,
            revoked,
            ocsp_signed,
            ocsp_refreshed,
            ocsp_refresh_backlog: gauge(
                "ocsp_refresh_backlog",
                "Certificates due for OCSP re-signing now (counted at scrape, up to 1,000,000)",
            ),
            crl_generated,
            replication_head: gauge(
                "replication_head_sequence",
                "Newest committed replication sequence",
            ),
            replication_subscribers: gauge(
                "replication_subscribers",
                "Connected replication subscribers",
            ),
            replication_lag: gauge(
                "replication_lag_records",
                "Records between the replication head and the furthest-behind connected subscriber",
            ),
            ocsp_refresh_oldest_due: gauge(
                "ocsp_refresh_oldest_due_seconds",
                "How long the oldest response due for re-signing has been due (0 when none is)",
            ),
            started: Instant::now(),
            subscribers: Arc::default(),
            latency_registered: Arc::default(),
            http_requests,
            http_latency,
            ca_signatures,
            ca_health,
            ca_replica_available,
            est_requests,
            est_otp_failures,
            scep_requests,
            est_rate_limited,
            acme_requests,
            acme_validations,
            sync: Arc::new(Mutex::new(())),
            registry,
        }
    }

    /// Brings the per-CA signing metrics up to date with the CAs' own counters and health,
    /// registering the signing-latency histogram of CAs not seen before.
    pub fn sync_cas(&self, cas: &[Arc<CaRuntime>]) {
        let _g = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let mut registered = self
            .latency_registered
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for ca in cas {
            let id = ca.record.id.as_str();
            if !registered.contains(id) {
                if let Err(e) = self.registry.register(Box::new(ca.stats.latency.clone())) {
                    tracing::warn!(ca = id, error = %e, "registering the signing latency histogram failed");
                }
                registered.insert(id.to_string());
            }
            let c = self.ca_signatures.with_label_values(&[id]);
            let total = ca.stats.signatures();
            if total > c.get() {
                c.inc_by(total - c.get());
            }
            let health = ca.health();
            self.ca_health
                .with_label_values(&[id])
                .set(health.status.gauge());
            for (i, r) in health.replicas.iter().enumerate() {
                self.ca_replica_available
                    .with_label_values(&[id, &(i + 1).to_string(), &r.token_label])
                    .set(i64::from(r.available));
            }
        }
    }

    /// A connected replication subscriber starting after sequence `after`; counted in
    /// `replication_subscribers` until the handle drops.
    pub fn subscriber(&self, after: u64) -> SubscriberHandle {
        let position = Arc::new(AtomicU64::new(after));
        let mut s = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        s.next_id += 1;
        let id = s.next_id;
        s.positions.insert(id, position.clone());
        self.replication_subscribers.inc();
        SubscriberHandle {
            id,
            position,
            set: self.subscribers.clone(),
            gauge: self.replication_subscribers.clone(),
        }
    }

    /// Sets `replication_lag` from the subscribers' positions and the head.
    pub fn sync_replication(&self, head: u64) {
        let s = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        self.replication_lag.set(max_lag(
            head,
            s.positions.values().map(|p| p.load(Ordering::Relaxed)),
        ) as i64);
    }

    /// Each connected replication subscriber's position (the last sequence sent to it), in the
    /// order they connected (the web console's dashboard).
    pub fn subscriber_positions(&self) -> Vec<u64> {
        let s = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(u64, u64)> = s
            .positions
            .iter()
            .map(|(id, p)| (*id, p.load(Ordering::Relaxed)))
            .collect();
        all.sort_unstable();
        all.into_iter().map(|(_, p)| p).collect()
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = String::new();
        let enc = prometheus::TextEncoder::new();
        let _ = enc.encode_utf8(&self.registry.gather(), &mut buf);
        buf
    }
}

#[derive(Debug, Default)]
struct Subscribers {
    next_id: u64,
    positions: HashMap<u64, Arc<AtomicU64>>,
}

/// A connected replication subscriber; see [`Metrics::subscriber`].
#[derive(Debug)]
pub struct SubscriberHandle {
    id: u64,
    position: Arc<AtomicU64>,
    set: Arc<Mutex<Subscribers>>,
    gauge: IntGauge,
}

impl SubscriberHandle {
    /// The subscriber has been sent everything up to sequence `seq`.
    pub fn sent(&self, seq: u64) {
        self.position.store(seq, Ordering::Relaxed);
    }
}

impl Drop for SubscriberHandle {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .positions
            .remove(&self.id);
        self.gauge.dec();
    }
}

/// Records the furthest-behind of `positions` misses (0 without subscribers).
fn max_lag(head: u64, positions: impl Iterator<Item = u64>) -> u64 {
    positions.map(|p| head.saturating_sub(p)).max().unwrap_or(0)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_latency_is_registered_once_per_ca() {
        use crate::ca::{create_ca, NewCa};
        let new = NewCa {
            id: "lat".into(),
            name: "lat".into(),
            subject: crate::x509::parse_name("CN=lat").unwrap(),
            key_algorithm: crate::crypto::KeyAlgorithm::EcdsaP256,
            not_before: 0,
            not_after: 4_000_000_000,
        };
        let created = create_ca(&new, None, 1).unwrap();
        let ca = Arc::new(CaRuntime::new(created.record, created.signer).unwrap());
        ca.signer.sign(b"message").unwrap();
        let m = Metrics::new();
        m.sync_cas(std::slice::from_ref(&ca));
        m.sync_cas(std::slice::from_ref(&ca));
        let text = m.render();
        assert!(
            text.contains("sigil_cp_ca_signing_duration_seconds_count{ca=\"lat\"} 1"),
            "{text}"
        );
        assert!(text.contains("sigil_cp_ca_signatures_total{ca=\"lat\"} 1"));
        assert_eq!(
            text.matches("# TYPE sigil_cp_ca_signing_duration_seconds histogram")
                .count(),
            1
        );
    }

    #[test]
    fn replication_lag_is_the_furthest_behind_subscriber() {
        let m = Metrics::new();
        m.sync_replication(10);
        assert_eq!(m.replication_lag.get(), 0);
        let a = m.subscriber(0);
        let b = m.subscriber(7);
        assert_eq!(m.replication_subscribers.get(), 2);
        m.sync_replication(10);
        assert_eq!(m.replication_lag.get(), 10);
        a.sent(9);
        m.sync_replication(10);
        assert_eq!(m.replication_lag.get(), 3);
        assert_eq!(
            m.subscriber_positions(),
            [9, 7],
            "in the order they connected"
        );
        drop(b);
        m.sync_replication(10);
        assert_eq!(
            (m.replication_lag.get(), m.replication_subscribers.get()),
            (1, 1)
        );
        drop(a);
        assert_eq!(m.replication_subscribers.get(), 0);
    }
}
