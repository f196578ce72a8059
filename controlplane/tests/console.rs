//! The web console (`/ui/`) in process, behind the admin router on an in-memory store: the
//! security headers, the redirect when signed out, sign-in with its login token, the session
//! cookie's attributes, CSRF on POST, RBAC (a viewer cannot revoke), audit records naming the
//! signed-in actor, an API key's revocation ending its session, sign-out. The browser test of
//! the same console against a real process is tests/tests/console.rs.

#[path = "support/est_client.rs"]
mod est_client;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sigil_controlplane::api::{self, AppState};
use sigil_controlplane::audit::AuditRecord;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::api_keys::NewApiKey;
use sigil_controlplane::services::Services;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-for-console-tests";

struct Cp {
    services: Arc<Services>,
    router: axum::Router,
}

fn cp() -> Cp {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let kek = Arc::new(sigil_kes::Kek::new("kek-console-test", [9; 32]));
    let (services, _) = Services::open(store, CpConfig::default(), Metrics::new(), kek).unwrap();
    services.issuers.init_demo().unwrap();
    let services = Arc::new(services);
    let state = AppState::new(services.clone(), ADMIN.into(), "replication-token-x".into());
    let router = api::router(Arc::new(state));
    Cp { services, router }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The value of `Set-Cookie: name=…` and the whole header.
    fn set_cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| {
                let value = c[name.len() + 1..].split(';').next().unwrap().to_string();
                (value, c)
            })
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .expect("a csrf field");
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

async fn send(cp: &Cp, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    let req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = cp.router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in with `secret`: the session cookie (`sigil_session=…`).
async fn sign_in(cp: &Cp, secret: &str) -> String {
    let page = send(cp, "GET", "/ui/login", "", None).await;
    assert_eq!(page.status, 200);
    let (login, _) = page.set_cookie("sigil_login").expect("a login cookie");
    let form = format!("csrf={}&secret={}", enc(&page.csrf()), enc(secret));
    let r = send(
        cp,
        "POST",
        "/ui/login",
        &format!("sigil_login={login}"),
        Some(&form),
    )
    .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/ui/"),
        "{}",
        r.body
    );
    let (session, _) = r.set_cookie("sigil_session").expect("a session cookie");
    format!("sigil_session={session}")
}

fn audit_records(cp: &Cp) -> Vec<AuditRecord> {
    cp.services
        .audit
        .list(1, u64::MAX, 1, 10_000, &|_| true)
        .unwrap()
        .0
}

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
