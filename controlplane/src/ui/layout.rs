//! The page shell (head, navigation by permission, sign-out), paging links, tables' empty
//! rows, error pages. Every value goes into the HTML through maud, which escapes it.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Extension;
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::auth::Signed;

/// Navigation: (path, label, permission needed to see it).
const NAV: &[(&str, &str, &str)] = &[
    ("/ui/", "Dashboard", "read:system"),
    ("/ui/cas", "CAs", "read:cas"),
    ("/ui/certificates", "Certificates", "read:certificates"),
    ("/ui/otps", "Enrollment OTPs", "read:otp"),
    ("/ui/kes", "Key service", "read:kes"),
    ("/ui/ssh", "SSH", "read:ssh"),
    ("/ui/apikeys", "API keys", "read:apikeys"),
    ("/ui/audit", "Audit log", "read:audit"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Sigil" }
            link rel="icon" type="image/svg+xml" href=(assets::icon_path());
            link rel="stylesheet" href=(assets::css_path());
            script src=(assets::js_path()) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

/// A signed-in page: navigation (the entries the caller may read), who is signed in,
/// sign-out, then `body` under an `h1` of `title`.
pub fn page(signed: &Signed, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "Sigil" }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label, perm) in NAV {
                                @if signed.can(perm) || (*path == "/ui/ssh" && signed.who.keyper.is_some()) {
                                    li {
                                        @if *path == active {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form class="signout" method="post" action="/ui/logout" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        span class="who" { (signed.who.actor) }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A notice from a fixed set (`?done=` after a redirect: never text from the query).
pub fn notice(done: Option<&str>) -> Markup {
    let text = match done {
        Some("issued") => "Certificate issued.",
        Some("revoked") => "Certificate revoked.",
        Some("released") => "Certificate released from hold.",
        Some("enabled") => "Issuer enabled.",
        Some("disabled") => "Issuer disabled.",
        Some("otp-deleted") => "OTP deleted.",
        Some("ca-created") => "CA created.",
        Some("policy-saved") => "Issuance policy saved.",
        Some("crl-started") => {
            "CRL regeneration started: it shows among the CRL generations below when done."
        }
        Some("apikey-revoked") => "API key revoked.",
        Some("kes-key-created") => "Key created.",
        Some("kes-key-rotated") => "Key rotated: new encryptions use the new version.",
        Some("kes-key-deleted") => "Key deleted.",
        Some("kes-policy-written") => "Policy written.",
        Some("kes-policy-deleted") => "Policy deleted.",
        Some("kes-identity-assigned") => "Policy assigned.",
        Some("kes-identity-forgotten") => "Identity forgotten.",
        Some("ssh-user-created") => "User created.",
        Some("ssh-key-added") => "Key added.",
        Some("ssh-cert-signed") => "Certificate signed: it is listed with its serial, and data planes serve it at /api/usercert.",
        Some("ssh-key-revoked") => "Key removed and revoked.",
        Some("ssh-user-locked") => "User locked: no authorized keys or principals for them on any data plane, no Keyper login.",
        Some("ssh-user-unlocked") => "User unlocked.",
        Some("ssh-user-deleted") => "User deleted: their keys and certificates are revoked.",
        Some("ssh-host-created") => "Host added.",
        Some("ssh-host-deleted") => "Host deleted.",
        Some("ssh-group-created") => "Group added.",
        Some("ssh-group-deleted") => "Group deleted.",
        Some("ssh-group-members") => "Group members saved.",
        Some("ssh-host-cert-signed") => "Host certificate signed: data planes serve it at /api/hostcert.",
        _ => return html! {},
    };
    html! { p class="notice" role="status" { (text) } }
}

/// A form's repeated field (`groups=a&groups=b`, a multiple select) as a list, from the raw
/// body (axum's `Form` keeps one value of a repeated field); empty values left out.
pub fn repeated(raw: &str, field: &str) -> Vec<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| k == field && !v.is_empty())
        .map(|(_, v)| v)
        .collect()
}

/// A query string from `pairs`, leaving out empty values (percent-encoded).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// A health or status word as a badge (the class comes from a fixed set).
pub fn badge(word: &str) -> Markup {
    let class = match word {
        "healthy" | "active" | "good" | "fresh" | "enabled" | "valid" | "yes" => "badge ok",
        "degraded" | "expiring" | "stale" => "badge warn",
        "unhealthy" | "revoked" | "expired" | "disabled" | "invalid" | "no" | "locked" => {
            "badge bad"
        }
        _ => "badge",
    };
    html! { span class=(class) { (word) } }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            main class="error-page" {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p role="alert" { (message) }
                p { a href="/ui/" { "Back to the console" } }
            }
        },
    )
}

/// Any other `/ui/…` path of a signed-in caller.
pub async fn not_found(Extension(signed): Extension<Signed>) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        page(
            &signed,
            "",
            "Not found",
            html! { p { "No console page here. " a href="/ui/" { "Dashboard" } } },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_queries_encoded() {
        let m = badge("<script>");
        assert_eq!(
            m.into_string(),
            r#"<span class="badge">&lt;script&gt;</span>"#
        );
        assert_eq!(
            query(&[("a", "x y&z"), ("b", ""), ("c", "1")]),
            "a=x+y%26z&c=1"
        );
        assert_eq!(notice(Some("<b>")).into_string(), "");
    }
}
