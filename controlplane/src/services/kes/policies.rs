//! KES policies: allow/deny patterns over request paths (`sigil_kes::policy`). A write
//! replaces the policy of that name (KES's policy write); identities assigned to a deleted
//! policy are refused everything until it exists again or they are reassigned.

use sigil_kes::policy::Policy;
use sigil_shared::replication::{Change, KesPolicyState};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::{check_pattern, Kes, KesError, Result};
use crate::db::{cf, encode};
use crate::services::context::Commit;

/// `name` checked as KES checks policy names.
pub(super) fn check_name(name: &str) -> Result<()> {
    if sigil_kes::name::valid_name(name) {
        Ok(())
    } else {
        Err(KesError::InvalidPolicyName(name.into()))
    }
}

/// The rules of a stored policy.
pub fn rules(state: &KesPolicyState) -> Policy {
    Policy {
        allow: state.allow.iter().cloned().collect(),
        deny: state.deny.iter().cloned().collect(),
    }
}

impl Kes {
    /// Writes (creates or replaces) policy `name`; returns it and the commit's sequence number.
    pub fn write_policy(
        &self,
        name: &str,
        policy: &Policy,
        created_by: &str,
    ) -> Result<(KesPolicyState, u64)> {
        check_name(name)?;
        self.access_serially(|| {
            let state = KesPolicyState {
                name: name.into(),
                allow: policy.allow.iter().cloned().collect(),
                deny: policy.deny.iter().cloned().collect(),
                created_at: now_unix(),
                created_by: created_by.into(),
            };
            let mut batch = WriteBatch::new();
            batch.put(cf::KES_POLICIES, name.as_bytes().to_vec(), encode(&state)?);
            let commit = Commit::new(batch)
                .replicate(vec![Change::KesPolicyPut(state.clone())])
                .audit(
                    ("kes.policy.write", "kes_policy", name),
                    serde_json::json!({"allow": state.allow, "deny": state.deny}),
                );
            let seq = self.access_commit(commit)?;
            Ok((state, seq))
        })
    }

    /// Deletes policy `name`; returns the commit's sequence number.
    pub fn delete_policy(&self, name: &str) -> Result<u64> {
        check_name(name)?;
        self.access_serially(|| {
            self.read_policy(name)?;
            let mut batch = WriteBatch::new();
            batch.delete(cf::KES_POLICIES, name.as_bytes().to_vec());
            let commit = Commit::new(batch)
                .replicate(vec![Change::KesPolicyDelete { name: name.into() }])
                .audit(
                    ("kes.policy.delete", "kes_policy", name),
                    serde_json::json!({}),
                );
            self.access_commit(commit)
        })
    }

    pub fn read_policy(&self, name: &str) -> Result<KesPolicyState> {
        check_name(name)?;
        self.cx
            .db()
            .get(cf::KES_POLICIES, name.as_bytes())?
            .ok_or_else(|| KesError::PolicyNotFound { name: name.into() })
    }

    /// The policies `pattern` lists, by name.
    pub fn list_policies(&self, pattern: &str) -> Result<Vec<KesPolicyState>> {
        check_pattern(pattern)?;
        let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
        Ok(self.cx.db().list(cf::KES_POLICIES, prefix.as_bytes())?)
    }
}
