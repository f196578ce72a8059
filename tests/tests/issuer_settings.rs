//! certctl's issuer update on a real control plane: paging envelope, `PUT`/`PATCH` of name,
//! policy and `enabled`; a disabled issuer refuses issuance (and child CAs) but still revokes
//! and serves OCSP and CRLs (judged by openssl); every change audited; settings survive a
//! restart.

use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::pki::{assert_ocsp, crl_serials, crl_text, normalize_hex};
use sigil_tests::{assert_api_error, gen_csr, run_unchecked, write_file, ControlPlane};

fn create_root(cp: &ControlPlane, id: &str) -> Value {
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": id, "name": id, "subject": format!("CN={id},O=Sigil Test")})),
    );
    assert_eq!(status, 201, "{body}");
    body
}

fn issue_with(cp: &ControlPlane, issuer: &str, cn: &str, extra: Value) -> (u16, Value) {
    let csr = gen_csr(&cp.work_dir(), cn, &[cn]);
    let mut body = json!({"issuer_id": issuer, "csr": csr});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    cp.api("POST", "/api/v1/certificates", Some(&body))
}

fn audit_actions(cp: &ControlPlane, action: &str) -> Vec<Value> {
    let (status, page) = cp.api("GET", &format!("/api/v1/audit?action={action}"), None);
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[test]
fn issuers_are_listed_paged_and_updated() {
    let cp = ControlPlane::start();
    let created = create_root(&cp, "web");
    assert_eq!(created["type"], "GenericCA");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["disabled_at"], Value::Null);
    assert_eq!(
        created["config"],
        json!({"default_profile": null, "allowed_profiles": null, "max_validity_days": null, "crl_shards": null})
    );
    assert_eq!(created["updated_at"], created["created_at"]);

    let (status, all) = cp.api("GET", "/api/v1/issuers", None);
    assert_eq!(status, 200);
    let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data", "page", "per_page", "total"], "{all}");
    assert_eq!(
        (all["total"].as_u64(), all["page"].as_u64()),
        (Some(3), Some(1))
    );
    let (_, p2) = cp.api("GET", "/api/v1/issuers?per_page=2&page=2", None);
    assert_eq!(p2["data"].as_array().unwrap().len(), 1, "{p2}");
    let (status, body) = cp.api("GET", "/api/v1/issuers?per_page=501", None);
    assert_api_error("per_page 501", status, &body, 400);

    // Validity cap: refused above, applied when the request names none.
    let (status, v) = cp.api(
        "PUT",
        "/api/v1/issuers/web",
        Some(&json!({"config": {"max_validity_days": 10}})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["config"]["max_validity_days"], 10);
    assert!(v["updated_at"].as_str() >= v["created_at"].as_str(), "{v}");
    let (status, body) = issue_with(&cp, "web", "long.example.com", json!({"validity_days": 11}));
    assert_api_error("validity above the issuer's cap", status, &body, 400);
    let (status, c) = issue_with(&cp, "web", "capped.example.com", json!({}));
    assert_eq!(status, 201, "{c}");
    let pem = cp.work_dir().join("capped.pem");
    write_file(&pem, c["certificate"].as_str().unwrap());
    let expires_within = |secs: u64| {
        let out = run_unchecked(
            "openssl",
            &[
                "x509",
                "-in",
                pem.to_str().unwrap(),
                "-noout",
                "-checkend",
                &secs.to_string(),
            ],
        );
        !out.status.success()
    };
    assert!(expires_within(10 * 86_400 + 120), "capped at 10 days");
    assert!(!expires_within(9 * 86_400), "not shorter than the cap");

    // Profiles: default and allowed.
    let (status, v) = cp.api(
        "PATCH",
        "/api/v1/issuers/web",
        Some(&json!({"config": {"allowed_profiles": ["default"], "default_profile": "default", "max_validity_days": null}})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["config"]["allowed_profiles"], json!(["default"]));
    assert_eq!(v["config"]["max_validity_days"], Value::Null);
    let (status, body) = issue_with(&cp, "web", "p.example.com", json!({"profile": "nope"}));
    assert_api_error("profile not allowed", status, &body, 400);

    // Rename; names stay unique.
    let (status, v) = cp.api(
        "PATCH",
        "/api/v1/issuers/web",
        Some(&json!({"name": "Web CA"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "Web CA");
    assert_eq!(cp.issuer_named("Web CA")["id"], "web");
    let (status, body) = cp.api(
        "PATCH",
        "/api/v1/issuers/web",
        Some(&json!({"name": "demo"})),
    );
    assert_api_error("duplicate name", status, &body, 409);

    for (what, body) in [
        ("unknown field", json!({"enable": true})),
        (
            "unknown profile",
            json!({"config": {"default_profile": "nope"}}),
        ),
        (
            "empty allowed list",
            json!({"config": {"allowed_profiles": []}}),
        ),
        ("blank name", json!({"name": " "})),
        ("enabled not a bool", json!({"enabled": "no"})),
    ] {
        let (status, b) = cp.api("PUT", "/api/v1/issuers/web", Some(&body));
        assert_api_error(what, status, &b, 400);
    }
    let (status, b) = cp.api(
        "PUT",
        "/api/v1/issuers/nope",
        Some(&json!({"enabled": false})),
    );
    assert_api_error("unknown issuer", status, &b, 404);

    let updates = audit_actions(&cp, "issuer.update");
    assert_eq!(updates.len(), 3, "{updates:?}");
    assert_eq!(
        updates[2]["details"]["changes"]["name"],
        json!({"from": null, "to": "Web CA"})
    );
}

#[test]
fn a_disabled_issuer_refuses_issuance_but_still_revokes_and_serves_status() {
    let mut cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let before = cp.issue_new(&issuer, "before.example.com");
    let files = before.write(&cp.work_dir(), "before");

    let (status, v) = cp.api(
        "PUT",
        &format!("/api/v1/issuers/{issuer}"),
        Some(&json!({"enabled": false})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["enabled"], false);
    assert!(v["disabled_at"].is_string());

    let (status, body) = issue_with(&cp, &issuer, "after.example.com", json!({}));
    assert_api_error("issuing from a disabled issuer", status, &body, 409);
    assert!(
        body["message"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": "child", "name": "child", "subject": "CN=child", "parent_id": issuer})),
    );
    assert_api_error("child CA of a disabled issuer", status, &body, 409);

    // What it issued: OCSP still served (good), then revocation works and shows.
    for hash in ["sha1", "sha256"] {
        assert_ocsp(
            &cp.work_dir(),
            &cp.ocsp(&before.id, hash),
            &files,
            hash,
            &[": good"],
        );
    }
    assert_eq!(cp.revoke(&before.id, "keyCompromise").0, 200);
    assert_ocsp(
        &cp.work_dir(),
        &cp.ocsp(&before.id, "sha256"),
        &files,
        "sha256",
        &[": revoked", "Reason: keyCompromise"],
    );
    let want = normalize_hex(&before.serial);
    let start = Instant::now();
    loop {
        let (text, stderr) = crl_text(&cp.work_dir(), &cp.crl(&issuer), &files.issuing);
        if crl_serials(&text).contains(&want) {
            assert!(stderr.contains("verify OK"), "{stderr}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not on the CRL:\n{text}"
        );
        sleep(Duration::from_millis(200));
    }

    let disables = audit_actions(&cp, "issuer.disable");
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0]["resource_id"], issuer.as_str());
    assert_eq!(
        disables[0]["details"]["changes"]["enabled"],
        json!({"from": true, "to": false})
    );

    // The setting is stored: still disabled after a restart, then enabled again.
    cp.restart();
    let (_, v) = cp.api("GET", &format!("/api/v1/issuers/{issuer}"), None);
    assert_eq!(v["enabled"], false, "{v}");
    let (status, _) = issue_with(&cp, &issuer, "after.example.com", json!({}));
    assert_eq!(status, 409);
    let (status, v) = cp.api(
        "PATCH",
        &format!("/api/v1/issuers/{issuer}"),
        Some(&json!({"enabled": true})),
    );
    assert_eq!((status, v["enabled"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(v["disabled_at"], Value::Null);
    cp.issue_new(&issuer, "again.example.com");
    assert_eq!(audit_actions(&cp, "issuer.enable").len(), 1);
}
