//! Creating CAs (`/ui/cas/new`: a root, an intermediate under a CA of this control plane, an
//! import of a CA certificate and its private key, or a key in a PKCS#11 token) and editing an
//! issuer's issuance policy (`/ui/cas/{id}/policy`), through the issuers service as
//! `POST /api/v1/issuers` and `PATCH /api/v1/issuers/{id}` call it (`write:cas`). A refused
//! request shows the form again with the reason and what was typed (never the private key).
//! Regenerating a CA's CRL now (`/ui/cas/{id}/crl`, `write:cas`): in the background, audited as
//! `crl.regenerate`, the CA's page showing it running and then among its CRL generations.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::super::auth::Signed;
use super::super::{layout, run, Console, State, UiError};
use super::urlencode;
use crate::crypto::KeyAlgorithm;
use crate::services::issuers::{
    CreateCa, IssuerSettings, IssuerUpdate, KeyStoreRequest, Pkcs11Request, PolicyUpdate,
};

/// What the form sent (every field a string: the form comes back as typed when refused).
#[derive(Debug, Default, Deserialize)]
pub struct CaForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    key_algorithm: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    validity_days: String,
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    token_label: String,
    #[serde(default)]
    key_label: String,
    #[serde(default)]
    pin_env: String,
}

const KINDS: &[(&str, &str)] = &[
    ("root", "Root CA (self-signed)"),
    ("intermediate", "Intermediate CA (signed by a CA here)"),
    ("import", "Import a CA certificate and its private key"),
    ("pkcs11", "Key in a PKCS#11 token (HSM)"),
];

fn text(v: &str) -> Option<String> {
    Some(v.trim().to_string()).filter(|v| !v.is_empty())
}

fn bad(message: &str) -> UiError {
    UiError::new(StatusCode::BAD_REQUEST, message)
}

impl CaForm {
    /// The service's request.
    fn request(&self) -> Result<CreateCa, UiError> {
        let validity_days = match self.validity_days.trim() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| bad("Validity must be a number of days."))?,
            ),
        };
        let mut req = CreateCa {
            id: text(&self.id),
            name: self.name.trim().to_string(),
            subject: text(&self.subject),
            key_algorithm: text(&self.key_algorithm),
            validity_days,
            ..CreateCa::default()
        };
        match self.kind.as_str() {
            "root" => {}
            "intermediate" => {
                req.parent_id =
                    Some(text(&self.parent_id).ok_or_else(|| bad("Choose the parent CA."))?);
            }
            "import" => {
                req.certificate = text(&self.certificate);
                req.private_key = text(&self.private_key);
                req.subject = None;
            }
            "pkcs11" => {
                req.parent_id = text(&self.parent_id);
                req.key_store = Some(KeyStoreRequest::Pkcs11(Pkcs11Request {
                    module: self.module.trim().to_string(),
                    token_label: self.token_label.trim().to_string(),
                    key_label: self.key_label.trim().to_string(),
                    pin_env: self.pin_env.trim().to_string(),
                    replicas: Vec::new(),
                }));
            }
            _ => return Err(bad("Choose what kind of CA to create.")),
        }
        Ok(req)
    }
}

async fn form_page(
    console: &Console,
    signed: &Signed,
    form: &CaForm,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let issuers = console.services().issuers.clone();
    let parents: Vec<(String, String)> = run(signed.actor(), move || {
        Ok::<_, crate::services::ServiceError>(
            issuers
                .list_cas()
                .into_iter()
                .map(|c| (c.record.id.clone(), c.record.subject.clone()))
                .collect(),
        )
    })
    .await?;
    let kind = if form.kind.is_empty() {
        "root"
    } else {
        &form.kind
    };
    let alg = if form.key_algorithm.is_empty() {
        "ecdsa-p256"
    } else {
        &form.key_algorithm
    };
    let body = html! {
        @if let Some(e) = error { p class="error" role="alert" { (e) } }
        form class="stack" method="post" action="/ui/cas/new" {
            (layout::csrf(signed))
            fieldset {
                legend { "Kind" }
                @for (value, label) in KINDS {
                    label class="choice" {
                        input type="radio" name="kind" value=(value) checked[kind == *value];
                        " " (label)
                    }
                }
            }
            div class="field" { label for="c-name" { "Name" } input id="c-name" name="name" required maxlength="128" value=(form.name); }
            div class="field" { label for="c-id" { "Id (empty: from the name)" } input id="c-id" name="id" maxlength="64" pattern="[a-z0-9_\\-]+" value=(form.id); }
            div class="field" { label for="c-subject" { "Subject (RFC 4514; not for an import)" } input id="c-subject" name="subject" placeholder="CN=Example Issuing CA,O=Example" value=(form.subject); }
            div class="field" {
                label for="c-alg" { "Key algorithm" }
                select id="c-alg" name="key_algorithm" {
                    @for a in KeyAlgorithm::ALL { option value=(a.name()) selected[alg == a.name()] { (a.name()) } }
                }
            }
            div class="field" {
                label for="c-parent" { "Parent CA (intermediate; optional for PKCS#11)" }
                select id="c-parent" name="parent_id" {
                    option value="" { "—" }
                    @for (id, subject) in &parents { option value=(id) selected[form.parent_id == *id] { (id) " · " (subject) } }
                }
            }
            div class="field" { label for="c-days" { "Validity in days (empty: the configured default, [issuance] ca_validity_days)" } input id="c-days" name="validity_days" inputmode="numeric" pattern="[0-9]*" value=(form.validity_days); }
            details open[kind == "import"] {
                summary { "Import" }
                div class="field" { label for="c-cert" { "CA certificate (PEM)" } textarea id="c-cert" name="certificate" spellcheck="false" { (form.certificate) } }
                div class="field" { label for="c-key" { "Private key (PKCS#8 PEM; sealed under the KEK, never shown again)" } textarea id="c-key" name="private_key" spellcheck="false" autocomplete="off" {} }
            }
            details open[kind == "pkcs11"] {
                summary { "PKCS#11" }
                div class="field" { label for="c-module" { "Module" } input id="c-module" name="module" placeholder="/usr/lib/softhsm/libsofthsm2.so" value=(form.module); }
                div class="field" { label for="c-token" { "Token label" } input id="c-token" name="token_label" value=(form.token_label); }
                div class="field" { label for="c-keylabel" { "Key label (generated if absent)" } input id="c-keylabel" name="key_label" value=(form.key_label); }
                div class="field" { label for="c-pin" { "Environment variable holding the PIN" } input id="c-pin" name="pin_env" placeholder="SIGIL_HSM_PIN" value=(form.pin_env); }
            }
            div class="actions" {
                button type="submit" { "Create CA" }
                a class="button secondary" href="/ui/cas" { "Cancel" }
            }
        }
    };
    Ok(layout::page(signed, "/ui/cas", "Create a CA", body))
}

pub async fn new_form(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
) -> Result<Markup, UiError> {
    signed.require(&console, "write:cas").await?;
    form_page(&console, &signed, &CaForm::default(), None).await
}

/// `POST /ui/cas/new`: to the new CA; a refusal shows the form again with the reason.
pub async fn create(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    axum::Form(mut form): axum::Form<CaForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:cas").await?;
    let result = match form.request() {
        Ok(req) => {
            let issuers = console.services().issuers.clone();
            run(signed.actor(), move || issuers.create_ca(req)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(ca) => {
            let to = format!("/ui/cas/{}?done=ca-created", urlencode(&ca.record.id));
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            form.private_key.clear();
            let page = form_page(&console, &signed, &form, Some(&e.message)).await?;
            Ok((e.status, page).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    default_profile: String,
    #[serde(default)]
    max_validity_days: String,
}

/// The policy part of a CA's page: default profile, allowed profiles (a multiple select: every
/// configured profile when none is chosen), validity cap.
pub fn policy_form(signed: &Signed, id: &str, profiles: &[String], s: &IssuerSettings) -> Markup {
    let allowed = |p: &String| s.allowed_profiles.as_ref().is_some_and(|a| a.contains(p));
    html! {
        form class="filters" method="post" action={ "/ui/cas/" (urlencode(id)) "/policy" } {
            (layout::csrf(signed))
            div class="field" {
                label for="p-default" { "Default profile" }
                select id="p-default" name="default_profile" {
                    option value="" selected[s.default_profile.is_none()] { "(default)" }
                    @for p in profiles { option value=(p) selected[s.default_profile.as_ref() == Some(p)] { (p) } }
                }
            }
            div class="field" {
                label for="p-allowed" { "Allowed profiles (none chosen: all)" }
                select id="p-allowed" name="allowed_profiles" multiple size="3" {
                    @for p in profiles { option value=(p) selected[allowed(p)] { (p) } }
                }
            }
            div class="field" {
                label for="p-max" { "Max validity in days (empty: the profile's)" }
                input id="p-max" name="max_validity_days" inputmode="numeric" pattern="[0-9]*" value=(s.max_validity_days.map(|d| d.to_string()).unwrap_or_default());
            }
            button type="submit" { "Save policy" }
        }
    }
}

/// `POST /ui/cas/{id}/policy`.
pub async fn set_policy(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    raw: String,
) -> Result<Response, UiError> {
    signed.require(&console, "write:cas").await?;
    let form: PolicyForm =
        serde_urlencoded::from_str(&raw).map_err(|e| bad(&format!("invalid form: {e}")))?;
    let allowed = layout::repeated(&raw, "allowed_profiles");
    let max = match form.max_validity_days.trim() {
        "" => None,
        v => Some(
            v.parse::<u32>()
                .map_err(|_| bad("Max validity must be a number of days."))?,
        ),
    };
    let update = IssuerUpdate {
        config: Some(PolicyUpdate {
            default_profile: Some(text(&form.default_profile)),
            allowed_profiles: Some(Some(allowed).filter(|a| !a.is_empty())),
            max_validity_days: Some(max),
            // The console's policy form leaves the CRL shards as they are.
            crl_shards: None,
        }),
        ..IssuerUpdate::default()
    };
    let issuers = console.services().issuers.clone();
    let target = id.clone();
    run(signed.actor(), move || {
        issuers.update_issuer(&target, &update)
    })
    .await?;
    let to = format!("/ui/cas/{}?done=policy-saved", urlencode(&id));
    Ok(Redirect::to(&to).into_response())
}

/// CAs whose CRL the console is regenerating.
#[derive(Debug, Default)]
pub struct CrlJobs {
    running: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl CrlJobs {
    pub fn is_running(&self, id: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }
}

/// `POST /ui/cas/{id}/crl`: starts a regeneration (one at a time per CA), then to the CA.
pub async fn regenerate_crl(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:cas").await?;
    let issuers = console.services().issuers.clone();
    let known = id.clone();
    run(signed.actor(), move || issuers.ca(&known).map(|_| ())).await?;
    if !console.crl_jobs.is_running(&id) {
        // Audited before it starts: a failed audit write starts nothing.
        super::super::auth::audit(
            &console,
            signed.actor(),
            "crl.regenerate",
            &id,
            serde_json::json!({"via": "console"}),
            true,
        )
        .await?;
        let fresh = console
            .crl_jobs
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        if fresh {
            let (console2, target) = (console.clone(), id.clone());
            let spawned = std::thread::Builder::new()
                .name("console-crl".into())
                .spawn(move || {
                    console2
                        .services()
                        .issuers
                        .regenerate_crl_for(&target, "console");
                    console2
                        .crl_jobs
                        .running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&target);
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "console: no thread for a CRL regeneration");
                console
                    .crl_jobs
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                return Err(UiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not start: try again",
                ));
            }
        }
    }
    let to = format!("/ui/cas/{}?done=crl-started", urlencode(&id));
    Ok(Redirect::to(&to).into_response())
}
