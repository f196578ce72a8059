//! Bulk revocation from the certificate list's filter (`delete:certificates`): a preview of
//! what matches and what would be revoked, a reason, then the revocation as a background job
//! (`Certificates::bulk_revoke_with`, as `POST /api/v1/certificates/bulk-revoke` runs it, as the
//! signed-in actor: each certificate audited, then the summary) whose page shows its progress
//! and, at the end, what was revoked, skipped and failed. The console keeps the last
//! [`KEPT`] jobs in memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::ocsp::RevocationReason;
use sigil_shared::time::{now_unix, rfc3339};

use super::super::auth::Signed;
use super::super::{layout, run, State, UiError};
use super::filter::FilterQuery;
use crate::audit::with_actor;
use crate::services::certificates::{BulkRevocation, CertFilter};

/// Jobs kept for their pages.
const KEPT: usize = 16;
/// Certificates of the preview listed by name.
const SAMPLE: usize = 10;

/// The list's filter (as the list page's query has it) and the reason.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkQuery {
    #[serde(flatten)]
    filter: FilterQuery,
    #[serde(default)]
    reason: String,
}

impl BulkQuery {
    fn filter(&self) -> Result<CertFilter, UiError> {
        let filter = self.filter.filter()?;
        if filter.is_empty() {
            return Err(UiError::new(
                StatusCode::BAD_REQUEST,
                "filter the list first: a bulk revocation needs at least one criterion",
            ));
        }
        Ok(filter)
    }

    fn reason(&self) -> Result<RevocationReason, UiError> {
        match self.reason.as_str() {
            "" => Ok(RevocationReason::Unspecified),
            r => RevocationReason::parse(r).ok_or_else(|| {
                UiError::new(StatusCode::BAD_REQUEST, "not an RFC 5280 revocation reason")
            }),
        }
    }

    fn describe(&self) -> String {
        self.filter.describe()
    }
}

/// One bulk revocation under way or done.
#[derive(Debug)]
pub struct Job {
    id: String,
    actor: String,
    started: i64,
    what: String,
    reason: RevocationReason,
    done: AtomicU64,
    total: AtomicU64,
    outcome: Mutex<Option<Result<BulkRevocation, String>>>,
}

/// The console's recent jobs.
#[derive(Debug, Default)]
pub struct BulkJobs {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl BulkJobs {
    fn add(&self, job: Arc<Job>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.len() == KEPT {
            jobs.pop_front();
        }
        jobs.push_back(job);
    }

    fn get(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find(|j| j.id == id).cloned()
    }
}

/// `GET /ui/certificates/bulk`: the preview.
pub async fn preview(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<BulkQuery>,
) -> Result<Markup, UiError> {
    signed.require(&console, "delete:certificates").await?;
    let (filter, reason) = (q.filter()?, q.reason()?);
    let certs = console.services().certificates.clone();
    let p = run(signed.actor(), move || {
        certs.bulk_preview(&filter, reason, SAMPLE)
    })
    .await?;
    let now = now_unix();
    let body = html! {
        p { "Certificates matching " strong { (q.describe()) } ": " (p.matched) "." }
        @if p.to_revoke == 0 {
            p class="notice" role="status" { "None of them would be revoked (already revoked or expired)." }
        } @else {
            p { strong { (p.to_revoke) } " would be revoked now; "
                (p.matched - p.to_revoke) " are already revoked or expired and are skipped. Each revocation is audited, OCSP answers and the CRL follow." }
            h2 { "The first " (p.sample.len()) " to be revoked" }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Serial" } th { "Subject" } th { "Issuer" } th { "Not after" } } }
                    tbody {
                        @for c in &p.sample {
                            tr {
                                td class="mono" { a href={ "/ui/certificates/" (c.id) } { (c.id) } }
                                td class="mono" { (c.subject) }
                                td { (c.issuer_id) }
                                td { (rfc3339(c.not_after)) " " @if c.not_after < now { (layout::badge("expired")) } }
                            }
                        }
                    }
                }
            }
            form class="stack" method="post" action="/ui/certificates/bulk" data-confirm={ "Revoke " (p.to_revoke) " certificates? This cannot be undone." } {
                (layout::csrf(&signed))
                @for (name, value) in q.filter.pairs() {
                    input type="hidden" name=(name) value=(value);
                }
                div class="field" { label for="b-reason" { "Reason" }
                    select id="b-reason" name="reason" {
                        @for r in RevocationReason::ALL { option value=(r.name()) selected[r == reason] { (r.name()) } }
                    }
                }
                div class="actions" {
                    button type="submit" class="danger" { "Revoke " (p.to_revoke) " certificates" }
                    a class="button secondary" href="/ui/certificates" { "Cancel" }
                }
            }
        }
    };
    Ok(layout::page(
        &signed,
        "/ui/certificates",
        "Bulk revocation",
        body,
    ))
}

/// `POST /ui/certificates/bulk`: starts the job, then to its page.
pub async fn start(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(q): Form<BulkQuery>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:certificates").await?;
    let (filter, reason) = (q.filter()?, q.reason()?);
    // A random id: job pages are not guessable from one another.
    let id = super::super::session::random_token()
        .map(|t| t[..16].to_string())
        .ok_or_else(|| UiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    let actor = signed.actor();
    let job = Arc::new(Job {
        id: id.clone(),
        actor: actor.id.clone(),
        started: now_unix(),
        what: q.describe(),
        reason,
        done: AtomicU64::new(0),
        total: AtomicU64::new(0),
        outcome: Mutex::new(None),
    });
    console.bulk.add(job.clone());
    let certs = console.services().certificates.clone();
    let running = job.clone();
    let spawned = std::thread::Builder::new()
        .name("console-bulk-revoke".into())
        .spawn(move || {
            let result = with_actor(actor, || {
                certs.bulk_revoke_with(&filter, reason, &mut |done, total| {
                    running.total.store(total, Ordering::Relaxed);
                    running.done.store(done, Ordering::Relaxed);
                })
            });
            *running.outcome.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(result.map_err(|e| crate::api::ApiError::from(e).message));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "console: no thread for a bulk revocation");
        *job.outcome.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Err("could not start: try again".into()));
    }
    Ok(Redirect::to(&format!("/ui/certificates/bulk/{id}")).into_response())
}

/// `GET /ui/certificates/bulk/{id}`: progress, then the outcome.
pub async fn status(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:certificates").await?;
    let job = console.bulk.get(&id).ok_or_else(|| {
        UiError::new(
            StatusCode::NOT_FOUND,
            "no such bulk revocation (the console keeps the last 16 until it restarts)",
        )
    })?;
    let (done, total) = (
        job.done.load(Ordering::Relaxed),
        job.total.load(Ordering::Relaxed),
    );
    let outcome = job
        .outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let body = html! {
        dl class="fields" {
            dt { "Certificates" } dd { (job.what) }
            dt { "Reason" } dd { (job.reason.name()) }
            dt { "Started" } dd { (rfc3339(job.started)) " by " (job.actor) }
        }
        @match &outcome {
            None => {
                p role="status" data-refresh="1" {
                    "Revoking: " (done) " of " (total) " certificates looked at. "
                    a href={ "/ui/certificates/bulk/" (job.id) } { "Refresh" }
                }
                progress max=(total.max(1)) value=(done) aria-label="Bulk revocation progress" { (done) " of " (total) }
            }
            Some(Err(e)) => { p class="error" role="alert" { "The bulk revocation failed: " (e) } }
            Some(Ok(r)) => {
                p class="notice" role="status" {
                    "Done: " (r.matched) " matched, " (r.revoked.len()) " revoked, " (r.skipped.len()) " skipped, " (r.failed.len()) " failed."
                }
                @if !r.failed.is_empty() {
                    h2 { "Failed" }
                    ul { @for (id, why) in &r.failed { li { a href={ "/ui/certificates/" (id) } class="mono" { (id) } ": " (why) } } }
                }
                p { a href="/ui/certificates?status=revoked" { "Revoked certificates" } }
            }
        }
    };
    Ok(layout::page(
        &signed,
        "/ui/certificates",
        "Bulk revocation",
        body,
    ))
}
