//! A digest of the replicated state that both planes can compute and compare: per record kind,
//! how many records there are and an order-independent hash of them.
//!
//! The control plane computes it over the items of a snapshot ([`StateDigest::add_change`]);
//! a data plane over its replica's stored records ([`StateDigest::add`], which it stores as the
//! postcard encoding of each `…Put` change's state, keyed as [`put_item`] keys them). Equal
//! digests at the same sequence number mean equal states (up to SHA-256 collisions): that is
//! how the crash tests check that a data plane killed mid-stream or mid-snapshot converged.
//!
//! Each record hashes as SHA-256(kind ‖ len(key) as u32 BE ‖ key ‖ value); a kind's hash is the
//! sum of its records' hashes, taken as four little-endian u64 lanes with wrapping addition (a
//! multiset hash: independent of the order the records are visited in, which differs between
//! the planes' stores). It detects accidents (a record missing, doubled, stale or torn), not an
//! adversary.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

use super::{Change, SshCaKind};

/// The record kinds a replicated state holds, one per `…Put` change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ca,
    Crl,
    Ocsp,
    KesKey,
    KesPolicy,
    KesIdentity,
    SshUser,
    SshHost,
    SshGroup,
    /// The user and host SSH CAs' public keys (keys `user`, `host`).
    SshCa,
    /// The KRL (key `krl`).
    SshKrl,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Ca,
        Kind::Crl,
        Kind::Ocsp,
        Kind::KesKey,
        Kind::KesPolicy,
        Kind::KesIdentity,
        Kind::SshUser,
        Kind::SshHost,
        Kind::SshGroup,
        Kind::SshCa,
        Kind::SshKrl,
    ];

    /// The name reported in a digest.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ca => "cas",
            Kind::Crl => "crls",
            Kind::Ocsp => "ocsp",
            Kind::KesKey => "kes_keys",
            Kind::KesPolicy => "kes_policies",
            Kind::KesIdentity => "kes_identities",
            Kind::SshUser => "ssh_users",
            Kind::SshHost => "ssh_hosts",
            Kind::SshGroup => "ssh_groups",
            Kind::SshCa => "ssh_cas",
            Kind::SshKrl => "ssh_krl",
        }
    }

    fn tag(self) -> u8 {
        self as u8
    }
}

/// A stored record: its kind, key and value (postcard of the state).
pub type Item = (Kind, Vec<u8>, Vec<u8>);

/// The record a `…Put` change stores; `None` for a deletion. A data plane stores exactly this
/// value under this key.
pub fn put_item(change: &Change) -> Result<Option<Item>, postcard::Error> {
    let enc = |v: &dyn erased::Encode| v.encode();
    Ok(Some(match change {
        Change::CaPut(c) => (Kind::Ca, c.issuer_id.clone().into_bytes(), enc(c)?),
        Change::CrlPut(c) => (Kind::Crl, c.issuer_id.clone().into_bytes(), enc(c)?),
        Change::OcspPut(e) => (Kind::Ocsp, e.key.0.clone(), enc(e)?),
        Change::KesKeyPut(k) => (Kind::KesKey, k.name.clone().into_bytes(), enc(k)?),
        Change::KesPolicyPut(p) => (Kind::KesPolicy, p.name.clone().into_bytes(), enc(p)?),
        Change::KesIdentityPut(i) => (Kind::KesIdentity, i.identity.clone().into_bytes(), enc(i)?),
        Change::SshUserPut(u) => (Kind::SshUser, u.username.clone().into_bytes(), enc(u)?),
        Change::SshHostPut(h) => (Kind::SshHost, h.hostname.clone().into_bytes(), enc(h)?),
        Change::SshGroupPut(g) => (Kind::SshGroup, g.name.clone().into_bytes(), enc(g)?),
        Change::SshCaPut(c) => (
            Kind::SshCa,
            match c.kind {
                SshCaKind::User => b"user".to_vec(),
                SshCaKind::Host => b"host".to_vec(),
            },
            enc(c)?,
        ),
        Change::SshKrlPut(k) => (Kind::SshKrl, b"krl".to_vec(), enc(k)?),
        Change::CaDelete { .. }
        | Change::OcspDelete { .. }
        | Change::KesKeyDelete { .. }
        | Change::KesPolicyDelete { .. }
        | Change::KesIdentityDelete { .. }
        | Change::SshUserDelete { .. }
        | Change::SshHostDelete { .. }
        | Change::SshGroupDelete { .. } => return Ok(None),
    }))
}

/// Postcard through one closure for every state type.
mod erased {
    pub trait Encode {
        fn encode(&self) -> Result<Vec<u8>, postcard::Error>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
            postcard::to_stdvec(self)
        }
    }
}

/// One kind's count and multiset hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindDigest {
    pub count: u64,
    lanes: [u64; 4],
}

impl KindDigest {
    /// The hash as 64 hex digits.
    pub fn hash_hex(&self) -> String {
        let mut bytes = [0u8; 32];
        for (chunk, lane) in bytes.chunks_exact_mut(8).zip(self.lanes) {
            chunk.copy_from_slice(&lane.to_le_bytes());
        }
        hex::encode(bytes)
    }
}

/// The digest of a whole state as of a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDigest {
    pub as_of: u64,
    kinds: [KindDigest; Kind::ALL.len()],
}

/// The digest as reported (JSON): `{"as_of": N, "kinds": {"ocsp": {"count": …, "hash": …}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    pub as_of: u64,
    pub kinds: BTreeMap<String, KindReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindReport {
    pub count: u64,
    pub hash: String,
}

impl StateDigest {
    pub fn new(as_of: u64) -> Self {
        Self {
            as_of,
            kinds: [KindDigest::default(); Kind::ALL.len()],
        }
    }

    /// Adds one stored record.
    pub fn add(&mut self, kind: Kind, key: &[u8], value: &[u8]) {
        let mut ctx = Context::new(&SHA256);
        ctx.update(&[kind.tag()]);
        ctx.update(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
        ctx.update(key);
        ctx.update(value);
        let h = ctx.finish();
        let d = &mut self.kinds[kind as usize];
        d.count += 1;
        for (lane, chunk) in d.lanes.iter_mut().zip(h.as_ref().chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(b));
        }
    }

    /// Adds the record a `…Put` change leaves in a state (a snapshot item); deletions add
    /// nothing. Returns whether it added one.
    pub fn add_change(&mut self, change: &Change) -> Result<bool, postcard::Error> {
        Ok(match put_item(change)? {
            Some((kind, key, value)) => {
                self.add(kind, &key, &value);
                true
            }
            None => false,
        })
    }

    pub fn kind(&self, kind: Kind) -> KindDigest {
        self.kinds[kind as usize]
    }

    pub fn report(&self) -> DigestReport {
        DigestReport {
            as_of: self.as_of,
            kinds: Kind::ALL
                .iter()
                .map(|&k| {
                    let d = self.kind(k);
                    (
                        k.name().to_string(),
                        KindReport {
                            count: d.count,
                            hash: d.hash_hex(),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::{CrlEntry, SshKrlState};

    fn crl(id: &str, n: u8) -> Change {
        Change::CrlPut(CrlEntry {
            issuer_id: id.into(),
            der: vec![n; 3],
            number: u64::from(n),
            this_update: 1,
            next_update: 2,
        })
    }

    #[test]
    fn order_does_not_matter_contents_do() {
        let changes = [crl("a", 1), crl("b", 2), crl("c", 3)];
        let mut fwd = StateDigest::new(7);
        let mut rev = StateDigest::new(7);
        for c in &changes {
            assert!(fwd.add_change(c).unwrap());
        }
        for c in changes.iter().rev() {
            rev.add_change(c).unwrap();
        }
        assert_eq!(fwd, rev);
        assert_eq!(fwd.kind(Kind::Crl).count, 3);
        // A stale record, a missing one, a doubled one: all differ.
        let mut stale = StateDigest::new(7);
        for c in [crl("a", 1), crl("b", 9), crl("c", 3)] {
            stale.add_change(&c).unwrap();
        }
        assert_ne!(fwd.report(), stale.report());
        let mut doubled = fwd.clone();
        doubled.add_change(&crl("a", 1)).unwrap();
        assert_ne!(fwd.kind(Kind::Crl), doubled.kind(Kind::Crl));
        // The same key and value under another kind hash differently.
        let mut other = StateDigest::new(7);
        let (_, k, v) = put_item(&crl("a", 1)).unwrap().unwrap();
        other.add(Kind::Ca, &k, &v);
        assert_ne!(other.kind(Kind::Ca).hash_hex(), {
            let mut d = StateDigest::new(7);
            d.add(Kind::Crl, &k, &v);
            d.kind(Kind::Crl).hash_hex()
        });
    }

    #[test]
    fn deletions_add_nothing_and_the_report_names_every_kind() {
        let mut d = StateDigest::new(1);
        assert!(!d
            .add_change(&Change::SshUserDelete {
                username: "x".into()
            })
            .unwrap());
        d.add_change(&Change::SshKrlPut(SshKrlState {
            version: 1,
            krl: vec![1, 2],
        }))
        .unwrap();
        let r = d.report();
        assert_eq!(r.kinds.len(), Kind::ALL.len());
        assert_eq!(r.kinds["ssh_krl"].count, 1);
        assert_eq!(r.kinds["ocsp"].count, 0);
        assert_eq!(r.kinds["ocsp"].hash, "0".repeat(64));
        let json = serde_json::to_string(&r).unwrap();
        let back: DigestReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
