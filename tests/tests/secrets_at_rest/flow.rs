//! The flows of the secrets-at-rest test: CAs of every kind (one imported from openssl), a
//! Keyper user and host with certificates and a login, issuance checked on the data plane,
//! the searches of a data directory, `serve` commands that must be refused.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::{bin_path, run, write_file, ControlPlane, ADMIN_TOKEN, REPLICATION_TOKEN};

use super::disk::{self, Needle};

pub const PASSWORD: &str = "correct horse battery";
/// The host CA in ECDSA, the user CA in Ed25519 (the default): both SSH key types searched for.
pub const CONFIG: &str = "[ssh.host_ca]\nalgorithm = \"ecdsa-p256\"\n";

pub fn call(cp: &ControlPlane, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = cp.api(method, path, body.as_ref());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

pub fn create_ca(cp: &ControlPlane, body: Value) -> String {
    sigil_tests::id_of(&call(cp, "POST", "/api/v1/issuers", Some(body)))
}

/// An Ed25519 CA made by openssl and imported: its PKCS#8 DER, as the test knows it.
pub fn import_ca(cp: &ControlPlane) -> (String, Vec<u8>) {
    let dir = cp.work_dir();
    let key = dir.join("imported.key");
    let cert = dir.join("imported.pem");
    let der = dir.join("imported.der");
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            key.to_str().unwrap(),
        ],
    );
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=Imported CA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    run(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ],
    );
    let id = create_ca(
        cp,
        json!({"name": "imported", "certificate": std::fs::read_to_string(&cert).unwrap(),
               "private_key": std::fs::read_to_string(&key).unwrap()}),
    );
    (id, std::fs::read(&der).unwrap())
}

pub fn ssh_key(dir: &Path, name: &str) -> String {
    let key = dir.join(name);
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            name,
            "-f",
            key.to_str().unwrap(),
        ],
    );
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

pub const WEB: &str = "cn=web,ou=groups,dc=sigil,dc=local";

/// A Keyper admin with a user certificate, a host with a host certificate; returns an access
/// token of the user (signed with the token secret).
pub fn ssh_setup(cp: &ControlPlane) -> String {
    let dir = cp.work_dir();
    call(
        cp,
        "POST",
        "/api/groups",
        Some(json!({"cn": "web", "description": "web"})),
    );
    let cert = json!({"name": "laptop", "key": ssh_key(&dir, "alice-laptop"), "hostGroups": [WEB]});
    call(
        cp,
        "POST",
        "/api/users",
        Some(json!({
            "cn": "alice", "userPassword": PASSWORD, "confirmPassword": PASSWORD,
            "givenName": "Alice", "sn": "E2E", "principal": "alice", "duration": 1,
            "durationUnit": "Days", "sshPublicKeys": [], "sshPublicCerts": [cert],
            "memberOfs": ["cn=KeyperAdmins,ou=groups,dc=sigil,dc=local", WEB],
        })),
    );
    call(
        cp,
        "POST",
        "/api/hosts",
        Some(json!({"cn": "host1", "description": "e2e"})),
    );
    let host = json!({"name": "host", "key": ssh_key(&dir, "host1"), "hostGroups": [WEB]});
    call(
        cp,
        "PUT",
        "/api/hosts/host1",
        Some(json!({"sshPublicCerts": [host]})),
    );
    login(cp)
}

pub fn login(cp: &ControlPlane) -> String {
    let r = cp.request(
        "POST",
        "/api/login",
        None,
        Some("application/json"),
        Some(
            json!({"username": "alice", "password": PASSWORD})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "login: {}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

pub fn with_token(cp: &ControlPlane, token: &str, path: &str) -> u16 {
    cp.request("GET", path, Some(token), None, None).status
}

/// The SHA-256 fingerprint `ssh-keygen -l` gives a key or certificate's signing CA.
pub fn fingerprint(dir: &Path, name: &str, text: &str, list: bool) -> String {
    let path = dir.join(name);
    write_file(&path, text);
    let flag = if list { "-L" } else { "-l" };
    let out = run("ssh-keygen", &[flag, "-f", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let line = if list {
        out.lines()
            .find(|l| l.contains("Signing CA"))
            .unwrap_or_default()
            .to_string()
    } else {
        out.clone()
    };
    line.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .to_string()
}

/// Issues `cn` from `issuer` and waits until the data plane's OCSP answer is good.
pub fn issue_good_on_dp(cp: &ControlPlane, dp: &DataPlane, issuer: &str, cn: &str) {
    let cert = cp.issue_new(issuer, cn);
    let files = cert.write(&dp.work_dir(), cn);
    let url = dp.url("/");
    wait_for(
        Duration::from_secs(15),
        "a good OCSP answer on the data plane",
        || {
            let out = openssl_ocsp_url(&url, &files);
            (out.contains(": good") && out.contains("Response verify OK")).then_some(())
        },
    );
}

/// Searches `dir` both ways; panics naming every find.
pub fn assert_clean(what: &str, dir: &Path, needles: &[Needle]) {
    let (found, files, bytes) = disk::search_files(dir, needles);
    assert!(
        found.is_empty(),
        "{what}: in the clear in files:\n{}",
        found.join("\n")
    );
    let (found, dbs, records) = disk::search_databases(dir, needles);
    assert!(
        found.is_empty(),
        "{what}: in the clear in the database:\n{}",
        found.join("\n")
    );
    assert!(dbs >= 1 && records > 0, "{what}: no database searched");
    println!(
        "{what}: {} needles absent from {files} files ({bytes} bytes) and {records} records of {dbs} RocksDB database(s)",
        needles.len()
    );
}

pub fn cp_command(data_dir: &Path, port: u16) -> Command {
    let mut c = Command::new(bin_path("sigil-cp"));
    c.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--admin-listen", &format!("127.0.0.1:{port}")])
        .env("SIGIL_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SIGIL_REPLICATION_TOKEN", REPLICATION_TOKEN)
        .env_remove("SIGIL_KEK")
        .env_remove("SIGIL_KES_KEK")
        .stdin(Stdio::null());
    c
}

/// `serve` that must fail with a configuration error (exit 64) without binding its port.
pub fn assert_refused(mut c: Command, port: u16, expect: &[&str]) {
    let out = c.output().expect("run sigil-cp serve");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(64), "{err}");
    for e in expect {
        assert!(err.contains(e), "{e:?} not in: {err}");
    }
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port was never bound");
}

pub fn dp_body(dp: &DataPlane, path: &str) -> Vec<u8> {
    let r = dp.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.body
}

pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body.trim()).expect("PEM")
}
