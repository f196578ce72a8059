//! `/ui/certificates`: the paged list with filters (the API list's `CertFilter`; pages by
//! `Certificates::page_after`: each page a seek after the previous page's last key, within a
//! time budget, so that no page scans the whole table; totals from the dashboard's counts)
//! and a certificate's detail (decoded fields,
//! status, OCSP response age, chain, PEM). Issuance, revocation, release from hold and export
//! are in
//! [`actions`].

mod actions;
pub mod bulk;
mod filter;

pub use actions::{export, issue, issue_form, revoke, revoke_form, unhold};

use axum::extract::{Path, Query};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::ocsp::{HashAlg, RevocationReason};
use sigil_shared::time::{now_unix, rfc3339};

use super::auth::Signed;
use super::dashboard::ago;
use super::{layout, run, State, UiError};
use crate::api::{chain_entry, ChainEntry};
use crate::db::{CertRecord, CertState};
use crate::services::certificates::{normalize_id, status_of, CertError};
use crate::services::ServiceError;
use crate::x509::cert_pem;

const PER_PAGE: usize = 25;
/// How long one page may scan for matches (a filter matching few certificates among many
/// gives a page of what it found so far and a link to search on).
const SCAN_BUDGET: std::time::Duration = std::time::Duration::from_millis(120);

/// The list's paging and notice (its filter is a [`filter::FilterQuery`] from the same query).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// The page's number (shown) and the key it starts after (hex; the previous page's last).
    page: Option<u64>,
    #[serde(default)]
    after: String,
    done: Option<String>,
}

pub async fn list(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(f): Query<filter::FilterQuery>,
    Query(q): Query<ListQuery>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:certificates").await?;
    let filter = f.filter()?;
    let page = q.page.unwrap_or(1).max(1);
    let after =
        match q.after.as_str() {
            "" => None,
            a => Some(hex::decode(a).map_err(|_| {
                UiError::new(axum::http::StatusCode::BAD_REQUEST, "after must be hex")
            })?),
        };
    let filtered = !filter.is_empty();
    let s = console.services().clone();
    let stats = console.stats.clone();
    let (issuer, status_q) = (filter.issuer_id.clone(), f.status.clone());
    let only_issuer_status = filter.search.is_none()
        && filter.profile.is_none()
        && filter.expires_after.is_none()
        && filter.expires_before.is_none();
    let (found, total, issuers) = run(signed.actor(), move || {
        let found = s
            .certificates
            .page_after(&filter, after.as_deref(), PER_PAGE, SCAN_BUDGET)?;
        let total = if only_issuer_status {
            let st = stats.get(&s)?;
            st.matching(
                issuer.as_deref(),
                (!status_q.is_empty()).then_some(status_q.as_str()),
            )
            .map(|n| (n, st.counted_at))
        } else {
            None
        };
        let issuers: Vec<String> = s
            .issuers
            .list_cas()
            .iter()
            .map(|c| c.record.id.clone())
            .collect();
        Ok::<_, ServiceError>((found, total, issuers))
    })
    .await?;
    let certs = &found.certs;
    let now = now_unix();
    let link = |p: u64, after: &[u8]| {
        let (p, after) = (p.to_string(), hex::encode(after));
        format!(
            "/ui/certificates?{}",
            layout::query(&[f.pairs().as_slice(), &[("page", &p), ("after", &after)]].concat())
        )
    };
    let first = link(1, &[]);
    let body = html! {
        (layout::notice(q.done.as_deref()))
        form class="filters" method="get" action="/ui/certificates" {
            div class="field" { label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    @for (v, l) in [("", "any"), ("active", "active"), ("expiring", "expiring (30 days)"), ("expired", "expired"), ("revoked", "revoked"), ("archived", "archived")] {
                        option value=(v) selected[f.status == v] { (l) }
                    }
                }
            }
            div class="field" { label for="f-issuer" { "Issuer" }
                select id="f-issuer" name="issuer" {
                    option value="" selected[f.issuer.is_empty()] { "any" }
                    @for id in &issuers { option value=(id) selected[f.issuer == *id] { (id) } }
                }
            }
            div class="field" { label for="f-q" { "Name contains" } input id="f-q" type="search" name="q" value=(f.q); }
            div class="field" { label for="f-profile" { "Profile" } input id="f-profile" name="profile" size="10" value=(f.profile); }
            div class="field" { label for="f-exp-after" { "Expires from" } input id="f-exp-after" type="date" name="expires_after" value=(f.expires_after); }
            div class="field" { label for="f-exp-before" { "Expires until" } input id="f-exp-before" type="date" name="expires_before" value=(f.expires_before); }
            button type="submit" { "Filter" }
            @if signed.can("write:certificates") {
                a class="button secondary" href="/ui/certificates/issue" { "Issue from a CSR" }
            }
            @if signed.can("delete:certificates") && filtered {
                a class="button secondary" href={ "/ui/certificates/bulk?" (layout::query(&f.pairs())) } { "Revoke all matching…" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Serial" } th { "Subject" } th { "Names" } th { "Issuer" } th { "Status" } th { "Not after" } } }
                tbody {
                    @for c in certs {
                        tr {
                            td class="mono" { a href={ "/ui/certificates/" (c.id) } { (c.id) } }
                            td class="mono" { (c.subject) }
                            td { (c.sans.join(", ")) }
                            td { (c.issuer_id) }
                            td { (layout::badge(status_of(c, now))) }
                            td { (rfc3339(c.not_after)) }
                        }
                    }
                    @if certs.is_empty() && found.next.is_none() { tr { td colspan="6" { "No certificate matches." } } }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 1 { a href=(first) { "← First page" } }
            span {
                "Page " (page)
                @if let Some((n, at)) = total {
                    " of " (n.div_ceil(PER_PAGE as u64).max(1)) " · " (n) " in all (counted " (ago(now - at)) " ago)"
                }
            }
            @if let Some(next) = &found.next {
                @if found.out_of_time {
                    a href=(link(page, next)) rel="next" { "Search on →" }
                    span class="hint" { (found.scanned) " certificates looked at so far on this page" }
                } @else {
                    a href=(link(page + 1, next)) rel="next" { "Next →" }
                }
            }
        }
    };
    Ok(layout::page(
        &signed,
        "/ui/certificates",
        "Certificates",
        body,
    ))
}

struct Detail {
    cert: CertRecord,
    decoded: Option<ChainEntry>,
    chain: Vec<ChainEntry>,
    /// thisUpdate and nextUpdate of the stored SHA-256 response.
    ocsp: Option<(i64, i64)>,
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn detail(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:certificates").await?;
    let s = console.services().clone();
    let id = normalize_id(&id);
    let d = run(signed.actor(), move || {
        let cert = s.certificates.cert(&id)?;
        let ca = s.issuers.ca(&cert.issuer_id)?;
        let chain = ca
            .chain_der()
            .filter_map(|der| chain_entry(der).ok())
            .collect();
        let ocsp = match s.certificates.ocsp_response(&id, HashAlg::Sha256) {
            Ok(e) => Some((e.this_update, e.next_update)),
            Err(CertError::NoOcspResponse { .. }) => None,
            Err(e) => return Err(ServiceError::from(e)),
        };
        Ok(Detail {
            decoded: chain_entry(&cert.der).ok(),
            cert,
            chain,
            ocsp,
        })
    })
    .await?;
    let c = &d.cert;
    let now = now_unix();
    let status = status_of(c, now);
    let body = html! {
        (layout::notice(q.done.as_deref()))
        dl class="fields" {
            dt { "Status" } dd {
                (layout::badge(status))
                @if let CertState::Revoked { time, reason } = c.state { " " (reason.name()) " at " (rfc3339(time)) }
            }
            dt { "Serial" } dd class="mono" { (d.decoded.as_ref().map_or_else(|| c.id.clone(), |e| e.serial.clone())) }
            dt { "Subject" } dd class="mono" { (c.subject) }
            dt { "Names" } dd { (c.sans.join(", ")) }
            dt { "Issuer" } dd { a href={ "/ui/cas/" (c.issuer_id) } { (c.issuer_id) } @if let Some(e) = &d.decoded { " " span class="mono hint" { (e.issuer) } } }
            dt { "Valid" } dd { (rfc3339(c.not_before)) " – " (rfc3339(c.not_after)) }
            @if let Some(e) = &d.decoded { dt { "Key" } dd { (e.key_algorithm) } }
            dt { "Profile" } dd { (c.profile) }
            dt { "Issued" } dd { (rfc3339(c.created_at)) }
            dt { "OCSP response" } dd {
                @match d.ocsp {
                    Some((this, next)) => { "signed " (ago(now - this)) " ago (" (rfc3339(this)) "), next update " (rfc3339(next)) }
                    None => { "none stored (expired certificates have none)" }
                }
            }
        }
        div class="actions" {
            a class="button secondary" href={ "/ui/certificates/" (c.id) "/export/pem" } { "Download PEM" }
            a class="button secondary" href={ "/ui/certificates/" (c.id) "/export/der" } { "Download DER" }
            a class="button secondary" href={ "/ui/certificates/" (c.id) "/export/chain" } { "Download chain" }
            @if signed.can("delete:certificates") && !matches!(c.state, CertState::Revoked { reason, .. } if reason != RevocationReason::CertificateHold) {
                a class="button danger" href={ "/ui/certificates/" (c.id) "/revoke" } { "Revoke…" }
            }
            @if signed.can("write:certificates") && matches!(c.state, CertState::Revoked { reason: RevocationReason::CertificateHold, .. }) {
                form class="inline" method="post" action={ "/ui/certificates/" (c.id) "/unhold" } {
                    (layout::csrf(&signed))
                    button type="submit" { "Release from hold" }
                }
            }
        }
        h2 { "Chain" }
        div class="table-wrap" {
            table {
                thead { tr { th { "Subject" } th { "Serial" } th { "Not after" } th { "Key" } } }
                tbody {
                    @for e in &d.chain {
                        tr { td class="mono" { (e.subject) } td class="mono" { (e.serial) } td { (e.not_after) } td { (e.key_algorithm) } }
                    }
                }
            }
        }
        h2 { "PEM" }
        pre id="pem" { (cert_pem(&c.der)) }
        button type="button" class="secondary" data-copy="pem" hidden { "Copy PEM" }
    };
    Ok(layout::page(
        &signed,
        "/ui/certificates",
        &format!("Certificate {}", c.id),
        body,
    ))
}
