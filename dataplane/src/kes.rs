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
mod wire;

pub use forward::Forwarder;
pub use handler::{KesHandler, KesShared};
pub use keyring::Keyring;
pub use logs::LogHub;
pub use stats::KesStats;

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
}

/// The key-encryption key from `SIGIL_KES_KEK` (given as `env`) or `kes.kek_file`.
pub fn load_kek(
    env: Option<String>,
    file: Option<&std::path::Path>,
) -> Result<sigil_kes::Kek, KekLoadError> {
    match (env.filter(|v| !v.trim().is_empty()), file) {
        (Some(text), _) => sigil_kes::Kek::parse(&text).map_err(KekLoadError::Env),
        (None, Some(path)) => {
            let text = sigil_configfile::secret_file("kes.kek_file", path)?;
            sigil_kes::Kek::parse(&text).map_err(KekLoadError::File)
        }
        (None, None) => Err(KekLoadError::Missing),
    }
}
