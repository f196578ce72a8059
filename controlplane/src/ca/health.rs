//! Per-CA signing statistics and health: every signature made with a CA's key or its
//! responder's goes through [`Tracked`], and [`CaHealth`] combines the counts with the key
//! backends' health (what the API's `health` object, `/metrics` and the admin health endpoint
//! show).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use sigil_shared::time::now_unix;

use crate::crypto::{HealthState, KeyAlgorithm, KeyHealth, ReplicaHealth, SignError, Signer};

/// Buckets of [`SigningStats::latency`]: software keys sign in tens of microseconds, HSMs in
/// milliseconds, a struggling HSM in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Signatures made for one CA (its key and its delegated responders').
#[derive(Debug)]
pub struct SigningStats {
    signatures: AtomicU64,
    failures: AtomicU64,
    /// Unix seconds; 0 = never.
    last_sign_at: AtomicI64,
    /// Duration of each signature (successful or not), labelled with the CA id; registered
    /// with the metrics registry by [`crate::metrics::Metrics::sync_cas`].
    pub latency: prometheus::Histogram,
}

impl SigningStats {
    pub fn new(ca_id: &str) -> Self {
        let opts = prometheus::HistogramOpts::new(
            "ca_signing_duration_seconds",
            "Time to make one signature with a CA's keys (CA and delegated responder)",
        )
        .const_label("ca", ca_id)
        .buckets(LATENCY_BUCKETS.to_vec());
        Self {
            signatures: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_sign_at: AtomicI64::new(0),
            latency: prometheus::Histogram::with_opts(opts).expect("valid histogram"),
        }
    }

    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn last_sign_at(&self) -> Option<i64> {
        Some(self.last_sign_at.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }
}

/// A signer that counts into a CA's [`SigningStats`].
#[derive(Debug)]
pub struct Tracked {
    inner: Arc<dyn Signer>,
    stats: Arc<SigningStats>,
}

impl Tracked {
    pub fn wrap(inner: Arc<dyn Signer>, stats: &Arc<SigningStats>) -> Arc<dyn Signer> {
        Arc::new(Self {
            inner,
            stats: stats.clone(),
        })
    }
}

impl Signer for Tracked {
    fn key_algorithm(&self) -> KeyAlgorithm {
        self.inner.key_algorithm()
    }

    fn signature_algorithm_der(&self) -> &[u8] {
        self.inner.signature_algorithm_der()
    }

    fn public_key_der(&self) -> &[u8] {
        self.inner.public_key_der()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let started = std::time::Instant::now();
        let r = self.inner.sign(message);
        self.stats.latency.observe(started.elapsed().as_secs_f64());
        match &r {
            Ok(_) => {
                self.stats.signatures.fetch_add(1, Ordering::Relaxed);
                self.stats.last_sign_at.store(now_unix(), Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        r
    }

    fn health(&self) -> KeyHealth {
        self.inner.health()
    }
}

/// Health of a CA as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct CaHealth {
    pub status: HealthState,
    /// What is wrong (replica down, session pool exhausted, login failed); absent when healthy.
    pub error: Option<String>,
    /// `software` or `pkcs11`.
    pub key_store: &'static str,
    pub signatures_total: u64,
    pub signature_failures_total: u64,
    /// RFC 3339; absent before the first signature since start-up.
    pub last_sign_at: Option<String>,
    /// Tokens of the CA key (HSM-backed CAs).
    pub replicas: Vec<ReplicaHealth>,
    /// Health of the delegated responder's key, when it differs from the CA key's.
    pub responder: Option<KeyHealth>,
}

impl CaHealth {
    pub fn combine(
        key_store: &'static str,
        ca_key: KeyHealth,
        responder: Option<KeyHealth>,
        stats: &SigningStats,
    ) -> Self {
        let responder = responder.filter(|r| r.state != HealthState::Healthy);
        let status = ca_key
            .state
            .max(responder.as_ref().map_or(HealthState::Healthy, |r| r.state));
        let mut errors: Vec<String> = ca_key.error.into_iter().collect();
        if let Some(e) = responder.as_ref().and_then(|r| r.error.as_ref()) {
            errors.push(format!("OCSP responder key: {e}"));
        }
        Self {
            status,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            key_store,
            signatures_total: stats.signatures(),
            signature_failures_total: stats.failures(),
            last_sign_at: stats.last_sign_at().map(sigil_shared::time::rfc3339),
            replicas: ca_key.replicas,
            responder,
        }
    }
}
