//! Keyper users: create (`POST /users`: profile, password, groups, principals, duration,
//! keys and certificates), update (`PUT /users/{u}`: fields given replace; a key or
//! certificate entry with `keyid` revokes it, one without adds it), delete (every key and
//! certificate revoked), read. A user changing their own record may change only their
//! password, keys and certificates, with host groups among their own groups.

use sigil_shared::replication::{Change, SshCaKind};
use sigil_shared::time::now_unix;
use sigil_ssh::keyper::{NewUser, SshCertView, SshKeyView, UserUpdate, UserView};
use sigil_ssh::lookup::valid_username;

use super::keys::{check_duration, principals, MAX_ENTRIES};
use super::{check_text, password, Caller, Result, Ssh, SshError, Staged};
use crate::db::cf;
use crate::db::ssh::SshUserRecord;

/// Longest profile field (`givenName`, `sn`, `displayName`, `mail`).
const MAX_FIELD: usize = 256;

fn check_username(u: &str) -> Result<()> {
    if valid_username(u) {
        Ok(())
    } else {
        Err(SshError::invalid(
            "cn",
            "a login name: 1 to 32 of a-z 0-9 _ - . starting with a letter or _",
        ))
    }
}

fn check_profile(
    given_name: Option<&str>,
    sn: Option<&str>,
    display_name: Option<&str>,
    mail: Option<&str>,
) -> Result<()> {
    for (field, v, empty_ok) in [
        ("givenName", given_name, false),
        ("sn", sn, false),
        ("displayName", display_name, true),
        ("mail", mail, true),
    ] {
        if let Some(v) = v {
            check_text(field, v, MAX_FIELD, empty_ok)?;
        }
    }
    Ok(())
}

/// What a change to a user's keys and certificates did, for its audit record.
#[derive(Debug, Default)]
struct KeyChanges {
    added: Vec<String>,
    revoked: Vec<String>,
    signed: Vec<u64>,
    certs_revoked: Vec<u64>,
}

impl KeyChanges {
    fn only_revocations(&self) -> bool {
        self.added.is_empty()
            && self.signed.is_empty()
            && !(self.revoked.is_empty() && self.certs_revoked.is_empty())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "keys_added": self.added, "keys_revoked": self.revoked,
            "certs_signed": self.signed, "certs_revoked": self.certs_revoked,
        })
    }
}

impl Ssh {
    fn load_user(&self, username: &str) -> Result<SshUserRecord> {
        self.cx
            .db()
            .get(cf::SSH_USERS, username.as_bytes())?
            .ok_or_else(|| SshError::UserNotFound(username.chars().take(64).collect()))
    }

    /// The user record of `username`, if any (for authentication).
    pub(super) fn find_user(&self, username: &str) -> Result<Option<SshUserRecord>> {
        if !valid_username(username) {
            return Ok(None);
        }
        Ok(self.cx.db().get(cf::SSH_USERS, username.as_bytes())?)
    }

    /// Whether `u` is a Keyper administrator (a member of `[ssh] admin_group`).
    pub(super) fn is_admin(&self, u: &SshUserRecord) -> bool {
        u.groups.contains(&self.settings().admin_group)
    }

    pub fn list_users(&self) -> Result<Vec<UserView>> {
        Ok(self
            .all_users()?
            .iter()
            .map(|u| self.user_view(u))
            .collect())
    }

    /// User `username` (a user may read only themselves).
    pub fn get_user(&self, caller: &Caller, username: &str) -> Result<UserView> {
        self_only(caller, username)?;
        Ok(self.user_view(&self.load_user(username)?))
    }

    /// Applies `keys` and `certs` (Keyper's entries: `keyid` revokes, none adds) to `u`.
    fn apply_entries(
        &self,
        staged: &mut Staged,
        u: &mut SshUserRecord,
        keys: &[SshKeyView],
        certs: &[SshCertView],
        allowed_groups: Option<&[String]>,
        done: &mut KeyChanges,
    ) -> Result<()> {
        // Revocations first, so a request may replace a key (not by itself: revoked stays).
        for k in keys.iter().filter(|k| k.keyid.is_some()) {
            let id = k.keyid.as_deref().unwrap_or_default();
            let i = u.keys.iter().position(|e| e.key_id == id).ok_or_else(|| {
                SshError::EntryNotFound {
                    what: "key",
                    id: id.chars().take(64).collect(),
                    owner: u.username.clone(),
                }
            })?;
            let entry = u.keys.remove(i);
            self.revoke_key(staged, &u.username, &entry)?;
            done.revoked.push(entry.fingerprint);
        }
        for c in certs.iter().filter(|c| c.keyid.is_some()) {
            let id = c.keyid.as_deref().unwrap_or_default();
            let i = u
                .certs
                .iter()
                .position(|e| e.entry.key_id == id)
                .ok_or_else(|| SshError::EntryNotFound {
                    what: "certificate",
                    id: id.chars().take(64).collect(),
                    owner: u.username.clone(),
                })?;
            let entry = u.certs.remove(i);
            self.revoke_cert(staged, SshCaKind::User, &u.username, &entry);
            done.certs_revoked.push(entry.entry.serial);
        }
        // Everything checked before anything is signed.
        let plans = certs
            .iter()
            .filter(|c| c.keyid.is_none())
            .map(|c| {
                self.plan_cert(
                    staged,
                    SshCaKind::User,
                    &u.username,
                    c,
                    &u.principals,
                    allowed_groups,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        for k in keys.iter().filter(|k| k.keyid.is_none()) {
            let entry = self.add_key(staged, &u.username, k, &u.keys, allowed_groups)?;
            done.added.push(entry.fingerprint.clone());
            u.keys.push(entry);
        }
        if u.keys.len() > MAX_ENTRIES || u.certs.len() + plans.len() > MAX_ENTRIES {
            return Err(SshError::invalid(
                "sshPublicKeys",
                format!("at most {MAX_ENTRIES} keys and {MAX_ENTRIES} certificates"),
            ));
        }
        for plan in plans {
            let cert = self.sign_cert(staged, plan, (u.duration, u.duration_unit))?;
            done.signed.push(cert.entry.serial);
            u.certs.push(cert);
        }
        Ok(())
    }

    /// `POST /users`. Returns the user and the commit's sequence number.
    pub fn create_user(&self, req: NewUser) -> Result<(UserView, u64)> {
        check_username(&req.cn)?;
        check_profile(
            Some(&req.given_name),
            Some(&req.sn),
            req.display_name.as_deref(),
            req.mail.as_deref(),
        )?;
        password::check(
            &req.user_password,
            Some(&req.confirm_password),
            self.settings().min_password_length,
        )?;
        let principals = match &req.principal {
            Some(p) => principals("principal", p)?,
            None => vec![req.cn.clone()],
        };
        let duration = req.duration.unwrap_or(self.settings().default_duration);
        let unit = req
            .duration_unit
            .unwrap_or(self.settings().default_duration_unit);
        check_duration(duration, unit)?;
        if req.ssh_public_keys.iter().any(|k| k.keyid.is_some())
            || req.ssh_public_certs.iter().any(|c| c.keyid.is_some())
        {
            return Err(SshError::invalid(
                "sshPublicKeys",
                "keyid names an existing key: not in a new user",
            ));
        }
        // The slow hash before the lock.
        let hash = password::hash(&req.user_password)?;
        self.serially(|| {
            let req = req.clone();
            let principals = principals.clone();
            let hash = hash.clone();
            if self.find_user(&req.cn)?.is_some() {
                return Err(SshError::UserExists(req.cn));
            }
            let groups = self.group_names("memberOfs", &req.member_ofs)?;
            let now = now_unix();
            let mut u = SshUserRecord {
                username: req.cn.clone(),
                given_name: req.given_name,
                sn: req.sn,
                display_name: req.display_name,
                mail: req.mail,
                locked: req.account_locked.unwrap_or(false),
                groups,
                principals,
                duration,
                duration_unit: unit,
                password: Some(hash),
                keys: Vec::new(),
                certs: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            let mut staged = Staged::default();
            let mut done = KeyChanges::default();
            self.apply_entries(
                &mut staged,
                &mut u,
                &req.ssh_public_keys,
                &req.ssh_public_certs,
                None,
                &mut done,
            )?;
            staged.put(cf::SSH_USERS, u.username.as_bytes(), &u)?;
            staged.changes.push(Change::SshUserPut(u.state()));
            let mut details = done.json();
            details["groups"] = u.groups.clone().into();
            details["principals"] = u.principals.clone().into();
            details["locked"] = u.locked.into();
            let seq = self.commit(
                staged,
                ("ssh.user.create", "ssh_user", &u.username),
                details,
            )?;
            Ok((self.user_view(&u), seq))
        })
    }

    /// `PUT /users/{username}`. A user changing themselves may change only their password,
    /// keys and certificates. Returns the user and the commit's sequence number.
    pub fn update_user(
        &self,
        caller: &Caller,
        username: &str,
        req: UserUpdate,
    ) -> Result<(UserView, u64)> {
        self_only(caller, username)?;
        check_profile(
            req.given_name.as_deref(),
            req.sn.as_deref(),
            req.display_name.as_deref(),
            req.mail.as_deref(),
        )?;
        let hash = match &req.user_password {
            Some(p) => {
                password::check(
                    p,
                    req.confirm_password.as_deref(),
                    self.settings().min_password_length,
                )?;
                Some(password::hash(p)?)
            }
            None => None,
        };
        let new_principals = req
            .principal
            .as_deref()
            .map(|p| principals("principal", p))
            .transpose()?;
        self.serially(|| {
            let req = req.clone();
            let new_principals = new_principals.clone();
            let hash = hash.clone();
            let old = self.load_user(username)?;
            let mut u = old.clone();
            if let Some(v) = req.given_name {
                u.given_name = v;
            }
            if let Some(v) = req.sn {
                u.sn = v;
            }
            if let Some(v) = req.display_name {
                u.display_name = Some(v);
            }
            if let Some(v) = req.mail {
                u.mail = Some(v);
            }
            if let Some(v) = req.account_locked {
                u.locked = v;
            }
            if let Some(dns) = &req.member_ofs {
                u.groups = self.group_names("memberOfs", dns)?;
            }
            if let Some(p) = new_principals {
                u.principals = p;
            }
            if let Some(d) = req.duration {
                u.duration = d;
            }
            if let Some(unit) = req.duration_unit {
                u.duration_unit = unit;
            }
            check_duration(u.duration, u.duration_unit)?;
            let own = matches!(caller, Caller::User(_));
            if own && !same_admin_fields(&old, &u) {
                return Err(SshError::Forbidden(
                    "you may change only your password, keys and certificates".into(),
                ));
            }
            let password_changed = hash.is_some();
            if let Some(h) = hash {
                u.password = Some(h);
            }
            let mut staged = Staged::default();
            let mut done = KeyChanges::default();
            let allowed = own.then(|| old.groups.clone());
            self.apply_entries(
                &mut staged,
                &mut u,
                req.ssh_public_keys.as_deref().unwrap_or_default(),
                req.ssh_public_certs.as_deref().unwrap_or_default(),
                allowed.as_deref(),
                &mut done,
            )?;
            u.updated_at = now_unix();
            staged.put(cf::SSH_USERS, u.username.as_bytes(), &u)?;
            staged.changes.push(Change::SshUserPut(u.state()));
            let mut details = done.json();
            details["changed"] = changed_fields(&old, &u, password_changed).into();
            let action = if done.only_revocations() && details["changed"] == serde_json::json!([]) {
                "ssh.key.revoke"
            } else {
                "ssh.user.update"
            };
            let seq = self.commit(staged, (action, "ssh_user", username), details)?;
            Ok((self.user_view(&u), seq))
        })
    }

    /// `DELETE /users/{username}`: every key and certificate of the user revoked. Returns the
    /// commit's sequence number.
    pub fn delete_user(&self, username: &str) -> Result<u64> {
        self.serially(|| {
            let u = self.load_user(username)?;
            let mut staged = Staged::default();
            for k in &u.keys {
                self.revoke_key(&mut staged, username, k)?;
            }
            for c in &u.certs {
                self.revoke_cert(&mut staged, SshCaKind::User, username, c);
            }
            // No host keeps it as an owner (owners are not replicated).
            for mut h in self.all_hosts()? {
                if h.owners.iter().any(|o| o == username) {
                    h.owners.retain(|o| o != username);
                    staged.put(cf::SSH_HOSTS, h.hostname.as_bytes(), &h)?;
                }
            }
            staged.delete(cf::SSH_USERS, username.as_bytes());
            staged.changes.push(Change::SshUserDelete {
                username: username.into(),
            });
            let details = serde_json::json!({
                "keys_revoked": u.keys.iter().map(|k| k.fingerprint.clone()).collect::<Vec<_>>(),
                "certs_revoked": u.certs.iter().map(|c| c.entry.serial).collect::<Vec<_>>(),
            });
            self.commit(staged, ("ssh.user.delete", "ssh_user", username), details)
        })
    }
}

/// A user may act on themselves only.
fn self_only(caller: &Caller, username: &str) -> Result<()> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::User(u) if u == username => Ok(()),
        Caller::User(_) => Err(SshError::Forbidden(
            "a user may read and change only their own account".into(),
        )),
    }
}

/// Whether what only administrators may change is unchanged.
fn same_admin_fields(a: &SshUserRecord, b: &SshUserRecord) -> bool {
    a.given_name == b.given_name
        && a.sn == b.sn
        && a.display_name == b.display_name
        && a.mail == b.mail
        && a.locked == b.locked
        && a.groups == b.groups
        && a.principals == b.principals
        && a.duration == b.duration
        && a.duration_unit == b.duration_unit
}

/// Names of the changed fields (Keyper's), for the audit record; never values of secrets.
fn changed_fields(a: &SshUserRecord, b: &SshUserRecord, password: bool) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (name, changed) in [
        ("givenName", a.given_name != b.given_name),
        ("sn", a.sn != b.sn),
        ("displayName", a.display_name != b.display_name),
        ("mail", a.mail != b.mail),
        ("accountLocked", a.locked != b.locked),
        ("memberOfs", a.groups != b.groups),
        ("principal", a.principals != b.principals),
        (
            "duration",
            a.duration != b.duration || a.duration_unit != b.duration_unit,
        ),
        ("userPassword", password),
    ] {
        if changed {
            out.push(name);
        }
    }
    out
}
