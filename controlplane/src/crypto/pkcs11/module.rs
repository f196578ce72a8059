//! One loaded PKCS#11 library per module path per process. `C_Initialize` state is global to
//! a library, so every token and CA using the same module shares one [`Module`]. A
//! re-initialisation (`C_Finalize` + `C_Initialize`) bumps the module's generation; sessions
//! and object handles of older generations are never used again (nor closed: their handle
//! numbers may belong to new sessions).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};

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
                st.ctx = Some(self.load()?);
                st.generation += 1;
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

    /// `C_Finalize` + `C_Initialize` unless someone already did since `seen_generation`.
    pub(super) fn reinitialize(&self, seen_generation: u64) -> Result<(), P11Error> {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if st.generation != seen_generation && st.ctx.is_some() {
            return Ok(());
        }
        if let Some(old) = st.ctx.take() {
            // Fails with CKR_CRYPTOKI_NOT_INITIALIZED when the library was reset underneath.
            let _ = old.finalize();
        }
        tracing::warn!(module = %self.path.display(), "re-initialising PKCS#11 module");
        st.ctx = Some(self.load()?);
        st.generation += 1;
        Ok(())
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

    /// The current generation (0 before the first load).
    pub fn generation_of(path: &Path) -> u64 {
        Module::get(path)
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }
}
