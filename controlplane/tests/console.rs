//! The web console (`/ui/`) in process, behind the admin router on an in-memory store: the
//! security headers, the redirect when signed out, sign-in with its login token, the session
//! cookie's attributes, CSRF on POST, RBAC (a viewer cannot revoke), audit records naming the
//! signed-in actor, an API key's revocation ending its session, sign-out (the key service,
//! SSH and API keys pages: console_pages.rs). The browser test of
//! the same console against a real process is tests/tests/console.rs.

#[path = "support/est_client.rs"]
mod est_client;

#[path = "support/console_client.rs"]
mod console_client;

use axum::http::StatusCode;
use console_client::*;
use sigil_controlplane::services::api_keys::NewApiKey;

#[tokio::test]
async fn signed_out_requests_go_to_sign_in_and_every_answer_is_locked_down() {
    let cp = cp();
    for path in ["/ui/", "/ui/certificates", "/ui/audit", "/ui/anything/else"] {
        let r = send(&cp, "GET", path, "", None).await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, "/ui/login"),
            "{path}"
        );
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            h("content-security-policy").as_deref(),
            Some(sigil_controlplane::ui::CSP)
        );
        assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(h("referrer-policy").as_deref(), Some("no-referrer"));
    }
    let r = send(&cp, "GET", "/ui/", "sigil_session=forged", None).await;
    assert_eq!(r.location(), "/ui/login");
    let r = send(&cp, "POST", "/ui/otps", "", Some("entity_id=x")).await;
    assert_eq!(
        r.location(),
        "/ui/login",
        "a signed-out POST changes nothing"
    );
    assert!(cp.services.otps.active_otps().unwrap().is_empty());
    // The login page: no inline script or style anywhere.
    let page = send(&cp, "GET", "/ui/login", "", None).await;
    assert!(
        !page.body.contains("<script>") && !page.body.contains("style="),
        "{}",
        page.body
    );
    let (_, cookie) = page.set_cookie("sigil_login").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test]
async fn sign_in_needs_the_login_token_and_a_right_secret() {
    let cp = cp();
    let page = send(&cp, "GET", "/ui/login", "", None).await;
    let (login, _) = page.set_cookie("sigil_login").unwrap();
    let cookie = format!("sigil_login={login}");
    // Without the form's token (or with another one): 403.
    let r = send(
        &cp,
        "POST",
        "/ui/login",
        &cookie,
        Some(&format!("secret={ADMIN}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &cp,
        "POST",
        "/ui/login",
        "",
        Some(&format!("csrf={login}&secret={ADMIN}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no cookie");
    // A wrong secret: 401, audited as a failed authentication.
    let form = format!("csrf={login}&secret=wrong-secret");
    let r = send(&cp, "POST", "/ui/login", &cookie, Some(&form)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.set_cookie("sigil_session").is_none());
    assert!(audit_records(&cp)
        .iter()
        .any(|a| a.event.action == "auth.failure" && a.event.resource_id == "/ui/login"));
    // The right one: a session cookie, HttpOnly, SameSite=Strict, not Secure on plain http.
    let form = format!("csrf={login}&secret={ADMIN}");
    let r = send(&cp, "POST", "/ui/login", &cookie, Some(&form)).await;
    let (id, attrs) = r.set_cookie("sigil_session").unwrap();
    assert_eq!(id.len(), 43, "256 bits in base64url");
    for a in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(attrs.contains(a), "{attrs}");
    }
    assert!(!attrs.contains("Secure"), "{attrs}");
    let signed_in = audit_records(&cp)
        .into_iter()
        .find(|a| a.event.action == "console.sign_in")
        .unwrap();
    assert_eq!(signed_in.event.actor, "bearer:admin");
}

#[tokio::test]
async fn posts_need_the_csrf_token_and_actions_are_audited_as_the_signed_in_actor() {
    let cp = cp();
    let session = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/otps", &session, None).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    for form in [
        "entity_id=dev1".to_string(),
        format!("csrf=x{csrf}&entity_id=dev1"),
    ] {
        let r = send(&cp, "POST", "/ui/otps", &session, Some(&form)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{form}");
    }
    assert!(cp.services.otps.active_otps().unwrap().is_empty());
    let r = send(
        &cp,
        "POST",
        "/ui/otps",
        &session,
        Some(&format!("csrf={csrf}&entity_id=dev1&ttl=600&max_uses=2")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="otp-secret""#), "the secret, once");
    let otps = cp.services.otps.active_otps().unwrap();
    assert_eq!((otps.len(), otps[0].max_uses), (1, 2));
    let created = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action.starts_with("otp.") && a.event.success)
        .expect("the OTP service's audit record");
    assert_eq!(created.event.actor, "bearer:admin");
    let listed = send(&cp, "GET", "/ui/otps", &session, None).await;
    assert!(
        !listed.body.contains(r#"id="otp-secret""#),
        "never shown again"
    );
    let delete = format!("/ui/otps/{}/delete", otps[0].id);
    assert!(listed.body.contains(&delete), "a delete button");
    let r = send(
        &cp,
        "POST",
        &delete,
        &session,
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.location(), "/ui/otps?done=otp-deleted");
    assert!(cp.services.otps.active_otps().unwrap().is_empty());
    let deleted = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action == "otp.delete")
        .expect("the OTP service's audit record");
    assert_eq!(deleted.event.actor, "bearer:admin");
    // Sign-out ends the session.
    let r = send(
        &cp,
        "POST",
        "/ui/logout",
        &session,
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.location(), "/ui/login");
    let r = send(&cp, "GET", "/ui/", &session, None).await;
    assert_eq!(r.location(), "/ui/login");
}

#[tokio::test]
async fn a_viewer_cannot_revoke_and_a_revoked_key_is_signed_out() {
    let cp = cp();
    let admin = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/certificates/issue", &admin, None).await;
    let csr = sigil_controlplane::x509::cert_pem(b"x"); // not a CSR: refused with the reason
    let form = format!("csrf={}&issuer_id=demo&csr={}", page.csrf(), enc(&csr));
    let r = send(&cp, "POST", "/ui/certificates/issue", &admin, Some(&form)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("class=\"error\""), "{}", r.body);

    let (key, secret) = cp
        .services
        .api_keys
        .create_api_key(NewApiKey {
            name: "viewer".into(),
            role: "viewer".into(),
            permissions: None,
            expires_days: None,
        })
        .unwrap();
    let viewer = sign_in(&cp, &secret).await;
    let dash = send(&cp, "GET", "/ui/", &viewer, None).await;
    assert_eq!(dash.status, 200);
    assert!(
        !dash.body.contains("/ui/audit") && !dash.body.contains("/ui/otps"),
        "{}",
        dash.body
    );
    let r = send(&cp, "GET", "/ui/audit", &viewer, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&cp, "GET", "/ui/certificates/0a/revoke", &viewer, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &cp,
        "POST",
        "/ui/certificates/0a/revoke",
        &viewer,
        Some(&format!("csrf={}&reason=keyCompromise", dash.csrf())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let denied = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action == "auth.denied")
        .unwrap();
    assert_eq!(denied.event.actor, format!("apikey:{}", key.id));

    cp.services.api_keys.revoke_api_key(&key.id).unwrap();
    let r = send(&cp, "GET", "/ui/", &viewer, None).await;
    assert_eq!(
        r.location(),
        "/ui/login",
        "the key's revocation ends its session"
    );
}

#[tokio::test]
async fn issuance_can_be_disabled_and_a_hold_released_from_the_console() {
    use sigil_controlplane::services::certificates::IssueRequest;
    use sigil_shared::ocsp::RevocationReason;
    let cp = cp();
    let admin = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/cas/demo", &admin, None).await;
    assert!(page.body.contains("Disable issuance"), "{}", page.body);
    let csrf = page.csrf();
    let form = format!("csrf={csrf}&enabled=false");
    let r = send(&cp, "POST", "/ui/cas/demo/enabled", &admin, Some(&form)).await;
    assert_eq!(r.location(), "/ui/cas/demo?done=disabled");
    assert!(
        cp.services
            .issuers
            .issuer_settings("demo")
            .unwrap()
            .disabled
    );
    let disabled = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action == "issuer.disable")
        .expect("the issuer service's audit record");
    assert_eq!(disabled.event.actor, "bearer:admin");
    let page = send(&cp, "GET", "/ui/cas/demo?done=disabled", &admin, None).await;
    assert!(page.body.contains("Issuer disabled.") && page.body.contains("Enable issuance"));
    let form = format!("csrf={csrf}&enabled=true");
    send(&cp, "POST", "/ui/cas/demo/enabled", &admin, Some(&form)).await;
    assert!(
        !cp.services
            .issuers
            .issuer_settings("demo")
            .unwrap()
            .disabled
    );

    // A certificate on hold: the console offers to release it.
    let csr = est_client::csr_der("CN=held.example");
    let cert = cp
        .services
        .certificates
        .issue(IssueRequest {
            issuer_id: "demo".into(),
            csr,
            validity_days: None,
            profile: None,
        })
        .unwrap();
    cp.services
        .certificates
        .revoke(&cert.id, RevocationReason::CertificateHold)
        .unwrap();
    let path = format!("/ui/certificates/{}", cert.id);
    let page = send(&cp, "GET", &path, &admin, None).await;
    assert!(page.body.contains("Release from hold"), "{}", page.body);
    let r = send(
        &cp,
        "POST",
        &format!("{path}/unhold"),
        &admin,
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.location(), format!("{path}?done=released"));
    let page = send(&cp, "GET", &path, &admin, None).await;
    assert!(!page.body.contains("Release from hold") && page.body.contains("Revoke…"));

    // The audit log's date filters: nothing before 2000, everything today.
    let r = send(&cp, "GET", "/ui/audit?to=1999-12-31", &admin, None).await;
    assert!(r.body.contains("No record matches."), "{}", r.body);
    let r = send(&cp, "GET", "/ui/audit?from=2000-01-01", &admin, None).await;
    assert!(r.body.contains("certificate.unhold"), "{}", r.body);
    let r = send(&cp, "GET", "/ui/audit?from=yesterday", &admin, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
