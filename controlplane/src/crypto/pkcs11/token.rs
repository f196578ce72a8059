//! One token (module path + token label) shared by every key on it: a pool of logged-in
//! read-only sessions, key handles cached per module generation, bounded concurrency, and
//! recovery (reopen, find the slot again, or re-initialise a library that lost its state,
//! then retry once) after session loss or a reset.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::{Limit, Slot};

use super::keys::{self, FoundKey, KeyLocator};
use super::module::{Active, Module};
use super::pool::{Counters, Semaphore};
use super::{P11Error, Recovery};

mod admin;
mod login;

use login::PinFailure;

/// How long a signer waits for a free session before reporting the pool exhausted.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound of sessions per token, whatever the token allows.
const MAX_POOL: usize = 16;

fn default_pool() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).min(MAX_POOL)
}

#[derive(Debug, Default)]
struct State {
    /// Module generation the sessions and handles below belong to.
    generation: u64,
    /// Bumped by every reset: sessions checked out before it are not returned to the pool.
    epoch: u64,
    slot: Option<Slot>,
    idle: Vec<Session>,
    open: usize,
    logged_in: bool,
    /// The last refused PIN: further attempts are paced (they could lock the token).
    pin_failure: Option<PinFailure>,
    /// Key handles and the public key each was checked against.
    keys: HashMap<KeyLocator, (ObjectHandle, Option<Vec<u8>>)>,
}

impl State {
    /// Drops every session and handle: closing the sessions when they are still valid,
    /// forgetting them when their handles are not (or belong to an older generation).
    fn reset(&mut self, close: bool) {
        for s in self.idle.drain(..) {
            if close {
                let _ = s.close();
            }
        }
        self.open = 0;
        self.logged_in = false;
        self.keys.clear();
        self.epoch += 1;
    }
}

#[derive(Debug)]
pub struct Token {
    module: Arc<Module>,
    label: String,
    pin_env: Mutex<String>,
    state: Mutex<State>,
    permits: Semaphore,
}

/// A checked-out session and the key handle to use with it.
struct Lease {
    session: Session,
    key: ObjectHandle,
    epoch: u64,
    generation: u64,
}

type Registry = Mutex<HashMap<(PathBuf, String), Arc<Token>>>;

fn registry() -> &'static Registry {
    static TOKENS: OnceLock<Registry> = OnceLock::new();
    TOKENS.get_or_init(Default::default)
}

impl Token {
    /// The process's token `label` of `module`. `pin_env` names the environment variable
    /// holding the user PIN (read at each login, never stored).
    pub fn get(module: &Path, label: &str, pin_env: &str) -> Arc<Token> {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        let t = map
            .entry((module.to_path_buf(), label.to_string()))
            .or_insert_with(|| {
                Arc::new(Token {
                    module: Module::get(module),
                    label: label.to_string(),
                    pin_env: Mutex::new(pin_env.to_string()),
                    state: Mutex::new(State::default()),
                    permits: Semaphore::new(default_pool()),
                })
            })
            .clone();
        *t.pin_env.lock().unwrap_or_else(|e| e.into_inner()) = pin_env.to_string();
        t
    }

    /// The process's token `label` of `module` if something opened it (no side effects).
    pub fn find(module: &Path, label: &str) -> Option<Arc<Token>> {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(module.to_path_buf(), label.to_string()))
            .cloned()
    }

    /// The slot the token was last found in (`None` until a session was opened on it).
    pub fn slot_id(&self) -> Option<u64> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slot
            .map(|s| s.id())
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn module_path(&self) -> &Path {
        self.module.path()
    }

    /// (pool size, sessions open, in use, waiting, times a caller had to wait).
    pub fn counters(&self) -> (Counters, usize) {
        let open = self.state.lock().unwrap_or_else(|e| e.into_inner()).open;
        (self.permits.counters(), open)
    }

    fn err(&self, detail: impl Into<String>) -> P11Error {
        P11Error::Token {
            token: self.label.clone(),
            detail: detail.into(),
        }
    }

    fn find_slot(&self, active: &Active<'_>) -> Result<(Slot, usize), P11Error> {
        let ctx = active.ctx();
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| P11Error::call(&self.label, "C_GetSlotList", e))?;
        // A slot whose token does not answer (removed, broken) is skipped: it must not hide
        // the other tokens of the module.
        let mut unanswered = Vec::new();
        for slot in slots {
            let info = match ctx.get_token_info(slot) {
                Ok(info) => info,
                Err(e) => {
                    unanswered.push(format!("slot {}: C_GetTokenInfo: {e}", slot.id()));
                    continue;
                }
            };
            if info.label().trim_end() == self.label {
                let pool = match info.max_session_count() {
                    Limit::Max(n) => usize::try_from(n).unwrap_or(MAX_POOL).min(default_pool()),
                    Limit::Infinite | Limit::Unavailable => default_pool(),
                };
                return Ok((slot, pool.max(1)));
            }
        }
        let mut detail = format!(
            "no token with this label in {}",
            self.module.path().display()
        );
        if !unanswered.is_empty() {
            detail.push_str(&format!(" (unanswered: {})", unanswered.join(", ")));
        }
        Err(self.err(detail))
    }

    /// A logged-in session from the pool (opening one if none is idle), for the module
    /// generation of `active`.
    fn pooled(&self, active: &Active<'_>, st: &mut State) -> Result<(Session, Slot), P11Error> {
        if st.generation != active.generation() {
            st.reset(false);
            st.slot = None;
            st.generation = active.generation();
        }
        let slot = match st.slot {
            Some(s) => s,
            None => {
                let (slot, pool) = self.find_slot(active)?;
                self.permits.set_capacity(pool);
                st.slot = Some(slot);
                slot
            }
        };
        let session = match st.idle.pop() {
            Some(s) => s,
            None => {
                let s = active
                    .ctx()
                    .open_ro_session_no_drop(slot)
                    .map_err(|e| P11Error::call(&self.label, "C_OpenSession", e))?;
                st.open += 1;
                s
            }
        };
        if !st.logged_in {
            if let Err(e) = self.login(active, st, slot, &session) {
                st.idle.push(session);
                return Err(e);
            }
            st.logged_in = true;
        }
        Ok((session, slot))
    }

    /// A pooled session with `key`'s handle (looked up once per generation, or again when
    /// `fresh`; the public key is checked against `spki`).
    fn checkout(
        &self,
        active: &Active<'_>,
        key: &KeyLocator,
        spki: Option<&[u8]>,
        fresh: bool,
    ) -> Result<Lease, P11Error> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (session, _) = self.pooled(active, &mut st)?;
        let cached = st
            .keys
            .get(key)
            .filter(|_| !fresh)
            .filter(|(_, checked)| spki.is_none() || checked.as_deref() == spki)
            .map(|(h, _)| *h);
        let handle = match cached {
            Some(h) => h,
            None => match self.lookup(&session, key, spki) {
                Ok(found) => {
                    st.keys
                        .insert(key.clone(), (found.private, spki.map(<[u8]>::to_vec)));
                    found.private
                }
                Err(e) => {
                    st.idle.push(session);
                    return Err(e);
                }
            },
        };
        Ok(Lease {
            session,
            key: handle,
            epoch: st.epoch,
            generation: st.generation,
        })
    }

    fn lookup(
        &self,
        session: &Session,
        key: &KeyLocator,
        spki: Option<&[u8]>,
    ) -> Result<FoundKey, P11Error> {
        let found = keys::find(session, &self.label, key)?
            .ok_or_else(|| self.err(format!("no private key labelled {key}")))?;
        if let (Some(want), Some(have)) = (spki, &found.spki) {
            if want != have.as_slice() {
                return Err(self.err(format!(
                    "the key labelled {key} is not the CA's key (public keys differ)"
                )));
            }
        }
        Ok(found)
    }

    fn checkin(&self, session: Session, epoch: u64, generation: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.epoch == epoch && st.generation == generation {
            st.idle.push(session);
        }
        // Otherwise the pool was reset meanwhile: forget the session.
    }

    /// Recovers from `err` seen in `generation`; false when there is nothing to recover.
    fn recover(&self, err: &P11Error, generation: u64) -> bool {
        match err.recovery() {
            Recovery::None => false,
            Recovery::Reopen { forget } => {
                tracing::warn!(token = %self.label, error = %err, "PKCS#11 sessions lost; reopening");
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.generation == generation {
                    st.reset(!forget);
                }
                true
            }
            Recovery::Rediscover => {
                tracing::warn!(token = %self.label, error = %err, "PKCS#11 token or slot failed; finding it again");
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.generation == generation {
                    // The library closed the token's sessions (or will): forget them.
                    st.reset(false);
                    st.slot = None;
                }
                true
            }
            Recovery::Reinitialize => {
                tracing::warn!(token = %self.label, error = %err, "PKCS#11 library lost its state");
                {
                    let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    if st.generation == generation {
                        st.reset(false);
                        st.slot = None;
                    }
                }
                match self.module.reinitialize(generation) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(token = %self.label, error = %e, "PKCS#11 re-initialisation failed");
                        false
                    }
                }
            }
        }
    }

    /// Runs `op` with a pooled session and `key`'s handle; after session loss or a library
    /// reset it recovers and runs `op` once more. At most pool-size operations run at once.
    pub fn with_key<T>(
        &self,
        key: &KeyLocator,
        spki: Option<&[u8]>,
        op: &dyn Fn(&Session, ObjectHandle) -> Result<T, P11Error>,
    ) -> Result<T, P11Error> {
        self.guarded(&|| self.attempt(key, spki, false, op))
    }

    /// Checks that `key` is usable: a logged-in session (opened on the slot found again if
    /// needed) and a fresh lookup of the key (never the cached handle), its public key checked
    /// against `spki`. What the background prober and the pre-re-initialisation check run.
    pub fn probe_key(&self, key: &KeyLocator, spki: Option<&[u8]>) -> Result<(), P11Error> {
        self.guarded(&|| self.attempt(key, spki, true, &|_, _| Ok(())))
    }

    pub fn module(&self) -> &Arc<Module> {
        &self.module
    }

    /// Runs `attempt` (which reports the library generation it ran under) holding a pool
    /// permit, so at most pool-size operations run at once; after session loss or a library
    /// reset it recovers and runs `attempt` once more.
    fn guarded<T>(&self, attempt: &dyn Fn() -> (Result<T, P11Error>, u64)) -> Result<T, P11Error> {
        let _permit =
            self.permits
                .acquire(ACQUIRE_TIMEOUT)
                .map_err(|waited| P11Error::PoolExhausted {
                    token: self.label.clone(),
                    pool: self.permits.counters().0,
                    waited_ms: waited.as_millis() as u64,
                })?;
        let mut retried = false;
        loop {
            let (result, generation) = attempt();
            match result {
                Err(e) if !retried && self.recover(&e, generation) => retried = true,
                other => {
                    if other.is_ok() {
                        self.module.note_ok();
                    }
                    return other;
                }
            }
        }
    }

    fn attempt<T>(
        &self,
        key: &KeyLocator,
        spki: Option<&[u8]>,
        fresh: bool,
        op: &dyn Fn(&Session, ObjectHandle) -> Result<T, P11Error>,
    ) -> (Result<T, P11Error>, u64) {
        let active = match self.module.active() {
            Ok(a) => a,
            Err(e) => return (Err(e), 0),
        };
        let generation = active.generation();
        let lease = match self.checkout(&active, key, spki, fresh) {
            Ok(l) => l,
            Err(e) => return (Err(e), generation),
        };
        let result = op(&lease.session, lease.key);
        match &result {
            Err(e) if e.recovery() != Recovery::None => {} // reset by recover(): drop the lease
            _ => self.checkin(lease.session, lease.epoch, lease.generation),
        }
        (result, generation)
    }
}
