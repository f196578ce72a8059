//! Shared by the in-process key-service tests: the services on a `MemStore` (with a KEK)
//! behind the admin router, admin API calls and forwarded KES calls.
// Each test binary uses part of this file.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sigil_controlplane::api::{self, AppState};
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::Services;
use sigil_kes::Kek;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-kes-tests";
pub const REPL: &str = "replication-token-for-kes";
pub const ALICE: &str = "a1ce000000000000000000000000000000000000000000000000000000000001";
pub const BOB: &str = "b0b0000000000000000000000000000000000000000000000000000000000002";

pub struct Cp {
    pub services: Arc<Services>,
    pub router: axum::Router,
}

pub fn cp() -> Cp {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let kek = Arc::new(Kek::new("kek-api-test", [5; 32]));
    let (services, _) = Services::open(store, CpConfig::default(), Metrics::new(), kek).unwrap();
    let services = Arc::new(services);
    let router = api::router(Arc::new(AppState::new(
        services.clone(),
        ADMIN.into(),
        REPL.into(),
    )));
    Cp { services, router }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn seq(&self) -> u64 {
        self.headers["x-sigil-seq"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

pub async fn send(cp: &Cp, req: Request<Body>) -> Reply {
    let resp = cp.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// An admin API call with bearer `token`.
pub async fn call(cp: &Cp, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(cp, req.body(body).unwrap()).await
}

/// A forwarded KES call from a data plane, for client `identity`.
pub async fn forward(cp: &Cp, path: &str, identity: &str, admin: bool, body: &str) -> Reply {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/replication/kes/{path}"))
        .header("authorization", format!("Bearer {REPL}"))
        .header("x-sigil-kes-identity", identity)
        .header("x-sigil-kes-admin", if admin { "true" } else { "false" })
        .body(Body::from(body.to_string()))
        .unwrap();
    send(cp, req).await
}

pub fn kes_error(r: &Reply, status: u16, message: &str) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        json!({ "message": message }).to_string()
    );
}
