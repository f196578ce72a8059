//! Keyper groups: a name and a description; membership is stored on the users and hosts
//! (their `groups`), so a group's `members` are rendered from them and changing `members`
//! rewrites those users and hosts (each an `SshUserPut`/`SshHostPut`). Deleting a group
//! removes it from every member and from every key's and certificate's host groups; the
//! admin group cannot be deleted.

use std::collections::BTreeSet;

use sigil_shared::replication::Change;
use sigil_shared::time::now_unix;
use sigil_ssh::keyper::{Dn, GroupUpdate, GroupView, NewGroup, OU_HOSTS, OU_PEOPLE};
use sigil_ssh::lookup::valid_group_name;

use super::{check_text, Result, Ssh, SshError, Staged};
use crate::db::cf;
use crate::db::ssh::{SshGroupRecord, SshHostRecord, SshUserRecord};

/// Longest description.
pub const MAX_DESCRIPTION: usize = 1024;

fn check_name(name: &str) -> Result<()> {
    if valid_group_name(name) {
        Ok(())
    } else {
        Err(SshError::invalid(
            "cn",
            "a group name: 1 to 64 letters, digits, '_', '.' or '-'",
        ))
    }
}

/// Users and hosts named by member DNs.
#[derive(Debug, Default)]
struct Members {
    users: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

/// Adds `group` to `groups` (sorted) or removes it; true if that changed anything.
fn set_member(groups: &mut Vec<String>, group: &str, member: bool) -> bool {
    match (groups.iter().position(|g| g == group), member) {
        (None, true) => {
            groups.push(group.to_owned());
            groups.sort();
            true
        }
        (Some(i), false) => {
            groups.remove(i);
            true
        }
        _ => false,
    }
}

impl Ssh {
    fn load_group(&self, name: &str) -> Result<SshGroupRecord> {
        self.cx
            .db()
            .get(cf::SSH_GROUPS, name.as_bytes())?
            .ok_or_else(|| SshError::GroupNotFound(name.chars().take(64).collect()))
    }

    /// The users and hosts `dns` name (user DNs, host DNs, or bare names: users first), each
    /// of which must exist.
    fn parse_members(&self, dns: &[String]) -> Result<Members> {
        let mut m = Members::default();
        let db = self.cx.db();
        for dn in dns {
            let unknown = || SshError::UnknownMember(dn.chars().take(256).collect());
            if let Some(u) = Dn::parse_cn(dn, OU_PEOPLE, self.base()) {
                if db.get_raw(cf::SSH_USERS, u.as_bytes())?.is_some() {
                    m.users.insert(u.to_owned());
                    continue;
                }
            }
            match Dn::parse_cn(dn, OU_HOSTS, self.base()) {
                Some(h) if db.get_raw(cf::SSH_HOSTS, h.as_bytes())?.is_some() => {
                    m.hosts.insert(h.to_owned());
                }
                _ => return Err(unknown()),
            }
        }
        Ok(m)
    }

    /// Stages group `name`'s membership as exactly `m` (every user and host rewritten whose
    /// membership changes). Returns (users, hosts) changed.
    fn stage_membership(
        &self,
        staged: &mut Staged,
        name: &str,
        m: &Members,
    ) -> Result<(usize, usize)> {
        let now = now_unix();
        let mut changed = (0, 0);
        for mut u in self.all_users()? {
            if set_member(&mut u.groups, name, m.users.contains(&u.username)) {
                u.updated_at = now;
                self.stage_user(staged, &u)?;
                changed.0 += 1;
            }
        }
        for mut h in self.all_hosts()? {
            if set_member(&mut h.groups, name, m.hosts.contains(&h.hostname)) {
                h.updated_at = now;
                self.stage_host(staged, &h)?;
                changed.1 += 1;
            }
        }
        Ok(changed)
    }

    pub(super) fn stage_user(&self, staged: &mut Staged, u: &SshUserRecord) -> Result<()> {
        staged.put(cf::SSH_USERS, u.username.as_bytes(), u)?;
        staged.changes.push(Change::SshUserPut(u.state()));
        Ok(())
    }

    pub(super) fn stage_host(&self, staged: &mut Staged, h: &SshHostRecord) -> Result<()> {
        staged.put(cf::SSH_HOSTS, h.hostname.as_bytes(), h)?;
        staged.changes.push(Change::SshHostPut(h.state()));
        Ok(())
    }

    /// Stages the deletion of group `name`: removed from every user and host, and from every
    /// key's and certificate's host groups; `skip_host` is a host being deleted in the same
    /// change. Returns how many users and hosts changed.
    pub(super) fn stage_group_delete(
        &self,
        staged: &mut Staged,
        name: &str,
        skip_host: Option<&str>,
    ) -> Result<(usize, usize)> {
        let now = now_unix();
        let strip = |groups: &mut Vec<String>| -> bool {
            let before = groups.len();
            groups.retain(|g| g != name);
            groups.len() != before
        };
        let mut changed = (0, 0);
        for mut u in self.all_users()? {
            let mut any = strip(&mut u.groups);
            for k in &mut u.keys {
                any |= strip(&mut k.host_groups);
            }
            for c in &mut u.certs {
                any |= strip(&mut c.entry.host_groups);
            }
            if any {
                u.updated_at = now;
                self.stage_user(staged, &u)?;
                changed.0 += 1;
            }
        }
        for mut h in self.all_hosts()? {
            if skip_host == Some(h.hostname.as_str()) {
                continue;
            }
            let mut any = strip(&mut h.groups);
            for c in &mut h.certs {
                any |= strip(&mut c.entry.host_groups);
            }
            if any {
                h.updated_at = now;
                self.stage_host(staged, &h)?;
                changed.1 += 1;
            }
        }
        staged.delete(cf::SSH_GROUPS, name.as_bytes());
        staged
            .changes
            .push(Change::SshGroupDelete { name: name.into() });
        Ok(changed)
    }

    pub fn list_groups(&self) -> Result<Vec<GroupView>> {
        let mut members = self.members()?;
        let groups: Vec<SshGroupRecord> =
            crate::db::list_from(self.cx.db().store().as_ref(), cf::SSH_GROUPS, b"")?;
        Ok(groups
            .iter()
            .map(|g| self.group_view(g, members.remove(&g.name).unwrap_or_default()))
            .collect())
    }

    pub fn get_group(&self, name: &str) -> Result<GroupView> {
        let g = self.load_group(name)?;
        let members = self.members()?.remove(name).unwrap_or_default();
        Ok(self.group_view(&g, members))
    }

    /// `POST /groups`: a new group with `members` (user and host DNs). Returns the group and
    /// the commit's sequence number.
    pub fn create_group(&self, req: NewGroup) -> Result<(GroupView, u64)> {
        check_name(&req.cn)?;
        let description = req.description.clone().unwrap_or_default();
        check_text("description", &description, MAX_DESCRIPTION, true)?;
        self.serially(|| {
            let req = req.clone();
            let description = description.clone();
            if self
                .cx
                .db()
                .get_raw(cf::SSH_GROUPS, req.cn.as_bytes())?
                .is_some()
            {
                return Err(SshError::GroupExists(req.cn));
            }
            let members = self.parse_members(&req.members)?;
            let g = SshGroupRecord {
                name: req.cn.clone(),
                description,
                autocreated_for: None,
                created_at: now_unix(),
            };
            let mut staged = Staged::default();
            staged.put(cf::SSH_GROUPS, g.name.as_bytes(), &g)?;
            staged.changes.push(Change::SshGroupPut(g.state()));
            self.stage_membership(&mut staged, &g.name, &members)?;
            let details = serde_json::json!({
                "description": g.description, "users": members.users, "hosts": members.hosts,
            });
            let seq = self.commit(staged, ("ssh.group.create", "ssh_group", &g.name), details)?;
            let view = self.get_group(&g.name)?;
            Ok((view, seq))
        })
    }

    /// `PUT /groups/{name}`: description and, when given, exactly these members. Returns the
    /// group and the commit's sequence number.
    pub fn update_group(&self, name: &str, req: GroupUpdate) -> Result<(GroupView, u64)> {
        if let Some(d) = &req.description {
            check_text("description", d, MAX_DESCRIPTION, true)?;
        }
        self.serially(|| {
            let req = req.clone();
            let mut g = self.load_group(name)?;
            let mut staged = Staged::default();
            let mut details = serde_json::json!({});
            if let Some(d) = req.description {
                details["description"] = d.clone().into();
                g.description = d;
            }
            if let Some(dns) = &req.members {
                let members = self.parse_members(dns)?;
                self.stage_membership(&mut staged, name, &members)?;
                details["users"] = serde_json::json!(members.users);
                details["hosts"] = serde_json::json!(members.hosts);
            }
            staged.put(cf::SSH_GROUPS, name.as_bytes(), &g)?;
            staged.changes.insert(0, Change::SshGroupPut(g.state()));
            let seq = self.commit(staged, ("ssh.group.update", "ssh_group", name), details)?;
            let view = self.get_group(name)?;
            Ok((view, seq))
        })
    }

    /// `DELETE /groups/{name}`; the admin group cannot be deleted (409). Returns the commit's
    /// sequence number.
    pub fn delete_group(&self, name: &str) -> Result<u64> {
        self.serially(|| {
            self.load_group(name)?;
            if name == self.settings().admin_group {
                return Err(SshError::AdminGroup(name.into()));
            }
            let mut staged = Staged::default();
            let (users, hosts) = self.stage_group_delete(&mut staged, name, None)?;
            let details = serde_json::json!({"users_changed": users, "hosts_changed": hosts});
            self.commit(staged, ("ssh.group.delete", "ssh_group", name), details)
        })
    }
}
