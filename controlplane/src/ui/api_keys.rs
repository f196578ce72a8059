//! `/ui/apikeys`: the admin API's keys (`read:apikeys`): list, create with a role
//! (`write:apikeys`; the key is shown once, in the answer to the POST) and revoke
//! (`delete:apikeys`), through the API keys service as `/api/v1/apikeys` calls it.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::time::{now_unix, rfc3339};

use super::auth::Signed;
use super::otps::Done;
use super::{layout, run, Console, State, UiError};
use crate::services::api_keys::{ApiKeyRecord, NewApiKey};

const ROLES: &[&str] = &["viewer", "auditor", "operator", "admin"];

fn status(k: &ApiKeyRecord, now: i64) -> &'static str {
    match (k.revoked, k.expires) {
        (Some(_), _) => "revoked",
        (None, Some(e)) if e <= now => "expired",
        _ => "active",
    }
}

async fn page(
    console: &Console,
    signed: &Signed,
    created: Option<(ApiKeyRecord, String)>,
    done: Option<&str>,
) -> Result<Markup, UiError> {
    let keys = console.services().api_keys.clone();
    let mut all = run(signed.actor(), move || keys.list_api_keys()).await?;
    all.sort_by_key(|k| std::cmp::Reverse(k.created));
    let now = now_unix();
    let body = html! {
        (layout::notice(done))
        @if let Some((rec, key)) = &created {
            section class="notice" aria-labelledby="created" {
                h2 id="created" { "API key " (rec.name) " created" }
                p { "Copy the key now: it is shown only once and is stored only as a hash." }
                p class="secret" id="api-key-secret" { (key) }
                button type="button" data-copy="api-key-secret" hidden { "Copy" }
            }
        }
        @if signed.can("write:apikeys") {
            h2 { "Create an API key" }
            form class="filters" method="post" action="/ui/apikeys" {
                (layout::csrf(signed))
                div class="field" { label for="a-name" { "Name" } input id="a-name" name="name" required maxlength="128"; }
                div class="field" {
                    label for="a-role" { "Role" }
                    select id="a-role" name="role" { @for r in ROLES { option value=(r) { (r) } } }
                }
                div class="field" { label for="a-days" { "Expires after (days, optional)" } input id="a-days" name="expires_days" inputmode="numeric" pattern="[0-9]*"; }
                button type="submit" { "Create key" }
            }
        }
        h2 { "Keys" }
        div class="table-wrap" {
            table {
                thead { tr { th { "Id" } th { "Name" } th { "Role" } th { "Created" } th { "Expires" } th { "Status" } @if signed.can("delete:apikeys") { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for k in &all {
                        @let state = status(k, now);
                        tr {
                            td class="mono" { (k.id) }
                            td { (k.name) }
                            td { (k.role.as_str()) @if !k.permissions.is_empty() { " " span class="hint" { "(" (k.permissions.len()) " permissions)" } } }
                            td { (rfc3339(k.created)) }
                            td { (k.expires.map(rfc3339).unwrap_or_else(|| "never".into())) }
                            td { (layout::badge(state)) }
                            @if signed.can("delete:apikeys") {
                                td {
                                    @if state != "revoked" {
                                        form class="inline" method="post" action={ "/ui/apikeys/" (k.id) "/revoke" } data-confirm={ "Revoke API key " (k.name) "? Clients using it are refused at once." } {
                                            (layout::csrf(signed))
                                            button type="submit" class="secondary" aria-label={ "Revoke API key " (k.name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if all.is_empty() { tr { td colspan="7" { "No API keys yet." } } }
                }
            }
        }
    };
    Ok(layout::page(signed, "/ui/apikeys", "API keys", body))
}

pub async fn list(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:apikeys").await?;
    page(&console, &signed, None, q.done.as_deref()).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_days: String,
}

/// `POST /ui/apikeys`: creates the key and answers with the list and the key, once.
pub async fn create(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<CreateForm>,
) -> Result<Markup, UiError> {
    signed.require(&console, "write:apikeys").await?;
    let expires_days = match form.expires_days.trim() {
        "" => None,
        d => Some(d.parse().map_err(|_| {
            UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "expires after must be a number of days",
            )
        })?),
    };
    let keys = console.services().api_keys.clone();
    let req = NewApiKey {
        name: form.name,
        role: form.role,
        permissions: None,
        expires_days,
    };
    let created = run(signed.actor(), move || keys.create_api_key(req)).await?;
    page(&console, &signed, Some(created), None).await
}

/// `POST /ui/apikeys/{id}/revoke`.
pub async fn revoke(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:apikeys").await?;
    let keys = console.services().api_keys.clone();
    run(signed.actor(), move || keys.revoke_api_key(&id)).await?;
    Ok(Redirect::to("/ui/apikeys?done=apikey-revoked").into_response())
}
