//! Issuance profiles as data (issue 23 item 2, certctl's `/api/v1/profiles`) on a real control
//! plane: made, read, replaced and deleted through the API (audited), configuration-file and
//! built-in profiles read-only, and their rules — key types and sizes, SAN and commonName
//! patterns, EKUs, validity, enabled — applied to API issuance, issuance with a generated key
//! and EST (curl with an OTP), judged by openssl.

use serde_json::{json, Value};
use sigil_tests::est::EstServer;
use sigil_tests::pki::{run, unique_path};
use sigil_tests::{assert_api_error, gen_csr, write_file, ControlPlane};

fn web_profile() -> Value {
    json!({
        "name": "web",
        "description": "TLS servers under example.com",
        "allowed_key_algorithms": [{"algorithm": "RSA", "min_size": 3072}, {"algorithm": "ECDSA"}],
        "required_san_patterns": ["*.example.com"],
        "cn_patterns": ["*.example.com"],
        "allowed_ekus": ["serverAuth"],
        "max_ttl_seconds": 30 * 86_400,
    })
}

/// An RSA CSR of `bits` for `cn` (SAN `DNS:cn`).
fn rsa_csr(cp: &ControlPlane, cn: &str, bits: u32) -> String {
    let dir = cp.work_dir();
    let key = unique_path(&dir, cn, "key");
    let csr = unique_path(&dir, cn, "csr");
    run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    std::fs::read_to_string(csr).unwrap()
}

fn issue(cp: &ControlPlane, csr: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"issuer_id": cp.demo_issuer_id(), "csr": csr});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    cp.api("POST", "/api/v1/certificates", Some(&body))
}

#[test]
fn profiles_are_managed_through_the_api_and_rule_issuance() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let (status, list) = cp.api("GET", "/api/v1/profiles", None);
    assert_eq!(status, 200, "{list}");
    let default = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "default")
        .cloned()
        .expect("default listed");
    assert_eq!(
        (default["source"].as_str(), default["read_only"].as_bool()),
        (Some("builtin"), Some(true)),
        "{default}"
    );

    let (status, web) = cp.api("POST", "/api/v1/profiles", Some(&web_profile()));
    assert_eq!(status, 201, "{web}");
    assert_eq!(
        (
            web["max_validity_days"].as_u64(),
            web["validity_days"].as_u64(),
            web["source"].as_str()
        ),
        (Some(30), Some(30), Some("api")),
        "{web}"
    );
    let (status, v) = cp.api("POST", "/api/v1/profiles", Some(&web_profile()));
    assert_api_error("the same name twice", status, &v, 409);
    for (what, body) in [
        ("bad name", json!({"name": "Web Servers"})),
        (
            "bad EKU",
            json!({"name": "x", "allowed_ekus": ["serverAuthh"]}),
        ),
        (
            "bad key family",
            json!({"name": "x", "allowed_key_algorithms": [{"algorithm": "DSA"}]}),
        ),
        ("short TTL", json!({"name": "x", "max_ttl_seconds": 3600})),
        (
            "bad pattern",
            json!({"name": "x", "required_san_patterns": ["a b"]}),
        ),
        ("unknown field", json!({"name": "x", "colour": "red"})),
    ] {
        let (status, v) = cp.api("POST", "/api/v1/profiles", Some(&body));
        assert_api_error(what, status, &v, 400);
    }

    // The rules apply: an ECDSA key and names under example.com pass, with only serverAuth.
    let ok = gen_csr(&dir, "www.example.com", &["www.example.com"]);
    let (status, cert) = issue(&cp, &ok, json!({"profile": "web"}));
    assert_eq!(status, 201, "{cert}");
    let pem = dir.join("web.pem");
    write_file(&pem, cert["certificate"].as_str().unwrap());
    let text = String::from_utf8(
        run(
            "openssl",
            &["x509", "-noout", "-text", "-in", pem.to_str().unwrap()],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("TLS Web Server Authentication")
            && !text.contains("TLS Web Client Authentication"),
        "{text}"
    );
    for (what, csr, extra) in [
        (
            "RSA-2048 under a 3072 minimum",
            rsa_csr(&cp, "rsa.example.com", 2048),
            json!({"profile": "web"}),
        ),
        (
            "a SAN outside the pattern",
            gen_csr(
                &dir,
                "www.example.com",
                &["www.example.com", "www.example.org"],
            ),
            json!({"profile": "web"}),
        ),
        (
            "a CN outside the pattern",
            gen_csr(&dir, "intranet", &["app.example.com"]),
            json!({"profile": "web"}),
        ),
        (
            "validity above the profile's",
            ok.clone(),
            json!({"profile": "web", "validity_days": 31}),
        ),
    ] {
        let (status, v) = issue(&cp, &csr, extra);
        assert_api_error(what, status, &v, 400);
    }
    let (status, v) = issue(
        &cp,
        &rsa_csr(&cp, "big.example.com", 3072),
        json!({"profile": "web"}),
    );
    assert_eq!(status, 201, "RSA-3072: {v}");
    // A generated key is held to the same rules.
    let gen = |alg: &str| {
        cp.api("POST", "/api/v1/certificates", Some(&json!({"issuer_id": cp.demo_issuer_id(), "profile": "web", "subject": "CN=gen.example.com", "sans": ["gen.example.com"], "key_algorithm": alg})))
    };
    assert_eq!(gen("ecdsa-p384").0, 201);
    let (status, v) = gen("ed25519");
    assert_api_error("an Ed25519 key under the web profile", status, &v, 400);

    // Replace (GET → PUT round trip works), disable, and the disabled profile refuses.
    let (_, mut got) = cp.api("GET", "/api/v1/profiles/web", None);
    got["enabled"] = json!(false);
    let (status, v) = cp.api("PUT", "/api/v1/profiles/web", Some(&got));
    assert_eq!((status, v["enabled"].as_bool()), (200, Some(false)), "{v}");
    let (status, v) = issue(&cp, &ok, json!({"profile": "web"}));
    assert_api_error("a disabled profile", status, &v, 409);

    // The built-in default is read-only, but a stored `default` replaces it for issuance.
    let (status, v) = cp.api(
        "PUT",
        "/api/v1/profiles/default",
        Some(&json!({"name": "default"})),
    );
    assert_api_error("changing the built-in default", status, &v, 409);
    let (status, v) = cp.api(
        "POST",
        "/api/v1/profiles",
        Some(&json!({"name": "default", "max_validity_days": 10})),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = issue(
        &cp,
        &gen_csr(&dir, "short.example.net", &["short.example.net"]),
        json!({}),
    );
    assert_eq!(status, 201, "{v}");
    let days = (sigil_shared_days(&v["not_after"]) - sigil_shared_days(&v["not_before"])).round();
    assert_eq!(days, 10.0, "{v}");

    // An issuer using a profile keeps it from being deleted.
    let issuer = cp.demo_issuer_id();
    let (status, v) = cp.api(
        "PUT",
        &format!("/api/v1/issuers/{issuer}"),
        Some(&json!({"config": {"allowed_profiles": ["web", "default"]}})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = cp.api("DELETE", "/api/v1/profiles/web", None);
    assert_api_error("deleting a profile in use", status, &v, 409);
    assert!(v["message"].as_str().unwrap().contains(&issuer), "{v}");
    let (status, v) = cp.api(
        "PUT",
        &format!("/api/v1/issuers/{issuer}"),
        Some(&json!({"config": {"allowed_profiles": null}})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, _) = cp.api("DELETE", "/api/v1/profiles/web", None);
    assert_eq!(status, 204);
    let (status, v) = cp.api("GET", "/api/v1/profiles/web", None);
    assert_api_error("a deleted profile", status, &v, 404);
    let (_, audit) = cp.api("GET", "/api/v1/audit?resource_type=profile", None);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["profile.create", "profile.update", "profile.delete"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
}

/// Seconds since the epoch / 86400 of an RFC 3339 time, via `date`.
fn sigil_shared_days(t: &Value) -> f64 {
    let out = run("date", &["-u", "-d", t.as_str().unwrap(), "+%s"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse::<f64>()
        .unwrap()
        / 86_400.0
}

#[test]
fn est_enrollment_follows_a_stored_profile() {
    let est = EstServer::start("");
    // EST asks for the `est` profile when there is one: made through the API here.
    let (status, v) = est.cp.api("POST", "/api/v1/profiles", Some(&json!({"name": "est", "cn_patterns": ["dev-*.example.com"], "allowed_key_algorithms": [{"algorithm": "ECDSA"}]})));
    assert_eq!(status, 201, "{v}");
    for (cn, expected) in [("dev-7.example.com", 200), ("printer.example.com", 400)] {
        let (_, otp) = est.otp(cn, 3600, 1);
        let (_, csr) = est.csr(cn, None);
        let r = est.post("simpleenroll", &csr, &["-u", &format!("{cn}:{otp}")]);
        assert_eq!(
            r.code(),
            expected,
            "{cn}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let certs = est.admin_certs("dev-7");
    assert_eq!(certs.len(), 1, "{certs:?}");
}
