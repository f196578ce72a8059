//! KES keys: create (fresh material), import (the caller's key, a fresh HMAC key), rotate (a
//! new version), delete, describe, list. A key is stored and replicated as `KesKeyState`,
//! every version wrapped under the key-encryption key, bound to the key's name and version.

use sigil_kes::wrap::KeyMaterial;
use sigil_kes::{Algorithm, HmacKey, KeyWrapper, SecretKey, KEY_SIZE};
use sigil_shared::replication::{Change, KesKeyState, KesKeyVersion};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::{check_pattern, lock, Kes, KesError, Result, MAX_VERSIONS};
use crate::db::{cf, encode, DbError};
use crate::services::context::{retry_conflicts, Commit};
use crate::services::otps::random;

/// `name` checked as KES checks key names.
fn check_name(name: &str) -> Result<()> {
    if sigil_kes::name::valid_name(name) {
        Ok(())
    } else {
        Err(KesError::InvalidKeyName(name.into()))
    }
}

/// Version `version` of key `name`: `key` and a fresh HMAC key, wrapped under `kek` with a
/// fresh nonce. The plaintext material lives only in this call.
fn seal(
    kek: &dyn KeyWrapper,
    name: &str,
    version: u32,
    algorithm: Algorithm,
    key: [u8; KEY_SIZE],
    now: i64,
) -> Result<KesKeyVersion> {
    let material = KeyMaterial {
        key: SecretKey::new(algorithm, key),
        hmac: HmacKey::new(random()?),
    };
    let wrapped = kek
        .wrap(name, version, &material, random()?)
        .map_err(crate::services::Internal::from)?;
    Ok(KesKeyVersion {
        version,
        algorithm: algorithm.name().into(),
        created_at: now,
        kek_id: wrapped.kek_id,
        nonce: wrapped.nonce,
        sealed: wrapped.sealed,
    })
}

/// The algorithm a stored version names.
fn algorithm_of(v: &KesKeyVersion) -> Result<Algorithm> {
    Algorithm::parse(&v.algorithm).ok_or_else(|| {
        KesError::from(DbError::Corrupt {
            what: "KES key version",
            detail: format!("unknown algorithm {:?}", v.algorithm),
        })
    })
}

impl Kes {
    /// Creates key `name` with fresh material (AES256 unless `algorithm` says otherwise).
    /// Returns the key and the commit's sequence number. `KeyExists` if the name is taken.
    pub fn create_key(
        &self,
        name: &str,
        algorithm: Option<Algorithm>,
        created_by: &str,
    ) -> Result<(KesKeyState, u64)> {
        let algorithm = algorithm.unwrap_or(Algorithm::Aes256);
        self.add_key(name, algorithm, None, created_by)
    }

    /// Creates key `name` from the caller's 256-bit `key` (a fresh HMAC key beside it, as KES
    /// does on import). The key bytes are wrapped at once and never stored, logged or audited.
    pub fn import_key(
        &self,
        name: &str,
        key: [u8; KEY_SIZE],
        algorithm: Algorithm,
        created_by: &str,
    ) -> Result<(KesKeyState, u64)> {
        self.add_key(name, algorithm, Some(key), created_by)
    }

    /// Creates or imports key `name`: fenced on its absence, so that of two nodes creating
    /// the same name at once one answers "key already exists" (the commit of the second
    /// fails and the check runs again).
    fn add_key(
        &self,
        name: &str,
        algorithm: Algorithm,
        imported: Option<[u8; KEY_SIZE]>,
        created_by: &str,
    ) -> Result<(KesKeyState, u64)> {
        retry_conflicts(
            || self.add_key_once(name, algorithm, imported, created_by),
            KesError::is_write_conflict,
        )
    }

    fn add_key_once(
        &self,
        name: &str,
        algorithm: Algorithm,
        imported: Option<[u8; KEY_SIZE]>,
        created_by: &str,
    ) -> Result<(KesKeyState, u64)> {
        check_name(name)?;
        let kek = self.kek();
        let _g = lock(&self.keys_lock);
        if self
            .cx
            .db()
            .get_raw(cf::KES_KEYS, name.as_bytes())?
            .is_some()
        {
            return Err(KesError::KeyExists { name: name.into() });
        }
        let now = now_unix();
        let key = match imported {
            Some(k) => k,
            None => random()?,
        };
        let version = seal(kek, name, 1, algorithm, key, now)?;
        let details = serde_json::json!({
            "algorithm": algorithm.name(), "version": 1, "kek_id": version.kek_id,
        });
        let state = KesKeyState {
            name: name.into(),
            created_at: now,
            created_by: created_by.into(),
            versions: vec![version],
        };
        let action = match imported {
            Some(_) => "kes.key.import",
            None => "kes.key.create",
        };
        let seq = self.commit_key(&state, None, action, details)?;
        Ok((state, seq))
    }

    /// Adds a version to key `name`: fresh key and HMAC key, the newest version's algorithm.
    /// Returns the key (its newest version is the new one) and the commit's sequence number.
    /// Fenced on the key as read (run again if another node changed it meanwhile).
    pub fn rotate_key(&self, name: &str) -> Result<(KesKeyState, u64)> {
        retry_conflicts(|| self.rotate_key_once(name), KesError::is_write_conflict)
    }

    fn rotate_key_once(&self, name: &str) -> Result<(KesKeyState, u64)> {
        check_name(name)?;
        let kek = self.kek();
        let _g = lock(&self.keys_lock);
        let mut state = self.describe_key(name)?;
        let read = encode(&state)?;
        let newest = match state.versions.last() {
            Some(v) if state.versions.len() < MAX_VERSIONS => v,
            _ => return Err(KesError::TooManyVersions { name: name.into() }),
        };
        let algorithm = algorithm_of(newest)?;
        let version = newest.version + 1;
        let sealed = seal(kek, name, version, algorithm, random()?, now_unix())?;
        let details = serde_json::json!({
            "algorithm": algorithm.name(), "version": version, "kek_id": sealed.kek_id,
        });
        state.versions.push(sealed);
        let seq = self.commit_key(&state, Some(read), "kes.key.rotate", details)?;
        Ok((state, seq))
    }

    /// Deletes key `name` and every version of it; returns the commit's sequence number.
    /// Fenced on the key as read.
    pub fn delete_key(&self, name: &str) -> Result<u64> {
        retry_conflicts(|| self.delete_key_once(name), KesError::is_write_conflict)
    }

    fn delete_key_once(&self, name: &str) -> Result<u64> {
        check_name(name)?;
        let _g = lock(&self.keys_lock);
        let state = self.describe_key(name)?;
        let mut batch = WriteBatch::new();
        batch.delete(cf::KES_KEYS, name.as_bytes().to_vec());
        let commit = Commit::new(batch)
            .expect_value(
                cf::KES_KEYS,
                name.as_bytes().to_vec(),
                Some(encode(&state)?),
            )
            .replicate(vec![Change::KesKeyDelete { name: name.into() }])
            .audit(
                ("kes.key.delete", "kes_key", name),
                serde_json::json!({"versions": state.versions.len()}),
            );
        Ok(self.cx.commit(commit)?)
    }

    /// Key `name` (wrapped material included; views drop it).
    pub fn describe_key(&self, name: &str) -> Result<KesKeyState> {
        check_name(name)?;
        self.cx
            .db()
            .get(cf::KES_KEYS, name.as_bytes())?
            .ok_or_else(|| KesError::KeyNotFound { name: name.into() })
    }

    /// The keys `pattern` lists (KES's rule, `sigil_kes::name::lists`), by name.
    pub fn list_keys(&self, pattern: &str) -> Result<Vec<KesKeyState>> {
        check_pattern(pattern)?;
        let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
        Ok(self.cx.db().list(cf::KES_KEYS, prefix.as_bytes())?)
    }

    /// Stores `state`, fenced on the key's record being `read` (`None`: absent).
    fn commit_key(
        &self,
        state: &KesKeyState,
        read: Option<Vec<u8>>,
        action: &str,
        details: serde_json::Value,
    ) -> Result<u64> {
        let mut batch = WriteBatch::new();
        batch.put(cf::KES_KEYS, state.name.as_bytes().to_vec(), encode(state)?);
        let commit = Commit::new(batch)
            .expect_value(cf::KES_KEYS, state.name.as_bytes().to_vec(), read)
            .replicate(vec![Change::KesKeyPut(state.clone())])
            .audit((action, "kes_key", &state.name), details);
        Ok(self.cx.commit(commit)?)
    }
}
