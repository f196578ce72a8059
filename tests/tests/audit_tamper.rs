//! The audit chain against an attacker with disk access: one record of a stopped control
//! plane is edited in place in its store, RocksDB or PostgreSQL (same length, so it still
//! decodes); the offline
//! `sigil-cp audit verify` and the online `GET /api/v1/audit/verify` both report it.

use sigil_controlplane::db::cf;
use sigil_storage::{Durability, WriteBatch};
use sigil_tests::ControlPlane;

/// Replaces the first `from` in audit record `id` with `to` (same length); true if found.
fn tamper(cp: &ControlPlane, id: u64, from: &[u8], to: &[u8]) -> bool {
    let store = cp.open_store();
    let key = id.to_be_bytes();
    let mut value = store.get(cf::AUDIT, &key).unwrap().expect("audit record");
    let Some(pos) = value.windows(from.len()).position(|w| w == from) else {
        return false;
    };
    value[pos..pos + to.len()].copy_from_slice(to);
    let mut batch = WriteBatch::new();
    batch.put(cf::AUDIT, key.to_vec(), value);
    store.write(batch, Durability::Sync).unwrap();
    true
}

fn offline_verify(cp: &ControlPlane) -> (i32, serde_json::Value) {
    let out = cp.offline_command(&["audit", "verify"]).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn a_modified_audit_record_is_detected_offline_and_online() {
    let mut cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let a = cp.issue_new(&issuer, "tamper-a.example.com");
    let _b = cp.issue_new(&issuer, "tamper-b.example.com");
    let (status, _) = cp.revoke(&a.id, "keyCompromise");
    assert_eq!(status, 200);
    let (_, v) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(v["valid"], true, "{v}");
    let (_, list) = cp.api("GET", "/api/v1/audit?action=certificate.revoke", None);
    let revoke_id = list["data"][0]["id"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| list["data"][0]["id"].as_u64())
        .unwrap_or_else(|| panic!("revoke record id in {list}"));
    cp.stop();
    assert_eq!(offline_verify(&cp).0, 0);

    // Turn the revocation's reason into another of the same length.
    assert!(tamper(&cp, revoke_id, b"keyCompromise", b"keyCompromisX"));
    let (code, report) = offline_verify(&cp);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["valid"], false, "{report}");
    assert!(!report["errors"].as_array().unwrap().is_empty(), "{report}");
    assert!(
        report["errors"]
            .to_string()
            .contains(&revoke_id.to_string()),
        "{report}"
    );

    cp.resume();
    let (status, v) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(status, 200);
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["checked"].as_u64().unwrap() >= revoke_id, "{v}");
}
