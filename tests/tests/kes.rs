//! The KES-compatible key service end to end: a real `sigil-cp` (source of truth, KEK from the
//! environment) and real `sigil-dp`s (`[kes]` listener, KEK from a 0600 file), driven with
//! `curl` over mutual TLS and checked against python `cryptography`.

use std::path::Path;
use std::time::Duration;

use sigil_tests::dp::{wait_for, DataPlane, TcpProxy};
use sigil_tests::kes::{
    dp_section, message, python_kes, random_key_b64, write_kek, KesClient, KesIdentity,
};
use sigil_tests::pki::{base64_decode, base64_encode};
use sigil_tests::tls::TlsFiles;
use sigil_tests::{free_port, ControlPlane};

struct Fleet {
    cp: ControlPlane,
    /// The data planes' address of the control plane, stable across its restarts.
    proxy: TcpProxy,
    dps: Vec<DataPlane>,
    admin: KesClient,
    tls: TlsFiles,
    ids: Vec<KesIdentity>,
}

/// A control plane and `n` data planes serving the key service; the admin identity's client
/// on the first.
fn fleet(n: usize, dir: &Path) -> Fleet {
    let tls = TlsFiles::generate(&dir.join("tls"));
    let kek = random_key_b64();
    let kek_file = write_kek(dir, &kek);
    let admin = KesIdentity::generate(dir, "admin");
    let user = KesIdentity::generate(dir, "user");
    let cp = ControlPlane::start_with(None, &[("SIGIL_KES_KEK", kek.as_str())], true);
    let proxy = TcpProxy::start(cp.port());
    let mut dps = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let port = free_port();
        let toml = dp_section(port, &tls, &admin.identity, &kek_file);
        dps.push(DataPlane::start_with_config(&proxy.url(), Some(&toml)));
        ports.push(port);
    }
    let client = KesClient {
        dir: dir.to_path_buf(),
        ca: tls.ca.clone(),
        port: ports[0],
        who: Some(admin.clone()),
    };
    Fleet {
        cp,
        proxy,
        dps,
        admin: client,
        tls,
        ids: vec![admin, user],
    }
}

fn ok(c: &sigil_tests::tls::Curl, what: &str) -> serde_json::Value {
    assert_eq!(
        c.code(),
        200,
        "{what}: {} {}",
        c.status,
        String::from_utf8_lossy(&c.body)
    );
    c.json()
}

fn expect(c: &sigil_tests::tls::Curl, status: u16, text: &str, what: &str) {
    assert_eq!(
        (c.code(), message(c).as_str()),
        (status, text),
        "{what}: {}",
        String::from_utf8_lossy(&c.body)
    );
}

#[test]
fn kes_keys_policies_identities_and_crypto_through_a_data_plane() {
    let dir = tempfile::tempdir().unwrap();
    let f = fleet(2, dir.path());
    let admin = &f.admin;
    let user = admin.as_identity(Some(&f.ids[1]));
    let anonymous = admin.as_identity(None);

    // Version needs no identity; everything else needs a client certificate.
    ok(&anonymous.call("GET", "/version", None), "version");
    expect(
        &anonymous.call("GET", "/v1/key/list/*", None),
        400,
        "tls: client certificate is required",
        "no certificate",
    );

    // Create (forwarded to the control plane, answered once applied here), twice.
    ok(&admin.call("POST", "/v1/key/create/my-key", None), "create");
    expect(
        &admin.call("PUT", "/v1/key/create/my-key", None),
        400,
        "key already exists",
        "create twice",
    );
    let d = ok(
        &admin.call("GET", "/v1/key/describe/my-key", None),
        "describe",
    );
    assert_eq!(d["name"], "my-key");
    assert_eq!(d["algorithm"], "AES256");
    assert_eq!(d["created_by"], f.ids[0].identity.as_str());
    let l = ok(&admin.call("GET", "/v1/key/list/my-*", None), "list");
    assert_eq!(l["names"], serde_json::json!(["my-key"]));
    expect(
        &admin.call("GET", "/v1/key/describe/nope", None),
        404,
        "key does not exist",
        "describe missing",
    );
    expect(
        &admin.call("GET", "/v1/key/create/x", None),
        405,
        "received method 'GET' expected 'PUT'",
        "method",
    );
    expect(
        &admin.call("PUT", "/v1/key/create/bad%20name", None),
        400,
        "key name 'bad%20name' is empty, too long or contains invalid characters",
        "name",
    );

    // Data keys as MinIO asks for them: a context, then decryption of the ciphertext.
    let context = base64_encode(br#"{"bucket":"bucket/object"}"#);
    let g = ok(
        &admin.call(
            "POST",
            "/v1/key/generate/my-key",
            Some(&format!(r#"{{"context":"{context}"}}"#)),
        ),
        "generate",
    );
    let plaintext = g["plaintext"].as_str().unwrap().to_string();
    let ciphertext = g["ciphertext"].as_str().unwrap().to_string();
    assert_eq!(base64_decode(&plaintext).len(), 32);
    let body = format!(r#"{{"ciphertext":"{ciphertext}","context":"{context}"}}"#);
    let dec = ok(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        "decrypt",
    );
    assert_eq!(dec["plaintext"], plaintext.as_str());
    // The same ciphertext on the second data plane.
    let second = KesClient {
        port: kes_port(&f, 1),
        ..admin.clone()
    };
    let dec = ok(
        &second.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        "decrypt on dp 2",
    );
    assert_eq!(dec["plaintext"], plaintext.as_str());
    // Another context is not authentic.
    let wrong = format!(r#"{{"ciphertext":"{ciphertext}","context":"e30="}}"#);
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&wrong)),
        400,
        "decryption failed: ciphertext is not authentic",
        "wrong context",
    );

    // An imported key: ciphertexts interoperate with an independent implementation.
    let key = random_key_b64();
    ok(
        &admin.call(
            "PUT",
            "/v1/key/import/known",
            Some(&format!(r#"{{"key":"{key}","cipher":"AES256"}}"#)),
        ),
        "import",
    );
    let secret = base64_encode(b"hello, KES");
    let e = ok(
        &admin.call(
            "PUT",
            "/v1/key/encrypt/known",
            Some(&format!(
                r#"{{"plaintext":"{secret}","context":"{context}"}}"#
            )),
        ),
        "encrypt",
    );
    let ct = e["ciphertext"].as_str().unwrap();
    assert_eq!(python_kes("decrypt", &key, ct, &context), secret);
    let theirs = python_kes("encrypt", &key, &secret, &context);
    let dec = ok(
        &admin.call(
            "PUT",
            "/v1/key/decrypt/known",
            Some(&format!(
                r#"{{"ciphertext":"{theirs}","context":"{context}"}}"#
            )),
        ),
        "decrypt python's",
    );
    assert_eq!(dec["plaintext"], secret.as_str());
    // The seed's import form.
    let key2 = random_key_b64();
    ok(
        &admin.call(
            "POST",
            "/v1/key/import/seed-form",
            Some(&format!(r#"{{"bytes":"{key2}"}}"#)),
        ),
        "import bytes",
    );
    let h = ok(
        &admin.call(
            "PUT",
            "/v1/key/hmac/known",
            Some(&format!(r#"{{"message":"{secret}"}}"#)),
        ),
        "hmac",
    );
    assert_eq!(base64_decode(h["hmac"].as_str().unwrap()).len(), 32);

    // A client resuming its TLS session (curl does, on a new connection) is still identified.
    let resumed = sigil_tests::run_unchecked(
        "curl",
        &[
            "-sS",
            "--cacert",
            f.tls.ca.to_str().unwrap(),
            "--cert",
            f.ids[0].cert.to_str().unwrap(),
            "--key",
            f.ids[0].key.to_str().unwrap(),
            "-H",
            "Connection: close",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} ",
            &format!("https://127.0.0.1:{}/v1/key/describe/my-key", admin.port),
            &format!("https://127.0.0.1:{}/v1/key/describe/my-key", admin.port),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&resumed.stdout).trim(),
        "200 200",
        "second connection: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );

    // Bad input gets KES's 4xx, and the listener keeps serving.
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some("{")),
        400,
        "invalid request body",
        "bad JSON",
    );
    expect(
        &admin.call(
            "PUT",
            "/v1/key/decrypt/my-key",
            Some(r#"{"ciphertext":"not base64!"}"#),
        ),
        400,
        "invalid request body",
        "not base64",
    );
    let big = format!(r#"{{"plaintext":"{}"}}"#, "A".repeat(2 << 20));
    expect(
        &admin.call("PUT", "/v1/key/encrypt/my-key", Some(&big)),
        413,
        "content too large",
        "2 MiB body",
    );
    ok(
        &admin.call("GET", "/v1/key/describe/my-key", None),
        "still serving",
    );

    // Policies and identities: a user with no policy is refused; then allowed what the policy
    // names; it cannot assign itself a policy.
    expect(
        &user.call("PUT", "/v1/key/generate/my-key", None),
        403,
        "not authorized: insufficient permissions",
        "no policy",
    );
    ok(
        &admin.call(
            "POST",
            "/v1/policy/write/minio",
            Some(r#"{"allow":["/v1/key/generate/my-*","/v1/key/decrypt/my-*","/v1/identity/assign/*"]}"#),
        ),
        "policy write",
    );
    let p = ok(
        &admin.call("GET", "/v1/policy/read/minio", None),
        "policy read",
    );
    assert!(p["allow"]["/v1/key/generate/my-*"].is_object(), "{p}");
    ok(
        &admin.call(
            "POST",
            &format!("/v1/identity/assign/minio/{}", f.ids[1].identity),
            None,
        ),
        "assign",
    );
    ok(
        &user.call("PUT", "/v1/key/generate/my-key", None),
        "user generate",
    );
    expect(
        &user.call("PUT", "/v1/key/create/other", None),
        403,
        "not authorized: insufficient permissions",
        "user create",
    );
    expect(
        &user.call(
            "POST",
            &format!("/v1/identity/assign/minio/{}", f.ids[1].identity),
            None,
        ),
        403,
        "identity cannot assign policy to itself",
        "self assign",
    );
    let me = ok(
        &user.call("GET", "/v1/identity/self/describe", None),
        "self",
    );
    assert_eq!(me["identity"], f.ids[1].identity.as_str());
    assert_eq!(me["admin"], false);
    let ids = ok(
        &admin.call("GET", "/v1/identity/list/*", None),
        "identities",
    );
    assert_eq!(ids["identities"], serde_json::json!([f.ids[1].identity]));

    // Forgetting the identity is enforced by every data plane within a second.
    ok(
        &admin.call(
            "DELETE",
            &format!("/v1/identity/forget/{}", f.ids[1].identity),
            None,
        ),
        "forget",
    );
    let user2 = KesClient {
        port: kes_port(&f, 1),
        ..user.clone()
    };
    for c in [&user, &user2] {
        wait_for(Duration::from_secs(1), "identity forgotten", || {
            (c.call("PUT", "/v1/key/generate/my-key", None).code() == 403).then_some(())
        });
    }

    // A deleted key is gone everywhere.
    ok(
        &admin.call("DELETE", "/v1/key/delete/my-key", None),
        "delete",
    );
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        404,
        "key does not exist",
        "deleted",
    );
    wait_for(Duration::from_secs(2), "delete on dp 2", || {
        (second
            .call("PUT", "/v1/key/decrypt/my-key", Some(&body))
            .code()
            == 404)
            .then_some(())
    });

    // No key material in the clear in any file of either plane.
    for (what, data_dir) in [
        ("control plane", f.cp.data_dir().to_path_buf()),
        ("data plane", f.dps[0].data_dir()),
    ] {
        for needle in [
            base64_decode(&key),
            key.clone().into_bytes(),
            base64_decode(&key2),
        ] {
            assert!(
                !contains(&data_dir, &needle),
                "{what}: key material in the clear under {}",
                data_dir.display()
            );
        }
    }
}

#[test]
fn kes_crypto_keeps_working_without_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = fleet(1, dir.path());
    let admin = f.admin.clone();
    ok(&admin.call("PUT", "/v1/key/create/k", None), "create");
    let g = ok(&admin.call("PUT", "/v1/key/generate/k", None), "generate");
    let body = format!(
        r#"{{"ciphertext":"{}"}}"#,
        g["ciphertext"].as_str().unwrap()
    );

    f.cp.kill9();
    let dec = ok(
        &admin.call("PUT", "/v1/key/decrypt/k", Some(&body)),
        "decrypt, control plane away",
    );
    assert_eq!(dec["plaintext"], g["plaintext"]);
    ok(
        &admin.call("GET", "/v1/key/list/*", None),
        "list, control plane away",
    );
    let c = admin.call("PUT", "/v1/key/create/k2", None);
    assert!(
        c.code() >= 500,
        "create without a control plane: {} {}",
        c.status,
        String::from_utf8_lossy(&c.body)
    );
    assert!(!message(&c).is_empty());

    // The data plane restarted while the control plane is away still serves its keys.
    f.dps[0].restart();
    let dec = ok(
        &admin.call("PUT", "/v1/key/decrypt/k", Some(&body)),
        "decrypt after restart",
    );
    assert_eq!(dec["plaintext"], g["plaintext"]);

    f.cp.restart();
    f.proxy.set_target(f.cp.port());
    wait_for(
        Duration::from_secs(20),
        "create after the control plane is back",
        || (admin.call("PUT", "/v1/key/create/k2", None).code() == 200).then_some(()),
    );
    ok(
        &admin.call("GET", "/v1/key/describe/k2", None),
        "describe k2",
    );
}

#[test]
fn kes_refuses_to_start_without_its_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(&dir.path().join("tls"));
    let kek_file = dir.path().join("kek");
    std::fs::write(&kek_file, random_key_b64()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kek_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = dir.path().join("dp.toml");
    std::fs::write(
        &cfg,
        dp_section(free_port(), &tls, &"a".repeat(64), &kek_file),
    )
    .unwrap();
    let out = sigil_tests::run_unchecked(
        sigil_tests::bin_path("sigil-dp").to_str().unwrap(),
        &["--config", cfg.to_str().unwrap(), "--validate"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("kes.kek_file") && err.contains("chmod 600"),
        "{err}"
    );
    let missing = dp_section(free_port(), &tls, &"a".repeat(64), &kek_file)
        .replace(&format!("kek_file = {:?}\n", kek_file), "");
    std::fs::write(&cfg, missing).unwrap();
    let out = sigil_tests::run_unchecked(
        sigil_tests::bin_path("sigil-dp").to_str().unwrap(),
        &["--config", cfg.to_str().unwrap(), "--validate"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("SIGIL_KES_KEK"), "{err}");
}

/// The `[kes]` port of data plane `i` (from its configuration file).
fn kes_port(f: &Fleet, i: usize) -> u16 {
    let toml = std::fs::read_to_string(f.dps[i].data_dir().parent().unwrap().join("sigil-dp.toml"))
        .unwrap();
    let line = toml.lines().find(|l| l.starts_with("listen")).unwrap();
    line.rsplit(':')
        .next()
        .unwrap()
        .trim_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap()
}

/// Whether any file under `dir` contains `needle`.
fn contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[test]
fn kes_log_streams_rotation_metrics_and_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let f = fleet(1, dir.path());
    let admin = &f.admin;

    // The audit stream sees requests made while it is open.
    let url = format!("https://127.0.0.1:{}/v1/log/audit/trace", admin.port);
    let who = &f.ids[0];
    let trace = std::process::Command::new("curl")
        .args(["-sS", "-N", "--max-time", "3", "--cacert"])
        .arg(&f.tls.ca)
        .arg("--cert")
        .arg(&who.cert)
        .arg("--key")
        .arg(&who.key)
        .arg(&url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    ok(&admin.call("PUT", "/v1/key/create/rotated", None), "create");
    ok(
        &admin.call("GET", "/v1/key/describe/rotated", None),
        "describe",
    );
    let out = trace.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let describe = lines
        .iter()
        .find(|e| e["request"]["path"] == "/v1/key/describe/rotated")
        .unwrap_or_else(|| panic!("no audit event for describe in {lines:?}"));
    assert_eq!(describe["request"]["identity"], who.identity.as_str());
    assert_eq!(describe["response"]["code"], 200);
    assert!(lines
        .iter()
        .any(|e| e["request"]["path"] == "/v1/key/create/rotated"));

    // Rotation through the admin API: the newest version encrypts, older ciphertexts still
    // decrypt, describe lists the versions.
    let g = ok(
        &admin.call("PUT", "/v1/key/generate/rotated", None),
        "generate v1",
    );
    let (status, body) = f.cp.api("POST", "/api/v1/kes/keys/rotated/rotate", None);
    assert_eq!(status, 200, "rotate: {body}");
    wait_for(
        Duration::from_secs(2),
        "version 2 on the data plane",
        || {
            let d = admin.call("GET", "/v1/key/describe/rotated", None).json();
            (d["versions"].as_array().map(Vec::len) == Some(2)).then_some(())
        },
    );
    let old = format!(
        r#"{{"ciphertext":"{}"}}"#,
        g["ciphertext"].as_str().unwrap()
    );
    let dec = ok(
        &admin.call("PUT", "/v1/key/decrypt/rotated", Some(&old)),
        "decrypt v1 ciphertext",
    );
    assert_eq!(dec["plaintext"], g["plaintext"]);
    let g2 = ok(
        &admin.call("PUT", "/v1/key/generate/rotated", None),
        "generate v2",
    );
    let v1_only = format!(
        r#"{{"ciphertext":"{}","version":"v1"}}"#,
        g2["ciphertext"].as_str().unwrap()
    );
    expect(
        &admin.call("PUT", "/v1/key/decrypt/rotated", Some(&v1_only)),
        400,
        "decryption failed: ciphertext is not authentic",
        "v2 ciphertext under v1",
    );

    // Ops endpoints in KES's shapes.
    let metrics = admin.call("GET", "/v1/metrics", None);
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("kes_http_request_success") && text.contains("kes_http_response_time_bucket"),
        "{text}"
    );
    let status = ok(&admin.call("GET", "/v1/status", None), "status");
    assert!(
        status["uptime"].is_u64() && status["num_cpu"].is_u64(),
        "{status}"
    );
    let api = ok(&admin.call("GET", "/v1/api", None), "api");
    assert!(
        api.as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/v1/key/decrypt/"),
        "{api}"
    );

    // With client_ca, a certificate from another CA does not get through the handshake; one
    // from the CA does, and the listener keeps serving.
    let port = free_port();
    let kek_file = dir.path().join("kek");
    let operator = KesIdentity {
        cert: f.tls.client_cert.clone(),
        key: f.tls.client_key.clone(),
        identity: identity_of(&f.tls.client_cert),
    };
    let toml = format!(
        "{}client_ca = {:?}\n",
        dp_section(port, &f.tls, &operator.identity, &kek_file),
        f.tls.client_ca
    );
    let _dp = DataPlane::start_with_config(&f.proxy.url(), Some(&toml));
    let verified = KesClient {
        port,
        who: Some(operator),
        ..admin.clone()
    };
    wait_for(
        Duration::from_secs(5),
        "keys on the verifying data plane",
        || {
            (verified
                .call("GET", "/v1/key/describe/rotated", None)
                .code()
                == 200)
                .then_some(())
        },
    );
    let rogue = verified.as_identity(Some(&KesIdentity {
        cert: f.tls.rogue_cert.clone(),
        key: f.tls.rogue_key.clone(),
        identity: String::new(),
    }));
    let refused = rogue.call("GET", "/v1/key/describe/rotated", None);
    assert_eq!(refused.code(), 0, "rogue certificate: {refused:?}");
    let self_signed = verified.as_identity(Some(&f.ids[1]));
    assert_eq!(
        self_signed.call("GET", "/version", None).code(),
        0,
        "self-signed refused"
    );
    ok(
        &verified.call("GET", "/v1/key/describe/rotated", None),
        "still serving",
    );
}

/// A certificate's KES identity, computed with openssl.
fn identity_of(cert: &Path) -> String {
    let script = r#"openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1"#;
    let out = sigil_tests::run("sh", &["-c", script, "sh", cert.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `[kes.hsm]`: the key-encryption key is an AES-256 key in a SoftHSM2 token that both planes
/// reach; keys are wrapped and unwrapped inside the token.
#[test]
fn kes_key_encryption_key_in_a_pkcs11_token() {
    use sigil_tests::hsm::{SoftHsm, MODULE, PIN_ENV};
    let hsm = SoftHsm::new(&["sigil-kek"]);
    let out = hsm.pkcs11_tool(
        "sigil-kek",
        &[
            "--keygen",
            "--key-type",
            "AES:32",
            "--label",
            "fleet-kek",
            "--sensitive",
        ],
    );
    assert!(
        out.status.success(),
        "pkcs11-tool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let section = |label: &str| {
        format!("[kes.hsm]\nmodule = \"{MODULE}\"\ntoken_label = \"sigil-kek\"\npin_env = \"{PIN_ENV}\"\nkey_label = \"{label}\"\n")
    };
    let env = hsm.env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cp = ControlPlane::start_with(Some(&section("fleet-kek")), &env_refs, true);

    let dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(&dir.path().join("tls"));
    let admin = KesIdentity::generate(dir.path(), "admin");
    let port = free_port();
    let kes = dp_section(port, &tls, &admin.identity, Path::new("unused"))
        .replace("kek_file = \"unused\"\n", "");
    let toml = format!("{kes}{}", section("fleet-kek"));
    let mut dp = DataPlane::start_with_env(&cp.base_url(), Some(&toml), &[], &env);
    let client = KesClient {
        dir: dir.path().to_path_buf(),
        ca: tls.ca.clone(),
        port,
        who: Some(admin),
    };
    ok(
        &client.call("PUT", "/v1/key/create/hsm-wrapped", None),
        "create",
    );
    let g = ok(
        &client.call("PUT", "/v1/key/generate/hsm-wrapped", None),
        "generate",
    );
    let body = format!(
        r#"{{"ciphertext":"{}"}}"#,
        g["ciphertext"].as_str().unwrap()
    );
    dp.restart();
    let dec = ok(
        &client.call("PUT", "/v1/key/decrypt/hsm-wrapped", Some(&body)),
        "decrypt after restart",
    );
    assert_eq!(dec["plaintext"], g["plaintext"]);
    assert!(
        dp.stderr_log().contains("pkcs11:fleet-kek"),
        "the keyring names the token's KEK"
    );

    // A key label the token does not have is a configuration error.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, format!("{kes}{}", section("no-such-key"))).unwrap();
    let out = hsm
        .command(sigil_tests::bin_path("sigil-dp").to_str().unwrap())
        .args(["--config", cfg.to_str().unwrap(), "--validate"])
        .env(PIN_ENV, sigil_tests::hsm::PIN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("no-such-key"), "{err}");
}
