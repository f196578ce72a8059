//! Background probing of replicas that are out of rotation, so that a token that comes back
//! is used again within seconds, without a restart and without a signing request ever waiting
//! for a probe.
//!
//! One thread per process watches every key's replicas (registered by their signer, held
//! weakly) and starts each due probe on a short-lived thread of its own, so a probe stuck in
//! a hung library delays no other. A probe opens a session (finding the token's slot again),
//! logs in and looks the key up afresh. After repeated failures a probe may re-initialise the
//! module (`C_Finalize` + `C_Initialize`) — which in PKCS#11 ends every session of every slot
//! of that library in the process. So it is done only when no other replica on the module is
//! up: each one that claims to be is checked first (a fresh key lookup); if one works, the
//! module is left alone and only the broken slot keeps being re-probed (its sessions reopened,
//! its slot found again, its key looked up again), and the health report says why.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::availability::{Availability, ProbeKind, MAX_PROBE_INTERVAL};
use super::replica::ReplicaSet;

/// Longest sleep of the prober thread (a replica that went down is noticed within this).
const IDLE_TICK: Duration = Duration::from_millis(250);
/// A module (re-)initialised this recently is not re-initialised again by another replica's
/// probe (several keys on a broken token would each do it otherwise).
const MIN_REINIT_INTERVAL: Duration =
    Duration::from_millis(MAX_PROBE_INTERVAL.as_millis() as u64 / 2);

type Sets = Mutex<Vec<Weak<ReplicaSet>>>;

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("pkcs11-prober".into())
            .spawn(run)
        {
            tracing::error!(error = %e, "cannot start the PKCS#11 prober: replicas that go down stay down");
        }
        Mutex::default()
    })
}

/// Watches `set`'s replicas until the set is dropped.
pub(super) fn register(set: &Arc<ReplicaSet>) {
    let mut v = sets().lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|w| w.strong_count() > 0);
    v.push(Arc::downgrade(set));
}

fn live() -> Vec<Arc<ReplicaSet>> {
    let mut v = sets().lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|w| w.strong_count() > 0);
    v.iter().filter_map(Weak::upgrade).collect()
}

fn run() {
    loop {
        let now = Instant::now();
        let mut next = now + IDLE_TICK;
        for set in live() {
            for i in 0..set.replicas.len() {
                let mut st = set.replicas[i].lock();
                match st.start_probe(now) {
                    Some(kind) => {
                        drop(st);
                        spawn_probe(set.clone(), i, kind);
                    }
                    None => {
                        if let Some(t) = st.next_probe().filter(|t| *t > now) {
                            next = next.min(t);
                        }
                    }
                }
            }
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn spawn_probe(set: Arc<ReplicaSet>, i: usize, kind: ProbeKind) {
    let s = set.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("pkcs11-probe".into())
        .spawn(move || probe(&s, i, kind))
    {
        let r = &set.replicas[i];
        let mut st = r.lock();
        let error = st.error().unwrap_or("unavailable").to_string();
        st.probe_failed(
            Instant::now(),
            error,
            Some(format!("probe not started: {e}")),
        );
    }
}

/// Probes replica `i` of `set` and records the outcome.
fn probe(set: &ReplicaSet, i: usize, kind: ProbeKind) {
    let r = &set.replicas[i];
    let module = r.token.module().clone();
    let generation = module.generation();
    let mut result = r.token.probe_key(&set.key, set.spki());
    let mut note = None;
    if result.is_err()
        && kind == ProbeKind::Reinitialize
        && !module.initialized_within(MIN_REINIT_INTERVAL)
    {
        match working_neighbour(set, i) {
            Some(user) => {
                note = Some(format!(
                    "module not re-initialised: {user} works on it and would lose its sessions"
                ));
            }
            None => {
                result = module
                    .reinitialize(generation)
                    .and_then(|()| r.token.probe_key(&set.key, set.spki()));
            }
        }
    }
    let now = Instant::now();
    let mut st = r.lock();
    let change = match &result {
        Ok(()) => st.probe_succeeded(now),
        Err(e) => st.probe_failed(now, e.to_string(), note),
    };
    let snapshot = st.clone();
    drop(st);
    r.log(&set.key, &change, &snapshot);
    if result.is_ok() {
        probe_module_soon(set, i);
    }
}

/// Another replica (any key) on the same module as replica `i` of `me` that is up and still
/// works (checked with a fresh key lookup; one that fails goes down): its description.
fn working_neighbour(me: &ReplicaSet, i: usize) -> Option<String> {
    let module = me.replicas[i].token.module();
    for set in live() {
        for (j, r) in set.replicas.iter().enumerate() {
            let myself = std::ptr::eq(Arc::as_ptr(&set), me) && j == i;
            if myself
                || !Arc::ptr_eq(r.token.module(), module)
                || r.availability() != Availability::Up
            {
                continue;
            }
            let res = r.token.probe_key(&set.key, set.spki());
            r.record(&set.key, res.as_ref().map(|_| ()));
            if res.is_ok() {
                return Some(format!("token {:?} (key {})", r.token.label(), set.key));
            }
        }
    }
    None
}

/// Replica `i` of `me` came back: the other down replicas of its module are probed now
/// rather than at their next interval (the same token or a re-initialised module serves
/// them too).
fn probe_module_soon(me: &ReplicaSet, i: usize) {
    let module = me.replicas[i].token.module();
    let now = Instant::now();
    for set in live() {
        for r in &set.replicas {
            if Arc::ptr_eq(r.token.module(), module) {
                r.lock().probe_soon(now);
            }
        }
    }
}
