//! `sigil-cp` configuration handling (exit 64 before binding) and importing an existing CA
//! made with openssl.

use std::process::Command;

use serde_json::json;
use sigil_tests::api::Issued;
use sigil_tests::pki::{assert_ocsp, run};
use sigil_tests::{assert_api_error, bin_path, free_port, gen_csr, write_file, ControlPlane};

fn cp(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(bin_path("sigil-cp"));
    c.args(args)
        .env_remove("SIGIL_ADMIN_TOKEN")
        .env_remove("SIGIL_REPLICATION_TOKEN");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run sigil-cp")
}

#[test]
fn bad_configuration_exits_64_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config/sigil-cp.toml"
    );
    let out = cp(&["--config", example, "--validate"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let unknown = dir.path().join("unknown.toml");
    write_file(&unknown, "[ocsp]\nvalidity_hour = 24\n");
    let out = cp(&["--config", unknown.to_str().unwrap(), "--validate"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("validity_hour"),
        "names the bad key"
    );

    let br = dir.path().join("br.toml");
    write_file(&br, "[ocsp]\nvalidity_hours = 300\n");
    let out = cp(&["--config", br.to_str().unwrap(), "--validate"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BR 4.9.10"));

    // serve without tokens: exit 64 and the port was never bound.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let out = cp(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-listen",
            &addr,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGIL_ADMIN_TOKEN"));
    assert!(
        !data.exists(),
        "nothing was created before the configuration was accepted"
    );
    std::net::TcpListener::bind(&addr).expect("port still free");

    // A too-short token is refused as well.
    let out = cp(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--admin-listen",
            &addr,
            "--validate",
        ],
        &[
            ("SIGIL_ADMIN_TOKEN", "short"),
            ("SIGIL_REPLICATION_TOKEN", "long-enough-token"),
        ],
    );
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn imported_ca_issues_and_signs_ocsp() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let key = dir.join("import.key");
    let cert = dir.join("import.pem");
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-days",
            "365",
            "-subj",
            "/CN=Imported Test CA/O=Elsewhere",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let pk8 = dir.join("import.pk8");
    run(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            key.to_str().unwrap(),
            "-out",
            pk8.to_str().unwrap(),
        ],
    );
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let key_pem = std::fs::read_to_string(&pk8).unwrap();

    // A key that does not belong to the certificate is refused.
    let other = dir.join("other.key");
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            other.to_str().unwrap(),
        ],
    );
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"name": "mismatch", "certificate": cert_pem, "private_key": std::fs::read_to_string(&other).unwrap()})),
    );
    assert_api_error("import with a foreign key", status, &body, 400);

    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"name": "imported", "certificate": cert_pem, "private_key": key_pem})),
    );
    assert_eq!(status, 201, "import: {body}");
    assert_eq!(body["imported"], json!(true));
    assert_eq!(body["key_algorithm"], json!("ecdsa-p384"));
    let id = body["id"].as_str().unwrap().to_string();

    let csr = gen_csr(&dir, "leaf.imported.example", &["leaf.imported.example"]);
    let (status, body) = cp.api(
        "POST",
        "/api/v1/certificates",
        Some(&json!({"issuer_id": id, "csr": csr})),
    );
    assert_eq!(status, 201, "issue from imported CA: {body}");
    let issued = Issued::from_json(body);
    let files = issued.write(&dir, "imported-leaf");
    for hash in ["sha1", "sha256"] {
        assert_ocsp(&dir, &cp.ocsp(&issued.id, hash), &files, hash, &[": good"]);
    }
    // Importing the same CA twice under the same name conflicts.
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"name": "imported", "certificate": cert_pem, "private_key": key_pem})),
    );
    assert_api_error("duplicate import", status, &body, 409);
}
