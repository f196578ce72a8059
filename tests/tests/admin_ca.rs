//! kipuka's `GET /admin/health`, `GET /admin/ca` and `GET /admin/ca/{id}` on a real control
//! plane: exact field sets, values checked against openssl, HSM CAs (SoftHSM2) with module,
//! slot and key label, degraded and unhealthy CAs in the aggregated status and in `/ready`.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sigil_tests::hsm::{SoftHsm, CONFIG, MODULE};
use sigil_tests::pki::{normalize_hex, x509_serial};
use sigil_tests::{assert_api_error, write_file, ControlPlane};

/// Asserts that `v` is an object with exactly the fields `expected`.
fn assert_fields(what: &str, v: &Value, expected: &[&str]) {
    let got: BTreeSet<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(got, want, "{what}: fields of {v:#}");
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[test]
fn health_and_ca_endpoints_have_kipukas_shapes() {
    let cp = ControlPlane::start();
    let leaf = cp.issue_new("demo", "one.example.com");
    cp.issue_new("demo", "two.example.com");

    let (status, h) = cp.api("GET", "/admin/health", None);
    assert_eq!(status, 200, "{h}");
    println!("{h:#}");
    assert_fields(
        "/admin/health",
        &h,
        &["status", "version", "uptime_seconds", "cas", "database"],
    );
    assert_eq!(h["status"], "healthy");
    assert!(h["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(h["uptime_seconds"].is_u64());
    let cas = h["cas"].as_array().unwrap();
    assert_eq!(cas.len(), 2, "{h}");
    for ca in cas {
        // Healthy: no `error` field (kipuka shows it only when there is one).
        assert_fields(
            "/admin/health cas[]",
            ca,
            &["id", "label", "status", "last_sign_time"],
        );
        assert_eq!(ca["status"], "healthy");
        assert_eq!(ca["label"], ca["id"], "EST label = the CA's name");
    }
    let demo = cas.iter().find(|c| c["id"] == "demo").unwrap();
    assert!(is_rfc3339(&demo["last_sign_time"]), "{demo}");
    assert_fields(
        "/admin/health database",
        &h["database"],
        &[
            "status",
            "backend",
            "replication_head",
            "replication_oldest_retained",
            "read_latency_ms",
        ],
    );
    assert_eq!(h["database"]["status"], "healthy");
    assert_eq!(h["database"]["backend"], "rocksdb");
    assert!(h["database"]["replication_head"].as_u64().unwrap() > 0);

    let (status, list) = cp.api("GET", "/admin/ca", None);
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    for ca in &list {
        assert_fields(
            "/admin/ca[]",
            ca,
            &["id", "label", "type", "status", "last_sign_time"],
        );
        assert_eq!(ca["type"], "local");
    }

    let (status, d) = cp.api("GET", "/admin/ca/demo", None);
    assert_eq!(status, 200, "{d}");
    println!("{d:#}");
    // A software CA has no `hsm` object.
    assert_fields(
        "/admin/ca/demo",
        &d,
        &[
            "id",
            "label",
            "type",
            "status",
            "certificate_chain",
            "last_sign_time",
            "total_certs_issued",
        ],
    );
    assert_eq!(
        (d["id"].as_str(), d["type"].as_str()),
        (Some("demo"), Some("local"))
    );
    assert_eq!(d["total_certs_issued"], 2);
    assert!(is_rfc3339(&d["last_sign_time"]));
    let chain = d["certificate_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "issuing CA and root: {d}");
    for e in chain {
        assert_fields(
            "certificate_chain[]",
            e,
            &[
                "subject",
                "issuer",
                "serial",
                "not_before",
                "not_after",
                "key_algorithm",
            ],
        );
        assert_eq!(e["key_algorithm"], "ECDSA P-256");
        assert!(is_rfc3339(&e["not_before"]) && is_rfc3339(&e["not_after"]));
        let serial = e["serial"].as_str().unwrap();
        assert!(
            serial.split(':').all(|p| p.len() == 2
                && p.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())),
            "{serial}"
        );
    }
    assert_eq!(chain[0]["issuer"], chain[1]["subject"]);
    assert_eq!(
        chain[1]["issuer"], chain[1]["subject"],
        "root is self-issued"
    );
    // Serials and names as openssl reads the certificates.
    for (i, pem) in leaf.chain.iter().enumerate() {
        let f = cp.work_dir().join(format!("chain-{i}.pem"));
        write_file(&f, pem);
        assert_eq!(
            normalize_hex(chain[i]["serial"].as_str().unwrap()),
            normalize_hex(&x509_serial(&f)),
            "chain[{i}]"
        );
    }
    assert!(chain[0]["subject"]
        .as_str()
        .unwrap()
        .contains("CN=Sigil Demo Issuing CA"));

    let (status, body) = cp.api("GET", "/admin/ca/nonexistent", None);
    assert_api_error("unknown CA", status, &body, 404);
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "CA with id 'nonexistent' does not exist");

    // The label is the EST label: the issuer's current name, `null` for the CA named default.
    let (status, _) = cp.api(
        "PATCH",
        "/api/v1/issuers/demo-root",
        Some(&json!({"name": "root-renamed"})),
    );
    assert_eq!(status, 200);
    let (status, _) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": "fallback", "name": "default", "subject": "CN=Default CA"})),
    );
    assert_eq!(status, 201);
    let (_, list) = cp.api("GET", "/admin/ca", None);
    let label = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["label"]
            .clone()
    };
    assert_eq!(label("demo-root"), "root-renamed");
    assert_eq!(label("fallback"), Value::Null);
    let (_, d) = cp.api("GET", "/admin/ca/fallback", None);
    assert_eq!(d["label"], Value::Null, "{d}");

    for path in ["/admin/health", "/admin/ca", "/admin/ca/demo"] {
        let r = cp.request("GET", path, None, None, None);
        assert_api_error(path, r.status, &r.json(), 401);
    }
}

fn start_hsm(hsm: &SoftHsm) -> ControlPlane {
    let env = hsm.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ControlPlane::start_with(Some(CONFIG), &env, false)
}

fn create_hsm_ca(cp: &ControlPlane, id: &str, key_store: Value) {
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({
            "id": id,
            "name": id,
            "subject": format!("CN={id},O=Sigil HSM Test"),
            "key_algorithm": "ecdsa-p384",
            "key_store": key_store,
        })),
    );
    assert_eq!(status, 201, "creating {id}: {body}\n{}", cp.logs());
}

/// The slot `softhsm2-util --show-slots` lists token `label` in.
fn slot_of(hsm: &SoftHsm, label: &str) -> u64 {
    let out = hsm
        .command("softhsm2-util")
        .arg("--show-slots")
        .output()
        .expect("softhsm2-util");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut slot = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Slot ") {
            slot = n.trim().parse().ok();
        } else if line.trim().strip_prefix("Label:").map(str::trim) == Some(label) {
            return slot.expect("a slot line precedes the label");
        }
    }
    panic!("token {label} not in:\n{text}");
}

#[test]
fn hsm_cas_show_module_slot_key_label_and_their_health() {
    let hsm = SoftHsm::new(&["sigil-admin", "sigil-doomed"]);
    let mut cp = start_hsm(&hsm);
    create_hsm_ca(
        &cp,
        "iot-fleet",
        hsm.key_store("sigil-admin", "iot-signing-key"),
    );
    cp.issue_new("iot-fleet", "device-001.example.com");

    let (status, d) = cp.api("GET", "/admin/ca/iot-fleet", None);
    assert_eq!(status, 200, "{d}");
    println!("{d:#}");
    assert_eq!(d["type"], "hsm");
    assert_fields("hsm", &d["hsm"], &["module", "slot", "key_label"]);
    assert_eq!(d["hsm"]["module"], MODULE);
    assert_eq!(d["hsm"]["key_label"], "iot-signing-key");
    assert_eq!(d["hsm"]["slot"], slot_of(&hsm, "sigil-admin"), "{d}");
    assert_eq!(d["certificate_chain"][0]["key_algorithm"], "ECDSA P-384");
    assert_eq!(d["total_certs_issued"], 1);
    let (_, list) = cp.api("GET", "/admin/ca", None);
    assert_eq!(list[0]["type"], "hsm");

    // A CA with one of two replicas missing: degraded, with the error; still ready.
    let mut ks = hsm.key_store("sigil-absent", "ha-key");
    ks["replicas"] = json!([{ "token_label": "sigil-admin" }]);
    create_hsm_ca(&cp, "corp-devices", ks);
    let (_, h) = cp.api("GET", "/admin/health", None);
    println!("{h:#}");
    assert_eq!(h["status"], "degraded", "{h}");
    let corp = h["cas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "corp-devices")
        .unwrap()
        .clone();
    assert_fields(
        "degraded CA",
        &corp,
        &["id", "label", "status", "last_sign_time", "error"],
    );
    assert_eq!(corp["status"], "degraded");
    assert!(corp["error"]
        .as_str()
        .unwrap()
        .contains("1 of 2 replicas available"));
    let r = cp.request("GET", "/ready", None, None, None);
    assert_eq!(r.status, 200, "degraded is still ready: {}", r.text());

    // A CA whose only token is gone: unhealthy overall, and not ready.
    create_hsm_ca(&cp, "doomed", hsm.key_store("sigil-doomed", "doomed-key"));
    let out = hsm
        .command("softhsm2-util")
        .args(["--delete-token", "--token", "sigil-doomed"])
        .output()
        .expect("softhsm2-util");
    assert!(out.status.success(), "{out:?}");
    cp.restart();
    let (_, h) = cp.api("GET", "/admin/health", None);
    println!("{h:#}");
    assert_eq!(h["status"], "unhealthy", "{h}");
    let r = cp.request("GET", "/ready", None, None, None);
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["error"], "service_unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("CA doomed"),
        "{body}"
    );
    let (_, d) = cp.api("GET", "/admin/ca/doomed", None);
    assert_eq!(d["status"], "unhealthy", "{d}");
}
