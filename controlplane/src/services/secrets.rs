//! The control plane's secrets at rest: software CA and responder private keys, software SSH
//! CA private keys and the Keyper token secret, in the `keys` column family
//! (`db::secrets`), each sealed under the key-encryption key (`crypto::sealed`) before it
//! reaches a write batch ([`Context::stage_secret`]) and opened when loaded
//! ([`Context::secret`]). The store only ever sees sealed bytes.
//!
//! At start-up, before any service loads a key, [`prepare`] reads every entry of `keys`:
//! - one sealed under another KEK, or one that does not open under the loaded KEK, stops the
//!   start ([`SecretsError::is_wrong_kek`]: a configuration error, exit 64);
//! - one stored in the clear (a data directory written before secrets were sealed) is sealed,
//!   all of them in one synced commit with one `secrets.migrate` audit record naming what was
//!   sealed (never the secrets), and logged. A crash before that commit leaves every entry as
//!   it was; the next start seals them again (each entry is sealed or clear, never neither);
//! - then the column family is compacted, so that no file keeps an older, clear version (done
//!   at every start: it holds a handful of entries, and a crash between the commit and the
//!   compaction is healed by the next start).

use std::collections::BTreeMap;

use sigil_storage::WriteBatch;
use zeroize::Zeroizing;

use super::context::{Commit, Context};
use super::error::Internal;
use super::otps::random;
use crate::crypto::sealed::{self, SealError, Stored};
use crate::db::cf;
use crate::db::secrets::SecretName;

/// Why the stored secrets cannot be used with the loaded key-encryption key.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{count} secret(s) in the data directory are sealed under key-encryption key(s) {}, but the loaded one is {loaded:?}: start with the KEK they were sealed under (SIGIL_KEK, [secrets] kek_file or [secrets.hsm])",
        found.join(", ")
    )]
    OtherKek {
        found: Vec<String>,
        loaded: String,
        count: usize,
    },
    #[error("{0}; start with the KEK the data directory's secrets were sealed under")]
    WrongKek(SealError),
    #[error("unknown entry {0:?} in the keys column family (written by a newer version?)")]
    UnknownEntry(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl SecretsError {
    /// The configured KEK is not the data directory's: a configuration error.
    pub fn is_wrong_kek(&self) -> bool {
        matches!(self, Self::OtherKek { .. } | Self::WrongKek(_))
    }
}

impl From<SealError> for SecretsError {
    fn from(e: SealError) -> Self {
        if e.is_wrong_kek() {
            Self::WrongKek(e)
        } else {
            Self::Internal(e.into())
        }
    }
}

impl Context {
    /// The secret `name`, opened, if one is stored.
    pub(super) fn secret(&self, name: &SecretName) -> Result<Option<Zeroizing<Vec<u8>>>, Internal> {
        match self.db().get_raw(cf::KEYS, &name.entry())? {
            Some(stored) => Ok(Some(sealed::open(self.kek().as_ref(), name, &stored)?)),
            None => Ok(None),
        }
    }

    /// Puts `plain`, sealed as secret `name`, into `batch`.
    pub(super) fn stage_secret(
        &self,
        batch: &mut WriteBatch,
        name: &SecretName,
        plain: &[u8],
    ) -> Result<(), Internal> {
        let stored = sealed::seal(self.kek().as_ref(), name, plain, random::<12>()?)?;
        batch.put(cf::KEYS, name.entry(), stored);
        Ok(())
    }
}

/// What [`prepare`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Secrets that were already sealed (and open under the loaded KEK).
    pub sealed: usize,
    /// Secrets found in the clear and sealed now.
    pub migrated: Vec<SecretName>,
}

/// Checks every stored secret against the loaded KEK and seals those still in the clear
/// (module documentation).
pub(super) fn prepare(cx: &Context) -> Result<Prepared, SecretsError> {
    let kek = cx.kek().as_ref();
    let mut entries = Vec::new();
    cx.db()
        .store()
        .scan(cf::KEYS, &[], None, &mut |k, v| {
            entries.push((k.to_vec(), Zeroizing::new(v.to_vec())));
            true
        })
        .map_err(|e| Internal::from(crate::db::DbError::from(e)))?;

    let mut prepared = Prepared::default();
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    let mut batch = WriteBatch::new();
    for (entry, value) in &entries {
        let name = SecretName::from_entry(entry)
            .ok_or_else(|| SecretsError::UnknownEntry(String::from_utf8_lossy(entry).into()))?;
        match sealed::classify(&name, value)? {
            Stored::Sealed(s) if s.kek_id != kek.id() => *other.entry(s.kek_id).or_default() += 1,
            Stored::Sealed(s) => {
                sealed::open_sealed(kek, &name, &s)?;
                prepared.sealed += 1;
            }
            Stored::Clear(plain) => {
                cx.stage_secret(&mut batch, &name, plain)?;
                prepared.migrated.push(name);
            }
        }
    }
    if !other.is_empty() {
        return Err(SecretsError::OtherKek {
            count: other.values().sum(),
            found: other.into_keys().collect(),
            loaded: kek.id().to_string(),
        });
    }
    if !prepared.migrated.is_empty() {
        let names: Vec<String> = prepared.migrated.iter().map(|n| n.to_string()).collect();
        cx.commit(Commit::new(batch).audit(
            ("secrets.migrate", "secrets", ""),
            serde_json::json!({
                "kek": kek.id(),
                "sealed": names,
                "count": names.len(),
                "already_sealed": prepared.sealed,
            }),
        ))?;
        tracing::info!(kek = kek.id(), count = names.len(), secrets = ?names, "sealed secrets found in the clear (a data directory written before secrets were sealed) under the key-encryption key");
    }
    cx.db()
        .store()
        .compact(cf::KEYS)
        .map_err(|e| Internal::from(crate::db::DbError::from(e)))?;
    Ok(prepared)
}

/// The ids of the KEKs the store's secrets are sealed under (empty: none sealed yet), for
/// `sigil-cp init`, which must not create a new KEK for a data directory that has one.
pub fn sealed_kek_ids(
    store: &dyn sigil_storage::Store,
) -> Result<std::collections::BTreeSet<String>, Internal> {
    let mut ids = std::collections::BTreeSet::new();
    let mut err = None;
    store
        .scan(cf::KEYS, &[], None, &mut |k, v| {
            let name = SecretName::from_entry(k).unwrap_or_else(|| SecretName::ca_key("?"));
            match sealed::classify(&name, v) {
                Ok(Stored::Sealed(s)) => {
                    ids.insert(s.kek_id);
                }
                Ok(Stored::Clear(_)) => {}
                Err(e) => err = Some(e),
            }
            err.is_none()
        })
        .map_err(|e| Internal::from(crate::db::DbError::from(e)))?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(ids),
    }
}

/// A software KEK for unit tests.
#[cfg(test)]
pub(crate) fn test_kek() -> std::sync::Arc<dyn sigil_kes::KeyWrapper> {
    std::sync::Arc::new(sigil_kes::Kek::new("kek-unit-test", [0x5e; 32]))
}

#[cfg(test)]
mod tests;
