//! Turning replication changes into a write batch (sans-io apart from reading CA states that
//! a deletion needs).

use sigil_shared::replication::{Change, OcspEntry};
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
