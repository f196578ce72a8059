//! Shared by the in-process Keyper API tests: the seed's base DN and a password, group DNs,
//! fresh public keys, Keyper's login and users, and the bootstrap of the first Keyper admin
//! with Sigil's admin token. The test crate declares `kes_router` (support/kes_router.rs)
//! beside this module.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use sigil_ssh::{CaAlgorithm, SoftwareCa};

use crate::kes_router::{call, send, Cp, Reply, ADMIN};

pub const BASE: &str = "dc=sigil,dc=local";
pub const PASSWORD: &str = "s3cret-enough";

pub fn group_dn(g: &str) -> String {
    format!("cn={g},ou=groups,{BASE}")
}

pub fn fresh_key() -> String {
    SoftwareCa::generate(CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh()
}

/// A request without credentials.
pub async fn anonymous(cp: &Cp, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(cp, req.body(body).unwrap()).await
}

pub async fn login(cp: &Cp, user: &str, password: &str) -> Reply {
    anonymous(
        cp,
        "POST",
        "/api/login",
        Some(json!({"username": user, "password": password})),
    )
    .await
}

/// The claims of a JWT (unchecked).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn new_user(name: &str, groups: &[&str]) -> Value {
    json!({
        "cn": name, "userPassword": PASSWORD, "confirmPassword": PASSWORD,
        "givenName": name, "sn": "Parker", "displayName": format!("{name} Parker"),
        "mail": format!("{name}@example.org"), "accountLocked": "false",
        "memberOfs": groups.iter().map(|g| group_dn(g)).collect::<Vec<_>>(),
    })
}

/// Sigil's admin token makes the groups and the first Keyper admin; returns the admin's
/// access token.
pub async fn bootstrap(cp: &Cp) -> String {
    for g in ["demo_servers", "AllHosts"] {
        let r = call(
            cp,
            "POST",
            "/api/groups",
            ADMIN,
            Some(json!({"cn": g, "description": g})),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = call(
        cp,
        "POST",
        "/api/users",
        ADMIN,
        Some(new_user("admin", &["KeyperAdmins"])),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = login(cp, "admin", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["access_token"].as_str().unwrap().to_string()
}
