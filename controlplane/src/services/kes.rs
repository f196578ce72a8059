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
//! policy exists). Each check and the write it guards happen under the lock. Across
//! control-plane nodes (several active nodes) keys are fenced on their own records
//! ([`keys`]), and policy and identity changes on `meta/kes_access_version`, which each of
//! them gives a new value ([`Kes::access_serially`]): they run serially across nodes, and one
//! whose reads another node's change made stale runs again from its reads.

mod error;
pub mod identities;
pub mod keys;
pub mod policies;

pub use error::KesError;

use std::sync::{Arc, Mutex, MutexGuard};

use sigil_kes::KeyWrapper;

use super::context::{retry_conflicts, with_fence, Commit, Context};
use crate::db::cf;

/// `meta` entry every policy and identity change gives a new value.
const META_ACCESS_VERSION: &[u8] = b"kes_access_version";

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

    /// Runs `op` — a policy or identity change's reads, checks and [`Kes::access_commit`] —
    /// under the access lock and fenced on `meta/kes_access_version` as it found it; run again
    /// (up to the context's bound) when another node changed policies or identities between.
    fn access_serially<T>(&self, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        retry_conflicts(
            || {
                let _g = lock(&self.access_lock);
                let read = self.cx.db().get_raw(cf::META, META_ACCESS_VERSION)?;
                let fence = sigil_storage::Expect {
                    cf: cf::META,
                    key: META_ACCESS_VERSION.to_vec(),
                    value: read,
                };
                with_fence(Some(fence), &mut op)
            },
            KesError::is_write_conflict,
        )
    }

    /// Commits a policy or identity change, giving `meta/kes_access_version` a new value (16
    /// random bytes: only that it changed matters to the fence).
    fn access_commit(&self, commit: Commit) -> Result<u64> {
        let version: [u8; 16] = crate::services::otps::random()?;
        let mut batch = sigil_storage::WriteBatch::new();
        batch.put(cf::META, META_ACCESS_VERSION.to_vec(), version.to_vec());
        Ok(self.cx.commit(commit.append(batch))?)
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
