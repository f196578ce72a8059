//! Archiving (certctl's `DELETE /api/v1/certificates/{id}`): the certificate is hidden from
//! lists unless asked for, and nothing else changes — its OCSP responses are still signed
//! and served, and it stays on its CA's CRL if revoked, until it expires. Archiving is for
//! the inventory, not for revocation.

use std::collections::HashSet;

use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::{CertError, Certificates, Result};
use crate::db::{cf, decode, encode, CertArchive, CertRecord, DbError};
use crate::services::context::{retry_conflicts, Commit};

/// Which certificates a list shows by their archive mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchivedFilter {
    /// Not archived (lists' default).
    Exclude,
    /// Archived or not.
    Include,
    /// Archived only.
    Only,
}

impl ArchivedFilter {
    pub fn admits(self, archived: bool) -> bool {
        match self {
            Self::Exclude => !archived,
            Self::Include => true,
            Self::Only => archived,
        }
    }
}

/// The serials of the archived certificates, for a scan that filters on them (read once per
/// scan: archived certificates are few next to the others).
#[derive(Debug, Default)]
pub struct ArchivedSet(HashSet<Vec<u8>>);

impl ArchivedSet {
    pub fn contains(&self, serial: &[u8]) -> bool {
        self.0.contains(serial)
    }
}

impl Certificates {
    /// Archives certificate `id`; archiving an archived certificate changes nothing (and
    /// returns when it was archived). Audited as `certificate.archive`.
    pub fn archive(&self, id: &str) -> Result<(CertRecord, i64)> {
        retry_conflicts(|| self.archive_once(id), CertError::is_write_conflict)
    }

    fn archive_once(&self, id: &str) -> Result<(CertRecord, i64)> {
        let cert = self.cert(id)?;
        if let Some(at) = self.archived_at(&cert.serial)? {
            return Ok((cert, at));
        }
        let at = now_unix();
        let mut batch = WriteBatch::new();
        batch.put(
            cf::CERT_ARCHIVE,
            cert.serial.clone(),
            encode(&CertArchive::V1 { at })?,
        );
        self.cx.commit(
            Commit::new(batch)
                .expect_absent(cf::CERT_ARCHIVE, cert.serial.clone())
                .audit(
                    ("certificate.archive", "certificate", &cert.id),
                    serde_json::json!({"issuer_id": cert.issuer_id, "subject": cert.subject}),
                ),
        )?;
        tracing::info!(serial = %cert.id, "archived certificate");
        Ok((cert, at))
    }

    /// When certificate `serial` was archived, if it was.
    pub fn archived_at(&self, serial: &[u8]) -> Result<Option<i64>> {
        let rec: Option<CertArchive> = self.cx.db().get(cf::CERT_ARCHIVE, serial)?;
        Ok(rec.map(|r| r.at()))
    }

    pub(super) fn is_archived(&self, serial: &[u8]) -> Result<bool> {
        Ok(self.cx.db().get_raw(cf::CERT_ARCHIVE, serial)?.is_some())
    }

    /// Every archived serial.
    pub fn archived_set(&self) -> Result<ArchivedSet> {
        let mut set = HashSet::new();
        let mut bad = None;
        self.cx
            .db()
            .store()
            .scan(
                cf::CERT_ARCHIVE,
                &[],
                None,
                &mut |k, v| match decode::<CertArchive>(cf::CERT_ARCHIVE, v) {
                    Ok(_) => {
                        set.insert(k.to_vec());
                        true
                    }
                    Err(e) => {
                        bad = Some(e);
                        false
                    }
                },
            )
            .map_err(DbError::from)?;
        match bad {
            Some(e) => Err(e.into()),
            None => Ok(ArchivedSet(set)),
        }
    }
}
