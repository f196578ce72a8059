use sigil_shared::ocsp::{CertIdKey, HashAlg, IssuerHashes};
use sigil_shared::replication::*;
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::*;
use crate::replica::apply_changes;
use crate::replica::digest::digest;
use crate::updates::Applied;

fn ssh_cert(serial: u64) -> SshCertEntry {
    SshCertEntry {
        key_id: format!("k{serial}"),
        name: "laptop".into(),
        serial,
        openssh: "ssh-ed25519-cert-v01@openssh.com AAAA".into(),
        fingerprint: "SHA256:abc".into(),
        principals: vec!["alice".into()],
        valid_after: 1,
        valid_before: 2,
        host_groups: vec!["web".into()],
    }
}

/// One change of every `…Put` kind, and deletions that remove some of them again.
fn every_kind() -> (Vec<Change>, Vec<Change>) {
    let puts = vec![
        Change::CaPut(CaState {
            issuer_id: "ca-1".into(),
            name: "Issuing".into(),
            cert_der: vec![1, 2, 3],
            hashes: vec![IssuerHashes {
                alg: HashAlg::Sha256,
                name_hash: vec![4; 32],
                key_hash: vec![5; 32],
            }],
        }),
        Change::CaPut(CaState {
            issuer_id: "ca-gone".into(),
            name: "Gone".into(),
            cert_der: vec![6],
            hashes: vec![],
        }),
        Change::CrlPut(CrlEntry {
            issuer_id: "ca-1".into(),
            der: vec![7; 10],
            number: 3,
            this_update: 10,
            next_update: 20,
        }),
        Change::CrlPut(CrlEntry {
            issuer_id: "ca-gone".into(),
            der: vec![8],
            number: 1,
            this_update: 10,
            next_update: 20,
        }),
        Change::OcspPut(OcspEntry {
            key: CertIdKey(vec![2, 9, 9]),
            issuer_id: "ca-1".into(),
            der: vec![0x30, 3],
            this_update: 10,
            next_update: 30,
        }),
        Change::OcspPut(OcspEntry {
            key: CertIdKey(vec![2, 1, 1]),
            issuer_id: "ca-1".into(),
            der: vec![0x30, 4],
            this_update: 10,
            next_update: 30,
        }),
        Change::KesKeyPut(KesKeyState {
            name: "my-key".into(),
            created_at: 5,
            created_by: "admin".into(),
            versions: vec![KesKeyVersion {
                version: 1,
                algorithm: "AES256".into(),
                created_at: 5,
                kek_id: "kek-1".into(),
                nonce: [7; 12],
                sealed: vec![1; 48],
            }],
        }),
        Change::KesPolicyPut(KesPolicyState {
            name: "apps".into(),
            allow: vec!["/v1/key/*".into()],
            deny: vec![],
            created_at: 6,
            created_by: "admin".into(),
        }),
        Change::KesIdentityPut(KesIdentityState {
            identity: "ab".repeat(32),
            policy: "apps".into(),
            created_at: 7,
            created_by: "admin".into(),
        }),
        Change::SshUserPut(SshUserState {
            username: "alice".into(),
            locked: false,
            groups: vec!["web".into()],
            principals: vec!["alice".into()],
            keys: vec![SshKeyEntry {
                key_id: "1".into(),
                name: "laptop".into(),
                openssh: "ssh-ed25519 AAAA".into(),
                fingerprint: "SHA256:x".into(),
                expires_at: None,
                host_groups: vec![],
            }],
            certs: vec![ssh_cert(1)],
        }),
        Change::SshUserPut(SshUserState {
            username: "bob".into(),
            locked: true,
            groups: vec![],
            principals: vec![],
            keys: vec![],
            certs: vec![],
        }),
        Change::SshHostPut(SshHostState {
            hostname: "web-1".into(),
            groups: vec!["web".into()],
            certs: vec![ssh_cert(2)],
        }),
        Change::SshGroupPut(SshGroupState {
            name: "web".into(),
            description: "web servers".into(),
        }),
        Change::SshCaPut(SshCaState {
            kind: SshCaKind::User,
            openssh: "ssh-ed25519 AAAAuser ca".into(),
        }),
        Change::SshCaPut(SshCaState {
            kind: SshCaKind::Host,
            openssh: "ssh-ed25519 AAAAhost ca".into(),
        }),
        Change::SshKrlPut(SshKrlState {
            version: 4,
            krl: vec![9; 16],
        }),
    ];
    let deletes = vec![
        Change::CaDelete {
            issuer_id: "ca-gone".into(),
        },
        Change::OcspDelete {
            key: CertIdKey(vec![2, 1, 1]),
        },
        Change::SshUserDelete {
            username: "bob".into(),
        },
    ];
    (puts, deletes)
}

fn apply(store: &MemStore, changes: Vec<Change>, seq: u64) {
    let mut batch = WriteBatch::new();
    apply_changes(&mut batch, changes, Some(seq), &mut Applied::default()).unwrap();
    store.write(batch, Durability::Buffered).unwrap();
}

/// A downstream that applies a relay's snapshot holds the relay's state: same digest at the
/// same sequence, for every kind of record.
#[test]
fn a_snapshot_rebuilds_the_state_it_was_taken_from() {
    let relay = MemStore::new(cf::ALL);
    let (puts, deletes) = every_kind();
    apply(&relay, puts, 40);
    apply(&relay, deletes, 42);
    let mut frames = Vec::new();
    let as_of = emit(&relay, &mut |f| {
        frames.push(f);
        true
    })
    .unwrap();
    assert_eq!(as_of, 42);
    assert_eq!(frames.first(), Some(&Frame::SnapshotBegin { as_of: 42 }));
    assert_eq!(frames.last(), Some(&Frame::SnapshotEnd { as_of: 42 }));
    let items: Vec<Change> = frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::SnapshotItem(c) => Some(c),
            _ => None,
        })
        .collect();
    // 16 puts, less the CA, its CRL, one OCSP response and one user deleted.
    assert_eq!(items.len(), 12);
    let downstream = MemStore::new(cf::ALL);
    apply(&downstream, items.clone(), as_of);
    let (ours, theirs) = (digest(&relay).unwrap(), digest(&downstream).unwrap());
    assert_eq!(ours, theirs);
    // The shared digest over the items equals the replica's (the control plane's way).
    let mut expected = sigil_shared::replication::digest::StateDigest::new(42);
    for c in &items {
        expected.add_change(c).unwrap();
    }
    assert_eq!(expected, ours);
}

#[test]
fn a_gone_downstream_stops_the_snapshot() {
    let relay = MemStore::new(cf::ALL);
    apply(&relay, every_kind().0, 1);
    let mut n = 0;
    let r = emit(&relay, &mut |_| {
        n += 1;
        n < 3
    });
    assert!(matches!(r, Err(SnapshotError::Disconnected)));
    assert_eq!(n, 3);
}
