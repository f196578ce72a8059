//! Load-testing support for Sigil.
//!
//! * `sigil-load` ([`engine`], [`scenario`], [`corpus`], [`report`]): an HTTP/1.1 keep-alive
//!   load generator (plain, TLS, mTLS) with an open-loop mode (constant arrival rate, latency
//!   from each request's intended send time, so coordinated omission is accounted for) and a
//!   closed-loop mode (maximum throughput). Scenarios (OCSP POST/GET over a corpus of real
//!   requests, CRL download, the KES key service, SSH `/api/authkeys`) sit behind the
//!   [`scenario::Scenario`] trait. See docs/LOADTEST.md.
//! * `sigil-fill-replica` ([`fill`]) writes a data-plane replica with N certificates'
//!   pre-signed responses (real signatures, both CertID hashes) and/or a synthetic SSH
//!   directory (users with real Ed25519 keys, hosts, groups, CAs, a KRL), as the replication
//!   stream would, so that the data plane can be measured at 10M+ certificates or 100,000 SSH
//!   users without creating them one by one.

pub mod corpus;
pub mod dist;
pub mod engine;
pub mod fill;
pub mod http;
pub mod ocsp_der;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod target;
pub mod tls;

/// Serial number of synthetic certificate `i`: 8 octets, positive and minimal
/// (`0x10_00_00_00_00_00_00_00 + i`), so a load generator can build requests from `i` alone.
pub fn synthetic_serial(i: u64) -> [u8; 8] {
    (0x1000_0000_0000_0000u64 + i).to_be_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn serials_are_canonical_positive_integers() {
        for i in [0, 1, 10_000_000, 0x0fff_ffff_ffff_ffff] {
            let s = super::synthetic_serial(i);
            assert_eq!(sigil_shared::der::canonical_uint(&s).unwrap(), &s[..]);
            assert!(s[0] < 0x80);
        }
    }
}
