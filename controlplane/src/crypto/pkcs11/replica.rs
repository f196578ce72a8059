//! The tokens holding one key (replicas): which failed recently and why, and the key's
//! health derived from them and from the tokens' session pools.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::token::Token;
use super::{P11Error, Pkcs11Signer, TokenRef};
use crate::crypto::health::{HealthState, KeyHealth, ReplicaHealth};

/// After a replica failed, other replicas are tried first for this long.
const RETRY_DOWN_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(super) struct ReplicaStatus {
    error: Option<String>,
    failed_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Replica {
    pub token: Arc<Token>,
    status: Mutex<ReplicaStatus>,
}

impl Replica {
    pub fn new(t: &TokenRef) -> Self {
        Self {
            token: Token::get(Path::new(&t.module), &t.token_label, &t.pin_env),
            status: Mutex::new(ReplicaStatus::default()),
        }
    }

    pub fn recently_failed(&self) -> bool {
        let st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.failed_at.is_some_and(|t| t.elapsed() < RETRY_DOWN_AFTER)
    }

    pub fn record(&self, result: Result<(), &P11Error>) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => *st = ReplicaStatus::default(),
            Err(e) => {
                st.error = Some(e.to_string());
                st.failed_at = Some(Instant::now());
            }
        }
    }
}

impl Pkcs11Signer {
    /// Health of the key: healthy when every replica works, degraded when some do or the
    /// session pool is exhausted, unhealthy when none does.
    pub fn key_health(&self) -> KeyHealth {
        let mut replicas = Vec::with_capacity(self.replicas.len());
        let mut problems = Vec::new();
        for (i, r) in self.replicas.iter().enumerate() {
            let st = r.status.lock().unwrap_or_else(|e| e.into_inner());
            let ((pool, in_use, waiting, exhausted), open) = r.token.counters();
            if let Some(e) = &st.error {
                problems.push(format!(
                    "replica {} of {} down: {e}",
                    i + 1,
                    self.replicas.len()
                ));
            }
            if waiting > 0 {
                problems.push(format!(
                    "token {:?}: session pool exhausted ({waiting} waiting for {pool} sessions)",
                    r.token.label()
                ));
            }
            replicas.push(ReplicaHealth {
                module: r.token.module_path().display().to_string(),
                token_label: r.token.label().to_string(),
                available: st.error.is_none(),
                error: st.error.clone(),
                pool_size: pool,
                sessions_open: open,
                sessions_in_use: in_use,
                waiting,
                pool_exhausted_total: exhausted,
            });
        }
        let up = replicas.iter().filter(|r| r.available).count();
        let state = if up == 0 {
            HealthState::Unhealthy
        } else if problems.is_empty() {
            HealthState::Healthy
        } else {
            HealthState::Degraded
        };
        if state != HealthState::Healthy {
            problems.push(format!("{up} of {} replicas available", replicas.len()));
        }
        KeyHealth {
            state,
            error: (!problems.is_empty()).then(|| problems.join("; ")),
            replicas,
        }
    }
}
