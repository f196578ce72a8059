//! No secret reaches a log (issue 19, item 6): a control plane and a data plane run with
//! `RUST_LOG=debug` through a representative flow — a CA whose key is in SoftHSM2 (PKCS#11
//! PIN from the environment), a CA imported with its private key, the KEK from the environment, an API key created and used, an
//! OTP created and used for an EST enrollment, a Keyper user's login, access and refresh
//! tokens, KES keys created, imported and used through the data plane and the admin API, and
//! failed attempts with wrong tokens, API keys, OTPs and passwords — then every secret of the
//! flow (as sent, and its base64/hex forms where it is key material) is searched for in both
//! processes' stdout and stderr.

use std::path::Path;

use serde_json::{json, Value};
use sigil_tests::dp::DataPlane;
use sigil_tests::hsm::{self, SoftHsm};
use sigil_tests::kes::{dp_section, random_key_b64, write_kek, KesClient, KesIdentity};
use sigil_tests::pki::{base64_decode, base64_encode, run};
use sigil_tests::tls::{curl, Curl, TlsFiles};
use sigil_tests::{free_port, new_tempdir, ControlPlane, ADMIN_TOKEN, REPLICATION_TOKEN};

/// Every secret of the flow, with what it is.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 8,
            "{what} is too short to search for: {value:?}"
        );
        self.0.push((what.to_string(), value.to_string()));
    }

    /// Key material given in base64: also searched for as hex and URL-safe base64.
    fn add_key(&mut self, what: &str, b64: &str) {
        self.add(what, b64);
        let bytes = base64_decode(b64);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.add(&format!("{what} (hex)"), &hex);
        let url = b64
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        self.add(&format!("{what} (base64url)"), &url);
    }

    /// A JWT: the whole token and its signature.
    fn add_jwt(&mut self, what: &str, jwt: &str) {
        self.add(what, jwt);
        let sig = jwt.rsplit('.').next().expect("a JWT");
        self.add(&format!("{what} (signature)"), sig);
    }
}

fn json_ok(c: &Curl, what: &str) -> Value {
    assert!(
        c.status.starts_with('2'),
        "{what}: {} {}\n{}",
        c.status,
        String::from_utf8_lossy(&c.body),
        c.stderr
    );
    c.json()
}

fn api(cp: &ControlPlane, method: &str, path: &str, body: Value) -> Value {
    let (status, v) = cp.api(method, path, Some(&body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

/// `curl` to the admin listener with `token` as bearer.
fn admin_with(cp: &ControlPlane, token: &str, path: &str, extra: &[&str]) -> Curl {
    let h = format!("Authorization: Bearer {token}");
    let mut args = vec!["-H", h.as_str()];
    args.extend(extra);
    cp.curl(path, &args)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn no_secret_reaches_the_logs_at_debug_level() {
    let dir = new_tempdir();
    let work = dir.path();
    let tls = TlsFiles::generate(&work.join("tls"));
    let softhsm = SoftHsm::new(&["sigil-logs"]);
    let mut s = Secrets::default();
    s.add("admin token", ADMIN_TOKEN);
    s.add("replication token", REPLICATION_TOKEN);
    s.add("PKCS#11 user PIN", hsm::PIN);
    let kek = random_key_b64();
    s.add_key("KEK", &kek);

    // The control plane: EST on https, SoftHSM allowed, KEK from the environment, debug logs.
    let public_port = free_port();
    let toml = format!(
        "{}[public]\nlisten = \"127.0.0.1:{public_port}\"\n[public.tls]\ncert = {:?}\nkey = {:?}\n",
        hsm::CONFIG,
        tls.cert,
        tls.key
    );
    let mut env: Vec<(&str, String)> = softhsm.env();
    env.push(("SIGIL_KEK", kek.clone()));
    env.push(("RUST_LOG", "debug".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cp = ControlPlane::start_with(Some(&toml), &env_refs, true);

    // A CA whose key is on the token (the PIN is read from SIGIL_HSM_PIN), used to issue.
    api(
        &cp,
        "POST",
        "/api/v1/issuers",
        json!({"id": "hsm-ca", "name": "hsm-ca", "subject": "CN=HSM CA,O=Sigil Logs",
               "key_algorithm": "ecdsa-p256",
               "key_store": softhsm.key_store("sigil-logs", "hsm-ca-key")}),
    );
    cp.issue_new("hsm-ca", "hsm-leaf.example.com");

    // A CA imported with its private key (PKCS#8 PEM): the key's base64 body is a secret.
    let script = format!(
        "set -e; cd {}; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -days 30 -subj /CN=Imported-CA -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign -keyout imported.key -out imported.pem \
         2>/dev/null",
        work.display()
    );
    run("sh", &["-c", &script]);
    let ca_key = std::fs::read_to_string(work.join("imported.key")).expect("key");
    let ca_cert = std::fs::read_to_string(work.join("imported.pem")).expect("cert");
    let key_body: String = ca_key.lines().filter(|l| !l.starts_with("-----")).collect();
    s.add_key("imported CA private key", &key_body);
    api(
        &cp,
        "POST",
        "/api/v1/issuers",
        json!({"id": "imported", "name": "imported", "certificate": ca_cert, "private_key": ca_key}),
    );

    // An API key: created, used, and a wrong secret for the same id.
    let created = api(
        &cp,
        "POST",
        "/api/v1/apikeys",
        json!({"name": "logs", "role": "operator"}),
    );
    let key = created["data"]["key"]
        .as_str()
        .expect("API key")
        .to_string();
    s.add("API key", &key);
    let (key_prefix, key_secret) = key.rsplit_once('_').expect("sgk_<id>_<secret>");
    s.add("API key secret", key_secret);
    assert_eq!(admin_with(&cp, &key, "/api/v1/issuers", &[]).status, "200");
    let wrong_key = format!("{key_prefix}_{}", "0".repeat(key_secret.len()));
    s.add("wrong API key", &wrong_key);
    assert_eq!(
        admin_with(&cp, &wrong_key, "/api/v1/issuers", &[]).status,
        "401"
    );
    let wrong_token = "wrong-admin-token-7f3a9c";
    s.add("wrong admin token", wrong_token);
    assert_eq!(
        admin_with(&cp, wrong_token, "/api/v1/issuers", &[]).status,
        "401"
    );
    let wrong_repl = "wrong-replication-token-51be";
    s.add("wrong replication token", wrong_repl);
    let c = admin_with(&cp, wrong_repl, "/api/v1/replication/stream", &[]);
    assert_eq!(c.status, "401");

    // An OTP, a wrong one, then the right one for an EST enrollment (RFC 7030 §4.2.1).
    let entity = "device-logs.example.com";
    let otp = api(&cp, "POST", "/admin/otp", json!({"entity_id": entity}));
    let otp = otp["otp"].as_str().expect("OTP").to_string();
    s.add("OTP", &otp);
    let csr = work.join("device.b64");
    let script = format!(
        "set -e; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout {key} -subj /CN={entity} -outform DER 2>/dev/null | base64 > {csr}",
        key = work.join("device.key").display(),
        csr = csr.display()
    );
    run("sh", &["-c", &script]);
    let est = |user: &str| {
        let data = format!("@{}", csr.display());
        curl(
            work,
            &tls.ca,
            &format!("https://127.0.0.1:{public_port}/.well-known/est/demo/simpleenroll"),
            &[
                "-H",
                "Content-Type: application/pkcs10",
                "-H",
                "Content-Transfer-Encoding: base64",
                "--data-binary",
                &data,
                "-u",
                user,
            ],
        )
    };
    let wrong_otp = "wrongotpwrongotpwrongotp";
    s.add("wrong OTP", wrong_otp);
    let bad = est(&format!("{entity}:{wrong_otp}"));
    assert_eq!(
        bad.status,
        "401",
        "{} {}",
        String::from_utf8_lossy(&bad.body),
        bad.stderr
    );
    let enrolled = est(&format!("{entity}:{otp}"));
    assert_eq!(
        enrolled.status,
        "200",
        "{}",
        String::from_utf8_lossy(&enrolled.body)
    );

    // Keyper: a user, a failed and a good login, the tokens used and refreshed.
    let password = "Keyper-passw0rd-for-logs";
    s.add("Keyper password", password);
    api(
        &cp,
        "POST",
        "/api/users",
        json!({"cn": "alice", "userPassword": password, "confirmPassword": password,
               "givenName": "Alice", "sn": "Liddell"}),
    );
    let login = |pw: &str| {
        let body = json!({"username": "alice", "password": pw}).to_string();
        cp.curl(
            "/api/login",
            &["-H", "content-type: application/json", "-d", &body],
        )
    };
    let wrong_password = "Wrong-keyper-passw0rd";
    s.add("wrong Keyper password", wrong_password);
    assert_eq!(login(wrong_password).status, "401");
    let tokens = json_ok(&login(password), "Keyper login");
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    s.add_jwt("Keyper access token", access);
    s.add_jwt("Keyper refresh token", refresh);
    json_ok(
        &admin_with(&cp, access, "/api/users/alice", &[]),
        "GET own user",
    );
    let refreshed = json_ok(
        &admin_with(&cp, refresh, "/api/refresh", &["-X", "POST"]),
        "refresh",
    );
    s.add_jwt(
        "refreshed access token",
        refreshed["access_token"].as_str().expect("access token"),
    );
    let forged = format!(
        "{}.{}",
        &access[..access.rfind('.').unwrap()],
        "A".repeat(43)
    );
    s.add("forged JWT", &forged);
    assert_eq!(
        admin_with(&cp, &forged, "/api/users/alice", &[]).status,
        "401"
    );

    // KES through a data plane (debug logs too): keys created, imported, used.
    let kes_dir = work.join("kes");
    std::fs::create_dir_all(&kes_dir).expect("mkdir");
    let kek_file = write_kek(&kes_dir, &kek);
    let kes_admin = KesIdentity::generate(&kes_dir, "admin");
    let kes_port = free_port();
    let dp = DataPlane::start_with_env(
        &cp.base_url(),
        Some(&dp_section(kes_port, &tls, &kes_admin.identity, &kek_file)),
        &[],
        &[("RUST_LOG", "debug".into())],
    );
    let kes = KesClient {
        dir: kes_dir.clone(),
        ca: tls.ca.clone(),
        port: kes_port,
        who: Some(kes_admin),
    };
    json_ok(
        &kes.call("POST", "/v1/key/create/logs-key", None),
        "KES create",
    );
    let context = base64_encode(br#"{"bucket":"logs"}"#);
    let generated = json_ok(
        &kes.call(
            "POST",
            "/v1/key/generate/logs-key",
            Some(&format!(r#"{{"context":"{context}"}}"#)),
        ),
        "KES generate",
    );
    s.add_key(
        "generated data key",
        generated["plaintext"].as_str().expect("plaintext"),
    );
    let imported = random_key_b64();
    s.add_key("imported KES key", &imported);
    json_ok(
        &kes.call(
            "POST",
            "/v1/key/import/logs-imported",
            Some(&format!(r#"{{"key":"{imported}","cipher":"AES256"}}"#)),
        ),
        "KES import",
    );
    let data = base64_encode(b"confidential data for the logs test");
    s.add("encrypted plaintext", &data);
    let sealed = json_ok(
        &kes.call(
            "POST",
            "/v1/key/encrypt/logs-imported",
            Some(&format!(
                r#"{{"plaintext":"{data}","context":"{context}"}}"#
            )),
        ),
        "KES encrypt",
    );
    let ciphertext = sealed["ciphertext"].as_str().expect("ciphertext");
    let opened = json_ok(
        &kes.call(
            "POST",
            "/v1/key/decrypt/logs-imported",
            Some(&format!(
                r#"{{"ciphertext":"{ciphertext}","context":"{context}"}}"#
            )),
        ),
        "KES decrypt",
    );
    assert_eq!(opened["plaintext"], data.as_str());
    let admin_imported = random_key_b64();
    s.add_key("KES key imported through the admin API", &admin_imported);
    api(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        json!({"name": "admin-imported", "key": admin_imported}),
    );

    // A sixth failure from this address: past the audit budget of a window (five per
    // source), logged at debug level only — which shows the debug level is on.
    assert_eq!(cp.curl("/api/v1/issuers", &[]).status, "401");

    // Both processes' logs, whole.
    let dp_dir = dp.data_dir().parent().expect("dp dir").to_path_buf();
    let logs = [
        ("sigil-cp stdout", read(&cp.path().join("stdout.log"))),
        ("sigil-cp stderr", read(&cp.path().join("stderr.log"))),
        ("sigil-dp stdout", read(&dp_dir.join("stdout.log"))),
        ("sigil-dp stderr", dp.stderr_log()),
    ];
    let debug_lines = logs[1].1.lines().filter(|l| l.contains("DEBUG")).count();
    assert!(
        logs[1].1.contains("audited in the window's summary"),
        "the control plane did not log at debug level:\n{}",
        logs[1].1
    );
    let mut leaks = Vec::new();
    for (what, secret) in &s.0 {
        for (name, text) in &logs {
            if let Some(at) = text.find(secret.as_str()) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                leaks.push(format!("{what} in {name}: {}", &text[line_start..line_end]));
            }
        }
    }
    let sizes: Vec<String> = logs
        .iter()
        .map(|(n, t)| format!("{n}: {} lines", t.lines().count()))
        .collect();
    println!(
        "searched {} secrets in {} ({debug_lines} debug lines from sigil-cp)",
        s.0.len(),
        sizes.join(", ")
    );
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}
