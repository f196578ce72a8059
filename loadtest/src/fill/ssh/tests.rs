//! The SSH fill: the model's shape, real keys, and every pair answered as recorded.

use super::*;
use sigil_ssh::key::ParsedKey;
use sigil_ssh::lookup::{valid_group_name, valid_hostname, valid_username};

fn small() -> SshModel {
    SshModel {
        users: 50,
        keys: 150,
        hosts: 40,
        groups: 8,
        groups_per_user: 3,
        revoked: 5,
        pairs: 120,
        miss_share: 0.1,
        seed: 7,
        now: 1_700_000_000,
    }
}

#[test]
fn keys_are_real_distinct_and_spread_over_users() {
    let m = small();
    let mut seen = std::collections::HashSet::new();
    for u in 0..m.users {
        let user = m.user(u);
        assert!(valid_username(&user.username));
        assert_eq!(user.keys.len(), 3);
        for (i, k) in m.keys_of(u).enumerate() {
            assert_eq!(m.owner(k), u);
            let e = &user.keys[i];
            let parsed = ParsedKey::parse(&e.openssh).unwrap();
            assert_eq!(parsed.openssh, e.openssh);
            assert_eq!(parsed.fingerprint, e.fingerprint);
            assert!(seen.insert(e.fingerprint.clone()), "keys differ");
            assert!(!e.host_groups.is_empty() && e.host_groups.len() <= 2);
            assert!(e.host_groups.iter().all(|g| user.groups.contains(g)));
        }
        assert_eq!(user.groups.len(), 3);
        assert!(user.groups.iter().all(|g| valid_group_name(g)));
    }
    assert_eq!(m.keys_of(m.users - 1).end, m.keys);
    let h = m.host(3);
    assert!(valid_hostname(&h.hostname));
    assert!(h.groups.contains(&h.hostname) && h.groups.iter().all(|g| valid_group_name(g)));
    // The same seed gives the same keys; another seed other keys.
    assert_eq!(m.key_blob(4), small().key_blob(4));
    let other = SshModel { seed: 8, ..small() };
    assert_ne!(m.key_blob(4), other.key_blob(4));
}

#[test]
fn global_state_decodes() {
    let m = small();
    let changes = m.global_changes().unwrap();
    let mut cas = 0;
    for c in &changes {
        match c {
            Change::SshCaPut(ca) => {
                ParsedKey::parse(&ca.openssh).unwrap();
                cas += 1;
            }
            Change::SshKrlPut(k) => {
                let krl = Krl::decode(&k.krl).unwrap();
                assert!(krl.revokes_key(&sha256(&m.key_blob(m.keys))));
                assert!(!krl.revokes_key(&sha256(&m.key_blob(0))));
            }
            Change::SshGroupPut(g) => assert!(valid_group_name(&g.name)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(cas, 2);
    assert_eq!(changes.len() as u64, 3 + m.groups + m.hosts);
}

#[test]
fn pairs_cover_every_user_and_mostly_hit() {
    let m = SshModel {
        users: 400,
        keys: 1200,
        hosts: 300,
        groups: 50,
        pairs: 1000,
        ..small()
    };
    let pairs = m.pairs();
    assert_eq!(pairs.pairs.len(), 1000);
    for u in 0..m.users {
        assert_eq!(pairs.pairs[u as usize].username, SshModel::username(u));
    }
    let hits = pairs
        .pairs
        .iter()
        .filter(|p| (1..=3).contains(&p.expected.unwrap()))
        .count();
    // 90 % aim at a host the user has a key for; a random host rarely shares a group.
    assert!(hits > 850 && hits < 1000, "{hits}");
    let info = m.describe("ssh-pairs.txt", &pairs);
    assert_eq!(info["pairs"], 1000);
}
