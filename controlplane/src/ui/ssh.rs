//! `/ui/ssh`: the SSH key service (Keyper's directory): users with their keys and
//! certificates, hosts, groups, the CAs' public keys and the KRL's version; create a user, add
//! a public key to a user, remove (revoke) a key — through the SSH service as Keyper's
//! `/api/users` calls it, as an administrator (`read:ssh`, `write:ssh`, `delete:ssh`). A
//! Keyper user signed in without those permissions sees only their own account and adds and
//! removes only their own keys (as `keyper:<user>` on the API: the service checks it too).

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;
use sigil_ssh::keyper::{NewUser, SshCertView, SshKeyView, UserUpdate};

mod directory;

pub use directory::{
    create_group, create_host, delete_group, delete_host, delete_user, lock_user, set_members,
    sign_host_cert,
};

use super::auth::Signed;
use super::otps::Done;
use super::{layout, run, State, UiError};
use crate::services::ssh::Caller;
use crate::services::SshError;

/// The group name of a group DN (`cn=web,ou=groups,…` → `web`).
pub(super) fn cn(dn: &str) -> &str {
    dn.strip_prefix("cn=")
        .and_then(|r| r.split(',').next())
        .unwrap_or(dn)
}

pub async fn page(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<Done>,
) -> Result<Markup, UiError> {
    let me = own_account(&signed);
    if me.is_none() {
        signed.require(&console, "read:ssh").await?;
    }
    let ssh = console.services().ssh.clone();
    let who = me.clone();
    let (users, hosts, groups, krl) = run(signed.actor(), move || {
        let krl = ssh.krl()?.version;
        Ok::<_, SshError>(match who {
            Some(me) => {
                let u = ssh.get_user(&Caller::User(me.clone()), &me)?;
                let groups = u
                    .member_ofs
                    .iter()
                    .map(|dn| sigil_ssh::keyper::GroupView {
                        cn: cn(dn).to_string(),
                        description: String::new(),
                        dn: dn.clone(),
                        members: Vec::new(),
                    })
                    .collect();
                (vec![u], Vec::new(), groups, krl)
            }
            None => (
                ssh.list_users()?,
                ssh.list_hosts()?,
                ssh.list_groups()?,
                krl,
            ),
        })
    })
    .await?;
    let ssh = &console.services().ssh;
    let own = me.is_some();
    let (write, delete) = (
        own || signed.can("write:ssh"),
        own || signed.can("delete:ssh"),
    );
    let body = html! {
        (layout::notice(q.done.as_deref()))
        dl class="fields" {
            dt { "User CA (TrustedUserCAKeys)" } dd class="mono" { (ssh.user_ca()) }
            dt { "Host CA (@cert-authority)" } dd class="mono" { (ssh.host_ca()) }
            dt { "KRL version" } dd { (krl) }
        }
        h2 { "Users" }
        div class="table-wrap" {
            table {
                thead { tr { th { "User" } th { "Name" } th { "Groups" } th { "Keys" } th { "Certificates" } th { "Account" } } }
                tbody {
                    @for u in &users {
                        tr {
                            td class="mono" { (u.cn) }
                            td { (u.given_name) " " (u.sn) }
                            td { @for g in &u.member_ofs { (cn(g)) " " } }
                            td {
                                @for k in &u.ssh_public_keys {
                                    div {
                                        (k.name) " " span class="mono hint" { (k.fingerprint) }
                                        @if delete {
                                            @if let Some(id) = &k.keyid {
                                                form class="inline" method="post" action={ "/ui/ssh/users/" (u.cn) "/keys/" (id) "/revoke" } data-confirm={ "Remove key " (k.name) " of " (u.cn) "? It is revoked (KRL) and cannot be registered again." } {
                                                    (layout::csrf(&signed))
                                                    button type="submit" class="secondary" aria-label={ "Remove key " (k.name) " of " (u.cn) } { "Remove" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            td { @for c in &u.ssh_public_certs { div { (c.name) " " span class="mono hint" { "serial " (c.serial.map(|s| s.to_string()).unwrap_or_default()) } } } }
                            td {
                                (layout::badge(if u.account_locked { "locked" } else { "active" }))
                                @if !own && write {
                                    form class="inline" method="post" action={ "/ui/ssh/users/" (u.cn) "/lock" } {
                                        (layout::csrf(&signed))
                                        input type="hidden" name="locked" value=(if u.account_locked { "false" } else { "true" });
                                        button type="submit" class="secondary" aria-label={ (if u.account_locked { "Unlock " } else { "Lock " }) (u.cn) } { (if u.account_locked { "Unlock" } else { "Lock" }) }
                                    }
                                }
                                @if !own && delete {
                                    form class="inline" method="post" action={ "/ui/ssh/users/" (u.cn) "/delete" } data-confirm={ "Delete user " (u.cn) "? Every key and certificate of theirs is revoked." } {
                                        (layout::csrf(&signed))
                                        button type="submit" class="danger" aria-label={ "Delete user " (u.cn) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                    @if users.is_empty() { tr { td colspan="6" { "No users yet." } } }
                }
            }
        }
        @if write {
            h2 { "Add a public key" }
            @if users.is_empty() {
                p class="hint" { "Create a user first." }
            } @else {
                form class="filters" method="post" action="/ui/ssh/keys" {
                    (layout::csrf(&signed))
                    div class="field" {
                        label for="k-user" { "User" }
                        select id="k-user" name="username" { @for u in &users { option value=(u.cn) { (u.cn) } } }
                    }
                    div class="field" { label for="k-name" { "Key name" } input id="k-name" name="name" required maxlength="128"; }
                    div class="field grow" { label for="k-key" { "Public key (one OpenSSH line)" } input id="k-key" name="key" required class="mono" placeholder="ssh-ed25519 AAAA… comment"; }
                    div class="field" {
                        label for="k-groups" { "Host groups" }
                        select id="k-groups" name="groups" multiple size="3" { @for g in &groups { option value=(g.cn) { (g.cn) } } }
                    }
                    div class="field" { label for="k-expire" { "Expires (YYYYMMDD, optional; keys only)" } input id="k-expire" name="date_expire" pattern="[0-9]{8}" inputmode="numeric"; }
                    div class="field" {
                        label for="k-as" { "Register as" }
                        select id="k-as" name="as" {
                            option value="key" { "an authorized key" }
                            option value="cert" { "a certificate signed by the user CA" }
                        }
                    }
                    button type="submit" { "Add key" }
                }
            }
        }
        @if write && !own {
            h2 { "Create a user" }
            form class="filters" method="post" action="/ui/ssh/users" {
                (layout::csrf(&signed))
                div class="field" { label for="u-cn" { "Username" } input id="u-cn" name="cn" required maxlength="64"; }
                div class="field" { label for="u-given" { "Given name" } input id="u-given" name="given_name" required; }
                div class="field" { label for="u-sn" { "Surname" } input id="u-sn" name="sn" required; }
                div class="field" { label for="u-password" { "Password" } input id="u-password" name="password" type="password" required autocomplete="new-password"; }
                div class="field" {
                    label for="u-groups" { "Groups" }
                    select id="u-groups" name="groups" multiple size="3" { @for g in &groups { option value=(g.cn) { (g.cn) } } }
                }
                button type="submit" { "Create user" }
            }
        }
        @if !own {
            (directory::hosts_and_groups(&signed, &users, &hosts, &groups, write, delete))
        }
    };
    let title = if own { "My SSH keys" } else { "SSH keys" };
    Ok(layout::page(&signed, "/ui/ssh", title, body))
}

/// The Keyper user acting on their own account: signed in as a Keyper user without the SSH
/// permissions.
fn own_account(signed: &Signed) -> Option<String> {
    signed
        .who
        .keyper
        .as_ref()
        .filter(|_| !signed.can("read:ssh"))
        .map(|k| k.username.clone())
}

/// Who changes `username`: an administrator with `permission`, or the Keyper user on their
/// own account; 403 otherwise.
async fn caller(
    console: &super::Console,
    signed: &Signed,
    permission: &str,
    username: &str,
) -> Result<Caller, UiError> {
    match own_account(signed) {
        Some(me) if me == username => Ok(Caller::User(me)),
        Some(_) => Err(UiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "you may change only your own keys",
        )),
        None => {
            signed.require(console, permission).await?;
            Ok(Caller::Admin)
        }
    }
}

pub(super) fn done(what: &str) -> Response {
    Redirect::to(&format!("/ui/ssh?done={what}")).into_response()
}

#[derive(Debug, Deserialize)]
struct KeyForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    date_expire: String,
    /// `key` (an authorized key) or `cert` (a certificate the user CA signs for it).
    #[serde(default, rename = "as")]
    register_as: String,
}

/// `POST /ui/ssh/keys`: adds a public key to a user, as an authorized key or as a certificate
/// the user CA signs (for the user's principals and duration, as Keyper's `sshPublicCerts`).
pub async fn add_key(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    raw: String,
) -> Result<Response, UiError> {
    let form: KeyForm = serde_urlencoded::from_str(&raw).map_err(bad_form)?;
    let who = caller(&console, &signed, "write:ssh", &form.username).await?;
    let (name, key, host_groups) = (
        form.name.trim().to_string(),
        form.key.trim().to_string(),
        layout::repeated(&raw, "groups"),
    );
    let (req, what) = match form.register_as.as_str() {
        "cert" => (
            UserUpdate {
                ssh_public_certs: Some(vec![SshCertView {
                    name,
                    key,
                    host_groups,
                    ..SshCertView::default()
                }]),
                ..UserUpdate::default()
            },
            "ssh-cert-signed",
        ),
        "" | "key" => (
            UserUpdate {
                ssh_public_keys: Some(vec![SshKeyView {
                    name,
                    key,
                    host_groups,
                    date_expire: Some(form.date_expire.trim().to_string())
                        .filter(|d| !d.is_empty()),
                    ..SshKeyView::default()
                }]),
                ..UserUpdate::default()
            },
            "ssh-key-added",
        ),
        _ => {
            return Err(UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "register as key or cert",
            ))
        }
    };
    let ssh = console.services().ssh.clone();
    let user = form.username;
    run(signed.actor(), move || ssh.update_user(&who, &user, req)).await?;
    Ok(done(what))
}

#[derive(Debug, Deserialize)]
struct UserForm {
    #[serde(default)]
    cn: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    sn: String,
    #[serde(default)]
    password: String,
}

/// `POST /ui/ssh/users`: a new user (no keys yet).
pub async fn create_user(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    raw: String,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let form: UserForm = serde_urlencoded::from_str(&raw).map_err(bad_form)?;
    let req = NewUser {
        cn: form.cn.trim().to_string(),
        user_password: form.password.clone(),
        confirm_password: form.password,
        given_name: form.given_name.trim().to_string(),
        sn: form.sn.trim().to_string(),
        display_name: None,
        mail: None,
        account_locked: None,
        member_ofs: layout::repeated(&raw, "groups"),
        principal: None,
        duration: None,
        duration_unit: None,
        ssh_public_keys: Vec::new(),
        ssh_public_certs: Vec::new(),
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.create_user(req)).await?;
    Ok(done("ssh-user-created"))
}

/// `POST /ui/ssh/users/{username}/keys/{keyid}/revoke`: removes (revokes) a key.
pub async fn revoke_key(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path((user, keyid)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let who = caller(&console, &signed, "delete:ssh", &user).await?;
    let req = UserUpdate {
        ssh_public_keys: Some(vec![SshKeyView {
            keyid: Some(keyid),
            ..SshKeyView::default()
        }]),
        ..UserUpdate::default()
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.update_user(&who, &user, req)).await?;
    Ok(done("ssh-key-revoked"))
}

pub(super) fn bad_form(e: serde_urlencoded::de::Error) -> UiError {
    UiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        format!("invalid form: {e}"),
    )
}
