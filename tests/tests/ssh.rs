//! The SSH key service end to end with real OpenSSH: a `sigil-cp` (Keyper's API), a `sigil-dp`
//! (lookups), `sigil-authkeys` as sshd's AuthorizedKeysCommand and
//! AuthorizedPrincipalsCommand, a real `sshd` on a loopback port and `ssh` logging in.
//! Needs root (sshd, system users); skipped with a note otherwise.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::dp::DataPlane;
use sigil_tests::sshd::{self, keygen, Sshd, SshdOptions};
use sigil_tests::{write_file, ControlPlane};

const HOST: &str = "e2ehost";
/// System users the tests log in as.
const USERS: [&str; 3] = ["sigile2e1", "sigile2e2", "sigile2e3"];

fn dn_group(g: &str) -> String {
    format!("cn={g},ou=groups,dc=sigil,dc=local")
}

fn call(cp: &ControlPlane, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = cp.api(method, path, body.as_ref());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

fn new_user(cn: &str, keys: Vec<Value>, certs: Vec<Value>) -> Value {
    json!({
        "cn": cn, "userPassword": "correct horse battery", "confirmPassword": "correct horse battery",
        "givenName": cn, "sn": "E2E", "memberOfs": [dn_group("web")],
        "principal": cn, "duration": 1, "durationUnit": "Days",
        "sshPublicKeys": keys, "sshPublicCerts": certs,
    })
}

fn key_entry(name: &str, public: &str, groups: &[&str], expire: Option<&str>) -> Value {
    let mut v = json!({"name": name, "key": public, "hostGroups": groups.iter().map(|g| dn_group(g)).collect::<Vec<_>>()});
    if let Some(e) = expire {
        v["dateExpire"] = json!(e);
    }
    v
}

/// The `keyid` of `user`'s key (or certificate, `field` = sshPublicCerts) named `name`.
fn keyid(cp: &ControlPlane, user: &str, field: &str, name: &str) -> String {
    let v = call(cp, "GET", &format!("/api/users/{user}"), None);
    v[0][field]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {v}"))["keyid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn dp_get(dp: &DataPlane, path: &str) -> Vec<u8> {
    let r = dp.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.body
}

/// Waits until `f` holds, at most `limit`; returns how long it took.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ssh_logins_through_sigil_with_real_openssh() {
    if !sshd::available() {
        eprintln!("skipped: needs root and /usr/sbin/sshd");
        return;
    }
    for u in USERS {
        sshd::ensure_user(u);
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cp = ControlPlane::start();
    let dp = DataPlane::start(&cp.base_url());

    // A host, a group "web" holding it, and a group "db" that does not.
    call(
        &cp,
        "POST",
        "/api/hosts",
        Some(json!({"cn": HOST, "description": "e2e"})),
    );
    call(
        &cp,
        "POST",
        "/api/groups",
        Some(
            json!({"cn": "web", "description": "web servers", "members": [format!("cn={HOST},ou=Hosts,dc=sigil,dc=local")]}),
        ),
    );
    call(
        &cp,
        "POST",
        "/api/groups",
        Some(json!({"cn": "db", "description": "db servers"})),
    );

    let (k1, k1_pub) = keygen(w, "k1");
    let (k_exp, k_exp_pub) = keygen(w, "kexpired");
    let (k_db, k_db_pub) = keygen(w, "kdb");
    let (k_cert, k_cert_pub) = keygen(w, "kcert");
    call(
        &cp,
        "POST",
        "/api/users",
        Some(new_user(
            USERS[0],
            vec![
                key_entry("k1", &k1_pub, &["web"], None),
                key_entry("expired", &k_exp_pub, &["web"], Some("20200101")),
                key_entry("db-only", &k_db_pub, &["db"], None),
            ],
            vec![key_entry("laptop", &k_cert_pub, &["web"], None)],
        )),
    );
    let (k2, k2_pub) = keygen(w, "k2");
    call(
        &cp,
        "POST",
        "/api/users",
        Some(new_user(
            USERS[1],
            vec![key_entry("k2", &k2_pub, &["web"], None)],
            vec![],
        )),
    );
    let (k3a, k3a_pub) = keygen(w, "k3a");
    let (k3b, k3b_pub) = keygen(w, "k3b");
    call(
        &cp,
        "POST",
        "/api/users",
        Some(new_user(
            USERS[2],
            vec![
                key_entry("a", &k3a_pub, &["web"], None),
                key_entry("b", &k3b_pub, &["web"], None),
            ],
            vec![],
        )),
    );

    // The host's certificate, signed when its key is given to Sigil.
    let (host_dir, host_key) = Sshd::prepare();
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    call(
        &cp,
        "PUT",
        &format!("/api/hosts/{HOST}"),
        Some(
            json!({"sshPublicCerts": [{"name": "host", "key": host_pub.trim(), "hostGroups": [dn_group("web")]}]}),
        ),
    );

    // What the data plane serves, once replicated.
    let cert_path = w.join("kcert-cert.pub");
    let user_cert = {
        let mut body = Vec::new();
        within(
            Duration::from_secs(5),
            "user certificate on the data plane",
            || {
                let r = dp.get(&format!("/api/usercert?username={}", USERS[0]));
                body = r.body;
                r.status == 200 && !body.is_empty()
            },
        );
        String::from_utf8(body).unwrap()
    };
    write_file(&cert_path, &user_cert);
    let listed = sigil_tests::run("ssh-keygen", &["-L", "-f", cert_path.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed.contains("user certificate") && listed.contains(USERS[0]),
        "{listed}"
    );
    let host_cert =
        String::from_utf8(dp_get(&dp, &format!("/api/hostcert?hostname={HOST}"))).unwrap();
    let host_cert_path = host_key.with_file_name("ssh_host_ed25519_key-cert.pub");
    write_file(&host_cert_path, &host_cert);
    let user_ca = w.join("user_ca.pub");
    write_file(&user_ca, dp_get(&dp, "/api/userca"));
    let krl = w.join("sigil.krl");
    write_file(&krl, dp_get(&dp, "/api/krlca"));
    let known_hosts = w.join("known_hosts");
    let host_ca = String::from_utf8(dp_get(&dp, "/api/hostca")).unwrap();
    write_file(
        &known_hosts,
        format!("@cert-authority {HOST} {}\n", host_ca.trim()),
    );

    // sshd asking sigil-authkeys, which asks the data plane.
    let helper = sshd::install_helper();
    let helper_cfg = w.join("authkeys.toml");
    write_file(&helper_cfg, format!(
        "urls = [\"{}\"]\nhost = \"{HOST}\"\ndeadline_ms = 2000\ncache_dir = \"{}\"\nkrl_refresh_secs = 0\nlog = \"stderr\"\n",
        dp.url(""),
        w.join("cache").display()
    ));
    let server = Sshd::start(
        host_dir,
        host_key,
        &SshdOptions {
            helper: Some((helper, helper_cfg)),
            user_ca: Some(user_ca),
            krl: Some(krl.clone()),
            host_cert: Some(host_cert_path),
        },
    );
    let login = |user: &str, key: &Path, cert: Option<&Path>| {
        server.logs_in(user, key, cert, Some((&known_hosts, HOST)))
    };

    // A key added in Sigil logs in; the host certificate is trusted through the host CA
    // (StrictHostKeyChecking=yes, no known host key): no prompt.
    if !login(USERS[0], &k1, None) {
        let out = server.ssh(USERS[0], &k1, None, Some((&known_hosts, HOST)));
        panic!(
            "k1 login: {}\n--- sshd ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }
    // Expired, wrong host group: refused.
    assert!(!login(USERS[0], &k_exp, None), "expired key logged in");
    assert!(
        !login(USERS[0], &k_db, None),
        "a key for another host group logged in"
    );
    // Another user's key is not this user's.
    assert!(!login(USERS[0], &k2, None), "another user's key logged in");
    // A user certificate: TrustedUserCAKeys + AuthorizedPrincipalsCommand.
    assert!(
        login(USERS[0], &k_cert, Some(&cert_path)),
        "certificate login\n{}",
        server.log()
    );

    // Removing a key: refused within a second.
    let id = keyid(&cp, USERS[0], "sshPublicKeys", "k1");
    call(
        &cp,
        "PUT",
        &format!("/api/users/{}", USERS[0]),
        Some(json!({"sshPublicKeys": [{"keyid": id}]})),
    );
    let took = within(Duration::from_secs(1), "removed key refused", || {
        !login(USERS[0], &k1, None)
    });
    eprintln!("removed key refused after {took:?}");

    // A locked user: refused.
    assert!(login(USERS[1], &k2, None), "k2 login");
    call(
        &cp,
        "PUT",
        &format!("/api/users/{}", USERS[1]),
        Some(json!({"accountLocked": true})),
    );
    within(Duration::from_secs(1), "locked user refused", || {
        !login(USERS[1], &k2, None)
    });

    // A revoked certificate: refused through RevokedKeys (the KRL from /api/krlca).
    let id = keyid(&cp, USERS[0], "sshPublicCerts", "laptop");
    call(
        &cp,
        "PUT",
        &format!("/api/users/{}", USERS[0]),
        Some(json!({"sshPublicCerts": [{"keyid": id}]})),
    );
    within(Duration::from_secs(2), "new KRL on the data plane", || {
        let body = dp.get("/api/krlca").body;
        write_file(&krl, &body);
        let q = sigil_tests::run_unchecked(
            "ssh-keygen",
            &[
                "-Q",
                "-f",
                krl.to_str().unwrap(),
                cert_path.to_str().unwrap(),
            ],
        );
        String::from_utf8_lossy(&q.stdout).contains("REVOKED")
    });
    assert!(
        !login(USERS[0], &k_cert, Some(&cert_path)),
        "revoked certificate logged in"
    );

    // The data plane away: the helper serves its cache, minus what the cached KRL revokes.
    assert!(
        login(USERS[2], &k3a, None) && login(USERS[2], &k3b, None),
        "k3 logins"
    );
    let id = keyid(&cp, USERS[2], "sshPublicKeys", "b");
    call(
        &cp,
        "PUT",
        &format!("/api/users/{}", USERS[2]),
        Some(json!({"sshPublicKeys": [{"keyid": id}]})),
    );
    // Another user's lookup refreshes the helper's KRL (krl_refresh_secs = 0); user 3's
    // cached answer still lists both keys.
    within(
        Duration::from_secs(2),
        "KRL with k3b on the data plane",
        || {
            let body = dp.get("/api/krlca").body;
            write_file(w.join("probe.krl"), &body);
            let q = sigil_tests::run_unchecked(
                "ssh-keygen",
                &[
                    "-Q",
                    "-f",
                    w.join("probe.krl").to_str().unwrap(),
                    k3b.with_extension("pub").to_str().unwrap(),
                ],
            );
            String::from_utf8_lossy(&q.stdout).contains("REVOKED")
        },
    );
    assert!(!login(USERS[1], &k2, None), "locked user still refused");
    drop(dp);
    assert!(
        login(USERS[2], &k3a, None),
        "valid key from the cache with the data plane away\n{}",
        server.log()
    );
    assert!(
        !login(USERS[2], &k3b, None),
        "key revoked before the outage logged in from the cache"
    );
}
