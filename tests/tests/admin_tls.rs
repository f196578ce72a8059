//! The admin listener over real TLS (`[admin.tls]` with a client CA), driven with curl:
//! bearer token right / wrong / missing, client certificates trusted / untrusted / none, RBAC
//! API keys (shown once, roles enforced, revocation), and configuration errors (exit 64).

use serde_json::{json, Value};
use sigil_tests::tls::{Curl, TlsFiles};
use sigil_tests::{bin_path, new_tempdir, write_file, ControlPlane, ADMIN_TOKEN};

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

fn start() -> (ControlPlane, TlsFiles, tempfile::TempDir) {
    let dir = new_tempdir();
    let files = TlsFiles::generate(&dir.path().join("tls"));
    (ControlPlane::start_tls("", &files), files, dir)
}

fn assert_error(c: &Curl, status: u16, error: &str) {
    assert_eq!(c.code(), status, "{c:?}");
    let body = c.json();
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[test]
fn bearer_and_client_certificates_over_tls() {
    let (cp, f, _dir) = start();
    let ok = cp.curl("/api/v1/issuers", &["-H", &bearer(ADMIN_TOKEN)]);
    assert_eq!(ok.code(), 200, "{ok:?}");
    assert!(ok.json()["data"].as_array().is_some_and(|d| !d.is_empty()));

    let wrong = cp.curl("/api/v1/issuers", &["-H", &bearer("not-the-admin-token")]);
    assert_error(&wrong, 401, "unauthorized");
    assert!(
        wrong
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{}",
        wrong.headers
    );
    let missing = cp.curl("/api/v1/issuers", &[]);
    assert_error(&missing, 401, "unauthorized");

    // A client certificate under client_ca authenticates without a token.
    let (cert, key) = (
        f.client_cert.to_str().unwrap(),
        f.client_key.to_str().unwrap(),
    );
    let mtls = cp.curl("/admin/certs", &["--cert", cert, "--key", key]);
    assert_eq!(mtls.code(), 200, "{mtls:?}");
    let made = cp.curl(
        "/admin/otp",
        &[
            "--cert",
            cert,
            "--key",
            key,
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"entity_id":"device-1"}"#,
        ],
    );
    assert_eq!(made.code(), 201, "{made:?}");
    // One under another CA fails the handshake: no HTTP exchange at all.
    let (rc, rk) = (
        f.rogue_cert.to_str().unwrap(),
        f.rogue_key.to_str().unwrap(),
    );
    let rogue = cp.curl("/admin/certs", &["--cert", rc, "--key", rk]);
    assert_ne!(rogue.exit, 0, "{rogue:?}");
    assert_eq!(rogue.status, "000", "{rogue:?}");
    // Plain http to the TLS port gets no answer either.
    let plain = sigil_tests::tls::curl(
        &cp.work_dir(),
        &f.ca,
        &cp.url("/health").replace("https://", "http://"),
        &[],
    );
    assert_ne!(plain.status, "200", "{plain:?}");

    // The audit log names the certificate's subject as the actor.
    let audit = cp.curl(
        "/api/v1/audit?action=otp.create",
        &["-H", &bearer(ADMIN_TOKEN)],
    );
    let data = audit.json()["data"].clone();
    assert_eq!(data[0]["actor"], "mtls:CN=e2e operator", "{data}");
    let failures = cp.curl(
        "/api/v1/audit?action=auth.failure",
        &["-H", &bearer(ADMIN_TOKEN)],
    );
    assert_eq!(failures.json()["total"], 2, "{:?}", failures.json());
}

fn create_key(cp: &ControlPlane, role: &str) -> (String, String) {
    let body = json!({"name": format!("{role} key"), "role": role}).to_string();
    let c = cp.curl(
        "/api/v1/apikeys",
        &[
            "-H",
            &bearer(ADMIN_TOKEN),
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
        ],
    );
    assert_eq!(c.code(), 201, "{c:?}");
    let d = c.json()["data"].clone();
    assert_eq!(d["role"], role);
    let key = d["key"]
        .as_str()
        .expect("key shown at creation")
        .to_string();
    assert!(key.starts_with("sgk_"));
    (d["id"].as_str().unwrap().to_string(), key)
}

fn call(cp: &ControlPlane, method: &str, path: &str, key: &str, body: Option<&Value>) -> Curl {
    let h = bearer(key);
    let b = body.map(Value::to_string).unwrap_or_default();
    let mut args = vec!["-X", method, "-H", &h];
    if body.is_some() {
        args.extend(["-H", "Content-Type: application/json", "--data", &b]);
    }
    cp.curl(path, &args)
}

#[test]
fn rbac_api_keys_enforce_roles() {
    let (cp, _f, _dir) = start();
    let (viewer_id, viewer) = create_key(&cp, "viewer");
    let (_, auditor) = create_key(&cp, "auditor");
    let (_, operator) = create_key(&cp, "operator");

    // Shown once: listing and fetching never return the key or its hash.
    let list = call(&cp, "GET", "/api/v1/apikeys", ADMIN_TOKEN, None);
    assert_eq!(list.code(), 200);
    let text = String::from_utf8_lossy(&list.body).to_string();
    assert!(
        !text.contains(&viewer) && !text.contains("\"key\"") && !text.contains("hash"),
        "{text}"
    );
    let one = call(
        &cp,
        "GET",
        &format!("/api/v1/apikeys/{viewer_id}"),
        ADMIN_TOKEN,
        None,
    );
    assert_eq!(
        one.json()["data"]["permissions"],
        json!([
            "read:certificates",
            "read:cas",
            "read:kes",
            "read:ssh",
            "read:system"
        ])
    );

    let otp = json!({"entity_id": "rbac-device"});
    // viewer: reads certificates, nothing else.
    assert_eq!(call(&cp, "GET", "/admin/certs", &viewer, None).code(), 200);
    assert_eq!(
        call(&cp, "GET", "/api/v1/issuers", &viewer, None).code(),
        200
    );
    assert_error(
        &call(&cp, "POST", "/admin/otp", &viewer, Some(&otp)),
        403,
        "forbidden",
    );
    assert_error(
        &call(&cp, "GET", "/api/v1/audit", &viewer, None),
        403,
        "forbidden",
    );
    assert_error(
        &call(&cp, "GET", "/admin/otp", &viewer, None),
        403,
        "forbidden",
    );
    // auditor: reads the audit log, changes nothing.
    assert_eq!(
        call(&cp, "GET", "/api/v1/audit/verify", &auditor, None).code(),
        200
    );
    assert_error(
        &call(&cp, "POST", "/admin/otp", &auditor, Some(&otp)),
        403,
        "forbidden",
    );
    // operator: certificate work and OTPs, but no keys and no audit log.
    assert_eq!(
        call(&cp, "POST", "/admin/otp", &operator, Some(&otp)).code(),
        201
    );
    let key_req = json!({"name": "escalate", "role": "admin"});
    assert_error(
        &call(&cp, "POST", "/api/v1/apikeys", &operator, Some(&key_req)),
        403,
        "forbidden",
    );
    assert_error(
        &call(&cp, "GET", "/api/v1/audit", &operator, None),
        403,
        "forbidden",
    );
    // Bad requests for keys.
    let bad = json!({"name": "x", "role": "superuser"});
    assert_error(
        &call(&cp, "POST", "/api/v1/apikeys", ADMIN_TOKEN, Some(&bad)),
        400,
        "bad_request",
    );

    // Revocation takes effect at once; a tampered key never worked.
    let revoked = call(
        &cp,
        "DELETE",
        &format!("/api/v1/apikeys/{viewer_id}"),
        ADMIN_TOKEN,
        None,
    );
    assert_eq!(revoked.code(), 204, "{revoked:?}");
    assert_error(
        &call(&cp, "GET", "/admin/certs", &viewer, None),
        401,
        "unauthorized",
    );
    let again = call(
        &cp,
        "DELETE",
        &format!("/api/v1/apikeys/{viewer_id}"),
        ADMIN_TOKEN,
        None,
    );
    assert_error(&again, 409, "conflict");
    let mut forged = auditor.clone();
    forged.pop();
    forged.push(if auditor.ends_with('0') { '1' } else { '0' });
    assert_error(
        &call(&cp, "GET", "/api/v1/audit", &forged, None),
        401,
        "unauthorized",
    );

    // Denials are audited with the key as the actor.
    let denied = call(
        &cp,
        "GET",
        "/api/v1/audit?action=auth.denied&per_page=100",
        ADMIN_TOKEN,
        None,
    );
    let d = denied.json();
    assert!(d["total"].as_u64().unwrap() >= 6, "{d}");
    assert!(d["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"].as_str().unwrap().starts_with("apikey:")));
    let roles = call(&cp, "GET", "/api/v1/rbac/roles", &auditor, None).json();
    assert_eq!(
        roles["data"]["roles"],
        json!(["admin", "operator", "auditor", "viewer"])
    );
}

fn validate(toml: &str) -> (i32, String) {
    let dir = new_tempdir();
    let path = dir.path().join("cp.toml");
    write_file(&path, toml);
    let out = std::process::Command::new(bin_path("sigil-cp"))
        .args(["--config", path.to_str().unwrap(), "--validate", "serve"])
        .env("SIGIL_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SIGIL_REPLICATION_TOKEN", "replication-token-123")
        .env("SIGIL_KEK", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn tls_configuration_errors_exit_64() {
    let (code, err) = validate("[admin]\nlisten = \"0.0.0.0:9444\"\n");
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("[admin.tls]"), "{err}");
    let (code, err) = validate("[public]\nlisten = \"127.0.0.1:8443\"\n");
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("[public.tls]"), "{err}");
    let (code, err) = validate(
        "[admin]\nlisten = \"0.0.0.0:9444\"\n[admin.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    );
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("admin.tls.cert /nonexistent/cert.pem"),
        "{err}"
    );
    let dir = new_tempdir();
    let f = TlsFiles::generate(dir.path());
    // The key of another certificate.
    let toml = format!(
        "[admin]\nlisten = \"0.0.0.0:9444\"\n[admin.tls]\ncert = {:?}\nkey = {:?}\n",
        f.cert, f.client_key
    );
    let (code, err) = validate(&toml);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("does not belong"), "{err}");
    let toml = format!(
        "[admin]\nlisten = \"0.0.0.0:9444\"\n[admin.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
        f.cert, f.key, f.client_ca
    );
    assert_eq!(validate(&toml).0, 0);
}
