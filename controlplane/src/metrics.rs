//! Prometheus metrics of the control plane, served at `/metrics` on the admin listener.

use std::sync::{Arc, Mutex};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
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
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    /// Signatures per CA (its key and its responders'), synced from the CAs at each scrape.
    pub ca_signatures: IntCounterVec,
    /// 2 healthy, 1 degraded, 0 unhealthy, per CA, at each scrape.
    pub ca_health: IntGaugeVec,
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
        let http_requests = counter_vec(
            "http_requests_total",
            "Admin API requests",
            &["route", "status"],
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
        Self {
            issued,
            revoked,
            ocsp_signed,
            ocsp_refreshed,
            ocsp_refresh_backlog: gauge(
                "ocsp_refresh_backlog",
                "Certificates due for OCSP re-signing",
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
            http_requests,
            http_latency,
            ca_signatures,
            ca_health,
            sync: Arc::new(Mutex::new(())),
            registry,
        }
    }

    /// Brings the per-CA signing metrics up to date with the CAs' own counters and health.
    pub fn sync_cas(&self, cas: &[Arc<CaRuntime>]) {
        let _g = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        for ca in cas {
            let id = ca.record.id.as_str();
            let c = self.ca_signatures.with_label_values(&[id]);
            let total = ca.stats.signatures();
            if total > c.get() {
                c.inc_by(total - c.get());
            }
            self.ca_health
                .with_label_values(&[id])
                .set(ca.health().status.gauge());
        }
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = String::new();
        let enc = prometheus::TextEncoder::new();
        let _ = enc.encode_utf8(&self.registry.gather(), &mut buf);
        buf
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
