//! The SSH key service's management (Keyper's API): users ([`users`]), hosts ([`hosts`]) and
//! groups ([`groups`]), their public keys and the certificates the user and host CAs sign
//! ([`keys`], CA keys in [`ca`]), revocation and the KRL ([`krl`]), and Keyper's logins and
//! tokens ([`auth`], [`token`], [`password`]). Rendering in Keyper's shapes: [`view`].
//!
//! Every change is validated first, then written in one synced commit with its audit record
//! and the `Change`s data planes apply (`SshUserPut`, `SshHostPut`, `SshGroupPut`, …, and
//! `SshKrlPut` whenever something was revoked). What a data plane gets never holds a
//! password hash or a profile field. Removing a key or certificate revokes it: its SHA-256
//! (keys) or serial (certificates) joins the revocation set, and the KRL (version + 1) is
//! regenerated in the same batch.
//!
//! On first start ([`Ssh::open`]) the service creates what it needs and does not find — the
//! two CA keys (as `[ssh.user_ca]`/`[ssh.host_ca]` say), the token secret, the admin group,
//! an empty KRL — in one synced commit with an `ssh.init` audit record and their `Change`s.
//! Software CA keys and the token secret are stored sealed under the key-encryption key
//! (`services::secrets`).
//!
//! Every mutation runs serially ([`Ssh::serially`]): its checks and the write they guard
//! happen under one lock in this process and, across control-plane nodes sharing a database
//! (several active nodes), under a fence on the `ssh_version` record every SSH commit
//! changes: a change whose reads another node's SSH commit made stale is not written but run
//! again from its reads.

pub mod auth;
mod ca;
mod error;
pub mod groups;
pub mod hosts;
pub mod keys;
pub mod krl;
pub mod password;
pub mod token;
pub mod users;
pub mod view;

pub use error::SshError;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use sigil_shared::replication::{Change, SshCaKind, SshCaState};
use sigil_shared::time::now_unix;
use sigil_ssh::keyper::{Dn, OU_GROUPS};
use sigil_storage::WriteBatch;
use zeroize::Zeroizing;

use super::context::{retry_conflicts, with_fence, Commit, Context};
use crate::config::SshConfig;
use crate::db::secrets::SecretName;
use crate::db::ssh::{
    ca_key, RevokedCertRecord, RevokedKeyRecord, SshCaRecord, SshGroupRecord, KRL_KEY,
    META_SSH_VERSION,
};
use crate::db::{cf, encode, DbError};
use crate::est::limit::Buckets;
use ca::CaKey;

type Result<T, E = SshError> = std::result::Result<T, E>;

/// Who is asking: an administrator (Sigil's admin token, an API key with the `ssh`
/// permissions, a Keyper admin-group member) or a Keyper user, who may read and change only
/// their own password, keys and certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    User(String),
}

/// See the module documentation.
pub struct Ssh {
    cx: Arc<Context>,
    user_ca: CaKey,
    host_ca: CaKey,
    jwt_secret: Zeroizing<[u8; 32]>,
    lock: Mutex<()>,
    login_failures: Mutex<Buckets>,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh")
            .field("user_ca", &self.user_ca)
            .field("host_ca", &self.host_ca)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A change being put together: the write batch, the `Change`s, and what it revokes (the
/// KRL is regenerated from the stored revocations plus these when it commits).
#[derive(Debug, Default)]
pub(super) struct Staged {
    batch: WriteBatch,
    changes: Vec<Change>,
    revoked_keys: Vec<([u8; 32], RevokedKeyRecord)>,
    revoked_certs: Vec<RevokedCertRecord>,
    /// Serials taken in this change (not yet in `ssh_serials`).
    serials: HashSet<u64>,
    /// Plain keys added in this change (not yet in `ssh_key_index`).
    added_keys: HashSet<[u8; 32]>,
}

impl Staged {
    fn put<T: Serialize>(&mut self, cf: &'static str, key: &[u8], value: &T) -> Result<()> {
        self.batch.put(cf, key.to_vec(), encode(value)?);
        Ok(())
    }

    fn delete(&mut self, cf: &'static str, key: &[u8]) {
        self.batch.delete(cf, key.to_vec());
    }

    fn is_revoking(&self) -> bool {
        !self.revoked_keys.is_empty() || !self.revoked_certs.is_empty()
    }
}

/// `s` must be at most `max` bytes without control characters, and not blank unless
/// `allow_empty`.
fn check_text(field: &str, s: &str, max: usize, allow_empty: bool) -> Result<()> {
    if (!allow_empty && s.trim().is_empty()) || s.len() > max || s.chars().any(char::is_control) {
        let what = if allow_empty { "at most" } else { "1 to" };
        return Err(SshError::invalid(
            field,
            format!("{what} {max} bytes, no control characters"),
        ));
    }
    Ok(())
}

/// Sorted, without duplicates.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl Ssh {
    /// Loads the CAs and the token secret, creating what is missing (module documentation).
    /// Loads the SSH CAs and the token secret, creating what is missing (first start). Two
    /// nodes starting together on an empty database (several active nodes) both create them:
    /// what one creates is fenced on its absence, so the second's commit fails and it loads
    /// what the first created.
    pub(super) fn open(cx: Arc<Context>) -> Result<Self> {
        crate::services::context::retry_conflicts(
            || Self::open_once(cx.clone()),
            SshError::is_write_conflict,
        )
    }

    fn open_once(cx: Arc<Context>) -> Result<Self> {
        let cfg = cx.settings().ssh.clone();
        let allowed = cx.settings().hsm.allowed_modules.clone();
        let db = cx.db();
        let mut staged = Staged::default();
        let mut created = serde_json::Map::new();

        let jwt_secret = match cx.secret(&SecretName::ssh_token_secret())? {
            Some(v) => Zeroizing::new(<[u8; 32]>::try_from(v.as_slice()).map_err(|_| {
                DbError::Corrupt {
                    what: "SSH token secret",
                    detail: format!("{} bytes", v.len()),
                }
            })?),
            None => {
                let secret = Zeroizing::new(crate::services::otps::random::<32>()?);
                cx.stage_secret(
                    &mut staged.batch,
                    &SecretName::ssh_token_secret(),
                    secret.as_slice(),
                )?;
                created.insert("token_secret".into(), true.into());
                secret
            }
        };

        let mut load_ca = |kind: SshCaKind, staged: &mut Staged| -> Result<CaKey> {
            let ca_cfg = match kind {
                SshCaKind::User => &cfg.user_ca,
                SshCaKind::Host => &cfg.host_ca,
            };
            if let Some(record) = db.get::<SshCaRecord>(cf::SSH_CAS, ca_key(kind))? {
                let private = match cx.secret(&SecretName::ssh_ca_key(kind))? {
                    Some(v) => Some(Zeroizing::new(String::from_utf8(v.to_vec()).map_err(
                        |_| DbError::Corrupt {
                            what: "SSH CA private key",
                            detail: "not UTF-8".into(),
                        },
                    )?)),
                    None => None,
                };
                if record.algorithm != ca_cfg.algorithm
                    || record.key.kind() != key_store_kind(ca_cfg)
                {
                    tracing::warn!(ca = ?kind, stored = record.algorithm.name(), store = record.key.kind(), "the SSH CA exists; its configuration applies only when it is created");
                }
                return ca::load(&record, private.as_deref().map(String::as_str));
            }
            let (key, private) = ca::create(kind, ca_cfg, &allowed)?;
            if let Some(p) = private {
                cx.stage_secret(
                    &mut staged.batch,
                    &SecretName::ssh_ca_key(kind),
                    p.as_bytes(),
                )?;
            }
            staged.put(cf::SSH_CAS, ca_key(kind), &key.record)?;
            staged.changes.push(Change::SshCaPut(SshCaState {
                kind,
                openssh: key.record.openssh.clone(),
            }));
            created.insert(
                format!(
                    "{}_ca",
                    if kind == SshCaKind::User {
                        "user"
                    } else {
                        "host"
                    }
                ),
                serde_json::json!({
                    "algorithm": key.record.algorithm.name(),
                    "key_store": key.record.key.kind(),
                    "fingerprint": key.record.fingerprint,
                }),
            );
            Ok(key)
        };
        let user_ca = load_ca(SshCaKind::User, &mut staged)?;
        let host_ca = load_ca(SshCaKind::Host, &mut staged)?;

        if db
            .get_raw(cf::SSH_GROUPS, cfg.admin_group.as_bytes())?
            .is_none()
        {
            let g = SshGroupRecord {
                name: cfg.admin_group.clone(),
                description: "Keyper Administrators".into(),
                autocreated_for: None,
                created_at: now_unix(),
            };
            staged.put(cf::SSH_GROUPS, g.name.as_bytes(), &g)?;
            staged.changes.push(Change::SshGroupPut(g.state()));
            created.insert("admin_group".into(), cfg.admin_group.clone().into());
        }

        let ssh = Self {
            login_failures: Mutex::new(Buckets::new(
                cfg.login_failures_per_user,
                std::time::Duration::from_secs(cfg.login_refill_secs),
                100_000,
            )),
            cx,
            user_ca,
            host_ca,
            jwt_secret,
            lock: Mutex::new(()),
        };
        if ssh.cx.db().get_raw(cf::SSH_KRL, KRL_KEY)?.is_none() {
            let version = ssh.stage_krl(&mut staged)?;
            created.insert("krl_version".into(), version.into());
        }
        if !created.is_empty() {
            let Staged { batch, changes, .. } = staged;
            // Everything written here was missing when read: fenced on its absence.
            let created_keys: Vec<_> = batch
                .ops()
                .iter()
                .filter_map(|op| match op {
                    sigil_storage::BatchOp::Put { cf, key, .. } => Some((*cf, key.clone())),
                    _ => None,
                })
                .collect();
            let commit = created_keys
                .into_iter()
                .fold(Commit::new(batch), |c, (cf, key)| c.expect_absent(cf, key))
                .replicate(changes)
                .audit(("ssh.init", "ssh", ""), serde_json::Value::Object(created));
            ssh.cx.commit(commit)?;
            tracing::info!(user_ca = %ssh.user_ca.record.fingerprint, host_ca = %ssh.host_ca.record.fingerprint, "SSH key service initialised");
        }
        Ok(ssh)
    }

    fn settings(&self) -> &SshConfig {
        &self.cx.settings().ssh
    }

    fn base(&self) -> &str {
        &self.settings().base_dn
    }

    fn ca(&self, kind: SshCaKind) -> &CaKey {
        match kind {
            SshCaKind::User => &self.user_ca,
            SshCaKind::Host => &self.host_ca,
        }
    }

    /// `/api/userca`: the user CA's public key, one line (`TrustedUserCAKeys`).
    pub fn user_ca(&self) -> &str {
        &self.user_ca.record.openssh
    }

    /// `/api/hostca`: the host CA's public key, one line (`@cert-authority`).
    pub fn host_ca(&self) -> &str {
        &self.host_ca.record.openssh
    }

    /// Group names of `dns` (group DNs of this directory, or bare names), each of which must
    /// exist; sorted, without duplicates.
    fn group_names(&self, field: &str, dns: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(dns.len());
        for dn in dns {
            let name = Dn::parse_cn(dn, OU_GROUPS, self.base())
                .filter(|n| sigil_ssh::lookup::valid_group_name(n))
                .ok_or_else(|| SshError::UnknownGroup(dn.chars().take(256).collect()))?;
            if self
                .cx
                .db()
                .get_raw(cf::SSH_GROUPS, name.as_bytes())?
                .is_none()
            {
                return Err(SshError::UnknownGroup(dn.chars().take(256).collect()));
            }
            out.push(name.to_owned());
        }
        if out.len() > 1024 {
            return Err(SshError::invalid(field, "at most 1024 groups"));
        }
        Ok(sorted(out))
    }

    /// Runs `op` — the reads and checks of one change and its [`Ssh::commit`] — serially with
    /// every other SSH change: under the service's lock, and fenced on `meta/ssh_version` as
    /// `op` found it, so that its commit is written only if no other node committed an SSH
    /// change in between. If one did, `op` runs again (up to the context's retry bound) and
    /// sees that change.
    fn serially<T>(&self, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        retry_conflicts(
            || {
                let _g = lock(&self.lock);
                let read = self.cx.db().get_raw(cf::META, META_SSH_VERSION)?;
                let fence = sigil_storage::Expect {
                    cf: cf::META,
                    key: META_SSH_VERSION.to_vec(),
                    value: read,
                };
                with_fence(Some(fence), &mut op)
            },
            SshError::is_write_conflict,
        )
    }

    /// Commits `staged` with its audit record, regenerating the KRL first if it revokes
    /// anything, and gives `meta/ssh_version` a new value (16 random bytes: only that it
    /// changed matters to [`Ssh::serially`]'s fence). Returns the commit's sequence number.
    fn commit(
        &self,
        mut staged: Staged,
        what: (&str, &str, &str),
        details: serde_json::Value,
    ) -> Result<u64> {
        if staged.is_revoking() {
            self.stage_krl(&mut staged)?;
        }
        let Staged {
            mut batch, changes, ..
        } = staged;
        let version: [u8; 16] = crate::services::otps::random()?;
        batch.put(cf::META, META_SSH_VERSION.to_vec(), version.to_vec());
        Ok(self
            .cx
            .commit(Commit::new(batch).replicate(changes).audit(what, details))?)
    }
}

fn key_store_kind(c: &crate::config::SshCaConfig) -> &'static str {
    match c.key_store {
        crate::config::SshKeyStore::Software => "software",
        crate::config::SshKeyStore::Pkcs11(_) => "pkcs11",
    }
}

#[cfg(test)]
mod tests;
