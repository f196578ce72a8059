//! The OpenAPI document (`controlplane/api/openapi.yaml`, served at `/api/v1/openapi.yaml`)
//! against the admin router: every path registered in `api::router` is documented, every
//! documented path is registered, and each path answers exactly the documented methods
//! (others get 405). Fails when a route is added or removed without the document.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use sigil_controlplane::api::{self, AppState, OPENAPI_YAML};
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::Services;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Documented path → methods.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc: serde_json::Value = serde_norway::from_str(OPENAPI_YAML).expect("valid YAML");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let mut methods = BTreeSet::new();
        for (key, op) in item.as_object().expect("path item") {
            let m = key.to_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                continue;
            }
            assert!(op["operationId"].is_string(), "{key} {path}: operationId");
            assert!(op["responses"].is_object(), "{key} {path}: responses");
            methods.insert(m);
        }
        assert!(!methods.is_empty(), "{path}: no operations");
        out.insert(path.clone(), methods);
    }
    out
}

/// Paths passed to `.route(` inside `api::router` (the admin listener), from the source.
fn registered_paths() -> BTreeSet<String> {
    let src = include_str!("../src/api.rs");
    let start = src.find("pub fn router(").expect("api::router");
    let end = src[start..].find("\n}\n").map_or(src.len(), |e| start + e);
    let body = &src[start..end];
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let q = rest.find('"').expect("route path literal");
        let after = &rest[q + 1..];
        let close = after.find('"').expect("closing quote");
        out.insert(after[..close].to_string());
        rest = &after[close..];
    }
    out
}

fn router() -> axum::Router {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (services, _) = Services::open(
        store,
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    api::router(Arc::new(AppState::new(
        Arc::new(services),
        "admin-token-for-openapi".into(),
        "replication-token-x".into(),
    )))
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let doc = documented();
    let documented: BTreeSet<String> = doc.keys().cloned().collect();
    let registered = registered_paths();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "registered but undocumented: {undocumented:?}\ndocumented but not registered: {missing:?}"
    );
}

#[tokio::test]
async fn each_path_serves_exactly_the_documented_methods() {
    let app = router();
    let mut wrong = Vec::new();
    for (path, methods) in documented() {
        // Path parameters get a placeholder value; the request has no credentials, so
        // protected routes answer 401 — anything but 405 means the method is routed.
        let uri = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "placeholder"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for m in METHODS {
            let req = Request::builder()
                .method(Method::from_bytes(m.as_bytes()).unwrap())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let status = app.clone().oneshot(req).await.unwrap().status();
            let routed =
                status != StatusCode::METHOD_NOT_ALLOWED && status != StatusCode::NOT_FOUND;
            if routed != methods.contains(m) {
                wrong.push(format!("{m} {path} → {status} (documented: {methods:?})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn the_document_is_served_without_credentials() {
    let req = Request::builder()
        .uri("/api/v1/openapi.yaml")
        .body(Body::empty())
        .unwrap();
    let resp = router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/yaml");
}

/// `x-permission` on each documented operation is what the RBAC middleware demands.
#[test]
fn documented_permissions_match_rbac() {
    let doc: serde_json::Value = serde_norway::from_str(OPENAPI_YAML).unwrap();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let m = method.to_ascii_uppercase();
            if let Some(p) = op["x-permission"].as_str() {
                let needed = sigil_controlplane::rbac::required_permission(&m, path);
                if p != needed {
                    wrong.push(format!("{m} {path}: documented {p}, enforced {needed}"));
                }
            } else if op["security"] != serde_json::json!([])
                // The replication stream and forwarded KES calls take the replication token.
                && !path.starts_with("/api/v1/replication/")
            {
                wrong.push(format!("{m} {path}: neither x-permission nor security: []"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
