//! Per-CA signing statistics and health: every signature made with a CA's key or its
//! responder's goes through [`Tracked`], and [`CaHealth`] combines the counts with the key
//! backends' health (what the API's `health` object, `/metrics` and the admin health endpoint
//! show).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use sigil_shared::time::now_unix;

use crate::crypto::{HealthState, KeyAlgorithm, KeyHealth, ReplicaHealth, SignError, Signer};

/// Signatures made for one CA (its key and its delegated responders').
#[derive(Debug, Default)]
pub struct SigningStats {
    signatures: AtomicU64,
    failures: AtomicU64,
    /// Unix seconds; 0 = never.
    last_sign_at: AtomicI64,
}

impl SigningStats {
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
        let r = self.inner.sign(message);
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
