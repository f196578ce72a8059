//! The audit log through the API of a real control plane: every mutating call and every
//! authentication failure is recorded, the chain verifies online and offline
//! (`sigil-cp audit verify`), and the records survive `kill -9`.

use serde_json::Value;
use sigil_tests::ControlPlane;

fn events(cp: &ControlPlane, query: &str) -> (u64, Vec<Value>) {
    let (status, body) = cp.api("GET", &format!("/api/v1/audit{query}"), None);
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().expect("data array").clone();
    (body["total"].as_u64().expect("total"), data)
}

#[test]
fn mutations_and_auth_failures_are_audited_and_the_chain_verifies() {
    let mut cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let cert = cp.issue_new(&issuer, "audited.example.com");
    let (status, _) = cp.revoke(&cert.id, "keyCompromise");
    assert_eq!(status, 200);
    let (status, _) = cp.revoke(&cert.id, "superseded"); // 409: audited as a failure
    assert_eq!(status, 409);
    let wrong = cp.request(
        "GET",
        "/api/v1/issuers",
        Some("wrong-token-123456"),
        None,
        None,
    );
    assert_eq!(wrong.status, 401);
    let missing = cp.request("POST", "/api/v1/certificates", None, None, None);
    assert_eq!(missing.status, 401);

    let (total, all) = events(&cp, "?per_page=500");
    println!("{total} audit records: {:#}", Value::Array(all.clone()));
    let find = |action: &str| {
        all.iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} record"))
            .clone()
    };
    let issue = find("certificate.issue");
    assert_eq!(issue["resource_id"], cert.id.as_str());
    assert_eq!(issue["actor"], "bearer:admin");
    assert_eq!(issue["success"], true);
    assert!(issue["source"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(issue["details"]["issuer_id"], issuer.as_str());
    let revoke = find("certificate.revoke");
    assert_eq!(revoke["details"]["reason"], "keyCompromise");
    let conflict = find("POST /api/v1/certificates/{id}/revoke");
    assert_eq!(
        (
            conflict["success"].clone(),
            conflict["details"]["status"].clone()
        ),
        (Value::Bool(false), Value::from(409))
    );
    let (failures, f) = events(&cp, "?action=auth.failure");
    assert_eq!(failures, 2, "{f:?}");
    assert_eq!(f[0]["actor"], "anonymous");
    assert_eq!(f[0]["details"]["credentials"], "invalid");
    assert_eq!(f[1]["details"]["credentials"], "missing");
    for e in &all {
        for field in [
            "id",
            "timestamp",
            "actor",
            "actor_type",
            "action",
            "resource_type",
            "resource_id",
            "hash",
            "prev_hash",
        ] {
            assert!(e[field].is_string(), "{field} in {e}");
        }
    }
    // Paging and filters.
    let (n, page) = events(&cp, "?per_page=1&page=2&success=true");
    assert!(n >= 3 && page.len() == 1);
    let (status, body) = cp.api("GET", "/api/v1/audit?per_page=0", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");

    let (status, v) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(status, 200);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(
        v["checked"].as_u64(),
        Some(total),
        "reads are not audited: {v}"
    );

    // Acknowledged records survive kill -9; the chain verifies offline.
    cp.kill9();
    let out = cp
        .offline_command(&["audit", "verify"])
        .output()
        .expect("run sigil-cp audit verify");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(
        out.status.success(),
        "{report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["valid"], true);
    assert_eq!(report["checked"].as_u64(), Some(total));
    cp.restart();
    let wrong = cp.request("GET", "/api/v1/audit", None, None, None);
    assert_eq!(wrong.status, 401);
    let (after, _) = events(&cp, "?per_page=1");
    assert_eq!(after, total + 1, "the chain continues after the restart");
    let (_, v) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(v["valid"], true, "{v}");
}
