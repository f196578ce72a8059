//! The ACME protocol's refusals and less common paths, with the tests' JWS client.

use std::time::Duration;

use serde_json::json;
use sigil_tests::acme::{header, AcmeServer, Client, Http01};
use sigil_tests::dp::wait_for;
use sigil_tests::pki::run;

use super::support::{csr, problem, ready_order};

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
    let ip_order = c.post(&order_url, None).json();
    assert_eq!(ip_order["status"], "valid");
    let chain = c.post(ip_order["certificate"].as_str().unwrap(), None).body;
    let chain = String::from_utf8(chain).unwrap();
    let leaf = &chain[..chain.find("-----END CERTIFICATE-----").unwrap() + 25];
    std::fs::write(dir.join("ip.pem"), leaf).unwrap();
    let ip_der = dir.join("ip.der");
    run(
        "openssl",
        &[
            "x509",
            "-in",
            dir.join("ip.pem").to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            ip_der.to_str().unwrap(),
        ],
    );
    let ip_cert = sigil_acme::b64u(&std::fs::read(&ip_der).unwrap());
    // Another account that also holds a valid authorization for 127.0.0.1 may revoke it
    // (RFC 8555 §7.6); before it has one, it may not.
    let mut d = Client::new(&acme, dir, "account-d");
    d.register();
    let revoke = json!({"certificate": ip_cert});
    let r = d.post(&d.url("revoke-cert"), Some(&revoke));
    assert_eq!((r.code(), problem(&r).as_str()), (403, "unauthorized"));
    let r = d.post(
        &d.url("new-order"),
        Some(&json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})),
    );
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_owned();
    let authz = d.post(&authz_url, None).json();
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let token = ch["token"].as_str().unwrap();
    http.answer(token, &d.key_authorization(token));
    d.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(d.poll(&authz_url)["status"], "valid");
    let r = d.post(&d.url("revoke-cert"), Some(&revoke));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));

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
        "sigil_cp_acme_requests_total{operation=\"new-account\",status=\"201\"} 4",
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
