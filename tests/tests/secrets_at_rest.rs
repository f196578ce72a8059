//! No private key or secret lies on disk in the clear (docs/SECRETS.md). A real `sigil-cp`
//! (whose `init` made the key-encryption key file beside the data directory) and `sigil-dp`:
//! software CAs of every key type (a root, an intermediate, an imported CA), their OCSP
//! responders, the SSH user and host CAs, the Keyper token secret (a login), a KES key of known
//! material. Both stopped, every file of both data directories and every record of every
//! RocksDB database in them is searched for each private key (PEM marker, PKCS#8 DER and
//! base64, the private scalar or seed, the OpenSSH key's text, blob and scalar, raw secrets);
//! then, restarted, everything still works. A data directory in the old shape (secrets in the
//! clear) is sealed at start-up, also when `sigil-cp` is `kill -9`ed midway, and a missing or
//! wrong KEK stops `serve` with exit 64 before it binds.

#[path = "secrets_at_rest/disk.rs"]
mod disk;
#[path = "secrets_at_rest/flow.rs"]
mod flow;

use std::process::{Command, Stdio};
use std::time::Duration;

use disk::{needles_of, Needle};
use flow::*;
use serde_json::{json, Value};
use sigil_controlplane::db::secrets::SecretKind;
use sigil_tests::dp::{wait_for, DataPlane};
use sigil_tests::proxy::TcpProxy;
use sigil_tests::{bin_path, free_port, ControlPlane};

#[test]
fn no_private_key_or_secret_lies_in_either_data_directory() {
    if sigil_tests::storage::skip_on_postgres(
        "no_private_key_or_secret_lies_in_either_data_directory",
        "hsm.rs and admin_otp.rs search the PostgreSQL cluster's files for private keys and OTPs",
    ) {
        return;
    }
    let mut cp = ControlPlane::start_with_config(CONFIG);
    // `init` made the KEK: beside the data directory, not in it, owner-only.
    let kek_file = cp.kek_file();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kek_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(!kek_file.starts_with(cp.data_dir()));
    let proxy = TcpProxy::start(cp.port());
    let mut dp = DataPlane::start(&proxy.url());

    let rsa = create_ca(
        &cp,
        json!({"name": "rsa-root", "subject": "CN=RSA Root", "key_algorithm": "rsa-2048"}),
    );
    let p384 = create_ca(
        &cp,
        json!({"name": "p384-issuing", "subject": "CN=P-384 Issuing", "key_algorithm": "ecdsa-p384", "parent_id": rsa}),
    );
    let ed = create_ca(
        &cp,
        json!({"name": "ed-root", "subject": "CN=Ed25519 Root", "key_algorithm": "ed25519"}),
    );
    let (imported, imported_der) = import_ca(&cp);
    let issuers = [
        "demo-root".to_string(),
        "demo".into(),
        rsa,
        p384,
        ed,
        imported,
    ];
    for (i, issuer) in issuers.iter().enumerate() {
        // Each issuance makes the CA's delegated responder key.
        issue_good_on_dp(&cp, &dp, issuer, &format!("before-{i}.example.com"));
    }
    let kes_material: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, kes_material);
    call(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        Some(json!({"name": "known", "algorithm": "AES256", "key": b64})),
    );
    let token = ssh_setup(&cp);
    assert_eq!(with_token(&cp, &token, "/api/users"), 200);
    let user_ca = String::from_utf8(dp_body(&dp, "/api/userca")).unwrap();
    let laptop_cert = wait_for(
        Duration::from_secs(10),
        "the user certificate on the data plane",
        || {
            let r = dp.get("/api/usercert?username=alice");
            (r.status == 200 && !r.body.is_empty()).then_some(r.body)
        },
    );
    let head = sigil_tests::dp::cp_head(&cp);
    let ca_cert = call(&cp, "GET", "/api/v1/issuers/demo", None)["certificate"]
        .as_str()
        .expect("the CA certificate")
        .to_string();
    wait_for(
        Duration::from_secs(10),
        "the data plane at the head",
        || (dp.metric("sigil_dp_replication_applied_sequence") >= head as f64).then_some(()),
    );
    cp.stop();
    dp.kill9();

    // What to look for: every stored secret, opened with the KEK.
    let kek = disk::kek_from_file(&kek_file);
    let secrets = disk::stored_secrets(cp.data_dir(), &kek);
    let count = |k: SecretKind| secrets.iter().filter(|(n, _)| n.kind == k).count();
    assert_eq!(count(SecretKind::CaKey), 6, "{secrets:?}");
    assert_eq!(count(SecretKind::ResponderKey), 6);
    assert_eq!(count(SecretKind::SshCaKey), 2);
    assert_eq!(count(SecretKind::SshTokenSecret), 1);
    let stored_import = &secrets
        .iter()
        .find(|(n, _)| n.kind == SecretKind::CaKey && n.id == issuers[5])
        .unwrap()
        .1;
    assert_eq!(
        stored_import, &imported_der,
        "the imported key as openssl wrote it"
    );
    let mut needles: Vec<Needle> = secrets.iter().flat_map(|(n, p)| needles_of(n, p)).collect();
    needles.push(Needle {
        what: "PEM private key marker".into(),
        bytes: b"PRIVATE KEY".to_vec(),
    });
    needles.extend(disk::pkcs8_markers());
    needles.push(Needle {
        what: "KES key material".into(),
        bytes: kes_material.to_vec(),
    });
    needles.extend(disk::pkcs8_needles(
        "imported CA key (openssl)",
        &imported_der,
    ));
    println!("{} secrets, {} needles", secrets.len(), needles.len());

    // The searches find what is there: the CA certificate, in both databases.
    let known = [Needle {
        what: "demo CA certificate".into(),
        bytes: pem_der(&ca_cert),
    }];
    assert!(!disk::search_databases(cp.data_dir(), &known).0.is_empty());
    assert!(!disk::search_databases(&dp.data_dir(), &known).0.is_empty());
    assert_clean("control plane", cp.data_dir(), &needles);
    assert_clean("data plane", &dp.data_dir(), &needles);

    // Without its KEK, or with another, `serve` stops before binding (exit 64).
    let port = free_port();
    let aside = kek_file.with_extension("aside");
    std::fs::rename(&kek_file, &aside).unwrap();
    assert_refused(
        cp_command(cp.data_dir(), port),
        port,
        &["no key-encryption key", "data.kek"],
    );
    let mut other = cp_command(cp.data_dir(), port);
    other.env("SIGIL_KEK", sigil_tests::kes::random_key_b64());
    assert_refused(
        other,
        port,
        &[
            "configuration error",
            kek.id(),
            "sealed under key-encryption key",
        ],
    );
    std::fs::rename(&aside, &kek_file).unwrap();
    // `init` again keeps the KEK file as it is.
    let before = std::fs::read(&kek_file).unwrap();
    let out = Command::new(bin_path("sigil-cp"))
        .args(["init", "--data-dir"])
        .arg(cp.data_dir())
        .env_remove("SIGIL_KEK")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["kek"]["created"], false, "{init}");
    assert_eq!(init["kek"]["id"], kek.id(), "{init}");
    assert_eq!(std::fs::read(&kek_file).unwrap(), before);

    // Restarted, everything works: issuance and OCSP from every CA, the SSH CAs, logins and
    // tokens issued before.
    cp.resume();
    proxy.set_target(cp.port());
    dp.restart();
    for (i, issuer) in issuers.iter().enumerate() {
        issue_good_on_dp(&cp, &dp, issuer, &format!("after-{i}.example.com"));
    }
    assert_eq!(
        with_token(&cp, &token, "/api/users"),
        200,
        "a token from before the restart"
    );
    let fresh = login(&cp);
    assert_eq!(with_token(&cp, &fresh, "/api/users/alice"), 200);
    let dir = cp.work_dir();
    let cert =
        json!({"name": "desktop", "key": ssh_key(&dir, "alice-desktop"), "hostGroups": [WEB]});
    let (status, v) = cp.api(
        "PUT",
        "/api/users/alice",
        Some(&json!({"sshPublicCerts": [cert]})),
    );
    assert!((200..300).contains(&status), "{status} {v}");
    let ca_fp = fingerprint(&dir, "user_ca.pub", &user_ca, false);
    assert_eq!(
        ca_fp,
        fingerprint(
            &dir,
            "userca-now.pub",
            &String::from_utf8(dp_body(&dp, "/api/userca")).unwrap(),
            false
        )
    );
    let signed = wait_for(Duration::from_secs(10), "the new user certificate", || {
        let r = dp.get("/api/usercert?username=alice");
        let text = String::from_utf8(r.body).ok()?;
        (r.status == 200 && text.as_bytes() != laptop_cert && !text.is_empty())
            .then(|| text.lines().next().unwrap_or_default().to_string())
    });
    assert_eq!(fingerprint(&dir, "desktop-cert.pub", &signed, true), ca_fp);
}

#[test]
fn an_old_data_directory_is_sealed_at_start_up_even_when_killed_midway() {
    if sigil_tests::storage::skip_on_postgres(
        "an_old_data_directory_is_sealed_at_start_up_even_when_killed_midway",
        "nothing to migrate: a PostgreSQL database is created sealed by this version",
    ) {
        return;
    }
    let mut cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    cp.issue_new(&issuer, "old.example.com");
    let token = ssh_setup(&cp);
    cp.stop();

    // The old shape: the same entries, in the clear (written through the storage API).
    let kek = disk::kek_from_file(&cp.kek_file());
    let before = disk::stored_secrets(cp.data_dir(), &kek);
    let n = disk::unseal_all(cp.data_dir(), &kek);
    assert_eq!(n, 2 + 1 + 2 + 1, "{before:?}");
    let mut needles: Vec<Needle> = before.iter().flat_map(|(n, p)| needles_of(n, p)).collect();
    needles.push(Needle {
        what: "PEM private key marker".into(),
        bytes: b"PRIVATE KEY".to_vec(),
    });
    needles.extend(disk::pkcs8_markers());
    let (found, _, _) = disk::search_files(cp.data_dir(), &needles);
    assert!(
        !found.is_empty(),
        "the old shape has keys in the clear on disk"
    );

    // Started and killed at moments spread over the start-up (the migration runs before the
    // listener binds): whatever a kill leaves, every secret is there, sealed or clear, and
    // opens to what it was.
    let mut sealed_states = Vec::new();
    let kills_log = cp.path().join("kills.log");
    for delay_ms in [0u64, 10, 25, 40, 60, 80, 110, 150, 220, 350, 600] {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&kills_log)
            .unwrap();
        let mut child = cp_command(cp.data_dir(), port)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let states = disk::stored_states(cp.data_dir(), &kek);
        assert_eq!(states.len(), n, "after a kill at {delay_ms} ms");
        for ((name, _, plain), (want_name, want)) in states.iter().zip(&before) {
            assert_eq!(
                (name, plain),
                (want_name, want),
                "after a kill at {delay_ms} ms"
            );
        }
        let sealed = states.iter().filter(|(_, s, _)| *s).count();
        assert!(
            sealed == 0 || sealed == n,
            "one batch: all or nothing, got {sealed} of {n}"
        );
        sealed_states.push((delay_ms, sealed));
    }
    println!("kills (ms after spawn, secrets sealed): {sealed_states:?}");

    cp.resume();
    let (_, audit) = cp.api("GET", "/api/v1/audit?action=secrets.migrate", None);
    let records = audit["data"].as_array().unwrap();
    assert_eq!(records.len(), 1, "one migration, audited once: {audit}");
    assert_eq!(records[0]["details"]["count"], n, "{audit}");
    assert_eq!(records[0]["actor"], "system", "{audit}");
    assert!(!audit.to_string().contains("PRIVATE KEY"));
    let (_, verify) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(verify["valid"], true, "{verify}");
    // Logged (by the start that sealed them: the last, or one killed after its commit).
    let logs = format!(
        "{}{}",
        std::fs::read_to_string(&kills_log).unwrap(),
        cp.logs()
    );
    assert_eq!(
        logs.matches("sealed secrets found in the clear").count(),
        1,
        "{logs}"
    );
    cp.issue_new(&issuer, "migrated.example.com");
    assert_eq!(
        with_token(&cp, &token, "/api/users"),
        200,
        "a token from before"
    );
    login(&cp);
    cp.stop();

    let states = disk::stored_states(cp.data_dir(), &kek);
    assert!(states.iter().all(|(_, sealed, _)| *sealed));
    // The clear versions left the files (the keys column family was compacted).
    assert_clean("migrated control plane", cp.data_dir(), &needles);
}
