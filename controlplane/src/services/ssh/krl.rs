//! The OpenSSH KRL (PROTOCOL.krl) of everything revoked: plain keys by SHA-256 (forever),
//! certificates by serial under the CA that signed them (until they expire; an expired
//! certificate is refused by its validity anyway). Regenerated in the batch of every change
//! that revokes something, with the next version (`meta` `ssh_krl_version` + 1, so versions
//! strictly increase across restarts), and replicated as `SshKrlPut`.

use sigil_shared::replication::{Change, SshCaKind, SshKrlState};
use sigil_shared::time::now_unix;
use sigil_ssh::Krl;

use super::{Result, Ssh, SshError, Staged};
use crate::db::ssh::{
    revoked_cert_key, revoked_key_key, RevokedCertRecord, RevokedKeyRecord, KRL_KEY,
    META_KRL_VERSION,
};
use crate::db::{cf, decode, DbError};
use crate::services::error::Internal;

/// The comment inside every KRL Sigil writes.
pub const KRL_COMMENT: &str = "sigil";

impl Ssh {
    /// `/api/krlca`: the current KRL (binary).
    pub fn krl(&self) -> Result<SshKrlState> {
        self.cx.db().get(cf::SSH_KRL, KRL_KEY)?.ok_or_else(|| {
            SshError::Internal(Internal::from(DbError::Corrupt {
                what: "SSH KRL",
                detail: "missing".into(),
            }))
        })
    }

    /// The newest KRL version written (0 before the first).
    fn krl_version(&self) -> Result<u64> {
        Ok(match self.cx.db().get_raw(cf::META, META_KRL_VERSION)? {
            Some(v) => {
                u64::from_be_bytes(v.as_slice().try_into().map_err(|_| DbError::Corrupt {
                    what: "SSH KRL version",
                    detail: format!("{} bytes", v.len()),
                })?)
            }
            None => 0,
        })
    }

    /// Writes the revocations of `staged` and the KRL they give (stored ones plus these)
    /// into it, with the next version; the `SshKrlPut` goes first among its changes. Returns
    /// the new version.
    pub(super) fn stage_krl(&self, staged: &mut Staged) -> Result<u64> {
        let now = now_unix();
        let version = self.krl_version()? + 1;
        let mut krl = Krl::new(version, now.max(0) as u64);
        krl.comment = KRL_COMMENT.into();
        let mut corrupt = None;
        self.cx
            .db()
            .store()
            .scan_prefix(cf::SSH_REVOKED, b"", &mut |k, v| {
                match k.first() {
                    Some(b'k') => match <[u8; 32]>::try_from(&k[1..]) {
                        Ok(h) => krl.revoke_key(h),
                        Err(_) => corrupt = Some("revoked key entry".to_string()),
                    },
                    Some(b's') => match decode::<RevokedCertRecord>(cf::SSH_REVOKED, v) {
                        Ok(r) => add_cert(self, &mut krl, &r, now),
                        Err(e) => corrupt = Some(e.to_string()),
                    },
                    _ => corrupt = Some("unknown revocation entry".to_string()),
                }
                corrupt.is_none()
            })
            .map_err(DbError::from)?;
        if let Some(detail) = corrupt {
            return Err(DbError::Corrupt {
                what: "SSH revocations",
                detail,
            }
            .into());
        }
        let revoked_keys = std::mem::take(&mut staged.revoked_keys);
        for (sha, rec) in &revoked_keys {
            krl.revoke_key(*sha);
            staged.put(cf::SSH_REVOKED, &revoked_key_key(sha), rec)?;
        }
        let revoked_certs = std::mem::take(&mut staged.revoked_certs);
        for rec in &revoked_certs {
            add_cert(self, &mut krl, rec, now);
            staged.put(cf::SSH_REVOKED, &revoked_cert_key(rec.serial), rec)?;
        }
        let bytes = krl.encode().map_err(|e| {
            SshError::Internal(Internal::from(DbError::Encode(format!("KRL: {e}"))))
        })?;
        let state = SshKrlState {
            version,
            krl: bytes,
        };
        staged.put(cf::SSH_KRL, KRL_KEY, &state)?;
        staged.batch.put(
            cf::META,
            META_KRL_VERSION.to_vec(),
            version.to_be_bytes().to_vec(),
        );
        staged.changes.insert(0, Change::SshKrlPut(state));
        Ok(version)
    }
}

/// Lists a revoked certificate under its CA unless it has expired.
fn add_cert(ssh: &Ssh, krl: &mut Krl, r: &RevokedCertRecord, now: i64) {
    if r.valid_before > now && r.serial != 0 {
        let kind: SshCaKind = r.kind;
        krl.revoke_serial(&ssh.ca(kind).blob, r.serial);
    }
}

/// The revocation records of a plain key (for [`Staged`]).
pub(super) fn revoked_key(
    fingerprint: &str,
    owner: String,
    key_id: &str,
    now: i64,
) -> RevokedKeyRecord {
    RevokedKeyRecord {
        fingerprint: fingerprint.into(),
        owner,
        key_id: key_id.into(),
        revoked_at: now,
    }
}
