//! Re-signing ageing OCSP responses (for the OCSP refresh job). Due certificates are found
//! through the `ocsp_due` index (ordered by due time), signed outside any lock, then committed
//! under every status lock (`status_locks::StatusLocks::all`) after re-checking that no revocation happened meanwhile.

use sigil_shared::replication::{Change, OcspEntry};
use sigil_storage::WriteBatch;

use super::{Certificates, Result};
use crate::db::{cf, due_key, encode, parse_due_key, serial_key, CertRecord, CertState};
use crate::ocsp::sign_responses;
use crate::services::context::{retry_conflicts, Commit};

/// A certificate whose responses are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub due: i64,
    pub issuer_id: String,
    pub serial: Vec<u8>,
}

enum Outcome {
    Resigned {
        cert: CertRecord,
        signed_state: CertState,
        entries: Vec<OcspEntry>,
    },
    Expired {
        cert: CertRecord,
    },
    Missing {
        due: Due,
    },
}

impl Certificates {
    /// Up to `limit` certificates due at or before `now`, oldest first.
    pub fn due_before(&self, now: i64, limit: usize) -> Result<Vec<Due>> {
        let mut out = Vec::new();
        let end = ((now.max(0) as u64) + 1).to_be_bytes();
        self.cx
            .db()
            .store()
            .scan(cf::OCSP_DUE, &[], Some(&end), &mut |k, _| {
                if let Some((due, issuer_id, serial)) = parse_due_key(k) {
                    out.push(Due {
                        due,
                        issuer_id,
                        serial,
                    });
                }
                out.len() < limit
            })
            .map_err(crate::db::DbError::from)?;
        Ok(out)
    }

    /// Re-signs one chunk of due certificates and commits it; returns how many were handled.
    /// Each certificate's record is fenced as read, so a revocation another node commits
    /// meanwhile fails the chunk's commit (instead of being overwritten by a response signed
    /// for the old state), which is then signed again from the new state.
    pub fn refresh(&self, chunk: &[Due], now: i64) -> Result<usize> {
        retry_conflicts(
            || self.refresh_once(chunk, now),
            super::CertError::is_write_conflict,
        )
    }

    fn refresh_once(&self, chunk: &[Due], now: i64) -> Result<usize> {
        let validity = self.ocsp_validity_secs();
        let mut outcomes = Vec::with_capacity(chunk.len());
        for d in chunk {
            let cert: Option<CertRecord> = self
                .cx
                .db()
                .get(cf::CERTS, &serial_key(&d.issuer_id, &d.serial))?;
            let Some(cert) = cert else {
                outcomes.push(Outcome::Missing { due: d.clone() });
                continue;
            };
            if cert.not_after < now {
                outcomes.push(Outcome::Expired { cert });
                continue;
            }
            let ca = self.issuers.ca(&cert.issuer_id)?;
            let responder = self.issuers.responder_for(&ca, now + validity, now)?;
            let entries = sign_responses(
                &ca,
                &responder,
                &cert.serial,
                cert.state,
                now,
                validity,
                self.hash_algorithms(),
            )?;
            outcomes.push(Outcome::Resigned {
                signed_state: cert.state,
                cert,
                entries,
            });
        }

        let _g = self.status_locks.all();
        let mut batch = WriteBatch::new();
        let mut changes = Vec::new();
        let mut fences = Vec::new();
        let mut handled = 0;
        for o in outcomes {
            match o {
                Outcome::Missing { due } => {
                    batch.delete(cf::OCSP_DUE, due_key(due.due, &due.issuer_id, &due.serial));
                }
                Outcome::Expired { cert } => {
                    // Expired: stop serving status for it (its last responses are deleted from
                    // data planes; CRLs keep listing it if it was revoked).
                    let ca = self.issuers.ca(&cert.issuer_id)?;
                    batch.delete(
                        cf::OCSP_DUE,
                        due_key(cert.ocsp_due_at, &cert.issuer_id, &cert.serial),
                    );
                    for alg in self.hash_algorithms() {
                        let key = ca.hashes_for(*alg).key_for(&cert.serial);
                        batch.delete(cf::OCSP, key.as_bytes().to_vec());
                        changes.push(Change::OcspDelete { key });
                    }
                }
                Outcome::Resigned {
                    cert,
                    signed_state,
                    entries,
                } => {
                    // Re-read under the lock: a revocation may have committed meanwhile.
                    let current: Option<CertRecord> = self
                        .cx
                        .db()
                        .get(cf::CERTS, &serial_key(&cert.issuer_id, &cert.serial))?;
                    let Some(mut current) = current else { continue };
                    if current.state != signed_state || current.ocsp_due_at != cert.ocsp_due_at {
                        continue; // newer responses were written by revoke/unhold
                    }
                    let key = serial_key(&current.issuer_id, &current.serial);
                    fences.push((key.clone(), encode(&current)?));
                    self.reschedule(&mut batch, &mut current, now);
                    batch.put(cf::CERTS, key, encode(&current)?);
                    self.stage_responses(&mut batch, &current.issuer_id, entries, &mut changes)?;
                }
            }
            handled += 1;
        }
        // Not audited: refreshes would flood the log; they are in the replication log.
        let refreshed = fences
            .into_iter()
            .fold(Commit::new(batch), |c, (key, read)| {
                c.expect_value(cf::CERTS, key, Some(read))
            })
            .replicate(changes);
        if !refreshed.is_empty() {
            self.cx.commit(refreshed)?;
        }
        Ok(handled)
    }
}
