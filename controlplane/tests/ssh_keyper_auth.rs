//! Keyper's REST API (`/api/…`) through the admin router, in process, as seen by who logs in
//! (the first Keyper admin bootstrapped with Sigil's admin token): what a non-admin Keyper user
//! may read and change, password changes ending sessions, refresh, audited login failures,
//! locked accounts and forged tokens. The admin's users/hosts/groups, API keys, CA keys and
//! KRL: `ssh_keyper_api.rs`.

#[path = "support/kes_router.rs"]
mod kes_router;
#[path = "support/keyper.rs"]
mod keyper;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use kes_router::{call, cp, send, ADMIN};
use keyper::{bootstrap, claims, fresh_key, group_dn, login, new_user, PASSWORD};
use serde_json::{json, Value};

#[tokio::test]
async fn a_keyper_user_reads_and_changes_only_themselves() {
    let cp = cp();
    let admin = bootstrap(&cp).await;
    for name in ["alice", "bob"] {
        let r = call(
            &cp,
            "POST",
            "/api/users",
            &admin,
            Some(new_user(name, &["demo_servers"])),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = login(&cp, "alice", PASSWORD).await;
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["user_claims"],
        "{role: keyper_user}"
    );
    let alice = r.json()["access_token"].as_str().unwrap().to_string();

    assert_eq!(
        call(&cp, "GET", "/api/users/alice", &alice, None)
            .await
            .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        ("GET", "/api/users/bob", None),
        ("GET", "/api/users", None),
        ("PUT", "/api/users/bob", Some(json!({"mail": "x@y"}))),
        ("DELETE", "/api/users/alice", None),
        ("POST", "/api/users", Some(new_user("mallory", &[]))),
        ("GET", "/api/hosts", None),
        ("POST", "/api/groups", Some(json!({"cn": "mine"}))),
        ("GET", "/api/v1/issuers", None),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"memberOfs": [group_dn("KeyperAdmins")]})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"accountLocked": true})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"principal": "root"})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(
                json!({"sshPublicKeys": [{"key": fresh_key(), "hostGroups": [group_dn("AllHosts")]}]}),
            ),
        ),
    ] {
        let r = call(&cp, method, path, &alice, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Her own key (in her own group), certificate and password: yes.
    let mine = json!({
        "sshPublicKeys": [{"name": "laptop", "key": fresh_key(), "hostGroups": [group_dn("demo_servers")]}],
        "sshPublicCerts": [{"name": "cert", "key": fresh_key(), "hostGroups": [group_dn("demo_servers")]}],
    });
    let r = call(&cp, "PUT", "/api/users/alice", &alice, Some(mine)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()[0]["sshPublicKeys"].as_array().unwrap().len(), 1);
    let pw = json!({"userPassword": "another-secret", "confirmPassword": "another-secret"});
    assert_eq!(
        call(&cp, "PUT", "/api/users/alice", &alice, Some(pw))
            .await
            .status,
        StatusCode::OK
    );
    // The password change ended the session; the new password works.
    assert_eq!(
        call(&cp, "GET", "/api/users/alice", &alice, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&cp, "alice", "another-secret").await.status,
        StatusCode::OK
    );

    // The actions were audited as the Keyper user.
    let audit = call(
        &cp,
        "GET",
        "/api/v1/audit?action=ssh.user.update",
        ADMIN,
        None,
    )
    .await
    .json();
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "keyper:alice"),
        "{audit}"
    );
}

#[tokio::test]
async fn refresh_wrong_passwords_and_locked_accounts() {
    let cp = cp();
    let admin = bootstrap(&cp).await;
    let r = login(&cp, "admin", PASSWORD).await.json();
    let refresh = r["refresh_token"].as_str().unwrap();

    let req = |token: Option<&str>| {
        let b = Request::builder().method("POST").uri("/api/refresh");
        let b = match token {
            Some(t) => b.header("authorization", format!("Bearer {t}")),
            None => b,
        };
        b.body(Body::empty()).unwrap()
    };
    let r = send(&cp, req(Some(refresh))).await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&fresh)["type"], "access");
    assert_eq!(
        call(&cp, "GET", "/api/users", &fresh, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&cp, req(Some(&admin))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(&cp, req(None)).await.status, StatusCode::UNAUTHORIZED);
    // A refresh token is not an access token.
    assert_eq!(
        call(&cp, "GET", "/api/users", refresh, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Wrong password: 401 with the generic text, audited with the claimed user.
    let r = login(&cp, "admin", "not-the-password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json(),
        json!({"error": "unauthorized", "message": "Bad username or password"})
    );
    assert_eq!(
        login(&cp, "ghost", "not-the-password").await.json(),
        r.json()
    );
    let audit = call(&cp, "GET", "/api/v1/audit?action=ssh.login", ADMIN, None)
        .await
        .json();
    let failed: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .collect();
    assert_eq!(failed.len(), 2, "{audit}");
    assert!(failed
        .iter()
        .any(|e| e["actor"] == "keyper:admin" && e["details"]["reason"] == "password"));
    assert!(!audit.to_string().contains("not-the-password"));
    let failures = call(&cp, "GET", "/api/v1/audit?action=auth.failure", ADMIN, None)
        .await
        .json();
    let on_refresh = failures["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_id"] == "/api/refresh")
        .count();
    assert_eq!(on_refresh, 2, "{failures}");

    // A locked account: no login, and its tokens stop working.
    let r = call(
        &cp,
        "POST",
        "/api/users",
        &admin,
        Some(new_user("carol", &[])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let carol = login(&cp, "carol", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &cp,
        "PUT",
        "/api/users/carol",
        &admin,
        Some(json!({"accountLocked": "True"})),
    )
    .await;
    assert_eq!(r.json()[0]["accountLocked"], true);
    assert_eq!(
        login(&cp, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&cp, "GET", "/api/users/carol", &carol, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A forged token (signed with another key) is refused.
    let mut parts: Vec<String> = carol.split('.').map(str::to_string).collect();
    parts[2] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 32]);
    assert_eq!(
        call(&cp, "GET", "/api/users", &parts.join("."), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
