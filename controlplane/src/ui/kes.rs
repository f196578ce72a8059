//! `/ui/kes`: the key service's keys (create, rotate, delete), policies (write, delete) and
//! identities (assign a policy, forget), through the key service as `/api/v1/kes/…` calls it
//! (`read:kes`, `write:kes`, `delete:kes`). Key material is never shown: only names,
//! versions and who created them.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_kes::policy::Policy;
use sigil_shared::time::rfc3339;

use super::auth::Signed;
use super::otps::Done;
use super::{layout, run, State, UiError};

pub async fn page(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:kes").await?;
    let kes = console.services().kes.clone();
    let (keys, policies, identities) = run(signed.actor(), move || {
        Ok::<_, crate::services::KesError>((
            kes.list_keys("*")?,
            kes.list_policies("*")?,
            kes.list_identities("*")?,
        ))
    })
    .await?;
    let (write, delete) = (signed.can("write:kes"), signed.can("delete:kes"));
    let body = html! {
        (layout::notice(q.done.as_deref()))
        p class="hint" {
            "Clients reach these keys on every data plane's KES listener (mTLS). The key service's own key-encryption key: "
            span class="mono" { (console.services().kes.kek_id()) } "."
        }
        h2 { "Keys" }
        @if write {
            form class="filters" method="post" action="/ui/kes/keys" {
                (layout::csrf(&signed))
                div class="field" { label for="f-key" { "New key name" } input id="f-key" name="name" required maxlength="80" pattern="[A-Za-z0-9_.\\-]+"; }
                button type="submit" { "Create key" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Name" } th { "Versions" } th { "Algorithm" } th { "Created" } th { "Created by" } @if write || delete { th { span class="hint" { "Actions" } } } } }
                tbody {
                    @for k in &keys {
                        @let newest = k.versions.last();
                        tr {
                            td class="mono" { (k.name) }
                            td { (k.versions.len()) }
                            td { (newest.map_or("", |v| v.algorithm.as_str())) }
                            td { (rfc3339(k.created_at)) }
                            td { (k.created_by) }
                            @if write || delete {
                                td {
                                    @if write {
                                        form class="inline" method="post" action={ "/ui/kes/keys/" (k.name) "/rotate" } {
                                            (layout::csrf(&signed))
                                            button type="submit" class="secondary" aria-label={ "Rotate key " (k.name) } { "Rotate" }
                                        }
                                    }
                                    @if delete {
                                        form class="inline" method="post" action={ "/ui/kes/keys/" (k.name) "/delete" } data-confirm={ "Delete key " (k.name) "? Data encrypted under it can no longer be decrypted." } {
                                            (layout::csrf(&signed))
                                            button type="submit" class="danger" aria-label={ "Delete key " (k.name) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if keys.is_empty() { tr { td colspan="6" { "No keys yet." } } }
                }
            }
        }
        h2 { "Policies" }
        @if write {
            form class="filters" method="post" action="/ui/kes/policies" {
                (layout::csrf(&signed))
                div class="field" { label for="f-policy" { "Policy name" } input id="f-policy" name="name" required maxlength="80"; }
                div class="field" { label for="f-allow" { "Allow (one path pattern per line)" } textarea id="f-allow" name="allow" rows="3" placeholder="/v1/key/generate/app-*" {} }
                div class="field" { label for="f-deny" { "Deny" } textarea id="f-deny" name="deny" rows="3" {} }
                button type="submit" { "Write policy" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Name" } th { "Allow" } th { "Deny" } th { "Created by" } @if delete { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for p in &policies {
                        tr {
                            td class="mono" { (p.name) }
                            td class="mono" { @for a in &p.allow { (a) br; } }
                            td class="mono" { @for d in &p.deny { (d) br; } }
                            td { (p.created_by) }
                            @if delete {
                                td {
                                    form class="inline" method="post" action={ "/ui/kes/policies/" (p.name) "/delete" } {
                                        (layout::csrf(&signed))
                                        button type="submit" class="secondary" aria-label={ "Delete policy " (p.name) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                    @if policies.is_empty() { tr { td colspan="5" { "No policies yet." } } }
                }
            }
        }
        h2 { "Identities" }
        @if write && !policies.is_empty() {
            form class="filters" method="post" action="/ui/kes/identities" {
                (layout::csrf(&signed))
                div class="field" { label for="f-identity" { "Identity (hex SHA-256 of the client certificate's public key)" } input id="f-identity" name="identity" required minlength="64" maxlength="64" class="mono"; }
                div class="field" {
                    label for="f-assign" { "Policy" }
                    select id="f-assign" name="policy" { @for p in &policies { option value=(p.name) { (p.name) } } }
                }
                button type="submit" { "Assign" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Identity" } th { "Policy" } th { "Assigned" } th { "By" } @if delete { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for i in &identities {
                        tr {
                            td class="mono" { (i.identity) }
                            td { (i.policy) }
                            td { (rfc3339(i.created_at)) }
                            td { (i.created_by) }
                            @if delete {
                                td {
                                    form class="inline" method="post" action={ "/ui/kes/identities/" (i.identity) "/forget" } {
                                        (layout::csrf(&signed))
                                        button type="submit" class="secondary" aria-label={ "Forget identity " (i.identity) } { "Forget" }
                                    }
                                }
                            }
                        }
                    }
                    @if identities.is_empty() { tr { td colspan="5" { "No identities assigned." } } }
                }
            }
        }
    };
    Ok(layout::page(&signed, "/ui/kes", "Key service", body))
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("/ui/kes?done={what}")).into_response()
}

/// `POST /ui/kes/keys`: a new AES-256 key.
pub async fn create_key(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<NameForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:kes").await?;
    let kes = console.services().kes.clone();
    let by = signed.actor().id;
    let name = form.name.trim().to_string();
    run(signed.actor(), move || kes.create_key(&name, None, &by)).await?;
    Ok(done("kes-key-created"))
}

/// `POST /ui/kes/keys/{name}/rotate`.
pub async fn rotate_key(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:kes").await?;
    let kes = console.services().kes.clone();
    run(signed.actor(), move || kes.rotate_key(&name)).await?;
    Ok(done("kes-key-rotated"))
}

/// `POST /ui/kes/keys/{name}/delete`.
pub async fn delete_key(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:kes").await?;
    let kes = console.services().kes.clone();
    run(signed.actor(), move || kes.delete_key(&name)).await?;
    Ok(done("kes-key-deleted"))
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    allow: String,
    #[serde(default)]
    deny: String,
}

fn lines(s: &str) -> impl Iterator<Item = String> + '_ {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
}

/// `POST /ui/kes/policies`: writes (creates or replaces) a policy.
pub async fn write_policy(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<PolicyForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:kes").await?;
    let policy = Policy {
        allow: lines(&form.allow).collect(),
        deny: lines(&form.deny).collect(),
    };
    let kes = console.services().kes.clone();
    let by = signed.actor().id;
    let name = form.name.trim().to_string();
    run(signed.actor(), move || {
        kes.write_policy(&name, &policy, &by)
    })
    .await?;
    Ok(done("kes-policy-written"))
}

/// `POST /ui/kes/policies/{name}/delete`.
pub async fn delete_policy(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:kes").await?;
    let kes = console.services().kes.clone();
    run(signed.actor(), move || kes.delete_policy(&name)).await?;
    Ok(done("kes-policy-deleted"))
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    identity: String,
    #[serde(default)]
    policy: String,
}

/// `POST /ui/kes/identities`: assigns a policy to an identity.
pub async fn assign(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<AssignForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:kes").await?;
    let kes = console.services().kes.clone();
    let by = signed.actor().id;
    let identity = form.identity.trim().to_ascii_lowercase();
    run(signed.actor(), move || {
        kes.assign_identity(&form.policy, &identity, &by)
    })
    .await?;
    Ok(done("kes-identity-assigned"))
}

/// `POST /ui/kes/identities/{identity}/forget`.
pub async fn forget(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(identity): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:kes").await?;
    let kes = console.services().kes.clone();
    run(signed.actor(), move || kes.forget_identity(&identity)).await?;
    Ok(done("kes-identity-forgotten"))
}
