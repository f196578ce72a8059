//! Running the KES-compatible key service end to end, with a real `sigil-cp` and real
//! `sigil-dp`s (`[kes]` listener) driven with `curl` over mutual TLS: crypto while the control
//! plane is away (and after a data plane restarts then), `sigil-dp --validate` refusing a
//! missing or readable KEK file, the audit log stream, rotation through the admin API, the
//! metrics/status/api endpoints, `client_ca`, and the KEK as an AES key in a SoftHSM2 token.
//! The API itself (keys, crypto, policies, identities): `kes.rs`.

use std::path::Path;
use std::time::Duration;

use sigil_tests::dp::{wait_for, DataPlane};
use sigil_tests::kes::{
    dp_section, expect, fleet, message, ok, random_key_b64, KesClient, KesIdentity,
};
use sigil_tests::tls::TlsFiles;
use sigil_tests::{free_port, ControlPlane};

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
