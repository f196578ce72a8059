//! ACME (RFC 8555) end to end: a real control plane with `[acme]` on its https public
//! listener, a real data plane, and Debian's `certbot` (standalone http-01) obtaining,
//! renewing and revoking a certificate whose OCSP status the data plane answers; then the
//! protocol's refusals with a small JWS client (`sigil_tests::acme::Client`).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use sigil_tests::acme::{certbot_files, certbot_log, header, AcmeServer, Client};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::pki::run;
use sigil_tests::CertFiles;

#[path = "acme/protocol.rs"]
mod protocol;
#[path = "acme/support.rs"]
mod support;

use support::problem;

fn ok(out: &Output, dir: &Path, what: &str) {
    println!("{what}: done");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        certbot_log(dir)
    );
}

fn serial_of(cert: &Path) -> String {
    let o = run(
        "openssl",
        &["x509", "-noout", "-serial", "-in", cert.to_str().unwrap()],
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

fn wait_ocsp(dp: &DataPlane, files: &CertFiles, want: &str) -> String {
    let start = std::time::Instant::now();
    let url = dp.url("/");
    let mut last = String::new();
    wait_for(Duration::from_secs(15), want, || {
        last = openssl_ocsp_url(&url, files);
        last.contains(want).then_some(())
    });
    assert!(last.contains("Response verify OK"), "{last}");
    println!("data plane OCSP{want} after {:?}", start.elapsed());
    last
}

#[test]
fn certbot_obtains_renews_and_revokes_with_ocsp_on_the_data_plane() {
    let install = "apt-get install certbot (scripts/setup-debian.sh)";
    if sigil_tests::tools::require(&["certbot"], install).is_none() {
        return;
    }
    let mut acme = AcmeServer::start("");
    let dp = DataPlane::start(&acme.est.cp.base_url());
    let dir = tempfile::Builder::new()
        .prefix("sigil-certbot-")
        .tempdir()
        .unwrap();
    let dir = dir.path();
    // A name under .localhost: certbot refuses IP addresses and bare `localhost`, and the
    // server validates *.localhost on 127.0.0.1 (RFC 6761 §6.3) with allow_loopback.
    let name = "www.sigil-acme.localhost";
    let port = acme.http01_port.to_string();
    let directory = acme.directory();
    let obtain = [
        "certonly",
        "--standalone",
        "--server",
        &directory,
        "--http-01-port",
        &port,
        "--http-01-address",
        "127.0.0.1",
        "--preferred-challenges",
        "http",
        "-d",
        name,
        "--agree-tos",
        "--register-unsafely-without-email",
    ];
    let out = acme.certbot(dir, &obtain);
    ok(&out, dir, "certbot certonly");
    let files = certbot_files(dir, name);
    let text = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-text",
            "-in",
            files.leaf.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains(&format!("DNS:{name}")), "{text}");
    assert!(text.contains("Sigil Demo Issuing CA"), "{text}");
    let first = serial_of(&files.leaf);
    // certbot's CSR has no subject: list every certificate and find it by serial.
    let (status, body) = acme.est.cp.api("GET", "/admin/certs", None);
    assert_eq!(status, 200, "{body}");
    let certs = body["certificates"].as_array().unwrap().clone();
    let c = certs
        .iter()
        .find(|c| {
            c["serial"]
                .as_str()
                .unwrap()
                .replace(':', "")
                .eq_ignore_ascii_case(&first)
        })
        .unwrap_or_else(|| panic!("{first} not in {certs:?}"));
    assert_eq!(c["enrollment_type"], "acme", "{c}");
    wait_ocsp(&dp, &files, ": good");

    // kill -9: the account, the order and the certificate were acknowledged, so they are
    // durable; the renewal below runs with certbot's stored account. (The admin listener
    // moves to a new port on restart, so a new data plane follows it.)
    acme.est.cp.kill9();
    acme.est.cp.resume();
    drop(dp);
    let dp = DataPlane::start(&acme.est.cp.base_url());

    // Renewal: a new certificate (new serial) from the stored renewal configuration.
    // Without --no-random-sleep-on-renew a non-interactive renew sleeps up to 8 minutes.
    let out = acme.certbot(
        dir,
        &["renew", "--force-renewal", "--no-random-sleep-on-renew"],
    );
    ok(&out, dir, "certbot renew --force-renewal");
    let files = certbot_files(dir, name);
    let second = serial_of(&files.leaf);
    assert_ne!(first, second, "renewal issued a new certificate");
    wait_ocsp(&dp, &files, ": good");

    // Revocation by the account that owns it.
    let cert_path = files.leaf.to_str().unwrap().to_owned();
    let out = acme.certbot(
        dir,
        &[
            "revoke",
            "--server",
            &directory,
            "--cert-path",
            &cert_path,
            "--reason",
            "superseded",
            "--no-delete-after-revoke",
        ],
    );
    ok(&out, dir, "certbot revoke");
    let status = wait_ocsp(&dp, &files, ": revoked");
    assert!(status.contains("Reason: superseded"), "{status}");

    // Revoking again: alreadyRevoked.
    let out = acme.certbot(
        dir,
        &[
            "revoke",
            "--server",
            &directory,
            "--cert-path",
            &cert_path,
            "--no-delete-after-revoke",
        ],
    );
    assert!(!out.status.success());
    assert!(
        certbot_log(dir).contains("alreadyRevoked"),
        "{}",
        certbot_log(dir)
    );
}

/// A bad `[acme]` section stops `sigil-cp` with exit 64, every problem named.
#[test]
fn bad_acme_configuration_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("acme.toml");
    std::fs::write(
        &toml,
        "[acme]\nenabled = true\nexternal_url = \"https://acme.example/acme\"\n\
         validation_attempts = 0\ndns01_hook = \"hook.sh\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(sigil_tests::bin_path("sigil-cp"))
        .args(["--config", toml.to_str().unwrap(), "--validate"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    for want in [
        "acme.enabled needs the public listener",
        "acme.external_url",
        "acme.validation_attempts",
        "acme.dns01_hook",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
}

/// External account binding (RFC 8555 §7.3.4) when required, and the new-account limit.
#[test]
fn external_account_binding_and_the_account_limit() {
    use aws_lc_rs::hmac;
    let tmp = tempfile::Builder::new()
        .prefix("sigil-acme-eab-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let secret = b"0123456789abcdef0123456789abcdef";
    let acme = AcmeServer::start(&format!(
        "eab_required = true\naccounts_per_source_per_hour = 2\n[acme.eab_keys]\nkid-1 = \"{}\"\n",
        sigil_acme::b64u(secret)
    ));
    let eab = |c: &Client, kid: &str, key: &[u8]| {
        let p = sigil_acme::b64u(
            json!({"alg": "HS256", "kid": kid, "url": c.url("new-account")})
                .to_string()
                .as_bytes(),
        );
        let pl = sigil_acme::b64u(c.key.jwk().to_string().as_bytes());
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key),
            format!("{p}.{pl}").as_bytes(),
        );
        json!({"protected": p, "payload": pl, "signature": sigil_acme::b64u(tag.as_ref())})
    };
    let new_account = |c: &Client, binding: Option<Value>| {
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some(b) = binding {
            payload["externalAccountBinding"] = b;
        }
        c.post(&c.url("new-account"), Some(&payload))
    };
    let a = Client::new(&acme, dir, "eab-a");
    let r = new_account(&a, None);
    assert_eq!(problem(&r), "externalAccountRequired");
    let r = new_account(
        &a,
        Some(eab(&a, "kid-1", b"another key, not the configured one")),
    );
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    let r = new_account(&a, Some(eab(&a, "kid-2", secret)));
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    // Binding b's key to a's request: refused.
    let b = Client::new(&acme, dir, "eab-b");
    let r = new_account(&a, Some(eab(&b, "kid-1", secret)));
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    let r = new_account(&a, Some(eab(&a, "kid-1", secret)));
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let r = new_account(&b, Some(eab(&b, "kid-1", secret)));
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    // A third new account from this address within the hour: rateLimited.
    let c = Client::new(&acme, dir, "eab-c");
    let r = new_account(&c, Some(eab(&c, "kid-1", secret)));
    assert_eq!((r.code(), problem(&r).as_str()), (429, "rateLimited"));
    assert!(header(&r.headers, "retry-after").is_some());
    // An existing account is still returned.
    assert_eq!(new_account(&a, None).code(), 200);
}
