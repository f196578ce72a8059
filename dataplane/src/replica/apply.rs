//! Turning replication changes into a write batch (sans-io apart from reading CA states that
//! a deletion needs).

use sigil_shared::replication::{Change, OcspEntry, SshCaKind};
use sigil_storage::WriteBatch;

use crate::schema::{cf, META_APPLIED};
use crate::updates::Applied;

/// Adds `changes` to `batch`, followed by the applied sequence number `seq` (when given), and
/// records what they touch in `applied`.
pub fn apply_changes(
    batch: &mut WriteBatch,
    changes: impl IntoIterator<Item = Change>,
    seq: Option<u64>,
    applied: &mut Applied,
) -> Result<(), postcard::Error> {
    for change in changes {
        match change {
            Change::OcspPut(e) => {
                applied.ocsp_keys.push(e.key.0.clone());
                batch.put(
                    cf::OCSP,
                    e.key.0.clone(),
                    postcard::to_stdvec::<OcspEntry>(&e)?,
                );
            }
            Change::OcspDelete { key } => {
                applied.ocsp_keys.push(key.0.clone());
                batch.delete(cf::OCSP, key.0);
            }
            Change::CaPut(ca) => {
                batch.put(
                    cf::CAS,
                    ca.issuer_id.as_bytes().to_vec(),
                    postcard::to_stdvec(&ca)?,
                );
                applied.cas.push(ca);
            }
            Change::CaDelete { issuer_id } => {
                batch.delete(cf::CAS, issuer_id.as_bytes().to_vec());
                batch.delete(cf::CRLS, issuer_id.as_bytes().to_vec());
                applied.deleted_cas.push(issuer_id);
            }
            Change::CrlPut(crl) => {
                batch.put(
                    cf::CRLS,
                    crl.issuer_id.as_bytes().to_vec(),
                    postcard::to_stdvec(&crl)?,
                );
                applied.crls.push(crl);
            }
            // The key service's records are stored as they came (key material stays wrapped);
            // the subscriber rebuilds the cores' keyring after the batch.
            Change::KesKeyPut(k) => {
                applied.kes = true;
                batch.put(
                    cf::KES_KEYS,
                    k.name.as_bytes().to_vec(),
                    postcard::to_stdvec(&k)?,
                );
            }
            Change::KesKeyDelete { name } => {
                applied.kes = true;
                batch.delete(cf::KES_KEYS, name.into_bytes());
            }
            Change::KesPolicyPut(p) => {
                applied.kes = true;
                batch.put(
                    cf::KES_POLICIES,
                    p.name.as_bytes().to_vec(),
                    postcard::to_stdvec(&p)?,
                );
            }
            Change::KesPolicyDelete { name } => {
                applied.kes = true;
                batch.delete(cf::KES_POLICIES, name.into_bytes());
            }
            Change::KesIdentityPut(i) => {
                applied.kes = true;
                batch.put(
                    cf::KES_IDENTITIES,
                    i.identity.as_bytes().to_vec(),
                    postcard::to_stdvec(&i)?,
                );
            }
            Change::KesIdentityDelete { identity } => {
                applied.kes = true;
                batch.delete(cf::KES_IDENTITIES, identity.into_bytes());
            }
            // The SSH key service's records, as they came; the serving cores drop what they
            // cached of the users and hosts touched (`Applied::ssh_*`).
            Change::SshUserPut(u) => {
                batch.put(
                    cf::SSH_USERS,
                    u.username.as_bytes().to_vec(),
                    postcard::to_stdvec(&u)?,
                );
                applied.ssh_users.push(u.username);
            }
            Change::SshUserDelete { username } => {
                batch.delete(cf::SSH_USERS, username.as_bytes().to_vec());
                applied.ssh_users.push(username);
            }
            Change::SshHostPut(h) => {
                batch.put(
                    cf::SSH_HOSTS,
                    h.hostname.as_bytes().to_vec(),
                    postcard::to_stdvec(&h)?,
                );
                applied.ssh_hosts.push(h.hostname);
            }
            Change::SshHostDelete { hostname } => {
                batch.delete(cf::SSH_HOSTS, hostname.as_bytes().to_vec());
                applied.ssh_hosts.push(hostname);
            }
            Change::SshGroupPut(g) => {
                batch.put(
                    cf::SSH_GROUPS,
                    g.name.as_bytes().to_vec(),
                    postcard::to_stdvec(&g)?,
                );
            }
            Change::SshGroupDelete { name } => {
                batch.delete(cf::SSH_GROUPS, name.into_bytes());
            }
            Change::SshCaPut(ca) => {
                let key = match ca.kind {
                    SshCaKind::User => cf::SSH_CA_USER,
                    SshCaKind::Host => cf::SSH_CA_HOST,
                };
                batch.put(cf::SSH_CA, key.to_vec(), postcard::to_stdvec(&ca)?);
                applied.ssh_global = true;
            }
            Change::SshKrlPut(krl) => {
                batch.put(cf::SSH_CA, cf::SSH_KRL.to_vec(), postcard::to_stdvec(&krl)?);
                applied.ssh_global = true;
            }
        }
    }
    if let Some(seq) = seq {
        batch.put(cf::META, META_APPLIED.to_vec(), seq.to_be_bytes().to_vec());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::CertIdKey;
    use sigil_storage::{Durability, MemStore, ReadView, Store};

    #[test]
    fn changes_and_sequence_land_in_one_batch() {
        let store = MemStore::new(cf::ALL);
        let mut batch = WriteBatch::new();
        let mut applied = Applied::default();
        let entry = OcspEntry {
            key: CertIdKey(vec![1, 2]),
            issuer_id: "ca".into(),
            der: vec![9],
            this_update: 1,
            next_update: 2,
        };
        apply_changes(
            &mut batch,
            [
                Change::OcspPut(entry.clone()),
                Change::OcspDelete {
                    key: CertIdKey(vec![3]),
                },
            ],
            Some(7),
            &mut applied,
        )
        .unwrap();
        store.write(batch, Durability::Buffered).unwrap();
        assert_eq!(crate::schema::applied_seq(&store), 7);
        let got: OcspEntry =
            postcard::from_bytes(&store.get(cf::OCSP, &[1, 2]).unwrap().unwrap()).unwrap();
        assert_eq!(got, entry);
        assert_eq!(applied.ocsp_keys, vec![vec![1, 2], vec![3]]);
    }
}
