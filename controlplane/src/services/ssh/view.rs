//! Stored records in Keyper's shapes (`sigil_ssh::keyper`): DNs from `[ssh] base_dn`,
//! `memberOfs` and `hostGroups` as group DNs, `dateExpire` as `YYYYMMDD`, group members as
//! user and host DNs. Never a password or its hash.

use std::collections::BTreeMap;

use sigil_shared::replication::{SshCertEntry, SshKeyEntry};
use sigil_ssh::keyper::{
    format_date_expire, join_principals, Dn, GroupView, HostView, SshCertView, SshKeyView, UserView,
};

use super::{Result, Ssh};
use crate::db::ssh::{SshCertRecord, SshGroupRecord, SshHostRecord, SshUserRecord};
use crate::db::{cf, list_from};

impl Ssh {
    fn group_dns(&self, names: &[String]) -> Vec<String> {
        names.iter().map(|g| Dn::group(self.base(), g)).collect()
    }

    pub(super) fn key_view(&self, k: &SshKeyEntry) -> SshKeyView {
        SshKeyView {
            keyid: Some(k.key_id.clone()),
            name: k.name.clone(),
            key: k.openssh.clone(),
            fingerprint: k.fingerprint.clone(),
            date_expire: k.expires_at.map(format_date_expire),
            host_groups: self.group_dns(&k.host_groups),
        }
    }

    pub(super) fn cert_view(&self, c: &SshCertRecord) -> SshCertView {
        let e: &SshCertEntry = &c.entry;
        SshCertView {
            keyid: Some(e.key_id.clone()),
            name: e.name.clone(),
            key: c.public_key.clone(),
            fingerprint: e.fingerprint.clone(),
            host_groups: self.group_dns(&e.host_groups),
            cert: Some(e.openssh.clone()),
            serial: Some(e.serial),
            principal: Some(join_principals(&e.principals)),
            date_expire: Some(format_date_expire(e.valid_before)),
        }
    }

    pub(super) fn user_view(&self, u: &SshUserRecord) -> UserView {
        UserView {
            account_locked: u.locked,
            cn: u.username.clone(),
            display_name: u.display_name.clone(),
            dn: Dn::user(self.base(), &u.username),
            given_name: u.given_name.clone(),
            mail: u.mail.clone(),
            member_ofs: self.group_dns(&u.groups),
            sn: u.sn.clone(),
            uid: u.username.clone(),
            ssh_public_keys: u.keys.iter().map(|k| self.key_view(k)).collect(),
            ssh_public_certs: u.certs.iter().map(|c| self.cert_view(c)).collect(),
            principal: Some(join_principals(&u.principals)),
            duration: Some(u.duration),
            duration_unit: Some(u.duration_unit),
        }
    }

    pub(super) fn host_view(&self, h: &SshHostRecord) -> HostView {
        HostView {
            cn: h.hostname.clone(),
            description: h.description.clone(),
            dn: Dn::host(self.base(), &h.hostname),
            member_ofs: self.group_dns(&h.groups),
            ssh_public_certs: h.certs.iter().map(|c| self.cert_view(c)).collect(),
            principal: Some(join_principals(&h.principals)),
            duration: Some(h.duration),
            duration_unit: Some(h.duration_unit),
        }
    }

    pub(super) fn group_view(&self, g: &SshGroupRecord, members: Vec<String>) -> GroupView {
        GroupView {
            cn: g.name.clone(),
            description: g.description.clone(),
            dn: Dn::group(self.base(), &g.name),
            members,
        }
    }

    /// Every user and every host, by name.
    pub(super) fn all_users(&self) -> Result<Vec<SshUserRecord>> {
        Ok(list_from(
            self.cx.db().store().as_ref(),
            cf::SSH_USERS,
            b"",
        )?)
    }

    pub(super) fn all_hosts(&self) -> Result<Vec<SshHostRecord>> {
        Ok(list_from(
            self.cx.db().store().as_ref(),
            cf::SSH_HOSTS,
            b"",
        )?)
    }

    /// The members of every group (users, then hosts, each by name), as DNs.
    pub(super) fn members(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for u in self.all_users()? {
            for g in &u.groups {
                out.entry(g.clone())
                    .or_default()
                    .push(Dn::user(self.base(), &u.username));
            }
        }
        for h in self.all_hosts()? {
            for g in &h.groups {
                out.entry(g.clone())
                    .or_default()
                    .push(Dn::host(self.base(), &h.hostname));
            }
        }
        Ok(out)
    }
}
