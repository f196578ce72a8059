//! The KES-compatible key service's management: keys ([`keys`]), policies ([`policies`])
//! and identities ([`identities`]), the control plane's authoritative copy of what data
//! planes serve KES clients from. Every change is one synced commit with its audit record and
//! the `Change` data planes apply (`KesKeyPut`, `KesPolicyPut`, …).
//!
//! What KES does, as facts this service keeps: a key has a name (`sigil_kes::name`), an
//! algorithm (AES256 or ChaCha20) and, per version, a 256-bit secret key and a separate
//! 256-bit HMAC key; creating a key whose name exists fails (`key already exists`); a policy
//! write replaces the policy of that name; an identity (the hex SHA-256 of a client
//! certificate's public key) has one policy, and no identity may assign a policy to itself.
//! Versions (`rotate_key`) are Sigil's: KES keys have one.
//!
//! Key material exists in the clear only in memory, between its generation (or import) and
//! its wrapping under the key-encryption key (`sigil_kes::wrap`): it never reaches a write
//! batch, a replication record, an audit record, a log line or an error unwrapped. The KEK is
//! the control plane's (the one its own secrets are sealed under: `services::secrets`), which
//! it always has.
//!
//! Two locks: one for keys, one for policies and identities (an assignment checks that its
//! policy exists). Each check and the write it guards happen under the lock.

mod error;
pub mod identities;
pub mod keys;
pub mod policies;

pub use error::KesError;

use std::sync::{Arc, Mutex, MutexGuard};

use sigil_kes::KeyWrapper;

use super::context::Context;

/// Versions a key may have (`rotate_key` refuses more).
pub const MAX_VERSIONS: usize = 100;

type Result<T, E = KesError> = std::result::Result<T, E>;

/// See the module documentation.
pub struct Kes {
    cx: Arc<Context>,
    keys_lock: Mutex<()>,
    access_lock: Mutex<()>,
}

impl std::fmt::Debug for Kes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kes")
            .field("kek", &self.kek_id())
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Kes {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self {
            cx,
            keys_lock: Mutex::new(()),
            access_lock: Mutex::new(()),
        }
    }

    /// The id of the key-encryption key new key versions are wrapped under.
    pub fn kek_id(&self) -> &str {
        self.cx.kek().id()
    }

    fn kek(&self) -> &dyn KeyWrapper {
        self.cx.kek().as_ref()
    }
}

/// `pattern` checked as KES checks list patterns (`""` and `*` list everything).
fn check_pattern(pattern: &str) -> Result<()> {
    if sigil_kes::name::valid_pattern(pattern) {
        Ok(())
    } else {
        Err(KesError::InvalidPattern(pattern.into()))
    }
}

#[cfg(test)]
mod tests;
