//! Finding certificates by filter: the management API's list and bulk revocation. A scan of
//! the `certs` table (one issuer's prefix when the filter names the issuer, point lookups when
//! it names certificates): bounded memory, time proportional to the certificates scanned.

use sigil_shared::time::now_unix;

use super::archive::{ArchivedFilter, ArchivedSet};
use super::{CertError, Certificates, Result};
use crate::db::{cf, decode, issuer_prefix, CertRecord, CertState, DbError};

/// Seconds before notAfter from which an active certificate counts as `expiring`.
pub const EXPIRING_WITHIN_SECS: i64 = 30 * 86_400;

/// Status as the API shows it: revoked (including on hold), expired, else active.
pub fn status_of(c: &CertRecord, now: i64) -> &'static str {
    match c.state {
        CertState::Revoked { .. } => "revoked",
        CertState::Active if c.not_after < now => "expired",
        CertState::Active => "active",
    }
}

/// A status filter: the statuses above, or `expiring` (active, notAfter within 30 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Active,
    Expiring,
    Expired,
    Revoked,
}

impl StatusFilter {
    /// Case-insensitive (certctl writes `Active`, kipuka `active`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "active" => Self::Active,
            "expiring" => Self::Expiring,
            "expired" => Self::Expired,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }

    fn matches(self, c: &CertRecord, now: i64) -> bool {
        let status = status_of(c, now);
        match self {
            Self::Active => status == "active",
            Self::Expiring => status == "active" && c.not_after <= now + EXPIRING_WITHIN_SECS,
            Self::Expired => status == "expired",
            Self::Revoked => status == "revoked",
        }
    }
}

/// Certificate id from the forms clients use: lowercase or uppercase hex, with or without
/// colons (`0A:1B:…` as kipuka's admin API shows serials).
pub fn normalize_id(id: &str) -> String {
    id.trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Every criterion given must hold (AND); text criteria are case-insensitive substrings.
/// Serialised (criteria given only) into audit records.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CertFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Subject or any SAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Bounds (inclusive, Unix seconds) on the issuance time and on notAfter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_before: Option<i64>,
    /// Certificate ids (normalised with [`normalize_id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// By archive mark; `None`: archived or not (bulk operations). Not a criterion of its
    /// own for [`CertFilter::is_empty`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<ArchivedFilter>,
}

impl CertFilter {
    /// True when no criterion is set (it would match every certificate).
    pub fn is_empty(&self) -> bool {
        self.issuer_id.is_none()
            && self.status.is_none()
            && self.subject.is_none()
            && self.search.is_none()
            && self.profile.is_none()
            && self.issued_after.is_none()
            && self.issued_before.is_none()
            && self.expires_after.is_none()
            && self.expires_before.is_none()
            && self.ids.as_ref().is_none_or(Vec::is_empty)
    }

    /// True when the only criterion is the issuer.
    fn only_issuer(&self) -> bool {
        self.issuer_id.is_some()
            && Self {
                issuer_id: None,
                ..self.clone()
            }
            .is_empty()
    }

    /// The archived serials this filter needs to know (none when it does not filter on them).
    fn archived_set(&self, certs: &Certificates) -> Result<ArchivedSet> {
        match self.archived {
            None | Some(ArchivedFilter::Include) => Ok(ArchivedSet::default()),
            Some(_) => certs.archived_set(),
        }
    }

    /// Whether the archive mark of the certificate with serial `serial` passes.
    fn admits(&self, set: &ArchivedSet, serial: &[u8]) -> bool {
        self.archived.is_none_or(|a| a.admits(set.contains(serial)))
    }

    pub fn matches(&self, c: &CertRecord, now: i64) -> bool {
        let contains =
            |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
        self.issuer_id.as_ref().is_none_or(|i| *i == c.issuer_id)
            && self.status.is_none_or(|s| s.matches(c, now))
            && self
                .subject
                .as_ref()
                .is_none_or(|s| contains(&c.subject, s))
            && self
                .search
                .as_ref()
                .is_none_or(|s| contains(&c.subject, s) || c.sans.iter().any(|n| contains(n, s)))
            && self.profile.as_ref().is_none_or(|p| *p == c.profile)
            && self.issued_after.is_none_or(|t| c.created_at >= t)
            && self.issued_before.is_none_or(|t| c.created_at <= t)
            && self.expires_after.is_none_or(|t| c.not_after >= t)
            && self.expires_before.is_none_or(|t| c.not_after <= t)
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
    }
}

/// One page of [`Certificates::page_after`].
#[derive(Debug, Default)]
pub struct CertPage {
    pub certs: Vec<CertRecord>,
    /// Where the next page starts (after this key), if more may match.
    pub next: Option<Vec<u8>>,
    /// Certificates looked at.
    pub scanned: u64,
    /// The time budget ran out before the page was full.
    pub out_of_time: bool,
}

/// The `certs` keys a filter's issuer covers: `issuer 0x00 serial`, so an issuer's part is
/// `[issuer 0x00, issuer 0x01)`; every key without one.
fn issuer_range(filter: &CertFilter) -> (Vec<u8>, Option<Vec<u8>>) {
    match filter.issuer_id.as_deref() {
        Some(i) => {
            let mut end = i.as_bytes().to_vec();
            end.push(1);
            (issuer_prefix(i), Some(end))
        }
        None => (Vec::new(), None),
    }
}

/// What [`Certificates::scan_records`] calls with each key and value: go on, stop, or fail.
type RecordVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> std::result::Result<bool, DbError> + 'a;

impl Certificates {
    /// Visits the `certs` records in `[from, to)` with `visit(key, value)` until it returns
    /// `Ok(false)` or an error (which is returned).
    fn scan_records(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut RecordVisitor<'_>,
    ) -> Result<()> {
        let mut bad: Option<DbError> = None;
        self.cx
            .db()
            .store()
            .scan(cf::CERTS, from, to, &mut |k, v| match visit(k, v) {
                Ok(go_on) => go_on,
                Err(e) => {
                    bad = Some(e);
                    false
                }
            })
            .map_err(DbError::from)?;
        bad.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Calls `f` with every certificate matching `filter` (in key order: issuer, serial)
    /// until it returns false.
    pub fn scan_certs(
        &self,
        filter: &CertFilter,
        f: &mut dyn FnMut(CertRecord) -> bool,
    ) -> Result<()> {
        let now = now_unix();
        let archived = filter.archived_set(self)?;
        if let Some(ids) = &filter.ids {
            for id in ids {
                match self.cert(id) {
                    Ok(c) if filter.matches(&c, now) && filter.admits(&archived, &c.serial) => {
                        if !f(c) {
                            break;
                        }
                    }
                    Ok(_) | Err(CertError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        let (from, to) = issuer_range(filter);
        self.scan_records(&from, to.as_deref(), &mut |_, v| {
            let c = decode::<CertRecord>(cf::CERTS, v)?;
            Ok(!filter.matches(&c, now) || !filter.admits(&archived, &c.serial) || f(c))
        })
    }

    /// One page (`page` from 1) of the certificates matching `filter`, and how many match.
    pub fn find_certs(
        &self,
        filter: &CertFilter,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<CertRecord>, u64)> {
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        let (mut total, mut out) = (0u64, Vec::new());
        if filter.is_empty() || filter.only_issuer() {
            // Every record matches but archived ones: only the page's records are decoded, the
            // others counted; the serial is the key's part after the issuer id's 0x00.
            let archived = filter.archived_set(self)?;
            let (from, to) = issuer_range(filter);
            self.scan_records(&from, to.as_deref(), &mut |k, v| {
                let serial = k.iter().position(|b| *b == 0).map_or(k, |i| &k[i + 1..]);
                if !filter.admits(&archived, serial) {
                    return Ok(true);
                }
                if total >= skip && (out.len() as u64) < per_page {
                    out.push(decode::<CertRecord>(cf::CERTS, v)?);
                }
                total += 1;
                Ok(true)
            })?;
            return Ok((out, total));
        }
        self.scan_certs(filter, &mut |c| {
            if total >= skip && (out.len() as u64) < per_page {
                out.push(c);
            }
            total += 1;
            true
        })?;
        Ok((out, total))
    }

    /// Up to `per_page` certificates matching `filter` in key order after the key `after`
    /// (the console's pages: each a seek, however deep), scanning for at most `budget`: a
    /// filter that matches few certificates returns what it found so far and where to go on.
    pub fn page_after(
        &self,
        filter: &CertFilter,
        after: Option<&[u8]>,
        per_page: usize,
        budget: std::time::Duration,
    ) -> Result<CertPage> {
        let started = std::time::Instant::now();
        let now = now_unix();
        let (prefix, end) = issuer_range(filter);
        let start = match after {
            Some(a) if a >= prefix.as_slice() => {
                let mut s = a.to_vec();
                s.push(0);
                s
            }
            _ => prefix,
        };
        let mut page = CertPage::default();
        let (mut last_in, mut last_seen) = (Vec::new(), Vec::new());
        let mut more = false;
        let archived = filter.archived_set(self)?;
        self.scan_records(&start, end.as_deref(), &mut |k, v| {
            let c = decode::<CertRecord>(cf::CERTS, v)?;
            if filter.matches(&c, now) && filter.admits(&archived, &c.serial) {
                if page.certs.len() == per_page {
                    more = true;
                    return Ok(false);
                }
                page.certs.push(c);
                last_in = k.to_vec();
            }
            page.scanned += 1;
            last_seen = k.to_vec();
            if started.elapsed() >= budget {
                page.out_of_time = true;
                return Ok(false);
            }
            Ok(true)
        })?;
        page.next = if more {
            Some(last_in)
        } else if page.out_of_time {
            Some(last_seen)
        } else {
            None
        };
        Ok(page)
    }

    /// OCSP refresh backlog at `now`: how many certificates are due for re-signing (counting
    /// stops at `cap`) and since when the oldest one is due.
    pub fn ocsp_backlog(&self, now: i64, cap: u64) -> Result<(u64, Option<i64>)> {
        let end = ((now.max(0) as u64) + 1).to_be_bytes();
        let (mut n, mut oldest) = (0u64, None);
        self.cx
            .db()
            .store()
            .scan(cf::OCSP_DUE, &[], Some(&end), &mut |k, _| {
                if oldest.is_none() {
                    oldest = crate::db::parse_due_key(k).map(|(due, _, _)| due);
                }
                n += 1;
                n < cap
            })
            .map_err(DbError::from)?;
        Ok((n, oldest))
    }

    /// How many of `issuer_id`'s certificates are live: unexpired and not revoked for good
    /// (on hold counts).
    pub fn live_count(&self, issuer_id: &str) -> Result<u64> {
        let now = now_unix();
        let mut n = 0u64;
        let (from, to) = issuer_range(&CertFilter {
            issuer_id: Some(issuer_id.into()),
            ..Default::default()
        });
        self.scan_records(&from, to.as_deref(), &mut |_, v| {
            let c = decode::<CertRecord>(cf::CERTS, v)?;
            let held = matches!(
                c.state,
                CertState::Revoked {
                    reason: sigil_shared::ocsp::RevocationReason::CertificateHold,
                    ..
                }
            );
            if c.not_after >= now && (c.state == CertState::Active || held) {
                n += 1;
            }
            Ok(true)
        })?;
        Ok(n)
    }

    /// How many certificates `issuer_id` has issued (a scan of its part of `certs`).
    pub fn count_issued(&self, issuer_id: &str) -> Result<u64> {
        let mut n = 0u64;
        self.cx
            .db()
            .store()
            .scan_prefix(cf::CERTS, &issuer_prefix(issuer_id), &mut |_, _| {
                n += 1;
                true
            })
            .map_err(DbError::from)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::RevocationReason;

    fn cert(id: &str, subject: &str, not_after: i64, state: CertState) -> CertRecord {
        CertRecord {
            id: id.into(),
            issuer_id: "ca".into(),
            serial: hex::decode(id).unwrap(),
            der: Vec::new(),
            subject: subject.into(),
            sans: vec!["DNS:www.example.com".into()],
            profile: "default".into(),
            not_before: 0,
            not_after,
            created_at: 100,
            state,
            ocsp_due_at: 0,
        }
    }

    #[test]
    fn filters_combine_with_and() {
        let now = 1_000_000;
        let active = cert("0a", "CN=Alpha", now + 86_400 * 90, CertState::Active);
        let expiring = cert("0b", "CN=Beta", now + 86_400, CertState::Active);
        let expired = cert("0c", "CN=Gamma", now - 1, CertState::Active);
        let held = cert(
            "0d",
            "CN=Delta",
            now + 86_400 * 90,
            CertState::Revoked {
                time: 5,
                reason: RevocationReason::CertificateHold,
            },
        );
        let st = |s| CertFilter {
            status: StatusFilter::parse(s),
            ..Default::default()
        };
        assert!(st("Active").matches(&active, now) && st("active").matches(&expiring, now));
        assert!(st("expiring").matches(&expiring, now) && !st("expiring").matches(&active, now));
        assert!(st("expired").matches(&expired, now) && !st("active").matches(&expired, now));
        assert!(st("revoked").matches(&held, now));
        assert!(StatusFilter::parse("lost").is_none());

        let f = CertFilter {
            search: Some("WWW.EXAMPLE".into()),
            subject: Some("alp".into()),
            issued_after: Some(100),
            issued_before: Some(100),
            ..Default::default()
        };
        assert!(f.matches(&active, now) && !f.matches(&expiring, now));
        let ids = CertFilter {
            ids: Some(vec![normalize_id("0B"), normalize_id(" 0c ")]),
            ..Default::default()
        };
        assert!(!ids.matches(&active, now) && ids.matches(&expiring, now));
        assert!(CertFilter::default().is_empty());
        assert!(CertFilter {
            ids: Some(Vec::new()),
            ..Default::default()
        }
        .is_empty());
        assert!(!ids.is_empty());
        assert_eq!(normalize_id("0A:1B:FF"), "0a1bff");
    }
}
