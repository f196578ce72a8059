//! EST (RFC 7030) on a real control plane's https public listener, with `openssl` and `curl`
//! as the client: openssl req → base64 → curl --data-binary (Basic auth, or the issued
//! certificate as TLS client identity) → base64 -d → openssl pkcs7 -print_certs.

use std::time::{Duration, Instant};

use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::Frame;
use sigil_tests::est::{colon_serial, first_cert, multipart_parts, print_certs, EstServer};
use sigil_tests::pki::{combined, hex_decode, run, run_unchecked};
use sigil_tests::stream::{current_head, ocsp_put_for, Subscriber};

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn enrollment_type(est: &EstServer, cn: &str, serial: &str) -> String {
    let certs = est.admin_certs(cn);
    let c = certs
        .iter()
        .find(|c| c["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} not in /admin/certs: {certs:?}"));
    c["enrollment_type"].as_str().unwrap().to_owned()
}

#[test]
fn enroll_reenroll_and_serverkeygen_with_curl_and_openssl() {
    let est = EstServer::start("");
    let work = est.work();

    // /cacerts: the issuing CA and the root; /csrattrs: nothing asked by the default profile.
    let ca = est.curl("cacerts", &[]);
    assert_eq!(
        ca.code(),
        200,
        "{} {}",
        ca.stderr,
        String::from_utf8_lossy(&ca.body)
    );
    assert_eq!(
        header(&ca.headers, "content-type"),
        Some("application/pkcs7-mime; smime-type=certs-only")
    );
    assert_eq!(
        header(&ca.headers, "content-transfer-encoding"),
        Some("base64")
    );
    let chain = print_certs(&work, &ca.body);
    assert!(
        chain.contains("Sigil Demo Issuing CA") && chain.contains("Sigil Demo Root CA"),
        "{chain}"
    );
    let chain_pem = work.join("cacerts.pem");
    std::fs::write(&chain_pem, &chain).unwrap();
    assert_eq!(est.curl("csrattrs", &[]).code(), 204);

    // First enrollment with an OTP; the certificate's OCSP responses go to the data planes.
    let cn = "device-001.example.com";
    let (_, otp) = est.otp(cn, 3600, 1);
    let head = current_head(&est.cp);
    let mut sub = Subscriber::connect(&est.cp, head);
    sub.hello();
    let (key, csr) = est.csr(cn, None);
    let user = format!("{cn}:{otp}");
    let r = est.post("simpleenroll", &csr, &["-u", &user]);
    assert_eq!(
        r.code(),
        200,
        "{} {}",
        r.stderr,
        String::from_utf8_lossy(&r.body)
    );
    let (cert, text) = first_cert(&work, &r.body);
    assert!(text.contains(&format!("CN = {cn}")), "{text}");
    let v = run_unchecked(
        "openssl",
        &[
            "verify",
            "-CAfile",
            chain_pem.to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
    );
    assert!(v.status.success(), "{}", combined(&v));
    let serial = colon_serial(&text);
    assert_eq!(enrollment_type(&est, cn, &serial), "simpleenroll");
    let serial_bytes = hex_decode(&serial.replace(':', ""));
    let mut pushed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pushed.len() < 2 {
        match sub.next_until(deadline) {
            Some(Frame::Record(rec)) => {
                for alg in [HashAlg::Sha1, HashAlg::Sha256] {
                    if ocsp_put_for(&rec.change, &serial_bytes, alg).is_some() {
                        pushed.push(alg);
                    }
                }
            }
            Some(_) => {}
            None => panic!("no OcspPut for {serial}: {:#?}", sub.log),
        }
    }
    drop(sub);

    // The OTP is used up.
    let (_, csr2) = est.csr(cn, None);
    let again = est.post("simpleenroll", &csr2, &["-u", &user]);
    assert_eq!(again.code(), 401);
    assert!(
        header(&again.headers, "www-authenticate").is_some_and(|h| h.starts_with("Basic")),
        "{}",
        again.headers
    );

    // Re-enrollment: the issued certificate and its key as curl's TLS client identity.
    let (_, csr3) = est.csr(cn, Some(&key));
    let id = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let re = est.post("simplereenroll", &csr3, &id);
    assert_eq!(
        re.code(),
        200,
        "{} {}",
        re.stderr,
        String::from_utf8_lossy(&re.body)
    );
    let (_, re_text) = first_cert(&work, &re.body);
    assert!(re_text.contains(&format!("subject=CN = {cn}")), "{re_text}");
    assert_ne!(colon_serial(&re_text), serial);
    assert_eq!(
        enrollment_type(&est, cn, &colon_serial(&re_text)),
        "simplereenroll"
    );
    // ... the same through the CA's label.
    let labelled = est.post("demo/simplereenroll", &csr3, &id);
    assert_eq!(
        labelled.code(),
        200,
        "{}",
        String::from_utf8_lossy(&labelled.body)
    );
    // Without a client certificate, or with one from another CA: 401.
    let none = est.post("simplereenroll", &csr3, &[]);
    assert_eq!(none.code(), 401);
    let rogue = [
        "--cert",
        est.tls.rogue_cert.to_str().unwrap(),
        "--key",
        est.tls.rogue_key.to_str().unwrap(),
    ];
    let r = est.post("simplereenroll", &csr3, &rogue);
    assert_eq!(r.code(), 401, "{}", String::from_utf8_lossy(&r.body));

    // serverkeygen: the key comes back as PKCS#8 beside the certificate.
    let skg = "sensor-7";
    let (_, otp) = est.otp(skg, 3600, 1);
    let (_, csr) = est.csr(skg, None);
    let r = est.post("serverkeygen", &csr, &["-u", &format!("{skg}:{otp}")]);
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(&r.body));
    let ct = header(&r.headers, "content-type").unwrap();
    let boundary = ct
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"');
    let parts = multipart_parts(&String::from_utf8(r.body.clone()).unwrap(), boundary);
    assert_eq!(parts.len(), 2);
    assert!(parts[0].0.contains("application/pkcs8"), "{}", parts[0].0);
    assert!(
        parts[1].0.contains("smime-type=certs-only"),
        "{}",
        parts[1].0
    );
    let key_b64 = work.join("skg-key.b64");
    std::fs::write(&key_b64, &parts[0].1).unwrap();
    let key_pub = run(
        "sh",
        &[
            "-c",
            &format!(
                "base64 -d {} | openssl pkey -inform DER -pubout",
                key_b64.display()
            ),
        ],
    );
    let (skg_cert, skg_text) = first_cert(&work, parts[1].1.as_bytes());
    let cert_pub = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            skg_cert.to_str().unwrap(),
        ],
    );
    assert_eq!(
        key_pub.stdout, cert_pub.stdout,
        "the certificate is for the returned key"
    );
    assert_eq!(
        enrollment_type(&est, skg, &colon_serial(&skg_text)),
        "serverkeygen"
    );

    // Plain-text errors: unknown label 404, wrong method 405.
    let nf = est.curl("no-such-ca/cacerts", &[]);
    assert_eq!(nf.code(), 404);
    assert!(String::from_utf8_lossy(&nf.body).contains("no-such-ca"));
    let m = est.curl("simpleenroll", &[]);
    assert_eq!(m.code(), 405);
    assert_eq!(header(&m.headers, "allow"), Some("POST"));
}

#[test]
fn rejected_otps_bad_csrs_and_rate_limit() {
    let est = EstServer::start("");
    let work = est.work();
    let post = |cn: &str, user: &str| {
        let (_, csr) = est.csr(cn, None);
        est.post("simpleenroll", &csr, &["-u", user])
    };

    // Used up (max_uses 2: two certificates, then no more).
    let (_, otp) = est.otp("used", 3600, 2);
    assert_eq!(post("used", &format!("used:{otp}")).code(), 200);
    assert_eq!(post("used", &format!("used:{otp}")).code(), 200);
    assert_eq!(post("used", &format!("used:{otp}")).code(), 401);
    // Expired (ttl 1 s, the minimum).
    let (_, otp) = est.otp("late", 1, 1);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(post("late", &format!("late:{otp}")).code(), 401);
    // Deleted.
    let (id, otp) = est.otp("gone", 3600, 1);
    assert_eq!(
        est.cp.api("DELETE", &format!("/admin/otp/{id}"), None).0,
        204
    );
    assert_eq!(post("gone", &format!("gone:{otp}")).code(), 401);
    // Missing credentials.
    let (_, csr) = est.csr("anyone", None);
    let r = est.post("simpleenroll", &csr, &[]);
    assert_eq!(r.code(), 401);
    assert!(header(&r.headers, "www-authenticate").is_some());

    // Bad CSR and a CSR for another name: 400, and the OTP is still usable afterwards.
    let (_, otp) = est.otp("careful", 3600, 1);
    let user = format!("careful:{otp}");
    let junk = work.join("junk.b64");
    std::fs::write(&junk, "bm90IGEgQ1NS\n").unwrap();
    let r = est.post("simpleenroll", &junk, &["-u", &user]);
    assert_eq!(r.code(), 400, "{}", String::from_utf8_lossy(&r.body));
    let r = post("somebody-else", &user);
    assert_eq!(r.code(), 400);
    assert!(String::from_utf8_lossy(&r.body).contains("entity id"));
    assert_eq!(post("careful", &user).code(), 200);

    // Failed attempts are audited with the reason.
    let (_, audit) = est
        .cp
        .api("GET", "/api/v1/audit?action=otp.use&per_page=100", None);
    let reasons: Vec<String> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .map(|e| e["details"].to_string())
        .collect();
    for reason in ["used_up", "expired", "unknown"] {
        assert!(
            reasons.iter().any(|d| d.contains(reason)),
            "{reason} in {reasons:?}"
        );
    }

    // 5 failures per entity, then 429 with Retry-After.
    for _ in 0..5 {
        assert_eq!(post("victim", "victim:guess").code(), 401);
    }
    let r = post("victim", "victim:guess");
    assert_eq!(r.code(), 429, "{}", String::from_utf8_lossy(&r.body));
    assert!(header(&r.headers, "retry-after").is_some());
}

#[test]
fn two_parallel_enrollments_with_a_single_use_otp_give_one_certificate() {
    let est = EstServer::start("");
    for round in 0..3 {
        let cn = format!("racer-{round}");
        let (_, otp) = est.otp(&cn, 3600, 1);
        let user = format!("{cn}:{otp}");
        let (_, a) = est.csr(&cn, None);
        let (_, b) = est.csr(&cn, None);
        let children = [
            est.spawn_enroll("simpleenroll", &a, &user),
            est.spawn_enroll("simpleenroll", &b, &user),
        ];
        let mut codes: Vec<String> = children
            .into_iter()
            .map(|c| String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap())
            .collect();
        codes.sort();
        assert_eq!(codes, ["200", "401"], "round {round}");
        assert_eq!(est.admin_certs(&cn).len(), 1);
    }
}

/// kill -9 while enrollments are in flight: afterwards the OTP is either unused (and works
/// once), or used, with at most one certificate; never two.
#[test]
fn kill9_during_enrollment_never_yields_two_certificates() {
    let mut est = EstServer::start("");
    // How long one enrollment takes end to end here, then kills spread over that time (the
    // OTP use and the issuance commit are near its end, after the TLS handshake).
    let (_, otp) = est.otp("warm-up", 3600, 1);
    let (_, csr) = est.csr("warm-up", None);
    let t0 = Instant::now();
    let warm = est.spawn_enroll("simpleenroll", &csr, &format!("warm-up:{otp}"));
    assert_eq!(warm.wait_with_output().unwrap().stdout, b"200");
    let full = t0.elapsed();
    for (round, eighths) in (2u32..=10).enumerate() {
        let delay = full * eighths / 8;
        let cn = format!("crash-{round}");
        let (_, otp) = est.otp(&cn, 3600, 1);
        let user = format!("{cn}:{otp}");
        let (_, csr) = est.csr(&cn, None);
        let child = est.spawn_enroll("simpleenroll", &csr, &user);
        std::thread::sleep(delay);
        est.cp.kill9();
        let first = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        est.cp.restart();
        let before = est.admin_certs(&cn).len();
        let (_, csr) = est.csr(&cn, None);
        let retry = est.post("simpleenroll", &csr, &["-u", &user]).code();
        let after = est.admin_certs(&cn).len();
        println!(
            "round {round} ({delay:?} of {full:?}): first {first}, {before} certificate(s), retry {retry}"
        );
        assert!(
            before <= 1 && after <= 1,
            "two certificates from a 1-use OTP"
        );
        if first == "200" || before == 1 {
            assert_eq!(retry, 401, "a used OTP stays used across kill -9");
        }
        if retry == 200 {
            assert_eq!((before, after), (0, 1));
        }
    }
    let (status, v) = est.cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(status, 200);
    assert_eq!(v["valid"], true, "{v}");
}
