//! Pending SCEP requests (`[scep] pending = true`): a PKCSReq without a challengePassword is
//! kept in `scep` (`req/{id}`) for an administrator, who approves (the certificate is issued
//! and the request marked approved in the same synced batch, fenced on the pending record as
//! read: two control-plane nodes approving it never both issue) or rejects it (fenced alike).
//! The client polls (CertPoll, or micromdm's same PKCSReq again) and gets the certificate,
//! PENDING or FAILURE. Each transition is audited (`scep.request.pending`, the
//! `certificate.issue` record with `scep_request`, `scep.request.reject`).

use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::certificates::{Attach, CertError, Certificates, IssueRequest};
use super::context::{retry_conflicts, Commit, Context};
use super::error::{ErrorKind, Internal};
use crate::audit::current_actor;
use crate::db::{cf, CertMeta, CertRecord, Enrollment, ScepRequest, ScepRequestState};

#[derive(Debug, Error)]
pub enum ScepRequestError {
    #[error("SCEP request {id:?} does not exist")]
    NotFound { id: String },
    #[error("SCEP request {id:?} is already {state}")]
    Decided { id: String, state: &'static str },
    /// Unauthenticated clients create pending requests: their number is bounded.
    #[error("{MAX_PENDING} SCEP requests are already pending approval")]
    TooManyPending,
    #[error(transparent)]
    Certificate(#[from] CertError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ScepRequestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Decided { .. } | Self::TooManyPending => ErrorKind::Conflict,
            Self::Certificate(e) => e.kind(),
            Self::Internal(e) => e.kind(),
        }
    }

    fn is_conflict(&self) -> bool {
        match self {
            Self::Internal(e) => e.is_write_conflict(),
            Self::Certificate(CertError::Internal(e)) => e.is_write_conflict(),
            _ => false,
        }
    }
}

super::error::internal_from!(ScepRequestError);

type Result<T, E = ScepRequestError> = std::result::Result<T, E>;

/// Pending requests kept at most (a request past it is refused, FAILURE badRequest).
pub const MAX_PENDING: usize = 1000;

/// `scep` key of a request.
fn req_key(id: &str) -> Vec<u8> {
    format!("req/{id}").into_bytes()
}

/// The id of the request `transaction_id` from the signer whose SPKI is `spki_der`, to
/// issuer `issuer_id`.
pub fn request_id(issuer_id: &str, transaction_id: &str, spki_der: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(issuer_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(transaction_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(spki_der);
    hex::encode(&ctx.finish().as_ref()[..16])
}

/// The pending-request store; one lock orders this node's decisions.
#[derive(Debug)]
pub struct ScepRequests {
    cx: Arc<Context>,
    certificates: Arc<Certificates>,
    lock: Mutex<()>,
}

impl ScepRequests {
    pub(super) fn new(cx: Arc<Context>, certificates: Arc<Certificates>) -> Self {
        Self {
            cx,
            certificates,
            lock: Mutex::new(()),
        }
    }

    fn read(&self, id: &str) -> Result<Option<(Vec<u8>, ScepRequest)>> {
        let Some(raw) = self.cx.db().get_raw(cf::SCEP, &req_key(id))? else {
            return Ok(None);
        };
        let rec = crate::db::decode(cf::SCEP, &raw)?;
        Ok(Some((raw, rec)))
    }

    /// The request `id`, if stored.
    pub fn get(&self, id: &str) -> Result<Option<ScepRequest>> {
        Ok(self.read(id)?.map(|(_, r)| r))
    }

    /// Every stored request (with `state` given, those in it), oldest first.
    pub fn list(&self, state: Option<&str>) -> Result<Vec<ScepRequest>> {
        let mut out = Vec::new();
        let mut err = None;
        self.cx
            .db()
            .store()
            .scan_prefix(cf::SCEP, b"req/", &mut |_, v| {
                match crate::db::decode::<ScepRequest>(cf::SCEP, v) {
                    Ok(r) => {
                        if state.is_none_or(|s| s == r.v1().state.name()) {
                            out.push(r);
                        }
                    }
                    Err(e) => err = Some(e),
                }
                true
            })
            .map_err(crate::db::DbError::from)?;
        if let Some(e) = err {
            return Err(e.into());
        }
        out.sort_by_key(|r| (r.v1().created_at, r.v1().id.clone()));
        Ok(out)
    }

    /// Stores `req` (pending), unless a request with its id exists: then that one. Refused
    /// when [`MAX_PENDING`] requests are pending.
    pub fn submit(&self, req: ScepRequest) -> Result<ScepRequest> {
        let id = req.v1().id.clone();
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        retry_conflicts(
            || {
                if let Some((_, existing)) = self.read(&id)? {
                    return Ok(existing);
                }
                if self.list(Some("pending"))?.len() >= MAX_PENDING {
                    return Err(ScepRequestError::TooManyPending);
                }
                let r = req.v1();
                let mut batch = WriteBatch::new();
                batch.put(cf::SCEP, req_key(&id), crate::db::encode(&req)?);
                self.cx.commit(
                    Commit::new(batch)
                        .expect_absent(cf::SCEP, req_key(&id))
                        .audit(
                            ("scep.request.pending", "scep_request", &id),
                            serde_json::json!({"issuer_id": r.issuer_id, "subject": r.subject, "transaction_id": r.transaction_id, "source": r.source}),
                        ),
                )?;
                tracing::info!(id, subject = %r.subject, "SCEP request pending approval");
                Ok(req.clone())
            },
            ScepRequestError::is_conflict,
        )
    }

    /// Approves a pending request: issues its certificate (checked again against the
    /// issuer's policy and the profile) and marks it approved, in one batch.
    pub fn approve(&self, id: &str) -> Result<(ScepRequest, CertRecord)> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        retry_conflicts(
            || {
                let (raw, rec) = self.pending(id)?;
                let r = rec.v1();
                let checked = self.certificates.check_issue(&IssueRequest {
                    issuer_id: r.issuer_id.clone(),
                    csr: r.csr_der.clone(),
                    validity_days: None,
                    profile: r.profile.clone(),
                })?;
                let by = current_actor().id;
                let value = |cert: &CertRecord| -> std::result::Result<Vec<u8>, Internal> {
                    let mut next = r.clone();
                    next.state = ScepRequestState::Approved {
                        cert_id: cert.id.clone(),
                        at: now_unix(),
                        by: by.clone(),
                    };
                    Ok(crate::db::encode(&ScepRequest::V1(next))?)
                };
                let attach = Attach {
                    cf: cf::SCEP,
                    key: req_key(id),
                    expect: Some(raw),
                    value: &value,
                    detail: ("scep_request", id.into()),
                };
                let meta = Some(CertMeta {
                    enrollment: Enrollment::Scep,
                });
                let cert = self.certificates.issue_attached(checked, meta, &attach)?;
                let approved = self
                    .get(id)?
                    .ok_or_else(|| ScepRequestError::NotFound { id: id.into() })?;
                Ok((approved, cert))
            },
            ScepRequestError::is_conflict,
        )
    }

    /// Rejects a pending request; the client's next poll gets FAILURE badRequest.
    pub fn reject(&self, id: &str, reason: &str) -> Result<ScepRequest> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        retry_conflicts(
            || {
                let (raw, rec) = self.pending(id)?;
                let mut next = rec.v1().clone();
                next.state = ScepRequestState::Rejected {
                    at: now_unix(),
                    by: current_actor().id,
                    reason: reason.into(),
                };
                let next = ScepRequest::V1(next);
                let mut batch = WriteBatch::new();
                batch.put(cf::SCEP, req_key(id), crate::db::encode(&next)?);
                self.cx.commit(
                    Commit::new(batch)
                        .expect_value(cf::SCEP, req_key(id), Some(raw))
                        .audit(
                            ("scep.request.reject", "scep_request", id),
                            serde_json::json!({"reason": reason, "subject": next.v1().subject}),
                        ),
                )?;
                Ok(next)
            },
            ScepRequestError::is_conflict,
        )
    }

    fn pending(&self, id: &str) -> Result<(Vec<u8>, ScepRequest)> {
        let (raw, rec) = self
            .read(id)?
            .ok_or_else(|| ScepRequestError::NotFound { id: id.into() })?;
        match rec.v1().state {
            ScepRequestState::Pending => Ok((raw, rec)),
            ref s => Err(ScepRequestError::Decided {
                id: id.into(),
                state: s.name(),
            }),
        }
    }
}
