//! ACME (RFC 8555) end to end: a real control plane with `[acme]` on its https public
//! listener, a real data plane, and Debian's `certbot` (standalone http-01) obtaining,
//! renewing and revoking a certificate whose OCSP status the data plane answers; then the
//! protocol's refusals with a small JWS client (`sigil_tests::acme::Client`).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use sigil_tests::acme::{certbot_files, certbot_log, header, AcmeServer, Client, Http01};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::pki::run;
use sigil_tests::CertFiles;

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

/// `openssl req` with `key`, no subject and `sans` (e.g. `DNS:a.localhost`): base64url DER.
fn csr(dir: &Path, key: &Path, sans: &str) -> String {
    let out = sigil_tests::pki::unique_path(dir, "csr", "der");
    let ext = format!("subjectAltName={sans}");
    run(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/",
            "-addext",
            &ext,
            "-outform",
            "DER",
            "-out",
            out.to_str().unwrap(),
        ],
    );
    sigil_acme::b64u(&std::fs::read(out).unwrap())
}

fn problem(r: &sigil_tests::tls::Curl) -> String {
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/problem+json"),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        header(&r.headers, "replay-nonce").is_some(),
        "problems carry a nonce too"
    );
    r.json()["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:ietf:params:acme:error:")
        .to_owned()
}

/// Orders `name`, answers its http-01 challenge and waits for the order to be ready.
fn ready_order(c: &Client, http: &Http01, name: &str) -> Value {
    let r = c.order(&[name]);
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let order_url = header(&r.headers, "location").unwrap().to_owned();
    let order = r.json();
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let authz = c.post(authz_url, None).json();
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    http.answer(
        ch["token"].as_str().unwrap(),
        &c.key_authorization(ch["token"].as_str().unwrap()),
    );
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        header(&r.headers, "link").is_some_and(|l| l.contains("rel=\"up\""))
            || r.headers.contains("rel=\"up\"")
    );
    let authz = c.poll(authz_url);
    assert_eq!(authz["status"], "valid", "{authz}");
    let order = c.post(&order_url, None).json();
    assert_eq!(order["status"], "ready", "{order}");
    json!({"url": order_url, "order": order})
}

#[test]
fn protocol_checks_refusals_rollover_dns01_and_rate_limits() {
    let tmp = tempfile::Builder::new()
        .prefix("sigil-acme-proto-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let records = dir.join("txt-records");
    std::fs::write(&records, "").unwrap();
    let hook = dir.join("dns01-hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> {0}.asked\ngrep -qx \"$1 $2\" {0}\n",
            records.display()
        ),
    )
    .unwrap();
    run("chmod", &["+x", hook.to_str().unwrap()]);
    let alpn_port = sigil_tests::free_port();
    let acme = AcmeServer::start(&format!(
        "dns01_hook = {:?}\norders_per_account_per_hour = 4\nvalidation_attempts = 1\n\
         tls_alpn01_port = {alpn_port}\n",
        hook.to_str().unwrap()
    ));
    let http = Http01::serve(acme.http01_port);

    let mut a = Client::new(&acme, dir, "account-a");
    let d = a.curl(&acme.directory(), &[]).json();
    assert_eq!(d["newNonce"], a.url("new-nonce"), "{d}");
    assert_eq!(a.register().code(), 201);
    let kid = a.kid.clone().unwrap();
    // The same key again: the same account, 200.
    let again = a.post(&a.url("new-account"), Some(&json!({})));
    let _ = again;
    let saved = a.kid.take();
    let r = a.post(
        &a.url("new-account"),
        Some(&json!({"onlyReturnExisting": true})),
    );
    assert_eq!(r.code(), 200);
    assert_eq!(header(&r.headers, "location"), Some(kid.as_str()));
    a.kid = saved;

    // A signature by another key under a's kid: malformed.
    let other = sigil_tests::acme::Key::generate(dir, "other");
    let url = a.url("new-order");
    let body = other.sign(
        &a.protected(&url, &a.nonce()),
        r#"{"identifiers":[{"type":"dns","value":"x.localhost"}]}"#,
    );
    let r = a.post_body(&url, &body);
    assert_eq!((r.code(), problem(&r).as_str()), (400, "malformed"));
    // The url of another resource: unauthorized.
    let body = a
        .key
        .sign(&a.protected(&a.url("new-account"), &a.nonce()), "{}");
    let r = a.post_body(&url, &body);
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    // A nonce used twice: badNonce, with a fresh nonce to retry with.
    let nonce = a.nonce();
    let payload = r#"{"identifiers":[{"type":"dns","value":"x.localhost"}]}"#;
    let r = a.post_body(&url, &a.key.sign(&a.protected(&url, &nonce), payload));
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let r = a.post_body(&url, &a.key.sign(&a.protected(&url, &nonce), payload));
    assert_eq!((r.code(), problem(&r).as_str()), (400, "badNonce"));
    // An algorithm that is not allowed; the wrong content type.
    let mut h = a.protected(&url, &a.nonce());
    h["alg"] = json!("HS256");
    let r = a.post_body(&url, &a.key.sign(&h, payload));
    assert_eq!(problem(&r), "badSignatureAlgorithm");
    let r = a.curl(
        &url,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{}",
        ],
    );
    assert_eq!(r.code(), 415);
    // A jwk where the account's kid is required.
    let body = a.key.sign(
        &json!({"alg": "ES256", "nonce": a.nonce(), "url": url, "jwk": a.key.jwk()}),
        payload,
    );
    assert_eq!(problem(&a.post_body(&url, &body)), "malformed");

    // An order; a CSR naming more than the order: badCSR, and the order stays ready.
    let o = ready_order(&a, &http, "one.sigil.localhost");
    let finalize = o["order"]["finalize"].as_str().unwrap().to_owned();
    let cert_key = sigil_tests::acme::Key::generate(dir, "cert");
    let extra = csr(
        dir,
        &cert_key.pem,
        "DNS:one.sigil.localhost,DNS:two.sigil.localhost",
    );
    let r = a.post(&finalize, Some(&json!({"csr": extra})));
    assert_eq!((r.code(), problem(&r).as_str()), (400, "badCSR"));
    let good = csr(dir, &cert_key.pem, "DNS:one.sigil.localhost");
    let r = a.post(&finalize, Some(&json!({"csr": good})));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    let order = r.json();
    assert_eq!(order["status"], "valid", "{order}");
    // Finalizing again: orderNotReady.
    let r = a.post(&finalize, Some(&json!({"csr": good})));
    assert_eq!((r.code(), problem(&r).as_str()), (403, "orderNotReady"));
    let cert_url = order["certificate"].as_str().unwrap();
    let r = a.post(cert_url, None);
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/pem-certificate-chain")
    );
    let pem = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 3, "{pem}");
    let first_pem = &pem[..pem.find("-----END CERTIFICATE-----").unwrap() + 25];
    let der_file = dir.join("leaf.der");
    let pem_file = dir.join("leaf.pem");
    std::fs::write(&pem_file, first_pem).unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-in",
            pem_file.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der_file.to_str().unwrap(),
        ],
    );
    let cert_b64 = sigil_acme::b64u(&std::fs::read(&der_file).unwrap());

    // Another account may neither download nor revoke it.
    let mut b = Client::new(&acme, dir, "account-b");
    b.register();
    let r = b.post(cert_url, None);
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    let r = b.post(
        &b.url("revoke-cert"),
        Some(&json!({"certificate": cert_b64})),
    );
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    // Nor a key that is neither the account's nor the certificate's (jwk-signed).
    let stranger = Client::new(&acme, dir, "stranger");
    let r = stranger.post(
        &b.url("revoke-cert"),
        Some(&json!({"certificate": cert_b64})),
    );
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    // The certificate's own key may (jwk-signed).
    let holder = Client {
        server: &acme,
        key: cert_key,
        kid: None,
        dir: dir.to_path_buf(),
    };
    let r = holder.post(
        &b.url("revoke-cert"),
        Some(&json!({"certificate": cert_b64, "reason": 1})),
    );
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    let r = a.post(
        &a.url("revoke-cert"),
        Some(&json!({"certificate": cert_b64})),
    );
    assert_eq!(problem(&r), "alreadyRevoked");

    // Key rollover: a's key becomes `next`; the old key no longer signs for the account.
    let next = sigil_tests::acme::Key::generate(dir, "next");
    let kc_url = a.url("key-change");
    let inner = next.sign(
        &json!({"alg": "ES256", "jwk": next.jwk(), "url": kc_url}),
        &json!({"account": kid, "oldKey": a.key.jwk()}).to_string(),
    );
    // To b's key: 409 with b's URL.
    let to_b = b.key.sign(
        &json!({"alg": "ES256", "jwk": b.key.jwk(), "url": kc_url}),
        &json!({"account": kid, "oldKey": a.key.jwk()}).to_string(),
    );
    let r = a.post(&kc_url, Some(&to_b));
    assert_eq!(r.code(), 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(header(&r.headers, "location"), b.kid.as_deref());
    let r = a.post(&kc_url, Some(&inner));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    let r = a.post(&kid, None);
    assert_eq!(
        (r.code(), problem(&r).as_str()),
        (400, "malformed"),
        "the old key"
    );
    let a = Client {
        server: &acme,
        key: next,
        kid: Some(kid.clone()),
        dir: dir.to_path_buf(),
    };
    assert_eq!(a.post(&kid, None).json()["status"], "valid");

    // dns-01 through the hook: the right TXT value validates, a missing one fails.
    let r = a.order(&["dns.sigil.localhost"]);
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_owned();
    let authz = a.post(&authz_url, None).json();
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "dns-01")
        .unwrap()
        .clone();
    let txt = {
        use aws_lc_rs::digest;
        let ka = a.key_authorization(ch["token"].as_str().unwrap());
        sigil_acme::b64u(digest::digest(&digest::SHA256, ka.as_bytes()).as_ref())
    };
    std::fs::write(&records, format!("dns.sigil.localhost {txt}\n")).unwrap();
    a.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(a.poll(&authz_url)["status"], "valid");
    let asked = std::fs::read_to_string(format!("{}.asked", records.display())).unwrap();
    assert!(
        asked.contains(&format!("dns.sigil.localhost {txt}")),
        "{asked}"
    );
    let r = a.order(&["nodns.sigil.localhost"]);
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_owned();
    let authz = a.post(&authz_url, None).json();
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "dns-01")
        .unwrap()
        .clone();
    a.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    let authz = a.poll(&authz_url);
    assert_eq!(authz["status"], "invalid", "{authz}");
    let order = a
        .post(
            r.headers
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("location:"))
                .unwrap()[9..]
                .trim(),
            None,
        )
        .json();
    assert_eq!(order["status"], "invalid", "{order}");

    // Orders per account per hour: 4 here, and `a` has made 4 (x, one, dns, nodns).
    let r = a.order(&["late.sigil.localhost"]);
    assert_eq!((r.code(), problem(&r).as_str()), (429, "rateLimited"));
    assert!(header(&r.headers, "retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    assert_eq!(
        b.order(&["b.sigil.localhost"]).code(),
        201,
        "another account is not limited"
    );

    // Deactivation: b's requests are refused afterwards.
    let bkid = b.kid.clone().unwrap();
    let r = b.post(&bkid, Some(&json!({"status": "deactivated"})));
    assert_eq!(r.json()["status"], "deactivated");
    let r = b.order(&["c.sigil.localhost"]);
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));

    // Identifiers the configuration does not allow.
    let r = a.post(
        &a.url("new-order"),
        Some(&json!({"identifiers": [{"type": "email", "value": "a@b"}]})),
    );
    assert_eq!(problem(&r), "unsupportedIdentifier");

    // tls-alpn-01 (RFC 8737) against `openssl s_server -alpn acme-tls/1` showing a
    // certificate with the acmeIdentifier extension: the right digest validates, another fails.
    let mut c = Client::new(&acme, dir, "account-c");
    c.register();
    for (name, right) in [
        ("alpn.sigil.localhost", true),
        ("badalpn.sigil.localhost", false),
    ] {
        let r = c.order(&[name]);
        assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
        let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_owned();
        let authz = c.post(&authz_url, None).json();
        let ch = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "tls-alpn-01")
            .unwrap()
            .clone();
        let ka = c.key_authorization(ch["token"].as_str().unwrap());
        let ka = if right { ka } else { format!("{ka}x") };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ka.as_bytes());
        let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        let (key, cert) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pem")),
        );
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
                "-subj",
                "/",
                "-days",
                "1",
                "-addext",
                &format!("subjectAltName=DNS:{name}"),
                "-addext",
                &format!("1.3.6.1.5.5.7.1.31=critical,DER:04:20:{}", hex.join(":")),
            ],
        );
        let mut server = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{alpn_port}"),
                "-cert",
            ])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(["-alpn", "acme-tls/1", "-quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        wait_for(Duration::from_secs(5), "s_server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", alpn_port))
                .ok()
                .map(drop)
        });
        c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
        let authz = c.poll(&authz_url);
        let _ = server.kill();
        let _ = server.wait();
        let want = if right { "valid" } else { "invalid" };
        assert_eq!(authz["status"], want, "{name}: {authz}");
        if !right {
            let said = authz["challenges"].as_array().unwrap().iter().any(|c| {
                c["error"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("acmeIdentifier"))
            });
            assert!(said, "{authz}");
        }
    }

    // An ip identifier (RFC 8738), validated over http-01 at the address itself.
    let r = c.post(
        &c.url("new-order"),
        Some(&json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})),
    );
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(&r.body));
    let order_url = header(&r.headers, "location").unwrap().to_owned();
    let order = r.json();
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let authz = c.post(authz_url, None).json();
    assert_eq!(
        authz["identifier"],
        json!({"type": "ip", "value": "127.0.0.1"})
    );
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let token = ch["token"].as_str().unwrap();
    http.answer(token, &c.key_authorization(token));
    c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(c.poll(authz_url)["status"], "valid");
    let ip_key = sigil_tests::acme::Key::generate(dir, "ip");
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({"csr": csr(dir, &ip_key.pem, "IP:127.0.0.1")})),
    );
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(c.post(&order_url, None).json()["status"], "valid");

    // Metrics: every answer by operation and status, validations by type and result.
    let metrics = acme
        .est
        .cp
        .client()
        .get(acme.est.cp.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for want in [
        "sigil_cp_acme_requests_total{operation=\"new-account\",status=\"201\"} 3",
        "sigil_cp_acme_requests_total{operation=\"new-order\",status=\"400\"}",
        "sigil_cp_acme_requests_total{operation=\"finalize\",status=\"400\"}",
        "sigil_cp_acme_requests_total{operation=\"new-order\",status=\"429\"} 1",
        "sigil_cp_acme_validations_total{challenge=\"dns-01\",result=\"invalid\"} 1",
        "sigil_cp_acme_validations_total{challenge=\"tls-alpn-01\",result=\"valid\"} 1",
    ] {
        assert!(metrics.contains(want), "{want} not in the metrics");
    }

    // Every account change is audited.
    let (status, body) = acme.est.cp.api("GET", "/api/v1/audit?per_page=200", None);
    assert_eq!(status, 200);
    let actions: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "acme.account.create",
        "acme.order.finalize",
        "acme.account.key_change",
        "acme.account.deactivate",
        "certificate.revoke",
    ] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
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
