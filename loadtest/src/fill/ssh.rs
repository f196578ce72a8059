//! A synthetic SSH directory for the data plane's `/api/authkeys` at scale: users, hosts,
//! groups, real Ed25519 keys, the user and host CAs and a KRL, all derived from a seed, so the
//! same parameters always give the same replica and the same (user, host) pairs.
//!
//! The model ([`SshModel`]), `U` users, `K` keys, `H` hosts, `G` groups:
//! * user `u` is `user000042` and belongs to `groups_per_user` distinct groups (`grp-0007`);
//!   its keys are `u·K/U .. (u+1)·K/U` (3 each for the defaults), each valid for one or two of
//!   the user's groups (`hostGroups`), as Keyper lets a user scope their own keys;
//! * key `k` is an Ed25519 public key derived from a seed made of (`seed`, `k`) with aws-lc-rs
//!   (a real, parseable key: what `ssh-keygen` would print); 2 % of the keys expired a day or
//!   more before `now`, 33 % expire 30 to 730 days after it (served with `expiry-time`), the
//!   rest never;
//! * host `h` is `host-00042.example.net`, in its own autocreated group (as the control plane
//!   makes it), in group `h mod G`, and in half the cases in a second group;
//! * the KRL revokes `revoked` other keys (keys removed earlier: none of the users' keys, as
//!   the control plane never keeps a revoked key on a user);
//! * pair `i` asks for user `i` for the first `U` pairs (so the pairs cover every user), then
//!   for random users; the host is, in `1 − miss_share` of the pairs, one of the hosts whose
//!   primary group one of the user's unexpired keys is valid for (an answer of 1 to 3 keys),
//!   otherwise a random host (usually no key: someone trying a host they have no access to).
//!
//! The pairs file (`ssh-pairs.txt`, [`write_pairs`]) holds each pair with the number of keys
//! the data plane must answer, which the model computes independently of the data plane.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigil_shared::replication::{
    Change, SshCaKind, SshCaState, SshGroupState, SshHostState, SshKeyEntry, SshKrlState,
    SshUserState,
};
use sigil_ssh::key::{fingerprint_of_blob, sha256};
use sigil_ssh::krl::Krl;
use sigil_storage::Store;

use super::{write_header, write_parallel};
use crate::corpus::ssh_pairs::{Pair, SshPairs};

/// The parameters of a synthetic SSH directory.
#[derive(Debug, Clone, PartialEq)]
pub struct SshModel {
    pub users: u64,
    pub keys: u64,
    pub hosts: u64,
    pub groups: u64,
    /// Groups each user belongs to (at most `groups`).
    pub groups_per_user: u64,
    /// Keys the KRL revokes (none of them a user's).
    pub revoked: u64,
    /// (user, host) pairs written for the load generator.
    pub pairs: u64,
    /// Share of the pairs whose host is random rather than one the user has a key for.
    pub miss_share: f64,
    pub seed: u64,
    /// The time expiries are relative to (Unix seconds).
    pub now: i64,
}

impl SshModel {
    /// Issue 18's scale: 100,000 users, 300,000 keys, 10,000 hosts, 1,000 groups.
    pub fn target(now: i64) -> Self {
        SshModel {
            users: 100_000,
            keys: 300_000,
            hosts: 10_000,
            groups: 1_000,
            groups_per_user: 3,
            revoked: 1_000,
            pairs: 200_000,
            miss_share: 0.1,
            seed: 1,
            now,
        }
    }

    /// Refuses parameters the model cannot make.
    pub fn check(&self) -> Result<(), String> {
        if self.users == 0 || self.hosts == 0 || self.groups == 0 {
            return Err("users, hosts and groups must be at least 1".into());
        }
        if self.users > 1_000_000_000 || self.hosts > 1_000_000_000 || self.groups > 99_999_999 {
            return Err("too many users, hosts or groups for the names".into());
        }
        if self.keys / self.users > 100 {
            return Err("more than 100 keys per user (the control plane's limit)".into());
        }
        if self.groups_per_user == 0 {
            return Err("groups_per_user must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.miss_share) {
            return Err("miss_share must be between 0 and 1".into());
        }
        Ok(())
    }

    fn mix(&self, tag: u64, a: u64, b: u64) -> u64 {
        mix(self.seed, tag, a, b)
    }

    pub fn username(u: u64) -> String {
        format!("user{u:06}")
    }

    pub fn hostname(h: u64) -> String {
        format!("host-{h:05}.example.net")
    }

    pub fn group_name(g: u64) -> String {
        format!("grp-{g:04}")
    }

    /// The global indexes of user `u`'s keys.
    pub fn keys_of(&self, u: u64) -> Range<u64> {
        let at = |u: u64| (u128::from(u) * u128::from(self.keys) / u128::from(self.users)) as u64;
        at(u)..at(u + 1)
    }

    /// The owner of key `k`.
    fn owner(&self, k: u64) -> u64 {
        // The largest u with keys_of(u).start <= k.
        let mut u = (u128::from(k) * u128::from(self.users) / u128::from(self.keys.max(1))) as u64;
        while u + 1 < self.users && self.keys_of(u + 1).start <= k {
            u += 1;
        }
        while u > 0 && self.keys_of(u).start > k {
            u -= 1;
        }
        u
    }

    /// `n` distinct groups picked by `pick(i)`, probing forward on a collision.
    fn distinct_groups(&self, n: u64, pick: impl Fn(u64) -> u64) -> Vec<u64> {
        let n = n.min(self.groups);
        let mut out: Vec<u64> = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut g = pick(i) % self.groups;
            while out.contains(&g) {
                g = (g + 1) % self.groups;
            }
            out.push(g);
        }
        out
    }

    /// The groups of user `u`.
    pub fn user_groups(&self, u: u64) -> Vec<u64> {
        self.distinct_groups(self.groups_per_user, |i| self.mix(TAG_USER_GROUP, u, i))
    }

    /// The host groups key `k` is valid for: one or two of its owner's groups.
    pub fn key_groups(&self, k: u64) -> Vec<u64> {
        let mine = self.user_groups(self.owner(k));
        let n = (1 + self.mix(TAG_KEY_GROUPS, k, 0) % 2).min(mine.len() as u64);
        let first = self.mix(TAG_KEY_GROUPS, k, 1) % mine.len() as u64;
        (0..n)
            .map(|i| mine[((first + i) % mine.len() as u64) as usize])
            .collect()
    }

    /// The expiry of key `k`: `None`, in the past (expired) or in the future.
    pub fn key_expiry(&self, k: u64) -> Option<i64> {
        let day = self.now.div_euclid(86_400) * 86_400;
        let r = self.mix(TAG_EXPIRY, k, 0);
        match r % 100 {
            0..=1 => Some(day - 86_400 * (1 + (r >> 8) as i64 % 365)),
            2..=34 => Some(day + 86_400 * (30 + (r >> 8) as i64 % 701)),
            _ => None,
        }
    }

    fn key_live(&self, k: u64) -> bool {
        self.key_expiry(k).is_none_or(|t| self.now < t)
    }

    /// The groups (from the model, not its own autocreated one) host `h` is in.
    pub fn host_groups(&self, h: u64) -> Vec<u64> {
        let primary = h % self.groups;
        let r = self.mix(TAG_HOST_GROUP, h, 0);
        let second = (r >> 1) % self.groups;
        if r & 1 == 1 && second != primary {
            vec![primary, second]
        } else {
            vec![primary]
        }
    }

    /// Ed25519 public key blob (`string "ssh-ed25519" || string key`) of key number `k`
    /// (keys `0..keys` are the users', `keys..keys + revoked` the KRL's).
    pub fn key_blob(&self, k: u64) -> Vec<u8> {
        ed25519_blob(&self.key_seed(TAG_KEY, k))
    }

    fn key_seed(&self, tag: u64, k: u64) -> [u8; 32] {
        let mut seed = [0u8; 32];
        for (i, part) in seed.chunks_exact_mut(8).enumerate() {
            part.copy_from_slice(&self.mix(tag, k, i as u64).to_le_bytes());
        }
        seed
    }

    /// The replicated record of key `k`.
    pub fn key_entry(&self, k: u64, index_in_user: u64) -> SshKeyEntry {
        let blob = self.key_blob(k);
        let mut host_groups: Vec<String> = self
            .key_groups(k)
            .into_iter()
            .map(Self::group_name)
            .collect();
        host_groups.sort();
        SshKeyEntry {
            key_id: format!("{:016x}", self.mix(TAG_KEY_ID, k, 0)),
            name: KEY_NAMES[(index_in_user as usize) % KEY_NAMES.len()].to_string(),
            openssh: format!("ssh-ed25519 {}", STANDARD.encode(&blob)),
            fingerprint: fingerprint_of_blob(&blob),
            expires_at: self.key_expiry(k),
            host_groups,
        }
    }

    /// The replicated record of user `u`.
    pub fn user(&self, u: u64) -> SshUserState {
        let username = Self::username(u);
        let mut groups: Vec<String> = self
            .user_groups(u)
            .into_iter()
            .map(Self::group_name)
            .collect();
        groups.sort();
        SshUserState {
            principals: vec![username.clone()],
            username,
            locked: false,
            groups,
            keys: self
                .keys_of(u)
                .enumerate()
                .map(|(i, k)| self.key_entry(k, i as u64))
                .collect(),
            certs: Vec::new(),
        }
    }

    /// The replicated record of host `h`: its model groups and its own autocreated group.
    pub fn host(&self, h: u64) -> SshHostState {
        let hostname = Self::hostname(h);
        let mut groups: Vec<String> = self
            .host_groups(h)
            .into_iter()
            .map(Self::group_name)
            .collect();
        groups.push(hostname.clone());
        groups.sort();
        SshHostState {
            hostname,
            groups,
            certs: Vec::new(),
        }
    }

    /// What every lookup shares: both CAs' public keys, the KRL, the groups (the model's and
    /// each host's own).
    pub fn global_changes(&self) -> anyhow::Result<Vec<Change>> {
        let ca = |kind: SshCaKind, tag: u64, comment: &str| SshCaState {
            kind,
            openssh: format!(
                "ssh-ed25519 {} {comment}",
                STANDARD.encode(ed25519_blob(&self.key_seed(tag, 0)))
            ),
        };
        let mut krl = Krl::new(1, self.now.max(0) as u64);
        for r in 0..self.revoked {
            krl.revoke_key(sha256(&self.key_blob(self.keys + r)));
        }
        let mut changes = vec![
            Change::SshCaPut(ca(SshCaKind::User, TAG_USER_CA, "sigil-fill user CA")),
            Change::SshCaPut(ca(SshCaKind::Host, TAG_HOST_CA, "sigil-fill host CA")),
            Change::SshKrlPut(SshKrlState {
                version: 1,
                krl: krl.encode()?,
            }),
        ];
        changes.extend((0..self.groups).map(|g| {
            Change::SshGroupPut(SshGroupState {
                name: Self::group_name(g),
                description: format!("synthetic group {g}"),
            })
        }));
        changes.extend((0..self.hosts).map(|h| {
            let name = Self::hostname(h);
            Change::SshGroupPut(SshGroupState {
                description: format!("{name} Autocreated Group"),
                name,
            })
        }));
        Ok(changes)
    }

    /// The number of keys `/api/authkeys?username=<u>&host=<h>` answers: user `u`'s keys
    /// that have not expired and share a group with host `h`.
    pub fn expected_keys(&self, u: u64, h: u64) -> usize {
        let host = self.host_groups(h);
        self.keys_of(u)
            .filter(|&k| self.key_live(k) && self.key_groups(k).iter().any(|g| host.contains(g)))
            .count()
    }

    /// Pair `i`: a user and a host.
    pub fn pair(&self, i: u64) -> (u64, u64) {
        let u = if i < self.users {
            i
        } else {
            self.mix(TAG_PAIR, i, 0) % self.users
        };
        let random_host = self.mix(TAG_PAIR, i, 1) % self.hosts;
        let miss = (self.mix(TAG_PAIR, i, 2) % 1_000_000) as f64 / 1e6 < self.miss_share;
        if miss {
            return (u, random_host);
        }
        let mut groups: Vec<u64> = self
            .keys_of(u)
            .filter(|&k| self.key_live(k))
            .flat_map(|k| self.key_groups(k))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if groups.is_empty() {
            return (u, random_host);
        }
        let g = groups[(self.mix(TAG_PAIR, i, 3) % groups.len() as u64) as usize];
        // Hosts whose primary group is g: g, g + G, g + 2G, … below H.
        if g >= self.hosts {
            return (u, random_host);
        }
        let n = (self.hosts - g).div_ceil(self.groups);
        (u, g + self.groups * (self.mix(TAG_PAIR, i, 4) % n))
    }

    /// Every pair with the number of keys its answer holds.
    pub fn pairs(&self) -> SshPairs {
        let pairs = (0..self.pairs)
            .map(|i| {
                let (u, h) = self.pair(i);
                Pair {
                    username: Self::username(u),
                    host: Self::hostname(h),
                    expected: Some(self.expected_keys(u, h) as u32),
                }
            })
            .collect();
        SshPairs {
            header: vec![
                (
                    "source".into(),
                    format!(
                        "sigil-fill-replica (synthetic): {} users, {} keys, {} hosts, {} groups, seed {}",
                        self.users, self.keys, self.hosts, self.groups, self.seed
                    ),
                ),
                ("fields".into(), "username host expected-keys".into()),
            ],
            pairs,
        }
    }

    /// The `fill.json` description.
    pub fn describe(&self, pairs_file: &str, pairs: &SshPairs) -> serde_json::Value {
        let mut by_keys = BTreeMap::<String, u64>::new();
        for p in &pairs.pairs {
            *by_keys
                .entry(p.expected.unwrap_or(0).to_string())
                .or_default() += 1;
        }
        serde_json::json!({
            "users": self.users,
            "keys": self.keys,
            "hosts": self.hosts,
            "groups": self.groups,
            "groups_per_user": self.groups_per_user,
            "revoked": self.revoked,
            "seed": self.seed,
            "now": self.now,
            "miss_share": self.miss_share,
            "pairs": pairs.pairs.len(),
            "pairs_file": pairs_file,
            "pairs_by_answered_keys": by_keys,
        })
    }
}

/// Names of a user's keys, in order.
const KEY_NAMES: &[&str] = &["laptop", "workstation", "yubikey", "ci", "backup"];

const TAG_USER_GROUP: u64 = 1;
const TAG_KEY_GROUPS: u64 = 2;
const TAG_EXPIRY: u64 = 3;
const TAG_HOST_GROUP: u64 = 4;
const TAG_KEY: u64 = 5;
const TAG_KEY_ID: u64 = 6;
const TAG_PAIR: u64 = 7;
const TAG_USER_CA: u64 = 8;
const TAG_HOST_CA: u64 = 9;

fn splitmix64(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of (seed, tag, a, b): the model's only source of randomness, so it does not
/// depend on a PRNG crate's version.
pub fn mix(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ tag) ^ a) ^ b)
}

/// The OpenSSH blob of the Ed25519 public key of `seed`.
pub fn ed25519_blob(seed: &[u8; 32]) -> Vec<u8> {
    let pair = Ed25519KeyPair::from_seed_unchecked(seed).expect("any 32 bytes are a seed");
    let public = pair.public_key().as_ref();
    let mut blob = Vec::with_capacity(4 + 11 + 4 + public.len());
    for part in [&b"ssh-ed25519"[..], public] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    blob
}

/// Users per write batch.
const CHUNK: u64 = 1024;

/// Writes the directory `model` describes into `store` (CAs, KRL, groups, hosts and users),
/// then the pairs to `pairs_path`; returns the `fill.json` description.
pub fn fill(
    store: &dyn Store,
    model: &SshModel,
    threads: usize,
    pairs_path: &Path,
) -> anyhow::Result<serde_json::Value> {
    model.check().map_err(anyhow::Error::msg)?;
    write_header(store, model.global_changes()?)?;
    let hosts = |r: Range<u64>| r.map(|h| Change::SshHostPut(model.host(h))).collect();
    write_parallel(store, model.hosts, 4 * CHUNK, threads, "hosts", &hosts)?;
    let users = |r: Range<u64>| r.map(|u| Change::SshUserPut(model.user(u))).collect();
    write_parallel(store, model.users, CHUNK, threads, "users", &users)?;
    let pairs = model.pairs();
    let mut out = std::io::BufWriter::new(std::fs::File::create(pairs_path)?);
    pairs.write(&mut out)?;
    out.flush()?;
    let name = pairs_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    Ok(model.describe(&name, &pairs))
}

#[cfg(test)]
mod tests;
