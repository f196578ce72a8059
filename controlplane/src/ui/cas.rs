//! `/ui/cas`: the CAs (list, detail with chain, CRL and settings) and enabling or disabling
//! issuance through the issuer-settings service (`Issuers::update_issuer`, audited as
//! `issuer.enable`/`issuer.disable` by the service); creating CAs and editing the issuance
//! policy in [`manage`].

pub mod manage;

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::time::{now_unix, rfc3339};

use super::auth::Signed;
use super::{layout, run, State, UiError};
use crate::api::{chain_entry, ChainEntry};
use crate::ca::{CaHealth, CaRuntime};
use crate::db::KeyRef;
use crate::services::issuers::{CrlEvent, IssuerSettings, IssuerUpdate};
use crate::services::ServiceError;
use sigil_shared::replication::CrlEntry;

fn name_of(ca: &CaRuntime, s: &IssuerSettings) -> String {
    s.name.clone().unwrap_or_else(|| ca.record.name.clone())
}

pub async fn list(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:cas").await?;
    let issuers = console.services().issuers.clone();
    let rows = run(signed.actor(), move || {
        issuers
            .list_cas()
            .into_iter()
            .map(|ca| {
                let s = issuers.issuer_settings(&ca.record.id)?;
                let crl = issuers.current_crl(&ca.record.id)?;
                Ok((ca, s, crl))
            })
            .collect::<Result<Vec<(Arc<CaRuntime>, IssuerSettings, Option<CrlEntry>)>, ServiceError>>()
    })
    .await?;
    let now = now_unix();
    let body = html! {
        div class="table-wrap" {
            table {
                thead { tr { th { "Name" } th { "Subject" } th { "Key" } th { "Health" } th { "Issuance" } th { "Not after" } th { "CRL" } } }
                tbody {
                    @for (ca, s, crl) in &rows {
                        @let r = &ca.record;
                        tr {
                            td { a href={ "/ui/cas/" (r.id) } { (name_of(ca, s)) } br; span class="mono hint" { (r.id) } }
                            td class="mono" { (r.subject) }
                            td { (r.key_algorithm.name()) }
                            td { (layout::badge(ca.health().status.as_str())) }
                            td { (layout::badge(if s.disabled { "disabled" } else { "enabled" })) }
                            td { (rfc3339(r.not_after)) }
                            td {
                                @match crl {
                                    Some(c) => { "#" (c.number) " " (layout::badge(if c.next_update > now { "fresh" } else { "stale" })) }
                                    None => { (layout::badge("stale")) " none" }
                                }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="7" { "No CAs yet." } } }
                }
            }
        }
        @if signed.can("write:cas") {
            p { a class="button" href="/ui/cas/new" { "Create a CA" } }
        }
    };
    Ok(layout::page(
        &signed,
        "/ui/cas",
        "Certificate authorities",
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

struct Detail {
    ca: Arc<CaRuntime>,
    settings: IssuerSettings,
    chain: Vec<ChainEntry>,
    crl: Option<CrlEntry>,
    events: Vec<CrlEvent>,
    /// Certificates issued (the dashboard's counts) and when counted.
    issued: (u64, i64),
    health: CaHealth,
}

fn chain_table(chain: &[ChainEntry]) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead { tr { th { "Subject" } th { "Issuer" } th { "Serial" } th { "Valid" } th { "Key" } } }
                tbody {
                    @for e in chain {
                        tr {
                            td class="mono" { (e.subject) }
                            td class="mono" { (e.issuer) }
                            td class="mono" { (e.serial) }
                            td { (e.not_before) " – " (e.not_after) }
                            td { (e.key_algorithm) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn detail(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:cas").await?;
    let s = console.services().clone();
    let stats = console.stats.clone();
    let d = run(signed.actor(), move || {
        let ca = s.issuers.ca(&id)?;
        let counted = stats.get(&s)?;
        let chain = ca
            .chain_der()
            .filter_map(|der| chain_entry(der).ok())
            .collect();
        Ok::<_, ServiceError>(Detail {
            settings: s.issuers.issuer_settings(&id)?,
            crl: s.issuers.current_crl(&id)?,
            events: s.issuers.crl_events(&id),
            issued: (
                counted.by_issuer.get(&id).copied().unwrap_or(0),
                counted.counted_at,
            ),
            health: ca.health(),
            chain,
            ca,
        })
    })
    .await?;
    let r = &d.ca.record;
    let now = now_unix();
    let name = name_of(&d.ca, &d.settings);
    let base = console.services().issuers.distribution_base().to_string();
    let profiles = profile_names(console.services()).await;
    let body = html! {
        (layout::notice(q.done.as_deref()))
        dl class="fields" {
            dt { "Id" } dd class="mono" { (r.id) }
            dt { "Subject" } dd class="mono" { (r.subject) }
            dt { "Key" } dd { (r.key_algorithm.name()) ", " (match &r.key { KeyRef::Software => "software (sealed under the KEK)".to_string(), KeyRef::Pkcs11 { key_label, .. } => format!("PKCS#11, label {key_label}") }) }
            dt { "Parent" } dd { @if let Some(p) = &r.parent_id { a href={ "/ui/cas/" (p) } { (p) } } @else { "none (root)" } @if r.imported { " · imported" } }
            dt { "Valid" } dd { (rfc3339(r.not_before)) " – " (rfc3339(r.not_after)) }
            dt { "Health" } dd { (layout::badge(d.health.status.as_str())) " " (d.health.signatures_total) " signatures since start-up" @if let Some(e) = &d.health.error { " · " (e) } }
            dt { "Certificates issued" } dd { a href={ "/ui/certificates?" (layout::query(&[("issuer", &r.id)])) } { (d.issued.0) } " " span class="hint" { "(counted " (super::dashboard::ago(now - d.issued.1)) " ago)" } }
            dt { "Issuance" } dd { (layout::badge(if d.settings.disabled { "disabled" } else { "enabled" })) @if let Some(t) = d.settings.disabled_at { " since " (rfc3339(t)) } }
            dt { "Policy" } dd {
                "default profile " (d.settings.default_profile.as_deref().unwrap_or("default"))
                "; allowed " (d.settings.allowed_profiles.as_ref().map_or_else(|| "every profile".to_string(), |p| p.join(", ")))
                "; max validity " (d.settings.max_validity_days.map_or_else(|| "the profile's".to_string(), |n| format!("{n} days")))
            }
            dt { "URLs" } dd class="mono" { (base) "/ocsp" br; (base) "/crl/" (r.id) ".crl" }
        }
        @if signed.can("write:cas") {
            form class="actions" method="post" action={ "/ui/cas/" (r.id) "/enabled" } {
                (layout::csrf(&signed))
                @if d.settings.disabled {
                    input type="hidden" name="enabled" value="true";
                    button type="submit" { "Enable issuance" }
                } @else {
                    input type="hidden" name="enabled" value="false";
                    button type="submit" class="danger" { "Disable issuance" }
                }
            }
            p class="hint" { "A disabled issuer refuses issuance but still revokes and serves OCSP and CRLs." }
            h2 { "Issuance policy" }
            (manage::policy_form(&signed, &r.id, &profiles, &d.settings))
        }
        h2 { "Chain" }
        (chain_table(&d.chain))
        h2 { "CRL" }
        @if console.crl_jobs.is_running(&r.id) {
            p role="status" data-refresh="1" { "Regenerating the CRL… " a href={ "/ui/cas/" (r.id) } { "Refresh" } }
        } @else if signed.can("write:cas") {
            form class="actions" method="post" action={ "/ui/cas/" (r.id) "/crl" } {
                (layout::csrf(&signed))
                button type="submit" class="secondary" { "Regenerate the CRL now" }
            }
        }
        @match &d.crl {
            Some(c) => {
                dl class="fields" {
                    dt { "Number" } dd { (c.number) }
                    dt { "This update" } dd { (rfc3339(c.this_update)) }
                    dt { "Next update" } dd { (rfc3339(c.next_update)) " " (layout::badge(if c.next_update > now { "fresh" } else { "stale" })) }
                    dt { "Size" } dd { (c.der.len()) " bytes" }
                }
            }
            None => { p { "No CRL yet." } }
        }
        @if !d.events.is_empty() {
            h2 { "Recent CRL generations" }
            div class="table-wrap" {
                table {
                    thead { tr { th { "At" } th { "Trigger" } th { "Number" } th { "Took" } th { "Error" } } }
                    tbody {
                        @for e in &d.events {
                            tr { td { (rfc3339(e.at)) } td { (e.trigger) } td { (e.crl_number.map_or_else(String::new, |n| n.to_string())) } td { (e.duration_ms) " ms" } td { (e.error.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&signed, "/ui/cas", &name, body))
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    enabled: String,
}

/// `POST /ui/cas/{id}/enabled` (`write:cas`, as the API's `PATCH /api/v1/issuers/{id}`).
pub async fn set_enabled(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:cas").await?;
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "enabled must be true or false",
            ))
        }
    };
    let issuers = console.services().issuers.clone();
    let target = id.clone();
    run(signed.actor(), move || {
        let update = IssuerUpdate {
            enabled: Some(enabled),
            ..IssuerUpdate::default()
        };
        issuers.update_issuer(&target, &update)
    })
    .await?;
    let done = if enabled { "enabled" } else { "disabled" };
    let to = format!("/ui/cas/{}?done={done}", urlencode(&id));
    Ok(Redirect::to(&to).into_response())
}

/// One path segment, percent-encoded.
pub fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every profile's name (configured, made through the API, the built-in default), for the
/// forms' choices; none if they cannot be read (the form still takes a typed name).
pub async fn profile_names(services: &std::sync::Arc<crate::services::Services>) -> Vec<String> {
    let profiles = services.profiles.clone();
    match tokio::task::spawn_blocking(move || profiles.list()).await {
        Ok(Ok(list)) => list.into_iter().map(|e| e.name).collect(),
        _ => Vec::new(),
    }
}
