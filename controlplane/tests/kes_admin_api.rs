//! The key service's admin API (`/api/v1/kes/…`) through the admin router, in process: keys,
//! policies, identities, RBAC, `{error, message}` errors, `X-Sigil-Seq`, no KEK.

#[path = "support/kes_router.rs"]
mod kes_router;

use axum::http::StatusCode;
use base64::Engine;
use kes_router::{call, cp, ADMIN, ALICE};
use serde_json::{json, Value};
use sigil_controlplane::services::api_keys::NewApiKey;

#[tokio::test]
async fn admin_api_manages_keys() {
    let cp = cp();
    let r = call(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        ADMIN,
        Some(json!({"name": "app-key"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.seq(), cp.services.replication.head());
    let key = r.json();
    assert_eq!(key["name"], "app-key");
    assert_eq!(key["algorithm"], "AES256");
    assert_eq!(key["versions"][0]["version"], 1);
    assert_eq!(key["created_by"], "bearer:admin");
    assert!(key.get("sealed").is_none() && !r.body.windows(6).any(|w| w == b"sealed"));

    let again = call(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        ADMIN,
        Some(json!({"name": "app-key"})),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["error"], "conflict");

    let material = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let imported = call(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        ADMIN,
        Some(json!({"name": "app-imported", "algorithm": "ChaCha20", "key": material})),
    )
    .await;
    assert_eq!(imported.status, StatusCode::CREATED);
    assert_eq!(imported.json()["algorithm"], "ChaCha20");
    let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
    for bad in [
        json!({"name": "x", "key": short}),
        json!({"name": "x", "key": "***"}),
        json!({"name": "x", "algorithm": "AES128"}),
        json!({"name": "bad name"}),
    ] {
        let r = call(&cp, "POST", "/api/v1/kes/keys", ADMIN, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.json()["error"], "bad_request");
    }

    let rotated = call(&cp, "POST", "/api/v1/kes/keys/app-key/rotate", ADMIN, None).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.json()["versions"][1]["version"], 2);
    let list = call(&cp, "GET", "/api/v1/kes/keys?pattern=app-k*", ADMIN, None).await;
    let names: Vec<Value> = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names, [json!("app-key")]);
    let all = call(&cp, "GET", "/api/v1/kes/keys", ADMIN, None).await;
    assert_eq!(all.json()["data"].as_array().unwrap().len(), 2);

    let gone = call(&cp, "DELETE", "/api/v1/kes/keys/app-key", ADMIN, None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(gone.seq(), cp.services.replication.head());
    let missing = call(&cp, "GET", "/api/v1/kes/keys/app-key", ADMIN, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "not_found");
}

#[tokio::test]
async fn admin_api_manages_policies_and_identities() {
    let cp = cp();
    let policy = json!({"allow": ["/v1/key/generate/app-*"], "deny": []});
    let r = call(
        &cp,
        "PUT",
        "/api/v1/kes/policies/minio",
        ADMIN,
        Some(policy),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["allow"], json!(["/v1/key/generate/app-*"]));
    let bad = call(
        &cp,
        "PUT",
        "/api/v1/kes/policies/minio",
        ADMIN,
        Some(json!({"allow": ["v1/no-slash"]})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let path = format!("/api/v1/kes/identities/{ALICE}");
    let missing_policy = call(&cp, "PUT", &path, ADMIN, Some(json!({"policy": "nope"}))).await;
    assert_eq!(missing_policy.status, StatusCode::NOT_FOUND);
    let r = call(&cp, "PUT", &path, ADMIN, Some(json!({"policy": "minio"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["policy"], "minio");
    let list = call(&cp, "GET", "/api/v1/kes/identities", ADMIN, None).await;
    assert_eq!(list.json()["data"][0]["identity"], ALICE);
    assert_eq!(
        call(&cp, "GET", "/api/v1/kes/policies", ADMIN, None)
            .await
            .json()["data"][0]["name"],
        "minio"
    );
    assert_eq!(
        call(&cp, "DELETE", &path, ADMIN, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&cp, "GET", &path, ADMIN, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&cp, "DELETE", "/api/v1/kes/policies/minio", ADMIN, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn rbac() {
    let cp = cp();
    let (_, viewer) = cp
        .services
        .api_keys
        .create_api_key(NewApiKey {
            name: "viewer".into(),
            role: "viewer".into(),
            ..NewApiKey::default()
        })
        .unwrap();
    assert_eq!(
        call(&cp, "GET", "/api/v1/kes/keys", &viewer, None)
            .await
            .status,
        StatusCode::OK
    );
    let denied = call(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        &viewer,
        Some(json!({"name": "k"})),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.json()["message"]
        .as_str()
        .unwrap()
        .contains("write:kes"));

    let p = call(
        &cp,
        "PUT",
        "/api/v1/kes/policies/p",
        ADMIN,
        Some(json!({"allow": []})),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
}
