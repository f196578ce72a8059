//! Public keys and certificates of users and hosts: checking a submitted key
//! (`ParsedKey::parse`, the client's fingerprint, `dateExpire`, host groups, not revoked, not
//! another user's), signing a certificate (principals, validity capped by `[ssh]
//! max_duration_days`, a random serial unique across both CAs, key id
//! `sigil:<user>:<keyid>` or `sigil:host:<host>:<keyid>`), and revoking either.

use sigil_shared::replication::{SshCaKind, SshCertEntry, SshKeyEntry};
use sigil_shared::time::now_unix;
use sigil_ssh::cert::{self, CertKind, CertRequest};
use sigil_ssh::keyper::{
    duration_seconds, parse_date_expire, DurationUnit, SshCertView, SshKeyView,
};
use sigil_ssh::lookup::valid_principal;
use sigil_ssh::ParsedKey;

use super::krl::revoked_key;
use super::{check_text, Result, Ssh, SshError, Staged};
use crate::db::cf;
use crate::db::ssh::{
    owner, revoked_cert_key, revoked_key_key, KeyIndexRecord, RevokedCertRecord, SerialRecord,
    SshCertRecord,
};
use crate::services::otps::random;

/// Longest key or certificate name.
const MAX_NAME: usize = 128;
/// Most keys (and, separately, certificates) one user or host may have.
pub const MAX_ENTRIES: usize = 100;
/// Certificates start this long before they are signed (clock skew between machines).
pub const BACKDATE_SECS: u64 = 60;

/// A fresh entry id (Keyper's `keyid`): 16 hex digits.
fn new_key_id() -> Result<String> {
    Ok(hex::encode(random::<8>()?))
}

/// The key of entry `field` (`ParsedKey::parse`), checked against the client's fingerprint.
fn parse_key(field: &str, line: &str, fingerprint: &str) -> Result<ParsedKey> {
    let key = ParsedKey::parse(line).map_err(|source| SshError::InvalidKey {
        field: field.into(),
        source,
    })?;
    if !fingerprint.is_empty() && fingerprint != key.fingerprint {
        return Err(SshError::FingerprintMismatch {
            field: field.into(),
            actual: key.fingerprint,
        });
    }
    Ok(key)
}

/// Principals of Keyper's `principal` (comma-separated), each a valid principal.
pub(super) fn principals(field: &str, s: &str) -> Result<Vec<String>> {
    let ps = sigil_ssh::keyper::split_principals(s);
    if ps.len() > cert::MAX_PRINCIPALS || !ps.iter().all(|p| valid_principal(p)) {
        return Err(SshError::invalid(
            field,
            "comma-separated principals of letters, digits and _ . @ + $ - (at most 256)",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ps.len());
    for p in ps {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// `duration` × `durationUnit`, checked (at least one unit, no overflow).
pub(super) fn check_duration(duration: u64, unit: DurationUnit) -> Result<()> {
    match duration_seconds(duration, unit) {
        Some(s) if s > 0 && s <= 100 * 366 * 86_400 => Ok(()),
        _ => Err(SshError::invalid(
            "duration",
            "1 or more, at most 100 years",
        )),
    }
}

/// A certificate request checked by [`Ssh::plan_cert`], ready for [`Ssh::sign_cert`].
#[derive(Debug)]
pub(super) struct CertPlan {
    kind: SshCaKind,
    /// The user or host.
    owner: String,
    /// The entry's `name`.
    name: String,
    key: ParsedKey,
    host_groups: Vec<String>,
    principals: Vec<String>,
}

impl Ssh {
    /// Whether the plain key with this SHA-256 was revoked (stored or in this change).
    fn key_revoked(&self, staged: &Staged, sha: &[u8; 32]) -> Result<bool> {
        Ok(staged.revoked_keys.iter().any(|(h, _)| h == sha)
            || self
                .cx
                .db()
                .get_raw(cf::SSH_REVOKED, &revoked_key_key(sha))?
                .is_some())
    }

    /// A new key of user `username` from `view` (no `keyid`): parsed, its fingerprint checked,
    /// `dateExpire` read, host groups known (and, for a user changing their own keys, among
    /// `allowed_groups`), not revoked, not registered to anyone (`existing`: the user's other
    /// keys). Staged: the key index entry.
    pub(super) fn add_key(
        &self,
        staged: &mut Staged,
        username: &str,
        view: &SshKeyView,
        existing: &[SshKeyEntry],
        allowed_groups: Option<&[String]>,
    ) -> Result<SshKeyEntry> {
        let field = "sshPublicKeys";
        check_text("sshPublicKeys.name", &view.name, MAX_NAME, true)?;
        let key = parse_key(field, &view.key, &view.fingerprint)?;
        let expires_at = match view.date_expire.as_deref() {
            None | Some("") => None,
            Some(d) => Some(parse_date_expire(d).ok_or_else(|| {
                SshError::invalid("sshPublicKeys.dateExpire", "YYYYMMDD, a date from 1970")
            })?),
        };
        let host_groups = self.host_groups(&view.host_groups, allowed_groups)?;
        if self.key_revoked(staged, &key.sha256)? {
            return Err(SshError::KeyRevoked(key.fingerprint));
        }
        if staged.added_keys.contains(&key.sha256)
            || existing.iter().any(|k| k.fingerprint == key.fingerprint)
            || self
                .cx
                .db()
                .get_raw(cf::SSH_KEY_INDEX, &key.sha256)?
                .is_some()
        {
            return Err(SshError::KeyRegistered(key.fingerprint));
        }
        let key_id = new_key_id()?;
        staged.added_keys.insert(key.sha256);
        staged.put(
            cf::SSH_KEY_INDEX,
            &key.sha256,
            &KeyIndexRecord {
                username: username.into(),
                key_id: key_id.clone(),
            },
        )?;
        Ok(SshKeyEntry {
            key_id,
            name: view.name.clone(),
            openssh: key.openssh,
            fingerprint: key.fingerprint,
            expires_at,
            host_groups,
        })
    }

    /// Host groups of a key or certificate: known groups; for a user changing their own, each
    /// among the user's own groups.
    fn host_groups(&self, dns: &[String], allowed: Option<&[String]>) -> Result<Vec<String>> {
        let groups = self.group_names("hostGroups", dns)?;
        if let Some(allowed) = allowed {
            if let Some(g) = groups.iter().find(|g| !allowed.contains(g)) {
                return Err(SshError::Forbidden(format!(
                    "hostGroups: {g:?} is not one of your groups"
                )));
            }
        }
        Ok(groups)
    }

    /// Revokes key `k` of user `username`: its SHA-256 joins the revocation set (and the KRL
    /// when `staged` commits); its index entry goes.
    pub(super) fn revoke_key(
        &self,
        staged: &mut Staged,
        username: &str,
        k: &SshKeyEntry,
    ) -> Result<()> {
        let sha = sigil_ssh::key::sha256_of_fingerprint(&k.fingerprint).ok_or_else(|| {
            crate::db::DbError::Corrupt {
                what: "SSH key entry",
                detail: format!("fingerprint of {username}'s key {}", k.key_id),
            }
        })?;
        staged.delete(cf::SSH_KEY_INDEX, &sha);
        staged.revoked_keys.push((
            sha,
            revoked_key(
                &k.fingerprint,
                owner(SshCaKind::User, username),
                &k.key_id,
                now_unix(),
            ),
        ));
        Ok(())
    }

    /// Revokes certificate `c` of `name` (a user or host, per `kind`): its serial joins the
    /// revocation set (and the KRL, under its CA, until it expires).
    pub(super) fn revoke_cert(
        &self,
        staged: &mut Staged,
        kind: SshCaKind,
        name: &str,
        c: &SshCertRecord,
    ) {
        let rec = RevokedCertRecord {
            kind,
            serial: c.entry.serial,
            owner: owner(kind, name),
            key_id: c.entry.key_id.clone(),
            valid_before: c.entry.valid_before,
            revoked_at: now_unix(),
        };
        debug_assert!(!revoked_cert_key(rec.serial).is_empty());
        staged.revoked_certs.push(rec);
    }

    /// A serial no certificate of either CA has (random, not 0). Staged: its index entry.
    fn new_serial(&self, staged: &mut Staged, record: SerialRecord) -> Result<u64> {
        for _ in 0..16 {
            let serial = u64::from_be_bytes(random::<8>()?);
            if serial == 0 || staged.serials.contains(&serial) {
                continue;
            }
            if self
                .cx
                .db()
                .get_raw(cf::SSH_SERIALS, &serial.to_be_bytes())?
                .is_some()
            {
                continue;
            }
            staged.serials.insert(serial);
            staged.put(cf::SSH_SERIALS, &serial.to_be_bytes(), &record)?;
            return Ok(serial);
        }
        Err(crate::services::Internal::Random.into())
    }

    /// Checks a certificate request for `view`'s key (its key, fingerprint, host groups, not
    /// revoked) and its principals: for a user `principals`, for a host its name, then
    /// `principals`. Nothing is signed or staged yet.
    pub(super) fn plan_cert(
        &self,
        staged: &Staged,
        kind: SshCaKind,
        name: &str,
        view: &SshCertView,
        principals: &[String],
        allowed_groups: Option<&[String]>,
    ) -> Result<CertPlan> {
        check_text("sshPublicCerts.name", &view.name, MAX_NAME, true)?;
        let key = parse_key("sshPublicCerts", &view.key, &view.fingerprint)?;
        let host_groups = self.host_groups(&view.host_groups, allowed_groups)?;
        if self.key_revoked(staged, &key.sha256)? {
            return Err(SshError::KeyRevoked(key.fingerprint));
        }
        let mut all = Vec::new();
        if kind == SshCaKind::Host {
            all.push(name.to_owned());
        }
        for p in principals {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        if all.is_empty() {
            return Err(SshError::invalid(
                "principal",
                "the user has no principal to certify",
            ));
        }
        Ok(CertPlan {
            kind,
            owner: name.to_owned(),
            name: view.name.clone(),
            key,
            host_groups,
            principals: all,
        })
    }

    /// Signs a planned certificate, valid from a minute ago for `duration` (capped by
    /// `[ssh] max_duration_days`), with a fresh serial (staged in the serial index).
    pub(super) fn sign_cert(
        &self,
        staged: &mut Staged,
        plan: CertPlan,
        duration: (u64, DurationUnit),
    ) -> Result<SshCertRecord> {
        let CertPlan {
            kind,
            owner: name,
            name: entry_name,
            key,
            host_groups,
            principals: all,
        } = plan;
        let name = name.as_str();
        let field = "sshPublicCerts";
        let key_id = new_key_id()?;
        let cert_key_id = match kind {
            SshCaKind::User => format!("sigil:{name}:{key_id}"),
            SshCaKind::Host => format!("sigil:host:{name}:{key_id}"),
        };
        let serial = self.new_serial(
            staged,
            SerialRecord {
                kind,
                owner: owner(kind, name),
                key_id: key_id.clone(),
            },
        )?;
        let secs = duration_seconds(duration.0, duration.1)
            .unwrap_or(u64::MAX)
            .min(self.settings().max_duration_secs())
            .max(1);
        let now = now_unix().max(0) as u64;
        let req = CertRequest {
            kind: match kind {
                SshCaKind::User => CertKind::User,
                SshCaKind::Host => CertKind::Host,
            },
            public_key: &key,
            serial,
            key_id: cert_key_id,
            principals: all.clone(),
            valid_after: now.saturating_sub(BACKDATE_SECS),
            valid_before: now.saturating_add(secs),
        };
        let signed = cert::sign(&req, self.ca(kind).signer.as_ref()).map_err(|e| match e {
            sigil_ssh::SshError::Signer(inner) => SshError::SignerUnavailable(inner.to_string()),
            sigil_ssh::SshError::InvalidRequest(why) => SshError::invalid(field, why),
            other => SshError::Internal(crate::services::Internal::Sign(
                crate::crypto::SignError::Failed(other.to_string()),
            )),
        })?;
        Ok(SshCertRecord {
            entry: SshCertEntry {
                key_id,
                name: entry_name,
                serial,
                openssh: signed.openssh,
                fingerprint: signed.fingerprint,
                principals: signed.principals,
                valid_after: signed.valid_after as i64,
                valid_before: signed.valid_before as i64,
                host_groups,
            },
            public_key: key.openssh,
        })
    }
}
