//! KES identities: the policy assigned to each client identity, and the check a forwarded
//! request passes before anything else ([`Kes::authorize`]): KES accepts a request of a
//! non-admin identity when its assigned policy exists, no deny pattern matches the request
//! path and some allow pattern does; otherwise 403 `not authorized: insufficient
//! permissions`.

use sigil_kes::identity::Identity;
use sigil_shared::replication::{Change, KesIdentityState, KesPolicyState};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::policies::{check_name as check_policy_name, rules};
use super::{check_pattern, Kes, KesError, Result};
use crate::db::{cf, encode};
use crate::services::context::Commit;

/// An identity as stored: what KES accepts as an identity (a valid name, KES's own check on
/// identities), and 64 hex digits — the form of every identity a client certificate gives —
/// lowercased, so an identity written in capitals still matches the clients it names.
pub fn identity_key(identity: &str) -> Result<String> {
    match Identity::parse(identity) {
        Some(id) => Ok(id.as_str().into()),
        None if sigil_kes::name::valid_name(identity) => Ok(identity.into()),
        None => Err(KesError::InvalidIdentity(identity.into())),
    }
}

impl Kes {
    /// Assigns policy `policy` to `identity` (replacing its previous policy) on behalf of
    /// `caller` (a KES identity, or an admin API actor). The policy must exist; a caller
    /// cannot assign a policy to itself. Returns the assignment and the commit's sequence
    /// number.
    pub fn assign_identity(
        &self,
        policy: &str,
        identity: &str,
        caller: &str,
    ) -> Result<(KesIdentityState, u64)> {
        check_policy_name(policy)?;
        let identity = identity_key(identity)?;
        if identity_key(caller).is_ok_and(|c| c == identity) {
            return Err(KesError::SelfAssign);
        }
        self.access_serially(|| {
            self.read_policy(policy)?;
            let state = KesIdentityState {
                identity: identity.clone(),
                policy: policy.into(),
                created_at: now_unix(),
                created_by: caller.into(),
            };
            let mut batch = WriteBatch::new();
            batch.put(
                cf::KES_IDENTITIES,
                identity.as_bytes().to_vec(),
                encode(&state)?,
            );
            let commit = Commit::new(batch)
                .replicate(vec![Change::KesIdentityPut(state.clone())])
                .audit(
                    ("kes.identity.assign", "kes_identity", &identity),
                    serde_json::json!({"policy": policy}),
                );
            let seq = self.access_commit(commit)?;
            Ok((state, seq))
        })
    }

    /// Removes `identity` and its assignment; returns the commit's sequence number.
    pub fn forget_identity(&self, identity: &str) -> Result<u64> {
        let identity = identity_key(identity)?;
        self.access_serially(|| {
            let state = self.describe_identity(&identity)?;
            let mut batch = WriteBatch::new();
            batch.delete(cf::KES_IDENTITIES, identity.as_bytes().to_vec());
            let commit = Commit::new(batch)
                .replicate(vec![Change::KesIdentityDelete {
                    identity: identity.clone(),
                }])
                .audit(
                    ("kes.identity.forget", "kes_identity", &identity),
                    serde_json::json!({"policy": state.policy}),
                );
            self.access_commit(commit)
        })
    }

    pub fn describe_identity(&self, identity: &str) -> Result<KesIdentityState> {
        let identity = identity_key(identity)?;
        self.cx
            .db()
            .get(cf::KES_IDENTITIES, identity.as_bytes())?
            .ok_or(KesError::IdentityNotFound { identity })
    }

    /// The identities `pattern` lists, in order.
    pub fn list_identities(&self, pattern: &str) -> Result<Vec<KesIdentityState>> {
        check_pattern(pattern)?;
        let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
        Ok(self.cx.db().list(cf::KES_IDENTITIES, prefix.as_bytes())?)
    }

    /// Whether `identity` (not the admin) may send a request for `path` (`/v1/key/create/x`):
    /// `NotAllowed` unless it has a policy, the policy exists, and it allows the path.
    pub fn authorize(&self, identity: &str, path: &str) -> Result<()> {
        let Ok(identity) = identity_key(identity) else {
            return Err(KesError::NotAllowed);
        };
        let db = self.cx.db();
        let Some(assigned) = db.get::<KesIdentityState>(cf::KES_IDENTITIES, identity.as_bytes())?
        else {
            return Err(KesError::NotAllowed);
        };
        match db.get::<KesPolicyState>(cf::KES_POLICIES, assigned.policy.as_bytes())? {
            Some(p) if rules(&p).allows(path) => Ok(()),
            _ => Err(KesError::NotAllowed),
        }
    }
}
