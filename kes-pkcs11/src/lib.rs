//! The key service's key-encryption key (KEK) in a PKCS#11 token (an HSM; SoftHSM2 in tests):
//! an AES-256 secret key, found by label, that seals and opens with the token's `CKM_AES_GCM`
//! (12-byte nonce, 128-bit tag, the caller's associated data: `sigil_kes::wrap::
//! associated_data(id, name, version)` for KES key material, the control plane's own for its
//! secrets). The stored forms are the software KEK's ([`sigil_kes::wrap::Wrapped`]), under id
//! `pkcs11:<key label>`; the key never leaves the token.
//!
//! Both planes use it (the control plane wraps new keys and its own secrets, data planes
//! unwrap their keyring), so
//! it does not share the control plane's PKCS#11 session pools: it holds one session of its
//! own behind a mutex (KEK operations are rare: key creation and keyring rebuilds). A library
//! another user in the process already initialised is accepted; a failed operation reopens the
//! session (and re-initialises the library if it was reset) and is tried once more.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sigil_kes::wrap::{associated_data, pkcs11_kek_id, UnwrapError, NONCE_SIZE};
use sigil_kes::{KeyWrapper, WrapError};

/// Where the KEK is: the `[kes.hsm]` section of either plane.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmKekConfig {
    /// The PKCS#11 library (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The environment variable holding the user PIN (never the PIN itself).
    pub pin_env: String,
    /// `CKA_LABEL` of the AES-256 secret key (`CKK_AES`, 32 bytes, `CKA_ENCRYPT` and
    /// `CKA_DECRYPT`), e.g. made with `pkcs11-tool --keygen --key-type AES:32 --label L`.
    pub key_label: String,
}

/// Why the token's KEK cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HsmKekError {
    #[error("kes.hsm: environment variable {0} (the token PIN) is not set")]
    NoPin(String),
    #[error("kes.hsm: loading {module}: {detail}")]
    Module { module: String, detail: String },
    #[error("kes.hsm: no token labelled {0:?} in the module's slots")]
    NoToken(String),
    #[error("kes.hsm: token {token:?}: no AES secret key labelled {label:?}")]
    NoKey { token: String, label: String },
    #[error("kes.hsm: token {token:?}: key {label:?} is not a 32-byte AES key")]
    NotAes256 { token: String, label: String },
    #[error("kes.hsm: token {token:?}: {call}: {source}")]
    Call {
        token: String,
        call: &'static str,
        source: CkError,
    },
}

struct Conn {
    session: Session,
    key: ObjectHandle,
}

/// The token's KEK, a [`KeyWrapper`].
pub struct HsmKek {
    id: String,
    cfg: HsmKekConfig,
    pin: String,
    ctx: Mutex<Option<Pkcs11>>,
    conn: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for HsmKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKek")
            .field("id", &self.id)
            .field("module", &self.cfg.module)
            .field("token", &self.cfg.token_label)
            .finish_non_exhaustive()
    }
}

impl HsmKek {
    /// Opens a session on the token, finds the key and proves it seals and opens (a round
    /// trip), so that a wrong configuration fails at start-up, not at the first key.
    pub fn open(cfg: &HsmKekConfig) -> Result<Self, HsmKekError> {
        let pin =
            std::env::var(&cfg.pin_env).map_err(|_| HsmKekError::NoPin(cfg.pin_env.clone()))?;
        let kek = Self {
            id: pkcs11_kek_id(&cfg.key_label),
            cfg: cfg.clone(),
            pin,
            ctx: Mutex::new(None),
            conn: Mutex::new(None),
        };
        // A probe under a nonce from the token's RNG (never a fixed one: AES-GCM must not
        // reuse a nonce under one key).
        let mut nonce = [0u8; NONCE_SIZE];
        kek.with_conn(&|c| {
            let mut n = [0u8; NONCE_SIZE];
            c.session
                .generate_random_slice(&mut n)
                .map_err(kek.call("C_GenerateRandom"))?;
            Ok(n)
        })
        .map(|n| nonce = n)?;
        let ad = associated_data(&kek.id, "sigil-kek-probe", 1);
        let plain = [1u8; 65];
        let probe = kek
            .seal_in_token(&ad, &plain, nonce)
            .and_then(|sealed| kek.open_in_token(&ad, &sealed, nonce));
        match probe {
            Ok(back) if back == plain => Ok(kek),
            Ok(_) => Err(HsmKekError::NotAes256 {
                token: cfg.token_label.clone(),
                label: cfg.key_label.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    fn call(&self, call: &'static str) -> impl FnOnce(CkError) -> HsmKekError + '_ {
        move |source| HsmKekError::Call {
            token: self.cfg.token_label.clone(),
            call,
            source,
        }
    }

    /// The library, loaded and initialised (re-initialised when `reset`).
    fn context(&self, reset: bool) -> Result<Pkcs11, HsmKekError> {
        let mut ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        if reset {
            if let Some(old) = ctx.take() {
                let _ = old.finalize();
            }
        }
        if let Some(c) = ctx.as_ref() {
            return Ok(c.clone());
        }
        let module = || self.cfg.module.display().to_string();
        let c = Pkcs11::new(&self.cfg.module).map_err(|e| HsmKekError::Module {
            module: module(),
            detail: e.to_string(),
        })?;
        match c.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(HsmKekError::Module {
                    module: module(),
                    detail: format!("C_Initialize: {e}"),
                })
            }
        }
        *ctx = Some(c.clone());
        Ok(c)
    }

    fn connect(&self, reset: bool) -> Result<Conn, HsmKekError> {
        let ctx = self.context(reset)?;
        let token = &self.cfg.token_label;
        let slot = ctx
            .get_slots_with_token()
            .map_err(self.call("C_GetSlotList"))?
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == token)
            })
            .ok_or_else(|| HsmKekError::NoToken(token.clone()))?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(self.call("C_OpenSession"))?;
        match session.login(UserType::User, Some(&AuthPin::from(self.pin.clone()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(self.call("C_Login")(e)),
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(self.cfg.key_label.as_bytes().to_vec()),
        ];
        let key = session
            .find_objects(&template)
            .map_err(self.call("C_FindObjects"))?
            .into_iter()
            .next()
            .ok_or_else(|| HsmKekError::NoKey {
                token: token.clone(),
                label: self.cfg.key_label.clone(),
            })?;
        let len = session
            .get_attributes(key, &[AttributeType::ValueLen])
            .map_err(self.call("C_GetAttributeValue"))?;
        if !matches!(len.first(), Some(Attribute::ValueLen(n)) if u64::from(*n) == 32) {
            return Err(HsmKekError::NotAes256 {
                token: token.clone(),
                label: self.cfg.key_label.clone(),
            });
        }
        Ok(Conn { session, key })
    }

    /// Runs `op` on the session; after a failure, reconnects (re-initialising the library if
    /// it was reset underneath) and runs it once more.
    fn with_conn<T>(&self, op: &dyn Fn(&Conn) -> Result<T, HsmKekError>) -> Result<T, HsmKekError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut retried = false;
        loop {
            if conn.is_none() {
                *conn = Some(self.connect(retried)?);
            }
            match op(conn.as_ref().expect("connected above")) {
                Ok(v) => return Ok(v),
                Err(e @ HsmKekError::Call { .. }) if !retried => {
                    tracing::warn!(error = %e, "PKCS#11 KEK operation failed; reconnecting once");
                    *conn = None;
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn seal_in_token(
        &self,
        ad: &[u8],
        plain: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, HsmKekError> {
        self.with_conn(&|c| {
            let mut iv = nonce;
            let params = GcmParams::new(&mut iv, ad, 128.into()).map_err(self.call("GcmParams"))?;
            c.session
                .encrypt(&Mechanism::AesGcm(params), c.key, plain)
                .map_err(self.call("C_Encrypt"))
        })
    }

    fn open_in_token(
        &self,
        ad: &[u8],
        sealed: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, HsmKekError> {
        self.with_conn(&|c| {
            let mut iv = nonce;
            let params = GcmParams::new(&mut iv, ad, 128.into()).map_err(self.call("GcmParams"))?;
            c.session
                .decrypt(&Mechanism::AesGcm(params), c.key, sealed)
                .map_err(self.call("C_Decrypt"))
        })
    }
}

impl KeyWrapper for HsmKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, ad: &[u8], plain: &[u8], nonce: [u8; NONCE_SIZE]) -> Result<Vec<u8>, WrapError> {
        self.seal_in_token(ad, plain, nonce)
            .map_err(|e| WrapError(e.to_string()))
    }

    fn open(
        &self,
        ad: &[u8],
        sealed: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, UnwrapError> {
        self.open_in_token(ad, sealed, nonce).map_err(|e| match e {
            // An authentication failure of the AEAD: the data, not the token, is wrong.
            HsmKekError::Call {
                source: CkError::Pkcs11(RvError::EncryptedDataInvalid, _),
                ..
            } => UnwrapError::NotAuthentic,
            other => UnwrapError::Backend(other.to_string()),
        })
    }
}
