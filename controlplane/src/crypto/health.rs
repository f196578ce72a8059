//! Health of a signing key as its backend sees it (PKCS#11 replicas, session pools). The
//! control plane aggregates it per CA ([`crate::ca::CaHealth`]) for the API and metrics.

use serde::Serialize;

/// Overall state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Healthy,
    Degraded,
    Unhealthy,
}

impl HealthState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// 2 healthy, 1 degraded, 0 unhealthy (the `sigil_cp_ca_health` gauge).
    pub const fn gauge(self) -> i64 {
        match self {
            Self::Healthy => 2,
            Self::Degraded => 1,
            Self::Unhealthy => 0,
        }
    }
}

/// One token (replica) holding an HSM key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaHealth {
    pub module: String,
    pub token_label: String,
    /// In rotation: `state` is `up` or `unknown`.
    pub available: bool,
    /// `unknown` (not used since start-up), `up`, or `down` (out of rotation, re-probed in
    /// the background until it works again).
    pub state: &'static str,
    /// Why the replica is unavailable (never contains a PIN).
    pub error: Option<String>,
    /// RFC 3339: when the replica went down.
    pub unavailable_since: Option<String>,
    /// Background probes that failed since the replica went down.
    pub failed_probes: u32,
    /// Milliseconds until the next background probe (down replicas).
    pub next_probe_in_ms: Option<u64>,
    /// Times this process (re-)initialised the replica's PKCS#11 module (`C_Initialize`).
    pub module_generation: u64,
    /// Signatures made on this replica since start-up.
    pub signatures_total: u64,
    /// Sessions the pool may hold, sessions open now and in use now.
    pub pool_size: usize,
    pub sessions_open: usize,
    pub sessions_in_use: usize,
    /// Signers waiting for a session right now.
    pub waiting: usize,
    /// Times a signer had to wait because every session was in use.
    pub pool_exhausted_total: u64,
}

/// Health of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyHealth {
    pub state: HealthState,
    pub error: Option<String>,
    pub replicas: Vec<ReplicaHealth>,
}

impl KeyHealth {
    pub fn healthy() -> Self {
        Self {
            state: HealthState::Healthy,
            error: None,
            replicas: Vec::new(),
        }
    }
}
