//! ACME (RFC 8555) end to end: a real control plane with `[acme]` on its https public
//! listener, a real data plane, and Debian's `certbot` (standalone http-01) obtaining,
//! renewing and revoking a certificate whose OCSP status the data plane answers; then the
//! protocol's refusals with a small JWS client (`sigil_tests::acme::Client`).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sigil_tests::acme::{certbot_files, certbot_log, AcmeServer};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::pki::run;
use sigil_tests::CertFiles;

fn ok(out: &Output, dir: &Path, what: &str) {
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
    let o = run("openssl", &["x509", "-noout", "-serial", "-in", cert.to_str().unwrap()]);
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

fn wait_ocsp(dp: &DataPlane, files: &CertFiles, want: &str) -> String {
    let url = dp.url("/");
    let mut last = String::new();
    wait_for(Duration::from_secs(15), want, || {
        last = openssl_ocsp_url(&url, files);
        last.contains(want).then_some(())
    });
    assert!(last.contains("Response verify OK"), "{last}");
    last
}

#[test]
fn certbot_obtains_renews_and_revokes_with_ocsp_on_the_data_plane() {
    let acme = AcmeServer::start("");
    let dp = DataPlane::start(&acme.est.cp.base_url());
    let dir = tempfile::Builder::new().prefix("sigil-certbot-").tempdir().unwrap();
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
    let text = run("openssl", &["x509", "-noout", "-text", "-in", files.leaf.to_str().unwrap()]);
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
        .find(|c| c["serial"].as_str().unwrap().replace(':', "").eq_ignore_ascii_case(&first))
        .unwrap_or_else(|| panic!("{first} not in {certs:?}"));
    assert_eq!(c["enrollment_type"], "acme", "{c}");
    wait_ocsp(&dp, &files, ": good");

    // Renewal: a new certificate (new serial) from the stored renewal configuration.
    let out = acme.certbot(dir, &["renew", "--force-renewal"]);
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
        &["revoke", "--server", &directory, "--cert-path", &cert_path, "--no-delete-after-revoke"],
    );
    assert!(!out.status.success());
    assert!(certbot_log(dir).contains("alreadyRevoked"), "{}", certbot_log(dir));
}
