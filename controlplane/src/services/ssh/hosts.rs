//! Keyper hosts: create (`POST /hosts`: description, groups, principals, duration, host
//! certificates; Keyper's per-host group `<host>` — "<host> Autocreated Group" — is created
//! and joined when no group of that name exists), update (`PUT /hosts/{h}`: fields given
//! replace; a certificate entry with `keyid` revokes it, one without is signed), delete
//! (its certificates revoked, its autocreated group deleted), read.

use sigil_shared::replication::{Change, SshCaKind};
use sigil_shared::time::now_unix;
use sigil_ssh::keyper::{Dn, HostUpdate, HostView, NewHost, SshCertView, OU_PEOPLE};
use sigil_ssh::lookup::{valid_group_name, valid_hostname};

use super::groups::MAX_DESCRIPTION;
use super::keys::{check_duration, principals, MAX_ENTRIES};
use super::{check_text, Result, Ssh, SshError, Staged};
use crate::db::cf;
use crate::db::ssh::{SshGroupRecord, SshHostRecord};

fn check_hostname(h: &str) -> Result<()> {
    if valid_hostname(h) {
        Ok(())
    } else {
        Err(SshError::invalid(
            "cn",
            "a host name (RFC 1123): dot-separated labels of letters, digits and '-'",
        ))
    }
}

impl Ssh {
    fn load_host(&self, hostname: &str) -> Result<SshHostRecord> {
        self.cx
            .db()
            .get(cf::SSH_HOSTS, hostname.as_bytes())?
            .ok_or_else(|| SshError::HostNotFound(hostname.chars().take(253).collect()))
    }

    pub fn list_hosts(&self) -> Result<Vec<HostView>> {
        Ok(self
            .all_hosts()?
            .iter()
            .map(|h| self.host_view(h))
            .collect())
    }

    pub fn get_host(&self, hostname: &str) -> Result<HostView> {
        Ok(self.host_view(&self.load_host(hostname)?))
    }

    /// User names of `owners` (user DNs or names), each of which must exist.
    fn owners(&self, dns: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for dn in dns {
            let unknown = || SshError::UnknownUser(dn.chars().take(256).collect());
            let u = Dn::parse_cn(dn, OU_PEOPLE, self.base()).ok_or_else(unknown)?;
            if self.cx.db().get_raw(cf::SSH_USERS, u.as_bytes())?.is_none() {
                return Err(unknown());
            }
            out.push(u.to_owned());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Signs or revokes host certificates per Keyper's entries.
    fn apply_host_certs(
        &self,
        staged: &mut Staged,
        h: &mut SshHostRecord,
        certs: &[SshCertView],
        signed: &mut Vec<u64>,
        revoked: &mut Vec<u64>,
    ) -> Result<()> {
        for c in certs.iter().filter(|c| c.keyid.is_some()) {
            let id = c.keyid.as_deref().unwrap_or_default();
            let i = h
                .certs
                .iter()
                .position(|e| e.entry.key_id == id)
                .ok_or_else(|| SshError::EntryNotFound {
                    what: "certificate",
                    id: id.chars().take(64).collect(),
                    owner: h.hostname.clone(),
                })?;
            let entry = h.certs.remove(i);
            self.revoke_cert(staged, SshCaKind::Host, &h.hostname, &entry);
            revoked.push(entry.entry.serial);
        }
        let plans = certs
            .iter()
            .filter(|c| c.keyid.is_none())
            .map(|c| self.plan_cert(staged, SshCaKind::Host, &h.hostname, c, &h.principals, None))
            .collect::<Result<Vec<_>>>()?;
        if h.certs.len() + plans.len() > MAX_ENTRIES {
            return Err(SshError::invalid(
                "sshPublicCerts",
                format!("at most {MAX_ENTRIES} certificates"),
            ));
        }
        for plan in plans {
            let cert = self.sign_cert(staged, plan, (h.duration, h.duration_unit))?;
            signed.push(cert.entry.serial);
            h.certs.push(cert);
        }
        Ok(())
    }

    /// `POST /hosts`. Returns the host and the commit's sequence number.
    pub fn create_host(&self, req: NewHost) -> Result<(HostView, u64)> {
        check_hostname(&req.cn)?;
        let description = req.description.clone().unwrap_or_else(|| req.cn.clone());
        check_text("description", &description, MAX_DESCRIPTION, true)?;
        let principals = match &req.principal {
            Some(p) => principals("principal", p)?,
            None => Vec::new(),
        };
        let duration = req.duration.unwrap_or(self.settings().default_duration);
        let unit = req
            .duration_unit
            .unwrap_or(self.settings().default_duration_unit);
        check_duration(duration, unit)?;
        if req.ssh_public_certs.iter().any(|c| c.keyid.is_some()) {
            return Err(SshError::invalid(
                "sshPublicCerts",
                "keyid names an existing certificate: not in a new host",
            ));
        }
        self.serially(|| {
            let req = req.clone();
            let description = description.clone();
            let principals = principals.clone();
            if self
                .cx
                .db()
                .get_raw(cf::SSH_HOSTS, req.cn.as_bytes())?
                .is_some()
            {
                return Err(SshError::HostExists(req.cn));
            }
            let mut groups = self.group_names("memberOfs", &req.member_ofs)?;
            let mut staged = Staged::default();
            let now = now_unix();
            let mut autocreated = false;
            if valid_group_name(&req.cn) {
                if self
                    .cx
                    .db()
                    .get_raw(cf::SSH_GROUPS, req.cn.as_bytes())?
                    .is_none()
                {
                    let g = SshGroupRecord {
                        name: req.cn.clone(),
                        description: format!("{} Autocreated Group", req.cn),
                        autocreated_for: Some(req.cn.clone()),
                        created_at: now,
                    };
                    staged.put(cf::SSH_GROUPS, g.name.as_bytes(), &g)?;
                    staged.changes.push(Change::SshGroupPut(g.state()));
                    autocreated = true;
                }
                if !groups.contains(&req.cn) {
                    groups.push(req.cn.clone());
                    groups.sort();
                }
            }
            let mut h = SshHostRecord {
                hostname: req.cn.clone(),
                description,
                groups,
                principals,
                owners: Vec::new(),
                duration,
                duration_unit: unit,
                certs: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            let (mut signed, mut revoked) = (Vec::new(), Vec::new());
            self.apply_host_certs(
                &mut staged,
                &mut h,
                &req.ssh_public_certs,
                &mut signed,
                &mut revoked,
            )?;
            self.stage_host(&mut staged, &h)?;
            let details = serde_json::json!({
                "groups": h.groups, "principals": h.principals, "certs_signed": signed,
                "autocreated_group": autocreated,
            });
            let seq = self.commit(
                staged,
                ("ssh.host.create", "ssh_host", &h.hostname),
                details,
            )?;
            Ok((self.host_view(&h), seq))
        })
    }

    /// `PUT /hosts/{hostname}`. Returns the host and the commit's sequence number.
    pub fn update_host(&self, hostname: &str, req: HostUpdate) -> Result<(HostView, u64)> {
        if let Some(d) = &req.description {
            check_text("description", d, MAX_DESCRIPTION, true)?;
        }
        let new_principals = req
            .principal
            .as_deref()
            .map(|p| principals("principal", p))
            .transpose()?;
        self.serially(|| {
            let req = req.clone();
            let new_principals = new_principals.clone();
            let old = self.load_host(hostname)?;
            let mut h = old.clone();
            if let Some(d) = req.description {
                h.description = d;
            }
            if let Some(dns) = &req.member_ofs {
                h.groups = self.group_names("memberOfs", dns)?;
            }
            if let Some(p) = new_principals {
                h.principals = p;
            }
            if let Some(o) = &req.owners {
                h.owners = self.owners(o)?;
            }
            if let Some(d) = req.duration {
                h.duration = d;
            }
            if let Some(u) = req.duration_unit {
                h.duration_unit = u;
            }
            check_duration(h.duration, h.duration_unit)?;
            let mut staged = Staged::default();
            let (mut signed, mut revoked) = (Vec::new(), Vec::new());
            self.apply_host_certs(
                &mut staged,
                &mut h,
                req.ssh_public_certs.as_deref().unwrap_or_default(),
                &mut signed,
                &mut revoked,
            )?;
            h.updated_at = now_unix();
            self.stage_host(&mut staged, &h)?;
            let details = serde_json::json!({
                "description_changed": old.description != h.description,
                "groups": h.groups, "principals": h.principals, "owners": h.owners,
                "certs_signed": signed, "certs_revoked": revoked,
            });
            let only_revoked = signed.is_empty()
                && !revoked.is_empty()
                && old.description == h.description
                && old.groups == h.groups
                && old.principals == h.principals
                && old.owners == h.owners
                && (old.duration, old.duration_unit) == (h.duration, h.duration_unit);
            let action = if only_revoked {
                "ssh.key.revoke"
            } else {
                "ssh.host.update"
            };
            let seq = self.commit(staged, (action, "ssh_host", hostname), details)?;
            Ok((self.host_view(&h), seq))
        })
    }

    /// `DELETE /hosts/{hostname}`: its certificates revoked, its autocreated group deleted.
    /// Returns the commit's sequence number.
    pub fn delete_host(&self, hostname: &str) -> Result<u64> {
        self.serially(|| {
            let h = self.load_host(hostname)?;
            let mut staged = Staged::default();
            for c in &h.certs {
                self.revoke_cert(&mut staged, SshCaKind::Host, hostname, c);
            }
            let own_group: Option<SshGroupRecord> =
                self.cx.db().get(cf::SSH_GROUPS, hostname.as_bytes())?;
            let group_deleted = match own_group {
                Some(g)
                    if g.autocreated_for.as_deref() == Some(hostname)
                        && g.name != self.settings().admin_group =>
                {
                    self.stage_group_delete(&mut staged, &g.name, Some(hostname))?;
                    true
                }
                _ => false,
            };
            staged.delete(cf::SSH_HOSTS, hostname.as_bytes());
            staged.changes.push(Change::SshHostDelete {
                hostname: hostname.into(),
            });
            let details = serde_json::json!({
                "certs_revoked": h.certs.iter().map(|c| c.entry.serial).collect::<Vec<_>>(),
                "group_deleted": group_deleted,
            });
            self.commit(staged, ("ssh.host.delete", "ssh_host", hostname), details)
        })
    }
}
