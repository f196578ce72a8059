//! The KES calls data planes forward (`/api/v1/replication/kes/…`) through the admin router,
//! in process: the replication token, the caller's policy, KES's answers, audit records.

#[path = "support/kes_router.rs"]
mod kes_router;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use kes_router::{cp, forward, kes_error, send, ADMIN, ALICE, BOB, REPL};
use serde_json::json;

#[tokio::test]
async fn forwarded_calls_are_authenticated_and_answered_as_kes() {
    let cp = cp();
    let no_token = Request::builder()
        .method("PUT")
        .uri("/api/v1/replication/kes/v1/key/create/k")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("x-sigil-kes-identity", ALICE)
        .body(Body::empty())
        .unwrap();
    kes_error(
        &send(&cp, no_token).await,
        401,
        "missing or invalid replication token",
    );
    let no_identity = Request::builder()
        .method("DELETE")
        .uri("/api/v1/replication/kes/v1/key/delete/k")
        .header("authorization", format!("Bearer {REPL}"))
        .body(Body::empty())
        .unwrap();
    kes_error(
        &send(&cp, no_identity).await,
        400,
        "missing X-Sigil-Kes-Identity header",
    );
    let unknown = forward(&cp, "v1/key/encrypt/k", ALICE, true, "{}").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, b"404 page not found\n");

    // Not the admin, no policy: refused before anything else.
    let r = forward(&cp, "v1/key/create/app-1", ALICE, false, "").await;
    kes_error(&r, 403, "not authorized: insufficient permissions");
    // The admin creates a key, a policy and assigns it.
    let r = forward(&cp, "v1/key/create/app-1", BOB, true, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.seq(), cp.services.replication.head());
    kes_error(
        &forward(&cp, "v1/key/create/app-1", BOB, true, "").await,
        400,
        "key already exists",
    );
    kes_error(
        &forward(&cp, "v1/key/create/", BOB, true, "").await,
        400,
        "key name '' is empty, too long or contains invalid characters",
    );
    let policy = r#"{"allow":["/v1/key/create/app-*","/v1/key/import/app-*"],"deny":["/v1/key/create/app-secret"]}"#;
    let r = forward(&cp, "v1/policy/write/apps", BOB, true, policy).await;
    assert_eq!(r.status, StatusCode::OK);
    kes_error(
        &forward(
            &cp,
            &format!("v1/identity/assign/apps/{BOB}"),
            BOB,
            true,
            "",
        )
        .await,
        403,
        "identity cannot assign policy to itself",
    );
    kes_error(
        &forward(
            &cp,
            &format!("v1/identity/assign/none/{ALICE}"),
            BOB,
            true,
            "",
        )
        .await,
        404,
        "policy does not exist",
    );
    let r = forward(
        &cp,
        &format!("v1/identity/assign/apps/{ALICE}"),
        BOB,
        true,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // Alice's policy now decides.
    let r = forward(&cp, "v1/key/create/app-2", ALICE, false, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        cp.services.kes.describe_key("app-2").unwrap().created_by,
        ALICE
    );
    for refused in [
        "v1/key/create/app-secret",
        "v1/key/delete/app-2",
        "v1/policy/write/x",
    ] {
        kes_error(
            &forward(&cp, refused, ALICE, false, "{}").await,
            403,
            "not authorized: insufficient permissions",
        );
    }
    let key = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    let body = json!({"key": key, "cipher": "XCHACHA20-POLY1305"}).to_string();
    let r = forward(&cp, "v1/key/import/app-3", ALICE, false, &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let imported = cp.services.kes.describe_key("app-3").unwrap();
    assert_eq!(imported.versions[0].algorithm, "ChaCha20");
    let old = json!({ "bytes": key }).to_string();
    assert_eq!(
        forward(&cp, "v1/key/import/app-4", ALICE, false, &old)
            .await
            .status,
        StatusCode::OK
    );
    let short = base64::engine::general_purpose::STANDARD.encode([3u8; 31]);
    let body = json!({"key": short, "cipher": "AES256"}).to_string();
    kes_error(
        &forward(&cp, "v1/key/import/app-5", ALICE, false, &body).await,
        406,
        "invalid key size for 'AES256'",
    );
    let body = json!({"key": key, "cipher": "AES128"}).to_string();
    kes_error(
        &forward(&cp, "v1/key/import/app-5", ALICE, false, &body).await,
        406,
        "algorithm 'AES128' is not supported",
    );
    kes_error(
        &forward(&cp, "v1/key/import/app-5", ALICE, false, "not json").await,
        400,
        "invalid import key request body",
    );

    // Audit: successes and failures name the KES identity.
    let (records, _) = cp
        .services
        .audit
        .list(1, u64::MAX, 1, 500, &|r| {
            r.event.actor == format!("kes:{ALICE}")
        })
        .unwrap();
    let created = records
        .iter()
        .find(|r| r.event.action == "kes.key.create" && r.event.success)
        .expect("audited creation");
    assert_eq!(created.event.resource_id, "app-2");
    assert!(records
        .iter()
        .any(|r| r.event.action == "kes.key.delete" && !r.event.success));
    assert!(!records.iter().any(|r| r.event.details.contains(&key)));

    let r = forward(&cp, &format!("v1/identity/forget/{ALICE}"), BOB, true, "").await;
    assert_eq!(r.status, StatusCode::OK);
    kes_error(
        &forward(&cp, &format!("v1/identity/forget/{ALICE}"), BOB, true, "").await,
        404,
        "identity does not exist",
    );
    kes_error(
        &forward(&cp, "v1/key/delete/app-9", BOB, true, "").await,
        404,
        "key does not exist",
    );
    assert_eq!(
        forward(&cp, "v1/policy/delete/apps", BOB, true, "")
            .await
            .status,
        StatusCode::OK
    );
}
