//! `/ui/otps`: enrollment one-time passwords (EST): the active ones (`read:otp`), create
//! (`write:otp`; the secret is shown once, in the answer to the POST, never in a URL) and
//! delete (`delete:otp`), through the OTP service as `/admin/otp` calls it.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::time::rfc3339;

use super::auth::Signed;
use super::{layout, run, Console, State, UiError};
use crate::services::otps::OtpRecord;

#[derive(Debug, Deserialize)]
pub struct Done {
    pub(super) done: Option<String>,
}

async fn page(
    console: &Console,
    signed: &Signed,
    created: Option<(OtpRecord, String)>,
    done: Option<&str>,
) -> Result<Markup, UiError> {
    let otps = console.services().otps.clone();
    let all = run(signed.actor(), move || otps.active_otps()).await?;
    let body = html! {
        (layout::notice(done))
        @if let Some((rec, secret)) = &created {
            section class="notice" aria-labelledby="created" {
                h2 id="created" { "OTP created for " (rec.entity_id) }
                p { "Give this secret to the enrolling client now: it is shown only once and cannot be read again." }
                p class="secret" id="otp-secret" { (secret) }
                button type="button" data-copy="otp-secret" hidden { "Copy" }
            }
        }
        @if signed.can("write:otp") {
            h2 { "Create an OTP" }
            form class="filters" method="post" action="/ui/otps" {
                (layout::csrf(signed))
                div class="field" { label for="f-entity" { "Entity (the EST username)" } input id="f-entity" name="entity_id" required; }
                div class="field" { label for="f-ttl" { "Valid for (seconds)" } input id="f-ttl" name="ttl" inputmode="numeric" pattern="[0-9]*" value="3600"; }
                div class="field" { label for="f-uses" { "Uses" } input id="f-uses" name="max_uses" inputmode="numeric" pattern="[0-9]*" value="1"; }
                button type="submit" { "Create OTP" }
            }
        }
        h2 { "Active OTPs" }
        div class="table-wrap" {
            table {
                thead { tr { th { "Id" } th { "Entity" } th { "Created" } th { "Expires" } th { "Uses left" } @if signed.can("delete:otp") { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for r in &all {
                        tr {
                            td class="mono" { (r.id) }
                            td { (r.entity_id) }
                            td { (rfc3339(r.created)) }
                            td { (rfc3339(r.expires)) }
                            td { (r.remaining_uses) " of " (r.max_uses) }
                            @if signed.can("delete:otp") {
                                td {
                                    form class="inline" method="post" action={ "/ui/otps/" (r.id) "/delete" } {
                                        (layout::csrf(signed))
                                        button type="submit" class="secondary" aria-label={ "Delete OTP " (r.id) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                    @if all.is_empty() { tr { td colspan="6" { "No active OTP." } } }
                }
            }
        }
    };
    Ok(layout::page(signed, "/ui/otps", "Enrollment OTPs", body))
}

pub async fn list(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:otp").await?;
    page(&console, &signed, None, q.done.as_deref()).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    max_uses: String,
}

fn number<T: std::str::FromStr>(v: &str, default: T, what: &str) -> Result<T, UiError> {
    match v.trim() {
        "" => Ok(default),
        v => v.parse().map_err(|_| {
            UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!("{what} must be a number"),
            )
        }),
    }
}

/// `POST /ui/otps`: creates the OTP and answers with the list and the secret, once.
pub async fn create(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<CreateForm>,
) -> Result<Markup, UiError> {
    signed.require(&console, "write:otp").await?;
    let ttl = number(&form.ttl, 3600u64, "validity")?;
    let uses = number(&form.max_uses, 1u32, "uses")?;
    let otps = console.services().otps.clone();
    let entity = form.entity_id.trim().to_string();
    let created = run(signed.actor(), move || otps.create_otp(&entity, ttl, uses)).await?;
    page(&console, &signed, Some(created), None).await
}

/// `POST /ui/otps/{id}/delete`.
pub async fn delete(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:otp").await?;
    let otps = console.services().otps.clone();
    run(signed.actor(), move || otps.delete_otp(&id)).await?;
    Ok(Redirect::to("/ui/otps?done=otp-deleted").into_response())
}
