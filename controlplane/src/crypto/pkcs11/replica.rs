//! The tokens holding one key (replicas): whether each is in rotation (an
//! [`availability`](super::availability) state machine per replica), each change logged once,
//! and the key's health derived from them and from the tokens' session pools.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::availability::{Availability, Change, ReplicaState};
use super::keys::KeyLocator;
use super::token::Token;
use super::{P11Error, Pkcs11Signer, TokenRef};
use crate::crypto::health::{HealthState, KeyHealth, ReplicaHealth};

#[derive(Debug)]
pub(super) struct Replica {
    pub token: Arc<Token>,
    state: Mutex<ReplicaState>,
    signatures: AtomicU64,
}

/// The replicas of one key, shared by its signer and the background prober.
#[derive(Debug)]
pub(super) struct ReplicaSet {
    pub key: KeyLocator,
    /// The public key every replica's key must have (empty: not checked).
    pub spki: Vec<u8>,
    pub replicas: Vec<Replica>,
}

impl ReplicaSet {
    pub fn spki(&self) -> Option<&[u8]> {
        (!self.spki.is_empty()).then_some(self.spki.as_slice())
    }

    /// The error of a signer whose replicas are all down: their last errors.
    pub fn unavailable(&self) -> P11Error {
        let errors: Vec<String> = self
            .replicas
            .iter()
            .filter_map(|r| r.lock().error().map(str::to_string))
            .collect();
        if errors.is_empty() {
            P11Error::Unsupported("no token given for the key".into())
        } else {
            P11Error::Down(errors.join("; "))
        }
    }
}

impl Replica {
    pub fn new(t: &TokenRef) -> Self {
        Self {
            token: Token::get(Path::new(&t.module), &t.token_label, &t.pin_env),
            state: Mutex::new(ReplicaState::default()),
            signatures: AtomicU64::new(0),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn usable(&self) -> bool {
        self.lock().usable()
    }

    pub fn availability(&self) -> Availability {
        self.lock().availability()
    }

    pub fn count_signature(&self) {
        self.signatures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the outcome of an operation on the replica (signing, key lookup, probe at
    /// load, a check by the prober), logging a change of state once.
    pub fn record(&self, key: &KeyLocator, result: Result<(), &P11Error>) {
        let now = Instant::now();
        let mut st = self.lock();
        let change = match result {
            Ok(()) => st.succeeded(now),
            Err(e) => st.failed(now, e.to_string()),
        };
        let snapshot = st.clone();
        drop(st);
        self.log(key, &change, &snapshot);
    }

    /// Logs `change` (nothing for [`Change::None`]).
    pub fn log(&self, key: &KeyLocator, change: &Change, st: &ReplicaState) {
        let token = self.token.label();
        let module = self.token.module_path().display();
        match change {
            Change::None => {}
            Change::WentDown => tracing::warn!(
                token, %module, key = %key, error = st.error().unwrap_or_default(),
                "PKCS#11 replica unavailable: out of rotation, re-probing in the background"
            ),
            Change::ReasonChanged => tracing::warn!(
                token, %module, key = %key, error = st.error().unwrap_or_default(),
                note = st.note().unwrap_or_default(), "PKCS#11 replica still unavailable"
            ),
            Change::CameBack {
                down_for,
                failed_probes,
            } => tracing::info!(
                token, %module, key = %key, down_ms = down_for.as_millis() as u64,
                failed_probes, "PKCS#11 replica available again: back in rotation"
            ),
        }
    }
}

fn down_text(i: usize, n: usize, st: &ReplicaState, now: Instant) -> String {
    let down_for = st
        .down_since()
        .map(|t| format!(" for {} s", now.saturating_duration_since(t).as_secs()))
        .unwrap_or_default();
    let mut s = format!(
        "replica {} of {n} down{down_for}: {}",
        i + 1,
        st.error().unwrap_or("unavailable")
    );
    if let Some(note) = st.note() {
        s.push_str(&format!(" ({note})"));
    }
    s
}

impl Pkcs11Signer {
    /// Health of the key: healthy when every replica works, degraded when some do or the
    /// session pool is exhausted, unhealthy when none does.
    pub fn key_health(&self) -> KeyHealth {
        let set = &self.set;
        let now = Instant::now();
        let unix_now = sigil_shared::time::now_unix();
        let mut replicas = Vec::with_capacity(set.replicas.len());
        let mut problems = Vec::new();
        for (i, r) in set.replicas.iter().enumerate() {
            let st = r.lock().clone();
            let ((pool, in_use, waiting, exhausted), open) = r.token.counters();
            let down = st.availability() == Availability::Down;
            if down {
                problems.push(down_text(i, set.replicas.len(), &st, now));
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
                available: !down,
                state: match st.availability() {
                    Availability::Unknown => "unknown",
                    Availability::Up => "up",
                    Availability::Down => "down",
                },
                error: st.error().map(str::to_string),
                unavailable_since: st.down_since().map(|t| {
                    let ago = now.saturating_duration_since(t).as_secs() as i64;
                    sigil_shared::time::rfc3339(unix_now - ago)
                }),
                failed_probes: st.failed_probes(),
                next_probe_in_ms: st
                    .next_probe()
                    .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                module_generation: r.token.module().generation(),
                signatures_total: r.signatures.load(Ordering::Relaxed),
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
