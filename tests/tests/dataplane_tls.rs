//! The https listener of `sigil-dp` (`[tls]`): a throwaway CA and server certificate made with
//! openssl, OCSP and CRLs fetched with curl and `openssl ocsp`, mutual TLS, and bad files.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sigil_tests::dp::{get_request, ocsp_request, openssl_ocsp_url, request, wait_for, DataPlane};
use sigil_tests::pki::{combined, crl_text, ocsp_verify, unique_path};
use sigil_tests::tls::TlsFiles;
use sigil_tests::{bin_path, free_port, write_file, ControlPlane};

fn make_tls_files(dir: &Path) -> TlsFiles {
    TlsFiles::generate(dir)
}

/// A `[tls]` section on `port`.
fn tls_section(port: u16, f: &TlsFiles, mtls: bool) -> String {
    let mut t = format!(
        "[tls]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\n",
        f.cert, f.key
    );
    if mtls {
        t.push_str(&format!("client_ca = {:?}\n", f.client_ca));
    }
    t
}

fn start(mtls: bool) -> (ControlPlane, DataPlane, TlsFiles, u16) {
    let cp = ControlPlane::start();
    let files = make_tls_files(&cp.work_dir().join("tls"));
    let port = free_port();
    let dp = DataPlane::start_with_config(&cp.base_url(), Some(&tls_section(port, &files, mtls)));
    (cp, dp, files, port)
}

/// `curl --cacert CA [extra] URL -o FILE`: (curl exit code, HTTP code, body, stderr).
fn curl(dir: &Path, ca: &Path, url: &str, extra: &[&str]) -> (i32, String, Vec<u8>, String) {
    let c = sigil_tests::tls::curl(dir, ca, url, extra);
    (c.exit, c.status, c.body, c.stderr)
}

#[test]
fn dataplane_tls_serves_ocsp_and_crls_over_https() {
    let (cp, mut dp, tls, port) = start(false);
    let dir = dp.work_dir();
    let issuer = cp.demo_issuer_id();
    let cert = cp.issue_new(&issuer, "tls-ocsp.example.com");
    let files = cert.write(&dir, "tls-ocsp");
    wait_for(Duration::from_secs(10), "good on the plain port", || {
        openssl_ocsp_url(&dp.url("/"), &files)
            .contains(": good")
            .then_some(())
    });
    let base = format!("https://127.0.0.1:{port}");

    // OCSP POST over https with curl; the response verifies with openssl.
    let req = unique_path(&dir, "req", "der");
    write_file(&req, ocsp_request(&dir, &files, false));
    let data = format!("@{}", req.display());
    let ct = [
        "-H",
        "Content-Type: application/ocsp-request",
        "--data-binary",
        &data,
    ];
    let (rc, code, body, err) = curl(&dir, &tls.ca, &format!("{base}/"), &ct);
    assert_eq!(
        (rc, code.as_str()),
        (0, "200"),
        "curl OCSP over https: {err}"
    );
    let (ok, text) = ocsp_verify(&dir, &body, &files, "sha1");
    assert!(ok && text.contains(": good"), "{text}");
    // openssl's own client speaks https too (it does not check the server certificate).
    let out = openssl_ocsp_url(&format!("{base}/ocsp"), &files);
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{out}"
    );

    // CRL over https, HTTP/1.1 negotiated by ALPN (curl offers h2 first).
    let url = format!("{base}/crl/{issuer}.crl");
    let (rc, code, crl, err) = curl(&dir, &tls.ca, &url, &["-v"]);
    assert_eq!((rc, code.as_str()), (0, "200"), "curl {url}: {err}");
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
    crl_text(&dir, &crl, &files.issuing);

    // Plain HTTP on the TLS port is refused without a response; the process stays up.
    match request(port, &get_request("/", "")) {
        Ok(r) => panic!("plain HTTP on the TLS port answered {}", r.head),
        Err(e) => println!("plain HTTP on the TLS port: {e}"),
    }
    // A client that does not trust the server certificate gives up.
    let (rc, _, _, _) = curl(&dir, &files.bundle, &url, &[]);
    assert_ne!(rc, 0, "curl accepted a certificate from an untrusted CA");
    wait_for(Duration::from_secs(5), "handshake failures counted", || {
        let failures = dp.metric("sigil_dp_tls_handshake_failures_total");
        (failures >= 2.0).then_some(())
    });
    dp.assert_alive();
    let (rc, code, _, err) = curl(&dir, &tls.ca, &url, &[]);
    assert_eq!(
        (rc, code.as_str()),
        (0, "200"),
        "https after refused clients: {err}"
    );
    assert_eq!(dp.get(&format!("/crl/{issuer}.crl")).status, 200);
}

#[test]
fn dataplane_tls_client_ca_requires_client_certificates() {
    let (cp, dp, tls, port) = start(true);
    let dir = dp.work_dir();
    let url = format!("https://127.0.0.1:{port}/crl/{}.crl", cp.demo_issuer_id());
    let (rc, code, _, err) = curl(&dir, &tls.ca, &url, &[]);
    assert!(
        rc != 0 && code == "000",
        "no client certificate: curl {rc}, HTTP {code}: {err}"
    );
    // A certificate from another CA (the server's) is refused as well.
    let (cert, key) = (tls.cert.to_str().unwrap(), tls.key.to_str().unwrap());
    let (rc, code, _, err) = curl(&dir, &tls.ca, &url, &["--cert", cert, "--key", key]);
    assert!(
        rc != 0 && code == "000",
        "unknown client CA: curl {rc}, HTTP {code}: {err}"
    );
    let (cert, key) = (
        tls.client_cert.to_str().unwrap(),
        tls.client_key.to_str().unwrap(),
    );
    let (rc, code, crl, err) = curl(&dir, &tls.ca, &url, &["--cert", cert, "--key", key]);
    assert_eq!(
        (rc, code.as_str()),
        (0, "200"),
        "with a client certificate: {err}"
    );
    assert!(!crl.is_empty());
    wait_for(Duration::from_secs(5), "handshake failures counted", || {
        (dp.metric("sigil_dp_tls_handshake_failures_total") >= 2.0).then_some(())
    });
}

/// `sigil-dp ARGS`, stdin closed: its output, or a panic if it runs for 20 s.
fn sigil_dp(args: &[&str]) -> Output {
    let mut child = Command::new(bin_path("sigil-dp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sigil-dp");
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("sigil-dp {args:?} still running after 20 s");
}

#[test]
fn dataplane_tls_bad_files_exit_64_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let f = make_tls_files(&dir.join("tls"));
    let port = free_port();
    let config = dir.join("sigil-dp.toml");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let missing = dir.join("no-such-cert.pem");
    let mut no_cert = f.clone();
    no_cert.cert = missing.clone();
    let mut key_is_cert = f.clone();
    key_is_cert.key = f.cert.clone();
    let mut wrong_key = f.clone();
    wrong_key.key = f.client_key.clone();
    let cases = [
        (no_cert, &missing, "cannot read"),
        (key_is_cert, &f.cert, "private key"),
        (wrong_key, &f.client_key, "does not belong"),
    ];
    for (files, named, what) in &cases {
        write_file(&config, tls_section(port, files, false));
        for validate in [true, false] {
            let mut args = vec!["--config", config.to_str().unwrap()];
            let data_dir = s(&dir.join("data"));
            match validate {
                true => args.push("--validate"),
                false => args.extend(["--data-dir", &data_dir, "--listen", "127.0.0.1:1"]),
            }
            let out = sigil_dp(&args);
            let text = combined(&out);
            assert_eq!(out.status.code(), Some(64), "{args:?}: {text}");
            assert!(
                text.contains(&s(named)) && text.contains(what),
                "{what}: {text}"
            );
        }
    }
    write_file(&config, tls_section(port, &f, true));
    let out = sigil_dp(&["--config", config.to_str().unwrap(), "--validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));

    // The flags make a [tls] section without a file, and need each other.
    let (listen, cert, key, nothing) = (
        format!("127.0.0.1:{port}"),
        s(&f.cert),
        s(&f.key),
        s(&missing),
    );
    let flags = ["--tls-listen", &listen, "--tls-cert", &cert, "--tls-key"];
    let out = sigil_dp(&[&flags[..], &[&key, "--validate"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));
    let out = sigil_dp(&[&flags[..], &[&nothing, "--validate"]].concat());
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(64), "{text}");
    assert!(
        text.contains("tls.key") && text.contains(&nothing),
        "{text}"
    );
    let out = sigil_dp(&["--tls-listen", &listen, "--validate"]);
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(64), "{text}");
    assert!(text.contains("--tls-cert"), "{text}");
}
