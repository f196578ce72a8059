//! Delta CRLs (RFC 5280 §5.2.4), sans-io: what changed since a base CRL. The base's entries
//! are read back from its DER, so a delta is right whatever the revocation dates say (an
//! imported certificate revoked long ago, a release from hold).

use std::collections::HashMap;

use der::Decode;
use sigil_shared::ocsp::RevocationReason;
use x509_cert::crl::CertificateList;

use super::RevokedEntry;

/// The serials and reasons a CRL lists (reasons it does not state read as `unspecified`).
pub fn listed(der: &[u8]) -> Result<HashMap<Vec<u8>, RevocationReason>, der::Error> {
    let crl = CertificateList::from_der(der)?;
    let mut out = HashMap::new();
    for r in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        let mut reason = RevocationReason::Unspecified;
        for e in r.crl_entry_extensions.iter().flatten() {
            if e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS {
                if let [0x0a, 0x01, code] = e.extn_value.as_bytes() {
                    reason = RevocationReason::ALL
                        .into_iter()
                        .find(|r| r.code() == *code)
                        .unwrap_or(RevocationReason::Unspecified);
                }
            }
        }
        out.insert(r.serial_number.as_bytes().to_vec(), reason);
    }
    Ok(out)
}

/// The entries of a delta CRL over a base that lists `base`, when `current` is revoked now:
/// every current entry the base lacks or lists with another reason (on hold, then revoked for
/// good), and removeFromCRL for each base entry no longer revoked (released from hold).
pub fn entries(
    base: &HashMap<Vec<u8>, RevocationReason>,
    current: &[RevokedEntry],
    now: i64,
) -> Vec<RevokedEntry> {
    let mut out: Vec<RevokedEntry> = current
        .iter()
        .filter(|c| base.get(&c.serial) != Some(&c.reason))
        .cloned()
        .collect();
    let still: std::collections::HashSet<&[u8]> =
        current.iter().map(|c| c.serial.as_slice()).collect();
    let mut removed: Vec<RevokedEntry> = base
        .keys()
        .filter(|s| !still.contains(s.as_slice()))
        .map(|s| RevokedEntry {
            serial: s.clone(),
            time: now,
            reason: RevocationReason::CertificateHold,
            remove: true,
        })
        .collect();
    removed.sort_by(|a, b| a.serial.cmp(&b.serial));
    out.extend(removed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(serial: u8, reason: RevocationReason) -> RevokedEntry {
        RevokedEntry {
            serial: vec![serial],
            time: 100,
            reason,
            remove: false,
        }
    }

    #[test]
    fn additions_changes_and_releases() {
        use RevocationReason::*;
        let base = HashMap::from([
            (vec![1], KeyCompromise),
            (vec![2], CertificateHold),
            (vec![3], CertificateHold),
        ]);
        // 1 unchanged, 2 revoked for good, 3 released, 4 new.
        let now = [e(1, KeyCompromise), e(2, Superseded), e(4, Unspecified)];
        let d = entries(&base, &now, 500);
        let shown: Vec<(u8, RevocationReason, bool)> = d
            .iter()
            .map(|r| (r.serial[0], r.reason, r.remove))
            .collect();
        assert_eq!(
            shown,
            [
                (2, Superseded, false),
                (4, Unspecified, false),
                (3, CertificateHold, true)
            ]
        );
        assert!(entries(
            &base,
            &[
                e(1, KeyCompromise),
                e(2, CertificateHold),
                e(3, CertificateHold)
            ],
            1
        )
        .is_empty());
    }
}
