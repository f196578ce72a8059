//! The console tests' client: a control plane's admin router on an in-memory store, requests
//! with a session cookie and forms, signing in, the audit records.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sigil_controlplane::api::{self, AppState};
use sigil_controlplane::audit::AuditRecord;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::Services;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-console-tests";

pub struct Cp {
    pub services: Arc<Services>,
    pub router: axum::Router,
}

pub fn cp() -> Cp {
    cp_with(CpConfig::default())
}

/// A control plane with `config`, the demo CAs created.
pub fn cp_with(config: CpConfig) -> Cp {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let kek = Arc::new(sigil_kes::Kek::new("kek-console-test", [9; 32]));
    let (services, _) = Services::open(store, config, Metrics::new(), kek).unwrap();
    services.issuers.init_demo().unwrap();
    let services = Arc::new(services);
    let state = AppState::new(services.clone(), ADMIN.into(), "replication-token-x".into());
    let router = api::router(Arc::new(state));
    Cp { services, router }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The value of `Set-Cookie: name=…` and the whole header.
    pub fn set_cookie(&self, name: &str) -> Option<(String, String)> {
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
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .expect("a csrf field");
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

pub async fn send(cp: &Cp, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
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

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in with `secret`: the session cookie (`sigil_session=…`).
pub async fn sign_in(cp: &Cp, secret: &str) -> String {
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

/// Tries the Keyper sign-in form: the answer.
pub async fn sign_in_keyper(cp: &Cp, username: &str, password: &str) -> Reply {
    let page = send(cp, "GET", "/ui/login", "", None).await;
    let (login, _) = page.set_cookie("sigil_login").expect("a login cookie");
    let form = format!(
        "csrf={}&method=keyper&username={}&password={}",
        enc(&page.csrf()),
        enc(username),
        enc(password)
    );
    send(
        cp,
        "POST",
        "/ui/login",
        &format!("sigil_login={login}"),
        Some(&form),
    )
    .await
}

pub fn audit_records(cp: &Cp) -> Vec<AuditRecord> {
    cp.services
        .audit
        .list(1, u64::MAX, 1, 10_000, &|_| true)
        .unwrap()
        .0
}
