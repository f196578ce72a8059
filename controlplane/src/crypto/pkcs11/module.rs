//! One loaded PKCS#11 library per module path per process. `C_Initialize` state is global to
//! a library, so every token and CA using the same module shares one [`Module`]. A
//! re-initialisation (`C_Finalize` + `C_Initialize`) bumps the module's generation; sessions
//! and object handles of older generations are never used again (nor closed: their handle
//! numbers may belong to new sessions).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::P11Error;

#[derive(Debug, Default)]
pub(super) struct ModState {
    pub ctx: Option<Pkcs11>,
    /// Incremented by every (re-)initialisation.
    pub generation: u64,
}

#[derive(Debug)]
pub struct Module {
    path: PathBuf,
    state: RwLock<ModState>,
    /// Re-initialisations since an operation last succeeded (the first is logged as a
    /// warning, the following ones of the same outage at debug level).
    reinits_since_ok: AtomicU32,
    /// `ModState::generation`, readable while a re-initialisation holds the lock.
    generation: AtomicU64,
    /// The last load or re-initialisation attempt.
    last_init: Mutex<Option<Instant>>,
}

/// A read guard on an initialised module: PKCS#11 calls are made while holding it, so a
/// re-initialisation waits until in-flight operations finished.
pub(super) struct Active<'a> {
    guard: RwLockReadGuard<'a, ModState>,
}

impl Active<'_> {
    pub fn ctx(&self) -> &Pkcs11 {
        self.guard
            .ctx
            .as_ref()
            .expect("Active holds an initialised module")
    }

    pub fn generation(&self) -> u64 {
        self.guard.generation
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

fn init_args() -> CInitializeArgs {
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

impl Module {
    /// The process's module for `path` (not loaded until first used).
    pub fn get(path: &Path) -> Arc<Module> {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        map.entry(path.to_path_buf())
            .or_insert_with(|| {
                Arc::new(Module {
                    path: path.to_path_buf(),
                    state: RwLock::new(ModState::default()),
                    reinits_since_ok: AtomicU32::new(0),
                    generation: AtomicU64::new(0),
                    last_init: Mutex::new(None),
                })
            })
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Pkcs11, P11Error> {
        let ctx = Pkcs11::new(&self.path).map_err(|e| P11Error::Module {
            module: self.path.display().to_string(),
            detail: format!("cannot load: {e}"),
        })?;
        match ctx.initialize(init_args()) {
            // Another user in this process (a test's raw context) initialised the library.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
            Err(e) => Err(P11Error::Module {
                module: self.path.display().to_string(),
                detail: format!("C_Initialize: {e}"),
            }),
        }
    }

    /// The initialised module, loading it first if needed.
    pub(super) fn active(&self) -> Result<Active<'_>, P11Error> {
        {
            let guard = self.state.read().unwrap_or_else(|e| e.into_inner());
            if guard.ctx.is_some() {
                return Ok(Active { guard });
            }
        }
        {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            if st.ctx.is_none() {
                self.touch();
                st.ctx = Some(self.load()?);
                st.generation += 1;
                self.generation.store(st.generation, Ordering::Relaxed);
            }
        }
        let guard = self.state.read().unwrap_or_else(|e| e.into_inner());
        match guard.ctx {
            Some(_) => Ok(Active { guard }),
            None => Err(P11Error::Module {
                module: self.path.display().to_string(),
                detail: "finalized concurrently".into(),
            }),
        }
    }

    fn touch(&self) {
        *self.last_init.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Whether the module was loaded or re-initialised (or that was tried) within `d`.
    pub(super) fn initialized_within(&self, d: Duration) -> bool {
        self.last_init
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < d)
    }

    /// An operation on one of the module's tokens succeeded.
    pub(super) fn note_ok(&self) {
        if self.reinits_since_ok.load(Ordering::Relaxed) != 0 {
            self.reinits_since_ok.store(0, Ordering::Relaxed);
        }
    }

    /// `C_Finalize` + `C_Initialize` unless someone already did since `seen_generation`.
    /// Waits for the calls in flight on every token of the module (they hold read guards);
    /// their sessions and handles are then forgotten (a new generation).
    pub(super) fn reinitialize(&self, seen_generation: u64) -> Result<(), P11Error> {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if st.generation != seen_generation && st.ctx.is_some() {
            return Ok(());
        }
        if self.reinits_since_ok.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(module = %self.path.display(), "re-initialising PKCS#11 module (C_Finalize, C_Initialize)");
        } else {
            tracing::debug!(module = %self.path.display(), "re-initialising PKCS#11 module again");
        }
        self.touch();
        if let Some(old) = st.ctx.take() {
            // Fails with CKR_CRYPTOKI_NOT_INITIALIZED when the library was reset underneath.
            let _ = old.finalize();
        }
        st.ctx = Some(self.load()?);
        st.generation += 1;
        self.generation.store(st.generation, Ordering::Relaxed);
        Ok(())
    }

    /// The current generation (0 before the first load).
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Test hook: `C_Finalize` on the library underneath every user, without telling them,
    /// as a token reset or library crash would. The next operation fails with
    /// CKR_CRYPTOKI_NOT_INITIALIZED and the backend must recover.
    #[doc(hidden)]
    pub fn finalize_underneath_for_tests(path: &Path) {
        let m = Module::get(path);
        let st = m.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(ctx) = &st.ctx {
            let _ = ctx.clone().finalize();
        }
    }

    /// The current generation of the module at `path` (0 before the first load).
    pub fn generation_of(path: &Path) -> u64 {
        Module::get(path).generation()
    }
}
