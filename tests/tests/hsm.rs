//! HSM-backed CAs end to end: a real `sigil-cp` with CA keys in SoftHSM2 tokens (a token
//! directory per test via `SOFTHSM2_CONF`). Issuance, revocation, OCSP and CRLs are judged by
//! openssl; the token is inspected with pkcs11-tool; the data directory must hold no private
//! key; health and metrics report replicas. Build the binaries first:
//! `cargo build --workspace --bins`.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::hsm::{SoftHsm, CONFIG, MODULE, PIN, PIN_ENV};
use sigil_tests::pki::{assert_ocsp, combined, crl_serials, crl_text, normalize_hex};
use sigil_tests::{assert_api_error, ControlPlane};

const HASHES: [&str; 2] = ["sha1", "sha256"];

fn start(hsm: &SoftHsm, init_demo: bool) -> ControlPlane {
    let env = hsm.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ControlPlane::start_with(Some(CONFIG), &env, init_demo)
}

fn create_hsm_ca(cp: &ControlPlane, id: &str, alg: &str, key_store: Value) -> Value {
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({
            "id": id,
            "name": id,
            "subject": format!("CN={id},O=Sigil HSM Test"),
            "key_algorithm": alg,
            "key_store": key_store,
        })),
    );
    assert_eq!(status, 201, "creating {id}: {body}\n{}", cp.logs());
    assert_eq!(body["key_store"]["type"], "pkcs11", "{body}");
    assert_eq!(body["key_algorithm"], alg);
    body
}

fn wait_on_crl(cp: &ControlPlane, issuer: &str, serial: &str, issuing: &Path) -> String {
    let want = normalize_hex(serial);
    let start = Instant::now();
    loop {
        let der = cp.crl(issuer);
        let (stdout, stderr) = crl_text(&cp.work_dir(), &der, issuing);
        if crl_serials(&stdout).contains(&want) {
            assert!(
                stderr.contains("verify OK"),
                "CRL of {issuer} does not verify:\n{stderr}\n{stdout}"
            );
            return stdout;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{serial} not on the CRL of {issuer} after 20 s:\n{stdout}"
        );
        sleep(Duration::from_millis(300));
    }
}

#[test]
fn hsm_cas_issue_revoke_and_sign_ocsp_and_crls_checked_by_openssl() {
    let hsm = SoftHsm::new(&["sigil-ca"]);
    let cp = start(&hsm, false);
    let dir = cp.work_dir();
    for alg in [
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "rsa-pss-2048",
        "ed25519",
    ] {
        let id = format!("hsm-{alg}");
        create_hsm_ca(
            &cp,
            &id,
            alg,
            hsm.key_store("sigil-ca", &format!("{id}-key")),
        );
        let leaf = cp.issue_new(&id, &format!("{alg}.example.com"));
        let files = leaf.write(&dir, &id);
        for hash in HASHES {
            assert_ocsp(&dir, &cp.ocsp(&leaf.id, hash), &files, hash, &[": good"]);
        }
        let (status, body) = cp.revoke(&leaf.id, "keyCompromise");
        assert_eq!(status, 200, "revoke: {body}");
        for hash in HASHES {
            let out = assert_ocsp(
                &dir,
                &cp.ocsp(&leaf.id, hash),
                &files,
                hash,
                &[": revoked", "Reason: keyCompromise"],
            );
            println!("{alg} OCSP ({hash}) after revocation:\n{out}");
        }
        wait_on_crl(&cp, &id, &leaf.serial, &files.issuing);

        let (status, view) = cp.api("GET", &format!("/api/v1/issuers/{id}"), None);
        assert_eq!(status, 200);
        let h = &view["health"];
        assert_eq!(h["status"], "healthy", "{view}");
        assert_eq!(h["key_store"], "pkcs11");
        assert!(h["signatures_total"].as_u64().unwrap() >= 6, "{h}");
        assert!(h["last_sign_at"].is_string(), "{h}");
        assert_eq!(h["replicas"][0]["token_label"], "sigil-ca");
        assert_eq!(h["replicas"][0]["available"], true);
        assert_eq!(view["key_store"]["tokens"][0]["pin_env"], PIN_ENV);
    }
    let metrics = cp.request("GET", "/metrics", None, None, None).text();
    for alg in ["ecdsa-p256", "ed25519"] {
        let health = format!("sigil_cp_ca_health{{ca=\"hsm-{alg}\"}} 2");
        assert!(metrics.contains(&health), "no {health} in\n{metrics}");
        let sigs = format!("sigil_cp_ca_signatures_total{{ca=\"hsm-{alg}\"}} ");
        let n: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&sigs))
            .unwrap_or_else(|| panic!("no {sigs} in\n{metrics}"))
            .parse()
            .unwrap();
        assert!(n >= 6, "{sigs}{n}");
    }
    let logs = cp.logs();
    assert!(!logs.contains(PIN), "the PIN appears in the logs");
}

/// Byte patterns of private keys as Sigil or OpenSSL would store them: PEM labels and the
/// start of DER PKCS#8 `PrivateKeyInfo` (version 0/1, then the key algorithm) and RFC 5915
/// `ECPrivateKey` (version 1, then a 32- or 48-byte OCTET STRING).
const KEY_MARKERS: &[(&str, &[u8])] = &[
    ("PEM private key", b"PRIVATE KEY-----"),
    (
        "PKCS#8 EC",
        &[
            0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        ],
    ),
    (
        "PKCS#8 RSA",
        &[
            0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
            0x01, 0x01,
        ],
    ),
    (
        "PKCS#8 Ed25519",
        &[
            0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ],
    ),
    ("ECPrivateKey P-256", &[0x02, 0x01, 0x01, 0x04, 0x20]),
    ("ECPrivateKey P-384", &[0x02, 0x01, 0x01, 0x04, 0x30]),
];

/// Private-key markers found in any file under `cp`'s state directories (its data directory;
/// on PostgreSQL also the cluster's): (file, marker name).
fn private_key_markers(cp: &ControlPlane) -> Vec<(String, &'static str)> {
    markers_in(cp.state_dirs())
}

/// Private-key markers found in any file under `dirs`.
fn markers_in(dirs: Vec<std::path::PathBuf>) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let mut stack = dirs;
    while let Some(d) = stack.pop() {
        // On PostgreSQL the data directory may hold nothing at all.
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap_or_default();
            for (name, m) in KEY_MARKERS {
                if bytes.windows(m.len()).any(|w| w == *m) {
                    found.push((p.display().to_string(), *name));
                }
            }
        }
    }
    found
}

#[test]
fn keys_stay_in_the_token_and_out_of_the_data_dir() {
    let hsm = SoftHsm::new(&["sigil-keys"]);
    // The SSH CAs in the same token: no private key of any kind in the data directory.
    let ssh_cas: String = ["user", "host"]
        .iter()
        .map(|kind| {
            format!(
                "[ssh.{kind}_ca]\nkey_store = {{ type = \"pkcs11\", module = \"{}\", token_label = \"sigil-keys\", pin_env = \"{}\", key_label = \"ssh-{kind}-ca\" }}\n",
                sigil_tests::hsm::MODULE,
                sigil_tests::hsm::PIN_ENV
            )
        })
        .collect();
    let env = hsm.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cp = ControlPlane::start_with(Some(&format!("{CONFIG}{ssh_cas}")), &env, false);
    create_hsm_ca(
        &cp,
        "hsm-keys",
        "ecdsa-p256",
        hsm.key_store("sigil-keys", "ca-key"),
    );
    let leaf = cp.issue_new("hsm-keys", "keys.example.com"); // creates the responder key too
    let (status, _) = cp.revoke(&leaf.id, "superseded");
    assert_eq!(status, 200);

    // The token: the CA key, the delegated responder's and the SSH CAs', all sensitive and never
    // extractable.
    let out = hsm.pkcs11_tool("sigil-keys", &["--list-objects", "--type", "privkey"]);
    let text = combined(&out);
    assert!(out.status.success(), "{text}");
    let blocks: Vec<&str> = text.split("Private Key Object").skip(1).collect();
    assert_eq!(
        blocks.len(),
        4,
        "CA, responder and SSH CA keys expected:\n{text}"
    );
    for label in ["ca-key", "ca-key.ocsp", "ssh-user-ca", "ssh-host-ca"] {
        let b = blocks
            .iter()
            .find(|b| b.contains(&format!("label:      {label}\n")))
            .unwrap_or_else(|| panic!("no private key labelled {label}:\n{text}"));
        for want in [
            "sensitive",
            "always sensitive",
            "never extractable",
            "local",
        ] {
            assert!(b.contains(want), "{label}: {want:?} missing:\n{b}");
        }
    }
    // The data directory holds no private key (while running: WAL and memtables; after a
    // graceful stop: flushed tables).
    assert_eq!(private_key_markers(&cp), vec![]);
    cp.restart();
    assert_eq!(private_key_markers(&cp), vec![]);
    // ... and the CA signs after the restart, from the token.
    let again = cp.issue_new("hsm-keys", "after-restart.example.com");
    let files = again.write(&cp.work_dir(), "after");
    assert_ocsp(
        &cp.work_dir(),
        &cp.ocsp(&again.id, "sha256"),
        &files,
        "sha256",
        &[": good"],
    );

    // Control: the same scan finds a PKCS#8 key written in the clear (software CA keys are
    // sealed under the key-encryption key, so a software control plane's data directory holds
    // none either: docs/SECRETS.md).
    let soft = ControlPlane::start();
    assert_eq!(private_key_markers(&soft), vec![]);
    let clear = soft.work_dir().join("clear.der");
    sigil_tests::run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-outform",
            "DER",
            "-out",
            clear.to_str().unwrap(),
        ],
    );
    let found = markers_in(vec![soft.work_dir()]);
    assert!(
        found.iter().any(|(_, m)| m.starts_with("PKCS#8")),
        "the scan does not detect a PKCS#8 key: {found:?}"
    );
}

#[test]
fn a_down_replica_degrades_health_and_signing_goes_on() {
    let hsm = SoftHsm::new(&["sigil-live"]);
    let mut cp = start(&hsm, false);
    let mut ks = hsm.key_store("sigil-absent", "ha-key");
    ks["replicas"] = json!([{ "token_label": "sigil-live" }]);
    let body = create_hsm_ca(&cp, "hsm-ha", "ecdsa-p256", ks);
    assert_eq!(body["key_store"]["tokens"].as_array().unwrap().len(), 2);
    let leaf = cp.issue_new("hsm-ha", "ha.example.com");
    let files = leaf.write(&cp.work_dir(), "ha");
    assert_ocsp(
        &cp.work_dir(),
        &cp.ocsp(&leaf.id, "sha1"),
        &files,
        "sha1",
        &[": good"],
    );

    let check = |cp: &ControlPlane| {
        let (_, view) = cp.api("GET", "/api/v1/issuers/hsm-ha", None);
        let h = &view["health"];
        assert_eq!(h["status"], "degraded", "{view}");
        let err = h["error"].as_str().unwrap_or_default();
        assert!(err.contains("replica 1 of 2 down"), "{err}");
        assert!(err.contains("no token with this label"), "{err}");
        assert!(err.contains("1 of 2 replicas available"), "{err}");
        assert_eq!(h["replicas"][0]["available"], false);
        assert_eq!(h["replicas"][1]["available"], true);
        let health = cp.request("GET", "/health", None, None, None).json();
        assert_eq!(health["issuer_health"]["degraded"], 1, "{health}");
        assert!(health["issuer_health"]["problems"]["hsm-ha"]["error"].is_string());
        let metrics = cp.request("GET", "/metrics", None, None, None).text();
        assert!(
            metrics.contains("sigil_cp_ca_health{ca=\"hsm-ha\"} 1"),
            "{metrics}"
        );
    };
    check(&cp);
    // After a restart the replicas are probed before any signature.
    cp.restart();
    check(&cp);
    cp.issue_new("hsm-ha", "ha2.example.com");
}

#[test]
fn bad_key_store_requests_are_refused_without_secrets() {
    let hsm = SoftHsm::new(&["sigil-bad"]);
    let cp = start(&hsm, false);
    let create = |ks: Value| {
        cp.api(
            "POST",
            "/api/v1/issuers",
            Some(&json!({"name": "bad", "subject": "CN=bad", "key_store": ks})),
        )
    };
    let mut ks = hsm.key_store("sigil-bad", "k");
    ks["pin_env"] = json!("SIGIL_UNSET_PIN_VARIABLE");
    let (s, b) = create(ks);
    assert_api_error("unset pin_env", s, &b, 400);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("SIGIL_UNSET_PIN_VARIABLE"),
        "{b}"
    );

    let mut ks = hsm.key_store("sigil-bad", "k");
    ks["module"] = json!("/usr/lib/x86_64-linux-gnu/libc.so.6");
    let (s, b) = create(ks);
    assert_api_error("module not allowed", s, &b, 400);
    assert!(
        b["message"].as_str().unwrap().contains("allowed_modules"),
        "{b}"
    );

    let mut ks = hsm.key_store("sigil-bad", "k");
    ks["pin"] = json!(PIN);
    let (s, b) = create(ks);
    assert_api_error("a PIN in the request", s, &b, 400);
    assert!(!b.to_string().contains(PIN), "{b}");

    let (s, b) = create(hsm.key_store("no-such-token", "k"));
    assert_api_error("unknown token", s, &b, 400);
    assert!(
        b["message"].as_str().unwrap().contains("no-such-token"),
        "{b}"
    );

    assert!(Path::new(MODULE).exists());
    assert!(!cp.logs().contains(PIN), "the PIN appears in the logs");
}
