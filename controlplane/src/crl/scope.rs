//! Which CRL covers a certificate (sans-io): partitioned CRLs and their delta CRLs.
//!
//! An issuer with `crl_shards = n > 1` assigns each certificate it issues to shard
//! `k = (last four serial octets, big-endian) mod n`, and the certificate's CRL distribution
//! point names that shard's CRL, `{base}/crl/{issuer}/{n}-{k}.crl`, whose critical Issuing
//! Distribution Point (RFC 5280 §5.2.5) names the same URL, as Let's Encrypt's sharded CRLs
//! do. The complete CRL `{base}/crl/{issuer}.crl` (no IDP) is always published too, and every
//! shard count an issuer ever used keeps its shards published, so a certificate's CRL exists
//! for as long as the certificate. With delta CRLs on, each scope `S` also has a delta CRL
//! `{base}/crl/{S}/delta.crl`, named by the Freshest CRL extension (§5.2.6, §4.2.1.15).

/// One CRL scope of an issuer: the complete CRL (`shards == 1`) or shard `shard` of `shards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub shards: u32,
    pub shard: u32,
}

impl Scope {
    pub const FULL: Scope = Scope {
        shards: 1,
        shard: 0,
    };

    /// The scope of the certificate with `serial` when its issuer has `shards` shards.
    pub fn of(serial: &[u8], shards: u32) -> Scope {
        let shards = shards.max(1);
        let mut tail = [0u8; 4];
        let n = serial.len().min(4);
        tail[4 - n..].copy_from_slice(&serial[serial.len() - n..]);
        Scope {
            shards,
            shard: u32::from_be_bytes(tail) % shards,
        }
    }

    /// Every scope published for an issuer that used these shard counts (the complete CRL
    /// first).
    pub fn all(families: &[u32]) -> Vec<Scope> {
        let mut out = vec![Scope::FULL];
        let mut counts: Vec<u32> = families.iter().copied().filter(|n| *n > 1).collect();
        counts.sort_unstable();
        counts.dedup();
        for n in counts {
            out.extend((0..n).map(|shard| Scope { shards: n, shard }));
        }
        out
    }

    /// The key of this scope's CRL (in `crls`, on the data planes, in the URL path).
    pub fn crl_id(&self, issuer: &str) -> String {
        if self.shards <= 1 {
            issuer.to_string()
        } else {
            format!("{issuer}/{}-{}", self.shards, self.shard)
        }
    }

    /// The key of this scope's delta CRL.
    pub fn delta_id(&self, issuer: &str) -> String {
        format!("{}/delta", self.crl_id(issuer))
    }

    /// Where relying parties fetch this scope's CRL (`base` without a trailing slash).
    pub fn url(&self, base: &str, issuer: &str) -> String {
        format!("{base}/crl/{}.crl", self.crl_id(issuer))
    }

    /// Where relying parties fetch this scope's delta CRL.
    pub fn delta_url(&self, base: &str, issuer: &str) -> String {
        format!("{base}/crl/{}.crl", self.delta_id(issuer))
    }

    /// Whether a certificate with `serial` is listed on this scope's CRL.
    pub fn covers(&self, serial: &[u8]) -> bool {
        self.shards <= 1 || Scope::of(serial, self.shards) == *self
    }
}

/// `items` split over `scopes` (as [`Scope::all`] lists them): for each scope, the items it
/// covers, in one pass (each item's shard computed once per shard count).
pub fn partition<T: Clone>(
    scopes: &[Scope],
    items: &[T],
    serial: impl Fn(&T) -> &[u8],
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new(); scopes.len()];
    let index: std::collections::HashMap<Scope, usize> =
        scopes.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut counts: Vec<u32> = scopes.iter().map(|s| s.shards).filter(|n| *n > 1).collect();
    counts.dedup();
    for item in items {
        if let Some(i) = index.get(&Scope::FULL) {
            out[*i].push(item.clone());
        }
        for n in &counts {
            if let Some(i) = index.get(&Scope::of(serial(item), *n)) {
                out[*i].push(item.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_and_urls() {
        let s = Scope {
            shards: 4,
            shard: 3,
        };
        assert_eq!(s.crl_id("demo"), "demo/4-3");
        assert_eq!(s.delta_id("demo"), "demo/4-3/delta");
        assert_eq!(s.url("http://x", "demo"), "http://x/crl/demo/4-3.crl");
        assert_eq!(Scope::FULL.url("http://x", "demo"), "http://x/crl/demo.crl");
        assert_eq!(
            Scope::FULL.delta_url("http://x", "demo"),
            "http://x/crl/demo/delta.crl"
        );
        assert_eq!(Scope::all(&[4, 1, 4]).len(), 5);
        assert_eq!(Scope::of(&[0x01, 0x00, 0x00, 0x00, 0x07], 4).shard, 3);
        assert_eq!(Scope::of(&[0x05], 4).shard, 1);
    }

    #[test]
    fn partition_agrees_with_covers() {
        let scopes = Scope::all(&[4, 3]);
        let serials: Vec<Vec<u8>> = (0u16..200).map(|i| i.to_be_bytes().to_vec()).collect();
        let parts = partition(&scopes, &serials, |s| s.as_slice());
        for (scope, part) in scopes.iter().zip(&parts) {
            let want: Vec<&Vec<u8>> = serials.iter().filter(|s| scope.covers(s)).collect();
            assert_eq!(part.iter().collect::<Vec<_>>(), want, "{scope:?}");
        }
    }

    proptest! {
        /// Every serial is covered by the complete CRL and by exactly one shard of each count.
        #[test]
        fn each_serial_in_exactly_one_shard(serial in proptest::collection::vec(any::<u8>(), 1..21), n in 1u32..64) {
            let scopes = Scope::all(&[n]);
            prop_assert!(scopes[0].covers(&serial));
            let covering = scopes[1..].iter().filter(|s| s.covers(&serial)).count();
            prop_assert_eq!(covering, if n > 1 { 1 } else { 0 });
        }
    }
}
