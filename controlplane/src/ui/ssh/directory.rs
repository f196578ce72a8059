//! The SSH page's directory for administrators: hosts (list, add, delete, sign a host
//! certificate), groups (list, add, set their members, delete) and locking, unlocking or
//! deleting a user — through the SSH service as Keyper's `/api/hosts`, `/api/groups` and
//! `/api/users` call it (`write:ssh`, `delete:ssh`).

use axum::extract::Path;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_ssh::keyper::{
    GroupUpdate, GroupView, HostUpdate, HostView, NewGroup, NewHost, SshCertView, UserUpdate,
    UserView,
};

use super::super::auth::Signed;
use super::super::{layout, run, State, UiError};
use super::{bad_form, cn, done};
use crate::services::ssh::Caller;

/// The hosts and groups tables, with their forms and buttons as the caller may use them.
pub fn hosts_and_groups(
    signed: &Signed,
    users: &[UserView],
    hosts: &[HostView],
    groups: &[GroupView],
    write: bool,
    delete: bool,
) -> Markup {
    html! {
        h2 { "Hosts" }
        @if write {
            form class="filters" method="post" action="/ui/ssh/hosts" {
                (layout::csrf(signed))
                div class="field" { label for="h-cn" { "Hostname" } input id="h-cn" name="cn" required maxlength="253"; }
                div class="field" { label for="h-desc" { "Description" } input id="h-desc" name="description"; }
                div class="field" {
                    label for="h-groups" { "Groups of the host" }
                    select id="h-groups" name="groups" multiple size="3" { @for g in groups { option value=(g.cn) { (g.cn) } } }
                }
                button type="submit" { "Add host" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Host" } th { "Description" } th { "Groups" } th { "Certificates" } @if write || delete { th { span class="hint" { "Actions" } } } } }
                tbody {
                    @for h in hosts {
                        tr {
                            td class="mono" { (h.cn) }
                            td { (h.description) }
                            td { @for g in &h.member_ofs { (cn(g)) " " } }
                            td { @for c in &h.ssh_public_certs { div { (c.name) " " span class="mono hint" { "serial " (c.serial.map(|s| s.to_string()).unwrap_or_default()) } } } }
                            @if write || delete {
                                td {
                                    @if write {
                                        details {
                                            summary { "Sign a host certificate" }
                                            form class="stack" method="post" action={ "/ui/ssh/hosts/" (h.cn) "/certs" } {
                                                (layout::csrf(signed))
                                                label for={ "hc-name-" (h.cn) } { "Name" }
                                                input id={ "hc-name-" (h.cn) } name="name" required maxlength="128" value="host";
                                                label for={ "hc-key-" (h.cn) } { "Host public key (one OpenSSH line)" }
                                                input id={ "hc-key-" (h.cn) } name="key" required class="mono";
                                                button type="submit" aria-label={ "Sign a certificate for " (h.cn) } { "Sign" }
                                            }
                                        }
                                    }
                                    @if delete {
                                        form class="inline" method="post" action={ "/ui/ssh/hosts/" (h.cn) "/delete" } data-confirm={ "Delete host " (h.cn) "? Its certificates are revoked." } {
                                            (layout::csrf(signed))
                                            button type="submit" class="secondary" aria-label={ "Delete host " (h.cn) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if hosts.is_empty() { tr { td colspan="5" { "No hosts yet." } } }
                }
            }
        }
        h2 { "Groups" }
        @if write {
            form class="filters" method="post" action="/ui/ssh/groups" {
                (layout::csrf(signed))
                div class="field" { label for="g-cn" { "Group name" } input id="g-cn" name="cn" required maxlength="64"; }
                div class="field" { label for="g-desc" { "Description" } input id="g-desc" name="description"; }
                button type="submit" { "Add group" }
            }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "Group" } th { "Description" } th { "Members" } @if write || delete { th { span class="hint" { "Actions" } } } } }
                tbody {
                    @for g in groups {
                        tr {
                            td class="mono" { (g.cn) }
                            td { (g.description) }
                            td { (g.members.len()) }
                            @if write || delete {
                                td {
                                    @if write {
                                        details {
                                            summary { "Members…" }
                                            form class="stack" method="post" action={ "/ui/ssh/groups/" (g.cn) "/members" } {
                                                (layout::csrf(signed))
                                                label for={ "gm-" (g.cn) } { "Members of " (g.cn) }
                                                select id={ "gm-" (g.cn) } name="members" multiple size="6" {
                                                    @for u in users { option value=(u.dn) selected[g.members.contains(&u.dn)] { "user " (u.cn) } }
                                                    @for h in hosts { option value=(h.dn) selected[g.members.contains(&h.dn)] { "host " (h.cn) } }
                                                }
                                                button type="submit" aria-label={ "Save the members of " (g.cn) } { "Save members" }
                                            }
                                        }
                                    }
                                    @if delete {
                                        form class="inline" method="post" action={ "/ui/ssh/groups/" (g.cn) "/delete" } {
                                            (layout::csrf(signed))
                                            button type="submit" class="secondary" aria-label={ "Delete group " (g.cn) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct HostForm {
    #[serde(default)]
    cn: String,
    #[serde(default)]
    description: String,
}

/// `POST /ui/ssh/hosts`.
pub async fn create_host(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    raw: String,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let form: HostForm = serde_urlencoded::from_str(&raw).map_err(bad_form)?;
    let req = NewHost {
        cn: form.cn.trim().to_string(),
        description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
        member_ofs: layout::repeated(&raw, "groups"),
        principal: None,
        duration: None,
        duration_unit: None,
        ssh_public_certs: Vec::new(),
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.create_host(req)).await?;
    Ok(done("ssh-host-created"))
}

/// `POST /ui/ssh/hosts/{hostname}/delete`.
pub async fn delete_host(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(host): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:ssh").await?;
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.delete_host(&host)).await?;
    Ok(done("ssh-host-deleted"))
}

#[derive(Debug, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    cn: String,
    #[serde(default)]
    description: String,
}

/// `POST /ui/ssh/groups`.
pub async fn create_group(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Form(form): Form<GroupForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let req = NewGroup {
        cn: form.cn.trim().to_string(),
        description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
        members: Vec::new(),
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.create_group(req)).await?;
    Ok(done("ssh-group-created"))
}

/// `POST /ui/ssh/groups/{name}/delete` (the admin group is refused by the service).
pub async fn delete_group(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(group): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:ssh").await?;
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.delete_group(&group)).await?;
    Ok(done("ssh-group-deleted"))
}

#[derive(Debug, Deserialize)]
pub struct LockForm {
    #[serde(default)]
    locked: String,
}

/// `POST /ui/ssh/users/{username}/lock` (`locked=true|false`).
pub async fn lock_user(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(user): Path<String>,
    Form(form): Form<LockForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let locked = match form.locked.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "locked must be true or false",
            ))
        }
    };
    let req = UserUpdate {
        account_locked: Some(locked),
        ..UserUpdate::default()
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || {
        ssh.update_user(&Caller::Admin, &user, req)
    })
    .await?;
    Ok(done(if locked {
        "ssh-user-locked"
    } else {
        "ssh-user-unlocked"
    }))
}

/// `POST /ui/ssh/users/{username}/delete`: every key and certificate of theirs revoked.
pub async fn delete_user(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(user): Path<String>,
) -> Result<Response, UiError> {
    signed.require(&console, "delete:ssh").await?;
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.delete_user(&user)).await?;
    Ok(done("ssh-user-deleted"))
}

/// `POST /ui/ssh/groups/{name}/members`: the group's members become exactly those chosen.
pub async fn set_members(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(group): Path<String>,
    raw: String,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let req = GroupUpdate {
        description: None,
        members: Some(layout::repeated(&raw, "members")),
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.update_group(&group, req)).await?;
    Ok(done("ssh-group-members"))
}

#[derive(Debug, Deserialize)]
pub struct HostCertForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    key: String,
}

/// `POST /ui/ssh/hosts/{hostname}/certs`: the host CA signs a certificate for the host's key.
pub async fn sign_host_cert(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Path(host): Path<String>,
    Form(form): Form<HostCertForm>,
) -> Result<Response, UiError> {
    signed.require(&console, "write:ssh").await?;
    let req = HostUpdate {
        ssh_public_certs: Some(vec![SshCertView {
            name: form.name.trim().to_string(),
            key: form.key.trim().to_string(),
            ..SshCertView::default()
        }]),
        ..HostUpdate::default()
    };
    let ssh = console.services().ssh.clone();
    run(signed.actor(), move || ssh.update_host(&host, req)).await?;
    Ok(done("ssh-host-cert-signed"))
}
