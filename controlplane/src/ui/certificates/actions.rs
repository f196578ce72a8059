//! Issuance from a pasted CSR (`write:certificates`), revocation with a reason after a
//! confirmation page (`delete:certificates`), release from hold (`write:certificates`), export
//! as PEM, DER or chain (`read:certificates`): the certificates service's `issue`, `revoke` and
//! `unhold`, as the API calls them, audited by the service with the signed-in actor.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::ocsp::RevocationReason;

use super::super::auth::Signed;
use super::super::{layout, run, Console, State, UiError};
use crate::services::certificates::{normalize_id, IssueRequest};
use crate::services::ServiceError;
use crate::x509::cert_pem;

#[derive(Debug, Default, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    issuer_id: String,
    #[serde(default)]
    csr: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    validity_days: String,
}

async fn issue_page(
    console: &Console,
    signed: &Signed,
    form: &IssueForm,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let issuers = console.services().issuers.clone();
    let cas = run(signed.actor(), move || {
        issuers
            .list_cas()
            .into_iter()
            .map(|c| {
                let s = issuers.issuer_settings(&c.record.id)?;
                Ok((c.record.id.clone(), !s.disabled))
            })
            .collect::<Result<Vec<_>, ServiceError>>()
    })
    .await?;
    let profiles = super::super::cas::profile_names(console.services()).await;
    let body = html! {
        @if let Some(e) = error { p class="error" role="alert" { (e) } }
        form class="stack" method="post" action="/ui/certificates/issue" {
            (layout::csrf(signed))
            div class="field" { label for="f-issuer" { "Issuer" }
                select id="f-issuer" name="issuer_id" required {
                    @for (id, enabled) in &cas {
                        @if *enabled { option value=(id) selected[form.issuer_id == *id] { (id) } }
                    }
                }
            }
            div class="field" { label for="f-profile" { "Profile (empty: the issuer's default)" }
                input id="f-profile" name="profile" list="profiles" value=(form.profile);
            }
            datalist id="profiles" { @for p in &profiles { option value=(p) {} } }
            div class="field" { label for="f-validity" { "Validity in days (empty: the profile's)" }
                input id="f-validity" name="validity_days" inputmode="numeric" pattern="[0-9]*" value=(form.validity_days);
            }
            div class="field" { label for="f-csr" { "Certificate signing request (PEM)" }
                textarea id="f-csr" name="csr" required spellcheck="false" placeholder="-----BEGIN CERTIFICATE REQUEST-----" { (form.csr) }
            }
            div class="actions" {
                button type="submit" { "Issue certificate" }
                a class="button secondary" href="/ui/certificates" { "Cancel" }
            }
        }
    };
    Ok(layout::page(
        signed,
        "/ui/certificates",
        "Issue a certificate",
        body,
    ))
}

pub async fn issue_form(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
) -> Result<Markup, UiError> {
    signed.require(&console, "write:certificates").await?;
    issue_page(&console, &signed, &IssueForm::default(), None).await
}

/// `POST /ui/certificates/issue`: on success to the new certificate; a refused request shows
/// the form again with the reason (and the CSR kept).
pub async fn issue(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<IssueForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:certificates").await?;
    let validity_days = match form.validity_days.trim() {
        "" => None,
        v => match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                let page = issue_page(
                    &console,
                    &signed,
                    &form,
                    Some("Validity must be a number of days."),
                )
                .await?;
                return Ok((StatusCode::BAD_REQUEST, page).into_response());
            }
        },
    };
    let req = IssueRequest {
        issuer_id: form.issuer_id.clone(),
        csr: form.csr.clone().into_bytes(),
        validity_days,
        profile: (!form.profile.trim().is_empty()).then(|| form.profile.trim().to_string()),
    };
    let certificates = console.services().certificates.clone();
    match run(signed.actor(), move || certificates.issue(req)).await {
        Ok(rec) => {
            Ok(Redirect::to(&format!("/ui/certificates/{}?done=issued", rec.id)).into_response())
        }
        Err(e) => {
            let page = issue_page(&console, &signed, &form, Some(&e.message)).await?;
            Ok((e.status, page).into_response())
        }
    }
}

/// `GET /ui/certificates/{id}/revoke`: the confirmation step (reason, then "Revoke").
pub async fn revoke_form(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Markup, UiError> {
    signed.require(&console, "delete:certificates").await?;
    let certificates = console.services().certificates.clone();
    let id = normalize_id(&id);
    let c = run(signed.actor(), move || certificates.cert(&id)).await?;
    let body = html! {
        p { "Revoke the certificate of " strong class="mono" { (c.subject) } " (serial " span class="mono" { (c.id) } ")? "
            "Revocation is final except for certificateHold; data planes answer " em { "revoked" } " within moments." }
        form class="stack" method="post" action={ "/ui/certificates/" (c.id) "/revoke" } {
            (layout::csrf(&signed))
            div class="field" { label for="f-reason" { "Reason" }
                select id="f-reason" name="reason" {
                    @for r in RevocationReason::ALL { option value=(r.name()) { (r.name()) } }
                }
            }
            div class="actions" {
                button type="submit" class="danger" { "Revoke certificate" }
                a class="button secondary" href={ "/ui/certificates/" (c.id) } { "Cancel" }
            }
        }
    };
    Ok(layout::page(
        &signed,
        "/ui/certificates",
        "Revoke a certificate",
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
}

/// `POST /ui/certificates/{id}/revoke`.
pub async fn revoke(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:certificates").await?;
    let reason = RevocationReason::parse(&form.reason).ok_or_else(|| {
        UiError::new(StatusCode::BAD_REQUEST, "not an RFC 5280 revocation reason")
    })?;
    let certificates = console.services().certificates.clone();
    let id = normalize_id(&id);
    let rec = run(signed.actor(), move || certificates.revoke(&id, reason)).await?;
    Ok(Redirect::to(&format!("/ui/certificates/{}?done=revoked", rec.id)).into_response())
}

/// `POST /ui/certificates/{id}/unhold`: releases a `certificateHold` (`write:certificates`, as
/// the API's `POST /api/v1/certificates/{id}/unhold`).
pub async fn unhold(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:certificates").await?;
    let certificates = console.services().certificates.clone();
    let id = normalize_id(&id);
    let rec = run(signed.actor(), move || certificates.unhold(&id)).await?;
    Ok(Redirect::to(&format!("/ui/certificates/{}?done=released", rec.id)).into_response())
}

/// `GET /ui/certificates/{id}/export/{pem|der|chain}`: a download, as the API's export.
pub async fn export(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, UiError> {
    signed.require(&console, "read:certificates").await?;
    let s = console.services().clone();
    let id = normalize_id(&id);
    let (c, chain) = run(signed.actor(), move || {
        let c = s.certificates.cert(&id)?;
        let chain = s.issuers.chain_pem(&c.issuer_id)?;
        Ok::<_, ServiceError>((c, chain))
    })
    .await?;
    let (ctype, name, body): (&str, String, Vec<u8>) = match kind.as_str() {
        "pem" => (
            "application/x-pem-file",
            format!("{}.pem", c.id),
            cert_pem(&c.der).into_bytes(),
        ),
        "der" => (
            "application/pkix-cert",
            format!("{}.der", c.id),
            c.der.clone(),
        ),
        "chain" => (
            "application/pem-certificate-chain",
            format!("{}-chain.pem", c.id),
            format!("{}{}", cert_pem(&c.der), chain.concat()).into_bytes(),
        ),
        _ => {
            return Err(UiError::new(
                StatusCode::NOT_FOUND,
                "export as pem, der or chain",
            ))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
