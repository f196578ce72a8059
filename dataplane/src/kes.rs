//! The KES-compatible key service on the data plane (docs/KES.md): its own TLS listener
//! (`[kes]`), clients identified by their certificate's public key, policies evaluated here,
//! cryptography (generate, encrypt, decrypt, HMAC) from an in-memory keyring unwrapped from the
//! replica with the fleet's key-encryption key, and changes forwarded to the control plane.
//!
//! | module | role |
//! |---|---|
//! | `routes` | the path table (sans-io): KES's paths and methods, what each needs |
//! | `handler` | the [`KesHandler`]: identity, policy, dispatch, deferred mutations |
//! | `key_ops`, `info_ops` | the answers from the keyring |
//! | `keyring` | the [`Keyring`]: keys unwrapped, policies, identities as of a sequence |
//! | `forward` | mutations to the control plane (read-your-writes) |
//! | `logs` | the audit and error log streams |
//! | `wire` | KES's JSON |
//! | `stats` | KES's metrics |

mod forward;
mod handler;
mod info_ops;
mod key_ops;
mod keyring;
mod logs;
mod routes;
mod stats;
/// Public for the fuzz targets (`fuzzing/`) only.
#[doc(hidden)]
#[allow(clippy::result_unit_err)]
pub mod wire;

pub use forward::Forwarder;
pub use handler::{KesHandler, KesShared};
pub use keyring::Keyring;
pub use logs::LogHub;
pub use stats::{totals as kes_totals, KesStats};

/// Why the key service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum KekLoadError {
    #[error("the key service ([kes]) needs the fleet's key-encryption key: set SIGIL_KES_KEK or kes.kek_file")]
    Missing,
    #[error("SIGIL_KES_KEK: {0}")]
    Env(sigil_kes::KekError),
    #[error("kes.kek_file: {0}")]
    File(sigil_kes::KekError),
    #[error(transparent)]
    Read(#[from] sigil_configfile::SecretFileError),
    #[error("kes.hsm excludes SIGIL_KES_KEK and kes.kek_file: the key-encryption key is either in the token or not")]
    Both,
    #[error(transparent)]
    Hsm(#[from] sigil_kes_pkcs11::HsmKekError),
}

/// The key-encryption key: the token's with `[kes.hsm]` (opened and probed now), else
/// `SIGIL_KES_KEK` (given as `env`), else `kes.kek_file`.
pub fn load_kek(
    env: Option<String>,
    cfg: &crate::config::KesConfig,
) -> Result<std::sync::Arc<dyn sigil_kes::KeyWrapper>, KekLoadError> {
    let env = env.filter(|v| !v.trim().is_empty());
    if let Some(hsm) = &cfg.hsm {
        if env.is_some() || cfg.kek_file.is_some() {
            return Err(KekLoadError::Both);
        }
        return Ok(std::sync::Arc::new(sigil_kes_pkcs11::HsmKek::open(hsm)?));
    }
    let kek = match (env, cfg.kek_file.as_deref()) {
        (Some(text), _) => sigil_kes::Kek::parse(&text).map_err(KekLoadError::Env)?,
        (None, Some(path)) => {
            let text = sigil_configfile::secret_file("kes.kek_file", path)?;
            sigil_kes::Kek::parse(&text).map_err(KekLoadError::File)?
        }
        (None, None) => return Err(KekLoadError::Missing),
    };
    Ok(std::sync::Arc::new(kek))
}
