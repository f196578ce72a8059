//! Helpers of the ACME protocol test: CSRs, problem documents, an order made ready.

use std::path::Path;

use serde_json::{json, Value};
use sigil_tests::acme::{header, Client, Http01};
use sigil_tests::pki::run;

/// `openssl req` with `key`, no subject and `sans` (e.g. `DNS:a.localhost`): base64url DER.
pub fn csr(dir: &Path, key: &Path, sans: &str) -> String {
    let out = sigil_tests::pki::unique_path(dir, "csr", "der");
    let ext = format!("subjectAltName={sans}");
    run(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/",
            "-addext",
            &ext,
            "-outform",
            "DER",
            "-out",
            out.to_str().unwrap(),
        ],
    );
    sigil_acme::b64u(&std::fs::read(out).unwrap())
}

pub fn problem(r: &sigil_tests::tls::Curl) -> String {
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/problem+json"),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        header(&r.headers, "replay-nonce").is_some(),
        "problems carry a nonce too"
    );
    r.json()["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:ietf:params:acme:error:")
        .to_owned()
}

/// Orders `name`, answers its http-01 challenge and waits for the order to be ready.
pub fn ready_order(c: &Client, http: &Http01, name: &str) -> Value {
    let r = c.order(&[name]);
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let order_url = header(&r.headers, "location").unwrap().to_owned();
    let order = r.json();
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let authz = c.post(authz_url, None).json();
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    http.answer(
        ch["token"].as_str().unwrap(),
        &c.key_authorization(ch["token"].as_str().unwrap()),
    );
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        header(&r.headers, "link").is_some_and(|l| l.contains("rel=\"up\""))
            || r.headers.contains("rel=\"up\"")
    );
    let authz = c.poll(authz_url);
    assert_eq!(authz["status"], "valid", "{authz}");
    let order = c.post(&order_url, None).json();
    assert_eq!(order["status"], "ready", "{order}");
    json!({"url": order_url, "order": order})
}
