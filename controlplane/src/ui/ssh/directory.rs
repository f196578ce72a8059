//! The SSH page's directory for administrators: hosts and groups (list, create, delete) and
//! locking, unlocking or deleting a user — through the SSH service as Keyper's `/api/hosts`,
//! `/api/groups` and `/api/users` call it (`write:ssh`, `delete:ssh`).

use axum::extract::Path;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use sigil_ssh::keyper::{GroupView, HostView, NewGroup, NewHost, UserUpdate};

use super::super::auth::Signed;
use super::super::{layout, run, State, UiError};
use super::{bad_form, cn, done, repeated};
use crate::services::ssh::Caller;

/// The hosts and groups tables, with their forms and buttons as the caller may use them.
pub fn hosts_and_groups(
    signed: &Signed,
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
                thead { tr { th { "Host" } th { "Description" } th { "Groups" } th { "Certificates" } @if delete { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for h in hosts {
                        tr {
                            td class="mono" { (h.cn) }
                            td { (h.description) }
                            td { @for g in &h.member_ofs { (cn(g)) " " } }
                            td { (h.ssh_public_certs.len()) }
                            @if delete {
                                td {
                                    form class="inline" method="post" action={ "/ui/ssh/hosts/" (h.cn) "/delete" } data-confirm={ "Delete host " (h.cn) "? Its certificates are revoked." } {
                                        (layout::csrf(signed))
                                        button type="submit" class="secondary" aria-label={ "Delete host " (h.cn) } { "Delete" }
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
                thead { tr { th { "Group" } th { "Description" } th { "Members" } @if delete { th { span class="hint" { "Action" } } } } }
                tbody {
                    @for g in groups {
                        tr {
                            td class="mono" { (g.cn) }
                            td { (g.description) }
                            td { (g.members.len()) }
                            @if delete {
                                td {
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
        member_ofs: repeated(&raw, "groups"),
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
