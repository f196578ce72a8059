//! The replica's state digest (`/replication/digest` on the ops listener): per record kind, a
//! count and hash over the stored records, from one consistent view, with the applied
//! sequence number of that view. Equal to the control plane's `/api/v1/replication/digest` at
//! the same sequence when the replica holds exactly the control plane's state
//! (`sigil_shared::replication::digest`).

use std::sync::{Arc, Mutex};

use sigil_shared::replication::digest::{Kind, StateDigest};
use sigil_storage::{ReadView, Store, StoreError};

use crate::schema::{applied_seq, cf};

/// The store the subscriber currently applies to (swapped when a snapshot switches in).
#[derive(Default)]
pub struct CurrentReplica(Mutex<Option<Arc<dyn Store>>>);

impl std::fmt::Debug for CurrentReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentReplica")
    }
}

impl CurrentReplica {
    pub fn set(&self, store: Arc<dyn Store>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    pub fn get(&self) -> Option<Arc<dyn Store>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The kinds stored one per column family (the SSH CAs and the KRL share [`cf::SSH_CA`]).
const KINDS: &[(&str, Kind)] = &[
    (cf::CAS, Kind::Ca),
    (cf::CRLS, Kind::Crl),
    (cf::OCSP, Kind::Ocsp),
    (cf::KES_KEYS, Kind::KesKey),
    (cf::KES_POLICIES, Kind::KesPolicy),
    (cf::KES_IDENTITIES, Kind::KesIdentity),
    (cf::SSH_USERS, Kind::SshUser),
    (cf::SSH_HOSTS, Kind::SshHost),
    (cf::SSH_GROUPS, Kind::SshGroup),
];

/// The digest of `view`: every record as stored (`apply_changes` stores each `…Put` change's
/// state, postcard-encoded, under the key the shared digest uses).
pub fn digest_view(view: &dyn ReadView) -> Result<StateDigest, StoreError> {
    let mut d = StateDigest::new(applied_seq(view));
    for &(family, kind) in KINDS {
        view.scan(family, &[], None, &mut |k, v| {
            d.add(kind, k, v);
            true
        })?;
    }
    view.scan(cf::SSH_CA, &[], None, &mut |k, v| {
        let kind = if k == cf::SSH_KRL {
            Kind::SshKrl
        } else {
            Kind::SshCa
        };
        d.add(kind, k, v);
        true
    })?;
    Ok(d)
}

/// The digest of `store`'s current state, from one snapshot.
pub fn digest(store: &dyn Store) -> Result<StateDigest, StoreError> {
    let mut out = None;
    store.with_snapshot(&mut |view| {
        out = Some(digest_view(view)?);
        Ok(())
    })?;
    Ok(out.unwrap_or_else(|| StateDigest::new(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::replication::{Change, CrlEntry, SshCaKind, SshCaState, SshKrlState};
    use sigil_storage::{Durability, MemStore, WriteBatch};

    use crate::replica::apply_changes;
    use crate::updates::Applied;

    /// What the replica stores digests like the changes that made it.
    #[test]
    fn a_replica_digests_like_the_changes_applied_to_it() {
        let changes = vec![
            Change::CrlPut(CrlEntry {
                issuer_id: "ca-1".into(),
                der: vec![1, 2, 3],
                number: 4,
                this_update: 5,
                next_update: 6,
            }),
            Change::SshCaPut(SshCaState {
                kind: SshCaKind::User,
                openssh: "ssh-ed25519 AAAA".into(),
            }),
            Change::SshKrlPut(SshKrlState {
                version: 2,
                krl: vec![9; 4],
            }),
        ];
        let store = MemStore::new(crate::schema::cf::ALL);
        let mut batch = WriteBatch::default();
        apply_changes(
            &mut batch,
            changes.clone(),
            Some(42),
            &mut Applied::default(),
        )
        .unwrap();
        store.write(batch, Durability::Sync).unwrap();
        let mut expected = StateDigest::new(42);
        for c in &changes {
            expected.add_change(c).unwrap();
        }
        assert_eq!(digest(&store).unwrap(), expected);
    }
}
