//! The SSH CAs as OpenSSH sees them: certificates signed by software CAs and by CA keys in a
//! PKCS#11 token (SoftHSM2: Ed25519, ECDSA P-256/P-384, RSA-3072) read with `ssh-keygen -L`
//! (type, principals, signing CA), and the KRL checked with `ssh-keygen -Q` (revoked and
//! valid keys and certificates agree with Sigil). Token keys leave nothing in `keys` and are
//! found again after a restart.

#[path = "support/softhsm.rs"]
mod softhsm;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use sigil_controlplane::config::{CpConfig, SshKeyStore, SshPkcs11};
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::ssh::Caller;
use sigil_controlplane::services::Services;
use sigil_ssh::keyper::{NewHost, NewUser, UserUpdate, UserView};
use sigil_ssh::{CaAlgorithm, ParsedKey, SoftwareCa};
use sigil_storage::{MemStore, ReadView, Store};
use softhsm::{setup, MODULE, PIN_ENV};

const BASE: &str = "dc=sigil,dc=local";

fn fresh_key() -> String {
    SoftwareCa::generate(CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh()
}

fn pkcs11(key_label: &str, algorithm: CaAlgorithm) -> sigil_controlplane::config::SshCaConfig {
    sigil_controlplane::config::SshCaConfig {
        algorithm,
        key_store: SshKeyStore::Pkcs11(SshPkcs11 {
            module: MODULE.into(),
            token_label: "ssh".into(),
            pin_env: PIN_ENV.into(),
            key_label: key_label.into(),
        }),
    }
}

fn open(store: &MemStore, cfg: CpConfig) -> Services {
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    Services::open(
        shared,
        cfg,
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap()
    .0
}

/// `ssh-keygen -L` of a certificate line.
fn keygen_list(dir: &Path, name: &str, cert: &str) -> String {
    let file = dir.join(format!("{name}-cert.pub"));
    std::fs::write(&file, format!("{cert}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&file)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen -L {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `ssh-keygen -Q` of a key or certificate line against the KRL: true if revoked.
fn keygen_revoked(dir: &Path, krl: &[u8], name: &str, line: &str) -> bool {
    let k = dir.join("krl");
    std::fs::write(&k, krl).unwrap();
    let file = dir.join(format!("{name}.q.pub"));
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(&k)
        .arg(&file)
        .output()
        .expect("run ssh-keygen");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains(": REVOKED") || text.contains(": ok"),
        "ssh-keygen -Q: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.contains(": REVOKED")
}

fn new_user(name: &str, key: &str, certified: &str) -> NewUser {
    serde_json::from_value(json!({
        "cn": name, "userPassword": "long enough", "confirmPassword": "long enough",
        "givenName": name, "sn": "x", "principal": format!("{name},ops"),
        "memberOfs": [format!("cn=KeyperAdmins,ou=groups,{BASE}")],
        "sshPublicKeys": [{"name": "k", "key": key, "hostGroups": [format!("cn=KeyperAdmins,ou=groups,{BASE}")]}],
        "sshPublicCerts": [{"name": "c", "key": certified, "hostGroups": [format!("cn=KeyperAdmins,ou=groups,{BASE}")]}],
    }))
    .unwrap()
}

fn new_host(name: &str, key: &str) -> NewHost {
    serde_json::from_value(json!({"cn": name, "sshPublicCerts": [{"name": "h", "key": key}]}))
        .unwrap()
}

/// Signs a user and a host certificate and checks both with `ssh-keygen -L`; then revokes a
/// key and the user certificate and checks the KRL with `ssh-keygen -Q`.
fn exercise(services: &Services, dir: &Path, user: &str, host: &str) -> UserView {
    let ssh = &services.ssh;
    let (key, certified, host_key) = (fresh_key(), fresh_key(), fresh_key());
    let (u, _) = ssh.create_user(new_user(user, &key, &certified)).unwrap();
    let user_ca = ParsedKey::parse(ssh.user_ca()).unwrap();
    let host_ca = ParsedKey::parse(ssh.host_ca()).unwrap();
    let cert = u.ssh_public_certs[0].cert.clone().unwrap();
    let listed = keygen_list(dir, user, &cert);
    assert!(
        listed.contains("-cert-v01@openssh.com user certificate"),
        "{listed}"
    );
    assert!(
        listed.contains("Signing CA: ") && listed.contains(&user_ca.fingerprint),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("Key ID: \"sigil:{user}:")),
        "{listed}"
    );
    for p in [user, "ops"] {
        assert!(
            listed.contains(&format!("\n                {p}\n")),
            "{p}: {listed}"
        );
    }
    let (h, _) = ssh.create_host(new_host(host, &host_key)).unwrap();
    let host_cert = h.ssh_public_certs[0].cert.clone().unwrap();
    let listed = keygen_list(dir, host, &host_cert);
    assert!(listed.contains("host certificate"), "{listed}");
    assert!(listed.contains(&host_ca.fingerprint), "{listed}");
    assert!(
        listed.contains(&format!("\n                {host}\n")),
        "{listed}"
    );

    let krl = ssh.krl().unwrap().krl;
    for (name, line) in [("key", &key), ("cert", &cert), ("host", &host_cert)] {
        assert!(
            !keygen_revoked(dir, &krl, name, line),
            "{name} not yet revoked"
        );
    }
    let update = UserUpdate {
        ssh_public_keys: Some(vec![sigil_ssh::keyper::SshKeyView {
            keyid: u.ssh_public_keys[0].keyid.clone(),
            ..Default::default()
        }]),
        ssh_public_certs: Some(vec![sigil_ssh::keyper::SshCertView {
            keyid: u.ssh_public_certs[0].keyid.clone(),
            ..Default::default()
        }]),
        ..UserUpdate::default()
    };
    ssh.update_user(&Caller::Admin, user, update).unwrap();
    let krl = ssh.krl().unwrap().krl;
    assert!(keygen_revoked(dir, &krl, "key", &key));
    assert!(keygen_revoked(dir, &krl, "cert", &cert));
    assert!(!keygen_revoked(dir, &krl, "host", &host_cert));
    assert!(!keygen_revoked(dir, &krl, "other", &fresh_key()));
    u
}

#[test]
fn software_cas_sign_what_ssh_keygen_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = CpConfig::default();
    cfg.ssh.host_ca.algorithm = CaAlgorithm::Rsa3072;
    let store = MemStore::new(cf::ALL);
    let services = open(&store, cfg);
    assert!(services.ssh.host_ca().starts_with("ssh-rsa "));
    exercise(&services, dir.path(), "alice", "web1.example.org");
}

#[test]
fn token_cas_sign_what_ssh_keygen_reads_and_survive_a_restart() {
    setup(&["ssh"]);
    let dir = tempfile::tempdir().unwrap();
    for (user_alg, host_alg, tag) in [
        (CaAlgorithm::EcdsaP384, CaAlgorithm::Ed25519, "a"),
        (CaAlgorithm::Rsa3072, CaAlgorithm::EcdsaP256, "b"),
    ] {
        let mut cfg = CpConfig::default();
        cfg.hsm.allowed_modules = vec![MODULE.into()];
        cfg.ssh.user_ca = pkcs11(&format!("ssh-user-{tag}"), user_alg);
        cfg.ssh.host_ca = pkcs11(&format!("ssh-host-{tag}"), host_alg);
        let store = MemStore::new(cf::ALL);
        let services = open(&store, cfg.clone());
        let prefix = |a: CaAlgorithm| match a {
            CaAlgorithm::Ed25519 => "ssh-ed25519 ",
            CaAlgorithm::EcdsaP256 => "ecdsa-sha2-nistp256 ",
            CaAlgorithm::EcdsaP384 => "ecdsa-sha2-nistp384 ",
            CaAlgorithm::Rsa3072 => "ssh-rsa ",
        };
        assert!(
            services.ssh.user_ca().starts_with(prefix(user_alg)),
            "{}",
            services.ssh.user_ca()
        );
        assert!(
            services.ssh.host_ca().starts_with(prefix(host_alg)),
            "{}",
            services.ssh.host_ca()
        );
        for k in [&b"ssh/user-ca"[..], b"ssh/host-ca"] {
            assert!(
                store.get(cf::KEYS, k).unwrap().is_none(),
                "token keys stay in the token"
            );
        }
        exercise(
            &services,
            dir.path(),
            &format!("user{tag}"),
            &format!("host-{tag}"),
        );

        // A restart finds the keys in the token by label and keeps signing with them.
        let (user_ca, host_ca) = (
            services.ssh.user_ca().to_string(),
            services.ssh.host_ca().to_string(),
        );
        drop(services);
        let again = open(&store, cfg);
        assert_eq!(again.ssh.user_ca(), user_ca);
        assert_eq!(again.ssh.host_ca(), host_ca);
        exercise(
            &again,
            dir.path(),
            &format!("other{tag}"),
            &format!("other-{tag}"),
        );
    }
}

#[test]
fn a_token_ca_needs_an_allowed_module() {
    let mut cfg = CpConfig::default();
    cfg.ssh.user_ca = pkcs11("ssh-user-x", CaAlgorithm::Ed25519);
    let errs = cfg.validate().unwrap_err();
    assert!(
        errs.iter().any(|e| e.contains("hsm.allowed_modules")),
        "{errs:?}"
    );
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let e = Services::open(
        store,
        cfg,
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap_err();
    assert!(e.to_string().contains("allowed_modules"), "{e}");
}
